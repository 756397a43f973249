/* Winograd F(4x4, 3x3) transforms in AVX2+FMA (block 8); see kernels/winograd.h and winograd_simd.h. */
#include <immintrin.h>

#define WG_V 8
#define WG_VEC __m256
#define WG_LOAD(p) _mm256_loadu_ps(p)
#define WG_STORE(p, v) _mm256_storeu_ps(p, v)
#define WG_SET1(f) _mm256_set1_ps(f)
#define WG_ZERO() _mm256_setzero_ps()
#define WG_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define WG_ADD(a, b) _mm256_add_ps(a, b)
#define WG_SUB(a, b) _mm256_sub_ps(a, b)
#define WG_MUL(a, b) _mm256_mul_ps(a, b)
#define WG_MAX(a, b) _mm256_max_ps(a, b)
#define WG_MIN(a, b) _mm256_min_ps(a, b)
#define WG_IN sn_wino_input_f32_avx2
#define WG_OUT sn_wino_output_f32_avx2

#include "kernels/x86/winograd_simd.h"
