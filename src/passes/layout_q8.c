/* Level 3: channels-last regions for INT8 convolution chains (`layout-nhwc8`).
 *
 * The fused 8-bit convolutions (sinter:QLinearConv, passes/qdq.c) run on NCHW tensors through a
 * GEMM that wants channels last: a 1x1 layer packs its input's planes as B every run, a k x k layer
 * transposes its input into a padded NHWC copy and its NHWC result back into planes. Where a graph
 * is mostly a chain of such convolutions (ResNet-style networks), this pass keeps the activations
 * between them in NHWC instead: every convolution sn_qconv_nhwc takes gets channels_last = 1 (its X,
 * Y and residual are N, H, W, C; its weights packed for that form at load), and a Transpose goes
 * where the region reads an NCHW value (perm 0, 2, 3, 1) or something outside it reads one of its
 * values (perm 0, 3, 1, 2). The results are the same bytes (the same integer sums and epilogue).
 *
 * Only where it pays: at least 8 such convolutions and at most one boundary Transpose per 8 of
 * them (MobileNet-style blocks, whose depthwise convolutions stay NCHW, would need two Transposes a
 * block). A convolution on fewer than 16 input channels (an RGB stem) stays NCHW. SINTER_NHWC8=0
 * turns the pass off. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "passes/passes.h"

static bool q8t(sn_dtype dt) { return dt == SINTER_UINT8 || dt == SINTER_INT8; }

/* elements of value v when its shape is fully known, else -1 */
static int64_t count_of(const sn_graph *g, int v) {
  const sn_type *t = &g->values[v].type;
  if (t->rank < 0) return -1;
  int64_t n = 1;
  for (int d = 0; d < t->rank; d++) {
    if (t->dims[d].v < 0) return -1;
    n *= t->dims[d].v;
  }
  return n;
}

/* optional input k absent, or of one of the counts a and b */
static bool opt_count(const sn_graph *g, const sn_node *n, int k, int64_t a, int64_t b) {
  if (n->n_in <= k || n->in[k] < 0) return true;
  int64_t c = count_of(g, n->in[k]);
  return c == a || c == b;
}

static bool ints_at_least(const sn_node *n, const char *name, int64_t lo) {
  const int64_t *v;
  int k = sn_attr_ints(n, name, &v);
  for (int i = 0; i < k; i++)
    if (v[i] < lo) return false;
  return true;
}

/* a sinter:QLinearConv that sn_qconv_nhwc runs whatever the data (qparams_make's conditions, from
 * the types): 2-D, group 1, 8-bit X and constant W with at least 16 input channels, an 8-bit output,
 * per-tensor x and y parameters, per-tensor or per-channel w ones, an int32 bias of M, a residual
 * of the output's type */
static bool candidate(const sn_graph *g, const sn_node *n) {
  if (!n->op_type || !n->domain || strcmp(n->domain, "sinter") || strcmp(n->op_type, "QLinearConv")) return false;
  if (n->n_in < 8 || n->n_out < 1 || n->in[0] < 0 || n->in[3] < 0 || n->in[6] < 0 || n->out[0] < 0) return false;
  if (sn_attr_int(n, "group", 1) != 1 || sn_attr_int(n, "channels_last", 0)) return false;
  if (!ints_at_least(n, "pads", 0) || !ints_at_least(n, "strides", 1) || !ints_at_least(n, "dilations", 1))
    return false;
  const sn_type *x = &g->values[n->in[0]].type, *y = &g->values[n->out[0]].type;
  const sn_tensor *w = sn_graph_const(g, n->in[3]);
  if (x->rank != 4 || y->rank != 4 || !q8t(x->dtype) || !q8t(y->dtype) || !w || w->rank != 4 || !q8t(w->dtype))
    return false;
  int64_t C = x->dims[1].v, M = w->dims[0];
  if (C < 16 || w->dims[1] != C || y->dims[1].v != M) return false;
  if (count_of(g, n->in[1]) != 1 || count_of(g, n->in[6]) != 1 || !opt_count(g, n, 2, 1, 1) ||
      !opt_count(g, n, 4, 1, M) || !opt_count(g, n, 5, 1, M) || !opt_count(g, n, 7, 1, 1))
    return false;
  if (n->n_in > 8 && n->in[8] >= 0 && (g->values[n->in[8]].type.dtype != SINTER_INT32 || count_of(g, n->in[8]) != M))
    return false;
  if (n->n_in > 9 && n->in[9] >= 0) {
    const sn_type *r = &g->values[n->in[9]].type;
    if (n->n_in < 16 || r->dtype != y->dtype || r->rank != 4) return false;
    for (int d = 0; d < 4; d++)
      if (r->dims[d].v != y->dims[d].v) return false;
  }
  return true;
}

/* the inputs of a channels-last convolution that are NHWC: X and the residual */
static bool nhwc_slot(const sn_node *n, int k) { return k == 0 || (k == 9 && n->n_in > 15); }

static const int64_t TO_NHWC[4] = {0, 2, 3, 1}, TO_NCHW[4] = {0, 3, 1, 2};

sn_error *sn_pass_layout_nhwc8(sn_pass_ctx *c) {
  const char *env = getenv("SINTER_NHWC8");
  if (env && !strcmp(env, "0")) return NULL;
  sn_graph *g = c->g;
  const int nn = g->n_nodes, nv0 = g->n_values;
  sn_graph_update_producers(g);
  bool *cand = sn_calloc((size_t)(nn > 0 ? nn : 1), sizeof(bool));
  int *inside = sn_calloc((size_t)(nv0 > 0 ? nv0 : 1), sizeof(int)); /* reads by region convs' NHWC slots */
  int *twin = sn_malloc(sizeof(int) * (size_t)(nv0 > 0 ? nv0 : 1));   /* NHWC form of a value, or -1 */
  bool *made = sn_calloc((size_t)(nv0 > 0 ? nv0 : 1), sizeof(bool));  /* the output of a region conv */
  int *uses = sn_graph_use_counts(g);
  sn_error *e = NULL;
  if (!cand || !inside || !twin || !made || !uses) {
    e = SN_ERR_OOM();
    goto done;
  }
  int ncand = 0;
  for (int i = 0; i < nn; i++) ncand += cand[i] = candidate(g, &g->nodes[i]);
  if (ncand < 8) goto done;
  /* the boundary: values read by the region and made outside it, and region values read outside */
  int nb = 0;
  for (int i = 0; i < nn; i++) {
    const sn_node *n = &g->nodes[i];
    if (!cand[i]) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0 && nhwc_slot(n, k)) inside[n->in[k]]++;
  }
  for (int i = 0; i < nn; i++)
    if (cand[i]) made[g->nodes[i].out[0]] = true;
  for (int v = 0; v < nv0; v++) {
    if (inside[v] && !made[v]) nb++;          /* a Transpose in */
    if (made[v] && uses[v] > inside[v]) nb++; /* a Transpose out */
  }
  if (nb * 8 > ncand) goto done;
  for (int v = 0; v < nv0; v++) twin[v] = -1;
  for (int i = 0; i < nn && !e; i++) {
    if (!cand[i]) continue;
    for (int k = 0; k < g->nodes[i].n_in && !e; k++) {
      int v = g->nodes[i].in[k];
      if (v < 0 || !nhwc_slot(&g->nodes[i], k)) continue;
      if (twin[v] < 0) { /* made outside the region: transposed once for all its region readers */
        int t;
        if ((e = sn_graph_add_value_permuted(g, v, "_nhwc", TO_NHWC, 4, &t)) ||
            (e = sn_graph_add_transpose(g, v, t, TO_NHWC, 4)))
          break;
        twin[v] = t;
      }
      g->nodes[i].in[k] = twin[v];
    }
    if (e) break;
    int y = g->nodes[i].out[0], yt;
    if ((e = sn_graph_add_value_permuted(g, y, "_nhwc", TO_NHWC, 4, &yt))) break;
    twin[y] = yt;
    g->nodes[i].out[0] = yt;
    if ((e = sn_node_set_int(&g->nodes[i], "channels_last", 1)) || (e = sn_node_resolve(g, &g->nodes[i]))) break;
    c->changed++;
  }
  if (e) goto done;
  /* Transposes back where an original region value is still read (outside the region) or is an output */
  sn_free(uses);
  if (!(uses = sn_graph_use_counts(g))) {
    e = SN_ERR_OOM();
    goto done;
  }
  for (int v = 0; v < nv0 && !e; v++)
    if (made[v] && uses[v] > 0) e = sn_graph_add_transpose(g, twin[v], v, TO_NCHW, 4);
  if (!e && c->changed) {
    sn_graph_update_producers(g);
    e = sn_graph_toposort(g);
  }
done:
  sn_free(cand);
  sn_free(inside);
  sn_free(twin);
  sn_free(made);
  sn_free(uses);
  return e;
}
