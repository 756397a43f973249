/* Cast and CastLike between every pair of element types: integers wrap, floats truncate toward
 * zero, narrow floats round to nearest even (float8 saturating or not), strings parse and print
 * the way numpy does (shortest round-trip digits). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "kernels/ref/elementwise_ref.h"
#include "ops/op.h"

typedef struct cast_params {
  sn_dtype to; /* 0 for CastLike (the second input's type) */
  bool saturate;
  bool like;
  int round_mode; /* SN_E8M0_ROUND_*: rounding into float8e8m0 */
} cast_params;

/* How narrow float targets round: float8 saturation and the float8e8m0 round_mode. */
typedef struct cvt_mode {
  bool sat;
  int round;
} cvt_mode;

static const struct {
  const char *name;
  sn_dtype dt;
} legacy_names[] = {
    {"FLOAT", SINTER_FLOAT},     {"UINT8", SINTER_UINT8},   {"INT8", SINTER_INT8},       {"UINT16", SINTER_UINT16},
    {"INT16", SINTER_INT16},     {"INT32", SINTER_INT32},   {"INT64", SINTER_INT64},     {"STRING", SINTER_STRING},
    {"BOOL", SINTER_BOOL},       {"FLOAT16", SINTER_FLOAT16}, {"DOUBLE", SINTER_DOUBLE}, {"UINT32", SINTER_UINT32},
    {"UINT64", SINTER_UINT64},   {"COMPLEX64", SINTER_COMPLEX64}, {"COMPLEX128", SINTER_COMPLEX128},
    {"BFLOAT16", SINTER_BFLOAT16}, {"FLOAT32", SINTER_FLOAT}, {"FLOAT64", SINTER_DOUBLE},
};

static bool castable(sn_dtype dt) {
  return sn_dtype_valid((int)dt) && dt != SINTER_COMPLEX64 && dt != SINTER_COMPLEX128;
}

static sn_error *parse(const sn_node *n, cast_params *p) {
  memset(p, 0, sizeof *p);
  p->saturate = sn_attr_int(n, "saturate", 1) != 0;
  const char *rm = sn_attr_str(n, "round_mode", "up");
  if (!strcmp(rm, "up"))
    p->round_mode = SN_E8M0_ROUND_UP;
  else if (!strcmp(rm, "down"))
    p->round_mode = SN_E8M0_ROUND_DOWN;
  else if (!strcmp(rm, "nearest"))
    p->round_mode = SN_E8M0_ROUND_NEAREST;
  else
    return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "round_mode must be 'up', 'down' or 'nearest', got '%s'", rm);
  if (!strcmp(n->op_type, "CastLike")) {
    p->like = true;
    if (n->n_in != 2 || n->in[0] < 0 || n->in[1] < 0)
      return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "needs two inputs (input, target_type)");
    return NULL;
  }
  if (n->n_in != 1 || n->in[0] < 0) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "needs one input");
  const sn_attr *a = sn_node_attr(n, "to");
  if (!a) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "attribute 'to' is missing");
  int64_t to = -1;
  if (a->type == SN_ATTR_STRING) {
    for (size_t i = 0; i < sizeof legacy_names / sizeof *legacy_names; i++)
      if (a->s && !strcasecmp(a->s, legacy_names[i].name)) to = legacy_names[i].dt;
    if (to < 0) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "attribute to='%s' is not a known type name", a->s ? a->s : "");
  } else {
    to = a->i;
  }
  if (!castable((sn_dtype)to))
    return sn_ew_errorf(n, to > 0 && to < 32 ? SINTER_ERR_NOT_IMPLEMENTED : SINTER_ERR_INVALID_MODEL,
                        "Cast to element type %lld (%s) is not supported", (long long)to,
                        sn_dtype_valid((int)to) ? sn_dtype_name((sn_dtype)to) : "unknown");
  p->to = (sn_dtype)to;
  return NULL;
}

static sn_error *prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  cast_params *p = sn_malloc(sizeof *p);
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

/* ---- numeric conversion through int64 / uint64 / double chunks ---------------------------------- */

#define CHUNK 256

typedef enum { K_I64, K_U64, K_F64 } kind;

static kind kind_of(sn_dtype dt) {
  if (dt == SINTER_UINT64) return K_U64;
  if (sn_dt(dt)->is_float) return K_F64;
  return K_I64;
}

static void load_chunk(sn_dtype dt, const void *src, int64_t off, int n, kind k, void *buf) {
  int64_t *bi = buf;
  uint64_t *bu = buf;
  double *bd = buf;
#define LD(T, DST)                                                                                 \
  for (int i = 0; i < n; i++) DST[i] = ((const T *)src)[off + i];                                  \
  return
  switch (dt) {
    case SINTER_INT8:
    case SINTER_INT4: LD(int8_t, bi);
    case SINTER_INT16: LD(int16_t, bi);
    case SINTER_INT32: LD(int32_t, bi);
    case SINTER_INT64: LD(int64_t, bi);
    case SINTER_BOOL: for (int i = 0; i < n; i++) bi[i] = ((const uint8_t *)src)[off + i] != 0; return;
    case SINTER_UINT8:
    case SINTER_UINT4: LD(uint8_t, bi);
    case SINTER_UINT16: LD(uint16_t, bi);
    case SINTER_UINT32: LD(uint32_t, bi);
    case SINTER_UINT64: LD(uint64_t, bu);
    case SINTER_FLOAT: LD(float, bd);
    case SINTER_DOUBLE: LD(double, bd);
    case SINTER_FLOAT16: for (int i = 0; i < n; i++) bd[i] = sn_f16_to_f32(((const uint16_t *)src)[off + i]); return;
    case SINTER_BFLOAT16: for (int i = 0; i < n; i++) bd[i] = sn_bf16_to_f32(((const uint16_t *)src)[off + i]); return;
    default:
      (void)k;
      for (int i = 0; i < n; i++) bd[i] = sn_load_f64(dt, src, off + i);
      return;
  }
#undef LD
}

static inline uint8_t wrap_u4(int64_t v) { return (uint8_t)(v & 15); }
static inline int8_t wrap_i4(int64_t v) { return (int8_t)(((v & 15) ^ 8) - 8); }

/* Store n converted values from an int64 (k == K_I64 or K_U64, bit-identical for integer targets)
 * or double buffer. */
static void store_chunk(sn_dtype dt, void *dst, int64_t off, int n, kind k, const void *buf, cvt_mode sat) {
  const int64_t *bi = buf;
  const uint64_t *bu = buf;
  const double *bd = buf;
#define ST_INT(T)                                                                                  \
  if (k == K_F64)                                                                                  \
    for (int i = 0; i < n; i++) ((T *)dst)[off + i] = (T)sn_d2i64(bd[i]);                          \
  else                                                                                             \
    for (int i = 0; i < n; i++) ((T *)dst)[off + i] = (T)bi[i];                                    \
  return
#define ST_FLT(T, CONV)                                                                            \
  if (k == K_F64)                                                                                  \
    for (int i = 0; i < n; i++) ((T *)dst)[off + i] = CONV(bd[i]);                                 \
  else if (k == K_U64)                                                                             \
    for (int i = 0; i < n; i++) ((T *)dst)[off + i] = CONV((double)bu[i]);                         \
  else                                                                                             \
    for (int i = 0; i < n; i++) ((T *)dst)[off + i] = CONV((double)bi[i]);                         \
  return
#define CV_F32(v) ((float)(v))
#define CV_F64(v) (v)
#define CV_F16(v) sn_f32_to_f16(sn_d2f_odd(v))
#define CV_BF16(v) sn_f32_to_bf16(sn_d2f_odd(v))
#define CV_F8(v) sn_f32_to_f8(dt, sn_d2f_odd(v), sat.sat)
#define CV_F4(v) sn_f32_to_f4e2m1(sn_d2f_odd(v))
#define CV_E8M0(v) sn_f32_to_e8m0(sn_d2f_odd(v), sat.sat, sat.round)
  switch (dt) {
    case SINTER_INT8: ST_INT(int8_t);
    case SINTER_INT16: ST_INT(int16_t);
    case SINTER_INT32: ST_INT(int32_t);
    case SINTER_INT64: ST_INT(int64_t);
    case SINTER_UINT8: ST_INT(uint8_t);
    case SINTER_UINT16: ST_INT(uint16_t);
    case SINTER_UINT32: ST_INT(uint32_t);
    case SINTER_UINT64:
      if (k == K_F64)
        for (int i = 0; i < n; i++) ((uint64_t *)dst)[off + i] = sn_d2u64(bd[i]);
      else
        for (int i = 0; i < n; i++) ((uint64_t *)dst)[off + i] = (uint64_t)bi[i];
      return;
    case SINTER_INT4:
      for (int i = 0; i < n; i++) ((int8_t *)dst)[off + i] = wrap_i4(k == K_F64 ? sn_d2i64(bd[i]) : bi[i]);
      return;
    case SINTER_UINT4:
      for (int i = 0; i < n; i++) ((uint8_t *)dst)[off + i] = wrap_u4(k == K_F64 ? sn_d2i64(bd[i]) : bi[i]);
      return;
    case SINTER_BOOL:
      if (k == K_F64)
        for (int i = 0; i < n; i++) ((uint8_t *)dst)[off + i] = bd[i] != 0;
      else
        for (int i = 0; i < n; i++) ((uint8_t *)dst)[off + i] = bi[i] != 0;
      return;
    case SINTER_FLOAT:
      if (k == K_U64) {
        for (int i = 0; i < n; i++) ((float *)dst)[off + i] = (float)bu[i];
        return;
      }
      if (k == K_I64) {
        for (int i = 0; i < n; i++) ((float *)dst)[off + i] = (float)bi[i];
        return;
      }
      ST_FLT(float, CV_F32);
    case SINTER_DOUBLE: ST_FLT(double, CV_F64);
    case SINTER_FLOAT16: ST_FLT(uint16_t, CV_F16);
    case SINTER_BFLOAT16: ST_FLT(uint16_t, CV_BF16);
    case SINTER_FLOAT8E4M3FN:
    case SINTER_FLOAT8E4M3FNUZ:
    case SINTER_FLOAT8E5M2:
    case SINTER_FLOAT8E5M2FNUZ: ST_FLT(uint8_t, CV_F8);
    case SINTER_FLOAT4E2M1: ST_FLT(uint8_t, CV_F4);
    case SINTER_FLOAT8E8M0: ST_FLT(uint8_t, CV_E8M0);
    default: return;
  }
#undef ST_INT
#undef ST_FLT
}

/* Direct loops for the most common pairs. */
static bool cast_fast(sn_dtype from, sn_dtype to, const void *src, void *dst, int64_t n) {
#define PAIR(F, T) (((int)(F) << 8) | (int)(T))
#define DIRECT(TI, TO, EXPR)                                                                       \
  do {                                                                                             \
    const TI *s_ = src;                                                                            \
    TO *d_ = dst;                                                                                  \
    for (int64_t i = 0; i < n; i++) {                                                              \
      const TI x = s_[i];                                                                          \
      d_[i] = (EXPR);                                                                              \
    }                                                                                              \
    return true;                                                                                   \
  } while (0)
  switch (PAIR(from, to)) {
    case PAIR(SINTER_FLOAT, SINTER_FLOAT16): DIRECT(float, uint16_t, sn_f32_to_f16(x));
    case PAIR(SINTER_FLOAT16, SINTER_FLOAT): DIRECT(uint16_t, float, sn_f16_to_f32(x));
    case PAIR(SINTER_FLOAT, SINTER_BFLOAT16): DIRECT(float, uint16_t, sn_f32_to_bf16(x));
    case PAIR(SINTER_BFLOAT16, SINTER_FLOAT): DIRECT(uint16_t, float, sn_bf16_to_f32(x));
    case PAIR(SINTER_FLOAT, SINTER_DOUBLE): DIRECT(float, double, (double)x);
    case PAIR(SINTER_DOUBLE, SINTER_FLOAT): DIRECT(double, float, (float)x);
    case PAIR(SINTER_INT64, SINTER_INT32): DIRECT(int64_t, int32_t, (int32_t)x);
    case PAIR(SINTER_INT32, SINTER_INT64): DIRECT(int32_t, int64_t, (int64_t)x);
    case PAIR(SINTER_INT64, SINTER_FLOAT): DIRECT(int64_t, float, (float)x);
    case PAIR(SINTER_INT32, SINTER_FLOAT): DIRECT(int32_t, float, (float)x);
    case PAIR(SINTER_UINT8, SINTER_FLOAT): DIRECT(uint8_t, float, (float)x);
    case PAIR(SINTER_BOOL, SINTER_FLOAT): DIRECT(uint8_t, float, x ? 1.0f : 0.0f);
    case PAIR(SINTER_FLOAT, SINTER_BOOL): DIRECT(float, uint8_t, (uint8_t)(x != 0));
    case PAIR(SINTER_BOOL, SINTER_INT64): DIRECT(uint8_t, int64_t, x ? 1 : 0);
    case PAIR(SINTER_BOOL, SINTER_INT32): DIRECT(uint8_t, int32_t, x ? 1 : 0);
    case PAIR(SINTER_INT64, SINTER_BOOL): DIRECT(int64_t, uint8_t, (uint8_t)(x != 0));
    case PAIR(SINTER_INT32, SINTER_BOOL): DIRECT(int32_t, uint8_t, (uint8_t)(x != 0));
    case PAIR(SINTER_FLOAT, SINTER_INT64): DIRECT(float, int64_t, sn_d2i64(x));
    case PAIR(SINTER_FLOAT, SINTER_INT32): DIRECT(float, int32_t, (int32_t)sn_d2i64(x));
    default: return false;
  }
#undef DIRECT
#undef PAIR
}

static void cast_numeric(sn_dtype from, sn_dtype to, const void *src, void *dst, int64_t n, cvt_mode sat) {
  if (cast_fast(from, to, src, dst, n)) return;
  kind k = kind_of(from);
  union {
    int64_t i[CHUNK];
    double d[CHUNK];
  } buf;
  for (int64_t off = 0; off < n; off += CHUNK) {
    int m = (int)(n - off < CHUNK ? n - off : CHUNK);
    load_chunk(from, src, off, m, k, &buf);
    store_chunk(to, dst, off, m, k, &buf, sat);
  }
}

/* ---- strings ------------------------------------------------------------------------------------ */

/* Value of v once rounded to dt and back (for the shortest-digits search). */
static double round_trip(sn_dtype dt, const char *s) {
  switch (dt) {
    case SINTER_FLOAT: return strtof(s, NULL);
    case SINTER_DOUBLE: return strtod(s, NULL);
    default: {
      double d = strtod(s, NULL);
      uint8_t b[2];
      sn_store_f64(dt, b, 0, (double)sn_d2f_odd(d));
      return sn_load_f64(dt, b, 0);
    }
  }
}

/* numpy's str() of a float: shortest round-trip digits, positional for 1e-4 <= |v| < 1e16,
 * else scientific with at least two exponent digits. */
static void format_float(sn_dtype dt, double v, char *out, size_t len) {
  if (isnan(v)) {
    snprintf(out, len, "nan");
    return;
  }
  if (isinf(v)) {
    snprintf(out, len, v < 0 ? "-inf" : "inf");
    return;
  }
  if (v == 0) {
    snprintf(out, len, signbit(v) ? "-0.0" : "0.0");
    return;
  }
  char tmp[64];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
    if (round_trip(dt, tmp) == v) break;
  }
  /* split "-d.ddde+XX" into sign, digits and exponent */
  const char *s = tmp;
  bool neg = *s == '-';
  if (neg) s++;
  char digits[32];
  int nd = 0;
  for (; *s && *s != 'e'; s++)
    if (isdigit((unsigned char)*s) && nd < 31) digits[nd++] = *s;
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  digits[nd] = 0;
  int e = *s == 'e' ? atoi(s + 1) : 0;
  double a = fabs(v);
  char body[64];
  size_t k = 0;
  if (a >= 1e-4 && a < 1e16) {
    if (e >= 0) {
      for (int i = 0; i <= e; i++) body[k++] = i < nd ? digits[i] : '0';
      body[k++] = '.';
      if (nd > e + 1)
        for (int i = e + 1; i < nd; i++) body[k++] = digits[i];
      else
        body[k++] = '0';
    } else {
      body[k++] = '0';
      body[k++] = '.';
      for (int i = 0; i < -e - 1; i++) body[k++] = '0';
      for (int i = 0; i < nd; i++) body[k++] = digits[i];
    }
    body[k] = 0;
  } else {
    body[k++] = digits[0];
    if (nd > 1) {
      body[k++] = '.';
      for (int i = 1; i < nd; i++) body[k++] = digits[i];
    }
    snprintf(body + k, sizeof body - k, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
  }
  snprintf(out, len, "%s%s", neg ? "-" : "", body);
}

static sn_error *to_strings(const sn_node *n, sn_dtype from, const void *src, char **dst, int64_t cnt) {
  char buf[96];
  for (int64_t i = 0; i < cnt; i++) {
    if (from == SINTER_BOOL)
      snprintf(buf, sizeof buf, "%s", ((const uint8_t *)src)[i] ? "True" : "False");
    else if (from == SINTER_UINT64)
      snprintf(buf, sizeof buf, "%llu", (unsigned long long)((const uint64_t *)src)[i]);
    else if (sn_dt(from)->is_int)
      snprintf(buf, sizeof buf, "%lld", (long long)sn_load_i64(from, src, i));
    else if (sn_dt(from)->is_float)
      format_float(from, sn_load_f64(from, src, i), buf, sizeof buf);
    else
      return sn_ew_errorf(n, SINTER_ERR_NOT_IMPLEMENTED, "Cast from %s to string is not supported", sn_dtype_name(from));
    dst[i] = sn_strdup(buf);
    if (!dst[i]) return SN_ERR_OOM();
  }
  return NULL;
}

static bool only_space(const char *s) {
  while (*s && isspace((unsigned char)*s)) s++;
  return *s == 0;
}

static sn_error *bad_string(const sn_node *n, const char *s, sn_dtype to) {
  return sn_ew_errorf(n, SINTER_ERR_RUNTIME, "cannot convert string '%.64s' to %s", s, sn_dtype_name(to));
}

static sn_error *from_strings(const sn_node *n, char *const *src, sn_dtype to, void *dst, int64_t cnt, cvt_mode sat) {
  for (int64_t i = 0; i < cnt; i++) {
    const char *s = src[i] ? src[i] : "";
    char *end;
    if (to == SINTER_BOOL) {
      const char *t = s;
      while (isspace((unsigned char)*t)) t++;
      if (!strncasecmp(t, "true", 4) && only_space(t + 4)) {
        ((uint8_t *)dst)[i] = 1;
        continue;
      }
      if (!strncasecmp(t, "false", 5) && only_space(t + 5)) {
        ((uint8_t *)dst)[i] = 0;
        continue;
      }
    }
    if (sn_dt(to)->is_int || to == SINTER_BOOL) {
      errno = 0;
      if (to == SINTER_UINT64) {
        const char *t = s;
        while (isspace((unsigned char)*t)) t++;
        if (*t != '-') {
          unsigned long long u = strtoull(s, &end, 10);
          if (end != s && only_space(end) && errno == 0) {
            ((uint64_t *)dst)[i] = u;
            continue;
          }
        }
      }
      errno = 0;
      long long v = strtoll(s, &end, 10);
      if (end != s && only_space(end) && errno == 0) {
        int64_t x = v;
        store_chunk(to, dst, i, 1, K_I64, &x, sat);
        continue;
      }
    }
    double d = strtod(s, &end);
    if (end == s || !only_space(end)) return bad_string(n, s, to);
    if (to == SINTER_FLOAT) {
      ((float *)dst)[i] = strtof(s, NULL);
      continue;
    }
    store_chunk(to, dst, i, 1, K_F64, &d, sat);
  }
  return NULL;
}

/* ---- compute ------------------------------------------------------------------------------------ */

static sn_error *cast_any(const sn_node *n, const sn_tensor *x, sn_dtype to, cvt_mode sat, sn_tensor *out) {
  sn_dtype from = x->dtype;
  int64_t cnt = x->count;
  if (!castable(from))
    return sn_ew_errorf(n, SINTER_ERR_NOT_IMPLEMENTED, "Cast from %s is not supported", sn_dtype_name(from));
  if (from == to) {
    if (to == SINTER_STRING) {
      char *const *s = x->data;
      char **d = out->data;
      for (int64_t i = 0; i < cnt; i++) {
        d[i] = sn_strdup(s[i] ? s[i] : "");
        if (!d[i]) return SN_ERR_OOM();
      }
    } else if (out->data != x->data && x->nbytes) {
      memcpy(out->data, x->data, x->nbytes);
    }
    return NULL;
  }
  if (from == SINTER_STRING) return from_strings(n, x->data, to, out->data, cnt, sat);
  if (to == SINTER_STRING) return to_strings(n, from, x->data, out->data, cnt);
  cast_numeric(from, to, x->data, out->data, cnt, sat);
  return NULL;
}

static sn_error *compute_cast(const sn_node *n, const void *pp, int n_in, const sn_tensor *const *in, sn_ew_out *o) {
  cast_params tmp;
  const cast_params *p = pp;
  if (!p) {
    SN_TRY(parse(n, &tmp));
    p = &tmp;
  }
  if (n_in < 1 || !in[0]) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "input 0 is missing");
  sn_dtype to = p->to;
  if (p->like) {
    if (n_in < 2 || !in[1]) return sn_ew_errorf(n, SINTER_ERR_INVALID_MODEL, "input 1 (target_type) is missing");
    to = in[1]->dtype;
    if (!castable(to))
      return sn_ew_errorf(n, SINTER_ERR_NOT_IMPLEMENTED, "Cast to %s is not supported", sn_dtype_name(to));
  }
  const sn_tensor *x = in[0];
  if (x->kind != SN_KIND_TENSOR) return sn_ew_errorf(n, SINTER_ERR_INVALID_GRAPH, "input is not a tensor");
  sn_tensor *out;
  /* the output may share memory with the input only when the element sizes agree */
  SN_TRY(sn_ew_output(o, to, x->rank, x->dims, &out));
  if (out->data == x->data && x->dtype != to && sn_dtype_size(x->dtype) != sn_dtype_size(to))
    return sn_ew_errorf(n, SINTER_ERR_RUNTIME, "internal: output aliases the input");
  if (n->opset < 19 && x->dtype == SINTER_FLOAT && to == SINTER_BFLOAT16) {
    /* Cast and CastLike before opset 19 narrowed float to bfloat16 by truncation, as the reference
     * of their time did (ONNX 1.12's test data expects it); from opset 19 on it rounds to nearest
     * even. NaN stays NaN. */
    const uint32_t *s = x->data;
    uint16_t *d = out->data;
    for (int64_t i = 0; i < x->count; i++) {
      uint32_t u = s[i];
      d[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40 : u >> 16);
    }
    return NULL;
  }
  if (out->data == x->data && x->dtype != to) {
    /* same element size in place: go through scratch */
    void *t = sn_ew_scratch(o, x->nbytes);
    if (!t) return SN_ERR_OOM();
    memcpy(t, x->data, x->nbytes);
    sn_tensor view = *x;
    view.data = t;
    return cast_any(n, &view, to, (cvt_mode){p->saturate, p->round_mode}, out);
  }
  return cast_any(n, x, to, (cvt_mode){p->saturate, p->round_mode}, out);
}

static sn_error *run_cast(sn_kernel_ctx *c) { return sn_ew_run(c, c->params, compute_cast); }

static sn_error *infer_cast(sn_infer_ctx *c) {
  cast_params p;
  SN_TRY(parse(c->node, &p));
  const sn_type *x = c->in[0];
  if (!x) return sn_infer_error(c, "input 0 is missing");
  sn_dtype to = p.to;
  if (p.like) {
    if (c->n_in < 2 || !c->in[1]) return sn_infer_error(c, "input 1 (target_type) is missing");
    to = c->in[1]->dtype;
  }
  if (x->dtype && !castable(x->dtype)) {
    char b[128];
    return sn_infer_error(c, "cannot cast from %s", sn_type_str(x, b, sizeof b));
  }
  sn_ew_type_like(c->out[0], x, to);
  if (!to) return NULL;
  return sn_ew_fold(c, &p, compute_cast);
}

const sn_op sn_ops_cast[] = {
    /* 1-5: `to` is a type name string; 6+: a TensorProto data type; 19+: saturate (float8);
     * 21+: int4/uint4; 23+: float4e2m1; 24+: float8e8m0 with round_mode */
    {"", "Cast", 1, 5, infer_cast, run_cast, prepare, free_params, 0},
    {"", "Cast", 6, 0, infer_cast, run_cast, prepare, free_params, 0},
    {"", "CastLike", 15, 0, infer_cast, run_cast, prepare, free_params, 0},
    {0},
};
