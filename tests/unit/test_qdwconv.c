/* Unit test: the INT8 depthwise convolution (kernels/qdwconv.h). The reference against an int64
 * loop over the definition (int32 output, exact), then the AVX-512 kernel against the reference bit
 * for bit, on awkward shapes (channels 1, 3, 17, 100; kernels 1, 3, 5, 7 and 2x3; strides 1, 2, 3;
 * dilation 2; pads 0..3, asymmetric; widths 1..113), u8 and s8 activations, depth multipliers 1 and
 * 2, every epilogue (int32, float with bias and Relu / Clip, u8 / s8 requantization with per-tensor
 * and per-channel scales, with and without bias), extreme values (all 255 / -128, weights +-255),
 * and channel ranges split as the op splits them over threads. Both SIMD kernels (AVX-512, AVX512-VNNI)
 * are compared. Also through the dispatcher at each
 * ISA cap (scalar, avx2, avx512). The channel-minor kernels also with their taps made once
 * (sn_qdwconv_cm_pack, as at load: checked against its definition), over whole ranges and ranges split
 * on and off the 16-channel grid. The quad kernel (AVX512-VBMI + VNNI, s8 taps) likewise, and its
 * taps made once against their definition. Skips the AVX-512 half cleanly when the CPU lacks it. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/qdwconv.h"
#include "runtime/cpu.h"
#include "check.h"

typedef struct shape {
  int64_t C, mult, H, W, KH, KW, s, d, ph, pw, pe; /* pe: trailing pad (both axes); d < 0: dilation -d in height only */
} shape;

typedef void (*qdw_fn)(const sn_qdw *, const uint8_t *, void *, int64_t, int64_t, void *);

/* A channel-blocked kernel f against the reference output y0 (yb bytes): over all M channels, split at
 * a block boundary off the 16-channel grid, and (M > 16) on the grid, ending mid-block and past it */
static bool blocked_ranges_match(qdw_fn f, const sn_qdw *p, const uint8_t *x, const uint8_t *y0, uint8_t *y1,
                                 size_t yb, int64_t M, void *ws) {
  memset(y1, 0xCD, yb);
  f(p, x, y1, 0, M, ws);
  bool ok = !memcmp(y0, y1, yb);
  memset(y1, 0xCD, yb);
  int64_t cm = M > 40 ? 16 + M / 5 : M / 2;
  f(p, x, y1, cm, M, ws);
  f(p, x, y1, 0, cm, ws);
  ok = ok && !memcmp(y0, y1, yb);
  if (M > 16) {
    memset(y1, 0xCD, yb);
    int64_t g = (M / 2) & ~(int64_t)15;
    f(p, x, y1, g, M, ws);
    f(p, x, y1, 0, g + 3 < M ? g + 3 : g, ws);
    if (g + 3 < M) f(p, x, y1, g, g + 3, ws);
    ok = ok && !memcmp(y0, y1, yb);
  }
  return ok;
}

/* mode: 0 random, 1 extremes */
static void run_case(const shape *sh, bool x_signed, int out, bool per_ch, bool bias, int mode) {
  sn_qdw p;
  memset(&p, 0, sizeof p);
  p.H = sh->H, p.W = sh->W, p.KH = sh->KH, p.KW = sh->KW, p.sh = sh->s, p.sw = sh->s, p.dh = sh->d < 0 ? -sh->d : sh->d, p.dw = sh->d < 0 ? 1 : sh->d;
  p.ph = sh->ph, p.pw = sh->pw, p.mult = sh->mult;
  p.OH = (p.H + p.ph + sh->pe - ((p.KH - 1) * p.dh + 1)) / p.sh + 1;
  p.OW = (p.W + p.pw + sh->pe - ((p.KW - 1) * p.dw + 1)) / p.sw + 1;
  if (p.OH <= 0 || p.OW <= 0) return;
  int64_t Cin = sh->C, M = sh->C * sh->mult, K = p.KH * p.KW, plane = p.OH * p.OW;
  p.x_signed = x_signed;
  p.zx = mode ? (x_signed ? 127 : 0) : (x_signed ? (int32_t)(next() % 256) - 128 : (int32_t)(next() % 256));
  uint8_t *x = sn_malloc((size_t)(Cin * p.H * p.W));
  int32_t *w = sn_malloc(sizeof(int32_t) * (size_t)(M * K)), *b = sn_malloc(sizeof(int32_t) * (size_t)M);
  float *sc = sn_malloc(sizeof(float) * (size_t)M), *fb = sn_malloc(sizeof(float) * (size_t)M);
  for (int64_t i = 0; i < Cin * p.H * p.W; i++) x[i] = mode ? (x_signed ? 0x80 : 0xff) : (uint8_t)next();
  /* wide weights (w - zw up to +-255: the int16 pair path) or s8 ones (the u8 x s8 quad path) */
  bool narrow = (sh->C + sh->H + (int64_t)x_signed + out) & 1;
  for (int64_t i = 0; i < M * K; i++)
    w[i] = mode ? (narrow ? (i & 1 ? 127 : -128) : (i & 1 ? 255 : -255))
                : narrow ? (int32_t)(next() % 256) - 128 : (int32_t)(next() % 511) - 255;
  for (int64_t i = 0; i < M; i++) {
    b[i] = (int32_t)(next() % 40001) - 20000;
    sc[i] = (float)(next() % 1000 + 1) * 2e-5f;
    fb[i] = (float)((int)(next() % 200) - 100) * 0.01f;
  }
  if (mode && M > 2) sc[0] = INFINITY, sc[1] = 1e30f, sc[2] = -3e9f; /* saturation, int32 overflow, NaN (inf * 0) */
  p.w = w;
  p.w_s8 = true;
  for (int64_t i = 0; i < M * K; i++) p.w_s8 &= w[i] >= -128 && w[i] <= 127;
  p.e = (sn_qgemm_epi){out, bias ? b : NULL, NULL, NULL, NULL, sc, per_ch ? 1 : 0, bias ? fb : NULL, 1, 0, 0, 0};
  if (out == SN_QOUT_I32 || out == SN_QOUT_F32) p.e.lo = -INFINITY, p.e.hi = INFINITY;
  if (out == SN_QOUT_F32 && (M & 1)) p.e.lo = 0; /* Relu */
  if (out == SN_QOUT_F32 && (K & 1)) p.e.hi = 0.75f; /* Clip */
  if (out == SN_QOUT_F32) p.e.row_off = NULL;        /* float bias instead */
  if (out == SN_QOUT_U8) p.e.zy = 7, p.e.lo = (M & 1) ? 7 : 0, p.e.hi = 255; /* Relu as the lower clamp */
  if (out == SN_QOUT_S8) p.e.zy = -3, p.e.lo = -128, p.e.hi = 127;
  size_t es = out == SN_QOUT_I32 || out == SN_QOUT_F32 ? 4 : 1, yb = es * (size_t)(M * plane);
  uint8_t *y0 = sn_malloc(yb), *y1 = sn_malloc(yb);
  void *ws = sn_aligned_alloc(sn_qdwconv_ws_size(&p));
  char what[256];
  snprintf(what, sizeof what, "C=%lld x%lld %lldx%lld k%lldx%lld s%lld d%lld p%lld,%lld,%lld %s out=%d per_ch=%d bias=%d mode=%d w_s8=%d",
           (long long)sh->C, (long long)sh->mult, (long long)p.H, (long long)p.W, (long long)p.KH, (long long)p.KW,
           (long long)sh->s, (long long)sh->d, (long long)sh->ph, (long long)sh->pw, (long long)sh->pe,
           x_signed ? "s8" : "u8", out, per_ch, bias, mode, p.w_s8);
  memset(y0, 0xAB, yb);
  sn_qdwconv_ref(&p, x, y0, 0, M, ws);
  if (out == SN_QOUT_I32) { /* the reference against the definition */
    bool ok = true;
    for (int64_t c = 0; c < M && ok; c++)
      for (int64_t oh = 0; oh < p.OH && ok; oh++)
        for (int64_t ow = 0; ow < p.OW && ok; ow++) {
          int64_t s = bias ? b[c] : 0;
          for (int64_t kh = 0; kh < p.KH; kh++)
            for (int64_t kw = 0; kw < p.KW; kw++) {
              int64_t ih = oh * p.sh - p.ph + kh * p.dh, iw = ow * p.sw - p.pw + kw * p.dw;
              if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
              uint8_t v = x[((c / p.mult) * p.H + ih) * p.W + iw];
              s += ((x_signed ? (int64_t)(int8_t)v : (int64_t)v) - p.zx) * w[c * K + kh * p.KW + kw];
            }
          ok = ((int32_t *)y0)[c * plane + oh * p.OW + ow] == (int32_t)s;
        }
    char w2[400];
    snprintf(w2, sizeof w2, "%s (ref vs definition)", what);
    check(ok, w2);
  }
  if (sn_cpu_info()->avx512f && sn_cpu_info()->avx512bw && sn_cpu_isa() >= SN_ISA_AVX512) {
    memset(y1, 0xCD, yb);
    sn_qdwconv_avx512(&p, x, y1, 0, M, ws);
    bool ok = !memcmp(y0, y1, yb);
    memset(y1, 0xCD, yb); /* split channel ranges, as the op gives them to threads */
    int64_t cm = M / 2;
    sn_qdwconv_avx512(&p, x, y1, cm, M, ws);
    sn_qdwconv_avx512(&p, x, y1, 0, cm, ws);
    ok = ok && !memcmp(y0, y1, yb);
    char w2[400];
    snprintf(w2, sizeof w2, "%s (avx512 vs ref)", what);
    check(ok, w2);
  }
  /* the taps in the channel-minor layout, made once (as at load) against their definition */
  int32_t *wcm = sn_aligned_alloc(sn_qdwconv_cm_pack_size(M, p.KH, p.KW));
  sn_qdwconv_cm_pack(w, M, p.KH, p.KW, wcm);
  {
    int64_t KP = (p.KW + 1) / 2, np = p.KH * KP;
    bool ok = true;
    for (int64_t c = 0; c < (M + 15) / 16 * 16; c++)
      for (int64_t kh = 0; kh < p.KH; kh++)
        for (int64_t kp = 0; kp < KP; kp++) {
          int32_t lo = c < M ? w[c * K + kh * p.KW + 2 * kp] : 0;
          int32_t hi = c < M && 2 * kp + 1 < p.KW ? w[c * K + kh * p.KW + 2 * kp + 1] : 0;
          int32_t v = wcm[((c / 16) * np + kh * KP + kp) * 16 + c % 16];
          ok = ok && (int16_t)(v & 0xffff) == lo && (int16_t)((uint32_t)v >> 16) == hi;
        }
    char w2[400];
    snprintf(w2, sizeof w2, "%s (channel-minor taps vs definition)", what);
    check(ok, w2);
  }
  if (sn_cpu_info()->avx512f && sn_cpu_info()->avx512bw && sn_cpu_isa() >= SN_ISA_AVX512) {
    /* the channel-minor kernels on every shape (the dispatchers use them on some), with the taps
     * gathered per block and made once (wcm: used for blocks on the 16-channel grid) */
    for (int v = 0; v < 4; v++) {
      if (v % 2 == 1 && !sn_cpu_has_vnni()) continue;
      sn_qdw pv = p;
      if (v >= 2) pv.wcm = wcm, pv.wcm_ch = M;
      bool ok = blocked_ranges_match(v % 2 ? sn_qdwconv_cm_avx512vnni : sn_qdwconv_cm_avx512, &pv, x, y0, y1, yb, M, ws);
      char w2[400];
      snprintf(w2, sizeof w2, "%s (channel-minor %s%s vs ref)", what, v % 2 ? "avx512vnni" : "avx512",
               v >= 2 ? " taps made once" : "");
      check(ok, w2);
    }
  }
  /* the quad kernel (s8 taps, width dilation 1) on every such shape, taps packed per block and made
   * once (checked against their definition), over whole ranges and ranges split on and off the grid */
  int32_t *wq = sn_aligned_alloc(sn_qdwconv_cmq_pack_size(M, p.KH, p.KW));
  sn_qdwconv_cmq_pack(w, M, p.KH, p.KW, wq);
  if (p.w_s8) {
    int64_t G = (p.KW + 3) / 4, nq = p.KH * G;
    bool ok = true;
    for (int64_t c = 0; c < (M + 15) / 16 * 16; c++) {
      const int32_t *blk = wq + (c / 16) * (nq + 1) * 16;
      int32_t sum = 0;
      for (int64_t kh = 0; kh < p.KH; kh++)
        for (int64_t kw = 0; kw < 4 * G; kw++) {
          int32_t want = c < M && kw < p.KW ? w[c * K + kh * p.KW + kw] : 0;
          sum += want;
          int8_t got = (int8_t)((uint32_t)blk[(kh * G + kw / 4) * 16 + c % 16] >> (8 * (kw % 4)));
          ok = ok && got == want;
        }
      ok = ok && blk[nq * 16 + c % 16] == sum;
    }
    char w2[400];
    snprintf(w2, sizeof w2, "%s (quad taps vs definition)", what);
    check(ok, w2);
  }
  if (p.w_s8 && p.dw == 1 && sn_cpu_has_vnni() && sn_cpu_has_vbmi()) {
    for (int once = 0; once < 2; once++) {
      sn_qdw pv = p;
      if (once) pv.wq = wq, pv.wq_ch = M;
      bool ok = blocked_ranges_match(sn_qdwconv_cmq_avx512vbmi, &pv, x, y0, y1, yb, M, ws);
      char w2[400];
      snprintf(w2, sizeof w2, "%s (quad avx512vbmi%s vs ref)", what, once ? " taps made once" : "");
      check(ok, w2);
    }
  }
  if (sn_cpu_has_vnni()) {
    memset(y1, 0xCD, yb);
    sn_qdwconv_avx512vnni(&p, x, y1, 0, M, ws);
    bool ok = !memcmp(y0, y1, yb);
    memset(y1, 0xCD, yb);
    int64_t cm = M / 3;
    sn_qdwconv_avx512vnni(&p, x, y1, cm, M, ws);
    sn_qdwconv_avx512vnni(&p, x, y1, 0, cm, ws);
    ok = ok && !memcmp(y0, y1, yb);
    char w2[400];
    snprintf(w2, sizeof w2, "%s (avx512vnni vs ref)", what);
    check(ok, w2);
  }
  /* the dispatcher at every ISA cap, taps gathered per call and made once */
  for (int once = 0; once < 2; once++)
    for (int cap = SN_ISA_SCALAR; cap <= SN_ISA_AVX512; cap++) {
      sn_qdw pv = p;
      if (once) pv.wcm = wcm, pv.wcm_ch = M, pv.wq = p.w_s8 ? wq : NULL, pv.wq_ch = M;
      int prev = sn_cpu_set_thread_cap(cap);
      memset(y1, 0xEF, yb);
      sn_qdwconv(&pv, x, y1, 0, M, ws);
      sn_cpu_set_thread_cap(prev);
      char w2[400];
      snprintf(w2, sizeof w2, "%s (dispatch at cap %d%s vs ref)", what, cap, once ? ", taps made once" : "");
      check(!memcmp(y0, y1, yb), w2);
    }
  sn_aligned_free(wcm);
  sn_aligned_free(wq);
  sn_free(x), sn_free(w), sn_free(b), sn_free(sc), sn_free(fb), sn_free(y0), sn_free(y1), sn_aligned_free(ws);
}

int main(void) {
  const shape shapes[] = {
      /* C, mult, H, W, KH, KW, s, d, ph, pw, pe */
      {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},     {1, 1, 5, 5, 3, 3, 1, 1, 1, 1, 1},
      {3, 1, 7, 9, 3, 3, 2, 1, 1, 1, 1},     {17, 1, 13, 17, 3, 3, 1, 1, 1, 1, 1},
      {17, 1, 13, 17, 3, 3, 2, 1, 0, 1, 0},  {100, 1, 7, 7, 3, 3, 1, 1, 1, 1, 1},
      {16, 1, 14, 14, 5, 5, 2, 1, 2, 2, 2},  {5, 1, 29, 31, 5, 5, 1, 1, 2, 2, 2},
      {3, 1, 20, 19, 3, 3, 1, 2, 2, 2, 2},   {4, 2, 9, 11, 3, 3, 1, 1, 1, 1, 1},
      {3, 2, 10, 10, 5, 5, 3, 1, 1, 2, 0},   {2, 1, 6, 113, 7, 7, 1, 1, 3, 3, 3},
      {3, 1, 1, 70, 1, 3, 1, 1, 0, 1, 1},    {6, 1, 8, 67, 2, 3, 2, 1, 0, 0, 1},
      {2, 1, 33, 130, 3, 3, 2, 1, 1, 1, 1},  {1, 1, 12, 12, 3, 3, 1, 3, 3, 3, 3},
      {7, 1, 5, 5, 3, 3, 1, 1, 0, 0, 0},     {4, 1, 11, 40, 4, 4, 2, 3, 2, 5, 4},
      {3, 1, 9, 50, 3, 5, 3, 2, 1, 2, 1},    {5, 1, 9, 45, 5, 5, 4, 1, 2, 2, 2},     {32, 1, 112, 112, 3, 3, 1, 1, 1, 1, 1},
      /* MobileNetV2 / EfficientNet-like: many channels on small planes, odd planes */
      {960, 1, 7, 7, 3, 3, 1, 1, 1, 1, 1},   {100, 1, 13, 9, 5, 5, 2, 1, 2, 2, 2},   {33, 1, 14, 14, 5, 5, 1, 1, 2, 2, 2},
      {17, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1},    {40, 1, 28, 28, 3, 3, 2, 1, 0, 0, 1},   {19, 3, 7, 7, 3, 3, 1, 1, 1, 1, 1},
      /* the quad kernel's groups of four columns: 4, 8 and 9 wide; height-only dilation */
      {24, 1, 15, 20, 3, 3, 1, -2, 2, 1, 1}, {18, 1, 9, 30, 2, 8, 1, 1, 0, 3, 4},    {20, 1, 12, 12, 1, 9, 2, -3, 0, 4, 4},
      {16, 1, 10, 19, 4, 4, 3, 1, 1, 2, 0},
  };
  int i = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (int out = 0; out < 4; out++)
      for (int sgn = 0; sgn < 2; sgn++, i++) {
        run_case(&shapes[s], sgn, out, (i & 1) == 0, (i & 2) == 0, 0);
        if (s % 4 == 1) run_case(&shapes[s], sgn, out, true, true, 1);
      }
  if (!(sn_cpu_info()->avx512f && sn_cpu_info()->avx512bw) || sn_cpu_isa() < SN_ISA_AVX512)
    printf("test_qdwconv: no AVX-512 here (or capped): the AVX-512 kernel was not compared\n");
  if (!sn_cpu_has_vnni()) printf("test_qdwconv: no AVX512-VNNI here (or capped): the VNNI kernel was not compared\n");
  if (!(sn_cpu_has_vnni() && sn_cpu_has_vbmi()))
    printf("test_qdwconv: no AVX512-VBMI and VNNI here (or capped): the quad kernel was not compared\n");
  return check_report("test_qdwconv");
}
