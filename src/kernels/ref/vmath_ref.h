/* Vectorizable float32 math over arrays (plain C the compiler turns into SIMD): exp. */
#ifndef SN_VMATH_REF_H
#define SN_VMATH_REF_H

#include <stdint.h>

/* y[i] = exp(x[i] - shift), within 2 ulp of expf; returns the sum of the results (float32,
 * accumulated in 8 lanes). x and y may be the same array. */
float sn_vexp_shift_sum_f32(const float *x, float *y, int64_t n, float shift);
/* sum of exp(x[i] - shift) without storing */
float sn_vexp_shift_sumonly_f32(const float *x, int64_t n, float shift);

#endif
