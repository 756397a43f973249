/* Unit test: the quantize / dequantize / range / QLinearAdd loops (kernels/quant.h) and the bf16 GEMM.
 *  - AVX-512 loops bit-identical to the portable ones on odd lengths (1, 15, 17, 1000, 4099), both
 *    signednesses, values that round at .5, saturate, NaN and +-inf; the int32-to-float dequantization
 *    of the recurrent INT8 projection, also against its int64 definition;
 *  - the bf16 GEMM (AVX512-BF16) against the float32 naive GEMM on awkward shapes and both
 *    transposes, alpha/beta, within a bound bf16 must meet (inputs rounded to 8 significant bits:
 *    |error| <= 2 * 2^-8 * sum |a||b| plus float32 summation) and one it must not beat by chance on
 *    every element (it is not float32).
 * Each SIMD half skips cleanly when the CPU (or SINTER_ISA) does not allow it. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/gemm.h"
#include "kernels/quant.h"
#include "kernels/ref/gemm_ref.h"
#include "runtime/cpu.h"
#include "check.h"

static void quant_loops(void) {
  const int64_t ns[] = {1, 15, 16, 17, 1000, 4099};
  for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
    int64_t n = ns[t];
    float *x = sn_malloc(sizeof(float) * (size_t)n), *y0 = sn_malloc(sizeof(float) * (size_t)n);
    float *y1 = sn_malloc(sizeof(float) * (size_t)n);
    uint8_t *q0 = sn_malloc((size_t)n), *q1 = sn_malloc((size_t)n), *b = sn_malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) {
      x[i] = urand() * 3.0f;
      if (i % 7 == 1) x[i] = (float)((int)(next() % 600) - 300) * 0.5f * 0.02f; /* exact .5 steps of 0.02 */
      b[i] = (uint8_t)next();
    }
    if (n > 5) x[2] = NAN, x[3] = INFINITY, x[4] = -INFINITY, x[5] = 1e30f;
    char what[160];
    for (int sg = 0; sg < 2; sg++) {
      sn_quantize_f32_ref(x, n, 0.02f, sg ? -3.0f : 128.0f, sg, q0);
      sn_dequantize_f32_ref(b, n, sg, sg ? -3 : 128, 0.0371f, y0);
      if (sn_cpu_isa() >= SN_ISA_AVX512) {
        sn_quantize_f32_avx512(x, n, 0.02f, sg ? -3.0f : 128.0f, sg, q1);
        snprintf(what, sizeof what, "quantize n=%lld signed=%d", (long long)n, sg);
        check(!memcmp(q0, q1, (size_t)n), what);
        sn_dequantize_f32_avx512(b, n, sg, sg ? -3 : 128, 0.0371f, y1);
        snprintf(what, sizeof what, "dequantize n=%lld signed=%d", (long long)n, sg);
        check(!memcmp(y0, y1, sizeof(float) * (size_t)n), what);
        uint8_t *r0 = sn_malloc((size_t)n), *r1 = sn_malloc((size_t)n);
        for (int bs = 0; bs < 2; bs++) {
          sn_qlinear_add_ref(b, 1, q0, bs, n, 0.731f, 1.37f, -12.5f, sg, r0);
          sn_qlinear_add_avx512(b, 1, q0, bs, n, 0.731f, 1.37f, -12.5f, sg, r1);
          snprintf(what, sizeof what, "qlinear_add n=%lld signed=%d broadcast=%d", (long long)n, sg, !bs);
          check(!memcmp(r0, r1, (size_t)n), what);
        }
        sn_free(r0), sn_free(r1);
      }
      /* the portable quantize against its definition */
      bool ok = true;
      for (int64_t i = 0; i < n && ok; i++) {
        float lo = sg ? -128.0f : 0.0f, hi = sg ? 127.0f : 255.0f;
        double v = isnan(x[i]) ? lo : fmin(fmax(rint((double)(x[i] / 0.02f)) + (sg ? -3 : 128), lo), hi);
        int got = sg ? (int)(int8_t)q0[i] : (int)q0[i];
        ok = got == (int)v;
      }
      snprintf(what, sizeof what, "quantize_ref definition n=%lld signed=%d", (long long)n, sg);
      check(ok, what);
    }
    float mn0, mx0, mn1, mx1;
    sn_minmax0_f32_ref(x + (n > 6 ? 6 : 0), n > 6 ? n - 6 : n, &mn0, &mx0);
    if (sn_cpu_isa() >= SN_ISA_AVX512) {
      sn_minmax0_f32_avx512(x + (n > 6 ? 6 : 0), n > 6 ? n - 6 : n, &mn1, &mx1);
      snprintf(what, sizeof what, "minmax n=%lld", (long long)n);
      check(mn0 == mn1 && mx0 == mx1 && mn0 <= 0 && mx0 >= 0, what);
    }
    sn_free(x), sn_free(y0), sn_free(y1), sn_free(q0), sn_free(q1), sn_free(b);
  }
}

/* the AVX-512 quantize against the portable loop, bit for bit, where rounding is closest to going
 * either way: values a few ulps either side of every half-integer quotient, and random ones, at
 * scales whose reciprocals are inexact, tiny and huge (a kernel that multiplied by 1 / s instead of
 * dividing would fail here) */
static void quantize_near_halves(void) {
  if (sn_cpu_isa() < SN_ISA_AVX512) return;
  const float scales[] = {0.02f, 0.0371f, 3.0e-5f, 7.1f, 1.0f / 3.0f, 1e-30f, 3e37f, 0.1f};
  const int64_t n = 40000;
  float *x = sn_malloc(sizeof(float) * (size_t)n);
  uint8_t *q0 = sn_malloc((size_t)n), *q1 = sn_malloc((size_t)n);
  char what[160];
  for (size_t si = 0; si < sizeof scales / sizeof *scales; si++) {
    const float s = scales[si];
    for (int64_t i = 0; i < n; i++) {
      if (i % 2) {
        x[i] = urand() * 300.0f * s;
      } else { /* (k + 1/2) * s, nudged by up to 3 ulps */
        float v = ((float)((int)(next() % 1200) - 600) + 0.5f) * s;
        for (int u = (int)(next() % 7) - 3; u != 0; u += u > 0 ? -1 : 1) v = nextafterf(v, u > 0 ? INFINITY : -INFINITY);
        x[i] = v;
      }
    }
    for (int sg = 0; sg < 2; sg++) {
      const float zp = sg ? -3.0f : 128.0f;
      sn_quantize_f32_ref(x, n, s, zp, sg, q0);
      sn_quantize_f32_avx512(x, n, s, zp, sg, q1);
      snprintf(what, sizeof what, "quantize near half-integers scale=%g signed=%d", (double)s, sg);
      check(!memcmp(q0, q1, (size_t)n), what);
    }
  }
  sn_free(x), sn_free(q0), sn_free(q1);
}

/* the recurrent projection's dequantization: AVX-512 against the portable loop bit for bit, and the
 * portable loop against its definition in int64 (with sums that wrap int32) */
static void dequant_cols(void) {
  const int64_t ns[] = {1, 15, 16, 17, 1024, 1027};
  for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
    int64_t n = ns[t];
    int32_t *acc = sn_malloc(sizeof(int32_t) * (size_t)n), *cs = sn_malloc(sizeof(int32_t) * (size_t)n);
    int32_t *zb = sn_malloc(sizeof(int32_t) * (size_t)n);
    float *sc = sn_malloc(sizeof(float) * (size_t)n), *y0 = sn_malloc(sizeof(float) * (size_t)n);
    float *y1 = sn_malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
      acc[i] = (int32_t)(next() % 2000001) - 1000000;
      cs[i] = (int32_t)(next() % 60001) - 30000;
      zb[i] = (int32_t)(next() % 256) - 128;
      sc[i] = 0.001f + urand() * 0.01f;
    }
    if (n > 2) acc[1] = INT32_MAX, cs[1] = -30000; /* the sum wraps */
    const int32_t za = 131, rs = 29871, K = 257;
    const float sa = 0.0173f;
    sn_dequant_i32_cols_ref(acc, n, za, rs, K, cs, zb, sa, sc, y0);
    bool ok = true;
    for (int64_t i = 0; i < n && ok; i++) {
      int64_t v = (int64_t)acc[i] - (int64_t)za * cs[i] - (int64_t)rs * zb[i] + (int64_t)K * za * zb[i];
      ok = y0[i] == (float)(int32_t)(uint32_t)(uint64_t)v * (sa * sc[i]);
    }
    char what[160];
    snprintf(what, sizeof what, "dequant_i32_cols_ref definition n=%lld", (long long)n);
    check(ok, what);
    if (sn_cpu_isa() >= SN_ISA_AVX512) {
      sn_dequant_i32_cols_avx512(acc, n, za, rs, K, cs, zb, sa, sc, y1);
      snprintf(what, sizeof what, "dequant_i32_cols n=%lld", (long long)n);
      check(!memcmp(y0, y1, sizeof(float) * (size_t)n), what);
    }
    sn_free(acc), sn_free(cs), sn_free(zb), sn_free(sc), sn_free(y0), sn_free(y1);
  }
}

static void bf16_gemm(void) {
  if (!sn_cpu_has_bf16()) {
    printf("test_quant_kernels: no AVX512-BF16 here (or capped): bf16 GEMM cases skipped\n");
    return;
  }
  const int64_t dims[][3] = {{1, 1, 1}, {1, 17, 3}, {7, 5, 1}, {6, 64, 2}, {13, 65, 129}, {37, 131, 1031}, {64, 300, 700}};
  int loose_seen = 0, cases = 0;
  for (size_t t = 0; t < sizeof dims / sizeof *dims; t++)
    for (int tr = 0; tr < 4; tr++) {
      int64_t M = dims[t][0], N = dims[t][1], K = dims[t][2];
      bool ta = tr & 1, tb = tr & 2;
      float alpha = tr == 3 ? 0.5f : 1.0f, beta = tr == 1 ? 0.25f : 0.0f;
      int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
      float *A = sn_malloc(sizeof(float) * (size_t)((ta ? K : M) * lda));
      float *B = sn_malloc(sizeof(float) * (size_t)((tb ? N : K) * ldb));
      float *C0 = sn_malloc(sizeof(float) * (size_t)(M * ldc)), *C1 = sn_malloc(sizeof(float) * (size_t)(M * ldc));
      double *absum = sn_malloc(sizeof(double) * (size_t)(M * N));
      for (int64_t i = 0; i < (ta ? K : M) * lda; i++) A[i] = urand();
      for (int64_t i = 0; i < (tb ? N : K) * ldb; i++) B[i] = urand();
      for (int64_t i = 0; i < M * ldc; i++) C0[i] = C1[i] = urand();
      sn_sgemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc);
      void *ws = (t & 1) ? sn_aligned_alloc(sn_sgemm_workspace()) : NULL; /* caller workspace, or its own */
      sn_sgemm_avx512bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc, ws);
      sn_aligned_free(ws);
      bool ok = true, exact = true;
      for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
          double s = 0;
          for (int64_t k = 0; k < K; k++)
            s += fabs((double)A[ta ? k * lda + m : m * lda + k] * (double)B[tb ? n * ldb + k : k * ldb + n]);
          double bound = fabs(alpha) * s * (2.0 / 256.0 + 1e-6 * (double)K) + 1e-6;
          double d = fabs((double)C0[m * ldc + n] - (double)C1[m * ldc + n]);
          ok &= d <= bound;
          exact &= d <= 1e-7 * (fabs(alpha) * s + 1);
        }
      for (int64_t m = 0; m < M; m++) /* padding columns untouched */
        for (int64_t n = N; n < ldc; n++) ok &= C0[m * ldc + n] == C1[m * ldc + n];
      char what[160];
      snprintf(what, sizeof what, "bf16 gemm M=%lld N=%lld K=%lld ta=%d tb=%d", (long long)M, (long long)N,
               (long long)K, ta, tb);
      check(ok, what);
      cases++;
      loose_seen += !exact;
      sn_free(A), sn_free(B), sn_free(C0), sn_free(C1), sn_free(absum);
    }
  /* bf16 rounding must show somewhere (a float32 GEMM passing as bf16 would be a wiring bug) */
  check(loose_seen > cases / 2, "bf16 gemm differs from float32 where it should");
}

int main(void) {
  quant_loops();
  quantize_near_halves();
  dequant_cols();
  if (sn_cpu_isa() < SN_ISA_AVX512) printf("test_quant_kernels: AVX-512 loops skipped (ISA capped or absent)\n");
  bf16_gemm();
  printf("test_quant_kernels: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
