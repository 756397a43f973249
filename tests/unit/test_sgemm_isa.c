/* Unit test: every float32 GEMM implementation the CPU allows (reference, AVX2, AVX-512, and the
 * dispatching sn_sgemm) against the naive triple loop on awkward shapes; prints 1024^3 GFLOP/s. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "kernels/gemm.h"
#include "kernels/ref/gemm_ref.h"
#include "runtime/cpu.h"
#include "check.h"

typedef void (*gemm_fn)(bool, bool, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t,
                        float, float *, int64_t, void *);

typedef struct impl {
  const char *name;
  gemm_fn fn;
  sn_isa need;
} impl;

/* one case; returns true when C matches the naive result within tolerance and no padding changed */
static bool run_case(const impl *im, int64_t M, int64_t N, int64_t K, bool ta, bool tb, float alpha, float beta,
                     int pad, void *ws) {
  int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  int64_t arows = ta ? K : M, brows = tb ? N : K;
  size_t na = (size_t)(arows * lda) + 1, nb = (size_t)(brows * ldb) + 1, nc = (size_t)(M * ldc) + 1;
  float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4), *R = malloc(nc * 4), *C0 = malloc(nc * 4);
  if (!A || !B || !C || !R || !C0) {
    printf("out of memory\n");
    exit(1);
  }
  for (size_t i = 0; i < na; i++) A[i] = urand();
  for (size_t i = 0; i < nb; i++) B[i] = urand();
  for (size_t i = 0; i < nc; i++) C0[i] = urand();
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++)
      if (beta == 0) C0[i * ldc + j] = NAN; /* beta == 0 must not read C */
  memcpy(C, C0, nc * 4);
  memcpy(R, C0, nc * 4);
  sn_sgemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
  im->fn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
  bool ok = true;
  for (int64_t i = 0; i < M && ok; i++)
    for (int64_t j = 0; j < ldc && ok; j++) {
      size_t at = (size_t)(i * ldc + j);
      if (j >= N) { /* padding untouched (bitwise) */
        if (memcmp(&C[at], &C0[at], 4) != 0) ok = false;
        continue;
      }
      double s = 0;
      for (int64_t p = 0; p < K; p++)
        s += fabs((double)(ta ? A[p * lda + i] : A[i * lda + p])) * fabs((double)(tb ? B[j * ldb + p] : B[p * ldb + j]));
      double tol = (fabs(alpha) * s + (beta != 0 ? fabs(beta * C0[at]) : 0)) * (double)(K + 2) * 1e-6 + 1e-7;
      if (!(fabs((double)C[at] - (double)R[at]) <= tol)) ok = false;
    }
  if (memcmp(&C[nc - 1], &C0[nc - 1], 4) != 0) ok = false;
  if (!ok)
    printf("FAIL: %s M=%lld N=%lld K=%lld ta=%d tb=%d alpha=%g beta=%g pad=%d ws=%s\n", im->name, (long long)M,
           (long long)N, (long long)K, ta, tb, alpha, beta, pad, ws ? "yes" : "no");
  free(A), free(B), free(C), free(R), free(C0);
  return ok;
}

static void test_impl(const impl *im, void *ws) {
  static const int64_t sizes[] = {0, 1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 64, 127, 129, 300};
  const int ns = (int)(sizeof sizes / sizeof sizes[0]);
  static const float alphas[] = {1, 0.5f}, betas[] = {0, 1, -2};
  int n0 = passed, f0 = failed, count = 0;
  for (int mi = 0; mi < ns; mi++)
    for (int ni = 0; ni < ns; ni++)
      for (int t = 0; t < 4; t++) {
        int64_t K = sizes[next() % (uint64_t)ns];
        if (sizes[mi] * sizes[ni] * K > 1000000) K = sizes[next() % 10]; /* keep the naive loop quick */
        float alpha = alphas[count % 2], beta = betas[(count / 2) % 3];
        int pad = (count / 6) % 2 ? 3 : 0;
        bool use_ws = (count / 12) % 4 != 3;
        count++;
        if (run_case(im, sizes[mi], sizes[ni], K, t & 1, t & 2, alpha, beta, pad, use_ws ? ws : NULL))
          passed++;
        else
          failed++;
      }
  /* shapes spanning several cache blocks in every dimension (K of 800 and 1700: two and three K
   * blocks also where kc is 768; N = 600 past the 512 columns a B packed per call is blocked in then) */
  static const int64_t big[][3] = {{340, 40, 520}, {20, 1040, 100}, {680, 33, 40}, {200, 600, 800}, {50, 70, 1700}};
  for (int b = 0; b < 5; b++)
    for (int t = 0; t < 4; t++) {
      if (run_case(im, big[b][0], big[b][1], big[b][2], t & 1, t & 2, t == 3 ? 0.5f : 1, t == 1 ? -2.0f : 0, t, ws))
        passed++;
      else
        failed++;
    }
  printf("%-24s %d passed, %d failed\n", im->name, passed - n0, failed - f0);
}

static void bench(const impl *im, void *ws) {
  const int64_t n = 1024;
  float *A = sn_aligned_alloc(sizeof(float) * n * n), *B = sn_aligned_alloc(sizeof(float) * n * n),
        *C = sn_aligned_alloc(sizeof(float) * n * n);
  if (!A || !B || !C) return;
  for (int64_t i = 0; i < n * n; i++) A[i] = urand(), B[i] = urand();
  double best = 1e30;
  for (int r = 0; r < 4; r++) {
    double t0 = now();
    im->fn(false, false, n, n, n, 1, A, n, B, n, 0, C, n, ws);
    double t = now() - t0;
    if (t < best) best = t;
  }
  printf("bench %-24s 1024^3 single thread: %.1f GFLOP/s (%.2f ms)\n", im->name, 2.0 * n * n * n / best * 1e-9,
         best * 1e3);
  sn_aligned_free(A), sn_aligned_free(B), sn_aligned_free(C);
}

int main(int argc, char **argv) {
  bool do_bench = !(argc > 1 && strcmp(argv[1], "--no-bench") == 0);
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
  do_bench = false; /* timings of an unoptimized or instrumented build mean nothing */
  printf("note: unoptimized or sanitized build, GFLOP/s timing skipped\n");
#endif
  const impl impls[] = {{"ref", sn_sgemm_ref, SN_ISA_SCALAR},
                        {sn_sgemm_avx2_name, sn_sgemm_avx2, SN_ISA_AVX2},
                        {sn_sgemm_avx512_name, sn_sgemm_avx512, SN_ISA_AVX512},
                        {"sn_sgemm (dispatch)", sn_sgemm, SN_ISA_SCALAR}};
  sn_isa isa = sn_cpu_isa();
  printf("cpu isa: %s; sn_sgemm uses %s\n", sn_isa_name(isa), sn_sgemm_kernel_name());
  size_t wsb = sn_sgemm_workspace();
  if (sn_sgemm_avx2_workspace() > wsb || sn_sgemm_avx512_workspace() > wsb ||
      sn_gemm_ref_workspace(SINTER_FLOAT) > wsb) {
    printf("FAIL: sn_sgemm_workspace() smaller than a per-ISA workspace\n");
    failed++;
  }
  void *ws = sn_aligned_alloc(wsb);
  if (!ws) return 1;
  for (size_t k = 0; k < sizeof impls / sizeof impls[0]; k++) {
    if (impls[k].need > isa) {
      printf("skip %s: CPU (or SINTER_ISA) lacks %s\n", impls[k].name, sn_isa_name(impls[k].need));
      continue;
    }
    test_impl(&impls[k], ws);
  }
  if (do_bench)
    for (size_t k = 0; k + 1 < sizeof impls / sizeof impls[0]; k++)
      if (impls[k].need <= isa) bench(&impls[k], ws);
  sn_aligned_free(ws);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
