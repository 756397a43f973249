/* AVX2+FMA row-wise (skip-)layer normalization, 8 lanes; body in layernorm_simd.h. */
#include <immintrin.h>

#include "kernels/layernorm.h"

static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

#define VF __m256
#define W 8
#define LD _mm256_loadu_ps
#define ST _mm256_storeu_ps
#define ADD _mm256_add_ps
#define SUB _mm256_sub_ps
#define MUL _mm256_mul_ps
#define FMA _mm256_fmadd_ps
#define SET1 _mm256_set1_ps
#define ZERO _mm256_setzero_ps
#define HSUM hsum8
#include "kernels/x86/layernorm_simd.h"

void sn_layernorm_avx2(const sn_ln_rows *a) { ln_body(a); }
