/* INT8 quantization: selects Conv/MatMul/Gemm nodes with constant weights, quantizes the weights
 * (symmetric int8, per output channel or per tensor) and rewrites the graph either into dynamic
 * integer ops (DynamicQuantizeLinear -> MatMulInteger/ConvInteger -> Cast -> Mul [-> Add]) or into
 * QDQ form with activation ranges calibrated by running the float model on .npy data. */
#include "quant/quant.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "onnx/onnx.h"
#include "onnx/writer.h"
#include "passes/rewrite.h"
#include "runtime/session.h"

#define HIST_BINS 4096
#define ENT_BINS 2048 /* |x| histogram of entropy calibration */

/* ---- small graph-building helpers ---------------------------------------------------------------- */

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

static sn_error *add_node(sn_graph *g, const char *op, const char *base, const char *suffix, int n_in, const int *in,
                          int n_out, const int *out, int *index) {
  int idx;
  sn_error *e = sn_graph_add_node(g, &idx);
  if (e) return e;
  sn_node *n = &g->nodes[idx];
  char name[512];
  snprintf(name, sizeof name, "%s%s", base, suffix);
  n->name = sn_strdup(name);
  n->op_type = sn_strdup(op);
  n->domain = sn_strdup("");
  n->in = sn_malloc(sizeof(int) * (size_t)(n_in ? n_in : 1));
  n->out = sn_malloc(sizeof(int) * (size_t)(n_out ? n_out : 1));
  if (!n->name || !n->op_type || !n->domain || !n->in || !n->out) return SN_ERR_OOM();
  n->n_in = n_in;
  n->n_out = n_out;
  memcpy(n->in, in, sizeof(int) * (size_t)n_in);
  memcpy(n->out, out, sizeof(int) * (size_t)n_out);
  n->opset = (int)sn_model_opset(g->model, "");
  if (index) *index = idx;
  return NULL;
}

/* An initializer of dtype dt holding a copy of `data`. */
static sn_error *add_const(sn_graph *g, const char *base, const char *suffix, sn_dtype dt, int rank, const int64_t *dims,
                           const void *data, int *id) {
  sn_tensor *t;
  sn_error *e = sn_tensor_new(dt, rank, dims, &t);
  if (e) return e;
  if (t->nbytes) memcpy(t->data, data, t->nbytes);
  return sn_graph_add_initializer(g, base, suffix, t, id);
}

static const float *const_f32(const sn_graph *g, int v, const sn_tensor **t) {
  if (v < 0) return NULL;
  /* inside a subgraph, a weight read from the enclosing graph (its initializer, captured) */
  while (g->parent && g->values[v].role == SN_VAL_CAPTURE && g->values[v].outer >= 0) {
    v = g->values[v].outer;
    g = g->parent;
  }
  /* behind Identity nodes (torch exports a repeated weight or bias that way: EfficientNet's
   * squeeze-excitation biases) */
  for (int hop = 0; hop < 4; hop++) {
    int p = g->values[v].producer;
    if (p < 0 || !sn_node_is(&g->nodes[p], "Identity") || g->nodes[p].n_in < 1 || g->nodes[p].in[0] < 0) break;
    v = g->nodes[p].in[0];
  }
  const sn_tensor *c = sn_graph_const(g, v);
  if (!c || c->kind != SN_KIND_TENSOR || c->dtype != SINTER_FLOAT) return NULL;
  if (t) *t = c;
  return (const float *)c->data;
}

/* ---- weights ------------------------------------------------------------------------------------ */

typedef struct qweight {
  int8_t *q;      /* quantized, in the layout asked for */
  float *scale;   /* n_ch entries (1 when per tensor) */
  int n_ch;
  double rel_err; /* relative RMS error of the dequantized weight */
} qweight;

static void qweight_free(qweight *w) {
  sn_free(w->q);
  sn_free(w->scale);
}

/* Quantize W (rows x cols view of a tensor, channel = row when ch_rows else column) symmetrically;
 * when transpose, q is stored as cols x rows. */
static sn_error *quant_weight(const float *w, int64_t rows, int64_t cols, bool ch_rows, bool per_tensor, bool transpose,
                              qweight *out) {
  memset(out, 0, sizeof *out);
  int64_t n = rows * cols;
  int n_ch = per_tensor ? 1 : (int)(ch_rows ? rows : cols);
  out->q = sn_malloc((size_t)(n ? n : 1));
  out->scale = sn_malloc(sizeof(float) * (size_t)n_ch);
  if (!out->q || !out->scale) {
    qweight_free(out);
    return SN_ERR_OOM();
  }
  out->n_ch = n_ch;
  for (int c = 0; c < n_ch; c++) out->scale[c] = 0.f;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t k = 0; k < cols; k++) {
      int c = per_tensor ? 0 : (int)(ch_rows ? r : k);
      float a = fabsf(w[r * cols + k]);
      if (a > out->scale[c]) out->scale[c] = a;
    }
  for (int c = 0; c < n_ch; c++) out->scale[c] = out->scale[c] > 0.f ? out->scale[c] / 127.f : 1.f;
  double num = 0, den = 0;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t k = 0; k < cols; k++) {
      int c = per_tensor ? 0 : (int)(ch_rows ? r : k);
      float x = w[r * cols + k], s = out->scale[c];
      float q = nearbyintf(x / s);
      if (q > 127.f) q = 127.f;
      if (q < -127.f) q = -127.f;
      int64_t at = transpose ? k * rows + r : r * cols + k;
      out->q[at] = (int8_t)q;
      double d = (double)x - (double)q * s;
      num += d * d;
      den += (double)x * x;
    }
  out->rel_err = den > 0 ? sqrt(num / den) : 0.0;
  return NULL;
}

static void report_scales(FILE *f, const char *name, const char *kind, const float *s, int n, int zp, double err) {
  if (!f) return;
  float lo = s[0], hi = s[0];
  for (int i = 1; i < n; i++) {
    if (s[i] < lo) lo = s[i];
    if (s[i] > hi) hi = s[i];
  }
  char sc[96];
  if (n == 1)
    snprintf(sc, sizeof sc, "%.6g", lo);
  else
    snprintf(sc, sizeof sc, "%.4g..%.4g (%d ch)", lo, hi, n);
  fprintf(f, "%-40s %-16s %-28s %5d %12.6f\n", name, kind, sc, zp, err);
}

/* ---- selection ---------------------------------------------------------------------------------- */

enum { K_MATMUL = 1, K_GEMM = 2, K_CONV = 3 };

static int quant_kind(const sn_graph *g, const sn_node *n) {
  if (!n->op_type || (n->domain && *n->domain)) return 0;
  const sn_tensor *w = NULL;
  if (!strcmp(n->op_type, "MatMul") && n->n_in == 2) {
    if (const_f32(g, n->in[1], &w) && w->rank == 2) return K_MATMUL;
  } else if (!strcmp(n->op_type, "Gemm") && n->n_in >= 2) {
    if (sn_attr_int(n, "transA", 0) != 0) return 0;
    if (!const_f32(g, n->in[1], &w) || w->rank != 2) return 0;
    if (n->n_in >= 3 && n->in[2] >= 0 && !const_f32(g, n->in[2], NULL)) return 0;
    return K_GEMM;
  } else if (!strcmp(n->op_type, "Conv") && n->n_in >= 2) {
    if (!const_f32(g, n->in[1], &w) || w->rank < 3) return 0;
    if (n->n_in >= 3 && n->in[2] >= 0) {
      const sn_tensor *b;
      if (!const_f32(g, n->in[2], &b) || b->count != w->dims[0]) return 0;
    }
    return K_CONV;
  }
  return 0;
}

static bool excluded(const char *list, const char *name) {
  if (!list || !name) return false;
  size_t len = strlen(name);
  for (const char *p = list; *p;) {
    const char *c = strchr(p, ',');
    size_t l = c ? (size_t)(c - p) : strlen(p);
    if (l == len && !strncmp(p, name, l)) return true;
    if (!c) break;
    p = c + 1;
  }
  return false;
}

/* ---- dynamic rewrite ---------------------------------------------------------------------------- */

static sn_error *rewrite_dynamic(sn_graph *g, int ni, int kind, const sn_quant_opts *o, FILE *rep) {
  sn_node nd = g->nodes[ni]; /* copy of the header: the array may move as nodes are added */
  const char *base = nd.name && *nd.name ? nd.name : g->values[nd.out[0]].name;
  char bname[256];
  snprintf(bname, sizeof bname, "%s", base);
  const sn_tensor *wt = NULL;
  const float *w = const_f32(g, nd.in[1], &wt);
  int x = nd.in[0], y = nd.out[0];
  int64_t M = wt->dims[0], K = wt->rank == 2 ? wt->dims[1] : wt->count / wt->dims[0];
  bool transB = kind == K_GEMM && sn_attr_int(&nd, "transB", 0) != 0;
  float alpha = kind == K_GEMM ? sn_attr_float(&nd, "alpha", 1.f) : 1.f;
  float beta = kind == K_GEMM ? sn_attr_float(&nd, "beta", 1.f) : 1.f;
  qweight qw;
  sn_error *e;
  /* MatMul/Gemm weights become [K,N] with channels = columns; Conv keeps its layout (channel = row) */
  if (kind == K_CONV)
    e = quant_weight(w, M, K, true, o->per_tensor, false, &qw);
  else if (transB) /* [N,K] -> [K,N] */
    e = quant_weight(w, M, K, true, o->per_tensor, true, &qw);
  else
    e = quant_weight(w, M, K, false, o->per_tensor, false, &qw);
  if (e) return e;
  int64_t N = kind == K_CONV ? M : (transB ? M : K);
  int wq, ws, xq, xs, xz, acc, accf, sc, prod;
  int64_t wdims[SN_MAX_RANK];
  memcpy(wdims, wt->dims, sizeof(int64_t) * (size_t)wt->rank);
  if (transB) {
    wdims[0] = K;
    wdims[1] = M;
  }
  for (int c = 0; c < qw.n_ch; c++) qw.scale[c] *= alpha;
  const char *wname = g->values[nd.in[1]].name;
  report_scales(rep, wname, o->per_tensor ? "weight int8" : "weight int8/ch", qw.scale, qw.n_ch, 0, qw.rel_err);
  int64_t sdims[SN_MAX_RANK];
  int srank = 1;
  sdims[0] = qw.n_ch;
  if (kind == K_CONV && qw.n_ch > 1) {
    srank = wt->rank;
    sdims[0] = 1;
    sdims[1] = qw.n_ch;
    for (int d = 2; d < srank; d++) sdims[d] = 1;
  } else if (qw.n_ch == 1) {
    srank = 0;
  }
  if ((e = add_const(g, wname, "_quantized", SINTER_INT8, wt->rank, wdims, qw.q, &wq))) goto done;
  if ((e = add_const(g, wname, "_scale", SINTER_FLOAT, srank, sdims, qw.scale, &ws))) goto done;
  const char *xn = g->values[x].name;
  if ((e = new_value(g, xn, "_quantized", &xq)) || (e = new_value(g, xn, "_scale", &xs)) ||
      (e = new_value(g, xn, "_zero_point", &xz)) || (e = new_value(g, bname, "_output_int32", &acc)) ||
      (e = new_value(g, bname, "_output_float", &accf)) || (e = new_value(g, bname, "_scale", &sc)))
    goto done;
  int dq_out[3] = {xq, xs, xz};
  if ((e = add_node(g, "DynamicQuantizeLinear", bname, "_DynamicQuantizeLinear", 1, &x, 3, dq_out, NULL))) goto done;
  int mi_in[3] = {xq, wq, xz}, idx;
  if (kind == K_CONV) {
    if ((e = add_node(g, "ConvInteger", bname, "_ConvInteger", 3, mi_in, 1, &acc, &idx))) goto done;
    const sn_node *src = &g->nodes[ni];
    sn_node *dst = &g->nodes[idx];
    dst->attrs = sn_calloc((size_t)(src->n_attrs ? src->n_attrs : 1), sizeof(sn_attr));
    if (!dst->attrs) {
      e = SN_ERR_OOM();
      goto done;
    }
    for (int a = 0; a < src->n_attrs; a++) {
      if ((e = sn_attr_copy(g->model, &src->attrs[a], &dst->attrs[dst->n_attrs]))) goto done;
      dst->n_attrs++;
    }
  } else if ((e = add_node(g, "MatMulInteger", bname, "_MatMulInteger", 3, mi_in, 1, &acc, NULL))) {
    goto done;
  }
  if ((e = add_node(g, "Cast", bname, "_cast", 1, &acc, 1, &accf, &idx))) goto done;
  if ((e = sn_node_set_int(&g->nodes[idx], "to", SINTER_FLOAT))) goto done;
  int sc_in[2] = {xs, ws};
  if ((e = add_node(g, "Mul", bname, "_scales_mul", 2, sc_in, 1, &sc, NULL))) goto done;
  int bias = nd.n_in >= 3 ? nd.in[2] : -1;
  if (bias >= 0) {
    if ((e = new_value(g, bname, "_output_scaled", &prod))) goto done;
  } else {
    prod = y;
  }
  int mul_in[2] = {accf, sc};
  if ((e = add_node(g, "Mul", bname, "_output_scale_mul", 2, mul_in, 1, &prod, NULL))) goto done;
  if (bias >= 0) {
    int bv = bias;
    const sn_tensor *bt = NULL;
    const float *b = const_f32(g, bias, &bt);
    if (kind == K_CONV) { /* [M] -> [1,M,1,1] */
      int64_t bd[SN_MAX_RANK];
      bd[0] = 1;
      bd[1] = N;
      for (int d = 2; d < wt->rank; d++) bd[d] = 1;
      if ((e = add_const(g, g->values[bias].name, "_reshaped", SINTER_FLOAT, wt->rank, bd, b, &bv))) goto done;
    } else if (beta != 1.f) {
      float *tmp = sn_malloc(sizeof(float) * (size_t)(bt->count ? bt->count : 1));
      if (!tmp) {
        e = SN_ERR_OOM();
        goto done;
      }
      for (int64_t i = 0; i < bt->count; i++) tmp[i] = beta * b[i];
      e = add_const(g, g->values[bias].name, "_beta", SINTER_FLOAT, bt->rank, bt->dims, tmp, &bv);
      sn_free(tmp);
      if (e) goto done;
    }
    int add_in[2] = {prod, bv};
    if ((e = add_node(g, "Add", bname, "_bias_add", 2, add_in, 1, &y, NULL))) goto done;
  }
  sn_node_clear(&g->nodes[ni]);
done:
  qweight_free(&qw);
  return e;
}

/* ---- calibration -------------------------------------------------------------------------------- */

typedef struct act_stat {
  char *name;
  float mn, mx;     /* observed range */
  float lo, hi;     /* chosen range */
  float scale;
  int zp;
  uint64_t *hist;   /* percentile: x over [mn, mx]; entropy: |x| over [0, max |x|] */
  bool entropy;
  uint64_t count;
  double num, den;  /* error accumulators */
} act_stat;

typedef struct calib {
  const sn_quant_opts *o;
  const char *path; /* the float model calibration runs */
  int64_t n_samples;
} calib;

static void qparams(act_stat *a, bool int8) {
  float lo = a->lo < 0.f ? a->lo : 0.f, hi = a->hi > 0.f ? a->hi : 0.f;
  if (int8) {
    float m = fmaxf(-lo, hi);
    a->scale = m > 0.f ? m / 127.f : 1.f;
    a->zp = 0;
  } else {
    a->scale = hi > lo ? (hi - lo) / 255.f : 1.f;
    float z = nearbyintf(-lo / a->scale);
    a->zp = z < 0.f ? 0 : z > 255.f ? 255 : (int)z;
  }
}

static float fake_quant(float x, float s, int zp, bool int8) {
  float q = nearbyintf(x / s) + (float)zp;
  float qmin = int8 ? -128.f : 0.f, qmax = int8 ? 127.f : 255.f;
  if (q < qmin) q = qmin;
  if (q > qmax) q = qmax;
  return (q - (float)zp) * s;
}

static void observe(act_stat *a, const float *x, int64_t n, int pass, bool int8) {
  if (pass == 0) {
    for (int64_t i = 0; i < n; i++) {
      if (!isfinite(x[i])) continue;
      if (x[i] < a->mn) a->mn = x[i];
      if (x[i] > a->mx) a->mx = x[i];
    }
  } else if (pass == 1 && a->entropy) {
    float amax = fmaxf(fabsf(a->mn), fabsf(a->mx));
    float w = amax > 0.f ? amax / ENT_BINS : 1.f;
    for (int64_t i = 0; i < n; i++) {
      if (!isfinite(x[i])) continue;
      int b = (int)(fabsf(x[i]) / w);
      b = b >= ENT_BINS ? ENT_BINS - 1 : b;
      a->hist[b]++;
      a->count++;
    }
  } else if (pass == 1) {
    float w = a->mx > a->mn ? (a->mx - a->mn) / HIST_BINS : 1.f;
    for (int64_t i = 0; i < n; i++) {
      if (!isfinite(x[i])) continue;
      int b = (int)((x[i] - a->mn) / w);
      b = b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b;
      a->hist[b]++;
      a->count++;
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      double d = (double)x[i] - fake_quant(x[i], a->scale, a->zp, int8);
      a->num += d * d;
      a->den += (double)x[i] * x[i];
    }
  }
}

static sn_error *calib_load(calib *c, sn_model *probe) {
  const sn_quant_opts *o = c->o;
  sn_graph *g = probe->graph;
  c->n_samples = -1;
  for (int i = 0; i < g->n_inputs; i++) {
    const char *name = g->values[g->inputs[i]].name;
    int k = 0;
    while (k < o->n_calib && strcmp(o->calib_names[k], name)) k++;
    if (k == o->n_calib)
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "no calibration data for model input '%s'", name);
    const sn_tensor *t = o->calib_data[k];
    if (t->rank < 1)
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "calibration data for '%s' needs a leading sample axis", name);
    if (c->n_samples >= 0 && t->dims[0] != c->n_samples)
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "calibration data for '%s' has %lld samples, another input %lld",
                       name, (long long)t->dims[0], (long long)c->n_samples);
    c->n_samples = t->dims[0];
  }
  if (c->n_samples <= 0) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "no calibration samples");
  return NULL;
}

/* One pass over the calibration data: run the float model with every recorded activation as an
 * output and feed the values to observe(). */
static sn_error *calib_pass(calib *c, act_stat *st, int n_st, int pass) {
  const sn_quant_opts *o = c->o;
  sn_model *m = NULL;
  sn_error *e = sn_onnx_load_file(c->path, &m);
  if (e) return e;
  sn_graph *g = m->graph;
  /* graph inputs are observed from the feeds; everything else becomes an extra graph output */
  for (int k = 0; k < n_st; k++) {
    int v = sn_graph_find(g, st[k].name);
    if (v < 0 || g->values[v].role != SN_VAL_INTERMEDIATE || g->values[v].is_output) continue;
    int *outs = sn_realloc(g->outputs, sizeof(int) * (size_t)(g->n_outputs + 1));
    if (!outs) {
      sn_model_free(m);
      return SN_ERR_OOM();
    }
    g->outputs = outs;
    g->outputs[g->n_outputs++] = v;
    g->values[v].is_output = true;
  }
  sn_session *s = NULL;
  struct sinter_options so = {0, 0, 3, 0}; /* calibration in float32 whatever SINTER_PRECISION says */
  if ((e = sn_session_create_model(m, &so, &s))) return e;
  int *in_ids = sn_malloc(sizeof(int) * (size_t)(o->n_calib + 1));
  int *out_ids = sn_malloc(sizeof(int) * (size_t)(n_st + 1));
  int *st_feed = sn_malloc(sizeof(int) * (size_t)(n_st + 1));
  sn_tensor **views = sn_calloc((size_t)(o->n_calib + 1), sizeof(sn_tensor *));
  sn_tensor **outs = sn_calloc((size_t)(n_st + 1), sizeof(sn_tensor *));
  int n_out = 0;
  if (!in_ids || !out_ids || !st_feed || !views || !outs) {
    e = SN_ERR_OOM();
    goto done;
  }
  for (int i = 0; i < o->n_calib; i++) {
    in_ids[i] = sn_graph_find(s->g, o->calib_names[i]);
    if (in_ids[i] < 0) {
      e = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "calibration data names '%s', which the model does not have",
                    o->calib_names[i]);
      goto done;
    }
  }
  for (int k = 0; k < n_st; k++) {
    st_feed[k] = -1;
    for (int i = 0; i < o->n_calib; i++)
      if (!strcmp(o->calib_names[i], st[k].name)) st_feed[k] = i;
    if (st_feed[k] < 0) {
      int v = sn_graph_find(s->g, st[k].name);
      if (v < 0) {
        e = sn_errorf(SINTER_ERR_RUNTIME, "calibration: value '%s' vanished", st[k].name);
        goto done;
      }
      out_ids[n_out++] = v;
    }
  }
  int64_t bs = o->batch > 0 ? o->batch : 32;
  /* a model with a fixed leading dimension is fed chunks of exactly that many samples (a trailing
   * partial chunk is left out) */
  bool fixed = false;
  if (o->n_calib > 0) {
    const sn_type *t = &s->g->values[in_ids[0]].type;
    if (t->rank >= 1 && t->dims[0].v > 0) {
      bs = t->dims[0].v;
      fixed = true;
    }
  }
  for (int64_t s0 = 0; s0 < c->n_samples && !e; s0 += bs) {
    int64_t nb = c->n_samples - s0 < bs ? c->n_samples - s0 : bs;
    if (fixed && nb < bs) {
      if (s0 == 0)
        e = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "calibration: the model takes batches of %lld, the data has %lld samples",
                      (long long)bs, (long long)c->n_samples);
      break;
    }
    for (int i = 0; i < o->n_calib; i++) {
      const sn_tensor *a = o->calib_data[i];
      int64_t dims[SN_MAX_RANK];
      memcpy(dims, a->dims, sizeof(int64_t) * (size_t)a->rank);
      dims[0] = nb;
      size_t row = a->dims[0] ? a->nbytes / (size_t)a->dims[0] : 0;
      sn_tensor_free(views[i]);
      views[i] = NULL;
      if ((e = sn_tensor_new_view(a->dtype, a->rank, dims, (uint8_t *)a->data + row * (size_t)s0, &views[i]))) goto done;
    }
    if ((e = sn_session_run(s, o->n_calib, in_ids, (const sn_tensor *const *)views, n_out, out_ids, outs))) goto done;
    int j = 0;
    for (int k = 0; k < n_st; k++) {
      const sn_tensor *t = st_feed[k] >= 0 ? views[st_feed[k]] : outs[j++];
      if (t && t->kind == SN_KIND_TENSOR && t->dtype == SINTER_FLOAT)
        observe(&st[k], (const float *)t->data, t->count, pass, o->act_int8);
    }
    for (int k = 0; k < n_out; k++) {
      sn_tensor_free(outs[k]);
      outs[k] = NULL;
    }
  }
done:
  if (views)
    for (int i = 0; i < o->n_calib; i++) sn_tensor_free(views[i]);
  if (outs)
    for (int k = 0; k < n_out; k++) sn_tensor_free(outs[k]);
  sn_free(views);
  sn_free(outs);
  sn_free(in_ids);
  sn_free(out_ids);
  sn_free(st_feed);
  sinter_session_free(s);
  return e;
}

static void choose_range(act_stat *a, const sn_quant_opts *o) {
  a->lo = a->mn <= a->mx ? a->mn : 0.f;
  a->hi = a->mn <= a->mx ? a->mx : 0.f;
  if (o->method == SN_CALIB_PERCENTILE && a->count > 0 && a->mx > a->mn) {
    double p = o->percentile / 100.0;
    float w = (a->mx - a->mn) / HIST_BINS;
    uint64_t lo_n = (uint64_t)((1.0 - p) * (double)a->count), hi_n = (uint64_t)(p * (double)a->count);
    uint64_t cum = 0;
    int blo = 0, bhi = HIST_BINS - 1;
    for (int b = 0; b < HIST_BINS; b++) {
      cum += a->hist[b];
      if (cum > lo_n) {
        blo = b;
        break;
      }
    }
    cum = 0;
    for (int b = 0; b < HIST_BINS; b++) {
      cum += a->hist[b];
      if (cum >= hi_n) {
        bhi = b;
        break;
      }
    }
    a->lo = a->mn + w * (float)blo;
    a->hi = a->mn + w * (float)(bhi + 1);
    if (a->hi > a->mx) a->hi = a->mx;
  } else if (o->method == SN_CALIB_ENTROPY && a->count > 0 && a->mx > a->mn) {
    /* symmetric threshold T on |x|: 128 levels on each side, or 256 for non-negative data into
     * uint8 (after Relu) */
    int levels = !o->act_int8 && a->mn >= 0.f ? 256 : 128;
    double amax = fmax(fabs((double)a->mn), fabs((double)a->mx));
    float t = (float)sn_quant_entropy_threshold(a->hist, ENT_BINS, amax, levels);
    if (a->lo < -t) a->lo = -t;
    if (a->hi > t) a->hi = t;
  }
  qparams(a, o->act_int8);
}

/* ---- static (QDQ) rewrite ----------------------------------------------------------------------- */

static sn_error *qdq_weight(sn_graph *g, int ni, int kind, const sn_quant_opts *o, FILE *rep) {
  sn_node *n = &g->nodes[ni];
  const sn_tensor *wt = NULL;
  const float *w = const_f32(g, n->in[1], &wt);
  int64_t M = wt->dims[0], K = wt->count / (M ? M : 1);
  bool ch_rows = kind == K_CONV || (kind == K_GEMM && sn_attr_int(n, "transB", 0) != 0);
  qweight qw;
  sn_error *e = quant_weight(w, M, K, ch_rows, o->per_tensor, false, &qw);
  if (e) return e;
  char wname[512];
  snprintf(wname, sizeof wname, "%s", g->values[n->in[1]].name);
  report_scales(rep, wname, o->per_tensor ? "weight int8" : "weight int8/ch", qw.scale, qw.n_ch, 0, qw.rel_err);
  int wq, ws, wz, wd, idx;
  int64_t nch = qw.n_ch;
  int8_t *zeros = sn_calloc((size_t)nch, 1);
  if (!zeros) {
    qweight_free(&qw);
    return SN_ERR_OOM();
  }
  int srank = o->per_tensor ? 0 : 1;
  if (!(e = add_const(g, wname, "_quantized", SINTER_INT8, wt->rank, wt->dims, qw.q, &wq)) &&
      !(e = add_const(g, wname, "_scale", SINTER_FLOAT, srank, &nch, qw.scale, &ws)) &&
      !(e = add_const(g, wname, "_zero_point", SINTER_INT8, srank, &nch, zeros, &wz)) &&
      !(e = new_value(g, wname, "_dequantized", &wd))) {
    int in[3] = {wq, ws, wz};
    if (!(e = add_node(g, "DequantizeLinear", wname, "_DequantizeLinear", 3, in, 1, &wd, &idx))) {
      if (!o->per_tensor) e = sn_node_set_int(&g->nodes[idx], "axis", ch_rows ? 0 : 1);
      if (!e) g->nodes[ni].in[1] = wd;
    }
  }
  sn_free(zeros);
  qweight_free(&qw);
  return e;
}

/* Q -> DQ of activation a; the Q reads src (a's own tensor when -1) */
static sn_error *qdq_act(sn_graph *g, const act_stat *a, bool int8, int src, int *dq_out) {
  int v = src >= 0 ? src : sn_graph_find(g, a->name), s, z, q, d;
  uint8_t zb = (uint8_t)(int8 ? (uint8_t)(int8_t)a->zp : (uint8_t)a->zp);
  sn_error *e;
  if ((e = add_const(g, a->name, "_scale", SINTER_FLOAT, 0, NULL, &a->scale, &s)) ||
      (e = add_const(g, a->name, "_zero_point", int8 ? SINTER_INT8 : SINTER_UINT8, 0, NULL, &zb, &z)) ||
      (e = new_value(g, a->name, "_QuantizeLinear_Output", &q)) ||
      (e = new_value(g, a->name, "_DequantizeLinear_Output", &d)))
    return e;
  int qin[3] = {v, s, z}, din[3] = {q, s, z};
  if ((e = add_node(g, "QuantizeLinear", a->name, "_QuantizeLinear", 3, qin, 1, &q, NULL)) ||
      (e = add_node(g, "DequantizeLinear", a->name, "_DequantizeLinear", 3, din, 1, &d, NULL)))
    return e;
  *dq_out = d;
  return NULL;
}

/* ---- activation sites (static) ------------------------------------------------------------------ */

/* The tensors that get a QuantizeLinear -> DequantizeLinear pair: the activation inputs of the
 * quantized Conv/MatMul/Gemm nodes, and around the ops that then run on 8-bit maps as ONNX Runtime's
 * quantizer writes them (ops/qlinear*.c, passes/qdq.c):
 *   a residual Add of two activations, one of them from a quantized Conv: both inputs and its output,
 *     so that fuse-qdq puts the Add into the Conv's epilogue (where the shapes match; QLinearAdd
 *     broadcasts otherwise). Where only a Relu reads the Add and the
 *     output is uint8 with zero point 0, the Relu goes (quantizing clamps at 0 the same way), as ONNX
 *     Runtime's quantizer does; with int8 activations (symmetric: negative codes) such an Add stays
 *     float;
 *   a MaxPool whose output only such nodes read: its input, with the output's scale and zero
 *     point, so that it runs on the 8-bit map;
 *   a Sigmoid, and a Mul of two activations, fed by such nodes (EfficientNet's SiLU x * sigmoid(x)
 *     and squeeze-excitation scaling): their inputs, and their output where 8-bit nodes read it, so
 *     that they run as a 256-entry lookup (QLinearLookup) and QLinearMul. */
/* how a site's pair is wired, beside its statistics (act_stat, one array for calibration) */
typedef struct site {
  int q_src; /* what the QuantizeLinear reads: the tensor itself (-1) or the input of a Relu dropped */
  int relu;  /* that Relu node, or -1 */
  int tie;   /* site whose scale and zero point this one takes (a MaxPool's input: its output's), -1 */
  bool all;  /* every reader takes the dequantized value (a Mul's or Sigmoid's output), not only 8-bit ones */
} site;

typedef struct sites {
  act_stat *st;
  site *w;
  int n, cap;
} sites;

static sn_error *site_add(sites *s, const char *name, const sn_quant_opts *o, int *at) {
  for (int k = 0; k < s->n; k++)
    if (!strcmp(s->st[k].name, name)) {
      if (at) *at = k;
      return NULL;
    }
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    act_stat *st = sn_realloc(s->st, sizeof(act_stat) * (size_t)cap);
    if (!st) return SN_ERR_OOM();
    s->st = st;
    site *w = sn_realloc(s->w, sizeof(site) * (size_t)cap);
    if (!w) return SN_ERR_OOM();
    s->w = w;
    s->cap = cap;
  }
  act_stat *t = &s->st[s->n];
  memset(t, 0, sizeof *t);
  s->w[s->n] = (site){-1, -1, -1, false};
  t->name = sn_strdup(name);
  t->mn = FLT_MAX;
  t->mx = -FLT_MAX;
  t->entropy = o->method == SN_CALIB_ENTROPY;
  if (!t->name) return SN_ERR_OOM();
  if (o->method != SN_CALIB_MINMAX && !(t->hist = sn_calloc(HIST_BINS, sizeof(uint64_t)))) {
    sn_free(t->name);
    return SN_ERR_OOM();
  }
  if (at) *at = s->n;
  s->n++;
  return NULL;
}

/* a tensor some node computes (not a constant), float where the model declares its type (the
 * quantizer sees the model as written: intermediate values often carry no type) */
static bool activation(const sn_graph *g, int v) {
  sn_dtype dt = v >= 0 ? g->values[v].type.dtype : SINTER_FLOAT;
  return v >= 0 && g->values[v].producer >= 0 && !sn_graph_const(g, v) && (dt == SINTER_FLOAT || dt == 0);
}

/* v comes from a quantized node or one on 8-bit maps, directly or through the Relu / Clip that the
 * QDQ fusion folds into it */
static bool from_8bit(const sn_graph *g, int v, const bool *quantized, const bool *eight) {
  for (int hop = 0; hop < 2 && v >= 0; hop++) {
    int p = g->values[v].producer;
    if (p < 0) return false;
    if (quantized[p] || eight[p]) return true;
    const sn_node *n = &g->nodes[p];
    if ((!sn_node_is(n, "Relu") && !sn_node_is(n, "Clip")) || n->n_in < 1) return false;
    v = n->in[0];
  }
  return false;
}

/* whether v is read, and only by nodes on 8-bit maps (ResNet's first MaxPool feeds two Convs, or a
 * Conv and the residual Add) */
static bool all_read_8bit(const sn_graph *g, int v, const bool *quantized, const bool *eight) {
  if (g->values[v].is_output) return false;
  bool any = false;
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_in; k++)
      if (g->nodes[i].in[k] == v) {
        if (!quantized[i] && !eight[i]) return false;
        any = true;
      }
  return any;
}

/* whether a node reading v runs on the 8-bit map (a quantized node, or one of the ops below) */
static bool read_8bit(const sn_graph *g, int v, const bool *quantized, const bool *eight) {
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_in; k++)
      if (g->nodes[i].in[k] == v && (quantized[i] || eight[i])) return true;
  return false;
}

/* The Add, MaxPool, Mul and Sigmoid sites (see above) among nodes not excluded; quantized[i]: node i
 * is a selected Conv/MatMul/Gemm in the quantized range; eight[i] is set for the nodes that get them
 * (their activation inputs then read the dequantized values); uses: sn_graph_use_counts. */
static sn_error *extra_sites(sn_graph *g, const bool *quantized, bool *eight, const int *uses, const sn_quant_opts *o,
                             FILE *rep, sites *s) {
  for (int i = 0; i < g->n_nodes; i++) { /* which */
    const sn_node *nd = &g->nodes[i];
    if (!nd->op_type || (nd->domain && *nd->domain) || nd->n_out < 1 || nd->out[0] < 0) continue;
    if (excluded(o->exclude, nd->name) || excluded(o->exclude_ops, nd->op_type)) continue;
    if (sn_node_is(nd, "Add")) {
      if (nd->n_in != 2 || !activation(g, nd->in[0]) || !activation(g, nd->in[1])) continue;
      int p0 = g->values[nd->in[0]].producer, p1 = g->values[nd->in[1]].producer;
      /* one input from a quantized Conv (a transformer's residual stream stays float) */
      if (!(quantized[p0] && sn_node_is(&g->nodes[p0], "Conv")) && !(quantized[p1] && sn_node_is(&g->nodes[p1], "Conv")))
        continue;
      int relu = sn_graph_sole_consumer(g, uses, nd->out[0]);
      if (relu >= 0 && sn_node_is(&g->nodes[relu], "Relu") && o->act_int8) continue;
      eight[i] = true;
    } else if (sn_node_is(nd, "Mul")) { /* SiLU's x * sigmoid(x), a squeeze-excitation's scaling */
      if (nd->n_in == 2 && activation(g, nd->in[0]) && activation(g, nd->in[1]) &&
          from_8bit(g, nd->in[0], quantized, eight) && from_8bit(g, nd->in[1], quantized, eight))
        eight[i] = true;
    } else if (sn_node_is(nd, "Sigmoid")) {
      if (nd->n_in == 1 && activation(g, nd->in[0]) && from_8bit(g, nd->in[0], quantized, eight)) eight[i] = true;
    }
  }
  for (int i = 0; i < g->n_nodes; i++) { /* (after the Adds, which may read their output) */
    const sn_node *nd = &g->nodes[i];
    if (!sn_node_is(nd, "MaxPool") || nd->n_out < 1 || nd->out[0] < 0) continue;
    if (excluded(o->exclude, nd->name) || excluded(o->exclude_ops, nd->op_type)) continue;
    if (nd->n_in != 1 || (nd->n_out > 1 && nd->out[1] >= 0) || !activation(g, nd->in[0])) continue;
    if (!all_read_8bit(g, nd->out[0], quantized, eight)) continue;
    eight[i] = true;
  }
  for (int i = 0; i < g->n_nodes; i++) { /* their sites */
    if (!eight[i]) continue;
    const sn_node *nd = &g->nodes[i];
    if (sn_node_is(nd, "Add")) {
      int out = nd->out[0], relu = sn_graph_sole_consumer(g, uses, out), k;
      if (relu >= 0 && !(sn_node_is(&g->nodes[relu], "Relu") && g->nodes[relu].n_out == 1 && g->nodes[relu].out[0] >= 0))
        relu = -1;
      SN_TRY(site_add(s, g->values[nd->in[0]].name, o, NULL));
      SN_TRY(site_add(s, g->values[nd->in[1]].name, o, NULL));
      int y = relu >= 0 ? g->nodes[relu].out[0] : out;
      if (read_8bit(g, y, quantized, eight)) { /* (else the sum stays float: nothing reads it as 8-bit) */
        SN_TRY(site_add(s, g->values[y].name, o, &k));
        if (relu >= 0) s->w[k].q_src = out, s->w[k].relu = relu;
      }
    } else if (!sn_node_is(nd, "MaxPool")) { /* Mul, Sigmoid: the inputs, and the output read as 8-bit */
      for (int k = 0; k < nd->n_in; k++) SN_TRY(site_add(s, g->values[nd->in[k]].name, o, NULL));
      int k;
      /* (every reader then takes the dequantized value, as in ONNX Runtime's QDQ models: a float
       * GlobalAveragePool beside the squeeze-excitation Mul would keep the SiLU from fusing) */
      if (read_8bit(g, nd->out[0], quantized, eight)) {
        SN_TRY(site_add(s, g->values[nd->out[0]].name, o, &k));
        s->w[k].all = true;
      }
    } else {
      int ki, ko;
      SN_TRY(site_add(s, g->values[nd->out[0]].name, o, &ko));
      SN_TRY(site_add(s, g->values[nd->in[0]].name, o, &ki));
      if (ki != ko) s->w[ki].tie = ko;
    }
    if (rep) fprintf(rep, "# 8-bit %s: %s\n", nd->op_type, nd->name ? nd->name : "");
  }
  return NULL;
}

/* ---- driver ------------------------------------------------------------------------------------- */

/* Constant nodes holding a tensor (`value`) become initializers, so weights that exporters such as
 * paddle2onnx emit as Constant nodes are seen as constant (and the quantized weights replace them). */
static void constants_to_initializers(sn_graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    sn_node *n = &g->nodes[i];
    if (!sn_node_is(n, "Constant") || n->n_out != 1 || n->out[0] < 0 || n->n_attrs != 1) continue;
    sn_attr *a = &n->attrs[0];
    if (strcmp(a->name, "value") || a->type != SN_ATTR_TENSOR || !a->t || a->t->kind != SN_KIND_TENSOR) continue;
    sn_value *v = &g->values[n->out[0]];
    if (v->is_output) continue;
    v->data = a->t;
    a->t = NULL;
    v->role = SN_VAL_INITIALIZER;
    sn_type_set_static(&v->type, v->data->dtype, v->data->rank, v->data->dims);
    sn_node_clear(n);
  }
  sn_graph_compact(g);
  sn_graph_update_producers(g);
}

static void drop_unused_initializers(sn_graph *g) {
  int *uses = sn_graph_use_counts(g);
  if (!uses) return;
  for (int v = 0; v < g->n_values; v++) {
    sn_value *val = &g->values[v];
    if (val->role == SN_VAL_INITIALIZER && uses[v] == 0 && !val->is_output) {
      sn_tensor_free(val->data);
      val->data = NULL;
      val->role = SN_VAL_INTERMEDIATE;
    }
  }
  sn_free(uses);
}

/* The quantization kind of node n (0: left alone), after the user's exclusions (by name and by op
 * type), which the report lists */
static int selected_kind(const sn_graph *g, const sn_node *n, const sn_quant_opts *o, FILE *rep) {
  int k = quant_kind(g, n);
  if (!k) return 0;
  if (excluded(o->exclude, n->name) || excluded(o->exclude_ops, n->op_type)) {
    if (rep) fprintf(rep, "# kept in float: %s (%s)\n", n->name ? n->name : "", n->op_type);
    return 0;
  }
  return k;
}

/* Dynamic quantization inside the bodies of If / Loop / Scan (Silero VAD keeps its whole network
 * in If branches): weights there are the body's own constants; the rewrite needs no calibration. */
static sn_error *dynamic_subgraphs(sn_graph *g, const sn_quant_opts *o, FILE *rep, int *n_quantized) {
  for (int i = 0; i < g->n_nodes; i++) {
    for (int a = 0; a < g->nodes[i].n_attrs; a++) {
      sn_attr *at = &g->nodes[i].attrs[a];
      int ng = at->type == SN_ATTR_GRAPH ? 1 : at->type == SN_ATTR_GRAPHS ? at->n : 0;
      for (int k = 0; k < ng; k++) {
        sn_graph *sg = at->type == SN_ATTR_GRAPH ? at->g : at->graphs[k];
        if (!sg) continue;
        constants_to_initializers(sg);
        int n0 = sg->n_nodes;
        for (int j = 0; j < n0; j++) {
          int kind = selected_kind(sg, &sg->nodes[j], o, rep);
          if (!kind) continue;
          SN_TRY(rewrite_dynamic(sg, j, kind, o, rep));
          (*n_quantized)++;
        }
        sn_graph_compact(sg);
        sn_graph_update_producers(sg);
        drop_unused_initializers(sg);
        SN_TRY(sn_graph_toposort(sg));
        SN_TRY(dynamic_subgraphs(sg, o, rep, n_quantized));
      }
    }
  }
  return NULL;
}

/* mark the values of `root` that nodes inside subgraph sg (and deeper) read through captures */
static void mark_captured(const sn_graph *sg, const sn_graph *root, bool *used) {
  for (int i = 0; i < sg->n_nodes; i++) {
    const sn_node *n = &sg->nodes[i];
    if (!n->op_type) continue;
    for (int k = 0; k < n->n_in; k++) {
      const sn_graph *g = sg;
      int v = n->in[k];
      while (v >= 0 && g != root && g->parent && g->values[v].role == SN_VAL_CAPTURE) {
        v = g->values[v].outer;
        g = g->parent;
      }
      if (v >= 0 && g == root) used[v] = true;
    }
    for (int a = 0; a < n->n_attrs; a++) {
      const sn_attr *at = &n->attrs[a];
      if (at->type == SN_ATTR_GRAPH && at->g) mark_captured(at->g, root, used);
      if (at->type == SN_ATTR_GRAPHS)
        for (int k = 0; k < at->n; k++)
          if (at->graphs[k]) mark_captured(at->graphs[k], root, used);
    }
  }
}

/* Initializers of the main graph that nothing reads any more, directly or from a subgraph (the
 * float weights that subgraph nodes read before they were quantized) leave the model. */
static sn_error *drop_uncaptured_initializers(sn_graph *g) {
  bool *used = sn_calloc((size_t)(g->n_values + 1), sizeof(bool));
  if (!used) return SN_ERR_OOM();
  mark_captured(g, g, used);
  for (int k = 0; k < g->n_outputs; k++) used[g->outputs[k]] = true;
  for (int v = 0; v < g->n_values; v++) {
    sn_value *val = &g->values[v];
    if (val->role == SN_VAL_INITIALIZER && !used[v] && !val->is_output) {
      sn_tensor_free(val->data);
      val->data = NULL;
      val->role = SN_VAL_INTERMEDIATE;
    }
  }
  sn_free(used);
  return NULL;
}

sn_error *sn_quantize(sn_model *m, const sn_quant_opts *o, FILE *rep, int *n_quantized) {
  *n_quantized = 0;
  sn_graph *g = m->graph;
  if (!g) return sn_errorf(SINTER_ERR_INVALID_MODEL, "model has no graph");
  if (rep) fprintf(rep, "%-40s %-16s %-28s %5s %12s\n", "tensor", "kind", "scale", "zp", "rel_rms_err");
  /* IR < 4: weights listed as inputs with initializers are initializers */
  int w = 0;
  for (int k = 0; k < g->n_inputs; k++) {
    sn_value *v = &g->values[g->inputs[k]];
    if (v->data)
      v->role = SN_VAL_INITIALIZER;
    else
      g->inputs[w++] = g->inputs[k];
  }
  g->n_inputs = w;
  constants_to_initializers(g);
  /* static per-axis QDQ needs opset-13 QuantizeLinear/DequantizeLinear (axis), dynamic needs
   * DynamicQuantizeLinear (11): models importing opset 10..12 are upgraded to 13 first. Static
   * --per-tensor only writes opset-10 QDQ, so those models keep their opset. */
  int64_t opset = sn_model_opset(m, "");
  bool upgraded = false;
  char tmp_path[4096] = "";
  int64_t need = o->mode == SN_QUANT_STATIC ? (o->per_tensor ? 10 : 13) : 11;
  if (opset < 0) return sn_errorf(SINTER_ERR_INVALID_MODEL, "the model imports no default-domain opset");
  if (opset < need) {
    int changed = 0;
    sn_error *ue = sn_quant_upgrade_opset13(m, o->model_path, &changed);
    if (ue) return ue;
    if (rep) fprintf(rep, "# upgraded from opset %lld to 13 (%d nodes rewritten)\n", (long long)opset, changed);
    upgraded = true;
  }
  /* select */
  int *sel = sn_malloc(sizeof(int) * (size_t)(g->n_nodes + 1)), *kinds = sn_malloc(sizeof(int) * (size_t)(g->n_nodes + 1));
  int n_sel = 0;
  if (!sel || !kinds) {
    sn_free(sel);
    sn_free(kinds);
    return SN_ERR_OOM();
  }
  for (int i = 0; i < g->n_nodes; i++) {
    int k = selected_kind(g, &g->nodes[i], o, rep);
    if (!k) continue;
    sel[n_sel] = i;
    kinds[n_sel++] = k;
  }
  int first = 0, last = n_sel;
  if (o->keep_first_last && n_sel > 0) {
    first = 1;
    last = n_sel - 1;
  }
  sn_error *e = NULL;
  act_stat *st = NULL; /* (ss.st once the sites are known) */
  int n_st = 0;
  sites ss = {0};
  bool *quantized = NULL, *eight = NULL;
  int *uses = NULL;
  calib c = {0};
  c.o = o;
  c.path = o->model_path;
  if (o->mode == SN_QUANT_DYNAMIC) {
    for (int j = first; j < last && !e; j++) {
      e = rewrite_dynamic(g, sel[j], kinds[j], o, rep);
      if (!e) (*n_quantized)++;
    }
  } else {
    if (o->n_calib <= 0 || !o->model_path) {
      e = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "static quantization needs calibration data");
      goto out;
    }
    /* the activations feeding the selected nodes, once each, then the extra sites */
    for (int j = first; j < last; j++)
      if ((e = site_add(&ss, g->values[g->nodes[sel[j]].in[0]].name, o, NULL))) goto out;
    quantized = sn_calloc((size_t)(g->n_nodes + 1), sizeof(bool));
    eight = sn_calloc((size_t)(g->n_nodes + 1), sizeof(bool));
    if (!quantized || !eight) {
      e = SN_ERR_OOM();
      goto out;
    }
    for (int j = first; j < last; j++) quantized[sel[j]] = true;
    if (!(uses = sn_graph_use_counts(g))) {
      e = SN_ERR_OOM();
      goto out;
    }
    if ((e = extra_sites(g, quantized, eight, uses, o, rep, &ss))) goto out;
    const int n_nodes0 = g->n_nodes;
    st = ss.st;
    n_st = ss.n;
    if ((e = calib_load(&c, m))) goto out;
    if (upgraded) {
      /* calibrate the upgraded float model (what gets quantized; it also runs where the original
       * does not, e.g. the deprecated Upsample in an opset-10 model), saved to a temporary file */
      const char *td = getenv("TMPDIR");
      snprintf(tmp_path, sizeof tmp_path, "%s/sinter-quant-XXXXXX", td && *td ? td : "/tmp");
      int fd = mkstemp(tmp_path);
      if (fd < 0) {
        e = sn_errorf(SINTER_ERR_RUNTIME, "cannot create a temporary file '%s' for calibration", tmp_path);
        tmp_path[0] = 0;
        goto out;
      }
      close(fd);
      if ((e = sn_onnx_write_file(m, tmp_path))) goto out;
      c.path = tmp_path;
    }
    if ((e = calib_pass(&c, st, n_st, 0))) goto out;
    if (o->method != SN_CALIB_MINMAX && (e = calib_pass(&c, st, n_st, 1))) goto out;
    for (int k = 0; k < n_st; k++) choose_range(&st[k], o);
    for (int k = 0; k < n_st; k++) /* a MaxPool's input: its output's scale and zero point */
      if (ss.w[k].tie >= 0) st[k].scale = st[ss.w[k].tie].scale, st[k].zp = st[ss.w[k].tie].zp;
    for (int k = 0; k < n_st; k++) /* a Relu dropped only where quantizing clamps at 0 by itself */
      if (ss.w[k].relu >= 0 && (o->act_int8 || st[k].zp != 0)) ss.w[k].q_src = ss.w[k].relu = -1;
    if (rep && (e = calib_pass(&c, st, n_st, 2))) goto out;
    int *dq = sn_malloc(sizeof(int) * (size_t)(n_st + 1));
    if (!dq) {
      e = SN_ERR_OOM();
      goto out;
    }
    for (int k = 0; k < n_st && !e; k++) {
      e = qdq_act(g, &st[k], o->act_int8, ss.w[k].q_src, &dq[k]);
      if (!e && rep) {
        double err = st[k].den > 0 ? sqrt(st[k].num / st[k].den) : 0.0;
        report_scales(rep, st[k].name, o->act_int8 ? "activation int8" : "activation uint8", &st[k].scale, 1, st[k].zp,
                      err);
      }
    }
    /* the selected nodes' activation input, and every activation input of the 8-bit Adds and
     * MaxPools, read the dequantized values */
    for (int i = 0; i < n_nodes0 && !e; i++) { /* (not the pairs just added) */
      sn_node *n = &g->nodes[i];
      bool q = quantized[i], ei = eight[i];
      for (int k = 0; k < n->n_in; k++) {
        if (n->in[k] < 0) continue;
        const char *name = g->values[n->in[k]].name;
        for (int t = 0; t < n_st; t++)
          if (!strcmp(st[t].name, name)) {
            if (ss.w[t].all || ei || (q && k == 0)) n->in[k] = dq[t];
            break;
          }
      }
    }
    for (int j = first; j < last && !e; j++) {
      e = qdq_weight(g, sel[j], kinds[j], o, rep);
      if (!e) (*n_quantized)++;
    }
    /* Relus whose output nothing reads any more */
    sn_free(uses);
    uses = e ? NULL : sn_graph_use_counts(g);
    if (!e && !uses) e = SN_ERR_OOM();
    for (int k = 0; k < n_st && !e; k++)
      if (ss.w[k].relu >= 0 && !uses[g->nodes[ss.w[k].relu].out[0]]) sn_node_clear(&g->nodes[ss.w[k].relu]);
    sn_free(dq);
  }
  if (e) goto out;
  sn_graph_compact(g);
  sn_graph_update_producers(g);
  drop_unused_initializers(g);
  e = sn_graph_toposort(g);
  if (!e && o->mode == SN_QUANT_DYNAMIC) {
    int before = *n_quantized;
    e = dynamic_subgraphs(g, o, rep, n_quantized);
    if (!e && *n_quantized > before) e = drop_uncaptured_initializers(g);
  }
out:
  if (tmp_path[0]) remove(tmp_path);
  for (int k = 0; k < ss.n; k++) {
    sn_free(ss.st[k].name);
    sn_free(ss.st[k].hist);
  }
  sn_free(ss.st);
  sn_free(ss.w);
  sn_free(quantized);
  sn_free(eight);
  sn_free(uses);
  sn_free(sel);
  sn_free(kinds);
  return e;
}
