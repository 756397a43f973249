/* sinter:Attention, the fused multi-head attention that src/passes/attention.c recognises:
 *   inputs  Q [B,Sq,H], K [B,Sk,H], V [B,Sk,H] (projections already applied, H = num_heads * head_size),
 *           optional additive mask broadcastable to [B,num_heads,Sq,Sk];
 *           or, with qkv_packed=1, one input [B,S,3H] holding Q, K and V side by side (K and V absent);
 *           or, with kv_packed=1, K [B,Sk,2H] holding K and V side by side (V absent: cross-attention)
 *   output  [B,Sq,H]: per head, softmax(Q_h K_h^T * scale + mask) V_h, heads side by side
 *   seq_first=1: Q, K, V and the output sequence-first, [Sq,B,H] and [Sk,B,H] (torch's
 *           nn.MultiheadAttention); only the strides differ
 * Heads are read and written in place through GEMM strides, so no head transposes are materialised.
 *
 * On AVX2 / AVX-512 in float32 (attn_head_fused) a head takes blocks of 12 query rows, one pass of
 * the GEMM's small-M kernel: their scores [12, Sk] stay in L1 between the two products, only K_h^T is
 * packed (once per head), Q_h and V_h are read in place by the small-M kernel, and the softmax leaves
 * its rows unnormalized, dividing the output rows (dh wide) by the sums instead of the score rows (Sk
 * wide). BERT-small, 4 heads of 128 x 64: 233 -> ~205 us a layer on Zen 4 (the small-M products run
 * at ~108 GFLOP/s, the exponentials take ~12%); the old path packed Q and P, gathered K^T one float
 * at a time, and sent the scores through L2. Elsewhere (the reference ISA, --precision bf16, whose
 * whole-head products run in bf16) two whole-head GEMMs. */
#include <math.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/vmath.h"
#include "ops/op.h"
#include "runtime/cpu.h"
#include "runtime/prof.h"
#include "runtime/threadpool.h"

typedef struct attn_job {
  const float *q, *k, *v, *mask;
  float *out, *scores; /* scores: one [Sq,Sk] block per thread chunk */
  int64_t B, Sq, Sk, H, heads, dh;
  int64_t lq, lk, lv, lo; /* row strides of Q, K, V (H, or 3H when packed; times B sequence-first), output */
  int64_t bq, bk, bv, bo; /* batch strides of the same */
  int64_t ms[4]; /* mask strides for b, head, query, key (0 where broadcast) */
  float scale;
  size_t per_chunk; /* floats of score scratch per chunk */
  uint8_t *ws;      /* GEMM workspace per chunk */
  size_t ws_bytes;
  int64_t chunks;   /* scratch slots: one per pool thread */
  int *slot_busy;   /* per slot: taken by a running range */
  const sn_sgemm_impl *im; /* the fused path's GEMM (NULL: two whole-head sn_sgemm calls) */
  int64_t rows;     /* the fused path's query rows per block */
  size_t kt_floats; /* its packed K^T per slot (the scores follow) */
} attn_job;

/* row = exp(row + mask row (m[t * ms], NULL: none) - its max) over n keys, unnormalized; returns
 * the sum (1 for no keys). Each pass a vector kernel but a strided mask's (one broadcast over keys,
 * or a transposed one). */
static float softmax_row_sum(float *restrict row, const float *restrict m, int64_t ms, int64_t n) {
  if (n <= 0) return 1.f;
  if (m && ms == 1)
    sn_vbias_act(SN_VACT_NONE, 0.f, 0.f, m, NULL, row, n);
  else if (m)
    for (int64_t t = 0; t < n; t++) row[t] += m[t * ms];
  return sn_vexp_shift_sum(row, row, n, sn_vmax(row, n));
}

/* row = softmax(row + mask row) */
static void softmax_row(float *restrict row, const float *restrict m, int64_t ms, int64_t n) {
  if (n > 0) sn_vscale(1.f / softmax_row_sum(row, m, ms, n), row, row, n);
}

/* one head by blocks of query rows (see the top of the file); kt: room for K_h^T's panels, S for
 * j->rows score rows */
static void attn_head_fused(const attn_job *j, int64_t b, int64_t h, float *kt, float *S, void *ws) {
  const sn_sgemm_impl *im = j->im;
  const float *q = j->q + b * j->bq + h * j->dh;
  const float *k = j->k + b * j->bk + h * j->dh;
  const float *v = j->v + b * j->bv + h * j->dh;
  float *o = j->out + b * j->bo + h * j->dh;
  im->pack_b(true, j->dh, j->Sk, k, j->lk, kt); /* K_h^T: dh x Sk */
  for (int64_t i0 = 0; i0 < j->Sq; i0 += j->rows) {
    int64_t m = j->Sq - i0 < j->rows ? j->Sq - i0 : j->rows;
    im->gemm_pb(false, m, j->Sk, j->dh, 0, j->Sk, j->scale, q + i0 * j->lq, j->lq, kt, 0.f, S, j->Sk, ws);
    float inv[12]; /* j->rows <= 12 */
    for (int64_t i = 0; i < m; i++) {
      const float *mr = j->mask ? j->mask + b * j->ms[0] + h * j->ms[1] + (i0 + i) * j->ms[2] : NULL;
      inv[i] = 1.f / softmax_row_sum(S + i * j->Sk, mr, j->ms[3], j->Sk);
    }
    float *ob = o + i0 * j->lo;
    im->gemm(false, false, m, j->dh, j->Sk, 1.f, S, j->Sk, v, j->lv, 0.f, ob, j->lo, ws);
    for (int64_t i = 0; i < m; i++) sn_vscale(inv[i], ob + i * j->lo, ob + i * j->lo, j->dh);
  }
}

static void attn_range(void *arg, int64_t begin, int64_t end) {
  attn_job *j = arg;
  /* a scratch slot of its own for this range: at most one range runs per pool thread at a time, and
   * there is a slot per thread, so a free one is always found */
  int64_t idx = 0;
  for (int zero = 0;; idx = (idx + 1) % j->chunks, zero = 0)
    if (__atomic_compare_exchange_n(&j->slot_busy[idx], &zero, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) break;
  float *S = j->scores + (size_t)idx * j->per_chunk;
  void *ws = j->ws + (size_t)idx * j->ws_bytes;
  for (int64_t bh = begin; bh < end; bh++) {
    int64_t b = bh / j->heads, h = bh % j->heads;
    if (j->im) {
      attn_head_fused(j, b, h, S, S + j->kt_floats, ws);
      continue;
    }
    const float *q = j->q + b * j->bq + h * j->dh;
    const float *k = j->k + b * j->bk + h * j->dh;
    const float *v = j->v + b * j->bv + h * j->dh;
    float *o = j->out + b * j->bo + h * j->dh;
    sn_sgemm(false, true, j->Sq, j->Sk, j->dh, j->scale, q, j->lq, k, j->lk, 0.f, S, j->Sk, ws);
    for (int64_t i = 0; i < j->Sq; i++)
      softmax_row(S + i * j->Sk, j->mask ? j->mask + b * j->ms[0] + h * j->ms[1] + i * j->ms[2] : NULL, j->ms[3], j->Sk);
    sn_sgemm(false, false, j->Sq, j->dh, j->Sk, 1.f, S, j->Sk, v, j->lv, 0.f, o, j->lo, ws);
  }
  __atomic_store_n(&j->slot_busy[idx], 0, __ATOMIC_RELEASE);
}

static sn_error *attn_infer(sn_infer_ctx *c) {
  const sn_type *q = c->in[0];
  if (!q || q->dtype != SINTER_FLOAT) return sn_infer_error(c, "Attention takes float32 Q, K, V");
  if (q->rank >= 0 && q->rank != 3)
    return sn_infer_error(c, sn_attr_int(c->node, "seq_first", 0) ? "Q must be [sequence, batch, hidden]"
                                                                    : "Q must be [batch, sequence, hidden]");
  sn_type_set(c->out[0], SINTER_FLOAT, q->rank, q->dims);
  if (sn_attr_int(c->node, "qkv_packed", 0) && q->rank == 3) {
    sn_dim h = q->dims[2];
    if (h.v >= 0 && h.v % 3) return sn_infer_error(c, "packed QKV's last dimension %lld is not a multiple of 3", (long long)h.v);
    c->out[0]->dims[2] = h.v >= 0 ? sn_dim_known(h.v / 3) : sn_dim_unknown();
  }
  return NULL;
}

static sn_error *attn_run(sn_kernel_ctx *c) {
  const sn_tensor *q = c->in[0], *k = c->in[1], *v = c->in[2];
  const sn_tensor *m = c->n_in > 3 ? c->in[3] : NULL;
  int64_t heads = sn_attr_int(c->node, "num_heads", 0);
  float scale = sn_attr_float(c->node, "scale", 1.f);
  bool packed = sn_attr_int(c->node, "qkv_packed", 0) != 0, kv_packed = !packed && sn_attr_int(c->node, "kv_packed", 0);
  const int sf = sn_attr_int(c->node, "seq_first", 0) != 0; /* the batch's axis (the sequence's: !sf) */
  if (packed) {
    if (!q || q->rank != 3 || q->dtype != SINTER_FLOAT || q->dims[2] % 3)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "packed QKV must be float32 [batch, sequence, 3 * hidden]");
    k = v = q;
  }
  if (kv_packed) {
    if (!q || !k || k->rank != 3 || k->dtype != SINTER_FLOAT || q->rank != 3 || k->dims[2] != 2 * q->dims[2])
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                             "packed KV must be float32 [batch, sequence, 2 * hidden] beside Q's [batch, sequence, hidden]");
    v = k;
  }
  if (!q || !k || !v || q->rank != 3 || k->rank != 3 || v->rank != 3 || q->dtype != SINTER_FLOAT ||
      k->dtype != SINTER_FLOAT || v->dtype != SINTER_FLOAT)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "Q, K, V must be float32 [batch, sequence, hidden]");
  int64_t B = q->dims[sf], Sq = q->dims[!sf], H = packed ? q->dims[2] / 3 : q->dims[2], Sk = k->dims[!sf];
  if (heads <= 0 || H % heads || k->dims[sf] != B || v->dims[sf] != B ||
      (!packed && !kv_packed && (k->dims[2] != H || v->dims[2] != H)) ||
      v->dims[!sf] != Sk)
    return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT,
                           "shapes Q [%lld,%lld,%lld], K [%lld,%lld,%lld], V [%lld,%lld,%lld] do not fit %lld heads%s",
                           (long long)q->dims[0], (long long)q->dims[1], (long long)q->dims[2], (long long)k->dims[0],
                           (long long)k->dims[1], (long long)k->dims[2], (long long)v->dims[0], (long long)v->dims[1],
                           (long long)v->dims[2], (long long)heads, sf ? " (sequence first: [S, B, H])" : "");
  attn_job j = {q->data, k->data, v->data, NULL, NULL, NULL, B, Sq, Sk, H, heads, H / heads, H, H, H, H,
                0, 0, 0, 0, {0, 0, 0, 0}, scale, 0, NULL, 0, 0, NULL, NULL, 0, 0};
  if (packed) {
    j.k = (const float *)q->data + H;
    j.v = (const float *)q->data + 2 * H;
    j.lq = j.lk = j.lv = 3 * H;
  }
  if (kv_packed) {
    j.v = (const float *)k->data + H;
    j.lk = j.lv = 2 * H;
  }
  if (sf) { /* a row (one position of one batch) every B rows; a batch one row further */
    j.bq = j.lq, j.bk = j.lk, j.bv = j.lv, j.bo = j.lo;
    j.lq *= B, j.lk *= B, j.lv *= B, j.lo *= B;
  } else {
    j.bq = Sq * j.lq, j.bk = Sk * j.lk, j.bv = Sk * j.lv, j.bo = Sq * j.lo;
  }
  if (m) {
    /* broadcast the mask to [B, heads, Sq, Sk] by strides */
    if (m->dtype != SINTER_FLOAT || m->rank > 4)
      return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "the mask must be float32 of rank <= 4");
    int64_t want[4] = {B, heads, Sq, Sk}, md[4] = {1, 1, 1, 1};
    for (int d = 0; d < m->rank; d++) md[4 - m->rank + d] = m->dims[d];
    int64_t stride = 1;
    for (int d = 3; d >= 0; d--) {
      if (md[d] != 1 && md[d] != want[d])
        return sn_kernel_error(c, SINTER_ERR_INVALID_ARGUMENT, "the mask does not broadcast to [B,heads,Sq,Sk]");
      j.ms[d] = md[d] == 1 ? 0 : stride;
      stride *= md[d];
    }
    j.mask = m->data;
  }
  sn_tensor *y;
  int64_t yd[3] = {sf ? Sq : B, sf ? B : Sq, H};
  SN_TRY(sn_kernel_output(c, 0, SINTER_FLOAT, 3, yd, &y));
  j.out = y->data;
  sn_threadpool *tp = sn_kernel_pool(c);
  int64_t n = B * heads;
  j.chunks = sn_threadpool_size(tp);
  j.per_chunk = (size_t)(Sq * Sk);
  /* the fused path where the GEMM has vector kernels and runs float32 (bf16 sessions keep the
   * whole-head GEMMs, which take bf16) */
  const sn_sgemm_impl *im = sn_cpu_use_bf16() ? NULL : sn_sgemm_impl_for(sn_cpu_isa());
  if (im && j.dh > 1 && im->small_m > 0) {
    j.im = im;
    /* 12 rows: one pass of the small-M kernel, tiles of 12 x 2 vectors (AVX-512) over both Sk and a
     * dh of 64 (16 rows went as 8 + 8, whose 8 x 1 tile at dh = 64 waits on broadcasts) */
    j.rows = im->small_m < 12 ? im->small_m : 12;
    j.kt_floats = (size_t)((Sk + im->nr - 1) / im->nr * im->nr * j.dh);
    j.kt_floats = (j.kt_floats + 15) / 16 * 16;
    j.per_chunk = (j.kt_floats + (size_t)(j.rows * Sk) + 15) / 16 * 16;
    SN_PROF_KERNEL(im->name);
  }
  j.scores = sn_kernel_scratch(c, sizeof(float) * j.per_chunk * (size_t)j.chunks);
  j.ws_bytes = (sn_sgemm_workspace() + 63) / 64 * 64;
  j.ws = sn_kernel_scratch(c, j.ws_bytes * (size_t)j.chunks);
  j.slot_busy = sn_kernel_scratch(c, sizeof(int) * (size_t)j.chunks);
  if (!j.scores || !j.ws || !j.slot_busy)
    return sn_kernel_error(c, SINTER_ERR_OUT_OF_MEMORY, "no memory for attention scores");
  memset(j.slot_busy, 0, sizeof(int) * (size_t)j.chunks);
  /* (batch, head) pairs handed out one at a time: a thread that starts late, its core taken by
   * another process, leaves its heads to the others instead of holding up the op */
  sn_parallel_for_dynamic(tp, n, 1, attn_range, &j);
  return NULL;
}

const sn_op sn_ops_attention[] = {
    {"sinter", "Attention", 1, 0, attn_infer, attn_run, NULL, NULL, 0},
    {0},
};
