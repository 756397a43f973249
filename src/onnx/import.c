/* ModelProto -> IR: model header, opsets, graphs (values, nodes, attributes, types), subgraph
 * captures, and the file/bytes/value-file entry points of the reader. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "onnx/onnx.h"

#define MAX_GRAPH_DEPTH 32

/* ---- small helpers shared by the reader -------------------------------------------------------- */

size_t sn_onnx_path_push(sn_onnx_ctx *c, const char *fmt, ...) {
  size_t old = c->pblen;
  if (old < sizeof c->pbpath - 1) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->pbpath + old, sizeof c->pbpath - old, fmt, ap);
    va_end(ap);
    if (n > 0) c->pblen = old + (size_t)n < sizeof c->pbpath - 1 ? old + (size_t)n : sizeof c->pbpath - 1;
  }
  return old;
}

sn_error *sn_onnx_pb_error(sn_onnx_ctx *c, const sn_pb *r, int status) {
  return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s in %s at byte %zu", sn_pb_strerror(status),
                   c->pblen ? c->pbpath : "protobuf", r->err_at);
}

sn_error *sn_onnx_field_error(sn_onnx_ctx *c, const sn_pb_field *f, const char *what) {
  return sn_errorf(SINTER_ERR_INVALID_MODEL, "malformed protobuf in %s at byte %zu: field %u: %s",
                   c->pblen ? c->pbpath : "protobuf", f->at, f->num, what);
}

char *sn_onnx_str(const sn_pb_field *f) {
  if (f->wire != SN_PB_LEN) return sn_strdup("");
  const char *s = (const char *)f->data;
  const char *z = f->len ? memchr(s, 0, f->len) : NULL;
  return sn_strndup(f->len ? s : "", z ? (size_t)(z - s) : f->len);
}

static uint64_t hash_key(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

void *sn_onnx_map_get(const sn_onnx_map *m, const char *key, bool *found) {
  if (found) *found = false;
  if (!m->cap) return NULL;
  size_t k = (size_t)hash_key(key) & (m->cap - 1);
  while (m->keys[k]) {
    if (!strcmp(m->keys[k], key)) {
      if (found) *found = true;
      return m->vals[k];
    }
    k = (k + 1) & (m->cap - 1);
  }
  return NULL;
}

sn_error *sn_onnx_map_put(sn_onnx_map *m, const char *key, void *val) {
  if ((m->n + 1) * 2 > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    char **keys = sn_calloc(cap, sizeof(char *));
    void **vals = sn_calloc(cap, sizeof(void *));
    if (!keys || !vals) {
      sn_free(keys);
      sn_free(vals);
      return SN_ERR_OOM();
    }
    for (size_t i = 0; i < m->cap; i++)
      if (m->keys[i]) {
        size_t k = (size_t)hash_key(m->keys[i]) & (cap - 1);
        while (keys[k]) k = (k + 1) & (cap - 1);
        keys[k] = m->keys[i];
        vals[k] = m->vals[i];
      }
    sn_free(m->keys);
    sn_free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
  }
  size_t k = (size_t)hash_key(key) & (m->cap - 1);
  while (m->keys[k]) {
    if (!strcmp(m->keys[k], key)) {
      m->vals[k] = val;
      return NULL;
    }
    k = (k + 1) & (m->cap - 1);
  }
  if (!(m->keys[k] = sn_strdup(key))) return SN_ERR_OOM();
  m->vals[k] = val;
  m->n++;
  return NULL;
}

void sn_onnx_map_free(sn_onnx_map *m) {
  for (size_t i = 0; i < m->cap; i++) sn_free(m->keys[i]);
  sn_free(m->keys);
  sn_free(m->vals);
  memset(m, 0, sizeof *m);
}

void sn_onnx_ctx_release(sn_onnx_ctx *c) {
  for (int i = 0; i < c->n_ext; i++) sn_free(c->ext[i].real);
  sn_free(c->ext);
  c->ext = NULL;
  c->n_ext = c->cap_ext = 0;
  sn_onnx_map_free(&c->syms);
  sn_onnx_functions_release(c);
}

/* A growable list of protobuf fields. */
typedef struct flist {
  int n, cap;
  sn_pb_field *f;
} flist;

static sn_error *flist_add(flist *l, const sn_pb_field *f) {
  if (l->n == l->cap) {
    if (l->cap >= INT_MAX / 2) return sn_errorf(SINTER_ERR_INVALID_MODEL, "too many repeated fields");
    int cap = l->cap ? l->cap * 2 : 16;
    sn_pb_field *nf = sn_realloc(l->f, sizeof(sn_pb_field) * (size_t)cap);
    if (!nf) return SN_ERR_OOM();
    l->f = nf;
    l->cap = cap;
  }
  l->f[l->n++] = *f;
  return NULL;
}

static const char *norm_domain(const char *d) { return (!d || !strcmp(d, "ai.onnx")) ? "" : d; }

/* ---- frames: one graph being built ------------------------------------------------------------------ */

typedef struct pend {
  int node;
  const uint8_t *p;
  size_t len;
  sn_onnx_env *env;
  bool create;
  int index; /* for messages: position in the file's node list, or -1 for inlined nodes */
} pend;

struct sn_onnx_frame {
  sn_graph *g;
  sn_onnx_frame *up;
  int owner;         /* node of up->g whose attribute this graph is */
  sn_onnx_env *env;  /* names inside a function body's subgraph map through this (lookup only) */
  int cur_node;      /* node whose attributes are being parsed (pass 2) */
  int n_pend, cap_pend;
  pend *pend;
  int n_mark;
  int *cap_mark; /* cap_mark[value] = owner node + 1 that already lists it in captures */
};

sn_graph *sn_onnx_frame_graph(sn_onnx_frame *f) { return f->g; }

static void frame_free(sn_onnx_frame *f) {
  sn_free(f->pend);
  sn_free(f->cap_mark);
}

/* "node 'conv1' (Conv)" */
static const char *node_label(char *buf, size_t n, const sn_node *nd, int index) {
  const char *dom = nd->domain && *nd->domain ? nd->domain : NULL;
  char opbuf[200];
  snprintf(opbuf, sizeof opbuf, "%s%s%s", dom ? dom : "", dom ? ":" : "", nd->op_type ? nd->op_type : "?");
  if (nd->name && *nd->name)
    snprintf(buf, n, "node '%s' (%s)", nd->name, opbuf);
  else if (index >= 0)
    snprintf(buf, n, "node #%d (%s)", index, opbuf);
  else
    snprintf(buf, n, "unnamed node (%s)", opbuf);
  return buf;
}

static sn_error *add_capture(sn_onnx_frame *up, int owner, int pid) {
  if (pid >= up->n_mark) {
    int n = up->n_mark ? up->n_mark : 64;
    while (n <= pid) n *= 2;
    int *m = sn_realloc(up->cap_mark, sizeof(int) * (size_t)n);
    if (!m) return SN_ERR_OOM();
    memset(m + up->n_mark, 0, sizeof(int) * (size_t)(n - up->n_mark));
    up->cap_mark = m;
    up->n_mark = n;
  }
  if (up->cap_mark[pid] == owner + 1) return NULL;
  sn_node *nd = &up->g->nodes[owner];
  int *caps = sn_realloc(nd->captures, sizeof(int) * (size_t)(nd->n_captures + 1));
  if (!caps) return SN_ERR_OOM();
  nd->captures = caps;
  caps[nd->n_captures++] = pid;
  up->cap_mark[pid] = owner + 1;
  return NULL;
}

/* Value id of `name` in frame f, creating CAPTURE values through enclosing graphs; -1 if none. */
static sn_error *resolve(sn_onnx_frame *f, const char *name, int *id) {
  int v = sn_graph_find(f->g, name);
  if (v >= 0 || !f->up) {
    *id = v;
    return NULL;
  }
  int pid;
  SN_TRY(resolve(f->up, name, &pid));
  if (pid < 0) {
    *id = -1;
    return NULL;
  }
  SN_TRY(sn_graph_add_value(f->g, name, &v));
  sn_value *val = &f->g->values[v];
  val->role = SN_VAL_CAPTURE;
  val->outer = pid;
  val->type = f->up->g->values[pid].type;
  SN_TRY(add_capture(f->up, f->owner, pid));
  *id = v;
  return NULL;
}

static sn_error *final_name(sn_onnx_ctx *c, sn_onnx_frame *f, sn_onnx_env *env, bool create, const char *raw,
                            const char **out) {
  if (!env) {
    *out = raw;
    return NULL;
  }
  return sn_onnx_env_name(c, env, f->g, raw, create, out);
}

/* ---- types ------------------------------------------------------------------------------------------- */

static const char *intern(sn_onnx_ctx *c, const char *s) {
  const char *v = sn_onnx_map_get(&c->syms, s, NULL);
  if (v) return v;
  if (!(v = sn_model_intern(c->m, s))) return NULL;
  if (sn_onnx_map_put(&c->syms, s, (void *)v)) return NULL;
  return v;
}

static sn_error *parse_shape(sn_onnx_ctx *c, sn_pb r, sn_type *t, bool *ok, const char **why) {
  sn_pb_field f;
  int st;
  t->rank = 0;
  while ((st = sn_pb_next(&r, &f)) > 0) {
    if (f.num != 1) continue;
    if (f.wire != SN_PB_LEN) return sn_onnx_field_error(c, &f, "dim is not a message");
    if (t->rank == SN_MAX_RANK) {
      *ok = false;
      *why = "has more dimensions than supported (16)";
      t->rank = -1;
      return NULL;
    }
    sn_dim d = sn_dim_unknown();
    sn_pb dr = sn_pb_sub(&r, &f);
    sn_pb_field df;
    while ((st = sn_pb_next(&dr, &df)) > 0) {
      if (df.num == 1 && df.wire == SN_PB_VARINT) {
        d.v = (int64_t)df.u < 0 ? -1 : (int64_t)df.u;
        d.sym = NULL;
      } else if (df.num == 2 && df.wire == SN_PB_LEN) {
        char *s = sn_onnx_str(&df);
        if (!s) return SN_ERR_OOM();
        d.v = -1;
        d.sym = NULL;
        if (*s && c->m && !(d.sym = intern(c, s))) {
          sn_free(s);
          return SN_ERR_OOM();
        }
        sn_free(s);
      }
    }
    if (st < 0) return sn_onnx_pb_error(c, &dr, st);
    t->dims[t->rank++] = d;
  }
  if (st < 0) return sn_onnx_pb_error(c, &r, st);
  return NULL;
}

/* TypeProto.Tensor (or SparseTensor) into t */
static sn_error *parse_tensor_type(sn_onnx_ctx *c, sn_pb r, sn_type *t, bool *ok, const char **why) {
  sn_pb_field f;
  int st;
  while ((st = sn_pb_next(&r, &f)) > 0) {
    if (f.num == 1 && f.wire == SN_PB_VARINT) {
      int64_t dt = (int64_t)f.u;
      if (dt != 0 && !sn_dtype_valid((int)dt)) {
        *ok = false;
        snprintf(c->whybuf, sizeof c->whybuf, "has element type %lld (unknown to Sinter)", (long long)dt);
        *why = c->whybuf;
        t->dtype = SINTER_UNDEFINED;
      } else {
        t->dtype = (sn_dtype)dt;
      }
    } else if (f.num == 2 && f.wire == SN_PB_LEN) {
      SN_TRY(parse_shape(c, sn_pb_sub(&r, &f), t, ok, why));
    }
  }
  if (st < 0) return sn_onnx_pb_error(c, &r, st);
  return NULL;
}

static sn_error *parse_type_rec(sn_onnx_ctx *c, sn_pb r, sn_type *t, bool *ok, const char **why, int depth) {
  sn_pb_field f;
  int st;
  if (depth > 8) {
    *ok = false;
    *why = "is nested too deeply";
    return NULL;
  }
  while ((st = sn_pb_next(&r, &f)) > 0) {
    if (f.wire != SN_PB_LEN) continue;
    sn_pb sub = sn_pb_sub(&r, &f);
    switch (f.num) {
      case 1: /* tensor_type */
        sn_type_set_unknown(t, SINTER_UNDEFINED);
        SN_TRY(parse_tensor_type(c, sub, t, ok, why));
        break;
      case 4:   /* sequence_type */
      case 9: { /* optional_type */
        sn_type inner;
        sn_type_set_unknown(&inner, SINTER_UNDEFINED);
        bool have = false;
        sn_pb_field ef;
        while ((st = sn_pb_next(&sub, &ef)) > 0)
          if (ef.num == 1 && ef.wire == SN_PB_LEN) {
            sn_type_set_unknown(&inner, SINTER_UNDEFINED);
            SN_TRY(parse_type_rec(c, sn_pb_sub(&sub, &ef), &inner, ok, why, depth + 1));
            have = true;
          }
        if (st < 0) return sn_onnx_pb_error(c, &sub, st);
        *t = inner;
        if (f.num == 4) {
          if (have && inner.kind != SN_KIND_TENSOR) {
            *ok = false;
            *why = "is a sequence of non-tensors";
          }
          t->kind = SN_KIND_SEQUENCE;
          t->elem_kind = SN_KIND_TENSOR;
        } else {
          if (have && inner.kind == SN_KIND_OPTIONAL) {
            *ok = false;
            *why = "is an optional of an optional";
          }
          t->elem_kind = inner.kind == SN_KIND_SEQUENCE ? SN_KIND_SEQUENCE : SN_KIND_TENSOR;
          t->kind = SN_KIND_OPTIONAL;
        }
        break;
      }
      case 5:
        *ok = false;
        *why = "is a map";
        break;
      case 8:
        *ok = false;
        *why = "is a sparse tensor";
        break;
      case 7:
        *ok = false;
        *why = "is an opaque type";
        break;
      default: break;
    }
  }
  if (st < 0) return sn_onnx_pb_error(c, &r, st);
  return NULL;
}

sn_error *sn_onnx_parse_type(sn_onnx_ctx *c, sn_pb r, sn_type *t, bool *representable, const char **why) {
  sn_type_set_unknown(t, SINTER_UNDEFINED);
  *representable = true;
  *why = "";
  return parse_type_rec(c, r, t, representable, why, 0);
}

static bool type_has_info(const sn_type *t) { return t->kind != SN_KIND_TENSOR || t->dtype != 0 || t->rank >= 0; }

/* ValueInfoProto: name and type */
static sn_error *parse_value_info(sn_onnx_ctx *c, sn_pb r, char **name, sn_type *t, bool *ok, const char **why) {
  sn_pb_field f;
  int st;
  *name = NULL;
  sn_type_set_unknown(t, SINTER_UNDEFINED);
  *ok = true;
  *why = "";
  while ((st = sn_pb_next(&r, &f)) > 0) {
    if (f.num == 1 && f.wire == SN_PB_LEN) {
      sn_free(*name);
      if (!(*name = sn_onnx_str(&f))) return SN_ERR_OOM();
    } else if (f.num == 2 && f.wire == SN_PB_LEN) {
      sn_error *e = sn_onnx_parse_type(c, sn_pb_sub(&r, &f), t, ok, why);
      if (e) {
        sn_free(*name);
        *name = NULL;
        return e;
      }
    }
  }
  if (st < 0) {
    sn_free(*name);
    *name = NULL;
    return sn_onnx_pb_error(c, &r, st);
  }
  if (!*name && !(*name = sn_strdup(""))) return SN_ERR_OOM();
  return NULL;
}

/* ---- attributes ------------------------------------------------------------------------------------ */

static sn_error *build_graph(sn_onnx_ctx *c, sn_onnx_frame *f, sn_pb r);

static sn_error *parse_subgraph(sn_onnx_ctx *c, sn_onnx_frame *f, sn_pb r, sn_onnx_env *env, sn_graph **out) {
  *out = NULL;
  if (!f) return NULL; /* function attribute defaults: graphs are not kept */
  if (c->graph_depth >= MAX_GRAPH_DEPTH)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "subgraphs are nested more than %d deep", MAX_GRAPH_DEPTH);
  sn_graph *g = sn_graph_new(c->m, f->g, "");
  if (!g) return SN_ERR_OOM();
  *out = g; /* owned by the attribute from here on, even on failure */
  sn_onnx_frame sf;
  memset(&sf, 0, sizeof sf);
  sf.g = g;
  sf.up = f;
  sf.owner = f->cur_node;
  sf.env = env;
  sf.cur_node = -1;
  c->graph_depth++;
  sn_error *e = build_graph(c, &sf, r);
  c->graph_depth--;
  frame_free(&sf);
  return e;
}

enum {
  A_NAME = 1, A_F = 2, A_I = 3, A_S = 4, A_T = 5, A_G = 6, A_FLOATS = 7, A_INTS = 8, A_STRINGS = 9, A_TENSORS = 10,
  A_GRAPHS = 11, A_TP = 14, A_TPS = 15, A_TYPE = 20, A_REF = 21, A_SPARSE = 22, A_SPARSES = 23
};

static int attr_type_of_field(int num) {
  switch (num) {
    case A_F: return SN_ATTR_FLOAT;
    case A_I: return SN_ATTR_INT;
    case A_S: return SN_ATTR_STRING;
    case A_T: return SN_ATTR_TENSOR;
    case A_G: return SN_ATTR_GRAPH;
    case A_SPARSE: return SN_ATTR_SPARSE_TENSOR;
    case A_TP: return SN_ATTR_TYPE_PROTO;
    case A_FLOATS: return SN_ATTR_FLOATS;
    case A_INTS: return SN_ATTR_INTS;
    case A_STRINGS: return SN_ATTR_STRINGS;
    case A_TENSORS: return SN_ATTR_TENSORS;
    case A_GRAPHS: return SN_ATTR_GRAPHS;
    case A_SPARSES: return SN_ATTR_SPARSE_TENSORS;
    case A_TPS: return SN_ATTR_TYPE_PROTOS;
    default: return SN_ATTR_UNDEFINED;
  }
}

static int field_of_attr_type(int type) {
  for (int n = 1; n <= 23; n++)
    if (attr_type_of_field(n) == type) return n;
  return 0;
}

static sn_error *parse_attr_depth(sn_onnx_ctx *c, sn_onnx_frame *f, sn_pb r, sn_onnx_env *env, sn_attr *a,
                                  bool *present, int depth);

sn_error *sn_onnx_parse_attr(sn_onnx_ctx *c, sn_onnx_frame *f, sn_pb r, sn_onnx_env *env, sn_attr *a,
                             bool *present) {
  return parse_attr_depth(c, f, r, env, a, present, 0);
}

static sn_error *parse_attr_depth(sn_onnx_ctx *c, sn_onnx_frame *f, sn_pb r, sn_onnx_env *env, sn_attr *a,
                                  bool *present, int depth) {
  memset(a, 0, sizeof *a);
  *present = true;
  sn_pb r0 = r;
  sn_pb_field fl;
  int st;
  int64_t type = -1;
  size_t cnt[24] = {0};
  char *name = NULL, *ref = NULL;
  sn_error *e = NULL;
  while ((st = sn_pb_next(&r, &fl)) > 0) {
    if (fl.num == A_NAME || fl.num == A_REF) {
      if (fl.wire != SN_PB_LEN) {
        e = sn_onnx_field_error(c, &fl, "name is not a string");
        goto fail;
      }
      char **dst = fl.num == A_NAME ? &name : &ref;
      sn_free(*dst);
      if (!(*dst = sn_onnx_str(&fl))) {
        e = SN_ERR_OOM();
        goto fail;
      }
    } else if (fl.num == A_TYPE) {
      if (sn_pb_as_int64(&fl, &type)) {
        e = sn_onnx_field_error(c, &fl, "bad attribute type");
        goto fail;
      }
    } else if (fl.num < 24 && attr_type_of_field((int)fl.num) != SN_ATTR_UNDEFINED) {
      size_t k = 1;
      if (fl.num == A_FLOATS || fl.num == A_INTS) {
        if ((st = sn_pb_count_elems(&fl, fl.num == A_FLOATS ? SN_PB_E_I32 : SN_PB_E_VARINT, &k))) {
          e = sn_onnx_field_error(c, &fl, sn_pb_strerror(st));
          goto fail;
        }
      }
      cnt[fl.num] += k;
    }
  }
  if (st < 0) {
    e = sn_onnx_pb_error(c, &r, st);
    goto fail;
  }
  if (!name && !(name = sn_strdup(""))) {
    e = SN_ERR_OOM();
    goto fail;
  }
  if (ref && *ref) {
    if (!env) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "attribute '%s' refers to '%s' (ref_attr_name) outside a function body",
                    name, ref);
      goto fail;
    }
    const uint8_t *bp;
    size_t bl;
    sn_onnx_env *benv;
    if (!sn_onnx_env_attr(env, ref, &bp, &bl, &benv)) {
      *present = false;
      sn_free(name);
      sn_free(ref);
      return NULL;
    }
    if (depth > 64) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "attribute '%s': ref_attr_name chain is too long", name);
      goto fail;
    }
    e = parse_attr_depth(c, f, sn_pb_init(c->buf, bp, bl), benv, a, present, depth + 1);
    if (e || !*present) goto fail;
    sn_free(a->name);
    a->name = name;
    sn_free(ref);
    return NULL;
  }
  sn_free(ref);
  ref = NULL;
  if (type < 0) { /* old models: infer the kind from the field present */
    static const int order[] = {A_F, A_I, A_S, A_T, A_G, A_SPARSE, A_TP, A_FLOATS, A_INTS, A_STRINGS,
                                A_TENSORS, A_GRAPHS, A_SPARSES, A_TPS};
    type = SN_ATTR_UNDEFINED;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
      if (cnt[order[i]]) {
        type = attr_type_of_field(order[i]);
        break;
      }
    if (type == SN_ATTR_UNDEFINED) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "attribute '%s' has no type and no value", name);
      goto fail;
    }
  }
  if (type < 1 || type > 14) {
    e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "attribute '%s' has unsupported type %lld", name, (long long)type);
    goto fail;
  }
  a->name = name;
  name = NULL;
  a->type = (int)type;
  int want = field_of_attr_type((int)type);
  size_t n = cnt[want];
  if (n > INT_MAX / 2) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "attribute '%s' has too many values", a->name);
    goto fail;
  }
  switch (type) {
    case SN_ATTR_FLOATS:
      if (!(a->floats = sn_calloc(n ? n : 1, sizeof(float)))) goto oom;
      break;
    case SN_ATTR_INTS:
      if (!(a->ints = sn_calloc(n ? n : 1, sizeof(int64_t)))) goto oom;
      break;
    case SN_ATTR_STRINGS:
      if (!(a->strings = sn_calloc(n ? n : 1, sizeof(char *)))) goto oom;
      if (!(a->string_lens = sn_calloc(n ? n : 1, sizeof(size_t)))) goto oom;
      break;
    case SN_ATTR_TENSORS:
    case SN_ATTR_SPARSE_TENSORS:
      if (!(a->tensors = sn_calloc(n ? n : 1, sizeof(sn_tensor *)))) goto oom;
      break;
    case SN_ATTR_GRAPHS:
      if (!(a->graphs = sn_calloc(n ? n : 1, sizeof(sn_graph *)))) goto oom;
      break;
    case SN_ATTR_TYPE_PROTOS:
      if (!(a->types = sn_calloc(n ? n : 1, sizeof(sn_type)))) goto oom;
      break;
    case SN_ATTR_TYPE_PROTO:
      if (!(a->types = sn_calloc(1, sizeof(sn_type)))) goto oom;
      sn_type_set_unknown(a->types, SINTER_UNDEFINED);
      break;
    case SN_ATTR_STRING:
      if (!(a->s = sn_strdup(""))) goto oom;
      break;
    default: break;
  }
  r = r0;
  char what[300];
  snprintf(what, sizeof what, "attribute '%s'", a->name);
  while ((st = sn_pb_next(&r, &fl)) > 0) {
    if ((int)fl.num != want) continue;
    sn_pb sub = sn_pb_sub(&r, &fl);
    size_t pl = sn_onnx_path_push(c, ".attribute '%s'", a->name);
    switch (type) {
      case SN_ATTR_FLOAT:
        if (sn_pb_as_float(&fl, &a->f)) e = sn_onnx_field_error(c, &fl, "f is not a float");
        break;
      case SN_ATTR_INT:
        if (sn_pb_as_int64(&fl, &a->i)) e = sn_onnx_field_error(c, &fl, "i is not an int");
        break;
      case SN_ATTR_STRING:
        if (fl.wire != SN_PB_LEN) {
          e = sn_onnx_field_error(c, &fl, "s is not a string");
          break;
        }
        sn_free(a->s);
        if (!(a->s = sn_strndup(fl.len ? (const char *)fl.data : "", fl.len))) e = SN_ERR_OOM();
        a->s_len = fl.len;
        break;
      case SN_ATTR_TENSOR:
      case SN_ATTR_SPARSE_TENSOR:
        if (fl.wire != SN_PB_LEN) {
          e = sn_onnx_field_error(c, &fl, "tensor is not a message");
          break;
        }
        sn_tensor_free(a->t);
        a->t = NULL;
        e = type == SN_ATTR_TENSOR ? sn_onnx_parse_tensor(c, sub, what, true, &a->t, NULL)
                                   : sn_onnx_parse_sparse(c, sub, what, &a->t, NULL);
        break;
      case SN_ATTR_GRAPH:
        if (fl.wire != SN_PB_LEN) {
          e = sn_onnx_field_error(c, &fl, "g is not a message");
          break;
        }
        sn_graph_free(a->g);
        a->g = NULL;
        e = parse_subgraph(c, f, sub, env, &a->g);
        if (e) e = sn_error_wrap(e, "attribute '%s'", a->name);
        break;
      case SN_ATTR_TYPE_PROTO: {
        if (fl.wire != SN_PB_LEN) {
          e = sn_onnx_field_error(c, &fl, "tp is not a message");
          break;
        }
        bool ok;
        const char *why;
        e = sn_onnx_parse_type(c, sub, a->types, &ok, &why);
        if (!e && !ok) e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "attribute '%s': type %s", a->name, why);
        break;
      }
      case SN_ATTR_FLOATS:
      case SN_ATTR_INTS: {
        sn_pb_iter it;
        uint64_t v;
        if ((st = sn_pb_iter_init(&fl, type == SN_ATTR_FLOATS ? SN_PB_E_I32 : SN_PB_E_VARINT, &it))) {
          e = sn_onnx_field_error(c, &fl, sn_pb_strerror(st));
          break;
        }
        while ((st = sn_pb_iter_next(&it, &v)) > 0 && a->n < (int)n) {
          if (type == SN_ATTR_FLOATS) {
            uint32_t u = (uint32_t)v;
            memcpy(&a->floats[a->n++], &u, 4);
          } else {
            a->ints[a->n++] = (int64_t)v;
          }
        }
        if (st < 0) e = sn_onnx_field_error(c, &fl, sn_pb_strerror(st));
        break;
      }
      case SN_ATTR_STRINGS:
        if (fl.wire != SN_PB_LEN) {
          e = sn_onnx_field_error(c, &fl, "strings entry is not a string");
          break;
        }
        if (!(a->strings[a->n] = sn_strndup(fl.len ? (const char *)fl.data : "", fl.len))) {
          e = SN_ERR_OOM();
          break;
        }
        a->string_lens[a->n++] = fl.len;
        break;
      case SN_ATTR_TENSORS:
      case SN_ATTR_SPARSE_TENSORS:
        if (fl.wire != SN_PB_LEN) {
          e = sn_onnx_field_error(c, &fl, "tensors entry is not a message");
          break;
        }
        e = type == SN_ATTR_TENSORS ? sn_onnx_parse_tensor(c, sub, what, true, &a->tensors[a->n], NULL)
                                    : sn_onnx_parse_sparse(c, sub, what, &a->tensors[a->n], NULL);
        if (!e) a->n++;
        break;
      case SN_ATTR_GRAPHS:
        if (fl.wire != SN_PB_LEN) {
          e = sn_onnx_field_error(c, &fl, "graphs entry is not a message");
          break;
        }
        e = parse_subgraph(c, f, sub, env, &a->graphs[a->n]);
        if (e) e = sn_error_wrap(e, "attribute '%s'[%d]", a->name, a->n);
        a->n++; /* the graph (possibly partial) is owned by the attribute */
        break;
      case SN_ATTR_TYPE_PROTOS: {
        if (fl.wire != SN_PB_LEN) {
          e = sn_onnx_field_error(c, &fl, "type_protos entry is not a message");
          break;
        }
        bool ok;
        const char *why;
        e = sn_onnx_parse_type(c, sub, &a->types[a->n], &ok, &why);
        if (!e && !ok) e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "attribute '%s': type %s", a->name, why);
        if (!e) a->n++;
        break;
      }
      default: break;
    }
    sn_onnx_path_pop(c, pl);
    if (e) goto fail;
  }
  if (st < 0) {
    e = sn_onnx_pb_error(c, &r, st);
    goto fail;
  }
  if (type == SN_ATTR_GRAPH && !a->g && f) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "attribute '%s' of type GRAPH has no graph", a->name);
    goto fail;
  }
  if ((type == SN_ATTR_TENSOR || type == SN_ATTR_SPARSE_TENSOR) && !a->t) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "attribute '%s' of type TENSOR has no tensor", a->name);
    goto fail;
  }
  return NULL;
oom:
  e = SN_ERR_OOM();
fail:
  sn_free(name);
  sn_free(ref);
  sn_attr_clear(a);
  return e;
}

/* ---- nodes ----------------------------------------------------------------------------------------- */

typedef struct nodehdr {
  char *name, *op_type, *domain, *overload;
  int n_in, n_out, n_attr;
} nodehdr;

static void nodehdr_free(nodehdr *h) {
  sn_free(h->name);
  sn_free(h->op_type);
  sn_free(h->domain);
  sn_free(h->overload);
}

static sn_error *scan_node(sn_onnx_ctx *c, sn_pb r, nodehdr *h) {
  memset(h, 0, sizeof *h);
  sn_pb_field f;
  int st;
  while ((st = sn_pb_next(&r, &f)) > 0) {
    char **dst = NULL;
    switch (f.num) {
      case 1:
      case 2:
      case 5:
        if (f.wire != SN_PB_LEN) return sn_onnx_field_error(c, &f, "not a string or message");
        if (f.num == 1) h->n_in++;
        if (f.num == 2) h->n_out++;
        if (f.num == 5) h->n_attr++;
        if (h->n_in > INT_MAX / 2 || h->n_out > INT_MAX / 2 || h->n_attr > INT_MAX / 2)
          return sn_errorf(SINTER_ERR_INVALID_MODEL, "node has too many inputs, outputs or attributes");
        break;
      case 3: dst = &h->name; break;
      case 4: dst = &h->op_type; break;
      case 7: dst = &h->domain; break;
      case 8: dst = &h->overload; break;
      default: break;
    }
    if (dst) {
      if (f.wire != SN_PB_LEN) return sn_onnx_field_error(c, &f, "not a string");
      sn_free(*dst);
      if (!(*dst = sn_onnx_str(&f))) return SN_ERR_OOM();
    }
  }
  if (st < 0) return sn_onnx_pb_error(c, &r, st);
  const char *dom = norm_domain(h->domain);
  if (dom != h->domain) {
    sn_free(h->domain);
    h->domain = NULL;
  }
  if (!h->name && !(h->name = sn_strdup(""))) return SN_ERR_OOM();
  if (!h->op_type && !(h->op_type = sn_strdup(""))) return SN_ERR_OOM();
  if (!h->domain && !(h->domain = sn_strdup(""))) return SN_ERR_OOM();
  if (!h->overload && !(h->overload = sn_strdup(""))) return SN_ERR_OOM();
  return NULL;
}

static sn_error *push_pend(sn_onnx_frame *f, const pend *p) {
  if (f->n_pend == f->cap_pend) {
    int cap = f->cap_pend ? f->cap_pend * 2 : 32;
    pend *np = sn_realloc(f->pend, sizeof(pend) * (size_t)cap);
    if (!np) return SN_ERR_OOM();
    f->pend = np;
    f->cap_pend = cap;
  }
  f->pend[f->n_pend++] = *p;
  return NULL;
}

/* phase: 0 = plain nodes only, 1 = function calls only, -1 = both */
static sn_error *declare_node(sn_onnx_ctx *c, sn_onnx_frame *f, const uint8_t *p, size_t len, sn_onnx_env *env,
                              bool create, int phase, int index) {
  nodehdr h;
  sn_pb r = sn_pb_init(c->buf, p, len);
  sn_error *e = scan_node(c, r, &h);
  char lbl[600];
  if (e) goto done;
  if (!*h.op_type) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "node #%d ('%s') has no op_type", index, h.name);
    goto done;
  }
  const sn_onnx_fn *fn = sn_onnx_find_function(c, h.domain, h.op_type, h.overload);
  if (fn) {
    if (phase != 0) e = sn_onnx_expand_call(c, f, fn, p, len, env, create);
    goto done;
  }
  if (phase == 1) goto done;
  c->n_nodes_made += 1 + (size_t)h.n_in + (size_t)h.n_out;
  if (c->n_nodes_made > c->max_nodes) {
    e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "the model expands to more than %zu nodes and values "
                  "(function inlining)", c->max_nodes);
    goto done;
  }
  sn_graph *g = f->g;
  int ni;
  if ((e = sn_graph_add_node(g, &ni))) goto done;
  sn_node *nd = &g->nodes[ni];
  const char *prefix = env ? sn_onnx_env_prefix(env) : "";
  if (*prefix) {
    size_t a = strlen(prefix), b = strlen(*h.name ? h.name : h.op_type);
    nd->name = sn_malloc(a + b + 1);
    if (nd->name) {
      memcpy(nd->name, prefix, a);
      memcpy(nd->name + a, *h.name ? h.name : h.op_type, b + 1);
    }
  } else {
    nd->name = h.name;
    h.name = NULL;
  }
  nd->op_type = h.op_type;
  nd->domain = h.domain;
  h.op_type = h.domain = NULL;
  if (!nd->name) {
    e = SN_ERR_OOM();
    goto done;
  }
  node_label(lbl, sizeof lbl, nd, index);
  int64_t ver = sn_model_opset(c->m, nd->domain);
  if (ver < 0 && env) ver = sn_onnx_env_opset(env, nd->domain);
  if (ver < 0) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: domain '%s' is not in the model's opset_import", lbl,
                  *nd->domain ? nd->domain : "ai.onnx");
    goto done;
  }
  nd->opset = (int)ver;
  nd->in = sn_malloc(sizeof(int) * (size_t)(h.n_in ? h.n_in : 1));
  nd->out = sn_malloc(sizeof(int) * (size_t)(h.n_out ? h.n_out : 1));
  if (!nd->in || !nd->out) {
    e = SN_ERR_OOM();
    goto done;
  }
  for (int i = 0; i < h.n_in; i++) nd->in[i] = -1;
  nd->n_in = h.n_in;
  /* outputs */
  sn_pb_field fl;
  int st;
  while ((st = sn_pb_next(&r, &fl)) > 0) {
    if (fl.num != 2) continue;
    char *raw = sn_onnx_str(&fl);
    if (!raw) {
      e = SN_ERR_OOM();
      goto done;
    }
    const char *nm;
    e = final_name(c, f, env, create, raw, &nm);
    if (!e && !*nm) {
      g->nodes[ni].out[g->nodes[ni].n_out++] = -1;
    } else if (!e) {
      int v = sn_graph_find(g, nm);
      if (v >= 0) {
        const sn_value *val = &g->values[v];
        if (val->producer >= 0) {
          char l2[600];
          e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: output '%s' is already produced by %s", lbl, nm,
                        node_label(l2, sizeof l2, &g->nodes[val->producer], -1));
        } else {
          e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: output '%s' is already a graph %s", lbl, nm,
                        val->role == SN_VAL_INITIALIZER ? "initializer" : "input");
        }
      } else if (!(e = sn_graph_add_value(g, nm, &v))) {
        g->values[v].producer = ni;
        g->nodes[ni].out[g->nodes[ni].n_out++] = v;
      }
    }
    sn_free(raw);
    if (e) goto done;
  }
  if (st < 0) {
    e = sn_onnx_pb_error(c, &r, st);
    goto done;
  }
  pend pd = {ni, p, len, env, create, index};
  e = push_pend(f, &pd);
done:
  nodehdr_free(&h);
  return e;
}

sn_error *sn_onnx_declare_node(sn_onnx_ctx *c, sn_onnx_frame *f, const uint8_t *p, size_t len, sn_onnx_env *env,
                               bool create) {
  return declare_node(c, f, p, len, env, create, -1, -1);
}

/* Pass 2: inputs and attributes of one node. */
static sn_error *finish_node(sn_onnx_ctx *c, sn_onnx_frame *f, const pend *pd) {
  sn_graph *g = f->g;
  sn_pb r = sn_pb_init(c->buf, pd->p, pd->len);
  sn_pb_field fl;
  int st, k = 0, n_attr = 0;
  char lbl[600];
  node_label(lbl, sizeof lbl, &g->nodes[pd->node], pd->index);
  sn_error *e = NULL;
  while ((st = sn_pb_next(&r, &fl)) > 0) {
    if (fl.num == 5) n_attr++;
    if (fl.num != 1) continue;
    char *raw = sn_onnx_str(&fl);
    if (!raw) return SN_ERR_OOM();
    const char *nm;
    int id = -1;
    e = final_name(c, f, pd->env, pd->create, raw, &nm);
    if (!e && *nm) {
      e = resolve(f, nm, &id);
      if (!e && id < 0)
        e = sn_errorf(SINTER_ERR_INVALID_MODEL,
                      "%s: input '%s' is not produced by any node and is not a graph input or initializer%s", lbl,
                      nm, f->up ? " (here or in an enclosing graph)" : "");
    }
    sn_free(raw);
    if (e) return e;
    g->nodes[pd->node].in[k++] = id;
  }
  if (st < 0) return sn_onnx_pb_error(c, &r, st);
  if (!n_attr) return NULL;
  sn_attr *attrs = sn_calloc((size_t)n_attr, sizeof(sn_attr));
  if (!attrs) return SN_ERR_OOM();
  g->nodes[pd->node].attrs = attrs;
  f->cur_node = pd->node;
  r = sn_pb_init(c->buf, pd->p, pd->len);
  int ai = 0;
  while ((st = sn_pb_next(&r, &fl)) > 0) {
    if (fl.num != 5) continue;
    size_t pl = sn_onnx_path_push(c, ".attribute[%d]", ai++);
    sn_attr a;
    bool present;
    e = sn_onnx_parse_attr(c, f, sn_pb_sub(&r, &fl), pd->env, &a, &present);
    sn_onnx_path_pop(c, pl);
    if (e) return sn_error_wrap(e, "%s", lbl);
    if (!present) continue;
    sn_node *nd = &g->nodes[pd->node];
    nd->attrs[nd->n_attrs++] = a;
  }
  if (st < 0) return sn_onnx_pb_error(c, &r, st);
  return NULL;
}

/* ---- graphs ----------------------------------------------------------------------------------------- */

static sn_error *add_input_ids(sn_graph *g, int **arr, int *n, int id) {
  int *a = sn_realloc(*arr, sizeof(int) * (size_t)(*n + 1));
  if (!a) return SN_ERR_OOM();
  (void)g;
  *arr = a;
  a[(*n)++] = id;
  return NULL;
}

static sn_error *build_graph(sn_onnx_ctx *c, sn_onnx_frame *f, sn_pb r) {
  sn_graph *g = f->g;
  flist nodes = {0}, inits = {0}, sparse = {0}, inputs = {0}, outputs = {0}, vinfo = {0};
  sn_pb_field fl;
  int st;
  sn_error *e = NULL;
  char *gname = NULL;
  while ((st = sn_pb_next(&r, &fl)) > 0) {
    flist *l = NULL;
    switch (fl.num) {
      case 1: l = &nodes; break;
      case 2:
        if (fl.wire == SN_PB_LEN) {
          sn_free(gname);
          if (!(gname = sn_onnx_str(&fl))) e = SN_ERR_OOM();
        }
        break;
      case 5: l = &inits; break;
      case 15: l = &sparse; break;
      case 11: l = &inputs; break;
      case 12: l = &outputs; break;
      case 13: l = &vinfo; break;
      default: break;
    }
    if (l) {
      if (fl.wire != SN_PB_LEN)
        e = sn_onnx_field_error(c, &fl, "not a message");
      else
        e = flist_add(l, &fl);
    }
    if (e) goto done;
  }
  if (st < 0) {
    e = sn_onnx_pb_error(c, &r, st);
    goto done;
  }
  if (gname) {
    sn_free(g->name);
    g->name = gname;
    gname = NULL;
  }
  char gdesc[300];
  snprintf(gdesc, sizeof gdesc, "graph '%s'", g->name);

  /* initializers */
  for (int i = 0; i < inits.n + sparse.n; i++) {
    bool sp = i >= inits.n;
    const sn_pb_field *ff = sp ? &sparse.f[i - inits.n] : &inits.f[i];
    size_t pl = sn_onnx_path_push(c, sp ? ".sparse_initializer[%d]" : ".initializer[%d]", sp ? i - inits.n : i);
    sn_tensor *t = NULL;
    char *nm = NULL;
    sn_pb sub = sn_pb_sub(&r, ff);
    e = sp ? sn_onnx_parse_sparse(c, sub, "sparse initializer", &t, &nm)
           : sn_onnx_parse_tensor(c, sub, "initializer", true, &t, &nm);
    sn_onnx_path_pop(c, pl);
    int v = -1;
    if (!e && !*nm) e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: initializer #%d has no name", gdesc, i);
    if (!e && sn_graph_find(g, nm) >= 0)
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: initializer '%s' is defined twice", gdesc, nm);
    if (!e) e = sn_graph_add_value(g, nm, &v);
    if (!e) {
      sn_value *val = &g->values[v];
      val->role = SN_VAL_INITIALIZER;
      val->data = t;
      t = NULL;
      sn_type_set_static(&val->type, val->data->dtype, val->data->rank, val->data->dims);
    }
    sn_tensor_free(t);
    sn_free(nm);
    if (e) goto done;
  }

  /* inputs */
  for (int i = 0; i < inputs.n; i++) {
    size_t pl = sn_onnx_path_push(c, ".input[%d]", i);
    char *nm = NULL;
    sn_type t;
    bool ok;
    const char *why;
    e = parse_value_info(c, sn_pb_sub(&r, &inputs.f[i]), &nm, &t, &ok, &why);
    sn_onnx_path_pop(c, pl);
    if (e) goto done;
    int v = *nm ? sn_graph_find(g, nm) : -1;
    if (!*nm)
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: input #%d has no name", gdesc, i);
    else if (!ok)
      e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: input '%s' %s, which is not supported", gdesc, nm, why);
    else if (v >= 0 && g->values[v].role != SN_VAL_INITIALIZER)
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: input '%s' is declared twice", gdesc, nm);
    else if (v < 0)
      e = sn_graph_add_value(g, nm, &v);
    if (!e) {
      sn_value *val = &g->values[v];
      val->role = SN_VAL_INPUT; /* an initializer-backed input is an input with a default */
      if (type_has_info(&t)) val->type = t;
      e = add_input_ids(g, &g->inputs, &g->n_inputs, v);
    }
    sn_free(nm);
    if (e) goto done;
  }

  /* nodes: plain ones first (so generated names of inlined functions cannot collide), then calls */
  for (int phase = 0; phase < 2; phase++)
    for (int i = 0; i < nodes.n; i++) {
      size_t pl = sn_onnx_path_push(c, ".node[%d]", i);
      e = declare_node(c, f, nodes.f[i].data, nodes.f[i].len, f->env, false, phase, i);
      sn_onnx_path_pop(c, pl);
      if (e) goto done;
    }
  /* pass 2: inputs and attributes (subgraphs may capture any value declared above) */
  for (int i = 0; i < f->n_pend; i++) {
    size_t pl = f->pend[i].index >= 0 ? sn_onnx_path_push(c, ".node[%d]", f->pend[i].index) : c->pblen;
    e = finish_node(c, f, &f->pend[i]);
    sn_onnx_path_pop(c, pl);
    if (e) goto done;
  }
  f->cur_node = -1;

  /* outputs */
  for (int i = 0; i < outputs.n; i++) {
    size_t pl = sn_onnx_path_push(c, ".output[%d]", i);
    char *nm = NULL;
    sn_type t;
    bool ok;
    const char *why;
    e = parse_value_info(c, sn_pb_sub(&r, &outputs.f[i]), &nm, &t, &ok, &why);
    sn_onnx_path_pop(c, pl);
    if (e) goto done;
    int v = -1;
    if (!*nm)
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: output #%d has no name", gdesc, i);
    else if (!ok)
      e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: output '%s' %s, which is not supported", gdesc, nm, why);
    else if (!(e = resolve(f, nm, &v)) && v < 0)
      e = sn_errorf(SINTER_ERR_INVALID_MODEL,
                    "%s: output '%s' is not produced by any node and is not a graph input or initializer", gdesc,
                    nm);
    if (!e) {
      sn_value *val = &g->values[v];
      val->is_output = true;
      if (type_has_info(&t) && (val->role == SN_VAL_INTERMEDIATE || val->role == SN_VAL_CAPTURE)) val->type = t;
      e = add_input_ids(g, &g->outputs, &g->n_outputs, v);
    }
    sn_free(nm);
    if (e) goto done;
  }

  /* value_info: declared types of intermediate values */
  for (int i = 0; i < vinfo.n; i++) {
    size_t pl = sn_onnx_path_push(c, ".value_info[%d]", i);
    char *nm = NULL;
    sn_type t;
    bool ok;
    const char *why;
    e = parse_value_info(c, sn_pb_sub(&r, &vinfo.f[i]), &nm, &t, &ok, &why);
    sn_onnx_path_pop(c, pl);
    if (e) goto done;
    int v = sn_graph_find(g, nm);
    if (ok && v >= 0 && g->values[v].role == SN_VAL_INTERMEDIATE && type_has_info(&t)) g->values[v].type = t;
    sn_free(nm);
  }

  e = sn_graph_toposort(g);
  if (e) e = sn_error_wrap(e, "%s", gdesc);
done:
  sn_free(gname);
  sn_free(nodes.f);
  sn_free(inits.f);
  sn_free(sparse.f);
  sn_free(inputs.f);
  sn_free(outputs.f);
  sn_free(vinfo.f);
  return e;
}

/* ---- ModelProto ------------------------------------------------------------------------------------- */

static sn_error *set_str(char **dst, const sn_pb_field *f) {
  sn_free(*dst);
  *dst = sn_onnx_str(f);
  return *dst ? NULL : SN_ERR_OOM();
}

static sn_error *parse_opset(sn_onnx_ctx *c, sn_pb r, sn_model *m) {
  char *dom = NULL;
  int64_t ver = -1;
  sn_pb_field f;
  int st;
  while ((st = sn_pb_next(&r, &f)) > 0) {
    if (f.num == 1 && f.wire == SN_PB_LEN) {
      if (set_str(&dom, &f)) return SN_ERR_OOM();
    } else if (f.num == 2 && f.wire == SN_PB_VARINT) {
      ver = (int64_t)f.u;
    }
  }
  if (st < 0) {
    sn_free(dom);
    return sn_onnx_pb_error(c, &r, st);
  }
  const char *d = norm_domain(dom);
  if (ver < 1 || ver > INT_MAX) {
    sn_error *e = sn_errorf(SINTER_ERR_INVALID_MODEL, "opset_import for domain '%s' has invalid version %lld",
                            *d ? d : "ai.onnx", (long long)ver);
    sn_free(dom);
    return e;
  }
  int64_t have = sn_model_opset(m, d);
  if (have >= 0) {
    sn_error *e = have == ver ? NULL
                              : sn_errorf(SINTER_ERR_INVALID_MODEL, "domain '%s' is imported twice (opsets %lld and %lld)",
                                          *d ? d : "ai.onnx", (long long)have, (long long)ver);
    sn_free(dom);
    return e;
  }
  sn_opset *o = sn_realloc(m->opsets, sizeof(sn_opset) * (size_t)(m->n_opsets + 1));
  if (!o) {
    sn_free(dom);
    return SN_ERR_OOM();
  }
  m->opsets = o;
  o[m->n_opsets].domain = sn_strdup(d);
  sn_free(dom);
  if (!o[m->n_opsets].domain) return SN_ERR_OOM();
  o[m->n_opsets].version = ver;
  m->n_opsets++;
  return NULL;
}

static sn_error *parse_meta(sn_onnx_ctx *c, sn_pb r, sn_model *m) {
  char *k = NULL, *v = NULL;
  sn_pb_field f;
  int st;
  sn_error *e = NULL;
  while (!e && (st = sn_pb_next(&r, &f)) > 0) {
    if (f.num == 1 && f.wire == SN_PB_LEN) e = set_str(&k, &f);
    if (f.num == 2 && f.wire == SN_PB_LEN) e = set_str(&v, &f);
  }
  if (!e && st < 0) e = sn_onnx_pb_error(c, &r, st);
  if (!e && !k && !(k = sn_strdup(""))) e = SN_ERR_OOM();
  if (!e && !v && !(v = sn_strdup(""))) e = SN_ERR_OOM();
  if (!e) {
    char **nk = sn_realloc(m->meta_keys, sizeof(char *) * (size_t)(m->n_meta + 1));
    if (nk) m->meta_keys = nk;
    char **nv = nk ? sn_realloc(m->meta_values, sizeof(char *) * (size_t)(m->n_meta + 1)) : NULL;
    if (nv) m->meta_values = nv;
    if (!nk || !nv) {
      e = SN_ERR_OOM();
    } else {
      nk[m->n_meta] = k;
      nv[m->n_meta] = v;
      m->n_meta++;
      return NULL;
    }
  }
  sn_free(k);
  sn_free(v);
  return e;
}

static sn_error *parse_model(sn_onnx_ctx *c) {
  sn_model *m = c->m;
  sn_pb r = sn_pb_init(c->buf, c->buf, c->buf_len);
  sn_pb_field f, graph;
  memset(&graph, 0, sizeof graph);
  flist opsets = {0}, fns = {0}, metas = {0};
  bool has_graph = false, has_ir = false;
  int st;
  sn_error *e = NULL;
  c->pblen = 0;
  sn_onnx_path_push(c, "ModelProto");
  while (!e && (st = sn_pb_next(&r, &f)) > 0) {
    switch (f.num) {
      case 1:
        if (f.wire != SN_PB_VARINT) {
          e = sn_onnx_field_error(c, &f, "ir_version is not an integer");
          break;
        }
        m->ir_version = (int64_t)f.u;
        has_ir = true;
        break;
      case 2:
      case 3:
      case 4:
      case 6:
        if (f.wire != SN_PB_LEN) break;
        e = set_str(f.num == 2 ? &m->producer_name
                               : f.num == 3 ? &m->producer_version : f.num == 4 ? &m->domain : &m->doc,
                    &f);
        break;
      case 5:
        if (f.wire == SN_PB_VARINT) m->model_version = (int64_t)f.u;
        break;
      case 7:
        if (f.wire != SN_PB_LEN) {
          e = sn_onnx_field_error(c, &f, "graph is not a message");
          break;
        }
        graph = f;
        has_graph = true;
        break;
      case 8:
      case 14:
      case 25:
        if (f.wire != SN_PB_LEN) {
          e = sn_onnx_field_error(c, &f, "not a message");
          break;
        }
        e = flist_add(f.num == 8 ? &opsets : f.num == 14 ? &metas : &fns, &f);
        break;
      default: break;
    }
  }
  if (!e && st < 0) e = sn_onnx_pb_error(c, &r, st);
  if (e) goto done;
  if (!has_ir) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "not an ONNX model: ModelProto.ir_version is missing");
    goto done;
  }
  if (m->ir_version < SN_ONNX_IR_MIN || m->ir_version > SN_ONNX_IR_MAX) {
    e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "ONNX IR version %lld is not supported (supported: %d to %d)",
                  (long long)m->ir_version, SN_ONNX_IR_MIN, SN_ONNX_IR_MAX);
    goto done;
  }
  for (int i = 0; i < opsets.n && !e; i++) {
    size_t pl = sn_onnx_path_push(c, ".opset_import[%d]", i);
    e = parse_opset(c, sn_pb_sub(&r, &opsets.f[i]), m);
    sn_onnx_path_pop(c, pl);
  }
  for (int i = 0; i < metas.n && !e; i++) {
    size_t pl = sn_onnx_path_push(c, ".metadata_props[%d]", i);
    e = parse_meta(c, sn_pb_sub(&r, &metas.f[i]), m);
    sn_onnx_path_pop(c, pl);
  }
  if (e) goto done;
  if (!has_graph) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "the model has no graph");
    goto done;
  }
  if (fns.n && (e = sn_onnx_load_functions(c, fns.f, fns.n))) goto done;
  m->graph = sn_graph_new(m, NULL, "");
  if (!m->graph) {
    e = SN_ERR_OOM();
    goto done;
  }
  {
    sn_onnx_frame fr;
    memset(&fr, 0, sizeof fr);
    fr.g = m->graph;
    fr.cur_node = -1;
    size_t pl = sn_onnx_path_push(c, ".graph");
    e = build_graph(c, &fr, sn_pb_sub(&r, &graph));
    sn_onnx_path_pop(c, pl);
    frame_free(&fr);
  }
done:
  sn_free(opsets.f);
  sn_free(fns.f);
  sn_free(metas.f);
  return e;
}

/* Parse c->buf into c->m (already holding bytes/path/dir). */
static sn_error *import_model(sn_model *m, size_t readable) {
  sn_onnx_ctx c;
  memset(&c, 0, sizeof c);
  c.m = m;
  c.buf = m->bytes;
  c.buf_len = m->n_bytes;
  c.buf_readable = readable;
  c.max_nodes = ((size_t)1 << 16) + 8 * m->n_bytes;
  sn_error *e = parse_model(&c);
  sn_onnx_ctx_release(&c);
  if (e) e = sn_error_wrap(e, "%s", m->path ? m->path : "<memory>");
  return e;
}

sn_error *sn_onnx_load_bytes(const void *data, size_t len, const char *dir_or_null, sn_model **out) {
  *out = NULL;
  if (!data && len) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "model bytes are NULL");
  if (len == 0) return sn_errorf(SINTER_ERR_INVALID_MODEL, "<memory>: the model is empty (0 bytes)");
  if (len > SIZE_MAX - SN_PAD) return SN_ERR_OOM();
  sn_model *m = sn_model_new();
  if (!m) return SN_ERR_OOM();
  uint8_t *copy = sn_malloc(len + SN_PAD);
  if (!copy) {
    sn_model_free(m);
    return SN_ERR_OOM();
  }
  memcpy(copy, data, len);
  memset(copy + len, 0, SN_PAD);
  m->bytes = copy;
  m->n_bytes = len;
  m->bytes_mapped = false;
  m->path = sn_strdup("<memory>");
  if (dir_or_null) m->dir = sn_strdup(dir_or_null);
  if (!m->path || (dir_or_null && !m->dir)) {
    sn_model_free(m);
    return SN_ERR_OOM();
  }
  sn_error *e = import_model(m, len + SN_PAD);
  if (e) {
    sn_model_free(m);
    return e;
  }
  *out = m;
  return NULL;
}

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return sn_strdup(".");
  if (slash == path) return sn_strdup("/");
  return sn_strndup(path, (size_t)(slash - path));
}

sn_error *sn_onnx_load_file(const char *path, sn_model **out) {
  *out = NULL;
  if (!path) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "model path is NULL");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sn_errorf(SINTER_ERR_NO_SUCH_FILE, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return sn_errorf(SINTER_ERR_NO_SUCH_FILE, "%s: not a regular file", path);
  }
  if (st.st_size == 0) {
    close(fd);
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: the file is empty", path);
  }
  size_t len = (size_t)st.st_size;
  void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (map == MAP_FAILED) return sn_errorf(SINTER_ERR_NO_SUCH_FILE, "%s: cannot map the file: %s", path, strerror(err));
  sn_model *m = sn_model_new();
  if (!m) {
    munmap(map, len);
    return SN_ERR_OOM();
  }
  m->bytes = map;
  m->n_bytes = len;
  m->bytes_mapped = true;
  m->path = sn_strdup(path);
  m->dir = dir_of(path);
  if (!m->path || !m->dir) {
    sn_model_free(m);
    return SN_ERR_OOM();
  }
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) page = 4096;
  size_t readable = (len + (size_t)page - 1) / (size_t)page * (size_t)page;
  sn_error *e = import_model(m, readable);
  if (e) {
    sn_model_free(m);
    return e;
  }
  *out = m;
  return NULL;
}

/* ---- value files (backend test data) ------------------------------------------------------------------ */

sn_error *sn_onnx_read_value_bytes(const void *data, size_t len, int kind_hint, sn_tensor **out, char **name_out) {
  *out = NULL;
  if (name_out) *name_out = NULL;
  if (!data && len) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "value bytes are NULL");
  static const uint8_t empty[1];
  const uint8_t *p = len ? data : empty;
  sn_onnx_ctx c;
  memset(&c, 0, sizeof c);
  c.buf = p;
  c.buf_len = len;
  c.buf_readable = 0; /* never zero-copy */
  sn_pb r = sn_pb_init(p, p, len);
  sn_error *e = NULL;
  if (kind_hint == SN_KIND_TENSOR) {
    sn_onnx_path_push(&c, "TensorProto");
    e = sn_onnx_parse_tensor(&c, r, "tensor", false, out, name_out);
  } else if (kind_hint == SN_KIND_SEQUENCE) {
    sn_onnx_path_push(&c, "SequenceProto");
    e = sn_onnx_parse_sequence(&c, r, out, name_out);
  } else if (kind_hint == SN_KIND_OPTIONAL) {
    sn_onnx_path_push(&c, "OptionalProto");
    e = sn_onnx_parse_optional(&c, r, out, name_out);
  } else {
    /* guess: a tensor never uses field 3 (segment), which sequences/optionals use for their values */
    bool f3 = false;
    sn_pb_field f;
    int st;
    sn_pb scan = r;
    while ((st = sn_pb_next(&scan, &f)) > 0)
      if (f.num == 3) f3 = true;
    if (!f3) {
      sn_onnx_path_push(&c, "TensorProto");
      e = sn_onnx_parse_tensor(&c, r, "tensor", false, out, name_out);
      if (!e) return NULL;
    }
    sn_error *e2;
    c.pblen = 0;
    sn_onnx_path_push(&c, "SequenceProto");
    e2 = sn_onnx_parse_sequence(&c, r, out, name_out);
    if (!e2) {
      sn_error_free(e);
      return NULL;
    }
    sn_error_free(e2);
    c.pblen = 0;
    sn_onnx_path_push(&c, "OptionalProto");
    e2 = sn_onnx_parse_optional(&c, r, out, name_out);
    if (!e2) {
      sn_error_free(e);
      return NULL;
    }
    if (e) {
      sn_error_free(e2);
    } else {
      e = e2;
    }
  }
  return e;
}

sn_error *sn_onnx_read_value_file(const char *path, int kind_hint, sn_tensor **out, char **name_out) {
  *out = NULL;
  if (name_out) *name_out = NULL;
  if (!path) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "value file path is NULL");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sn_errorf(SINTER_ERR_NO_SUCH_FILE, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return sn_errorf(SINTER_ERR_NO_SUCH_FILE, "%s: not a regular file", path);
  }
  size_t len = (size_t)st.st_size;
  uint8_t *buf = sn_malloc(len ? len : 1);
  if (!buf) {
    close(fd);
    return SN_ERR_OOM();
  }
  size_t got = 0;
  while (got < len) {
    ssize_t k = read(fd, buf + got, len - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
  }
  close(fd);
  if (got != len) {
    sn_free(buf);
    return sn_errorf(SINTER_ERR_NO_SUCH_FILE, "%s: short read", path);
  }
  sn_error *e = sn_onnx_read_value_bytes(buf, len, kind_hint, out, name_out);
  sn_free(buf);
  if (e) e = sn_error_wrap(e, "%s", path);
  return e;
}

sn_error *sn_onnx_read_tensor_file(const char *path, sn_tensor **out, char **name_out) {
  return sn_onnx_read_value_file(path, SN_KIND_TENSOR, out, name_out);
}
