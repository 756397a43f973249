/* Elementwise kernels of the quantized ops (ops/qlinear_ms.c): QLinearMul's requantized product and
 * QLinearLookup's 256-entry table, dispatched by ISA with results identical at every level. */
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

#endif
