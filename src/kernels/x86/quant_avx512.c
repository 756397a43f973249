/* AVX-512 quantize / dequantize / range loops, bit-identical to the portable ones (quant.h). */
#include <immintrin.h>

#include "kernels/quant.h"

static inline __mmask16 mask_of(int64_t left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); }

void sn_quantize_f32_avx512(const float *x, int64_t n, float scale, float zp, bool is_signed, void *y) {
  const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps(zp);
  const __m512 lo = _mm512_set1_ps(is_signed ? -128.0f : 0.0f), hi = _mm512_set1_ps(is_signed ? 127.0f : 255.0f);
  int64_t i = 0;
  /* whole vectors: the bytes narrowed in a register and stored plainly (vpmovdb's own store form cost
   * about as much as the rest of the loop) */
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_div_ps(_mm512_loadu_ps(x + i), s);
    v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z);
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi); /* max(NaN, lo) = lo, as the portable loop */
    __m128i b = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v));
    __asm__("" : "+v"(b)); /* (keeps GCC from folding the narrowing into its store form) */
    _mm_storeu_si128((__m128i *)(void *)((uint8_t *)y + i), b);
  }
  if (i < n) {
    __mmask16 k = mask_of(n - i);
    __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(k, x + i), s);
    v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z);
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
    _mm_mask_storeu_epi8((uint8_t *)y + i, k, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
  }
}

void sn_dequantize_f32_avx512(const void *x, int64_t n, bool is_signed, int32_t zp, float scale, float *y) {
  const __m512 s = _mm512_set1_ps(scale);
  const __m512i z = _mm512_set1_epi32(zp);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 k = mask_of(n - i);
    __m128i b = _mm_maskz_loadu_epi8(k, (const uint8_t *)x + i);
    __m512i v = is_signed ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
    _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, z)), s));
  }
}

void sn_minmax0_f32_avx512(const float *x, int64_t n, float *mn, float *mx) {
  /* four chains of each: one chain waited on the latency of every min and max (a dynamically
   * quantized 128 x 1024 activation: 4.7 us a call, ~1.2 us with four) */
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  int64_t i = 0;
  /* NaN compares false in the portable loop and is skipped: min/max(a, v) keep a when v is NaN */
  for (; i + 64 <= n; i += 64) {
    __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
    __m512 v2 = _mm512_loadu_ps(x + i + 32), v3 = _mm512_loadu_ps(x + i + 48);
    a0 = _mm512_min_ps(v0, a0), b0 = _mm512_max_ps(v0, b0);
    a1 = _mm512_min_ps(v1, a1), b1 = _mm512_max_ps(v1, b1);
    a2 = _mm512_min_ps(v2, a2), b2 = _mm512_max_ps(v2, b2);
    a3 = _mm512_min_ps(v3, a3), b3 = _mm512_max_ps(v3, b3);
  }
  for (; i < n; i += 16) {
    __mmask16 k = mask_of(n - i);
    __m512 v = _mm512_maskz_loadu_ps(k, x + i);
    a0 = _mm512_min_ps(v, a0);
    b0 = _mm512_max_ps(v, b0);
  }
  *mn = _mm512_reduce_min_ps(_mm512_min_ps(_mm512_min_ps(a0, a1), _mm512_min_ps(a2, a3)));
  *mx = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(b0, b1), _mm512_max_ps(b2, b3)));
}

static inline __m512 load8(const void *p, int step, __mmask16 k, bool is_signed) {
  __m128i b = step ? _mm_maskz_loadu_epi8(k, p) : _mm_set1_epi8(*(const char *)p);
  return _mm512_cvtepi32_ps(is_signed ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b));
}

void sn_qlinear_add_avx512(const void *a, int astep, const void *b, int bstep, int64_t n, float rac, float rbc,
                           float fixed, bool is_signed, void *y) {
  const __m512 ra = _mm512_set1_ps(rac), rb = _mm512_set1_ps(rbc), f = _mm512_set1_ps(fixed);
  const __m512 lo = _mm512_set1_ps(is_signed ? -128.0f : 0.0f), hi = _mm512_set1_ps(is_signed ? 127.0f : 255.0f);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 k = mask_of(n - i);
    __m512 va = load8((const uint8_t *)a + i * astep, astep, k, is_signed);
    __m512 vb = load8((const uint8_t *)b + i * bstep, bstep, k, is_signed);
    __m512 v = _mm512_fmadd_ps(va, ra, _mm512_fmadd_ps(vb, rb, f));
    v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
    _mm_mask_storeu_epi8((uint8_t *)y + i, k, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
  }
}

void sn_dequant_i32_cols_avx512(const int32_t *acc, int64_t n, int32_t za, int32_t rs, int32_t K,
                                const int32_t *colsum, const int32_t *zb, float sa, const float *scale, float *y) {
  const __m512i vza = _mm512_set1_epi32(za), vrs = _mm512_set1_epi32(rs);
  const __m512i vkza = _mm512_set1_epi32((int32_t)((uint32_t)K * (uint32_t)za));
  const __m512 vsa = _mm512_set1_ps(sa);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 k = mask_of(n - i);
    __m512i z = _mm512_maskz_loadu_epi32(k, zb + i);
    __m512i t = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(k, acc + i), _mm512_mullo_epi32(vza, _mm512_maskz_loadu_epi32(k, colsum + i)));
    t = _mm512_add_epi32(_mm512_sub_epi32(t, _mm512_mullo_epi32(vrs, z)), _mm512_mullo_epi32(vkza, z));
    __m512 s = _mm512_mul_ps(vsa, _mm512_maskz_loadu_ps(k, scale + i));
    _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(_mm512_cvtepi32_ps(t), s));
  }
}
