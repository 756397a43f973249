/* Recurrent ops: LSTM, GRU and RNN (all directions, both layouts, every activation, sequence_lens). */
#ifndef SN_RNN_T
/* ================================================================================================
 * Shared definitions. The numeric core further down is written once over an element type T and
 * instantiated for float (float32, float16 and bfloat16 compute in float) and double by including
 * this file into itself with SN_RNN_T defined.
 * ================================================================================================ */
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "kernels/gemm.h"
#include "kernels/qgemm.h"
#include "kernels/quant.h"
#include "kernels/ref/gemm_ref.h"
#include "kernels/ref/nn_util.h"
#include "kernels/vmath.h"
#include "ops/op.h"
#include "runtime/threadpool.h"

typedef enum rnn_cell { CELL_RNN = 0, CELL_GRU = 1, CELL_LSTM = 2 } rnn_cell;

/* One direction's 8-bit weight of com.microsoft DynamicQuantizeLSTM (K x N, N = 4H columns),
 * packed for the INT8 GEMM (kernels/qgemm.h) as s8 (uint8 weights flipped by 0x80), with its
 * column sums and per-column scale and zero point (after the flip). */
typedef struct rnn_qw {
  int64_t K, N;
  uint8_t *packed;
  int32_t *colsum, *zb;
  float *scale;
} rnn_qw;

static void rnn_qw_free(rnn_qw *q) {
  if (!q) return;
  sn_aligned_free(q->packed);
  sn_free(q->colsum);
  sn_free(q->zb);
  sn_free(q->scale);
  sn_free(q);
}

typedef enum rnn_act_kind {
  ACT_RELU,
  ACT_TANH,
  ACT_SIGMOID,
  ACT_AFFINE,
  ACT_LEAKYRELU,
  ACT_THRESHOLDEDRELU,
  ACT_SCALEDTANH,
  ACT_HARDSIGMOID,
  ACT_ELU,
  ACT_SOFTSIGN,
  ACT_SOFTPLUS
} rnn_act_kind;

typedef struct rnn_act {
  int kind;
  float alpha, beta;
} rnn_act;

static const struct {
  const char *name;
  int kind;
  int n_params; /* how many of alpha, beta it consumes */
  float alpha, beta;
} rnn_act_names[] = {
    {"Relu", ACT_RELU, 0, 0, 0},
    {"Tanh", ACT_TANH, 0, 0, 0},
    {"Sigmoid", ACT_SIGMOID, 0, 0, 0},
    {"Affine", ACT_AFFINE, 2, 1.0f, 0.0f},
    {"LeakyRelu", ACT_LEAKYRELU, 1, 0.01f, 0},
    {"ThresholdedRelu", ACT_THRESHOLDEDRELU, 1, 1.0f, 0},
    {"ScaledTanh", ACT_SCALEDTANH, 2, 1.0f, 1.0f},
    {"HardSigmoid", ACT_HARDSIGMOID, 2, 0.2f, 0.5f},
    {"Elu", ACT_ELU, 1, 1.0f, 0},
    {"Softsign", ACT_SOFTSIGN, 0, 0, 0},
    {"Softplus", ACT_SOFTPLUS, 0, 0, 0},
};

typedef struct rnn_params {
  int cell;     /* rnn_cell */
  int gates;    /* 1 (RNN), 3 (GRU), 4 (LSTM) */
  int n_act;    /* activations per direction: 1, 2, 3 */
  int num_dir;  /* 1 or 2 */
  int direction; /* 0 forward, 1 reverse, 2 bidirectional */
  int64_t hidden; /* hidden_size attribute, or 0 when absent (taken from W) */
  int layout;
  float clip; /* <= 0: none */
  int input_forget;
  int linear_before_reset;
  rnn_act act[2][3];
  sn_pack_slot pw[2], pr[2]; /* per direction: constant float32 W and R packed as GEMM right operands */
  float *dq[2]; /* DynamicQuantizeLSTM: its constant W and R dequantized once at load (LSTM's layout) */
  rnn_qw *qw[2][2]; /* DynamicQuantizeLSTM: [W, R][direction] packed for the INT8 GEMM at load */
} rnn_params;

/* Sizes of one run, shared by both instantiations. */
typedef struct rnn_shape {
  const rnn_params *p;
  int64_t seq, batch, input, hidden;
  int nd; /* directions */
  const int64_t *lens; /* per batch entry, each in [0, seq] */
  int64_t max_len;
  void *gemm_ws; /* workspace for the GEMM (float: one per pool thread) */
  sn_kernel_ctx *c;
  const sn_sgemm_packed *pw, *pr; /* this direction's packed W and R (float32), or NULL */
  const rnn_qw *qw, *qr;          /* DynamicQuantizeLSTM: this direction's INT8 W and R, or NULL */
  uint8_t *qa;                    /* with them: scratch for the quantized A, its row sums, */
  int32_t *qrow, *qcol;           /* the column offsets and the column scales of one GEMM, */
  float *qscale;
  int32_t *qacc, *qza;            /* the recurrent GEMM's int32 sums and per-row zero points */
  float *qsa;                     /* and scales */
} rnn_shape;

/* C (M x N, row stride ldc) = A (M x K floats, row stride lda) x W for an INT8 weight, the way
 * ONNX Runtime's DynamicQuantizeLSTM computes its projections: A quantized per call to uint8 as
 * DynamicQuantizeLinear does (range widened to include 0), int32 sums, each column rescaled by A's
 * scale times the weight's, zero points of both compensated exactly. */
typedef struct rnn_q_job {
  const rnn_shape *s;
  const rnn_qw *q;
  const sn_qgemm_epi *e;
  float *C;
  int64_t M, ldc, chunk;
} rnn_q_job;

static void rnn_q_worker(void *arg, int w) {
  const rnn_q_job *j = arg;
  int64_t n0 = (int64_t)w * j->chunk, n1 = n0 + j->chunk < j->q->N ? n0 + j->chunk : j->q->N;
  if (n0 < n1) sn_qgemm(false, j->q->K, j->s->qa, j->q->K, j->q->packed, j->e, j->C, j->ldc, 0, j->M, n0, n1);
}

/* rows x K floats (row stride lda) quantized as DynamicQuantizeLinear does, with one range for
 * them all (kernels/quant.h, the op's own kernels): uint8 values into qa (row stride K), each
 * row's sum into rowsum, scale and zero point into *sa, *za */
static void rnn_dyn_quant(const float *A, int64_t rows, int64_t K, int64_t lda, uint8_t *qa, int32_t *rowsum,
                          float *sa, int32_t *za) {
  float mn = 0, mx = 0;
  for (int64_t m = 0; m < rows; m++) {
    float a, b;
    sn_minmax0_f32(A + m * lda, K, &a, &b);
    mn = a < mn ? a : mn;
    mx = b > mx ? b : mx;
  }
  const float scale = (mx == mn ? 1.0f : (mx - mn)) / 255.0f;
  float zp = 0.0f - mn / scale;
  zp = rintf(zp < 0.0f ? 0.0f : (zp > 255.0f ? 255.0f : zp));
  for (int64_t m = 0; m < rows; m++) {
    uint8_t *q = qa + m * K;
    sn_quantize_f32(A + m * lda, K, scale, zp, false, q);
    int32_t sum = 0;
    for (int64_t k = 0; k < K; k++) sum += q[k];
    rowsum[m] = sum;
  }
  *sa = scale;
  *za = (int32_t)zp;
}

typedef struct rnn_qr_job {
  const rnn_shape *s;
  const rnn_qw *q;
  float *C;
  int64_t M, ldc, chunk;
} rnn_qr_job;

/* columns of the recurrent GEMM: raw int32 sums, then each element compensated for both zero
 * points and scaled by its row's and its column's scales */
static void rnn_qr_worker(void *arg, int w) {
  const rnn_qr_job *j = arg;
  const rnn_shape *s = j->s;
  const rnn_qw *q = j->q;
  const int64_t K = q->K, N = q->N;
  int64_t n0 = (int64_t)w * j->chunk, n1 = n0 + j->chunk < N ? n0 + j->chunk : N;
  if (n0 >= n1) return;
  sn_qgemm_epi e = {0};
  e.out = SN_QOUT_I32;
  sn_qgemm(false, K, s->qa, K, q->packed, &e, s->qacc, N, 0, j->M, n0, n1);
  for (int64_t m = 0; m < j->M; m++)
    sn_dequant_i32_cols(s->qacc + m * N + n0, n1 - n0, s->qza[m], s->qrow[m], (int32_t)K, q->colsum + n0, q->zb + n0,
                        s->qsa[m], q->scale + n0, j->C + m * j->ldc + n0);
}

/* the recurrent projection: each batch row's hidden state quantized with its own range (as ONNX
 * Runtime does), all rows in one INT8 GEMM */
static void rnn_qgemm_rows(const rnn_shape *s, const rnn_qw *q, int64_t M, const float *A, int64_t lda, float *C,
                           int64_t ldc) {
  const int64_t K = q->K, N = q->N;
  if (M <= 0 || N <= 0) return;
  for (int64_t m = 0; m < M; m++) rnn_dyn_quant(A + m * lda, 1, K, lda, s->qa + m * K, &s->qrow[m], &s->qsa[m], &s->qza[m]);
  int nw = sn_nn_workers(s->c, 2.0 * (double)M * (double)N * (double)K);
  int64_t chunk = ((N + nw - 1) / nw + 15) / 16 * 16;
  nw = (int)((N + chunk - 1) / chunk);
  rnn_qr_job j = {s, q, C, M, ldc, chunk};
  sn_nn_run(s->c, nw, rnn_qr_worker, &j);
}

/* C = A W (+ bias per column, NULL: none) with the INT8 weights, A quantized with one range */
static void rnn_qgemm(const rnn_shape *s, const rnn_qw *q, int64_t M, const float *A, int64_t lda, float *C,
                      int64_t ldc, const float *bias) {
  const int64_t K = q->K, N = q->N;
  if (M <= 0 || N <= 0) return;
  float sa;
  int32_t za;
  rnn_dyn_quant(A, M, K, lda, s->qa, s->qrow, &sa, &za);
  for (int64_t n = 0; n < N; n++) {
    s->qscale[n] = sa * q->scale[n];
    s->qcol[n] = -za * q->colsum[n] + (int32_t)K * za * q->zb[n];
  }
  sn_qgemm_epi e = {0};
  e.out = SN_QOUT_F32;
  e.row_f = s->qrow;
  e.col_f = q->zb;
  e.col_off = s->qcol;
  e.scale = s->qscale;
  e.scale_axis = 2;
  e.fbias = bias; /* (added after the scaling, as a pass of its own would) */
  e.fbias_axis = 2;
  e.lo = -INFINITY;
  e.hi = INFINITY;
  int nw = sn_nn_workers(s->c, 2.0 * (double)M * (double)N * (double)K);
  int64_t chunk = ((N + nw - 1) / nw + 15) / 16 * 16;
  nw = (int)((N + chunk - 1) / chunk);
  rnn_q_job j = {s, q, &e, C, M, ldc, chunk};
  sn_nn_run(s->c, nw, rnn_q_worker, &j);
}

/* Row of X (and of the projected inputs) holding time step t of batch entry b. */
static inline int64_t rnn_xrow(const rnn_shape *s, int64_t t, int64_t b) {
  return s->p->layout ? b * s->seq + t : t * s->batch + b;
}
/* Offset of Y[t, dir, b, :] (layout 0) or Y[b, t, dir, :] (layout 1). */
static inline int64_t rnn_yoff(const rnn_shape *s, int64_t t, int dir, int64_t b) {
  return (s->p->layout ? ((b * s->seq + t) * s->nd + dir) : ((t * s->nd + dir) * s->batch + b)) * s->hidden;
}
/* Offset of a state entry (initial_h, Y_h, ...) for (dir, b). */
static inline int64_t rnn_soff(const rnn_shape *s, int dir, int64_t b) {
  return (s->p->layout ? (b * s->nd + dir) : (dir * s->batch + b)) * s->hidden;
}

/* ---- the numeric core, once per element type ---------------------------------------------------- */

#define SN_RNN_T float
#define SN_RNN_SFX(name) name##_f32
#define SN_RNN_M(fn) fn##f
#define SN_RNN_GEMM sn_sgemm
#define SN_RNN_F32 1
#include "ops/rnn.c"
#undef SN_RNN_F32
#undef SN_RNN_T
#undef SN_RNN_SFX
#undef SN_RNN_M
#undef SN_RNN_GEMM

#define SN_RNN_T double
#define SN_RNN_SFX(name) name##_f64
#define SN_RNN_M(fn) fn
#define SN_RNN_GEMM sn_dgemm_ref
#define SN_RNN_F32 0
#include "ops/rnn.c"
#undef SN_RNN_F32
#undef SN_RNN_T
#undef SN_RNN_SFX
#undef SN_RNN_M
#undef SN_RNN_GEMM

/* ---- attributes --------------------------------------------------------------------------------- */

static sn_error *rnn_prepare_cell(sn_graph *g, sn_node *n, void **params, int cell) {
  (void)g;
  char nd[160];
  rnn_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  sn_error *e = NULL;
  p->cell = cell;
  p->gates = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1;
  p->n_act = cell == CELL_LSTM ? 3 : cell == CELL_GRU ? 2 : 1;

  const char *dir = sn_attr_str(n, "direction", "forward");
  if (!strcmp(dir, "forward")) {
    p->direction = 0, p->num_dir = 1;
  } else if (!strcmp(dir, "reverse")) {
    p->direction = 1, p->num_dir = 1;
  } else if (!strcmp(dir, "bidirectional")) {
    p->direction = 2, p->num_dir = 2;
  } else {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: direction '%s' is not forward, reverse or bidirectional",
                  sn_node_desc(n, nd, sizeof nd), dir);
    goto fail;
  }
  p->hidden = sn_attr_int(n, "hidden_size", 0);
  if (p->hidden < 0) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: hidden_size %lld is negative", sn_node_desc(n, nd, sizeof nd),
                  (long long)p->hidden);
    goto fail;
  }
  p->layout = n->opset >= 14 ? (int)sn_attr_int(n, "layout", 0) : 0;
  if (p->layout != 0 && p->layout != 1) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: layout %d is not 0 or 1", sn_node_desc(n, nd, sizeof nd), p->layout);
    goto fail;
  }
  p->clip = sn_node_attr(n, "clip") ? sn_attr_float(n, "clip", 0) : 0;
  if (sn_node_attr(n, "clip") && !(p->clip > 0)) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: clip %g must be positive", sn_node_desc(n, nd, sizeof nd),
                  (double)p->clip);
    goto fail;
  }
  if (cell == CELL_LSTM) p->input_forget = sn_attr_int(n, "input_forget", 0) != 0;
  if (cell == CELL_GRU) p->linear_before_reset = sn_attr_int(n, "linear_before_reset", 0) != 0;

  /* defaults: LSTM f=Sigmoid g=Tanh h=Tanh; GRU f=Sigmoid g=Tanh; RNN Tanh */
  static const int defaults[3][3] = {{ACT_TANH}, {ACT_SIGMOID, ACT_TANH}, {ACT_SIGMOID, ACT_TANH, ACT_TANH}};
  for (int d = 0; d < 2; d++)
    for (int k = 0; k < p->n_act; k++) p->act[d][k] = (rnn_act){defaults[cell][k], 0, 0};

  const sn_attr *acts = sn_node_attr(n, "activations");
  if (acts && acts->n > 0) {
    int want = p->n_act * p->num_dir;
    if (acts->n != want && !(p->num_dir == 2 && acts->n == p->n_act)) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: %d activations given, expected %d (%d per direction)",
                    sn_node_desc(n, nd, sizeof nd), acts->n, want, p->n_act);
      goto fail;
    }
    const float *alphas = NULL, *betas = NULL;
    int n_alpha = sn_attr_floats(n, "activation_alpha", &alphas);
    int n_beta = sn_attr_floats(n, "activation_beta", &betas);
    int ia = 0, ib = 0;
    for (int i = 0; i < acts->n; i++) {
      const char *name = acts->strings[i];
      size_t j = 0, nn = sizeof rnn_act_names / sizeof *rnn_act_names;
      while (j < nn && strcasecmp(rnn_act_names[j].name, name)) j++;
      if (j == nn) {
        e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: unknown activation function '%s'",
                      sn_node_desc(n, nd, sizeof nd), name);
        goto fail;
      }
      rnn_act a = {rnn_act_names[j].kind, rnn_act_names[j].alpha, rnn_act_names[j].beta};
      /* alpha/beta are consumed, in order, by the activations that take them */
      if (rnn_act_names[j].n_params >= 1 && ia < n_alpha) a.alpha = alphas[ia++];
      if (rnn_act_names[j].n_params >= 2 && ib < n_beta) a.beta = betas[ib++];
      p->act[i / p->n_act][i % p->n_act] = a;
    }
    if (acts->n == p->n_act && p->num_dir == 2)
      for (int k = 0; k < p->n_act; k++) p->act[1][k] = p->act[0][k];
  }
  *params = p;
  return NULL;
fail:
  sn_free(p);
  return e;
}

static sn_error *rnn_prepare(sn_graph *g, sn_node *n, void **params) { return rnn_prepare_cell(g, n, params, CELL_RNN); }
static sn_error *gru_prepare(sn_graph *g, sn_node *n, void **params) { return rnn_prepare_cell(g, n, params, CELL_GRU); }
static sn_error *lstm_prepare(sn_graph *g, sn_node *n, void **params) { return rnn_prepare_cell(g, n, params, CELL_LSTM); }
static void rnn_free_params(void *p) {
  rnn_params *rp = p;
  if (rp)
    for (int d = 0; d < 2; d++) {
      sn_pack_slot_clear(&rp->pw[d]);
      sn_pack_slot_clear(&rp->pr[d]);
      sn_aligned_free(rp->dq[d]);
      rnn_qw_free(rp->qw[0][d]);
      rnn_qw_free(rp->qw[1][d]);
    }
  sn_free(p);
}

/* float32 W [dirs, G*H, input] and R [dirs, G*H, H], packed per direction at session creation
 * (the sources stay: both directions' slices live in one tensor) */
static sn_error *rnn_prepack(sn_graph *g, sn_node *n, void *params, bool take) {
  (void)take;
  rnn_params *p = params;
  const sn_tensor *w = n->n_in > 1 && n->in[1] >= 0 ? g->values[n->in[1]].data : NULL;
  const sn_tensor *r = n->n_in > 2 && n->in[2] >= 0 ? g->values[n->in[2]].data : NULL;
  if (!p || !w || !r || w->rank != 3 || r->rank != 3 || w->dims[0] != p->num_dir || r->dims[0] != p->num_dir ||
      w->dims[1] != r->dims[1])
    return NULL;
  int64_t gh = w->dims[1], input = w->dims[2], H = r->dims[2];
  for (int d = 0; d < p->num_dir && d < 2; d++) {
    SN_TRY(sn_nn_prepack(g, n, &p->pw[d], 1, d * gh * input, SN_GEMM_B, true, input, gh, input, false));
    SN_TRY(sn_nn_prepack(g, n, &p->pr[d], 2, d * gh * H, SN_GEMM_B, true, H, gh, H, false));
  }
  return NULL;
}

static int rnn_cell_of(const sn_node *n) {
  return !strcmp(n->op_type, "LSTM") || !strcmp(n->op_type, "DynamicQuantizeLSTM") ? CELL_LSTM
         : !strcmp(n->op_type, "GRU")                                             ? CELL_GRU
                                                                                  : CELL_RNN;
}

/* ---- shape inference ---------------------------------------------------------------------------- */

static sn_error *rnn_infer(sn_infer_ctx *c) {
  char b1[128];
  int cell = rnn_cell_of(c->node);
  int gates = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1;
  const char *dir = sn_attr_str(c->node, "direction", "forward");
  int nd = !strcmp(dir, "bidirectional") ? 2 : 1;
  int layout = c->opset >= 14 ? (int)sn_attr_int(c->node, "layout", 0) : 0;
  if (c->n_in < 3 || !c->in[0] || !c->in[1] || !c->in[2])
    return sn_infer_error(c, "needs inputs X, W and R");
  const sn_type *X = c->in[0], *W = c->in[1];
  sn_dtype dt = X->dtype;
  if (dt && dt != SINTER_FLOAT && dt != SINTER_FLOAT16 && dt != SINTER_DOUBLE && dt != SINTER_BFLOAT16)
    return sn_infer_error(c, "input X has element type %s; expected float, float16, bfloat16 or double",
                          sn_dtype_name(dt));
  if (X->rank >= 0 && X->rank != 3)
    return sn_infer_error(c, "input X must have rank 3, got %s", sn_type_str(X, b1, sizeof b1));
  if (W->rank >= 0 && W->rank != 3)
    return sn_infer_error(c, "input W must have rank 3, got %s", sn_type_str(W, b1, sizeof b1));
  sn_dim seq = sn_dim_unknown(), batch = sn_dim_unknown(), hid = sn_dim_unknown();
  if (X->rank == 3) {
    seq = X->dims[layout ? 1 : 0];
    batch = X->dims[layout ? 0 : 1];
  }
  int64_t hs = sn_attr_int(c->node, "hidden_size", 0);
  if (hs > 0) {
    hid = sn_dim_known(hs);
    if (W->rank == 3 && W->dims[1].v >= 0 && W->dims[1].v != hs * gates)
      return sn_infer_error(c, "W %s does not match hidden_size %lld (expected dim 1 = %lld)",
                            sn_type_str(W, b1, sizeof b1), (long long)hs, (long long)(hs * gates));
  } else if (W->rank == 3 && W->dims[1].v >= 0) {
    if (W->dims[1].v % gates)
      return sn_infer_error(c, "W %s: dim 1 is not a multiple of %d gates", sn_type_str(W, b1, sizeof b1), gates);
    hid = sn_dim_known(W->dims[1].v / gates);
  }
  if (W->rank == 3 && W->dims[0].v >= 0 && W->dims[0].v != nd)
    return sn_infer_error(c, "W %s: dim 0 must be the number of directions (%d)", sn_type_str(W, b1, sizeof b1), nd);
  sn_dim ndim = sn_dim_known(nd);
  if (c->n_out > 0 && c->out[0]) {
    sn_dim d[4];
    if (layout) {
      d[0] = batch, d[1] = seq, d[2] = ndim, d[3] = hid;
    } else {
      d[0] = seq, d[1] = ndim, d[2] = batch, d[3] = hid;
    }
    sn_type_set(c->out[0], dt, 4, d);
  }
  for (int i = 1; i < c->n_out && i < (cell == CELL_LSTM ? 3 : 2); i++) {
    if (!c->out[i]) continue;
    sn_dim d[3];
    if (layout) {
      d[0] = batch, d[1] = ndim, d[2] = hid;
    } else {
      d[0] = ndim, d[1] = batch, d[2] = hid;
    }
    sn_type_set(c->out[i], dt, 3, d);
  }
  if (c->n_out > (cell == CELL_LSTM ? 3 : 2)) return sn_infer_error(c, "has %d outputs, at most %d allowed", c->n_out, cell == CELL_LSTM ? 3 : 2);
  return NULL;
}

/* ---- kernel ------------------------------------------------------------------------------------- */

/* Input data as the compute type: the tensor's own memory when it already is, else a converted
 * scratch copy. */
static sn_error *rnn_operand(sn_kernel_ctx *c, const sn_tensor *t, bool dbl, const void **out) {
  *out = NULL;
  if (!t) return NULL;
  if ((!dbl && t->dtype == SINTER_FLOAT) || (dbl && t->dtype == SINTER_DOUBLE)) {
    *out = t->data;
    return NULL;
  }
  size_t es = dbl ? sizeof(double) : sizeof(float);
  void *buf = sn_kernel_scratch(c, (size_t)t->count * es + 1);
  if (!buf) return SN_ERR_OOM();
  for (int64_t i = 0; i < t->count; i++) {
    double v = sn_load_f64(t->dtype, t->data, i);
    if (dbl)
      ((double *)buf)[i] = v;
    else
      ((float *)buf)[i] = (float)v;
  }
  *out = buf;
  return NULL;
}

static bool rnn_want(const sn_kernel_ctx *c, int i) { return i < c->n_out && c->node->out[i] >= 0; }

static sn_error *rnn_shape_err(sn_kernel_ctx *c, const char *what, const sn_tensor *t, const char *expect) {
  char b[128];
  return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %s has shape %s, expected %s", what,
                         sn_tensor_describe(t, b, sizeof b), expect);
}

static bool rnn_dims_are(const sn_tensor *t, int rank, int64_t d0, int64_t d1, int64_t d2) {
  if (t->rank != rank) return false;
  int64_t d[3] = {d0, d1, d2};
  for (int i = 0; i < rank; i++)
    if (t->dims[i] != d[i]) return false;
  return true;
}

static sn_error *rnn_run(sn_kernel_ctx *c) {
  const rnn_params *p = c->params;
  char b1[160];
  const sn_tensor *X = c->in[0], *W = c->n_in > 1 ? c->in[1] : NULL, *R = c->n_in > 2 ? c->in[2] : NULL;
  const sn_tensor *B = c->n_in > 3 ? c->in[3] : NULL, *SL = c->n_in > 4 ? c->in[4] : NULL;
  const sn_tensor *H0 = c->n_in > 5 ? c->in[5] : NULL;
  const sn_tensor *C0 = (p->cell == CELL_LSTM && c->n_in > 6) ? c->in[6] : NULL;
  const sn_tensor *P = (p->cell == CELL_LSTM && c->n_in > 7) ? c->in[7] : NULL;
  if (!X || !W || !R) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "inputs X, W and R are required");
  sn_dtype dt = X->dtype;
  if (dt != SINTER_FLOAT && dt != SINTER_FLOAT16 && dt != SINTER_DOUBLE && dt != SINTER_BFLOAT16)
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(dt));
  if (X->rank != 3) return rnn_shape_err(c, "X", X, "rank 3");
  const int G = p->gates, nd = p->num_dir;
  rnn_shape s = {.p = p, .nd = nd};
  s.seq = X->dims[p->layout ? 1 : 0];
  s.batch = X->dims[p->layout ? 0 : 1];
  s.input = X->dims[2];
  if (W->rank != 3 || W->dims[0] != nd || W->dims[1] % G || W->dims[2] != s.input) {
    snprintf(b1, sizeof b1, "[%d, %d*hidden_size, %lld]", nd, G, (long long)s.input);
    return rnn_shape_err(c, "W", W, b1);
  }
  s.hidden = W->dims[1] / G;
  if (p->hidden && p->hidden != s.hidden)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "W %s does not match hidden_size %lld",
                           sn_tensor_describe(W, b1, sizeof b1), (long long)p->hidden);
  const int64_t H = s.hidden;
  /* X may be empty (input_size 0) with huge seq/batch dims: keep the workspace size from overflowing */
  if ((double)s.seq * (double)s.batch * (double)(G * H + 4) > 1e15)
    return sn_kernel_error(c, SINTER_ERR_OUT_OF_MEMORY, "X %s with hidden_size %lld needs too much memory",
                           sn_tensor_describe(X, b1, sizeof b1), (long long)H);
  if (!rnn_dims_are(R, 3, nd, G * H, H)) {
    snprintf(b1, sizeof b1, "[%d,%lld,%lld]", nd, (long long)(G * H), (long long)H);
    return rnn_shape_err(c, "R", R, b1);
  }
  if (B && !rnn_dims_are(B, 2, nd, 2 * G * H, 0)) {
    snprintf(b1, sizeof b1, "[%d,%lld]", nd, (long long)(2 * G * H));
    return rnn_shape_err(c, "B", B, b1);
  }
  int64_t sdims[3] = {nd, s.batch, H};
  if (p->layout) sdims[0] = s.batch, sdims[1] = nd;
  snprintf(b1, sizeof b1, "[%lld,%lld,%lld]", (long long)sdims[0], (long long)sdims[1], (long long)sdims[2]);
  if (H0 && !rnn_dims_are(H0, 3, sdims[0], sdims[1], sdims[2])) return rnn_shape_err(c, "initial_h", H0, b1);
  if (C0 && !rnn_dims_are(C0, 3, sdims[0], sdims[1], sdims[2])) return rnn_shape_err(c, "initial_c", C0, b1);
  if (P && !rnn_dims_are(P, 2, nd, 3 * H, 0)) {
    snprintf(b1, sizeof b1, "[%d,%lld]", nd, (long long)(3 * H));
    return rnn_shape_err(c, "P", P, b1);
  }
  if (H0 && H0->dtype != dt) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "initial_h has element type %s, X has %s", sn_dtype_name(H0->dtype), sn_dtype_name(dt));

  /* sequence lengths */
  int64_t *lens = sn_kernel_scratch(c, sizeof(int64_t) * (size_t)(s.batch + 1));
  if (!lens) return SN_ERR_OOM();
  s.max_len = 0;
  for (int64_t b = 0; b < s.batch; b++) {
    int64_t L = s.seq;
    if (SL) {
      if (SL->count != s.batch || (SL->dtype != SINTER_INT32 && SL->dtype != SINTER_INT64))
        return rnn_shape_err(c, "sequence_lens", SL, "int32 of shape [batch_size]");
      L = sn_load_i64(SL->dtype, SL->data, b);
      if (L < 0 || L > s.seq)
        return sn_kernel_error(c, SINTER_ERR_RUNTIME, "sequence_lens[%lld] = %lld is outside [0, %lld]",
                               (long long)b, (long long)L, (long long)s.seq);
    }
    lens[b] = L;
    if (L > s.max_len) s.max_len = L;
  }
  s.lens = lens;

  /* outputs */
  sn_tensor *Y = NULL, *Yh = NULL, *Yc = NULL;
  int64_t ydims[4] = {s.seq, nd, s.batch, H};
  if (p->layout) ydims[0] = s.batch, ydims[1] = s.seq, ydims[2] = nd;
  if (rnn_want(c, 0)) SN_TRY(sn_kernel_output(c, 0, dt, 4, ydims, &Y));
  if (rnn_want(c, 1)) SN_TRY(sn_kernel_output(c, 1, dt, 3, sdims, &Yh));
  if (p->cell == CELL_LSTM && rnn_want(c, 2)) SN_TRY(sn_kernel_output(c, 2, dt, 3, sdims, &Yc));

  const bool dbl = dt == SINTER_DOUBLE;
  const size_t es = dbl ? sizeof(double) : sizeof(float);
  const void *x, *w, *r, *bias = NULL, *peep = NULL, *h0 = NULL, *c0 = NULL;
  SN_TRY(rnn_operand(c, X, dbl, &x));
  SN_TRY(rnn_operand(c, W, dbl, &w));
  SN_TRY(rnn_operand(c, R, dbl, &r));
  SN_TRY(rnn_operand(c, B, dbl, &bias));
  SN_TRY(rnn_operand(c, P, dbl, &peep));
  SN_TRY(rnn_operand(c, H0, dbl, &h0));
  SN_TRY(rnn_operand(c, C0, dbl, &c0));

  /* output buffers in the compute type (the outputs themselves when the types match) */
  const bool direct = dt == SINTER_FLOAT || dt == SINTER_DOUBLE;
  void *y = NULL, *yh = NULL, *yc = NULL;
  int64_t ycount = s.seq * nd * s.batch * H, scount = nd * s.batch * H;
  if (Y) y = direct ? Y->data : sn_kernel_scratch(c, (size_t)ycount * es + 1);
  if (Yh) yh = direct ? Yh->data : sn_kernel_scratch(c, (size_t)scount * es + 1);
  if (Yc) yc = direct ? Yc->data : sn_kernel_scratch(c, (size_t)scount * es + 1);
  if ((Y && !y) || (Yh && !yh) || (Yc && !yc)) return SN_ERR_OOM();
  /* Y's steps past a row's sequence length are zeros; every other element is written */
  bool ragged = false;
  for (int64_t b = 0; b < s.batch; b++) ragged = ragged || lens[b] != s.seq;
  if (y && ragged) memset(y, 0, (size_t)ycount * es);

  int64_t work_n = s.seq * s.batch * G * H + s.batch * G * H + 4 * s.batch * H + G * H + H;
  void *work = sn_kernel_scratch(c, (size_t)work_n * es + 64);
  if (!work) return SN_ERR_OOM();
  s.gemm_ws = dbl ? sn_kernel_scratch(c, sn_gemm_ref_workspace(SINTER_DOUBLE)) : sn_nn_gemm_workspace(c, false);
  if (!s.gemm_ws) return SN_ERR_OOM();
  s.c = c;
  if (!dbl && p->qw[0][0] && p->qw[1][0] && w == p->dq[0] && r == p->dq[1]) {
    /* DynamicQuantizeLSTM with its weights packed for the INT8 GEMM: scratch for the projections */
    int64_t arows = s.seq * s.batch, qa = arows * s.input > s.batch * H ? arows * s.input : s.batch * H;
    s.qa = sn_kernel_scratch(c, (size_t)qa + 64);
    s.qrow = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(arows > s.batch ? arows : s.batch) + 64);
    s.qcol = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(G * H) + 64);
    s.qscale = sn_kernel_scratch(c, sizeof(float) * (size_t)(G * H) + 64);
    s.qacc = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(s.batch * G * H) + 64);
    s.qza = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)s.batch + 64);
    s.qsa = sn_kernel_scratch(c, sizeof(float) * (size_t)s.batch + 64);
    if (!s.qa || !s.qrow || !s.qcol || !s.qscale || !s.qacc || !s.qza || !s.qsa) return SN_ERR_OOM();
  }

  for (int d = 0; d < nd; d++) {
    bool reverse = p->direction == 1 || d == 1;
    if (dbl) {
      const double *wd = w, *rd = r, *bd = bias, *pd = peep;
      rnn_direction_f64(&s, d, reverse, x, wd + d * G * H * s.input, rd + d * G * H * H, bd ? bd + d * 2 * G * H : NULL,
                        pd ? pd + d * 3 * H : NULL, h0, c0, y, yh, yc, work);
    } else {
      const float *wf = w, *rf = r, *bf = bias, *pf = peep;
      const float *wd = wf + d * G * H * s.input, *rd = rf + d * G * H * H;
      s.pw = sn_nn_packed(c, &p->pw[d], 1, SN_GEMM_B, true, s.input, G * H, wd, s.input);
      s.pr = sn_nn_packed(c, &p->pr[d], 2, SN_GEMM_B, true, H, G * H, rd, H);
      s.qw = s.qa && p->qw[0][d] && p->qw[0][d]->K == s.input && p->qw[0][d]->N == G * H ? p->qw[0][d] : NULL;
      s.qr = s.qa && p->qw[1][d] && p->qw[1][d]->K == H && p->qw[1][d]->N == G * H ? p->qw[1][d] : NULL;
      rnn_direction_f32(&s, d, reverse, x, wf + d * G * H * s.input, rf + d * G * H * H, bf ? bf + d * 2 * G * H : NULL,
                        pf ? pf + d * 3 * H : NULL, h0, c0, y, yh, yc, work);
    }
  }

  if (!direct) {
    if (Y)
      for (int64_t i = 0; i < ycount; i++) sn_store_f64(dt, Y->data, i, ((float *)y)[i]);
    if (Yh)
      for (int64_t i = 0; i < scount; i++) sn_store_f64(dt, Yh->data, i, ((float *)yh)[i]);
    if (Yc)
      for (int64_t i = 0; i < scount; i++) sn_store_f64(dt, Yc->data, i, ((float *)yc)[i]);
  }
  return NULL;
}

/* ---- com.microsoft DynamicQuantizeLSTM ------------------------------------------------------------
 * What onnxruntime's quantize_dynamic makes of an LSTM: inputs as LSTM's, except that W [dirs, input,
 * 4H] and R [dirs, H, 4H] are 8-bit, stored transposed, with scales and zero points (inputs 8 to 11,
 * one per direction or one per direction and column). When W and R are constants, Sinter packs
 * them at load for the INT8 GEMM and computes as ONNX Runtime does: the input projection of the
 * whole sequence with X quantized at once (DynamicQuantizeLinear's uint8), each step's recurrent
 * projection with every batch row's hidden state quantized on its own range, int32 sums rescaled
 * per column (rnn_qgemm). Weights fed at run time are dequantized into float32 in LSTM's layout,
 * per run, and run through the float32 LSTM. */

static sn_error *dqlstm_types(const sn_infer_ctx *c, sn_type *w, sn_type *r) {
  for (int k = 1; k <= 2; k++) {
    const sn_type *t = c->in[k];
    sn_type *o = k == 1 ? w : r;
    if (t->dtype && t->dtype != SINTER_INT8 && t->dtype != SINTER_UINT8)
      return sn_infer_error(c, "input %s has element type %s; int8 or uint8 expected", k == 1 ? "W" : "R",
                            sn_dtype_name(t->dtype));
    if (t->rank < 0) {
      sn_type_set_unknown(o, SINTER_FLOAT);
      continue;
    }
    if (t->rank != 3) return sn_infer_error(c, "input %s must have rank 3", k == 1 ? "W" : "R");
    sn_dim d[3] = {t->dims[0], t->dims[2], t->dims[1]};
    sn_type_set(o, SINTER_FLOAT, 3, d);
  }
  return NULL;
}

static sn_error *dqlstm_infer(sn_infer_ctx *c) {
  if (c->n_in < 12 || !c->in[0] || !c->in[1] || !c->in[2] || !c->in[8] || !c->in[9] || !c->in[10] || !c->in[11])
    return sn_infer_error(c, "needs inputs X, W, R and W_scale, W_zero_point, R_scale, R_zero_point (inputs 8 to 11)");
  sn_type w, r;
  SN_TRY(dqlstm_types(c, &w, &r));
  const sn_type *in[8];
  for (int k = 0; k < 8; k++) in[k] = k == 1 ? &w : k == 2 ? &r : c->in[k];
  sn_infer_ctx c2 = *c;
  c2.n_in = 8;
  c2.in = in;
  return rnn_infer(&c2);
}

/* q [dirs, K, G] with scale / zero point per direction or per (direction, column) -> f [dirs, G, K];
 * false (with the reason in msg) when the tensors do not fit together */
static bool dqlstm_check(const sn_tensor *q, const sn_tensor *sc, const sn_tensor *zp, const char *what, char *msg,
                         size_t len) {
  char b1[128], b2[128], b3[128];
  if (q->rank != 3 || (q->dtype != SINTER_INT8 && q->dtype != SINTER_UINT8) || sc->dtype != SINTER_FLOAT ||
      zp->dtype != q->dtype) {
    snprintf(msg, len, "%s %s with scale %s and zero point %s: expected 8-bit [dirs, rows, columns], float32 scales "
             "and zero points of the weight's type", what, sn_tensor_describe(q, b1, sizeof b1),
             sn_tensor_describe(sc, b2, sizeof b2), sn_tensor_describe(zp, b3, sizeof b3));
    return false;
  }
  const int64_t D = q->dims[0], G = q->dims[2];
  if ((sc->count != D && sc->count != D * G) || zp->count != sc->count) {
    snprintf(msg, len, "%s %s: scale %s and zero point %s must hold one value per direction or per direction and "
             "column", what, sn_tensor_describe(q, b1, sizeof b1), sn_tensor_describe(sc, b2, sizeof b2),
             sn_tensor_describe(zp, b3, sizeof b3));
    return false;
  }
  return true;
}

static void dqlstm_dequant_into(const sn_tensor *q, const sn_tensor *sc, const sn_tensor *zp, float *f) {
  const int64_t D = q->dims[0], K = q->dims[1], G = q->dims[2];
  bool per_col = sc->count == D * G;
  const float *s = sc->data;
  for (int64_t d = 0; d < D; d++)
    for (int64_t g = 0; g < G; g++) {
      int64_t si = per_col ? d * G + g : d;
      float scale = s[si], z = (float)sn_load_f64(zp->dtype, zp->data, si);
      float *row = f + (d * G + g) * K;
      for (int64_t k = 0; k < K; k++) row[k] = ((float)sn_load_f64(q->dtype, q->data, (d * K + k) * G + g) - z) * scale;
    }
}

/* header of the float32 [dirs, G, K] form of q over data f */
static sn_error *dqlstm_header(const sn_tensor *q, float *f, sn_tensor *hdr) {
  int64_t dims[3] = {q->dims[0], q->dims[2], q->dims[1]};
  memset(hdr, 0, sizeof *hdr);
  SN_TRY(sn_tensor_set_shape(hdr, SINTER_FLOAT, 3, dims));
  hdr->data = f;
  return NULL;
}

/* Direction d of q [dirs, K, N] for the INT8 GEMM (see rnn_qw). */
static sn_error *dqlstm_pack_int8(const sn_tensor *q, const sn_tensor *sc, const sn_tensor *zp, int d, rnn_qw **out) {
  const int64_t D = q->dims[0], K = q->dims[1], N = q->dims[2];
  const bool per_col = sc->count == D * N, u8 = q->dtype == SINTER_UINT8;
  rnn_qw *w = sn_calloc(1, sizeof *w);
  if (!w) return SN_ERR_OOM();
  w->K = K;
  w->N = N;
  w->packed = sn_aligned_alloc(sn_qgemm_packed_size(K, N));
  w->colsum = sn_malloc(sizeof(int32_t) * (size_t)N);
  w->zb = sn_malloc(sizeof(int32_t) * (size_t)N);
  w->scale = sn_malloc(sizeof(float) * (size_t)N);
  if (!w->packed || !w->colsum || !w->zb || !w->scale) {
    rnn_qw_free(w);
    return SN_ERR_OOM();
  }
  sn_qgemm_pack_b((const uint8_t *)q->data + d * K * N, N, false, K, N, u8 ? 0x80 : 0, true, w->packed, w->colsum);
  const float *s = sc->data;
  for (int64_t n = 0; n < N; n++) {
    int64_t si = per_col ? d * N + n : d;
    w->scale[n] = s[si];
    w->zb[n] = (int32_t)sn_load_f64(zp->dtype, zp->data, si) - (u8 ? 128 : 0);
  }
  *out = w;
  return NULL;
}

/* W and R (with their scales and zero points) are constants: dequantized once here and packed like
 * LSTM's float32 weights, so a run neither dequantizes nor packs */
static sn_error *dqlstm_prepack(sn_graph *g, sn_node *n, void *params, bool take) {
  (void)take;
  rnn_params *p = params;
  if (!p || n->n_in < 12) return NULL;
  const int idx[2][3] = {{1, 8, 9}, {2, 10, 11}};
  const sn_tensor *t[2][3];
  for (int k = 0; k < 2; k++)
    for (int j = 0; j < 3; j++) {
      int v = n->in[idx[k][j]];
      if (v < 0 || g->values[v].role != SN_VAL_INITIALIZER || !g->values[v].data || !g->values[v].data->data) return NULL;
      t[k][j] = g->values[v].data;
    }
  char msg[512];
  for (int k = 0; k < 2; k++)
    if (!dqlstm_check(t[k][0], t[k][1], t[k][2], k ? "R" : "W", msg, sizeof msg))
      return NULL; /* the run reports it */
  const sn_tensor *w = t[0][0], *r = t[1][0];
  if (w->dims[0] != p->num_dir || r->dims[0] != p->num_dir || w->dims[2] != r->dims[2]) return NULL;
  for (int k = 0; k < 2; k++) {
    if (!p->dq[k]) {
      p->dq[k] = sn_aligned_alloc(sizeof(float) * (size_t)t[k][0]->count);
      if (!p->dq[k]) return SN_ERR_OOM();
      dqlstm_dequant_into(t[k][0], t[k][1], t[k][2], p->dq[k]);
    }
  }
  const int64_t gh = w->dims[2], input = w->dims[1], H = r->dims[1];
  for (int d = 0; d < p->num_dir && d < 2; d++) {
    SN_TRY(sn_nn_prepack_data(&p->pw[d], SN_GEMM_B, true, input, gh, p->dq[0] + d * gh * input, input));
    SN_TRY(sn_nn_prepack_data(&p->pr[d], SN_GEMM_B, true, H, gh, p->dq[1] + d * gh * H, H));
    for (int k = 0; k < 2; k++)
      if (!p->qw[k][d]) SN_TRY(dqlstm_pack_int8(t[k][0], t[k][1], t[k][2], d, &p->qw[k][d]));
  }
  return NULL;
}

/* per run, into scratch memory (weights that are not constants) */
static sn_error *dqlstm_dequant(sn_kernel_ctx *c, const sn_tensor *q, const sn_tensor *sc, const sn_tensor *zp,
                                const char *what, sn_tensor *hdr) {
  char msg[512];
  if (!dqlstm_check(q, sc, zp, what, msg, sizeof msg))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s", msg);
  float *f = sn_kernel_scratch(c, sizeof(float) * (size_t)(q->count ? q->count : 1));
  if (!f) return SN_ERR_OOM();
  dqlstm_dequant_into(q, sc, zp, f);
  return dqlstm_header(q, f, hdr);
}

static sn_error *dqlstm_run(sn_kernel_ctx *c) {
  if (c->n_in < 12 || !c->in[8] || !c->in[9] || !c->in[10] || !c->in[11])
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "the scales and zero points of W and R are required");
  sn_tensor w, r;
  const rnn_params *p = c->params;
  if (p && p->dq[0] && p->dq[1] && sn_kernel_input_const(c, 1) && sn_kernel_input_const(c, 2)) {
    SN_TRY(dqlstm_header(c->in[1], p->dq[0], &w)); /* dequantized at load (dqlstm_prepack) */
    SN_TRY(dqlstm_header(c->in[2], p->dq[1], &r));
  } else {
    SN_TRY(dqlstm_dequant(c, c->in[1], c->in[8], c->in[9], "W", &w));
    SN_TRY(dqlstm_dequant(c, c->in[2], c->in[10], c->in[11], "R", &r));
  }
  const sn_tensor *in[8];
  for (int k = 0; k < 8; k++) in[k] = k == 1 ? &w : k == 2 ? &r : c->in[k];
  sn_kernel_ctx c2 = *c;
  c2.n_in = 8;
  c2.in = in;
  return rnn_run(&c2);
}

/* Versions: RNN 1, 7, 14 (layout), 22; GRU 1, 3 (linear_before_reset), 7, 14 (layout), 22;
 * LSTM 1, 7, 14 (layout), 22. Opset 1's output_sequence attribute is ignored (outputs are produced
 * when consumed). The differences are handled inside by opset. */
const sn_op sn_ops_rnn[] = {
    {"", "RNN", 1, 0, rnn_infer, rnn_run, rnn_prepare, rnn_free_params, 0, rnn_prepack},
    {"", "GRU", 1, 0, rnn_infer, rnn_run, gru_prepare, rnn_free_params, 0, rnn_prepack},
    {"", "LSTM", 1, 0, rnn_infer, rnn_run, lstm_prepare, rnn_free_params, 0, rnn_prepack},
    {"com.microsoft", "DynamicQuantizeLSTM", 1, 0, dqlstm_infer, dqlstm_run, lstm_prepare, rnn_free_params, 0,
     dqlstm_prepack},
    {0},
};

#else /* SN_RNN_T: the numeric core ------------------------------------------------------------------ */

#define T SN_RNN_T
#define SFX SN_RNN_SFX

/* C = beta * C + A B^T  (B used transposed, as W and R are stored) */
static void SFX(rnn_gemm_nt)(const rnn_shape *s, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda, const T *B,
                             int64_t ldb, T beta, T *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  SN_RNN_GEMM(false, true, M, N, K, 1, A, lda, B, ldb, beta, C, ldc, s->gemm_ws);
}

/* the same with B's packed form when there is one covering all N columns (float32 only) */
static void SFX(rnn_gemm_nt_p)(const rnn_shape *s, const sn_sgemm_packed *pk, int64_t M, int64_t N, int64_t K,
                               const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C, int64_t ldc) {
#if SN_RNN_F32
  if (pk && M > 0 && pk->cols == N && pk->rows == K) {
    sn_error *e = sn_nn_sgemm_pb(s->c, s->gemm_ws, false, M, 1.0f, A, lda, pk, beta, C, ldc);
    if (!e) return;
    sn_error_free(e); /* cannot happen with a workspace given; the plain GEMM is always there */
  }
#else
  (void)pk;
#endif
  SFX(rnn_gemm_nt)(s, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* rows [r0, r1) of the projected inputs plus the folded biases (over the pool: a serial pass over
 * seq x batch x 4H floats was 3% of a 2-layer LSTM at batch 8) */
typedef struct SFX(bias_job) {
  T *xw;
  const T *bsum;
  int64_t GH;
} SFX(bias_job);

/* rows [r0, r1) x columns [c0, c1): the GEMM epilogue's form (float32), and whole rows */
static void SFX(bias_tile)(void *arg, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const SFX(bias_job) *j = arg;
  for (int64_t i = r0; i < r1; i++) {
    T *restrict row = j->xw + i * j->GH;
    const T *restrict b = j->bsum;
    for (int64_t k = c0; k < c1; k++) row[k] += b[k];
  }
}

static void SFX(bias_rows)(void *arg, int64_t r0, int64_t r1) {
  SFX(bias_tile)(arg, r0, r1, 0, ((const SFX(bias_job) *)arg)->GH);
}

#if SN_RNN_F32
/* xw = X W^T + bias with W's packed form, the bias added by the GEMM's epilogue to each tile as it
 * is written (no pass of its own over seq x batch x 4H floats); false: no packed form, nothing done */
static bool rnn_project_biased(const rnn_shape *s, int64_t rows, int64_t GH, const float *x, float *xw,
                               const float *bsum) {
  const sn_sgemm_packed *pk = s->pw;
  if (!pk || rows <= 0 || pk->cols != GH || pk->rows != s->input) return false;
  bias_job_f32 bj = {xw, bsum, GH};
  sn_epilogue e = {bias_tile_f32, &bj, false};
  sn_error *err = sn_nn_sgemm_pb_with(s->c, s->gemm_ws, false, rows, 1.0f, x, s->input, pk, 0.0f, xw, GH, &e);
  if (!err) return true;
  sn_error_free(err); /* cannot happen: ldc is the packed width */
  return false;
}
#endif

static void SFX(rnn_activate)(const rnn_act *a, T clip, T *x, int64_t n) {
  if (clip > 0)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] < -clip ? -clip : x[i] > clip ? clip : x[i];
  const T alpha = (T)a->alpha, beta = (T)a->beta;
  switch (a->kind) {
    case ACT_RELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
      break;
    case ACT_TANH:
#if SN_RNN_F32 /* float: the vectorized kernels (4 ulp) */
      sn_vtanh(x, x, n);
      break;
#endif
      for (int64_t i = 0; i < n; i++) x[i] = SN_RNN_M(tanh)(x[i]);
      break;
    case ACT_SIGMOID:
#if SN_RNN_F32
      sn_vsigmoid(x, x, n);
      break;
#endif
      for (int64_t i = 0; i < n; i++) {
        T v = x[i];
        if (v >= 0) {
          x[i] = 1 / (1 + SN_RNN_M(exp)(-v));
        } else {
          T e = SN_RNN_M(exp)(v);
          x[i] = e / (1 + e);
        }
      }
      break;
    case ACT_AFFINE:
      for (int64_t i = 0; i < n; i++) x[i] = alpha * x[i] + beta;
      break;
    case ACT_LEAKYRELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0 ? x[i] : alpha * x[i];
      break;
    case ACT_THRESHOLDEDRELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] > alpha ? x[i] : 0;
      break;
    case ACT_SCALEDTANH:
      for (int64_t i = 0; i < n; i++) x[i] = alpha * SN_RNN_M(tanh)(beta * x[i]);
      break;
    case ACT_HARDSIGMOID:
      for (int64_t i = 0; i < n; i++) {
        T v = alpha * x[i] + beta;
        x[i] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
      break;
    case ACT_ELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0 ? x[i] : alpha * (SN_RNN_M(exp)(x[i]) - 1);
      break;
    case ACT_SOFTSIGN:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1 + SN_RNN_M(fabs)(x[i]));
      break;
    case ACT_SOFTPLUS:
      for (int64_t i = 0; i < n; i++) {
        T v = x[i];
        x[i] = v > 0 ? v + SN_RNN_M(log1p)(SN_RNN_M(exp)(-v)) : SN_RNN_M(log1p)(SN_RNN_M(exp)(v));
      }
      break;
    default: break;
  }
}

#if SN_RNN_F32
/* an LSTM direction whose cell update sn_vlstm_cell does in one pass: ONNX's default activations
 * (sigmoid, tanh, tanh), no peepholes, no coupled input and forget gates */
static bool lstm_plain(const rnn_params *p, const rnn_act *act, const float *peep) {
  return p->cell == CELL_LSTM && !peep && !p->input_forget && act[0].kind == ACT_SIGMOID && act[1].kind == ACT_TANH &&
         act[2].kind == ACT_TANH;
}

/* LSTM steps on several threads, all steps in one parallel region. The hidden units are cut into
 * slices, one per thread; slice i of a step computes its columns [h0, h1) of all four gates of the
 * recurrent projection from the whole previous hidden state (hp), then the gates, cell and new hidden
 * state of its units for every batch row (into hn: the others still read hp). Each thread runs every
 * step: it claims its own slice of the step (so each core keeps its part of R in its own L2), then
 * any slice still unclaimed, then waits (spinning) until every slice of the step is done before it
 * starts the next. A thread that starts late, or is descheduled, finds its slices taken by the
 * others and joins at a later step; a pool that runs the items one after another (busy with another
 * run) leaves the first to claim every slice of every step. So a step costs no wake-up of the pool
 * and no thread ever waits for a slice nobody has claimed. Per element the same operations as the
 * serial loop. With enough batch rows the threads split the rows instead (lstm_rows_worker) and
 * never wait at all. */
/* slices of a step at most (hence workers of the slice split too) */
#define LSTM_MAX_SLICES 64

typedef struct lstm_job {
  const rnn_shape *s;
  int dir;
  bool reverse, plain; /* plain: lstm_plain() */
  const float *xw, *peep;
  float *h[2]; /* hidden state: step t reads h[t & 1] and writes h[(t + 1) & 1] */
  float *cs, *tmp, *gr, *y;
  int64_t chunk; /* hidden units per slice */
  int items, nw;
  size_t ws_bytes;
  /* per slice: the next step it may be claimed for, and the number of its steps done; per worker: the
   * step it is on (-1 before it starts) */
  int64_t *claim, *done, *at;
  /* INT8 recurrent weights (DynamicQuantizeLSTM): per thread, the previous hidden state quantized
   * (batch x H bytes at qa + thread * qa_bytes) with its rows' sums, zero points and scales */
  uint8_t *qa;
  size_t qa_bytes;
  int32_t *qrow, *qza;
  float *qsa;
} lstm_job;

/* the recurrent projection's columns [n0, n1) from the INT8 weights: thread t quantizes the whole
 * previous state (each batch row with its own range, as the serial loop does; a few thousand
 * values, redone by each thread rather than waited for) and computes its columns as int32 sums,
 * dequantized into gr */
static void lstm_qslice(const lstm_job *j, int th, const float *hp, int64_t b0, int64_t b1, int64_t n0, int64_t n1,
                        bool quantize) {
  const rnn_shape *s = j->s;
  const rnn_qw *q = s->qr;
  const int64_t K = q->K, N = q->N, M = s->batch;
  uint8_t *qa = j->qa + (size_t)th * j->qa_bytes;
  int32_t *qrow = j->qrow + th * M, *qza = j->qza + th * M;
  float *qsa = j->qsa + th * M;
  if (quantize)
    for (int64_t m = b0; m < b1; m++) rnn_dyn_quant(hp + m * K, 1, K, K, qa + m * K, &qrow[m], &qsa[m], &qza[m]);
  sn_qgemm_epi e = {0};
  e.out = SN_QOUT_I32;
  sn_qgemm(false, K, qa, K, q->packed, &e, s->qacc, N, b0, b1, n0, n1);
  for (int64_t m = b0; m < b1; m++)
    sn_dequant_i32_cols(s->qacc + m * N + n0, n1 - n0, qza[m], qrow[m], (int32_t)K, q->colsum + n0, q->zb + n0, qsa[m],
                        q->scale + n0, j->gr + m * 4 * s->hidden + n0);
}

/* batch rows [b0, b1) x hidden units [h0, h1) of one step, on thread th (quantize: the thread's first
 * part of the step, which quantizes the rows for the INT8 weights) */
static void lstm_part(const lstm_job *j, int64_t b0, int64_t b1, int64_t h0, int64_t h1, int64_t step, void *ws,
                      int th, bool quantize) {
  const rnn_shape *s = j->s;
  const rnn_params *p = s->p;
  const int64_t H = s->hidden, GH = 4 * H;
  if (h0 >= h1 || b0 >= b1) return;
  const int64_t n = h1 - h0;
  const float clip = (float)p->clip;
  const rnn_act *act = p->act[j->dir];
  const float *hp = j->h[step & 1];
  float *hn = j->h[(step + 1) & 1];
  if (n == H) { /* every unit (the batch split): the four gates' columns in one product */
    if (j->qa)
      lstm_qslice(j, th, hp, b0, b1, 0, GH, quantize);
    else
      sn_sgemm_pb(false, b1 - b0, 0, GH, 1.0f, hp + b0 * H, H, s->pr, 0.0f, j->gr + b0 * GH, GH, ws);
  } else {
    for (int64_t g = 0; g < 4; g++)
      if (j->qa)
        lstm_qslice(j, th, hp, b0, b1, g * H + h0, g * H + h1, quantize && g == 0);
      else
        sn_sgemm_pb(false, b1 - b0, g * H + h0, g * H + h1, 1.0f, hp + b0 * H, H, s->pr, 0.0f, j->gr + b0 * GH, GH,
                    ws);
  }
  const float *peep = j->peep;
  for (int64_t b = b0; b < b1; b++) {
    const int64_t L = s->lens[b];
    float *hb = hn + b * H + h0;
    if (step >= L) { /* this row's sequence has ended: its state stays */
      memcpy(hb, hp + b * H + h0, sizeof(float) * (size_t)n);
      continue;
    }
    const int64_t t = j->reverse ? L - 1 - step : step;
    const float *xi = j->xw + rnn_xrow(s, t, b) * GH + h0;
    float *g = j->gr + b * GH + h0, *cb = j->cs + b * H + h0, *hc = j->tmp + b * H + h0;
    if (j->plain) {
      sn_vlstm_cell(g, xi, H, clip, cb, hb, n);
    } else {
      for (int64_t q = 0; q < 4; q++)
        for (int64_t k = 0; k < n; k++) g[q * H + k] += xi[q * H + k];
      float *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;
      if (peep)
        for (int64_t k = 0; k < n; k++) gi[k] += peep[h0 + k] * cb[k];
      rnn_activate_f32(&act[0], clip, gi, n);
      if (p->input_forget) {
        for (int64_t k = 0; k < n; k++) gf[k] = 1 - gi[k];
      } else {
        if (peep)
          for (int64_t k = 0; k < n; k++) gf[k] += peep[2 * H + h0 + k] * cb[k];
        rnn_activate_f32(&act[0], clip, gf, n);
      }
      rnn_activate_f32(&act[1], clip, gc, n);
      for (int64_t k = 0; k < n; k++) cb[k] = gf[k] * cb[k] + gi[k] * gc[k];
      if (peep)
        for (int64_t k = 0; k < n; k++) go[k] += peep[H + h0 + k] * cb[k];
      rnn_activate_f32(&act[0], clip, go, n);
      memcpy(hc, cb, sizeof(float) * (size_t)n);
      rnn_activate_f32(&act[2], 0, hc, n); /* clip applies to gate inputs, not to the cell state */
      for (int64_t k = 0; k < n; k++) hb[k] = go[k] * hc[k];
    }
    if (j->y) memcpy(j->y + rnn_yoff(s, t, j->dir, b) + h0, hb, sizeof(float) * (size_t)n);
  }
}

/* the batch split: thread w runs every step of its own rows, all hidden units, never waiting */
static void lstm_rows_worker(void *arg, int w) {
  const lstm_job *j = arg;
  void *ws = (char *)j->s->gemm_ws + (size_t)w * j->ws_bytes;
  const int64_t B = j->s->batch, b0 = B * w / j->nw, b1 = B * (w + 1) / j->nw;
  for (int64_t step = 0; step < j->s->max_len; step++) lstm_part(j, b0, b1, 0, j->s->hidden, step, ws, w, true);
}

/* the worker whose own slices include slice i */
static int lstm_owner(const lstm_job *j, int i) {
  int o = (int)((int64_t)i * j->nw / j->items);
  while (o > 0 && (int64_t)o * j->items / j->nw > i) o--;
  while (o + 1 < j->nw && (int64_t)(o + 1) * j->items / j->nw <= i) o++;
  return o;
}

static void lstm_seq_worker(void *arg, int w) {
  const lstm_job *j = arg;
  void *ws = (char *)j->s->gemm_ws + (size_t)w * j->ws_bytes;
  const int64_t nsteps = j->s->max_len;
  /* its own slices first (the same every step: their part of R stays in this core's L2), then the
   * others' from the far end of the thread before it, but only those of a worker that has not
   * started (after a moment for its wake-up) or is a whole step behind: one that is merely late
   * by a few microseconds takes its own, else its slice would move to this core, and the two
   * threads would from then on take turns running every slice of a step (measured: 5.6 ms a run
   * of the 2-layer LSTM at batch 8 on two threads, 3.9 without) */
  const int own0 = (int)((int64_t)w * j->items / j->nw), own = (int)((int64_t)(w + 1) * j->items / j->nw) - own0;
  /* workers found not started (a pool busy elsewhere): not waited for again */
  bool absent[LSTM_MAX_SLICES] = {false};
  for (int64_t step = 0; step < nsteps; step++) {
    __atomic_store_n(&j->at[w], step, __ATOMIC_RELEASE);
    bool first = true;
    for (int k = 0; k < j->items; k++) {
      int i = k < own ? own0 + k : (own0 - 1 - (k - own) + 2 * j->items) % j->items;
      if (k >= own) {
        const int o = lstm_owner(j, i);
        int64_t oat = __atomic_load_n(&j->at[o], __ATOMIC_ACQUIRE);
        for (int spins = 0; oat < 0 && !absent[o] && spins < 2048; spins++) { /* (its wake-up, once) */
          sn_cpu_relax();
          oat = __atomic_load_n(&j->at[o], __ATOMIC_ACQUIRE);
        }
        absent[o] = oat < 0;
        if (oat >= step - 1 && oat >= 0) continue; /* it runs: its slice is its own */
      }
      int64_t expect = step;
      if (__atomic_compare_exchange_n(&j->claim[i], &expect, step + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        const int64_t h0 = (int64_t)i * j->chunk, h1 = h0 + j->chunk < j->s->hidden ? h0 + j->chunk : j->s->hidden;
        lstm_part(j, 0, j->s->batch, h0, h1, step, ws, w, first);
        first = false;
        __atomic_store_n(&j->done[i], step + 1, __ATOMIC_RELEASE);
      } else if (expect > step + 1) {
        break; /* this thread is behind: the step is done, and later ones claimed */
      }
    }
    /* (a thread holding a slice may have lost its core: after a while, give ours up too) */
    for (int i = 0, spins = 0; i < j->items; i++)
      while (__atomic_load_n(&j->done[i], __ATOMIC_ACQUIRE) <= step)
        if (++spins < 4096)
          sn_cpu_relax();
        else
          sched_yield();
  }
}

/* All steps of an LSTM direction the parallel way when it pays (packed recurrent weights, float32 or
 * INT8, a pool, a step big enough for two workers, H a multiple of the packed panel width); false: not taken,
 * nothing done. hs holds the initial hidden state and, on return, the final one; spare: batch x H
 * floats of scratch. */
static bool lstm_steps_parallel(const rnn_shape *s, int dir, bool reverse, bool plain, const float *xw,
                                const float *peep, float *hs, float *spare, float *cs, float *tmp, float *gr, float *y) {
  const int64_t H = s->hidden, GH = 4 * H;
  const bool q8 = s->qr && s->qr->K == H && s->qr->N == GH; /* INT8 recurrent weights */
  if (s->p->cell != CELL_LSTM || !s->gemm_ws || (!q8 && (s->qr || !s->pr || s->pr->rows != H || s->pr->cols != GH)))
    return false;
  /* every step in one parallel region: no wake-up of the pool per step, so even batch 1 at hidden
   * 256 (0.5 MFLOP a step) gains from two threads (2-layer LSTM, 50 steps: 15% faster than the serial
   * loop with its GEMM split); the pool's own threshold (2e5 flops a worker) decides below */
  double flops = 2.0 * (double)s->batch * (double)GH * (double)H;
  int nw = sn_nn_workers(s->c, flops);
  if (nw < 2) return false;
  /* At least 4 batch rows a thread, and the recurrent weights no larger than a core's L2: the batch
   * is split instead. No thread ever waits for another, and 4 rows feed the small-M kernel near the
   * core's peak from L2 (its INT8 version, R of 256 KiB, 19% faster than the slices). Up to the
   * whole L2, not half: the float32 2-layer LSTM (R of 1 MiB, Zen 4's L2) at batch 8 and 2 threads
   * took 4.24-4.71 ms by rows against 4.46-6.44 by slices (`sinter bench`, alternating), whose
   * per-step barrier stalls both threads whenever one loses its core. Fewer rows would starve the
   * kernel: a product of 1 or 2 rows streams a B vector for 1 or 2 FMAs. */
  const size_t rbytes = (size_t)GH * (size_t)H * (q8 ? 1 : sizeof(float));
  const int64_t rows_nw = s->batch / 4 < nw ? s->batch / 4 : nw;
  const bool by_rows = rows_nw >= 2 && rbytes <= sn_cpu_cache_sizes().l2;
  /* else one slice of the hidden units per thread (its own every step, so each core keeps its part
   * of R in its own L2); two per thread, for balance, measured no faster at batch 1 or 8 */
  const int64_t al = q8 ? 16 : sn_sgemm_pb_align(s->pr);
  int64_t chunk = H;
  int items = 1;
  if (by_rows) {
    nw = (int)rows_nw;
  } else {
    if (H % al != 0 || H < 2 * al) return false;
    chunk = ((H + nw - 1) / nw + al - 1) / al * al;
    items = (int)((H + chunk - 1) / chunk);
    if (items < 2 || items > LSTM_MAX_SLICES) return false;
    if (nw > items) nw = items;
  }
  int64_t claim[LSTM_MAX_SLICES] = {0}, done[LSTM_MAX_SLICES] = {0}, at[LSTM_MAX_SLICES];
  for (int k = 0; k < LSTM_MAX_SLICES; k++) at[k] = -1;
  lstm_job j = {s, dir, reverse, plain, xw, peep, {hs, spare}, cs, tmp, gr, y, chunk, items, nw,
               (sn_sgemm_workspace() + 63) & ~(size_t)63, claim, done, at, NULL, 0, NULL, NULL, NULL};
  if (q8) {
    j.qa_bytes = ((size_t)(s->batch * H) + 63) & ~(size_t)63;
    j.qa = sn_kernel_scratch(s->c, j.qa_bytes * (size_t)nw);
    j.qrow = sn_kernel_scratch(s->c, sizeof(int32_t) * (size_t)(s->batch * nw));
    j.qza = sn_kernel_scratch(s->c, sizeof(int32_t) * (size_t)(s->batch * nw));
    j.qsa = sn_kernel_scratch(s->c, sizeof(float) * (size_t)(s->batch * nw));
    if (!j.qa || !j.qrow || !j.qza || !j.qsa) return false; /* (no memory: the serial loop, which needs none) */
  }
  sn_nn_run(s->c, nw, by_rows ? lstm_rows_worker : lstm_seq_worker, &j);
  if (s->max_len & 1) memcpy(hs, spare, sizeof(float) * (size_t)(s->batch * H));
  return true;
}
#endif

/* One direction of one RNN/GRU/LSTM layer. w, r, bias, peep point at this direction's weights;
 * x, h0, c0, y, yh, yc are whole tensors (NULL when absent). */
static void SFX(rnn_direction)(const rnn_shape *s, int dir, bool reverse, const T *x, const T *w, const T *r,
                               const T *bias, const T *peep, const T *h0, const T *c0, T *y, T *yh, T *yc, T *work) {
  const rnn_params *p = s->p;
  const int64_t H = s->hidden, G = p->gates, GH = G * H, batch = s->batch, rows = s->seq * batch;
  const T clip = (T)p->clip;
  const rnn_act *act = p->act[dir];
  const bool lbr = p->cell == CELL_GRU && p->linear_before_reset;

  T *xw = work;              /* [rows, G*H] projected inputs (X row order) */
  T *gr = xw + rows * GH;    /* [batch, G*H] recurrent projections */
  T *hs = gr + batch * GH;   /* [batch, H] hidden state */
  T *cs = hs + batch * H;    /* [batch, H] cell state (LSTM) */
  T *tmp = cs + batch * H;   /* [batch, H] r (.) H for GRU, h(C) scratch for LSTM */
  T *hh = tmp + batch * H;   /* [batch, H] GRU candidate projection */
  T *bsum = hh + batch * H;  /* [G*H] folded biases */
  T *rbh = bsum + GH;        /* [H] GRU Rbh kept apart when linear_before_reset */

  /* biases: Wb + Rb folded into the input projection, except GRU's Rbh with linear_before_reset */
  for (int64_t i = 0; i < GH; i++) bsum[i] = bias ? bias[i] + bias[GH + i] : 0;
  for (int64_t i = 0; i < H; i++) rbh[i] = 0;
  if (lbr && bias)
    for (int64_t i = 0; i < H; i++) {
      bsum[2 * H + i] = bias[2 * H + i];
      rbh[i] = bias[GH + 2 * H + i];
    }

  /* input projection of every time step at once: xw = X W^T + bias (the bias added to each tile of
   * the packed GEMM as it is written, else in a pass of its own) */
  bool projected = false, biased = false;
#if SN_RNN_F32
  if (s->qw) {
    rnn_qgemm(s, s->qw, rows, x, s->input, xw, GH, bsum); /* DynamicQuantizeLSTM: INT8 */
    projected = biased = true;
  } else {
    projected = biased = rnn_project_biased(s, rows, GH, x, xw, bsum);
  }
#endif
  if (!projected) SFX(rnn_gemm_nt_p)(s, s->pw, rows, GH, s->input, x, s->input, w, s->input, 0, xw, GH);
  SFX(bias_job) bj = {xw, bsum, GH};
  if (!biased && rows >= 16 && (double)rows * (double)GH >= 65536.0)
    sn_parallel_for(sn_kernel_pool(s->c), rows, SFX(bias_rows), &bj);
  else if (!biased)
    SFX(bias_rows)(&bj, 0, rows);

  for (int64_t b = 0; b < batch; b++) {
    for (int64_t i = 0; i < H; i++) {
      hs[b * H + i] = h0 ? h0[rnn_soff(s, dir, b) + i] : 0;
      cs[b * H + i] = c0 ? c0[rnn_soff(s, dir, b) + i] : 0;
      tmp[b * H + i] = 0;
    }
  }

  const int64_t nr = (p->cell == CELL_GRU && !lbr) ? 2 * H : GH; /* recurrent columns before the gates */
  const int64_t nadd = p->cell == CELL_GRU ? 2 * H : GH;             /* input columns added to them now */
  int64_t step0 = 0;
#if SN_RNN_F32
  const bool plain = lstm_plain(p, act, peep);
  /* (hh, GRU's candidate projection, is free in an LSTM: the second hidden state buffer) */
  if (lstm_steps_parallel(s, dir, reverse, plain, xw, peep, hs, hh, cs, tmp, gr, y)) step0 = s->max_len;
#endif
  for (int64_t step = step0; step < s->max_len; step++) {
#if SN_RNN_F32
    if (s->qr && nr == s->qr->N)
      rnn_qgemm_rows(s, s->qr, batch, hs, H, gr, GH);
    else
#endif
      SFX(rnn_gemm_nt_p)(s, s->pr, batch, nr, H, hs, H, r, H, 0, gr, GH);
    for (int64_t b = 0; b < batch; b++) {
      const int64_t L = s->lens[b];
      if (step >= L) continue;
      const int64_t t = reverse ? L - 1 - step : step;
      const T *xi = xw + rnn_xrow(s, t, b) * GH;
      T *g = gr + b * GH, *hb = hs + b * H, *cb = cs + b * H;
#if SN_RNN_F32
      if (plain) {
        sn_vlstm_cell(g, xi, H, clip, cb, hb, H);
        continue;
      }
#endif
      for (int64_t j = 0; j < nadd; j++) g[j] += xi[j];
      if (p->cell == CELL_RNN) {
        SFX(rnn_activate)(&act[0], clip, g, H);
        memcpy(hb, g, sizeof(T) * (size_t)H);
      } else if (p->cell == CELL_LSTM) {
        T *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;
        if (peep)
          for (int64_t j = 0; j < H; j++) gi[j] += peep[j] * cb[j];
        SFX(rnn_activate)(&act[0], clip, gi, H);
        if (p->input_forget) {
          for (int64_t j = 0; j < H; j++) gf[j] = 1 - gi[j];
        } else {
          if (peep)
            for (int64_t j = 0; j < H; j++) gf[j] += peep[2 * H + j] * cb[j];
          SFX(rnn_activate)(&act[0], clip, gf, H);
        }
        SFX(rnn_activate)(&act[1], clip, gc, H);
        for (int64_t j = 0; j < H; j++) cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
        if (peep)
          for (int64_t j = 0; j < H; j++) go[j] += peep[H + j] * cb[j];
        SFX(rnn_activate)(&act[0], clip, go, H);
        T *hc = tmp + b * H;
        memcpy(hc, cb, sizeof(T) * (size_t)H);
        SFX(rnn_activate)(&act[2], 0, hc, H); /* clip applies to gate inputs, not to the cell state */
        for (int64_t j = 0; j < H; j++) hb[j] = go[j] * hc[j];
      } else {
        /* GRU: z and r now; the candidate after all rows have r (needs (r . H) R_h^T) */
        SFX(rnn_activate)(&act[0], clip, g, 2 * H);
        if (lbr) {
          T *gh = g + 2 * H;
          for (int64_t j = 0; j < H; j++) gh[j] = xi[2 * H + j] + g[H + j] * (gh[j] + rbh[j]);
        } else {
          for (int64_t j = 0; j < H; j++) tmp[b * H + j] = g[H + j] * hb[j];
        }
      }
    }
    if (p->cell == CELL_GRU) {
      if (!lbr) SFX(rnn_gemm_nt)(s, batch, H, H, tmp, H, r + 2 * H * H, H, 0, hh, H);
      for (int64_t b = 0; b < batch; b++) {
        const int64_t L = s->lens[b];
        if (step >= L) continue;
        const int64_t t = reverse ? L - 1 - step : step;
        T *g = gr + b * GH, *hb = hs + b * H, *gh = g + 2 * H;
        if (!lbr) {
          const T *xi = xw + rnn_xrow(s, t, b) * GH;
          for (int64_t j = 0; j < H; j++) gh[j] = xi[2 * H + j] + hh[b * H + j];
        }
        SFX(rnn_activate)(&act[1], clip, gh, H);
        for (int64_t j = 0; j < H; j++) hb[j] = (1 - g[j]) * gh[j] + g[j] * hb[j];
      }
    }
    if (y)
      for (int64_t b = 0; b < batch; b++) {
        const int64_t L = s->lens[b];
        if (step >= L) continue;
        const int64_t t = reverse ? L - 1 - step : step;
        memcpy(y + rnn_yoff(s, t, dir, b), hs + b * H, sizeof(T) * (size_t)H);
      }
  }
  for (int64_t b = 0; b < batch; b++) {
    /* an empty sequence has zero final states (as ONNX Runtime) */
    if (s->lens[b] == 0) {
      if (yh) memset(yh + rnn_soff(s, dir, b), 0, sizeof(T) * (size_t)H);
      if (yc) memset(yc + rnn_soff(s, dir, b), 0, sizeof(T) * (size_t)H);
      continue;
    }
    if (yh) memcpy(yh + rnn_soff(s, dir, b), hs + b * H, sizeof(T) * (size_t)H);
    if (yc) memcpy(yc + rnn_soff(s, dir, b), cs + b * H, sizeof(T) * (size_t)H);
  }
}

#undef T
#undef SFX
#endif /* SN_RNN_T */
