/* The group-1 NCHWc convolution in bf16 (see kernels/nchwc_bf16.h), AVX512-BF16, block 16: the
 * register tiles of the float32 kernel (kernels/x86/nchwc_simd.h: NB output blocks x NT pixels of
 * one row, 4 x 6, 2 x 12, 1 x 14), but each step takes a pair of input channels: NB weight vectors
 * of 16 output channels x 2 input channels, and per pixel the pair broadcast into NB vdpbf16ps.
 * Input channels go in chunks whose weights stay in L2 across an item's rows; partial sums go
 * through y between chunks, the epilogue (bias, residual, ReLU / Clip) is the float32 kernel's.
 * Compiled with -mavx512bf16 (CMakeLists.txt glob *_avx512bf16.c). */
#include <immintrin.h>
#include <string.h>

#include "kernels/nchwc_bf16.h"

#define AI static inline __attribute__((always_inline))
#define V 16
#define NB_MAX 4

const char sn_nchwc_conv_bf16_name[] = "nchwc_conv_bf16_avx512bf16";
const char sn_nchwc_conv_bf16_amx_name[] = "nchwc_conv_bf16_amx"; /* (x86/nchwc_bf16_amx.c) */

/* acc += pairs of a . b (asm: see sgemm_avx512bf16.c) */
AI __m512 dpbf16(__m512 acc, __m512i a, __m512i b) {
  __asm__("vdpbf16ps %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
  return acc;
}

/* acc += pairs of w . the pair at p broadcast from memory (the embedded broadcast spends no
 * register on it) */
AI __m512 dpbf16_bcast(__m512 acc, __m512i w, const uint16_t *p) {
  __asm__("vdpbf16ps %[x]%{1to16%}, %[w], %[acc]" : [acc] "+v"(acc) : [w] "v"(w), [x] "m"(*(const int32_t *)(const void *)p));
  return acc;
}

AI __m256i cvt16(__m512 v) {
  __m256bh h = _mm512_cvtneps_pbh(v);
  __m256i r;
  memcpy(&r, &h, sizeof r);
  return r;
}

void sn_nchwc_to_bf16(const float *x, uint16_t *y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) _mm256_storeu_si256((__m256i *)(void *)(y + i), cvt16(_mm512_loadu_ps(x + i)));
}

int64_t sn_nchwc_bf16_padded_width(const sn_nchwc_conv_geom *g) {
  /* the last tap of the last output column, past the input's right edge */
  int64_t last = (g->ow - 1) * g->sw - g->pw + (g->kw - 1) * g->dw, pe = last - (g->iw - 1);
  return g->pw + g->iw + (pe > 0 ? pe : 0);
}

void sn_nchwc_to_bf16_padded(const sn_nchwc_conv_geom *g, const float *x, uint16_t *y, int64_t t0, int64_t t1) {
  const int64_t pw = g->pw, W = sn_nchwc_bf16_padded_width(g);
  for (int64_t t = t0; t < t1; t++) { /* t = (image, block, row) */
    uint16_t *dst = y + t * W * 16;
    memset(dst, 0, sizeof(uint16_t) * 16 * (size_t)pw);
    sn_nchwc_to_bf16(x + t * g->iw * 16, dst + pw * 16, g->iw * 16);
    memset(dst + (pw + g->iw) * 16, 0, sizeof(uint16_t) * 16 * (size_t)(W - pw - g->iw));
  }
}

void sn_nchwc_im2col_bf16(const sn_nchwc_conv_geom *g, const float *x, uint16_t *y, int64_t t0, int64_t t1) {
  const int64_t K = g->kh * g->kw, ow = g->ow;
  for (int64_t t = t0; t < t1; t++) { /* t = ((image * cbi + block) * K + tap) * oh + output row */
    const int64_t oy = t % g->oh, k = (t / g->oh) % K, nb = t / (g->oh * K); /* nb = image * cbi + block */
    const int64_t ky = k / g->kw, kx = k % g->kw, iy = oy * g->sh - g->ph + ky * g->dh;
    uint16_t *dst = y + t * ow * V;
    if (iy < 0 || iy >= g->ih) {
      memset(dst, 0, sizeof(uint16_t) * V * (size_t)ow);
      continue;
    }
    const float *src = x + (nb * g->ih + iy) * g->iw * V;
    for (int64_t ox = 0; ox < ow; ox++) {
      const int64_t ix = ox * g->sw - g->pw + kx * g->dw;
      if (ix < 0 || ix >= g->iw)
        _mm256_storeu_si256((__m256i *)(void *)(dst + ox * V), _mm256_setzero_si256());
      else
        _mm256_storeu_si256((__m256i *)(void *)(dst + ox * V), cvt16(_mm512_loadu_ps(src + ix * V)));
    }
  }
}

void sn_nchwc_weight_bf16(const float *w, int64_t groups, uint32_t *dst) {
  for (int64_t q = 0; q < groups; q++) {
    const float *s = w + q * 256;
    for (int l = 0; l < 8; l++) {
      __m512i lo = _mm512_cvtepu16_epi32(cvt16(_mm512_loadu_ps(s + 2 * l * 16)));
      __m512i hi = _mm512_cvtepu16_epi32(cvt16(_mm512_loadu_ps(s + (2 * l + 1) * 16)));
      _mm512_storeu_si512((void *)(dst + q * 128 + l * 16), _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  }
}

typedef struct bctx {
  const sn_nchwc_conv_geom *g;
  const uint16_t *x; /* this image */
  const uint32_t *w;
  float *y;         /* this image */
  const float *res; /* this image, or NULL */
  int64_t wstride;  /* pairs between the weights of consecutive output blocks */
} bctx;

/* what a tap outside the input reads in a checked tile */
static const uint16_t zeros16[16] __attribute__((aligned(64)));

/* A register tile's sums: started from the bias (first input chunk) or the partial sums in y; ended
 * with the epilogue (residual, ReLU / Clip) on the last chunk, stored to y either way. yp: the tile's
 * first pixel of block cb0 in y; plane: floats between output blocks. */
AI void acc_start(const bctx *c, int NB, int NT, const float *yp, int64_t plane, int64_t cb0, bool first,
                  __m512 acc[4][14]) {
  const sn_nchwc_conv_geom *g = c->g;
#pragma GCC unroll 4
  for (int b = 0; b < NB; b++) {
#pragma GCC unroll 14
    for (int t = 0; t < NT; t++) {
      if (!first)
        acc[b][t] = _mm512_loadu_ps(yp + b * plane + t * V);
      else
        acc[b][t] = g->bias ? _mm512_loadu_ps(g->bias + (cb0 + b) * V) : _mm512_setzero_ps();
    }
  }
}

AI void acc_end(const bctx *c, int NB, int NT, float *yp, int64_t plane, bool last, __m512 acc[4][14]) {
  const sn_nchwc_conv_geom *g = c->g;
  const __m512 lo = _mm512_set1_ps(g->lo), hi = _mm512_set1_ps(g->hi);
#pragma GCC unroll 4
  for (int b = 0; b < NB; b++) {
#pragma GCC unroll 14
    for (int t = 0; t < NT; t++) {
      __m512 v = acc[b][t];
      if (last) {
        if (c->res) v = _mm512_add_ps(v, _mm512_loadu_ps(c->res + (yp - c->y) + b * plane + t * V));
        if (g->act == SN_NCHWC_ACT_RELU) v = _mm512_max_ps(v, _mm512_setzero_ps());
        if (g->act == SN_NCHWC_ACT_CLIP) v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
      }
      _mm512_storeu_ps(yp + b * plane + t * V, v);
    }
  }
}

AI void tile(const bctx *c, int NB, int NT, bool checked, bool s1, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0,
             int64_t c1, bool first, bool last) {
  const sn_nchwc_conv_geom *g = c->g;
  const int64_t plane = g->oh * g->ow * V, ipl = g->ih * g->iw * V, K = g->kh * g->kw;
  float *yp = c->y + cb0 * plane + (oy * g->ow + ox0) * V;
  __m512 acc[4][14];
  acc_start(c, NB, NT, yp, plane, cb0, first, acc);
  /* s1: stride 1, the pixels at constant offsets from one pointer (a runtime stride spends a register
   * per pixel, and the compiler then spills the weight pointers) */
  const int64_t xs = s1 ? V : g->sw * V;
  /* one pointer per weight block, stepped tap by tap (offsets from one pointer were spilled) */
  const uint32_t *wq[4];
#pragma GCC unroll 4
  for (int b = 0; b < NB; b++) wq[b] = c->w + ((cb0 + b) * g->cbi + c0) * K * 128;
  for (int64_t ci = c0; ci < c1; ci++) {
    const uint16_t *xc = c->x + ci * ipl;
    for (int64_t ky = 0; ky < g->kh; ky++) {
      const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
      if (iy < 0 || iy >= g->ih) {
#pragma GCC unroll 4
        for (int b = 0; b < NB; b++) wq[b] += g->kw * 128;
        continue;
      }
      const uint16_t *xr = xc + iy * g->iw * V;
      for (int64_t kx = 0; kx < g->kw; kx++) {
        const int64_t ix = ox0 * g->sw - g->pw + kx * g->dw;
        const uint16_t *xp = xr + ix * V;
        const uint16_t *xt[14];
        if (checked) {
#pragma GCC unroll 14
          for (int t = 0; t < NT; t++) {
            const int64_t it = ix + t * g->sw;
            xt[t] = it < 0 || it >= g->iw ? zeros16 : xr + it * V;
          }
        }
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) {
          __m512i wv[4];
#pragma GCC unroll 4
          for (int b = 0; b < NB; b++) wv[b] = _mm512_loadu_si512((const void *)(wq[b] + l * 16));
#pragma GCC unroll 14
          for (int t = 0; t < NT; t++) {
            int32_t pair;
            memcpy(&pair, (checked ? xt[t] : xp + t * xs) + 2 * l, 4);
            __m512i xb = _mm512_set1_epi32(pair);
#pragma GCC unroll 4
            for (int b = 0; b < NB; b++) acc[b][t] = dpbf16(acc[b][t], xb, wv[b]);
          }
        }
#pragma GCC unroll 4
        for (int b = 0; b < NB; b++) wq[b] += 128;
      }
    }
  }
  acc_end(c, NB, NT, yp, plane, last, acc);
}

typedef void (*tile_fn)(const bctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, bool first,
                        bool last);

/* The flat 1x1 tile (sn_nchwc_flat: pixel p of the input for output pixel p, the gathered input of
 * sn_nchwc_im2col_bf16 among them): NB blocks x NT pixels from pixel p0, with nothing but the input
 * channel loop around the pairs, one pointer per weight block stepped per input block (the general
 * tile's tap loops and bounds kept weight offsets spilled to the stack), and each pixel's pair an
 * embedded-broadcast operand, so NB x NT sums and NB weights fill all 32 registers (4 x 7, 3 x 9,
 * 2 x 14: the 7 x 7 and 14 x 14 maps' runs of 49 pixels in whole tiles of 7). */
AI void ftile(const bctx *c, int NB, int NT, int64_t cb0, int64_t p0, int64_t c0, int64_t c1, bool first, bool last) {
  const sn_nchwc_conv_geom *g = c->g;
  const int64_t plane = g->oh * g->ow * V, ipl = g->ih * g->iw * V;
  float *yp = c->y + cb0 * plane + p0 * V;
  __m512 acc[4][14];
  acc_start(c, NB, NT, yp, plane, cb0, first, acc);
  const uint16_t *xp = c->x + c0 * ipl + p0 * V;
  const uint32_t *wp[4];
#pragma GCC unroll 4
  for (int b = 0; b < NB; b++) wp[b] = c->w + ((cb0 + b) * g->cbi + c0) * 128;
  for (int64_t ci = c0; ci < c1; ci++) {
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++) {
      __m512i wv[4];
#pragma GCC unroll 4
      for (int b = 0; b < NB; b++) wv[b] = _mm512_loadu_si512((const void *)(wp[b] + l * 16));
#pragma GCC unroll 14
      for (int t = 0; t < NT; t++)
#pragma GCC unroll 4
        for (int b = 0; b < NB; b++) acc[b][t] = dpbf16_bcast(acc[b][t], wv[b], xp + t * V + 2 * l);
    }
    xp += ipl;
#pragma GCC unroll 4
    for (int b = 0; b < NB; b++) wp[b] += 128;
  }
  acc_end(c, NB, NT, yp, plane, last, acc);
}

#define TILE(NB, NT)                                                                                          \
  static void t_##NB##x##NT(const bctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1,        \
                            bool first, bool last) {                                                          \
    if (c->g->sw == 1)                                                                                        \
      tile(c, NB, NT, false, true, cb0, oy, ox0, c0, c1, first, last);                                        \
    else                                                                                                      \
      tile(c, NB, NT, false, false, cb0, oy, ox0, c0, c1, first, last);                                       \
  }                                                                                                           \
  static void ct_##NB##x##NT(const bctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1,       \
                             bool first, bool last) {                                                         \
    tile(c, NB, NT, true, false, cb0, oy, ox0, c0, c1, first, last);                                          \
  }
#define FTILE(NB, NT)                                                                                         \
  static void f_##NB##x##NT(const bctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1,        \
                            bool first, bool last) {                                                          \
    (void)oy;                                                                                                 \
    ftile(c, NB, NT, cb0, ox0, c0, c1, first, last);                                                          \
  }
FTILE(1, 1) FTILE(1, 2) FTILE(1, 3) FTILE(1, 4) FTILE(1, 5) FTILE(1, 6) FTILE(1, 7) FTILE(1, 8) FTILE(1, 9)
FTILE(1, 10) FTILE(1, 11) FTILE(1, 12) FTILE(1, 13) FTILE(1, 14)
FTILE(2, 1) FTILE(2, 2) FTILE(2, 3) FTILE(2, 4) FTILE(2, 5) FTILE(2, 6) FTILE(2, 7) FTILE(2, 8) FTILE(2, 9)
FTILE(2, 10) FTILE(2, 11) FTILE(2, 12)
FTILE(2, 13) FTILE(2, 14)
FTILE(3, 1) FTILE(3, 2) FTILE(3, 3) FTILE(3, 4) FTILE(3, 5) FTILE(3, 6) FTILE(3, 7) FTILE(3, 8) FTILE(3, 9)
FTILE(4, 1) FTILE(4, 2) FTILE(4, 3) FTILE(4, 4) FTILE(4, 5) FTILE(4, 6) FTILE(4, 7)
static const tile_fn ftiles[4][14] = {
    {f_1x1, f_1x2, f_1x3, f_1x4, f_1x5, f_1x6, f_1x7, f_1x8, f_1x9, f_1x10, f_1x11, f_1x12, f_1x13, f_1x14},
    {f_2x1, f_2x2, f_2x3, f_2x4, f_2x5, f_2x6, f_2x7, f_2x8, f_2x9, f_2x10, f_2x11, f_2x12, f_2x13, f_2x14},
    {f_3x1, f_3x2, f_3x3, f_3x4, f_3x5, f_3x6, f_3x7, f_3x8, f_3x9},
    {f_4x1, f_4x2, f_4x3, f_4x4, f_4x5, f_4x6, f_4x7}};
static const int max_ft[4] = {14, 14, 9, 7};
TILE(1, 1) TILE(1, 2) TILE(1, 3) TILE(1, 4) TILE(1, 5) TILE(1, 6) TILE(1, 7) TILE(1, 8) TILE(1, 9) TILE(1, 10)
TILE(1, 11) TILE(1, 12) TILE(1, 13) TILE(1, 14)
TILE(2, 1) TILE(2, 2) TILE(2, 3) TILE(2, 4) TILE(2, 5) TILE(2, 6) TILE(2, 7) TILE(2, 8) TILE(2, 9) TILE(2, 10)
TILE(2, 11) TILE(2, 12)
TILE(3, 1) TILE(3, 2) TILE(3, 3) TILE(3, 4) TILE(3, 5) TILE(3, 6)
TILE(4, 1) TILE(4, 2) TILE(4, 3) TILE(4, 4) TILE(4, 5) TILE(4, 6)
static const tile_fn tiles[4][14] = {
    {t_1x1, t_1x2, t_1x3, t_1x4, t_1x5, t_1x6, t_1x7, t_1x8, t_1x9, t_1x10, t_1x11, t_1x12, t_1x13, t_1x14},
    {t_2x1, t_2x2, t_2x3, t_2x4, t_2x5, t_2x6, t_2x7, t_2x8, t_2x9, t_2x10, t_2x11, t_2x12},
    {t_3x1, t_3x2, t_3x3, t_3x4, t_3x5, t_3x6},
    {t_4x1, t_4x2, t_4x3, t_4x4, t_4x5, t_4x6}};
static const tile_fn ctiles[4][14] = {
    {ct_1x1, ct_1x2, ct_1x3, ct_1x4, ct_1x5, ct_1x6, ct_1x7, ct_1x8, ct_1x9, ct_1x10, ct_1x11, ct_1x12, ct_1x13,
     ct_1x14},
    {ct_2x1, ct_2x2, ct_2x3, ct_2x4, ct_2x5, ct_2x6, ct_2x7, ct_2x8, ct_2x9, ct_2x10, ct_2x11, ct_2x12},
    {ct_3x1, ct_3x2, ct_3x3, ct_3x4, ct_3x5, ct_3x6},
    {ct_4x1, ct_4x2, ct_4x3, ct_4x4, ct_4x5, ct_4x6}};
static const int max_nt[4] = {14, 12, 6, 6};

void sn_nchwc_conv_bf16(const sn_nchwc_conv_geom *g0, const uint16_t *x, const uint32_t *w, float *y, int64_t t0,
                        int64_t t1, bool padded) {
  /* a padded input: the same convolution of a wider input without left padding, whose every tile is
   * interior (the items do not depend on the input width) */
  sn_nchwc_conv_geom gp = *g0;
  if (padded) gp.iw = sn_nchwc_bf16_padded_width(g0), gp.pw = 0;
  const sn_nchwc_conv_geom *g = &gp;
  int64_t rpi, bpi;
  sn_nchwc_conv_items(g, &rpi, &bpi);
  const int64_t row_items = (g->oh + rpi - 1) / rpi, groups = (g->cbo + bpi - 1) / bpi;
  const int64_t K = g->kh * g->kw;
  int64_t lo, hi;
  sn_nchwc_interior(g, &lo, &hi);
  const bool flat = sn_nchwc_flat(g);
  /* input blocks per chunk: the chunk's weights for one register tile's blocks near 128 KiB */
  int64_t tb = bpi < NB_MAX ? bpi : NB_MAX;
  int64_t chunk = (128 * 1024 / 4) / (tb * K * 128);
  if (chunk < 1) chunk = 1;
  if (chunk > g->cbi) chunk = g->cbi;
  int64_t nch = (g->cbi + chunk - 1) / chunk;
  chunk = (g->cbi + nch - 1) / nch;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / (groups * row_items), gi = (t / row_items) % groups, ri = t % row_items;
    const int64_t cb0 = gi * bpi, nb = cb0 + bpi < g->cbo ? bpi : g->cbo - cb0;
    const int64_t r0 = ri * rpi, r1 = r0 + rpi < g->oh ? r0 + rpi : g->oh;
    const uint16_t *xn = x + n * g->cbi * g->ih * g->iw * V;
    float *yn = y + n * g->cbo * g->oh * g->ow * V;
    const float *rn = g->res ? g->res + (yn - y) : NULL;
    bctx c = {g, xn, w, yn, rn, g->cbi * K * 128};
    for (int64_t sb = cb0; sb < cb0 + nb; sb += NB_MAX) {
      const int64_t snb = cb0 + nb - sb < NB_MAX ? cb0 + nb - sb : NB_MAX;
      const tile_fn *row = tiles[snb - 1], *crow = ctiles[snb - 1];
      const int mt = max_nt[snb - 1];
      for (int64_t c0 = 0; c0 < g->cbi; c0 += chunk) {
        const int64_t c1 = c0 + chunk < g->cbi ? c0 + chunk : g->cbi;
        const bool first = c0 == 0, last = c1 == g->cbi;
        if (flat) { /* the item's rows as one row of pixels */
          const int64_t p0 = r0 * g->ow, len = (r1 - r0) * g->ow;
          for (int64_t i = 0, ox = p0, k; i < len; i += k, ox += k) {
            k = sn_nchwc_even_tile(len, max_ft[snb - 1], i);
            ftiles[snb - 1][k - 1](&c, sb, 0, ox, c0, c1, first, last);
          }
          continue;
        }
        for (int64_t oy = r0; oy < r1; oy++)
          for (int64_t ox = 0, k; ox < g->ow; ox += k) {
            k = sn_nchwc_even_tile(g->ow, mt, ox);
            (ox < lo || ox + k > hi ? crow : row)[k - 1](&c, sb, oy, ox, c0, c1, first, last);
          }
      }
    }
  }
}

/* ---- NCHW input (in_block 1): pairs along the kernel row ------------------------------------------- */

int64_t sn_nchw_bf16_padded_width(const sn_nchwc_conv_geom *g) {
  /* the high half of the last pair of the last output column, in padded coordinates */
  const int64_t kwp = (g->kw + 1) / 2, last = (g->ow - 1) * g->sw + 2 * kwp - 1;
  const int64_t w = g->pw + g->iw;
  return last + 1 > w ? last + 1 : w;
}

void sn_nchw_to_bf16_padded(const sn_nchwc_conv_geom *g, const float *x, uint16_t *y, int64_t t0, int64_t t1) {
  const int64_t pw = g->pw, W = sn_nchw_bf16_padded_width(g), iw = g->iw;
  for (int64_t t = t0; t < t1; t++) { /* t = (image, channel, row) */
    uint16_t *dst = y + t * W;
    const float *src = x + t * iw;
    memset(dst, 0, sizeof(uint16_t) * (size_t)pw);
    int64_t i = 0;
    for (; i + 16 <= iw; i += 16) _mm256_storeu_si256((__m256i *)(void *)(dst + pw + i), cvt16(_mm512_loadu_ps(src + i)));
    if (i < iw) {
      const __mmask16 m = (__mmask16)((1u << (iw - i)) - 1);
      _mm256_mask_storeu_epi16(dst + pw + i, m, cvt16(_mm512_maskz_loadu_ps(m, src + i)));
    }
    memset(dst + pw + iw, 0, sizeof(uint16_t) * (size_t)(W - pw - iw));
  }
}

int64_t sn_nchw_weight_bf16_size(const sn_nchwc_conv_geom *g) {
  return g->cbo * g->cbi * g->kh * ((g->kw + 1) / 2) * 16;
}

void sn_nchw_weight_bf16(const sn_nchwc_conv_geom *g, const float *w, uint32_t *dst) {
  const int64_t kwp = (g->kw + 1) / 2;
  for (int64_t r = 0; r < g->cbo * g->cbi * g->kh; r++) /* r = (output block, channel, kernel row) */
    for (int64_t q = 0; q < kwp; q++) {
      const float *lo = w + (r * g->kw + 2 * q) * 16;
      const __m512i l = _mm512_cvtepu16_epi32(cvt16(_mm512_loadu_ps(lo)));
      const __m512i h = 2 * q + 1 < g->kw ? _mm512_cvtepu16_epi32(cvt16(_mm512_loadu_ps(lo + 16))) : _mm512_setzero_si512();
      _mm512_storeu_si512((void *)(dst + (r * kwp + q) * 16), _mm512_or_si512(l, _mm512_slli_epi32(h, 16)));
    }
}

/* NB output blocks x NT pixels of row oy from ox0, input channels [c0, c1) */
AI void ntile(const bctx *c, int NB, int NT, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, bool first,
              bool last) {
  const sn_nchwc_conv_geom *g = c->g;
  const int64_t plane = g->oh * g->ow * V, W = sn_nchw_bf16_padded_width(g), kwp = (g->kw + 1) / 2;
  float *yp = c->y + cb0 * plane + (oy * g->ow + ox0) * V;
  __m512 acc[4][14];
  acc_start(c, NB, NT, yp, plane, cb0, first, acc);
  const int64_t xs = g->sw; /* bf16 values between pixels */
  for (int64_t ci = c0; ci < c1; ci++) {
    const uint16_t *xc = c->x + ci * g->ih * W;
    const uint32_t *wc = c->w + (cb0 * g->cbi + ci) * g->kh * kwp * 16;
    for (int64_t ky = 0; ky < g->kh; ky++) {
      const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
      if (iy < 0 || iy >= g->ih) continue;
      const uint16_t *xp = xc + iy * W + ox0 * xs;
      const uint32_t *wp = wc + ky * kwp * 16;
      for (int64_t q = 0; q < kwp; q++) {
        __m512i wv[4];
#pragma GCC unroll 4
        for (int b = 0; b < NB; b++) wv[b] = _mm512_loadu_si512((const void *)(wp + b * c->wstride + q * 16));
        const uint16_t *xq = xp + 2 * q;
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) {
          int32_t pair;
          memcpy(&pair, xq + t * xs, 4);
          __m512i xb = _mm512_set1_epi32(pair);
#pragma GCC unroll 4
          for (int b = 0; b < NB; b++) acc[b][t] = dpbf16(acc[b][t], xb, wv[b]);
        }
      }
    }
  }
  acc_end(c, NB, NT, yp, plane, last, acc);
}

#define NTILE(NB, NT)                                                                                         \
  static void n_##NB##x##NT(const bctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1,        \
                            bool first, bool last) {                                                          \
    ntile(c, NB, NT, cb0, oy, ox0, c0, c1, first, last);                                                      \
  }
NTILE(1, 1) NTILE(1, 2) NTILE(1, 3) NTILE(1, 4) NTILE(1, 5) NTILE(1, 6)
NTILE(2, 1) NTILE(2, 2) NTILE(2, 3) NTILE(2, 4) NTILE(2, 5) NTILE(2, 6)
NTILE(3, 1) NTILE(3, 2) NTILE(3, 3) NTILE(3, 4) NTILE(3, 5) NTILE(3, 6)
NTILE(4, 1) NTILE(4, 2) NTILE(4, 3) NTILE(4, 4) NTILE(4, 5) NTILE(4, 6)
static const tile_fn ntiles[4][6] = {{n_1x1, n_1x2, n_1x3, n_1x4, n_1x5, n_1x6},
                                     {n_2x1, n_2x2, n_2x3, n_2x4, n_2x5, n_2x6},
                                     {n_3x1, n_3x2, n_3x3, n_3x4, n_3x5, n_3x6},
                                     {n_4x1, n_4x2, n_4x3, n_4x4, n_4x5, n_4x6}};

void sn_nchw_conv_bf16(const sn_nchwc_conv_geom *g, const uint16_t *x, const uint32_t *w, float *y, int64_t t0,
                       int64_t t1) {
  int64_t rpi, bpi;
  sn_nchwc_conv_items(g, &rpi, &bpi);
  const int64_t row_items = (g->oh + rpi - 1) / rpi, groups = (g->cbo + bpi - 1) / bpi;
  const int64_t kwp = (g->kw + 1) / 2, W = sn_nchw_bf16_padded_width(g);
  /* input channels per chunk: the chunk's weights for one register tile's blocks near 128 KiB */
  const int64_t tb = bpi < NB_MAX ? bpi : NB_MAX;
  int64_t chunk = (128 * 1024 / 4) / (tb * g->kh * kwp * 16);
  if (chunk < 1) chunk = 1;
  if (chunk > g->cbi) chunk = g->cbi;
  const int64_t nch = (g->cbi + chunk - 1) / chunk;
  chunk = (g->cbi + nch - 1) / nch;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / (groups * row_items), gi = (t / row_items) % groups, ri = t % row_items;
    const int64_t cb0 = gi * bpi, nb = cb0 + bpi < g->cbo ? bpi : g->cbo - cb0;
    const int64_t r0 = ri * rpi, r1 = r0 + rpi < g->oh ? r0 + rpi : g->oh;
    float *yn = y + n * g->cbo * g->oh * g->ow * V;
    bctx c = {g, x + n * g->cbi * g->ih * W, w, yn, g->res ? g->res + (yn - y) : NULL, g->cbi * g->kh * kwp * 16};
    for (int64_t sb = cb0; sb < cb0 + nb; sb += NB_MAX) {
      const int64_t snb = cb0 + nb - sb < NB_MAX ? cb0 + nb - sb : NB_MAX;
      const tile_fn *row = ntiles[snb - 1];
      for (int64_t c0 = 0; c0 < g->cbi; c0 += chunk) {
        const int64_t c1 = c0 + chunk < g->cbi ? c0 + chunk : g->cbi;
        for (int64_t oy = r0; oy < r1; oy++)
          for (int64_t ox = 0, k; ox < g->ow; ox += k) {
            k = sn_nchwc_even_tile(g->ow, 6, ox);
            row[k - 1](&c, sb, oy, ox, c0, c1, c0 == 0, c1 == g->cbi);
          }
      }
    }
  }
}
