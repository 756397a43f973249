/* AVX-512 kernels on the blocked channel layout, block 16 (see kernels/nchwc.h).
 *
 * Regular convolution: a register tile of NB output channel blocks (16 lanes each) x NT output
 * pixels of one row; for every input channel of every tap, NB weight vectors are loaded and each
 * pixel's input scalar is broadcast into NB FMAs. Input channels are taken in chunks whose packed
 * weights stay in L2 across all the tiles of an item's rows; the partial sums go through y between
 * chunks. Pixels whose window reaches into the padding go one at a time with bounds checks.
 * Depthwise: NT pixels of one block per tile, a vector load of input and weight per tap. */
#include <immintrin.h>
#include <string.h>

#include "kernels/nchwc.h"

#define AI static inline __attribute__((always_inline))

/* the valid (interior) output columns [lo, hi): every tap of the row lands inside the input */
static void interior(int64_t ow, int64_t iw, int64_t kw, int64_t sw, int64_t dw, int64_t pw, int64_t *lo, int64_t *hi) {
  int64_t l = (pw + sw - 1) / sw;
  int64_t num = iw - 1 + pw - (kw - 1) * dw;
  int64_t h = num >= 0 ? num / sw + 1 : 0;
  if (l > ow) l = ow;
  if (h > ow) h = ow;
  if (h < l) h = l;
  *lo = l, *hi = h;
}

AI __m512 act16(const sn_nchwc_conv_geom *g, __m512 v) {
  if (g->act == SN_NCHWC_ACT_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());
  if (g->act == SN_NCHWC_ACT_CLIP) return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(g->lo)), _mm512_set1_ps(g->hi));
  return v;
}

typedef struct conv_ctx {
  const sn_nchwc_conv_geom *g;
  const float *x; /* this image */
  const float *w;
  float *y;         /* this image */
  const float *res; /* this image, or NULL */
  int64_t wstride;  /* floats between the weights of consecutive output blocks */
} conv_ctx;

/* NB blocks from cb0, NT pixels from (oy, ox0), input blocks [c0, c1) of BI lanes (16, or 1 for an
 * NCHW input); checked: NT == 1 with bounds */
AI void conv_tile(const conv_ctx *c, int BI, int NB, int NT, bool checked, int64_t cb0, int64_t oy, int64_t ox0,
                  int64_t c0, int64_t c1, bool first, bool last) {
  const sn_nchwc_conv_geom *g = c->g;
  const int64_t plane = g->oh * g->ow * 16, ipl = g->ih * g->iw * BI, K = g->kh * g->kw;
  float *yp = c->y + cb0 * plane + (oy * g->ow + ox0) * 16;
  __m512 acc[4][14];
#pragma GCC unroll 4
  for (int b = 0; b < NB; b++) {
#pragma GCC unroll 14
    for (int t = 0; t < NT; t++) {
      if (!first)
        acc[b][t] = _mm512_loadu_ps(yp + b * plane + t * 16);
      else
        acc[b][t] = g->bias ? _mm512_loadu_ps(g->bias + (cb0 + b) * 16) : _mm512_setzero_ps();
    }
  }
  const int64_t xs = g->sw * BI;
  for (int64_t ci = c0; ci < c1; ci++) {
    const float *xc = c->x + ci * ipl;
    const float *wc = c->w + (cb0 * g->cbi + ci) * K * BI * 16;
    for (int64_t ky = 0; ky < g->kh; ky++) {
      const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
      if (iy < 0 || iy >= g->ih) continue;
      const float *xr = xc + iy * g->iw * BI;
      for (int64_t kx = 0; kx < g->kw; kx++) {
        const int64_t ix = ox0 * g->sw - g->pw + kx * g->dw;
        if (checked && (ix < 0 || ix >= g->iw)) continue;
        const float *xp = xr + ix * BI;
        const float *wp = wc + (ky * g->kw + kx) * BI * 16;
#pragma GCC unroll 4
        for (int l = 0; l < BI; l++) {
          __m512 wv[4];
#pragma GCC unroll 4
          for (int b = 0; b < NB; b++) wv[b] = _mm512_loadu_ps(wp + b * c->wstride + l * 16);
#pragma GCC unroll 14
          for (int t = 0; t < NT; t++) {
            __m512 xb = _mm512_set1_ps(xp[t * xs + l]);
#pragma GCC unroll 4
            for (int b = 0; b < NB; b++) acc[b][t] = _mm512_fmadd_ps(xb, wv[b], acc[b][t]);
          }
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int b = 0; b < NB; b++) {
#pragma GCC unroll 14
    for (int t = 0; t < NT; t++) {
      __m512 v = acc[b][t];
      if (last) {
        if (c->res) v = _mm512_add_ps(v, _mm512_loadu_ps(c->res + (yp - c->y) + b * plane + t * 16));
        v = act16(g, v);
      }
      _mm512_storeu_ps(yp + b * plane + t * 16, v);
    }
  }
}

typedef void (*tile_fn)(const conv_ctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, bool first,
                        bool last);

#define TILE(NB, NT)                                                                                          \
  static void tile_##NB##x##NT(const conv_ctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, \
                               bool first, bool last) {                                                       \
    conv_tile(c, 16, NB, NT, false, cb0, oy, ox0, c0, c1, first, last);                                       \
  }
#define TILE1(NB, NT)                                                                                         \
  static void nchw_##NB##x##NT(const conv_ctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, \
                               bool first, bool last) {                                                       \
    conv_tile(c, 1, NB, NT, false, cb0, oy, ox0, c0, c1, first, last);                                        \
  }
#define TILES(NB) TILE(NB, 1) TILE(NB, 2) TILE(NB, 3) TILE(NB, 4) TILE(NB, 5) TILE(NB, 6) \
  TILE1(NB, 1) TILE1(NB, 2) TILE1(NB, 3) TILE1(NB, 4) TILE1(NB, 5) TILE1(NB, 6)
TILES(1)
TILES(2)
TILES(3)
TILES(4)
TILE(1, 7) TILE(1, 8) TILE(1, 9) TILE(1, 10) TILE(1, 11) TILE(1, 12) TILE(1, 13) TILE(1, 14)
TILE(2, 7) TILE(2, 8) TILE(2, 9) TILE(2, 10) TILE(2, 11) TILE(2, 12)

#define CHECKED(NB)                                                                                          \
  static void checked_##NB(const conv_ctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1,  \
                           bool first, bool last) {                                                         \
    conv_tile(c, 16, NB, 1, true, cb0, oy, ox0, c0, c1, first, last);                                       \
  }                                                                                                         \
  static void nchw_checked_##NB(const conv_ctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, \
                                bool first, bool last) {                                                    \
    conv_tile(c, 1, NB, 1, true, cb0, oy, ox0, c0, c1, first, last);                                        \
  }
CHECKED(1)
CHECKED(2)
CHECKED(3)
CHECKED(4)

/* tiles[NB - 1][NT - 1]; the widest tile per NB is max_nt[NB - 1] */
static const tile_fn tiles[4][14] = {
    {tile_1x1, tile_1x2, tile_1x3, tile_1x4, tile_1x5, tile_1x6, tile_1x7, tile_1x8, tile_1x9, tile_1x10, tile_1x11,
     tile_1x12, tile_1x13, tile_1x14},
    {tile_2x1, tile_2x2, tile_2x3, tile_2x4, tile_2x5, tile_2x6, tile_2x7, tile_2x8, tile_2x9, tile_2x10, tile_2x11,
     tile_2x12},
    {tile_3x1, tile_3x2, tile_3x3, tile_3x4, tile_3x5, tile_3x6},
    {tile_4x1, tile_4x2, tile_4x3, tile_4x4, tile_4x5, tile_4x6},
};
static const int max_nt[4] = {14, 12, 6, 6};
static const tile_fn checked[4] = {checked_1, checked_2, checked_3, checked_4};
/* NCHW input (in_block 1): up to 6 pixels whatever NB */
static const tile_fn nchw_tiles[4][6] = {
    {nchw_1x1, nchw_1x2, nchw_1x3, nchw_1x4, nchw_1x5, nchw_1x6}, {nchw_2x1, nchw_2x2, nchw_2x3, nchw_2x4, nchw_2x5, nchw_2x6},
    {nchw_3x1, nchw_3x2, nchw_3x3, nchw_3x4, nchw_3x5, nchw_3x6}, {nchw_4x1, nchw_4x2, nchw_4x3, nchw_4x4, nchw_4x5, nchw_4x6}};
static const tile_fn nchw_checked[4] = {nchw_checked_1, nchw_checked_2, nchw_checked_3, nchw_checked_4};

/* depthwise: NT pixels of block cb */
AI void dw_tile(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, const float *res, int NT,
                bool checked, int64_t cb, int64_t oy, int64_t ox0) {
  __m512 acc[16];
  const __m512 bias = g->bias ? _mm512_loadu_ps(g->bias + cb * 16) : _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int t = 0; t < NT; t++) acc[t] = bias;
  const float *xc = x + cb * g->ih * g->iw * 16;
  const float *wc = w + cb * g->kh * g->kw * 16;
  const int64_t xs = g->sw * 16;
  for (int64_t ky = 0; ky < g->kh; ky++) {
    const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
    if (iy < 0 || iy >= g->ih) continue;
    const float *xr = xc + iy * g->iw * 16;
    for (int64_t kx = 0; kx < g->kw; kx++) {
      const int64_t ix = ox0 * g->sw - g->pw + kx * g->dw;
      if (checked && (ix < 0 || ix >= g->iw)) continue;
      const __m512 wv = _mm512_loadu_ps(wc + (ky * g->kw + kx) * 16);
      const float *xp = xr + ix * 16;
#pragma GCC unroll 16
      for (int t = 0; t < NT; t++) acc[t] = _mm512_fmadd_ps(_mm512_loadu_ps(xp + t * xs), wv, acc[t]);
    }
  }
  const int64_t off = ((cb * g->oh + oy) * g->ow + ox0) * 16;
#pragma GCC unroll 16
  for (int t = 0; t < NT; t++) {
    __m512 v = acc[t];
    if (res) v = _mm512_add_ps(v, _mm512_loadu_ps(res + off + t * 16));
    _mm512_storeu_ps(y + off + t * 16, act16(g, v));
  }
}

typedef void (*dw_fn)(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, const float *res,
                      int64_t cb, int64_t oy, int64_t ox0);
#define DW(NT)                                                                                                 \
  static void dw_##NT(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, const float *res, \
                      int64_t cb, int64_t oy, int64_t ox0) {                                                   \
    dw_tile(g, x, w, y, res, NT, false, cb, oy, ox0);                                                          \
  }
DW(1) DW(2) DW(3) DW(4) DW(5) DW(6) DW(7) DW(8)
static const dw_fn dws[8] = {dw_1, dw_2, dw_3, dw_4, dw_5, dw_6, dw_7, dw_8};
static void dw_checked(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, const float *res,
                       int64_t cb, int64_t oy, int64_t ox0) {
  dw_tile(g, x, w, y, res, 1, true, cb, oy, ox0);
}

void sn_nchwc_conv_f32_avx512(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, int64_t t0,
                              int64_t t1) {
  int64_t rpi, bpi;
  sn_nchwc_conv_items(g, &rpi, &bpi);
  const int64_t row_items = (g->oh + rpi - 1) / rpi, groups = (g->cbo + bpi - 1) / bpi;
  const int64_t K = g->kh * g->kw;
  int64_t lo, hi;
  interior(g->ow, g->iw, g->kw, g->sw, g->dw, g->pw, &lo, &hi);
  const int64_t BI = g->in_block;
  /* input blocks per chunk: the chunk's weights for one item near 128 KiB */
  int64_t chunk = (128 * 1024 / 4) / (bpi * K * BI * 16);
  if (chunk < 1) chunk = 1;
  if (chunk > g->cbi) chunk = g->cbi;
  /* even chunks */
  int64_t nch = (g->cbi + chunk - 1) / chunk;
  chunk = (g->cbi + nch - 1) / nch;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / (groups * row_items), gi = (t / row_items) % groups, ri = t % row_items;
    const int64_t cb0 = gi * bpi, nb = cb0 + bpi < g->cbo ? bpi : g->cbo - cb0;
    const int64_t r0 = ri * rpi, r1 = r0 + rpi < g->oh ? r0 + rpi : g->oh;
    const float *xn = x + n * g->cbi * g->ih * g->iw * BI;
    float *yn = y + n * g->cbo * g->oh * g->ow * 16;
    const float *rn = g->res ? g->res + (yn - y) : NULL;
    if (g->depthwise) {
      for (int64_t cb = cb0; cb < cb0 + nb; cb++)
        for (int64_t oy = r0; oy < r1; oy++) {
          for (int64_t ox = 0; ox < lo; ox++) dw_checked(g, xn, w, yn, rn, cb, oy, ox);
          for (int64_t ox = lo; ox < hi;) {
            int64_t k = hi - ox < 8 ? hi - ox : 8;
            dws[k - 1](g, xn, w, yn, rn, cb, oy, ox);
            ox += k;
          }
          for (int64_t ox = hi; ox < g->ow; ox++) dw_checked(g, xn, w, yn, rn, cb, oy, ox);
        }
      continue;
    }
    conv_ctx c = {g, xn, w, yn, rn, g->cbi * K * BI * 16};
    const tile_fn *row = BI == 1 ? nchw_tiles[nb - 1] : tiles[nb - 1];
    const tile_fn chk = BI == 1 ? nchw_checked[nb - 1] : checked[nb - 1];
    const int mt = BI == 1 ? 6 : max_nt[nb - 1];
    for (int64_t c0 = 0; c0 < g->cbi; c0 += chunk) {
      const int64_t c1 = c0 + chunk < g->cbi ? c0 + chunk : g->cbi;
      const bool first = c0 == 0, last = c1 == g->cbi;
      for (int64_t oy = r0; oy < r1; oy++) {
        for (int64_t ox = 0; ox < lo; ox++) chk(&c, cb0, oy, ox, c0, c1, first, last);
        for (int64_t ox = lo; ox < hi;) {
          int64_t k = hi - ox < mt ? hi - ox : mt;
          row[k - 1](&c, cb0, oy, ox, c0, c1, first, last);
          ox += k;
        }
        for (int64_t ox = hi; ox < g->ow; ox++) chk(&c, cb0, oy, ox, c0, c1, first, last);
      }
    }
  }
}

void sn_nchwc_pool_f32_avx512(const sn_nchwc_pool_geom *g, const float *x, float *y, int64_t t0, int64_t t1) {
  for (int64_t t = t0; t < t1; t++) {
    const float *xp = x + t * g->ih * g->iw * 16;
    float *yp = y + t * g->oh * g->ow * 16;
    for (int64_t oy = 0; oy < g->oh; oy++) {
      const int64_t y0 = oy * g->sh - g->ph;
      for (int64_t ox = 0; ox < g->ow; ox++) {
        const int64_t x0 = ox * g->sw - g->pw;
        __m512 acc = g->max ? _mm512_set1_ps(-__builtin_inff()) : _mm512_setzero_ps();
        int64_t cnt = 0;
        for (int64_t ky = 0; ky < g->kh; ky++) {
          const int64_t iy = y0 + ky * g->dh;
          if (iy < 0 || iy >= g->ih) continue;
          for (int64_t kx = 0; kx < g->kw; kx++) {
            const int64_t ix = x0 + kx * g->dw;
            if (ix < 0 || ix >= g->iw) continue;
            __m512 v = _mm512_loadu_ps(xp + (iy * g->iw + ix) * 16);
            cnt++;
            if (g->max) {
              /* v > acc or v is NaN: take v (NaN propagates like the reference) */
              __mmask16 m = _mm512_cmp_ps_mask(v, acc, _CMP_NLE_UQ);
              acc = _mm512_mask_mov_ps(acc, m, v);
            } else {
              acc = _mm512_add_ps(acc, v);
            }
          }
        }
        if (!g->max) {
          if (g->count_include_pad) {
            int64_t y1 = y0 + (g->kh - 1) * g->dh + 1, x1 = x0 + (g->kw - 1) * g->dw + 1;
            int64_t ye = g->ih + g->pad_end_h, xe = g->iw + g->pad_end_w;
            int64_t hy = (y1 < ye ? y1 : ye) - y0, hx = (x1 < xe ? x1 : xe) - x0;
            cnt = ((hy + g->dh - 1) / g->dh) * ((hx + g->dw - 1) / g->dw);
          }
          acc = _mm512_mul_ps(acc, _mm512_set1_ps(cnt ? 1.f / (float)cnt : 0.f));
        }
        _mm512_storeu_ps(yp + (oy * g->ow + ox) * 16, acc);
      }
    }
  }
}
