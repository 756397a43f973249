/* The memory planner on synthetic graphs: values alive at the same time never share bytes, values
 * whose lifetimes do not overlap do share, in-place chains share one block, graph outputs and
 * values of unknown size stay out of the arena, and the release lists free each value right after
 * its last reader. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/op.h"
#include "plan/plan.h"
#include "check.h"

static const sn_op inplace_op = {"", "Relu", 1, 0, NULL, NULL, NULL, NULL, SN_OP_INPLACE};
static const sn_op plain_op = {"", "Conv", 1, 0, NULL, NULL, NULL, NULL, 0};

static int value(sn_graph *g, const char *name, int64_t elems) {
  int id;
  sn_error *e = sn_graph_add_value(g, name, &id);
  if (e) {
    sn_error_free(e);
    return -1;
  }
  sn_type_set_static(&g->values[id].type, SINTER_FLOAT, 1, &elems);
  return id;
}

static void node(sn_graph *g, const sn_op *op, int n_in, const int *in, int out) {
  int idx;
  sn_error *e = sn_graph_add_node(g, &idx);
  if (e) {
    sn_error_free(e);
    return;
  }
  sn_node *n = &g->nodes[idx];
  n->op_type = sn_strdup(op->op_type);
  n->domain = sn_strdup("");
  n->op = op;
  n->n_in = n_in;
  n->in = sn_malloc(sizeof(int) * (size_t)n_in);
  memcpy(n->in, in, sizeof(int) * (size_t)n_in);
  n->n_out = 1;
  n->out = sn_malloc(sizeof(int));
  n->out[0] = out;
}

static bool overlap(const sn_plan *p, int a, int b) {
  int64_t a0 = p->offset[a], a1 = a0 + (int64_t)p->bytes[a], b0 = p->offset[b], b1 = b0 + (int64_t)p->bytes[b];
  return a0 < b1 && b0 < a1;
}

static bool alive_together(const sn_plan *p, int a, int b) {
  return !(p->last_step[a] < p->first_step[b] || p->last_step[b] < p->first_step[a]);
}

static const sn_op concat_op = {"", "Concat", 4, 0, NULL, NULL, NULL, NULL, 0};

static sn_plan *plan_of(sn_graph *g, int out) {
  g->values[out].is_output = true;
  g->outputs = sn_malloc(sizeof(int));
  g->outputs[0] = out;
  g->n_outputs = 1;
  sn_graph_update_producers(g);
  sn_type *types = sn_malloc(sizeof(sn_type) * (size_t)g->n_values);
  for (int v = 0; v < g->n_values; v++) types[v] = g->values[v].type;
  sn_plan *p = NULL;
  sn_error *err = sn_plan_build(g, types, &p);
  if (err) sn_error_free(err);
  return p;
}

/* Concat in place (axis 0 of 1-D values: nothing before the axis): inputs that die at the Concat
 * are placed inside its output, an in-place chain moving with its input; an input read after the
 * Concat, one given twice, or one whose slice would start off an SN_ALIGN boundary is copied. */
static void concat_cases(void) {
  sn_model *m = sn_model_new();
  sn_graph *g = sn_graph_new(m, NULL, "concat");
  m->graph = g;
  int x = value(g, "x", 100);
  g->values[x].role = SN_VAL_INPUT;
  int a = value(g, "a", 32), b = value(g, "b", 48), r = value(g, "r", 48), y = value(g, "y", 80), z = value(g, "z", 80);
  int k = value(g, "k", 16), y2 = value(g, "y2", 96), t = value(g, "t", 96);
  int o1 = value(g, "o1", 3), o2 = value(g, "o2", 5), y3 = value(g, "y3", 8), y4 = value(g, "y4", 32);
  int q = value(g, "q", 16), w = value(g, "w", 10);
  node(g, &plain_op, 1, (int[]){x}, a);           /* 0 */
  node(g, &plain_op, 1, (int[]){x}, b);           /* 1 */
  node(g, &inplace_op, 1, (int[]){b}, r);         /* 2: r over b */
  node(g, &concat_op, 2, (int[]){a, r}, y);       /* 3: a, r (with b) inside y */
  node(g, &inplace_op, 1, (int[]){y}, z);         /* 4: z over y */
  node(g, &plain_op, 1, (int[]){x}, k);           /* 5 */
  node(g, &concat_op, 2, (int[]){z, k}, y2);      /* 6: k is read again at step 8: copied */
  node(g, &inplace_op, 1, (int[]){y2}, t);        /* 7: t over y2 (would clobber k) */
  node(g, &plain_op, 2, (int[]){t, k}, o1);       /* 8 */
  node(g, &plain_op, 1, (int[]){o1}, o2);         /* 9 */
  node(g, &concat_op, 2, (int[]){o1, o2}, y3);    /* 10: o2's slice would start at byte 12 */
  node(g, &plain_op, 1, (int[]){x}, q);           /* 11 */
  node(g, &concat_op, 2, (int[]){q, q}, y4);      /* 12: the same input twice: copied */
  node(g, &plain_op, 2, (int[]){y3, y4}, w);      /* 13 */
  g->inputs = sn_malloc(sizeof(int));
  g->inputs[0] = x;
  g->n_inputs = 1;
  sn_plan *p = plan_of(g, w);
  CHECK(p != NULL, "concat plan built");
  if (!p) return;
  CHECK(p->offset[a] == p->offset[y], "a at the start of y (a %lld, y %lld)", (long long)p->offset[a], (long long)p->offset[y]);
  CHECK(p->offset[r] == p->offset[y] + 128 && p->offset[b] == p->offset[r], "r and b right after a inside y");
  CHECK(p->offset[z] == p->offset[y], "z in place over y");
  CHECK(p->offset[k] < p->offset[y2] || p->offset[k] >= p->offset[y2] + (int64_t)p->bytes[y2],
        "k, read after its Concat, is not inside the output");
  CHECK(p->offset[o2] < p->offset[y3] || p->offset[o2] >= p->offset[y3] + (int64_t)p->bytes[y3],
        "a slice off the alignment is not placed inside the output");
  CHECK(p->offset[q] < p->offset[y4] || p->offset[q] >= p->offset[y4] + (int64_t)p->bytes[y4],
        "an input given twice is not placed inside the output");
  /* y2: k is read after it, so none of its inputs moves (z's block stays where it is) */
  CHECK(p->n_concat_inputs == 2, "two Concat inputs placed (got %d)", p->n_concat_inputs);
  /* no two values alive together share bytes, except members of one block */
  int all[] = {a, b, r, y, z, k, y2, t, o1, o2, y3, y4, q};
  for (int i = 0; i < 13; i++)
    for (int j = i + 1; j < 13; j++) {
      int vi = all[i], vj = all[j];
      bool group = (vi == a || vi == b || vi == r || vi == y || vi == z) && (vj == a || vj == b || vj == r || vj == y || vj == z);
      group |= (vi == y2 && vj == t) || (vi == t && vj == y2);
      if (p->offset[vi] >= 0 && p->offset[vj] >= 0 && alive_together(p, vi, vj) && !group)
        CHECK(!overlap(p, vi, vj), "values %s and %s are alive together but share bytes", g->values[vi].name,
              g->values[vj].name);
    }
  sn_plan_free(p);
  sn_model_free(m);
}

/* DenseNet's dense block: every layer concatenates the block's input and all feature maps so far, each
 * Concat's inputs the first ones of the next. The last Concat takes every input into its block, the
 * earlier ones are the slices those span (nothing copied), and the Relu reading each earlier Concat
 * does not write over it (the maps there are read again); no two values alive together share bytes
 * unless the dense block's layout makes them the same data. */
static void dense_block_case(void) {
  sn_model *m = sn_model_new();
  sn_graph *g = sn_graph_new(m, NULL, "dense");
  m->graph = g;
  int x = value(g, "x", 64);
  g->values[x].role = SN_VAL_INPUT;
  int i0 = value(g, "i0", 32), n1 = value(g, "n1", 16), c1 = value(g, "c1", 48), r1 = value(g, "r1", 48);
  int n2 = value(g, "n2", 16), c2 = value(g, "c2", 64), r2 = value(g, "r2", 64), n3 = value(g, "n3", 16);
  int c3 = value(g, "c3", 80), w = value(g, "w", 10);
  node(g, &plain_op, 1, (int[]){x}, i0);                 /* 0 */
  node(g, &plain_op, 1, (int[]){i0}, n1);                /* 1 */
  node(g, &concat_op, 2, (int[]){i0, n1}, c1);           /* 2 */
  node(g, &inplace_op, 1, (int[]){c1}, r1);              /* 3: not over c1 */
  node(g, &plain_op, 1, (int[]){r1}, n2);                /* 4 */
  node(g, &concat_op, 3, (int[]){i0, n1, n2}, c2);       /* 5 */
  node(g, &inplace_op, 1, (int[]){c2}, r2);              /* 6: not over c2 */
  node(g, &plain_op, 1, (int[]){r2}, n3);                /* 7 */
  node(g, &concat_op, 4, (int[]){i0, n1, n2, n3}, c3);   /* 8 */
  node(g, &plain_op, 1, (int[]){c3}, w);                 /* 9 */
  g->inputs = sn_malloc(sizeof(int));
  g->inputs[0] = x;
  g->n_inputs = 1;
  sn_plan *p = plan_of(g, w);
  CHECK(p != NULL, "dense block plan built");
  if (!p) return;
  const int64_t o = p->offset[c3];
  CHECK(p->offset[i0] == o && p->offset[n1] == o + 128 && p->offset[n2] == o + 192 && p->offset[n3] == o + 256,
        "the block's input and maps one after another inside the last Concat (i0 %lld, n1 %lld, n2 %lld, n3 %lld, c3 %lld)",
        (long long)p->offset[i0], (long long)p->offset[n1], (long long)p->offset[n2], (long long)p->offset[n3],
        (long long)o);
  CHECK(p->offset[c1] == o && p->offset[c2] == o, "the earlier Concats are its leading slices");
  CHECK(p->n_concat_inputs == 9, "every Concat input placed (got %d)", p->n_concat_inputs);
  CHECK(p->n_inplace == 0, "no Relu over a Concat that a later one extends (got %d in place)", p->n_inplace);
  int all[] = {i0, n1, c1, r1, n2, c2, r2, n3, c3, w};
  for (int i = 0; i < 10; i++)
    for (int j = i + 1; j < 10; j++) {
      int vi = all[i], vj = all[j];
      bool block = vi != r1 && vi != r2 && vi != w && vj != r1 && vj != r2 && vj != w;
      if (p->offset[vi] >= 0 && p->offset[vj] >= 0 && alive_together(p, vi, vj) && !block)
        CHECK(!overlap(p, vi, vj), "values %s and %s are alive together but share bytes", g->values[vi].name,
              g->values[vj].name);
    }
  sn_plan_free(p);
  sn_model_free(m);
}

int main(void) {
  concat_cases();
  dense_block_case();
  sn_model *m = sn_model_new();
  sn_graph *g = sn_graph_new(m, NULL, "g");
  m->graph = g;
  /* x -> a(1000) -> b(1000) -> c(10) ; a,b -> d = f(a, c) ... a long-lived skip connection */
  int x = value(g, "x", 100);
  g->values[x].role = SN_VAL_INPUT;
  int a = value(g, "a", 1000), b = value(g, "b", 1000), c = value(g, "c", 10), d = value(g, "d", 1000);
  int e = value(g, "e", 1000), f = value(g, "f", 1000), y = value(g, "y", 1000), u = value(g, "u", 7);
  node(g, &plain_op, 1, (int[]){x}, a);     /* 0: a = conv(x) */
  node(g, &plain_op, 1, (int[]){a}, b);     /* 1: b = conv(a) */
  node(g, &plain_op, 1, (int[]){b}, c);     /* 2: c = conv(b)     b dies */
  node(g, &plain_op, 2, (int[]){a, c}, d);  /* 3: d = conv(a, c)  a, c die */
  node(g, &inplace_op, 1, (int[]){d}, e);   /* 4: e = relu(d)     in place over d */
  node(g, &inplace_op, 1, (int[]){e}, f);   /* 5: f = relu(e)     in place over e */
  node(g, &plain_op, 2, (int[]){f, x}, y);  /* 6: y = conv(f, x)  graph output */
  g->values[y].is_output = true;
  g->outputs = sn_malloc(sizeof(int));
  g->outputs[0] = y;
  g->n_outputs = 1;
  g->inputs = sn_malloc(sizeof(int));
  g->inputs[0] = x;
  g->n_inputs = 1;
  (void)u; /* never produced: stays out of the plan */
  sn_graph_update_producers(g);

  sn_type *types = sn_malloc(sizeof(sn_type) * (size_t)g->n_values);
  for (int v = 0; v < g->n_values; v++) types[v] = g->values[v].type;
  sn_plan *p = NULL;
  sn_error *err = sn_plan_build(g, types, &p);
  CHECK(!err && p, "plan built");
  if (!p) return 1;

  int planned[] = {a, b, c, d, e, f};
  for (int i = 0; i < 6; i++) CHECK(p->offset[planned[i]] >= 0, "value %d placed", planned[i]);
  CHECK(p->offset[y] < 0, "the graph output is not in the arena");
  CHECK(p->offset[x] < 0, "the graph input is not in the arena");
  CHECK(p->offset[u] < 0, "a value nobody produces is not in the arena");
  for (int i = 0; i < 6; i++)
    for (int j = i + 1; j < 6; j++) {
      int vi = planned[i], vj = planned[j];
      bool same_block = p->offset[vi] == p->offset[vj] && ((vi == d || vi == e || vi == f) && (vj == d || vj == e || vj == f));
      if (alive_together(p, vi, vj) && !same_block)
        CHECK(!overlap(p, vi, vj), "values %s and %s are alive together but share bytes", g->values[vi].name,
              g->values[vj].name);
    }
  CHECK(p->offset[d] == p->offset[e] && p->offset[e] == p->offset[f], "d, e, f run in place in one block");
  CHECK(p->n_inplace == 2, "two in-place steps (got %d)", p->n_inplace);
  /* b dies at step 2 and d is born at step 3: d's block can reuse b's bytes */
  CHECK(p->offset[d] == p->offset[b], "d reuses b's bytes (d at %lld, b at %lld)", (long long)p->offset[d],
        (long long)p->offset[b]);
  /* the arena holds at most two 1000-float blocks plus the small one (a and b, then a and d) */
  size_t block = (4000 + SN_PAD + SN_ALIGN - 1) / SN_ALIGN * SN_ALIGN;
  CHECK(p->arena_size <= 2 * block + (40 + SN_PAD + SN_ALIGN - 1) / SN_ALIGN * SN_ALIGN, "arena %zu bytes",
        p->arena_size);
  CHECK(p->naive_size > p->arena_size, "naive sum %zu > arena %zu", p->naive_size, p->arena_size);
  /* release lists: each intermediate released exactly once, after its last reader */
  int released[16] = {0};
  for (int i = 0; i < g->n_nodes; i++)
    for (int r = p->release_start[i]; r < p->release_start[i + 1]; r++) {
      int v = p->release_list[r];
      released[v]++;
      CHECK(p->last_step[v] == i, "%s released at step %d, last read at %d", g->values[v].name, i, p->last_step[v]);
    }
  for (int i = 0; i < 6; i++) CHECK(released[planned[i]] == 1, "%s released once", g->values[planned[i]].name);
  CHECK(released[y] == 0, "the graph output is never released");

  sn_plan_free(p);
  sn_model_free(m);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
