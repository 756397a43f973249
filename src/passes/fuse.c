/* Level 2 passes: fusions.
 *  - BatchNormalization folded into the weights of the Conv before it, a per-column Mul into those of
 *    the MatMul (and bias Add) before it;
 *  - GELU recognised from its Erf or Tanh form, LayerNormalization from its decomposed form, and a residual
 *    Add before a LayerNormalization folded into com.microsoft SkipLayerNormalization;
 *  - Conv / Gemm / MatMul (and the INT8 products com.microsoft DynamicQuantizeMatMul and
 *    MatMulIntegerToFloat) + bias Add + residual Add + activation into one sinter:Fused* node
 *    (src/ops/fused.c), the activation being Relu, LeakyRelu, Sigmoid, Tanh, HardSigmoid,
 *    HardSwish, Clip (Relu6), Gelu or SiLU (x * Sigmoid(x));
 *  - Transposes of 2-D Gemm operands folded into transA / transB. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/ref/nn_util.h"
#include "passes/passes.h"

static bool is_f32(const sn_graph *g, int v) { return v >= 0 && g->values[v].type.dtype == SINTER_FLOAT; }

/* The scalar value of a constant (any float/int dtype, one element), or NAN. */
/* For a binary node reading v, the other operand; -1 if v is not one of its two inputs. */
static int other_input(const sn_node *n, int v) {
  if (n->n_in != 2) return -1;
  if (n->in[0] == v) return n->in[1];
  if (n->in[1] == v) return n->in[0];
  return -1;
}

static sn_error *finish(sn_pass_ctx *c) {
  sn_graph_compact(c->g);
  return NULL;
}

/* ---- BatchNormalization into Conv ----------------------------------------------------------------- */

sn_error *sn_pass_fold_batchnorm(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *conv = &g->nodes[i];
    if (!sn_node_is(conv, "Conv") || conv->n_in < 2 || !is_f32(g, conv->out[0])) continue;
    int j = sn_graph_sole_consumer(g, uses, conv->out[0]);
    if (j < 0) continue;
    sn_node *bn = &g->nodes[j];
    if (!sn_node_is(bn, "BatchNormalization") || bn->n_in < 5 || bn->in[0] != conv->out[0]) continue;
    const sn_tensor *w = sn_graph_const(g, conv->in[1]);
    const sn_tensor *b = conv->n_in > 2 && conv->in[2] >= 0 ? sn_graph_const(g, conv->in[2]) : NULL;
    if (!w || w->dtype != SINTER_FLOAT || w->rank < 3 || (conv->n_in > 2 && conv->in[2] >= 0 && !b)) continue;
    int64_t co = w->dims[0];
    sn_bn_consts bc;
    if (!sn_graph_bn_consts(g, bn, co, &bc) || (b && (b->dtype != SINTER_FLOAT || b->count != co))) continue;
    sn_tensor *nw = NULL, *nb = NULL;
    if ((e = sn_tensor_new(SINTER_FLOAT, w->rank, w->dims, &nw))) break;
    if ((e = sn_tensor_new(SINTER_FLOAT, 1, &co, &nb))) {
      sn_tensor_free(nw);
      break;
    }
    int64_t per = w->count / co;
    const float *sw = w->data, *sb = bc.bias, *sm = bc.mean;
    float *dw = nw->data, *db = nb->data;
    for (int64_t o = 0; o < co; o++) {
      double s = (double)bc.scale[o] / sqrt((double)bc.var[o] + bc.eps);
      for (int64_t k = 0; k < per; k++) dw[o * per + k] = (float)((double)sw[o * per + k] * s);
      double b0 = b ? (double)((const float *)b->data)[o] : 0.0;
      db[o] = (float)((b0 - (double)sm[o]) * s + (double)sb[o]);
    }
    int wid, bid;
    const char *base = g->values[conv->in[1]].name;
    if ((e = sn_graph_add_initializer(g, base, "_bnfolded", nw, &wid))) {
      sn_tensor_free(nb);
      break;
    }
    if ((e = sn_graph_add_initializer(g, base, "_bnfolded_bias", nb, &bid))) break;
    conv = &g->nodes[i]; /* (values may have moved; nodes did not) */
    bn = &g->nodes[j];
    conv->in[1] = wid;
    if (conv->n_in > 2)
      conv->in[2] = bid;
    else if ((e = sn_node_add_input(conv, bid)))
      break;
    conv->out[0] = bn->out[0];
    sn_node_clear(bn);
    if ((e = sn_node_resolve(g, conv))) break;
    c->changed++;
    sn_free(uses);
    if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
  }
  sn_free(uses);
  if (e) return e;
  return finish(c);
}

/* ---- a per-column scale after a MatMul folded into its weights -----------------------------------------
 * MatMul(x, W) [+ b] [-> Transpose] then Mul by a constant s that varies only along the axis where
 * the MatMul's last dimension lands: (x W + b) * s = x (W diag s) + b * s. ConvNeXt's layer scale
 * (gamma [C, 1, 1], after each block's second Linear and the Transpose back to NCHW) is such a Mul:
 * one pass less over the block's output, 18 of them a run. W [K, N] and b [N] are float32
 * constants; new initializers take the scaled values (others reading W keep theirs). */

/* the N floats of a constant that, broadcast against a rank-r value, multiplies axis ax only; or NULL */
static const float *axis_scale(const sn_graph *g, int v, int64_t N, int r, int ax) {
  const sn_tensor *t = sn_graph_const(g, v);
  if (!t || t->dtype != SINTER_FLOAT || t->count != N || t->rank > r) return NULL;
  int i = ax - (r - t->rank); /* its dimension on that axis (right-aligned) */
  if (N > 1 && (i < 0 || t->dims[i] != N)) return NULL;
  return t->data;
}

sn_error *sn_pass_fold_matmul_scale(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *mm = &g->nodes[i];
    if (!sn_node_is(mm, "MatMul") || mm->n_in != 2 || mm->n_out != 1 || !is_f32(g, mm->out[0])) continue;
    const sn_tensor *w = sn_graph_const(g, mm->in[1]);
    const sn_type *yt = &g->values[mm->out[0]].type;
    if (!w || w->dtype != SINTER_FLOAT || w->rank != 2 || yt->rank < 1) continue;
    const int64_t K = w->dims[0], N = w->dims[1];
    int y = mm->out[0], jb = -1, jm = sn_graph_sole_consumer(g, uses, y);
    const sn_tensor *b = NULL;
    int bslot = -1;
    /* an optional bias Add of N constants */
    if (jm >= 0 && sn_node_is(&g->nodes[jm], "Add") && g->nodes[jm].n_in == 2) {
      int o = other_input(&g->nodes[jm], y);
      const sn_tensor *bt = o >= 0 ? sn_graph_const(g, o) : NULL;
      if (bt && bt->dtype == SINTER_FLOAT && bt->rank == 1 && bt->count == N) {
        b = bt;
        jb = jm;
        bslot = g->nodes[jm].in[0] == o ? 0 : 1;
        y = g->nodes[jm].out[0];
        jm = sn_graph_sole_consumer(g, uses, y);
      }
    }
    /* an optional Transpose: the last dimension moves to the axis that perm names it at */
    int r = yt->rank, ax = r - 1, last = jb >= 0 ? jb : i; /* last: the node the Mul reads */
    if (jm >= 0 && sn_node_is(&g->nodes[jm], "Transpose")) {
      const int64_t *perm;
      int np = sn_attr_ints(&g->nodes[jm], "perm", &perm);
      ax = np < 0 ? 0 : -1; /* (no perm: the dimensions reversed, the last first) */
      for (int d = 0; d < np && np == r; d++)
        if (perm[d] == r - 1) ax = d;
      if (ax < 0) continue;
      last = jm;
      y = g->nodes[jm].out[0];
      jm = sn_graph_sole_consumer(g, uses, y);
    }
    if (jm < 0 || !sn_node_is(&g->nodes[jm], "Mul") || g->nodes[jm].n_in != 2) continue;
    int so = other_input(&g->nodes[jm], y);
    const float *sc = so >= 0 && so != y ? axis_scale(g, so, N, r, ax) : NULL;
    const sn_type *mt = &g->values[g->nodes[jm].out[0]].type;
    if (!sc || mt->rank != r || g->values[y].type.rank != r) continue; /* s must not add dims */
    sn_tensor *nw = NULL, *nb = NULL;
    if ((e = sn_tensor_new(SINTER_FLOAT, 2, w->dims, &nw))) break;
    const float *sw = w->data;
    float *dw = nw->data;
    for (int64_t k = 0; k < K; k++)
      for (int64_t n = 0; n < N; n++) dw[k * N + n] = sw[k * N + n] * sc[n];
    if (b) {
      if ((e = sn_tensor_new(SINTER_FLOAT, 1, &N, &nb))) {
        sn_tensor_free(nw);
        break;
      }
      const float *sb = b->data;
      float *db = nb->data;
      for (int64_t n = 0; n < N; n++) db[n] = sb[n] * sc[n];
    }
    int wid, bid = -1;
    const char *base = g->values[mm->in[1]].name;
    if ((e = sn_graph_add_initializer(g, base, "_scaled", nw, &wid))) {
      sn_tensor_free(nb);
      break;
    }
    if (nb && (e = sn_graph_add_initializer(g, base, "_scaled_bias", nb, &bid))) break;
    mm = &g->nodes[i]; /* (values may have moved; nodes did not) */
    mm->in[1] = wid;
    if (jb >= 0) g->nodes[jb].in[bslot] = bid;
    g->nodes[last].out[0] = g->nodes[jm].out[0]; /* the MatMul, its bias Add or the Transpose */
    sn_node_clear(&g->nodes[jm]);
    if ((e = sn_node_resolve(g, mm)) || (jb >= 0 && (e = sn_node_resolve(g, &g->nodes[jb])))) break;
    c->changed++;
    sn_free(uses);
    if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
  }
  sn_free(uses);
  if (e) return e;
  return finish(c);
}

/* ---- Conv taps that read only padding --------------------------------------------------------------
 * A kernel row (or column, or plane) that lands in the zero padding at every output position multiplies
 * zeros: DeepLabV3's ASPP runs 3x3 convolutions at dilation 12, 24 and 36 over a 16x16 map (MobileNetV3
 * backbone, 256x256 input), where at 24 and 36 only the centre tap ever reads the input. The kernel is
 * cut to the taps that can read it and the pads shrunk by as much, so every output keeps its sum (less
 * terms that were exact zeros) and such a layer becomes a 1x1 convolution. Needs the input's spatial
 * size known at load. */

/* the first and last taps of one spatial dim that read the input at some output position; false
 * when none does */
static bool live_taps(int64_t in, int64_t out, int64_t K, int64_t s, int64_t dil, int64_t pb, int64_t *k0, int64_t *k1) {
  *k0 = -1;
  for (int64_t k = 0; k < K; k++) {
    int64_t first = pb - k * dil; /* the position o*s must reach for the tap to read row 0 */
    int64_t o = first <= 0 ? 0 : (first + s - 1) / s;
    if (o < out && o * s - pb + k * dil < in) {
      if (*k0 < 0) *k0 = k;
      *k1 = k;
    }
  }
  return *k0 >= 0;
}

sn_error *sn_pass_trim_conv_taps(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  sn_error *e = NULL;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *n = &g->nodes[i];
    if (!sn_node_is(n, "Conv") || n->n_in < 2 || !is_f32(g, n->out[0])) continue;
    const sn_tensor *w = sn_graph_const(g, n->in[1]);
    const sn_type *xt = &g->values[n->in[0]].type;
    if (!w || w->dtype != SINTER_FLOAT || w->rank < 3 || xt->rank != w->rank) continue;
    const int nd = w->rank - 2;
    int64_t in[SN_MAX_RANK], k[SN_MAX_RANK];
    bool known = true;
    for (int d = 0; d < nd; d++) {
      in[d] = xt->dims[2 + d].v;
      k[d] = w->dims[2 + d];
      known &= in[d] > 0;
    }
    if (!known) continue;
    sn_window_attrs a;
    sn_error *pe = sn_window_parse(n, &a);
    if (pe) { /* a bad attribute: the op reports it */
      sn_error_free(pe);
      continue;
    }
    sn_window win;
    char msg[256];
    if (!sn_window_resolve(&a, nd, in, k, false, &win, msg, sizeof msg)) continue;
    int64_t k0[SN_MAX_RANK], k1[SN_MAX_RANK], pads[2 * SN_MAX_RANK], nk[SN_MAX_RANK];
    bool trim = false, ok = true;
    for (int d = 0; d < nd && ok; d++) {
      ok = win.out[d] > 0 && live_taps(in[d], win.out[d], k[d], win.stride[d], win.dil[d], win.pad_begin[d], &k0[d], &k1[d]);
      if (!ok) break;
      pads[d] = win.pad_begin[d] - k0[d] * win.dil[d];
      pads[nd + d] = win.pad_end[d] - (k[d] - 1 - k1[d]) * win.dil[d];
      nk[d] = k1[d] - k0[d] + 1;
      ok = pads[d] >= 0 && pads[nd + d] >= 0; /* (else the cut would need negative pads) */
      trim |= nk[d] < k[d];
    }
    if (!ok || !trim) continue;
    int64_t dims[SN_MAX_RANK];
    dims[0] = w->dims[0];
    dims[1] = w->dims[1];
    for (int d = 0; d < nd; d++) dims[2 + d] = nk[d];
    sn_tensor *nw;
    if ((e = sn_tensor_new(SINTER_FLOAT, w->rank, dims, &nw))) break;
    /* copy the kept taps: every (output, input channel) pair, then the kept window of its kernel */
    const int64_t pairs = w->dims[0] * w->dims[1];
    int64_t kin = 1, kout = 1;
    for (int d = 0; d < nd; d++) kin *= k[d], kout *= nk[d];
    const float *src = w->data;
    float *dst = nw->data;
    int64_t *off = sn_malloc(sizeof(int64_t) * (size_t)kout); /* each kept tap's place in the old kernel */
    if (!off) {
      sn_tensor_free(nw);
      e = SN_ERR_OOM();
      break;
    }
    for (int64_t t = 0; t < kout; t++) {
      int64_t rem = t, o = 0, stride = 1;
      for (int d = nd - 1; d >= 0; d--) {
        o += (rem % nk[d] + k0[d]) * stride;
        rem /= nk[d];
        stride *= k[d];
      }
      off[t] = o;
    }
    for (int64_t pr = 0; pr < pairs; pr++)
      for (int64_t t = 0; t < kout; t++) dst[pr * kout + t] = src[pr * kin + off[t]];
    sn_free(off);
    int wid;
    if ((e = sn_graph_add_initializer(g, g->values[n->in[1]].name, "_trimmed", nw, &wid))) break;
    n = &g->nodes[i];
    n->in[1] = wid;
    if ((e = sn_node_set_ints(n, "kernel_shape", nk, nd))) break;
    if ((e = sn_node_set_ints(n, "pads", pads, 2 * nd))) break;
    if ((e = sn_node_set_str(n, "auto_pad", "NOTSET"))) break;
    if ((e = sn_node_resolve(g, n))) break;
    c->changed++;
  }
  if (e) return e;
  return finish(c);
}

/* ---- zero Pad into the Conv or AveragePool that reads it --------------------------------------------
 * Pad(x, constant 0) of the spatial dims before a Conv (TensorFlow's exports pad explicitly before a
 * strided convolution: Keras' ZeroPadding2D, "SAME" padding with a stride): the convolution's own pads
 * grow by as much, the same zeros enter the same sums, and the padded copy goes (with it, on blocked
 * layouts, the reorders around the Pad), also through a Transpose between the two (tf2onnx pads in
 * NHWC). An AveragePool takes it when it counts padding in its mean
 * (count_include_pad, set when it had no pads of its own) and rounds its output size down, a MaxPool
 * when what the Pad reads is never negative (max_takes_zero_pad); and a Pad of an 8-bit value with
 * its zero point into the QLinearConv reading it (fuse-qdq makes those of a QDQ model's float Pads). */

/* Pad n's begin/end amounts for each of x's `rank` dims and its value when it pads with a constant:
 * true */
static bool const_pad_amounts(const sn_graph *g, const sn_node *n, int rank, int64_t *pads, double *value) {
  if (strcmp(sn_attr_str(n, "mode", "constant"), "constant")) return false;
  *value = sn_attr_float(n, "value", 0.0f); /* (before opset 11) */
  if (n->n_in > 2 && n->in[2] >= 0) *value = sn_graph_const_scalar(g, n->in[2]);
  return !isnan(*value) && sn_graph_pad_amounts(g, n, rank, pads);
}

/* is v never negative: made by an op whose outputs are all >= 0 (or NaN) */
static bool nonnegative(const sn_graph *g, int v) {
  int pi = v >= 0 ? g->values[v].producer : -1;
  if (pi < 0) return false;
  const sn_node *p = &g->nodes[pi];
  if (sn_node_is(p, "Relu") || sn_node_is(p, "Sigmoid") || sn_node_is(p, "HardSigmoid") || sn_node_is(p, "Softmax") ||
      sn_node_is(p, "Exp") || sn_node_is(p, "Abs"))
    return true;
  if (sn_node_is(p, "Clip")) return p->n_in > 1 && sn_graph_const_scalar(g, p->in[1]) >= 0.0;
  if (p->domain && !strcmp(p->domain, "sinter") && !strncmp(p->op_type, "Fused", 5)) {
    const char *a = sn_attr_str(p, "activation", "");
    return !strcmp(a, "Relu") || !strcmp(a, "Sigmoid") || !strcmp(a, "HardSigmoid") ||
           (!strcmp(a, "Clip") && sn_attr_float(p, "act_alpha", -1.0f) >= 0.0f);
  }
  return false;
}

/* A MaxPool reads padding as -inf, a Pad of zeros writes 0s: the same maxima where the input is never
 * negative and every window still holds an input element (the pads, its own and the Pad's, under the
 * window's span; no ceil_mode, whose extra windows may hold none; no indices output). Keras pads
 * explicitly before its stems' max pools, which read a ReLU. */
static bool max_takes_zero_pad(const sn_graph *g, int x, const sn_node *op, const int64_t *pp, int r) {
  const int nd = r - 2;
  if (!nonnegative(g, x) || sn_attr_int(op, "ceil_mode", 0) || sn_attr_int(op, "storage_order", 0)) return false;
  if (op->n_out > 1 && op->out[1] >= 0) return false;
  const int64_t *ks, *dl, *own;
  if (sn_attr_ints(op, "kernel_shape", &ks) != nd) return false;
  int ndl = sn_attr_ints(op, "dilations", &dl), no = sn_attr_ints(op, "pads", &own);
  if ((ndl >= 0 && ndl != nd) || (no >= 0 && no != 2 * nd)) return false;
  for (int d = 0; d < nd; d++) {
    int64_t span = (ks[d] - 1) * (ndl >= 0 ? dl[d] : 1) + 1;
    int64_t b = pp[2 + d] + (no >= 0 ? own[d] : 0), e = pp[r + 2 + d] + (no >= 0 ? own[nd + d] : 0);
    if (b >= span || e >= span) return false;
  }
  return true;
}

sn_error *sn_pass_fuse_pad(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_graph_update_producers(g);
  sn_error *e = NULL;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *pad = &g->nodes[i];
    if (!sn_node_is(pad, "Pad") || pad->n_in < 1 || pad->in[0] < 0 || pad->n_out < 1 || pad->out[0] < 0) continue;
    const sn_type *xt = &g->values[pad->in[0]].type;
    const int r = xt->rank, nd = r - 2;
    if (xt->kind != SN_KIND_TENSOR || r < 3 || r > SN_MAX_RANK) continue;
    int64_t pp[2 * SN_MAX_RANK], perm[SN_MAX_RANK];
    double value;
    if (!const_pad_amounts(g, pad, r, pp, &value)) continue;
    int j = sn_graph_sole_consumer(g, uses, pad->out[0]), t = -1;
    /* a Transpose between (tf2onnx pads channels-last, then transposes to NCHW for the Conv): the
     * pads of its output's dim d are those of the input's dim perm[d] */
    if (j >= 0 && sn_node_is(&g->nodes[j], "Transpose") && g->nodes[j].n_out == 1) {
      const int64_t *pv;
      int np = sn_attr_ints(&g->nodes[j], "perm", &pv);
      bool valid = np == r || np < 0;
      for (int d = 0; d < r && valid; d++) {
        perm[d] = np < 0 ? r - 1 - d : pv[d];
        valid = perm[d] >= 0 && perm[d] < r;
      }
      if (!valid) continue;
      int64_t tp[2 * SN_MAX_RANK];
      for (int d = 0; d < r; d++) tp[d] = pp[perm[d]], tp[r + d] = pp[r + perm[d]];
      memcpy(pp, tp, sizeof tp);
      t = j;
      j = sn_graph_sole_consumer(g, uses, g->nodes[t].out[0]);
    }
    bool ok = !pp[0] && !pp[1] && !pp[r] && !pp[r + 1]; /* neither batch nor channels */
    for (int d = 2; d < r && ok; d++) ok = pp[d] >= 0 && pp[r + d] >= 0;
    if (!ok || j < 0) continue;
    sn_node *op = &g->nodes[j];
    const bool conv = sn_node_is(op, "Conv"), avg = sn_node_is(op, "AveragePool"), max = sn_node_is(op, "MaxPool");
    /* (QLinearConv pads with its input's zero point; the QDQ pass's sinter form takes the same inputs) */
    const bool qconv = sn_node_is(op, "QLinearConv") ||
                       (op->op_type && op->domain && !strcmp(op->domain, "sinter") && !strcmp(op->op_type, "QLinearConv"));
    if ((!conv && !avg && !max && !qconv) || op->in[0] != (t >= 0 ? g->nodes[t].out[0] : pad->out[0])) continue;
    if (qconv ? value != (op->n_in > 2 && op->in[2] >= 0 ? sn_graph_const_scalar(g, op->in[2]) : 0.0) : value != 0.0)
      continue;
    if (max && !max_takes_zero_pad(g, pad->in[0], op, pp, r)) continue;
    if (strcmp(sn_attr_str(op, "auto_pad", "NOTSET"), "NOTSET") && strcmp(sn_attr_str(op, "auto_pad", "NOTSET"), "VALID"))
      continue; /* (SAME_*: pads from the size the op sees) */
    int64_t np[2 * SN_MAX_RANK] = {0};
    const int64_t *own;
    int no = sn_attr_ints(op, "pads", &own);
    if (!strcmp(sn_attr_str(op, "auto_pad", "NOTSET"), "VALID")) no = -1; /* (its pads are ignored) */
    if (no >= 0 && no != 2 * nd) continue;
    bool own_zero = true;
    for (int k = 0; k < 2 * nd && no >= 0; k++) {
      np[k] = own[k];
      own_zero &= own[k] == 0;
    }
    bool set_include = false;
    if (avg) {
      if (sn_attr_int(op, "ceil_mode", 0) != 0) continue; /* (windows past the input are dropped there) */
      if (sn_attr_int(op, "count_include_pad", 0) == 0) {
        if (!own_zero) continue; /* its own pads are not counted, the Pad's would be */
        set_include = true;
      }
    }
    for (int d = 0; d < nd; d++) {
      np[d] += pp[2 + d];
      np[nd + d] += pp[r + 2 + d];
    }
    int x = pad->in[0];
    if (t >= 0) { /* the Transpose now reads x itself: its output is a new, smaller value */
      int z;
      if ((e = sn_graph_add_value_permuted(g, x, "_transposed", perm, r, &z))) break;
      g->nodes[t].in[0] = x;
      g->nodes[t].out[0] = z;
      x = z;
      op = &g->nodes[j];
    }
    op->in[0] = x;
    if ((e = sn_node_set_ints(op, "pads", np, 2 * nd))) break;
    if ((e = sn_node_set_str(op, "auto_pad", "NOTSET"))) break;
    if (set_include && (e = sn_node_set_int(op, "count_include_pad", 1))) break;
    sn_node_clear(&g->nodes[i]);
    if ((e = sn_node_resolve(g, &g->nodes[j]))) break;
    c->changed++;
    if (t >= 0) { /* (new values: the counts grow with them) */
      sn_free(uses);
      if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
    }
  }
  sn_free(uses);
  if (e) return e;
  return finish(c);
}

/* ---- GELU from x * 0.5 * (1 + erf(x / sqrt 2)) or x * 0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) -- */

static bool near(double a, double b) { return fabs(a - b) <= 1e-4 * fabs(b); }

static sn_error *make_unary(sn_pass_ctx *c, sn_node *n, const char *op, int x, int y) {
  /* rewrite node n in place into op(x) -> y */
  sn_graph *g = c->g;
  int64_t opset = sn_model_opset(g->model, "");
  bool std_op = !strcmp(op, "Gelu") ? opset >= 20 : opset >= 17;
  SN_TRY(sn_node_retype(n, std_op ? "" : "sinter", op, std_op ? (int)opset : 1, true));
  n->in[0] = x;
  n->n_in = 1;
  n->out[0] = y;
  n->n_out = 1;
  return NULL;
}

/* A float32 value as a polynomial of degree <= 3 in one value x: c[0] + c[1] x + c[2] x^2 + c[3] x^3,
 * through single-use Mul, Add, Sub, Div (by a constant) and Pow (to 1, 2 or 3) nodes over x and scalar
 * constants. The walk stops at x: the first value it meets that is not such a node, or is read twice
 * (GELU's x is read by both terms and the final product). The nodes are listed for removal. */
enum { POLY_MAX_NODES = 16 };
typedef struct poly_walk {
  const sn_graph *g;
  const int *uses;
  int x; /* -1 until the walk meets it */
  int nodes[POLY_MAX_NODES], n_nodes;
} poly_walk;

static bool poly_of(poly_walk *w, int v, double c[4], int depth) {
  const sn_graph *g = w->g;
  for (int k = 0; k < 4; k++) c[k] = 0;
  const double k = sn_graph_const_scalar(g, v);
  if (!isnan(k)) {
    c[0] = k;
    return true;
  }
  if (v < 0 || !is_f32(g, v)) return false;
  const int p = g->values[v].producer;
  const sn_node *n = p >= 0 ? &g->nodes[p] : NULL;
  const bool inner = n && v != w->x && w->uses[v] == 1 && n->n_in == 2 && n->n_out == 1 &&
                     (sn_node_is(n, "Mul") || sn_node_is(n, "Add") || sn_node_is(n, "Sub") || sn_node_is(n, "Div") ||
                      sn_node_is(n, "Pow"));
  if (!inner) { /* the variable */
    if (w->x < 0) w->x = v;
    c[1] = 1;
    return v == w->x;
  }
  if (depth >= 8 || w->n_nodes >= POLY_MAX_NODES) return false;
  w->nodes[w->n_nodes++] = p;
  double a[4], b[4];
  if (!poly_of(w, n->in[0], a, depth + 1)) return false;
  if (sn_node_is(n, "Pow") || sn_node_is(n, "Div")) { /* by a constant */
    const double e = sn_graph_const_scalar(g, n->in[1]);
    if (sn_node_is(n, "Div")) {
      if (isnan(e) || e == 0) return false;
      for (int i = 0; i < 4; i++) c[i] = a[i] / e;
      return true;
    }
    if (e != 1 && e != 2 && e != 3) return false;
    const double one[4] = {1, 0, 0, 0};
    memcpy(c, one, sizeof one);
    for (int r = 0; r < (int)e; r++) { /* c *= a */
      double t[4] = {0, 0, 0, 0};
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
          if (c[i] != 0 && a[j] != 0) {
            if (i + j > 3) return false;
            t[i + j] += c[i] * a[j];
          }
      memcpy(c, t, sizeof t);
    }
    return true;
  }
  if (!poly_of(w, n->in[1], b, depth + 1)) return false;
  if (sn_node_is(n, "Mul")) {
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++)
        if (a[i] != 0 && b[j] != 0) {
          if (i + j > 3) return false;
          c[i + j] += a[i] * b[j];
        }
  } else {
    const double s = sn_node_is(n, "Sub") ? -1 : 1;
    for (int i = 0; i < 4; i++) c[i] = a[i] + s * b[i];
  }
  return true;
}

/* GELU's last factors: the node that computes 0.5 * x * a from a = 1 + erf(..) or 1 + tanh(..), as
 * (x * a) * 0.5, (0.5 * a) * x or (x * 0.5) * a (either operand order in each Mul); its index, or -1.
 * *mid: the Mul before it on a's path, *aux: the x * 0.5 Mul off it (-1 where there is none). */
static int gelu_tail(const sn_graph *g, const int *uses, int x, int a, int *mid, int *aux) {
  *mid = *aux = -1;
  const int j1 = sn_graph_sole_consumer(g, uses, a);
  if (j1 < 0 || !sn_node_is(&g->nodes[j1], "Mul")) return -1;
  const int o1 = other_input(&g->nodes[j1], a);
  if (o1 < 0) return -1;
  if (o1 == x || near(sn_graph_const_scalar(g, o1), 0.5)) { /* the other factor in a second Mul */
    const int m = g->nodes[j1].out[0];
    const int j2 = sn_graph_sole_consumer(g, uses, m);
    if (j2 < 0 || !sn_node_is(&g->nodes[j2], "Mul")) return -1;
    const int o2 = other_input(&g->nodes[j2], m);
    if (o1 == x ? !near(sn_graph_const_scalar(g, o2), 0.5) : o2 != x) return -1;
    *mid = j1;
    return j2;
  }
  const int hp = g->values[o1].producer; /* a * (x * 0.5) */
  if (hp < 0 || uses[o1] != 1 || !sn_node_is(&g->nodes[hp], "Mul") ||
      !near(sn_graph_const_scalar(g, other_input(&g->nodes[hp], x)), 0.5))
    return -1;
  *aux = hp;
  return j1;
}

sn_error *sn_pass_fuse_gelu(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *f = &g->nodes[i];
    const bool is_erf = sn_node_is(f, "Erf");
    if (!(is_erf || sn_node_is(f, "Tanh")) || f->n_in != 1 || !is_f32(g, f->out[0])) continue;
    /* the argument, a polynomial of x: x / sqrt 2 for erf; sqrt(2 / pi) (x + 0.044715 x^3) for tanh */
    poly_walk w = {g, uses, -1, {0}, 0};
    double p[4];
    if (g->values[f->in[0]].producer < 0 || uses[f->in[0]] != 1 || !poly_of(&w, f->in[0], p, 0) || w.x < 0 ||
        !is_f32(g, w.x) || fabs(p[0]) > 1e-6 || fabs(p[2]) > 1e-6)
      continue;
    if (is_erf ? !(near(p[1], 0.7071067811865476) && fabs(p[3]) <= 1e-6)
               : !(near(p[1], 0.7978845608028654) && near(p[3], 0.7978845608028654 * 0.044715)))
      continue;
    const int x = w.x;
    const int ja = sn_graph_sole_consumer(g, uses, f->out[0]);
    if (ja < 0 || !sn_node_is(&g->nodes[ja], "Add") ||
        !near(sn_graph_const_scalar(g, other_input(&g->nodes[ja], f->out[0])), 1.0))
      continue;
    int mid, aux;
    const int jt = gelu_tail(g, uses, x, g->nodes[ja].out[0], &mid, &aux);
    if (jt < 0) continue;
    const int out = g->nodes[jt].out[0];
    if (g->values[out].type.rank != g->values[x].type.rank) continue; /* (a constant that broadcasts x up) */
    if ((e = make_unary(c, &g->nodes[jt], "Gelu", x, out))) break;
    if (!is_erf && (e = sn_node_set_str(&g->nodes[jt], "approximate", "tanh"))) break;
    if ((e = sn_node_resolve(g, &g->nodes[jt]))) break;
    /* the Gelu node sits where the last Mul was, after every node it replaces reads x */
    for (int k = 0; k < w.n_nodes; k++) sn_node_clear(&g->nodes[w.nodes[k]]);
    sn_node_clear(&g->nodes[i]);
    sn_node_clear(&g->nodes[ja]);
    if (mid >= 0) sn_node_clear(&g->nodes[mid]);
    if (aux >= 0) sn_node_clear(&g->nodes[aux]);
    c->changed++;
    sn_free(uses);
    if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
  }
  sn_free(uses);
  if (e) return e;
  return finish(c);
}

/* ---- LayerNormalization from ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add --------------------- */

static bool last_axis_reduce(const sn_graph *g, const sn_node *n) {
  if (!sn_node_is(n, "ReduceMean") || !sn_attr_int(n, "keepdims", 1)) return false;
  int rank = g->values[n->in[0]].type.rank;
  const int64_t *ax;
  int na = sn_attr_ints(n, "axes", &ax);
  if (na < 0 && n->n_in > 1 && n->in[1] >= 0) {
    const sn_tensor *t = sn_graph_const(g, n->in[1]);
    if (!t || t->dtype != SINTER_INT64) return false;
    na = (int)t->count;
    ax = t->data;
  }
  return na == 1 && rank > 0 && (ax[0] == -1 || ax[0] == rank - 1);
}

sn_error *sn_pass_fuse_layernorm(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *m1 = &g->nodes[i];
    if (!last_axis_reduce(g, m1) || !is_f32(g, m1->out[0])) continue;
    int x = m1->in[0];
    /* the Sub reading x and the mean; its output feeds Pow and Div */
    int js = -1;
    for (int k = 0; k < g->n_nodes && js < 0; k++) {
      const sn_node *s = &g->nodes[k];
      if (sn_node_is(s, "Sub") && s->in[0] == x && s->in[1] == m1->out[0]) js = k;
    }
    if (js < 0 || uses[m1->out[0]] != 1 || uses[g->nodes[js].out[0]] != 2) continue;
    int d = g->nodes[js].out[0];
    int jp = -1, jdiv = -1;
    for (int k = 0; k < g->n_nodes; k++) {
      const sn_node *s = &g->nodes[k];
      if (!s->op_type) continue;
      if ((sn_node_is(s, "Pow") && s->in[0] == d && near(sn_graph_const_scalar(g, s->in[1]), 2.0)) ||
          (sn_node_is(s, "Mul") && s->in[0] == d && s->in[1] == d))
        jp = k;
      if (sn_node_is(s, "Div") && s->in[0] == d) jdiv = k;
    }
    if (jp < 0 || jdiv < 0) continue;
    int jm2 = sn_graph_sole_consumer(g, uses, g->nodes[jp].out[0]);
    if (jm2 < 0 || !last_axis_reduce(g, &g->nodes[jm2])) continue;
    int jeps = sn_graph_sole_consumer(g, uses, g->nodes[jm2].out[0]);
    if (jeps < 0 || !sn_node_is(&g->nodes[jeps], "Add")) continue;
    double eps = sn_graph_const_scalar(g, other_input(&g->nodes[jeps], g->nodes[jm2].out[0]));
    if (!(eps >= 0)) continue;
    int jsq = sn_graph_sole_consumer(g, uses, g->nodes[jeps].out[0]);
    if (jsq < 0 || !sn_node_is(&g->nodes[jsq], "Sqrt") || g->nodes[jdiv].in[1] != g->nodes[jsq].out[0] ||
        uses[g->nodes[jsq].out[0]] != 1)
      continue;
    int jmul = sn_graph_sole_consumer(g, uses, g->nodes[jdiv].out[0]);
    if (jmul < 0 || !sn_node_is(&g->nodes[jmul], "Mul")) continue;
    int gamma = other_input(&g->nodes[jmul], g->nodes[jdiv].out[0]);
    int jadd = sn_graph_sole_consumer(g, uses, g->nodes[jmul].out[0]);
    if (jadd < 0 || !sn_node_is(&g->nodes[jadd], "Add")) continue;
    int beta = other_input(&g->nodes[jadd], g->nodes[jmul].out[0]);
    const sn_tensor *gt = sn_graph_const(g, gamma), *bt = sn_graph_const(g, beta);
    int64_t last = g->values[x].type.rank > 0 ? g->values[x].type.dims[g->values[x].type.rank - 1].v : -1;
    if (!gt || !bt || gt->rank != 1 || bt->rank != 1 || gt->count != last || bt->count != last ||
        gt->dtype != SINTER_FLOAT || bt->dtype != SINTER_FLOAT)
      continue;
    int out = g->nodes[jadd].out[0];
    sn_node *ln = &g->nodes[jadd];
    if ((e = make_unary(c, ln, "LayerNormalization", x, out))) break;
    if ((e = sn_node_add_input(ln, gamma)) || (e = sn_node_add_input(ln, beta))) break;
    if ((e = sn_node_set_int(ln, "axis", -1)) || (e = sn_node_set_float(ln, "epsilon", (float)eps))) break;
    if ((e = sn_node_resolve(g, ln))) break;
    int dead[] = {i, js, jp, jm2, jeps, jsq, jdiv, jmul};
    for (size_t k = 0; k < sizeof dead / sizeof *dead; k++) sn_node_clear(&g->nodes[dead[k]]);
    c->changed++;
    sn_free(uses);
    if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
  }
  sn_free(uses);
  if (e) return e;
  return finish(c);
}

/* ---- SkipLayerNormalization from Add -> LayerNormalization -------------------------------------------- */

/* LayerNormalization(Add(a, b)) over the last axis, with constant 1-D gamma (and beta), becomes one
 * com.microsoft SkipLayerNormalization(a, b, gamma, beta): the residual add runs inside the
 * normalization's first pass over each row. When the sum is also read elsewhere (pre-norm
 * transformers), it becomes the op's input_skip_bias_sum output. The fused node takes the Add's
 * place, so every reader of the sum still comes after it. */
sn_error *sn_pass_fuse_skip_layernorm(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *ln = &g->nodes[i];
    if (!ln->op_type || strcmp(ln->op_type, "LayerNormalization") ||
        (ln->domain && *ln->domain && strcmp(ln->domain, "sinter") && strcmp(ln->domain, "ai.onnx")))
      continue;
    if (ln->n_in < 2 || ln->in[0] < 0 || !is_f32(g, ln->out[0])) continue;
    bool extra = false;
    for (int o = 1; o < ln->n_out; o++) extra |= ln->out[o] >= 0 && uses[ln->out[o]] > 0;
    if (extra) continue;
    int x = ln->in[0], rank = g->values[x].type.rank;
    int64_t axis = sn_attr_int(ln, "axis", -1);
    if (rank < 1 || (axis != -1 && axis != rank - 1)) continue;
    int p = g->values[x].producer;
    if (p < 0 || !sn_node_is(&g->nodes[p], "Add") || g->nodes[p].n_in != 2) continue;
    sn_node *add = &g->nodes[p];
    int a = add->in[0], b = add->in[1];
    if (!is_f32(g, a) || !is_f32(g, b)) continue;
    const sn_tensor *gamma = sn_graph_const(g, ln->in[1]);
    const sn_tensor *beta = ln->n_in > 2 && ln->in[2] >= 0 ? sn_graph_const(g, ln->in[2]) : NULL;
    if (!gamma || gamma->rank != 1 || gamma->dtype != SINTER_FLOAT || (ln->n_in > 2 && ln->in[2] >= 0 && !beta) ||
        (beta && (beta->rank != 1 || beta->dtype != SINTER_FLOAT || beta->count != gamma->count)))
      continue;
    if (g->values[b].type.rank == rank && g->values[a].type.rank != rank) { /* the full-shape operand first */
      int t = a;
      a = b;
      b = t;
    }
    int y = ln->out[0], gid = ln->in[1], bid = beta ? ln->in[2] : -1;
    float eps = sn_attr_float(ln, "epsilon", 1e-5f);
    bool sum_used = uses[x] > 1;
    /* rebuild the Add node (the earlier of the two) as the fused op; drop the LayerNormalization */
    sn_node_clear(ln);
    add = &g->nodes[p];
    if ((e = sn_node_retype(add, "com.microsoft", "SkipLayerNormalization", 1, true))) break;
    add->in[0] = a;
    add->in[1] = b;
    if ((e = sn_node_add_input(add, gid))) break;
    if (bid >= 0 && (e = sn_node_add_input(add, bid))) break;
    if ((e = sn_node_set_float(add, "epsilon", eps))) break;
    if (sum_used) {
      if ((e = sn_node_set_outputs(add, 4))) break;
      add->out[3] = x;
      add->out[1] = add->out[2] = -1;
    }
    add->out[0] = y;
    sn_graph_update_producers(g);
    if ((e = sn_node_resolve(g, add))) break;
    c->changed++;
    sn_free(uses);
    if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
  }
  sn_free(uses);
  if (e) return e;
  return finish(c);
}

/* ---- Conv / Gemm / MatMul epilogues --------------------------------------------------------------- */

typedef struct {
  const char *act;
  float alpha, beta;
  bool has_alpha, has_beta;
} act_info;

/* Is node n an activation applied to v alone? Fills *a. */
static bool activation_of(const sn_graph *g, const sn_node *n, int v, act_info *a) {
  memset(a, 0, sizeof *a);
  if (n->n_in < 1 || n->in[0] != v) return false;
  static const char *simple[] = {"Relu", "Sigmoid", "Tanh", "HardSwish"};
  for (size_t k = 0; k < sizeof simple / sizeof *simple; k++)
    if (sn_node_is(n, simple[k])) {
      a->act = simple[k];
      return true;
    }
  if (sn_node_is(n, "LeakyRelu")) {
    *a = (act_info){"LeakyRelu", sn_attr_float(n, "alpha", 0.01f), 0, true, false};
    return true;
  }
  if (sn_node_is(n, "HardSigmoid")) {
    *a = (act_info){"HardSigmoid", sn_attr_float(n, "alpha", 0.2f), sn_attr_float(n, "beta", 0.5f), true, true};
    return true;
  }
  if (sn_node_is(n, "Gelu") || (n->domain && !strcmp(n->domain, "sinter") && !strcmp(n->op_type, "Gelu"))) {
    a->act = strcmp(sn_attr_str(n, "approximate", "none"), "tanh") ? "Gelu" : "GeluTanh";
    return true;
  }
  if (sn_node_is(n, "Clip")) {
    float lo = -INFINITY, hi = INFINITY;
    if (n->opset < 11) {
      lo = sn_attr_float(n, "min", -INFINITY);
      hi = sn_attr_float(n, "max", INFINITY);
    } else {
      double l = n->n_in > 1 && n->in[1] >= 0 ? sn_graph_const_scalar(g, n->in[1]) : -INFINITY;
      double h = n->n_in > 2 && n->in[2] >= 0 ? sn_graph_const_scalar(g, n->in[2]) : INFINITY;
      if (isnan(l) || isnan(h)) return false;
      lo = (float)l;
      hi = (float)h;
    }
    *a = (act_info){"Clip", lo, hi, true, true};
    return true;
  }
  return false;
}

/* a com.microsoft op of this name (the INT8 matrix products with a float output) */
static bool is_ms(const sn_node *n, const char *op) {
  return n->domain && !strcmp(n->domain, "com.microsoft") && !strcmp(n->op_type, op);
}

sn_error *sn_pass_fuse_epilogues(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *n = &g->nodes[i];
    const char *fused = sn_node_is(n, "Conv")     ? "FusedConv"
                        : sn_node_is(n, "Gemm")   ? "FusedGemm"
                        : sn_node_is(n, "MatMul") ? "FusedMatMul"
                        : is_ms(n, "DynamicQuantizeMatMul") ? "FusedDynamicQuantizeMatMul"
                        : is_ms(n, "MatMulIntegerToFloat")  ? "FusedMatMulIntegerToFloat"
                        : n->domain && !strcmp(n->domain, "sinter") && !strcmp(n->op_type, "QLinearMatMul")
                            ? "FusedQLinearMatMul" /* (a float output: the QDQ pass's, when no Q follows) */
                            : NULL;
    if (!fused || n->n_out != 1 || !is_f32(g, n->out[0])) continue;
    /* (the integer product's own Relu / Clip and the epilogue's activation share the attribute name) */
    if (!strcmp(fused, "FusedQLinearMatMul") && sn_attr_str(n, "activation", "")[0]) continue;
    const sn_type *yt = &g->values[n->out[0]].type;
    if (yt->rank < 1) continue;
    int y = n->out[0], bias = -1, residual = -1;
    act_info act = {0};
    int absorbed[3], n_abs = 0;
    int j = sn_graph_sole_consumer(g, uses, y);
    /* bias: Add of a 1-D constant over the last dimension (MatMul/Gemm only) */
    if (j >= 0 && strcmp(fused, "FusedConv") && sn_node_is(&g->nodes[j], "Add")) {
      int o = other_input(&g->nodes[j], y);
      const sn_tensor *bt = sn_graph_const(g, o);
      const sn_type *st = &g->values[g->nodes[j].out[0]].type;
      if (bt && bt->dtype == SINTER_FLOAT && bt->rank == 1 && bt->count == yt->dims[yt->rank - 1].v && st->rank == yt->rank) {
        bias = o;
        absorbed[n_abs++] = j;
        y = g->nodes[j].out[0];
        j = sn_graph_sole_consumer(g, uses, y);
      }
    }
    /* residual: Add of a tensor of the same static shape */
    if (j >= 0 && sn_node_is(&g->nodes[j], "Add")) {
      int o = other_input(&g->nodes[j], y);
      const sn_type *ot = o >= 0 ? &g->values[o].type : NULL;
      const sn_type *st = &g->values[g->nodes[j].out[0]].type;
      /* the same shape: equal known sizes or the same named symbol, dimension by dimension */
      bool same = o >= 0 && o != y && ot->dtype == SINTER_FLOAT && ot->rank == yt->rank && st->rank == yt->rank;
      for (int d = 0; same && d < yt->rank; d++)
        same = sn_dim_same(ot->dims[d], yt->dims[d]) && sn_dim_same(st->dims[d], yt->dims[d]);
      if (same) {
        residual = o;
        absorbed[n_abs++] = j;
        y = g->nodes[j].out[0];
        j = sn_graph_sole_consumer(g, uses, y);
      }
    }
    /* activation (SiLU: Mul(y, Sigmoid(y)), y read by exactly those two) */
    int silu_sig = -1;
    if (j >= 0 && activation_of(g, &g->nodes[j], y, &act)) {
      absorbed[n_abs++] = j;
      y = g->nodes[j].out[0];
    } else if (uses[y] == 2) {
      int jsig = -1, jmul = -1;
      for (int k = 0; k < g->n_nodes; k++) {
        const sn_node *s = &g->nodes[k];
        if (sn_node_is(s, "Sigmoid") && s->in[0] == y) jsig = k;
        if (sn_node_is(s, "Mul") && other_input(s, y) >= 0) jmul = k;
      }
      if (jsig >= 0 && jmul >= 0 && other_input(&g->nodes[jmul], y) == g->nodes[jsig].out[0] &&
          uses[g->nodes[jsig].out[0]] == 1) {
        act.act = "SiLU";
        silu_sig = jsig;
        absorbed[n_abs++] = jmul;
        y = g->nodes[jmul].out[0];
      }
    }
    if (n_abs == 0) continue;
    int base_opset = n->opset;
    if ((e = sn_node_set_int(n, "base_opset", base_opset))) break;
    if (bias >= 0 && ((e = sn_node_add_input(n, bias)) || (e = sn_node_set_int(n, "has_bias", 1)))) break;
    if (residual >= 0 && ((e = sn_node_add_input(n, residual)) || (e = sn_node_set_int(n, "has_residual", 1)))) break;
    if (act.act && (e = sn_node_set_str(n, "activation", act.act))) break;
    /* (names of their own: the base op's attributes stay, and Gemm has an alpha and a beta) */
    if (act.has_alpha && (e = sn_node_set_float(n, "act_alpha", act.alpha))) break;
    if (act.has_beta && (e = sn_node_set_float(n, "act_beta", act.beta))) break;
    if ((e = sn_node_retype(n, "sinter", fused, 1, false))) break; /* the base op's attributes stay */
    n->out[0] = y;
    for (int k = 0; k < n_abs; k++) sn_node_clear(&g->nodes[absorbed[k]]);
    if (silu_sig >= 0) sn_node_clear(&g->nodes[silu_sig]);
    /* the fused node must come after its residual's producer: it takes the place of the last node it absorbed */
    int last = absorbed[n_abs - 1];
    if (last > i) {
      sn_node tmp = g->nodes[i];
      g->nodes[i] = g->nodes[last];
      g->nodes[last] = tmp;
    }
    if ((e = sn_node_resolve(g, &g->nodes[last > i ? last : i]))) break;
    c->changed++;
    sn_free(uses);
    if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
  }
  sn_free(uses);
  if (e) return e;
  return finish(c);
}

/* ---- Transpose folded into Gemm operands -------------------------------------------------------------- */

/* Gemm(Transpose(A), B) = Gemm(A, B, transA toggled), likewise for B, when the Transpose swaps the
 * two axes of a 2-D value that nothing else reads. */
sn_error *sn_pass_fold_gemm_transposes(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *n = &g->nodes[i];
    if (!sn_node_is(n, "Gemm") || n->opset < 7) continue;
    for (int k = 0; k < 2 && !e; k++) {
      int v = n->in[k], t = v >= 0 ? g->values[v].producer : -1;
      if (t < 0 || uses[v] != 1 || !sn_node_is(&g->nodes[t], "Transpose")) continue;
      const sn_node *tr = &g->nodes[t];
      const int64_t *perm;
      int np = sn_attr_ints(tr, "perm", &perm);
      if (g->values[tr->in[0]].type.rank != 2 || (np >= 0 && (np != 2 || perm[0] != 1 || perm[1] != 0))) continue;
      const char *attr = k == 0 ? "transA" : "transB";
      if ((e = sn_node_set_int(n, attr, !sn_attr_int(n, attr, 0)))) break;
      n->in[k] = tr->in[0];
      sn_node_clear(&g->nodes[t]);
      if ((e = sn_node_resolve(g, &g->nodes[i]))) break;
      c->changed++;
      sn_free(uses);
      if (!(uses = sn_graph_use_counts(g))) return SN_ERR_OOM();
    }
  }
  sn_free(uses);
  if (e) return e;
  return finish(c);
}
