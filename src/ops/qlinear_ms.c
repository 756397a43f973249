/* com.microsoft quantized ops that ONNX Runtime's quantizer emits (QOperator format and dynamic
 * MatMul): QGemm, DynamicQuantizeMatMul, MatMulIntegerToFloat (through the INT8 GEMM of
 * ops/qlinear.c), QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearConcat, QLinearSoftmax,
 * QLinearSigmoid, QLinearLeakyRelu and QLinearWhere (dequantize, compute in float32, requantize, as
 * ONNX Runtime does; QLinearAveragePool is with the other pooling ops in ops/pool.c). */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/qelem.h"
#include "kernels/quant.h"
#include "kernels/ref/broadcast.h"
#include "kernels/ref/elementwise_ref.h"
#include "kernels/ref/nn_util.h"
#include "ops/op.h"
#include "ops/qlinear.h"

static float ldf(const sn_tensor *t) { return t ? (float)sn_load_f64(t->dtype, t->data, 0) : 1.0f; }
static int32_t ldz(const sn_tensor *t) { return t ? (int32_t)sn_load_i64(t->dtype, t->data, 0) : 0; }
static const sn_tensor *opt_in(const sn_kernel_ctx *c, int i) { return c->n_in > i ? c->in[i] : NULL; }

static sn_tensor scalar_view(sn_dtype dt, void *p) {
  sn_tensor t;
  memset(&t, 0, sizeof t);
  t.kind = SN_KIND_TENSOR, t.dtype = dt, t.rank = 0, t.count = 1, t.nbytes = sn_dtype_size(dt), t.data = p;
  return t;
}

static uint8_t requant(float v, float zp, bool s8) {
  float lo = s8 ? -128.0f : 0.0f, hi = s8 ? 127.0f : 255.0f;
  v = rintf(v) + zp;
  v = v >= lo ? (v <= hi ? v : hi) : lo;
  return s8 ? (uint8_t)(int8_t)(int)v : (uint8_t)(int)v;
}

/* ---- matmul-like: QGemm, DynamicQuantizeMatMul, MatMulIntegerToFloat ---------------------------------- */

typedef struct qmm_params {
  sn_qweights *packed;
  bool transB;
} qmm_params;

static void qmm_free(void *p) {
  if (!p) return;
  sn_qweights_free(((qmm_params *)p)->packed);
  sn_free(p);
}

static sn_error *qmm_prepare(sn_graph *g, sn_node *n, void **params) {
  qmm_params *p = sn_calloc(1, sizeof *p);
  if (!p) return SN_ERR_OOM();
  bool qgemm = !strcmp(n->op_type, "QGemm");
  p->transB = qgemm && sn_attr_int(n, "transB", 0);
  int wi = qgemm ? 3 : 1;
  sn_error *e = NULL;
  char buf[160];
  if (qgemm && (sn_attr_int(n, "transA", 0) || sn_attr_float(n, "alpha", 1.0f) != 1.0f))
    e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: only transA = 0 and alpha = 1 are supported", sn_node_desc(n, buf, sizeof buf));
  if (!e && n->n_in > wi && n->in[wi] >= 0) {
    const sn_value *v = &g->values[n->in[wi]];
    if (v->role == SN_VAL_INITIALIZER && v->data) e = sn_qweights_matmul(v->data, p->transB, &p->packed);
  }
  if (e) {
    qmm_free(p);
    return e;
  }
  *params = p;
  return NULL;
}

/* y: A [..., K] x B [K, N] (or [N, K] with transB) -> [..., N] */
static sn_error *mm_infer(sn_infer_ctx *c, int ia, int ib, bool transB, sn_dtype ydt) {
  const sn_type *a = c->n_in > ia ? c->in[ia] : NULL, *b = c->n_in > ib ? c->in[ib] : NULL;
  if (!a || !b) return sn_infer_error(c, "inputs A and B are required");
  if (!c->out[0]) return NULL;
  if (a->rank < 1 || b->rank != 2) {
    sn_type_set_unknown(c->out[0], ydt);
    if (b->rank >= 0 && b->rank != 2) return sn_infer_error(c, "B must be 2-D");
    return NULL;
  }
  sn_dim d[SN_MAX_RANK];
  for (int i = 0; i < a->rank; i++) d[i] = a->dims[i];
  d[a->rank - 1] = transB ? b->dims[0] : b->dims[1];
  sn_type_set(c->out[0], ydt, a->rank, d);
  return NULL;
}

static sn_error *run_mm(sn_kernel_ctx *c, sn_qargs *qa, bool transB, sn_dtype ydt) {
  const sn_tensor *a = qa->x, *b = qa->w;
  char b1[128], b2[128];
  if (b->rank != 2 || a->rank < 1 || a->dims[a->rank - 1] != (transB ? b->dims[1] : b->dims[0]))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "A %s and B %s do not multiply", sn_tensor_describe(a, b1, sizeof b1),
                           sn_tensor_describe(b, b2, sizeof b2));
  int64_t K = a->dims[a->rank - 1], N = transB ? b->dims[0] : b->dims[1], M = K ? a->count / K : 0;
  int64_t dims[SN_MAX_RANK];
  memcpy(dims, a->dims, sizeof(int64_t) * (size_t)a->rank);
  dims[a->rank - 1] = N;
  SN_TRY(sn_kernel_output(c, 0, ydt, a->rank, dims, &qa->y));
  if (qa->y->count == 0) return NULL;
  const qmm_params *p = c->params;
  qa->pw = p ? p->packed : NULL;
  int64_t zero = 0;
  sn_error *e = NULL;
  if (!sn_qmatmul(c, qa, M, N, K, transB, 1, &zero, &zero, &e))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED,
                           "unsupported operands (8-bit A and B, per-tensor A quantization, per-tensor or per-column B, bias of N values)");
  return e;
}

static sn_error *qgemm_infer(sn_infer_ctx *c) {
  if (c->n_in < 5) return sn_infer_error(c, "needs A, a_scale, a_zero_point, B, b_scale, got %d inputs", c->n_in);
  sn_dtype ydt = c->n_in > 7 && c->in[7] ? (c->n_in > 8 && c->in[8] ? c->in[8]->dtype : SINTER_UINT8) : SINTER_FLOAT;
  return mm_infer(c, 0, 3, sn_attr_int(c->node, "transB", 0) != 0, ydt);
}

static sn_error *qgemm_run(sn_kernel_ctx *c) {
  const sn_tensor *ys = opt_in(c, 7), *yz = opt_in(c, 8);
  sn_qargs qa = {c->in[0], opt_in(c, 1), opt_in(c, 2), opt_in(c, 3), opt_in(c, 4), opt_in(c, 5), ys, yz, opt_in(c, 6), 0, NULL, NULL};
  if (!qa.x || !qa.xs || !qa.w || !qa.ws) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "A, a_scale, B, b_scale are required");
  const qmm_params *p = c->params;
  return run_mm(c, &qa, p && p->transB, ys ? (yz ? yz->dtype : SINTER_UINT8) : SINTER_FLOAT);
}

static sn_error *dqmm_infer(sn_infer_ctx *c) { return mm_infer(c, 0, 1, false, SINTER_FLOAT); }

/* DynamicQuantizeMatMul: A float quantized per tensor at run time as DynamicQuantizeLinear does */
static sn_error *dqmm_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0], *w = opt_in(c, 1), *ws = opt_in(c, 2);
  if (!x || x->dtype != SINTER_FLOAT || !w || !ws)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "needs a float A, B and b_scale");
  uint8_t *xq = sn_kernel_scratch(c, (size_t)(x->count ? x->count : 1));
  if (!xq) return SN_ERR_OOM();
  float scale;
  uint8_t z8;
  sn_nn_dyn_quant_u8(c, x->data, x->count, xq, &scale, &z8);
  sn_tensor xt = *x, st = scalar_view(SINTER_FLOAT, &scale), zt = scalar_view(SINTER_UINT8, &z8);
  xt.dtype = SINTER_UINT8, xt.nbytes = (size_t)x->count, xt.data = xq, xt.owns_data = false;
  sn_qargs qa = {&xt, &st, &zt, w, ws, opt_in(c, 3), NULL, NULL, opt_in(c, 4), 0, NULL, NULL};
  return run_mm(c, &qa, false, SINTER_FLOAT);
}

static sn_error *mmitf_run(sn_kernel_ctx *c) {
  sn_qargs qa = {c->in[0], opt_in(c, 2), opt_in(c, 4), opt_in(c, 1), opt_in(c, 3), opt_in(c, 5), NULL, NULL, opt_in(c, 6), 0, NULL, NULL};
  if (!qa.x || !qa.xs || !qa.w || !qa.ws) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "A, B, a_scale, b_scale are required");
  return run_mm(c, &qa, false, SINTER_FLOAT);
}

/* ---- QLinearAdd / QLinearMul ------------------------------------------------------------------------------ */

static sn_error *qbin_infer(sn_infer_ctx *c) {
  if (c->n_in < 7 || !c->in[0] || !c->in[3]) return sn_infer_error(c, "needs A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale");
  if (!c->out[0]) return NULL;
  SN_TRY(sn_infer_broadcast(c, c->in[0], c->in[3], c->out[0]));
  c->out[0]->dtype = c->in[0]->dtype;
  return NULL;
}

typedef struct qbin_job {
  const sn_bcast *bc;
  const uint8_t *a, *b;
  uint8_t *y;
  float rac, rbc, fixed, rm, cz;
  int32_t az, bz;
  bool s8, mul;
  int nw;
  int64_t rows_per;
} qbin_job;

/* Runs of at least this many elements with one operand broadcast (QLinearMul's x * s[C,1,1] of the
 * squeeze-excitation blocks) go through a 256-entry table: y = f(x) for the run's fixed other
 * operand, the table made by the same kernel over every byte value, so bit-identical. */
enum { QBIN_LUT_MIN = 256 };

static void qbin_rows(const qbin_job *j, int64_t r0, int64_t r1) {
  const sn_bcast *bc = j->bc;
  int sa = (int)bc->inner_stride[0], sb = (int)bc->inner_stride[1];
  bool lut = j->mul && bc->inner >= QBIN_LUT_MIN && (sa == 0) != (sb == 0);
  uint8_t iota[256], table[256];
  if (lut)
    for (int i = 0; i < 256; i++) iota[i] = (uint8_t)i;
  sn_bcast_iter it;
  sn_bcast_iter_start(&it, bc, r0);
  for (int64_t r = r0; r < r1; r++, sn_bcast_iter_next(&it)) {
    const uint8_t *pa = j->a + it.off[0], *pb = j->b + it.off[1];
    uint8_t *py = j->y + r * bc->inner;
    if (!j->mul) {
      sn_qlinear_add(pa, sa, pb, sb, bc->inner, j->rac, j->rbc, j->fixed, j->s8, py);
    } else if (lut) {
      if (sb == 0)
        sn_qlinear_mul(iota, 1, pb, 0, 256, j->az, j->bz, j->rm, j->cz, j->s8, table);
      else
        sn_qlinear_mul(pa, 0, iota, 1, 256, j->az, j->bz, j->rm, j->cz, j->s8, table);
      sn_qlut(sb == 0 ? pa : pb, bc->inner, table, py);
    } else {
      sn_qlinear_mul(pa, sa, pb, sb, bc->inner, j->az, j->bz, j->rm, j->cz, j->s8, py);
    }
  }
}

static void qbin_worker(void *arg, int w) {
  const qbin_job *j = arg;
  const sn_bcast *bc = j->bc;
  if (bc->rows == 1 && j->nw > 1) { /* one long run: equal pieces of it, 64-byte aligned */
    int64_t n = bc->inner, i0 = (w * n / j->nw) & ~(int64_t)63, i1 = w + 1 == j->nw ? n : ((w + 1) * n / j->nw) & ~(int64_t)63;
    if (i1 <= i0) return;
    int sa = (int)bc->inner_stride[0], sb = (int)bc->inner_stride[1];
    const uint8_t *pa = j->a + i0 * sa, *pb = j->b + i0 * sb;
    if (j->mul)
      sn_qlinear_mul(pa, sa, pb, sb, i1 - i0, j->az, j->bz, j->rm, j->cz, j->s8, j->y + i0);
    else
      sn_qlinear_add(pa, sa, pb, sb, i1 - i0, j->rac, j->rbc, j->fixed, j->s8, j->y + i0);
    return;
  }
  int64_t tasks = (bc->rows + j->rows_per - 1) / j->rows_per;
  int64_t t0 = w * tasks / j->nw, t1 = (w + 1) * tasks / j->nw;
  int64_t r0 = t0 * j->rows_per, r1 = t1 * j->rows_per < bc->rows ? t1 * j->rows_per : bc->rows;
  if (r1 > r0) qbin_rows(j, r0, r1);
}

static sn_error *qbin_run(sn_kernel_ctx *c, bool mul) {
  const sn_tensor *a = c->in[0], *b = c->in[3];
  if (!sn_dtype_q8(a->dtype) || b->dtype != a->dtype || !c->in[1] || !c->in[4] || !c->in[6])
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "A and B must both be int8 or uint8, scales given");
  const sn_tensor *in2[2] = {a, b};
  sn_bcast bc;
  int rank;
  int64_t dims[SN_MAX_RANK];
  SN_TRY(sn_bcast_init_tensors(&bc, 2, in2, &rank, dims));
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, a->dtype, rank, dims, &y));
  if (y->count == 0) return NULL;
  bool s8 = a->dtype == SINTER_INT8;
  float as = ldf(c->in[1]), bs = ldf(c->in[4]), cs = ldf(c->in[6]);
  int32_t az = ldz(opt_in(c, 2)), bz = ldz(opt_in(c, 5));
  float cz = (float)ldz(opt_in(c, 7));
  float rac = as / cs, rbc = bs / cs, rm = as * bs / cs;
  /* Add as ONNX Runtime's MLAS computes it: the zero points folded into one constant */
  float fixed = (cz - rac * (float)az) - rbc * (float)bz;
  qbin_job j = {&bc, a->data, b->data, y->data, rac, rbc, fixed, rm, cz, az, bz, s8, mul, 1, 0};
  /* whole runs per task, about 64 KiB of output each (a single long run is split into pieces) */
  int64_t per = bc.inner >= 65536 ? 1 : 65536 / bc.inner;
  j.rows_per = per;
  int64_t tasks = bc.rows == 1 ? (bc.inner + 65535) / 65536 : (bc.rows + per - 1) / per;
  int nw = sn_nn_workers(c, 2.0 * (double)y->count); /* ~1 cycle per element: long runs only */
  j.nw = nw < tasks ? nw : (int)tasks;
  if (j.nw < 1) j.nw = 1;
  sn_nn_run(c, j.nw, qbin_worker, &j);
  return NULL;
}

static sn_error *qadd_run(sn_kernel_ctx *c) { return qbin_run(c, false); }
static sn_error *qmul_run(sn_kernel_ctx *c) { return qbin_run(c, true); }

/* ---- QLinearGlobalAveragePool -------------------------------------------------------------------------------- */

static sn_error *qgap_infer(sn_infer_ctx *c) {
  if (c->n_in < 4 || !c->in[0]) return sn_infer_error(c, "needs X, x_scale, x_zero_point, y_scale");
  const sn_type *x = c->in[0];
  if (!c->out[0]) return NULL;
  if (x->rank < 3) {
    sn_type_set_unknown(c->out[0], x->dtype);
    return x->rank >= 0 ? sn_infer_error(c, "X must have rank >= 3") : NULL;
  }
  bool last = sn_attr_int(c->node, "channels_last", 0) != 0;
  *c->out[0] = *x;
  for (int d = 1; d < x->rank; d++)
    if (last ? d < x->rank - 1 : d >= 2) c->out[0]->dims[d] = sn_dim_known(1);
  return NULL;
}

static sn_error *qgap_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  if (!sn_dtype_q8(x->dtype) || c->n_in < 4 || !c->in[1] || !c->in[3] || x->rank < 3)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X must be int8/uint8 of rank >= 3 with x_scale and y_scale");
  bool last = sn_attr_int(c->node, "channels_last", 0) != 0, s8 = x->dtype == SINTER_INT8;
  int64_t dims[SN_MAX_RANK], N = x->dims[0], C = last ? x->dims[x->rank - 1] : x->dims[1];
  int64_t S = N > 0 && C > 0 ? x->count / (N * C) : 0;
  for (int d = 0; d < x->rank; d++) dims[d] = (d == 0 || d == (last ? x->rank - 1 : 1)) ? x->dims[d] : 1;
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, dims, &y));
  float xs = ldf(c->in[1]), ys = ldf(c->in[3]), yz = (float)ldz(opt_in(c, 4));
  int32_t xz = ldz(opt_in(c, 2));
  const uint8_t *xd = x->data;
  /* exact int64 sums of (x - xz) = sum x - S * xz: contiguous loops (vectorized), in blocks of 2^23
   * elements so the int32 partial sums cannot overflow */
  int64_t *sums = sn_kernel_scratch(c, sizeof(int64_t) * (size_t)(C > 0 ? C : 1));
  int32_t *part = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(C > 0 ? C : 1));
  if (!sums || !part) return SN_ERR_OOM();
  const int64_t BLK = (int64_t)1 << 23;
  for (int64_t n = 0; n < N; n++) {
    if (last) {
      memset(sums, 0, sizeof(int64_t) * (size_t)C);
      for (int64_t i0 = 0; i0 < S; i0 += BLK) {
        int64_t i1 = i0 + BLK < S ? i0 + BLK : S;
        memset(part, 0, sizeof(int32_t) * (size_t)C);
        for (int64_t i = i0; i < i1; i++) {
          const uint8_t *row = xd + (n * S + i) * C;
          if (s8)
            for (int64_t ch = 0; ch < C; ch++) part[ch] += (int8_t)row[ch];
          else
            for (int64_t ch = 0; ch < C; ch++) part[ch] += row[ch];
        }
        for (int64_t ch = 0; ch < C; ch++) sums[ch] += part[ch];
      }
    } else {
      for (int64_t ch = 0; ch < C; ch++) {
        const uint8_t *pl = xd + (n * C + ch) * S;
        int64_t sum = 0;
        for (int64_t i0 = 0; i0 < S; i0 += BLK) {
          int64_t i1 = i0 + BLK < S ? i0 + BLK : S;
          int32_t ps = 0;
          if (s8)
            for (int64_t i = i0; i < i1; i++) ps += (int8_t)pl[i];
          else
            for (int64_t i = i0; i < i1; i++) ps += pl[i];
          sum += ps;
        }
        sums[ch] = sum;
      }
    }
    for (int64_t ch = 0; ch < C; ch++) {
      int64_t sum = sums[ch] - S * (int64_t)xz;
      float v = S ? (float)sum * (xs / ys) / (float)S : 0.0f;
      ((uint8_t *)y->data)[n * C + ch] = requant(v, yz, s8);
    }
  }
  return NULL;
}

/* ---- QLinearConcat: Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input --------------------------- */

static sn_error *qcat_infer(sn_infer_ctx *c) {
  if (c->n_in < 5 || (c->n_in - 2) % 3) return sn_infer_error(c, "needs Y_scale, Y_zero_point and (X, scale, zero point) triples");
  int n = (c->n_in - 2) / 3;
  const sn_type *x0 = c->in[2];
  if (!x0 || !c->out[0]) return NULL;
  if (x0->rank < 1) {
    sn_type_set_unknown(c->out[0], x0->dtype);
    return NULL;
  }
  int64_t axis = sn_attr_int(c->node, "axis", 0);
  if (axis < 0) axis += x0->rank;
  if (axis < 0 || axis >= x0->rank) return sn_infer_error(c, "axis out of range");
  *c->out[0] = *x0;
  int64_t tot = 0;
  for (int i = 0; i < n; i++) {
    const sn_type *t = c->in[2 + 3 * i];
    if (!t || t->rank != x0->rank || t->dims[axis].v < 0) {
      tot = -1;
      break;
    }
    tot += t->dims[axis].v;
  }
  c->out[0]->dims[axis] = tot >= 0 ? sn_dim_known(tot) : sn_dim_unknown();
  return NULL;
}

static sn_error *qcat_run(sn_kernel_ctx *c) {
  if (c->n_in < 5 || (c->n_in - 2) % 3) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "bad input count");
  int n = (c->n_in - 2) / 3;
  const sn_tensor *x0 = c->in[2];
  int64_t axis = sn_attr_int(c->node, "axis", 0);
  if (axis < 0) axis += x0->rank;
  if (axis < 0 || axis >= x0->rank) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis out of range");
  int64_t dims[SN_MAX_RANK], outer = 1, inner = 1, tot = 0;
  memcpy(dims, x0->dims, sizeof(int64_t) * (size_t)x0->rank);
  for (int d = 0; d < axis; d++) outer *= x0->dims[d];
  for (int d = (int)axis + 1; d < x0->rank; d++) inner *= x0->dims[d];
  for (int i = 0; i < n; i++) {
    const sn_tensor *t = c->in[2 + 3 * i];
    if (!t || !sn_dtype_q8(t->dtype) || t->dtype != x0->dtype || t->rank != x0->rank || !c->in[3 + 3 * i])
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %d must match the first in type and rank", i);
    for (int d = 0; d < x0->rank; d++)
      if (d != axis && t->dims[d] != x0->dims[d]) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input %d shape differs off the axis", i);
    tot += t->dims[axis];
  }
  dims[axis] = tot;
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x0->dtype, x0->rank, dims, &y));
  bool s8 = x0->dtype == SINTER_INT8;
  float ys = ldf(c->in[0]), yz = (float)ldz(c->in[1]);
  int64_t off = 0;
  for (int i = 0; i < n; i++) {
    const sn_tensor *t = c->in[2 + 3 * i];
    float r = ldf(c->in[3 + 3 * i]) / ys;
    int32_t z = ldz(c->in[4 + 3 * i]);
    int64_t run = t->dims[axis] * inner;
    for (int64_t o = 0; o < outer; o++) {
      const uint8_t *src = (const uint8_t *)t->data + o * run;
      uint8_t *dst = (uint8_t *)y->data + o * tot * inner + off;
      for (int64_t k = 0; k < run; k++) dst[k] = requant((float)((s8 ? (int32_t)(int8_t)src[k] : src[k]) - z) * r, yz, s8);
    }
    off += run;
  }
  return NULL;
}

/* ---- QLinearSoftmax (axis; opset < 13: over the flattened trailing dims from axis) ----------------------------- */

static sn_error *qsm_infer(sn_infer_ctx *c) {
  if (c->n_in < 4 || !c->in[0]) return sn_infer_error(c, "needs X, X_scale, x_zero_point, y_scale");
  if (c->out[0]) *c->out[0] = *c->in[0];
  return NULL;
}

/* The exponentials come from a table: x is 8-bit, so x - max(x) of a row takes 256 values at most,
 * and e = exp(x_scale * (x - max)) is table[max - x], table[d] = expf(-x_scale * d) (the dequantized
 * difference, as ONNX Runtime's kernel builds its table); then y = requant(e / (sum * y_scale)). One
 * table a run instead of an expf an element: wav2vec2's QOperator softmax 1.07 ms -> a tenth. */
typedef struct qsm_job {
  const uint8_t *x;
  uint8_t *y;
  const float *table;
  int64_t len, inner, rows; /* rows = outer * inner reductions */
  bool s8;
  float ys, yz;
} qsm_job;

static void qsm_rows(void *arg, int64_t r0, int64_t r1) {
  const qsm_job *j = arg;
  const int64_t len = j->len, inner = j->inner;
  const int flip = j->s8 ? 0x80 : 0; /* s8 codes as u8 in the same order */
  for (int64_t r = r0; r < r1; r++) {
    const int64_t base = (r / inner) * len * inner + r % inner;
    const uint8_t *xr = j->x + base;
    uint8_t *yr = j->y + base;
    int mx = 0;
    for (int64_t k = 0; k < len; k++) {
      int v = xr[k * inner] ^ flip;
      mx = v > mx ? v : mx;
    }
    if (inner == 1) { /* contiguous: the exponentials into a block (four partial sums), quantized by the
                       * vector kernel */
      float e[512], p[4] = {0, 0, 0, 0};
      const bool one = len <= 512; /* (else a pass for the sum first) */
      for (int64_t k0 = 0; k0 < len; k0 += 512) {
        int64_t n = len - k0 < 512 ? len - k0 : 512;
        for (int64_t k = 0; k < n; k++) p[k & 3] += e[k] = j->table[mx - (xr[k0 + k] ^ flip)];
      }
      const float div = ((p[0] + p[1]) + (p[2] + p[3])) * j->ys;
      for (int64_t k0 = 0; k0 < len; k0 += 512) {
        int64_t n = len - k0 < 512 ? len - k0 : 512;
        if (!one)
          for (int64_t k = 0; k < n; k++) e[k] = j->table[mx - (xr[k0 + k] ^ flip)];
        sn_quantize_f32(e, n, div, j->yz, j->s8, yr + k0);
      }
    } else {
      float sum = 0;
      for (int64_t k = 0; k < len; k++) sum += j->table[mx - (xr[k * inner] ^ flip)];
      const float div = sum * j->ys;
      for (int64_t k = 0; k < len; k++) yr[k * inner] = requant(j->table[mx - (xr[k * inner] ^ flip)] / div, j->yz, j->s8);
    }
  }
}

static sn_error *qsm_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  if (!sn_dtype_q8(x->dtype) || c->n_in < 4 || !c->in[1] || !c->in[3] || x->rank < 1)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X must be int8/uint8 with x_scale and y_scale");
  int64_t axis = sn_attr_int(c->node, "axis", -1), ver = sn_attr_int(c->node, "opset", 13);
  if (axis < 0) axis += x->rank;
  if (axis < 0 || axis >= x->rank) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "axis out of range");
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, x->dims, &y));
  int64_t outer = 1, len = 1, inner = 1;
  for (int d = 0; d < axis; d++) outer *= x->dims[d];
  if (ver < 13)
    for (int d = (int)axis; d < x->rank; d++) len *= x->dims[d];
  else {
    len = x->dims[axis];
    for (int d = (int)axis + 1; d < x->rank; d++) inner *= x->dims[d];
  }
  if (y->count == 0) return NULL;
  float table[256];
  const float xs = ldf(c->in[1]);
  for (int d = 0; d < 256; d++) table[d] = expf(-xs * (float)d);
  qsm_job j = {x->data, y->data, table, len, inner, outer * inner, x->dtype == SINTER_INT8, ldf(c->in[3]),
               (float)ldz(opt_in(c, 4))};
  sn_nn_run_parts(c, sn_nn_workers(c, 8.0 * (double)x->count), j.rows, qsm_rows, &j);
  return NULL;
}

/* ---- QLinearSigmoid, QLinearLeakyRelu (X, X_scale, X_zero_point?, Y_scale, Y_zero_point?) ------------------
 * A table of the 256 byte values, as ONNX Runtime builds it: x dequantized to float32, the function in
 * float32, y = saturate(round_half_even(f / Y_scale) + Y_zero_point); then one lookup per element. */

sn_error *sn_qscalar_param(sn_kernel_ctx *c, int i, bool scale, int like, const char *name, float *out) {
  const sn_tensor *t = opt_in(c, i);
  *out = scale ? 1.0f : 0.0f;
  if (!t) return scale ? sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s is required", name) : NULL;
  if (t->count != 1)
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "%s has %lld elements: only per-tensor quantization is supported",
                           name, (long long)t->count);
  if (scale ? !sn_is_f32_family(t->dtype) : t->dtype != c->in[like]->dtype)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s has type %s", name, sn_dtype_name(t->dtype));
  *out = scale ? ldf(t) : (float)ldz(t); /* (a zero scale saturates, as in ONNX Runtime) */
  return NULL;
}

/* one per-tensor quantization parameter: a scale (positive finite float32) or an 8-bit zero point */
static sn_error *qdq_param(sn_kernel_ctx *c, int i, bool scale, const char *name, float *out) {
  const sn_tensor *t = c->n_in > i ? c->in[i] : NULL;
  *out = 0;
  if (!t) {
    if (scale) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s is required", name);
    return NULL;
  }
  if (t->count != 1 || (scale ? t->dtype != SINTER_FLOAT : !sn_dtype_q8(t->dtype)))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s must be one %s, not %lld of %s", name,
                           scale ? "float32" : "int8 or uint8", (long long)t->count, sn_dtype_name(t->dtype));
  *out = scale ? *(const float *)t->data
               : (float)(t->dtype == SINTER_INT8 ? *(const int8_t *)t->data : *(const uint8_t *)t->data);
  if (scale && !(*out > 0 && isfinite(*out)))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s is %g, not positive and finite", name, (double)*out);
  return NULL;
}

sn_error *sn_qdq_io_read(sn_kernel_ctx *c, int yi, sn_qdq_io *q) {
  const sn_tensor *x = c->in[0];
  if (!sn_dtype_q8(x->dtype))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "x must be int8 or uint8, not %s", sn_dtype_name(x->dtype));
  if (c->in[2] && c->in[2]->dtype != x->dtype)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "x_zero_point's type %s is not x's", sn_dtype_name(c->in[2]->dtype));
  SN_TRY(qdq_param(c, 1, true, "x_scale", &q->xs));
  SN_TRY(qdq_param(c, 2, false, "x_zero_point", &q->xz));
  SN_TRY(qdq_param(c, yi, true, "y_scale", &q->ys));
  return qdq_param(c, yi + 1, false, "y_zero_point", &q->yz);
}

sn_error *sn_qdq_infer_out(sn_infer_ctx *c, int zi) {
  const sn_type *x = c->in[0];
  if (x->dtype && !sn_dtype_q8(x->dtype)) return sn_infer_error(c, "x must be int8 or uint8, not %s", sn_dtype_name(x->dtype));
  if (c->in[zi]->dtype && !sn_dtype_q8(c->in[zi]->dtype)) return sn_infer_error(c, "y_zero_point must be int8 or uint8");
  if (!c->out[0]) return NULL;
  if (x->rank < 0)
    sn_type_set_unknown(c->out[0], c->in[zi]->dtype);
  else
    sn_type_set(c->out[0], c->in[zi]->dtype, x->rank, x->dims);
  return NULL;
}

static sn_error *qact_infer(sn_infer_ctx *c) {
  if (c->n_in < 4 || !c->in[0] || !c->in[1] || !c->in[3]) return sn_infer_error(c, "needs X, X_scale, X_zero_point, Y_scale");
  if (c->in[0]->dtype && !sn_dtype_q8(c->in[0]->dtype)) return sn_infer_error(c, "X must be int8 or uint8");
  if (c->out[0]) *c->out[0] = *c->in[0];
  return NULL;
}

static sn_error *qact_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0];
  if (!sn_dtype_q8(x->dtype)) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "X must be int8 or uint8, not %s", sn_dtype_name(x->dtype));
  float xs, xz, ys, yz;
  SN_TRY(sn_qscalar_param(c, 1, true, 0, "X_scale", &xs));
  SN_TRY(sn_qscalar_param(c, 2, false, 0, "X_zero_point", &xz));
  SN_TRY(sn_qscalar_param(c, 3, true, 0, "Y_scale", &ys));
  SN_TRY(sn_qscalar_param(c, 4, false, 0, "Y_zero_point", &yz));
  const bool s8 = x->dtype == SINTER_INT8, sigmoid = !strcmp(c->node->op_type, "QLinearSigmoid");
  const float alpha = sn_attr_float(c->node, "alpha", 0.01f);
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, x->rank, x->dims, &y));
  uint8_t table[256];
  for (int b = 0; b < 256; b++) {
    float v = ((s8 ? (float)(int8_t)b : (float)b) - xz) * xs;
    float f = sigmoid ? 1.0f / (1.0f + expf(-v)) : (v >= 0 ? v : v * alpha);
    table[b] = requant(f / ys, yz, s8);
  }
  sn_qlut(x->data, x->count, table, y->data);
  return NULL;
}

/* ---- QLinearWhere (condition, X, x_scale, x_zero_point, Y, y_scale, y_zero_point, z_scale, z_zero_point) ----
 * X and Y requantized to Z's parameters by 256-entry tables, then the broadcasting select. */

static sn_error *qwhere_infer(sn_infer_ctx *c) {
  if (c->n_in < 9 || !c->in[0] || !c->in[1] || !c->in[4] || !c->in[7])
    return sn_infer_error(c, "needs condition, X, x_scale, x_zero_point, Y, y_scale, y_zero_point, z_scale, z_zero_point");
  if (c->in[1]->dtype && !sn_dtype_q8(c->in[1]->dtype)) return sn_infer_error(c, "X must be int8 or uint8");
  if (c->in[1]->dtype && c->in[4]->dtype && c->in[4]->dtype != c->in[1]->dtype) return sn_infer_error(c, "X and Y differ in type");
  if (!c->out[0]) return NULL;
  sn_type xy;
  SN_TRY(sn_infer_broadcast(c, c->in[1], c->in[4], &xy));
  SN_TRY(sn_infer_broadcast(c, c->in[0], &xy, c->out[0]));
  c->out[0]->dtype = c->in[1]->dtype;
  return NULL;
}

static sn_error *qwhere_run(sn_kernel_ctx *c) {
  const sn_tensor *cond = c->in[0], *x = c->in[1], *yv = c->in[4];
  if (c->n_in < 9 || !cond || !x || !yv || cond->dtype != SINTER_BOOL || !sn_dtype_q8(x->dtype) || yv->dtype != x->dtype)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "condition must be bool and X, Y both int8 or both uint8");
  float xs, xz, ys, yz, zs, zz;
  SN_TRY(sn_qscalar_param(c, 2, true, 1, "x_scale", &xs));
  SN_TRY(sn_qscalar_param(c, 3, false, 1, "x_zero_point", &xz));
  SN_TRY(sn_qscalar_param(c, 5, true, 1, "y_scale", &ys));
  SN_TRY(sn_qscalar_param(c, 6, false, 1, "y_zero_point", &yz));
  SN_TRY(sn_qscalar_param(c, 7, true, 1, "z_scale", &zs));
  SN_TRY(sn_qscalar_param(c, 8, false, 1, "z_zero_point", &zz));
  const sn_tensor *in3[3] = {cond, x, yv};
  sn_bcast bc;
  int rank;
  int64_t dims[SN_MAX_RANK];
  SN_TRY(sn_bcast_init_tensors(&bc, 3, in3, &rank, dims));
  sn_tensor *z;
  SN_TRY(sn_kernel_output(c, 0, x->dtype, rank, dims, &z));
  if (z->count == 0) return NULL;
  const bool s8 = x->dtype == SINTER_INT8;
  uint8_t tx[256], ty[256];
  for (int b = 0; b < 256; b++) {
    float v = s8 ? (float)(int8_t)b : (float)b;
    tx[b] = requant((v - xz) * xs / zs, zz, s8);
    ty[b] = requant((v - yz) * ys / zs, zz, s8);
  }
  const uint8_t *cd = cond->data, *xd = x->data, *yd = yv->data;
  uint8_t *zd = z->data;
  sn_bcast_iter it;
  sn_bcast_iter_start(&it, &bc, 0);
  for (int64_t r = 0; r < bc.rows; r++, sn_bcast_iter_next(&it)) {
    const uint8_t *pc = cd + it.off[0], *px = xd + it.off[1], *py = yd + it.off[2];
    const int64_t sc = bc.inner_stride[0], sx = bc.inner_stride[1], sy = bc.inner_stride[2];
    uint8_t *pz = zd + r * bc.inner;
    for (int64_t i = 0; i < bc.inner; i++) pz[i] = pc[i * sc] ? tx[px[i * sx]] : ty[py[i * sy]];
  }
  return NULL;
}

/* ---- sinter:QLinearLookup (x, table): y[i] = table[x[i]] ---------------------------------------------------
 * The QDQ pass (passes/qdq.c) makes it from a quantized elementwise chain of one 8-bit input (DQ ->
 * Sigmoid -> Q, the SiLU of DQ -> Sigmoid -> Q -> DQ -> Mul -> Q): 256 table entries, indexed by the
 * raw byte of x (u8 or s8), of the output's 8-bit type. */

static sn_error *qlut_infer(sn_infer_ctx *c) {
  if (c->n_in != 2 || !c->in[0] || !c->in[1]) return sn_infer_error(c, "needs x and a table");
  if (c->in[0]->dtype && !sn_dtype_q8(c->in[0]->dtype)) return sn_infer_error(c, "x must be int8 or uint8");
  if (c->in[1]->dtype && !sn_dtype_q8(c->in[1]->dtype)) return sn_infer_error(c, "the table must be int8 or uint8");
  if (!c->out[0]) return NULL;
  sn_ew_type_like(c->out[0], c->in[0], c->in[1]->dtype);
  return NULL;
}

typedef struct qlut_job {
  const uint8_t *x, *table;
  uint8_t *y;
} qlut_job;

static void qlut_part(void *arg, int64_t b, int64_t e) {
  const qlut_job *j = arg;
  sn_qlut(j->x + b, e - b, j->table, j->y + b);
}

static sn_error *qlut_run(sn_kernel_ctx *c) {
  const sn_tensor *x = c->in[0], *t = c->in[1];
  if (!sn_dtype_q8(x->dtype) || !sn_dtype_q8(t->dtype) || t->count != 256)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "x must be 8-bit and the table 256 8-bit entries");
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, t->dtype, x->rank, x->dims, &y));
  /* parts of whole cache lines over the pool (EfficientNet's SiLU tables on a batch's maps) */
  qlut_job j = {x->data, t->data, y->data};
  sn_nn_run_parts(c, sn_nn_workers(c, 1.0 * (double)x->count), x->count, qlut_part, &j);
  return NULL;
}

const sn_op sn_ops_qlinear_ms[] = {
    {"com.microsoft", "QGemm", 1, 0, qgemm_infer, qgemm_run, qmm_prepare, qmm_free, 0},
    {"com.microsoft", "DynamicQuantizeMatMul", 1, 0, dqmm_infer, dqmm_run, qmm_prepare, qmm_free, 0},
    {"com.microsoft", "MatMulIntegerToFloat", 1, 0, dqmm_infer, mmitf_run, qmm_prepare, qmm_free, 0},
    {"com.microsoft", "QLinearAdd", 1, 0, qbin_infer, qadd_run, NULL, NULL, 0},
    {"com.microsoft", "QLinearMul", 1, 0, qbin_infer, qmul_run, NULL, NULL, 0},
    {"com.microsoft", "QLinearGlobalAveragePool", 1, 0, qgap_infer, qgap_run, NULL, NULL, 0},
    {"com.microsoft", "QLinearConcat", 1, 0, qcat_infer, qcat_run, NULL, NULL, 0},
    {"com.microsoft", "QLinearSoftmax", 1, 0, qsm_infer, qsm_run, NULL, NULL, 0},
    {"com.microsoft", "QLinearSigmoid", 1, 0, qact_infer, qact_run, NULL, NULL, 0},
    {"com.microsoft", "QLinearLeakyRelu", 1, 0, qact_infer, qact_run, NULL, NULL, 0},
    {"com.microsoft", "QLinearWhere", 1, 0, qwhere_infer, qwhere_run, NULL, NULL, 0},
    {"sinter", "QLinearLookup", 1, 0, qlut_infer, qlut_run, NULL, NULL, 0},
    {0},
};
