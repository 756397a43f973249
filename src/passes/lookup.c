/* Level 2: 8-bit elementwise ops of one value become one table. A quantized model computes some
 * functions of one tensor as several integer ops: BERT's GELU in a QDQ model is x * 0.5 * (1 + erf(x
 * / sqrt 2)), which the QDQ pass (qdq.c) turns into a QLinearLookup for erf(x / sqrt 2) and then a
 * QLinearAdd of the constant 1, a QLinearMul of x by that, and a QLinearMul by the constant 0.5: four
 * passes over the tensor. Every one of them is a function of x's 8-bit code, so the chain is one
 * 256-entry table of x (sinter:QLinearLookup, ops/qlinear_ms.c). Rewrites, until none applies:
 *   QLinearAdd / QLinearMul (com.microsoft) of a and a constant scalar    =>  QLinearLookup(a, T);
 *   QLinearLookup(QLinearLookup(a, T1), T2), the inner read only there    =>  QLinearLookup(a, T2[T1]);
 *   QLinearAdd / QLinearMul of u and w, each a or QLinearLookup(a, .)     =>  QLinearLookup(a, T);
 *   QLinearSigmoid / QLinearLeakyRelu (com.microsoft) of a                =>  QLinearLookup(a, T).
 * T is computed by the op's own kernel (the fold function, the kernels a run uses) over the 256 codes
 * of a, or over the codes the lookups before it give them: each entry is what the unfused ops
 * compute for that code, so the result is the same bytes. Runs after constant folding, which turns
 * the quantized constants (QuantizeLinear of a float) into the scalars the first rule needs. */
#include <string.h>

#include "core/alloc.h"
#include "passes/passes.h"

static bool ms_op(const sn_node *n, const char *op) {
  return n->op_type && !strcmp(n->op_type, op) && n->domain && !strcmp(n->domain, "com.microsoft");
}

static bool is_lookup(const sn_graph *g, const sn_node *n) {
  if (!n->op_type || strcmp(n->op_type, "QLinearLookup") || !n->domain || strcmp(n->domain, "sinter") || n->n_in != 2)
    return false;
  const sn_tensor *t = sn_graph_const(g, n->in[1]);
  return t && t->count == 256 && n->in[0] >= 0;
}

/* v as a function of a root value: v itself (table NULL: the identity) or QLinearLookup(root, table) */
typedef struct fnof {
  int root;
  const sn_tensor *table;
  int lookup; /* the lookup node, or -1 */
} fnof;

static fnof fn_of(const sn_graph *g, int v) {
  fnof f = {v, NULL, -1};
  int p = g->values[v].producer;
  if (p >= 0 && is_lookup(g, &g->nodes[p])) {
    f.root = g->nodes[p].in[0];
    f.table = sn_graph_const(g, g->nodes[p].in[1]);
    f.lookup = p;
  }
  return f;
}

/* the 256 codes a takes, in order, as a tensor of a's type: 0..255 (as the type's bytes), or through
 * table */
static sn_error *codes(sn_dtype dt, const sn_tensor *table, sn_tensor **out) {
  int64_t n = 256;
  sn_error *e = sn_tensor_new(dt, 1, &n, out);
  if (e) return e;
  uint8_t *d = (*out)->data;
  for (int b = 0; b < 256; b++) d[b] = table ? ((const uint8_t *)table->data)[b] : (uint8_t)b;
  return NULL;
}

/* node i becomes QLinearLookup(root, tab) (tab owned here until the graph takes it) */
static sn_error *to_lookup(sn_pass_ctx *c, int i, int root, sn_tensor *tab) {
  sn_graph *g = c->g;
  int tv;
  sn_error *e = sn_graph_add_initializer(g, g->values[g->nodes[i].out[0]].name, "_lut", tab, &tv);
  if (e) return e;
  sn_node *n = &g->nodes[i];
  int *in = sn_malloc(sizeof(int) * 2);
  if (!in) return SN_ERR_OOM();
  in[0] = root, in[1] = tv;
  sn_free(n->in);
  n->in = in;
  n->n_in = 2;
  if ((e = sn_node_retype(n, "sinter", "QLinearLookup", 1, true))) return e;
  if ((e = sn_node_resolve(g, n))) return e;
  c->changed++;
  return NULL;
}

/* node n run by the fold function with inputs in (the constants where in[k] is NULL): its output as
 * a table of 256 entries of type dt, or NULL (no error) when it is not one */
static sn_error *run_table(sn_pass_ctx *c, const sn_node *n, const sn_tensor *const *given, sn_dtype dt,
                           sn_tensor **tab) {
  sn_graph *g = c->g;
  const sn_tensor *in[8];
  *tab = NULL;
  if (n->n_in > 8) return NULL;
  for (int k = 0; k < n->n_in; k++) {
    in[k] = given[k] ? given[k] : n->in[k] < 0 ? NULL : sn_graph_const(g, n->in[k]);
    if (n->in[k] >= 0 && !in[k]) return NULL; /* an operand that is not constant */
  }
  sn_tensor *out = NULL;
  sn_error *e = c->fold(NULL, g, n, in, &out);
  if (e) { /* (the op refuses these operands: it stays as it is, and says why when it runs) */
    sn_error_free(e);
    return NULL;
  }
  if (out->dtype != dt || out->count != 256) {
    sn_tensor_free(out);
    return NULL;
  }
  int64_t n256 = 256;
  if ((e = sn_tensor_new(dt, 1, &n256, tab))) {
    sn_tensor_free(out);
    return e;
  }
  memcpy((*tab)->data, out->data, 256);
  sn_tensor_free(out);
  return NULL;
}

/* rank and dimensions equal (a broadcast would change the shape) */
static bool same_dims(const sn_type *a, const sn_type *b) {
  if (a->rank < 0 || a->rank != b->rank) return false;
  for (int d = 0; d < a->rank; d++) {
    const sn_dim *x = &a->dims[d], *y = &b->dims[d];
    if (x->v >= 0 ? x->v != y->v : (y->v >= 0 || !x->sym || !y->sym || strcmp(x->sym, y->sym))) return false;
  }
  return true;
}

static sn_error *rewrite(sn_pass_ctx *c, int i, const int *uses, bool *done) {
  sn_graph *g = c->g;
  const sn_node *n = &g->nodes[i];
  *done = false;
  if (!n->op_type || n->n_out != 1 || n->out[0] < 0 || g->values[n->out[0]].type.rank < 0) return NULL;
  const sn_type *yt = &g->values[n->out[0]].type;
  if (!sn_dtype_q8(yt->dtype)) return NULL;
  sn_tensor *tab = NULL, *ca = NULL, *cb = NULL;
  sn_error *e = NULL;
  int root = -1;
  if (is_lookup(g, n)) { /* a lookup of a lookup */
    int p = g->values[n->in[0]].producer;
    if (p < 0 || !is_lookup(g, &g->nodes[p]) || uses[n->in[0]] != 1 || g->values[n->in[0]].is_output) return NULL;
    const uint8_t *t1 = sn_graph_const(g, g->nodes[p].in[1])->data, *t2 = sn_graph_const(g, n->in[1])->data;
    int64_t n256 = 256;
    if ((e = sn_tensor_new(yt->dtype, 1, &n256, &tab))) return e;
    for (int b = 0; b < 256; b++) ((uint8_t *)tab->data)[b] = t2[t1[b]];
    root = g->nodes[p].in[0];
    if ((e = to_lookup(c, i, root, tab))) return e;
    sn_node_clear(&g->nodes[p]);
    *done = true;
    return NULL;
  }
  bool unary = ms_op(n, "QLinearSigmoid") || ms_op(n, "QLinearLeakyRelu");
  if (!unary && !ms_op(n, "QLinearAdd") && !ms_op(n, "QLinearMul")) return NULL;
  const sn_tensor *given[8] = {0};
  if (unary) {
    if (n->n_in < 4 || n->in[0] < 0 || sn_graph_const(g, n->in[0])) return NULL;
    root = n->in[0];
    if ((e = codes(g->values[root].type.dtype, NULL, &ca))) return e;
    given[0] = ca;
  } else {
    if (n->n_in < 7 || n->in[0] < 0 || n->in[3] < 0) return NULL;
    int a = n->in[0], b = n->in[3];
    const sn_tensor *ka = sn_graph_const(g, a), *kb = sn_graph_const(g, b);
    if (ka && kb) return NULL; /* (constant folding's) */
    if (ka || kb) { /* one operand a constant scalar */
      const sn_tensor *k = ka ? ka : kb;
      int flow = ka ? b : a;
      if (k->count != 1 || k->rank > g->values[flow].type.rank || !same_dims(&g->values[flow].type, yt)) return NULL;
      root = flow;
      if ((e = codes(g->values[flow].type.dtype, NULL, &ca))) return e;
      given[ka ? 3 : 0] = ca;
    } else { /* both functions of one value */
      fnof fa = fn_of(g, a), fb = fn_of(g, b);
      if (fa.root != fb.root || !same_dims(&g->values[a].type, yt) || !same_dims(&g->values[b].type, yt) ||
          !same_dims(&g->values[fa.root].type, yt))
        return NULL;
      root = fa.root;
      if ((e = codes(g->values[a].type.dtype, fa.table, &ca)) || (e = codes(g->values[b].type.dtype, fb.table, &cb)))
        goto out;
      given[0] = ca, given[3] = cb;
    }
  }
  if (!sn_dtype_q8(g->values[root].type.dtype)) goto out;
  if ((e = run_table(c, n, given, yt->dtype, &tab)) || !tab) goto out;
  e = to_lookup(c, i, root, tab);
  *done = !e;
out:
  sn_tensor_free(ca);
  sn_tensor_free(cb);
  return e;
}

/* lookups left without readers by the third rule */
static void drop_unread(sn_graph *g, const int *uses) {
  for (int i = 0; i < g->n_nodes; i++) {
    sn_node *n = &g->nodes[i];
    if (is_lookup(g, n) && n->out[0] >= 0 && !uses[n->out[0]] && !g->values[n->out[0]].is_output) sn_node_clear(n);
  }
}

sn_error *sn_pass_compose_lookups(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  if (!c->fold) return NULL;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  bool any = false;
  for (bool again = true; again && !e;) {
    again = false;
    for (int i = 0; i < g->n_nodes && !e; i++) {
      bool done;
      if ((e = rewrite(c, i, uses, &done)) || !done) continue;
      again = any = true;
      for (int round = 0; round < 2; round++) { /* the counts after the rewrite, then after the drops */
        sn_free(uses);
        if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
        if (!round) drop_unread(g, uses);
      }
    }
  }
  sn_free(uses);
  if (!e && any) sn_graph_compact(g);
  return e;
}
