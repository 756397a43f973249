/* Softmax, LogSoftmax and Hardmax: coerced-2D semantics before opset 13, a single axis from 13. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/ref/nn_util.h"
#include "kernels/vmath.h"
#include "ops/op.h"
#include "ops/qlinear.h"

enum { SM_SOFTMAX, SM_LOGSOFTMAX, SM_HARDMAX };

static int sm_kind(const sn_node *n) {
  if (!strcmp(n->op_type, "LogSoftmax")) return SM_LOGSOFTMAX;
  if (!strcmp(n->op_type, "Hardmax")) return SM_HARDMAX;
  return SM_SOFTMAX;
}

static bool float_type(sn_dtype dt) {
  return dt == SINTER_FLOAT || dt == SINTER_DOUBLE || dt == SINTER_FLOAT16 || dt == SINTER_BFLOAT16;
}

static int64_t default_axis(int opset) { return opset >= 13 ? -1 : 1; }

static sn_error *sm_infer(sn_infer_ctx *c) {
  const sn_type *x = c->in[0];
  if (!x) return sn_infer_error(c, "input is required");
  if (x->dtype && !float_type(x->dtype))
    return sn_infer_error(c, "element type %s is not supported (float types only)", sn_dtype_name(x->dtype));
  if (x->rank >= 0) {
    int64_t axis = sn_attr_int(c->node, "axis", default_axis(c->opset));
    int r = x->rank;
    /* before opset 13 axis may equal rank (coerced to [N, 1]); rank 0 has no axis to use */
    bool ok = c->opset >= 13 ? (axis >= -r && axis < r) : (axis >= -r && axis <= r);
    if (!ok && !(r == 0 && (axis == 0 || axis == -1)))
      return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)axis, r);
  }
  if (c->out[0]) {
    if (x->rank < 0)
      sn_type_set_unknown(c->out[0], x->dtype);
    else
      sn_type_set(c->out[0], x->dtype, x->rank, x->dims);
  }
  return NULL;
}

#define DEFINE_SM(SFX, T, EXP, LOG, LOWEST, EXPSUM, EXPSUMONLY, MAX, SCALE)                                                        \
  /* contiguous rows of n */                                                                                   \
  static void sm_rows_##SFX(const T *x, T *y, int64_t rows, int64_t n, int kind) {                             \
    for (int64_t r = 0; r < rows; r++) {                                                                       \
      const T *xr = x + r * n;                                                                                 \
      T *yr = y + r * n;                                                                                       \
      if (kind == SM_HARDMAX) {                                                                                \
        T mx = LOWEST;                                                                                         \
        int64_t arg = 0;                                                                                       \
        for (int64_t i = 0; i < n; i++)                                                                        \
          if (xr[i] > mx || i == 0) {                                                                          \
            mx = xr[i];                                                                                        \
            arg = i;                                                                                           \
          }                                                                                                    \
        for (int64_t i = 0; i < n; i++) yr[i] = 0;                                                             \
        if (n) yr[arg] = 1;                                                                                    \
        continue;                                                                                              \
      }                                                                                                        \
      T mx = n ? MAX(xr, n) : (T)0;                                                                            \
      if (kind == SM_SOFTMAX) {                                                                                \
        T sum = EXPSUM(xr, yr, n, mx);                                                                         \
        SCALE((T)1 / sum, yr, n);                                                                              \
      } else {                                                                                                 \
        T sum = EXPSUMONLY(xr, n, mx);                                                                         \
        T lse = mx + LOG(sum);                                                                                 \
        for (int64_t i = 0; i < n; i++) yr[i] = xr[i] - lse;                                                   \
      }                                                                                                        \
    }                                                                                                          \
  }                                                                                                            \
  /* [outer, n, inner] with inner > 1: vectors across inner; acc holds 2 * inner */                           \
  static void sm_strided_##SFX(const T *x, T *y, int64_t outer, int64_t n, int64_t inner, int kind, T *acc) {  \
    T *mx = acc, *sum = acc + inner;                                                                           \
    int64_t *arg = (int64_t *)(acc + 2 * inner);                                                               \
    for (int64_t o = 0; o < outer; o++) {                                                                      \
      const T *xo = x + o * n * inner;                                                                         \
      T *yo = y + o * n * inner;                                                                               \
      for (int64_t i = 0; i < inner; i++) {                                                                    \
        mx[i] = n ? xo[i] : (T)0;                                                                              \
        sum[i] = 0;                                                                                            \
        arg[i] = 0;                                                                                            \
      }                                                                                                        \
      for (int64_t k = 1; k < n; k++)                                                                          \
        for (int64_t i = 0; i < inner; i++)                                                                    \
          if (xo[k * inner + i] > mx[i]) {                                                                     \
            mx[i] = xo[k * inner + i];                                                                         \
            arg[i] = k;                                                                                        \
          }                                                                                                    \
      if (kind == SM_HARDMAX) {                                                                                \
        for (int64_t k = 0; k < n; k++)                                                                        \
          for (int64_t i = 0; i < inner; i++) yo[k * inner + i] = arg[i] == k ? (T)1 : (T)0;                   \
        continue;                                                                                              \
      }                                                                                                        \
      for (int64_t k = 0; k < n; k++)                                                                          \
        for (int64_t i = 0; i < inner; i++) {                                                                  \
          T e = EXP(xo[k * inner + i] - mx[i]);                                                                \
          if (kind == SM_SOFTMAX) yo[k * inner + i] = e;                                                       \
          sum[i] += e;                                                                                         \
        }                                                                                                      \
      if (kind == SM_SOFTMAX) {                                                                                \
        for (int64_t i = 0; i < inner; i++) sum[i] = (T)1 / sum[i];                                            \
        for (int64_t k = 0; k < n; k++)                                                                        \
          for (int64_t i = 0; i < inner; i++) yo[k * inner + i] *= sum[i];                                     \
      } else {                                                                                                 \
        for (int64_t i = 0; i < inner; i++) sum[i] = mx[i] + LOG(sum[i]);                                      \
        for (int64_t k = 0; k < n; k++)                                                                        \
          for (int64_t i = 0; i < inner; i++) yo[k * inner + i] = xo[k * inner + i] - sum[i];                  \
      }                                                                                                        \
    }                                                                                                          \
  }

/* double rows: exp(x - shift) into y, returning the sum */
static double expsum_f64(const double *x, double *y, int64_t n, double shift) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) {
    y[i] = exp(x[i] - shift);
    s += y[i];
  }
  return s;
}
static double expsumonly_f64(const double *x, int64_t n, double shift) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += exp(x[i] - shift);
  return s;
}

static double max_f64(const double *x, int64_t n) {
  double m = x[0];
  for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

static void scale_f32(float a, float *y, int64_t n) { sn_vscale(a, y, y, n); }
static void scale_f64(double a, double *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] *= a;
}

DEFINE_SM(f32, float, expf, logf, -FLT_MAX, sn_vexp_shift_sum, sn_vexp_shift_sumonly, sn_vmax, scale_f32)
DEFINE_SM(f64, double, exp, log, -DBL_MAX, expsum_f64, expsumonly_f64, max_f64, scale_f64)

/* Softmax / LogSoftmax of float32 over an axis with inner > 1, the inner positions [i0, i1) of every
 * outer slice: vectors along the inner positions, the exponentials by sn_vexp a row of them at a time
 * (YOLOv8's distribution focal loss: a softmax over 16 bins of [1, 16, 4, 8400], one expf at a time
 * took 2.7 ms). acc: 3 * (i1 - i0) floats. In place (y == x) too. */
static void sm_strided_vec_f32(const float *x, float *y, int64_t outer, int64_t n, int64_t inner, int64_t i0,
                               int64_t i1, int kind, float *acc) {
  const int64_t m = i1 - i0;
  float *mx = acc, *sum = acc + m, *e = acc + 2 * m;
  for (int64_t o = 0; o < outer; o++) {
    const float *xo = x + o * n * inner + i0;
    float *yo = y + o * n * inner + i0;
    memcpy(mx, xo, sizeof(float) * (size_t)m);
    for (int64_t k = 1; k < n; k++) {
      const float *xk = xo + k * inner;
      for (int64_t i = 0; i < m; i++) mx[i] = xk[i] > mx[i] ? xk[i] : mx[i];
    }
    for (int64_t i = 0; i < m; i++) sum[i] = 0;
    for (int64_t k = 0; k < n; k++) {
      const float *xk = xo + k * inner;
      float *ek = kind == SM_SOFTMAX ? yo + k * inner : e; /* (LogSoftmax reads x again after) */
      for (int64_t i = 0; i < m; i++) ek[i] = xk[i] - mx[i];
      sn_vexp(ek, ek, m);
      for (int64_t i = 0; i < m; i++) sum[i] += ek[i];
    }
    if (kind == SM_SOFTMAX) {
      for (int64_t i = 0; i < m; i++) sum[i] = 1.0f / sum[i];
      for (int64_t k = 0; k < n; k++) {
        float *yk = yo + k * inner;
        for (int64_t i = 0; i < m; i++) yk[i] *= sum[i];
      }
    } else {
      for (int64_t i = 0; i < m; i++) sum[i] = mx[i] + logf(sum[i]);
      for (int64_t k = 0; k < n; k++) {
        const float *xk = xo + k * inner;
        float *yk = yo + k * inner;
        for (int64_t i = 0; i < m; i++) yk[i] = xk[i] - sum[i];
      }
    }
  }
}

/* rows (outer slices) split over workers, or with fewer slices than workers (float32, not Hardmax)
 * the inner positions */
typedef struct sm_job {
  bool dbl;
  int kind;
  int64_t outer, n, inner;
  const void *x;
  void *y;
  char *acc;
  size_t acc_bytes;
  int nw;
  bool by_inner;
} sm_job;

static void sm_worker(void *p, int w) {
  const sm_job *j = p;
  int64_t o0 = w * j->outer / j->nw, o1 = (w + 1) * j->outer / j->nw, step = j->n * j->inner;
  void *acc = j->acc ? j->acc + (size_t)w * j->acc_bytes : NULL;
  if (!j->dbl && j->inner > 1 && j->kind != SM_HARDMAX) {
    int64_t i0 = 0, i1 = j->inner;
    if (j->by_inner) {
      i0 = w * j->inner / j->nw, i1 = (w + 1) * j->inner / j->nw;
      o0 = 0, o1 = j->outer;
    }
    if (i1 > i0 && o1 > o0)
      sm_strided_vec_f32((const float *)j->x + o0 * step, (float *)j->y + o0 * step, o1 - o0, j->n, j->inner, i0, i1,
                         j->kind, acc);
    return;
  }
  if (j->dbl) {
    const double *x = (const double *)j->x + o0 * step;
    double *y = (double *)j->y + o0 * step;
    if (j->inner == 1)
      sm_rows_f64(x, y, o1 - o0, j->n, j->kind);
    else
      sm_strided_f64(x, y, o1 - o0, j->n, j->inner, j->kind, acc);
  } else {
    const float *x = (const float *)j->x + o0 * step;
    float *y = (float *)j->y + o0 * step;
    if (j->inner == 1)
      sm_rows_f32(x, y, o1 - o0, j->n, j->kind);
    else
      sm_strided_f32(x, y, o1 - o0, j->n, j->inner, j->kind, acc);
  }
}

static sn_error *sm_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  int opset = c->node->opset;
  int kind = sm_kind(c->node);
  int64_t axis = sn_attr_int(c->node, "axis", default_axis(opset));
  int r = x->rank;
  bool ok = opset >= 13 ? (axis >= -r && axis < r) : (axis >= -r && axis <= r);
  if (r == 0 && (axis == 0 || axis == -1)) ok = true;
  if (!ok) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for rank %d", (long long)axis, r);
  int a = r == 0 ? 0 : (int)(axis < 0 ? axis + r : axis);
  int64_t outer = 1, n = 1, inner = 1;
  for (int i = 0; i < r; i++) {
    if (i < a)
      outer *= x->dims[i];
    else if (opset < 13 || i == a)
      n *= x->dims[i];
    else
      inner *= x->dims[i];
  }
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, x->dims, &y));
  if (y->count == 0) return NULL;
  sm_job j = {x->dtype == SINTER_DOUBLE, kind, outer, n, inner, x->data, y->data, NULL, 0, 1, false};
  if (!j.dbl && !sn_is_f32_family(x->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(x->dtype));
  float *yf = NULL;
  if (!j.dbl) {
    const float *xf;
    SN_TRY(sn_nn_f32_in(c, x, &xf));
    SN_TRY(sn_nn_f32_out(c, y, &yf));
    j.x = xf;
    j.y = yf;
  }
  j.nw = sn_nn_workers(c, 20.0 * (double)y->count);
  if (j.nw > outer) {
    /* few slices: the inner positions split instead, in parts of at least 64 */
    j.by_inner = !j.dbl && inner >= 128 && kind != SM_HARDMAX;
    if (!j.by_inner)
      j.nw = (int)outer;
    else if (j.nw > inner / 64)
      j.nw = (int)(inner / 64);
  }
  if (inner > 1) {
    /* (double: max, sum, argmax per position; float32: max, sum, one row of exponentials) */
    j.acc_bytes = ((2 * sizeof(double) + sizeof(int64_t)) * (size_t)inner + 63) & ~(size_t)63;
    j.acc = sn_kernel_scratch(c, j.acc_bytes * (size_t)j.nw);
    if (!j.acc) return SN_ERR_OOM();
  }
  sn_nn_run(c, j.nw, sm_worker, &j);
  if (yf) sn_nn_f32_out_done(y, yf);
  return NULL;
}

/* ---- sinter:QDQSoftmax (x, x_scale, x_zero_point, y_scale, y_zero_point), attribute axis ------------
 * QuantizeLinear(Softmax(DequantizeLinear(x))) over the last axis, per-tensor parameters, the output of
 * y_zero_point's 8-bit type, as the QDQ pass fuses a quantized attention's softmax: the three ops'
 * float32 steps row block by row block (sn_nn_qrows), so the same bytes without the float tensors. */

static sn_error *qsm_infer(sn_infer_ctx *c) {
  if (c->n_in != 5 || !c->in[0] || !c->in[1] || !c->in[3] || !c->in[4])
    return sn_infer_error(c, "needs x, x_scale, x_zero_point, y_scale, y_zero_point");
  const sn_type *x = c->in[0];
  int64_t axis = sn_attr_int(c->node, "axis", -1);
  if (x->rank >= 0 && axis != -1 && axis != x->rank - 1)
    return sn_infer_error(c, "axis %lld is not the last axis of a rank-%d x", (long long)axis, x->rank);
  return sn_qdq_infer_out(c, 4);
}

static void qsm_rows(const void *arg, float *rows, int64_t nrows, int64_t n) {
  (void)arg;
  sm_rows_f32(rows, rows, nrows, n, SM_SOFTMAX);
}

static sn_error *qsm_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  sn_qdq_io q;
  SN_TRY(sn_qdq_io_read(c, 3, &q));
  int64_t axis = sn_attr_int(c->node, "axis", -1);
  if (x->rank < 1 || (axis != -1 && axis != x->rank - 1))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is not the last axis of a rank-%d x", (long long)axis, x->rank);
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, c->in[4]->dtype, x->rank, x->dims, &y));
  int64_t n = x->dims[x->rank - 1];
  if (y->count == 0) return NULL;
  return sn_nn_qrows(c, x->data, x->dtype == SINTER_INT8, (int32_t)q.xz, q.xs, y->data, y->dtype == SINTER_INT8, q.ys,
                     q.yz, y->count / n, n, 20.0, qsm_rows, NULL);
}

const sn_op sn_ops_softmax[] = {
    {"", "Softmax", 1, 12, sm_infer, sm_run, NULL, NULL, 0},
    {"", "Softmax", 13, 0, sm_infer, sm_run, NULL, NULL, 0},
    {"", "LogSoftmax", 1, 12, sm_infer, sm_run, NULL, NULL, 0},
    {"", "LogSoftmax", 13, 0, sm_infer, sm_run, NULL, NULL, 0},
    {"", "Hardmax", 1, 12, sm_infer, sm_run, NULL, NULL, 0},
    {"", "Hardmax", 13, 0, sm_infer, sm_run, NULL, NULL, 0},
    {"sinter", "QDQSoftmax", 1, 0, qsm_infer, qsm_run, NULL, NULL, 0},
    {0},
};
