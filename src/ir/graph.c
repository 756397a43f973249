/* IR construction and bookkeeping: models, graphs, values, nodes, attributes. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "core/alloc.h"
#include "ir/ir.h"
#include "ops/op.h"
#include "plan/plan.h"

/* ---- model ---------------------------------------------------------------------------------- */

sn_model *sn_model_new(void) { return sn_calloc(1, sizeof(sn_model)); }

static void function_free(sn_function *f) {
  sn_free(f->name);
  sn_free(f->domain);
  sn_free(f->overload);
  for (int i = 0; i < f->n_inputs; i++) sn_free(f->inputs[i]);
  for (int i = 0; i < f->n_outputs; i++) sn_free(f->outputs[i]);
  for (int i = 0; i < f->n_attrs; i++) sn_free(f->attr_names[i]);
  sn_free(f->inputs);
  sn_free(f->outputs);
  sn_free(f->attr_names);
  for (int i = 0; i < f->n_attr_defaults; i++) sn_attr_clear(&f->attr_defaults[i]);
  sn_free(f->attr_defaults);
  for (int i = 0; i < f->n_opsets; i++) sn_free(f->opsets[i].domain);
  sn_free(f->opsets);
  for (int i = 0; i < f->n_nodes; i++) sn_node_clear(&f->nodes[i]);
  sn_free(f->nodes);
  for (int i = 0; i < f->n_value_names; i++) sn_free(f->value_names[i]);
  sn_free(f->value_names);
}

void sn_model_free(sn_model *m) {
  if (!m) return;
  sn_graph_free(m->graph);
  for (int i = 0; i < m->n_functions; i++) function_free(&m->functions[i]);
  sn_free(m->functions);
  for (int i = 0; i < m->n_opsets; i++) sn_free(m->opsets[i].domain);
  sn_free(m->opsets);
  for (int i = 0; i < m->n_meta; i++) {
    sn_free(m->meta_keys[i]);
    sn_free(m->meta_values[i]);
  }
  sn_free(m->meta_keys);
  sn_free(m->meta_values);
  for (int i = 0; i < m->n_strings; i++) sn_free(m->strings[i]);
  sn_free(m->strings);
  for (int i = 0; i < m->n_maps; i++) munmap(m->maps[i], m->map_lens[i]);
  sn_free(m->maps);
  sn_free(m->map_lens);
  if (m->bytes) {
    if (m->bytes_mapped)
      munmap((void *)m->bytes, m->n_bytes);
    else
      sn_free((void *)m->bytes);
  }
  sn_free(m->path);
  sn_free(m->dir);
  sn_free(m->producer_name);
  sn_free(m->producer_version);
  sn_free(m->domain);
  sn_free(m->doc);
  sn_free(m);
}

int64_t sn_model_opset(const sn_model *m, const char *domain) {
  if (!domain || !strcmp(domain, "ai.onnx")) domain = "";
  for (int i = 0; i < m->n_opsets; i++) {
    const char *d = m->opsets[i].domain ? m->opsets[i].domain : "";
    if (!strcmp(d, "ai.onnx")) d = "";
    if (!strcmp(d, domain)) return m->opsets[i].version;
  }
  return -1;
}

const char *sn_model_intern(sn_model *m, const char *s) {
  for (int i = 0; i < m->n_strings; i++)
    if (!strcmp(m->strings[i], s)) return m->strings[i];
  if (m->n_strings == m->cap_strings) {
    int cap = m->cap_strings ? m->cap_strings * 2 : 16;
    char **p = sn_realloc(m->strings, sizeof(char *) * (size_t)cap);
    if (!p) return NULL;
    m->strings = p;
    m->cap_strings = cap;
  }
  char *d = sn_strdup(s);
  if (!d) return NULL;
  m->strings[m->n_strings++] = d;
  return d;
}

/* ---- graph ---------------------------------------------------------------------------------- */

sn_graph *sn_graph_new(sn_model *m, sn_graph *parent, const char *name) {
  sn_graph *g = sn_calloc(1, sizeof *g);
  if (!g) return NULL;
  g->model = m;
  g->parent = parent;
  g->name = sn_strdup(name ? name : "");
  if (!g->name) {
    sn_free(g);
    return NULL;
  }
  return g;
}

void sn_attr_clear(sn_attr *a) {
  sn_free(a->name);
  sn_free(a->s);
  sn_tensor_free(a->t);
  sn_graph_free(a->g);
  sn_free(a->floats);
  sn_free(a->ints);
  if (a->strings)
    for (int i = 0; i < a->n; i++) sn_free(a->strings[i]);
  sn_free(a->strings);
  sn_free(a->string_lens);
  if (a->tensors)
    for (int i = 0; i < a->n; i++) sn_tensor_free(a->tensors[i]);
  sn_free(a->tensors);
  if (a->graphs)
    for (int i = 0; i < a->n; i++) sn_graph_free(a->graphs[i]);
  sn_free(a->graphs);
  sn_free(a->types);
  sn_free(a->ref_attr_name);
  memset(a, 0, sizeof *a);
}

void sn_node_clear(sn_node *n) {
  if (n->op && n->op->free_params && n->params) n->op->free_params(n->params);
  sn_free(n->name);
  sn_free(n->op_type);
  sn_free(n->domain);
  sn_free(n->in);
  sn_free(n->out);
  for (int i = 0; i < n->n_attrs; i++) sn_attr_clear(&n->attrs[i]);
  sn_free(n->attrs);
  sn_free(n->captures);
  memset(n, 0, sizeof *n);
}

void sn_graph_free(sn_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->n_nodes; i++) sn_node_clear(&g->nodes[i]);
  sn_free(g->nodes);
  for (int i = 0; i < g->n_values; i++) {
    sn_free(g->values[i].name);
    sn_tensor_free(g->values[i].data);
  }
  sn_free(g->values);
  sn_free(g->inputs);
  sn_free(g->outputs);
  sn_free(g->hash);
  sn_free(g->name);
  sn_plan_free(g->exec_plan);
  sn_free(g);
}

static uint32_t hash_str(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

static bool hash_insert(sn_graph *g, int id) {
  if ((g->n_values + 1) * 2 > g->hash_cap) {
    int cap = g->hash_cap ? g->hash_cap * 2 : 64;
    while (cap < (g->n_values + 1) * 2) cap *= 2;
    int *h = sn_malloc(sizeof(int) * (size_t)cap);
    if (!h) return false;
    for (int i = 0; i < cap; i++) h[i] = -1;
    sn_free(g->hash);
    g->hash = h;
    g->hash_cap = cap;
    for (int v = 0; v < g->n_values; v++) {
      if (v == id) continue;
      uint32_t k = hash_str(g->values[v].name) & (uint32_t)(cap - 1);
      while (h[k] >= 0) k = (k + 1) & (uint32_t)(cap - 1);
      h[k] = v;
    }
  }
  uint32_t k = hash_str(g->values[id].name) & (uint32_t)(g->hash_cap - 1);
  while (g->hash[k] >= 0) k = (k + 1) & (uint32_t)(g->hash_cap - 1);
  g->hash[k] = id;
  return true;
}

int sn_graph_find(const sn_graph *g, const char *name) {
  if (!g->hash_cap || !name) return -1;
  uint32_t k = hash_str(name) & (uint32_t)(g->hash_cap - 1);
  while (g->hash[k] >= 0) {
    if (!strcmp(g->values[g->hash[k]].name, name)) return g->hash[k];
    k = (k + 1) & (uint32_t)(g->hash_cap - 1);
  }
  return -1;
}

sn_error *sn_graph_add_value(sn_graph *g, const char *name, int *id) {
  char gen[64];
  if (!name || !*name) {
    snprintf(gen, sizeof gen, "sn::v%d", g->n_values);
    name = gen;
  }
  if (sn_graph_find(g, name) >= 0)
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "value name '%s' is defined more than once in graph '%s'", name, g->name);
  if (g->n_values == g->cap_values) {
    int cap = g->cap_values ? g->cap_values * 2 : 64;
    sn_value *v = sn_realloc(g->values, sizeof(sn_value) * (size_t)cap);
    if (!v) return SN_ERR_OOM();
    g->values = v;
    g->cap_values = cap;
  }
  sn_value *v = &g->values[g->n_values];
  memset(v, 0, sizeof *v);
  v->name = sn_strdup(name);
  if (!v->name) return SN_ERR_OOM();
  v->type.rank = -1;
  v->producer = -1;
  v->outer = -1;
  int nid = g->n_values;
  if (!hash_insert(g, nid)) {
    sn_free(v->name);
    return SN_ERR_OOM();
  }
  g->n_values++;
  *id = nid;
  return NULL;
}

sn_error *sn_graph_add_node(sn_graph *g, int *index) {
  if (g->n_nodes == g->cap_nodes) {
    int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
    sn_node *n = sn_realloc(g->nodes, sizeof(sn_node) * (size_t)cap);
    if (!n) return SN_ERR_OOM();
    g->nodes = n;
    g->cap_nodes = cap;
  }
  memset(&g->nodes[g->n_nodes], 0, sizeof(sn_node));
  *index = g->n_nodes++;
  return NULL;
}

void sn_graph_update_producers(sn_graph *g) {
  for (int v = 0; v < g->n_values; v++) g->values[v].producer = -1;
  for (int i = 0; i < g->n_nodes; i++)
    for (int o = 0; o < g->nodes[i].n_out; o++)
      if (g->nodes[i].out[o] >= 0) g->values[g->nodes[i].out[o]].producer = i;
}

sn_error *sn_graph_toposort(sn_graph *g) {
  int nn = g->n_nodes, nv = g->n_values;
  if (nn == 0) return NULL;
  int *producer = sn_malloc(sizeof(int) * (size_t)(nv ? nv : 1));
  int *pending = sn_calloc((size_t)nn, sizeof(int));
  int *order = sn_malloc(sizeof(int) * (size_t)nn);
  /* consumers as CSR lists: for each value, nodes reading it (inputs + captures) */
  int *cstart = sn_calloc((size_t)nv + 1, sizeof(int));
  sn_error *err = NULL;
  int *clist = NULL;
  sn_node *sorted = NULL;
  if (!producer || !pending || !order || !cstart) {
    err = SN_ERR_OOM();
    goto done;
  }
  for (int v = 0; v < nv; v++) producer[v] = -1;
  for (int i = 0; i < nn; i++) {
    sn_node *n = &g->nodes[i];
    for (int o = 0; o < n->n_out; o++) {
      int v = n->out[o];
      if (v < 0) continue;
      if (producer[v] >= 0) {
        err = sn_errorf(SINTER_ERR_INVALID_MODEL, "value '%s' is produced by two nodes ('%s' and '%s')",
                        g->values[v].name, g->nodes[producer[v]].name, n->name);
        goto done;
      }
      if (g->values[v].role != SN_VAL_INTERMEDIATE) {
        err = sn_errorf(SINTER_ERR_INVALID_MODEL, "node '%s' (%s) writes '%s', which is a graph input or initializer",
                        n->name, n->op_type, g->values[v].name);
        goto done;
      }
      producer[v] = i;
    }
  }
  size_t total = 0;
  for (int i = 0; i < nn; i++) {
    sn_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_in + n->n_captures; k++) {
      int v = k < n->n_in ? n->in[k] : n->captures[k - n->n_in];
      if (v >= 0 && producer[v] >= 0) {
        cstart[v + 1]++;
        pending[i]++;
        total++;
      }
    }
  }
  for (int v = 0; v < nv; v++) cstart[v + 1] += cstart[v];
  clist = sn_malloc(sizeof(int) * (total ? total : 1));
  if (!clist) {
    err = SN_ERR_OOM();
    goto done;
  }
  {
    int *fill = sn_malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    if (!fill) {
      err = SN_ERR_OOM();
      goto done;
    }
    memcpy(fill, cstart, sizeof(int) * (size_t)nv);
    for (int i = 0; i < nn; i++) {
      sn_node *n = &g->nodes[i];
      for (int k = 0; k < n->n_in + n->n_captures; k++) {
        int v = k < n->n_in ? n->in[k] : n->captures[k - n->n_in];
        if (v >= 0 && producer[v] >= 0) clist[fill[v]++] = i;
      }
    }
    sn_free(fill);
  }
  /* Kahn's algorithm; a min-index ready queue keeps the original order where possible */
  int head = 0, tail = 0;
  for (int i = 0; i < nn; i++)
    if (pending[i] == 0) order[tail++] = i;
  while (head < tail) {
    int i = order[head++];
    sn_node *n = &g->nodes[i];
    for (int o = 0; o < n->n_out; o++) {
      int v = n->out[o];
      if (v < 0) continue;
      for (int c = cstart[v]; c < cstart[v + 1]; c++)
        if (--pending[clist[c]] == 0) order[tail++] = clist[c];
    }
  }
  if (tail < nn) {
    int bad = -1;
    for (int i = 0; i < nn && bad < 0; i++)
      if (pending[i] > 0) bad = i;
    err = sn_errorf(SINTER_ERR_INVALID_MODEL, "graph '%s' has a cycle: node '%s' (%s) depends on its own output", g->name,
                    g->nodes[bad].name, g->nodes[bad].op_type);
    goto done;
  }
  sorted = sn_malloc(sizeof(sn_node) * (size_t)g->cap_nodes);
  if (!sorted) {
    err = SN_ERR_OOM();
    goto done;
  }
  for (int i = 0; i < nn; i++) sorted[i] = g->nodes[order[i]];
  sn_free(g->nodes);
  g->nodes = sorted;
  sn_graph_update_producers(g);
done:
  sn_free(producer);
  sn_free(pending);
  sn_free(order);
  sn_free(cstart);
  sn_free(clist);
  return err;
}

/* ---- attributes ------------------------------------------------------------------------------ */

const sn_attr *sn_node_attr(const sn_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
  return NULL;
}

int64_t sn_attr_int(const sn_node *n, const char *name, int64_t def) {
  const sn_attr *a = sn_node_attr(n, name);
  if (!a) return def;
  if (a->type == SN_ATTR_INT) return a->i;
  /* A float where an integer is expected converts only when it is in range (NaN and values past
   * int64's range would be undefined behaviour to convert; they read as absent). */
  if (a->type == SN_ATTR_FLOAT) return (a->f >= -9.2e18f && a->f <= 9.2e18f) ? (int64_t)a->f : def;
  return def;
}

float sn_attr_float(const sn_node *n, const char *name, float def) {
  const sn_attr *a = sn_node_attr(n, name);
  if (!a) return def;
  if (a->type == SN_ATTR_FLOAT) return a->f;
  if (a->type == SN_ATTR_INT) return (float)a->i;
  return def;
}

const char *sn_attr_str(const sn_node *n, const char *name, const char *def) {
  const sn_attr *a = sn_node_attr(n, name);
  return (a && a->type == SN_ATTR_STRING && a->s) ? a->s : def;
}

int sn_attr_ints(const sn_node *n, const char *name, const int64_t **out) {
  const sn_attr *a = sn_node_attr(n, name);
  *out = NULL;
  if (!a) return -1;
  if (a->type == SN_ATTR_INT) {
    *out = &a->i;
    return 1;
  }
  if (a->type != SN_ATTR_INTS) return -1;
  *out = a->ints;
  return a->n;
}

int sn_attr_floats(const sn_node *n, const char *name, const float **out) {
  const sn_attr *a = sn_node_attr(n, name);
  *out = NULL;
  if (!a) return -1;
  if (a->type == SN_ATTR_FLOAT) {
    *out = &a->f;
    return 1;
  }
  if (a->type != SN_ATTR_FLOATS) return -1;
  *out = a->floats;
  return a->n;
}

sn_error *sn_attr_copy(sn_model *m, const sn_attr *src, sn_attr *dst) {
  (void)m;
  memset(dst, 0, sizeof *dst);
  dst->type = src->type;
  dst->f = src->f;
  dst->i = src->i;
  dst->n = src->n;
  dst->s_len = src->s_len;
  sn_error *e = NULL;
  if (!(dst->name = sn_strdup(src->name ? src->name : ""))) goto oom;
  if (src->s && !(dst->s = sn_strndup(src->s, src->s_len))) goto oom;
  if (src->ref_attr_name && !(dst->ref_attr_name = sn_strdup(src->ref_attr_name))) goto oom;
  if (src->t && (e = sn_tensor_clone(src->t, &dst->t))) goto fail;
  if (src->floats) {
    if (!(dst->floats = sn_malloc(sizeof(float) * (size_t)src->n))) goto oom;
    memcpy(dst->floats, src->floats, sizeof(float) * (size_t)src->n);
  }
  if (src->ints) {
    if (!(dst->ints = sn_malloc(sizeof(int64_t) * (size_t)src->n))) goto oom;
    memcpy(dst->ints, src->ints, sizeof(int64_t) * (size_t)src->n);
  }
  if (src->strings) {
    if (!(dst->strings = sn_calloc((size_t)src->n, sizeof(char *)))) goto oom;
    if (!(dst->string_lens = sn_calloc((size_t)src->n, sizeof(size_t)))) goto oom;
    for (int i = 0; i < src->n; i++) {
      size_t len = src->string_lens ? src->string_lens[i] : strlen(src->strings[i]);
      if (!(dst->strings[i] = sn_strndup(src->strings[i], len))) goto oom;
      dst->string_lens[i] = len;
    }
  }
  if (src->tensors) {
    if (!(dst->tensors = sn_calloc((size_t)src->n, sizeof(sn_tensor *)))) goto oom;
    for (int i = 0; i < src->n; i++)
      if ((e = sn_tensor_clone(src->tensors[i], &dst->tensors[i]))) goto fail;
  }
  if (src->types) {
    int nt = src->type == SN_ATTR_TYPE_PROTO ? 1 : src->n;
    if (!(dst->types = sn_malloc(sizeof(sn_type) * (size_t)nt))) goto oom;
    memcpy(dst->types, src->types, sizeof(sn_type) * (size_t)nt);
  }
  if (src->g || src->graphs)
    e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "copying graph attribute '%s' is not supported", src->name);
  if (e) goto fail;
  return NULL;
oom:
  e = SN_ERR_OOM();
fail:
  sn_attr_clear(dst);
  return e;
}

/* ---- types and descriptions ---------------------------------------------------------------------- */

void sn_type_set_unknown(sn_type *t, sn_dtype dt) {
  memset(t, 0, sizeof *t);
  t->kind = SN_KIND_TENSOR;
  t->dtype = dt;
  t->rank = -1;
}

void sn_type_set(sn_type *t, sn_dtype dt, int rank, const sn_dim *dims) {
  sn_dim tmp[SN_MAX_RANK];
  if (rank > SN_MAX_RANK) rank = -1;
  if (rank > 0) memcpy(tmp, dims, sizeof(sn_dim) * (size_t)rank); /* dims may alias t->dims */
  memset(t, 0, sizeof *t);
  t->kind = SN_KIND_TENSOR;
  t->dtype = dt;
  t->rank = rank;
  if (rank > 0) memcpy(t->dims, tmp, sizeof(sn_dim) * (size_t)rank);
}

void sn_type_set_static(sn_type *t, sn_dtype dt, int rank, const int64_t *dims) {
  memset(t, 0, sizeof *t);
  t->kind = SN_KIND_TENSOR;
  t->dtype = dt;
  t->rank = rank > SN_MAX_RANK ? -1 : rank;
  for (int i = 0; i < t->rank; i++) t->dims[i] = sn_dim_known(dims[i]);
}

bool sn_type_is_static(const sn_type *t) {
  if (t->kind != SN_KIND_TENSOR || t->rank < 0) return false;
  for (int i = 0; i < t->rank; i++)
    if (t->dims[i].v < 0) return false;
  return true;
}

bool sn_type_dims(const sn_type *t, int64_t *out) {
  if (t->rank < 0) return false;
  for (int i = 0; i < t->rank; i++) {
    if (t->dims[i].v < 0) return false;
    out[i] = t->dims[i].v;
  }
  return true;
}

bool sn_dim_same(sn_dim a, sn_dim b) {
  if (a.v >= 0 || b.v >= 0) return a.v == b.v;
  return a.sym && b.sym && a.sym == b.sym;
}

const char *sn_type_str(const sn_type *t, char *buf, size_t len) {
  size_t k = 0;
  const char *dt = t->dtype ? sn_dtype_name(t->dtype) : "?";
  if (t->kind == SN_KIND_SEQUENCE)
    k += (size_t)snprintf(buf + k, len - k, "seq<%s", dt);
  else if (t->kind == SN_KIND_OPTIONAL)
    k += (size_t)snprintf(buf + k, len - k, "optional<%s", dt);
  else
    k += (size_t)snprintf(buf + k, len - k, "%s", dt);
  if (k >= len) return buf;
  if (t->rank < 0) {
    k += (size_t)snprintf(buf + k, len - k, "[?]");
  } else {
    k += (size_t)snprintf(buf + k, len - k, "[");
    for (int i = 0; i < t->rank && k < len; i++) {
      const char *sep = i ? "," : "";
      if (t->dims[i].v >= 0)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", sep, (long long)t->dims[i].v);
      else
        k += (size_t)snprintf(buf + k, len - k, "%s%s", sep, t->dims[i].sym ? t->dims[i].sym : "?");
    }
    if (k < len) k += (size_t)snprintf(buf + k, len - k, "]");
  }
  if (k < len && t->kind != SN_KIND_TENSOR) snprintf(buf + k, len - k, ">");
  return buf;
}

const char *sn_node_desc(const sn_node *n, char *buf, size_t len) {
  const char *dom = (n->domain && *n->domain) ? n->domain : NULL;
  if (dom)
    snprintf(buf, len, "node '%s' (%s:%s, opset %d)", n->name ? n->name : "", dom, n->op_type, n->opset);
  else
    snprintf(buf, len, "node '%s' (%s, opset %d)", n->name ? n->name : "", n->op_type, n->opset);
  return buf;
}
