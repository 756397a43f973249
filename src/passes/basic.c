/* Level 1 passes, each semantics-preserving on its own: constant folding, elimination of no-op
 * nodes (Identity, inference Dropout, Cast to the same type, Reshape to the same shape, Pad by zeros, Transpose
 * pairs that cancel, Unsqueeze+Squeeze of the same axes), common subexpressions, dead nodes and
 * unused initializers. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "ir/infer.h"
#include "passes/passes.h"

static bool has_graph_attr(const sn_node *n) {
  for (int a = 0; a < n->n_attrs; a++)
    if (n->attrs[a].g || n->attrs[a].graphs) return true;
  return false;
}

static int64_t type_bytes(const sn_type *t) {
  if (!sn_type_is_static(t) || !sn_dtype_valid(t->dtype)) return -1;
  int64_t d[SN_MAX_RANK];
  sn_type_dims(t, d);
  int64_t c = sn_shape_count(t->rank, d);
  return c < 0 ? -1 : c * (int64_t)sn_dtype_size(t->dtype);
}

/* ---- constant folding ------------------------------------------------------------------------- */

/* v is read only as the weight (input 1) of float convolutions, and is no graph output */
static bool conv_weight_only(const sn_graph *g, int v) {
  if (g->values[v].is_output) return false;
  int uses = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const sn_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_in; k++) {
      if (n->in[k] != v) continue;
      if (k != 1 || !n->op_type || (!sn_node_is(n, "Conv") && !sn_node_is(n, "ConvTranspose"))) return false;
      uses++;
    }
  }
  return uses > 0;
}

/* Size i of value v where its inferred type does not know it but its producer says: a Transpose
 * moves sizes, a Reshape to a shape whose entry i is a positive constant (a Concat of one-element
 * parts: the head size in [B, T, heads, dh]). -1 when unknown. */
static int64_t known_dim(const sn_graph *g, int v, int i, int depth) {
  const sn_type *t = &g->values[v].type;
  if (t->kind != SN_KIND_TENSOR || i < 0 || i >= t->rank) return -1;
  if (t->dims[i].v >= 0) return t->dims[i].v;
  const int p = g->values[v].producer;
  if (p < 0 || depth > 4) return -1;
  const sn_node *n = &g->nodes[p];
  if (sn_node_is(n, "Transpose") && n->n_in == 1) {
    const int64_t *perm;
    if (sn_attr_ints(n, "perm", &perm) != t->rank) return -1;
    return perm[i] >= 0 && perm[i] < t->rank ? known_dim(g, n->in[0], (int)perm[i], depth + 1) : -1;
  }
  if (sn_node_is(n, "Reshape") && n->n_in == 2) {
    const sn_tensor *sc = sn_graph_const(g, n->in[1]);
    int64_t e = -1;
    if (sc && sc->dtype == SINTER_INT64 && sc->count == t->rank) {
      e = ((const int64_t *)sc->data)[i];
    } else {
      const int q = g->values[n->in[1]].producer;
      bool ones = q >= 0 && sn_node_is(&g->nodes[q], "Concat") && g->nodes[q].n_in == t->rank;
      for (int k = 0; ones && k < t->rank; k++) { /* part k is entry k only if every part is one entry */
        const sn_type *pt = &g->values[g->nodes[q].in[k]].type;
        ones = pt->rank == 0 || (pt->rank == 1 && pt->dims[0].v == 1);
      }
      const sn_tensor *part = ones ? sn_graph_const(g, g->nodes[q].in[i]) : NULL;
      if (part && part->dtype == SINTER_INT64 && part->count == 1) e = ((const int64_t *)part->data)[0];
    }
    return e > 0 ? e : -1;
  }
  return -1;
}

/* The value Shape node p would give for its input's inferred type, unknown sizes as -1 (NULL: not a
 * Shape node, or the rank unknown). For Gather / Slice of a shape whose picked sizes are known. */
static sn_tensor *partial_shape(const sn_graph *g, int v) {
  const int p = v >= 0 ? g->values[v].producer : -1;
  if (p < 0 || !sn_node_is(&g->nodes[p], "Shape") || g->nodes[p].n_in != 1) return NULL;
  const sn_type *t = &g->values[g->nodes[p].in[0]].type;
  if (t->kind != SN_KIND_TENSOR || t->rank < 0) return NULL;
  int64_t start = sn_attr_int(&g->nodes[p], "start", 0), end = sn_attr_int(&g->nodes[p], "end", t->rank);
  if (start < 0) start += t->rank;
  if (end < 0) end += t->rank;
  start = start < 0 ? 0 : start > t->rank ? t->rank : start;
  end = end < start ? start : end > t->rank ? t->rank : end;
  const int64_t n = end - start;
  sn_tensor *s;
  if (sn_tensor_new(SINTER_INT64, 1, &n, &s)) return NULL; /* (no memory: not folded) */
  for (int64_t i = 0; i < n; i++) ((int64_t *)s->data)[i] = known_dim(g, g->nodes[p].in[0], (int)(start + i), 0);
  return s;
}

static sn_error *fold_nodes(sn_pass_ctx *c, bool constant_nodes_only) {
  sn_graph *g = c->g;
  const sn_tensor *in[64];
  sn_tensor *out[64];
  for (int i = 0; i < g->n_nodes; i++) {
    sn_node *n = &g->nodes[i];
    if (!n->op_type || !n->op || (n->op->flags & SN_OP_NO_FOLD) || n->n_captures || has_graph_attr(n)) continue;
    if (constant_nodes_only && !sn_node_is(n, "Constant")) continue;
    if (n->n_in > 64 || n->n_out > 64) continue;
    bool ok = true;
    int64_t in_bytes = 0;
    /* Gather / Slice of a Shape whose input has some sizes known (a head size in a shape of symbolic
     * batch and length): folded when every size they pick is known (no -1 in the result) */
    sn_tensor *shape = NULL;
    if ((sn_node_is(n, "Gather") || sn_node_is(n, "Slice")) && n->n_in >= 2 && !sn_graph_const(g, n->in[0]))
      shape = partial_shape(g, n->in[0]);
    for (int k = 0; k < n->n_in && ok; k++) {
      if (n->in[k] < 0) {
        in[k] = NULL;
        continue;
      }
      in[k] = k == 0 && shape ? shape : sn_graph_const(g, n->in[k]);
      if (!in[k] || in[k]->dtype == SINTER_STRING) ok = false;
      else in_bytes += (int64_t)in[k]->nbytes;
    }
    if (!ok || (n->n_in == 0 && !sn_node_is(n, "Constant"))) {
      sn_tensor_free(shape);
      continue;
    }
    /* folding may not blow a tiny input up into a large constant */
    int64_t limit = in_bytes > (1 << 20) ? in_bytes : (1 << 20);
    /* but the 8-bit weight of a float convolution (a QDQ model whose conv input stays float) is
     * dequantized once here rather than every run, and the conv then takes it packed (ConvNeXt-Tiny
     * INT8's downsampling convs: 4.7 MB of float32 for a 4.6 ms dequantization and 62 GFLOP/s a run);
     * MatMul weights stay 8-bit in memory (a weight-only quantized model keeps its size) */
    if (sn_node_is(n, "DequantizeLinear") && n->n_out == 1 && n->out[0] >= 0 && conv_weight_only(g, n->out[0]))
      limit = 4 * in_bytes + 4096;
    for (int o = 0; o < n->n_out && ok; o++) {
      if (n->out[o] < 0) continue;
      const sn_type *t = &g->values[n->out[o]].type;
      int64_t b = type_bytes(t);
      if (t->kind != SN_KIND_TENSOR || b < 0 || b > limit || t->dtype == SINTER_STRING) ok = false;
    }
    if (!ok) {
      sn_tensor_free(shape);
      continue;
    }
    sn_error *e = c->fold(NULL, g, n, in, out);
    sn_tensor_free(shape);
    if (e) { /* leave it to fail at run time with its own message */
      sn_error_free(e);
      continue;
    }
    if (shape) { /* an unknown size picked: not folded */
      bool known = n->n_out == 1 && out[0] && out[0]->dtype == SINTER_INT64;
      for (int64_t k = 0; known && k < out[0]->count; k++) known = ((const int64_t *)out[0]->data)[k] >= 0;
      if (!known) {
        for (int o = 0; o < n->n_out; o++) sn_tensor_free(out[o]);
        continue;
      }
    }
    for (int o = 0; o < n->n_out; o++) {
      int v = n->out[o];
      if (v < 0) {
        sn_tensor_free(out[o]);
        continue;
      }
      sn_value *val = &g->values[v];
      val->role = SN_VAL_INITIALIZER;
      val->data = out[o];
      val->producer = -1;
      sn_type_set_static(&val->type, out[o]->dtype, out[o]->rank, out[o]->dims);
    }
    sn_node_clear(n);
    c->changed++;
  }
  sn_graph_compact(g);
  /* the readers of what folded keep the types inferred at load, before these values were known (a
   * Slice's ends from Shape arithmetic over a symbolic batch: its output's last size unknown): infer
   * again, keeping whatever the earlier types knew. Only to sharpen the types the later fusions
   * match on: should a shape function now refuse the graph, the types stay as they were (each graph
   * writes its types back only when all of it inferred) and the session fails, if it must, where
   * the op runs. */
  if (c->changed) {
    const sn_infer_opts again = {true, NULL, NULL, 0};
    sn_error_free(sn_graph_resolve_and_infer(g, &again));
  }
  return NULL;
}

sn_error *sn_pass_fold_constants(sn_pass_ctx *c) { return fold_nodes(c, false); }
sn_error *sn_pass_fold_constant_nodes(sn_pass_ctx *c) { return fold_nodes(c, true); }

/* ---- no-op nodes ------------------------------------------------------------------------------- */

/* the same shape: each dim the same known size or the same symbol (a batch dim stays one value) */
static bool same_shape(const sn_type *a, const sn_type *b) {
  if (a->rank < 0 || a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (!sn_dim_same(a->dims[i], b->dims[i])) return false;
  return true;
}

static bool reshape_like(const sn_node *n) {
  return sn_node_is(n, "Reshape") || sn_node_is(n, "Flatten") || sn_node_is(n, "Squeeze") || sn_node_is(n, "Unsqueeze");
}

/* A Reshape to a constant shape with no 0 entry (which would copy a size of its input) reading another
 * reshape-like node's output that nothing else reads: it reads that node's input instead (the same
 * elements in the same order), and the other goes. tf2onnx's squeeze-excitation: Squeeze [N,C,1,1]
 * to [N,C], then Reshape to [-1,C,1,1], which is then the identity. */
static bool skip_inner_reshape(sn_graph *g, const int *uses, sn_node *b) {
  if (!sn_node_is(b, "Reshape") || b->n_in < 2 || b->in[0] < 0) return false;
  const sn_tensor *sh = sn_graph_const(g, b->in[1]);
  if (!sh || sh->dtype != SINTER_INT64) return false;
  for (int64_t k = 0; k < sh->count; k++)
    if (((const int64_t *)sh->data)[k] == 0) return false;
  int x = b->in[0], ai = g->values[x].producer;
  if (ai < 0 || uses[x] != 1 || g->values[x].is_output) return false;
  sn_node *a = &g->nodes[ai];
  if (!reshape_like(a) || a->n_out != 1 || a->out[0] != x || a->in[0] < 0) return false;
  const sn_type *at = &g->values[a->in[0]].type;
  if (at->kind != SN_KIND_TENSOR || at->dtype != g->values[x].type.dtype) return false;
  b->in[0] = a->in[0];
  sn_node_clear(a);
  return true; /* (the counts stay: a read its input once, b now does) */
}

/* A Pad whose pads (the attribute before opset 11, then a constant input) are all zero: any mode
 * forwards the input */
static bool zero_pads(const sn_graph *g, const sn_node *n) {
  const int64_t *p;
  int np = sn_attr_ints(n, "pads", &p);
  if (np < 0) {
    const sn_tensor *t = n->n_in > 1 && n->in[1] >= 0 ? sn_graph_const(g, n->in[1]) : NULL;
    if (!t || t->dtype != SINTER_INT64) return false;
    np = (int)t->count;
    p = t->data;
  }
  for (int i = 0; i < np; i++)
    if (p[i] != 0) return false;
  return true;
}

/* The node forwards its first input unchanged. */
static bool is_noop(const sn_graph *g, const sn_node *n) {
  if (n->n_in < 1 || n->in[0] < 0 || n->n_out < 1 || n->out[0] < 0) return false;
  const sn_type *x = &g->values[n->in[0]].type, *y = &g->values[n->out[0]].type;
  if (x->kind != SN_KIND_TENSOR || y->kind != SN_KIND_TENSOR) return false;
  for (int o = 1; o < n->n_out; o++)
    if (n->out[o] >= 0) return false; /* extra outputs (Dropout's mask) are in use */
  if (sn_node_is(n, "Identity")) return true;
  if (sn_node_is(n, "Dropout")) return !(n->n_in > 2 && n->in[2] >= 0); /* training_mode given: keep */
  if (sn_node_is(n, "Cast") || sn_node_is(n, "CastLike")) return x->dtype && x->dtype == y->dtype;
  if (reshape_like(n) || sn_node_is(n, "Expand")) return x->dtype == y->dtype && same_shape(x, y);
  if (sn_node_is(n, "Pad")) return zero_pads(g, n); /* (PyTorch puts one before DenseNet's average pools) */
  return false;
}

sn_error *sn_pass_eliminate_noops(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_graph_update_producers(g);
  for (int i = 0; i < g->n_nodes; i++) {
    sn_node *n = &g->nodes[i];
    if (n->op_type && skip_inner_reshape(g, uses, n)) c->changed++;
    if (!n->op_type || !is_noop(g, n)) continue;
    int x = n->in[0], y = n->out[0];
    if (g->values[y].is_output) {
      /* keep the output's name: only possible when the input is an intermediate we can rename */
      continue;
    }
    sn_graph_replace_uses(g, y, x);
    sn_node_clear(n);
    uses[x] += uses[y] - 1; /* (y's readers read x now, n does not) */
    uses[y] = 0;
    c->changed++;
  }
  sn_free(uses);
  sn_graph_compact(g);
  return NULL;
}

/* Transpose(Transpose(x, p1), p2) with p1[p2[i]] == i: both go. */
static int perm_of(const sn_graph *g, const sn_node *n, int64_t *perm) {
  const sn_type *x = &g->values[n->in[0]].type;
  if (x->rank < 0) return -1;
  const int64_t *p;
  int np = sn_attr_ints(n, "perm", &p);
  if (np < 0) {
    for (int i = 0; i < x->rank; i++) perm[i] = x->rank - 1 - i;
    return x->rank;
  }
  if (np != x->rank) return -1;
  memcpy(perm, p, sizeof(int64_t) * (size_t)np);
  return np;
}

sn_error *sn_pass_cancel_transposes(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_graph_update_producers(g);
  for (int i = 0; i < g->n_nodes; i++) {
    sn_node *a = &g->nodes[i];
    if (!a->op_type || !sn_node_is(a, "Transpose") || a->in[0] < 0) continue;
    int j = sn_graph_sole_consumer(g, uses, a->out[0]);
    if (j < 0 || !sn_node_is(&g->nodes[j], "Transpose")) continue;
    sn_node *b = &g->nodes[j];
    /* a graph output keeps its name: the node making the first Transpose's input writes it instead,
     * where that input is an intermediate read by that Transpose alone */
    int x = a->in[0], px = g->values[x].producer;
    bool rename = g->values[b->out[0]].is_output;
    if (rename && (px < 0 || uses[x] != 1 || g->values[x].role != SN_VAL_INTERMEDIATE || g->values[x].is_output))
      continue;
    int64_t p1[SN_MAX_RANK], p2[SN_MAX_RANK];
    int r1 = perm_of(g, a, p1), r2 = perm_of(g, b, p2);
    if (r1 < 0 || r1 != r2) continue;
    bool identity = true;
    for (int k = 0; k < r1; k++)
      if (p2[k] < 0 || p2[k] >= r1 || p1[p2[k]] != k) identity = false;
    if (!identity) continue;
    if (rename) {
      sn_node *p = &g->nodes[px];
      for (int k = 0; k < p->n_out; k++)
        if (p->out[k] == x) p->out[k] = b->out[0];
      g->values[b->out[0]].producer = px;
    } else {
      sn_graph_replace_uses(g, b->out[0], a->in[0]);
    }
    sn_node_clear(b);
    sn_node_clear(a);
    c->changed++;
  }
  sn_free(uses);
  sn_graph_compact(g);
  return NULL;
}

/* A Transpose that moves only axes of size 1 (the others keep their order) leaves the elements where
 * they were: a Reshape to its output's shape, which the plan makes a view instead of a copy. Batch 1
 * of a batch_first nn.MultiheadAttention: [1,T,E] to [T,1,E] before the projections and back after.
 * Static shapes only (the Reshape's shape is a constant). Runs after the fusions that match
 * Transposes (cancel-transposes, the attention forms). */
sn_error *sn_pass_transposes_as_reshapes(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  for (int i = 0; i < g->n_nodes; i++) {
    sn_node *n = &g->nodes[i];
    if (!n->op_type || !sn_node_is(n, "Transpose") || n->n_in != 1 || n->in[0] < 0 || n->out[0] < 0) continue;
    const sn_type *x = &g->values[n->in[0]].type, *y = &g->values[n->out[0]].type;
    int64_t perm[SN_MAX_RANK], xd[SN_MAX_RANK], yd[SN_MAX_RANK];
    const int r = perm_of(g, n, perm);
    if (r < 1 || !sn_type_is_static(x) || !sn_type_is_static(y) || y->rank != r) continue;
    sn_type_dims(x, xd);
    sn_type_dims(y, yd);
    int64_t last = -1;
    bool moves_data = false;
    for (int k = 0; k < r && !moves_data; k++) {
      if (perm[k] < 0 || perm[k] >= r || yd[k] != xd[perm[k]]) moves_data = true;
      else if (xd[perm[k]] != 1) {
        moves_data = perm[k] < last;
        last = perm[k];
      }
    }
    if (moves_data) continue;
    sn_tensor *shape;
    int sid;
    const int64_t len = r;
    SN_TRY(sn_tensor_new(SINTER_INT64, 1, &len, &shape));
    memcpy(shape->data, yd, sizeof(int64_t) * (size_t)r);
    SN_TRY(sn_graph_add_initializer(g, g->values[n->out[0]].name, "_shape", shape, &sid));
    const int in = n->in[0];
    SN_TRY(sn_node_retype(n, "", "Reshape", 14, true));
    n->n_in = 0;
    SN_TRY(sn_node_add_input(n, in));
    SN_TRY(sn_node_add_input(n, sid));
    SN_TRY(sn_node_resolve(g, n));
    c->changed++;
  }
  return NULL;
}

/* An elementwise binary op (Add, Sub, Mul, Div) of two values transposed by the same perm, of one
 * rank and of the output's shape but where a size is 1 (known sizes or the same symbols: squeeze-
 * excitation's [N,1,1,C] scale broadcasts as [N,C,1,1] does), computes on the untransposed values and is transposed once after:
 * op(T(a), T(b)) = T(op(a, b)). Done where at least one of the two Transposes has no other reader
 * (it goes), so the Transposes never grow in number. ConvNeXt's residual stream: each block's
 * Linear output (channels-last) is transposed to NCHW and added to the stream; sunk, the additions
 * run channels-last, where the residual fuses into the Linear's epilogue, and the stream's
 * Transpose to NCHW and back at the stage boundaries cancel. */
static bool is_binary_elementwise(const sn_node *n) {
  return (sn_node_is(n, "Add") || sn_node_is(n, "Sub") || sn_node_is(n, "Mul") || sn_node_is(n, "Div")) &&
         n->n_in == 2 && n->n_out == 1 && n->in[0] >= 0 && n->in[1] >= 0 && n->in[0] != n->in[1];
}

/* the Transpose producing v (its perm in p, rank returned), or -1; needs the producer index current */
static int transpose_of(const sn_graph *g, int v, int64_t *p, int *rank) {
  int t = g->values[v].producer;
  if (t < 0 || !sn_node_is(&g->nodes[t], "Transpose")) return -1;
  *rank = perm_of(g, &g->nodes[t], p);
  return *rank > 0 ? t : -1;
}

/* does another elementwise binary op read y, its other operand transposed by perm p (a chain that
 * continues: the op sunk here then meets a Transpose on both sides there) */
static bool chain_continues(const sn_graph *g, int y, const int64_t *p, int r) {
  for (int i = 0; i < g->n_nodes; i++) {
    const sn_node *m = &g->nodes[i];
    if (!is_binary_elementwise(m) || (m->in[0] != y && m->in[1] != y)) continue;
    int64_t q[SN_MAX_RANK];
    int rq;
    if (transpose_of(g, m->in[m->in[0] == y], q, &rq) >= 0 && rq == r && !memcmp(p, q, sizeof(int64_t) * (size_t)r))
      return true;
  }
  return false;
}

sn_error *sn_pass_sink_transposes(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  sn_graph_update_producers(g);
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  int sunk = 0;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *n = &g->nodes[i];
    if (!is_binary_elementwise(n)) continue;
    int64_t p[2][SN_MAX_RANK];
    int r[2] = {0, 0}, t[2] = {transpose_of(g, n->in[0], p[0], &r[0]), transpose_of(g, n->in[1], p[1], &r[1])};
    if (t[0] < 0 && t[1] < 0) continue;
    bool gone[2] = {t[0] >= 0 && uses[n->in[0]] == 1, t[1] >= 0 && uses[n->in[1]] == 1};
    const int k = t[0] >= 0 ? 0 : 1, rank = r[k]; /* a transposed operand, and its perm */
    const int64_t *perm = p[k];
    const sn_type *ty = &g->values[n->out[0]].type;
    int src[2];
    bool ok = ty->rank == rank;
    for (int s = 0; s < 2 && ok; s++) {
      if (t[s] >= 0) {
        ok = r[s] == rank && !memcmp(p[s], perm, sizeof(int64_t) * (size_t)rank);
        src[s] = g->nodes[t[s]].in[0];
      } else {
        /* one side plain: transposed back by the inverse perm, only where its Transpose pair goes
         * (the other side's) and the chain continues below, so the Transposes do not grow */
        ok = gone[1 - s] && chain_continues(g, n->out[0], perm, rank);
        src[s] = -1;
      }
    }
    if (!ok || (!gone[0] && !gone[1])) continue;
    /* both operands, untransposed, of the output's shape permuted back (no broadcasting) */
    int64_t inv[SN_MAX_RANK];
    for (int d = 0; d < rank; d++) inv[perm[d]] = d;
    for (int s = 0; s < 2 && ok; s++) {
      const sn_type *ts = &g->values[src[s] >= 0 ? src[s] : n->in[s]].type;
      ok = ts->rank == rank && ts->dtype == ty->dtype;
      /* (a size 1 broadcasts: equal ranks broadcast the same transposed or not) */
      for (int d = 0; d < rank && ok; d++)
        ok = sn_dim_same(ts->dims[d], ty->dims[src[s] >= 0 ? inv[d] : d]) || ts->dims[d].v == 1;
    }
    if (!ok) continue;
    for (int s = 0; s < 2 && !e; s++) {
      if (src[s] >= 0) continue;
      int v = g->nodes[i].in[s], z;
      if (!(e = sn_graph_add_value_permuted(g, v, "_transposed", inv, rank, &z)) &&
          !(e = sn_graph_add_transpose(g, v, z, inv, rank)))
        src[s] = z;
    }
    int z, y = g->nodes[i].out[0];
    if (e || (e = sn_graph_add_value_permuted(g, y, "_untransposed", inv, rank, &z))) break;
    n = &g->nodes[i];
    n->in[0] = src[0], n->in[1] = src[1], n->out[0] = z;
    if ((e = sn_graph_add_transpose(g, z, y, perm, rank))) break;
    for (int s = 0; s < 2; s++)
      if (gone[s]) sn_node_clear(&g->nodes[t[s]]);
    if ((e = sn_node_resolve(g, &g->nodes[i]))) break;
    sunk++;
    /* (new nodes were appended, none moved: the indices stay, the counts and producers change) */
    sn_graph_update_producers(g);
    sn_free(uses);
    if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
  }
  sn_free(uses);
  if (e) return e;
  c->changed += sunk;
  if (!sunk) return NULL;
  sn_graph_compact(g);
  sn_graph_update_producers(g);
  return sn_graph_toposort(g);
}

/* ---- Transposes moved below the ops that commute with them -------------------------------------------
 * tf2onnx keeps a TensorFlow graph's activations channels-last between its convolutions: Conv ->
 * Transpose(to NHWC) -> Relu, hard-swish, Pad, ReduceMean -> Transpose(to NCHW) -> Conv. A Transpose
 * between the two layouts (perm [0, 2, .., r-1, 1] or [0, r-1, 1, .., r-2], rank 4 or 5: attention's
 * head transposes are left to its fusion) moves below an op that computes the same on the permuted
 * value: elementwise unary ops, elementwise binary ops with a one-element constant, Pad (its pads
 * permuted), a reduction keeping its dims (its axes mapped), Softmax-like ops on one axis (opset 13
 * on). There it meets the Transpose back and both go (cancel-transposes), so the ops between two
 * convolutions run in theirs (and join their blocked region at level 3). A Transpose read only by
 * such ops, Transposes and elementwise binary ops (for sink-transposes) is copied for each reader
 * first. */

static bool layout_perm(const int64_t *p, int r) {
  if (r < 4 || r > 5 || p[0] != 0) return false;
  bool to_last = p[r - 1] == 1, to_second = p[1] == r - 1;
  for (int d = 1; d < r - 1 && to_last; d++) to_last = p[d] == d + 1;
  for (int d = 2; d < r && to_second; d++) to_second = p[d] == d - 1;
  return to_last || to_second;
}

static bool unary_commutes(const sn_node *n) {
  static const char *ops[] = {"Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Elu",
                              "Selu", "Softplus", "Softsign", "Neg", "Abs", "Exp", "Log", "Sqrt", "Erf", "Reciprocal",
                              "Floor", "Ceil", "Round", "Sign", "Cast", "Identity", "Gelu", "Mish", "Celu",
                              "ThresholdedRelu", "Sin", "Cos", "Not"};
  for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
    if (sn_node_is(n, ops[k])) return true;
  return false;
}

static bool is_reduce(const sn_node *n) {
  static const char *ops[] = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                              "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare", "ReduceLogSum"};
  for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
    if (sn_node_is(n, ops[k])) return true;
  return false;
}

/* a reduction's constant axes (attribute, or input 1 from opset 13/18): count, or -1 */
static int reduce_axes(const sn_graph *g, const sn_node *n, const int64_t **ax) {
  int na = sn_attr_ints(n, "axes", ax);
  if (na >= 0) return na;
  if (n->n_in < 2 || n->in[1] < 0) return -1;
  const sn_tensor *t = sn_graph_const(g, n->in[1]);
  if (!t || t->dtype != SINTER_INT64 || t->rank != 1) return -1;
  *ax = t->data;
  return (int)t->count;
}

/* does n compute the same with its input y (rank r) transposed: n reads y once, as an input it
 * commutes through */
static bool commutes(const sn_graph *g, const sn_node *n, int y, int r) {
  if (!n->op_type || n->n_out != 1 || n->out[0] < 0 || n->n_in < 1) return false;
  int reads = 0;
  for (int k = 0; k < n->n_in; k++) reads += n->in[k] == y;
  if (reads != 1) return false;
  if (g->values[n->out[0]].type.rank != r) return false;
  if (unary_commutes(n)) { /* (Clip's bounds are scalars) */
    if (n->in[0] != y) return false;
    for (int k = 1; k < n->n_in; k++)
      if (n->in[k] >= 0 && !sn_graph_const(g, n->in[k])) return false;
    return true;
  }
  if (sn_node_is(n, "Add") || sn_node_is(n, "Sub") || sn_node_is(n, "Mul") || sn_node_is(n, "Div") ||
      sn_node_is(n, "Pow") || sn_node_is(n, "Max") || sn_node_is(n, "Min")) {
    if (n->n_in != 2) return false;
    const sn_tensor *t = sn_graph_const(g, n->in[n->in[0] == y]);
    return t && t->count == 1 && t->rank <= r;
  }
  const int64_t *p;
  if (sn_node_is(n, "Pad")) {
    int64_t pp[2 * SN_MAX_RANK];
    if (n->in[0] != y) return false;
    if (n->n_in > 2 && n->in[2] >= 0 && !sn_graph_const(g, n->in[2])) return false;
    return sn_graph_pad_amounts(g, n, r, pp);
  }
  if (is_reduce(n)) {
    if (n->in[0] != y || !sn_attr_int(n, "keepdims", 1)) return false;
    int na = reduce_axes(g, n, &p);
    for (int k = 0; k < na; k++)
      if (p[k] < -r || p[k] >= r) return false;
    return na > 0;
  }
  if (sn_node_is(n, "Softmax") || sn_node_is(n, "LogSoftmax") || sn_node_is(n, "Hardmax")) {
    int64_t a = sn_attr_int(n, "axis", -1);
    return n->in[0] == y && n->opset >= 13 && a >= -r && a < r;
  }
  return false;
}

/* int64 constant of n values for node input k, replacing it */
static sn_error *set_i64_input(sn_graph *g, int ni, int k, const int64_t *v, int64_t n, const char *suffix) {
  sn_tensor *t;
  SN_TRY(sn_tensor_new(SINTER_INT64, 1, &n, &t));
  memcpy(t->data, v, sizeof(int64_t) * (size_t)n);
  int id;
  SN_TRY(sn_graph_add_initializer(g, g->values[g->nodes[ni].in[k]].name, suffix, t, &id));
  g->nodes[ni].in[k] = id;
  return NULL;
}

/* Transpose ti (perm p, rank r) below its sole reader ui: ui reads the Transpose's input, writes a
 * new value in that layout, and the Transpose makes ui's old output from it */
static sn_error *push_below(sn_graph *g, int ti, int ui, const int64_t *p, int r) {
  int64_t inv[SN_MAX_RANK];
  for (int d = 0; d < r; d++) inv[p[d]] = d;
  const int x = g->nodes[ti].in[0], y = g->nodes[ti].out[0], z = g->nodes[ui].out[0];
  sn_node *u = &g->nodes[ui];
  /* dim d of y is dim p[d] of x: what the op said of y's dim d, it now says of x's dim p[d] */
  const int64_t *v;
  if (sn_node_is(u, "Pad")) { /* (all dims' amounts now: an axes input goes) */
    int64_t pp[2 * SN_MAX_RANK], q[2 * SN_MAX_RANK];
    sn_graph_pad_amounts(g, u, r, pp);
    for (int d = 0; d < r; d++) q[p[d]] = pp[d], q[r + p[d]] = pp[r + d];
    if (sn_attr_ints(u, "pads", &v) >= 0) {
      SN_TRY(sn_node_set_ints(u, "pads", q, 2 * r));
    } else {
      SN_TRY(set_i64_input(g, ui, 1, q, 2 * r, "_permuted"));
      if (g->nodes[ui].n_in > 3) g->nodes[ui].in[3] = -1;
    }
  } else if (is_reduce(u)) {
    int na = reduce_axes(g, u, &v);
    int64_t q[SN_MAX_RANK];
    for (int k = 0; k < na; k++) q[k] = p[v[k] < 0 ? v[k] + r : v[k]];
    if (sn_attr_ints(u, "axes", &v) >= 0)
      SN_TRY(sn_node_set_ints(u, "axes", q, na));
    else
      SN_TRY(set_i64_input(g, ui, 1, q, na, "_permuted"));
  } else if (sn_node_is(u, "Softmax") || sn_node_is(u, "LogSoftmax") || sn_node_is(u, "Hardmax")) {
    int64_t a = sn_attr_int(u, "axis", -1);
    SN_TRY(sn_node_set_int(u, "axis", p[a < 0 ? a + r : a]));
  }
  int nz;
  SN_TRY(sn_graph_add_value_permuted(g, z, "_pushed", inv, r, &nz));
  u = &g->nodes[ui];
  for (int k = 0; k < u->n_in; k++)
    if (u->in[k] == y) u->in[k] = x;
  u->out[0] = nz;
  g->nodes[ti].in[0] = nz;
  g->nodes[ti].out[0] = z;
  return sn_node_resolve(g, &g->nodes[ui]);
}

/* a Transpose read by several nodes that all commute with it (or are Transposes): one copy each */
static sn_error *split_readers(sn_graph *g, const int *uses, int ti, const int64_t *p, int r, bool *split) {
  *split = false;
  const int x = g->nodes[ti].in[0], y = g->nodes[ti].out[0];
  if (uses[y] < 2 || g->values[y].is_output) return NULL;
  int reads = 0, first = -1;
  for (int i = 0; i < g->n_nodes; i++) {
    const sn_node *n = &g->nodes[i];
    if (!n->op_type) continue;
    int here = 0;
    for (int k = 0; k < n->n_in; k++) here += n->in[k] == y;
    if (!here) continue;
    /* (a binary op with a non-constant other operand: sink-transposes takes it once that side is
     * transposed too, and copies left over merge again in cse) */
    if (!(sn_node_is(n, "Transpose") && here == 1) && !(is_binary_elementwise(n) && here == 1) && !commutes(g, n, y, r))
      return NULL;
    reads += here;
    if (first < 0) first = i;
  }
  if (reads != uses[y]) return NULL; /* (a subgraph captures it) */
  for (int i = first + 1; i < g->n_nodes; i++) {
    bool reads_y = false;
    for (int k = 0; k < g->nodes[i].n_in; k++) reads_y |= g->nodes[i].op_type && g->nodes[i].in[k] == y;
    if (!reads_y) continue;
    int c;
    SN_TRY(sn_graph_add_value_like(g, y, "_copy", &c));
    g->values[c].type = g->values[y].type;
    SN_TRY(sn_graph_add_transpose(g, x, c, p, r));
    for (int k = 0; k < g->nodes[i].n_in; k++)
      if (g->nodes[i].in[k] == y) g->nodes[i].in[k] = c;
  }
  *split = true;
  return NULL;
}

sn_error *sn_pass_push_transposes(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  sn_error *e = NULL;
  int moved = 0, budget = 4 * g->n_nodes + 64;
  for (bool again = true; again && !e && budget > 0;) {
    again = false;
    int *uses = sn_graph_use_counts(g);
    if (!uses) return SN_ERR_OOM();
    for (int i = 0; i < g->n_nodes && !e && budget > 0; i++) {
      const sn_node *t = &g->nodes[i];
      if (!sn_node_is(t, "Transpose") || t->n_in < 1 || t->in[0] < 0 || t->out[0] < 0) continue;
      int64_t p[SN_MAX_RANK];
      int r = perm_of(g, t, p);
      if (r < 0 || !layout_perm(p, r) || g->values[t->out[0]].type.rank != r) continue;
      bool split;
      if ((e = split_readers(g, uses, i, p, r, &split))) break;
      if (split) { /* (new readers counts: start the sweep again) */
        again = true;
        budget--;
        break;
      }
      int u = sn_graph_sole_consumer(g, uses, g->nodes[i].out[0]);
      if (u < 0 || g->values[g->nodes[i].out[0]].is_output || !commutes(g, &g->nodes[u], g->nodes[i].out[0], r)) continue;
      if ((e = push_below(g, i, u, p, r))) break;
      moved++;
      budget--;
      again = true;
      break; /* (uses changed) */
    }
    sn_free(uses);
    if (!e && again) {
      sn_graph_update_producers(g);
      e = sn_graph_toposort(g);
    }
  }
  if (e) return e;
  c->changed += moved;
  if (!moved) return NULL;
  sn_graph_compact(g);
  sn_graph_update_producers(g);
  return sn_graph_toposort(g);
}

/* Unsqueeze then Squeeze (or the reverse) of the same axes, on a value with a known rank. */
static int axes_of(const sn_graph *g, const sn_node *n, int rank, int64_t *axes) {
  const int64_t *p;
  int na = sn_attr_ints(n, "axes", &p);
  if (na < 0 && n->n_in > 1 && n->in[1] >= 0) {
    const sn_tensor *t = sn_graph_const(g, n->in[1]);
    if (!t || t->dtype != SINTER_INT64 || t->rank != 1) return -1;
    na = (int)t->count;
    p = t->data;
  }
  if (na <= 0 || na > SN_MAX_RANK) return -1;
  for (int i = 0; i < na; i++) {
    int64_t a = p[i] < 0 ? p[i] + rank : p[i];
    if (a < 0 || a >= rank) return -1;
    axes[i] = a;
  }
  /* sort for comparison */
  for (int i = 1; i < na; i++)
    for (int k = i; k > 0 && axes[k - 1] > axes[k]; k--) {
      int64_t t = axes[k];
      axes[k] = axes[k - 1];
      axes[k - 1] = t;
    }
  return na;
}

sn_error *sn_pass_cancel_squeezes(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  for (int i = 0; i < g->n_nodes; i++) {
    sn_node *a = &g->nodes[i];
    if (!a->op_type || a->in[0] < 0 || !(sn_node_is(a, "Unsqueeze") || sn_node_is(a, "Squeeze"))) continue;
    int j = sn_graph_sole_consumer(g, uses, a->out[0]);
    if (j < 0) continue;
    sn_node *b = &g->nodes[j];
    bool pair = (sn_node_is(a, "Unsqueeze") && sn_node_is(b, "Squeeze")) || (sn_node_is(a, "Squeeze") && sn_node_is(b, "Unsqueeze"));
    if (!pair || b->in[0] != a->out[0] || g->values[b->out[0]].is_output) continue;
    int rmid = g->values[a->out[0]].type.rank;
    if (rmid < 0) continue;
    int64_t ax1[SN_MAX_RANK], ax2[SN_MAX_RANK];
    /* Unsqueeze axes index the output (rank rmid); Squeeze axes index its input (rank rmid) */
    int n1 = axes_of(g, a, sn_node_is(a, "Unsqueeze") ? rmid : g->values[a->in[0]].type.rank, ax1);
    int n2 = axes_of(g, b, sn_node_is(b, "Squeeze") ? rmid : g->values[b->out[0]].type.rank, ax2);
    if (n1 < 0 || n1 != n2 || memcmp(ax1, ax2, sizeof(int64_t) * (size_t)n1)) continue;
    sn_graph_replace_uses(g, b->out[0], a->in[0]);
    sn_node_clear(b);
    sn_node_clear(a);
    c->changed++;
  }
  sn_free(uses);
  sn_graph_compact(g);
  return NULL;
}

/* ---- common subexpressions ------------------------------------------------------------------------ */

static bool tensors_equal(const sn_tensor *a, const sn_tensor *b) {
  if (!a || !b) return a == b;
  if (a->kind != SN_KIND_TENSOR || b->kind != SN_KIND_TENSOR || a->dtype != b->dtype || a->rank != b->rank ||
      a->dtype == SINTER_STRING)
    return false;
  if (a->rank && memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank)) return false;
  return !memcmp(a->data, b->data, a->nbytes);
}

static bool attrs_equal(const sn_node *a, const sn_node *b) {
  if (a->n_attrs != b->n_attrs) return false;
  for (int i = 0; i < a->n_attrs; i++) {
    const sn_attr *x = &a->attrs[i], *y = sn_node_attr(b, x->name);
    if (!y || x->type != y->type || x->n != y->n || x->ref_attr_name || y->ref_attr_name) return false;
    switch (x->type) {
      case SN_ATTR_FLOAT:
        if (memcmp(&x->f, &y->f, sizeof x->f)) return false;
        break;
      case SN_ATTR_INT:
        if (x->i != y->i) return false;
        break;
      case SN_ATTR_STRING:
        if (x->s_len != y->s_len || (x->s_len && memcmp(x->s, y->s, x->s_len))) return false;
        break;
      case SN_ATTR_FLOATS:
        if (x->n && memcmp(x->floats, y->floats, sizeof(float) * (size_t)x->n)) return false;
        break;
      case SN_ATTR_INTS:
        if (x->n && memcmp(x->ints, y->ints, sizeof(int64_t) * (size_t)x->n)) return false;
        break;
      case SN_ATTR_TENSOR:
        if (!tensors_equal(x->t, y->t)) return false;
        break;
      case SN_ATTR_STRINGS:
        for (int k = 0; k < x->n; k++)
          if (strcmp(x->strings[k], y->strings[k])) return false;
        break;
      default: return false;
    }
  }
  return true;
}

static uint64_t node_hash(const sn_node *n) {
  uint64_t h = 1469598103934665603ull;
  for (const char *s = n->op_type; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  for (int k = 0; k < n->n_in; k++) h = (h ^ (uint64_t)(n->in[k] + 7)) * 1099511628211ull;
  return h;
}

sn_error *sn_pass_cse(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int nn = g->n_nodes;
  uint64_t *h = sn_malloc(sizeof(uint64_t) * (size_t)(nn ? nn : 1));
  if (!h) return SN_ERR_OOM();
  for (int i = 0; i < nn; i++) h[i] = g->nodes[i].op_type ? node_hash(&g->nodes[i]) : 0;
  for (int j = 0; j < nn; j++) {
    sn_node *b = &g->nodes[j];
    if (!b->op_type || !b->op || (b->op->flags & SN_OP_NO_FOLD) || b->n_in == 0 || b->n_captures ||
        has_graph_attr(b))
      continue;
    bool out_ok = true;
    for (int o = 0; o < b->n_out; o++)
      if (b->out[o] >= 0 && g->values[b->out[o]].is_output) out_ok = false;
    if (!out_ok) continue;
    for (int i = 0; i < j; i++) {
      sn_node *a = &g->nodes[i];
      if (!a->op_type || h[i] != h[j] || a->n_in != b->n_in || a->n_out != b->n_out || strcmp(a->op_type, b->op_type) ||
          strcmp(a->domain ? a->domain : "", b->domain ? b->domain : "") || a->opset != b->opset)
        continue;
      if (memcmp(a->in, b->in, sizeof(int) * (size_t)a->n_in) || !attrs_equal(a, b)) continue;
      bool outs = true;
      for (int o = 0; o < b->n_out; o++)
        if (b->out[o] >= 0 && a->out[o] < 0) outs = false;
      if (!outs) continue;
      for (int o = 0; o < b->n_out; o++)
        if (b->out[o] >= 0) sn_graph_replace_uses(g, b->out[o], a->out[o]);
      sn_node_clear(b);
      c->changed++;
      break;
    }
  }
  sn_free(h);
  sn_graph_compact(g);
  return NULL;
}

/* ---- dead nodes and unused initializers ---------------------------------------------------------- */

sn_error *sn_pass_eliminate_dead(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    sn_node *n = &g->nodes[i];
    if (!n->op_type || (n->op && (n->op->flags & SN_OP_NO_FOLD))) continue;
    bool used = false;
    for (int o = 0; o < n->n_out; o++)
      if (n->out[o] >= 0 && uses[n->out[o]] > 0) used = true;
    if (used) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) uses[n->in[k]]--;
    for (int k = 0; k < n->n_captures; k++)
      if (n->captures[k] >= 0) uses[n->captures[k]] -= 1000;
    sn_node_clear(n);
    c->changed++;
  }
  for (int v = 0; v < g->n_values; v++) {
    sn_value *val = &g->values[v];
    if (val->role == SN_VAL_INITIALIZER && uses[v] == 0 && val->data) {
      sn_tensor_free(val->data);
      val->data = NULL;
      val->role = SN_VAL_INTERMEDIATE; /* no producer, no reader: ignored from here on */
      c->changed++;
    }
  }
  sn_free(uses);
  sn_graph_compact(g);
  return NULL;
}
