/* Portable im2col / col2im for N-d convolution geometry (float32, float64, int32). */
#ifndef SN_IM2COL_REF_H
#define SN_IM2COL_REF_H

#include <stdint.h>

#include "core/tensor.h"

/* The window geometry of one image: nd spatial dims, input sizes, output sizes, kernel, strides,
 * dilations and leading pads. Input position along d of output o and kernel tap k:
 *   i = o * stride[d] - pad[d] + k * dil[d]  (outside [0, in[d]) reads zero). */
typedef struct sn_conv_geom {
  int nd;
  int64_t in[SN_MAX_RANK], out[SN_MAX_RANK], k[SN_MAX_RANK];
  int64_t stride[SN_MAX_RANK], dil[SN_MAX_RANK], pad[SN_MAX_RANK];
} sn_conv_geom;

static inline int64_t sn_geom_in_size(const sn_conv_geom *g) {
  int64_t n = 1;
  for (int d = 0; d < g->nd; d++) n *= g->in[d];
  return n;
}
static inline int64_t sn_geom_out_size(const sn_conv_geom *g) {
  int64_t n = 1;
  for (int d = 0; d < g->nd; d++) n *= g->out[d];
  return n;
}
static inline int64_t sn_geom_k_size(const sn_conv_geom *g) {
  int64_t n = 1;
  for (int d = 0; d < g->nd; d++) n *= g->k[d];
  return n;
}

/* Columns for output positions [p0, p1) (flattened row-major over out): col is a
 * (C * prod(k)) x (p1 - p0) row-major matrix; row c * prod(k) + kernel-tap, taps row-major.
 * x is the [C, in...] image. */
void sn_im2col_f32(const sn_conv_geom *g, int64_t C, const float *x, int64_t p0, int64_t p1, float *col);
void sn_im2col_f64(const sn_conv_geom *g, int64_t C, const double *x, int64_t p0, int64_t p1, double *col);
void sn_im2col_i32(const sn_conv_geom *g, int64_t C, const int32_t *x, int64_t p0, int64_t p1, int32_t *col);

/* The same columns as full-K GEMM B slivers of nr columns: sliver s (positions p0 + s * nr onwards)
 * at col + s * C * prod(k) * nr, rows of nr floats, the last sliver's columns past p1 zero. */
void sn_im2col_slivers_f32(const sn_conv_geom *g, int64_t C, const float *x, int64_t p0, int64_t p1, int64_t nr,
                           float *col);

/* The adjoint: y[C, in...] += scatter of col (same layout as im2col's) for positions [p0, p1). */
void sn_col2im_f32(const sn_conv_geom *g, int64_t C, const float *col, int64_t p0, int64_t p1, float *y);
void sn_col2im_f64(const sn_conv_geom *g, int64_t C, const double *col, int64_t p0, int64_t p1, double *y);
void sn_col2im_i32(const sn_conv_geom *g, int64_t C, const int32_t *col, int64_t p0, int64_t p1, int32_t *y);

#endif
