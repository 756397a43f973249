/* Latency statistics for `sinter bench` (pure functions over arrays of doubles; see stats.h). */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double sn_stats_mean(const double *x, size_t n) {
  if (n == 0) return 0.0;
  /* running mean: no overflow for huge sums, exact for constant data */
  double m = 0.0;
  for (size_t i = 0; i < n; i++) m += (x[i] - m) / (double)(i + 1);
  return m;
}

double sn_stats_stddev(const double *x, size_t n) {
  if (n < 2) return 0.0;
  /* Welford's update: numerically stable for samples with a large common offset */
  double m = 0.0, m2 = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = x[i] - m;
    m += d / (double)(i + 1);
    m2 += d * (x[i] - m);
  }
  return sqrt(m2 / (double)(n - 1));
}

double sn_stats_min(const double *x, size_t n) {
  if (n == 0) return 0.0;
  double v = x[0];
  for (size_t i = 1; i < n; i++)
    if (x[i] < v) v = x[i];
  return v;
}

double sn_stats_max(const double *x, size_t n) {
  if (n == 0) return 0.0;
  double v = x[0];
  for (size_t i = 1; i < n; i++)
    if (x[i] > v) v = x[i];
  return v;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void sn_stats_sort(double *x, size_t n) {
  if (n > 1) qsort(x, n, sizeof *x, cmp_double);
}

double sn_stats_percentile_sorted(const double *s, size_t n, double p) {
  if (n == 0) return 0.0;
  if (!(p > 0.0)) p = 0.0; /* also maps NaN to 0 */
  if (p > 100.0) p = 100.0;
  double h = (double)(n - 1) * p / 100.0;
  size_t lo = (size_t)floor(h);
  if (lo >= n - 1) return s[n - 1];
  double frac = h - (double)lo;
  return s[lo] + frac * (s[lo + 1] - s[lo]);
}

void sn_stats_summarize(const double *x, size_t n, double *scratch, sn_stats *out) {
  memset(out, 0, sizeof *out);
  out->n = n;
  if (n == 0) return;
  memcpy(scratch, x, n * sizeof *x);
  sn_stats_sort(scratch, n);
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) sum += x[i];
  out->sum = sum;
  out->mean = sn_stats_mean(x, n);
  out->std = sn_stats_stddev(x, n);
  out->min = scratch[0];
  out->max = scratch[n - 1];
  out->p50 = sn_stats_percentile_sorted(scratch, n, 50.0);
  out->p90 = sn_stats_percentile_sorted(scratch, n, 90.0);
  out->p95 = sn_stats_percentile_sorted(scratch, n, 95.0);
  out->p99 = sn_stats_percentile_sorted(scratch, n, 99.0);
  out->p999 = sn_stats_percentile_sorted(scratch, n, 99.9);
}

double sn_stats_throughput(size_t runs, double seconds) { return seconds > 0.0 ? (double)runs / seconds : 0.0; }

double sn_stats_samples_per_second(size_t runs, int64_t batch, double seconds) {
  return seconds > 0.0 ? (double)runs * (double)batch / seconds : 0.0;
}

double sn_stats_cpu_percent(double cpu_seconds, double wall_seconds, int cores) {
  if (!(wall_seconds > 0.0) || cores <= 0) return 0.0;
  return cpu_seconds / (wall_seconds * (double)cores) * 100.0;
}
