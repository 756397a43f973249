/* Winograd F(4x4, 3x3) on NCHWc: weight transform, transform dispatch, work splitting and the
 * per-item driver (input transform -> 36 packed GEMMs -> output transform with the epilogue).
 * See kernels/winograd.h. */
#include "kernels/winograd.h"

#include <string.h>

#include "core/alloc.h"
#include "runtime/cpu.h"
#include "runtime/prof.h"

bool sn_wino_eligible(const sn_nchwc_conv_geom *g) {
  return !g->depthwise && g->group <= 1 && g->in_block == g->block && g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 &&
         g->dh == 1 && g->dw == 1 && g->oh >= 1 && g->ow >= 1 && g->n >= 1 && g->cbi >= 1 && g->cbo >= 1 &&
         g->block >= 1 && g->block <= 64;
}

int64_t sn_wino_tiles(const sn_nchwc_conv_geom *g) { return g->n * ((g->oh + 3) / 4) * ((g->ow + 3) / 4); }

/* 2: AVX-512 at block 16, 1: AVX2 at block 8, 0: portable */
static int path(int64_t block) {
  sn_isa isa = sn_cpu_isa();
  if (block == 16 && isa >= SN_ISA_AVX512) return 2;
  if (block == 8 && isa >= SN_ISA_AVX2) return 1;
  return 0;
}

void sn_wino_input_f32(const sn_nchwc_conv_geom *g, const float *x, int64_t t0, int64_t t1, float *v, int64_t ldv,
                       int64_t vps) {
  switch (path(g->block)) {
    case 2: sn_wino_input_f32_avx512(g, x, t0, t1, v, ldv, vps); break;
    case 1: sn_wino_input_f32_avx2(g, x, t0, t1, v, ldv, vps); break;
    default: sn_wino_input_f32_ref(g, x, t0, t1, v, ldv, vps); break;
  }
}

void sn_wino_output_f32(const sn_nchwc_conv_geom *g, const float *m, int64_t t0, int64_t t1, int64_t cb0, int64_t cb1,
                        int64_t ldm, int64_t mps, float *y) {
  switch (path(g->block)) {
    case 2: sn_wino_output_f32_avx512(g, m, t0, t1, cb0, cb1, ldm, mps, y); break;
    case 1: sn_wino_output_f32_avx2(g, m, t0, t1, cb0, cb1, ldm, mps, y); break;
    default: sn_wino_output_f32_ref(g, m, t0, t1, cb0, cb1, ldm, mps, y); break;
  }
}

const char *sn_wino_name(const sn_nchwc_conv_geom *g) {
  static const char *names[3] = {"f32_nchwc_wino4x4_ref", "f32_nchwc8_wino4x4_avx2", "f32_nchwc16_wino4x4_avx512"};
  return names[path(g->block)];
}

/* ---- weights ------------------------------------------------------------------------------------- */

/* G for points 0, 1, -1, 2, -2 and infinity */
static const double wg_G[6][3] = {{1.0 / 4, 0, 0},
                                  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                  {0, 0, 1}};

void sn_wino_weights_free(sn_wino_weights *wt) {
  if (!wt) return;
  for (int p = 0; p < SN_WINO_POINTS; p++) sn_sgemm_packed_free(wt->pk[p]);
  sn_aligned_free(wt->u);
  sn_free(wt);
}

sn_wino_weights *sn_wino_weights_create(const float *w, int64_t cbi, int64_t cbo, int64_t block) {
  if (cbi < 1 || cbo < 1 || block < 1) return NULL;
  sn_wino_weights *wt = sn_calloc(1, sizeof *wt);
  if (!wt) return NULL;
  const int64_t B = block, K = cbi * B, N = cbo * B;
  wt->src = w, wt->cbi = cbi, wt->cbo = cbo, wt->block = B;
  wt->u = sn_aligned_alloc(sizeof(float) * (size_t)(SN_WINO_POINTS * K * N));
  if (!wt->u) {
    sn_wino_weights_free(wt);
    return NULL;
  }
  /* w [cbo][cbi][3][3][B in][B out] -> U[p][ci][co]: one row of U (input channel) at a time, its
   * B-lane runs of output channels computed together so every point's row is written in order */
  float gl[9][64];
  double tmp[6][3][64];
  for (int64_t ib = 0; ib < cbi; ib++)
    for (int64_t i = 0; i < B; i++)
      for (int64_t ob = 0; ob < cbo; ob++) {
        const float *wp = w + ((ob * cbi + ib) * 9 * B + i) * B;
        for (int k = 0; k < 9; k++)
          for (int64_t l = 0; l < B; l++) gl[k][l] = wp[k * B * B + l];
        for (int a = 0; a < 6; a++)
          for (int c = 0; c < 3; c++)
            for (int64_t l = 0; l < B; l++)
              tmp[a][c][l] = wg_G[a][0] * gl[c][l] + wg_G[a][1] * gl[3 + c][l] + wg_G[a][2] * gl[6 + c][l];
        float *up = wt->u + (ib * B + i) * N + ob * B;
        for (int a = 0; a < 6; a++)
          for (int b = 0; b < 6; b++) {
            float *row = up + (a * 6 + b) * K * N;
            for (int64_t l = 0; l < B; l++)
              row[l] = (float)(tmp[a][0][l] * wg_G[b][0] + tmp[a][1][l] * wg_G[b][1] + tmp[a][2][l] * wg_G[b][2]);
          }
      }
  for (int p = 0; p < SN_WINO_POINTS; p++) {
    wt->pk[p] = sn_sgemm_pack(SN_GEMM_B, false, K, N, wt->u + p * K * N, N);
    if (!wt->pk[p]) {
      sn_wino_weights_free(wt);
      return NULL;
    }
  }
  return wt;
}

sn_wino_weights *sn_wino_weights_new(const float *w, int64_t cbi, int64_t cbo, int64_t block) {
  if (cbi < 1 || cbo < 1 || block < 1) return NULL;
  sn_wino_weights *wt = sn_calloc(1, sizeof *wt);
  if (!wt) return NULL;
  wt->src = w, wt->cbi = cbi, wt->cbo = cbo, wt->block = block;
  return wt;
}

size_t sn_wino_weights_buf_floats(const sn_wino_weights *wt) {
  return (size_t)(wt->cbi * wt->block) * (size_t)(wt->cbo * wt->block);
}

bool sn_wino_weights_make_points(sn_wino_weights *wt, int p0, int p1, float *buf) {
  const int64_t B = wt->block, cbi = wt->cbi, cbo = wt->cbo, K = cbi * B, N = cbo * B;
  for (int p = p0; p < p1; p++) {
    /* U_p[ci][co] = sum over the taps (ky, kx) of G[a][ky] G[b][kx] g[ky][kx] */
    float cf[9];
    for (int k = 0; k < 9; k++) cf[k] = (float)(wg_G[p / 6][k / 3] * wg_G[p % 6][k % 3]);
    for (int64_t ib = 0; ib < cbi; ib++)
      for (int64_t i = 0; i < B; i++)
        for (int64_t ob = 0; ob < cbo; ob++) {
          const float *wp = wt->src + ((ob * cbi + ib) * 9 * B + i) * B;
          float *up = buf + (ib * B + i) * N + ob * B;
          for (int64_t l = 0; l < B; l++) up[l] = 0.f;
          for (int k = 0; k < 9; k++)
            for (int64_t l = 0; l < B; l++) up[l] += cf[k] * wp[k * B * B + l];
        }
    /* --precision bf16: the bf16 copy alone, made while buf still holds the source (every product
     * on an operand without panels or source runs in bf16: sn_sgemm_pb); else the float32 panels */
    const bool bf = sn_cpu_use_bf16();
    sn_sgemm_packed *pk = bf ? sn_sgemm_pack_source(SN_GEMM_B, false, K, N, buf, N)
                             : sn_sgemm_pack(SN_GEMM_B, false, K, N, buf, N);
    if (!pk || (bf ? !sn_sgemm_packed_prepare_bf16(pk) || !pk->bf16 : !pk->data)) {
      sn_sgemm_packed_free(pk);
      return false;
    }
    pk->src = NULL; /* buf is scratch: the packed data alone serves (sn_wino_usable) */
    wt->pk[p] = pk;
  }
  return true;
}

bool sn_wino_weights_ready(const sn_wino_weights *wt) {
  for (int p = 0; p < SN_WINO_POINTS; p++)
    if (!wt->pk[p]) return false;
  return true;
}

void sn_wino_weights_drop_source(sn_wino_weights *wt) {
  if (!wt || !wt->u) return;
  for (int p = 0; p < SN_WINO_POINTS; p++)
    if (!wt->pk[p]->data || !sn_sgemm_packed_prepare_bf16(wt->pk[p])) return;
  for (int p = 0; p < SN_WINO_POINTS; p++) wt->pk[p]->src = NULL;
  sn_aligned_free(wt->u);
  wt->u = NULL;
}

bool sn_wino_usable(const sn_wino_weights *wt) {
  if (!wt) return false;
  if (wt->u) return true;
  const sn_sgemm_impl *im = sn_sgemm_impl_for(sn_cpu_isa());
  /* (under bf16 the GEMMs take the bf16 copies alone: sn_wino_weights_make_points) */
  if (sn_cpu_use_bf16()) return im && wt->pk[0]->bf16 && !wt->pk[0]->data;
  return im && im->isa == wt->pk[0]->isa && wt->pk[0]->data;
}

/* ---- the convolution ----------------------------------------------------------------------------- */

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

sn_wino_split sn_wino_plan(const sn_nchwc_conv_geom *g, const sn_wino_weights *wt, int threads, int64_t tg) {
  sn_wino_split s = {0};
  const int64_t B = g->block, K = g->cbi * B, N = g->cbo * B;
  s.tiles = sn_wino_tiles(g);
  if (tg <= 0) {
    /* the group's V and M (36 x tg x (K + N) floats) in about 1 MiB, at least one register tile of
     * the GEMM's rows */
    tg = (int64_t)(1 << 20) / (SN_WINO_POINTS * 4 * (K + N));
    if (tg < 16) tg = 16;
  }
  if (tg > s.tiles) tg = s.tiles;
  s.groups = cdiv(s.tiles, tg);
  s.tg = cdiv(s.tiles, s.groups);
  /* whole register tiles of the GEMM's rows (a remainder runs on the slower small-rows path) */
  const sn_sgemm_impl *im = sn_sgemm_impl_for(sn_cpu_isa());
  const int64_t mr = im ? im->mr : 1;
  if (s.tg > mr && s.tg % mr && (s.tg + mr - 1) / mr * mr <= s.tiles) {
    s.tg = (s.tg + mr - 1) / mr * mr;
    s.groups = cdiv(s.tiles, s.tg);
  }
  /* too few groups for the threads: also split the output channels (whole blocks and GEMM panels) */
  int64_t unit = sn_sgemm_pb_align(wt->pk[0]);
  while (unit % B) unit += sn_sgemm_pb_align(wt->pk[0]);
  s.col_chunks = 1;
  if (threads > 1 && s.groups < threads) s.col_chunks = cdiv(threads, s.groups);
  s.cols = cdiv(cdiv(N, s.col_chunks), unit) * unit;
  s.col_chunks = cdiv(N, s.cols);
  s.items = s.groups * s.col_chunks;
  s.ws_floats = (size_t)(SN_WINO_POINTS * s.tg * (K + N)) + sn_sgemm_workspace() / sizeof(float) + 16;
  return s;
}

void sn_wino_conv_f32(const sn_nchwc_conv_geom *g, const sn_wino_weights *wt, const sn_wino_split *s, const float *x,
                      float *y, int64_t i0, int64_t i1, float *ws) {
  SN_PROF_KERNEL(sn_wino_name(g)); /* (before its GEMMs report themselves) */
  const int64_t B = g->block, K = g->cbi * B, N = g->cbo * B;
  void *gws = ws;
  float *v = ws + sn_sgemm_workspace() / sizeof(float) + 16; /* (keeps 64-byte alignment) */
  const int64_t vps = s->tg * K;
  float *m = v + SN_WINO_POINTS * vps;
  const int64_t mps = s->tg * N;
  for (int64_t i = i0; i < i1; i++) {
    const int64_t gi = i / s->col_chunks, ci = i % s->col_chunks;
    const int64_t t0 = gi * s->tg, t1 = t0 + s->tg < s->tiles ? t0 + s->tg : s->tiles;
    const int64_t n0 = ci * s->cols, n1 = n0 + s->cols < N ? n0 + s->cols : N;
    if (t1 <= t0 || n1 <= n0) continue;
    sn_wino_input_f32(g, x, t0, t1, v, K, vps);
    for (int p = 0; p < SN_WINO_POINTS; p++)
      sn_sgemm_pb(false, t1 - t0, n0, n1, 1.f, v + p * vps, K, wt->pk[p], 0.f, m + p * mps, N, gws);
    sn_wino_output_f32(g, m, t0, t1, n0 / B, n1 / B, N, mps, y);
  }
}
