/* The grouped convolution kernel (kernels/gconv.h) over per-ISA macros, included by gconv_avx512.c and
 * gconv_avx2.c: GV (floats per vector), GVEC, G_SET1, G_LOADU, G_STOREU, G_FMA(a, b, c) = a * b + c,
 * G_STORE_N(p, v, n) (the first n lanes), G_NV(mb) (vectors per row tile for mb output channels: the
 * register budget), G_NAME. */
#include <string.h>

#include "kernels/gconv.h"

typedef struct gctx {
  const sn_gconv_geom *g;
  const float *xb; /* padded phase-split input of the group: [Cg][Hp][sw][Wq] */
  const float *wg; /* the group's weights as ONNX has them: [Mg][Cg][kh][kw] */
  int64_t Cg, Mg, Hp, Wq;
} gctx;

/* mb output channels from m0 x nv vectors of row oy from column ox0: y rows at yc + m * OH * OW */
static inline __attribute__((always_inline)) void tile(const int mb, const int nv, const gctx *c, int64_t m0,
                                                       int64_t oy, int64_t ox0, const float *bias, float *yc) {
  const sn_gconv_geom *g = c->g;
  GVEC acc[8][6];
#pragma GCC unroll 8
  for (int i = 0; i < mb; i++) {
    GVEC bv = G_SET1(bias ? bias[m0 + i] : 0.0f);
#pragma GCC unroll 6
    for (int v = 0; v < nv; v++) acc[i][v] = bv;
  }
  const int64_t plane = c->Hp * g->sw * c->Wq;
  for (int64_t ci = 0; ci < c->Cg; ci++)
    for (int64_t ky = 0; ky < g->kh; ky++) {
      const float *row = c->xb + ci * plane + (oy * g->sh + ky * g->dh) * g->sw * c->Wq + ox0;
      const int64_t ws = c->Cg * g->kh * g->kw; /* (between output channels; a group's weights sit in L1) */
      const float *wr = c->wg + (m0 * c->Cg + ci) * g->kh * g->kw + ky * g->kw;
      for (int64_t kx = 0; kx < g->kw; kx++) {
        const int64_t off = kx * g->dw;
        const float *xp = row + (off % g->sw) * c->Wq + off / g->sw;
        GVEC xv[6];
#pragma GCC unroll 6
        for (int v = 0; v < nv; v++) xv[v] = G_LOADU(xp + v * GV);
        const float *wp = wr + kx;
#pragma GCC unroll 8
        for (int i = 0; i < mb; i++) {
          GVEC wv = G_SET1(wp[i * ws]);
#pragma GCC unroll 6
          for (int v = 0; v < nv; v++) acc[i][v] = G_FMA(wv, xv[v], acc[i][v]);
        }
      }
    }
  const int64_t plane_out = g->OH * g->OW;
#pragma GCC unroll 8
  for (int i = 0; i < mb; i++) {
    float *yr = yc + (m0 + i) * plane_out + oy * g->OW + ox0;
#pragma GCC unroll 6
    for (int v = 0; v < nv; v++) {
      const int64_t left = g->OW - ox0 - v * GV;
      if (left >= GV)
        G_STOREU(yr + v * GV, acc[i][v]);
      else if (left > 0)
        G_STORE_N(yr + v * GV, acc[i][v], left);
    }
  }
}

#define G_TILE(MB, NV)                                                                                       \
  static void tile_##MB##_##NV(const gctx *c, int64_t m0, int64_t oy, int64_t ox0, const float *bias, float *yc) { \
    tile(MB, NV, c, m0, oy, ox0, bias, yc);                                                                \
  }
#define G_TILES(MB) G_TILE(MB, 1) G_TILE(MB, 2) G_TILE(MB, 3) G_TILE(MB, 4) G_TILE(MB, 5) G_TILE(MB, 6)
G_TILES(1)
G_TILES(2)
G_TILES(3)
G_TILES(4)
G_TILES(5)
G_TILES(6)
G_TILES(7)
G_TILES(8)
typedef void (*tile_fn)(const gctx *, int64_t, int64_t, int64_t, const float *, float *);
#define G_ROW(MB) {tile_##MB##_1, tile_##MB##_2, tile_##MB##_3, tile_##MB##_4, tile_##MB##_5, tile_##MB##_6}
/* tiles[mb - 1][nv - 1]; only nv <= G_NV(mb) are called (the rest would spill) */
static const tile_fn tiles[8][6] = {G_ROW(1), G_ROW(2), G_ROW(3), G_ROW(4), G_ROW(5), G_ROW(6), G_ROW(7), G_ROW(8)};

void G_NAME(const sn_gconv_geom *g, const float *x, const float *w, const float *b, float *y, int64_t t0, int64_t t1,
            float *scratch) {
  gctx c = {g, scratch, NULL, g->C / g->G, g->M / g->G, sn_gconv_rows(g), sn_gconv_row(g)};
  const int64_t sw = g->sw, Wq = c.Wq;
  float *xb = scratch;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / g->G, grp = t % g->G;
    const float *xg = x + (n * g->C + grp * c.Cg) * g->H * g->W;
    c.wg = w + grp * c.Mg * c.Cg * g->kh * g->kw;
    /* the input: padded, split into stride phases (element j of phase p is padded column j * sw + p) */
    for (int64_t ci = 0; ci < c.Cg; ci++)
      for (int64_t r = 0; r < c.Hp; r++) {
        const int64_t iy = r - g->ph;
        float *dst = xb + (ci * c.Hp + r) * sw * Wq;
        if (iy < 0 || iy >= g->H) {
          memset(dst, 0, sizeof(float) * (size_t)(sw * Wq));
          continue;
        }
        const float *src = xg + (ci * g->H + iy) * g->W;
        if (sw == 1) {
          const int64_t lead = g->pw < Wq ? g->pw : Wq, cnt = g->W < Wq - lead ? g->W : Wq - lead;
          memset(dst, 0, sizeof(float) * (size_t)lead);
          memcpy(dst + lead, src, sizeof(float) * (size_t)cnt);
          memset(dst + lead + cnt, 0, sizeof(float) * (size_t)(Wq - lead - cnt));
          continue;
        }
        memset(dst, 0, sizeof(float) * (size_t)(sw * Wq));
        for (int64_t p = 0; p < sw; p++) { /* j with 0 <= j * sw + p - pw < W */
          const int64_t j0 = g->pw - p > 0 ? (g->pw - p + sw - 1) / sw : 0;
          int64_t j1 = g->W - 1 + g->pw - p >= 0 ? (g->W - 1 + g->pw - p) / sw + 1 : 0;
          if (j1 > Wq) j1 = Wq;
          const float *sp = src + p - g->pw;
          for (int64_t j = j0; j < j1; j++) dst[p * Wq + j] = sp[j * sw];
        }
      }
    const float *bias = b ? b + grp * c.Mg : NULL;
    float *yc = y + (n * g->M + grp * c.Mg) * g->OH * g->OW;
    /* row tiles of up to G_NV(mb) vectors, the last one only as wide as the row needs (a 7-wide map
     * takes one vector, not three) */
    const int64_t nvec = (g->OW + GV - 1) / GV;
    for (int64_t oy = 0; oy < g->OH; oy++)
      for (int64_t m0 = 0; m0 < c.Mg; m0 += 8) {
        const int mb = (int)(c.Mg - m0 < 8 ? c.Mg - m0 : 8), nvmax = G_NV(mb);
        for (int64_t v0 = 0; v0 < nvec; v0 += nvmax) {
          const int nv = (int)(nvec - v0 < nvmax ? nvec - v0 : nvmax);
          tiles[mb - 1][nv - 1](&c, m0, oy, v0 * GV, bias, yc);
        }
      }
  }
}
