/* Broadcasting binary and variadic elementwise ops: arithmetic, Pow, Mod, Max/Min/Sum/Mean,
 * comparisons, logical and bitwise ops, BitShift, Where and PRelu, every opset (the legacy
 * broadcast/axis attributes of opset 1-6 included). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/ref/broadcast.h"
#include "kernels/ref/elementwise_ref.h"
#include "kernels/ref/nn_util.h"
#include "kernels/vmath.h"
#include "ops/op.h"
#include "ops/qlinear.h"

/* ---- which op ------------------------------------------------------------------------------- */

typedef enum bop {
  B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MOD, B_FMOD, B_MAX, B_MIN, B_SUM, B_MEAN,
  B_EQ, B_GT, B_GE, B_LT, B_LE, B_AND, B_OR, B_XOR, B_SHL, B_SHR, B_BAND, B_BOR, B_BXOR,
  B_WHERE, B_PRELU, B_COUNT
} bop;

static const struct {
  const char *name;
  int op;
} op_names[] = {
    {"Add", B_ADD},       {"Sub", B_SUB},          {"Mul", B_MUL},       {"Div", B_DIV},
    {"Pow", B_POW},       {"Mod", B_MOD},          {"Max", B_MAX},       {"Min", B_MIN},
    {"Sum", B_SUM},       {"Mean", B_MEAN},        {"Equal", B_EQ},      {"Greater", B_GT},
    {"GreaterOrEqual", B_GE}, {"Less", B_LT},      {"LessOrEqual", B_LE}, {"And", B_AND},
    {"Or", B_OR},         {"Xor", B_XOR},          {"BitShift", B_SHL},  {"BitwiseAnd", B_BAND},
    {"BitwiseOr", B_BOR}, {"BitwiseXor", B_BXOR},  {"Where", B_WHERE},   {"PRelu", B_PRELU},
};

typedef struct ew_params {
  int op;
  bool legacy;   /* opset < 7 broadcast semantics: B broadcast onto A only when `broadcast` is set */
  bool bcast;    /* legacy `broadcast` attribute */
  bool has_axis; /* legacy `axis` attribute given */
  int64_t axis;
} ew_params;

static bool is_compare(int op) { return op >= B_EQ && op <= B_LE; }
static bool is_variadic(int op) { return op >= B_MAX && op <= B_MEAN; }

static sn_error *parse(const sn_node *n, ew_params *p) {
  memset(p, 0, sizeof *p);
  p->op = -1;
  for (size_t i = 0; i < sizeof op_names / sizeof *op_names; i++)
    if (!strcmp(n->op_type, op_names[i].name)) p->op = op_names[i].op;
  if (p->op < 0) return sn_ew_errorf(n, SINTER_ERR_NOT_IMPLEMENTED, "not an elementwise op");
  if (p->op == B_MOD && sn_attr_int(n, "fmod", 0)) p->op = B_FMOD;
  if (p->op == B_SHL) {
    const char *dir = sn_attr_str(n, "direction", "");
    if (!strcmp(dir, "RIGHT"))
      p->op = B_SHR;
    else if (strcmp(dir, "LEFT"))
      return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "attribute direction is '%s' (expected LEFT or RIGHT)", dir);
  }
  switch (p->op) {
    case B_ADD: case B_SUB: case B_MUL: case B_DIV: case B_POW: case B_AND: case B_OR: case B_XOR:
    case B_EQ: case B_GT: case B_LT:
      if (n->opset < 7) {
        p->legacy = true;
        p->bcast = sn_attr_int(n, "broadcast", 0) != 0;
        p->has_axis = sn_node_attr(n, "axis") != NULL;
        p->axis = sn_attr_int(n, "axis", 0);
      }
      break;
    default: break;
  }
  int min_in = is_variadic(p->op) ? 1 : p->op == B_WHERE ? 3 : 2;
  if (n->n_in < min_in || (!is_variadic(p->op) && n->n_in > min_in))
    return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "has %d inputs (expected %s%d)", n->n_in,
                        is_variadic(p->op) ? "at least " : "", min_in);
  for (int i = 0; i < n->n_in; i++)
    if (n->in[i] < 0) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "input %d is missing", i);
  return NULL;
}

static sn_error *prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  ew_params *p = sn_malloc(sizeof *p);
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

static sn_error *get_params(const sn_node *n, const void *pp, ew_params *tmp, const ew_params **out) {
  if (pp) {
    *out = pp;
    return NULL;
  }
  SN_TRY(parse(n, tmp));
  *out = tmp;
  return NULL;
}

/* Legacy (opset < 7) broadcast: B's dims placed at `axis` of A's rank (default: suffix). Returns
 * false when B does not fit. */
static bool legacy_dims(const ew_params *p, int ra, int rb, const int64_t *db, int *rank, int64_t *dims) {
  if (rb > ra) return false;
  int64_t axis = p->has_axis ? p->axis : ra - rb;
  if (axis < 0) axis += ra;
  if (axis < 0 || axis + rb > ra) return false;
  for (int d = 0; d < ra; d++) dims[d] = 1;
  for (int d = 0; d < rb; d++) dims[axis + d] = db[d];
  *rank = ra;
  return true;
}

/* ---- per-type scalar functions ------------------------------------------------------------- */

#define SINT_FUNCS(T, S)                                                                          \
  static inline T add_##S(T x, T y) { return (T)((uint64_t)x + (uint64_t)y); }                    \
  static inline T sub_##S(T x, T y) { return (T)((uint64_t)x - (uint64_t)y); }                    \
  static inline T mul_##S(T x, T y) { return (T)((uint64_t)x * (uint64_t)y); }                    \
  static inline T div_##S(T x, T y) {                                                             \
    if (y == 0) return 0;                                                                         \
    if (y == -1) return (T)(0 - (uint64_t)x);                                                     \
    return (T)(x / y);                                                                            \
  }                                                                                               \
  static inline T mod_##S(T x, T y) {                                                             \
    if (y == 0 || y == -1) return 0;                                                              \
    T r = (T)(x % y);                                                                             \
    if (r != 0 && ((r < 0) != (y < 0))) r = (T)(r + y);                                           \
    return r;                                                                                     \
  }                                                                                               \
  static inline T fmod_##S(T x, T y) { return (y == 0 || y == -1) ? 0 : (T)(x % y); }             \
  static inline T max_##S(T x, T y) { return x > y ? x : y; }                                     \
  static inline T min_##S(T x, T y) { return x < y ? x : y; }                                     \
  static inline T pow_##S(T x, int64_t e) {                                                       \
    if (e < 0) return x == 1 ? 1 : x == -1 ? ((e & 1) ? (T)-1 : 1) : 0;                           \
    uint64_t r = 1, b = (uint64_t)x;                                                              \
    while (e) {                                                                                   \
      if (e & 1) r *= b;                                                                          \
      b *= b;                                                                                     \
      e >>= 1;                                                                                    \
    }                                                                                             \
    return (T)r;                                                                                  \
  }                                                                                               \
  static inline T prelu_##S(T x, T s) { return x < 0 ? mul_##S(x, s) : x; }

#define UINT_FUNCS(T, S)                                                                          \
  static inline T add_##S(T x, T y) { return (T)((uint64_t)x + (uint64_t)y); }                    \
  static inline T sub_##S(T x, T y) { return (T)((uint64_t)x - (uint64_t)y); }                    \
  static inline T mul_##S(T x, T y) { return (T)((uint64_t)x * (uint64_t)y); }                    \
  static inline T div_##S(T x, T y) { return y == 0 ? 0 : (T)(x / y); }                           \
  static inline T mod_##S(T x, T y) { return y == 0 ? 0 : (T)(x % y); }                           \
  static inline T fmod_##S(T x, T y) { return y == 0 ? 0 : (T)(x % y); }                          \
  static inline T max_##S(T x, T y) { return x > y ? x : y; }                                     \
  static inline T min_##S(T x, T y) { return x < y ? x : y; }                                     \
  static inline T pow_##S(T x, int64_t e) {                                                       \
    if (e < 0) return x == 1 ? 1 : 0;                                                             \
    uint64_t r = 1, b = (uint64_t)x;                                                              \
    while (e) {                                                                                   \
      if (e & 1) r *= b;                                                                          \
      b *= b;                                                                                     \
      e >>= 1;                                                                                    \
    }                                                                                             \
    return (T)r;                                                                                  \
  }                                                                                               \
  static inline T prelu_##S(T x, T s) { (void)s; return x; }                                      \
  static inline T shl_##S(T x, T y) { return y >= 8 * sizeof(T) ? 0 : (T)((uint64_t)x << y); }   \
  static inline T shr_##S(T x, T y) { return y >= 8 * sizeof(T) ? 0 : (T)(x >> y); }

SINT_FUNCS(int8_t, i8)
SINT_FUNCS(int16_t, i16)
SINT_FUNCS(int32_t, i32)
SINT_FUNCS(int64_t, i64)
UINT_FUNCS(uint8_t, u8)
UINT_FUNCS(uint16_t, u16)
UINT_FUNCS(uint32_t, u32)
UINT_FUNCS(uint64_t, u64)

#define FLT_FUNCS(T, S, FMOD, POW, SQRT)                                                               \
  static inline T add_##S(T x, T y) { return x + y; }                                             \
  static inline T sub_##S(T x, T y) { return x - y; }                                             \
  static inline T mul_##S(T x, T y) { return x * y; }                                             \
  static inline T div_##S(T x, T y) { return x / y; }                                             \
  static inline T mod_##S(T x, T y) {                                                             \
    T r = FMOD(x, y);                                                                             \
    if (r != 0 && ((r < 0) != (y < 0))) r += y;                                                   \
    return r;                                                                                     \
  }                                                                                               \
  static inline T fmod_##S(T x, T y) { return FMOD(x, y); }                                       \
  static inline T max_##S(T x, T y) { return (x > y || isnan(x)) ? x : y; }                       \
  static inline T min_##S(T x, T y) { return (x < y || isnan(x)) ? x : y; }                       \
  /* squares and cubes by multiplication, as ONNX Runtime computes them (x * x is pow's correctly   \
   * rounded result); square roots of positive x by sqrt, correctly rounded (pow is within 1 ulp) */\
  static inline T pow_##S(T x, T y) {                                                             \
    return y == 2 ? x * x : y == 3 ? x * x * x : y == (T)0.5 && x > 0 ? SQRT(x) : POW(x, y);       \
  }                                                                                               \
  static inline T prelu_##S(T x, T s) { return x < 0 ? x * s : x; }

FLT_FUNCS(float, f32, fmodf, powf, sqrtf)
FLT_FUNCS(double, f64, fmod, pow, sqrt)

/* ---- loops ---------------------------------------------------------------------------------- */

#define ID(v) (v)
#define F16L(v) sn_f16_to_f32(v)
#define F16S(v) sn_f32_to_f16(v)
#define BF16L(v) sn_bf16_to_f32(v)
#define BF16S(v) sn_f32_to_bf16(v)
#define BOOLS(v) ((uint8_t)((v) ? 1 : 0))

/* One broadcast binary loop over output elements [e0, e1) (variables of the enclosing bin_loop): x
 * (CA, loaded from TA by LA), y (CB from TB by LB), out TO = SO(EXPR). */
#define BLOOP(TA, CA, LA, TB, CB, LB, TO, SO, EXPR)                                                \
  do {                                                                                             \
    const TA *pa_ = (const TA *)pa;                                                                \
    const TB *pb_ = (const TB *)pb;                                                                \
    TO *po_ = (TO *)po;                                                                            \
    const int64_t n_ = bc->inner;                                                                  \
    if (n_ <= 0 || e1 <= e0) break;                                                                \
    sn_bcast_iter it_;                                                                             \
    int64_t r_ = e0 / n_;                                                                          \
    sn_bcast_iter_start(&it_, bc, r_);                                                             \
    const int64_t sa_ = bc->inner_stride[0], sb_ = bc->inner_stride[1];                            \
    for (; r_ < bc->rows && r_ * n_ < e1; r_++, sn_bcast_iter_next(&it_)) {                        \
      const TA *xa_ = pa_ + it_.off[0];                                                            \
      const TB *xb_ = pb_ + it_.off[1];                                                            \
      TO *z_ = po_ + r_ * n_;                                                                      \
      const int64_t i0_ = e0 > r_ * n_ ? e0 - r_ * n_ : 0, i1_ = e1 - r_ * n_ < n_ ? e1 - r_ * n_ : n_; \
      if (sa_ && sb_) {                                                                            \
        for (int64_t i_ = i0_; i_ < i1_; i_++) {                                                   \
          const CA x = LA(xa_[i_]);                                                                \
          const CB y = LB(xb_[i_]);                                                                \
          z_[i_] = SO(EXPR);                                                                       \
        }                                                                                          \
      } else if (sa_) {                                                                            \
        const CB y = LB(xb_[0]);                                                                   \
        for (int64_t i_ = i0_; i_ < i1_; i_++) {                                                   \
          const CA x = LA(xa_[i_]);                                                                \
          z_[i_] = SO(EXPR);                                                                       \
        }                                                                                          \
      } else if (sb_) {                                                                            \
        const CA x = LA(xa_[0]);                                                                   \
        for (int64_t i_ = i0_; i_ < i1_; i_++) {                                                   \
          const CB y = LB(xb_[i_]);                                                                \
          z_[i_] = SO(EXPR);                                                                       \
        }                                                                                          \
      } else {                                                                                     \
        const CA x = LA(xa_[0]);                                                                   \
        const CB y = LB(xb_[0]);                                                                   \
        const TO v_ = SO(EXPR);                                                                    \
        for (int64_t i_ = i0_; i_ < i1_; i_++) z_[i_] = v_;                                        \
      }                                                                                            \
    }                                                                                              \
  } while (0)

/* Same-type loops: FN##_<suffix>(x, y), output of the input type. */
#define CASE_INT(FN)                                                                               \
  case SINTER_INT8: BLOOP(int8_t, int8_t, ID, int8_t, int8_t, ID, int8_t, ID, FN##_i8(x, y)); return true;       \
  case SINTER_INT16: BLOOP(int16_t, int16_t, ID, int16_t, int16_t, ID, int16_t, ID, FN##_i16(x, y)); return true; \
  case SINTER_INT32: BLOOP(int32_t, int32_t, ID, int32_t, int32_t, ID, int32_t, ID, FN##_i32(x, y)); return true; \
  case SINTER_INT64: BLOOP(int64_t, int64_t, ID, int64_t, int64_t, ID, int64_t, ID, FN##_i64(x, y)); return true; \
  case SINTER_UINT8: BLOOP(uint8_t, uint8_t, ID, uint8_t, uint8_t, ID, uint8_t, ID, FN##_u8(x, y)); return true;  \
  case SINTER_UINT16:                                                                              \
    BLOOP(uint16_t, uint16_t, ID, uint16_t, uint16_t, ID, uint16_t, ID, FN##_u16(x, y));            \
    return true;                                                                                   \
  case SINTER_UINT32:                                                                              \
    BLOOP(uint32_t, uint32_t, ID, uint32_t, uint32_t, ID, uint32_t, ID, FN##_u32(x, y));            \
    return true;                                                                                   \
  case SINTER_UINT64:                                                                              \
    BLOOP(uint64_t, uint64_t, ID, uint64_t, uint64_t, ID, uint64_t, ID, FN##_u64(x, y));            \
    return true;

#define CASE_FLT(FN)                                                                               \
  case SINTER_FLOAT: BLOOP(float, float, ID, float, float, ID, float, ID, FN##_f32(x, y)); return true;          \
  case SINTER_DOUBLE: BLOOP(double, double, ID, double, double, ID, double, ID, FN##_f64(x, y)); return true;    \
  case SINTER_FLOAT16:                                                                             \
    BLOOP(uint16_t, float, F16L, uint16_t, float, F16L, uint16_t, F16S, FN##_f32(x, y));            \
    return true;                                                                                   \
  case SINTER_BFLOAT16:                                                                            \
    BLOOP(uint16_t, float, BF16L, uint16_t, float, BF16L, uint16_t, BF16S, FN##_f32(x, y));         \
    return true;

#define CASE_NUM(FN) CASE_INT(FN) CASE_FLT(FN)

/* Comparisons: output bool, inputs of any numeric type or bool. */
#define CASE_CMP(EXPR)                                                                             \
  case SINTER_INT8: BLOOP(int8_t, int8_t, ID, int8_t, int8_t, ID, uint8_t, BOOLS, EXPR); return true;             \
  case SINTER_INT16: BLOOP(int16_t, int16_t, ID, int16_t, int16_t, ID, uint8_t, BOOLS, EXPR); return true;        \
  case SINTER_INT32: BLOOP(int32_t, int32_t, ID, int32_t, int32_t, ID, uint8_t, BOOLS, EXPR); return true;        \
  case SINTER_INT64: BLOOP(int64_t, int64_t, ID, int64_t, int64_t, ID, uint8_t, BOOLS, EXPR); return true;        \
  case SINTER_BOOL:                                                                                \
  case SINTER_UINT8: BLOOP(uint8_t, uint8_t, ID, uint8_t, uint8_t, ID, uint8_t, BOOLS, EXPR); return true;        \
  case SINTER_UINT16: BLOOP(uint16_t, uint16_t, ID, uint16_t, uint16_t, ID, uint8_t, BOOLS, EXPR); return true;   \
  case SINTER_UINT32: BLOOP(uint32_t, uint32_t, ID, uint32_t, uint32_t, ID, uint8_t, BOOLS, EXPR); return true;   \
  case SINTER_UINT64: BLOOP(uint64_t, uint64_t, ID, uint64_t, uint64_t, ID, uint8_t, BOOLS, EXPR); return true;   \
  case SINTER_FLOAT: BLOOP(float, float, ID, float, float, ID, uint8_t, BOOLS, EXPR); return true;                \
  case SINTER_DOUBLE: BLOOP(double, double, ID, double, double, ID, uint8_t, BOOLS, EXPR); return true;           \
  case SINTER_FLOAT16: BLOOP(uint16_t, float, F16L, uint16_t, float, F16L, uint8_t, BOOLS, EXPR); return true;    \
  case SINTER_BFLOAT16: BLOOP(uint16_t, float, BF16L, uint16_t, float, BF16L, uint8_t, BOOLS, EXPR); return true;

/* Bitwise ops on integers, by width (sign does not matter). */
#define CASE_BITS(OPR)                                                                             \
  case SINTER_INT8:                                                                                \
  case SINTER_UINT8: BLOOP(uint8_t, uint8_t, ID, uint8_t, uint8_t, ID, uint8_t, ID, (uint8_t)(x OPR y)); return true;        \
  case SINTER_INT16:                                                                               \
  case SINTER_UINT16: BLOOP(uint16_t, uint16_t, ID, uint16_t, uint16_t, ID, uint16_t, ID, (uint16_t)(x OPR y)); return true; \
  case SINTER_INT32:                                                                               \
  case SINTER_UINT32: BLOOP(uint32_t, uint32_t, ID, uint32_t, uint32_t, ID, uint32_t, ID, (uint32_t)(x OPR y)); return true; \
  case SINTER_INT64:                                                                               \
  case SINTER_UINT64: BLOOP(uint64_t, uint64_t, ID, uint64_t, uint64_t, ID, uint64_t, ID, (uint64_t)(x OPR y)); return true;

#define CASE_SHIFT(FN)                                                                             \
  case SINTER_UINT8: BLOOP(uint8_t, uint8_t, ID, uint8_t, uint8_t, ID, uint8_t, ID, FN##_u8(x, y)); return true;  \
  case SINTER_UINT16:                                                                              \
    BLOOP(uint16_t, uint16_t, ID, uint16_t, uint16_t, ID, uint16_t, ID, FN##_u16(x, y));            \
    return true;                                                                                   \
  case SINTER_UINT32:                                                                              \
    BLOOP(uint32_t, uint32_t, ID, uint32_t, uint32_t, ID, uint32_t, ID, FN##_u32(x, y));            \
    return true;                                                                                   \
  case SINTER_UINT64:                                                                              \
    BLOOP(uint64_t, uint64_t, ID, uint64_t, uint64_t, ID, uint64_t, ID, FN##_u64(x, y));            \
    return true;

/* Integer Pow with an int64 exponent array. */
#define CASE_IPOW                                                                                  \
  case SINTER_INT8: BLOOP(int8_t, int8_t, ID, int64_t, int64_t, ID, int8_t, ID, pow_i8(x, y)); return true;       \
  case SINTER_INT16: BLOOP(int16_t, int16_t, ID, int64_t, int64_t, ID, int16_t, ID, pow_i16(x, y)); return true;  \
  case SINTER_INT32: BLOOP(int32_t, int32_t, ID, int64_t, int64_t, ID, int32_t, ID, pow_i32(x, y)); return true;  \
  case SINTER_INT64: BLOOP(int64_t, int64_t, ID, int64_t, int64_t, ID, int64_t, ID, pow_i64(x, y)); return true;  \
  case SINTER_UINT8: BLOOP(uint8_t, uint8_t, ID, int64_t, int64_t, ID, uint8_t, ID, pow_u8(x, y)); return true;   \
  case SINTER_UINT16: BLOOP(uint16_t, uint16_t, ID, int64_t, int64_t, ID, uint16_t, ID, pow_u16(x, y)); return true; \
  case SINTER_UINT32: BLOOP(uint32_t, uint32_t, ID, int64_t, int64_t, ID, uint32_t, ID, pow_u32(x, y)); return true; \
  case SINTER_UINT64: BLOOP(uint64_t, uint64_t, ID, int64_t, int64_t, ID, uint64_t, ID, pow_u64(x, y)); return true;

/* Pow with a double exponent array (mixed types): computed in double. */
#define D2I(v) sn_d2i64(v)
#define D2U(v) sn_d2u64(v)
#define CASE_DPOW                                                                                  \
  case SINTER_INT8: BLOOP(int8_t, double, ID, double, double, ID, int8_t, (int8_t)D2I, pow(x, y)); return true;     \
  case SINTER_INT16: BLOOP(int16_t, double, ID, double, double, ID, int16_t, (int16_t)D2I, pow(x, y)); return true; \
  case SINTER_INT32: BLOOP(int32_t, double, ID, double, double, ID, int32_t, (int32_t)D2I, pow(x, y)); return true; \
  case SINTER_INT64: BLOOP(int64_t, double, ID, double, double, ID, int64_t, D2I, pow(x, y)); return true;          \
  case SINTER_UINT8: BLOOP(uint8_t, double, ID, double, double, ID, uint8_t, (uint8_t)D2I, pow(x, y)); return true; \
  case SINTER_UINT16: BLOOP(uint16_t, double, ID, double, double, ID, uint16_t, (uint16_t)D2I, pow(x, y)); return true; \
  case SINTER_UINT32: BLOOP(uint32_t, double, ID, double, double, ID, uint32_t, (uint32_t)D2I, pow(x, y)); return true; \
  case SINTER_UINT64: BLOOP(uint64_t, double, ID, double, double, ID, uint64_t, D2U, pow(x, y)); return true;       \
  case SINTER_FLOAT: BLOOP(float, double, ID, double, double, ID, float, (float), pow(x, y)); return true;           \
  case SINTER_DOUBLE: BLOOP(double, double, ID, double, double, ID, double, ID, pow(x, y)); return true;            \
  case SINTER_FLOAT16: BLOOP(uint16_t, double, F16L, double, double, ID, uint16_t, F16D, pow(x, y)); return true;    \
  case SINTER_BFLOAT16: BLOOP(uint16_t, double, BF16L, double, double, ID, uint16_t, BF16D, pow(x, y)); return true;

#define F16D(v) sn_f32_to_f16(sn_d2f_odd(v))
#define BF16D(v) sn_f32_to_bf16(sn_d2f_odd(v))

/* Run binary op `op` on one broadcast setup, output elements [e0, e1). dt is the (first) input type;
 * pb has the same type except for Pow, whose exponent arrives as int64 (integer base and exponent:
 * POW_I64), double (POW_F64) or the base type. Returns false when the type is not supported (also
 * for an empty range: a call with e0 == e1 asks). */
enum { POW_SAME = 0, POW_I64 = 1, POW_F64 = 2 };

static bool bin_loop(int op, sn_dtype dt, int pow_kind, const void *pa, const void *pb, void *po, const sn_bcast *bc,
                     int64_t e0, int64_t e1) {
  switch (op) {
    case B_ADD:
    case B_SUM:
    case B_MEAN:
      switch (dt) { CASE_NUM(add) default: return false; }
    case B_SUB: switch (dt) { CASE_NUM(sub) default: return false; }
    case B_MUL: switch (dt) { CASE_NUM(mul) default: return false; }
    case B_DIV: switch (dt) { CASE_NUM(div) default: return false; }
    case B_MOD: switch (dt) { CASE_NUM(mod) default: return false; }
    case B_FMOD: switch (dt) { CASE_NUM(fmod) default: return false; }
    case B_MAX: switch (dt) { CASE_NUM(max) default: return false; }
    case B_MIN: switch (dt) { CASE_NUM(min) default: return false; }
    case B_PRELU: switch (dt) { CASE_NUM(prelu) default: return false; }
    case B_POW:
      if (pow_kind == POW_I64) switch (dt) { CASE_IPOW default: return false; }
      if (pow_kind == POW_F64) switch (dt) { CASE_DPOW default: return false; }
      switch (dt) { CASE_FLT(pow) default: return false; }
    case B_EQ: switch (dt) { CASE_CMP(x == y) default: return false; }
    case B_GT: switch (dt) { CASE_CMP(x > y) default: return false; }
    case B_GE: switch (dt) { CASE_CMP(x >= y) default: return false; }
    case B_LT: switch (dt) { CASE_CMP(x < y) default: return false; }
    case B_LE: switch (dt) { CASE_CMP(x <= y) default: return false; }
    case B_AND:
      if (dt != SINTER_BOOL) return false;
      BLOOP(uint8_t, uint8_t, ID, uint8_t, uint8_t, ID, uint8_t, BOOLS, x && y);
      return true;
    case B_OR:
      if (dt != SINTER_BOOL) return false;
      BLOOP(uint8_t, uint8_t, ID, uint8_t, uint8_t, ID, uint8_t, BOOLS, x || y);
      return true;
    case B_XOR:
      if (dt != SINTER_BOOL) return false;
      BLOOP(uint8_t, uint8_t, ID, uint8_t, uint8_t, ID, uint8_t, BOOLS, (x != 0) != (y != 0));
      return true;
    case B_BAND: switch (dt) { CASE_BITS(&) default: return false; }
    case B_BOR: switch (dt) { CASE_BITS(|) default: return false; }
    case B_BXOR: switch (dt) { CASE_BITS(^) default: return false; }
    case B_SHL: switch (dt) { CASE_SHIFT(shl) default: return false; }
    case B_SHR: switch (dt) { CASE_SHIFT(shr) default: return false; }
    default: return false;
  }
}

/* the whole output of a supported op, split over the kernel's pool (kc NULL, folding: one call) in
 * chunks of whole cache lines, where there are enough elements (ConvNeXt INT8's unfused GELU Div
 * and Mul: 1.2M elements each, on one core) */
typedef struct bin_job {
  int op, pow_kind;
  sn_dtype dt;
  const void *pa, *pb;
  void *po;
  const sn_bcast *bc;
} bin_job;

static void bin_part(void *arg, int64_t e0, int64_t e1) {
  const bin_job *j = arg;
  bin_loop(j->op, j->dt, j->pow_kind, j->pa, j->pb, j->po, j->bc, e0, e1);
}

static void bin_range(sn_kernel_ctx *kc, int op, sn_dtype dt, int pow_kind, const void *pa, const void *pb, void *po,
                      const sn_bcast *bc) {
  int nw = kc && bc->count >= 32768 ? sn_nn_workers(kc, 16.0 * (double)bc->count) : 1; /* (~12K elements a worker) */
  bin_job j = {op, pow_kind, dt, pa, pb, po, bc};
  sn_nn_run_parts(kc, nw, bc->count, bin_part, &j);
}

static const char *op_name(const sn_node *n) { return n->op_type; }

static sn_error *type_error(const sn_node *n, sn_dtype dt) {
  return sn_ew_errorf(n, SINTER_ERR_NOT_IMPLEMENTED, "%s does not support element type %s", op_name(n),
                      sn_dtype_name(dt));
}

/* ---- string comparison ------------------------------------------------------------------------ */

static void string_equal(const sn_bcast *bc, const sn_tensor *a, const sn_tensor *b, uint8_t *o) {
  char *const *pa = a->data, *const *pb = b->data;
  sn_bcast_iter it;
  sn_bcast_iter_start(&it, bc, 0);
  for (int64_t r = 0; r < bc->rows; r++, sn_bcast_iter_next(&it)) {
    for (int64_t i = 0; i < bc->inner; i++) {
      const char *x = pa[it.off[0] + i * bc->inner_stride[0]], *y = pb[it.off[1] + i * bc->inner_stride[1]];
      o[r * bc->inner + i] = strcmp(x ? x : "", y ? y : "") == 0;
    }
  }
}

/* ---- binary ops ------------------------------------------------------------------------------- */

static bool is_int_dtype(sn_dtype dt) { return sn_dt(dt)->is_int; }

static sn_error *mismatch(const sn_node *n, const sn_tensor *a, const sn_tensor *b) {
  char x[128], y[128];
  return sn_ew_errorf(n, SINTER_ERR_INVALID_GRAPH, "input types differ: %s and %s", sn_tensor_describe(a, x, sizeof x),
                      sn_tensor_describe(b, y, sizeof y));
}

static sn_error *compute_binary(const sn_node *n, const void *pp, int n_in, const sn_tensor *const *in, sn_ew_out *o) {
  ew_params tmp;
  const ew_params *p;
  SN_TRY(get_params(n, pp, &tmp, &p));
  if (n_in < 2 || !in[0] || !in[1]) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "needs two inputs");
  const sn_tensor *a = in[0], *b = in[1];
  int op = p->op;
  if (op != B_POW && a->dtype != b->dtype) return mismatch(n, a, b);
  int rb = b->rank;
  int64_t db[SN_MAX_RANK];
  memcpy(db, b->dims, sizeof(int64_t) * (size_t)b->rank);
  char x1[128], x2[128];
  if (p->legacy && p->bcast && !legacy_dims(p, a->rank, b->rank, b->dims, &rb, db))
    return sn_ew_errorf(n, SINTER_ERR_INVALID_ARGUMENT, "legacy broadcast of %s onto %s at axis %lld does not fit",
                        sn_tensor_describe(b, x1, sizeof x1), sn_tensor_describe(a, x2, sizeof x2), (long long)p->axis);
  /* output shape */
  int rank;
  int64_t dims[SN_MAX_RANK];
  sn_bcast bc;
  sn_error *e;
  if (op == B_PRELU) {
    /* unidirectional: the slope broadcasts to X; opset < 7 also allowed a [C] slope for NCHW */
    rank = a->rank;
    memcpy(dims, a->dims, sizeof(int64_t) * (size_t)rank);
    if (!sn_broadcastable_to(rb, db, rank, dims) && n->opset < 7 && b->count > 1 && rank >= 2 &&
        b->count == a->dims[1]) {
      rb = rank - 1;
      for (int d = 0; d < rb; d++) db[d] = d == 0 ? a->dims[1] : 1;
    }
    const int ranks[2] = {a->rank, rb};
    const int64_t *const dd[2] = {a->dims, db};
    e = sn_bcast_init(&bc, rank, dims, 2, ranks, dd);
  } else {
    const int ranks[2] = {a->rank, rb};
    const int64_t *const dd[2] = {a->dims, db};
    e = sn_bcast_init_auto(&bc, 2, ranks, dd, &rank, dims);
  }
  if (e) {
    sn_error_free(e);
    return sn_ew_errorf(n, SINTER_ERR_INVALID_ARGUMENT, "shapes %s and %s do not broadcast%s",
                        sn_tensor_describe(a, x1, sizeof x1), sn_tensor_describe(b, x2, sizeof x2),
                        op == B_PRELU ? " (the slope must broadcast to X)" : "");
  }
  sn_dtype odt = is_compare(op) ? SINTER_BOOL : a->dtype;
  sn_tensor *out;
  SN_TRY(sn_ew_output(o, odt, rank, dims, &out));
  if (a->dtype == SINTER_STRING) {
    if (op != B_EQ) return type_error(n, a->dtype);
    string_equal(&bc, a, b, out->data);
    return NULL;
  }
  /* Pow with mixed types: bring the exponent to int64 (integer base and exponent) or double */
  const void *pb = b->data;
  int pow_kind = POW_SAME;
  if (op == B_POW) {
    bool base_int = is_int_dtype(a->dtype), exp_int = is_int_dtype(b->dtype);
    if (base_int && exp_int)
      pow_kind = POW_I64;
    else if (a->dtype != b->dtype || base_int)
      pow_kind = POW_F64;
    if (b->dtype == SINTER_STRING || b->dtype == SINTER_BOOL) return type_error(n, b->dtype);
    if (pow_kind != POW_SAME) {
      void *t = sn_ew_scratch(o, (size_t)b->count * 8);
      if (!t) return SN_ERR_OOM();
      for (int64_t i = 0; i < b->count; i++) {
        if (pow_kind == POW_I64)
          ((int64_t *)t)[i] = sn_load_i64(b->dtype, b->data, i);
        else
          ((double *)t)[i] = sn_load_f64(b->dtype, b->data, i);
      }
      pb = t;
    }
  }
  if (bc.count == 0) return NULL;
  if (!bin_loop(op, a->dtype, pow_kind, a->data, pb, out->data, &bc, 0, 0)) return type_error(n, a->dtype);
  bin_range(o->kc, op, a->dtype, pow_kind, a->data, pb, out->data, &bc);
  return NULL;
}

/* ---- variadic ops: Max, Min, Sum, Mean ------------------------------------------------------ */

static bool mean_divide(sn_dtype dt, void *data, int64_t count, int k) {
  switch (dt) {
    case SINTER_FLOAT:
      for (int64_t i = 0; i < count; i++) ((float *)data)[i] /= (float)k;
      return true;
    case SINTER_DOUBLE:
      for (int64_t i = 0; i < count; i++) ((double *)data)[i] /= (double)k;
      return true;
    case SINTER_FLOAT16:
      for (int64_t i = 0; i < count; i++)
        ((uint16_t *)data)[i] = sn_f32_to_f16(sn_f16_to_f32(((uint16_t *)data)[i]) / (float)k);
      return true;
    case SINTER_BFLOAT16:
      for (int64_t i = 0; i < count; i++)
        ((uint16_t *)data)[i] = sn_f32_to_bf16(sn_bf16_to_f32(((uint16_t *)data)[i]) / (float)k);
      return true;
    default:
      if (!sn_dt(dt)->is_int) return false;
      for (int64_t i = 0; i < count; i++) sn_store_i64(dt, data, i, sn_load_i64(dt, data, i) / k);
      return true;
  }
}

static sn_error *compute_variadic(const sn_node *n, const void *pp, int n_in, const sn_tensor *const *in, sn_ew_out *o) {
  ew_params tmp;
  const ew_params *p;
  SN_TRY(get_params(n, pp, &tmp, &p));
  if (n_in < 1) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "needs at least one input");
  if (n_in > 4096) return sn_ew_errorf(n, SINTER_ERR_NOT_IMPLEMENTED, "too many inputs (%d)", n_in);
  int rank = 0;
  int64_t dims[SN_MAX_RANK] = {0};
  sn_dtype dt = in[0] ? in[0]->dtype : 0;
  for (int k = 0; k < n_in; k++) {
    if (!in[k]) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "input %d is missing", k);
    if (in[k]->dtype != dt) return mismatch(n, in[0], in[k]);
  }
  /* output shape: fold pairwise so any number of inputs works */
  rank = in[0]->rank;
  memcpy(dims, in[0]->dims, sizeof(int64_t) * (size_t)rank);
  for (int k = 1; k < n_in; k++) {
    int r2;
    int64_t d2[SN_MAX_RANK];
    sn_error *e = sn_broadcast_shape2(rank, dims, in[k]->rank, in[k]->dims, &r2, d2);
    if (e) {
      char x[128];
      sn_error_free(e);
      return sn_ew_errorf(n, SINTER_ERR_INVALID_ARGUMENT, "input %d %s does not broadcast with the others", k,
                          sn_tensor_describe(in[k], x, sizeof x));
    }
    rank = r2;
    memcpy(dims, d2, sizeof(int64_t) * (size_t)rank);
  }
  sn_tensor *out;
  SN_TRY(sn_ew_output(o, dt, rank, dims, &out));
  if (out->count == 0) return NULL;
  int op = p->op;
  /* order: an input whose memory the output reuses must be read in the first step */
  int order_first = 0;
  for (int k = 0; k < n_in; k++)
    if (in[k]->data == out->data && k != 0) order_first = k;
  int first = order_first, second = order_first == 0 ? 1 : 0;
  if (n_in == 1) {
    if (out->data != in[0]->data) memcpy(out->data, in[0]->data, out->nbytes);
  } else {
    const int r2[2] = {in[first]->rank, in[second]->rank};
    const int64_t *const d2[2] = {in[first]->dims, in[second]->dims};
    sn_bcast bc;
    SN_TRY(sn_bcast_init(&bc, rank, dims, 2, r2, d2));
    if (!bin_loop(op, dt, POW_SAME, in[first]->data, in[second]->data, out->data, &bc, 0, bc.count))
      return type_error(n, dt);
    for (int k = 0; k < n_in; k++) {
      if (k == first || k == second) continue;
      const int r3[2] = {rank, in[k]->rank};
      const int64_t *const d3[2] = {dims, in[k]->dims};
      SN_TRY(sn_bcast_init(&bc, rank, dims, 2, r3, d3));
      bin_loop(op, dt, POW_SAME, out->data, in[k]->data, out->data, &bc, 0, bc.count);
    }
  }
  if (op == B_MEAN && n_in > 1 && !mean_divide(dt, out->data, out->count, n_in)) return type_error(n, dt);
  return NULL;
}

/* ---- Where -------------------------------------------------------------------------------------- */

#define WLOOP(T)                                                                                   \
  do {                                                                                             \
    const uint8_t *pc = c->data;                                                                   \
    const T *px = x->data, *py = y->data;                                                          \
    T *pz = out->data;                                                                             \
    sn_bcast_iter it;                                                                              \
    sn_bcast_iter_start(&it, &bc, 0);                                                              \
    const int64_t n_ = bc.inner, sc = bc.inner_stride[0], sx = bc.inner_stride[1], sy = bc.inner_stride[2]; \
    for (int64_t r = 0; r < bc.rows; r++, sn_bcast_iter_next(&it)) {                               \
      const uint8_t *c_ = pc + it.off[0];                                                          \
      const T *x_ = px + it.off[1], *y_ = py + it.off[2];                                          \
      T *z_ = pz + r * n_;                                                                         \
      if (sc && sx && sy)                                                                          \
        for (int64_t i = 0; i < n_; i++) z_[i] = c_[i] ? x_[i] : y_[i];                            \
      else                                                                                         \
        for (int64_t i = 0; i < n_; i++) z_[i] = c_[i * sc] ? x_[i * sx] : y_[i * sy];             \
    }                                                                                              \
  } while (0)

static sn_error *compute_where(const sn_node *n, const void *pp, int n_in, const sn_tensor *const *in, sn_ew_out *o) {
  (void)pp;
  if (n_in != 3 || !in[0] || !in[1] || !in[2]) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "needs three inputs");
  const sn_tensor *c = in[0], *x = in[1], *y = in[2];
  char b1[128], b2[128], b3[128];
  if (c->dtype != SINTER_BOOL)
    return sn_ew_errorf(n, SINTER_ERR_INVALID_GRAPH, "condition must be bool, got %s", sn_tensor_describe(c, b1, sizeof b1));
  if (x->dtype != y->dtype) return mismatch(n, x, y);
  sn_bcast bc;
  int rank;
  int64_t dims[SN_MAX_RANK];
  sn_error *e = sn_bcast_init_tensors(&bc, 3, in, &rank, dims);
  if (e) {
    sn_error_free(e);
    return sn_ew_errorf(n, SINTER_ERR_INVALID_ARGUMENT, "shapes %s, %s and %s do not broadcast",
                        sn_tensor_describe(c, b1, sizeof b1), sn_tensor_describe(x, b2, sizeof b2),
                        sn_tensor_describe(y, b3, sizeof b3));
  }
  sn_tensor *out;
  SN_TRY(sn_ew_output(o, x->dtype, rank, dims, &out));
  if (bc.count == 0) return NULL;
  if (x->dtype == SINTER_STRING) {
    char *const *px = x->data, *const *py = y->data;
    char **pz = out->data;
    const uint8_t *pc = c->data;
    sn_bcast_iter it;
    sn_bcast_iter_start(&it, &bc, 0);
    for (int64_t r = 0; r < bc.rows; r++, sn_bcast_iter_next(&it)) {
      for (int64_t i = 0; i < bc.inner; i++) {
        const char *s = pc[it.off[0] + i * bc.inner_stride[0]] ? px[it.off[1] + i * bc.inner_stride[1]]
                                                               : py[it.off[2] + i * bc.inner_stride[2]];
        pz[r * bc.inner + i] = sn_strdup(s ? s : "");
        if (!pz[r * bc.inner + i]) return SN_ERR_OOM();
      }
    }
    return NULL;
  }
  switch (sn_dtype_size(x->dtype)) {
    case 1: WLOOP(uint8_t); break;
    case 2: WLOOP(uint16_t); break;
    case 4: WLOOP(uint32_t); break;
    case 8: WLOOP(uint64_t); break;
    case 16: {
      typedef struct {
        uint64_t v[2];
      } u128;
      WLOOP(u128);
      break;
    }
    default: return type_error(n, x->dtype);
  }
  return NULL;
}

/* ---- kernels ------------------------------------------------------------------------------------ */

static sn_error *run_binary(sn_kernel_ctx *c) { return sn_ew_run(c, c->params, compute_binary); }
static sn_error *run_variadic(sn_kernel_ctx *c) { return sn_ew_run(c, c->params, compute_variadic); }
static sn_error *run_where(sn_kernel_ctx *c) { return sn_ew_run(c, c->params, compute_where); }

/* ---- shape inference ---------------------------------------------------------------------------- */

static sn_error *set_out(sn_infer_ctx *c, sn_dtype dt, const sn_type *shape) {
  sn_type *o = c->out[0];
  if (!o) return NULL;
  if (shape->rank < 0)
    sn_type_set_unknown(o, dt);
  else
    sn_type_set(o, dt, shape->rank, shape->dims);
  return NULL;
}

static sn_error *check_same(sn_infer_ctx *c, const sn_type *a, const sn_type *b, int ia, int ib) {
  if (a && b && a->dtype && b->dtype && a->dtype != b->dtype) {
    char x[128], y[128];
    return sn_infer_error(c, "input %d is %s but input %d is %s (they must match)", ia, sn_type_str(a, x, sizeof x), ib,
                          sn_type_str(b, y, sizeof y));
  }
  return NULL;
}

/* Which element types an op accepts (superset of every opset's list). */
static bool dtype_ok(int op, sn_dtype dt) {
  if (!dt) return true;
  const sn_dtype_info *t = sn_dt(dt);
  bool std_float = dt == SINTER_FLOAT || dt == SINTER_DOUBLE || dt == SINTER_FLOAT16 || dt == SINTER_BFLOAT16;
  switch (op) {
    case B_AND: case B_OR: case B_XOR: return dt == SINTER_BOOL;
    case B_SHL: case B_SHR: return t->is_int && !t->is_signed && dt != SINTER_UINT4;
    case B_BAND: case B_BOR: case B_BXOR: return t->is_int && dt != SINTER_INT4 && dt != SINTER_UINT4;
    case B_EQ: return dt == SINTER_BOOL || dt == SINTER_STRING || std_float || (t->is_int && dt != SINTER_INT4 && dt != SINTER_UINT4);
    case B_GT: case B_GE: case B_LT: case B_LE:
      return dt == SINTER_BOOL || std_float || (t->is_int && dt != SINTER_INT4 && dt != SINTER_UINT4);
    case B_SUM: case B_MEAN: return std_float || (t->is_int && dt != SINTER_INT4 && dt != SINTER_UINT4);
    default: return std_float || (t->is_int && dt != SINTER_INT4 && dt != SINTER_UINT4);
  }
}

static sn_error *check_dtype(sn_infer_ctx *c, int op, const sn_type *t, int i) {
  if (t && !dtype_ok(op, t->dtype)) {
    char x[128];
    return sn_infer_error(c, "input %d is %s, which %s does not accept", i, sn_type_str(t, x, sizeof x),
                          c->node->op_type);
  }
  return NULL;
}

static sn_error *infer_binary(sn_infer_ctx *c) {
  ew_params p;
  SN_TRY(parse(c->node, &p));
  const sn_type *a = c->in[0], *b = c->in[1];
  if (!a || !b) return sn_infer_error(c, "needs two inputs");
  if (p.op != B_POW) SN_TRY(check_same(c, a, b, 0, 1));
  SN_TRY(check_dtype(c, p.op, a, 0));
  if (p.op == B_POW) SN_TRY(check_dtype(c, B_ADD, b, 1));
  sn_type bt = *b, out;
  if (p.legacy && p.bcast && a->rank >= 0 && b->rank >= 0) {
    if (b->rank > a->rank) return sn_infer_error(c, "legacy broadcast: B has higher rank (%d) than A (%d)", b->rank, a->rank);
    int64_t axis = p.has_axis ? p.axis : a->rank - b->rank;
    if (axis < 0) axis += a->rank;
    if (axis < 0 || axis + b->rank > a->rank) return sn_infer_error(c, "legacy broadcast: axis %lld out of range", (long long)p.axis);
    bt.rank = a->rank;
    for (int d = 0; d < a->rank; d++) bt.dims[d] = sn_dim_known(1);
    for (int d = 0; d < b->rank; d++) bt.dims[axis + d] = b->dims[d];
  }
  sn_dtype dt = is_compare(p.op) ? SINTER_BOOL : (a->dtype ? a->dtype : (p.op == B_POW ? 0 : b->dtype));
  if (p.op == B_PRELU) {
    out = *a;
  } else {
    SN_TRY(sn_infer_broadcast(c, a, &bt, &out));
  }
  SN_TRY(set_out(c, dt, &out));
  return sn_ew_fold(c, &p, compute_binary);
}

static sn_error *infer_variadic(sn_infer_ctx *c) {
  ew_params p;
  SN_TRY(parse(c->node, &p));
  if (c->n_in < 1 || !c->in[0]) return sn_infer_error(c, "needs at least one input");
  sn_type acc = *c->in[0];
  SN_TRY(check_dtype(c, p.op, c->in[0], 0));
  for (int k = 1; k < c->n_in; k++) {
    if (!c->in[k]) return sn_infer_error(c, "input %d is missing", k);
    SN_TRY(check_same(c, c->in[0], c->in[k], 0, k));
    sn_type t;
    SN_TRY(sn_infer_broadcast(c, &acc, c->in[k], &t));
    acc.rank = t.rank;
    memcpy(acc.dims, t.dims, sizeof acc.dims);
  }
  sn_dtype dt = c->in[0]->dtype;
  for (int k = 1; !dt && k < c->n_in; k++) dt = c->in[k]->dtype;
  SN_TRY(set_out(c, dt, &acc));
  return sn_ew_fold(c, &p, compute_variadic);
}

static sn_error *infer_where(sn_infer_ctx *c) {
  if (c->n_in != 3 || !c->in[0] || !c->in[1] || !c->in[2]) return sn_infer_error(c, "needs three inputs");
  if (c->in[0]->dtype && c->in[0]->dtype != SINTER_BOOL) {
    char x[128];
    return sn_infer_error(c, "condition must be bool, got %s", sn_type_str(c->in[0], x, sizeof x));
  }
  SN_TRY(check_same(c, c->in[1], c->in[2], 1, 2));
  sn_type t1, t2;
  SN_TRY(sn_infer_broadcast(c, c->in[0], c->in[1], &t1));
  SN_TRY(sn_infer_broadcast(c, &t1, c->in[2], &t2));
  sn_dtype dt = c->in[1]->dtype ? c->in[1]->dtype : c->in[2]->dtype;
  SN_TRY(set_out(c, dt, &t2));
  return sn_ew_fold(c, NULL, compute_where);
}

/* ---- the table ---------------------------------------------------------------------------------- */

#define BIN(name, since, until) {"", name, since, until, infer_binary, run_binary, prepare, free_params, SN_OP_INPLACE}
#define VAR(name, since, until) {"", name, since, until, infer_variadic, run_variadic, prepare, free_params, 0}

/* ---- sinter:QDQBinary (x, x_scale, x_zero_point, c, y_scale, y_zero_point), attributes op, c_first ---
 * QuantizeLinear(DequantizeLinear(x) <op> c) for op Add, Sub, Mul or Div and c a float32 constant
 * over x's trailing axes (a bias: c's dimensions, right-aligned, are 1 or x's, its others all 1; c <op>
 * x with c_first), per-tensor parameters, the output of y_zero_point's 8-bit type: the QDQ pass's
 * fusion of a quantized model's bias Add with a float constant. Row blocks of x are dequantized, get
 * c elementwise (IEEE operations, rounded as the Add kernel rounds them) and are quantized
 * (sn_nn_qrows): the same bytes as the three ops, without the float tensors. */

enum { QB_ADD, QB_SUB, QB_MUL, QB_DIV };

static int qb_op(const sn_node *n) {
  const char *op = sn_attr_str(n, "op", "");
  return !strcmp(op, "Add") ? QB_ADD : !strcmp(op, "Sub") ? QB_SUB : !strcmp(op, "Mul") ? QB_MUL : !strcmp(op, "Div") ? QB_DIV : -1;
}

static sn_error *qb_infer(sn_infer_ctx *c) {
  if (c->n_in != 6 || !c->in[0] || !c->in[1] || !c->in[3] || !c->in[4] || !c->in[5])
    return sn_infer_error(c, "needs x, x_scale, x_zero_point, c, y_scale, y_zero_point");
  if (qb_op(c->node) < 0) return sn_infer_error(c, "attribute op must be Add, Sub, Mul or Div");
  const sn_type *x = c->in[0];
  if (c->in[3]->dtype && c->in[3]->dtype != SINTER_FLOAT) return sn_infer_error(c, "c must be float32");
  if (x->rank >= 0 && c->in[3]->rank > x->rank) return sn_infer_error(c, "c has more axes than x");
  return sn_qdq_infer_out(c, 5);
}

typedef struct qb_arg {
  const float *c;
  int op;
  bool c_first;
} qb_arg;

static void qb_rows(const void *arg, float *rows, int64_t nrows, int64_t n) {
  const qb_arg *a = arg;
  const float *restrict cv = a->c;
  for (int64_t r = 0; r < nrows; r++) {
    float *restrict v = rows + r * n;
    switch (a->op) {
      case QB_ADD: sn_vbias_act(SN_VACT_NONE, 0, 0, cv, NULL, v, n); break; /* (vectorized, the same sums) */
      case QB_MUL: for (int64_t i = 0; i < n; i++) v[i] = v[i] * cv[i]; break;
      case QB_SUB:
        if (a->c_first)
          for (int64_t i = 0; i < n; i++) v[i] = cv[i] - v[i];
        else
          for (int64_t i = 0; i < n; i++) v[i] = v[i] - cv[i];
        break;
      default:
        if (a->c_first)
          for (int64_t i = 0; i < n; i++) v[i] = cv[i] / v[i];
        else
          for (int64_t i = 0; i < n; i++) v[i] = v[i] / cv[i];
        break;
    }
  }
}

static sn_error *qb_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0], *k = c->in[3];
  sn_qdq_io q;
  SN_TRY(sn_qdq_io_read(c, 4, &q));
  if (k->dtype != SINTER_FLOAT) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "c must be float32");
  /* c over x's trailing axes: right-aligned, its leading dimensions 1 and the rest x's */
  bool lead = true, ok = k->rank <= x->rank;
  for (int d = 0; d < k->rank && ok; d++) {
    int64_t kd = k->dims[d], xd = x->dims[x->rank - k->rank + d];
    if (lead && kd == 1) continue; /* (a leading 1 broadcasts, whatever x's size there: 1 too) */
    lead = false;
    ok = kd == xd;
  }
  if (!ok) {
    char b1[128], b2[128];
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "c %s is not over the trailing axes of x %s",
                           sn_tensor_describe(k, b1, sizeof b1), sn_tensor_describe(x, b2, sizeof b2));
  }
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, c->in[5]->dtype, x->rank, x->dims, &y));
  if (y->count == 0) return NULL;
  int64_t n = k->count > 0 ? k->count : 1;
  qb_arg a = {k->data, qb_op(c->node), sn_attr_int(c->node, "c_first", 0) != 0};
  if (a.op < 0) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "attribute op must be Add, Sub, Mul or Div");
  return sn_nn_qrows(c, x->data, x->dtype == SINTER_INT8, (int32_t)q.xz, q.xs, y->data, y->dtype == SINTER_INT8, q.ys,
                     q.yz, y->count / n, n, 8.0, qb_rows, &a);
}

const sn_op sn_ops_elementwise[] = {
    /* opset 1-6: legacy broadcast/axis attributes (consumed_inputs ignored); 7+: numpy broadcasting;
     * later versions only widen the type lists */
    BIN("Add", 1, 6), BIN("Add", 7, 0),
    BIN("Sub", 1, 6), BIN("Sub", 7, 0),
    BIN("Mul", 1, 6), BIN("Mul", 7, 0),
    BIN("Div", 1, 6), BIN("Div", 7, 0),
    BIN("Pow", 1, 6), BIN("Pow", 7, 11), BIN("Pow", 12, 0), /* 12+: base and exponent types may differ */
    BIN("Mod", 10, 0),
    BIN("And", 1, 6), BIN("And", 7, 0),
    BIN("Or", 1, 6), BIN("Or", 7, 0),
    BIN("Xor", 1, 6), BIN("Xor", 7, 0),
    BIN("Equal", 1, 6), BIN("Equal", 7, 0), /* 19+: strings */
    BIN("Greater", 1, 6), BIN("Greater", 7, 0),
    BIN("Less", 1, 6), BIN("Less", 7, 0),
    BIN("GreaterOrEqual", 12, 0),
    BIN("LessOrEqual", 12, 0),
    BIN("BitShift", 11, 0),
    BIN("BitwiseAnd", 18, 0),
    BIN("BitwiseOr", 18, 0),
    BIN("BitwiseXor", 18, 0),
    BIN("PRelu", 1, 6), BIN("PRelu", 7, 0), /* 1-6: scalar or per-channel slope; 7+: unidirectional broadcast */
    /* variadic: 1-7 same shapes (a superset is run), 8+ broadcasting */
    VAR("Max", 1, 0),
    VAR("Min", 1, 0),
    VAR("Sum", 1, 0),
    VAR("Mean", 1, 0),
    {"", "Where", 9, 0, infer_where, run_where, NULL, NULL, 0},
    {"sinter", "QDQBinary", 1, 0, qb_infer, qb_run, NULL, NULL, 0},
    {0},
};
