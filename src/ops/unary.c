/* Elementwise unary ops: math functions, activations, IsNaN/IsInf, Not/BitwiseNot and Clip (every
 * opset: attribute bounds before 11, input bounds from 11, integer types from 12). */
#include <float.h>
#include <string.h>
#include <tgmath.h>

#include "core/alloc.h"
#include "kernels/ref/elementwise_ref.h"
#include "kernels/vmath.h"
#include "ops/op.h"
#include "runtime/threadpool.h"

typedef enum uop {
  U_ABS, U_NEG, U_SQRT, U_RECIP, U_EXP, U_LOG, U_FLOOR, U_CEIL, U_ROUND, U_SIGN,
  U_SIN, U_COS, U_TAN, U_ASIN, U_ACOS, U_ATAN, U_SINH, U_COSH, U_ASINH, U_ACOSH, U_ATANH,
  U_ERF, U_ISNAN, U_ISINF, U_NOT, U_BNOT, U_RELU, U_LEAKY, U_SIGMOID, U_HSIGMOID, U_HSWISH,
  U_TANH, U_ELU, U_SELU, U_CELU, U_SOFTPLUS, U_SOFTSIGN, U_GELU, U_MISH, U_TRELU, U_SHRINK, U_CLIP
} uop;

static const struct {
  const char *name;
  int op;
} op_names[] = {
    {"Abs", U_ABS},         {"Neg", U_NEG},         {"Sqrt", U_SQRT},           {"Reciprocal", U_RECIP},
    {"Exp", U_EXP},         {"Log", U_LOG},         {"Floor", U_FLOOR},         {"Ceil", U_CEIL},
    {"Round", U_ROUND},     {"Sign", U_SIGN},       {"Sin", U_SIN},             {"Cos", U_COS},
    {"Tan", U_TAN},         {"Asin", U_ASIN},       {"Acos", U_ACOS},           {"Atan", U_ATAN},
    {"Sinh", U_SINH},       {"Cosh", U_COSH},       {"Asinh", U_ASINH},         {"Acosh", U_ACOSH},
    {"Atanh", U_ATANH},     {"Erf", U_ERF},         {"IsNaN", U_ISNAN},         {"IsInf", U_ISINF},
    {"Not", U_NOT},         {"BitwiseNot", U_BNOT}, {"Relu", U_RELU},           {"LeakyRelu", U_LEAKY},
    {"Sigmoid", U_SIGMOID}, {"HardSigmoid", U_HSIGMOID}, {"HardSwish", U_HSWISH}, {"Tanh", U_TANH},
    {"Elu", U_ELU},         {"Selu", U_SELU},       {"Celu", U_CELU},           {"Softplus", U_SOFTPLUS},
    {"Softsign", U_SOFTSIGN}, {"Gelu", U_GELU},     {"Mish", U_MISH},           {"ThresholdedRelu", U_TRELU},
    {"Shrink", U_SHRINK},   {"Clip", U_CLIP},
};

typedef struct un_params {
  int op;
  float alpha, beta, gamma, lambd, bias;
  bool det_neg, det_pos, gelu_tanh;
  bool clip_attrs;       /* Clip before opset 11: bounds are attributes */
  bool has_min, has_max; /* ... and which are given */
  float cmin, cmax;
} un_params;

static sn_error *parse(const sn_node *n, un_params *p) {
  memset(p, 0, sizeof *p);
  p->op = -1;
  for (size_t i = 0; i < sizeof op_names / sizeof *op_names; i++)
    if (!strcmp(n->op_type, op_names[i].name)) p->op = op_names[i].op;
  if (p->op < 0) return sn_ew_errorf(n, SINTER_ERR_NOT_IMPLEMENTED, "not a unary op");
  switch (p->op) {
    case U_LEAKY: p->alpha = sn_attr_float(n, "alpha", 0.01f); break;
    case U_HSIGMOID:
      p->alpha = sn_attr_float(n, "alpha", 0.2f);
      p->beta = sn_attr_float(n, "beta", 0.5f);
      break;
    case U_HSWISH:
      p->alpha = 1.0f / 6.0f;
      p->beta = 0.5f;
      break;
    case U_ELU:
    case U_CELU:
    case U_TRELU: p->alpha = sn_attr_float(n, "alpha", 1.0f); break;
    case U_SELU:
      p->alpha = sn_attr_float(n, "alpha", 1.67326319217681884765625f);
      p->gamma = sn_attr_float(n, "gamma", 1.05070102214813232421875f);
      break;
    case U_SHRINK:
      p->lambd = sn_attr_float(n, "lambd", 0.5f);
      p->bias = sn_attr_float(n, "bias", 0.0f);
      break;
    case U_ISINF:
      p->det_neg = sn_attr_int(n, "detect_negative", 1) != 0;
      p->det_pos = sn_attr_int(n, "detect_positive", 1) != 0;
      break;
    case U_GELU: {
      const char *a = sn_attr_str(n, "approximate", "none");
      if (!strcmp(a, "tanh"))
        p->gelu_tanh = true;
      else if (strcmp(a, "none"))
        return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "attribute approximate is '%s' (expected none or tanh)", a);
      break;
    }
    case U_CLIP:
      if (n->opset < 11) {
        p->clip_attrs = true;
        p->has_min = sn_node_attr(n, "min") != NULL || n->opset >= 6;
        p->has_max = sn_node_attr(n, "max") != NULL || n->opset >= 6;
        p->cmin = sn_attr_float(n, "min", -FLT_MAX);
        p->cmax = sn_attr_float(n, "max", FLT_MAX);
      }
      break;
    case U_CEIL:
    default: break;
  }
  if (n->n_in < 1 || n->in[0] < 0) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "input 0 is missing");
  if (p->op != U_CLIP && n->n_in > 1) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "has %d inputs (expected 1)", n->n_in);
  if (p->op == U_CLIP && n->n_in > (p->clip_attrs ? 1 : 3))
    return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "has %d inputs (expected at most %d)", n->n_in, p->clip_attrs ? 1 : 3);
  return NULL;
}

static sn_error *prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  un_params *p = sn_malloc(sizeof *p);
  if (!p) return SN_ERR_OOM();
  sn_error *e = parse(n, p);
  if (e) {
    sn_free(p);
    return e;
  }
  *params = p;
  return NULL;
}

static void free_params(void *p) { sn_free(p); }

/* ---- scalar functions: one expression, instantiated for float (T = float) and double ---------- */

#define DEF_FLT(NAME, EXPR)                                                                        \
  static inline float f_##NAME(float x, const un_params *p) {                                      \
    typedef float T;                                                                               \
    (void)p;                                                                                       \
    return (T)(EXPR);                                                                              \
  }                                                                                                \
  static inline double d_##NAME(double x, const un_params *p) {                                    \
    typedef double T;                                                                              \
    (void)p;                                                                                       \
    return (T)(EXPR);                                                                              \
  }

DEF_FLT(abs, fabs(x))
DEF_FLT(neg, -x)
DEF_FLT(sqrt, sqrt(x))
DEF_FLT(recip, (T)1 / x)
DEF_FLT(exp, exp(x))
DEF_FLT(log, log(x))
DEF_FLT(floor, floor(x))
DEF_FLT(ceil, ceil(x))
DEF_FLT(round, nearbyint(x))
DEF_FLT(sign, x > 0 ? (T)1 : x < 0 ? (T)-1 : x)
DEF_FLT(sin, sin(x))
DEF_FLT(cos, cos(x))
DEF_FLT(tan, tan(x))
DEF_FLT(asin, asin(x))
DEF_FLT(acos, acos(x))
DEF_FLT(atan, atan(x))
DEF_FLT(sinh, sinh(x))
DEF_FLT(cosh, cosh(x))
DEF_FLT(asinh, asinh(x))
DEF_FLT(acosh, acosh(x))
DEF_FLT(atanh, atanh(x))
DEF_FLT(erf, erf(x))
DEF_FLT(relu, x < 0 ? (T)0 : x)
DEF_FLT(leaky, x < 0 ? (T)p->alpha * x : x)
DEF_FLT(sigmoid, x >= 0 ? (T)1 / ((T)1 + exp(-x)) : exp(x) / ((T)1 + exp(x)))
DEF_FLT(tanh, tanh(x))
DEF_FLT(elu, x < 0 ? (T)p->alpha * (exp(x) - (T)1) : x)
DEF_FLT(selu, x <= 0 ? (T)p->gamma * ((T)p->alpha * exp(x) - (T)p->alpha) : (T)p->gamma * x)
DEF_FLT(celu, x > 0 ? x : (T)p->alpha * (exp(x / (T)p->alpha) - (T)1))
DEF_FLT(softplus, x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)))
DEF_FLT(softsign, x / ((T)1 + fabs(x)))
DEF_FLT(trelu, x > (T)p->alpha ? x : (T)0)
DEF_FLT(shrink, x < -(T)p->lambd ? x + (T)p->bias : x > (T)p->lambd ? x - (T)p->bias : (T)0)

static inline float f_clamp01(float v) { return v < 0 ? 0.0f : v > 1 ? 1.0f : v; }
static inline double d_clamp01(double v) { return v < 0 ? 0.0 : v > 1 ? 1.0 : v; }
DEF_FLT(hsigmoid, sizeof(T) == 4 ? f_clamp01((float)((T)p->alpha * x + (T)p->beta))
                                 : d_clamp01((double)((T)p->alpha * x + (T)p->beta)))
DEF_FLT(hswish, x * (sizeof(T) == 4 ? f_clamp01((float)(x * (T)p->alpha + (T)p->beta))
                                     : d_clamp01((double)(x * (T)p->alpha + (T)p->beta))))
DEF_FLT(mish, x * tanh(x > 0 ? x + log1p(exp(-x)) : log1p(exp(x))))
DEF_FLT(gelu, p->gelu_tanh ? (T)0.5 * x * ((T)1 + tanh((T)0.7978845608028654 * (x + (T)0.044715 * x * x * x)))
                           : (T)0.5 * x * ((T)1 + erf(x * (T)0.7071067811865476)))

/* integer versions (signed S, unsigned U) */
#define DEF_SINT(T, S)                                                                             \
  static inline T abs_##S(T x, const un_params *p) { (void)p; return x < 0 ? (T)(0 - (uint64_t)x) : x; } \
  static inline T neg_##S(T x, const un_params *p) { (void)p; return (T)(0 - (uint64_t)x); }       \
  static inline T sign_##S(T x, const un_params *p) { (void)p; return (T)((x > 0) - (x < 0)); }    \
  static inline T relu_##S(T x, const un_params *p) { (void)p; return x < 0 ? 0 : x; }             \
  static inline T erf_##S(T x, const un_params *p) { (void)p; return (T)sn_d2i64(erf((float)x)); } \
  static inline T bnot_##S(T x, const un_params *p) { (void)p; return (T)~x; }                     \
  static inline T shrink_##S(T x, const un_params *p) {                                            \
    double v = (double)x;                                                                          \
    return (T)sn_d2i64(v < -p->lambd ? v + p->bias : v > p->lambd ? v - p->bias : 0.0);            \
  }
#define DEF_UINT(T, S)                                                                             \
  static inline T abs_##S(T x, const un_params *p) { (void)p; return x; }                          \
  static inline T neg_##S(T x, const un_params *p) { (void)p; return (T)(0 - (uint64_t)x); }       \
  static inline T sign_##S(T x, const un_params *p) { (void)p; return (T)(x > 0); }                \
  static inline T relu_##S(T x, const un_params *p) { (void)p; return x; }                         \
  static inline T erf_##S(T x, const un_params *p) { (void)p; return (T)sn_d2u64(erf((float)x)); } \
  static inline T bnot_##S(T x, const un_params *p) { (void)p; return (T)~x; }                     \
  static inline T shrink_##S(T x, const un_params *p) {                                            \
    double v = (double)x;                                                                          \
    return (T)sn_d2u64(v < -p->lambd ? v + p->bias : v > p->lambd ? v - p->bias : 0.0);            \
  }
DEF_SINT(int8_t, i8)
DEF_SINT(int16_t, i16)
DEF_SINT(int32_t, i32)
DEF_SINT(int64_t, i64)
DEF_UINT(uint8_t, u8)
DEF_UINT(uint16_t, u16)
DEF_UINT(uint32_t, u32)
DEF_UINT(uint64_t, u64)

/* ---- loops ------------------------------------------------------------------------------------ */

#define ID(v) (v)
#define F16L(v) sn_f16_to_f32(v)
#define F16S(v) sn_f32_to_f16(v)
#define BF16L(v) sn_bf16_to_f32(v)
#define BF16S(v) sn_f32_to_bf16(v)
#define BOOLS(v) ((uint8_t)((v) ? 1 : 0))

#define ULOOP(TI, CI, LI, TO, SO, EXPR)                                                            \
  do {                                                                                             \
    const TI *px_ = (const TI *)pin;                                                               \
    TO *py_ = (TO *)pout;                                                                          \
    for (int64_t i_ = 0; i_ < cnt; i_++) {                                                         \
      const CI x = LI(px_[i_]);                                                                    \
      py_[i_] = SO(EXPR);                                                                          \
    }                                                                                              \
  } while (0)

#define UCASE_FLT(NAME)                                                                            \
  case SINTER_FLOAT: ULOOP(float, float, ID, float, ID, f_##NAME(x, p)); return true;               \
  case SINTER_DOUBLE: ULOOP(double, double, ID, double, ID, d_##NAME(x, p)); return true;           \
  case SINTER_FLOAT16: ULOOP(uint16_t, float, F16L, uint16_t, F16S, f_##NAME(x, p)); return true;   \
  case SINTER_BFLOAT16: ULOOP(uint16_t, float, BF16L, uint16_t, BF16S, f_##NAME(x, p)); return true;

#define UCASE_INT(NAME)                                                                            \
  case SINTER_INT8: ULOOP(int8_t, int8_t, ID, int8_t, ID, NAME##_i8(x, p)); return true;            \
  case SINTER_INT16: ULOOP(int16_t, int16_t, ID, int16_t, ID, NAME##_i16(x, p)); return true;       \
  case SINTER_INT32: ULOOP(int32_t, int32_t, ID, int32_t, ID, NAME##_i32(x, p)); return true;       \
  case SINTER_INT64: ULOOP(int64_t, int64_t, ID, int64_t, ID, NAME##_i64(x, p)); return true;       \
  case SINTER_UINT8: ULOOP(uint8_t, uint8_t, ID, uint8_t, ID, NAME##_u8(x, p)); return true;        \
  case SINTER_UINT16: ULOOP(uint16_t, uint16_t, ID, uint16_t, ID, NAME##_u16(x, p)); return true;   \
  case SINTER_UINT32: ULOOP(uint32_t, uint32_t, ID, uint32_t, ID, NAME##_u32(x, p)); return true;   \
  case SINTER_UINT64: ULOOP(uint64_t, uint64_t, ID, uint64_t, ID, NAME##_u64(x, p)); return true;

#define FLT_ONLY(OP, NAME)                                                                         \
  case OP:                                                                                         \
    switch (dt) {                                                                                  \
      UCASE_FLT(NAME)                                                                              \
      default: return false;                                                                       \
    }
#define NUMERIC(OP, NAME)                                                                          \
  case OP:                                                                                         \
    switch (dt) {                                                                                  \
      UCASE_FLT(NAME)                                                                              \
      UCASE_INT(NAME)                                                                              \
      default: return false;                                                                       \
    }

static bool is_f8(sn_dtype dt) {
  return dt == SINTER_FLOAT8E4M3FN || dt == SINTER_FLOAT8E4M3FNUZ || dt == SINTER_FLOAT8E5M2 ||
         dt == SINTER_FLOAT8E5M2FNUZ || dt == SINTER_FLOAT4E2M1;
}

static bool isinf_sel(double x, const un_params *p) { return isinf(x) && (x > 0 ? p->det_pos : p->det_neg); }

/* The vector kernel of a float32 op (kernels/vmath.h), or NULL */
static sn_vmath_fn un_vmath(int op, const un_params *p) {
  return op == U_EXP ? sn_vexp : op == U_LOG ? sn_vlog : op == U_SIGMOID ? sn_vsigmoid
         : op == U_TANH ? sn_vtanh : op == U_ERF ? sn_verf
         : op == U_GELU ? (p->gelu_tanh ? sn_vgelu_tanh : sn_vgelu) : NULL;
}

typedef struct vm_job {
  sn_vmath_fn f;
  const float *x;
  float *y;
  int64_t n, parts;
} vm_job;

static void vm_part(void *arg, int64_t p0, int64_t p1) {
  const vm_job *j = arg;
  /* parts of whole 64-byte lines, so no two threads write one */
  const int64_t a = (p0 * j->n / j->parts) & ~(int64_t)15, b = p1 == j->parts ? j->n : (p1 * j->n / j->parts) & ~(int64_t)15;
  if (b > a) j->f(j->x + a, j->y + a, b - a);
}

/* The unary loop for every op but Clip; false when the type is not supported. kc: the kernel's
 * context (NULL when folding a constant): large float32 vector-math tensors split over its pool
 * (a transformer's GELU on 128 x 3072 elements is tens of microseconds on one core). */
static bool un_loop(sn_kernel_ctx *kc, int op, sn_dtype dt, const void *pin, void *pout, int64_t cnt,
                    const un_params *p) {
  if (dt == SINTER_FLOAT && (op == U_HSWISH || op == U_HSIGMOID || op == U_LEAKY)) { /* branch-free vectors */
    sn_vpwl(op == U_HSWISH ? SN_PWL_HSWISH : op == U_HSIGMOID ? SN_PWL_HSIGMOID : SN_PWL_LEAKY, p->alpha,
            op == U_LEAKY ? 0.0f : p->beta, pin, pout, cnt);
    return true;
  }
  sn_vmath_fn vf = dt == SINTER_FLOAT ? un_vmath(op, p) : NULL;
  if (vf) { /* contiguous float32: the vector kernels */
    sn_threadpool *tp = kc ? sn_kernel_pool(kc) : NULL;
    int nt = sn_threadpool_size(tp);
    if (nt > 1 && cnt >= 32768) {
      vm_job j = {vf, pin, pout, cnt, nt};
      sn_parallel_for(tp, nt, vm_part, &j);
    } else {
      vf(pin, pout, cnt);
    }
    return true;
  }
  switch (op) {
    NUMERIC(U_ABS, abs)
    NUMERIC(U_NEG, neg)
    FLT_ONLY(U_SQRT, sqrt)
    FLT_ONLY(U_RECIP, recip)
    FLT_ONLY(U_EXP, exp)
    FLT_ONLY(U_LOG, log)
    FLT_ONLY(U_FLOOR, floor)
    FLT_ONLY(U_CEIL, ceil)
    FLT_ONLY(U_ROUND, round)
    NUMERIC(U_SIGN, sign)
    FLT_ONLY(U_SIN, sin)
    FLT_ONLY(U_COS, cos)
    FLT_ONLY(U_TAN, tan)
    FLT_ONLY(U_ASIN, asin)
    FLT_ONLY(U_ACOS, acos)
    FLT_ONLY(U_ATAN, atan)
    FLT_ONLY(U_SINH, sinh)
    FLT_ONLY(U_COSH, cosh)
    FLT_ONLY(U_ASINH, asinh)
    FLT_ONLY(U_ACOSH, acosh)
    FLT_ONLY(U_ATANH, atanh)
    NUMERIC(U_ERF, erf)
    NUMERIC(U_RELU, relu)
    FLT_ONLY(U_LEAKY, leaky)
    FLT_ONLY(U_SIGMOID, sigmoid)
    FLT_ONLY(U_HSIGMOID, hsigmoid)
    FLT_ONLY(U_HSWISH, hswish)
    FLT_ONLY(U_TANH, tanh)
    FLT_ONLY(U_ELU, elu)
    FLT_ONLY(U_SELU, selu)
    FLT_ONLY(U_CELU, celu)
    FLT_ONLY(U_SOFTPLUS, softplus)
    FLT_ONLY(U_SOFTSIGN, softsign)
    FLT_ONLY(U_GELU, gelu)
    FLT_ONLY(U_MISH, mish)
    FLT_ONLY(U_TRELU, trelu)
    NUMERIC(U_SHRINK, shrink)
    case U_BNOT:
      switch (dt) {
        UCASE_INT(bnot)
        default: return false;
      }
    case U_NOT:
      if (dt != SINTER_BOOL) return false;
      ULOOP(uint8_t, uint8_t, ID, uint8_t, BOOLS, !x);
      return true;
    case U_ISNAN:
    case U_ISINF: {
      bool nan = op == U_ISNAN;
      switch (dt) {
        case SINTER_FLOAT:
          if (nan) ULOOP(float, float, ID, uint8_t, BOOLS, isnan(x));
          else ULOOP(float, float, ID, uint8_t, BOOLS, isinf_sel(x, p));
          return true;
        case SINTER_DOUBLE:
          if (nan) ULOOP(double, double, ID, uint8_t, BOOLS, isnan(x));
          else ULOOP(double, double, ID, uint8_t, BOOLS, isinf_sel(x, p));
          return true;
        case SINTER_FLOAT16:
          if (nan) ULOOP(uint16_t, float, F16L, uint8_t, BOOLS, isnan(x));
          else ULOOP(uint16_t, float, F16L, uint8_t, BOOLS, isinf_sel(x, p));
          return true;
        case SINTER_BFLOAT16:
          if (nan) ULOOP(uint16_t, float, BF16L, uint8_t, BOOLS, isnan(x));
          else ULOOP(uint16_t, float, BF16L, uint8_t, BOOLS, isinf_sel(x, p));
          return true;
        default:
          if (!is_f8(dt)) return false;
          for (int64_t i = 0; i < cnt; i++) {
            double v = sn_load_f64(dt, pin, i);
            ((uint8_t *)pout)[i] = nan ? isnan(v) : isinf_sel(v, p);
          }
          return true;
      }
    }
    default: return false;
  }
}

/* ---- Clip ------------------------------------------------------------------------------------- */

#define CLIP_EXPR ((hh && ((hl && x < lo) ? lo : x) > hi) ? hi : ((hl && x < lo) ? lo : x))
#define CLIP_CASE(DT, T, CT, L, S, LO, HI)                                                         \
  case DT: {                                                                                       \
    const CT lo = (CT)(LO), hi = (CT)(HI);                                                         \
    ULOOP(T, CT, L, T, S, CLIP_EXPR);                                                              \
    return true;                                                                                   \
  }

static bool clip_loop(sn_dtype dt, const void *pin, void *pout, int64_t cnt, const sn_tensor *mn, const sn_tensor *mx,
                      const un_params *p) {
  bool hl = mn != NULL, hh = mx != NULL;
  double lod = 0, hid = 0;
  int64_t loi = 0, hii = 0;
  if (p->clip_attrs) {
    hl = p->has_min;
    hh = p->has_max;
    lod = p->cmin;
    hid = p->cmax;
  } else {
    if (mn) {
      lod = sn_load_f64(dt, mn->data, 0);
      loi = sn_load_i64(dt, mn->data, 0);
    }
    if (mx) {
      hid = sn_load_f64(dt, mx->data, 0);
      hii = sn_load_i64(dt, mx->data, 0);
    }
  }
  if (dt == SINTER_FLOAT) { /* branch-free, so it vectorizes (a NaN stays NaN: both tests are false) */
    const float lo = hl ? (float)lod : -INFINITY, hi = hh ? (float)hid : INFINITY;
    const float *restrict x = pin;
    float *restrict y = pout;
    for (int64_t i = 0; i < cnt; i++) {
      float v = x[i] < lo ? lo : x[i];
      y[i] = v > hi ? hi : v;
    }
    return true;
  }
  switch (dt) {
    CLIP_CASE(SINTER_FLOAT, float, float, ID, ID, lod, hid)
    CLIP_CASE(SINTER_DOUBLE, double, double, ID, ID, lod, hid)
    CLIP_CASE(SINTER_FLOAT16, uint16_t, float, F16L, F16S, lod, hid)
    CLIP_CASE(SINTER_BFLOAT16, uint16_t, float, BF16L, BF16S, lod, hid)
    CLIP_CASE(SINTER_INT8, int8_t, int8_t, ID, ID, loi, hii)
    CLIP_CASE(SINTER_INT16, int16_t, int16_t, ID, ID, loi, hii)
    CLIP_CASE(SINTER_INT32, int32_t, int32_t, ID, ID, loi, hii)
    CLIP_CASE(SINTER_INT64, int64_t, int64_t, ID, ID, loi, hii)
    CLIP_CASE(SINTER_UINT8, uint8_t, uint8_t, ID, ID, loi, hii)
    CLIP_CASE(SINTER_UINT16, uint16_t, uint16_t, ID, ID, loi, hii)
    CLIP_CASE(SINTER_UINT32, uint32_t, uint32_t, ID, ID, loi, hii)
    CLIP_CASE(SINTER_UINT64, uint64_t, uint64_t, ID, ID, loi, hii)
    default: return false;
  }
}

/* ---- compute / kernel --------------------------------------------------------------------------- */

static sn_error *compute_unary(const sn_node *n, const void *pp, int n_in, const sn_tensor *const *in, sn_ew_out *o) {
  un_params tmp;
  const un_params *p = pp;
  if (!p) {
    SN_TRY(parse(n, &tmp));
    p = &tmp;
  }
  if (n_in < 1 || !in[0]) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "input 0 is missing");
  const sn_tensor *x = in[0];
  sn_dtype odt = (p->op == U_ISNAN || p->op == U_ISINF) ? SINTER_BOOL : x->dtype;
  const sn_tensor *mn = NULL, *mx = NULL;
  char b1[128], b2[128];
  if (p->op == U_CLIP && !p->clip_attrs) {
    mn = n_in > 1 ? in[1] : NULL;
    mx = n_in > 2 ? in[2] : NULL;
    for (int i = 1; i < 3; i++) {
      const sn_tensor *t = i == 1 ? mn : mx;
      if (!t) continue;
      if (t->dtype != x->dtype)
        return sn_ew_errorf(n, SINTER_ERR_INVALID_GRAPH, "%s bound %s differs from the input's type %s",
                            i == 1 ? "min" : "max", sn_tensor_describe(t, b1, sizeof b1), sn_tensor_describe(x, b2, sizeof b2));
      if (t->count != 1)
        return sn_ew_errorf(n, SINTER_ERR_INVALID_ARGUMENT, "%s bound must be a scalar, got %s", i == 1 ? "min" : "max",
                            sn_tensor_describe(t, b1, sizeof b1));
    }
  }
  sn_tensor *out;
  SN_TRY(sn_ew_output(o, odt, x->rank, x->dims, &out));
  if (x->count == 0) return NULL;
  bool ok = p->op == U_CLIP ? clip_loop(x->dtype, x->data, out->data, x->count, mn, mx, p)
                            : un_loop(o->kc, p->op, x->dtype, x->data, out->data, x->count, p);
  if (!ok)
    return sn_ew_errorf(n, SINTER_ERR_NOT_IMPLEMENTED, "%s does not support element type %s", n->op_type,
                        sn_dtype_name(x->dtype));
  return NULL;
}

static sn_error *run_unary(sn_kernel_ctx *c) { return sn_ew_run(c, c->params, compute_unary); }

/* ---- shape inference ------------------------------------------------------------------------------ */

static bool std_float(sn_dtype dt) {
  return dt == SINTER_FLOAT || dt == SINTER_DOUBLE || dt == SINTER_FLOAT16 || dt == SINTER_BFLOAT16;
}
static bool std_int(sn_dtype dt) { return sn_dt(dt)->is_int && dt != SINTER_INT4 && dt != SINTER_UINT4; }

static bool dtype_ok(int op, sn_dtype dt) {
  if (!dt) return true;
  switch (op) {
    case U_ABS: case U_NEG: case U_SIGN: case U_ERF: case U_RELU: case U_SHRINK: case U_CLIP:
      return std_float(dt) || std_int(dt);
    case U_NOT: return dt == SINTER_BOOL;
    case U_BNOT: return std_int(dt);
    case U_ISNAN: case U_ISINF: return std_float(dt) || is_f8(dt);
    default: return std_float(dt);
  }
}

static sn_error *infer_unary(sn_infer_ctx *c) {
  un_params p;
  SN_TRY(parse(c->node, &p));
  const sn_type *x = c->in[0];
  if (!x) return sn_infer_error(c, "input 0 is missing");
  char b1[128], b2[128];
  if (!dtype_ok(p.op, x->dtype))
    return sn_infer_error(c, "input is %s, which %s does not accept", sn_type_str(x, b1, sizeof b1), c->node->op_type);
  for (int i = 1; i < c->n_in && p.op == U_CLIP; i++) {
    const sn_type *t = c->in[i];
    if (t && t->dtype && x->dtype && t->dtype != x->dtype)
      return sn_infer_error(c, "input %d is %s but the input is %s (they must match)", i, sn_type_str(t, b1, sizeof b1),
                            sn_type_str(x, b2, sizeof b2));
  }
  sn_dtype odt = (p.op == U_ISNAN || p.op == U_ISINF) ? SINTER_BOOL : x->dtype;
  sn_ew_type_like(c->out[0], x, odt);
  return sn_ew_fold(c, &p, compute_unary);
}

/* ---- the table ------------------------------------------------------------------------------------ */

#define UN(name, since, until) {"", name, since, until, infer_unary, run_unary, prepare, free_params, SN_OP_INPLACE}

const sn_op sn_ops_unary[] = {
    /* opset 1-5 versions carry consumed_inputs (ignored); later versions widen type lists */
    UN("Abs", 1, 0), UN("Neg", 1, 0), UN("Sqrt", 1, 0), UN("Reciprocal", 1, 0), UN("Exp", 1, 0),
    UN("Log", 1, 0), UN("Floor", 1, 0), UN("Ceil", 1, 0), UN("Round", 11, 0), UN("Sign", 9, 0),
    UN("Sin", 7, 0), UN("Cos", 7, 0), UN("Tan", 7, 0), UN("Asin", 7, 0), UN("Acos", 7, 0), UN("Atan", 7, 0),
    UN("Sinh", 9, 0), UN("Cosh", 9, 0), UN("Asinh", 9, 0), UN("Acosh", 9, 0), UN("Atanh", 9, 0),
    UN("Erf", 9, 0), UN("IsNaN", 9, 0), UN("IsInf", 10, 0), UN("Not", 1, 0), UN("BitwiseNot", 18, 0),
    UN("Relu", 1, 0), UN("LeakyRelu", 1, 0), UN("Sigmoid", 1, 0), UN("HardSigmoid", 1, 0),
    UN("HardSwish", 14, 0), UN("Tanh", 1, 0), UN("Elu", 1, 0), UN("Selu", 1, 0), UN("Celu", 12, 0),
    UN("Softplus", 1, 0), UN("Softsign", 1, 0), UN("Gelu", 20, 0), UN("Mish", 18, 0),
    UN("ThresholdedRelu", 10, 0), UN("Shrink", 9, 0),
    /* Clip: 1-5 min/max attributes, absent means unbounded; 6-10 attributes defaulting to
     * +-FLT_MAX; 11+ optional min/max inputs; 12+ integer types */
    UN("Clip", 1, 5), UN("Clip", 6, 10), UN("Clip", 11, 0),
    {0},
};
