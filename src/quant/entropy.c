/* Entropy calibration (TensorRT's KL-divergence method, as onnxruntime's CalibrationMethod.Entropy):
 * pick the clipping threshold whose clipped-and-quantized distribution loses the least information
 * against the clipped reference distribution. */
#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "quant/quant.h"

/* onnxruntime's smoothing: move a little mass onto empty bins so KL stays finite. p sums to 1. */
static void smooth(double *p, int n) {
  const double eps = 1e-4;
  int zeros = 0;
  for (int i = 0; i < n; i++) zeros += p[i] == 0.0;
  int nz = n - zeros;
  if (!zeros || !nz) return;
  double eps1 = eps * (double)zeros / (double)nz;
  for (int i = 0; i < n; i++) p[i] = p[i] == 0.0 ? eps : p[i] - eps1;
}

static double kl(const double *p, const double *q, int n) {
  double s = 0.0;
  for (int i = 0; i < n; i++)
    if (p[i] > 0.0) s += p[i] * log(p[i] / (q[i] > 1e-300 ? q[i] : 1e-300));
  return s;
}

double sn_quant_entropy_threshold(const uint64_t *hist, int n_bins, double amax, int levels) {
  if (n_bins <= 0 || !(amax > 0.0)) return amax;
  if (levels < 2) levels = 2;
  if (n_bins <= levels) return amax;
  double *p = sn_malloc(sizeof(double) * (size_t)n_bins), *q = sn_malloc(sizeof(double) * (size_t)n_bins);
  if (!p || !q) {
    sn_free(p);
    sn_free(q);
    return amax;
  }
  uint64_t total = 0;
  for (int i = 0; i < n_bins; i++) total += hist[i];
  double best = INFINITY;
  int best_i = n_bins;
  for (int i = levels; i <= n_bins && total; i++) {
    /* P: the first i bins, everything beyond folded into bin i-1 */
    double outl = 0.0;
    for (int k = i; k < n_bins; k++) outl += (double)hist[k];
    for (int k = 0; k < i; k++) p[k] = (double)hist[k];
    p[i - 1] += outl;
    /* Q: the first i bins (without the outliers) merged into `levels` groups, each group's mass
     * spread evenly over its non-empty bins */
    for (int j = 0; j < levels; j++) {
      int a = (int)((int64_t)j * i / levels), b = (int)((int64_t)(j + 1) * i / levels);
      double sum = 0.0;
      int nz = 0;
      for (int k = a; k < b; k++) {
        sum += (double)hist[k];
        nz += hist[k] != 0;
      }
      for (int k = a; k < b; k++) q[k] = hist[k] && nz ? sum / nz : 0.0;
    }
    double sp = 0.0, sq = 0.0;
    for (int k = 0; k < i; k++) {
      sp += p[k];
      sq += q[k];
    }
    if (sp <= 0.0 || sq <= 0.0) continue;
    for (int k = 0; k < i; k++) {
      p[k] /= sp;
      q[k] /= sq;
    }
    smooth(p, i);
    smooth(q, i);
    double d = kl(p, q, i);
    if (d < best) {
      best = d;
      best_i = i;
    }
  }
  sn_free(p);
  sn_free(q);
  return amax * (double)best_i / (double)n_bins;
}
