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
  /* the tile's rows of C into L1 for writing while the k loop runs, where the tile reads C back (a C
   * larger than L2 is, at every K block after the first; see sgemm_avx512.c) */
  if (beta != 0)
    for (int64_t i = 0; i < mr; i++) __builtin_prefetch(C + i * ldc, 1, 3), __builtin_prefetch(C + i * ldc + 15, 1, 3);
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

/* ---- small M: rows of A broadcast straight from A, B read in place (kernels/x86/sgemm_small.h) ---- */

/* rows the small-M path takes (in passes of at most SM_MAXR rows) */
#define SG_SMALL_M 12

#define SM_V __m256
#define SM_W 8
#define SM_GPS 2
#define SM_MASK __m256i
#define SM_MASKOF(v) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(v)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define SM_ZERO() _mm256_setzero_ps()
#define SM_SET1(x) _mm256_set1_ps(x)
#define SM_LOAD(p) _mm256_loadu_ps(p)
#define SM_LOADM(p, m) _mm256_maskload_ps(p, m)
#define SM_STORE(p, x) _mm256_storeu_ps(p, x)
#define SM_STOREM(p, m, x) _mm256_maskstore_ps(p, m, x)
#define SM_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define SM_MUL(a, b) _mm256_mul_ps(a, b)
#define SM_ADD(a, b) _mm256_add_ps(a, b)
#define SM_NREG 16
/* 6 rows x 2 ymm, 4 x 3, 2 x 4, 1 x 6: at most 12 accumulators, the B vectors and a broadcast in the
 * 16 registers */
#define SM_MAXR 6
#define SM_MAXG 6
#define SM_ROWS_TABLE {0, 6, 4, 3, 3, 2, 2}
#include "kernels/x86/sgemm_small.h"

SM_DEF(1, 1, true, sm_1m) SM_DEF(1, 1, false, sm_1x1) SM_DEF(1, 2, false, sm_1x2) SM_DEF(1, 3, false, sm_1x3) SM_DEF(1, 4, false, sm_1x4) SM_DEF(1, 5, false, sm_1x5) SM_DEF(1, 6, false, sm_1x6)
SM_DEF(2, 1, true, sm_2m) SM_DEF(2, 1, false, sm_2x1) SM_DEF(2, 2, false, sm_2x2) SM_DEF(2, 3, false, sm_2x3) SM_DEF(2, 4, false, sm_2x4)
SM_DEF(3, 1, true, sm_3m) SM_DEF(3, 1, false, sm_3x1) SM_DEF(3, 2, false, sm_3x2) SM_DEF(3, 3, false, sm_3x3)
SM_DEF(4, 1, true, sm_4m) SM_DEF(4, 1, false, sm_4x1) SM_DEF(4, 2, false, sm_4x2) SM_DEF(4, 3, false, sm_4x3)
SM_DEF(5, 1, true, sm_5m) SM_DEF(5, 1, false, sm_5x1) SM_DEF(5, 2, false, sm_5x2)
SM_DEF(6, 1, true, sm_6m) SM_DEF(6, 1, false, sm_6x1) SM_DEF(6, 2, false, sm_6x2)
static const sm_fn sm_table[SM_MAXR + 1][SM_MAXG + 1] = {
    {0},
    {sm_1m, sm_1x1, sm_1x2, sm_1x3, sm_1x4, sm_1x5, sm_1x6},
    {sm_2m, sm_2x1, sm_2x2, sm_2x3, sm_2x4, 0, 0},
    {sm_3m, sm_3x1, sm_3x2, sm_3x3, 0, 0, 0},
    {sm_4m, sm_4x1, sm_4x2, sm_4x3, 0, 0, 0},
    {sm_5m, sm_5x1, sm_5x2, 0, 0, 0, 0},
    {sm_6m, sm_6x1, sm_6x2, 0, 0, 0, 0}};

#include "kernels/x86/sgemm_blocked.h"

const char sn_sgemm_avx2_name[] = "f32_gemm_6x16_avx2";

void sn_sgemm_avx2(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws) {
  sg_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

size_t sn_sgemm_avx2_workspace(void) { return sg_workspace(); }

const sn_sgemm_impl sn_sgemm_avx2_impl = {sn_sgemm_avx2_name, SN_ISA_AVX2, SG_MR, SG_NR, SG_SMALL_M,
                                          sn_sgemm_avx2, sg_pack_full_a, sg_pack_full_b, sg_gemm_pb,
                                          sg_gemm_pa, sn_sgemm_avx2_workspace, sg_gemm_papb};
