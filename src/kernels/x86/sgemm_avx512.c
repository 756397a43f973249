/* AVX-512 float32 GEMM: 14x32 register tile (28 zmm accumulators) over packed panels. */
#include <immintrin.h>

#include "kernels/gemm.h"

#define SG_MR 14
#define SG_NR 32
#define SG_KC 384
#define SG_MC 336
#define SG_NC 1024

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
#define SG_STORE(i) \
  if (mr > i) sg_store_row(C + i * ldc, c##i##a, c##i##b, va, beta, m0, m1);
#define SG_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)

__attribute__((noinline)) static void sg_ukr(int64_t kc, const float *restrict a, const float *restrict b, float *C, int64_t ldc, float alpha,
                   float beta, int64_t mr, int64_t nr) {
  SG_ROWS(SG_DECL)
  for (int64_t p = 0; p < kc; p++) {
    __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    SG_ROWS(SG_FMA)
    a += SG_MR;
    b += SG_NR;
  }
  __m512 va = _mm512_set1_ps(alpha);
  __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
  __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1);
  SG_ROWS(SG_STORE)
}

/* Pack 14 rows of A (row stride lda) x kc columns into a k-major sliver (14 floats per k): 16x16
 * in-register transposes (rows 14 and 15 zero), 14-lane masked stores, scalar tail. */
static void sg_pack_a14(const float *src, int64_t lda, int64_t kc, float *restrict dst) {
  int64_t p = 0;
  for (; p + 16 <= kc; p += 16) {
    __m512 r[16], t[16];
    for (int i = 0; i < 14; i++) r[i] = _mm512_loadu_ps(src + i * lda + p);
    r[14] = r[15] = _mm512_setzero_ps();
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
      _mm512_mask_storeu_ps(dst + (p + c) * 14, 0x3FFF, _mm512_shuffle_f32x4(w0, w2, 0x88));
      _mm512_mask_storeu_ps(dst + (p + 4 + c) * 14, 0x3FFF, _mm512_shuffle_f32x4(w0, w2, 0xDD));
      _mm512_mask_storeu_ps(dst + (p + 8 + c) * 14, 0x3FFF, _mm512_shuffle_f32x4(w1, w3, 0x88));
      _mm512_mask_storeu_ps(dst + (p + 12 + c) * 14, 0x3FFF, _mm512_shuffle_f32x4(w1, w3, 0xDD));
    }
  }
  for (; p < kc; p++)
    for (int i = 0; i < 14; i++) dst[p * 14 + i] = src[i * lda + p];
}
#define SG_PACK_A_FULL sg_pack_a14

/* ---- small M: rows of A broadcast straight from A, B slivers read in place ---------------------- */

#define SG_SMALL_M 8

/* M rows x S slivers (32 columns each) over all of K. B sliver s, row p at b + s * ss + p * rs; lm:
 * two masks per sliver (the valid columns; used for B loads too, so raw B is never over-read). */
static inline __attribute__((always_inline)) void sm_block(const int M, const int S, int64_t K, const float *a,
                                                           int64_t as, int64_t ak, const float *b, int64_t rs,
                                                           int64_t ss, const __mmask16 *lm, float *c, int64_t ldc,
                                                           float alpha, float beta) {
  __m512 acc[SG_SMALL_M][4][2];
#pragma GCC unroll 8
  for (int i = 0; i < M; i++)
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) acc[i][s][0] = acc[i][s][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < K; p++) {
    __m512 bv[4][2];
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) {
      bv[s][0] = _mm512_maskz_loadu_ps(lm[2 * s], b + s * ss + p * rs);
      bv[s][1] = _mm512_maskz_loadu_ps(lm[2 * s + 1], b + s * ss + p * rs + 16);
    }
#pragma GCC unroll 8
    for (int i = 0; i < M; i++) {
      __m512 av = _mm512_set1_ps(a[i * as + p * ak]);
#pragma GCC unroll 4
      for (int s = 0; s < S; s++) {
        acc[i][s][0] = _mm512_fmadd_ps(av, bv[s][0], acc[i][s][0]);
        acc[i][s][1] = _mm512_fmadd_ps(av, bv[s][1], acc[i][s][1]);
      }
    }
  }
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int i = 0; i < M; i++)
#pragma GCC unroll 4
    for (int s = 0; s < S; s++)
#pragma GCC unroll 2
      for (int h = 0; h < 2; h++) {
        float *cp = c + i * ldc + s * 32 + h * 16;
        __m512 x = _mm512_mul_ps(acc[i][s][h], va);
        if (beta != 0) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(lm[2 * s + h], cp), x);
        _mm512_mask_storeu_ps(cp, lm[2 * s + h], x);
      }
}

typedef void (*sm_fn)(int64_t, const float *, int64_t, int64_t, const float *, int64_t, int64_t, const __mmask16 *,
                      float *, int64_t, float, float);
#define SM_DEF(M, S)                                                                                          \
  static void sm_##M##x##S(int64_t K, const float *a, int64_t as, int64_t ak, const float *b, int64_t rs,     \
                           int64_t ss, const __mmask16 *lm, float *c, int64_t ldc, float alpha, float beta) { \
    sm_block(M, S, K, a, as, ak, b, rs, ss, lm, c, ldc, alpha, beta);                                         \
  }
SM_DEF(1, 4) SM_DEF(1, 1) SM_DEF(2, 2) SM_DEF(2, 1) SM_DEF(3, 2) SM_DEF(3, 1) SM_DEF(4, 2) SM_DEF(4, 1)
SM_DEF(5, 1) SM_DEF(6, 1) SM_DEF(7, 1) SM_DEF(8, 1)
/* [m][0]: the wide group, [m][1]: one sliver; the wide group's sliver count */
static const sm_fn sm_table[SG_SMALL_M + 1][2] = {{0, 0},         {sm_1x4, sm_1x1}, {sm_2x2, sm_2x1},
                                                   {sm_3x2, sm_3x1}, {sm_4x2, sm_4x1}, {sm_5x1, sm_5x1},
                                                   {sm_6x1, sm_6x1}, {sm_7x1, sm_7x1}, {sm_8x1, sm_8x1}};
static const int sm_wide[SG_SMALL_M + 1] = {1, 4, 2, 2, 2, 1, 1, 1, 1};

static inline __mmask16 sm_mask(int64_t valid) {
  return valid >= 16 ? (__mmask16)0xFFFF : valid <= 0 ? (__mmask16)0 : (__mmask16)((1u << valid) - 1);
}

/* m rows (1..SG_SMALL_M) x N columns; B sliver js at b + js * ss, row stride rs (packed slivers or
 * raw rows alike: the masks keep loads and stores inside the N valid columns) */
static void sg_small_rows(int m, int64_t N, int64_t K, float alpha, const float *a, int64_t as, int64_t ak,
                          const float *b, int64_t rs, int64_t ss, float beta, float *c, int64_t ldc) {
  int64_t nsl = (N + 31) / 32;
  int wide = sm_wide[m];
  for (int64_t js = 0; js < nsl;) {
    int S = js + wide <= nsl ? wide : 1;
    __mmask16 lm[8];
    for (int s = 0; s < S; s++) {
      int64_t col = (js + s) * 32;
      lm[2 * s] = sm_mask(N - col);
      lm[2 * s + 1] = sm_mask(N - col - 16);
    }
    sm_table[m][S == wide ? 0 : 1](K, a, as, ak, b + js * ss, rs, ss, lm, c + js * 32, ldc, alpha, beta);
    js += S;
  }
}

#include "kernels/x86/sgemm_blocked.h"

const char sn_sgemm_avx512_name[] = "f32_gemm_14x32_avx512";

void sn_sgemm_avx512(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws) {
  sg_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

size_t sn_sgemm_avx512_workspace(void) { return sg_workspace(); }

const sn_sgemm_impl sn_sgemm_avx512_impl = {sn_sgemm_avx512_name, SN_ISA_AVX512, SG_MR, SG_NR, SG_SMALL_M,
                                            sn_sgemm_avx512, sg_pack_full_a, sg_pack_full_b, sg_gemm_pb,
                                            sg_gemm_pa, sn_sgemm_avx512_workspace};
