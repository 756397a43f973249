/* Shape and constant ops: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout,
 * Constant, ConstantOfShape, Range, EyeLike, Expand. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/common.h"

/* defined in src/ops/data.c */

/* ---- helpers ------------------------------------------------------------------------------------- */

static const sn_type *tin(const sn_infer_ctx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }
static const sn_tensor *cin(const sn_infer_ctx *c, int i) { return (i < c->n_in && c->in_data) ? c->in_data[i] : NULL; }
static sn_type *tout(const sn_infer_ctx *c, int i) { return i < c->n_out ? c->out[i] : NULL; }
static const sn_tensor *kin(const sn_kernel_ctx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }

static void set_out(sn_infer_ctx *c, int i, sn_dtype dt, int rank, const sn_dim *dims) {
  sn_type *t = tout(c, i);
  if (!t) return;
  if (rank < 0)
    sn_type_set_unknown(t, dt);
  else
    sn_type_set(t, dt, rank, dims);
}

static void set_out_rank(sn_infer_ctx *c, int i, sn_dtype dt, int rank) {
  sn_dim d[SN_MAX_RANK];
  for (int k = 0; k < rank && k < SN_MAX_RANK; k++) d[k] = sn_dim_unknown();
  set_out(c, i, dt, rank, d);
}

static void set_out_data(sn_infer_ctx *c, int i, sn_tensor *t) {
  if (c->out_data && i < c->n_out && c->out[i])
    c->out_data[i] = t;
  else
    sn_tensor_free(t);
}

static int read_ints(const sn_tensor *t, int64_t *out, int max) {
  if (!t || t->kind != SN_KIND_TENSOR || t->count > max || t->rank > 1) return -1;
  for (int64_t i = 0; i < t->count; i++) out[i] = sn_load_i64(t->dtype, t->data, i);
  return (int)t->count;
}

/* Output i = the data of x under a new shape (same element count). */
static sn_error *emit_copy(sn_kernel_ctx *c, int i, const sn_tensor *x, int rank, const int64_t *dims) {
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, i, x->dtype, rank, dims, &y));
  if (y->data != x->data && x->nbytes) memcpy(y->data, x->data, x->nbytes);
  return sn_op_out_finish(c, i, y, NULL);
}

static sn_error *need_tensor(const sn_kernel_ctx *c, const sn_tensor *x, const char *what) {
  char b[128];
  if (!x) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input '%s' is missing", what);
  if (x->kind != SN_KIND_TENSOR)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input '%s' must be a tensor, got %s", what,
                           sn_tensor_describe(x, b, sizeof b));
  return NULL;
}

/* Product of dims as a dim: known, or the one symbolic dim when the rest are 1, else unknown. */
static sn_dim dims_product(const sn_dim *d, int from, int to) {
  int64_t p = 1;
  int nsym = 0, nunk = 0;
  sn_dim sym = sn_dim_unknown();
  for (int i = from; i < to; i++) {
    if (d[i].v >= 0) {
      if (__builtin_mul_overflow(p, d[i].v, &p)) return sn_dim_unknown();
    } else if (d[i].sym) {
      nsym++;
      sym = d[i];
    } else
      nunk++;
  }
  if (p == 0) return sn_dim_known(0);
  if (nunk == 0 && nsym == 0) return sn_dim_known(p);
  if (nunk == 0 && nsym == 1 && p == 1) return sym;
  return sn_dim_unknown();
}

/* ---- Shape / Size -------------------------------------------------------------------------------- */

static void shape_bounds(const sn_node *n, int rank, int64_t *s, int64_t *e) {
  int64_t start = sn_attr_int(n, "start", 0), end = sn_attr_int(n, "end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = start < 0 ? 0 : (start > rank ? rank : start);
  end = end < 0 ? 0 : (end > rank ? rank : end);
  if (end < start) end = start;
  *s = start;
  *e = end;
}

static sn_error *shape_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  if (x->kind != SN_KIND_TENSOR) return sn_infer_error(c, "expects a tensor input");
  if (x->rank < 0) {
    set_out_rank(c, 0, SINTER_INT64, 1);
    return NULL;
  }
  int64_t s, e;
  shape_bounds(c->node, x->rank, &s, &e);
  int64_t len = e - s;
  sn_dim d = sn_dim_known(len);
  set_out(c, 0, SINTER_INT64, 1, &d);
  for (int64_t i = s; i < e; i++)
    if (x->dims[i].v < 0) return NULL;
  sn_tensor *t;
  SN_TRY(sn_tensor_new(SINTER_INT64, 1, &len, &t));
  for (int64_t i = s; i < e; i++) ((int64_t *)t->data)[i - s] = x->dims[i].v;
  set_out_data(c, 0, t);
  return NULL;
}

static sn_error *shape_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  SN_TRY(need_tensor(c, x, "data"));
  int64_t s, e;
  shape_bounds(c->node, x->rank, &s, &e);
  int64_t len = e - s;
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_INT64, 1, &len, &y));
  for (int64_t i = s; i < e; i++) ((int64_t *)y->data)[i - s] = x->dims[i];
  return NULL;
}

static sn_error *size_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  if (x->kind != SN_KIND_TENSOR) return sn_infer_error(c, "expects a tensor input");
  set_out(c, 0, SINTER_INT64, 0, NULL);
  if (!sn_type_is_static(x)) return NULL;
  int64_t n = 1;
  for (int i = 0; i < x->rank; i++)
    if (__builtin_mul_overflow(n, x->dims[i].v, &n)) return sn_infer_error(c, "the element count overflows");
  sn_tensor *t;
  SN_TRY(sn_tensor_new(SINTER_INT64, 0, NULL, &t));
  *(int64_t *)t->data = n;
  set_out_data(c, 0, t);
  return NULL;
}

static sn_error *size_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  SN_TRY(need_tensor(c, x, "data"));
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_INT64, 0, NULL, &y));
  *(int64_t *)y->data = x->count;
  return NULL;
}

/* ---- Reshape ------------------------------------------------------------------------------------- */

/* The requested shape: from the 'shape' attribute (opset < 5) or input 1. Returns 1 known, 0 unknown,
 * -1 malformed. */
static int reshape_request(const sn_node *n, const sn_tensor *shape_in, int64_t *shape, int *len) {
  if (n->opset < 5) {
    const int64_t *p;
    int k = sn_attr_ints(n, "shape", &p);
    if (k < 0 || k > SN_MAX_RANK) return -1;
    memcpy(shape, p, sizeof(int64_t) * (size_t)k);
    *len = k;
    return 1;
  }
  if (!shape_in) return 0;
  int k = read_ints(shape_in, shape, SN_MAX_RANK);
  if (k < 0) return -1;
  *len = k;
  return 1;
}

static bool sym_eq(sn_dim a, sn_dim b) { return a.sym && b.sym && (a.sym == b.sym || !strcmp(a.sym, b.sym)); }

static sn_error *reshape_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  int64_t shape[SN_MAX_RANK];
  int n;
  int k = reshape_request(c->node, cin(c, 1), shape, &n);
  if (k < 0) return sn_infer_error(c, "the target shape must be a 1-D list of at most %d values", SN_MAX_RANK);
  if (k == 0) {
    const sn_type *st = tin(c, 1);
    if (st && st->rank == 1 && st->dims[0].v >= 0 && st->dims[0].v <= SN_MAX_RANK)
      set_out_rank(c, 0, x->dtype, (int)st->dims[0].v);
    else
      set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  bool allowzero = sn_attr_int(c->node, "allowzero", 0) != 0;
  sn_dim d[SN_MAX_RANK];
  int neg = -1;
  for (int i = 0; i < n; i++) {
    int64_t v = shape[i];
    if (v == 0 && !allowzero) {
      if (x->rank >= 0 && i >= x->rank)
        return sn_infer_error(c, "shape entry %d is 0 (copy) but the input has only %d dims", i, x->rank);
      d[i] = x->rank >= 0 ? x->dims[i] : sn_dim_unknown();
    } else if (v == -1) {
      if (neg >= 0) return sn_infer_error(c, "shape has more than one -1");
      neg = i;
      d[i] = sn_dim_unknown();
    } else if (v < -1) {
      return sn_infer_error(c, "invalid shape entry %lld", (long long)v);
    } else {
      d[i] = sn_dim_known(v);
    }
  }
  if (neg >= 0 && allowzero) {
    for (int i = 0; i < n; i++)
      if (shape[i] == 0) return sn_infer_error(c, "allowzero shape has both 0 and -1");
  }
  if (x->rank >= 0) {
    /* cancel the symbolic dims that appear on both sides, then compare the known products */
    int64_t pin = 1, pout = 1;
    int unk_in = 0, unk_out = 0, nsin = 0, nsout = 0;
    sn_dim sin[SN_MAX_RANK], sout[SN_MAX_RANK];
    for (int i = 0; i < x->rank; i++) {
      if (x->dims[i].v >= 0)
        unk_in += __builtin_mul_overflow(pin, x->dims[i].v, &pin); /* overflow: treat as unknown */
      else if (x->dims[i].sym)
        sin[nsin++] = x->dims[i];
      else
        unk_in++;
    }
    for (int i = 0; i < n; i++) {
      if (i == neg) continue;
      if (d[i].v >= 0)
        unk_out += __builtin_mul_overflow(pout, d[i].v, &pout);
      else if (d[i].sym)
        sout[nsout++] = d[i];
      else
        unk_out++;
    }
    for (int i = 0; i < nsout; i++)
      for (int j = 0; j < nsin; j++)
        if (sym_eq(sout[i], sin[j])) {
          sin[j] = sin[--nsin];
          sout[i--] = sout[--nsout];
          break;
        }
    bool exact = unk_in == 0 && unk_out == 0 && nsout == 0;
    if (neg >= 0) {
      if (exact && nsin == 0 && pout != 0) {
        if (pin % pout)
          return sn_infer_error(c, "cannot reshape %lld elements into a shape with known product %lld", (long long)pin,
                                (long long)pout);
        d[neg] = sn_dim_known(pin / pout);
      } else if (exact && nsin == 1 && pin == pout && pout != 0) {
        d[neg] = sin[0];
      }
    } else if (exact && nsin == 0 && pin != pout) {
      return sn_infer_error(c, "cannot reshape %lld elements into %lld", (long long)pin, (long long)pout);
    }
  }
  set_out(c, 0, x->dtype, n, d);
  return NULL;
}

static sn_error *reshape_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  SN_TRY(need_tensor(c, x, "data"));
  int64_t shape[SN_MAX_RANK];
  int n;
  char b1[256], b2[256];
  const sn_tensor *st = kin(c, 1);
  if (c->node->opset >= 5) SN_TRY(need_tensor(c, st, "shape"));
  if (reshape_request(c->node, st, shape, &n) <= 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "the target shape must be a 1-D list of at most %d values",
                           SN_MAX_RANK);
  bool allowzero = sn_attr_int(c->node, "allowzero", 0) != 0;
  int neg = -1;
  int64_t known = 1;
  for (int i = 0; i < n; i++) {
    int64_t v = shape[i];
    if (v == 0 && !allowzero) {
      if (i >= x->rank) goto bad;
      shape[i] = x->dims[i];
    } else if (v == -1) {
      if (neg >= 0) goto bad;
      neg = i;
      continue;
    } else if (v < -1) {
      goto bad;
    }
    if (__builtin_mul_overflow(known, shape[i], &known)) goto bad;
  }
  if (neg >= 0) {
    if (known == 0 || x->count % known) goto bad;
    shape[neg] = x->count / known;
  } else if (known != x->count) {
    goto bad;
  }
  return emit_copy(c, 0, x, n, shape);
bad:
  return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "cannot reshape input %s to %s%s", sn_tensor_describe(x, b1, sizeof b1),
                         sn_dims_str(n, shape, b2, sizeof b2), allowzero ? " (allowzero)" : "");
}

/* ---- Flatten ------------------------------------------------------------------------------------- */

static sn_error *flatten_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  if (x->rank < 0) {
    set_out_rank(c, 0, x->dtype, 2);
    return NULL;
  }
  int64_t a = sn_attr_int(c->node, "axis", 1);
  if (a < -x->rank || a > x->rank) return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)a, x->rank);
  int axis = (int)(a < 0 ? a + x->rank : a);
  sn_dim d[2] = {dims_product(x->dims, 0, axis), dims_product(x->dims, axis, x->rank)};
  set_out(c, 0, x->dtype, 2, d);
  return NULL;
}

static sn_error *flatten_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  SN_TRY(need_tensor(c, x, "input"));
  int64_t a = sn_attr_int(c->node, "axis", 1);
  char b[256];
  if (a < -x->rank || a > x->rank)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for input %s", (long long)a,
                           sn_tensor_describe(x, b, sizeof b));
  int axis = (int)(a < 0 ? a + x->rank : a);
  int64_t d[2] = {1, 1};
  for (int i = 0; i < x->rank; i++)
    if (__builtin_mul_overflow(d[i < axis ? 0 : 1], x->dims[i], &d[i < axis ? 0 : 1]))
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "flattening input %s overflows", sn_tensor_describe(x, b, sizeof b));
  return emit_copy(c, 0, x, 2, d);
}

/* ---- Squeeze / Unsqueeze ------------------------------------------------------------------------- */

/* axes from the attribute (opset < 13) or input 1. Returns 1 known, 0 unknown (non-constant input),
 * -1 malformed, 2 absent. */
static int axes_arg(const sn_node *n, bool present, const sn_tensor *in, int64_t *axes, int *na) {
  if (n->opset < 13) {
    const int64_t *p;
    int k = sn_attr_ints(n, "axes", &p);
    if (k < 0) return 2;
    if (k > SN_MAX_RANK) return -1;
    memcpy(axes, p, sizeof(int64_t) * (size_t)k);
    *na = k;
    return 1;
  }
  if (!present) return 2;
  if (!in) return 0;
  int k = read_ints(in, axes, SN_MAX_RANK);
  if (k < 0) return -1;
  *na = k;
  return 1;
}

static sn_error *squeeze_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  int64_t axes[SN_MAX_RANK];
  int na = 0;
  int k = axes_arg(c->node, tin(c, 1) != NULL, cin(c, 1), axes, &na);
  if (k < 0) return sn_infer_error(c, "axes must be a 1-D list of at most %d values", SN_MAX_RANK);
  if (x->rank < 0) {
    set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  sn_dim d[SN_MAX_RANK];
  int r = 0;
  if (k == 0) {
    const sn_type *at = tin(c, 1);
    if (at && at->rank == 1 && at->dims[0].v >= 0 && at->dims[0].v <= x->rank)
      set_out_rank(c, 0, x->dtype, x->rank - (int)at->dims[0].v);
    else
      set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  if (k == 2) {
    for (int i = 0; i < x->rank; i++) {
      if (x->dims[i].v < 0) {
        set_out(c, 0, x->dtype, -1, NULL); /* cannot tell which dims are 1 */
        return NULL;
      }
      if (x->dims[i].v != 1) d[r++] = x->dims[i];
    }
    set_out(c, 0, x->dtype, r, d);
    return NULL;
  }
  bool drop[SN_MAX_RANK] = {0};
  for (int i = 0; i < na; i++) {
    int a;
    if (!sn_norm_axis(axes[i], x->rank, &a)) return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)axes[i], x->rank);
    if (x->dims[a].v >= 0 && x->dims[a].v != 1)
      return sn_infer_error(c, "cannot squeeze axis %d of size %lld", a, (long long)x->dims[a].v);
    drop[a] = true;
  }
  for (int i = 0; i < x->rank; i++)
    if (!drop[i]) d[r++] = x->dims[i];
  set_out(c, 0, x->dtype, r, d);
  return NULL;
}

static sn_error *squeeze_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  SN_TRY(need_tensor(c, x, "data"));
  int64_t axes[SN_MAX_RANK], d[SN_MAX_RANK];
  int na = 0, r = 0;
  char b[256];
  int k = axes_arg(c->node, kin(c, 1) != NULL, kin(c, 1), axes, &na);
  if (k < 0 || k == 0) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axes must be a 1-D list of at most %d values", SN_MAX_RANK);
  bool drop[SN_MAX_RANK] = {0};
  if (k == 2) {
    for (int i = 0; i < x->rank; i++) drop[i] = x->dims[i] == 1;
  } else {
    for (int i = 0; i < na; i++) {
      int a;
      if (!sn_norm_axis(axes[i], x->rank, &a) || x->dims[a] != 1)
        return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "cannot squeeze axis %lld of input %s", (long long)axes[i],
                               sn_tensor_describe(x, b, sizeof b));
      drop[a] = true;
    }
  }
  for (int i = 0; i < x->rank; i++)
    if (!drop[i]) d[r++] = x->dims[i];
  return emit_copy(c, 0, x, r, d);
}

/* Output rank and which output axes are the new 1s. */
static bool unsqueeze_plan(int rank, const int64_t *axes, int na, bool *is_new, int *out_rank) {
  int r = rank + na;
  if (r > SN_MAX_RANK) return false;
  for (int i = 0; i < r; i++) is_new[i] = false;
  for (int i = 0; i < na; i++) {
    int a;
    if (!sn_norm_axis(axes[i], r, &a) || is_new[a]) return false;
    is_new[a] = true;
  }
  *out_rank = r;
  return true;
}

static sn_error *unsqueeze_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  int64_t axes[SN_MAX_RANK];
  int na = 0;
  int k = axes_arg(c->node, tin(c, 1) != NULL, cin(c, 1), axes, &na);
  if (k < 0 || k == 2) return sn_infer_error(c, "axes must be given as a 1-D list of at most %d values", SN_MAX_RANK);
  if (x->rank < 0) {
    set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  if (k == 0) {
    const sn_type *at = tin(c, 1);
    if (at && at->rank == 1 && at->dims[0].v >= 0 && x->rank + at->dims[0].v <= SN_MAX_RANK)
      set_out_rank(c, 0, x->dtype, x->rank + (int)at->dims[0].v);
    else
      set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  bool is_new[SN_MAX_RANK];
  int r;
  if (!unsqueeze_plan(x->rank, axes, na, is_new, &r))
    return sn_infer_error(c, "axes are out of range or repeated for an output of rank %d", x->rank + na);
  sn_dim d[SN_MAX_RANK];
  for (int i = 0, j = 0; i < r; i++) d[i] = is_new[i] ? sn_dim_known(1) : x->dims[j++];
  set_out(c, 0, x->dtype, r, d);
  return NULL;
}

static sn_error *unsqueeze_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  SN_TRY(need_tensor(c, x, "data"));
  int64_t axes[SN_MAX_RANK], d[SN_MAX_RANK];
  int na = 0, r;
  bool is_new[SN_MAX_RANK];
  char b[256], b2[256];
  int k = axes_arg(c->node, kin(c, 1) != NULL, kin(c, 1), axes, &na);
  if (k != 1) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axes must be given as a 1-D list of at most %d values", SN_MAX_RANK);
  if (!unsqueeze_plan(x->rank, axes, na, is_new, &r))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axes %s are out of range or repeated for input %s",
                           sn_dims_str(na, axes, b2, sizeof b2), sn_tensor_describe(x, b, sizeof b));
  for (int i = 0, j = 0; i < r; i++) d[i] = is_new[i] ? 1 : x->dims[j++];
  return emit_copy(c, 0, x, r, d);
}

/* ---- Identity / Dropout -------------------------------------------------------------------------- */

static sn_error *identity_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  sn_type *y = tout(c, 0);
  if (y) *y = *x;
  return NULL;
}

static sn_error *identity_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  if (!x) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "missing input");
  if (x->kind != SN_KIND_TENSOR) {
    sn_tensor *y;
    SN_TRY(sn_tensor_clone(x, &y));
    return sn_kernel_set_output(c, 0, y);
  }
  return emit_copy(c, 0, x, x->rank, x->dims);
}

static sn_error *dropout_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  set_out(c, 0, x->dtype, x->rank, x->dims);
  set_out(c, 1, c->opset >= 10 ? SINTER_BOOL : x->dtype, x->rank, x->dims);
  if (c->opset >= 12) {
    const sn_tensor *r = cin(c, 1), *t = cin(c, 2);
    if (t && t->kind == SN_KIND_TENSOR && t->count >= 1 && sn_load_i64(t->dtype, t->data, 0) != 0) {
      double ratio = (r && r->kind == SN_KIND_TENSOR && r->count >= 1) ? sn_load_f64(r->dtype, r->data, 0) : 0.5;
      if (ratio > 0) {
        char desc[512];
        return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED,
                         "%s: training_mode is true with ratio %g; random dropout is not deterministic and Sinter "
                         "runs inference only",
                         sn_node_desc(c->node, desc, sizeof desc), ratio);
      }
    }
  }
  return NULL;
}

static sn_error *dropout_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  SN_TRY(need_tensor(c, x, "data"));
  if (c->node->opset >= 12) {
    const sn_tensor *r = kin(c, 1), *t = kin(c, 2);
    bool training = t && t->kind == SN_KIND_TENSOR && t->count >= 1 && sn_load_i64(t->dtype, t->data, 0) != 0;
    double ratio = (r && r->kind == SN_KIND_TENSOR && r->count >= 1) ? sn_load_f64(r->dtype, r->data, 0) : 0.5;
    if (training && ratio > 0)
      return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED,
                             "training_mode is true with ratio %g; random dropout is not deterministic and Sinter runs "
                             "inference only",
                             ratio);
    if (ratio < 0 || ratio >= 1)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "ratio %g is outside [0, 1)", ratio);
  }
  SN_TRY(emit_copy(c, 0, x, x->rank, x->dims));
  if (c->n_out > 1 && c->node->out[1] >= 0) {
    sn_dtype mdt = c->node->opset >= 10 ? SINTER_BOOL : x->dtype;
    sn_tensor *m;
    SN_TRY(sn_kernel_output(c, 1, mdt, x->rank, x->dims, &m));
    unsigned char one[16] = {0};
    sn_store_f64(mdt, one, 0, 1.0);
    sn_fill_elems(m->data, m->count, one, sn_dtype_size(mdt));
  }
  return NULL;
}

/* ---- Constant ------------------------------------------------------------------------------------ */

static const char *const constant_attrs[] = {"value",       "sparse_value", "value_float",  "value_floats",
                                             "value_int",   "value_ints",   "value_string", "value_strings"};

static sn_error *constant_attr(const sn_node *n, const sn_attr **out, int *which) {
  *out = NULL;
  int found = 0;
  for (int i = 0; i < (int)(sizeof constant_attrs / sizeof *constant_attrs); i++) {
    const sn_attr *a = sn_node_attr(n, constant_attrs[i]);
    if (!a) continue;
    if (!*out) {
      *out = a;
      *which = i;
    }
    found++;
  }
  if (found != 1)
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "Constant needs exactly one of the value attributes (found %d)", found);
  return NULL;
}

/* Build the constant as a new heap tensor. */
static sn_error *constant_make(const sn_node *n, sn_tensor **out) {
  const sn_attr *a;
  int which = 0;
  *out = NULL;
  SN_TRY(constant_attr(n, &a, &which));
  sn_tensor *t = NULL;
  int64_t len;
  switch (which) {
    case 0:
    case 1:
      if (!a->t || a->t->kind != SN_KIND_TENSOR)
        return sn_errorf(which == 1 ? SINTER_ERR_NOT_IMPLEMENTED : SINTER_ERR_INVALID_MODEL,
                         "Constant attribute '%s' holds no dense tensor", a->name);
      return sn_tensor_clone(a->t, out);
    case 2:
      SN_TRY(sn_tensor_new(SINTER_FLOAT, 0, NULL, &t));
      *(float *)t->data = a->f;
      break;
    case 3:
      len = a->n;
      SN_TRY(sn_tensor_new(SINTER_FLOAT, 1, &len, &t));
      if (len) memcpy(t->data, a->floats, sizeof(float) * (size_t)len);
      break;
    case 4:
      SN_TRY(sn_tensor_new(SINTER_INT64, 0, NULL, &t));
      *(int64_t *)t->data = a->i;
      break;
    case 5:
      len = a->n;
      SN_TRY(sn_tensor_new(SINTER_INT64, 1, &len, &t));
      if (len) memcpy(t->data, a->ints, sizeof(int64_t) * (size_t)len);
      break;
    case 6:
      SN_TRY(sn_tensor_new(SINTER_STRING, 0, NULL, &t));
      if (!(((char **)t->data)[0] = sn_strdup(a->s ? a->s : ""))) {
        sn_tensor_free(t);
        return SN_ERR_OOM();
      }
      break;
    default:
      len = a->n;
      SN_TRY(sn_tensor_new(SINTER_STRING, 1, &len, &t));
      for (int64_t i = 0; i < len; i++)
        if (!(((char **)t->data)[i] = sn_strdup(a->strings[i] ? a->strings[i] : ""))) {
          sn_tensor_free(t);
          return SN_ERR_OOM();
        }
  }
  *out = t;
  return NULL;
}

static sn_error *constant_infer(sn_infer_ctx *c) {
  sn_tensor *t;
  sn_error *e = constant_make(c->node, &t);
  if (e) {
    sn_error *r = sn_infer_error(c, "%s", e->msg);
    r->code = e->code;
    sn_error_free(e);
    return r;
  }
  if (tout(c, 0)) sn_type_set_static(tout(c, 0), t->dtype, t->rank, t->dims);
  set_out_data(c, 0, t);
  return NULL;
}

static sn_error *constant_run(sn_kernel_ctx *c) {
  const sn_attr *a;
  int which = -1;
  sn_error *e = constant_attr(c->node, &a, &which);
  if (e) {
    sn_error *r = sn_kernel_error(c, e->code, "%s", e->msg);
    sn_error_free(e);
    return r;
  }
  /* numeric forms go straight into the output (no heap allocation per run); strings are heap values */
  sn_tensor *y;
  int64_t len = a->n;
  switch (which) {
    case 0:
    case 1:
      if (!a->t || a->t->kind != SN_KIND_TENSOR || a->t->dtype == SINTER_STRING) break;
      SN_TRY(sn_kernel_output(c, 0, a->t->dtype, a->t->rank, a->t->dims, &y));
      if (a->t->nbytes && y->data != a->t->data) memcpy(y->data, a->t->data, a->t->nbytes);
      return NULL;
    case 2:
      SN_TRY(sn_kernel_output(c, 0, SINTER_FLOAT, 0, NULL, &y));
      memcpy(y->data, &a->f, sizeof(float));
      return NULL;
    case 3:
      SN_TRY(sn_kernel_output(c, 0, SINTER_FLOAT, 1, &len, &y));
      if (len) memcpy(y->data, a->floats, sizeof(float) * (size_t)len);
      return NULL;
    case 4:
      SN_TRY(sn_kernel_output(c, 0, SINTER_INT64, 0, NULL, &y));
      memcpy(y->data, &a->i, sizeof(int64_t));
      return NULL;
    case 5:
      SN_TRY(sn_kernel_output(c, 0, SINTER_INT64, 1, &len, &y));
      if (len) memcpy(y->data, a->ints, sizeof(int64_t) * (size_t)len);
      return NULL;
    default: break;
  }
  sn_tensor *t;
  e = constant_make(c->node, &t);
  if (e) {
    sn_error *r = sn_kernel_error(c, e->code, "%s", e->msg);
    sn_error_free(e);
    return r;
  }
  return sn_kernel_set_output(c, 0, t);
}

/* ---- ConstantOfShape ----------------------------------------------------------------------------- */

static sn_error *cos_value(const sn_node *n, sn_dtype *dt, const void **val) {
  static const float zero = 0.0f;
  const sn_attr *a = sn_node_attr(n, "value");
  if (!a) {
    *dt = SINTER_FLOAT;
    *val = &zero;
    return NULL;
  }
  if (!a->t || a->t->kind != SN_KIND_TENSOR || a->t->count != 1)
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "attribute 'value' must be a one-element tensor");
  if (a->t->dtype == SINTER_STRING)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "string values are not allowed in ConstantOfShape");
  *dt = a->t->dtype;
  *val = a->t->data;
  return NULL;
}

static sn_error *cos_infer(sn_infer_ctx *c) {
  sn_dtype dt = SINTER_FLOAT;
  const void *v = NULL;
  sn_error *e = cos_value(c->node, &dt, &v);
  if (e) {
    sn_error *r = sn_infer_error(c, "%s", e->msg);
    sn_error_free(e);
    return r;
  }
  const sn_tensor *s = cin(c, 0);
  if (s) {
    int64_t d[SN_MAX_RANK];
    int k = read_ints(s, d, SN_MAX_RANK);
    if (k < 0 || s->rank != 1) return sn_infer_error(c, "the shape must be a 1-D list of at most %d values", SN_MAX_RANK);
    for (int i = 0; i < k; i++)
      if (d[i] < 0) return sn_infer_error(c, "negative dimension %lld", (long long)d[i]);
    if (tout(c, 0)) sn_type_set_static(tout(c, 0), dt, k, d);
    return NULL;
  }
  const sn_type *st = tin(c, 0);
  if (st && st->rank == 1 && st->dims[0].v >= 0 && st->dims[0].v <= SN_MAX_RANK)
    set_out_rank(c, 0, dt, (int)st->dims[0].v);
  else
    set_out(c, 0, dt, -1, NULL);
  return NULL;
}

static sn_error *cos_run(sn_kernel_ctx *c) {
  const sn_tensor *s = kin(c, 0);
  SN_TRY(need_tensor(c, s, "input"));
  sn_dtype dt = SINTER_FLOAT;
  const void *v = NULL;
  sn_error *e = cos_value(c->node, &dt, &v);
  if (e) {
    sn_error *r = sn_kernel_error(c, e->code, "%s", e->msg);
    sn_error_free(e);
    return r;
  }
  int64_t d[SN_MAX_RANK];
  char b[256];
  int k = read_ints(s, d, SN_MAX_RANK);
  bool bad = k < 0 || s->rank != 1;
  for (int i = 0; !bad && i < k; i++) bad = d[i] < 0;
  if (bad)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "the shape input %s must be a 1-D list of at most %d non-negative values",
                           sn_tensor_describe(s, b, sizeof b), SN_MAX_RANK);
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, dt, k, d, &y));
  sn_fill_elems(y->data, y->count, v, sn_dtype_size(dt));
  return NULL;
}

/* ---- Range --------------------------------------------------------------------------------------- */

static bool scalar_of(const sn_tensor *t) { return t && t->kind == SN_KIND_TENSOR && t->count == 1; }

/* Element count; -1 when it does not fit. */
static int64_t range_count(sn_dtype dt, const sn_tensor *s, const sn_tensor *l, const sn_tensor *d, bool *zero_delta) {
  *zero_delta = false;
  if (sn_dt(dt)->is_int) {
    int64_t a = sn_load_i64(dt, s->data, 0), b = sn_load_i64(dt, l->data, 0), st = sn_load_i64(dt, d->data, 0);
    if (st == 0) {
      *zero_delta = true;
      return -1;
    }
    double n = ceil(((double)b - (double)a) / (double)st);
    if (n <= 0) return 0;
    if (n > 4e18) return -1;
    /* exact integer ceil division when it fits */
    int64_t diff;
    if (!__builtin_sub_overflow(b, a, &diff)) {
      int64_t q = diff / st, r = diff % st;
      if (r != 0 && ((r > 0) == (st > 0))) q++;
      return q > 0 ? q : 0;
    }
    return (int64_t)n;
  }
  double a = sn_load_f64(dt, s->data, 0), b = sn_load_f64(dt, l->data, 0), st = sn_load_f64(dt, d->data, 0);
  if (st == 0) {
    *zero_delta = true;
    return -1;
  }
  double n = ceil((b - a) / st);
  if (isnan(n) || n > 4e18) return -1; /* also non-finite start/limit/delta */
  return n > 0 ? (int64_t)n : 0;
}

static sn_error *range_infer(sn_infer_ctx *c) {
  const sn_type *s = tin(c, 0), *l = tin(c, 1), *d = tin(c, 2);
  if (!s || !l || !d) return sn_infer_error(c, "needs start, limit and delta");
  sn_dtype dt = s->dtype ? s->dtype : (l->dtype ? l->dtype : d->dtype);
  const sn_tensor *cs = cin(c, 0), *cl = cin(c, 1), *cd = cin(c, 2);
  if (scalar_of(cs) && scalar_of(cl) && scalar_of(cd) && cs->dtype == cl->dtype && cs->dtype == cd->dtype) {
    bool zd;
    int64_t n = range_count(cs->dtype, cs, cl, cd, &zd);
    if (zd) return sn_infer_error(c, "delta is zero");
    if (n < 0) return sn_infer_error(c, "the range has too many elements (or start, limit and delta are not finite)");
    sn_dim dim = sn_dim_known(n);
    set_out(c, 0, dt, 1, &dim);
    return NULL;
  }
  set_out_rank(c, 0, dt, 1);
  return NULL;
}

static sn_error *range_run(sn_kernel_ctx *c) {
  const sn_tensor *s = kin(c, 0), *l = kin(c, 1), *d = kin(c, 2);
  char b1[128], b2[128], b3[128];
  if (!scalar_of(s) || !scalar_of(l) || !scalar_of(d) || s->dtype != l->dtype || s->dtype != d->dtype ||
      s->dtype == SINTER_STRING || s->dtype == SINTER_BOOL)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "start, limit and delta must be numeric scalars of one type (got %s, %s, %s)",
                           s ? sn_tensor_describe(s, b1, sizeof b1) : "-", l ? sn_tensor_describe(l, b2, sizeof b2) : "-",
                           d ? sn_tensor_describe(d, b3, sizeof b3) : "-");
  sn_dtype dt = s->dtype;
  bool zd;
  int64_t n = range_count(dt, s, l, d, &zd);
  if (zd) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "delta is zero");
  if (n < 0) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "the range has too many elements (or start, limit and delta are not finite)");
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, dt, 1, &n, &y));
  switch (dt) {
    case SINTER_FLOAT: {
      float a = *(const float *)s->data, st = *(const float *)d->data;
      for (int64_t i = 0; i < n; i++) ((float *)y->data)[i] = a + (float)i * st;
      break;
    }
    case SINTER_DOUBLE: {
      double a = *(const double *)s->data, st = *(const double *)d->data;
      for (int64_t i = 0; i < n; i++) ((double *)y->data)[i] = a + (double)i * st;
      break;
    }
    default:
      if (sn_dt(dt)->is_int) {
        int64_t a = sn_load_i64(dt, s->data, 0), st = sn_load_i64(dt, d->data, 0);
        for (int64_t i = 0; i < n; i++) sn_store_i64(dt, y->data, i, (int64_t)((uint64_t)a + (uint64_t)i * (uint64_t)st));
      } else {
        double a = sn_load_f64(dt, s->data, 0), st = sn_load_f64(dt, d->data, 0);
        for (int64_t i = 0; i < n; i++) sn_store_f64(dt, y->data, i, a + (double)i * st);
      }
  }
  return NULL;
}

/* ---- EyeLike ------------------------------------------------------------------------------------- */

static sn_error *eyelike_dtype(const sn_node *n, sn_dtype in, sn_dtype *out) {
  int64_t dt = sn_attr_int(n, "dtype", 0);
  if (dt == 0) {
    *out = in;
    return NULL;
  }
  if (!sn_dtype_valid((int)dt) || dt == SINTER_STRING)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "unsupported output dtype %lld", (long long)dt);
  *out = (sn_dtype)dt;
  return NULL;
}

static sn_error *eyelike_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  sn_dtype dt = SINTER_FLOAT;
  sn_error *e = eyelike_dtype(c->node, x->dtype, &dt);
  if (e) {
    sn_error *r = sn_infer_error(c, "%s", e->msg);
    sn_error_free(e);
    return r;
  }
  if (x->rank >= 0 && x->rank != 2) return sn_infer_error(c, "expects a 2-D input");
  if (x->rank < 0)
    set_out_rank(c, 0, dt, 2);
  else
    set_out(c, 0, dt, 2, x->dims);
  return NULL;
}

static sn_error *eyelike_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  SN_TRY(need_tensor(c, x, "input"));
  char b[256];
  sn_dtype dt = SINTER_FLOAT;
  sn_error *e = eyelike_dtype(c->node, x->dtype, &dt);
  if (e) {
    sn_error *r = sn_kernel_error(c, e->code, "%s", e->msg);
    sn_error_free(e);
    return r;
  }
  if (x->rank != 2)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "expects a 2-D input, got %s", sn_tensor_describe(x, b, sizeof b));
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, dt, 2, x->dims, &y));
  memset(y->data, 0, y->nbytes);
  int64_t k = sn_attr_int(c->node, "k", 0), R = x->dims[0], C = x->dims[1];
  for (int64_t i = 0; i < R; i++) {
    int64_t j = i + k;
    if (k > C || k < -R) break;
    if (j >= 0 && j < C) sn_store_f64(dt, y->data, i * C + j, 1.0);
  }
  return NULL;
}

/* ---- Expand -------------------------------------------------------------------------------------- */

static sn_error *expand_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0), *st = tin(c, 1);
  if (!x || !st) return sn_infer_error(c, "needs input and shape");
  const sn_tensor *s = cin(c, 1);
  if (x->rank < 0) {
    set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  if (s) {
    int64_t sh[SN_MAX_RANK];
    int n = read_ints(s, sh, SN_MAX_RANK);
    if (n < 0) return sn_infer_error(c, "the shape must be a 1-D list of at most %d values", SN_MAX_RANK);
    int r = n > x->rank ? n : x->rank;
    sn_dim d[SN_MAX_RANK];
    for (int i = 0; i < r; i++) {
      int ia = i - (r - x->rank), ib = i - (r - n);
      sn_dim a = ia >= 0 ? x->dims[ia] : sn_dim_known(1);
      int64_t v = ib >= 0 ? sh[ib] : 1;
      if (v == 1)
        d[i] = a;
      else if (a.v == 1 || a.v == v)
        d[i] = sn_dim_known(v);
      else if (a.v >= 0)
        return sn_infer_error(c, "cannot expand dimension %d of size %lld to %lld", i, (long long)a.v, (long long)v);
      else
        d[i] = sn_dim_known(v); /* the unknown dim must be 1 or v */
    }
    set_out(c, 0, x->dtype, r, d);
    return NULL;
  }
  if (st->rank == 1 && st->dims[0].v >= 0 && st->dims[0].v <= SN_MAX_RANK) {
    int n = (int)st->dims[0].v, r = n > x->rank ? n : x->rank;
    sn_dim d[SN_MAX_RANK];
    for (int i = 0; i < r; i++) {
      int ia = i - (r - x->rank);
      d[i] = (ia >= 0 && x->dims[ia].v > 1) ? x->dims[ia] : sn_dim_unknown();
    }
    set_out(c, 0, x->dtype, r, d);
    return NULL;
  }
  set_out(c, 0, x->dtype, -1, NULL);
  return NULL;
}

static sn_error *expand_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0), *s = kin(c, 1);
  SN_TRY(need_tensor(c, x, "input"));
  SN_TRY(need_tensor(c, s, "shape"));
  int64_t sh[SN_MAX_RANK];
  char b1[256], b2[256];
  int n = read_ints(s, sh, SN_MAX_RANK);
  if (n < 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "the shape %s must be a 1-D list of at most %d values",
                           sn_tensor_describe(s, b1, sizeof b1), SN_MAX_RANK);
  int r = n > x->rank ? n : x->rank;
  int64_t od[SN_MAX_RANK], ss[SN_MAX_RANK], ds[SN_MAX_RANK], ist[SN_MAX_RANK];
  uint64_t st = 1; /* wrapping: meaningless only for empty inputs, which copy nothing */
  for (int i = x->rank - 1; i >= 0; i--) {
    ist[i] = (int64_t)st;
    st *= (uint64_t)x->dims[i];
  }
  for (int i = 0; i < r; i++) {
    int ia = i - (r - x->rank), ib = i - (r - n);
    int64_t a = ia >= 0 ? x->dims[ia] : 1, v = ib >= 0 ? sh[ib] : 1;
    if (v == a || v == 1)
      od[i] = a;
    else if (a == 1 && v >= 0)
      od[i] = v;
    else
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "cannot expand input %s to shape %s",
                             sn_tensor_describe(x, b1, sizeof b1), sn_dims_str(n, sh, b2, sizeof b2));
    ss[i] = (ia >= 0 && a == od[i]) ? ist[ia] : 0;
  }
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, od, &y));
  st = 1;
  for (int i = r - 1; i >= 0; i--) {
    ds[i] = (int64_t)st;
    st *= (uint64_t)od[i];
  }
  if (y->count) sn_copy_strided(r, od, y->data, ds, x->data, ss, sn_dtype_size(x->dtype));
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- the table ----------------------------------------------------------------------------------- */

/* The ops that only relabel their input's data (emit_copy) are in place: where the input dies at
 * the node, the planner gives the output the input's memory and the copy is skipped (an LSTM's
 * Squeeze copied 400 KB a run). */

const sn_op sn_ops_shape[] = {
    {"", "Shape", 1, 0, shape_infer, shape_run, NULL, NULL, 0},
    {"", "Size", 1, 0, size_infer, size_run, NULL, NULL, 0},
    {"", "Reshape", 1, 4, reshape_infer, reshape_run, NULL, NULL, SN_OP_INPLACE},
    {"", "Reshape", 5, 0, reshape_infer, reshape_run, NULL, NULL, SN_OP_INPLACE},
    {"", "Flatten", 1, 0, flatten_infer, flatten_run, NULL, NULL, SN_OP_INPLACE},
    {"", "Squeeze", 1, 12, squeeze_infer, squeeze_run, NULL, NULL, SN_OP_INPLACE},
    {"", "Squeeze", 13, 0, squeeze_infer, squeeze_run, NULL, NULL, SN_OP_INPLACE},
    {"", "Unsqueeze", 1, 12, unsqueeze_infer, unsqueeze_run, NULL, NULL, SN_OP_INPLACE},
    {"", "Unsqueeze", 13, 0, unsqueeze_infer, unsqueeze_run, NULL, NULL, SN_OP_INPLACE},
    {"", "Identity", 1, 0, identity_infer, identity_run, NULL, NULL, SN_OP_INPLACE},
    {"", "Dropout", 1, 11, dropout_infer, dropout_run, NULL, NULL, SN_OP_INPLACE},
    {"", "Dropout", 12, 0, dropout_infer, dropout_run, NULL, NULL, SN_OP_INPLACE},
    {"", "Constant", 1, 0, constant_infer, constant_run, NULL, NULL, 0},
    {"", "ConstantOfShape", 9, 0, cos_infer, cos_run, NULL, NULL, 0},
    {"", "Range", 11, 0, range_infer, range_run, NULL, NULL, 0},
    {"", "EyeLike", 9, 0, eyelike_infer, eyelike_run, NULL, NULL, 0},
    {"", "Expand", 8, 0, expand_infer, expand_run, NULL, NULL, 0},
    {0},
};
