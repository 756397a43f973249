/* float16 graphs computed in float32 (optimization level 1 and above; runs at load, before types are
 * inferred): every float16 value inside the graph becomes float32, float16 initializers and tensor
 * attributes are widened once, attributes that name float16 as a result type (Cast's `to`, the
 * random ops' and EyeLike's `dtype`) name float32, and Casts at the edges keep the graph's float16
 * inputs and outputs. The float32 passes and kernels (fusion, blocked convolutions, GEMMs) then take
 * the whole model, where the per-element float16 paths ran a SqueezeNet 7x slower than its float32
 * export. Results are float32 arithmetic rounded to float16 at the outputs, not float16 arithmetic at
 * every step (the casts ONNX Runtime's CPU provider inserts around ops without float16 kernels do the
 * same); level 0 runs the graph as written. Graphs with subgraphs (If, Loop, Scan) are left as they
 * are. */
#include <string.h>

#include "core/dtype.h"
#include "passes/passes.h"

static bool is16(const sn_type *t) { return t->kind == SN_KIND_TENSOR && t->dtype == SINTER_FLOAT16; }

/* a float32 copy of float16 tensor *t, replacing it */
static sn_error *widen(sn_tensor **t) {
  sn_tensor *w;
  SN_TRY(sn_tensor_new(SINTER_FLOAT, (*t)->rank, (*t)->dims, &w));
  const uint16_t *h = (*t)->data;
  float *f = w->data;
  for (int64_t i = 0; i < w->count; i++) f[i] = sn_f16_to_f32(h[i]);
  sn_tensor_free(*t);
  *t = w;
  return NULL;
}

static bool tensor16(const sn_tensor *t) { return t && t->kind == SN_KIND_TENSOR && t->dtype == SINTER_FLOAT16; }

/* whether anything in g is float16, and whether g has subgraphs */
static void survey(const sn_graph *g, bool *any, bool *sub) {
  *any = *sub = false;
  for (int v = 0; v < g->n_values; v++) *any |= is16(&g->values[v].type) || tensor16(g->values[v].data);
  for (int i = 0; i < g->n_nodes; i++) {
    const sn_node *n = &g->nodes[i];
    for (int a = 0; a < n->n_attrs; a++) {
      const sn_attr *at = &n->attrs[a];
      *sub |= at->type == SN_ATTR_GRAPH || at->type == SN_ATTR_GRAPHS;
      *any |= at->type == SN_ATTR_TENSOR && tensor16(at->t);
      *any |= at->type == SN_ATTR_INT && at->i == SINTER_FLOAT16 && (!strcmp(at->name, "to") || !strcmp(at->name, "dtype"));
    }
  }
}

/* the Cast(in) -> out node, to `to` */
static sn_error *add_cast(sn_graph *g, int opset, int in, int out, int to) {
  int idx;
  SN_TRY(sn_graph_add_node1(g, "", "Cast", opset, in, out, &idx));
  return sn_node_set_int(&g->nodes[idx], "to", to);
}

sn_error *sn_pass_fp16_to_fp32(sn_graph *g, int *changed) {
  bool any, sub;
  survey(g, &any, &sub);
  *changed = 0;
  if (!any || sub || !g->model || g->model->n_functions) return NULL;
  const int opset = (int)sn_model_opset(g->model, "");
  const int n_values = g->n_values, n_nodes = g->n_nodes;
  /* the nodes' float16 result types and tensor attributes */
  for (int i = 0; i < n_nodes; i++) {
    sn_node *n = &g->nodes[i];
    for (int a = 0; a < n->n_attrs; a++) {
      sn_attr *at = &n->attrs[a];
      if (at->type == SN_ATTR_TENSOR && tensor16(at->t)) {
        SN_TRY(widen(&at->t));
        (*changed)++;
      }
      if (at->type == SN_ATTR_INT && at->i == SINTER_FLOAT16 && (!strcmp(at->name, "to") || !strcmp(at->name, "dtype")))
        at->i = SINTER_FLOAT, (*changed)++;
    }
  }
  /* the graph's float16 inputs: read through a Cast to float32 */
  for (int k = 0; k < g->n_inputs; k++) {
    int in = g->inputs[k], w;
    if (!is16(&g->values[in].type)) continue;
    SN_TRY(sn_graph_add_value_like(g, in, "_f32", &w));
    g->values[w].type = g->values[in].type;
    g->values[w].type.dtype = SINTER_FLOAT;
    sn_graph_replace_uses(g, in, w);
    SN_TRY(add_cast(g, opset, in, w, SINTER_FLOAT));
    (*changed)++;
  }
  /* the float16 outputs that a node computes: the node writes a float32 value, a Cast makes the output */
  for (int k = 0; k < g->n_outputs; k++) {
    int o = g->outputs[k], w;
    sn_value *ov = &g->values[o];
    if (!is16(&ov->type) || ov->role == SN_VAL_INPUT) continue;
    if (ov->role == SN_VAL_INITIALIZER) { /* a constant output: the nodes read a float32 copy */
      sn_tensor *c;
      if (!tensor16(ov->data)) continue;
      SN_TRY(sn_tensor_clone(ov->data, &c));
      sn_error *e = widen(&c);
      if (e) {
        sn_tensor_free(c);
        return e;
      }
      SN_TRY(sn_graph_add_initializer(g, g->values[o].name, "_f32", c, &w));
      g->values[w].type = g->values[o].type;
      g->values[w].type.dtype = SINTER_FLOAT;
      sn_graph_replace_uses(g, o, w);
      (*changed)++;
      continue;
    }
    if (ov->producer < 0) continue;
    int p = ov->producer;
    SN_TRY(sn_graph_add_value_like(g, o, "_f32", &w));
    g->values[w].type = g->values[o].type;
    g->values[w].type.dtype = SINTER_FLOAT;
    sn_graph_replace_uses(g, o, w); /* (other nodes reading the output read the float32 value) */
    sn_node *pn = &g->nodes[p];
    for (int j = 0; j < pn->n_out; j++)
      if (pn->out[j] == o) pn->out[j] = w;
    SN_TRY(add_cast(g, opset, w, o, SINTER_FLOAT16));
    (*changed)++;
  }
  /* everything else float16 inside: float32 (the Casts' own ends above stay float16) */
  for (int v = 0; v < n_values; v++) {
    sn_value *val = &g->values[v];
    bool edge = val->role == SN_VAL_INPUT || val->is_output;
    if (edge && is16(&val->type)) continue;
    if (tensor16(val->data)) {
      SN_TRY(widen(&val->data));
      (*changed)++;
    }
    if (is16(&val->type)) val->type.dtype = SINTER_FLOAT, (*changed)++;
  }
  sn_graph_update_producers(g);
  return sn_graph_toposort(g);
}
