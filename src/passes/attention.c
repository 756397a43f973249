/* Level 2: multi-head attention into one sinter:Attention node (src/ops/attention.c), from the
 * four-dimensional form below or the batched one further down (fuse_bmm_attention).
 *
 * The pattern, as exporters write it (projections q, k, v of shape [B,S,H] already computed):
 *   Qh = Transpose(Reshape(q, [B,S,heads,dh]), perm 0,2,1,3)
 *   Kt = Transpose(Reshape(k, ...), perm 0,2,3,1)   or the same through perm 0,2,1,3 then 0,1,3,2
 *   Vh = Transpose(Reshape(v, ...), perm 0,2,1,3)
 *   P  = Softmax(MatMul(Qh, Kt) [/ c or * c] [+ mask], axis -1)
 *   y  = Reshape(Transpose(MatMul(P, Vh), perm 0,2,1,3), [B,S,H])
 * becomes y = Attention(q, k, v [, mask]) with num_heads and scale; the head reshapes and
 * transposes disappear, and so do the Shape arithmetic chains that fed them (dead afterwards).
 *
 * Then pack-qkv: when q, k and v are projections of one x by constant weights (MatMul [+ bias Add]),
 * the three become one MatMul by the weights side by side, [K, 3N] (and one bias Add), and the
 * Attention reads heads straight out of the packed [B,S,3N] result (qkv_packed=1): one GEMM that
 * packs x once instead of three. ONNX Runtime's dynamically quantized projections (three
 * DynamicQuantizeMatMul of one x) pack the same way, with per-column scales (pack_qkv_dq). */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "passes/passes.h"

static int producer(const sn_graph *g, int v) { return v >= 0 ? g->values[v].producer : -1; }

static bool perm_is(const sn_node *n, const int64_t *want) {
  const int64_t *p;
  if (sn_attr_ints(n, "perm", &p) != 4) return false;
  return !memcmp(p, want, sizeof(int64_t) * 4);
}

static const int64_t P0213[4] = {0, 2, 1, 3}, P0231[4] = {0, 2, 3, 1}, P0132[4] = {0, 1, 3, 2};

/* A scale on the way to a product: *v, read once, made by Div or Mul of a positive finite constant
 * scalar (input 1) from a value of rank `rank` (-1: any). 1: taken (*scale times the factor, *node
 * that node, *v its input); 0: no such node; -1: a Div/Mul by anything else (the pattern fails). */
static int take_scale(const sn_graph *g, const int *uses, int *v, int rank, double *scale, int *node) {
  const int p = producer(g, *v);
  if (p < 0 || uses[*v] != 1 || !(sn_node_is(&g->nodes[p], "Div") || sn_node_is(&g->nodes[p], "Mul"))) return 0;
  const double k = sn_graph_const_scalar(g, g->nodes[p].in[1]);
  if (!(k > 0) || !isfinite(k) || (rank >= 0 && g->values[g->nodes[p].in[0]].type.rank != rank)) return -1;
  *scale *= sn_node_is(&g->nodes[p], "Div") ? 1.0 / k : k;
  *node = p;
  *v = g->nodes[p].in[0];
  return 1;
}

/* The number of heads and head size a head-splitting Reshape uses: from a constant shape, a Concat
 * whose last two parts are constants, or the Reshape's inferred output type. */
static bool heads_of(const sn_graph *g, const sn_node *r, int64_t *heads, int64_t *dh) {
  const sn_type *t = &g->values[r->out[0]].type;
  if (t->rank == 4 && t->dims[2].v > 0 && t->dims[3].v > 0) {
    *heads = t->dims[2].v;
    *dh = t->dims[3].v;
    return true;
  }
  if (r->n_in < 2) return false;
  const sn_tensor *s = sn_graph_const(g, r->in[1]);
  if (s && s->dtype == SINTER_INT64 && s->count == 4) {
    const int64_t *d = s->data;
    if (d[2] > 0 && d[3] > 0) {
      *heads = d[2];
      *dh = d[3];
      return true;
    }
  }
  int pc = producer(g, r->in[1]);
  if (pc < 0 || !sn_node_is(&g->nodes[pc], "Concat") || g->nodes[pc].n_in != 4) return false;
  const sn_tensor *a = sn_graph_const(g, g->nodes[pc].in[2]), *b = sn_graph_const(g, g->nodes[pc].in[3]);
  if (!a || !b || a->count != 1 || b->count != 1 || a->dtype != SINTER_INT64 || b->dtype != SINTER_INT64) return false;
  *heads = ((const int64_t *)a->data)[0];
  *dh = ((const int64_t *)b->data)[0];
  return *heads > 0 && *dh > 0;
}

static int seq_shape_readers(const sn_graph *g, int v, int keep);

/* Follow Transpose(perm) <- Reshape(x) back from v, read by node `consumer` (and, for perm 0,2,1,3,
 * Shape nodes for the sequence length); returns x (rank 3) and the two nodes. */
static int split_heads(const sn_graph *g, const int *uses, int v, int consumer, const int64_t *perm, int *nodes,
                       int64_t *heads, int64_t *dh) {
  int t = producer(g, v);
  if (t < 0 || !sn_node_is(&g->nodes[t], "Transpose") || !perm_is(&g->nodes[t], perm)) return -1;
  if (uses[v] != 1) {
    const int n = perm == P0213 ? seq_shape_readers(g, v, consumer) : -1;
    if (n < 0 || uses[v] != 1 + n) return -1;
  }
  int rv = g->nodes[t].in[0];
  int r = producer(g, rv);
  if (r < 0 || !sn_node_is(&g->nodes[r], "Reshape")) return -1;
  if (uses[rv] != 1) { /* and 0,2,1,3 views of it read only for the sequence length (GPT-2's keys) */
    int side = 0;
    for (int i = 0; i < g->n_nodes; i++) {
      const sn_node *u = &g->nodes[i];
      if (i == t || !u->op_type || u->n_in < 1 || u->in[0] != rv) continue;
      if (!sn_node_is(u, "Transpose") || !perm_is(u, P0213) || u->out[0] < 0 ||
          seq_shape_readers(g, u->out[0], -1) != uses[u->out[0]])
        return -1;
      side++;
    }
    if (uses[rv] != 1 + side) return -1;
  }
  int x = g->nodes[r].in[0];
  if (g->values[x].type.rank != 3 || g->values[x].type.dtype != SINTER_FLOAT) return -1;
  if (!heads_of(g, &g->nodes[r], heads, dh)) return -1;
  nodes[0] = t;
  nodes[1] = r;
  return x;
}

/* split_heads, or the same through a scale by a positive constant scalar between the Transpose and
 * the Reshape (push-transposes moves torch 2's K^T * sqrt(s) of scaled_dot_product_attention there,
 * a scale commuting with the Transpose): *mul the factor (1 without), *mul_node its node or -1 */
static int split_heads_scaled(const sn_graph *g, const int *uses, int v, int consumer, const int64_t *perm,
                              int *nodes, int64_t *heads, int64_t *dh, double *mul, int *mul_node) {
  *mul = 1.0;
  *mul_node = -1;
  const int x = split_heads(g, uses, v, consumer, perm, nodes, heads, dh);
  if (x >= 0) return x;
  const int t = producer(g, v);
  if (t < 0 || uses[v] != 1 || !sn_node_is(&g->nodes[t], "Transpose") || !perm_is(&g->nodes[t], perm)) return -1;
  const int mv = g->nodes[t].in[0], m = producer(g, mv);
  if (m < 0 || uses[mv] != 1 || !(sn_node_is(&g->nodes[m], "Mul") || sn_node_is(&g->nodes[m], "Div"))) return -1;
  const double k = sn_graph_const_scalar(g, g->nodes[m].in[1]);
  if (!(k > 0) || !isfinite(k)) return -1;
  const int rv = g->nodes[m].in[0], r = producer(g, rv);
  if (r < 0 || uses[rv] != 1 || !sn_node_is(&g->nodes[r], "Reshape")) return -1;
  const int xr = g->nodes[r].in[0];
  if (g->values[xr].type.rank != 3 || g->values[xr].type.dtype != SINTER_FLOAT || !heads_of(g, &g->nodes[r], heads, dh))
    return -1;
  nodes[0] = t;
  nodes[1] = r;
  *mul = sn_node_is(&g->nodes[m], "Div") ? 1.0 / k : k;
  *mul_node = m;
  return xr;
}

/* Does node u, reading the shape of a rank-`rank` value, take only sizes the fused form still has?
 * leading_sizes: sizes 0 and 1 (bits of allow), exporters' [B, S] of the context for the final
 * reshape: Gather 0 / 1, or Slice [0:2] (torch's flatten(2); [:-2] of the 4-D context, GPT-2) when
 * allow has both; they are also Shape(q)[0] and [1]. seq_size: size -2 (Gather -2, Slice [-2, -1)),
 * the sequence length of a [B,h,T,dh] head view, which is size -2 of the [B,T,H] it came from too
 * (GPT-2 reads it for the causal mask). */
static bool leading_sizes(const sn_graph *g, const sn_node *u, int rank, unsigned allow) {
  if (sn_node_is(u, "Slice")) {
    int64_t a[4] = {0, 0, 0, 1}; /* starts, ends, axes, steps */
    if (u->opset < 10 || u->n_in < 3) return false;
    for (int k = 1; k < u->n_in && k < 5; k++) {
      const sn_tensor *t = sn_graph_const(g, u->in[k]);
      if (!t || t->count != 1 || t->dtype != SINTER_INT64) return false;
      a[k - 1] = ((const int64_t *)t->data)[0];
    }
    for (int k = 0; k < 2; k++)
      if (a[k] < 0 && rank > 0) a[k] += rank;
    return (allow & 3) == 3 && a[0] >= 0 && a[1] > a[0] && a[1] <= 2 && a[2] == 0 && a[3] == 1;
  }
  if (!sn_node_is(u, "Gather") || sn_attr_int(u, "axis", 0) != 0) return false;
  const sn_tensor *ix = sn_graph_const(g, u->in[1]);
  if (!ix || ix->count != 1 || ix->dtype != SINTER_INT64) return false;
  const int64_t d = ((const int64_t *)ix->data)[0];
  return d >= 0 && d <= 1 && (allow >> d & 1);
}

static bool seq_size(const sn_graph *g, const sn_node *u, int rank, unsigned allow) {
  (void)rank, (void)allow;
  const bool slice = sn_node_is(u, "Slice");
  if (!slice && !sn_node_is(u, "Gather")) return false;
  if (slice ? u->opset < 10 || u->n_in < 3 || u->n_in > 5 : u->n_in != 2 || sn_attr_int(u, "axis", 0) != 0)
    return false;
  const int64_t want[4] = {-2, -1, 0, 1}; /* Gather's index; Slice's starts, ends, axes, steps */
  for (int k = 1; k < u->n_in; k++) {
    const sn_tensor *t = sn_graph_const(g, u->in[k]);
    if (!t || t->count != 1 || t->dtype != SINTER_INT64 || ((const int64_t *)t->data)[0] != want[k - 1]) return false;
  }
  return true;
}

/* How many Shape nodes read v, every reader of each one taking only sizes that `ok` accepts; -1 when
 * v has any other reader but node `keep` */
static int shape_readers_of(const sn_graph *g, int v, int keep,
                            bool (*ok)(const sn_graph *, const sn_node *, int, unsigned), unsigned allow) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const sn_node *s = &g->nodes[i];
    if (!s->op_type || i == keep) continue;
    bool reads = false;
    for (int k = 0; k < s->n_in; k++) reads |= s->in[k] == v;
    if (!reads) continue;
    if (!sn_node_is(s, "Shape") || sn_node_attr(s, "start") || sn_node_attr(s, "end") || s->out[0] < 0) return -1;
    for (int j = 0; j < g->n_nodes; j++) {
      const sn_node *u = &g->nodes[j];
      bool uses_s = false;
      for (int k = 0; u->op_type && k < u->n_in; k++) uses_s |= u->in[k] == s->out[0];
      if (uses_s && (u->in[0] != s->out[0] || !ok(g, u, g->values[v].type.rank, allow))) return -1;
    }
    n++;
  }
  return n;
}

static int shape_readers(const sn_graph *g, int v, int keep, unsigned allow) {
  return shape_readers_of(g, v, keep, leading_sizes, allow);
}

static int seq_shape_readers(const sn_graph *g, int v, int keep) { return shape_readers_of(g, v, keep, seq_size, 0); }

/* After a fusion: Shape nodes that read the context tv read q (sizes 0 and 1); those that read a
 * head view of x[i] (the Transpose node heads[i], or another 0,2,1,3 Transpose of its Reshape) read
 * x[i] (the sequence length, size -2 of both), and so do those that read the batched form's folded
 * view folded[i] (its size 1; folded NULL in the four-dimensional form) */
static void redirect_shapes(sn_graph *g, int tv, int q, const int heads[3], const int *folded, const int x[3]) {
  for (int r = 0; r < g->n_nodes; r++) {
    sn_node *sh = &g->nodes[r];
    if (!sn_node_is(sh, "Shape")) continue;
    if (sh->in[0] == tv) sh->in[0] = q;
    for (int i = 0; folded && i < 3; i++)
      if (sh->in[0] == folded[i]) sh->in[0] = x[i];
    const int t = producer(g, sh->in[0]);
    if (t < 0 || !sn_node_is(&g->nodes[t], "Transpose")) continue;
    for (int i = 0; i < 3; i++) {
      const sn_node *h = &g->nodes[heads[i]];
      if (t == heads[i] || (perm_is(&g->nodes[t], P0213) && g->nodes[t].in[0] == h->in[0])) sh->in[0] = x[i];
    }
  }
}

/* v is a float32 constant at or below -1e30 (a mask's fill: a score added to it rounds to it) */
static bool mask_floor(const sn_graph *g, int v) {
  return sn_graph_const_scalar(g, v) <= -1e30 && g->values[v].type.dtype == SINTER_FLOAT;
}

/* v, read once (twice with shape_too: also by a Shape), is attention's scores: a MatMul, or its
 * Div / Mul by the scale */
static bool scores_value(const sn_graph *g, const int *uses, int v, bool shape_too) {
  const int p = producer(g, v);
  return p >= 0 && uses[v] == 1 + shape_too &&
         (sn_node_is(&g->nodes[p], "MatMul") || sn_node_is(&g->nodes[p], "Div") || sn_node_is(&g->nodes[p], "Mul"));
}

/* the input of Add node ai that is the scores (the other one being a mask), or -1 */
static int scores_side(const sn_graph *g, const int *uses, int ai) {
  for (int side = 0; side < 2; side++)
    if (scores_value(g, uses, g->nodes[ai].in[side], false)) return side;
  return -1;
}

static bool softmax_last_axis(const sn_graph *g, const sn_node *sm) {
  int rank = g->values[sm->in[0]].type.rank;
  if (rank != 4) return false;
  int64_t axis = sn_attr_int(sm, "axis", sm->opset >= 13 ? -1 : 1);
  return axis == -1 || axis == 3;
}

/* ---- the batched form: heads folded into the batch (BART, Whisper, wav2vec2, CLIP) -------------------
 *   q3 = Reshape(Transpose(Reshape(q [* c], [B,T,h,dh]), 0,2,1,3), [B*h,T,dh]); k3, v3 alike
 *   P  = Softmax(MatMul(q3, Transpose(k3, 0,2,1)) [* c or / c] [as [B,h,T,S] + mask, back to [B*h,T,S]], axis -1)
 *   y  = Reshape(Transpose(Reshape(MatMul(P, v3), [B,h,T,dh]), 0,2,1,3), [B,T,H])
 * The reshapes that fold and unfold the heads are checked entry by entry (constants, and Gather(Shape(t), i)
 * read as t's dimension i, times constants): every entry but at most one must be the expected one,
 * and that one is then fixed by the element count. */

/* coef * (dimension idx of value src), or coef * d for a constant (src -1, d = 1) */
typedef struct dim_expr {
  int64_t coef;
  int src, idx, alt; /* alt: a second value whose dimension idx is as good (-1: none) */
  sn_dim d;          /* the dimension's inferred size or symbol */
} dim_expr;

static dim_expr dim_const(int64_t v) { return (dim_expr){v, -1, 0, -1, sn_dim_known(1)}; }
static dim_expr dim_of(const sn_graph *g, int64_t coef, int v, int idx, int alt) {
  return (dim_expr){coef, v, idx, alt, g->values[v].type.rank > idx ? g->values[v].type.dims[idx] : sn_dim_unknown()};
}

/* a one-element int64 value as coef * (a dimension of some tensor) or a constant */
static bool scalar_expr(const sn_graph *g, int v, int depth, dim_expr *e) {
  const sn_tensor *t = sn_graph_const(g, v);
  if (t) {
    if (t->count != 1 || (t->dtype != SINTER_INT64 && t->dtype != SINTER_INT32)) return false;
    *e = dim_const(sn_load_i64(t->dtype, t->data, 0));
    return true;
  }
  int p = producer(g, v);
  if (p < 0 || depth > 8) return false;
  const sn_node *n = &g->nodes[p];
  if (sn_node_is(n, "Unsqueeze") || sn_node_is(n, "Squeeze") || sn_node_is(n, "Reshape") || sn_node_is(n, "Cast"))
    return scalar_expr(g, n->in[0], depth + 1, e);
  if (sn_node_is(n, "Gather") && n->n_in == 2 && sn_attr_int(n, "axis", 0) == 0) {
    int s = producer(g, n->in[0]);
    const sn_tensor *ix = sn_graph_const(g, n->in[1]);
    if (s < 0 || !sn_node_is(&g->nodes[s], "Shape") || sn_node_attr(&g->nodes[s], "start") ||
        sn_node_attr(&g->nodes[s], "end") || !ix || ix->count != 1 || ix->dtype != SINTER_INT64)
      return false;
    const int u = g->nodes[s].in[0];
    const int rank = g->values[u].type.rank;
    int64_t i = ((const int64_t *)ix->data)[0];
    if (i < 0) i += rank;
    if (rank <= 0 || i < 0 || i >= rank) return false;
    *e = dim_of(g, 1, u, (int)i, -1);
    return true;
  }
  if (sn_node_is(n, "Mul") && n->n_in == 2)
    for (int side = 0; side < 2; side++) {
      const double k = sn_graph_const_scalar(g, n->in[side]);
      if (k == k && fabs(k) < 1e15 && k == (double)(int64_t)k && scalar_expr(g, n->in[1 - side], depth + 1, e)) {
        e->coef *= (int64_t)k;
        return true;
      }
    }
  return false;
}

/* One step up from v row by row (the value v is computed from with the same leading dimensions),
 * or -1: through MatMul (or ORT's DynamicQuantizeMatMul) by a constant matrix, elementwise ops with
 * a constant of rank <= 1, LayerNormalization over the last axis, a Slice of the last axis. */
static int row_step(const sn_graph *g, int v) {
  const int p = producer(g, v);
  if (p < 0) return -1;
  const sn_node *n = &g->nodes[p];
  const bool dqmm = n->op_type && n->domain && !strcmp(n->domain, "com.microsoft") &&
                    !strcmp(n->op_type, "DynamicQuantizeMatMul") && n->n_in >= 2;
  if ((sn_node_is(n, "MatMul") && n->n_in == 2) || dqmm) {
    const sn_tensor *w = sn_graph_const(g, n->in[1]);
    return w && w->rank == 2 ? n->in[0] : -1;
  }
  if ((sn_node_is(n, "Add") || sn_node_is(n, "Sub") || sn_node_is(n, "Mul") || sn_node_is(n, "Div")) && n->n_in == 2) {
    for (int side = 0; side < 2; side++) {
      const sn_tensor *c = sn_graph_const(g, n->in[1 - side]);
      if (c && c->rank <= 1) return n->in[side];
    }
    return -1;
  }
  if (sn_node_is(n, "LayerNormalization") && sn_attr_int(n, "axis", -1) == -1) return n->in[0];
  if (sn_node_is(n, "Slice") && n->opset >= 10 && n->n_in >= 4) { /* (torch's packed in_proj cut in three) */
    const sn_tensor *ax = sn_graph_const(g, n->in[3]);
    const int rank = g->values[n->in[0]].type.rank;
    if (ax && ax->count == 1 && ax->dtype == SINTER_INT64 && rank > 0) {
      const int64_t a = ((const int64_t *)ax->data)[0];
      if (a == -1 || a == rank - 1) return n->in[0];
    }
  }
  return -1;
}

/* Is v computed from u row by row (row_step, at most 8 steps)? */
static bool row_ancestor(const sn_graph *g, int u, int v) {
  for (int step = 0; step < 8 && v >= 0; step++, v = row_step(g, v))
    if (v == u) return true;
  return false;
}

/* the furthest value v is computed from row by row (at most 8 steps): two values with the same
 * root share their leading dimensions, known or not (q, k and v projected from one x) */
static int row_root(const sn_graph *g, int v) {
  for (int step = 0, up; step < 8 && (up = row_step(g, v)) >= 0; step++) v = up;
  return v;
}

static bool same_dim_src(const sn_graph *g, int a, int b) {
  return a >= 0 && b >= 0 && (a == b || row_ancestor(g, a, b) || row_ancestor(g, b, a));
}

/* the value when known (a constant, or a dimension of known size), else -1 */
static int64_t dim_known(const dim_expr *e) { return e->src < 0 ? e->coef : e->d.v >= 0 ? e->coef * e->d.v : -1; }

static bool dim_is(const sn_graph *g, const dim_expr *a, const dim_expr *want) {
  const int64_t ka = dim_known(a), kw = dim_known(want);
  if (ka >= 0 && kw >= 0) return ka == kw;
  if (a->src < 0 || want->src < 0 || a->coef != want->coef) return false;
  if (a->idx == want->idx && a->idx <= 1 &&
      (same_dim_src(g, a->src, want->src) || same_dim_src(g, a->src, want->alt)))
    return true;
  return a->d.v < 0 && want->d.v < 0 && sn_dim_same(a->d, want->d); /* the same symbol */
}

/* Does Reshape node r give the shape want[0..n)? Its shape, a constant or a Concat of one-element
 * parts, must have n entries, all but at most one equal to want's (the other one is then fixed). */
static bool reshape_is(const sn_graph *g, const sn_node *r, const dim_expr *want, int n) {
  if (!sn_node_is(r, "Reshape") || r->n_in != 2 || sn_attr_int(r, "allowzero", 0) ||
      g->values[r->out[0]].type.rank != n)
    return false;
  int misses = 0;
  const sn_tensor *s = sn_graph_const(g, r->in[1]);
  if (s) {
    if (s->dtype != SINTER_INT64 || s->count != n) return false;
    for (int k = 0; k < n; k++) {
      const dim_expr e = dim_const(((const int64_t *)s->data)[k]);
      misses += !dim_is(g, &e, &want[k]);
    }
    return misses <= 1;
  }
  int p = producer(g, r->in[1]);
  if (p < 0 || !sn_node_is(&g->nodes[p], "Concat") || g->nodes[p].n_in != n) return false;
  for (int k = 0; k < n; k++) {
    dim_expr e;
    misses += !scalar_expr(g, g->nodes[p].in[k], 0, &e) || !dim_is(g, &e, &want[k]);
  }
  return misses <= 1;
}

/* v = Reshape(Transpose(Reshape(x, [B,T,h,dh]), 0,2,1,3), [B*h,T,dh]) with x [B,T,H] float32, each
 * step read once (v by node `reader`, and Shape nodes for its dimension 1): x, and the three nodes,
 * heads and head size. B may also be alt's batch (the decoder's, in cross-attention). */
static int split_heads3(const sn_graph *g, const int *uses, int v, int reader, int alt, int *nodes, int64_t *heads,
                        int64_t *dh) {
  int r3 = producer(g, v);
  if (r3 < 0 || !sn_node_is(&g->nodes[r3], "Reshape")) return -1;
  if (uses[v] != 1) { /* (and Shape nodes for its length, T or S, which x has too) */
    const int n_shapes = shape_readers(g, v, reader, 2);
    if (n_shapes < 0 || uses[v] != 1 + n_shapes) return -1;
  }
  int x = split_heads(g, uses, g->nodes[r3].in[0], r3, P0213, nodes + 1, heads, dh);
  if (x < 0) return -1;
  const sn_type *xt = &g->values[x].type;
  if (xt->dims[2].v != *heads * *dh) return -1; /* (H known: else the element count would not fix T) */
  const dim_expr w4[4] = {dim_of(g, 1, x, 0, alt), dim_of(g, 1, x, 1, -1), dim_const(*heads), dim_const(*dh)};
  const dim_expr w3[3] = {dim_of(g, *heads, x, 0, alt), dim_of(g, 1, x, 1, -1), dim_const(*dh)};
  if (!reshape_is(g, &g->nodes[nodes[2]], w4, 4) || !reshape_is(g, &g->nodes[r3], w3, 3)) return -1;
  nodes[0] = r3;
  return x;
}

/* A mask node rewritten in place (its inputs already rewired) to write new value mv instead of the
 * masked scores, which nothing reads once the attention is fused */
static sn_error *mask_node_output(sn_graph *g, int ni, int mv) {
  sn_node *n = &g->nodes[ni];
  g->values[n->out[0]].producer = -1;
  n->out[0] = mv;
  g->values[mv].producer = ni;
  return sn_node_resolve(g, n);
}

/* Max node mi, Max(scores + mask, f), rewritten in place into Max(mask, f): the mask to add (*out) */
static sn_error *floor_mask(sn_graph *g, int mi, int mask, int *out) {
  SN_TRY(sn_graph_add_value_like(g, mask, "_floored", out));
  g->values[*out].type = g->values[mask].type;
  sn_node *n = &g->nodes[mi];
  n->in[sn_graph_const(g, n->in[0]) ? 1 : 0] = mask; /* (the constant's side stays) */
  return mask_node_output(g, mi, *out);
}

/* Softmax node i of rank 3: the batched form into one Attention node (*done), or nothing */
static sn_error *fuse_bmm_attention(sn_graph *g, const int *uses, int i, bool *done) {
  *done = false;
  const sn_node *sm = &g->nodes[i];
  int dead[24], nd = 0;
  dead[nd++] = i;
  /* before the softmax: [Reshape <- Add mask <- Reshape] <- [Mul/Div scale] <- MatMul(q3, Transpose(k3)) */
  int s = sm->in[0], mask = -1, mfwd = -1, mback = -1;
  double scale = 1.0;
  int p = producer(g, s);
  if (p < 0 || uses[s] != 1) return NULL;
  int floor_max = -1; /* OPT's Max(scores + mask, float min) */
  if (sn_node_is(&g->nodes[p], "Reshape") && uses[g->nodes[p].in[0]] == 1) {
    int a = producer(g, g->nodes[p].in[0]);
    if (a >= 0 && sn_node_is(&g->nodes[a], "Max") && g->nodes[a].n_in == 2) {
      /* Max(scores + mask, f) with f <= -1e30 is scores + Max(mask, f) for any |score| below 1e20:
       * the sum rounds to f either way where the mask is at or below f (-inf where OPT's two masks
       * overflow), and a fully masked row stays uniform instead of NaN */
      const sn_node *mx = &g->nodes[a];
      for (int side = 0; side < 2 && floor_max < 0; side++) {
        const int in = mx->in[side], pin = producer(g, in);
        if (mask_floor(g, mx->in[1 - side]) && pin >= 0 && uses[in] == 1 && sn_node_is(&g->nodes[pin], "Add"))
          floor_max = a, a = pin;
      }
      if (floor_max < 0) return NULL;
    }
    if (a < 0 || !sn_node_is(&g->nodes[a], "Add")) return NULL;
    for (int side = 0; side < 2 && mask < 0; side++) {
      int f = producer(g, g->nodes[a].in[side]);
      if (f >= 0 && uses[g->nodes[a].in[side]] == 1 && sn_node_is(&g->nodes[f], "Reshape")) {
        mask = g->nodes[a].in[1 - side];
        mfwd = f;
      }
    }
    const sn_type *mt = mask >= 0 ? &g->values[mask].type : NULL;
    if (!mt || mt->dtype != SINTER_FLOAT || mt->rank < 0 || mt->rank > 4) return NULL;
    mback = p;
    dead[nd++] = p;
    dead[nd++] = a;
    dead[nd++] = mfwd;
    s = g->nodes[mfwd].in[0];
    if (uses[s] != 1) return NULL;
    p = producer(g, s);
  }
  if (p >= 0 && (sn_node_is(&g->nodes[p], "Div") || sn_node_is(&g->nodes[p], "Mul"))) {
    double k = sn_graph_const_scalar(g, g->nodes[p].in[1]);
    if (!(k > 0) || !isfinite(k)) return NULL;
    scale = sn_node_is(&g->nodes[p], "Div") ? 1.0 / k : k;
    dead[nd++] = p;
    s = g->nodes[p].in[0];
    if (uses[s] != 1) return NULL;
    p = producer(g, s);
  }
  if (p < 0 || !sn_node_is(&g->nodes[p], "MatMul")) return NULL;
  const int mm1 = p;
  const int kt = g->nodes[mm1].in[1], tk = producer(g, kt);
  static const int64_t P021[3] = {0, 2, 1};
  const int64_t *perm;
  if (tk < 0 || uses[kt] != 1 || !sn_node_is(&g->nodes[tk], "Transpose") ||
      sn_attr_ints(&g->nodes[tk], "perm", &perm) != 3 || memcmp(perm, P021, sizeof P021))
    return NULL;
  int64_t hq, dq, hk, dk, hv, dv;
  int qn[3], kn[3], vn[3];
  const int q3 = g->nodes[mm1].in[0], k3 = g->nodes[tk].in[0];
  int q = split_heads3(g, uses, q3, mm1, -1, qn, &hq, &dq);
  int k = q < 0 ? -1 : split_heads3(g, uses, k3, tk, q, kn, &hk, &dk);
  if (q < 0 || k < 0 || hq != hk || dq != dk) return NULL;
  const int xq = q, xk = k;
  /* q's scale (q_proj(x) * scaling) joins the Attention's when q is read by nothing else */
  int qm = producer(g, q), qscale = -1;
  if (qm >= 0 && uses[q] == 1 && sn_node_is(&g->nodes[qm], "Mul"))
    for (int side = 0; side < 2 && qscale < 0; side++) {
      double c = sn_graph_const_scalar(g, g->nodes[qm].in[side]);
      if (c > 0 && isfinite(c) && g->values[g->nodes[qm].in[1 - side]].type.rank == 3) {
        scale *= c;
        q = g->nodes[qm].in[1 - side];
        qscale = qm;
      }
    }
  const dim_expr B = dim_of(g, 1, xq, 0, -1), T = dim_of(g, 1, xq, 1, -1), S = dim_of(g, 1, xk, 1, -1),
                 BH = dim_of(g, hq, xq, 0, -1), H = dim_const(hq), D = dim_const(dq);
  if (mask >= 0) { /* the scores unfolded to [B,h,T,S] for the mask and folded back */
    const dim_expr w4[4] = {B, H, T, S}, w3[3] = {BH, T, S};
    if (!reshape_is(g, &g->nodes[mfwd], w4, 4) || !reshape_is(g, &g->nodes[mback], w3, 3)) return NULL;
  }
  /* after the softmax: MatMul(P, v3) -> Reshape [B,h,T,dh] -> Transpose 0,2,1,3 -> Reshape [B,T,H] */
  int mm2 = sn_graph_sole_consumer(g, uses, sm->out[0]);
  if (mm2 < 0 || !sn_node_is(&g->nodes[mm2], "MatMul") || g->nodes[mm2].in[0] != sm->out[0]) return NULL;
  const int v3 = g->nodes[mm2].in[1];
  int v = split_heads3(g, uses, v3, mm2, xq, vn, &hv, &dv);
  if (v < 0 || hv != hq || dv != dq) return NULL;
  int r4 = sn_graph_sole_consumer(g, uses, g->nodes[mm2].out[0]);
  const dim_expr w4[4] = {B, H, T, D};
  if (r4 < 0 || !reshape_is(g, &g->nodes[r4], w4, 4)) return NULL;
  int tc = sn_graph_sole_consumer(g, uses, g->nodes[r4].out[0]);
  if (tc < 0 || !sn_node_is(&g->nodes[tc], "Transpose") || !perm_is(&g->nodes[tc], P0213)) return NULL;
  int tv = g->nodes[tc].out[0], rc = -1;
  for (int r = 0; r < g->n_nodes && rc < 0; r++)
    if (sn_node_is(&g->nodes[r], "Reshape") && g->nodes[r].in[0] == tv) rc = r;
  if (rc < 0 || g->values[tv].is_output) return NULL;
  int n_shapes = shape_readers(g, tv, rc, 3);
  if (n_shapes < 0 || uses[tv] != 1 + n_shapes) return NULL;
  const dim_expr w3[3] = {B, T, dim_const(hq * dq)};
  if (!reshape_is(g, &g->nodes[rc], w3, 3)) return NULL;
  dead[nd++] = mm1;
  dead[nd++] = tk;
  dead[nd++] = mm2;
  dead[nd++] = r4;
  dead[nd++] = tc;
  for (int t = 0; t < 3; t++) dead[nd++] = qn[t], dead[nd++] = kn[t], dead[nd++] = vn[t];
  if (qscale >= 0) dead[nd++] = qscale;
  /* the final Reshape becomes the Attention node, in place (after all of q, k, v and the mask) */
  sn_node *at = &g->nodes[rc];
  SN_TRY(sn_node_retype(at, "sinter", "Attention", 1, true));
  at->n_in = 0;
  SN_TRY(sn_node_add_input(at, q));
  SN_TRY(sn_node_add_input(at, k));
  SN_TRY(sn_node_add_input(at, v));
  if (floor_max >= 0) SN_TRY(floor_mask(g, floor_max, mask, &mask));
  if (mask >= 0) SN_TRY(sn_node_add_input(at, mask));
  SN_TRY(sn_node_set_int(at, "num_heads", hq));
  SN_TRY(sn_node_set_float(at, "scale", (float)scale));
  SN_TRY(sn_node_resolve(g, at));
  redirect_shapes(g, tv, q, (const int[3]){qn[1], kn[1], vn[1]}, (const int[3]){q3, k3, v3}, (const int[3]){q, k, v});
  for (int t = 0; t < nd; t++) sn_node_clear(&g->nodes[dead[t]]);
  *done = true;
  return NULL;
}

/* Where node wi, the scores at input `slot` and the fill at the other, rewritten in place into
 * Where(keep, ...) with 0 for the scores: the float mask to add to them (*mask) */
static sn_error *additive_mask(sn_graph *g, int wi, int keep, int slot, int *mask) {
  sn_tensor *zero;
  int zid, mv;
  SN_TRY(sn_tensor_new(SINTER_FLOAT, 0, NULL, &zero));
  ((float *)zero->data)[0] = 0.0f;
  SN_TRY(sn_graph_add_initializer(g, g->values[keep].name, "_zero", zero, &zid));
  SN_TRY(sn_graph_add_value_like(g, keep, "_additive", &mv));
  sn_type *t = &g->values[mv].type;
  *t = g->values[keep].type;
  t->dtype = SINTER_FLOAT;
  g->nodes[wi].in[0] = keep;
  g->nodes[wi].in[slot] = zid;
  *mask = mv;
  return mask_node_output(g, wi, mv);
}

/* Add node ai, Add(Add(scores, m1), m2), rewritten in place into Add(m1, m2): the one mask (*mask) */
static sn_error *sum_masks(sn_graph *g, int ai, int m1, int m2, int *mask) {
  int mv;
  SN_TRY(sn_graph_add_value_like(g, g->nodes[ai].out[0], "_masks", &mv));
  const sn_type *t1 = &g->values[m1].type, *t2 = &g->values[m2].type;
  const int rank = t1->rank > t2->rank ? t1->rank : t2->rank;
  sn_dim dims[SN_MAX_RANK];
  for (int d = 0; d < rank; d++) { /* right-aligned; a size where both agree or one is 1 */
    const int d1 = d - (rank - t1->rank), d2 = d - (rank - t2->rank);
    const sn_dim a = d1 >= 0 ? t1->dims[d1] : sn_dim_known(1), b = d2 >= 0 ? t2->dims[d2] : sn_dim_known(1);
    dims[d] = a.v == 1 ? b : b.v == 1 || sn_dim_same(a, b) ? a : sn_dim_unknown();
  }
  sn_type_set(&g->values[mv].type, SINTER_FLOAT, rank, dims);
  g->nodes[ai].in[0] = m1;
  g->nodes[ai].in[1] = m2;
  *mask = mv;
  return mask_node_output(g, ai, mv);
}

/* ---- the sequence-first form: torch's nn.MultiheadAttention (ViT, nn.TransformerEncoder) ----------------
 *   q3 = Transpose(Reshape(q, [T,B*h,dh]), 1,0,2) [/ c or * c]       q [T,B,H]; K and V over S keys alike:
 *   kt = Transpose(Reshape(k, [S,B*h,dh]), 1,2,0)   or 1,0,2 then 0,2,1
 *   v3 = Transpose(Reshape(v, [S,B*h,dh]), 1,0,2)
 *   P  = Softmax(MatMul(q3, kt) [/ c or * c] [+ mask of [T,S] or [1,T,S]], axis -1)
 *   y  = Transpose(MatMul(P, v3), 1,0,2)                            [T,B*h,dh], read by one Reshape
 * becomes y = Attention(q, k, v [, mask]) with seq_first=1, [T,B,H]: the bytes of [T,B*h,dh], so the
 * Reshape that read y reads the Attention's output unchanged. (batch_first modules transpose x to
 * [T,B,E] before the projection and back after the output projection.) torch's packed in_proj cut
 * in three by Slices is read whole by pack-qkv (slice_parts). */
static const int64_t P102[3] = {1, 0, 2}, P120[3] = {1, 2, 0}, P021x[3] = {0, 2, 1};

static bool perm3_is(const sn_node *n, const int64_t *want) {
  const int64_t *p;
  return sn_node_is(n, "Transpose") && sn_attr_ints(n, "perm", &p) == 3 && !memcmp(p, want, sizeof(int64_t) * 3);
}

/* v = Transpose(Reshape(x, [T,B*h,dh]), perm), v and the Reshape's output read once, x [T,B,H]
 * float32 with H known: x, nodes[0..1] the Transpose and the Reshape, and the heads and head size.
 * One head: the Reshape, to x's own shape, is gone (eliminate-noops), v = Transpose(x, perm) and
 * nodes[1] is -1. */
static int seq_heads(const sn_graph *g, const int *uses, int v, const int64_t *perm, int *nodes, int64_t *heads,
                     int64_t *dh) {
  const int t = producer(g, v);
  if (t < 0 || uses[v] != 1 || !perm3_is(&g->nodes[t], perm)) return -1;
  const int rv = g->nodes[t].in[0], r = producer(g, rv);
  if (r < 0 || !sn_node_is(&g->nodes[r], "Reshape")) {
    const sn_type *xt = &g->values[rv].type;
    if (xt->rank != 3 || xt->dtype != SINTER_FLOAT || xt->dims[2].v <= 0) return -1;
    *heads = 1;
    *dh = xt->dims[2].v;
    nodes[0] = t;
    nodes[1] = -1;
    return rv;
  }
  if (uses[rv] != 1) return -1;
  const int x = g->nodes[r].in[0];
  const sn_type *xt = &g->values[x].type, *rt = &g->values[rv].type;
  /* the head size: the output's last size, or the shape's last entry (a Concat of Shape arithmetic
   * for the symbolic length and batch, then a constant) */
  dim_expr last = dim_const(rt->rank == 3 ? rt->dims[2].v : -1);
  const int ps = producer(g, g->nodes[r].in[1]);
  const sn_tensor *sc = sn_graph_const(g, g->nodes[r].in[1]);
  if (last.coef <= 0 && sc && sc->dtype == SINTER_INT64 && sc->count == 3) last.coef = ((const int64_t *)sc->data)[2];
  if (last.coef <= 0 && ps >= 0 && sn_node_is(&g->nodes[ps], "Concat") && g->nodes[ps].n_in == 3 &&
      !scalar_expr(g, g->nodes[ps].in[2], 0, &last))
    return -1;
  if (xt->rank != 3 || xt->dtype != SINTER_FLOAT || rt->rank != 3 || xt->dims[2].v <= 0 || last.src >= 0 ||
      last.coef <= 0 || xt->dims[2].v % last.coef)
    return -1;
  *dh = last.coef;
  *heads = xt->dims[2].v / *dh;
  const dim_expr w[3] = {dim_of(g, 1, x, 0, -1), dim_of(g, *heads, x, 1, -1), dim_const(*dh)};
  if (!reshape_is(g, &g->nodes[r], w, 3)) return -1;
  nodes[0] = t;
  nodes[1] = r;
  return x;
}

/* a constant one-element int64 input i of node n (absent: dflt), else false */
static bool const_i64(const sn_graph *g, const sn_node *n, int i, int64_t dflt, int64_t *out) {
  if (i >= n->n_in || n->in[i] < 0) {
    *out = dflt;
    return true;
  }
  const sn_tensor *t = sn_graph_const(g, n->in[i]);
  if (!t || t->count != 1 || t->dtype != SINTER_INT64) return false;
  *out = ((const int64_t *)t->data)[0];
  return true;
}

/* vals[0..n) the n parts [0,H), [H,2H), ... of one [., ., nH] value's last axis, each by a Slice read
 * once (q, k, v of torch's packed in_proj; k, v of its cross-attention's): that value, the Slices in
 * slices[n]; else -1 */
static int slice_parts(const sn_graph *g, const int *uses, const int *vals, int n, int64_t H, int *slices) {
  int x = -1;
  for (int t = 0; t < n; t++) {
    const int s = producer(g, vals[t]);
    if (s < 0 || uses[vals[t]] != 1 || !sn_node_is(&g->nodes[s], "Slice") || g->nodes[s].opset < 10) return -1;
    const sn_node *sl = &g->nodes[s];
    int64_t start, end, axis, step;
    if (!const_i64(g, sl, 1, 0, &start) || !const_i64(g, sl, 2, 0, &end) || !const_i64(g, sl, 3, 0, &axis) ||
        !const_i64(g, sl, 4, 1, &step))
      return -1;
    const sn_type *xt = &g->values[sl->in[0]].type;
    if (xt->rank != 3 || xt->dims[2].v != n * H || (axis != 2 && axis != -1) || step != 1) return -1;
    if (start < 0) start += n * H;
    if (end < 0) end += n * H;
    if (end > n * H) end = n * H;
    if (start != t * H || end != (t + 1) * H || (x >= 0 && sl->in[0] != x)) return -1;
    x = sl->in[0];
    slices[t] = s;
  }
  return x;
}

/* Softmax node i of rank 3: the sequence-first form into one Attention node (*done), or nothing */
static sn_error *fuse_seq_first_attention(sn_graph *g, const int *uses, int i, bool *done) {
  *done = false;
  const sn_node *sm = &g->nodes[i];
  int dead[20], nd = 0;
  dead[nd++] = i;
  int s = sm->in[0], mask = -1;
  double scale = 1.0;
  int p = producer(g, s);
  if (p < 0 || uses[s] != 1) return NULL;
  if (sn_node_is(&g->nodes[p], "Add")) { /* torch's baddbmm(attn_mask, q, k^T) */
    const int side = scores_side(g, uses, p);
    if (side < 0) return NULL;
    mask = g->nodes[p].in[1 - side];
    const sn_type *mt = &g->values[mask].type;
    if (mt->dtype != SINTER_FLOAT || mt->rank < 0 || mt->rank > 3 || (mt->rank == 3 && mt->dims[0].v != 1))
      return NULL; /* ([B*h,T,S] would need unfolding to [B,h,T,S]) */
    dead[nd++] = p;
    s = g->nodes[p].in[side];
    p = producer(g, s);
  }
  int took = take_scale(g, uses, &s, -1, &scale, &dead[nd]);
  if (took < 0 || uses[s] != 1) return NULL;
  nd += took;
  p = producer(g, s);
  if (p < 0 || !sn_node_is(&g->nodes[p], "MatMul")) return NULL;
  const int mm1 = p;
  dead[nd++] = mm1;
  int qin = g->nodes[mm1].in[0];
  if ((took = take_scale(g, uses, &qin, -1, &scale, &dead[nd])) < 0) return NULL;
  nd += took;
  int64_t hq, dq, hk = 0, dk = 0, hv, dv;
  int qn[2], kn[3], vn[2], n_kn = 2;
  const int q = seq_heads(g, uses, qin, P102, qn, &hq, &dq);
  int kt = g->nodes[mm1].in[1], k = seq_heads(g, uses, kt, P120, kn, &hk, &dk);
  if (k < 0) { /* Transpose(Transpose(Reshape(k), 1,0,2), 0,2,1) */
    const int t2 = producer(g, kt);
    if (t2 >= 0 && uses[kt] == 1 && perm3_is(&g->nodes[t2], P021x)) {
      k = seq_heads(g, uses, g->nodes[t2].in[0], P102, kn, &hk, &dk);
      kn[2] = t2;
      n_kn = 3;
    }
  }
  if (q < 0 || k < 0 || hq != hk || dq != dk) return NULL;
  const int mm2 = sn_graph_sole_consumer(g, uses, sm->out[0]);
  if (mm2 < 0 || !sn_node_is(&g->nodes[mm2], "MatMul") || g->nodes[mm2].in[0] != sm->out[0]) return NULL;
  const int v = seq_heads(g, uses, g->nodes[mm2].in[1], P102, vn, &hv, &dv);
  if (v < 0 || hv != hq || dv != dq) return NULL;
  const sn_type *qt = &g->values[q].type, *kt3 = &g->values[k].type, *vt = &g->values[v].type;
  const bool qk = row_root(g, q) == row_root(g, k), kv = row_root(g, k) == row_root(g, v);
  if (!(qk || sn_dim_same(qt->dims[1], kt3->dims[1])) || !((qk && kv) || sn_dim_same(qt->dims[1], vt->dims[1])) ||
      !(kv || sn_dim_same(kt3->dims[0], vt->dims[0])))
    return NULL; /* (one batch; keys and values over the same S) */
  const int tc = sn_graph_sole_consumer(g, uses, g->nodes[mm2].out[0]);
  if (tc < 0 || !perm3_is(&g->nodes[tc], P102)) return NULL;
  const int tv = g->nodes[tc].out[0], rc = sn_graph_sole_consumer(g, uses, tv);
  if (rc < 0 || g->values[tv].is_output || !sn_node_is(&g->nodes[rc], "Reshape") || g->nodes[rc].in[0] != tv)
    return NULL;
  dead[nd++] = mm2;
  for (int t = 0; t < 2; t++) dead[nd++] = qn[t], dead[nd++] = vn[t];
  for (int t = 0; t < n_kn; t++) dead[nd++] = kn[t];
  /* the Transpose after the second product becomes the Attention node, in place */
  sn_node *at = &g->nodes[tc];
  SN_TRY(sn_node_retype(at, "sinter", "Attention", 1, true));
  at->n_in = 0;
  SN_TRY(sn_node_add_input(at, q));
  SN_TRY(sn_node_add_input(at, k));
  SN_TRY(sn_node_add_input(at, v));
  if (mask >= 0) SN_TRY(sn_node_add_input(at, mask));
  SN_TRY(sn_node_set_int(at, "num_heads", hq));
  SN_TRY(sn_node_set_float(at, "scale", (float)scale));
  SN_TRY(sn_node_set_int(at, "seq_first", 1));
  SN_TRY(sn_node_resolve(g, at));
  g->values[tv].type = g->values[q].type; /* [T,B,H], no longer the [T,B*h,dh] of the Transpose */
  for (int t = 0; t < nd; t++)
    if (dead[t] >= 0) sn_node_clear(&g->nodes[dead[t]]); /* (one head: no Reshapes, -1) */
  *done = true;
  return NULL;
}

sn_error *sn_pass_fuse_attention(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *sm = &g->nodes[i];
    if (!sn_node_is(sm, "Softmax") || g->values[sm->out[0]].type.dtype != SINTER_FLOAT) continue;
    if (g->values[sm->in[0]].type.rank == 3) { /* heads folded into the batch */
      const int64_t axis = sn_attr_int(sm, "axis", sm->opset >= 13 ? -1 : 1);
      bool done = false;
      if ((axis == -1 || axis == 2) && (e = fuse_bmm_attention(g, uses, i, &done))) break;
      if ((axis == -1 || axis == 2) && !done && (e = fuse_seq_first_attention(g, uses, i, &done))) break;
      if (!done) continue;
      c->changed++;
      sn_free(uses);
      if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
      continue;
    }
    if (!softmax_last_axis(g, sm)) continue;
    int dead[24], nd = 0;
    dead[nd++] = i;
    /* before the softmax: [Add mask | Where(keep, ., fill)] <- [Div/Mul scale] <- MatMul(Qh, Kt) */
    int s = sm->in[0], mask = -1, where = -1, where_scores = -1, where_cond = -1, mask2 = -1, mask_sum = -1;
    double scale = 1.0;
    int p = producer(g, s);
    if (p < 0 || uses[s] != 1) continue;
    if (sn_node_is(&g->nodes[p], "Where") && g->nodes[p].n_in == 3) {
      /* GPT-2's causal mask Where(keep, scores, fill) and DistilBERT's masked_fill Where(masked, fill,
       * scores), fill <= -1e30: scores + the Where with 0 for the scores, exactly (a masked score rounds
       * to fill either way), so the Where becomes the additive mask. DistilBERT expands its mask to the
       * scores' shape first (Expand(m, Shape(scores))): the Attention broadcasts m itself. */
      const sn_node *w = &g->nodes[p];
      int cond = w->in[0], ex = producer(g, cond), exshape = -1;
      if (ex >= 0 && sn_node_is(&g->nodes[ex], "Expand") && uses[cond] == 1) {
        const int sp = producer(g, g->nodes[ex].in[1]);
        if (sp >= 0 && sn_node_is(&g->nodes[sp], "Shape") && !sn_node_attr(&g->nodes[sp], "start") &&
            !sn_node_attr(&g->nodes[sp], "end") && uses[g->nodes[sp].out[0]] == 1)
          exshape = g->nodes[sp].in[0], cond = g->nodes[ex].in[0];
      }
      const sn_type *kt = &g->values[cond].type;
      if (kt->dtype != SINTER_BOOL || kt->rank < 0 || kt->rank > 4) continue;
      for (int slot = 1; slot <= 2 && where_scores < 0; slot++) {
        const int sv = w->in[slot];
        if (mask_floor(g, w->in[3 - slot]) &&
            scores_value(g, uses, sv, sv == exshape)) /* (read by the Expand's Shape too) */
          where_scores = slot;
      }
      if (where_scores < 0) continue;
      where = p;
      where_cond = cond;
      s = w->in[where_scores];
      p = producer(g, s);
    } else if (sn_node_is(&g->nodes[p], "Add")) {
      /* Add(scores, mask); or two masks added in turn (MPNet's relative position bias, then the padding
       * mask), Add(Add(scores, m1), m2), whose outer Add then adds the masks instead (mask_sum) */
      int side = scores_side(g, uses, p);
      for (int k = 0; k < 2 && side < 0 && mask_sum < 0; k++) {
        const int a = g->nodes[p].in[k], pa = producer(g, a);
        if (pa >= 0 && uses[a] == 1 && sn_node_is(&g->nodes[pa], "Add") && scores_side(g, uses, pa) >= 0) {
          mask2 = g->nodes[p].in[1 - k];
          mask_sum = p;
          p = pa;
          side = scores_side(g, uses, p);
        }
      }
      if (side < 0) continue;
      mask = g->nodes[p].in[1 - side];
      s = g->nodes[p].in[side];
      dead[nd++] = p; /* (the inner Add of two: the outer one stays, as the masks' sum) */
      p = producer(g, s);
      const sn_type *m1 = &g->values[mask].type, *m2 = mask2 >= 0 ? &g->values[mask2].type : NULL;
      if (m1->dtype != SINTER_FLOAT || m1->rank > 4 || (m2 && (m2->dtype != SINTER_FLOAT || m2->rank > 4 ||
                                                              m1->rank < 0 || m2->rank < 0)))
        continue;
    }
    if (p >= 0 && (sn_node_is(&g->nodes[p], "Div") || sn_node_is(&g->nodes[p], "Mul"))) {
      double k = sn_graph_const_scalar(g, g->nodes[p].in[1]);
      if (!(k > 0) || !isfinite(k)) continue;
      scale = sn_node_is(&g->nodes[p], "Div") ? 1.0 / k : k;
      dead[nd++] = p;
      s = g->nodes[p].in[0];
      if (uses[s] != 1) continue;
      p = producer(g, s);
    }
    if (p < 0 || !sn_node_is(&g->nodes[p], "MatMul")) continue;
    int mm1 = p;
    dead[nd++] = mm1;
    int64_t hq, dq, hk, dk, hv, dv;
    int qn[2], kn[3], vn[2];
    /* the heads scaled before the product: DistilBERT's q / sqrt(dh), and torch 2's
     * scaled_dot_product_attention's q * sqrt(s) with K^T * sqrt(s) */
    int qin = g->nodes[mm1].in[0], kin = g->nodes[mm1].in[1], qreader = mm1, kreader = mm1;
    const int qtook = take_scale(g, uses, &qin, 4, &scale, &dead[nd]);
    if (qtook < 0) continue;
    if (qtook) qreader = dead[nd++];
    const int ktook = take_scale(g, uses, &kin, 4, &scale, &dead[nd]);
    if (ktook < 0) continue;
    if (ktook) kreader = dead[nd++];
    double qmul, kmul;
    int qmn, kmn;
    int q = split_heads_scaled(g, uses, qin, qreader, P0213, qn, &hq, &dq, &qmul, &qmn);
    int k = split_heads_scaled(g, uses, kin, kreader, P0231, kn, &hk, &dk, &kmul, &kmn);
    int n_kn = 2;
    if (k < 0) {
      /* Kt = Transpose(Transpose(Reshape(k), 0,2,1,3), 0,1,3,2) */
      int kt = kin, t2 = producer(g, kt);
      if (t2 >= 0 && uses[kt] == 1 && sn_node_is(&g->nodes[t2], "Transpose") && perm_is(&g->nodes[t2], P0132)) {
        k = split_heads_scaled(g, uses, g->nodes[t2].in[0], t2, P0213, kn, &hk, &dk, &kmul, &kmn);
        kn[2] = t2;
        n_kn = 3;
      }
    }
    if (q < 0 || k < 0 || hq != hk || dq != dk) continue;
    scale *= qmul * kmul;
    if (qmn >= 0) dead[nd++] = qmn;
    if (kmn >= 0) dead[nd++] = kmn;
    /* after the softmax: MatMul(P, Vh) -> Transpose 0,2,1,3 -> Reshape [B,S,H] */
    int mm2 = sn_graph_sole_consumer(g, uses, sm->out[0]);
    if (mm2 < 0 || !sn_node_is(&g->nodes[mm2], "MatMul") || g->nodes[mm2].in[0] != sm->out[0]) continue;
    int v = split_heads(g, uses, g->nodes[mm2].in[1], mm2, P0213, vn, &hv, &dv);
    if (v < 0 || hv != hq || dv != dq) continue;
    int tc = sn_graph_sole_consumer(g, uses, g->nodes[mm2].out[0]);
    if (tc < 0 || !sn_node_is(&g->nodes[tc], "Transpose") || !perm_is(&g->nodes[tc], P0213)) continue;
    int tv = g->nodes[tc].out[0], rc = -1;
    for (int r = 0; r < g->n_nodes && rc < 0; r++)
      if (sn_node_is(&g->nodes[r], "Reshape") && g->nodes[r].in[0] == tv) rc = r;
    if (rc < 0 || g->values[tv].is_output) continue;
    int n_shapes = shape_readers(g, tv, rc, 3);
    if (n_shapes < 0 || uses[tv] != 1 + n_shapes) continue;
    int y = g->nodes[rc].out[0];
    if (g->values[y].type.rank != 3) continue;
    dead[nd++] = mm2;
    dead[nd++] = tc;
    for (int t = 0; t < 2; t++) dead[nd++] = qn[t];
    for (int t = 0; t < n_kn; t++) dead[nd++] = kn[t];
    for (int t = 0; t < 2; t++) dead[nd++] = vn[t];
    /* the final Reshape becomes the Attention node, in place (after all of q, k, v and the mask) */
    sn_node *at = &g->nodes[rc];
    if ((e = sn_node_retype(at, "sinter", "Attention", 1, true))) break;
    at->n_in = 0;
    if ((e = sn_node_add_input(at, q)) || (e = sn_node_add_input(at, k)) || (e = sn_node_add_input(at, v))) break;
    if (where >= 0 && (e = additive_mask(g, where, where_cond, where_scores, &mask))) break;
    if (mask_sum >= 0 && (e = sum_masks(g, mask_sum, mask, mask2, &mask))) break;
    if (mask >= 0 && (e = sn_node_add_input(at, mask))) break;
    if ((e = sn_node_set_int(at, "num_heads", hq)) || (e = sn_node_set_float(at, "scale", (float)scale))) break;
    if ((e = sn_node_resolve(g, at))) break;
    redirect_shapes(g, tv, q, (const int[3]){qn[0], kn[0], vn[0]}, NULL, (const int[3]){q, k, v});
    for (int t = 0; t < nd; t++) sn_node_clear(&g->nodes[dead[t]]);
    c->changed++;
    sn_free(uses);
    if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
  }
  sn_free(uses);
  if (e) return e;
  sn_graph_compact(g);
  return NULL;
}

/* ---- pack-qkv ------------------------------------------------------------------------------------------ */

typedef struct proj {
  int mm, add;   /* MatMul node, bias Add node (-1 without) */
  int x, w, b;   /* input, constant weight [K,N], constant bias [N] or -1 */
} proj;

/* v = [Add(] MatMul(x, W) [, b)] with W and b constants, each intermediate read once. */
static bool projection_of(const sn_graph *g, const int *uses, int v, proj *p) {
  p->add = -1;
  p->b = -1;
  int n = producer(g, v);
  if (n < 0) return false;
  if (sn_node_is(&g->nodes[n], "Add")) {
    const sn_node *a = &g->nodes[n];
    for (int side = 0; side < 2; side++) {
      int m = producer(g, a->in[side]);
      const sn_tensor *b = sn_graph_const(g, a->in[1 - side]);
      if (m >= 0 && sn_node_is(&g->nodes[m], "MatMul") && uses[a->in[side]] == 1 && b && b->rank == 1 &&
          b->dtype == SINTER_FLOAT) {
        p->add = n;
        p->b = a->in[1 - side];
        n = m;
        break;
      }
    }
    if (p->add < 0) return false;
  }
  if (!sn_node_is(&g->nodes[n], "MatMul")) return false;
  const sn_tensor *w = sn_graph_const(g, g->nodes[n].in[1]);
  if (!w || w->rank != 2 || w->dtype != SINTER_FLOAT) return false;
  if (p->b >= 0 && sn_graph_const(g, p->b)->count != w->dims[1]) return false;
  p->mm = n;
  p->x = g->nodes[n].in[0];
  p->w = g->nodes[n].in[1];
  return true;
}

/* n K x N row-major matrices of es-byte elements side by side: dst is K x nN */
static void side_by_side(const void *const *src, int n, int64_t K, int64_t N, size_t es, void *dst) {
  const size_t row = (size_t)N * es;
  for (int64_t r = 0; r < K; r++)
    for (int t = 0; t < n; t++) memcpy((uint8_t *)dst + (size_t)(r * n + t) * row, (const uint8_t *)src[t] + (size_t)r * row, row);
}

/* ---- the same for ONNX Runtime's dynamically quantized projections ---------------------------------------- */

/* v = com.microsoft:DynamicQuantizeMatMul(x, W, scale [, zero point [, bias]]) with W an 8-bit [K, N]
 * constant, scale and zero point constants of 1 or N entries, bias a float constant of N */
typedef struct dq_proj {
  int node, x;
  const sn_tensor *w, *scale, *zp, *bias;
} dq_proj;

static const sn_tensor *dq_input(const sn_graph *g, const sn_node *n, int i) {
  return i < n->n_in && n->in[i] >= 0 ? sn_graph_const(g, n->in[i]) : NULL;
}

static bool dq_projection_of(const sn_graph *g, int v, dq_proj *p) {
  int n = producer(g, v);
  if (n < 0) return false;
  const sn_node *d = &g->nodes[n];
  if (!d->op_type || strcmp(d->op_type, "DynamicQuantizeMatMul") || !d->domain || strcmp(d->domain, "com.microsoft") ||
      d->n_in < 3 || d->n_out != 1)
    return false;
  p->node = n;
  p->x = d->in[0];
  p->w = dq_input(g, d, 1);
  p->scale = dq_input(g, d, 2);
  p->zp = dq_input(g, d, 3);
  p->bias = dq_input(g, d, 4);
  if (!p->w || p->w->rank != 2 || (p->w->dtype != SINTER_INT8 && p->w->dtype != SINTER_UINT8)) return false;
  int64_t N = p->w->dims[1];
  if (!p->scale || p->scale->dtype != SINTER_FLOAT || (p->scale->count != 1 && p->scale->count != N)) return false;
  if (d->n_in > 3 && d->in[3] >= 0 && (!p->zp || p->zp->dtype != p->w->dtype || (p->zp->count != 1 && p->zp->count != N)))
    return false;
  if (d->n_in > 4 && d->in[4] >= 0 && (!p->bias || p->bias->dtype != SINTER_FLOAT || p->bias->count != N)) return false;
  return true;
}

/* t's n entries (1: repeated) of size es at dst, or zeros when t is NULL */
static void put_entries(const sn_tensor *t, int64_t n, size_t es, uint8_t *dst) {
  for (int64_t i = 0; i < n; i++) {
    if (t)
      memcpy(dst + (size_t)i * es, (const uint8_t *)t->data + (t->count == 1 ? 0 : (size_t)i * es), es);
    else
      memset(dst + (size_t)i * es, 0, es);
  }
}

/* Q, K and V projected from one x by three DynamicQuantizeMatMul (ORT's quantize_dynamic of a BERT):
 * one with the weights side by side, per-column scales (and zero points, and biases) for the 3N
 * columns. x is quantized once instead of three times (its min/max and quantization passes), the
 * GEMM is 3N wide, and the products are the same integers with the same scales: outputs bit for bit
 * the separate ones. Returns whether it rewrote (the Attention then reads the packed output). */
static sn_error *pack_qkv_dq(sn_graph *g, int at_index, bool *done) {
  *done = false;
  sn_node *at = &g->nodes[at_index];
  dq_proj pr[3];
  for (int t = 0; t < 3; t++)
    if (!dq_projection_of(g, at->in[t], &pr[t])) return NULL;
  const sn_tensor *w0 = pr[0].w;
  int64_t K = w0->dims[0], N = w0->dims[1];
  bool any_zp = false, any_bias = false, per_col = false;
  for (int t = 0; t < 3; t++) {
    if (pr[t].x != pr[0].x || pr[t].w->dtype != w0->dtype || pr[t].w->dims[0] != K || pr[t].w->dims[1] != N) return NULL;
    any_zp |= pr[t].zp != NULL;
    any_bias |= pr[t].bias != NULL;
    per_col |= pr[t].scale->count != 1 || (pr[t].zp && pr[t].zp->count != 1);
  }
  /* per-tensor parameters that agree stay per tensor; else per column */
  for (int t = 1; t < 3 && !per_col; t++) {
    per_col |= *(const float *)pr[t].scale->data != *(const float *)pr[0].scale->data;
    per_col |= (pr[t].zp ? ((const uint8_t *)pr[t].zp->data)[0] : 0) != (pr[0].zp ? ((const uint8_t *)pr[0].zp->data)[0] : 0);
  }
  int64_t wd[2] = {K, 3 * N}, nd = per_col ? 3 * N : 1, bd = 3 * N;
  sn_tensor *w3 = NULL, *s3 = NULL, *z3 = NULL, *b3 = NULL;
  sn_error *e = sn_tensor_new_uninit(w0->dtype, 2, wd, &w3);
  if (!e) e = sn_tensor_new(SINTER_FLOAT, per_col ? 1 : 0, &nd, &s3);
  if (!e && any_zp) e = sn_tensor_new(w0->dtype, per_col ? 1 : 0, &nd, &z3);
  if (!e && any_bias) e = sn_tensor_new(SINTER_FLOAT, 1, &bd, &b3);
  if (e) goto fail;
  const void *ws[3] = {pr[0].w->data, pr[1].w->data, pr[2].w->data};
  side_by_side(ws, 3, K, N, 1, w3->data);
  int64_t per = per_col ? N : 1;
  for (int t = 0; t < (per_col ? 3 : 1); t++) {
    put_entries(pr[t].scale, per, sizeof(float), (uint8_t *)s3->data + (size_t)(t * per) * sizeof(float));
    if (z3) put_entries(pr[t].zp, per, 1, (uint8_t *)z3->data + t * per);
  }
  for (int t = 0; b3 && t < 3; t++) put_entries(pr[t].bias, N, sizeof(float), (uint8_t *)b3->data + (size_t)(t * N) * sizeof(float));
  sn_node *q = &g->nodes[pr[0].node];
  const char *base = g->values[q->in[1]].name;
  int wid, sid, zid = -1, bid = -1;
  if ((e = sn_graph_add_initializer(g, base, "_qkv", w3, &wid))) goto fail;
  w3 = NULL;
  if ((e = sn_graph_add_initializer(g, base, "_qkv_scale", s3, &sid))) goto fail;
  s3 = NULL;
  if (z3 && (e = sn_graph_add_initializer(g, base, "_qkv_zero_point", z3, &zid))) goto fail;
  z3 = NULL;
  if (b3 && (e = sn_graph_add_initializer(g, base, "_qkv_bias", b3, &bid))) goto fail;
  b3 = NULL;
  int ins[5] = {pr[0].x, wid, sid, zid, bid}, n_in = bid >= 0 ? 5 : zid >= 0 ? 4 : 3;
  q->n_in = 0;
  for (int i = 0; i < n_in; i++)
    if ((e = sn_node_add_input(q, ins[i]))) return e;
  sn_type *ty = &g->values[q->out[0]].type;
  if (ty->rank > 0) ty->dims[ty->rank - 1] = sn_dim_known(3 * N);
  if ((e = sn_node_resolve(g, q))) return e;
  sn_node_clear(&g->nodes[pr[1].node]);
  sn_node_clear(&g->nodes[pr[2].node]);
  at = &g->nodes[at_index];
  at->in[1] = at->in[2] = -1;
  if ((e = sn_node_set_int(at, "qkv_packed", 1))) return e;
  if ((e = sn_node_resolve(g, at))) return e;
  *done = true;
  return NULL;
fail:
  sn_tensor_free(w3);
  sn_tensor_free(s3);
  sn_tensor_free(z3);
  sn_tensor_free(b3);
  return e;
}

/* n projections of one x with weights [K,N] alike as one: a MatMul by the weights side by side,
 * [K, n*N] (the first with a bias keeps its nodes and takes all the biases, zeros where one has none;
 * the first of all where none has), its values' types widened to n*N, the others gone. *packed: its
 * output, or -1 (nothing changed) where they do not fit. */
static sn_error *pack_projections(sn_graph *g, const proj *p, int n, int *packed) {
  *packed = -1;
  const sn_tensor *w[3];
  int keep = -1; /* the projection whose nodes stay (the first with a bias Add, where any has one) */
  for (int t = 0; t < n; t++) {
    w[t] = sn_graph_const(g, p[t].w);
    if (p[t].x != p[0].x || w[t]->dims[0] != w[0]->dims[0] || w[t]->dims[1] != w[0]->dims[1]) return NULL;
    if (keep < 0 && p[t].b >= 0) keep = t;
  }
  if (keep < 0) keep = 0;
  const int64_t K = w[0]->dims[0], N = w[0]->dims[1], wd[2] = {K, n * N}, bd = n * N;
  sn_tensor *wn = NULL, *bn = NULL;
  SN_TRY(sn_tensor_new_uninit(SINTER_FLOAT, 2, wd, &wn));
  const void *src[3] = {w[0]->data, w[1]->data, n > 2 ? w[2]->data : NULL};
  side_by_side(src, n, K, N, sizeof(float), wn->data);
  const proj *pk = &p[keep];
  if (pk->b >= 0) { /* (zeros for a projection without a bias: Whisper's K) */
    sn_error *e = sn_tensor_new(SINTER_FLOAT, 1, &bd, &bn);
    if (e) {
      sn_tensor_free(wn);
      return e;
    }
    for (int t = 0; t < n; t++)
      if (p[t].b >= 0) memcpy((float *)bn->data + t * N, sn_graph_const(g, p[t].b)->data, sizeof(float) * (size_t)N);
  }
  const char *suffix = n == 3 ? "_qkv" : "_kv";
  int wid, bid = -1;
  sn_error *e = sn_graph_add_initializer(g, g->values[pk->w].name, suffix, wn, &wid);
  if (e) {
    sn_tensor_free(bn);
    return e;
  }
  if (bn) SN_TRY(sn_graph_add_initializer(g, g->values[pk->b].name, suffix, bn, &bid));
  g->nodes[pk->mm].in[1] = wid;
  for (int t = 0; t < 2; t++) {
    const int val = t == 0 ? g->nodes[pk->mm].out[0] : pk->add >= 0 ? g->nodes[pk->add].out[0] : -1;
    sn_type *ty = val >= 0 ? &g->values[val].type : NULL;
    if (ty && ty->rank > 0) ty->dims[ty->rank - 1] = sn_dim_known(n * N);
  }
  SN_TRY(sn_node_resolve(g, &g->nodes[pk->mm]));
  if (pk->add >= 0) {
    sn_node *a = &g->nodes[pk->add];
    a->in[0] = g->nodes[pk->mm].out[0];
    a->in[1] = bid;
    SN_TRY(sn_node_resolve(g, a));
  }
  for (int t = 0; t < n; t++) {
    if (t == keep) continue;
    sn_node_clear(&g->nodes[p[t].mm]);
    if (p[t].add >= 0) sn_node_clear(&g->nodes[p[t].add]);
  }
  *packed = pk->add >= 0 ? g->nodes[pk->add].out[0] : g->nodes[pk->mm].out[0];
  return NULL;
}

/* n is the sinter:Attention node fuse-attention makes */
static bool is_fused_attention(const sn_node *n) {
  return n->op_type && !strcmp(n->op_type, "Attention") && n->domain && !strcmp(n->domain, "sinter");
}

sn_error *sn_pass_pack_qkv(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *at = &g->nodes[i];
    if (!is_fused_attention(at) || sn_attr_int(at, "qkv_packed", 0) || sn_attr_int(at, "kv_packed", 0) ||
        at->n_in < 3)
      continue;
    int q = at->in[0], k = at->in[1], v = at->in[2];
    if (q == k || k == v || q == v || uses[k] != 1 || uses[v] != 1) continue;
    /* q may also be read by the Shape nodes fuse-attention pointed at it (they take dims 0 and 1,
     * which the packed tensor shares); else only K and V may pack */
    int n_shapes = shape_readers(g, q, i, 3);
    const bool q_alone = n_shapes >= 0 && uses[q] == 1 + n_shapes;
    /* already one projection, cut in three (or K and V in two) by Slices (torch's in_proj): the
     * Attention reads it whole */
    int slices[3];
    const int64_t H = g->values[q].type.rank == 3 ? g->values[q].type.dims[2].v : -1;
    const int x3 = H > 0 && q_alone ? slice_parts(g, uses, (const int[3]){q, k, v}, 3, H, slices) : -1;
    const int x2 = H > 0 && x3 < 0 ? slice_parts(g, uses, (const int[2]){k, v}, 2, H, slices) : -1;
    if (x3 >= 0 || x2 >= 0) {
      at->in[x3 >= 0 ? 0 : 1] = x3 >= 0 ? x3 : x2;
      if (x3 >= 0) at->in[1] = -1;
      at->in[2] = -1;
      if ((e = sn_node_set_int(at, x3 >= 0 ? "qkv_packed" : "kv_packed", 1)) || (e = sn_node_resolve(g, at))) break;
      for (int t = 0; t < (x3 >= 0 ? 3 : 2); t++) sn_node_clear(&g->nodes[slices[t]]);
      c->changed++;
      sn_free(uses);
      if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
      continue;
    }
    bool dq_done = false;
    if (q_alone && (e = pack_qkv_dq(g, i, &dq_done))) break;
    if (dq_done) {
      c->changed++;
      sn_free(uses);
      if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
      continue;
    }
    proj p[3];
    const bool qkv = q_alone && projection_of(g, uses, q, &p[0]) && projection_of(g, uses, k, &p[1]) &&
                     projection_of(g, uses, v, &p[2]) && p[0].x == p[1].x && p[0].x == p[2].x;
    /* else cross-attention's K and V, projections of the encoder's output (BART, T5, Whisper) */
    const bool kv = !qkv && projection_of(g, uses, k, &p[1]) && projection_of(g, uses, v, &p[2]) && p[1].x == p[2].x;
    int packed = -1;
    if ((qkv || kv) && (e = pack_projections(g, qkv ? p : p + 1, qkv ? 3 : 2, &packed))) break;
    if (packed < 0) continue;
    at = &g->nodes[i];
    at->in[qkv ? 0 : 1] = packed;
    at->in[2] = -1;
    if (qkv) at->in[1] = -1;
    if ((e = sn_node_set_int(at, qkv ? "qkv_packed" : "kv_packed", 1))) break;
    if ((e = sn_node_resolve(g, at))) break;
    c->changed++;
    sn_free(uses);
    if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
  }
  sn_free(uses);
  if (e) return e;
  sn_graph_compact(g);
  return NULL;
}

/* ---- batch_first: the Transposes around a sequence-first Attention go ------------------------------------
 * nn.MultiheadAttention(batch_first=True) transposes x [B,T,E] to [T,B,E] before its packed in_proj and
 * the result back after out_proj:
 *   p = row-wise ops (MatMul by a constant, bias Add, ...) of Transpose(x, 1,0,2)   read by the Attention
 *   z = Transpose(Reshape(row-wise ops (Gemm, MatMul, Add) of Reshape(y, [T*B,E]), [T,B,E]), 1,0,2)
 * where y = Attention(p, qkv_packed=1, seq_first=1). Row-wise ops applied to x itself give p's rows in
 * [B,T] order: the Attention runs batch-first, the context's rows pass the output projection in that
 * order, and the last Reshape asks for [B,T,E]: both Transposes go (two copies of [B,T,E] a layer, at
 * batch > 1; at batch 1 they would only have become Reshapes). Every value between is read once; the
 * last Reshape's shape a constant without 0 entries or a Concat of three parts. */
static void swap01(sn_type *t) {
  if (t->rank < 2) return;
  const sn_dim d = t->dims[0];
  t->dims[0] = t->dims[1];
  t->dims[1] = d;
}

/* The input that node n computes its output from row by row, or -1: input 0 of MatMul and of Gemm
 * without transA by a constant matrix (and constant bias); the non-constant side of an elementwise
 * op whose other side is a constant of rank <= 1 (either side of Add and Mul) */
static int rowwise_input(const sn_graph *g, const sn_node *n) {
  if (n->n_in < 1 || n->n_out != 1) return -1;
  if ((sn_node_is(n, "MatMul") && n->n_in == 2) || (sn_node_is(n, "Gemm") && !sn_attr_int(n, "transA", 0))) {
    const sn_tensor *w = n->n_in > 1 ? sn_graph_const(g, n->in[1]) : NULL;
    const sn_tensor *b = n->n_in > 2 && n->in[2] >= 0 ? sn_graph_const(g, n->in[2]) : NULL;
    return w && w->rank == 2 && (n->n_in < 3 || n->in[2] < 0 || (b && b->rank <= 1)) ? 0 : -1;
  }
  const bool comm = sn_node_is(n, "Add") || sn_node_is(n, "Mul");
  if ((comm || sn_node_is(n, "Sub") || sn_node_is(n, "Div")) && n->n_in == 2)
    for (int side = 0; side < (comm ? 2 : 1); side++) {
      const sn_tensor *k = sn_graph_const(g, n->in[1 - side]);
      if (k && k->rank <= 1 && !sn_graph_const(g, n->in[side])) return side;
    }
  return -1;
}

/* Reshape node ri asks for its shape's entries 0 and 1 swapped: a new constant, or the two parts of a
 * Concat that ri alone reads swapped; false (nothing changed) for any other shape */
static sn_error *swap_shape01(sn_graph *g, const int *uses, int ri, bool *ok) {
  *ok = false;
  const int sv = g->nodes[ri].in[1];
  const sn_tensor *s = sn_graph_const(g, sv);
  if (s) {
    if (s->dtype != SINTER_INT64 || s->count != 3) return NULL;
    const int64_t *d = s->data;
    if (d[0] == 0 || d[1] == 0 || d[2] == 0) return NULL;
    sn_tensor *t;
    const int64_t three = 3;
    SN_TRY(sn_tensor_new(SINTER_INT64, 1, &three, &t));
    int64_t *o = t->data;
    o[0] = d[1], o[1] = d[0], o[2] = d[2];
    int id;
    SN_TRY(sn_graph_add_initializer(g, g->values[sv].name, "_batch_first", t, &id));
    g->nodes[ri].in[1] = id;
    *ok = true;
    return NULL;
  }
  const int p = producer(g, sv);
  if (p < 0 || uses[sv] != 1 || !sn_node_is(&g->nodes[p], "Concat") || g->nodes[p].n_in != 3) return NULL;
  sn_node *cc = &g->nodes[p];
  const int a = cc->in[0];
  cc->in[0] = cc->in[1];
  cc->in[1] = a;
  *ok = true;
  return NULL;
}

sn_error *sn_pass_attention_batch_first(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *at = &g->nodes[i];
    if (!is_fused_attention(at) || !sn_attr_int(at, "seq_first", 0) || !sn_attr_int(at, "qkv_packed", 0) ||
        at->n_in < 1 || at->n_out != 1)
      continue;
    /* up from p to the Transpose of x */
    int in_chain[8], n_in = 0, v = at->in[0], xt = -1, slot = 0; /* v: input `slot` of the node below */
    while (uses[v] == 1 && n_in < 8) {
      const int pv = producer(g, v), k = pv < 0 ? -1 : rowwise_input(g, &g->nodes[pv]);
      if (pv >= 0 && perm3_is(&g->nodes[pv], P102)) {
        xt = pv;
        break;
      }
      if (k < 0) break;
      in_chain[n_in++] = pv;
      slot = k;
      v = g->nodes[pv].in[k];
    }
    if (xt < 0) continue;
    const int x = g->nodes[xt].in[0];
    const sn_type *yt = &g->values[at->out[0]].type;
    if (g->values[x].type.rank != 3 || yt->rank != 3 || yt->dims[2].v <= 0) continue;
    /* down from y: Reshape to [T*B,E], row-wise ops, Reshape to [T,B,E], Transpose 1,0,2 */
    int r1 = sn_graph_sole_consumer(g, uses, at->out[0]);
    if (r1 < 0 || !sn_node_is(&g->nodes[r1], "Reshape") || g->nodes[r1].in[0] != at->out[0] ||
        g->values[g->nodes[r1].out[0]].type.rank != 2 || g->values[g->nodes[r1].out[0]].type.dims[1].v != yt->dims[2].v)
      continue;
    int n_out = 0, w = g->nodes[r1].out[0], r2 = -1;
    for (int step = 0; step < 5 && r2 < 0; step++) {
      const int n = sn_graph_sole_consumer(g, uses, w), k = n < 0 ? -1 : rowwise_input(g, &g->nodes[n]);
      if (n < 0 || g->values[w].is_output) break;
      if (sn_node_is(&g->nodes[n], "Reshape") && g->nodes[n].in[0] == w) {
        r2 = n;
      } else if (n_out < 4 && k >= 0 && g->nodes[n].in[k] == w) {
        n_out++;
        w = g->nodes[n].out[0];
      } else {
        break;
      }
    }
    if (r2 < 0 || g->nodes[r2].n_in != 2 || sn_attr_int(&g->nodes[r2], "allowzero", 0)) continue;
    const int r2v = g->nodes[r2].out[0];
    const sn_type *r2t = &g->values[r2v].type;
    if (r2t->rank != 3 || !sn_dim_same(r2t->dims[0], yt->dims[0]) || !sn_dim_same(r2t->dims[1], yt->dims[1])) continue;
    const int tz = sn_graph_sole_consumer(g, uses, r2v);
    if (tz < 0 || g->values[r2v].is_output || !perm3_is(&g->nodes[tz], P102)) continue;
    bool ok;
    if ((e = swap_shape01(g, uses, r2, &ok)) || !ok) continue;
    /* the rewrite: the chain reads x, its values [B,T,.]; the Attention batch-first; the last
     * Reshape writes z */
    sn_node *first = n_in ? &g->nodes[in_chain[n_in - 1]] : &g->nodes[i];
    first->in[n_in ? slot : 0] = x;
    for (int k = 0; k < n_in; k++) swap01(&g->values[g->nodes[in_chain[k]].out[0]].type);
    sn_node_clear(&g->nodes[xt]);
    at = &g->nodes[i];
    if ((e = sn_node_set_int(at, "seq_first", 0))) break;
    swap01(&g->values[at->out[0]].type);
    const int z = g->nodes[tz].out[0];
    g->values[r2v].producer = -1;
    g->nodes[r2].out[0] = z;
    g->values[z].producer = r2;
    sn_node_clear(&g->nodes[tz]);
    for (int k = 0; k < n_in && !e; k++) e = sn_node_resolve(g, &g->nodes[in_chain[k]]);
    if (e || (e = sn_node_resolve(g, &g->nodes[i])) || (e = sn_node_resolve(g, &g->nodes[r2]))) break;
    c->changed++;
    sn_free(uses);
    if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
  }
  sn_free(uses);
  if (e) return e;
  sn_graph_compact(g);
  return NULL;
}
