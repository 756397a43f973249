/* Vector math dispatch (AVX-512 > AVX2+FMA > portable C calling libm per element) and exp-sum helpers. */
#include "kernels/vmath.h"

#include <math.h>
#include <stddef.h>

/* ---- portable kernels: libm per element, with the same conventions as the SIMD ones ------------ */

static void c_exp(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
}
static void c_log(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]);
}
static void c_tanh(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}
/* x * sigmoid(v), relative-accurate for v of either sign; x = -inf gives -0 */
static inline float c_xsig(float x, float v) {
  if (x == -INFINITY) return -0.0f;
  float e = expf(-fabsf(v));
  return x * (v >= 0 ? 1.0f : e) / (1.0f + e);
}
static void c_sigmoid(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float e = expf(-fabsf(x[i]));
    y[i] = (x[i] >= 0 ? 1.0f : e) / (1.0f + e);
  }
}
static void c_erf(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = erff(x[i]);
}
static void c_gelu(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = v == -INFINITY ? -0.0f : 0.5f * v * erfcf(-v * 0.70710678118654752f);
  }
}
static void c_gelu_tanh(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    y[i] = c_xsig(v, u + u);
  }
}
static void c_silu(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = c_xsig(x[i], x[i]);
}

static inline float c_sig1(float v) {
  float e = expf(-fabsf(v));
  return (v >= 0 ? 1.0f : e) / (1.0f + e);
}
static void c_lstm_cell(const float *g, const float *x, int64_t gs, float clip, float *c, float *h, int64_t n) {
  for (int64_t k = 0; k < n; k++) {
    float a[4];
    for (int q = 0; q < 4; q++) {
      float v = g[q * gs + k] + x[q * gs + k];
      a[q] = clip > 0 ? (v < -clip ? -clip : v > clip ? clip : v) : v;
    }
    c[k] = c_sig1(a[2]) * c[k] + c_sig1(a[0]) * tanhf(a[3]);
    h[k] = c_sig1(a[1]) * tanhf(c[k]);
  }
}

/* comparisons, not fminf / fmaxf (their NaN rules differ): NaN passes */
static inline float c_clamp(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }
#define C_PWL(NAME, EXPR)                                                                          \
  static void NAME(float a, float b, const float *x, float *y, int64_t n) {                        \
    (void)a, (void)b;                                                                              \
    for (int64_t i = 0; i < n; i++) {                                                              \
      float v = x[i];                                                                              \
      y[i] = EXPR;                                                                                 \
    }                                                                                              \
  }
C_PWL(c_pwl_clip, c_clamp(v, a, b))
C_PWL(c_pwl_leaky, v < 0 ? a * v : v)
C_PWL(c_pwl_hsigmoid, c_clamp(a * v + b, 0.0f, 1.0f))
C_PWL(c_pwl_hswish, v * c_clamp(a * v + b, 0.0f, 1.0f))
C_PWL(c_scale, a * v)

static float c_expsum(const float *x, float *y, int64_t n, float shift);
static float c_max(const float *x, int64_t n) {
  float m = x[0];
  for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

static void c_bias_act(int act, float a, float b, const float *bias, const float *res, float *d, int64_t n) {
  if (bias)
    for (int64_t i = 0; i < n; i++) d[i] += bias[i];
  if (res)
    for (int64_t i = 0; i < n; i++) d[i] += res[i];
  switch (act) {
    case SN_VACT_RELU:
      for (int64_t i = 0; i < n; i++) d[i] = d[i] > 0.f ? d[i] : 0.f;
      break;
    case SN_VACT_LEAKY: c_pwl_leaky(a, b, d, d, n); break;
    case SN_VACT_SIGMOID: c_sigmoid(d, d, n); break;
    case SN_VACT_TANH: c_tanh(d, d, n); break;
    case SN_VACT_HSIGMOID: c_pwl_hsigmoid(a, b, d, d, n); break;
    case SN_VACT_HSWISH: c_pwl_hswish(a, b, d, d, n); break;
    case SN_VACT_CLIP: c_pwl_clip(a, b, d, d, n); break;
    case SN_VACT_GELU: c_gelu(d, d, n); break;
    case SN_VACT_GELU_TANH: c_gelu_tanh(d, d, n); break;
    case SN_VACT_SILU: c_silu(d, d, n); break;
    default: break;
  }
}

static const sn_vmath_kernels portable = {c_exp, c_log, c_tanh, c_sigmoid, c_erf, c_gelu, c_gelu_tanh, c_silu,
                                          c_lstm_cell, {c_pwl_clip, c_pwl_leaky, c_pwl_hsigmoid, c_pwl_hswish},
                                          c_expsum, c_max, c_bias_act, c_scale};

const sn_vmath_kernels *sn_vmath_kernels_for(sn_isa isa) {
  const sn_cpu *c = sn_cpu_info();
  switch (isa) {
    case SN_ISA_AVX512: return c->avx2 && c->fma && c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq ? &sn_vmath_avx512 : NULL;
    case SN_ISA_AVX2: return c->avx2 && c->fma ? &sn_vmath_avx2 : NULL;
    default: return &portable;
  }
}

/* sn_cpu_isa() is an atomic load plus the thread's cap, cheap enough to read per call */
static inline const sn_vmath_kernels *kernels(void) {
  switch (sn_cpu_isa()) {
    case SN_ISA_AVX512: return &sn_vmath_avx512;
    case SN_ISA_AVX2: return &sn_vmath_avx2;
    default: return &portable;
  }
}

void sn_vexp(const float *x, float *y, int64_t n) { kernels()->exp(x, y, n); }
void sn_vlog(const float *x, float *y, int64_t n) { kernels()->log(x, y, n); }
void sn_vtanh(const float *x, float *y, int64_t n) { kernels()->tanh(x, y, n); }
void sn_vsigmoid(const float *x, float *y, int64_t n) { kernels()->sigmoid(x, y, n); }
void sn_verf(const float *x, float *y, int64_t n) { kernels()->erf(x, y, n); }
void sn_vgelu(const float *x, float *y, int64_t n) { kernels()->gelu(x, y, n); }
void sn_vgelu_tanh(const float *x, float *y, int64_t n) { kernels()->gelu_tanh(x, y, n); }
void sn_vsilu(const float *x, float *y, int64_t n) { kernels()->silu(x, y, n); }
void sn_vpwl(int kind, float a, float b, const float *x, float *y, int64_t n) { kernels()->pwl[kind & 3](a, b, x, y, n); }
void sn_vscale(float a, const float *x, float *y, int64_t n) { kernels()->scale(a, 0.0f, x, y, n); }
void sn_vbias_act(int act, float a, float b, const float *bias, const float *res, float *d, int64_t n) {
  if (n > 0) kernels()->bias_act(act, a, b, bias, res, d, n);
}
void sn_vlstm_cell(const float *g, const float *x, int64_t gs, float clip, float *c, float *h, int64_t n) {
  kernels()->lstm_cell(g, x, gs, clip, c, h, n);
}

/* ---- exp(x - shift) with the sum ------------------------------------------------------------------ */

enum { CHUNK = 256 };

/* sum in 8 partial lanes (vectorizable, and closer to the exact sum than one running total) */
static float sum8(const float *v, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int u = 0; u < 8; u++) acc[u] += v[i + u];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; i++) s += v[i];
  return s;
}

/* portable: in chunks through a buffer when y is NULL */
static float c_expsum(const float *x, float *y, int64_t n, float shift) {
  float buf[CHUNK];
  float s = 0;
  for (int64_t i = 0; i < n; i += CHUNK) {
    int64_t m = n - i < CHUNK ? n - i : CHUNK;
    float *d = y ? y + i : buf;
    for (int64_t j = 0; j < m; j++) d[j] = expf(x[i + j] - shift);
    s += sum8(d, m);
  }
  return s;
}

float sn_vexp_shift_sum(const float *x, float *y, int64_t n, float shift) { return kernels()->expsum(x, y, n, shift); }

float sn_vexp_shift_sumonly(const float *x, int64_t n, float shift) { return kernels()->expsum(x, NULL, n, shift); }

float sn_vmax(const float *x, int64_t n) { return kernels()->max(x, n); }
