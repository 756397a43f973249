/* 2-D float32 depthwise convolution (NCHW, one input channel per group, multiplier 1), dispatched per call by ISA. */
#ifndef SN_DWCONV_H
#define SN_DWCONV_H

#include <stdint.h>

/* Geometry of one image: input H x W, kernel, stride, dilation, pads (top, left, bottom, right). */
typedef struct sn_dwconv2d_geom {
  int64_t in_h, in_w;
  int64_t k_h, k_w;
  int64_t stride_h, stride_w;
  int64_t dil_h, dil_w;
  int64_t pad_t, pad_l, pad_b, pad_r;
} sn_dwconv2d_geom;

/* Output height / width implied by the geometry (0 when the window never fits). */
int64_t sn_dwconv2d_out_h(const sn_dwconv2d_geom *g);
int64_t sn_dwconv2d_out_w(const sn_dwconv2d_geom *g);

/* Channels [c0, c1) of one image: y[c] = conv(x[c], w[c]) + (b ? b[c] : 0). x holds the image's
 * channels as in_h * in_w planes, w k_h * k_w per channel, y out_h * out_w planes. Strides and
 * dilations must be >= 1, kernel sizes >= 1. */
void sn_dwconv2d_f32(const sn_dwconv2d_geom *g, const float *x, const float *w, const float *b, float *y, int64_t c0,
                     int64_t c1);

/* Name of the implementation sn_dwconv2d_f32 uses now (for the profiler and tests). */
const char *sn_dwconv2d_f32_name(void);

/* Per-ISA entry points, same contract (call only when sn_cpu_isa() allows the ISA). */
void sn_dwconv2d_f32_ref(const sn_dwconv2d_geom *g, const float *x, const float *w, const float *b, float *y,
                         int64_t c0, int64_t c1);
void sn_dwconv2d_f32_avx2(const sn_dwconv2d_geom *g, const float *x, const float *w, const float *b, float *y,
                          int64_t c0, int64_t c1);
void sn_dwconv2d_f32_avx512(const sn_dwconv2d_geom *g, const float *x, const float *w, const float *b, float *y,
                            int64_t c0, int64_t c1);

#endif
