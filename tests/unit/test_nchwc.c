/* Unit test: the blocked-layout (NCHWc) kernels - reorders, weight packing, convolution (group 1,
 * depthwise and grouped, with the bias / residual / Relu / Clip epilogue) and pooling - at every block and ISA
 * the CPU allows (portable at blocks 8 and 16, AVX-512 at 16, AVX2 at 8), against naive double-precision NCHW
 * loops on awkward shapes: channels that are not a multiple of the block, 1x1 to 7x7 kernels,
 * strides, pads, dilations, odd sizes. Also checks the padded channels of outputs stay zero. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/nchwc.h"
#include "runtime/cpu.h"
#include "check.h"

static float *falloc(int64_t n) {
  float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  if (!p) {
    printf("out of memory\n");
    exit(1);
  }
  return p;
}

typedef void (*conv_fn)(const sn_nchwc_conv_geom *, const float *, const float *, float *, int64_t, int64_t);
typedef void (*pool_fn)(const sn_nchwc_pool_geom *, const float *, float *, int64_t, int64_t);

typedef void (*gavg_fn)(const float *, float *, int64_t, int64_t, int64_t, int64_t);
typedef void (*affine_fn)(const float *, const float *, const float *, float *, int64_t, int64_t, int64_t, bool, int64_t,
                          int64_t);

typedef struct impl {
  const char *name;
  int64_t block;
  conv_fn conv;
  pool_fn pool;
  gavg_fn gavg;
  sn_isa need;
  affine_fn affine;
} impl;

static void gavg_avx512(const float *x, float *y, int64_t hw, int64_t block, int64_t t0, int64_t t1) {
  (void)block;
  sn_nchwc_gavg_f32_avx512(x, y, hw, t0, t1);
}
static void gavg_avx2(const float *x, float *y, int64_t hw, int64_t block, int64_t t0, int64_t t1) {
  (void)block;
  sn_nchwc_gavg_f32_avx2(x, y, hw, t0, t1);
}

static void affine_avx512(const float *x, const float *a, const float *b, float *y, int64_t cb, int64_t hw,
                          int64_t block, bool relu, int64_t t0, int64_t t1) {
  (void)block;
  sn_nchwc_affine_f32_avx512(x, a, b, y, cb, hw, relu, t0, t1);
}
static void affine_avx2(const float *x, const float *a, const float *b, float *y, int64_t cb, int64_t hw,
                        int64_t block, bool relu, int64_t t0, int64_t t1) {
  (void)block;
  sn_nchwc_affine_f32_avx2(x, a, b, y, cb, hw, relu, t0, t1);
}

static const impl impls[] = {
    {"ref8", 8, sn_nchwc_conv_f32_ref, sn_nchwc_pool_f32_ref, sn_nchwc_gavg_f32_ref, SN_ISA_SCALAR, sn_nchwc_affine_f32_ref},
    {"ref16", 16, sn_nchwc_conv_f32_ref, sn_nchwc_pool_f32_ref, sn_nchwc_gavg_f32_ref, SN_ISA_SCALAR, sn_nchwc_affine_f32_ref},
    {"avx512", 16, sn_nchwc_conv_f32_avx512, sn_nchwc_pool_f32_avx512, gavg_avx512, SN_ISA_AVX512, affine_avx512},
    {"avx2", 8, sn_nchwc_conv_f32_avx2, sn_nchwc_pool_f32_avx2, gavg_avx2, SN_ISA_AVX2, affine_avx2},
    {"dispatch16", 16, sn_nchwc_conv_f32, sn_nchwc_pool_f32, sn_nchwc_gavg_f32, SN_ISA_SCALAR, sn_nchwc_affine_f32},
    {"dispatch8", 8, sn_nchwc_conv_f32, sn_nchwc_pool_f32, sn_nchwc_gavg_f32, SN_ISA_SCALAR, sn_nchwc_affine_f32},
};

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe) {
  int64_t ek = (k - 1) * d + 1;
  return in + pb + pe < ek ? 0 : (in + pb + pe - ek) / s + 1;
}

/* one convolution case: N images, C -> M channels (depthwise: M = C), H x W, kernel kh x kw */
static bool nchw_input; /* conv_case: feed X as NCHW (input_block 1) */
static int64_t groups = 1; /* conv_case: a grouped convolution (not depthwise) of this many groups */

static void conv_case(const impl *im, int64_t N, int64_t C, int64_t M, int64_t H, int64_t W, int64_t kh, int64_t kw,
                      int64_t s, int64_t d, int64_t p, bool dw, bool bias, bool res, int act) {
  const int64_t B = im->block, MB = (M + B - 1) / B;
  const int64_t BI = nchw_input && !dw ? 1 : B, CB = (C + BI - 1) / BI;
  const int64_t OH = out_size(H, kh, s, d, p, p), OW = out_size(W, kw, s, d, p + 1, p); /* asymmetric: right pad p */
  if (OH <= 0 || OW <= 0) return;
  const int64_t G = dw ? 1 : groups, Cg = dw ? 1 : C / G, Mg = M / G, K = kh * kw;
  float *x = falloc(N * C * H * W), *w = falloc(M * Cg * K), *b = falloc(MB * B), *r = falloc(N * M * OH * OW);
  for (int64_t i = 0; i < N * C * H * W; i++) x[i] = urand();
  for (int64_t i = 0; i < M * Cg * K; i++) w[i] = urand();
  for (int64_t i = 0; i < MB * B; i++) b[i] = i < M ? urand() : 0.f;
  for (int64_t i = 0; i < N * M * OH * OW; i++) r[i] = urand();
  float *xb = falloc(N * CB * H * W * B), *rb = falloc(N * MB * OH * OW * B);
  float *wb = falloc(G > 1 ? sn_nchwc_grouped_weight_size(M, C, G, kh, kw, B) : sn_nchwc_weight_size(M, C, kh, kw, B, BI, dw));
  float *yb = falloc(N * MB * OH * OW * B);
  float *y = falloc(N * M * OH * OW);
  if (BI == 1)
    memcpy(xb, x, sizeof(float) * (size_t)(N * C * H * W));
  else
    sn_nchwc_reorder_in_f32(x, xb, C, H * W, B, 0, N * CB);
  sn_nchwc_reorder_in_f32(r, rb, M, OH * OW, B, 1, N * MB); /* in two calls */
  sn_nchwc_reorder_in_f32(r, rb, M, OH * OW, B, 0, 1);
  if (G > 1)
    sn_nchwc_pack_grouped_weight(w, M, C, G, kh, kw, B, wb);
  else
    sn_nchwc_pack_weight(w, M, C, kh, kw, B, BI, dw, wb);
  sn_nchwc_conv_geom g = {.group = G, .group_in = C / G, .group_out = Mg,
                          /* (odd group counts pass the weight's span, even ones leave the kernel to compute it) */
                          .span = G > 1 && G % 2 ? sn_nchwc_group_span(M, C, G, B) : 0,
                          .block = B, .in_block = BI, .n = N, .cbi = CB, .cbo = MB, .ih = H, .iw = W, .oh = OH, .ow = OW, .kh = kh,
                          .kw = kw, .sh = s, .sw = s, .dh = d, .dw = d, .ph = p, .pw = p, .depthwise = dw,
                          .bias = bias ? b : NULL, .res = res ? rb : NULL, .act = act, .lo = -0.5f, .hi = 0.75f};
  for (int64_t i = 0; i < N * MB * OH * OW * B; i++) yb[i] = NAN;
  int64_t rpi, bpi, items = sn_nchwc_conv_items(&g, &rpi, &bpi);
  /* in two calls, to check that items split the work */
  im->conv(&g, xb, wb, yb, 0, items / 3);
  im->conv(&g, xb, wb, yb, items / 3, items);
  sn_nchwc_reorder_out_f32(yb, y, M, OH * OW, B, 0, N * MB);
  int ok = 1;
  /* the channels-last reorder agrees with the NCHW one */
  float *yh = falloc(N * M * OH * OW);
  sn_nchwc_reorder_out_nhwc_f32(yb, yh, M, OH * OW, B, 0, N * OH * OW);
  for (int64_t n = 0; n < N && ok; n++)
    for (int64_t m = 0; m < M && ok; m++)
      for (int64_t q = 0; q < OH * OW && ok; q++)
        if (memcmp(&yh[(n * OH * OW + q) * M + m], &y[(n * M + m) * OH * OW + q], sizeof(float))) ok = 0;
  free(yh);
  /* padded channels are exactly 0 (relu / no act; clip of 0 is 0 too as lo < 0 < hi) */
  for (int64_t n = 0; n < N && ok; n++)
    for (int64_t m = M; m < MB * B && ok; m++)
      for (int64_t q = 0; q < OH * OW && ok; q++)
        if (yb[((n * MB + m / B) * OH * OW + q) * B + m % B] != 0.f) ok = 0;
  double maxerr = 0;
  for (int64_t n = 0; n < N && ok; n++)
    for (int64_t m = 0; m < M && ok; m++)
      for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
          double acc = bias ? b[m] : 0, mag = fabs(acc);
          for (int64_t ci = 0; ci < Cg; ci++) {
            int64_t c = dw ? m : m / Mg * Cg + ci;
            for (int64_t ky = 0; ky < kh; ky++)
              for (int64_t kx = 0; kx < kw; kx++) {
                int64_t iy = oy * s - p + ky * d, ix = ox * s - p + kx * d;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                double t = (double)x[((n * C + c) * H + iy) * W + ix] * (double)w[((m * Cg + ci) * kh + ky) * kw + kx];
                acc += t, mag += fabs(t);
              }
          }
          int64_t yi = ((n * M + m) * OH + oy) * OW + ox;
          if (res) acc += r[yi], mag += fabs(r[yi]);
          if (act == SN_NCHWC_ACT_RELU) acc = acc > 0 ? acc : 0;
          if (act == SN_NCHWC_ACT_CLIP) acc = acc < -0.5 ? -0.5 : acc > 0.75 ? 0.75 : acc;
          double err = fabs((double)y[yi] - acc);
          if (!(err <= 1e-5 * mag + 1e-6)) ok = 0;
          if (err > maxerr) maxerr = err;
        }
  if (ok)
    passed++;
  else if (++failed <= 20)
    printf("FAIL conv %s%s: G=%lld N=%lld C=%lld M=%lld %lldx%lld k=%lldx%lld s=%lld d=%lld p=%lld dw=%d bias=%d res=%d act=%d (max err %g)\n",
           im->name, BI == 1 ? " (NCHW input)" : "", (long long)G, (long long)N, (long long)C, (long long)M, (long long)H, (long long)W, (long long)kh, (long long)kw,
           (long long)s, (long long)d, (long long)p, dw, bias, res, act, maxerr);
  free(x), free(w), free(b), free(r), free(xb), free(rb), free(wb), free(yb), free(y);
}

static void pool_case(const impl *im, int64_t N, int64_t C, int64_t H, int64_t W, int64_t k, int64_t s, int64_t d,
                      int64_t p, int64_t pe, bool max, bool cip) {
  const int64_t B = im->block, CB = (C + B - 1) / B;
  const int64_t OH = out_size(H, k, s, d, p, pe), OW = out_size(W, k, s, d, p, pe);
  if (OH <= 0 || OW <= 0) return;
  float *x = falloc(N * C * H * W), *xb = falloc(N * CB * H * W * B), *yb = falloc(N * CB * OH * OW * B);
  float *y = falloc(N * C * OH * OW);
  for (int64_t i = 0; i < N * C * H * W; i++) x[i] = urand();
  sn_nchwc_reorder_in_f32(x, xb, C, H * W, B, 0, N * CB);
  sn_nchwc_pool_geom g = {.block = B, .n = N, .cb = CB, .ih = H, .iw = W, .oh = OH, .ow = OW, .kh = k, .kw = k,
                          .sh = s, .sw = s, .dh = d, .dw = d, .ph = p, .pw = p, .max = max, .count_include_pad = cip,
                          .pad_end_h = pe, .pad_end_w = pe};
  im->pool(&g, xb, yb, 0, N * CB / 2);
  im->pool(&g, xb, yb, N * CB / 2, N * CB);
  sn_nchwc_reorder_out_f32(yb, y, C, OH * OW, B, 0, N * CB);
  int ok = 1;
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
          double acc = max ? -INFINITY : 0;
          int64_t cnt = 0, cntp = 0;
          for (int64_t ky = 0; ky < k; ky++)
            for (int64_t kx = 0; kx < k; kx++) {
              int64_t iy = oy * s - p + ky * d, ix = ox * s - p + kx * d;
              if (iy < H + pe && ix < W + pe) cntp++;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              double v = x[((n * C + c) * H + iy) * W + ix];
              cnt++;
              acc = max ? (v > acc ? v : acc) : acc + v;
            }
          if (!max) acc /= (double)(cip ? cntp : cnt);
          if (!(fabs((double)y[((n * C + c) * OH + oy) * OW + ox] - acc) <= 1e-5 * (fabs(acc) + 1))) ok = 0;
        }
  /* global average */
  float *gb = falloc(N * CB * B);
  im->gavg(xb, gb, H * W, B, 0, N * CB);
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < CB * B; c++) {
      double acc = 0;
      if (c < C)
        for (int64_t q = 0; q < H * W; q++) acc += x[(n * C + c) * H * W + q];
      acc /= (double)(H * W);
      if (!(fabs((double)gb[(n * CB + c / B) * B + c % B] - acc) <= 1e-5 * (fabs(acc) + 1))) ok = 0;
    }
  if (ok)
    passed++;
  else if (++failed <= 20)
    printf("FAIL pool %s: N=%lld C=%lld %lldx%lld k=%lld s=%lld d=%lld p=%lld pe=%lld max=%d cip=%d\n", im->name,
           (long long)N, (long long)C, (long long)H, (long long)W, (long long)k, (long long)s, (long long)d,
           (long long)p, (long long)pe, max, cip);
  free(x), free(xb), free(yb), free(y), free(gb);
}

/* Every reorder implementation this CPU runs moves exactly the floats the portable loops move: channel
 * counts around the block (1, 7, 16, 17, 40), pixel counts around a tile (1, 15, 16, 17, 49, 113),
 * two images, NCHW -> blocked (padded lanes zero), blocked -> NCHW, blocked -> NHWC and NHWC -> blocked
 * (the same blocked tensor as from NCHW, padded lanes zero); items split in two calls, and one float
 * past each output left alone. */
typedef void (*rin_fn)(const float *, float *, int64_t, int64_t, int64_t, int64_t);
static void reorder_cases(void) {
  struct {
    const char *name;
    int64_t block;
    sn_isa need;
    rin_fn in, out, nhwc, in_nhwc;
  } impls[] = {{"avx512", 16, SN_ISA_AVX512, sn_nchwc_reorder_in_f32_avx512, sn_nchwc_reorder_out_f32_avx512,
                sn_nchwc_reorder_out_nhwc_f32_avx512, sn_nchwc_reorder_in_nhwc_f32_avx512},
               {"avx2", 8, SN_ISA_AVX2, sn_nchwc_reorder_in_f32_avx2, sn_nchwc_reorder_out_f32_avx2,
                sn_nchwc_reorder_out_nhwc_f32_avx2, sn_nchwc_reorder_in_nhwc_f32_avx2}};
  static const int64_t cs[] = {1, 7, 16, 17, 40}, hws[] = {1, 15, 16, 17, 49, 113};
  for (size_t i = 0; i < sizeof impls / sizeof *impls; i++) {
    if (sn_cpu_isa() < impls[i].need) continue;
    const int64_t B = impls[i].block, N = 2;
    bool ok = true;
    for (size_t a = 0; a < sizeof cs / sizeof *cs; a++)
      for (size_t h = 0; h < sizeof hws / sizeof *hws; h++) {
        const int64_t C = cs[a], hw = hws[h], CB = (C + B - 1) / B, nx = N * C * hw, nb = N * CB * hw * B;
        float *x = falloc(nx + 1), *b1 = falloc(nb + 1), *b2 = falloc(nb + 1), *o1 = falloc(nx + 1), *o2 = falloc(nx + 1);
        for (int64_t k = 0; k <= nx; k++) x[k] = (float)(k * 7 % 101) - 50.f;
        b1[nb] = b2[nb] = o1[nx] = o2[nx] = 12345.f;
        sn_nchwc_reorder_in_f32_ref(x, b1, C, hw, B, 0, N * CB);
        impls[i].in(x, b2, C, hw, 0, 1);
        impls[i].in(x, b2, C, hw, 1, N * CB);
        ok &= !memcmp(b1, b2, sizeof(float) * (size_t)(nb + 1));
        sn_nchwc_reorder_out_f32_ref(b1, o1, C, hw, B, 0, N * CB);
        impls[i].out(b1, o2, C, hw, 0, N * CB - 1);
        impls[i].out(b1, o2, C, hw, N * CB - 1, N * CB);
        ok &= !memcmp(o1, o2, sizeof(float) * (size_t)(nx + 1)) && !memcmp(o1, x, sizeof(float) * (size_t)nx);
        sn_nchwc_reorder_out_nhwc_f32_ref(b1, o1, C, hw, B, 0, N * hw);
        impls[i].nhwc(b1, o2, C, hw, 0, N * hw);
        ok &= !memcmp(o1, o2, sizeof(float) * (size_t)(nx + 1));
        /* back from NHWC: the blocked tensor the NCHW reorder made */
        for (int64_t k = 0; k < nb; k++) b2[k] = -1.f;
        sn_nchwc_reorder_in_nhwc_f32_ref(o1, b2, C, hw, B, 0, N * hw);
        ok &= !memcmp(b1, b2, sizeof(float) * (size_t)(nb + 1));
        for (int64_t k = 0; k < nb; k++) b2[k] = -1.f;
        impls[i].in_nhwc(o1, b2, C, hw, 0, 3 < N * hw ? 3 : 1);
        impls[i].in_nhwc(o1, b2, C, hw, 3 < N * hw ? 3 : 1, N * hw);
        ok &= !memcmp(b1, b2, sizeof(float) * (size_t)(nb + 1));
        if (!ok) {
          printf("reorder mismatch: %s C %lld hw %lld\n", impls[i].name, (long long)C, (long long)hw);
          a = sizeof cs / sizeof *cs;
        }
        free(x), free(b1), free(b2), free(o1), free(o2);
        if (!ok) break;
      }
    CHECK(ok, "%s reorders equal the portable loops", impls[i].name);
  }
}

/* the per-channel affine (DenseNet's BatchNormalization before a convolution), with and without its Relu,
 * into another buffer and in place, over planes split in two calls: exactly x * a + b (one rounding: the
 * fused multiply-add of the vector kernels and the portable one may differ by an ulp, so 1e-6 relative),
 * max(0, .) with NaN giving 0 */
static void affine_case(const impl *im, int64_t N, int64_t CB, int64_t hw) {
  const int64_t B = im->block, n = N * CB * hw * B;
  float *x = falloc(n), *y = falloc(n), *a = falloc(CB * B), *b = falloc(CB * B);
  for (int relu = 0; relu < 2; relu++)
    for (int inplace = 0; inplace < 2; inplace++) {
      for (int64_t i = 0; i < n; i++) x[i] = urand() * 3.f;
      x[n / 2] = NAN;
      for (int64_t i = 0; i < CB * B; i++) a[i] = urand(), b[i] = urand();
      float *ref = falloc(n);
      for (int64_t i = 0; i < n; i++) {
        const int64_t c = (i / (hw * B)) % CB, l = i % B;
        const float v = (float)((double)x[i] * a[c * B + l] + b[c * B + l]);
        ref[i] = relu && !(v > 0.f) ? 0.f : v;
      }
      float *out = inplace ? x : y;
      im->affine(x, a, b, out, CB, hw, B, relu, 0, N * CB / 2);
      im->affine(x, a, b, out, CB, hw, B, relu, N * CB / 2, N * CB);
      int ok = 1;
      for (int64_t i = 0; i < n && ok; i++) {
        if (isnan(ref[i]) != isnan(out[i])) ok = 0;
        else if (!isnan(ref[i]) && !(fabsf(out[i] - ref[i]) <= 1e-6f * (fabsf(ref[i]) + 1.f))) ok = 0;
      }
      if (ok)
        passed++;
      else if (++failed <= 20)
        printf("FAIL affine %s: N=%lld CB=%lld hw=%lld relu=%d in place=%d\n", im->name, (long long)N, (long long)CB,
               (long long)hw, relu, inplace);
      free(ref);
    }
  free(x), free(y), free(a), free(b);
}

int main(void) {
  reorder_cases();
  for (size_t i = 0; i < sizeof impls / sizeof *impls; i++) {
    const impl *im = &impls[i];
    if (sn_cpu_isa() < im->need) {
      printf("skip %s (CPU lacks the ISA)\n", im->name);
      continue;
    }
    static const int64_t chans[][2] = {{1, 1}, {3, 5}, {16, 16}, {17, 33}, {40, 24}, {96, 144}, {160, 20}};
    static const int64_t ks[][4] = {/* kh, kw, stride, dilation */
                                    {1, 1, 1, 1}, {1, 1, 2, 1}, {3, 3, 1, 1}, {3, 3, 2, 1}, {5, 5, 1, 1},
                                    {7, 7, 2, 1}, {3, 3, 1, 2}, {1, 3, 1, 1}, {5, 5, 2, 1}};
    static const int64_t hw[][2] = {{1, 1}, {7, 7}, {5, 13}, {17, 9}, {23, 31}};
    int cnt = 0;
    for (size_t a = 0; a < sizeof chans / sizeof *chans; a++)
      for (size_t b = 0; b < sizeof ks / sizeof *ks; b++)
        for (size_t h = 0; h < sizeof hw / sizeof *hw; h++) {
          cnt++;
          int64_t k0 = ks[b][0], k1 = ks[b][1], p = (cnt % 3 == 0) ? 0 : (k0 / 2);
          int64_t N = cnt % 5 == 0 ? 2 : 1;
          int act = cnt % 3;
          bool bias = cnt % 2, res = ks[b][2] == 1 && cnt % 4 < 2 && p == k0 / 2 && k0 == k1;
          if (res && (p * 2 != k0 - 1 || ks[b][3] != 1)) res = false;
          conv_case(im, N, chans[a][0], chans[a][1], hw[h][0], hw[h][1], k0, k1, ks[b][2], ks[b][3], p, false, bias,
                    false, act);
          conv_case(im, N, chans[a][0], chans[a][0], hw[h][0], hw[h][1], k0, k1, ks[b][2], ks[b][3], p, true, !bias,
                    false, act);
          (void)res;
        }
    /* the residual epilogue: stride 1 'same' convolutions (right pad p + 1 adds a column, so use p = k / 2 only
     * where the output width then matches: residual shaped like the output by construction) */
    conv_case(im, 1, 64, 64, 14, 14, 3, 3, 1, 1, 1, false, true, true, SN_NCHWC_ACT_RELU);
    conv_case(im, 2, 20, 36, 9, 11, 1, 1, 1, 1, 0, false, true, true, SN_NCHWC_ACT_NONE);
    conv_case(im, 1, 48, 48, 10, 10, 3, 3, 1, 1, 1, true, true, true, SN_NCHWC_ACT_CLIP);
    /* depthwise rows of several 8-pixel register tiles plus a tail, with the residual */
    conv_case(im, 2, 40, 40, 6, 43, 3, 3, 1, 1, 1, true, true, true, SN_NCHWC_ACT_RELU);
    conv_case(im, 1, 24, 24, 9, 37, 5, 5, 1, 1, 2, true, false, true, SN_NCHWC_ACT_NONE);
    conv_case(im, 1, 40, 40, 11, 30, 7, 7, 1, 1, 3, true, true, true, SN_NCHWC_ACT_NONE); /* ConvNeXt's 7x7 */
    conv_case(im, 2, 20, 20, 8, 19, 7, 7, 1, 1, 0, true, false, false, SN_NCHWC_ACT_RELU);
    /* depthwise rows in tiles of near-equal width (14 = 7 + 7, 17 = 6 + 6 + 5), padded ends in checked
     * tiles, maps where every tile reaches the padding, stride 2 with a bottom-right edge left out */
    conv_case(im, 1, 36, 36, 14, 14, 3, 3, 1, 1, 1, true, true, true, SN_NCHWC_ACT_CLIP);
    conv_case(im, 1, 20, 20, 9, 17, 5, 5, 1, 1, 2, true, true, false, SN_NCHWC_ACT_RELU);
    conv_case(im, 2, 24, 24, 7, 7, 7, 7, 1, 1, 3, true, true, true, SN_NCHWC_ACT_NONE);
    conv_case(im, 1, 32, 32, 28, 28, 3, 3, 2, 1, 1, true, true, false, SN_NCHWC_ACT_CLIP);
    conv_case(im, 1, 40, 40, 12, 12, 3, 3, 2, 1, 0, true, false, false, SN_NCHWC_ACT_NONE);
    conv_case(im, 1, 16, 16, 15, 15, 5, 5, 2, 1, 2, true, true, false, SN_NCHWC_ACT_RELU);
    conv_case(im, 1, 16, 16, 3, 10, 7, 7, 1, 1, 3, true, true, false, SN_NCHWC_ACT_RELU);
    conv_case(im, 1, 520, 72, 7, 7, 3, 3, 1, 1, 1, false, true, true, SN_NCHWC_ACT_RELU); /* several input chunks */
    conv_case(im, 1, 2048, 16, 3, 3, 1, 1, 1, 1, 0, false, true, false, SN_NCHWC_ACT_NONE);
    /* NCHW input (the stem convolutions: RGB in, blocked out) */
    nchw_input = true;
    static const int64_t stems[][6] = {/* C, M, H, k, stride, pad */
                                       {3, 64, 29, 7, 2, 3}, {3, 32, 23, 3, 2, 1}, {1, 5, 9, 3, 1, 1},
                                       {5, 80, 12, 5, 1, 2}, {15, 17, 8, 1, 1, 0}, {3, 24, 17, 4, 4, 0}};
    for (size_t a = 0; a < sizeof stems / sizeof *stems; a++)
      conv_case(im, a % 2 + 1, stems[a][0], stems[a][1], stems[a][2], stems[a][2] + 2, stems[a][3], stems[a][3],
                stems[a][4], 1, stems[a][5], false, a % 2 == 0, false, (int)(a % 3));
    nchw_input = false;
    /* grouped: groups of whole blocks (RegNetY's 16, 32 channels), of parts of a block (ResNeXt's 4 and 8,
     * 2 output channels per input one), straddling blocks (RegNetX's 24, 40 at block 16 and 8), groups
     * past a padded last block, 1x1 (ShuffleNet), strides, dilation, several input chunks, residual */
    static const int64_t grouped[][9] = {/* G, C, M, H, W, k, stride, dilation, pad */
                                         {4, 64, 64, 9, 11, 3, 1, 1, 1},   {2, 64, 64, 7, 7, 3, 2, 1, 1},
                                         {8, 32, 32, 10, 19, 3, 1, 1, 1},  {8, 32, 64, 6, 5, 3, 2, 1, 0},
                                         {6, 48, 48, 7, 9, 3, 1, 1, 1},    {3, 72, 72, 9, 8, 3, 2, 1, 1},
                                         {5, 120, 80, 5, 6, 3, 1, 2, 2},   {3, 36, 60, 8, 8, 1, 1, 1, 0},
                                         {4, 24, 44, 11, 9, 5, 1, 1, 2},   {2, 40, 40, 5, 5, 1, 2, 1, 0},
                                         {16, 1024, 1024, 3, 4, 3, 1, 1, 1}, {7, 7, 14, 6, 6, 3, 1, 1, 1}};
    for (size_t a = 0; a < sizeof grouped / sizeof *grouped; a++) {
      const int64_t *q = grouped[a];
      groups = q[0];
      conv_case(im, a % 3 == 0 ? 2 : 1, q[1], q[2], q[3], q[4], q[5], q[5], q[6], q[7], q[8], false, a % 2 == 0, false,
                (int)(a % 3));
    }
    groups = 4; /* (a 'same' stride-1 layer: the residual fits the output) */
    conv_case(im, 1, 64, 64, 8, 8, 3, 3, 1, 1, 1, false, true, true, SN_NCHWC_ACT_RELU);
    groups = 1;
    affine_case(im, 1, 3, 49);
    affine_case(im, 2, 5, 7);
    affine_case(im, 1, 1, 1);
    static const int64_t pools[][5] = {/* k, s, d, p, pe */
                                       {3, 2, 1, 1, 1}, {2, 2, 1, 0, 0}, {3, 1, 1, 1, 1}, {3, 2, 1, 0, 1},
                                       {3, 3, 2, 1, 2}, {5, 1, 1, 2, 2}, {1, 1, 1, 0, 0}};
    for (size_t a = 0; a < sizeof pools / sizeof *pools; a++)
      for (int m = 0; m < 3; m++) {
        pool_case(im, 1, 17, 13, 13, pools[a][0], pools[a][1], pools[a][2], pools[a][3], pools[a][4], m == 0, m == 2);
        pool_case(im, 2, 64, 8, 9, pools[a][0], pools[a][1], pools[a][2], pools[a][3], pools[a][4], m == 0, m == 2);
      }
  }
  return check_report("test_nchwc");
}
