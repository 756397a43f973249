#include "core/dtype.h"

#include <math.h>
#include <string.h>

#define F true
#define N false
const sn_dtype_info sn_dtype_table[SINTER_DTYPE_COUNT] = {
    [SINTER_UNDEFINED] = {"undefined", "undefined", 0, N, N, N},
    [SINTER_FLOAT] = {"float32", "float", 4, F, N, F},
    [SINTER_UINT8] = {"uint8", "uint8", 1, N, F, N},
    [SINTER_INT8] = {"int8", "int8", 1, N, F, F},
    [SINTER_UINT16] = {"uint16", "uint16", 2, N, F, N},
    [SINTER_INT16] = {"int16", "int16", 2, N, F, F},
    [SINTER_INT32] = {"int32", "int32", 4, N, F, F},
    [SINTER_INT64] = {"int64", "int64", 8, N, F, F},
    [SINTER_STRING] = {"string", "string", sizeof(char *), N, N, N},
    [SINTER_BOOL] = {"bool", "bool", 1, N, N, N},
    [SINTER_FLOAT16] = {"float16", "float16", 2, F, N, F},
    [SINTER_DOUBLE] = {"float64", "double", 8, F, N, F},
    [SINTER_UINT32] = {"uint32", "uint32", 4, N, F, N},
    [SINTER_UINT64] = {"uint64", "uint64", 8, N, F, N},
    [SINTER_COMPLEX64] = {"complex64", "complex64", 8, N, N, F},
    [SINTER_COMPLEX128] = {"complex128", "complex128", 16, N, N, F},
    [SINTER_BFLOAT16] = {"bfloat16", "bfloat16", 2, F, N, F},
    [SINTER_FLOAT8E4M3FN] = {"float8e4m3fn", "float8e4m3fn", 1, F, N, F},
    [SINTER_FLOAT8E4M3FNUZ] = {"float8e4m3fnuz", "float8e4m3fnuz", 1, F, N, F},
    [SINTER_FLOAT8E5M2] = {"float8e5m2", "float8e5m2", 1, F, N, F},
    [SINTER_FLOAT8E5M2FNUZ] = {"float8e5m2fnuz", "float8e5m2fnuz", 1, F, N, F},
    [SINTER_UINT4] = {"uint4", "uint4", 1, N, F, N},
    [SINTER_INT4] = {"int4", "int4", 1, N, F, F},
    [SINTER_FLOAT4E2M1] = {"float4e2m1", "float4e2m1", 1, F, N, F},
    [SINTER_FLOAT8E8M0] = {"float8e8m0", "float8e8m0", 1, F, N, N},
};
#undef F
#undef N

const char *sinter_dtype_name(sinter_dtype dt) { return sn_dtype_name(dt); }
size_t sinter_dtype_size(sinter_dtype dt) { return sn_dtype_size(dt); }

static inline uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static inline float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

float sn_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0) {
    /* zero or subnormal: man * 2^-24 */
    float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (exp == 31) return u2f(sign | 0x7f800000u | (man << 13));
  return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t sn_f32_to_f16(float f) {
  uint32_t u = f2u(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
  uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0));
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
  if (a < 0x38800000u) {
    /* result is subnormal or zero: round a * 2^24 to nearest even integer */
    float v = u2f(a) * 16777216.0f;
    return (uint16_t)(sign | (uint16_t)nearbyintf(v));
  }
  uint32_t r = a + 0xfffu + ((a >> 13) & 1u); /* round to nearest even on bit 13 */
  return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float sn_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t sn_f32_to_bf16(float f) {
  uint32_t u = f2u(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

/* float8 formats: exponent bits, mantissa bits, bias, and which codes are special. */
typedef struct {
  int ebits, mbits, bias;
  bool has_inf; /* E5M2 only */
  bool uz;      /* FNUZ: 0x80 is the only NaN, no negative zero */
} f8fmt;

static f8fmt f8_format(sn_dtype dt) {
  switch (dt) {
    case SINTER_FLOAT8E4M3FN: return (f8fmt){4, 3, 7, false, false};
    case SINTER_FLOAT8E4M3FNUZ: return (f8fmt){4, 3, 8, false, true};
    case SINTER_FLOAT8E5M2: return (f8fmt){5, 2, 15, true, false};
    default: return (f8fmt){5, 2, 16, false, true}; /* E5M2FNUZ */
  }
}

static bool f8_is_nan(f8fmt f, uint8_t v) {
  if (f.uz) return v == 0x80;
  if (f.has_inf) return ((v >> 2) & 0x1f) == 0x1f && (v & 3);
  return (v & 0x7f) == 0x7f; /* E4M3FN */
}

float sn_f8_to_f32(sn_dtype dt, uint8_t v) {
  f8fmt f = f8_format(dt);
  if (f8_is_nan(f, v)) return NAN;
  int sign = v >> 7;
  int e = (v >> f.mbits) & ((1 << f.ebits) - 1);
  int m = v & ((1 << f.mbits) - 1);
  if (f.has_inf && e == (1 << f.ebits) - 1) return sign ? -INFINITY : INFINITY;
  float r;
  if (e == 0)
    r = ldexpf((float)m, 1 - f.bias - f.mbits);
  else
    r = ldexpf((float)((1 << f.mbits) | m), e - f.bias - f.mbits);
  return sign ? -r : r;
}

uint8_t sn_f32_to_f8(sn_dtype dt, float x, bool saturate) {
  f8fmt f = f8_format(dt);
  int neg = signbit(x) ? 1 : 0;
  /* NaN codes as ml_dtypes (the onnx reference) writes them: FNUZ 0x80; E5M2 and E4M3FN keep the sign */
  uint8_t nan = f.uz ? 0x80 : (uint8_t)((f.has_inf ? 0x7e : 0x7f) | (neg << 7));
  if (isnan(x)) return nan;
  float a = fabsf(x);
  /* largest finite magnitude code */
  uint8_t maxc = f.has_inf ? 0x7b : (f.uz ? 0x7f : 0x7e);
  float maxv = sn_f8_to_f32(dt, maxc);
  if (isinf(a)) {
    if (saturate) return (uint8_t)(maxc | (neg << 7));
    if (f.has_inf) return (uint8_t)(0x7c | (neg << 7));
    return nan;
  }
  /* nearest positive code, ties to even mantissa */
  uint8_t best = 0;
  float bestd = INFINITY;
  for (int c = 0; c <= maxc; c++) {
    float v = sn_f8_to_f32(dt, (uint8_t)c);
    float d = fabsf(v - a);
    if (d < bestd || (d == bestd && (c & 1) == 0)) {
      bestd = d;
      best = (uint8_t)c;
    }
  }
  if (a > maxv) {
    /* beyond the largest finite value: rounding would go past it when a >= max + half ulp */
    float prev = sn_f8_to_f32(dt, (uint8_t)(maxc - 1));
    float half = (maxv - prev) / 2;
    /* the midpoint rounds to even: up (to inf/NaN) only when the max code's mantissa is odd */
    if (!saturate && (a > maxv + half || (a == maxv + half && (maxc & 1))))
      return f.has_inf ? (uint8_t)(0x7c | (neg << 7)) : nan;
    best = maxc;
  }
  if (best == 0 && f.uz) return 0; /* no negative zero */
  return (uint8_t)(best | (neg << 7));
}

static const float f4_values[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

float sn_f4e2m1_to_f32(uint8_t v) {
  float r = f4_values[v & 7];
  return (v & 8) ? -r : r;
}

uint8_t sn_f32_to_f4e2m1(float x) {
  /* no NaN in FP4: ml_dtypes (the onnx 1.19 reference data) writes 0x8 for NaN and 0x0 for -NaN */
  if (isnan(x)) return signbit(x) ? 0x0 : 0x8;
  int neg = signbit(x) ? 1 : 0;
  float a = fabsf(x);
  if (a > 6.0f) return (uint8_t)(0x7 | (neg << 3)); /* saturates (inf included) */
  int best = 0;
  float bestd = INFINITY;
  for (int c = 0; c < 8; c++) {
    float d = fabsf(f4_values[c] - a);
    if (d < bestd || (d == bestd && (c & 1) == 0)) {
      bestd = d;
      best = c;
    }
  }
  return (uint8_t)(best | (neg << 3));
}

float sn_e8m0_to_f32(uint8_t v) {
  if (v == 0xFF) return NAN;
  uint32_t u = v ? (uint32_t)v << 23 : 0x00400000u; /* 2^-127 is a float subnormal */
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

uint8_t sn_f32_to_e8m0(float f, bool saturate, int round_mode) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  uint32_t e = (u >> 23) & 0xFF, m = u & 0x7FFFFF;
  if (e == 0xFF) return 0xFF; /* NaN and infinities */
  bool up = false;
  if (round_mode == SN_E8M0_ROUND_UP)
    up = m != 0;
  else if (round_mode == SN_E8M0_ROUND_NEAREST) /* ties away from the exponent, except for subnormals */
    up = m > 0x400000u || (m == 0x400000u && e > 0);
  if (up && e == 0xFE && saturate) up = false;
  return (uint8_t)(e + (up ? 1 : 0));
}

double sn_load_f64(sn_dtype dt, const void *base, int64_t i) {
  switch (dt) {
    case SINTER_FLOAT: return ((const float *)base)[i];
    case SINTER_DOUBLE: return ((const double *)base)[i];
    case SINTER_FLOAT16: return sn_f16_to_f32(((const uint16_t *)base)[i]);
    case SINTER_BFLOAT16: return sn_bf16_to_f32(((const uint16_t *)base)[i]);
    case SINTER_FLOAT8E4M3FN:
    case SINTER_FLOAT8E4M3FNUZ:
    case SINTER_FLOAT8E5M2:
    case SINTER_FLOAT8E5M2FNUZ: return sn_f8_to_f32(dt, ((const uint8_t *)base)[i]);
    case SINTER_FLOAT4E2M1: return sn_f4e2m1_to_f32(((const uint8_t *)base)[i]);
    case SINTER_FLOAT8E8M0: return sn_e8m0_to_f32(((const uint8_t *)base)[i]);
    case SINTER_UINT64: return (double)((const uint64_t *)base)[i];
    case SINTER_COMPLEX64: return ((const float *)base)[2 * i]; /* the real part */
    case SINTER_COMPLEX128: return ((const double *)base)[2 * i];
    default:
      if (sn_dt(dt)->is_int || dt == SINTER_BOOL) return (double)sn_load_i64(dt, base, i);
      return 0; /* strings and undefined types have no numeric value */
  }
}

void sn_store_f64(sn_dtype dt, void *base, int64_t i, double v) {
  switch (dt) {
    case SINTER_FLOAT: ((float *)base)[i] = (float)v; return;
    case SINTER_DOUBLE: ((double *)base)[i] = v; return;
    case SINTER_FLOAT16: ((uint16_t *)base)[i] = sn_f32_to_f16((float)v); return;
    case SINTER_BFLOAT16: ((uint16_t *)base)[i] = sn_f32_to_bf16((float)v); return;
    case SINTER_FLOAT8E4M3FN:
    case SINTER_FLOAT8E4M3FNUZ:
    case SINTER_FLOAT8E5M2:
    case SINTER_FLOAT8E5M2FNUZ: ((uint8_t *)base)[i] = sn_f32_to_f8(dt, (float)v, true); return;
    case SINTER_FLOAT4E2M1: ((uint8_t *)base)[i] = sn_f32_to_f4e2m1((float)v); return;
    case SINTER_FLOAT8E8M0: ((uint8_t *)base)[i] = sn_f32_to_e8m0((float)v, true, SN_E8M0_ROUND_UP); return;
    case SINTER_BOOL: ((uint8_t *)base)[i] = v != 0; return;
    case SINTER_UINT64: ((uint64_t *)base)[i] = (uint64_t)v; return;
    case SINTER_COMPLEX64: ((float *)base)[2 * i] = (float)v; ((float *)base)[2 * i + 1] = 0; return;
    case SINTER_COMPLEX128: ((double *)base)[2 * i] = v; ((double *)base)[2 * i + 1] = 0; return;
    default:
      if (sn_dt(dt)->is_int) sn_store_i64(dt, base, i, v != v ? 0 : v >= 9.2233720368547758e18 ? INT64_MAX : v <= -9.2233720368547758e18 ? INT64_MIN : (int64_t)v);
      return; /* strings and undefined types: nothing to store */
  }
}

int64_t sn_load_i64(sn_dtype dt, const void *base, int64_t i) {
  switch (dt) {
    case SINTER_UINT8:
    case SINTER_UINT4:
    case SINTER_BOOL: return ((const uint8_t *)base)[i];
    case SINTER_INT8:
    case SINTER_INT4: return ((const int8_t *)base)[i];
    case SINTER_UINT16: return ((const uint16_t *)base)[i];
    case SINTER_INT16: return ((const int16_t *)base)[i];
    case SINTER_INT32: return ((const int32_t *)base)[i];
    case SINTER_INT64: return ((const int64_t *)base)[i];
    case SINTER_UINT32: return ((const uint32_t *)base)[i];
    case SINTER_UINT64: return (int64_t)((const uint64_t *)base)[i];
    default: {
      if (!sn_dt(dt)->is_float && dt != SINTER_COMPLEX64 && dt != SINTER_COMPLEX128) return 0;
      double v = sn_load_f64(dt, base, i);
      /* saturate instead of the undefined out-of-range conversion */
      if (!(v == v)) return 0;
      if (v >= 9.2233720368547758e18) return INT64_MAX;
      if (v <= -9.2233720368547758e18) return INT64_MIN;
      return (int64_t)v;
    }
  }
}

void sn_store_i64(sn_dtype dt, void *base, int64_t i, int64_t v) {
  switch (dt) {
    case SINTER_UINT8:
    case SINTER_UINT4: ((uint8_t *)base)[i] = (uint8_t)v; return;
    case SINTER_BOOL: ((uint8_t *)base)[i] = v != 0; return;
    case SINTER_INT8:
    case SINTER_INT4: ((int8_t *)base)[i] = (int8_t)v; return;
    case SINTER_UINT16: ((uint16_t *)base)[i] = (uint16_t)v; return;
    case SINTER_INT16: ((int16_t *)base)[i] = (int16_t)v; return;
    case SINTER_INT32: ((int32_t *)base)[i] = (int32_t)v; return;
    case SINTER_INT64: ((int64_t *)base)[i] = v; return;
    case SINTER_UINT32: ((uint32_t *)base)[i] = (uint32_t)v; return;
    case SINTER_UINT64: ((uint64_t *)base)[i] = (uint64_t)v; return;
    default:
      if (sn_dt(dt)->is_float || dt == SINTER_COMPLEX64 || dt == SINTER_COMPLEX128) sn_store_f64(dt, base, i, (double)v);
      return;
  }
}
