/* The pass pipeline (see pipeline.h) and the IR rewriting helpers passes share. */
#include "passes/pipeline.h"

#include <string.h>

#include "core/alloc.h"

static void replace_in_subgraph_captures(sn_graph *sub, int from, int to) {
  for (int v = 0; v < sub->n_values; v++)
    if (sub->values[v].role == SN_VAL_CAPTURE && sub->values[v].outer == from) sub->values[v].outer = to;
}

void sn_graph_replace_uses(sn_graph *g, int from, int to) {
  for (int i = 0; i < g->n_nodes; i++) {
    sn_node *n = &g->nodes[i];
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

/* Identity, and Dropout in inference mode with its mask unused, forward their input. */
static bool is_passthrough(const sn_graph *g, const sn_node *n) {
  if (n->domain && *n->domain) return false;
  if (n->n_in < 1 || n->in[0] < 0 || n->n_out < 1 || n->out[0] < 0) return false;
  const sn_value *out = &g->values[n->out[0]];
  if (out->is_output) return false; /* keep graph output names */
  if (!strcmp(n->op_type, "Identity")) return true;
  if (!strcmp(n->op_type, "Dropout")) {
    if (n->n_out > 1 && n->out[1] >= 0) return false;
    if (n->n_in > 2 && n->in[2] >= 0) return false; /* training_mode given: keep */
    return true;
  }
  return false;
}

static sn_error *eliminate_passthrough(sn_graph *g) {
  bool changed = false;
  for (int i = 0; i < g->n_nodes; i++) {
    sn_node *n = &g->nodes[i];
    if (!is_passthrough(g, n)) continue;
    if (g->values[n->in[0]].type.kind != SN_KIND_TENSOR) continue;
    sn_graph_replace_uses(g, n->out[0], n->in[0]);
    sn_node_clear(n);
    changed = true;
  }
  if (changed) sn_graph_compact(g);
  return NULL;
}

sn_error *sn_optimize(sn_graph *g, int level) {
  if (level >= 1) SN_TRY(eliminate_passthrough(g));
  return NULL;
}
