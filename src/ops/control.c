/* Control flow: If, Loop and Scan (8 and 9+), running their bodies through the runtime's subgraph
 * entry point and stitching the results (loop-carried values, stacked scan outputs). */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/op.h"

/* ---- shared helpers ----------------------------------------------------------------------------- */

static const sn_graph *attr_graph(const sn_node *n, const char *name) {
  const sn_attr *a = sn_node_attr(n, name);
  return (a && a->type == SN_ATTR_GRAPH) ? a->g : NULL;
}

static const sn_type *graph_out_type(const sn_graph *g, int k) { return &g->values[g->outputs[k]].type; }

static bool type_unknown(const sn_type *t) { return t->dtype == 0 && t->rank < 0; }

/* The type that covers both a and b: shared dims kept, differing ones unknown. */
static void type_merge(sn_type *out, const sn_type *a, const sn_type *b) {
  if (type_unknown(a)) {
    *out = *b;
    return;
  }
  if (type_unknown(b)) {
    *out = *a;
    return;
  }
  *out = *a;
  if (!out->dtype) out->dtype = b->dtype;
  if (a->kind != b->kind || a->rank < 0 || b->rank < 0 || a->rank != b->rank) {
    out->rank = -1;
    return;
  }
  for (int i = 0; i < a->rank; i++)
    if (!sn_dim_same(a->dims[i], b->dims[i])) out->dims[i] = sn_dim_unknown();
}

/* A type with one more dim inserted at axis (in [0, rank]). */
static void type_insert_dim(sn_type *out, const sn_type *elem, int axis, sn_dim d) {
  *out = *elem;
  out->kind = SN_KIND_TENSOR;
  if (elem->rank < 0 || elem->rank >= SN_MAX_RANK) {
    out->rank = -1;
    return;
  }
  for (int i = elem->rank; i > axis; i--) out->dims[i] = elem->dims[i - 1];
  out->dims[axis] = d;
  out->rank = elem->rank + 1;
}

static void set_out_type(sn_infer_ctx *c, int i, const sn_type *t) {
  if (i < c->n_out && c->out[i]) *c->out[i] = *t;
}

static const sn_tensor *kin(const sn_kernel_ctx *c, int i) { return i >= 0 && i < c->n_in ? c->in[i] : NULL; }

/* Truth value of a boolean condition tensor (first element). */
static sn_error *read_cond(sn_kernel_ctx *c, const sn_tensor *t, const char *what, bool *out) {
  char b[128];
  if (!t || t->kind != SN_KIND_TENSOR || t->count < 1 || t->dtype == SINTER_STRING)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s must be a one-element boolean tensor, got %s", what,
                           t ? sn_tensor_describe(t, b, sizeof b) : "nothing");
  *out = sn_load_f64(t->dtype, t->data, 0) != 0;
  return NULL;
}

static void free_all(sn_tensor **ts, int n) {
  for (int i = 0; ts && i < n; i++) {
    sn_tensor_free(ts[i]);
    ts[i] = NULL;
  }
}

/* A new output tensor: string tensors are built on the heap (handed over with set_output later),
 * others use the runtime's output memory. Zero-filled. */
static sn_error *new_output(sn_kernel_ctx *c, int i, sn_dtype dt, int rank, const int64_t *dims, sn_tensor **out,
                            bool *heap) {
  *heap = dt == SINTER_STRING;
  if (*heap) return sn_tensor_new(dt, rank, dims, out);
  SN_TRY(sn_kernel_output(c, i, dt, rank, dims, out));
  if ((*out)->nbytes) memset((*out)->data, 0, (*out)->nbytes);
  return NULL;
}

static sn_error *finish_output(sn_kernel_ctx *c, int i, sn_tensor *t, bool heap) {
  return heap ? sn_kernel_set_output(c, i, t) : NULL;
}

/* Copy n elements from src (at element src_off) into dst (at element dst_off); strings are duplicated. */
static sn_error *put_elems(sn_tensor *dst, int64_t dst_off, const sn_tensor *src, int64_t src_off, int64_t n) {
  if (n <= 0) return NULL;
  if (dst->dtype == SINTER_STRING) {
    char **d = dst->data;
    char *const *s = src->data;
    for (int64_t i = 0; i < n; i++) {
      char *v = sn_strdup(s[src_off + i] ? s[src_off + i] : "");
      if (!v) return SN_ERR_OOM();
      sn_free(d[dst_off + i]);
      d[dst_off + i] = v;
    }
    return NULL;
  }
  size_t es = sn_dtype_size(dst->dtype);
  memcpy((uint8_t *)dst->data + (size_t)dst_off * es, (const uint8_t *)src->data + (size_t)src_off * es, (size_t)n * es);
  return NULL;
}

static bool same_shape(const sn_tensor *a, const sn_tensor *b) {
  return a->kind == b->kind && a->dtype == b->dtype && a->rank == b->rank &&
         (a->rank == 0 || !memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank));
}

/* Element shape for a scan output when no iteration ran: the body's declared shape if static. */
static int decl_elem_shape(const sn_type *t, int64_t *dims) {
  if (t->rank < 0 || !sn_type_is_static(t)) return -1;
  for (int i = 0; i < t->rank; i++) dims[i] = t->dims[i].v;
  return t->rank;
}

/* Stack parts[0..n) (all the same shape) along a new axis at `axis`; part t lands at position
 * pos(t) = reverse ? n-1-t : t. Output i of the node. */
static sn_error *stack_parts(sn_kernel_ctx *c, int i, sn_tensor *const *parts, int64_t n, int axis, bool reverse,
                             const sn_type *decl) {
  char b1[128], b2[128];
  if (!sn_kernel_output_used(c, i)) return NULL;
  int64_t elem[SN_MAX_RANK];
  int er;
  sn_dtype dt;
  if (n > 0) {
    er = parts[0]->rank;
    dt = parts[0]->dtype;
    if (parts[0]->kind != SN_KIND_TENSOR)
      return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "scan output %d of the body is not a tensor (%s)", i,
                             sn_tensor_describe(parts[0], b1, sizeof b1));
    if (er) memcpy(elem, parts[0]->dims, sizeof(int64_t) * (size_t)er);
    for (int64_t t = 1; t < n; t++)
      if (!same_shape(parts[t], parts[0]))
        return sn_kernel_error(c, SINTER_ERR_RUNTIME,
                               "scan output %d changes shape between iterations: %s at iteration 0, %s at iteration %lld",
                               i, sn_tensor_describe(parts[0], b1, sizeof b1), sn_tensor_describe(parts[t], b2, sizeof b2),
                               (long long)t);
  } else {
    er = decl_elem_shape(decl, elem);
    if (er < 0) er = 0, axis = 0;
    dt = decl->dtype ? decl->dtype : SINTER_FLOAT;
  }
  if (er + 1 > SN_MAX_RANK) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "scan output %d has too many dims", i);
  if (axis < 0 || axis > er)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "scan output axis %d is out of range for rank %d", axis,
                           er + 1);
  int64_t dims[SN_MAX_RANK];
  for (int k = 0, j = 0; k <= er; k++) dims[k] = k == axis ? n : elem[j++];
  sn_tensor *out;
  bool heap;
  SN_TRY(new_output(c, i, dt, er + 1, dims, &out, &heap));
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; k++) outer *= elem[k];
  for (int k = axis; k < er; k++) inner *= elem[k];
  sn_error *e = NULL;
  for (int64_t t = 0; t < n && !e; t++) {
    int64_t p = reverse ? n - 1 - t : t;
    for (int64_t o = 0; o < outer && !e; o++) e = put_elems(out, (o * n + p) * inner, parts[t], o * inner, inner);
  }
  if (e) {
    if (heap) sn_tensor_free(out);
    return e;
  }
  return finish_output(c, i, out, heap);
}

/* A growable list of owned tensors. */
typedef struct tensor_list {
  sn_tensor **items;
  int64_t n, cap;
} tensor_list;

static sn_error *list_push(tensor_list *l, sn_tensor *t) {
  if (l->n == l->cap) {
    int64_t cap = l->cap ? l->cap * 2 : 16;
    sn_tensor **it = sn_realloc(l->items, sizeof(*it) * (size_t)cap);
    if (!it) {
      sn_tensor_free(t);
      return SN_ERR_OOM();
    }
    l->items = it;
    l->cap = cap;
  }
  l->items[l->n++] = t;
  return NULL;
}

static void list_free(tensor_list *l) {
  for (int64_t i = 0; i < l->n; i++) sn_tensor_free(l->items[i]);
  sn_free(l->items);
  l->items = NULL;
  l->n = l->cap = 0;
}

/* Header viewing slice `idx` of t along `axis` (axis 0: no copy; otherwise copied into buf, which
 * must hold t->count / dims[axis] elements). String pointers are borrowed. */
static sn_error *slice_view(const sn_tensor *t, int axis, int64_t idx, void *buf, sn_tensor *hdr) {
  int64_t dims[SN_MAX_RANK];
  int r = 0;
  for (int k = 0; k < t->rank; k++)
    if (k != axis) dims[r++] = t->dims[k];
  memset(hdr, 0, sizeof *hdr);
  SN_TRY(sn_tensor_set_shape(hdr, t->dtype, r, dims));
  size_t es = sn_dtype_size(t->dtype);
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; k++) outer *= t->dims[k];
  for (int k = axis + 1; k < t->rank; k++) inner *= t->dims[k];
  if (outer == 1) {
    hdr->data = (uint8_t *)t->data + (size_t)(idx * inner) * es;
    return NULL;
  }
  const int64_t len = t->dims[axis];
  for (int64_t o = 0; o < outer; o++)
    memcpy((uint8_t *)buf + (size_t)(o * inner) * es, (const uint8_t *)t->data + (size_t)((o * len + idx) * inner) * es,
           (size_t)inner * es);
  hdr->data = buf;
  return NULL;
}

/* Final value of a carried variable: the last body output, or a copy of the initial value. */
static sn_error *hand_state(sn_kernel_ctx *c, int i, sn_tensor **owned, const sn_tensor *initial) {
  if (*owned) {
    sn_tensor *t = *owned;
    *owned = NULL;
    return sn_kernel_set_output(c, i, t);
  }
  if (!sn_kernel_output_used(c, i)) return NULL;
  sn_tensor *t;
  SN_TRY(sn_tensor_clone(initial, &t));
  return sn_kernel_set_output(c, i, t);
}

/* ---- If ----------------------------------------------------------------------------------------- */

static sn_error *if_infer(sn_infer_ctx *c) {
  const sn_graph *tg = attr_graph(c->node, "then_branch"), *eg = attr_graph(c->node, "else_branch");
  if (!tg || !eg) return sn_infer_error(c, "needs graph attributes then_branch and else_branch");
  if (tg->n_outputs != eg->n_outputs)
    return sn_infer_error(c, "then_branch has %d outputs but else_branch has %d", tg->n_outputs, eg->n_outputs);
  if (c->n_out > tg->n_outputs)
    return sn_infer_error(c, "has %d outputs but its branches produce %d", c->n_out, tg->n_outputs);
  if (c->n_in < 1 || !c->in[0]) return sn_infer_error(c, "needs the input cond");
  const sn_tensor *cond = c->in_data ? c->in_data[0] : NULL;
  for (int i = 0; i < c->n_out; i++) {
    sn_type t;
    if (cond && cond->kind == SN_KIND_TENSOR && cond->count >= 1)
      t = *graph_out_type(sn_load_f64(cond->dtype, cond->data, 0) != 0 ? tg : eg, i);
    else
      type_merge(&t, graph_out_type(tg, i), graph_out_type(eg, i));
    set_out_type(c, i, &t);
  }
  return NULL;
}

static sn_error *if_run(sn_kernel_ctx *c) {
  const sn_graph *tg = attr_graph(c->node, "then_branch"), *eg = attr_graph(c->node, "else_branch");
  if (!tg || !eg) return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "needs graph attributes then_branch and else_branch");
  bool cond = false;
  SN_TRY(read_cond(c, kin(c, 0), "cond", &cond));
  const sn_graph *g = cond ? tg : eg;
  if (g->n_outputs < c->n_out)
    return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "has %d outputs but %s produces %d", c->n_out,
                           cond ? "then_branch" : "else_branch", g->n_outputs);
  sn_tensor **outs = sn_calloc((size_t)(g->n_outputs ? g->n_outputs : 1), sizeof *outs);
  if (!outs) return SN_ERR_OOM();
  sn_error *e = sn_kernel_run_subgraph(c, g, 0, NULL, outs);
  if (e) {
    sn_free(outs);
    return sn_error_wrap(e, "in the %s branch", cond ? "then" : "else");
  }
  for (int i = 0; i < g->n_outputs; i++) {
    if (i < c->n_out && !e) {
      e = sn_kernel_set_output(c, i, outs[i]);
    } else {
      sn_tensor_free(outs[i]);
    }
    outs[i] = NULL;
  }
  sn_free(outs);
  return e;
}

/* ---- Loop --------------------------------------------------------------------------------------- */

static sn_error *loop_infer(sn_infer_ctx *c) {
  const sn_graph *body = attr_graph(c->node, "body");
  if (!body) return sn_infer_error(c, "needs a graph attribute body");
  const int N = c->n_in - 2;
  if (N < 0) return sn_infer_error(c, "needs inputs M and cond (either may be empty)");
  if (body->n_inputs != N + 2)
    return sn_infer_error(c, "body takes %d inputs, expected %d (iteration number, condition, %d loop-carried)",
                          body->n_inputs, N + 2, N);
  const int K = body->n_outputs - 1 - N;
  if (K < 0)
    return sn_infer_error(c, "body has %d outputs, expected at least %d (condition, %d loop-carried)", body->n_outputs,
                          N + 1, N);
  if (c->n_out > N + K) return sn_infer_error(c, "has %d outputs, the body gives %d", c->n_out, N + K);
  for (int i = 0; i < N && i < c->n_out; i++) {
    sn_type t;
    const sn_type *init = c->in[2 + i];
    if (init)
      type_merge(&t, graph_out_type(body, 1 + i), init);
    else
      t = *graph_out_type(body, 1 + i);
    set_out_type(c, i, &t);
  }
  for (int k = 0; k < K && N + k < c->n_out; k++) {
    sn_type t;
    type_insert_dim(&t, graph_out_type(body, 1 + N + k), 0, sn_dim_unknown());
    set_out_type(c, N + k, &t);
  }
  return NULL;
}

static sn_error *loop_run(sn_kernel_ctx *c) {
  char desc[256];
  const sn_graph *body = attr_graph(c->node, "body");
  if (!body) return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "needs a graph attribute body");
  const int N = c->n_in - 2;
  const int K = body->n_outputs - 1 - N;
  if (N < 0 || body->n_inputs != N + 2 || K < 0)
    return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "body signature (%d inputs, %d outputs) does not match %d loop-carried values",
                           body->n_inputs, body->n_outputs, N < 0 ? 0 : N);
  for (int i = 0; i < N; i++)
    if (!kin(c, 2 + i)) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "loop-carried input %d is missing", i);
  int64_t max_trip = INT64_MAX;
  const sn_tensor *M = kin(c, 0), *C = kin(c, 1);
  if (M) {
    if (M->kind != SN_KIND_TENSOR || M->count < 1 || !sn_dt(M->dtype)->is_int)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "trip count M must be an int64 scalar");
    max_trip = sn_load_i64(M->dtype, M->data, 0);
  }
  bool cond = true;
  if (C) SN_TRY(read_cond(c, C, "cond", &cond));
  /* with no cond input the body's condition output is ignored, unless there is no trip count
   * either: then it is what ends the loop */
  const bool use_body_cond = C || !M;

  const int nb_in = N + 2, nb_out = body->n_outputs;
  const sn_tensor **bin = sn_calloc((size_t)nb_in, sizeof *bin);
  sn_tensor **state = sn_calloc((size_t)(N ? N : 1), sizeof *state); /* owned current values */
  sn_tensor **bout = sn_calloc((size_t)(nb_out ? nb_out : 1), sizeof *bout);
  tensor_list *scans = sn_calloc((size_t)(K ? K : 1), sizeof *scans);
  sn_error *e = NULL;
  if (!bin || !state || !bout || !scans) {
    e = SN_ERR_OOM();
    goto done;
  }
  int64_t iter = 0;
  uint8_t cond_byte = 1;
  sn_tensor iter_t, cond_t;
  memset(&iter_t, 0, sizeof iter_t);
  memset(&cond_t, 0, sizeof cond_t);
  if ((e = sn_tensor_set_shape(&iter_t, SINTER_INT64, 0, NULL)) || (e = sn_tensor_set_shape(&cond_t, SINTER_BOOL, 0, NULL)))
    goto done;
  iter_t.data = &iter;
  cond_t.data = &cond_byte;
  for (; iter < max_trip && cond; iter++) {
    cond_byte = cond;
    bin[0] = &iter_t;
    bin[1] = &cond_t;
    for (int i = 0; i < N; i++) bin[2 + i] = state[i] ? state[i] : c->in[2 + i];
    e = sn_kernel_run_subgraph(c, body, nb_in, bin, bout);
    if (e) {
      e = sn_error_wrap(e, "in the Loop body of %s at iteration %lld", sn_node_desc(c->node, desc, sizeof desc),
                        (long long)iter);
      goto done;
    }
    bool next = true;
    e = read_cond(c, bout[0], "the body's condition output", &next);
    sn_tensor_free(bout[0]);
    bout[0] = NULL;
    if (e) {
      free_all(bout + 1, nb_out - 1);
      goto done;
    }
    if (use_body_cond) cond = next;
    for (int i = 0; i < N; i++) {
      sn_tensor_free(state[i]);
      state[i] = bout[1 + i];
      bout[1 + i] = NULL;
    }
    for (int k = 0; k < K; k++) {
      sn_tensor *t = bout[1 + N + k];
      bout[1 + N + k] = NULL;
      if (!sn_kernel_output_used(c, N + k)) {
        sn_tensor_free(t);
        continue;
      }
      if ((e = list_push(&scans[k], t))) {
        free_all(bout + 2 + N + k, K - k - 1);
        goto done;
      }
    }
  }
  for (int i = 0; i < N && i < c->n_out && !e; i++) e = hand_state(c, i, &state[i], c->in[2 + i]);
  for (int k = 0; k < K && N + k < c->n_out && !e; k++)
    e = stack_parts(c, N + k, scans[k].items, scans[k].n, 0, false, graph_out_type(body, 1 + N + k));
done:
  if (state) free_all(state, N);
  if (scans)
    for (int k = 0; k < K; k++) list_free(&scans[k]);
  sn_free(bin);
  sn_free(state);
  sn_free(bout);
  sn_free(scans);
  return e;
}

/* ---- Scan --------------------------------------------------------------------------------------- */

typedef struct scan_attrs {
  int n_scan_in; /* M */
  int N, K;      /* states, scan outputs */
  int first;     /* index of the first state input (1 for Scan-8: sequence_lens comes first) */
  int64_t in_axes[64], in_dirs[64], out_axes[64], out_dirs[64];
} scan_attrs;

/* Read and check the attributes against the node and body. err gets a message on failure. */
static bool scan_read_attrs(const sn_node *n, int opset, int n_in, const sn_graph *body, scan_attrs *a, char *err,
                            size_t errn) {
  memset(a, 0, sizeof *a);
  a->first = opset < 9 ? 1 : 0;
  int64_t m = sn_attr_int(n, "num_scan_inputs", -1);
  if (m < 1 || m > 64) {
    snprintf(err, errn, "num_scan_inputs %lld must be in [1, 64]", (long long)m);
    return false;
  }
  a->n_scan_in = (int)m;
  a->N = n_in - a->first - a->n_scan_in;
  if (a->N < 0) {
    snprintf(err, errn, "has %d inputs, fewer than num_scan_inputs = %d", n_in, a->n_scan_in);
    return false;
  }
  if (body->n_inputs != a->N + a->n_scan_in) {
    snprintf(err, errn, "body takes %d inputs, expected %d states + %d scan inputs", body->n_inputs, a->N, a->n_scan_in);
    return false;
  }
  a->K = body->n_outputs - a->N;
  if (a->K < 0 || a->K > 64) {
    snprintf(err, errn, "body has %d outputs, expected %d states and up to 64 scan outputs", body->n_outputs, a->N);
    return false;
  }
  const int64_t *v;
  int cnt;
  if (opset < 9) {
    cnt = sn_attr_ints(n, "directions", &v);
    if (cnt >= 0 && cnt != a->n_scan_in) {
      snprintf(err, errn, "directions has %d entries, expected %d", cnt, a->n_scan_in);
      return false;
    }
    for (int i = 0; i < a->n_scan_in; i++) a->in_dirs[i] = cnt > 0 ? v[i] : 0;
    return true;
  }
  static const char *const names[4] = {"scan_input_axes", "scan_input_directions", "scan_output_axes",
                                       "scan_output_directions"};
  int64_t *dst[4] = {a->in_axes, a->in_dirs, a->out_axes, a->out_dirs};
  int want[4] = {a->n_scan_in, a->n_scan_in, a->K, a->K};
  for (int j = 0; j < 4; j++) {
    cnt = sn_attr_ints(n, names[j], &v);
    if (cnt >= 0 && cnt != want[j]) {
      snprintf(err, errn, "%s has %d entries, expected %d", names[j], cnt, want[j]);
      return false;
    }
    for (int i = 0; i < want[j]; i++) {
      dst[j][i] = cnt > 0 ? v[i] : 0;
      if ((j == 1 || j == 3) && dst[j][i] != 0 && dst[j][i] != 1) {
        snprintf(err, errn, "%s[%d] = %lld must be 0 or 1", names[j], i, (long long)dst[j][i]);
        return false;
      }
    }
  }
  return true;
}

static sn_error *scan_infer(sn_infer_ctx *c) {
  const sn_graph *body = attr_graph(c->node, "body");
  if (!body) return sn_infer_error(c, "needs a graph attribute body");
  scan_attrs a;
  char err[256];
  if (!scan_read_attrs(c->node, c->opset, c->n_in, body, &a, err, sizeof err)) return sn_infer_error(c, "%s", err);
  if (c->n_out > a.N + a.K) return sn_infer_error(c, "has %d outputs, the body gives %d", c->n_out, a.N + a.K);
  const bool v8 = c->opset < 9;
  sn_dim seq = sn_dim_unknown(), batch = sn_dim_unknown();
  const sn_type *s0 = c->in[a.first + a.N];
  if (s0 && s0->rank >= 0) {
    if (v8) {
      if (s0->rank < 2) return sn_infer_error(c, "scan inputs need a batch and a sequence axis");
      batch = s0->dims[0];
      seq = s0->dims[1];
    } else {
      int64_t ax = a.in_axes[0] < 0 ? a.in_axes[0] + s0->rank : a.in_axes[0];
      if (ax < 0 || ax >= s0->rank)
        return sn_infer_error(c, "scan_input_axes[0] = %lld is out of range for rank %d", (long long)a.in_axes[0],
                              s0->rank);
      seq = s0->dims[ax];
    }
  }
  for (int i = 0; i < a.N && i < c->n_out; i++) {
    sn_type t;
    const sn_type *init = c->in[a.first + i];
    if (v8) {
      /* body states have no batch axis; the op's have */
      type_insert_dim(&t, graph_out_type(body, i), 0, batch);
      if (init) {
        sn_type m;
        type_merge(&m, &t, init);
        t = m;
      }
    } else if (init) {
      type_merge(&t, graph_out_type(body, i), init);
    } else {
      t = *graph_out_type(body, i);
    }
    set_out_type(c, i, &t);
  }
  for (int k = 0; k < a.K && a.N + k < c->n_out; k++) {
    const sn_type *elem = graph_out_type(body, a.N + k);
    sn_type t;
    if (v8) {
      sn_type u;
      type_insert_dim(&u, elem, 0, seq);
      type_insert_dim(&t, &u, 0, batch);
    } else {
      int64_t ax = a.out_axes[k];
      if (elem->rank >= 0) {
        if (ax < 0) ax += elem->rank + 1;
        if (ax < 0 || ax > elem->rank)
          return sn_infer_error(c, "scan_output_axes[%d] = %lld is out of range for rank %d", k,
                                (long long)a.out_axes[k], elem->rank + 1);
      } else {
        ax = 0;
      }
      type_insert_dim(&t, elem, (int)ax, seq);
    }
    set_out_type(c, a.N + k, &t);
  }
  return NULL;
}

/* Run the body over one sequence: states[0..N) (borrowed initial values), scan inputs with their
 * axes/directions, seq_len steps. Fills final states (owned, NULL when no step ran) and per-step
 * scan outputs. */
static sn_error *scan_sequence(sn_kernel_ctx *c, const sn_graph *body, const scan_attrs *a,
                               const sn_tensor *const *init, const sn_tensor *const *xs, const int64_t *axes,
                               int64_t seq_len, sn_tensor **final, tensor_list *scans, void **bufs) {
  char desc[256];
  const int N = a->N, M = a->n_scan_in, K = a->K;
  const sn_tensor **bin = sn_calloc((size_t)(N + M), sizeof *bin);
  sn_tensor *hdrs = sn_calloc((size_t)M, sizeof *hdrs);
  sn_tensor **bout = sn_calloc((size_t)(N + K ? N + K : 1), sizeof *bout);
  sn_error *e = NULL;
  if (!bin || !hdrs || !bout) {
    e = SN_ERR_OOM();
    goto done;
  }
  for (int64_t t = 0; t < seq_len; t++) {
    for (int i = 0; i < N; i++) bin[i] = final[i] ? final[i] : init[i];
    for (int j = 0; j < M; j++) {
      int64_t idx = a->in_dirs[j] ? seq_len - 1 - t : t;
      if ((e = slice_view(xs[j], (int)axes[j], idx, bufs[j], &hdrs[j]))) goto done;
      bin[N + j] = &hdrs[j];
    }
    e = sn_kernel_run_subgraph(c, body, N + M, bin, bout);
    if (e) {
      e = sn_error_wrap(e, "in the Scan body of %s at step %lld", sn_node_desc(c->node, desc, sizeof desc), (long long)t);
      goto done;
    }
    for (int i = 0; i < N; i++) {
      sn_tensor_free(final[i]);
      final[i] = bout[i];
      bout[i] = NULL;
    }
    for (int k = 0; k < K; k++) {
      sn_tensor *o = bout[N + k];
      bout[N + k] = NULL;
      if (!sn_kernel_output_used(c, N + k)) {
        sn_tensor_free(o);
        continue;
      }
      if ((e = list_push(&scans[k], o))) {
        free_all(bout + N + k + 1, K - k - 1);
        goto done;
      }
    }
  }
done:
  sn_free(bin);
  sn_free(hdrs);
  sn_free(bout);
  return e;
}

static sn_error *scan_run(sn_kernel_ctx *c) {
  char err[256], b1[128];
  const sn_graph *body = attr_graph(c->node, "body");
  if (!body) return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "needs a graph attribute body");
  scan_attrs a;
  const int opset = c->node->opset;
  if (!scan_read_attrs(c->node, opset, c->n_in, body, &a, err, sizeof err))
    return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "%s", err);
  const bool v8 = opset < 9;
  const int N = a.N, M = a.n_scan_in, K = a.K;
  const sn_tensor *init[64 + 64], *xs[64];
  int64_t axes[64];
  if (N > 64) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "more than 64 scan states");
  for (int i = 0; i < N; i++) {
    init[i] = kin(c, a.first + i);
    if (!init[i]) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "state input %d is missing", i);
  }
  int64_t seq = -1, batch = 1;
  for (int j = 0; j < M; j++) {
    const sn_tensor *x = kin(c, a.first + N + j);
    if (!x || x->kind != SN_KIND_TENSOR)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "scan input %d is missing or not a tensor", j);
    xs[j] = x;
    int64_t ax = v8 ? 1 : a.in_axes[j];
    if (ax < 0) ax += x->rank;
    if (ax < 0 || ax >= x->rank || (v8 && x->rank < 2))
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "scan input %d %s has no axis %lld", j,
                             sn_tensor_describe(x, b1, sizeof b1), (long long)(v8 ? 1 : a.in_axes[j]));
    axes[j] = ax;
    if (seq < 0) seq = x->dims[ax];
    if (x->dims[ax] != seq)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "scan input %d %s has sequence length %lld, expected %lld", j,
                             sn_tensor_describe(x, b1, sizeof b1), (long long)x->dims[ax], (long long)seq);
    if (v8) {
      if (j == 0) batch = x->dims[0];
      if (x->dims[0] != batch)
        return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "scan input %d %s has batch size %lld, expected %lld", j,
                               sn_tensor_describe(x, b1, sizeof b1), (long long)x->dims[0], (long long)batch);
    }
  }
  if (v8)
    for (int i = 0; i < N; i++)
      if (init[i]->kind != SN_KIND_TENSOR || init[i]->rank < 1 || init[i]->dims[0] != batch)
        return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "state input %d %s lacks the batch axis of size %lld", i,
                               sn_tensor_describe(init[i], b1, sizeof b1), (long long)batch);

  /* slice buffers for scan inputs whose scan axis is not the outermost */
  void *bufs[64];
  for (int j = 0; j < M; j++) {
    int64_t len = xs[j]->dims[axes[j]];
    size_t per = len ? (size_t)(xs[j]->count / len) * sn_dtype_size(xs[j]->dtype) : 0;
    bufs[j] = sn_kernel_scratch(c, per + 8);
    if (!bufs[j]) return SN_ERR_OOM();
  }

  sn_error *e = NULL;
  sn_tensor **final = sn_calloc((size_t)(N ? N : 1), sizeof *final);
  tensor_list *scans = sn_calloc((size_t)(K ? K : 1), sizeof *scans);
  if (!final || !scans) {
    e = SN_ERR_OOM();
    goto done;
  }
  if (!v8) {
    e = scan_sequence(c, body, &a, init, xs, axes, seq, final, scans, bufs);
    for (int i = 0; i < N && i < c->n_out && !e; i++) e = hand_state(c, i, &final[i], init[i]);
    for (int k = 0; k < K && N + k < c->n_out && !e; k++) {
      const sn_type *decl = graph_out_type(body, N + k);
      int64_t ax = a.out_axes[k];
      int er = scans[k].n ? scans[k].items[0]->rank : decl->rank < 0 ? 0 : decl->rank;
      if (ax < 0) ax += er + 1;
      e = stack_parts(c, N + k, scans[k].items, scans[k].n, (int)ax, a.out_dirs[k] != 0, decl);
    }
    goto done;
  }

  /* Scan-8: every batch entry is its own sequence of length sequence_lens[b] */
  {
    const sn_tensor *SL = kin(c, 0);
    if (SL && SL->count != batch)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "sequence_lens %s does not have %lld entries",
                             sn_tensor_describe(SL, b1, sizeof b1), (long long)batch);
    sn_tensor *outs[128] = {0};
    bool heap[128] = {0};
    sn_tensor shdr[64], xhdr[64];
    const sn_tensor *sinit[64], *sx[64];
    int64_t saxes[64];
    for (int j = 0; j < M; j++) saxes[j] = 0;
    for (int64_t b = 0; b < batch && !e; b++) {
      int64_t len = SL ? sn_load_i64(SL->dtype, SL->data, b) : seq;
      if (len < 0 || len > seq) {
        e = sn_kernel_error(c, SINTER_ERR_RUNTIME, "sequence_lens[%lld] = %lld is outside [0, %lld]", (long long)b,
                            (long long)len, (long long)seq);
        break;
      }
      for (int i = 0; i < N && !e; i++) {
        e = slice_view(init[i], 0, b, NULL, &shdr[i]);
        sinit[i] = &shdr[i];
      }
      for (int j = 0; j < M && !e; j++) {
        e = slice_view(xs[j], 0, b, NULL, &xhdr[j]);
        /* a sequence shorter than the axis: view only its first len steps */
        if (!e && len < seq) {
          xhdr[j].dims[0] = len;
          xhdr[j].count = sn_shape_count(xhdr[j].rank, xhdr[j].dims);
          xhdr[j].nbytes = (size_t)xhdr[j].count * sn_dtype_size(xhdr[j].dtype);
        }
        sx[j] = &xhdr[j];
      }
      if (e) break;
      sn_tensor *fin[64] = {0};
      tensor_list sc[64];
      memset(sc, 0, sizeof sc);
      e = scan_sequence(c, body, &a, sinit, sx, saxes, len, fin, sc, bufs);
      /* place this batch entry's results */
      for (int i = 0; i < N && !e; i++) {
        const sn_tensor *v = fin[i] ? fin[i] : sinit[i];
        if (!sn_kernel_output_used(c, i)) continue;
        if (!outs[i]) {
          int64_t dims[SN_MAX_RANK];
          if (v->rank + 1 > SN_MAX_RANK) {
            e = sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "state %d has too many dims", i);
            break;
          }
          dims[0] = batch;
          memcpy(dims + 1, v->dims, sizeof(int64_t) * (size_t)v->rank);
          e = new_output(c, i, v->dtype, v->rank + 1, dims, &outs[i], &heap[i]);
          if (e) break;
        }
        if (outs[i]->rank != v->rank + 1 || outs[i]->dtype != v->dtype ||
            (v->rank && memcmp(outs[i]->dims + 1, v->dims, sizeof(int64_t) * (size_t)v->rank))) {
          e = sn_kernel_error(c, SINTER_ERR_RUNTIME, "state %d of batch entry %lld has shape %s, unlike the others", i,
                              (long long)b, sn_tensor_describe(v, b1, sizeof b1));
          break;
        }
        e = put_elems(outs[i], b * v->count, v, 0, v->count);
      }
      for (int k = 0; k < K && !e; k++) {
        if (!sn_kernel_output_used(c, N + k)) continue;
        for (int64_t t = 0; t < sc[k].n && !e; t++) {
          const sn_tensor *v = sc[k].items[t];
          int o = N + k;
          if (!outs[o]) {
            int64_t dims[SN_MAX_RANK];
            if (v->rank + 2 > SN_MAX_RANK) {
              e = sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "scan output %d has too many dims", k);
              break;
            }
            dims[0] = batch;
            dims[1] = seq;
            memcpy(dims + 2, v->dims, sizeof(int64_t) * (size_t)v->rank);
            e = new_output(c, o, v->dtype, v->rank + 2, dims, &outs[o], &heap[o]);
            if (e) break;
          }
          if (outs[o]->rank != v->rank + 2 || outs[o]->dtype != v->dtype ||
              (v->rank && memcmp(outs[o]->dims + 2, v->dims, sizeof(int64_t) * (size_t)v->rank))) {
            e = sn_kernel_error(c, SINTER_ERR_RUNTIME, "scan output %d changes shape (%s at batch %lld step %lld)", k,
                                sn_tensor_describe(v, b1, sizeof b1), (long long)b, (long long)t);
            break;
          }
          e = put_elems(outs[o], (b * seq + t) * v->count, v, 0, v->count);
        }
      }
      free_all(fin, N);
      for (int k = 0; k < K; k++) list_free(&sc[k]);
    }
    /* outputs never created (no batch entries or no steps): empty or declared shapes */
    for (int o = 0; o < N + K && o < c->n_out && !e; o++) {
      if (!sn_kernel_output_used(c, o)) continue;
      if (!outs[o]) {
        const sn_type *decl = graph_out_type(body, o);
        int64_t dims[SN_MAX_RANK];
        int er = decl_elem_shape(decl, dims + (o < N ? 1 : 2));
        if (er < 0) er = 0;
        dims[0] = batch;
        if (o >= N) dims[1] = seq;
        if (o < N && batch > 0) {
          /* every entry had zero steps: the states are the initial values */
          sn_tensor *t;
          e = sn_tensor_clone(init[o], &t);
          if (!e) e = sn_kernel_set_output(c, o, t);
          continue;
        }
        e = new_output(c, o, decl->dtype ? decl->dtype : SINTER_FLOAT, er + (o < N ? 1 : 2), dims, &outs[o], &heap[o]);
      }
      if (!e) {
        e = finish_output(c, o, outs[o], heap[o]);
        outs[o] = NULL;
      }
    }
    for (int o = 0; o < N + K; o++)
      if (heap[o] && outs[o]) sn_tensor_free(outs[o]);
  }
done:
  if (final) free_all(final, N);
  if (scans)
    for (int k = 0; k < K; k++) list_free(&scans[k]);
  sn_free(final);
  sn_free(scans);
  return e;
}

/* If 1, 11, 13, 16, 19, 21, 23 and Loop 1, 11, 13, 16, 19, 21, 23 differ only in the types they
 * admit (sequences and optionals from 13/16), which pass through unchanged. Scan 8 has a batch
 * axis and sequence_lens; 9+ has per-input axes and directions (negative axes from 11). */
const sn_op sn_ops_control[] = {
    {"", "If", 1, 0, if_infer, if_run, NULL, NULL, 0},
    {"", "Loop", 1, 0, loop_infer, loop_run, NULL, NULL, 0},
    {"", "Scan", 8, 8, scan_infer, scan_run, NULL, NULL, 0},
    {"", "Scan", 9, 0, scan_infer, scan_run, NULL, NULL, 0},
    {0},
};
