/* Standard transformer ops of opsets 23-24: Attention (with GQA, KV cache, masks, softcap), RotaryEmbedding,
 * Swish and TensorScatter. float16/bfloat16/double inputs are computed in float32. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/gemm.h"
#include "kernels/vmath.h"
#include "ops/op.h"
#include "runtime/threadpool.h"

/* ---- helpers ---------------------------------------------------------------------------------------- */

static bool tf_float_dt(sn_dtype dt) {
  return dt == SINTER_FLOAT || dt == SINTER_FLOAT16 || dt == SINTER_DOUBLE || dt == SINTER_BFLOAT16;
}

static void tf_to_f32(sn_dtype dt, const void *src, float *dst, int64_t n) {
  switch (dt) {
    case SINTER_FLOAT: memcpy(dst, src, sizeof(float) * (size_t)n); break;
    case SINTER_FLOAT16:
      for (int64_t i = 0; i < n; i++) dst[i] = sn_f16_to_f32(((const uint16_t *)src)[i]);
      break;
    case SINTER_BFLOAT16:
      for (int64_t i = 0; i < n; i++) dst[i] = sn_bf16_to_f32(((const uint16_t *)src)[i]);
      break;
    case SINTER_DOUBLE:
      for (int64_t i = 0; i < n; i++) dst[i] = (float)((const double *)src)[i];
      break;
    default:
      for (int64_t i = 0; i < n; i++) dst[i] = (float)sn_load_f64(dt, src, i);
      break;
  }
}

static void tf_from_f32(sn_dtype dt, const float *src, void *dst, int64_t n) {
  switch (dt) {
    case SINTER_FLOAT: memcpy(dst, src, sizeof(float) * (size_t)n); break;
    case SINTER_FLOAT16:
      for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = sn_f32_to_f16(src[i]);
      break;
    case SINTER_BFLOAT16:
      for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = sn_f32_to_bf16(src[i]);
      break;
    case SINTER_DOUBLE:
      for (int64_t i = 0; i < n; i++) ((double *)dst)[i] = src[i];
      break;
    default:
      for (int64_t i = 0; i < n; i++) sn_store_f64(dt, dst, i, src[i]);
      break;
  }
}

/* The tensor's values as float32: its own data when already float32, else a converted scratch copy. */
static const float *tf_as_f32(sn_kernel_ctx *c, const sn_tensor *t) {
  if (t->dtype == SINTER_FLOAT) return t->data;
  float *p = sn_kernel_scratch(c, sizeof(float) * (size_t)(t->count ? t->count : 1));
  if (p) tf_to_f32(t->dtype, t->data, p, t->count);
  return p;
}

static sn_dim tf_dim_div(sn_dim a, int64_t d) { return (a.v >= 0 && d > 0) ? sn_dim_known(a.v / d) : sn_dim_unknown(); }
static sn_dim tf_dim_mul(sn_dim a, int64_t d) { return a.v >= 0 ? sn_dim_known(a.v * d) : sn_dim_unknown(); }
static sn_dim tf_dim_add(sn_dim a, sn_dim b) {
  return (a.v >= 0 && b.v >= 0) ? sn_dim_known(a.v + b.v) : sn_dim_unknown();
}

/* ---- Attention ------------------------------------------------------------------------------------ */

static sn_error *att_infer(sn_infer_ctx *c) {
  const sn_type *q = c->in[0], *k = c->n_in > 1 ? c->in[1] : NULL, *v = c->n_in > 2 ? c->in[2] : NULL;
  const sn_type *pk = c->n_in > 4 ? c->in[4] : NULL;
  if (!q || !k || !v) return sn_infer_error(c, "Q, K and V are required");
  if (q->dtype && !tf_float_dt(q->dtype))
    return sn_infer_error(c, "element type %s is not supported (float16, bfloat16, float, double)",
                          sn_dtype_name(q->dtype));
  for (int i = 0; i < c->n_out; i++)
    if (c->out[i]) sn_type_set_unknown(c->out[i], q->dtype);
  if (q->rank < 0 || k->rank < 0 || v->rank < 0) return NULL;
  if ((q->rank != 3 && q->rank != 4) || k->rank != q->rank || v->rank != q->rank)
    return sn_infer_error(c, "Q, K and V must all be 3-D or all 4-D, got ranks %d, %d, %d", q->rank, k->rank, v->rank);
  sn_dim B = q->dims[0], Hq, Hkv, Sq, Skv, dh, dv;
  if (q->rank == 4) {
    Hq = q->dims[1], Sq = q->dims[2], dh = q->dims[3], Hkv = k->dims[1], Skv = k->dims[2], dv = v->dims[3];
  } else {
    int64_t hq = sn_attr_int(c->node, "q_num_heads", 0), hkv = sn_attr_int(c->node, "kv_num_heads", 0);
    if (hq <= 0 || hkv <= 0)
      return sn_infer_error(c, "3-D inputs need positive q_num_heads and kv_num_heads, got %lld and %lld",
                            (long long)hq, (long long)hkv);
    Hq = sn_dim_known(hq), Hkv = sn_dim_known(hkv), Sq = q->dims[1], Skv = k->dims[1];
    dh = tf_dim_div(q->dims[2], hq), dv = tf_dim_div(v->dims[2], hkv);
    if (q->dims[2].v >= 0 && q->dims[2].v % hq)
      return sn_infer_error(c, "Q hidden size %lld is not divisible by q_num_heads %lld", (long long)q->dims[2].v,
                            (long long)hq);
  }
  sn_dim T = Skv;
  if (pk) T = pk->rank == 4 ? tf_dim_add(pk->dims[2], Skv) : sn_dim_unknown();
  if (c->out[0]) {
    if (q->rank == 4) {
      sn_dim d[4] = {B, Hq, Sq, dv};
      sn_type_set(c->out[0], q->dtype, 4, d);
    } else {
      sn_dim d[3] = {B, Sq, dv.v >= 0 ? tf_dim_mul(dv, Hq.v) : sn_dim_unknown()};
      sn_type_set(c->out[0], q->dtype, 3, d);
    }
  }
  if (c->n_out > 1 && c->out[1]) {
    sn_dim d[4] = {B, Hkv, T, dh};
    sn_type_set(c->out[1], q->dtype, 4, d);
  }
  if (c->n_out > 2 && c->out[2]) {
    sn_dim d[4] = {B, Hkv, T, dv};
    sn_type_set(c->out[2], q->dtype, 4, d);
  }
  if (c->n_out > 3 && c->out[3]) {
    sn_dim d[4] = {B, Hq, Sq, T};
    sn_type_set(c->out[3], q->dtype, 4, d);
  }
  return NULL;
}

typedef struct att_job {
  const float *q, *k, *v; /* k, v: present [B,Hkv,T,dh|dv] */
  int64_t q_bs, q_hs, q_ld;
  float *y;
  int64_t y_bs, y_hs, y_ld;
  float *qk; /* [B,Hq,Sq,T] or NULL */
  int qk_mode;
  const float *maskf;
  const uint8_t *maskb;
  int64_t ms[3], mlen;
  const int64_t *nonpad;
  int64_t B, Hq, Hkv, Sq, T, P, dh, dv;
  float scale, softcap;
  bool causal;
  float *scores;
  size_t per_chunk;
  uint8_t *ws;
  size_t ws_bytes;
  int64_t chunks;
} att_job;

static void att_head(att_job *j, int64_t b, int64_t h, float *S, void *ws) {
  int64_t T = j->T, Sq = j->Sq, kvh = h / (j->Hq / j->Hkv);
  const float *q = j->q + b * j->q_bs + h * j->q_hs;
  const float *k = j->k + (b * j->Hkv + kvh) * T * j->dh;
  const float *v = j->v + (b * j->Hkv + kvh) * T * j->dv;
  float *y = j->y + b * j->y_bs + h * j->y_hs;
  float *qk = j->qk ? j->qk + (b * j->Hq + h) * Sq * T : NULL;
  sn_sgemm(false, true, Sq, T, j->dh, j->scale, q, j->q_ld, k, j->dh, 0.f, S, T, ws);
  if (qk && j->qk_mode == 0) memcpy(qk, S, sizeof(float) * (size_t)(Sq * T));
  int64_t lim = j->nonpad ? j->nonpad[b] : T;
  for (int64_t i = 0; i < Sq; i++) {
    float *row = S + i * T;
    if (j->maskf || j->maskb) {
      int64_t base = b * j->ms[0] + h * j->ms[1] + i * j->ms[2];
      for (int64_t t = 0; t < T; t++) {
        if (t >= j->mlen)
          row[t] = -INFINITY;
        else if (j->maskf)
          row[t] += j->maskf[base + t];
        else if (!j->maskb[base + t])
          row[t] = -INFINITY;
      }
    }
    if (j->causal)
      for (int64_t t = i + j->P + 1; t < T; t++) row[t] = -INFINITY;
    for (int64_t t = lim < 0 ? 0 : lim; t < T; t++) row[t] = -INFINITY;
  }
  if (qk && j->qk_mode == 1) memcpy(qk, S, sizeof(float) * (size_t)(Sq * T));
  if (j->softcap > 0.f) {
    float inv = 1.f / j->softcap;
    for (int64_t n = 0; n < Sq * T; n++) S[n] = j->softcap * tanhf(S[n] * inv);
  }
  if (qk && j->qk_mode == 2) memcpy(qk, S, sizeof(float) * (size_t)(Sq * T));
  for (int64_t i = 0; i < Sq; i++) {
    float *row = S + i * T;
    float mx = -INFINITY;
    for (int64_t t = 0; t < T; t++) mx = row[t] > mx ? row[t] : mx;
    if (mx == -INFINITY) { /* every key masked: the reference's softmax gives NaN */
      for (int64_t t = 0; t < T; t++) row[t] = NAN;
      continue;
    }
    float sum = 0.f;
    for (int64_t t = 0; t < T; t++) {
      row[t] = expf(row[t] - mx);
      sum += row[t];
    }
    float inv = 1.f / sum;
    for (int64_t t = 0; t < T; t++) row[t] *= inv;
  }
  if (qk && j->qk_mode == 3) memcpy(qk, S, sizeof(float) * (size_t)(Sq * T));
  sn_sgemm(false, false, Sq, j->dv, T, 1.f, S, T, v, j->dv, 0.f, y, j->y_ld, ws);
}

static void att_range(void *arg, int64_t begin, int64_t end) {
  att_job *j = arg;
  int64_t n = j->B * j->Hq;
  for (int64_t ch = begin; ch < end; ch++) {
    float *S = j->scores + (size_t)ch * j->per_chunk;
    void *ws = j->ws + (size_t)ch * j->ws_bytes;
    for (int64_t bh = n * ch / j->chunks; bh < n * (ch + 1) / j->chunks; bh++) att_head(j, bh / j->Hq, bh % j->Hq, S, ws);
  }
}

#define LL(x) ((long long)(x))

static sn_error *att_run(sn_kernel_ctx *c) {
  const sn_tensor *Q = c->in[0], *K = c->in[1], *V = c->in[2];
  const sn_tensor *M = c->n_in > 3 ? c->in[3] : NULL, *PK = c->n_in > 4 ? c->in[4] : NULL;
  const sn_tensor *PV = c->n_in > 5 ? c->in[5] : NULL, *NP = c->n_in > 6 ? c->in[6] : NULL;
  if (!Q || !K || !V) return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "Q, K and V are required");
  sn_dtype dt = Q->dtype;
  if (!tf_float_dt(dt) || K->dtype != dt || V->dtype != dt)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "Q, K, V must share one float type, got %s, %s, %s",
                           sn_dtype_name(dt), sn_dtype_name(K->dtype), sn_dtype_name(V->dtype));
  int r = Q->rank;
  if ((r != 3 && r != 4) || K->rank != r || V->rank != r)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "Q, K, V must all be 3-D or all 4-D, got ranks %d, %d, %d",
                           Q->rank, K->rank, V->rank);
  int64_t B = Q->dims[0], Hq, Hkv, Sq, Skv, dh, dv;
  bool ok;
  if (r == 4) {
    Hq = Q->dims[1], Sq = Q->dims[2], dh = Q->dims[3], Hkv = K->dims[1], Skv = K->dims[2], dv = V->dims[3];
    ok = K->dims[0] == B && V->dims[0] == B && V->dims[1] == Hkv && V->dims[2] == Skv && K->dims[3] == dh;
  } else {
    Hq = sn_attr_int(c->node, "q_num_heads", 0), Hkv = sn_attr_int(c->node, "kv_num_heads", 0);
    Sq = Q->dims[1], Skv = K->dims[1];
    ok = Hq > 0 && Hkv > 0 && Q->dims[2] % Hq == 0 && K->dims[2] % Hkv == 0 && V->dims[2] % Hkv == 0 &&
         K->dims[0] == B && V->dims[0] == B && V->dims[1] == Skv;
    dh = ok ? Q->dims[2] / Hq : 0, dv = ok ? V->dims[2] / Hkv : 0;
    ok = ok && K->dims[2] / Hkv == dh;
  }
  ok = ok && Hkv > 0 && Hq % Hkv == 0;
  char qs[96], ks[96], vs[96];
  if (!ok)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                           "shapes Q %s, K %s, V %s do not fit attention (q_num_heads %lld, kv_num_heads %lld)",
                           sn_dims_str(Q->rank, Q->dims, qs, sizeof qs), sn_dims_str(K->rank, K->dims, ks, sizeof ks),
                           sn_dims_str(V->rank, V->dims, vs, sizeof vs), LL(Hq), LL(Hkv));
  int64_t P = 0;
  if (PK || PV) {
    if (!PK || !PV || PK->dtype != dt || PV->dtype != dt || PK->rank != 4 || PV->rank != 4 || PK->dims[0] != B ||
        PK->dims[1] != Hkv || PK->dims[3] != dh || PV->dims[0] != B || PV->dims[1] != Hkv || PV->dims[3] != dv ||
        PV->dims[2] != PK->dims[2])
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                             "past_key and past_value must both be given as %s [%lld,%lld,P,%lld] and [%lld,%lld,P,%lld]",
                             sn_dtype_name(dt), LL(B), LL(Hkv), LL(dh), LL(B), LL(Hkv), LL(dv));
    P = PK->dims[2];
  }
  int64_t T = P + Skv;
  att_job j;
  memset(&j, 0, sizeof j);
  j.B = B, j.Hq = Hq, j.Hkv = Hkv, j.Sq = Sq, j.T = T, j.P = P, j.dh = dh, j.dv = dv;
  const sn_attr *sa = sn_node_attr(c->node, "scale");
  j.scale = sa ? sa->f : 1.f / sqrtf((float)dh);
  j.softcap = sn_attr_float(c->node, "softcap", 0.f);
  j.causal = sn_attr_int(c->node, "is_causal", 0) != 0;
  j.qk_mode = (int)sn_attr_int(c->node, "qk_matmul_output_mode", 0);
  if (j.qk_mode < 0 || j.qk_mode > 3)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "qk_matmul_output_mode must be 0..3, got %d", j.qk_mode);
  /* mask: broadcast to [B,Hq,Sq,*]; a last dimension shorter than T counts as masked beyond its end */
  if (M) {
    if (M->rank < 1 || M->rank > 4 || (M->dtype != SINTER_BOOL && !tf_float_dt(M->dtype)))
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "attn_mask must be bool or float of rank 1..4, got %s %s",
                             sn_dtype_name(M->dtype), sn_dims_str(M->rank, M->dims, qs, sizeof qs));
    int64_t md[4] = {1, 1, 1, 1}, want[3] = {B, Hq, Sq};
    for (int d = 0; d < M->rank; d++) md[4 - M->rank + d] = M->dims[d];
    if (md[3] > T)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "attn_mask %s is longer than the %lld keys",
                             sn_dims_str(M->rank, M->dims, qs, sizeof qs), LL(T));
    j.mlen = md[3];
    int64_t stride = md[3];
    for (int d = 2; d >= 0; d--) {
      if (md[d] != 1 && md[d] != want[d])
        return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "attn_mask %s does not broadcast to [%lld,%lld,%lld,%lld]",
                               sn_dims_str(M->rank, M->dims, qs, sizeof qs), LL(B), LL(Hq), LL(Sq), LL(T));
      j.ms[d] = md[d] == 1 ? 0 : stride;
      stride *= md[d];
    }
    if (M->dtype == SINTER_BOOL)
      j.maskb = M->data;
    else if (!(j.maskf = tf_as_f32(c, M)))
      return SN_ERR_OOM();
  }
  if (NP) {
    if (NP->dtype != SINTER_INT64 || NP->count != B)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "nonpad_kv_seqlen must be int64 [%lld], got %s %s", LL(B),
                             sn_dtype_name(NP->dtype), sn_dims_str(NP->rank, NP->dims, qs, sizeof qs));
    j.nonpad = NP->data;
  }
  /* present K/V, float32 [B,Hkv,T,d] */
  int64_t pkd[4] = {B, Hkv, T, dh}, pvd[4] = {B, Hkv, T, dv};
  sn_tensor *pko = NULL, *pvo = NULL, *qko = NULL, *yo = NULL;
  /* absent outputs may share one scratch block, so only real ones hold the present K/V */
  if (c->n_out > 1 && c->node->out[1] >= 0) SN_TRY(sn_kernel_output(c, 1, dt, 4, pkd, &pko));
  if (c->n_out > 2 && c->node->out[2] >= 0) SN_TRY(sn_kernel_output(c, 2, dt, 4, pvd, &pvo));
  float *kf = (pko && dt == SINTER_FLOAT) ? pko->data : sn_kernel_scratch(c, sizeof(float) * (size_t)(B * Hkv * T * dh + 1));
  float *vf = (pvo && dt == SINTER_FLOAT) ? pvo->data : sn_kernel_scratch(c, sizeof(float) * (size_t)(B * Hkv * T * dv + 1));
  const float *qf = tf_as_f32(c, Q), *kin = tf_as_f32(c, K), *vin = tf_as_f32(c, V);
  const float *pkf = PK ? tf_as_f32(c, PK) : NULL, *pvf = PV ? tf_as_f32(c, PV) : NULL;
  if (!kf || !vf || !qf || !kin || !vin || (PK && (!pkf || !pvf))) return SN_ERR_OOM();
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < Hkv; h++) {
      float *kd = kf + (b * Hkv + h) * T * dh, *vd = vf + (b * Hkv + h) * T * dv;
      if (P) {
        memcpy(kd, pkf + (b * Hkv + h) * P * dh, sizeof(float) * (size_t)(P * dh));
        memcpy(vd, pvf + (b * Hkv + h) * P * dv, sizeof(float) * (size_t)(P * dv));
      }
      if (r == 4) {
        memcpy(kd + P * dh, kin + (b * Hkv + h) * Skv * dh, sizeof(float) * (size_t)(Skv * dh));
        memcpy(vd + P * dv, vin + (b * Hkv + h) * Skv * dv, sizeof(float) * (size_t)(Skv * dv));
      } else {
        for (int64_t s = 0; s < Skv; s++) {
          memcpy(kd + (P + s) * dh, kin + (b * Skv + s) * Hkv * dh + h * dh, sizeof(float) * (size_t)dh);
          memcpy(vd + (P + s) * dv, vin + (b * Skv + s) * Hkv * dv + h * dv, sizeof(float) * (size_t)dv);
        }
      }
    }
  j.k = kf, j.v = vf, j.q = qf;
  if (r == 4)
    j.q_bs = Hq * Sq * dh, j.q_hs = Sq * dh, j.q_ld = dh, j.y_bs = Hq * Sq * dv, j.y_hs = Sq * dv, j.y_ld = dv;
  else
    j.q_bs = Sq * Hq * dh, j.q_hs = dh, j.q_ld = Hq * dh, j.y_bs = Sq * Hq * dv, j.y_hs = dv, j.y_ld = Hq * dv;
  int64_t yd[4] = {B, Hq, Sq, dv}, y3[3] = {B, Sq, Hq * dv};
  SN_TRY(sn_kernel_output(c, 0, dt, r, r == 4 ? yd : y3, &yo));
  j.y = dt == SINTER_FLOAT ? yo->data : sn_kernel_scratch(c, sizeof(float) * (size_t)(yo->count + 1));
  if (c->n_out > 3 && c->node->out[3] >= 0 && sn_kernel_output_used(c, 3)) {
    int64_t qd[4] = {B, Hq, Sq, T};
    SN_TRY(sn_kernel_output(c, 3, dt, 4, qd, &qko));
    j.qk = dt == SINTER_FLOAT ? qko->data : sn_kernel_scratch(c, sizeof(float) * (size_t)(qko->count + 1));
    if (!j.qk) return SN_ERR_OOM();
  }
  if (!j.y) return SN_ERR_OOM();
  sn_threadpool *tp = sn_kernel_pool(c);
  int64_t n = B * Hq;
  j.chunks = sn_threadpool_size(tp);
  if (j.chunks > n) j.chunks = n;
  if (j.chunks < 1) j.chunks = 1;
  j.per_chunk = (size_t)(Sq * T + 1);
  j.scores = sn_kernel_scratch(c, sizeof(float) * j.per_chunk * (size_t)j.chunks);
  j.ws_bytes = (sn_sgemm_workspace() + 63) / 64 * 64;
  j.ws = sn_kernel_scratch(c, j.ws_bytes * (size_t)j.chunks);
  if (!j.scores || !j.ws) return SN_ERR_OOM();
  if (n > 0 && T > 0) {
    sn_parallel_for(tp, j.chunks, att_range, &j);
  } else if (n > 0) { /* no keys at all: empty softmax, zero output */
    memset(j.y, 0, sizeof(float) * (size_t)yo->count);
  }
  if (dt != SINTER_FLOAT) {
    tf_from_f32(dt, j.y, yo->data, yo->count);
    if (pko) tf_from_f32(dt, kf, pko->data, pko->count);
    if (pvo) tf_from_f32(dt, vf, pvo->data, pvo->count);
    if (qko) tf_from_f32(dt, j.qk, qko->data, qko->count);
  }
  return NULL;
}

/* ---- RotaryEmbedding ------------------------------------------------------------------------------- */

static sn_error *rope_infer(sn_infer_ctx *c) {
  const sn_type *x = c->in[0];
  if (!x || c->n_in < 3 || !c->in[1] || !c->in[2]) return sn_infer_error(c, "input, cos_cache and sin_cache are required");
  if (x->dtype && !tf_float_dt(x->dtype))
    return sn_infer_error(c, "element type %s is not supported (float16, bfloat16, float)", sn_dtype_name(x->dtype));
  if (x->rank >= 0 && x->rank != 3 && x->rank != 4)
    return sn_infer_error(c, "input must be 3-D or 4-D, got rank %d", x->rank);
  *c->out[0] = *x;
  return NULL;
}

static sn_error *rope_run(sn_kernel_ctx *c) {
  const sn_tensor *X = c->in[0], *C = c->in[1], *S = c->in[2], *PI = c->n_in > 3 ? c->in[3] : NULL;
  char xs[96], cs[96];
  if (!X || !C || !S || (X->rank != 3 && X->rank != 4) || !tf_float_dt(X->dtype) || C->dtype != X->dtype ||
      S->dtype != X->dtype)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input must be float 3-D or 4-D with caches of its type");
  int64_t B = X->dims[0], H, Sl, D;
  if (X->rank == 4) {
    H = X->dims[1], Sl = X->dims[2], D = X->dims[3];
  } else {
    H = sn_attr_int(c->node, "num_heads", 0), Sl = X->dims[1];
    if (H <= 0 || X->dims[2] % H)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "3-D input %s needs num_heads dividing its hidden size, got %lld",
                             sn_dims_str(X->rank, X->dims, xs, sizeof xs), LL(H));
    D = X->dims[2] / H;
  }
  int64_t rd = sn_attr_int(c->node, "rotary_embedding_dim", 0);
  if (rd == 0) rd = D;
  bool inter = sn_attr_int(c->node, "interleaved", 0) != 0;
  int64_t half = rd / 2;
  if (rd < 0 || rd > D || rd % 2)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "rotary_embedding_dim %lld must be even and at most head size %lld",
                           LL(rd), LL(D));
  int64_t npos = 0;
  if (PI) {
    if (PI->dtype != SINTER_INT64 || PI->rank != 2 || PI->dims[0] != B || PI->dims[1] != Sl || C->rank != 2 ||
        S->rank != 2 || C->dims[1] != half || S->dims[1] != half || S->dims[0] != C->dims[0])
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                             "with position_ids [%lld,%lld], caches must be [max_pos,%lld]; got cos %s",
                             LL(B), LL(Sl), LL(half), sn_dims_str(C->rank, C->dims, cs, sizeof cs));
    npos = C->dims[0];
  } else if (C->rank != 3 || S->rank != 3 || C->dims[0] != B || C->dims[1] != Sl || C->dims[2] != half ||
             S->dims[0] != B || S->dims[1] != Sl || S->dims[2] != half) {
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "without position_ids, caches must be [%lld,%lld,%lld]; got cos %s",
                           LL(B), LL(Sl), LL(half), sn_dims_str(C->rank, C->dims, cs, sizeof cs));
  }
  const float *cf = tf_as_f32(c, C), *sf = tf_as_f32(c, S);
  float *in = sn_kernel_scratch(c, sizeof(float) * (size_t)(2 * D + 2)), *out = in ? in + D + 1 : NULL;
  if (!cf || !sf || !in) return SN_ERR_OOM();
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, X->dtype, X->rank, X->dims, &Y));
  size_t es = sn_dtype_size(X->dtype);
  const int64_t *pid = PI ? PI->data : NULL;
  for (int64_t b = 0; b < B; b++)
    for (int64_t s = 0; s < Sl; s++) {
      int64_t row = b * Sl + s;
      if (pid) {
        row = pid[b * Sl + s];
        if (row < 0 || row >= npos)
          return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "position id %lld is outside the cache of %lld rows",
                                 LL(row), LL(npos));
      }
      const float *co = cf + row * half, *si = sf + row * half;
      for (int64_t h = 0; h < H; h++) {
        int64_t off = X->rank == 4 ? ((b * H + h) * Sl + s) * D : (b * Sl + s) * H * D + h * D;
        tf_to_f32(X->dtype, (const char *)X->data + (size_t)off * es, in, D);
        for (int64_t i = 0; i < half; i++) {
          int64_t i1 = inter ? 2 * i : i, i2 = inter ? 2 * i + 1 : i + half;
          float x1 = in[i1], x2 = in[i2];
          out[i1] = co[i] * x1 - si[i] * x2;
          out[i2] = si[i] * x1 + co[i] * x2;
        }
        for (int64_t d = rd; d < D; d++) out[d] = in[d];
        tf_from_f32(X->dtype, out, (char *)Y->data + (size_t)off * es, D);
      }
    }
  return NULL;
}

/* ---- Swish ----------------------------------------------------------------------------------------- */

static sn_error *swish_infer(sn_infer_ctx *c) {
  const sn_type *x = c->in[0];
  if (!x) return sn_infer_error(c, "input is missing");
  if (x->dtype && !tf_float_dt(x->dtype))
    return sn_infer_error(c, "element type %s is not supported (float16, bfloat16, float, double)", sn_dtype_name(x->dtype));
  *c->out[0] = *x;
  return NULL;
}

static sn_error *swish_run(sn_kernel_ctx *c) {
  const sn_tensor *X = c->in[0];
  if (!X || !tf_float_dt(X->dtype))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "input must be a float tensor");
  float alpha = sn_attr_float(c->node, "alpha", 1.f);
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, X->dtype, X->rank, X->dims, &Y));
  int64_t n = X->count;
  if (X->dtype == SINTER_FLOAT) {
    const float *x = X->data;
    float *y = Y->data;
    for (int64_t i = 0; i < n; i++) {
      float v = x[i];
      y[i] = v / (1.f + expf(-alpha * v));
    }
  } else if (X->dtype == SINTER_DOUBLE) {
    const double *x = X->data;
    double *y = Y->data;
    for (int64_t i = 0; i < n; i++) {
      double v = x[i];
      y[i] = v / (1.0 + exp(-(double)alpha * v));
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      float v = (float)sn_load_f64(X->dtype, X->data, i);
      sn_store_f64(X->dtype, Y->data, i, v / (1.f + expf(-alpha * v)));
    }
  }
  return NULL;
}

/* ---- TensorScatter --------------------------------------------------------------------------------- */

static sn_error *ts_infer(sn_infer_ctx *c) {
  const sn_type *p = c->in[0], *u = c->n_in > 1 ? c->in[1] : NULL;
  if (!p || !u) return sn_infer_error(c, "past_cache and update are required");
  if (p->dtype == SINTER_STRING) return sn_infer_error(c, "string tensors are not supported");
  const char *mode = sn_attr_str(c->node, "mode", "linear");
  if (strcmp(mode, "linear") && strcmp(mode, "circular"))
    return sn_infer_error(c, "mode must be 'linear' or 'circular', got '%s'", mode);
  if (p->rank >= 0 && u->rank >= 0 && p->rank != u->rank)
    return sn_infer_error(c, "past_cache (rank %d) and update (rank %d) must have the same rank", p->rank, u->rank);
  *c->out[0] = *p;
  return NULL;
}

static sn_error *ts_run(sn_kernel_ctx *c) {
  const sn_tensor *Pc = c->in[0], *U = c->in[1], *W = c->n_in > 2 ? c->in[2] : NULL;
  char ps[96], us[96];
  if (!Pc || !U || Pc->dtype != U->dtype || Pc->dtype == SINTER_STRING || Pc->rank != U->rank || Pc->rank < 2)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "past_cache and update must be non-string tensors of one type and rank >= 2");
  int r = Pc->rank;
  int64_t axis = sn_attr_int(c->node, "axis", -2);
  if (axis < 0) axis += r;
  bool circ = !strcmp(sn_attr_str(c->node, "mode", "linear"), "circular");
  bool ok = axis >= 1 && axis < r;
  for (int d = 0; ok && d < r; d++) ok = d == axis ? U->dims[d] <= Pc->dims[d] : U->dims[d] == Pc->dims[d];
  if (!ok)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "update %s does not fit past_cache %s along axis %lld",
                           sn_dims_str(U->rank, U->dims, us, sizeof us), sn_dims_str(Pc->rank, Pc->dims, ps, sizeof ps),
                           LL(sn_attr_int(c->node, "axis", -2)));
  int64_t B = Pc->dims[0];
  if (W && (W->dtype != SINTER_INT64 || W->count != B))
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "write_indices must be int64 [%lld]", LL(B));
  sn_tensor *Y;
  SN_TRY(sn_kernel_output(c, 0, Pc->dtype, r, Pc->dims, &Y));
  if (Y->data != Pc->data) memcpy(Y->data, Pc->data, Pc->nbytes);
  int64_t pre = 1, inner = 1, per_b = 1, Mx = Pc->dims[axis], Ul = U->dims[axis];
  for (int d = 0; d < axis; d++) pre *= Pc->dims[d];
  for (int d = 1; d < axis; d++) per_b *= Pc->dims[d];
  for (int d = (int)axis + 1; d < r; d++) inner *= Pc->dims[d];
  size_t es = sn_dtype_size(Pc->dtype), blk = es * (size_t)inner;
  const int64_t *wi = W ? W->data : NULL;
  for (int64_t p = 0; p < pre; p++) {
    int64_t start = wi ? wi[p / per_b] : 0;
    for (int64_t s = 0; s < Ul; s++) {
      int64_t pos = start + s;
      if (circ) pos = ((pos % Mx) + Mx) % Mx;
      if (pos < 0 || pos >= Mx)
        return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "write index %lld + %lld is outside the cache length %lld",
                               LL(start), LL(s), LL(Mx));
      memcpy((char *)Y->data + (size_t)(p * Mx + pos) * blk, (const char *)U->data + (size_t)(p * Ul + s) * blk, blk);
    }
  }
  return NULL;
}

const sn_op sn_ops_transformer[] = {
    {"", "Attention", 23, 0, att_infer, att_run, NULL, NULL, 0},
    {"", "RotaryEmbedding", 23, 0, rope_infer, rope_run, NULL, NULL, 0},
    {"", "Swish", 24, 0, swish_infer, swish_run, NULL, NULL, SN_OP_INPLACE},
    {"", "TensorScatter", 24, 0, ts_infer, ts_run, NULL, NULL, SN_OP_INPLACE},
    {0},
};
