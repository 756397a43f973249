/* Shared plumbing of the elementwise op families: output allocation for kernels and folding. */
#include "kernels/ref/elementwise_ref.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/alloc.h"

#define SN_EW_FOLD_MAX 4096 /* fold in shape inference only up to this many elements */

sn_error *sn_ew_output(sn_ew_out *o, sn_dtype dt, int rank, const int64_t *dims, sn_tensor **t) {
  *t = NULL;
  if (o->t) return sn_errorf(SINTER_ERR_RUNTIME, "internal: output requested twice");
  if (o->kc && dt != SINTER_STRING) return sn_kernel_output(o->kc, 0, dt, rank, dims, t);
  SN_TRY(sn_tensor_new(dt, rank, dims, &o->t));
  *t = o->t;
  return NULL;
}

void *sn_ew_scratch(sn_ew_out *o, size_t bytes) {
  if (o->kc) return sn_kernel_scratch(o->kc, bytes ? bytes : 1);
  if (o->n_tmp >= (int)(sizeof o->tmp / sizeof *o->tmp)) return NULL;
  void *p = sn_aligned_alloc(bytes ? bytes : 1);
  if (p) o->tmp[o->n_tmp++] = p;
  return p;
}

static void release_tmp(sn_ew_out *o) {
  for (int i = 0; i < o->n_tmp; i++) sn_aligned_free(o->tmp[i]);
  o->n_tmp = 0;
}

sn_error *sn_ew_run(sn_kernel_ctx *c, const void *params, sn_ew_fn f) {
  sn_ew_out o = {0};
  o.kc = c;
  sn_error *e = f(c->node, params, c->n_in, c->in, &o);
  release_tmp(&o);
  if (e) {
    sn_tensor_free(o.t);
    return e;
  }
  if (o.t) return sn_kernel_set_output(c, 0, o.t);
  return NULL;
}

sn_error *sn_ew_fold(sn_infer_ctx *c, const void *params, sn_ew_fn f) {
  if (!c->out_data || c->n_out < 1 || !c->in_data) return NULL;
  const sn_tensor *in[16];
  if (c->n_in > 16) return NULL;
  for (int i = 0; i < c->n_in; i++) {
    in[i] = NULL;
    if (!c->in[i]) continue;
    const sn_tensor *t = c->in_data[i];
    if (!t || t->kind != SN_KIND_TENSOR || t->count > SN_EW_FOLD_MAX) return NULL;
    in[i] = t;
  }
  const sn_type *ot = c->out[0];
  if (ot) {
    if (ot->rank < 0) return NULL;
    int64_t n = 1;
    for (int d = 0; d < ot->rank; d++) {
      if (ot->dims[d].v < 0) return NULL;
      n *= ot->dims[d].v;
      if (n > SN_EW_FOLD_MAX) return NULL;
    }
  }
  sn_ew_out o = {0};
  sn_error *e = f(c->node, params, c->n_in, in, &o);
  release_tmp(&o);
  if (e) {
    sn_tensor_free(o.t);
    return e;
  }
  if (c->out_data[0]) { /* already known: keep the driver's value */
    sn_tensor_free(o.t);
    return NULL;
  }
  c->out_data[0] = o.t;
  return NULL;
}

sn_error *sn_ew_errorf(const sn_node *n, sinter_code code, const char *fmt, ...) {
  char msg[512], desc[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return sn_errorf(code, "%s: %s", sn_node_desc(n, desc, sizeof desc), msg);
}

void sn_ew_type_like(sn_type *out, const sn_type *in, sn_dtype dt) {
  if (!out) return;
  if (!in || in->rank < 0)
    sn_type_set_unknown(out, dt);
  else
    sn_type_set(out, dt, in->rank, in->dims);
}
