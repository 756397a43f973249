/* The block of the bf16 GEMM (x86/sgemm_avx512bf16.c) on AMX-BF16 tiles: tdpbf16ps multiplies a
 * 16-row x 32-bf16 A tile by a B tile of 16 k-pairs x 16 columns, which is 16 consecutive pair lanes of
 * a packed B panel as that file lays them out, into a 16 x 16 float32 C tile. Blocks of up to 32 rows
 * x 32 columns (4 accumulator tiles, 2 A tiles, 2 B tiles). A k-pair count that is not a multiple of 16
 * ends in one chunk read from zero-padded copies, so no tile load reads past a row of A or a panel of
 * B. Sums are float32 of bf16 products, as vdpbf16ps's. Compiled with -mamx-tile -mamx-bf16; called
 * only when sn_cpu_has_amx_bf16(). */
#include <string.h>

#include "kernels/x86/amx_tiles.h" /* (first: the emulated build renames the entry points) */
#include "kernels/gemm.h"

/* tiles: C00 C01 C10 C11 = tmm0..3, A0 A1 = tmm4..5, B0 B1 = tmm6..7 (sn_amx_config_2x2) */

static inline __attribute__((always_inline)) void tiles(const bool two_rows, const bool two_cols, const uint16_t *A,
                                                        int64_t as, int64_t nq, const uint32_t *B, int64_t pstride,
                                                        const uint8_t *at, const uint8_t *bt, float *out) {
  size_t lda = (size_t)as * 2, pst = (size_t)pstride * 4;
  _tile_zero(0);
  if (two_cols) _tile_zero(1);
  if (two_rows) _tile_zero(2);
  if (two_rows && two_cols) _tile_zero(3);
  for (int64_t q = 0; q < nq; q++) {
    const uint8_t *a = (const uint8_t *)(A + q * 32), *b = (const uint8_t *)(B + q * 256);
    _tile_loadd(4, a, lda);
    _tile_loadd(6, b, 64);
    _tile_dpbf16ps(0, 4, 6);
    if (two_cols) {
      _tile_loadd(7, b + pst, 64);
      _tile_dpbf16ps(1, 4, 7);
    }
    if (two_rows) {
      _tile_loadd(5, a + 16 * lda, lda);
      _tile_dpbf16ps(2, 5, 6);
      if (two_cols) _tile_dpbf16ps(3, 5, 7);
    }
  }
  if (at) {
    _tile_loadd(4, at, 64);
    _tile_loadd(6, bt, 64);
    _tile_dpbf16ps(0, 4, 6);
    if (two_cols) {
      _tile_loadd(7, bt + 1024, 64);
      _tile_dpbf16ps(1, 4, 7);
    }
    if (two_rows) {
      _tile_loadd(5, at + 16 * 64, 64);
      _tile_dpbf16ps(2, 5, 6);
      if (two_cols) _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, out, 128);
  if (two_cols) _tile_stored(1, out + 16, 128);
  if (two_rows) _tile_stored(2, out + 16 * 32, 128);
  if (two_rows && two_cols) _tile_stored(3, out + 16 * 32 + 16, 128);
}

static void tiles_any(bool two_rows, bool two_cols, const uint16_t *A, int64_t as, int64_t nq, const uint32_t *B,
                      int64_t pstride, const uint8_t *at, const uint8_t *bt, float *out) {
  if (two_rows && two_cols)
    tiles(true, true, A, as, nq, B, pstride, at, bt, out);
  else if (two_rows)
    tiles(true, false, A, as, nq, B, pstride, at, bt, out);
  else if (two_cols)
    tiles(false, true, A, as, nq, B, pstride, at, bt, out);
  else
    tiles(false, false, A, as, nq, B, pstride, at, bt, out);
}

static inline __mmask16 mask_of(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

void sn_bf16_block_amx(const uint16_t *A, int64_t as, int64_t mc, const uint32_t *B, int64_t pstride, int64_t nb,
                       int64_t kq, float *C, int64_t ldc, float alpha, float beta, bool first) {
  int64_t nq = kq / 16, qt = kq - nq * 16;
  float out[32 * 32] __attribute__((aligned(64)));
  uint8_t at[32 * 64] __attribute__((aligned(64))), bt[2 * 1024] __attribute__((aligned(64)));
  if (qt) memset(at, 0, sizeof at), memset(bt, 0, sizeof bt);
  const __m512 al = _mm512_set1_ps(alpha), be = _mm512_set1_ps(beta);
  int cr0 = -1, cr1 = -1;
  for (int64_t m = 0; m < mc; m += 32) {
    int mr = (int)(mc - m < 32 ? mc - m : 32), r0 = mr < 16 ? mr : 16, r1 = mr - r0;
    if (r0 != cr0 || r1 != cr1) sn_amx_config_2x2(r0, r1, 64, 16), cr0 = r0, cr1 = r1;
    const uint16_t *a = A + m * as;
    if (qt)
      for (int i = 0; i < mr; i++) memcpy(at + i * 64, a + i * as + nq * 32, (size_t)qt * 4);
    for (int64_t n = 0; n < nb; n += 32) {
      int64_t w = nb - n < 32 ? nb - n : 32;
      bool two_cols = w > 16;
      const uint32_t *bp = B + (n / 16) * pstride;
      if (qt)
        for (int p = 0; p < (two_cols ? 2 : 1); p++)
          memcpy(bt + p * 1024, bp + p * pstride + nq * 256, (size_t)qt * 64);
      tiles_any(r1 > 0, two_cols, a, as, nq, bp, pstride, qt ? at : NULL, bt, out);
      for (int i = 0; i < mr; i++) {
        float *cp = C + (m + i) * ldc + n;
        for (int64_t j = 0; j < w; j += 16) {
          __mmask16 km = mask_of(w - j);
          __m512 v = _mm512_mul_ps(_mm512_load_ps(out + i * 32 + j), al);
          if (!first)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(km, cp + j));
          else if (beta != 0.0f)
            v = _mm512_add_ps(v, _mm512_mul_ps(be, _mm512_maskz_loadu_ps(km, cp + j)));
          _mm512_mask_storeu_ps(cp + j, km, v);
        }
      }
    }
  }
}
