/* AVX2 grouped 2-D convolution: 8 output columns per register, body in gconv_simd.h. */
#include <immintrin.h>
#include <string.h>

#define GV 8
#define GVEC __m256
#define G_SET1(f) _mm256_set1_ps(f)
#define G_LOADU(p) _mm256_loadu_ps(p)
#define G_STOREU(p, v) _mm256_storeu_ps(p, v)
#define G_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
static inline void g_store_n(float *p, __m256 v, int64_t n) {
  float t[8];
  _mm256_storeu_ps(t, v);
  memcpy(p, t, sizeof(float) * (size_t)n);
}
#define G_STORE_N(p, v, n) g_store_n(p, v, n)
/* mb x nv accumulators + nv inputs + a weight within 16 registers */
#define G_NV(mb) ((mb) <= 2 ? 4 : (mb) <= 4 ? 2 : 1)
#define G_NAME sn_gconv_f32_avx2

#include "kernels/x86/gconv_simd.h"
