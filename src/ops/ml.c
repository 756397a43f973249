/* ai.onnx.ml ops: Binarizer, ArrayFeatureExtractor, LabelEncoder (string/int/float maps, opsets 1-4) and
 * tree ensembles (TreeEnsemble-5 and the older TreeEnsembleRegressor) over one shared tree walker. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/op.h"

#define ML "ai.onnx.ml"

/* An invalid-model error at load (the loader prefixes the node's description). */
static sn_error *node_err(const sn_node *n, const char *fmt, ...) SN_PRINTF(2, 3);
static sn_error *node_err(const sn_node *n, const char *fmt, ...) {
  (void)n;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s", msg);
}

static const sn_tensor *need_tensor(sn_kernel_ctx *c, int i, sn_error **e) {
  const sn_tensor *x = i < c->n_in ? c->in[i] : NULL;
  if (!x || x->kind != SN_KIND_TENSOR) {
    *e = sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %d must be a tensor", i);
    return NULL;
  }
  return x;
}

/* ---- Binarizer ---------------------------------------------------------------------------------- */

static sn_error *bin_infer(sn_infer_ctx *c) {
  if (c->n_in < 1 || !c->in[0]) return sn_infer_error(c, "input X is missing");
  if (c->in[0]->dtype == SINTER_STRING) return sn_infer_error(c, "input X must be numeric");
  if (c->out[0]) *c->out[0] = *c->in[0];
  return NULL;
}

static sn_error *bin_run(sn_kernel_ctx *c) {
  sn_error *e = NULL;
  const sn_tensor *x = need_tensor(c, 0, &e);
  if (!x) return e;
  if (x->dtype == SINTER_STRING) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input X must be numeric");
  double th = sn_attr_float(c->node, "threshold", 0.0f);
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, x->dims, &y));
  if (x->dtype == SINTER_FLOAT) {
    const float *xs = x->data;
    float *ys = y->data;
    float t = (float)th;
    for (int64_t i = 0; i < x->count; i++) ys[i] = xs[i] > t ? 1.0f : 0.0f;
  } else {
    for (int64_t i = 0; i < x->count; i++) sn_store_f64(x->dtype, y->data, i, sn_load_f64(x->dtype, x->data, i) > th ? 1.0 : 0.0);
  }
  return NULL;
}

/* ---- ArrayFeatureExtractor ---------------------------------------------------------------------- */

static sn_error *afe_infer(sn_infer_ctx *c) {
  if (c->n_in < 2 || !c->in[0] || !c->in[1]) return sn_infer_error(c, "inputs X and Y are required");
  if (c->in[1]->dtype && c->in[1]->dtype != SINTER_INT64) return sn_infer_error(c, "input Y must be int64");
  if (!c->out[0]) return NULL;
  const sn_type *x = c->in[0], *y = c->in[1];
  if (x->rank < 1 || y->rank < 0) {
    sn_type_set_unknown(c->out[0], x->dtype);
    return NULL;
  }
  sn_dim d[SN_MAX_RANK];
  int64_t k = 1;
  for (int i = 0; i < y->rank; i++) k = (k >= 0 && y->dims[i].v >= 0) ? k * y->dims[i].v : -1;
  int r;
  if (x->rank == 1) {
    d[0] = sn_dim_known(1);
    r = 2;
  } else {
    for (int i = 0; i < x->rank - 1; i++) d[i] = x->dims[i];
    r = x->rank;
  }
  d[r - 1] = k >= 0 ? sn_dim_known(k) : sn_dim_unknown();
  sn_type_set(c->out[0], x->dtype, r, d);
  return NULL;
}

static sn_error *afe_run(sn_kernel_ctx *c) {
  sn_error *e = NULL;
  const sn_tensor *x = need_tensor(c, 0, &e), *ix;
  if (!x) return e;
  if (!(ix = need_tensor(c, 1, &e))) return e;
  if (ix->dtype != SINTER_INT64) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input Y must be int64");
  if (x->rank < 1) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input X must have rank >= 1");
  int64_t n = x->dims[x->rank - 1], k = ix->count;
  const int64_t *idx = ix->data;
  for (int64_t j = 0; j < k; j++)
    if (idx[j] < 0 || idx[j] >= n)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "index %lld is out of range for a last axis of size %lld",
                             (long long)idx[j], (long long)n);
  int64_t od[SN_MAX_RANK];
  int r;
  if (x->rank == 1) {
    od[0] = 1;
    r = 2;
  } else {
    memcpy(od, x->dims, sizeof(int64_t) * (size_t)(x->rank - 1));
    r = x->rank;
  }
  od[r - 1] = k;
  int64_t rows = n ? x->count / n : 0;
  if (n == 0) rows = sn_shape_count(x->rank - 1, x->dims);
  if (x->dtype == SINTER_STRING) {
    sn_tensor *y;
    SN_TRY(sn_tensor_new(SINTER_STRING, r, od, &y));
    char **ys = y->data;
    char *const *xs = x->data;
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < k; j++) {
        const char *s = xs[i * n + idx[j]];
        if (!(ys[i * k + j] = sn_strdup(s ? s : ""))) {
          sn_tensor_free(y);
          return SN_ERR_OOM();
        }
      }
    return sn_kernel_set_output(c, 0, y);
  }
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, r, od, &y));
  size_t es = sn_dtype_size(x->dtype);
  const char *xs = x->data;
  char *ys = y->data;
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < k; j++) memcpy(ys + (size_t)(i * k + j) * es, xs + (size_t)(i * n + idx[j]) * es, es);
  return NULL;
}

/* ---- LabelEncoder ------------------------------------------------------------------------------- */

enum { VK_STR = 0, VK_INT = 1, VK_FLT = 2 };

static int kind_of(sn_dtype dt) {
  if (dt == SINTER_STRING) return VK_STR;
  return sn_dt(dt)->is_float ? VK_FLT : VK_INT;
}

/* A list of keys or values in one of three representations. */
typedef struct ml_vals {
  sn_dtype dt;
  int kind;
  int64_t n;
  char **s;
  int64_t *i;
  double *f;
} ml_vals;

static void vals_clear(ml_vals *v) {
  if (v->s)
    for (int64_t k = 0; k < v->n; k++) sn_free(v->s[k]);
  sn_free(v->s);
  sn_free(v->i);
  sn_free(v->f);
  memset(v, 0, sizeof *v);
}

static sn_error *vals_alloc(ml_vals *v, sn_dtype dt, int64_t n) {
  v->dt = dt;
  v->kind = kind_of(dt);
  v->n = n;
  size_t cnt = (size_t)(n ? n : 1);
  if (v->kind == VK_STR)
    v->s = sn_calloc(cnt, sizeof(char *));
  else if (v->kind == VK_INT)
    v->i = sn_calloc(cnt, sizeof(int64_t));
  else
    v->f = sn_calloc(cnt, sizeof(double));
  if (!v->s && !v->i && !v->f) return SN_ERR_OOM();
  return NULL;
}

static sn_error *vals_from_attr(ml_vals *v, const sn_attr *a) {
  if (a->type == SN_ATTR_STRINGS) {
    SN_TRY(vals_alloc(v, SINTER_STRING, a->n));
    for (int k = 0; k < a->n; k++)
      if (!(v->s[k] = sn_strdup(a->strings[k] ? a->strings[k] : ""))) return SN_ERR_OOM();
  } else if (a->type == SN_ATTR_INTS) {
    SN_TRY(vals_alloc(v, SINTER_INT64, a->n));
    if (a->n) memcpy(v->i, a->ints, sizeof(int64_t) * (size_t)a->n);
  } else if (a->type == SN_ATTR_FLOATS) {
    SN_TRY(vals_alloc(v, SINTER_FLOAT, a->n));
    for (int k = 0; k < a->n; k++) v->f[k] = a->floats[k];
  } else if (a->type == SN_ATTR_TENSOR && a->t && a->t->kind == SN_KIND_TENSOR && sn_dtype_valid((int)a->t->dtype)) {
    const sn_tensor *t = a->t;
    SN_TRY(vals_alloc(v, t->dtype, t->count));
    for (int64_t k = 0; k < t->count; k++) {
      if (v->kind == VK_STR) {
        const char *s = ((char *const *)t->data)[k];
        if (!(v->s[k] = sn_strdup(s ? s : ""))) return SN_ERR_OOM();
      } else if (v->kind == VK_INT) {
        v->i[k] = sn_load_i64(t->dtype, t->data, k);
      } else {
        v->f[k] = sn_load_f64(t->dtype, t->data, k);
      }
    }
  } else {
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "attribute '%s' has an unusable type", a->name);
  }
  return NULL;
}

/* The first present attribute among names, or NULL (*which gets its index). */
static const sn_attr *first_attr(const sn_node *n, const char *const *names, int count, int *which) {
  const sn_attr *found = NULL;
  for (int k = 0; k < count; k++) {
    const sn_attr *a = sn_node_attr(n, names[k]);
    if (a && !found) {
      found = a;
      if (which) *which = k;
    }
  }
  return found;
}

static const char *const le_key_names[] = {"keys_strings", "keys_int64s", "keys_floats", "keys_tensor"};
static const char *const le_val_names[] = {"values_strings", "values_int64s", "values_floats", "values_tensor"};

/* The output element type from the attributes (0 when undecidable: opset 1 depends on the input). */
static sn_dtype le_out_dtype(const sn_node *n, int opset) {
  if (opset < 2) return 0;
  int w = -1;
  const sn_attr *a = first_attr(n, le_val_names, opset >= 4 ? 4 : 3, &w);
  if (!a) return 0;
  if (w == 0) return SINTER_STRING;
  if (w == 1) return SINTER_INT64;
  if (w == 2) return SINTER_FLOAT;
  return a->t ? a->t->dtype : 0;
}

typedef struct le_entry {
  const char *s;
  int64_t i;
  double f;
  int64_t idx;
} le_entry;

typedef struct le_params {
  int opset;
  ml_vals keys, values, def;
  le_entry *sorted; /* keys in order, ties by index */
  /* opset 1 */
  int64_t def_int;
  char *def_str;
} le_params;

static int cmp_flt(double a, double b) {
  bool na = isnan(a), nb = isnan(b);
  if (na || nb) return na == nb ? 0 : (na ? 1 : -1);
  return a < b ? -1 : (a > b ? 1 : 0);
}
static int le_cmp_s(const void *a, const void *b) {
  const le_entry *x = a, *y = b;
  int c = strcmp(x->s, y->s);
  return c ? c : (x->idx < y->idx ? -1 : x->idx > y->idx);
}
static int le_cmp_i(const void *a, const void *b) {
  const le_entry *x = a, *y = b;
  if (x->i != y->i) return x->i < y->i ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}
static int le_cmp_f(const void *a, const void *b) {
  const le_entry *x = a, *y = b;
  int c = cmp_flt(x->f, y->f);
  return c ? c : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

static void le_free(void *pp) {
  le_params *p = pp;
  if (!p) return;
  vals_clear(&p->keys);
  vals_clear(&p->values);
  vals_clear(&p->def);
  sn_free(p->sorted);
  sn_free(p->def_str);
  sn_free(p);
}

static sn_error *le_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  if (n->n_in != 1 || n->in[0] < 0) return node_err(n, "LabelEncoder needs one input");
  le_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  sn_error *e = NULL;
  p->opset = n->opset;
  if (n->opset < 2) {
    const sn_attr *cs = sn_node_attr(n, "classes_strings");
    if (!cs || cs->type != SN_ATTR_STRINGS) {
      e = node_err(n, "attribute 'classes_strings' is required");
      goto fail;
    }
    if ((e = vals_from_attr(&p->keys, cs))) goto fail;
    if ((e = vals_alloc(&p->values, SINTER_INT64, cs->n))) goto fail;
    for (int k = 0; k < cs->n; k++) p->values.i[k] = k;
    p->def_int = sn_attr_int(n, "default_int64", -1);
    if (!(p->def_str = sn_strdup(sn_attr_str(n, "default_string", "_Unused")))) {
      e = SN_ERR_OOM();
      goto fail;
    }
  } else {
    int nk = n->opset >= 4 ? 4 : 3;
    const sn_attr *ka = first_attr(n, le_key_names, nk, NULL), *va = first_attr(n, le_val_names, nk, NULL);
    if (!ka || !va) {
      e = node_err(n, "one keys_* and one values_* attribute are required");
      goto fail;
    }
    if ((e = vals_from_attr(&p->keys, ka)) || (e = vals_from_attr(&p->values, va))) goto fail;
    if (p->keys.n != p->values.n) {
      e = node_err(n, "%lld keys but %lld values", (long long)p->keys.n, (long long)p->values.n);
      goto fail;
    }
    const sn_attr *dt = n->opset >= 4 ? sn_node_attr(n, "default_tensor") : NULL;
    if (dt) {
      if ((e = vals_from_attr(&p->def, dt))) goto fail;
      if (p->def.n < 1 || p->def.kind != p->values.kind) {
        e = node_err(n, "default_tensor must hold one value of the values' type (%s)", sn_dtype_name(p->values.dt));
        goto fail;
      }
    } else {
      if ((e = vals_alloc(&p->def, p->values.dt, 1))) goto fail;
      if (p->values.kind == VK_STR) {
        if (!(p->def.s[0] = sn_strdup(sn_attr_str(n, "default_string", "_Unused")))) {
          e = SN_ERR_OOM();
          goto fail;
        }
      } else if (p->values.kind == VK_INT) {
        p->def.i[0] = sn_attr_int(n, "default_int64", -1);
      } else {
        p->def.f[0] = sn_attr_float(n, "default_float", -0.0f);
      }
    }
  }
  int64_t nk = p->keys.n;
  p->sorted = sn_calloc((size_t)(nk ? nk : 1), sizeof(le_entry));
  if (!p->sorted) {
    e = SN_ERR_OOM();
    goto fail;
  }
  for (int64_t k = 0; k < nk; k++) {
    le_entry *en = &p->sorted[k];
    en->idx = k;
    if (p->keys.kind == VK_STR)
      en->s = p->keys.s[k];
    else if (p->keys.kind == VK_INT)
      en->i = p->keys.i[k];
    else
      en->f = p->keys.f[k];
  }
  if (nk)
    qsort(p->sorted, (size_t)nk, sizeof(le_entry),
          p->keys.kind == VK_STR ? le_cmp_s : (p->keys.kind == VK_INT ? le_cmp_i : le_cmp_f));
  *params = p;
  return NULL;
fail:
  le_free(p);
  return e;
}

/* Index of the value for this key (the last duplicate wins), or -1. */
static int64_t le_find(const le_params *p, const le_entry *key) {
  int64_t lo = 0, hi = p->keys.n; /* first entry > key */
  int kind = p->keys.kind;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    const le_entry *m = &p->sorted[mid];
    int c = kind == VK_STR ? strcmp(m->s, key->s) : kind == VK_INT ? (m->i < key->i ? -1 : m->i > key->i) : cmp_flt(m->f, key->f);
    if (c <= 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return -1;
  const le_entry *m = &p->sorted[lo - 1];
  int c = kind == VK_STR ? strcmp(m->s, key->s) : kind == VK_INT ? (m->i != key->i) : cmp_flt(m->f, key->f);
  return c == 0 ? m->idx : -1;
}

static sn_error *le_infer(sn_infer_ctx *c) {
  if (c->n_in < 1 || !c->in[0]) return sn_infer_error(c, "input X is missing");
  if (!c->out[0]) return NULL;
  sn_dtype dt = le_out_dtype(c->node, c->opset);
  if (c->opset < 2 && c->in[0]->dtype) dt = c->in[0]->dtype == SINTER_STRING ? SINTER_INT64 : SINTER_STRING;
  *c->out[0] = *c->in[0];
  c->out[0]->dtype = dt;
  return NULL;
}

static sn_error *le_run(sn_kernel_ctx *c) {
  const le_params *p = c->params;
  sn_error *e = NULL;
  const sn_tensor *x = need_tensor(c, 0, &e);
  if (!x) return e;
  int xk = kind_of(x->dtype);
  if (p->opset < 2 && xk != VK_STR) {
    /* int64 -> string through the class list */
    if (xk != VK_INT) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input must be string or int64");
    sn_tensor *y;
    SN_TRY(sn_tensor_new(SINTER_STRING, x->rank, x->dims, &y));
    char **ys = y->data;
    for (int64_t i = 0; i < x->count; i++) {
      int64_t v = sn_load_i64(x->dtype, x->data, i);
      const char *s = (v >= 0 && v < p->keys.n) ? p->keys.s[v] : p->def_str;
      if (!(ys[i] = sn_strdup(s))) {
        sn_tensor_free(y);
        return SN_ERR_OOM();
      }
    }
    return sn_kernel_set_output(c, 0, y);
  }
  if ((xk == VK_STR) != (p->keys.kind == VK_STR))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input type %s does not match the keys' type %s", sn_dtype_name(x->dtype),
                           sn_dtype_name(p->keys.dt));
  const ml_vals *v = &p->values;
  sn_tensor *y = NULL;
  bool own = v->kind == VK_STR;
  if (own)
    SN_TRY(sn_tensor_new(SINTER_STRING, x->rank, x->dims, &y));
  else
    SN_TRY(sn_kernel_output(c, 0, v->dt, x->rank, x->dims, &y));
  for (int64_t i = 0; i < x->count; i++) {
    le_entry key = {0};
    if (p->keys.kind == VK_STR) {
      const char *s = ((char *const *)x->data)[i];
      key.s = s ? s : "";
    } else if (p->keys.kind == VK_INT) {
      key.i = xk == VK_INT ? sn_load_i64(x->dtype, x->data, i) : (int64_t)sn_load_f64(x->dtype, x->data, i);
    } else {
      key.f = sn_load_f64(x->dtype, x->data, i);
    }
    /* NaN keys match NaN inputs only from opset 4 (before, NaN never equals a key) */
    int64_t k = (p->opset < 4 && p->keys.kind == VK_FLT && isnan(key.f)) ? -1 : le_find(p, &key);
    const ml_vals *src = k >= 0 ? v : (p->opset < 2 ? NULL : &p->def);
    int64_t at = k >= 0 ? k : 0;
    if (v->kind == VK_STR) {
      const char *s = src ? src->s[at] : p->def_str;
      if (!(((char **)y->data)[i] = sn_strdup(s))) {
        sn_tensor_free(y);
        return SN_ERR_OOM();
      }
    } else if (v->kind == VK_INT) {
      sn_store_i64(v->dt, y->data, i, src ? src->i[at] : p->def_int);
    } else {
      sn_store_f64(v->dt, y->data, i, src->f[at]);
    }
  }
  if (own) return sn_kernel_set_output(c, 0, y);
  return NULL;
}

/* ---- tree ensembles ----------------------------------------------------------------------------- */

enum { M_LEQ = 0, M_LT, M_GTE, M_GT, M_EQ, M_NEQ, M_MEMBER, M_LEAF };
enum { AGG_AVERAGE = 0, AGG_SUM, AGG_MIN, AGG_MAX };
enum { PT_NONE = 0, PT_SOFTMAX, PT_LOGISTIC, PT_SOFTMAX_ZERO, PT_PROBIT };

typedef struct te_params {
  int64_t n_nodes, n_leaves, n_trees, n_targets, max_feat;
  int64_t *feat, *tnext, *fnext; /* next: node index, or leaf index when the *leaf flag is set */
  uint8_t *mode, *tleaf, *fleaf, *miss;
  double *split;
  int64_t *mem_off, *mem_cnt;
  double *mem;
  int64_t *roots;
  uint8_t *root_leaf;
  /* leaf l contributes (target, weight) pairs [loff[l], loff[l+1]) */
  int64_t *loff, *ltarget;
  double *lweight;
  double *base; /* n_targets, or NULL */
  int agg, post;
  bool legacy; /* TreeEnsembleRegressor/Classifier: float scores, integer inputs allowed */
  /* TreeEnsembleClassifier: labels, and what the binary case needs */
  bool classifier, weights_pos, multi_ids;
  int64_t *labels_i, n_base, cid; /* cid: the one class id voted for, when !multi_ids */
  char **labels_s;
} te_params;

static void te_free(void *pp) {
  te_params *p = pp;
  if (!p) return;
  void *ptrs[] = {p->feat, p->tnext, p->fnext, p->mode, p->tleaf, p->fleaf, p->miss, p->split, p->mem_off,
                  p->mem_cnt, p->mem, p->roots, p->root_leaf, p->loff, p->ltarget, p->lweight, p->base};
  for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) sn_free(ptrs[i]);
  if (p->labels_s)
    for (int64_t k = 0; k < p->n_targets; k++) sn_free(p->labels_s[k]);
  sn_free(p->labels_s);
  sn_free(p->labels_i);
  sn_free(p);
}

static sn_error *te_alloc_nodes(te_params *p) {
  size_t n = (size_t)(p->n_nodes ? p->n_nodes : 1);
  p->feat = sn_calloc(n, sizeof(int64_t));
  p->tnext = sn_calloc(n, sizeof(int64_t));
  p->fnext = sn_calloc(n, sizeof(int64_t));
  p->mode = sn_calloc(n, 1);
  p->tleaf = sn_calloc(n, 1);
  p->fleaf = sn_calloc(n, 1);
  p->miss = sn_calloc(n, 1);
  p->split = sn_calloc(n, sizeof(double));
  p->mem_off = sn_calloc(n, sizeof(int64_t));
  p->mem_cnt = sn_calloc(n, sizeof(int64_t));
  if (!p->feat || !p->tnext || !p->fnext || !p->mode || !p->tleaf || !p->fleaf || !p->miss || !p->split || !p->mem_off ||
      !p->mem_cnt)
    return SN_ERR_OOM();
  return NULL;
}

/* Numbers from a FLOATS/INTS attribute or a TENSOR attribute, as doubles (*n = -1 when absent). */
static sn_error *attr_numbers(const sn_node *n, const char *name, double **out, int64_t *cnt) {
  *out = NULL;
  *cnt = -1;
  const sn_attr *a = sn_node_attr(n, name);
  if (!a) return NULL;
  int64_t k;
  if (a->type == SN_ATTR_FLOATS || a->type == SN_ATTR_INTS)
    k = a->n;
  else if (a->type == SN_ATTR_TENSOR && a->t && a->t->kind == SN_KIND_TENSOR && a->t->dtype != SINTER_STRING)
    k = a->t->count;
  else
    return node_err(n, "attribute '%s' must be numeric", name);
  double *d = sn_calloc((size_t)(k ? k : 1), sizeof(double));
  if (!d) return SN_ERR_OOM();
  for (int64_t i = 0; i < k; i++)
    d[i] = a->type == SN_ATTR_FLOATS ? a->floats[i] : a->type == SN_ATTR_INTS ? (double)a->ints[i] : sn_load_f64(a->t->dtype, a->t->data, i);
  *out = d;
  *cnt = k;
  return NULL;
}

/* Checks shared by both front ends: links in range, targets in range, membership sets. */
static sn_error *te_check(const sn_node *n, te_params *p) {
  p->max_feat = -1;
  for (int64_t i = 0; i < p->n_nodes; i++) {
    if (p->mode[i] == M_LEAF) continue;
    if (p->feat[i] < 0) return node_err(n, "node %lld has a negative feature id", (long long)i);
    if (p->feat[i] > p->max_feat) p->max_feat = p->feat[i];
    int64_t lim_t = p->tleaf[i] ? p->n_leaves : p->n_nodes, lim_f = p->fleaf[i] ? p->n_leaves : p->n_nodes;
    if (p->tnext[i] < 0 || p->tnext[i] >= lim_t || p->fnext[i] < 0 || p->fnext[i] >= lim_f)
      return node_err(n, "node %lld links to a missing node or leaf (true %lld, false %lld)", (long long)i,
                      (long long)p->tnext[i], (long long)p->fnext[i]);
  }
  for (int64_t t = 0; t < p->n_trees; t++)
    if (p->roots[t] < 0 || p->roots[t] >= (p->root_leaf[t] ? p->n_leaves : p->n_nodes))
      return node_err(n, "tree %lld has root %lld out of range", (long long)t, (long long)p->roots[t]);
  for (int64_t k = 0; k < p->loff[p->n_leaves]; k++)
    if (p->ltarget[k] < 0 || p->ltarget[k] >= p->n_targets)
      return node_err(n, "leaf target id %lld is outside [0, %lld)", (long long)p->ltarget[k], (long long)p->n_targets);
  return NULL;
}

static sn_error *te5_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  if (n->n_in != 1 || n->in[0] < 0) return node_err(n, "TreeEnsemble needs one input");
  te_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  sn_error *e = NULL;
  double *modes = NULL, *splits = NULL, *weights = NULL, *mvals = NULL;
  int64_t n_modes, n_splits, n_weights, n_mvals;
  const int64_t *feat, *tn, *fn, *tl, *fl, *lt, *roots, *miss = NULL;
  p->n_nodes = sn_attr_ints(n, "nodes_featureids", &feat);
  if (p->n_nodes < 0 || sn_attr_ints(n, "nodes_truenodeids", &tn) != p->n_nodes ||
      sn_attr_ints(n, "nodes_falsenodeids", &fn) != p->n_nodes || sn_attr_ints(n, "nodes_trueleafs", &tl) != p->n_nodes ||
      sn_attr_ints(n, "nodes_falseleafs", &fl) != p->n_nodes) {
    e = node_err(n, "nodes_featureids, nodes_truenodeids, nodes_falsenodeids, nodes_trueleafs and nodes_falseleafs are required "
                    "and must have the same length");
    goto done;
  }
  int n_miss = sn_attr_ints(n, "nodes_missing_value_tracks_true", &miss);
  if (n_miss >= 0 && n_miss != p->n_nodes) {
    e = node_err(n, "nodes_missing_value_tracks_true has %d entries for %lld nodes", n_miss, (long long)p->n_nodes);
    goto done;
  }
  if ((e = attr_numbers(n, "nodes_modes", &modes, &n_modes)) || (e = attr_numbers(n, "nodes_splits", &splits, &n_splits)) ||
      (e = attr_numbers(n, "leaf_weights", &weights, &n_weights)) ||
      (e = attr_numbers(n, "membership_values", &mvals, &n_mvals)))
    goto done;
  if (n_modes != p->n_nodes || n_splits != p->n_nodes) {
    e = node_err(n, "nodes_modes and nodes_splits must have one entry per node (%lld)", (long long)p->n_nodes);
    goto done;
  }
  p->n_leaves = sn_attr_ints(n, "leaf_targetids", &lt);
  if (p->n_leaves < 0 || n_weights != p->n_leaves) {
    e = node_err(n, "leaf_targetids and leaf_weights are required and must have the same length");
    goto done;
  }
  p->n_trees = sn_attr_ints(n, "tree_roots", &roots);
  if (p->n_trees < 0) {
    e = node_err(n, "attribute 'tree_roots' is required");
    goto done;
  }
  p->n_targets = sn_attr_int(n, "n_targets", -1);
  if (p->n_targets < 1) {
    e = node_err(n, "attribute 'n_targets' must be >= 1");
    goto done;
  }
  p->agg = (int)sn_attr_int(n, "aggregate_function", AGG_SUM);
  p->post = (int)sn_attr_int(n, "post_transform", PT_NONE);
  if (p->agg < AGG_AVERAGE || p->agg > AGG_MAX || p->post < PT_NONE || p->post > PT_PROBIT) {
    e = node_err(n, "aggregate_function %d or post_transform %d is not valid", p->agg, p->post);
    goto done;
  }
  if ((e = te_alloc_nodes(p))) goto done;
  int64_t mpos = 0;
  for (int64_t i = 0; i < p->n_nodes; i++) {
    double m = modes[i];
    if (!(m >= M_LEQ && m <= M_MEMBER)) {
      e = node_err(n, "node %lld has an unknown mode %g", (long long)i, m);
      goto done;
    }
    p->mode[i] = (uint8_t)m;
    p->feat[i] = feat[i];
    p->tnext[i] = tn[i];
    p->fnext[i] = fn[i];
    p->tleaf[i] = tl[i] != 0;
    p->fleaf[i] = fl[i] != 0;
    p->miss[i] = miss ? miss[i] != 0 : 0;
    p->split[i] = splits[i];
    if (p->mode[i] == M_MEMBER) {
      if (n_mvals < 0 || mpos >= n_mvals) {
        e = node_err(n, "membership_values has no set for BRANCH_MEMBER node %lld", (long long)i);
        goto done;
      }
      p->mem_off[i] = mpos;
      while (mpos < n_mvals && !isnan(mvals[mpos])) mpos++;
      p->mem_cnt[i] = mpos - p->mem_off[i];
      mpos++; /* skip the NaN delimiter */
    }
  }
  p->mem = mvals;
  mvals = NULL;
  p->roots = sn_calloc((size_t)(p->n_trees ? p->n_trees : 1), sizeof(int64_t));
  p->root_leaf = sn_calloc((size_t)(p->n_trees ? p->n_trees : 1), 1);
  p->loff = sn_calloc((size_t)p->n_leaves + 1, sizeof(int64_t));
  p->ltarget = sn_calloc((size_t)(p->n_leaves ? p->n_leaves : 1), sizeof(int64_t));
  if (!p->roots || !p->root_leaf || !p->loff || !p->ltarget) {
    e = SN_ERR_OOM();
    goto done;
  }
  for (int64_t t = 0; t < p->n_trees; t++) {
    int64_t r = roots[t];
    p->roots[t] = r;
    /* a tree that is a single leaf: both links of its root point at the same leaf */
    p->root_leaf[t] = r >= 0 && r < p->n_nodes && p->tleaf[r] && p->fleaf[r] && p->tnext[r] == p->fnext[r];
    if (p->root_leaf[t]) p->roots[t] = p->tnext[r];
  }
  for (int64_t l = 0; l < p->n_leaves; l++) {
    p->loff[l + 1] = l + 1;
    p->ltarget[l] = lt[l];
  }
  p->lweight = weights;
  weights = NULL;
  e = te_check(n, p);
done:
  sn_free(modes);
  sn_free(splits);
  sn_free(weights);
  sn_free(mvals);
  if (e) {
    te_free(p);
    return e;
  }
  *params = p;
  return NULL;
}

static sn_error *te_infer(sn_infer_ctx *c) {
  if (c->n_in < 1 || !c->in[0]) return sn_infer_error(c, "input X is missing");
  const sn_type *x = c->in[0];
  if (x->dtype && !sn_dt(x->dtype)->is_float && strcmp(c->node->op_type, "TreeEnsemble") == 0)
    return sn_infer_error(c, "input X must be a float tensor");
  if (!c->out[0]) return NULL;
  sn_dtype dt = strcmp(c->node->op_type, "TreeEnsemble") == 0 ? x->dtype : SINTER_FLOAT;
  int64_t nt = sn_attr_int(c->node, "n_targets", -1);
  sn_dim d[2] = {x->rank >= 1 ? (x->rank == 1 ? sn_dim_known(1) : x->dims[0]) : sn_dim_unknown(),
                 nt > 0 ? sn_dim_known(nt) : sn_dim_unknown()};
  sn_type_set(c->out[0], dt, 2, d);
  return NULL;
}

static double erfinv_approx(double y) {
  if (y <= -1.0) return -INFINITY;
  if (y >= 1.0) return INFINITY;
  /* initial guess (Giles) refined with Newton steps on erf */
  double w = -log((1.0 - y) * (1.0 + y)), x;
  if (w < 5.0) {
    w -= 2.5;
    x = 2.81022636e-08;
    x = 3.43273939e-07 + x * w;
    x = -3.5233877e-06 + x * w;
    x = -4.39150654e-06 + x * w;
    x = 0.00021858087 + x * w;
    x = -0.00125372503 + x * w;
    x = -0.00417768164 + x * w;
    x = 0.246640727 + x * w;
    x = 1.50140941 + x * w;
  } else {
    w = sqrt(w) - 3.0;
    x = -0.000200214257;
    x = 0.000100950558 + x * w;
    x = 0.00134934322 + x * w;
    x = -0.00367342844 + x * w;
    x = 0.00573950773 + x * w;
    x = -0.0076224613 + x * w;
    x = 0.00943887047 + x * w;
    x = 1.00167406 + x * w;
    x = 2.83297682 + x * w;
  }
  x *= y;
  for (int i = 0; i < 2; i++) x -= (erf(x) - y) / (1.1283791670955126 * exp(-x * x));
  return x;
}

static void post_transform(int pt, double *v, int64_t n) {
  switch (pt) {
    case PT_SOFTMAX: {
      double m = -INFINITY, s = 0;
      for (int64_t i = 0; i < n; i++) m = v[i] > m ? v[i] : m;
      for (int64_t i = 0; i < n; i++) s += (v[i] = exp(v[i] - m));
      for (int64_t i = 0; i < n; i++) v[i] /= s;
      break;
    }
    case PT_SOFTMAX_ZERO: {
      double m = -INFINITY, s = 0;
      for (int64_t i = 0; i < n; i++)
        if (v[i] != 0 && v[i] > m) m = v[i];
      for (int64_t i = 0; i < n; i++)
        if (v[i] != 0) s += (v[i] = exp(v[i] - m));
      for (int64_t i = 0; i < n; i++)
        if (v[i] != 0) v[i] /= s;
      break;
    }
    case PT_LOGISTIC:
      for (int64_t i = 0; i < n; i++) v[i] = 1.0 / (1.0 + exp(-v[i]));
      break;
    case PT_PROBIT:
      for (int64_t i = 0; i < n; i++) v[i] = sqrt(2.0) * erfinv_approx(2.0 * v[i] - 1.0);
      break;
    default: break;
  }
}

static bool te_goes_true(const te_params *p, int64_t i, double x) {
  if (isnan(x) && p->miss[i]) return true;
  double s = p->split[i];
  switch (p->mode[i]) {
    case M_LEQ: return x <= s;
    case M_LT: return x < s;
    case M_GTE: return x >= s;
    case M_GT: return x > s;
    case M_EQ: return x == s;
    case M_NEQ: return x != s;
    case M_MEMBER: {
      const double *m = p->mem + p->mem_off[i];
      for (int64_t k = 0; k < p->mem_cnt[i]; k++)
        if (m[k] == x) return true;
      return false;
    }
    default: return false;
  }
}

/* Walk every tree for row r, summing (or min/max-ing) leaf votes into acc and marking hit targets.
 * false when a tree has a cycle (at *bad_tree). */
static bool te_row(const te_params *p, const sn_tensor *x, int64_t r, int64_t F, double *acc, uint8_t *hit, int64_t *bad_tree) {
  for (int64_t t = 0; t < p->n_targets; t++) {
    acc[t] = 0.0;
    hit[t] = 0;
  }
  for (int64_t tr = 0; tr < p->n_trees; tr++) {
    int64_t cur = p->roots[tr];
    bool leaf = p->root_leaf[tr];
    int64_t steps = 0;
    while (!leaf) {
      if (++steps > p->n_nodes) {
        *bad_tree = tr;
        return false;
      }
      double v = sn_load_f64(x->dtype, x->data, r * F + p->feat[cur]);
      if (te_goes_true(p, cur, v)) {
        leaf = p->tleaf[cur];
        cur = p->tnext[cur];
      } else {
        leaf = p->fleaf[cur];
        cur = p->fnext[cur];
      }
    }
    for (int64_t k = p->loff[cur]; k < p->loff[cur + 1]; k++) {
      int64_t t = p->ltarget[k];
      double w = p->lweight[k];
      switch (p->agg) {
        case AGG_MIN: acc[t] = !hit[t] || w < acc[t] ? w : acc[t]; break;
        case AGG_MAX: acc[t] = !hit[t] || w > acc[t] ? w : acc[t]; break;
        default: acc[t] += w; break;
      }
      hit[t] = 1;
    }
  }
  return true;
}

/* Checks X and returns rows and features. */
static sn_error *te_check_x(sn_kernel_ctx *c, const te_params *p, const sn_tensor **xo, int64_t *rows, int64_t *F) {
  sn_error *e = NULL;
  const sn_tensor *x = need_tensor(c, 0, &e);
  if (!x) return e;
  if (!sn_dt(x->dtype)->is_float && !(p->legacy && sn_dt(x->dtype)->is_int))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input X has unsupported type %s", sn_dtype_name(x->dtype));
  if (x->rank < 1 || x->rank > 2)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input X must have rank 1 or 2 (got %d)", x->rank);
  *rows = x->rank == 2 ? x->dims[0] : 1;
  *F = x->dims[x->rank - 1];
  if (p->max_feat >= *F)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "the trees read feature %lld but X has %lld features",
                           (long long)p->max_feat, (long long)*F);
  *xo = x;
  return NULL;
}

static sn_error *te_run(sn_kernel_ctx *c) {
  const te_params *p = c->params;
  const sn_tensor *x;
  int64_t rows, F, bad;
  SN_TRY(te_check_x(c, p, &x, &rows, &F));
  sn_dtype odt = p->legacy ? SINTER_FLOAT : x->dtype;
  int64_t od[2] = {rows, p->n_targets};
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, odt, 2, od, &y));
  int64_t T = p->n_targets;
  double *acc = sn_kernel_scratch(c, sizeof(double) * (size_t)T);
  uint8_t *hit = sn_kernel_scratch(c, (size_t)T);
  if (!acc || !hit) return SN_ERR_OOM();
  for (int64_t r = 0; r < rows; r++) {
    if (!te_row(p, x, r, F, acc, hit, &bad))
      return sn_kernel_error(c, SINTER_ERR_INVALID_MODEL, "tree %lld has a cycle", (long long)bad);
    for (int64_t t = 0; t < T; t++) {
      /* a target no leaf voted for scores 0, base value included (as onnxruntime does) */
      if (!hit[t]) {
        acc[t] = 0;
        continue;
      }
      if (p->agg == AGG_AVERAGE && p->n_trees) acc[t] /= (double)p->n_trees;
      if (p->base) acc[t] += p->base[t];
    }
    post_transform(p->post, acc, T);
    for (int64_t t = 0; t < T; t++) sn_store_f64(odt, y->data, r * T + t, acc[t]);
  }
  return NULL;
}

/* ---- TreeEnsembleClassifier (opsets 1 and 3) ----------------------------------------------------- */

static sn_error *tec_infer(sn_infer_ctx *c) {
  if (c->n_in < 1 || !c->in[0]) return sn_infer_error(c, "input X is missing");
  const sn_type *x = c->in[0];
  sn_dim n = x->rank >= 1 ? (x->rank == 1 ? sn_dim_known(1) : x->dims[0]) : sn_dim_unknown();
  const sn_attr *ls = sn_node_attr(c->node, "classlabels_strings");
  const int64_t *li;
  int nli = sn_attr_ints(c->node, "classlabels_int64s", &li);
  int64_t E = (ls && ls->n > 0) ? ls->n : nli;
  if (c->out[0]) sn_type_set(c->out[0], (ls && ls->n > 0) ? SINTER_STRING : SINTER_INT64, 1, &n);
  if (c->n_out > 1 && c->out[1]) {
    sn_dim d[2] = {n, E > 0 ? sn_dim_known(E) : sn_dim_unknown()};
    sn_type_set(c->out[1], SINTER_FLOAT, 2, d);
  }
  return NULL;
}

static double logistic(double v) { return 1.0 / (1.0 + exp(-v)); }

/* Scores and the chosen class for one row, following onnxruntime's handling of the binary cases. */
static int64_t tec_finalize(const te_params *p, double *s, uint8_t *hit) {
  int64_t E = p->n_targets, best = -1;
  if (E > 2 || p->n_base > 2) {
    for (int64_t k = 0; k < E; k++) {
      if (p->base) s[k] += p->base[k];
      if (hit[k] && (best < 0 || s[k] > s[best])) best = k;
    }
    post_transform(p->post, s, E);
    return best < 0 ? 0 : best;
  }
  if (E == 1) {
    if (p->base) s[0] += p->base[0];
    post_transform(p->post, s, 1);
    return 0;
  }
  /* two classes: onnxruntime's conventions, scores of classes no leaf voted for are written as 0 */
  if (p->n_base == 2) {
    if (hit[1]) {
      s[1] = p->base[1] + s[0];
      s[0] = -s[1];
    } else {
      s[0] += p->base[0];
    }
  } else if (p->n_base == 1) {
    s[0] += p->base[0];
  }
  bool single = p->n_base != 2 && hit[0] && !hit[1];
  int add = -1;
  if (!p->multi_ids) {
    double v = p->cid == 0 ? s[0] : s[1];
    bool pos = p->weights_pos ? v > 0.5 : v > 0;
    best = pos ? 1 : 0;
    add = p->weights_pos ? (pos ? 0 : 1) : (pos ? 2 : 3);
  } else {
    best = 1;
  }
  if (single) {
    double v = s[0];
    if (p->post == PT_LOGISTIC) {
      s[0] = logistic(-v);
      s[1] = logistic(v);
    } else {
      s[0] = (add == 0 || add == 1) ? 1 - v : -v;
      s[1] = v;
    }
    return best;
  }
  for (int k = 0; k < 2; k++)
    if (!hit[k]) s[k] = 0;
  post_transform(p->post, s, 2);
  return best;
}

static sn_error *tec_run(sn_kernel_ctx *c) {
  const te_params *p = c->params;
  const sn_tensor *x;
  int64_t rows, F, bad, E = p->n_targets;
  SN_TRY(te_check_x(c, p, &x, &rows, &F));
  int64_t od[2] = {rows, E};
  sn_tensor *z, *y = NULL;
  SN_TRY(sn_kernel_output(c, 1, SINTER_FLOAT, 2, od, &z));
  if (p->labels_s)
    SN_TRY(sn_tensor_new(SINTER_STRING, 1, od, &y));
  else
    SN_TRY(sn_kernel_output(c, 0, SINTER_INT64, 1, od, &y));
  double *acc = sn_kernel_scratch(c, sizeof(double) * (size_t)(E < 2 ? 2 : E));
  uint8_t *hit = sn_kernel_scratch(c, (size_t)(E < 2 ? 2 : E));
  sn_error *e = NULL;
  if (!acc || !hit) {
    e = SN_ERR_OOM();
    goto fail;
  }
  for (int64_t r = 0; r < rows; r++) {
    if (!te_row(p, x, r, F, acc, hit, &bad)) {
      e = sn_kernel_error(c, SINTER_ERR_INVALID_MODEL, "tree %lld has a cycle", (long long)bad);
      goto fail;
    }
    int64_t k = tec_finalize(p, acc, hit);
    for (int64_t t = 0; t < E; t++) ((float *)z->data)[r * E + t] = (float)acc[t];
    if (p->labels_s) {
      if (!(((char **)y->data)[r] = sn_strdup(p->labels_s[k]))) {
        e = SN_ERR_OOM();
        goto fail;
      }
    } else {
      ((int64_t *)y->data)[r] = p->labels_i[k];
    }
  }
  if (p->labels_s) return sn_kernel_set_output(c, 0, y);
  return NULL;
fail:
  if (p->labels_s) sn_tensor_free(y);
  return e;
}

/* ---- TreeEnsembleRegressor (opsets 1 and 3) ------------------------------------------------------ */

static int str_index(const char *s, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (s && !strcmp(s, names[i])) return i;
  return -1;
}

typedef struct key_ix {
  int64_t tree, node, idx;
} key_ix;

static int cmp_key(const void *a, const void *b) {
  const key_ix *x = a, *y = b;
  if (x->tree != y->tree) return x->tree < y->tree ? -1 : 1;
  if (x->node != y->node) return x->node < y->node ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int64_t find_key(const key_ix *k, int64_t n, int64_t tree, int64_t node) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (k[mid].tree < tree || (k[mid].tree == tree && k[mid].node < node))
      lo = mid + 1;
    else
      hi = mid;
  }
  return (lo < n && k[lo].tree == tree && k[lo].node == node) ? lo : -1;
}

static sn_error *legacy_prepare(sn_node *n, void **params, bool cls) {
  if (n->n_in != 1 || n->in[0] < 0) return node_err(n, "%s needs one input", n->op_type);
  te_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  p->legacy = true;
  p->classifier = cls;
  const char *a_tree = cls ? "class_treeids" : "target_treeids", *a_node = cls ? "class_nodeids" : "target_nodeids";
  const char *a_id = cls ? "class_ids" : "target_ids", *a_w = cls ? "class_weights" : "target_weights";
  const char *a_wt = cls ? "class_weights_as_tensor" : "target_weights_as_tensor";
  sn_error *e = NULL;
  double *vals = NULL, *tw = NULL, *base = NULL;
  int64_t n_vals, n_tw, n_base;
  key_ix *keys = NULL, *tkeys = NULL;
  const int64_t *tid, *nid, *feat, *tn, *fn, *miss = NULL, *ttid, *tnid, *tgt;
  const sn_attr *modes = sn_node_attr(n, "nodes_modes");
  int64_t N = sn_attr_ints(n, "nodes_treeids", &tid);
  if (N < 0 || !modes || modes->type != SN_ATTR_STRINGS || modes->n != N || sn_attr_ints(n, "nodes_nodeids", &nid) != N ||
      sn_attr_ints(n, "nodes_featureids", &feat) != N || sn_attr_ints(n, "nodes_truenodeids", &tn) != N ||
      sn_attr_ints(n, "nodes_falsenodeids", &fn) != N) {
    e = node_err(n, "nodes_treeids, nodes_nodeids, nodes_featureids, nodes_modes, nodes_truenodeids and nodes_falsenodeids "
                    "are required and must have the same length");
    goto done;
  }
  int nm = sn_attr_ints(n, "nodes_missing_value_tracks_true", &miss);
  if (nm >= 0 && nm != N) miss = NULL;
  if ((e = attr_numbers(n, "nodes_values", &vals, &n_vals))) goto done;
  if (!vals && (e = attr_numbers(n, "nodes_values_as_tensor", &vals, &n_vals))) goto done;
  if ((e = attr_numbers(n, a_w, &tw, &n_tw))) goto done;
  if (!tw && (e = attr_numbers(n, a_wt, &tw, &n_tw))) goto done;
  if ((e = attr_numbers(n, "base_values", &base, &n_base))) goto done;
  if (!base && (e = attr_numbers(n, "base_values_as_tensor", &base, &n_base))) goto done;
  int64_t NT = sn_attr_ints(n, a_tree, &ttid);
  if (NT < 0 || sn_attr_ints(n, a_node, &tnid) != NT || sn_attr_ints(n, a_id, &tgt) != NT || n_tw != NT) {
    e = node_err(n, "%s, %s, %s and %s are required and must have the same length", a_tree, a_node, a_id, a_w);
    goto done;
  }
  if (n_vals >= 0 && n_vals != N) {
    e = node_err(n, "nodes_values has %lld entries for %lld nodes", (long long)n_vals, (long long)N);
    goto done;
  }
  if (cls) {
    const sn_attr *ls = sn_node_attr(n, "classlabels_strings");
    const int64_t *li;
    int nli = sn_attr_ints(n, "classlabels_int64s", &li);
    if (ls && ls->type == SN_ATTR_STRINGS && ls->n > 0) {
      p->n_targets = ls->n;
      p->labels_s = sn_calloc((size_t)ls->n, sizeof(char *));
      if (!p->labels_s) {
        e = SN_ERR_OOM();
        goto done;
      }
      for (int k = 0; k < ls->n; k++)
        if (!(p->labels_s[k] = sn_strdup(ls->strings[k] ? ls->strings[k] : ""))) {
          e = SN_ERR_OOM();
          goto done;
        }
    } else if (nli > 0) {
      p->n_targets = nli;
      if (!(p->labels_i = sn_calloc((size_t)nli, sizeof(int64_t)))) {
        e = SN_ERR_OOM();
        goto done;
      }
      memcpy(p->labels_i, li, sizeof(int64_t) * (size_t)nli);
    } else {
      e = node_err(n, "one of classlabels_strings or classlabels_int64s is required");
      goto done;
    }
    p->weights_pos = true;
    for (int64_t k = 0; k < NT; k++) {
      if (tw[k] < 0) p->weights_pos = false;
      if (tgt[k] != tgt[0]) p->multi_ids = true;
    }
    p->cid = NT ? tgt[0] : 0;
    p->n_base = base ? n_base : 0;
  } else {
    p->n_targets = sn_attr_int(n, "n_targets", 1);
  }
  if (p->n_targets < 1) {
    e = node_err(n, "n_targets must be >= 1");
    goto done;
  }
  if (base && n_base != p->n_targets && !(cls && p->n_targets == 2 && n_base == 1)) {
    e = node_err(n, "base_values has %lld entries for %lld targets", (long long)n_base, (long long)p->n_targets);
    goto done;
  }
  static const char *const aggs[] = {"AVERAGE", "SUM", "MIN", "MAX"};
  static const char *const posts[] = {"NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"};
  static const char *const mnames[] = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ", "BRANCH_MEMBER", "LEAF"};
  p->agg = cls ? AGG_SUM : str_index(sn_attr_str(n, "aggregate_function", "SUM"), aggs, 4);
  p->post = str_index(sn_attr_str(n, "post_transform", "NONE"), posts, 5);
  if (p->agg < 0 || p->post < 0) {
    e = node_err(n, "aggregate_function or post_transform is not a known name");
    goto done;
  }
  p->base = base;
  base = NULL;
  /* node index by (tree, node id) */
  keys = sn_calloc((size_t)(N ? N : 1), sizeof *keys);
  tkeys = sn_calloc((size_t)(NT ? NT : 1), sizeof *tkeys);
  if (!keys || !tkeys) {
    e = SN_ERR_OOM();
    goto done;
  }
  for (int64_t i = 0; i < N; i++) keys[i] = (key_ix){tid[i], nid[i], i};
  qsort(keys, (size_t)N, sizeof *keys, cmp_key);
  for (int64_t i = 1; i < N; i++)
    if (keys[i].tree == keys[i - 1].tree && keys[i].node == keys[i - 1].node) {
      e = node_err(n, "tree %lld node %lld is defined twice", (long long)keys[i].tree, (long long)keys[i].node);
      goto done;
    }
  /* every node becomes a branch slot; a LEAF node becomes a leaf (same index) that owns its targets */
  p->n_nodes = N;
  p->n_leaves = N;
  if ((e = te_alloc_nodes(p))) goto done;
  p->loff = sn_calloc((size_t)N + 1, sizeof(int64_t));
  p->ltarget = sn_calloc((size_t)(NT ? NT : 1), sizeof(int64_t));
  p->lweight = sn_calloc((size_t)(NT ? NT : 1), sizeof(double));
  if (!p->loff || !p->ltarget || !p->lweight) {
    e = SN_ERR_OOM();
    goto done;
  }
  for (int64_t i = 0; i < N; i++) {
    int m = str_index(modes->strings[i], mnames, 8);
    if (m < 0 || m == M_MEMBER) {
      e = node_err(n, "node %lld has unknown mode '%s'", (long long)i, modes->strings[i] ? modes->strings[i] : "");
      goto done;
    }
    p->mode[i] = (uint8_t)m;
    p->feat[i] = feat[i];
    p->split[i] = vals ? vals[i] : 0.0;
    p->miss[i] = miss ? miss[i] != 0 : 0;
    if (m == M_LEAF) continue;
    int64_t a = find_key(keys, N, tid[i], tn[i]), b = find_key(keys, N, tid[i], fn[i]);
    if (a < 0 || b < 0) {
      e = node_err(n, "tree %lld node %lld links to a missing node", (long long)tid[i], (long long)nid[i]);
      goto done;
    }
    int64_t ai = keys[a].idx, bi = keys[b].idx;
    p->tnext[i] = ai;
    p->tleaf[i] = str_index(modes->strings[ai], mnames, 8) == M_LEAF;
    p->fnext[i] = bi;
    p->fleaf[i] = str_index(modes->strings[bi], mnames, 8) == M_LEAF;
  }
  /* targets grouped by node */
  for (int64_t k = 0; k < NT; k++) tkeys[k] = (key_ix){ttid[k], tnid[k], k};
  qsort(tkeys, (size_t)NT, sizeof *tkeys, cmp_key);
  int64_t pos = 0;
  for (int64_t i = 0; i < N; i++) {
    p->loff[i] = pos;
    if (p->mode[i] != M_LEAF) continue;
    int64_t k = find_key(tkeys, NT, tid[i], nid[i]);
    for (; k >= 0 && k < NT && tkeys[k].tree == tid[i] && tkeys[k].node == nid[i]; k++) {
      p->ltarget[pos] = tgt[tkeys[k].idx];
      p->lweight[pos] = tw[tkeys[k].idx];
      pos++;
    }
  }
  p->loff[N] = pos;
  /* trees: the root of each tree is its node that no other node links to (the smallest node id in practice) */
  int64_t nt = 0;
  for (int64_t i = 0; i < N; i++)
    if (i == 0 || keys[i].tree != keys[i - 1].tree) nt++;
  p->n_trees = nt;
  p->roots = sn_calloc((size_t)(nt ? nt : 1), sizeof(int64_t));
  p->root_leaf = sn_calloc((size_t)(nt ? nt : 1), 1);
  if (!p->roots || !p->root_leaf) {
    e = SN_ERR_OOM();
    goto done;
  }
  nt = 0;
  for (int64_t i = 0; i < N; i++)
    if (i == 0 || keys[i].tree != keys[i - 1].tree) {
      int64_t r = keys[i].idx;
      p->roots[nt] = r;
      p->root_leaf[nt] = p->mode[r] == M_LEAF;
      nt++;
    }
  e = te_check(n, p);
done:
  sn_free(vals);
  sn_free(tw);
  sn_free(base);
  sn_free(keys);
  sn_free(tkeys);
  if (e) {
    te_free(p);
    return e;
  }
  *params = p;
  return NULL;
}

static sn_error *ter_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  return legacy_prepare(n, params, false);
}

static sn_error *tec_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  return legacy_prepare(n, params, true);
}

const sn_op sn_ops_ml[] = {
    {ML, "Binarizer", 1, 0, bin_infer, bin_run, NULL, NULL, 0},
    {ML, "ArrayFeatureExtractor", 1, 0, afe_infer, afe_run, NULL, NULL, 0},
    {ML, "LabelEncoder", 1, 1, le_infer, le_run, le_prepare, le_free, 0},
    {ML, "LabelEncoder", 2, 3, le_infer, le_run, le_prepare, le_free, 0},
    {ML, "LabelEncoder", 4, 0, le_infer, le_run, le_prepare, le_free, 0},
    {ML, "TreeEnsemble", 5, 0, te_infer, te_run, te5_prepare, te_free, 0},
    {ML, "TreeEnsembleRegressor", 1, 2, te_infer, te_run, ter_prepare, te_free, 0},
    {ML, "TreeEnsembleRegressor", 3, 0, te_infer, te_run, ter_prepare, te_free, 0},
    {ML, "TreeEnsembleClassifier", 1, 2, tec_infer, tec_run, tec_prepare, te_free, 0},
    {ML, "TreeEnsembleClassifier", 3, 0, tec_infer, tec_run, tec_prepare, te_free, 0},
    {0},
};
