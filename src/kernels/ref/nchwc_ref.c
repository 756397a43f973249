/* Portable kernels on the blocked channel layout (see kernels/nchwc.h): any block size, plain
 * loops over the lanes of a block that the compiler may vectorize. They are the reference the
 * AVX-512 kernels are tested against, and what runs a saved O3 model at SINTER_ISA=scalar. */
#include <string.h>

#include "kernels/nchwc.h"

static inline float epi_act(const sn_nchwc_conv_geom *g, float v) {
  if (g->act == SN_NCHWC_ACT_RELU) return v > 0.f ? v : 0.f;
  if (g->act == SN_NCHWC_ACT_CLIP) {
    v = v < g->lo ? g->lo : v;
    return v > g->hi ? g->hi : v;
  }
  return v;
}

void sn_nchwc_conv_f32_ref(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, int64_t t0,
                           int64_t t1) {
  const int64_t B = g->block;
  int64_t rpi, bpi;
  sn_nchwc_conv_items(g, &rpi, &bpi);
  const int64_t row_items = (g->oh + rpi - 1) / rpi, groups = (g->cbo + bpi - 1) / bpi;
  const int64_t wst = g->depthwise ? 0 : sn_nchwc_weight_stride(g) / (g->kh * g->kw * g->in_block * B);
  float acc[64];
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / (groups * row_items), gi = (t / row_items) % groups, ri = t % row_items;
    const int64_t cb0 = gi * bpi, cb1 = cb0 + bpi < g->cbo ? cb0 + bpi : g->cbo;
    const int64_t r0 = ri * rpi, r1 = r0 + rpi < g->oh ? r0 + rpi : g->oh;
    for (int64_t cb = cb0; cb < cb1; cb++) {
      int64_t lo, hi; /* (the input blocks this output block reads; a grouped weight's slot is ci - lo) */
      sn_nchwc_group_range(g, cb, &lo, &hi);
      for (int64_t oy = r0; oy < r1; oy++)
        for (int64_t ox = 0; ox < g->ow; ox++) {
          float *yp = y + (((n * g->cbo + cb) * g->oh + oy) * g->ow + ox) * B;
          for (int64_t l = 0; l < B; l++) acc[l] = g->bias ? g->bias[cb * B + l] : 0.f;
          for (int64_t ky = 0; ky < g->kh; ky++) {
            int64_t iy = oy * g->sh - g->ph + ky * g->dh;
            if (iy < 0 || iy >= g->ih) continue;
            for (int64_t kx = 0; kx < g->kw; kx++) {
              int64_t ix = ox * g->sw - g->pw + kx * g->dw;
              if (ix < 0 || ix >= g->iw) continue;
              if (g->depthwise) {
                const float *xp = x + (((n * g->cbi + cb) * g->ih + iy) * g->iw + ix) * B;
                const float *wp = w + ((cb * g->kh + ky) * g->kw + kx) * B;
                for (int64_t l = 0; l < B; l++) acc[l] += xp[l] * wp[l];
              } else {
                const int64_t BI = g->in_block;
                for (int64_t ci = lo; ci < hi; ci++) {
                  const float *xp = x + (((n * g->cbi + ci) * g->ih + iy) * g->iw + ix) * BI;
                  const float *wp = w + (((cb * wst + ci - lo) * g->kh + ky) * g->kw + kx) * BI * B;
                  for (int64_t i = 0; i < BI; i++) {
                    float xv = xp[i];
                    for (int64_t l = 0; l < B; l++) acc[l] += xv * wp[i * B + l];
                  }
                }
              }
            }
          }
          const float *rp = g->res ? g->res + (yp - y) : NULL;
          for (int64_t l = 0; l < B; l++) yp[l] = epi_act(g, rp ? acc[l] + rp[l] : acc[l]);
        }
    }
  }
}

int64_t sn_nchwc_weight_size(int64_t M, int64_t C, int64_t kh, int64_t kw, int64_t block, int64_t in_block,
                             bool depthwise) {
  int64_t mb = (M + block - 1) / block, cbk = (C + in_block - 1) / in_block;
  return depthwise ? mb * kh * kw * block : mb * cbk * kh * kw * in_block * block;
}

void sn_nchwc_pack_weight(const float *w, int64_t M, int64_t C, int64_t kh, int64_t kw, int64_t block,
                          int64_t in_block, bool depthwise, float *dst) {
  const int64_t B = block, BI = in_block, cbk = (C + BI - 1) / BI, mbk = (M + B - 1) / B, K = kh * kw;
  /* padded channels must read as zeros; without any, every element is written below */
  if (M % B || (!depthwise && C % BI))
    memset(dst, 0, sizeof(float) * (size_t)sn_nchwc_weight_size(M, C, kh, kw, block, in_block, depthwise));
  if (depthwise) {
    for (int64_t m = 0; m < M; m++)
      for (int64_t k = 0; k < K; k++) dst[((m / B) * K + k) * B + m % B] = w[m * K + k];
    return;
  }
  /* one (output block, input block) tile at a time: B rows of BI * K source floats, written into a
   * K * BI * B destination tile, both small enough to stay in L1 */
  for (int64_t mb = 0; mb < mbk; mb++)
    for (int64_t cb = 0; cb < cbk; cb++) {
      float *tile = dst + (mb * cbk + cb) * K * BI * B;
      for (int64_t l = 0; l < B && mb * B + l < M; l++)
        for (int64_t i = 0; i < BI && cb * BI + i < C; i++) {
          const float *src = w + ((mb * B + l) * C + cb * BI + i) * K;
          for (int64_t k = 0; k < K; k++) tile[(k * BI + i) * B + l] = src[k];
        }
    }
}

int64_t sn_nchwc_group_span(int64_t M, int64_t C, int64_t G, int64_t block) {
  if (G < 1 || M % G || C % G) return 0;
  sn_nchwc_conv_geom g = {.block = block, .in_block = block, .cbi = (C + block - 1) / block, .group = G,
                          .group_in = C / G, .group_out = M / G};
  int64_t span = 0;
  for (int64_t ob = 0; ob * block < M; ob++) {
    int64_t lo, hi;
    sn_nchwc_group_range(&g, ob, &lo, &hi);
    if (hi - lo > span) span = hi - lo;
  }
  return span;
}

int64_t sn_nchwc_grouped_weight_size(int64_t M, int64_t C, int64_t G, int64_t kh, int64_t kw, int64_t block) {
  return (M + block - 1) / block * sn_nchwc_group_span(M, C, G, block) * kh * kw * block * block;
}

void sn_nchwc_pack_grouped_weight(const float *w, int64_t M, int64_t C, int64_t G, int64_t kh, int64_t kw, int64_t block,
                                  float *dst) {
  const int64_t B = block, K = kh * kw, span = sn_nchwc_group_span(M, C, G, B), Cg = C / G, Mg = M / G;
  memset(dst, 0, sizeof(float) * (size_t)sn_nchwc_grouped_weight_size(M, C, G, kh, kw, B));
  sn_nchwc_conv_geom g = {.block = B, .in_block = B, .cbi = (C + B - 1) / B, .group = G, .group_in = Cg, .group_out = Mg};
  for (int64_t m = 0; m < M; m++) {
    const int64_t ob = m / B, grp = m / Mg;
    int64_t lo, hi;
    sn_nchwc_group_range(&g, ob, &lo, &hi);
    for (int64_t c = grp * Cg; c < (grp + 1) * Cg; c++) { /* c's slot in ob's span: input block c / B - lo */
      float *tile = dst + (ob * span + c / B - lo) * K * B * B;
      const float *src = w + (m * Cg + c - grp * Cg) * K;
      for (int64_t k = 0; k < K; k++) tile[(k * B + c % B) * B + m % B] = src[k];
    }
  }
}

void sn_nchwc_reorder_in_f32_ref(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0, int64_t t1) {
  const int64_t B = block, cb = (C + B - 1) / B;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / cb, b = t % cb;
    float *yb = y + t * hw * B;
    const int64_t lanes = C - b * B < B ? C - b * B : B;
    /* tiles of 16 pixels keep the reads of each channel sequential */
    for (int64_t p0 = 0; p0 < hw; p0 += 16) {
      const int64_t p1 = p0 + 16 < hw ? p0 + 16 : hw;
      for (int64_t l = 0; l < lanes; l++) {
        const float *xc = x + (n * C + b * B + l) * hw;
        for (int64_t p = p0; p < p1; p++) yb[p * B + l] = xc[p];
      }
      for (int64_t p = p0; p < p1; p++)
        for (int64_t l = lanes; l < B; l++) yb[p * B + l] = 0.f;
    }
  }
}

void sn_nchwc_reorder_out_f32_ref(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0, int64_t t1) {
  const int64_t B = block, cb = (C + B - 1) / B;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / cb, b = t % cb;
    const float *xb = x + t * hw * B;
    const int64_t lanes = C - b * B < B ? C - b * B : B;
    for (int64_t p0 = 0; p0 < hw; p0 += 16) {
      const int64_t p1 = p0 + 16 < hw ? p0 + 16 : hw;
      for (int64_t l = 0; l < lanes; l++) {
        float *yc = y + (n * C + b * B + l) * hw;
        for (int64_t p = p0; p < p1; p++) yc[p] = xb[p * B + l];
      }
    }
  }
}

void sn_nchwc_reorder_out_nhwc_f32_ref(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0,
                                   int64_t t1) {
  const int64_t B = block, cb = (C + B - 1) / B;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / hw, p = t % hw;
    float *yp = y + t * C;
    for (int64_t b = 0; b < cb; b++) {
      const float *xp = x + ((n * cb + b) * hw + p) * B;
      const int64_t lanes = C - b * B < B ? C - b * B : B;
      for (int64_t l = 0; l < lanes; l++) yp[b * B + l] = xp[l];
    }
  }
}

void sn_nchwc_reorder_in_nhwc_f32_ref(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0,
                                      int64_t t1) {
  const int64_t B = block, cb = (C + B - 1) / B;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / hw, p = t % hw;
    const float *xp = x + t * C;
    for (int64_t b = 0; b < cb; b++) {
      float *yp = y + ((n * cb + b) * hw + p) * B;
      for (int64_t l = 0; l < B; l++) yp[l] = b * B + l < C ? xp[b * B + l] : 0.f;
    }
  }
}

void sn_nchwc_pool_f32_ref(const sn_nchwc_pool_geom *g, const float *x, float *y, int64_t t0, int64_t t1) {
  const int64_t B = g->block;
  float acc[64];
  for (int64_t t = t0; t < t1; t++) {
    const float *xp = x + t * g->ih * g->iw * B;
    float *yp = y + t * g->oh * g->ow * B;
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        for (int64_t l = 0; l < B; l++) acc[l] = g->max ? -__builtin_inff() : 0.f;
        int64_t cnt = 0;
        for (int64_t ky = 0; ky < g->kh; ky++) {
          int64_t iy = oy * g->sh - g->ph + ky * g->dh;
          if (iy < 0 || iy >= g->ih) continue;
          for (int64_t kx = 0; kx < g->kw; kx++) {
            int64_t ix = ox * g->sw - g->pw + kx * g->dw;
            if (ix < 0 || ix >= g->iw) continue;
            const float *v = xp + (iy * g->iw + ix) * B;
            cnt++;
            if (g->max)
              for (int64_t l = 0; l < B; l++) acc[l] = v[l] > acc[l] || v[l] != v[l] ? v[l] : acc[l];
            else
              for (int64_t l = 0; l < B; l++) acc[l] += v[l];
          }
        }
        float *o = yp + (oy * g->ow + ox) * B;
        if (g->max) {
          for (int64_t l = 0; l < B; l++) o[l] = acc[l];
        } else {
          if (g->count_include_pad) {
            /* the window clipped to the padded input extent */
            int64_t y0 = oy * g->sh - g->ph, x0 = ox * g->sw - g->pw;
            int64_t y1 = y0 + (g->kh - 1) * g->dh + 1, x1 = x0 + (g->kw - 1) * g->dw + 1;
            int64_t ye = g->ih + g->pad_end_h, xe = g->iw + g->pad_end_w;
            int64_t hy = (y1 < ye ? y1 : ye) - y0, hx = (x1 < xe ? x1 : xe) - x0;
            cnt = ((hy + g->dh - 1) / g->dh) * ((hx + g->dw - 1) / g->dw);
          }
          float inv = cnt ? 1.f / (float)cnt : 0.f;
          for (int64_t l = 0; l < B; l++) o[l] = acc[l] * inv;
        }
      }
  }
}

void sn_nchwc_gavg_f32_ref(const float *x, float *y, int64_t hw, int64_t block, int64_t t0, int64_t t1) {
  const int64_t B = block;
  float acc[64];
  for (int64_t t = t0; t < t1; t++) {
    const float *xp = x + t * hw * B;
    for (int64_t l = 0; l < B; l++) acc[l] = 0.f;
    for (int64_t p = 0; p < hw; p++)
      for (int64_t l = 0; l < B; l++) acc[l] += xp[p * B + l];
    float inv = hw ? 1.f / (float)hw : 0.f;
    for (int64_t l = 0; l < B; l++) y[t * B + l] = acc[l] * inv;
  }
}

void sn_nchwc_affine_f32_ref(const float *x, const float *a, const float *b, float *y, int64_t cb, int64_t hw,
                             int64_t block, bool relu, int64_t t0, int64_t t1) {
  const int64_t B = block;
  for (int64_t t = t0; t < t1; t++) {
    const float *av = a + (t % cb) * B, *bv = b + (t % cb) * B;
    for (int64_t p = 0; p < hw; p++)
      for (int64_t l = 0; l < B; l++) {
        const float v = x[(t * hw + p) * B + l] * av[l] + bv[l];
        y[(t * hw + p) * B + l] = relu && !(v > 0.f) ? 0.f : v;
      }
  }
}
