/* Unit test: the quantizer's pieces that need no model file. Entropy calibration
 * (sn_quant_entropy_threshold) on histograms with a known answer: a Gaussian with far outliers is
 * clipped near its bulk, a flat histogram is not clipped, degenerate inputs return the max. The
 * opset upgrade (sn_quant_upgrade_opset13) on a hand-built opset-11 graph: Squeeze's axes attribute
 * becomes an int64 input, Softmax(axis=1) of unknown rank becomes Flatten -> Softmax -> Reshape,
 * Clip/Dropout are kept, the model's opset becomes 13; an op it does not convert and opset 9 are
 * refused with the node or the opset named. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "passes/rewrite.h"
#include "quant/quant.h"
#include "check.h"

static double uniform(void) { return (double)(next() >> 11) / 9007199254740992.0; } /* [0, 1) */
static double gauss(void) {
  double u = uniform(), v = uniform();
  return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static void test_entropy(void) {
  enum { B = 2048 };
  uint64_t *h = sn_calloc(B, sizeof(uint64_t));
  char msg[160];
  /* 200k samples of |N(0,1)| plus 20 outliers at 100: the max is 100, the bulk ends near 5 */
  double amax = 100.0;
  for (int i = 0; i < 200000; i++) {
    int b = (int)(fabs(gauss()) / amax * B);
    h[b >= B ? B - 1 : b]++;
  }
  h[B - 1] += 20;
  double t = sn_quant_entropy_threshold(h, B, amax, 128);
  snprintf(msg, sizeof msg, "gaussian + outliers: threshold %.3g in [2.5, 15]", t);
  check(t >= 2.5 && t <= 15.0, msg);
  double t256 = sn_quant_entropy_threshold(h, B, amax, 256);
  snprintf(msg, sizeof msg, "256 levels clip no tighter than 128 (%.3g vs %.3g), still below 20", t256, t);
  check(t256 >= t * 0.8 && t256 < 20.0, msg);
  /* flat: every bin holds the same mass, nothing to gain by clipping */
  for (int b = 0; b < B; b++) h[b] = 1000;
  t = sn_quant_entropy_threshold(h, B, 8.0, 128);
  snprintf(msg, sizeof msg, "flat histogram: threshold %.4g ~ max 8", t);
  check(t >= 7.5 && t <= 8.0, msg);
  /* degenerate: empty histogram, zero range, fewer bins than levels */
  memset(h, 0, B * sizeof(uint64_t));
  check(sn_quant_entropy_threshold(h, B, 3.0, 128) == 3.0, "empty histogram returns the max");
  h[5] = 10;
  check(sn_quant_entropy_threshold(h, B, 0.0, 128) == 0.0, "zero range returns it");
  check(sn_quant_entropy_threshold(h, 64, 3.0, 128) == 3.0, "fewer bins than levels returns the max");
  t = sn_quant_entropy_threshold(h, B, 3.0, 128);
  check(t > 0.0 && t <= 3.0, "one occupied bin: a threshold in (0, max]");
  sn_free(h);
}

/* ---- a hand-built opset-11 model ---- */

static int value(sn_graph *g, const char *name) {
  int id = -1;
  sn_error *e = sn_graph_add_value(g, name, &id);
  if (e) {
    sn_error_free(e);
    return -1;
  }
  return id;
}

static int node(sn_graph *g, const char *op, const char *name, int n_in, const int *in, int out) {
  int idx;
  sn_error *e = sn_graph_add_node(g, &idx);
  if (e) {
    sn_error_free(e);
    return -1;
  }
  sn_node *n = &g->nodes[idx];
  n->name = sn_strdup(name);
  n->op_type = sn_strdup(op);
  n->domain = sn_strdup("");
  n->in = sn_malloc(sizeof(int) * (size_t)(n_in ? n_in : 1));
  n->out = sn_malloc(sizeof(int));
  memcpy(n->in, in, sizeof(int) * (size_t)n_in);
  n->n_in = n_in;
  n->out[0] = out;
  n->n_out = 1;
  n->opset = (int)sn_model_opset(g->model, "");
  return idx;
}

static void set_ints(sn_node *n, const char *name, int cnt, const int64_t *v) {
  n->attrs = sn_realloc(n->attrs, sizeof(sn_attr) * (size_t)(n->n_attrs + 1));
  sn_attr *a = &n->attrs[n->n_attrs++];
  memset(a, 0, sizeof *a);
  a->name = sn_strdup(name);
  a->type = SN_ATTR_INTS;
  a->n = cnt;
  a->ints = sn_malloc(sizeof(int64_t) * (size_t)cnt);
  memcpy(a->ints, v, sizeof(int64_t) * (size_t)cnt);
}

static sn_model *make_model(int opset, const char *odd_op) {
  sn_model *m = sn_model_new();
  m->ir_version = 6;
  m->n_opsets = 1;
  m->opsets = sn_calloc(1, sizeof(sn_opset));
  m->opsets[0].domain = sn_strdup("");
  m->opsets[0].version = opset;
  sn_graph *g = sn_graph_new(m, NULL, "g");
  m->graph = g;
  int x = value(g, "x"), s = value(g, "s"), y = value(g, "y"), z = value(g, "z");
  g->values[x].role = SN_VAL_INPUT;
  g->inputs = sn_malloc(sizeof(int));
  g->inputs[0] = x;
  g->n_inputs = 1;
  int64_t ax = 2;
  int sq = node(g, "Squeeze", "sq", 1, &x, s);
  set_ints(&g->nodes[sq], "axes", 1, &ax);
  int sm = node(g, odd_op ? odd_op : "Softmax", "sm", 1, &s, y);
  sn_error *e = sn_node_set_int(&g->nodes[sm], "axis", 1);
  if (e) sn_error_free(e);
  node(g, "Relu", "relu", 1, &y, z);
  g->values[z].is_output = true;
  g->outputs = sn_malloc(sizeof(int));
  g->outputs[0] = z;
  g->n_outputs = 1;
  sn_graph_update_producers(g);
  return m;
}

static const sn_node *find_op(const sn_graph *g, const char *op) {
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].op_type && !strcmp(g->nodes[i].op_type, op)) return &g->nodes[i];
  return NULL;
}

static void test_upgrade(void) {
  sn_model *m = make_model(11, NULL);
  int changed = -1;
  sn_error *e = sn_quant_upgrade_opset13(m, NULL, &changed);
  check(!e, e ? e->msg : "opset-11 model upgraded");
  if (e) sn_error_free(e);
  sn_graph *g = m->graph;
  check(sn_model_opset(m, "") == 13 && m->ir_version >= 7, "model imports opset 13, IR >= 7");
  check(changed == 2, "two nodes rewritten (Squeeze, Softmax)");
  const sn_node *sq = find_op(g, "Squeeze");
  const sn_tensor *axes = sq && sq->n_in == 2 ? sn_graph_const(g, sq->in[1]) : NULL;
  check(sq && !sn_node_attr(sq, "axes") && axes && axes->dtype == SINTER_INT64 && axes->count == 1 &&
            ((const int64_t *)axes->data)[0] == 2,
        "Squeeze axes attribute -> int64 input [2]");
  const sn_node *fl = find_op(g, "Flatten"), *sm = find_op(g, "Softmax"), *rs = find_op(g, "Reshape"),
                *sh = find_op(g, "Shape");
  bool chain = fl && sm && rs && sh && sn_attr_int(fl, "axis", 0) == 1 && sm->in[0] == fl->out[0] &&
               sn_attr_int(sm, "axis", -5) == 1 && rs->in[0] == sm->out[0] && rs->in[1] == sh->out[0] &&
               !strcmp(g->values[rs->out[0]].name, "y") && !strcmp(g->values[fl->in[0]].name, "s");
  check(chain, "Softmax(axis=1), rank unknown -> Flatten(1) -> Softmax(1) -> Reshape(Shape(s)) into y");
  bool all13 = true, order = true;
  for (int i = 0; i < g->n_nodes; i++) {
    all13 &= g->nodes[i].opset == 13;
    for (int k = 0; k < g->nodes[i].n_in; k++) {
      int v = g->nodes[i].in[k];
      if (v >= 0 && g->values[v].producer >= i) order = false;
    }
  }
  check(all13 && order, "every node at opset 13, in topological order");
  sn_model_free(m);

  m = make_model(11, "ImageScaler");
  e = sn_quant_upgrade_opset13(m, NULL, &changed);
  check(e && strstr(e->msg, "ImageScaler") && strstr(e->msg, "opset 13"),
        e ? e->msg : "an op it does not convert is refused");
  if (e) sn_error_free(e);
  sn_model_free(m);

  m = make_model(9, NULL);
  e = sn_quant_upgrade_opset13(m, NULL, &changed);
  check(e && strstr(e->msg, "opset 9"), e ? e->msg : "opset 9 is refused");
  if (e) sn_error_free(e);
  sn_model_free(m);
}

int main(void) {
  test_entropy();
  test_upgrade();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
