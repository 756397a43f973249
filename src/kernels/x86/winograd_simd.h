/* Winograd F(4x4, 3x3) transforms (see kernels/winograd.h) written once over a vector of WG_V
 * float lanes (the block), included by winograd_avx512.c (16 lanes) and winograd_avx2.c (8 lanes)
 * with the ISA's intrinsics:
 *   WG_V WG_VEC WG_LOAD(p) WG_STORE(p, v) WG_SET1(f) WG_ZERO() WG_FMA(a, b, c) (a * b + c)
 *   WG_ADD WG_SUB WG_MAX WG_MIN, and WG_IN / WG_OUT: the names of the entry points.
 * One channel block of one tile at a time: the 6 rows of the patch through the row transform into
 * a 6x6 buffer of vectors (L1), then its 6 columns through the column transform and out. */
#include "kernels/winograd.h"

#define AI static inline __attribute__((always_inline))

/* r[k * rs] = (B^T d)[k], d[k] the 6 inputs */
AI void wg_bt6(const WG_VEC d[6], WG_VEC r[6]) {
  const WG_VEC c4 = WG_SET1(4.f), cm4 = WG_SET1(-4.f), cm5 = WG_SET1(-5.f), c2 = WG_SET1(2.f);
  WG_VEC t0 = WG_FMA(cm4, d[2], d[4]), t1 = WG_FMA(cm4, d[1], d[3]);
  WG_VEC t2 = WG_SUB(d[4], d[2]), t3 = WG_MUL(c2, WG_SUB(d[3], d[1]));
  r[0] = WG_FMA(c4, d[0], WG_FMA(cm5, d[2], d[4]));
  r[1] = WG_ADD(t0, t1);
  r[2] = WG_SUB(t0, t1);
  r[3] = WG_ADD(t2, t3);
  r[4] = WG_SUB(t2, t3);
  r[5] = WG_FMA(c4, d[1], WG_FMA(cm5, d[3], d[5]));
}

AI void wg_at6(const WG_VEC m[6], WG_VEC o[4]) {
  const WG_VEC c2 = WG_SET1(2.f), c4 = WG_SET1(4.f), c8 = WG_SET1(8.f);
  WG_VEC s12 = WG_ADD(m[1], m[2]), d12 = WG_SUB(m[1], m[2]), s34 = WG_ADD(m[3], m[4]), d34 = WG_SUB(m[3], m[4]);
  o[0] = WG_ADD(WG_ADD(m[0], s12), s34);
  o[1] = WG_FMA(c2, d34, d12);
  o[2] = WG_FMA(c4, s34, s12);
  o[3] = WG_ADD(WG_FMA(c8, d34, d12), m[5]);
}

void WG_IN(const sn_nchwc_conv_geom *g, const float *x, int64_t t0, int64_t t1, float *v, int64_t ldv, int64_t vps) {
  const int64_t tw = (g->ow + 3) / 4, th = (g->oh + 3) / 4, plane = g->ih * g->iw * WG_V;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / (th * tw), ty = (t / tw) % th, tx = t % tw;
    const int64_t iy0 = ty * 4 - g->ph, ix0 = tx * 4 - g->pw;
    const bool inside = iy0 >= 0 && iy0 + 6 <= g->ih && ix0 >= 0 && ix0 + 6 <= g->iw;
    bool rok[6], cok[6];
    for (int i = 0; i < 6; i++) rok[i] = iy0 + i >= 0 && iy0 + i < g->ih, cok[i] = ix0 + i >= 0 && ix0 + i < g->iw;
    const float *xb = x + n * g->cbi * plane;
    float *vt = v + (t - t0) * ldv;
    for (int64_t cb = 0; cb < g->cbi; cb++, xb += plane, vt += WG_V) {
      WG_VEC r[6][6];
      for (int i = 0; i < 6; i++) {
        WG_VEC d[6];
        const float *xr = xb + ((iy0 + i) * g->iw + ix0) * WG_V;
        if (inside) {
          for (int j = 0; j < 6; j++) d[j] = WG_LOAD(xr + j * WG_V);
        } else {
          for (int j = 0; j < 6; j++) d[j] = rok[i] && cok[j] ? WG_LOAD(xr + j * WG_V) : WG_ZERO();
        }
        wg_bt6(d, r[i]);
      }
      for (int j = 0; j < 6; j++) {
        WG_VEC c[6], o[6];
        for (int i = 0; i < 6; i++) c[i] = r[i][j];
        wg_bt6(c, o);
        for (int a = 0; a < 6; a++) WG_STORE(vt + (a * 6 + j) * vps, o[a]);
      }
    }
  }
}

void WG_OUT(const sn_nchwc_conv_geom *g, const float *m, int64_t t0, int64_t t1, int64_t cb0, int64_t cb1,
            int64_t ldm, int64_t mps, float *y) {
  const int64_t tw = (g->ow + 3) / 4, th = (g->oh + 3) / 4, plane = g->oh * g->ow * WG_V;
  const WG_VEC lo = WG_SET1(g->lo), hi = WG_SET1(g->hi);
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / (th * tw), ty = (t / tw) % th, tx = t % tw;
    const int64_t rows = g->oh - ty * 4 < 4 ? g->oh - ty * 4 : 4, cols = g->ow - tx * 4 < 4 ? g->ow - tx * 4 : 4;
    for (int64_t cb = cb0; cb < cb1; cb++) {
      const float *mt = m + (t - t0) * ldm + cb * WG_V;
      WG_VEC r[6][4];
      for (int i = 0; i < 6; i++) {
        WG_VEC a[6];
        for (int j = 0; j < 6; j++) a[j] = WG_LOAD(mt + (i * 6 + j) * mps);
        wg_at6(a, r[i]);
      }
      const WG_VEC bias = g->bias ? WG_LOAD(g->bias + cb * WG_V) : WG_ZERO();
      const int64_t base = (n * g->cbo + cb) * plane + ((ty * 4) * g->ow + tx * 4) * WG_V;
      for (int j = 0; j < cols; j++) {
        WG_VEC c[6], o[4];
        for (int i = 0; i < 6; i++) c[i] = r[i][j];
        wg_at6(c, o);
        for (int k = 0; k < rows; k++) {
          const int64_t at = base + (k * g->ow + j) * WG_V;
          WG_VEC val = WG_ADD(o[k], bias);
          if (g->res) val = WG_ADD(val, WG_LOAD(g->res + at));
          if (g->act == SN_NCHWC_ACT_RELU) val = WG_MAX(val, WG_ZERO());
          if (g->act == SN_NCHWC_ACT_CLIP) val = WG_MIN(WG_MAX(val, lo), hi);
          WG_STORE(y + at, val);
        }
      }
    }
  }
}
