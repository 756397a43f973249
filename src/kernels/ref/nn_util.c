/* dtype staging for float16/bfloat16 kernels and sliding-window geometry for conv and pooling. */
#include "kernels/ref/nn_util.h"
#include "kernels/gemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/quant.h"
#include "kernels/ref/gemm_ref.h"
#include "runtime/cpu.h"
#include "runtime/threadpool.h"

void sn_cvt_to_f32(sn_dtype dt, const void *src, float *dst, int64_t n) {
  switch (dt) {
    case SINTER_FLOAT: memmove(dst, src, sizeof(float) * (size_t)n); return;
    case SINTER_FLOAT16: {
      const uint16_t *s = src;
      for (int64_t i = 0; i < n; i++) dst[i] = sn_f16_to_f32(s[i]);
      return;
    }
    case SINTER_BFLOAT16: {
      const uint16_t *s = src;
      for (int64_t i = 0; i < n; i++) dst[i] = sn_bf16_to_f32(s[i]);
      return;
    }
    case SINTER_DOUBLE: {
      const double *s = src;
      for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i];
      return;
    }
    default:
      for (int64_t i = 0; i < n; i++) dst[i] = (float)sn_load_f64(dt, src, i);
      return;
  }
}

void sn_cvt_from_f32(sn_dtype dt, const float *src, void *dst, int64_t n) {
  switch (dt) {
    case SINTER_FLOAT: memmove(dst, src, sizeof(float) * (size_t)n); return;
    case SINTER_FLOAT16: {
      uint16_t *d = dst;
      for (int64_t i = 0; i < n; i++) d[i] = sn_f32_to_f16(src[i]);
      return;
    }
    case SINTER_BFLOAT16: {
      uint16_t *d = dst;
      for (int64_t i = 0; i < n; i++) d[i] = sn_f32_to_bf16(src[i]);
      return;
    }
    case SINTER_DOUBLE: {
      double *d = dst;
      for (int64_t i = 0; i < n; i++) d[i] = src[i];
      return;
    }
    default:
      for (int64_t i = 0; i < n; i++) sn_store_f64(dt, dst, i, src[i]);
      return;
  }
}

sn_error *sn_nn_f32_in(sn_kernel_ctx *c, const sn_tensor *t, const float **out) {
  if (t->dtype == SINTER_FLOAT) {
    *out = t->data;
    return NULL;
  }
  float *buf = sn_kernel_scratch(c, sizeof(float) * (size_t)(t->count ? t->count : 1));
  if (!buf) return SN_ERR_OOM();
  sn_cvt_to_f32(t->dtype, t->data, buf, t->count);
  *out = buf;
  return NULL;
}

sn_error *sn_nn_f32_out(sn_kernel_ctx *c, sn_tensor *t, float **out) {
  if (t->dtype == SINTER_FLOAT) {
    *out = t->data;
    return NULL;
  }
  float *buf = sn_kernel_scratch(c, sizeof(float) * (size_t)(t->count ? t->count : 1));
  if (!buf) return SN_ERR_OOM();
  *out = buf;
  return NULL;
}

void sn_nn_f32_out_done(sn_tensor *t, const float *buf) {
  if (t->dtype != SINTER_FLOAT) sn_cvt_from_f32(t->dtype, buf, t->data, t->count);
}

/* ---- threading ----------------------------------------------------------------------------------- */

int sn_nn_workers(sn_kernel_ctx *c, double flops) {
  sn_threadpool *tp = sn_kernel_pool(c);
  int n = tp ? sn_threadpool_size(tp) : 1;
  double per = 2e5; /* below this per worker, waking threads costs more than it saves */
  if (flops < per * 2) return 1;
  if (flops / per < n) n = (int)(flops / per);
  return n < 1 ? 1 : n;
}

typedef struct run_job {
  void (*fn)(void *arg, int w);
  void *arg;
} run_job;

static void run_range(void *p, int64_t b, int64_t e) {
  run_job *j = p;
  for (int64_t w = b; w < e; w++) j->fn(j->arg, (int)w);
}

void sn_nn_run(sn_kernel_ctx *c, int n, void (*fn)(void *arg, int w), void *arg) {
  if (n <= 1) {
    if (n == 1) fn(arg, 0);
    return;
  }
  run_job j = {fn, arg};
  sn_parallel_for(sn_kernel_pool(c), n, run_range, &j);
}

typedef struct parts_job {
  void (*fn)(void *arg, int64_t b, int64_t e);
  void *arg;
  int64_t n, part;
} parts_job;

static void run_part(void *p, int w) {
  const parts_job *j = p;
  int64_t b = (int64_t)w * j->part, e = b + j->part < j->n ? b + j->part : j->n;
  if (b < e) j->fn(j->arg, b, e);
}

void sn_nn_run_parts(sn_kernel_ctx *c, int nw, int64_t n, void (*fn)(void *arg, int64_t b, int64_t e), void *arg) {
  if (n <= 0) return;
  if (nw <= 1) {
    fn(arg, 0, n);
    return;
  }
  parts_job j = {fn, arg, n, (((n + nw - 1) / nw) + 63) & ~(int64_t)63};
  sn_nn_run(c, (int)((n + j.part - 1) / j.part), run_part, &j);
}

enum { DQ_MAX_PARTS = 64 };
typedef struct dq_job {
  const float *x;
  uint8_t *y;
  int64_t n, part;
  float mn[DQ_MAX_PARTS], mx[DQ_MAX_PARTS];
  float scale, zp;
} dq_job;

static void dq_minmax(void *arg, int w) {
  dq_job *j = arg;
  const int64_t b = w * j->part, e = b + j->part < j->n ? b + j->part : j->n;
  sn_minmax0_f32(j->x + b, e - b, &j->mn[w], &j->mx[w]);
}

static void dq_quantize(void *arg, int64_t b, int64_t e) {
  const dq_job *j = arg;
  sn_quantize_f32(j->x + b, e - b, j->scale, j->zp, false, j->y + b);
}

void sn_nn_dyn_quant_u8(sn_kernel_ctx *c, const float *x, int64_t n, uint8_t *y, float *scale, uint8_t *zp) {
  dq_job j = {x, y, n, n, {0}, {0}, 0, 0};
  int nw = c ? sn_nn_workers(c, 4.0 * (double)n) : 1; /* (a few cycles an element, each pass) */
  if (nw > DQ_MAX_PARTS) nw = DQ_MAX_PARTS;
  int parts = 1;
  if (nw > 1) {
    j.part = (((n + nw - 1) / nw) + 63) & ~(int64_t)63;
    parts = (int)((n + j.part - 1) / j.part);
  }
  if (parts > 1)
    sn_nn_run(c, parts, dq_minmax, &j);
  else
    sn_minmax0_f32(x, n, &j.mn[0], &j.mx[0]);
  float mn = 0.0f, mx = 0.0f; /* (the range always holds 0) */
  for (int k = 0; k < parts; k++) {
    if (j.mn[k] < mn) mn = j.mn[k];
    if (j.mx[k] > mx) mx = j.mx[k];
  }
  j.scale = (mx == mn ? 1.0f : (mx - mn)) / 255.0f;
  float z = 0.0f - mn / j.scale;
  j.zp = rintf(z < 0.0f ? 0.0f : (z > 255.0f ? 255.0f : z));
  sn_nn_run_parts(c, parts > 1 ? nw : 1, n, dq_quantize, &j);
  *scale = j.scale;
  *zp = (uint8_t)(int)j.zp;
}

void sn_nn_run_dynamic(sn_kernel_ctx *c, int n, void (*fn)(void *arg, int w), void *arg) {
  if (n <= 1) {
    if (n == 1) fn(arg, 0);
    return;
  }
  run_job j = {fn, arg};
  sn_parallel_for_dynamic(sn_kernel_pool(c), n, 1, run_range, &j);
}

int sn_nn_slots(sn_kernel_ctx *c, int nw) {
  sn_threadpool *tp = sn_kernel_pool(c);
  return nw > 1 && tp ? sn_threadpool_size(tp) : 1;
}

typedef struct task_job {
  void (*fn)(void *arg, int64_t b, int64_t e, int slot);
  void *arg;
  int slots;
  int *busy; /* per slot: held by a running range */
} task_job;

static void task_range(void *p, int64_t b, int64_t e) {
  task_job *j = p;
  /* a free slot: at most one range runs per pool thread at a time and there is a slot per thread */
  int s = 0;
  for (int zero = 0;; s = (s + 1) % j->slots, zero = 0)
    if (__atomic_compare_exchange_n(&j->busy[s], &zero, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) break;
  j->fn(j->arg, b, e, s);
  __atomic_store_n(&j->busy[s], 0, __ATOMIC_RELEASE);
}

sn_error *sn_nn_run_tasks(sn_kernel_ctx *c, int nw, int64_t n, void (*fn)(void *arg, int64_t b, int64_t e, int slot),
                          void *arg) {
  int slots = sn_nn_slots(c, nw);
  if (n <= 0) return NULL;
  if (slots == 1 || n == 1) {
    fn(arg, 0, n, 0);
    return NULL;
  }
  task_job j = {fn, arg, slots, sn_kernel_scratch(c, sizeof(int) * (size_t)slots)};
  if (!j.busy) return SN_ERR_OOM();
  memset(j.busy, 0, sizeof(int) * (size_t)slots);
  sn_parallel_for_dynamic(sn_kernel_pool(c), n, 1, task_range, &j);
  return NULL;
}

typedef struct qrows_job {
  const uint8_t *x;
  uint8_t *y;
  bool xs8, ys8;
  int32_t xz;
  float xs, ys, yz;
  int64_t rows, n, rb; /* rb rows a block */
  float *buf;          /* per slot: rb x n floats */
  size_t buf_floats;
  sn_nn_rows_fn fn;
  const void *arg;
} qrows_job;

static void qrows_blocks(void *p, int64_t b, int64_t e, int slot) {
  const qrows_job *j = p;
  float *buf = j->buf + (size_t)slot * j->buf_floats;
  for (int64_t k = b; k < e; k++) {
    int64_t r0 = k * j->rb, nr = j->rows - r0 < j->rb ? j->rows - r0 : j->rb, cnt = nr * j->n;
    sn_dequantize_f32(j->x + r0 * j->n, cnt, j->xs8, j->xz, j->xs, buf);
    j->fn(j->arg, buf, nr, j->n);
    sn_quantize_f32(buf, cnt, j->ys, j->yz, j->ys8, j->y + r0 * j->n);
  }
}

sn_error *sn_nn_qrows(sn_kernel_ctx *c, const void *x, bool x_signed, int32_t xz, float xs, void *y, bool y_signed,
                      float ys, float yz, int64_t rows, int64_t n, double cost, sn_nn_rows_fn fn, const void *arg) {
  if (rows <= 0 || n <= 0) return NULL;
  /* blocks of about 8 KiB of floats (in L1 between the three steps, with what else they read), whole
   * rows */
  int64_t rb = 2048 / n;
  if (rb < 1) rb = 1;
  if (rb > rows) rb = rows;
  int64_t blocks = (rows + rb - 1) / rb;
  int nw = sn_nn_workers(c, cost * (double)rows * (double)n);
  if (nw > blocks) nw = (int)blocks;
  qrows_job j = {x, y, x_signed, y_signed, xz, xs, ys, yz, rows, n, rb, NULL, (size_t)((rb * n + 15) & ~(int64_t)15),
                 fn, arg};
  j.buf = sn_kernel_scratch(c, sizeof(float) * j.buf_floats * (size_t)sn_nn_slots(c, nw));
  if (!j.buf) return SN_ERR_OOM();
  return sn_nn_run_tasks(c, nw, blocks, qrows_blocks, &j);
}

typedef struct gemm_job {
  bool dbl, ta, tb, split_n;
  int64_t M, N, K, lda, ldb, ldc, chunk;
  double alpha, beta;
  const void *A, *B;
  void *C;
  char *ws;
  size_t ws_bytes;
} gemm_job;

static void gemm_worker(void *p, int w) {
  gemm_job *j = p;
  int64_t b = (int64_t)w * j->chunk, total = j->split_n ? j->N : j->M;
  if (b >= total) return;
  int64_t e = b + j->chunk < total ? b + j->chunk : total;
  int64_t M = j->split_n ? j->M : e - b, N = j->split_n ? e - b : j->N;
  size_t es = j->dbl ? sizeof(double) : sizeof(float);
  const char *A = j->A, *B = j->B;
  char *C = j->C;
  if (j->split_n) {
    B += (size_t)(j->tb ? b * j->ldb : b) * es;
    C += (size_t)b * es;
  } else {
    A += (size_t)(j->ta ? b : b * j->lda) * es;
    C += (size_t)(b * j->ldc) * es;
  }
  void *ws = j->ws + (size_t)w * j->ws_bytes;
  if (j->dbl)
    sn_dgemm_ref(j->ta, j->tb, M, N, j->K, j->alpha, (const double *)A, j->lda, (const double *)B, j->ldb, j->beta,
                 (double *)C, j->ldc, ws);
  else
    sn_sgemm(j->ta, j->tb, M, N, j->K, (float)j->alpha, (const float *)A, j->lda, (const float *)B, j->ldb,
                 (float)j->beta, (float *)C, j->ldc, ws);
}

static size_t ws_bytes(bool dbl) {
  return ((dbl ? sn_gemm_ref_workspace(SINTER_DOUBLE) : sn_sgemm_workspace()) + 63) & ~(size_t)63;
}

void *sn_nn_gemm_workspace(sn_kernel_ctx *c, bool dbl) {
  sn_threadpool *tp = sn_kernel_pool(c);
  int n = tp ? sn_threadpool_size(tp) : 1;
  return sn_kernel_scratch(c, ws_bytes(dbl) * (size_t)(n < 1 ? 1 : n));
}

static sn_error *nn_gemm(sn_kernel_ctx *c, void *ws, bool dbl, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                         double alpha, const void *A, int64_t lda, const void *B, int64_t ldb, double beta, void *C,
                         int64_t ldc) {
  if (M <= 0 || N <= 0) return NULL;
  int nw = sn_nn_workers(c, 2.0 * (double)M * (double)N * (double)K);
  gemm_job j = {dbl, ta, tb, true, M, N, K, lda, ldb, ldc, 0, alpha, beta, A, B, C, NULL, 0};
  /* split the larger side; N in multiples of 16, M in multiples of 4 */
  j.split_n = N >= M || N >= 16 * nw;
  int64_t total = j.split_n ? N : M, align = j.split_n ? 16 : 4;
  int64_t chunk = (total + nw - 1) / nw;
  chunk = (chunk + align - 1) / align * align;
  if (chunk < 1) chunk = 1;
  nw = (int)((total + chunk - 1) / chunk);
  j.chunk = chunk;
  j.ws_bytes = ws_bytes(dbl);
  j.ws = ws ? ws : sn_kernel_scratch(c, j.ws_bytes * (size_t)nw);
  if (!j.ws) return SN_ERR_OOM();
  sn_nn_run(c, nw, gemm_worker, &j);
  return NULL;
}

sn_error *sn_nn_sgemm(sn_kernel_ctx *c, void *ws, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                      int64_t ldc) {
  return nn_gemm(c, ws, false, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

sn_error *sn_nn_dgemm(sn_kernel_ctx *c, void *ws, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
                      double alpha, const double *A, int64_t lda, const double *B, int64_t ldb, double beta, double *C,
                      int64_t ldc) {
  return nn_gemm(c, ws, true, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ---- prepacked constant operands ------------------------------------------------------------------ */

bool sn_nn_prepack_enabled(void) {
  static int on = -1;
  int v = __atomic_load_n(&on, __ATOMIC_RELAXED);
  if (v < 0) {
    const char *e = getenv("SINTER_PREPACK");
    v = !(e && !strcmp(e, "0"));
    __atomic_store_n(&on, v, __ATOMIC_RELAXED);
  }
  return v != 0;
}

static bool pack_matches(const sn_sgemm_packed *p, sn_gemm_side side, bool trans, int64_t rows, int64_t cols,
                         const float *src, int64_t ld) {
  return p->side == side && p->trans == trans && p->rows == rows && p->cols == cols && p->src == src && p->ld == ld;
}

const sn_sgemm_packed *sn_nn_packed(sn_kernel_ctx *c, const sn_pack_slot *slot, int input, sn_gemm_side side,
                                    bool trans, int64_t rows, int64_t cols, const float *src, int64_t ld) {
  if (!slot || input >= c->n_in || !c->in[input] || c->in[input]->dtype != SINTER_FLOAT || rows <= 0 || cols <= 0)
    return NULL;
  sn_sgemm_packed **at = &((sn_pack_slot *)slot)->p; /* the params' one mutable field: the cache */
  sn_sgemm_packed *p = __atomic_load_n(at, __ATOMIC_ACQUIRE);
  /* packed at session creation (sn_nn_prepack, or by the op from data of its own) or by an earlier run */
  if (p) return pack_matches(p, side, trans, rows, cols, src, ld) ? p : NULL;
  if (!sn_nn_prepack_enabled() || !sn_kernel_input_const(c, input)) return NULL;
  if (!p) {
    sn_sgemm_packed *mine = sn_sgemm_pack(side, trans, rows, cols, src, ld);
    if (!mine) return NULL;
    sn_sgemm_packed *expected = NULL;
    if (__atomic_compare_exchange_n(at, &expected, mine, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      p = mine;
    } else {
      sn_sgemm_packed_free(mine);
      p = expected;
    }
  }
  return pack_matches(p, side, trans, rows, cols, src, ld) ? p : NULL;
}

static bool has_subgraphs(const sn_graph *g) {
  for (int i = 0; i < g->n_nodes; i++)
    for (int a = 0; a < g->nodes[i].n_attrs; a++)
      if (g->nodes[i].attrs[a].type == SN_ATTR_GRAPH || g->nodes[i].attrs[a].type == SN_ATTR_GRAPHS) return true;
  return false;
}

/* n reads value v at exactly one input, nothing else in the graph reads it, and it is no output */
bool sn_nn_sole_reader(const sn_graph *g, const sn_node *n, int v) {
  if (g->values[v].is_output || has_subgraphs(g)) return false;
  int uses = 0;
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_in; k++) uses += g->nodes[i].in[k] == v;
  int mine = 0;
  for (int k = 0; k < n->n_in; k++) mine += n->in[k] == v;
  return uses == 1 && mine == 1;
}

/* the creating thread's packing scratch (grown as needed, kept until sn_nn_prepack_release) */
static _Thread_local struct {
  float *p;
  size_t bytes;
} scratch_buf;

static float *prepack_scratch(size_t bytes) {
  if (scratch_buf.bytes >= bytes) return scratch_buf.p;
  sn_aligned_free(scratch_buf.p);
  scratch_buf.p = sn_weight_alloc(bytes);
  scratch_buf.bytes = scratch_buf.p ? bytes : 0;
  return scratch_buf.p;
}

void sn_nn_prepack_release(void) {
  sn_aligned_free(scratch_buf.p);
  scratch_buf.p = NULL;
  scratch_buf.bytes = 0;
}

sn_error *sn_nn_prepack(sn_graph *g, const sn_node *n, sn_pack_slot *slot, int input, int64_t off, sn_gemm_side side,
                        bool trans, int64_t rows, int64_t cols, int64_t ld, bool take) {
  if (!slot || slot->p || input < 0 || input >= n->n_in || !sn_nn_prepack_enabled()) return NULL;
  int v = n->in[input];
  if (v < 0 || v >= g->n_values) return NULL;
  sn_value *val = &g->values[v];
  sn_tensor *t = val->data;
  if (val->role != SN_VAL_INITIALIZER || !t || !t->data || t->dtype != SINTER_FLOAT) return NULL;
  /* the operand as stored: srows x scols with row stride ld, inside the tensor */
  int64_t srows = trans ? cols : rows, scols = trans ? rows : cols;
  if (off < 0 || rows <= 0 || cols <= 0 || ld < scols || (srows - 1) > (t->count - off - scols) / ld) return NULL;
  const float *src = (const float *)t->data + off;
  /* a bf16 session's operand that only this node reads: only its bf16 copy is made, not float32
   * panels that would go unused (BERT-base: a third of the peak memory). A view of the model file
   * stays the source of the calls that remain float32 (thin ones; its pages leave the resident
   * set); a weight decoded into a buffer of its own (raw data the reader could not map in place,
   * unaligned) gives that buffer up too, and a right operand left with its bf16 copy alone runs
   * every call in bf16 (sn_sgemm_pb) */
  const bool own = side == SN_GEMM_B && off == 0 && t->owns_data && !t->file_view;
  if (take && sn_cpu_use_bf16() && (t->file_view || own) && sn_nn_sole_reader(g, n, v)) {
    sn_sgemm_packed *b = sn_sgemm_pack_source(side, trans, rows, cols, src, ld);
    if (!b) return SN_ERR_OOM();
    if (sn_sgemm_packed_prepare_bf16(b) && b->bf16) {
      slot->p = b;
      if (own) {
        b->src = NULL;
        sn_tensor_clear(t); /* (the buffer; the value keeps its type and shape) */
      } else {
        sn_drop_pages(t->data, t->nbytes);
      }
      return NULL;
    }
    sn_sgemm_packed_free(b); /* (no memory for the copy: the float32 panels as usual) */
  }
  /* the packed form replaces the weight in its own buffer: memory the process has already touched,
   * so creation faults in no new pages for it. It is packed first into a scratch buffer that serves
   * every weight of the session (a fresh buffer per weight is memory the next allocation maps and
   * the host zeroes again: BERT-base faulted in ~690 MB for a 467 MB peak, 530 MB with the scratch;
   * the host's first touch of a page, clear_page, was most of creation) */
  const bool in_place = take && !sn_cpu_use_bf16() && off == 0 && t->owns_data && t->aligned_data &&
                        sn_nn_sole_reader(g, n, v);
  const size_t need = in_place ? sn_sgemm_pack_bytes(side, rows, cols) : 0;
  if (need && need <= t->nbytes) {
    float *scratch = prepack_scratch(need);
    if (scratch) {
      sn_sgemm_packed *p = sn_sgemm_pack_into(side, trans, rows, cols, src, ld, scratch);
      if (!p) return SN_ERR_OOM();
      memcpy(t->data, scratch, need);
      p->data = t->data; /* (its panels move from the scratch, which stays ours, to the weight's buffer) */
      p->src = NULL;
      t->data = NULL;
      t->owns_data = false;
      slot->p = p;
      return NULL;
    }
  }
  SN_TRY(sn_nn_prepack_data(slot, side, trans, rows, cols, src, ld));
  sn_sgemm_packed *p = slot->p;
  if (!p) return NULL;
  /* bf16 sessions read the bf16 copy, made from the source: make it before the source can go */
  if (take && !sn_sgemm_packed_prepare_bf16(p)) take = false;
  if (take && p->data && off == 0 && t->owns_data && t->aligned_data && sn_nn_sole_reader(g, n, v)) {
    if (p->bytes <= t->nbytes) {
      /* (as above, where the scratch route was not taken: a bf16 session's weight that also kept
       * float32 panels, or no memory for the scratch) */
      memcpy(t->data, p->data, p->bytes);
      sn_aligned_free(p->data);
      p->data = t->data;
    } else {
      sn_aligned_free(t->data); /* padded panels: the packed copy stays where it is */
    }
    p->src = NULL;
    t->data = NULL;
    t->owns_data = false;
  } else if (take && p->data && t->file_view && sn_nn_sole_reader(g, n, v)) {
    /* a view of the model file: its pages leave the resident set (a read would fault them back) */
    sn_drop_pages(t->data, t->nbytes);
  }
  return NULL;
}

sn_error *sn_nn_prepack_data(sn_pack_slot *slot, sn_gemm_side side, bool trans, int64_t rows, int64_t cols,
                             const float *src, int64_t ld) {
  if (!slot || slot->p || !src || rows <= 0 || cols <= 0 || !sn_nn_prepack_enabled()) return NULL;
  slot->p = sn_sgemm_pack(side, trans, rows, cols, src, ld);
  return slot->p ? NULL : SN_ERR_OOM();
}

void sn_pack_slot_clear(sn_pack_slot *slot) {
  if (!slot) return;
  sn_sgemm_packed_free(slot->p);
  slot->p = NULL;
}

typedef struct pb_job {
  bool ta, split_n;
  int64_t M, chunk, lda, ldc;
  float alpha, beta;
  const float *A;
  const sn_sgemm_packed *B;
  float *C;
  char *ws;
  size_t ws_bytes;
  const sn_epilogue *epi; /* applied per row panel as it is finished, or NULL */
  float *pa;              /* A packed once for all workers (sn_sgemm_papb), or NULL */
  int64_t pa_rows;        /* rows per packing item */
  int64_t rgrp, rgroups;  /* on the shared packed A: rows per item (whole slivers) and items per column chunk */
} pb_job;

/* rows [m0, m1) x columns [n0, n1) of C */
static void pb_tile(const pb_job *j, int64_t m0, int64_t m1, int64_t n0, int64_t n1, void *ws) {
  if (j->pa) {
    sn_sgemm_papb(m0, m1 - m0, n0, n1, j->alpha, j->pa, j->B, j->beta, j->C + m0 * j->ldc, j->ldc, ws);
    return;
  }
  const float *A = j->A + (j->ta ? m0 : m0 * j->lda);
  sn_sgemm_pb(j->ta, m1 - m0, n0, n1, j->alpha, A, j->lda, j->B, j->beta, j->C + m0 * j->ldc, j->ldc, ws);
}

/* packing item w: rows [w * pa_rows, ...) of A into their slivers of pa */
static void pa_pack_worker(void *p, int w) {
  const pb_job *j = p;
  int64_t r0 = (int64_t)w * j->pa_rows, r1 = r0 + j->pa_rows < j->M ? r0 + j->pa_rows : j->M;
  if (r0 >= r1) return;
  const float *A = j->A + (j->ta ? r0 : r0 * j->lda);
  sn_sgemm_pack_a_for(j->B, j->ta, r1 - r0, A, j->lda, j->pa + r0 * j->B->rows);
}

/* Rows per panel when an epilogue follows: the panel (rows x the worker's columns) is still in L2
 * when the epilogue reads it back; a multiple of both micro-kernels' row counts (14 and 6). */
#define PB_EPI_ROWS 84

/* a worker's block of C, the epilogue (if any) applied per panel while the panel is in L2. Where the
 * block's share of B is larger than half of L2 (so each pass over it streams it from L3 or memory):
 * all the block's rows and as many columns as a quarter of L2 holds, when that is at least 8 panels
 * of B wide, so B streams once (BERT's 128-row products read their 2.4 to 9.4 MB weights twice in
 * panels of 84 + 44 rows; 128 x 3072 x 768 with bias and GELU ran at 152 GFLOP/s in BERT-base against
 * 189 for the bare product). Else PB_EPI_ROWS rows at a time over all its columns: B rereads from L2
 * cost less than packing A once per column panel (an LSTM's input projection, 400 x 1024 x 256, ran
 * 2-4% slower in column panels), and a long M (ConvNeXt's 3136 rows) would make the panels thin. */
static void pb_block(const pb_job *j, int64_t m0, int64_t m1, int64_t n0, int64_t n1, void *ws) {
  if (!j->epi) {
    pb_tile(j, m0, m1, n0, n1, ws);
    return;
  }
  const int64_t al = sn_sgemm_pb_align(j->B);
  const size_t l2 = sn_cpu_cache_sizes().l2;
  const size_t bshare = (size_t)j->B->rows * (size_t)(n1 - n0) * sizeof(float); /* (in float32) */
  int64_t w = (int64_t)(l2 / 4 / sizeof(float)) / (m1 - m0) / al * al;
  if (m1 - m0 > PB_EPI_ROWS && w >= 8 * al && bshare > l2 / 2) {
    for (int64_t c = n0; c < n1; c += w) {
      int64_t c1 = c + w < n1 ? c + w : n1;
      pb_tile(j, m0, m1, c, c1, ws);
      j->epi->fn(j->epi->arg, m0, m1, c, c1);
    }
    return;
  }
  for (int64_t r = m0; r < m1; r += PB_EPI_ROWS) {
    int64_t r1 = r + PB_EPI_ROWS < m1 ? r + PB_EPI_ROWS : m1;
    pb_tile(j, r, r1, n0, n1, ws);
    j->epi->fn(j->epi->arg, r, r1, n0, n1);
  }
}

static void pb_worker(void *p, int w) {
  const pb_job *j = p;
  void *ws = j->ws ? j->ws + (size_t)w * j->ws_bytes : NULL;
  int64_t b = (int64_t)w * j->chunk, total = j->split_n ? j->B->cols : j->M;
  if (b >= total) return;
  int64_t e = b + j->chunk < total ? b + j->chunk : total;
  if (j->split_n)
    pb_block(j, 0, j->M, b, e, ws);
  else
    pb_block(j, b, e, 0, j->B->cols, ws);
}

/* column panel w of a product on a shared packed A (handed out on demand: any thread may run any w;
 * the workspace is not used by sn_sgemm_papb beyond its address, so all share the first) */
static void pb_dyn_worker(void *p, int w) {
  const pb_job *j = p;
  int64_t cw = w / j->rgroups, g = w % j->rgroups;
  int64_t n0 = cw * j->chunk, n1 = n0 + j->chunk < j->B->cols ? n0 + j->chunk : j->B->cols;
  int64_t m0 = g * j->rgrp, m1 = m0 + j->rgrp < j->M ? m0 + j->rgrp : j->M;
  if (n0 < n1 && m0 < m1) pb_block(j, m0, m1, n0, n1, j->ws);
}

static sn_error *sgemm_pb(sn_kernel_ctx *c, void *ws, bool transA, int64_t M, float alpha, const float *A,
                         int64_t lda, const sn_sgemm_packed *B, float beta, float *C, int64_t ldc,
                         const sn_epilogue *epi) {
  int64_t N = B->cols, K = B->rows;
  if (M <= 0 || N <= 0) return NULL;
  double flops = 2.0 * (double)M * (double)N * (double)K;
  int nw = sn_nn_workers(c, flops);
  /* the small-M path too splits from 2e5 FLOP per worker: the pool's workers spin between the
   * steps of a run, so waking one costs a few microseconds, and each worker then streams only its
   * share of B (the LSTM's 1 MB recurrent weights fit the two cores' L2 caches, not one) */
  pb_job j = {transA, true, M, 0, lda, ldc, alpha, beta, A, B, C, NULL, 0, epi, NULL, 0, M, 1};
  int64_t align = sn_sgemm_pb_align(B);
  /* Splitting N, every worker packs all of A (M x K) for its share of the product (or all share one
   * packed A, read from both cores' caches); splitting M, every worker reads all of the packed B
   * (K x N). So M when it is long enough for every worker to get whole panels of PB_EPI_ROWS rows
   * and B small enough for each core's L2, whichever side is longer (ConvNeXt's 3136 x 96 x 384
   * GEMMs: 4% faster on 2 threads; an LSTM's input projection, 400 x 1024 x 256 with bias, 12% less
   * time than by columns, the 2-layer LSTM at batch 8 2.80-2.87 -> 2.60-2.72 ms); N when M is short,
   * B is large (read from memory once per run: split, each worker streams half), or too narrow to
   * split M instead. */
  j.split_n = N < align * nw                  ? false
              : M < (int64_t)nw * PB_EPI_ROWS ? true
                                              : B->bytes > sn_cpu_cache_sizes().l2 / 2;
  int64_t total = j.split_n ? N : M, al = j.split_n ? align : 42; /* 42: whole 14- and 6-row tiles */
  int64_t chunk = (total + nw - 1) / nw;
  chunk = (chunk + al - 1) / al * al;
  if (chunk < 1) chunk = 1;
  nw = (int)((total + chunk - 1) / chunk);
  j.chunk = chunk;
  int64_t rows = j.split_n ? M : chunk;
  /* above the small-M path (or when the pack cannot serve this thread's ISA, or bf16 may run) the
   * GEMM needs a workspace */
  const sn_sgemm_impl *im = sn_sgemm_impl_for(sn_cpu_isa());
  if (!im || rows > im->small_m || !B->data || B->isa != im->isa || sn_cpu_use_bf16()) {
    j.ws_bytes = ws_bytes(false);
    j.ws = ws ? ws : sn_kernel_scratch(c, j.ws_bytes * (size_t)nw);
    if (!j.ws) return SN_ERR_OOM();
    /* Split by columns, every worker would pack all of A for its share: pack A once, its slivers
     * shared out over the workers, then hand out column panels on demand (a worker that starts
     * late takes fewer; no panel repacks anything). BERT-base at 2 threads: its 128-row products.
     * The packed A lives in the workers' GEMM workspace, which a product of two packed operands
     * does not use, so a kernel that runs many products (an RNN's steps) takes no more scratch. */
    size_t paf = j.split_n && nw > 1 && alpha != 0 ? sn_sgemm_pa_floats(B, M) : 0;
    if (paf && sizeof(float) * paf <= j.ws_bytes * (size_t)nw) {
      j.pa = (float *)j.ws;
      /* the packing too in items handed out on demand (up to 4 a worker): a worker late to start
       * (its core taken by another process) leaves its share to the others instead of holding up
       * the product */
      int64_t mr = sn_sgemm_pa_rows_align(B), slivers = (M + mr - 1) / mr;
      int np = slivers < (int64_t)nw * 4 ? (int)slivers : nw * 4;
      j.pa_rows = (slivers + np - 1) / np * mr;
      np = (int)((M + j.pa_rows - 1) / j.pa_rows);
      sn_nn_run_dynamic(c, np, pa_pack_worker, &j);
      int64_t panels = (N + align - 1) / align, per = panels / ((int64_t)nw * 4);
      if (per < 1) per = 1;
      j.chunk = per * align;
      int64_t citems = (N + j.chunk - 1) / j.chunk;
      /* column chunks that do not divide among the workers (MobileNetV2's 7x7 projections: 5 or 10
       * panels, 3 : 2 between two threads): the rows cut into groups of whole slivers too */
      j.rgroups = 1, j.rgrp = M;
      if (citems % nw && slivers >= nw) {
        j.rgrp = (slivers + nw - 1) / nw * mr;
        j.rgroups = (M + j.rgrp - 1) / j.rgrp;
      }
      sn_nn_run_dynamic(c, (int)(citems * j.rgroups), pb_dyn_worker, &j);
      return NULL;
    }
    j.pa = NULL;
    sn_nn_run(c, nw, pb_worker, &j);
    return NULL;
  }
  /* the small-M path needs no workspace: up to 4 column panels per worker, handed out on demand, so
   * a worker that is late (its core busy with another process) costs a wake-up, not its share of
   * the product done after the caller's. Not when a worker's share of B fits half its L2 (an RNN's
   * recurrent weights, read every step): the static split keeps each share in one core's cache. */
  if (nw > 1 && j.split_n && B->bytes / (size_t)nw > sn_cpu_cache_sizes().l2 / 2) {
    int64_t items = (int64_t)nw * 4, ch = ((N + items - 1) / items + align - 1) / align * align;
    if (ch < chunk) {
      j.chunk = ch;
      nw = (int)((N + ch - 1) / ch);
    }
    sn_nn_run_dynamic(c, nw, pb_worker, &j);
    return NULL;
  }
  sn_nn_run(c, nw, pb_worker, &j);
  return NULL;
}

sn_error *sn_nn_sgemm_pb(sn_kernel_ctx *c, void *ws, bool transA, int64_t M, float alpha, const float *A, int64_t lda,
                         const sn_sgemm_packed *B, float beta, float *C, int64_t ldc) {
  return sgemm_pb(c, ws, transA, M, alpha, A, lda, B, beta, C, ldc, NULL);
}

sn_error *sn_nn_sgemm_pb_with(sn_kernel_ctx *c, void *ws, bool transA, int64_t M, float alpha, const float *A,
                              int64_t lda, const sn_sgemm_packed *B, float beta, float *C, int64_t ldc,
                              sn_epilogue *epi) {
  if (epi && ldc != B->cols) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "an epilogue needs ldc = the packed columns");
  return sgemm_pb(c, ws, transA, M, alpha, A, lda, B, beta, C, ldc, epi);
}

sn_error *sn_nn_sgemm_pb_epi(sn_kernel_ctx *c, void *ws, bool transA, int64_t M, float alpha, const float *A,
                             int64_t lda, const sn_sgemm_packed *B, float beta, float *C, int64_t ldc) {
  sn_epilogue *epi = c->epi && c->epi->fn && ldc == B->cols ? c->epi : NULL;
  SN_TRY(sgemm_pb(c, ws, transA, M, alpha, A, lda, B, beta, C, ldc, epi));
  if (epi && M > 0 && B->cols > 0) epi->done = true;
  return NULL;
}

/* ---- windows ------------------------------------------------------------------------------------ */

static sn_error *ints_attr(const sn_node *n, const char *name, int max, bool positive, int *count, int64_t *dst) {
  const int64_t *v;
  int k = sn_attr_ints(n, name, &v);
  *count = k;
  if (k < 0) return NULL;
  char buf[160];
  if (k > max)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: attribute %s has %d values; at most %d are supported",
                     sn_node_desc(n, buf, sizeof buf), name, k, max);
  for (int i = 0; i < k; i++) {
    if (positive ? v[i] < 1 : v[i] < 0)
      return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: attribute %s[%d] = %lld must be %s",
                       sn_node_desc(n, buf, sizeof buf), name, i, (long long)v[i], positive ? "positive" : ">= 0");
    if (v[i] > INT32_MAX) /* keeps window arithmetic far from int64 overflow */
      return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: attribute %s[%d] = %lld is too large",
                       sn_node_desc(n, buf, sizeof buf), name, i, (long long)v[i]);
    dst[i] = v[i];
  }
  return NULL;
}

sn_error *sn_window_parse(const sn_node *n, sn_window_attrs *w) {
  memset(w, 0, sizeof *w);
  SN_TRY(ints_attr(n, "kernel_shape", SN_MAX_RANK, true, &w->n_kernel, w->kernel));
  SN_TRY(ints_attr(n, "strides", SN_MAX_RANK, true, &w->n_strides, w->strides));
  SN_TRY(ints_attr(n, "dilations", SN_MAX_RANK, true, &w->n_dilations, w->dilations));
  SN_TRY(ints_attr(n, "pads", 2 * SN_MAX_RANK, false, &w->n_pads, w->pads));
  const char *ap = sn_attr_str(n, "auto_pad", "NOTSET");
  char buf[160];
  if (!strcmp(ap, "NOTSET") || !*ap)
    w->auto_pad = SN_PAD_NOTSET;
  else if (!strcmp(ap, "SAME_UPPER"))
    w->auto_pad = SN_PAD_SAME_UPPER;
  else if (!strcmp(ap, "SAME_LOWER"))
    w->auto_pad = SN_PAD_SAME_LOWER;
  else if (!strcmp(ap, "VALID"))
    w->auto_pad = SN_PAD_VALID;
  else
    return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: unknown auto_pad '%s' (expected NOTSET, SAME_UPPER, SAME_LOWER or VALID)",
                     sn_node_desc(n, buf, sizeof buf), ap);
  int64_t cm = sn_attr_int(n, "ceil_mode", 0);
  w->ceil_mode = cm != 0;
  if (w->n_pads >= 0 && (w->n_pads & 1))
    return sn_errorf(SINTER_ERR_INVALID_GRAPH, "%s: pads has %d values; expected 2 per spatial dim",
                     sn_node_desc(n, buf, sizeof buf), w->n_pads);
  return NULL;
}

static int64_t div_floor(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static int64_t div_ceil(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

bool sn_window_resolve(const sn_window_attrs *a, int nd, const int64_t *in, const int64_t *k, bool pool,
                       sn_window *w, char *msg, size_t msg_len) {
  memset(w, 0, sizeof *w);
  w->nd = nd;
  if (nd < 1 || nd > SN_MAX_RANK) {
    snprintf(msg, msg_len, "%d spatial dims (expected 1 to %d)", nd, SN_MAX_RANK);
    return false;
  }
  if (!k && a->n_kernel < 0) {
    snprintf(msg, msg_len, "attribute kernel_shape is required");
    return false;
  }
  if (a->n_kernel >= 0 && a->n_kernel != nd) {
    snprintf(msg, msg_len, "kernel_shape has %d values for %d spatial dims", a->n_kernel, nd);
    return false;
  }
  if (a->n_strides >= 0 && a->n_strides != nd) {
    snprintf(msg, msg_len, "strides has %d values for %d spatial dims", a->n_strides, nd);
    return false;
  }
  if (a->n_dilations >= 0 && a->n_dilations != nd) {
    snprintf(msg, msg_len, "dilations has %d values for %d spatial dims", a->n_dilations, nd);
    return false;
  }
  if (a->n_pads >= 0 && a->n_pads != 2 * nd) {
    snprintf(msg, msg_len, "pads has %d values for %d spatial dims (expected %d)", a->n_pads, nd, 2 * nd);
    return false;
  }
  for (int d = 0; d < nd; d++) {
    w->k[d] = k ? k[d] : a->kernel[d];
    if (k && a->n_kernel >= 0 && a->kernel[d] != k[d] && k[d] >= 0) {
      snprintf(msg, msg_len, "kernel_shape[%d] = %lld does not match the weight's spatial dim %lld", d,
               (long long)a->kernel[d], (long long)k[d]);
      return false;
    }
    w->stride[d] = a->n_strides > 0 ? a->strides[d] : 1;
    w->dil[d] = a->n_dilations > 0 ? a->dilations[d] : 1;
    w->pad_begin[d] = a->n_pads > 0 ? a->pads[d] : 0;
    w->pad_end[d] = a->n_pads > 0 ? a->pads[nd + d] : 0;
    if (w->k[d] < 0 || in[d] < 0) {
      w->out[d] = -1;
      continue;
    }
    int64_t ek = (w->k[d] - 1) * w->dil[d] + 1, s = w->stride[d];
    switch (a->auto_pad) {
      case SN_PAD_SAME_UPPER:
      case SN_PAD_SAME_LOWER: {
        int64_t o = div_ceil(in[d], s);
        if (pool) {
          /* pooling keeps ONNX Runtime's legacy rule: the padding ignores dilation and may be
           * negative; the output size follows from it */
          int64_t need = (o - 1) * s + w->k[d] - in[d];
          w->pad_begin[d] = a->auto_pad == SN_PAD_SAME_UPPER ? need / 2 : (need + 1) / 2;
          w->pad_end[d] = need - w->pad_begin[d];
          int64_t span = in[d] + need - ek;
          w->out[d] = span >= 0 ? span / s + 1 : 0;
          if (w->out[d] < 1) {
            snprintf(msg, msg_len, "window of extent %lld is larger than the padded input along spatial dim %d",
                     (long long)ek, d);
            return false;
          }
          break;
        }
        int64_t total = (o - 1) * s + ek - in[d];
        if (total < 0) total = 0;
        if (a->auto_pad == SN_PAD_SAME_UPPER) {
          w->pad_begin[d] = total / 2;
          w->pad_end[d] = total - total / 2;
        } else {
          w->pad_end[d] = total / 2;
          w->pad_begin[d] = total - total / 2;
        }
        w->out[d] = o;
        break;
      }
      case SN_PAD_VALID:
        w->pad_begin[d] = w->pad_end[d] = 0;
        /* fallthrough */
      default: {
        int64_t span = in[d] + w->pad_begin[d] + w->pad_end[d] - ek;
        if (span < 0) {
          snprintf(msg, msg_len,
                   "window of extent %lld (kernel %lld, dilation %lld) is larger than the padded input %lld along "
                   "spatial dim %d",
                   (long long)ek, (long long)w->k[d], (long long)w->dil[d],
                   (long long)(in[d] + w->pad_begin[d] + w->pad_end[d]), d);
          return false;
        }
        int64_t o;
        if (pool && a->ceil_mode) {
          o = div_ceil(span, s) + 1;
          /* the last window must start inside the input or the leading padding */
          if ((o - 1) * s >= in[d] + w->pad_begin[d]) o--;
        } else {
          o = div_floor(span, s) + 1;
        }
        w->out[d] = o;
        break;
      }
    }
  }
  return true;
}

bool sn_window_keeps_size(const sn_window_attrs *a, const sn_window *w, int d, bool pool) {
  if (w->stride[d] != 1 || w->k[d] < 1) return false;
  int64_t ek = (w->k[d] - 1) * w->dil[d] + 1;
  /* pooling's legacy SAME padding ignores dilation, so only undilated windows keep the size */
  if (a->auto_pad == SN_PAD_SAME_UPPER || a->auto_pad == SN_PAD_SAME_LOWER) return !pool || ek == w->k[d];
  if (a->auto_pad == SN_PAD_VALID) return ek == 1;
  return w->pad_begin[d] + w->pad_end[d] == ek - 1;
}
