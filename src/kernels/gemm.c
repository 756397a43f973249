/* Run-time dispatch of the float32 GEMM to the best implementation the CPU (and SINTER_ISA) allow. */
#include "kernels/gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/ref/gemm_ref.h"
#include "runtime/cpu.h"
#include "runtime/prof.h"

typedef void (*sn_sgemm_fn)(bool, bool, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,
                            int64_t, float, float *, int64_t, void *);

/* Chosen per call from sn_cpu_isa(), which is read once from the CPU but honours the cap of the
 * calling thread (a session's ISA option) and SINTER_ISA; the check is a thread-local load. */
/* the bf16 GEMM's name: its blocks run on AMX tiles where the CPU has AMX-BF16 (sgemm_amx.c) */
static const char *bf16_name(void) { return sn_cpu_has_amx_bf16() ? "bf16_gemm_32x32_amx" : sn_sgemm_avx512bf16_name; }

static sn_sgemm_fn pick(const char **name, bool bf16_ok) {
  if (bf16_ok && sn_cpu_use_bf16()) { /* the session's precision option (bf16) on a CPU with AVX512-BF16 */
    *name = bf16_name();
    return sn_sgemm_avx512bf16;
  }
  sn_isa isa = sn_cpu_isa();
  if (isa >= SN_ISA_AVX512) {
    *name = sn_sgemm_avx512_name;
    return sn_sgemm_avx512;
  }
  if (isa >= SN_ISA_AVX2) {
    *name = sn_sgemm_avx2_name;
    return sn_sgemm_avx2;
  }
  *name = "f32_gemm_4x16_ref";
  return sn_sgemm_ref;
}

size_t sn_sgemm_workspace(void) {
  size_t w = sn_gemm_ref_workspace(SINTER_FLOAT);
  if (sn_sgemm_avx512_workspace() > w) w = sn_sgemm_avx512_workspace();
  if (sn_sgemm_avx2_workspace() > w) w = sn_sgemm_avx2_workspace();
  if (sn_sgemm_avx512bf16_workspace() > w) w = sn_sgemm_avx512bf16_workspace();
  return w;
}

void sn_sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws) {
  const char *name;
  /* bf16 converts both operands while packing, every call: for a thin product (a batch-1 MLP or
   * RNN step) that costs more than it saves, so those stay float32 */
  sn_sgemm_fn fn = pick(&name, M >= 16 && N >= 16);
  SN_PROF_SGEMM(name, M, !transB && N > 1); /* (the profiler's record of what ran) */
  fn(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

const char *sn_sgemm_kernel_name(void) {
  const char *name;
  pick(&name, true);
  return name;
}

/* ---- prepacked operands --------------------------------------------------------------------------- */

static uint64_t live_bytes;

uint64_t sn_sgemm_packed_live_bytes(void) { return __atomic_load_n(&live_bytes, __ATOMIC_RELAXED); }

const sn_sgemm_impl *sn_sgemm_impl_for(int isa) {
  if (isa >= SN_ISA_AVX512) return &sn_sgemm_avx512_impl;
  if (isa >= SN_ISA_AVX2) return &sn_sgemm_avx2_impl;
  return NULL;
}

sn_sgemm_packed *sn_sgemm_pack_source(sn_gemm_side side, bool trans, int64_t rows, int64_t cols, const float *src,
                                      int64_t ld) {
  sn_sgemm_packed *p = sn_calloc(1, sizeof *p);
  if (!p) return NULL;
  p->side = side;
  p->trans = trans;
  p->rows = rows < 0 ? 0 : rows;
  p->cols = cols < 0 ? 0 : cols;
  p->src = src;
  p->ld = ld;
  p->isa = SN_ISA_SCALAR;
  return p;
}

/* p takes the panels d (bytes of them) packed for implementation im */
static void set_panels(sn_sgemm_packed *p, const sn_sgemm_impl *im, float *d, size_t bytes) {
  p->data = d;
  p->bytes = bytes;
  __atomic_add_fetch(&live_bytes, (uint64_t)bytes, __ATOMIC_RELAXED);
  p->panel = p->side == SN_GEMM_A ? im->mr : im->nr;
  p->isa = im->isa;
}

size_t sn_sgemm_pack_bytes(sn_gemm_side side, int64_t rows, int64_t cols) {
  const sn_sgemm_impl *im = sn_sgemm_impl_for(sn_cpu_isa());
  if (!im || rows <= 0 || cols <= 0) return 0;
  int panel = side == SN_GEMM_A ? im->mr : im->nr;
  int64_t outer = side == SN_GEMM_A ? rows : cols, K = side == SN_GEMM_A ? cols : rows;
  int64_t slivers = (outer + panel - 1) / panel;
  if (K > INT64_MAX / 4 / panel / slivers) return 0;
  return sizeof(float) * (size_t)(slivers * panel * K);
}

sn_sgemm_packed *sn_sgemm_pack_into(sn_gemm_side side, bool trans, int64_t rows, int64_t cols, const float *src,
                                    int64_t ld, float *dst) {
  sn_sgemm_packed *p = sn_sgemm_pack_source(side, trans, rows, cols, src, ld);
  if (!p) return NULL;
  const sn_sgemm_impl *im = sn_sgemm_impl_for(sn_cpu_isa());
  size_t bytes = sn_sgemm_pack_bytes(side, p->rows, p->cols);
  if (!im || !bytes) return p; /* nothing to pack: the source serves */
  float *d = dst ? dst : sn_weight_alloc(bytes);
  if (!d) {
    sn_sgemm_packed_free(p);
    return NULL;
  }
  if (side == SN_GEMM_A)
    im->pack_a(trans, p->rows, p->cols, src, ld, d);
  else
    im->pack_b(trans, p->rows, p->cols, src, ld, d);
  set_panels(p, im, d, bytes);
  return p;
}

sn_sgemm_packed *sn_sgemm_pack(sn_gemm_side side, bool trans, int64_t rows, int64_t cols, const float *src, int64_t ld) {
  return sn_sgemm_pack_into(side, trans, rows, cols, src, ld, NULL);
}

sn_sgemm_packed *sn_sgemm_pack_b_blocks(int64_t K, int64_t nblk, int64_t bw, const float *src) {
  const sn_sgemm_impl *im = sn_sgemm_impl_for(sn_cpu_isa());
  const int64_t N = nblk * bw;
  if (!im || K <= 0 || N <= 0 || bw <= 0) return NULL;
  const int64_t NR = im->nr, slivers = (N + NR - 1) / NR;
  if (K > INT64_MAX / 4 / NR / slivers) return NULL;
  sn_sgemm_packed *p = sn_sgemm_pack_source(SN_GEMM_B, false, K, N, NULL, N);
  if (!p) return NULL;
  size_t bytes = sizeof(float) * (size_t)(slivers * NR * K);
  float *d = sn_weight_alloc(bytes);
  if (!d) {
    sn_sgemm_packed_free(p);
    return NULL;
  }
  /* the full-K slivers of kernels/x86/sgemm_blocked.h: sliver s holds, per k, columns s * NR .. + NR */
  for (int64_t s = 0; s < slivers; s++)
    for (int64_t k = 0; k < K; k++) {
      float *o = d + (s * K + k) * NR;
      for (int64_t j = 0, run; j < NR; j += run) {
        const int64_t col = s * NR + j, b = col / bw, jj = col % bw;
        run = bw - jj < NR - j ? bw - jj : NR - j;
        if (col >= N) {
          memset(o + j, 0, sizeof(float) * (size_t)(NR - j));
          break;
        }
        if (col + run > N) run = N - col;
        memcpy(o + j, src + (b * K + k) * bw + jj, sizeof(float) * (size_t)run);
      }
    }
  set_panels(p, im, d, bytes);
  return p;
}

void sn_sgemm_packed_free(sn_sgemm_packed *p) {
  if (!p) return;
  if (p->data) __atomic_sub_fetch(&live_bytes, (uint64_t)p->bytes, __ATOMIC_RELAXED);
  if (p->bf16) __atomic_sub_fetch(&live_bytes, (uint64_t)p->bf16_bytes, __ATOMIC_RELAXED);
  sn_aligned_free(p->data);
  sn_aligned_free(p->bf16);
  sn_free(p);
}

int64_t sn_sgemm_pb_align(const sn_sgemm_packed *B) { return B && B->data ? B->panel : 16; }

/* The bf16 copy of a packed operand, made by the first call that runs in bf16 (so operands only
 * ever used by thin float32 products, and packs made before the bf16 cap was set, e.g. at load,
 * work too); NULL when there is no memory (the caller then converts per call). Concurrent first
 * calls may both convert; one copy is kept. */
static const void *bf16_copy(const sn_sgemm_packed *p) {
  void **at = &((sn_sgemm_packed *)p)->bf16; /* the cache: written once, read by every later call */
  void *d = __atomic_load_n(at, __ATOMIC_ACQUIRE);
  if (d) return d;
  if (!p->src) return NULL; /* the source went to the packed copy (sn_nn_prepack) */
  size_t bytes = sn_bf16_packed_bytes(p->side == SN_GEMM_B, p->rows, p->cols);
  void *mine = sn_aligned_alloc(bytes), *expected = NULL;
  if (!mine) return NULL;
  sn_bf16_pack(p->side == SN_GEMM_B, p->trans, p->rows, p->cols, p->src, p->ld, mine);
  if (!__atomic_compare_exchange_n(at, &expected, mine, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    sn_aligned_free(mine);
    return expected;
  }
  __atomic_store_n(&((sn_sgemm_packed *)p)->bf16_bytes, bytes, __ATOMIC_RELAXED);
  __atomic_add_fetch(&live_bytes, (uint64_t)bytes, __ATOMIC_RELAXED);
  return mine;
}

bool sn_sgemm_packed_prepare_bf16(const sn_sgemm_packed *p) {
  return !sn_cpu_use_bf16() || (p && bf16_copy(p) != NULL);
}

/* the packed data when the calling thread may use the ISA it was packed for */
static const sn_sgemm_impl *usable(const sn_sgemm_packed *p) {
  if (!p->data) return NULL;
  const sn_sgemm_impl *im = sn_sgemm_impl_for(sn_cpu_isa());
  return im && im->isa == p->isa ? im : NULL;
}

/* An operand packed at session creation may have given up its source (sn_nn_prepack); sessions
 * never change ISA, so reaching the fallback with it is a bug of ours. */
static void no_source_check(const sn_sgemm_packed *p) {
  if (p->src) return;
  fprintf(stderr, "sinter: internal error: a packed GEMM operand without source used outside its ISA\n");
  abort();
}

void sn_sgemm_pb(bool transA, int64_t M, int64_t n0, int64_t n1, float alpha, const float *A, int64_t lda,
                 const sn_sgemm_packed *B, float beta, float *C, int64_t ldc, void *ws) {
  int64_t K = B->rows, N = B->cols;
  if (n1 > N) n1 = N;
  if (n0 < 0) n0 = 0;
  if (M <= 0 || n1 <= n0) return;
  /* --precision bf16: the bf16 kernel, on the bf16 copy when there is one (n0 is a multiple of the
   * float32 panel or of 16, both multiples of its 16-column panels), else converting B per call.
   * Thin products too (a batch-1 Gemm, an RNN step): B converted once, they read half the bytes
   * (MLP 784-1024-1024-10 at batch 1: 91 -> 53 us, the 2-layer LSTM 1.45 -> 0.80 ms) */
  bool bf = sn_cpu_use_bf16() && (B->src || B->bf16) && n1 - n0 >= 16; /* (copy made from the source) */
  /* (on Intel's cores a product of fewer rows than an AMX tile's would take the vector bf16 block, no
   * faster than float32 there: float32) */
  bf = bf && (M >= SN_BF16_AMX_MIN_ROWS || sn_cpu_bf16_vector_fast());
  /* an operand packed in bf16 alone (sn_nn_prepack in a bf16 session: no panels, no source) takes
   * the bf16 kernel on every call, thin or narrow (its column panels are 16 wide: sn_sgemm_pb_align) */
  if (!B->data && !B->src && B->bf16) bf = true;
  const void *bc = bf && n0 % 16 == 0 ? bf16_copy(B) : NULL;
  if (bc) {
    const float *src = B->src + (B->trans ? n0 * B->ld : n0);
    const uint8_t *pb = (const uint8_t *)bc + (size_t)(n0 / 16) * 16 * sn_bf16_packed_depth(K) * 2;
    SN_PROF_KERNEL(bf16_name());
    sn_sgemm_avx512bf16_pb(transA, M, n1 - n0, K, alpha, A, lda, src, B->ld, B->trans, pb, beta, C + n0, ldc, ws);
    return;
  }
  /* (no bf16 copy: per call from the source where bf16 pays, M >= 16; else the float32 panels) */
  const sn_sgemm_impl *im = bf && B->src && M >= 16 ? NULL : usable(B);
  if (im) {
    SN_PROF_SGEMM(im->name, M, true);
    im->gemm_pb(transA, M, N, K, n0, n1, alpha, A, lda, B->data, beta, C, ldc, ws);
    return;
  }
  no_source_check(B);
  const float *src = B->src + (B->trans ? n0 * B->ld : n0);
  sn_sgemm(transA, B->trans, M, n1 - n0, K, alpha, A, lda, src, B->ld, beta, C + n0, ldc, ws);
}

size_t sn_sgemm_pa_floats(const sn_sgemm_packed *B, int64_t M) {
  const sn_sgemm_impl *im = usable(B);
  if (!im || !im->gemm_papb || sn_cpu_use_bf16() || M <= 0 || B->rows <= 0) return 0;
  return (size_t)((M + im->mr - 1) / im->mr * im->mr) * (size_t)B->rows;
}

int64_t sn_sgemm_pa_rows_align(const sn_sgemm_packed *B) {
  const sn_sgemm_impl *im = usable(B);
  return im ? im->mr : 1;
}

void sn_sgemm_pack_a_for(const sn_sgemm_packed *B, bool transA, int64_t M, const float *A, int64_t lda, float *pa) {
  usable(B)->pack_a(transA, M, B->rows, A, lda, pa);
}

void sn_sgemm_papb(int64_t m0, int64_t M, int64_t n0, int64_t n1, float alpha, const float *pa,
                   const sn_sgemm_packed *B, float beta, float *C, int64_t ldc, void *ws) {
  const sn_sgemm_impl *im = usable(B);
  int64_t K = B->rows;
  SN_PROF_SGEMM(im->name, M, true);
  im->gemm_papb(M, B->cols, K, n0, n1, alpha, pa + (m0 / im->mr) * K * im->mr, B->data, beta, C, ldc, ws);
}

int64_t sn_sgemm_pa_b_panel(const sn_sgemm_packed *A) {
  const sn_sgemm_impl *im = usable(A);
  return im && im->gemm_papb && A->side == SN_GEMM_A && !sn_cpu_use_bf16() ? im->nr : 0;
}

void sn_sgemm_pa_pb(const sn_sgemm_packed *A, int64_t N, float alpha, const float *pb, float beta, float *C,
                    int64_t ldc, void *ws) {
  const sn_sgemm_impl *im = usable(A);
  SN_PROF_KERNEL(im->name);
  im->gemm_papb(A->rows, N, A->cols, 0, N, alpha, A->data, pb, beta, C, ldc, ws);
}

void sn_sgemm_pa(const sn_sgemm_packed *A, bool transB, int64_t N, float alpha, const float *B, int64_t ldb,
                 float beta, float *C, int64_t ldc, void *ws) {
  int64_t M = A->rows, K = A->cols;
  if (M <= 0 || N <= 0) return;
  bool bf = sn_cpu_use_bf16() && (A->src || A->bf16) && M >= 16 && N >= 16;
  const void *ac = bf ? bf16_copy(A) : NULL;
  if (ac) {
    SN_PROF_KERNEL(bf16_name());
    sn_sgemm_avx512bf16_pa(M, N, K, alpha, ac, A->src, A->ld, A->trans, transB, B, ldb, beta, C, ldc, ws);
    return;
  }
  const sn_sgemm_impl *im = bf ? NULL : usable(A);
  if (im) {
    SN_PROF_KERNEL(im->name);
    im->gemm_pa(M, N, K, alpha, A->data, transB, B, ldb, beta, C, ldc, ws);
    return;
  }
  no_source_check(A);
  sn_sgemm(A->trans, transB, M, N, K, alpha, A->src, A->ld, B, ldb, beta, C, ldc, ws);
}
