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
/* groups = CBO * CBI * kh * kw blocks of 16 x 16 floats -> groups * 128 pairs */
void sn_nchwc_weight_bf16(const float *w, int64_t groups, uint32_t *dst);
/* items [t0, t1) of sn_nchwc_conv_items(g); g->block and g->in_block 16, not depthwise; x from
 * sn_nchwc_to_bf16 (padded false) or sn_nchwc_to_bf16_padded (padded true) */
void sn_nchwc_conv_bf16(const sn_nchwc_conv_geom *g, const uint16_t *x, const uint32_t *w, float *y, int64_t t0,
                        int64_t t1, bool padded);
extern const char sn_nchwc_conv_bf16_name[];

#endif
