/* Default-domain opset upgrade 10..12 -> 13 for the quantizer: static per-axis QDQ needs opset-13
 * QuantizeLinear/DequantizeLinear, and most CNN exports import opset 11 or 12. Every node whose ONNX
 * semantics changed between the model's opset and 13 is rewritten (attributes that became inputs,
 * Softmax's axis semantics, Resize-10 and the deprecated Upsample); nodes whose operator only gained
 * types or negative axes keep their form; anything else is refused with the node named. Sub-graphs
 * (If/Loop/Scan bodies) are upgraded too. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "ir/infer.h"
#include "onnx/onnx.h"
#include "passes/rewrite.h"
#include "quant/quant.h"
#include "runtime/executor.h"

/* Operators whose opset-13 definition accepts every model of opset 10..12 with the same meaning
 * (they gained types, negative axes, optional inputs or attributes whose defaults keep the old
 * behaviour). */
static const char *const SAME[] = {
    "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh", "AveragePool",
    "BatchNormalization", "BitShift", "Cast", "Ceil", "Celu", "Compress", "Concat", "ConcatFromSequence", "Constant",
    "ConstantOfShape", "Conv", "ConvInteger", "ConvTranspose", "Cos", "Cosh", "CumSum", "DepthToSpace",
    "DequantizeLinear", "Det", "Div", "DynamicQuantizeLinear", "Einsum", "Elu", "Equal", "Erf", "Exp", "Expand",
    "EyeLike", "Flatten", "Floor", "GRU", "Gather", "GatherElements", "GatherND", "Gemm", "GlobalAveragePool",
    "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "HardSigmoid", "Identity", "If",
    "InstanceNormalization", "IsInf", "IsNaN", "LRN", "LSTM", "LeakyRelu", "Less", "LessOrEqual", "Log", "Loop",
    "LpNormalization", "LpPool", "MatMul", "MatMulInteger", "Max", "MaxPool", "MaxRoiPool", "MaxUnpool", "Mean",
    "MeanVarianceNormalization", "Min", "Mod", "Mul", "Multinomial", "Neg", "NonMaxSuppression", "NonZero", "Not",
    "OneHot", "Or", "PRelu", "Pow", "QLinearConv", "QLinearMatMul", "QuantizeLinear", "RNN", "RandomNormal",
    "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Range", "Reciprocal", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare",
    "Relu", "Reshape", "ReverseSequence", "RoiAlign", "Round", "Scan", "ScatterElements", "ScatterND", "Selu",
    "SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase", "SequenceInsert", "SequenceLength", "Shape",
    "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice", "Softplus", "Softsign", "SpaceToDepth",
    "SplitToSequence", "Sqrt", "StringNormalizer", "Sub", "Sum", "Tan", "Tanh", "TfIdfVectorizer", "ThresholdedRelu",
    "Tile", "TopK", "Transpose", "Unique", "Where", "Xor", NULL};

static bool same_at_13(const char *op) {
  for (int i = 0; SAME[i]; i++)
    if (!strcmp(SAME[i], op)) return true;
  return false;
}

typedef struct up_ctx {
  sn_model *m;
  int changed;
} up_ctx;

static const sn_type *type_of(const sn_graph *pg, const sn_graph *g, int v) {
  if (v < 0) return NULL;
  if (pg) {
    int p = sn_graph_find(pg, g->values[v].name);
    if (p >= 0) return &pg->values[p].type;
  }
  return &g->values[v].type;
}

static void remove_attr(sn_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (!strcmp(n->attrs[i].name, name)) {
      sn_attr_clear(&n->attrs[i]);
      memmove(&n->attrs[i], &n->attrs[i + 1], sizeof(sn_attr) * (size_t)(n->n_attrs - i - 1));
      n->n_attrs--;
      return;
    }
}

static sn_error *const_i64(sn_graph *g, const char *base, const char *suffix, int n, const int64_t *v, int *id) {
  sn_tensor *t;
  int64_t d = n;
  sn_error *e = sn_tensor_new(SINTER_INT64, 1, &d, &t);
  if (e) return e;
  if (n) memcpy(t->data, v, sizeof(int64_t) * (size_t)n);
  return sn_graph_add_initializer(g, base, suffix, t, id);
}

/* A scalar of the float type dt (float32 when unknown) holding x. */
static sn_error *const_scalar(sn_graph *g, const char *base, const char *suffix, sn_dtype dt, float x, int *id) {
  sn_tensor *t;
  if (dt != SINTER_DOUBLE && dt != SINTER_FLOAT16) dt = SINTER_FLOAT;
  sn_error *e = sn_tensor_new(dt, 0, NULL, &t);
  if (e) return e;
  if (dt == SINTER_DOUBLE) {
    ((double *)t->data)[0] = x;
  } else if (dt == SINTER_FLOAT16) {
    sn_tensor_free(t);
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "opset upgrade: float16 Clip/Pad attributes are not converted");
  } else {
    ((float *)t->data)[0] = x;
  }
  return sn_graph_add_initializer(g, base, suffix, t, id);
}

static const char *node_base(const sn_graph *g, const sn_node *n) {
  if (n->name && *n->name) return n->name;
  return n->n_out > 0 && n->out[0] >= 0 ? g->values[n->out[0]].name : "node";
}

/* A new node (default domain, opset 13) with the given inputs/outputs. */
static sn_error *new_node(sn_graph *g, const char *op, const char *name, int n_in, const int *in, int out, int *index) {
  int idx;
  sn_error *e = sn_graph_add_node(g, &idx);
  if (e) return e;
  sn_node *n = &g->nodes[idx];
  n->name = sn_strdup(name);
  n->op_type = sn_strdup(op);
  n->domain = sn_strdup("");
  n->in = sn_malloc(sizeof(int) * (size_t)(n_in ? n_in : 1));
  n->out = sn_malloc(sizeof(int));
  if (!n->name || !n->op_type || !n->domain || !n->in || !n->out) return SN_ERR_OOM();
  n->n_in = n_in;
  memcpy(n->in, in, sizeof(int) * (size_t)n_in);
  n->n_out = 1;
  n->out[0] = out;
  n->opset = 13;
  if (index) *index = idx;
  return NULL;
}

static sn_error *new_value(sn_graph *g, const char *base, const char *suffix, int *id) {
  char name[512];
  for (int k = 0;; k++) {
    if (k == 0)
      snprintf(name, sizeof name, "%.400s%.60s", base, suffix);
    else
      snprintf(name, sizeof name, "%.400s%.60s_%d", base, suffix, k);
    if (sn_graph_find(g, name) < 0) break;
  }
  return sn_graph_add_value(g, name, id);
}

/* An ints attribute `attr` becomes input number `pos` (earlier missing inputs become absent). */
static sn_error *attr_to_input(sn_graph *g, int ni, const char *attr, int pos) {
  sn_node *n = &g->nodes[ni];
  const int64_t *v;
  int cnt = sn_attr_ints(n, attr, &v);
  if (cnt < 0) return NULL;
  char base[400];
  snprintf(base, sizeof base, "%s_%s", node_base(g, n), attr);
  int id;
  sn_error *e = const_i64(g, base, "", cnt, v, &id);
  if (e) return e;
  n = &g->nodes[ni];
  while (n->n_in < pos)
    if ((e = sn_node_add_input(n, -1))) return e;
  if (n->n_in == pos) {
    if ((e = sn_node_add_input(n, id))) return e;
  } else {
    n->in[pos] = id;
  }
  remove_attr(n, attr);
  return NULL;
}

/* Softmax/LogSoftmax/Hardmax below 13 flatten the input to 2-D at `axis` (default 1); at 13 they
 * work along one axis (default -1). Same result when axis is the last axis or every later dim is
 * 1; otherwise Flatten(axis) -> op(axis=1) -> Reshape(Shape(x)) reproduces the old semantics. */
static sn_error *up_softmax(sn_graph *g, const sn_graph *pg, int ni) {
  sn_node *n = &g->nodes[ni];
  int64_t axis = sn_attr_int(n, "axis", 1);
  const sn_type *t = type_of(pg, g, n->in[0]);
  int rank = t && t->kind == SN_KIND_TENSOR ? t->rank : -1;
  if (rank >= 0) {
    int64_t a = axis < 0 ? axis + rank : axis;
    bool same = a == rank - 1 || rank == 0;
    if (!same && a >= 0 && a < rank) {
      same = true;
      for (int d = (int)a + 1; d < rank; d++) same &= t->dims[d].v == 1;
    }
    if (same) return sn_node_set_int(n, "axis", rank == 0 ? -1 : a);
  }
  char base[400];
  snprintf(base, sizeof base, "%s", node_base(g, n));
  int x = n->in[0], y = n->out[0], flat, flat_y, shape, idx;
  sn_error *e;
  if ((e = new_value(g, base, "_flat", &flat)) || (e = new_value(g, base, "_flat_out", &flat_y)) ||
      (e = new_value(g, base, "_in_shape", &shape)))
    return e;
  char nm[480];
  snprintf(nm, sizeof nm, "%s_flatten", base);
  if ((e = new_node(g, "Flatten", nm, 1, &x, flat, &idx)) || (e = sn_node_set_int(&g->nodes[idx], "axis", axis)))
    return e;
  snprintf(nm, sizeof nm, "%s_shape", base);
  if ((e = new_node(g, "Shape", nm, 1, &x, shape, NULL))) return e;
  int rin[2] = {flat_y, shape};
  snprintf(nm, sizeof nm, "%s_reshape", base);
  if ((e = new_node(g, "Reshape", nm, 2, rin, y, NULL))) return e;
  n = &g->nodes[ni];
  n->in[0] = flat;
  n->out[0] = flat_y;
  return sn_node_set_int(n, "axis", 1);
}

/* Clip below 11: min/max attributes -> inputs. */
static sn_error *up_clip(sn_graph *g, const sn_graph *pg, int ni) {
  sn_node *n = &g->nodes[ni];
  const sn_type *t = type_of(pg, g, n->in[0]);
  sn_dtype dt = t ? t->dtype : SINTER_FLOAT;
  const sn_attr *amin = sn_node_attr(n, "min"), *amax = sn_node_attr(n, "max");
  float lo = amin ? amin->f : 0.f, hi = amax ? amax->f : 0.f;
  bool has_lo = amin != NULL, has_hi = amax != NULL;
  char base[400];
  snprintf(base, sizeof base, "%s", node_base(g, n));
  int vlo = -1, vhi = -1;
  sn_error *e;
  if (has_lo && (e = const_scalar(g, base, "_min", dt, lo, &vlo))) return e;
  if (has_hi && (e = const_scalar(g, base, "_max", dt, hi, &vhi))) return e;
  n = &g->nodes[ni];
  remove_attr(n, "min");
  remove_attr(n, "max");
  if (has_lo || has_hi) {
    if ((e = sn_node_add_input(n, vlo))) return e;
    if (has_hi && (e = sn_node_add_input(n, vhi))) return e;
  }
  return NULL;
}

/* Pad below 11: pads/value attributes -> inputs. */
static sn_error *up_pad(sn_graph *g, const sn_graph *pg, int ni) {
  sn_node *n = &g->nodes[ni];
  const sn_type *t = type_of(pg, g, n->in[0]);
  sn_dtype dt = t ? t->dtype : SINTER_FLOAT;
  const sn_attr *av = sn_node_attr(n, "value");
  float value = av ? av->f : 0.f;
  sn_error *e = attr_to_input(g, ni, "pads", 1);
  if (e) return e;
  n = &g->nodes[ni];
  remove_attr(n, "value");
  if (value != 0.f) {
    int v;
    char base[400];
    snprintf(base, sizeof base, "%s", node_base(g, n));
    if ((e = const_scalar(g, base, "_value", dt, value, &v))) return e;
    if ((e = sn_node_add_input(&g->nodes[ni], v))) return e;
  }
  return NULL;
}

/* Resize-10 and Upsample-9 (inputs X, scales) -> Resize-13 (X, roi, scales) with the asymmetric
 * coordinate transform they use; nearest picks floor when every scale is >= 1 (upsampling) and
 * ceil when every scale is <= 1, as onnxruntime does for them. */
static sn_error *up_resize(up_ctx *c, sn_graph *g, int ni) {
  sn_node *n = &g->nodes[ni];
  char buf[160];
  if (n->n_in != 2)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "opset upgrade to 13: %s needs inputs (X, scales)",
                     sn_node_desc(n, buf, sizeof buf));
  const char *mode = sn_attr_str(n, "mode", "nearest");
  const char *nearest = "floor";
  if (!strcmp(mode, "nearest")) {
    const sn_tensor *s = sn_graph_const(g, n->in[1]);
    bool up = true, down = true;
    if (!s || s->dtype != SINTER_FLOAT)
      return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED,
                       "opset upgrade to 13: %s: nearest mode with scales that are not a float32 constant",
                       sn_node_desc(n, buf, sizeof buf));
    for (int64_t i = 0; i < s->count; i++) {
      float v = ((const float *)s->data)[i];
      up &= v >= 1.f;
      down &= v <= 1.f;
    }
    if (!up && !down)
      return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED,
                       "opset upgrade to 13: %s mixes up- and down-sampling scales in nearest mode",
                       sn_node_desc(n, buf, sizeof buf));
    nearest = up ? "floor" : "ceil";
  }
  int scales = n->in[1];
  n->in[1] = -1;
  sn_error *e = sn_node_add_input(n, scales);
  if (!e && strcmp(n->op_type, "Resize")) e = sn_node_retype(n, "", "Resize", 13, false);
  if (!e) e = sn_node_set_str(&g->nodes[ni], "coordinate_transformation_mode", "asymmetric");
  if (!e && !strcmp(mode, "nearest")) e = sn_node_set_str(&g->nodes[ni], "nearest_mode", nearest);
  (void)c;
  return e;
}

static sn_error *up_graph(up_ctx *c, sn_graph *g, const sn_graph *pg);

/* The probe's node that produces the same first output (the probe was loaded from the same file). */
static const sn_node *probe_node(const sn_graph *pg, const sn_graph *g, const sn_node *n) {
  if (!pg || n->n_out < 1 || n->out[0] < 0) return NULL;
  int v = sn_graph_find(pg, g->values[n->out[0]].name);
  if (v < 0 || pg->values[v].producer < 0 || pg->values[v].producer >= pg->n_nodes) return NULL;
  return &pg->nodes[pg->values[v].producer];
}

static sn_error *up_node(up_ctx *c, sn_graph *g, const sn_graph *pg, int ni) {
  sn_node *n = &g->nodes[ni];
  char buf[160];
  sn_error *e = NULL;
  /* sub-graphs first (their nodes carry the same opset) */
  const sn_node *pn = probe_node(pg, g, n);
  for (int a = 0; a < n->n_attrs && !e; a++) {
    sn_attr *at = &n->attrs[a];
    const sn_attr *pat = pn && a < pn->n_attrs && !strcmp(pn->attrs[a].name, at->name) ? &pn->attrs[a] : NULL;
    if (at->type == SN_ATTR_GRAPH && at->g) e = up_graph(c, at->g, pat ? pat->g : NULL);
    if (at->type == SN_ATTR_GRAPHS)
      for (int k = 0; k < at->n && !e; k++)
        e = up_graph(c, at->graphs[k], pat && k < pat->n ? pat->graphs[k] : NULL);
  }
  if (e) return e;
  n = &g->nodes[ni];
  if (!n->op_type || (n->domain && *n->domain) || n->opset >= 13) return NULL;
  const char *op = n->op_type;
  int old = n->opset;
  if (same_at_13(op)) {
    /* nothing to rewrite */
  } else if (!strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze") || !strcmp(op, "ReduceSum")) {
    e = attr_to_input(g, ni, "axes", 1);
    c->changed++;
  } else if (!strcmp(op, "Split")) {
    e = attr_to_input(g, ni, "split", 1);
    c->changed++;
  } else if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Hardmax")) {
    e = up_softmax(g, pg, ni);
    c->changed++;
  } else if (!strcmp(op, "Clip")) {
    if (old < 11) e = up_clip(g, pg, ni);
    c->changed += old < 11;
  } else if (!strcmp(op, "Pad")) {
    if (old < 11) e = up_pad(g, pg, ni);
    c->changed += old < 11;
  } else if (!strcmp(op, "Dropout")) {
    /* ratio attribute -> optional input at 12; inference ignores it */
    remove_attr(n, "ratio");
    remove_attr(n, "seed");
    c->changed += old < 12;
  } else if (!strcmp(op, "Resize")) {
    if (old < 11) e = up_resize(c, g, ni);
    c->changed += old < 11;
  } else if (!strcmp(op, "Upsample")) {
    e = up_resize(c, g, ni);
    c->changed++;
  } else if (!strcmp(op, "Scatter")) {
    e = sn_node_retype(n, "", "ScatterElements", 13, false);
    c->changed++;
  } else {
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED,
                     "upgrading the model to opset 13 (for QDQ per-axis quantization): %s is not converted "
                     "(use --per-tensor to keep the model's opset)",
                     sn_node_desc(n, buf, sizeof buf));
  }
  if (!e) g->nodes[ni].opset = 13;
  return e;
}

static sn_error *up_graph(up_ctx *c, sn_graph *g, const sn_graph *pg) {
  int n0 = g->n_nodes; /* nodes added by the conversions are already opset 13 */
  for (int i = 0; i < n0; i++) {
    sn_error *e = up_node(c, g, pg, i);
    if (e) return e;
  }
  if (g->n_nodes == n0) return NULL;
  sn_graph_update_producers(g);
  return sn_graph_toposort(g);
}

/* A copy of the model loaded from path with types inferred (for ranks and element types), or NULL. */
static sn_model *typed_probe(const char *path) {
  if (!path) return NULL;
  sn_model *p = NULL;
  sn_error *e = sn_onnx_load_file(path, &p);
  if (!e && p->graph) {
    sn_graph *g = p->graph;
    int w = 0;
    for (int k = 0; k < g->n_inputs; k++) {
      sn_value *v = &g->values[g->inputs[k]];
      if (v->data)
        v->role = SN_VAL_INITIALIZER;
      else
        g->inputs[w++] = g->inputs[k];
    }
    g->n_inputs = w;
    sn_infer_opts io = {true, sn_exec_fold, NULL, 1 << 16};
    e = sn_graph_resolve_and_infer(g, &io);
  }
  if (e) {
    sn_error_free(e);
    sn_model_free(p);
    return NULL;
  }
  return p;
}

sn_error *sn_quant_upgrade_opset13(sn_model *m, const char *typed_path, int *n_changed) {
  *n_changed = 0;
  int64_t v = sn_model_opset(m, "");
  if (v >= 13) return NULL;
  if (v < 10)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED,
                     "the model imports opset %lld; the upgrade to opset 13 handles opsets 10..12 (re-export the "
                     "model at opset 13, or use --per-tensor with opset 10 or newer)",
                     (long long)v);
  sn_model *probe = typed_probe(typed_path);
  up_ctx c = {m, 0};
  sn_error *e = up_graph(&c, m->graph, probe ? probe->graph : NULL);
  sn_model_free(probe);
  if (e) return e;
  for (int i = 0; i < m->n_opsets; i++) {
    const char *d = m->opsets[i].domain;
    if (!d || !*d || !strcmp(d, "ai.onnx")) m->opsets[i].version = 13;
  }
  if (m->ir_version < 7) m->ir_version = 7;
  *n_changed = c.changed;
  return NULL;
}
