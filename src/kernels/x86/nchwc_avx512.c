/* AVX-512 kernels on the blocked channel layout, block 16 (see kernels/nchwc.h and nchwc_simd.h):
 * register tiles of up to 4 output blocks x 6 pixels (2 x 12, 1 x 14) in the 32 zmm registers. */
#include <immintrin.h>

#define NC_V 16
#define NC_VEC __m512
#define NC_LOAD(p) _mm512_loadu_ps(p)
#define NC_STORE(p, v) _mm512_storeu_ps(p, v)
#define NC_SET1(f) _mm512_set1_ps(f)
#define NC_ZERO() _mm512_setzero_ps()
#define NC_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define NC_ADD(a, b) _mm512_add_ps(a, b)
#define NC_MUL(a, b) _mm512_mul_ps(a, b)
#define NC_MAX(a, b) _mm512_max_ps(a, b)
#define NC_MIN(a, b) _mm512_min_ps(a, b)
#define NC_MAX_NAN(v, acc) _mm512_mask_mov_ps(acc, _mm512_cmp_ps_mask(v, acc, _CMP_NLE_UQ), v)
#define NC_NB_MAX 4
#define NC_CONV sn_nchwc_conv_f32_avx512
#define NC_POOL sn_nchwc_pool_f32_avx512
#define NC_GAVG sn_nchwc_gavg_f32_avx512
#define NC_AFFINE sn_nchwc_affine_f32_avx512
#define NC_TILES                                                                                              \
  TILE(1, 1) TILE(1, 2) TILE(1, 3) TILE(1, 4) TILE(1, 5) TILE(1, 6) TILE(1, 7) TILE(1, 8) TILE(1, 9) TILE(1, 10) \
  TILE(1, 11) TILE(1, 12) TILE(1, 13) TILE(1, 14)                                                             \
  TILE(2, 1) TILE(2, 2) TILE(2, 3) TILE(2, 4) TILE(2, 5) TILE(2, 6) TILE(2, 7) TILE(2, 8) TILE(2, 9) TILE(2, 10) \
  TILE(2, 11) TILE(2, 12)                                                                                     \
  TILE(3, 1) TILE(3, 2) TILE(3, 3) TILE(3, 4) TILE(3, 5) TILE(3, 6)                                           \
  TILE(4, 1) TILE(4, 2) TILE(4, 3) TILE(4, 4) TILE(4, 5) TILE(4, 6)                                           \
  TILE1(1, 1) TILE1(1, 2) TILE1(1, 3) TILE1(1, 4) TILE1(1, 5) TILE1(1, 6)                                     \
  TILE1(2, 1) TILE1(2, 2) TILE1(2, 3) TILE1(2, 4) TILE1(2, 5) TILE1(2, 6)                                     \
  TILE1(3, 1) TILE1(3, 2) TILE1(3, 3) TILE1(3, 4) TILE1(3, 5) TILE1(3, 6)                                     \
  TILE1(4, 1) TILE1(4, 2) TILE1(4, 3) TILE1(4, 4) TILE1(4, 5) TILE1(4, 6)                                     \
  static const tile_fn tiles[4][14] = {                                                                       \
      {tile_1x1, tile_1x2, tile_1x3, tile_1x4, tile_1x5, tile_1x6, tile_1x7, tile_1x8, tile_1x9, tile_1x10,   \
       tile_1x11, tile_1x12, tile_1x13, tile_1x14},                                                           \
      {tile_2x1, tile_2x2, tile_2x3, tile_2x4, tile_2x5, tile_2x6, tile_2x7, tile_2x8, tile_2x9, tile_2x10,   \
       tile_2x11, tile_2x12},                                                                                 \
      {tile_3x1, tile_3x2, tile_3x3, tile_3x4, tile_3x5, tile_3x6},                                           \
      {tile_4x1, tile_4x2, tile_4x3, tile_4x4, tile_4x5, tile_4x6}};                                          \
  static const tile_fn ctiles[4][14] = {                                                                      \
      {ctile_1x1, ctile_1x2, ctile_1x3, ctile_1x4, ctile_1x5, ctile_1x6, ctile_1x7, ctile_1x8, ctile_1x9,       \
       ctile_1x10, ctile_1x11, ctile_1x12, ctile_1x13, ctile_1x14},                                           \
      {ctile_2x1, ctile_2x2, ctile_2x3, ctile_2x4, ctile_2x5, ctile_2x6, ctile_2x7, ctile_2x8, ctile_2x9,       \
       ctile_2x10, ctile_2x11, ctile_2x12},                                                                   \
      {ctile_3x1, ctile_3x2, ctile_3x3, ctile_3x4, ctile_3x5, ctile_3x6},                                     \
      {ctile_4x1, ctile_4x2, ctile_4x3, ctile_4x4, ctile_4x5, ctile_4x6}};                                    \
  static const tile_fn ftiles[4][14] = {                                                                      \
      {ftile_1x1, ftile_1x2, ftile_1x3, ftile_1x4, ftile_1x5, ftile_1x6, ftile_1x7, ftile_1x8, ftile_1x9,       \
       ftile_1x10, ftile_1x11, ftile_1x12, ftile_1x13, ftile_1x14},                                           \
      {ftile_2x1, ftile_2x2, ftile_2x3, ftile_2x4, ftile_2x5, ftile_2x6, ftile_2x7, ftile_2x8, ftile_2x9,       \
       ftile_2x10, ftile_2x11, ftile_2x12},                                                                   \
      {ftile_3x1, ftile_3x2, ftile_3x3, ftile_3x4, ftile_3x5, ftile_3x6},                                     \
      {ftile_4x1, ftile_4x2, ftile_4x3, ftile_4x4, ftile_4x5, ftile_4x6}};                                    \
  static const int max_nt[4] = {14, 12, 6, 6};                                                                \
  static const tile_fn nchw_tiles[4][6] = {{nchw_1x1, nchw_1x2, nchw_1x3, nchw_1x4, nchw_1x5, nchw_1x6},      \
                                           {nchw_2x1, nchw_2x2, nchw_2x3, nchw_2x4, nchw_2x5, nchw_2x6},      \
                                           {nchw_3x1, nchw_3x2, nchw_3x3, nchw_3x4, nchw_3x5, nchw_3x6},      \
                                           {nchw_4x1, nchw_4x2, nchw_4x3, nchw_4x4, nchw_4x5, nchw_4x6}};     \
  static const tile_fn nchw_ctiles[4][6] = {{cnchw_1x1, cnchw_1x2, cnchw_1x3, cnchw_1x4, cnchw_1x5, cnchw_1x6}, \
                                            {cnchw_2x1, cnchw_2x2, cnchw_2x3, cnchw_2x4, cnchw_2x5, cnchw_2x6}, \
                                            {cnchw_3x1, cnchw_3x2, cnchw_3x3, cnchw_3x4, cnchw_3x5, cnchw_3x6}, \
                                            {cnchw_4x1, cnchw_4x2, cnchw_4x3, cnchw_4x4, cnchw_4x5, cnchw_4x6}}; \
  static const int nchw_max_nt[4] = {6, 6, 6, 6};

#include "kernels/x86/nchwc_simd.h"
