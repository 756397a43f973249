/* Elementwise kernels of the quantized ops (ops/qlinear_ms.c): QLinearMul's requantized product,
 * QLinearLookup's 256-entry table and one output row of 8-bit MaxPool (ops/pool.c), dispatched by
 * ISA with results identical at every level. */
#ifndef SN_QELEM_H
#define SN_QELEM_H

#include <stdbool.h>
#include <stdint.h>

/* y[i] = sat(rint((float)((a[i * astep] - az) * (b[i * bstep] - bz)) * rm) + cz), float32 steps in
 * that order; a, b and y all s8 (is_signed) or all u8; astep and bstep are 0 or 1. */
void sn_qlinear_mul(const uint8_t *a, int astep, const uint8_t *b, int bstep, int64_t n, int32_t az, int32_t bz, float rm,
                    float cz, bool is_signed, uint8_t *y);
void sn_qlinear_mul_ref(const uint8_t *a, int astep, const uint8_t *b, int bstep, int64_t n, int32_t az, int32_t bz,
                        float rm, float cz, bool is_signed, uint8_t *y);
void sn_qlinear_mul_avx512(const uint8_t *a, int astep, const uint8_t *b, int bstep, int64_t n, int32_t az, int32_t bz,
                           float rm, float cz, bool is_signed, uint8_t *y);

/* y[i] = table[x[i]] (AVX512-VBMI: 64 bytes per four byte permutes, where the CPU has it and the ISA
 * cap is avx512) */
void sn_qlut(const uint8_t *x, int64_t n, const uint8_t table[256], uint8_t *y);
void sn_qlut_ref(const uint8_t *x, int64_t n, const uint8_t table[256], uint8_t *y);
void sn_qlut_avx512vbmi(const uint8_t *x, int64_t n, const uint8_t table[256], uint8_t *y);

/* One output row of an 8-bit MaxPool (2-D windows, the row's valid input rows given):
 *   v[j] = max over r of (rows[r][j] ^ flip) for j in [j0, j1), 0 elsewhere in [0, wv) (the padding)
 *   out[i] = max over kw < KW of v[i * sw + kw * dw], ^ flip, for i < ow
 * flip 0x80 orders s8 values as u8 (so 0 is the lowest value); rows[r] is indexed like v (the input
 * row shifted by the left padding); wv = (ow - 1) * sw + (KW - 1) * dw + 1; v: wv bytes of scratch. */
void sn_q8_maxpool_row(const uint8_t *const *rows, int nrows, int64_t j0, int64_t j1, int64_t wv, int64_t KW, int64_t dw,
                       int64_t sw, int64_t ow, uint8_t flip, uint8_t *v, uint8_t *out);
void sn_q8_maxpool_row_ref(const uint8_t *const *rows, int nrows, int64_t j0, int64_t j1, int64_t wv, int64_t KW,
                           int64_t dw, int64_t sw, int64_t ow, uint8_t flip, uint8_t *v, uint8_t *out);
void sn_q8_maxpool_row_avx512(const uint8_t *const *rows, int nrows, int64_t j0, int64_t j1, int64_t wv, int64_t KW,
                              int64_t dw, int64_t sw, int64_t ow, uint8_t flip, uint8_t *v, uint8_t *out);

#endif
