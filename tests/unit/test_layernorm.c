/* Unit test: every row-wise (skip-)layer normalization kernel the CPU allows (portable, AVX2,
 * AVX-512, and the dispatching sn_layernorm_f32) against a naive double-precision loop, over row
 * lengths around the vector widths and the hidden sizes of real encoders, with and without skip,
 * bias, beta, the sum output, per-row statistics, and in place. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/layernorm.h"
#define CHECK_SEED 0x243F6A8885A308D3ull
#include "check.h"

static float *randv(int64_t n, float scale, float offset) {
  float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) p[i] = urand() * scale + offset;
  return p;
}

/* flags: 1 skip, 2 bias, 4 beta, 8 sum, 16 stats, 32 in place (y = x) */
static void run_case(const char *name, sn_layernorm_fn fn, int64_t rows, int64_t n, int flags) {
  /* an offset mean and a wide spread, as residual streams have */
  float *x = randv(rows * n, 3.f, 5.f), *sk = randv(rows * n, 1.f, 0.f), *bias = randv(n, 0.5f, 0.f);
  float *gamma = randv(n, 1.f, 1.f), *beta = randv(n, 0.5f, 0.f);
  float *y = malloc(sizeof(float) * (size_t)(rows * n)), *sum = malloc(sizeof(float) * (size_t)(rows * n));
  float *mean = malloc(sizeof(float) * (size_t)rows), *inv = malloc(sizeof(float) * (size_t)rows);
  double *want = malloc(sizeof(double) * (size_t)(rows * n)), *wsum = malloc(sizeof(double) * (size_t)(rows * n));
  double *wmean = malloc(sizeof(double) * (size_t)rows), *winv = malloc(sizeof(double) * (size_t)rows);
  const float eps = 1e-5f;
  for (int64_t r = 0; r < rows; r++) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < n; i++) {
      /* the sum is formed in float, as every kernel does, before the statistics */
      float s = x[r * n + i];
      if (flags & 1) s += sk[r * n + i];
      if (flags & 2) s += bias[i];
      wsum[r * n + i] = s;
      m += s;
    }
    m /= (double)n;
    for (int64_t i = 0; i < n; i++) v += (wsum[r * n + i] - m) * (wsum[r * n + i] - m);
    v /= (double)n;
    wmean[r] = m;
    winv[r] = 1.0 / sqrt(v + eps);
    for (int64_t i = 0; i < n; i++)
      want[r * n + i] = (wsum[r * n + i] - m) * winv[r] * gamma[i] + ((flags & 4) ? beta[i] : 0.0);
  }
  float *out = (flags & 32) ? x : y;
  sn_ln_rows a = {.x = x, .skip = (flags & 1) ? sk : NULL, .bias = (flags & 2) ? bias : NULL, .gamma = gamma,
                  .beta = (flags & 4) ? beta : NULL, .y = out, .sum = (flags & 8) ? sum : NULL,
                  .mean = (flags & 16) ? mean : NULL, .inv_std = (flags & 16) ? inv : NULL, .rows = rows, .n = n,
                  .eps = eps};
  fn(&a);
  /* float32 statistics err by a few ulps of the row's largest |s|; normalizing scales that by
   * inv_std * |gamma|. The bound per element: 16 ulps of max|s| so scaled, plus 2 ulps of |y|. */
  double worst = 0, worst_sum = 0, worst_stat = 0;
  for (int64_t k = 0; k < rows * n; k++) {
    int64_t r = k / n;
    double smax = 0;
    for (int64_t i = 0; i < n; i++) smax = fmax(smax, fabs(wsum[r * n + i]));
    double tol = 16 * 1.19e-7 * smax * winv[r] * fabs(gamma[k % n]) + 2 * 1.19e-7 * fabs(want[k]) + 1e-7;
    double d = fabs((double)out[k] - want[k]) / tol;
    if (!(d <= worst)) worst = d;
    if (flags & 8) {
      double e = fabs((double)sum[k] - wsum[k]);
      if (!(e <= worst_sum)) worst_sum = e;
    }
  }
  for (int64_t r = 0; (flags & 16) && r < rows; r++) {
    double e = fabs(mean[r] - wmean[r]) / (fabs(wmean[r]) + 1) + fabs(inv[r] - winv[r]) / winv[r];
    if (!(e <= worst_stat)) worst_stat = e;
  }
  bool ok = worst <= 1 && worst_sum == 0 && worst_stat <= 1e-5;
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL %s rows=%lld n=%lld flags=%d: max y err / bound %.3g, max|sum err| %.3g, stats err %.3g\n", name,
           (long long)rows, (long long)n, flags, worst, worst_sum, worst_stat);
  }
  free(x), free(sk), free(bias), free(gamma), free(beta), free(y), free(sum), free(mean), free(inv);
  free(want), free(wsum), free(wmean), free(winv);
}

int main(void) {
  static const struct {
    const char *name;
    sn_isa isa;
  } isas[] = {{"ref", SN_ISA_SCALAR}, {"avx2", SN_ISA_AVX2}, {"avx512", SN_ISA_AVX512}};
  static const int64_t lens[] = {1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 48, 63, 100, 256, 384, 768, 1000, 1024};
  for (size_t k = 0; k < sizeof isas / sizeof *isas; k++) {
    sn_layernorm_fn fn = sn_layernorm_kernel_for(isas[k].isa);
    if (!fn) {
      printf("skip %s: not supported on this CPU\n", isas[k].name);
      continue;
    }
    for (size_t l = 0; l < sizeof lens / sizeof *lens; l++)
      for (int flags = 0; flags < 64; flags += (lens[l] > 100 ? 7 : 1)) run_case(isas[k].name, fn, 3, lens[l], flags);
  }
  for (int flags = 0; flags < 64; flags += 5) run_case("dispatch", sn_layernorm_f32, 5, 768, flags);
  return check_report("test_layernorm");
}
