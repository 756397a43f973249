/* Batch splitting: the per-node proof that a batch's samples are independent (see batch_split.h). */
#include "plan/batch_split.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

enum { C_NONE = 0, C_CONST, C_META, C_BATCH };

/* How an op treats axis 0 of its inputs:
 *   EW     numpy broadcasting over every input (a constant input must not reach the output's axis 0:
 *          lower rank, or 1 there); batched inputs have the output's rank
 *   DATA   input 0 is the batched data, the others are parameters (constant; META where `meta`)
 *   AXIS   DATA, and the attribute `axis` (default `def`, normalized by input 0's rank) is not 0
 *   and ops with their own rule (special) */
typedef enum { R_EW, R_DATA, R_AXIS, R_SPECIAL } rule_kind;

typedef struct op_rule {
  const char *domain; /* NULL: any domain */
  const char *op;
  rule_kind kind;
  int def;            /* R_AXIS: default axis (opset-independent ones only) */
  unsigned meta;      /* bit i: input i may be META (it sets an output shape) */
  bool extra_out;     /* outputs past the first are per-sample too (else they must be unused) */
} op_rule;

static const op_rule rules[] = {
    /* elementwise, unary and binary, with broadcasting */
    {"", "Add", R_EW}, {"", "Sub", R_EW}, {"", "Mul", R_EW}, {"", "Div", R_EW}, {"", "Pow", R_EW},
    {"", "Max", R_EW}, {"", "Min", R_EW}, {"", "Sum", R_EW}, {"", "Mean", R_EW}, {"", "Where", R_EW},
    {"", "PRelu", R_EW}, {"", "Equal", R_EW}, {"", "Less", R_EW}, {"", "Greater", R_EW},
    {"", "LessOrEqual", R_EW}, {"", "GreaterOrEqual", R_EW}, {"", "And", R_EW}, {"", "Or", R_EW},
    {"", "Xor", R_EW}, {"", "Not", R_EW}, {"", "Mod", R_EW}, {"", "Relu", R_EW}, {"", "LeakyRelu", R_EW},
    {"", "Sigmoid", R_EW}, {"", "HardSigmoid", R_EW}, {"", "HardSwish", R_EW}, {"", "Tanh", R_EW},
    {"", "Exp", R_EW}, {"", "Log", R_EW}, {"", "Sqrt", R_EW}, {"", "Reciprocal", R_EW}, {"", "Abs", R_EW},
    {"", "Neg", R_EW}, {"", "Erf", R_EW}, {"", "Clip", R_EW}, {"", "Cast", R_EW}, {"", "Identity", R_EW},
    {"", "Elu", R_EW}, {"", "Selu", R_EW}, {"", "Celu", R_EW}, {"", "Softplus", R_EW}, {"", "Softsign", R_EW},
    {"", "Mish", R_EW}, {"", "Gelu", R_EW}, {"", "Floor", R_EW}, {"", "Ceil", R_EW}, {"", "Round", R_EW},
    {"", "Sign", R_EW}, {"", "Sin", R_EW}, {"", "Cos", R_EW}, {"", "IsNaN", R_EW}, {"", "IsInf", R_EW},
    {"", "ThresholdedRelu", R_EW},
    {"sinter", "Gelu", R_EW}, {"com.microsoft", "Gelu", R_EW}, {"com.microsoft", "FastGelu", R_EW},
    {"com.microsoft", "BiasGelu", R_EW}, {"sinter", "NchwcChannelMul", R_EW},
    {"sinter", "NchwcChannelAffine", R_EW}, {"com.microsoft", "QLinearAdd", R_EW},
    {"com.microsoft", "QLinearMul", R_EW}, {"com.microsoft", "QLinearSigmoid", R_EW},
    {"com.microsoft", "QLinearLeakyRelu", R_EW}, {"sinter", "QLinearLookup", R_DATA},
    /* normalizations over trailing axes; SkipLayerNormalization's inputs broadcast like Add's */
    {"com.microsoft", "SkipLayerNormalization", R_EW, 0, 0, true},
    {NULL, "LayerNormalization", R_AXIS, -1, 0, true},
    /* per-sample data ops: input 0 is the batch, the rest parameters */
    {"", "Conv", R_DATA}, {"", "ConvTranspose", R_DATA}, {"", "BatchNormalization", R_DATA},
    {"", "InstanceNormalization", R_DATA}, {"", "LRN", R_DATA}, {"", "MaxPool", R_DATA},
    {"", "AveragePool", R_DATA}, {"", "LpPool", R_DATA}, {"", "GlobalAveragePool", R_DATA},
    {"", "GlobalMaxPool", R_DATA}, {"", "GlobalLpPool", R_DATA}, {"", "DepthToSpace", R_DATA},
    {"", "SpaceToDepth", R_DATA}, {"", "Flatten", R_DATA}, {"", "Unsqueeze", R_DATA},
    {"", "Squeeze", R_DATA}, {"", "Resize", R_DATA, 0, 1u << 3}, {"", "Reshape", R_DATA, 0, 1u << 1},
    {"", "Expand", R_DATA, 0, 1u << 1}, {"", "Tile", R_DATA, 0, 1u << 1},
    {"", "ConstantOfShape", R_DATA, 0, 1u << 0},
    {"", "QLinearConv", R_DATA}, {"sinter", "QLinearConv", R_SPECIAL}, {"", "QLinearMatMul", R_DATA},
    {"sinter", "QLinearMatMul", R_DATA}, {"com.microsoft", "QLinearGlobalAveragePool", R_DATA},
    {"com.microsoft", "QLinearAveragePool", R_DATA},
    {"sinter", "ReorderInput", R_DATA}, {"sinter", "ReorderOutput", R_DATA},
    {"sinter", "NchwcMaxPool", R_DATA}, {"sinter", "NchwcAveragePool", R_DATA},
    {"sinter", "NchwcGlobalAveragePool", R_DATA},
    {"com.microsoft", "QLinearSoftmax", R_AXIS, -1},
    {"", "ArgMax", R_AXIS, 0}, {"", "ArgMin", R_AXIS, 0}, {"", "TopK", R_AXIS, -1, 0, true},
    /* the rest need a look at their attributes or input positions */
    {"", "Softmax", R_SPECIAL}, {"", "LogSoftmax", R_SPECIAL}, {"", "Hardmax", R_SPECIAL},
    {"", "Transpose", R_SPECIAL}, {"", "Concat", R_SPECIAL}, {"", "Split", R_SPECIAL, 0, 0, true},
    {"", "Slice", R_SPECIAL}, {"", "Pad", R_SPECIAL}, {"", "Einsum", R_SPECIAL}, {"", "Gather", R_SPECIAL},
    {"", "MatMul", R_SPECIAL}, {"", "Gemm", R_SPECIAL},
    {"", "QuantizeLinear", R_SPECIAL}, {"", "DequantizeLinear", R_SPECIAL},
    {"com.microsoft", "QuantizeLinear", R_SPECIAL}, {"com.microsoft", "DequantizeLinear", R_SPECIAL},
    {"", "ReduceMean", R_SPECIAL}, {"", "ReduceSum", R_SPECIAL}, {"", "ReduceMax", R_SPECIAL},
    {"", "ReduceMin", R_SPECIAL}, {"", "ReduceProd", R_SPECIAL}, {"", "ReduceL2", R_SPECIAL},
    {"", "ReduceL1", R_SPECIAL}, {"", "ReduceLogSum", R_SPECIAL}, {"", "ReduceLogSumExp", R_SPECIAL},
    {"", "ReduceSumSquare", R_SPECIAL}, {"", "CumSum", R_SPECIAL},
    {"sinter", "Attention", R_SPECIAL}, {"sinter", "FusedConv", R_SPECIAL},
    {"sinter", "FusedGemm", R_SPECIAL}, {"sinter", "FusedMatMul", R_SPECIAL},
    {"sinter", "NchwcConv", R_SPECIAL},
};

static const op_rule *find_rule(const sn_node *n) {
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
    if (!strcmp(rules[i].op, n->op_type) && (!rules[i].domain || !strcmp(rules[i].domain, n->domain)))
      return &rules[i];
  return NULL;
}

typedef struct ctx {
  const sn_graph *g;
  int64_t n;
  const sn_type *tn, *t1;
  const sn_tensor *const *k1;
  const uint8_t *cls;
} ctx;

static int cls_of(const ctx *c, const sn_node *nd, int slot) {
  return slot < nd->n_in && nd->in[slot] >= 0 ? c->cls[nd->in[slot]] : C_NONE;
}

/* [n * k, d...] at batch n and [k, d...] at batch 1 (k >= 1), every dim known: n slabs of the batch-1
 * value along axis 0 (k > 1: a sample's rows grouped, as attention's [batch * heads, ...] reshapes
 * make them) */
static bool batch_shaped(const ctx *c, int v) {
  const sn_type *a = &c->tn[v], *b = &c->t1[v];
  if (a->kind != SN_KIND_TENSOR || b->kind != SN_KIND_TENSOR || a->rank < 1 || a->rank != b->rank) return false;
  if (b->dims[0].v < 1 || a->dims[0].v != c->n * b->dims[0].v) return false;
  for (int d = 1; d < a->rank; d++)
    if (a->dims[d].v < 0 || a->dims[d].v != b->dims[d].v) return false;
  return true;
}

/* batch_shaped with one row a sample ([n, d...] and [1, d...]): the graph's inputs and outputs,
 * which the split run slices a sample at a time */
static bool sample_shaped(const ctx *c, int v) { return batch_shaped(c, v) && c->t1[v].dims[0].v == 1; }

/* an op that only reinterprets the shape, element order unchanged */
static bool reshape_op(const sn_node *nd) {
  const char *op = nd->op_type;
  return !strcmp(nd->domain, "") && (!strcmp(op, "Reshape") || !strcmp(op, "Flatten") || !strcmp(op, "Squeeze") ||
                                     !strcmp(op, "Unsqueeze"));
}

/* output o of nd keeps axis 0 of input i as it is, at both sizes */
static bool keeps_axis0(const ctx *c, const sn_node *nd, int i, int o) {
  int a = i < nd->n_in ? nd->in[i] : -1, b = o < nd->n_out ? nd->out[o] : -1;
  if (a < 0 || b < 0) return false;
  const sn_type *an = &c->tn[a], *bn = &c->tn[b], *a1 = &c->t1[a], *b1 = &c->t1[b];
  if (an->kind != SN_KIND_TENSOR || bn->kind != SN_KIND_TENSOR || a1->kind != SN_KIND_TENSOR ||
      b1->kind != SN_KIND_TENSOR || an->rank < 1 || bn->rank < 1 || a1->rank < 1 || b1->rank < 1)
    return false;
  return an->dims[0].v == bn->dims[0].v && a1->dims[0].v == b1->dims[0].v;
}

/* the value's rank at batch 1 (-1 unknown) */
static int rank_of(const ctx *c, int v) { return c->t1[v].kind == SN_KIND_TENSOR ? c->t1[v].rank : -1; }

/* an input in an elementwise position of an output of rank r */
static bool ew_ok(const ctx *c, const sn_node *nd, int slot, int r) {
  int k = cls_of(c, nd, slot);
  if (k == C_NONE) return true;
  if (k == C_META) return false;
  int v = nd->in[slot];
  int rk = rank_of(c, v);
  if (rk < 0) return false;
  if (k == C_BATCH) return rk == r;
  return rk < r || c->t1[v].dims[0].v == 1;
}

static int norm_axis(int64_t a, int rank) { return (int)(a < 0 ? a + rank : a); }

/* integer values of a constant input (known at batch 1); n <= cap */
static int const_ints(const ctx *c, const sn_node *nd, int slot, int64_t *out, int cap) {
  if (cls_of(c, nd, slot) != C_CONST) return -1;
  const sn_tensor *t = c->k1[nd->in[slot]];
  if (!t || t->kind != SN_KIND_TENSOR || t->count > cap) return -1;
  for (int64_t i = 0; i < t->count; i++) {
    if (t->dtype == SINTER_INT64) out[i] = ((const int64_t *)t->data)[i];
    else if (t->dtype == SINTER_INT32) out[i] = ((const int32_t *)t->data)[i];
    else return -1;
  }
  return (int)t->count;
}

/* the reduce ops' axes exclude 0 */
static bool reduce_ok(const ctx *c, const sn_node *nd, int r) {
  int64_t ax[SN_MAX_RANK];
  int na;
  const int64_t *attr = NULL;
  int nattr = sn_attr_ints(nd, "axes", &attr);
  if (nattr > 0) {
    for (int i = 0; i < nattr && i < SN_MAX_RANK; i++) ax[i] = attr[i];
    na = nattr;
  } else if (nd->n_in > 1 && nd->in[1] >= 0) {
    na = const_ints(c, nd, 1, ax, SN_MAX_RANK);
    if (na < 0) return false;
  } else {
    na = 0;
  }
  if (na == 0) return false; /* every axis (or none with noop_with_empty_axes: rare, refused) */
  for (int i = 0; i < na; i++)
    if (norm_axis(ax[i], r) == 0) return false;
  return true;
}

/* Einsum: every batched operand's subscripts start with one letter L that the output's start with
 * too and no constant operand has (so output row i sums over the operands' rows i alone); no
 * ellipsis, no letter repeated within a batched operand (a diagonal) */
static bool einsum_ok(const ctx *c, const sn_node *nd) {
  const char *eq = sn_attr_str(nd, "equation", "");
  const char *arrow = strstr(eq, "->");
  if (!arrow || strchr(eq, '.') || nd->n_in < 1 || nd->n_in > 8) return false;
  const char *tb[8], *te[8]; /* each operand's subscripts, spaces trimmed */
  int terms = 0;
  for (const char *p = eq;; p++) {
    const char *b = p;
    while (p < arrow && *p != ',') p++;
    if (terms == nd->n_in) return false;
    const char *e = p;
    while (b < e && *b == ' ') b++;
    while (e > b && e[-1] == ' ') e--;
    tb[terms] = b, te[terms++] = e;
    if (p == arrow) break;
  }
  if (terms != nd->n_in) return false;
  char L = 0;
  for (int k = 0; k < terms; k++) {
    int cls = cls_of(c, nd, k);
    if (cls == C_META) return false;
    if (cls != C_BATCH) continue;
    if (te[k] == tb[k] || (L && *tb[k] != L)) return false;
    L = *tb[k];
    for (const char *q = tb[k] + 1; q < te[k]; q++)
      if (*q == L) return false;
  }
  for (int k = 0; L && k < terms; k++)
    if (cls_of(c, nd, k) == C_CONST && memchr(tb[k], L, (size_t)(te[k] - tb[k]))) return false;
  const char *o = arrow + 2;
  while (*o == ' ') o++;
  return L && *o == L;
}

/* MatMul on inputs a (slot sa) and b (slot sb) with an output of rank r */
static bool matmul_ok(const ctx *c, const sn_node *nd, int sa, int sb, int r) {
  int ka = cls_of(c, nd, sa), kb = cls_of(c, nd, sb);
  if (ka == C_META || kb == C_META) return false;
  if (r == 2) return ka == C_BATCH && kb == C_CONST; /* rows of A are samples */
  if (r < 3) return false;
  return ew_ok(c, nd, sa, r) && ew_ok(c, nd, sb, r); /* the leading dims broadcast like an Add's */
}

/* the ops with their own rule; r is output 0's rank, r0 input 0's */
static bool special_ok(const ctx *c, const sn_node *nd, int r) {
  const char *op = nd->op_type;
  int r0 = nd->n_in > 0 && nd->in[0] >= 0 ? rank_of(c, nd->in[0]) : -1;
  if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Hardmax")) {
    int64_t def = !strcmp(nd->domain, "") && nd->opset < 13 ? 1 : -1;
    return cls_of(c, nd, 0) == C_BATCH && r0 >= 1 && norm_axis(sn_attr_int(nd, "axis", def), r0) != 0;
  }
  if (!strcmp(op, "Transpose")) {
    const int64_t *perm = NULL;
    int np = sn_attr_ints(nd, "perm", &perm);
    return cls_of(c, nd, 0) == C_BATCH && (np > 0 ? perm[0] == 0 : r0 == 1);
  }
  if (!strcmp(op, "Concat")) {
    for (int i = 0; i < nd->n_in; i++)
      if (cls_of(c, nd, i) != C_BATCH) return false;
    return norm_axis(sn_attr_int(nd, "axis", 0), r) != 0;
  }
  if (!strcmp(op, "Split")) {
    if (cls_of(c, nd, 0) != C_BATCH || norm_axis(sn_attr_int(nd, "axis", 0), r0) == 0) return false;
    return cls_of(c, nd, 1) == C_NONE || cls_of(c, nd, 1) == C_CONST;
  }
  if (!strcmp(op, "Slice")) {
    if (cls_of(c, nd, 0) != C_BATCH) return false;
    int64_t axes[SN_MAX_RANK], steps[SN_MAX_RANK];
    int na, ns = 0;
    if (nd->opset < 10) {
      const int64_t *a = NULL, *st = NULL;
      na = sn_attr_ints(nd, "axes", &a);
      int nst = sn_attr_ints(nd, "starts", &st);
      if (na <= 0) {
        na = nst;
        for (int i = 0; i < na && i < SN_MAX_RANK; i++) axes[i] = i;
      } else {
        for (int i = 0; i < na && i < SN_MAX_RANK; i++) axes[i] = a[i];
      }
    } else {
      for (int s = 1; s <= 4; s++) /* starts, ends, axes, steps: constants only */
        if (cls_of(c, nd, s) != C_NONE && cls_of(c, nd, s) != C_CONST) return false;
      int64_t st[SN_MAX_RANK];
      na = const_ints(c, nd, 1, st, SN_MAX_RANK);
      if (na < 0) return false;
      if (cls_of(c, nd, 3) == C_CONST) {
        if (const_ints(c, nd, 3, axes, SN_MAX_RANK) != na) return false;
      } else {
        for (int i = 0; i < na; i++) axes[i] = i;
      }
      if (cls_of(c, nd, 4) == C_CONST && (ns = const_ints(c, nd, 4, steps, SN_MAX_RANK)) != na) return false;
    }
    if (na > SN_MAX_RANK) return false;
    /* a slice of axis 0 is allowed only as the whole of it, forwards (the shape check sees the rest) */
    for (int i = 0; i < na; i++)
      if (norm_axis(axes[i], r0) == 0 && ns > 0 && steps[i] != 1) return false;
    return true;
  }
  if (!strcmp(op, "Pad")) { /* constant pads and value; axis 0 padded by nothing */
    if (cls_of(c, nd, 0) != C_BATCH || r0 < 1) return false;
    int64_t pads[2 * SN_MAX_RANK], axes[SN_MAX_RANK];
    int np, na;
    if (nd->opset < 11) {
      const int64_t *a = NULL;
      np = sn_attr_ints(nd, "pads", &a);
      if (np <= 0 || np > 2 * SN_MAX_RANK) return false;
      memcpy(pads, a, sizeof(int64_t) * (size_t)np);
    } else {
      for (int s = 1; s < nd->n_in; s++) /* pads, constant_value, axes */
        if (cls_of(c, nd, s) != C_NONE && cls_of(c, nd, s) != C_CONST) return false;
      np = const_ints(c, nd, 1, pads, 2 * SN_MAX_RANK);
    }
    if (np < 0 || np % 2) return false;
    if (cls_of(c, nd, 3) == C_CONST) {
      if ((na = const_ints(c, nd, 3, axes, SN_MAX_RANK)) != np / 2) return false;
    } else {
      na = np / 2;
      for (int i = 0; i < na; i++) axes[i] = i;
    }
    for (int i = 0; i < na; i++)
      if (norm_axis(axes[i], r0) == 0 && (pads[i] != 0 || pads[na + i] != 0)) return false;
    return true;
  }
  if (!strcmp(op, "Gather")) {
    int kd = cls_of(c, nd, 0), ki = cls_of(c, nd, 1);
    int a = norm_axis(sn_attr_int(nd, "axis", 0), r0);
    if (kd == C_BATCH && ki == C_CONST) return a != 0;
    if (kd == C_CONST && ki == C_BATCH) return a == 0;
    return false;
  }
  if (!strcmp(op, "MatMul")) return matmul_ok(c, nd, 0, 1, r);
  if (!strcmp(op, "Gemm"))
    return sn_attr_int(nd, "transA", 0) == 0 && cls_of(c, nd, 0) == C_BATCH && cls_of(c, nd, 1) == C_CONST &&
           ew_ok(c, nd, 2, r);
  if (!strcmp(op, "QuantizeLinear") || !strcmp(op, "DequantizeLinear")) {
    if (cls_of(c, nd, 0) != C_BATCH) return false;
    for (int s = 1; s < nd->n_in; s++) {
      int k = cls_of(c, nd, s);
      if (k == C_NONE) continue;
      if (k != C_CONST) return false;
      int rs = rank_of(c, nd->in[s]);
      if (rs > 1) return false; /* blocked quantization */
      if (rs == 1 && c->t1[nd->in[s]].dims[0].v != 1 && norm_axis(sn_attr_int(nd, "axis", 1), r0) == 0)
        return false; /* per-channel along the batch */
    }
    return true;
  }
  if (!strncmp(op, "Reduce", 6)) return cls_of(c, nd, 0) == C_BATCH && reduce_ok(c, nd, r0);
  if (!strcmp(op, "Einsum")) return einsum_ok(c, nd);
  if (!strcmp(op, "CumSum")) { /* along a constant axis other than 0 */
    int64_t ax;
    return cls_of(c, nd, 0) == C_BATCH && r0 >= 1 && const_ints(c, nd, 1, &ax, 1) == 1 && norm_axis(ax, r0) != 0;
  }
  if (!strcmp(op, "Attention")) { /* sinter's: Q, K, V batched ([B,S,H]), the mask broadcast to [B,h,Sq,Sk] */
    if (cls_of(c, nd, 0) != C_BATCH) return false;
    for (int s = 1; s <= 2; s++)
      if (cls_of(c, nd, s) != C_NONE && (cls_of(c, nd, s) != C_BATCH || !keeps_axis0(c, nd, s, 0))) return false;
    for (int s = 3; s < nd->n_in; s++) {
      if (!ew_ok(c, nd, s, 4)) return false;
      /* (the kernel broadcasts the mask itself: a batched one has Q's rows) */
      if (cls_of(c, nd, s) == C_BATCH && !keeps_axis0(c, nd, s, 0)) return false;
    }
    return true;
  }
  if (!strcmp(op, "QLinearConv")) { /* sinter's: X, scales, W, bias, then a residual operand (like Y) */
    if (cls_of(c, nd, 0) != C_BATCH || cls_of(c, nd, 3) != C_CONST) return false;
    for (int s = 1; s < nd->n_in; s++)
      if (s != 3 && !ew_ok(c, nd, s, r)) return false;
    return true;
  }
  /* fused ops: the base op's two inputs, then bias and residual, which broadcast onto the output */
  if (!strcmp(op, "FusedMatMul")) {
    if (!matmul_ok(c, nd, 0, 1, r)) return false;
  } else if (!strcmp(op, "FusedGemm")) {
    if (sn_attr_int(nd, "transA", 0) != 0 || cls_of(c, nd, 0) != C_BATCH || cls_of(c, nd, 1) != C_CONST)
      return false;
  } else if (!strcmp(op, "FusedConv") || !strcmp(op, "NchwcConv")) {
    if (cls_of(c, nd, 0) != C_BATCH || cls_of(c, nd, 1) != C_CONST) return false;
  } else {
    return false;
  }
  for (int s = 2; s < nd->n_in; s++)
    if (!ew_ok(c, nd, s, r)) return false;
  return true;
}

static bool same_tensor(const sn_tensor *a, const sn_tensor *b) {
  if (a->kind != SN_KIND_TENSOR || b->kind != SN_KIND_TENSOR || a->dtype != b->dtype || a->rank != b->rank)
    return false;
  if (a->rank && memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank)) return false;
  if (a->dtype == SINTER_STRING) return false;
  return a->nbytes == b->nbytes && (!a->nbytes || !memcmp(a->data, b->data, a->nbytes));
}

/* every sample of a (batch n, folded) is b (the batch-1 value): a constant repeated over the batch */
static bool repeated(const sn_tensor *a, const sn_tensor *b) {
  if (a->kind != SN_KIND_TENSOR || b->kind != SN_KIND_TENSOR || a->dtype != b->dtype || a->dtype == SINTER_STRING ||
      !b->nbytes || a->nbytes % b->nbytes)
    return false;
  for (size_t off = 0; off < a->nbytes; off += b->nbytes)
    if (memcmp((const uint8_t *)a->data + off, b->data, b->nbytes)) return false;
  return true;
}

static double type_bytes(const sn_type *t) {
  if (t->kind != SN_KIND_TENSOR || t->rank < 0 || !t->dtype || t->dtype == SINTER_STRING) return 0;
  double b = (double)sn_dtype_size(t->dtype);
  for (int d = 0; d < t->rank; d++) b *= t->dims[d].v > 0 ? (double)t->dims[d].v : 0;
  return b;
}

static void refuse(sn_split_check *out, const char *why, int node) {
  out->ok = false;
  out->why = why;
  out->node = node;
}

void sn_batch_split_check(const sn_graph *g, const bool *fed, int64_t n, const sn_type *types_n,
                          const sn_tensor *const *known_n, const sn_type *types_1, const sn_tensor *const *known_1,
                          sn_split_check *out) {
  memset(out, 0, sizeof *out);
  out->node = -1;
  int nv = g->n_values;
  uint8_t *cls = sn_calloc((size_t)(nv ? nv : 1), 1);
  int *uses = sn_calloc((size_t)(nv ? nv : 1), sizeof(int));
  uint8_t *counted = sn_calloc((size_t)(nv ? nv : 1), 1);
  if (!cls || !uses || !counted) {
    refuse(out, "out of memory", -1);
    goto done;
  }
  ctx c = {g, n, types_n, types_1, known_1, cls};
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_in; k++)
      if (g->nodes[i].in[k] >= 0) uses[g->nodes[i].in[k]]++;
  for (int v = 0; v < nv; v++) {
    const sn_value *val = &g->values[v];
    if (val->role == SN_VAL_INITIALIZER) cls[v] = C_CONST;
    else if (val->role == SN_VAL_INPUT) cls[v] = fed[v] ? C_BATCH : C_CONST;
    else if (val->role == SN_VAL_CAPTURE) cls[v] = C_NONE;
    if (val->is_output) uses[v]++;
  }
  for (int v = 0; v < nv; v++)
    if (cls[v] == C_BATCH && !sample_shaped(&c, v)) {
      refuse(out, "an input is not batched along axis 0", -1);
      goto done;
    }
  for (int i = 0; i < g->n_nodes; i++) {
    const sn_node *nd = &g->nodes[i];
    if (nd->n_captures > 0) {
      refuse(out, "a node with subgraphs", i);
      goto done;
    }
    /* folded at both sizes: the same data is a constant, different data is shape arithmetic */
    bool all_known = nd->n_out > 0;
    for (int o = 0; o < nd->n_out; o++)
      if (nd->out[o] >= 0 && (!known_n[nd->out[o]] || !known_1[nd->out[o]])) all_known = false;
    if (all_known) {
      for (int o = 0; o < nd->n_out; o++) {
        int v = nd->out[o];
        if (v < 0) continue;
        cls[v] = same_tensor(known_n[v], known_1[v]) ? C_CONST
                 : batch_shaped(&c, v) && repeated(known_n[v], known_1[v]) ? C_BATCH
                                                                            : C_META;
      }
      continue;
    }
    bool any_batch = false, any_meta = false, all_const = true;
    for (int k = 0; k < nd->n_in; k++) {
      int kk = cls_of(&c, nd, k);
      if (kk == C_BATCH) any_batch = true;
      if (kk == C_META) any_meta = true;
      if (kk != C_CONST && kk != C_NONE) all_const = false;
    }
    if (all_const) { /* computed from constants alone (not folded: too large) */
      for (int o = 0; o < nd->n_out; o++)
        if (nd->out[o] >= 0) cls[nd->out[o]] = C_CONST;
      continue;
    }
    const op_rule *rule = find_rule(nd);
    if (!rule) {
      refuse(out, "an op not known to keep samples apart", i);
      goto done;
    }
    for (int k = 0; k < nd->n_in; k++)
      if (cls_of(&c, nd, k) == C_META && !(rule->meta >> k & 1)) {
        refuse(out, "a batch-size-dependent value used as data", i);
        goto done;
      }
    int r = nd->out[0] >= 0 ? rank_of(&c, nd->out[0]) : -1;
    if (r < 0 && nd->n_out > 0 && nd->out[0] >= 0) {
      refuse(out, "an output of unknown rank", i);
      goto done;
    }
    if (!any_batch) {
      /* a shape-setting op on constant data and a META shape: the data repeated over the batch
       * (its output is checked below), else a constant of the same shape at both sizes */
      if (!any_meta || rule->kind != R_DATA || !rule->meta) {
        refuse(out, "a batch-size-dependent value used as data", i);
        goto done;
      }
      int v = nd->out[0];
      bool same = types_n[v].rank == types_1[v].rank;
      for (int d = 0; same && d < types_n[v].rank; d++) same = types_n[v].dims[d].v == types_1[v].dims[d].v;
      if (same) {
        cls[v] = C_CONST;
        continue;
      }
      bool data_ok = !strcmp(nd->op_type, "ConstantOfShape") || ew_ok(&c, nd, 0, r);
      if (!data_ok || nd->n_out != 1) {
        refuse(out, "a constant broadcast across the batch", i);
        goto done;
      }
      cls[v] = C_BATCH;
      if (!batch_shaped(&c, v)) {
        refuse(out, "an output not batched along axis 0", i);
        goto done;
      }
      continue;
    }
    bool ok = true;
    switch (rule->kind) {
    case R_EW:
      for (int k = 0; ok && k < nd->n_in; k++) ok = ew_ok(&c, nd, k, r);
      if (ok && !strcmp(nd->op_type, "SkipLayerNormalization")) ok = r >= 2;
      break;
    case R_AXIS:
      if (rank_of(&c, nd->in[0]) < 1 ||
          norm_axis(sn_attr_int(nd, "axis", rule->def), rank_of(&c, nd->in[0])) == 0) ok = false;
      /* fall through */
    case R_DATA:
      ok = ok && cls_of(&c, nd, 0) == C_BATCH;
      /* statistics over the batch; an output shape read from data; interpolation across samples */
      if (!strcmp(nd->op_type, "BatchNormalization") && sn_attr_int(nd, "training_mode", 0)) ok = false;
      if (!strcmp(nd->op_type, "ConstantOfShape")) ok = false;
      if (!strcmp(nd->op_type, "Resize") &&
          !strcmp(sn_attr_str(nd, "coordinate_transformation_mode", ""), "tf_crop_and_resize"))
        ok = false;
      for (int k = 1; ok && k < nd->n_in; k++) {
        int kk = cls_of(&c, nd, k);
        ok = kk == C_NONE || kk == C_CONST || kk == C_META;
      }
      /* a per-image op keeps axis 0 as it is: no Tile or Resize along it, whose output the shape
       * check alone would take for slabs ([x; x] is not [x0; x0; x1; x1]); the reshapes may regroup
       * it, since they keep every element where it was (each sample's in its slab) */
      if (ok && !reshape_op(nd) && !keeps_axis0(&c, nd, 0, 0)) ok = false;
      break;
    case R_SPECIAL:
      ok = special_ok(&c, nd, r);
      break;
    }
    if (ok && rule->kind != R_DATA && rule->kind != R_AXIS) { /* (those checked their input 0 above) */
      /* axis 0 of the output is that of a batched input (a safety net under the rules above) */
      bool kept = false;
      for (int k = 0; !kept && k < nd->n_in; k++) kept = cls_of(&c, nd, k) == C_BATCH && keeps_axis0(&c, nd, k, 0);
      ok = kept;
    }
    if (!ok) {
      refuse(out, "an op whose attributes or inputs mix samples", i);
      goto done;
    }
    /* the weights a batched node reads (an embedding table only in the rows it gathers: not counted) */
    bool table = !strcmp(nd->op_type, "Gather") && cls_of(&c, nd, 0) == C_CONST;
    for (int k = table ? 1 : 0; k < nd->n_in; k++)
      if (cls_of(&c, nd, k) == C_CONST && g->values[nd->in[k]].role == SN_VAL_INITIALIZER && !counted[nd->in[k]]) {
        counted[nd->in[k]] = 1;
        out->weight_bytes += type_bytes(&g->values[nd->in[k]].type);
      }
    for (int o = 0; o < nd->n_out; o++) {
      int v = nd->out[o];
      if (v < 0) continue;
      if (o > 0 && !rule->extra_out) {
        if (uses[v]) {
          refuse(out, "a second output that may mix samples is used", i);
          goto done;
        }
        continue;
      }
      cls[v] = C_BATCH;
      if (!batch_shaped(&c, v)) {
        refuse(out, "an output not batched along axis 0", i);
        goto done;
      }
      out->act_bytes += type_bytes(&types_1[v]);
    }
  }
  for (int k = 0; k < g->n_outputs; k++)
    if (cls[g->outputs[k]] != C_BATCH || !sample_shaped(&c, g->outputs[k])) {
      refuse(out, "a graph output that is not per sample", -1);
      goto done;
    }
  out->ok = true;
done:
  sn_free(cls);
  sn_free(uses);
  sn_free(counted);
}
