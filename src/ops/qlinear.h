/* Fast paths of the integer Conv and MatMul ops (ConvInteger, QLinearConv, MatMulInteger,
 * QLinearMatMul and the sinter-domain fused forms the QDQ pass makes) through the INT8 GEMM of
 * kernels/qgemm.h, with weights packed once at load. conv.c and matmul.c call these from their
 * integer sections and keep their reference code for what the fast path does not cover. */
#ifndef SN_OPS_QLINEAR_H
#define SN_OPS_QLINEAR_H

#include <stdbool.h>

#include "kernels/ref/im2col_ref.h"
#include "ops/op.h"

/* Weights packed at load (from a constant W): conv: W as s8 rows with their sums; matmul: B packed
 * in panels with its column sums. */
typedef struct sn_qweights sn_qweights;
/* NULL (no error) when w is not a usable constant; conv: w [M, Cg, k...]; matmul: b [K, N] (or
 * [N, K] when transB). */
/* form: what to pack (SN_QCONV_*) */
sn_error *sn_qweights_conv(const sn_tensor *w, int form, sn_qweights **out);
/* The three forms of an integer convolution's GEMM (ops/qlinear.c):
 *  SN_QFORM_CM: channels x positions, W's rows against the im2col of X packed per call;
 *  SN_QFORM_T:  positions x channels, the im2col rows gathered from X's planes against W^T packed at
 *               load, the result stored transposed (1x1 on small maps with long sums, where the
 *               other form leaves much of its 16-column panels empty);
 *  SN_QFORM_NHWC:  positions x channels, the im2col rows copied from a padded NHWC copy of X (taps
 *               outermost) against W^T packed the same way, the NHWC result transposed into NCHW
 *               (k x k kernels with 16 or more channels per group, group 1, 8-bit output).
 * sn_qconv_form picks one for a 2-D conv (output out[0] x out[1], Cg channels per group, G groups). */
enum { SN_QFORM_CM = 0, SN_QFORM_T = 1, SN_QFORM_NHWC = 2, SN_QFORM_DW = 3 };
int sn_qconv_form(const int64_t out[2], const int64_t k[2], const int64_t stride[2], const int64_t dil[2], int64_t Cg,
                  int64_t G, bool q8out);
/* A depthwise conv's weight (w [M, 1, k...], wz its zero point: NULL, a scalar or one per output
 * channel) as the int32 taps the depthwise kernel reads (kernels/qdwconv.h: weight minus its zero
 * point) and whether they all fit s8, made once at load (SN_QFORM_DW). The run uses them when its W
 * and zero point are these same tensors, else converts per call. NULL (no error) when not usable. */
sn_error *sn_qweights_dwconv(const sn_tensor *w, const sn_tensor *wz, sn_qweights **out);
/* The DW form's taps (M x K, weight minus zero point) and whether they all fit s8 (for tests). */
void sn_qweights_dw_taps(const sn_qweights *q, const int32_t **taps, bool *s8);
/* The initializer a conv's packed weight (forms CM, T, NHWC) was made from gives its buffer up: the
 * packed copy then matches a W without data, and the rare path that needs W's own bytes recovers them
 * (sn_qconv_weight_bytes). false (nothing changed) for forms that cannot recover W (DW, matmul). */
bool sn_qweights_forget_source(sn_qweights *q);
/* W's original bytes (M x R of its type) from the packed copy; false for the DW form. */
bool sn_qweights_unpack(const sn_qweights *q, uint8_t *dst);
/* W's bytes: its data, or, when its initializer gave the buffer up, recovered from pw into scratch;
 * NULL when neither (or out of memory). */
const uint8_t *sn_qconv_weight_bytes(sn_kernel_ctx *c, const sn_tensor *w, const sn_qweights *pw);
sn_error *sn_qweights_matmul(const sn_tensor *b, bool transB, sn_qweights **out);
void sn_qweights_free(sn_qweights *q);

/* the activation a fused integer Conv/MatMul applies before requantizing (attribute activation:
 * "Relu", or "Clip" with activation_params [min, max]: the clamp of ReLU6 and the like) */
enum { SN_QACT_NONE = 0, SN_QACT_RELU = 1, SN_QACT_CLIP = 2 };
/* activation / activation_params of n into *act, *lo, *hi (Clip's bounds) */
sn_error *sn_qact_parse(const sn_node *n, int *act, float *lo, float *hi);

/* Quantization of an integer Conv/MatMul. xs/ys NULL: int32 output (ConvInteger/MatMulInteger);
 * ys NULL with xs set: float output (dequantized: acc * xs * ws + bias); else u8/s8 output like y's
 * dtype. bias: int32 (added to the accumulator) or, with float output, float. */
typedef struct sn_qargs {
  const sn_tensor *x, *xs, *xz, *w, *ws, *wz, *ys, *yz, *bias;
  int act;
  const sn_qweights *pw; /* packed W, or NULL */
  sn_tensor *y;          /* the output, already allocated */
  /* conv with a u8/s8 output: a residual QLinearAdd fused into the epilogue (kernels/qgemm.h), res of
   * y's shape and type, or NULL; *res_done tells whether the path took it (else the caller adds) */
  const sn_tensor *res;
  float rac, rbc, rfix;
  bool res_is_a;
  bool *res_done;
  float act_lo, act_hi; /* SN_QACT_CLIP: the bounds, in the float output's units */
} sn_qargs;

/* Both return false when the fast path does not apply (the caller runs its reference code); when
 * they return true, *err holds the outcome. */
bool sn_qconv(sn_kernel_ctx *c, const sn_qargs *a, const sn_conv_geom *g, int64_t N, int64_t C, int64_t M, int64_t G,
              sn_error **err);
/* The same convolution with X and Y in NHWC order (N, H, W, C; the channels-last region of
 * passes/layout_q8.c): 2-D, group 1, 8-bit output, W packed in SN_QFORM_NHWC; the residual, if any,
 * NHWC too and added in the epilogue. */
bool sn_qconv_nhwc(sn_kernel_ctx *c, const sn_qargs *a, const sn_conv_geom *g, int64_t N, int64_t C, int64_t M,
                   int64_t G, sn_error **err);
/* y[b] = x[aoff[b]] (M x K) * w[boff[b]] (K x N, or N x K when transB) for b < nbatch. */
bool sn_qmatmul(sn_kernel_ctx *c, const sn_qargs *a, int64_t M, int64_t N, int64_t K, bool transB, int64_t nbatch,
                const int64_t *aoff, const int64_t *boff, sn_error **err);

/* Input i of a com.microsoft quantized op as one per-tensor parameter: a scale (float32 family,
 * required) or a zero point (of input `like`'s type; 0 when absent). A per-channel one is refused by
 * name; a zero scale is taken (the results saturate, as in ONNX Runtime). */
sn_error *sn_qscalar_param(sn_kernel_ctx *c, int i, bool scale, int like, const char *name, float *out);
/* The sinter:QDQ* row ops (QDQSoftmax, QDQLayerNormalization, QDQBinary): x (input 0) int8 or uint8
 * with x_scale, x_zero_point at inputs 1, 2 and y_scale, y_zero_point at yi, yi + 1, each one value
 * (a scale positive and finite, an absent zero point 0); y of y_zero_point's type, shaped like x. */
typedef struct sn_qdq_io {
  float xs, xz, ys, yz;
} sn_qdq_io;
sn_error *sn_qdq_io_read(sn_kernel_ctx *c, int yi, sn_qdq_io *q);
/* shape inference of the same: the types checked, the output set (zi: y_zero_point's input) */
sn_error *sn_qdq_infer_out(sn_infer_ctx *c, int zi);

#endif
