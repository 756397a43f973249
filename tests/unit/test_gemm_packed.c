/* Unit test: prepacked GEMM operands (sn_sgemm_pack + sn_sgemm_pb / sn_sgemm_pa) and the small-M
 * path against the naive triple loop, at every ISA level the CPU allows (scalar fallback, AVX2,
 * AVX-512), on awkward shapes: both sides, transposed or not, alpha/beta, padded strides, column
 * sub-ranges, and a pack made for one ISA used under another (the source fallback). Also B packed from
 * column blocks (sn_sgemm_pack_b_blocks, a blocked convolution weight) against the same matrix packed
 * whole: identical panels, and products equal to the triple loop. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/ref/gemm_ref.h"
#include "runtime/cpu.h"
#define CHECK_SEED 0x2545F4914F6CDD1Dull
#include "check.h"

/* side A packed (pack_isa), run under run_isa; or side B with columns [n0, n1) */
static bool run_case(int pack_isa, int run_isa, sn_gemm_side side, int64_t M, int64_t N, int64_t K, bool ta, bool tb,
                     float alpha, float beta, int pad, int64_t n0, int64_t n1, bool use_ws) {
  int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  int64_t arows = ta ? K : M, brows = tb ? N : K;
  size_t na = (size_t)(arows * lda) + 1, nb = (size_t)(brows * ldb) + 1, nc = (size_t)(M * ldc) + 1;
  float *A = xmalloc(na * 4), *B = xmalloc(nb * 4), *C = xmalloc(nc * 4), *R = xmalloc(nc * 4), *C0 = xmalloc(nc * 4);
  for (size_t i = 0; i < na; i++) A[i] = urand();
  for (size_t i = 0; i < nb; i++) B[i] = urand();
  for (size_t i = 0; i < nc; i++) C0[i] = urand();
  if (beta == 0)
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = n0; j < n1; j++) C0[i * ldc + j] = NAN; /* beta == 0 must not read C */
  memcpy(C, C0, nc * 4);
  memcpy(R, C0, nc * 4);
  if (n1 > n0)
    sn_sgemm_naive(ta, tb, M, n1 - n0, K, alpha, A, lda, B + (tb ? n0 * ldb : n0), ldb, beta, R + n0, ldc);
  void *ws = use_ws ? malloc(sn_sgemm_workspace()) : NULL;
  int old = sn_cpu_set_thread_cap(pack_isa);
  sn_sgemm_packed *p = side == SN_GEMM_A ? sn_sgemm_pack(SN_GEMM_A, ta, M, K, A, lda) : sn_sgemm_pack(SN_GEMM_B, tb, K, N, B, ldb);
  sn_cpu_set_thread_cap(run_isa);
  bool ok = p != NULL;
  if (p) {
    if (side == SN_GEMM_A)
      sn_sgemm_pa(p, tb, N, alpha, B, ldb, beta, C, ldc, ws);
    else
      sn_sgemm_pb(ta, M, n0, n1, alpha, A, lda, p, beta, C, ldc, ws);
  }
  sn_cpu_set_thread_cap(old);
  for (int64_t i = 0; i < M && ok; i++)
    for (int64_t j = 0; j < ldc && ok; j++) {
      size_t at = (size_t)(i * ldc + j);
      if (j < n0 || j >= n1) { /* outside the range (and padding): untouched, bitwise */
        if (memcmp(&C[at], &C0[at], 4) != 0) ok = false;
        continue;
      }
      double s = 0;
      for (int64_t q = 0; q < K; q++)
        s += fabs((double)(ta ? A[q * lda + i] : A[i * lda + q])) * fabs((double)(tb ? B[j * ldb + q] : B[q * ldb + j]));
      double tol = (fabs(alpha) * s + (beta != 0 ? fabs(beta * C0[at]) : 0)) * (double)(K + 2) * 1e-6 + 1e-7;
      if (!(fabs((double)C[at] - (double)R[at]) <= tol)) ok = false;
    }
  if (memcmp(&C[nc - 1], &C0[nc - 1], 4) != 0) ok = false;
  if (!ok)
    printf("FAIL: pack %s run %s side %c M=%lld N=%lld K=%lld ta=%d tb=%d alpha=%g beta=%g pad=%d cols [%lld,%lld) ws=%d\n",
           sn_isa_name((sn_isa)pack_isa), sn_isa_name((sn_isa)run_isa), side == SN_GEMM_A ? 'A' : 'B', (long long)M,
           (long long)N, (long long)K, ta, tb, alpha, beta, pad, (long long)n0, (long long)n1, use_ws);
  sn_sgemm_packed_free(p);
  free(ws);
  free(A), free(B), free(C), free(R), free(C0);
  return ok;
}

static void tally(bool ok) {
  if (ok)
    passed++;
  else
    failed++;
}

static void test_level(int pack_isa, int run_isa) {
  static const int64_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 14, 15, 16, 17, 31, 33, 47, 64, 97, 129};
  const int ns = (int)(sizeof sizes / sizeof sizes[0]);
  static const float alphas[] = {1, 0.5f, -1.5f}, betas[] = {0, 1, -2};
  int p0 = passed, f0 = failed, count = 0;
  for (int mi = 0; mi < ns; mi++)
    for (int ni = 0; ni < ns; ni++) {
      int64_t M = sizes[mi], N = sizes[ni], K = sizes[next() % (uint64_t)ns];
      for (int t = 0; t < 4; t++) {
        float alpha = alphas[count % 3], beta = betas[(count / 3) % 3];
        int pad = (count / 9) % 2 ? 5 : 0;
        bool ws = count % 7 != 3;
        count++;
        tally(run_case(pack_isa, run_isa, SN_GEMM_A, M, N, K, t & 1, t & 2, alpha, beta, pad, 0, N, ws));
        tally(run_case(pack_isa, run_isa, SN_GEMM_B, M, N, K, t & 1, t & 2, alpha, beta, pad, 0, N, ws));
        /* a column sub-range starting at a multiple of the panel width (as the thread split uses) */
        int old = sn_cpu_set_thread_cap(pack_isa);
        const sn_sgemm_impl *im = sn_sgemm_impl_for(sn_cpu_isa());
        sn_cpu_set_thread_cap(old);
        int64_t al = im ? im->nr : 16, c0 = N > al ? al : 0, c1 = N - (int64_t)(next() % 3);
        if (c1 < c0) c1 = N;
        tally(run_case(pack_isa, run_isa, SN_GEMM_B, M, N, K, t & 1, t & 2, alpha, beta, pad, c0, c1, ws));
      }
    }
  /* big enough to span several cache blocks (K = 1700: three K blocks also where kc is 768); the
   * small-M shapes of batch-1 models */
  static const int64_t big[][3] = {{340, 40, 520}, {20, 1040, 300}, {680, 33, 40}, {1, 1024, 784}, {3, 1000, 257},
                                   {8, 300, 1100}, {1, 10, 1024},   {130, 2100, 70}, {40, 200, 1700}};
  for (int b = 0; b < 9; b++)
    for (int t = 0; t < 4; t++) {
      int64_t M = big[b][0], N = big[b][1], K = big[b][2];
      float alpha = t == 3 ? 0.5f : 1, beta = t == 1 ? -2.0f : 0;
      tally(run_case(pack_isa, run_isa, SN_GEMM_A, M, N, K, t & 1, t & 2, alpha, beta, t, 0, N, true));
      tally(run_case(pack_isa, run_isa, SN_GEMM_B, M, N, K, t & 1, t & 2, alpha, beta, t, 0, N, t != 2));
    }
  /* degenerate: K = 0 scales C, alpha = 0 */
  tally(run_case(pack_isa, run_isa, SN_GEMM_B, 5, 40, 0, false, false, 1, 2, 0, 0, 40, true));
  tally(run_case(pack_isa, run_isa, SN_GEMM_A, 5, 40, 0, false, false, 1, 0, 0, 0, 40, true));
  tally(run_case(pack_isa, run_isa, SN_GEMM_B, 20, 40, 9, false, false, 0, 0.5f, 0, 0, 40, true));
  printf("pack %-6s run %-6s %d passed, %d failed\n", sn_isa_name((sn_isa)pack_isa), sn_isa_name((sn_isa)run_isa),
         passed - p0, failed - f0);
}

/* the plain sn_sgemm small-M path (M <= 16 on AVX-512, 12 on AVX2, raw B; 17 past it) at each level */
static void test_plain_small(int isa) {
  int p0 = passed, f0 = failed;
  int old = sn_cpu_set_thread_cap(isa);
  for (int64_t M = 1; M <= 17; M++)
    for (int64_t N = 1; N < 150; N += 7)
      for (int t = 0; t < 2; t++) {
        int64_t K = 1 + (int64_t)(next() % 90), lda = (t ? M : K) + 1, ldb = N + 2, ldc = N + 3;
        float *A = xmalloc(sizeof(float) * (size_t)((t ? K : M) * lda)), *B = xmalloc(sizeof(float) * (size_t)(K * ldb));
        float *C = xmalloc(sizeof(float) * (size_t)(M * ldc)), *R = xmalloc(sizeof(float) * (size_t)(M * ldc));
        for (int64_t i = 0; i < (t ? K : M) * lda; i++) A[i] = urand();
        for (int64_t i = 0; i < K * ldb; i++) B[i] = urand();
        for (int64_t i = 0; i < M * ldc; i++) C[i] = R[i] = urand();
        sn_sgemm(t, false, M, N, K, 0.75f, A, lda, B, ldb, 0.5f, C, ldc, NULL);
        sn_sgemm_naive(t, false, M, N, K, 0.75f, A, lda, B, ldb, 0.5f, R, ldc);
        bool ok = true;
        for (int64_t i = 0; i < M * ldc; i++)
          if (!(fabsf(C[i] - R[i]) <= 1e-4f * (float)(K + 1))) ok = false;
        if (!ok) printf("FAIL: plain small %s M=%lld N=%lld K=%lld ta=%d\n", sn_isa_name((sn_isa)isa), (long long)M,
                        (long long)N, (long long)K, t);
        tally(ok);
        free(A), free(B), free(C), free(R);
      }
  sn_cpu_set_thread_cap(old);
  printf("plain small-M %-6s %d passed, %d failed\n", sn_isa_name((sn_isa)isa), passed - p0, failed - f0);
}

/* the small-M path on packed B: every row count 1..17 (one pass, two passes, past it) against N that
 * ends on a full tile, inside a tile, inside one vector, and column sub-ranges from a panel
 * boundary, with alpha / beta and transposed A */
static void test_small_packed(int isa) {
  int p0 = passed, f0 = failed, count = 0;
  static const int64_t Ns[] = {1, 7, 16, 17, 48, 95, 130, 257, 1000}, Ks[] = {1, 3, 31, 256, 301};
  const sn_sgemm_impl *im = sn_sgemm_impl_for(isa);
  int64_t al = im ? im->nr : 16;
  for (int64_t M = 1; M <= 17; M++)
    for (int ni = 0; ni < 9; ni++) {
      int64_t N = Ns[ni], K = Ks[(M + ni) % 5];
      bool ta = (M + ni) % 3 == 0;
      float alpha = count % 2 ? 1.0f : -0.75f, beta = count % 3 == 0 ? 0.0f : count % 3 == 1 ? 1.0f : 0.5f;
      count++;
      tally(run_case(isa, isa, SN_GEMM_B, M, N, K, ta, false, alpha, beta, count % 2 ? 3 : 0, 0, N, false));
      if (N > al) /* the second worker's columns of a thread split */
        tally(run_case(isa, isa, SN_GEMM_B, M, N, K, ta, count % 4 == 0, alpha, beta, 0, al, N, false));
    }
  printf("small-M packed %-6s %d passed, %d failed\n", sn_isa_name((sn_isa)isa), passed - p0, failed - f0);
}

/* B as nblk blocks of bw columns (block b: K x bw row-major at b * K * bw) packed in one pass, against
 * the same K x N matrix packed by sn_sgemm_pack, and the products against the triple loop */
static void test_pack_blocks(int isa) {
  int p0 = passed, f0 = failed;
  static const int64_t shapes[][4] = {{1, 1, 1, 16}, {37, 3, 16, 5}, {300, 5, 8, 49}, {64, 4, 16, 17}, {9, 7, 3, 2},
                                      {513, 2, 16, 20}};
  int prev = sn_cpu_set_thread_cap(isa);
  for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
    const int64_t K = shapes[t][0], nblk = shapes[t][1], bw = shapes[t][2], M = shapes[t][3], N = nblk * bw;
    float *blk = malloc(sizeof(float) * (size_t)(K * N)), *full = malloc(sizeof(float) * (size_t)(K * N));
    float *A = malloc(sizeof(float) * (size_t)(M * K)), *C = malloc(sizeof(float) * (size_t)(M * N));
    for (int64_t i = 0; i < K * N; i++) blk[i] = (float)(int)(next() % 17) - 8.0f;
    for (int64_t i = 0; i < M * K; i++) A[i] = (float)(int)(next() % 9) - 4.0f;
    for (int64_t b = 0; b < nblk; b++)
      for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < bw; j++) full[k * N + b * bw + j] = blk[(b * K + k) * bw + j];
    sn_sgemm_packed *pb = sn_sgemm_pack_b_blocks(K, nblk, bw, blk), *pf = sn_sgemm_pack(SN_GEMM_B, false, K, N, full, N);
    char what[160];
    snprintf(what, sizeof what, "%s: B of %lld blocks of %lld x %lld packed in one pass", sn_isa_name((sn_isa)isa),
             (long long)nblk, (long long)K, (long long)bw);
    if (!sn_sgemm_impl_for(isa)) {
      check(!pb, what); /* no packed form at this level */
    } else {
      bool same = pb && pf && pb->data && pf->data && pb->bytes == pf->bytes && !memcmp(pb->data, pf->data, pb->bytes) &&
                  pb->isa == pf->isa && pb->rows == K && pb->cols == N && !pb->src;
      check(same, what);
      if (pb) {
        sn_sgemm_pb(false, M, 0, N, 1.0f, A, K, pb, 0.0f, C, N, NULL);
        bool ok = true;
        for (int64_t i = 0; i < M && ok; i++)
          for (int64_t j = 0; j < N && ok; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)A[i * K + k] * full[k * N + j];
            ok = C[i * N + j] == (float)s; /* small integers: exact */
          }
        snprintf(what, sizeof what, "%s: product by B packed from %lld blocks (M %lld)", sn_isa_name((sn_isa)isa),
                 (long long)nblk, (long long)M);
        check(ok, what);
      }
    }
    sn_sgemm_packed_free(pb);
    sn_sgemm_packed_free(pf);
    free(blk), free(full), free(A), free(C);
  }
  sn_cpu_set_thread_cap(prev);
  printf("blocked B packing %-6s %d passed, %d failed\n", sn_isa_name((sn_isa)isa), passed - p0, failed - f0);
}

int main(void) {
  sn_isa top = sn_cpu_isa();
  sn_cache_sizes cs = sn_cpu_cache_sizes();
  printf("cpu isa: %s; caches L1d %zu, L2 %zu, L3 %zu bytes\n", sn_isa_name(top), cs.l1d, cs.l2, cs.l3);
  for (int isa = SN_ISA_SCALAR; isa <= (int)top; isa++) {
    test_level(isa, isa);
    test_plain_small(isa);
    test_small_packed(isa);
    test_pack_blocks(isa);
  }
  /* packed for the best ISA, run under a lower cap (and the other way): the source fallback */
  if (top > SN_ISA_SCALAR) {
    test_level(top, SN_ISA_SCALAR);
    test_level(SN_ISA_SCALAR, top);
  }
  if (top > SN_ISA_AVX2) test_level(SN_ISA_AVX512, SN_ISA_AVX2);
  return check_report("test_gemm_packed");
}
