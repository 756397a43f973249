/* 2-D float32 depthwise convolution: portable implementation and per-call dispatch on sn_cpu_isa(). */
#include "kernels/dwconv.h"

#include "runtime/cpu.h"
#include "runtime/prof.h"

static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1) {
  int64_t span = in + p0 + p1 - d * (k - 1) - 1;
  return span < 0 ? 0 : span / s + 1;
}

int64_t sn_dwconv2d_out_h(const sn_dwconv2d_geom *g) {
  return out_len(g->in_h, g->k_h, g->stride_h, g->dil_h, g->pad_t, g->pad_b);
}

int64_t sn_dwconv2d_out_w(const sn_dwconv2d_geom *g) {
  return out_len(g->in_w, g->k_w, g->stride_w, g->dil_w, g->pad_l, g->pad_r);
}

/* row by row: each tap adds w * x over the output columns whose input column is inside the image */
void sn_dwconv2d_f32_ref(const sn_dwconv2d_geom *g, const float *x, const float *w, const float *b, float *y,
                         int64_t c0, int64_t c1) {
  const int64_t ih = g->in_h, iw = g->in_w, kh = g->k_h, kw = g->k_w, sh = g->stride_h, sw = g->stride_w;
  const int64_t dh = g->dil_h, dw = g->dil_w, oh = sn_dwconv2d_out_h(g), ow = sn_dwconv2d_out_w(g);
  if (oh <= 0 || ow <= 0) return;
  for (int64_t c = c0; c < c1; c++) {
    const float *xc = x + c * ih * iw, *wc = w + c * kh * kw;
    float *yc = y + c * oh * ow, bias = b ? b[c] : 0.f;
    for (int64_t oy = 0; oy < oh; oy++) {
      float *restrict yr = yc + oy * ow;
      for (int64_t i = 0; i < ow; i++) yr[i] = bias;
      for (int64_t ky = 0; ky < kh; ky++) {
        int64_t iy = oy * sh - g->pad_t + ky * dh;
        if (iy < 0 || iy >= ih) continue;
        const float *restrict xr = xc + iy * iw;
        for (int64_t kx = 0; kx < kw; kx++) {
          float wv = wc[ky * kw + kx];
          int64_t off = kx * dw - g->pad_l;
          int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
          int64_t hi = iw - 1 - off >= 0 ? (iw - 1 - off) / sw + 1 : 0;
          if (hi > ow) hi = ow;
          if (sw == 1) {
            for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox + off];
          } else {
            for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * sw + off];
          }
        }
      }
    }
  }
}

void sn_dwconv2d_f32(const sn_dwconv2d_geom *g, const float *x, const float *w, const float *b, float *y, int64_t c0,
                     int64_t c1) {
  SN_PROF_KERNEL(sn_dwconv2d_f32_name());
  sn_isa isa = sn_cpu_isa();
  if (isa >= SN_ISA_AVX512)
    sn_dwconv2d_f32_avx512(g, x, w, b, y, c0, c1);
  else if (isa >= SN_ISA_AVX2)
    sn_dwconv2d_f32_avx2(g, x, w, b, y, c0, c1);
  else
    sn_dwconv2d_f32_ref(g, x, w, b, y, c0, c1);
}

const char *sn_dwconv2d_f32_name(void) {
  sn_isa isa = sn_cpu_isa();
  return isa >= SN_ISA_AVX512 ? "f32_dwconv2d_avx512" : isa >= SN_ISA_AVX2 ? "f32_dwconv2d_avx2" : "f32_dwconv2d_ref";
}
