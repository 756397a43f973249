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

/* acc += pairs of a . b (asm: see sgemm_avx512bf16.c) */
AI __m512 dpbf16(__m512 acc, __m512i a, __m512i b) {
  __asm__("vdpbf16ps %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
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

AI void tile(const bctx *c, int NB, int NT, bool checked, bool s1, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0,
             int64_t c1, bool first, bool last) {
  const sn_nchwc_conv_geom *g = c->g;
  const int64_t plane = g->oh * g->ow * V, ipl = g->ih * g->iw * V, K = g->kh * g->kw;
  float *yp = c->y + cb0 * plane + (oy * g->ow + ox0) * V;
  __m512 acc[4][14];
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
  /* s1: stride 1, the pixels at constant offsets from one pointer (a runtime stride spends a register
   * per pixel, and the compiler then spills the weight pointers) */
  const int64_t xs = s1 ? V : g->sw * V;
  for (int64_t ci = c0; ci < c1; ci++) {
    const uint16_t *xc = c->x + ci * ipl;
    const uint32_t *wc = c->w + (cb0 * g->cbi + ci) * K * 128;
    for (int64_t ky = 0; ky < g->kh; ky++) {
      const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
      if (iy < 0 || iy >= g->ih) continue;
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
        const uint32_t *wp = wc + (ky * g->kw + kx) * 128;
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) {
          __m512i wv[4];
#pragma GCC unroll 4
          for (int b = 0; b < NB; b++) wv[b] = _mm512_loadu_si512((const void *)(wp + b * c->wstride + l * 16));
#pragma GCC unroll 14
          for (int t = 0; t < NT; t++) {
            int32_t pair;
            memcpy(&pair, (checked ? xt[t] : xp + t * xs) + 2 * l, 4);
            __m512i xb = _mm512_set1_epi32(pair);
#pragma GCC unroll 4
            for (int b = 0; b < NB; b++) acc[b][t] = dpbf16(acc[b][t], xb, wv[b]);
          }
        }
      }
    }
  }
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

typedef void (*tile_fn)(const bctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, bool first,
                        bool last);

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
            k = sn_nchwc_even_tile(len, mt, i);
            row[k - 1](&c, sb, 0, ox, c0, c1, first, last);
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
