/* The group-1 NCHWc convolution in bfloat16 (`--precision bf16`, AVX512-BF16, block 16): the same
 * geometry, work items and epilogue as sn_nchwc_conv_f32 (kernels/nchwc.h), with
 *   input  X as bf16 in the same blocked layout [N, CB, H, W, 16] (sn_nchwc_to_bf16), so the
 *          channels 2i and 2i+1 of a pixel form one 32-bit pair;
 *   weight as pairs: [CBO, CBI, kh, kw, 8 (input channel pair), 16 (output channel)] of 32 bits,
 *          each the bf16 weights of input channels 2i (low half) and 2i+1 (high half)
 *          (sn_nchwc_weight_bf16 from the float32 packed weight [CBO, CBI, kh, kw, 16, 16]);
 * one vdpbf16ps per pair of input channels into float32 sums. Only in_block 16 (a blocked input) and
 * group 1; depthwise and NCHW-input convolutions stay float32. */
#ifndef SN_NCHWC_BF16_H
#define SN_NCHWC_BF16_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/nchwc.h"

/* n floats (a multiple of 16) to bf16, round to nearest even */
void sn_nchwc_to_bf16(const float *x, uint16_t *y, int64_t n);
/* The input of g as bf16 with the columns of its left and right padding stored as zeros (rows of
 * sn_nchwc_bf16_padded_width(g) pixels), so every register tile reads inside the row: rows t in
 * [t0, t1) of the n * cbi * ih rows of X. */
int64_t sn_nchwc_bf16_padded_width(const sn_nchwc_conv_geom *g);
void sn_nchwc_to_bf16_padded(const sn_nchwc_conv_geom *g, const float *x, uint16_t *y, int64_t t0, int64_t t1);
/* The input of g gathered per output pixel (im2col in the blocked layout), as bf16
 * [N, CBI * kh * kw, oh, ow, 16]: block ci * kh * kw + ky * kw + kx holds, for every output pixel, the
 * tap (ky, kx) of input block ci (zeros where it falls outside the input); rows t in [t0, t1) of the
 * n * cbi * kh * kw * oh rows. g is then the 1x1 stride-1 convolution of sn_nchwc_im2col_geom(g) with
 * the same weights (the pairs [CBO, CBI, kh, kw, 8, 16] are [CBO, CBI * kh * kw, 1, 1, 8, 16]): every
 * register tile full width over the run of output pixels, where a narrow map or a stride leaves the
 * direct kernel short tiles or strided reads. */
void sn_nchwc_im2col_bf16(const sn_nchwc_conv_geom *g, const float *x, uint16_t *y, int64_t t0, int64_t t1);
static inline sn_nchwc_conv_geom sn_nchwc_im2col_geom(const sn_nchwc_conv_geom *g) {
  sn_nchwc_conv_geom r = *g;
  r.cbi = g->cbi * g->kh * g->kw, r.ih = g->oh, r.iw = g->ow;
  r.kh = r.kw = r.sh = r.sw = r.dh = r.dw = 1, r.ph = r.pw = 0;
  return r;
}
/* groups = CBO * CBI * kh * kw blocks of 16 x 16 floats -> groups * 128 pairs */
void sn_nchwc_weight_bf16(const float *w, int64_t groups, uint32_t *dst);
/* items [t0, t1) of sn_nchwc_conv_items(g); g->block and g->in_block 16, not depthwise; x from
 * sn_nchwc_to_bf16 (padded false) or sn_nchwc_to_bf16_padded (padded true) */
void sn_nchwc_conv_bf16(const sn_nchwc_conv_geom *g, const uint16_t *x, const uint32_t *w, float *y, int64_t t0,
                        int64_t t1, bool padded);
extern const char sn_nchwc_conv_bf16_name[];
/* The same on AMX-BF16 tiles (x86/nchwc_bf16_amx.c; sn_cpu_has_amx_bf16()), for kh * kw <=
 * SN_NCHWC_AMX_MAX_TAPS. It reads up to sn_nchwc_bf16_amx_slack(g) bf16 values past the end of x, which
 * the caller allocates (and zeroes). */
#define SN_NCHWC_AMX_MAX_TAPS 64
void sn_nchwc_conv_bf16_amx(const sn_nchwc_conv_geom *g, const uint16_t *x, const uint32_t *w, float *y, int64_t t0,
                            int64_t t1, bool padded);
static inline int64_t sn_nchwc_bf16_amx_slack(const sn_nchwc_conv_geom *g) { return (32 * g->sw + 1) * 16; }
extern const char sn_nchwc_conv_bf16_amx_name[];

/* The same convolution of an NCHW input (in_block 1: a network's first layer, e.g. 3 channels;
 * dilation 1), in bf16 with the pairs taken along the kernel row: taps kx = 2q and 2q + 1 of one
 * input channel and kernel row are adjacent bf16 values of the input row, read as one 32-bit pair per
 * output pixel. An odd kernel's last pair reads one value past its window with a zero weight (like
 * the blocked layout's padded lanes: exact for finite inputs).
 *   input  X as bf16 [N, C, H, W'] with the left padding and enough zeros on the right stored
 *          (W' = sn_nchw_bf16_padded_width(g): every pair read lies inside the row);
 *   weight [CBO, C, kh, ceil(kw / 2), 16] pairs (the odd kernel's last pair has a zero high half),
 *          sn_nchw_weight_bf16 from the float32 packed weight [CBO, C, kh, kw, 1, 16]. */
int64_t sn_nchw_bf16_padded_width(const sn_nchwc_conv_geom *g);
/* rows t in [t0, t1) of the n * C * ih rows of X */
void sn_nchw_to_bf16_padded(const sn_nchwc_conv_geom *g, const float *x, uint16_t *y, int64_t t0, int64_t t1);
int64_t sn_nchw_weight_bf16_size(const sn_nchwc_conv_geom *g); /* in pairs */
void sn_nchw_weight_bf16(const sn_nchwc_conv_geom *g, const float *w, uint32_t *dst);
/* items [t0, t1) of sn_nchwc_conv_items(g); g->in_block 1, g->block 16, g->dw 1, not depthwise */
void sn_nchw_conv_bf16(const sn_nchwc_conv_geom *g, const uint16_t *x, const uint32_t *w, float *y, int64_t t0,
                       int64_t t1);

#endif
