/* float32 GEMM computed in bfloat16 with AVX512-BF16 (vdpbf16ps: two bf16 products per lane added
 * to a float32 accumulator): the `--precision bf16` path of sn_sgemm. Operands are rounded to bf16
 * (round to nearest even) while they are packed, the sums stay float32. Same contract as sn_sgemm;
 * K is blocked so a packed B block stays in L2; A is converted one 6-row panel at a time. Uses the
 * caller's workspace (no allocation) when given. Compiled with -mavx512bf16 (see CMakeLists.txt). */
#include <immintrin.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/gemm.h"
#include "kernels/ref/gemm_ref.h"
#include "runtime/cpu.h"

#define MR 6
#define NV 4
#define KB 512 /* k per block (even) */
#define NB 256 /* columns per packed B block */
#define MC 192 /* rows per converted A block (a multiple of MR) */
#define PB_BYTES ((size_t)(KB / 2) * NB * 4)
#define PA_BYTES ((size_t)MC * KB * 2)

/* acc += pairs of a . b in place (asm: GCC 12 copies the accumulator of _mm512_dpbf16_ps around
 * every instruction and spills, at less than half the speed) */
static inline __attribute__((always_inline)) __m512 dpbf16(__m512 acc, __m512i a, __m512i b) {
  __asm__("vdpbf16ps %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
  return acc;
}

const char sn_sgemm_avx512bf16_name[] = "bf16_gemm_6x64_avx512bf16";

/* float32 -> bf16 bits (round to nearest even; NaN stays a quiet NaN), in 32-bit lanes */
static inline __m512i bf16_bits(__m512 v) {
  __m512i u = _mm512_castps_si512(v);
  __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                                                   _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
  r = _mm512_srli_epi32(r, 16);
  __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
}

static inline uint16_t bf16_1(float f) {
  return (uint16_t)_mm_cvtsi128_si32(_mm512_castsi512_si128(bf16_bits(_mm512_set1_ps(f))));
}

static inline __mmask16 mask_of(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/* 16 floats -> 16 bf16 (vcvtneps2bf16: round to nearest even; denormals flushed, which vdpbf16ps
 * would do to them anyway) */
static inline __m256i cvt16(__m512 v) {
  __m256bh h = _mm512_cvtneps_pbh(v);
  __m256i r;
  memcpy(&r, &h, sizeof r);
  return r;
}

static inline __mmask16 mask_n(int64_t n) { return n <= 0 ? 0 : mask_of(n); }

/* transposed B: w (<= 16) source rows b + j * ldb of kb floats (column j of the panel) -> one panel
 * of kbp / 2 lanes of 16, each lane j the pair (b[j][k], b[j][k + 1]); rows are converted into a
 * bf16 scratch KB entries at a time and gathered 32 bits (one pair) per column */
static void pack_bt_panel(const float *b, int64_t ldb, int64_t w, int64_t kb, int64_t kbp, uint32_t *panel) {
  uint16_t tmp[16 * KB] __attribute__((aligned(64)));
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(KB / 2));
  for (int64_t kc = 0; kc < kbp; kc += KB) {
    int64_t kn = kbp - kc < KB ? kbp - kc : KB; /* even */
    for (int64_t j = 0; j < 16; j++) {
      uint16_t *t = tmp + j * KB;
      for (int64_t k = 0; k < kn; k += 16) {
        __mmask16 km = j < w ? mask_n(kb - kc - k) : 0;
        _mm256_storeu_si256((__m256i *)(void *)(t + k), cvt16(_mm512_maskz_loadu_ps(km, b + j * ldb + kc + k)));
      }
    }
    for (int64_t q = 0; q < kn / 2; q++)
      _mm512_store_si512((void *)(panel + (kc / 2 + q) * 16),
                         _mm512_i32gather_epi32(idx, (const void *)((const uint32_t *)(const void *)tmp + q), 4));
  }
}

/* A rows [0, M), k in [k0, k0 + kb) -> bf16 rows of kbp (even) entries, zero padded */
static void pack_a(bool ta, const float *A, int64_t lda, int64_t M, int64_t k0, int64_t kb, int64_t kbp, uint16_t *dst) {
  for (int64_t m = 0; m < M; m++) {
    uint16_t *d = dst + m * kbp;
    if (!ta) {
      const float *a = A + m * lda + k0;
      for (int64_t k = 0; k < kb; k += 16) {
        __mmask16 km = mask_of(kb - k);
        _mm256_mask_storeu_epi16(d + k, km, cvt16(_mm512_maskz_loadu_ps(km, a + k)));
      }
    } else {
      for (int64_t k = 0; k < kb; k++) d[k] = bf16_1(A[(k0 + k) * lda + m]);
    }
    if (kbp > kb) d[kb] = 0;
  }
}

/* B rows [k0, k0 + kb), columns [n0, n0 + nb) -> panels of 16 columns, k pairs in each 32-bit lane */
static void pack_b(bool tb, const float *B, int64_t ldb, int64_t k0, int64_t kb, int64_t n0, int64_t nb, uint32_t *dst,
                   int64_t kbp) {
  for (int64_t p = 0; p < nb; p += 16) {
    uint32_t *panel = dst + (p / 16) * (kbp / 2) * 16;
    int64_t w = nb - p < 16 ? nb - p : 16;
    if (tb) {
      pack_bt_panel(B + (n0 + p) * ldb + k0, ldb, w, kb, kbp, panel);
      continue;
    }
    __mmask16 km = mask_of(w);
    for (int64_t k = 0; k < kbp; k += 2) {
      __m512 lo = k < kb ? _mm512_maskz_loadu_ps(km, B + (k0 + k) * ldb + n0 + p) : _mm512_setzero_ps();
      __m512 hi = k + 1 < kb ? _mm512_maskz_loadu_ps(km, B + (k0 + k + 1) * ldb + n0 + p) : _mm512_setzero_ps();
      __m512i lane = _mm512_or_si512(bf16_bits(lo), _mm512_slli_epi32(bf16_bits(hi), 16));
      _mm512_store_si512((void *)(panel + (k / 2) * 16), lane);
    }
  }
}

/* C tile += / = alpha * sums (first: C = alpha * sums + beta * C, C not read when beta == 0) */
static inline __attribute__((always_inline)) void tile(const int mr, const int nv, const uint16_t *A, int64_t kbp,
                                                       int64_t kq, const uint32_t *Bp, int64_t pstride, float *C,
                                                       int64_t ldc, int64_t ncols, float alpha, float beta, bool first) {
  __m512 c[MR][NV];
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nv; j++) c[i][j] = _mm512_setzero_ps();
  for (int64_t q = 0; q < kq; q++) {
    __m512i b[NV];
    for (int j = 0; j < nv; j++) b[j] = _mm512_load_si512((const void *)(Bp + j * pstride + q * 16));
    for (int i = 0; i < mr; i++) {
      int32_t v;
      memcpy(&v, A + i * kbp + 2 * q, 4);
      __m512i a = _mm512_set1_epi32(v);
      for (int j = 0; j < nv; j++) c[i][j] = dpbf16(c[i][j], a, b[j]);
    }
  }
  __m512 al = _mm512_set1_ps(alpha), be = _mm512_set1_ps(beta);
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nv; j++) {
      __mmask16 km = mask_of(ncols - 16 * j);
      float *cp = C + i * ldc + 16 * j;
      __m512 v = _mm512_mul_ps(c[i][j], al);
      if (!first)
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(km, cp));
      else if (beta != 0.0f)
        v = _mm512_add_ps(v, _mm512_mul_ps(be, _mm512_maskz_loadu_ps(km, cp)));
      _mm512_mask_storeu_ps(cp, km, v);
    }
}

/* the full 6 x 64 tile with named accumulators (an array of vectors is kept in memory by GCC) */
#define BDECL(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = c##i##0, c##i##2 = c##i##0, c##i##3 = c##i##0
#define BROW(i)                                                                                            \
  do {                                                                                                     \
    int32_t v_;                                                                                            \
    memcpy(&v_, A + i * kbp + 2 * q, 4);                                                                   \
    __m512i a_ = _mm512_set1_epi32(v_);                                                                    \
    c##i##0 = dpbf16(c##i##0, a_, b0), c##i##1 = dpbf16(c##i##1, a_, b1);                                  \
    c##i##2 = dpbf16(c##i##2, a_, b2), c##i##3 = dpbf16(c##i##3, a_, b3);                                  \
  } while (0)
#define BOUT(i, j)                                                                                         \
  do {                                                                                                     \
    float *cp_ = C + i * ldc + 16 * j;                                                                     \
    __m512 v_ = _mm512_mul_ps(c##i##j, al);                                                                \
    if (!first)                                                                                            \
      v_ = _mm512_add_ps(v_, _mm512_loadu_ps(cp_));                                                        \
    else if (beta != 0.0f)                                                                                 \
      v_ = _mm512_add_ps(v_, _mm512_mul_ps(be, _mm512_loadu_ps(cp_)));                                     \
    _mm512_storeu_ps(cp_, v_);                                                                             \
  } while (0)
#define BOUTROW(i) \
  do {                                                                                                     \
    BOUT(i, 0);                                                                                            \
    BOUT(i, 1);                                                                                            \
    BOUT(i, 2);                                                                                            \
    BOUT(i, 3);                                                                                            \
  } while (0)

static void tile6x4(const uint16_t *A, int64_t kbp, int64_t kq, const uint32_t *Bp, int64_t pstride, float *C,
                    int64_t ldc, float alpha, float beta, bool first) {
  BDECL(0);
  BDECL(1);
  BDECL(2);
  BDECL(3);
  BDECL(4);
  BDECL(5);
  for (int64_t q = 0; q < kq; q++) {
    __m512i b0 = _mm512_load_si512((const void *)(Bp + q * 16));
    __m512i b1 = _mm512_load_si512((const void *)(Bp + pstride + q * 16));
    __m512i b2 = _mm512_load_si512((const void *)(Bp + 2 * pstride + q * 16));
    __m512i b3 = _mm512_load_si512((const void *)(Bp + 3 * pstride + q * 16));
    BROW(0);
    BROW(1);
    BROW(2);
    BROW(3);
    BROW(4);
    BROW(5);
  }
  __m512 al = _mm512_set1_ps(alpha), be = _mm512_set1_ps(beta);
  BOUTROW(0);
  BOUTROW(1);
  BOUTROW(2);
  BOUTROW(3);
  BOUTROW(4);
  BOUTROW(5);
}

#define TILE_NV(MRV)                                                                                       \
  switch (nv) {                                                                                            \
    case 4: tile(MRV, 4, a, as, kq, bp, pstride, cp, ldc, w, alpha, beta, first); break;                   \
    case 3: tile(MRV, 3, a, as, kq, bp, pstride, cp, ldc, w, alpha, beta, first); break;                   \
    case 2: tile(MRV, 2, a, as, kq, bp, pstride, cp, ldc, w, alpha, beta, first); break;                   \
    default: tile(MRV, 1, a, as, kq, bp, pstride, cp, ldc, w, alpha, beta, first); break;                  \
  }

/* C[0:mc, 0:nb] = / += alpha * (A block: mc bf16 rows `as` apart, kq pairs) x (B block: panels of 16
 * columns `pstride` lanes apart, kq pairs each) */
static void block(const uint16_t *A, int64_t as, int64_t mc, const uint32_t *B, int64_t pstride, int64_t nb,
                  int64_t kq, float *C, int64_t ldc, float alpha, float beta, bool first) {
  if (mc >= SN_BF16_AMX_MIN_ROWS && sn_cpu_has_amx_bf16()) { /* the same block on AMX tiles */
    sn_bf16_block_amx(A, as, mc, B, pstride, nb, kq, C, ldc, alpha, beta, first);
    return;
  }
  for (int64_t m = 0; m < mc; m += MR) {
    int mr = (int)(mc - m < MR ? mc - m : MR);
    const uint16_t *a = A + m * as;
    for (int64_t n = 0; n < nb; n += NV * 16) {
      int64_t w = nb - n < NV * 16 ? nb - n : NV * 16;
      int nv = (int)((w + 15) / 16);
      const uint32_t *bp = B + (n / 16) * pstride;
      float *cp = C + m * ldc + n;
      if (mr == MR && w == NV * 16) {
        tile6x4(a, as, kq, bp, pstride, cp, ldc, alpha, beta, first);
        continue;
      }
      switch (mr) {
        case 6: TILE_NV(6) break;
        case 5: TILE_NV(5) break;
        case 4: TILE_NV(4) break;
        case 3: TILE_NV(3) break;
        case 2: TILE_NV(2) break;
        default: TILE_NV(1) break;
      }
    }
  }
}

/* an operand: float32 (converted per block, `t` transposed, row stride ld) or prepacked bf16 (p, its
 * padded depth kp: A as rows of kp bf16, B as panels of 16 columns x kp / 2 pairs) */
typedef struct opnd {
  bool t;
  const float *f;
  int64_t ld;
  const void *p;
  int64_t kp;
} opnd;

/* the A block [m0, m0 + mc) x [k0, k0 + kb) as bf16 rows: from the packed operand or converted into wa */
static const uint16_t *a_block(const opnd *a, int64_t m0, int64_t mc, int64_t k0, int64_t kb, int64_t kbp, uint16_t *wa,
                               int64_t *as) {
  if (a->p) {
    *as = a->kp;
    return (const uint16_t *)a->p + m0 * a->kp + k0;
  }
  pack_a(a->t, a->t ? a->f + m0 : a->f + m0 * a->ld, a->ld, mc, k0, kb, kbp, wa);
  *as = kbp;
  return wa;
}

static void drive(int64_t M, int64_t N, int64_t K, float alpha, const opnd *a, const opnd *b, float beta, float *C,
                  int64_t ldc, void *ws) {
  uint32_t *wb = ws;
  uint16_t *wa = (uint16_t *)(void *)((uint8_t *)ws + PB_BYTES);
  for (int64_t k0 = 0; k0 < K; k0 += KB) {
    int64_t kb = K - k0 < KB ? K - k0 : KB, kbp = (kb + 1) & ~(int64_t)1, kq = kbp / 2, as;
    bool first = k0 == 0;
    if (b->p) { /* B packed: each A block converted once, then every column block of B */
      int64_t pstride = b->kp / 2 * 16;
      for (int64_t m0 = 0; m0 < M; m0 += MC) {
        int64_t mc = M - m0 < MC ? M - m0 : MC;
        const uint16_t *ab = a_block(a, m0, mc, k0, kb, kbp, wa, &as);
        for (int64_t n0 = 0; n0 < N; n0 += NB) {
          int64_t nb = N - n0 < NB ? N - n0 : NB;
          const uint32_t *bb = (const uint32_t *)b->p + (n0 / 16) * pstride + (k0 / 2) * 16;
          block(ab, as, mc, bb, pstride, nb, kq, C + m0 * ldc + n0, ldc, alpha, beta, first);
        }
      }
    } else { /* B converted one KB x NB block at a time */
      for (int64_t n0 = 0; n0 < N; n0 += NB) {
        int64_t nb = N - n0 < NB ? N - n0 : NB;
        pack_b(b->t, b->f, b->ld, k0, kb, n0, nb, wb, kbp);
        for (int64_t m0 = 0; m0 < M; m0 += MC) {
          int64_t mc = M - m0 < MC ? M - m0 : MC;
          const uint16_t *ab = a_block(a, m0, mc, k0, kb, kbp, wa, &as);
          block(ab, as, mc, wb, kq * 16, nb, kq, C + m0 * ldc + n0, ldc, alpha, beta, first);
        }
      }
    }
  }
}

/* C = beta * C (no products) */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

static void run(int64_t M, int64_t N, int64_t K, float alpha, const opnd *a, const opnd *b, float beta, float *C,
                int64_t ldc, void *ws) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  void *own = NULL;
  if (!ws && !(ws = own = sn_aligned_alloc(sn_sgemm_avx512bf16_workspace()))) {
    /* no memory for the packing buffers: the reference, on float32 sources (the packed ones keep
     * theirs, see kernels/gemm.c) */
    sn_sgemm_ref(a->t, b->t, M, N, K, alpha, a->f, a->ld, b->f, b->ld, beta, C, ldc, NULL);
    return;
  }
  drive(M, N, K, alpha, a, b, beta, C, ldc, ws);
  sn_aligned_free(own);
}

void sn_sgemm_avx512bf16(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                         int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws) {
  opnd a = {transA, A, lda, NULL, 0}, b = {transB, B, ldb, NULL, 0};
  run(M, N, K, alpha, &a, &b, beta, C, ldc, ws);
}

size_t sn_sgemm_avx512bf16_workspace(void) { return PB_BYTES + PA_BYTES; }

/* ---- prepacked bf16 operands ------------------------------------------------------------------------ */

int64_t sn_bf16_packed_depth(int64_t K) { return (K + 1) & ~(int64_t)1; }

size_t sn_bf16_packed_bytes(bool side_b, int64_t rows, int64_t cols) {
  if (side_b) return (size_t)sn_bf16_packed_depth(rows) * (size_t)((cols + 15) / 16 * 16) * 2;
  return (size_t)rows * (size_t)sn_bf16_packed_depth(cols) * 2;
}

void sn_bf16_pack(bool side_b, bool trans, int64_t rows, int64_t cols, const float *src, int64_t ld, void *dst) {
  if (side_b) /* K x N: panels of 16 columns, full depth */
    pack_b(trans, src, ld, 0, rows, 0, cols, dst, sn_bf16_packed_depth(rows));
  else /* M x K: rows of the padded depth */
    pack_a(trans, src, ld, rows, 0, cols, sn_bf16_packed_depth(cols), dst);
}

void sn_sgemm_avx512bf16_pb(bool transA, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                            const float *Bsrc, int64_t ldb, bool transB, const void *pb, float beta, float *C,
                            int64_t ldc, void *ws) {
  opnd a = {transA, A, lda, NULL, 0}, b = {transB, Bsrc, ldb, pb, sn_bf16_packed_depth(K)};
  run(M, N, K, alpha, &a, &b, beta, C, ldc, ws);
}

void sn_sgemm_avx512bf16_pa(int64_t M, int64_t N, int64_t K, float alpha, const void *pa, const float *Asrc,
                            int64_t lda, bool transA, bool transB, const float *B, int64_t ldb, float beta, float *C,
                            int64_t ldc, void *ws) {
  opnd a = {transA, Asrc, lda, pa, sn_bf16_packed_depth(K)}, b = {transB, B, ldb, NULL, 0};
  run(M, N, K, alpha, &a, &b, beta, C, ldc, ws);
}
