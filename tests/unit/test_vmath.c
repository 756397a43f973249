/* Error bounds of the vector math kernels (every ISA the CPU has) against double-precision libm. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/vmath.h"

/* every STRIDE-th float32 bit pattern (a sanitizer build takes a coarser sweep: it runs ~10x slower) */
#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_STRIDE 997u
#else
#define DEFAULT_STRIDE 97u
#endif

static int passed, failed;

static void expect(int ok, const char *what) {
  if (ok)
    passed++;
  else {
    failed++;
    printf("FAIL: %s\n", what);
  }
}

/* ---- double-precision references --------------------------------------------------------------- */

static double r_exp(double x) { return exp(x); }
static double r_log(double x) { return log(x); }
static double r_tanh(double x) { return tanh(x); }
static double r_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double r_erf(double x) { return erf(x); }
static double r_gelu(double x) { return x == -INFINITY ? 0.0 : 0.5 * x * erfc(-x * 0.70710678118654752440); }
static double r_gelu_tanh(double x) {
  if (x == -INFINITY) return 0.0;
  double u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(-2.0 * u));
}
static double r_silu(double x) { return x == -INFINITY ? 0.0 : x / (1.0 + exp(-x)); }

/* The bounds stated in vmath.h: an element passes within ulp_tol ulp OR within abs_tol absolute. */
typedef struct {
  const char *name;
  size_t slot; /* offset of the function in sn_vmath_kernels */
  double (*ref)(double);
  double ulp_tol, abs_tol;
} fn_case;

#define SLOT(f) offsetof(sn_vmath_kernels, f)
static const fn_case cases[] = {
    {"exp", SLOT(exp), r_exp, 3, 0},
    {"log", SLOT(log), r_log, 3, 0},
    {"sigmoid", SLOT(sigmoid), r_sigmoid, 4, 0},
    {"tanh", SLOT(tanh), r_tanh, 4, 1e-6},
    {"erf", SLOT(erf), r_erf, 4, 1e-6},
    {"gelu", SLOT(gelu), r_gelu, 4, 1e-6},
    {"gelu_tanh", SLOT(gelu_tanh), r_gelu_tanh, 4, 1e-6},
    {"silu", SLOT(silu), r_silu, 4, 1e-6},
};
#define NCASES (sizeof cases / sizeof *cases)

static sn_vmath_fn get_fn(const sn_vmath_kernels *k, size_t slot) {
  sn_vmath_fn f;
  memcpy(&f, (const char *)k + slot, sizeof f);
  return f;
}

/* ---- comparison ---------------------------------------------------------------------------------- */

static double ulp_of(double v) {
  double a = fabs(v);
  if (a < FLT_MIN) return ldexp(1.0, -149);
  if (a >= FLT_MAX) return ldexp(1.0, 104);
  int e;
  frexp((double)(float)a, &e); /* the float spacing where the rounded result lies */
  return ldexp(1.0, e - 24);
}

typedef struct {
  double max_ulp, max_abs;
  float worst_x, worst_y;
  double worst_ref;
  long long fails, n;
} stats;

/* false where the result misses the bound */
static int compare(const fn_case *c, float x, float y, double ref, stats *s) {
  s->n++;
  int ok;
  double ulps = 0, err = 0;
  if (isnan(ref)) {
    ok = isnan(y);
    if (!ok) ulps = err = INFINITY;
  } else if (isnan(y)) {
    ok = 0;
    ulps = err = INFINITY;
  } else if (isinf(y) || isinf((float)ref)) {
    ok = y == (float)ref;
    if (!ok) ulps = err = INFINITY;
  } else {
    err = fabs((double)y - ref);
    ulps = err / ulp_of(ref);
    ok = ulps <= c->ulp_tol || err <= c->abs_tol;
  }
  if (ulps > s->max_ulp) {
    s->max_ulp = ulps;
    s->worst_x = x;
    s->worst_y = y;
    s->worst_ref = ref;
  }
  if (err > s->max_abs) s->max_abs = err;
  if (!ok) {
    if (s->fails < 5)
      printf("  %s(%a = %.9g) = %.9g, expected %.17g (%.3g ulp)\n", c->name, (double)x, (double)x, (double)y, ref, ulps);
    s->fails++;
  }
  return ok;
}

static float from_bits(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}
static uint32_t to_bits(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

/* special values and function-specific edges; each edge also brings its 16 neighbours either side */
static int specials(float *out) {
  static const float edges[] = {0.0f, FLT_MIN, FLT_MAX, 1.0f, 88.7228317f, 88.3762626f, -87.3365448f, -103.972076f,
                                -103.278931f, 89.0f, -104.0f, 0.625f, 0.921875f, 3.9192059f, 4.0f, 5.6568542f,
                                0.70710678f, 1.41421356f, 2.0f, 0.5f, 9.01f, 16.0f, 44.36f};
  static const uint32_t bits[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7f800000u, 0xff800000u, 0x00000001u,
                                  0x80000001u, 0x007fffffu, 0x807fffffu, 0x00400000u, 0x80000000u};
  int n = 0;
  for (size_t i = 0; i < sizeof bits / sizeof *bits; i++) out[n++] = from_bits(bits[i]);
  for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
    for (int sgn = 0; sgn < 2; sgn++) {
      uint32_t b = to_bits(sgn ? -edges[i] : edges[i]);
      for (int d = -16; d <= 16; d++) {
        uint32_t v = b + (uint32_t)d;
        if ((b & 0x7fffffffu) < 16 && d < 0) continue;
        float f = from_bits(v);
        if (!isnan(f)) out[n++] = f;
      }
    }
  return n;
}

enum { BATCH = 1 << 16 };

/* Sweep every case over the specials and every stride-th bit pattern, for each ISA's kernels. */
static void sweep(const sn_vmath_kernels *const *ks, const char *const *names, int nk, uint32_t stride) {
  float *x = malloc(BATCH * sizeof *x), *y = malloc(BATCH * sizeof *y);
  double *ref = malloc(BATCH * sizeof *ref);
  float *sp = malloc(4096 * sizeof *sp);
  int nsp = specials(sp);
  for (size_t ci = 0; ci < NCASES; ci++) {
    const fn_case *c = &cases[ci];
    stats st[3];
    memset(st, 0, sizeof st);
    uint64_t next = 0;
    int first = 1;
    for (;;) {
      int m = 0;
      if (first) {
        memcpy(x, sp, (size_t)nsp * sizeof *x);
        m = nsp;
        first = 0;
      } else {
        while (m < BATCH && next < (1ull << 32)) {
          x[m++] = from_bits((uint32_t)next);
          next += stride;
        }
        if (!m) break;
      }
      for (int i = 0; i < m; i++) ref[i] = c->ref((double)x[i]);
      for (int k = 0; k < nk; k++) {
        get_fn(ks[k], c->slot)(x, y, m);
        for (int i = 0; i < m; i++) compare(c, x[i], y[i], ref[i], &st[k]);
      }
    }
    for (int k = 0; k < nk; k++) {
      char what[256];
      snprintf(what, sizeof what, "%s/%s within %g ulp or %g absolute", names[k], c->name, c->ulp_tol, c->abs_tol);
      printf("%-7s %-10s %lld points: max %.3f ulp (x=%.9g: %.9g vs %.12g), max abs %.3g, %lld over bound\n",
             names[k], c->name, st[k].n, st[k].max_ulp, (double)st[k].worst_x, (double)st[k].worst_y, st[k].worst_ref,
             st[k].max_abs, st[k].fails);
      expect(st[k].fails == 0, what);
    }
  }
  free(x);
  free(y);
  free(ref);
  free(sp);
}

/* Every length up to 40, in place and out of place, matches the long-array result bit for bit and
 * writes nothing past n. */
static void tails(const sn_vmath_kernels *k, const char *name) {
  float in[48], full[48], a[48], b[48];
  for (int i = 0; i < 48; i++) in[i] = (float)(i - 20) * 0.37f;
  for (size_t ci = 0; ci < NCASES; ci++) {
    sn_vmath_fn f = get_fn(k, cases[ci].slot);
    f(in, full, 48);
    int ok = 1;
    for (int n = 0; n <= 40; n++) {
      for (int i = 0; i < 48; i++) a[i] = b[i] = -7.0f;
      memcpy(b, in, (size_t)n * sizeof *b);
      f(in, a, n);
      f(b, b, n);
      for (int i = 0; i < 48; i++) {
        float want = i < n ? full[i] : -7.0f;
        if (memcmp(&a[i], &want, 4) || (i < n ? memcmp(&b[i], &want, 4) : b[i] != -7.0f)) ok = 0;
      }
    }
    char what[128];
    snprintf(what, sizeof what, "%s/%s: tails and in-place", name, cases[ci].name);
    expect(ok, what);
  }
}

/* sn_vlstm_cell against the double formula: unit counts around the vector widths, a gate stride
 * past n (gates not adjacent), with and without clip; each output within 1e-6 absolute (a few ulp
 * of the sigmoid and tanh results, which lie in [-1, 1], and of the cell state, which stays
 * small); a NaN gate input gives a NaN hidden state, never a clamped number. */
static void lstm_cell(const sn_vmath_kernels *k, const char *name) {
  static const int64_t ns[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 128, 257};
  uint32_t seed = 12345;
  bool ok = true;
  double worst = 0;
  for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++)
    for (int with_clip = 0; with_clip < 2; with_clip++) {
      const int64_t n = ns[t], gs = n + 5;
      const float clip = with_clip ? 2.5f : 0.0f;
      float *g = malloc(sizeof(float) * (size_t)(4 * gs)), *x = malloc(sizeof(float) * (size_t)(4 * gs));
      float *c = malloc(sizeof(float) * (size_t)n), *h = malloc(sizeof(float) * (size_t)(n + 1));
      double *cw = malloc(sizeof(double) * (size_t)n);
      for (int64_t i = 0; i < 4 * gs; i++) {
        seed = seed * 1664525u + 1013904223u;
        g[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 12.0f;
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 4.0f;
      }
      for (int64_t i = 0; i < n; i++) c[i] = cw[i] = (double)((float)i / (float)n - 0.5f) * 3.0;
      h[n] = 42.0f; /* must stay */
      k->lstm_cell(g, x, gs, clip, c, h, n);
      for (int64_t i = 0; i < n; i++) {
        double a[4];
        for (int q = 0; q < 4; q++) {
          double v = (double)(g[q * gs + i] + x[q * gs + i]);
          a[q] = clip > 0 && v > clip ? clip : clip > 0 && v < -clip ? -clip : v;
        }
        double cn = r_sigmoid(a[2]) * cw[i] + r_sigmoid(a[0]) * tanh(a[3]);
        double hn = r_sigmoid(a[1]) * tanh(cn);
        double e = fmax(fabs(c[i] - cn), fabs(h[i] - hn));
        if (e > worst) worst = e;
        if (!(e <= 1e-6)) ok = false;
      }
      ok &= h[n] == 42.0f;
      free(g), free(x), free(c), free(h), free(cw);
    }
  float g[4] = {NAN, 0.5f, 0.5f, 0.5f}, x[4] = {0}, c = 0.25f, h = 0;
  k->lstm_cell(g, x, 1, 3.0f, &c, &h, 1);
  char what[160];
  snprintf(what, sizeof what, "%s: lstm_cell matches the formula within 1e-6 (worst %.2g), NaN stays NaN", name, worst);
  printf("%s\n", what);
  expect(ok && isnan(h) && isnan(c), what);
}

/* sn_vpwl's kinds against their definitions in double, exact (a * x + b rounded twice, as defined):
 * specials, every 4099th bit pattern, lengths around the vector widths (tails), in place. NaN stays
 * NaN, -0 stays -0 where the definition keeps it, and HardSwish(-inf) is -inf * 0 = NaN, as ONNX
 * defines it. */
static void pwl(const sn_vmath_kernels *k, const char *name) {
  static float xs[2000000], ys[2000000];
  int n = specials(xs);
  for (uint64_t b = 0; b < 0x100000000ull && n < 2000000; b += 4099) xs[n++] = from_bits((uint32_t)b);
  const float params[4][2] = {{-0.5f, 0.75f}, {0.01f, 0.0f}, {0.2f, 0.5f}, {1.0f / 6.0f, 0.5f}};
  for (int kind = 0; kind < 4; kind++) {
    const float a = params[kind][0], b = params[kind][1];
    int bad = 0;
    for (int len = 1; len <= 40; len++) { /* tails: the first len values, in place */
      memcpy(ys, xs, sizeof(float) * (size_t)len);
      k->pwl[kind](a, b, ys, ys, len);
      float want[40];
      for (int i = 0; i < len; i++) {
        float v = xs[i], t = a * v + b; /* (float: the two roundings) */
        float c01 = t < 0 ? 0.0f : t > 1 ? 1.0f : t;
        want[i] = kind == SN_PWL_CLIP ? (v < a ? a : v > b ? b : v)
                  : kind == SN_PWL_LEAKY ? (v < 0 ? a * v : v)
                  : kind == SN_PWL_HSIGMOID ? c01 : v * c01;
      }
      bad += memcmp(want, ys, sizeof(float) * (size_t)len) != 0;
    }
    k->pwl[kind](a, b, xs, ys, n);
    for (int i = 0; i < n; i++) {
      double v = xs[i], t = (double)(float)(a * xs[i]) + b, c01 = t < 0 ? 0 : t > 1 ? 1 : t;
      double want = kind == SN_PWL_CLIP ? (v < a ? a : v > b ? b : v)
                    : kind == SN_PWL_LEAKY ? (v < 0 ? (double)(float)(a * xs[i]) : v)
                    : kind == SN_PWL_HSIGMOID ? (double)(float)c01 : (double)(float)(v * (double)(float)c01);
      float got = ys[i];
      bool ok = isnan(v) || isnan(want) ? isnan(got) : (double)got == want && (want != 0 || signbit(got) == signbit((float)want));
      if (!ok && bad++ < 3)
        fprintf(stderr, "  %s pwl %d: x %a -> %a, want %a\n", name, kind, (double)xs[i], (double)got, want);
    }
    char what[120];
    snprintf(what, sizeof what, "%s: pwl kind %d exact (NaN passes, tails and in place)", name, kind);
    expect(!bad, what);
  }
}

/* sn_vbias_act against its definition on the same ISA: the additions in a loop (bias, then residual),
 * then the kernel's own activation (pwl, or the one-argument functions), bit for bit. Every
 * activation, with and without bias and residual, lengths around the vector widths (1..40, then
 * 1000 and 4099), in values that include the specials and large ones (inf - inf = NaN, overflow). */
static void bias_act(const sn_vmath_kernels *k, const char *name) {
  enum { N = 4099 };
  static float d0[N], bias[N], res[N], got[N], want[N];
  static float sp[4096];
  int ns = specials(sp);
  uint32_t r = 12345;
  for (int i = 0; i < N; i++) {
    r = r * 1664525u + 1013904223u;
    float v = ((float)(r >> 8) / 16777216.0f - 0.5f) * 12.0f;
    d0[i] = i % 7 == 3 ? sp[(i / 7) % ns] : v;
    bias[i] = i % 11 == 5 ? sp[(i / 11 + 3) % ns] : 0.37f * (float)((i * 13) % 17) - 3.0f;
    res[i] = i % 13 == 8 ? sp[(i / 13 + 5) % ns] : -0.21f * (float)((i * 7) % 19) + 1.5f;
  }
  const float params[SN_VACT_SILU + 1][2] = {
      [SN_VACT_LEAKY] = {0.01f, 0.0f}, [SN_VACT_HSIGMOID] = {0.2f, 0.5f}, [SN_VACT_HSWISH] = {1.0f / 6.0f, 0.5f},
      [SN_VACT_CLIP] = {-0.5f, 6.0f}};
  int bad = 0, checked = 0;
  for (int act = SN_VACT_NONE; act <= SN_VACT_SILU; act++)
    for (int with = 0; with < 4; with++) {
      const float *bp = with & 1 ? bias : NULL, *rp = with & 2 ? res : NULL;
      for (int len = 1; len <= N; len = len < 40 ? len + 1 : len < 1000 ? 1000 : N + 1) {
        int off = len % 3; /* unaligned starts too */
        if (off + len > N) off = 0;
        memcpy(got, d0 + off, sizeof(float) * (size_t)len);
        k->bias_act(act, params[act][0], params[act][1], bp ? bp + off : NULL, rp ? rp + off : NULL, got, len);
        for (int i = 0; i < len; i++) {
          float v = d0[off + i];
          if (bp) v += bp[off + i];
          if (rp) v += rp[off + i];
          want[i] = v;
        }
        const float a = params[act][0], b = params[act][1];
        switch (act) {
          case SN_VACT_RELU:
            for (int i = 0; i < len; i++) want[i] = want[i] > 0 ? want[i] : 0.0f;
            break;
          case SN_VACT_LEAKY: k->pwl[SN_PWL_LEAKY](a, b, want, want, len); break;
          case SN_VACT_HSIGMOID: k->pwl[SN_PWL_HSIGMOID](a, b, want, want, len); break;
          case SN_VACT_HSWISH: k->pwl[SN_PWL_HSWISH](a, b, want, want, len); break;
          case SN_VACT_CLIP: k->pwl[SN_PWL_CLIP](a, b, want, want, len); break;
          case SN_VACT_SIGMOID: k->sigmoid(want, want, len); break;
          case SN_VACT_TANH: k->tanh(want, want, len); break;
          case SN_VACT_GELU: k->gelu(want, want, len); break;
          case SN_VACT_GELU_TANH: k->gelu_tanh(want, want, len); break;
          case SN_VACT_SILU: k->silu(want, want, len); break;
          default: break;
        }
        for (int i = 0; i < len; i++) {
          checked++;
          bool same = isnan(want[i]) ? isnan(got[i]) : to_bits(want[i]) == to_bits(got[i]);
          if (!same && bad++ < 3)
            fprintf(stderr, "  %s bias_act %d (bias %d, res %d) len %d [%d]: %a, want %a\n", name, act, with & 1,
                    with >> 1, len, i, (double)got[i], (double)want[i]);
        }
      }
    }
  char what[160];
  snprintf(what, sizeof what, "%s: bias_act equals the additions then the activation, bit for bit (%d values)", name,
           checked);
  expect(!bad && checked > 0, what);
}

/* sn_vscale: a * x, exact (NaN stays NaN), tails and in place */
static void scale(const sn_vmath_kernels *k, const char *name) {
  static float xs[4096], ys[4096];
  int n = specials(xs);
  int bad = 0;
  const float a = -0.37f;
  for (int len = 1; len <= n; len = len < 40 ? len + 1 : len < n ? n : n + 1) {
    k->scale(a, 0.0f, xs, ys, len);
    for (int i = 0; i < len; i++) {
      float want = a * xs[i];
      if (isnan(want) ? !isnan(ys[i]) : to_bits(want) != to_bits(ys[i])) bad++;
    }
  }
  memcpy(ys, xs, sizeof(float) * (size_t)n);
  k->scale(a, 0.0f, ys, ys, n); /* in place */
  for (int i = 0; i < n; i++)
    if (!isnan(xs[i]) && to_bits(a * xs[i]) != to_bits(ys[i])) bad++;
  char what[120];
  snprintf(what, sizeof what, "%s: scale equals a * x exactly (tails, in place)", name);
  expect(!bad, what);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* elements per second over 1M floats in [-10, 10] (best of 5) */
static void bench(const sn_vmath_kernels *k, const char *name) {
  enum { N = 1 << 20 };
  float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
  for (int i = 0; i < N; i++) x[i] = -10.0f + 20.0f * (float)i / (float)N;
  const char *which[] = {"exp", "tanh", "erf", "sigmoid", "gelu"};
  size_t slots[] = {SLOT(exp), SLOT(tanh), SLOT(erf), SLOT(sigmoid), SLOT(gelu)};
  printf("%-7s", name);
  for (int w = 0; w < 5; w++) {
    sn_vmath_fn f = get_fn(k, slots[w]);
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
      double t0 = now();
      f(x, y, N);
      double t = now() - t0;
      if (t < best) best = t;
    }
    printf("  %s %.3g/s", which[w], N / best);
  }
  printf("\n");
  free(x);
  free(y);
}

/* max and expsum (softmax rows): lengths around the vector widths. max equals the scalar loop
 * m = x[i] > m ? x[i] : m from x[0] exactly (NaN elements skipped, a NaN x[0] kept, +-inf); expsum's
 * stored values within 2 ulp-ish of exp in double (4e-7 relative) and its sum within 1e-6 of theirs,
 * the same sum with y NULL, nothing written past n. */
static void max_expsum(const sn_vmath_kernels *k, const char *name) {
  static const int64_t ns[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 199, 256, 1000};
  uint32_t seed = 777;
  bool ok_max = true, ok_sum = true;
  float x[1001], y[1002];
  for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
    const int64_t n = ns[t];
    for (int variant = 0; variant < 4; variant++) {
      for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 40.0f;
      }
      if (variant == 1) x[n / 2] = NAN;                 /* skipped */
      if (variant == 2) x[0] = NAN;                     /* kept */
      if (variant == 3) x[n - 1] = INFINITY, x[0] = -INFINITY;
      float want = x[0];
      for (int64_t i = 1; i < n; i++) want = x[i] > want ? x[i] : want;
      float got = k->max(x, n);
      if (!((isnan(want) && isnan(got)) || want == got)) {
        if (ok_max) printf("  max n=%lld variant %d: %g, want %g\n", (long long)n, variant, (double)got, (double)want);
        ok_max = false;
      }
      if (variant != 0) continue;
      y[n] = 42.0f;
      float s = k->expsum(x, y, n, want), s2 = k->expsum(x, NULL, n, want);
      double ref = 0, stored = 0;
      for (int64_t i = 0; i < n; i++) {
        double e = exp((double)(x[i] - want)); /* (the difference rounded to float, as the kernels take it) */
        ref += e;
        stored += y[i];
        if (!(fabs(y[i] - e) <= 4e-7 * e + 1e-37)) {
          if (ok_sum) printf("  expsum n=%lld element %lld: %.9g, exp %.9g\n", (long long)n, (long long)i, (double)y[i], e);
          ok_sum = false;
        }
      }
      bool good = fabs(s - stored) <= 1e-6 * stored && fabs(s - ref) <= 2e-6 * ref && s == s2 && y[n] == 42.0f;
      if (!good && ok_sum) printf("  expsum n=%lld: %.9g, stored %.9g, exact %.9g, without y %.9g\n", (long long)n, (double)s, stored, ref, (double)s2);
      ok_sum &= good;
    }
  }
  char what[160];
  snprintf(what, sizeof what, "%s: max equals the scalar loop (NaN, inf); expsum stores exp and sums it", name);
  printf("%s\n", what);
  expect(ok_max && ok_sum, what);
}

int main(int argc, char **argv) {
  uint32_t stride = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : DEFAULT_STRIDE;
  if (!stride) stride = DEFAULT_STRIDE;
  const sn_isa isas[] = {SN_ISA_SCALAR, SN_ISA_AVX2, SN_ISA_AVX512};
  const sn_vmath_kernels *ks[3];
  const char *names[3];
  int nk = 0;
  for (int i = 0; i < 3; i++) {
    const sn_vmath_kernels *k = sn_vmath_kernels_for(isas[i]);
    if (!k) {
      printf("note: this CPU has no %s; its kernels are not tested\n", sn_isa_name(isas[i]));
      continue;
    }
    ks[nk] = k;
    names[nk++] = sn_isa_name(isas[i]);
  }
  printf("sweep: every %u-th float32 bit pattern plus special values\n", stride);
  sweep(ks, names, nk, stride);
  for (int k = 0; k < nk; k++) tails(ks[k], names[k]);
  for (int k = 0; k < nk; k++) lstm_cell(ks[k], names[k]);
  for (int k = 0; k < nk; k++) pwl(ks[k], names[k]);
  for (int k = 0; k < nk; k++) max_expsum(ks[k], names[k]);
  for (int k = 0; k < nk; k++) bias_act(ks[k], names[k]);
  for (int k = 0; k < nk; k++) scale(ks[k], names[k]);

  /* the dispatched entry points run the kernels of sn_cpu_isa() */
  float x[5] = {-2.5f, -0.0f, 0.3f, 1.0f, 60.0f}, a[5], b[5];
  const sn_vmath_kernels *cur = sn_vmath_kernels_for(sn_cpu_isa());
  sn_vexp(x, a, 5);
  cur->exp(x, b, 5);
  expect(!memcmp(a, b, sizeof a), "sn_vexp dispatches to sn_cpu_isa()'s kernels");
  sn_vgelu(x, a, 5);
  cur->gelu(x, b, 5);
  expect(!memcmp(a, b, sizeof a), "sn_vgelu dispatches to sn_cpu_isa()'s kernels");
  const float bias5[5] = {0.5f, -1.0f, 2.0f, 0.25f, -70.0f};
  memcpy(a, x, sizeof a);
  memcpy(b, x, sizeof b);
  sn_vbias_act(SN_VACT_SILU, 0, 0, bias5, x, a, 5);
  cur->bias_act(SN_VACT_SILU, 0, 0, bias5, x, b, 5);
  expect(!memcmp(a, b, sizeof a), "sn_vbias_act dispatches to sn_cpu_isa()'s kernels");
  float s = sn_vexp_shift_sum(x, a, 5, 60.0f), s2 = sn_vexp_shift_sumonly(x, 5, 60.0f);
  double want = 0;
  for (int i = 0; i < 5; i++) want += exp((double)x[i] - 60.0);
  expect(fabs(s - want) <= 1e-6 * want && s == s2 && a[4] == 1.0f, "sn_vexp_shift_sum / sumonly");

  if (!getenv("SN_VMATH_NO_BENCH"))
    for (int k = 0; k < nk; k++) bench(ks[k], names[k]);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
