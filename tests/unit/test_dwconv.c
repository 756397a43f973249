/* Unit test: every float32 depthwise 2-D convolution the CPU allows (portable, AVX2, AVX-512, and the
 * dispatching sn_dwconv2d_f32) against a naive double-precision loop on awkward shapes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dwconv.h"
#include "runtime/cpu.h"
#include "check.h"

typedef void (*dw_fn)(const sn_dwconv2d_geom *, const float *, const float *, const float *, float *, int64_t,
                      int64_t);

typedef struct impl {
  const char *name;
  dw_fn fn;
  sn_isa need;
} impl;

/* one case over C channels, computing [c0, c1); checks the range against the naive loop and that
 * the other channels of y are untouched */
static void run_case(const impl *im, const sn_dwconv2d_geom *g, int64_t C, int64_t c0, int64_t c1, int bias) {
  const int64_t oh = sn_dwconv2d_out_h(g), ow = sn_dwconv2d_out_w(g);
  if (oh <= 0 || ow <= 0) return;
  const int64_t insz = g->in_h * g->in_w, ksz = g->k_h * g->k_w, osz = oh * ow;
  /* exact sizes so that ASan sees any read or write past the end */
  float *x = malloc(sizeof(float) * (size_t)(C * insz)), *w = malloc(sizeof(float) * (size_t)(C * ksz));
  float *b = malloc(sizeof(float) * (size_t)C), *y = malloc(sizeof(float) * (size_t)(C * osz));
  if (!x || !w || !b || !y) {
    printf("out of memory\n");
    exit(1);
  }
  for (int64_t i = 0; i < C * insz; i++) x[i] = urand();
  for (int64_t i = 0; i < C * ksz; i++) w[i] = urand();
  for (int64_t i = 0; i < C; i++) b[i] = urand();
  for (int64_t i = 0; i < C * osz; i++) y[i] = NAN;
  im->fn(g, x, w, bias ? b : NULL, y, c0, c1);
  int ok = 1;
  for (int64_t c = 0; c < C && ok; c++)
    for (int64_t oy = 0; oy < oh && ok; oy++)
      for (int64_t ox = 0; ox < ow && ok; ox++) {
        float got = y[c * osz + oy * ow + ox];
        if (c < c0 || c >= c1) {
          if (!isnan(got)) ok = 0;
          continue;
        }
        double s = bias ? b[c] : 0, mag = fabs(s);
        for (int64_t ky = 0; ky < g->k_h; ky++)
          for (int64_t kx = 0; kx < g->k_w; kx++) {
            int64_t iy = oy * g->stride_h - g->pad_t + ky * g->dil_h, ix = ox * g->stride_w - g->pad_l + kx * g->dil_w;
            if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) continue;
            double t = (double)w[c * ksz + ky * g->k_w + kx] * (double)x[c * insz + iy * g->in_w + ix];
            s += t, mag += fabs(t);
          }
        if (!(fabs((double)got - s) <= 1e-5 * mag + 1e-30)) ok = 0;
      }
  if (ok) {
    passed++;
  } else {
    failed++;
    if (failed <= 20)
      printf("FAIL: %s C=%lld [%lld,%lld) in=%lldx%lld k=%lldx%lld s=%lldx%lld d=%lldx%lld pads=%lld,%lld,%lld,%lld bias=%d\n",
             im->name, (long long)C, (long long)c0, (long long)c1, (long long)g->in_h, (long long)g->in_w,
             (long long)g->k_h, (long long)g->k_w, (long long)g->stride_h, (long long)g->stride_w, (long long)g->dil_h,
             (long long)g->dil_w, (long long)g->pad_t, (long long)g->pad_l, (long long)g->pad_b, (long long)g->pad_r,
             bias);
  }
  free(x), free(w), free(b), free(y);
}

static void test_impl(const impl *im) {
  static const int64_t sizes[] = {1, 2, 3, 5, 7, 8, 15, 16, 17, 33, 56};
  static const int64_t kernels[][2] = {{1, 1}, {3, 3}, {5, 5}, {7, 7}, {3, 5}};
  static const int64_t pads[][4] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 2, 2, 2}, {0, 1, 2, 1}, {2, 0, 1, 2},
                                    {1, 2, 0, 0}, {0, 0, 1, 2}, {2, 1, 0, 1}};
  const int ns = (int)(sizeof sizes / sizeof *sizes), np = (int)(sizeof pads / sizeof *pads);
  int before = failed, cnt = 0;
  for (int hi = 0; hi < ns; hi++)
    for (int wi = 0; wi < ns; wi++)
      for (int ki = 0; ki < 5; ki++)
        for (int64_t s = 1; s <= 3; s++)
          for (int64_t d = 1; d <= 2; d++) {
            const int64_t *p = pads[cnt % np];
            sn_dwconv2d_geom g = {sizes[hi], sizes[wi], kernels[ki][0], kernels[ki][1], s, s, d, d,
                                  p[0], p[1], p[2], p[3]};
            /* mixed strides / dilations across the two axes now and then */
            if (cnt % 7 == 3) g.stride_h = 1 + (s % 3);
            if (cnt % 5 == 2) g.dil_h = 3 - d;
            int bias = cnt % 2;
            if (cnt % 3 == 0)
              run_case(im, &g, 3, 1, 3, bias); /* a channel range */
            else
              run_case(im, &g, 2, 0, 2, bias);
            cnt++;
          }
  /* wide rows: several full vectors plus tails */
  for (int64_t W = 60; W <= 140; W += 11)
    for (int64_t s = 1; s <= 3; s++) {
      sn_dwconv2d_geom g = {4, W, 3, 3, s, s, 1, 1, 1, 1, 1, 1};
      run_case(im, &g, 2, 0, 2, 1);
      sn_dwconv2d_geom g2 = {5, W, 5, 5, s, s, 2, 2, 2, 3, 1, 0};
      run_case(im, &g2, 1, 0, 1, 0);
    }
  printf("%s: %s\n", im->name, failed == before ? "ok" : "FAILED");
}

int main(void) {
  const impl impls[] = {{"f32_dwconv2d_ref", sn_dwconv2d_f32_ref, SN_ISA_SCALAR},
                        {"f32_dwconv2d_avx2", sn_dwconv2d_f32_avx2, SN_ISA_AVX2},
                        {"f32_dwconv2d_avx512", sn_dwconv2d_f32_avx512, SN_ISA_AVX512},
                        {"sn_dwconv2d_f32 (dispatch)", sn_dwconv2d_f32, SN_ISA_SCALAR}};
  sn_isa isa = sn_cpu_isa();
  for (size_t i = 0; i < sizeof impls / sizeof *impls; i++) {
    if (impls[i].need > isa) {
      printf("%s: skipped (CPU or SINTER_ISA allows only %s)\n", impls[i].name, sn_isa_name(isa));
      continue;
    }
    test_impl(&impls[i]);
  }
  return check_report("test_dwconv");
}
