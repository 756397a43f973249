/* Ops of the "sinter" domain on the blocked channel layout NCHWc (see kernels/nchwc.h), produced by
 * the layout pass (src/passes/layout.c) at level 3:
 *   ReorderInput(X [N,C,H,W]) -> [N, ceil(C/b), H, W, b]          attribute block; nhwc=1: X is
 *       [N, H, W, C] (a Transpose from channels-last folded in)
 *   ReorderOutput(X [N,CB,H,W,b]) -> [N, channels, H, W]            attribute channels; nhwc=1:
 *       [N, H, W, channels] (a Transpose to channels-last folded in); squeeze=1: X a 1 x 1 map (a
 *       spatial ReduceMean without keepdims), Y [N, channels]
 *   NchwcConv(X, W packed, [B padded to CB*b], [residual like Y])   2-D convolution, group 1,
 *       depthwise (depthwise=1) or grouped (group > 1 with input_channels, the real input channel
 *       count: W packed per output block over the input blocks its groups read), attributes of Conv
 *       (kernel_shape required) plus channels (the real output channel count), has_bias, has_residual,
 *       activation/act_alpha/act_beta as sinter:FusedConv;
 *       input_block=1: X is plain NCHW (the stem convolution on few channels writes the blocked
 *       layout straight away, no reorder before it); has_scale=1: a last input S [N, CB, 1, 1, b]
 *       scales X's channels first (squeeze-excitation folded in: conv(X * S)); a 3x3 stride-1
 *       group-1 convolution with a constant weight runs as Winograd F(4x4, 3x3) where wino_wins
 *       (or, with SINTER_TUNE, a timing at the first run) picks it (kernels/winograd.h; its
 *       transformed weights are made on that run and kept in the params)
 *   NchwcMaxPool, NchwcAveragePool (attributes of MaxPool/AveragePool, 2-D), NchwcGlobalAveragePool
 *   NchwcChannelMul(X [N,CB,H,W,b], S [N,CB,1,1,b]) = X * S  (squeeze-excitation's channel scale)
 *   NchwcChannelAffine(X, A [CB*b], Bc [CB*b]) = X * A + Bc per channel (an inference BatchNormalization
 *     between a Concat and its Relu, DenseNet's; zero past the channels, so padded lanes stay 0); relu=1:
 *     max(0, X * A + Bc) (the Relu after it folded in)
 * Padded channels hold zeros out of every reorder and convolution (bias pads are zero), and every
 * op here keeps finite values finite in them, so padded input lanes (whose weights are zero) add
 * nothing to a convolution. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "kernels/nchwc.h"
#include "kernels/nchwc_bf16.h"
#include "kernels/ref/nn_util.h"
#include "kernels/winograd.h"
#include "ops/fused.h"
#include "ops/nchwc_tune.h"
#include "ops/op.h"
#include "runtime/cpu.h"
#include "runtime/prof.h"
#include "runtime/threadpool.h"

enum { OP_RIN, OP_ROUT, OP_CONV, OP_MAXPOOL, OP_AVGPOOL, OP_GAVG, OP_CMUL, OP_AFFINE };

typedef struct nchwc_params {
  int kind;
  int64_t block, channels, in_block;
  int64_t group, in_channels; /* NchwcConv: groups (1, or > 1 for a grouped weight) and input channels */
  bool nhwc;    /* ReorderOutput: write [N, H, W, C] */
  bool squeeze; /* ReorderOutput of a 1 x 1 map: write [N, C] */
  sn_window_attrs w;
  bool depthwise, has_bias, has_residual, has_scale, count_include_pad;
  bool relu; /* NchwcChannelAffine: max(0, .) */
  int act;
  float alpha, beta;
  sn_wino_weights *wino; /* NchwcConv: Winograd weights, made on the first run that takes that path */
  uint32_t *wbf16; /* NchwcConv under --precision bf16: the constant weight as bf16 pairs (made at the first run) */
  sn_pack_slot gemm; /* NchwcConv on a small map: the weight packed for the float32 GEMM (at load, else the first run) */
} nchwc_params;

static int kind_of(const char *t) {
  if (!strcmp(t, "ReorderInput")) return OP_RIN;
  if (!strcmp(t, "ReorderOutput")) return OP_ROUT;
  if (!strcmp(t, "NchwcConv")) return OP_CONV;
  if (!strcmp(t, "NchwcMaxPool")) return OP_MAXPOOL;
  if (!strcmp(t, "NchwcAveragePool")) return OP_AVGPOOL;
  if (!strcmp(t, "NchwcChannelMul")) return OP_CMUL;
  if (!strcmp(t, "NchwcChannelAffine")) return OP_AFFINE;
  return OP_GAVG;
}

static sn_error *nchwc_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  char buf[160];
  nchwc_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  *params = p;
  p->kind = kind_of(n->op_type);
  p->block = sn_attr_int(n, "block", 16);
  p->channels = sn_attr_int(n, "channels", -1);
  p->nhwc = (p->kind == OP_ROUT || p->kind == OP_RIN) && sn_attr_int(n, "nhwc", 0) != 0;
  p->squeeze = p->kind == OP_ROUT && sn_attr_int(n, "squeeze", 0) != 0;
  if (p->block < 1 || p->block > 64)
    return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: block = %lld must be in [1, 64]", sn_node_desc(n, buf, sizeof buf),
                     (long long)p->block);
  if ((p->kind == OP_ROUT || p->kind == OP_CONV) && p->channels < 1)
    return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: attribute channels (a positive count) is required",
                     sn_node_desc(n, buf, sizeof buf));
  if (p->kind == OP_CONV || p->kind == OP_MAXPOOL || p->kind == OP_AVGPOOL) {
    SN_TRY(sn_window_parse(n, &p->w));
    if (p->w.n_kernel != 2)
      return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: kernel_shape with 2 values is required",
                       sn_node_desc(n, buf, sizeof buf));
  }
  if (p->kind == OP_CONV) {
    p->depthwise = sn_attr_int(n, "depthwise", 0) != 0;
    p->in_block = sn_attr_int(n, "input_block", p->block);
    if (p->in_block != p->block && (p->in_block != 1 || p->depthwise))
      return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: input_block = %lld must be the block or 1 (NCHW input, group 1)",
                       sn_node_desc(n, buf, sizeof buf), (long long)p->in_block);
    p->has_bias = sn_attr_int(n, "has_bias", 0) != 0;
    p->has_residual = sn_attr_int(n, "has_residual", 0) != 0;
    p->has_scale = sn_attr_int(n, "has_scale", 0) != 0;
    p->group = p->depthwise ? 1 : sn_attr_int(n, "group", 1); /* (a depthwise one keeps Conv's group = C) */
    p->in_channels = sn_attr_int(n, "input_channels", -1);
    if (p->group < 1 || (p->group > 1 && (p->in_block != p->block || p->has_scale || p->in_channels < 1 ||
                                          p->in_channels % p->group || p->channels % p->group)))
      return sn_errorf(SINTER_ERR_INVALID_GRAPH,
                       "%s: group = %lld needs a blocked input, input_channels and channels (%lld, %lld) that it "
                       "divides, and no has_scale",
                       sn_node_desc(n, buf, sizeof buf), (long long)p->group, (long long)p->in_channels,
                       (long long)p->channels);
    if (n->n_in != 2 + p->has_bias + p->has_residual + p->has_scale)
      return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: %d inputs do not match has_bias/has_residual/has_scale",
                       sn_node_desc(n, buf, sizeof buf), n->n_in);
    if (p->has_scale && (p->depthwise || p->in_block != p->block))
      return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: has_scale needs a group-1 convolution on a blocked input",
                       sn_node_desc(n, buf, sizeof buf));
    const char *a = sn_attr_str(n, "activation", "");
    float da, db;
    p->act = sn_act_lookup(a, &da, &db);
    if (p->act < 0)
      return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: unknown activation '%s'", sn_node_desc(n, buf, sizeof buf), a);
    p->alpha = sn_attr_float(n, "act_alpha", da);
    p->beta = sn_attr_float(n, "act_beta", db);
  }
  if (p->kind == OP_AFFINE) p->relu = sn_attr_int(n, "relu", 0) != 0;
  if (p->kind == OP_AVGPOOL) p->count_include_pad = sn_attr_int(n, "count_include_pad", 0) != 0;
  if (p->kind == OP_MAXPOOL && n->n_out > 1 && n->out[1] >= 0)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: no Indices output on the blocked layout",
                     sn_node_desc(n, buf, sizeof buf));
  return NULL;
}

static void nchwc_free(void *params) {
  nchwc_params *p = params;
  if (p) {
    sn_wino_weights_free(p->wino);
    sn_aligned_free(p->wbf16);
    sn_pack_slot_clear(&p->gemm);
  }
  sn_free(p);
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---- shape functions ------------------------------------------------------------------------------ */

static sn_error *nchwc_infer(sn_infer_ctx *c) {
  const nchwc_params *p = c->node->params;
  if (!p) return sn_infer_error(c, "not prepared");
  const sn_type *x = c->in[0];
  sn_type *y = c->out[0];
  if (!x) return sn_infer_error(c, "input X is required");
  if (x->dtype && x->dtype != SINTER_FLOAT) return sn_infer_error(c, "float32 only, not %s", sn_dtype_name(x->dtype));
  if (!y) return NULL;
  if (x->rank < 0) {
    sn_type_set_unknown(y, SINTER_FLOAT);
    return NULL;
  }
  const int64_t B = p->block;
  sn_dim d[5];
  if (p->kind == OP_RIN) {
    if (x->rank != 4)
      return sn_infer_error(c, "input must be 4-D [N, %s], not rank %d", p->nhwc ? "H, W, C" : "C, H, W", x->rank);
    const sn_dim ch = x->dims[p->nhwc ? 3 : 1];
    d[0] = x->dims[0];
    d[1] = ch.v >= 0 ? sn_dim_known(cdiv(ch.v, B)) : sn_dim_unknown();
    d[2] = x->dims[p->nhwc ? 1 : 2], d[3] = x->dims[p->nhwc ? 2 : 3], d[4] = sn_dim_known(B);
    sn_type_set(y, SINTER_FLOAT, 5, d);
    return NULL;
  }
  if (p->kind == OP_CONV && p->in_block == 1) {
    if (x->rank != 4) return sn_infer_error(c, "input must be 4-D [N, C, H, W] (input_block 1), not rank %d", x->rank);
  } else if (x->rank != 5 || (x->dims[4].v >= 0 && x->dims[4].v != B)) {
    return sn_infer_error(c, "input must be blocked [N, CB, H, W, %lld]", (long long)B);
  }
  if (p->kind == OP_ROUT) {
    if (x->dims[1].v >= 0 && x->dims[1].v != cdiv(p->channels, B))
      return sn_infer_error(c, "%lld blocks do not hold %lld channels", (long long)x->dims[1].v, (long long)p->channels);
    if (p->squeeze) {
      if ((x->dims[2].v >= 0 && x->dims[2].v != 1) || (x->dims[3].v >= 0 && x->dims[3].v != 1))
        return sn_infer_error(c, "squeeze needs a 1 x 1 map, not %lld x %lld", (long long)x->dims[2].v,
                              (long long)x->dims[3].v);
      d[0] = x->dims[0], d[1] = sn_dim_known(p->channels);
      sn_type_set(y, SINTER_FLOAT, 2, d);
      return NULL;
    }
    d[0] = x->dims[0], d[1] = sn_dim_known(p->channels), d[2] = x->dims[2], d[3] = x->dims[3];
    if (p->nhwc) d[1] = x->dims[2], d[2] = x->dims[3], d[3] = sn_dim_known(p->channels);
    sn_type_set(y, SINTER_FLOAT, 4, d);
    return NULL;
  }
  d[0] = x->dims[0], d[1] = x->dims[1], d[4] = sn_dim_known(B);
  if (p->kind == OP_CMUL) {
    const sn_type *sc = c->n_in > 1 ? c->in[1] : NULL;
    if (!sc || (sc->rank >= 0 && (sc->rank != 5 || (sc->dims[2].v >= 0 && sc->dims[2].v != 1) ||
                                  (sc->dims[3].v >= 0 && sc->dims[3].v != 1))))
      return sn_infer_error(c, "the scale must be blocked [N, CB, 1, 1, %lld]", (long long)B);
    sn_type_set(y, SINTER_FLOAT, 5, x->dims);
    return NULL;
  }
  if (p->kind == OP_AFFINE) {
    for (int k = 1; k < 3; k++) {
      const sn_type *t = c->n_in > k ? c->in[k] : NULL;
      if (!t || (t->rank >= 0 && t->rank != 1))
        return sn_infer_error(c, "the per-channel scale and shift must be 1-D (CB * %lld floats)", (long long)B);
    }
    sn_type_set(y, SINTER_FLOAT, 5, x->dims);
    return NULL;
  }
  if (p->kind == OP_GAVG) {
    d[2] = d[3] = sn_dim_known(1);
    sn_type_set(y, SINTER_FLOAT, 5, d);
    return NULL;
  }
  int64_t in[2] = {x->dims[2].v, x->dims[3].v};
  sn_window w;
  char msg[256];
  if (!sn_window_resolve(&p->w, 2, in, NULL, p->kind != OP_CONV, &w, msg, sizeof msg)) return sn_infer_error(c, "%s", msg);
  if (p->kind == OP_CONV) d[1] = sn_dim_known(cdiv(p->channels, B));
  d[2] = w.out[0] >= 0 ? sn_dim_known(w.out[0]) : sn_dim_unknown();
  d[3] = w.out[1] >= 0 ? sn_dim_known(w.out[1]) : sn_dim_unknown();
  sn_type_set(y, SINTER_FLOAT, 5, d);
  return NULL;
}

/* ---- kernels -------------------------------------------------------------------------------------- */

static sn_error *check_blocked(sn_kernel_ctx *c, const sn_tensor *x, int64_t B) {
  char b1[128];
  if (!x || x->dtype != SINTER_FLOAT || x->rank != 5 || x->dims[4] != B)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %s is not a float32 blocked tensor [N, CB, H, W, %lld]",
                           x ? sn_tensor_describe(x, b1, sizeof b1) : "(absent)", (long long)B);
  return NULL;
}

typedef struct reorder_job {
  const float *x;
  float *y;
  int64_t C, hw, B, items;
  bool in, nhwc;
  int nw;
} reorder_job;

static void reorder_task(void *arg, int wk) {
  const reorder_job *j = arg;
  int64_t t0 = wk * j->items / j->nw, t1 = (wk + 1) * j->items / j->nw;
  if (j->in && j->nhwc)
    sn_nchwc_reorder_in_nhwc_f32(j->x, j->y, j->C, j->hw, j->B, t0, t1);
  else if (j->in)
    sn_nchwc_reorder_in_f32(j->x, j->y, j->C, j->hw, j->B, t0, t1);
  else if (j->nhwc)
    sn_nchwc_reorder_out_nhwc_f32(j->x, j->y, j->C, j->hw, j->B, t0, t1);
  else
    sn_nchwc_reorder_out_f32(j->x, j->y, j->C, j->hw, j->B, t0, t1);
}

static sn_error *reorder_run(sn_kernel_ctx *c, const nchwc_params *p, bool in) {
  const sn_tensor *x = c->in[0];
  char b1[128];
  const int64_t B = p->block;
  reorder_job j = {0};
  int64_t dims[5];
  if (in) {
    if (!x || x->dtype != SINTER_FLOAT || x->rank != 4)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %s is not a float32 [N, %s] tensor",
                             x ? sn_tensor_describe(x, b1, sizeof b1) : "(absent)", p->nhwc ? "H, W, C" : "C, H, W");
    const int ca = p->nhwc ? 3 : 1, ha = p->nhwc ? 1 : 2;
    dims[0] = x->dims[0], dims[1] = cdiv(x->dims[ca], B), dims[2] = x->dims[ha], dims[3] = x->dims[ha + 1], dims[4] = B;
    j.C = x->dims[ca];
    j.items = p->nhwc ? x->dims[0] * dims[2] * dims[3] : x->dims[0] * dims[1];
    j.nhwc = p->nhwc;
  } else {
    SN_TRY(check_blocked(c, x, B));
    if (x->dims[1] != cdiv(p->channels, B))
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%lld blocks do not hold %lld channels",
                             (long long)x->dims[1], (long long)p->channels);
    if (p->squeeze && (x->dims[2] != 1 || x->dims[3] != 1))
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "squeeze needs a 1 x 1 map, not %s",
                             sn_tensor_describe(x, b1, sizeof b1));
    dims[0] = x->dims[0], dims[1] = p->channels, dims[2] = x->dims[2], dims[3] = x->dims[3];
    if (p->nhwc) dims[1] = x->dims[2], dims[2] = x->dims[3], dims[3] = p->channels;
    j.C = p->channels;
    j.items = p->nhwc ? x->dims[0] * x->dims[2] * x->dims[3] : x->dims[0] * x->dims[1];
    j.nhwc = p->nhwc;
  }
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_FLOAT, in ? 5 : p->squeeze ? 2 : 4, dims, &y)); /* ([N, C] = [N, C, 1, 1]) */
  /* (pixels per plane: the blocked side's H x W) */
  j.x = x->data, j.y = y->data, j.hw = in ? dims[2] * dims[3] : x->dims[2] * x->dims[3], j.B = B, j.in = in;
  if (!j.items || !j.hw || !j.C) return NULL;
  /* by (image, block), or by (image, pixel) for the channels-last side */
  int nw = sn_nn_workers(c, 8.0 * (double)y->count);
  j.nw = nw < j.items ? nw : (int)j.items;
  sn_nn_run(c, j.nw, reorder_task, &j);
  return NULL;
}

static sn_error *rin_run(sn_kernel_ctx *c) { return reorder_run(c, c->params, true); }
static sn_error *rout_run(sn_kernel_ctx *c) { return reorder_run(c, c->params, false); }

typedef struct conv_job {
  const sn_nchwc_conv_geom *g;
  const nchwc_params *p;
  const float *x, *w;
  float *y;
  int64_t items, rpi, bpi;
  int nw;
  const uint16_t *xb; /* bf16: X and W converted (kernels/nchwc_bf16.h), else NULL */
  const uint32_t *wb;
} conv_job;

/* Whether a bf16 convolution runs on AMX tiles (a blocked input, at most SN_NCHWC_AMX_MAX_TAPS taps) */
static bool bf16_amx_taps(int64_t in_block, int64_t taps) {
  return in_block == 16 && taps <= SN_NCHWC_AMX_MAX_TAPS && sn_cpu_has_amx_bf16();
}
static bool bf16_amx(const sn_nchwc_conv_geom *g) { return bf16_amx_taps(g->in_block, g->kh * g->kw); }

/* Whether a convolution runs in bf16 in this session (--precision bf16): group 1, 16-channel output
 * blocks, on AMX tiles or on the vector kernels where those beat float32 (runtime/cpu.h). The one
 * test conv_bf16_operands and prepack_bf16 share. */
static bool conv_takes_bf16(bool depthwise, int64_t group, int64_t block, int64_t in_block, int64_t taps) {
  return sn_cpu_use_bf16() && !depthwise && group <= 1 && block == 16 &&
         (bf16_amx_taps(in_block, taps) || sn_cpu_bf16_vector_fast());
}

/* items [t0, t1) of the convolution, each followed by the activations the kernel does not apply,
 * over what the item wrote while it is in cache */
static void conv_range(void *arg, int64_t t0, int64_t t1) {
  const conv_job *j = arg;
  const sn_nchwc_conv_geom *g = j->g;
  if (!j->wb && (g->act != SN_NCHWC_ACT_NONE || j->p->act == SN_ACT_NONE)) {
    sn_nchwc_conv_f32(g, j->x, j->w, j->y, t0, t1); /* (one call: a small depthwise item is ~0.2 us) */
    return;
  }
  for (int64_t t = t0; t < t1; t++) {
    if (j->wb && bf16_amx(g)) {
      SN_PROF_KERNEL(sn_nchwc_conv_bf16_amx_name);
      sn_nchwc_conv_bf16_amx(g, j->xb, j->wb, j->y, t, t + 1, true);
    } else if (j->wb) {
      SN_PROF_KERNEL(sn_nchwc_conv_bf16_name);
      if (g->in_block == 1)
        sn_nchw_conv_bf16(g, j->xb, j->wb, j->y, t, t + 1);
      else
        sn_nchwc_conv_bf16(g, j->xb, j->wb, j->y, t, t + 1, true);
    } else
      sn_nchwc_conv_f32(g, j->x, j->w, j->y, t, t + 1);
    if (g->act != SN_NCHWC_ACT_NONE || j->p->act == SN_ACT_NONE) continue;
    const int64_t row_items = cdiv(g->oh, j->rpi), groups = cdiv(g->cbo, j->bpi);
    const int64_t n = t / (groups * row_items), gi = (t / row_items) % groups, ri = t % row_items;
    const int64_t r0 = ri * j->rpi, r1 = r0 + j->rpi < g->oh ? r0 + j->rpi : g->oh;
    for (int64_t cb = gi * j->bpi; cb < (gi + 1) * j->bpi && cb < g->cbo; cb++)
      sn_act_apply((sn_act_kind)j->p->act, j->p->alpha, j->p->beta,
                   j->y + (((n * g->cbo + cb) * g->oh + r0) * g->ow) * g->block, (r1 - r0) * g->ow * g->block);
  }
}

/* ---- small maps as one GEMM -----------------------------------------------------------------------------
 * A group-1 convolution whose output map is small (ResNet-50's last stage: 7x7) gives each weight to few
 * pixels, and its weights (up to 9.4 MB a layer) do not stay in cache between runs: the direct kernel
 * ran those layers at 65-85 GFLOP/s against 100-120 on the larger maps. Here they run as one GEMM of the
 * images' pixels (rows: the window of each, gathered from the blocked input, zeros in the padding) by
 * the weight packed once for the GEMM, whose B streams from memory with prefetching; an epilogue writes
 * each tile of the product into the blocked output with bias, residual and activation.
 * Row k of the GEMM's B is (input block cb, tap t, lane l) = (cb * taps + t) * block + l, so for output
 * block ob the blocked weight [CBO][CBI][kh][kw][block][block] holds B's columns ob * block .. + block as
 * a K x block row-major matrix. */

/* An algorithm switch in the environment: 0 off, 2 every eligible layer, otherwise (unset, 1) where
 * its heuristic says */
static int env_mode(const char *name) {
  const char *e = getenv(name);
  if (!e || !*e) return 1;
  return e[0] == '0' ? 0 : e[0] == '2' ? 2 : 1;
}

/* SINTER_CONV_GEMM: the small-map GEMM (gemm_wins) */
static int gemm_mode(void) { return env_mode("SINTER_CONV_GEMM"); }

/* Maps of at most 64 pixels (ResNet-50's 7x7 stage), weights larger than a core's L2 (ResNet-50's 4 to
 * 9.4 MB there: 0.76-0.90x the direct kernel's time at batch 1, and the model 0.90x at batch 8;
 * MobileNetV2's 1.2 and 1.6 MB 1x1 layers on 7x7 ran as fast or faster direct). The batch does not
 * enter: the weight can then be packed at load while the batch is still symbolic. */
static bool gemm_wins(const sn_nchwc_conv_geom *g) {
  const int64_t wbytes = 4 * g->cbo * g->cbi * g->kh * g->kw * g->block * g->block;
  return g->oh * g->ow <= 64 && wbytes > (int64_t)sn_cpu_cache_sizes().l2;
}

typedef struct cg_job {
  const sn_nchwc_conv_geom *g;
  const nchwc_params *p;
  const float *x;
  float *A, *C, *y;
  int64_t K, N; /* GEMM depth and width (cbo * block) */
} cg_job;

/* rows [r0, r1) of A: pixel r = (n, oy, ox) of the output, its window over every input block */
static void cg_gather(void *arg, int64_t r0, int64_t r1) {
  const cg_job *j = arg;
  const sn_nchwc_conv_geom *g = j->g;
  const int64_t B = g->block, taps = g->kh * g->kw, hw = g->oh * g->ow, ipl = g->ih * g->iw * B;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t n = r / hw, oy = (r % hw) / g->ow, ox = r % g->ow;
    float *a = j->A + r * j->K;
    const float *xn = j->x + n * g->cbi * ipl;
    for (int64_t cb = 0; cb < g->cbi; cb++)
      for (int64_t t = 0; t < taps; t++, a += B) {
        const int64_t iy = oy * g->sh - g->ph + (t / g->kw) * g->dh, ix = ox * g->sw - g->pw + (t % g->kw) * g->dw;
        if (iy < 0 || iy >= g->ih || ix < 0 || ix >= g->iw)
          memset(a, 0, sizeof(float) * (size_t)B);
        else
          memcpy(a, xn + cb * ipl + (iy * g->iw + ix) * B, sizeof(float) * (size_t)B);
      }
  }
}

/* one pixel's lanes [0, n) of one output block: y = c + bias + res, in loops the compiler vectorizes */
static void cg_lanes(float *restrict y, const float *restrict c, const float *restrict bias, const float *restrict res,
                     int64_t n) {
  if (bias)
    for (int64_t l = 0; l < n; l++) y[l] = c[l] + bias[l];
  else
    memcpy(y, c, sizeof(float) * (size_t)n);
  if (res)
    for (int64_t l = 0; l < n; l++) y[l] += res[l];
}

/* rows [r0, r1) x columns [c0, c1) of the product into the blocked output: bias and residual, then
 * the activation over each block's run of pixels (the vector kernels of sn_act_apply) */
static void cg_epilogue(void *arg, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const cg_job *j = arg;
  const sn_nchwc_conv_geom *g = j->g;
  const nchwc_params *p = j->p;
  const int64_t B = g->block, hw = g->oh * g->ow;
  for (int64_t ob = c0 / B; ob * B < c1; ob++) {
    const int64_t l0 = c0 > ob * B ? c0 - ob * B : 0, l1 = c1 < (ob + 1) * B ? c1 - ob * B : B;
    const float *bias = g->bias ? g->bias + ob * B + l0 : NULL;
    for (int64_t r = r0, e; r < r1; r = e) {
      const int64_t n = r / hw;
      e = (n + 1) * hw < r1 ? (n + 1) * hw : r1; /* the run of rows in image n */
      float *yo = j->y + ((n * g->cbo + ob) * hw + r % hw) * B;
      for (int64_t q = r; q < e; q++) {
        float *yq = yo + (q - r) * B + l0;
        cg_lanes(yq, j->C + q * j->N + ob * B + l0, bias, g->res ? g->res + (yq - j->y) : NULL, l1 - l0);
        if (p->act != SN_ACT_NONE && (l0 > 0 || l1 < B)) sn_act_apply((sn_act_kind)p->act, p->alpha, p->beta, yq, l1 - l0);
      }
      if (p->act != SN_ACT_NONE && l0 == 0 && l1 == B) sn_act_apply((sn_act_kind)p->act, p->alpha, p->beta, yo, (e - r) * B);
    }
  }
}

/* Run g (group 1, blocked input, constant weight w) as one GEMM when gemm_wins says so, or when the
 * weight was packed for it at load (its blocked form then possibly released); false: not taken */
static bool conv_gemm(sn_kernel_ctx *c, const sn_nchwc_conv_geom *g, const nchwc_params *p, const float *x,
                      const float *w, float *y, sn_error **err) {
  if (g->depthwise || g->group > 1 || g->in_block != g->block) return false;
  const int64_t B = g->block, K = g->cbi * g->kh * g->kw * B, N = g->cbo * B, M = g->n * g->oh * g->ow;
  sn_pack_slot *slot = &((nchwc_params *)p)->gemm; /* the params' one mutable field: the cache */
  sn_sgemm_packed *pb = __atomic_load_n(&slot->p, __ATOMIC_ACQUIRE);
  const sn_sgemm_impl *im = sn_sgemm_impl_for(sn_cpu_isa());
  const bool packed = pb && pb->rows == K && pb->cols == N && im && pb->isa == im->isa;
  if (!packed) {
    int mode = gemm_mode();
    if (!mode || !im || !w || sn_cpu_use_bf16() || !sn_kernel_input_const(c, 1)) return false;
    if (mode == 1 && !gemm_wins(g)) return false;
    if (pb) return false; /* (another shape's: the direct kernel) */
    sn_sgemm_packed *mine = sn_sgemm_pack_b_blocks(K, g->cbo, B, w);
    if (!mine) return (*err = SN_ERR_OOM()), true;
    sn_sgemm_packed *expected = NULL;
    if (__atomic_compare_exchange_n(&slot->p, &expected, mine, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      pb = mine;
    } else {
      sn_sgemm_packed_free(mine);
      pb = expected;
      if (pb->rows != K || pb->cols != N) return false;
    }
  }
  cg_job j = {g, p, x, sn_kernel_scratch(c, sizeof(float) * (size_t)(M * K)),
              sn_kernel_scratch(c, sizeof(float) * (size_t)(M * N)), y, K, N};
  if (!j.A || !j.C) return (*err = SN_ERR_OOM()), true;
  int nw = sn_nn_workers(c, 4.0 * (double)(M * K)); /* the gather: a copy */
  if (nw > 1)
    sn_parallel_for_dynamic(sn_kernel_pool(c), M, (M + 4 * nw - 1) / (4 * nw), cg_gather, &j);
  else
    cg_gather(&j, 0, M);
  sn_epilogue epi = {cg_epilogue, &j, false};
  *err = sn_nn_sgemm_pb_with(c, NULL, false, M, 1.0f, j.A, K, pb, 0.0f, j.C, N, &epi);
  return true;
}

/* The blocked weight w of n, now held in another form, when n is its only reader: its own buffer is
 * freed (the value keeps type and shape, no data), a view of the model file leaves the resident set */
static void release_weight(const sn_graph *g, const sn_node *n, sn_tensor *w) {
  if (!sn_nn_sole_reader(g, n, n->in[1])) return;
  if (w->owns_data && w->aligned_data)
    sn_tensor_clear(w);
  else if (w->file_view)
    sn_drop_pages(w->data, w->nbytes);
}

/* At the creation of a bf16 session: a group-1 convolution of a 16-blocked input that will run in bf16
 * on every call (conv_takes_bf16) and never as Winograd (not 3x3 stride 1: Winograd picks its layers
 * by the map's size, known at the first run, and builds its own weights from the float32 ones) gets
 * its bf16 weight now (else made by the first run), and with take, when it is the blocked weight's
 * only reader, the float32 copy goes (ResNet-50: the 1x1
 * and strided layers, most of its weights, held once in bf16 instead of in both precisions). */
static sn_error *prepack_bf16(sn_graph *g, sn_node *n, nchwc_params *p, bool take) {
  const int64_t kh = p->w.kernel[0], kw = p->w.kernel[1];
  if (!take || p->in_block != 16 || p->has_scale || p->wbf16 || !conv_takes_bf16(p->depthwise, p->group, p->block, 16, kh * kw))
    return NULL;
  if (n->n_in < 2 || n->in[1] < 0) return NULL;
  const bool s1 = p->w.n_strides < 0 || (p->w.strides[0] == 1 && p->w.strides[1] == 1);
  const bool d1 = p->w.n_dilations < 0 || (p->w.dilations[0] == 1 && p->w.dilations[1] == 1);
  if (kh == 3 && kw == 3 && s1 && d1) return NULL; /* (Winograd may take it) */
  sn_value *wv = &g->values[n->in[1]];
  sn_tensor *w = wv->data;
  if (wv->role != SN_VAL_INITIALIZER || !w || !w->data || w->dtype != SINTER_FLOAT || w->rank != 6 ||
      w->dims[2] != kh || w->dims[3] != kw || w->dims[4] != 16 || w->dims[5] != 16 || w->count % 256)
    return NULL;
  uint32_t *wb = sn_aligned_alloc(sizeof(uint32_t) * (size_t)(w->count / 2));
  if (!wb) return NULL; /* (the float32 weight stays; the first run tries again) */
  sn_nchwc_weight_bf16(w->data, w->count / 256, wb);
  p->wbf16 = wb;
  release_weight(g, n, w);
  return NULL;
}

/* At session creation: a group-1 blocked convolution that conv_gemm will run as a GEMM (its map's size
 * known, gemm_wins) gets its weight packed now, and with take, when it is the blocked weight's only reader, the
 * blocked copy is released (ResNet-50: 54 MB of its last stage held once, not twice). */
static sn_error *nchwc_prepack(sn_graph *g, sn_node *n, void *params, bool take) {
  nchwc_params *p = params;
  if (p && p->kind == OP_CONV && sn_cpu_use_bf16()) return prepack_bf16(g, n, p, take);
  if (!p || p->kind != OP_CONV || p->depthwise || p->group > 1 || p->in_block != p->block || p->has_scale || p->gemm.p)
    return NULL;
  if (n->n_in < 2 || n->in[0] < 0 || n->in[1] < 0 || n->n_out < 1 || n->out[0] < 0) return NULL;
  const sn_type *xt = &g->values[n->in[0]].type, *yt = &g->values[n->out[0]].type;
  sn_value *wv = &g->values[n->in[1]];
  sn_tensor *w = wv->data;
  if (wv->role != SN_VAL_INITIALIZER || !w || !w->data || w->dtype != SINTER_FLOAT || w->rank != 6) return NULL;
  if (xt->rank != 5 || yt->rank != 5) return NULL;
  for (int i = 1; i < 5; i++) /* (the batch may be symbolic: gemm_wins does not read it) */
    if (xt->dims[i].v < 0 || yt->dims[i].v < 0) return NULL; /* (shapes known at the first run only) */
  sn_nchwc_conv_geom geo = {.block = p->block, .in_block = p->in_block, .n = 1, .cbi = xt->dims[1].v,
                            .cbo = yt->dims[1].v, .oh = yt->dims[2].v, .ow = yt->dims[3].v, .kh = p->w.kernel[0],
                            .kw = p->w.kernel[1]};
  const int64_t B = p->block, K = geo.cbi * geo.kh * geo.kw * B;
  if (w->dims[0] != geo.cbo || w->dims[1] != geo.cbi || w->count != geo.cbo * K * B || gemm_mode() != 1 ||
      !gemm_wins(&geo) || sn_cpu_use_bf16() || !sn_sgemm_impl_for(sn_cpu_isa()) || !sn_nn_prepack_enabled())
    return NULL;
  if (!(p->gemm.p = sn_sgemm_pack_b_blocks(K, geo.cbo, B, w->data))) return SN_ERR_OOM();
  if (take) release_weight(g, n, w);
  return NULL;
}

/* ---- Winograd F(4x4, 3x3) for 3x3 stride-1 layers --------------------------------------------------- */

/* SINTER_WINOGRAD: 0 off, 2 every eligible layer, otherwise (unset, 1) where the heuristic says it wins */
static int wino_mode(void) { return env_mode("SINTER_WINOGRAD"); }

/* Whether Winograd beats the direct kernel on g. Measured per layer on one thread with
 * bench/wino_bench.c (direct / Winograd, interleaved, AVX-512 and AVX2): 1.4x to 4x on every 3x3
 * layer of ResNet-50 and SqueezeNet at batch 1 and 8 (even 512 channels at 7x7, 4 tiles: 1.7x);
 * about even with 8 channels; a loss (0.65x to 0.7x) with a single tile of 256+ channels, where the
 * 4x larger transformed weights are read for 16 outputs. */
static bool wino_wins(const sn_nchwc_conv_geom *g) {
  const int64_t cin = g->cbi * g->block, cout = g->cbo * g->block, tiles = sn_wino_tiles(g);
  /* memory: the transformed weights are 4x the 3x3 ones (ResNet-50's 512-channel layers: 38 MB
   * each); on 4 tiles or fewer (a 7x7 map at batch 1) they buy about 1 ms a layer, not worth it */
  if (tiles <= 4 && cin * cout * 36 * (int64_t)sizeof(float) > ((int64_t)16 << 20)) return false;
  return cin >= 16 && cout >= 16 && (tiles >= 2 || cin * cout <= 128 * 128);
}

typedef struct wino_job {
  const sn_nchwc_conv_geom *g;
  const sn_wino_weights *wt;
  sn_wino_split s;
  const nchwc_params *p;
  const float *x;
  float *y, *ws;
  size_t ws_stride;
  int nw;
} wino_job;

static void wino_task(void *arg, int wk) {
  const wino_job *j = arg;
  int64_t i0 = wk * j->s.items / j->nw, i1 = (wk + 1) * j->s.items / j->nw;
  sn_wino_conv_f32(j->g, j->wt, &j->s, j->x, j->y, i0, i1, j->ws + (size_t)wk * j->ws_stride);
}

static void conv_images(sn_kernel_ctx *c, const sn_nchwc_conv_geom *g, const nchwc_params *p, const float *x,
                        const float *w, float *y, const uint16_t *xb, const uint32_t *wb);

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void wino_exec(sn_kernel_ctx *c, const wino_job *j) {
  sn_nn_run(c, j->nw, wino_task, (void *)j);
  /* activations the transform does not apply */
  const sn_nchwc_conv_geom *g = j->g;
  if (g->act == SN_NCHWC_ACT_NONE && j->p->act != SN_ACT_NONE)
    sn_act_apply((sn_act_kind)j->p->act, j->p->alpha, j->p->beta, j->y, g->n * g->cbo * g->oh * g->ow * g->block);
}

typedef struct wino_make_job {
  sn_wino_weights *wt;
  float *buf;
  size_t buf_floats;
  int nw;
  int failed;
} wino_make_job;

static void wino_make_task(void *arg, int wk) {
  wino_make_job *j = arg;
  int p0 = wk * SN_WINO_POINTS / j->nw, p1 = (wk + 1) * SN_WINO_POINTS / j->nw;
  if (!sn_wino_weights_make_points(j->wt, p0, p1, j->buf + (size_t)wk * j->buf_floats))
    __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
}

/* The Winograd weights of w: the 36 points transformed and packed one by one, shared out over the
 * pool (no plain copy kept); at the scalar level, where nothing is packed, the plain U. NULL on
 * OOM. */
static sn_wino_weights *wino_make_weights(sn_kernel_ctx *c, const sn_nchwc_conv_geom *g, const float *w) {
  if (!sn_sgemm_impl_for(sn_cpu_isa())) return sn_wino_weights_create(w, g->cbi, g->cbo, g->block);
  wino_make_job j = {sn_wino_weights_new(w, g->cbi, g->cbo, g->block), NULL, 0, 1, 0};
  if (!j.wt) return NULL;
  j.buf_floats = (sn_wino_weights_buf_floats(j.wt) + 15) / 16 * 16;
  int nw = sn_nn_workers(c, 18.0 * SN_WINO_POINTS * (double)j.buf_floats);
  j.nw = nw < SN_WINO_POINTS ? nw : SN_WINO_POINTS;
  j.buf = sn_aligned_alloc(sizeof(float) * j.buf_floats * (size_t)j.nw);
  if (j.buf) sn_nn_run(c, j.nw, wino_make_task, &j);
  sn_aligned_free(j.buf);
  if (!j.buf || j.failed || !sn_wino_weights_ready(j.wt)) {
    sn_wino_weights_free(j.wt);
    return NULL;
  }
  return j.wt;
}

/* Run g as Winograd when it is eligible and chosen (by wino_wins, or with SINTER_TUNE by timing
 * both kernels once per shape); false when the caller should run the direct kernel (not chosen,
 * the weight is not a constant, out of memory). */
static bool conv_wino(sn_kernel_ctx *c, const sn_nchwc_conv_geom *g, const nchwc_params *p, const float *x,
                      const float *w, float *y) {
  int mode = wino_mode();
  /* (under --precision bf16 the 36 GEMMs take the bf16 copies kernels/winograd.c packs beside the
   * float32 panels; the transforms stay float32) */
  if (!mode || !sn_wino_eligible(g) || !sn_kernel_input_const(c, 1)) return false;
  const bool tune = mode == 1 && sn_tune_enabled();
  if (mode == 1 && !tune && !wino_wins(g)) return false;
  const double flops = 2.0 * (double)(g->n * g->cbo * g->oh * g->ow * g->block) * 9.0 * (double)(g->cbi * g->block);
  int nw = sn_nn_workers(c, flops);
  char key[200];
  int choice = -1;
  if (tune) {
    snprintf(key, sizeof key, "nchwc-conv3x3 direct|wino4x4 %s block %lld threads %d n %lld cin %lld cout %lld in %lldx%lld pads %lld,%lld out %lldx%lld",
             sn_isa_name(sn_cpu_isa()), (long long)g->block, nw, (long long)g->n, (long long)(g->cbi * g->block),
             (long long)(g->cbo * g->block), (long long)g->ih, (long long)g->iw, (long long)g->ph, (long long)g->pw,
             (long long)g->oh, (long long)g->ow);
    choice = sn_tune_lookup(key);
    if (choice == 0) return false;
  }
  sn_wino_weights **at = &((nchwc_params *)p)->wino; /* the params' one mutable field: the cache */
  sn_wino_weights *wt = __atomic_load_n(at, __ATOMIC_ACQUIRE);
  if (!wt) {
    sn_wino_weights *mine = wino_make_weights(c, g, w);
    if (!mine) return false;
    sn_wino_weights *expected = NULL;
    if (__atomic_compare_exchange_n(at, &expected, mine, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      wt = mine;
    } else {
      sn_wino_weights_free(mine);
      wt = expected;
    }
  }
  if (wt->src != w || wt->cbi != g->cbi || wt->cbo != g->cbo || wt->block != g->block || !sn_wino_usable(wt))
    return false;
  wino_job j = {g, wt, {0}, p, x, y, NULL, 0, 1};
  j.s = sn_wino_plan(g, wt, nw, 0);
  j.nw = nw < j.s.items ? nw : (int)j.s.items;
  j.ws_stride = (j.s.ws_floats + 15) / 16 * 16;
  j.ws = sn_kernel_scratch(c, sizeof(float) * j.ws_stride * (size_t)j.nw);
  if (!j.ws) return false;
  if (tune && choice < 0) {
    /* time both twice, interleaved, and keep the faster; y then holds Winograd's (correct) result */
    uint64_t td = UINT64_MAX, tw = UINT64_MAX;
    for (int r = 0; r < 2; r++) {
      uint64_t t0 = now_ns();
      conv_images(c, g, p, x, w, y, NULL, NULL);
      uint64_t t1 = now_ns();
      wino_exec(c, &j);
      uint64_t t2 = now_ns();
      if (t1 - t0 < td) td = t1 - t0;
      if (t2 - t1 < tw) tw = t2 - t1;
    }
    sn_tune_store(key, tw < td);
    return true;
  }
  wino_exec(c, &j);
  return true;
}

/* the least work a thread takes from a convolution's shared ticket at a time (see conv_images) */
#ifndef SN_CONV_GRAB_FLOPS
#define SN_CONV_GRAB_FLOPS 4e5
#endif

/* the convolution of g's images over the pool (in bf16 when xb and wb are given) */
static void conv_images(sn_kernel_ctx *c, const sn_nchwc_conv_geom *g, const nchwc_params *p, const float *x,
                        const float *w, float *y, const uint16_t *xb, const uint32_t *wb) {
  conv_job j = {g, p, x, w, y, 0, 0, 0, 1, xb, wb};
  j.items = sn_nchwc_conv_items(g, &j.rpi, &j.bpi);
  double flops = 2.0 * (double)(g->n * g->cbo * g->oh * g->ow * g->block) * (double)(g->kh * g->kw) *
                 (p->depthwise ? 1.0 : (double)(sn_nchwc_weight_stride(g) / (g->kh * g->kw * g->block)));
  int nw = sn_nn_workers(c, flops);
  j.nw = nw < j.items ? nw : (int)j.items;
  /* items differ in cost (the last block group may be narrower, edge rows touch padding): threads
   * take them on demand, so none waits on another that drew the heavier half; in grabs of about a
   * sixteenth of a thread's share, since every grab moves the shared counter's cache line between
   * cores (one per item cost a batch-8 MobileNetV2's small depthwise layers 30-90% at 2 threads) */
  if (j.nw > 1) {
    int64_t grain = j.items / ((int64_t)j.nw * 16);
    /* and of at least ~0.4 MFLOP (a few microseconds): a 7x7 depthwise layer's 60 items of 14 KFLOP
     * each, grabbed one by one, spent about what they computed in moving that line */
    const int64_t min_grain = (int64_t)(SN_CONV_GRAB_FLOPS / (flops / (double)j.items)) + 1;
    if (grain < min_grain) grain = min_grain;
    sn_parallel_for_dynamic(sn_kernel_pool(c), j.items, grain, conv_range, &j);
  } else {
    conv_range(&j, 0, j.items);
  }
}

/* 1x1, stride 1, no padding: the pixels are one sequence; view them as rows of a width that gives
 * long register tiles and enough rows to share out */
static void flat_view(sn_nchwc_conv_geom *g) {
  if (!sn_nchwc_flat(g)) return;
  int64_t hw = g->ih * g->iw, cols = hw;
  /* at least 4 rows where the pixels allow it (14x14 = 4 rows of 49), so that layers of few output
   * blocks still split over threads by rows */
  int64_t kmax = hw / 4 < 256 ? hw / 4 : 256;
  for (int64_t k = kmax; k >= 32; k--)
    if (hw % k == 0) {
      cols = k;
      break;
    }
  g->ih = g->oh = hw / cols;
  g->iw = g->ow = cols;
}

/* A strided 1x1 layer without padding (ResNet's downsampling shortcuts) reads one pixel in sh x sw:
 * those pixels gathered into a compact map (a quarter of the input at stride 2) make it a 1x1
 * stride-1 layer, which runs as one flat sequence of long tiles, where the strided kernel read rows
 * of 7 to 28 pixels from every other cache line (ResNet-50's: 66-80 GFLOP/s, against about 110 for
 * its stride-1 1x1 layers). Returns the gathered map (kernel scratch) and makes g stride 1, or NULL
 * when g is not such a layer. */
typedef struct gather_job {
  const sn_nchwc_conv_geom *g;
  const float *x;
  float *out;
} gather_job;

static void gather_rows(void *arg, int64_t r0, int64_t r1) { /* r = (n * cbi + cb) * oh + oy */
  const gather_job *j = arg;
  const sn_nchwc_conv_geom *g = j->g;
  const int64_t B = g->in_block;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t plane = r / g->oh, oy = r % g->oh;
    const float *src = j->x + ((plane * g->ih) + oy * g->sh) * g->iw * B;
    float *dst = j->out + r * g->ow * B;
    for (int64_t ox = 0; ox < g->ow; ox++) memcpy(dst + ox * B, src + ox * g->sw * B, sizeof(float) * (size_t)B);
  }
}

static const float *gather_strided_1x1(sn_kernel_ctx *c, sn_nchwc_conv_geom *g, const float *x) {
  if (g->kh != 1 || g->kw != 1 || (g->sh == 1 && g->sw == 1) || g->ph || g->pw || g->depthwise || g->in_block < 8)
    return NULL;
  const int64_t rows = g->n * g->cbi * g->oh;
  float *out = sn_kernel_scratch(c, sizeof(float) * (size_t)(rows * g->ow * g->in_block));
  if (!out) return NULL; /* the strided kernel instead */
  gather_job j = {g, x, out};
  if (rows >= 64)
    sn_parallel_for(sn_kernel_pool(c), rows, gather_rows, &j);
  else
    gather_rows(&j, 0, rows);
  g->ih = g->oh, g->iw = g->ow, g->sh = g->sw = 1;
  return out;
}

/* SINTER_BF16_IM2COL: 0 never, 2 every bf16 layer that is not already 1x1 stride 1, otherwise where
 * the heuristic says */
static int im2col_mode(void) {
  const char *e = getenv("SINTER_BF16_IM2COL");
  if (!e || !*e) return 1;
  return e[0] == '0' ? 0 : e[0] == '2' ? 2 : 1;
}

/* Whether a bf16 layer runs on its input gathered per output pixel (kernels/nchwc_bf16.h: one flat
 * 1x1 convolution): a strided or padded 1x1 layer (the gather converts only the pixels it reads, a
 * quarter of the input at stride 2), and narrow maps (ResNet-50's 512-channel 3x3 layers on 7x7 ran
 * their rows as tiles of 4 + 3 pixels); the gathered input is K times the output map's pixels */
static bool bf16_im2col(const sn_nchwc_conv_geom *g) {
  int mode = im2col_mode();
  if (mode == 0 || sn_nchwc_flat(g)) return false;
  const int64_t K = g->kh * g->kw;
  const double bytes = 2.0 * (double)(g->n * g->cbi * K * g->oh * g->ow * 16);
  if (bytes > 64.0 * 1024 * 1024) return false;
  return mode == 2 || K == 1 || g->ow < 14;
}

/* X as the bf16 kernel reads it, rows shared out over the pool: gathered per output pixel (im2col,
 * rows n * cbi * kh * kw * oh), an NCHW input's padded rows, or a blocked input's (n * cbi * ih) */
typedef struct to_bf16_job {
  const sn_nchwc_conv_geom *g;
  const float *x;
  uint16_t *y;
  int64_t rows;
  int nw;
  bool im2col;
} to_bf16_job;

static void to_bf16_task(void *arg, int wk) {
  const to_bf16_job *j = arg;
  const int64_t t0 = wk * j->rows / j->nw, t1 = (wk + 1) * j->rows / j->nw;
  if (j->im2col)
    sn_nchwc_im2col_bf16(j->g, j->x, j->y, t0, t1);
  else if (j->g->in_block == 1)
    sn_nchw_to_bf16_padded(j->g, j->x, j->y, t0, t1);
  else
    sn_nchwc_to_bf16_padded(j->g, j->x, j->y, t0, t1);
}

/* the bf16 pairs of the packed float32 weight of g */
static void weight_bf16(const sn_nchwc_conv_geom *g, const float *w, int64_t pairs, uint32_t *dst) {
  if (g->in_block == 1)
    sn_nchw_weight_bf16(g, w, dst);
  else
    sn_nchwc_weight_bf16(w, pairs / 128, dst);
}

/* --precision bf16: a group-1 convolution of a blocked or NCHW input runs in bf16
 * (kernels/nchwc_bf16.h) on X converted per run (with its left / right padding columns stored, so no
 * tile checks bounds; or gathered per output pixel where bf16_im2col says) and W
 * converted once (kept in the params when W is a constant, else per run); *xb, *wb stay NULL
 * (float32) otherwise or when memory is short */
static sn_error *conv_bf16_operands(sn_kernel_ctx *c, const nchwc_params *p, sn_nchwc_conv_geom *g,
                                    const sn_tensor *x, const sn_tensor *w, const uint16_t **xb, const uint32_t **wb) {
  /* (AMX tiles, or the vector kernels where those are faster than float32: runtime/cpu.h) */
  if (!conv_takes_bf16(p->depthwise, p->group, g->block, g->in_block, g->kh * g->kw)) return NULL;
  const bool nchw = g->in_block == 1; /* (an NCHW input: pairs along the kernel row) */
  if (nchw ? g->dw != 1 : g->in_block != 16 || x->count % 16 || w->count % 256) return NULL;
  const int64_t pairs = nchw ? sn_nchw_weight_bf16_size(g) : w->count / 2;
  uint32_t **slot = &((nchwc_params *)p)->wbf16; /* the params' one mutable field: the cache */
  uint32_t *wc = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (!sn_kernel_input_const(c, 1)) {
    if (!(wc = sn_kernel_scratch(c, sizeof(uint32_t) * (size_t)pairs))) return NULL;
    weight_bf16(g, w->data, pairs, wc);
  } else if (!wc) {
    uint32_t *mine = sn_aligned_alloc(sizeof(uint32_t) * (size_t)pairs), *expected = NULL;
    if (!mine) return NULL;
    weight_bf16(g, w->data, pairs, mine);
    if (__atomic_compare_exchange_n(slot, &expected, mine, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      wc = mine;
    } else {
      sn_aligned_free(mine);
      wc = expected;
    }
  }
  const bool im2col = !nchw && bf16_im2col(g);
  const int64_t rows = im2col ? g->n * g->cbi * g->kh * g->kw * g->oh : g->n * g->cbi * g->ih;
  const int64_t row_values = im2col ? 16 * g->ow : nchw ? sn_nchw_bf16_padded_width(g) : 16 * sn_nchwc_bf16_padded_width(g);
  /* (the AMX kernel's last tiles read past the end: zeros) */
  const int64_t slack = bf16_amx(g) ? sn_nchwc_bf16_amx_slack(g) : 0;
  uint16_t *xc = sn_kernel_scratch(c, sizeof(uint16_t) * (size_t)(rows * row_values + slack));
  if (!xc || rows <= 0) return NULL;
  memset(xc + rows * row_values, 0, sizeof(uint16_t) * (size_t)slack);
  to_bf16_job j = {g, x->data, xc, rows, 1, im2col};
  int nw = sn_nn_workers(c, 4.0 * (double)(rows * row_values));
  j.nw = nw < j.rows ? nw : (int)j.rows;
  sn_nn_run(c, j.nw, to_bf16_task, &j);
  if (im2col) { /* g becomes the flat 1x1 convolution of the gathered input */
    *g = sn_nchwc_im2col_geom(g);
    flat_view(g);
  }
  *xb = xc, *wb = wc;
  return NULL;
}

static sn_error *conv_run(sn_kernel_ctx *c) {
  const nchwc_params *p = c->params;
  const int64_t B = p->block;
  const sn_tensor *x = c->in[0], *w = c->in[1];
  char b1[128], b2[128], msg[256];
  const int64_t BI = p->in_block;
  if (BI == 1) {
    if (!x || x->dtype != SINTER_FLOAT || x->rank != 4)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %s is not a float32 [N, C, H, W] tensor",
                             x ? sn_tensor_describe(x, b1, sizeof b1) : "(absent)");
  } else {
    SN_TRY(check_blocked(c, x, B));
  }
  const int64_t N = x->dims[0], CBI = x->dims[1], CBO = cdiv(p->channels, B);
  const int64_t kh = p->w.kernel[0], kw = p->w.kernel[1];
  bool wok = w && w->dtype == SINTER_FLOAT;
  if (wok && p->depthwise)
    wok = w->rank == 4 && w->dims[0] == CBO && w->dims[1] == kh && w->dims[2] == kw && w->dims[3] == B && CBI == CBO;
  int64_t span = CBI; /* input blocks a packed output block: CBI, or a grouped weight's span */
  if (wok && !p->depthwise) {
    wok = w->rank == 6 && w->dims[0] == CBO && w->dims[2] == kh && w->dims[3] == kw && w->dims[4] == BI &&
          w->dims[5] == B;
    /* (computed once a run, here, after the checks that bound it, not by every kernel call) */
    if (wok && p->group > 1)
      span = CBI == cdiv(p->in_channels, B) ? sn_nchwc_group_span(p->channels, p->in_channels, p->group, B) : -1;
    wok = wok && w->dims[1] == span;
  }
  if (!wok)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "packed weight %s does not fit input %s, %lld outputs, %s",
                           w ? sn_tensor_describe(w, b1, sizeof b1) : "(absent)", sn_tensor_describe(x, b2, sizeof b2),
                           (long long)p->channels, p->depthwise ? "depthwise" : p->group > 1 ? "grouped" : "group 1");
  int at = 2;
  const float *bias = NULL, *res = NULL;
  if (p->has_bias) {
    const sn_tensor *b = c->in[at++];
    if (!b || b->dtype != SINTER_FLOAT || b->count != CBO * B)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "bias must hold %lld floats (padded)", (long long)(CBO * B));
    bias = b->data;
  }
  sn_window win;
  if (!sn_window_resolve(&p->w, 2, x->dims + 2, NULL, false, &win, msg, sizeof msg))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (X %s)", msg, sn_tensor_describe(x, b1, sizeof b1));
  int64_t dims[5] = {N, CBO, win.out[0], win.out[1], B};
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_FLOAT, 5, dims, &y));
  if (p->has_residual) {
    const sn_tensor *r = c->in[at++];
    if (!r || r->dtype != SINTER_FLOAT || r->count != y->count)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "residual must have the output's shape");
    res = r->data;
  }
  if (!y->count) return NULL;
  sn_nchwc_conv_geom g = {.block = B, .in_block = BI, .n = N, .cbi = CBI, .cbo = CBO, .ih = x->dims[2], .iw = x->dims[3],
                          .oh = win.out[0], .ow = win.out[1], .kh = kh, .kw = kw, .sh = win.stride[0],
                          .sw = win.stride[1], .dh = win.dil[0], .dw = win.dil[1], .ph = win.pad_begin[0],
                          .pw = win.pad_begin[1], .depthwise = p->depthwise, .group = p->group,
                          .group_in = p->in_channels / p->group, .group_out = p->channels / p->group, .span = span,
                          .bias = bias, .res = res,
                          .act = SN_NCHWC_ACT_NONE, .lo = -INFINITY, .hi = INFINITY};
  if (p->act == SN_ACT_RELU) g.act = SN_NCHWC_ACT_RELU;
  if (p->act == SN_ACT_CLIP) g.act = SN_NCHWC_ACT_CLIP, g.lo = p->alpha, g.hi = p->beta;
  const sn_tensor *sc = p->has_scale ? c->in[at++] : NULL;
  if (!sc) {
    sn_error *e = NULL;
    if (conv_gemm(c, &g, p, x->data, w->data, y->data, &e)) return e;
  }
  const bool bf16_only = !w->data && p->wbf16; /* (prepack_bf16) */
  if (!w->data && !bf16_only)
    return sn_kernel_error(c, SINTER_ERR_RUNTIME, "the blocked weight was released at load for the GEMM path, "
                           "which this run (ISA or precision changed) cannot take");
  const float *xg = sc ? NULL : gather_strided_1x1(c, &g, x->data);
  flat_view(&g);
  if (!sc && conv_wino(c, &g, p, x->data, w->data, y->data)) return NULL;
  if (!sc) {
    const uint16_t *xb = NULL;
    const uint32_t *wb = NULL;
    sn_tensor xt;
    const sn_tensor *xin = x;
    if (xg) { /* the gathered map stands for X */
      xt = *x;
      xt.data = (void *)xg;
      xt.dims[2] = g.ih, xt.dims[3] = g.iw;
      xt.count = x->dims[0] * x->dims[1] * g.ih * g.iw * x->dims[4];
      xt.nbytes = sizeof(float) * (size_t)xt.count;
      xt.owns_data = false;
      xin = &xt;
    }
    SN_TRY(conv_bf16_operands(c, p, &g, xin, w, &xb, &wb));
    if (bf16_only && (!xb || !wb)) /* (only the input's bf16 scratch can be missing) */
      return sn_kernel_error(c, SINTER_ERR_OUT_OF_MEMORY, "no memory for the bf16 input of a bf16-only weight");
    conv_images(c, &g, p, xin->data, w->data, y->data, xb, wb);
    return NULL;
  }
  if (sc->dtype != SINTER_FLOAT || sc->rank != 5 || sc->dims[0] != N || sc->dims[1] != CBI || sc->dims[2] != 1 ||
      sc->dims[3] != 1 || sc->dims[4] != B)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "scale %s does not fit input %s",
                           sn_tensor_describe(sc, b1, sizeof b1), sn_tensor_describe(x, b2, sizeof b2));
  /* per image: scale the packed weights by S when they are smaller than the image, else the image */
  const int64_t xsz = CBI * g.ih * g.iw * B, ysz = CBO * g.oh * g.ow * B, K = kh * kw;
  const bool scale_w = w->count < xsz;
  float *tmp = sn_kernel_scratch(c, sizeof(float) * (size_t)(scale_w ? w->count : xsz));
  if (!tmp) return SN_ERR_OOM();
  sn_nchwc_conv_geom gi = g;
  gi.n = 1;
  for (int64_t n = 0; n < N; n++) {
    const float *sv = (const float *)sc->data + n * CBI * B, *xn = (const float *)x->data + n * xsz;
    gi.res = res ? res + n * ysz : NULL;
    if (scale_w) {
      const float *wv = w->data;
      for (int64_t q = 0; q < CBO * CBI * K; q++) { /* q = (mb * CBI + cb) * K + k */
        const float *s16 = sv + ((q / K) % CBI) * B;
        for (int64_t i = 0; i < B; i++)
          for (int64_t l = 0; l < B; l++) tmp[(q * B + i) * B + l] = wv[(q * B + i) * B + l] * s16[i];
      }
      conv_images(c, &gi, p, xn, tmp, (float *)y->data + n * ysz, NULL, NULL);
    } else {
      for (int64_t q = 0; q < CBI * g.ih * g.iw; q++) { /* q = cb * hw + pixel */
        const float *s16 = sv + (q / (g.ih * g.iw)) * B;
        for (int64_t l = 0; l < B; l++) tmp[q * B + l] = xn[q * B + l] * s16[l];
      }
      conv_images(c, &gi, p, tmp, w->data, (float *)y->data + n * ysz, NULL, NULL);
    }
  }
  return NULL;
}

typedef struct pool_job {
  const sn_nchwc_pool_geom *g;
  const float *x;
  float *y;
  int64_t items, hw;
  bool global;
  int nw;
} pool_job;

static void pool_task(void *arg, int wk) {
  const pool_job *j = arg;
  int64_t t0 = wk * j->items / j->nw, t1 = (wk + 1) * j->items / j->nw;
  if (j->global)
    sn_nchwc_gavg_f32(j->x, j->y, j->hw, j->g->block, t0, t1);
  else
    sn_nchwc_pool_f32(j->g, j->x, j->y, t0, t1);
}

static sn_error *pool_run(sn_kernel_ctx *c) {
  const nchwc_params *p = c->params;
  const int64_t B = p->block;
  const sn_tensor *x = c->in[0];
  char b1[128], msg[256];
  SN_TRY(check_blocked(c, x, B));
  sn_nchwc_pool_geom g = {.block = B, .n = x->dims[0], .cb = x->dims[1], .ih = x->dims[2], .iw = x->dims[3]};
  pool_job j = {&g, x->data, NULL, x->dims[0] * x->dims[1], x->dims[2] * x->dims[3], p->kind == OP_GAVG, 1};
  if (j.global) {
    g.oh = g.ow = 1;
  } else {
    sn_window win;
    if (!sn_window_resolve(&p->w, 2, x->dims + 2, NULL, true, &win, msg, sizeof msg))
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (X %s)", msg, sn_tensor_describe(x, b1, sizeof b1));
    g.oh = win.out[0], g.ow = win.out[1], g.kh = win.k[0], g.kw = win.k[1], g.sh = win.stride[0], g.sw = win.stride[1];
    g.dh = win.dil[0], g.dw = win.dil[1], g.ph = win.pad_begin[0], g.pw = win.pad_begin[1];
    g.pad_end_h = win.pad_end[0], g.pad_end_w = win.pad_end[1];
    g.max = p->kind == OP_MAXPOOL;
    g.count_include_pad = p->count_include_pad;
  }
  int64_t dims[5] = {g.n, g.cb, g.oh, g.ow, B};
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_FLOAT, 5, dims, &y));
  j.y = y->data;
  if (!y->count || !j.items) return NULL;
  double work = j.global ? (double)x->count : (double)y->count * (double)(g.kh * g.kw);
  int nw = sn_nn_workers(c, 2.0 * work);
  j.nw = nw < j.items ? nw : (int)j.items;
  sn_nn_run(c, j.nw, pool_task, &j);
  return NULL;
}

typedef struct cmul_job {
  const float *x, *s;
  float *y;
  int64_t planes, hw, B;
  int nw;
} cmul_job;

static void cmul_task(void *arg, int wk) {
  const cmul_job *j = arg;
  const int64_t B = j->B;
  for (int64_t t = wk * j->planes / j->nw; t < (wk + 1) * j->planes / j->nw; t++) {
    const float *restrict xs = j->x + t * j->hw * B, *restrict sv = j->s + t * B;
    float *restrict ys = j->y + t * j->hw * B;
    if (B == 16) { /* (a constant inner trip count the compiler vectorizes) */
      for (int64_t p = 0; p < j->hw; p++)
        for (int l = 0; l < 16; l++) ys[p * 16 + l] = xs[p * 16 + l] * sv[l];
    } else {
      for (int64_t p = 0; p < j->hw; p++)
        for (int64_t l = 0; l < B; l++) ys[p * B + l] = xs[p * B + l] * sv[l];
    }
  }
}

static sn_error *cmul_run(sn_kernel_ctx *c) {
  const nchwc_params *p = c->params;
  const int64_t B = p->block;
  const sn_tensor *x = c->in[0], *s = c->n_in > 1 ? c->in[1] : NULL;
  char b1[128], b2[128];
  SN_TRY(check_blocked(c, x, B));
  if (!s || s->dtype != SINTER_FLOAT || s->rank != 5 || s->dims[0] != x->dims[0] || s->dims[1] != x->dims[1] ||
      s->dims[2] != 1 || s->dims[3] != 1 || s->dims[4] != B)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "scale %s does not fit input %s (want [N, CB, 1, 1, %lld])",
                           s ? sn_tensor_describe(s, b1, sizeof b1) : "(absent)", sn_tensor_describe(x, b2, sizeof b2),
                           (long long)B);
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_FLOAT, 5, x->dims, &y));
  cmul_job j = {x->data, s->data, y->data, x->dims[0] * x->dims[1], x->dims[2] * x->dims[3], B, 1};
  if (!y->count) return NULL;
  int nw = sn_nn_workers(c, 4.0 * (double)y->count);
  j.nw = nw < j.planes ? nw : (int)j.planes;
  sn_nn_run(c, j.nw, cmul_task, &j);
  return NULL;
}

/* NchwcChannelAffine: y = x * a[c] + b[c] per channel (an inference BatchNormalization the layout pass
 * kept blocked), planes (image, block) over the pool */
typedef struct affine_job {
  const float *x, *a, *b;
  float *y;
  int64_t cb, planes, hw, B;
  int nw;
  bool relu;
} affine_job;

static void affine_task(void *arg, int wk) {
  const affine_job *j = arg;
  sn_nchwc_affine_f32(j->x, j->a, j->b, j->y, j->cb, j->hw, j->B, j->relu, wk * j->planes / j->nw,
                      (wk + 1) * j->planes / j->nw);
}

static sn_error *affine_run(sn_kernel_ctx *c) {
  const nchwc_params *p = c->params;
  const int64_t B = p->block;
  const sn_tensor *x = c->in[0];
  SN_TRY(check_blocked(c, x, B));
  const int64_t CB = x->dims[1];
  for (int k = 1; k < 3; k++) {
    const sn_tensor *t = c->n_in > k ? c->in[k] : NULL;
    char b1[128];
    if (!t || t->dtype != SINTER_FLOAT || t->count != CB * B)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "per-channel %s %s does not hold %lld floats",
                             k == 1 ? "scale" : "shift", t ? sn_tensor_describe(t, b1, sizeof b1) : "(absent)",
                             (long long)(CB * B));
  }
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_FLOAT, 5, x->dims, &y));
  if (!y->count) return NULL;
  affine_job j = {x->data, c->in[1]->data, c->in[2]->data, y->data, CB, x->dims[0] * CB, x->dims[2] * x->dims[3], B, 1,
                  p->relu};
  int nw = sn_nn_workers(c, 4.0 * (double)y->count);
  j.nw = nw < j.planes ? nw : (int)j.planes;
  sn_nn_run(c, j.nw, affine_task, &j);
  return NULL;
}

const sn_op sn_ops_nchwc[] = {
    {"sinter", "ReorderInput", 1, 0, nchwc_infer, rin_run, nchwc_prepare, nchwc_free, 0},
    {"sinter", "ReorderOutput", 1, 0, nchwc_infer, rout_run, nchwc_prepare, nchwc_free, 0},
    {"sinter", "NchwcConv", 1, 0, nchwc_infer, conv_run, nchwc_prepare, nchwc_free, 0, nchwc_prepack},
    {"sinter", "NchwcMaxPool", 1, 0, nchwc_infer, pool_run, nchwc_prepare, nchwc_free, 0},
    {"sinter", "NchwcAveragePool", 1, 0, nchwc_infer, pool_run, nchwc_prepare, nchwc_free, 0},
    {"sinter", "NchwcGlobalAveragePool", 1, 0, nchwc_infer, pool_run, nchwc_prepare, nchwc_free, 0},
    {"sinter", "NchwcChannelMul", 1, 0, nchwc_infer, cmul_run, nchwc_prepare, nchwc_free, SN_OP_INPLACE},
    {"sinter", "NchwcChannelAffine", 1, 0, nchwc_infer, affine_run, nchwc_prepare, nchwc_free, SN_OP_INPLACE},
    {0},
};
