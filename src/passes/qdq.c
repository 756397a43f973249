/* Level 2: QDQ fusion. A float Conv / MatMul / Gemm whose activation comes through
 * DequantizeLinear (per-tensor) and whose weight is a constant 8-bit tensor through
 * DequantizeLinear (per tensor or per output channel) becomes one integer op, sinter:QLinearConv or
 * sinter:QLinearMatMul (ops/conv.c, ops/matmul.c), that runs on the INT8 GEMM:
 *   DQ(x), DQ(w) [, bias or DQ(bias)] -> Conv/MatMul/Gemm [-> Add bias] [-> Relu or Clip with constant
 *     bounds] -> QuantizeLinear
 *     => integer op with a u8/s8 output (requantized in the GEMM epilogue, Relu / Clip as clamps: a
 *     quantization is monotone, so clamping its codes to those of the bounds is exact);
 *   the same without the final QuantizeLinear => integer op with a float output (dequantized in the
 *     epilogue, float bias and Relu applied there).
 * A float bias becomes int32 in units of x_scale * w_scale (as ONNX Runtime's quantizer makes it)
 * for a quantized output, and stays float for a float output. Also:
 *   DQ(a), DQ(b) -> Add -> QuantizeLinear  =>  com.microsoft:QLinearAdd (ops/qlinear_ms.c), and Mul the same
 *     way => com.microsoft:QLinearMul;
 *   DQ(a) -> Sigmoid -> QuantizeLinear, and the SiLU of QDQ models, DQ(a) -> Sigmoid -> Q -> DQ ->
 *     Mul(DQ(a), .) -> QuantizeLinear  =>  sinter:QLinearLookup(a, table) (ops/qlinear_ms.c): a
 *     function of one 8-bit value is a 256-entry table, computed here with the same float32 kernels the
 *     unfused nodes run (dequantize, sigmoid, multiply, quantize), so the result is unchanged;
 *   DynamicQuantizeLinear(x) -> MatMulInteger(., W) -> Cast(float) -> Mul(x_scale * w_scale) [-> Add bias]
 *     =>  com.microsoft:DynamicQuantizeMatMul(x, W, w_scale, w_zero_point, bias), whose epilogue does
 *     the same float32 operations, so the result is unchanged;
 *   sinter:QLinearConv (8-bit output) -> com.microsoft:QLinearAdd with an operand of the same static
 *     shape (ResNet's residual)  =>  the Add in the conv's epilogue (kernels/qgemm.h: requantized value
 *     first, then the Add's own float steps, so the result is unchanged);
 *   DQ(a), DQ(b) -> MatMul -> QuantizeLinear, b an activation (attention's products)  =>  QLinearMatMul;
 *   DQ(W) -> Gather(., idx), W a constant 8-bit table  =>  Gather(W, idx) -> DQ (a quantized embedding
 *     dequantized by the rows a run reads);
 *   DQ(a) -> MaxPool, Reshape, Transpose, Slice, Gather, Pad, Concat (of such DQs), ... -> QuantizeLinear
 *     with the same scale and zero point  =>  the op on a itself (fuse_same_q: it moves or selects
 *     values, dequantization is increasing, and quantizing a dequantized value gives it back), as ONNX
 *     Runtime runs it: no float copy of the tensor;
 *   DQ(x) -> Softmax (last axis) or LayerNormalization -> QuantizeLinear  =>  sinter:QDQSoftmax /
 *     sinter:QDQLayerNormalization, and DQ(x) -> Add / Sub / Mul / Div with a float constant over x's
 *     trailing axes (a bias) -> QuantizeLinear  =>  sinter:QDQBinary: the same float32 steps row
 *     block by row block (kernels/ref/nn_util.h sn_nn_qrows), no float tensor in memory;
 *   Shape(DQ(x)) => Shape(x) (a dynamic-shape export's head reshapes read the dequantized tensor's shape).
 * Later, after constant folding, passes/lookup.c composes the 8-bit elementwise ops of one value
 * (QLinearAdd / QLinearMul of constants, lookups of lookups) into one table.
 * Runs before constant folding, which would otherwise turn DQ(w) into float weights. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/quant.h"
#include "kernels/vmath.h"
#include "passes/passes.h"

typedef struct dq {
  int node, q, s, z;          /* the DQ node and its inputs (z -1 when absent) */
  const sn_tensor *st, *zt;   /* constant scale and zero point */
  int axis;
} dq;


/* sn_node_is, where QuantizeLinear and DequantizeLinear also match ONNX Runtime's com.microsoft twins
 * (quantize_static with UseQDQContribOps: the same computation; the 8-bit checks below still apply) */
static bool op_is(const sn_node *n, const char *op) {
  if (sn_node_is(n, op)) return true;
  return (!strcmp(op, "QuantizeLinear") || !strcmp(op, "DequantizeLinear")) && n->domain &&
         !strcmp(n->domain, "com.microsoft") && n->op_type && !strcmp(n->op_type, op);
}

static bool get_dq(const sn_graph *g, int v, dq *d) {
  if (v < 0) return false;
  int p = g->values[v].producer;
  if (p < 0) return false;
  const sn_node *n = &g->nodes[p];
  if (!op_is(n, "DequantizeLinear") || n->n_in < 2 || sn_attr_int(n, "block_size", 0)) return false;
  d->node = p, d->q = n->in[0], d->s = n->in[1], d->z = n->n_in > 2 ? n->in[2] : -1;
  d->st = sn_graph_const(g, d->s);
  d->zt = d->z >= 0 ? sn_graph_const(g, d->z) : NULL;
  d->axis = (int)sn_attr_int(n, "axis", 1);
  sn_dtype qt = g->values[d->q].type.dtype;
  if (!d->st || d->st->dtype != SINTER_FLOAT || !sn_dtype_q8(qt) || (d->z >= 0 && (!d->zt || d->zt->dtype != qt))) return false;
  for (int64_t i = 0; i < d->st->count; i++) {
    float s = ((const float *)d->st->data)[i];
    if (!(s > 0) || !isfinite(s)) return false;
  }
  return true;
}

/* the sole consumer of v if it is op `op`, else -1 */
static int next_op(const sn_graph *g, const int *uses, int v, const char *op) {
  int c = sn_graph_sole_consumer(g, uses, v);
  return c >= 0 && op_is(&g->nodes[c], op) ? c : -1;
}

/* a constant float 1-D (or scalar-broadcast-free) vector of n values, or NULL */
static const float *const_vec(const sn_graph *g, int v, int64_t n) {
  const sn_tensor *t = v >= 0 ? sn_graph_const(g, v) : NULL;
  if (!t || t->dtype != SINTER_FLOAT || t->count != n) return NULL;
  for (int d = 0; d < t->rank - 1; d++)
    if (t->dims[d] != 1) return NULL;
  return t->data;
}

/* Clip node c's bounds when they are constants (opset 11+: scalar inputs, absent = unbounded;
 * before: the min / max attributes) */
static bool clip_bounds(const sn_graph *g, const sn_node *c, float *lo, float *hi) {
  *lo = -INFINITY, *hi = INFINITY;
  if (c->opset < 11) {
    *lo = sn_attr_float(c, "min", -INFINITY);
    *hi = sn_attr_float(c, "max", INFINITY);
  } else {
    for (int k = 1; k < 3 && k < c->n_in; k++) {
      if (c->in[k] < 0) continue;
      const sn_tensor *t = sn_graph_const(g, c->in[k]);
      if (!t || t->dtype != SINTER_FLOAT || t->count != 1) return false;
      *(k == 1 ? lo : hi) = *(const float *)t->data;
    }
  }
  return *lo <= *hi; /* (NaN bounds refused) */
}

static sn_error *set_inputs(sn_node *n, const int *in, int k) {
  int *ni = sn_malloc(sizeof(int) * (size_t)k);
  if (!ni) return SN_ERR_OOM();
  memcpy(ni, in, sizeof(int) * (size_t)k);
  sn_free(n->in);
  n->in = ni;
  n->n_in = k;
  return NULL;
}

static sn_error *retype_in(sn_node *n, const char *op, const char *domain) {
  return sn_node_retype(n, domain, op, 1, false);
}

static sn_error *retype(sn_node *n, const char *op) { return retype_in(n, op, "sinter"); }

/* n now computes what the QuantizeLinear q after it did: n takes q's output and q goes; n is resolved */
static sn_error *absorb_q(sn_pass_ctx *c, sn_node *n, int q, bool *done) {
  sn_graph *g = c->g;
  n->out[0] = g->nodes[q].out[0];
  sn_node_clear(&g->nodes[q]);
  sn_error *e = sn_node_resolve(g, n);
  if (e) return e;
  *done = true;
  c->changed++;
  return NULL;
}

static void drop_attrs(sn_node *n) {
  for (int a = 0; a < n->n_attrs; a++) sn_attr_clear(&n->attrs[a]);
  n->n_attrs = 0;
}

static sn_error *fuse_one(sn_pass_ctx *c, int i, int *uses, bool *done) {
  sn_graph *g = c->g;
  sn_node *n = &g->nodes[i];
  *done = false;
  bool conv = op_is(n, "Conv"), gemm = op_is(n, "Gemm"), mm = op_is(n, "MatMul");
  if ((!conv && !gemm && !mm) || n->n_in < 2 || n->out[0] < 0 || g->values[n->out[0]].type.dtype != SINTER_FLOAT)
    return NULL;
  dq x, w;
  if (!get_dq(g, n->in[0], &x) || !get_dq(g, n->in[1], &w)) return NULL;
  if (x.st->count != 1 || (x.zt && x.zt->count != 1)) return NULL;
  const sn_tensor *wt = sn_graph_const(g, w.q);
  if (!wt || !sn_dtype_q8(wt->dtype)) return NULL;
  bool transB = false;
  int64_t nch, axis;
  if (conv) {
    if (wt->rank < 3 || wt->rank > 4) return NULL; /* the fast path covers 1-D and 2-D convolutions */
    nch = wt->dims[0], axis = 0;
  } else {
    if (wt->rank != 2) return NULL;
    if (gemm) {
      if (sn_attr_int(n, "transA", 0) || sn_attr_float(n, "alpha", 1) != 1 || sn_attr_float(n, "beta", 1) != 1) return NULL;
      const sn_type *at = &g->values[n->in[0]].type;
      if (at->rank != 2) return NULL;
      transB = sn_attr_int(n, "transB", 0) != 0;
    }
    nch = transB ? wt->dims[0] : wt->dims[1], axis = transB ? 0 : 1;
  }
  int waxis = w.axis < 0 ? w.axis + wt->rank : w.axis;
  if (w.st->count != 1 && (w.st->count != nch || waxis != axis)) return NULL;
  if (w.zt && w.zt->count != w.st->count) return NULL;
  /* bias: Conv/Gemm input 2 (constant, or DQ of a constant), or MatMul's following Add */
  int bias_v = (conv || gemm) && n->n_in > 2 ? n->in[2] : -1;
  float *fb = NULL;
  int add = -1, tail = n->out[0];
  sn_error *e = NULL;
  if (bias_v >= 0) {
    if (!(fb = sn_malloc(sizeof(float) * (size_t)nch))) return SN_ERR_OOM();
    const float *bf = const_vec(g, bias_v, nch);
    dq b;
    if (bf) {
      memcpy(fb, bf, sizeof(float) * (size_t)nch);
    } else if (get_dq(g, bias_v, &b) && sn_graph_const(g, b.q) && sn_graph_const(g, b.q)->count == nch &&
               (b.st->count == 1 || b.st->count == nch)) {
      /* DQ of an 8-bit bias is rare; ORT's is int32, which get_dq refuses (not 8-bit): handled below */
      sn_free(fb);
      return NULL;
    } else {
      int p = g->values[bias_v].producer;
      const sn_node *bn = p >= 0 ? &g->nodes[p] : NULL;
      const sn_tensor *bq = bn && op_is(bn, "DequantizeLinear") && bn->n_in >= 2 ? sn_graph_const(g, bn->in[0]) : NULL;
      const sn_tensor *bs = bq ? sn_graph_const(g, bn->in[1]) : NULL;
      const sn_tensor *bz = bq && bn->n_in > 2 && bn->in[2] >= 0 ? sn_graph_const(g, bn->in[2]) : NULL;
      if (!bq || bq->dtype != SINTER_INT32 || bq->count != nch || !bs || bs->dtype != SINTER_FLOAT ||
          (bs->count != 1 && bs->count != nch) || (bn->n_in > 2 && bn->in[2] >= 0 && (!bz || bz->dtype != SINTER_INT32))) {
        sn_free(fb);
        return NULL;
      }
      for (int64_t m = 0; m < nch; m++) {
        int32_t z = bz ? ((const int32_t *)bz->data)[bz->count == 1 ? 0 : m] : 0;
        fb[m] = (float)(((const int32_t *)bq->data)[m] - z) * ((const float *)bs->data)[bs->count == 1 ? 0 : m];
      }
    }
  } else if (mm) {
    int a = next_op(g, uses, tail, "Add");
    if (a >= 0) {
      const sn_node *an = &g->nodes[a];
      int other = an->in[0] == tail ? an->in[1] : an->in[0];
      const float *bf = an->n_in == 2 ? const_vec(g, other, nch) : NULL;
      const sn_type *ot = &g->values[an->out[0]].type, *mt = &g->values[tail].type;
      if (bf && ot->rank == mt->rank) {
        if (!(fb = sn_malloc(sizeof(float) * (size_t)nch))) return SN_ERR_OOM();
        memcpy(fb, bf, sizeof(float) * (size_t)nch);
        add = a;
        tail = an->out[0];
      }
    }
  }
  int relu = next_op(g, uses, tail, "Relu");
  float clo = 0, chi = 0;
  if (relu < 0 && (relu = next_op(g, uses, tail, "Clip")) >= 0 && !clip_bounds(g, &g->nodes[relu], &clo, &chi))
    relu = -1; /* (MobileNet's ReLU6: Clip(0, 6)) */
  const bool clip = relu >= 0 && op_is(&g->nodes[relu], "Clip");
  if (relu >= 0) tail = g->nodes[relu].out[0];
  int q = next_op(g, uses, tail, "QuantizeLinear");
  const sn_tensor *ys = NULL, *yz = NULL;
  if (q >= 0) {
    const sn_node *qn = &g->nodes[q];
    ys = qn->n_in > 1 ? sn_graph_const(g, qn->in[1]) : NULL;
    yz = qn->n_in > 2 && qn->in[2] >= 0 ? sn_graph_const(g, qn->in[2]) : NULL;
    float s = ys && ys->dtype == SINTER_FLOAT && ys->count == 1 ? *(const float *)ys->data : 0;
    if (!(s > 0) || !isfinite(s) || !yz || yz->count != 1 || !sn_dtype_q8(yz->dtype) || sn_attr_int(qn, "block_size", 0) ||
        g->values[qn->out[0]].type.dtype != yz->dtype)
      q = -1;
  }
  /* the new inputs */
  int in[9] = {x.q, x.s, x.z, w.q, w.s, w.z, -1, -1, -1};
  if (q >= 0) in[6] = g->nodes[q].in[1], in[7] = g->nodes[q].in[2];
  if (fb) {
    sn_tensor *bt;
    if (q >= 0) { /* int32 in units of x_scale * w_scale[m] */
      if ((e = sn_tensor_new(SINTER_INT32, 1, &nch, &bt))) goto out;
      float xs = *(const float *)x.st->data;
      for (int64_t m = 0; m < nch; m++) {
        float s = xs * ((const float *)w.st->data)[w.st->count == 1 ? 0 : m];
        double v = nearbyint((double)fb[m] / (double)s);
        ((int32_t *)bt->data)[m] = v > 2147483647.0 ? INT32_MAX : v < -2147483648.0 ? INT32_MIN : (int32_t)v;
      }
    } else {
      if ((e = sn_tensor_new(SINTER_FLOAT, 1, &nch, &bt))) goto out;
      memcpy(bt->data, fb, sizeof(float) * (size_t)nch);
    }
    const char *base = g->values[n->out[0]].name;
    if ((e = sn_graph_add_initializer(g, base, q >= 0 ? "_qbias" : "_fbias", bt, &in[8]))) goto out;
    n = &g->nodes[i];
  }
  int out = q >= 0 ? g->nodes[q].out[0] : tail;
  if ((e = set_inputs(n, in, 9))) goto out;
  if ((e = retype(n, conv ? "QLinearConv" : "QLinearMatMul"))) goto out;
  if (!conv) drop_attrs(n);
  if (!conv && transB && (e = sn_node_set_int(n, "transB", 1))) goto out;
  if (relu >= 0 && (e = sn_node_set_str(n, "activation", clip ? "Clip" : "Relu"))) goto out;
  if (clip && (e = sn_node_set_floats(n, "activation_params", (const float[]){clo, chi}, 2))) goto out;
  n->out[0] = out;
  if (add >= 0) sn_node_clear(&g->nodes[add]);
  if (relu >= 0) sn_node_clear(&g->nodes[relu]);
  if (q >= 0) sn_node_clear(&g->nodes[q]);
  if ((e = sn_node_resolve(g, n))) goto out;
  *done = true;
  c->changed++;
out:
  sn_free(fb);
  return e;
}

/* DQ(a), DQ(b) -> Add -> Q, all per tensor with zero points, one 8-bit type => QLinearAdd */
static sn_error *fuse_add(sn_pass_ctx *c, int i, int *uses, bool *done) {
  sn_graph *g = c->g;
  sn_node *n = &g->nodes[i];
  *done = false;
  bool mul = op_is(n, "Mul");
  if ((!op_is(n, "Add") && !mul) || n->n_in != 2 || n->out[0] < 0) return NULL;
  dq a, b;
  if (!get_dq(g, n->in[0], &a) || !get_dq(g, n->in[1], &b)) return NULL;
  if (a.st->count != 1 || b.st->count != 1 || !a.zt || !b.zt || a.zt->count != 1 || b.zt->count != 1 ||
      a.zt->dtype != b.zt->dtype)
    return NULL;
  /* a constant operand (a bias) stays a float Add of the folded constant, as ONNX Runtime runs it */
  if (sn_graph_const(g, a.q) || sn_graph_const(g, b.q)) return NULL;
  int q = next_op(g, uses, n->out[0], "QuantizeLinear");
  if (q < 0) return NULL;
  const sn_node *qn = &g->nodes[q];
  const sn_tensor *ys = qn->n_in > 1 ? sn_graph_const(g, qn->in[1]) : NULL;
  const sn_tensor *yz = qn->n_in > 2 && qn->in[2] >= 0 ? sn_graph_const(g, qn->in[2]) : NULL;
  if (!ys || ys->dtype != SINTER_FLOAT || ys->count != 1 || !(*(const float *)ys->data > 0) || !yz ||
      yz->count != 1 || yz->dtype != a.zt->dtype || sn_attr_int(qn, "block_size", 0))
    return NULL;
  int in[8] = {a.q, a.s, a.z, b.q, b.s, b.z, qn->in[1], qn->in[2]};
  sn_error *e;
  if ((e = set_inputs(n, in, 8)) || (e = retype_in(n, mul ? "QLinearMul" : "QLinearAdd", "com.microsoft"))) return e;
  drop_attrs(n);
  return absorb_q(c, n, q, done);
}

static bool get_q(const sn_graph *g, const sn_node *qn, float *s, int32_t *z, sn_dtype *dt);
/* ops whose output elements are elements of their data input(s), moved or selected (MaxPool: a
 * maximum, which an increasing dequantization keeps); data inputs: the first, or every one (Concat) */
static bool moves_values(const sn_node *n, bool *all_inputs) {
  static const char *const one[] = {"MaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten",
                                    "Slice", "Gather", "GatherElements", "GatherND", "Expand", "Tile",
                                    "DepthToSpace", "SpaceToDepth", "Identity", "Pad"};
  *all_inputs = op_is(n, "Concat");
  if (*all_inputs) return true;
  for (size_t k = 0; k < sizeof one / sizeof *one; k++)
    if (op_is(n, one[k])) return true;
  return false;
}

/* DQ(a) -> op -> QuantizeLinear with the same scale, zero point and type, op one that only moves or
 * selects values (moves_values)  =>  op on a itself: quantizing a dequantized value gives it back
 * (|(q - z) s / s - (q - z)| is far below a half), so the result is the same bytes, as ONNX Runtime
 * runs these ops in QDQ models (its DropQDQNodes). Attention's Reshape / Transpose between the
 * projections and the products, a ResNet stem's MaxPool: no float copy of the tensor, and a quarter
 * of the bytes to move. Concat: every input through such a DequantizeLinear. */
static sn_error *fuse_same_q(sn_pass_ctx *c, int i, int *uses, bool *done) {
  sn_graph *g = c->g;
  sn_node *n = &g->nodes[i];
  *done = false;
  bool all;
  if (!moves_values(n, &all) || n->n_in < 1 || n->out[0] < 0) return NULL;
  for (int o = 1; o < n->n_out; o++)
    if (n->out[o] >= 0) return NULL;
  if (op_is(n, "MaxPool") && (n->n_in != 1 || sn_attr_int(n, "storage_order", 0))) return NULL;
  /* Pad (opset 11 on): edge and reflect move values; constant pads 0, which is the zero point's
   * value (tf2onnx's explicit padding before strided convolutions stays float in QDQ models) */
  const bool pad = op_is(n, "Pad"), pad_const = pad && !strcmp(sn_attr_str(n, "mode", "constant"), "constant");
  if (pad && (n->opset < 11 || n->n_in < 2 || (n->n_in > 3 && n->in[3] >= 0 && !sn_graph_const(g, n->in[3]))))
    return NULL;
  if (pad_const && n->n_in > 2 && n->in[2] >= 0 && sn_graph_const_scalar(g, n->in[2]) != 0.0) return NULL;
  int q = next_op(g, uses, n->out[0], "QuantizeLinear");
  float ys;
  int32_t yz;
  sn_dtype ydt;
  if (q < 0 || !get_q(g, &g->nodes[q], &ys, &yz, &ydt)) return NULL;
  int nd = all ? n->n_in : 1;
  for (int k = 0; k < nd; k++) {
    dq a;
    if (!get_dq(g, n->in[k], &a) || a.st->count != 1 || (a.zt && a.zt->count != 1)) return NULL;
    sn_dtype adt = g->values[a.q].type.dtype;
    int32_t az = !a.zt ? 0 : adt == SINTER_INT8 ? *(const int8_t *)a.zt->data : *(const uint8_t *)a.zt->data;
    if (adt != ydt || ys != *(const float *)a.st->data || yz != az) return NULL;
  }
  sn_error *e;
  if (op_is(n, "MaxPool") && n->opset < 12 && (e = sn_node_retype(n, "", "MaxPool", 12, false))) return e;
  for (int k = 0; k < nd; k++) {
    dq a;
    get_dq(g, n->in[k], &a);
    n->in[k] = a.q;
    if (pad && n->n_in > 2) {
      n->in[2] = pad_const ? a.z : -1; /* (the zero point; none: 0) */
    } else if (pad_const && a.z >= 0) {
      sn_error *ae = sn_node_add_input(n, a.z);
      if (ae) return ae;
    }
  }
  return absorb_q(c, n, q, done);
}

/* DQ(x) -> Softmax over the last axis, or LayerNormalization (float32, only its first output) ->
 * QuantizeLinear, per tensor  =>  sinter:QDQSoftmax / sinter:QDQLayerNormalization (ops/softmax.c,
 * ops/norm.c): the same float32 steps row block by row block, with no float tensor in memory (a
 * quantized encoder's attention softmax and its LayerNormalizations). */
static sn_error *fuse_rows(sn_pass_ctx *c, int i, int *uses, bool *done) {
  sn_graph *g = c->g;
  sn_node *n = &g->nodes[i];
  *done = false;
  bool sm = op_is(n, "Softmax"), ln = op_is(n, "LayerNormalization");
  if ((!sm && !ln) || n->n_in < (sm ? 1 : 2) || n->out[0] < 0) return NULL;
  for (int o = 1; o < n->n_out; o++)
    if (n->out[o] >= 0 && (uses[n->out[o]] > 0 || g->values[n->out[o]].is_output)) return NULL;
  const sn_type *xt = &g->values[n->out[0]].type;
  if (xt->dtype != SINTER_FLOAT || xt->rank < 1) return NULL;
  int64_t axis = sn_attr_int(n, "axis", sm && n->opset < 13 ? 1 : -1);
  if (axis < 0) axis += xt->rank;
  if (axis < 0 || axis >= xt->rank || (sm && axis != xt->rank - 1)) return NULL;
  dq a;
  if (!get_dq(g, n->in[0], &a) || a.st->count != 1 || (a.zt && a.zt->count != 1)) return NULL;
  int q = next_op(g, uses, n->out[0], "QuantizeLinear");
  float ys;
  int32_t yz;
  sn_dtype ydt;
  if (q < 0 || !get_q(g, &g->nodes[q], &ys, &yz, &ydt)) return NULL;
  const sn_node *qn = &g->nodes[q];
  sn_error *e;
  if (sm) {
    int in[5] = {a.q, a.s, a.z, qn->in[1], qn->in[2]};
    if ((e = set_inputs(n, in, 5)) || (e = retype(n, "QDQSoftmax")) || (e = sn_node_set_int(n, "axis", -1))) return e;
  } else {
    int in[7] = {a.q, a.s, a.z, n->in[1], n->n_in > 2 ? n->in[2] : -1, qn->in[1], qn->in[2]};
    if ((e = set_inputs(n, in, 7)) || (e = retype(n, "QDQLayerNormalization")) || (e = sn_node_set_int(n, "axis", axis)))
      return e;
  }
  n->n_out = 1; /* (LayerNormalization's unread mean and inverse deviation) */
  return absorb_q(c, n, q, done);
}

/* DQ(a) -> Add / Sub / Mul / Div with a float constant over a's trailing axes (a bias; or such a
 * constant through a DequantizeLinear, folded here as constant folding would) -> QuantizeLinear, per
 * tensor  =>  sinter:QDQBinary (ops/elementwise.c): the same float32 operations row block by row
 * block, no float tensor in memory. (A scalar constant makes a lookup table instead: fuse_chain.) */
static bool same_shape(const sn_type *a, const sn_type *b);
static sn_error *fuse_const_binary(sn_pass_ctx *c, int i, int *uses, bool *done) {
  sn_graph *g = c->g;
  sn_node *n = &g->nodes[i];
  *done = false;
  static const char *const ops[] = {"Add", "Sub", "Mul", "Div"};
  int op = -1;
  for (int k = 0; k < 4; k++)
    if (op_is(n, ops[k])) op = k;
  if (op < 0 || n->n_in != 2 || n->out[0] < 0 || !c->fold) return NULL;
  const sn_type *yt = &g->values[n->out[0]].type;
  if (yt->dtype != SINTER_FLOAT || yt->rank < 0) return NULL;
  for (int side = 0; side < 2; side++) {
    dq a;
    int kv = n->in[1 - side];
    if (!get_dq(g, n->in[side], &a) || sn_graph_const(g, a.q) || a.st->count != 1 || (a.zt && a.zt->count != 1))
      continue;
    const sn_type *at = &g->values[n->in[side]].type;
    const sn_tensor *k = sn_graph_const(g, kv);
    dq kd;
    bool from_dq = !k && get_dq(g, kv, &kd) && sn_graph_const(g, kd.q) && (kd.z < 0 || kd.zt);
    const sn_type *kt = &g->values[kv].type;
    if ((!k && !from_dq) || (k && k->dtype != SINTER_FLOAT) || kt->rank < 0 || kt->rank > at->rank ||
        !same_shape(at, yt))
      continue;
    /* over a's trailing axes: right-aligned, leading 1s, then a's own (known) sizes; more than one value */
    bool lead = true, ok = true;
    int64_t count = 1;
    for (int d = 0; d < kt->rank && ok; d++) {
      int64_t kdim = kt->dims[d].v, adim = at->dims[at->rank - kt->rank + d].v;
      if (kdim < 0) {
        ok = false;
      } else if (!lead || kdim != 1) { /* (leading 1s broadcast, against a 1 as well) */
        lead = false;
        ok = adim == kdim;
        count *= kdim;
      }
    }
    if (!ok || count < 2) continue;
    int q = next_op(g, uses, n->out[0], "QuantizeLinear");
    float ys;
    int32_t yz;
    sn_dtype ydt;
    if (q < 0 || !get_q(g, &g->nodes[q], &ys, &yz, &ydt)) return NULL;
    sn_error *e;
    if (from_dq) { /* the float constant, as constant folding makes it */
      const sn_node *dn = &g->nodes[kd.node];
      const sn_tensor *din[3] = {0};
      for (int m = 0; m < dn->n_in && m < 3; m++) din[m] = dn->in[m] < 0 ? NULL : sn_graph_const(g, dn->in[m]);
      sn_tensor *f = NULL;
      if ((e = c->fold(NULL, g, dn, din, &f))) { /* (not foldable: left as it is) */
        sn_error_free(e);
        return NULL;
      }
      if ((e = sn_graph_add_initializer(g, g->values[kv].name, "_f32", f, &kv))) return e;
      n = &g->nodes[i];
    }
    const sn_node *qn = &g->nodes[q];
    int in[6] = {a.q, a.s, a.z, kv, qn->in[1], qn->in[2]};
    if ((e = set_inputs(n, in, 6)) || (e = retype(n, "QDQBinary")) || (e = sn_node_set_str(n, "op", ops[op])) ||
        (e = sn_node_set_int(n, "c_first", side == 1)))
      return e;
    return absorb_q(c, n, q, done);
  }
  return NULL;
}

/* Shape or Size of DQ(a) or of Q(a)  =>  of a (the same dimensions): a dynamic-shape export reads the
 * shape of a dequantized tensor for a Reshape, which would otherwise keep the float copy alive */
static sn_error *shape_through_q(sn_pass_ctx *c, int i, bool *done) {
  sn_graph *g = c->g;
  sn_node *n = &g->nodes[i];
  *done = false;
  if ((!op_is(n, "Shape") && !op_is(n, "Size")) || n->n_in != 1 || n->in[0] < 0) return NULL;
  int p = g->values[n->in[0]].producer;
  if (p < 0) return NULL;
  const sn_node *pn = &g->nodes[p];
  if ((!op_is(pn, "DequantizeLinear") && !op_is(pn, "QuantizeLinear")) || pn->n_in < 1 || pn->in[0] < 0) return NULL;
  n->in[0] = pn->in[0];
  *done = true;
  c->changed++;
  return NULL;
}

/* DQ(a), DQ(b) -> MatMul -> QuantizeLinear with b not a constant (attention's Q K^T and P V in a QDQ
 * encoder), both per tensor  =>  QLinearMatMul(a, b), B packed at run time; as ONNX Runtime fuses it. */
static sn_error *fuse_act_matmul(sn_pass_ctx *c, int i, int *uses, bool *done) {
  sn_graph *g = c->g;
  sn_node *n = &g->nodes[i];
  *done = false;
  if (!op_is(n, "MatMul") || n->n_in != 2 || n->out[0] < 0 || g->values[n->out[0]].type.dtype != SINTER_FLOAT)
    return NULL;
  dq x, w;
  if (!get_dq(g, n->in[0], &x) || !get_dq(g, n->in[1], &w) || sn_graph_const(g, w.q)) return NULL;
  /* (zero points present: the standard op requires them, and the optimized graph may be saved) */
  if (x.st->count != 1 || !x.zt || x.zt->count != 1 || w.st->count != 1 || !w.zt || w.zt->count != 1) return NULL;
  int q = next_op(g, uses, n->out[0], "QuantizeLinear");
  float ys;
  int32_t yz;
  sn_dtype ydt;
  if (q < 0 || !get_q(g, &g->nodes[q], &ys, &yz, &ydt)) return NULL;
  int in[8] = {x.q, x.s, x.z, w.q, w.s, w.z, g->nodes[q].in[1], g->nodes[q].in[2]};
  sn_error *e;
  if ((e = set_inputs(n, in, 8)) || (e = sn_node_retype(n, "", "QLinearMatMul", 10, true))) return e;
  return absorb_q(c, n, q, done);
}

/* DQ(W) -> Gather(., idx) with W a constant 8-bit table (an embedding quantized by ONNX Runtime's
 * quantize_static)  =>  Gather(W, idx) -> DQ: a run dequantizes the rows it reads, not the whole table
 * (BERT-small's 30522 x 256 vocabulary took 1.4 ms of a 6.3 ms run). The same values: DequantizeLinear
 * is elementwise with a scale per tensor or per axis, and the gathered tensor keeps that axis when it
 * is not the one gathered (at a place moved by the indices' rank). The nodes trade places in the node
 * array; the caller sorts the graph again. */
static sn_error *swap_gather(sn_pass_ctx *c, int i, int *uses, bool *done) {
  sn_graph *g = c->g;
  *done = false;
  sn_node *gn = &g->nodes[i];
  if (!sn_node_is(gn, "Gather") || gn->n_in != 2 || gn->n_out != 1 || gn->out[0] < 0) return NULL;
  const int v = gn->in[0], o = gn->out[0];
  dq d;
  if (!get_dq(g, v, &d) || !sn_graph_const(g, d.q) || sn_graph_sole_consumer(g, uses, v) != i) return NULL;
  const sn_node *dn = &g->nodes[d.node];
  if (dn->n_out != 1 || (d.zt && d.zt->count != d.st->count) || d.st->rank > 1) return NULL;
  const sn_type *wt = &g->values[d.q].type, *it = &g->values[gn->in[1]].type, *ot = &g->values[o].type;
  if (wt->kind != SN_KIND_TENSOR || it->kind != SN_KIND_TENSOR || ot->kind != SN_KIND_TENSOR || wt->rank < 1)
    return NULL;
  const int r = wt->rank;
  int64_t ga = sn_attr_int(gn, "axis", 0), da = 0;
  if (ga < 0) ga += r;
  if (ga < 0 || ga >= r) return NULL;
  const bool per_axis = d.st->rank == 1;
  if (per_axis) { /* (a scale of one entry is per axis too: it must match that axis's size) */
    da = d.axis < 0 ? d.axis + r : d.axis;
    if (da < 0 || da >= r || da == ga) return NULL;
    if (da > ga) da += it->rank - 1;
  }
  sn_error *e;
  if (per_axis && (e = sn_node_set_int(&g->nodes[d.node], "axis", da))) return e;
  sn_node t = g->nodes[d.node];
  g->nodes[d.node] = g->nodes[i];
  g->nodes[i] = t;
  sn_node *ng = &g->nodes[d.node], *nd = &g->nodes[i];
  ng->in[0] = d.q, ng->out[0] = v;
  nd->in[0] = v, nd->out[0] = o;
  sn_type vt = *ot;
  vt.dtype = wt->dtype;
  g->values[v].type = vt;
  sn_graph_update_producers(g);
  if ((e = sn_node_resolve(g, ng)) || (e = sn_node_resolve(g, nd))) return e;
  *done = true;
  c->changed++;
  return NULL;
}

/* a QuantizeLinear with constant per-tensor scale and zero point to an 8-bit type */
static bool get_q(const sn_graph *g, const sn_node *qn, float *s, int32_t *z, sn_dtype *dt) {
  if (!op_is(qn, "QuantizeLinear") || qn->n_in < 3 || qn->in[2] < 0 || sn_attr_int(qn, "block_size", 0)) return false;
  const sn_tensor *ys = sn_graph_const(g, qn->in[1]), *yz = sn_graph_const(g, qn->in[2]);
  if (!ys || ys->dtype != SINTER_FLOAT || ys->count != 1 || !yz || yz->count != 1 || !sn_dtype_q8(yz->dtype) ||
      g->values[qn->out[0]].type.dtype != yz->dtype)
    return false;
  *s = *(const float *)ys->data;
  if (!(*s > 0) || !isfinite(*s)) return false;
  *z = yz->dtype == SINTER_INT8 ? *(const int8_t *)yz->data : *(const uint8_t *)yz->data;
  *dt = yz->dtype;
  return true;
}

/* the producer of v if it is op `op` and v has no other reader, else -1 */
static int sole_producer(const sn_graph *g, const int *uses, int v, const char *op) {
  if (v < 0 || uses[v] != 1 || g->values[v].is_output) return -1;
  int p = g->values[v].producer;
  return p >= 0 && op_is(&g->nodes[p], op) ? p : -1;
}

/* QuantizeLinear of Sigmoid(DQ(a)) or of SiLU(DQ(a)) as QDQ models write it => QLinearLookup(a, table) */
static sn_error *fuse_lut(sn_pass_ctx *c, int i, int *uses, bool *done) {
  sn_graph *g = c->g;
  *done = false;
  const sn_node *qn = &g->nodes[i];
  float ys, s1 = 0;
  int32_t yz, z1 = 0;
  sn_dtype ydt, dt1 = 0;
  if (!get_q(g, qn, &ys, &yz, &ydt) || qn->out[0] < 0) return NULL;
  int sig = sole_producer(g, uses, qn->in[0], "Sigmoid"), mul = -1, q1 = -1, dq1 = -1;
  dq a;
  if (sig < 0) { /* SiLU: Mul(X, DQ(Q(Sigmoid(X)))) with X = DQ(a) */
    mul = sole_producer(g, uses, qn->in[0], "Mul");
    if (mul < 0 || g->nodes[mul].n_in != 2) return NULL;
    for (int side = 0; side < 2 && sig < 0; side++) {
      int xv = g->nodes[mul].in[side], ov = g->nodes[mul].in[1 - side];
      dq1 = sole_producer(g, uses, ov, "DequantizeLinear");
      if (dq1 < 0) continue;
      q1 = sole_producer(g, uses, g->nodes[dq1].in[0], "QuantizeLinear");
      if (q1 < 0 || !get_q(g, &g->nodes[q1], &s1, &z1, &dt1)) continue;
      /* DQ1 must undo Q1 exactly (same scale and zero point) */
      dq d1;
      if (!get_dq(g, g->nodes[dq1].out[0], &d1) || d1.st->count != 1 || !d1.zt || d1.zt->count != 1 ||
          *(const float *)d1.st->data != s1 || g->nodes[dq1].in[2] != g->nodes[q1].in[2])
        continue;
      int sg = sole_producer(g, uses, g->nodes[q1].in[0], "Sigmoid");
      if (sg >= 0 && g->nodes[sg].in[0] == xv) sig = sg;
    }
    if (sig < 0) return NULL;
  }
  if (!get_dq(g, g->nodes[sig].in[0], &a) || a.st->count != 1 || !a.zt || a.zt->count != 1) return NULL;
  /* the table: the float32 kernels of the unfused nodes over the 256 values of a */
  bool as = a.zt->dtype == SINTER_INT8;
  uint8_t raw[256];
  float f[256], t[256], u[256];
  for (int b = 0; b < 256; b++) raw[b] = (uint8_t)b;
  int32_t az = as ? *(const int8_t *)a.zt->data : *(const uint8_t *)a.zt->data;
  sn_dequantize_f32(raw, 256, as, az, *(const float *)a.st->data, f);
  sn_vsigmoid(f, t, 256);
  if (mul >= 0) {
    uint8_t q[256];
    sn_quantize_f32(t, 256, s1, (float)z1, dt1 == SINTER_INT8, q);
    sn_dequantize_f32(q, 256, dt1 == SINTER_INT8, z1, s1, u);
    for (int b = 0; b < 256; b++) t[b] = f[b] * u[b];
  }
  sn_tensor *tab;
  int64_t n256 = 256;
  sn_error *e = sn_tensor_new(ydt, 1, &n256, &tab);
  if (e) return e;
  sn_quantize_f32(t, 256, ys, (float)yz, ydt == SINTER_INT8, tab->data);
  int tv;
  if ((e = sn_graph_add_initializer(g, g->values[g->nodes[i].out[0]].name, "_lut", tab, &tv))) return e;
  sn_node *n = &g->nodes[i];
  int in[2] = {a.q, tv};
  if ((e = set_inputs(n, in, 2)) || (e = retype(n, "QLinearLookup"))) return e;
  drop_attrs(n);
  sn_node_clear(&g->nodes[sig]);
  if (mul >= 0) {
    sn_node_clear(&g->nodes[mul]);
    sn_node_clear(&g->nodes[dq1]);
    sn_node_clear(&g->nodes[q1]);
  }
  if ((e = sn_node_resolve(g, &g->nodes[i]))) return e;
  *done = true;
  c->changed++;
  return NULL;
}

/* Elementwise float ops that a lookup table may absorb: one operand flows along the chain, any other is
 * a constant scalar */
static bool chain_op(const sn_node *n) {
  static const char *const ops[] = {"Erf", "Tanh", "Sigmoid", "Relu", "Exp", "Log", "Abs", "Neg", "Sqrt",
                                    "Reciprocal", "Softplus", "Softsign", "Elu", "Selu", "Celu", "LeakyRelu",
                                    "HardSigmoid", "HardSwish", "Mish", "Gelu", "ThresholdedRelu", "Clip", "Sin",
                                    "Cos", "Floor", "Ceil", "Round", "Sign", "Add", "Sub", "Mul", "Div", "Pow",
                                    "Max", "Min"};
  for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
    if (sn_node_is(n, ops[k])) return true;
  return false;
}

/* the DequantizeLinear node making v from a constant 8-bit scalar with constant parameters (a QDQ
 * model's quantized scalar, as 1 in 1 + erf(.)), or -1 */
static int const_dq_scalar(const sn_graph *g, int v) {
  dq d;
  if (!get_dq(g, v, &d) || d.st->count != 1 || (d.z >= 0 && !d.zt)) return -1;
  const sn_tensor *q = sn_graph_const(g, d.q);
  return q && q->count == 1 && g->values[v].type.dtype == SINTER_FLOAT ? d.node : -1;
}

/* QuantizeLinear(f_k(...f_1(DQ(a)))) with each f an elementwise float op of the value before it (and of
 * constant scalars, float or dequantized), every f's output read once  =>  QLinearLookup(a, table):
 * BERT's GELU in a QDQ model quantizes x / sqrt(2) -> Erf, and 1 + that, each as such a chain. The
 * table runs the nodes themselves (the fold function: the same kernels as a run) over the 256
 * dequantized values of a. */
#define CHAIN_MAX 8
static sn_error *fuse_chain(sn_pass_ctx *c, int i, int *uses, bool *done) {
  sn_graph *g = c->g;
  *done = false;
  float ys;
  int32_t yz;
  sn_dtype ydt;
  if (!c->fold || !get_q(g, &g->nodes[i], &ys, &yz, &ydt) || g->nodes[i].out[0] < 0) return NULL;
  int chain[CHAIN_MAX], slot[CHAIN_MAX], len = 0, v = g->nodes[i].in[0];
  dq a;
  for (;;) {
    if (v < 0 || g->values[v].type.dtype != SINTER_FLOAT) return NULL;
    int p = g->values[v].producer;
    if (p < 0) return NULL;
    const sn_node *n = &g->nodes[p];
    if (op_is(n, "DequantizeLinear")) { /* (it stays for its other readers, if any) */
      if (!len || !get_dq(g, v, &a) || a.st->count != 1 || !a.zt || a.zt->count != 1) return NULL;
      break;
    }
    if (uses[v] != 1 || g->values[v].is_output) return NULL;
    if (len == CHAIN_MAX || !chain_op(n) || n->n_out != 1 || n->n_in < 1 || n->n_in > 3 || n->n_captures)
      return NULL;
    int flow = -1;
    for (int k = 0; k < n->n_in; k++) {
      if (n->in[k] < 0) continue;
      const sn_tensor *t = sn_graph_const(g, n->in[k]);
      if (t) {
        if (t->count != 1 || t->dtype != SINTER_FLOAT) return NULL;
        continue;
      }
      if (const_dq_scalar(g, n->in[k]) >= 0) continue;
      if (flow >= 0) return NULL;
      flow = k;
    }
    /* (a scalar constant of higher rank than the chain's value would reshape it) */
    if (flow < 0 || g->values[n->in[flow]].type.rank != g->values[v].type.rank) return NULL;
    chain[len] = p, slot[len] = flow, len++;
    v = n->in[flow];
  }
  /* the table: a's 256 codes dequantized, through the chain's nodes (first to last), quantized */
  bool as = a.zt->dtype == SINTER_INT8;
  uint8_t raw[256];
  for (int b = 0; b < 256; b++) raw[b] = (uint8_t)b;
  int32_t az = as ? *(const int8_t *)a.zt->data : *(const uint8_t *)a.zt->data;
  int64_t n256 = 256;
  sn_tensor *cur;
  sn_error *e = sn_tensor_new(SINTER_FLOAT, 1, &n256, &cur);
  if (e) return e;
  sn_dequantize_f32(raw, 256, as, az, *(const float *)a.st->data, cur->data);
  for (int k = len - 1; k >= 0 && !e; k--) {
    const sn_node *n = &g->nodes[chain[k]];
    const sn_tensor *in[3];
    sn_tensor *out = NULL, *dqs[3] = {0};
    for (int j = 0; j < n->n_in && !e; j++) {
      in[j] = j == slot[k] ? cur : n->in[j] < 0 ? NULL : sn_graph_const(g, n->in[j]);
      int d = j == slot[k] || in[j] || n->in[j] < 0 ? -1 : const_dq_scalar(g, n->in[j]);
      if (d >= 0) { /* a dequantized constant: the float scalar constant folding would make of it */
        const sn_node *dn = &g->nodes[d];
        const sn_tensor *din[3] = {0};
        for (int m = 0; m < dn->n_in && m < 3; m++) din[m] = dn->in[m] < 0 ? NULL : sn_graph_const(g, dn->in[m]);
        e = c->fold(NULL, g, dn, din, &dqs[j]);
        in[j] = dqs[j];
      }
    }
    if (!e) e = c->fold(NULL, g, n, in, &out);
    for (int j = 0; j < 3; j++) sn_tensor_free(dqs[j]);
    if (!e && (out->dtype != SINTER_FLOAT || out->count != 256)) {
      sn_tensor_free(out);
      out = NULL;
      e = sn_errorf(SINTER_ERR_RUNTIME, "not elementwise");
    }
    sn_tensor_free(cur);
    cur = out;
  }
  if (e) { /* not a table after all: the nodes stay as they are */
    sn_tensor_free(cur);
    sn_error_free(e);
    return NULL;
  }
  sn_tensor *tab;
  if ((e = sn_tensor_new(ydt, 1, &n256, &tab))) {
    sn_tensor_free(cur);
    return e;
  }
  sn_quantize_f32(cur->data, 256, ys, (float)yz, ydt == SINTER_INT8, tab->data);
  sn_tensor_free(cur);
  int tv;
  if ((e = sn_graph_add_initializer(g, g->values[g->nodes[i].out[0]].name, "_lut", tab, &tv))) return e;
  sn_node *n = &g->nodes[i];
  int in[2] = {a.q, tv};
  if ((e = set_inputs(n, in, 2)) || (e = retype(n, "QLinearLookup"))) return e;
  drop_attrs(n);
  for (int k = 0; k < len; k++) sn_node_clear(&g->nodes[chain[k]]);
  if ((e = sn_node_resolve(g, &g->nodes[i]))) return e;
  *done = true;
  c->changed++;
  return NULL;
}

/* DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scale) [-> Add bias] => DynamicQuantizeMatMul */
static sn_error *fuse_dynamic(sn_pass_ctx *c, int i, int *uses, bool *done) {
  sn_graph *g = c->g;
  sn_node *n = &g->nodes[i];
  *done = false;
  if (!op_is(n, "MatMulInteger") || n->n_in < 2 || n->out[0] < 0) return NULL;
  int dp = g->values[n->in[0]].producer;
  if (dp < 0) return NULL;
  const sn_node *d = &g->nodes[dp];
  if (!op_is(d, "DynamicQuantizeLinear") || d->n_out < 3 || d->out[0] != n->in[0]) return NULL;
  if (n->n_in > 2 && n->in[2] >= 0 && n->in[2] != d->out[2]) return NULL;
  const sn_tensor *wt = sn_graph_const(g, n->in[1]);
  if (!wt || !sn_dtype_q8(wt->dtype) || wt->rank != 2) return NULL;
  int64_t N = wt->dims[1];
  const sn_tensor *wz = n->n_in > 3 && n->in[3] >= 0 ? sn_graph_const(g, n->in[3]) : NULL;
  if (n->n_in > 3 && n->in[3] >= 0 && (!wz || wz->dtype != wt->dtype || (wz->count != 1 && wz->count != N))) return NULL;
  int cast = next_op(g, uses, n->out[0], "Cast");
  if (cast < 0 || sn_attr_int(&g->nodes[cast], "to", 0) != SINTER_FLOAT) return NULL;
  int mul = next_op(g, uses, g->nodes[cast].out[0], "Mul");
  if (mul < 0 || g->nodes[mul].n_in != 2) return NULL;
  const sn_node *mn = &g->nodes[mul];
  int sv = mn->in[0] == g->nodes[cast].out[0] ? mn->in[1] : mn->in[0];
  int sp = g->values[sv].producer;
  if (sp < 0 || !op_is(&g->nodes[sp], "Mul") || g->nodes[sp].n_in != 2) return NULL;
  const sn_node *sm = &g->nodes[sp];
  int wsv = sm->in[0] == d->out[1] ? sm->in[1] : sm->in[1] == d->out[1] ? sm->in[0] : -1;
  const sn_tensor *ws = wsv >= 0 ? sn_graph_const(g, wsv) : NULL;
  if (!ws || ws->dtype != SINTER_FLOAT || (ws->count != 1 && ws->count != N)) return NULL;
  /* the product must keep the MatMulInteger's shape (a per-column scale broadcast along the last dim) */
  const sn_type *mt = &g->values[mn->out[0]].type, *it = &g->values[n->out[0]].type;
  if (mt->rank != it->rank || (ws->count != 1 && ws->rank > 1)) return NULL;
  int tail = mn->out[0], add = next_op(g, uses, tail, "Add"), bias = -1;
  if (add >= 0) {
    const sn_node *an = &g->nodes[add];
    int other = an->in[0] == tail ? an->in[1] : an->in[0];
    if (an->n_in == 2 && const_vec(g, other, N) && g->values[an->out[0]].type.rank == mt->rank) {
      bias = other;
      tail = an->out[0];
    } else {
      add = -1;
    }
  }
  int in[5] = {d->in[0], n->in[1], wsv, wz ? n->in[3] : -1, bias};
  int k = bias >= 0 ? 5 : wz ? 4 : 3;
  sn_error *e;
  if ((e = set_inputs(n, in, k)) || (e = retype_in(n, "DynamicQuantizeMatMul", "com.microsoft"))) return e;
  drop_attrs(n);
  n->out[0] = tail;
  sn_node_clear(&g->nodes[cast]);
  sn_node_clear(&g->nodes[mul]);
  if (add >= 0) sn_node_clear(&g->nodes[add]);
  if ((e = sn_node_resolve(g, n))) return e;
  *done = true;
  c->changed++;
  return NULL;
}

/* nodes left without readers whose work would be wasted (the scale Mul, DynamicQuantizeLinear) or
 * that constant folding would turn into float copies (DequantizeLinear) */
/* equal shapes and types: every dimension the same size or the same named one (a batch) */
static bool same_shape(const sn_type *a, const sn_type *b) {
  if (a->kind != SN_KIND_TENSOR || b->kind != SN_KIND_TENSOR || a->rank < 0 || a->rank != b->rank || !a->dtype ||
      a->dtype != b->dtype)
    return false;
  for (int d = 0; d < a->rank; d++) {
    const sn_dim *x = &a->dims[d], *y = &b->dims[d];
    if (x->v >= 0 ? x->v != y->v : (y->v >= 0 || !x->sym || !y->sym || strcmp(x->sym, y->sym))) return false;
  }
  return true;
}

/* sinter:QLinearConv (8-bit out, read only by the Add) -> com.microsoft:QLinearAdd of an operand of the
 * same shape => the conv with the Add's other operand and parameters as inputs 9..15 (ops/conv.c) */
static sn_error *fuse_residual(sn_pass_ctx *c, int i, int *uses, bool *done) {
  sn_graph *g = c->g;
  sn_node *n = &g->nodes[i];
  *done = false;
  if (!n->op_type || strcmp(n->op_type, "QLinearAdd") || !n->domain || strcmp(n->domain, "com.microsoft") ||
      n->n_in < 8 || n->out[0] < 0)
    return NULL;
  /* the conv whose other operand is computed before it first (either one otherwise: the pass re-sorts
   * the nodes at its end, as the conv then reads a value produced after it) */
  int first = 0;
  for (int side = 0; side < 2; side++) {
    int v = n->in[3 * side], other = n->in[3 * (1 - side)];
    if (v >= 0 && other >= 0 && g->values[v].producer >= 0 && g->values[other].producer > g->values[v].producer)
      first = 1 - side;
  }
  for (int k = 0; k < 2; k++) {
    const int side = k ? 1 - first : first;
    int v = n->in[3 * side], other = n->in[3 * (1 - side)];
    if (v < 0 || other < 0 || other == v || uses[v] != 1 || g->values[v].is_output) continue;
    if (g->values[v].producer < 0) continue;
    sn_node *cv = &g->nodes[g->values[v].producer];
    if (!cv->op_type || strcmp(cv->op_type, "QLinearConv") || !cv->domain || strcmp(cv->domain, "sinter") ||
        cv->n_in < 8 || cv->n_in > 9 || cv->in[6] < 0)
      continue;
    if (!same_shape(&g->values[v].type, &g->values[other].type) ||
        !same_shape(&g->values[v].type, &g->values[n->out[0]].type))
      continue;
    if (n->in[3 * side + 1] < 0 || n->in[3 * (1 - side) + 1] < 0 || n->in[6] < 0) continue;
    int in[16];
    for (int k = 0; k < 9; k++) in[k] = k < cv->n_in ? cv->in[k] : -1;
    in[9] = other, in[10] = n->in[3 * (1 - side) + 1], in[11] = n->in[3 * (1 - side) + 2];
    in[12] = n->in[3 * side + 1], in[13] = n->in[3 * side + 2];
    in[14] = n->in[6], in[15] = n->n_in > 7 ? n->in[7] : -1;
    sn_error *e;
    if ((e = set_inputs(cv, in, 16)) || (e = sn_node_set_int(cv, "residual_is_a", side == 1))) return e;
    cv->out[0] = n->out[0];
    sn_node_clear(n);
    if ((e = sn_node_resolve(g, cv))) return e;
    *done = true;
    c->changed++;
    return NULL;
  }
  return NULL;
}

static void drop_dead(sn_graph *g, const int *uses) {
  for (int i = 0; i < g->n_nodes; i++) {
    sn_node *n = &g->nodes[i];
    if (!op_is(n, "DequantizeLinear") && !op_is(n, "DynamicQuantizeLinear") && !op_is(n, "Mul")) continue;
    bool used = false;
    for (int o = 0; o < n->n_out; o++) used |= n->out[o] >= 0 && (uses[n->out[o]] > 0 || g->values[n->out[o]].is_output);
    if (!used) sn_node_clear(n);
  }
}

sn_error *sn_pass_fuse_qdq(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  int fused = 0, residuals = 0, swapped = 0;
  /* tables first (the SiLU's Mul is not a QLinearMul), from the end (a SiLU's last Q before the Q of
   * its Sigmoid, which alone would make a table of the Sigmoid) */
  for (int i = g->n_nodes - 1; i >= 0 && !e; i--) {
    bool done;
    e = fuse_lut(c, i, uses, &done);
    if (!e && !done) e = fuse_chain(c, i, uses, &done);
    if (done) {
      fused++;
      sn_free(uses);
      if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
    }
  }
  for (int i = 0; i < g->n_nodes && !e; i++) {
    bool done;
    e = fuse_one(c, i, uses, &done);
    if (!e && !done) e = fuse_add(c, i, uses, &done);
    if (!e && !done) e = fuse_const_binary(c, i, uses, &done);
    if (!e && !done) e = fuse_dynamic(c, i, uses, &done);
    if (!e && !done) e = fuse_same_q(c, i, uses, &done);
    if (!e && !done) e = shape_through_q(c, i, &done);
    if (!e && !done) e = fuse_rows(c, i, uses, &done);
    if (!e && !done) e = fuse_act_matmul(c, i, uses, &done);
    if (!e && !done) {
      e = swap_gather(c, i, uses, &done);
      swapped += done;
    }
    if (done) {
      fused++;
      sn_free(uses);
      if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
    }
  }
  if (!e && fused) {
    for (int round = 0; round < 2; round++) { /* a chain: the scale Mul, then its DynamicQuantizeLinear */
      drop_dead(g, uses);
      sn_free(uses);
      if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
    }
  }
  /* once the loop above has made the QLinearConv / QLinearAdd pairs and the DQ nodes that read them
   * are gone */
  sn_graph_update_producers(g); /* the fusions above moved outputs between nodes */
  for (int i = 0; i < g->n_nodes && !e; i++) {
    bool done;
    e = fuse_residual(c, i, uses, &done);
    residuals += done;
    if (done) {
      sn_graph_update_producers(g);
      sn_free(uses);
      if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
    }
  }
  sn_free(uses);
  if (e) return e;
  sn_graph_compact(g);
  /* a residual fused into a conv computed before the other operand's producer (both branches of a
   * RegNet block are convs): the conv moves after it */
  return residuals || swapped ? sn_graph_toposort(g) : NULL;
}
