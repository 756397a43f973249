/* Helpers the graph passes share (see rewrite.h). */
#include "passes/rewrite.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

static void replace_in_subgraph_captures(sn_graph *sub, int from, int to) {
  for (int v = 0; v < sub->n_values; v++)
    if (sub->values[v].role == SN_VAL_CAPTURE && sub->values[v].outer == from) sub->values[v].outer = to;
}

void sn_graph_replace_uses(sn_graph *g, int from, int to) {
  for (int i = 0; i < g->n_nodes; i++) {
    sn_node *n = &g->nodes[i];
    if (!n->op_type) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] == from) n->in[k] = to;
    for (int k = 0; k < n->n_captures; k++)
      if (n->captures[k] == from) n->captures[k] = to;
    for (int a = 0; a < n->n_attrs; a++) {
      if (n->attrs[a].g) replace_in_subgraph_captures(n->attrs[a].g, from, to);
      for (int k = 0; n->attrs[a].graphs && k < n->attrs[a].n; k++)
        replace_in_subgraph_captures(n->attrs[a].graphs[k], from, to);
    }
  }
}

void sn_graph_compact(sn_graph *g) {
  int w = 0;
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].op_type) g->nodes[w++] = g->nodes[i];
  g->n_nodes = w;
  sn_graph_update_producers(g);
}

int *sn_graph_use_counts(const sn_graph *g) {
  int *u = sn_calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(int));
  if (!u) return NULL;
  for (int i = 0; i < g->n_nodes; i++) {
    const sn_node *n = &g->nodes[i];
    if (!n->op_type) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) u[n->in[k]]++;
    for (int k = 0; k < n->n_captures; k++)
      if (n->captures[k] >= 0) u[n->captures[k]] += 1000; /* captured: never "sole" */
  }
  for (int k = 0; k < g->n_outputs; k++) u[g->outputs[k]] += 1000;
  return u;
}

int sn_graph_sole_consumer(const sn_graph *g, const int *uses, int v) {
  if (v < 0 || uses[v] != 1) return -1;
  for (int i = 0; i < g->n_nodes; i++) {
    const sn_node *n = &g->nodes[i];
    if (!n->op_type) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] == v) return i;
  }
  return -1;
}

bool sn_node_is(const sn_node *n, const char *op) {
  return n->op_type && !(n->domain && *n->domain) && !strcmp(n->op_type, op);
}

double sn_graph_const_scalar(const sn_graph *g, int v) {
  const sn_tensor *t = sn_graph_const(g, v);
  if (!t || t->count != 1 || t->dtype == SINTER_STRING) return NAN;
  return sn_load_f64(t->dtype, t->data, 0);
}

const sn_tensor *sn_graph_const(const sn_graph *g, int v) {
  if (v < 0 || g->values[v].role != SN_VAL_INITIALIZER) return NULL;
  const sn_tensor *t = g->values[v].data;
  return t && t->kind == SN_KIND_TENSOR ? t : NULL;
}

bool sn_graph_bn_consts(const sn_graph *g, const sn_node *bn, int64_t C, sn_bn_consts *out) {
  if (!sn_node_is(bn, "BatchNormalization") || bn->n_in < 5 || bn->n_out < 1 || bn->out[0] < 0 ||
      sn_attr_int(bn, "training_mode", 0))
    return false;
  for (int o = 1; o < bn->n_out; o++)
    if (bn->out[o] >= 0) return false;
  const float *p[4];
  for (int k = 0; k < 4; k++) {
    const sn_tensor *t = sn_graph_const(g, bn->in[k + 1]);
    if (!t || t->dtype != SINTER_FLOAT || t->count != C) return false;
    p[k] = t->data;
  }
  *out = (sn_bn_consts){p[0], p[1], p[2], p[3], (double)sn_attr_float(bn, "epsilon", 1e-5f)};
  return true;
}

bool sn_graph_pad_amounts(const sn_graph *g, const sn_node *n, int rank, int64_t *pads) {
  if (rank < 0 || rank > SN_MAX_RANK) return false;
  for (int k = 0; k < 2 * rank; k++) pads[k] = 0;
  const int64_t *p;
  int np = sn_attr_ints(n, "pads", &p); /* (before opset 11) */
  if (np >= 0) {
    if (np != 2 * rank) return false;
    memcpy(pads, p, sizeof(int64_t) * (size_t)np);
    return true;
  }
  const sn_tensor *pt = n->n_in > 1 && n->in[1] >= 0 ? sn_graph_const(g, n->in[1]) : NULL;
  if (!pt || pt->dtype != SINTER_INT64 || pt->rank != 1) return false;
  const int64_t *pv = pt->data;
  if (n->n_in > 3 && n->in[3] >= 0) { /* axes (opset 18): pads for those dims only */
    const sn_tensor *at = sn_graph_const(g, n->in[3]);
    if (!at || (at->dtype != SINTER_INT64 && at->dtype != SINTER_INT32) || at->rank != 1 || pt->count != 2 * at->count)
      return false;
    bool seen[SN_MAX_RANK] = {false};
    for (int64_t k = 0; k < at->count; k++) {
      int64_t a = at->dtype == SINTER_INT64 ? ((const int64_t *)at->data)[k] : ((const int32_t *)at->data)[k];
      if (a < 0) a += rank;
      if (a < 0 || a >= rank || seen[a]) return false; /* (a repeated axis: the op's error) */
      seen[a] = true;
      pads[a] = pv[k];
      pads[rank + a] = pv[at->count + k];
    }
    return true;
  }
  if (pt->count != 2 * rank) return false;
  memcpy(pads, pv, sizeof(int64_t) * (size_t)(2 * rank));
  return true;
}

sn_error *sn_graph_add_initializer(sn_graph *g, const char *base, const char *suffix, sn_tensor *data, int *id) {
  char name[512];
  for (int k = 0;; k++) {
    if (k == 0)
      snprintf(name, sizeof name, "%s%s", base, suffix);
    else
      snprintf(name, sizeof name, "%s%s_%d", base, suffix, k);
    if (sn_graph_find(g, name) < 0) break;
  }
  sn_error *e = sn_graph_add_value(g, name, id);
  if (e) {
    sn_tensor_free(data);
    return e;
  }
  sn_value *v = &g->values[*id];
  v->role = SN_VAL_INITIALIZER;
  v->data = data;
  sn_type_set_static(&v->type, data->dtype, data->rank, data->dims);
  return NULL;
}

static sn_attr *attr_slot(sn_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (!strcmp(n->attrs[i].name, name)) {
      sn_attr_clear(&n->attrs[i]);
      n->attrs[i].name = sn_strdup(name);
      return n->attrs[i].name ? &n->attrs[i] : NULL;
    }
  sn_attr *a = sn_realloc(n->attrs, sizeof(sn_attr) * (size_t)(n->n_attrs + 1));
  if (!a) return NULL;
  n->attrs = a;
  memset(&a[n->n_attrs], 0, sizeof(sn_attr));
  a[n->n_attrs].name = sn_strdup(name);
  if (!a[n->n_attrs].name) return NULL;
  return &a[n->n_attrs++];
}

sn_error *sn_node_set_int(sn_node *n, const char *name, int64_t v) {
  sn_attr *a = attr_slot(n, name);
  if (!a) return SN_ERR_OOM();
  a->type = SN_ATTR_INT;
  a->i = v;
  return NULL;
}

sn_error *sn_node_set_float(sn_node *n, const char *name, float v) {
  sn_attr *a = attr_slot(n, name);
  if (!a) return SN_ERR_OOM();
  a->type = SN_ATTR_FLOAT;
  a->f = v;
  return NULL;
}

sn_error *sn_node_set_str(sn_node *n, const char *name, const char *v) {
  sn_attr *a = attr_slot(n, name);
  if (!a) return SN_ERR_OOM();
  a->type = SN_ATTR_STRING;
  a->s = sn_strdup(v);
  a->s_len = strlen(v);
  return a->s ? NULL : SN_ERR_OOM();
}

sn_error *sn_node_set_ints(sn_node *n, const char *name, const int64_t *v, int count) {
  sn_attr *a = attr_slot(n, name);
  if (!a) return SN_ERR_OOM();
  a->type = SN_ATTR_INTS;
  a->ints = sn_malloc(sizeof(int64_t) * (size_t)(count > 0 ? count : 1));
  if (!a->ints) return SN_ERR_OOM();
  if (count > 0) memcpy(a->ints, v, sizeof(int64_t) * (size_t)count);
  a->n = count;
  return NULL;
}

sn_error *sn_node_set_floats(sn_node *n, const char *name, const float *v, int count) {
  sn_attr *a = attr_slot(n, name);
  if (!a) return SN_ERR_OOM();
  a->type = SN_ATTR_FLOATS;
  a->floats = sn_malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
  if (!a->floats) return SN_ERR_OOM();
  if (count > 0) memcpy(a->floats, v, sizeof(float) * (size_t)count);
  a->n = count;
  return NULL;
}

sn_error *sn_node_add_input(sn_node *n, int v) {
  int *in = sn_realloc(n->in, sizeof(int) * (size_t)(n->n_in + 1));
  if (!in) return SN_ERR_OOM();
  n->in = in;
  in[n->n_in++] = v;
  return NULL;
}

sn_error *sn_node_set_outputs(sn_node *n, int count) {
  if (count <= n->n_out) return NULL;
  int *out = sn_realloc(n->out, sizeof(int) * (size_t)count);
  if (!out) return SN_ERR_OOM();
  n->out = out;
  for (int k = n->n_out; k < count; k++) out[k] = -1;
  n->n_out = count;
  return NULL;
}

sn_error *sn_node_retype(sn_node *n, const char *domain, const char *op_type, int opset, bool clear_attrs) {
  char *d = sn_strdup(domain), *o = sn_strdup(op_type);
  if (!d || !o) {
    sn_free(d);
    sn_free(o);
    return SN_ERR_OOM();
  }
  if (n->op && n->op->free_params && n->params) n->op->free_params(n->params);
  n->params = NULL;
  n->op = NULL;
  if (clear_attrs) {
    for (int a = 0; a < n->n_attrs; a++) sn_attr_clear(&n->attrs[a]);
    n->n_attrs = 0;
  }
  sn_free(n->domain);
  sn_free(n->op_type);
  n->domain = d;
  n->op_type = o;
  n->opset = opset;
  return NULL;
}

sn_error *sn_graph_add_value_like(sn_graph *g, int like, const char *suffix, int *id) {
  char name[512];
  for (int k = 0;; k++) {
    if (k == 0)
      snprintf(name, sizeof name, "%s%s", g->values[like].name, suffix);
    else
      snprintf(name, sizeof name, "%s%s_%d", g->values[like].name, suffix, k);
    if (sn_graph_find(g, name) < 0) break;
  }
  return sn_graph_add_value(g, name, id);
}

sn_error *sn_graph_add_node1(sn_graph *g, const char *domain, const char *op, int opset, int in, int out,
                             int *index) {
  int idx;
  SN_TRY(sn_graph_add_node(g, &idx));
  sn_node *n = &g->nodes[idx];
  char name[512];
  snprintf(name, sizeof name, "%s_%s", op, g->values[out].name);
  n->name = sn_strdup(name);
  n->in = sn_malloc(sizeof(int));
  n->out = sn_malloc(sizeof(int));
  if (!n->name || !n->in || !n->out) return SN_ERR_OOM();
  n->n_in = n->n_out = 1;
  n->in[0] = in;
  n->out[0] = out;
  SN_TRY(sn_node_retype(n, domain, op, opset, false));
  *index = idx;
  return NULL;
}

sn_error *sn_graph_add_value_permuted(sn_graph *g, int like, const char *suffix, const int64_t *perm, int rank,
                                      int *id) {
  SN_TRY(sn_graph_add_value_like(g, like, suffix, id));
  const sn_type *t = &g->values[like].type;
  sn_dim d[SN_MAX_RANK];
  for (int i = 0; i < rank; i++) d[i] = t->dims[perm[i]];
  sn_type_set(&g->values[*id].type, t->dtype, rank, d);
  return NULL;
}

sn_error *sn_graph_add_transpose(sn_graph *g, int in, int out, const int64_t *perm, int rank) {
  int idx;
  SN_TRY(sn_graph_add_node1(g, "", "Transpose", 13, in, out, &idx));
  SN_TRY(sn_node_set_ints(&g->nodes[idx], "perm", perm, rank));
  return sn_node_resolve(g, &g->nodes[idx]);
}
