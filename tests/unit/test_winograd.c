/* Unit test: Winograd F(4x4, 3x3) on the blocked layout (kernels/winograd.h) against the portable
 * direct NCHWc convolution (sn_nchwc_conv_f32_ref), at every ISA level the CPU allows (scalar, AVX2,
 * AVX-512) and blocks 4, 8 and 16, on awkward shapes: H/W not multiples of 4, 1x1 and 5x7 outputs,
 * pads 0/1/2 (also asymmetric), channels that are not a multiple of the block, batch 2, bias,
 * residual + Relu, Clip, tile groups of 1, 3 and the default, output channels split for threads,
 * weights packed at one ISA and run at another. Error is measured relative to the largest output
 * magnitude; a perturbed weight must push it past the tolerance (the check can fail). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/gemm.h"
#include "kernels/nchwc.h"
#include "kernels/winograd.h"
#include "ops/nchwc_tune.h"
#include "runtime/cpu.h"
#include "check.h"

static double worst; /* the largest error of the unperturbed cases */

static float *falloc(int64_t n) {
  float *p = sn_aligned_alloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  if (!p) {
    printf("out of memory\n");
    exit(1);
  }
  return p;
}

/* Winograd's error on float32 grows with the channel count and the transform's constants (up to
 * 8 and 1/24); relative to the largest pre-activation output it stays near 1e-5 on these shapes (256
 * input channels included); 5e-5 leaves room while a 0.02 change of one weight (about 4%) fails. */
#define TOL 5e-5

typedef struct shape {
  int64_t n, c, m, ih, iw, ph, pw, pe_h, pe_w; /* leading pads ph/pw, trailing pe_h/pe_w */
  bool bias, res;
  int act;
} shape;

/* max |a - b| / max |mag| over the whole blocked output (padded lanes included); mag: the output
 * before the activation (a Clip bounds the output but not the sums' rounding) */
static double rel_err(const float *a, const float *ref, const float *mag, int64_t count) {
  double mx = 1e-30, err = 0;
  for (int64_t i = 0; i < count; i++) {
    if (fabs(mag[i]) > mx) mx = fabs(mag[i]);
    double e = fabs((double)a[i] - ref[i]);
    if (!(e <= err)) err = e; /* NaN propagates */
  }
  return err / mx;
}

/* drop: free the plain U after packing (as the op does); the weights must then be usable at the
 * packing ISA and refused at another */
static void run_case(const shape *s, int64_t B, int isa_pack, int isa_run, int threads, int64_t tg, bool perturb,
                     bool drop) {
  const int64_t cbi = (s->c + B - 1) / B, cbo = (s->m + B - 1) / B;
  const int64_t oh = s->ih + s->ph + s->pe_h - 2, ow = s->iw + s->pw + s->pe_w - 2;
  if (oh < 1 || ow < 1) return;
  sn_nchwc_conv_geom g = {.block = B, .in_block = B, .n = s->n, .cbi = cbi, .cbo = cbo, .ih = s->ih, .iw = s->iw,
                          .oh = oh, .ow = ow, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .ph = s->ph,
                          .pw = s->pw, .act = s->act, .lo = -0.5f, .hi = 0.75f};
  const int64_t hw = s->ih * s->iw, xcount = s->n * cbi * hw * B, ycount = s->n * cbo * oh * ow * B;
  float *xn = falloc(s->n * s->c * hw), *x = falloc(xcount), *wn = falloc(s->m * s->c * 9);
  float *w = falloc(sn_nchwc_weight_size(s->m, s->c, 3, 3, B, B, false)), *bias = falloc(cbo * B);
  float *res = falloc(ycount), *y = falloc(ycount), *yref = falloc(ycount), *ymag = falloc(ycount);
  for (int64_t i = 0; i < s->n * s->c * hw; i++) xn[i] = urand();
  for (int64_t i = 0; i < s->m * s->c * 9; i++) wn[i] = urand();
  for (int64_t i = 0; i < cbo * B; i++) bias[i] = i < s->m ? urand() : 0.f;
  for (int64_t i = 0; i < ycount; i++) res[i] = (i % B) < s->m - (i / (oh * ow * B) % cbo) * B ? urand() : 0.f;
  for (int64_t n = 0; n < s->n; n++)
    sn_nchwc_reorder_in_f32(xn + n * s->c * hw, x + n * cbi * hw * B, s->c, hw, B, 0, cbi);
  sn_nchwc_pack_weight(wn, s->m, s->c, 3, 3, B, B, false, w);
  g.bias = s->bias ? bias : NULL;
  g.res = s->res ? res : NULL;
  int64_t rpi, bpi;
  sn_nchwc_conv_f32_ref(&g, x, w, yref, 0, sn_nchwc_conv_items(&g, &rpi, &bpi));
  sn_nchwc_conv_geom gm = g;
  gm.act = SN_NCHWC_ACT_NONE;
  sn_nchwc_conv_f32_ref(&gm, x, w, ymag, 0, sn_nchwc_conv_items(&gm, &rpi, &bpi));

  if (perturb) w[((cbo / 2) * cbi * 9 + 4) * B * B] += 0.02f; /* one weight (centre tap), by about 4% */
  int prev = sn_cpu_set_thread_cap(isa_pack);
  sn_wino_weights *wt = NULL;
  if (drop && isa_pack != SN_ISA_SCALAR && ((int)next() & 1)) {
    /* as the op makes them: point by point into a scratch, in two uneven shares */
    wt = sn_wino_weights_new(w, cbi, cbo, B);
    float *buf = wt ? falloc((int64_t)sn_wino_weights_buf_floats(wt)) : NULL;
    bool ok = wt && sn_wino_weights_make_points(wt, 0, 13, buf) && !sn_wino_weights_ready(wt) &&
              sn_wino_weights_make_points(wt, 13, SN_WINO_POINTS, buf) && sn_wino_weights_ready(wt);
    if (buf) sn_aligned_free(buf);
    if (!ok) {
      printf("FAIL making the points one by one\n");
      exit(1);
    }
  } else {
    wt = sn_wino_weights_create(w, cbi, cbo, B);
    if (wt && drop) sn_wino_weights_drop_source(wt);
  }
  if (!wt) {
    printf("out of memory\n");
    exit(1);
  }
  sn_cpu_set_thread_cap(isa_run);
  const bool usable = sn_wino_usable(wt), want_usable = !drop || isa_pack == isa_run || isa_pack == SN_ISA_SCALAR;
  if (usable != want_usable) {
    failed++;
    printf("FAIL usable %d, want %d (isa %d/%d, drop %d)\n", usable, want_usable, isa_pack, isa_run, drop);
  }
  if (!usable) { /* (refused as it should be) */
    if (usable == want_usable) passed++;
    sn_cpu_set_thread_cap(prev);
    sn_wino_weights_free(wt);
    sn_aligned_free(xn), sn_aligned_free(x), sn_aligned_free(wn), sn_aligned_free(w), sn_aligned_free(bias);
    sn_aligned_free(res), sn_aligned_free(y), sn_aligned_free(yref), sn_aligned_free(ymag);
    return;
  }
  sn_wino_split sp = sn_wino_plan(&g, wt, threads, tg);
  float *ws = falloc((int64_t)sp.ws_floats);
  for (int64_t i = 0; i < ycount; i++) y[i] = NAN;
  /* items in two uneven halves, as two workers would */
  sn_wino_conv_f32(&g, wt, &sp, x, y, 0, sp.items / 3, ws);
  sn_wino_conv_f32(&g, wt, &sp, x, y, sp.items / 3, sp.items, ws);
  sn_cpu_set_thread_cap(prev);
  double e = rel_err(y, yref, ymag, ycount);
  if (!perturb && !(e <= worst)) worst = e;
  bool ok = perturb ? e > TOL : e <= TOL;
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL %s: n%lld c%lld m%lld %lldx%lld pads %lld,%lld/%lld,%lld bias %d res %d act %d B %lld isa %d/%d "
           "threads %d tg %lld (items %lld, cols %lld): rel err %.3g\n",
           perturb ? "perturbed weight not detected" : "mismatch", (long long)s->n, (long long)s->c, (long long)s->m,
           (long long)s->ih, (long long)s->iw, (long long)s->ph, (long long)s->pw, (long long)s->pe_h,
           (long long)s->pe_w, s->bias, s->res, s->act, (long long)B, isa_pack, isa_run, threads, (long long)tg,
           (long long)sp.items, (long long)sp.cols, e);
  }
  sn_wino_weights_free(wt);
  sn_aligned_free(ws);
  sn_aligned_free(xn), sn_aligned_free(x), sn_aligned_free(wn), sn_aligned_free(w), sn_aligned_free(bias);
  sn_aligned_free(res), sn_aligned_free(y), sn_aligned_free(yref), sn_aligned_free(ymag);
}

/* the tuning cache: a file with good and broken lines is read, new choices are appended */
static void check_tune_cache(void) {
  char path[] = "/tmp/sinter_test_tune_XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    printf("FAIL tune: cannot make a temporary file\n");
    failed++;
    return;
  }
  fprintf(f, "1 shape a\n0 shape b\ngarbage\n7 shape c\n1\n0 shape d");
  fclose(f);
  setenv("SINTER_TUNE_FILE", path, 1);
  bool ok = sn_tune_enabled() && sn_tune_lookup("shape a") == 1 && sn_tune_lookup("shape b") == 0 &&
            sn_tune_lookup("shape c") == -1 && sn_tune_lookup("shape d") == 0 && sn_tune_lookup("shape e") == -1;
  sn_tune_store("shape e", 1);
  ok = ok && sn_tune_lookup("shape e") == 1;
  char line[256] = "";
  f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f)) {
  }
  if (f) fclose(f);
  ok = ok && !strcmp(line, "1 shape e\n");
  unsetenv("SINTER_TUNE_FILE");
  remove(path);
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL tune cache (last line '%s')\n", line);
  }
}

int main(void) {
  check_tune_cache();
  const shape shapes[] = {
      {1, 8, 8, 8, 8, 1, 1, 1, 1, false, false, SN_NCHWC_ACT_NONE},
      {1, 3, 5, 1, 1, 1, 1, 1, 1, true, false, SN_NCHWC_ACT_NONE},      /* 1x1 spatial */
      {1, 17, 13, 5, 7, 1, 1, 1, 1, true, true, SN_NCHWC_ACT_RELU},     /* 5x7 */
      {2, 20, 33, 13, 11, 0, 0, 0, 0, true, false, SN_NCHWC_ACT_CLIP},  /* no pads, 11x9 out */
      {2, 16, 16, 9, 10, 2, 2, 2, 2, true, true, SN_NCHWC_ACT_RELU},    /* pads 2 */
      {1, 40, 24, 7, 7, 1, 0, 2, 1, false, true, SN_NCHWC_ACT_NONE},    /* asymmetric pads */
      {1, 64, 64, 14, 14, 1, 1, 1, 1, true, true, SN_NCHWC_ACT_RELU},   /* a ResNet-like layer */
      {1, 131, 67, 23, 19, 1, 1, 1, 1, true, false, SN_NCHWC_ACT_RELU}, /* primes, many tiles */
      {1, 256, 48, 6, 6, 1, 1, 1, 1, true, false, SN_NCHWC_ACT_NONE},   /* long sums */
  };
  const int ns = (int)(sizeof shapes / sizeof shapes[0]);
  const sn_cpu *cpu = sn_cpu_info();
  int isas[3] = {SN_ISA_SCALAR}, n_isa = 1;
  if (cpu->avx2 && cpu->fma) isas[n_isa++] = SN_ISA_AVX2;
  if (cpu->avx512f && cpu->avx512bw && cpu->avx512vl && cpu->avx512dq) isas[n_isa++] = SN_ISA_AVX512;
  /* SINTER_ISA caps what this process may use (CI runs the suite at avx2 and scalar too) */
  while (n_isa > 1 && isas[n_isa - 1] > (int)sn_cpu_isa()) n_isa--;
  const int64_t blocks[3] = {4, 8, 16};
  for (int si = 0; si < ns; si++)
    for (int bi = 0; bi < 3; bi++)
      for (int ii = 0; ii < n_isa; ii++) {
        const shape *s = &shapes[si];
        run_case(s, blocks[bi], isas[ii], isas[ii], 1, 0, false, true);
        run_case(s, blocks[bi], isas[ii], isas[ii], 4, 3, false, false); /* small groups, split columns */
        run_case(s, blocks[bi], isas[ii], isas[ii], 2, 1, false, true);
      }
  /* packed at the best ISA, run at a lower one (a session's ISA cap): the GEMM uses the source */
  for (int si = 0; si < ns; si++)
    if (n_isa > 1) {
      run_case(&shapes[si], 16, isas[n_isa - 1], SN_ISA_SCALAR, 1, 0, false, false);
      run_case(&shapes[si], 8, isas[n_isa - 1], isas[n_isa - 2], 1, 0, false, false);
      run_case(&shapes[si], 16, isas[n_isa - 1], SN_ISA_SCALAR, 1, 0, false, true); /* refused */
    }
  /* negative control: a 0.1% change of one weight must fail the tolerance */
  for (int ii = 0; ii < n_isa; ii++) {
    run_case(&shapes[6], 16, isas[ii], isas[ii], 1, 0, true, false);
    run_case(&shapes[2], 8, isas[ii], isas[ii], 1, 0, true, true);
  }
  /* point by point needs a packed GEMM: refused at the scalar level */
  {
    float wz[9 * 64] = {0}, buf[64];
    int prev = sn_cpu_set_thread_cap(SN_ISA_SCALAR);
    sn_wino_weights *wt = sn_wino_weights_new(wz, 1, 1, 8);
    bool made = wt && sn_wino_weights_make_points(wt, 0, 1, buf);
    sn_cpu_set_thread_cap(prev);
    if (wt && !made && !sn_wino_weights_ready(wt)) {
      passed++;
    } else {
      failed++;
      printf("FAIL point by point at the scalar level\n");
    }
    sn_wino_weights_free(wt);
  }
  /* eligibility */
  sn_nchwc_conv_geom g = {.block = 16, .in_block = 16, .n = 1, .cbi = 1, .cbo = 1, .ih = 8, .iw = 8, .oh = 8,
                          .ow = 8, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .ph = 1, .pw = 1};
  bool e0 = sn_wino_eligible(&g);
  g.sh = 2;
  bool e1 = sn_wino_eligible(&g);
  g.sh = 1, g.depthwise = true;
  bool e2 = sn_wino_eligible(&g);
  g.depthwise = false, g.kw = 5;
  bool e3 = sn_wino_eligible(&g);
  g.kw = 3, g.in_block = 1;
  bool e4 = sn_wino_eligible(&g);
  if (e0 && !e1 && !e2 && !e3 && !e4) {
    passed++;
  } else {
    failed++;
    printf("FAIL eligibility %d %d %d %d %d\n", e0, e1, e2, e3, e4);
  }
  printf("test_winograd: %d passed, %d failed, largest relative error %.3g (ISA levels:", passed, failed, worst);
  for (int ii = 0; ii < n_isa; ii++) printf(" %s", sn_isa_name((sn_isa)isas[ii]));
  printf(")\n");
  return failed ? 1 : 0;
}
