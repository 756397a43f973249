/* Row-wise float32 layer normalization with an optional fused residual ("skip") and bias add,
 * dispatched by ISA (AVX-512 > AVX2+FMA > portable C).
 *
 * For each of `rows` contiguous rows of n elements:
 *   s = x + skip + bias                       (skip: a row-aligned tensor like x, bias: n values; both optional)
 *   y = (s - mean(s)) / sqrt(var(s) + eps) * gamma + beta      (beta optional)
 * sum (optional) receives s; mean / inv_std (optional) receive one value per row. y may equal x or
 * skip (each element is read before it is written); other arrays must not overlap.
 * Mean and variance are two-pass (the variance of the centred values), accumulated in float32 by
 * the vector kernels and in double by the reference; tests/unit/test_layernorm.c bounds the gap. */
#ifndef SN_LAYERNORM_H
#define SN_LAYERNORM_H

#include <stdint.h>

#include "runtime/cpu.h"

typedef struct sn_ln_rows {
  const float *x, *skip, *bias, *gamma, *beta;
  float *y, *sum, *mean, *inv_std;
  int64_t rows, n;
  float eps;
} sn_ln_rows;

void sn_layernorm_f32(const sn_ln_rows *a);

/* One ISA's implementation (for tests): NULL when this CPU cannot run it. */
typedef void (*sn_layernorm_fn)(const sn_ln_rows *a);
sn_layernorm_fn sn_layernorm_kernel_for(sn_isa isa);

void sn_layernorm_ref(const sn_ln_rows *a);
void sn_layernorm_avx2(const sn_ln_rows *a);
void sn_layernorm_avx512(const sn_ln_rows *a);

#endif
