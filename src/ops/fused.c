/* Fused ops of the "sinter" domain, produced by the fusion passes (src/passes/fuse.c):
 *   FusedConv, FusedGemm, FusedMatMul, and FusedDynamicQuantizeMatMul, FusedMatMulIntegerToFloat,
 *   FusedQLinearMatMul (the QDQ pass's integer product with a float output):
 *   the base op (attributes as in ai.onnx or com.microsoft, its opset in `base_opset`) followed by
 *   an epilogue on its float32 output, in this order:
 *     + bias      (input `n_base` when has_bias=1: a 1-D tensor over the last dimension)
 *     + residual  (the next input when has_residual=1: a tensor of the output's shape)
 *     activation  (`activation`: Relu, LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish, Clip, Gelu,
 *                  GeluTanh, SiLU, or "" for none; `act_alpha`/`act_beta` as the activation op's
 *                  alpha/beta, named apart from the base op's own attributes: Gemm's alpha/beta)
 * The epilogue runs over the output right after the base kernel wrote it, while it is hot in cache.
 * Gelu and LayerNormalization are also registered here for models older than their opsets. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/vmath.h"
#include "ops/fused.h"
#include "ops/op.h"
#include "runtime/threadpool.h"

typedef sn_act_kind act_kind;
#define ACT_NONE SN_ACT_NONE
#define ACT_RELU SN_ACT_RELU
#define ACT_LEAKY SN_ACT_LEAKY
#define ACT_SIGMOID SN_ACT_SIGMOID
#define ACT_TANH SN_ACT_TANH
#define ACT_HSIGMOID SN_ACT_HSIGMOID
#define ACT_HSWISH SN_ACT_HSWISH
#define ACT_CLIP SN_ACT_CLIP
#define ACT_GELU SN_ACT_GELU
#define ACT_GELU_TANH SN_ACT_GELU_TANH
#define ACT_SILU SN_ACT_SILU

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

static sn_error *fused_prepare_base(sn_graph *g, sn_node *n, const char *domain, const char *base_name,
                                   void **params) {
  fused_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  *params = p;
  int opset = (int)sn_attr_int(n, "base_opset", *domain ? 1 : 13);
  p->opset = opset;
  SN_TRY(sn_op_lookup(domain, base_name, opset, &p->base));
  p->has_bias = sn_attr_int(n, "has_bias", 0) != 0;
  p->has_residual = sn_attr_int(n, "has_residual", 0) != 0;
  p->n_base = n->n_in - (p->has_bias ? 1 : 0) - (p->has_residual ? 1 : 0);
  if (p->n_base < 1)
    return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: %d inputs are too few for its bias/residual flags", n->op_type,
                     n->n_in);
  const char *a = sn_attr_str(n, "activation", "");
  float da, db;
  int k = sn_act_lookup(a, &da, &db);
  if (k < 0) return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: unknown activation '%s'", n->op_type, a);
  p->act = (act_kind)k;
  p->alpha = sn_attr_float(n, "act_alpha", da);
  p->beta = sn_attr_float(n, "act_beta", db);
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

static sn_error *prep_conv(sn_graph *g, sn_node *n, void **p) { return fused_prepare_base(g, n, "", "Conv", p); }
static sn_error *prep_gemm(sn_graph *g, sn_node *n, void **p) { return fused_prepare_base(g, n, "", "Gemm", p); }
static sn_error *prep_matmul(sn_graph *g, sn_node *n, void **p) { return fused_prepare_base(g, n, "", "MatMul", p); }
static sn_error *prep_dqmm(sn_graph *g, sn_node *n, void **p) {
  return fused_prepare_base(g, n, "com.microsoft", "DynamicQuantizeMatMul", p);
}
static sn_error *prep_qlmm(sn_graph *g, sn_node *n, void **p) {
  return fused_prepare_base(g, n, "sinter", "QLinearMatMul", p);
}
static sn_error *prep_mmitf(sn_graph *g, sn_node *n, void **p) {
  return fused_prepare_base(g, n, "com.microsoft", "MatMulIntegerToFloat", p);
}

/* the base op packs its weight into its own params (the weight input keeps its index) */
static sn_error *fused_prepack(sn_graph *g, sn_node *n, void *params, bool take) {
  fused_params *p = params;
  if (!p || !p->base->prepack) return NULL;
  /* the extra inputs (bias, residual) are hidden from the base op */
  int n_in = n->n_in;
  n->n_in = p->n_base;
  sn_error *e = p->base->prepack(g, n, p->base_params, take);
  n->n_in = n_in;
  return e;
}

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

/* sn_vmath's activation codes follow sn_act_kind */
_Static_assert(SN_VACT_NONE == (int)SN_ACT_NONE && SN_VACT_RELU == (int)SN_ACT_RELU &&
                   SN_VACT_LEAKY == (int)SN_ACT_LEAKY && SN_VACT_SIGMOID == (int)SN_ACT_SIGMOID &&
                   SN_VACT_TANH == (int)SN_ACT_TANH && SN_VACT_HSIGMOID == (int)SN_ACT_HSIGMOID &&
                   SN_VACT_HSWISH == (int)SN_ACT_HSWISH && SN_VACT_CLIP == (int)SN_ACT_CLIP &&
                   SN_VACT_GELU == (int)SN_ACT_GELU && SN_VACT_GELU_TANH == (int)SN_ACT_GELU_TANH &&
                   SN_VACT_SILU == (int)SN_ACT_SILU,
               "sn_act_kind and SN_VACT_* differ");

/* the a and b that sn_vbias_act takes for activation k from its attributes (HardSwish: fixed) */
static void act_params(sn_act_kind k, float *a, float *b) {
  if (k == SN_ACT_HSWISH) *a = 1.0f / 6.0f, *b = 0.5f;
  if (k == SN_ACT_LEAKY) *b = 0.0f;
}

typedef struct epi_job {
  const fused_params *p;
  float *d;
  const float *bias; /* [cols], or NULL */
  int64_t cols;
  const float *res; /* like d, or NULL */
  int64_t n, chunk;
} epi_job;

/* The epilogue over elements [b, e): bias, residual and activation in one vector pass per run of
 * columns (sn_vbias_act). */
static void epi_span(const epi_job *j, int64_t b, int64_t e) {
  const fused_params *p = j->p;
  float a = p->alpha, bt = p->beta;
  act_params(p->act, &a, &bt);
  if (!j->bias) {
    sn_vbias_act((int)p->act, a, bt, NULL, j->res ? j->res + b : NULL, j->d + b, e - b);
    return;
  }
  int64_t col = b % j->cols;
  for (int64_t i = b; i < e;) {
    int64_t run = j->cols - col < e - i ? j->cols - col : e - i;
    sn_vbias_act((int)p->act, a, bt, j->bias + col, j->res ? j->res + i : NULL, j->d + i, run);
    i += run;
    col = 0;
  }
}

int sn_act_lookup(const char *name, float *alpha, float *beta) {
  size_t k = 0;
  while (k < sizeof acts / sizeof *acts && strcmp(acts[k].name, name)) k++;
  if (k == sizeof acts / sizeof *acts) return -1;
  act_kind a = acts[k].k;
  *alpha = a == ACT_LEAKY ? 0.01f : a == ACT_HSIGMOID ? 0.2f : a == ACT_CLIP ? -INFINITY : 0.f;
  *beta = a == ACT_HSIGMOID ? 0.5f : a == ACT_CLIP ? INFINITY : 0.f;
  return (int)a;
}

void sn_act_apply(sn_act_kind k, float a, float bt, float *d, int64_t n) {
  act_params(k, &a, &bt);
  sn_vbias_act((int)k, a, bt, NULL, NULL, d, n);
}

static void epi_range(void *arg, int64_t cb, int64_t ce) {
  const epi_job *j = arg;
  int64_t b = cb * j->chunk, e = ce * j->chunk < j->n ? ce * j->chunk : j->n;
  if (b < e) epi_span(j, b, e);
}

/* The epilogue as the base kernel applies it tile by tile (sn_epilogue): checks the output it
 * finds against the bias and residual first (a mismatch is left to fused_run, which reports it). */
typedef struct tile_epi {
  sn_kernel_ctx *c;
  const fused_params *p;
  const sn_tensor *bias, *res;
} tile_epi;

static void epi_tile(void *arg, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const tile_epi *t = arg;
  const sn_tensor *y = sn_kernel_get_output(t->c, 0);
  if (!y || y->dtype != SINTER_FLOAT || y->rank < 1) return;
  int64_t cols = y->dims[y->rank - 1];
  if (cols < 1 || c1 > cols || r1 * cols > y->count) return;
  if (t->bias && (t->bias->dtype != SINTER_FLOAT || t->bias->count != cols)) return;
  if (t->res && (t->res->dtype != SINTER_FLOAT || t->res->count != y->count)) return;
  epi_job j = {t->p, y->data, t->bias ? t->bias->data : NULL, cols, t->res ? t->res->data : NULL, y->count, 0};
  for (int64_t r = r0; r < r1; r++) epi_span(&j, r * cols + c0, r * cols + c1);
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
  /* MatMul, Gemm and the INT8 matrix products apply the epilogue to each tile of their output as
   * they finish it */
  int at0 = p->n_base;
  tile_epi te = {c, p, p->has_bias && at0 < c->n_in ? c->in[at0] : NULL, NULL};
  if (p->has_residual && at0 + p->has_bias < c->n_in) te.res = c->in[at0 + p->has_bias];
  sn_epilogue epi = {epi_tile, &te, false};
  if (te.bias || te.res || p->act != ACT_NONE) b.epi = &epi;
  SN_TRY(p->base->run(&b));
  sn_tensor *y = sn_kernel_get_output(c, 0);
  if (!y) return sn_kernel_error(c, SINTER_ERR_RUNTIME, "base op produced no output");
  if (y->dtype != SINTER_FLOAT) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "fused epilogue on %s", sn_dtype_name(y->dtype));
  float *d = y->data;
  int64_t n = y->count;
  int at = p->n_base;
  epi_job j = {p, d, NULL, 1, NULL, n, n};
  if (p->has_bias) {
    const sn_tensor *bias = c->in[at++];
    j.cols = y->rank ? y->dims[y->rank - 1] : 1;
    if (!bias || bias->dtype != SINTER_FLOAT || bias->count != j.cols || j.cols < 1)
      return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "bias does not match the output's last dimension %lld",
                             (long long)j.cols);
    j.bias = bias->data;
  }
  if (p->has_residual) {
    const sn_tensor *r = c->in[at++];
    if (!r || r->dtype != SINTER_FLOAT || r->count != n)
      return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "residual does not match the output shape");
    j.res = r->data;
  }
  if ((!j.bias && !j.res && p->act == ACT_NONE) || epi.done) return NULL;
  /* chunks of at least 16K elements, spread over the pool */
  int64_t chunks = n / 16384 + 1;
  sn_threadpool *tp = sn_kernel_pool(c);
  if (chunks > sn_threadpool_size(tp)) chunks = sn_threadpool_size(tp);
  j.chunk = (n + chunks - 1) / chunks;
  sn_parallel_for(tp, chunks, epi_range, &j);
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
    {"sinter", "FusedConv", 1, 0, fused_infer, fused_run, prep_conv, fused_free, 0, fused_prepack},
    {"sinter", "FusedGemm", 1, 0, fused_infer, fused_run, prep_gemm, fused_free, 0, fused_prepack},
    {"sinter", "FusedMatMul", 1, 0, fused_infer, fused_run, prep_matmul, fused_free, 0, fused_prepack},
    {"sinter", "FusedDynamicQuantizeMatMul", 1, 0, fused_infer, fused_run, prep_dqmm, fused_free, 0, fused_prepack},
    {"sinter", "FusedMatMulIntegerToFloat", 1, 0, fused_infer, fused_run, prep_mmitf, fused_free, 0, fused_prepack},
    {"sinter", "FusedQLinearMatMul", 1, 0, fused_infer, fused_run, prep_qlmm, fused_free, 0, fused_prepack},
    {"sinter", "Gelu", 1, 0, alias_infer, alias_run, gelu_prepare, alias_free, 0},
    {"sinter", "LayerNormalization", 1, 0, alias_infer, alias_run, ln_prepare, alias_free, 0},
    {0},
};
