/* Vectorizable exp: range reduction by ln2 (Cody-Waite), degree-6 polynomial, exponent by bits. */
#include "kernels/ref/vmath_ref.h"

/* FP compares may not be if-converted while traps are honoured; these loops never rely on traps. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <math.h>
#include <string.h>

#if defined(__GNUC__)
#define SN_UNROLL8 _Pragma("GCC unroll 8")
#else
#define SN_UNROLL8
#endif

/* exp(x) for one lane; written branch-free so the loops below vectorize. Above ~88.376 (exp > 2^127.5)
 * it returns inf, slightly early (exp is finite up to 88.72); callers subtract a maximum first. */
static inline float vexp1(float x) {
  const float hi = 88.3762626647949f, lo = -87.3365447504f; /* beyond: inf / 0 */
  float xc = x > hi ? hi : x;
  xc = xc < lo ? lo : xc;
  /* round to nearest with the 1.5 * 2^23 trick (SSE2 has no vector floor) */
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = (int32_t)n + 127;
  uint32_t bits = (uint32_t)e << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  float v = p * scale;
  v = x > hi ? INFINITY : v;
  v = x < lo ? 0.0f : v;
  v = x != x ? x : v; /* NaN */
  return v;
}

float sn_vexp_shift_sum_f32(const float *x, float *y, int64_t n, float shift) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    SN_UNROLL8 for (int u = 0; u < 8; u++) {
      float v = vexp1(x[i + u] - shift);
      y[i + u] = v;
      acc[u] += v;
    }
  }
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; i++) {
    float v = vexp1(x[i] - shift);
    y[i] = v;
    s += v;
  }
  return s;
}

float sn_vexp_shift_sumonly_f32(const float *x, int64_t n, float shift) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    SN_UNROLL8 for (int u = 0; u < 8; u++) acc[u] += vexp1(x[i + u] - shift);
  }
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; i++) s += vexp1(x[i] - shift);
  return s;
}
