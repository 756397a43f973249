/* Kernels on the blocked channel layout NCHWc: a float32 tensor [N, C, H, W] is held as
 * [N, ceil(C / b), H, W, b] with the channels past C zero (b = 16 for AVX-512, 8 for AVX2, any
 * block for the portable kernels). Convolution weights are pre-packed at load:
 *   regular (group 1): [ceil(M / b), ceil(C / b), kh, kw, b (input channel), b (output channel)]
 *   depthwise (group = C = M): [ceil(C / b), kh, kw, b]
 *   grouped (1 < group, not depthwise): [ceil(M / b), span, kh, kw, b, b], where output block ob reads
 *     only the input blocks [lo(ob), hi(ob)) that hold its groups' input channels (sn_nchwc_group_range)
 *     and slot j of its span is input block lo(ob) + j; weights of channels outside an output channel's
 *     group are zero, so a group narrower than a block (ResNeXt's 4 and 8) computes some zeros
 * with zeros for the padded channels, so the padded lanes of an output stay 0 + bias pad (0).
 * Each entry point has a portable version (_ref, any block), an AVX-512 one (block 16) and an AVX2
 * one (block 8); the unsuffixed name dispatches on sn_cpu_isa() and the block. */
#ifndef SN_NCHWC_H
#define SN_NCHWC_H

#include <stdbool.h>
#include <stdint.h>

/* ---- convolution ------------------------------------------------------------------------------- */

/* Activation applied in the kernel's epilogue (others are applied by the caller afterwards). */
enum { SN_NCHWC_ACT_NONE = 0, SN_NCHWC_ACT_RELU = 1, SN_NCHWC_ACT_CLIP = 2 };

typedef struct sn_nchwc_conv_geom {
  int64_t block;                /* b */
  int64_t in_block;             /* lanes per input pixel: b, or 1 for an NCHW input (cbi is then C) */
  int64_t n;                    /* images */
  int64_t cbi, cbo;             /* input / output channel blocks (equal for depthwise) */
  int64_t ih, iw, oh, ow;       /* spatial sizes */
  int64_t kh, kw, sh, sw, dh, dw, ph, pw; /* kernel, strides, dilations, leading pads */
  bool depthwise;
  /* grouped convolution (not depthwise): group > 1 groups of group_in input and group_out output
   * channels, span input blocks a packed output block (sn_nchwc_group_span; 0: computed on each call);
   * group 0 or 1: every output block reads every input block */
  int64_t group, group_in, group_out, span;
  /* epilogue, in order: + bias[cbo * b] (NULL: none), + res (like y, NULL: none), activation
   * (SN_NCHWC_ACT_*; CLIP clamps to [lo, hi]) */
  const float *bias;
  const float *res;
  int act;
  float lo, hi;
} sn_nchwc_conv_geom;

/* Work items of a convolution: sn_nchwc_conv_f32 computes items [t0, t1) of y. Items split the
 * output by image, output channel block group and rows; *rows_per_item receives how many output
 * rows an item spans and *blocks_per_item how many output blocks, so the caller can find what an
 * item wrote (item t covers image t / (groups * row_items), block group (t / row_items) % groups,
 * row item t % row_items). */
int64_t sn_nchwc_conv_items(const sn_nchwc_conv_geom *g, int64_t *rows_per_item, int64_t *blocks_per_item);

/* Helpers of the blocked kernels' row tiling (float32 and bf16 alike). */
/* The valid (interior) output columns [lo, hi) of g: every tap of the row lands inside the input. */
static inline void sn_nchwc_interior(const sn_nchwc_conv_geom *g, int64_t *lo, int64_t *hi) {
  int64_t l = (g->pw + g->sw - 1) / g->sw;
  int64_t num = g->iw - 1 + g->pw - (g->kw - 1) * g->dw;
  int64_t h = num >= 0 ? num / g->sw + 1 : 0;
  if (l > g->ow) l = g->ow;
  if (h > g->ow) h = g->ow;
  if (h < l) h = l;
  *lo = l, *hi = h;
}
/* A 1x1 stride-1 unpadded layer reads input pixel p for output pixel p: an item's rows are one
 * contiguous run of pixels, tiled across row ends. */
static inline bool sn_nchwc_flat(const sn_nchwc_conv_geom *g) {
  return g->kh * g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 && g->ih == g->oh &&
         g->iw == g->ow;
}
/* Width of the tile at offset i of a run of n pixels cut into ceil(n / mt) tiles of near-equal width
 * (a row of 7 as 4 + 3, not 6 + 1: a one-pixel tile loads as many weights as a full one). */
static inline int64_t sn_nchwc_even_tile(int64_t n, int64_t mt, int64_t i) {
  const int64_t nt = (n + mt - 1) / mt, base = n / nt, extra = n % nt;
  return i < extra * (base + 1) ? base + 1 : base;
}
/* The input blocks [*lo, *hi) that output block ob of a grouped convolution reads (every block when
 * group <= 1): those holding the input channels of the groups of its output channels. */
static inline void sn_nchwc_group_range(const sn_nchwc_conv_geom *g, int64_t ob, int64_t *lo, int64_t *hi) {
  if (g->group <= 1 || g->depthwise) {
    *lo = 0, *hi = g->cbi;
    return;
  }
  const int64_t b = g->block, M = g->group * g->group_out, c1 = (ob + 1) * b < M ? (ob + 1) * b : M;
  const int64_t g0 = ob * b / g->group_out, g1 = (c1 - 1) / g->group_out;
  *lo = g0 * g->group_in / b;
  *hi = ((g1 + 1) * g->group_in + b - 1) / b;
}
/* Input blocks per output block in a grouped weight (the widest range), for M and C channels in G groups. */
int64_t sn_nchwc_group_span(int64_t M, int64_t C, int64_t G, int64_t block);
/* Floats per weight slot between output blocks: span (grouped) or cbi input blocks of kh * kw taps. */
static inline int64_t sn_nchwc_weight_stride(const sn_nchwc_conv_geom *g) {
  int64_t span = g->cbi;
  if (g->group > 1 && !g->depthwise)
    span = g->span > 0 ? g->span
                       : sn_nchwc_group_span(g->group * g->group_out, g->group * g->group_in, g->group, g->block);
  return span * g->kh * g->kw * g->in_block * g->block;
}
void sn_nchwc_conv_f32(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, int64_t t0, int64_t t1);
const char *sn_nchwc_conv_f32_name(const sn_nchwc_conv_geom *g);
/* per-implementation entry points (tests); AVX-512 needs block 16 and the ISA, AVX2 block 8 and the ISA */
void sn_nchwc_conv_f32_ref(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, int64_t t0,
                           int64_t t1);
void sn_nchwc_conv_f32_avx512(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, int64_t t0,
                              int64_t t1);
void sn_nchwc_conv_f32_avx2(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, int64_t t0,
                            int64_t t1);

/* Weight packing from the NCHW weight [M, C/group, kh, kw] (dst zero-filled here). Sizes in floats.
 * in_block: the input's lanes per pixel (block, or 1 for an NCHW input: [MB, C, kh, kw, 1, b]). */
int64_t sn_nchwc_weight_size(int64_t M, int64_t C, int64_t kh, int64_t kw, int64_t block, int64_t in_block,
                             bool depthwise);
void sn_nchwc_pack_weight(const float *w, int64_t M, int64_t C, int64_t kh, int64_t kw, int64_t block,
                          int64_t in_block, bool depthwise, float *dst);

/* A grouped weight [M, C / G, kh, kw] packed as [ceil(M / b), span, kh, kw, b, b] (see above; dst
 * zero-filled here), and its size in floats. */
int64_t sn_nchwc_grouped_weight_size(int64_t M, int64_t C, int64_t G, int64_t kh, int64_t kw, int64_t block);
void sn_nchwc_pack_grouped_weight(const float *w, int64_t M, int64_t C, int64_t G, int64_t kh, int64_t kw, int64_t block,
                                  float *dst);

/* ---- reorders ---------------------------------------------------------------------------------- */

/* NCHW [planes of hw floats, C channels per image] -> blocked; (image, block) pairs [t0, t1),
 * t = n * ceil(C/b) + cb, of a tensor with C channels and hw pixels per plane; padded channels are
 * zeroed. */
void sn_nchwc_reorder_in_f32(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0, int64_t t1);
/* blocked -> NCHW cropping to C channels; (image, block) pairs [t0, t1), t = n * ceil(C/b) + cb */
void sn_nchwc_reorder_out_f32(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0, int64_t t1);
/* blocked -> NHWC [N, H, W, C]; (image, pixel) pairs [t0, t1), t = n * hw + p */
void sn_nchwc_reorder_out_nhwc_f32(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0,
                                   int64_t t1);
/* NHWC [N, H, W, C] -> blocked, padded channels zeroed; (image, pixel) pairs [t0, t1), t = n * hw + p */
void sn_nchwc_reorder_in_nhwc_f32(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0,
                                  int64_t t1);
/* the three per implementation (the entry points above dispatch on the block and sn_cpu_isa()): the
 * portable loops take any block; the AVX-512 ones block 16, the AVX2 ones block 8, in transposed
 * tiles (kernels/x86/reorder_simd.h). All move the same floats. */
void sn_nchwc_reorder_in_f32_ref(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0, int64_t t1);
void sn_nchwc_reorder_out_f32_ref(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0, int64_t t1);
void sn_nchwc_reorder_out_nhwc_f32_ref(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0,
                                       int64_t t1);
void sn_nchwc_reorder_in_nhwc_f32_ref(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0,
                                      int64_t t1);
void sn_nchwc_reorder_in_f32_avx512(const float *x, float *y, int64_t C, int64_t hw, int64_t t0, int64_t t1);
void sn_nchwc_reorder_out_f32_avx512(const float *x, float *y, int64_t C, int64_t hw, int64_t t0, int64_t t1);
void sn_nchwc_reorder_out_nhwc_f32_avx512(const float *x, float *y, int64_t C, int64_t hw, int64_t t0, int64_t t1);
void sn_nchwc_reorder_in_nhwc_f32_avx512(const float *x, float *y, int64_t C, int64_t hw, int64_t t0, int64_t t1);
void sn_nchwc_reorder_in_f32_avx2(const float *x, float *y, int64_t C, int64_t hw, int64_t t0, int64_t t1);
void sn_nchwc_reorder_out_f32_avx2(const float *x, float *y, int64_t C, int64_t hw, int64_t t0, int64_t t1);
void sn_nchwc_reorder_out_nhwc_f32_avx2(const float *x, float *y, int64_t C, int64_t hw, int64_t t0, int64_t t1);
void sn_nchwc_reorder_in_nhwc_f32_avx2(const float *x, float *y, int64_t C, int64_t hw, int64_t t0, int64_t t1);

/* ---- pooling ----------------------------------------------------------------------------------- */

typedef struct sn_nchwc_pool_geom {
  int64_t block, n, cb, ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw;
  bool max;               /* else average */
  bool count_include_pad; /* average: divide by the full window (pads inside the input's padded extent) */
  int64_t pad_end_h, pad_end_w;
} sn_nchwc_pool_geom;

/* planes t = n * cb + c in [t0, t1) */
void sn_nchwc_pool_f32(const sn_nchwc_pool_geom *g, const float *x, float *y, int64_t t0, int64_t t1);
void sn_nchwc_pool_f32_ref(const sn_nchwc_pool_geom *g, const float *x, float *y, int64_t t0, int64_t t1);
void sn_nchwc_pool_f32_avx512(const sn_nchwc_pool_geom *g, const float *x, float *y, int64_t t0, int64_t t1);
void sn_nchwc_pool_f32_avx2(const sn_nchwc_pool_geom *g, const float *x, float *y, int64_t t0, int64_t t1);
/* global average over hw pixels of planes [t0, t1): y[t][lane] = mean over x[t][p][lane] */
void sn_nchwc_gavg_f32(const float *x, float *y, int64_t hw, int64_t block, int64_t t0, int64_t t1);
void sn_nchwc_gavg_f32_ref(const float *x, float *y, int64_t hw, int64_t block, int64_t t0, int64_t t1);
void sn_nchwc_gavg_f32_avx512(const float *x, float *y, int64_t hw, int64_t t0, int64_t t1); /* block 16 */
void sn_nchwc_gavg_f32_avx2(const float *x, float *y, int64_t hw, int64_t t0, int64_t t1);   /* block 8 */

/* ---- per-channel affine ---------------------------------------------------------------------------- */

/* y = x * a[c] + b[c] per channel of planes t = n * cb + c in [t0, t1) (hw pixels each; a, b: cb * block
 * floats), then max(0, .) with relu (NaN: 0); y may be x */
void sn_nchwc_affine_f32(const float *x, const float *a, const float *b, float *y, int64_t cb, int64_t hw,
                         int64_t block, bool relu, int64_t t0, int64_t t1);
void sn_nchwc_affine_f32_ref(const float *x, const float *a, const float *b, float *y, int64_t cb, int64_t hw,
                             int64_t block, bool relu, int64_t t0, int64_t t1);
void sn_nchwc_affine_f32_avx512(const float *x, const float *a, const float *b, float *y, int64_t cb, int64_t hw,
                                bool relu, int64_t t0, int64_t t1); /* block 16 */
void sn_nchwc_affine_f32_avx2(const float *x, const float *a, const float *b, float *y, int64_t cb, int64_t hw,
                              bool relu, int64_t t0, int64_t t1); /* block 8 */

#endif
