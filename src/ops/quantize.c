/* Linear quantization: QuantizeLinear and DequantizeLinear (10, 13, 19, 21, 23, 24: per-tensor,
 * per-axis and blocked scales; 8/16-bit and 4-bit integers, float8 and float4 codes) and
 * DynamicQuantizeLinear. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/quant.h"
#include "kernels/ref/nn_util.h"
#include "ops/op.h"

/* ---- attributes ---------------------------------------------------------------------------------- */

typedef struct qparams {
  int64_t axis;          /* as given (may be negative); 1 when the opset has no axis */
  int64_t block_size;    /* 0: per-tensor or per-axis */
  bool saturate;         /* float8 outputs */
  sn_dtype output_dtype; /* 0 when absent */
  sn_dtype precision;    /* QuantizeLinear 23+: type of the division; 0 when absent */
} qparams;

static bool is_quant_type(sn_dtype dt) {
  switch (dt) {
    case SINTER_UINT8:
    case SINTER_INT8:
    case SINTER_UINT16:
    case SINTER_INT16:
    case SINTER_UINT4:
    case SINTER_INT4:
    case SINTER_FLOAT8E4M3FN:
    case SINTER_FLOAT8E4M3FNUZ:
    case SINTER_FLOAT8E5M2:
    case SINTER_FLOAT8E5M2FNUZ:
    case SINTER_FLOAT4E2M1: return true;
    default: return false;
  }
}

static bool is_f8(sn_dtype dt) {
  return dt == SINTER_FLOAT8E4M3FN || dt == SINTER_FLOAT8E4M3FNUZ || dt == SINTER_FLOAT8E5M2 ||
         dt == SINTER_FLOAT8E5M2FNUZ;
}

static bool is_real(sn_dtype dt) {
  return dt == SINTER_FLOAT || dt == SINTER_FLOAT16 || dt == SINTER_BFLOAT16 || dt == SINTER_DOUBLE;
}

/* Range of an integer quantized type. */
static void int_range(sn_dtype dt, double *lo, double *hi) {
  switch (dt) {
    case SINTER_UINT8: *lo = 0, *hi = 255; return;
    case SINTER_INT8: *lo = -128, *hi = 127; return;
    case SINTER_UINT16: *lo = 0, *hi = 65535; return;
    case SINTER_INT16: *lo = -32768, *hi = 32767; return;
    case SINTER_UINT4: *lo = 0, *hi = 15; return;
    case SINTER_INT4: *lo = -8, *hi = 7; return;
    default: *lo = -2147483648.0, *hi = 2147483647.0; return;
  }
}

static void read_params(const sn_node *n, bool quantize, qparams *p) {
  /* ONNX Runtime's com.microsoft QuantizeLinear / DequantizeLinear (version 1): ai.onnx 21's
   * computation (axis; 8-bit, 16-bit and 4-bit integers) without blocks */
  const bool ms = n->domain && !strcmp(n->domain, "com.microsoft");
  const int v = ms ? 21 : n->opset;
  p->axis = v >= 13 ? sn_attr_int(n, "axis", 1) : 1;
  p->saturate = v >= 19 ? sn_attr_int(n, "saturate", 1) != 0 : true;
  p->block_size = v >= 21 ? sn_attr_int(n, "block_size", 0) : 0;
  p->output_dtype = (sn_dtype)((quantize ? v >= 21 : v >= 23) ? sn_attr_int(n, "output_dtype", 0) : 0);
  p->precision = (sn_dtype)(quantize && v >= 23 ? sn_attr_int(n, "precision", 0) : 0);
}

static sn_error *check_params(const sn_node *n, bool quantize, const qparams *p) {
  char desc[256];
  if (p->block_size < 0)
    return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: block_size %lld must not be negative",
                     sn_node_desc(n, desc, sizeof desc), (long long)p->block_size);
  if (p->output_dtype) {
    bool ok = quantize ? is_quant_type(p->output_dtype)
                       : (p->output_dtype == SINTER_FLOAT || p->output_dtype == SINTER_FLOAT16 ||
                          p->output_dtype == SINTER_BFLOAT16);
    if (!ok)
      return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: output_dtype %lld (%s) is not a supported %s type",
                       sn_node_desc(n, desc, sizeof desc), (long long)p->output_dtype,
                       sn_dtype_valid((int)p->output_dtype) ? sn_dtype_name(p->output_dtype) : "unknown",
                       quantize ? "quantized" : "output");
  }
  if (p->precision && !is_real(p->precision))
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: precision %lld (%s) is not a supported float type",
                     sn_node_desc(n, desc, sizeof desc), (long long)p->precision,
                     sn_dtype_valid((int)p->precision) ? sn_dtype_name(p->precision) : "unknown");
  return NULL;
}

static sn_error *prepare_common(sn_node *n, void **params, bool quantize) {
  qparams *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  read_params(n, quantize, p);
  sn_error *e = check_params(n, quantize, p);
  if (e) {
    sn_free(p);
    return e;
  }
  *params = p;
  return NULL;
}

static sn_error *q_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  return prepare_common(n, params, true);
}

static sn_error *dq_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g;
  return prepare_common(n, params, false);
}

static void q_free(void *p) { sn_free(p); }

/* The node's parameters (parsed at load; re-read when the node was not prepared). */
static sn_error *get_params(const sn_kernel_ctx *c, bool quantize, qparams *p) {
  if (c->params) {
    *p = *(const qparams *)c->params;
    return NULL;
  }
  read_params(c->node, quantize, p);
  return check_params(c->node, quantize, p);
}

/* ---- scale layout ------------------------------------------------------------------------------- */

/* x viewed as [outer, len, inner] around the quantization axis; the scale index of element
 * (o, a, i) is o*so + (a/blk)*sa + i*si. */
typedef struct qlayout {
  int64_t outer, len, inner, blk;
  int64_t so, sa, si;
} qlayout;

static sn_error *make_layout(const sn_kernel_ctx *c, const sn_tensor *x, const sn_tensor *s, const sn_tensor *zp,
                             const qparams *p, const char *sname, qlayout *L) {
  char b1[128], b2[128];
  if (!s || s->kind != SN_KIND_TENSOR)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input '%s' is missing or not a tensor", sname);
  if (zp && (zp->kind != SN_KIND_TENSOR || zp->count != s->count))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "zero point %s must have the shape of %s %s",
                           sn_tensor_describe(zp, b1, sizeof b1), sname, sn_tensor_describe(s, b2, sizeof b2));
  memset(L, 0, sizeof *L);
  L->outer = 1;
  L->len = x->count;
  L->inner = 1;
  L->blk = 1;
  if (s->count == 1) return NULL; /* per-tensor */
  int64_t ax = p->axis;
  if (ax < -x->rank || ax >= x->rank)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis %lld is out of range for x %s", (long long)p->axis,
                           sn_tensor_describe(x, b1, sizeof b1));
  if (ax < 0) ax += x->rank;
  L->outer = 1;
  for (int k = 0; k < ax; k++) L->outer *= x->dims[k];
  L->len = x->dims[ax];
  for (int k = (int)ax + 1; k < x->rank; k++) L->inner *= x->dims[k];
  if (p->block_size == 0) {
    if (s->rank != 1 || s->dims[0] != L->len)
      return sn_kernel_error(
          c, SINTER_ERR_INVALID_ARGUMENT, "%s %s must be a scalar or a 1-D tensor of length %lld (axis %lld of x %s)%s",
          sname, sn_tensor_describe(s, b1, sizeof b1), (long long)L->len, (long long)ax,
          sn_tensor_describe(x, b2, sizeof b2), s->rank > 1 ? "; blocked quantization needs block_size" : "");
    L->sa = 1;
    return NULL;
  }
  const int64_t B = p->block_size;
  const int64_t nblk = L->len / B + (L->len % B ? 1 : 0);
  bool ok = s->rank == x->rank;
  for (int k = 0; ok && k < x->rank; k++) ok = k == ax ? s->dims[k] == nblk : s->dims[k] == x->dims[k];
  if (!ok)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                           "%s %s does not fit blocked quantization of x %s along axis %lld with block_size %lld",
                           sname, sn_tensor_describe(s, b1, sizeof b1), sn_tensor_describe(x, b2, sizeof b2),
                           (long long)ax, (long long)B);
  L->blk = B;
  L->so = nblk * L->inner;
  L->sa = L->inner;
  L->si = 1;
  return NULL;
}

/* Values of a small tensor as doubles in scratch memory. */
static sn_error *load_doubles(sn_kernel_ctx *c, const sn_tensor *t, double **out) {
  double *v = sn_kernel_scratch(c, sizeof(double) * (size_t)(t->count ? t->count : 1));
  if (!v) return SN_ERR_OOM();
  for (int64_t i = 0; i < t->count; i++) v[i] = sn_load_f64(t->dtype, t->data, i);
  *out = v;
  return NULL;
}

/* v rounded to the real type ct (float, float16, bfloat16 or double). */
static double round_to(sn_dtype ct, double v) {
  switch (ct) {
    case SINTER_FLOAT16: return sn_f16_to_f32(sn_f32_to_f16((float)v));
    case SINTER_BFLOAT16: return sn_bf16_to_f32(sn_f32_to_bf16((float)v));
    case SINTER_DOUBLE: return v;
    default: return (float)v;
  }
}

/* ---- QuantizeLinear ------------------------------------------------------------------------------ */

static sn_dtype q_out_dtype(const qparams *p, sn_dtype zp_dt) {
  if (zp_dt) return zp_dt;
  if (p->output_dtype) return p->output_dtype;
  return SINTER_UINT8;
}

static sn_error *q_infer(sn_infer_ctx *c) {
  qparams p;
  read_params(c->node, true, &p);
  if (c->n_in < 2 || !c->in[0] || !c->in[1]) return sn_infer_error(c, "needs inputs x and y_scale");
  const sn_type *x = c->in[0], *zp = c->n_in > 2 ? c->in[2] : NULL;
  if (x->kind != SN_KIND_TENSOR || c->in[1]->kind != SN_KIND_TENSOR || (zp && zp->kind != SN_KIND_TENSOR))
    return sn_infer_error(c, "inputs must be tensors");
  if (x->dtype && !is_real(x->dtype) && x->dtype != SINTER_INT32)
    return sn_infer_error(c, "x must be float, float16, bfloat16 or int32, got %s", sn_dtype_name(x->dtype));
  if (zp && zp->dtype && p.output_dtype && zp->dtype != p.output_dtype)
    return sn_infer_error(c, "output_dtype %s disagrees with the zero point's type %s", sn_dtype_name(p.output_dtype),
                          sn_dtype_name(zp->dtype));
  if (zp && zp->dtype && !is_quant_type(zp->dtype))
    return sn_infer_error(c, "y_zero_point has type %s, which is not a quantized type", sn_dtype_name(zp->dtype));
  /* a zero point of unknown type leaves the output type unknown unless output_dtype names it */
  sn_dtype dt = zp ? (zp->dtype ? zp->dtype : p.output_dtype) : q_out_dtype(&p, 0);
  if (c->n_out > 0 && c->out[0]) {
    *c->out[0] = *x;
    c->out[0]->dtype = dt;
  }
  return NULL;
}

/* The type the division x / scale is carried out in (numpy promotion in the onnx reference). */
static sn_dtype q_compute_type(sn_dtype xt, sn_dtype st, sn_dtype precision) {
  if (precision) return precision;
  if (xt == SINTER_INT32 || st == SINTER_INT32 || xt == SINTER_DOUBLE || st == SINTER_DOUBLE) return SINTER_DOUBLE;
  if (xt == st) return xt;
  return SINTER_FLOAT;
}

/* Per-tensor quantization of float32 to 8 bits, or dequantization back, split over the pool's threads
 * in chunks of whole cache lines (a network's input image: 150k elements) */
typedef struct qt_job {
  bool deq, s8;
  const void *x;
  void *y;
  float scale, zp; /* zp: quantizing */
  int32_t zi;       /* the zero point dequantizing */
} qt_job;

static void qt_part(void *p, int64_t b, int64_t e) {
  const qt_job *j = p;
  if (j->deq)
    sn_dequantize_f32((const uint8_t *)j->x + b, e - b, j->s8, j->zi, j->scale, (float *)j->y + b);
  else
    sn_quantize_f32((const float *)j->x + b, e - b, j->scale, j->zp, j->s8, (uint8_t *)j->y + b);
}

static void quant_tensor(sn_kernel_ctx *c, bool deq, const void *x, int64_t n, float scale, float zp, int32_t zi,
                         bool s8, void *y) {
  qt_job j = {deq, s8, x, y, scale, zp, zi};
  sn_nn_run_parts(c, sn_nn_workers(c, 4.0 * (double)n), n, qt_part, &j); /* (a few cycles an element) */
}

static sn_error *q_run(sn_kernel_ctx *c) {
  char b1[128];
  qparams p;
  SN_TRY(get_params(c, true, &p));
  const sn_tensor *x = c->n_in > 0 ? c->in[0] : NULL, *s = c->n_in > 1 ? c->in[1] : NULL;
  const sn_tensor *zp = c->n_in > 2 ? c->in[2] : NULL;
  if (!x || x->kind != SN_KIND_TENSOR)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input 'x' is missing or not a tensor");
  if (!is_real(x->dtype) && x->dtype != SINTER_INT32)
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "x %s must be float, float16, bfloat16 or int32",
                           sn_tensor_describe(x, b1, sizeof b1));
  qlayout L;
  SN_TRY(make_layout(c, x, s, zp, &p, "y_scale", &L));
  if (!is_real(s->dtype) && s->dtype != SINTER_INT32)
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "y_scale %s must be float, float16, bfloat16 or int32",
                           sn_tensor_describe(s, b1, sizeof b1));
  if (zp && p.output_dtype && zp->dtype != p.output_dtype)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "output_dtype %s disagrees with the zero point %s",
                           sn_dtype_name(p.output_dtype), sn_tensor_describe(zp, b1, sizeof b1));
  const sn_dtype odt = q_out_dtype(&p, zp ? zp->dtype : 0);
  if (!is_quant_type(odt))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "output type %s is not a supported quantized type",
                           sn_dtype_name(odt));
  const sn_dtype ct = q_compute_type(x->dtype, s->dtype, p.precision);
  double *sv = NULL, *zv = NULL;
  SN_TRY(load_doubles(c, s, &sv));
  for (int64_t i = 0; i < s->count; i++) sv[i] = round_to(ct, sv[i]);
  if (zp) SN_TRY(load_doubles(c, zp, &zv));
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, odt, x->rank, x->dims, &y));
  const bool is_int = sn_dt(odt)->is_int;
  double lo, hi;
  int_range(odt, &lo, &hi);
  uint8_t *y8 = y->data;
  int16_t *y16 = y->data;

  /* fast path: float input and scale, 8-bit integer output */
  if (x->dtype == SINTER_FLOAT && ct == SINTER_FLOAT && (odt == SINTER_UINT8 || odt == SINTER_INT8)) {
    const float *xf = x->data;
    const float flo = (float)lo, fhi = (float)hi;
    if (s->count == 1) { /* per tensor: the vectorized loop (identical results) */
      quant_tensor(c, false, xf, x->count, (float)sv[0], zv ? (float)zv[0] : 0.0f, 0, odt == SINTER_INT8, y8);
      return NULL;
    }
    for (int64_t o = 0; o < L.outer; o++)
      for (int64_t a = 0; a < L.len; a++) {
        const int64_t base = (o * L.len + a) * L.inner, sb = o * L.so + (a / L.blk) * L.sa;
        for (int64_t i = 0; i < L.inner; i++) {
          const int64_t si = sb + i * L.si;
          const float sc = (float)sv[si];
          const float z = zv ? (float)zv[si] : 0.0f;
          float v = rintf(xf[base + i] / sc) + z;
          v = v >= flo ? (v <= fhi ? v : fhi) : flo; /* NaN -> lo */
          if (odt == SINTER_UINT8)
            y8[base + i] = (uint8_t)(int)v;
          else
            ((int8_t *)y8)[base + i] = (int8_t)(int)v;
        }
      }
    return NULL;
  }

  for (int64_t o = 0; o < L.outer; o++)
    for (int64_t a = 0; a < L.len; a++) {
      const int64_t base = (o * L.len + a) * L.inner, sb = o * L.so + (a / L.blk) * L.sa;
      for (int64_t i = 0; i < L.inner; i++) {
        const int64_t k = base + i, si = sb + i * L.si;
        const double xv = round_to(ct, sn_load_f64(x->dtype, x->data, k));
        const double q = ct == SINTER_DOUBLE ? xv / sv[si] : round_to(ct, (double)((float)xv / (float)sv[si]));
        if (is_int) {
          double v = rint(q) + (zv ? zv[si] : 0.0);
          v = v >= lo ? (v <= hi ? v : hi) : lo;
          switch (odt) {
            case SINTER_UINT8:
            case SINTER_UINT4: y8[k] = (uint8_t)(int)v; break;
            case SINTER_INT8:
            case SINTER_INT4: ((int8_t *)y8)[k] = (int8_t)(int)v; break;
            case SINTER_UINT16: ((uint16_t *)y16)[k] = (uint16_t)(int)v; break;
            default: y16[k] = (int16_t)(int)v; break;
          }
        } else if (is_f8(odt)) {
          float f = (float)q;
          /* the zero point is normally 0 for float8; adding +0 would turn -0 into +0 */
          if (zv && zv[si] != 0.0) f += (float)zv[si];
          y8[k] = sn_f32_to_f8(odt, f, p.saturate);
        } else { /* float4e2m1 */
          y8[k] = sn_f32_to_f4e2m1((float)q + (zv ? (float)zv[si] : 0.0f));
        }
      }
    }
  return NULL;
}

/* ---- DequantizeLinear ---------------------------------------------------------------------------- */

static bool dq_input_ok(sn_dtype dt) { return is_quant_type(dt) || dt == SINTER_INT32; }

static sn_error *dq_infer(sn_infer_ctx *c) {
  qparams p;
  read_params(c->node, false, &p);
  if (c->n_in < 2 || !c->in[0] || !c->in[1]) return sn_infer_error(c, "needs inputs x and x_scale");
  const sn_type *x = c->in[0], *s = c->in[1], *zp = c->n_in > 2 ? c->in[2] : NULL;
  if (x->kind != SN_KIND_TENSOR || s->kind != SN_KIND_TENSOR || (zp && zp->kind != SN_KIND_TENSOR))
    return sn_infer_error(c, "inputs must be tensors");
  if (x->dtype && !dq_input_ok(x->dtype))
    return sn_infer_error(c, "x has type %s, which is not a quantized type", sn_dtype_name(x->dtype));
  if (s->dtype && s->dtype != SINTER_FLOAT && s->dtype != SINTER_FLOAT16 && s->dtype != SINTER_BFLOAT16)
    return sn_infer_error(c, "x_scale must be float, float16 or bfloat16, got %s", sn_dtype_name(s->dtype));
  if (c->n_out > 0 && c->out[0]) {
    *c->out[0] = *x;
    c->out[0]->dtype = p.output_dtype ? p.output_dtype : s->dtype;
  }
  return NULL;
}

/* Per-axis dequantization of 8-bit x to float32 (block_size 0): rows of `inner` elements sharing one
 * channel's scale and zero point (a conv weight along axis 0), through the vector loop; or, where the
 * axis is the last one (inner 1: a MatMul weight per column), each row of `len` channels in one pass.
 * The rows are split over the pool. The same float steps as the generic loop: (x - zp) converted,
 * times the scale. */
typedef struct dq_axis_job {
  const uint8_t *x;
  float *y;
  bool s8;
  int64_t rows, len, inner, chunk;
  const float *sc;
  const int32_t *zp; /* or NULL */
} dq_axis_job;

static void dq_axis_worker(void *arg, int w) {
  const dq_axis_job *j = arg;
  int64_t r0 = (int64_t)w * j->chunk, r1 = r0 + j->chunk < j->rows ? r0 + j->chunk : j->rows;
  for (int64_t r = r0; r < r1; r++) {
    if (j->inner > 1) {
      int64_t a = r % j->len;
      sn_dequantize_f32(j->x + r * j->inner, j->inner, j->s8, j->zp ? j->zp[a] : 0, j->sc[a], j->y + r * j->inner);
      continue;
    }
    const uint8_t *xr = j->x + r * j->len;
    float *yr = j->y + r * j->len;
    for (int64_t a = 0; a < j->len; a++) {
      int32_t v = j->s8 ? (int32_t)(int8_t)xr[a] : (int32_t)xr[a];
      yr[a] = (float)(v - (j->zp ? j->zp[a] : 0)) * j->sc[a];
    }
  }
}

static sn_error *dq_axis(sn_kernel_ctx *c, const sn_tensor *x, const qlayout *L, const double *sv, const double *zv,
                         float *y) {
  dq_axis_job j = {x->data, y, x->dtype == SINTER_INT8, 0, L->len, L->inner, 0, NULL, NULL};
  float *sc = sn_kernel_scratch(c, sizeof(float) * (size_t)L->len);
  int32_t *zp = zv ? sn_kernel_scratch(c, sizeof(int32_t) * (size_t)L->len) : NULL;
  if (!sc || (zv && !zp)) return SN_ERR_OOM();
  for (int64_t a = 0; a < L->len; a++) {
    sc[a] = (float)sv[a];
    if (zp) zp[a] = (int32_t)zv[a];
  }
  j.sc = sc, j.zp = zp;
  j.rows = L->inner > 1 ? L->outer * L->len : L->outer;
  int nw = sn_nn_workers(c, 4.0 * (double)x->count);
  if (nw > j.rows) nw = (int)j.rows;
  if (nw < 1) nw = 1;
  j.chunk = (j.rows + nw - 1) / nw;
  sn_nn_run(c, (int)((j.rows + j.chunk - 1) / j.chunk), dq_axis_worker, &j);
  return NULL;
}

static sn_error *dq_run(sn_kernel_ctx *c) {
  char b1[128], b2[128];
  qparams p;
  SN_TRY(get_params(c, false, &p));
  const sn_tensor *x = c->n_in > 0 ? c->in[0] : NULL, *s = c->n_in > 1 ? c->in[1] : NULL;
  const sn_tensor *zp = c->n_in > 2 ? c->in[2] : NULL;
  if (!x || x->kind != SN_KIND_TENSOR)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input 'x' is missing or not a tensor");
  if (!dq_input_ok(x->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "x %s is not a supported quantized type",
                           sn_tensor_describe(x, b1, sizeof b1));
  qlayout L;
  SN_TRY(make_layout(c, x, s, zp, &p, "x_scale", &L));
  if (s->dtype != SINTER_FLOAT && s->dtype != SINTER_FLOAT16 && s->dtype != SINTER_BFLOAT16)
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "x_scale %s must be float, float16 or bfloat16",
                           sn_tensor_describe(s, b1, sizeof b1));
  if (zp && zp->dtype != x->dtype)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "zero point %s must have the type of x %s",
                           sn_tensor_describe(zp, b1, sizeof b1), sn_tensor_describe(x, b2, sizeof b2));
  const sn_dtype odt = p.output_dtype ? p.output_dtype : s->dtype;
  double *sv = NULL, *zv = NULL;
  SN_TRY(load_doubles(c, s, &sv));
  if (zp) SN_TRY(load_doubles(c, zp, &zv));
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, odt, x->rank, x->dims, &y));
  const bool int_in = sn_dt(x->dtype)->is_int;
  if (s->count == 1 && odt == SINTER_FLOAT && (x->dtype == SINTER_UINT8 || x->dtype == SINTER_INT8)) {
    quant_tensor(c, true, x->data, x->count, (float)sv[0], 0.0f, zv ? (int32_t)zv[0] : 0, x->dtype == SINTER_INT8,
                 y->data);
    return NULL;
  }
  if (s->count > 1 && p.block_size == 0 && odt == SINTER_FLOAT &&
      (x->dtype == SINTER_UINT8 || x->dtype == SINTER_INT8) && x->count > 0)
    return dq_axis(c, x, &L, sv, zv, y->data);
  for (int64_t o = 0; o < L.outer; o++)
    for (int64_t a = 0; a < L.len; a++) {
      const int64_t base = (o * L.len + a) * L.inner, sb = o * L.so + (a / L.blk) * L.sa;
      for (int64_t i = 0; i < L.inner; i++) {
        const int64_t k = base + i, si = sb + i * L.si;
        float dx;
        if (int_in)
          dx = (float)(sn_load_i64(x->dtype, x->data, k) - (zv ? (int64_t)zv[si] : 0));
        else
          dx = (float)sn_load_f64(x->dtype, x->data, k) - (zv ? (float)zv[si] : 0.0f);
        const float v = dx * (float)sv[si];
        switch (odt) {
          case SINTER_FLOAT16: ((uint16_t *)y->data)[k] = sn_f32_to_f16(v); break;
          case SINTER_BFLOAT16: ((uint16_t *)y->data)[k] = sn_f32_to_bf16(v); break;
          default: ((float *)y->data)[k] = v; break;
        }
      }
    }
  return NULL;
}

/* ---- DynamicQuantizeLinear ----------------------------------------------------------------------- */

static sn_error *dyn_infer(sn_infer_ctx *c) {
  if (c->n_in < 1 || !c->in[0]) return sn_infer_error(c, "needs input x");
  const sn_type *x = c->in[0];
  if (x->kind != SN_KIND_TENSOR || (x->dtype && x->dtype != SINTER_FLOAT))
    return sn_infer_error(c, "x must be a float tensor");
  if (c->n_out > 0 && c->out[0]) {
    *c->out[0] = *x;
    c->out[0]->dtype = SINTER_UINT8;
  }
  if (c->n_out > 1 && c->out[1]) sn_type_set(c->out[1], SINTER_FLOAT, 0, NULL);
  if (c->n_out > 2 && c->out[2]) sn_type_set(c->out[2], SINTER_UINT8, 0, NULL);
  return NULL;
}

static sn_error *dyn_run(sn_kernel_ctx *c) {
  char b1[128];
  const sn_tensor *x = c->n_in > 0 ? c->in[0] : NULL;
  if (!x || x->kind != SN_KIND_TENSOR || x->dtype != SINTER_FLOAT)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "x must be a float tensor, got %s",
                           x ? sn_tensor_describe(x, b1, sizeof b1) : "nothing");
  sn_tensor *y, *ys, *yz;
  float scale;
  uint8_t zp;
  SN_TRY(sn_kernel_output(c, 0, SINTER_UINT8, x->rank, x->dims, &y));
  sn_nn_dyn_quant_u8(c, x->data, x->count, y->data, &scale, &zp);
  SN_TRY(sn_kernel_output(c, 1, SINTER_FLOAT, 0, NULL, &ys));
  *(float *)ys->data = scale;
  SN_TRY(sn_kernel_output(c, 2, SINTER_UINT8, 0, NULL, &yz));
  *(uint8_t *)yz->data = zp;
  return NULL;
}

/* Versions: 10 per-tensor; 13 per-axis (axis); 19 float8 outputs (saturate) and float16/bfloat16
 * scales; 21 blocked (block_size), 16-bit and 4-bit types, QuantizeLinear output_dtype; 23 float4,
 * QuantizeLinear precision, DequantizeLinear output_dtype; 24 adds float8e8m0 scales (not run). */
const sn_op sn_ops_quantize[] = {
    {"", "QuantizeLinear", 10, 12, q_infer, q_run, q_prepare, q_free, 0},
    {"", "QuantizeLinear", 13, 18, q_infer, q_run, q_prepare, q_free, 0},
    {"", "QuantizeLinear", 19, 20, q_infer, q_run, q_prepare, q_free, 0},
    {"", "QuantizeLinear", 21, 22, q_infer, q_run, q_prepare, q_free, 0},
    {"", "QuantizeLinear", 23, 23, q_infer, q_run, q_prepare, q_free, 0},
    {"", "QuantizeLinear", 24, 0, q_infer, q_run, q_prepare, q_free, 0},
    {"", "DequantizeLinear", 10, 12, dq_infer, dq_run, dq_prepare, q_free, 0},
    {"", "DequantizeLinear", 13, 18, dq_infer, dq_run, dq_prepare, q_free, 0},
    {"", "DequantizeLinear", 19, 20, dq_infer, dq_run, dq_prepare, q_free, 0},
    {"", "DequantizeLinear", 21, 22, dq_infer, dq_run, dq_prepare, q_free, 0},
    {"", "DequantizeLinear", 23, 23, dq_infer, dq_run, dq_prepare, q_free, 0},
    {"", "DequantizeLinear", 24, 0, dq_infer, dq_run, dq_prepare, q_free, 0},
    {"com.microsoft", "QuantizeLinear", 1, 0, q_infer, q_run, q_prepare, q_free, 0},
    {"com.microsoft", "DequantizeLinear", 1, 0, dq_infer, dq_run, dq_prepare, q_free, 0},
    {"", "DynamicQuantizeLinear", 11, 0, dyn_infer, dyn_run, NULL, NULL, 0},
    {0},
};
