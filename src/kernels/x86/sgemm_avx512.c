/* AVX-512 float32 GEMM: 14x32 register tile (28 zmm accumulators) over packed panels. */
#include <immintrin.h>

#include "kernels/gemm.h"

#define SG_MR 14
#define SG_NR 32
#define SG_KC 768
#define SG_MC 336
#define SG_NC 1024
/* workspace: a 336 x 384 block of A and a 384 x 1024 one of B, as before kc could reach 768 (the
 * blocks then shrink to fit: mc 168, a per-block packed nc of 512) */
#define SG_A_FLOATS (336 * 384)
#define SG_B_FLOATS (384 * 1024)

/* one row of the tile: c[0:32] = alpha * x + beta * c (c not read when beta == 0), masked columns */
static inline void sg_store_row(float *c, __m512 x0, __m512 x1, __m512 va, float beta, __mmask16 m0,
                                __mmask16 m1) {
  x0 = _mm512_mul_ps(x0, va);
  x1 = _mm512_mul_ps(x1, va);
  if (beta != 0) {
    __m512 vb = _mm512_set1_ps(beta);
    x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), x0);
    x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), x1);
  }
  _mm512_mask_storeu_ps(c, m0, x0);
  _mm512_mask_storeu_ps(c + 16, m1, x1);
}

#define SG_DECL(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
#define SG_FMA(i)                                    \
  {                                                  \
    __m512 av = _mm512_set1_ps(a[i]);                \
    c##i##a = _mm512_fmadd_ps(av, b0, c##i##a);      \
    c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);      \
  }
#define SG_STORE(i) sg_store_row(C + i * ldc, c##i##a, c##i##b, va, beta, m0, m1);
/* the tile's row of C into L1 for writing while the k loop runs, where the tile reads C back (beta
 * != 0: the K blocks after the first): a C larger than L2 (1024^3: 4 MB, read back at two of its
 * three K blocks) otherwise stalls each tile's loads on memory */
#define SG_PFC(i) __builtin_prefetch(C + i * ldc, 1, 3), __builtin_prefetch(C + i * ldc + 16, 1, 3);
#define SG_R1(X) X(0)
#define SG_R2(X) SG_R1(X) X(1)
#define SG_R3(X) SG_R2(X) X(2)
#define SG_R4(X) SG_R3(X) X(3)
#define SG_R5(X) SG_R4(X) X(4)
#define SG_R6(X) SG_R5(X) X(5)
#define SG_R7(X) SG_R6(X) X(6)
#define SG_R8(X) SG_R7(X) X(7)
#define SG_R9(X) SG_R8(X) X(8)
#define SG_R10(X) SG_R9(X) X(9)
#define SG_R11(X) SG_R10(X) X(10)
#define SG_R12(X) SG_R11(X) X(11)
#define SG_R13(X) SG_R12(X) X(12)
#define SG_R14(X) SG_R13(X) X(13)

/* The tile's first R rows (of a 14-row sliver), one function per R: a partial tile computes only its
 * rows, so the rows past the last full tile run here, on the B sliver the full tiles just read (in
 * cache), instead of a second pass of the small-M kernel over all of B (M = 128, a BERT sequence,
 * leaves 2: that pass took 7% of a 128 x 3072 x 768 GEMM on Emerald Rapids). */
#define SG_UKR_DEF(R)                                                                                       \
  __attribute__((noinline)) static void sg_ukr_##R(int64_t kc, const float *restrict a, const float *restrict b, \
                                                   float *C, int64_t ldc, float alpha, float beta, int64_t nr,   \
                                                   const float *pf, int pfs) {                                 \
    if (beta != 0) { SG_R##R(SG_PFC) }                                                                    \
    SG_R##R(SG_DECL) if (pf) {                                                                            \
      int64_t pfm = ((int64_t)1 << pfs) - 1;                                                              \
      for (int64_t p = 0; p < kc; p++) {                                                                  \
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);                                     \
        if (!(p & pfm)) _mm_prefetch((const char *)(pf + (p >> pfs) * 16), _MM_HINT_T1);                  \
        SG_R##R(SG_FMA) a += SG_MR;                                                                       \
        b += SG_NR;                                                                                       \
      }                                                                                                   \
    } else {                                                                                              \
      for (int64_t p = 0; p < kc; p++) {                                                                  \
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);                                     \
        SG_R##R(SG_FMA) a += SG_MR;                                                                       \
        b += SG_NR;                                                                                       \
      }                                                                                                   \
    }                                                                                                     \
    __m512 va = _mm512_set1_ps(alpha);                                                                    \
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);                            \
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1); \
    SG_R##R(SG_STORE)                                                                                     \
  }
SG_UKR_DEF(1) SG_UKR_DEF(2) SG_UKR_DEF(3) SG_UKR_DEF(4) SG_UKR_DEF(5) SG_UKR_DEF(6) SG_UKR_DEF(7)
SG_UKR_DEF(8) SG_UKR_DEF(9) SG_UKR_DEF(10) SG_UKR_DEF(11) SG_UKR_DEF(12) SG_UKR_DEF(13) SG_UKR_DEF(14)

typedef void (*sg_ukr_fn)(int64_t kc, const float *restrict a, const float *restrict b, float *C, int64_t ldc,
                          float alpha, float beta, int64_t nr, const float *pf, int pfs);
static const sg_ukr_fn sg_ukrs[SG_MR + 1] = {0,         sg_ukr_1,  sg_ukr_2,  sg_ukr_3,  sg_ukr_4,
                                             sg_ukr_5,  sg_ukr_6,  sg_ukr_7,  sg_ukr_8,  sg_ukr_9,
                                             sg_ukr_10, sg_ukr_11, sg_ukr_12, sg_ukr_13, sg_ukr_14};

/* pf: when not NULL, kc >> pfs cache lines from pf (this tile's share of the kc x NR block of B the
 * next tile column reads; sgemm_blocked.h's sg_drive gives 2 << pfs tiles of the column a share each)
 * fetched into L2 while this tile computes, one line every 1 << pfs steps of k: a weight read once
 * per run comes from memory (cold, the GEMM ran at 0.75x of its speed on a warm B). The whole block
 * from the first tile alone issued its misses in one burst (two tiles: BERT-base 0.90x / 0.81x of
 * its time at 1 / 2 threads; up to 16 tiles: 128 x 3072 x 768 from memory 160-165 -> 178-200
 * GFLOP/s). */
static inline void sg_ukr_pf(int64_t kc, const float *restrict a, const float *restrict b, float *C, int64_t ldc,
                             float alpha, float beta, int64_t mr, int64_t nr, const float *pf, int pfs) {
  if (mr == SG_MR)
    sg_ukr_14(kc, a, b, C, ldc, alpha, beta, nr, pf, pfs);
  else
    sg_ukrs[mr](kc, a, b, C, ldc, alpha, beta, nr, pf, pfs);
}
#define SG_UKR_PREFETCH 1
/* partial tiles are cheap: no rows left for the small-M kernel (sgemm_blocked.h, sg_row_rest) */
#define SG_PARTIAL_TILES 1

/* 16x16 transpose: o[c] lane i = r[i] lane c (r is clobbered) */
static inline __attribute__((always_inline)) void sg_tr16(__m512 r[16], __m512 o[16]) {
  __m512 t[16];
  for (int k = 0; k < 8; k++) {
    t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
  }
  for (int g = 0; g < 4; g++) { /* rows 4g..4g+3: r[4g + c] lane L = column 4L + c */
    r[4 * g + 0] = _mm512_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0x44);
    r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0xEE);
    r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  for (int c = 0; c < 4; c++) {
    __m512 w0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44), w1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xEE);
    __m512 w2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44), w3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xEE);
    o[c] = _mm512_shuffle_f32x4(w0, w2, 0x88);
    o[4 + c] = _mm512_shuffle_f32x4(w0, w2, 0xDD);
    o[8 + c] = _mm512_shuffle_f32x4(w1, w3, 0x88);
    o[12 + c] = _mm512_shuffle_f32x4(w1, w3, 0xDD);
  }
}

/* Pack 14 rows of A (row stride lda) x kc columns into a k-major sliver (14 floats per k): 16x16
 * in-register transposes (rows 14 and 15 zero), 14-lane masked stores, scalar tail. */
static void sg_pack_a14(const float *src, int64_t lda, int64_t kc, float *restrict dst) {
  int64_t p = 0;
  for (; p + 16 <= kc; p += 16) {
    __m512 r[16], o[16];
    for (int i = 0; i < 14; i++) r[i] = _mm512_loadu_ps(src + i * lda + p);
    r[14] = r[15] = _mm512_setzero_ps();
    sg_tr16(r, o);
    for (int c = 0; c < 16; c++) _mm512_mask_storeu_ps(dst + (p + c) * 14, 0x3FFF, o[c]);
  }
  for (; p < kc; p++)
    for (int i = 0; i < 14; i++) dst[p * 14 + i] = src[i * lda + p];
}
#define SG_PACK_A_FULL sg_pack_a14

/* One full 32-wide sliver of a transposed B: columns j of op(B) are the 32 rows of src (stride ldb),
 * kc deep, into dst[p * 32 + j], by 16x16 transposes (attention's K^T, a Gemm with transB whose
 * weight is not prepacked); scalar tail. */
static void sg_pack_bt32(const float *src, int64_t ldb, int64_t kc, float *restrict dst) {
  int64_t p = 0;
  for (; p + 16 <= kc; p += 16)
    for (int h = 0; h < 2; h++) {
      __m512 r[16], o[16];
      for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (h * 16 + i) * ldb + p);
      sg_tr16(r, o);
      for (int c = 0; c < 16; c++) _mm512_storeu_ps(dst + (p + c) * 32 + h * 16, o[c]);
    }
  for (; p < kc; p++)
    for (int j = 0; j < 32; j++) dst[p * 32 + j] = src[j * ldb + p];
}
#define SG_PACK_BT_FULL sg_pack_bt32

/* ---- small M: rows of A broadcast straight from A, B read in place (kernels/x86/sgemm_small.h) ---- */

/* rows the small-M path takes (in one pass: SM_MAXR). 16 rows take the blocked kernel, a 14-row tile
 * and a 2-row partial tile on each B sliver while it is in cache, instead of two small passes of 8
 * that stream B twice: 16 x 1024 x 784 105 -> 175 GFLOP/s (bench/gemm_bench --small, B from L3), the
 * MLP at batch 16 0.54 -> 0.41 ms; an LSTM step whose 1 MB recurrent weights sit in L2 (batch 32 on
 * two threads) measured within the noise, 0-5% slower */
#define SG_SMALL_M 15

#define SM_V __m512
#define SM_W 16
#define SM_GPS 2
#define SM_MASK __mmask16
#define SM_MASKOF(v) ((v) >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (v)) - 1))
#define SM_ZERO() _mm512_setzero_ps()
#define SM_SET1(x) _mm512_set1_ps(x)
#define SM_LOAD(p) _mm512_loadu_ps(p)
#define SM_LOADM(p, m) _mm512_maskz_loadu_ps(m, p)
#define SM_STORE(p, x) _mm512_storeu_ps(p, x)
#define SM_STOREM(p, m, x) _mm512_mask_storeu_ps(p, m, x)
#define SM_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define SM_MUL(a, b) _mm512_mul_ps(a, b)
#define SM_ADD(a, b) _mm512_add_ps(a, b)
#define SM_NREG 32
/* 9 to 15 rows x 2 zmm, 8 x 3, 6 x 4, 4 x 6, 2 x 8: 16 to 30 accumulators and the B vectors in the
 * 32 registers, B loads per FMA 1/m, broadcasts per FMA 1/G. Up to 15 rows in one pass, so 13 to 15
 * rows stream B once (in two passes of 7 + 6 to 8 + 7 they read it twice: 105-116 GFLOP/s at
 * 13-15 x 1024 x 784 against 174 at 12 rows, bench/gemm_bench --small on a Sapphire Rapids-class
 * Xeon, B from L3); 16 rows would need 32 accumulators (see SG_SMALL_M) */
#define SM_MAXR 15
#define SM_MAXG 8
#define SM_ROWS_TABLE {0, 8, 8, 6, 6, 4, 4, 3, 3, 2, 2, 2, 2, 2, 2, 2}
#include "kernels/x86/sgemm_small.h"

SM_DEF(1, 1, true, sm_1m) SM_DEF(1, 1, false, sm_1x1) SM_DEF(1, 2, false, sm_1x2) SM_DEF(1, 3, false, sm_1x3) SM_DEF(1, 4, false, sm_1x4) SM_DEF(1, 5, false, sm_1x5) SM_DEF(1, 6, false, sm_1x6) SM_DEF(1, 7, false, sm_1x7) SM_DEF(1, 8, false, sm_1x8)
SM_DEF(2, 1, true, sm_2m) SM_DEF(2, 1, false, sm_2x1) SM_DEF(2, 2, false, sm_2x2) SM_DEF(2, 3, false, sm_2x3) SM_DEF(2, 4, false, sm_2x4) SM_DEF(2, 5, false, sm_2x5) SM_DEF(2, 6, false, sm_2x6) SM_DEF(2, 7, false, sm_2x7) SM_DEF(2, 8, false, sm_2x8)
SM_DEF(3, 1, true, sm_3m) SM_DEF(3, 1, false, sm_3x1) SM_DEF(3, 2, false, sm_3x2) SM_DEF(3, 3, false, sm_3x3) SM_DEF(3, 4, false, sm_3x4) SM_DEF(3, 5, false, sm_3x5) SM_DEF(3, 6, false, sm_3x6)
SM_DEF(4, 1, true, sm_4m) SM_DEF(4, 1, false, sm_4x1) SM_DEF(4, 2, false, sm_4x2) SM_DEF(4, 3, false, sm_4x3) SM_DEF(4, 4, false, sm_4x4) SM_DEF(4, 5, false, sm_4x5) SM_DEF(4, 6, false, sm_4x6)
SM_DEF(5, 1, true, sm_5m) SM_DEF(5, 1, false, sm_5x1) SM_DEF(5, 2, false, sm_5x2) SM_DEF(5, 3, false, sm_5x3) SM_DEF(5, 4, false, sm_5x4)
SM_DEF(6, 1, true, sm_6m) SM_DEF(6, 1, false, sm_6x1) SM_DEF(6, 2, false, sm_6x2) SM_DEF(6, 3, false, sm_6x3) SM_DEF(6, 4, false, sm_6x4)
SM_DEF(7, 1, true, sm_7m) SM_DEF(7, 1, false, sm_7x1) SM_DEF(7, 2, false, sm_7x2) SM_DEF(7, 3, false, sm_7x3)
SM_DEF(8, 1, true, sm_8m) SM_DEF(8, 1, false, sm_8x1) SM_DEF(8, 2, false, sm_8x2) SM_DEF(8, 3, false, sm_8x3)
SM_DEF(9, 1, true, sm_9m) SM_DEF(9, 1, false, sm_9x1) SM_DEF(9, 2, false, sm_9x2)
SM_DEF(10, 1, true, sm_10m) SM_DEF(10, 1, false, sm_10x1) SM_DEF(10, 2, false, sm_10x2)
SM_DEF(11, 1, true, sm_11m) SM_DEF(11, 1, false, sm_11x1) SM_DEF(11, 2, false, sm_11x2)
SM_DEF(12, 1, true, sm_12m) SM_DEF(12, 1, false, sm_12x1) SM_DEF(12, 2, false, sm_12x2)
SM_DEF(13, 1, true, sm_13m) SM_DEF(13, 1, false, sm_13x1) SM_DEF(13, 2, false, sm_13x2)
SM_DEF(14, 1, true, sm_14m) SM_DEF(14, 1, false, sm_14x1) SM_DEF(14, 2, false, sm_14x2)
SM_DEF(15, 1, true, sm_15m) SM_DEF(15, 1, false, sm_15x1) SM_DEF(15, 2, false, sm_15x2)
static const sm_fn sm_table[SM_MAXR + 1][SM_MAXG + 1] = {
    {0},
    {sm_1m, sm_1x1, sm_1x2, sm_1x3, sm_1x4, sm_1x5, sm_1x6, sm_1x7, sm_1x8},
    {sm_2m, sm_2x1, sm_2x2, sm_2x3, sm_2x4, sm_2x5, sm_2x6, sm_2x7, sm_2x8},
    {sm_3m, sm_3x1, sm_3x2, sm_3x3, sm_3x4, sm_3x5, sm_3x6, 0, 0},
    {sm_4m, sm_4x1, sm_4x2, sm_4x3, sm_4x4, sm_4x5, sm_4x6, 0, 0},
    {sm_5m, sm_5x1, sm_5x2, sm_5x3, sm_5x4, 0, 0, 0, 0},
    {sm_6m, sm_6x1, sm_6x2, sm_6x3, sm_6x4, 0, 0, 0, 0},
    {sm_7m, sm_7x1, sm_7x2, sm_7x3, 0, 0, 0, 0, 0},
    {sm_8m, sm_8x1, sm_8x2, sm_8x3, 0, 0, 0, 0, 0},
    {sm_9m, sm_9x1, sm_9x2, 0, 0, 0, 0, 0, 0},
    {sm_10m, sm_10x1, sm_10x2, 0, 0, 0, 0, 0, 0},
    {sm_11m, sm_11x1, sm_11x2, 0, 0, 0, 0, 0, 0},
    {sm_12m, sm_12x1, sm_12x2, 0, 0, 0, 0, 0, 0},
    {sm_13m, sm_13x1, sm_13x2, 0, 0, 0, 0, 0, 0},
    {sm_14m, sm_14x1, sm_14x2, 0, 0, 0, 0, 0, 0},
    {sm_15m, sm_15x1, sm_15x2, 0, 0, 0, 0, 0, 0}};

#include "kernels/x86/sgemm_blocked.h"

const char sn_sgemm_avx512_name[] = "f32_gemm_14x32_avx512";

void sn_sgemm_avx512(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws) {
  sg_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

size_t sn_sgemm_avx512_workspace(void) { return sg_workspace(); }

const sn_sgemm_impl sn_sgemm_avx512_impl = {sn_sgemm_avx512_name, SN_ISA_AVX512, SG_MR, SG_NR, SG_SMALL_M,
                                            sn_sgemm_avx512, sg_pack_full_a, sg_pack_full_b, sg_gemm_pb,
                                            sg_gemm_pa, sn_sgemm_avx512_workspace, sg_gemm_papb};
