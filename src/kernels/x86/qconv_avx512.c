/* Padded rows of the integer convolution's input copy with AVX-512 (see kernels/qconv.h): 64
 * output bytes per step from masked loads (no source byte outside the row is touched); stride 2
 * splits the even bytes out of 64 16-bit words (vpmovwb). */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/qconv.h"

/* 64-bit mask of bytes whose source index s0 + b lies in [0, W) */
static inline __mmask64 in_row(int64_t s0, int64_t W) {
  int64_t a = -s0 > 0 ? -s0 : 0, e = W - s0 < 64 ? W - s0 : 64;
  if (e <= a) return 0;
  return (e - a >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (e - a)) - 1)) << a;
}

static inline __m512i ld(const uint8_t *src, int64_t s0, __mmask64 k) {
  return _mm512_maskz_loadu_epi8(k, (const void *)((uintptr_t)src + (uintptr_t)s0)); /* masked: s0 may be < 0 */
}

static inline void pad_row(const uint8_t *src, int64_t W, int64_t off, int64_t sw, uint8_t flip, uint8_t pad,
                           uint8_t *dst, int64_t n) {
  const __m512i pv = _mm512_set1_epi8((char)pad), fv = _mm512_set1_epi8((char)flip);
  for (int64_t j = 0; j < n; j += 64) {
    __mmask64 kd = n - j >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - j)) - 1);
    __m512i v;
    if (sw == 1) {
      __mmask64 k = in_row(j + off, W);
      v = _mm512_mask_blend_epi8(k, pv, _mm512_xor_si512(ld(src, j + off, k), fv));
    } else { /* output byte b is source byte 2 * (j + b) + off: the even bytes of two 64-byte loads */
      int64_t s0 = 2 * j + off;
      __mmask64 k0 = in_row(s0, W), k1 = in_row(s0 + 64, W);
      __m512i a = ld(src, s0, k0), b = ld(src, s0 + 64, k1);
      __m256i ea = _mm512_cvtepi16_epi8(a), eb = _mm512_cvtepi16_epi8(b); /* low byte of each word */
      v = _mm512_inserti64x4(_mm512_castsi256_si512(ea), eb, 1);
      /* lane b valid where its source byte (even position 2b of the 128) was in the row */
      __m512i m0 = _mm512_movm_epi8(k0), m1 = _mm512_movm_epi8(k1);
      __m512i mv = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(m0)), _mm512_cvtepi16_epi8(m1), 1);
      __mmask64 k = _mm512_movepi8_mask(mv);
      v = _mm512_mask_blend_epi8(k, pv, _mm512_xor_si512(v, fv));
    }
    _mm512_mask_storeu_epi8(dst + j, kd, v);
  }
}

void sn_qconv_pad_rows_avx512(const uint8_t *src, int64_t ss, int64_t rows, int64_t W, int64_t off, int64_t sw,
                              uint8_t flip, uint8_t pad, uint8_t *dst, int64_t ds, int64_t n) {
  if (sw == 1)
    for (int64_t r = 0; r < rows; r++) pad_row(src + r * ss, W, off, 1, flip, pad, dst + r * ds, n);
  else
    for (int64_t r = 0; r < rows; r++) pad_row(src + r * ss, W, off, 2, flip, pad, dst + r * ds, n);
}
