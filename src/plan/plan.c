/* Liveness and greedy arena placement (see plan.h). */
#include "plan/plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/op.h"

void sn_plan_free(sn_plan *p) {
  if (!p) return;
  sn_free(p->types);
  sn_free(p->offset);
  sn_free(p->bytes);
  sn_free(p->first_step);
  sn_free(p->last_step);
  sn_free(p->release_start);
  sn_free(p->release_list);
  sn_free(p);
}

typedef struct {
  int v;
  size_t bytes;
  int first, last;
} rec;

static int by_size_desc(const void *a, const void *b) {
  const rec *x = a, *y = b;
  if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
  return x->v - y->v;
}

static int by_offset(const void *a, const void *b) {
  const int64_t *x = a, *y = b;
  return (x[0] > y[0]) - (x[0] < y[0]);
}

static size_t align_up(size_t n) { return (n + SN_ALIGN - 1) / SN_ALIGN * SN_ALIGN; }

/* Is node i a Concat (of the default domain) whose inputs, in order, are the first inputs of a later
 * Concat on the same axis? (torchvision's DenseNet concatenates, layer after layer, the block's input
 * and every feature map made so far.) */
static bool concat_is_prefix(const sn_graph *g, int i) {
  const sn_node *a = &g->nodes[i];
  if (!a->op || strcmp(a->op->op_type, "Concat") != 0 || a->op->domain[0] || a->n_in < 1) return false;
  for (int j = i + 1; j < g->n_nodes; j++) {
    const sn_node *b = &g->nodes[j];
    if (!b->op || strcmp(b->op->op_type, "Concat") != 0 || b->op->domain[0] || b->n_in <= a->n_in ||
        sn_attr_int(b, "axis", 0) != sn_attr_int(a, "axis", 0))
      continue;
    bool same = true;
    for (int k = 0; k < a->n_in && same; k++) same = a->in[k] == b->in[k];
    if (same) return true;
  }
  return false;
}

/* Concatenation in place: where the concatenated axis has only 1s before it (a batch-1 NCHWc channel
 * concatenation), each input is one contiguous slice of the output. Concats are taken last to first,
 * each in one of two ways, after which Concat finds its inputs already where it would copy them:
 *  - its inputs move into its output's block: each input's group (the value and what was written in
 *    place over it) is placed at its slice's offset, where every input is a planned group of its own
 *    that dies at the Concat (so nothing written in place over the output later can clobber a value
 *    still read), appears once and fills its whole group block. The output may itself sit inside a
 *    later concatenation's block (an input of it), and its inputs then go there.
 *  - its output joins its inputs: where those already lie one after another in one block (placed by a
 *    later Concat that reads them all: DenseNet's, whose block input and feature maps are then written
 *    once, where the block's last concatenation holds them), the output is the slice they span, if it
 *    is alone in its group (nothing written in place over it, which would overwrite values still read).
 * Slices start on SN_ALIGN boundaries. solo[v]: v's group is v alone. Returns the inputs placed. */
static int concat_in_place(const sn_graph *g, const sn_type *types, sn_plan *p, int i, int *root, int64_t *delta,
                           const bool *solo) {
  const sn_node *n = &g->nodes[i];
  if (!n->op || strcmp(n->op->op_type, "Concat") != 0 || n->op->domain[0] || n->n_in < 2 || n->n_out < 1) return 0;
  int y = n->out[0];
  if (y < 0 || root[y] < 0) return 0;
  const sn_type *ty = &types[y];
  int64_t yd[SN_MAX_RANK], axis = sn_attr_int(n, "axis", 0);
  sn_type_dims(ty, yd);
  if (axis < 0) axis += ty->rank;
  if (axis < 0 || axis >= ty->rank) return 0;
  for (int k = 0; k < axis; k++)
    if (yd[k] != 1) return 0;
  /* the output joins its inputs' block */
  const int x0 = n->in[0];
  if (x0 >= 0 && root[x0] >= 0 && root[y] == y && solo[y] && root[x0] != y && delta[x0] % SN_ALIGN == 0) {
    int64_t at = delta[x0];
    bool ok = true;
    for (int k = 0; k < n->n_in && ok; k++) {
      int x = n->in[k];
      ok = x >= 0 && root[x] == root[x0] && delta[x] == at;
      if (ok) at += (int64_t)p->bytes[x];
    }
    if (ok && at - delta[x0] == (int64_t)p->bytes[y]) {
      root[y] = root[x0];
      delta[y] = delta[x0];
      return n->n_in;
    }
  }
  /* the inputs move into the output's block (which may lie inside another's) */
  const int R = root[y];
  const int64_t base = delta[y];
  size_t off = 0;
  for (int k = 0; k < n->n_in; k++) {
    int x = n->in[k];
    if (x < 0 || root[x] < 0 || root[x] == R || p->bytes[root[x]] != p->bytes[x] || delta[x] != 0 ||
        (base + (int64_t)off) % SN_ALIGN)
      return 0;
    for (int j = 0; j < k; j++)
      if (root[n->in[j]] == root[x]) return 0; /* an input (or its group) twice */
    for (int v = 0; v < g->n_values; v++)
      if (root[v] == root[x] && p->last_step[v] > i) return 0;
    off += p->bytes[x];
  }
  if (off != p->bytes[y]) return 0;
  off = 0;
  for (int k = 0; k < n->n_in; k++) {
    int x = n->in[k], r = root[x];
    for (int v = 0; v < g->n_values; v++)
      if (root[v] == r) { /* (an input that is itself a concatenation in place keeps its inputs inside it) */
        root[v] = R;
        delta[v] += base + (int64_t)off;
      }
    off += p->bytes[x];
  }
  return n->n_in;
}

sn_error *sn_plan_build(const sn_graph *g, sn_type *types, sn_plan **out) {
  *out = NULL;
  int nv = g->n_values, nn = g->n_nodes;
  size_t nvs = (size_t)(nv ? nv : 1);
  sn_plan *p = sn_calloc(1, sizeof *p);
  if (!p) {
    sn_free(types);
    return SN_ERR_OOM();
  }
  p->g = g;
  p->n_values = nv;
  p->types = types;
  p->offset = sn_malloc(sizeof(int64_t) * nvs);
  p->bytes = sn_calloc(nvs, sizeof(size_t));
  p->first_step = sn_malloc(sizeof(int) * nvs);
  p->last_step = sn_malloc(sizeof(int) * nvs);
  p->release_start = sn_calloc((size_t)nn + 2, sizeof(int));
  rec *recs = NULL;
  int64_t *live = NULL;
  int *root = NULL;
  int64_t *delta = NULL; /* byte offset of a value inside its root's block (concatenation inputs) */
  if (!p->offset || !p->bytes || !p->first_step || !p->last_step || !p->release_start) goto oom;
  for (int v = 0; v < nv; v++) {
    p->offset[v] = -1;
    p->first_step[v] = -1;
    p->last_step[v] = -1;
  }
  for (int i = 0; i < nn; i++) {
    const sn_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_in + n->n_captures; k++) {
      int v = k < n->n_in ? n->in[k] : n->captures[k - n->n_in];
      if (v >= 0 && p->last_step[v] < i) p->last_step[v] = i;
    }
    for (int o = 0; o < n->n_out; o++) {
      int v = n->out[o];
      if (v < 0) continue;
      p->first_step[v] = i;
      if (p->last_step[v] < i) p->last_step[v] = i; /* unused outputs die where they are born */
    }
  }
  for (int k = 0; k < g->n_outputs; k++) p->last_step[g->outputs[k]] = nn;
  /* release lists: values produced by a step (or graph inputs) that die at step i */
  for (int v = 0; v < nv; v++)
    if (g->values[v].role == SN_VAL_INTERMEDIATE && p->last_step[v] >= 0 && p->last_step[v] < nn)
      p->release_start[p->last_step[v] + 1]++;
  for (int i = 0; i < nn + 1; i++) p->release_start[i + 1] += p->release_start[i];
  p->release_list = sn_malloc(sizeof(int) * (size_t)(p->release_start[nn + 1] + 1));
  if (!p->release_list) goto oom;
  {
    int *fill = sn_malloc(sizeof(int) * (size_t)(nn + 1));
    if (!fill) goto oom;
    memcpy(fill, p->release_start, sizeof(int) * (size_t)(nn + 1));
    for (int v = 0; v < nv; v++)
      if (g->values[v].role == SN_VAL_INTERMEDIATE && p->last_step[v] >= 0 && p->last_step[v] < nn)
        p->release_list[fill[p->last_step[v]]++] = v;
    sn_free(fill);
  }
  if (!types) {
    *out = p;
    return NULL;
  }
  /* arena candidates: intermediate dense tensors of known size, not graph outputs */
  recs = sn_malloc(sizeof(rec) * nvs);
  live = sn_malloc(sizeof(int64_t) * 2 * nvs);
  root = sn_malloc(sizeof(int) * nvs);
  delta = sn_calloc(nvs, sizeof(int64_t));
  if (!recs || !live || !root || !delta) goto oom;
  for (int v = 0; v < nv; v++) {
    const sn_value *val = &g->values[v];
    const sn_type *t = &types[v];
    root[v] = -1;
    if (val->role != SN_VAL_INTERMEDIATE || val->is_output || p->first_step[v] < 0) continue;
    if (t->kind != SN_KIND_TENSOR || !sn_dtype_valid(t->dtype) || t->dtype == SINTER_STRING || !sn_type_is_static(t))
      continue;
    int64_t dims[SN_MAX_RANK];
    sn_type_dims(t, dims);
    int64_t cnt = sn_shape_count(t->rank, dims);
    if (cnt < 0) continue;
    p->bytes[v] = (size_t)cnt * sn_dtype_size(t->dtype);
    p->naive_size += align_up(p->bytes[v] + SN_PAD);
    root[v] = v;
  }
  /* in-place: an op's output takes its first input's memory when the input dies there and the
   * sizes match; the pair (and chains of them) is placed as one block living over the union */
  for (int i = 0; i < nn; i++) {
    const sn_node *n = &g->nodes[i];
    if (!n->op || !(n->op->flags & SN_OP_INPLACE) || n->n_in < 1 || n->n_out < 1) continue;
    int x = n->in[0], y = n->out[0];
    if (x < 0 || y < 0 || root[x] < 0 || root[y] != y || p->last_step[x] != i || p->bytes[x] != p->bytes[y]) continue;
    /* (not over a concatenation that a later one extends: it may share that one's block) */
    if (p->first_step[x] >= 0 && concat_is_prefix(g, p->first_step[x])) continue;
    bool read_twice = false;
    for (int k = 1; k < n->n_in; k++) read_twice |= n->in[k] == x;
    if (read_twice) continue;
    root[y] = root[x];
    p->n_inplace++;
  }
  {
    bool *solo = sn_malloc(sizeof(bool) * nvs);
    if (!solo) goto oom;
    for (int v = 0; v < nv; v++) solo[v] = root[v] == v;
    for (int v = 0; v < nv; v++)
      if (root[v] >= 0 && root[v] != v) solo[root[v]] = false;
    for (int i = nn - 1; i >= 0; i--) p->n_concat_inputs += concat_in_place(g, types, p, i, root, delta, solo);
    sn_free(solo);
  }
  int nr = 0;
  for (int v = 0; v < nv; v++) {
    if (root[v] != v) continue;
    recs[nr++] = (rec){v, p->bytes[v], p->first_step[v], p->last_step[v]};
  }
  /* a group lives from its first member's birth until its last member dies (members come after their
   * root in value order is not guaranteed, so look the root's record up through a reverse index) */
  for (int r = 0; r < nr; r++) live[recs[r].v] = r; /* live[] is free until placement */
  for (int v = 0; v < nv; v++) {
    if (root[v] < 0 || root[v] == v) continue;
    rec *rr = &recs[live[root[v]]];
    if (p->last_step[v] > rr->last) rr->last = p->last_step[v];
    if (p->first_step[v] < rr->first) rr->first = p->first_step[v];
  }
  qsort(recs, (size_t)nr, sizeof(rec), by_size_desc);
  /* place each in the lowest gap among already-placed values whose lifetimes overlap */
  for (int r = 0; r < nr; r++) {
    size_t need = align_up(recs[r].bytes + SN_PAD);
    int nl = 0;
    for (int q = 0; q < r; q++) {
      if (recs[q].last < recs[r].first || recs[r].last < recs[q].first) continue;
      int v = recs[q].v;
      live[2 * nl] = p->offset[v];
      live[2 * nl + 1] = p->offset[v] + (int64_t)align_up(recs[q].bytes + SN_PAD);
      nl++;
    }
    qsort(live, (size_t)nl, 2 * sizeof(int64_t), by_offset);
    int64_t at = 0;
    for (int k = 0; k < nl; k++) {
      if (live[2 * k] - at >= (int64_t)need) break;
      if (live[2 * k + 1] > at) at = live[2 * k + 1];
    }
    p->offset[recs[r].v] = at;
    if ((size_t)at + need > p->arena_size) p->arena_size = (size_t)at + need;
  }
  for (int v = 0; v < nv; v++)
    if (root[v] >= 0 && root[v] != v) p->offset[v] = p->offset[root[v]] + delta[v];
  for (int v = 0; v < nv; v++) p->n_planned += root[v] >= 0;
  sn_free(recs);
  sn_free(live);
  sn_free(root);
  sn_free(delta);
  *out = p;
  return NULL;
oom:
  sn_free(recs);
  sn_free(live);
  sn_free(root);
  sn_free(delta);
  sn_plan_free(p);
  return SN_ERR_OOM();
}
