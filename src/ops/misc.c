/* Miscellaneous ops: Det (batched determinants by LU decomposition with partial pivoting, computed in
 * double for every input type). */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/op.h"

/* ---- Det ------------------------------------------------------------------------------------------- */

static bool det_type(sn_dtype dt, int opset) {
  return dt == SINTER_FLOAT || dt == SINTER_DOUBLE || dt == SINTER_FLOAT16 || (dt == SINTER_BFLOAT16 && opset >= 22);
}

static sn_error *det_infer(sn_infer_ctx *c) {
  const sn_type *x = c->in[0];
  if (!x) return sn_infer_error(c, "input is missing");
  if (x->dtype && !det_type(x->dtype, c->opset))
    return sn_infer_error(c, "element type %s is not supported (float16, float, double%s)", sn_dtype_name(x->dtype),
                          c->opset >= 22 ? ", bfloat16" : "");
  if (x->rank >= 0 && x->rank < 2) return sn_infer_error(c, "input must have rank >= 2 ([*, M, M]), got rank %d", x->rank);
  if (x->rank >= 2) {
    sn_dim m = x->dims[x->rank - 2], n = x->dims[x->rank - 1];
    if (m.v >= 0 && n.v >= 0 && m.v != n.v)
      return sn_infer_error(c, "the last two dimensions must be equal (square matrices), got %lld x %lld", (long long)m.v,
                            (long long)n.v);
  }
  if (c->out[0]) {
    if (x->rank < 0)
      sn_type_set_unknown(c->out[0], x->dtype);
    else
      sn_type_set(c->out[0], x->dtype, x->rank - 2, x->dims);
  }
  return NULL;
}

/* Determinant of the n x n row-major matrix a, destroyed in the process. */
static double det_lu(double *a, int64_t n) {
  double det = 1.0;
  for (int64_t k = 0; k < n; k++) {
    int64_t piv = k;
    double best = fabs(a[k * n + k]);
    for (int64_t i = k + 1; i < n; i++) {
      double v = fabs(a[i * n + k]);
      if (v > best) best = v, piv = i;
    }
    if (best == 0.0) return 0.0; /* singular */
    if (piv != k) {
      for (int64_t j = 0; j < n; j++) {
        double t = a[k * n + j];
        a[k * n + j] = a[piv * n + j];
        a[piv * n + j] = t;
      }
      det = -det;
    }
    double d = a[k * n + k];
    det *= d;
    for (int64_t i = k + 1; i < n; i++) {
      double f = a[i * n + k] / d;
      if (f == 0.0) continue;
      for (int64_t j = k + 1; j < n; j++) a[i * n + j] -= f * a[k * n + j];
    }
  }
  return det;
}

static sn_error *det_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  if (!x || x->kind != SN_KIND_TENSOR) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input must be a tensor");
  if (!det_type(x->dtype, c->node->opset))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "element type %s is not supported", sn_dtype_name(x->dtype));
  char dims[96];
  if (x->rank < 2 || x->dims[x->rank - 1] != x->dims[x->rank - 2])
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input must be [*, M, M], got %s",
                           sn_dims_str(x->rank, x->dims, dims, sizeof dims));
  int64_t n = x->dims[x->rank - 1];
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank - 2, x->dims, &y));
  if (y->count == 0) return NULL;
  double *a = sn_kernel_scratch(c, sizeof(double) * (size_t)(n > 0 ? n * n : 1));
  if (!a) return SN_ERR_OOM();
  for (int64_t b = 0; b < y->count; b++) {
    int64_t base = b * n * n;
    if (x->dtype == SINTER_FLOAT) {
      const float *xf = (const float *)x->data + base;
      for (int64_t i = 0; i < n * n; i++) a[i] = xf[i];
    } else if (x->dtype == SINTER_DOUBLE) {
      memcpy(a, (const double *)x->data + base, sizeof(double) * (size_t)(n * n));
    } else {
      for (int64_t i = 0; i < n * n; i++) a[i] = sn_load_f64(x->dtype, x->data, base + i);
    }
    bool nan = false;
    for (int64_t i = 0; i < n * n; i++) nan |= isnan(a[i]);
    double d = nan ? NAN : det_lu(a, n);
    if (x->dtype == SINTER_DOUBLE)
      ((double *)y->data)[b] = d;
    else
      sn_store_f64(x->dtype, y->data, b, d);
  }
  return NULL;
}

const sn_op sn_ops_misc[] = {
    /* 22 adds bfloat16 */
    {"", "Det", 11, 21, det_infer, det_run, NULL, NULL, 0},
    {"", "Det", 22, 0, det_infer, det_run, NULL, NULL, 0},
    {0},
};
