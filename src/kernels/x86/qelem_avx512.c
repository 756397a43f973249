/* QLinearMul's requantized product with AVX-512 (see kernels/qelem.h): 16 elements per step, the
 * reference's float32 steps in vectors (bit-identical); 8-bit MaxPool rows 64 bytes per step. */
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

static inline __mmask64 mask64(int64_t n) { return n >= 64 ? ~(__mmask64)0 : n <= 0 ? 0 : (((__mmask64)1 << n) - 1); }

void sn_q8_maxpool_row_avx512(const uint8_t *const *rows, int nrows, int64_t j0, int64_t j1, int64_t wv, int64_t KW,
                              int64_t dw, int64_t sw, int64_t ow, uint8_t flip, uint8_t *v, uint8_t *out) {
  const __m512i fl = _mm512_set1_epi8((char)flip);
  /* the vertical max, 64 columns at a time over all the rows, straight into v (padding 0) */
  for (int64_t j = 0; j < wv; j += 64) {
    const int64_t a = j0 > j ? j0 : j, b = j1 < j + 64 ? j1 : j + 64;
    __m512i acc = _mm512_setzero_si512();
    if (a < b) {
      const __mmask64 k = mask64(b - j) & ~mask64(a - j);
      for (int r = 0; r < nrows; r++)
        acc = _mm512_max_epu8(acc, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, rows[r] + j), fl));
      acc = _mm512_maskz_mov_epi8(k, acc); /* (masked-off lanes read 0 ^ flip) */
    }
    _mm512_mask_storeu_epi8(v + j, mask64(wv - j), acc);
  }
  /* the horizontal max over the window of each output, then the stride's pick */
  if (sw == 1 || sw == 2) {
    const int64_t per = 64 / sw; /* outputs per 64 columns of v */
    for (int64_t i = 0; i < ow; i += per) {
      const int64_t base = i * sw, span = wv - base; /* columns of v readable from base */
      __m512i m = _mm512_maskz_loadu_epi8(mask64(span), v + base);
      for (int64_t kw = 1; kw < KW; kw++)
        m = _mm512_max_epu8(m, _mm512_maskz_loadu_epi8(mask64(span - kw * dw), v + base + kw * dw));
      m = _mm512_xor_si512(m, fl);
      const int64_t n = ow - i < per ? ow - i : per;
      if (sw == 1)
        _mm512_mask_storeu_epi8(out + i, mask64(n), m);
      else /* the even bytes: each 16-bit lane truncated to its low byte */
        _mm256_mask_storeu_epi8(out + i, (__mmask32)mask64(n), _mm512_cvtepi16_epi8(m));
    }
    return;
  }
  for (int64_t i = 0; i < ow; i++) {
    const uint8_t *s = v + i * sw;
    uint8_t m = s[0];
    for (int64_t kw = 1; kw < KW; kw++) m = s[kw * dw] > m ? s[kw * dw] : m;
    out[i] = (uint8_t)(m ^ flip);
  }
}
