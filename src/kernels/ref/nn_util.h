/* Support shared by the neural-network op families (conv, pool, norm, matmul, softmax, reduce):
 * float16/bfloat16 <-> float32 staging of kernel inputs and outputs, and sliding-window attribute
 * parsing and output-size arithmetic for Conv/ConvTranspose/pooling. */
#ifndef SN_NN_UTIL_H
#define SN_NN_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/gemm.h"
#include "ops/op.h"

/* ---- dtype staging ---------------------------------------------------------------------------- */

/* float32 <-> float16/bfloat16/float32 (and double, narrowing) element conversion. */
void sn_cvt_to_f32(sn_dtype dt, const void *src, float *dst, int64_t n);
void sn_cvt_from_f32(sn_dtype dt, const float *src, void *dst, int64_t n);

/* true for float16/bfloat16/float32: the types computed in float32 */
static inline bool sn_is_f32_family(sn_dtype dt) {
  return dt == SINTER_FLOAT || dt == SINTER_FLOAT16 || dt == SINTER_BFLOAT16;
}

/* Tensor t (float16/bfloat16/float32) as float32: its own data when float32, else a converted copy
 * in kernel scratch. */
sn_error *sn_nn_f32_in(sn_kernel_ctx *c, const sn_tensor *t, const float **out);
/* Where to write float32 results for output tensor t: its data when float32, else scratch;
 * call sn_nn_f32_out_done afterwards to convert into t. */
sn_error *sn_nn_f32_out(sn_kernel_ctx *c, sn_tensor *t, float **out);
void sn_nn_f32_out_done(sn_tensor *t, const float *buf);

/* ---- threading ----------------------------------------------------------------------------------- */

/* DynamicQuantizeLinear of n floats into y: the range [min(x, 0), max(x, 0)] onto uint8 (scale
 * range / 255, zero point rounded and clamped), the min/max pass and the quantizing pass split over the
 * kernel's pool where x is large (BERT-base's activations at batch 8: 0.8-3M floats an op); the same
 * bytes as on one thread. */
void sn_nn_dyn_quant_u8(sn_kernel_ctx *c, const float *x, int64_t n, uint8_t *y, float *scale, uint8_t *zp);

/* Workers worth using for a job of about `flops` operations (1 when small or no pool). */
int sn_nn_workers(sn_kernel_ctx *c, double flops);
/* Run fn(arg, w) for w in [0, n) on the kernel's pool (workers may run several w in turn). */
void sn_nn_run(sn_kernel_ctx *c, int n, void (*fn)(void *arg, int w), void *arg);
/* Elements [0, n) in nw parts (nw from sn_nn_workers) of whole 64-element runs, the last one shorter:
 * fn(arg, b, e) for each part [b, e), over the kernel's pool; on this thread when nw <= 1 (c may then
 * be NULL). For per-element work on flat arrays: a part never splits a cache line of bytes. */
void sn_nn_run_parts(sn_kernel_ctx *c, int nw, int64_t n, void (*fn)(void *arg, int64_t b, int64_t e), void *arg);
/* The same, the items handed out one at a time on demand (any thread may run any w: per-thread
 * scratch cannot be indexed by w); a thread late to start finds them taken. */
void sn_nn_run_dynamic(sn_kernel_ctx *c, int n, void (*fn)(void *arg, int w), void *arg);
/* Scratch slots a kernel needs for sn_nn_run_tasks with nw workers (sn_nn_workers): 1 when nw <= 1,
 * else one per pool thread. */
int sn_nn_slots(sn_kernel_ctx *c, int nw);
/* Run tasks [0, n): on this thread when nw <= 1, else on the kernel's pool, handed out one at a time
 * on demand (a thread late to start finds them taken, instead of its fixed share waiting for it).
 * fn(arg, b, e, slot) runs tasks [b, e), slot in [0, sn_nn_slots(c, nw)) a scratch index no other
 * running call holds. Fails only for want of scratch memory. */
sn_error *sn_nn_run_tasks(sn_kernel_ctx *c, int nw, int64_t n, void (*fn)(void *arg, int64_t b, int64_t e, int slot),
                          void *arg);

/* ---- 8-bit rows through a float32 row function ---------------------------------------------------- */

/* fn(arg, rows, nrows, n): nrows contiguous float32 rows of n, transformed in place */
typedef void (*sn_nn_rows_fn)(const void *arg, float *rows, int64_t nrows, int64_t n);
/* QuantizeLinear(op(DequantizeLinear(x))) for an op that works row by row (Softmax, LayerNormalization
 * on trailing axes), without the float tensors: x and y are rows x n 8-bit values (int8 where
 * x_signed / y_signed, else uint8); each block of rows is dequantized with (xs, xz) into a per-thread
 * float32 block (kernels/quant.h, the DequantizeLinear kernel), fn runs on it, and the block is
 * quantized with (ys, yz) (the QuantizeLinear kernel): the same float32 steps as the three ops, so the
 * same bytes. cost: flops an element, for sn_nn_workers. Fails only for want of scratch memory. */
sn_error *sn_nn_qrows(sn_kernel_ctx *c, const void *x, bool x_signed, int32_t xz, float xs, void *y, bool y_signed,
                      float ys, float yz, int64_t rows, int64_t n, double cost, sn_nn_rows_fn fn, const void *arg);

/* GEMM through the reference kernels, split over the pool's threads. ws: from sn_nn_gemm_workspace
 * (reuse it across calls in one kernel), or NULL to take a fresh one from scratch. */
void *sn_nn_gemm_workspace(sn_kernel_ctx *c, bool dbl);
sn_error *sn_nn_sgemm(sn_kernel_ctx *c, void *ws, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                      int64_t ldc);
sn_error *sn_nn_dgemm(sn_kernel_ctx *c, void *ws, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
                      double alpha, const double *A, int64_t lda, const double *B, int64_t ldb, double beta, double *C,
                      int64_t ldc);

/* ---- prepacked constant operands ------------------------------------------------------------------ */

/* A cache slot for one packed weight, kept in an op's params (zeroed at prepare, cleared by its
 * free hook). Filled on the first run that sees the weight as a constant initializer; concurrent
 * first runs race with a compare-and-swap and the loser frees its copy. */
typedef struct sn_pack_slot {
  sn_sgemm_packed *p;
} sn_pack_slot;

/* The packed form of input `input` (float32, a constant initializer, src its data as the GEMM
 * reads it: op(src) is rows x cols) for this slot, packing it on first use; NULL when the input is
 * not constant, the slot already holds a different operand, packing is switched off
 * (SINTER_PREPACK=0), or memory ran out: the caller then uses the plain GEMM. */
const sn_sgemm_packed *sn_nn_packed(sn_kernel_ctx *c, const sn_pack_slot *slot, int input, sn_gemm_side side,
                                    bool trans, int64_t rows, int64_t cols, const float *src, int64_t ld);
void sn_pack_slot_clear(sn_pack_slot *slot);
/* Fill the slot at session creation from float32 data the op keeps alive and unchanged as long as
 * its params (e.g. weights it dequantized at load); sn_nn_packed then finds it for that src. */
sn_error *sn_nn_prepack_data(sn_pack_slot *slot, sn_gemm_side side, bool trans, int64_t rows, int64_t cols,
                             const float *src, int64_t ld);
/* Fill the slot at session creation (an op's prepack hook): input `input` of node n must be a
 * float32 initializer whose data, at element offset `off`, is the operand (op(data) rows x cols,
 * row stride ld). With take, when n is the initializer's only reader (no other node, no graph
 * output, no subgraph in the graph) and the initializer owns its buffer, the initializer gives up
 * its data (the packed data moves into that buffer when it fits, else the buffer is freed): the
 * weight is then held once, and the packed operand has no source (src NULL) to fall back to. When
 * the weight is a view of the mapped model file, its pages leave the resident set instead. Does
 * nothing (NULL) when
 * the input is not such an initializer, packing is off (SINTER_PREPACK=0) or the ISA has no packed
 * form; the first run then packs as before. */
/* false under SINTER_PREPACK=0: no weight is packed at load or gives its buffer up. */
bool sn_nn_prepack_enabled(void);
/* n reads value v at exactly one input, no other node reads it, it is no graph output and the graph
 * has no subgraphs: a prepack hook may then let v's initializer give its buffer up. */
bool sn_nn_sole_reader(const sn_graph *g, const sn_node *n, int v);
sn_error *sn_nn_prepack(sn_graph *g, const sn_node *n, sn_pack_slot *slot, int input, int64_t off, sn_gemm_side side,
                        bool trans, int64_t rows, int64_t cols, int64_t ld, bool take);
/* Frees the packing scratch sn_nn_prepack keeps on the calling thread (after a session's prepack
 * hooks have run). */
void sn_nn_prepack_release(void);

/* C = alpha * op(A) * B + beta * C with B packed (K x N), split over the pool's threads (over N in
 * multiples of the panel width, or over M when N is narrow). ws: from sn_nn_gemm_workspace, or NULL
 * to take one from scratch when the shape needs it (M above the small-M path). */
sn_error *sn_nn_sgemm_pb(sn_kernel_ctx *c, void *ws, bool transA, int64_t M, float alpha, const float *A, int64_t lda,
                         const sn_sgemm_packed *B, float beta, float *C, int64_t ldc);
/* The same, applying the caller's epilogue epi (not NULL) to each tile of C right after computing
 * it; C's row stride must be B->cols (else an error, nothing computed). */
sn_error *sn_nn_sgemm_pb_with(sn_kernel_ctx *c, void *ws, bool transA, int64_t M, float alpha, const float *A,
                              int64_t lda, const sn_sgemm_packed *B, float beta, float *C, int64_t ldc,
                              sn_epilogue *epi);
/* The same, applying c->epi (when a fused op offers one and C is its output with ldc = B->cols)
 * to each tile of C right after computing it, and marking it done. */
sn_error *sn_nn_sgemm_pb_epi(sn_kernel_ctx *c, void *ws, bool transA, int64_t M, float alpha, const float *A,
                             int64_t lda, const sn_sgemm_packed *B, float beta, float *C, int64_t ldc);

/* ---- sliding windows --------------------------------------------------------------------------- */

enum { SN_PAD_NOTSET = 0, SN_PAD_SAME_UPPER = 1, SN_PAD_SAME_LOWER = 2, SN_PAD_VALID = 3 };

/* Window attributes as written on the node (counts are -1 when absent). */
typedef struct sn_window_attrs {
  int n_kernel, n_strides, n_dilations, n_pads;
  int64_t kernel[SN_MAX_RANK], strides[SN_MAX_RANK], dilations[SN_MAX_RANK], pads[2 * SN_MAX_RANK];
  int auto_pad;
  bool ceil_mode;
} sn_window_attrs;

/* Parse kernel_shape/strides/dilations/pads/auto_pad/ceil_mode from node n (validating values). */
sn_error *sn_window_parse(const sn_node *n, sn_window_attrs *w);

/* Resolved geometry for nd spatial dims. in[d] may be < 0 (unknown): out[d] is then -1. */
typedef struct sn_window {
  int nd;
  int64_t k[SN_MAX_RANK], stride[SN_MAX_RANK], dil[SN_MAX_RANK];
  int64_t pad_begin[SN_MAX_RANK], pad_end[SN_MAX_RANK];
  int64_t out[SN_MAX_RANK];
} sn_window;

/* Check attribute counts against nd, take kernel sizes from k (or the kernel_shape attribute when k
 * is NULL), compute pads (auto_pad) and output sizes. Pooling semantics when pool is true: ceil_mode,
 * and the last window must start inside the input or the leading padding. On error fills msg. */
bool sn_window_resolve(const sn_window_attrs *a, int nd, const int64_t *in, const int64_t *k, bool pool,
                       sn_window *w, char *msg, size_t msg_len);

/* true when spatial dim d keeps its size whatever it is (stride 1 and padding that covers the
 * window), so a symbolic input dim passes through to the output */
bool sn_window_keeps_size(const sn_window_attrs *a, const sn_window *w, int d, bool pool);

#endif
