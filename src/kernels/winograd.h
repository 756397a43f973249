/* Winograd F(4x4, 3x3) convolution on the blocked layout NCHWc (float32, group 1, stride 1,
 * dilation 1, any pads; see kernels/nchwc.h for the layout and the geometry).
 *
 * The output is cut into 4x4 tiles (tile t = (n * th + ty) * tw + tx over all images, th = ceil(oh/4),
 * tw = ceil(ow/4)); each reads a 6x6 input patch (zeros outside the input). Points 0, +-1, +-2 and
 * infinity (Lavin & Gray):
 *   input   V = B^T d B     per channel, 36 values per tile
 *   weight  U = G g G^T     per (input, output) channel pair, once at load
 *   product M[p] = V[p] (tiles x Cin) * U[p] (Cin x Cout)   36 GEMMs (the packed GEMM engine)
 *   output  y = A^T M A     per output channel, 16 values per tile, + the NchwcConv epilogue
 * Per point p, V and M are row-major matrices of tiles: V[p * vps + tile * ldv + input channel] and
 * M[p * mps + tile * ldm + output channel] (channels padded to whole blocks).
 *
 * The transforms have a portable version (any block), AVX-512 (block 16) and AVX2 (block 8); the
 * unsuffixed names dispatch on sn_cpu_isa() and the block like the other NCHWc kernels. */
#ifndef SN_WINOGRAD_H
#define SN_WINOGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/gemm.h"
#include "kernels/nchwc.h"

#define SN_WINO_POINTS 36

/* true when g can run as Winograd F(4x4, 3x3): 3x3 kernel, stride 1, dilation 1, group 1, blocked
 * input, output at least 1x1 */
bool sn_wino_eligible(const sn_nchwc_conv_geom *g);
/* tiles of g over all its images */
int64_t sn_wino_tiles(const sn_nchwc_conv_geom *g);

/* ---- transforms ---------------------------------------------------------------------------------- */

/* tiles [t0, t1) of x (all g->cbi input blocks) into V, tile t at row t - t0 */
void sn_wino_input_f32(const sn_nchwc_conv_geom *g, const float *x, int64_t t0, int64_t t1, float *v, int64_t ldv,
                       int64_t vps);
/* tiles [t0, t1) (row t - t0 of M), output blocks [cb0, cb1): y = A^T M A + epilogue (bias, residual,
 * Relu/Clip of g) written into y (the whole NCHWc output, cropped to oh x ow) */
void sn_wino_output_f32(const sn_nchwc_conv_geom *g, const float *m, int64_t t0, int64_t t1, int64_t cb0, int64_t cb1,
                        int64_t ldm, int64_t mps, float *y);
void sn_wino_input_f32_ref(const sn_nchwc_conv_geom *g, const float *x, int64_t t0, int64_t t1, float *v, int64_t ldv,
                           int64_t vps);
void sn_wino_output_f32_ref(const sn_nchwc_conv_geom *g, const float *m, int64_t t0, int64_t t1, int64_t cb0,
                            int64_t cb1, int64_t ldm, int64_t mps, float *y);
void sn_wino_input_f32_avx512(const sn_nchwc_conv_geom *g, const float *x, int64_t t0, int64_t t1, float *v,
                              int64_t ldv, int64_t vps);
void sn_wino_output_f32_avx512(const sn_nchwc_conv_geom *g, const float *m, int64_t t0, int64_t t1, int64_t cb0,
                               int64_t cb1, int64_t ldm, int64_t mps, float *y);
void sn_wino_input_f32_avx2(const sn_nchwc_conv_geom *g, const float *x, int64_t t0, int64_t t1, float *v,
                            int64_t ldv, int64_t vps);
void sn_wino_output_f32_avx2(const sn_nchwc_conv_geom *g, const float *m, int64_t t0, int64_t t1, int64_t cb0,
                             int64_t cb1, int64_t ldm, int64_t mps, float *y);

/* ---- weights ------------------------------------------------------------------------------------- */

/* U for the packed NCHWc weight w [cbo, cbi, 3, 3, b, b]: 36 matrices (cbi*b) x (cbo*b), each also
 * packed for the GEMM of the ISA of the calling thread (the plain U stays as the packed operands'
 * source). src records w. */
typedef struct sn_wino_weights {
  const float *src;
  int64_t cbi, cbo, block;
  float *u;
  sn_sgemm_packed *pk[SN_WINO_POINTS];
} sn_wino_weights;

/* NULL on OOM */
sn_wino_weights *sn_wino_weights_create(const float *w, int64_t cbi, int64_t cbo, int64_t block);
void sn_wino_weights_free(sn_wino_weights *wt);
/* Without the plain U (less memory and time at load): sn_wino_weights_new makes the empty set,
 * sn_wino_weights_make_points transforms points [p0, p1) one at a time into buf (a scratch of
 * sn_wino_weights_buf_floats floats) and packs each for this thread's ISA (callers may share the
 * points out between threads); false on OOM or when this ISA has no packed GEMM (scalar: use
 * sn_wino_weights_create). The set is usable once every point is made (sn_wino_weights_ready). */
sn_wino_weights *sn_wino_weights_new(const float *w, int64_t cbi, int64_t cbo, int64_t block);
size_t sn_wino_weights_buf_floats(const sn_wino_weights *wt);
bool sn_wino_weights_make_points(sn_wino_weights *wt, int p0, int p1, float *buf);
bool sn_wino_weights_ready(const sn_wino_weights *wt);
/* Free the plain U when every point is packed (halves the memory); the weights then serve only
 * threads that may use the packed data (sn_wino_usable). */
void sn_wino_weights_drop_source(sn_wino_weights *wt);
/* true when the calling thread can run sn_wino_conv_f32 with wt: U is kept, or this thread's ISA is
 * the one the points were packed for and float32 GEMMs do not run in bf16 */
bool sn_wino_usable(const sn_wino_weights *wt);

/* ---- the convolution ----------------------------------------------------------------------------- */

/* How the work is cut: items are (group of `tg` consecutive tiles, chunk of `cols` output channels);
 * item i covers tile group i / col_chunks and column chunk i % col_chunks. */
typedef struct sn_wino_split {
  int64_t tiles, tg, groups, cols, col_chunks, items;
  size_t ws_floats; /* scratch floats one worker needs (V, M and the GEMM workspace) */
} sn_wino_split;

/* Cut g for `threads` workers (tg: tiles per group, <= 0 for the default). */
sn_wino_split sn_wino_plan(const sn_nchwc_conv_geom *g, const sn_wino_weights *wt, int threads, int64_t tg);
/* Items [i0, i1) of the convolution (only where sn_wino_usable(wt)); ws: 64-byte aligned scratch of split->ws_floats floats. */
void sn_wino_conv_f32(const sn_nchwc_conv_geom *g, const sn_wino_weights *wt, const sn_wino_split *s, const float *x,
                      float *y, int64_t i0, int64_t i1, float *ws);
/* "f32_nchwc16_wino4x4_avx512" etc. */
const char *sn_wino_name(const sn_nchwc_conv_geom *g);

#endif
