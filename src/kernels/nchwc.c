/* Blocked-layout kernels: work splitting and per-call dispatch on sn_cpu_isa() and the block. */
#include "kernels/nchwc.h"

#include "runtime/cpu.h"
#include "runtime/prof.h"

int64_t sn_nchwc_conv_items(const sn_nchwc_conv_geom *g, int64_t *rows_per_item, int64_t *blocks_per_item) {
  int64_t bpi = g->depthwise ? 1 : 4;
  if (bpi > g->cbo) bpi = g->cbo > 0 ? g->cbo : 1;
  /* rows so that an item covers at least ~128 output pixels, but keep 8+ items when there are rows */
  int64_t ow = g->ow > 0 ? g->ow : 1, oh = g->oh > 0 ? g->oh : 1;
  int64_t rpi = (128 + ow - 1) / ow;
  if (rpi > oh) rpi = oh;
  int64_t groups = (g->cbo + bpi - 1) / bpi;
  while (rpi > 1 && g->n * groups * ((oh + rpi - 1) / rpi) < 8) rpi = (rpi + 1) / 2;
  /* still too few items to share (a single row of few output blocks): fewer blocks per item */
  while (bpi > 1 && g->n * groups * ((oh + rpi - 1) / rpi) < 4) {
    bpi = (bpi + 1) / 2;
    groups = (g->cbo + bpi - 1) / bpi;
  }
  *rows_per_item = rpi;
  *blocks_per_item = bpi;
  return g->n * groups * ((oh + rpi - 1) / rpi);
}

/* 2: AVX-512 at block 16, 1: AVX2 at block 8, 0: portable */
static int path(int64_t block) {
  sn_isa isa = sn_cpu_isa();
  if (block == 16 && isa >= SN_ISA_AVX512) return 2;
  if (block == 8 && isa >= SN_ISA_AVX2) return 1;
  return 0;
}

void sn_nchwc_conv_f32(const sn_nchwc_conv_geom *g, const float *x, const float *w, float *y, int64_t t0, int64_t t1) {
  SN_PROF_KERNEL(sn_nchwc_conv_f32_name(g));
  switch (path(g->block)) {
    case 2: sn_nchwc_conv_f32_avx512(g, x, w, y, t0, t1); break;
    case 1: sn_nchwc_conv_f32_avx2(g, x, w, y, t0, t1); break;
    default: sn_nchwc_conv_f32_ref(g, x, w, y, t0, t1); break;
  }
}

const char *sn_nchwc_conv_f32_name(const sn_nchwc_conv_geom *g) {
  static const char *names[2][3] = {{"f32_nchwc_conv_ref", "f32_nchwc8_conv_avx2", "f32_nchwc16_conv_avx512"},
                                    {"f32_nchwc_dwconv_ref", "f32_nchwc8_dwconv_avx2", "f32_nchwc16_dwconv_avx512"}};
  return names[g->depthwise][path(g->block)];
}

void sn_nchwc_reorder_in_f32(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0, int64_t t1) {
  switch (path(block)) {
    case 2: sn_nchwc_reorder_in_f32_avx512(x, y, C, hw, t0, t1); break;
    case 1: sn_nchwc_reorder_in_f32_avx2(x, y, C, hw, t0, t1); break;
    default: sn_nchwc_reorder_in_f32_ref(x, y, C, hw, block, t0, t1); break;
  }
}

void sn_nchwc_reorder_out_f32(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0, int64_t t1) {
  switch (path(block)) {
    case 2: sn_nchwc_reorder_out_f32_avx512(x, y, C, hw, t0, t1); break;
    case 1: sn_nchwc_reorder_out_f32_avx2(x, y, C, hw, t0, t1); break;
    default: sn_nchwc_reorder_out_f32_ref(x, y, C, hw, block, t0, t1); break;
  }
}

void sn_nchwc_reorder_out_nhwc_f32(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0,
                                   int64_t t1) {
  switch (path(block)) {
    case 2: sn_nchwc_reorder_out_nhwc_f32_avx512(x, y, C, hw, t0, t1); break;
    case 1: sn_nchwc_reorder_out_nhwc_f32_avx2(x, y, C, hw, t0, t1); break;
    default: sn_nchwc_reorder_out_nhwc_f32_ref(x, y, C, hw, block, t0, t1); break;
  }
}

void sn_nchwc_reorder_in_nhwc_f32(const float *x, float *y, int64_t C, int64_t hw, int64_t block, int64_t t0,
                                  int64_t t1) {
  switch (path(block)) {
    case 2: sn_nchwc_reorder_in_nhwc_f32_avx512(x, y, C, hw, t0, t1); break;
    case 1: sn_nchwc_reorder_in_nhwc_f32_avx2(x, y, C, hw, t0, t1); break;
    default: sn_nchwc_reorder_in_nhwc_f32_ref(x, y, C, hw, block, t0, t1); break;
  }
}

void sn_nchwc_pool_f32(const sn_nchwc_pool_geom *g, const float *x, float *y, int64_t t0, int64_t t1) {
  switch (path(g->block)) {
    case 2: sn_nchwc_pool_f32_avx512(g, x, y, t0, t1); break;
    case 1: sn_nchwc_pool_f32_avx2(g, x, y, t0, t1); break;
    default: sn_nchwc_pool_f32_ref(g, x, y, t0, t1); break;
  }
}

void sn_nchwc_gavg_f32(const float *x, float *y, int64_t hw, int64_t block, int64_t t0, int64_t t1) {
  switch (path(block)) {
    case 2: sn_nchwc_gavg_f32_avx512(x, y, hw, t0, t1); break;
    case 1: sn_nchwc_gavg_f32_avx2(x, y, hw, t0, t1); break;
    default: sn_nchwc_gavg_f32_ref(x, y, hw, block, t0, t1); break;
  }
}

void sn_nchwc_affine_f32(const float *x, const float *a, const float *b, float *y, int64_t cb, int64_t hw,
                         int64_t block, bool relu, int64_t t0, int64_t t1) {
  switch (path(block)) {
    case 2: sn_nchwc_affine_f32_avx512(x, a, b, y, cb, hw, relu, t0, t1); break;
    case 1: sn_nchwc_affine_f32_avx2(x, a, b, y, cb, hw, relu, t0, t1); break;
    default: sn_nchwc_affine_f32_ref(x, a, b, y, cb, hw, block, relu, t0, t1); break;
  }
}
