/* The ONNX writer: the IR (after optimization) back to a ModelProto, so an optimized graph can be
 * saved and loaded again (by Sinter, or by any ONNX tool when it uses only standard ops). Messages
 * are encoded bottom-up, each into its own buffer that the parent appends with a length prefix. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "onnx/onnx.h"
#include "onnx/writer.h"

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
  bool oom;
} buf;

static void put(buf *b, const void *d, size_t n) {
  if (b->oom) return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n) cap *= 2;
    uint8_t *p = sn_realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->n, d, n);
  b->n += n;
}

static void varint(buf *b, uint64_t v) {
  uint8_t t[10];
  size_t k = 0;
  do {
    t[k] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) t[k] |= 0x80;
    k++;
  } while (v);
  put(b, t, k);
}

static void tag(buf *b, uint32_t field, int wire) { varint(b, ((uint64_t)field << 3) | (uint64_t)wire); }
static void f_int(buf *b, uint32_t field, int64_t v) {
  tag(b, field, SN_PB_VARINT);
  varint(b, (uint64_t)v);
}
static void f_bytes(buf *b, uint32_t field, const void *d, size_t n) {
  tag(b, field, SN_PB_LEN);
  varint(b, n);
  put(b, d, n);
}
static void f_str(buf *b, uint32_t field, const char *s) {
  if (s) f_bytes(b, field, s, strlen(s));
}
static void f_float(buf *b, uint32_t field, float f) {
  tag(b, field, SN_PB_I32);
  put(b, &f, 4);
}
/* append a finished sub-message and free it */
static void f_msg(buf *b, uint32_t field, buf *sub) {
  if (sub->oom) b->oom = true;
  f_bytes(b, field, sub->p, sub->n);
  sn_free(sub->p);
  memset(sub, 0, sizeof *sub);
}

static void enc_type(buf *b, const sn_type *t);

static void enc_tensor_type(buf *b, const sn_type *t) {
  buf tt = {0};
  if (t->dtype) f_int(&tt, 1, t->dtype);
  if (t->rank >= 0) {
    buf shape = {0};
    for (int i = 0; i < t->rank; i++) {
      buf dim = {0};
      if (t->dims[i].v >= 0)
        f_int(&dim, 1, t->dims[i].v);
      else if (t->dims[i].sym)
        f_str(&dim, 2, t->dims[i].sym);
      f_msg(&shape, 1, &dim);
    }
    f_msg(&tt, 2, &shape);
  }
  f_msg(b, 1, &tt);
}

static void enc_type(buf *b, const sn_type *t) {
  if (t->kind == SN_KIND_SEQUENCE) {
    buf seq = {0}, elem = {0};
    sn_type e = *t;
    e.kind = SN_KIND_TENSOR;
    enc_type(&elem, &e);
    f_msg(&seq, 1, &elem);
    f_msg(b, 4, &seq);
  } else if (t->kind == SN_KIND_OPTIONAL) {
    buf opt = {0}, elem = {0};
    sn_type e = *t;
    e.kind = t->elem_kind;
    enc_type(&elem, &e);
    f_msg(&opt, 1, &elem);
    f_msg(b, 9, &opt);
  } else {
    enc_tensor_type(b, t);
  }
}

static bool type_known(const sn_type *t) { return t->dtype != 0 || t->rank >= 0; }

static void enc_value_info(buf *b, uint32_t field, const char *name, const sn_type *t) {
  buf vi = {0};
  f_str(&vi, 1, name);
  if (type_known(t)) {
    buf tp = {0};
    enc_type(&tp, t);
    f_msg(&vi, 2, &tp);
  }
  f_msg(b, field, &vi);
}

static sn_error *enc_tensor(buf *b, const sn_tensor *t, const char *name) {
  if (t->kind != SN_KIND_TENSOR)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "writing a %s constant ('%s') is not supported",
                     t->kind == SN_KIND_SEQUENCE ? "sequence" : "optional", name ? name : "");
  if (!t->data && t->nbytes)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT,
                     "weight '%s' lives only in its packed form in this session: create the session that writes "
                     "the model with keep_weights",
                     name ? name : "");
  for (int i = 0; i < t->rank; i++) f_int(b, 1, t->dims[i]);
  f_int(b, 2, t->dtype);
  if (name) f_str(b, 8, name);
  if (t->dtype == SINTER_STRING) {
    char *const *s = t->data;
    for (int64_t i = 0; i < t->count; i++) f_str(b, 6, s[i] ? s[i] : "");
  } else if (t->dtype == SINTER_INT4 || t->dtype == SINTER_UINT4 || t->dtype == SINTER_FLOAT4E2M1) {
    /* two elements per byte, low nibble first */
    size_t nb = (size_t)(t->count + 1) / 2;
    uint8_t *packed = sn_calloc(nb ? nb : 1, 1);
    if (!packed) return SN_ERR_OOM();
    const uint8_t *src = t->data;
    for (int64_t i = 0; i < t->count; i++) packed[i / 2] |= (uint8_t)((src[i] & 0xf) << ((i & 1) * 4));
    f_bytes(b, 9, packed, nb);
    sn_free(packed);
  } else {
    f_bytes(b, 9, t->data, t->nbytes);
  }
  return NULL;
}

static sn_error *enc_graph(buf *b, const sn_graph *g);

static sn_error *enc_attr(buf *b, const sn_attr *a) {
  f_str(b, 1, a->name);
  if (a->ref_attr_name) f_str(b, 21, a->ref_attr_name);
  f_int(b, 20, a->type);
  buf sub = {0};
  switch (a->type) {
    case SN_ATTR_FLOAT: f_float(b, 2, a->f); break;
    case SN_ATTR_INT: f_int(b, 3, a->i); break;
    case SN_ATTR_STRING: f_bytes(b, 4, a->s ? a->s : "", a->s ? a->s_len : 0); break;
    case SN_ATTR_TENSOR:
      if (a->t) {
        SN_TRY(enc_tensor(&sub, a->t, NULL));
        f_msg(b, 5, &sub);
      }
      break;
    case SN_ATTR_GRAPH:
      if (a->g) {
        sn_error *e = enc_graph(&sub, a->g);
        if (e) {
          sn_free(sub.p);
          return e;
        }
        f_msg(b, 6, &sub);
      }
      break;
    case SN_ATTR_FLOATS:
      for (int i = 0; i < a->n; i++) f_float(b, 7, a->floats[i]);
      break;
    case SN_ATTR_INTS:
      for (int i = 0; i < a->n; i++) f_int(b, 8, a->ints[i]);
      break;
    case SN_ATTR_STRINGS:
      for (int i = 0; i < a->n; i++)
        f_bytes(b, 9, a->strings[i], a->string_lens ? a->string_lens[i] : strlen(a->strings[i]));
      break;
    case SN_ATTR_TENSORS:
      for (int i = 0; i < a->n; i++) {
        sn_error *e = enc_tensor(&sub, a->tensors[i], NULL);
        if (e) {
          sn_free(sub.p);
          return e;
        }
        f_msg(b, 10, &sub);
      }
      break;
    case SN_ATTR_GRAPHS:
      for (int i = 0; i < a->n; i++) {
        sn_error *e = enc_graph(&sub, a->graphs[i]);
        if (e) {
          sn_free(sub.p);
          return e;
        }
        f_msg(b, 11, &sub);
      }
      break;
    case SN_ATTR_TYPE_PROTO:
      if (a->types) {
        enc_type(&sub, &a->types[0]);
        f_msg(b, 14, &sub);
      }
      break;
    case SN_ATTR_TYPE_PROTOS:
      for (int i = 0; a->types && i < a->n; i++) {
        enc_type(&sub, &a->types[i]);
        f_msg(b, 15, &sub);
      }
      break;
    default:
      return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "writing attribute '%s' of type %d is not supported", a->name,
                       a->type);
  }
  return NULL;
}

/* A value's name as readers will resolve it: an outer-scope capture is written under the name of
 * the value it captures (a pass may have pointed it at another one). */
static const char *value_name(const sn_graph *g, int v) {
  while (g->values[v].role == SN_VAL_CAPTURE && g->parent && g->values[v].outer >= 0) {
    v = g->values[v].outer;
    g = g->parent;
  }
  return g->values[v].name;
}

static sn_error *enc_node(buf *b, const sn_graph *g, const sn_node *n) {
  for (int i = 0; i < n->n_in; i++) f_str(b, 1, n->in[i] >= 0 ? value_name(g, n->in[i]) : "");
  for (int i = 0; i < n->n_out; i++) f_str(b, 2, n->out[i] >= 0 ? g->values[n->out[i]].name : "");
  if (n->name && *n->name) f_str(b, 3, n->name);
  f_str(b, 4, n->op_type);
  for (int i = 0; i < n->n_attrs; i++) {
    buf a = {0};
    sn_error *e = enc_attr(&a, &n->attrs[i]);
    if (e) {
      sn_free(a.p);
      return e;
    }
    f_msg(b, 5, &a);
  }
  if (n->domain && *n->domain) f_str(b, 7, n->domain);
  return NULL;
}

static sn_error *enc_graph(buf *b, const sn_graph *g) {
  sn_error *e = NULL;
  buf sub = {0};
  for (int i = 0; i < g->n_nodes && !e; i++) {
    e = enc_node(&sub, g, &g->nodes[i]);
    f_msg(b, 1, &sub);
  }
  if (e) return e;
  f_str(b, 2, g->name && *g->name ? g->name : "graph");
  for (int v = 0; v < g->n_values; v++) {
    const sn_value *val = &g->values[v];
    if (!val->data || (val->role != SN_VAL_INITIALIZER && val->role != SN_VAL_INPUT)) continue;
    if ((e = enc_tensor(&sub, val->data, val->name))) {
      sn_free(sub.p);
      return e;
    }
    f_msg(b, 5, &sub);
  }
  for (int k = 0; k < g->n_inputs; k++) enc_value_info(b, 11, g->values[g->inputs[k]].name, &g->values[g->inputs[k]].type);
  for (int k = 0; k < g->n_outputs; k++)
    enc_value_info(b, 12, value_name(g, g->outputs[k]), &g->values[g->outputs[k]].type);
  /* shapes of intermediates, so other tools see what Sinter inferred */
  for (int v = 0; v < g->n_values; v++) {
    const sn_value *val = &g->values[v];
    if (val->role == SN_VAL_INTERMEDIATE && !val->is_output && val->producer >= 0 && type_known(&val->type))
      enc_value_info(b, 13, val->name, &val->type);
  }
  return NULL;
}

sn_error *sn_onnx_write_bytes(const sn_model *m, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  if (!m->graph) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "model has no graph");
  buf b = {0}, sub = {0};
  /* initializers are written apart from the inputs, which IR 4 introduced */
  f_int(&b, 1, m->ir_version >= 4 ? m->ir_version : 4);
  f_str(&b, 2, "sinter");
  f_str(&b, 3, SINTER_VERSION);
  if (m->domain && *m->domain) f_str(&b, 4, m->domain);
  if (m->model_version) f_int(&b, 5, m->model_version);
  if (m->doc && *m->doc) f_str(&b, 6, m->doc);
  sn_error *e = enc_graph(&sub, m->graph);
  if (e) {
    sn_free(sub.p);
    sn_free(b.p);
    return e;
  }
  f_msg(&b, 7, &sub);
  for (int i = 0; i < m->n_opsets; i++) {
    buf os = {0};
    f_str(&os, 1, m->opsets[i].domain ? m->opsets[i].domain : "");
    f_int(&os, 2, m->opsets[i].version);
    f_msg(&b, 8, &os);
  }
  /* domains the passes introduced (sinter's fused ops, com.microsoft's SkipLayerNormalization): all
   * their ops are registered at version 1 */
  for (int i = 0; i < m->graph->n_nodes; i++) {
    const char *d = m->graph->nodes[i].domain;
    if (!d || !*d || !strcmp(d, "ai.onnx")) continue;
    bool seen = false;
    for (int k = 0; k < m->n_opsets && !seen; k++) seen = m->opsets[k].domain && !strcmp(m->opsets[k].domain, d);
    for (int k = 0; k < i && !seen; k++) seen = m->graph->nodes[k].domain && !strcmp(m->graph->nodes[k].domain, d);
    if (seen) continue;
    buf os = {0};
    f_str(&os, 1, d);
    f_int(&os, 2, 1);
    f_msg(&b, 8, &os);
  }
  for (int i = 0; i < m->n_meta; i++) {
    buf kv = {0};
    f_str(&kv, 1, m->meta_keys[i]);
    f_str(&kv, 2, m->meta_values[i]);
    f_msg(&b, 14, &kv);
  }
  if (b.oom) {
    sn_free(b.p);
    return SN_ERR_OOM();
  }
  *out = b.p;
  *len = b.n;
  return NULL;
}

sn_error *sn_onnx_write_file(const sn_model *m, const char *path) {
  uint8_t *bytes;
  size_t len;
  SN_TRY(sn_onnx_write_bytes(m, &bytes, &len));
  FILE *f = fopen(path, "wb");
  if (!f) {
    sn_free(bytes);
    return sn_errorf(SINTER_ERR_NO_SUCH_FILE, "cannot write '%s'", path);
  }
  size_t w = fwrite(bytes, 1, len, f);
  int c = fclose(f);
  sn_free(bytes);
  if (w != len || c != 0) return sn_errorf(SINTER_ERR_RUNTIME, "writing '%s' failed (disk full?)", path);
  return NULL;
}
