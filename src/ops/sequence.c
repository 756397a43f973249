/* Sequence and optional ops: SequenceConstruct/Empty/At/Insert/Erase/Length, SplitToSequence,
 * ConcatFromSequence, SequenceMap, Optional, OptionalHasElement and OptionalGetElement. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/op.h"

/* ---- helpers ------------------------------------------------------------------------------------- */

static const sn_type *tin(const sn_infer_ctx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }
static const sn_tensor *cin(const sn_infer_ctx *c, int i) { return (i < c->n_in && c->in_data) ? c->in_data[i] : NULL; }
static sn_type *tout(const sn_infer_ctx *c, int i) { return i < c->n_out ? c->out[i] : NULL; }
static const sn_tensor *kin(const sn_kernel_ctx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }

static const sn_graph *attr_graph(const sn_node *n, const char *name) {
  const sn_attr *a = sn_node_attr(n, name);
  return (a && a->type == SN_ATTR_GRAPH) ? a->g : NULL;
}

static const char *kind_name(int kind) {
  return kind == SN_KIND_SEQUENCE ? "a sequence" : kind == SN_KIND_OPTIONAL ? "an optional" : "a tensor";
}

/* Output i as a sequence whose elements have type `elem` (dtype and shape). */
static void set_seq_type(sn_infer_ctx *c, int i, const sn_type *elem) {
  sn_type *t = tout(c, i);
  if (!t) return;
  *t = *elem;
  t->kind = SN_KIND_SEQUENCE;
  t->elem_kind = SN_KIND_TENSOR;
}

/* Widen acc so that it also covers the tensor type t: differing dims become unknown. */
static void elem_merge(sn_type *acc, const sn_type *t) {
  if (!acc->dtype) acc->dtype = t->dtype;
  if (acc->rank < 0 || t->rank < 0 || acc->rank != t->rank) {
    acc->rank = -1;
    return;
  }
  for (int i = 0; i < acc->rank; i++)
    if (!sn_dim_same(acc->dims[i], t->dims[i])) acc->dims[i] = sn_dim_unknown();
}

/* a type nothing is known of yet: no element type, no rank (a subgraph's capture before the outer
 * graph is inferred reads so); it may turn out a sequence or an optional */
static bool type_unknown(const sn_type *t) { return t->kind == SN_KIND_TENSOR && t->dtype == 0 && t->rank < 0; }

static sn_error *infer_need(const sn_infer_ctx *c, int i, int kind, const char *what) {
  const sn_type *t = tin(c, i);
  if (!t) return sn_infer_error(c, "input '%s' is missing", what);
  if (t->kind != kind && !type_unknown(t))
    return sn_infer_error(c, "input '%s' must be %s, got %s", what, kind_name(kind), kind_name(t->kind));
  return NULL;
}

static sn_error *need_kind(const sn_kernel_ctx *c, const sn_tensor *x, int kind, const char *what) {
  char b[128];
  if (!x) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input '%s' is missing", what);
  if (x->kind != kind)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input '%s' must be %s, got %s", what, kind_name(kind),
                           sn_tensor_describe(x, b, sizeof b));
  return NULL;
}

/* A position input: a one-element int32/int64 tensor. */
static sn_error *read_position(const sn_kernel_ctx *c, const sn_tensor *t, const char *what, int64_t *out) {
  char b[128];
  if (t->kind != SN_KIND_TENSOR || t->count != 1 || (t->dtype != SINTER_INT64 && t->dtype != SINTER_INT32))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "'%s' must be an int32 or int64 scalar, got %s", what,
                           sn_tensor_describe(t, b, sizeof b));
  *out = sn_load_i64(t->dtype, t->data, 0);
  return NULL;
}

/* Output i = a copy of the tensor src (planned memory for dense tensors, a heap copy for strings). */
static sn_error *emit_tensor(sn_kernel_ctx *c, int i, const sn_tensor *src) {
  if (src->dtype == SINTER_STRING) {
    sn_tensor *t;
    SN_TRY(sn_tensor_clone(src, &t));
    return sn_kernel_set_output(c, i, t);
  }
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, i, src->dtype, src->rank, src->dims, &y));
  if (y->data != src->data && src->nbytes) memcpy(y->data, src->data, src->nbytes);
  return NULL;
}

/* Output i = a deep copy of any value (tensor, sequence or optional). */
static sn_error *emit_clone(sn_kernel_ctx *c, int i, const sn_tensor *src) {
  if (src->kind == SN_KIND_TENSOR) return emit_tensor(c, i, src);
  sn_tensor *t;
  SN_TRY(sn_tensor_clone(src, &t));
  return sn_kernel_set_output(c, i, t);
}

/* Append a clone of item to seq. */
static sn_error *append_clone(sn_tensor *seq, const sn_tensor *item) {
  sn_tensor *t;
  SN_TRY(sn_tensor_clone(item, &t));
  sn_error *e = sn_sequence_append(seq, t);
  if (e) sn_tensor_free(t);
  return e;
}

/* Append an owned item; freed on failure. */
static sn_error *append_owned(sn_tensor *seq, sn_tensor *item) {
  sn_error *e = sn_sequence_append(seq, item);
  if (e) sn_tensor_free(item);
  return e;
}

/* Hand a heap-built value (sequence, string tensor) to output i, or free it on error. */
static sn_error *finish_heap(sn_kernel_ctx *c, int i, sn_tensor *seq, sn_error *e) {
  if (e) {
    sn_tensor_free(seq);
    return e;
  }
  return sn_kernel_set_output(c, i, seq);
}

static sn_error *check_item_dtype(const sn_kernel_ctx *c, const sn_tensor *seq, const sn_tensor *t, const char *what) {
  if (seq->dtype && t->dtype != seq->dtype)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s has element type %s but the sequence holds %s", what,
                           sn_dtype_name(t->dtype), sn_dtype_name(seq->dtype));
  return NULL;
}

/* Copy rows: for o in [0, outer): dst[o*dst_len + dst_off .. +n] = src[o*src_len + src_off .. +n] (element
 * units; strings are duplicated into dst, which must hold NULL or owned strings). */
static sn_error *copy_rows(sn_tensor *dst, int64_t dst_len, int64_t dst_off, const sn_tensor *src, int64_t src_len,
                           int64_t src_off, int64_t outer, int64_t n) {
  if (n <= 0) return NULL;
  if (dst->dtype == SINTER_STRING) {
    char **d = dst->data;
    char *const *s = src->data;
    for (int64_t o = 0; o < outer; o++)
      for (int64_t k = 0; k < n; k++) {
        const char *v = s[o * src_len + src_off + k];
        char *cp = sn_strdup(v ? v : "");
        if (!cp) return SN_ERR_OOM();
        sn_free(d[o * dst_len + dst_off + k]);
        d[o * dst_len + dst_off + k] = cp;
      }
    return NULL;
  }
  size_t es = sn_dtype_size(dst->dtype);
  for (int64_t o = 0; o < outer; o++)
    memcpy((uint8_t *)dst->data + (size_t)(o * dst_len + dst_off) * es,
           (const uint8_t *)src->data + (size_t)(o * src_len + src_off) * es, (size_t)n * es);
  return NULL;
}

/* ---- SequenceConstruct ------------------------------------------------------------------------- */

static sn_error *construct_infer(sn_infer_ctx *c) {
  if (c->n_in < 1) return sn_infer_error(c, "needs at least one input");
  sn_type acc;
  for (int i = 0; i < c->n_in; i++) {
    SN_TRY(infer_need(c, i, SN_KIND_TENSOR, "inputs"));
    const sn_type *t = tin(c, i);
    if (i == 0) {
      acc = *t;
    } else {
      if (acc.dtype && t->dtype && acc.dtype != t->dtype)
        return sn_infer_error(c, "input %d has element type %s, input 0 has %s", i, sn_dtype_name(t->dtype),
                              sn_dtype_name(acc.dtype));
      elem_merge(&acc, t);
    }
  }
  set_seq_type(c, 0, &acc);
  return NULL;
}

static sn_error *construct_run(sn_kernel_ctx *c) {
  if (c->n_in < 1) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "needs at least one input");
  for (int i = 0; i < c->n_in; i++) SN_TRY(need_kind(c, kin(c, i), SN_KIND_TENSOR, "inputs"));
  sn_tensor *seq;
  SN_TRY(sn_tensor_new_sequence(kin(c, 0)->dtype, &seq));
  sn_error *e = NULL;
  for (int i = 0; i < c->n_in && !e; i++) {
    char what[32];
    snprintf(what, sizeof what, "input %d", i);
    e = check_item_dtype(c, seq, kin(c, i), what);
    if (!e) e = append_clone(seq, kin(c, i));
  }
  return finish_heap(c, 0, seq, e);
}

/* ---- SequenceEmpty ----------------------------------------------------------------------------- */

static sn_error *empty_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  *params = NULL;
  int64_t dt = sn_attr_int(n, "dtype", SINTER_FLOAT);
  if (!sn_dtype_valid((int)dt))
    return sn_errorf(SINTER_ERR_INVALID_GRAPH, "SequenceEmpty: dtype %lld is not a valid element type", (long long)dt);
  return NULL;
}

static sn_error *empty_infer(sn_infer_ctx *c) {
  sn_type t;
  sn_type_set_unknown(&t, (sn_dtype)sn_attr_int(c->node, "dtype", SINTER_FLOAT));
  set_seq_type(c, 0, &t);
  return NULL;
}

static sn_error *empty_run(sn_kernel_ctx *c) {
  int64_t dt = sn_attr_int(c->node, "dtype", SINTER_FLOAT);
  if (!sn_dtype_valid((int)dt))
    return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "dtype %lld is not a valid element type", (long long)dt);
  sn_tensor *seq;
  SN_TRY(sn_tensor_new_sequence((sn_dtype)dt, &seq));
  return sn_kernel_set_output(c, 0, seq);
}

/* ---- SequenceAt -------------------------------------------------------------------------------- */

static sn_error *at_infer(sn_infer_ctx *c) {
  SN_TRY(infer_need(c, 0, SN_KIND_SEQUENCE, "input_sequence"));
  SN_TRY(infer_need(c, 1, SN_KIND_TENSOR, "position"));
  sn_type *o = tout(c, 0);
  if (o) {
    *o = *tin(c, 0);
    o->kind = SN_KIND_TENSOR;
    o->elem_kind = 0;
  }
  return NULL;
}

static sn_error *at_run(sn_kernel_ctx *c) {
  const sn_tensor *s = kin(c, 0);
  SN_TRY(need_kind(c, s, SN_KIND_SEQUENCE, "input_sequence"));
  SN_TRY(need_kind(c, kin(c, 1), SN_KIND_TENSOR, "position"));
  int64_t p = 0;
  SN_TRY(read_position(c, kin(c, 1), "position", &p));
  int64_t n = s->n_items;
  if (p < -n || p >= n)
    return sn_kernel_error(c, SINTER_ERR_RUNTIME, "position %lld is out of range for a sequence of %lld items",
                           (long long)p, (long long)n);
  if (p < 0) p += n;
  return emit_clone(c, 0, s->items[p]);
}

/* ---- SequenceInsert ---------------------------------------------------------------------------- */

static sn_error *insert_infer(sn_infer_ctx *c) {
  SN_TRY(infer_need(c, 0, SN_KIND_SEQUENCE, "input_sequence"));
  SN_TRY(infer_need(c, 1, SN_KIND_TENSOR, "tensor"));
  const sn_type *s = tin(c, 0), *t = tin(c, 1);
  if (s->dtype && t->dtype && s->dtype != t->dtype)
    return sn_infer_error(c, "tensor has element type %s but the sequence holds %s", sn_dtype_name(t->dtype),
                          sn_dtype_name(s->dtype));
  sn_type acc = *s;
  acc.kind = SN_KIND_TENSOR;
  elem_merge(&acc, t);
  set_seq_type(c, 0, &acc);
  return NULL;
}

static sn_error *insert_run(sn_kernel_ctx *c) {
  const sn_tensor *s = kin(c, 0), *t = kin(c, 1), *pos = kin(c, 2);
  SN_TRY(need_kind(c, s, SN_KIND_SEQUENCE, "input_sequence"));
  SN_TRY(need_kind(c, t, SN_KIND_TENSOR, "tensor"));
  int64_t n = s->n_items, p = n;
  if (pos) {
    SN_TRY(read_position(c, pos, "position", &p));
    if (p < -n || p > n)
      return sn_kernel_error(c, SINTER_ERR_RUNTIME, "position %lld is out of range [%lld, %lld] for insertion",
                             (long long)p, (long long)-n, (long long)n);
    if (p < 0) p += n;
  }
  SN_TRY(check_item_dtype(c, s, t, "tensor"));
  sn_tensor *out;
  SN_TRY(sn_tensor_new_sequence(s->dtype ? s->dtype : t->dtype, &out));
  sn_error *e = NULL;
  for (int64_t i = 0; i <= n && !e; i++) {
    if (i == p) e = append_clone(out, t);
    if (i < n && !e) e = append_clone(out, s->items[i]);
  }
  return finish_heap(c, 0, out, e);
}

/* ---- SequenceErase ----------------------------------------------------------------------------- */

static sn_error *erase_infer(sn_infer_ctx *c) {
  SN_TRY(infer_need(c, 0, SN_KIND_SEQUENCE, "input_sequence"));
  sn_type t = *tin(c, 0);
  set_seq_type(c, 0, &t);
  return NULL;
}

static sn_error *erase_run(sn_kernel_ctx *c) {
  const sn_tensor *s = kin(c, 0), *pos = kin(c, 1);
  SN_TRY(need_kind(c, s, SN_KIND_SEQUENCE, "input_sequence"));
  int64_t n = s->n_items, p = -1;
  if (pos) SN_TRY(read_position(c, pos, "position", &p));
  if (p < -n || p >= n)
    return sn_kernel_error(c, SINTER_ERR_RUNTIME, "position %lld is out of range for a sequence of %lld items",
                           (long long)p, (long long)n);
  if (p < 0) p += n;
  sn_tensor *out;
  SN_TRY(sn_tensor_new_sequence(s->dtype, &out));
  sn_error *e = NULL;
  for (int64_t i = 0; i < n && !e; i++)
    if (i != p) e = append_clone(out, s->items[i]);
  return finish_heap(c, 0, out, e);
}

/* ---- SequenceLength ---------------------------------------------------------------------------- */

static sn_error *length_infer(sn_infer_ctx *c) {
  SN_TRY(infer_need(c, 0, SN_KIND_SEQUENCE, "input_sequence"));
  sn_type *o = tout(c, 0);
  if (o) sn_type_set(o, SINTER_INT64, 0, NULL);
  return NULL;
}

static sn_error *length_run(sn_kernel_ctx *c) {
  const sn_tensor *s = kin(c, 0);
  SN_TRY(need_kind(c, s, SN_KIND_SEQUENCE, "input_sequence"));
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_INT64, 0, NULL, &y));
  *(int64_t *)y->data = s->n_items;
  return NULL;
}

/* ---- SplitToSequence --------------------------------------------------------------------------- */

static sn_error *split_infer(sn_infer_ctx *c) {
  SN_TRY(infer_need(c, 0, SN_KIND_TENSOR, "input"));
  const sn_type *x = tin(c, 0), *sp = tin(c, 1);
  if (sp && sp->kind != SN_KIND_TENSOR) return sn_infer_error(c, "split must be a tensor");
  if (sp && sp->dtype && sp->dtype != SINTER_INT32 && sp->dtype != SINTER_INT64)
    return sn_infer_error(c, "split must be int32 or int64, got %s", sn_dtype_name(sp->dtype));
  if (sp && sp->rank > 1) return sn_infer_error(c, "split must be a scalar or 1-D, got rank %d", sp->rank);
  sn_type e = *x;
  if (x->rank < 0) {
    set_seq_type(c, 0, &e);
    return NULL;
  }
  int64_t axis = sn_attr_int(c->node, "axis", 0);
  if (axis < -x->rank || axis >= x->rank)
    return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  if (axis < 0) axis += x->rank;
  if (!sp) {
    if (sn_attr_int(c->node, "keepdims", 1)) {
      e.dims[axis] = sn_dim_known(1);
    } else {
      for (int i = (int)axis; i + 1 < x->rank; i++) e.dims[i] = e.dims[i + 1];
      e.rank--;
    }
  } else {
    /* the part length is known when split is a constant scalar dividing the dim, or a 1-D constant of equal entries */
    const sn_tensor *sd = cin(c, 1);
    sn_dim d = sn_dim_unknown();
    if (sd && sd->kind == SN_KIND_TENSOR && sd->count >= 1) {
      int64_t v0 = sn_load_i64(sd->dtype, sd->data, 0);
      bool same = true;
      for (int64_t i = 1; i < sd->count; i++) same &= sn_load_i64(sd->dtype, sd->data, i) == v0;
      if (same && v0 > 0 && (sd->rank == 1 || (x->dims[axis].v >= 0 && x->dims[axis].v % v0 == 0)))
        d = sn_dim_known(v0);
    }
    e.dims[axis] = d;
  }
  set_seq_type(c, 0, &e);
  return NULL;
}

static sn_error *split_run(sn_kernel_ctx *c) {
  char b[128];
  const sn_tensor *x = kin(c, 0), *sp = kin(c, 1);
  SN_TRY(need_kind(c, x, SN_KIND_TENSOR, "input"));
  if (x->rank < 1) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input must have rank >= 1, got a scalar");
  int64_t axis = sn_attr_int(c->node, "axis", 0);
  if (axis < -x->rank || axis >= x->rank)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for %s", (long long)axis,
                           sn_tensor_describe(x, b, sizeof b));
  if (axis < 0) axis += x->rank;
  const int64_t dim = x->dims[axis];
  bool keep = true;
  int64_t n_parts, chunk = 1;
  if (!sp) {
    n_parts = dim;
    keep = sn_attr_int(c->node, "keepdims", 1) != 0;
  } else {
    if (sp->kind != SN_KIND_TENSOR || (sp->dtype != SINTER_INT32 && sp->dtype != SINTER_INT64) || sp->rank > 1)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                             "split must be an int32/int64 scalar or 1-D tensor, got %s",
                             sn_tensor_describe(sp, b, sizeof b));
    if (sp->rank == 0) {
      chunk = sn_load_i64(sp->dtype, sp->data, 0);
      if (chunk <= 0)
        return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "split %lld must be positive", (long long)chunk);
      n_parts = dim / chunk + (dim % chunk ? 1 : 0);
    } else {
      n_parts = sp->count;
      int64_t sum = 0;
      for (int64_t i = 0; i < n_parts; i++) {
        int64_t v = sn_load_i64(sp->dtype, sp->data, i);
        if (v < 0)
          return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "split[%lld] = %lld is negative", (long long)i,
                                 (long long)v);
        sum += v;
      }
      if (sum != dim)
        return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "split sums to %lld but axis %lld of %s has %lld",
                               (long long)sum, (long long)axis, sn_tensor_describe(x, b, sizeof b), (long long)dim);
    }
  }
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; k++) outer *= x->dims[k];
  for (int k = (int)axis + 1; k < x->rank; k++) inner *= x->dims[k];
  sn_tensor *seq;
  SN_TRY(sn_tensor_new_sequence(x->dtype, &seq));
  sn_error *e = NULL;
  int64_t pos = 0;
  for (int64_t p = 0; p < n_parts && !e; p++) {
    int64_t len = !sp             ? 1
                  : sp->rank == 0 ? (dim - pos < chunk ? dim - pos : chunk)
                                  : sn_load_i64(sp->dtype, sp->data, p);
    int64_t dims[SN_MAX_RANK];
    int r = 0;
    for (int k = 0; k < x->rank; k++) {
      if (k == axis) {
        if (keep) dims[r++] = len;
      } else {
        dims[r++] = x->dims[k];
      }
    }
    sn_tensor *t;
    e = sn_tensor_new(x->dtype, r, dims, &t);
    if (e) break;
    e = copy_rows(t, len * inner, 0, x, dim * inner, pos * inner, outer, len * inner);
    if (!e)
      e = append_owned(seq, t);
    else
      sn_tensor_free(t);
    pos += len;
  }
  return finish_heap(c, 0, seq, e);
}

/* ---- ConcatFromSequence ------------------------------------------------------------------------ */

static sn_error *concat_infer(sn_infer_ctx *c) {
  SN_TRY(infer_need(c, 0, SN_KIND_SEQUENCE, "input_sequence"));
  const sn_type *s = tin(c, 0);
  const sn_attr *aa = sn_node_attr(c->node, "axis");
  if (!aa) return sn_infer_error(c, "needs the attribute axis");
  bool new_axis = sn_attr_int(c->node, "new_axis", 0) != 0;
  sn_type *o = tout(c, 0);
  if (!o) return NULL;
  if (s->rank < 0) {
    sn_type_set_unknown(o, s->dtype);
    return NULL;
  }
  int r = s->rank + (new_axis ? 1 : 0);
  if (r > SN_MAX_RANK) return sn_infer_error(c, "result would have more than %d dims", SN_MAX_RANK);
  int64_t axis = aa->i;
  if (axis < -r || axis >= r) return sn_infer_error(c, "axis %lld is out of range for rank %d", (long long)axis, r);
  if (axis < 0) axis += r;
  sn_dim d[SN_MAX_RANK];
  for (int k = 0, j = 0; k < r; k++) {
    if (k == axis) {
      d[k] = sn_dim_unknown();
      if (!new_axis) j++;
    } else {
      d[k] = s->dims[j++];
    }
  }
  sn_type_set(o, s->dtype, r, d);
  return NULL;
}

static sn_error *concat_run(sn_kernel_ctx *c) {
  char b1[128], b2[128];
  const sn_tensor *s = kin(c, 0);
  SN_TRY(need_kind(c, s, SN_KIND_SEQUENCE, "input_sequence"));
  const sn_attr *aa = sn_node_attr(c->node, "axis");
  if (!aa) return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "needs the attribute axis");
  bool new_axis = sn_attr_int(c->node, "new_axis", 0) != 0;
  if (s->n_items == 0)
    return sn_kernel_error(c, SINTER_ERR_RUNTIME, "cannot concatenate an empty sequence (no element shape)");
  const sn_tensor *t0 = s->items[0];
  for (int i = 0; i < s->n_items; i++)
    if (s->items[i]->kind != SN_KIND_TENSOR)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "sequence item %d is not a tensor", i);
  const int er = t0->rank;
  const int r = er + (new_axis ? 1 : 0);
  if (r > SN_MAX_RANK)
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "result would have more than %d dims", SN_MAX_RANK);
  int64_t axis = aa->i;
  if (axis < -r || axis >= r || r == 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for %s%s", (long long)axis,
                           sn_tensor_describe(t0, b1, sizeof b1), new_axis ? " with new_axis" : "");
  if (axis < 0) axis += r;
  /* element shape viewed as [outer, len_i, inner]; with new_axis len_i = 1 */
  int64_t outer = 1, inner = 1, total = 0;
  for (int k = 0; k < axis; k++) outer *= t0->dims[k];
  for (int k = (int)axis + (new_axis ? 0 : 1); k < er; k++) inner *= t0->dims[k];
  for (int i = 0; i < s->n_items; i++) {
    const sn_tensor *t = s->items[i];
    bool ok = t->dtype == t0->dtype && t->rank == er;
    for (int k = 0; ok && k < er; k++) ok = k == axis && !new_axis ? true : t->dims[k] == t0->dims[k];
    if (!ok)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                             "sequence item %d %s does not match item 0 %s on the non-concatenated axes", i,
                             sn_tensor_describe(t, b1, sizeof b1), sn_tensor_describe(t0, b2, sizeof b2));
    total += new_axis ? 1 : t->dims[axis];
  }
  int64_t dims[SN_MAX_RANK];
  for (int k = 0, j = 0; k < r; k++) {
    if (k == axis) {
      dims[k] = total;
      if (!new_axis) j++;
    } else {
      dims[k] = t0->dims[j++];
    }
  }
  sn_tensor *y;
  bool heap = t0->dtype == SINTER_STRING;
  if (heap)
    SN_TRY(sn_tensor_new(t0->dtype, r, dims, &y));
  else
    SN_TRY(sn_kernel_output(c, 0, t0->dtype, r, dims, &y));
  sn_error *e = NULL;
  int64_t pos = 0;
  for (int i = 0; i < s->n_items && !e; i++) {
    const sn_tensor *t = s->items[i];
    int64_t len = new_axis ? 1 : t->dims[axis];
    e = copy_rows(y, total * inner, pos * inner, t, len * inner, 0, outer, len * inner);
    pos += len;
  }
  if (heap) return finish_heap(c, 0, y, e);
  return e;
}

/* ---- SequenceMap ------------------------------------------------------------------------------- */

static sn_error *map_infer(sn_infer_ctx *c) {
  const sn_graph *body = attr_graph(c->node, "body");
  if (!body) return sn_infer_error(c, "needs a graph attribute body");
  SN_TRY(infer_need(c, 0, SN_KIND_SEQUENCE, "input_sequence"));
  if (body->n_inputs != c->n_in)
    return sn_infer_error(c, "body takes %d inputs but the node has %d", body->n_inputs, c->n_in);
  if (c->n_out > body->n_outputs)
    return sn_infer_error(c, "has %d outputs but the body produces %d", c->n_out, body->n_outputs);
  for (int i = 1; i < c->n_in; i++)
    if (!tin(c, i) || (tin(c, i)->kind != SN_KIND_TENSOR && tin(c, i)->kind != SN_KIND_SEQUENCE))
      return sn_infer_error(c, "additional input %d must be a tensor or a sequence", i);
  for (int k = 0; k < c->n_out; k++) {
    sn_type t = body->values[body->outputs[k]].type;
    if (t.kind != SN_KIND_TENSOR) sn_type_set_unknown(&t, t.dtype);
    set_seq_type(c, k, &t);
  }
  return NULL;
}

static sn_error *map_run(sn_kernel_ctx *c) {
  char desc[256], b[128];
  const sn_graph *body = attr_graph(c->node, "body");
  if (!body) return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "needs a graph attribute body");
  const sn_tensor *s = kin(c, 0);
  SN_TRY(need_kind(c, s, SN_KIND_SEQUENCE, "input_sequence"));
  if (body->n_inputs != c->n_in)
    return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "body takes %d inputs but the node has %d", body->n_inputs,
                           c->n_in);
  if (c->n_out > body->n_outputs)
    return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "has %d outputs but the body produces %d", c->n_out,
                           body->n_outputs);
  const int64_t n = s->n_items;
  for (int i = 1; i < c->n_in; i++) {
    const sn_tensor *x = kin(c, i);
    if (!x) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "additional input %d is missing", i);
    if (x->kind == SN_KIND_SEQUENCE && x->n_items != n)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                             "additional input %d has %d items, input_sequence has %lld", i, x->n_items, (long long)n);
    if (x->kind == SN_KIND_OPTIONAL)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "additional input %d is %s", i,
                             sn_tensor_describe(x, b, sizeof b));
  }
  const int n_in = c->n_in, n_bout = body->n_outputs, n_out = c->n_out;
  const sn_tensor **bin = sn_calloc((size_t)n_in, sizeof *bin);
  sn_tensor **bout = sn_calloc((size_t)(n_bout ? n_bout : 1), sizeof *bout);
  sn_tensor **outs = sn_calloc((size_t)(n_out ? n_out : 1), sizeof *outs);
  sn_error *e = NULL;
  if (!bin || !bout || !outs) {
    e = SN_ERR_OOM();
    goto done;
  }
  for (int k = 0; k < n_out && !e; k++) {
    sn_dtype dt = body->values[body->outputs[k]].type.dtype;
    e = sn_tensor_new_sequence(dt, &outs[k]);
  }
  for (int64_t it = 0; it < n && !e; it++) {
    for (int i = 0; i < n_in; i++) {
      const sn_tensor *x = i == 0 ? s : kin(c, i);
      bin[i] = x->kind == SN_KIND_SEQUENCE ? x->items[it] : x;
    }
    e = sn_kernel_run_subgraph(c, body, n_in, bin, bout);
    if (e) {
      e = sn_error_wrap(e, "in the SequenceMap body of %s at item %lld", sn_node_desc(c->node, desc, sizeof desc),
                        (long long)it);
      break;
    }
    for (int k = 0; k < n_bout; k++) {
      sn_tensor *o = bout[k];
      bout[k] = NULL;
      if (e || k >= n_out || !sn_kernel_output_used(c, k)) {
        sn_tensor_free(o);
        continue;
      }
      if (o->kind != SN_KIND_TENSOR) {
        e = sn_kernel_error(c, SINTER_ERR_RUNTIME, "body output %d is %s, expected a tensor", k,
                            sn_tensor_describe(o, b, sizeof b));
        sn_tensor_free(o);
        continue;
      }
      if (!outs[k]->dtype) outs[k]->dtype = o->dtype;
      e = check_item_dtype(c, outs[k], o, "a body output");
      if (e) {
        sn_tensor_free(o);
        continue;
      }
      e = append_owned(outs[k], o);
    }
  }
  for (int k = 0; k < n_out; k++) {
    sn_tensor *t = outs[k];
    outs[k] = NULL;
    if (!t) continue;
    if (!t->dtype) t->dtype = SINTER_FLOAT;
    if (e)
      sn_tensor_free(t);
    else
      e = sn_kernel_set_output(c, k, t);
  }
done:
  sn_free(bin);
  sn_free(bout);
  sn_free(outs);
  return e;
}

/* ---- Optional ---------------------------------------------------------------------------------- */

static const sn_type *optional_attr_type(const sn_node *n) {
  const sn_attr *a = sn_node_attr(n, "type");
  return (a && a->type == SN_ATTR_TYPE_PROTO && a->types) ? a->types : NULL;
}

static sn_error *optional_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0), *at = optional_attr_type(c->node);
  sn_type t;
  if (x) {
    if (x->kind == SN_KIND_OPTIONAL) return sn_infer_error(c, "input cannot itself be an optional");
    t = *x;
    t.elem_kind = x->kind;
  } else if (at) {
    if (at->kind == SN_KIND_OPTIONAL) return sn_infer_error(c, "attribute type cannot itself be an optional");
    t = *at;
    t.elem_kind = at->kind;
  } else {
    return sn_infer_error(c, "needs an input or the attribute type");
  }
  if (x && at && at->dtype && x->dtype && (at->kind != x->kind || at->dtype != x->dtype))
    return sn_infer_error(c, "the input's type disagrees with the attribute type");
  t.kind = SN_KIND_OPTIONAL;
  sn_type *o = tout(c, 0);
  if (o) *o = t;
  return NULL;
}

static sn_error *optional_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  const sn_type *at = optional_attr_type(c->node);
  sn_tensor *out, *item = NULL;
  if (x) {
    if (x->kind == SN_KIND_OPTIONAL)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input cannot itself be an optional");
    SN_TRY(sn_tensor_clone(x, &item));
  } else if (!at) {
    return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "needs an input or the attribute type");
  }
  sn_error *e = sn_tensor_new_optional(x ? x->dtype : at->dtype, item, &out);
  if (e) {
    sn_tensor_free(item);
    return e;
  }
  return sn_kernel_set_output(c, 0, out);
}

/* ---- OptionalHasElement / OptionalGetElement ---------------------------------------------------- */

static sn_error *has_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (c->n_in > 1) return sn_infer_error(c, "takes at most one input");
  if (c->opset < 18) {
    if (!x) return sn_infer_error(c, "needs an input (opset %d)", c->opset);
    if (x->kind != SN_KIND_OPTIONAL && !type_unknown(x))
      return sn_infer_error(c, "input must be an optional at opset %d, got %s", c->opset, kind_name(x->kind));
  }
  sn_type *o = tout(c, 0);
  if (o) sn_type_set(o, SINTER_BOOL, 0, NULL);
  return NULL;
}

static sn_error *has_run(sn_kernel_ctx *c) {
  /* a plain tensor or sequence counts as a present value at every opset: a Loop feeds a body output
   * back into an optional-typed carried input without wrapping it */
  const sn_tensor *x = kin(c, 0);
  bool has = x && (x->kind != SN_KIND_OPTIONAL || x->n_items > 0);
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_BOOL, 0, NULL, &y));
  *(uint8_t *)y->data = has;
  return NULL;
}

static sn_error *get_infer(sn_infer_ctx *c) {
  const sn_type *x = tin(c, 0);
  if (!x) return sn_infer_error(c, "needs an input");
  if (c->opset < 18 && x->kind != SN_KIND_OPTIONAL && !type_unknown(x))
    return sn_infer_error(c, "input must be an optional at opset %d, got %s", c->opset, kind_name(x->kind));
  sn_type t = *x;
  if (x->kind == SN_KIND_OPTIONAL) {
    t.kind = x->elem_kind == SN_KIND_SEQUENCE ? SN_KIND_SEQUENCE : SN_KIND_TENSOR;
    t.elem_kind = t.kind == SN_KIND_SEQUENCE ? SN_KIND_TENSOR : 0;
  }
  sn_type *o = tout(c, 0);
  if (o) *o = t;
  return NULL;
}

static sn_error *get_run(sn_kernel_ctx *c) {
  const sn_tensor *x = kin(c, 0);
  if (!x) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input is missing");
  if (x->kind != SN_KIND_OPTIONAL) return emit_clone(c, 0, x); /* a present value (see has_run) */
  if (x->n_items < 1 || !x->items[0])
    return sn_kernel_error(c, SINTER_ERR_RUNTIME, "the optional input holds no value");
  return emit_clone(c, 0, x->items[0]);
}

/* SplitToSequence 24 and OptionalHas/GetElement 18 widen the accepted types (18: plain tensors and
 * sequences count as present values); the kernels check the opset where that matters. */
const sn_op sn_ops_sequence[] = {
    {"", "SequenceConstruct", 11, 0, construct_infer, construct_run, NULL, NULL, 0},
    {"", "SequenceEmpty", 11, 0, empty_infer, empty_run, empty_prepare, NULL, 0},
    {"", "SequenceAt", 11, 0, at_infer, at_run, NULL, NULL, 0},
    {"", "SequenceInsert", 11, 0, insert_infer, insert_run, NULL, NULL, 0},
    {"", "SequenceErase", 11, 0, erase_infer, erase_run, NULL, NULL, 0},
    {"", "SequenceLength", 11, 0, length_infer, length_run, NULL, NULL, 0},
    {"", "SplitToSequence", 11, 23, split_infer, split_run, NULL, NULL, 0},
    {"", "SplitToSequence", 24, 0, split_infer, split_run, NULL, NULL, 0},
    {"", "ConcatFromSequence", 11, 0, concat_infer, concat_run, NULL, NULL, 0},
    {"", "SequenceMap", 17, 0, map_infer, map_run, NULL, NULL, 0},
    {"", "Optional", 15, 0, optional_infer, optional_run, NULL, NULL, 0},
    {"", "OptionalHasElement", 15, 17, has_infer, has_run, NULL, NULL, 0},
    {"", "OptionalHasElement", 18, 0, has_infer, has_run, NULL, NULL, 0},
    {"", "OptionalGetElement", 15, 17, get_infer, get_run, NULL, NULL, 0},
    {"", "OptionalGetElement", 18, 0, get_infer, get_run, NULL, NULL, 0},
    {0},
};
