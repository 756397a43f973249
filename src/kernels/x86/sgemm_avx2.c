/* AVX2+FMA float32 GEMM: 6x16 register tile (12 ymm accumulators) over packed panels. */
#include <immintrin.h>

#include "kernels/gemm.h"

#define SG_MR 6
#define SG_NR 16
#define SG_KC 256
#define SG_MC 144
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

#include "kernels/x86/sgemm_blocked.h"

const char sn_sgemm_avx2_name[] = "f32_gemm_6x16_avx2";

void sn_sgemm_avx2(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws) {
  sg_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

size_t sn_sgemm_avx2_workspace(void) { return sg_workspace(); }
