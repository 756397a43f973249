/* Integer Conv / MatMul through the INT8 GEMM (see qlinear.h).
 *
 * Signedness: the GEMM multiplies u8 by s8. Conv puts W (s8) in the row operand and the im2col
 * columns of X (u8) in the packed operand; MatMul puts X (u8) in the row operand and W (s8, packed)
 * in the other. An operand of the other signedness gets its top bit flipped (s8 + 128 -> u8,
 * u8 - 128 -> s8) and its zero point moved by the same 128, so
 *   sum (x - zx)(w - zw) = sum x'w' - zx' sum w' - zw' sum x' + K zx' zw'
 * holds exactly in int32; the last three terms become the epilogue's row/column offsets. */
#include "ops/qlinear.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/qconv.h"
#include "kernels/qdwconv.h"
#include "kernels/qgemm.h"
#include "runtime/cpu.h"
#include "kernels/ref/nn_util.h"

struct sn_qweights {
  const void *src; /* the data it was made from: used only when the run's W is the same (NULL once
                    * the initializer gave its buffer up: sn_qweights_forget_source) */
  sn_dtype dt;
  int64_t rows, cols; /* conv: M x R; matmul: K x N */
  bool transB;
  int form;           /* conv: SN_QFORM_* (T, NHWC: data is W^T packed as B, k = (c, tap) or (tap, c)) */
  uint8_t *data;      /* conv: W as s8, row-major M x R (or packed W^T); matmul: packed B (s8) */
  int32_t *sums;      /* conv: row sums (M); matmul: column sums (N) */
  /* SN_QFORM_DW: the depthwise kernel's taps (M x K int32, weight minus its zero point), made from W
   * and the zero point tensor at zsrc (NULL: none; zdt, zcount its type and size) */
  int32_t *wt;
  int32_t *wcm;       /* the same taps in the channel-minor kernels' layout (sn_qdwconv_cm_pack) */
  int32_t *wq;        /* and in the quad kernel's (sn_qdwconv_cmq_pack), when they fit s8 */
  int64_t kh, kw;     /* the kernel's rows and columns */
  bool w_s8;
  bool released;      /* the initializer gave its buffer up: W is recovered from data (sn_qweights_unpack) */
  int64_t cg;         /* conv: input channels per group (the NHWC form's k order) */
  const void *zsrc;
  sn_dtype zdt;
  int64_t zcount;
};

enum { QFORM_MATMUL = -1 }; /* sn_qweights of a matmul: B packed (not a conv form) */

static int64_t rup(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

static bool transposed(const int64_t out[2], const int64_t k[2], const int64_t stride[2], const int64_t dil[2],
                       int64_t R, int64_t G) {
  int64_t O = out[0] * out[1];
  /* R >= 256: the transposed store and the gathered rows cost a few cycles per output, worth it only
   * over a long enough sum (MobileNetV2's 160 -> 960 on 7x7 was slower) */
  if (G != 1 || O <= 0 || O > 256 || R < 256 || O * R > ((int64_t)4 << 20) || stride[1] < 1) return false;
  /* columns of the channels x positions form: the positions, or the padded grid's (sn_qconv) */
  int64_t Wpad = out[1] + ((k[1] - 1) * dil[1]) / stride[1];
  int64_t NC = k[0] * k[1] == 1 || (Wpad - out[1]) * 4 > out[1] ? O : out[0] * Wpad;
  return sn_qgemm_np(NC) * 10 >= rup(O, 6) * 11;
}

int sn_qconv_form(const int64_t out[2], const int64_t k[2], const int64_t stride[2], const int64_t dil[2], int64_t Cg,
                  int64_t G, bool q8out) {
  if (G == 1 && q8out && k[0] * k[1] > 1 && Cg >= 16 && out[0] > 0 && out[1] > 0 && stride[0] >= 1 && stride[1] >= 1 &&
      dil[0] >= 1 && dil[1] >= 1)
    return SN_QFORM_NHWC;
  return transposed(out, k, stride, dil, Cg * k[0] * k[1], G) ? SN_QFORM_T : SN_QFORM_CM;
}

void sn_qweights_free(sn_qweights *q) {
  if (!q) return;
  sn_aligned_free(q->data);
  sn_free(q->sums);
  sn_aligned_free(q->wt);
  sn_aligned_free(q->wcm);
  sn_aligned_free(q->wq);
  sn_free(q);
}

static uint8_t flip_of(sn_dtype dt, bool want_signed) { return (dt == SINTER_INT8) == want_signed ? 0 : 0x80; }

/* Bytes of a conv weight [M, R] (R = Cg * taps) packed in a form's layout */
static size_t conv_packed_bytes(int form, int64_t M, int64_t R) {
  return form == SN_QFORM_CM ? (size_t)(M * R) : sn_qgemm_packed_size(R, M);
}

/* W [M, R] into a form's layout, and its sums per output channel (as s8): SN_QFORM_CM, the rows as s8;
 * SN_QFORM_T, W^T packed as the GEMM's B with k = (c, tap); SN_QFORM_NHWC, the same with k = (tap, c),
 * through perm (M * R bytes of room). */
static void pack_conv(const uint8_t *w, sn_dtype dt, int form, int64_t M, int64_t R, int64_t Cg, uint8_t *perm,
                      uint8_t *data, int32_t *sums) {
  uint8_t f = flip_of(dt, true);
  if (form == SN_QFORM_CM) {
    for (int64_t i = 0; i < M * R; i++) data[i] = w[i] ^ f;
    sn_qgemm_row_sums(data, R, M, R, true, sums);
    return;
  }
  if (form == SN_QFORM_NHWC) {
    int64_t KK = R / Cg;
    for (int64_t m = 0; m < M; m++)
      for (int64_t c = 0; c < Cg; c++)
        for (int64_t t = 0; t < KK; t++) perm[m * R + t * Cg + c] = w[m * R + c * KK + t];
    w = perm;
  }
  sn_qgemm_pack_b(w, R, true, R, M, f, true, data, sums);
}

sn_error *sn_qweights_conv(const sn_tensor *w, int form, sn_qweights **out) {
  *out = NULL;
  if (!w || !sn_dtype_q8(w->dtype) || w->rank < 3 || w->dims[0] <= 0 || w->count <= 0) return NULL;
  sn_qweights *q = sn_calloc(1, sizeof *q);
  if (!q) return SN_ERR_OOM();
  q->src = w->data, q->dt = w->dtype, q->rows = w->dims[0], q->cols = w->count / w->dims[0], q->form = form;
  q->data = sn_aligned_alloc(conv_packed_bytes(form, q->rows, q->cols));
  q->sums = sn_malloc(sizeof(int32_t) * (size_t)q->rows);
  uint8_t *perm = form == SN_QFORM_NHWC ? sn_malloc((size_t)w->count) : NULL;
  if (!q->data || !q->sums || (form == SN_QFORM_NHWC && !perm)) {
    sn_free(perm);
    sn_qweights_free(q);
    return SN_ERR_OOM();
  }
  q->cg = w->dims[1];
  pack_conv(w->data, w->dtype, form, q->rows, q->cols, w->dims[1], perm, q->data, q->sums);
  sn_free(perm);
  *out = q;
  return NULL;
}

bool sn_qweights_forget_source(sn_qweights *q) {
  if (!q || (q->form != SN_QFORM_CM && q->form != SN_QFORM_T && q->form != SN_QFORM_NHWC) || !q->data) return false;
  q->src = NULL;
  q->released = true;
  return true;
}

bool sn_qweights_unpack(const sn_qweights *q, uint8_t *dst) {
  if (!q || !q->data || (q->form != SN_QFORM_CM && q->form != SN_QFORM_T && q->form != SN_QFORM_NHWC) || q->rows <= 0 ||
      q->cols <= 0)
    return false;
  int64_t M = q->rows, R = q->cols, Kp = sn_qgemm_kp(R), KK = q->cg > 0 ? R / q->cg : 1;
  uint8_t f = flip_of(q->dt, true);
  if (q->form == SN_QFORM_CM) {
    for (int64_t i = 0; i < M * R; i++) dst[i] = q->data[i] ^ f;
    return true;
  }
  /* W^T packed as B (sn_qgemm_pack_b): element (k, n = m) at panel m / 16, group k / 4 */
  for (int64_t m = 0; m < M; m++) {
    const uint8_t *panel = q->data + (m / 16) * Kp * 16 + (m % 16) * 4;
    for (int64_t k = 0; k < R; k++) {
      int64_t r = q->form == SN_QFORM_NHWC ? (k % q->cg) * KK + k / q->cg : k; /* NHWC: k = (tap, c) */
      dst[m * R + r] = panel[(k / 4) * 64 + (k % 4)] ^ f;
    }
  }
  return true;
}

const uint8_t *sn_qconv_weight_bytes(sn_kernel_ctx *c, const sn_tensor *w, const sn_qweights *pw) {
  if (w->data) return w->data;
  if (!pw || !pw->released || pw->dt != w->dtype || pw->rows * pw->cols != w->count || w->count <= 0) return NULL;
  uint8_t *d = sn_kernel_scratch(c, (size_t)w->count);
  if (!d || !sn_qweights_unpack(pw, d)) return NULL;
  return d;
}

sn_error *sn_qweights_matmul(const sn_tensor *b, bool transB, sn_qweights **out) {
  *out = NULL;
  if (!b || !sn_dtype_q8(b->dtype) || b->rank != 2 || b->count <= 0) return NULL;
  sn_qweights *q = sn_calloc(1, sizeof *q);
  if (!q) return SN_ERR_OOM();
  int64_t K = transB ? b->dims[1] : b->dims[0], N = transB ? b->dims[0] : b->dims[1];
  q->src = b->data, q->dt = b->dtype, q->rows = K, q->cols = N, q->transB = transB, q->form = QFORM_MATMUL;
  q->data = sn_aligned_alloc(sn_qgemm_packed_size(K, N));
  q->sums = sn_malloc(sizeof(int32_t) * (size_t)N);
  if (!q->data || !q->sums) {
    sn_qweights_free(q);
    return SN_ERR_OOM();
  }
  sn_qgemm_pack_b(b->data, b->dims[1], transB, K, N, flip_of(b->dtype, true), true, q->data, q->sums);
  *out = q;
  return NULL;
}

/* ---- quantization parameters shared by conv and matmul ---------------------------------------------- */

typedef struct qparams {
  int out;           /* SN_QOUT_* */
  int32_t zx;        /* x zero point after the flip to u8 */
  int32_t *zw;       /* per channel, after the flip to s8 */
  bool zw_any;       /* some zw != 0: the rank-1 term is needed */
  float *scale;      /* per channel: requantization multiplier or dequantization scale */
  float *fbias;      /* float bias (float output) */
  int32_t *ibias;    /* int32 bias, or NULL */
  float zy, lo, hi;
} qparams;

static float ld_f(const sn_tensor *t, int64_t i) { return (float)sn_load_f64(t->dtype, t->data, t->count == 1 ? 0 : i); }
static int32_t ld_i(const sn_tensor *t, int64_t i) {
  return t ? (int32_t)sn_load_i64(t->dtype, t->data, t->count == 1 ? 0 : i) : 0;
}

/* nch output channels; false when the fast path does not apply */
static bool qparams_make(sn_kernel_ctx *c, const sn_qargs *a, int64_t nch, qparams *p, sn_error **err) {
  memset(p, 0, sizeof *p);
  const sn_tensor *x = a->x, *w = a->w;
  if (!sn_dtype_q8(x->dtype) || !sn_dtype_q8(w->dtype)) return false;
  if (a->xz && (a->xz->count != 1 || !sn_dtype_q8(a->xz->dtype))) return false;
  if (a->wz && ((a->wz->count != 1 && a->wz->count != nch) || !sn_dtype_q8(a->wz->dtype))) return false;
  if (a->xs && a->xs->count != 1) return false;
  if (a->ws && a->ws->count != 1 && a->ws->count != nch) return false;
  if (a->ys && a->ys->count != 1) return false;
  if (a->bias && a->bias->count != nch) return false;
  bool fout = a->xs && !a->ys;
  if (a->bias && !(a->bias->dtype == SINTER_INT32 || (fout && a->bias->dtype == SINTER_FLOAT))) return false;
  if (a->xs && !a->ws) return false;
  p->out = !a->xs ? SN_QOUT_I32 : fout ? SN_QOUT_F32 : a->y->dtype == SINTER_UINT8 ? SN_QOUT_U8 : SN_QOUT_S8;
  if (p->out == SN_QOUT_I32 ? a->y->dtype != SINTER_INT32 : p->out == SN_QOUT_F32 ? a->y->dtype != SINTER_FLOAT : !sn_dtype_q8(a->y->dtype))
    return false;
  size_t n = (size_t)(nch ? nch : 1);
  p->zw = sn_kernel_scratch(c, sizeof(int32_t) * n);
  p->scale = sn_kernel_scratch(c, sizeof(float) * n);
  if (!p->zw || !p->scale) {
    *err = SN_ERR_OOM();
    return true;
  }
  p->zx = ld_i(a->xz, 0) + (x->dtype == SINTER_INT8 ? 128 : 0);
  /* (every run, over every channel: the common types read directly, not through sn_load_*) */
  int32_t wshift = w->dtype == SINTER_UINT8 ? 128 : 0;
  const sn_tensor *wz = a->wz;
  if (!wz || wz->count == 1) {
    int32_t z = ld_i(wz, 0) - wshift;
    for (int64_t m = 0; m < nch; m++) p->zw[m] = z;
    p->zw_any = nch > 0 && z != 0;
  } else {
    int32_t any = 0;
    if (wz->dtype == SINTER_INT8)
      for (int64_t m = 0; m < nch; m++) any |= p->zw[m] = ((const int8_t *)wz->data)[m] - wshift;
    else if (wz->dtype == SINTER_UINT8)
      for (int64_t m = 0; m < nch; m++) any |= p->zw[m] = ((const uint8_t *)wz->data)[m] - wshift;
    else
      for (int64_t m = 0; m < nch; m++) any |= p->zw[m] = ld_i(wz, m) - wshift;
    p->zw_any = any != 0;
  }
  if (a->xs) {
    float xs = ld_f(a->xs, 0), ys = a->ys ? ld_f(a->ys, 0) : 1;
    /* float32 steps, as ONNX Runtime computes the multiplier (the tests in locals: p->scale could
     * alias the tensors as far as the compiler knows, which kept them inside the loop) */
    const float *wsf = a->ws->dtype == SINTER_FLOAT ? a->ws->data : NULL;
    const bool one = a->ws->count == 1, by_ys = a->ys != NULL;
    float *sc = p->scale;
    for (int64_t m = 0; m < nch; m++) {
      float f = xs * (wsf ? wsf[one ? 0 : m] : ld_f(a->ws, m));
      sc[m] = by_ys ? f / ys : f;
    }
  }
  if (a->bias && a->bias->dtype == SINTER_INT32) p->ibias = a->bias->data;
  if (a->bias && a->bias->dtype == SINTER_FLOAT) p->fbias = a->bias->data;
  p->lo = -INFINITY, p->hi = INFINITY;
  if (p->out == SN_QOUT_U8 || p->out == SN_QOUT_S8) {
    p->zy = (float)ld_i(a->yz, 0);
    p->lo = p->out == SN_QOUT_U8 ? 0 : -128;
    p->hi = p->out == SN_QOUT_U8 ? 255 : 127;
    if (a->act == SN_QACT_RELU && p->zy > p->lo) p->lo = p->zy;
    if (a->act == SN_QACT_CLIP) { /* quantizing is monotone: Q(clip(v, a, b)) = clip(Q(v), Q(a), Q(b)) */
      const float ys = ld_f(a->ys, 0), ql = nearbyintf(a->act_lo / ys) + p->zy, qh = nearbyintf(a->act_hi / ys) + p->zy;
      if (ql > p->lo) p->lo = ql < p->hi ? ql : p->hi;
      if (qh < p->hi) p->hi = qh > p->lo ? qh : p->lo;
    }
  } else if (p->out == SN_QOUT_F32 && a->act == SN_QACT_RELU) {
    p->lo = 0;
  } else if (p->out == SN_QOUT_F32 && a->act == SN_QACT_CLIP) {
    p->lo = a->act_lo, p->hi = a->act_hi;
  }
  return true;
}

sn_error *sn_qact_parse(const sn_node *n, int *act, float *lo, float *hi) {
  const char *s = sn_attr_str(n, "activation", "");
  *act = !*s ? SN_QACT_NONE : !strcmp(s, "Relu") ? SN_QACT_RELU : !strcmp(s, "Clip") ? SN_QACT_CLIP : -1;
  *lo = -INFINITY, *hi = INFINITY;
  char buf[160];
  if (*act < 0)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: activation '%s' is not supported", sn_node_desc(n, buf, sizeof buf), s);
  if (*act == SN_QACT_CLIP) {
    const float *v;
    if (sn_attr_floats(n, "activation_params", &v) != 2 || !(v[0] <= v[1]))
      return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: activation Clip needs activation_params [min, max], min <= max",
                       sn_node_desc(n, buf, sizeof buf));
    *lo = v[0], *hi = v[1];
  }
  return NULL;
}

/* W in a form's layout (pack_conv): packed at load when a->pw was packed for this form from this
 * weight, else packed now into scratch. false when out of memory. */
static bool conv_weights(sn_kernel_ctx *c, const sn_qargs *a, int form, int64_t M, int64_t R, int64_t Cg,
                         const uint8_t **data, const int32_t **sums) {
  const sn_qweights *pw = a->pw;
  if (pw && pw->form == form && pw->src == a->w->data && pw->dt == a->w->dtype && pw->rows == M && pw->cols == R) {
    *data = pw->data, *sums = pw->sums;
    return true;
  }
  uint8_t *d = sn_kernel_scratch(c, conv_packed_bytes(form, M, R));
  uint8_t *perm = form == SN_QFORM_NHWC ? sn_kernel_scratch(c, (size_t)(M * R)) : NULL;
  int32_t *ws = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)M);
  if (!d || !ws || (form == SN_QFORM_NHWC && !perm)) return false;
  const uint8_t *src = sn_qconv_weight_bytes(c, a->w, pw); /* released: recovered from the packed copy */
  if (!src) return false;
  pack_conv(src, a->w->dtype, form, M, R, Cg, perm, d, ws);
  *data = d, *sums = ws;
  return true;
}

/* The constant terms of sum_k (x - zx)(w - zw) per output channel n over a sum of K products, with the
 * int32 bias: -zx * sum_k w[n] + K zx zw[n] + bias[n] (int32 arithmetic wraps). */
static void zp_offsets(const qparams *p, const int32_t *wsum, int64_t K, int64_t n, int32_t *out) {
  for (int64_t m = 0; m < n; m++) {
    uint32_t v = (uint32_t)(-(int64_t)p->zx * wsum[m]) + (uint32_t)(K * p->zx * p->zw[m]);
    if (p->ibias) v += (uint32_t)p->ibias[m];
    out[m] = (int32_t)v;
  }
}

/* ---- Conv ---------------------------------------------------------------------------------------------- */

/* the fused residual add into the epilogue, where the output is 8-bit and res fits */
static void residual(const sn_qargs *a, const qparams *p, sn_qgemm_epi *e) {
  if (!a->res || !a->res_done || (p->out != SN_QOUT_U8 && p->out != SN_QOUT_S8) || a->res->dtype != a->y->dtype ||
      a->res->count != a->y->count)
    return;
  e->res = a->res->data, e->rac = a->rac, e->rbc = a->rbc, e->rfix = a->rfix, e->res_is_a = a->res_is_a;
  *a->res_done = true;
}

typedef struct qconv_job {
  const sn_conv_geom *g;
  int64_t N, C, M, G, Cg, Mg, O, R, Kp, blk, nblk, mchunks, tasks;
  int nw;
  const uint8_t *x, *w; /* w: s8 rows (M x R) */
  uint8_t xflip, pad;   /* pad: the flipped zero point */
  bool need_xsum;
  bool direct;          /* 1x1, stride 1, no padding: the rows of X are the im2col rows */
  int64_t x_count;      /* bytes of X (direct rows are read in place only when the read stays inside) */
  /* 2-D (not the direct 1x1): X copied once with its padding made explicit and split by the strides
   * into sh * sw phase planes (phase (a, b), row i, column jj = padded X at (i * sh + a, jj * sw + b)),
   * flipped; the GEMM's columns are the positions oh * Wpad + ow of that grid, so the im2col row of
   * tap (kh, kw) is one phase plane read in place from a fixed offset. The columns with ow >= OW are
   * computed and dropped when the block is copied out of ctmp. */
  const uint8_t *xpad;
  const int64_t *koff;            /* per im2col row k: its offset in xpad from the group's first plane */
  int64_t Hpad, Wpad, OW, OH, NC; /* NC: GEMM columns (O, or OH * Wpad when xpad) */
  int64_t sh, sw;                 /* strides: xpad holds sh * sw phase planes of Hpad x Wpad per channel */
  sn_qgemm_epi e;       /* row arrays for all M channels */
  uint8_t *y;
  size_t es, ws_bytes;
  uint8_t *ws;          /* per worker: packed block, 4 gather rows, xsum */
} qconv_job;

/* one im2col row (input channel plane xc, kernel tap t) over output positions [p0, p1) */
static void gather_row(const qconv_job *j, const uint8_t *xc, int64_t t, int64_t p0, int64_t p1, uint8_t *dst) {
  const sn_conv_geom *g = j->g;
  int64_t H = g->nd == 2 ? g->in[0] : 1, W = g->in[g->nd - 1], OW = g->out[g->nd - 1];
  int64_t KW = g->k[g->nd - 1], kh = g->nd == 2 ? t / KW : 0, kw = t % KW;
  int64_t sh = g->nd == 2 ? g->stride[0] : 1, sw = g->stride[g->nd - 1];
  int64_t dh = g->nd == 2 ? g->dil[0] : 1, dw = g->dil[g->nd - 1];
  int64_t ph = g->nd == 2 ? g->pad[0] : 0, pw = g->pad[g->nd - 1];
  uint8_t f = j->xflip, pad = j->pad;
  int64_t p = p0, oh = p0 / OW, ow = p0 % OW;
  while (p < p1) {
    int64_t n = OW - ow < p1 - p ? OW - ow : p1 - p;
    int64_t ih = oh * sh - ph + kh * dh;
    if (ih < 0 || ih >= H) {
      memset(dst, pad, (size_t)n);
    } else {
      const uint8_t *row = xc + ih * W;
      int64_t iw0 = ow * sw - pw + kw * dw;
      /* [0, lo) and [hi, n) fall in the padding, [lo, hi) reads row[iw0 + i * sw] */
      int64_t lo = iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw, hi = W - iw0 <= 0 ? 0 : (W - iw0 + sw - 1) / sw;
      if (lo > n) lo = n;
      if (hi > n) hi = n;
      if (hi < lo) hi = lo;
      memset(dst, pad, (size_t)lo);
      if (sw == 1)
        for (int64_t i = lo; i < hi; i++) dst[i] = row[iw0 + i] ^ f;
      else
        for (int64_t i = lo; i < hi; i++) dst[i] = row[iw0 + i * sw] ^ f;
      memset(dst + hi, pad, (size_t)(n - hi));
    }
    dst += n;
    p += n;
    oh++;
    ow = 0;
  }
}

/* X copied with its padding made explicit (the flipped zero point) and split by the strides into
 * sh * sw phase planes of Hpad x Wpad per channel (see qconv_job); only the phases a tap reads are
 * filled. The planes are split over the pool. NULL when out of memory. */
typedef struct xpad_job {
  const sn_conv_geom *g;
  const qconv_job *j;
  uint8_t *xp;
  int64_t planes;
  bool used_h[16], used_w[16], few;
  int nw;
} xpad_job;

static void qconv_xpad_task(void *arg, int w) {
  const xpad_job *t = arg;
  const sn_conv_geom *g = t->g;
  const qconv_job *j = t->j;
  int64_t H = g->in[0], W = g->in[1], pt = g->pad[0], pl = g->pad[1], sh = j->sh, sw = j->sw;
  int64_t Hq = j->Hpad, Wq = j->Wpad, plane = sh * sw * Hq * Wq;
  int64_t per = (t->planes + t->nw - 1) / t->nw, p0 = w * per, p1 = p0 + per < t->planes ? p0 + per : t->planes;
  uint8_t f = j->xflip, pad = j->pad;
  for (int64_t pi = p0; pi < p1; pi++)
    for (int64_t ph = 0; ph < sh; ph++)
      for (int64_t pw = 0; pw < sw; pw++)
        if (!t->few || (t->used_h[ph] && t->used_w[pw])) {
          uint8_t *rows = t->xp + pi * plane + (ph * sw + pw) * Hq * Wq;
          /* rows [i0, i1) read input rows i * sh + ph - pt inside [0, H); the others are padding */
          int64_t i0 = pt - ph <= 0 ? 0 : (pt - ph + sh - 1) / sh, i1 = H + pt - ph <= 0 ? 0 : (H + pt - ph + sh - 1) / sh;
          if (i1 > Hq) i1 = Hq;
          if (i0 > i1) i0 = i1;
          memset(rows, pad, (size_t)(i0 * Wq));
          /* column jj reads input column jj * sw + pw - pl */
          if (i1 > i0)
            sn_qconv_pad_rows(j->x + (pi * H + i0 * sh + ph - pt) * W, sh * W, i1 - i0, W, pw - pl, sw, f, pad,
                              rows + i0 * Wq, Wq, Wq);
          memset(rows + i1 * Wq, pad, (size_t)((Hq - i1) * Wq));
        }
}

static uint8_t *qconv_xpad(sn_kernel_ctx *c, const sn_conv_geom *g, const qconv_job *j, int64_t N, int64_t C) {
  int64_t sh = j->sh, sw = j->sw, plane = sh * sw * j->Hpad * j->Wpad, planes = N * C;
  /* slack: rows are read by whole 16-column panels (or 128-byte gathers), up to a row and a panel
   * past the last plane */
  size_t bytes = (size_t)(planes * plane + j->Wpad + 256);
  uint8_t *xp = sn_kernel_scratch(c, bytes);
  if (!xp) return NULL;
  xpad_job t;
  memset(&t, 0, sizeof t);
  t.g = g, t.j = j, t.xp = xp, t.planes = planes;
  /* phase (ph, pw) is read only when some tap lands on it (1x1 stride 2: phase (0, 0) alone) */
  t.few = sh <= 16 && sw <= 16;
  for (int64_t k = 0; t.few && k < g->k[0]; k++) t.used_h[(k * g->dil[0]) % sh] = true;
  for (int64_t k = 0; t.few && k < g->k[1]; k++) t.used_w[(k * g->dil[1]) % sw] = true;
  int nw = sn_nn_workers(c, 16.0 * (double)(planes * plane)); /* (a copy: two workers from 25 KB) */
  t.nw = nw < planes ? nw : (int)(planes > 0 ? planes : 1);
  sn_nn_run(c, t.nw, qconv_xpad_task, &t);
  memset(xp + planes * plane, j->pad, bytes - (size_t)(planes * plane));
  return xp;
}

static void qconv_task(void *arg, int64_t tb, int64_t te, int slot) {
  qconv_job *j = arg;
  uint8_t *packed = j->ws + (size_t)slot * j->ws_bytes;
  int64_t npp = (j->blk + 15) & ~(int64_t)15;
  uint8_t *rows = packed + (size_t)(j->Kp * npp);
  int32_t *xsum = (int32_t *)(rows + 4 * npp);
  uint8_t *ctmp = (uint8_t *)xsum + ((sizeof(int32_t) * (size_t)npp + 63) & ~(size_t)63);
  int64_t KK = j->R / j->Cg, in_sz = sn_geom_in_size(j->g);
  int64_t pplane = j->sh * j->sw * j->Hpad * j->Wpad;
  for (int64_t t = tb; t < te; t++) {
    int64_t mc = t % j->mchunks, rest = t / j->mchunks;
    int64_t pb = rest % j->nblk, ng = rest / j->nblk, gi = ng % j->G, n = ng / j->G;
    int64_t p0 = pb * j->blk, p1 = p0 + j->blk < j->NC ? p0 + j->blk : j->NC, np = p1 - p0;
    const uint8_t *xg = j->x + (n * j->C + gi * j->Cg) * in_sz;
    if (j->xpad) { /* rows read in place from the padded copy */
      memset(rows, 0, (size_t)npp);
      const uint8_t *pg = j->xpad + (n * j->C + gi * j->Cg) * pplane + p0;
      for (int64_t k0 = 0; k0 < j->R; k0 += 4) {
        const uint8_t *src[4];
        for (int r = 0; r < 4; r++) {
          int64_t k = k0 + r;
          if (k < j->R) {
            src[r] = pg + j->koff[k];
          } else {
            src[r] = rows; /* zeros */
          }
        }
        sn_qgemm_pack4(src[0], src[1], src[2], src[3], npp, 0, packed + k0 * 16, j->Kp * 16);
      }
    } else {
    if (j->need_xsum) memset(xsum, 0, sizeof(int32_t) * (size_t)npp);
    for (int64_t k0 = 0; k0 < j->R; k0 += 4) {
      const uint8_t *src[4];
      for (int r = 0; r < 4; r++) {
        uint8_t *dst = rows + r * npp;
        int64_t k = k0 + r;
        src[r] = dst;
        if (j->direct) { /* X's own row (flipped by the packer), staged only at the end of X */
          const uint8_t *row = xg + k * in_sz + p0;
          if (k < j->R && row + npp <= j->x + j->x_count) {
            src[r] = row;
          } else {
            if (k < j->R) memcpy(dst, row, (size_t)np);
            memset(dst + (k < j->R ? np : 0), 0, (size_t)(npp - (k < j->R ? np : 0)));
          }
          continue;
        }
        if (k < j->R)
          gather_row(j, xg + (k / KK) * in_sz, k % KK, p0, p1, dst);
        else
          memset(dst, 0, (size_t)np);
        memset(dst + np, 0, (size_t)(npp - np));
        if (j->need_xsum && k < j->R)
          for (int64_t i = 0; i < np; i++) xsum[i] += dst[i];
      }
      sn_qgemm_pack4(src[0], src[1], src[2], src[3], npp, j->direct ? j->xflip : 0, packed + k0 * 16, j->Kp * 16);
    }
    }
    sn_qgemm_epi e = j->e;
    int64_t r0 = gi * j->Mg;
    if (e.row_off) e.row_off += r0;
    if (e.row_f) e.row_f += r0;
    if (e.scale && e.scale_axis == 1) e.scale += r0;
    if (e.fbias && e.fbias_axis == 1) e.fbias += r0;
    e.col_f = j->need_xsum ? xsum : NULL;
    int64_t mper = (j->Mg + j->mchunks - 1) / j->mchunks;
    mper = (mper + 5) / 6 * 6;
    int64_t m0 = mc * mper, m1 = m0 + mper < j->Mg ? m0 + mper : j->Mg;
    if (!j->xpad || j->Wpad == j->OW) { /* the GEMM's columns are the output positions */
      uint8_t *C = j->y + ((n * j->M + r0) * j->O + p0) * j->es;
      if (e.res) e.res += (n * j->M + r0) * j->O + p0;
      sn_qgemm(true, j->R, j->w + r0 * j->R, j->R, packed, &e, C, j->O, m0, m1, 0, np);
      continue;
    }
    /* rows m0..m1 into ctmp (row stride npp), then the valid columns of each grid row out */
    if (e.row_off) e.row_off += m0;
    if (e.scale && e.scale_axis == 1) e.scale += m0;
    if (e.fbias && e.fbias_axis == 1) e.fbias += m0;
    sn_qgemm(true, j->R, j->w + (r0 + m0) * j->R, j->R, packed, &e, ctmp, npp, 0, m1 - m0, 0, np);
    for (int64_t q = p0; q < p1;) {
      int64_t oh = q / j->Wpad, ow = q % j->Wpad, run = j->Wpad - ow < p1 - q ? j->Wpad - ow : p1 - q;
      int64_t cnt = ow < j->OW ? (j->OW - ow < run ? j->OW - ow : run) : 0;
      if (cnt > 0) { /* short rows (7..16 bytes): a byte loop beats a memcpy call */
        size_t bytes = (size_t)cnt * j->es;
        uint8_t *dst = j->y + ((n * j->M + r0 + m0) * j->O + oh * j->OW + ow) * j->es;
        const uint8_t *src = ctmp + (q - p0) * (int64_t)j->es;
        for (int64_t m = m0; m < m1; m++, dst += j->O * j->es, src += npp * j->es)
          if (bytes > 16)
            memcpy(dst, src, bytes);
          else
            for (size_t b = 0; b < bytes; b++) dst[b] = src[b];
      }
      q += run;
    }
  }
}

/* ---- depthwise (one input channel per group): kernels/qdwconv.h ------------------------------------- */

typedef struct qdw_job {
  sn_qdw d;
  int64_t C_in, M, chunk, nchunk, tasks;
  int nw;
  const uint8_t *x;
  uint8_t *y;
  size_t es, ws_bytes;
  uint8_t *ws;
} qdw_job;

static void qdw_task(void *arg, int64_t b, int64_t e, int slot) {
  qdw_job *j = arg;
  for (int64_t t = b; t < e; t++) {
    int64_t n = t / j->nchunk, c0 = (t % j->nchunk) * j->chunk, c1 = c0 + j->chunk < j->M ? c0 + j->chunk : j->M;
    sn_qdwconv(&j->d, j->x + n * j->C_in * j->d.H * j->d.W, j->y + (size_t)(n * j->M * j->d.OH * j->d.OW) * j->es, c0,
               c1, j->ws + (size_t)slot * j->ws_bytes);
  }
}

/* The depthwise kernel's taps: W (M x K bytes of type wdt) minus its zero point wz (NULL, one, or one
 * per output channel, u8/s8) as int32; whether every tap fits s8. */
static bool dw_taps(const uint8_t *ws, sn_dtype wdt, const sn_tensor *wz, int64_t M, int64_t K, int32_t *wt) {
  bool wsig = wdt == SINTER_INT8, fits = true, one_z = !wz || wz->count == 1;
  if (!one_z && sn_dtype_q8(wz->dtype)) { /* per-channel zero points all 0 (symmetric weights) */
    const uint8_t *zb = wz->data;
    uint8_t any = 0;
    for (int64_t m = 0; m < wz->count; m++) any |= zb[m];
    one_z = !any;
  }
  if (one_z) { /* one zero point: flat loops the compiler vectorizes */
    int32_t z = ld_i(wz, 0), lo = 0, hi = 0;
    int64_t n = M * K;
    if (wsig)
      for (int64_t i = 0; i < n; i++) wt[i] = (int32_t)(int8_t)ws[i] - z;
    else
      for (int64_t i = 0; i < n; i++) wt[i] = (int32_t)ws[i] - z;
    for (int64_t i = 0; i < n; i++) {
      lo = wt[i] < lo ? wt[i] : lo;
      hi = wt[i] > hi ? wt[i] : hi;
    }
    fits = lo >= -128 && hi <= 127;
  }
  for (int64_t m = 0; m < (one_z ? 0 : M); m++) {
    int32_t z = ld_i(wz, m);
    int32_t *wm = wt + m * K;
    const uint8_t *sm = ws + m * K;
    if (wsig)
      for (int64_t k = 0; k < K; k++) wm[k] = (int32_t)(int8_t)sm[k] - z;
    else
      for (int64_t k = 0; k < K; k++) wm[k] = (int32_t)sm[k] - z;
    int32_t lo = 0, hi = 0;
    for (int64_t k = 0; k < K; k++) {
      lo = wm[k] < lo ? wm[k] : lo;
      hi = wm[k] > hi ? wm[k] : hi;
    }
    fits = fits && lo >= -128 && hi <= 127;
  }
  return fits;
}

sn_error *sn_qweights_dwconv(const sn_tensor *w, const sn_tensor *wz, sn_qweights **out) {
  *out = NULL;
  if (!w || !w->data || !sn_dtype_q8(w->dtype) || w->rank < 3 || w->dims[0] <= 0 || w->dims[1] != 1 || w->count <= 0) return NULL;
  int64_t M = w->dims[0], K = w->count / M;
  if (wz && (!wz->data || !sn_dtype_q8(wz->dtype) || (wz->count != 1 && wz->count != M))) return NULL;
  sn_qweights *q = sn_calloc(1, sizeof *q);
  if (!q) return SN_ERR_OOM();
  q->src = w->data, q->dt = w->dtype, q->rows = M, q->cols = K, q->form = SN_QFORM_DW, q->cg = 1;
  q->zsrc = wz ? wz->data : NULL, q->zdt = wz ? wz->dtype : SINTER_UNDEFINED, q->zcount = wz ? wz->count : 0;
  q->kh = w->rank == 4 ? w->dims[2] : 1;
  q->kw = w->rank == 4 ? w->dims[3] : w->dims[w->rank - 1];
  q->wt = sn_aligned_alloc(sizeof(int32_t) * (size_t)(M * K));
  bool cm = (w->rank == 3 || w->rank == 4) && q->kh * q->kw == K;
  q->wcm = cm ? sn_aligned_alloc(sn_qdwconv_cm_pack_size(M, q->kh, q->kw)) : NULL;
  if (!q->wt || (cm && !q->wcm)) {
    sn_qweights_free(q);
    return SN_ERR_OOM();
  }
  q->w_s8 = dw_taps(w->data, w->dtype, wz, M, K, q->wt);
  if (cm) sn_qdwconv_cm_pack(q->wt, M, q->kh, q->kw, q->wcm);
  if (cm && q->w_s8) {
    if (!(q->wq = sn_aligned_alloc(sn_qdwconv_cmq_pack_size(M, q->kh, q->kw)))) {
      sn_qweights_free(q);
      return SN_ERR_OOM();
    }
    sn_qdwconv_cmq_pack(q->wt, M, q->kh, q->kw, q->wq);
  }
  *out = q;
  return NULL;
}

void sn_qweights_dw_taps(const sn_qweights *q, const int32_t **taps, bool *s8) {
  *taps = q && q->form == SN_QFORM_DW ? q->wt : NULL;
  *s8 = q && q->form == SN_QFORM_DW && q->w_s8;
}

static bool qdwconv(sn_kernel_ctx *c, const sn_qargs *a, const qparams *p, const sn_conv_geom *g, int64_t N,
                    int64_t C, int64_t M, sn_error **err) {
  qdw_job j;
  memset(&j, 0, sizeof j);
  sn_qdw *d = &j.d;
  bool two = g->nd == 2;
  d->H = two ? g->in[0] : 1, d->W = g->in[g->nd - 1];
  d->OH = two ? g->out[0] : 1, d->OW = g->out[g->nd - 1];
  d->KH = two ? g->k[0] : 1, d->KW = g->k[g->nd - 1];
  d->sh = two ? g->stride[0] : 1, d->sw = g->stride[g->nd - 1];
  d->dh = two ? g->dil[0] : 1, d->dw = g->dil[g->nd - 1];
  d->ph = two ? g->pad[0] : 0, d->pw = g->pad[g->nd - 1];
  if (d->sh < 1 || d->sw < 1 || d->dh < 1 || d->dw < 1 || d->ph < 0 || d->pw < 0 || d->KH < 1 || d->KW < 1) return false;
  int64_t K = d->KH * d->KW;
  if (a->w->count != M * K) return false;
  d->mult = M / C;
  d->x_signed = a->x->dtype == SINTER_INT8;
  d->zx = ld_i(a->xz, 0);
  const sn_qweights *pw = a->pw;
  if (pw && pw->form == SN_QFORM_DW && pw->wt && pw->src == a->w->data && pw->dt == a->w->dtype && pw->rows == M &&
      pw->cols == K && pw->zsrc == (a->wz ? a->wz->data : NULL) &&
      (!a->wz || (pw->zdt == a->wz->dtype && pw->zcount == a->wz->count))) {
    d->w = pw->wt, d->w_s8 = pw->w_s8; /* made at load (sn_qweights_dwconv) */
    if (pw->wcm && pw->kh == d->KH && pw->kw == d->KW) d->wcm = pw->wcm, d->wcm_ch = M;
    if (pw->wq && pw->kh == d->KH && pw->kw == d->KW) d->wq = pw->wq, d->wq_ch = M;
  } else {
    int32_t *wt = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(M * K));
    const uint8_t *ws = sn_qconv_weight_bytes(c, a->w, pw);
    if (!wt || !ws) return (*err = SN_ERR_OOM()), true;
    d->w_s8 = dw_taps(ws, a->w->dtype, a->wz, M, K, wt);
    d->w = wt;
  }
  d->e = (sn_qgemm_epi){p->out, p->ibias, NULL, NULL, NULL, p->scale, 1, p->fbias, 1, p->zy, p->lo, p->hi};
  j.C_in = C, j.M = M, j.x = a->x->data, j.y = a->y->data;
  j.es = p->out == SN_QOUT_I32 || p->out == SN_QOUT_F32 ? 4 : 1;
  int nw = sn_nn_workers(c, 2.0 * (double)N * (double)M * (double)(d->OH * d->OW) * (double)K);
  /* channel chunks: a few per worker, whole depth-multiplier groups */
  int64_t want = (4 * (int64_t)nw + N - 1) / N;
  int64_t chunk = (M + want - 1) / want;
  chunk = (chunk + d->mult - 1) / d->mult * d->mult;
  if (sn_qdwconv_use_cm(d, M) && chunk < M) /* whole 16-channel blocks of the channel-minor kernels */
    chunk = (chunk + 16 * d->mult - 1) / (16 * d->mult) * (16 * d->mult);
  if (chunk < 1) chunk = 1;
  j.chunk = chunk;
  j.nchunk = (M + chunk - 1) / chunk;
  j.tasks = N * j.nchunk;
  j.nw = nw < j.tasks ? nw : (int)j.tasks;
  if (j.nw < 1) j.nw = 1;
  j.ws_bytes = (sn_qdwconv_ws_size(d) + 63) & ~(size_t)63;
  /* the chunks on demand, a workspace per pool thread */
  j.ws = sn_kernel_scratch(c, j.ws_bytes * (size_t)sn_nn_slots(c, j.nw));
  if (!j.ws) return (*err = SN_ERR_OOM()), true;
  *err = sn_nn_run_tasks(c, j.nw, j.tasks, qdw_task, &j);
  return true;
}

/* ---- transposed: output positions x channels ----------------------------------------------------------
 * A = the im2col rows of X transposed (position o, then R bytes: channel-major taps), u8; B = W^T packed
 * (s8); C^T stored straight into Y's channel planes by the GEMM's transposed epilogue. */

typedef struct qconv_t_job {
  const qconv_job *j;  /* geometry, X (or its padded planes), flips */
  uint8_t *A;          /* per image: Op rows (positions) of Kp bytes */
  int64_t Op, groups, lda; /* Op = O rounded up to 16; groups of 16 k (rows of lda = 16 groups bytes) */
  int64_t img;         /* bytes of A per image */
  /* tap rows gathered: from X's own planes by per-tap tables (taps x Op entries, -1 for padding) when
   * a plane has at most 256 bytes (tables), else from the padded phase planes (one table, no padding;
   * NULL when the rows are contiguous there) */
  bool tables;
  const int32_t *idx;
  const uint8_t *idx8; /* the same as bytes where they allow the 256-byte VBMI gather, or NULL */
  const uint64_t *valid; /* per table: (Op / 64 + 1) words of non-padding bits */
  const int64_t *koff;   /* per im2col row k: its plane (or phase-plane run) from the image's first */
  const int32_t *ktap;   /* per k: its kernel tap */
  int64_t nvw;
  const uint8_t *zero; /* Op zero bytes */
  const uint8_t *Bp;
  const int32_t *xsum; /* per row, or NULL */
  int64_t cb, ncb, tasks;
  int nw;
} qconv_t_job;

/* phase 1: worker w builds its share of the k-quads of A, every image */
static void qconv_t_build(void *arg, int w) {
  qconv_t_job *t = arg;
  const qconv_job *j = t->j;
  int64_t O = j->O, Op = t->Op, in_sz = sn_geom_in_size(j->g);
  int64_t pplane = j->sh * j->sw * j->Hpad * j->Wpad;
  int64_t per = (t->groups + t->nw - 1) / t->nw, g0 = w * per, g1 = g0 + per < t->groups ? g0 + per : t->groups;
  uint8_t *tmp = j->ws + (size_t)w * j->ws_bytes; /* 16 rows of Op bytes */
  uint8_t padf = (uint8_t)(j->pad ^ j->xflip);
  for (int64_t n = 0; n < j->N; n++) {
    const uint8_t *xn = j->x + n * j->C * in_sz, *pn = j->xpad ? j->xpad + n * j->C * pplane : NULL;
    for (int64_t gq = g0; gq < g1; gq++) { /* k in [16 gq, 16 gq + 16) */
      const uint8_t *src[16];
      uint8_t flip = 0;
      for (int r = 0; r < 16; r++) {
        int64_t k = 16 * gq + r;
        src[r] = t->zero;
        if (k >= j->R) continue;
        if (t->tables) { /* flipped by the packer, the pad byte too */
          int64_t tap = t->ktap[k];
          sn_qconv_gather(xn + t->koff[k], in_sz, t->idx + tap * Op, t->idx8 ? t->idx8 + tap * Op : NULL,
                          t->valid + tap * t->nvw, O, padf, tmp + r * Op);
          src[r] = tmp + r * Op;
          flip = j->xflip;
        } else if (!pn) { /* 1x1, stride 1, no padding: the channel plane itself, flipped by the packer */
          const uint8_t *row = xn + t->koff[k];
          flip = j->xflip;
          if (row + Op <= j->x + j->x_count) {
            src[r] = row;
          } else {
            memcpy(tmp + r * Op, row, (size_t)O);
            src[r] = tmp + r * Op;
          }
        } else if (!t->idx) { /* a contiguous run of a phase plane */
          src[r] = pn + t->koff[k];
        } else {
          sn_qconv_gather(pn + t->koff[k], 256, t->idx, t->idx8, t->valid, O, 0, tmp + r * Op);
          src[r] = tmp + r * Op;
        }
      }
      /* the zero rows past R take the flip too: the GEMM reads only R bytes of a row */
      sn_qgemm_pack16_rows(src, Op, flip, t->A + n * t->img + 16 * gq, t->lda);
    }
  }
}

/* phase 2: one image's rows x one block of output channels */
static void qconv_t_gemm(void *arg, int64_t kb, int64_t ke, int slot) {
  qconv_t_job *t = arg;
  const qconv_job *j = t->j;
  (void)slot;
  for (int64_t k = kb; k < ke; k++) {
    int64_t n = k / t->ncb, c0 = (k % t->ncb) * t->cb, c1 = c0 + t->cb < j->M ? c0 + t->cb : j->M;
    sn_qgemm_epi e = j->e;
    if (e.row_f) e.row_f = t->xsum + n * j->O;
    if (e.res) e.res += n * j->M * j->O;
    sn_qgemm(false, j->R, t->A + n * t->img, t->lda, t->Bp, &e, j->y + (size_t)(n * j->M * j->O) * j->es, j->O, 0, j->O, c0,
             c1);
  }
}

static bool qconv_t(sn_kernel_ctx *c, const sn_qargs *a, const qparams *p, qconv_job *j, sn_error **err) {
  const sn_conv_geom *g = j->g;
  int64_t M = j->M, R = j->R, Kp = sn_qgemm_kp(R), O = j->O;
  qconv_t_job t;
  memset(&t, 0, sizeof t);
  t.j = j, t.Op = sn_qgemm_np(O), t.groups = (R + 15) / 16, t.lda = 16 * t.groups, t.img = t.Op * t.lda;
  const int32_t *wsum;
  if (!conv_weights(c, a, SN_QFORM_T, M, R, j->Cg, &t.Bp, &wsum)) return (*err = SN_ERR_OOM()), true;
  int32_t *coff = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)M);
  t.A = sn_kernel_scratch(c, (size_t)(j->N * t.img));
  uint8_t *zero = sn_kernel_scratch(c, (size_t)t.Op);
  if (!coff || !t.A || !zero) return (*err = SN_ERR_OOM()), true;
  memset(zero, 0, (size_t)t.Op);
  t.zero = zero;
  zp_offsets(p, wsum, R, M, coff);
  /* X: its own planes (1x1, stride 1, no padding), or the padded phase planes, whose tap rows are
   * contiguous when the grid has no extra columns and gathered otherwise */
  bool plain = sn_geom_k_size(g) == 1;
  for (int d = 0; d < g->nd; d++)
    if (g->stride[d] != 1 || g->pad[d] != 0 || g->in[d] != g->out[d] || g->k[d] != 1) plain = false;
  j->x_count = a->x->count;
  t.nvw = t.Op / 64 + 1;
  if (!plain) {
    int64_t sh = g->stride[0], sw = g->stride[1], dh = g->dil[0], dw = g->dil[1];
    if (g->nd != 2 || sh < 1 || sw < 1 || g->pad[0] < 0 || g->pad[1] < 0) return false;
    int64_t H = g->in[0], W = g->in[1], OW = g->out[1], KW = g->k[1], KK = g->k[0] * KW;
    t.tables = H * W <= 256;
    int64_t ntab = t.tables ? KK : 1;
    int32_t *idx = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(ntab * t.Op));
    uint8_t *idx8 = sn_kernel_scratch(c, (size_t)(ntab * t.Op));
    uint64_t *valid = sn_kernel_scratch(c, sizeof(uint64_t) * (size_t)(ntab * t.nvw));
    if (!idx || !idx8 || !valid) return (*err = SN_ERR_OOM()), true;
    memset(valid, 0, sizeof(uint64_t) * (size_t)(ntab * t.nvw));
    bool small = true;
    if (t.tables) {
      for (int64_t tap = 0; tap < KK; tap++)
        for (int64_t o = 0; o < t.Op; o++) {
          int64_t ih = (o / OW) * sh - g->pad[0] + (tap / KW) * dh, iw = (o % OW) * sw - g->pad[1] + (tap % KW) * dw;
          bool in = o < O && ih >= 0 && ih < H && iw >= 0 && iw < W;
          idx[tap * t.Op + o] = in ? (int32_t)(ih * W + iw) : -1;
          idx8[tap * t.Op + o] = in ? (uint8_t)(ih * W + iw) : 0;
          if (in) valid[tap * t.nvw + o / 64] |= (uint64_t)1 << (o % 64);
        }
    } else {
      j->sh = sh, j->sw = sw, j->OH = g->out[0], j->OW = OW;
      j->Hpad = j->OH + ((g->k[0] - 1) * dh) / sh, j->Wpad = OW + ((KW - 1) * dw) / sw;
      j->xpad = qconv_xpad(c, g, j, j->N, j->C);
      if (!j->xpad) return (*err = SN_ERR_OOM()), true;
      for (int64_t o = 0; o < t.Op; o++) {
        idx[o] = o < O ? (int32_t)((o / OW) * j->Wpad + o % OW) : 0;
        small = small && idx[o] < 256;
        idx8[o] = (uint8_t)idx[o];
        valid[o / 64] |= (uint64_t)1 << (o % 64);
      }
      if (j->Wpad == OW) idx = NULL; /* contiguous rows */
    }
    t.idx = idx, t.idx8 = small ? idx8 : NULL, t.valid = valid;
  }
  {
    int64_t *koff = sn_kernel_scratch(c, sizeof(int64_t) * (size_t)R);
    int32_t *ktap = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)R);
    if (!koff || !ktap) return (*err = SN_ERR_OOM()), true;
    int64_t KK = R / j->Cg, KW = g->k[g->nd - 1], in_sz = sn_geom_in_size(g);
    int64_t pplane = j->sh * j->sw * j->Hpad * j->Wpad;
    for (int64_t k = 0; k < R; k++) {
      int64_t ci = k / KK, tap = k % KK;
      ktap[k] = (int32_t)tap;
      if (j->xpad) {
        int64_t rh = (tap / KW) * g->dil[0], cw = (tap % KW) * g->dil[1];
        koff[k] = ci * pplane + (((rh % j->sh) * j->sw + cw % j->sw) * j->Hpad + rh / j->sh) * j->Wpad + cw / j->sw;
      } else {
        koff[k] = ci * in_sz;
      }
    }
    t.koff = koff, t.ktap = ktap;
  }
  int nw = sn_nn_workers(c, 2.0 * (double)j->N * (double)M * (double)O * (double)R);
  /* phase 1 over k-quads */
  int nb = (int)(t.groups < nw ? t.groups : nw);
  if (nb < 1) nb = 1;
  j->ws_bytes = ((size_t)(16 * t.Op) + 63) & ~(size_t)63;
  j->ws = sn_kernel_scratch(c, j->ws_bytes * (size_t)nb);
  if (!j->ws) return (*err = SN_ERR_OOM()), true;
  t.nw = nb;
  sn_nn_run(c, nb, qconv_t_build, &t);
  if (p->zw_any) { /* row sums of A (padding included: its value is the zero point) */
    int32_t *xs = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(j->N * O));
    if (!xs) return (*err = SN_ERR_OOM()), true;
    for (int64_t n = 0; n < j->N; n++) sn_qgemm_row_sums(t.A + n * t.img, t.lda, O, R, false, xs + n * O);
    t.xsum = xs;
  }
  j->e = (sn_qgemm_epi){p->out, NULL, coff, p->zw_any ? t.xsum : NULL, p->zw_any ? p->zw : NULL, p->scale, 2,
                        p->fbias, 2, p->zy, p->lo, p->hi, true};
  /* no residual here: gathered per element through the transposed store it costs more than the
   * in-place add after the conv (ops/conv.c) over these small maps */
  /* channel blocks: W^T columns of about 384 KiB (they stay in L2 while every row block reads them),
   * whole 64-column tiles, at least two per worker */
  int64_t cb = ((384 * 1024) / Kp) & ~(int64_t)63;
  if (cb < 64) cb = 64;
  while (cb > 64 && j->N * ((M + cb - 1) / cb) < 2 * nw) cb = ((cb / 2) + 63) & ~(int64_t)63;
  if (cb > M) cb = sn_qgemm_np(M);
  t.cb = cb, t.ncb = (M + cb - 1) / cb, t.tasks = j->N * t.ncb;
  t.nw = nw < t.tasks ? nw : (int)t.tasks;
  *err = sn_nn_run_tasks(c, t.nw, t.tasks, qconv_t_gemm, &t); /* the blocks on demand */
  return true;
}

/* ---- positions x channels from NHWC (SN_QFORM_NHWC) ---------------------------------------------------------
 * X copied once into a padded NHWC buffer (the flipped zero point around it); the im2col row of output
 * position o is then KK contiguous runs of C bytes (tap-major, as W^T was packed at load), read in
 * place (or copied into a block of rows per task); the GEMM writes the NHWC result, transposed into
 * Y's channel planes. With nhwc, X and Y are NHWC themselves (sn_qconv_nhwc): the copy is a plain
 * padded copy, or none at all (no padding, u8 X: the windows are read from X), the GEMM writes Y,
 * and a residual is added in its epilogue. */

typedef struct qconv_h_job {
  const qconv_job *j;
  uint8_t *xh;           /* per image Hp x Wp x C, or NULL where the GEMM reads X itself */
  const uint8_t *xb;     /* what the GEMM reads: xh or X */
  int64_t ximg, xrow;    /* bytes per image and per row of xb */
  int64_t Hp, Wp, pt, pl;
  const int64_t *tapoff; /* per tap: offset of its run from the window's first pixel */
  const uint8_t *Bp;
  uint8_t *yt;           /* per image O x M (NHWC result; Y itself with nhwc) */
  int64_t rb, nrb, cb, ncb, cg, ncg, tasks;
  int nw;
  bool nhwc;
  bool xsums;            /* the epilogue needs A's row sums (weights with zero points) */
  bool indirect;         /* C % 4 == 0: the GEMM reads the rows from xb (sn_qgemm_ind), else copies them */
  uint8_t *ws;           /* per worker: rb x R bytes of A, rb row sums */
  size_t ws_bytes;
} qconv_h_job;

/* n bytes XORed with f (0: a copy) */
static void copy_flip(uint8_t *dst, const uint8_t *src, int64_t n, uint8_t f) {
  if (!f) {
    memcpy(dst, src, (size_t)n);
    return;
  }
  for (int64_t i = 0; i < n; i++) dst[i] = src[i] ^ f;
}

/* phase 1: input rows [of the images] into the padded NHWC copy */
static void qconv_h_in(void *arg, int w) {
  qconv_h_job *t = arg;
  const qconv_job *j = t->j;
  const sn_conv_geom *g = j->g;
  int64_t H = g->in[0], W = g->in[1], C = j->C, HW = H * W, img = t->Hp * t->Wp * C;
  int64_t rows = j->N * t->Hp, per = (rows + t->nw - 1) / t->nw, r0 = w * per, r1 = r0 + per < rows ? r0 + per : rows;
  for (int64_t r = r0; r < r1; r++) {
    int64_t n = r / t->Hp, hp = r % t->Hp, h = hp - t->pt;
    uint8_t *dst = t->xh + n * img + hp * t->Wp * C;
    if (h < 0 || h >= H) {
      memset(dst, j->pad, (size_t)(t->Wp * C));
      continue;
    }
    int64_t wr = t->Wp - t->pl - W; /* right padding (may be negative: columns never read) */
    int64_t wn = wr < 0 ? W + wr : W;
    memset(dst, j->pad, (size_t)(t->pl * C));
    if (wr > 0) memset(dst + (t->pl + W) * C, j->pad, (size_t)(wr * C));
    if (t->nhwc)
      copy_flip(dst + t->pl * C, j->x + (n * HW + h * W) * C, wn * C, j->xflip);
    else
      sn_qgemm_transpose(j->x + n * C * HW + h * W, C, wn, HW, j->xflip, dst + t->pl * C, C);
  }
}

/* phase 2: a block of output positions x a group of channel blocks */
static void qconv_h_gemm(void *arg, int64_t kb, int64_t ke, int slot) {
  qconv_h_job *t = arg;
  const qconv_job *j = t->j;
  const sn_conv_geom *g = j->g;
  int64_t C = j->C, R = j->R, KK = R / C, OW = g->out[1], sh = g->stride[0], sw = g->stride[1];
  bool ind = t->indirect;
  uint8_t *A = t->ws + (size_t)slot * t->ws_bytes; /* (copied rows: not indirect) */
  int32_t *xsum = (int32_t *)(A + (ind ? 0 : (t->rb * R + 63) & ~(int64_t)63));
  const uint8_t **rp = (const uint8_t **)(void *)(xsum + ((t->rb + 15) & ~(int64_t)15));
  const int64_t rows = j->N * j->O; /* the images' output positions one after another */
  for (int64_t k = kb; k < ke; k++) {
    int64_t cgi = k % t->ncg, rbi = k / t->ncg;
    int64_t o0 = rbi * t->rb, o1 = o0 + t->rb < rows ? o0 + t->rb : rows;
    int64_t n = o0 / j->O, oh = (o0 % j->O) / OW, ow = o0 % OW;
    const uint8_t *xn = t->xb + n * t->ximg;
    for (int64_t o = o0; o < o1; o++) {
      if (oh == g->out[0]) oh = 0, xn += t->ximg; /* the next image */
      const uint8_t *win = xn + (oh * sh) * t->xrow + ow * sw * C;
      if (ind) {
        rp[o - o0] = win;
        if (t->xsums) { /* the zero-point correction: the row's sum, padding included */
          uint32_t sum = 0;
          for (int64_t tp = 0; tp < KK; tp++)
            for (int64_t b = 0; b < C; b++) sum += win[t->tapoff[tp] + b];
          xsum[o - o0] = (int32_t)sum;
        }
        if (++ow == OW) ow = 0, oh++;
        continue;
      }
      uint8_t *row = A + (o - o0) * R;
      for (int64_t tp = 0; tp < KK; tp++) { /* runs of 16..512 bytes: fixed-size copies the compiler inlines */
        const uint8_t *src = win + t->tapoff[tp];
        uint8_t *dst = row + tp * C;
        int64_t b = 0;
        for (; b + 64 <= C; b += 64) memcpy(dst + b, src + b, 64);
        for (; b + 16 <= C; b += 16) memcpy(dst + b, src + b, 16);
        for (; b < C; b++) dst[b] = src[b];
      }
      if (++ow == OW) ow = 0, oh++;
    }
    sn_qgemm_epi e = j->e;
    if (t->xsums) { /* the zero-point correction: row sums of A, padding included */
      if (!ind) sn_qgemm_row_sums(A, R, o1 - o0, R, false, xsum);
      e.row_f = xsum;
    }
    if (e.res) e.res += o0 * j->M;
    int64_t c0 = cgi * t->cg * t->cb, c1 = c0 + t->cg * t->cb < j->M ? c0 + t->cg * t->cb : j->M;
    for (int64_t cc = c0; cc < c1; cc += t->cb) {
      int64_t ce = cc + t->cb < c1 ? cc + t->cb : c1;
      uint8_t *Y = t->yt + o0 * j->M;
      if (ind)
        sn_qgemm_ind(rp, t->tapoff, KK, C, t->Bp, &e, Y, j->M, 0, o1 - o0, cc, ce);
      else
        sn_qgemm(false, R, A, R, t->Bp, &e, Y, j->M, 0, o1 - o0, cc, ce);
    }
  }
}

/* phase 3: the NHWC result into Y's planes, split over channels */
static void qconv_h_out(void *arg, int w) {
  qconv_h_job *t = arg;
  const qconv_job *j = t->j;
  int64_t per = ((j->M + t->nw - 1) / t->nw + 15) & ~(int64_t)15;
  int64_t m0 = w * per, m1 = m0 + per < j->M ? m0 + per : j->M;
  for (int64_t n = 0; n < j->N && m0 < m1; n++)
    sn_qgemm_transpose(t->yt + n * j->O * j->M + m0, j->O, m1 - m0, j->M, 0, j->y + (n * j->M + m0) * j->O, j->O);
}

static bool qconv_h(sn_kernel_ctx *c, const sn_qargs *a, const qparams *p, qconv_job *j, bool nhwc, sn_error **err) {
  const sn_conv_geom *g = j->g;
  int64_t M = j->M, R = j->R, O = j->O, C = j->C;
  if (g->nd != 2 || j->G != 1 || (p->out != SN_QOUT_U8 && p->out != SN_QOUT_S8) || g->pad[0] < 0 || g->pad[1] < 0)
    return false;
  int64_t sh = g->stride[0], sw = g->stride[1], dh = g->dil[0], dw = g->dil[1], KH = g->k[0], KW = g->k[1];
  qconv_h_job t;
  memset(&t, 0, sizeof t);
  t.j = j, t.nhwc = nhwc;
  const int32_t *wsum;
  if (!conv_weights(c, a, SN_QFORM_NHWC, M, R, C, &t.Bp, &wsum)) return (*err = SN_ERR_OOM()), true;
  /* the padded copy covers every window: rows [-pt, (OH - 1) sh + (KH - 1) dh - pt] */
  t.pt = g->pad[0], t.pl = g->pad[1];
  t.Hp = (g->out[0] - 1) * sh + (KH - 1) * dh + 1, t.Wp = (g->out[1] - 1) * sw + (KW - 1) * dw + 1;
  if (t.Hp < t.pt + 1 || t.Wp < t.pl + 1) return false;
  /* NHWC, no padding, nothing to flip: the windows are X's own pixels */
  bool in_place = nhwc && !j->xflip && !g->pad[0] && !g->pad[1] && t.Hp <= g->in[0] &&
                  t.Wp <= g->in[1];
  int64_t *tapoff = sn_kernel_scratch(c, sizeof(int64_t) * (size_t)(KH * KW));
  int32_t *coff = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)M);
  t.xh = in_place ? NULL : sn_kernel_scratch(c, (size_t)(j->N * t.Hp * t.Wp * C));
  t.yt = nhwc ? a->y->data : sn_kernel_scratch(c, (size_t)(j->N * O * M));
  if (!tapoff || !coff || (!in_place && !t.xh) || !t.yt) return (*err = SN_ERR_OOM()), true;
  t.xb = in_place ? j->x : t.xh;
  t.xrow = (in_place ? g->in[1] : t.Wp) * C;
  t.ximg = (in_place ? g->in[0] : t.Hp) * t.xrow;
  for (int64_t kh = 0; kh < KH; kh++)
    for (int64_t kw = 0; kw < KW; kw++) tapoff[kh * KW + kw] = kh * dh * t.xrow + kw * dw * C;
  t.tapoff = tapoff;
  zp_offsets(p, wsum, R, M, coff);
  j->e = (sn_qgemm_epi){p->out, NULL, coff, NULL, p->zw_any ? p->zw : NULL, p->scale, 2, p->fbias, 2, p->zy, p->lo, p->hi};
  if (nhwc) residual(a, p, &j->e); /* indexed like Y */
  t.xsums = p->zw_any;
  int nw = sn_nn_workers(c, 2.0 * (double)j->N * (double)M * (double)O * (double)R);
  t.nw = nw;
  if (!in_place) sn_nn_run(c, nw, qconv_h_in, &t);
  /* row blocks of about 96 KiB of A (whole 6-row tiles), channel blocks of about 256 KiB of W^T
   * (whole 64-column tiles); channel groups split a row block between workers when there are few */
  /* (the row blocks run over the images' positions one after another, as Y holds them: at batch 8 a
   * 7 x 7 map is 392 rows, not 8 blocks of 48 rows and 8 of one) */
  int64_t rows = j->N * O, rb = ((96 * 1024) / R) / 6 * 6;
  if (rb < 6) rb = 6;
  if (rb > 96) rb = 96;
  int64_t nrb = (rows + rb - 1) / rb;
  if (nrb < 4 * nw && nrb % nw) nrb += nw - nrb % nw; /* few blocks: as many per worker */
  rb = ((rows + nrb - 1) / nrb + 5) / 6 * 6;           /* near-equal blocks of whole 6-row tiles */
  int64_t cb = ((256 * 1024) / R) & ~(int64_t)63;
  if (cb < 64) cb = 64;
  if (cb > M) cb = M;
  t.rb = rb, t.nrb = (rows + rb - 1) / rb, t.cb = cb, t.ncb = (M + cb - 1) / cb;
  t.ncg = 1;
  if (t.nrb < 2 * nw) t.ncg = t.ncb < 2 * nw ? t.ncb : 2 * nw;
  /* a few row blocks that do not divide among the workers: channel groups make as many tasks per
   * worker */
  if (t.nrb % nw && t.nrb < 4 * nw && t.ncg < nw) t.ncg = t.ncb < nw ? t.ncb : nw;
  t.cg = (t.ncb + t.ncg - 1) / t.ncg;
  t.ncg = (t.ncb + t.cg - 1) / t.cg;
  t.tasks = t.nrb * t.ncg;
  t.nw = nw < t.tasks ? nw : (int)t.tasks;
  /* per worker: A (rb x R, only where the rows are copied), rb row sums (padded to 16), rb row pointers */
  t.indirect = C % 4 == 0; /* the rows read in place (sn_qgemm_ind), one segment per tap */
  t.ws_bytes = (size_t)(t.indirect ? 0 : (t.rb * R + 63) & ~(int64_t)63) +
               sizeof(int32_t) * (size_t)((t.rb + 15) & ~(int64_t)15) + ((sizeof(void *) * (size_t)t.rb + 63) & ~(size_t)63);
  /* the tasks on demand, a workspace per pool thread */
  t.ws = sn_kernel_scratch(c, t.ws_bytes * (size_t)sn_nn_slots(c, t.nw));
  if (!t.ws) return (*err = SN_ERR_OOM()), true;
  if ((*err = sn_nn_run_tasks(c, t.nw, t.tasks, qconv_h_gemm, &t))) return true;
  if (!nhwc) {
    t.nw = nw;
    sn_nn_run(c, nw, qconv_h_out, &t);
  }
  return true;
}

/* The job's sizes and operands, shared by both layouts: 1 ready, 0 nothing to compute (an empty
 * output), -1 not this path's (W not M x R) */
static int qconv_job_init(qconv_job *j, const sn_qargs *a, const qparams *p, const sn_conv_geom *g, int64_t N,
                          int64_t C, int64_t M, int64_t G) {
  memset(j, 0, sizeof *j);
  j->g = g, j->N = N, j->C = C, j->M = M, j->G = G, j->Cg = C / G, j->Mg = M / G;
  j->O = sn_geom_out_size(g);
  j->R = j->Cg * sn_geom_k_size(g);
  if (j->O == 0 || N == 0) return 0;
  if (a->w->count != M * j->R) return -1;
  j->Kp = sn_qgemm_kp(j->R);
  j->xflip = flip_of(a->x->dtype, false);
  j->pad = (uint8_t)p->zx;
  j->x = a->x->data;
  j->x_count = a->x->count;
  j->es = p->out == SN_QOUT_I32 || p->out == SN_QOUT_F32 ? 4 : 1;
  j->y = a->y->data;
  return 1;
}

bool sn_qconv_nhwc(sn_kernel_ctx *c, const sn_qargs *a, const sn_conv_geom *g, int64_t N, int64_t C, int64_t M,
                   int64_t G, sn_error **err) {
  *err = NULL;
  if (g->nd != 2 || M <= 0 || G != 1 || C <= 0) return false;
  qparams p;
  if (!qparams_make(c, a, M, &p, err)) return false;
  if (*err) return true;
  if (p.out != SN_QOUT_U8 && p.out != SN_QOUT_S8) return false;
  qconv_job j;
  int ready = qconv_job_init(&j, a, &p, g, N, C, M, 1);
  return ready > 0 ? qconv_h(c, a, &p, &j, true, err) : ready == 0;
}

bool sn_qconv(sn_kernel_ctx *c, const sn_qargs *a, const sn_conv_geom *g, int64_t N, int64_t C, int64_t M, int64_t G,
              sn_error **err) {
  *err = NULL;
  if (g->nd < 1 || g->nd > 2 || M <= 0 || G <= 0 || M % G || C % G) return false;
  qparams p;
  if (!qparams_make(c, a, M, &p, err)) return false;
  if (*err) return true;
  if (G == C && sn_geom_out_size(g) > 0 && N > 0) return qdwconv(c, a, &p, g, N, C, M, err);
  qconv_job j;
  int ready = qconv_job_init(&j, a, &p, g, N, C, M, G);
  if (ready <= 0) return ready == 0;
  if (g->nd == 2) {
    int form = sn_qconv_form(g->out, g->k, g->stride, g->dil, j.Cg, G, p.out == SN_QOUT_U8 || p.out == SN_QOUT_S8);
    if (form == SN_QFORM_NHWC && qconv_h(c, a, &p, &j, false, err)) return true;
    if (form == SN_QFORM_T && qconv_t(c, a, &p, &j, err)) return true;
  }
  /* W as s8 rows and their sums: packed at load, or now */
  const int32_t *wsum;
  if (!conv_weights(c, a, SN_QFORM_CM, M, j.R, j.Cg, &j.w, &wsum)) return (*err = SN_ERR_OOM()), true;
  int32_t *roff = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)M);
  if (!roff) return (*err = SN_ERR_OOM()), true;
  zp_offsets(&p, wsum, j.R, M, roff);
  j.need_xsum = p.zw_any;
  j.direct = !j.need_xsum && sn_geom_k_size(g) == 1;
  for (int d = 0; d < g->nd; d++)
    if (g->stride[d] != 1 || g->pad[d] != 0 || g->in[d] != g->out[d] || g->k[d] != 1) j.direct = false;
  j.NC = j.O;
  bool padded = !j.need_xsum && g->nd == 2 && !j.direct;
  if (padded) {
    int64_t sh = g->stride[0], sw = g->stride[1], dh = g->dil[0], dw = g->dil[1];
    j.sh = sh, j.sw = sw;
    j.OH = g->out[0], j.OW = g->out[1];
    j.Hpad = j.OH + ((g->k[0] - 1) * dh) / sh, j.Wpad = j.OW + ((g->k[1] - 1) * dw) / sw;
    /* the extra columns cost (Wpad - OW) / OW more work: worth it unless the rows are narrow */
    padded = sh >= 1 && sw >= 1 && g->pad[0] >= 0 && g->pad[1] >= 0 && (j.Wpad - j.OW) * 4 <= j.OW;
  }
  if (padded) {
    j.NC = j.OH * j.Wpad;
    j.xpad = qconv_xpad(c, g, &j, N, C);
    int64_t *koff = sn_kernel_scratch(c, sizeof(int64_t) * (size_t)j.R);
    if (!j.xpad || !koff) return (*err = SN_ERR_OOM()), true;
    int64_t KK = j.R / j.Cg, KW = g->k[1], pplane = j.sh * j.sw * j.Hpad * j.Wpad;
    for (int64_t k = 0; k < j.R; k++) {
      int64_t ci = k / KK, tap = k % KK, rh = (tap / KW) * g->dil[0], cw = (tap % KW) * g->dil[1];
      koff[k] = ci * pplane + (((rh % j.sh) * j.sw + cw % j.sw) * j.Hpad + rh / j.sh) * j.Wpad + cw / j.sw;
    }
    j.koff = koff;
  }
  j.e = (sn_qgemm_epi){p.out, roff, NULL, p.zw_any ? p.zw : NULL, NULL, p.scale, 1, p.fbias, 1, p.zy, p.lo, p.hi};
  if (!j.xpad || j.Wpad == j.OW) residual(a, &p, &j.e); /* not through the scratch tile */
  /* column blocks: the packed block (Kp x blk bytes) about a fifth of a 1 MiB L2, whole 64-column
   * tiles of the GEMM kernel where that leaves more than one. AMX tiles run several times faster than
   * VNNI and read each weight tile once per block: half the L2 per block, so that the weights are
   * streamed fewer times (64 positions a block ran slower than VNNI on ResNet-50). */
  int64_t NC = j.NC;
  int64_t budget = sn_cpu_has_amx_int8() ? (int64_t)(sn_cpu_cache_sizes().l2 / 2) : 192 * 1024;
  int64_t blk = budget / j.Kp;
  blk = blk < 64 ? 64 : blk & ~(int64_t)63;
  /* equal blocks (a block of a few columns runs the kernel's narrowest tile over all of K), up to a
   * quarter over the budget rather than a second block */
  int64_t nb0 = (NC + blk + blk / 4 - 1) / (blk + blk / 4);
  blk = ((NC + nb0 - 1) / nb0 + 15) & ~(int64_t)15;
  int nw = sn_nn_workers(c, 2.0 * (double)N * (double)M * (double)j.O * (double)j.R);
  int64_t nb = (NC + blk - 1) / blk, units = N * G * nb;
  j.mchunks = 1;
  if (units % nw && units < 4 * nw && j.Mg >= 12 * nw) {
    /* few blocks that do not divide among the workers (one block of 196 columns, or three for two
     * workers): every worker takes all of them for its share of the output channels */
    j.mchunks = nw;
  } else if (units < nw && nb > 0) { /* smaller blocks so every worker has one */
    int64_t want = (nw + N * G - 1) / (N * G);
    int64_t b2 = ((NC + want - 1) / want + 15) & ~(int64_t)15;
    if (b2 >= 32) blk = b2 < blk ? b2 : blk;
  }
  j.blk = blk;
  j.nblk = (NC + blk - 1) / blk;
  j.tasks = N * G * j.nblk * j.mchunks;
  j.nw = nw < j.tasks ? nw : (int)j.tasks;
  int64_t npp = (blk + 15) & ~(int64_t)15;
  j.ws_bytes = ((size_t)(j.Kp * npp + 4 * npp) + 63) & ~(size_t)63;
  j.ws_bytes += (sizeof(int32_t) * (size_t)npp + 63) & ~(size_t)63;
  if (j.xpad) j.ws_bytes += ((size_t)(j.Mg * npp) * j.es + 63) & ~(size_t)63;
  /* the tasks on demand, a workspace per pool thread */
  j.ws = sn_kernel_scratch(c, j.ws_bytes * (size_t)sn_nn_slots(c, j.nw));
  if (!j.ws) return (*err = SN_ERR_OOM()), true;
  *err = sn_nn_run_tasks(c, j.nw, j.tasks, qconv_task, &j);
  return true;
}

/* ---- MatMul -------------------------------------------------------------------------------------------- */

typedef struct qmm_job {
  int64_t M, N, K, nbatch, mblk, nblk, nmb, nnb, tasks;
  int nw;
  const int64_t *aoff, *boff;
  const uint8_t *A;  /* u8 rows of every A matrix */
  const uint8_t *Bp; /* packed B matrices, one per distinct boff */
  size_t bstride;    /* bytes between packed B matrices */
  const int32_t *coff, *rsum; /* per B matrix: N column offsets; per A row: row sums (or NULL) */
  sn_qgemm_epi e;
  uint8_t *y;
  size_t es;
  sn_epilogue *epi; /* a fused op's float epilogue, per tile (float output only), or NULL */
} qmm_job;

static void qmm_task(void *arg, int64_t tb, int64_t te, int slot) {
  qmm_job *j = arg;
  (void)slot;
  for (int64_t t = tb; t < te; t++) {
    int64_t nb = t % j->nnb, rest = t / j->nnb, mb = rest % j->nmb, b = rest / j->nmb;
    int64_t m0 = mb * j->mblk, m1 = m0 + j->mblk < j->M ? m0 + j->mblk : j->M;
    int64_t n0 = nb * j->nblk, n1 = n0 + j->nblk < j->N ? n0 + j->nblk : j->N;
    sn_qgemm_epi e = j->e;
    e.col_off = j->coff + j->boff[b] * j->N;
    if (e.row_f) e.row_f = j->rsum + j->aoff[b] * j->M;
    if (e.row_off) e.row_off = j->rsum + j->aoff[b] * j->M;
    sn_qgemm(false, j->K, j->A + j->aoff[b] * j->M * j->K, j->K, j->Bp + (size_t)j->boff[b] * j->bstride, &e,
             j->y + (size_t)(b * j->M * j->N) * j->es, j->N, m0, m1, n0, n1);
    if (j->epi) j->epi->fn(j->epi->arg, b * j->M + m0, b * j->M + m1, n0, n1);
  }
}

bool sn_qmatmul(sn_kernel_ctx *c, const sn_qargs *a, int64_t M, int64_t N, int64_t K, bool transB, int64_t nbatch,
                const int64_t *aoff, const int64_t *boff, sn_error **err) {
  *err = NULL;
  if (M <= 0 || N <= 0 || nbatch <= 0) return false;
  qparams p;
  if (!qparams_make(c, a, N, &p, err)) return false;
  if (*err) return true;
  if (K <= 0) return false;
  qmm_job j;
  memset(&j, 0, sizeof j);
  j.M = M, j.N = N, j.K = K, j.nbatch = nbatch, j.aoff = aoff, j.boff = boff;
  /* A as u8 */
  int64_t na = 0, nbm = 0;
  for (int64_t b = 0; b < nbatch; b++) {
    if (aoff[b] + 1 > na) na = aoff[b] + 1;
    if (boff[b] + 1 > nbm) nbm = boff[b] + 1;
  }
  if (a->x->count < na * M * K || a->w->count < nbm * K * N) return false;
  uint8_t af = flip_of(a->x->dtype, false);
  if (af) {
    uint8_t *t = sn_kernel_scratch(c, (size_t)(na * M * K));
    if (!t) return (*err = SN_ERR_OOM()), true;
    const uint8_t *s = a->x->data;
    for (int64_t i = 0; i < na * M * K; i++) t[i] = s[i] ^ af;
    j.A = t;
  } else {
    j.A = a->x->data;
  }
  /* B packed: at load, or now */
  const sn_qweights *pw = a->pw && nbm == 1 && a->pw->src == a->w->data && a->pw->dt == a->w->dtype &&
                                  a->pw->rows == K && a->pw->cols == N && a->pw->transB == transB
                              ? a->pw
                              : NULL;
  const int32_t *csum;
  j.bstride = sn_qgemm_packed_size(K, N);
  if (pw) {
    j.Bp = pw->data;
    csum = pw->sums;
  } else {
    uint8_t *bp = sn_kernel_scratch(c, j.bstride * (size_t)nbm);
    int32_t *cs = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(nbm * N));
    if (!bp || !cs) return (*err = SN_ERR_OOM()), true;
    uint8_t f = flip_of(a->w->dtype, true);
    for (int64_t b = 0; b < nbm; b++)
      sn_qgemm_pack_b((const uint8_t *)a->w->data + b * K * N, transB ? K : N, transB, K, N, f, true,
                      bp + (size_t)b * j.bstride, cs + b * N);
    j.Bp = bp;
    csum = cs;
  }
  int32_t *coff = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(nbm * N));
  if (!coff) return (*err = SN_ERR_OOM()), true;
  for (int64_t b = 0; b < nbm; b++) zp_offsets(&p, csum + b * N, K, N, coff + b * N);
  j.coff = coff;
  /* B's zero point one value (B an activation, quantized per tensor): its term -zw * rowsum(A) is an
   * offset per row, which the GEMM's register tiles add with the column offsets; per column, the rank-1
   * term */
  bool zw_one = p.zw_any;
  for (int64_t n = 1; n < N && zw_one; n++) zw_one = p.zw[n] == p.zw[0];
  if (p.zw_any) {
    int32_t *rs = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(na * M));
    if (!rs) return (*err = SN_ERR_OOM()), true;
    sn_qgemm_row_sums(j.A, K, na * M, K, false, rs);
    if (zw_one)
      for (int64_t i = 0; i < na * M; i++) rs[i] = (int32_t)((uint32_t)rs[i] * (uint32_t)-p.zw[0]);
    j.rsum = rs;
  }
  j.e = (sn_qgemm_epi){p.out, zw_one ? j.rsum : NULL, NULL, p.zw_any && !zw_one ? j.rsum : NULL,
                       p.zw_any && !zw_one ? p.zw : NULL, p.scale, 2, p.fbias, 2, p.zy, p.lo, p.hi};
  j.es = p.out == SN_QOUT_I32 || p.out == SN_QOUT_F32 ? 4 : 1;
  j.y = a->y->data;
  /* column blocks of about 256 KiB of packed B, row blocks of 6 rows' multiples */
  int64_t nblk = ((256 * 1024) / sn_qgemm_kp(K)) & ~(int64_t)63;
  if (nblk < 64) nblk = 64;
  if (nblk > N) nblk = (N + 15) & ~(int64_t)15;
  int nw = sn_nn_workers(c, 2.0 * (double)nbatch * (double)M * (double)N * (double)K);
  int64_t mblk = 48;
  if (mblk > M) mblk = M;
  int64_t nmb = (M + mblk - 1) / mblk, nnb = (N + nblk - 1) / nblk;
  while (nbatch * nmb * nnb < 2 * nw && nblk > 64) { /* enough tasks to balance */
    nblk = ((nblk / 2) + 15) & ~(int64_t)15;
    nnb = (N + nblk - 1) / nblk;
  }
  j.mblk = mblk, j.nblk = nblk, j.nmb = nmb, j.nnb = nnb;
  j.tasks = nbatch * nmb * nnb;
  j.nw = nw < j.tasks ? nw : (int)j.tasks;
  j.epi = c->epi && c->epi->fn && p.out == SN_QOUT_F32 ? c->epi : NULL;
  if ((*err = sn_nn_run_tasks(c, j.nw, j.tasks, qmm_task, &j))) return true; /* the blocks on demand */
  if (j.epi) j.epi->done = true;
  return true;
}
