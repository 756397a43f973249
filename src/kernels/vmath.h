/* Vectorized float32 math over arrays (exp, log, tanh, sigmoid, erf, GELU, SiLU), dispatched by ISA. */
#ifndef SN_VMATH_H
#define SN_VMATH_H

#include <stdint.h>

#include "runtime/cpu.h"

/* y[i] = f(x[i]) for i < n; y may equal x (in place), otherwise the arrays must not overlap.
 * The ISA is the best sn_cpu_isa() allows (AVX-512 > AVX2+FMA > portable C calling libm), looked
 * up per call (an atomic load), so SINTER_ISA and per-session caps apply.
 *
 * Error bounds, asserted by tests/unit/test_vmath.c over every 97th float32 bit pattern plus
 * special values, against double-precision libm; "ulp" is the float32 spacing at the exact result
 * (2^-149 for denormal results). An element passes when it is within the ulp bound OR within the
 * absolute bound:
 *   sn_vexp        3 ulp                       (overflow to +inf past 88.7228, underflow through
 *                                               denormals to +0 below -103.97, as expf)
 *   sn_vlog        3 ulp                       (log(0) = -inf, log(x<0) = NaN, log(+inf) = +inf)
 *   sn_vsigmoid    4 ulp                       (relative also for tiny results: exp(x)/(1+exp(x)))
 *   sn_vtanh       4 ulp or 1e-6 absolute
 *   sn_verf        4 ulp or 1e-6 absolute
 *   sn_vgelu       4 ulp or 1e-6 absolute      0.5*x*(1+erf(x/sqrt 2)), via erfc for x < 0
 *   sn_vgelu_tanh  4 ulp or 1e-6 absolute      0.5*x*(1+tanh(0.79788456*(x+0.044715*x^3)))
 *   sn_vsilu       4 ulp or 1e-6 absolute      x*sigmoid(x)
 * NaN in gives NaN out; +-inf give the limits (gelu, gelu_tanh, silu of -inf are -0, not NaN);
 * signed zeros are kept by the odd functions. The measured maxima are printed by test_vmath. */
void sn_vexp(const float *x, float *y, int64_t n);
void sn_vlog(const float *x, float *y, int64_t n);
void sn_vtanh(const float *x, float *y, int64_t n);
void sn_vsigmoid(const float *x, float *y, int64_t n);
void sn_verf(const float *x, float *y, int64_t n);
void sn_vgelu(const float *x, float *y, int64_t n);
void sn_vgelu_tanh(const float *x, float *y, int64_t n);
void sn_vsilu(const float *x, float *y, int64_t n);

/* Piecewise-linear activations, y[i] = f(x[i]) (y may equal x), with a * x + b rounded twice (no
 * FMA), exactly as the portable loop computes them; NaN in gives NaN out:
 *   SN_PWL_CLIP      min(max(x, a), b)                      (Clip, Relu6)
 *   SN_PWL_LEAKY     x < 0 ? a * x : x                      (LeakyRelu)
 *   SN_PWL_HSIGMOID  min(max(a * x + b, 0), 1)              (HardSigmoid)
 *   SN_PWL_HSWISH    x * min(max(a * x + b, 0), 1)          (HardSwish: a = 1/6, b = 1/2)
 * (the branches of a scalar loop mispredict on activations of either sign: a HardSwish after a
 * convolution ran at 4.4 ns an element) */
enum { SN_PWL_CLIP = 0, SN_PWL_LEAKY = 1, SN_PWL_HSIGMOID = 2, SN_PWL_HSWISH = 3 };
void sn_vpwl(int kind, float a, float b, const float *x, float *y, int64_t n);
/* y[i] = a * x[i] (y may equal x): a softmax row's normalization */
void sn_vscale(float a, const float *x, float *y, int64_t n);

/* One LSTM cell update of n units with ONNX's default activations. For gate q (0..3: i, o, f, c in
 * ONNX order) and unit k, its input is a_q = g[q * gs + k] + x[q * gs + k], clamped to [-clip, clip]
 * when clip > 0; then c[k] = sigmoid(a_f) * c[k] + sigmoid(a_i) * tanh(a_c) and
 * h[k] = sigmoid(a_o) * tanh(c[k]), with the accuracy of sn_vsigmoid and sn_vtanh. One pass over the
 * units in place of a pass per gate (an LSTM step at batch 8 spent a fifth of its time there). */
void sn_vlstm_cell(const float *g, const float *x, int64_t gs, float clip, float *c, float *h, int64_t n);

/* A matrix product's epilogue in one pass over d: d[i] = f(d[i] + bias[i] + res[i]) for i < n, the
 * additions in that order, skipped where bias or res is NULL, and f one of SN_VACT_* (the order of
 * sn_act_kind in ops/fused.h): none, max(v, 0) (NaN gives 0, as v > 0 ? v : 0), the piecewise-linear
 * ones of sn_vpwl with a and b (LeakyRelu: a), and the transcendental ones of sn_vsigmoid, sn_vtanh,
 * sn_vgelu, sn_vgelu_tanh and sn_vsilu. The same result, bit for bit, as adding in a loop and then
 * calling those functions on the same ISA; one read and one write of d instead of up to four. */
enum {
  SN_VACT_NONE, SN_VACT_RELU, SN_VACT_LEAKY, SN_VACT_SIGMOID, SN_VACT_TANH, SN_VACT_HSIGMOID, SN_VACT_HSWISH,
  SN_VACT_CLIP, SN_VACT_GELU, SN_VACT_GELU_TANH, SN_VACT_SILU
};
void sn_vbias_act(int act, float a, float b, const float *bias, const float *res, float *d, int64_t n);

/* y[i] = exp(x[i] - shift) (y may equal x); returns the float sum of the results. The vector kernels
 * return 0 where the result would be denormal (x[i] - shift < -87): a softmax probability below
 * 1.2e-38 is 0, and no masked position pays Intel's microcode assist for a denormal result. */
float sn_vexp_shift_sum(const float *x, float *y, int64_t n, float shift);
/* The largest of x[0..n) by x86 max (NaN elements skipped unless x[0] is NaN: as a loop of
 * m = x[i] > m ? x[i] : m from m = x[0]); n >= 1. Softmax rows start here. */
float sn_vmax(const float *x, int64_t n);
/* The same sum without storing the results. */
float sn_vexp_shift_sumonly(const float *x, int64_t n, float shift);

/* One ISA's kernels, for tests and benchmarks. */
typedef void (*sn_vmath_fn)(const float *x, float *y, int64_t n);
typedef void (*sn_vlstm_fn)(const float *g, const float *x, int64_t gs, float clip, float *c, float *h, int64_t n);
typedef void (*sn_vpwl_fn)(float a, float b, const float *x, float *y, int64_t n);
/* exp(x[i] - shift) into y (NULL: not stored), returning the float sum */
typedef float (*sn_vexpsum_fn)(const float *x, float *y, int64_t n, float shift);
typedef float (*sn_vmax_fn)(const float *x, int64_t n);
typedef void (*sn_vbias_act_fn)(int act, float a, float b, const float *bias, const float *res, float *d, int64_t n);
typedef struct sn_vmath_kernels {
  sn_vmath_fn exp, log, tanh, sigmoid, erf, gelu, gelu_tanh, silu;
  sn_vlstm_fn lstm_cell;
  sn_vpwl_fn pwl[4]; /* indexed by SN_PWL_* */
  sn_vexpsum_fn expsum;
  sn_vmax_fn max;
  sn_vbias_act_fn bias_act;
  sn_vpwl_fn scale; /* sn_vscale (b unused) */
} sn_vmath_kernels;

/* The kernels for isa, or NULL when this CPU and OS cannot run them (SINTER_ISA is not applied). */
const sn_vmath_kernels *sn_vmath_kernels_for(sn_isa isa);

/* Defined in src/kernels/x86/vmath_avx2.c and vmath_avx512.c; call only where the CPU has the ISA. */
extern const sn_vmath_kernels sn_vmath_avx2;
extern const sn_vmath_kernels sn_vmath_avx512;

#endif
