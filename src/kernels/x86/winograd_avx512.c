/* Winograd F(4x4, 3x3) transforms in AVX-512 (block 16); see kernels/winograd.h and winograd_simd.h. */
#include <immintrin.h>

#define WG_V 16
#define WG_VEC __m512
#define WG_LOAD(p) _mm512_loadu_ps(p)
#define WG_STORE(p, v) _mm512_storeu_ps(p, v)
#define WG_SET1(f) _mm512_set1_ps(f)
#define WG_ZERO() _mm512_setzero_ps()
#define WG_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define WG_ADD(a, b) _mm512_add_ps(a, b)
#define WG_SUB(a, b) _mm512_sub_ps(a, b)
#define WG_MUL(a, b) _mm512_mul_ps(a, b)
#define WG_MAX(a, b) _mm512_max_ps(a, b)
#define WG_MIN(a, b) _mm512_min_ps(a, b)
#define WG_IN sn_wino_input_f32_avx512
#define WG_OUT sn_wino_output_f32_avx512

#include "kernels/x86/winograd_simd.h"
