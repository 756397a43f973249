/* Unit test: INT8 conv weights prepared at load (ops/qlinear.h).
 *  - sn_qweights_unpack gives back W byte for byte from each packed form (CM: s8 rows; T: W^T packed as
 *    the GEMM's B, k = (c, tap); NHWC: the same with k = (tap, c)), s8 and u8 weights, after the source
 *    is forgotten (sn_qweights_forget_source), on awkward shapes (1, 17 and 40 output channels, 1, 3, 16
 *    and 29 input channels, 1x1, 2x3, 3x3, 5x5 kernels, sums R not a multiple of 4, channels not of 16);
 *  - sn_qweights_dwconv's int32 taps equal their definition (w - zw[m]; zero points absent, scalar,
 *    per channel, per channel all zero; s8 and u8 weights) and its s8 flag says exactly whether every
 *    tap lies in -128..127; the DW form refuses to forget its source and to unpack (it cannot give W
 *    back); a W that is not depthwise, or a zero point of the wrong size, gets no DW form; a matmul's
 *    packed B (no conv form) keeps its source too. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/tensor.h"
#include "ops/qlinear.h"
#include "check.h"

static sn_tensor *tensor_of(sn_dtype dt, int rank, const int64_t *dims) {
  sn_tensor *t = NULL;
  sn_error *e = sn_tensor_new(dt, rank, dims, &t);
  if (e || !t) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  return t;
}

static void unpack_cases(void) {
  static const int64_t Ms[] = {1, 17, 40}, Cgs[] = {1, 3, 16, 29}, ks[][2] = {{1, 1}, {2, 3}, {3, 3}, {5, 5}};
  for (int dt = 0; dt < 2; dt++)
    for (int form = SN_QFORM_CM; form <= SN_QFORM_NHWC; form++)
      for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ci = 0; ci < sizeof Cgs / sizeof *Cgs; ci++)
          for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
            int64_t dims[4] = {Ms[mi], Cgs[ci], ks[ki][0], ks[ki][1]};
            sn_tensor *w = tensor_of(dt ? SINTER_UINT8 : SINTER_INT8, 4, dims);
            uint8_t *wb = w->data;
            for (int64_t i = 0; i < w->count; i++) wb[i] = (uint8_t)next();
            wb[0] = 0x80, wb[w->count - 1] = 0x7f; /* the extremes of either type */
            sn_qweights *q = NULL;
            sn_error *e = sn_qweights_conv(w, form, &q);
            CHECK(!e && q, "packing form %d", form);
            if (!q) {
              sn_tensor_free(w);
              continue;
            }
            CHECK(sn_qweights_forget_source(q), "form %d forgets its source", form);
            uint8_t *back = xmalloc((size_t)w->count + 1);
            back[w->count] = 0xA5;
            CHECK(sn_qweights_unpack(q, back), "form %d unpacks", form);
            CHECK(!memcmp(back, wb, (size_t)w->count), "form %d %s M%lld Cg%lld %lldx%lld: W given back", form,
                  dt ? "u8" : "s8", (long long)dims[0], (long long)dims[1], (long long)dims[2], (long long)dims[3]);
            CHECK(back[w->count] == 0xA5, "nothing written past W");
            sn_free(back);
            sn_qweights_free(q);
            sn_tensor_free(w);
          }
}

/* zk: 0 none, 1 scalar, 2 per channel, 3 per channel all zero */
static void dw_case(int64_t M, int64_t KH, int64_t KW, bool wu8, int zk, bool narrow) {
  int64_t dims[4] = {M, 1, KH, KW}, K = KH * KW;
  sn_tensor *w = tensor_of(wu8 ? SINTER_UINT8 : SINTER_INT8, 4, dims);
  uint8_t *wb = w->data;
  /* narrow: taps inside s8 after the zero point (the VNNI quad path's condition) */
  for (int64_t i = 0; i < w->count; i++) wb[i] = narrow ? (uint8_t)(wu8 ? 100 + next() % 40 : next() % 60) : (uint8_t)next();
  sn_tensor *z = NULL;
  if (zk) {
    int64_t zd[1] = {zk == 1 ? 1 : M};
    z = tensor_of(wu8 ? SINTER_UINT8 : SINTER_INT8, zk == 1 ? 0 : 1, zd);
    uint8_t *zb = z->data;
    for (int64_t m = 0; m < z->count; m++) zb[m] = zk == 3 ? 0 : wu8 ? (uint8_t)(118 + next() % 5) : (uint8_t)(next() % 7);
  }
  sn_qweights *q = NULL;
  sn_error *e = sn_qweights_dwconv(w, z, &q);
  CHECK(!e && q, "depthwise form made");
  if (q) {
    CHECK(!sn_qweights_forget_source(q), "DW keeps its source");
    uint8_t tmp[8];
    CHECK(!sn_qweights_unpack(q, tmp), "DW does not unpack");
    const int32_t *taps;
    bool s8;
    sn_qweights_dw_taps(q, &taps, &s8);
    bool ok = true, fits = true;
    for (int64_t m = 0; m < M; m++)
      for (int64_t k = 0; k < K; k++) {
        int32_t wv = wu8 ? (int32_t)wb[m * K + k] : (int32_t)(int8_t)wb[m * K + k];
        int32_t zv = !z ? 0 : wu8 ? (int32_t)((uint8_t *)z->data)[z->count == 1 ? 0 : m]
                                   : (int32_t)((int8_t *)z->data)[z->count == 1 ? 0 : m];
        ok = ok && taps[m * K + k] == wv - zv;
        fits = fits && wv - zv >= -128 && wv - zv <= 127;
      }
    CHECK(ok, "DW taps M%lld %lldx%lld %s zk%d: w - zw", (long long)M, (long long)KH, (long long)KW, wu8 ? "u8" : "s8", zk);
    CHECK(s8 == fits, "DW s8 flag %d, taps fit s8 %d", s8, fits);
    if (narrow && !wu8) CHECK(s8 || zk == 0, "narrow s8 weights fit");
    sn_qweights_free(q);
  }
  sn_tensor_free(z);
  sn_tensor_free(w);
}

int main(void) {
  unpack_cases();
  static const int64_t Ms[] = {1, 3, 17, 96}, ks[][2] = {{3, 3}, {5, 5}, {1, 7}, {2, 3}};
  for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
      for (int u8 = 0; u8 < 2; u8++)
        for (int zk = 0; zk < 4; zk++)
          for (int narrow = 0; narrow < 2; narrow++) dw_case(Ms[mi], ks[ki][0], ks[ki][1], u8, zk, narrow);
  /* no DW form for a W with more than one input channel per group, or a zero point of the wrong size */
  int64_t d2[4] = {4, 2, 3, 3}, d1[4] = {4, 1, 3, 3}, zd[1] = {3};
  sn_tensor *w2 = tensor_of(SINTER_INT8, 4, d2), *w1 = tensor_of(SINTER_INT8, 4, d1), *z3 = tensor_of(SINTER_INT8, 1, zd);
  sn_qweights *q = NULL;
  CHECK(!sn_qweights_dwconv(w2, NULL, &q) && !q, "Cg 2: no DW form");
  CHECK(!sn_qweights_dwconv(w1, z3, &q) && !q, "3 zero points for 4 channels: no DW form");
  /* a matmul's packed B is no conv form: it keeps its source and does not unpack */
  int64_t bd[2] = {5, 7};
  sn_tensor *b = tensor_of(SINTER_INT8, 2, bd);
  CHECK(!sn_qweights_matmul(b, false, &q) && q, "matmul B packed");
  uint8_t tmp[64];
  CHECK(!sn_qweights_forget_source(q) && !sn_qweights_unpack(q, tmp), "matmul B keeps its source");
  sn_qweights_free(q);
  sn_tensor_free(b);
  sn_tensor_free(w2);
  sn_tensor_free(w1);
  sn_tensor_free(z3);
  return check_report("test_qweights");
}
