/* AVX-512 float32 depthwise 2-D convolution: 16 outputs per register along the width. */
#include <immintrin.h>

#define DW_V 16
#define DW_VEC __m512
#define DW_IDX __m512i
#define DW_MASK __mmask16
#define DW_SET1(f) _mm512_set1_ps(f)
#define DW_LOADU(p) _mm512_loadu_ps(p)
#define DW_STOREU(p, v) _mm512_storeu_ps(p, v)
#define DW_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
/* even elements p[0], p[2], ..., p[30] from p[0..15] and p[15..30] (never reads p[31]) */
#define DW_LOAD_S2(p)                                                                                           \
  _mm512_permutex2var_ps(_mm512_loadu_ps(p),                                                                  \
                         _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31),        \
                         _mm512_loadu_ps((p) + 15))
#define DW_GATHER(p, idx) _mm512_i32gather_ps(idx, p, 4)
#define DW_IDX_MAKE(s) _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), \
                                          _mm512_set1_epi32((int)(s)))
#define DW_MASK_MAKE(n) ((__mmask16)((1u << (n)) - 1u))
#define DW_PLOAD1(p, m) _mm512_maskz_loadu_ps(m, p)
#define DW_PGATHER(p, idx, m) _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, p, 4)
/* the first n even elements p[0], p[2], ..., p[2n - 2] (n < 16), reading nothing past p[2n - 2] */
#define DW_PLOAD_S2(p, n)                                                                                       \
  _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(DW_MASK_MAKE(2 * (n) - 1 < 16 ? 2 * (n) - 1 : 16), p),           \
                         _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31),        \
                         _mm512_maskz_loadu_ps(DW_MASK_MAKE(2 * (n) > 16 ? 2 * (n) - 16 : 0), (p) + 15))
#define DW_PSTORE(p, v, m) _mm512_mask_storeu_ps(p, m, v)
#define DW_U2 2 /* vectors per row in the two-row 3x3 path */
#define DW_NAME sn_dwconv2d_f32_avx512

#include "kernels/x86/dwconv_simd.h"
