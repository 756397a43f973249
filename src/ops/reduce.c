/* Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare (axes as attribute or
 * input), ArgMax/ArgMin, CumSum, TopK and Einsum. Float sums accumulate in double. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/ref/gemm_ref.h"
#include "kernels/ref/nn_util.h"
#include "ops/op.h"

enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQ };

static int red_kind(const char *t) {
  static const char *names[] = {"ReduceSum", "ReduceMean",   "ReduceMax",       "ReduceMin",      "ReduceProd",
                                "ReduceL1",  "ReduceL2",     "ReduceLogSum",    "ReduceLogSumExp", "ReduceSumSquare"};
  for (int i = 0; i < 10; i++)
    if (!strcmp(t, names[i])) return i;
  return R_SUM;
}

static bool numeric_type(sn_dtype dt) {
  switch (dt) {
    case SINTER_FLOAT:
    case SINTER_DOUBLE:
    case SINTER_FLOAT16:
    case SINTER_BFLOAT16:
    case SINTER_INT8:
    case SINTER_UINT8:
    case SINTER_INT16:
    case SINTER_UINT16:
    case SINTER_INT32:
    case SINTER_INT64:
    case SINTER_UINT32:
    case SINTER_UINT64: return true;
    default: return false;
  }
}

/* first opset where a reduction takes axes as an input */
static int axes_input_opset(int kind) { return kind == R_SUM ? 13 : 18; }

/* ---- axes ------------------------------------------------------------------------------------------------ */

typedef struct red_axes {
  bool known;  /* the axes are known (attribute, constant input, or absent) */
  bool all;    /* reduce every axis */
  bool noop;   /* empty axes with noop_with_empty_axes: identity */
  int n;
  int64_t ax[SN_MAX_RANK];
} red_axes;

/* axes from the attribute or the (optional) input; data = the input's value when known */
static sn_error *get_axes(const sn_node *n, int opset, int kind, bool has_input, const sn_tensor *data, red_axes *r,
                          char *msg, size_t len) {
  memset(r, 0, sizeof *r);
  r->known = true;
  bool noop = sn_attr_int(n, "noop_with_empty_axes", 0) != 0;
  if (kind >= 0 && opset >= axes_input_opset(kind)) {
    if (!has_input) {
      r->all = !noop;
      r->noop = noop;
      return NULL;
    }
    if (!data) {
      r->known = false;
      return NULL;
    }
    if (data->dtype != SINTER_INT64 && data->dtype != SINTER_INT32) {
      snprintf(msg, len, "axes must be int64 (got %s)", sn_dtype_name(data->dtype));
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s", msg);
    }
    if (data->rank > 1 || data->count > SN_MAX_RANK) {
      snprintf(msg, len, "axes must be 1-D with at most %d values", SN_MAX_RANK);
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s", msg);
    }
    if (data->count == 0) {
      r->all = !noop;
      r->noop = noop;
      return NULL;
    }
    r->n = (int)data->count;
    for (int i = 0; i < r->n; i++) r->ax[i] = sn_load_i64(data->dtype, data->data, i);
    return NULL;
  }
  const int64_t *v;
  int k = sn_attr_ints(n, "axes", &v);
  if (k <= 0) {
    r->all = true;
    return NULL;
  }
  if (k > SN_MAX_RANK) {
    snprintf(msg, len, "axes has %d values", k);
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s", msg);
  }
  r->n = k;
  for (int i = 0; i < k; i++) r->ax[i] = v[i];
  return NULL;
}

/* mark reduced axes; false with msg on a bad axis */
static bool axes_mask(const red_axes *r, int rank, bool *red, char *msg, size_t len) {
  for (int i = 0; i < rank; i++) red[i] = r->all;
  if (r->all || r->noop) return true;
  for (int i = 0; i < r->n; i++) {
    int64_t a = r->ax[i];
    if (a < -rank || a >= rank) {
      snprintf(msg, len, "axis %lld is out of range for rank %d", (long long)a, rank);
      return false;
    }
    if (a < 0) a += rank;
    if (red[a]) {
      snprintf(msg, len, "axis %lld is repeated", (long long)r->ax[i]);
      return false;
    }
    red[a] = true;
  }
  return true;
}

static sn_error *reduce_infer(sn_infer_ctx *c) {
  const sn_type *x = c->in[0];
  if (!x) return sn_infer_error(c, "input data is required");
  if (x->dtype && !numeric_type(x->dtype) && !(x->dtype == SINTER_BOOL))
    return sn_infer_error(c, "element type %s is not supported", sn_dtype_name(x->dtype));
  int kind = red_kind(c->node->op_type);
  bool keep = sn_attr_int(c->node, "keepdims", 1) != 0;
  bool has_in = c->n_in > 1 && c->in[1];
  red_axes r;
  char msg[200];
  sn_error *e = get_axes(c->node, c->opset, kind, has_in, has_in ? c->in_data[1] : NULL, &r, msg, sizeof msg);
  if (e) {
    sn_error_free(e);
    return sn_infer_error(c, "%s", msg);
  }
  sn_type *y = c->out[0];
  if (!y) return NULL;
  if (x->rank < 0) {
    sn_type_set_unknown(y, x->dtype);
    return NULL;
  }
  if (r.noop) {
    sn_type_set(y, x->dtype, x->rank, x->dims);
    return NULL;
  }
  sn_dim d[SN_MAX_RANK];
  if (!r.known) {
    if (keep) {
      for (int i = 0; i < x->rank; i++) d[i] = x->dims[i].v == 1 ? x->dims[i] : sn_dim_unknown();
      sn_type_set(y, x->dtype, x->rank, d);
    } else {
      const sn_type *at = c->in[1];
      if (at->rank == 1 && at->dims[0].v > 0 && at->dims[0].v <= x->rank) {
        int rr = x->rank - (int)at->dims[0].v;
        for (int i = 0; i < rr; i++) d[i] = sn_dim_unknown();
        sn_type_set(y, x->dtype, rr, d);
      } else
        sn_type_set_unknown(y, x->dtype);
    }
    return NULL;
  }
  bool red[SN_MAX_RANK];
  if (!axes_mask(&r, x->rank, red, msg, sizeof msg)) return sn_infer_error(c, "%s", msg);
  int k = 0;
  for (int i = 0; i < x->rank; i++) {
    if (!red[i])
      d[k++] = x->dims[i];
    else if (keep)
      d[k++] = sn_dim_known(1);
  }
  sn_type_set(y, x->dtype, k, d);
  return NULL;
}

/* ---- reduction kernel --------------------------------------------------------------------------------- */

/* Dims compressed so adjacent dims with the same reduced flag merge. */
typedef struct red_geom {
  int m;
  int64_t dims[SN_MAX_RANK];
  bool red[SN_MAX_RANK];
  int64_t ostr[SN_MAX_RANK]; /* output stride of each kept compressed dim (0 for reduced) */
  int64_t out_count, red_count;
} red_geom;

static void make_geom(int rank, const int64_t *dims, const bool *red, red_geom *g) {
  g->m = 0;
  g->out_count = g->red_count = 1;
  for (int i = 0; i < rank; i++) {
    if (red[i])
      g->red_count *= dims[i];
    else
      g->out_count *= dims[i];
    if (dims[i] == 1) continue; /* unit dims never matter */
    if (g->m > 0 && g->red[g->m - 1] == red[i]) {
      g->dims[g->m - 1] *= dims[i];
    } else {
      g->dims[g->m] = dims[i];
      g->red[g->m] = red[i];
      g->m++;
    }
  }
  if (g->m == 0) {
    g->dims[0] = 1;
    g->red[0] = false;
    g->m = 1;
  }
  int64_t s = 1;
  for (int i = g->m - 1; i >= 0; i--) {
    g->ostr[i] = g->red[i] ? 0 : s;
    if (!g->red[i]) s *= g->dims[i];
  }
}

/* Walk x in memory order; for each run of the last compressed dim call the body with the output
 * offset. AT: accumulator type. */
#define DEFINE_REDUCE(SFX, T, AT, ADD, MUL, ABS, GT, LT)                                                        \
  /* one element's term of a sum: x, x * x, |x| */                                                              \
  static inline AT term_##SFX(T v, int term) {                                                                  \
    return term == 1 ? MUL((AT)v, (AT)v) : term == 2 ? ABS((AT)v) : (AT)v;                                      \
  }                                                                                                             \
  /* a + the terms of a contiguous run, in 8 partial sums: one chain waited on the adder's latency              \
   * for every element */                                                                                       \
  static inline __attribute__((always_inline)) AT sum8_##SFX(const T *xr, int64_t len, AT a, int term) {        \
    AT pa[8] = {a, 0, 0, 0, 0, 0, 0, 0};                                                                        \
    int64_t i = 0;                                                                                              \
    for (; i + 8 <= len; i += 8)                                                                                \
      for (int u = 0; u < 8; u++) pa[u] = ADD(pa[u], term_##SFX(xr[i + u], term));                              \
    for (; i < len; i++) pa[0] = ADD(pa[0], term_##SFX(xr[i], term));                                           \
    return ADD(ADD(ADD(pa[0], pa[4]), ADD(pa[1], pa[5])), ADD(ADD(pa[2], pa[6]), ADD(pa[3], pa[7])));           \
  }                                                                                                             \
  /* the max (or min) of a and a contiguous run, in 8 partials (a NaN sticks in its partial, then in            \
   * the combination) */                                                                                        \
  static inline __attribute__((always_inline)) AT ext8_##SFX(const T *xr, int64_t len, AT a, bool max) {        \
    AT pa[8] = {a, a, a, a, a, a, a, a};                                                                        \
    int64_t i = 0;                                                                                              \
    for (; i + 8 <= len; i += 8)                                                                                \
      for (int u = 0; u < 8; u++)                                                                               \
        if (max ? GT((AT)xr[i + u], pa[u]) : LT((AT)xr[i + u], pa[u])) pa[u] = (AT)xr[i + u];                   \
    for (; i < len; i++)                                                                                        \
      if (max ? GT((AT)xr[i], pa[0]) : LT((AT)xr[i], pa[0])) pa[0] = (AT)xr[i];                                 \
    a = pa[0];                                                                                                  \
    for (int u = 1; u < 8; u++)                                                                                 \
      if (max ? GT(pa[u], a) : LT(pa[u], a)) a = pa[u];                                                         \
    return a;                                                                                                   \
  }                                                                                                             \
  static void reduce_##SFX(const red_geom *g, const T *x, AT *acc, int kind, const AT *mx) {                    \
    const int L = g->m - 1;                                                                                     \
    const int64_t len = g->dims[L];                                                                             \
    const bool last_red = g->red[L];                                                                            \
    int64_t rows = 1;                                                                                           \
    for (int i = 0; i < L; i++) rows *= g->dims[i];                                                             \
    int64_t idx[SN_MAX_RANK] = {0}, o = 0;                                                                      \
    for (int64_t r = 0; r < rows; r++) {                                                                        \
      const T *xr = x + r * len;                                                                                \
      if (last_red) {                                                                                           \
        AT a = acc[o];                                                                                          \
        switch (kind) { /* (sums, max and min in 8 partial accumulators) */                                     \
          case R_SUM:                                                                                           \
          case R_MEAN:                                                                                          \
          case R_LOGSUM:                                                                                        \
            a = sum8_##SFX(xr, len, a, 0);                                                                      \
            break;                                                                                              \
          case R_SUMSQ:                                                                                         \
          case R_L2:                                                                                            \
            a = sum8_##SFX(xr, len, a, 1);                                                                      \
            break;                                                                                              \
          case R_L1:                                                                                            \
            a = sum8_##SFX(xr, len, a, 2);                                                                      \
            break;                                                                                              \
          case R_PROD:                                                                                          \
            for (int64_t i = 0; i < len; i++) a = MUL(a, (AT)xr[i]);                                            \
            break;                                                                                              \
          case R_MAX:                                                                                           \
          case R_MIN:                                                                                           \
            a = ext8_##SFX(xr, len, a, kind == R_MAX);                                                          \
            break;                                                                                              \
          case R_LOGSUMEXP:                                                                                     \
            for (int64_t i = 0; i < len; i++) a += (AT)exp((double)((AT)xr[i] - mx[o]));                        \
            break;                                                                                              \
        }                                                                                                       \
        acc[o] = a;                                                                                             \
      } else {                                                                                                  \
        AT *ar = acc + o;                                                                                       \
        switch (kind) {                                                                                         \
          case R_SUM:                                                                                           \
          case R_MEAN:                                                                                          \
          case R_LOGSUM:                                                                                        \
            for (int64_t i = 0; i < len; i++) ar[i] = ADD(ar[i], (AT)xr[i]);                                    \
            break;                                                                                              \
          case R_SUMSQ:                                                                                         \
          case R_L2:                                                                                            \
            for (int64_t i = 0; i < len; i++) ar[i] = ADD(ar[i], MUL((AT)xr[i], (AT)xr[i]));                    \
            break;                                                                                              \
          case R_L1:                                                                                            \
            for (int64_t i = 0; i < len; i++) ar[i] = ADD(ar[i], ABS((AT)xr[i]));                               \
            break;                                                                                              \
          case R_PROD:                                                                                          \
            for (int64_t i = 0; i < len; i++) ar[i] = MUL(ar[i], (AT)xr[i]);                                    \
            break;                                                                                              \
          case R_MAX:                                                                                           \
            for (int64_t i = 0; i < len; i++)                                                                   \
              if (GT((AT)xr[i], ar[i])) ar[i] = (AT)xr[i];                                                      \
            break;                                                                                              \
          case R_MIN:                                                                                           \
            for (int64_t i = 0; i < len; i++)                                                                   \
              if (LT((AT)xr[i], ar[i])) ar[i] = (AT)xr[i];                                                      \
            break;                                                                                              \
          case R_LOGSUMEXP:                                                                                     \
            for (int64_t i = 0; i < len; i++) ar[i] += (AT)exp((double)((AT)xr[i] - mx[o + i]));                 \
            break;                                                                                              \
        }                                                                                                       \
      }                                                                                                         \
      for (int i = L - 1; i >= 0; i--) { /* next row: advance the odometer and the output offset */           \
        o += g->ostr[i];                                                                                        \
        if (++idx[i] < g->dims[i]) break;                                                                       \
        o -= g->ostr[i] * g->dims[i];                                                                           \
        idx[i] = 0;                                                                                             \
      }                                                                                                         \
    }                                                                                                           \
  }

#define F_ADD(a, b) ((a) + (b))
#define F_MUL(a, b) ((a) * (b))
#define F_ABS(a) fabs(a)
#define F_GT(a, b) ((a) > (b) || isnan(a))
#define F_LT(a, b) ((a) < (b) || isnan(a))
DEFINE_REDUCE(f32, float, double, F_ADD, F_MUL, F_ABS, F_GT, F_LT)
DEFINE_REDUCE(f64, double, double, F_ADD, F_MUL, F_ABS, F_GT, F_LT)

/* integers: wrap-around arithmetic through uint64 */
#define I_ADD(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b)))
#define I_MUL(a, b) ((int64_t)((uint64_t)(a) * (uint64_t)(b)))
#define I_ABS(a) ((a) < 0 ? (int64_t)(0 - (uint64_t)(a)) : (a))
#define I_GT(a, b) ((a) > (b))
#define I_LT(a, b) ((a) < (b))
DEFINE_REDUCE(i64, int64_t, int64_t, I_ADD, I_MUL, I_ABS, I_GT, I_LT)
#define U_ADD(a, b) ((a) + (b))
#define U_MUL(a, b) ((a) * (b))
#define U_ABS(a) (a)
DEFINE_REDUCE(u64, uint64_t, uint64_t, U_ADD, U_MUL, U_ABS, I_GT, I_LT)

typedef struct red_job {
  const red_geom *g;
  const void *x;
  bool f32;
  double *acc;
  const double *mx;
  int kind;
  int nw;
} red_job;

static void red_worker(void *p, int w) {
  const red_job *j = p;
  red_geom g = *j->g;
  int64_t d0 = g.dims[0], b = w * d0 / j->nw, e = (w + 1) * d0 / j->nw;
  int64_t inner = 1;
  for (int i = 1; i < g.m; i++) inner *= g.dims[i];
  g.dims[0] = e - b;
  size_t off = (size_t)(b * inner);
  int64_t ooff = b * g.ostr[0];
  const double *mx = j->mx ? j->mx + ooff : NULL;
  if (j->f32)
    reduce_f32(&g, (const float *)j->x + off, j->acc + ooff, j->kind, mx);
  else
    reduce_f64(&g, (const double *)j->x + off, j->acc + ooff, j->kind, mx);
}

static double f_identity(int kind) {
  switch (kind) {
    case R_PROD: return 1;
    case R_MAX: return -INFINITY;
    case R_MIN: return INFINITY;
    default: return 0;
  }
}

static double f_finish(int kind, double a, const double *mx, int64_t o, int64_t count) {
  switch (kind) {
    case R_MEAN: return a / (double)count;
    case R_L2: return sqrt(a);
    case R_LOGSUM: return log(a);
    case R_LOGSUMEXP: return mx[o] + log(a);
    default: return a;
  }
}

/* integer min/max identities by dtype */
static void int_limits(sn_dtype dt, int64_t *lo, int64_t *hi) {
  switch (dt) {
    case SINTER_INT8: *lo = INT8_MIN, *hi = INT8_MAX; break;
    case SINTER_UINT8: *lo = 0, *hi = UINT8_MAX; break;
    case SINTER_BOOL: *lo = 0, *hi = 1; break;
    case SINTER_INT16: *lo = INT16_MIN, *hi = INT16_MAX; break;
    case SINTER_UINT16: *lo = 0, *hi = UINT16_MAX; break;
    case SINTER_INT32: *lo = INT32_MIN, *hi = INT32_MAX; break;
    case SINTER_UINT32: *lo = 0, *hi = UINT32_MAX; break;
    default: *lo = INT64_MIN, *hi = INT64_MAX; break;
  }
}

static sn_error *reduce_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  int kind = red_kind(c->node->op_type);
  int opset = c->node->opset;
  bool keep = sn_attr_int(c->node, "keepdims", 1) != 0;
  bool has_in = c->n_in > 1 && c->in[1];
  red_axes r;
  char msg[200], b1[128];
  sn_error *e = get_axes(c->node, opset, kind, has_in, has_in ? c->in[1] : NULL, &r, msg, sizeof msg);
  if (e) {
    sn_error_free(e);
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s", msg);
  }
  sn_dtype dt = x->dtype;
  if (!numeric_type(dt) && dt != SINTER_BOOL)
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(dt));
  sn_tensor *y;
  /* noop_with_empty_axes: reduce over no axis, so each element passes through the op alone
   * (ReduceL1 gives |x|, ReduceSumSquare x * x, ...), as ONNX Runtime does */
  bool red[SN_MAX_RANK];
  if (!axes_mask(&r, x->rank, red, msg, sizeof msg))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (data %s)", msg, sn_tensor_describe(x, b1, sizeof b1));
  int64_t yd[SN_MAX_RANK];
  int k = 0;
  for (int i = 0; i < x->rank; i++) {
    if (!red[i])
      yd[k++] = x->dims[i];
    else if (keep)
      yd[k++] = 1;
  }
  SN_TRY(sn_kernel_output(c, 0, dt, k, yd, &y));
  red_geom g;
  make_geom(x->rank, x->dims, red, &g);
  int64_t n_out = g.out_count;
  if (n_out == 0) return NULL;
  bool is_f = sn_dt(dt)->is_float;
  /* integer results of real-valued reductions go through double */
  bool via_double = is_f || kind == R_MEAN || kind == R_L2 || kind == R_LOGSUM || kind == R_LOGSUMEXP;
  if (via_double) {
    double *acc = sn_kernel_scratch(c, sizeof(double) * 2 * (size_t)n_out), *mx = acc + n_out;
    if (!acc) return SN_ERR_OOM();
    const void *src = x->data;
    sn_dtype sdt = dt;
    if (!is_f || (dt != SINTER_DOUBLE && dt != SINTER_FLOAT)) {
      /* stage: float16/bfloat16 to float32, integers to double */
      if (sn_is_f32_family(dt)) {
        const float *xf;
        SN_TRY(sn_nn_f32_in(c, x, &xf));
        src = xf;
        sdt = SINTER_FLOAT;
      } else {
        double *xd = sn_kernel_scratch(c, sizeof(double) * (size_t)(x->count ? x->count : 1));
        if (!xd) return SN_ERR_OOM();
        for (int64_t i = 0; i < x->count; i++) xd[i] = sn_load_f64(dt, x->data, i);
        src = xd;
        sdt = SINTER_DOUBLE;
      }
    }
    if (kind == R_LOGSUMEXP) {
      for (int64_t i = 0; i < n_out; i++) mx[i] = -INFINITY;
      if (x->count) {
        if (sdt == SINTER_FLOAT)
          reduce_f32(&g, src, mx, R_MAX, NULL);
        else
          reduce_f64(&g, src, mx, R_MAX, NULL);
      }
      for (int64_t i = 0; i < n_out; i++)
        if (isinf(mx[i])) mx[i] = 0; /* empty or all -inf: keep log(sum exp) well defined */
    }
    double id = f_identity(kind);
    for (int64_t i = 0; i < n_out; i++) acc[i] = id;
    if (x->count) {
      red_job j = {&g, src, sdt == SINTER_FLOAT, acc, mx, kind, 1};
      /* split the outermost dim over workers when it is kept (disjoint outputs) */
      if (g.m >= 2 && !g.red[0] && g.dims[0] >= 2) {
        j.nw = sn_nn_workers(c, 2.0 * (double)x->count);
        if (j.nw > g.dims[0]) j.nw = (int)g.dims[0];
      }
      sn_nn_run(c, j.nw, red_worker, &j);
    }
    if (dt == SINTER_FLOAT) {
      float *yo = y->data;
      for (int64_t i = 0; i < n_out; i++) yo[i] = (float)f_finish(kind, acc[i], mx, i, g.red_count);
    } else if (dt == SINTER_DOUBLE) {
      double *yo = y->data;
      for (int64_t i = 0; i < n_out; i++) yo[i] = f_finish(kind, acc[i], mx, i, g.red_count);
    } else {
      for (int64_t i = 0; i < n_out; i++) {
        double v = f_finish(kind, acc[i], mx, i, g.red_count);
        if (!is_f) { /* integer output: truncate, saturate on non-finite */
          if (isnan(v)) v = 0;
          int64_t lo, hi;
          int_limits(dt, &lo, &hi);
          if (v < (double)lo) v = (double)lo;
          if (v > (double)hi) v = (double)hi;
        }
        sn_store_f64(dt, y->data, i, v);
      }
    }
    return NULL;
  }
  /* integer / bool arithmetic reductions */
  bool u64 = dt == SINTER_UINT64;
  void *acc = sn_kernel_scratch(c, sizeof(int64_t) * (size_t)n_out);
  void *xi = sn_kernel_scratch(c, sizeof(int64_t) * (size_t)(x->count ? x->count : 1));
  if (!acc || !xi) return SN_ERR_OOM();
  for (int64_t i = 0; i < x->count; i++) ((int64_t *)xi)[i] = sn_load_i64(dt, x->data, i);
  int64_t lo, hi;
  int_limits(dt, &lo, &hi);
  for (int64_t i = 0; i < n_out; i++) {
    int64_t v = kind == R_PROD ? 1 : kind == R_MAX ? lo : kind == R_MIN ? hi : 0;
    if (u64) ((uint64_t *)acc)[i] = kind == R_MAX ? 0 : kind == R_MIN ? UINT64_MAX : (uint64_t)v;
    else ((int64_t *)acc)[i] = v;
  }
  if (x->count) {
    if (u64)
      reduce_u64(&g, xi, acc, kind, NULL);
    else
      reduce_i64(&g, xi, acc, kind, NULL);
  }
  for (int64_t i = 0; i < n_out; i++) sn_store_i64(dt, y->data, i, ((int64_t *)acc)[i]);
  return NULL;
}

/* ---- ArgMax / ArgMin ------------------------------------------------------------------------------------- */

static sn_error *arg_infer(sn_infer_ctx *c) {
  const sn_type *x = c->in[0];
  if (!x) return sn_infer_error(c, "input data is required");
  if (x->dtype && !numeric_type(x->dtype)) return sn_infer_error(c, "element type %s is not supported", sn_dtype_name(x->dtype));
  sn_type *y = c->out[0];
  if (!y) return NULL;
  if (x->rank < 0) {
    sn_type_set_unknown(y, SINTER_INT64);
    return NULL;
  }
  int64_t axis = sn_attr_int(c->node, "axis", 0);
  bool keep = sn_attr_int(c->node, "keepdims", 1) != 0;
  if (axis < -x->rank || axis >= x->rank) return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  int a = (int)(axis < 0 ? axis + x->rank : axis);
  sn_dim d[SN_MAX_RANK];
  int k = 0;
  for (int i = 0; i < x->rank; i++) {
    if (i != a)
      d[k++] = x->dims[i];
    else if (keep)
      d[k++] = sn_dim_known(1);
  }
  sn_type_set(y, SINTER_INT64, k, d);
  return NULL;
}

static sn_error *arg_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  bool is_max = !strcmp(c->node->op_type, "ArgMax");
  int64_t axis = sn_attr_int(c->node, "axis", 0);
  bool keep = sn_attr_int(c->node, "keepdims", 1) != 0;
  bool last = sn_attr_int(c->node, "select_last_index", 0) != 0;
  if (axis < -x->rank || axis >= x->rank)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  int a = (int)(axis < 0 ? axis + x->rank : axis);
  int64_t yd[SN_MAX_RANK], outer = 1, n = x->dims[a], inner = 1;
  int k = 0;
  for (int i = 0; i < x->rank; i++) {
    if (i < a) outer *= x->dims[i];
    if (i > a) inner *= x->dims[i];
    if (i != a)
      yd[k++] = x->dims[i];
    else if (keep)
      yd[k++] = 1;
  }
  if (n == 0 && outer * inner > 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "cannot take the %s over an empty axis", is_max ? "argmax" : "argmin");
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_INT64, k, yd, &y));
  int64_t *out = y->data;
  sn_dtype dt = x->dtype;
  bool isf = sn_dt(dt)->is_float, u64 = dt == SINTER_UINT64;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t base = o * n * inner + i, best = 0;
      if (isf) {
        double bv = sn_load_f64(dt, x->data, base);
        for (int64_t j = 1; j < n; j++) {
          double v = sn_load_f64(dt, x->data, base + j * inner);
          bool better = is_max ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv);
          if (better) bv = v, best = j;
        }
      } else if (u64) {
        uint64_t bv = ((const uint64_t *)x->data)[base];
        for (int64_t j = 1; j < n; j++) {
          uint64_t v = ((const uint64_t *)x->data)[base + j * inner];
          bool better = is_max ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv);
          if (better) bv = v, best = j;
        }
      } else {
        int64_t bv = sn_load_i64(dt, x->data, base);
        for (int64_t j = 1; j < n; j++) {
          int64_t v = sn_load_i64(dt, x->data, base + j * inner);
          bool better = is_max ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv);
          if (better) bv = v, best = j;
        }
      }
      out[o * inner + i] = best;
    }
  return NULL;
}

/* ---- CumSum ---------------------------------------------------------------------------------------------- */

static bool cumsum_type(sn_dtype dt) {
  switch (dt) {
    case SINTER_FLOAT:
    case SINTER_DOUBLE:
    case SINTER_FLOAT16:
    case SINTER_BFLOAT16:
    case SINTER_INT32:
    case SINTER_INT64:
    case SINTER_UINT32:
    case SINTER_UINT64: return true;
    default: return false;
  }
}

static sn_error *cumsum_infer(sn_infer_ctx *c) {
  const sn_type *x = c->in[0];
  if (!x || c->n_in < 2 || !c->in[1]) return sn_infer_error(c, "needs inputs x and axis");
  if (x->dtype && !cumsum_type(x->dtype)) return sn_infer_error(c, "element type %s is not supported", sn_dtype_name(x->dtype));
  const sn_tensor *ax = c->in_data[1];
  if (ax && x->rank >= 0) {
    if (ax->count != 1) return sn_infer_error(c, "axis must hold one value");
    int64_t a = sn_load_i64(ax->dtype, ax->data, 0);
    if (a < -x->rank || a >= x->rank) return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)a, x->rank);
  }
  if (c->out[0]) {
    if (x->rank < 0)
      sn_type_set_unknown(c->out[0], x->dtype);
    else
      sn_type_set(c->out[0], x->dtype, x->rank, x->dims);
  }
  return NULL;
}

#define DEFINE_CUMSUM(SFX, T, AT, ADD)                                                                          \
  static void cumsum_##SFX(const T *x, T *y, int64_t outer, int64_t n, int64_t inner, bool excl, bool rev) {    \
    for (int64_t o = 0; o < outer; o++)                                                                         \
      for (int64_t i = 0; i < inner; i++) {                                                                     \
        AT s = 0;                                                                                               \
        for (int64_t j0 = 0; j0 < n; j0++) {                                                                    \
          int64_t j = rev ? n - 1 - j0 : j0, q = (o * n + j) * inner + i;                                        \
          T v = x[q];                                                                                           \
          if (excl) {                                                                                           \
            y[q] = (T)s;                                                                                        \
            s = ADD(s, (AT)v);                                                                                  \
          } else {                                                                                              \
            s = ADD(s, (AT)v);                                                                                  \
            y[q] = (T)s;                                                                                        \
          }                                                                                                     \
        }                                                                                                       \
      }                                                                                                         \
  }
DEFINE_CUMSUM(f32, float, float, F_ADD)
DEFINE_CUMSUM(f64, double, double, F_ADD)
DEFINE_CUMSUM(i64, int64_t, int64_t, I_ADD)

static sn_error *cumsum_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0], *ax = c->in[1];
  if (ax->count != 1 || (ax->dtype != SINTER_INT32 && ax->dtype != SINTER_INT64))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis must be one int32 or int64 value");
  int64_t axis = sn_load_i64(ax->dtype, ax->data, 0);
  if (axis < -x->rank || axis >= x->rank)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  int a = (int)(axis < 0 ? axis + x->rank : axis);
  bool excl = sn_attr_int(c->node, "exclusive", 0) != 0, rev = sn_attr_int(c->node, "reverse", 0) != 0;
  int64_t outer = 1, n = x->dims[a], inner = 1;
  for (int i = 0; i < x->rank; i++) {
    if (i < a) outer *= x->dims[i];
    if (i > a) inner *= x->dims[i];
  }
  sn_dtype dt = x->dtype;
  if (!cumsum_type(dt)) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(dt));
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, dt, x->rank, x->dims, &y));
  if (y->count == 0) return NULL;
  if (dt == SINTER_DOUBLE) {
    cumsum_f64(x->data, y->data, outer, n, inner, excl, rev);
  } else if (sn_is_f32_family(dt)) {
    const float *xf;
    float *yf;
    SN_TRY(sn_nn_f32_in(c, x, &xf));
    SN_TRY(sn_nn_f32_out(c, y, &yf));
    cumsum_f32(xf, yf, outer, n, inner, excl, rev);
    sn_nn_f32_out_done(y, yf);
  } else {
    int64_t *xi = sn_kernel_scratch(c, sizeof(int64_t) * 2 * (size_t)x->count), *yi = xi + x->count;
    if (!xi) return SN_ERR_OOM();
    for (int64_t i = 0; i < x->count; i++) xi[i] = sn_load_i64(dt, x->data, i);
    cumsum_i64(xi, yi, outer, n, inner, excl, rev);
    for (int64_t i = 0; i < x->count; i++) sn_store_i64(dt, y->data, i, yi[i]);
  }
  return NULL;
}

/* ---- TopK ------------------------------------------------------------------------------------------------ */

static sn_error *topk_k(const sn_node *n, int opset, const sn_tensor *kt, int64_t *k, bool *known) {
  *known = true;
  if (opset < 10) {
    *k = sn_attr_int(n, "k", -1);
    return NULL;
  }
  if (!kt) {
    *known = false;
    return NULL;
  }
  if (kt->count != 1 || kt->dtype != SINTER_INT64)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "K must be a single int64 value");
  *k = ((const int64_t *)kt->data)[0];
  return NULL;
}

static sn_error *topk_infer(sn_infer_ctx *c) {
  const sn_type *x = c->in[0];
  if (!x) return sn_infer_error(c, "input X is required");
  if (x->dtype && !numeric_type(x->dtype)) return sn_infer_error(c, "element type %s is not supported", sn_dtype_name(x->dtype));
  if (c->opset >= 10 && (c->n_in < 2 || !c->in[1])) return sn_infer_error(c, "input K is required");
  int64_t k = -1;
  bool known;
  sn_error *e = topk_k(c->node, c->opset, c->opset >= 10 ? c->in_data[1] : NULL, &k, &known);
  if (e) {
    sn_error_free(e);
    return sn_infer_error(c, "K must be a single int64 value");
  }
  for (int o = 0; o < 2 && o < c->n_out; o++) {
    sn_type *y = c->out[o];
    if (!y) continue;
    sn_dtype dt = o ? SINTER_INT64 : x->dtype;
    if (x->rank < 0) {
      sn_type_set_unknown(y, dt);
      continue;
    }
    int64_t axis = sn_attr_int(c->node, "axis", -1);
    if (axis < -x->rank || axis >= x->rank) return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    if (known && (k < 0 || (x->dims[a].v >= 0 && k > x->dims[a].v)))
      return sn_infer_error(c, "k = %lld is out of range for axis of size %lld", (long long)k, (long long)x->dims[a].v);
    sn_dim d[SN_MAX_RANK];
    for (int i = 0; i < x->rank; i++) d[i] = x->dims[i];
    d[a] = known ? sn_dim_known(k) : sn_dim_unknown();
    sn_type_set(y, dt, x->rank, d);
  }
  return NULL;
}

/* Sort keys with the index as tie-breaker (lower index first). Merge sort, stable by construction. */
typedef struct tk_item {
  double v;
  int64_t i;
  int64_t iv; /* exact key for 64-bit integers */
} tk_item;

static bool tk_before(const tk_item *a, const tk_item *b, bool largest, bool exact) {
  if (exact) {
    if (a->iv != b->iv) return largest ? a->iv > b->iv : a->iv < b->iv;
  } else {
    bool an = isnan(a->v), bn = isnan(b->v);
    if (an || bn) {
      if (an && bn) return a->i < b->i;
      return largest ? an : bn; /* NaN counts as the largest value */
    }
    if (a->v != b->v) return largest ? a->v > b->v : a->v < b->v;
  }
  return a->i < b->i;
}

static void tk_sort(tk_item *a, tk_item *tmp, int64_t n, bool largest, bool exact) {
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      int64_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = tk_before(&a[j], &a[i], largest, exact) ? a[j++] : a[i++];
      while (i < mid) tmp[k++] = a[i++];
      while (j < hi) tmp[k++] = a[j++];
    }
    memcpy(a, tmp, sizeof(tk_item) * (size_t)n);
  }
}

static sn_error *topk_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  int opset = c->node->opset;
  int64_t k = -1;
  bool known;
  SN_TRY(topk_k(c->node, opset, opset >= 10 ? c->in[1] : NULL, &k, &known));
  int64_t axis = sn_attr_int(c->node, "axis", -1);
  bool largest = sn_attr_int(c->node, "largest", 1) != 0;
  if (axis < -x->rank || axis >= x->rank)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  int a = (int)(axis < 0 ? axis + x->rank : axis);
  int64_t n = x->dims[a];
  if (k < 0 || k > n)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "k = %lld is out of range for an axis of size %lld", (long long)k,
                           (long long)n);
  int64_t outer = 1, inner = 1, yd[SN_MAX_RANK];
  for (int i = 0; i < x->rank; i++) {
    if (i < a) outer *= x->dims[i];
    if (i > a) inner *= x->dims[i];
    yd[i] = i == a ? k : x->dims[i];
  }
  sn_dtype dt = x->dtype;
  sn_tensor *vals, *inds;
  SN_TRY(sn_kernel_output(c, 0, dt, x->rank, yd, &vals));
  SN_TRY(sn_kernel_output(c, 1, SINTER_INT64, x->rank, yd, &inds));
  if (vals->count == 0) return NULL;
  tk_item *it = sn_kernel_scratch(c, sizeof(tk_item) * 2 * (size_t)n);
  if (!it) return SN_ERR_OOM();
  bool exact = dt == SINTER_INT64 || dt == SINTER_UINT64;
  size_t es = sn_dtype_size(dt);
  int64_t *io = inds->data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t base = o * n * inner + i;
      for (int64_t j = 0; j < n; j++) {
        int64_t q = base + j * inner;
        it[j].i = j;
        if (exact) {
          int64_t v = ((const int64_t *)x->data)[q];
          it[j].iv = dt == SINTER_UINT64 ? (int64_t)((uint64_t)v ^ 0x8000000000000000ull) : v;
          it[j].v = 0;
        } else {
          it[j].v = sn_load_f64(dt, x->data, q);
          it[j].iv = 0;
        }
      }
      tk_sort(it, it + n, n, largest, exact);
      for (int64_t j = 0; j < k; j++) {
        int64_t src = base + it[j].i * inner, dst = (o * k + j) * inner + i;
        memcpy((char *)vals->data + (size_t)dst * es, (const char *)x->data + (size_t)src * es, es);
        io[dst] = it[j].i;
      }
    }
  return NULL;
}


/* ---- Einsum ---------------------------------------------------------------------------------------------- */

#define ES_MAX_IN 16
#define ES_MAX_LABELS 80 /* 52 letters + ellipsis dims */

typedef struct es_plan {
  int n_in;
  int nl;                              /* labels in use */
  int64_t size[ES_MAX_LABELS];         /* size of each label */
  int rank[ES_MAX_IN];                 /* input ranks */
  int lab[ES_MAX_IN][SN_MAX_RANK];     /* label of each input dim */
  int out_rank;
  int out_lab[SN_MAX_RANK];
  bool in_out[ES_MAX_LABELS];
} es_plan;

static int es_letter(char ch) {
  if (ch >= 'a' && ch <= 'z') return ch - 'a';
  if (ch >= 'A' && ch <= 'Z') return 26 + ch - 'A';
  return -1;
}

/* Parse the equation against the input ranks (and dims, when known: dims[i] NULL otherwise). */
static bool es_parse(const char *eq, int n_in, const int *ranks, const int64_t *const *dims, es_plan *pl, char *msg,
                     size_t len) {
  memset(pl, 0, sizeof *pl);
  pl->n_in = n_in;
  if (n_in > ES_MAX_IN) {
    snprintf(msg, len, "at most %d inputs are supported", ES_MAX_IN);
    return false;
  }
  char buf[512];
  size_t k = 0;
  for (const char *q = eq; *q && k < sizeof buf - 1; q++)
    if (*q != ' ') buf[k++] = *q;
  buf[k] = 0;
  char *arrow = strstr(buf, "->");
  if (arrow) *arrow = 0;
  const char *rhs = arrow ? arrow + 2 : NULL;
  int count[ES_MAX_LABELS] = {0};
  int ell_max = 0;
  int ell_len[ES_MAX_IN] = {0};
  /* first pass: count letters, ellipsis lengths */
  const char *t = buf;
  for (int i = 0; i < n_in; i++) {
    const char *end = strchr(t, ',');
    if (!end) end = t + strlen(t);
    if (i < n_in - 1 && *end != ',') {
      snprintf(msg, len, "equation '%s' has fewer terms than the %d inputs", eq, n_in);
      return false;
    }
    int letters = 0;
    bool ell = false;
    for (const char *q = t; q < end; q++) {
      if (*q == '.') {
        if (ell || q + 2 >= end + 1 || q[1] != '.' || q[2] != '.') {
          snprintf(msg, len, "bad ellipsis in equation '%s'", eq);
          return false;
        }
        ell = true;
        q += 2;
        continue;
      }
      if (es_letter(*q) < 0) {
        snprintf(msg, len, "bad character '%c' in equation '%s'", *q, eq);
        return false;
      }
      letters++;
    }
    if (ranks[i] >= 0) {
      if ((!ell && letters != ranks[i]) || (ell && letters > ranks[i])) {
        snprintf(msg, len, "term %d of '%s' has %d labels for an input of rank %d", i, eq, letters, ranks[i]);
        return false;
      }
      ell_len[i] = ell ? ranks[i] - letters : 0;
      if (ell_len[i] > ell_max) ell_max = ell_len[i];
    }
    /* second step: assign labels */
    int d = 0;
    for (const char *q = t; q < end; q++) {
      if (*q == '.') {
        for (int e = 0; e < ell_len[i]; e++) pl->lab[i][d++] = 52 + (ES_MAX_LABELS - 52) - ell_len[i] + e;
        q += 2;
        continue;
      }
      int l = es_letter(*q);
      if (d < SN_MAX_RANK) pl->lab[i][d++] = l;
      count[l]++;
    }
    pl->rank[i] = d;
    t = *end ? end + 1 : end;
    if (i == n_in - 1 && *end == ',') {
      snprintf(msg, len, "equation '%s' has more terms than the %d inputs", eq, n_in);
      return false;
    }
  }
  if (ell_max > ES_MAX_LABELS - 52) {
    snprintf(msg, len, "ellipsis covers too many dims");
    return false;
  }
  /* label sizes (ellipsis dims broadcast) */
  for (int l = 0; l < ES_MAX_LABELS; l++) pl->size[l] = -1;
  for (int i = 0; i < n_in; i++) {
    if (!dims[i]) continue;
    for (int d = 0; d < pl->rank[i]; d++) {
      int l = pl->lab[i][d];
      int64_t v = dims[i][d];
      if (pl->size[l] < 0 || pl->size[l] == 1)
        pl->size[l] = v;
      else if (v != pl->size[l] && !(l >= 52 && v == 1)) {
        snprintf(msg, len, "label '%c' has sizes %lld and %lld", l < 26 ? 'a' + l : l < 52 ? 'A' + l - 26 : '.',
                 (long long)pl->size[l], (long long)v);
        return false;
      }
    }
  }
  /* output labels */
  int o = 0;
  if (rhs) {
    bool ell = false;
    for (const char *q = rhs; *q; q++) {
      if (*q == '.') {
        if (ell || q[1] != '.' || q[2] != '.') {
          snprintf(msg, len, "bad ellipsis in the output of '%s'", eq);
          return false;
        }
        ell = true;
        for (int e = 0; e < ell_max && o < SN_MAX_RANK; e++) pl->out_lab[o++] = ES_MAX_LABELS - ell_max + e;
        q += 2;
        continue;
      }
      int l = es_letter(*q);
      if (l < 0 || !count[l] || pl->in_out[l]) {
        snprintf(msg, len, "output label '%c' of '%s' is unknown or repeated", *q, eq);
        return false;
      }
      if (o >= SN_MAX_RANK) break;
      pl->out_lab[o++] = l;
      pl->in_out[l] = true;
    }
    if (!ell && ell_max > 0) {
      /* ellipsis dims not in the output are summed */
    }
  } else {
    for (int e = 0; e < ell_max; e++) pl->out_lab[o++] = ES_MAX_LABELS - ell_max + e;
    for (int l = 26; l < 52; l++) /* ASCII order: upper case first */
      if (count[l] == 1) pl->out_lab[o++] = l;
    for (int l = 0; l < 26; l++)
      if (count[l] == 1 && o < SN_MAX_RANK) pl->out_lab[o++] = l;
  }
  for (int i = 0; i < o; i++) pl->in_out[pl->out_lab[i]] = true;
  pl->out_rank = o;
  return true;
}

static sn_error *einsum_infer(sn_infer_ctx *c) {
  const char *eq = sn_attr_str(c->node, "equation", NULL);
  if (!eq) return sn_infer_error(c, "attribute equation is required");
  int ranks[ES_MAX_IN];
  int64_t dv[ES_MAX_IN][SN_MAX_RANK];
  const int64_t *dims[ES_MAX_IN];
  if (c->n_in < 1 || c->n_in > ES_MAX_IN) return sn_infer_error(c, "needs 1 to %d inputs", ES_MAX_IN);
  sn_dtype dt = 0;
  for (int i = 0; i < c->n_in; i++) {
    const sn_type *t = c->in[i];
    if (!t) return sn_infer_error(c, "input %d is required", i);
    if (t->dtype && !numeric_type(t->dtype)) return sn_infer_error(c, "element type %s is not supported", sn_dtype_name(t->dtype));
    if (!dt) dt = t->dtype;
    ranks[i] = t->rank;
    dims[i] = NULL;
    if (t->rank >= 0) {
      bool all = true;
      for (int d = 0; d < t->rank; d++) {
        dv[i][d] = t->dims[d].v;
        all &= t->dims[d].v >= 0;
      }
      if (all) dims[i] = dv[i];
    }
  }
  for (int i = 0; i < c->n_in; i++)
    if (ranks[i] < 0) {
      if (c->out[0]) sn_type_set_unknown(c->out[0], dt);
      return NULL;
    }
  es_plan pl;
  char msg[256];
  if (!es_parse(eq, c->n_in, ranks, dims, &pl, msg, sizeof msg)) return sn_infer_error(c, "%s", msg);
  if (!c->out[0]) return NULL;
  /* output dims: from any input dim carrying the label (symbolic kept) */
  sn_dim od[SN_MAX_RANK];
  for (int o = 0; o < pl.out_rank; o++) {
    int l = pl.out_lab[o];
    od[o] = sn_dim_unknown();
    for (int i = 0; i < c->n_in; i++)
      for (int d = 0; d < pl.rank[i]; d++)
        if (pl.lab[i][d] == l) {
          sn_dim x = c->in[i]->dims[d];
          if (od[o].v < 0 && !od[o].sym) od[o] = x;
          else if (od[o].v == 1 && x.v != 1) od[o] = x;
        }
  }
  sn_type_set(c->out[0], dt, pl.out_rank, od);
  return NULL;
}

/* strided gather of an n-d view into contiguous dst (double or float elements) */
#define DEFINE_GATHER(SFX, T)                                                                                   \
  static void gather_##SFX(const T *src, int nd, const int64_t *dims, const int64_t *str, T *dst) {             \
    int64_t idx[ES_MAX_LABELS] = {0}, total = 1, off = 0;                                                       \
    for (int d = 0; d < nd; d++) total *= dims[d];                                                              \
    for (int64_t q = 0; q < total; q++) {                                                                       \
      dst[q] = src[off];                                                                                        \
      for (int d = nd - 1; d >= 0; d--) {                                                                       \
        off += str[d];                                                                                          \
        if (++idx[d] < dims[d]) break;                                                                          \
        off -= str[d] * dims[d];                                                                                \
        idx[d] = 0;                                                                                             \
      }                                                                                                         \
    }                                                                                                           \
  }
DEFINE_GATHER(f32, float)
DEFINE_GATHER(f64, double)

/* per-input stride of every label (summed over repeated labels: diagonals), 0 where absent / broadcast */
static void es_strides(const es_plan *pl, const sn_tensor *const *in, int64_t (*lstr)[ES_MAX_LABELS]) {
  for (int i = 0; i < pl->n_in; i++) {
    for (int l = 0; l < ES_MAX_LABELS; l++) lstr[i][l] = 0;
    int64_t st = 1;
    for (int d = pl->rank[i] - 1; d >= 0; d--) {
      if (in[i]->dims[d] != 1) lstr[i][pl->lab[i][d]] += st;
      st *= in[i]->dims[d];
    }
  }
}

static sn_error *einsum_run(sn_kernel_ctx *c) {
  const char *eq = sn_attr_str(c->node, "equation", NULL);
  if (!eq) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "attribute equation is required");
  int n = c->n_in;
  if (n < 1 || n > ES_MAX_IN) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "needs 1 to %d inputs", ES_MAX_IN);
  int ranks[ES_MAX_IN];
  const int64_t *dims[ES_MAX_IN];
  sn_dtype dt = c->in[0]->dtype;
  for (int i = 0; i < n; i++) {
    ranks[i] = c->in[i]->rank;
    dims[i] = c->in[i]->dims;
    if (c->in[i]->dtype != dt)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "inputs differ in element type (%s vs %s)", sn_dtype_name(dt),
                             sn_dtype_name(c->in[i]->dtype));
  }
  if (!numeric_type(dt)) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(dt));
  es_plan pl;
  char msg[256];
  if (!es_parse(eq, n, ranks, dims, &pl, msg, sizeof msg)) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s", msg);
  int64_t od[SN_MAX_RANK];
  for (int o = 0; o < pl.out_rank; o++) od[o] = pl.size[pl.out_lab[o]] < 0 ? 1 : pl.size[pl.out_lab[o]];
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, dt, pl.out_rank, od, &y));
  if (y->count == 0) return NULL;
  int64_t lstr[ES_MAX_IN][ES_MAX_LABELS];
  es_strides(&pl, c->in, lstr);
  /* labels that are summed: used somewhere, not in the output */
  int sum_lab[ES_MAX_LABELS], ns = 0;
  for (int l = 0; l < ES_MAX_LABELS; l++)
    if (pl.size[l] >= 0 && !pl.in_out[l]) sum_lab[ns++] = l;
  bool isf = sn_dt(dt)->is_float;
  /* two operands without diagonals or summed-away single-operand labels: batched GEMM */
  if (n == 2 && isf) {
    bool ok = true;
    int cls[ES_MAX_LABELS]; /* 0 batch, 1 M, 2 N, 3 K */
    for (int l = 0; l < ES_MAX_LABELS && ok; l++) {
      if (pl.size[l] < 0) continue;
      int ca = 0, cb = 0;
      for (int d = 0; d < pl.rank[0]; d++) ca += pl.lab[0][d] == l;
      for (int d = 0; d < pl.rank[1]; d++) cb += pl.lab[1][d] == l;
      if (ca > 1 || cb > 1) ok = false;
      bool ia = ca && lstr[0][l], ib = cb && lstr[1][l];
      if (pl.size[l] == 1) { cls[l] = 0; continue; }
      if (ca && !ia) ok = false; /* broadcast size-1 against a larger size */
      if (cb && !ib) ok = false;
      if (ca && cb) cls[l] = pl.in_out[l] ? 0 : 3;
      else if (ca) cls[l] = pl.in_out[l] ? 1 : -1;
      else cls[l] = pl.in_out[l] ? 2 : -1;
      if (cls[l] < 0) ok = false;
    }
    if (ok) {
      int lb[ES_MAX_LABELS], lm[ES_MAX_LABELS], ln[ES_MAX_LABELS], lk[ES_MAX_LABELS], nb = 0, nm = 0, nn = 0, nk = 0;
      int64_t Bt = 1, M = 1, N = 1, K = 1;
      for (int o = 0; o < pl.out_rank; o++) { /* batch / M / N in output order */
        int l = pl.out_lab[o];
        if (pl.size[l] < 0) continue;
        if (cls[l] == 0) lb[nb++] = l, Bt *= pl.size[l];
        if (cls[l] == 1) lm[nm++] = l, M *= pl.size[l];
        if (cls[l] == 2) ln[nn++] = l, N *= pl.size[l];
      }
      for (int l = 0; l < ES_MAX_LABELS; l++)
        if (pl.size[l] >= 0 && cls[l] == 3) lk[nk++] = l, K *= pl.size[l];
      /* gather A as [batch..., M..., K...], B as [batch..., K..., N...] */
      int64_t gd[ES_MAX_LABELS], gs[ES_MAX_LABELS];
      bool dbl = dt == SINTER_DOUBLE;
      size_t es = dbl ? sizeof(double) : sizeof(float);
      void *A = sn_kernel_scratch(c, es * (size_t)(Bt * M * K + 1)), *B = sn_kernel_scratch(c, es * (size_t)(Bt * K * N + 1));
      void *C = sn_kernel_scratch(c, es * (size_t)(Bt * M * N + 1));
      void *ws = sn_nn_gemm_workspace(c, dbl);
      if (!A || !B || !C || !ws) return SN_ERR_OOM();
      const void *src[2];
      for (int i = 0; i < 2; i++) {
        if (dbl) src[i] = c->in[i]->data;
        else {
          const float *f;
          SN_TRY(sn_nn_f32_in(c, c->in[i], &f));
          src[i] = f;
        }
      }
      for (int i = 0; i < 2; i++) {
        int g = 0;
        for (int j = 0; j < nb; j++) gd[g] = pl.size[lb[j]], gs[g++] = lstr[i][lb[j]];
        if (i == 0) {
          for (int j = 0; j < nm; j++) gd[g] = pl.size[lm[j]], gs[g++] = lstr[0][lm[j]];
          for (int j = 0; j < nk; j++) gd[g] = pl.size[lk[j]], gs[g++] = lstr[0][lk[j]];
        } else {
          for (int j = 0; j < nk; j++) gd[g] = pl.size[lk[j]], gs[g++] = lstr[1][lk[j]];
          for (int j = 0; j < nn; j++) gd[g] = pl.size[ln[j]], gs[g++] = lstr[1][ln[j]];
        }
        if (dbl) gather_f64(src[i], g, gd, gs, i ? B : A);
        else gather_f32(src[i], g, gd, gs, i ? B : A);
      }
      for (int64_t b = 0; b < Bt; b++) {
        if (dbl)
          SN_TRY(sn_nn_dgemm(c, ws, false, false, M, N, K, 1, (double *)A + b * M * K, K, (double *)B + b * K * N, N,
                             0, (double *)C + b * M * N, N));
        else
          SN_TRY(sn_nn_sgemm(c, ws, false, false, M, N, K, 1, (float *)A + b * M * K, K, (float *)B + b * K * N, N,
                             0, (float *)C + b * M * N, N));
      }
      /* C is [batch..., M..., N...]: permute into the output label order */
      int64_t cstr[ES_MAX_LABELS] = {0}, st = 1;
      int order[ES_MAX_LABELS], no = 0;
      for (int j = 0; j < nb; j++) order[no++] = lb[j];
      for (int j = 0; j < nm; j++) order[no++] = lm[j];
      for (int j = 0; j < nn; j++) order[no++] = ln[j];
      for (int j = no - 1; j >= 0; j--) {
        cstr[order[j]] = st;
        st *= pl.size[order[j]];
      }
      for (int o = 0; o < pl.out_rank; o++) {
        gd[o] = od[o];
        gs[o] = pl.size[pl.out_lab[o]] > 1 ? cstr[pl.out_lab[o]] : 0;
      }
      if (dbl) {
        gather_f64(C, pl.out_rank, gd, gs, y->data);
      } else {
        float *yf;
        SN_TRY(sn_nn_f32_out(c, y, &yf));
        gather_f32(C, pl.out_rank, gd, gs, yf);
        sn_nn_f32_out_done(y, yf);
      }
      return NULL;
    }
  }
  /* generic: for every output element, sum the product over the summed labels (double / int64) */
  int64_t total_sum = 1;
  for (int j = 0; j < ns; j++) total_sum *= pl.size[sum_lab[j]];
  int64_t oidx[SN_MAX_RANK] = {0}, sidx[ES_MAX_LABELS];
  int64_t ooff[ES_MAX_IN] = {0};
  for (int64_t q = 0; q < y->count; q++) {
    double accf = 0;
    uint64_t acci = 0;
    int64_t off[ES_MAX_IN];
    for (int j = 0; j < ns; j++) sidx[j] = 0;
    for (int i = 0; i < n; i++) off[i] = ooff[i];
    for (int64_t r = 0; r < total_sum; r++) {
      if (isf) {
        double p = 1;
        for (int i = 0; i < n; i++) p *= sn_load_f64(dt, c->in[i]->data, off[i]);
        accf += p;
      } else {
        uint64_t p = 1;
        for (int i = 0; i < n; i++) p *= (uint64_t)sn_load_i64(dt, c->in[i]->data, off[i]);
        acci += p;
      }
      for (int j = ns - 1; j >= 0; j--) {
        int l = sum_lab[j];
        for (int i = 0; i < n; i++) off[i] += lstr[i][l];
        if (++sidx[j] < pl.size[l]) break;
        for (int i = 0; i < n; i++) off[i] -= lstr[i][l] * pl.size[l];
        sidx[j] = 0;
      }
    }
    if (isf)
      sn_store_f64(dt, y->data, q, accf);
    else
      sn_store_i64(dt, y->data, q, (int64_t)acci);
    for (int o = pl.out_rank - 1; o >= 0; o--) {
      int l = pl.out_lab[o];
      for (int i = 0; i < n; i++) ooff[i] += lstr[i][l];
      if (++oidx[o] < od[o]) break;
      for (int i = 0; i < n; i++) ooff[i] -= lstr[i][l] * od[o];
      oidx[o] = 0;
    }
  }
  return NULL;
}

const sn_op sn_ops_reduce[] = {
    /* axes as an attribute, then as an input (opset 13 for ReduceSum, 18 for the others) */
    {"", "ReduceSum", 1, 12, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceSum", 13, 0, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceMean", 1, 17, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceMean", 18, 0, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceMax", 1, 17, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceMax", 18, 0, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceMin", 1, 17, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceMin", 18, 0, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceProd", 1, 17, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceProd", 18, 0, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceL1", 1, 17, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceL1", 18, 0, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceL2", 1, 17, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceL2", 18, 0, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceLogSum", 1, 17, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceLogSum", 18, 0, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceLogSumExp", 1, 17, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceLogSumExp", 18, 0, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceSumSquare", 1, 17, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ReduceSumSquare", 18, 0, reduce_infer, reduce_run, NULL, NULL, 0},
    {"", "ArgMax", 1, 0, arg_infer, arg_run, NULL, NULL, 0},
    {"", "ArgMin", 1, 0, arg_infer, arg_run, NULL, NULL, 0},
    {"", "CumSum", 11, 0, cumsum_infer, cumsum_run, NULL, NULL, 0},
    {"", "TopK", 1, 9, topk_infer, topk_run, NULL, NULL, 0},
    {"", "TopK", 10, 0, topk_infer, topk_run, NULL, NULL, 0},
    {"", "Einsum", 12, 0, einsum_infer, einsum_run, NULL, NULL, 0},
    {0},
};
