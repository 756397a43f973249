/* Model-local functions (ModelProto.functions): parsed once, and every call inlined at import with
 * internal names made unique, formal inputs/outputs mapped to the caller's, and attributes
 * substituted (ref_attr_name, defaults). Calls inside function bodies are expanded recursively. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "onnx/onnx.h"

#define MAX_FN_DEPTH 32

typedef struct fn_default {
  const uint8_t *p;
  size_t len;
} fn_default;

struct sn_onnx_fn {
  char *name, *domain, *overload;
  int n_in, n_out;
  char **in, **out;
  int n_nodes;
  sn_pb_field *nodes;
  int n_defaults;
  fn_default *defaults;
  sn_onnx_map default_index; /* attribute name -> fn_default* */
  int n_opsets;
  sn_opset *opsets;
};

typedef struct binding {
  const uint8_t *p;
  size_t len;
  sn_onnx_env *env;
} binding;

struct sn_onnx_env {
  const sn_onnx_fn *fn;
  sn_onnx_map names; /* raw name -> final name (char *, in owned) */
  int n_owned, cap_owned;
  char **owned;
  sn_onnx_map attrs; /* attribute name -> binding* */
  int n_bind;
  binding *bind;
  char *prefix;
  int call_id;
};

static void env_free(sn_onnx_env *e) {
  if (!e) return;
  sn_onnx_map_free(&e->names);
  for (int i = 0; i < e->n_owned; i++) sn_free(e->owned[i]);
  sn_free(e->owned);
  sn_onnx_map_free(&e->attrs);
  sn_free(e->bind);
  sn_free(e->prefix);
  sn_free(e);
}

static void fn_free(sn_onnx_fn *f) {
  sn_free(f->name);
  sn_free(f->domain);
  sn_free(f->overload);
  for (int i = 0; i < f->n_in; i++) sn_free(f->in[i]);
  for (int i = 0; i < f->n_out; i++) sn_free(f->out[i]);
  sn_free(f->in);
  sn_free(f->out);
  sn_free(f->nodes);
  sn_free(f->defaults);
  sn_onnx_map_free(&f->default_index);
  for (int i = 0; i < f->n_opsets; i++) sn_free(f->opsets[i].domain);
  sn_free(f->opsets);
}

void sn_onnx_functions_release(sn_onnx_ctx *c) {
  for (int i = 0; i < c->n_fns; i++) fn_free(&c->fns[i]);
  sn_free(c->fns);
  c->fns = NULL;
  c->n_fns = 0;
  sn_onnx_map_free(&c->fn_index);
  for (int i = 0; i < c->n_envs; i++) env_free(c->envs[i]);
  sn_free(c->envs);
  c->envs = NULL;
  c->n_envs = c->cap_envs = 0;
}

static const char *norm_domain(const char *d) { return (!d || !strcmp(d, "ai.onnx")) ? "" : d; }

static char *fn_key(const char *domain, const char *name, const char *overload) {
  domain = norm_domain(domain);
  size_t a = strlen(domain), b = strlen(name), o = strlen(overload ? overload : "");
  char *k = sn_malloc(a + b + o + 3);
  if (!k) return NULL;
  memcpy(k, domain, a);
  k[a] = '\x1f';
  memcpy(k + a + 1, name, b);
  k[a + 1 + b] = '\x1f';
  memcpy(k + a + b + 2, overload ? overload : "", o + 1);
  return k;
}

/* ---- parsing FunctionProto -------------------------------------------------------------------------- */

static sn_error *push_str(char ***arr, int *n, const sn_pb_field *f) {
  if (*n >= INT_MAX / 2) return sn_errorf(SINTER_ERR_INVALID_MODEL, "too many names in a function");
  char **a = sn_realloc(*arr, sizeof(char *) * (size_t)(*n + 1));
  if (!a) return SN_ERR_OOM();
  *arr = a;
  if (!(a[*n] = sn_onnx_str(f))) return SN_ERR_OOM();
  (*n)++;
  return NULL;
}

static sn_error *dup_names(char **src, int n, char ***dst, int *dn) {
  *dst = sn_calloc((size_t)(n ? n : 1), sizeof(char *));
  if (!*dst) return SN_ERR_OOM();
  for (int i = 0; i < n; i++) {
    if (!((*dst)[i] = sn_strdup(src[i]))) return SN_ERR_OOM();
    (*dn)++;
  }
  return NULL;
}

static sn_error *parse_opset_entry(sn_onnx_ctx *c, sn_pb r, sn_onnx_fn *fn) {
  char *dom = NULL;
  int64_t ver = -1;
  sn_pb_field f;
  int st;
  while ((st = sn_pb_next(&r, &f)) > 0) {
    if (f.num == 1 && f.wire == SN_PB_LEN) {
      sn_free(dom);
      if (!(dom = sn_onnx_str(&f))) return SN_ERR_OOM();
    } else if (f.num == 2 && f.wire == SN_PB_VARINT) {
      ver = (int64_t)f.u;
    }
  }
  if (st < 0) {
    sn_free(dom);
    return sn_onnx_pb_error(c, &r, st);
  }
  if (ver < 1 || ver > INT_MAX) {
    sn_error *e = sn_errorf(SINTER_ERR_INVALID_MODEL, "function '%s': opset_import for domain '%s' has invalid version %lld",
                            fn->name, dom ? dom : "", (long long)ver);
    sn_free(dom);
    return e;
  }
  sn_opset *o = sn_realloc(fn->opsets, sizeof(sn_opset) * (size_t)(fn->n_opsets + 1));
  if (!o) {
    sn_free(dom);
    return SN_ERR_OOM();
  }
  fn->opsets = o;
  o[fn->n_opsets].domain = sn_strdup(norm_domain(dom));
  sn_free(dom);
  if (!o[fn->n_opsets].domain) return SN_ERR_OOM();
  o[fn->n_opsets].version = ver;
  fn->n_opsets++;
  return NULL;
}

static sn_error *parse_function(sn_onnx_ctx *c, sn_pb r, sn_onnx_fn *fn, sn_function *info) {
  sn_pb_field f;
  int st;
  sn_error *e = NULL;
  char **attr_names = NULL;
  int n_attr_names = 0, cap_nodes = 0;
  sn_pb r0 = r;
  while (!e && (st = sn_pb_next(&r, &f)) > 0) {
    if (f.num != 2 && f.num != 3 && f.wire != SN_PB_LEN) {
      if (f.num == 1 || f.num == 4 || f.num == 5 || f.num == 6 || f.num == 7 || f.num == 9 || f.num == 10 ||
          f.num == 11 || f.num == 13)
        e = sn_onnx_field_error(c, &f, "wrong wire type in FunctionProto");
      continue;
    }
    switch (f.num) {
      case 1:
        sn_free(fn->name);
        if (!(fn->name = sn_onnx_str(&f))) e = SN_ERR_OOM();
        break;
      case 10:
        sn_free(fn->domain);
        if (!(fn->domain = sn_onnx_str(&f))) e = SN_ERR_OOM();
        break;
      case 13:
        sn_free(fn->overload);
        if (!(fn->overload = sn_onnx_str(&f))) e = SN_ERR_OOM();
        break;
      case 4: e = push_str(&fn->in, &fn->n_in, &f); break;
      case 5: e = push_str(&fn->out, &fn->n_out, &f); break;
      case 6: e = push_str(&attr_names, &n_attr_names, &f); break;
      case 7:
        if (fn->n_nodes == cap_nodes) {
          if (cap_nodes >= INT_MAX / 2) {
            e = sn_errorf(SINTER_ERR_INVALID_MODEL, "too many nodes in a function");
            break;
          }
          cap_nodes = cap_nodes ? cap_nodes * 2 : 16;
          sn_pb_field *nn = sn_realloc(fn->nodes, sizeof(sn_pb_field) * (size_t)cap_nodes);
          if (!nn) {
            e = SN_ERR_OOM();
            break;
          }
          fn->nodes = nn;
        }
        fn->nodes[fn->n_nodes++] = f;
        break;
      default: break;
    }
  }
  if (!e && st < 0) e = sn_onnx_pb_error(c, &r, st);
  if (!e && (!fn->name || !*fn->name)) e = sn_errorf(SINTER_ERR_INVALID_MODEL, "a function has no name");
  if (!e && !fn->domain && !(fn->domain = sn_strdup(""))) e = SN_ERR_OOM();
  if (!e && !fn->overload && !(fn->overload = sn_strdup(""))) e = SN_ERR_OOM();
  /* second pass: opsets and attribute defaults (need the name for messages) */
  r = r0;
  while (!e && (st = sn_pb_next(&r, &f)) > 0) {
    if (f.wire != SN_PB_LEN) continue;
    if (f.num == 9) {
      e = parse_opset_entry(c, sn_pb_sub(&r, &f), fn);
    } else if (f.num == 11) {
      sn_attr a;
      bool present;
      e = sn_onnx_parse_attr(c, NULL, sn_pb_sub(&r, &f), NULL, &a, &present);
      if (e) break;
      fn_default *nd = sn_realloc(fn->defaults, sizeof(fn_default) * (size_t)(fn->n_defaults + 1));
      sn_attr *na = nd ? sn_realloc(info->attr_defaults, sizeof(sn_attr) * (size_t)(info->n_attr_defaults + 1)) : NULL;
      if (nd) fn->defaults = nd;
      if (na) info->attr_defaults = na;
      if (!nd || !na) {
        sn_attr_clear(&a);
        e = SN_ERR_OOM();
        break;
      }
      nd[fn->n_defaults] = (fn_default){f.data, f.len};
      e = sn_onnx_map_put(&fn->default_index, a.name, &fn->defaults[fn->n_defaults]);
      fn->n_defaults++;
      /* the map points into fn->defaults, which may move: rebuilt below */
      sn_pb_field nf = f;
      nf.data = (const uint8_t *)a.name;
      nf.len = strlen(a.name);
      if (!e) e = push_str(&attr_names, &n_attr_names, &nf);
      na[info->n_attr_defaults++] = a;
    }
  }
  if (!e && st < 0) e = sn_onnx_pb_error(c, &r, st);
  if (!e && fn->n_defaults) { /* rebuild the default index now that the array is final */
    sn_onnx_map_free(&fn->default_index);
    for (int i = 0; i < fn->n_defaults && !e; i++)
      e = sn_onnx_map_put(&fn->default_index, info->attr_defaults[i].name, &fn->defaults[i]);
  }
  /* public description (bodies are inlined at import, so info->nodes stays empty) */
  if (!e && !(info->name = sn_strdup(fn->name))) e = SN_ERR_OOM();
  if (!e && !(info->domain = sn_strdup(fn->domain))) e = SN_ERR_OOM();
  if (!e && !(info->overload = sn_strdup(fn->overload))) e = SN_ERR_OOM();
  if (!e) e = dup_names(fn->in, fn->n_in, &info->inputs, &info->n_inputs);
  if (!e) e = dup_names(fn->out, fn->n_out, &info->outputs, &info->n_outputs);
  if (!e) {
    info->attr_names = attr_names;
    info->n_attrs = n_attr_names;
    attr_names = NULL;
    n_attr_names = 0;
  }
  if (!e && fn->n_opsets) {
    if (!(info->opsets = sn_calloc((size_t)fn->n_opsets, sizeof(sn_opset)))) e = SN_ERR_OOM();
    for (int i = 0; !e && i < fn->n_opsets; i++) {
      if (!(info->opsets[i].domain = sn_strdup(fn->opsets[i].domain))) e = SN_ERR_OOM();
      info->opsets[i].version = fn->opsets[i].version;
      info->n_opsets++;
    }
  }
  for (int i = 0; i < n_attr_names; i++) sn_free(attr_names[i]);
  sn_free(attr_names);
  return e;
}

sn_error *sn_onnx_load_functions(sn_onnx_ctx *c, const sn_pb_field *fields, int n) {
  sn_model *m = c->m;
  c->fns = sn_calloc((size_t)n, sizeof(sn_onnx_fn));
  m->functions = sn_calloc((size_t)n, sizeof(sn_function));
  if (!c->fns || !m->functions) return SN_ERR_OOM();
  for (int i = 0; i < n; i++) {
    size_t pl = sn_onnx_path_push(c, ".functions[%d]", i);
    c->n_fns++;
    m->n_functions++;
    sn_error *e = parse_function(c, sn_pb_init(c->buf, fields[i].data, fields[i].len), &c->fns[i], &m->functions[i]);
    sn_onnx_path_pop(c, pl);
    if (e) return e;
    sn_onnx_fn *fn = &c->fns[i];
    char *key = fn_key(fn->domain, fn->name, fn->overload);
    if (!key) return SN_ERR_OOM();
    bool found;
    sn_onnx_map_get(&c->fn_index, key, &found);
    if (found) {
      sn_free(key);
      return sn_errorf(SINTER_ERR_INVALID_MODEL, "function '%s%s%s' is defined twice", fn->domain,
                       *fn->domain ? ":" : "", fn->name);
    }
    e = sn_onnx_map_put(&c->fn_index, key, fn);
    sn_free(key);
    if (e) return e;
  }
  return NULL;
}

const sn_onnx_fn *sn_onnx_find_function(sn_onnx_ctx *c, const char *domain, const char *op_type,
                                        const char *overload) {
  if (!c->n_fns) return NULL;
  char *key = fn_key(domain, op_type, overload);
  if (!key) return NULL;
  const sn_onnx_fn *fn = sn_onnx_map_get(&c->fn_index, key, NULL);
  sn_free(key);
  return fn;
}

/* ---- environments ----------------------------------------------------------------------------------- */

static sn_error *env_own(sn_onnx_env *env, char *s) {
  if (env->n_owned == env->cap_owned) {
    int cap = env->cap_owned ? env->cap_owned * 2 : 16;
    char **o = sn_realloc(env->owned, sizeof(char *) * (size_t)cap);
    if (!o) {
      sn_free(s);
      return SN_ERR_OOM();
    }
    env->owned = o;
    env->cap_owned = cap;
  }
  env->owned[env->n_owned++] = s;
  return NULL;
}

static sn_error *env_map(sn_onnx_env *env, const char *raw, const char *final) {
  char *d = sn_strdup(final);
  if (!d) return SN_ERR_OOM();
  SN_TRY(env_own(env, d));
  return sn_onnx_map_put(&env->names, raw, d);
}

sn_error *sn_onnx_env_name(sn_onnx_ctx *c, sn_onnx_env *env, sn_graph *g, const char *raw, bool create,
                           const char **out) {
  (void)c;
  if (!*raw) {
    *out = "";
    return NULL;
  }
  bool found;
  const char *v = sn_onnx_map_get(&env->names, raw, &found);
  if (found) {
    *out = v;
    return NULL;
  }
  if (!create) {
    *out = raw;
    return NULL;
  }
  size_t n = strlen(env->fn->name) + strlen(raw) + 48;
  char *cand = sn_malloc(n);
  if (!cand) return SN_ERR_OOM();
  snprintf(cand, n, "%s#%d/%s", env->fn->name, env->call_id, raw);
  for (int k = 1; sn_graph_find(g, cand) >= 0; k++)
    snprintf(cand, n, "%s#%d/%s~%d", env->fn->name, env->call_id, raw, k);
  SN_TRY(env_own(env, cand));
  SN_TRY(sn_onnx_map_put(&env->names, raw, cand));
  *out = cand;
  return NULL;
}

int64_t sn_onnx_env_opset(const sn_onnx_env *env, const char *domain) {
  domain = norm_domain(domain);
  for (int i = 0; i < env->fn->n_opsets; i++)
    if (!strcmp(env->fn->opsets[i].domain, domain)) return env->fn->opsets[i].version;
  return -1;
}

bool sn_onnx_env_attr(const sn_onnx_env *env, const char *ref, const uint8_t **p, size_t *len, sn_onnx_env **penv) {
  const binding *b = sn_onnx_map_get(&env->attrs, ref, NULL);
  if (b) {
    *p = b->p;
    *len = b->len;
    *penv = b->env;
    return true;
  }
  const fn_default *d = sn_onnx_map_get(&env->fn->default_index, ref, NULL);
  if (d) {
    *p = d->p;
    *len = d->len;
    *penv = NULL;
    return true;
  }
  return false;
}

const char *sn_onnx_env_prefix(const sn_onnx_env *env) { return env->prefix ? env->prefix : ""; }

/* ---- expansion -------------------------------------------------------------------------------------- */

/* name and ref_attr_name of an AttributeProto ("" when absent) */
static sn_error *attr_names(sn_onnx_ctx *c, sn_pb r, char **name, char **ref) {
  sn_pb_field f;
  int st;
  sn_error *e = NULL;
  *name = *ref = NULL;
  while ((st = sn_pb_next(&r, &f)) > 0)
    if ((f.num == 1 || f.num == 21) && f.wire == SN_PB_LEN) {
      char **dst = f.num == 1 ? name : ref;
      sn_free(*dst);
      if (!(*dst = sn_onnx_str(&f))) {
        e = SN_ERR_OOM();
        break;
      }
    }
  if (!e && st < 0) e = sn_onnx_pb_error(c, &r, st);
  if (!e && !*name && !(*name = sn_strdup(""))) e = SN_ERR_OOM();
  if (!e && !*ref && !(*ref = sn_strdup(""))) e = SN_ERR_OOM();
  if (e) {
    sn_free(*name);
    sn_free(*ref);
    *name = *ref = NULL;
  }
  return e;
}

sn_error *sn_onnx_expand_call(sn_onnx_ctx *c, sn_onnx_frame *f, const sn_onnx_fn *fn, const uint8_t *p, size_t len,
                              sn_onnx_env *caller, bool create) {
  if (c->fn_depth >= MAX_FN_DEPTH)
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "function '%s' is nested more than %d calls deep (recursion?)",
                     fn->name, MAX_FN_DEPTH);
  sn_graph *g = sn_onnx_frame_graph(f);
  sn_onnx_env *env = sn_calloc(1, sizeof *env);
  if (!env) return SN_ERR_OOM();
  if (c->n_envs == c->cap_envs) {
    int cap = c->cap_envs ? c->cap_envs * 2 : 16;
    sn_onnx_env **ne = sn_realloc(c->envs, sizeof(*ne) * (size_t)cap);
    if (!ne) {
      sn_free(env);
      return SN_ERR_OOM();
    }
    c->envs = ne;
    c->cap_envs = cap;
  }
  c->envs[c->n_envs++] = env;
  env->fn = fn;
  env->call_id = ++c->call_counter;

  sn_pb r = sn_pb_init(c->buf, p, len);
  sn_pb_field fl;
  int st, n_in = 0, n_out = 0, n_attr = 0;
  char *name = NULL;
  sn_error *e = NULL;
  while ((st = sn_pb_next(&r, &fl)) > 0) {
    if (fl.num == 1) n_in++;
    if (fl.num == 2) n_out++;
    if (fl.num == 5 && fl.wire == SN_PB_LEN) n_attr++;
    if (fl.num == 3 && fl.wire == SN_PB_LEN) {
      sn_free(name);
      if (!(name = sn_onnx_str(&fl))) return SN_ERR_OOM();
    }
  }
  if (st < 0) {
    sn_free(name);
    return sn_onnx_pb_error(c, &r, st);
  }
  const char *label = name && *name ? name : fn->name;
  const char *cp = caller ? sn_onnx_env_prefix(caller) : "";
  size_t pn = strlen(cp) + strlen(label) + 16;
  env->prefix = sn_malloc(pn);
  if (!env->prefix) {
    sn_free(name);
    return SN_ERR_OOM();
  }
  if (name && *name) /* "caller/" or, for unnamed calls, "fn#3/" */
    snprintf(env->prefix, pn, "%s%s/", cp, label);
  else
    snprintf(env->prefix, pn, "%s%s#%d/", cp, label, env->call_id);
  if (n_in > fn->n_in || n_out > fn->n_out) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "node '%s' calls function '%s' with %d inputs and %d outputs; it takes %d and %d",
                  label, fn->name, n_in, n_out, fn->n_in, fn->n_out);
    sn_free(name);
    return e;
  }
  sn_free(name);
  /* formal inputs/outputs -> the caller's (final) names */
  int ki = 0, ko = 0;
  r = sn_pb_init(c->buf, p, len);
  if (n_attr && !(env->bind = sn_calloc((size_t)n_attr, sizeof(binding)))) return SN_ERR_OOM();
  while ((st = sn_pb_next(&r, &fl)) > 0) {
    if (fl.num == 1 || fl.num == 2) {
      char *raw = sn_onnx_str(&fl);
      if (!raw) return SN_ERR_OOM();
      const char *nm = raw;
      if (caller) e = sn_onnx_env_name(c, caller, g, raw, create, &nm);
      if (!e) {
        const char *formal = fl.num == 1 ? fn->in[ki++] : fn->out[ko++];
        if (fl.num == 1 || *nm) e = env_map(env, formal, nm);
      }
      sn_free(raw);
      if (e) return e;
    } else if (fl.num == 5 && fl.wire == SN_PB_LEN) {
      /* bind the attribute; a reference to the caller's own attribute is resolved now, and one
       * that resolves to nothing leaves the attribute unset (so the callee's default applies) */
      char *an, *ref;
      SN_TRY(attr_names(c, sn_pb_sub(&r, &fl), &an, &ref));
      binding b = {fl.data, fl.len, caller};
      bool bound = true;
      if (*ref) {
        if (!caller)
          e = sn_errorf(SINTER_ERR_INVALID_MODEL,
                        "attribute '%s' refers to '%s' (ref_attr_name) outside a function body", an, ref);
        else
          bound = sn_onnx_env_attr(caller, ref, &b.p, &b.len, &b.env);
      }
      if (!e && bound) {
        env->bind[env->n_bind] = b;
        e = sn_onnx_map_put(&env->attrs, an, &env->bind[env->n_bind]);
        env->n_bind++;
      }
      sn_free(an);
      sn_free(ref);
      if (e) return e;
    }
  }
  if (st < 0) return sn_onnx_pb_error(c, &r, st);
  for (; ki < fn->n_in; ki++) /* omitted optional inputs */
    SN_TRY(env_map(env, fn->in[ki], ""));
  c->fn_depth++;
  for (int i = 0; i < fn->n_nodes && !e; i++) {
    size_t pl = sn_onnx_path_push(c, "{%s.node[%d]}", fn->name, i);
    e = sn_onnx_declare_node(c, f, fn->nodes[i].data, fn->nodes[i].len, env, true);
    sn_onnx_path_pop(c, pl);
  }
  c->fn_depth--;
  return e;
}
