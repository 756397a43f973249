/* Fused ops of the "sinter" domain, produced by the fusion passes (src/passes/fuse.c):
 *   FusedConv, FusedGemm, FusedMatMul: the base op (attributes as in ai.onnx, its opset in
 *   `base_opset`) followed by an epilogue on its float32 output, in this order:
 *     + bias      (input `n_base` when has_bias=1: a 1-D tensor over the last dimension)
 *     + residual  (the next input when has_residual=1: a tensor of the output's shape)
 *     activation  (`activation`: Relu, LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish, Clip, Gelu,
 *                  GeluTanh, SiLU, or "" for none; `alpha`/`beta` as the activation op's attributes)
 * The epilogue runs over the output right after the base kernel wrote it, while it is hot in cache.
 * Gelu and LayerNormalization are also registered here for models older than their opsets. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/vmath.h"
#include "ops/op.h"

typedef enum { ACT_NONE, ACT_RELU, ACT_LEAKY, ACT_SIGMOID, ACT_TANH, ACT_HSIGMOID, ACT_HSWISH, ACT_CLIP, ACT_GELU,
               ACT_GELU_TANH, ACT_SILU } act_kind;

static const struct {
  const char *name;
  act_kind k;
} acts[] = {{"", ACT_NONE},          {"Relu", ACT_RELU},       {"LeakyRelu", ACT_LEAKY}, {"Sigmoid", ACT_SIGMOID},
            {"Tanh", ACT_TANH},      {"HardSigmoid", ACT_HSIGMOID}, {"HardSwish", ACT_HSWISH}, {"Clip", ACT_CLIP},
            {"Gelu", ACT_GELU},      {"GeluTanh", ACT_GELU_TANH}, {"SiLU", ACT_SILU}};

typedef struct fused_params {
  const sn_op *base;
  void *base_params;
  int n_base; /* inputs of the base op */
  int opset;  /* of the base op in ai.onnx */
  bool has_bias, has_residual;
  act_kind act;
  float alpha, beta;
} fused_params;

static void fused_free(void *p) {
  fused_params *fp = p;
  if (!fp) return;
  if (fp->base && fp->base->free_params && fp->base_params) fp->base->free_params(fp->base_params);
  sn_free(fp);
}

static sn_error *fused_prepare_base(sn_graph *g, sn_node *n, const char *base_name, void **params) {
  fused_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  *params = p;
  int opset = (int)sn_attr_int(n, "base_opset", 13);
  p->opset = opset;
  SN_TRY(sn_op_lookup("", base_name, opset, &p->base));
  p->has_bias = sn_attr_int(n, "has_bias", 0) != 0;
  p->has_residual = sn_attr_int(n, "has_residual", 0) != 0;
  p->n_base = n->n_in - (p->has_bias ? 1 : 0) - (p->has_residual ? 1 : 0);
  if (p->n_base < 1)
    return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: %d inputs are too few for its bias/residual flags", n->op_type,
                     n->n_in);
  const char *a = sn_attr_str(n, "activation", "");
  size_t k = 0;
  while (k < sizeof acts / sizeof *acts && strcmp(acts[k].name, a)) k++;
  if (k == sizeof acts / sizeof *acts)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: unknown activation '%s'", n->op_type, a);
  p->act = acts[k].k;
  float da = p->act == ACT_LEAKY ? 0.01f : p->act == ACT_HSIGMOID ? 0.2f : p->act == ACT_CLIP ? -INFINITY : 0.f;
  float db = p->act == ACT_HSIGMOID ? 0.5f : p->act == ACT_CLIP ? INFINITY : 0.f;
  p->alpha = sn_attr_float(n, "alpha", da);
  p->beta = sn_attr_float(n, "beta", db);
  if (p->base->prepare) {
    /* the base op parses the attributes it knows; the extra inputs are hidden from it */
    int n_in = n->n_in, node_opset = n->opset;
    n->n_in = p->n_base;
    n->opset = opset;
    sn_error *e = p->base->prepare(g, n, &p->base_params);
    n->n_in = n_in;
    n->opset = node_opset;
    SN_TRY(e);
  }
  return NULL;
}

static sn_error *prep_conv(sn_graph *g, sn_node *n, void **p) { return fused_prepare_base(g, n, "Conv", p); }
static sn_error *prep_gemm(sn_graph *g, sn_node *n, void **p) { return fused_prepare_base(g, n, "Gemm", p); }
static sn_error *prep_matmul(sn_graph *g, sn_node *n, void **p) { return fused_prepare_base(g, n, "MatMul", p); }

static sn_error *fused_infer(sn_infer_ctx *c) {
  const fused_params *p = c->node->params;
  if (!p) return sn_infer_error(c, "not prepared");
  /* the base op sees a node with its own params and inputs */
  sn_node base = *c->node;
  base.params = p->base_params;
  base.n_in = p->n_base;
  base.opset = p->opset;
  sn_infer_ctx b = *c;
  b.node = &base;
  b.n_in = p->n_base;
  b.opset = p->opset;
  return p->base->infer(&b);
}

static inline float act_apply(const fused_params *p, float x) {
  switch (p->act) {
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_LEAKY: return x >= 0 ? x : p->alpha * x;
    case ACT_SIGMOID: return 1.f / (1.f + expf(-x));
    case ACT_TANH: return tanhf(x);
    case ACT_HSIGMOID: return fmaxf(0.f, fminf(1.f, p->alpha * x + p->beta));
    case ACT_HSWISH: return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
    case ACT_CLIP: return fminf(fmaxf(x, p->alpha), p->beta);
    case ACT_GELU: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case ACT_GELU_TANH: return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case ACT_SILU: return x / (1.f + expf(-x));
    default: return x;
  }
}

static sn_error *fused_run(sn_kernel_ctx *c) {
  const fused_params *p = c->params;
  sn_node base = *c->node;
  base.params = p->base_params;
  base.n_in = p->n_base;
  base.opset = p->opset;
  sn_kernel_ctx b = *c;
  b.node = &base;
  b.params = p->base_params;
  b.n_in = p->n_base;
  SN_TRY(p->base->run(&b));
  sn_tensor *y = sn_kernel_get_output(c, 0);
  if (!y) return sn_kernel_error(c, SINTER_ERR_RUNTIME, "base op produced no output");
  if (y->dtype != SINTER_FLOAT) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "fused epilogue on %s", sn_dtype_name(y->dtype));
  float *d = y->data;
  int64_t n = y->count;
  int at = p->n_base;
  if (p->has_bias) {
    const sn_tensor *bias = c->in[at++];
    int64_t cols = y->rank ? y->dims[y->rank - 1] : 1;
    if (!bias || bias->dtype != SINTER_FLOAT || bias->count != cols)
      return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "bias does not match the output's last dimension %lld",
                             (long long)cols);
    const float *bv = bias->data;
    for (int64_t i = 0; i < n; i += cols)
      for (int64_t j = 0; j < cols; j++) d[i + j] += bv[j];
  }
  if (p->has_residual) {
    const sn_tensor *r = c->in[at++];
    if (!r || r->dtype != SINTER_FLOAT || r->count != n)
      return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "residual does not match the output shape");
    const float *rv = r->data;
    for (int64_t i = 0; i < n; i++) d[i] += rv[i];
  }
  sn_vmath_fn vf = p->act == ACT_SIGMOID ? sn_vsigmoid : p->act == ACT_TANH ? sn_vtanh : p->act == ACT_GELU ? sn_vgelu
                   : p->act == ACT_GELU_TANH ? sn_vgelu_tanh : p->act == ACT_SILU ? sn_vsilu : NULL;
  if (vf)
    vf(d, d, n);
  else if (p->act != ACT_NONE)
    for (int64_t i = 0; i < n; i++) d[i] = act_apply(p, d[i]);
  return NULL;
}

/* Standard ops that fusions produce in models whose opset predates them (Gelu: 20, the fusion of
 * x*0.5*(1+erf(x/sqrt 2)); LayerNormalization: 17): the sinter-domain entry delegates to the
 * standard op at that opset. */
typedef struct alias_params {
  const sn_op *op;
  void *params;
  int opset;
} alias_params;

static void alias_free(void *p) {
  alias_params *a = p;
  if (a && a->op->free_params && a->params) a->op->free_params(a->params);
  sn_free(a);
}

static sn_error *alias_prepare(sn_graph *g, sn_node *n, int opset, void **params) {
  alias_params *a = sn_calloc(1, sizeof *a);
  if (!a) return SN_ERR_OOM();
  *params = a;
  a->opset = opset;
  SN_TRY(sn_op_lookup("", n->op_type, opset, &a->op));
  if (a->op->prepare) {
    int node_opset = n->opset;
    n->opset = opset;
    sn_error *e = a->op->prepare(g, n, &a->params);
    n->opset = node_opset;
    SN_TRY(e);
  }
  return NULL;
}
static sn_error *gelu_prepare(sn_graph *g, sn_node *n, void **params) { return alias_prepare(g, n, 20, params); }
static sn_error *ln_prepare(sn_graph *g, sn_node *n, void **params) { return alias_prepare(g, n, 17, params); }
static sn_error *alias_infer(sn_infer_ctx *c) {
  const alias_params *a = c->node->params;
  if (!a) return sn_infer_error(c, "not prepared");
  sn_node base = *c->node;
  base.params = a->params;
  base.opset = a->opset;
  sn_infer_ctx b = *c;
  b.node = &base;
  b.opset = a->opset;
  return a->op->infer(&b);
}
static sn_error *alias_run(sn_kernel_ctx *c) {
  const alias_params *a = c->params;
  sn_node base = *c->node;
  base.params = a->params;
  base.opset = a->opset;
  sn_kernel_ctx b = *c;
  b.node = &base;
  b.params = a->params;
  return a->op->run(&b);
}

const sn_op sn_ops_fused[] = {
    {"sinter", "FusedConv", 1, 0, fused_infer, fused_run, prep_conv, fused_free, 0},
    {"sinter", "FusedGemm", 1, 0, fused_infer, fused_run, prep_gemm, fused_free, 0},
    {"sinter", "FusedMatMul", 1, 0, fused_infer, fused_run, prep_matmul, fused_free, 0},
    {"sinter", "Gelu", 1, 0, alias_infer, alias_run, gelu_prepare, alias_free, 0},
    {"sinter", "LayerNormalization", 1, 0, alias_infer, alias_run, ln_prepare, alias_free, 0},
    {0},
};
