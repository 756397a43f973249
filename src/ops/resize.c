/* Resize (opsets 10, 11, 13, 18, 19) and Upsample (7, 9): nearest, N-d linear and cubic interpolation
 * with every coordinate transformation, antialiasing, axes and keep_aspect_ratio_policy. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/ref/nn_util.h"
#include "ops/op.h"
#include "runtime/threadpool.h"

typedef enum { MODE_NEAREST, MODE_LINEAR, MODE_CUBIC } resize_mode;
typedef enum {
  CT_HALF_PIXEL,
  CT_HALF_PIXEL_SYMMETRIC,
  CT_PYTORCH_HALF_PIXEL,
  CT_ALIGN_CORNERS,
  CT_ASYMMETRIC,
  CT_TF_HALF_PIXEL_FOR_NN,
  CT_TF_CROP_AND_RESIZE
} resize_ctm;
/* NM_SIMPLE: Upsample and Resize-10 (floor when upsampling, ceil when downsampling) */
typedef enum { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE } resize_nearest;
typedef enum { KA_STRETCH, KA_NOT_LARGER, KA_NOT_SMALLER } resize_keep;

typedef struct resize_params {
  int in_roi, in_scales, in_sizes; /* input positions, -1 when the op version has none */
  int mode, ctm, nearest, keep;
  double cubic_a, extrapolation;
  bool exclude_outside, antialias;
  int n_axes; /* 0: all axes */
  int64_t axes[SN_MAX_RANK];
  int n_attr_scales; /* Upsample-7: scales as an attribute */
  double attr_scales[SN_MAX_RANK];
} resize_params;

static const char *const ctm_names[] = {"half_pixel",         "half_pixel_symmetric", "pytorch_half_pixel",
                                        "align_corners",      "asymmetric",           "tf_half_pixel_for_nn",
                                        "tf_crop_and_resize"};
static const char *const nearest_names[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};

static int name_index(const char *s, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(s, names[i])) return i;
  return -1;
}

/* ---- attributes ------------------------------------------------------------------------------- */

static sn_error *resize_prepare_common(sn_node *n, void **params, bool upsample) {
  char nd[160];
  resize_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  sn_error *e = NULL;
  const int op = n->opset;
  p->in_roi = p->in_scales = p->in_sizes = -1;
  if (upsample) {
    if (op >= 9) p->in_scales = 1;
  } else if (op < 11) {
    p->in_scales = 1;
  } else {
    p->in_roi = 1, p->in_scales = 2, p->in_sizes = 3;
  }
  const char *mode = sn_attr_str(n, "mode", "nearest");
  if (!strcmp(mode, "nearest")) {
    p->mode = MODE_NEAREST;
  } else if (!strcmp(mode, "linear") || (upsample && !strcmp(mode, "bilinear"))) {
    p->mode = MODE_LINEAR;
  } else if (!strcmp(mode, "cubic") && !upsample && op >= 11) {
    p->mode = MODE_CUBIC;
  } else {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: mode '%s' is not supported (nearest, linear%s)",
                  sn_node_desc(n, nd, sizeof nd), mode, (!upsample && op >= 11) ? ", cubic" : "");
    goto fail;
  }
  if (upsample || op < 11) {
    /* Upsample and Resize-10: x_original = x_resized / scale */
    p->ctm = CT_ASYMMETRIC;
    p->nearest = NM_SIMPLE;
    p->cubic_a = -0.75;
  } else {
    const char *ct = sn_attr_str(n, "coordinate_transformation_mode", "half_pixel");
    p->ctm = name_index(ct, ctm_names, (int)(sizeof ctm_names / sizeof *ctm_names));
    if (p->ctm < 0) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: unknown coordinate_transformation_mode '%s'",
                    sn_node_desc(n, nd, sizeof nd), ct);
      goto fail;
    }
    const char *nm = sn_attr_str(n, "nearest_mode", "round_prefer_floor");
    p->nearest = name_index(nm, nearest_names, 4);
    if (p->nearest < 0) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: unknown nearest_mode '%s'", sn_node_desc(n, nd, sizeof nd), nm);
      goto fail;
    }
    p->cubic_a = sn_attr_float(n, "cubic_coeff_a", -0.75f);
    p->exclude_outside = sn_attr_int(n, "exclude_outside", 0) != 0;
    p->extrapolation = sn_attr_float(n, "extrapolation_value", 0.0f);
    if (op >= 18) {
      p->antialias = sn_attr_int(n, "antialias", 0) != 0;
      if (p->mode == MODE_NEAREST) p->antialias = false; /* antialiasing has no effect on nearest */
      const char *ka = sn_attr_str(n, "keep_aspect_ratio_policy", "stretch");
      if (!strcmp(ka, "stretch")) {
        p->keep = KA_STRETCH;
      } else if (!strcmp(ka, "not_larger")) {
        p->keep = KA_NOT_LARGER;
      } else if (!strcmp(ka, "not_smaller")) {
        p->keep = KA_NOT_SMALLER;
      } else {
        e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: unknown keep_aspect_ratio_policy '%s'",
                      sn_node_desc(n, nd, sizeof nd), ka);
        goto fail;
      }
      const int64_t *axes;
      int na = sn_attr_ints(n, "axes", &axes);
      if (na > SN_MAX_RANK) {
        e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: %d axes given, at most %d supported",
                      sn_node_desc(n, nd, sizeof nd), na, SN_MAX_RANK);
        goto fail;
      }
      if (na > 0) {
        p->n_axes = na;
        memcpy(p->axes, axes, sizeof(int64_t) * (size_t)na);
      }
    }
  }
  if (upsample && op < 9) {
    const float *sc;
    int ns = sn_attr_floats(n, "scales", &sc);
    if (ns < 0 || ns > SN_MAX_RANK) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: attribute scales is missing or too long",
                    sn_node_desc(n, nd, sizeof nd));
      goto fail;
    }
    p->n_attr_scales = ns;
    for (int i = 0; i < ns; i++) p->attr_scales[i] = sc[i];
  }
  *params = p;
  return NULL;
fail:
  sn_free(p);
  return e;
}

static sn_error *resize_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  return resize_prepare_common(n, params, false);
}
static sn_error *upsample_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  return resize_prepare_common(n, params, true);
}
static void resize_free_params(void *p) { sn_free(p); }

/* ---- output sizes and per-axis scales ----------------------------------------------------------- */

typedef struct resize_geom {
  int rank;
  int64_t out[SN_MAX_RANK];   /* -1 where unknown (shape inference only) */
  double scale[SN_MAX_RANK];  /* x_resized / x_original */
  double outw[SN_MAX_RANK];   /* the real-valued output length (scale * input length) */
  double roi0[SN_MAX_RANK], roi1[SN_MAX_RANK];
  bool same[SN_MAX_RANK];     /* output dim is the input dim (for symbolic propagation) */
} resize_geom;

/* Compute output sizes from scales or sizes (exactly one non-NULL). in[] may hold -1 for unknown
 * dims. Returns false with a message in err on invalid arguments. */
static bool resize_geometry(const resize_params *p, int rank, const int64_t *in, const double *scales, int n_scales,
                            const int64_t *sizes, int n_sizes, const double *roi, int n_roi, resize_geom *g, char *err,
                            size_t errn) {
  int ax[SN_MAX_RANK], na = rank;
  g->rank = rank;
  if (p->n_axes) {
    na = p->n_axes;
    bool seen[SN_MAX_RANK] = {0};
    for (int k = 0; k < na; k++) {
      int64_t a = p->axes[k];
      if (a < -rank || a >= rank) {
        snprintf(err, errn, "axis %lld is out of range for rank %d", (long long)a, rank);
        return false;
      }
      ax[k] = (int)(a < 0 ? a + rank : a);
      if (seen[ax[k]]) {
        snprintf(err, errn, "axis %lld appears twice in axes", (long long)a);
        return false;
      }
      seen[ax[k]] = true;
    }
  } else {
    for (int k = 0; k < rank; k++) ax[k] = k;
  }
  for (int i = 0; i < rank; i++) {
    g->out[i] = in[i];
    g->scale[i] = 1;
    g->outw[i] = (double)in[i];
    g->roi0[i] = 0;
    g->roi1[i] = 1;
    g->same[i] = true;
  }
  if (roi && n_roi > 0) {
    if (n_roi != 2 * na) {
      snprintf(err, errn, "roi has %d values, expected %d (starts and ends of %d axes)", n_roi, 2 * na, na);
      return false;
    }
    for (int k = 0; k < na; k++) {
      g->roi0[ax[k]] = roi[k];
      g->roi1[ax[k]] = roi[na + k];
    }
  }
  if (sizes) {
    if (n_sizes != na) {
      snprintf(err, errn, "sizes has %d values, expected %d", n_sizes, na);
      return false;
    }
    for (int k = 0; k < na; k++)
      if (sizes[k] < 0) {
        snprintf(err, errn, "sizes[%d] = %lld is negative", k, (long long)sizes[k]);
        return false;
      }
    if (p->keep == KA_STRETCH) {
      for (int k = 0; k < na; k++) {
        int d = ax[k];
        g->out[d] = sizes[k];
        g->same[d] = in[d] >= 0 && sizes[k] == in[d];
        g->outw[d] = (double)sizes[k];
        g->scale[d] = in[d] > 0 ? (double)sizes[k] / (double)in[d] : 1.0;
      }
    } else {
      double s = 0;
      for (int k = 0; k < na; k++) {
        int d = ax[k];
        if (in[d] < 0) { /* unknown input dim: sizes alone do not fix the output */
          for (int j = 0; j < na; j++) g->out[ax[j]] = -1, g->same[ax[j]] = false;
          return true;
        }
        double r = in[d] > 0 ? (double)sizes[k] / (double)in[d] : 1.0;
        if (k == 0 || (p->keep == KA_NOT_LARGER ? r < s : r > s)) s = r;
      }
      for (int k = 0; k < na; k++) {
        int d = ax[k];
        g->scale[d] = s;
        g->outw[d] = s * (double)in[d];
        g->out[d] = (int64_t)(s * (double)in[d] + 0.5);
        g->same[d] = g->out[d] == in[d];
      }
    }
  } else if (scales) {
    if (n_scales != na) {
      snprintf(err, errn, "scales has %d values, expected %d", n_scales, na);
      return false;
    }
    for (int k = 0; k < na; k++) {
      int d = ax[k];
      double s = scales[k];
      if (!(s > 0) || !isfinite(s)) {
        snprintf(err, errn, "scales[%d] = %g must be positive", k, s);
        return false;
      }
      g->scale[d] = s;
      if (s == 1) continue;
      g->same[d] = false;
      if (in[d] >= 0) {
        double o = s * (double)in[d];
        if (o > 9.0e15) {
          snprintf(err, errn, "scale %g makes axis %d too large", s, d);
          return false;
        }
        g->out[d] = (int64_t)o;
        g->outw[d] = o;
      } else {
        g->out[d] = -1;
      }
    }
  } else {
    snprintf(err, errn, "needs either scales or sizes");
    return false;
  }
  return true;
}

/* ---- shape inference ---------------------------------------------------------------------------- */

/* Float values of a small constant tensor; -1 when it does not fit. */
static int read_doubles(const sn_tensor *t, double *out, int max) {
  if (!t || t->kind != SN_KIND_TENSOR || t->count > max) return -1;
  for (int64_t i = 0; i < t->count; i++) out[i] = sn_load_f64(t->dtype, t->data, i);
  return (int)t->count;
}
static int read_ints(const sn_tensor *t, int64_t *out, int max) {
  if (!t || t->kind != SN_KIND_TENSOR || t->count > max) return -1;
  for (int64_t i = 0; i < t->count; i++) out[i] = sn_load_i64(t->dtype, t->data, i);
  return (int)t->count;
}

/* An optional input that is absent or an empty tensor (Resize-11 passes "" or an empty scales). */
static bool infer_input_empty(const sn_infer_ctx *c, int i) {
  if (i < 0 || i >= c->n_in || !c->in[i]) return true;
  if (c->in_data && c->in_data[i]) return c->in_data[i]->count == 0;
  const sn_type *t = c->in[i];
  return t->rank == 1 && t->dims[0].v == 0;
}

static sn_error *resize_infer(sn_infer_ctx *c) {
  const resize_params *p = c->node->params;
  if (!p) return sn_infer_error(c, "attributes were not prepared");
  if (c->n_in < 1 || !c->in[0]) return sn_infer_error(c, "input X is required");
  const sn_type *X = c->in[0];
  sn_type *Y = c->n_out > 0 ? c->out[0] : NULL;
  if (!Y) return NULL;
  if (X->rank < 0) {
    sn_type_set_unknown(Y, X->dtype);
    return NULL;
  }
  const int rank = X->rank;
  int64_t in[SN_MAX_RANK];
  for (int i = 0; i < rank; i++) in[i] = X->dims[i].v;
  double scales[SN_MAX_RANK], roi[2 * SN_MAX_RANK];
  int64_t sizes[SN_MAX_RANK];
  int ns = -1, nz = -1, nr = 0;
  bool unknown = false;
  if (p->n_attr_scales) {
    ns = p->n_attr_scales;
    memcpy(scales, p->attr_scales, sizeof(double) * (size_t)ns);
  }
  if (!infer_input_empty(c, p->in_sizes)) {
    const sn_tensor *t = c->in_data ? c->in_data[p->in_sizes] : NULL;
    if (t) {
      nz = read_ints(t, sizes, SN_MAX_RANK);
      if (nz < 0) return sn_infer_error(c, "sizes has %lld values; at most %d supported", (long long)t->count, SN_MAX_RANK);
    } else {
      unknown = true;
    }
  } else if (!infer_input_empty(c, p->in_scales)) {
    const sn_tensor *t = c->in_data ? c->in_data[p->in_scales] : NULL;
    if (t) {
      ns = read_doubles(t, scales, SN_MAX_RANK);
      if (ns < 0) return sn_infer_error(c, "scales has %lld values; at most %d supported", (long long)t->count, SN_MAX_RANK);
    } else {
      unknown = true;
    }
  }
  if (p->in_roi >= 0 && !infer_input_empty(c, p->in_roi) && c->in_data && c->in_data[p->in_roi]) {
    nr = read_doubles(c->in_data[p->in_roi], roi, 2 * SN_MAX_RANK);
    if (nr < 0) nr = 0;
  }
  sn_dim d[SN_MAX_RANK];
  if (unknown) {
    /* only the resized axes change */
    bool resized[SN_MAX_RANK] = {0};
    for (int k = 0; k < (p->n_axes ? p->n_axes : rank); k++) {
      int64_t a = p->n_axes ? p->axes[k] : k;
      if (a < 0) a += rank;
      if (a >= 0 && a < rank) resized[a] = true;
    }
    for (int i = 0; i < rank; i++) d[i] = resized[i] ? sn_dim_unknown() : X->dims[i];
    sn_type_set(Y, X->dtype, rank, d);
    return NULL;
  }
  if (ns < 0 && nz < 0) {
    if (p->in_sizes >= 0) return sn_infer_error(c, "needs either scales or sizes");
    return sn_infer_error(c, "needs scales");
  }
  resize_geom g;
  char err[256];
  if (!resize_geometry(p, rank, in, nz >= 0 ? NULL : scales, ns, nz >= 0 ? sizes : NULL, nz, nr ? roi : NULL, nr, &g,
                       err, sizeof err))
    return sn_infer_error(c, "%s", err);
  for (int i = 0; i < rank; i++) d[i] = g.same[i] ? X->dims[i] : g.out[i] >= 0 ? sn_dim_known(g.out[i]) : sn_dim_unknown();
  sn_type_set(Y, X->dtype, rank, d);
  return NULL;
}

/* ---- per-axis sampling tables ----------------------------------------------------------------- */

typedef struct resize_taps {
  int n;             /* taps per output index */
  int64_t *idx;      /* [out * n] input indices, clamped */
  double *w;         /* [out * n] weights */
  uint8_t *extrap;   /* [out] 1: the output is extrapolation_value */
  bool identity;
} resize_taps;

static double resize_coord(const resize_params *p, const resize_geom *g, int d, int64_t in_len, double x, bool *extrap) {
  const double s = g->scale[d], outw = g->outw[d];
  const double len = (double)in_len;
  *extrap = false;
  switch (p->ctm) {
    case CT_HALF_PIXEL: return (x + 0.5) / s - 0.5;
    case CT_HALF_PIXEL_SYMMETRIC: {
      double adj = (double)g->out[d] / outw;
      double center = len / 2;
      return center * (1 - adj) + (x + 0.5) / s - 0.5;
    }
    case CT_PYTORCH_HALF_PIXEL: return g->out[d] > 1 ? (x + 0.5) / s - 0.5 : 0;
    case CT_ALIGN_CORNERS: return outw == 1 ? 0 : x * (len - 1) / (outw - 1);
    case CT_ASYMMETRIC: return x / s;
    case CT_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / s;
    case CT_TF_CROP_AND_RESIZE: {
      double r0 = g->roi0[d], r1 = g->roi1[d], xo;
      if (outw == 1)
        xo = (r1 - r0) * (len - 1) / 2;
      else
        xo = x * (r1 - r0) * (len - 1) / (outw - 1);
      xo += r0 * (len - 1);
      if (xo < 0 || xo > len - 1) *extrap = true;
      return xo;
    }
    default: return x / s;
  }
}

static double cubic_kernel(double x, double A) {
  x = fabs(x);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Guard double -> int64 conversions against huge or NaN coordinates. */
static double tame(double x) { return isnan(x) ? 0 : x < -4.0e15 ? -4.0e15 : x > 4.0e15 ? 4.0e15 : x; }

static sn_error *resize_build_taps(sn_kernel_ctx *c, const resize_params *p, const resize_geom *g, int d, int64_t in_len,
                                   resize_taps *t) {
  const int64_t out = g->out[d];
  int n = 1, start = 0;
  double s_aa = g->scale[d] < 1 ? g->scale[d] : 1;
  if (p->mode == MODE_LINEAR) {
    start = p->antialias ? (int)floor(-1 / s_aa) + 1 : 0;
    n = 2 - 2 * start;
  } else if (p->mode == MODE_CUBIC) {
    start = p->antialias ? (int)floor(-2 / s_aa) + 1 : -1;
    n = 2 - 2 * start;
  }
  if (n > (1 << 24)) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "antialias filter of %d taps is too wide", n);
  t->n = n;
  size_t cnt = (size_t)(out > 0 ? out : 1) * (size_t)n;
  t->idx = sn_kernel_scratch(c, cnt * sizeof(int64_t));
  t->w = sn_kernel_scratch(c, cnt * sizeof(double));
  t->extrap = sn_kernel_scratch(c, (size_t)(out > 0 ? out : 1));
  double *coef = sn_kernel_scratch(c, (size_t)n * sizeof(double));
  if (!t->idx || !t->w || !t->extrap || !coef) return SN_ERR_OOM();
  t->identity = out == in_len;
  const int m = n / 2;
  for (int64_t o = 0; o < out; o++) {
    bool ex;
    double x = tame(resize_coord(p, g, d, in_len, (double)o, &ex));
    t->extrap[o] = ex;
    int64_t *ix = t->idx + o * n;
    double *w = t->w + o * n;
    if (ex) t->identity = false;
    if (p->mode == MODE_NEAREST) {
      double fl = floor(x);
      int64_t i;
      switch (p->nearest) {
        case NM_SIMPLE: i = g->scale[d] < 1 ? (int64_t)ceil(x) : (int64_t)x; break;
        case NM_ROUND_PREFER_FLOOR: i = (int64_t)(x - fl <= 0.5 ? fl : fl + 1); break;
        case NM_ROUND_PREFER_CEIL: i = (int64_t)(x - fl < 0.5 ? fl : fl + 1); break;
        case NM_FLOOR: i = (int64_t)fl; break;
        default: i = (int64_t)ceil(x); break;
      }
      ix[0] = clamp64(i, 0, in_len - 1);
      w[0] = 1;
      if (ix[0] != o) t->identity = false;
      continue;
    }
    /* taps at base + i for i in [start, start + n), base = ceil(x) - 1 so that ratio is in (0, 1] */
    double base = ceil(x) - 1, ratio = x - base;
    double sum = 0;
    for (int k = 0; k < n; k++) {
      double off = (double)(start + k);
      double cw;
      if (p->mode == MODE_LINEAR) {
        if (p->antialias) {
          double a = 1 - fabs((off - ratio) * s_aa);
          cw = a < 0 ? 0 : a > 1 ? 1 : a;
        } else {
          cw = k == 0 ? 1 - ratio : ratio;
        }
      } else {
        cw = cubic_kernel(p->antialias ? s_aa * (off - ratio) : off - ratio, p->cubic_a);
      }
      coef[k] = cw;
      sum += cw;
    }
    if (p->antialias && sum != 0)
      for (int k = 0; k < n; k++) coef[k] /= sum;
    /* the window of n neighbours within the input padded by m on each side (edge padding) */
    int64_t first = (int64_t)base + start;
    if (first < -m) first = -m;
    if (first + n - 1 > in_len - 1 + m) first = in_len - 1 + m - (n - 1);
    if (p->exclude_outside) {
      double s2 = 0;
      for (int k = 0; k < n; k++) {
        int64_t pos = first + k;
        if (pos < 0 || pos >= in_len) coef[k] = 0;
        s2 += coef[k];
      }
      if (s2 != 0)
        for (int k = 0; k < n; k++) coef[k] /= s2;
    }
    double on = 0, off = 0; /* weight on input o, and elsewhere (taps clamped at the edges repeat an index) */
    for (int k = 0; k < n; k++) {
      ix[k] = clamp64(first + k, 0, in_len - 1);
      w[k] = coef[k];
      if (ix[k] == o)
        on += w[k];
      else
        off += fabs(w[k]);
    }
    if (on != 1.0 || off != 0) t->identity = false;
  }
  return NULL;
}

/* ---- kernels -------------------------------------------------------------------------------------- */

static double resize_round_sat(sn_dtype dt, double v) {
  double lo, hi;
  switch (dt) {
    case SINTER_INT8: lo = -128, hi = 127; break;
    case SINTER_UINT8: lo = 0, hi = 255; break;
    case SINTER_INT16: lo = -32768, hi = 32767; break;
    case SINTER_UINT16: lo = 0, hi = 65535; break;
    case SINTER_INT32: lo = -2147483648.0, hi = 2147483647.0; break;
    case SINTER_UINT32: lo = 0, hi = 4294967295.0; break;
    case SINTER_INT64: lo = -9.2233720368547758e18, hi = 9.2233720368547748e18; break;
    case SINTER_UINT64: lo = 0, hi = 1.8446744073709550e19; break;
    default: return v;
  }
  if (isnan(v)) return 0;
  v = nearbyint(v);
  return v < lo ? lo : v > hi ? hi : v;
}

static void resize_store(sn_dtype dt, void *base, int64_t i, double v) {
  if (dt == SINTER_FLOAT) {
    ((float *)base)[i] = (float)v;
  } else if (dt == SINTER_DOUBLE) {
    ((double *)base)[i] = v;
  } else if (sn_dt(dt)->is_int) {
    double r = resize_round_sat(dt, v);
    if (dt == SINTER_UINT64)
      ((uint64_t *)base)[i] = (uint64_t)r;
    else
      sn_store_i64(dt, base, i, (int64_t)r);
  } else {
    sn_store_f64(dt, base, i, v);
  }
}

static void contiguous_strides(int rank, const int64_t *dims, int64_t *st) {
  int64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    st[i] = s;
    s *= dims[i];
  }
}

/* Nearest: a gather of whole elements, any element type, in parts of the output's rows over the
 * pool. A row whose source row is the previous one's (upsampling by a whole factor repeats each) is
 * a copy of it; a row with no extrapolated element gathers without checks (4-byte elements as such). */
typedef struct nearest_job {
  const sn_tensor *X;
  sn_tensor *Y;
  const resize_taps *taps;
  const void *ex_elem;
  int64_t ist[SN_MAX_RANK];
  int64_t nl, rows;
  bool last_ex; /* some element of a row extrapolates */
} nearest_job;

static void nearest_rows(void *arg, int64_t r0, int64_t r1) {
  const nearest_job *j = arg;
  const sn_tensor *X = j->X, *Y = j->Y;
  const resize_taps *taps = j->taps;
  const int last = X->rank - 1;
  const size_t es = sn_dtype_size(X->dtype);
  const uint8_t *src = X->data;
  uint8_t *dst = Y->data;
  const int64_t nl = j->nl;
  const resize_taps *tl = &taps[last];
  int64_t ctr[SN_MAX_RANK] = {0};
  for (int64_t o = r0, d = last - 1; d >= 0; d--) { /* (row r0's index) */
    ctr[d] = o % Y->dims[d];
    o /= Y->dims[d];
  }
  int64_t prev_base = -1;
  bool prev_ex = true;
  for (int64_t o = r0; o < r1; o++) {
    int64_t base = 0;
    bool ex = false;
    for (int d = 0; d < last; d++) {
      base += taps[d].idx[ctr[d]] * j->ist[d];
      ex |= taps[d].extrap[ctr[d]] != 0;
    }
    uint8_t *row = dst + (size_t)(o * nl) * es;
    if (o > r0 && !ex && !prev_ex && base == prev_base) {
      memcpy(row, row - (size_t)nl * es, (size_t)nl * es);
    } else if (!ex && !j->last_ex && es == 4) {
      const uint32_t *s = (const uint32_t *)(src + (size_t)base * 4);
      uint32_t *r = (uint32_t *)row;
      for (int64_t k = 0; k < nl; k++) r[k] = s[tl->idx[k]];
    } else {
      for (int64_t k = 0; k < nl; k++) {
        const void *from = (ex || tl->extrap[k]) ? j->ex_elem : src + (size_t)(base + tl->idx[k]) * es;
        switch (es) {
          case 1: row[k] = *(const uint8_t *)from; break;
          case 2: memcpy(row + 2 * k, from, 2); break;
          case 4: memcpy(row + 4 * k, from, 4); break;
          case 8: memcpy(row + 8 * k, from, 8); break;
          default: memcpy(row + (size_t)k * es, from, es); break;
        }
      }
    }
    prev_base = base;
    prev_ex = ex || j->last_ex;
    for (int d = last - 1; d >= 0; d--) {
      if (++ctr[d] < Y->dims[d]) break;
      ctr[d] = 0;
    }
  }
}

static void resize_nearest_gather(sn_kernel_ctx *c, const sn_tensor *X, sn_tensor *Y, const resize_taps *taps,
                                  const void *ex_elem) {
  const int rank = X->rank;
  const size_t es = sn_dtype_size(X->dtype);
  if (Y->count == 0) return;
  if (rank == 0) {
    memcpy(Y->data, X->data, es);
    return;
  }
  nearest_job j = {X, Y, taps, ex_elem, {0}, Y->dims[rank - 1], 0, false};
  contiguous_strides(rank, X->dims, j.ist);
  j.rows = Y->count / (j.nl ? j.nl : 1);
  for (int64_t k = 0; k < j.nl; k++) j.last_ex |= taps[rank - 1].extrap[k] != 0;
  /* parts of at least 64 KiB of output */
  int64_t parts = (int64_t)((size_t)Y->count * es / 65536) + 1;
  sn_threadpool *tp = sn_kernel_pool(c);
  if (parts > sn_threadpool_size(tp)) parts = sn_threadpool_size(tp);
  if (parts > j.rows) parts = j.rows;
  if (parts <= 1) {
    nearest_rows(&j, 0, j.rows);
    return;
  }
  sn_parallel_for(tp, j.rows, nearest_rows, &j);
}

/* One separable pass over axis d: dst (cur dims with axis d = out) from src (cur dims). */
static void resize_pass(const double *src, double *dst, int rank, const int64_t *cur, int d, int64_t out,
                        const resize_taps *t, double extrap) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; i++) outer *= cur[i];
  for (int i = d + 1; i < rank; i++) inner *= cur[i];
  const int64_t in_len = cur[d];
  for (int64_t o = 0; o < outer; o++) {
    const double *s0 = src + o * in_len * inner;
    for (int64_t j = 0; j < out; j++) {
      double *row = dst + (o * out + j) * inner;
      if (t->extrap[j]) {
        for (int64_t k = 0; k < inner; k++) row[k] = extrap;
        continue;
      }
      for (int64_t k = 0; k < inner; k++) row[k] = 0;
      for (int q = 0; q < t->n; q++) {
        double w = t->w[j * t->n + q];
        if (w == 0) continue;
        const double *sr = s0 + t->idx[j * t->n + q] * inner;
        for (int64_t k = 0; k < inner; k++) row[k] += w * sr[k];
      }
    }
  }
}

/* float32 linear / cubic resizing of the last two axes only (the NCHW maps of segmentation heads and
 * upsampling decoders; a 1-D last axis too), without extrapolation. Per output row: its input rows
 * blended into one row of the input width, then each output element from its taps in that row; the
 * rows shared out over the pool. Float32 sums, as ONNX Runtime computes them (the general path below
 * works in double, one separable pass at a time: 16 ms for LRASPP's 21 x 32 x 32 -> 256 x 256, now
 * under 1). */
typedef struct rz2_job {
  const float *x;
  float *y;
  int64_t planes, ih, iw, oh, ow;
  int nh, nw_taps;         /* taps per output row / column */
  const int32_t *hi, *wi;  /* their input indices */
  const float *hw, *ww;    /* and weights */
  float *tmp;              /* per worker: iw floats, or RZ2_LINES lines of ow */
  int64_t tmp_stride, line_stride;
  bool lines;              /* upsampling rows: horizontal pass first, per input row */
  int nw;
} rz2_job;

enum { RZ2_LINES = 8 }; /* twice the most taps a row blends (cubic: 4) */

/* the horizontal taps applied to one row xr: ow floats into h */
static void rz2_hline(const rz2_job *j, const float *restrict xr, float *restrict h) {
  const int32_t *restrict wi = j->wi;
  const float *restrict ww = j->ww;
  const int64_t ow = j->ow;
  if (j->nw_taps == 2) {
    for (int64_t o = 0; o < ow; o++) h[o] = ww[2 * o] * xr[wi[2 * o]] + ww[2 * o + 1] * xr[wi[2 * o + 1]];
  } else {
    const int n = j->nw_taps;
    for (int64_t o = 0; o < ow; o++) {
      float acc = 0;
      for (int q = 0; q < n; q++) acc += ww[o * n + q] * xr[wi[o * n + q]];
      h[o] = acc;
    }
  }
}

static void rz2_worker(void *arg, int w) {
  const rz2_job *j = arg;
  const int64_t rows = j->planes * j->oh, r0 = w * rows / j->nw, r1 = (w + 1) * rows / j->nw, iw = j->iw;
  float *t = j->tmp + w * j->tmp_stride;
  if (j->lines) {
    /* upsampling rows: each input row's horizontal pass once (a line), each output row a blend of
     * its lines; lines[RZ2_LINES] recently made, found by (plane, input row) */
    float *line[RZ2_LINES];
    int64_t tag[RZ2_LINES];
    for (int k = 0; k < RZ2_LINES; k++) line[k] = t + k * j->line_stride, tag[k] = -1;
    int next = 0;
    for (int64_t r = r0; r < r1; r++) {
      const int64_t p = r / j->oh, oy = r % j->oh;
      const int32_t *hi = j->hi + oy * j->nh;
      const float *hw = j->hw + oy * j->nh;
      const float *src[RZ2_LINES];
      for (int q = 0; q < j->nh; q++) {
        const int64_t key = p * j->ih + hi[q];
        int k = 0;
        while (k < RZ2_LINES && tag[k] != key) k++;
        if (k == RZ2_LINES) { /* (the oldest goes: rows advance, so it is not one of this row's) */
          k = next;
          next = (next + 1) % RZ2_LINES;
          rz2_hline(j, j->x + key * iw, line[k]);
          tag[k] = key;
        }
        src[q] = line[k];
      }
      float *restrict yr = j->y + r * j->ow;
      const int64_t ow = j->ow;
      const float w0 = hw[0];
      const float *restrict s0 = src[0];
      if (j->nh == 2 && hw[1] != 0) { /* (one pass over the row: linear) */
        const float w1 = hw[1];
        const float *restrict s1 = src[1];
        for (int64_t o = 0; o < ow; o++) yr[o] = w0 * s0[o] + w1 * s1[o];
        continue;
      }
      for (int64_t o = 0; o < ow; o++) yr[o] = w0 * s0[o];
      for (int q = 1; q < j->nh; q++) {
        const float wq = hw[q];
        const float *restrict sq = src[q];
        if (wq != 0)
          for (int64_t o = 0; o < ow; o++) yr[o] += wq * sq[o];
      }
    }
    return;
  }
  for (int64_t r = r0; r < r1; r++) {
    const int64_t p = r / j->oh, oy = r % j->oh;
    const float *xp = j->x + p * j->ih * iw;
    const int32_t *hi = j->hi + oy * j->nh;
    const float *hw = j->hw + oy * j->nh;
    const float *s0 = xp + (int64_t)hi[0] * iw;
    const float w0 = hw[0];
    for (int64_t x = 0; x < iw; x++) t[x] = w0 * s0[x];
    for (int q = 1; q < j->nh; q++) {
      const float *sq = xp + (int64_t)hi[q] * iw;
      const float wq = hw[q];
      if (wq != 0)
        for (int64_t x = 0; x < iw; x++) t[x] += wq * sq[x];
    }
    rz2_hline(j, t, j->y + r * j->ow);
  }
}

/* true when it ran: X float32, rank >= 1, every axis before the last two unchanged, no extrapolated
 * output on the last two */
static bool resize_last2_f32(sn_kernel_ctx *c, const sn_tensor *X, sn_tensor *Y, const resize_taps *taps, bool *oom) {
  *oom = false;
  const int rank = X->rank;
  if (X->dtype != SINTER_FLOAT || rank < 1) return false;
  const int dh = rank - 2; /* -1: no H axis (rank 1) */
  for (int d = 0; d < dh; d++)
    if (!taps[d].identity || Y->dims[d] != X->dims[d]) return false;
  const int64_t ih = dh >= 0 ? X->dims[dh] : 1, iw = X->dims[rank - 1];
  const int64_t oh = dh >= 0 ? Y->dims[dh] : 1, ow = Y->dims[rank - 1];
  if (ih > INT32_MAX || iw > INT32_MAX || ih == 0 || iw == 0) return false;
  for (int64_t o = 0; o < ow; o++)
    if (taps[rank - 1].extrap[o]) return false;
  for (int64_t o = 0; dh >= 0 && o < oh; o++)
    if (taps[dh].extrap[o]) return false;
  const int nh = dh >= 0 ? taps[dh].n : 1, nwt = taps[rank - 1].n;
  int32_t *hi = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(oh * nh));
  int32_t *wi = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(ow * nwt));
  float *hw = sn_kernel_scratch(c, sizeof(float) * (size_t)(oh * nh));
  float *ww = sn_kernel_scratch(c, sizeof(float) * (size_t)(ow * nwt));
  if (!hi || !wi || !hw || !ww) {
    *oom = true;
    return false;
  }
  for (int64_t k = 0; k < oh * nh; k++) {
    hi[k] = dh >= 0 ? (int32_t)taps[dh].idx[k] : 0;
    hw[k] = dh >= 0 ? (float)taps[dh].w[k] : 1.0f;
  }
  for (int64_t k = 0; k < ow * nwt; k++) {
    wi[k] = (int32_t)taps[rank - 1].idx[k];
    ww[k] = (float)taps[rank - 1].w[k];
  }
  rz2_job j = {X->data, Y->data, X->count / (ih * iw), ih, iw, oh, ow, nh, nwt, hi, wi, hw, ww, NULL,
               (iw + 15) / 16 * 16, (ow + 15) / 16 * 16, false, 1};
  /* more output rows than input rows (and few enough taps): the horizontal pass (a gather per output
   * element) once per input row instead of once per output row; the vertical blend then vectorizes */
  if (oh > ih && 2 * nh <= RZ2_LINES) {
    j.lines = true;
    j.tmp_stride = RZ2_LINES * j.line_stride;
  }
  int64_t rows = j.planes * oh;
  j.nw = sn_nn_workers(c, (double)Y->count * (double)(nwt + 1) + (double)rows * (double)(iw * nh));
  if (j.nw > rows) j.nw = (int)rows;
  if (j.nw < 1) j.nw = 1;
  j.tmp = sn_kernel_scratch(c, sizeof(float) * (size_t)(j.tmp_stride * j.nw));
  if (!j.tmp) {
    *oom = true;
    return false;
  }
  sn_nn_run(c, j.nw, rz2_worker, &j);
  return true;
}

static const sn_tensor *kin(const sn_kernel_ctx *c, int i) {
  return (i >= 0 && i < c->n_in && c->in[i] && c->in[i]->count > 0) ? c->in[i] : NULL;
}

static sn_error *resize_run(sn_kernel_ctx *c) {
  const resize_params *p = c->params;
  const sn_tensor *X = c->in[0];
  char b1[160], err[256];
  if (!X || X->kind != SN_KIND_TENSOR) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input X must be a tensor");
  const sn_dtype dt = X->dtype;
  if (dt == SINTER_STRING || dt == SINTER_BOOL)
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(dt));
  const int rank = X->rank;
  double scales[SN_MAX_RANK], roi[2 * SN_MAX_RANK];
  int64_t sizes[SN_MAX_RANK];
  int ns = -1, nz = -1, nr = 0;
  const sn_tensor *tsz = kin(c, p->in_sizes), *tsc = kin(c, p->in_scales), *troi = kin(c, p->in_roi);
  if (p->n_attr_scales) {
    ns = p->n_attr_scales;
    memcpy(scales, p->attr_scales, sizeof(double) * (size_t)ns);
  }
  if (tsz) {
    nz = read_ints(tsz, sizes, SN_MAX_RANK);
    if (nz < 0)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "sizes %s has too many values for input %s",
                             sn_tensor_describe(tsz, b1, sizeof b1), sn_tensor_describe(X, err, sizeof err));
  } else if (tsc) {
    ns = read_doubles(tsc, scales, SN_MAX_RANK);
    if (ns < 0)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "scales %s has too many values for input %s",
                             sn_tensor_describe(tsc, b1, sizeof b1), sn_tensor_describe(X, err, sizeof err));
  }
  if (troi && p->ctm == CT_TF_CROP_AND_RESIZE) {
    nr = read_doubles(troi, roi, 2 * SN_MAX_RANK);
    if (nr < 0) nr = 0;
  }
  if (ns < 0 && nz < 0) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "needs either scales or sizes");
  resize_geom g;
  if (!resize_geometry(p, rank, X->dims, nz >= 0 ? NULL : scales, ns, nz >= 0 ? sizes : NULL, nz, nr ? roi : NULL, nr,
                       &g, err, sizeof err))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (input %s)", err, sn_tensor_describe(X, b1, sizeof b1));
  for (int d = 0; d < rank; d++)
    if (X->dims[d] == 0 && g.out[d] > 0)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "cannot resize empty axis %d of input %s to %lld", d,
                             sn_tensor_describe(X, b1, sizeof b1), (long long)g.out[d]);
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, dt, rank, g.out, &Y));
  if (Y->count == 0) return NULL;

  resize_taps taps[SN_MAX_RANK];
  for (int d = 0; d < rank; d++) SN_TRY(resize_build_taps(c, p, &g, d, X->dims[d], &taps[d]));

  if (p->mode == MODE_NEAREST) {
    uint64_t ex_elem = 0;
    resize_store(dt, &ex_elem, 0, p->extrapolation);
    resize_nearest_gather(c, X, Y, taps, &ex_elem);
    return NULL;
  }

  bool oom;
  if (resize_last2_f32(c, X, Y, taps, &oom)) return NULL;
  if (oom) return SN_ERR_OOM();

  /* linear / cubic: separable passes in double, downsampling axes first */
  int order[SN_MAX_RANK], n_pass = 0;
  for (int d = 0; d < rank; d++)
    if (!taps[d].identity) order[n_pass++] = d;
  for (int i = 1; i < n_pass; i++) /* insertion sort by out/in ratio */
    for (int j = i; j > 0; j--) {
      int a = order[j - 1], b = order[j];
      if ((double)g.out[a] * (double)X->dims[b] <= (double)g.out[b] * (double)X->dims[a]) break;
      order[j - 1] = b, order[j] = a;
    }
  int64_t cur[SN_MAX_RANK];
  memcpy(cur, X->dims, sizeof(int64_t) * (size_t)rank);
  int64_t biggest = X->count;
  for (int i = 0; i < n_pass; i++) {
    cur[order[i]] = g.out[order[i]];
    int64_t n = sn_shape_count(rank, cur);
    if (n > biggest) biggest = n;
  }
  double *bufa = sn_kernel_scratch(c, (size_t)biggest * sizeof(double) + 8);
  double *bufb = n_pass > 1 ? sn_kernel_scratch(c, (size_t)biggest * sizeof(double) + 8) : NULL;
  if (!bufa || (n_pass > 1 && !bufb)) return SN_ERR_OOM();
  if (dt == SINTER_FLOAT) {
    const float *xs = X->data;
    for (int64_t i = 0; i < X->count; i++) bufa[i] = xs[i];
  } else {
    for (int64_t i = 0; i < X->count; i++) bufa[i] = sn_load_f64(dt, X->data, i);
  }
  memcpy(cur, X->dims, sizeof(int64_t) * (size_t)rank);
  double *src = bufa, *dst = bufb;
  for (int i = 0; i < n_pass; i++) {
    int d = order[i];
    if (i == 0 && n_pass == 1) {
      dst = sn_kernel_scratch(c, (size_t)Y->count * sizeof(double) + 8);
      if (!dst) return SN_ERR_OOM();
    }
    resize_pass(src, dst, rank, cur, d, g.out[d], &taps[d], p->extrapolation);
    cur[d] = g.out[d];
    double *tmp = src;
    src = dst;
    dst = tmp;
  }
  if (dt == SINTER_FLOAT) {
    float *ys = Y->data;
    for (int64_t i = 0; i < Y->count; i++) ys[i] = (float)src[i];
  } else {
    for (int64_t i = 0; i < Y->count; i++) resize_store(dt, Y->data, i, src[i]);
  }
  return NULL;
}

/* Resize 10 (scales only, asymmetric), 11 (roi, sizes, coordinate modes, cubic), 13 (optional roi
 * and scales, tf_half_pixel_for_nn dropped), 18 (antialias, axes, keep_aspect_ratio_policy),
 * 19 (half_pixel_symmetric); the version differences are read in prepare. Upsample 7 (scales
 * attribute) and 9 (scales input); deprecated at 10. */
const sn_op sn_ops_resize[] = {
    {"", "Resize", 10, 10, resize_infer, resize_run, resize_prepare, resize_free_params, 0},
    {"", "Resize", 11, 12, resize_infer, resize_run, resize_prepare, resize_free_params, 0},
    {"", "Resize", 13, 17, resize_infer, resize_run, resize_prepare, resize_free_params, 0},
    {"", "Resize", 18, 18, resize_infer, resize_run, resize_prepare, resize_free_params, 0},
    {"", "Resize", 19, 0, resize_infer, resize_run, resize_prepare, resize_free_params, 0},
    {"", "Upsample", 7, 8, resize_infer, resize_run, upsample_prepare, resize_free_params, 0},
    {"", "Upsample", 9, 9, resize_infer, resize_run, upsample_prepare, resize_free_params, 0},
    {0},
};
