/* NCHW <-> blocked (NCHWc) reorders shared by reorder_avx512.c (block 16) and reorder_avx2.c (block 8):
 * a tile of RB pixels x RB channels is RB vector loads, one in-register transpose and RB vector
 * stores, each contiguous on both sides (the portable loops move one float at a time, across RB
 * planes). Pixels past the last whole tile take the portable loops' path, element by element.
 * The including file defines RB, RV (vector type), RLOAD, RSTORE, RZERO, RTRANSPOSE(v) (in place,
 * RV v[RB]) and the four function names R_IN, R_OUT, R_OUT_NHWC, R_IN_NHWC. */
#ifndef SN_REORDER_SIMD_H
#define SN_REORDER_SIMD_H

#include <stdint.h>
#include <string.h>

void R_IN(const float *x, float *y, int64_t C, int64_t hw, int64_t t0, int64_t t1) {
  const int64_t cb = (C + RB - 1) / RB;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / cb, b = t % cb, lanes = C - b * RB < RB ? C - b * RB : RB;
    const float *xc = x + (n * C + b * RB) * hw;
    float *yb = y + t * hw * RB;
    int64_t p0 = 0;
    for (; p0 + RB <= hw; p0 += RB) {
      RV v[RB];
      for (int l = 0; l < RB; l++) v[l] = l < lanes ? RLOAD(xc + l * hw + p0) : RZERO();
      RTRANSPOSE(v);
      for (int i = 0; i < RB; i++) RSTORE(yb + (p0 + i) * RB, v[i]);
    }
    for (int64_t p = p0; p < hw; p++)
      for (int64_t l = 0; l < RB; l++) yb[p * RB + l] = l < lanes ? xc[l * hw + p] : 0.f;
  }
}

void R_OUT(const float *x, float *y, int64_t C, int64_t hw, int64_t t0, int64_t t1) {
  const int64_t cb = (C + RB - 1) / RB;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / cb, b = t % cb, lanes = C - b * RB < RB ? C - b * RB : RB;
    const float *xb = x + t * hw * RB;
    float *yc = y + (n * C + b * RB) * hw;
    int64_t p0 = 0;
    for (; p0 + RB <= hw; p0 += RB) {
      RV v[RB];
      for (int i = 0; i < RB; i++) v[i] = RLOAD(xb + (p0 + i) * RB);
      RTRANSPOSE(v);
      for (int l = 0; l < lanes; l++) RSTORE(yc + l * hw + p0, v[l]);
    }
    for (int64_t l = 0; l < lanes; l++)
      for (int64_t p = p0; p < hw; p++) yc[l * hw + p] = xb[p * RB + l];
  }
}

/* blocked -> NHWC: each pixel's blocks are whole vectors (the last one cropped to C) */
void R_OUT_NHWC(const float *x, float *y, int64_t C, int64_t hw, int64_t t0, int64_t t1) {
  const int64_t cb = (C + RB - 1) / RB, full = C / RB;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / hw, p = t % hw;
    float *yp = y + t * C;
    const float *xp = x + (n * cb * hw + p) * RB;
    int64_t b = 0;
    for (; b < full; b++) RSTORE(yp + b * RB, RLOAD(xp + b * hw * RB));
    if (b < cb) memcpy(yp + b * RB, xp + b * hw * RB, sizeof(float) * (size_t)(C - b * RB));
  }
}

/* NHWC -> blocked: each pixel's channels are whole vectors; the last block's padding zeroed */
void R_IN_NHWC(const float *x, float *y, int64_t C, int64_t hw, int64_t t0, int64_t t1) {
  const int64_t cb = (C + RB - 1) / RB, full = C / RB;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n = t / hw, p = t % hw;
    const float *xp = x + t * C;
    float *yp = y + (n * cb * hw + p) * RB;
    int64_t b = 0;
    for (; b < full; b++) RSTORE(yp + b * hw * RB, RLOAD(xp + b * RB));
    if (b < cb) {
      float tail[RB] = {0};
      memcpy(tail, xp + b * RB, sizeof(float) * (size_t)(C - b * RB));
      RSTORE(yp + b * hw * RB, RLOAD(tail));
    }
  }
}

#endif
