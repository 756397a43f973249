/* Image and detection ops: NonMaxSuppression (opsets 10, 11), GridSample (16; 20 and 22: N-d, mode
 * names linear/cubic), RoiAlign (10; 16 and 22: coordinate_transformation_mode), MaxRoiPool (1, 22),
 * AffineGrid (20) and Col2Im (18). Arithmetic in double. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/ref/nn_util.h"
#include "ops/common.h"

/* ---- helpers ------------------------------------------------------------------------------------- */

static const sn_type *tin(const sn_infer_ctx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }
static const sn_tensor *cin(const sn_infer_ctx *c, int i) { return (i < c->n_in && c->in_data) ? c->in_data[i] : NULL; }
static sn_type *tout(const sn_infer_ctx *c, int i) { return i < c->n_out ? c->out[i] : NULL; }
static const sn_tensor *kin(const sn_kernel_ctx *c, int i) {
  return (i < c->n_in && c->in[i] && c->in[i]->kind == SN_KIND_TENSOR) ? c->in[i] : NULL;
}

static bool img_float_type(sn_dtype dt) {
  return dt == SINTER_FLOAT || dt == SINTER_DOUBLE || dt == SINTER_FLOAT16 || dt == SINTER_BFLOAT16;
}
static bool img_numeric_type(sn_dtype dt) {
  return img_float_type(dt) || (sn_dt(dt)->is_int && dt != SINTER_INT4 && dt != SINTER_UINT4);
}

/* Small integer vector from a known tensor; -1 if it does not fit or is not integer. */
static int read_ints(const sn_tensor *t, int64_t *out, int max) {
  if (!t || t->kind != SN_KIND_TENSOR || t->count > max || !sn_dt(t->dtype)->is_int) return -1;
  for (int64_t i = 0; i < t->count; i++) out[i] = sn_load_i64(t->dtype, t->data, i);
  return (int)t->count;
}

static void img_free_params(void *p) { sn_free(p); }

/* ---- NonMaxSuppression ------------------------------------------------------------------------------ */

static sn_error *nms_infer(sn_infer_ctx *c) {
  const sn_type *B = tin(c, 0), *S = tin(c, 1);
  if (!B || !S) return sn_infer_error(c, "inputs boxes and scores are required");
  if (B->rank >= 0 && B->rank != 3) return sn_infer_error(c, "boxes must be [batch, boxes, 4], got rank %d", B->rank);
  if (S->rank >= 0 && S->rank != 3) return sn_infer_error(c, "scores must be [batch, classes, boxes], got rank %d", S->rank);
  if (B->rank == 3 && B->dims[2].v >= 0 && B->dims[2].v != 4)
    return sn_infer_error(c, "boxes must be [batch, boxes, 4], last dim is %lld", (long long)B->dims[2].v);
  sn_dim d[2] = {sn_dim_unknown(), sn_dim_known(3)};
  if (tout(c, 0)) sn_type_set(tout(c, 0), SINTER_INT64, 2, d);
  return NULL;
}

typedef struct nms_cand {
  double score;
  int64_t idx;
} nms_cand;

static int nms_cmp(const void *a, const void *b) {
  const nms_cand *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* corners (ymin, xmin, ymax, xmax) of a box */
static void nms_corners(const double *b, bool center, double *o) {
  if (center) {
    o[0] = b[1] - b[3] / 2, o[2] = b[1] + b[3] / 2;
    o[1] = b[0] - b[2] / 2, o[3] = b[0] + b[2] / 2;
  } else {
    o[0] = fmin(b[0], b[2]), o[2] = fmax(b[0], b[2]);
    o[1] = fmin(b[1], b[3]), o[3] = fmax(b[1], b[3]);
  }
}

static bool nms_suppress(const double *a, const double *b, double iou_thr) {
  double ix0 = fmax(a[1], b[1]), ix1 = fmin(a[3], b[3]);
  if (ix1 <= ix0) return false;
  double iy0 = fmax(a[0], b[0]), iy1 = fmin(a[2], b[2]);
  if (iy1 <= iy0) return false;
  double inter = (ix1 - ix0) * (iy1 - iy0);
  double a1 = (a[3] - a[1]) * (a[2] - a[0]), a2 = (b[3] - b[1]) * (b[2] - b[0]);
  double uni = a1 + a2 - inter;
  if (inter <= 0 || a1 <= 0 || a2 <= 0 || uni <= 0) return false;
  return inter / uni > iou_thr;
}

/* The boxes selected so far for one class, indexed by the buckets of x their extent covers: a
 * candidate is checked only against the selected boxes that share a bucket with it (boxes apart in x
 * cannot overlap: the same decisions as checking every selected box). torchvision's batched NMS
 * offsets each class's boxes apart and runs one class of all of them: SSDlite sends 27000 candidates
 * and keeps 5760, which took 520 ms checked pairwise. Boxes spanning more than NMS_WIDE buckets go
 * to a list every candidate checks. */
enum { NMS_WIDE = 64, NMS_MAX_BUCKETS = 4096 };

typedef struct nms_index {
  double x0, inv_w; /* bucket of x: floor((x - x0) * inv_w), clamped */
  int64_t nb;
  int64_t *head;     /* [nb] first node of each bucket, -1: none */
  int64_t *next, *box; /* nodes: the next node in the bucket and the selected box */
  int64_t n_nodes, cap;
  int64_t *wide;     /* boxes in no bucket */
  int64_t n_wide;
} nms_index;

static int64_t nms_bucket(const nms_index *ix, double x) {
  double b = floor((x - ix->x0) * ix->inv_w);
  /* (a NaN corner: bucket 0; such a box overlaps nothing, wherever it is kept) */
  return !(b >= 0) ? 0 : b >= (double)ix->nb ? ix->nb - 1 : (int64_t)b;
}

/* true when box bx (corners) overlaps a selected box by more than iou_thr */
static bool nms_hit(const nms_index *ix, const double *corners, const double *bx, double iou_thr) {
  for (int64_t w = 0; w < ix->n_wide; w++)
    if (nms_suppress(bx, corners + ix->wide[w] * 4, iou_thr)) return true;
  int64_t b0 = nms_bucket(ix, bx[1]), b1 = nms_bucket(ix, bx[3]);
  for (int64_t b = b0; b <= b1; b++)
    for (int64_t n = ix->head[b]; n >= 0; n = ix->next[n])
      if (nms_suppress(bx, corners + ix->box[n] * 4, iou_thr)) return true;
  return false;
}

/* add selected box k; false on OOM */
static bool nms_add(nms_index *ix, const double *corners, int64_t k) {
  const double *bx = corners + k * 4;
  int64_t b0 = nms_bucket(ix, bx[1]), b1 = nms_bucket(ix, bx[3]);
  if (b1 - b0 + 1 > NMS_WIDE) {
    ix->wide[ix->n_wide++] = k;
    return true;
  }
  if (ix->n_nodes + (b1 - b0 + 1) > ix->cap) {
    int64_t cap = ix->cap * 2 + NMS_WIDE;
    int64_t *nx = sn_realloc(ix->next, (size_t)cap * sizeof(int64_t));
    if (!nx) return false;
    ix->next = nx;
    int64_t *bxs = sn_realloc(ix->box, (size_t)cap * sizeof(int64_t));
    if (!bxs) return false;
    ix->box = bxs;
    ix->cap = cap;
  }
  for (int64_t b = b0; b <= b1; b++) {
    ix->box[ix->n_nodes] = k;
    ix->next[ix->n_nodes] = ix->head[b];
    ix->head[b] = ix->n_nodes++;
  }
  return true;
}

static sn_error *nms_run(sn_kernel_ctx *c) {
  const sn_tensor *B = kin(c, 0), *S = kin(c, 1), *M = kin(c, 2), *I = kin(c, 3), *T = kin(c, 4);
  char b1[160], b2[160];
  if (!B || !S) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "inputs boxes and scores are required");
  if (!img_float_type(B->dtype) || !img_float_type(S->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "boxes/scores of type %s/%s are not supported",
                           sn_dtype_name(B->dtype), sn_dtype_name(S->dtype));
  if (B->rank != 3 || B->dims[2] != 4 || S->rank != 3 || S->dims[0] != B->dims[0] || S->dims[2] != B->dims[1])
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                           "boxes %s and scores %s must be [batch, boxes, 4] and [batch, classes, boxes]",
                           sn_tensor_describe(B, b1, sizeof b1), sn_tensor_describe(S, b2, sizeof b2));
  const bool center = sn_attr_int(c->node, "center_point_box", 0) != 0;
  int64_t max_out = 0;
  double iou_thr = 0, score_thr = 0;
  bool use_score = false;
  if (M && M->count > 0) {
    if (!sn_dt(M->dtype)->is_int)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "max_output_boxes_per_class must be int64");
    max_out = sn_load_i64(M->dtype, M->data, 0);
  }
  if (I && I->count > 0) iou_thr = sn_load_f64(I->dtype, I->data, 0);
  if (T && T->count > 0) {
    score_thr = sn_load_f64(T->dtype, T->data, 0);
    use_score = true;
  }
  const int64_t nb = B->dims[0], nc = S->dims[1], nbox = B->dims[1];
  if (max_out < 0) max_out = 0;
  if (max_out > nbox) max_out = nbox;
  const double *boxes, *scores;
  SN_TRY(sn_op_f64_view(c, B, &boxes));
  SN_TRY(sn_op_f64_view(c, S, &scores));
  const size_t nbx = (size_t)(nbox ? nbox : 1);
  double *corners = sn_kernel_scratch(c, nbx * 4 * sizeof(double));
  nms_cand *cand = sn_kernel_scratch(c, nbx * sizeof(nms_cand));
  nms_index ix = {0};
  ix.head = sn_kernel_scratch(c, NMS_MAX_BUCKETS * sizeof(int64_t));
  ix.wide = sn_kernel_scratch(c, nbx * sizeof(int64_t));
  size_t cap = 64, n_res = 0;
  int64_t *res = sn_malloc(cap * 3 * sizeof(int64_t));
  sn_error *err = NULL;
  if (!corners || !cand || !ix.head || !ix.wide || !res) {
    err = SN_ERR_OOM();
    goto done;
  }
  for (int64_t bi = 0; bi < nb && max_out > 0; bi++) {
    for (int64_t k = 0; k < nbox; k++) nms_corners(boxes + (bi * nbox + k) * 4, center, corners + k * 4);
    for (int64_t ci = 0; ci < nc; ci++) {
      const double *sc = scores + (bi * nc + ci) * nbox;
      int64_t nk = 0;
      double xlo = INFINITY, xhi = -INFINITY;
      for (int64_t k = 0; k < nbox; k++)
        if (!use_score || sc[k] > score_thr) {
          cand[nk].score = sc[k], cand[nk].idx = k, nk++;
          xlo = fmin(xlo, corners[k * 4 + 1]), xhi = fmax(xhi, corners[k * 4 + 3]);
        }
      qsort(cand, (size_t)nk, sizeof *cand, nms_cmp);
      /* about one candidate per bucket; one bucket when x has no usable extent (or NaN) */
      ix.nb = nk < NMS_MAX_BUCKETS ? (nk > 0 ? nk : 1) : NMS_MAX_BUCKETS;
      ix.x0 = xlo;
      ix.inv_w = xhi > xlo && isfinite(xhi - xlo) ? (double)ix.nb / (xhi - xlo) : 0;
      if (ix.inv_w == 0) ix.nb = 1;
      for (int64_t b = 0; b < ix.nb; b++) ix.head[b] = -1;
      ix.n_nodes = ix.n_wide = 0;
      int64_t ns = 0;
      for (int64_t k = 0; k < nk && ns < max_out; k++) {
        if (nms_hit(&ix, corners, corners + cand[k].idx * 4, iou_thr)) continue;
        if (!nms_add(&ix, corners, cand[k].idx)) {
          err = SN_ERR_OOM();
          goto done;
        }
        ns++;
        if (n_res == cap) {
          int64_t *nr = sn_realloc(res, cap * 2 * 3 * sizeof(int64_t));
          if (!nr) {
            err = SN_ERR_OOM();
            goto done;
          }
          res = nr;
          cap *= 2;
        }
        res[n_res * 3] = bi, res[n_res * 3 + 1] = ci, res[n_res * 3 + 2] = cand[k].idx;
        n_res++;
      }
    }
  }
  int64_t od[2] = {(int64_t)n_res, 3};
  sn_tensor *Y;
  err = sn_kernel_output(c, 0, SINTER_INT64, 2, od, &Y);
  if (!err && n_res) memcpy(Y->data, res, n_res * 3 * sizeof(int64_t));
done:
  sn_free(res);
  sn_free(ix.next);
  sn_free(ix.box);
  return err;
}

/* ---- GridSample --------------------------------------------------------------------------------------- */

enum { GS_LINEAR, GS_NEAREST, GS_CUBIC };
enum { GS_ZEROS, GS_BORDER, GS_REFLECTION };

typedef struct gs_params {
  int mode, padding;
  bool align;
} gs_params;

static sn_error *gs_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  char nd[160];
  const bool v20 = n->opset >= 20;
  const char *mode = sn_attr_str(n, "mode", v20 ? "linear" : "bilinear");
  const char *pad = sn_attr_str(n, "padding_mode", "zeros");
  int m, pm;
  /* both spellings are accepted at every version (opset 20 renamed bilinear/bicubic) */
  if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear"))
    m = GS_LINEAR;
  else if (!strcmp(mode, "nearest"))
    m = GS_NEAREST;
  else if (!strcmp(mode, "cubic") || !strcmp(mode, "bicubic"))
    m = GS_CUBIC;
  else
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: mode '%s' is not one of %s", sn_node_desc(n, nd, sizeof nd), mode,
                     v20 ? "linear, nearest, cubic" : "bilinear, nearest, bicubic");
  if (!strcmp(pad, "zeros"))
    pm = GS_ZEROS;
  else if (!strcmp(pad, "border"))
    pm = GS_BORDER;
  else if (!strcmp(pad, "reflection"))
    pm = GS_REFLECTION;
  else
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: padding_mode '%s' is not one of zeros, border, reflection",
                     sn_node_desc(n, nd, sizeof nd), pad);
  gs_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  p->mode = m;
  p->padding = pm;
  p->align = sn_attr_int(n, "align_corners", 0) != 0;
  *params = p;
  return NULL;
}

static sn_error *gs_infer(sn_infer_ctx *c) {
  const sn_type *X = tin(c, 0), *G = tin(c, 1);
  if (!X || !G) return sn_infer_error(c, "inputs X and grid are required");
  if (G->dtype && !img_float_type(G->dtype))
    return sn_infer_error(c, "grid type %s is not supported (float types only)", sn_dtype_name(G->dtype));
  if (X->rank >= 0 && X->rank < 3) return sn_infer_error(c, "X must have rank >= 3 ([N, C, D1, ...]), got %d", X->rank);
  if (c->opset < 20 && X->rank >= 0 && X->rank != 4)
    return sn_infer_error(c, "X must be 4-D (N, C, H, W) at opset %d, got rank %d", c->opset, X->rank);
  if (X->rank >= 0 && G->rank >= 0 && G->rank != X->rank)
    return sn_infer_error(c, "grid must have rank %d (as X), got %d", X->rank, G->rank);
  if (G->rank == 0) return sn_infer_error(c, "grid must have rank >= 3");
  if (G->rank > 0 && G->dims[G->rank - 1].v >= 0 && G->dims[G->rank - 1].v != G->rank - 2)
    return sn_infer_error(c, "grid's last dim must be %d (spatial rank), got %lld", G->rank - 2,
                          (long long)G->dims[G->rank - 1].v);
  sn_type *Y = tout(c, 0);
  if (!Y) return NULL;
  int r = X->rank >= 0 ? X->rank : G->rank;
  if (r < 0) {
    sn_type_set_unknown(Y, X->dtype);
    return NULL;
  }
  sn_dim d[SN_MAX_RANK];
  d[0] = X->rank >= 0 ? X->dims[0] : sn_dim_unknown();
  if (d[0].v < 0 && !d[0].sym && G->rank >= 0) d[0] = G->dims[0];
  d[1] = X->rank >= 0 ? X->dims[1] : sn_dim_unknown();
  for (int i = 2; i < r; i++) d[i] = G->rank >= 0 ? G->dims[i - 1] : sn_dim_unknown();
  sn_type_set(Y, X->dtype, r, d);
  return NULL;
}

static double gs_reflect(double x, double lo, double hi) {
  double rng = hi - lo;
  if (!(rng > 0)) return lo;
  if (x < lo) {
    double dx = lo - x;
    double n = floor(dx / rng), r = dx - n * rng;
    return fmod(n, 2) == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    double dx = x - hi;
    double n = floor(dx / rng), r = dx - n * rng;
    return fmod(n, 2) == 0 ? hi - r : lo + r;
  }
  return x;
}

static void gs_cubic_coeffs(double t, double *w) {
  const double A = -0.75;
  double x = fabs(t);
  w[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
  w[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  w[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
  w[3] = ((A * (2 - x) - 5 * A) * (2 - x) + 8 * A) * (2 - x) - 4 * A;
}

/* Clamp huge or NaN coordinates so that conversions to integers stay defined. */
static double gs_tame(double x) { return isnan(x) ? -1.0e15 : x < -1.0e15 ? -1.0e15 : x > 1.0e15 ? 1.0e15 : x; }

/* Index i along an axis of length d after padding; -1 when the tap reads zero. */
static int64_t gs_index(const gs_params *p, int64_t i, int64_t d, double lo, double hi) {
  if (i >= 0 && i < d) return i;
  switch (p->padding) {
    case GS_ZEROS: return -1;
    case GS_BORDER: return i < 0 ? 0 : d - 1;
    default: {
      int64_t r = (int64_t)gs_reflect((double)i, lo, hi);
      return r < 0 ? 0 : r >= d ? d - 1 : r;
    }
  }
}

static sn_error *gs_run(sn_kernel_ctx *c) {
  const gs_params *p = c->params;
  const sn_tensor *X = kin(c, 0), *G = kin(c, 1);
  char b1[160], b2[160];
  if (!X || !G) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "inputs X and grid are required");
  if (!img_numeric_type(X->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "X of type %s is not supported", sn_dtype_name(X->dtype));
  if (!img_float_type(G->dtype))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "grid of type %s is not supported", sn_dtype_name(G->dtype));
  const int r = X->rank, nsp = r - 2;
  if (r < 3 || G->rank != r || G->dims[0] != X->dims[0] || G->dims[r - 1] != nsp)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X %s and grid %s must be [N, C, D1..Dr] and [N, O1..Or, r]",
                           sn_tensor_describe(X, b1, sizeof b1), sn_tensor_describe(G, b2, sizeof b2));
  if (nsp > 6)
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "%d spatial dims are not supported (at most 6)", nsp);
  int64_t od[SN_MAX_RANK];
  od[0] = X->dims[0];
  od[1] = X->dims[1];
  for (int i = 0; i < nsp; i++) od[2 + i] = G->dims[1 + i];
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, X->dtype, r, od, &Y));
  if (Y->count == 0) return NULL;
  const int64_t N = X->dims[0], C = X->dims[1];
  const int64_t *D = X->dims + 2;
  int64_t in_plane = 1, out_plane = 1;
  for (int i = 0; i < nsp; i++) in_plane *= D[i], out_plane *= od[2 + i];
  for (int i = 0; i < nsp; i++)
    if (D[i] == 0) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X %s has an empty spatial dim",
                                          sn_tensor_describe(X, b1, sizeof b1));
  const double *x, *grid;
  SN_TRY(sn_op_f64_view(c, X, &x));
  SN_TRY(sn_op_f64_view(c, G, &grid));
  const int ntap1 = p->mode == GS_CUBIC ? 4 : p->mode == GS_LINEAR ? 2 : 1;
  int ntaps = 1;
  for (int i = 0; i < nsp; i++) ntaps *= ntap1;
  int64_t *toff = sn_kernel_scratch(c, (size_t)ntaps * sizeof(int64_t));
  double *tw = sn_kernel_scratch(c, (size_t)ntaps * sizeof(double));
  if (!toff || !tw) return SN_ERR_OOM();
  int64_t sstride[8];
  {
    int64_t s = 1;
    for (int i = nsp - 1; i >= 0; i--) sstride[i] = s, s *= D[i];
  }
  for (int64_t n = 0; n < N; n++)
    for (int64_t o = 0; o < out_plane; o++) {
      const double *gp = grid + (n * out_plane + o) * nsp;
      int64_t idx1[8][4];
      double w1[8][4];
      for (int i = 0; i < nsp; i++) {
        const double len = (double)D[i];
        const double g = gp[nsp - 1 - i]; /* the grid lists x (last axis) first */
        double v = p->align ? (g + 1) / 2.0 * (len - 1) : ((g + 1) * len - 1) / 2.0;
        const double lo = p->align ? 0.0 : -0.5, hi = p->align ? len - 1 : len - 0.5;
        v = gs_tame(v);
        if (p->mode == GS_NEAREST) v = nearbyint(v);
        /* cubic with border padding clamps each tap, not the coordinate, as PyTorch and ONNX Runtime
         * do (the ONNX reference clamps the coordinate first; no conformance test covers the case) */
        if ((v < lo || v > hi) && !(p->mode == GS_CUBIC && p->padding == GS_BORDER)) {
          if (p->padding == GS_BORDER)
            v = v < 0 ? 0 : v > len - 1 ? len - 1 : v;
          else if (p->padding == GS_REFLECTION)
            v = gs_reflect(v, lo, hi);
        }
        if (p->mode == GS_NEAREST) {
          idx1[i][0] = gs_index(p, (int64_t)v, D[i], lo, hi);
          w1[i][0] = 1;
        } else {
          double f = floor(v);
          int64_t i0 = (int64_t)f;
          if (p->mode == GS_LINEAR) {
            w1[i][0] = 1 - (v - f);
            w1[i][1] = v - f;
            idx1[i][0] = gs_index(p, i0, D[i], lo, hi);
            idx1[i][1] = gs_index(p, i0 + 1, D[i], lo, hi);
          } else {
            gs_cubic_coeffs(v - f, w1[i]);
            for (int k = 0; k < 4; k++) idx1[i][k] = gs_index(p, i0 - 1 + k, D[i], lo, hi);
          }
        }
      }
      /* the tensor product of the per-axis taps */
      int nt = 0;
      for (int t = 0; t < ntaps; t++) {
        int rem = t;
        int64_t off = 0;
        double w = 1;
        for (int i = nsp - 1; i >= 0; i--) {
          int k = rem % ntap1;
          rem /= ntap1;
          if (idx1[i][k] < 0) {
            w = 0;
            break;
          }
          off += idx1[i][k] * sstride[i];
          w *= w1[i][k];
        }
        if (w == 0) continue;
        toff[nt] = off;
        tw[nt] = w;
        nt++;
      }
      for (int64_t ch = 0; ch < C; ch++) {
        const double *xp = x + (n * C + ch) * in_plane;
        double s = 0;
        for (int t = 0; t < nt; t++) s += tw[t] * xp[toff[t]];
        sn_op_store_f64(Y, (n * C + ch) * out_plane + o, s);
      }
    }
  return NULL;
}

/* ---- RoiAlign ----------------------------------------------------------------------------------------- */

typedef struct roi_params {
  bool max_mode, half_pixel;
  int64_t oh, ow, sampling;
  double scale;
} roi_params;

static sn_error *roi_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  char nd[160];
  const char *mode = sn_attr_str(n, "mode", "avg");
  const char *ct = n->opset >= 16 ? sn_attr_str(n, "coordinate_transformation_mode", "half_pixel") : "output_half_pixel";
  if (strcmp(mode, "avg") && strcmp(mode, "max"))
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: mode '%s' is not avg or max", sn_node_desc(n, nd, sizeof nd), mode);
  if (strcmp(ct, "half_pixel") && strcmp(ct, "output_half_pixel"))
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: coordinate_transformation_mode '%s' is not half_pixel or output_half_pixel",
                     sn_node_desc(n, nd, sizeof nd), ct);
  roi_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  p->max_mode = !strcmp(mode, "max");
  p->half_pixel = !strcmp(ct, "half_pixel");
  p->oh = sn_attr_int(n, "output_height", 1);
  p->ow = sn_attr_int(n, "output_width", 1);
  p->sampling = sn_attr_int(n, "sampling_ratio", 0);
  p->scale = sn_attr_float(n, "spatial_scale", 1.0f);
  if (p->oh <= 0 || p->ow <= 0 || p->sampling < 0 || p->oh > (1 << 24) || p->ow > (1 << 24) || p->sampling > (1 << 16)) {
    sn_error *e = sn_errorf(SINTER_ERR_INVALID_MODEL,
                            "%s: output_height %lld, output_width %lld must be positive and sampling_ratio %lld >= 0",
                            sn_node_desc(n, nd, sizeof nd), (long long)p->oh, (long long)p->ow, (long long)p->sampling);
    sn_free(p);
    return e;
  }
  *params = p;
  return NULL;
}

static sn_error *roi_infer(sn_infer_ctx *c) {
  const roi_params *p = c->node->params;
  const sn_type *X = tin(c, 0), *R = tin(c, 1), *BI = tin(c, 2);
  if (!p) return sn_infer_error(c, "attributes were not prepared");
  if (!X || !R || !BI) return sn_infer_error(c, "inputs X, rois and batch_indices are required");
  if (X->rank >= 0 && X->rank != 4) return sn_infer_error(c, "X must be 4-D (N, C, H, W), got rank %d", X->rank);
  if (R->rank >= 0 && R->rank != 2) return sn_infer_error(c, "rois must be [num_rois, 4], got rank %d", R->rank);
  if (BI->rank >= 0 && BI->rank != 1) return sn_infer_error(c, "batch_indices must be 1-D, got rank %d", BI->rank);
  sn_dim d[4] = {R->rank == 2 ? R->dims[0] : sn_dim_unknown(), X->rank == 4 ? X->dims[1] : sn_dim_unknown(),
                 sn_dim_known(p->oh), sn_dim_known(p->ow)};
  if (d[0].v < 0 && !d[0].sym && BI->rank == 1) d[0] = BI->dims[0];
  if (tout(c, 0)) sn_type_set(tout(c, 0), X->dtype, 4, d);
  return NULL;
}

typedef struct roi_tap {
  int64_t pos[4];
  double w[4];
} roi_tap;

/* rois [n0, n1) of one RoiAlign, a worker each; X read as float32 (xf) or double (xd) */
typedef struct roi_job {
  const roi_params *p;
  const float *xf;
  const double *xd, *rois;
  const sn_tensor *BI;
  sn_tensor *Y;
  float *yf; /* the float32 output, or NULL: stored through sn_op_store_f64 */
  int64_t nr, C, H, W;
  roi_tap *taps; /* per worker: taps_per of them */
  int64_t taps_per;
  int nw;
} roi_job;

/* the bilinear taps of bin (ph, pw) of a roi starting at (sh, sw) with bins bh x bw and gh x gw
 * samples a bin; returns the number of taps (samples outside the map get zero weights) */
static int64_t roi_bin_taps(const roi_job *j, double sh, double sw, double bh, double bw, int64_t gh, int64_t gw,
                            int64_t ph, int64_t pw, roi_tap *taps) {
  const int64_t H = j->H, W = j->W;
  int64_t t = 0;
  for (int64_t iy = 0; iy < gh; iy++) {
    double yy = sh + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
    for (int64_t ix = 0; ix < gw; ix++, t++) {
      double xx = sw + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
      roi_tap *tp = &taps[t];
      if (yy < -1.0 || yy > (double)H || xx < -1.0 || xx > (double)W) {
        memset(tp, 0, sizeof *tp);
        continue;
      }
      double y = yy < 0 ? 0 : yy, xv = xx < 0 ? 0 : xx;
      int64_t yl = (int64_t)y, xl = (int64_t)xv, yh, xh;
      if (yl >= H - 1) {
        yh = yl = H - 1;
        y = (double)yl;
      } else {
        yh = yl + 1;
      }
      if (xl >= W - 1) {
        xh = xl = W - 1;
        xv = (double)xl;
      } else {
        xh = xl + 1;
      }
      double ly = y - (double)yl, lx = xv - (double)xl, hy = 1 - ly, hx = 1 - lx;
      tp->pos[0] = yl * W + xl, tp->pos[1] = yl * W + xh, tp->pos[2] = yh * W + xl, tp->pos[3] = yh * W + xh;
      tp->w[0] = hy * hx, tp->w[1] = hy * lx, tp->w[2] = ly * hx, tp->w[3] = ly * lx;
    }
  }
  return t;
}

/* a worker's scratch bytes per tap of its largest bin: the tap, and 4 merged positions and weights */
#define ROI_SCRATCH_PER_TAP (sizeof(roi_tap) + 4 * (sizeof(int64_t) + sizeof(double)))

#define ROI_LOAD(j, base, i) ((j)->xf ? (double)(j)->xf[(base) + (i)] : (j)->xd[(base) + (i)])

/* a bin's taps merged into distinct positions with summed weights (the 2x2 neighbourhoods of nearby
 * samples overlap: 16 taps of 2 x 2 samples are often 9 pixels); returns how many */
static int64_t roi_merge(const roi_tap *taps, int64_t t, int64_t *pos, double *wt) {
  int64_t m = 0;
  for (int64_t k = 0; k < t; k++)
    for (int q = 0; q < 4; q++) {
      if (taps[k].w[q] == 0) continue;
      int64_t i = 0;
      while (i < m && pos[i] != taps[k].pos[q]) i++;
      if (i == m) pos[m] = taps[k].pos[q], wt[m++] = 0;
      wt[i] += taps[k].w[q];
    }
  return m;
}

/* a roi on the feature map: its start (sh, sw), extent (rh, rw) and samples per bin (gh, gw; doubles,
 * so that roi_run can refuse huge grids before any cast) */
typedef struct roi_geom {
  double sh, sw, rh, rw, gh, gw;
} roi_geom;

static roi_geom roi_geometry(const roi_params *p, const double *roi) {
  const double off = p->half_pixel ? 0.5 : 0.0;
  roi_geom g;
  g.sw = roi[0] * p->scale - off, g.sh = roi[1] * p->scale - off;
  g.rw = roi[2] * p->scale - off - g.sw, g.rh = roi[3] * p->scale - off - g.sh;
  if (!p->half_pixel) {
    g.rw = fmax(g.rw, 1.0);
    g.rh = fmax(g.rh, 1.0);
  }
  g.gh = p->sampling > 0 ? (double)p->sampling : fmax(0, ceil(g.rh / (double)p->oh));
  g.gw = p->sampling > 0 ? (double)p->sampling : fmax(0, ceil(g.rw / (double)p->ow));
  return g;
}

static void roi_worker(void *arg, int w) {
  const roi_job *j = arg;
  const roi_params *p = j->p;
  const int64_t C = j->C, H = j->H, W = j->W, PH = p->oh, PW = p->ow;
  /* this worker's scratch: its taps, then 4 merged positions and weights per tap */
  roi_tap *taps = (roi_tap *)(void *)((char *)j->taps + (size_t)w * (size_t)j->taps_per * ROI_SCRATCH_PER_TAP);
  int64_t *pos = (int64_t *)(void *)(taps + j->taps_per);
  double *wt = (double *)(void *)(pos + 4 * j->taps_per);
  for (int64_t n = w * j->nr / j->nw; n < (w + 1) * j->nr / j->nw; n++) {
    const int64_t bi = sn_load_i64(j->BI->dtype, j->BI->data, n);
    const roi_geom g = roi_geometry(p, j->rois + n * 4);
    const double sh = g.sh, sw = g.sw, bh = g.rh / (double)PH, bw = g.rw / (double)PW;
    const int64_t gh = (int64_t)g.gh, gw = (int64_t)g.gw;
    const double count = (double)(gh * gw > 1 ? gh * gw : 1);
    for (int64_t ph = 0; ph < PH; ph++)
      for (int64_t pw = 0; pw < PW; pw++) {
        const int64_t t = roi_bin_taps(j, sh, sw, bh, bw, gh, gw, ph, pw, taps);
        /* average: one weighted sum over the bin's distinct pixels, the count folded into the weights */
        const int64_t m = p->max_mode ? 0 : roi_merge(taps, t, pos, wt);
        if (!p->max_mode)
          for (int64_t i = 0; i < m; i++) wt[i] /= count;
        for (int64_t ch = 0; ch < C; ch++) {
          const int64_t base = (bi * C + ch) * H * W;
          double v = 0;
          if (p->max_mode) {
            for (int64_t k = 0; k < t; k++) {
              const roi_tap *tp = &taps[k];
              double mx = tp->w[0] * ROI_LOAD(j, base, tp->pos[0]);
              for (int q = 1; q < 4; q++) mx = fmax(mx, tp->w[q] * ROI_LOAD(j, base, tp->pos[q]));
              v = k == 0 ? mx : fmax(v, mx);
            }
          } else if (j->xf) {
            const float *xp = j->xf + base;
            for (int64_t i = 0; i < m; i++) v += wt[i] * (double)xp[pos[i]];
          } else {
            const double *xp = j->xd + base;
            for (int64_t i = 0; i < m; i++) v += wt[i] * xp[pos[i]];
          }
          const int64_t at = ((n * C + ch) * PH + ph) * PW + pw;
          if (j->yf)
            j->yf[at] = (float)v;
          else
            sn_op_store_f64(j->Y, at, v);
        }
      }
  }
}

static sn_error *roi_run(sn_kernel_ctx *c) {
  const roi_params *p = c->params;
  const sn_tensor *X = kin(c, 0), *R = kin(c, 1), *BI = kin(c, 2);
  char b1[160], b2[160];
  if (!X || !R || !BI) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "inputs X, rois and batch_indices are required");
  if (!img_float_type(X->dtype) || !img_float_type(R->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "X/rois of type %s/%s are not supported",
                           sn_dtype_name(X->dtype), sn_dtype_name(R->dtype));
  if (X->rank != 4 || R->rank != 2 || R->dims[1] != 4 || BI->rank != 1 || BI->dims[0] != R->dims[0] ||
      !sn_dt(BI->dtype)->is_int)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                           "X %s, rois %s must be [N, C, H, W], [num_rois, 4] with batch_indices [num_rois] int64",
                           sn_tensor_describe(X, b1, sizeof b1), sn_tensor_describe(R, b2, sizeof b2));
  const int64_t nr = R->dims[0], C = X->dims[1], H = X->dims[2], W = X->dims[3], PH = p->oh, PW = p->ow;
  int64_t od[4] = {nr, C, PH, PW};
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, X->dtype, 4, od, &Y));
  if (Y->count == 0) return NULL;
  roi_job j = {p, NULL, NULL, NULL, BI, Y, NULL, nr, C, H, W, NULL, 0, 1};
  if (X->dtype == SINTER_FLOAT) { /* read and written in place (the other types through double views) */
    j.xf = X->data;
    j.yf = Y->data;
  } else {
    SN_TRY(sn_op_f64_view(c, X, &j.xd));
  }
  SN_TRY(sn_op_f64_view(c, R, &j.rois));
  /* every roi checked first (the workers cannot fail): its batch index, finite coordinates and a
   * sample grid of bounded size */
  int64_t most = 1;
  for (int64_t n = 0; n < nr; n++) {
    int64_t bi = sn_load_i64(BI->dtype, BI->data, n);
    if (bi < 0 || bi >= X->dims[0])
      return sn_kernel_error(c, SINTER_ERR_RUNTIME, "batch_indices[%lld] = %lld is outside [0, %lld)", (long long)n,
                             (long long)bi, (long long)X->dims[0]);
    const roi_geom g = roi_geometry(p, j.rois + n * 4);
    if (!isfinite(g.rw) || !isfinite(g.rh) || !isfinite(g.sw) || !isfinite(g.sh))
      return sn_kernel_error(c, SINTER_ERR_RUNTIME, "roi %lld has non-finite coordinates", (long long)n);
    if (g.gh * g.gw > (double)(1 << 24))
      return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "roi %lld needs %g x %g samples per bin", (long long)n, g.gh,
                             g.gw);
    if ((int64_t)(g.gh * g.gw) > most) most = (int64_t)(g.gh * g.gw);
  }
  j.taps_per = most;
  j.nw = sn_nn_workers(c, 8.0 * (double)Y->count * (double)most);
  if (j.nw > nr) j.nw = (int)nr;
  if (j.nw < 1) j.nw = 1;
  j.taps = sn_kernel_scratch(c, (size_t)most * (size_t)j.nw * ROI_SCRATCH_PER_TAP);
  if (!j.taps) return SN_ERR_OOM();
  sn_nn_run(c, j.nw, roi_worker, &j);
  return NULL;
}

/* ---- MaxRoiPool -------------------------------------------------------------------------------------- */

static sn_error *mrp_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  (void)params;
  char nd[160];
  const int64_t *ps;
  int np = sn_attr_ints(n, "pooled_shape", &ps);
  if (np != 2 || ps[0] <= 0 || ps[1] <= 0 || ps[0] > (1 << 24) || ps[1] > (1 << 24))
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: pooled_shape must be two positive ints", sn_node_desc(n, nd, sizeof nd));
  return NULL;
}

static sn_error *mrp_infer(sn_infer_ctx *c) {
  const sn_type *X = tin(c, 0), *R = tin(c, 1);
  if (!X || !R) return sn_infer_error(c, "inputs X and rois are required");
  if (X->rank >= 0 && X->rank != 4) return sn_infer_error(c, "X must be 4-D (N, C, H, W), got rank %d", X->rank);
  if (R->rank >= 0 && R->rank != 2) return sn_infer_error(c, "rois must be [num_rois, 5], got rank %d", R->rank);
  const int64_t *ps;
  if (sn_attr_ints(c->node, "pooled_shape", &ps) != 2) return sn_infer_error(c, "pooled_shape must have 2 values");
  sn_dim d[4] = {R->rank == 2 ? R->dims[0] : sn_dim_unknown(), X->rank == 4 ? X->dims[1] : sn_dim_unknown(),
                 sn_dim_known(ps[0]), sn_dim_known(ps[1])};
  if (tout(c, 0)) sn_type_set(tout(c, 0), X->dtype, 4, d);
  return NULL;
}

static sn_error *mrp_run(sn_kernel_ctx *c) {
  const sn_tensor *X = kin(c, 0), *R = kin(c, 1);
  char b1[160], b2[160];
  if (!X || !R) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "inputs X and rois are required");
  if (!img_float_type(X->dtype) || !img_float_type(R->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "X/rois of type %s/%s are not supported",
                           sn_dtype_name(X->dtype), sn_dtype_name(R->dtype));
  if (X->rank != 4 || R->rank != 2 || R->dims[1] != 5)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X %s and rois %s must be [N, C, H, W] and [num_rois, 5]",
                           sn_tensor_describe(X, b1, sizeof b1), sn_tensor_describe(R, b2, sizeof b2));
  const int64_t *ps;
  sn_attr_ints(c->node, "pooled_shape", &ps);
  const double scale = sn_attr_float(c->node, "spatial_scale", 1.0f);
  const int64_t nr = R->dims[0], C = X->dims[1], H = X->dims[2], W = X->dims[3], PH = ps[0], PW = ps[1];
  int64_t od[4] = {nr, C, PH, PW};
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, X->dtype, 4, od, &Y));
  if (Y->count == 0) return NULL;
  const double *x, *rois;
  SN_TRY(sn_op_f64_view(c, X, &x));
  SN_TRY(sn_op_f64_view(c, R, &rois));
  for (int64_t n = 0; n < nr; n++) {
    const double *roi = rois + n * 5;
    for (int k = 0; k < 5; k++)
      if (!(fabs(roi[k]) < 1.0e15))
        return sn_kernel_error(c, SINTER_ERR_RUNTIME, "roi %lld has out-of-range values", (long long)n);
    int64_t bi = (int64_t)roi[0];
    if (bi < 0 || bi >= X->dims[0])
      return sn_kernel_error(c, SINTER_ERR_RUNTIME, "roi %lld has batch index %lld outside [0, %lld)", (long long)n,
                             (long long)bi, (long long)X->dims[0]);
    int64_t sw = (int64_t)round(roi[1] * scale), sh = (int64_t)round(roi[2] * scale);
    int64_t ew = (int64_t)round(roi[3] * scale), eh = (int64_t)round(roi[4] * scale);
    int64_t rh = eh - sh + 1, rw = ew - sw + 1;
    if (rh < 1) rh = 1;
    if (rw < 1) rw = 1;
    const double bh = (double)rh / (double)PH, bw = (double)rw / (double)PW;
    for (int64_t ph = 0; ph < PH; ph++)
      for (int64_t pw = 0; pw < PW; pw++) {
        int64_t hs = (int64_t)floor((double)ph * bh) + sh, he = (int64_t)ceil((double)(ph + 1) * bh) + sh;
        int64_t ws = (int64_t)floor((double)pw * bw) + sw, we = (int64_t)ceil((double)(pw + 1) * bw) + sw;
        hs = hs < 0 ? 0 : hs > H ? H : hs;
        he = he < 0 ? 0 : he > H ? H : he;
        ws = ws < 0 ? 0 : ws > W ? W : ws;
        we = we < 0 ? 0 : we > W ? W : we;
        bool empty = he <= hs || we <= ws;
        for (int64_t ch = 0; ch < C; ch++) {
          const double *xp = x + (bi * C + ch) * H * W;
          double m = 0;
          if (!empty) {
            m = -INFINITY;
            for (int64_t h = hs; h < he; h++)
              for (int64_t w = ws; w < we; w++)
                if (xp[h * W + w] > m) m = xp[h * W + w];
          }
          sn_op_store_f64(Y, ((n * C + ch) * PH + ph) * PW + pw, m);
        }
      }
  }
  return NULL;
}

/* ---- AffineGrid --------------------------------------------------------------------------------------- */

static sn_error *ag_infer(sn_infer_ctx *c) {
  const sn_type *T = tin(c, 0), *S = tin(c, 1);
  if (!T || !S) return sn_infer_error(c, "inputs theta and size are required");
  if (T->dtype && !img_float_type(T->dtype))
    return sn_infer_error(c, "theta type %s is not supported (float types only)", sn_dtype_name(T->dtype));
  if (T->rank >= 0 && T->rank != 3) return sn_infer_error(c, "theta must be [N, 2, 3] or [N, 3, 4], got rank %d", T->rank);
  sn_type *Y = tout(c, 0);
  if (!Y) return NULL;
  int64_t sz[5];
  int ns = read_ints(cin(c, 1), sz, 5);
  if (ns == 4 || ns == 5) {
    sn_dim d[5];
    for (int i = 0; i < ns; i++)
      if (sz[i] < 0) return sn_infer_error(c, "size has a negative value %lld", (long long)sz[i]);
    d[0] = sn_dim_known(sz[0]);
    for (int i = 2; i < ns; i++) d[i - 1] = sn_dim_known(sz[i]);
    d[ns - 1] = sn_dim_known(ns - 2);
    sn_type_set(Y, T->dtype, ns, d);
    return NULL;
  }
  if (cin(c, 1)) return sn_infer_error(c, "size must have 4 (N, C, H, W) or 5 (N, C, D, H, W) values");
  int64_t n = S->rank == 1 ? S->dims[0].v : -1;
  if (n < 0 && T->rank == 3 && T->dims[1].v >= 2) n = T->dims[1].v + 2;
  if (n == 4 || n == 5) {
    sn_dim d[5];
    for (int i = 0; i < (int)n; i++) d[i] = sn_dim_unknown();
    if (T->rank == 3) d[0] = T->dims[0];
    d[n - 1] = sn_dim_known(n - 2);
    sn_type_set(Y, T->dtype, (int)n, d);
  } else {
    sn_type_set_unknown(Y, T->dtype);
  }
  return NULL;
}

static double ag_coord(int64_t i, int64_t len, bool align) {
  if (len <= 1) return 0.0; /* as torch.nn.functional.affine_grid and ONNX Runtime (the ONNX reference gives -1) */
  if (align) return -1.0 + 2.0 * (double)i / (double)(len - 1);
  return (2.0 * (double)i + 1.0) / (double)len - 1.0;
}

static sn_error *ag_run(sn_kernel_ctx *c) {
  const sn_tensor *T = kin(c, 0), *S = kin(c, 1);
  char b1[160], b2[160];
  if (!T || !S) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "inputs theta and size are required");
  if (!img_float_type(T->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "theta of type %s is not supported", sn_dtype_name(T->dtype));
  int64_t sz[5];
  int ns = read_ints(S, sz, 5);
  if (ns != 4 && ns != 5)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "size %s must be int64 [4] or [5]", sn_tensor_describe(S, b1, sizeof b1));
  const int nd = ns - 2;
  if (T->rank != 3 || T->dims[0] != sz[0] || T->dims[1] != nd || T->dims[2] != nd + 1)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "theta %s must be [%lld, %d, %d] for size %s",
                           sn_tensor_describe(T, b1, sizeof b1), (long long)sz[0], nd, nd + 1,
                           sn_tensor_describe(S, b2, sizeof b2));
  for (int i = 0; i < ns; i++)
    if (sz[i] < 0) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "size has a negative value %lld", (long long)sz[i]);
  const bool align = sn_attr_int(c->node, "align_corners", 0) != 0;
  int64_t od[5];
  od[0] = sz[0];
  for (int i = 2; i < ns; i++) od[i - 1] = sz[i];
  od[ns - 1] = nd;
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, T->dtype, ns, od, &Y));
  if (Y->count == 0) return NULL;
  const double *th;
  SN_TRY(sn_op_f64_view(c, T, &th));
  const int64_t Dd = nd == 3 ? sz[2] : 1, Hh = sz[ns - 2], Ww = sz[ns - 1];
  int64_t at = 0;
  for (int64_t n = 0; n < sz[0]; n++) {
    const double *m = th + n * nd * (nd + 1);
    for (int64_t z = 0; z < Dd; z++) {
      double zc = nd == 3 ? ag_coord(z, Dd, align) : 0;
      for (int64_t y = 0; y < Hh; y++) {
        double yc = ag_coord(y, Hh, align);
        for (int64_t xw = 0; xw < Ww; xw++) {
          double xc = ag_coord(xw, Ww, align);
          double base[4] = {xc, yc, nd == 3 ? zc : 1.0, 1.0};
          for (int r = 0; r < nd; r++) {
            double s = 0;
            for (int k = 0; k <= nd; k++) s += m[r * (nd + 1) + k] * base[k];
            sn_op_store_f64(Y, at++, s);
          }
        }
      }
    }
  }
  return NULL;
}

/* ---- Col2Im ----------------------------------------------------------------------------------------- */

typedef struct col2im_geom {
  int nd;
  int64_t img[SN_MAX_RANK], blk[SN_MAX_RANK], dil[SN_MAX_RANK], str[SN_MAX_RANK], pb[SN_MAX_RANK], pe[SN_MAX_RANK];
  int64_t ncol[SN_MAX_RANK];
  int64_t kprod, lprod;
} col2im_geom;

/* Fill g from image/block shapes and the attributes; false with a message on bad values. */
static bool col2im_geometry(const sn_node *node, const int64_t *img, int ni, const int64_t *blk, int nb, col2im_geom *g,
                            char *msg, size_t ml) {
  if (ni != nb || ni < 1) {
    snprintf(msg, ml, "image_shape has %d values and block_shape %d; they must match", ni, nb);
    return false;
  }
  g->nd = ni;
  const int64_t *dil, *str, *pads;
  int nd_ = sn_attr_ints(node, "dilations", &dil), ns = sn_attr_ints(node, "strides", &str),
      np = sn_attr_ints(node, "pads", &pads);
  if ((nd_ >= 0 && nd_ != ni) || (ns >= 0 && ns != ni) || (np >= 0 && np != 2 * ni)) {
    snprintf(msg, ml, "dilations/strides need %d values and pads %d", ni, 2 * ni);
    return false;
  }
  g->kprod = 1;
  g->lprod = 1;
  for (int i = 0; i < ni; i++) {
    g->img[i] = img[i];
    g->blk[i] = blk[i];
    g->dil[i] = nd_ >= 0 ? dil[i] : 1;
    g->str[i] = ns >= 0 ? str[i] : 1;
    g->pb[i] = np >= 0 ? pads[i] : 0;
    g->pe[i] = np >= 0 ? pads[ni + i] : 0;
    if (img[i] < 0 || blk[i] <= 0 || g->dil[i] <= 0 || g->str[i] <= 0 || g->pb[i] < 0 || g->pe[i] < 0) {
      snprintf(msg, ml, "axis %d: image %lld, block %lld, dilation %lld, stride %lld, pads %lld/%lld are invalid", i,
               (long long)img[i], (long long)blk[i], (long long)g->dil[i], (long long)g->str[i], (long long)g->pb[i],
               (long long)g->pe[i]);
      return false;
    }
    int64_t span = g->dil[i] * (blk[i] - 1) + 1;
    int64_t avail = img[i] + g->pb[i] + g->pe[i] - span;
    if (avail < 0) {
      snprintf(msg, ml, "axis %d: the dilated block (%lld) is larger than the padded image (%lld)", i, (long long)span,
               (long long)(img[i] + g->pb[i] + g->pe[i]));
      return false;
    }
    g->ncol[i] = avail / g->str[i] + 1;
    g->kprod *= blk[i];
    g->lprod *= g->ncol[i];
  }
  return true;
}

static sn_error *col2im_infer(sn_infer_ctx *c) {
  const sn_type *X = tin(c, 0);
  if (!X || !tin(c, 1) || !tin(c, 2)) return sn_infer_error(c, "inputs input, image_shape and block_shape are required");
  if (X->rank >= 0 && X->rank != 3) return sn_infer_error(c, "input must be [N, C*prod(block), L], got rank %d", X->rank);
  sn_type *Y = tout(c, 0);
  if (!Y) return NULL;
  int64_t img[SN_MAX_RANK], blk[SN_MAX_RANK];
  int ni = read_ints(cin(c, 1), img, SN_MAX_RANK - 2), nb = read_ints(cin(c, 2), blk, SN_MAX_RANK - 2);
  sn_dim d[SN_MAX_RANK];
  d[0] = X->rank == 3 ? X->dims[0] : sn_dim_unknown();
  d[1] = sn_dim_unknown();
  if (ni >= 1) {
    if (nb >= 0) {
      col2im_geom g;
      char msg[256];
      if (!col2im_geometry(c->node, img, ni, blk, nb, &g, msg, sizeof msg)) return sn_infer_error(c, "%s", msg);
      if (X->rank == 3 && X->dims[1].v >= 0) {
        if (X->dims[1].v % g.kprod) return sn_infer_error(c, "input dim 1 (%lld) is not a multiple of the block size %lld",
                                                          (long long)X->dims[1].v, (long long)g.kprod);
        d[1] = sn_dim_known(X->dims[1].v / g.kprod);
      }
      if (X->rank == 3 && X->dims[2].v >= 0 && X->dims[2].v != g.lprod)
        return sn_infer_error(c, "input has %lld blocks, the shapes give %lld", (long long)X->dims[2].v, (long long)g.lprod);
    }
    for (int i = 0; i < ni; i++) d[2 + i] = sn_dim_known(img[i]);
    sn_type_set(Y, X->dtype, ni + 2, d);
    return NULL;
  }
  const sn_type *IS = tin(c, 1);
  if (IS->rank == 1 && IS->dims[0].v >= 1 && IS->dims[0].v <= SN_MAX_RANK - 2) {
    int r = (int)IS->dims[0].v + 2;
    for (int i = 2; i < r; i++) d[i] = sn_dim_unknown();
    sn_type_set(Y, X->dtype, r, d);
  } else {
    sn_type_set_unknown(Y, X->dtype);
  }
  return NULL;
}

static sn_error *col2im_run(sn_kernel_ctx *c) {
  const sn_tensor *X = kin(c, 0), *IS = kin(c, 1), *BS = kin(c, 2);
  char b1[160], msg[256];
  if (!X || !IS || !BS) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "inputs input, image_shape and block_shape are required");
  if (!img_numeric_type(X->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "input of type %s is not supported", sn_dtype_name(X->dtype));
  if (X->rank != 3)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %s must be [N, C*prod(block), L]",
                           sn_tensor_describe(X, b1, sizeof b1));
  int64_t img[SN_MAX_RANK], blk[SN_MAX_RANK];
  int ni = read_ints(IS, img, SN_MAX_RANK - 2), nb = read_ints(BS, blk, SN_MAX_RANK - 2);
  if (ni < 1 || nb < 1)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "image_shape and block_shape must be 1-D int64 with 1..%d values",
                           SN_MAX_RANK - 2);
  col2im_geom g;
  if (!col2im_geometry(c->node, img, ni, blk, nb, &g, msg, sizeof msg))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s", msg);
  if (X->dims[1] % g.kprod || X->dims[2] != g.lprod)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                           "input %s must be [N, C*%lld, %lld] for these image, block, stride, pad and dilation values",
                           sn_tensor_describe(X, b1, sizeof b1), (long long)g.kprod, (long long)g.lprod);
  const int nd = g.nd;
  const int64_t N = X->dims[0], C = X->dims[1] / g.kprod;
  int64_t od[SN_MAX_RANK];
  od[0] = N;
  od[1] = C;
  for (int i = 0; i < nd; i++) od[2 + i] = img[i];
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, X->dtype, nd + 2, od, &Y));
  if (Y->count == 0) return NULL;
  const double *x;
  SN_TRY(sn_op_f64_view(c, X, &x));
  double *acc = sn_kernel_scratch(c, (size_t)Y->count * sizeof(double));
  if (!acc) return SN_ERR_OOM();
  memset(acc, 0, (size_t)Y->count * sizeof(double));
  int64_t plane = 1, istr[SN_MAX_RANK];
  for (int i = nd - 1; i >= 0; i--) istr[i] = plane, plane *= img[i];
  for (int64_t nc = 0; nc < N * C; nc++) {
    double *out = acc + nc * plane;
    const double *col = x + nc * g.kprod * g.lprod;
    int64_t kidx[SN_MAX_RANK] = {0};
    for (int64_t k = 0; k < g.kprod; k++) {
      int64_t lidx[SN_MAX_RANK] = {0};
      for (int64_t l = 0; l < g.lprod; l++) {
        int64_t off = 0;
        bool in = true;
        for (int i = 0; i < nd && in; i++) {
          int64_t p = lidx[i] * g.str[i] - g.pb[i] + kidx[i] * g.dil[i];
          if (p < 0 || p >= img[i])
            in = false;
          else
            off += p * istr[i];
        }
        if (in) out[off] += col[k * g.lprod + l];
        for (int i = nd - 1; i >= 0; i--) {
          if (++lidx[i] < g.ncol[i]) break;
          lidx[i] = 0;
        }
      }
      for (int i = nd - 1; i >= 0; i--) {
        if (++kidx[i] < g.blk[i]) break;
        kidx[i] = 0;
      }
    }
  }
  for (int64_t i = 0; i < Y->count; i++) sn_op_store_f64(Y, i, acc[i]);
  return NULL;
}

/* NonMaxSuppression 11 only relaxed the documentation; RoiAlign 22 and GridSample 22, MaxRoiPool 22
 * widen the type lists. */
const sn_op sn_ops_image[] = {
    {"", "NonMaxSuppression", 10, 10, nms_infer, nms_run, NULL, NULL, 0},
    {"", "NonMaxSuppression", 11, 0, nms_infer, nms_run, NULL, NULL, 0},
    {"", "GridSample", 16, 19, gs_infer, gs_run, gs_prepare, img_free_params, 0},
    {"", "GridSample", 20, 21, gs_infer, gs_run, gs_prepare, img_free_params, 0},
    {"", "GridSample", 22, 0, gs_infer, gs_run, gs_prepare, img_free_params, 0},
    {"", "RoiAlign", 10, 15, roi_infer, roi_run, roi_prepare, img_free_params, 0},
    {"", "RoiAlign", 16, 21, roi_infer, roi_run, roi_prepare, img_free_params, 0},
    {"", "RoiAlign", 22, 0, roi_infer, roi_run, roi_prepare, img_free_params, 0},
    {"", "MaxRoiPool", 1, 21, mrp_infer, mrp_run, mrp_prepare, NULL, 0},
    {"", "MaxRoiPool", 22, 0, mrp_infer, mrp_run, mrp_prepare, NULL, 0},
    {"", "AffineGrid", 20, 0, ag_infer, ag_run, NULL, NULL, 0},
    {"", "Col2Im", 18, 0, col2im_infer, col2im_run, NULL, NULL, 0},
    {0},
};
