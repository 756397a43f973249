/* Fast float32 GEMM: picks the best micro-kernel (AVX-512, AVX2+FMA, portable reference) from
 * sn_cpu_isa(); same contract as sn_sgemm_ref (see kernels/ref/gemm_ref.h).
 *
 * Constant operands (weights) can be packed once into the panel layout of the micro-kernel
 * (sn_sgemm_pack) and then used by sn_sgemm_pb / sn_sgemm_pa without repacking on every call. A packed
 * operand records the ISA it was packed for; when the ISA the calling thread may use differs (a
 * session's ISA cap, SINTER_ISA), the calls fall back to the unpacked source, which must therefore
 * stay alive and unchanged as long as the packed object. */
#ifndef SN_GEMM_H
#define SN_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of workspace sn_sgemm (and sn_sgemm_pb / sn_sgemm_pa) need (a constant covering every
 * implementation; 64-byte aligned memory expected). */
size_t sn_sgemm_workspace(void);

/* C = alpha * op(A) * op(B) + beta * C, row-major; when beta == 0, C is not read. ws: workspace of
 * sn_sgemm_workspace() bytes, or NULL to allocate one per call. */
void sn_sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws);

/* Name of the micro-kernel sn_sgemm uses, e.g. "f32_gemm_14x32_avx512" (for the profiler). */
const char *sn_sgemm_kernel_name(void);

/* ---- prepacked operands ---------------------------------------------------------------------------- */

typedef enum sn_gemm_side { SN_GEMM_A = 0, SN_GEMM_B = 1 } sn_gemm_side;

typedef struct sn_sgemm_packed {
  int isa;           /* sn_isa it was packed for (SN_ISA_SCALAR: not packed, the source is used) */
  sn_gemm_side side; /* left (A, rows x K) or right (B, K x cols) operand */
  int panel;         /* MR (side A) or NR (side B) of the micro-kernel */
  bool trans;        /* the source is stored transposed */
  int64_t rows, cols; /* op(source): M x K for side A, K x N for side B */
  const float *src;  /* the source (kept for the fallback) and its row stride */
  int64_t ld;
  float *data;       /* full-K slivers (see kernels/x86/sgemm_blocked.h); NULL when not packed */
  size_t bytes;      /* of data */
  /* --precision bf16: a second copy in the bf16 kernel's layout (sn_bf16_pack), made by the first
   * sn_sgemm_pb / sn_sgemm_pa call that runs in bf16 (sn_cpu_use_bf16(); for sn_sgemm_pb any M and
   * at least 16 columns, for sn_sgemm_pa M and N >= 16) and used by every later one; the float32
   * panels above still serve the calls that stay float32. NULL until then. */
  void *bf16;
  size_t bf16_bytes;
} sn_sgemm_packed;

/* Pack op(src) (rows x cols; src is stored cols x rows with row stride ld when trans) for the
 * micro-kernel of the ISA this thread may use now. NULL on OOM. */
sn_sgemm_packed *sn_sgemm_pack(sn_gemm_side side, bool trans, int64_t rows, int64_t cols, const float *src, int64_t ld);
/* Bytes of the packed form sn_sgemm_pack would make now (0: this ISA has none, or no elements). */
size_t sn_sgemm_pack_bytes(sn_gemm_side side, int64_t rows, int64_t cols);
/* sn_sgemm_pack into dst (sn_sgemm_pack_bytes of 64-byte aligned memory, not overlapping src), which
 * the result then owns (sn_sgemm_packed_free frees it); dst NULL: allocated. */
sn_sgemm_packed *sn_sgemm_pack_into(sn_gemm_side side, bool trans, int64_t rows, int64_t cols, const float *src,
                                    int64_t ld, float *dst);
void sn_sgemm_packed_free(sn_sgemm_packed *p);
/* Pack a right operand B (K x nblk * bw) stored as nblk column blocks, block b a K x bw row-major matrix at
 * src + b * K * bw (a blocked convolution weight), for the micro-kernel of the ISA this thread may use
 * now, in one pass. The result has no source (src NULL: no fallback to another ISA). NULL on OOM or
 * when this ISA has no packed form. */
sn_sgemm_packed *sn_sgemm_pack_b_blocks(int64_t K, int64_t nblk, int64_t bw, const float *src);
/* The operand without float32 panels (the source serves the float32 calls): for a bf16 session, whose
 * bf16 copy sn_sgemm_packed_prepare_bf16 then makes. NULL on OOM. */
sn_sgemm_packed *sn_sgemm_pack_source(sn_gemm_side side, bool trans, int64_t rows, int64_t cols, const float *src,
                                      int64_t ld);
/* Under --precision bf16 (sn_cpu_use_bf16() for this thread): make p's bf16 copy now, from its
 * source, so the source may go (sn_nn_prepack); true when there is one or bf16 is not in use. */
bool sn_sgemm_packed_prepare_bf16(const sn_sgemm_packed *p);
/* Bytes of packed operand data alive in this process (weights packed by sessions' kernels). */
uint64_t sn_sgemm_packed_live_bytes(void);
/* Column alignment for splitting sn_sgemm_pb over N (the packed panel width; 16 when not packed). */
int64_t sn_sgemm_pb_align(const sn_sgemm_packed *B);

/* C[:, n0:n1] = alpha * op(A) * B[:, n0:n1] + beta * C[:, n0:n1] for a packed right operand B
 * (K x N); C and A as in sn_sgemm (C points at column 0); n0 a multiple of sn_sgemm_pb_align(B).
 * M <= the implementation's small_m (16 on AVX-512, 12 on AVX2) takes the small-M path (A read in place, no
 * packing at all; kernels/x86/sgemm_small.h). */
void sn_sgemm_pb(bool transA, int64_t M, int64_t n0, int64_t n1, float alpha, const float *A, int64_t lda,
                 const sn_sgemm_packed *B, float beta, float *C, int64_t ldc, void *ws);
/* C = alpha * A * op(B) + beta * C for a packed left operand A (M x K); B is K x N (N x K when
 * transB). */
/* A packed once for several sn_sgemm_papb calls over column ranges of one packed B (the threads of
 * one product share it, instead of each packing all of A): floats it takes (0: B cannot be used so
 * on this thread, or --precision bf16 runs; use sn_sgemm_pb), the packing, and the product of rows
 * [m0, m0 + M) of A (m0 a multiple of sn_sgemm_pa_rows_align(B)) with columns [n0, n1) of B. */
size_t sn_sgemm_pa_floats(const sn_sgemm_packed *B, int64_t M);
int64_t sn_sgemm_pa_rows_align(const sn_sgemm_packed *B);
void sn_sgemm_pack_a_for(const sn_sgemm_packed *B, bool transA, int64_t M, const float *A, int64_t lda, float *pa);
void sn_sgemm_papb(int64_t m0, int64_t M, int64_t n0, int64_t n1, float alpha, const float *pa,
                   const sn_sgemm_packed *B, float beta, float *C, int64_t ldc, void *ws);
void sn_sgemm_pa(const sn_sgemm_packed *A, bool transB, int64_t N, float alpha, const float *B, int64_t ldb,
                 float beta, float *C, int64_t ldc, void *ws);
/* C = alpha * A * B + beta * C with A packed (sn_sgemm_pack, side A, M x K) and B, K x N, already in
 * full-K slivers of sn_sgemm_pa_b_panel(A) columns (k-major inside a sliver, columns past N zero),
 * written so by the caller (convolution's im2col): no packing at all. sn_sgemm_pa_b_panel is 0 when
 * A cannot be used so on this thread (another ISA, --precision bf16): use sn_sgemm_pa. */
int64_t sn_sgemm_pa_b_panel(const sn_sgemm_packed *A);
void sn_sgemm_pa_pb(const sn_sgemm_packed *A, int64_t N, float alpha, const float *pb, float beta, float *C,
                    int64_t ldc, void *ws);

/* ---- per-ISA implementations ------------------------------------------------------------------------ */

typedef struct sn_sgemm_impl {
  const char *name;
  int isa, mr, nr, small_m;
  void (*gemm)(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws);
  /* op(A) (M x K) / op(B) (K x N) into full-K slivers; dst holds ceil(M / mr) * mr * K floats
   * (ceil(N / nr) * nr * K) */
  void (*pack_a)(bool transA, int64_t M, int64_t K, const float *A, int64_t lda, float *dst);
  void (*pack_b)(bool transB, int64_t K, int64_t N, const float *B, int64_t ldb, float *dst);
  void (*gemm_pb)(bool transA, int64_t M, int64_t N, int64_t K, int64_t n0, int64_t n1, float alpha, const float *A,
                  int64_t lda, const float *pb, float beta, float *C, int64_t ldc, void *ws);
  void (*gemm_pa)(int64_t M, int64_t N, int64_t K, float alpha, const float *pa, bool transB, const float *B,
                  int64_t ldb, float beta, float *C, int64_t ldc, void *ws);
  size_t (*workspace)(void);
  /* C[:, n0:n1] = alpha * PA * PB[:, n0:n1] + beta * C[:, n0:n1], both operands in full-K slivers
   * (pack_a, pack_b); ws as for gemm_pb */
  void (*gemm_papb)(int64_t M, int64_t N, int64_t K, int64_t n0, int64_t n1, float alpha, const float *pa,
                    const float *pb, float beta, float *C, int64_t ldc, void *ws);
} sn_sgemm_impl;

extern const sn_sgemm_impl sn_sgemm_avx512_impl, sn_sgemm_avx2_impl;
/* The implementation for an ISA level (NULL for scalar: the reference). */
const sn_sgemm_impl *sn_sgemm_impl_for(int isa);

/* Per-ISA entry points, same contract as sn_sgemm (call only when sn_cpu_isa() allows the ISA).
 * Their workspace needs are at most sn_sgemm_workspace(). */
void sn_sgemm_avx512(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws);
size_t sn_sgemm_avx512_workspace(void);
extern const char sn_sgemm_avx512_name[];
void sn_sgemm_avx2(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws);
size_t sn_sgemm_avx2_workspace(void);
extern const char sn_sgemm_avx2_name[];

/* float32 GEMM in bfloat16 (AVX512-BF16; `--precision bf16`): operands rounded to bf16, float32
 * sums. sn_sgemm takes it when sn_cpu_use_bf16() says so for the calling thread. Its workspace
 * need is at most sn_sgemm_workspace() (with ws NULL it allocates one per call). */
void sn_sgemm_avx512bf16(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                         int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws);
extern const char sn_sgemm_avx512bf16_name[];
/* Its inner block on AMX-BF16 tiles (x86/sgemm_amx.c; sn_cpu_has_amx_bf16()): C[0:mc, 0:nb] = (first:
 * alpha * sums + beta * C, C not read when beta is 0) or += alpha * sums of the bf16 A block (mc rows
 * `as` entries apart, 2 kq entries each) times the packed B block (panels of 16 columns `pstride` lanes
 * apart, kq pair lanes each). */
#define SN_BF16_AMX_MIN_ROWS 8 /* blocks of fewer rows take the vector block (a tile of few rows costs a whole one) */
void sn_bf16_block_amx(const uint16_t *A, int64_t as, int64_t mc, const uint32_t *B, int64_t pstride, int64_t nb,
                       int64_t kq, float *C, int64_t ldc, float alpha, float beta, bool first);
size_t sn_sgemm_avx512bf16_workspace(void);
/* Prepacked bf16 operands: depth K padded to even (sn_bf16_packed_depth); side A (M x K) as M rows
 * of that many bf16, side B (K x N) as panels of 16 columns holding k pairs in each 32-bit lane
 * (64-byte aligned dst). */
int64_t sn_bf16_packed_depth(int64_t K);
size_t sn_bf16_packed_bytes(bool side_b, int64_t rows, int64_t cols);
void sn_bf16_pack(bool side_b, bool trans, int64_t rows, int64_t cols, const float *src, int64_t ld, void *dst);
/* sn_sgemm with op(B) (K x N) from pb = sn_bf16_pack'ed data at its first column (a multiple of 16)
 * / with A (M x K) from pa; the float32 sources (Bsrc / Asrc) serve only when there is no memory
 * for the workspace. */
void sn_sgemm_avx512bf16_pb(bool transA, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                            const float *Bsrc, int64_t ldb, bool transB, const void *pb, float beta, float *C,
                            int64_t ldc, void *ws);
void sn_sgemm_avx512bf16_pa(int64_t M, int64_t N, int64_t K, float alpha, const void *pa, const float *Asrc,
                            int64_t lda, bool transA, bool transB, const float *B, int64_t ldb, float beta, float *C,
                            int64_t ldc, void *ws);

#endif
