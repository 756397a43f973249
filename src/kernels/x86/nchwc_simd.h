/* Blocked-layout (NCHWc) kernels written once over a vector of NC_V float lanes (the block), and
 * included by nchwc_avx512.c (16 lanes) and nchwc_avx2.c (8 lanes) with the ISA's intrinsics:
 *   NC_V NC_VEC NC_LOAD(p) NC_STORE(p, v) NC_SET1(f) NC_ZERO() NC_FMA(a, b, c) NC_ADD NC_MUL NC_MAX NC_MIN
 *   NC_MAX_NAN(v, acc): v where v > acc or v is NaN, else acc
 *   NC_NB_MAX: output blocks per register tile (4 with 32 registers, 2 with 16), NC_NT_MAX[NB]
 *   NC_CONV / NC_POOL / NC_GAVG / NC_AFFINE: the names of the entry points.
 *
 * Regular convolution: a register tile of NB output channel blocks x NT output pixels of one row;
 * for every input channel of every tap, NB weight vectors are loaded and each pixel's input scalar
 * is broadcast into NB FMAs. Input channels are taken in chunks whose packed weights stay in L2
 * across all the tiles of an item's rows; the partial sums go through y between chunks. Pixels
 * whose window reaches into the padding go one at a time with bounds checks. An NCHW input
 * (in_block 1) is the same loop with one lane per input pixel. A grouped convolution is the same loop
 * over only the input blocks an output block's groups read (sn_nchwc_group_range), its register
 * tiles joining the output blocks that read the same ones.
 * Depthwise: for 3- and 5-wide kernels at stride 1 or 2 and 7-wide at stride 1 (dilation 1), every row
 * in tiles of up to 8 pixels of one block, each kernel row's input vectors loaded once and shared by its
 * taps, the tiles at a padded end reading zeros for the columns outside (dw_rt); other kernels take NT
 * pixels per tile with a vector load of input and weight per tap (dw_tile). */
#include <string.h>

#include "kernels/nchwc.h"

#define AI static inline __attribute__((always_inline))

AI NC_VEC act_v(const sn_nchwc_conv_geom *g, NC_VEC v) {
  if (g->act == SN_NCHWC_ACT_RELU) return NC_MAX(v, NC_ZERO());
  if (g->act == SN_NCHWC_ACT_CLIP) return NC_MIN(NC_MAX(v, NC_SET1(g->lo)), NC_SET1(g->hi));
  return v;
}

typedef struct conv_ctx {
  const sn_nchwc_conv_geom *g;
  const float *x; /* this image */
  const float *w;
  float *y;         /* this image */
  const float *res; /* this image, or NULL */
  int64_t wstride;  /* floats between the weights of consecutive output blocks */
  int64_t wlo;      /* the input block of the tile's first weight slot (grouped: its range's first) */
} conv_ctx;

#define V NC_V

/* what a tap outside the input reads in a checked tile (one pixel of any block) */
static const float nc_zeros[16] __attribute__((aligned(64)));

/* A register tile's sums: started from the bias (first input chunk) or the partial sums in y; ended
 * with the epilogue (residual, activation) on the last chunk, stored to y either way. yp: the tile's
 * first pixel of block cb0 in y; plane: floats between output blocks. */
AI void acc_start(const conv_ctx *c, int NB, int NT, const float *yp, int64_t plane, int64_t cb0, bool first,
                  NC_VEC acc[4][14]) {
  const sn_nchwc_conv_geom *g = c->g;
#pragma GCC unroll 4
  for (int b = 0; b < NB; b++) {
#pragma GCC unroll 14
    for (int t = 0; t < NT; t++) {
      if (!first)
        acc[b][t] = NC_LOAD(yp + b * plane + t * V);
      else
        acc[b][t] = g->bias ? NC_LOAD(g->bias + (cb0 + b) * V) : NC_ZERO();
    }
  }
}

AI void acc_end(const conv_ctx *c, int NB, int NT, float *yp, int64_t plane, bool last, NC_VEC acc[4][14]) {
#pragma GCC unroll 4
  for (int b = 0; b < NB; b++) {
#pragma GCC unroll 14
    for (int t = 0; t < NT; t++) {
      NC_VEC v = acc[b][t];
      if (last) {
        if (c->res) v = NC_ADD(v, NC_LOAD(c->res + (yp - c->y) + b * plane + t * V));
        v = act_v(c->g, v);
      }
      NC_STORE(yp + b * plane + t * V, v);
    }
  }
}

/* NB blocks from cb0, NT pixels from (oy, ox0), input blocks [c0, c1) of BI lanes (V, or 1 for an
 * NCHW input); checked: some pixels' windows reach into the left / right padding, whose taps read
 * zeros (so border tiles run as wide as the others) */
AI void conv_tile(const conv_ctx *c, int BI, int NB, int NT, bool checked, int64_t cb0, int64_t oy, int64_t ox0,
                  int64_t c0, int64_t c1, bool first, bool last) {
  const sn_nchwc_conv_geom *g = c->g;
  const int64_t plane = g->oh * g->ow * V, ipl = g->ih * g->iw * BI, K = g->kh * g->kw;
  float *yp = c->y + cb0 * plane + (oy * g->ow + ox0) * V;
  NC_VEC acc[4][14];
  acc_start(c, NB, NT, yp, plane, cb0, first, acc);
  const int64_t xs = g->sw * BI;
  for (int64_t ci = c0; ci < c1; ci++) {
    const float *xc = c->x + ci * ipl;
    const float *wc = c->w + cb0 * c->wstride + (ci - c->wlo) * K * BI * V;
    for (int64_t ky = 0; ky < g->kh; ky++) {
      const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
      if (iy < 0 || iy >= g->ih) continue;
      const float *xr = xc + iy * g->iw * BI;
      for (int64_t kx = 0; kx < g->kw; kx++) {
        const int64_t ix = ox0 * g->sw - g->pw + kx * g->dw;
        /* a tap in the padding for every pixel of the tile adds zeros: skipped (dilated kernels on
         * small maps, as DeepLab's ASPP runs them, have many) */
        if (checked && (ix >= g->iw || ix + (NT - 1) * g->sw < 0)) continue;
        const float *xp = xr + ix * BI;
        /* 1x1 blocked: the next tile's pixels of this channel block, one cache line each, fetched
         * ahead (at batch 8 the input is far out of cache, read as cbi interleaved streams) */
        if (!checked && BI == V && K == 1)
#pragma GCC unroll 14
          for (int t = 0; t < NT; t++) __builtin_prefetch(xp + (NT + t) * xs, 0, 3);
        /* k x k blocked: the pixels of this input row that the next tile reads beyond this one's */
        if (!checked && BI == V && K > 1 && kx == 0) {
          const float *nx = xp + ((NT - 1) * g->sw + (g->kw - 1) * g->dw + 1) * V;
          for (int64_t t = 0; t < NT * g->sw; t++) __builtin_prefetch(nx + t * V, 0, 3);
        }
        /* an NCHW input row (the stem): a few lines ahead of this tile, once per kernel row */
        if (!checked && BI == 1 && kx == 0) __builtin_prefetch(xp + NT * xs + 64, 0, 3);
        const float *xt[14];
        if (checked) {
#pragma GCC unroll 14
          for (int t = 0; t < NT; t++) {
            const int64_t it = ix + t * g->sw;
            xt[t] = it < 0 || it >= g->iw ? nc_zeros : xr + it * BI;
          }
        }
        const float *wp = wc + (ky * g->kw + kx) * BI * V;
#pragma GCC unroll 4
        for (int l = 0; l < BI; l++) {
          NC_VEC wv[4];
#pragma GCC unroll 4
          for (int b = 0; b < NB; b++) wv[b] = NC_LOAD(wp + b * c->wstride + l * V);
#pragma GCC unroll 14
          for (int t = 0; t < NT; t++) {
            NC_VEC xb = NC_SET1(checked ? xt[t][l] : xp[t * xs + l]);
#pragma GCC unroll 4
            for (int b = 0; b < NB; b++) acc[b][t] = NC_FMA(xb, wv[b], acc[b][t]);
          }
        }
      }
    }
  }
  acc_end(c, NB, NT, yp, plane, last, acc);
}

/* The flat 1x1 tile of a blocked input (sn_nchwc_flat: input pixel p for output pixel p): NB blocks x
 * NT pixels from pixel p0, only the input block loop around the lanes, one pointer per weight block
 * stepped per input block (conv_tile's tap loops kept its weight offsets spilled to the stack), the
 * next tile's pixels of each input block fetched ahead as there. */
AI void flat_tile(const conv_ctx *c, int NB, int NT, int64_t cb0, int64_t p0, int64_t c0, int64_t c1, bool first,
                  bool last) {
  const sn_nchwc_conv_geom *g = c->g;
  const int64_t plane = g->oh * g->ow * V, ipl = g->ih * g->iw * V;
  float *yp = c->y + cb0 * plane + p0 * V;
  NC_VEC acc[4][14];
  acc_start(c, NB, NT, yp, plane, cb0, first, acc);
  const float *xp = c->x + c0 * ipl + p0 * V;
  const float *wp[4];
#pragma GCC unroll 4
  for (int b = 0; b < NB; b++) wp[b] = c->w + (cb0 + b) * c->wstride + (c0 - c->wlo) * V * V;
  for (int64_t ci = c0; ci < c1; ci++) {
#pragma GCC unroll 14
    for (int t = 0; t < NT; t++) __builtin_prefetch(xp + (NT + t) * V, 0, 3);
#pragma GCC unroll 4
    for (int l = 0; l < V; l++) {
      NC_VEC wv[4];
#pragma GCC unroll 4
      for (int b = 0; b < NB; b++) wv[b] = NC_LOAD(wp[b] + l * V);
#pragma GCC unroll 14
      for (int t = 0; t < NT; t++) {
        NC_VEC xb = NC_SET1(xp[t * V + l]);
#pragma GCC unroll 4
        for (int b = 0; b < NB; b++) acc[b][t] = NC_FMA(xb, wv[b], acc[b][t]);
      }
    }
    xp += ipl;
#pragma GCC unroll 4
    for (int b = 0; b < NB; b++) wp[b] += V * V;
  }
  acc_end(c, NB, NT, yp, plane, last, acc);
}

typedef void (*tile_fn)(const conv_ctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, bool first,
                        bool last);

#define TILE(NB, NT)                                                                                          \
  static void tile_##NB##x##NT(const conv_ctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, \
                               bool first, bool last) {                                                       \
    conv_tile(c, V, NB, NT, false, cb0, oy, ox0, c0, c1, first, last);                                        \
  }                                                                                                           \
  static void ctile_##NB##x##NT(const conv_ctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, \
                                bool first, bool last) {                                                      \
    conv_tile(c, V, NB, NT, true, cb0, oy, ox0, c0, c1, first, last);                                         \
  }                                                                                                           \
  static void ftile_##NB##x##NT(const conv_ctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, \
                                bool first, bool last) {                                                      \
    (void)oy;                                                                                                 \
    flat_tile(c, NB, NT, cb0, ox0, c0, c1, first, last);                                                      \
  }
#define TILE1(NB, NT)                                                                                         \
  static void nchw_##NB##x##NT(const conv_ctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, \
                               bool first, bool last) {                                                       \
    conv_tile(c, 1, NB, NT, false, cb0, oy, ox0, c0, c1, first, last);                                        \
  }                                                                                                           \
  static void cnchw_##NB##x##NT(const conv_ctx *c, int64_t cb0, int64_t oy, int64_t ox0, int64_t c0, int64_t c1, \
                                bool first, bool last) {                                                      \
    conv_tile(c, 1, NB, NT, true, cb0, oy, ox0, c0, c1, first, last);                                         \
  }

NC_TILES /* the ISA file lists the tile instances and the tables tiles[][], ctiles[][] (checked), ftiles[][]
          * (flat), max_nt[], nchw_tiles[][], nchw_ctiles[][], nchw_max_nt[] */

/* a depthwise tile's NT sums stored as pixels [ox0, ox0 + NT) of row oy of block cb, with the residual
 * and the activation */
AI void dw_store(const sn_nchwc_conv_geom *g, const NC_VEC *acc, float *y, const float *res, const int NT, int64_t cb,
                 int64_t oy, int64_t ox0) {
  const int64_t off = ((cb * g->oh + oy) * g->ow + ox0) * V;
#pragma GCC unroll 16
  for (int t = 0; t < NT; t++) {
    NC_VEC v = acc[t];
    if (res) v = NC_ADD(v, NC_LOAD(res + off + t * V));
    NC_STORE(y + off + t * V, act_v(g, v));
  }
}

/* depthwise: NT pixels of block cb */
AI void dw_tile(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, const float *res, int NT,
                bool checked, int64_t cb, int64_t oy, int64_t ox0) {
  NC_VEC acc[16];
  const NC_VEC bias = g->bias ? NC_LOAD(g->bias + cb * V) : NC_ZERO();
#pragma GCC unroll 16
  for (int t = 0; t < NT; t++) acc[t] = bias;
  const float *xc = x + cb * g->ih * g->iw * V;
  const float *wc = w + cb * g->kh * g->kw * V;
  const int64_t xs = g->sw * V;
  for (int64_t ky = 0; ky < g->kh; ky++) {
    const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
    if (iy < 0 || iy >= g->ih) continue;
    const float *xr = xc + iy * g->iw * V;
    for (int64_t kx = 0; kx < g->kw; kx++) {
      const int64_t ix = ox0 * g->sw - g->pw + kx * g->dw;
      const NC_VEC wv = NC_LOAD(wc + (ky * g->kw + kx) * V);
      const float *xp = xr + ix * V;
#pragma GCC unroll 16
      for (int t = 0; t < NT; t++) {
        const int64_t it = ix + t * g->sw;
        const float *p = !checked ? xp + t * xs : it < 0 || it >= g->iw ? nc_zeros : xr + it * V;
        acc[t] = NC_FMA(NC_LOAD(p), wv, acc[t]);
      }
    }
  }
  dw_store(g, acc, y, res, NT, cb, oy, ox0);
}

typedef void (*dw_fn)(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, const float *res,
                      int64_t cb, int64_t oy, int64_t ox0);
#define DW(NT)                                                                                                 \
  static void dw_##NT(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, const float *res, \
                      int64_t cb, int64_t oy, int64_t ox0) {                                                   \
    dw_tile(g, x, w, y, res, NT, false, cb, oy, ox0);                                                          \
  }
#define DWC(NT)                                                                                                 \
  static void dwc_##NT(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, const float *res, \
                       int64_t cb, int64_t oy, int64_t ox0) {                                                   \
    dw_tile(g, x, w, y, res, NT, true, cb, oy, ox0);                                                            \
  }
DW(1) DW(2) DW(3) DW(4) DW(5) DW(6) DW(7) DW(8)
DWC(1) DWC(2) DWC(3) DWC(4) DWC(5) DWC(6) DWC(7) DWC(8)
static const dw_fn dws[8] = {dw_1, dw_2, dw_3, dw_4, dw_5, dw_6, dw_7, dw_8};
static const dw_fn dwcs[8] = {dwc_1, dwc_2, dwc_3, dwc_4, dwc_5, dwc_6, dwc_7, dwc_8};

/* Depthwise tile of NT pixels [ox0, ox0 + NT) (NT <= 8) of row oy of block cb, for a kernel KW wide at
 * stride SW (dilation 1; (NT - 1) SW + KW <= 19): each kernel row's input vectors are loaded once into
 * registers and shared by the taps of that row ((NT - 1) SW + KW loads feed NT KW FMAs, where dw_tile
 * loads one vector per FMA). checked: input columns left or right of the row read as zeros (the test
 * is per loaded vector, not per tap), so a row's padded ends take the same kernel as its interior. */
AI void dw_rt(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, const float *res, const int KW,
              const int SW, const int NT, const bool checked, int64_t cb, int64_t oy, int64_t ox0) {
  const float *xc = x + cb * g->ih * g->iw * V;
  const float *wc = w + cb * g->kh * KW * V;
  const NC_VEC bias = g->bias ? NC_LOAD(g->bias + cb * V) : NC_ZERO();
  const int64_t ix0 = ox0 * SW - g->pw;
  NC_VEC acc[8];
#pragma GCC unroll 8
  for (int t = 0; t < NT; t++) acc[t] = bias;
  for (int64_t ky = 0; ky < g->kh; ky++) {
    const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
    if (iy < 0 || iy >= g->ih) continue;
    const float *xr = xc + iy * g->iw * V;
    const float *wp = wc + ky * KW * V;
    NC_VEC xv[7 * 2 + 5];
#pragma GCC unroll 19
    for (int i = 0; i < (NT - 1) * SW + KW; i++) {
      const int64_t ix = ix0 + i;
      xv[i] = !checked || (ix >= 0 && ix < g->iw) ? NC_LOAD(xr + ix * V) : NC_ZERO();
    }
#pragma GCC unroll 7
    for (int kx = 0; kx < KW; kx++) {
      const NC_VEC wv = NC_LOAD(wp + kx * V);
#pragma GCC unroll 8
      for (int t = 0; t < NT; t++) acc[t] = NC_FMA(xv[t * SW + kx], wv, acc[t]);
    }
  }
  dw_store(g, acc, y, res, NT, cb, oy, ox0);
}

#define DWRT1(KW, SW, NT, C)                                                                                  \
  static void dw_rt_##KW##_##SW##_##NT##_##C(const sn_nchwc_conv_geom *g, const float *x, const float *w,   \
                                             float *y, const float *res, int64_t cb, int64_t oy, int64_t ox0) { \
    dw_rt(g, x, w, y, res, KW, SW, NT, C, cb, oy, ox0);                                                       \
  }
#define DWRT(KW, SW)                                                                                          \
  DWRT1(KW, SW, 1, 0) DWRT1(KW, SW, 2, 0) DWRT1(KW, SW, 3, 0) DWRT1(KW, SW, 4, 0) DWRT1(KW, SW, 5, 0)          \
  DWRT1(KW, SW, 6, 0) DWRT1(KW, SW, 7, 0) DWRT1(KW, SW, 8, 0) DWRT1(KW, SW, 1, 1) DWRT1(KW, SW, 2, 1)          \
  DWRT1(KW, SW, 3, 1) DWRT1(KW, SW, 4, 1) DWRT1(KW, SW, 5, 1) DWRT1(KW, SW, 6, 1) DWRT1(KW, SW, 7, 1)          \
  DWRT1(KW, SW, 8, 1)                                                                                         \
  static const dw_fn dw_rt_##KW##_##SW[2][8] = {                                                           \
      {dw_rt_##KW##_##SW##_1_0, dw_rt_##KW##_##SW##_2_0, dw_rt_##KW##_##SW##_3_0, dw_rt_##KW##_##SW##_4_0,     \
       dw_rt_##KW##_##SW##_5_0, dw_rt_##KW##_##SW##_6_0, dw_rt_##KW##_##SW##_7_0, dw_rt_##KW##_##SW##_8_0},    \
      {dw_rt_##KW##_##SW##_1_1, dw_rt_##KW##_##SW##_2_1, dw_rt_##KW##_##SW##_3_1, dw_rt_##KW##_##SW##_4_1,     \
       dw_rt_##KW##_##SW##_5_1, dw_rt_##KW##_##SW##_6_1, dw_rt_##KW##_##SW##_7_1, dw_rt_##KW##_##SW##_8_1}};
DWRT(3, 1) DWRT(3, 2) DWRT(5, 1) DWRT(5, 2) DWRT(7, 1)

/* The row tiles for g ([0]: unchecked, [1]: checked), or NULL where dw_tile takes every pixel. */
static const dw_fn (*dw_rt_for(const sn_nchwc_conv_geom *g))[8] {
  if (g->dw != 1) return NULL;
  if (g->kw == 3) return g->sw == 1 ? dw_rt_3_1 : g->sw == 2 ? dw_rt_3_2 : NULL;
  if (g->kw == 5) return g->sw == 1 ? dw_rt_5_1 : g->sw == 2 ? dw_rt_5_2 : NULL;
  if (g->kw == 7) return g->sw == 1 ? dw_rt_7_1 : NULL; /* (ConvNeXt) */
  return NULL;
}

void NC_CONV(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, int64_t t0, int64_t t1) {
  int64_t rpi, bpi;
  sn_nchwc_conv_items(g, &rpi, &bpi);
  const int64_t row_items = (g->oh + rpi - 1) / rpi, groups = (g->cbo + bpi - 1) / bpi;
  const int64_t K = g->kh * g->kw;
  int64_t lo, hi;
  sn_nchwc_interior(g, &lo, &hi);
  const int64_t BI = g->in_block;
  const bool flat = sn_nchwc_flat(g);
  /* input blocks per chunk: the chunk's weights for one register tile's blocks near 128 KiB */
  const int64_t wstride = g->depthwise ? 0 : sn_nchwc_weight_stride(g);
  const int64_t span = g->depthwise ? 1 : wstride / (K * BI * V);
  int64_t tb = bpi < NC_NB_MAX ? bpi : NC_NB_MAX;
  int64_t chunk = (128 * 1024 / 4) / (tb * K * BI * V);
  if (chunk < 1) chunk = 1;
  if (chunk > span) chunk = span;
  /* even chunks */
  int64_t nch = (span + chunk - 1) / chunk;
  chunk = (span + nch - 1) / nch;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / (groups * row_items), gi = (t / row_items) % groups, ri = t % row_items;
    const int64_t cb0 = gi * bpi, nb = cb0 + bpi < g->cbo ? bpi : g->cbo - cb0;
    const int64_t r0 = ri * rpi, r1 = r0 + rpi < g->oh ? r0 + rpi : g->oh;
    const float *xn = x + n * g->cbi * g->ih * g->iw * BI;
    float *yn = y + n * g->cbo * g->oh * g->ow * V;
    const float *rn = g->res ? g->res + (yn - y) : NULL;
    if (g->depthwise) {
      const dw_fn(*rt)[8] = dw_rt_for(g);
      for (int64_t cb = cb0; cb < cb0 + nb; cb++)
        for (int64_t oy = r0; oy < r1; oy++) {
          if (rt) { /* tiles of up to 8 pixels, even widths; those reaching a padded column checked */
            for (int64_t ox = 0, k; ox < g->ow; ox += k) {
              k = sn_nchwc_even_tile(g->ow, 8, ox);
              rt[ox < lo || ox + k > hi][k - 1](g, xn, w, yn, rn, cb, oy, ox);
            }
            continue;
          }
          for (int64_t ox = 0; ox < g->ow;) {
            const int64_t k = g->ow - ox < 8 ? g->ow - ox : 8;
            (ox < lo || ox + k > hi ? dwcs : dws)[k - 1](g, xn, w, yn, rn, cb, oy, ox);
            ox += k;
          }
        }
      continue;
    }
    conv_ctx c = {g, xn, w, yn, rn, wstride, 0};
    /* the item's blocks in register tiles of at most NC_NB_MAX blocks that read the same input blocks
     * [blo, bhi) (every input block, except in a grouped convolution) */
    for (int64_t sb = cb0, snb; sb < cb0 + nb; sb += snb) {
      int64_t blo, bhi, l2, h2; /* (lo, hi above: the interior columns) */
      sn_nchwc_group_range(g, sb, &blo, &bhi);
      for (snb = 1; snb < NC_NB_MAX && sb + snb < cb0 + nb; snb++) {
        sn_nchwc_group_range(g, sb + snb, &l2, &h2);
        if (l2 != blo || h2 != bhi) break;
      }
      c.wlo = blo;
      const tile_fn *row = BI == 1 ? nchw_tiles[snb - 1] : tiles[snb - 1];
      const tile_fn *crow = BI == 1 ? nchw_ctiles[snb - 1] : ctiles[snb - 1];
      const int mt = BI == 1 ? nchw_max_nt[snb - 1] : max_nt[snb - 1];
      for (int64_t c0 = blo; c0 < bhi; c0 += chunk) {
        const int64_t c1 = c0 + chunk < bhi ? c0 + chunk : bhi;
        const bool first = c0 == blo, last = c1 == bhi;
        if (flat) { /* the item's rows as one row of pixels */
          const int64_t p0 = r0 * g->ow, len = (r1 - r0) * g->ow;
          for (int64_t i = 0, ox = p0, k; i < len; i += k, ox += k) {
            k = sn_nchwc_even_tile(len, mt, i);
            (BI == V ? ftiles[snb - 1] : row)[k - 1](&c, sb, 0, ox, c0, c1, first, last);
          }
          continue;
        }
        for (int64_t oy = r0; oy < r1; oy++)
          for (int64_t ox = 0, k; ox < g->ow; ox += k) {
            k = sn_nchwc_even_tile(g->ow, mt, ox);
            /* tiles that reach a padded column read zeros there */
            (ox < lo || ox + k > hi ? crow : row)[k - 1](&c, sb, oy, ox, c0, c1, first, last);
          }
      }
    }
  }
}

/* taps [lo, hi) of a window starting at s0 (stride of taps d, k taps) that land inside [0, n) */
static inline void tap_range(int64_t s0, int64_t d, int64_t k, int64_t n, int64_t *lo, int64_t *hi) {
  int64_t l = s0 >= 0 ? 0 : (-s0 + d - 1) / d;
  int64_t h = n - s0 > 0 ? (n - s0 + d - 1) / d : 0;
  if (h > k) h = k;
  if (l > h) l = h;
  *lo = l, *hi = h;
}

void NC_POOL(const sn_nchwc_pool_geom *g, const float *x, float *y, int64_t t0, int64_t t1) {
  for (int64_t t = t0; t < t1; t++) {
    const float *xp = x + t * g->ih * g->iw * V;
    float *yp = y + t * g->oh * g->ow * V;
    for (int64_t oy = 0; oy < g->oh; oy++) {
      const int64_t y0 = oy * g->sh - g->ph;
      int64_t ky0, ky1;
      tap_range(y0, g->dh, g->kh, g->ih, &ky0, &ky1);
      for (int64_t ox = 0; ox < g->ow; ox++) {
        const int64_t x0 = ox * g->sw - g->pw;
        int64_t kx0, kx1;
        tap_range(x0, g->dw, g->kw, g->iw, &kx0, &kx1);
        NC_VEC acc;
        if (g->max) {
          acc = NC_SET1(-__builtin_inff());
          for (int64_t ky = ky0; ky < ky1; ky++) {
            const float *row = xp + (y0 + ky * g->dh) * g->iw * V;
            for (int64_t kx = kx0; kx < kx1; kx++) acc = NC_MAX_NAN(NC_LOAD(row + (x0 + kx * g->dw) * V), acc);
          }
        } else {
          acc = NC_ZERO();
          for (int64_t ky = ky0; ky < ky1; ky++) {
            const float *row = xp + (y0 + ky * g->dh) * g->iw * V;
            for (int64_t kx = kx0; kx < kx1; kx++) acc = NC_ADD(acc, NC_LOAD(row + (x0 + kx * g->dw) * V));
          }
          int64_t cnt = (ky1 - ky0) * (kx1 - kx0);
          if (g->count_include_pad) {
            int64_t y1 = y0 + (g->kh - 1) * g->dh + 1, x1 = x0 + (g->kw - 1) * g->dw + 1;
            int64_t ye = g->ih + g->pad_end_h, xe = g->iw + g->pad_end_w;
            int64_t hy = (y1 < ye ? y1 : ye) - y0, hx = (x1 < xe ? x1 : xe) - x0;
            cnt = ((hy + g->dh - 1) / g->dh) * ((hx + g->dw - 1) / g->dw);
          }
          acc = NC_MUL(acc, NC_SET1(cnt ? 1.f / (float)cnt : 0.f));
        }
        NC_STORE(yp + (oy * g->ow + ox) * V, acc);
      }
    }
  }
}

void NC_GAVG(const float *x, float *y, int64_t hw, int64_t t0, int64_t t1) {
  const NC_VEC inv = NC_SET1(hw ? 1.f / (float)hw : 0.f);
  for (int64_t t = t0; t < t1; t++) {
    const float *xp = x + t * hw * V;
    NC_VEC a0 = NC_ZERO(), a1 = NC_ZERO(), a2 = NC_ZERO(), a3 = NC_ZERO();
    int64_t p = 0;
    for (; p + 4 <= hw; p += 4) {
      a0 = NC_ADD(a0, NC_LOAD(xp + p * V));
      a1 = NC_ADD(a1, NC_LOAD(xp + (p + 1) * V));
      a2 = NC_ADD(a2, NC_LOAD(xp + (p + 2) * V));
      a3 = NC_ADD(a3, NC_LOAD(xp + (p + 3) * V));
    }
    for (; p < hw; p++) a0 = NC_ADD(a0, NC_LOAD(xp + p * V));
    NC_STORE(y + t * V, NC_MUL(NC_ADD(NC_ADD(a0, a1), NC_ADD(a2, a3)), inv));
  }
}

void NC_AFFINE(const float *x, const float *a, const float *b, float *y, int64_t cb, int64_t hw, bool relu, int64_t t0,
               int64_t t1) {
  for (int64_t t = t0; t < t1; t++) {
    const NC_VEC av = NC_LOAD(a + (t % cb) * V), bv = NC_LOAD(b + (t % cb) * V), z = NC_ZERO();
    const float *xp = x + t * hw * V;
    float *yp = y + t * hw * V;
    if (relu) /* (max(v, 0) gives its second operand, 0, where v is NaN) */
      for (int64_t p = 0; p < hw; p++) NC_STORE(yp + p * V, NC_MAX(NC_FMA(NC_LOAD(xp + p * V), av, bv), z));
    else
      for (int64_t p = 0; p < hw; p++) NC_STORE(yp + p * V, NC_FMA(NC_LOAD(xp + p * V), av, bv));
  }
}
