/* Body of the vectorized row-wise (skip-)layer normalization (see kernels/layernorm.h), included by
 * layernorm_avx2.c and layernorm_avx512.c after they define the vector type and operations:
 * VF, W (lanes), LD, ST, ADD, SUB, MUL, FMA, SET1, ZERO, HSUM (horizontal sum to float). */
#include <math.h>

static void ln_body(const sn_ln_rows *a) {
  const int64_t n = a->n, nv = n / W * W;
  for (int64_t r = 0; r < a->rows; r++) {
    const float *x = a->x + r * n, *sk = a->skip ? a->skip + r * n : NULL, *b = a->bias;
    float *y = a->y + r * n, *s = a->sum ? a->sum + r * n : y;
    /* pass 1: s = x + skip + bias, and its sum (two accumulators to hide latency) */
    VF acc0 = ZERO(), acc1 = ZERO();
    int64_t i = 0;
    for (; i + 2 * W <= nv; i += 2 * W) {
      VF v0 = LD(x + i), v1 = LD(x + i + W);
      if (sk) v0 = ADD(v0, LD(sk + i)), v1 = ADD(v1, LD(sk + i + W));
      if (b) v0 = ADD(v0, LD(b + i)), v1 = ADD(v1, LD(b + i + W));
      ST(s + i, v0);
      ST(s + i + W, v1);
      acc0 = ADD(acc0, v0);
      acc1 = ADD(acc1, v1);
    }
    for (; i < nv; i += W) {
      VF v = LD(x + i);
      if (sk) v = ADD(v, LD(sk + i));
      if (b) v = ADD(v, LD(b + i));
      ST(s + i, v);
      acc0 = ADD(acc0, v);
    }
    float tot = HSUM(ADD(acc0, acc1));
    for (; i < n; i++) {
      float v = x[i];
      if (sk) v += sk[i];
      if (b) v += b[i];
      s[i] = v;
      tot += v;
    }
    const float m = n ? tot / (float)n : 0.f;
    /* pass 2: variance of the centred values */
    VF vm = SET1(m);
    acc0 = ZERO(), acc1 = ZERO();
    for (i = 0; i + 2 * W <= nv; i += 2 * W) {
      VF d0 = SUB(LD(s + i), vm), d1 = SUB(LD(s + i + W), vm);
      acc0 = FMA(d0, d0, acc0);
      acc1 = FMA(d1, d1, acc1);
    }
    for (; i < nv; i += W) {
      VF d = SUB(LD(s + i), vm);
      acc0 = FMA(d, d, acc0);
    }
    float sq = HSUM(ADD(acc0, acc1));
    for (; i < n; i++) sq += (s[i] - m) * (s[i] - m);
    const float inv = 1.0f / sqrtf((n ? sq / (float)n : 0.f) + a->eps);
    if (a->mean) a->mean[r] = m;
    if (a->inv_std) a->inv_std[r] = inv;
    /* pass 3: y = (s - m) * inv * gamma + beta */
    VF vi = SET1(inv);
    const float *g = a->gamma, *be = a->beta;
    for (i = 0; i < nv; i += W) {
      VF t = MUL(MUL(SUB(LD(s + i), vm), vi), LD(g + i));
      if (be) t = ADD(t, LD(be + i));
      ST(y + i, t);
    }
    for (; i < n; i++) y[i] = (s[i] - m) * inv * g[i] + (be ? be[i] : 0.f);
  }
}
