/* AVX2+FMA float32 GEMM: 6x16 register tile (12 ymm accumulators) over packed panels. */
#include <immintrin.h>

#include "kernels/gemm.h"

#define SG_MR 6
#define SG_NR 16
#define SG_KC 384
#define SG_MC 336
#define SG_NC 1024

/* one row of the tile: c[0:16] = alpha * x + beta * c (c not read when beta == 0) */
static inline void sg_store_row(float *c, __m256 x0, __m256 x1, __m256 va, float beta, bool full, __m256i m0,
                                __m256i m1) {
  x0 = _mm256_mul_ps(x0, va);
  x1 = _mm256_mul_ps(x1, va);
  if (full) {
    if (beta != 0) {
      __m256 vb = _mm256_set1_ps(beta);
      x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), x0);
      x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), x1);
    }
    _mm256_storeu_ps(c, x0);
    _mm256_storeu_ps(c + 8, x1);
  } else {
    if (beta != 0) {
      __m256 vb = _mm256_set1_ps(beta);
      x0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c, m0), x0);
      x1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c + 8, m1), x1);
    }
    _mm256_maskstore_ps(c, m0, x0);
    _mm256_maskstore_ps(c + 8, m1, x1);
  }
}

#define SG_DECL(i) __m256 c##i##a = _mm256_setzero_ps(), c##i##b = _mm256_setzero_ps();
#define SG_FMA(i)                                    \
  {                                                  \
    __m256 av = _mm256_broadcast_ss(a + i);          \
    c##i##a = _mm256_fmadd_ps(av, b0, c##i##a);      \
    c##i##b = _mm256_fmadd_ps(av, b1, c##i##b);      \
  }
#define SG_STORE(i) \
  if (mr > i) sg_store_row(C + i * ldc, c##i##a, c##i##b, va, beta, full, m0, m1);
#define SG_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

__attribute__((noinline)) static void sg_ukr(int64_t kc, const float *restrict a, const float *restrict b, float *C, int64_t ldc, float alpha,
                   float beta, int64_t mr, int64_t nr) {
  SG_ROWS(SG_DECL)
  for (int64_t p = 0; p < kc; p++) {
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    SG_ROWS(SG_FMA)
    a += SG_MR;
    b += SG_NR;
  }
  __m256 va = _mm256_set1_ps(alpha);
  bool full = nr == SG_NR;
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr), idx);
  __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr - 8), idx);
  SG_ROWS(SG_STORE)
}

/* ---- small M: rows of A broadcast straight from A, B slivers read in place ---------------------- */

#define SG_SMALL_M 8

/* M rows x S slivers (16 columns each) over all of K. B sliver s, row p at b + s * ss + p * rs. MASK:
 * the (single) sliver is partial and raw, so loads and stores take m0/m1. */
static inline __attribute__((always_inline)) void sm_block(const int M, const int S, const bool MASK, int64_t K,
                                                           const float *a, int64_t as, int64_t ak, const float *b,
                                                           int64_t rs, int64_t ss, __m256i m0, __m256i m1, float *c,
                                                           int64_t ldc, float alpha, float beta) {
  __m256 acc[SG_SMALL_M][4][2];
#pragma GCC unroll 8
  for (int i = 0; i < M; i++)
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) acc[i][s][0] = acc[i][s][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < K; p++) {
    __m256 bv[4][2];
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) {
      const float *bp = b + s * ss + p * rs;
      bv[s][0] = MASK ? _mm256_maskload_ps(bp, m0) : _mm256_loadu_ps(bp);
      bv[s][1] = MASK ? _mm256_maskload_ps(bp + 8, m1) : _mm256_loadu_ps(bp + 8);
    }
#pragma GCC unroll 8
    for (int i = 0; i < M; i++) {
      __m256 av = _mm256_broadcast_ss(a + i * as + p * ak);
#pragma GCC unroll 4
      for (int s = 0; s < S; s++) {
        acc[i][s][0] = _mm256_fmadd_ps(av, bv[s][0], acc[i][s][0]);
        acc[i][s][1] = _mm256_fmadd_ps(av, bv[s][1], acc[i][s][1]);
      }
    }
  }
  __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
  for (int i = 0; i < M; i++)
#pragma GCC unroll 4
    for (int s = 0; s < S; s++)
#pragma GCC unroll 2
      for (int h = 0; h < 2; h++) {
        float *cp = c + i * ldc + s * 16 + h * 8;
        __m256 x = _mm256_mul_ps(acc[i][s][h], va);
        __m256i mk = h ? m1 : m0;
        if (MASK) {
          if (beta != 0) x = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cp, mk), x);
          _mm256_maskstore_ps(cp, mk, x);
        } else {
          if (beta != 0) x = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cp), x);
          _mm256_storeu_ps(cp, x);
        }
      }
}

typedef void (*sm_fn)(int64_t, const float *, int64_t, int64_t, const float *, int64_t, int64_t, __m256i, __m256i,
                      float *, int64_t, float, float);
#define SM_DEF(M, S, MASK, NAME)                                                                               \
  static void NAME(int64_t K, const float *a, int64_t as, int64_t ak, const float *b, int64_t rs, int64_t ss,   \
                   __m256i m0, __m256i m1, float *c, int64_t ldc, float alpha, float beta) {                   \
    sm_block(M, S, MASK, K, a, as, ak, b, rs, ss, m0, m1, c, ldc, alpha, beta);                                \
  }
#define SM_ROW(M, S) SM_DEF(M, S, false, sm_##M##w) SM_DEF(M, 1, false, sm_##M##o) SM_DEF(M, 1, true, sm_##M##m)
SM_ROW(1, 4) SM_ROW(2, 2) SM_ROW(3, 2) SM_ROW(4, 2) SM_ROW(5, 1) SM_ROW(6, 1) SM_ROW(7, 1) SM_ROW(8, 1)
/* per row count: the wide group, one sliver, one masked sliver */
static const sm_fn sm_table[SG_SMALL_M + 1][3] = {
    {0, 0, 0},          {sm_1w, sm_1o, sm_1m}, {sm_2w, sm_2o, sm_2m}, {sm_3w, sm_3o, sm_3m}, {sm_4w, sm_4o, sm_4m},
    {sm_5w, sm_5o, sm_5m}, {sm_6w, sm_6o, sm_6m}, {sm_7w, sm_7o, sm_7m}, {sm_8w, sm_8o, sm_8m}};
static const int sm_wide[SG_SMALL_M + 1] = {1, 4, 2, 2, 2, 1, 1, 1, 1};

/* m rows (1..SG_SMALL_M) x N columns; B sliver js at b + js * ss, row stride rs; a partial last
 * sliver is read and written under masks (packed or not) */
static void sg_small_rows(int m, int64_t N, int64_t K, float alpha, const float *a, int64_t as, int64_t ak,
                          const float *b, int64_t rs, int64_t ss, float beta, float *c, int64_t ldc) {
  int64_t nfull = N / 16, nsl = (N + 15) / 16;
  int wide = sm_wide[m];
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  int64_t js = 0;
  for (; js + wide <= nfull; js += wide)
    sm_table[m][0](K, a, as, ak, b + js * ss, rs, ss, idx, idx, c + js * 16, ldc, alpha, beta);
  for (; js < nsl; js++) {
    int64_t valid = N - js * 16;
    if (valid >= 16) {
      sm_table[m][1](K, a, as, ak, b + js * ss, rs, ss, idx, idx, c + js * 16, ldc, alpha, beta);
      continue;
    }
    __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)valid), idx);
    __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)valid - 8), idx);
    sm_table[m][2](K, a, as, ak, b + js * ss, rs, ss, m0, m1, c + js * 16, ldc, alpha, beta);
  }
}

#include "kernels/x86/sgemm_blocked.h"

const char sn_sgemm_avx2_name[] = "f32_gemm_6x16_avx2";

void sn_sgemm_avx2(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws) {
  sg_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

size_t sn_sgemm_avx2_workspace(void) { return sg_workspace(); }

const sn_sgemm_impl sn_sgemm_avx2_impl = {sn_sgemm_avx2_name, SN_ISA_AVX2, SG_MR, SG_NR, SG_SMALL_M,
                                          sn_sgemm_avx2, sg_pack_full_a, sg_pack_full_b, sg_gemm_pb,
                                          sg_gemm_pa, sn_sgemm_avx2_workspace};
