/* Unit test: the grouped 2-D convolution kernel (kernels/gconv.h) at AVX-512 and AVX2 against its portable
 * definition on awkward shapes: 2..64 channels per group (input and output counts apart), 1x1 to 5x5
 * kernels, strides 1 to 3, dilation 2, asymmetric pads (leading only, or none), widths 1 to 130 (past
 * the widest register tile of 96 columns and not a multiple of a vector), batch 2, with and without
 * bias, planes in two calls; within float32 summation error of sum |w||x|. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gconv.h"
#include "runtime/cpu.h"
#define CHECK_SEED 0x9E3779B97F4A7C15ull
#include "check.h"

typedef void (*gconv_fn)(const sn_gconv_geom *, const float *, const float *, const float *, float *, int64_t, int64_t,
                         float *);

static void run(gconv_fn fn, const char *name, int64_t N, int64_t Cg, int64_t Mg, int64_t G, int64_t H, int64_t W,
                int64_t k, int64_t s, int64_t d, int64_t p, bool bias) {
  sn_gconv_geom g = {Cg * G, Mg * G, G, H, W, 0, 0, k, k, s, s, d, d, p, p};
  g.OH = (H + 2 * p - d * (k - 1) - 1) / s + 1, g.OW = (W + p - d * (k - 1) - 1) / s + 1; /* (right pad 0) */
  if (g.OH <= 0 || g.OW <= 0) return;
  const size_t nx = (size_t)(N * g.C * H * W), nw = (size_t)(g.M * Cg * k * k), ny = (size_t)(N * g.M * g.OH * g.OW);
  float *x = xmalloc(sizeof(float) * nx), *w = xmalloc(sizeof(float) * nw), *b = xmalloc(sizeof(float) * (size_t)g.M);
  float *y0 = xmalloc(sizeof(float) * ny), *y1 = xmalloc(sizeof(float) * ny);
  float *sc = xmalloc(sizeof(float) * sn_gconv_scratch_floats(&g));
  for (size_t i = 0; i < nx; i++) x[i] = urand();
  for (size_t i = 0; i < nw; i++) w[i] = urand();
  for (int64_t i = 0; i < g.M; i++) b[i] = urand();
  for (size_t i = 0; i < ny; i++) y1[i] = NAN;
  sn_gconv_f32_ref(&g, x, w, bias ? b : NULL, y0, 0, N * G);
  fn(&g, x, w, bias ? b : NULL, y1, 0, N * G / 2, sc);
  fn(&g, x, w, bias ? b : NULL, y1, N * G / 2, N * G, sc);
  double worst = 0;
  bool ok = true;
  for (size_t i = 0; i < ny; i++) {
    double e = fabs((double)y1[i] - (double)y0[i]);
    double bound = 2e-6 * (double)(Cg * k * k + 1) + 1e-6; /* |x|, |w| < 1: sum |w||x| <= Cg * k * k */
    if (!(e <= bound)) ok = false;
    if (e > worst || e != e) worst = e != e ? INFINITY : e;
  }
  char what[200];
  snprintf(what, sizeof what, "%s N=%lld Cg=%lld Mg=%lld G=%lld %lldx%lld k=%lld s=%lld d=%lld p=%lld bias=%d: worst %.3g",
           name, (long long)N, (long long)Cg, (long long)Mg, (long long)G, (long long)H, (long long)W, (long long)k,
           (long long)s, (long long)d, (long long)p, bias, worst);
  check(ok, what);
  free(x), free(w), free(b), free(y0), free(y1), free(sc);
}

int main(void) {
  const sn_cpu *cpu = sn_cpu_info();
  const struct {
    gconv_fn fn;
    const char *name;
    bool ok;
  } impls[] = {{sn_gconv_f32_avx512, "avx512", cpu->avx512f && cpu->avx512bw && cpu->avx512vl && cpu->avx512dq},
               {sn_gconv_f32_avx2, "avx2", cpu->avx2 && cpu->fma}};
  /* N, Cg, Mg, G, H, W, k, s, d, p */
  const int64_t cs[][10] = {{2, 8, 8, 3, 14, 14, 3, 1, 1, 1},  {1, 4, 4, 5, 9, 17, 3, 2, 1, 1},
                            {1, 2, 3, 2, 5, 1, 1, 1, 1, 0},    {1, 16, 16, 2, 7, 7, 3, 1, 1, 1},
                            {2, 3, 5, 4, 11, 13, 5, 1, 2, 2},  {1, 8, 16, 2, 10, 130, 3, 1, 1, 1},
                            {1, 16, 2, 3, 6, 100, 1, 3, 1, 0}, {1, 6, 7, 2, 8, 9, 2, 2, 1, 0},
                            {1, 8, 8, 4, 56, 56, 3, 2, 1, 1},  {1, 5, 9, 3, 4, 97, 3, 1, 1, 0},
                            {1, 32, 32, 2, 7, 7, 3, 1, 1, 1},  {1, 64, 24, 2, 9, 5, 3, 2, 1, 1}};
  for (size_t i = 0; i < sizeof impls / sizeof *impls; i++) {
    if (!impls[i].ok) {
      printf("test_gconv: no %s here: its kernel is not tested\n", impls[i].name);
      continue;
    }
    for (size_t c = 0; c < sizeof cs / sizeof *cs; c++)
      for (int bias = 0; bias < 2; bias++)
        run(impls[i].fn, impls[i].name, cs[c][0], cs[c][1], cs[c][2], cs[c][3], cs[c][4], cs[c][5], cs[c][6],
            cs[c][7], cs[c][8], cs[c][9], bias);
  }
  sn_gconv_geom g = {16, 16, 2, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1};
  check(sn_gconv_supported(&g) == (sn_cpu_isa() >= SN_ISA_AVX2), "supported at AVX2 and above");
  g.G = 16, g.C = g.M = 16;
  check(!sn_gconv_supported(&g), "one channel per group (depthwise) is not this kernel's");
  return check_report("test_gconv");
}
