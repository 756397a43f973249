/* Dispatch of the row-wise layer normalization, and its portable reference (double accumulation). */
#include "kernels/layernorm.h"

#include <math.h>
#include <stddef.h>

void sn_layernorm_ref(const sn_ln_rows *a) {
  const int64_t n = a->n;
  for (int64_t r = 0; r < a->rows; r++) {
    const float *x = a->x + r * n, *sk = a->skip ? a->skip + r * n : NULL;
    float *y = a->y + r * n, *s = a->sum ? a->sum + r * n : y;
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
      float v = x[i];
      if (sk) v += sk[i];
      if (a->bias) v += a->bias[i];
      s[i] = v;
      m += v;
    }
    m = n ? m / (double)n : 0;
    double var = 0;
    for (int64_t i = 0; i < n; i++) var += ((double)s[i] - m) * ((double)s[i] - m);
    var = n ? var / (double)n : 0;
    double inv = 1.0 / sqrt(var + (double)a->eps);
    if (a->mean) a->mean[r] = (float)m;
    if (a->inv_std) a->inv_std[r] = (float)inv;
    for (int64_t i = 0; i < n; i++) {
      double v = ((double)s[i] - m) * inv * a->gamma[i];
      if (a->beta) v += a->beta[i];
      y[i] = (float)v;
    }
  }
}

sn_layernorm_fn sn_layernorm_kernel_for(sn_isa isa) {
  const sn_cpu *c = sn_cpu_info();
  switch (isa) {
    case SN_ISA_AVX512:
      return c->avx2 && c->fma && c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq ? sn_layernorm_avx512 : NULL;
    case SN_ISA_AVX2: return c->avx2 && c->fma ? sn_layernorm_avx2 : NULL;
    default: return sn_layernorm_ref;
  }
}

void sn_layernorm_f32(const sn_ln_rows *a) {
  sn_isa isa = sn_cpu_isa();
  if (isa >= SN_ISA_AVX512) sn_layernorm_avx512(a);
  else if (isa >= SN_ISA_AVX2) sn_layernorm_avx2(a);
  else sn_layernorm_ref(a);
}
