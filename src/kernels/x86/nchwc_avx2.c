/* AVX2+FMA kernels on the blocked channel layout, block 8 (see kernels/nchwc.h and nchwc_simd.h):
 * register tiles of up to 2 output blocks x 6 pixels (1 x 12) in the 16 ymm registers. */
#include <immintrin.h>

#define NC_V 8
#define NC_VEC __m256
#define NC_LOAD(p) _mm256_loadu_ps(p)
#define NC_STORE(p, v) _mm256_storeu_ps(p, v)
#define NC_SET1(f) _mm256_set1_ps(f)
#define NC_ZERO() _mm256_setzero_ps()
#define NC_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define NC_ADD(a, b) _mm256_add_ps(a, b)
#define NC_MUL(a, b) _mm256_mul_ps(a, b)
#define NC_MAX(a, b) _mm256_max_ps(a, b)
#define NC_MIN(a, b) _mm256_min_ps(a, b)
#define NC_MAX_NAN(v, acc) _mm256_blendv_ps(acc, v, _mm256_cmp_ps(v, acc, _CMP_NLE_UQ))
#define NC_NB_MAX 2
#define NC_CONV sn_nchwc_conv_f32_avx2
#define NC_POOL sn_nchwc_pool_f32_avx2
#define NC_GAVG sn_nchwc_gavg_f32_avx2
#define NC_AFFINE sn_nchwc_affine_f32_avx2
#define NC_TILES                                                                                              \
  TILE(1, 1) TILE(1, 2) TILE(1, 3) TILE(1, 4) TILE(1, 5) TILE(1, 6) TILE(1, 7) TILE(1, 8) TILE(1, 9) TILE(1, 10) \
  TILE(1, 11) TILE(1, 12)                                                                                     \
  TILE(2, 1) TILE(2, 2) TILE(2, 3) TILE(2, 4) TILE(2, 5) TILE(2, 6)                                           \
  TILE1(1, 1) TILE1(1, 2) TILE1(1, 3) TILE1(1, 4) TILE1(1, 5) TILE1(1, 6)                                     \
  TILE1(2, 1) TILE1(2, 2) TILE1(2, 3) TILE1(2, 4) TILE1(2, 5) TILE1(2, 6)                                     \
  static const tile_fn tiles[2][12] = {{tile_1x1, tile_1x2, tile_1x3, tile_1x4, tile_1x5, tile_1x6, tile_1x7,  \
                                        tile_1x8, tile_1x9, tile_1x10, tile_1x11, tile_1x12},                 \
                                       {tile_2x1, tile_2x2, tile_2x3, tile_2x4, tile_2x5, tile_2x6}};         \
  static const tile_fn ctiles[2][12] = {{ctile_1x1, ctile_1x2, ctile_1x3, ctile_1x4, ctile_1x5, ctile_1x6,     \
                                         ctile_1x7, ctile_1x8, ctile_1x9, ctile_1x10, ctile_1x11, ctile_1x12}, \
                                        {ctile_2x1, ctile_2x2, ctile_2x3, ctile_2x4, ctile_2x5, ctile_2x6}};  \
  static const tile_fn ftiles[2][12] = {{ftile_1x1, ftile_1x2, ftile_1x3, ftile_1x4, ftile_1x5, ftile_1x6,     \
                                         ftile_1x7, ftile_1x8, ftile_1x9, ftile_1x10, ftile_1x11, ftile_1x12}, \
                                        {ftile_2x1, ftile_2x2, ftile_2x3, ftile_2x4, ftile_2x5, ftile_2x6}};  \
  static const int max_nt[2] = {12, 6};                                                                       \
  static const tile_fn nchw_tiles[2][6] = {{nchw_1x1, nchw_1x2, nchw_1x3, nchw_1x4, nchw_1x5, nchw_1x6},      \
                                           {nchw_2x1, nchw_2x2, nchw_2x3, nchw_2x4, nchw_2x5, nchw_2x6}};     \
  static const tile_fn nchw_ctiles[2][6] = {{cnchw_1x1, cnchw_1x2, cnchw_1x3, cnchw_1x4, cnchw_1x5, cnchw_1x6}, \
                                            {cnchw_2x1, cnchw_2x2, cnchw_2x3, cnchw_2x4, cnchw_2x5, cnchw_2x6}}; \
  static const int nchw_max_nt[2] = {6, 6};

#include "kernels/x86/nchwc_simd.h"
