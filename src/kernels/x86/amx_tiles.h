/* The AMX tile instructions the *_amx.c kernels use: the intrinsics of <immintrin.h>, or, with
 * SN_AMX_EMULATE defined, a plain C model of them (a per-thread set of 8 tiles of 16 rows x 64 bytes
 * and a configuration), so that the kernels' addressing, tails and epilogues are tested on every
 * machine (tests/unit/amx_emu, linked into test_qgemm, test_bf16_gemm and test_nchwc_bf16), not only
 * where the CPU has AMX. The model follows the instructions' definitions: loads fill `rows` rows of
 * `colsb` bytes and zero the rest of the tile, tdpbusd / tdpbsud add exact int32 sums of 4 byte
 * products, tdpbf16ps float32 sums of two bf16 products (its rounding differs from the hardware's in
 * the last bits, as the tests allow). The emulated build renames the kernels' entry points with an
 * _emu suffix so both can be linked into one program. */
#ifndef SN_AMX_TILES_H
#define SN_AMX_TILES_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* The 64-byte operand of ldtilecfg / sttilecfg (palette 1). */
typedef struct sn_amx_cfg {
  uint8_t palette, start_row;
  uint8_t reserved[14];
  uint16_t colsb[16]; /* bytes per row of tile t */
  uint8_t rows[16];   /* rows of tile t (0: unused) */
} __attribute__((aligned(64))) sn_amx_cfg;

_Static_assert(sizeof(sn_amx_cfg) == 64, "ldtilecfg reads 64 bytes");

#ifdef SN_AMX_EMULATE

#define sn_qgemm_amx sn_qgemm_amx_emu
#define sn_qgemm_ind_amx sn_qgemm_ind_amx_emu
#define sn_bf16_block_amx sn_bf16_block_amx_emu
#define sn_nchwc_conv_bf16_amx sn_nchwc_conv_bf16_amx_emu

typedef struct sn_amx_emu_state {
  sn_amx_cfg cfg;
  uint8_t t[8][16][64];
} sn_amx_emu_state;
static _Thread_local sn_amx_emu_state sn_amx_emu;

static inline void sn_emu_loadconfig(const void *c) {
  memcpy(&sn_amx_emu.cfg, c, sizeof sn_amx_emu.cfg);
  memset(sn_amx_emu.t, 0, sizeof sn_amx_emu.t);
}
static inline void sn_emu_storeconfig(void *c) { memcpy(c, &sn_amx_emu.cfg, sizeof sn_amx_emu.cfg); }
static inline void sn_emu_zero(int t) { memset(sn_amx_emu.t[t], 0, sizeof sn_amx_emu.t[t]); }
static inline void sn_emu_loadd(int t, const void *base, size_t stride) {
  const sn_amx_cfg *c = &sn_amx_emu.cfg;
  sn_emu_zero(t);
  for (int r = 0; r < c->rows[t]; r++) memcpy(sn_amx_emu.t[t][r], (const uint8_t *)base + r * stride, c->colsb[t]);
}
static inline void sn_emu_stored(int t, void *base, size_t stride) {
  const sn_amx_cfg *c = &sn_amx_emu.cfg;
  for (int r = 0; r < c->rows[t]; r++) memcpy((uint8_t *)base + r * stride, sn_amx_emu.t[t][r], c->colsb[t]);
}
/* kind 0: u8 x s8, 1: s8 x u8 */
static inline void sn_emu_dpb(int d, int a, int b, int kind) {
  const sn_amx_cfg *c = &sn_amx_emu.cfg;
  for (int m = 0; m < c->rows[d]; m++)
    for (int n = 0; n < c->colsb[d] / 4; n++) {
      int32_t acc;
      memcpy(&acc, sn_amx_emu.t[d][m] + 4 * n, 4);
      uint32_t s = (uint32_t)acc;
      for (int k = 0; k < c->colsb[a] / 4; k++)
        for (int i = 0; i < 4; i++) {
          uint8_t x = sn_amx_emu.t[a][m][4 * k + i], y = sn_amx_emu.t[b][k][4 * n + i];
          int32_t p = kind == 0 ? (int32_t)x * (int32_t)(int8_t)y : (int32_t)(int8_t)x * (int32_t)y;
          s += (uint32_t)p;
        }
      acc = (int32_t)s;
      memcpy(sn_amx_emu.t[d][m] + 4 * n, &acc, 4);
    }
}
static inline float sn_emu_bf(const uint8_t *p) {
  uint32_t u = (uint32_t)(p[0] | p[1] << 8) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline void sn_emu_dpbf16(int d, int a, int b) {
  const sn_amx_cfg *c = &sn_amx_emu.cfg;
  for (int m = 0; m < c->rows[d]; m++)
    for (int n = 0; n < c->colsb[d] / 4; n++) {
      float acc;
      memcpy(&acc, sn_amx_emu.t[d][m] + 4 * n, 4);
      for (int k = 0; k < c->colsb[a] / 4; k++) {
        const uint8_t *x = sn_amx_emu.t[a][m] + 4 * k, *y = sn_amx_emu.t[b][k] + 4 * n;
        acc += sn_emu_bf(x) * sn_emu_bf(y) + sn_emu_bf(x + 2) * sn_emu_bf(y + 2);
      }
      memcpy(sn_amx_emu.t[d][m] + 4 * n, &acc, 4);
    }
}

#undef _tile_loadconfig
#undef _tile_storeconfig
#undef _tile_zero
#undef _tile_loadd
#undef _tile_stored
#undef _tile_dpbusd
#undef _tile_dpbsud
#undef _tile_dpbf16ps
#define _tile_loadconfig(c) sn_emu_loadconfig(c)
#define _tile_storeconfig(c) sn_emu_storeconfig(c)
#define _tile_zero(t) sn_emu_zero(t)
#define _tile_loadd(t, base, stride) sn_emu_loadd(t, base, (size_t)(stride))
#define _tile_stored(t, base, stride) sn_emu_stored(t, base, (size_t)(stride))
#define _tile_dpbusd(d, a, b) sn_emu_dpb(d, a, b, 0)
#define _tile_dpbsud(d, a, b) sn_emu_dpb(d, a, b, 1)
#define _tile_dpbf16ps(d, a, b) sn_emu_dpbf16(d, a, b)

#endif /* SN_AMX_EMULATE */

/* The 2 x 2 blocking every AMX kernel here uses: accumulator tiles 0, 1 (r0 rows) and 2, 3 (r1 rows) of
 * 64 bytes, A tiles 4 (r0 rows) and 5 (r1 rows) of a_bytes, B tiles 6 and 7 of b_rows rows of 64 bytes
 * (a tile of 0 rows is unused). Loaded only when it is not the thread's configuration already (read
 * back with sttilecfg, so one that other code loaded in between is noticed); tiles stay configured
 * between calls, as releasing and reloading them at every call measured slower. */
static inline void sn_amx_config_2x2(int r0, int r1, int a_bytes, int b_rows) {
  sn_amx_cfg c, cur;
  memset(&c, 0, sizeof c);
  c.palette = 1;
  const int rows[8] = {r0, r0, r1, r1, r0, r1, b_rows, b_rows}, bytes[8] = {64, 64, 64, 64, a_bytes, a_bytes, 64, 64};
  for (int t = 0; t < 8; t++) {
    c.rows[t] = (uint8_t)rows[t];
    c.colsb[t] = (uint16_t)(rows[t] ? bytes[t] : 0);
  }
  _tile_storeconfig(&cur);
  if (memcmp(&c, &cur, sizeof c)) _tile_loadconfig(&c);
}

#endif
