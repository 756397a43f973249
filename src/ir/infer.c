/* Shape inference driver (see infer.h). */
#include "ir/infer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

sn_error *sn_infer_error(const sn_infer_ctx *c, const char *fmt, ...) {
  char msg[1024], desc[512], shapes[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t k = 0;
  shapes[0] = 0;
  for (int i = 0; i < c->n_in && k < sizeof shapes - 64; i++) {
    char t[256];
    if (c->in[i])
      k += (size_t)snprintf(shapes + k, sizeof shapes - k, "%s%s", i ? ", " : "", sn_type_str(c->in[i], t, sizeof t));
    else
      k += (size_t)snprintf(shapes + k, sizeof shapes - k, "%s-", i ? ", " : "");
  }
  return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: %s (inputs: %s)", sn_node_desc(c->node, desc, sizeof desc), msg,
                   shapes);
}

sn_error *sn_infer_broadcast(const sn_infer_ctx *c, const sn_type *a, const sn_type *b, sn_type *out) {
  sn_dtype dt = a->dtype ? a->dtype : b->dtype;
  if (a->rank < 0 || b->rank < 0) {
    sn_type_set_unknown(out, dt);
    return NULL;
  }
  int r = a->rank > b->rank ? a->rank : b->rank;
  sn_dim d[SN_MAX_RANK];
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a->rank), ib = i - (r - b->rank);
    sn_dim x = ia >= 0 ? a->dims[ia] : sn_dim_known(1);
    sn_dim y = ib >= 0 ? b->dims[ib] : sn_dim_known(1);
    if (x.v == 1)
      d[i] = y;
    else if (y.v == 1)
      d[i] = x;
    else if (x.v >= 0 && y.v >= 0) {
      if (x.v != y.v) return sn_infer_error(c, "shapes cannot be broadcast: dimension %d is %lld vs %lld", i,
                                            (long long)x.v, (long long)y.v);
      d[i] = x;
    } else if (x.v >= 0)
      d[i] = x; /* the unknown one must be 1 or equal */
    else if (y.v >= 0)
      d[i] = y;
    else if (sn_dim_same(x, y))
      d[i] = x;
    else
      d[i] = sn_dim_unknown();
  }
  sn_type_set(out, dt, r, d);
  return NULL;
}

/* Fill unknown parts of t from the declared type; keep what inference found. */
static void merge_declared(sn_type *t, const sn_type *decl) {
  if (decl->kind != t->kind) return;
  if (!t->dtype) t->dtype = decl->dtype;
  if (decl->rank < 0) return;
  if (t->rank < 0) {
    int kind = t->kind, ek = t->elem_kind;
    sn_dtype dt = t->dtype;
    *t = *decl;
    t->kind = (uint8_t)kind;
    t->elem_kind = (uint8_t)ek;
    t->dtype = dt;
    return;
  }
  if (t->rank != decl->rank) return;
  for (int i = 0; i < t->rank; i++)
    if (t->dims[i].v < 0 && (decl->dims[i].v >= 0 || (!t->dims[i].sym && decl->dims[i].sym))) t->dims[i] = decl->dims[i];
}

static int64_t known_elems(const sn_tensor *t) {
  if (!t) return 0;
  if (t->kind != SN_KIND_TENSOR) return INT64_MAX / 4;
  return t->count;
}

/* the per-node argument arrays of sn_infer_graph, `width` entries each: the widest node's inputs and
 * outputs, and at least 64 (shape functions may look at a few inputs past their node's, which read as
 * absent, and write outputs past its own, into discard) */
typedef struct infer_bufs {
  int width;
  const sn_type **in_t;
  const sn_tensor **in_d;
  sn_type **out_t;
  sn_tensor **out_d;
  sn_type *discard; /* absent or missing outputs: shape functions may write here harmlessly */
} infer_bufs;

static sn_error *infer_nodes(sn_graph *g, sn_type *types, sn_tensor **known, const sn_infer_opts *opts,
                             const infer_bufs *b);

sn_error *sn_infer_graph(sn_graph *g, sn_type *types, sn_tensor **known, const sn_infer_opts *opts) {
  int width = 64;
  for (int ni = 0; ni < g->n_nodes; ni++) {
    if (g->nodes[ni].n_in > width) width = g->nodes[ni].n_in;
    if (g->nodes[ni].n_out > width) width = g->nodes[ni].n_out;
  }
  size_t w = (size_t)width;
  infer_bufs b = {width, sn_calloc(w, sizeof(sn_type *)), sn_calloc(w, sizeof(sn_tensor *)),
                  sn_calloc(w, sizeof(sn_type *)), sn_calloc(w, sizeof(sn_tensor *)), sn_calloc(w, sizeof(sn_type))};
  sn_error *e = b.in_t && b.in_d && b.out_t && b.out_d && b.discard ? infer_nodes(g, types, known, opts, &b)
                                                                     : SN_ERR_OOM();
  sn_free((void *)b.in_t);
  sn_free((void *)b.in_d);
  sn_free(b.out_t);
  sn_free(b.out_d);
  sn_free(b.discard);
  return e;
}

static sn_error *infer_nodes(sn_graph *g, sn_type *types, sn_tensor **known, const sn_infer_opts *opts,
                             const infer_bufs *b) {
  const int W = b->width;
  const sn_type **in_t = b->in_t;
  const sn_tensor **in_d = b->in_d;
  sn_type **out_t = b->out_t;
  sn_tensor **out_d = b->out_d;
  sn_type *discard = b->discard;
  char desc[512];
  for (int ni = 0; ni < g->n_nodes; ni++) {
    sn_node *n = &g->nodes[ni];
    if (!n->op)
      return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: op not resolved", sn_node_desc(n, desc, sizeof desc));
    bool all_known = true;
    int64_t elems = 0;
    for (int i = n->n_in; i < W; i++) { /* past the node's inputs: NULL, as absent */
      in_t[i] = NULL;
      in_d[i] = NULL;
    }
    for (int i = 0; i < n->n_in; i++) {
      int v = n->in[i];
      in_t[i] = v >= 0 ? &types[v] : NULL;
      in_d[i] = (v >= 0 && known) ? known[v] : NULL;
      if (v >= 0 && !in_d[i]) all_known = false;
      elems += known_elems(in_d[i]);
    }
    if (n->n_out == 0 && n->op->infer)
      return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s has no outputs", sn_node_desc(n, desc, sizeof desc));
    for (int o = 0; o < W; o++) {
      int v = o < n->n_out ? n->out[o] : -1;
      out_t[o] = v >= 0 ? &types[v] : &discard[o];
      sn_type_set_unknown(out_t[o], 0);
      out_d[o] = NULL;
    }
    sn_infer_ctx c = {g, n, n->opset, n->n_in, in_t, in_d, n->n_out, out_t, out_d};
    sn_error *e = n->op->infer ? n->op->infer(&c) : NULL;
    if (e) return e;
    /* values a shape function produced, or fold the node when its inputs are all known */
    bool have_data = false, small = true;
    for (int o = 0; o < n->n_out; o++) {
      have_data |= out_d[o] != NULL;
      /* never materialize a large constant (ConstantOfShape, Expand, Tile, Pad of tiny inputs) */
      if (n->out[o] >= 0 && out_t[o]->rank >= 0) {
        /* element count, saturating just above the limit (dims may be huge in hostile models) */
        int64_t cnt = 1, lim = opts->fold_limit;
        for (int d = 0; d < out_t[o]->rank && cnt >= 0; d++) {
          int64_t dv = out_t[o]->dims[d].v;
          if (dv < 0)
            cnt = -1;
          else if (dv == 0)
            cnt = 0;
          else if (cnt > lim || dv > lim || cnt * dv > lim)
            cnt = cnt == 0 ? 0 : lim + 1;
          else
            cnt *= dv;
        }
        if (cnt > lim) small = false;
      }
    }
    if (!have_data && small && all_known && n->n_captures == 0 && opts->fold && !(n->op->flags & SN_OP_NO_FOLD) &&
        elems <= opts->fold_limit && n->n_in > 0) {
      e = opts->fold(opts->fold_ctx, g, n, in_d, out_d);
      if (e) {
        /* a node that cannot be evaluated on known inputs will fail at run time with the same
         * message; report it now with context */
        return sn_error_wrap(e, "evaluating %s on constant inputs", sn_node_desc(n, desc, sizeof desc));
      }
    }
    for (int o = n->n_out; o < W; o++) sn_tensor_free(out_d[o]); /* values for outputs the node lacks */
    for (int o = 0; o < n->n_out; o++) {
      int v = n->out[o];
      if (v < 0) {
        sn_tensor_free(out_d[o]);
        continue;
      }
      if (out_d[o]) {
        /* a known value fixes the type exactly */
        if (out_d[o]->kind == SN_KIND_TENSOR) sn_type_set_static(&types[v], out_d[o]->dtype, out_d[o]->rank, out_d[o]->dims);
        if (known)
          known[v] = out_d[o];
        else
          sn_tensor_free(out_d[o]);
      }
      if (opts->merge_declared) merge_declared(&types[v], &g->values[v].type);
    }
  }
  return NULL;
}

sn_error *sn_node_resolve(sn_graph *g, sn_node *n) {
  char desc[512];
  if (n->op && n->op->free_params && n->params) n->op->free_params(n->params);
  n->params = NULL;
  n->op = NULL;
  sn_error *e = sn_op_lookup(n->domain, n->op_type, n->opset, &n->op);
  if (e) return sn_error_wrap(e, "%s", sn_node_desc(n, desc, sizeof desc));
  if (n->op->prepare) {
    e = n->op->prepare(g, n, &n->params);
    if (e) {
      if (n->op->free_params && n->params) n->op->free_params(n->params);
      n->params = NULL;
      return sn_error_wrap(e, "%s", sn_node_desc(n, desc, sizeof desc));
    }
  }
  return NULL;
}

static sn_error *resolve_graph(sn_graph *g) {
  for (int ni = 0; ni < g->n_nodes; ni++) {
    sn_node *n = &g->nodes[ni];
    if (!n->op) SN_TRY(sn_node_resolve(g, n));
    for (int a = 0; a < n->n_attrs; a++) {
      sn_attr *at = &n->attrs[a];
      if (at->g) SN_TRY(resolve_graph(at->g));
      for (int k = 0; at->graphs && k < at->n; k++) SN_TRY(resolve_graph(at->graphs[k]));
    }
  }
  return NULL;
}

static sn_error *infer_in_place(sn_graph *g, const sn_infer_opts *opts) {
  int nv = g->n_values;
  sn_type *types = sn_malloc(sizeof(sn_type) * (size_t)(nv ? nv : 1));
  sn_tensor **known = sn_calloc((size_t)(nv ? nv : 1), sizeof(sn_tensor *));
  if (!types || !known) {
    sn_free(types);
    sn_free(known);
    return SN_ERR_OOM();
  }
  for (int v = 0; v < nv; v++) {
    sn_value *val = &g->values[v];
    types[v] = val->type;
    if (val->role == SN_VAL_INITIALIZER && val->data) {
      if (val->data->kind == SN_KIND_TENSOR) sn_type_set_static(&types[v], val->data->dtype, val->data->rank, val->data->dims);
      known[v] = val->data;
    } else if (val->role == SN_VAL_CAPTURE && g->parent) {
      types[v] = g->parent->values[val->outer].type;
      val->type = types[v];
    }
  }
  /* infer this graph; subgraph bodies are inferred after, with captures typed from this graph */
  sn_error *e = sn_infer_graph(g, types, known, opts);
  if (!e) {
    for (int v = 0; v < nv; v++) {
      if (g->values[v].role == SN_VAL_INTERMEDIATE || g->values[v].role == SN_VAL_INITIALIZER) g->values[v].type = types[v];
    }
  }
  for (int v = 0; v < nv; v++)
    if (known[v] && known[v] != g->values[v].data) sn_tensor_free(known[v]);
  sn_free(types);
  sn_free(known);
  return e;
}

static sn_error *infer_subgraphs(sn_graph *g, const sn_infer_opts *opts) {
  for (int ni = 0; ni < g->n_nodes; ni++) {
    sn_node *n = &g->nodes[ni];
    for (int a = 0; a < n->n_attrs; a++) {
      sn_attr *at = &n->attrs[a];
      if (at->g) {
        SN_TRY(infer_in_place(at->g, opts));
        SN_TRY(infer_subgraphs(at->g, opts));
      }
      for (int k = 0; at->graphs && k < at->n; k++) {
        SN_TRY(infer_in_place(at->graphs[k], opts));
        SN_TRY(infer_subgraphs(at->graphs[k], opts));
      }
    }
  }
  return NULL;
}

sn_error *sn_graph_resolve_and_infer(sn_graph *g, const sn_infer_opts *opts) {
  SN_TRY(resolve_graph(g));
  /* Subgraph bodies first get types from their declarations (If/Loop shape functions read them),
   * then the main graph, then bodies again with the captured values' types known. */
  SN_TRY(infer_subgraphs(g, opts));
  SN_TRY(infer_in_place(g, opts));
  SN_TRY(infer_subgraphs(g, opts));
  return NULL;
}
