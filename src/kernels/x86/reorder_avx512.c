/* AVX-512 NCHW <-> blocked reorders, block 16 (bodies in reorder_simd.h). */
#include <immintrin.h>

#include "kernels/nchwc.h"

#define RB 16
#define RV __m512
#define RLOAD(p) _mm512_loadu_ps(p)
#define RSTORE(p, v) _mm512_storeu_ps(p, v)
#define RZERO() _mm512_setzero_ps()
#define R_IN sn_nchwc_reorder_in_f32_avx512
#define R_OUT sn_nchwc_reorder_out_f32_avx512
#define R_OUT_NHWC sn_nchwc_reorder_out_nhwc_f32_avx512
#define R_IN_NHWC sn_nchwc_reorder_in_nhwc_f32_avx512

/* 16 x 16 transpose: pairs interleaved within 128-bit lanes, then 4-float columns, then the lanes
 * gathered across registers in two rounds of shuffle_f32x4 */
static inline void transpose16(__m512 *r) {
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) { /* u[i + c]: column c (of 4) of rows i..i+3, in each 128-bit lane */
    u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int c = 0; c < 4; c++) { /* columns c, c + 4, c + 8, c + 12 */
    __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
    __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88), v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
    r[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    r[c + 8] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
    r[c + 4] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    r[c + 12] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
  }
}
#define RTRANSPOSE(v) transpose16(v)

#include "kernels/x86/reorder_simd.h"
