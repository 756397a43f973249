/* Helpers the op families share (see common.h); the copy engine itself lives in data.c. */
#include "ops/common.h"

#include <string.h>

#include "core/alloc.h"

bool sn_norm_axis(int64_t a, int rank, int *out) {
  if (a < -rank || a >= rank) return false;
  *out = (int)(a < 0 ? a + rank : a);
  return true;
}

sn_error *sn_op_out_alloc(sn_kernel_ctx *c, int i, sn_dtype dt, int rank, const int64_t *dims, sn_tensor **out) {
  if (dt == SINTER_STRING) return sn_tensor_new(dt, rank, dims, out);
  return sn_kernel_output(c, i, dt, rank, dims, out);
}

sn_error *sn_op_out_finish(sn_kernel_ctx *c, int i, sn_tensor *t, sn_error *e) {
  if (!t || t->dtype != SINTER_STRING) return e;
  char **s = t->data;
  if (e) {
    memset(s, 0, sizeof(char *) * (size_t)t->count);
    sn_tensor_free(t);
    return e;
  }
  for (int64_t k = 0; k < t->count; k++) {
    char *d = sn_strdup(s[k] ? s[k] : "");
    if (!d) {
      memset(s + k, 0, sizeof(char *) * (size_t)(t->count - k));
      sn_tensor_free(t);
      return SN_ERR_OOM();
    }
    s[k] = d;
  }
  return sn_kernel_set_output(c, i, t);
}

sn_error *sn_op_f64_view(sn_kernel_ctx *c, const sn_tensor *t, const double **out) {
  if (t->dtype == SINTER_DOUBLE) {
    *out = t->data;
    return NULL;
  }
  double *b = sn_kernel_scratch(c, (size_t)(t->count ? t->count : 1) * sizeof(double));
  if (!b) return SN_ERR_OOM();
  if (t->dtype == SINTER_FLOAT) {
    const float *s = t->data;
    for (int64_t i = 0; i < t->count; i++) b[i] = s[i];
  } else {
    for (int64_t i = 0; i < t->count; i++) b[i] = sn_load_f64(t->dtype, t->data, i);
  }
  *out = b;
  return NULL;
}
