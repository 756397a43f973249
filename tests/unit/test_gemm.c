/* Unit test: the blocked reference GEMMs against a naive triple loop on awkward shapes. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "kernels/ref/gemm_ref.h"
#include "check.h"

/* float32 and float64 against a double-precision naive reference */
static void test_float(int64_t M, int64_t N, int64_t K, bool ta, bool tb, double alpha, double beta, int pad,
                       bool use_ws) {
  int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  int64_t arows = ta ? K : M, brows = tb ? N : K;
  size_t na = (size_t)(arows * lda) + 1, nb = (size_t)(brows * ldb) + 1, nc = (size_t)(M * ldc) + 1;
  float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4), *C2 = malloc(nc * 4);
  double *Ad = malloc(na * 8), *Bd = malloc(nb * 8), *Cd = malloc(nc * 8), *R = malloc(nc * 8);
  for (size_t i = 0; i < na; i++) Ad[i] = A[i] = (float)drand();
  for (size_t i = 0; i < nb; i++) Bd[i] = B[i] = (float)drand();
  for (size_t i = 0; i < nc; i++) {
    C[i] = C2[i] = (float)drand();
    Cd[i] = R[i] = C[i];
    if (beta == 0) C[i] = C2[i] = NAN, Cd[i] = NAN; /* beta == 0 must not read C */
  }
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0;
      for (int64_t p = 0; p < K; p++)
        s += (ta ? Ad[p * lda + i] : Ad[i * lda + p]) * (tb ? Bd[j * ldb + p] : Bd[p * ldb + j]);
      R[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * R[i * ldc + j]);
    }
  void *ws = use_ws ? sn_aligned_alloc(sn_gemm_ref_workspace(SINTER_DOUBLE) > sn_gemm_ref_workspace(SINTER_FLOAT)
                                           ? sn_gemm_ref_workspace(SINTER_DOUBLE)
                                           : sn_gemm_ref_workspace(SINTER_FLOAT))
                    : NULL;
  sn_sgemm_ref(ta, tb, M, N, K, (float)alpha, A, lda, B, ldb, (float)beta, C, ldc, ws);
  sn_sgemm_naive(ta, tb, M, N, K, (float)alpha, A, lda, B, ldb, (float)beta, C2, ldc);
  sn_dgemm_ref(ta, tb, M, N, K, alpha, Ad, lda, Bd, ldb, beta, Cd, ldc, ws);
  double tol32 = 1e-5 * (double)(K + 1) * (fabs(alpha) + 1) + 1e-6, tol64 = 1e-12 * (double)(K + 1) + 1e-13;
  bool ok32 = true, ok64 = true, okn = true, pad_ok = true;
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < ldc; j++) {
      size_t k = (size_t)(i * ldc + j);
      if (j >= N) { /* padding columns must be untouched */
        if (beta != 0 && (C[k] != (float)R[k] || Cd[k] != R[k])) pad_ok = false;
        continue;
      }
      if (!(fabs(C[k] - R[k]) <= tol32)) ok32 = false;
      if (!(fabs(C2[k] - R[k]) <= tol32)) okn = false;
      if (!(fabs(Cd[k] - R[k]) <= tol64)) ok64 = false;
    }
  char what[200];
  snprintf(what, sizeof what, "sgemm M=%lld N=%lld K=%lld ta=%d tb=%d alpha=%g beta=%g pad=%d ws=%d", (long long)M,
           (long long)N, (long long)K, ta, tb, alpha, beta, pad, use_ws);
  check(ok32, what);
  what[0] = 'd';
  check(ok64, what);
  snprintf(what, sizeof what, "naive sgemm M=%lld N=%lld K=%lld ta=%d tb=%d", (long long)M, (long long)N,
           (long long)K, ta, tb);
  check(okn, what);
  if (pad > 0) check(pad_ok, "padding columns of C untouched");
  sn_aligned_free(ws);
  free(A), free(B), free(C), free(C2), free(Ad), free(Bd), free(Cd), free(R);
}

#define TEST_INT(T, DT, NAME)                                                                              \
  static void test_##NAME(int64_t M, int64_t N, int64_t K, bool ta, bool tb) {                             \
    int64_t lda = ta ? M : K, ldb = tb ? K : N, ldc = N;                                                   \
    T *A = malloc((size_t)(M * K + 1) * sizeof(T)), *B = malloc((size_t)(K * N + 1) * sizeof(T));           \
    T *C = malloc((size_t)(M * N + 1) * sizeof(T)), *G = malloc((size_t)(M * N + 1) * sizeof(T));           \
    for (int64_t i = 0; i < M * K; i++) A[i] = (T)(int64_t)(drand() * 1000);                               \
    for (int64_t i = 0; i < K * N; i++) B[i] = (T)(int64_t)(drand() * 1000);                               \
    sn_igemm_ref(DT, ta, tb, M, N, K, 1, A, lda, B, ldb, 0, C, ldc);                                       \
    sn_gemm_ref_generic(DT, ta, tb, M, N, K, 1, A, lda, B, ldb, 0, G, ldc);                                \
    bool ok = true;                                                                                        \
    for (int64_t i = 0; i < M; i++)                                                                        \
      for (int64_t j = 0; j < N; j++) {                                                                    \
        uint64_t s = 0;                                                                                    \
        for (int64_t p = 0; p < K; p++)                                                                    \
          s += (uint64_t)(ta ? A[p * lda + i] : A[i * lda + p]) * (uint64_t)(tb ? B[j * ldb + p] : B[p * ldb + j]); \
        if (C[i * ldc + j] != (T)s || G[i * ldc + j] != (T)s) ok = false;                                  \
      }                                                                                                    \
    char what[160];                                                                                        \
    snprintf(what, sizeof what, #NAME " igemm M=%lld N=%lld K=%lld ta=%d tb=%d", (long long)M, (long long)N, \
             (long long)K, ta, tb);                                                                        \
    check(ok, what);                                                                                       \
    free(A), free(B), free(C), free(G);                                                                    \
  }
TEST_INT(int32_t, SINTER_INT32, int32)
TEST_INT(int64_t, SINTER_INT64, int64)
TEST_INT(uint32_t, SINTER_UINT32, uint32)
TEST_INT(uint64_t, SINTER_UINT64, uint64)

/* "bench M N K": time sgemm (both transB settings) on M x K times K x N */
static void bench(int64_t M, int64_t N, int64_t K) {
  size_t big = (size_t)((M > N ? M : N) * K);
  float *A = malloc(big * 4), *B = malloc(big * 4), *C = malloc((size_t)(M * N) * 4);
  for (size_t i = 0; i < big; i++) A[i] = (float)drand(), B[i] = (float)drand();
  void *ws = sn_aligned_alloc(sn_gemm_ref_workspace(SINTER_FLOAT));
  for (int tt = 0; tt < 2; tt++) {
    double t0 = now();
    int reps = 0;
    do {
      sn_sgemm_ref(false, tt == 1, M, N, K, 1, A, K, B, tt ? K : N, 0, C, N, ws);
      reps++;
    } while (now() - t0 < 1.0);
    double dt = (now() - t0) / reps;
    printf("sgemm %lldx%lldx%lld transB=%d: %.2f ms, %.2f GFLOP/s\n", (long long)M, (long long)N, (long long)K, tt,
           dt * 1e3, 2.0 * (double)M * (double)N * (double)K / dt * 1e-9);
  }
  sn_aligned_free(ws);
  free(A), free(B), free(C);
}

int main(int argc, char **argv) {
  if (argc > 4 && !strcmp(argv[1], "bench")) {
    bench(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]));
    return 0;
  }
  static const int64_t dims[] = {1, 2, 3, 5, 7, 8, 9, 13, 17, 31, 33, 64, 65, 97};
  const int nd = (int)(sizeof dims / sizeof *dims);
  /* every transpose combination over a spread of small awkward sizes */
  for (int t = 0; t < 4; t++)
    for (int a = 0; a < nd; a += 3)
      for (int b = 1; b < nd; b += 4)
        for (int k = 0; k < nd; k += 5) test_float(dims[a], dims[b], dims[k], t & 1, t >> 1, 1.0, 0.0, 0, t & 1);
  /* alpha / beta variants, padded leading dimensions */
  test_float(7, 9, 11, false, false, 0.5, 1.0, 3, true);
  test_float(13, 17, 5, true, false, -2.0, 0.25, 1, false);
  test_float(33, 31, 65, false, true, 1.0, -1.0, 5, true);
  test_float(6, 8, 256, true, true, 1.5, 2.0, 0, true);
  test_float(5, 5, 0, false, false, 1.0, 0.5, 0, true);  /* K == 0: C = beta * C */
  test_float(5, 5, 0, false, false, 1.0, 0.0, 2, true);  /* K == 0, beta == 0: zeros */
  test_float(4, 4, 9, false, false, 0.0, 0.5, 0, true);  /* alpha == 0 */
  /* shapes crossing every block boundary (KC 256, MC 96, NC 512 / 256) */
  test_float(97, 515, 257, false, false, 1.0, 0.0, 0, true);
  test_float(193, 258, 513, true, true, 1.0, 1.0, 1, true);
  test_float(1, 1031, 300, false, true, 1.0, 0.0, 0, false);
  test_float(300, 1, 600, true, false, 1.0, 0.0, 0, true);
  test_float(1, 1, 1000, false, false, 1.0, 0.0, 0, true);
  for (int t = 0; t < 4; t++) {
    test_int32(5, 7, 9, t & 1, t >> 1);
    test_int64(17, 3, 33, t & 1, t >> 1);
    test_uint32(1, 300, 4, t & 1, t >> 1);
    test_uint64(9, 9, 1, t & 1, t >> 1);
  }
  test_int32(3, 3, 0, false, false);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
