/* Row gather of the integer convolution's small maps with AVX512-VBMI (see kernels/qconv.h): two
 * vpermi2b pick 64 bytes out of a 256-byte window, the index's top bit choosing the half, and the
 * padding entries take the pad byte. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/qconv.h"

static inline __m512i ld(const uint8_t *src, int64_t at, int64_t bytes) {
  int64_t n = bytes - at;
  __mmask64 k = n >= 64 ? ~(__mmask64)0 : n <= 0 ? 0 : (((__mmask64)1 << n) - 1);
  return _mm512_maskz_loadu_epi8(k, (const void *)(src + (at < bytes ? at : 0)));
}

void sn_qconv_gather_avx512vbmi(const uint8_t *src, int64_t bytes, const uint8_t *idx8, const uint64_t *valid, int64_t n,
                                uint8_t pad, uint8_t *dst) {
  __m512i w0 = ld(src, 0, bytes), w1 = ld(src, 64, bytes), w2 = ld(src, 128, bytes), w3 = ld(src, 192, bytes);
  __m512i pv = _mm512_set1_epi8((char)pad);
  for (int64_t i = 0; i < n; i += 64) {
    __mmask64 k = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
    __m512i ix = _mm512_maskz_loadu_epi8(k, (const void *)(idx8 + i));
    __m512i lo = _mm512_permutex2var_epi8(w0, ix, w1), hi = _mm512_permutex2var_epi8(w2, ix, w3);
    __m512i v = _mm512_mask_blend_epi8(_mm512_movepi8_mask(ix), lo, hi);
    _mm512_mask_storeu_epi8(dst + i, k, _mm512_mask_blend_epi8((__mmask64)valid[i / 64], pv, v));
  }
}
