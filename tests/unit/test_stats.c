/* Unit test of the `sinter bench` statistics (tools/stats.c) against data worked out by hand and
 * with numpy (percentile's default "linear" method, std with ddof=1). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../tools/stats.c"

static int passed, failed;

static void check_near(const char *what, double got, double want, double tol) {
  if (fabs(got - want) <= tol * (1.0 + fabs(want))) {
    passed++;
  } else {
    failed++;
    printf("FAIL %s: got %.17g, want %.17g\n", what, got, want);
  }
}

static void check_true(const char *what, int ok) {
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL %s\n", what);
  }
}

int main(void) {
  /* Five values; by hand: mean 32, deviations -17 -12 3 8 18, squares sum 830, 830 / 4 = 207.5. */
  double a[] = {35, 50, 15, 40, 20}; /* unsorted on purpose */
  double s[5];
  sn_stats st;
  sn_stats_summarize(a, 5, s, &st);
  check_true("summarize leaves input alone", a[0] == 35 && a[4] == 20);
  check_true("n", st.n == 5);
  check_near("mean", st.mean, 32.0, 1e-15);
  check_near("sum", st.sum, 160.0, 1e-15);
  check_near("std (ddof 1)", st.std, sqrt(207.5), 1e-15);
  check_near("min", st.min, 15, 0);
  check_near("max", st.max, 50, 0);
  /* rank h = 4p/100: p50 -> h 2 -> 35; p90 -> h 3.6 -> 40 + 0.6 * 10 = 46 */
  check_near("p50", st.p50, 35, 1e-15);
  check_near("p90", st.p90, 46, 1e-15);
  check_near("p95", st.p95, 48, 1e-15);
  check_near("p99", st.p99, 49.6, 1e-15);
  check_near("p99.9", st.p999, 49.96, 1e-14);
  /* sorted copy in scratch; other percentiles */
  check_true("scratch sorted", s[0] == 15 && s[1] == 20 && s[2] == 35 && s[3] == 40 && s[4] == 50);
  check_near("p0", sn_stats_percentile_sorted(s, 5, 0), 15, 0);
  check_near("p25", sn_stats_percentile_sorted(s, 5, 25), 20, 1e-15);
  check_near("p40 (h 1.6: 20 + 0.6 * 15)", sn_stats_percentile_sorted(s, 5, 40), 29, 1e-15);
  check_near("p100", sn_stats_percentile_sorted(s, 5, 100), 50, 0);
  check_near("p clamped above", sn_stats_percentile_sorted(s, 5, 150), 50, 0);
  check_near("p clamped below", sn_stats_percentile_sorted(s, 5, -3), 15, 0);

  /* Eleven values with a tie, against numpy 2.2: np.percentile(b, [50, 90, 95, 99, 99.9]),
   * b.std(ddof=1), b.mean(). */
  double b[] = {3.1, 1.2, 9.9, 4.4, 4.4, 0.5, 7.25, 2.0, 6.6, 8.0, 5.5};
  double sb[11];
  sn_stats_summarize(b, 11, sb, &st);
  check_near("b mean", st.mean, 4.804545454545455, 1e-14);
  check_near("b std", st.std, 2.9745969933298984, 1e-14);
  check_near("b p50", st.p50, 4.4, 1e-14);
  check_near("b p90", st.p90, 8.0, 1e-14);
  check_near("b p95", st.p95, 8.95, 1e-14);
  check_near("b p99", st.p99, 9.71, 1e-14);
  check_near("b p99.9", st.p999, 9.881000000000004, 1e-14);
  check_near("b min", st.min, 0.5, 0);
  check_near("b max", st.max, 9.9, 0);

  /* Large common offset: the naive sum-of-squares formula loses every digit here. */
  double c[] = {1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16};
  check_near("offset mean", sn_stats_mean(c, 4), 1e9 + 10, 1e-15);
  check_near("offset std", sn_stats_stddev(c, 4), 5.477225575051661, 1e-12);

  /* Degenerate sizes. */
  double one[] = {0.25}, s1[1];
  sn_stats_summarize(one, 1, s1, &st);
  check_true("n=1 all equal",
             st.mean == 0.25 && st.std == 0 && st.min == 0.25 && st.max == 0.25 && st.p50 == 0.25 && st.p999 == 0.25);
  sn_stats_summarize(NULL, 0, NULL, &st);
  check_true("n=0 zeros", st.n == 0 && st.mean == 0 && st.std == 0 && st.p99 == 0);
  check_near("two values p50 midpoint", sn_stats_percentile_sorted((double[]){1, 2}, 2, 50), 1.5, 0);
  double same[] = {2, 2, 2};
  check_near("constant std", sn_stats_stddev(same, 3), 0, 0);

  /* Throughput: 250 runs in 2 s = 125 runs/s; batch 8 -> 1000 samples/s; CPU 3 s over 2 s wall on
   * 2 cores = 75 %. */
  check_near("throughput", sn_stats_throughput(250, 2.0), 125.0, 1e-15);
  check_near("samples/s", sn_stats_samples_per_second(250, 8, 2.0), 1000.0, 1e-15);
  check_near("throughput of zero time", sn_stats_throughput(5, 0.0), 0.0, 0);
  check_near("cpu percent", sn_stats_cpu_percent(3.0, 2.0, 2), 75.0, 1e-15);
  check_near("cpu percent no cores", sn_stats_cpu_percent(3.0, 2.0, 0), 0.0, 0);

  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
