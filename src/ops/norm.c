/* Normalization ops: BatchNormalization, InstanceNormalization, LayerNormalization, GroupNormalization,
 * RMSNormalization, LRN, MeanVarianceNormalization, LpNormalization, and com.microsoft's
 * SkipLayerNormalization (also what the fuse-skip-layernorm pass produces). Statistics accumulate
 * in double, except float32 layer normalization over the last axis, which runs the vectorized row
 * kernel of kernels/layernorm.h (float32 accumulation, two-pass variance). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/layernorm.h"
#include "kernels/ref/broadcast.h"
#include "kernels/ref/nn_util.h"
#include "ops/op.h"
#include "ops/qlinear.h"

static bool float_type(sn_dtype dt) {
  return dt == SINTER_FLOAT || dt == SINTER_DOUBLE || dt == SINTER_FLOAT16 || dt == SINTER_BFLOAT16;
}

static sn_error *check_float(sn_infer_ctx *c, const sn_type *t, const char *what) {
  if (t && t->dtype && !float_type(t->dtype))
    return sn_infer_error(c, "%s has element type %s; float types only", what, sn_dtype_name(t->dtype));
  return NULL;
}

static void copy_type(sn_type *dst, const sn_type *src, sn_dtype dt) {
  if (!dst) return;
  if (src->rank < 0)
    sn_type_set_unknown(dst, dt);
  else
    sn_type_set(dst, dt, src->rank, src->dims);
}

static int norm_axis(int64_t axis, int rank) { return (int)(axis < 0 ? axis + rank : axis); }

/* A small per-channel parameter tensor as double (any float dtype). */
static sn_error *param_f64(sn_kernel_ctx *c, const sn_tensor *t, int64_t n, const char *what, const double **out) {
  char b1[128];
  if (!t || t->count != n)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s %s must have %lld elements", what,
                           t ? sn_tensor_describe(t, b1, sizeof b1) : "(absent)", (long long)n);
  double *d = sn_kernel_scratch(c, sizeof(double) * (size_t)(n ? n : 1));
  if (!d) return SN_ERR_OOM();
  for (int64_t i = 0; i < n; i++) d[i] = sn_load_f64(t->dtype, t->data, i);
  *out = d;
  return NULL;
}

/* X as float32 or double for computing, and the output buffer of the same kind. */
typedef struct stage {
  bool dbl;
  const void *x;
  void *y;
  sn_tensor *yt;
} stage;

static sn_error *stage_in_out(sn_kernel_ctx *c, const sn_tensor *x, sn_tensor *y, stage *s) {
  s->yt = y;
  s->dbl = x->dtype == SINTER_DOUBLE;
  if (s->dbl) {
    s->x = x->data;
    s->y = y->data;
    return NULL;
  }
  if (!sn_is_f32_family(x->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(x->dtype));
  const float *xf;
  float *yf;
  SN_TRY(sn_nn_f32_in(c, x, &xf));
  SN_TRY(sn_nn_f32_out(c, y, &yf));
  s->x = xf;
  s->y = yf;
  return NULL;
}

static void stage_done(stage *s) {
  if (!s->dbl) sn_nn_f32_out_done(s->yt, s->y);
}

/* Mean and variance (population) of n values, in double, two passes; contiguous runs sum in 8 partial
 * sums (independent chains the compiler vectorizes: one running double sum took 4 cycles an element,
 * 47 us for wav2vec2's 32 x 799 instance norm) */
static double sum8_f64(const double p[8]) { return ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7])); }
#define DEFINE_STATS(SFX, T)                                                                                   \
  static void stats_##SFX(const T *x, int64_t n, int64_t stride, double *mean, double *var) {                 \
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0}, s = 0;                                                             \
    int64_t i = 0;                                                                                             \
    if (stride == 1)                                                                                           \
      for (; i + 8 <= n; i += 8)                                                                               \
        for (int u = 0; u < 8; u++) p[u] += (double)x[i + u];                                                  \
    for (; i < n; i++) s += x[i * stride];                                                                     \
    s += sum8_f64(p);                                                                                          \
    double m = n ? s / (double)n : 0, v = 0;                                                                   \
    for (int u = 0; u < 8; u++) p[u] = 0;                                                                      \
    i = 0;                                                                                                     \
    if (stride == 1)                                                                                           \
      for (; i + 8 <= n; i += 8)                                                                               \
        for (int u = 0; u < 8; u++) {                                                                          \
          double d = (double)x[i + u] - m;                                                                     \
          p[u] += d * d;                                                                                       \
        }                                                                                                      \
    for (; i < n; i++) {                                                                                       \
      double d = x[i * stride] - m;                                                                            \
      v += d * d;                                                                                              \
    }                                                                                                          \
    v += sum8_f64(p);                                                                                          \
    *mean = m;                                                                                                 \
    *var = n ? v / (double)n : 0;                                                                              \
  }                                                                                                            \
  /* y = x * a + b over a contiguous run */                                                                    \
  static void affine_##SFX(const T *x, T *y, int64_t n, T a, T b) {                                            \
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * a + b;                                                       \
  }                                                                                                            \
  /* y = (x - m) * a + b: centered first, so values near the mean keep their precision */                     \
  static void center_affine_##SFX(const T *x, T *y, int64_t n, T m, T a, T b) {                                \
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m) * a + b;                                                 \
  }
DEFINE_STATS(f32, float)
DEFINE_STATS(f64, double)

static void stats(const stage *s, int64_t off, int64_t n, int64_t stride, double *mean, double *var) {
  if (s->dbl)
    stats_f64((const double *)s->x + off, n, stride, mean, var);
  else
    stats_f32((const float *)s->x + off, n, stride, mean, var);
}

static void center_affine(const stage *s, int64_t off, int64_t n, double m, double a, double b) {
  if (s->dbl)
    center_affine_f64((const double *)s->x + off, (double *)s->y + off, n, m, a, b);
  else
    center_affine_f32((const float *)s->x + off, (float *)s->y + off, n, (float)m, (float)a, (float)b);
}

static void affine(const stage *s, int64_t off, int64_t n, double a, double b) {
  if (s->dbl)
    affine_f64((const double *)s->x + off, (double *)s->y + off, n, a, b);
  else
    affine_f32((const float *)s->x + off, (float *)s->y + off, n, (float)a, (float)b);
}

/* Per-plane work split over workers: BN inference (per channel affine), instance and group norm. */
enum { PJ_BN, PJ_IN, PJ_GN };
typedef struct plane_job {
  const stage *s;
  int kind;
  int64_t tasks, C, inner, G, Cg, pn;
  const double *scale, *bias, *mean, *var;
  double eps;
  int nw;
} plane_job;

static void plane_worker(void *p, int w) {
  const plane_job *j = p;
  for (int64_t t = w * j->tasks / j->nw; t < (w + 1) * j->tasks / j->nw; t++) {
    if (j->kind == PJ_BN) { /* t = n * C + ch */
      int64_t ch = t % j->C;
      double a = j->scale[ch] / sqrt(j->var[ch] + j->eps);
      affine(j->s, t * j->inner, j->inner, a, j->bias[ch] - j->mean[ch] * a);
    } else if (j->kind == PJ_IN) {
      int64_t ch = t % j->C;
      double m, v;
      stats(j->s, t * j->inner, j->inner, 1, &m, &v);
      center_affine(j->s, t * j->inner, j->inner, m, j->scale[ch] / sqrt(v + j->eps), j->bias[ch]);
    } else { /* t = n * G + g */
      int64_t n = t / j->G, g = t % j->G, off = (n * j->C + g * j->Cg) * j->inner;
      double m, v;
      stats(j->s, off, j->Cg * j->inner, 1, &m, &v);
      double inv = 1.0 / sqrt(v + j->eps);
      for (int64_t k = 0; k < j->Cg; k++) {
        int64_t pi = j->pn == j->C ? g * j->Cg + k : g;
        center_affine(j->s, off + k * j->inner, j->inner, m, j->scale[pi] * inv, j->bias[pi]);
      }
    }
  }
}

static void run_planes(sn_kernel_ctx *c, plane_job *j, int64_t elems) {
  j->nw = sn_nn_workers(c, 4.0 * (double)elems);
  if (j->nw > j->tasks) j->nw = (int)(j->tasks > 0 ? j->tasks : 1);
  sn_nn_run(c, j->nw, plane_worker, j);
}

/* ---- BatchNormalization ----------------------------------------------------------------------------- */

static bool bn_training(const sn_node *n, int opset, int n_out_present) {
  if (opset >= 14) return sn_attr_int(n, "training_mode", 0) != 0;
  if (opset < 7 && sn_attr_int(n, "is_test", 0) != 0) return false;
  return n_out_present > 1; /* older opsets: the statistics outputs imply training */
}

static sn_error *bn_infer(sn_infer_ctx *c) {
  if (c->n_in < 5) return sn_infer_error(c, "needs 5 inputs (X, scale, B, mean, var), got %d", c->n_in);
  for (int i = 0; i < 5; i++)
    if (!c->in[i]) return sn_infer_error(c, "input %d is required", i);
  SN_TRY(check_float(c, c->in[0], "X"));
  const sn_type *x = c->in[0];
  if (x->rank >= 0 && x->rank < 2) return sn_infer_error(c, "X must have rank >= 2");
  bool spatial = c->opset >= 9 || sn_attr_int(c->node, "spatial", 1) != 0;
  for (int i = 1; i < 5; i++) {
    const sn_type *t = c->in[i];
    SN_TRY(check_float(c, t, "a parameter"));
    if (spatial && t->rank > 1 && c->opset >= 9)
      return sn_infer_error(c, "parameter input %d must be 1-D with C elements", i);
    if (x->rank >= 0 && t->rank == 1 && spatial && x->dims[1].v >= 0 && t->dims[0].v >= 0 && t->dims[0].v != x->dims[1].v)
      return sn_infer_error(c, "parameter input %d has %lld elements for %lld channels", i, (long long)t->dims[0].v,
                            (long long)x->dims[1].v);
  }
  copy_type(c->out[0], x, x->dtype);
  for (int o = 1; o < c->n_out; o++) {
    if (!c->out[o]) continue;
    const sn_type *src = c->in[o <= 2 ? o + 2 : (o == 3 ? 3 : 4)];
    copy_type(c->out[o], src, src->dtype ? src->dtype : x->dtype);
  }
  return NULL;
}

static sn_error *bn_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  char b1[128];
  if (x->rank < 2)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X %s must have rank >= 2", sn_tensor_describe(x, b1, sizeof b1));
  int opset = c->node->opset;
  double eps = sn_attr_float(c->node, "epsilon", 1e-5f);
  double mom = sn_attr_float(c->node, "momentum", 0.9f);
  int64_t N = x->dims[0], C = x->dims[1], inner = x->count / (N * C > 0 ? N * C : 1);
  if (N * C == 0) inner = 0;
  int n_present = 0;
  for (int o = 0; o < c->n_out; o++) n_present += c->node->out[o] >= 0;
  bool training = bn_training(c->node, opset, n_present);
  /* parameters: per channel, or (spatial = 0 in old opsets) per channel and position */
  int64_t pc = C;
  if (opset < 9 && c->in[1]->count == C * inner && c->in[1]->count != C) pc = C * inner;
  const double *scale, *bias, *mean, *var;
  SN_TRY(param_f64(c, c->in[1], pc, "scale", &scale));
  SN_TRY(param_f64(c, c->in[2], pc, "B", &bias));
  SN_TRY(param_f64(c, c->in[3], pc, "input_mean", &mean));
  SN_TRY(param_f64(c, c->in[4], pc, "input_var", &var));
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, x->dims, &y));
  stage s;
  SN_TRY(stage_in_out(c, x, y, &s));
  if (!training && pc == C) {
    plane_job j = {&s, PJ_BN, N * C, C, inner, 1, 1, C, scale, bias, mean, var, eps, 1};
    run_planes(c, &j, x->count);
    stage_done(&s);
    return NULL;
  }
  if (!training) {
    for (int64_t n = 0; n < N; n++)
      for (int64_t ch = 0; ch < C; ch++) {
        int64_t off = (n * C + ch) * inner;
        {
          for (int64_t i = 0; i < inner; i++) {
            int64_t k = ch * inner + i;
            double a = scale[k] / sqrt(var[k] + eps);
            affine(&s, off + i, 1, a, bias[k] - mean[k] * a);
          }
        }
      }
    stage_done(&s);
    return NULL;
  }
  if (pc != C) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "training with spatial = 0 is not supported");
  /* training: batch statistics over N and the spatial dims */
  double *bm = sn_kernel_scratch(c, sizeof(double) * 2 * (size_t)(C ? C : 1));
  if (!bm) return SN_ERR_OOM();
  double *bv = bm + C;
  for (int64_t ch = 0; ch < C; ch++) {
    double sum = 0, sq = 0, m, v;
    for (int64_t n = 0; n < N; n++) {
      stats(&s, (n * C + ch) * inner, inner, 1, &m, &v);
      sum += m * (double)inner;
    }
    double cnt = (double)(N * inner);
    m = cnt > 0 ? sum / cnt : 0;
    for (int64_t n = 0; n < N; n++) {
      double mi, vi;
      stats(&s, (n * C + ch) * inner, inner, 1, &mi, &vi);
      sq += (vi + (mi - m) * (mi - m)) * (double)inner;
    }
    bm[ch] = m;
    bv[ch] = cnt > 0 ? sq / cnt : 0;
    double a = scale[ch] / sqrt(bv[ch] + eps);
    for (int64_t n = 0; n < N; n++) center_affine(&s, (n * C + ch) * inner, inner, m, a, bias[ch]);
  }
  stage_done(&s);
  /* outputs: running mean / var, then (old opsets) saved mean / var */
  for (int o = 1; o < c->n_out && o < 5; o++) {
    if (c->node->out[o] < 0) continue;
    const sn_tensor *ref = c->in[o <= 2 ? o + 2 : o];
    sn_tensor *t;
    int64_t d1[1] = {C};
    SN_TRY(sn_kernel_output(c, o, ref->dtype, 1, d1, &t));
    for (int64_t ch = 0; ch < C; ch++) {
      double v;
      if (o == 1)
        v = mean[ch] * mom + bm[ch] * (1 - mom);
      else if (o == 2)
        v = var[ch] * mom + bv[ch] * (1 - mom);
      else if (o == 3)
        v = bm[ch];
      else
        v = bv[ch];
      sn_store_f64(t->dtype, t->data, ch, v);
    }
  }
  return NULL;
}

/* ---- InstanceNormalization ----------------------------------------------------------------------------- */

static sn_error *in_infer(sn_infer_ctx *c) {
  if (c->n_in < 3 || !c->in[0] || !c->in[1] || !c->in[2]) return sn_infer_error(c, "needs inputs input, scale, B");
  SN_TRY(check_float(c, c->in[0], "input"));
  const sn_type *x = c->in[0];
  if (x->rank >= 0 && x->rank < 3) return sn_infer_error(c, "input must have rank >= 3");
  for (int i = 1; i < 3; i++) {
    const sn_type *t = c->in[i];
    if (t->rank >= 0 && (t->rank != 1 || (x->rank >= 0 && x->dims[1].v >= 0 && t->dims[0].v >= 0 && t->dims[0].v != x->dims[1].v)))
      return sn_infer_error(c, "%s must be 1-D with C elements", i == 1 ? "scale" : "B");
  }
  copy_type(c->out[0], x, x->dtype);
  return NULL;
}

static sn_error *in_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  char b1[128];
  if (x->rank < 3)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %s must have rank >= 3", sn_tensor_describe(x, b1, sizeof b1));
  double eps = sn_attr_float(c->node, "epsilon", 1e-5f);
  int64_t N = x->dims[0], C = x->dims[1], inner = (N * C != 0) ? x->count / (N * C) : 0;
  const double *scale, *bias;
  SN_TRY(param_f64(c, c->in[1], C, "scale", &scale));
  SN_TRY(param_f64(c, c->in[2], C, "B", &bias));
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, x->dims, &y));
  stage s;
  SN_TRY(stage_in_out(c, x, y, &s));
  plane_job j = {&s, PJ_IN, N * C, C, inner, 1, 1, C, scale, bias, NULL, NULL, eps, 1};
  run_planes(c, &j, x->count);
  stage_done(&s);
  return NULL;
}

/* ---- LayerNormalization / RMSNormalization ----------------------------------------------------------- */

static sn_error *ln_infer(sn_infer_ctx *c) {
  bool rms = !strcmp(c->node->op_type, "RMSNormalization");
  if (c->n_in < 2 || !c->in[0] || !c->in[1]) return sn_infer_error(c, "needs inputs X and Scale");
  SN_TRY(check_float(c, c->in[0], "X"));
  const sn_type *x = c->in[0];
  copy_type(c->out[0], x, x->dtype);
  if (rms || x->rank < 0) {
    for (int o = 1; o < c->n_out; o++)
      if (c->out[o]) sn_type_set_unknown(c->out[o], (sn_dtype)sn_attr_int(c->node, "stash_type", 1));
    return NULL;
  }
  int64_t axis = sn_attr_int(c->node, "axis", -1);
  if (axis < -x->rank || axis >= x->rank)
    return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  int a = norm_axis(axis, x->rank);
  sn_dim d[SN_MAX_RANK];
  for (int i = 0; i < x->rank; i++) d[i] = i < a ? x->dims[i] : sn_dim_known(1);
  sn_dtype st = (sn_dtype)sn_attr_int(c->node, "stash_type", 1);
  if (!sn_dtype_valid(st) || !float_type(st)) st = SINTER_FLOAT;
  for (int o = 1; o < c->n_out && o < 3; o++)
    if (c->out[o]) sn_type_set(c->out[o], st, x->rank, d);
  return NULL;
}

/* Expand a parameter broadcastable (numpy, right-aligned) to dims[a:] into a dense inner array. */
static sn_error *ln_param(sn_kernel_ctx *c, const sn_tensor *x, int a, const sn_tensor *t, bool dbl, const void **out) {
  int64_t inner = 1;
  for (int i = a; i < x->rank; i++) inner *= x->dims[i];
  char b1[128], b2[128];
  int nr = x->rank - a;
  if (t->rank > nr)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s does not broadcast to the normalized shape of X %s",
                           sn_tensor_describe(t, b1, sizeof b1), sn_tensor_describe(x, b2, sizeof b2));
  for (int i = 0; i < t->rank; i++) {
    int64_t td = t->dims[i], xd = x->dims[x->rank - t->rank + i];
    if (td != 1 && td != xd)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s does not broadcast to the normalized shape of X %s",
                             sn_tensor_describe(t, b1, sizeof b1), sn_tensor_describe(x, b2, sizeof b2));
  }
  size_t es = dbl ? sizeof(double) : sizeof(float);
  if (t->count == inner && t->dtype == (dbl ? SINTER_DOUBLE : SINTER_FLOAT)) {
    *out = t->data;
    return NULL;
  }
  void *buf = sn_kernel_scratch(c, es * (size_t)(inner ? inner : 1));
  if (!buf) return SN_ERR_OOM();
  int64_t idx[SN_MAX_RANK] = {0};
  for (int64_t i = 0; i < inner; i++) {
    int64_t src = 0; /* position in t from the coordinates over dims[a:] */
    for (int j = 0; j < t->rank; j++) {
      int xj = nr - t->rank + j;
      src = src * t->dims[j] + (t->dims[j] == 1 ? 0 : idx[xj]);
    }
    double v = sn_load_f64(t->dtype, t->data, src);
    if (dbl)
      ((double *)buf)[i] = v;
    else
      ((float *)buf)[i] = (float)v;
    for (int j = nr - 1; j >= 0; j--) {
      if (++idx[j] < x->dims[a + j]) break;
      idx[j] = 0;
    }
  }
  *out = buf;
  return NULL;
}

#define DEFINE_LN(SFX, T)                                                                                      \
  static void ln_rows_##SFX(const T *x, T *y, int64_t rows, int64_t inner, const T *sc, const T *bi, double eps, \
                            bool rms, double *mean_out, double *inv_out) {                                     \
    for (int64_t r = 0; r < rows; r++) {                                                                       \
      const T *xr = x + r * inner;                                                                             \
      T *yr = y + r * inner;                                                                                   \
      double m = 0, v = 0;                                                                                     \
      if (rms) {                                                                                               \
        for (int64_t i = 0; i < inner; i++) v += (double)xr[i] * xr[i];                                        \
        v = inner ? v / (double)inner : 0;                                                                     \
      } else {                                                                                                 \
        stats_##SFX(xr, inner, 1, &m, &v);                                                                     \
      }                                                                                                        \
      double inv = 1.0 / sqrt(v + eps);                                                                        \
      if (mean_out) mean_out[r] = m;                                                                           \
      if (inv_out) inv_out[r] = inv;                                                                           \
      T tm = (T)m, ti = (T)inv;                                                                                \
      if (bi) {                                                                                                \
        for (int64_t i = 0; i < inner; i++) yr[i] = (xr[i] - tm) * ti * sc[i] + bi[i];                         \
      } else {                                                                                                 \
        for (int64_t i = 0; i < inner; i++) yr[i] = (xr[i] - tm) * ti * sc[i];                                 \
      }                                                                                                        \
    }                                                                                                          \
  }
DEFINE_LN(f32, float)
DEFINE_LN(f64, double)

/* A row normalization's cost per element for sn_nn_workers, in flops of the GEMMs its threshold was
 * set by: its ~8 arithmetic operations run as two dependent passes with a horizontal reduction per
 * row, ~0.4 ns an element (BERT-small's 128 x 256 SkipLayerNormalization: 12.7 us on one Zen 4
 * core). Counted as 8, that op stayed on one thread; as 24 it takes two (7.5 us), the pool's threads
 * spinning between a run's ops so the split costs no wake-up. */
#define SN_LN_COST 24.0

typedef struct ln_job {
  bool dbl, rms;
  int64_t rows, inner;
  double eps;
  const void *x;
  void *y;
  const void *sc, *b;
  double *mo, *io;
  int nw;
} ln_job;

static void ln_worker(void *p, int w) {
  const ln_job *j = p;
  int64_t r0 = w * j->rows / j->nw, r1 = (w + 1) * j->rows / j->nw;
  if (!j->dbl && !j->rms && !j->mo && !j->io) { /* the vectorized row kernel */
    sn_ln_rows a = {.x = (const float *)j->x + r0 * j->inner, .gamma = j->sc, .beta = j->b,
                    .y = (float *)j->y + r0 * j->inner, .rows = r1 - r0, .n = j->inner, .eps = (float)j->eps};
    sn_layernorm_f32(&a);
    return;
  }
  double *mo = j->mo ? j->mo + r0 : NULL, *io = j->io ? j->io + r0 : NULL;
  if (j->dbl)
    ln_rows_f64((const double *)j->x + r0 * j->inner, (double *)j->y + r0 * j->inner, r1 - r0, j->inner, j->sc, j->b,
                j->eps, j->rms, mo, io);
  else
    ln_rows_f32((const float *)j->x + r0 * j->inner, (float *)j->y + r0 * j->inner, r1 - r0, j->inner, j->sc, j->b,
                j->eps, j->rms, mo, io);
}

static sn_error *ln_run(sn_kernel_ctx *c) {
  bool rms = !strcmp(c->node->op_type, "RMSNormalization");
  const sn_tensor *x = c->in[0], *sc = c->in[1], *b = (!rms && c->n_in > 2) ? c->in[2] : NULL;
  int64_t axis = sn_attr_int(c->node, "axis", -1);
  if (axis < -x->rank || axis >= x->rank)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  int a = norm_axis(axis, x->rank);
  double eps = sn_attr_float(c->node, "epsilon", 1e-5f);
  int64_t rows = 1, inner = 1;
  for (int i = 0; i < x->rank; i++) *(i < a ? &rows : &inner) *= x->dims[i];
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, x->dims, &y));
  stage s;
  SN_TRY(stage_in_out(c, x, y, &s));
  const void *scp, *bp = NULL;
  SN_TRY(ln_param(c, x, a, sc, s.dbl, &scp));
  if (b) SN_TRY(ln_param(c, x, a, b, s.dbl, &bp));
  double *mo = NULL, *io = NULL;
  bool want_m = !rms && c->n_out > 1 && sn_kernel_output_used(c, 1);
  bool want_i = !rms && c->n_out > 2 && sn_kernel_output_used(c, 2);
  if (want_m || want_i) {
    mo = sn_kernel_scratch(c, sizeof(double) * 2 * (size_t)(rows ? rows : 1));
    if (!mo) return SN_ERR_OOM();
    io = mo + rows;
  }
  ln_job j = {s.dbl, rms, rows, inner, eps, s.x, s.y, scp, bp, mo, io, 1};
  j.nw = sn_nn_workers(c, SN_LN_COST * (double)x->count);
  if (j.nw > rows) j.nw = (int)(rows > 0 ? rows : 1);
  sn_nn_run(c, j.nw, ln_worker, &j);
  stage_done(&s);
  if (want_m || want_i) {
    int64_t d[SN_MAX_RANK];
    for (int i = 0; i < x->rank; i++) d[i] = i < a ? x->dims[i] : 1;
    sn_dtype st = (sn_dtype)sn_attr_int(c->node, "stash_type", 1);
    if (!sn_dtype_valid(st) || !float_type(st)) st = SINTER_FLOAT;
    for (int o = 1; o < 3; o++) {
      if (!(o == 1 ? want_m : want_i)) continue;
      sn_tensor *t;
      SN_TRY(sn_kernel_output(c, o, st, x->rank, d, &t));
      for (int64_t r = 0; r < rows; r++) sn_store_f64(st, t->data, r, o == 1 ? mo[r] : io[r]);
    }
  }
  return NULL;
}

/* ---- sinter:QDQLayerNormalization (x, x_scale, x_zero_point, Scale, B, y_scale, y_zero_point) -----------
 * QuantizeLinear(LayerNormalization(DequantizeLinear(x), Scale, B)) with LayerNormalization's axis and
 * epsilon, per-tensor parameters, the output of y_zero_point's 8-bit type (B may be absent): the QDQ
 * pass's fusion of a quantized encoder's LayerNormalization. The three ops' float32 steps row block by
 * row block (sn_nn_qrows, the vectorized row kernel), so the same bytes without the float tensors. */

static sn_error *qln_infer(sn_infer_ctx *c) {
  if (c->n_in != 7 || !c->in[0] || !c->in[1] || !c->in[3] || !c->in[5] || !c->in[6])
    return sn_infer_error(c, "needs x, x_scale, x_zero_point, Scale, B, y_scale, y_zero_point (B may be empty)");
  const sn_type *x = c->in[0];
  SN_TRY(check_float(c, c->in[3], "Scale"));
  int64_t axis = sn_attr_int(c->node, "axis", -1);
  if (x->rank >= 0 && (axis < -x->rank || axis >= x->rank))
    return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  return sn_qdq_infer_out(c, 6);
}

typedef struct qln_arg {
  const float *gamma, *beta;
  float eps;
} qln_arg;

static void qln_rows(const void *arg, float *rows, int64_t nrows, int64_t n) {
  const qln_arg *q = arg;
  sn_ln_rows a = {.x = rows, .gamma = q->gamma, .beta = q->beta, .y = rows, .rows = nrows, .n = n, .eps = q->eps};
  sn_layernorm_f32(&a);
}

static sn_error *qln_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0], *sc = c->in[3], *b = c->in[4];
  sn_qdq_io q;
  SN_TRY(sn_qdq_io_read(c, 5, &q));
  if (sc->dtype != SINTER_FLOAT || (b && b->dtype != SINTER_FLOAT))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "Scale and B must be float32");
  int64_t axis = sn_attr_int(c->node, "axis", -1);
  if (axis < -x->rank || axis >= x->rank)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  int a = norm_axis(axis, x->rank);
  int64_t rows = 1, inner = 1;
  for (int i = 0; i < x->rank; i++) *(i < a ? &rows : &inner) *= x->dims[i];
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, c->in[6]->dtype, x->rank, x->dims, &y));
  if (y->count == 0) return NULL;
  qln_arg ra = {NULL, NULL, sn_attr_float(c->node, "epsilon", 1e-5f)};
  const void *p;
  SN_TRY(ln_param(c, x, a, sc, false, &p));
  ra.gamma = p;
  if (b) {
    SN_TRY(ln_param(c, x, a, b, false, &p));
    ra.beta = p;
  }
  return sn_nn_qrows(c, x->data, x->dtype == SINTER_INT8, (int32_t)q.xz, q.xs, y->data, y->dtype == SINTER_INT8, q.ys,
                     q.yz, rows, inner, SN_LN_COST, qln_rows, &ra);
}

/* ---- SkipLayerNormalization (com.microsoft) ------------------------------------------------------------
 * output = LayerNorm(input + skip [+ bias]) * gamma [+ beta] over the last axis; optional outputs mean,
 * inv_std_var ([..., 1]) and input_skip_bias_sum. input and skip broadcast (numpy rules) to the output
 * shape; the common case of equal shapes runs fused in one pass over each row. */

static sn_error *sln_infer(sn_infer_ctx *c) {
  if (c->n_in < 3 || !c->in[0] || !c->in[1] || !c->in[2]) return sn_infer_error(c, "needs inputs input, skip and gamma");
  for (int i = 0; i < c->n_in && i < 5; i++)
    if (c->in[i] && c->in[i]->dtype && c->in[i]->dtype != SINTER_FLOAT)
      return sn_infer_error(c, "input %d has element type %s; float32 only", i, sn_dtype_name(c->in[i]->dtype));
  sn_type y;
  SN_TRY(sn_infer_broadcast(c, c->in[0], c->in[1], &y));
  y.dtype = SINTER_FLOAT;
  if (y.rank == 0) return sn_infer_error(c, "input and skip are scalars; the normalized axis is missing");
  if (c->out[0]) *c->out[0] = y;
  if (c->n_out > 3 && c->out[3]) *c->out[3] = y;
  for (int o = 1; o < 3 && o < c->n_out; o++) {
    if (!c->out[o]) continue;
    if (y.rank < 0) {
      sn_type_set_unknown(c->out[o], SINTER_FLOAT);
      continue;
    }
    sn_dim d[SN_MAX_RANK];
    for (int i = 0; i < y.rank; i++) d[i] = i < y.rank - 1 ? y.dims[i] : sn_dim_known(1);
    sn_type_set(c->out[o], SINTER_FLOAT, y.rank, d);
  }
  return NULL;
}

typedef struct sln_job {
  sn_ln_rows a;
  int nw;
} sln_job;

static void sln_worker(void *p, int w) {
  const sln_job *j = p;
  int64_t r0 = w * j->a.rows / j->nw, r1 = (w + 1) * j->a.rows / j->nw, n = j->a.n;
  sn_ln_rows a = j->a;
  a.x += r0 * n;
  if (a.skip) a.skip += r0 * n;
  a.y += r0 * n;
  if (a.sum) a.sum += r0 * n;
  if (a.mean) a.mean += r0;
  if (a.inv_std) a.inv_std += r0;
  a.rows = r1 - r0;
  sn_layernorm_f32(&a);
}

static sn_error *sln_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0], *sk = c->in[1], *gm = c->in[2];
  const sn_tensor *bt = c->n_in > 3 ? c->in[3] : NULL, *bias = c->n_in > 4 ? c->in[4] : NULL;
  char b1[128], b2[128];
  for (int i = 0; i < c->n_in && i < 5; i++)
    if (c->in[i] && c->in[i]->dtype != SINTER_FLOAT)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %d is %s; float32 only", i,
                             sn_tensor_describe(c->in[i], b1, sizeof b1));
  int rank;
  int64_t d[SN_MAX_RANK];
  sn_error *e = sn_broadcast_shape2(x->rank, x->dims, sk->rank, sk->dims, &rank, d);
  if (e) return sn_error_wrap(e, "%s (SkipLayerNormalization): input and skip", c->node->name ? c->node->name : "");
  if (rank == 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input and skip are scalars; the normalized axis is missing");
  const int64_t n = d[rank - 1];
  const sn_tensor *params[3] = {gm, bt, bias};
  static const char *pname[3] = {"gamma", "beta", "bias"};
  for (int i = 0; i < 3; i++)
    if (params[i] && params[i]->count != n)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s %s must have the %lld elements of the hidden axis of %s",
                             pname[i], sn_tensor_describe(params[i], b1, sizeof b1), (long long)n,
                             sn_tensor_describe(x, b2, sizeof b2));
  sn_tensor *y, *sum = NULL, *mean = NULL, *inv = NULL;
  SN_TRY(sn_kernel_output(c, 0, SINTER_FLOAT, rank, d, &y));
  if (c->n_out > 3 && sn_kernel_output_used(c, 3)) SN_TRY(sn_kernel_output(c, 3, SINTER_FLOAT, rank, d, &sum));
  int64_t sd[SN_MAX_RANK];
  memcpy(sd, d, sizeof(int64_t) * (size_t)rank);
  sd[rank - 1] = 1;
  if (c->n_out > 1 && sn_kernel_output_used(c, 1)) SN_TRY(sn_kernel_output(c, 1, SINTER_FLOAT, rank, sd, &mean));
  if (c->n_out > 2 && sn_kernel_output_used(c, 2)) SN_TRY(sn_kernel_output(c, 2, SINTER_FLOAT, rank, sd, &inv));
  if (y->count == 0) return NULL;
  sln_job j = {{.x = x->data, .skip = sk->data, .bias = bias ? bias->data : NULL, .gamma = gm->data,
                .beta = bt ? bt->data : NULL, .y = y->data, .sum = sum ? sum->data : NULL,
                .mean = mean ? mean->data : NULL, .inv_std = inv ? inv->data : NULL, .rows = y->count / n, .n = n,
                .eps = sn_attr_float(c->node, "epsilon", 1e-12f)},
               1};
  if (x->count != y->count || sk->count != y->count) {
    /* input and skip differ in shape: materialize their broadcast sum, then normalize it alone */
    float *s = sum ? sum->data : sn_kernel_scratch(c, sizeof(float) * (size_t)y->count);
    if (!s) return SN_ERR_OOM();
    sn_bcast b;
    const int ranks[2] = {x->rank, sk->rank};
    const int64_t *dims[2] = {x->dims, sk->dims};
    SN_TRY(sn_bcast_init(&b, rank, d, 2, ranks, dims));
    sn_bcast_iter it;
    sn_bcast_iter_start(&it, &b, 0);
    const float *xa = x->data, *sa = sk->data;
    for (int64_t r = 0; r < b.rows; r++, sn_bcast_iter_next(&it)) {
      float *o = s + r * b.inner;
      for (int64_t i = 0; i < b.inner; i++)
        o[i] = xa[it.off[0] + i * b.inner_stride[0]] + sa[it.off[1] + i * b.inner_stride[1]];
    }
    j.a.x = s;
    j.a.skip = NULL;
  }
  j.nw = sn_nn_workers(c, SN_LN_COST * (double)y->count);
  if (j.nw > j.a.rows) j.nw = (int)j.a.rows;
  sn_nn_run(c, j.nw, sln_worker, &j);
  return NULL;
}

/* ---- GroupNormalization ------------------------------------------------------------------------------ */

static sn_error *gn_infer(sn_infer_ctx *c) {
  if (c->n_in < 3 || !c->in[0] || !c->in[1] || !c->in[2]) return sn_infer_error(c, "needs inputs X, scale, bias");
  SN_TRY(check_float(c, c->in[0], "X"));
  const sn_type *x = c->in[0];
  int64_t G = sn_attr_int(c->node, "num_groups", -1);
  if (G < 1) return sn_infer_error(c, "attribute num_groups (%lld) must be positive", (long long)G);
  if (x->rank >= 0 && x->rank < 2) return sn_infer_error(c, "X must have rank >= 2");
  if (x->rank >= 0 && x->dims[1].v >= 0 && x->dims[1].v % G)
    return sn_infer_error(c, "channels %lld are not divisible by num_groups %lld", (long long)x->dims[1].v, (long long)G);
  copy_type(c->out[0], x, x->dtype);
  return NULL;
}

static sn_error *gn_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  char b1[128];
  int64_t G = sn_attr_int(c->node, "num_groups", -1);
  if (x->rank < 2 || G < 1 || x->dims[1] % G)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X %s: channels must divide into num_groups %lld",
                           sn_tensor_describe(x, b1, sizeof b1), (long long)G);
  double eps = sn_attr_float(c->node, "epsilon", 1e-5f);
  int64_t N = x->dims[0], C = x->dims[1], inner = (N * C != 0) ? x->count / (N * C) : 0, Cg = C / G;
  /* opset 21: per-channel scale/bias; opset 18: per group (accept either by size) */
  int64_t pn = c->in[1]->count == C ? C : G;
  const double *scale, *bias;
  SN_TRY(param_f64(c, c->in[1], pn, "scale", &scale));
  SN_TRY(param_f64(c, c->in[2], pn, "bias", &bias));
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, x->dims, &y));
  stage s;
  SN_TRY(stage_in_out(c, x, y, &s));
  plane_job j = {&s, PJ_GN, N * G, C, inner, G, Cg, pn, scale, bias, NULL, NULL, eps, 1};
  run_planes(c, &j, x->count);
  stage_done(&s);
  return NULL;
}

/* ---- LRN ----------------------------------------------------------------------------------------- */

static sn_error *lrn_infer(sn_infer_ctx *c) {
  if (!c->in[0]) return sn_infer_error(c, "input X is required");
  SN_TRY(check_float(c, c->in[0], "X"));
  if (sn_attr_int(c->node, "size", 0) < 1) return sn_infer_error(c, "attribute size must be a positive integer");
  copy_type(c->out[0], c->in[0], c->in[0]->dtype);
  return NULL;
}

#define DEFINE_LRN(SFX, T)                                                                                     \
  static void lrn_##SFX(const T *x, T *y, int64_t N, int64_t C, int64_t inner, int64_t size, double alpha,      \
                        double beta, double bias, double *sq) {                                                \
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;                                                           \
    double k = alpha / (double)size;                                                                           \
    for (int64_t n = 0; n < N; n++)                                                                            \
      for (int64_t ch = 0; ch < C; ch++) {                                                                     \
        for (int64_t i = 0; i < inner; i++) sq[i] = 0;                                                         \
        int64_t c0 = ch - lo < 0 ? 0 : ch - lo, c1 = ch + hi >= C ? C - 1 : ch + hi;                           \
        for (int64_t cc = c0; cc <= c1; cc++) {                                                                \
          const T *xc = x + (n * C + cc) * inner;                                                              \
          for (int64_t i = 0; i < inner; i++) sq[i] += (double)xc[i] * xc[i];                                  \
        }                                                                                                      \
        const T *xc = x + (n * C + ch) * inner;                                                                \
        T *yc = y + (n * C + ch) * inner;                                                                      \
        for (int64_t i = 0; i < inner; i++) yc[i] = (T)(xc[i] / pow(bias + k * sq[i], beta));                  \
      }                                                                                                        \
  }
DEFINE_LRN(f32, float)
DEFINE_LRN(f64, double)

static sn_error *lrn_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  char b1[128];
  if (x->rank < 2)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X %s must have rank >= 2", sn_tensor_describe(x, b1, sizeof b1));
  int64_t size = sn_attr_int(c->node, "size", 0);
  if (size < 1) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "attribute size must be positive");
  double alpha = sn_attr_float(c->node, "alpha", 1e-4f), beta = sn_attr_float(c->node, "beta", 0.75f);
  double bias = sn_attr_float(c->node, "bias", 1.0f);
  int64_t N = x->dims[0], C = x->dims[1], inner = (N * C != 0) ? x->count / (N * C) : 0;
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, x->dims, &y));
  stage s;
  SN_TRY(stage_in_out(c, x, y, &s));
  double *sq = sn_kernel_scratch(c, sizeof(double) * (size_t)(inner ? inner : 1));
  if (!sq) return SN_ERR_OOM();
  if (s.dbl)
    lrn_f64(s.x, s.y, N, C, inner, size, alpha, beta, bias, sq);
  else
    lrn_f32(s.x, s.y, N, C, inner, size, alpha, beta, bias, sq);
  stage_done(&s);
  return NULL;
}

/* ---- MeanVarianceNormalization -------------------------------------------------------------------------- */

static sn_error *mvn_axes(const sn_node *n, int rank, bool *red, char *msg, size_t len) {
  const int64_t *ax;
  int k = sn_attr_ints(n, "axes", &ax);
  static const int64_t def[3] = {0, 2, 3}, across[4] = {0, 1, 2, 3};
  if (k < 0) {
    /* the experimental opset-1 form: across_channels adds the channel axis */
    bool ac = sn_attr_int(n, "across_channels", 0) != 0;
    ax = ac ? across : def;
    k = ac ? 4 : 3;
    if (k > rank) k = rank; /* the defaults assume 4-D input */
  }
  for (int i = 0; i < rank; i++) red[i] = false;
  for (int i = 0; i < k; i++) {
    int64_t a = ax[i] < 0 ? ax[i] + rank : ax[i];
    if (a < 0 || a >= rank) {
      snprintf(msg, len, "axes[%d] = %lld is out of range for rank %d", i, (long long)ax[i], rank);
      return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s", msg);
    }
    red[a] = true;
  }
  return NULL;
}

static sn_error *mvn_infer(sn_infer_ctx *c) {
  if (!c->in[0]) return sn_infer_error(c, "input X is required");
  SN_TRY(check_float(c, c->in[0], "X"));
  if (c->in[0]->rank >= 0) {
    bool red[SN_MAX_RANK];
    char msg[128];
    sn_error *e = mvn_axes(c->node, c->in[0]->rank, red, msg, sizeof msg);
    if (e) {
      sn_error_free(e);
      return sn_infer_error(c, "%s", msg);
    }
  }
  copy_type(c->out[0], c->in[0], c->in[0]->dtype);
  return NULL;
}

static sn_error *mvn_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  bool red[SN_MAX_RANK];
  char msg[128];
  sn_error *e = mvn_axes(c->node, x->rank, red, msg, sizeof msg);
  if (e) {
    sn_error_free(e);
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s", msg);
  }
  bool norm_var = sn_attr_int(c->node, "normalize_variance", 1) != 0;
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, x->dims, &y));
  if (x->count == 0) return NULL;
  stage s;
  SN_TRY(stage_in_out(c, x, y, &s));
  /* Gather each kept-coordinate group into a contiguous buffer (generic axes), normalize, scatter back. */
  int64_t kept = 1, group = 1;
  for (int i = 0; i < x->rank; i++) *(red[i] ? &group : &kept) *= x->dims[i];
  double *buf = sn_kernel_scratch(c, sizeof(double) * (size_t)group);
  int64_t *offs = sn_kernel_scratch(c, sizeof(int64_t) * (size_t)group);
  if (!buf || !offs) return SN_ERR_OOM();
  int64_t strides[SN_MAX_RANK];
  int64_t st = 1;
  for (int i = x->rank - 1; i >= 0; i--) {
    strides[i] = st;
    st *= x->dims[i];
  }
  /* offsets of the reduced coordinates */
  int64_t idx[SN_MAX_RANK] = {0};
  for (int64_t g = 0; g < group; g++) {
    int64_t o = 0;
    for (int i = 0; i < x->rank; i++)
      if (red[i]) o += idx[i] * strides[i];
    offs[g] = o;
    for (int i = x->rank - 1; i >= 0; i--) {
      if (!red[i]) continue;
      if (++idx[i] < x->dims[i]) break;
      idx[i] = 0;
    }
  }
  memset(idx, 0, sizeof idx);
  for (int64_t k = 0; k < kept; k++) {
    int64_t base = 0;
    for (int i = 0; i < x->rank; i++)
      if (!red[i]) base += idx[i] * strides[i];
    double sum = 0;
    for (int64_t g = 0; g < group; g++) {
      double v = s.dbl ? ((const double *)s.x)[base + offs[g]] : ((const float *)s.x)[base + offs[g]];
      buf[g] = v;
      sum += v;
    }
    double m = sum / (double)group, var = 0;
    for (int64_t g = 0; g < group; g++) var += (buf[g] - m) * (buf[g] - m);
    var /= (double)group;
    double den = norm_var ? sqrt(var) + 1e-9 : 1.0;
    for (int64_t g = 0; g < group; g++) {
      double r = (buf[g] - m) / den;
      if (s.dbl)
        ((double *)s.y)[base + offs[g]] = r;
      else
        ((float *)s.y)[base + offs[g]] = (float)r;
    }
    for (int i = x->rank - 1; i >= 0; i--) {
      if (red[i]) continue;
      if (++idx[i] < x->dims[i]) break;
      idx[i] = 0;
    }
  }
  stage_done(&s);
  return NULL;
}

/* ---- LpNormalization ------------------------------------------------------------------------------- */

static sn_error *lpn_infer(sn_infer_ctx *c) {
  if (!c->in[0]) return sn_infer_error(c, "input is required");
  SN_TRY(check_float(c, c->in[0], "input"));
  int64_t p = sn_attr_int(c->node, "p", 2);
  if (p != 1 && p != 2) return sn_infer_error(c, "p = %lld must be 1 or 2", (long long)p);
  const sn_type *x = c->in[0];
  int64_t axis = sn_attr_int(c->node, "axis", -1);
  if (x->rank >= 0 && (axis < -x->rank || axis >= x->rank) && !(x->rank == 0 && (axis == 0 || axis == -1)))
    return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  copy_type(c->out[0], x, x->dtype);
  return NULL;
}

static sn_error *lpn_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  int64_t p = sn_attr_int(c->node, "p", 2);
  int64_t axis = sn_attr_int(c->node, "axis", -1);
  if (x->rank == 0) axis = 0;
  else if (axis < -x->rank || axis >= x->rank)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  int a = x->rank ? norm_axis(axis, x->rank) : 0;
  int64_t outer = 1, n = x->rank ? x->dims[a] : 1, inner = 1;
  for (int i = 0; i < x->rank; i++) {
    if (i < a) outer *= x->dims[i];
    if (i > a) inner *= x->dims[i];
  }
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, x->dims, &y));
  stage s;
  SN_TRY(stage_in_out(c, x, y, &s));
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t base = o * n * inner + i;
      double acc = 0;
      for (int64_t k = 0; k < n; k++) {
        double v = s.dbl ? ((const double *)s.x)[base + k * inner] : ((const float *)s.x)[base + k * inner];
        acc += p == 1 ? fabs(v) : v * v;
      }
      double norm = p == 1 ? acc : sqrt(acc);
      for (int64_t k = 0; k < n; k++) {
        int64_t j = base + k * inner;
        if (s.dbl)
          ((double *)s.y)[j] = ((const double *)s.x)[j] / norm;
        else
          ((float *)s.y)[j] = (float)(((const float *)s.x)[j] / norm);
      }
    }
  stage_done(&s);
  return NULL;
}

const sn_op sn_ops_norm[] = {
    {"", "BatchNormalization", 1, 0, bn_infer, bn_run, NULL, NULL, 0},
    {"", "InstanceNormalization", 1, 0, in_infer, in_run, NULL, NULL, 0},
    {"", "LayerNormalization", 17, 0, ln_infer, ln_run, NULL, NULL, 0},
    {"", "RMSNormalization", 23, 0, ln_infer, ln_run, NULL, NULL, 0},
    {"", "GroupNormalization", 18, 0, gn_infer, gn_run, NULL, NULL, 0},
    {"", "LRN", 1, 0, lrn_infer, lrn_run, NULL, NULL, 0},
    {"", "MeanVarianceNormalization", 1, 0, mvn_infer, mvn_run, NULL, NULL, 0},
    {"", "LpNormalization", 1, 0, lpn_infer, lpn_run, NULL, NULL, 0},
    {"com.microsoft", "SkipLayerNormalization", 1, 0, sln_infer, sln_run, NULL, NULL, SN_OP_INPLACE},
    {"sinter", "QDQLayerNormalization", 1, 0, qln_infer, qln_run, NULL, NULL, 0},
    {0},
};
