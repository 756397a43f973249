/* 256-entry byte table lookup with AVX512-VBMI (see kernels/qelem.h): vpermi2b looks up 64 bytes in
 * a 128-byte half of the table (index bits 0..6), the index's top bit picks the half. Compiled with
 * -mavx512vbmi (CMakeLists.txt). */
#include <immintrin.h>

#include "kernels/qelem.h"

void sn_qlut_avx512vbmi(const uint8_t *x, int64_t n, const uint8_t table[256], uint8_t *y) {
  const __m512i t0 = _mm512_loadu_si512((const void *)table), t1 = _mm512_loadu_si512((const void *)(table + 64));
  const __m512i t2 = _mm512_loadu_si512((const void *)(table + 128)), t3 = _mm512_loadu_si512((const void *)(table + 192));
  for (int64_t i = 0; i < n; i += 64) {
    __mmask64 k = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
    __m512i v = _mm512_maskz_loadu_epi8(k, x + i);
    __m512i lo = _mm512_permutex2var_epi8(t0, v, t1), hi = _mm512_permutex2var_epi8(t2, v, t3);
    _mm512_mask_storeu_epi8(y + i, k, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
  }
}
