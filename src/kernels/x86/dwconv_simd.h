/* Depthwise 2-D convolution body shared by the AVX2 and AVX-512 files: vectors along the output
 * width, interior columns without bounds checks, scalar borders. The including file defines the
 * vector macros (DW_V lanes, DW_VEC, DW_IDX, DW_MASK and the operations below) and DW_NAME. */
#include "kernels/dwconv.h"

#define DW_CAT2(a, b) a##b
#define DW_CAT(a, b) DW_CAT2(a, b)
#define DW_FN(n) DW_CAT(DW_NAME, n)
#define DW_INLINE static inline __attribute__((always_inline))

/* DW_V inputs for DW_V consecutive outputs: mode 1 stride 1, mode 2 stride 2, mode 3 any stride (gather) */
DW_INLINE DW_VEC DW_FN(_ld)(const float *p, int mode, DW_IDX gidx) {
  if (mode == 1) return DW_LOADU(p);
  if (mode == 2) return DW_LOAD_S2(p);
  return DW_GATHER(p, gidx);
}

typedef struct DW_FN(_row) {
  const float *xc, *wc;
  int64_t iw, kw, dw, dh, iy0, ky0, ky1, pl, sw;
  float bias;
} DW_FN(_row);

/* output columns [x0, x1) with every tap checked (borders) */
static void DW_FN(_border)(const DW_FN(_row) *r, float *yr, int64_t x0, int64_t x1) {
  for (int64_t ox = x0; ox < x1; ox++) {
    float s = r->bias;
    int64_t ix0 = ox * r->sw - r->pl;
    for (int64_t ky = r->ky0; ky < r->ky1; ky++) {
      const float *xr = r->xc + (r->iy0 + ky * r->dh) * r->iw;
      const float *wr = r->wc + ky * r->kw;
      for (int64_t kx = 0; kx < r->kw; kx++) {
        int64_t ix = ix0 + kx * r->dw;
        if (ix >= 0 && ix < r->iw) s += wr[kx] * xr[ix];
      }
    }
    yr[ox] = s;
  }
}

/* one vector of outputs at column ox, all taps inside the image */
DW_INLINE DW_VEC DW_FN(_vec1)(const DW_FN(_row) *r, int64_t ox, int mode, DW_IDX gidx) {
  DW_VEC a = DW_SET1(r->bias);
  for (int64_t ky = r->ky0; ky < r->ky1; ky++) {
    const float *xr = r->xc + (r->iy0 + ky * r->dh) * r->iw + ox * r->sw - r->pl;
    const float *wr = r->wc + ky * r->kw;
    for (int64_t kx = 0; kx < r->kw; kx++) a = DW_FMA(DW_SET1(wr[kx]), DW_FN(_ld)(xr + kx * r->dw, mode, gidx), a);
  }
  return a;
}

/* interior columns [xl, xr): four vectors at a time, then one, then an overlapping or masked tail */
DW_INLINE void DW_FN(_interior)(const DW_FN(_row) *r, float *yr, int64_t xl, int64_t xr, int mode, DW_IDX gidx) {
  const int64_t vs = DW_V * r->sw;
  int64_t ox = xl;
  for (; ox + 4 * DW_V <= xr; ox += 4 * DW_V) {
    DW_VEC a0 = DW_SET1(r->bias), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t ky = r->ky0; ky < r->ky1; ky++) {
      const float *xrow = r->xc + (r->iy0 + ky * r->dh) * r->iw + ox * r->sw - r->pl;
      const float *wr = r->wc + ky * r->kw;
      for (int64_t kx = 0; kx < r->kw; kx++) {
        DW_VEC wv = DW_SET1(wr[kx]);
        const float *p = xrow + kx * r->dw;
        a0 = DW_FMA(wv, DW_FN(_ld)(p, mode, gidx), a0);
        a1 = DW_FMA(wv, DW_FN(_ld)(p + vs, mode, gidx), a1);
        a2 = DW_FMA(wv, DW_FN(_ld)(p + 2 * vs, mode, gidx), a2);
        a3 = DW_FMA(wv, DW_FN(_ld)(p + 3 * vs, mode, gidx), a3);
      }
    }
    DW_STOREU(yr + ox, a0);
    DW_STOREU(yr + ox + DW_V, a1);
    DW_STOREU(yr + ox + 2 * DW_V, a2);
    DW_STOREU(yr + ox + 3 * DW_V, a3);
  }
  for (; ox + DW_V <= xr; ox += DW_V) DW_STOREU(yr + ox, DW_FN(_vec1)(r, ox, mode, gidx));
  if (ox >= xr) return;
  if (xr - xl >= DW_V) { /* recompute the last full vector; overlapping outputs get the same values */
    DW_STOREU(yr + xr - DW_V, DW_FN(_vec1)(r, xr - DW_V, mode, gidx));
    return;
  }
  DW_MASK m = DW_MASK_MAKE(xr - ox);
  DW_VEC a = DW_SET1(r->bias);
  for (int64_t ky = r->ky0; ky < r->ky1; ky++) {
    const float *xrow = r->xc + (r->iy0 + ky * r->dh) * r->iw + ox * r->sw - r->pl;
    const float *wr = r->wc + ky * r->kw;
    for (int64_t kx = 0; kx < r->kw; kx++) {
      const float *p = xrow + kx * r->dw;
      DW_VEC v = mode == 1 ? DW_PLOAD1(p, m) : mode == 2 ? DW_PLOAD_S2(p, xr - ox) : DW_PGATHER(p, gidx, m);
      a = DW_FMA(DW_SET1(wr[kx]), v, a);
    }
  }
  DW_PSTORE(yr + ox, a, m);
}

/* 3x3 window with all three rows inside the image: the nine weights stay in registers */
DW_INLINE void DW_FN(_interior3x3)(const DW_FN(_row) *r, float *yr, int64_t xl, int64_t xr, int mode, DW_IDX gidx,
                                   const DW_VEC *wv) {
  const int64_t vs = DW_V * r->sw, dw = r->dw;
  const float *r0 = r->xc + r->iy0 * r->iw - r->pl + xl * r->sw; /* xl * sw >= pl: inside the plane */
  const float *r1 = r0 + r->dh * r->iw, *r2 = r1 + r->dh * r->iw;
  const DW_VEC vb = DW_SET1(r->bias);
  int64_t ox = xl;
#define DW_LDX(p) DW_FN(_ld)(p, mode, gidx)
#define DW_TAP3(a, rp, k, off)                                                                                   \
  a = DW_FMA(wv[k], DW_LDX(rp + (off)), a);                                                                      \
  a = DW_FMA(wv[k + 1], DW_LDX(rp + (off) + dw), a);                                                             \
  a = DW_FMA(wv[k + 2], DW_LDX(rp + (off) + 2 * dw), a)
#define DW_WIN3(a, off)                                                                                          \
  DW_TAP3(a, r0, 0, off);                                                                                        \
  DW_TAP3(a, r1, 3, off);                                                                                        \
  DW_TAP3(a, r2, 6, off)
  for (; ox + 4 * DW_V <= xr; ox += 4 * DW_V) {
    const int64_t o = (ox - xl) * r->sw;
    DW_VEC a0 = vb, a1 = vb, a2 = vb, a3 = vb;
    DW_WIN3(a0, o);
    DW_WIN3(a1, o + vs);
    DW_WIN3(a2, o + 2 * vs);
    DW_WIN3(a3, o + 3 * vs);
    DW_STOREU(yr + ox, a0);
    DW_STOREU(yr + ox + DW_V, a1);
    DW_STOREU(yr + ox + 2 * DW_V, a2);
    DW_STOREU(yr + ox + 3 * DW_V, a3);
  }
  for (; ox + DW_V <= xr; ox += DW_V) {
    DW_VEC a = vb;
    DW_WIN3(a, (ox - xl) * r->sw);
    DW_STOREU(yr + ox, a);
  }
  if (ox < xr && xr - xl >= DW_V) {
    DW_VEC a = vb;
    DW_WIN3(a, (xr - DW_V - xl) * r->sw);
    DW_STOREU(yr + xr - DW_V, a);
    ox = xr;
  }
  if (ox < xr) { /* narrower than a vector: masked loads and store */
    const int64_t n = xr - ox;
    const DW_MASK m = DW_MASK_MAKE(n);
#undef DW_LDX
#define DW_LDX(p) (mode == 1 ? DW_PLOAD1(p, m) : mode == 2 ? DW_PLOAD_S2(p, n) : DW_PGATHER(p, gidx, m))
    DW_VEC a = vb;
    DW_WIN3(a, (ox - xl) * r->sw);
    DW_PSTORE(yr + ox, a, m);
  }
#undef DW_WIN3
#undef DW_TAP3
#undef DW_LDX
}

/* two output rows at once (3x3, stride 1 and dilation 1 vertically, stride 1 horizontally, all four
 * input rows inside the image): each input vector is loaded once for both rows; the columns left
 * over go through the one-row path */
/* U vectors of both rows at column offset o from the rows' starts */
DW_INLINE void DW_FN(_two_rows)(const float *r0, int64_t iw, int64_t dw, int64_t o, const DW_VEC *wv, DW_VEC vb,
                                float *ya, float *yb, const int U) {
  const float *r1 = r0 + iw, *r2 = r1 + iw, *r3 = r2 + iw;
  DW_VEC a[DW_U2], b[DW_U2];
  for (int u = 0; u < U; u++) a[u] = b[u] = vb;
  for (int kx = 0; kx < 3; kx++)
    for (int u = 0; u < U; u++) {
      const int64_t q = o + u * DW_V + kx * dw;
      DW_VEC v0 = DW_LOADU(r0 + q), v1 = DW_LOADU(r1 + q), v2 = DW_LOADU(r2 + q), v3 = DW_LOADU(r3 + q);
      a[u] = DW_FMA(wv[kx], v0, a[u]);
      b[u] = DW_FMA(wv[kx], v1, b[u]);
      a[u] = DW_FMA(wv[3 + kx], v1, a[u]);
      b[u] = DW_FMA(wv[3 + kx], v2, b[u]);
      a[u] = DW_FMA(wv[6 + kx], v2, a[u]);
      b[u] = DW_FMA(wv[6 + kx], v3, b[u]);
    }
  for (int u = 0; u < U; u++) {
    DW_STOREU(ya + u * DW_V, a[u]);
    DW_STOREU(yb + u * DW_V, b[u]);
  }
}

/* two output rows at once (3x3, stride 1 and dilation 1 vertically, stride 1 horizontally, all four
 * input rows inside the image): each input vector is loaded once for both rows; a tail narrower
 * than a vector goes through the one-row path */
static void DW_FN(_interior3x3x2)(DW_FN(_row) *r, float *ya, float *yb, int64_t xl, int64_t xr, DW_IDX gidx,
                                  const DW_VEC *wv) {
  const int64_t dw = r->dw, iw = r->iw;
  const float *r0 = r->xc + r->iy0 * iw - r->pl + xl; /* xl >= pad_l */
  const DW_VEC vb = DW_SET1(r->bias);
  int64_t ox = xl;
  for (; ox + DW_U2 * DW_V <= xr; ox += DW_U2 * DW_V)
    DW_FN(_two_rows)(r0, iw, dw, ox - xl, wv, vb, ya + ox, yb + ox, DW_U2);
  for (; ox + DW_V <= xr; ox += DW_V) DW_FN(_two_rows)(r0, iw, dw, ox - xl, wv, vb, ya + ox, yb + ox, 1);
  if (ox < xr && xr - xl >= DW_V) { /* overlapping last vector */
    DW_FN(_two_rows)(r0, iw, dw, xr - DW_V - xl, wv, vb, ya + xr - DW_V, yb + xr - DW_V, 1);
    ox = xr;
  }
  if (ox < xr) {
    DW_FN(_interior3x3)(r, ya, ox, xr, 1, gidx, wv);
    r->iy0 += 1;
    DW_FN(_interior3x3)(r, yb, ox, xr, 1, gidx, wv);
    r->iy0 -= 1;
  }
}

/* one channel plane: xc (in_h x in_w) -> yc (oh x ow) */
static void DW_FN(_plane)(const sn_dwconv2d_geom *g, const float *xc, const float *wc, float bias, float *yc) {
  const int64_t ih = g->in_h, iw = g->in_w, kh = g->k_h, kw = g->k_w, sh = g->stride_h, sw = g->stride_w;
  const int64_t dh = g->dil_h, dw = g->dil_w, oh = sn_dwconv2d_out_h(g), ow = sn_dwconv2d_out_w(g);
  if (oh <= 0 || ow <= 0) return;
  /* interior columns: ox * sw - pad_l >= 0 and ox * sw - pad_l + (kw - 1) * dw <= iw - 1 */
  int64_t xl = g->pad_l <= 0 ? 0 : (g->pad_l + sw - 1) / sw;
  int64_t lim = iw - 1 - (kw - 1) * dw + g->pad_l;
  int64_t xr = lim < 0 ? 0 : lim / sw + 1;
  if (xl > ow) xl = ow;
  if (xr > ow) xr = ow;
  if (xr < xl) xr = xl;
  const int mode = sw == 1 ? 1 : sw == 2 ? 2 : 3;
  DW_IDX gidx = DW_IDX_MAKE(sw);
  DW_FN(_row) r;
  r.xc = xc;
  r.wc = wc;
  r.iw = iw, r.kw = kw, r.dw = dw, r.dh = dh, r.pl = g->pad_l, r.sw = sw;
  r.bias = bias;
  const int k3 = kh == 3 && kw == 3;
  DW_VEC wv[9];
  for (int k = 0; k < 9; k++) wv[k] = DW_SET1(k3 ? wc[k] : 0.f);
  for (int64_t oy = 0; oy < oh; oy++) {
    float *yr = yc + oy * ow;
    r.iy0 = oy * sh - g->pad_t;
    r.ky0 = r.iy0 >= 0 ? 0 : (-r.iy0 + dh - 1) / dh;
    r.ky1 = r.iy0 < ih ? (ih - 1 - r.iy0) / dh + 1 : 0;
    if (r.ky1 > kh) r.ky1 = kh;
    if (r.ky0 > r.ky1) r.ky0 = r.ky1;
    if (k3 && mode == 1 && sh == 1 && dh == 1 && r.iy0 >= 0 && r.iy0 + 3 < ih && oy + 1 < oh && xl < xr) {
      DW_FN(_border)(&r, yr, 0, xl);
      DW_FN(_border)(&r, yr, xr, ow);
      DW_FN(_interior3x3x2)(&r, yr, yr + ow, xl, xr, gidx, wv);
      r.iy0 += 1;
      DW_FN(_border)(&r, yr + ow, 0, xl);
      DW_FN(_border)(&r, yr + ow, xr, ow);
      oy++;
      continue;
    }
    DW_FN(_border)(&r, yr, 0, xl);
    if (k3 && r.ky0 == 0 && r.ky1 == 3 && xl < xr) {
      if (mode == 1)
        DW_FN(_interior3x3)(&r, yr, xl, xr, 1, gidx, wv);
      else if (mode == 2)
        DW_FN(_interior3x3)(&r, yr, xl, xr, 2, gidx, wv);
      else
        DW_FN(_interior3x3)(&r, yr, xl, xr, 3, gidx, wv);
    } else if (mode == 1)
      DW_FN(_interior)(&r, yr, xl, xr, 1, gidx);
    else if (mode == 2)
      DW_FN(_interior)(&r, yr, xl, xr, 2, gidx);
    else
      DW_FN(_interior)(&r, yr, xl, xr, 3, gidx);
    DW_FN(_border)(&r, yr, xr, ow);
  }
}

/* planes of at most this many floats once padded are copied with their zero padding first, so that
 * every output column takes the vector path (small planes are mostly border otherwise) */
#define DW_PAD_MAX 2048

void DW_NAME(const sn_dwconv2d_geom *g, const float *x, const float *w, const float *b, float *y, int64_t c0,
             int64_t c1) {
  const int64_t ih = g->in_h, iw = g->in_w, oh = sn_dwconv2d_out_h(g), ow = sn_dwconv2d_out_w(g);
  if (oh <= 0 || ow <= 0) return;
  const int64_t ph = ih + g->pad_t + g->pad_b, pw = iw + g->pad_l + g->pad_r;
  const int pad = g->pad_t > 0 || g->pad_l > 0 || g->pad_b > 0 || g->pad_r > 0;
  const int copy = pad && g->pad_t >= 0 && g->pad_l >= 0 && g->pad_b >= 0 && g->pad_r >= 0 && ph * pw <= DW_PAD_MAX;
  float buf[DW_PAD_MAX];
  sn_dwconv2d_geom pg = *g;
  if (copy) {
    pg.in_h = ph, pg.in_w = pw, pg.pad_t = pg.pad_l = pg.pad_b = pg.pad_r = 0;
    for (int64_t i = 0; i < ph * pw; i++) buf[i] = 0.f;
  }
  for (int64_t c = c0; c < c1; c++) {
    const float *xc = x + c * ih * iw;
    if (copy) {
      for (int64_t i = 0; i < ih; i++) {
        float *d = buf + (i + g->pad_t) * pw + g->pad_l;
        for (int64_t j = 0; j < iw; j++) d[j] = xc[i * iw + j];
      }
      DW_FN(_plane)(&pg, buf, w + c * g->k_h * g->k_w, b ? b[c] : 0.f, y + c * oh * ow);
    } else {
      DW_FN(_plane)(g, xc, w + c * g->k_h * g->k_w, b ? b[c] : 0.f, y + c * oh * ow);
    }
  }
}
