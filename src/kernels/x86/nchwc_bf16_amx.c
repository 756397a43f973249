/* The group-1 NCHWc convolution in bf16 on AMX-BF16 tiles (sn_nchwc_conv_bf16's contract, blocked
 * input): output pixels are tile rows and output channels tile columns. For one input block and one
 * tap, an A tile is 16 output pixels' input pixels (8 channel pairs, 32 bytes each, sw pixels apart in
 * the padded bf16 row) and a B tile the tap's 8 x 16 weight pairs, 512 contiguous bytes of the packed
 * weight; tdpbf16ps adds their products into a 16-pixel x 16-channel float32 tile. Blocks of 32 pixels
 * x 2 output blocks (4 accumulator tiles) sum over every input block and tap, then the epilogue (bias,
 * residual, Relu / Clip) writes them to the blocked output. A run shorter than 32 pixels still loads
 * 32 rows: the rows past it read further along the padded input (the caller leaves
 * sn_nchwc_bf16_amx_slack values after it) and are not stored. Rows of padding (above and below the
 * input) are skipped per tap, columns are stored in the padded input. Compiled with -mamx-tile
 * -mamx-bf16 (CMakeLists.txt); called only when sn_cpu_has_amx_bf16(). */
#include <math.h>
#include <string.h>

#include "kernels/x86/amx_tiles.h" /* (first: the emulated build renames the entry points) */
#include "kernels/nchwc_bf16.h"

#define PX 32 /* output pixels per block (2 tiles of 16 rows): sn_nchwc_bf16_amx_slack's 32 */

/* C00 C01 C10 C11 = tmm0..3 (pixels 0-15 / 16-31 x output block 0 / 1), A0 A1 = tmm4..5 (16 pixels x
 * 8 pairs, 32 bytes), B0 B1 = tmm6..7 (8 pairs x 16 channels) */

typedef struct run {
  const uint16_t *x;    /* the image's padded bf16 input */
  const uint32_t *w;    /* the first output block's weight pairs */
  int64_t bstride;      /* bf16 values between input blocks */
  int64_t wstride;      /* pairs between output blocks (cbi * K * 128) */
  int64_t cbi, K;       /* input blocks, taps */
  int64_t ps;           /* bytes between the input pixels of consecutive output pixels */
  int64_t ntap;         /* taps inside the input for this output row */
  int64_t toff[SN_NCHWC_AMX_MAX_TAPS]; /* their offsets (bf16 values) from the run's first input pixel */
  int64_t tidx[SN_NCHWC_AMX_MAX_TAPS]; /* their indices in the weight */
} run;

/* sums of 32 pixels from input offset x0 (bf16 values) x output blocks ob (two when two_cols) */
static inline __attribute__((always_inline)) void sums(const bool two_rows, const bool two_cols, const run *r,
                                                       int64_t x0, int64_t ob, float *acc) {
  _tile_zero(0);
  if (two_cols) _tile_zero(1);
  if (two_rows) _tile_zero(2);
  if (two_rows && two_cols) _tile_zero(3);
  const uint32_t *wo = r->w + ob * r->wstride;
  for (int64_t cb = 0; cb < r->cbi; cb++) {
    const uint16_t *xb = r->x + cb * r->bstride + x0;
    const uint32_t *wb = wo + cb * r->K * 128;
    for (int64_t k = 0; k < r->ntap; k++) {
      const uint8_t *a = (const uint8_t *)(xb + r->toff[k]);
      const uint32_t *b = wb + r->tidx[k] * 128;
      _tile_loadd(4, a, r->ps);
      _tile_loadd(6, b, 64);
      _tile_dpbf16ps(0, 4, 6);
      if (two_cols) {
        _tile_loadd(7, b + r->wstride, 64);
        _tile_dpbf16ps(1, 4, 7);
      }
      if (two_rows) {
        _tile_loadd(5, a + 16 * r->ps, r->ps);
        _tile_dpbf16ps(2, 5, 6);
        if (two_cols) _tile_dpbf16ps(3, 5, 7);
      }
    }
  }
  /* acc: [2 output blocks][32 pixels][16] */
  _tile_stored(0, acc, 64);
  if (two_cols) _tile_stored(1, acc + PX * 16, 64);
  if (two_rows) _tile_stored(2, acc + 16 * 16, 64);
  if (two_rows && two_cols) _tile_stored(3, acc + PX * 16 + 16 * 16, 64);
}

static void sums_any(bool two_rows, bool two_cols, const run *r, int64_t x0, int64_t ob, float *acc) {
  if (two_rows && two_cols)
    sums(true, true, r, x0, ob, acc);
  else if (two_rows)
    sums(true, false, r, x0, ob, acc);
  else if (two_cols)
    sums(false, true, r, x0, ob, acc);
  else
    sums(false, false, r, x0, ob, acc);
}

/* cnt pixels of output block ob from acc (its block's 32 x 16 sums) to y (the block's first pixel of
 * the run; res likewise or NULL), with the epilogue */
static void store(const sn_nchwc_conv_geom *g, int64_t ob, const float *acc, int64_t cnt, float *y, const float *res) {
  const __m512 bias = g->bias ? _mm512_loadu_ps(g->bias + ob * 16) : _mm512_setzero_ps();
  const __m512 lo = _mm512_set1_ps(g->lo), hi = _mm512_set1_ps(g->hi), zero = _mm512_setzero_ps();
  for (int64_t i = 0; i < cnt; i++) {
    __m512 v = _mm512_add_ps(_mm512_load_ps(acc + i * 16), bias);
    if (res) v = _mm512_add_ps(v, _mm512_loadu_ps(res + i * 16));
    if (g->act == SN_NCHWC_ACT_RELU) v = _mm512_max_ps(v, zero);
    if (g->act == SN_NCHWC_ACT_CLIP) v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
    _mm512_storeu_ps(y + i * 16, v);
  }
}

void sn_nchwc_conv_bf16_amx(const sn_nchwc_conv_geom *g0, const uint16_t *x, const uint32_t *w, float *y, int64_t t0,
                            int64_t t1, bool padded) {
  sn_nchwc_conv_geom gp = *g0;
  if (padded) gp.iw = sn_nchwc_bf16_padded_width(g0), gp.pw = 0;
  const sn_nchwc_conv_geom *g = &gp;
  int64_t rpi, bpi;
  sn_nchwc_conv_items(g, &rpi, &bpi);
  const int64_t row_items = (g->oh + rpi - 1) / rpi, groups = (g->cbo + bpi - 1) / bpi;
  const int64_t K = g->kh * g->kw, plane = g->oh * g->ow * 16;
  const bool flat = sn_nchwc_flat(g);
  float acc[2 * PX * 16] __attribute__((aligned(64)));
  run r = {.w = w, .bstride = g->ih * g->iw * 16, .wstride = g->cbi * K * 128, .cbi = g->cbi, .K = K,
           .ps = g->sw * 32};
  sn_amx_config_2x2(16, 16, 32, 8);
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / (groups * row_items), gi = (t / row_items) % groups, ri = t % row_items;
    const int64_t cb0 = gi * bpi, cb1 = cb0 + bpi < g->cbo ? cb0 + bpi : g->cbo;
    const int64_t r0 = ri * rpi, r1 = r0 + rpi < g->oh ? r0 + rpi : g->oh;
    r.x = x + n * g->cbi * r.bstride;
    float *yn = y + n * g->cbo * plane;
    const float *rn = g->res ? g->res + n * g->cbo * plane : NULL;
    if (flat) { /* the item's rows as one run of pixels, input pixel = output pixel */
      r.ntap = 1, r.toff[0] = 0, r.tidx[0] = 0;
      for (int64_t p = r0 * g->ow; p < r1 * g->ow; p += PX) {
        const int64_t cnt = r1 * g->ow - p < PX ? r1 * g->ow - p : PX;
        for (int64_t ob = cb0; ob < cb1; ob += 2) {
          const bool two = ob + 1 < cb1;
          sums_any(cnt > 16, two, &r, p * 16, ob, acc);
          for (int b = 0; b < (two ? 2 : 1); b++)
            store(g, ob + b, acc + b * PX * 16, cnt, yn + (ob + b) * plane + p * 16,
                  rn ? rn + (ob + b) * plane + p * 16 : NULL);
        }
      }
      continue;
    }
    for (int64_t oy = r0; oy < r1; oy++) {
      r.ntap = 0; /* the taps whose input row is inside the input */
      for (int64_t ky = 0; ky < g->kh; ky++) {
        const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
        if (iy < 0 || iy >= g->ih) continue;
        for (int64_t kx = 0; kx < g->kw; kx++) {
          r.toff[r.ntap] = (iy * g->iw + kx * g->dw) * 16;
          r.tidx[r.ntap++] = ky * g->kw + kx;
        }
      }
      for (int64_t ox = 0; ox < g->ow; ox += PX) {
        const int64_t cnt = g->ow - ox < PX ? g->ow - ox : PX;
        for (int64_t ob = cb0; ob < cb1; ob += 2) {
          const bool two = ob + 1 < cb1;
          const int64_t at = (oy * g->ow + ox) * 16;
          if (r.ntap)
            sums_any(cnt > 16, two, &r, ox * g->sw * 16, ob, acc);
          else /* every tap in the padding: the epilogue of zero sums */
            memset(acc, 0, sizeof acc);
          for (int b = 0; b < (two ? 2 : 1); b++)
            store(g, ob + b, acc + b * PX * 16, cnt, yn + (ob + b) * plane + at, rn ? rn + (ob + b) * plane + at : NULL);
        }
      }
    }
  }
}
