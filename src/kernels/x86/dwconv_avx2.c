/* AVX2+FMA float32 depthwise 2-D convolution: 8 outputs per register along the width. */
#include <immintrin.h>

/* even elements p[0], p[2], ..., p[14] from p[0..7] and p[7..14] (never reads p[15]) */
static inline __m256 dw_load_s2(const float *p) {
  __m256 t = _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 7), _MM_SHUFFLE(3, 1, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* the first n even elements p[0], p[2], ..., p[2n - 2] (n < 8), reading nothing past p[2n - 2] */
static inline __m256 dw_pload_s2(const float *p, int64_t n) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(2 * n - 1)), lane);
  __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(2 * n - 8)), lane);
  __m256 t = _mm256_shuffle_ps(_mm256_maskload_ps(p, m0), _mm256_maskload_ps(p + 7, m1), _MM_SHUFFLE(3, 1, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

#define DW_V 8
#define DW_VEC __m256
#define DW_IDX __m256i
#define DW_MASK __m256i
#define DW_SET1(f) _mm256_set1_ps(f)
#define DW_LOADU(p) _mm256_loadu_ps(p)
#define DW_STOREU(p, v) _mm256_storeu_ps(p, v)
#define DW_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define DW_LOAD_S2(p) dw_load_s2(p)
#define DW_GATHER(p, idx) _mm256_i32gather_ps(p, idx, 4)
#define DW_IDX_MAKE(s) _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)(s)))
#define DW_MASK_MAKE(n) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define DW_PLOAD1(p, m) _mm256_maskload_ps(p, m)
#define DW_PGATHER(p, idx, m) _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, idx, _mm256_castsi256_ps(m), 4)
#define DW_PLOAD_S2(p, n) dw_pload_s2(p, n)
#define DW_PSTORE(p, v, m) _mm256_maskstore_ps(p, m, v)
#define DW_U2 2 /* vectors per row in the two-row 3x3 path */
#define DW_NAME sn_dwconv2d_f32_avx2

#include "kernels/x86/dwconv_simd.h"
