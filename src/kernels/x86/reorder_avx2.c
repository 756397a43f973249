/* AVX2 NCHW <-> blocked reorders, block 8 (bodies in reorder_simd.h). */
#include <immintrin.h>

#include "kernels/nchwc.h"

#define RB 8
#define RV __m256
#define RLOAD(p) _mm256_loadu_ps(p)
#define RSTORE(p, v) _mm256_storeu_ps(p, v)
#define RZERO() _mm256_setzero_ps()
#define R_IN sn_nchwc_reorder_in_f32_avx2
#define R_OUT sn_nchwc_reorder_out_f32_avx2
#define R_OUT_NHWC sn_nchwc_reorder_out_nhwc_f32_avx2
#define R_IN_NHWC sn_nchwc_reorder_in_nhwc_f32_avx2

/* 8 x 8 transpose: pairs, then 4-float columns within 128-bit halves, then the halves swapped */
static inline void transpose8(__m256 *r) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int c = 0; c < 4; c++) {
    r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
    r[c + 4] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
  }
}
#define RTRANSPOSE(v) transpose8(v)

#include "kernels/x86/reorder_simd.h"
