/* QLinearMul's requantized product with AVX-512 (see kernels/qelem.h): 16 elements per step, the
 * reference's float32 steps in vectors (bit-identical). */
#include <immintrin.h>

#include "kernels/qelem.h"

static inline __m512i ld16(const uint8_t *p, int step, __mmask16 k, bool s8) {
  if (!step) return _mm512_set1_epi32(s8 ? (int32_t)(int8_t)p[0] : (int32_t)p[0]);
  __m128i v = _mm_maskz_loadu_epi8(k, p);
  return s8 ? _mm512_cvtepi8_epi32(v) : _mm512_cvtepu8_epi32(v);
}

void sn_qlinear_mul_avx512(const uint8_t *a, int astep, const uint8_t *b, int bstep, int64_t n, int32_t az, int32_t bz,
                           float rm, float cz, bool is_signed, uint8_t *y) {
  const __m512i za = _mm512_set1_epi32(az), zb = _mm512_set1_epi32(bz);
  const __m512 m = _mm512_set1_ps(rm), z = _mm512_set1_ps(cz);
  const __m512 lo = _mm512_set1_ps(is_signed ? -128.0f : 0.0f), hi = _mm512_set1_ps(is_signed ? 127.0f : 255.0f);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
    __m512i va = _mm512_sub_epi32(ld16(a + i * astep, astep, k, is_signed), za);
    __m512i vb = _mm512_sub_epi32(ld16(b + i * bstep, bstep, k, is_signed), zb);
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_mullo_epi32(va, vb)), m);
    v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, z), lo), hi);
    _mm_mask_storeu_epi8(y + i, k, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
  }
}
