/* Unit tests of the random ops' sampling helpers (ops/random.h): uniform and normal moments, Bernoulli
 * and multinomial frequencies within statistical bounds (5 standard errors, fixed seeds so the run is
 * deterministic), reproducibility with a fixed seed, and the edge cases. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/random.h"
#include "check.h"

/* |got - want| within k standard errors, reporting the numbers when not */
static bool near(const char *what, double got, double want, double se, double k) {
  bool ok = fabs(got - want) <= k * se;
  if (!ok) fprintf(stderr, "  %s: got %.6g, expected %.6g +- %.3g\n", what, got, want, k * se);
  return ok;
}

enum { N = 1000000 };

static void moments(const double *x, int64_t n, double *mean, double *var) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += x[i];
  double m = s / (double)n, v = 0;
  for (int64_t i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
  *mean = m;
  *var = v / (double)(n - 1);
}

static void test_reproducible(void) {
  sn_rng a, b, c;
  sn_rng_seed(&a, 42);
  sn_rng_seed(&b, 42);
  sn_rng_seed(&c, 43);
  bool same = true, differ = false;
  for (int i = 0; i < 1000; i++) {
    uint64_t x = sn_rng_next(&a), y = sn_rng_next(&b), z = sn_rng_next(&c);
    same &= x == y;
    differ |= x != z;
  }
  CHECK(same);
  CHECK(differ);

  /* the same attribute seed gives the same samples; nearby seeds do not */
  double u1[64], u2[64], u3[64];
  sn_rng_seed(&a, sn_rng_seed_from_attr(0.0f));
  sn_sample_normal(&a, 0, 1, u1, 64);
  sn_rng_seed(&a, sn_rng_seed_from_attr(0.0f));
  sn_sample_normal(&a, 0, 1, u2, 64);
  sn_rng_seed(&a, sn_rng_seed_from_attr(1.0f));
  sn_sample_normal(&a, 0, 1, u3, 64);
  CHECK(memcmp(u1, u2, sizeof u1) == 0);
  CHECK(memcmp(u1, u3, sizeof u1) != 0);
  CHECK(sn_rng_seed_from_attr(1.0f) != sn_rng_seed_from_attr(1.5f));

  /* seed 0 must not give the all-zero (stuck) state */
  sn_rng_seed(&a, 0);
  uint64_t x0 = sn_rng_next(&a), x1 = sn_rng_next(&a);
  CHECK(x0 != 0 || x1 != 0);
  CHECK(x0 != x1);

  /* automatic seeds differ call to call */
  uint64_t s1 = sn_rng_auto_seed(), s2 = sn_rng_auto_seed(), s3 = sn_rng_auto_seed();
  CHECK(s1 != s2 && s2 != s3 && s1 != s3);
}

static void test_uniform(double *x) {
  sn_rng r;
  sn_rng_seed(&r, 1234);
  bool in_range = true;
  for (int i = 0; i < 1000; i++) {
    double u = sn_rng_uniform(&r);
    in_range &= u >= 0.0 && u < 1.0;
  }
  CHECK(in_range);

  const double lo = -2.0, hi = 3.0, w = hi - lo;
  sn_sample_uniform(&r, lo, hi, x, N);
  in_range = true;
  for (int i = 0; i < N; i++) in_range &= x[i] >= lo && x[i] < hi;
  CHECK(in_range);
  double m, v;
  moments(x, N, &m, &v);
  double var = w * w / 12.0;
  CHECK(near("uniform mean", m, (lo + hi) / 2, sqrt(var / N), 5));
  /* Var of (x - mu)^2 for a uniform: w^4/80 - (w^2/12)^2 */
  CHECK(near("uniform variance", v, var, sqrt((pow(w, 4) / 80.0 - var * var) / N), 5));
  /* ten equal bins, each with probability 0.1 */
  int64_t bins[10] = {0};
  for (int i = 0; i < N; i++) {
    int b = (int)((x[i] - lo) / w * 10);
    bins[b < 0 ? 0 : b > 9 ? 9 : b]++;
  }
  bool bins_ok = true;
  for (int b = 0; b < 10; b++) bins_ok &= near("uniform bin", (double)bins[b] / N, 0.1, sqrt(0.09 / N), 5);
  CHECK(bins_ok);

  /* high == low gives low */
  double y[8];
  sn_sample_uniform(&r, 1.5, 1.5, y, 8);
  bool all = true;
  for (int i = 0; i < 8; i++) all &= y[i] == 1.5;
  CHECK(all);
}

static void test_normal(double *x) {
  sn_rng r;
  sn_rng_seed(&r, 99);
  const double mean = 2.0, scale = 3.0;
  sn_sample_normal(&r, mean, scale, x, N);
  bool finite = true;
  for (int i = 0; i < N; i++) finite &= isfinite(x[i]);
  CHECK(finite);
  double m, v;
  moments(x, N, &m, &v);
  CHECK(near("normal mean", m, mean, scale / sqrt(N), 5));
  CHECK(near("normal variance", v, scale * scale, sqrt(2.0) * scale * scale / sqrt(N), 5));
  /* shape: mass within one and two standard deviations, and the fourth moment */
  int64_t in1 = 0, in2 = 0;
  double m4 = 0;
  for (int i = 0; i < N; i++) {
    double z = (x[i] - mean) / scale;
    in1 += fabs(z) < 1;
    in2 += fabs(z) < 2;
    m4 += z * z * z * z;
  }
  const double p1 = 0.682689492137, p2 = 0.954499736104;
  CHECK(near("normal P(|z|<1)", (double)in1 / N, p1, sqrt(p1 * (1 - p1) / N), 5));
  CHECK(near("normal P(|z|<2)", (double)in2 / N, p2, sqrt(p2 * (1 - p2) / N), 5));
  /* E[z^4] = 3, Var[z^4] = 105 - 9 = 96 */
  CHECK(near("normal kurtosis", m4 / N, 3.0, sqrt(96.0 / N), 5));

  /* odd counts fill the last element too */
  double y[3] = {NAN, NAN, NAN};
  sn_sample_normal(&r, 0, 1, y, 3);
  CHECK(isfinite(y[0]) && isfinite(y[1]) && isfinite(y[2]));
}

static void test_bernoulli(double *p) {
  sn_rng r;
  sn_rng_seed(&r, 7);
  uint8_t *out = malloc(N);
  if (!out) {
    CHECK(!"out of memory");
    return;
  }
  const double probs[] = {0.3, 0.5, 0.95};
  for (int k = 0; k < 3; k++) {
    for (int i = 0; i < N; i++) p[i] = probs[k];
    sn_sample_bernoulli(&r, p, out, N);
    int64_t ones = 0;
    bool binary = true;
    for (int i = 0; i < N; i++) {
      ones += out[i];
      binary &= out[i] <= 1;
    }
    CHECK(binary);
    CHECK(near("bernoulli frequency", (double)ones / N, probs[k], sqrt(probs[k] * (1 - probs[k]) / N), 5));
  }
  /* p = 0 and p = 1 are certain; out-of-range values clamp; NaN gives 0 */
  double edge[6] = {0.0, 1.0, -0.5, 1.5, NAN, 0.0};
  bool ok = true;
  for (int rep = 0; rep < 1000; rep++) {
    uint8_t o[6];
    sn_sample_bernoulli(&r, edge, o, 6);
    ok &= o[0] == 0 && o[1] == 1 && o[2] == 0 && o[3] == 1 && o[4] == 0 && o[5] == 0;
  }
  CHECK(ok);
  free(out);
}

static void test_multinomial(void) {
  sn_rng r;
  sn_rng_seed(&r, 2024);
  enum { K = 5, S = 400000 };
  const double probs[K] = {0.1, 0.2, 0.3, 0.4, 0.0};
  double logits[K], cdf[K];
  /* unnormalized: shifting every logit by a constant changes nothing */
  for (int k = 0; k < K; k++) logits[k] = log(probs[k]) + 17.0;
  int64_t *out = malloc(sizeof(int64_t) * S);
  if (!out) {
    CHECK(!"out of memory");
    return;
  }
  CHECK(sn_sample_multinomial(&r, logits, K, S, cdf, out));
  int64_t counts[K] = {0};
  bool valid = true;
  for (int s = 0; s < S; s++) {
    valid &= out[s] >= 0 && out[s] < K;
    if (out[s] >= 0 && out[s] < K) counts[out[s]]++;
  }
  CHECK(valid);
  bool freq_ok = true;
  for (int k = 0; k < K - 1; k++)
    freq_ok &= near("multinomial frequency", (double)counts[k] / S, probs[k], sqrt(probs[k] * (1 - probs[k]) / S), 5);
  CHECK(freq_ok);
  CHECK(counts[K - 1] == 0); /* log(0) = -inf: never drawn */

  /* one class, and a huge logit gap */
  double one = 3.0, one_cdf;
  int64_t o1[16];
  CHECK(sn_sample_multinomial(&r, &one, 1, 16, &one_cdf, o1));
  bool zeros = true;
  for (int i = 0; i < 16; i++) zeros &= o1[i] == 0;
  CHECK(zeros);
  double gap[3] = {-1000.0, 0.0, -1000.0}, gap_cdf[3];
  CHECK(sn_sample_multinomial(&r, gap, 3, 16, gap_cdf, o1));
  bool ones = true;
  for (int i = 0; i < 16; i++) ones &= o1[i] == 1;
  CHECK(ones);

  /* NaN, +inf, or no finite logit: refused */
  double bad1[2] = {0.0, NAN}, bad2[2] = {-INFINITY, -INFINITY}, bad3[2] = {INFINITY, 0.0}, bc[2];
  CHECK(!sn_sample_multinomial(&r, bad1, 2, 4, bc, o1));
  CHECK(!sn_sample_multinomial(&r, bad2, 2, 4, bc, o1));
  CHECK(!sn_sample_multinomial(&r, bad3, 2, 4, bc, o1));

  /* reproducible with a fixed seed */
  int64_t a[64], b[64];
  sn_rng_seed(&r, 5);
  sn_sample_multinomial(&r, logits, K, 64, cdf, a);
  sn_rng_seed(&r, 5);
  sn_sample_multinomial(&r, logits, K, 64, cdf, b);
  CHECK(memcmp(a, b, sizeof a) == 0);
  free(out);
}

int main(void) {
  double *buf = malloc(sizeof(double) * N);
  if (!buf) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  test_reproducible();
  test_uniform(buf);
  test_normal(buf);
  test_bernoulli(buf);
  test_multinomial();
  free(buf);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
