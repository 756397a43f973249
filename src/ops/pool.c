/* Pooling ops: MaxPool (with indices), AveragePool, LpPool, their Global forms, MaxUnpool, and
 * com.microsoft:QLinearAveragePool. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/qelem.h"
#include "kernels/ref/nn_util.h"
#include "ops/op.h"
#include "ops/qlinear.h"

/* Let GCC turn compare-and-select into branch-free max (FP traps are never enabled). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

enum { POOL_MAX, POOL_AVG, POOL_LP };

typedef struct pool_params {
  sn_window_attrs w;
  int kind;
  bool count_include_pad;
  int64_t storage_order;
  double p; /* LpPool */
} pool_params;

static double lp_p_attr(const sn_node *n) {
  const sn_attr *a = sn_node_attr(n, "p");
  if (!a) return 2.0;
  if (a->type == SN_ATTR_FLOAT) return a->f;
  return (double)a->i;
}

static int pool_kind(const sn_node *n) {
  const char *t = n->op_type;
  if (strstr(t, "Max")) return POOL_MAX;
  if (strstr(t, "Lp")) return POOL_LP;
  return POOL_AVG;
}

static sn_error *parse_params(const sn_node *n, pool_params *p) {
  memset(p, 0, sizeof *p);
  p->kind = pool_kind(n);
  char buf[160];
  if (!strncmp(n->op_type, "Global", 6)) {
    p->w.n_kernel = p->w.n_strides = p->w.n_dilations = p->w.n_pads = -1;
  } else {
    SN_TRY(sn_window_parse(n, &p->w));
    if (p->w.n_kernel < 0)
      return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: attribute kernel_shape is required", sn_node_desc(n, buf, sizeof buf));
  }
  p->count_include_pad = sn_attr_int(n, "count_include_pad", 0) != 0;
  p->storage_order = sn_attr_int(n, "storage_order", 0);
  if (p->storage_order != 0 && p->storage_order != 1)
    return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: storage_order = %lld must be 0 or 1", sn_node_desc(n, buf, sizeof buf),
                     (long long)p->storage_order);
  p->p = lp_p_attr(n);
  if (p->kind == POOL_LP && !(p->p > 0))
    return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: p = %g must be positive", sn_node_desc(n, buf, sizeof buf), p->p);
  return NULL;
}

static sn_error *pool_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  pool_params *p = sn_malloc(sizeof *p);
  if (!p) return SN_ERR_OOM();
  sn_error *e = parse_params(n, p);
  if (e) {
    sn_free(p);
    return e;
  }
  *params = p;
  return NULL;
}

static void pool_free(void *p) { sn_free(p); }

static sn_error *get_params(const sn_node *n, const void *params, pool_params *tmp, const pool_params **out) {
  if (params) {
    *out = params;
    return NULL;
  }
  SN_TRY(parse_params(n, tmp));
  *out = tmp;
  return NULL;
}

static bool float_type(sn_dtype dt) {
  return dt == SINTER_FLOAT || dt == SINTER_DOUBLE || dt == SINTER_FLOAT16 || dt == SINTER_BFLOAT16;
}

/* ---- shape inference ---------------------------------------------------------------------------------- */

static sn_error *check_dtype(sn_infer_ctx *c, sn_dtype dt, bool allow_int8) {
  if (!dt || float_type(dt)) return NULL;
  if (allow_int8 && (dt == SINTER_INT8 || dt == SINTER_UINT8)) return NULL;
  return sn_infer_error(c, "element type %s is not supported", sn_dtype_name(dt));
}

static sn_error *pool_infer(sn_infer_ctx *c) {
  const sn_type *x = c->in[0];
  if (!x) return sn_infer_error(c, "input X is required");
  const pool_params *p;
  pool_params tmp;
  SN_TRY(get_params(c->node, c->node->params, &tmp, &p));
  SN_TRY(check_dtype(c, x->dtype, p->kind == POOL_MAX && c->opset >= 12));
  if (x->rank < 0) {
    for (int o = 0; o < c->n_out && o < 2; o++)
      if (c->out[o]) sn_type_set_unknown(c->out[o], o ? SINTER_INT64 : x->dtype);
    return NULL;
  }
  if (x->rank < 3) return sn_infer_error(c, "input X must have rank >= 3 (N, C, spatial...)");
  int nd = x->rank - 2;
  sn_dim dims[SN_MAX_RANK];
  dims[0] = x->dims[0];
  dims[1] = x->dims[1];
  if (!strncmp(c->node->op_type, "Global", 6)) {
    for (int d = 0; d < nd; d++) dims[2 + d] = sn_dim_known(1);
  } else {
    int64_t in[SN_MAX_RANK];
    for (int d = 0; d < nd; d++) in[d] = x->dims[2 + d].v;
    sn_window w;
    char msg[256];
    if (!sn_window_resolve(&p->w, nd, in, NULL, true, &w, msg, sizeof msg)) return sn_infer_error(c, "%s", msg);
    for (int d = 0; d < nd; d++) {
      dims[2 + d] = w.out[d] >= 0 ? sn_dim_known(w.out[d]) : sn_dim_unknown();
      if (w.out[d] < 0 && sn_window_keeps_size(&p->w, &w, d, true)) dims[2 + d] = x->dims[2 + d];
    }
  }
  if (c->out[0]) sn_type_set(c->out[0], x->dtype, x->rank, dims);
  if (c->n_out > 1 && c->out[1]) sn_type_set(c->out[1], SINTER_INT64, x->rank, dims);
  return NULL;
}

/* ---- window kernels -------------------------------------------------------------------------------- */

/* Per spatial dim and output index: the valid tap range [klo, khi) (inside the input) and the tap
 * count inside the padded extent (for count_include_pad). Up to 3 spatial dims, padded with unit
 * dims in front. */
typedef struct pool_plan {
  int64_t in[3], out[3], k[3], s[3], dil[3], pb[3];
  int64_t *klo[3], *khi[3], *kpad[3];
} pool_plan;

static sn_error *make_plan(sn_kernel_ctx *c, const sn_window *w, const int64_t *in, pool_plan *pl) {
  int nd = w->nd, sh = 3 - nd;
  for (int d = 0; d < 3; d++) {
    int s = d - sh;
    pl->in[d] = s >= 0 ? in[s] : 1;
    pl->out[d] = s >= 0 ? w->out[s] : 1;
    pl->k[d] = s >= 0 ? w->k[s] : 1;
    pl->s[d] = s >= 0 ? w->stride[s] : 1;
    pl->dil[d] = s >= 0 ? w->dil[s] : 1;
    pl->pb[d] = s >= 0 ? w->pad_begin[s] : 0;
    int64_t pe = s >= 0 ? w->pad_end[s] : 0;
    int64_t n = pl->out[d] > 0 ? pl->out[d] : 1;
    int64_t *a = sn_kernel_scratch(c, sizeof(int64_t) * 3 * (size_t)n);
    if (!a) return SN_ERR_OOM();
    pl->klo[d] = a;
    pl->khi[d] = a + n;
    pl->kpad[d] = a + 2 * n;
    for (int64_t o = 0; o < pl->out[d]; o++) {
      int64_t st = o * pl->s[d] - pl->pb[d], dl = pl->dil[d], K = pl->k[d];
      int64_t lo = st >= 0 ? 0 : (-st + dl - 1) / dl;
      int64_t hi = pl->in[d] - st > 0 ? (pl->in[d] - st + dl - 1) / dl : 0;
      if (hi > K) hi = K;
      if (lo > hi) lo = hi;
      int64_t lim = pl->in[d] + pe - st; /* taps with st + k*dl < in + pe */
      int64_t kp = lim > 0 ? (lim + dl - 1) / dl : 0;
      if (kp > K) kp = K;
      /* taps before the input but inside the leading pad count too */
      pl->klo[d][o] = lo;
      pl->khi[d][o] = hi;
      pl->kpad[d][o] = kp;
    }
  }
  return NULL;
}

#define DEFINE_MAXPOOL(SFX, T, LOWEST)                                                                         \
  static void maxpool_##SFX(const pool_plan *pl, int64_t planes, const T *x, T *y, int64_t *idx, bool colmajor) { \
    const int64_t insz = pl->in[0] * pl->in[1] * pl->in[2], outsz = pl->out[0] * pl->out[1] * pl->out[2];       \
    for (int64_t pc = 0; pc < planes; pc++) {                                                                  \
      const T *xp = x + pc * insz;                                                                             \
      T *yp = y + pc * outsz;                                                                                  \
      int64_t *ip = idx ? idx + pc * outsz : NULL;                                                             \
      int64_t q = 0;                                                                                           \
      for (int64_t od = 0; od < pl->out[0]; od++) {                                                            \
        int64_t d0 = od * pl->s[0] - pl->pb[0];                                                                \
        for (int64_t oh = 0; oh < pl->out[1]; oh++) {                                                          \
          int64_t h0 = oh * pl->s[1] - pl->pb[1];                                                              \
          for (int64_t ow = 0; ow < pl->out[2]; ow++, q++) {                                                   \
            int64_t w0 = ow * pl->s[2] - pl->pb[2];                                                            \
            T best = LOWEST;                                                                                   \
            int64_t bi = -1;                                                                                   \
            for (int64_t kd = pl->klo[0][od]; kd < pl->khi[0][od]; kd++) {                                     \
              int64_t id = d0 + kd * pl->dil[0];                                                               \
              for (int64_t kh = pl->klo[1][oh]; kh < pl->khi[1][oh]; kh++) {                                   \
                int64_t ih = h0 + kh * pl->dil[1];                                                             \
                const T *row = xp + (id * pl->in[1] + ih) * pl->in[2];                                         \
                for (int64_t kw = pl->klo[2][ow]; kw < pl->khi[2][ow]; kw++) {                                 \
                  int64_t iw = w0 + kw * pl->dil[2];                                                           \
                  T v = row[iw];                                                                               \
                  if (bi < 0 || v > best) {                                                                    \
                    best = v;                                                                                  \
                    bi = (id * pl->in[1] + ih) * pl->in[2] + iw;                                               \
                  }                                                                                            \
                }                                                                                              \
              }                                                                                                \
            }                                                                                                  \
            yp[q] = best;                                                                                      \
            if (ip) {                                                                                          \
              if (bi >= 0 && colmajor) { /* column-major over the spatial dims: i0 + i1 * D0 + i2 * D0 * D1 */ \
                int64_t i2 = bi % pl->in[2], i1 = (bi / pl->in[2]) % pl->in[1], i0 = bi / (pl->in[2] * pl->in[1]); \
                bi = i0 + i1 * pl->in[0] + i2 * pl->in[0] * pl->in[1];                                         \
              }                                                                                                \
              ip[q] = bi >= 0 ? pc * insz + bi : -1;                                                           \
            }                                                                                                  \
          }                                                                                                    \
        }                                                                                                      \
      }                                                                                                        \
    }                                                                                                          \
  }

DEFINE_MAXPOOL(f32, float, -FLT_MAX)
DEFINE_MAXPOOL(f64, double, -DBL_MAX)
DEFINE_MAXPOOL(i8, int8_t, INT8_MIN)
DEFINE_MAXPOOL(u8, uint8_t, 0)


/* Pooling without indices, one output row at a time: for every tap of the last dim the in-bounds
 * output range is computed once, and the row update is a plain (vectorizable) loop. mode: POOL_MAX,
 * POOL_AVG, POOL_LP (p in lp). acc holds out[2] values. */
#define DEFINE_ROWPOOL(SFX, T, LOWEST)                                                                        \
  static void rowpool_##SFX(const pool_plan *pl, int64_t planes, const T *x, T *y, int mode, bool include_pad, \
                            double lp, T *restrict acc) {                                                     \
    const int64_t insz = pl->in[0] * pl->in[1] * pl->in[2], outsz = pl->out[0] * pl->out[1] * pl->out[2];      \
    const int64_t OW = pl->out[2], IW = pl->in[2], sw = pl->s[2], dw = pl->dil[2], pbw = pl->pb[2];           \
    const bool l1 = lp == 1, l2 = lp == 2;                                                                    \
    for (int64_t pc = 0; pc < planes; pc++) {                                                                 \
      const T *xp = x + pc * insz;                                                                            \
      T *yp = y + pc * outsz;                                                                                 \
      for (int64_t od = 0; od < pl->out[0]; od++)                                                             \
        for (int64_t oh = 0; oh < pl->out[1]; oh++) {                                                         \
          T *yr = yp + (od * pl->out[1] + oh) * OW;                                                           \
          T init = mode == POOL_MAX ? LOWEST : (T)0;                                                          \
          for (int64_t i = 0; i < OW; i++) acc[i] = init;                                                     \
          int64_t d0 = od * pl->s[0] - pl->pb[0], h0 = oh * pl->s[1] - pl->pb[1];                             \
          for (int64_t kd = pl->klo[0][od]; kd < pl->khi[0][od]; kd++)                                        \
            for (int64_t kh = pl->klo[1][oh]; kh < pl->khi[1][oh]; kh++) {                                    \
              const T *restrict row = xp + ((d0 + kd * pl->dil[0]) * pl->in[1] + h0 + kh * pl->dil[1]) * IW;  \
              for (int64_t kw = 0; kw < pl->k[2]; kw++) {                                                     \
                int64_t off = kw * dw - pbw;                                                                  \
                int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;                                             \
                int64_t hi = IW - 1 - off >= 0 ? (IW - 1 - off) / sw + 1 : 0;                                 \
                if (hi > OW) hi = OW;                                                                         \
                if (mode == POOL_MAX) {                                                                       \
                  if (sw == 1)                                                                                \
                    for (int64_t i = lo; i < hi; i++) acc[i] = row[i + off] > acc[i] ? row[i + off] : acc[i]; \
                  else                                                                                        \
                    for (int64_t i = lo; i < hi; i++)                                                         \
                      acc[i] = row[i * sw + off] > acc[i] ? row[i * sw + off] : acc[i];                       \
                } else if (mode == POOL_AVG || l1) {                                                          \
                  if (mode == POOL_AVG && sw == 1)                                                            \
                    for (int64_t i = lo; i < hi; i++) acc[i] += row[i + off];                                 \
                  else if (mode == POOL_AVG)                                                                  \
                    for (int64_t i = lo; i < hi; i++) acc[i] += row[i * sw + off];                            \
                  else                                                                                        \
                    for (int64_t i = lo; i < hi; i++) acc[i] += (T)fabs((double)row[i * sw + off]);           \
                } else if (l2) {                                                                              \
                  for (int64_t i = lo; i < hi; i++) acc[i] += row[i * sw + off] * row[i * sw + off];          \
                } else {                                                                                      \
                  for (int64_t i = lo; i < hi; i++) acc[i] += (T)pow(fabs((double)row[i * sw + off]), lp);    \
                }                                                                                             \
              }                                                                                               \
            }                                                                                                 \
          if (mode == POOL_MAX) {                                                                             \
            for (int64_t i = 0; i < OW; i++) yr[i] = acc[i];                                                  \
          } else if (mode == POOL_AVG) {                                                                      \
            int64_t c01 = include_pad ? pl->kpad[0][od] * pl->kpad[1][oh]                                     \
                                      : (pl->khi[0][od] - pl->klo[0][od]) * (pl->khi[1][oh] - pl->klo[1][oh]); \
            for (int64_t i = 0; i < OW; i++) {                                                                \
              int64_t cnt = c01 * (include_pad ? pl->kpad[2][i] : pl->khi[2][i] - pl->klo[2][i]);             \
              yr[i] = cnt > 0 ? acc[i] / (T)cnt : (T)0;                                                       \
            }                                                                                                 \
          } else if (l1) {                                                                                    \
            for (int64_t i = 0; i < OW; i++) yr[i] = acc[i];                                                  \
          } else if (l2) {                                                                                    \
            for (int64_t i = 0; i < OW; i++) yr[i] = (T)sqrt((double)acc[i]);                                 \
          } else {                                                                                            \
            for (int64_t i = 0; i < OW; i++) yr[i] = (T)pow((double)acc[i], 1.0 / lp);                        \
          }                                                                                                   \
        }                                                                                                     \
    }                                                                                                         \
  }

DEFINE_ROWPOOL(f32, float, -FLT_MAX)
DEFINE_ROWPOOL(f64, double, -DBL_MAX)
DEFINE_ROWPOOL(i8, int8_t, INT8_MIN)
DEFINE_ROWPOOL(u8, uint8_t, 0)

/* 8-bit MaxPool over 1-D / 2-D windows, one output row at a time (kernels/qelem.h: the vertical max
 * of the row's valid input rows into a padded row, padding = the lowest value, then the horizontal
 * max of each window and the stride's pick). s8 works in the u8 order (flip = 0x80: x ^ 0x80 orders
 * s8 values as u8), so 0 is the lowest value and the padding. buf: Wv bytes, Wv = (OW - 1) * sw +
 * (KW - 1) * dw + 1. */
#define MAXPOOL8_ROWS 64 /* window heights up to this take maxpool8 */
static int64_t maxpool8_span(const pool_plan *pl) { return (pl->out[2] - 1) * pl->s[2] + (pl->k[2] - 1) * pl->dil[2] + 1; }

static void maxpool8(const pool_plan *pl, int64_t planes, const uint8_t *x, uint8_t *y, uint8_t flip,
                     uint8_t *restrict buf) {
  const int64_t IH = pl->in[1], IW = pl->in[2], OH = pl->out[1], OW = pl->out[2], sw = pl->s[2], dw = pl->dil[2];
  const int64_t KW = pl->k[2], pbw = pl->pb[2], Wv = maxpool8_span(pl);
  /* columns [j0, j1) of the padded row come from the input */
  const int64_t j0 = pbw < Wv ? pbw : Wv, j1 = pbw + IW < Wv ? pbw + IW : Wv;
  const uint8_t *rows[MAXPOOL8_ROWS];
  for (int64_t pc = 0; pc < planes; pc++) {
    const uint8_t *xp = x + pc * IH * IW;
    uint8_t *yp = y + pc * OH * OW;
    for (int64_t oh = 0; oh < OH; oh++) {
      const int64_t h0 = oh * pl->s[1] - pl->pb[1];
      int nr = 0;
      for (int64_t kh = pl->klo[1][oh]; kh < pl->khi[1][oh]; kh++) rows[nr++] = xp + (h0 + kh * pl->dil[1]) * IW - pbw;
      sn_q8_maxpool_row(rows, nr, j0, j1, Wv, KW, dw, sw, OW, flip, buf, yp + oh * OW);
    }
  }
}

/* AveragePool (lp == 0) and LpPool (lp = p) */
#define DEFINE_AVGPOOL(SFX, T)                                                                                 \
  static void avgpool_##SFX(const pool_plan *pl, int64_t planes, const T *x, T *y, bool include_pad, double lp) { \
    const int64_t insz = pl->in[0] * pl->in[1] * pl->in[2], outsz = pl->out[0] * pl->out[1] * pl->out[2];       \
    const bool l1 = lp == 1, l2 = lp == 2;                                                                     \
    for (int64_t pc = 0; pc < planes; pc++) {                                                                  \
      const T *xp = x + pc * insz;                                                                             \
      T *yp = y + pc * outsz;                                                                                  \
      int64_t q = 0;                                                                                           \
      for (int64_t od = 0; od < pl->out[0]; od++) {                                                            \
        int64_t d0 = od * pl->s[0] - pl->pb[0];                                                                \
        for (int64_t oh = 0; oh < pl->out[1]; oh++) {                                                          \
          int64_t h0 = oh * pl->s[1] - pl->pb[1];                                                              \
          for (int64_t ow = 0; ow < pl->out[2]; ow++, q++) {                                                   \
            int64_t w0 = ow * pl->s[2] - pl->pb[2];                                                            \
            T sum = 0;                                                                                         \
            int64_t wlo = pl->klo[2][ow], whi = pl->khi[2][ow];                                                \
            for (int64_t kd = pl->klo[0][od]; kd < pl->khi[0][od]; kd++) {                                     \
              int64_t id = d0 + kd * pl->dil[0];                                                               \
              for (int64_t kh = pl->klo[1][oh]; kh < pl->khi[1][oh]; kh++) {                                   \
                int64_t ih = h0 + kh * pl->dil[1];                                                             \
                const T *row = xp + (id * pl->in[1] + ih) * pl->in[2] + w0;                                    \
                const int64_t dw = pl->dil[2];                                                                 \
                if (lp == 0) {                                                                                 \
                  for (int64_t kw = wlo; kw < whi; kw++) sum += row[kw * dw];                                  \
                } else if (l1) {                                                                               \
                  for (int64_t kw = wlo; kw < whi; kw++) sum += (T)fabs((double)row[kw * dw]);                 \
                } else if (l2) {                                                                               \
                  for (int64_t kw = wlo; kw < whi; kw++) sum += row[kw * dw] * row[kw * dw];                   \
                } else {                                                                                       \
                  for (int64_t kw = wlo; kw < whi; kw++) sum += (T)pow(fabs((double)row[kw * dw]), lp);        \
                }                                                                                              \
              }                                                                                                \
            }                                                                                                  \
            if (lp == 0) {                                                                                     \
              int64_t cnt = include_pad ? pl->kpad[0][od] * pl->kpad[1][oh] * pl->kpad[2][ow]                  \
                                        : (pl->khi[0][od] - pl->klo[0][od]) * (pl->khi[1][oh] - pl->klo[1][oh]) * \
                                              (whi - wlo);                                                     \
              yp[q] = cnt > 0 ? sum / (T)cnt : (T)0;                                                           \
            } else if (l1) {                                                                                   \
              yp[q] = sum;                                                                                     \
            } else if (l2) {                                                                                   \
              yp[q] = (T)sqrt((double)sum);                                                                    \
            } else {                                                                                           \
              yp[q] = (T)pow((double)sum, 1.0 / lp);                                                           \
            }                                                                                                  \
          }                                                                                                    \
        }                                                                                                      \
      }                                                                                                        \
    }                                                                                                          \
  }

DEFINE_AVGPOOL(f32, float)
DEFINE_AVGPOOL(f64, double)

/* planes split over workers for the row pooling kernels */
typedef struct rp_job {
  const pool_plan *pl;
  int64_t planes;
  const void *x;
  void *y;
  sn_dtype dt;
  int mode;
  bool include_pad;
  double lp;
  char *acc;
  size_t acc_bytes;
  int nw;
} rp_job;

static void rp_worker(void *p, int w) {
  const rp_job *j = p;
  const pool_plan *pl = j->pl;
  int64_t p0 = w * j->planes / j->nw, p1 = (w + 1) * j->planes / j->nw;
  int64_t insz = pl->in[0] * pl->in[1] * pl->in[2], outsz = pl->out[0] * pl->out[1] * pl->out[2];
  void *acc = j->acc + (size_t)w * j->acc_bytes;
  if (j->mode == POOL_MAX && (j->dt == SINTER_INT8 || j->dt == SINTER_UINT8) && pl->in[0] == 1 && pl->k[0] == 1 &&
      pl->out[0] == 1 && pl->k[1] <= MAXPOOL8_ROWS) {
    maxpool8(pl, p1 - p0, (const uint8_t *)j->x + p0 * insz, (uint8_t *)j->y + p0 * outsz,
             j->dt == SINTER_INT8 ? 0x80 : 0, acc);
    return;
  }
  switch (j->dt) {
    case SINTER_INT8:
      rowpool_i8(pl, p1 - p0, (const int8_t *)j->x + p0 * insz, (int8_t *)j->y + p0 * outsz, j->mode, false, 0, acc);
      break;
    case SINTER_UINT8:
      rowpool_u8(pl, p1 - p0, (const uint8_t *)j->x + p0 * insz, (uint8_t *)j->y + p0 * outsz, j->mode, false, 0, acc);
      break;
    case SINTER_DOUBLE:
      rowpool_f64(pl, p1 - p0, (const double *)j->x + p0 * insz, (double *)j->y + p0 * outsz, j->mode, j->include_pad,
                  j->lp, acc);
      break;
    default:
      rowpool_f32(pl, p1 - p0, (const float *)j->x + p0 * insz, (float *)j->y + p0 * outsz, j->mode, j->include_pad,
                  j->lp, acc);
      break;
  }
}

/* float32 GlobalAveragePool: one mean per contiguous plane, 16 partial sums per plane so the
 * compiler vectorizes the loop (the general window path below walks taps one by one) */
typedef struct gap_job {
  const float *x;
  float *y;
  int64_t planes, size;
  int nw;
} gap_job;

static void gap_worker(void *arg, int w) {
  const gap_job *j = arg;
  for (int64_t pl = w * j->planes / j->nw; pl < (w + 1) * j->planes / j->nw; pl++) {
    const float *x = j->x + pl * j->size;
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= j->size; i += 16)
      for (int k = 0; k < 16; k++) acc[k] += x[i + k];
    double s = 0;
    for (int k = 0; k < 16; k++) s += acc[k];
    for (; i < j->size; i++) s += x[i];
    j->y[pl] = (float)(s / (double)j->size);
  }
}

static sn_error *pool_run(sn_kernel_ctx *c) {
  const pool_params *p;
  pool_params tmp;
  SN_TRY(get_params(c->node, c->params, &tmp, &p));
  const sn_tensor *x = c->in[0];
  char b1[128], msg[256];
  if (x->rank < 3)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input X %s must have rank >= 3", sn_tensor_describe(x, b1, sizeof b1));
  int nd = x->rank - 2;
  bool global = !strncmp(c->node->op_type, "Global", 6);
  sn_window w;
  if (global) {
    memset(&w, 0, sizeof w);
    w.nd = nd;
    for (int d = 0; d < nd; d++) {
      w.k[d] = x->dims[2 + d];
      w.stride[d] = w.dil[d] = 1;
      w.out[d] = 1;
    }
  } else if (!sn_window_resolve(&p->w, nd, x->dims + 2, NULL, true, &w, msg, sizeof msg)) {
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (X %s)", msg, sn_tensor_describe(x, b1, sizeof b1));
  }
  int64_t ydims[SN_MAX_RANK];
  ydims[0] = x->dims[0];
  ydims[1] = x->dims[1];
  for (int d = 0; d < nd; d++) ydims[2 + d] = w.out[d];
  sn_tensor *y, *ind = NULL;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, ydims, &y));
  if (p->kind == POOL_MAX && c->n_out > 1 && sn_kernel_output_used(c, 1))
    SN_TRY(sn_kernel_output(c, 1, SINTER_INT64, x->rank, ydims, &ind));
  int64_t planes = x->dims[0] * x->dims[1];
  if (y->count == 0) return NULL;
  if (global && p->kind == POOL_AVG && x->dtype == SINTER_FLOAT && x->count > 0) {
    gap_job j = {x->data, y->data, planes, x->count / planes, 1};
    j.nw = sn_nn_workers(c, (double)x->count);
    if (j.nw > planes) j.nw = (int)planes;
    sn_nn_run(c, j.nw, gap_worker, &j);
    return NULL;
  }
  /* global pooling over a flat plane: fold every spatial dim into one */
  int64_t in3[SN_MAX_RANK];
  sn_window w3 = w;
  const int64_t *in = x->dims + 2;
  if (global || nd > 3) {
    if (!global)
      return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "pooling over %d spatial dims is not supported (at most 3)", nd);
    int64_t tot = 1;
    for (int d = 0; d < nd; d++) tot *= x->dims[2 + d];
    memset(&w3, 0, sizeof w3);
    w3.nd = 1;
    w3.k[0] = tot;
    w3.stride[0] = w3.dil[0] = 1;
    w3.out[0] = 1;
    in3[0] = tot;
    in = in3;
    if (tot == 0)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "global pooling over an empty input %s",
                             sn_tensor_describe(x, b1, sizeof b1));
  }
  pool_plan pl;
  SN_TRY(make_plan(c, &w3, in, &pl));
  bool colmajor = p->storage_order == 1;
  sn_dtype dt = x->dtype;
  if (!global && !ind) {
    rp_job j = {&pl, planes, NULL, NULL, dt, p->kind, p->count_include_pad, p->kind == POOL_LP ? p->p : 0, NULL, 0, 1};
    if (!(p->kind == POOL_MAX && (dt == SINTER_INT8 || dt == SINTER_UINT8)) && dt != SINTER_DOUBLE &&
        !sn_is_f32_family(dt))
      return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(dt));
    float *yf = NULL;
    j.x = x->data;
    j.y = y->data;
    if (sn_is_f32_family(dt)) {
      const float *xf;
      SN_TRY(sn_nn_f32_in(c, x, &xf));
      SN_TRY(sn_nn_f32_out(c, y, &yf));
      j.x = xf;
      j.y = yf;
      j.dt = SINTER_FLOAT;
    }
    double taps = (double)y->count;
    for (int d = 0; d < 3; d++) taps *= (double)pl.k[d];
    j.nw = sn_nn_workers(c, taps);
    if (j.nw > planes) j.nw = (int)planes;
    j.acc_bytes = (sizeof(double) * (size_t)(pl.out[2] > 0 ? pl.out[2] : 1) + 63) & ~(size_t)63;
    if (pl.out[2] > 0 && (size_t)(2 * maxpool8_span(&pl)) > j.acc_bytes) /* maxpool8's rows */
      j.acc_bytes = ((size_t)(2 * maxpool8_span(&pl)) + 63) & ~(size_t)63;
    j.acc = sn_kernel_scratch(c, j.acc_bytes * (size_t)j.nw);
    if (!j.acc) return SN_ERR_OOM();
    sn_nn_run(c, j.nw, rp_worker, &j);
    if (yf) sn_nn_f32_out_done(y, yf);
    return NULL;
  }
  if (p->kind == POOL_MAX) {
    switch (dt) {
      case SINTER_DOUBLE: maxpool_f64(&pl, planes, x->data, y->data, ind ? ind->data : NULL, colmajor); return NULL;
      case SINTER_INT8: maxpool_i8(&pl, planes, x->data, y->data, ind ? ind->data : NULL, colmajor); return NULL;
      case SINTER_UINT8: maxpool_u8(&pl, planes, x->data, y->data, ind ? ind->data : NULL, colmajor); return NULL;
      default: break;
    }
  } else if (dt == SINTER_DOUBLE) {
    avgpool_f64(&pl, planes, x->data, y->data, p->count_include_pad, p->kind == POOL_LP ? p->p : 0);
    return NULL;
  }
  if (!sn_is_f32_family(dt))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(dt));
  const float *xf;
  float *yf;
  SN_TRY(sn_nn_f32_in(c, x, &xf));
  SN_TRY(sn_nn_f32_out(c, y, &yf));
  if (p->kind == POOL_MAX)
    maxpool_f32(&pl, planes, xf, yf, ind ? ind->data : NULL, colmajor);
  else if (global && p->kind == POOL_AVG) {
    int64_t n = in[0];
    for (int64_t pc = 0; pc < planes; pc++) { /* double accumulation: global sums can be long */
      const float *xp = xf + pc * n;
      double s = 0;
      for (int64_t i = 0; i < n; i++) s += xp[i];
      yf[pc] = (float)(s / (double)n);
    }
  } else
    avgpool_f32(&pl, planes, xf, yf, p->count_include_pad, p->kind == POOL_LP ? p->p : 0);
  sn_nn_f32_out_done(y, yf);
  return NULL;
}

/* ---- com.microsoft:QLinearAveragePool ------------------------------------------------------------------
 * (X, x_scale, x_zero_point?, y_scale, y_zero_point?) with AveragePool's attributes and channels_last
 * (X is N x spatial... x C when set; ONNX Runtime's quantizer writes 0). As ONNX Runtime computes it:
 * X dequantized to float32, the float32 average pool, then y = saturate(round_half_even(avg / y_scale)
 * + y_zero_point). */

static bool q8_type(sn_dtype dt) { return dt == SINTER_INT8 || dt == SINTER_UINT8; }

static sn_error *qpool_infer(sn_infer_ctx *c) {
  const sn_type *x = c->in[0];
  if (c->n_in < 4 || !x || !c->in[1] || !c->in[3]) return sn_infer_error(c, "needs X, x_scale, x_zero_point, y_scale");
  if (x->dtype && !q8_type(x->dtype)) return sn_infer_error(c, "X must be int8 or uint8, not %s", sn_dtype_name(x->dtype));
  if (!c->out[0]) return NULL;
  if (x->rank < 0) {
    sn_type_set_unknown(c->out[0], x->dtype);
    return NULL;
  }
  if (x->rank < 3) return sn_infer_error(c, "input X must have rank >= 3");
  const pool_params *p;
  pool_params tmp;
  SN_TRY(get_params(c->node, c->node->params, &tmp, &p));
  bool last = sn_attr_int(c->node, "channels_last", 0) != 0;
  int nd = x->rank - 2, s0 = last ? 1 : 2; /* the first spatial dim */
  int64_t in[SN_MAX_RANK];
  for (int d = 0; d < nd; d++) in[d] = x->dims[s0 + d].v;
  sn_window w;
  char msg[256];
  if (!sn_window_resolve(&p->w, nd, in, NULL, true, &w, msg, sizeof msg)) return sn_infer_error(c, "%s", msg);
  sn_dim dims[SN_MAX_RANK];
  memcpy(dims, x->dims, sizeof(sn_dim) * (size_t)x->rank);
  for (int d = 0; d < nd; d++) {
    dims[s0 + d] = w.out[d] >= 0 ? sn_dim_known(w.out[d]) : sn_dim_unknown();
    if (w.out[d] < 0 && sn_window_keeps_size(&p->w, &w, d, true)) dims[s0 + d] = x->dims[s0 + d];
  }
  sn_type_set(c->out[0], x->dtype, x->rank, dims);
  return NULL;
}

static sn_error *qpool_run(sn_kernel_ctx *c) {
  const pool_params *p;
  pool_params tmp;
  SN_TRY(get_params(c->node, c->params, &tmp, &p));
  const sn_tensor *x = c->in[0];
  char b1[128], msg[256];
  if (!q8_type(x->dtype) || x->rank < 3)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X %s must be int8 or uint8 of rank >= 3",
                           sn_tensor_describe(x, b1, sizeof b1));
  float fxs, fxz, fys, fyz;
  SN_TRY(sn_qscalar_param(c, 1, true, 0, "x_scale", &fxs));
  SN_TRY(sn_qscalar_param(c, 2, false, 0, "x_zero_point", &fxz));
  SN_TRY(sn_qscalar_param(c, 3, true, 0, "y_scale", &fys));
  SN_TRY(sn_qscalar_param(c, 4, false, 0, "y_zero_point", &fyz));
  bool last = sn_attr_int(c->node, "channels_last", 0) != 0, s8 = x->dtype == SINTER_INT8;
  int nd = x->rank - 2, s0 = last ? 1 : 2;
  if (nd > 3) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "pooling over %d spatial dims is not supported (at most 3)", nd);
  const int64_t N = x->dims[0], C = x->dims[last ? x->rank - 1 : 1];
  sn_window w;
  if (!sn_window_resolve(&p->w, nd, x->dims + s0, NULL, true, &w, msg, sizeof msg))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (X %s)", msg, sn_tensor_describe(x, b1, sizeof b1));
  int64_t ydims[SN_MAX_RANK];
  memcpy(ydims, x->dims, sizeof(int64_t) * (size_t)x->rank);
  for (int d = 0; d < nd; d++) ydims[s0 + d] = w.out[d];
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, ydims, &y));
  if (y->count == 0) return NULL;
  pool_plan pl;
  SN_TRY(make_plan(c, &w, x->dims + s0, &pl));
  const int64_t insz = pl.in[0] * pl.in[1] * pl.in[2], outsz = pl.out[0] * pl.out[1] * pl.out[2];
  /* one plane (image n, channel ch) at a time: dequantized into xf, pooled into yf, requantized */
  float *xf = sn_kernel_scratch(c, sizeof(float) * (size_t)(insz > 0 ? insz : 1));
  float *yf = sn_kernel_scratch(c, sizeof(float) * (size_t)outsz);
  float *acc = sn_kernel_scratch(c, sizeof(float) * (size_t)(pl.out[2] > 0 ? pl.out[2] : 1));
  if (!xf || !yf || !acc) return SN_ERR_OOM();
  const uint8_t *xd = x->data;
  uint8_t *yd = y->data;
  const float lo = s8 ? -128.0f : 0.0f, hi = s8 ? 127.0f : 255.0f;
  for (int64_t n = 0; n < N; n++)
    for (int64_t ch = 0; ch < C; ch++) {
      /* element i of the plane: at (n, ch, i) in NCHW, at (n, i, ch) with channels last */
      const int64_t xbase = last ? n * insz * C + ch : (n * C + ch) * insz, xstep = last ? C : 1;
      const int64_t ybase = last ? n * outsz * C + ch : (n * C + ch) * outsz, ystep = last ? C : 1;
      for (int64_t i = 0; i < insz; i++) {
        uint8_t v = xd[xbase + i * xstep];
        xf[i] = ((s8 ? (float)(int8_t)v : (float)v) - fxz) * fxs;
      }
      rowpool_f32(&pl, 1, xf, yf, POOL_AVG, p->count_include_pad, 0, acc);
      for (int64_t i = 0; i < outsz; i++) {
        float q = rintf(yf[i] / fys) + fyz;
        q = q >= lo ? (q <= hi ? q : hi) : lo;
        yd[ybase + i * ystep] = s8 ? (uint8_t)(int8_t)(int)q : (uint8_t)(int)q;
      }
    }
  return NULL;
}

/* ---- MaxUnpool ----------------------------------------------------------------------------------- */

static sn_error *unpool_infer(sn_infer_ctx *c) {
  const sn_type *x = c->in[0];
  if (!x || c->n_in < 2 || !c->in[1]) return sn_infer_error(c, "inputs X and I are required");
  SN_TRY(check_dtype(c, x->dtype, false));
  sn_type *y = c->out[0];
  if (!y) return NULL;
  if (c->n_in > 2 && c->in[2]) {
    const sn_tensor *os = c->in_data[2];
    if (os && os->rank == 1 && os->count <= SN_MAX_RANK && (os->dtype == SINTER_INT64)) {
      int64_t d[SN_MAX_RANK];
      for (int i = 0; i < os->count; i++) d[i] = ((const int64_t *)os->data)[i];
      sn_type_set_static(y, x->dtype, (int)os->count, d);
    } else {
      int r = c->in[2]->rank == 1 && c->in[2]->dims[0].v >= 0 ? (int)c->in[2]->dims[0].v : -1;
      if (r > SN_MAX_RANK) r = -1;
      if (r >= 0) {
        sn_dim d[SN_MAX_RANK];
        for (int i = 0; i < r; i++) d[i] = sn_dim_unknown();
        sn_type_set(y, x->dtype, r, d);
      } else
        sn_type_set_unknown(y, x->dtype);
    }
    return NULL;
  }
  if (x->rank < 0) {
    sn_type_set_unknown(y, x->dtype);
    return NULL;
  }
  if (x->rank < 3) return sn_infer_error(c, "input X must have rank >= 3");
  const pool_params *p;
  pool_params tmp;
  SN_TRY(get_params(c->node, c->node->params, &tmp, &p));
  int nd = x->rank - 2;
  if (p->w.n_kernel != nd) return sn_infer_error(c, "kernel_shape has %d values for %d spatial dims", p->w.n_kernel, nd);
  sn_dim dims[SN_MAX_RANK];
  dims[0] = x->dims[0];
  dims[1] = x->dims[1];
  for (int d = 0; d < nd; d++) {
    int64_t in = x->dims[2 + d].v, s = p->w.n_strides > 0 ? p->w.strides[d] : 1;
    int64_t pads = p->w.n_pads > 0 ? p->w.pads[d] + p->w.pads[nd + d] : 0;
    dims[2 + d] = in >= 0 ? sn_dim_known((in - 1) * s + p->w.kernel[d] - pads) : sn_dim_unknown();
  }
  sn_type_set(y, x->dtype, x->rank, dims);
  return NULL;
}

static sn_error *unpool_run(sn_kernel_ctx *c) {
  const pool_params *p;
  pool_params tmp;
  SN_TRY(get_params(c->node, c->params, &tmp, &p));
  const sn_tensor *x = c->in[0], *ix = c->in[1], *os = c->n_in > 2 ? c->in[2] : NULL;
  char b1[128], b2[128];
  if (x->rank < 3 || ix->dtype != SINTER_INT64 || ix->count != x->count)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X %s and indices I %s must match (int64 indices, rank >= 3)",
                           sn_tensor_describe(x, b1, sizeof b1), sn_tensor_describe(ix, b2, sizeof b2));
  int nd = x->rank - 2;
  if (p->w.n_kernel != nd)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "kernel_shape has %d values for %d spatial dims", p->w.n_kernel, nd);
  int64_t inf[SN_MAX_RANK], yd[SN_MAX_RANK];
  inf[0] = x->dims[0];
  inf[1] = x->dims[1];
  for (int d = 0; d < nd; d++) {
    int64_t s = p->w.n_strides > 0 ? p->w.strides[d] : 1;
    int64_t pads = p->w.n_pads > 0 ? p->w.pads[d] + p->w.pads[nd + d] : 0;
    inf[2 + d] = (x->dims[2 + d] - 1) * s + p->w.kernel[d] - pads;
    if (inf[2 + d] < 0)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "negative output size along spatial dim %d", d);
  }
  memcpy(yd, inf, sizeof(int64_t) * (size_t)x->rank);
  if (os) {
    if (os->rank != 1 || os->count != x->rank || (os->dtype != SINTER_INT64))
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "output_shape %s must be int64 with %d values",
                             sn_tensor_describe(os, b1, sizeof b1), x->rank);
    for (int i = 0; i < x->rank; i++) {
      yd[i] = ((const int64_t *)os->data)[i];
      if (yd[i] < 0) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "output_shape has a negative dim");
    }
  }
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, yd, &y));
  memset(y->data, 0, y->nbytes);
  size_t es = sn_dtype_size(x->dtype);
  const int64_t *I = ix->data;
  /* indices address the inferred (unpadded-output) shape; with a larger output_shape they are
   * remapped coordinate-wise so each value lands at the same spatial coordinates */
  bool same = true;
  for (int i = 0; i < x->rank; i++) same &= yd[i] == inf[i];
  int64_t total_inf = sn_shape_count(x->rank, inf);
  for (int64_t i = 0; i < x->count; i++) {
    int64_t t = I[i];
    if (t < 0 || t >= total_inf)
      return sn_kernel_error(c, SINTER_ERR_RUNTIME, "index %lld out of range for output %s", (long long)t,
                             sn_dims_str(x->rank, inf, b1, sizeof b1));
    int64_t dst = t;
    if (!same) {
      int64_t coord[SN_MAX_RANK], q = t;
      for (int d = x->rank - 1; d >= 0; d--) {
        coord[d] = q % inf[d];
        q /= inf[d];
      }
      dst = 0;
      bool ok = true;
      for (int d = 0; d < x->rank; d++) {
        if (coord[d] >= yd[d]) ok = false;
        dst = dst * yd[d] + coord[d];
      }
      if (!ok) continue;
    }
    memcpy((char *)y->data + (size_t)dst * es, (const char *)x->data + (size_t)i * es, es);
  }
  return NULL;
}

const sn_op sn_ops_pool[] = {
    {"", "MaxPool", 1, 0, pool_infer, pool_run, pool_prepare, pool_free, 0},
    {"", "AveragePool", 1, 0, pool_infer, pool_run, pool_prepare, pool_free, 0},
    {"", "LpPool", 1, 0, pool_infer, pool_run, pool_prepare, pool_free, 0},
    {"", "GlobalMaxPool", 1, 0, pool_infer, pool_run, pool_prepare, pool_free, 0},
    {"", "GlobalAveragePool", 1, 0, pool_infer, pool_run, pool_prepare, pool_free, 0},
    {"", "GlobalLpPool", 1, 0, pool_infer, pool_run, pool_prepare, pool_free, 0},
    {"", "MaxUnpool", 9, 0, unpool_infer, unpool_run, pool_prepare, pool_free, 0},
    {"com.microsoft", "QLinearAveragePool", 1, 0, qpool_infer, qpool_run, pool_prepare, pool_free, 0},
    {0},
};
