/* AVX-512 grouped 2-D convolution: 16 output columns per register, body in gconv_simd.h. */
#include <immintrin.h>

#define GV 16
#define GVEC __m512
#define G_SET1(f) _mm512_set1_ps(f)
#define G_LOADU(p) _mm512_loadu_ps(p)
#define G_STOREU(p, v) _mm512_storeu_ps(p, v)
#define G_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define G_STORE_N(p, v, n) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1u), v)
/* mb x nv accumulators + nv inputs + a weight within 32 registers */
#define G_NV(mb) ((mb) <= 4 ? 6 : 3)
#define G_NAME sn_gconv_f32_avx512

#include "kernels/x86/gconv_simd.h"
