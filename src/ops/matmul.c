/* Matrix products: Gemm, MatMul (batched, broadcasting, 1-D operands), MatMulInteger, QLinearMatMul. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/gemm.h"
#include "kernels/ref/gemm_ref.h"
#include "kernels/ref/nn_util.h"
#include "ops/op.h"
#include "ops/qlinear.h"

static bool gemm_type(sn_dtype dt) {
  switch (dt) {
    case SINTER_FLOAT:
    case SINTER_DOUBLE:
    case SINTER_FLOAT16:
    case SINTER_BFLOAT16:
    case SINTER_INT32:
    case SINTER_INT64:
    case SINTER_UINT32:
    case SINTER_UINT64: return true;
    default: return false;
  }
}

/* ---- MatMul shapes ------------------------------------------------------------------------------------ */

/* Broadcast batch layout of A [..., M, K] x B [..., K, N] (1-D operands promoted and squeezed). */
typedef struct mm_shape {
  int64_t M, N, K;
  int nb;                        /* batch rank */
  int64_t batch[SN_MAX_RANK];    /* broadcast batch dims */
  int64_t astr[SN_MAX_RANK];     /* A's batch strides in matrices (0 where broadcast) */
  int64_t bstr[SN_MAX_RANK];
  int64_t nbatch;
  int out_rank;
  int64_t out[SN_MAX_RANK];
} mm_shape;

static bool mm_shape_of(int ra, const int64_t *da, int rb, const int64_t *db, mm_shape *s, char *msg, size_t len) {
  if (ra < 1 || rb < 1) {
    snprintf(msg, len, "MatMul operands must have rank >= 1 (got %d and %d)", ra, rb);
    return false;
  }
  int64_t M = ra == 1 ? 1 : da[ra - 2], K = da[ra - 1];
  int64_t KB = rb == 1 ? db[0] : db[rb - 2], N = rb == 1 ? 1 : db[rb - 1];
  if (K != KB) {
    snprintf(msg, len, "inner dimensions differ: A has K = %lld, B has K = %lld", (long long)K, (long long)KB);
    return false;
  }
  int na = ra > 2 ? ra - 2 : 0, nbb = rb > 2 ? rb - 2 : 0;
  int nb = na > nbb ? na : nbb;
  s->M = M;
  s->N = N;
  s->K = K;
  s->nb = nb;
  int64_t sa = 1, sb = 1;
  for (int i = nb - 1; i >= 0; i--) {
    int ia = i - (nb - na), ib = i - (nb - nbb);
    int64_t x = ia >= 0 ? da[ia] : 1, y = ib >= 0 ? db[ib] : 1;
    if (x != y && x != 1 && y != 1) {
      snprintf(msg, len, "batch dimensions cannot be broadcast: %lld vs %lld", (long long)x, (long long)y);
      return false;
    }
    s->batch[i] = x == 1 ? y : x;
    s->astr[i] = x == 1 ? 0 : sa;
    s->bstr[i] = y == 1 ? 0 : sb;
    sa *= x;
    sb *= y;
  }
  s->nbatch = 1;
  for (int i = 0; i < nb; i++) s->nbatch *= s->batch[i];
  int r = 0;
  for (int i = 0; i < nb; i++) s->out[r++] = s->batch[i];
  if (ra > 1) s->out[r++] = M;
  if (rb > 1) s->out[r++] = N;
  s->out_rank = r;
  return true;
}

/* Offsets (in matrices) of A and B for each flat batch index, into aoff/boff. */
static void mm_offsets(const mm_shape *s, int64_t *aoff, int64_t *boff) {
  int64_t idx[SN_MAX_RANK] = {0};
  for (int64_t b = 0; b < s->nbatch; b++) {
    int64_t oa = 0, ob = 0;
    for (int i = 0; i < s->nb; i++) {
      oa += idx[i] * s->astr[i];
      ob += idx[i] * s->bstr[i];
    }
    aoff[b] = oa;
    boff[b] = ob;
    for (int i = s->nb - 1; i >= 0; i--) {
      if (++idx[i] < s->batch[i]) break;
      idx[i] = 0;
    }
  }
}

static sn_error *mm_infer_shape(sn_infer_ctx *c, const sn_type *a, const sn_type *b, sn_dtype out_dt) {
  sn_type *y = c->out[0];
  if (a->rank < 0 || b->rank < 0) {
    if (y) sn_type_set_unknown(y, out_dt);
    return NULL;
  }
  if (a->rank < 1 || b->rank < 1) return sn_infer_error(c, "operands must have rank >= 1");
  int ra = a->rank, rb = b->rank;
  sn_dim K = a->dims[ra - 1], KB = rb == 1 ? b->dims[0] : b->dims[rb - 2];
  if (K.v >= 0 && KB.v >= 0 && K.v != KB.v)
    return sn_infer_error(c, "inner dimensions differ: A has K = %lld, B has K = %lld", (long long)K.v, (long long)KB.v);
  int na = ra > 2 ? ra - 2 : 0, nbb = rb > 2 ? rb - 2 : 0, nb = na > nbb ? na : nbb;
  sn_dim d[SN_MAX_RANK];
  for (int i = 0; i < nb; i++) {
    int ia = i - (nb - na), ib = i - (nb - nbb);
    sn_dim x = ia >= 0 ? a->dims[ia] : sn_dim_known(1), z = ib >= 0 ? b->dims[ib] : sn_dim_known(1);
    if (x.v == 1)
      d[i] = z;
    else if (z.v == 1)
      d[i] = x;
    else if (x.v >= 0 && z.v >= 0) {
      if (x.v != z.v)
        return sn_infer_error(c, "batch dimensions cannot be broadcast: %lld vs %lld", (long long)x.v, (long long)z.v);
      d[i] = x;
    } else if (x.v >= 0)
      d[i] = x;
    else if (z.v >= 0)
      d[i] = z;
    else
      d[i] = sn_dim_same(x, z) ? x : sn_dim_unknown();
  }
  int r = nb;
  if (ra > 1) d[r++] = a->dims[ra - 2];
  if (rb > 1) d[r++] = b->dims[rb - 1];
  if (y) sn_type_set(y, out_dt, r, d);
  return NULL;
}

static sn_error *matmul_infer(sn_infer_ctx *c) {
  if (c->n_in < 2 || !c->in[0] || !c->in[1]) return sn_infer_error(c, "needs inputs A and B");
  const sn_type *a = c->in[0], *b = c->in[1];
  sn_dtype dt = a->dtype ? a->dtype : b->dtype;
  if (dt && !gemm_type(dt)) return sn_infer_error(c, "element type %s is not supported", sn_dtype_name(dt));
  if (a->dtype && b->dtype && a->dtype != b->dtype)
    return sn_infer_error(c, "A and B element types differ (%s vs %s)", sn_dtype_name(a->dtype), sn_dtype_name(b->dtype));
  return mm_infer_shape(c, a, b, dt);
}

/* MatMul / Gemm params: the cache of the packed constant B */
typedef struct mm_params {
  sn_pack_slot b;
} mm_params;

static sn_error *mm_prepare(sn_graph *g, sn_node *n, void **params) {
  (void)g, (void)n;
  *params = sn_calloc(1, sizeof(mm_params));
  return *params ? NULL : SN_ERR_OOM();
}

static void mm_free(void *p) {
  if (!p) return;
  sn_pack_slot_clear(&((mm_params *)p)->b);
  sn_free(p);
}

/* A constant 2-D float32 B is packed at session creation and may take over the weight's buffer:
 * both run paths then read only the packed copy (MatMul folds A's batches into M, since a 2-D B is
 * shared by all of them). */
static sn_error *matmul_prepack(sn_graph *g, sn_node *n, void *params, bool take) {
  const sn_tensor *b = n->n_in > 1 && n->in[1] >= 0 ? g->values[n->in[1]].data : NULL;
  if (!params || !b || b->rank != 2) return NULL;
  return sn_nn_prepack(g, n, &((mm_params *)params)->b, 1, 0, SN_GEMM_B, false, b->dims[0], b->dims[1], b->dims[1],
                       take);
}

static sn_error *gemm_prepack(sn_graph *g, sn_node *n, void *params, bool take) {
  const sn_tensor *b = n->n_in > 1 && n->in[1] >= 0 ? g->values[n->in[1]].data : NULL;
  if (!params || !b || b->rank != 2) return NULL;
  bool tb = sn_attr_int(n, "transB", 0) != 0;
  return sn_nn_prepack(g, n, &((mm_params *)params)->b, 1, 0, SN_GEMM_B, tb, b->dims[tb ? 1 : 0], b->dims[tb ? 0 : 1],
                       b->dims[1], take);
}

static const sn_pack_slot *mm_slot(const sn_kernel_ctx *c) {
  const mm_params *p = c->params;
  return p ? &p->b : NULL;
}

/* batched float GEMMs split by whole matrices over workers */
typedef struct mm_job {
  bool dbl;
  int64_t nbatch, M, N, K, asz, bsz, ysz;
  const int64_t *aoff, *boff;
  const void *a, *b;
  void *y;
  char *ws;
  size_t ws_bytes;
  int nw;
} mm_job;

static void mm_worker(void *p, int w) {
  const mm_job *j = p;
  void *ws = j->ws + (size_t)w * j->ws_bytes;
  for (int64_t i = w * j->nbatch / j->nw; i < (w + 1) * j->nbatch / j->nw; i++) {
    if (j->dbl)
      sn_dgemm_ref(false, false, j->M, j->N, j->K, 1, (const double *)j->a + j->aoff[i] * j->asz, j->K,
                   (const double *)j->b + j->boff[i] * j->bsz, j->N, 0, (double *)j->y + i * j->ysz, j->N, ws);
    else
      sn_sgemm(false, false, j->M, j->N, j->K, 1, (const float *)j->a + j->aoff[i] * j->asz, j->K,
                   (const float *)j->b + j->boff[i] * j->bsz, j->N, 0, (float *)j->y + i * j->ysz, j->N, ws);
  }
}

static sn_error *matmul_run(sn_kernel_ctx *c) {
  const sn_tensor *a = c->in[0], *b = c->in[1];
  char msg[256], b1[128], b2[128];
  mm_shape s;
  if (!mm_shape_of(a->rank, a->dims, b->rank, b->dims, &s, msg, sizeof msg))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (A %s, B %s)", msg, sn_tensor_describe(a, b1, sizeof b1),
                           sn_tensor_describe(b, b2, sizeof b2));
  if (a->dtype != b->dtype)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "A and B element types differ (%s vs %s)",
                           sn_dtype_name(a->dtype), sn_dtype_name(b->dtype));
  sn_dtype dt = a->dtype;
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, dt, s.out_rank, s.out, &y));
  if (y->count == 0) return NULL;
  int64_t M = s.M, N = s.N, K = s.K;
  /* when B is shared by every batch and A's batches are contiguous, fold them into M */
  bool b_shared = true, a_dense = true;
  for (int i = 0; i < s.nb; i++) {
    if (s.bstr[i] != 0 && s.batch[i] != 1) b_shared = false;
    if (s.astr[i] == 0 && s.batch[i] != 1) a_dense = false;
  }
  int64_t nbatch = s.nbatch;
  if (b_shared && a_dense && nbatch > 1) {
    M *= nbatch;
    nbatch = 1;
  }
  int64_t *aoff = sn_kernel_scratch(c, sizeof(int64_t) * 2 * (size_t)nbatch), *boff = aoff + nbatch;
  if (!aoff) return SN_ERR_OOM();
  if (nbatch == 1) aoff[0] = boff[0] = 0;
  else mm_offsets(&s, aoff, boff);
  int64_t asz = s.M * K, bsz = K * N, ysz = s.M * N;
  if (nbatch == 1) ysz = M * N;
  if (dt == SINTER_DOUBLE || sn_is_f32_family(dt)) {
    bool dbl = dt == SINTER_DOUBLE;
    mm_job j = {dbl, nbatch, M, N, K, asz, bsz, ysz, aoff, boff, a->data, b->data, y->data, NULL, 0, 0};
    float *yf = NULL;
    if (!dbl) {
      const float *af, *bf;
      SN_TRY(sn_nn_f32_in(c, a, &af));
      SN_TRY(sn_nn_f32_in(c, b, &bf));
      SN_TRY(sn_nn_f32_out(c, y, &yf));
      j.a = af, j.b = bf, j.y = yf;
    }
    if (!dbl && nbatch == 1 && b->rank >= 2 && b->count == K * N) { /* one constant K x N weight: packed once */
      const sn_sgemm_packed *pb = sn_nn_packed(c, mm_slot(c), 1, SN_GEMM_B, false, K, N, j.b, N);
      if (pb) {
        SN_TRY(sn_nn_sgemm_pb_epi(c, NULL, false, M, 1.0f, j.a, K, pb, 0.0f, j.y, N));
        sn_nn_f32_out_done(y, yf);
        return NULL;
      }
    }
    int nw = sn_nn_workers(c, 2.0 * (double)nbatch * (double)M * (double)N * (double)K);
    if (nbatch >= nw && nw > 1) { /* whole matrices per worker */
      j.nw = nw;
      j.ws_bytes = ((dbl ? sn_gemm_ref_workspace(SINTER_DOUBLE) : sn_sgemm_workspace()) + 63) & ~(size_t)63;
      j.ws = sn_kernel_scratch(c, j.ws_bytes * (size_t)nw);
      if (!j.ws) return SN_ERR_OOM();
      sn_nn_run(c, nw, mm_worker, &j);
    } else {
      void *ws = sn_nn_gemm_workspace(c, dbl);
      if (!ws) return SN_ERR_OOM();
      for (int64_t i = 0; i < nbatch; i++) {
        if (dbl)
          SN_TRY(sn_nn_dgemm(c, ws, false, false, M, N, K, 1, (const double *)j.a + aoff[i] * asz, K,
                             (const double *)j.b + boff[i] * bsz, N, 0, (double *)j.y + i * ysz, N));
        else
          SN_TRY(sn_nn_sgemm(c, ws, false, false, M, N, K, 1, (const float *)j.a + aoff[i] * asz, K,
                             (const float *)j.b + boff[i] * bsz, N, 0, (float *)j.y + i * ysz, N));
      }
    }
    if (!dbl) sn_nn_f32_out_done(y, yf);
    return NULL;
  }
  if (!gemm_type(dt))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(dt));
  size_t es = sn_dtype_size(dt);
  for (int64_t i = 0; i < nbatch; i++)
    sn_igemm_ref(dt, false, false, M, N, K, 1, (const char *)a->data + (size_t)(aoff[i] * asz) * es, K,
                 (const char *)b->data + (size_t)(boff[i] * bsz) * es, N, 0, (char *)y->data + (size_t)(i * ysz) * es, N);
  return NULL;
}

/* ---- Gemm ------------------------------------------------------------------------------------------- */

static sn_error *gemm_infer(sn_infer_ctx *c) {
  if (c->n_in < 2 || !c->in[0] || !c->in[1]) return sn_infer_error(c, "needs inputs A and B");
  if (c->opset < 11 && (c->n_in < 3 || !c->in[2])) return sn_infer_error(c, "input C is required before opset 11");
  const sn_type *a = c->in[0], *b = c->in[1];
  sn_dtype dt = a->dtype ? a->dtype : b->dtype;
  if (dt && !gemm_type(dt)) return sn_infer_error(c, "element type %s is not supported", sn_dtype_name(dt));
  bool ta = sn_attr_int(c->node, "transA", 0) != 0, tb = sn_attr_int(c->node, "transB", 0) != 0;
  sn_type *y = c->out[0];
  if (a->rank >= 0 && a->rank != 2) return sn_infer_error(c, "A must be 2-D");
  if (b->rank >= 0 && b->rank != 2) return sn_infer_error(c, "B must be 2-D");
  sn_dim M = a->rank == 2 ? a->dims[ta ? 1 : 0] : sn_dim_unknown();
  sn_dim K = a->rank == 2 ? a->dims[ta ? 0 : 1] : sn_dim_unknown();
  sn_dim KB = b->rank == 2 ? b->dims[tb ? 1 : 0] : sn_dim_unknown();
  sn_dim N = b->rank == 2 ? b->dims[tb ? 0 : 1] : sn_dim_unknown();
  if (K.v >= 0 && KB.v >= 0 && K.v != KB.v)
    return sn_infer_error(c, "inner dimensions differ: op(A) is ? x %lld, op(B) is %lld x ? (transA %d, transB %d)",
                          (long long)K.v, (long long)KB.v, ta, tb);
  if (c->n_in > 2 && c->in[2] && c->in[2]->rank >= 0) {
    const sn_type *ct = c->in[2];
    if (ct->rank > 2) return sn_infer_error(c, "C must have rank <= 2");
    sn_dim want[2] = {M, N};
    for (int i = 0; i < ct->rank; i++) {
      sn_dim d = ct->dims[i], w = want[2 - ct->rank + i];
      if (d.v >= 0 && d.v != 1 && w.v >= 0 && d.v != w.v)
        return sn_infer_error(c, "C does not broadcast to the %lld x %lld result", (long long)M.v, (long long)N.v);
    }
  }
  if (y) {
    sn_dim d[2] = {M, N};
    sn_type_set(y, dt, 2, d);
  }
  return NULL;
}

static sn_error *gemm_run(sn_kernel_ctx *c) {
  const sn_tensor *a = c->in[0], *b = c->in[1], *ct = c->n_in > 2 ? c->in[2] : NULL;
  char b1[128], b2[128];
  bool ta = sn_attr_int(c->node, "transA", 0) != 0, tb = sn_attr_int(c->node, "transB", 0) != 0;
  double alpha = sn_attr_float(c->node, "alpha", 1.0f), beta = sn_attr_float(c->node, "beta", 1.0f);
  if (a->rank != 2 || b->rank != 2)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "A %s and B %s must be 2-D", sn_tensor_describe(a, b1, sizeof b1),
                           sn_tensor_describe(b, b2, sizeof b2));
  int64_t M = a->dims[ta ? 1 : 0], K = a->dims[ta ? 0 : 1], KB = b->dims[tb ? 1 : 0], N = b->dims[tb ? 0 : 1];
  if (K != KB)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "inner dimensions differ: A %s, B %s (transA %d, transB %d)",
                           sn_tensor_describe(a, b1, sizeof b1), sn_tensor_describe(b, b2, sizeof b2), ta, tb);
  sn_dtype dt = a->dtype;
  if (b->dtype != dt || (ct && ct->dtype != dt))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "A, B and C must share one element type");
  /* C broadcast to M x N: strides per row / column (0 when broadcast) */
  int64_t crs = 0, ccs = 0;
  if (ct) {
    if (ct->rank > 2) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "C %s must have rank <= 2", sn_tensor_describe(ct, b1, sizeof b1));
    int64_t cr = ct->rank == 2 ? ct->dims[0] : 1, cc = ct->rank >= 1 ? ct->dims[ct->rank - 1] : 1;
    if ((cr != 1 && cr != M) || (cc != 1 && cc != N))
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "C %s does not broadcast to %lld x %lld",
                             sn_tensor_describe(ct, b1, sizeof b1), (long long)M, (long long)N);
    crs = cr == 1 ? 0 : cc;
    ccs = cc == 1 ? 0 : 1;
  }
  int64_t yd[2] = {M, N};
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, dt, 2, yd, &y));
  if (y->count == 0) return NULL;
  bool use_c = ct && beta != 0;
  int64_t lda = a->dims[1], ldb = b->dims[1];
  if (dt == SINTER_DOUBLE || sn_is_f32_family(dt)) {
    bool dbl = dt == SINTER_DOUBLE;
    const void *ap = a->data, *bp = b->data;
    void *yp = y->data;
    if (!dbl) {
      const float *af, *bf;
      float *yf;
      SN_TRY(sn_nn_f32_in(c, a, &af));
      SN_TRY(sn_nn_f32_in(c, b, &bf));
      SN_TRY(sn_nn_f32_out(c, y, &yf));
      ap = af;
      bp = bf;
      yp = yf;
    }
    if (use_c && !dbl && ct->dtype == SINTER_FLOAT) {
      /* Y = beta * C (float C, the usual bias row): rows copied or scaled in place of the generic
       * per-element load below, which took 25 us of a 140 us 8 x 1024 x 784 product */
      const float *cf = ct->data;
      float *yf = yp, bf = (float)beta;
      for (int64_t i = 0; i < M; i++) {
        float *yr = yf + i * N;
        const float *cr = cf + i * crs;
        if (ccs == 0) {
          float v = bf * cr[0];
          for (int64_t j = 0; j < N; j++) yr[j] = v;
        } else if (bf == 1.0f) {
          memcpy(yr, cr, (size_t)N * sizeof(float));
        } else {
          for (int64_t j = 0; j < N; j++) yr[j] = bf * cr[j];
        }
      }
    } else if (use_c) { /* Y = beta * C, then accumulate */
      for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
          double v = beta * sn_load_f64(ct->dtype, ct->data, i * crs + j * ccs);
          if (dbl)
            ((double *)yp)[i * N + j] = v;
          else
            ((float *)yp)[i * N + j] = (float)v;
        }
    }
    const sn_sgemm_packed *pb = dbl ? NULL : sn_nn_packed(c, mm_slot(c), 1, SN_GEMM_B, tb, K, N, bp, ldb);
    if (dbl)
      SN_TRY(sn_nn_dgemm(c, NULL, ta, tb, M, N, K, alpha, ap, lda, bp, ldb, use_c ? 1.0 : 0.0, yp, N));
    else if (pb) /* constant B, packed once */
      SN_TRY(sn_nn_sgemm_pb_epi(c, NULL, ta, M, (float)alpha, ap, lda, pb, use_c ? 1.0f : 0.0f, yp, N));
    else
      SN_TRY(sn_nn_sgemm(c, NULL, ta, tb, M, N, K, (float)alpha, ap, lda, bp, ldb, use_c ? 1.0f : 0.0f, yp, N));
    if (!dbl) sn_nn_f32_out_done(y, yp);
    return NULL;
  }
  if (!gemm_type(dt))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "element type %s is not supported", sn_dtype_name(dt));
  if (use_c)
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++)
        sn_store_i64(dt, y->data, i * N + j, sn_load_i64(ct->dtype, ct->data, i * crs + j * ccs));
  sn_igemm_ref(dt, ta, tb, M, N, K, alpha, a->data, lda, b->data, ldb, use_c ? beta : 0.0, y->data, N);
  return NULL;
}

/* ---- MatMulInteger / QLinearMatMul ---------------------------------------------------------------------- */

/* Integer matmuls keep a constant B packed for the INT8 GEMM (ops/qlinear.c). The sinter-domain
 * QLinearMatMul (made by the QDQ pass) adds transB (B is [N, K], from Gemm), a bias input 8 (int32,
 * or float with a float output), a float output when y_scale is absent, and activation = "Relu" or
 * "Clip" (activation_params [min, max]). */
typedef struct qmm_params {
  sn_qweights *packed;
  int act;              /* SN_QACT_* (ops/qlinear.h) */
  float act_lo, act_hi; /* Clip's bounds */
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
  sn_error *e = NULL;
  /* (inside sinter:FusedQLinearMatMul the activation attribute is the fused epilogue's, ops/fused.c) */
  if (strcmp(n->op_type, "FusedQLinearMatMul")) e = sn_qact_parse(n, &p->act, &p->act_lo, &p->act_hi);
  p->transB = sn_attr_int(n, "transB", 0) != 0;
  int wi = !strcmp(n->op_type, "MatMulInteger") ? 1 : 3;
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

/* The fast path over every batch; false when it does not apply. */
static bool fast_matmul(sn_kernel_ctx *c, sn_qargs *qa, const mm_shape *s, bool transB, sn_error **err) {
  const qmm_params *p = c->params;
  if (!p) return false;
  qa->pw = p->packed;
  qa->act = p->act;
  qa->act_lo = p->act_lo, qa->act_hi = p->act_hi;
  int64_t *aoff = sn_kernel_scratch(c, sizeof(int64_t) * 2 * (size_t)(s->nbatch ? s->nbatch : 1));
  if (!aoff) return (*err = SN_ERR_OOM()), true;
  mm_offsets(s, aoff, aoff + s->nbatch);
  return sn_qmatmul(c, qa, s->M, s->N, s->K, transB, s->nbatch, aoff, aoff + s->nbatch, err);
}

static sn_error *mmint_infer(sn_infer_ctx *c) {
  if (c->n_in < 2 || !c->in[0] || !c->in[1]) return sn_infer_error(c, "needs inputs A and B");
  const sn_type *a = c->in[0], *b = c->in[1];
  if ((a->dtype && !sn_dtype_q8(a->dtype)) || (b->dtype && !sn_dtype_q8(b->dtype)))
    return sn_infer_error(c, "A and B must be int8 or uint8");
  return mm_infer_shape(c, a, b, SINTER_INT32);
}

/* Zero point for row/column i: scalar or 1-D of length n. */
static sn_error *zero_points(sn_kernel_ctx *c, const sn_tensor *z, int64_t n, const char *what, int32_t **out) {
  int32_t *d = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(n ? n : 1));
  if (!d) return SN_ERR_OOM();
  char b1[128];
  if (z && z->count != 1 && z->count != n)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s %s must be a scalar or have %lld elements", what,
                           sn_tensor_describe(z, b1, sizeof b1), (long long)n);
  for (int64_t i = 0; i < n; i++) d[i] = z ? (int32_t)sn_load_i64(z->dtype, z->data, z->count == 1 ? 0 : i) : 0;
  *out = d;
  return NULL;
}

/* int32 products of (A - za) x (B - zb) for every batch into acc (nbatch * M * N). */
static sn_error *int_matmul(sn_kernel_ctx *c, const sn_tensor *a, const sn_tensor *b, const sn_tensor *za,
                            const sn_tensor *zb, mm_shape *s, int32_t *acc) {
  int32_t *zar, *zbc;
  SN_TRY(zero_points(c, za, s->M, "a_zero_point", &zar));
  SN_TRY(zero_points(c, zb, s->N, "b_zero_point", &zbc));
  int64_t M = s->M, N = s->N, K = s->K, na = M * K > 0 ? a->count / (M * K) : 0, nbm = K * N > 0 ? b->count / (K * N) : 0;
  int32_t *a32 = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(a->count ? a->count : 1));
  int32_t *b32 = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)(b->count ? b->count : 1));
  int64_t *aoff = sn_kernel_scratch(c, sizeof(int64_t) * 2 * (size_t)(s->nbatch ? s->nbatch : 1));
  if (!a32 || !b32 || !aoff) return SN_ERR_OOM();
  for (int64_t m = 0; m < na; m++)
    for (int64_t i = 0; i < M; i++)
      for (int64_t k = 0; k < K; k++) {
        int64_t q = (m * M + i) * K + k;
        a32[q] = (int32_t)sn_load_i64(a->dtype, a->data, q) - zar[i];
      }
  for (int64_t m = 0; m < nbm; m++)
    for (int64_t k = 0; k < K; k++)
      for (int64_t j = 0; j < N; j++) {
        int64_t q = (m * K + k) * N + j;
        b32[q] = (int32_t)sn_load_i64(b->dtype, b->data, q) - zbc[j];
      }
  int64_t *boff = aoff + s->nbatch;
  mm_offsets(s, aoff, boff);
  for (int64_t i = 0; i < s->nbatch; i++)
    sn_igemm_ref(SINTER_INT32, false, false, M, N, K, 1, a32 + aoff[i] * M * K, K, b32 + boff[i] * K * N, N, 0,
                 acc + i * M * N, N);
  return NULL;
}

static sn_error *mmint_run(sn_kernel_ctx *c) {
  const sn_tensor *a = c->in[0], *b = c->in[1];
  const sn_tensor *za = c->n_in > 2 ? c->in[2] : NULL, *zb = c->n_in > 3 ? c->in[3] : NULL;
  char msg[256], b1[128], b2[128];
  mm_shape s;
  if (!mm_shape_of(a->rank, a->dims, b->rank, b->dims, &s, msg, sizeof msg))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (A %s, B %s)", msg, sn_tensor_describe(a, b1, sizeof b1),
                           sn_tensor_describe(b, b2, sizeof b2));
  if (!sn_dtype_q8(a->dtype) || !sn_dtype_q8(b->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "A and B must be int8 or uint8 (got %s, %s)",
                           sn_dtype_name(a->dtype), sn_dtype_name(b->dtype));
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, SINTER_INT32, s.out_rank, s.out, &y));
  if (y->count == 0) return NULL;
  sn_qargs qa = {a, NULL, za, b, NULL, zb, NULL, NULL, NULL, 0, NULL, y};
  sn_error *e;
  if (fast_matmul(c, &qa, &s, false, &e)) return e;
  return int_matmul(c, a, b, za, zb, &s, y->data);
}

static bool qlinear_type(sn_dtype dt) { return sn_dtype_q8(dt); }

static sn_error *qlmm_infer(sn_infer_ctx *c) {
  if (c->n_in < 8) return sn_infer_error(c, "needs 8 inputs, got %d", c->n_in);
  for (int i = 0; i < 8; i++)
    if (!c->in[i] && i != 2 && i != 5 && i != 7 && !(i == 6 && !strcmp(c->node->domain, "sinter")))
      return sn_infer_error(c, "input %d is required", i);
  const sn_type *a = c->in[0], *b = c->in[3];
  if ((a->dtype && !qlinear_type(a->dtype)) || (b->dtype && !qlinear_type(b->dtype)))
    return sn_infer_error(c, "only int8 and uint8 operands are supported");
  bool fused = !strcmp(c->node->domain, "sinter");
  sn_dtype ydt = fused && !c->in[6] ? SINTER_FLOAT : c->in[7] && c->in[7]->dtype ? c->in[7]->dtype : a->dtype;
  sn_type bt = *b;
  if (fused && sn_attr_int(c->node, "transB", 0)) {
    if (bt.rank != 2) return sn_infer_error(c, "transB needs a 2-D B");
    sn_dim d = bt.dims[0];
    bt.dims[0] = bt.dims[1];
    bt.dims[1] = d;
  }
  return mm_infer_shape(c, a, &bt, ydt);
}

/* A scale value rounded to its tensor's precision after each operation, as numpy would. */
static double round_to(sn_dtype dt, double v) {
  if (dt == SINTER_FLOAT16) return sn_f16_to_f32(sn_f32_to_f16((float)v));
  if (dt == SINTER_BFLOAT16) return sn_bf16_to_f32(sn_f32_to_bf16((float)v));
  if (dt == SINTER_FLOAT) return (float)v;
  return v;
}

static sn_error *qlmm_run(sn_kernel_ctx *c) {
  const sn_tensor *a = c->in[0], *sa = c->in[1], *za = c->in[2], *b = c->in[3], *sb = c->in[4], *zb = c->in[5];
  const sn_tensor *sy = c->in[6], *zy = c->n_in > 7 ? c->in[7] : NULL, *bias = c->n_in > 8 ? c->in[8] : NULL;
  char msg[256], b1[128], b2[128];
  mm_shape s;
  const qmm_params *qp = c->params;
  bool transB = qp && qp->transB;
  int64_t bd[2];
  if (transB && b->rank == 2) bd[0] = b->dims[1], bd[1] = b->dims[0];
  if (!mm_shape_of(a->rank, a->dims, b->rank, transB && b->rank == 2 ? bd : b->dims, &s, msg, sizeof msg))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "%s (a %s, b %s)", msg, sn_tensor_describe(a, b1, sizeof b1),
                           sn_tensor_describe(b, b2, sizeof b2));
  if (!sn_dtype_q8(a->dtype) || !sn_dtype_q8(b->dtype))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "only int8 and uint8 operands are supported (got %s, %s)",
                           sn_dtype_name(a->dtype), sn_dtype_name(b->dtype));
  bool fout = !sy; /* sinter:QLinearMatMul with a float output */
  sn_dtype ydt = fout ? SINTER_FLOAT : zy ? zy->dtype : a->dtype;
  if (!fout && !sn_dtype_q8(ydt)) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "output type %s is not supported", sn_dtype_name(ydt));
  if ((sa->count != 1 && sa->count != s.M) || (sb->count != 1 && sb->count != s.N) || (sy && sy->count != 1))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                           "scales must be per tensor (a_scale may be per row, b_scale per column)");
  sn_tensor *y;
  SN_TRY(sn_kernel_output(c, 0, ydt, s.out_rank, s.out, &y));
  if (y->count == 0) return NULL;
  sn_qargs qa = {a, sa, za, b, sb, zb, sy, zy, bias, 0, NULL, y};
  sn_error *e;
  if (fast_matmul(c, &qa, &s, transB, &e)) return e;
  if (fout || transB || bias || (qp && qp->act))
    return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "fused integer matmul: unsupported operand layout");
  int32_t *acc = sn_kernel_scratch(c, sizeof(int32_t) * (size_t)y->count);
  if (!acc) return SN_ERR_OOM();
  SN_TRY(int_matmul(c, a, b, za, zb, &s, acc));
  sn_dtype st = sa->dtype;
  double ysc = sn_load_f64(sy->dtype, sy->data, 0);
  double yz = zy ? (double)sn_load_i64(zy->dtype, zy->data, 0) : 0;
  double lo = ydt == SINTER_INT8 ? -128 : 0, hi = ydt == SINTER_INT8 ? 127 : 255;
  for (int64_t bt = 0; bt < s.nbatch; bt++)
    for (int64_t i = 0; i < s.M; i++)
      for (int64_t j = 0; j < s.N; j++) {
        double as = sn_load_f64(sa->dtype, sa->data, sa->count == 1 ? 0 : i);
        double bs = sn_load_f64(sb->dtype, sb->data, sb->count == 1 ? 0 : j);
        double mult = round_to(st, round_to(st, as * bs) / ysc);
        int64_t q = (bt * s.M + i) * s.N + j;
        double v = nearbyint((double)acc[q] * mult + yz);
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        sn_store_i64(ydt, y->data, q, (int64_t)v);
      }
  return NULL;
}

const sn_op sn_ops_matmul[] = {
    {"", "Gemm", 1, 0, gemm_infer, gemm_run, mm_prepare, mm_free, 0, gemm_prepack},
    {"", "MatMul", 1, 0, matmul_infer, matmul_run, mm_prepare, mm_free, 0, matmul_prepack},
    {"", "MatMulInteger", 10, 0, mmint_infer, mmint_run, qmm_prepare, qmm_free, 0},
    {"", "QLinearMatMul", 10, 0, qlmm_infer, qlmm_run, qmm_prepare, qmm_free, 0},
    {"sinter", "QLinearMatMul", 1, 0, qlmm_infer, qlmm_run, qmm_prepare, qmm_free, 0},
    {0},
};
