/* Loss ops valid at inference: NegativeLogLikelihoodLoss (opsets 12, 13, 22) and
 * SoftmaxCrossEntropyLoss (12, 13), with reductions none/sum/mean, class weights, ignore_index,
 * N-d inputs [N, C, d1, ...] and the optional log_prob output; computed in double. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/common.h"

typedef enum { RED_NONE, RED_SUM, RED_MEAN } loss_reduction;

typedef struct loss_params {
  int reduction;
  bool has_ignore;
  int64_t ignore_index;
  bool softmax; /* SoftmaxCrossEntropyLoss */
} loss_params;

static bool loss_float_type(sn_dtype dt) {
  return dt == SINTER_FLOAT || dt == SINTER_DOUBLE || dt == SINTER_FLOAT16 || dt == SINTER_BFLOAT16;
}

static sn_error *loss_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  char nd[160];
  const char *red = sn_attr_str(n, "reduction", "mean");
  int r;
  if (!strcmp(red, "none"))
    r = RED_NONE;
  else if (!strcmp(red, "sum"))
    r = RED_SUM;
  else if (!strcmp(red, "mean"))
    r = RED_MEAN;
  else
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: reduction '%s' is not one of none, sum, mean",
                     sn_node_desc(n, nd, sizeof nd), red);
  if (n->n_in < 2 || n->in[0] < 0 || n->in[1] < 0)
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: needs inputs scores and labels", sn_node_desc(n, nd, sizeof nd));
  loss_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  p->reduction = r;
  p->softmax = !strcmp(n->op_type, "SoftmaxCrossEntropyLoss");
  const sn_attr *ii = sn_node_attr(n, "ignore_index");
  if (ii && ii->type == SN_ATTR_INT) {
    p->has_ignore = true;
    p->ignore_index = ii->i;
  }
  *params = p;
  return NULL;
}

static void loss_free_params(void *p) { sn_free(p); }

static sn_error *loss_infer(sn_infer_ctx *c) {
  const loss_params *p = c->node->params;
  if (!p) return sn_infer_error(c, "attributes were not prepared");
  const sn_type *X = c->n_in > 0 ? c->in[0] : NULL, *T = c->n_in > 1 ? c->in[1] : NULL;
  const sn_type *W = c->n_in > 2 ? c->in[2] : NULL;
  if (!X || !T) return sn_infer_error(c, "needs inputs scores and labels");
  if (X->dtype && !loss_float_type(X->dtype))
    return sn_infer_error(c, "scores of type %s are not supported (float types only)", sn_dtype_name(X->dtype));
  if (T->dtype && T->dtype != SINTER_INT32 && T->dtype != SINTER_INT64)
    return sn_infer_error(c, "labels must be int32 or int64, not %s", sn_dtype_name(T->dtype));
  if (X->rank >= 0 && X->rank < 2) return sn_infer_error(c, "scores must have rank >= 2 ([N, C, ...]), got rank %d", X->rank);
  if (X->rank >= 0 && T->rank >= 0 && T->rank != X->rank - 1)
    return sn_infer_error(c, "labels must have rank %d (one less than scores), got rank %d", X->rank - 1, T->rank);
  if (W && W->rank >= 0 && W->rank != 1) return sn_infer_error(c, "weights must be 1-D, got rank %d", W->rank);
  sn_type *Y = c->n_out > 0 ? c->out[0] : NULL;
  if (Y) {
    if (p->reduction != RED_NONE) {
      sn_type_set(Y, X->dtype, 0, NULL);
    } else if (X->rank >= 2) {
      sn_dim d[SN_MAX_RANK];
      d[0] = X->dims[0];
      for (int i = 2; i < X->rank; i++) d[i - 1] = X->dims[i];
      /* prefer the labels' dims where they are known */
      if (T->rank == X->rank - 1)
        for (int i = 0; i < T->rank; i++)
          if (d[i].v < 0 && !d[i].sym) d[i] = T->dims[i];
      sn_type_set(Y, X->dtype, X->rank - 1, d);
    } else if (T->rank >= 0) {
      sn_type_set(Y, X->dtype, T->rank, T->dims);
    } else {
      sn_type_set_unknown(Y, X->dtype);
    }
  }
  sn_type *LP = c->n_out > 1 ? c->out[1] : NULL;
  if (LP) {
    if (!p->softmax) return sn_infer_error(c, "has one output only");
    if (X->rank >= 0)
      sn_type_set(LP, X->dtype, X->rank, X->dims);
    else
      sn_type_set_unknown(LP, X->dtype);
  }
  return NULL;
}

static sn_error *loss_run(sn_kernel_ctx *c) {
  const loss_params *p = c->params;
  const sn_tensor *X = c->in[0], *T = c->n_in > 1 ? c->in[1] : NULL, *W = c->n_in > 2 ? c->in[2] : NULL;
  char b1[160], b2[160];
  if (!X || !T || X->kind != SN_KIND_TENSOR || T->kind != SN_KIND_TENSOR)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "needs tensor inputs scores and labels");
  if (!loss_float_type(X->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "scores of type %s are not supported", sn_dtype_name(X->dtype));
  if (T->dtype != SINTER_INT32 && T->dtype != SINTER_INT64)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "labels must be int32 or int64, not %s", sn_dtype_name(T->dtype));
  if (X->rank < 2)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "scores %s must have rank >= 2 ([N, C, ...])",
                           sn_tensor_describe(X, b1, sizeof b1));
  bool shape_ok = T->rank == X->rank - 1 && T->dims[0] == X->dims[0];
  for (int i = 2; shape_ok && i < X->rank; i++) shape_ok = T->dims[i - 1] == X->dims[i];
  if (!shape_ok)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "labels %s do not match scores %s (expected [N, d1, ...])",
                           sn_tensor_describe(T, b1, sizeof b1), sn_tensor_describe(X, b2, sizeof b2));
  const int64_t N = X->dims[0], C = X->dims[1], D = sn_shape_count(X->rank - 2, X->dims + 2);
  if (W && W->kind == SN_KIND_TENSOR && (W->rank != 1 || W->dims[0] != C))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "weights %s must be [C] = [%lld]",
                           sn_tensor_describe(W, b1, sizeof b1), (long long)C);
  if (W && W->dtype != X->dtype)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "weights %s must have the scores' type %s",
                           sn_tensor_describe(W, b1, sizeof b1), sn_dtype_name(X->dtype));

  const double *x, *w = NULL;
  SN_TRY(sn_op_f64_view(c, X, &x));
  if (W) SN_TRY(sn_op_f64_view(c, W, &w));

  /* log-probabilities for SoftmaxCrossEntropyLoss: log_softmax over axis 1 */
  const double *lp = x;
  if (p->softmax) {
    double *l = sn_kernel_scratch(c, (size_t)(X->count ? X->count : 1) * sizeof(double));
    if (!l) return SN_ERR_OOM();
    for (int64_t n = 0; n < N; n++)
      for (int64_t d = 0; d < D; d++) {
        const double *xs = x + n * C * D + d;
        double *ls = l + n * C * D + d;
        double mx = -INFINITY;
        for (int64_t k = 0; k < C; k++)
          if (xs[k * D] > mx) mx = xs[k * D];
        double s = 0;
        for (int64_t k = 0; k < C; k++) s += exp(xs[k * D] - mx);
        double lse = mx + log(s);
        for (int64_t k = 0; k < C; k++) ls[k * D] = xs[k * D] - lse;
      }
    lp = l;
    if (c->n_out > 1 && sn_kernel_output_used(c, 1)) {
      sn_tensor *LP;
      SN_TRY(sn_kernel_output(c, 1, X->dtype, X->rank, X->dims, &LP));
      for (int64_t i = 0; i < X->count; i++) sn_op_store_f64(LP, i, lp[i]);
    }
  }

  sn_tensor *Y;
  if (p->reduction == RED_NONE)
    SN_TRY(sn_kernel_output(c, 0, X->dtype, T->rank, T->dims, &Y));
  else
    SN_TRY(sn_kernel_output(c, 0, X->dtype, 0, NULL, &Y));
  double sum = 0, wsum = 0;
  for (int64_t n = 0; n < N; n++)
    for (int64_t d = 0; d < D; d++) {
      int64_t i = n * D + d;
      int64_t t = sn_load_i64(T->dtype, T->data, i);
      double l = 0, wt = 0;
      if (!(p->has_ignore && t == p->ignore_index)) {
        if (t < 0 || t >= C)
          return sn_kernel_error(c, SINTER_ERR_RUNTIME, "label %lld at flat index %lld is outside [0, %lld)%s",
                                 (long long)t, (long long)i, (long long)C,
                                 p->has_ignore ? " and is not ignore_index" : "");
        wt = w ? w[t] : 1.0;
        l = -lp[(n * C + t) * D + d] * wt;
      }
      if (p->reduction == RED_NONE)
        sn_op_store_f64(Y, i, l);
      sum += l;
      wsum += wt;
    }
  if (p->reduction == RED_SUM) {
    sn_op_store_f64(Y, 0, sum);
  } else if (p->reduction == RED_MEAN) {
    /* with weights or ignore_index: weighted mean; otherwise the plain mean over N*d1*... */
    double den = (w || p->has_ignore) ? wsum : (double)(N * D);
    sn_op_store_f64(Y, 0, sum / den);
  }
  return NULL;
}

/* NegativeLogLikelihoodLoss 13 and 22 and SoftmaxCrossEntropyLoss 13 only widen the type lists
 * (bfloat16 and friends); the semantics are those of opset 12. */
const sn_op sn_ops_loss[] = {
    {"", "NegativeLogLikelihoodLoss", 12, 12, loss_infer, loss_run, loss_prepare, loss_free_params, 0},
    {"", "NegativeLogLikelihoodLoss", 13, 21, loss_infer, loss_run, loss_prepare, loss_free_params, 0},
    {"", "NegativeLogLikelihoodLoss", 22, 0, loss_infer, loss_run, loss_prepare, loss_free_params, 0},
    {"", "SoftmaxCrossEntropyLoss", 12, 12, loss_infer, loss_run, loss_prepare, loss_free_params, 0},
    {"", "SoftmaxCrossEntropyLoss", 13, 0, loss_infer, loss_run, loss_prepare, loss_free_params, 0},
    {0},
};
