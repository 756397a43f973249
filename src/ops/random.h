/* The sampling helpers behind the random ops (ops/random.c): a xoshiro256** generator seeded through
 * splitmix64, uniform and normal (Box-Muller) doubles, Bernoulli and multinomial draws. Exposed so
 * that tests/unit/test_random.c can check their statistics directly. */
#ifndef SN_RANDOM_H
#define SN_RANDOM_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sn_rng {
  uint64_t s[4];
} sn_rng;

/* Seed the generator from any 64-bit value (all seeds, 0 included, give a valid state). */
void sn_rng_seed(sn_rng *r, uint64_t seed);
/* The 64-bit seed for an op's float `seed` attribute (its bit pattern, so 1.0 and 1.5 differ). */
uint64_t sn_rng_seed_from_attr(float seed);
/* A fresh seed for a node without a `seed` attribute: a per-process random value advanced on every
 * call, so successive runs and concurrent callers get different streams. Thread-safe. */
uint64_t sn_rng_auto_seed(void);

uint64_t sn_rng_next(sn_rng *r);
/* Uniform on [0, 1) with 53 random bits. */
double sn_rng_uniform(sn_rng *r);

/* n values uniform on [low, high) (high > low; high == low gives low). */
void sn_sample_uniform(sn_rng *r, double low, double high, double *out, int64_t n);
/* n values from N(mean, scale^2). */
void sn_sample_normal(sn_rng *r, double mean, double scale, double *out, int64_t n);
/* out[i] = 1 with probability p[i] (clamped to [0, 1]; NaN gives 0), else 0. */
void sn_sample_bernoulli(sn_rng *r, const double *p, uint8_t *out, int64_t n);
/* `samples` class indices drawn from the categorical distribution with unnormalized
 * log-probabilities logits[0..classes); cdf is caller scratch of `classes` doubles. Returns false
 * (writing nothing to out) when a logit is NaN or +inf, or none is finite. */
bool sn_sample_multinomial(sn_rng *r, const double *logits, int64_t classes, int64_t samples, double *cdf,
                           int64_t *out);

#endif
