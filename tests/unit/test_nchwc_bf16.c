/* Unit test: the bf16 NCHWc convolution (kernels/nchwc_bf16.h, `--precision bf16`) against a naive
 * double-precision NCHW convolution on awkward shapes: channels not a multiple of 16 (1, 3, 17, 40,
 * 70), 1x1 to 7x7 kernels, strides, dilations, asymmetric pads, widths past the widest register
 * tile (14) and of 1, several input chunks; with the bias / residual / Relu / Clip epilogue, work
 * items run in two calls, on the input converted as it is, with its padding columns stored, and
 * gathered per output pixel (sn_nchwc_im2col_bf16: the flat 1x1 convolution of
 * sn_nchwc_im2col_geom on the same weights); and an NCHW input (in_block 1, sn_nchw_conv_bf16: pairs
 * along the kernel row, dilation 1). Bound: each operand rounded to bf16 (8 significant bits), so
 * |error| <= 2^-8 * sum |x||w|, doubled for the hardware's own product rounding, plus float32
 * summation; and most cases must miss float32 accuracy (else no bf16 ran). Padded output channels
 * must be exactly 0. Also the converters: sn_nchwc_to_bf16 rounds to nearest even,
 * sn_nchwc_weight_bf16 pairs input channels 2i (low) / 2i+1 (high). Skips without AVX512-BF16. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/nchwc.h"
#include "kernels/nchwc_bf16.h"
#include "runtime/cpu.h"
#define CHECK_SEED 0x5851F42D4C957F2Dull
#include "check.h"

static int loose, cases;

/* the kernel under test: 0 the AVX512-BF16 one, 1 the AMX one (where the CPU has AMX-BF16), 2 the AMX
 * one with its tile instructions emulated (tests/unit/amx_emu: any CPU with AVX512-BF16) */
static int kern;
void sn_nchwc_conv_bf16_amx_emu(const sn_nchwc_conv_geom *g, const uint16_t *x, const uint32_t *w, float *y, int64_t t0,
                                int64_t t1, bool padded);
typedef void (*conv_fn)(const sn_nchwc_conv_geom *, const uint16_t *, const uint32_t *, float *, int64_t, int64_t, bool);

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe) {
  int64_t ek = (k - 1) * d + 1;
  return in + pb + pe < ek ? 0 : (in + pb + pe - ek) / s + 1;
}

static void conv_case(int64_t N, int64_t C, int64_t M, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t s,
                      int64_t d, int64_t p, bool bias, bool res, int act, int mode) {
  const bool padded = mode == 1, im2col = mode == 2, nchw = mode == 3;
  if (nchw && d != 1) return;
  /* (the AMX kernel reads blocked inputs with their padding columns stored, or gathered per pixel) */
  if (kern && (nchw || mode == 0 || kh * kw > SN_NCHWC_AMX_MAX_TAPS)) return;
  const int64_t B = 16, MB = (M + B - 1) / B, CB = (C + B - 1) / B;
  const int64_t OH = out_size(H, kh, s, d, p, p), OW = out_size(W, kw, s, d, p + 1, p); /* right pad p */
  if (OH <= 0 || OW <= 0) return;
  const int64_t K = kh * kw, BI = nchw ? 1 : 16, CBI = nchw ? C : CB;
  float *x = xmalloc(sizeof(float) * (size_t)(N * C * H * W)), *w = xmalloc(sizeof(float) * (size_t)(M * C * K));
  float *b = xmalloc(sizeof(float) * (size_t)(MB * B)), *r = xmalloc(sizeof(float) * (size_t)(N * M * OH * OW));
  for (int64_t i = 0; i < N * C * H * W; i++) x[i] = urand();
  for (int64_t i = 0; i < M * C * K; i++) w[i] = urand();
  for (int64_t i = 0; i < MB * B; i++) b[i] = i < M ? urand() : 0.f;
  for (int64_t i = 0; i < N * M * OH * OW; i++) r[i] = urand();
  const int64_t xn = N * CB * H * W * B, yn = N * MB * OH * OW * B, wn = sn_nchwc_weight_size(M, C, kh, kw, B, BI, false);
  float *xf = xmalloc(sizeof(float) * (size_t)xn), *rb = xmalloc(sizeof(float) * (size_t)yn);
  float *wf = xmalloc(sizeof(float) * (size_t)wn), *yb = xmalloc(sizeof(float) * (size_t)yn);
  float *y = xmalloc(sizeof(float) * (size_t)(N * M * OH * OW));
  const int64_t pwid = sn_nchwc_bf16_padded_width(&(sn_nchwc_conv_geom){.iw = W, .ow = OW, .kw = kw, .sw = s, .dw = d, .pw = p});
  const int64_t xh_px = im2col ? K * OH * OW : H * pwid; /* bf16 pixels per input block */
  const int64_t nwid = sn_nchw_bf16_padded_width(&(sn_nchwc_conv_geom){.iw = W, .ow = OW, .kw = kw, .sw = s, .dw = d, .pw = p});
  /* (zeros past the end: the AMX kernel's last tiles read them, sn_nchwc_bf16_amx_slack) */
  const size_t xh_n = (size_t)(nchw ? N * C * H * nwid : N * CB * xh_px * B), slack = (size_t)((32 * s + 1) * 16);
  uint16_t *xh = xmalloc(sizeof(uint16_t) * (xh_n + slack));
  memset(xh + xh_n, 0, sizeof(uint16_t) * slack);
  uint32_t *wh = xmalloc(sizeof(uint32_t) * (size_t)(wn / 2 + MB * C * kh * 16)); /* (NCHW: odd kernels' pairs) */
  sn_nchwc_reorder_in_f32(x, xf, C, H * W, B, 0, N * CB);
  sn_nchwc_reorder_in_f32(r, rb, M, OH * OW, B, 0, N * MB);
  sn_nchwc_pack_weight(w, M, C, kh, kw, B, BI, false, wf);
  sn_nchwc_conv_geom g = {.block = B, .in_block = BI, .n = N, .cbi = CBI, .cbo = MB, .ih = H, .iw = W, .oh = OH,
                          .ow = OW, .kh = kh, .kw = kw, .sh = s, .sw = s, .dh = d, .dw = d, .ph = p, .pw = p,
                          .depthwise = false, .bias = bias ? b : NULL, .res = res ? rb : NULL, .act = act,
                          .lo = -0.5f, .hi = 0.75f};
  /* the input converted as it is, or with its padding columns stored (the runtime's way), in two calls */
  sn_nchwc_conv_geom gc = g; /* the geometry the kernel runs */
  if (nchw) {
    sn_nchw_weight_bf16(&g, wf, wh);
    sn_nchw_to_bf16_padded(&g, x, xh, 0, N * C * H / 2);
    sn_nchw_to_bf16_padded(&g, x, xh, N * C * H / 2, N * C * H);
  } else {
    sn_nchwc_weight_bf16(wf, wn / 256, wh);
  }
  if (nchw) {
  } else if (im2col) {
    const int64_t rows = N * CB * K * OH;
    sn_nchwc_im2col_bf16(&g, xf, xh, 0, rows / 2);
    sn_nchwc_im2col_bf16(&g, xf, xh, rows / 2, rows);
    gc = sn_nchwc_im2col_geom(&g);
  } else if (padded) {
    sn_nchwc_to_bf16_padded(&g, xf, xh, 0, N * CB * H / 2);
    sn_nchwc_to_bf16_padded(&g, xf, xh, N * CB * H / 2, N * CB * H);
  } else {
    sn_nchwc_to_bf16(xf, xh, xn);
  }
  for (int64_t i = 0; i < yn; i++) yb[i] = NAN;
  int64_t rpi, bpi, items = sn_nchwc_conv_items(&gc, &rpi, &bpi);
  if (nchw) {
    sn_nchw_conv_bf16(&gc, xh, wh, yb, 0, items / 3);
    sn_nchw_conv_bf16(&gc, xh, wh, yb, items / 3, items);
  } else {
    conv_fn f = kern == 1 ? sn_nchwc_conv_bf16_amx : kern == 2 ? sn_nchwc_conv_bf16_amx_emu : sn_nchwc_conv_bf16;
    f(&gc, xh, wh, yb, 0, items / 3, padded);
    f(&gc, xh, wh, yb, items / 3, items, padded);
  }
  sn_nchwc_reorder_out_f32(yb, y, M, OH * OW, B, 0, N * MB);
  bool ok = true, exact = true;
  for (int64_t n = 0; n < N && ok; n++) /* padded channels exactly 0 */
    for (int64_t m = M; m < MB * B && ok; m++)
      for (int64_t q = 0; q < OH * OW && ok; q++)
        if (yb[((n * MB + m / B) * OH * OW + q) * B + m % B] != 0.f) ok = false;
  double worst = 0;
  for (int64_t n = 0; n < N; n++)
    for (int64_t m = 0; m < M; m++)
      for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
          double acc = bias ? b[m] : 0, mag = fabs(acc), prod = 0;
          for (int64_t ci = 0; ci < C; ci++)
            for (int64_t ky = 0; ky < kh; ky++)
              for (int64_t kx = 0; kx < kw; kx++) {
                int64_t iy = oy * s - p + ky * d, ix = ox * s - p + kx * d;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                double t = (double)x[((n * C + ci) * H + iy) * W + ix] * (double)w[((m * C + ci) * kh + ky) * kw + kx];
                acc += t, prod += fabs(t);
              }
          mag += prod;
          int64_t yi = ((n * M + m) * OH + oy) * OW + ox;
          if (res) acc += r[yi], mag += fabs(r[yi]);
          if (act == SN_NCHWC_ACT_RELU) acc = acc > 0 ? acc : 0;
          if (act == SN_NCHWC_ACT_CLIP) acc = acc < -0.5 ? -0.5 : acc > 0.75 ? 0.75 : acc;
          double err = fabs((double)y[yi] - acc);
          if (!(err <= 2.0 / 256 * prod + 1.2e-7 * (double)(C * K + 4) * mag + 1e-6)) ok = false;
          if (err > 1e-5 * mag + 1e-6) exact = false;
          if (prod > 0 && err / prod > worst) worst = err / prod;
        }
  char what[240];
  snprintf(what, sizeof what, "bf16 conv%s%s N=%lld C=%lld M=%lld %lldx%lld k=%lldx%lld s=%lld d=%lld p=%lld bias=%d res=%d act=%d (worst err / sum|xw| %.3g)",
           kern == 1 ? " AMX" : kern == 2 ? " AMX (emulated)" : "", padded ? " (padded input)" : im2col ? " (im2col)" : nchw ? " (NCHW input)" : "", (long long)N, (long long)C, (long long)M, (long long)H, (long long)W, (long long)kh, (long long)kw,
           (long long)s, (long long)d, (long long)p, bias, res, act, worst);
  check(ok, what);
  cases++;
  loose += !exact;
  free(x), free(w), free(b), free(r), free(xf), free(rb), free(wf), free(yb), free(y), free(xh), free(wh);
}

static void all_cases(void);

static void converters(void) {
  /* round to nearest even at the bf16 boundary: 1 + 2^-8 (a tie) -> 1, 1 + 3 * 2^-8 -> 1 + 2^-6 */
  float v[16];
  for (int i = 0; i < 16; i++) v[i] = (float)i;
  v[1] = 1.0f + 1.0f / 256, v[2] = 1.0f + 3.0f / 256, v[3] = -2.5f;
  uint16_t h[16];
  sn_nchwc_to_bf16(v, h, 16);
  check(h[0] == 0 && h[1] == 0x3f80 && h[2] == 0x3f82 && h[3] == 0xc020 && h[4] == 0x4080, "sn_nchwc_to_bf16 rounding");
  float wf[256];
  for (int i = 0; i < 256; i++) wf[i] = (float)(i / 16 + 1); /* input channel i / 16 + 1 in every lane */
  uint32_t wh[128];
  sn_nchwc_weight_bf16(wf, 1, wh);
  bool ok = true;
  for (int l = 0; l < 8; l++)
    for (int j = 0; j < 16; j++) {
      uint16_t lo = wh[l * 16 + j] & 0xffff, hi = wh[l * 16 + j] >> 16;
      uint32_t lb = (uint32_t)lo << 16, hb = (uint32_t)hi << 16;
      float lf, hf;
      memcpy(&lf, &lb, 4), memcpy(&hf, &hb, 4);
      ok &= lf == (float)(2 * l + 1) && hf == (float)(2 * l + 2);
    }
  check(ok, "sn_nchwc_weight_bf16 pairs input channels 2i (low) and 2i+1 (high)");
}

int main(void) {
  const sn_cpu *cpu = sn_cpu_info();
  if (!cpu->avx512_bf16 || !cpu->avx512f || !cpu->avx512bw || !cpu->avx512vl) {
    printf("test_nchwc_bf16: no AVX512-BF16 here: skipped\n");
    return 0;
  }
  converters();
  /* the vector kernel where the ISA level allows it, the AMX one where the CPU has it, and the AMX
   * one emulated always (the converters above run at any cap: they are called directly) */
  for (kern = 0; kern < 3; kern++) {
    if ((kern == 0 && !sn_cpu_has_bf16()) || (kern == 1 && !sn_cpu_has_amx_bf16())) continue;
    int l0 = loose, c0 = cases;
    all_cases();
    printf("test_nchwc_bf16: %s kernel: %d cases\n", kern == 0 ? "AVX512-BF16" : kern == 1 ? "AMX" : "emulated AMX",
           cases - c0);
    char what[80];
    snprintf(what, sizeof what, "bf16 differs from float32 in %d of %d cases", loose - l0, cases - c0);
    check(loose - l0 > (cases - c0) / 2, what);
  }
  return check_report("test_nchwc_bf16");
}

static void all_cases(void) {
  /* N, C, M, H, W, kh, kw, s, d, p */
  const int64_t cs[][10] = {{1, 16, 16, 5, 5, 3, 3, 1, 1, 1},   {1, 3, 5, 7, 9, 1, 1, 1, 1, 0},
                            {2, 17, 33, 6, 15, 3, 3, 1, 1, 1},  {1, 40, 70, 9, 31, 3, 3, 2, 1, 1},
                            {1, 70, 20, 4, 4, 1, 1, 1, 1, 0},   {1, 32, 64, 13, 1, 3, 3, 1, 1, 1},
                            {1, 24, 17, 11, 29, 7, 7, 2, 1, 3}, {1, 33, 48, 9, 17, 3, 3, 1, 2, 2},
                            {1, 1, 1, 1, 1, 1, 1, 1, 1, 0},     {1, 64, 64, 14, 14, 1, 1, 1, 1, 0},
                            {1, 96, 100, 8, 8, 5, 5, 1, 1, 2},  {3, 20, 40, 3, 30, 1, 3, 1, 1, 1},
                            {2, 48, 150, 7, 7, 1, 1, 1, 1, 0}, /* 1x1 on 7x7: tiles across row ends */
                            {1, 3, 64, 30, 29, 7, 7, 2, 1, 3},  {1, 3, 40, 16, 17, 4, 4, 4, 1, 0}}; /* stems */
  for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
    const int64_t *q = cs[i];
    for (int e = 0; e < 12; e++)
      conv_case(q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], e % 3 != 1, e % 3 == 2 || (i & 1),
                e % 3 == 0 ? SN_NCHWC_ACT_NONE : e % 3 == 1 ? SN_NCHWC_ACT_RELU : SN_NCHWC_ACT_CLIP, e / 3);
  }
}
