/* Portable Winograd F(4x4, 3x3) transforms on the blocked layout (see kernels/winograd.h): any
 * block, plain loops over the lanes of a block. The reference the AVX-512 / AVX2 transforms are
 * tested against, and what runs at SINTER_ISA=scalar. */
#include "kernels/winograd.h"

/* B^T applied to 6 values (stride s apart) of each lane */
static void bt6(const float *d, int64_t s, float *r, int64_t rs, int64_t B) {
  for (int64_t l = 0; l < B; l++) {
    float d0 = d[l], d1 = d[s + l], d2 = d[2 * s + l], d3 = d[3 * s + l], d4 = d[4 * s + l], d5 = d[5 * s + l];
    float t0 = d4 - 4.f * d2, t1 = d3 - 4.f * d1, t2 = d4 - d2, t3 = 2.f * (d3 - d1);
    r[l] = 4.f * d0 - 5.f * d2 + d4;
    r[rs + l] = t0 + t1;
    r[2 * rs + l] = t0 - t1;
    r[3 * rs + l] = t2 + t3;
    r[4 * rs + l] = t2 - t3;
    r[5 * rs + l] = 4.f * d1 - 5.f * d3 + d5;
  }
}

/* A^T applied to 6 values of each lane: 4 results */
static void at6(const float *m, int64_t s, float *o, int64_t os, int64_t B) {
  for (int64_t l = 0; l < B; l++) {
    float m0 = m[l], m1 = m[s + l], m2 = m[2 * s + l], m3 = m[3 * s + l], m4 = m[4 * s + l], m5 = m[5 * s + l];
    float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    o[l] = m0 + s12 + s34;
    o[os + l] = d12 + 2.f * d34;
    o[2 * os + l] = s12 + 4.f * s34;
    o[3 * os + l] = d12 + 8.f * d34 + m5;
  }
}

void sn_wino_input_f32_ref(const sn_nchwc_conv_geom *g, const float *x, int64_t t0, int64_t t1, float *v, int64_t ldv,
                           int64_t vps) {
  const int64_t B = g->block, tw = (g->ow + 3) / 4, th = (g->oh + 3) / 4;
  float d[36 * 64], r[36 * 64];
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / (th * tw), ty = (t / tw) % th, tx = t % tw;
    const int64_t iy0 = ty * 4 - g->ph, ix0 = tx * 4 - g->pw;
    for (int64_t cb = 0; cb < g->cbi; cb++) {
      const float *xb = x + (n * g->cbi + cb) * g->ih * g->iw * B;
      for (int64_t i = 0; i < 6; i++)
        for (int64_t j = 0; j < 6; j++) {
          const int64_t iy = iy0 + i, ix = ix0 + j;
          const bool in = iy >= 0 && iy < g->ih && ix >= 0 && ix < g->iw;
          for (int64_t l = 0; l < B; l++) d[(i * 6 + j) * B + l] = in ? xb[(iy * g->iw + ix) * B + l] : 0.f;
        }
      /* rows: r[i][j] = sum_c d[i][c] BT[j][c]; then columns: V[a][j] = sum_i BT[a][i] r[i][j] */
      for (int64_t i = 0; i < 6; i++) bt6(d + i * 6 * B, B, r + i * 6 * B, B, B);
      for (int64_t j = 0; j < 6; j++) bt6(r + j * B, 6 * B, d + j * B, 6 * B, B);
      float *vt = v + (t - t0) * ldv + cb * B;
      for (int64_t p = 0; p < 36; p++)
        for (int64_t l = 0; l < B; l++) vt[p * vps + l] = d[p * B + l];
    }
  }
}

void sn_wino_output_f32_ref(const sn_nchwc_conv_geom *g, const float *m, int64_t t0, int64_t t1, int64_t cb0,
                            int64_t cb1, int64_t ldm, int64_t mps, float *y) {
  const int64_t B = g->block, tw = (g->ow + 3) / 4, th = (g->oh + 3) / 4;
  float a[36 * 64], r[24 * 64], o[16 * 64];
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / (th * tw), ty = (t / tw) % th, tx = t % tw;
    for (int64_t cb = cb0; cb < cb1; cb++) {
      const float *mt = m + (t - t0) * ldm + cb * B;
      for (int64_t p = 0; p < 36; p++)
        for (int64_t l = 0; l < B; l++) a[p * B + l] = mt[p * mps + l];
      /* rows: r[i][j] (6 x 4) = sum_c a[i][c] AT[j][c]; columns: o[k][j] = sum_i AT[k][i] r[i][j] */
      for (int64_t i = 0; i < 6; i++) at6(a + i * 6 * B, B, r + i * 4 * B, B, B);
      for (int64_t j = 0; j < 4; j++) at6(r + j * B, 4 * B, o + j * B, 4 * B, B);
      for (int64_t k = 0; k < 4; k++) {
        const int64_t oy = ty * 4 + k;
        if (oy >= g->oh) break;
        for (int64_t j = 0; j < 4; j++) {
          const int64_t ox = tx * 4 + j;
          if (ox >= g->ow) break;
          const int64_t at = (((n * g->cbo + cb) * g->oh + oy) * g->ow + ox) * B;
          for (int64_t l = 0; l < B; l++) {
            float val = o[(k * 4 + j) * B + l];
            if (g->bias) val += g->bias[cb * B + l];
            if (g->res) val += g->res[at + l];
            if (g->act == SN_NCHWC_ACT_RELU) val = val > 0.f ? val : 0.f;
            if (g->act == SN_NCHWC_ACT_CLIP) {
              val = val < g->lo ? g->lo : val;
              val = val > g->hi ? g->hi : val;
            }
            y[at + l] = val;
          }
        }
      }
    }
  }
}
