/* Indexing ops: Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND, OneHot, NonZero,
 * Compress, Unique. */
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

/* Product of dims (wrapping; exact whenever the tensor is non-empty). */
static int64_t prod64(const int64_t *d, int from, int to) {
  uint64_t p = 1;
  for (int i = from; i < to; i++) p *= (uint64_t)d[i];
  return (int64_t)p;
}

/* Row-major strides. Wrapping arithmetic: for an empty tensor with huge other dims the values are
 * meaningless but harmless, as nothing is copied. */
static void contiguous_strides(int rank, const int64_t *dims, int64_t *st) {
  uint64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    st[i] = (int64_t)s;
    s *= (uint64_t)dims[i];
  }
}

static inline int64_t idx_at(const sn_tensor *t, int64_t i) {
  if (t->dtype == SINTER_INT64) {
    int64_t v;
    memcpy(&v, (const char *)t->data + i * 8, 8);
    return v;
  }
  if (t->dtype == SINTER_INT32) {
    int32_t v;
    memcpy(&v, (const char *)t->data + i * 4, 4);
    return v;
  }
  if (sn_dt(t->dtype)->is_float) return (int64_t)sn_load_f64(t->dtype, t->data, i);
  return sn_load_i64(t->dtype, t->data, i);
}

static sn_error *need_tensor(const sn_kernel_ctx *c, const sn_tensor *x, const char *what) {
  char b[128];
  if (!x) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input '%s' is missing", what);
  if (x->kind != SN_KIND_TENSOR)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input '%s' must be a tensor, got %s", what,
                           sn_tensor_describe(x, b, sizeof b));
  return NULL;
}

static bool is_index_type(sn_dtype dt) { return dt == SINTER_INT32 || dt == SINTER_INT64; }

static bool output_wanted(const sn_kernel_ctx *c, int i) { return i < c->n_out && c->node->out[i] >= 0; }

/* ---- Gather -------------------------------------------------------------------------------------- */

static sn_error *gather_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0), *ind = tin(c, 1);
  if (!x || !ind) return sn_infer_error(c, "needs data and indices");
  if (x->rank == 0) return sn_infer_error(c, "cannot gather from a scalar");
  if (x->rank < 0 || ind->rank < 0) {
    set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  int axis;
  int64_t a = sn_attr_int(c->node, "axis", 0);
  if (!sn_norm_axis(a, x->rank, &axis)) return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)a, x->rank);
  int r = x->rank + ind->rank - 1;
  if (r > SN_MAX_RANK) return sn_infer_error(c, "output rank %d exceeds %d", r, SN_MAX_RANK);
  sn_dim d[SN_MAX_RANK];
  int k = 0;
  for (int i = 0; i < axis; i++) d[k++] = x->dims[i];
  for (int i = 0; i < ind->rank; i++) d[k++] = ind->dims[i];
  for (int i = axis + 1; i < x->rank; i++) d[k++] = x->dims[i];
  set_out(c, 0, x->dtype, r, d);
  return NULL;
}

static sn_error *gather_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0), *ind = kin(c, 1);
  SN_TRY(need_tensor(c, x, "data"));
  SN_TRY(need_tensor(c, ind, "indices"));
  char b1[256], b2[256];
  int axis;
  int64_t a = sn_attr_int(c->node, "axis", 0);
  if (!sn_norm_axis(a, x->rank, &axis) || x->rank + ind->rank - 1 > SN_MAX_RANK || !sn_dt(ind->dtype)->is_int)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "cannot gather from %s with indices %s on axis %lld",
                           sn_tensor_describe(x, b1, sizeof b1), sn_tensor_describe(ind, b2, sizeof b2), (long long)a);
  int64_t D = x->dims[axis], outer = prod64(x->dims, 0, axis), inner = prod64(x->dims, axis + 1, x->rank);
  int64_t NI = ind->count;
  for (int64_t j = 0; j < NI; j++) {
    int64_t v = idx_at(ind, j);
    if (v < -D || v >= D)
      return sn_kernel_error(c, SINTER_ERR_RUNTIME, "index %lld is out of range for axis %d of data %s", (long long)v, axis,
                             sn_tensor_describe(x, b1, sizeof b1));
  }
  int64_t od[SN_MAX_RANK];
  int k = 0;
  for (int i = 0; i < axis; i++) od[k++] = x->dims[i];
  for (int i = 0; i < ind->rank; i++) od[k++] = ind->dims[i];
  for (int i = axis + 1; i < x->rank; i++) od[k++] = x->dims[i];
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, k, od, &y));
  if (y->count == 0) return sn_op_out_finish(c, 0, y, NULL);
  size_t blk = (size_t)inner * sn_dtype_size(x->dtype);
  char *dst = y->data;
  const char *src = x->data;
#define GATHER(N)                                                                                  \
  for (int64_t o = 0; o < outer; o++)                                                              \
    for (int64_t j = 0; j < NI; j++) {                                                             \
      int64_t v = idx_at(ind, j);                                                                  \
      if (v < 0) v += D;                                                                           \
      memcpy(dst + (o * NI + j) * (int64_t)(N), src + (o * D + v) * (int64_t)(N), N);              \
    }                                                                                              \
  break;
  switch (blk) {
    case 1: GATHER(1)
    case 2: GATHER(2)
    case 4: GATHER(4)
    case 8: GATHER(8)
    case 16: GATHER(16)
    default: GATHER(blk)
  }
#undef GATHER
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- GatherElements ------------------------------------------------------------------------------ */

static sn_error *gather_elements_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0), *ind = tin(c, 1);
  if (!x || !ind) return sn_infer_error(c, "needs data and indices");
  if (x->rank >= 0 && ind->rank >= 0 && x->rank != ind->rank)
    return sn_infer_error(c, "data and indices must have the same rank");
  int r = x->rank >= 0 ? x->rank : ind->rank;
  if (r >= 0) {
    int axis;
    int64_t a = sn_attr_int(c->node, "axis", 0);
    if (!sn_norm_axis(a, r, &axis)) return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)a, r);
  }
  if (ind->rank >= 0)
    set_out(c, 0, x->dtype, ind->rank, ind->dims);
  else
    set_out_rank(c, 0, x->dtype, r);
  return NULL;
}

static sn_error *gather_elements_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0), *ind = kin(c, 1);
  SN_TRY(need_tensor(c, x, "data"));
  SN_TRY(need_tensor(c, ind, "indices"));
  char b1[256], b2[256];
  int r = x->rank, axis;
  int64_t a = sn_attr_int(c->node, "axis", 0);
  bool bad = ind->rank != r || !sn_norm_axis(a, r, &axis) || !is_index_type(ind->dtype);
  for (int i = 0; !bad && i < r; i++) bad = i != axis && ind->dims[i] > x->dims[i];
  if (bad)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "indices %s do not fit data %s on axis %lld",
                           sn_tensor_describe(ind, b2, sizeof b2), sn_tensor_describe(x, b1, sizeof b1), (long long)a);
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, ind->dims, &y));
  if (y->count == 0) return sn_op_out_finish(c, 0, y, NULL);
  size_t es = sn_dtype_size(x->dtype);
  int64_t xst[SN_MAX_RANK], idx[SN_MAX_RANK] = {0}, D = x->dims[axis];
  contiguous_strides(r, x->dims, xst);
  int64_t L = r ? ind->dims[r - 1] : 1, base = 0;
  char *dst = y->data;
  const char *src = x->data;
  for (int64_t pos = 0;;) {
    /* base: offset of (idx[0..r-1), 0) excluding the axis coordinate */
    for (int64_t j = 0; j < L; j++, pos++) {
      int64_t v = idx_at(ind, pos);
      if (v < -D || v >= D)
        return sn_op_out_finish(c, 0, y,
                          sn_kernel_error(c, SINTER_ERR_RUNTIME, "index %lld is out of range for axis %d of data %s",
                                          (long long)v, axis, sn_tensor_describe(x, b1, sizeof b1)));
      if (v < 0) v += D;
      int64_t off = base + v * xst[axis] + (axis == r - 1 ? 0 : j);
      memcpy(dst + pos * (int64_t)es, src + off * (int64_t)es, es);
    }
    int k = r - 2;
    for (; k >= 0; k--) {
      if (k != axis) base += xst[k];
      if (++idx[k] < ind->dims[k]) break;
      if (k != axis) base -= xst[k] * ind->dims[k];
      idx[k] = 0;
    }
    if (k < 0) break;
  }
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- GatherND ------------------------------------------------------------------------------------ */

static sn_error *gather_nd_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0), *ind = tin(c, 1);
  if (!x || !ind) return sn_infer_error(c, "needs data and indices");
  int64_t b = sn_attr_int(c->node, "batch_dims", 0);
  if (x->rank < 0 || ind->rank < 0 || ind->rank < 1 || ind->dims[ind->rank - 1].v < 0) {
    set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  int64_t k = ind->dims[ind->rank - 1].v;
  if (b < 0 || b >= ind->rank || b >= x->rank || b + k > x->rank)
    return sn_infer_error(c, "batch_dims %lld and index depth %lld do not fit data rank %d", (long long)b, (long long)k, x->rank);
  int r = ind->rank - 1 + x->rank - (int)(b + k);
  if (r > SN_MAX_RANK) return sn_infer_error(c, "output rank %d exceeds %d", r, SN_MAX_RANK);
  sn_dim d[SN_MAX_RANK];
  int n = 0;
  for (int i = 0; i < ind->rank - 1; i++) d[n++] = (i < b && ind->dims[i].v < 0) ? x->dims[i] : ind->dims[i];
  for (int i = (int)(b + k); i < x->rank; i++) d[n++] = x->dims[i];
  set_out(c, 0, x->dtype, r, d);
  return NULL;
}

static sn_error *gather_nd_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0), *ind = kin(c, 1);
  SN_TRY(need_tensor(c, x, "data"));
  SN_TRY(need_tensor(c, ind, "indices"));
  char b1[256], b2[256];
  int64_t b = sn_attr_int(c->node, "batch_dims", 0);
  int q = ind->rank;
  int64_t k = q >= 1 ? ind->dims[q - 1] : -1;
  bool bad = q < 1 || b < 0 || b >= q || b + k > x->rank || k < 0 || !sn_dt(ind->dtype)->is_int ||
             q - 1 + x->rank - (b + k) > SN_MAX_RANK;
  for (int i = 0; !bad && i < b; i++) bad = ind->dims[i] != x->dims[i];
  if (bad)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "indices %s do not fit data %s with batch_dims %lld",
                           sn_tensor_describe(ind, b2, sizeof b2), sn_tensor_describe(x, b1, sizeof b1), (long long)b);
  int bi = (int)b, ki = (int)k;
  int64_t od[SN_MAX_RANK];
  int n = 0;
  for (int i = 0; i < q - 1; i++) od[n++] = ind->dims[i];
  for (int i = bi + ki; i < x->rank; i++) od[n++] = x->dims[i];
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, n, od, &y));
  if (y->count == 0) return sn_op_out_finish(c, 0, y, NULL);
  size_t es = sn_dtype_size(x->dtype);
  int64_t B = prod64(x->dims, 0, bi), S = prod64(x->dims, bi + ki, x->rank), per_batch = prod64(x->dims, bi, x->rank);
  int64_t NQ = prod64(ind->dims, bi, q - 1); /* index tuples per batch */
  int64_t st[SN_MAX_RANK];                   /* strides of the indexed dims, in elements */
  for (int j = ki - 1; j >= 0; j--) st[j] = j == ki - 1 ? S : st[j + 1] * x->dims[bi + j + 1];
  size_t blk = (size_t)S * es;
  for (int64_t bb = 0; bb < B; bb++)
    for (int64_t t = 0; t < NQ; t++) {
      int64_t tuple = bb * NQ + t, off = 0;
      for (int j = 0; j < ki; j++) {
        int64_t v = idx_at(ind, tuple * ki + j), D = x->dims[bi + j];
        if (v < -D || v >= D)
          return sn_op_out_finish(c, 0, y,
                            sn_kernel_error(c, SINTER_ERR_RUNTIME, "index %lld is out of range for axis %d of data %s",
                                            (long long)v, bi + j, sn_tensor_describe(x, b1, sizeof b1)));
        off += (v < 0 ? v + D : v) * st[j];
      }
      memcpy((char *)y->data + tuple * (int64_t)blk, (const char *)x->data + (bb * per_batch + off) * (int64_t)es, blk);
    }
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- reductions for the scatter ops -------------------------------------------------------------- */

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static int reduction_of(const sn_node *n) {
  const char *r = sn_attr_str(n, "reduction", "none");
  if (!strcmp(r, "none")) return RED_NONE;
  if (n->opset >= 16 && !strcmp(r, "add")) return RED_ADD;
  if (n->opset >= 16 && !strcmp(r, "mul")) return RED_MUL;
  if (n->opset >= 18 && !strcmp(r, "max")) return RED_MAX;
  if (n->opset >= 18 && !strcmp(r, "min")) return RED_MIN;
  return -1;
}

static bool reduction_supported(sn_dtype dt, int red) {
  if (red == RED_NONE) return true;
  if (dt == SINTER_STRING) return false;
  if ((dt == SINTER_COMPLEX64 || dt == SINTER_COMPLEX128) && (red == RED_MAX || red == RED_MIN)) return false;
  return true;
}

#define RED_LOOP(T, EXPR)                                                                          \
  for (int64_t i = 0; i < n; i++) {                                                                \
    T a, b;                                                                                        \
    memcpy(&a, d + i * (int64_t)sizeof(T), sizeof(T));                                             \
    memcpy(&b, s + i * (int64_t)sizeof(T), sizeof(T));                                             \
    a = (T)(EXPR);                                                                                 \
    memcpy(d + i * (int64_t)sizeof(T), &a, sizeof(T));                                             \
  }                                                                                                \
  return;
#define RED_INT(T)                                                                                 \
  switch (red) {                                                                                   \
    case RED_ADD: RED_LOOP(T, (uint64_t)a + (uint64_t)b)                                           \
    case RED_MUL: RED_LOOP(T, (uint64_t)a * (uint64_t)b)                                           \
    case RED_MAX: RED_LOOP(T, b > a ? b : a)                                                       \
    default: RED_LOOP(T, b < a ? b : a)                                                            \
  }
#define RED_FLT(T)                                                                                 \
  switch (red) {                                                                                   \
    case RED_ADD: RED_LOOP(T, a + b)                                                               \
    case RED_MUL: RED_LOOP(T, a * b)                                                               \
    case RED_MAX: RED_LOOP(T, (b > a || isnan(b)) ? b : a)                                         \
    default: RED_LOOP(T, (b < a || isnan(b)) ? b : a)                                              \
  }

/* d[i] = red(d[i], s[i]) for i < n */
static void reduce_into(sn_dtype dt, int red, char *d, const char *s, int64_t n) {
  if (red == RED_NONE) {
    memcpy(d, s, (size_t)n * sn_dtype_size(dt));
    return;
  }
  switch (dt) {
    case SINTER_FLOAT: RED_FLT(float)
    case SINTER_DOUBLE: RED_FLT(double)
    case SINTER_INT8: RED_INT(int8_t)
    case SINTER_INT16: RED_INT(int16_t)
    case SINTER_INT32: RED_INT(int32_t)
    case SINTER_INT64: RED_INT(int64_t)
    case SINTER_UINT8: RED_INT(uint8_t)
    case SINTER_UINT16: RED_INT(uint16_t)
    case SINTER_UINT32: RED_INT(uint32_t)
    case SINTER_UINT64: RED_INT(uint64_t)
    case SINTER_BOOL:
      for (int64_t i = 0; i < n; i++) {
        bool a = d[i] != 0, b = s[i] != 0;
        d[i] = (char)((red == RED_ADD || red == RED_MAX) ? (a || b) : (a && b));
      }
      return;
    case SINTER_COMPLEX64:
    case SINTER_COMPLEX128: {
      bool dbl = dt == SINTER_COMPLEX128;
      for (int64_t i = 0; i < n; i++) {
        double ar, ai, br, bi;
        if (dbl) {
          double v[4];
          memcpy(v, d + i * 16, 16);
          memcpy(v + 2, s + i * 16, 16);
          ar = v[0], ai = v[1], br = v[2], bi = v[3];
        } else {
          float v[4];
          memcpy(v, d + i * 8, 8);
          memcpy(v + 2, s + i * 8, 8);
          ar = v[0], ai = v[1], br = v[2], bi = v[3];
        }
        double rr = red == RED_ADD ? ar + br : ar * br - ai * bi, ri = red == RED_ADD ? ai + bi : ar * bi + ai * br;
        if (dbl) {
          double v[2] = {rr, ri};
          memcpy(d + i * 16, v, 16);
        } else {
          float v[2] = {(float)rr, (float)ri};
          memcpy(d + i * 8, v, 8);
        }
      }
      return;
    }
    default:
      /* float16, bfloat16, float8: through double */
      for (int64_t i = 0; i < n; i++) {
        double a = sn_load_f64(dt, d, i), b = sn_load_f64(dt, s, i), r;
        switch (red) {
          case RED_ADD: r = a + b; break;
          case RED_MUL: r = a * b; break;
          case RED_MAX: r = (b > a || isnan(b)) ? b : a; break;
          default: r = (b < a || isnan(b)) ? b : a; break;
        }
        sn_store_f64(dt, d, i, r);
      }
      return;
  }
}
#undef RED_LOOP
#undef RED_INT
#undef RED_FLT

static sn_error *scatter_check_infer(sn_infer_ctx *c, bool elements) {
  const sn_type *x = tin(c, 0), *ind = tin(c, 1), *u = tin(c, 2);
  if (!x || !ind || !u) return sn_infer_error(c, "needs data, indices and updates");
  int red = reduction_of(c->node);
  if (red < 0)
    return sn_infer_error(c, "unsupported reduction '%s' at this opset", sn_attr_str(c->node, "reduction", ""));
  if (x->dtype && !reduction_supported(x->dtype, red))
    return sn_infer_error(c, "reduction '%s' is not defined for %s", sn_attr_str(c->node, "reduction", ""),
                          sn_dtype_name(x->dtype));
  if (elements) {
    if (x->rank >= 0 && ind->rank >= 0 && x->rank != ind->rank)
      return sn_infer_error(c, "data and indices must have the same rank");
    if (x->rank >= 0) {
      int axis;
      int64_t a = sn_attr_int(c->node, "axis", 0);
      if (!sn_norm_axis(a, x->rank, &axis)) return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)a, x->rank);
    }
  }
  set_out(c, 0, x->dtype, x->rank, x->dims);
  return NULL;
}

static sn_error *scatter_elements_infer(sn_infer_ctx *c) { return scatter_check_infer(c, true); }
static sn_error *scatter_nd_infer(sn_infer_ctx *c) { return scatter_check_infer(c, false); }

/* ---- ScatterElements / Scatter ------------------------------------------------------------------- */

static sn_error *scatter_elements_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0), *ind = kin(c, 1), *u = kin(c, 2);
  SN_TRY(need_tensor(c, x, "data"));
  SN_TRY(need_tensor(c, ind, "indices"));
  SN_TRY(need_tensor(c, u, "updates"));
  char b1[256], b2[256], b3[256];
  int r = x->rank, axis, red = reduction_of(c->node);
  int64_t a = sn_attr_int(c->node, "axis", 0);
  if (red < 0 || !reduction_supported(x->dtype, red))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "reduction '%s' is not supported for %s",
                           sn_attr_str(c->node, "reduction", ""), sn_dtype_name(x->dtype));
  bool bad = ind->rank != r || u->rank != r || u->dtype != x->dtype || !sn_norm_axis(a, r, &axis) || !is_index_type(ind->dtype);
  for (int i = 0; !bad && i < r; i++) bad = u->dims[i] != ind->dims[i] || (i != axis && ind->dims[i] > x->dims[i]);
  if (bad)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "indices %s / updates %s do not fit data %s on axis %lld",
                           sn_tensor_describe(ind, b2, sizeof b2), sn_tensor_describe(u, b3, sizeof b3),
                           sn_tensor_describe(x, b1, sizeof b1), (long long)a);
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, x->dims, &y));
  if (y->data != x->data && x->nbytes) memcpy(y->data, x->data, x->nbytes);
  if (ind->count == 0 || r == 0) return sn_op_out_finish(c, 0, y, NULL);
  size_t es = sn_dtype_size(x->dtype);
  /* the dims after axis merged into one when indices span them whole (torchvision's RoI level merge
   * scatters [rois, 256, 7, 7] along axis 0: runs of 12544 instead of 7) */
  int rr = r;
  int64_t idims[SN_MAX_RANK], xdims[SN_MAX_RANK];
  memcpy(idims, ind->dims, sizeof(int64_t) * (size_t)r);
  memcpy(xdims, x->dims, sizeof(int64_t) * (size_t)r);
  bool whole = axis < r - 1;
  for (int i = axis + 1; whole && i < r; i++) whole = ind->dims[i] == x->dims[i];
  if (whole) {
    int64_t t = 1;
    for (int i = axis + 1; i < r; i++) t *= x->dims[i];
    idims[axis + 1] = xdims[axis + 1] = t;
    rr = axis + 2;
  }
  int64_t xst[SN_MAX_RANK], idx[SN_MAX_RANK] = {0}, D = x->dims[axis];
  contiguous_strides(rr, xdims, xst);
  int64_t L = idims[rr - 1], base = 0;
  char *dst = y->data;
  const char *src = u->data;
  for (int64_t pos = 0;;) {
    for (int64_t j = 0; j < L; j++, pos++) {
      int64_t v = idx_at(ind, pos);
      if (v < -D || v >= D)
        return sn_op_out_finish(c, 0, y,
                          sn_kernel_error(c, SINTER_ERR_RUNTIME, "index %lld is out of range for axis %d of data %s",
                                          (long long)v, axis, sn_tensor_describe(x, b1, sizeof b1)));
      if (v < 0) v += D;
      int64_t off = base + v * xst[axis] + (axis == rr - 1 ? 0 : j);
      /* plain stores of 4- and 8-byte elements inline (torchvision's RoI level merge scatters
       * millions of them: 10 ns each through reduce_into) */
      if (red == RED_NONE && es == 4)
        memcpy(dst + off * 4, src + pos * 4, 4);
      else if (red == RED_NONE && es == 8)
        memcpy(dst + off * 8, src + pos * 8, 8);
      else
        reduce_into(x->dtype, red, dst + off * (int64_t)es, src + pos * (int64_t)es, 1);
    }
    int k = rr - 2;
    for (; k >= 0; k--) {
      if (k != axis) base += xst[k];
      if (++idx[k] < idims[k]) break;
      if (k != axis) base -= xst[k] * idims[k];
      idx[k] = 0;
    }
    if (k < 0) break;
  }
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- ScatterND ----------------------------------------------------------------------------------- */

static sn_error *scatter_nd_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0), *ind = kin(c, 1), *u = kin(c, 2);
  SN_TRY(need_tensor(c, x, "data"));
  SN_TRY(need_tensor(c, ind, "indices"));
  SN_TRY(need_tensor(c, u, "updates"));
  char b1[256], b2[256], b3[256];
  int red = reduction_of(c->node);
  if (red < 0 || !reduction_supported(x->dtype, red))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "reduction '%s' is not supported for %s",
                           sn_attr_str(c->node, "reduction", ""), sn_dtype_name(x->dtype));
  int q = ind->rank, r = x->rank;
  int64_t k = q >= 1 ? ind->dims[q - 1] : -1;
  /* updates shape = indices.shape[:-1] + data.shape[k:] */
  bool bad = q < 1 || k < 0 || k > r || u->dtype != x->dtype || !sn_dt(ind->dtype)->is_int || u->rank != q - 1 + r - k;
  for (int i = 0; !bad && i < q - 1; i++) bad = u->dims[i] != ind->dims[i];
  for (int i = 0; !bad && i < r - k; i++) bad = u->dims[q - 1 + i] != x->dims[k + i];
  if (bad)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "indices %s / updates %s do not fit data %s",
                           sn_tensor_describe(ind, b2, sizeof b2), sn_tensor_describe(u, b3, sizeof b3),
                           sn_tensor_describe(x, b1, sizeof b1));
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, x->dims, &y));
  if (y->data != x->data && x->nbytes) memcpy(y->data, x->data, x->nbytes);
  int ki = (int)k;
  size_t es = sn_dtype_size(x->dtype);
  int64_t S = prod64(x->dims, ki, r), NQ = prod64(ind->dims, 0, q - 1), st[SN_MAX_RANK];
  for (int j = ki - 1; j >= 0; j--) st[j] = j == ki - 1 ? S : st[j + 1] * x->dims[j + 1];
  for (int64_t t = 0; t < NQ; t++) {
    int64_t off = 0;
    for (int j = 0; j < ki; j++) {
      int64_t v = idx_at(ind, t * ki + j), D = x->dims[j];
      if (v < -D || v >= D)
        return sn_op_out_finish(c, 0, y,
                          sn_kernel_error(c, SINTER_ERR_RUNTIME, "index %lld is out of range for axis %d of data %s",
                                          (long long)v, j, sn_tensor_describe(x, b1, sizeof b1)));
      off += (v < 0 ? v + D : v) * st[j];
    }
    if (S) reduce_into(x->dtype, red, (char *)y->data + off * (int64_t)es, (const char *)u->data + t * S * (int64_t)es, S);
  }
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- OneHot -------------------------------------------------------------------------------------- */

static sn_error *onehot_infer(sn_infer_ctx *c) {
  const sn_type *ind = tin(c, 0), *dep = tin(c, 1), *val = tin(c, 2);
  if (!ind || !dep || !val) return sn_infer_error(c, "needs indices, depth and values");
  if (ind->rank < 0) {
    set_out(c, 0, val->dtype, -1, NULL);
    return NULL;
  }
  int r = ind->rank + 1;
  if (r > SN_MAX_RANK) return sn_infer_error(c, "output rank %d exceeds %d", r, SN_MAX_RANK);
  int axis;
  int64_t a = sn_attr_int(c->node, "axis", -1);
  if (!sn_norm_axis(a, r, &axis)) return sn_infer_error(c, "axis %lld is out of range for output rank %d", (long long)a, r);
  sn_dim depth = sn_dim_unknown();
  const sn_tensor *dd = cin(c, 1);
  if (dd && dd->kind == SN_KIND_TENSOR && dd->count == 1) {
    int64_t v = sn_dt(dd->dtype)->is_float ? (int64_t)sn_load_f64(dd->dtype, dd->data, 0) : sn_load_i64(dd->dtype, dd->data, 0);
    if (v < 1) return sn_infer_error(c, "depth %lld must be positive", (long long)v);
    depth = sn_dim_known(v);
  }
  sn_dim d[SN_MAX_RANK];
  for (int i = 0, j = 0; i < r; i++) d[i] = i == axis ? depth : ind->dims[j++];
  set_out(c, 0, val->dtype, r, d);
  return NULL;
}

static sn_error *onehot_run(sn_kernel_ctx *c) {
  const sn_tensor *ind = kin(c, 0), *dep = kin(c, 1), *val = kin(c, 2);
  SN_TRY(need_tensor(c, ind, "indices"));
  SN_TRY(need_tensor(c, dep, "depth"));
  SN_TRY(need_tensor(c, val, "values"));
  char b[256];
  if (dep->count != 1 || val->count != 2 || ind->dtype == SINTER_STRING || dep->dtype == SINTER_STRING)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "depth must be one number and values two (got %s)",
                           sn_tensor_describe(val, b, sizeof b));
  int64_t depth = sn_dt(dep->dtype)->is_float ? (int64_t)sn_load_f64(dep->dtype, dep->data, 0) : sn_load_i64(dep->dtype, dep->data, 0);
  int r = ind->rank + 1, axis;
  int64_t a = sn_attr_int(c->node, "axis", -1);
  if (depth < 1 || r > SN_MAX_RANK || !sn_norm_axis(a, r, &axis))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "depth %lld / axis %lld do not fit indices %s", (long long)depth,
                           (long long)a, sn_tensor_describe(ind, b, sizeof b));
  int64_t od[SN_MAX_RANK];
  for (int i = 0, j = 0; i < r; i++) od[i] = i == axis ? depth : ind->dims[j++];
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, val->dtype, r, od, &y));
  if (y->count == 0) return sn_op_out_finish(c, 0, y, NULL);
  size_t es = sn_dtype_size(val->dtype);
  const char *off_v = val->data, *on_v = (const char *)val->data + es;
  sn_fill_elems(y->data, y->count, off_v, es);
  int64_t outer = prod64(ind->dims, 0, axis), inner = prod64(ind->dims, axis, ind->rank);
  bool fl = sn_dt(ind->dtype)->is_float;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t p = o * inner + i;
      int64_t v = fl ? (int64_t)sn_load_f64(ind->dtype, ind->data, p) : sn_load_i64(ind->dtype, ind->data, p);
      if (v < 0) v += depth;
      if (v < 0 || v >= depth) continue;
      memcpy((char *)y->data + ((o * depth + v) * inner + i) * (int64_t)es, on_v, es);
    }
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- NonZero ------------------------------------------------------------------------------------- */

static bool elem_nonzero(sn_dtype dt, const void *base, int64_t i) {
  const char *p = (const char *)base + i * (int64_t)sn_dtype_size(dt);
  switch (dt) {
    case SINTER_STRING: {
      const char *s;
      memcpy(&s, p, sizeof s);
      return s && s[0];
    }
    case SINTER_FLOAT: {
      float f;
      memcpy(&f, p, 4);
      return f != 0;
    }
    case SINTER_DOUBLE: {
      double f;
      memcpy(&f, p, 8);
      return f != 0;
    }
    case SINTER_COMPLEX64: {
      float f[2];
      memcpy(f, p, 8);
      return f[0] != 0 || f[1] != 0;
    }
    case SINTER_COMPLEX128: {
      double f[2];
      memcpy(f, p, 16);
      return f[0] != 0 || f[1] != 0;
    }
    default:
      if (sn_dt(dt)->is_float) return sn_load_f64(dt, base, i) != 0;
      for (size_t k = 0; k < sn_dtype_size(dt); k++)
        if (p[k]) return true;
      return false;
  }
}

static sn_error *nonzero_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  sn_dim d[2] = {x->rank >= 0 ? sn_dim_known(x->rank ? x->rank : 1) : sn_dim_unknown(), sn_dim_unknown()};
  set_out(c, 0, SINTER_INT64, 2, d);
  return NULL;
}

static sn_error *nonzero_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  SN_TRY(need_tensor(c, x, "X"));
  int64_t nnz = 0;
  for (int64_t i = 0; i < x->count; i++) nnz += elem_nonzero(x->dtype, x->data, i);
  int r = x->rank;
  int64_t od[2] = {r ? r : 1, nnz};
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_INT64, 2, od, &y));
  int64_t *out = y->data;
  if (r == 0) {
    if (nnz) out[0] = 0;
    return NULL;
  }
  int64_t idx[SN_MAX_RANK] = {0}, k = 0;
  for (int64_t i = 0; i < x->count; i++) {
    if (elem_nonzero(x->dtype, x->data, i)) {
      for (int j = 0; j < r; j++) out[j * nnz + k] = idx[j];
      k++;
    }
    for (int j = r - 1; j >= 0; j--) {
      if (++idx[j] < x->dims[j]) break;
      idx[j] = 0;
    }
  }
  return NULL;
}

/* ---- Compress ------------------------------------------------------------------------------------ */

static sn_error *compress_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0), *cond = tin(c, 1);
  if (!x || !cond) return sn_infer_error(c, "needs input and condition");
  const sn_attr *aa = sn_node_attr(c->node, "axis");
  if (!aa) {
    set_out_rank(c, 0, x->dtype, 1);
    return NULL;
  }
  if (x->rank < 0) {
    set_out(c, 0, x->dtype, -1, NULL);
    return NULL;
  }
  int axis;
  if (!sn_norm_axis(aa->i, x->rank, &axis)) return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)aa->i, x->rank);
  sn_dim d[SN_MAX_RANK];
  memcpy(d, x->dims, sizeof(sn_dim) * (size_t)x->rank);
  d[axis] = sn_dim_unknown();
  set_out(c, 0, x->dtype, x->rank, d);
  return NULL;
}

static sn_error *compress_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0), *cond = kin(c, 1);
  SN_TRY(need_tensor(c, x, "input"));
  SN_TRY(need_tensor(c, cond, "condition"));
  char b1[256], b2[256];
  const sn_attr *aa = sn_node_attr(c->node, "axis");
  int axis = 0;
  int64_t outer, D, inner;
  if (cond->rank != 1 || cond->dtype == SINTER_STRING || (aa && !sn_norm_axis(aa->i, x->rank, &axis)))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "condition %s / axis do not fit input %s",
                           sn_tensor_describe(cond, b2, sizeof b2), sn_tensor_describe(x, b1, sizeof b1));
  if (aa) {
    outer = prod64(x->dims, 0, axis);
    D = x->dims[axis];
    inner = prod64(x->dims, axis + 1, x->rank);
  } else {
    outer = 1;
    D = x->count;
    inner = 1;
  }
  int64_t L = cond->count, sel = 0;
  for (int64_t i = 0; i < L; i++) {
    if (!elem_nonzero(cond->dtype, cond->data, i)) continue;
    if (i >= D)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "condition %s selects index %lld beyond the %lld entries of input %s",
                             sn_tensor_describe(cond, b2, sizeof b2), (long long)i, (long long)D,
                             sn_tensor_describe(x, b1, sizeof b1));
    sel++;
  }
  int64_t od[SN_MAX_RANK];
  int r;
  if (aa) {
    r = x->rank;
    memcpy(od, x->dims, sizeof(int64_t) * (size_t)r);
    od[axis] = sel;
  } else {
    r = 1;
    od[0] = sel;
  }
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, od, &y));
  size_t blk = (size_t)inner * sn_dtype_size(x->dtype);
  char *dst = y->data;
  if (y->count) {
    int64_t lim = L < D ? L : D;
    for (int64_t o = 0; o < outer; o++)
      for (int64_t i = 0; i < lim; i++)
        if (elem_nonzero(cond->dtype, cond->data, i)) {
          memcpy(dst, (const char *)x->data + (o * D + i) * (int64_t)blk, blk);
          dst += blk;
        }
  }
  return sn_op_out_finish(c, 0, y, NULL);
}

/* ---- Unique -------------------------------------------------------------------------------------- */

static int cmp_f64(double a, double b) {
  bool na = isnan(a), nb = isnan(b);
  if (na || nb) return na && nb ? 0 : (na ? 1 : -1); /* NaNs last, equal to each other */
  return a < b ? -1 : (a > b ? 1 : 0);
}

static int cmp_elem(sn_dtype dt, const char *a, const char *b) {
  switch (dt) {
    case SINTER_STRING: {
      const char *x, *y;
      memcpy(&x, a, sizeof x);
      memcpy(&y, b, sizeof y);
      int r = strcmp(x ? x : "", y ? y : "");
      return r < 0 ? -1 : (r > 0 ? 1 : 0);
    }
    case SINTER_FLOAT: {
      float x, y;
      memcpy(&x, a, 4);
      memcpy(&y, b, 4);
      return cmp_f64(x, y);
    }
    case SINTER_DOUBLE: {
      double x, y;
      memcpy(&x, a, 8);
      memcpy(&y, b, 8);
      return cmp_f64(x, y);
    }
    case SINTER_COMPLEX64: {
      float x[2], y[2];
      memcpy(x, a, 8);
      memcpy(y, b, 8);
      int r = cmp_f64(x[0], y[0]);
      return r ? r : cmp_f64(x[1], y[1]);
    }
    case SINTER_COMPLEX128: {
      double x[2], y[2];
      memcpy(x, a, 16);
      memcpy(y, b, 16);
      int r = cmp_f64(x[0], y[0]);
      return r ? r : cmp_f64(x[1], y[1]);
    }
    case SINTER_UINT64: {
      uint64_t x, y;
      memcpy(&x, a, 8);
      memcpy(&y, b, 8);
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    default:
      if (sn_dt(dt)->is_float) return cmp_f64(sn_load_f64(dt, a, 0), sn_load_f64(dt, b, 0));
      {
        int64_t x = sn_load_i64(dt, a, 0), y = sn_load_i64(dt, b, 0);
        return x < y ? -1 : (x > y ? 1 : 0);
      }
  }
}

typedef struct uq_ctx {
  sn_dtype dt;
  size_t es;
  const char *base;
  int64_t outer, D, inner; /* item a = elements base[(o*D + a)*inner + i] */
} uq_ctx;

static int uq_cmp(const uq_ctx *u, int64_t a, int64_t b) {
  if (a == b) return 0;
  for (int64_t o = 0; o < u->outer; o++)
    for (int64_t i = 0; i < u->inner; i++) {
      int r = cmp_elem(u->dt, u->base + ((o * u->D + a) * u->inner + i) * (int64_t)u->es,
                       u->base + ((o * u->D + b) * u->inner + i) * (int64_t)u->es);
      if (r) return r;
    }
  return 0;
}

/* stable merge sort of idx[0..n) with tmp scratch */
static void uq_sort(const uq_ctx *u, int64_t *idx, int64_t *tmp, int64_t n) {
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = uq_cmp(u, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
      while (i < mid) tmp[k++] = idx[i++];
      while (j < hi) tmp[k++] = idx[j++];
    }
    memcpy(idx, tmp, sizeof(int64_t) * (size_t)n);
  }
}

static sn_error *unique_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "missing input");
  const sn_attr *aa = sn_node_attr(c->node, "axis");
  sn_dim u = sn_dim_unknown(), n = sn_dim_unknown();
  if (aa) {
    if (x->rank < 0) {
      set_out(c, 0, x->dtype, -1, NULL);
    } else {
      int axis;
      if (!sn_norm_axis(aa->i, x->rank, &axis))
        return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)aa->i, x->rank);
      sn_dim d[SN_MAX_RANK];
      memcpy(d, x->dims, sizeof(sn_dim) * (size_t)x->rank);
      d[axis] = u;
      n = x->dims[axis];
      set_out(c, 0, x->dtype, x->rank, d);
    }
  } else {
    set_out(c, 0, x->dtype, 1, &u);
    if (sn_type_is_static(x)) {
      int64_t p = 1;
      bool ovf = false;
      for (int i = 0; i < x->rank; i++) ovf |= __builtin_mul_overflow(p, x->dims[i].v, &p);
      if (!ovf) n = sn_dim_known(p);
    }
  }
  set_out(c, 1, SINTER_INT64, 1, &u);
  set_out(c, 2, SINTER_INT64, 1, &n);
  set_out(c, 3, SINTER_INT64, 1, &u);
  return NULL;
}

static sn_error *unique_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  SN_TRY(need_tensor(c, x, "X"));
  char b[256];
  const sn_attr *aa = sn_node_attr(c->node, "axis");
  bool sorted = sn_attr_int(c->node, "sorted", 1) != 0;
  uq_ctx u = {x->dtype, sn_dtype_size(x->dtype), x->data, 1, x->count, 1};
  int axis = 0;
  if (aa) {
    if (!sn_norm_axis(aa->i, x->rank, &axis))
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for input %s", (long long)aa->i,
                             sn_tensor_describe(x, b, sizeof b));
    u.outer = prod64(x->dims, 0, axis);
    u.D = x->dims[axis];
    u.inner = prod64(x->dims, axis + 1, x->rank);
    if (x->count == 0) u.outer = u.inner = 0; /* empty slices: all equal */
  }
  int64_t N = u.D;
  size_t nb = sizeof(int64_t) * (size_t)(N ? N : 1);
  int64_t *perm = sn_kernel_scratch(c, nb), *tmp = sn_kernel_scratch(c, nb), *gfirst = sn_kernel_scratch(c, nb),
          *gcount = sn_kernel_scratch(c, nb), *inv = sn_kernel_scratch(c, nb), *remap = sn_kernel_scratch(c, nb);
  if (!perm || !tmp || !gfirst || !gcount || !inv || !remap) return SN_ERR_OOM();
  for (int64_t i = 0; i < N; i++) perm[i] = i;
  /* an empty slice (outer or inner 0) makes all items equal: still works through uq_cmp */
  uq_sort(&u, perm, tmp, N);
  int64_t U = 0;
  for (int64_t k = 0; k < N; k++) {
    if (k == 0 || uq_cmp(&u, perm[k - 1], perm[k]) != 0) {
      gfirst[U] = perm[k];
      gcount[U] = 0;
      U++;
    }
    gcount[U - 1]++;
    inv[perm[k]] = U - 1;
  }
  /* output order of the groups: sorted order, or by first occurrence */
  int64_t *order = tmp; /* order[j] = group id at output position j */
  if (sorted) {
    for (int64_t g = 0; g < U; g++) order[g] = g;
  } else {
    for (int64_t i = 0; i < N; i++) perm[i] = -1;
    for (int64_t g = 0; g < U; g++) perm[gfirst[g]] = g;
    int64_t j = 0;
    for (int64_t i = 0; i < N; i++)
      if (perm[i] >= 0) order[j++] = perm[i];
  }
  for (int64_t j = 0; j < U; j++) remap[order[j]] = j;
  /* Y */
  int64_t od[SN_MAX_RANK];
  int r;
  if (aa) {
    r = x->rank;
    memcpy(od, x->dims, sizeof(int64_t) * (size_t)r);
    od[axis] = U;
  } else {
    r = 1;
    od[0] = U;
  }
  sn_tensor *y;
  SN_TRY(sn_op_out_alloc(c, 0, x->dtype, r, od, &y));
  size_t blk = (size_t)u.inner * u.es;
  for (int64_t o = 0; o < u.outer; o++)
    for (int64_t j = 0; j < U; j++)
      memcpy((char *)y->data + (o * U + j) * (int64_t)blk, (const char *)x->data + (o * u.D + gfirst[order[j]]) * (int64_t)blk,
             blk);
  SN_TRY(sn_op_out_finish(c, 0, y, NULL));
  if (output_wanted(c, 1)) {
    sn_tensor *t;
    SN_TRY(sn_kernel_output(c, 1, SINTER_INT64, 1, &U, &t));
    for (int64_t j = 0; j < U; j++) ((int64_t *)t->data)[j] = gfirst[order[j]];
  }
  if (output_wanted(c, 2)) {
    sn_tensor *t;
    SN_TRY(sn_kernel_output(c, 2, SINTER_INT64, 1, &N, &t));
    for (int64_t i = 0; i < N; i++) ((int64_t *)t->data)[i] = remap[inv[i]];
  }
  if (output_wanted(c, 3)) {
    sn_tensor *t;
    SN_TRY(sn_kernel_output(c, 3, SINTER_INT64, 1, &U, &t));
    for (int64_t j = 0; j < U; j++) ((int64_t *)t->data)[j] = gcount[order[j]];
  }
  return NULL;
}

/* ---- the table ----------------------------------------------------------------------------------- */

const sn_op sn_ops_indexing[] = {
    {"", "Gather", 1, 0, gather_infer, gather_run, NULL, NULL, 0},
    {"", "GatherElements", 11, 0, gather_elements_infer, gather_elements_run, NULL, NULL, 0},
    {"", "GatherND", 11, 0, gather_nd_infer, gather_nd_run, NULL, NULL, 0},
    {"", "Scatter", 9, 0, scatter_elements_infer, scatter_elements_run, NULL, NULL, 0},
    {"", "ScatterElements", 11, 0, scatter_elements_infer, scatter_elements_run, NULL, NULL, 0},
    {"", "ScatterND", 11, 0, scatter_nd_infer, scatter_nd_run, NULL, NULL, 0},
    {"", "OneHot", 9, 0, onehot_infer, onehot_run, NULL, NULL, 0},
    {"", "NonZero", 9, 0, nonzero_infer, nonzero_run, NULL, NULL, 0},
    {"", "Compress", 9, 0, compress_infer, compress_run, NULL, NULL, 0},
    {"", "Unique", 11, 0, unique_infer, unique_run, NULL, NULL, 0},
    {0},
};
