/* Winograd F(4x4, 3x3) vs the direct NCHWc convolution on one thread, per layer shape, interleaved
 * in one process (the machine is shared: each candidate is timed `reps` times in turn and the
 * minimum kept). Shapes: the 3x3 stride-1 layers of ResNet-50 and SqueezeNet 1.1, or one given on
 * the command line.
 *   wino_bench [reps]                 the built-in list at batch 1 and 8
 *   wino_bench reps N C M H W         one layer (pads 1)
 * Prints the direct time, Winograd time at the default tile group and at half / double of it, and
 * the ratio direct / Winograd (above 1: Winograd wins). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/alloc.h"
#include "kernels/nchwc.h"
#include "kernels/winograd.h"
#include "runtime/cpu.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *falloc(int64_t n) {
  float *p = sn_aligned_alloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  if (!p) exit(1);
  for (int64_t i = 0; i < n; i++) p[i] = (float)((i * 7919) % 1000) / 1000.f - 0.5f;
  return p;
}

static void layer(int reps, int64_t N, int64_t C, int64_t M, int64_t H, int64_t W) {
  const int64_t B = sn_cpu_isa() >= SN_ISA_AVX512 ? 16 : 8, cbi = (C + B - 1) / B, cbo = (M + B - 1) / B;
  sn_nchwc_conv_geom g = {.block = B, .in_block = B, .n = N, .cbi = cbi, .cbo = cbo, .ih = H, .iw = W, .oh = H,
                          .ow = W, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .ph = 1, .pw = 1,
                          .act = SN_NCHWC_ACT_RELU};
  float *x = falloc(N * cbi * H * W * B), *y = falloc(N * cbo * H * W * B), *bias = falloc(cbo * B);
  float *w = falloc(cbo * cbi * 9 * B * B);
  g.bias = bias;
  sn_wino_weights *wt = sn_wino_weights_create(w, cbi, cbo, B);
  if (!wt) exit(1);
  sn_wino_split s0 = sn_wino_plan(&g, wt, 1, 0);
  sn_wino_split sp[3] = {s0, sn_wino_plan(&g, wt, 1, s0.tg / 2 > 0 ? s0.tg / 2 : 1), sn_wino_plan(&g, wt, 1, s0.tg * 2)};
  size_t wsf = sp[2].ws_floats > s0.ws_floats ? sp[2].ws_floats : s0.ws_floats;
  float *ws = falloc((int64_t)wsf);
  int64_t rpi, bpi, items = sn_nchwc_conv_items(&g, &rpi, &bpi);
  double best[4] = {1e9, 1e9, 1e9, 1e9};
  for (int r = 0; r < reps; r++) {
    double t = now();
    sn_nchwc_conv_f32(&g, x, w, y, 0, items);
    t = now() - t;
    if (t < best[0]) best[0] = t;
    for (int k = 0; k < 3; k++) {
      t = now();
      sn_wino_conv_f32(&g, wt, &sp[k], x, y, 0, sp[k].items, ws);
      t = now() - t;
      if (t < best[k + 1]) best[k + 1] = t;
    }
  }
  const double gflop = 2.0 * (double)(N * M * H * W * C * 9) * 1e-9;
  printf("N%-2lld C%-4lld M%-4lld %3lldx%-3lld tiles %5lld  direct %8.3f ms (%5.1f GF/s)  wino tg %3lld %8.3f ms  "
         "tg %3lld %8.3f  tg %3lld %8.3f  direct/wino %.2f\n",
         (long long)N, (long long)C, (long long)M, (long long)H, (long long)W, (long long)s0.tiles, best[0] * 1e3,
         gflop / best[0], (long long)sp[0].tg, best[1] * 1e3, (long long)sp[1].tg, best[2] * 1e3, (long long)sp[2].tg,
         best[3] * 1e3, best[0] / best[1]);
  fflush(stdout);
  sn_wino_weights_free(wt);
  sn_aligned_free(x), sn_aligned_free(y), sn_aligned_free(bias), sn_aligned_free(w), sn_aligned_free(ws);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5;
  if (reps < 1) reps = 1;
  if (argc >= 7) {
    layer(reps, atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5]), atoll(argv[6]));
    return 0;
  }
  static const int64_t shapes[][3] = {{64, 64, 56},  {128, 128, 28}, {256, 256, 14}, {512, 512, 7},
                                      {16, 64, 55},  {32, 128, 27},  {48, 192, 13},  {64, 256, 13}};
  for (int nb = 1; nb <= 8; nb += 7)
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
      layer(reps, nb, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][2]);
  return 0;
}
