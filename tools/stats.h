/* Latency statistics for `sinter bench`: mean, sample standard deviation, extremes, percentiles
 * (linear interpolation between closest ranks, as numpy.percentile's default) and throughput. */
#ifndef SN_STATS_H
#define SN_STATS_H

#include <stddef.h>
#include <stdint.h>

/* The summary of n samples (seconds, for latencies). All fields are 0 when n == 0. */
typedef struct sn_stats {
  size_t n;
  double sum, mean, std, min, max;
  double p50, p90, p95, p99, p999;
} sn_stats;

/* Arithmetic mean; 0 for n == 0. */
double sn_stats_mean(const double *x, size_t n);
/* Sample standard deviation (divides by n - 1, like numpy.std(ddof=1)); 0 for n < 2. */
double sn_stats_stddev(const double *x, size_t n);
double sn_stats_min(const double *x, size_t n); /* 0 for n == 0 */
double sn_stats_max(const double *x, size_t n); /* 0 for n == 0 */
/* Sort ascending, in place. */
void sn_stats_sort(double *x, size_t n);
/* The p-th percentile (p in [0, 100], clamped) of ascending-sorted data: rank h = (n - 1) * p / 100,
 * value x[floor h] + (h - floor h) * (x[floor h + 1] - x[floor h]) (numpy's "linear" method).
 * 0 for n == 0. */
double sn_stats_percentile_sorted(const double *sorted, size_t n, double p);
/* Summarize x (left unchanged); scratch must hold n doubles (it receives the sorted copy; it may
 * be NULL when n == 0). */
void sn_stats_summarize(const double *x, size_t n, double *scratch, sn_stats *out);
/* Runs per second: runs / seconds (0 when seconds <= 0). */
double sn_stats_throughput(size_t runs, double seconds);
/* Samples per second: runs * batch / seconds (0 when seconds <= 0). */
double sn_stats_samples_per_second(size_t runs, int64_t batch, double seconds);
/* Average CPU use over all cores, percent: cpu_seconds / (wall_seconds * cores) * 100. */
double sn_stats_cpu_percent(double cpu_seconds, double wall_seconds, int cores);

#endif
