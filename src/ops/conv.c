/* Convolution ops: Conv, ConvTranspose, ConvInteger, QLinearConv, DeformConv (im2col + GEMM, direct depthwise). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/dwconv.h"
#include "kernels/gconv.h"
#include "kernels/gemm.h"
#include "kernels/ref/gemm_ref.h"
#include "kernels/ref/im2col_ref.h"
#include "kernels/quant.h"
#include "kernels/ref/nn_util.h"
#include "ops/op.h"
#include "ops/qlinear.h"

/* ---- attributes ---------------------------------------------------------------------------------- */

typedef struct conv_params {
  sn_window_attrs w;
  int64_t group;
  int n_out_pad, n_out_shape; /* ConvTranspose; -1 when absent */
  int64_t out_pad[SN_MAX_RANK], out_shape[SN_MAX_RANK + 2];
  sn_pack_slot wpack; /* Conv: the constant float32 weight packed as the GEMM's left operand (group 1) */
} conv_params;

static sn_error *parse_params(const sn_node *n, conv_params *p) {
  memset(p, 0, sizeof *p);
  SN_TRY(sn_window_parse(n, &p->w));
  char buf[160];
  p->group = sn_attr_int(n, "group", 1);
  if (p->group < 1)
    return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: group = %lld must be positive", sn_node_desc(n, buf, sizeof buf),
                     (long long)p->group);
  const int64_t *v;
  int k = sn_attr_ints(n, "output_padding", &v);
  p->n_out_pad = k;
  if (k > SN_MAX_RANK)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: output_padding has %d values", sn_node_desc(n, buf, sizeof buf), k);
  for (int i = 0; i < k; i++) {
    if (v[i] < 0)
      return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: output_padding[%d] = %lld is negative",
                       sn_node_desc(n, buf, sizeof buf), i, (long long)v[i]);
    p->out_pad[i] = v[i];
  }
  k = sn_attr_ints(n, "output_shape", &v);
  p->n_out_shape = k;
  if (k > SN_MAX_RANK + 2)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: output_shape has %d values", sn_node_desc(n, buf, sizeof buf), k);
  for (int i = 0; i < k; i++) p->out_shape[i] = v[i];
  return NULL;
}

static sn_error *conv_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  conv_params *p = sn_malloc(sizeof *p);
  if (!p) return SN_ERR_OOM();
  sn_error *e = parse_params(n, p);
  if (e) {
    sn_free(p);
    return e;
  }
  *params = p;
  return NULL;
}

static void conv_free(void *p) {
  if (p) sn_pack_slot_clear(&((conv_params *)p)->wpack);
  sn_free(p);
}

/* The weight of an ungrouped float32 Conv taking the GEMM path, packed at session creation as the
 * GEMM's left operand [M, C * k] (the source stays: other paths of the kernel read it). */
static sn_error *conv_prepack(sn_graph *g, sn_node *n, void *params, bool take) {
  (void)take;
  conv_params *p = params;
  const sn_tensor *w = n->n_in > 1 && n->in[1] >= 0 ? g->values[n->in[1]].data : NULL;
  if (!p || p->group != 1 || !w || w->rank < 3 || w->dims[0] <= 0) return NULL;
  int64_t rows = w->count / w->dims[0];
  if (w->dims[1] == 1 && w->dims[0] == 1) return NULL; /* the depthwise path of one channel */
  return sn_nn_prepack(g, n, &p->wpack, 1, 0, SN_GEMM_A, false, w->dims[0], rows, rows, false);
}

/* params from prepare, or parsed now into *tmp */
static sn_error *get_params(const sn_node *n, const void *params, conv_params *tmp, const conv_params **out) {
  if (params) {
    *out = params;
    return NULL;
  }
  SN_TRY(parse_params(n, tmp));
  *out = tmp;
  return NULL;
}

/* ---- shared checks and geometry ----------------------------------------------------------------------- */

static bool float_type(sn_dtype dt) {
  return dt == SINTER_FLOAT || dt == SINTER_DOUBLE || dt == SINTER_FLOAT16 || dt == SINTER_BFLOAT16;
}

/* ConvTranspose output sizes and leading pads from input sizes (in[d] < 0: unknown -> out -1). */
static bool convt_geometry(const conv_params *p, int nd, const int64_t *in, const int64_t *k, sn_window *w, char *msg,
                           size_t len) {
  sn_window_attrs a = p->w;
  a.auto_pad = SN_PAD_NOTSET; /* the forward rule does not apply; computed below */
  int64_t unknown[SN_MAX_RANK];
  for (int d = 0; d < SN_MAX_RANK; d++) unknown[d] = -1;
  if (!sn_window_resolve(&a, nd, unknown, k, false, w, msg, len)) return false; /* attribute checks only */
  if (p->n_out_pad >= 0 && p->n_out_pad != nd) {
    snprintf(msg, len, "output_padding has %d values for %d spatial dims", p->n_out_pad, nd);
    return false;
  }
  int os0 = -1; /* index of the first spatial value in output_shape */
  if (p->n_out_shape >= 0) {
    if (p->n_out_shape == nd)
      os0 = 0;
    else if (p->n_out_shape == nd + 2)
      os0 = 2;
    else {
      snprintf(msg, len, "output_shape has %d values for %d spatial dims", p->n_out_shape, nd);
      return false;
    }
  }
  for (int d = 0; d < nd; d++) {
    int64_t op = p->n_out_pad > 0 ? p->out_pad[d] : 0;
    int64_t ek = (w->k[d] - 1) * w->dil[d] + 1, s = w->stride[d];
    if (op >= s && op >= w->dil[d]) {
      snprintf(msg, len, "output_padding[%d] = %lld must be smaller than the stride %lld or the dilation %lld", d,
               (long long)op, (long long)s, (long long)w->dil[d]);
      return false;
    }
    if (in[d] < 0 || w->k[d] < 0) {
      w->out[d] = os0 >= 0 ? p->out_shape[os0 + d] : -1;
      continue;
    }
    if (in[d] > INT32_MAX) {
      snprintf(msg, len, "input size %lld along spatial dim %d is too large", (long long)in[d], d);
      return false;
    }
    int64_t full = s * (in[d] - 1) + op + ek;
    int64_t target = -1;
    if (os0 >= 0)
      target = p->out_shape[os0 + d];
    else if (p->w.auto_pad == SN_PAD_SAME_UPPER || p->w.auto_pad == SN_PAD_SAME_LOWER)
      target = in[d] * s;
    if (target >= 0) {
      int64_t total = full - target;
      /* SAME without output_shape: never pad negatively (the output is then the full size), as
       * ONNX Runtime does; the reference pads zeros at the end instead */
      if (os0 < 0 && total < 0) {
        total = 0;
        target = full;
      }
      int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2); /* floor(total / 2) */
      if (p->w.auto_pad == SN_PAD_SAME_UPPER) {
        w->pad_begin[d] = half;
        w->pad_end[d] = total - half;
      } else {
        w->pad_begin[d] = total - half;
        w->pad_end[d] = half;
      }
      w->out[d] = target;
    } else {
      if (p->w.auto_pad == SN_PAD_VALID) w->pad_begin[d] = w->pad_end[d] = 0;
      w->out[d] = full - w->pad_begin[d] - w->pad_end[d];
    }
    if (w->out[d] < 0) {
      snprintf(msg, len, "output size %lld along spatial dim %d is negative (pads too large)", (long long)w->out[d], d);
      return false;
    }
  }
  return true;
}

/* ---- shape inference -------------------------------------------------------------------------------- */

static sn_error *conv_infer_common(sn_infer_ctx *c, bool transpose, sn_dtype out_dt, int ix, int iw, int ib) {
  const sn_type *x = c->n_in > ix ? c->in[ix] : NULL, *wt = c->n_in > iw ? c->in[iw] : NULL;
  sn_type *y = c->out[0];
  char msg[256];
  if (!x || !wt) return sn_infer_error(c, "%s needs inputs X and W", transpose ? "ConvTranspose" : "Conv");
  if (x->rank < 0 && wt->rank < 0) {
    if (y) sn_type_set_unknown(y, out_dt);
    return NULL;
  }
  int rank = x->rank >= 0 ? x->rank : wt->rank;
  if (rank < 3) return sn_infer_error(c, "input X must have rank >= 3 (N, C, spatial...)");
  if (x->rank >= 0 && wt->rank >= 0 && x->rank != wt->rank) return sn_infer_error(c, "input X and weight W differ in rank");
  if (rank - 2 > SN_MAX_RANK) return sn_infer_error(c, "too many spatial dims (%d)", rank - 2);
  const conv_params *p;
  conv_params tmp;
  SN_TRY(get_params(c->node, c->node->params, &tmp, &p));
  int nd = rank - 2;
  int64_t in[SN_MAX_RANK], k[SN_MAX_RANK];
  for (int d = 0; d < nd; d++) {
    in[d] = x->rank >= 0 ? x->dims[2 + d].v : -1;
    k[d] = wt->rank >= 0 ? wt->dims[2 + d].v : -1;
    if (k[d] < 0 && p->w.n_kernel == nd) k[d] = p->w.kernel[d];
  }
  int64_t C = x->rank >= 0 ? x->dims[1].v : -1;
  int64_t W0 = wt->rank >= 0 ? wt->dims[0].v : -1, W1 = wt->rank >= 0 ? wt->dims[1].v : -1;
  int64_t G = p->group;
  sn_dim M = sn_dim_unknown();
  if (!transpose) {
    if (C >= 0 && W1 >= 0 && C != W1 * G)
      return sn_infer_error(c, "input channels %lld do not match weight channels %lld * group %lld", (long long)C,
                            (long long)W1, (long long)G);
    if (W0 >= 0 && W0 % G)
      return sn_infer_error(c, "output channels %lld are not divisible by group %lld", (long long)W0, (long long)G);
    if (wt->rank >= 0) M = wt->dims[0];
  } else {
    if (C >= 0 && W0 >= 0 && C != W0)
      return sn_infer_error(c, "input channels %lld do not match weight dim 0 %lld", (long long)C, (long long)W0);
    if (C >= 0 && C % G)
      return sn_infer_error(c, "input channels %lld are not divisible by group %lld", (long long)C, (long long)G);
    if (W1 >= 0) M = sn_dim_known(W1 * G);
  }
  if (ib >= 0 && c->n_in > ib && c->in[ib] && c->in[ib]->rank >= 0) {
    const sn_type *bt = c->in[ib];
    if (bt->rank != 1 || (bt->dims[0].v >= 0 && M.v >= 0 && bt->dims[0].v != M.v))
      return sn_infer_error(c, "bias must be 1-D with %lld elements (the output channels)", (long long)M.v);
  }
  sn_window w;
  bool ok = transpose ? convt_geometry(p, nd, in, k, &w, msg, sizeof msg)
                      : sn_window_resolve(&p->w, nd, in, k, false, &w, msg, sizeof msg);
  if (!ok) return sn_infer_error(c, "%s", msg);
  if (!y) return NULL;
  sn_dim dims[SN_MAX_RANK];
  dims[0] = x->rank >= 0 ? x->dims[0] : sn_dim_unknown();
  dims[1] = M;
  for (int d = 0; d < nd; d++) {
    dims[2 + d] = w.out[d] >= 0 ? sn_dim_known(w.out[d]) : sn_dim_unknown();
    /* stride 1 with covering padding keeps the size, symbolic or not */
    if (w.out[d] < 0 && x->rank >= 0 && !transpose && sn_window_keeps_size(&p->w, &w, d, false)) dims[2 + d] = x->dims[2 + d];
  }
  sn_type_set(y, out_dt, rank, dims);
  return NULL;
}

static sn_error *conv_infer(sn_infer_ctx *c) {
  sn_dtype dt = c->in[0] ? c->in[0]->dtype : 0;
  if (dt && !float_type(dt)) return sn_infer_error(c, "element type %s is not supported (float types only)", sn_dtype_name(dt));
  return conv_infer_common(c, false, dt, 0, 1, 2);
}

static sn_error *convt_infer(sn_infer_ctx *c) {
  sn_dtype dt = c->in[0] ? c->in[0]->dtype : 0;
  if (dt && !float_type(dt)) return sn_infer_error(c, "element type %s is not supported (float types only)", sn_dtype_name(dt));
  return conv_infer_common(c, true, dt, 0, 1, 2);
}

/* ---- kernels ------------------------------------------------------------------------------------- */

/* Concrete geometry from tensors; fills g (per-image geometry), N, C, M, out dims. */
typedef struct conv_shape {
  int nd;
  int64_t N, C, M, G, Cg, Mg;
  sn_window w;
  sn_conv_geom geom; /* forward: in = X spatial, out = Y spatial; transpose: in = Y spatial, out = X spatial */
  int64_t ydims[SN_MAX_RANK];
} conv_shape;

static sn_error *conv_shape_of(sn_kernel_ctx *c, const conv_params *p, bool transpose, const sn_tensor *x,
                               const sn_tensor *wt, const sn_tensor *b, conv_shape *s) {
  char b1[128], b2[128], msg[256];
  if (x->rank < 3 || wt->rank != x->rank)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X %s and W %s must have the same rank >= 3",
                           sn_tensor_describe(x, b1, sizeof b1), sn_tensor_describe(wt, b2, sizeof b2));
  int nd = x->rank - 2;
  s->nd = nd;
  s->N = x->dims[0];
  s->C = x->dims[1];
  s->G = p->group;
  if (!transpose) {
    s->M = wt->dims[0];
    s->Cg = wt->dims[1];
    if (s->C != s->Cg * s->G || s->M % s->G)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                             "input channels %lld do not match weight channels %lld * group %lld (X %s, W %s)",
                             (long long)s->C, (long long)s->Cg, (long long)s->G, sn_tensor_describe(x, b1, sizeof b1),
                             sn_tensor_describe(wt, b2, sizeof b2));
    s->Mg = s->M / s->G;
  } else {
    if (wt->dims[0] != s->C || s->C % s->G)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                             "input channels %lld do not match weight dim 0 %lld or group %lld (X %s, W %s)",
                             (long long)s->C, (long long)wt->dims[0], (long long)s->G,
                             sn_tensor_describe(x, b1, sizeof b1), sn_tensor_describe(wt, b2, sizeof b2));
    s->Cg = s->C / s->G;
    s->Mg = wt->dims[1];
    s->M = s->Mg * s->G;
  }
  if (b && (b->rank != 1 || b->dims[0] != s->M))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "bias B %s must be 1-D with %lld elements",
                           sn_tensor_describe(b, b1, sizeof b1), (long long)s->M);
  bool ok = transpose ? convt_geometry(p, nd, x->dims + 2, wt->dims + 2, &s->w, msg, sizeof msg)
                      : sn_window_resolve(&p->w, nd, x->dims + 2, wt->dims + 2, false, &s->w, msg, sizeof msg);
  if (!ok)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (X %s, W %s)", msg, sn_tensor_describe(x, b1, sizeof b1),
                           sn_tensor_describe(wt, b2, sizeof b2));
  sn_conv_geom *g = &s->geom;
  g->nd = nd;
  for (int d = 0; d < nd; d++) {
    g->k[d] = s->w.k[d];
    g->stride[d] = s->w.stride[d];
    g->dil[d] = s->w.dil[d];
    g->pad[d] = s->w.pad_begin[d];
    g->in[d] = transpose ? s->w.out[d] : x->dims[2 + d];
    g->out[d] = transpose ? x->dims[2 + d] : s->w.out[d];
  }
  s->ydims[0] = s->N;
  s->ydims[1] = s->M;
  for (int d = 0; d < nd; d++) s->ydims[2 + d] = s->w.out[d];
  return NULL;
}

/* Column-block width for im2col tiling: keep a block near 2M elements, at least 16 columns. */
static int64_t col_block(int64_t rows, int64_t total) {
  int64_t b = rows > 0 ? ((int64_t)1 << 21) / rows : total;
  if (b < 16) b = 16;
  if (b >= total) return total;
  return b & ~(int64_t)15 ? b & ~(int64_t)15 : b;
}

/* float32 2-D depthwise with channel multiplier 1: planes [t0, t1) (t = n * M + m) through the
 * vectorized kernel; false when the shape is not one it covers */
static bool conv_dw2d_f32(const conv_shape *s, const float *x, const float *w, const float *b, float *y, int64_t t0,
                          int64_t t1) {
  const sn_conv_geom *g = &s->geom;
  if (g->nd != 2 || s->Mg != 1 || s->C != s->M) return false;
  sn_dwconv2d_geom d;
  d.in_h = g->in[0], d.in_w = g->in[1], d.k_h = g->k[0], d.k_w = g->k[1];
  d.stride_h = g->stride[0], d.stride_w = g->stride[1], d.dil_h = g->dil[0], d.dil_w = g->dil[1];
  d.pad_t = g->pad[0], d.pad_l = g->pad[1];
  /* end pads that give exactly the planned output size */
  d.pad_b = (g->out[0] - 1) * d.stride_h + d.dil_h * (d.k_h - 1) + 1 - d.in_h - d.pad_t;
  d.pad_r = (g->out[1] - 1) * d.stride_w + d.dil_w * (d.k_w - 1) + 1 - d.in_w - d.pad_l;
  if (sn_dwconv2d_out_h(&d) != g->out[0] || sn_dwconv2d_out_w(&d) != g->out[1]) return false;
  const int64_t insz = d.in_h * d.in_w, outsz = g->out[0] * g->out[1];
  for (int64_t t = t0; t < t1;) {
    int64_t n = t / s->M, c0 = t % s->M, c1 = c0 + (t1 - t) < s->M ? c0 + (t1 - t) : s->M;
    sn_dwconv2d_f32(&d, x + n * s->C * insz, w, b, y + n * s->M * outsz, c0, c1);
    t += c1 - c0;
  }
  return true;
}
#define CONV_DW2D_NONE(s, x, w, b, y, t0, t1) false

/* float32 2-D grouped convolutions of 2 to 64 channels per group (RegNet, ResNeXt) through the direct
 * kernel (kernels/gconv.h), the (image, group) planes shared out over the pool; *done false when the
 * shape or ISA is not one it covers (then the per-group GEMMs run) */
typedef struct gconv_job {
  const sn_gconv_geom *g;
  const float *x, *w, *b;
  float *y, *scratch;
  size_t sfloats;
  int64_t planes;
  int nw;
} gconv_job;

static void gconv_task(void *arg, int wk) {
  const gconv_job *j = arg;
  sn_gconv_f32(j->g, j->x, j->w, j->b, j->y, wk * j->planes / j->nw, (wk + 1) * j->planes / j->nw,
               j->scratch + (size_t)wk * j->sfloats);
}

static sn_error *conv_gconv_f32(sn_kernel_ctx *c, const conv_shape *s, const float *x, const float *w, const float *b,
                                float *y, bool *done) {
  const sn_conv_geom *g = &s->geom;
  *done = false;
  if (g->nd != 2) return NULL;
  sn_gconv_geom gg = {s->C,        s->M,        s->G,         g->in[0],     g->in[1],  g->out[0], g->out[1], g->k[0],
                      g->k[1],     g->stride[0], g->stride[1], g->dil[0], g->dil[1], g->pad[0], g->pad[1]};
  if (!sn_gconv_supported(&gg)) return NULL;
  gconv_job j = {&gg, x, w, b, y, NULL, (sn_gconv_scratch_floats(&gg) + 15) & ~(size_t)15, s->N * s->G, 1};
  int nw = sn_nn_workers(c, 2.0 * (double)s->N * (double)s->M * (double)(g->out[0] * g->out[1]) *
                                (double)(s->Cg * g->k[0] * g->k[1]));
  j.nw = nw < j.planes ? nw : (int)j.planes;
  if (!(j.scratch = sn_kernel_scratch(c, sizeof(float) * j.sfloats * (size_t)j.nw))) return SN_ERR_OOM();
  sn_nn_run(c, j.nw, gconv_task, &j);
  *done = true;
  return NULL;
}
#define CONV_GCONV_F32(c, s, x, w, b, y, done) conv_gconv_f32(c, s, x, w, b, y, done)
#define CONV_GCONV_NONE(c, s, x, w, b, y, done) ((void)(x), (void)(w), (void)(b), (void)(y), *(done) = false, (sn_error *)NULL)

#define DEFINE_CONV(SFX, T, GEMM, DW2D, PA, GCONV, PANEL, PAPB, SLIVERS)                                                                    \
  /* depthwise (one input channel per group): direct accumulation row by row, last dim vectorizable */      \
  static void conv_depthwise_##SFX(const conv_shape *s, const T *x, const T *w, const T *b, T *y,       \
                                          int64_t t0, int64_t t1) {                                           \
    const sn_conv_geom *g = &s->geom;                                                                          \
    const int nd = g->nd, L = nd - 1;                                                                          \
    const int64_t insz = sn_geom_in_size(g), outsz = sn_geom_out_size(g), K = sn_geom_k_size(g);               \
    const int64_t outl = g->out[L], inl = g->in[L], st = g->stride[L], kl = g->k[L];                           \
    const int64_t rows = outsz / outl, krows = K / kl;                                                         \
    int64_t o[SN_MAX_RANK], kk[SN_MAX_RANK];                                                                   \
    for (int64_t t = t0; t < t1; t++) { /* plane t = n * M + m */                                             \
      {                                                                                                        \
        int64_t n = t / s->M, m = t % s->M;                                                                    \
        const T *xc = x + (n * s->C + m / s->Mg) * insz;                                                       \
        const T *wm = w + m * K;                                                                               \
        T *yc = y + (n * s->M + m) * outsz;                                                                    \
        T bias = b ? b[m] : (T)0;                                                                              \
        for (int64_t r = 0; r < rows; r++) { /* one output row of the last dim */                             \
          T *restrict yr = yc + r * outl;                                                                      \
          for (int64_t i = 0; i < outl; i++) yr[i] = bias;                                                     \
          int64_t q = r;                                                                                       \
          for (int d = L - 1; d >= 0; d--) {                                                                   \
            o[d] = q % g->out[d];                                                                              \
            q /= g->out[d];                                                                                    \
          }                                                                                                    \
          for (int d = 0; d < L; d++) kk[d] = 0;                                                               \
          for (int64_t kr = 0; kr < krows; kr++) { /* taps of the leading dims */                             \
            int64_t base = 0;                                                                                  \
            bool ok = true;                                                                                    \
            for (int d = 0; d < L && ok; d++) {                                                                \
              int64_t i = o[d] * g->stride[d] - g->pad[d] + kk[d] * g->dil[d];                                 \
              if (i < 0 || i >= g->in[d]) ok = false;                                                          \
              base = base * g->in[d] + i;                                                                      \
            }                                                                                                  \
            if (ok) {                                                                                          \
              const T *restrict xr = xc + base * inl;                                                          \
              for (int64_t t = 0; t < kl; t++) {                                                               \
                T wv = wm[kr * kl + t];                                                                        \
                int64_t off = t * g->dil[L] - g->pad[L];                                                       \
                int64_t lo = off >= 0 ? 0 : (-off + st - 1) / st;                                              \
                int64_t hi = inl - 1 - off >= 0 ? (inl - 1 - off) / st + 1 : 0;                                \
                if (hi > outl) hi = outl;                                                                      \
                if (st == 1) {                                                                                 \
                  for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow + off];                            \
                } else {                                                                                       \
                  for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow * st + off];                       \
                }                                                                                              \
              }                                                                                                \
            }                                                                                                  \
            for (int d = L - 1; d >= 0; d--) {                                                                 \
              if (++kk[d] < g->k[d]) break;                                                                    \
              kk[d] = 0;                                                                                       \
            }                                                                                                  \
          }                                                                                                    \
        }                                                                                                      \
      }                                                                                                        \
    }                                                                                                          \
  }                                                                                                            \
  typedef struct conv_job_##SFX {                                                                             \
    const conv_shape *s;                                                                                       \
    const T *x, *w, *b;                                                                                        \
    T *y;                                                                                                      \
    const sn_sgemm_packed *pw; /* W packed (group 1), or NULL */                                              \
    bool direct;                                                                                               \
    int64_t blk, nblk, rows, tasks;                                                                            \
    int64_t nr; /* > 0: the columns go straight into the GEMM's B slivers of nr columns */                     \
    int nw;                                                                                                    \
    char *col, *ws;                                                                                            \
    size_t col_bytes, ws_bytes;                                                                                \
  } conv_job_##SFX;                                                                                            \
  /* worker wk: tasks (image, group, column block) in [wk * tasks / nw, (wk + 1) * tasks / nw) */               \
  static void conv_task_##SFX(void *p, int wk) {                                                               \
    const conv_job_##SFX *j = p;                                                                               \
    const conv_shape *s = j->s;                                                                                \
    const sn_conv_geom *g = &s->geom;                                                                          \
    const int64_t insz = sn_geom_in_size(g), O = sn_geom_out_size(g), rows = j->rows;                          \
    T *col = (T *)(j->col + (size_t)wk * j->col_bytes);                                                        \
    void *ws = j->ws + (size_t)wk * j->ws_bytes;                                                               \
    if (s->Cg == 1 && (s->G > 1 || s->M == 1)) {                                                               \
      if (DW2D(s, j->x, j->w, j->b, j->y, wk * j->tasks / j->nw, (wk + 1) * j->tasks / j->nw)) return;           \
      conv_depthwise_##SFX(s, j->x, j->w, j->b, j->y, wk * j->tasks / j->nw, (wk + 1) * j->tasks / j->nw);     \
      return;                                                                                                  \
    }                                                                                                          \
    for (int64_t t = wk * j->tasks / j->nw; t < (wk + 1) * j->tasks / j->nw; t++) {                            \
      int64_t n = t / (s->G * j->nblk), gi = (t / j->nblk) % s->G, p0 = (t % j->nblk) * j->blk;                \
      int64_t p1 = O - p0 < j->blk ? O : p0 + j->blk;                                                          \
      const T *xg = j->x + (n * s->C + gi * s->Cg) * insz;                                                     \
      const T *wg = j->w + gi * s->Mg * rows;                                                                  \
      T *yg = j->y + (n * s->M + gi * s->Mg) * O;                                                              \
      if (j->direct) {                                                                                         \
        if (j->pw)                                                                                             \
          PA(j->pw, p1 - p0, xg + p0, insz, yg + p0, O, ws);                                                   \
        else                                                                                                   \
          GEMM(false, false, s->Mg, p1 - p0, rows, 1, wg, rows, xg + p0, insz, 0, yg + p0, O, ws);             \
      } else if (j->nr) {                                                                                      \
        SLIVERS(g, s->Cg, xg, p0, p1, j->nr, col);                                                             \
        PAPB(j->pw, p1 - p0, col, yg + p0, O, ws);                                                             \
      } else {                                                                                                 \
        sn_im2col_##SFX(g, s->Cg, xg, p0, p1, col);                                                            \
        if (j->pw)                                                                                             \
          PA(j->pw, p1 - p0, col, p1 - p0, yg + p0, O, ws);                                                    \
        else                                                                                                   \
          GEMM(false, false, s->Mg, p1 - p0, rows, 1, wg, rows, col, p1 - p0, 0, yg + p0, O, ws);              \
      }                                                                                                        \
      if (j->b)                                                                                                \
        for (int64_t m = 0; m < s->Mg; m++) {                                                                  \
          T bv = j->b[gi * s->Mg + m], *yr = yg + m * O;                                                       \
          for (int64_t i = p0; i < p1; i++) yr[i] += bv;                                                       \
        }                                                                                                      \
    }                                                                                                          \
  }                                                                                                            \
  static sn_error *conv_run_pw_##SFX(sn_kernel_ctx *c, const conv_shape *s, const T *x, const T *w,            \
                                     const T *b, T *y, const sn_sgemm_packed *pw) {                            \
    const sn_conv_geom *g = &s->geom;                                                                          \
    const int64_t O = sn_geom_out_size(g), K = sn_geom_k_size(g);                                              \
    if (O == 0 || s->N == 0 || s->M == 0) return NULL;                                                         \
    conv_job_##SFX j;                                                                                          \
    memset(&j, 0, sizeof j);                                                                                   \
    j.s = s, j.x = x, j.w = w, j.b = b, j.y = y, j.pw = pw;                                                    \
    j.rows = s->Cg * K;                                                                                        \
    int nw = sn_nn_workers(c, 2.0 * (double)s->N * (double)s->M * (double)O * (double)j.rows);                 \
    if (s->Cg == 1 && (s->G > 1 || s->M == 1)) {                                                               \
      j.tasks = s->N * s->M;                                                                                   \
      j.nw = nw < j.tasks ? nw : (int)j.tasks;                                                                 \
      sn_nn_run(c, j.nw, conv_task_##SFX, &j);                                                                 \
      return NULL;                                                                                             \
    }                                                                                                          \
    if (s->G > 1 && s->Cg > 1) { /* grouped: the direct kernel where it applies */                            \
      bool done;                                                                                               \
      SN_TRY(GCONV(c, s, x, w, b, y, &done));                                                                  \
      if (done) return NULL;                                                                                   \
    }                                                                                                          \
    j.direct = true; /* 1x1, stride 1, no padding: X itself is the column matrix */                            \
    for (int d = 0; d < g->nd; d++)                                                                            \
      if (g->k[d] != 1 || g->stride[d] != 1 || g->pad[d] != 0 || g->in[d] != g->out[d]) j.direct = false;      \
    int64_t blk = col_block(j.rows, O);                                                                        \
    if (j.direct) blk = O;                                                                                     \
    if (s->N * s->G * ((O + blk - 1) / blk) < nw) { /* enough column blocks for every worker */               \
      int64_t want = (nw + s->N * s->G - 1) / (s->N * s->G);                                                   \
      int64_t b2 = (O + want - 1) / want;                                                                      \
      b2 = (b2 + 15) & ~(int64_t)15;                                                                           \
      if (b2 < blk) blk = b2 < 16 ? 16 : b2;                                                                   \
    }                                                                                                          \
    j.blk = blk;                                                                                               \
    j.nblk = (O + blk - 1) / blk;                                                                              \
    j.tasks = s->N * s->G * j.nblk;                                                                            \
    j.nw = nw < j.tasks ? nw : (int)j.tasks;                                                                   \
    j.ws_bytes = (T)0.5 == 0 ? 64 : ((sizeof(T) == 8 ? sn_gemm_ref_workspace(SINTER_DOUBLE) : sn_sgemm_workspace()) + 63) & ~(size_t)63; \
    j.nr = j.direct || !pw ? 0 : PANEL(pw);                                                                    \
    const int64_t cols = j.nr ? (blk + j.nr - 1) / j.nr * j.nr : blk; /* (slivers: whole ones) */              \
    j.col_bytes = j.direct ? 64 : (sizeof(T) * (size_t)(j.rows * cols) + 63) & ~(size_t)63;                    \
    j.ws = sn_kernel_scratch(c, j.ws_bytes * (size_t)j.nw);                                                    \
    j.col = sn_kernel_scratch(c, j.col_bytes * (size_t)j.nw);                                                  \
    if (!j.ws || !j.col) return SN_ERR_OOM();                                                                  \
    sn_nn_run(c, j.nw, conv_task_##SFX, &j);                                                                   \
    return NULL;                                                                                               \
  }                                                                                                            \
  __attribute__((unused)) static sn_error *conv_run_##SFX(sn_kernel_ctx *c, const conv_shape *s, const T *x,    \
                                                          const T *w, const T *b, T *y) {                      \
    return conv_run_pw_##SFX(c, s, x, w, b, y, NULL);                                                          \
  }                                                                                                            \

#define DEFINE_CONVT(SFX, T, TGEMM)                                                                            \
  /* ConvTranspose: col = W_g^T x X_g, scattered into Y with col2im */                                         \
  static sn_error *convt_run_##SFX(sn_kernel_ctx *c, const conv_shape *s, const T *x, const T *w, const T *b,  \
                                   T *y) {                                                                     \
    const sn_conv_geom *g = &s->geom; /* in = Y spatial, out = X spatial */                                   \
    const int64_t ysz = sn_geom_in_size(g), P = sn_geom_out_size(g), K = sn_geom_k_size(g);                    \
    const int64_t rows = s->Mg * K;                                                                            \
    for (int64_t n = 0; n < s->N; n++)                                                                         \
      for (int64_t m = 0; m < s->M; m++) {                                                                     \
        T bv = b ? b[m] : (T)0, *yr = y + (n * s->M + m) * ysz;                                                \
        for (int64_t i = 0; i < ysz; i++) yr[i] = bv;                                                          \
      }                                                                                                        \
    if (P == 0 || rows == 0 || ysz == 0) return NULL;                                                          \
    int64_t blk = col_block(rows, P);                                                                          \
    T *col = sn_kernel_scratch(c, sizeof(T) * (size_t)(rows * blk));                                           \
    void *ws = sn_nn_gemm_workspace(c, sizeof(T) == 8);                                                        \
    if (!col || !ws) return SN_ERR_OOM();                                                                      \
    for (int64_t n = 0; n < s->N; n++)                                                                         \
      for (int64_t gi = 0; gi < s->G; gi++) {                                                                  \
        const T *xg = x + (n * s->C + gi * s->Cg) * P;                                                         \
        const T *wg = w + gi * s->Cg * rows;                                                                   \
        T *yg = y + (n * s->M + gi * s->Mg) * ysz;                                                             \
        for (int64_t p0 = 0; p0 < P; p0 += blk) {                                                              \
          int64_t p1 = P - p0 < blk ? P : p0 + blk;                                                            \
          SN_TRY(TGEMM(c, ws, true, false, rows, p1 - p0, s->Cg, 1, wg, rows, xg + p0, P, 0, col, p1 - p0));       \
          sn_col2im_##SFX(g, s->Mg, col, p0, p1, yg);                                                          \
        }                                                                                                      \
      }                                                                                                        \
    return NULL;                                                                                               \
  }

/* C = W * B with W packed (float32 only; the other instantiations never get a packed W) */
#define CONV_PA_F32(pw, n, B, ldb, C, ldc, ws) sn_sgemm_pa(pw, false, n, 1.0f, B, ldb, 0.0f, C, ldc, ws)
#define CONV_PA_NONE(pw, n, B, ldb, C, ldc, ws) ((void)(pw), (void)(B), (void)(C), (void)(ws))
#define CONV_PAPB_F32(pw, n, col, C, ldc, ws) sn_sgemm_pa_pb(pw, n, 1.0f, col, 0.0f, C, ldc, ws)
#define CONV_PAPB_NONE(pw, n, col, C, ldc, ws) ((void)(pw), (void)(col), (void)(C), (void)(ws))
#define CONV_PANEL_NONE(pw) ((void)(pw), (int64_t)0)
#define CONV_SLIVERS_NONE(g, C, x, p0, p1, nr, col) ((void)(g), (void)(x), (void)(col))
DEFINE_CONV(f32, float, sn_sgemm, conv_dw2d_f32, CONV_PA_F32, CONV_GCONV_F32, sn_sgemm_pa_b_panel, CONV_PAPB_F32, \
            sn_im2col_slivers_f32)
DEFINE_CONV(f64, double, sn_dgemm_ref, CONV_DW2D_NONE, CONV_PA_NONE, CONV_GCONV_NONE, CONV_PANEL_NONE, CONV_PAPB_NONE, CONV_SLIVERS_NONE)
DEFINE_CONVT(f32, float, sn_nn_sgemm)
DEFINE_CONVT(f64, double, sn_nn_dgemm)
#define IGEMM32(ta, tb, M, N, K, al, A, lda, B, ldb, be, C, ldc, ws)                                             \
  ((void)(ws), sn_igemm_ref(SINTER_INT32, ta, tb, M, N, K, al, A, lda, B, ldb, be, C, ldc))
DEFINE_CONV(i32, int32_t, IGEMM32, CONV_DW2D_NONE, CONV_PA_NONE, CONV_GCONV_NONE, CONV_PANEL_NONE, CONV_PAPB_NONE, CONV_SLIVERS_NONE)

static sn_error *conv_kernel(sn_kernel_ctx *c, bool transpose) {
  const conv_params *p;
  conv_params tmp;
  SN_TRY(get_params(c->node, c->params, &tmp, &p));
  if (c->n_in < 2 || !c->in[0] || !c->in[1])
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "inputs X and W are required");
  conv_shape s;
  const sn_tensor *x = c->in[0], *wt = c->in[1], *b = c->n_in > 2 ? c->in[2] : NULL;
  SN_TRY(conv_shape_of(c, p, transpose, x, wt, b, &s));
  sn_dtype dt = x->dtype;
  if (wt->dtype != dt || (b && b->dtype != dt))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X, W and B must share one element type (%s, %s, %s)",
                           sn_dtype_name(dt), sn_dtype_name(wt->dtype), b ? sn_dtype_name(b->dtype) : "-");
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, dt, x->rank, s.ydims, &y));
  if (dt == SINTER_DOUBLE) {
    return transpose ? convt_run_f64(c, &s, x->data, wt->data, b ? b->data : NULL, y->data)
                     : conv_run_f64(c, &s, x->data, wt->data, b ? b->data : NULL, y->data);
  }
  if (!sn_is_f32_family(dt))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(dt));
  const float *xf, *wf, *bf = NULL;
  float *yf;
  SN_TRY(sn_nn_f32_in(c, x, &xf));
  SN_TRY(sn_nn_f32_in(c, wt, &wf));
  if (b) SN_TRY(sn_nn_f32_in(c, b, &bf));
  SN_TRY(sn_nn_f32_out(c, y, &yf));
  /* the constant weight of an ungrouped Conv that takes the GEMM path (not the depthwise one of a
   * single input and output channel): packed once as the GEMM's left operand */
  const sn_sgemm_packed *pw = NULL;
  if (!transpose && s.G == 1 && !(s.Cg == 1 && s.M == 1) && p == c->params && s.M > 0) {
    int64_t rows = s.Cg * sn_geom_k_size(&s.geom);
    pw = sn_nn_packed(c, &p->wpack, 1, SN_GEMM_A, false, s.M, rows, wf, rows);
  }
  SN_TRY(transpose ? convt_run_f32(c, &s, xf, wf, bf, yf) : conv_run_pw_f32(c, &s, xf, wf, bf, yf, pw));
  sn_nn_f32_out_done(y, yf);
  return NULL;
}

static sn_error *conv_run(sn_kernel_ctx *c) { return conv_kernel(c, false); }
static sn_error *convt_run(sn_kernel_ctx *c) { return conv_kernel(c, true); }

/* ---- ConvInteger / QLinearConv ------------------------------------------------------------------------ */


/* Integer convs keep their weights packed for the INT8 GEMM (ops/qlinear.c) next to the attributes. */
typedef struct qconv_params {
  conv_params base; /* first: get_params reads it as conv_params */
  sn_qweights *packed;
  int act;              /* SN_QACT_* (ops/qlinear.h) */
  float act_lo, act_hi; /* Clip's bounds */
} qconv_params;

static void qconv_free(void *p) {
  if (!p) return;
  sn_qweights_free(((qconv_params *)p)->packed);
  sn_free(p);
}

/* sinter:QLinearConv with channels_last = 1: X, Y (and a residual) are NHWC */
static bool channels_last(const sn_node *n) {
  return n->domain && !strcmp(n->domain, "sinter") && sn_attr_int(n, "channels_last", 0) != 0;
}
enum { SN_MAX_INPUTS_CL = 16 }; /* sinter:QLinearConv's inputs, the residual's included */

static sn_error *qconv_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  qconv_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  sn_error *e = parse_params(n, &p->base);
  if (!e) e = sn_qact_parse(n, &p->act, &p->act_lo, &p->act_hi);
  if (e) {
    qconv_free(p);
    return e;
  }
  *params = p;
  return NULL;
}

/* The constant W packed for the INT8 GEMM, in the form the run will take where the output's shape is
 * known by now (after the passes and shape inference); a depthwise W (one input channel per group) as
 * the depthwise kernel's int32 taps instead, with its zero point when that is constant too. With take,
 * when this node alone reads W (sn_nn_sole_reader) and W has a GEMM form, the initializer gives its
 * buffer up (a file view's pages leave the resident set instead): W is then held once, packed, and
 * the rare path that needs its bytes recovers them (sn_qconv_weight_bytes). SINTER_PREPACK=0 keeps
 * every W (the INT8 packing itself stays: the kernels read only packed weights). */
static sn_error *qconv_prepack(sn_graph *g, sn_node *n, void *params, bool take) {
  qconv_params *p = params;
  int wi = !strcmp(n->op_type, "ConvInteger") ? 1 : 3;
  if (!p || p->packed || n->n_in <= wi || n->in[wi] < 0) return NULL;
  sn_value *v = &g->values[n->in[wi]];
  if (v->role != SN_VAL_INITIALIZER || !v->data || !v->data->data) return NULL;
  if (v->data->rank >= 3 && v->data->dims[1] == 1) { /* depthwise (Cg = 1): kernels/qdwconv.h */
    int zi = wi + 2; /* ConvInteger: w_zero_point is input 3; QLinearConv: 5 */
    const sn_tensor *wz = NULL;
    if (n->n_in > zi && n->in[zi] >= 0) {
      const sn_value *z = &g->values[n->in[zi]];
      if (z->role != SN_VAL_INITIALIZER || !z->data || !z->data->data) return NULL; /* converted per call */
      wz = z->data;
    }
    return sn_qweights_dwconv(v->data, wz, &p->packed);
  }
  const sn_type *yt = &g->values[n->out[0]].type;
  const sn_window_attrs *wa = &p->base.w;
  int form = SN_QFORM_CM;
  /* an 8-bit output: QLinearConv with y_scale (not ConvInteger, not the fused float-output form) */
  bool q8out = wi == 3 && n->n_in > 6 && n->in[6] >= 0;
  if (v->data->rank == 4 && yt->rank == 4 && yt->dims[2].v > 0 && yt->dims[3].v > 0) {
    int64_t out[2] = {yt->dims[2].v, yt->dims[3].v}, k[2] = {v->data->dims[2], v->data->dims[3]};
    int64_t st[2] = {wa->n_strides == 2 ? wa->strides[0] : 1, wa->n_strides == 2 ? wa->strides[1] : 1};
    int64_t dl[2] = {wa->n_dilations == 2 ? wa->dilations[0] : 1, wa->n_dilations == 2 ? wa->dilations[1] : 1};
    form = sn_qconv_form(out, k, st, dl, v->data->dims[1], p->base.group, q8out);
  }
  if (channels_last(n)) form = SN_QFORM_NHWC; /* sn_qconv_nhwc's only form */
  SN_TRY(sn_qweights_conv(v->data, form, &p->packed));
  sn_tensor *t = v->data;
  if (!take || !p->packed || !sn_nn_prepack_enabled() || !sn_nn_sole_reader(g, n, n->in[wi])) return NULL;
  if (t->owns_data && !t->file_view && sn_qweights_forget_source(p->packed)) {
    if (t->aligned_data)
      sn_aligned_free(t->data);
    else
      sn_free(t->data);
    t->data = NULL;
    t->owns_data = false;
  } else if (t->file_view) {
    sn_drop_pages(t->data, t->nbytes); /* a read would fault them back unchanged */
  }
  return NULL;
}

static sn_error *convint_infer(sn_infer_ctx *c) {
  if (c->n_in < 2 || !c->in[0] || !c->in[1]) return sn_infer_error(c, "needs inputs x and w");
  if ((c->in[0]->dtype && !sn_dtype_q8(c->in[0]->dtype)) || (c->in[1]->dtype && !sn_dtype_q8(c->in[1]->dtype)))
    return sn_infer_error(c, "x and w must be int8 or uint8");
  return conv_infer_common(c, false, SINTER_INT32, 0, 1, -1);
}

static sn_error *qlconv_infer(sn_infer_ctx *c) {
  if (c->n_in < 8) return sn_infer_error(c, "needs at least 8 inputs, got %d", c->n_in);
  bool fout = !strcmp(c->node->domain, "sinter") && !c->in[6]; /* sinter:QLinearConv without y_scale: float */
  for (int i = 0; i < 8; i++)
    if (!c->in[i] && i != 2 && i != 5 && i != 7 && !(fout && i == 6)) return sn_infer_error(c, "input %d is required", i);
  if ((c->in[0]->dtype && !sn_dtype_q8(c->in[0]->dtype)) || (c->in[3]->dtype && !sn_dtype_q8(c->in[3]->dtype)))
    return sn_infer_error(c, "x and w must be int8 or uint8");
  sn_dtype ydt = fout ? SINTER_FLOAT : c->in[7] && c->in[7]->dtype ? c->in[7]->dtype : c->in[0]->dtype;
  if (!channels_last(c->node)) return conv_infer_common(c, false, ydt, 0, 3, 8);
  /* channels last (passes/layout_q8.c): the NCHW shapes through the common code, the output back */
  const sn_type *x = c->in[0];
  if (fout || x->rank != 4) return sn_infer_error(c, "channels_last needs a 4-D X and an 8-bit output");
  sn_type xt = *x;
  xt.dims[1] = x->dims[3], xt.dims[2] = x->dims[1], xt.dims[3] = x->dims[2];
  const sn_type *in[SN_MAX_INPUTS_CL];
  if (c->n_in > SN_MAX_INPUTS_CL) return sn_infer_error(c, "too many inputs");
  for (int i = 0; i < c->n_in; i++) in[i] = c->in[i];
  in[0] = &xt;
  sn_infer_ctx cc = *c;
  cc.in = in;
  SN_TRY(conv_infer_common(&cc, false, ydt, 0, 3, 8));
  sn_type *y = c->out[0];
  if (y && y->rank == 4) {
    sn_dim ch = y->dims[1];
    y->dims[1] = y->dims[2], y->dims[2] = y->dims[3], y->dims[3] = ch;
  }
  return NULL;
}

/* int32 accumulators of conv(x - zx, w - zw[m]) (+ bias) over the whole output */
static sn_error *int_conv(sn_kernel_ctx *c, const conv_params *p, const sn_tensor *x, const sn_tensor *zx,
                          const sn_tensor *w, const sn_tensor *zw, const sn_tensor *b, conv_shape *s, int32_t *acc) {
  char b1[128];
  if (!sn_dtype_q8(x->dtype) || !sn_dtype_q8(w->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "x and w must be int8 or uint8 (got %s, %s)",
                           sn_dtype_name(x->dtype), sn_dtype_name(w->dtype));
  if (b && b->dtype != SINTER_INT32)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "bias B must be int32 (got %s)", sn_dtype_name(b->dtype));
  if (zx && zx->count != 1)
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "x_zero_point %s must be a scalar",
                           sn_tensor_describe(zx, b1, sizeof b1));
  if (zw && zw->count != 1 && zw->count != s->M)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "w_zero_point %s must be a scalar or have %lld elements",
                           sn_tensor_describe(zw, b1, sizeof b1), (long long)s->M);
  (void)p;
  int32_t *x32 = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(x->count ? x->count : 1));
  int32_t *w32 = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(w->count ? w->count : 1));
  if (!x32 || !w32) return SN_ERR_OOM();
  int32_t z = zx ? (int32_t)sn_load_i64(zx->dtype, zx->data, 0) : 0;
  for (int64_t i = 0; i < x->count; i++) x32[i] = (int32_t)sn_load_i64(x->dtype, x->data, i) - z;
  int64_t per = s->M ? w->count / s->M : 0;
  for (int64_t m = 0; m < s->M; m++) {
    int32_t zm = zw ? (int32_t)sn_load_i64(zw->dtype, zw->data, zw->count == 1 ? 0 : m) : 0;
    for (int64_t i = 0; i < per; i++) w32[m * per + i] = (int32_t)sn_load_i64(w->dtype, w->data, m * per + i) - zm;
  }
  return conv_run_i32(c, s, x32, w32, b ? b->data : NULL, acc);
}

/* A W whose initializer gave its buffer up to the packed copy (qconv_prepack), for the reference
 * path: its bytes recovered into scratch, seen through *tmp. */
static sn_error *qconv_w_bytes(sn_kernel_ctx *c, const sn_tensor **w, sn_tensor *tmp) {
  if ((*w)->data || (*w)->count <= 0) return NULL;
  const qconv_params *qp = c->params;
  const uint8_t *b = sn_qconv_weight_bytes(c, *w, qp ? qp->packed : NULL);
  if (!b) return SN_ERR_OOM();
  *tmp = **w;
  tmp->data = (void *)b;
  tmp->owns_data = false;
  tmp->file_view = false;
  *w = tmp;
  return NULL;
}

static sn_error *convint_run(sn_kernel_ctx *c) {
  const conv_params *p;
  conv_params tmp;
  SN_TRY(get_params(c->node, c->params, &tmp, &p));
  const sn_tensor *x = c->in[0], *w = c->in[1];
  const sn_tensor *zx = c->n_in > 2 ? c->in[2] : NULL, *zw = c->n_in > 3 ? c->in[3] : NULL;
  conv_shape s;
  SN_TRY(conv_shape_of(c, p, false, x, w, NULL, &s));
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_INT32, x->rank, s.ydims, &y));
  if (y->count == 0) return NULL;
  sn_qargs qa = {x, NULL, zx, w, NULL, zw, NULL, NULL, NULL, 0, c->params ? ((const qconv_params *)c->params)->packed : NULL, y};
  sn_error *e;
  if (c->params && sn_qconv(c, &qa, &s.geom, s.N, s.C, s.M, s.G, &e)) return e;
  sn_tensor wtmp;
  SN_TRY(qconv_w_bytes(c, &w, &wtmp));
  return int_conv(c, p, x, zx, w, zw, NULL, &s, y->data);
}

/* the residual add where the conv's path did not fuse it: in place over y */
static sn_error *conv_add_residual(const sn_qargs *qa) {
  sn_tensor *y = qa->y;
  bool s8 = y->dtype == SINTER_INT8;
  if (qa->res_is_a)
    sn_qlinear_add(qa->res->data, 1, y->data, 1, y->count, qa->rac, qa->rbc, qa->rfix, s8, y->data);
  else
    sn_qlinear_add(y->data, 1, qa->res->data, 1, y->count, qa->rac, qa->rbc, qa->rfix, s8, y->data);
  return NULL;
}

static sn_error *qlconv_run(sn_kernel_ctx *c) {
  const conv_params *p;
  conv_params tmp;
  SN_TRY(get_params(c->node, c->params, &tmp, &p));
  const sn_tensor *x = c->in[0], *sx = c->in[1], *zx = c->in[2], *w = c->in[3], *sw = c->in[4], *zw = c->in[5];
  const sn_tensor *sy = c->in[6], *zy = c->in[7], *b = c->n_in > 8 ? c->in[8] : NULL;
  conv_shape s;
  /* channels last: X is N, H, W, C (the geometry from its NCHW view), Y comes out N, H, W, M */
  const bool cl = channels_last(c->node);
  sn_tensor xv;
  if (cl) {
    char b1[128];
    if (x->rank != 4)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "channels_last needs a 4-D X (got %s)",
                             sn_tensor_describe(x, b1, sizeof b1));
    xv = *x;
    xv.dims[1] = x->dims[3], xv.dims[2] = x->dims[1], xv.dims[3] = x->dims[2];
  }
  SN_TRY(conv_shape_of(c, p, false, cl ? &xv : x, w, b, &s));
  if (cl) {
    int64_t m = s.ydims[1];
    s.ydims[1] = s.ydims[2], s.ydims[2] = s.ydims[3], s.ydims[3] = m;
  }
  bool fout = !sy; /* sinter:QLinearConv with a float output */
  sn_dtype ydt = fout ? SINTER_FLOAT : zy ? zy->dtype : x->dtype;
  if (!fout && !sn_dtype_q8(ydt)) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "output type %s is not supported", sn_dtype_name(ydt));
  if (sx->count != 1 || (sy && sy->count != 1) || (sw->count != 1 && sw->count != s.M))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                           "x_scale and y_scale must be scalars, w_scale a scalar or one per output channel");
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, ydt, x->rank, s.ydims, &y));
  if (y->count == 0) return NULL;
  const qconv_params *qp = c->params;
  int act = qp ? qp->act : SN_QACT_NONE;
  sn_qargs qa = {x, sx, zx, w, sw, zw, sy, zy, b, act, qp ? qp->packed : NULL, y};
  if (qp) qa.act_lo = qp->act_lo, qa.act_hi = qp->act_hi;
  /* sinter:QLinearConv with a residual QLinearAdd (passes/qdq.c): inputs 9..15 are the other operand,
   * its scale and zero point, this conv's scale and zero point as the Add reads them, the Add's output
   * scale and zero point; residual_is_a: the other operand is the Add's A */
  bool res_done = false;
  if (c->n_in > 15 && c->in[9]) {
    const sn_tensor *r = c->in[9];
    if (fout || r->dtype != ydt || r->rank != y->rank || memcmp(r->dims, y->dims, sizeof(int64_t) * (size_t)r->rank) ||
        !c->in[10] || !c->in[12] || !c->in[14])
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "the residual must have the output's shape and type");
    bool ra = sn_attr_int(c->node, "residual_is_a", 0) != 0;
    float rs = (float)sn_load_f64(c->in[10]->dtype, c->in[10]->data, 0);
    float qs = (float)sn_load_f64(c->in[12]->dtype, c->in[12]->data, 0);
    float cs = (float)sn_load_f64(c->in[14]->dtype, c->in[14]->data, 0);
    int32_t rz = c->in[11] ? (int32_t)sn_load_i64(c->in[11]->dtype, c->in[11]->data, 0) : 0;
    int32_t qz = c->in[13] ? (int32_t)sn_load_i64(c->in[13]->dtype, c->in[13]->data, 0) : 0;
    float cz = c->in[15] ? (float)sn_load_i64(c->in[15]->dtype, c->in[15]->data, 0) : 0.0f;
    float as = ra ? rs : qs, bs = ra ? qs : rs;
    int32_t az = ra ? rz : qz, bz = ra ? qz : rz;
    qa.res = r, qa.res_is_a = ra, qa.res_done = &res_done;
    qa.rac = as / cs, qa.rbc = bs / cs; /* as kernels/quant.h's QLinearAdd */
    qa.rfix = (cz - qa.rac * (float)az) - qa.rbc * (float)bz;
  }
  sn_error *e = NULL;
  if (cl) { /* (the layout pass gives this form only to convolutions the NHWC kernel takes) */
    if (!qp || !sn_qconv_nhwc(c, &qa, &s.geom, s.N, s.C, s.M, s.G, &e))
      return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED,
                             "channels_last: only 2-D group-1 convolutions with 8-bit outputs and per-tensor or "
                             "per-channel parameters are supported");
    if (e || !qa.res || res_done) return e;
    return conv_add_residual(&qa);
  }
  if (qp && sn_qconv(c, &qa, &s.geom, s.N, s.C, s.M, s.G, &e)) {
    if (e || !qa.res || res_done) return e;
    return conv_add_residual(&qa);
  }
  if (fout || act != SN_QACT_NONE || (b && b->dtype != SINTER_INT32))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "fused integer convolution: unsupported operand layout");
  int32_t *acc = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)y->count);
  if (!acc) return SN_ERR_OOM();
  sn_tensor wtmp;
  SN_TRY(qconv_w_bytes(c, &w, &wtmp));
  SN_TRY(int_conv(c, p, x, zx, w, zw, b, &s, acc));
  double xs = sn_load_f64(sx->dtype, sx->data, 0), ys = sn_load_f64(sy->dtype, sy->data, 0);
  double yz = zy ? (double)sn_load_i64(zy->dtype, zy->data, 0) : 0;
  double lo = ydt == SINTER_INT8 ? -128 : 0, hi = ydt == SINTER_INT8 ? 127 : 255;
  int64_t O = y->count / (s.N * s.M);
  for (int64_t n = 0; n < s.N; n++)
    for (int64_t m = 0; m < s.M; m++) {
      double mult = (double)(float)(xs * sn_load_f64(sw->dtype, sw->data, sw->count == 1 ? 0 : m) / ys);
      int64_t base = (n * s.M + m) * O;
      for (int64_t i = 0; i < O; i++) {
        double v = nearbyint((double)acc[base + i] * mult) + yz;
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        sn_store_i64(ydt, y->data, base + i, (int64_t)v);
      }
    }
  return qa.res ? conv_add_residual(&qa) : NULL;
}

/* ---- DeformConv (2-D) ----------------------------------------------------------------------------------- */

static sn_error *deform_infer(sn_infer_ctx *c) {
  if (c->n_in < 3 || !c->in[0] || !c->in[1] || !c->in[2]) return sn_infer_error(c, "needs inputs X, W and offset");
  sn_dtype dt = c->in[0]->dtype;
  if (dt && !float_type(dt)) return sn_infer_error(c, "element type %s is not supported (float types only)", sn_dtype_name(dt));
  SN_TRY(conv_infer_common(c, false, dt, 0, 1, 3));
  /* the offset tensor fixes the output's spatial size */
  const sn_type *off = c->in[2];
  sn_type *y = c->out[0];
  if (y && y->rank >= 3 && off->rank == y->rank)
    for (int d = 2; d < y->rank; d++)
      if (y->dims[d].v < 0) y->dims[d] = off->dims[d];
  return NULL;
}

/* bilinear sample of an H x W plane at (h, w); zero outside (GridSample, align_corners, zeros) */
#define DEFINE_DEFORM(SFX, T)                                                                                  \
  static T bilinear_##SFX(const T *x, int64_t H, int64_t W, double h, double w) {                             \
    if (!(h > -1 && w > -1 && h < (double)H && w < (double)W)) return 0;                                       \
    int64_t h0 = (int64_t)floor(h), w0 = (int64_t)floor(w);                                                   \
    double lh = h - (double)h0, lw = w - (double)w0;                                                           \
    double v00 = (h0 >= 0 && w0 >= 0) ? x[h0 * W + w0] : 0;                                                    \
    double v01 = (h0 >= 0 && w0 + 1 < W) ? x[h0 * W + w0 + 1] : 0;                                             \
    double v10 = (h0 + 1 < H && w0 >= 0) ? x[(h0 + 1) * W + w0] : 0;                                           \
    double v11 = (h0 + 1 < H && w0 + 1 < W) ? x[(h0 + 1) * W + w0 + 1] : 0;                                    \
    return (T)((1 - lh) * ((1 - lw) * v00 + lw * v01) + lh * ((1 - lw) * v10 + lw * v11));                     \
  }                                                                                                            \
  /* col rows for channels [c0, c0 + cn) of image n: (c, kh, kw) x (oh, ow) */                                 \
  static void deform_col_##SFX(const conv_shape *s, const T *x, const T *off, const T *mask, int64_t og,         \
                               int64_t n, int64_t c0, int64_t cn, T *col) {                                    \
    const sn_conv_geom *g = &s->geom;                                                                          \
    int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1], KH = g->k[0], KW = g->k[1];            \
    int64_t O = OH * OW, K = KH * KW, cpg = s->C / og;                                                         \
    for (int64_t ci = 0; ci < cn; ci++) {                                                                      \
      int64_t ch = c0 + ci, gi = ch / cpg;                                                                     \
      const T *xc = x + (n * s->C + ch) * H * W;                                                               \
      const T *offg = off + (n * og + gi) * K * 2 * O;                                                         \
      const T *mg = mask ? mask + (n * og + gi) * K * O : NULL;                                                \
      for (int64_t kh = 0; kh < KH; kh++)                                                                      \
        for (int64_t kw = 0; kw < KW; kw++) {                                                                  \
          int64_t t = kh * KW + kw;                                                                            \
          T *dst = col + (ci * K + t) * O;                                                                     \
          const T *oh_ = offg + (t * 2) * O, *ow_ = offg + (t * 2 + 1) * O;                                    \
          for (int64_t oh = 0; oh < OH; oh++)                                                                  \
            for (int64_t ow = 0; ow < OW; ow++) {                                                              \
              int64_t q = oh * OW + ow;                                                                        \
              double h = (double)(oh * g->stride[0] - g->pad[0] + kh * g->dil[0]) + oh_[q];                    \
              double w = (double)(ow * g->stride[1] - g->pad[1] + kw * g->dil[1]) + ow_[q];                    \
              T v = bilinear_##SFX(xc, H, W, h, w);                                                            \
              dst[q] = mg ? v * mg[t * O + q] : v;                                                             \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
  }
DEFINE_DEFORM(f32, float)
DEFINE_DEFORM(f64, double)

static sn_error *deform_run(sn_kernel_ctx *c) {
  const conv_params *p;
  conv_params tmp;
  SN_TRY(get_params(c->node, c->params, &tmp, &p));
  const sn_tensor *x = c->in[0], *w = c->in[1], *off = c->in[2];
  const sn_tensor *b = c->n_in > 3 ? c->in[3] : NULL, *mask = c->n_in > 4 ? c->in[4] : NULL;
  char b1[128], b2[128];
  if (x->rank != 4)
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "only 2-D DeformConv is supported (X %s)",
                           sn_tensor_describe(x, b1, sizeof b1));
  conv_shape s;
  SN_TRY(conv_shape_of(c, p, false, x, w, b, &s));
  int64_t og = sn_attr_int(c->node, "offset_group", 1);
  const sn_conv_geom *g = &s.geom;
  int64_t K = g->k[0] * g->k[1], O = g->out[0] * g->out[1];
  if (og < 1 || s.C % og || off->rank != 4 || off->dims[0] != s.N || off->dims[1] != og * 2 * K ||
      off->dims[2] != g->out[0] || off->dims[3] != g->out[1] ||
      (mask && (mask->count != s.N * og * K * O)))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                           "offset %s (or mask) does not match offset_group %lld, kernel %lldx%lld and output %lldx%lld",
                           sn_tensor_describe(off, b2, sizeof b2), (long long)og, (long long)g->k[0],
                           (long long)g->k[1], (long long)g->out[0], (long long)g->out[1]);
  sn_dtype dt = x->dtype;
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, dt, 4, s.ydims, &y));
  if (y->count == 0) return NULL;
  bool dbl = dt == SINTER_DOUBLE;
  size_t es = dbl ? sizeof(double) : sizeof(float);
  const void *xp = x->data, *wp = w->data, *op = off->data, *mp = mask ? mask->data : NULL, *bp = b ? b->data : NULL;
  void *yp = y->data;
  float *yf = NULL;
  if (!dbl) {
    if (!sn_is_f32_family(dt)) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(dt));
    const float *t;
    SN_TRY(sn_nn_f32_in(c, x, &t));
    xp = t;
    SN_TRY(sn_nn_f32_in(c, w, &t));
    wp = t;
    SN_TRY(sn_nn_f32_in(c, off, &t));
    op = t;
    if (mask) {
      SN_TRY(sn_nn_f32_in(c, mask, &t));
      mp = t;
    }
    if (b) {
      SN_TRY(sn_nn_f32_in(c, b, &t));
      bp = t;
    }
    SN_TRY(sn_nn_f32_out(c, y, &yf));
    yp = yf;
  }
  int64_t rows = s.Cg * K;
  void *col = sn_kernel_scratch(c, es * (size_t)(rows * O));
  void *ws = sn_nn_gemm_workspace(c, dbl);
  if (!col || !ws) return SN_ERR_OOM();
  for (int64_t n = 0; n < s.N; n++)
    for (int64_t gi = 0; gi < s.G; gi++) {
      if (dbl) {
        deform_col_f64(&s, xp, op, mp, og, n, gi * s.Cg, s.Cg, col);
        SN_TRY(sn_nn_dgemm(c, ws, false, false, s.Mg, O, rows, 1, (const double *)wp + gi * s.Mg * rows, rows, col, O,
                           0, (double *)yp + (n * s.M + gi * s.Mg) * O, O));
      } else {
        deform_col_f32(&s, xp, op, mp, og, n, gi * s.Cg, s.Cg, col);
        SN_TRY(sn_nn_sgemm(c, ws, false, false, s.Mg, O, rows, 1, (const float *)wp + gi * s.Mg * rows, rows, col, O,
                           0, (float *)yp + (n * s.M + gi * s.Mg) * O, O));
      }
    }
  if (bp)
    for (int64_t n = 0; n < s.N; n++)
      for (int64_t m = 0; m < s.M; m++)
        for (int64_t i = 0; i < O; i++) {
          int64_t q = (n * s.M + m) * O + i;
          if (dbl)
            ((double *)yp)[q] += ((const double *)bp)[m];
          else
            ((float *)yp)[q] += ((const float *)bp)[m];
        }
  if (yf) sn_nn_f32_out_done(y, yf);
  return NULL;
}

const sn_op sn_ops_conv[] = {
    {"", "Conv", 1, 0, conv_infer, conv_run, conv_prepare, conv_free, 0, conv_prepack},
    {"", "ConvTranspose", 1, 0, convt_infer, convt_run, conv_prepare, conv_free, 0},
    {"", "ConvInteger", 10, 0, convint_infer, convint_run, qconv_prepare, qconv_free, 0, qconv_prepack},
    {"", "QLinearConv", 10, 0, qlconv_infer, qlconv_run, qconv_prepare, qconv_free, 0, qconv_prepack},
    /* the QDQ pass's fused form: QLinearConv's inputs (bias int32, or float with a float output),
     * y_scale/y_zero_point absent for a float output, attribute activation = "Relu" or "Clip" (activation_params [min, max]) */
    {"sinter", "QLinearConv", 1, 0, qlconv_infer, qlconv_run, qconv_prepare, qconv_free, 0, qconv_prepack},
    {"", "DeformConv", 19, 0, deform_infer, deform_run, conv_prepare, conv_free, 0},
    {0},
};
