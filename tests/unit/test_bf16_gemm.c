/* Unit test: prepacked bf16 operands (`--precision bf16`, kernels/gemm.h): a packed operand gets a
 * bf16 copy at its first call under the bf16 cap, and sn_sgemm_pb / sn_sgemm_pa run the bf16 kernel
 * on it.
 *  - against the float32 naive GEMM on awkward shapes (1s, primes, odd K, K past the kernel's k block
 *    of 512, M past its 192-row block), both transposes of both operands, alpha / beta, N split at
 *    panel boundaries as the thread pool splits it: within the bound bf16 must meet (each operand
 *    rounded to 8 significant bits: |error| <= 2^-8 * sum |a||b|, doubled for the hardware's own
 *    product rounding, plus float32 summation error), and on most cases NOT within float32 accuracy (else no bf16 ran: a wiring bug);
 *  - bit-identical to the bf16 kernel converting the same operands per call (same roundings, same
 *    summation order), so the packed layout is read exactly as the converting path builds it;
 *  - the bf16 copy is made by the first call that runs in bf16, and not for calls that stay float32:
 *    sn_sgemm_pb on fewer than 16 columns (any M: a thin product against a constant B reads its bf16
 *    copy), sn_sgemm_pa with M or N under 16;
 *  - those calls and threads without the bf16 cap stay float32 (tight bound);
 *  - the columns past N in C are untouched.
 * Where the CPU has AMX-BF16, every case runs on the AMX blocks and again on the AVX512-BF16 ones.
 * Skips cleanly when the CPU (or SINTER_ISA) has no AVX512-BF16. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/gemm.h"
#include "kernels/ref/gemm_ref.h"
#include "runtime/cpu.h"
#define CHECK_SEED 0x2545F4914F6CDD1Dull
#include "check.h"

typedef struct prob {
  int64_t M, N, K, lda, ldb, ldc;
  bool ta, tb;
  float alpha, beta;
  float *A, *B, *C0, *Cinit;
} prob;

/* max over elements of |C - C0| / (alpha * sum |a||b| + 1e-30); -1 when a padding column changed */
static double rel_err(const prob *p, const float *C) {
  double worst = 0;
  for (int64_t m = 0; m < p->M; m++) {
    for (int64_t n = 0; n < p->N; n++) {
      double s = 0;
      for (int64_t k = 0; k < p->K; k++)
        s += fabs((double)p->A[p->ta ? k * p->lda + m : m * p->lda + k] *
                  (double)p->B[p->tb ? n * p->ldb + k : k * p->ldb + n]);
      double d = fabs((double)p->C0[m * p->ldc + n] - (double)C[m * p->ldc + n]) / (fabs(p->alpha) * s + 1e-30);
      if (d > worst || d != d) worst = d != d ? 1e30 : d;
    }
    for (int64_t n = p->N; n < p->ldc; n++)
      if (C[m * p->ldc + n] != p->Cinit[m * p->ldc + n]) return -1;
  }
  return worst;
}

/* 2^-8 is what rounding both operands to bf16 allows; vdpbf16ps on Zen 4 was measured up to ~1.5x
 * that on K = 1..3 (its products are not exact in float32), so twice it, as test_quant_kernels */
static double bf16_bound(int64_t K) { return 2.0 / 256 + 1.2e-7 * (double)(K + 2); }
static double f32_bound(int64_t K) { return 1.2e-7 * (double)(K + 2) + 1e-6; }

static void run_case(int64_t M, int64_t N, int64_t K, int tr, int *loose, int *cases) {
  prob p = {M, N, K, 0, 0, 0, tr & 1, (tr & 2) != 0, tr == 3 ? 0.5f : 1.0f, tr & 1 ? 0.25f : 0.0f, 0, 0, 0, 0};
  p.lda = (p.ta ? M : K) + 3, p.ldb = (p.tb ? K : N) + 1, p.ldc = N + 2;
  size_t na = (size_t)((p.ta ? K : M) * p.lda), nb = (size_t)((p.tb ? N : K) * p.ldb), nc = (size_t)(M * p.ldc);
  p.A = sn_malloc(sizeof(float) * na), p.B = sn_malloc(sizeof(float) * nb);
  p.C0 = sn_malloc(sizeof(float) * nc), p.Cinit = sn_malloc(sizeof(float) * nc);
  float *C1 = sn_malloc(sizeof(float) * nc), *C2 = sn_malloc(sizeof(float) * nc);
  void *ws = sn_aligned_alloc(sn_sgemm_workspace());
  for (size_t i = 0; i < na; i++) p.A[i] = urand();
  for (size_t i = 0; i < nb; i++) p.B[i] = urand();
  for (size_t i = 0; i < nc; i++) p.C0[i] = p.Cinit[i] = urand();
  sn_sgemm_naive(p.ta, p.tb, M, N, K, p.alpha, p.A, p.lda, p.B, p.ldb, p.beta, p.C0, p.ldc);
  int cap = sn_cpu_thread_cap();
  sn_cpu_set_thread_cap(cap | SN_CAP_BF16);
  bool thin = M < 16 || N < 16;
  char what[200];
  const char *tag = "";
  /* the bf16 kernel converting both operands per call: what the packed runs must equal bit for bit */
  memcpy(C2, p.Cinit, sizeof(float) * nc);
  sn_sgemm_avx512bf16(p.ta, p.tb, M, N, K, p.alpha, p.A, p.lda, p.B, p.ldb, p.beta, C2, p.ldc, ws);

  /* packed B, N split in two at a panel boundary like the pool's workers (second call: own workspace) */
  sn_sgemm_packed *pb = sn_sgemm_pack(SN_GEMM_B, p.tb, K, N, p.B, p.ldb);
  check(pb && !pb->bf16, "no bf16 copy before a call needs it");
  if (pb) {
    memcpy(C1, p.Cinit, sizeof(float) * nc);
    int64_t al = sn_sgemm_pb_align(pb), half = (N / 2 + al - 1) / al * al;
    sn_sgemm_pb(p.ta, M, 0, half, p.alpha, p.A, p.lda, pb, p.beta, C1, p.ldc, ws);
    sn_sgemm_pb(p.ta, M, half, N, p.alpha, p.A, p.lda, pb, p.beta, C1, p.ldc, NULL);
    int64_t w1 = half < N ? half : N;
    /* neither call wide enough for bf16, or too few rows where only AMX makes bf16 pay (gemm.c) */
    const bool f32_b = (w1 < 16 && N - half < 16) || (M < SN_BF16_AMX_MIN_ROWS && !sn_cpu_bf16_vector_fast());
    check(!pb->bf16 == f32_b, "bf16 copy of B made by the first bf16 call, only");
    double e = rel_err(&p, C1);
    bool same = !memcmp(C1, C2, sizeof(float) * nc);
    tag = "packed B";
    snprintf(what, sizeof what, "%s M=%lld N=%lld K=%lld ta=%d tb=%d: rel err %.3g", tag, (long long)M, (long long)N,
             (long long)K, p.ta, p.tb, e);
    if (f32_b) {
      check(e >= 0 && e <= f32_bound(K), what);
    } else {
      check(e >= 0 && e <= bf16_bound(K), what);
      /* bit-identical to the converting kernel when each call is wide enough to run in bf16 */
      if (half >= 16 && N - half >= 16) check(same, what);
      (*cases)++;
      *loose += e > f32_bound(K);
    }
  }
  /* packed A */
  sn_sgemm_packed *pa = sn_sgemm_pack(SN_GEMM_A, p.ta, M, K, p.A, p.lda);
  if (pa) {
    memcpy(C1, p.Cinit, sizeof(float) * nc);
    sn_sgemm_pa(pa, p.tb, N, p.alpha, p.B, p.ldb, p.beta, C1, p.ldc, (M + N) & 1 ? ws : NULL);
    check(!pa->bf16 == thin, "bf16 copy of A made by the first bf16 call, only");
    double e = rel_err(&p, C1);
    tag = "packed A";
    snprintf(what, sizeof what, "%s M=%lld N=%lld K=%lld ta=%d tb=%d: rel err %.3g", tag, (long long)M, (long long)N,
             (long long)K, p.ta, p.tb, e);
    if (thin) {
      check(e >= 0 && e <= f32_bound(K), what);
    } else {
      check(e >= 0 && e <= bf16_bound(K) && !memcmp(C1, C2, sizeof(float) * nc), what);
      (*cases)++;
      *loose += e > f32_bound(K);
    }
  }
  /* the same packs on a thread without the bf16 cap: float32 */
  sn_cpu_set_thread_cap(cap);
  if (pb && pa) {
    memcpy(C1, p.Cinit, sizeof(float) * nc);
    sn_sgemm_pb(p.ta, M, 0, N, p.alpha, p.A, p.lda, pb, p.beta, C1, p.ldc, ws);
    double e1 = rel_err(&p, C1);
    memcpy(C1, p.Cinit, sizeof(float) * nc);
    sn_sgemm_pa(pa, p.tb, N, p.alpha, p.B, p.ldb, p.beta, C1, p.ldc, ws);
    double e2 = rel_err(&p, C1);
    snprintf(what, sizeof what, "float32 thread, bf16 packs M=%lld N=%lld K=%lld ta=%d tb=%d: rel err %.3g %.3g",
             (long long)M, (long long)N, (long long)K, p.ta, p.tb, e1, e2);
    check(e1 >= 0 && e1 <= f32_bound(K) && e2 >= 0 && e2 <= f32_bound(K), what);
  }
  sn_sgemm_packed_free(pb);
  sn_sgemm_packed_free(pa);
  sn_aligned_free(ws);
  sn_free(p.A), sn_free(p.B), sn_free(p.C0), sn_free(p.Cinit), sn_free(C1), sn_free(C2);
}

/* The AMX block (sgemm_amx.c) on its own, real (where the CPU has AMX-BF16) and with its tile
 * instructions emulated (tests/unit/amx_emu, any CPU with AVX512-BF16), against a double reference on
 * the same bf16 values: partial row and column tiles, pair counts that are not a multiple of 16, first
 * (C = alpha * sums + beta * C) and accumulating calls, C's columns past N untouched. */
void sn_bf16_block_amx_emu(const uint16_t *A, int64_t as, int64_t mc, const uint32_t *B, int64_t pstride, int64_t nb,
                           int64_t kq, float *C, int64_t ldc, float alpha, float beta, bool first);
typedef void (*block_fn)(const uint16_t *, int64_t, int64_t, const uint32_t *, int64_t, int64_t, int64_t, float *,
                         int64_t, float, float, bool);

static float bf16_val(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static void block_case(block_fn fn, const char *name, int64_t M, int64_t N, int64_t K, bool first, float beta) {
  const int64_t kp = sn_bf16_packed_depth(K), as = kp + 6, ldc = N + 3, pstride = kp / 2 * 16;
  uint16_t *A = xmalloc(sizeof(uint16_t) * (size_t)(M * as));
  float *Bf = xmalloc(sizeof(float) * (size_t)(K * N)), *C = xmalloc(sizeof(float) * (size_t)(M * ldc));
  float *C0 = xmalloc(sizeof(float) * (size_t)(M * ldc));
  uint32_t *Bp = sn_aligned_alloc(sn_bf16_packed_bytes(true, K, N));
  for (int64_t i = 0; i < M * as; i++) A[i] = (uint16_t)(i % as < K ? (next() & 0x80ff) | 0x3f00 : 0); /* +-[1, 2) */
  for (int64_t i = 0; i < K * N; i++) Bf[i] = urand();
  for (int64_t i = 0; i < M * ldc; i++) C[i] = C0[i] = urand();
  sn_bf16_pack(true, false, K, N, Bf, N, Bp);
  const float alpha = 0.75f;
  fn(A, as, M, Bp, pstride, N, kp / 2, C, ldc, alpha, beta, first);
  double worst = 0;
  bool ok = true;
  for (int64_t m = 0; m < M; m++) {
    for (int64_t n = 0; n < N; n++) {
      double s = 0, mag = 0;
      for (int64_t k = 0; k < K; k++) {
        /* B's packed value: column n's panel lane, pair k / 2, half k % 2 */
        uint32_t lane = Bp[(n / 16) * pstride + (k / 2) * 16 + n % 16];
        double t = (double)bf16_val(A[m * as + k]) * (double)bf16_val((uint16_t)(k % 2 ? lane >> 16 : lane & 0xffff));
        s += t, mag += fabs(t);
      }
      double c0 = C0[m * ldc + n], want = first ? alpha * s + (beta != 0.0f ? beta * c0 : 0) : alpha * s + c0;
      double err = fabs((double)C[m * ldc + n] - want) / (fabs(alpha) * mag + fabs(c0) + 1e-30);
      if (err > worst) worst = err;
      if (!(err <= 2e-7 * (double)(K + 4))) ok = false;
    }
    for (int64_t n = N; n < ldc; n++) ok &= C[m * ldc + n] == C0[m * ldc + n];
  }
  char what[200];
  snprintf(what, sizeof what, "%s block M=%lld N=%lld K=%lld first=%d beta=%g: worst rel err %.3g", name, (long long)M,
           (long long)N, (long long)K, first, beta, worst);
  check(ok, what);
  sn_free(A), sn_free(Bf), sn_free(C), sn_free(C0), sn_aligned_free(Bp);
}

static void amx_blocks(void) {
  const sn_cpu *cpu = sn_cpu_info();
  if (!cpu->avx512_bf16 || !cpu->avx512f || !cpu->avx512bw || !cpu->avx512vl) return;
  const int64_t dims[][3] = {{1, 1, 1}, {16, 16, 32}, {17, 33, 33}, {32, 32, 64}, {40, 70, 100}, {8, 200, 31}};
  for (int v = 0; v < 2; v++) {
    if (v == 1 && !sn_cpu_has_amx_bf16()) continue;
    block_fn fn = v ? sn_bf16_block_amx : sn_bf16_block_amx_emu;
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++)
      for (int f = 0; f < 3; f++)
        block_case(fn, v ? "AMX" : "emulated AMX", dims[i][0], dims[i][1], dims[i][2], f < 2, f == 1 ? 0.5f : 0.0f);
  }
}

int main(void) {
  amx_blocks();
  if (!sn_cpu_has_bf16()) {
    printf("test_bf16_gemm: no AVX512-BF16 here (or capped by SINTER_ISA): GEMM cases skipped\n");
    return check_report("test_bf16_gemm");
  }
  const int64_t dims[][3] = {{16, 16, 1},  {1, 40, 7},     {40, 3, 9},      {17, 31, 2},     {16, 33, 3},
                             {23, 64, 129}, {37, 131, 1031}, {128, 97, 513}, {199, 300, 700}, {6, 1, 1},
                             {64, 160, 512}};
  int loose = 0, cases = 0;
  /* the kernel's blocks on AMX tiles where the CPU has AMX-BF16, then on AVX512-BF16 (an avx512 cap),
   * each where bf16 runs at all (on Intel's cores the vector kernel is no faster than float32, so
   * without AMX bf16 GEMMs stay float32: runtime/cpu.h) */
  int cap0 = sn_cpu_thread_cap(), ran = 0;
  bool first_amx = false;
  for (int pass = 0; pass < 2; pass++) {
    int cap = pass == 0 ? cap0 : SN_ISA_AVX512;
    sn_cpu_set_thread_cap(cap | SN_CAP_BF16);
    bool amx = sn_cpu_has_amx_bf16(), on = sn_cpu_use_bf16();
    sn_cpu_set_thread_cap(cap);
    if (!on || (pass == 1 && !first_amx)) continue; /* the second pass only after an AMX one */
    printf("test_bf16_gemm: %s blocks\n", amx ? "AMX-BF16" : "AVX512-BF16");
    for (size_t t = 0; t < sizeof dims / sizeof *dims; t++)
      for (int tr = 0; tr < 4; tr++) run_case(dims[t][0], dims[t][1], dims[t][2], tr, &loose, &cases);
    ran++;
    if (pass == 0) first_amx = amx;
  }
  sn_cpu_set_thread_cap(cap0);
  if (!ran) {
    printf("test_bf16_gemm: bf16 GEMMs stay float32 on this CPU (no AMX-BF16, vdpbf16ps no faster): skipped\n");
    return check_report("test_bf16_gemm");
  }
  /* bf16 rounding must show (a float32 GEMM passing as bf16 would be a wiring bug) */
  char what[80];
  snprintf(what, sizeof what, "bf16 differs from float32 in %d of %d cases", loose, cases);
  check(loose > cases * 3 / 4, what);
  return check_report("test_bf16_gemm");
}
