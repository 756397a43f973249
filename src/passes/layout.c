/* Level 3: the blocked channel layout (NCHWc) for convolution chains (`layout-nchwc`).
 *
 * Finds the float32 2-D convolutions (Conv, sinter:FusedConv; group 1, depthwise, or grouped where
 * few of the multiply-adds its blocks compute are zeros: grouped_waste) and grows
 * regions from them through the ops that have a blocked form: MaxPool / AveragePool /
 * GlobalAveragePool and ReduceMean over H and W (sinter:Nchwc*; without keepdims too, the reorder out
 * then squeezing the 1 x 1 map), and the plain ai.onnx ops that
 * work unchanged on 5-D blocked tensors - unary activations, Add/Sub/Mul between two blocked
 * tensors of the same channels (broadcast over the spatial dims included) or of a blocked tensor
 * and a scalar constant, Split on the channel axis into whole blocks (all parts but the last), Concat on the channel
 * axis when every part but the last fills whole blocks. Each convolution becomes sinter:NchwcConv
 * with its weights packed now into a new initializer (so a saved model carries them packed) and its
 * bias padded; sinter:ReorderInput goes where a region reads an NCHW value and sinter:ReorderOutput
 * where something outside a region (or the graph's output) reads a blocked one. A convolution on
 * fewer than 16 channels read from NCHW (the RGB stem) reads that input directly. Then:
 * squeeze-excitation's channel Mul folds into the convolution that reads it (has_scale), a Relu into
 * the NchwcChannelAffine it alone reads, and a
 * ReorderOutput read only by a Transpose to NHWC writes NHWC itself.
 * The block is the session ISA's vector width: 16 at AVX-512, 8 at AVX2; at scalar the pass
 * leaves the graph alone (the portable kernels run any block, so a saved model still loads there).
 * SINTER_NCHWC=0 turns the pass off. */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/nchwc.h"
#include "ops/fused.h"
#include "passes/passes.h"
#include "runtime/cpu.h"

enum { K_NONE, K_CONV, K_POOL, K_GAP, K_UNARY, K_BINARY, K_CONCAT, K_AFFINE, K_SPLIT };

static bool is_sinter(const sn_node *n, const char *op) {
  return n->op_type && n->domain && !strcmp(n->domain, "sinter") && !strcmp(n->op_type, op);
}

static bool f32_4d(const sn_graph *g, int v) {
  if (v < 0) return false;
  const sn_type *t = &g->values[v].type;
  return t->dtype == SINTER_FLOAT && t->rank == 4 && t->dims[1].v > 0;
}

static int64_t chans(const sn_graph *g, int v) { return g->values[v].type.dims[1].v; }

/* ReduceMean over the two spatial axes of a 4-D value: a global average pool (without keepdims, its
 * [N, C] result is the pool's 1 x 1 map squeezed) */
static bool spatial_mean(const sn_graph *g, const sn_node *n) {
  if (!sn_node_is(n, "ReduceMean") || n->n_in < 1) return false;
  const int64_t *ax;
  int na = sn_attr_ints(n, "axes", &ax);
  if (na < 0 && n->n_in > 1 && n->in[1] >= 0) {
    const sn_tensor *t = sn_graph_const(g, n->in[1]);
    if (!t || t->dtype != SINTER_INT64) return false;
    na = (int)t->count;
    ax = t->data;
  }
  if (na != 2) return false;
  bool h = false, w = false;
  for (int k = 0; k < 2; k++) {
    h |= ax[k] == 2 || ax[k] == -2;
    w |= ax[k] == 3 || ax[k] == -1;
  }
  return h && w;
}

/* A float32 [N, C] value: a spatial mean without keepdims (timm's and MNASNet's x.mean((2, 3))), whose
 * blocked form is [N, CB, 1, 1, b] and whose ReorderOutput squeezes the 1 x 1 map */
static bool f32_2d(const sn_graph *g, int v) {
  if (v < 0) return false;
  const sn_type *t = &g->values[v].type;
  return t->dtype == SINTER_FLOAT && t->rank == 2 && t->dims[1].v > 0;
}

/* A float32 constant of one element, finite and at most 65536 in size: it broadcasts over a blocked
 * value as over the plain one. (The channel lanes past C in the last block then hold op(0, c) rather
 * than 0, as they do after Sigmoid; what reads them, a convolution's zero weights or a reorder that
 * drops them, must see finite values, so no infinity or huge factor.) */
static bool small_scalar(const sn_graph *g, int v) {
  const sn_tensor *t = sn_graph_const(g, v);
  if (!t || t->dtype != SINTER_FLOAT || t->count != 1 || t->rank > 4) return false;
  float c = *(const float *)t->data;
  return isfinite(c) && fabsf(c) <= 65536.0f;
}

/* Split of a 4-D value along the channels: its part sizes (the split input from opset 13, the
 * attribute before, equal parts otherwise), when each part but the last fills whole blocks; count,
 * or -1 */
static int channel_split(const sn_graph *g, const sn_node *n, int64_t B, int64_t *sizes) {
  int64_t ax = sn_attr_int(n, "axis", 0);
  if ((ax != 1 && ax != -3) || n->n_out < 1 || n->n_out > 64 || n->in[0] < 0) return -1;
  const int64_t C = chans(g, n->in[0]);
  const int64_t *sv = NULL;
  int ns = -1;
  if (n->n_in > 1 && n->in[1] >= 0) {
    const sn_tensor *t = sn_graph_const(g, n->in[1]);
    if (!t || t->dtype != SINTER_INT64 || t->rank != 1) return -1;
    sv = t->data;
    ns = (int)t->count;
  } else if (n->opset < 13) {
    ns = sn_attr_ints(n, "split", &sv);
  }
  if (ns >= 0) {
    if (ns != n->n_out) return -1;
    memcpy(sizes, sv, sizeof(int64_t) * (size_t)ns);
  } else {
    ns = n->n_out;
    if (C % ns) return -1; /* (opset 18's uneven num_outputs split: left alone) */
    for (int k = 0; k < ns; k++) sizes[k] = C / ns;
  }
  int64_t sum = 0;
  for (int k = 0; k < ns; k++) {
    if (sizes[k] <= 0 || (k < ns - 1 && sizes[k] % B)) return -1;
    sum += sizes[k];
  }
  return sum == C ? ns : -1;
}

static int classify(const sn_node *n) {
  if (sn_node_is(n, "Conv") || is_sinter(n, "FusedConv")) return K_CONV;
  if (sn_node_is(n, "MaxPool") || sn_node_is(n, "AveragePool")) return K_POOL;
  if (sn_node_is(n, "GlobalAveragePool")) return K_GAP;
  static const char *unary[] = {"Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Clip"};
  for (size_t k = 0; k < sizeof unary / sizeof *unary; k++)
    if (sn_node_is(n, unary[k])) return K_UNARY;
  if (sn_node_is(n, "Add") || sn_node_is(n, "Sub") || sn_node_is(n, "Mul")) return K_BINARY;
  if (sn_node_is(n, "Concat")) return K_CONCAT;
  if (sn_node_is(n, "Split")) return K_SPLIT;
  if (sn_node_is(n, "BatchNormalization")) return K_AFFINE;
  return K_NONE;
}

typedef struct conv_info {
  int x, w, b, res; /* value ids (-1 absent) */
  int64_t M, C, kh, kw;
  int64_t group; /* > 1: a grouped convolution (not depthwise) */
  bool depthwise, nchw_in; /* nchw_in: reads its NCHW input directly (input_block 1) */
} conv_info;

/* A grouped convolution on the blocked layout computes, for each output block, every input block its
 * groups touch: its multiply-adds over the grouped convolution's own (1 when the groups are whole
 * blocks, 4 for ResNeXt's 4-channel groups at block 16, 1.5 for RegNetX's 24-channel ones). */
static double grouped_waste(int64_t M, int64_t C, int64_t G, int64_t B) {
  sn_nchwc_conv_geom q = {.block = B, .in_block = B, .cbi = (C + B - 1) / B, .group = G, .group_in = C / G,
                          .group_out = M / G};
  double done = 0;
  for (int64_t ob = 0; ob * B < M; ob++) {
    int64_t lo, hi;
    sn_nchwc_group_range(&q, ob, &lo, &hi);
    done += (double)(B * B * (hi - lo));
  }
  return done / ((double)M * (double)(C / G));
}

/* The most waste at which a grouped convolution joins the blocked layout; past it, it runs on NCHW
 * (kernels/gconv.h) between reorders. SINTER_GCONV_WASTE overrides (0: never blocked). */
static double grouped_max_waste(void) {
  const char *e = getenv("SINTER_GCONV_WASTE");
  return e && *e ? atof(e) : 2.0;
}

/* Is n a convolution the blocked kernels take at block B (and is it worth it)? */
static bool conv_ok(const sn_graph *g, const sn_node *n, const bool *blk, int64_t B, conv_info *ci) {
  memset(ci, 0, sizeof *ci);
  ci->b = ci->res = -1;
  if (n->n_out != 1 || n->n_in < 2) return false;
  int n_base = n->n_in;
  if (is_sinter(n, "FusedConv")) {
    if (sn_attr_int(n, "has_bias", 0)) return false; /* (never made for Conv) */
    bool has_res = sn_attr_int(n, "has_residual", 0) != 0;
    n_base -= has_res;
    if (has_res) ci->res = n->in[n_base];
    float a, b;
    if (sn_act_lookup(sn_attr_str(n, "activation", ""), &a, &b) < 0) return false;
  }
  if (n_base < 2 || n_base > 3) return false;
  ci->x = n->in[0];
  ci->w = n->in[1];
  ci->b = n_base > 2 ? n->in[2] : -1;
  if (!f32_4d(g, ci->x) || !f32_4d(g, n->out[0])) return false;
  if (ci->res >= 0 && !f32_4d(g, ci->res)) return false;
  const sn_tensor *w = sn_graph_const(g, ci->w);
  if (!w || w->dtype != SINTER_FLOAT || w->rank != 4) return false;
  if (ci->b >= 0) {
    const sn_tensor *b = sn_graph_const(g, ci->b);
    if (!b || b->dtype != SINTER_FLOAT || b->count != w->dims[0]) return false;
  }
  ci->M = w->dims[0];
  ci->C = chans(g, ci->x);
  ci->kh = w->dims[2];
  ci->kw = w->dims[3];
  int64_t group = sn_attr_int(n, "group", 1);
  ci->group = 1;
  if (group == 1 && w->dims[1] == ci->C)
    ci->depthwise = false;
  else if (group == ci->C && ci->M == ci->C && w->dims[1] == 1)
    ci->depthwise = true;
  else if (group > 1 && ci->C % group == 0 && ci->M % group == 0 && w->dims[1] == ci->C / group &&
           grouped_waste(ci->M, ci->C, group, B) <= grouped_max_waste())
    ci->group = group;
  else
    return false;
  if (chans(g, n->out[0]) != ci->M) return false;
  const int64_t *ks;
  int nk = sn_attr_ints(n, "kernel_shape", &ks);
  if (nk >= 0 && (nk != 2 || ks[0] != ci->kh || ks[1] != ci->kw)) return false;
  /* few input channels read from NCHW (the stem convolution on RGB): read the NCHW input as it is
   * rather than reorder it into mostly padding (as MLAS does); inside a region (squeeze-excitation
   * expansions) the padding costs less than leaving it */
  if (ci->C < 16 && !blk[ci->x]) {
    if (ci->depthwise || ci->group > 1) return false;
    ci->nchw_in = true;
  }
  return true;
}

/* the blocked type of a 4-D value (or of a 2-D spatial mean: a 1 x 1 map) */
static void blocked_type(const sn_type *t, int64_t B, int64_t C, sn_type *out) {
  sn_dim d[5] = {t->dims[0], sn_dim_known((C + B - 1) / B), t->rank == 2 ? sn_dim_known(1) : t->dims[2],
                 t->rank == 2 ? sn_dim_known(1) : t->dims[3], sn_dim_known(B)};
  sn_type_set(out, SINTER_FLOAT, 5, d);
}

static sn_error *set_op(sn_node *n, const char *domain, const char *op) { return sn_node_retype(n, domain, op, 1, false); }

/* a new one-in one-out sinter node */
static sn_error *add_reorder(sn_graph *g, const char *op, int in, int out, int64_t B, int64_t C) {
  int idx;
  SN_TRY(sn_graph_add_node1(g, "sinter", op, 1, in, out, &idx));
  sn_node *n = &g->nodes[idx];
  SN_TRY(sn_node_set_int(n, "block", B));
  if (!strcmp(op, "ReorderOutput")) SN_TRY(sn_node_set_int(n, "channels", C));
  if (!strcmp(op, "ReorderOutput") && g->values[out].type.rank == 2) SN_TRY(sn_node_set_int(n, "squeeze", 1));
  return sn_node_resolve(g, n);
}

/* For Mul(a, b) with both inputs blocked twins of 4-D values: the index (0 or 1) of the operand
 * that is scaled per channel by the other ([N, C, 1, 1] against the same N and C), or -1 */
static int channel_scale_of(const sn_graph *g, int nv0, const sn_node *n) {
  int orig[2];
  for (int k = 0; k < 2; k++) {
    /* the inputs were already replaced by blocked twins (5-D); their types say the shapes */
    const sn_type *t = &g->values[n->in[k]].type;
    if (t->rank != 5) return -1;
    orig[k] = n->in[k];
  }
  (void)nv0;
  const sn_type *a = &g->values[orig[0]].type, *b = &g->values[orig[1]].type;
  for (int k = 0; k < 2; k++) {
    const sn_type *big = k == 0 ? a : b, *sc = k == 0 ? b : a;
    if (sc->dims[2].v == 1 && sc->dims[3].v == 1 && !(big->dims[2].v == 1 && big->dims[3].v == 1) &&
        sn_dim_same(sc->dims[0], big->dims[0]) && sc->dims[1].v == big->dims[1].v)
      return k;
  }
  return -1;
}

/* An inference BatchNormalization with constant parameters that no convolution absorbed (fold-batchnorm
 * takes the ones after a convolution; DenseNet's come before, after a Concat): the blocked
 * NchwcChannelAffine with the per-channel a = scale / sqrt(var + eps) and b = bias - mean * a, zero past
 * C (the padded lanes stay 0). Called once n's input is the blocked twin: C from its 4-D output. */
static sn_error *affine_params(sn_graph *g, sn_node *n, int64_t B, int *a_id, int *b_id) {
  const int64_t C = chans(g, n->out[0]), CP = (C + B - 1) / B * B;
  sn_bn_consts bc;
  if (!sn_graph_bn_consts(g, n, C, &bc)) /* (the decision took it; nothing in between changes it) */
    return sn_errorf(SINTER_ERR_INVALID_GRAPH, "layout-nchwc: BatchNormalization '%s' lost its constants", n->name);
  sn_tensor *a, *b;
  SN_TRY(sn_tensor_new(SINTER_FLOAT, 1, &CP, &a));
  sn_error *e = sn_tensor_new(SINTER_FLOAT, 1, &CP, &b);
  if (e) {
    sn_tensor_free(a);
    return e;
  }
  float *ap = a->data, *bp = b->data;
  for (int64_t c = 0; c < CP; c++) {
    double s = c < C ? (double)bc.scale[c] / sqrt((double)bc.var[c] + bc.eps) : 0.0;
    ap[c] = (float)s;
    bp[c] = c < C ? (float)((double)bc.bias[c] - (double)bc.mean[c] * s) : 0.0f;
  }
  if ((e = sn_graph_add_initializer(g, g->values[n->out[0]].name, "_nchwc_scale", a, a_id))) {
    sn_tensor_free(b);
    return e;
  }
  return sn_graph_add_initializer(g, g->values[n->out[0]].name, "_nchwc_shift", b, b_id);
}

typedef struct lay {
  sn_graph *g;
  int64_t B;
  int nv0;
  int *bid; /* blocked twin of an original value, or -1 */
  int *rin; /* ReorderInput output made for an NCHW value, or -1 */
} lay;

/* the blocked form of value v for a reader inside a region */
static sn_error *blocked_in(lay *L, int v, int *out) {
  if (L->bid[v] >= 0) {
    *out = L->bid[v];
    return NULL;
  }
  if (L->rin[v] < 0) {
    sn_graph *g = L->g;
    int id;
    SN_TRY(sn_graph_add_value_like(g, v, "_nchwc_in", &id));
    blocked_type(&g->values[v].type, L->B, chans(g, v), &g->values[id].type);
    SN_TRY(add_reorder(g, "ReorderInput", v, id, L->B, chans(g, v)));
    L->rin[v] = id;
  }
  *out = L->rin[v];
  return NULL;
}

static sn_error *rewrite_split(lay *L, int i) {
  sn_graph *g = L->g;
  int64_t sizes[64];
  int ns = channel_split(g, &g->nodes[i], L->B, sizes);
  if (ns < 1) return sn_errorf(SINTER_ERR_INVALID_GRAPH, "layout-nchwc: Split '%s' lost its sizes", g->nodes[i].name);
  for (int k = 0; k < ns; k++) sizes[k] = (sizes[k] + L->B - 1) / L->B;
  int x;
  SN_TRY(blocked_in(L, g->nodes[i].in[0], &x));
  sn_tensor *t;
  int64_t n64 = ns;
  SN_TRY(sn_tensor_new(SINTER_INT64, 1, &n64, &t));
  memcpy(t->data, sizes, sizeof(int64_t) * (size_t)ns);
  int sid;
  SN_TRY(sn_graph_add_initializer(g, g->values[g->nodes[i].out[0]].name, "_nchwc_split", t, &sid));
  /* a plain opset-13 Split of the 5-D value on axis 1 (its own attributes dropped) */
  sn_node *n = &g->nodes[i];
  SN_TRY(sn_node_retype(n, "", "Split", 13, true));
  SN_TRY(sn_node_set_int(n, "axis", 1));
  if (n->n_in < 2) SN_TRY(sn_node_add_input(n, sid));
  n = &g->nodes[i];
  n->in[0] = x;
  n->in[1] = sid;
  n->n_in = 2;
  for (int k = 0; k < n->n_out; k++) {
    int y = n->out[k], yb;
    SN_TRY(sn_graph_add_value_like(g, y, "_nchwc", &yb));
    blocked_type(&g->values[y].type, L->B, chans(g, y), &g->values[yb].type);
    n = &g->nodes[i];
    n->out[k] = yb;
    L->bid[y] = yb;
  }
  return sn_node_resolve(g, &g->nodes[i]);
}

static sn_error *rewrite_conv(lay *L, int i, const conv_info *ci) {
  sn_graph *g = L->g;
  const int64_t B = L->B, MB = (ci->M + B - 1) / B, CB = (ci->C + B - 1) / B;
  const sn_tensor *w = sn_graph_const(g, ci->w);
  sn_tensor *pw = NULL, *pb = NULL;
  const int64_t BI = ci->nchw_in ? 1 : B;
  int64_t wd[6] = {MB, ci->nchw_in ? ci->C : CB, ci->kh, ci->kw, BI, B};
  if (ci->depthwise) wd[1] = ci->kh, wd[2] = ci->kw, wd[3] = B;
  if (ci->group > 1) wd[1] = sn_nchwc_group_span(ci->M, ci->C, ci->group, B);
  SN_TRY(sn_tensor_new_uninit(SINTER_FLOAT, ci->depthwise ? 4 : 6, wd, &pw)); /* the packing writes it all */
  if (ci->group > 1)
    sn_nchwc_pack_grouped_weight(w->data, ci->M, ci->C, ci->group, ci->kh, ci->kw, B, pw->data);
  else
    sn_nchwc_pack_weight(w->data, ci->M, ci->C, ci->kh, ci->kw, B, BI, ci->depthwise, pw->data);
  /* a weight viewed in the mapped model file: its pages leave the resident set now (a later read
   * faults them back unchanged), not when the graph drops it after the pass, so the file's weights and
   * their blocked copies are not all resident at once (ResNet-50: 80 MB less at the peak of loading) */
  if (w->file_view && !w->owns_data) sn_drop_pages(w->data, w->nbytes);
  int wid, bid = -1;
  SN_TRY(sn_graph_add_initializer(g, g->values[ci->w].name, "_nchwc", pw, &wid));
  if (ci->b >= 0) {
    int64_t n = MB * B;
    SN_TRY(sn_tensor_new(SINTER_FLOAT, 1, &n, &pb));
    memset(pb->data, 0, sizeof(float) * (size_t)n);
    memcpy(pb->data, sn_graph_const(g, ci->b)->data, sizeof(float) * (size_t)ci->M);
    SN_TRY(sn_graph_add_initializer(g, g->values[ci->b].name, "_nchwc", pb, &bid));
  }
  int xin = ci->x, rin = -1;
  if (!ci->nchw_in) SN_TRY(blocked_in(L, ci->x, &xin));
  if (ci->res >= 0) SN_TRY(blocked_in(L, ci->res, &rin));
  sn_node *n = &g->nodes[i];
  int ins[4], k = 0;
  ins[k++] = xin;
  ins[k++] = wid;
  if (bid >= 0) ins[k++] = bid;
  if (rin >= 0) ins[k++] = rin;
  int *in = sn_realloc(n->in, sizeof(int) * 4);
  if (!in) return SN_ERR_OOM();
  n->in = in;
  memcpy(n->in, ins, sizeof(int) * (size_t)k);
  n->n_in = k;
  SN_TRY(set_op(n, "sinter", "NchwcConv"));
  SN_TRY(sn_node_set_int(n, "block", B));
  SN_TRY(sn_node_set_int(n, "channels", ci->M));
  SN_TRY(sn_node_set_int(n, "depthwise", ci->depthwise));
  if (ci->group > 1) SN_TRY(sn_node_set_int(n, "input_channels", ci->C)); /* (group stays Conv's) */
  SN_TRY(sn_node_set_int(n, "has_bias", bid >= 0));
  SN_TRY(sn_node_set_int(n, "has_residual", rin >= 0));
  if (ci->nchw_in) SN_TRY(sn_node_set_int(n, "input_block", 1));
  /* kernel_shape: the packed weight no longer says it in its dims 2..3 for group 1 */
  if (sn_attr_ints(n, "kernel_shape", &(const int64_t *){NULL}) < 0) {
    sn_attr *a = sn_realloc(n->attrs, sizeof(sn_attr) * (size_t)(n->n_attrs + 1));
    if (!a) return SN_ERR_OOM();
    n->attrs = a;
    a = &n->attrs[n->n_attrs];
    memset(a, 0, sizeof *a);
    a->name = sn_strdup("kernel_shape");
    a->ints = sn_malloc(sizeof(int64_t) * 2);
    if (!a->name || !a->ints) {
      sn_free(a->name);
      sn_free(a->ints);
      return SN_ERR_OOM();
    }
    a->type = SN_ATTR_INTS;
    a->n = 2;
    a->ints[0] = ci->kh;
    a->ints[1] = ci->kw;
    n->n_attrs++;
  }
  return NULL;
}

/* Every sinter `op` node m whose output one node r alone reads: fold(g, m, r, &folded) may merge the
 * two (clearing the node that goes; folded set when it did); the graph is compacted after. */
typedef sn_error *(*fold_fn)(sn_graph *g, sn_node *m, sn_node *r, bool *folded);
static sn_error *fold_sole_readers(sn_pass_ctx *c, const char *op, fold_fn fold) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  bool any = false;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *m = &g->nodes[i];
    if (!is_sinter(m, op) || m->n_out != 1 || m->out[0] < 0 || uses[m->out[0]] != 1) continue;
    int j = sn_graph_sole_consumer(g, uses, m->out[0]);
    if (j < 0) continue;
    bool folded = false;
    e = fold(g, m, &g->nodes[j], &folded);
    any |= folded;
  }
  sn_free(uses);
  if (!e && any) sn_graph_compact(g);
  return e;
}

/* A channel scale read only by a group-1 convolution as its input becomes that convolution's
 * has_scale input: conv(X * S) scales the packed weights (or X) per image instead of writing X * S. */
static sn_error *scale_into_conv(sn_graph *g, sn_node *m, sn_node *cv, bool *folded) {
  if (!is_sinter(cv, "NchwcConv") || cv->in[0] != m->out[0] || sn_attr_int(cv, "depthwise", 0) ||
      sn_attr_int(cv, "input_block", 0) == 1 || sn_attr_int(cv, "has_scale", 0) || sn_attr_int(cv, "group", 1) > 1)
    return NULL;
  cv->in[0] = m->in[0];
  SN_TRY(sn_node_add_input(cv, m->in[1]));
  SN_TRY(sn_node_set_int(cv, "has_scale", 1));
  sn_node_clear(m);
  SN_TRY(set_op(cv, "sinter", "NchwcConv"));
  *folded = true;
  return sn_node_resolve(g, cv);
}

/* A Relu that alone reads a blocked per-channel affine (DenseNet's BatchNormalization + Relu before each
 * convolution) goes into it: one pass over the map instead of two. */
static sn_error *relu_into_affine(sn_graph *g, sn_node *m, sn_node *r, bool *folded) {
  if (sn_attr_int(m, "relu", 0) || !sn_node_is(r, "Relu") || r->n_in != 1 || r->n_out != 1 || r->in[0] != m->out[0] ||
      g->values[m->out[0]].is_output)
    return NULL;
  m->out[0] = r->out[0];
  sn_node_clear(r);
  SN_TRY(sn_node_set_int(m, "relu", 1));
  SN_TRY(set_op(m, "sinter", "NchwcChannelAffine"));
  *folded = true;
  return sn_node_resolve(g, m);
}

/* a Transpose of a 4-D value by perm (a, b, c, d) */
static bool transpose4(const sn_node *t, int a, int b, int c, int d) {
  const int64_t *perm;
  return sn_node_is(t, "Transpose") && sn_attr_ints(t, "perm", &perm) == 4 && perm[0] == a && perm[1] == b &&
         perm[2] == c && perm[3] == d;
}

/* reorder node r (op) to read or write [N, H, W, C] itself: nhwc=1, retyped so its kernel binds
 * again, and its types inferred again */
static sn_error *reorder_nhwc(sn_graph *g, sn_node *r, const char *op) {
  SN_TRY(sn_node_set_int(r, "nhwc", 1));
  SN_TRY(set_op(r, "sinter", op));
  return sn_node_resolve(g, r);
}

/* ReorderOutput whose result only a Transpose to channels-last reads (ConvNeXt's depthwise
 * convolution before its LayerNorm) writes [N, H, W, C] itself. */
static sn_error *fold_nhwc_transposes(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  bool folded = false;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *r = &g->nodes[i];
    if (!is_sinter(r, "ReorderOutput")) continue;
    int j = sn_graph_sole_consumer(g, uses, r->out[0]);
    if (j < 0 || uses[r->out[0]] != 1 || !transpose4(&g->nodes[j], 0, 2, 3, 1)) continue;
    r->out[0] = g->nodes[j].out[0];
    sn_node_clear(&g->nodes[j]);
    if ((e = reorder_nhwc(g, r, "ReorderOutput"))) break;
    folded = true;
  }
  sn_free(uses);
  if (!e && folded) sn_graph_compact(g);
  return e;
}

/* ReorderInput of a Transpose from channels-last (perm 0,3,1,2) reads [N, H, W, C] itself (nhwc=1):
 * ConvNeXt's residual stream, kept channels-last by sink-transposes, entering a depthwise
 * convolution. The Transpose goes when nothing else reads it. */
static sn_error *fold_nhwc_input_transposes(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  sn_graph_update_producers(g); /* (nodes are only cleared below, so the index stays right) */
  int *uses = sn_graph_use_counts(g);
  if (!uses) return SN_ERR_OOM();
  sn_error *e = NULL;
  bool folded = false;
  for (int i = 0; i < g->n_nodes && !e; i++) {
    sn_node *r = &g->nodes[i];
    if (!is_sinter(r, "ReorderInput") || sn_attr_int(r, "nhwc", 0)) continue;
    int j = g->values[r->in[0]].producer;
    if (j < 0 || !transpose4(&g->nodes[j], 0, 3, 1, 2)) continue;
    sn_node *t = &g->nodes[j];
    if (g->values[t->in[0]].type.rank != 4) continue;
    r->in[0] = t->in[0];
    if (--uses[t->out[0]] == 0) sn_node_clear(t);
    if ((e = reorder_nhwc(g, r, "ReorderInput"))) break;
    folded = true;
  }
  sn_free(uses);
  if (!e && folded) sn_graph_compact(g);
  return e;
}

sn_error *sn_pass_layout_nchwc(sn_pass_ctx *c) {
  sn_graph *g = c->g;
  const char *env = getenv("SINTER_NCHWC");
  if (env && *env == '0') return NULL;
  const sn_isa isa = sn_cpu_isa();
  /* (under --precision bf16 the group-1 convolutions on blocked inputs run in bf16, see
   * ops/nchwc.c and kernels/nchwc_bf16.h) */
  if (isa < SN_ISA_AVX2) return NULL;
  const int64_t B = isa >= SN_ISA_AVX512 ? 16 : 8;
  const int nn = g->n_nodes, nv0 = g->n_values;
  lay L = {g, B, nv0, sn_malloc(sizeof(int) * (size_t)(nv0 + 1)), sn_malloc(sizeof(int) * (size_t)(nv0 + 1))};
  int *kind = sn_calloc((size_t)(nn + 1), sizeof(int));
  bool *blk = sn_calloc((size_t)(nv0 + 1), sizeof(bool)); /* value is produced in a region */
  conv_info *ci = sn_calloc((size_t)(nn + 1), sizeof(conv_info));
  sn_error *e = NULL;
  if (!L.bid || !L.rin || !kind || !blk || !ci) {
    e = SN_ERR_OOM();
    goto done;
  }
  for (int v = 0; v < nv0; v++) L.bid[v] = L.rin[v] = -1;
  /* decide, in topological order: convolutions start or extend regions; the others only extend */
  for (int i = 0; i < nn; i++) {
    const sn_node *n = &g->nodes[i];
    int k = n->op_type ? classify(n) : K_NONE;
    if (k == K_NONE && n->op_type && spatial_mean(g, n)) k = K_GAP;
    bool ok = false;
    switch (k) {
      case K_CONV: ok = conv_ok(g, n, blk, B, &ci[i]); break;
      case K_POOL: {
        bool idx_out = n->n_out > 1 && n->out[1] >= 0;
        const int64_t *ks;
        ok = !idx_out && blk[n->in[0]] && f32_4d(g, n->out[0]) && sn_attr_ints(n, "kernel_shape", &ks) == 2;
        break;
      }
      case K_GAP: /* (ReduceMean without keepdims: [N, C], read only through a reorder out) */
        ok = n->n_out == 1 && blk[n->in[0]] &&
             (f32_4d(g, n->out[0]) || (f32_2d(g, n->out[0]) && sn_node_is(n, "ReduceMean")));
        break;
      case K_UNARY: ok = n->n_out == 1 && blk[n->in[0]] && f32_4d(g, n->out[0]); break;
      case K_AFFINE: {
        sn_bn_consts bc;
        ok = n->in[0] >= 0 && blk[n->in[0]] && f32_4d(g, n->out[0]) && sn_graph_bn_consts(g, n, chans(g, n->in[0]), &bc);
        break;
      }
      case K_BINARY:
        ok = n->n_in == 2 && n->n_out == 1 && n->in[0] >= 0 && n->in[1] >= 0 && f32_4d(g, n->out[0]);
        if (ok && blk[n->in[0]] && blk[n->in[1]])
          ok = chans(g, n->in[0]) == chans(g, n->in[1]);
        else if (ok) /* a blocked value and a scalar constant (Keras' hard-swish: x * relu6(x + 3) * (1/6)) */
          ok = (blk[n->in[0]] && small_scalar(g, n->in[1])) || (blk[n->in[1]] && small_scalar(g, n->in[0]));
        break;
      case K_SPLIT: {
        int64_t sizes[64];
        ok = n->in[0] >= 0 && blk[n->in[0]] && f32_4d(g, n->in[0]) && channel_split(g, n, B, sizes) > 0;
        for (int k = 0; ok && k < n->n_out; k++) ok = n->out[k] >= 0 && f32_4d(g, n->out[k]);
        break;
      }
      case K_CONCAT: {
        int64_t ax = sn_attr_int(n, "axis", 0);
        ok = n->n_out == 1 && (ax == 1 || ax == -3) && n->n_in >= 1 && f32_4d(g, n->out[0]);
        for (int j = 0; ok && j < n->n_in; j++)
          ok = n->in[j] >= 0 && blk[n->in[j]] && (j == n->n_in - 1 || chans(g, n->in[j]) % B == 0);
        break;
      }
      default: break;
    }
    kind[i] = ok ? k : K_NONE;
    for (int o = 0; ok && o < (k == K_SPLIT ? n->n_out : 1); o++) blk[n->out[o]] = true;
  }
  /* rewrite the region nodes (in order, so a blocked input's twin exists when it is read) */
  for (int i = 0; i < nn && !e; i++) {
    if (kind[i] == K_NONE) continue;
    if (kind[i] == K_SPLIT) { /* the blocked value split along its block axis, in whole blocks */
      if (!(e = rewrite_split(&L, i))) c->changed++;
      continue;
    }
    int y = g->nodes[i].out[0], yb;
    if (kind[i] == K_CONV) {
      if ((e = rewrite_conv(&L, i, &ci[i]))) break;
    } else {
      sn_node *n = &g->nodes[i];
      int nin = kind[i] == K_UNARY || kind[i] == K_GAP || kind[i] == K_POOL || kind[i] == K_AFFINE ? 1 : n->n_in;
      for (int j = 0; j < nin && !e; j++) {
        int b;
        if (kind[i] == K_BINARY && !blk[g->nodes[i].in[j]]) continue; /* (the scalar) */
        if ((e = blocked_in(&L, g->nodes[i].in[j], &b))) break;
        g->nodes[i].in[j] = b;
      }
      if (e) break;
      n = &g->nodes[i];
      if (kind[i] == K_POOL || kind[i] == K_GAP) {
        char op[64];
        snprintf(op, sizeof op, "Nchwc%s", sn_node_is(n, "ReduceMean") ? "GlobalAveragePool" : n->op_type);
        n->n_in = 1; /* (ReduceMean's axes input, if any) */
        if ((e = set_op(n, "sinter", op)) || (e = sn_node_set_int(n, "block", B))) break;
      }
      if (kind[i] == K_CONCAT && (e = sn_node_set_int(n, "axis", 1))) break;
      if (kind[i] == K_AFFINE) { /* X * a + b per channel */
        int a, b;
        if ((e = affine_params(g, &g->nodes[i], B, &a, &b))) break;
        n = &g->nodes[i]; /* (the value array may have moved, not the nodes) */
        n->in[1] = a, n->in[2] = b, n->n_in = 3;
        n->n_out = 1;
        /* (BatchNormalization's epsilon and momentum go with its op) */
        if ((e = sn_node_retype(n, "sinter", "NchwcChannelAffine", 1, true)) || (e = sn_node_set_int(n, "block", B)))
          break;
      }
      /* Mul by a per-channel scale of the same images (squeeze-excitation): the blocked channel
       * scale, the big operand first */
      if (kind[i] == K_BINARY && sn_node_is(n, "Mul")) {
        int big = channel_scale_of(g, L.nv0, n);
        if (big >= 0) {
          if (big == 1) {
            int t = n->in[0];
            n->in[0] = n->in[1];
            n->in[1] = t;
          }
          if ((e = set_op(n, "sinter", "NchwcChannelMul")) || (e = sn_node_set_int(n, "block", B))) break;
        }
      }
    }
    if ((e = sn_graph_add_value_like(g, y, "_nchwc", &yb))) break;
    blocked_type(&g->values[y].type, B, chans(g, y), &g->values[yb].type);
    g->nodes[i].out[0] = yb;
    L.bid[y] = yb;
    if ((e = sn_node_resolve(g, &g->nodes[i]))) break;
    c->changed++;
  }
  if (e) goto done;
  /* reorders back wherever an original value is still read (outside the regions) or is an output */
  {
    int *uses = sn_graph_use_counts(g);
    if (!uses) {
      e = SN_ERR_OOM();
      goto done;
    }
    for (int v = 0; v < nv0 && !e; v++)
      if (L.bid[v] >= 0 && uses[v] > 0) e = add_reorder(g, "ReorderOutput", L.bid[v], v, B, chans(g, v));
    sn_free(uses);
  }
  if (!e) e = fold_sole_readers(c, "NchwcChannelMul", scale_into_conv);
  if (!e) e = fold_sole_readers(c, "NchwcChannelAffine", relu_into_affine);
  if (!e) e = fold_nhwc_transposes(c);
  if (!e) e = fold_nhwc_input_transposes(c);
  if (!e && c->changed) {
    sn_graph_update_producers(g);
    e = sn_graph_toposort(g);
  }
done:
  sn_free(L.bid);
  sn_free(L.rin);
  sn_free(kind);
  sn_free(blk);
  sn_free(ci);
  return e;
}
