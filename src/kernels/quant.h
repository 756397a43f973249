/* Per-tensor 8-bit quantize / dequantize of float32 runs (the QuantizeLinear, DequantizeLinear and
 * DynamicQuantizeLinear hot loops), vectorized for AVX-512 and identical to the portable loops:
 *   quantize:   y = clamp(rint(x / scale) + zp, lo, hi)  (NaN -> lo), float32 steps
 *   dequantize: y = (float)(x - zp) * scale
 *   min/max:    the smallest and largest of x together with 0 (DynamicQuantizeLinear's range). */
#ifndef SN_KERNELS_QUANT_H
#define SN_KERNELS_QUANT_H

#include <stdbool.h>
#include <stdint.h>

void sn_quantize_f32(const float *x, int64_t n, float scale, float zp, bool is_signed, void *y);
void sn_dequantize_f32(const void *x, int64_t n, bool is_signed, int32_t zp, float scale, float *y);
void sn_minmax0_f32(const float *x, int64_t n, float *mn, float *mx);

/* QLinearAdd's loop (ONNX Runtime's formula): y = clamp(rint(fma(a, rac, fma(b, rbc, fixed)))), a and b
 * 8-bit of y's signedness, advancing by astep/bstep (1, or 0 for a broadcast value). */
void sn_qlinear_add(const void *a, int astep, const void *b, int bstep, int64_t n, float rac, float rbc, float fixed,
                    bool is_signed, void *y);

/* One row of an INT8 GEMM's int32 sums back to float with both zero points compensated, per column
 * (DynamicQuantizeLSTM's recurrent projection, each row quantized with its own range):
 *   y[n] = (float)(acc[n] - za colsum[n] - rs zb[n] + K za zb[n]) * (sa * scale[n])
 * int32 arithmetic (wrapping), then float32 steps in that order. */
void sn_dequant_i32_cols(const int32_t *acc, int64_t n, int32_t za, int32_t rs, int32_t K, const int32_t *colsum,
                         const int32_t *zb, float sa, const float *scale, float *y);

/* implementations */
void sn_dequant_i32_cols_ref(const int32_t *acc, int64_t n, int32_t za, int32_t rs, int32_t K, const int32_t *colsum,
                             const int32_t *zb, float sa, const float *scale, float *y);
void sn_dequant_i32_cols_avx512(const int32_t *acc, int64_t n, int32_t za, int32_t rs, int32_t K,
                                const int32_t *colsum, const int32_t *zb, float sa, const float *scale, float *y);
void sn_qlinear_add_ref(const void *a, int astep, const void *b, int bstep, int64_t n, float rac, float rbc,
                        float fixed, bool is_signed, void *y);
void sn_qlinear_add_avx512(const void *a, int astep, const void *b, int bstep, int64_t n, float rac, float rbc,
                           float fixed, bool is_signed, void *y);
void sn_quantize_f32_ref(const float *x, int64_t n, float scale, float zp, bool is_signed, void *y);
void sn_dequantize_f32_ref(const void *x, int64_t n, bool is_signed, int32_t zp, float scale, float *y);
void sn_minmax0_f32_ref(const float *x, int64_t n, float *mn, float *mx);
void sn_quantize_f32_avx512(const float *x, int64_t n, float scale, float zp, bool is_signed, void *y);
void sn_dequantize_f32_avx512(const void *x, int64_t n, bool is_signed, int32_t zp, float scale, float *y);
void sn_minmax0_f32_avx512(const float *x, int64_t n, float *mn, float *mx);

#endif
