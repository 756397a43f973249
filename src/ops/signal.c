/* Signal-processing ops: DFT (opset 17: axis attribute; 20: axis input), STFT (17), the Hann,
 * Hamming and Blackman windows (17) and MelWeightMatrix (17). Transforms run in double with
 * twiddles computed exactly per product index modulo N: direct sums for short lengths, a radix-2 FFT
 * for powers of two, Bluestein's chirp convolution for long other lengths. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/common.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ---- helpers ------------------------------------------------------------------------------------- */

static const sn_type *tin(const sn_infer_ctx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }
static const sn_tensor *cin(const sn_infer_ctx *c, int i) { return (i < c->n_in && c->in_data) ? c->in_data[i] : NULL; }
static sn_type *tout(const sn_infer_ctx *c, int i) { return i < c->n_out ? c->out[i] : NULL; }
static const sn_tensor *kin(const sn_kernel_ctx *c, int i) {
  return (i < c->n_in && c->in[i] && c->in[i]->kind == SN_KIND_TENSOR) ? c->in[i] : NULL;
}

static bool sig_float_type(sn_dtype dt) {
  return dt == SINTER_FLOAT || dt == SINTER_DOUBLE || dt == SINTER_FLOAT16 || dt == SINTER_BFLOAT16;
}

/* A scalar (or one-element) tensor's value. */
static bool scalar_i64(const sn_tensor *t, int64_t *v) {
  if (!t || t->kind != SN_KIND_TENSOR || t->count != 1 || t->rank > 1) return false;
  if (!sn_dt(t->dtype)->is_int) return false;
  *v = sn_load_i64(t->dtype, t->data, 0);
  return true;
}
static bool scalar_f64(const sn_tensor *t, double *v) {
  if (!t || t->kind != SN_KIND_TENSOR || t->count != 1 || t->rank > 1) return false;
  if (!sn_dt(t->dtype)->is_int && !sn_dt(t->dtype)->is_float) return false;
  *v = sn_load_f64(t->dtype, t->data, 0);
  return true;
}

static sn_error *need_scalar_i64(sn_kernel_ctx *c, int i, const char *name, int64_t *v) {
  const sn_tensor *t = kin(c, i);
  char b[160];
  if (!t) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %s is required", name);
  if (!scalar_i64(t, v))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %s must be an integer scalar, got %s", name,
                           sn_tensor_describe(t, b, sizeof b));
  return NULL;
}

/* ---- the transform engine ------------------------------------------------------------------------ */

/* cos and sin of 2*pi*j/n for 0 <= j < n, exact at the quarter turns: the angle is reduced to a
 * quadrant with integer arithmetic, so cos(pi/2) is 0 and not 6e-17. */
static void cis_exact(int64_t j, int64_t n, double *cr, double *sr) {
  /* 4j = q*n + r with 0 <= r < n: angle = q*pi/2 + (pi/2)*(r/n) */
  /* j < n <= 2^60 (callers reduce j; lengths are bounded by memory), so 4j does not overflow */
  uint64_t j4 = (uint64_t)j * 4;
  int q = (int)(j4 / (uint64_t)n);
  int64_t r = (int64_t)(j4 - (uint64_t)q * (uint64_t)n);
  double a = (M_PI / 2) * ((double)r / (double)n), c, s;
  if (r == 0) {
    c = 1, s = 0;
  } else if (2 * r == n) { /* pi/4 */
    c = s = sqrt(0.5);
  } else if (2 * r > n) { /* use the complement for accuracy near pi/2 */
    double b = (M_PI / 2) * ((double)(n - r) / (double)n);
    c = sin(b), s = cos(b);
  } else {
    c = cos(a), s = sin(a);
  }
  switch (q & 3) {
    case 0: *cr = c, *sr = s; break;
    case 1: *cr = -s, *sr = c; break;
    case 2: *cr = -c, *sr = -s; break;
    default: *cr = s, *sr = -c; break;
  }
}

typedef enum { DFT_DIRECT, DFT_RADIX2, DFT_BLUESTEIN } dft_kind;

/* A transform of length n. DIRECT sums with the twiddle table (small or odd lengths), RADIX2 is an
 * iterative FFT, BLUESTEIN turns a long non-power-of-two transform into a power-of-two circular
 * convolution of length m with the chirp exp(-i pi j^2 / n), its phases reduced exactly (j^2 mod 2n). */
typedef struct dft_plan {
  int64_t n, m;
  dft_kind kind;
  double *cr, *sr; /* twiddles cos/sin(2 pi j / len), len = n (DIRECT, RADIX2) or m (BLUESTEIN) */
  double *wr, *wi; /* work [len] */
  double *chr, *chi; /* BLUESTEIN: chirp [n] */
  double *bfr, *bfi; /* BLUESTEIN: FFT of the conjugate chirp filter [m] */
} dft_plan;

/* In-place radix-2 FFT of length len (a power of two) with twiddle table cr/sr of that length. */
static void fft_pow2(const double *cr, const double *sr, int64_t len, double *ar, double *ai, bool inverse) {
  const double sg = inverse ? 1.0 : -1.0;
  for (int64_t i = 1, j = 0; i < len; i++) { /* bit reversal */
    int64_t bit = len >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      double t = ar[i];
      ar[i] = ar[j], ar[j] = t;
      t = ai[i];
      ai[i] = ai[j], ai[j] = t;
    }
  }
  for (int64_t m = 2; m <= len; m <<= 1) {
    int64_t h = m / 2, step = len / m;
    for (int64_t s = 0; s < len; s += m)
      for (int64_t j = 0; j < h; j++) {
        double wc = cr[j * step], ws = sg * sr[j * step];
        int64_t a = s + j, b = a + h;
        double tr = ar[b] * wc - ai[b] * ws, ti = ar[b] * ws + ai[b] * wc;
        ar[b] = ar[a] - tr;
        ai[b] = ai[a] - ti;
        ar[a] += tr;
        ai[a] += ti;
      }
  }
}

static sn_error *dft_plan_init(sn_kernel_ctx *c, dft_plan *p, int64_t n) {
  memset(p, 0, sizeof *p);
  p->n = n;
  bool pow2 = n > 0 && (n & (n - 1)) == 0;
  p->kind = pow2 ? (n >= 16 ? DFT_RADIX2 : DFT_DIRECT) : (n > 128 && n < ((int64_t)1 << 30) ? DFT_BLUESTEIN : DFT_DIRECT);
  int64_t len = n;
  if (p->kind == DFT_BLUESTEIN) {
    p->m = 1;
    while (p->m < 2 * n - 1) p->m <<= 1;
    len = p->m;
  }
  p->cr = sn_kernel_scratch(c, (size_t)len * sizeof(double));
  p->sr = sn_kernel_scratch(c, (size_t)len * sizeof(double));
  p->wr = sn_kernel_scratch(c, (size_t)len * sizeof(double));
  p->wi = sn_kernel_scratch(c, (size_t)len * sizeof(double));
  if (!p->cr || !p->sr || !p->wr || !p->wi) return SN_ERR_OOM();
  for (int64_t j = 0; j < len; j++) cis_exact(j, len, &p->cr[j], &p->sr[j]);
  if (p->kind != DFT_BLUESTEIN) return NULL;
  const int64_t m = p->m;
  p->chr = sn_kernel_scratch(c, (size_t)n * sizeof(double));
  p->chi = sn_kernel_scratch(c, (size_t)n * sizeof(double));
  p->bfr = sn_kernel_scratch(c, (size_t)m * sizeof(double));
  p->bfi = sn_kernel_scratch(c, (size_t)m * sizeof(double));
  if (!p->chr || !p->chi || !p->bfr || !p->bfi) return SN_ERR_OOM();
  for (int64_t j = 0; j < n; j++) {
    /* exp(-i pi j^2 / n) = exp(-2 pi i (j^2 mod 2n) / 2n); n < 2^30 keeps j^2 in range */
    double cc, ss;
    cis_exact((int64_t)(((uint64_t)j * (uint64_t)j) % (uint64_t)(2 * n)), 2 * n, &cc, &ss);
    p->chr[j] = cc;
    p->chi[j] = -ss;
  }
  for (int64_t j = 0; j < m; j++) p->bfr[j] = p->bfi[j] = 0;
  for (int64_t j = 0; j < n; j++) { /* conj(chirp) at j and at -j (mod m) */
    p->bfr[j] = p->chr[j];
    p->bfi[j] = -p->chi[j];
    if (j) {
      p->bfr[m - j] = p->chr[j];
      p->bfi[m - j] = -p->chi[j];
    }
  }
  fft_pow2(p->cr, p->sr, m, p->bfr, p->bfi, false);
  return NULL;
}

/* y[k] = sum_n x[n] exp(-+2 pi i k n / N) for k in [0, K): x of length N (xi NULL: real), y written to
 * yr/yi. inverse flips the sign (no 1/N scaling here). */
static void dft_exec(const dft_plan *p, const double *xr, const double *xi, double *yr, double *yi, int64_t K,
                     bool inverse) {
  const int64_t N = p->n;
  const double sg = inverse ? 1.0 : -1.0;
  if (p->kind == DFT_RADIX2) {
    for (int64_t i = 0; i < N; i++) p->wr[i] = xr[i], p->wi[i] = xi ? xi[i] : 0.0;
    fft_pow2(p->cr, p->sr, N, p->wr, p->wi, inverse);
    for (int64_t k = 0; k < K; k++) yr[k] = p->wr[k], yi[k] = p->wi[k];
    return;
  }
  if (p->kind == DFT_BLUESTEIN) {
    /* the inverse transform is conj(DFT(conj(x))) */
    const int64_t m = p->m;
    const double cj = inverse ? -1.0 : 1.0;
    double *ar = p->wr, *ai = p->wi;
    for (int64_t j = 0; j < N; j++) {
      double a = xr[j], b = xi ? cj * xi[j] : 0.0;
      ar[j] = a * p->chr[j] - b * p->chi[j];
      ai[j] = a * p->chi[j] + b * p->chr[j];
    }
    for (int64_t j = N; j < m; j++) ar[j] = ai[j] = 0;
    fft_pow2(p->cr, p->sr, m, ar, ai, false);
    for (int64_t j = 0; j < m; j++) {
      double a = ar[j], b = ai[j];
      ar[j] = a * p->bfr[j] - b * p->bfi[j];
      ai[j] = a * p->bfi[j] + b * p->bfr[j];
    }
    fft_pow2(p->cr, p->sr, m, ar, ai, true);
    const double inv_m = 1.0 / (double)m;
    for (int64_t k = 0; k < K; k++) {
      double a = ar[k] * inv_m, b = ai[k] * inv_m;
      yr[k] = a * p->chr[k] - b * p->chi[k];
      yi[k] = cj * (a * p->chi[k] + b * p->chr[k]);
    }
    return;
  }
  for (int64_t k = 0; k < K; k++) {
    double sr = 0, si = 0;
    int64_t idx = 0; /* k*n mod N */
    for (int64_t n = 0; n < N; n++) {
      double c = p->cr[idx], s = sg * p->sr[idx];
      double a = xr[n], b = xi ? xi[n] : 0.0;
      sr += a * c - b * s;
      si += a * s + b * c;
      idx += k;
      if (idx >= N) idx -= N;
    }
    yr[k] = sr;
    yi[k] = si;
  }
}

/* ---- DFT ----------------------------------------------------------------------------------------- */

typedef struct dft_params {
  int64_t axis; /* opset 17 attribute */
  bool inverse, onesided;
} dft_params;

static sn_error *dft_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  dft_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  p->axis = sn_attr_int(n, "axis", 1);
  p->inverse = sn_attr_int(n, "inverse", 0) != 0;
  p->onesided = sn_attr_int(n, "onesided", 0) != 0;
  *params = p;
  return NULL;
}

static void sig_free_params(void *p) { sn_free(p); }

/* axis in [-r, -2] or [0, r-2] (r counts the trailing complex dim); -1 when out of range */
static int dft_norm_axis(int64_t axis, int r) {
  if (axis >= 0 && axis <= r - 2) return (int)axis;
  if (axis < 0 && axis >= -r && axis <= -2) return (int)(axis + r);
  return -1;
}

static sn_error *dft_infer(sn_infer_ctx *c) {
  const dft_params *p = c->node->params;
  if (!p) return sn_infer_error(c, "attributes were not prepared");
  const sn_type *X = tin(c, 0);
  if (!X) return sn_infer_error(c, "input is required");
  if (X->dtype && !sig_float_type(X->dtype))
    return sn_infer_error(c, "input type %s is not supported (float types only)", sn_dtype_name(X->dtype));
  sn_type *Y = tout(c, 0);
  if (X->rank >= 0 && X->rank < 2) return sn_infer_error(c, "input must have rank >= 2 ([..., 1 or 2]), got %d", X->rank);
  if (X->rank >= 2 && X->dims[X->rank - 1].v >= 0 && X->dims[X->rank - 1].v != 1 && X->dims[X->rank - 1].v != 2)
    return sn_infer_error(c, "the last input dim must be 1 (real) or 2 (complex), got %lld",
                          (long long)X->dims[X->rank - 1].v);
  if (!Y) return NULL;
  if (X->rank < 0) {
    sn_type_set_unknown(Y, X->dtype);
    return NULL;
  }
  const int r = X->rank;
  int64_t axis = c->opset >= 20 ? -2 : p->axis;
  bool axis_known = true;
  if (c->opset >= 20 && tin(c, 2)) {
    const sn_tensor *a = cin(c, 2);
    if (!a)
      axis_known = false;
    else if (!scalar_i64(a, &axis))
      return sn_infer_error(c, "axis must be an integer scalar");
  }
  sn_dim d[SN_MAX_RANK];
  for (int i = 0; i < r - 1; i++) d[i] = X->dims[i];
  d[r - 1] = sn_dim_known(2);
  if (!axis_known) {
    for (int i = 0; i < r - 1; i++) d[i] = sn_dim_unknown();
    sn_type_set(Y, X->dtype, r, d);
    return NULL;
  }
  int a = dft_norm_axis(axis, r);
  if (a < 0) return sn_infer_error(c, "axis %lld is out of range for input rank %d", (long long)axis, r);
  sn_dim L = X->dims[a];
  if (tin(c, 1)) {
    const sn_tensor *lt = cin(c, 1);
    int64_t l;
    if (!lt)
      L = sn_dim_unknown();
    else if (!scalar_i64(lt, &l))
      return sn_infer_error(c, "dft_length must be an integer scalar");
    else if (l <= 0)
      return sn_infer_error(c, "dft_length %lld must be positive", (long long)l);
    else
      L = sn_dim_known(l);
  }
  if (p->onesided) L = L.v >= 0 ? sn_dim_known(L.v / 2 + 1) : sn_dim_unknown();
  d[a] = L;
  sn_type_set(Y, X->dtype, r, d);
  return NULL;
}

static sn_error *dft_run(sn_kernel_ctx *c) {
  const dft_params *p = c->params;
  const sn_tensor *X = kin(c, 0);
  char b[160];
  if (!X) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input is required");
  if (!sig_float_type(X->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "input type %s is not supported", sn_dtype_name(X->dtype));
  const int r = X->rank;
  if (r < 2 || (X->dims[r - 1] != 1 && X->dims[r - 1] != 2))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %s must be [..., 1] (real) or [..., 2] (complex)",
                           sn_tensor_describe(X, b, sizeof b));
  int64_t axis = c->node->opset >= 20 ? -2 : p->axis;
  if (c->node->opset >= 20 && kin(c, 2)) SN_TRY(need_scalar_i64(c, 2, "axis", &axis));
  int a = dft_norm_axis(axis, r);
  if (a < 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for input %s", (long long)axis,
                           sn_tensor_describe(X, b, sizeof b));
  const int64_t nin = X->dims[a];
  int64_t L = nin;
  if (kin(c, 1)) {
    SN_TRY(need_scalar_i64(c, 1, "dft_length", &L));
    if (L <= 0) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "dft_length %lld must be positive", (long long)L);
  }
  if (L <= 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "the DFT axis %d of input %s is empty", a,
                           sn_tensor_describe(X, b, sizeof b));
  const int64_t K = p->onesided ? L / 2 + 1 : L;
  const int64_t comp = X->dims[r - 1];
  int64_t od[SN_MAX_RANK];
  memcpy(od, X->dims, sizeof(int64_t) * (size_t)r);
  od[a] = K;
  od[r - 1] = 2;
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, X->dtype, r, od, &Y));
  if (Y->count == 0) return NULL;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < a; i++) outer *= X->dims[i];
  for (int i = a + 1; i < r - 1; i++) inner *= X->dims[i];
  const double *x;
  SN_TRY(sn_op_f64_view(c, X, &x));
  dft_plan plan;
  SN_TRY(dft_plan_init(c, &plan, L));
  double *xr = sn_kernel_scratch(c, (size_t)L * sizeof(double)), *xi = sn_kernel_scratch(c, (size_t)L * sizeof(double));
  double *yr = sn_kernel_scratch(c, (size_t)L * sizeof(double)), *yi = sn_kernel_scratch(c, (size_t)L * sizeof(double));
  if (!xr || !xi || !yr || !yi) return SN_ERR_OOM();
  const int64_t ncopy = nin < L ? nin : L;
  const double scale = p->inverse ? 1.0 / (double)L : 1.0;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      for (int64_t n = 0; n < L; n++) {
        if (n < ncopy) {
          const double *e = x + ((o * nin + n) * inner + i) * comp;
          xr[n] = e[0];
          xi[n] = comp == 2 ? e[1] : 0.0;
        } else {
          xr[n] = xi[n] = 0;
        }
      }
      dft_exec(&plan, xr, comp == 2 ? xi : NULL, yr, yi, K, p->inverse);
      for (int64_t k = 0; k < K; k++) {
        int64_t at = ((o * K + k) * inner + i) * 2;
        sn_op_store_f64(Y, at, yr[k] * scale);
        sn_op_store_f64(Y, at + 1, yi[k] * scale);
      }
    }
  return NULL;
}

/* ---- STFT ---------------------------------------------------------------------------------------- */

static sn_error *stft_infer(sn_infer_ctx *c) {
  const sn_type *X = tin(c, 0), *W = tin(c, 2);
  if (!X || !tin(c, 1)) return sn_infer_error(c, "inputs signal and frame_step are required");
  if (X->dtype && !sig_float_type(X->dtype))
    return sn_infer_error(c, "signal type %s is not supported (float types only)", sn_dtype_name(X->dtype));
  if (X->rank >= 0 && X->rank != 3)
    return sn_infer_error(c, "signal must be [batch, length, 1 or 2], got rank %d", X->rank);
  if (W && W->rank >= 0 && W->rank != 1) return sn_infer_error(c, "window must be 1-D, got rank %d", W->rank);
  sn_type *Y = tout(c, 0);
  if (!Y) return NULL;
  const bool onesided = sn_attr_int(c->node, "onesided", 1) != 0;
  sn_dim d[4] = {X->rank == 3 ? X->dims[0] : sn_dim_unknown(), sn_dim_unknown(), sn_dim_unknown(), sn_dim_known(2)};
  int64_t step = -1, fl = -1;
  if (!scalar_i64(cin(c, 1), &step)) step = -1;
  if (tin(c, 3)) {
    if (!scalar_i64(cin(c, 3), &fl)) fl = -1;
  } else if (W && W->rank == 1) {
    fl = W->dims[0].v;
  }
  int64_t len = X->rank == 3 ? X->dims[1].v : -1;
  if (fl > 0) d[2] = sn_dim_known(onesided ? fl / 2 + 1 : fl);
  if (fl > 0 && step > 0 && len >= fl) d[1] = sn_dim_known(1 + (len - fl) / step);
  sn_type_set(Y, X->dtype, 4, d);
  return NULL;
}

static sn_error *stft_run(sn_kernel_ctx *c) {
  const sn_tensor *X = kin(c, 0), *W = kin(c, 2);
  char b[160];
  if (!X) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input signal is required");
  if (!sig_float_type(X->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "signal type %s is not supported", sn_dtype_name(X->dtype));
  if (X->rank != 3 || (X->dims[2] != 1 && X->dims[2] != 2))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "signal %s must be [batch, length, 1 or 2]",
                           sn_tensor_describe(X, b, sizeof b));
  const bool onesided = sn_attr_int(c->node, "onesided", 1) != 0;
  int64_t step = 0, fl = -1;
  SN_TRY(need_scalar_i64(c, 1, "frame_step", &step));
  if (step <= 0) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "frame_step %lld must be positive", (long long)step);
  if (W && W->rank != 1)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "window %s must be 1-D", sn_tensor_describe(W, b, sizeof b));
  if (W && !sig_float_type(W->dtype))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "window type %s is not supported", sn_dtype_name(W->dtype));
  if (kin(c, 3)) {
    SN_TRY(need_scalar_i64(c, 3, "frame_length", &fl));
    if (W && W->dims[0] != fl)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "window %s does not match frame_length %lld",
                             sn_tensor_describe(W, b, sizeof b), (long long)fl);
  } else if (W) {
    fl = W->dims[0];
  } else {
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "needs a window or a frame_length");
  }
  const int64_t B = X->dims[0], len = X->dims[1], comp = X->dims[2];
  if (fl <= 0 || fl > len)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "frame length %lld must be in [1, %lld] for signal %s",
                           (long long)fl, (long long)len, sn_tensor_describe(X, b, sizeof b));
  const int64_t frames = 1 + (len - fl) / step, K = onesided ? fl / 2 + 1 : fl;
  int64_t od[4] = {B, frames, K, 2};
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, X->dtype, 4, od, &Y));
  if (Y->count == 0) return NULL;
  const double *x, *w = NULL;
  SN_TRY(sn_op_f64_view(c, X, &x));
  if (W) SN_TRY(sn_op_f64_view(c, W, &w));
  dft_plan plan;
  SN_TRY(dft_plan_init(c, &plan, fl));
  double *xr = sn_kernel_scratch(c, (size_t)fl * sizeof(double)), *xi = sn_kernel_scratch(c, (size_t)fl * sizeof(double));
  double *yr = sn_kernel_scratch(c, (size_t)fl * sizeof(double)), *yi = sn_kernel_scratch(c, (size_t)fl * sizeof(double));
  if (!xr || !xi || !yr || !yi) return SN_ERR_OOM();
  for (int64_t bi = 0; bi < B; bi++)
    for (int64_t f = 0; f < frames; f++) {
      const double *s = x + (bi * len + f * step) * comp;
      for (int64_t n = 0; n < fl; n++) {
        double wt = w ? w[n] : 1.0;
        xr[n] = s[n * comp] * wt;
        xi[n] = comp == 2 ? s[n * comp + 1] * wt : 0.0;
      }
      dft_exec(&plan, xr, comp == 2 ? xi : NULL, yr, yi, K, false);
      for (int64_t k = 0; k < K; k++) {
        int64_t at = ((bi * frames + f) * K + k) * 2;
        sn_op_store_f64(Y, at, yr[k]);
        sn_op_store_f64(Y, at + 1, yi[k]);
      }
    }
  return NULL;
}

/* ---- windows ------------------------------------------------------------------------------------- */

enum { WIN_HANN, WIN_HAMMING, WIN_BLACKMAN };

static bool out_datatype_ok(int64_t dt) {
  return sn_dtype_valid((int)dt) && dt == (int)dt && (sn_dt((sn_dtype)dt)->is_float || sn_dt((sn_dtype)dt)->is_int) &&
         dt != SINTER_INT4 && dt != SINTER_UINT4 && dt != SINTER_FLOAT4E2M1;
}

static sn_error *dtype_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  (void)params;
  char nd[160];
  int64_t dt = sn_attr_int(n, "output_datatype", SINTER_FLOAT);
  if (!out_datatype_ok(dt))
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: output_datatype %lld is not a supported numeric type",
                     sn_node_desc(n, nd, sizeof nd), (long long)dt);
  return NULL;
}

static sn_error *window_infer(sn_infer_ctx *c) {
  const sn_type *S = tin(c, 0);
  if (!S) return sn_infer_error(c, "input size is required");
  if (S->rank > 1) return sn_infer_error(c, "size must be a scalar, got rank %d", S->rank);
  sn_dtype dt = (sn_dtype)sn_attr_int(c->node, "output_datatype", SINTER_FLOAT);
  int64_t n = 0;
  sn_dim d = sn_dim_unknown();
  if (scalar_i64(cin(c, 0), &n)) {
    if (n < 0) return sn_infer_error(c, "size %lld is negative", (long long)n);
    d = sn_dim_known(n);
  }
  if (tout(c, 0)) sn_type_set(tout(c, 0), dt, 1, &d);
  return NULL;
}

static double window_value(int kind, int64_t i, int64_t n1) {
  /* angles 2*pi*i/n1 and 4*pi*i/n1 reduced exactly */
  double c1, s1, c2, s2;
  cis_exact(i % n1, n1, &c1, &s1);
  switch (kind) {
    case WIN_HANN: {
      /* sin^2(pi i / n1) = (1 - cos(2 pi i / n1)) / 2, written through the half angle for accuracy */
      double h, hs;
      cis_exact(i % (2 * n1), 2 * n1, &h, &hs);
      return hs * hs;
    }
    case WIN_HAMMING: return 25.0 / 46.0 - (21.0 / 46.0) * c1;
    default:
      cis_exact((2 * i) % n1, n1, &c2, &s2);
      return 0.42 - 0.5 * c1 + 0.08 * c2;
  }
}

static sn_error *window_run(sn_kernel_ctx *c) {
  int kind = !strcmp(c->node->op_type, "HannWindow") ? WIN_HANN : !strcmp(c->node->op_type, "HammingWindow") ? WIN_HAMMING
                                                                                                           : WIN_BLACKMAN;
  int64_t n = 0;
  SN_TRY(need_scalar_i64(c, 0, "size", &n));
  if (n < 0) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "size %lld is negative", (long long)n);
  sn_dtype dt = (sn_dtype)sn_attr_int(c->node, "output_datatype", SINTER_FLOAT);
  bool periodic = sn_attr_int(c->node, "periodic", 1) != 0;
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, dt, 1, &n, &Y));
  int64_t n1 = periodic ? n : n - 1;
  for (int64_t i = 0; i < n; i++) sn_op_store_f64(Y, i, n1 > 0 ? window_value(kind, i, n1) : 1.0);
  return NULL;
}

/* ---- MelWeightMatrix ------------------------------------------------------------------------------ */

static sn_error *mel_infer(sn_infer_ctx *c) {
  for (int i = 0; i < 5; i++)
    if (!tin(c, i)) return sn_infer_error(c, "needs 5 inputs (num_mel_bins, dft_length, sample_rate, lower and upper edge)");
  sn_dtype dt = (sn_dtype)sn_attr_int(c->node, "output_datatype", SINTER_FLOAT);
  sn_dim d[2] = {sn_dim_unknown(), sn_dim_unknown()};
  int64_t v;
  if (scalar_i64(cin(c, 1), &v) && v > 0) d[0] = sn_dim_known(v / 2 + 1);
  if (scalar_i64(cin(c, 0), &v) && v > 0) d[1] = sn_dim_known(v);
  if (tout(c, 0)) sn_type_set(tout(c, 0), dt, 2, d);
  return NULL;
}

static sn_error *mel_run(sn_kernel_ctx *c) {
  int64_t nmel = 0, dftlen = 0, rate = 0;
  double lo = 0, hi = 0;
  char b[160];
  SN_TRY(need_scalar_i64(c, 0, "num_mel_bins", &nmel));
  SN_TRY(need_scalar_i64(c, 1, "dft_length", &dftlen));
  SN_TRY(need_scalar_i64(c, 2, "sample_rate", &rate));
  const sn_tensor *tl = kin(c, 3), *th = kin(c, 4);
  if (!scalar_f64(tl, &lo) || !scalar_f64(th, &hi))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "lower_edge_hertz and upper_edge_hertz must be scalars (got %s)",
                           tl ? sn_tensor_describe(tl, b, sizeof b) : "none");
  if (nmel <= 0 || dftlen <= 0 || rate <= 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                           "num_mel_bins %lld, dft_length %lld and sample_rate %lld must be positive", (long long)nmel,
                           (long long)dftlen, (long long)rate);
  if (!(lo >= 0 && hi > lo))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "need 0 <= lower_edge_hertz (%g) < upper_edge_hertz (%g)", lo, hi);
  if (nmel > (1 << 24)) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "num_mel_bins %lld is too large", (long long)nmel);
  sn_dtype dt = (sn_dtype)sn_attr_int(c->node, "output_datatype", SINTER_FLOAT);
  const int64_t nspec = dftlen / 2 + 1;
  int64_t od[2] = {nspec, nmel};
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, dt, 2, od, &Y));
  int64_t *bins = sn_kernel_scratch(c, (size_t)(nmel + 2) * sizeof(int64_t));
  double *m = sn_kernel_scratch(c, (size_t)(Y->count ? Y->count : 1) * sizeof(double));
  if (!bins || !m) return SN_ERR_OOM();
  memset(m, 0, (size_t)Y->count * sizeof(double));
  const double lmel = 2595.0 * log10(1.0 + lo / 700.0), hmel = 2595.0 * log10(1.0 + hi / 700.0);
  const double step = (hmel - lmel) / (double)(nmel + 2);
  for (int64_t i = 0; i < nmel + 2; i++) {
    double hz = 700.0 * (pow(10.0, ((double)i * step + lmel) / 2595.0) - 1.0);
    double bin = floor((double)(dftlen + 1) * hz / (double)rate);
    if (bin < 0) bin = 0;
    if (bin > (double)(nspec - 1)) bin = (double)(nspec - 1);
    bins[i] = (int64_t)bin;
  }
  for (int64_t i = 0; i < nmel; i++) {
    int64_t l = bins[i], ctr = bins[i + 1], h = bins[i + 2];
    if (ctr == l) {
      m[ctr * nmel + i] = 1;
    } else {
      for (int64_t j = l; j <= ctr; j++) m[j * nmel + i] = (double)(j - l) / (double)(ctr - l);
    }
    if (h > ctr)
      for (int64_t j = ctr; j < h; j++) m[j * nmel + i] = (double)(h - j) / (double)(h - ctr);
  }
  for (int64_t i = 0; i < Y->count; i++) sn_op_store_f64(Y, i, m[i]);
  return NULL;
}

const sn_op sn_ops_signal[] = {
    {"", "DFT", 17, 19, dft_infer, dft_run, dft_prepare, sig_free_params, 0},
    {"", "DFT", 20, 0, dft_infer, dft_run, dft_prepare, sig_free_params, 0},
    {"", "STFT", 17, 0, stft_infer, stft_run, NULL, NULL, 0},
    {"", "HannWindow", 17, 0, window_infer, window_run, dtype_prepare, NULL, 0},
    {"", "HammingWindow", 17, 0, window_infer, window_run, dtype_prepare, NULL, 0},
    {"", "BlackmanWindow", 17, 0, window_infer, window_run, dtype_prepare, NULL, 0},
    {"", "MelWeightMatrix", 17, 0, mel_infer, mel_run, dtype_prepare, NULL, 0},
    {0},
};
