/* Quantize / dequantize dispatch and the portable loops (see quant.h). */
#include "kernels/quant.h"

#include <math.h>

#include "runtime/cpu.h"

void sn_quantize_f32_ref(const float *x, int64_t n, float scale, float zp, bool is_signed, void *y) {
  const float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
  for (int64_t i = 0; i < n; i++) {
    float v = rintf(x[i] / scale) + zp;
    v = v >= lo ? (v <= hi ? v : hi) : lo; /* NaN -> lo */
    if (is_signed)
      ((int8_t *)y)[i] = (int8_t)(int)v;
    else
      ((uint8_t *)y)[i] = (uint8_t)(int)v;
  }
}

void sn_dequantize_f32_ref(const void *x, int64_t n, bool is_signed, int32_t zp, float scale, float *y) {
  for (int64_t i = 0; i < n; i++) {
    int32_t v = is_signed ? ((const int8_t *)x)[i] : ((const uint8_t *)x)[i];
    y[i] = (float)(v - zp) * scale;
  }
}

void sn_minmax0_f32_ref(const float *x, int64_t n, float *mn, float *mx) {
  float a = 0.0f, b = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    if (x[i] < a) a = x[i];
    if (x[i] > b) b = x[i];
  }
  *mn = a, *mx = b;
}

void sn_quantize_f32(const float *x, int64_t n, float scale, float zp, bool is_signed, void *y) {
  if (sn_cpu_isa() >= SN_ISA_AVX512)
    sn_quantize_f32_avx512(x, n, scale, zp, is_signed, y);
  else
    sn_quantize_f32_ref(x, n, scale, zp, is_signed, y);
}

void sn_dequantize_f32(const void *x, int64_t n, bool is_signed, int32_t zp, float scale, float *y) {
  if (sn_cpu_isa() >= SN_ISA_AVX512)
    sn_dequantize_f32_avx512(x, n, is_signed, zp, scale, y);
  else
    sn_dequantize_f32_ref(x, n, is_signed, zp, scale, y);
}

void sn_minmax0_f32(const float *x, int64_t n, float *mn, float *mx) {
  if (sn_cpu_isa() >= SN_ISA_AVX512)
    sn_minmax0_f32_avx512(x, n, mn, mx);
  else
    sn_minmax0_f32_ref(x, n, mn, mx);
}

void sn_qlinear_add_ref(const void *a, int astep, const void *b, int bstep, int64_t n, float rac, float rbc,
                        float fixed, bool is_signed, void *y) {
  const float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
  for (int64_t i = 0; i < n; i++) {
    int64_t ia = i * astep, ib = i * bstep;
    float va = is_signed ? (float)((const int8_t *)a)[ia] : (float)((const uint8_t *)a)[ia];
    float vb = is_signed ? (float)((const int8_t *)b)[ib] : (float)((const uint8_t *)b)[ib];
    float v = rintf(fmaf(va, rac, fmaf(vb, rbc, fixed))); /* fused, as ONNX Runtime's MLAS */
    v = v >= lo ? (v <= hi ? v : hi) : lo;
    if (is_signed)
      ((int8_t *)y)[i] = (int8_t)(int)v;
    else
      ((uint8_t *)y)[i] = (uint8_t)(int)v;
  }
}

void sn_qlinear_add(const void *a, int astep, const void *b, int bstep, int64_t n, float rac, float rbc, float fixed,
                    bool is_signed, void *y) {
  if (sn_cpu_isa() >= SN_ISA_AVX512)
    sn_qlinear_add_avx512(a, astep, b, bstep, n, rac, rbc, fixed, is_signed, y);
  else
    sn_qlinear_add_ref(a, astep, b, bstep, n, rac, rbc, fixed, is_signed, y);
}

void sn_dequant_i32_cols_ref(const int32_t *acc, int64_t n, int32_t za, int32_t rs, int32_t K, const int32_t *colsum,
                             const int32_t *zb, float sa, const float *scale, float *y) {
  const uint32_t uza = (uint32_t)za, urs = (uint32_t)rs, ukza = (uint32_t)K * (uint32_t)za;
  for (int64_t i = 0; i < n; i++) {
    uint32_t t = (uint32_t)acc[i] - uza * (uint32_t)colsum[i] - urs * (uint32_t)zb[i] + ukza * (uint32_t)zb[i];
    y[i] = (float)(int32_t)t * (sa * scale[i]);
  }
}

void sn_dequant_i32_cols(const int32_t *acc, int64_t n, int32_t za, int32_t rs, int32_t K, const int32_t *colsum,
                         const int32_t *zb, float sa, const float *scale, float *y) {
  if (sn_cpu_isa() >= SN_ISA_AVX512)
    sn_dequant_i32_cols_avx512(acc, n, za, rs, K, colsum, zb, sa, scale, y);
  else
    sn_dequant_i32_cols_ref(acc, n, za, rs, K, colsum, zb, sa, scale, y);
}
