/* gemm_bench: this core's float32 FMA peak (register-only FMA loops, AVX-512 and AVX2) and the
 * single-thread GFLOP/s of the float32 GEMM as the runtime uses it (constant B prepacked with
 * sn_sgemm_pack, then sn_sgemm_pb), next to the plain sn_sgemm that packs both operands per call.
 * Where the CPU has AVX512-BF16: the vdpbf16ps peak too, and the same GEMMs under `--precision
 * bf16` (packed bf16 B, and sn_sgemm converting both operands per call), timed interleaved with
 * float32, with the ratio bf16 / float32 of the packed calls.
 * Shapes are M x N x K as MatMul [M,K] x [K,N]. Usage: gemm_bench [--reps N] [--isa avx2|avx512] [--peak]
 * [--small] (--peak: only the peak line; --small: only the small-M sweep, M = 1..16 x N = 1024 x K = 784 /
 * 1024 / 256, the batch-1..16 MLP layers and LSTM gates, packed B as the runtime runs them; --cold: the
 * same sweep, median of calls that cycle through copies of B twice the L3, so B comes from memory, not
 * cache, then the BERT-base products so, next to the same calls on one cached B). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <immintrin.h>

#include "core/alloc.h"
#include "kernels/gemm.h"
#include "runtime/cpu.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 12 independent FMA chains (enough to cover latency x ports on current cores), registers only */
#define PEAK_BODY(T, SET1, FMA, W)                                                                       \
  T a0 = SET1(1.0f), a1 = SET1(1.1f), a2 = SET1(1.2f), a3 = SET1(1.3f), a4 = SET1(1.4f), a5 = SET1(1.5f); \
  T a6 = SET1(1.6f), a7 = SET1(1.7f), a8 = SET1(1.8f), a9 = SET1(1.9f), a10 = SET1(2.0f), a11 = SET1(2.1f); \
  T m = SET1(0.9999999f), c = SET1(1e-7f);                                                                \
  for (int64_t i = 0; i < iters; i++) {                                                                  \
    a0 = FMA(a0, m, c), a1 = FMA(a1, m, c), a2 = FMA(a2, m, c), a3 = FMA(a3, m, c);                      \
    a4 = FMA(a4, m, c), a5 = FMA(a5, m, c), a6 = FMA(a6, m, c), a7 = FMA(a7, m, c);                      \
    a8 = FMA(a8, m, c), a9 = FMA(a9, m, c), a10 = FMA(a10, m, c), a11 = FMA(a11, m, c);                  \
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));                  \
  }                                                                                                      \
  T s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;                                     \
  float out[W];                                                                                          \
  memcpy(out, &s, sizeof out);                                                                           \
  return out[0];

__attribute__((target("avx512f,fma"))) static float peak512(int64_t iters) {
  PEAK_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, 16)
}
__attribute__((target("avx2,fma"))) static float peak256(int64_t iters) {
  PEAK_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, 8)
}

/* vdpbf16ps: 2 bf16 products + 2 adds per float32 lane (64 flops per zmm instruction) */
#define DP(acc) __asm__ volatile("vdpbf16ps %[b], %[a], %[c]" : [c] "+v"(acc) : [a] "v"(x), [b] "v"(y))
__attribute__((target("avx512f,avx512bf16"))) static float peak_bf16(int64_t iters) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
         a10 = a0, a11 = a0;
  __m512i x = _mm512_set1_epi32(0x3f803f80), y = _mm512_set1_epi32(0x00010001); /* (1, 1) . (tiny, tiny) */
  for (int64_t i = 0; i < iters; i++) {
    DP(a0); DP(a1); DP(a2); DP(a3); DP(a4); DP(a5); DP(a6); DP(a7); DP(a8); DP(a9); DP(a10); DP(a11);
  }
  __m512 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
  float out[16];
  memcpy(out, &s, sizeof out);
  return out[0];
}

static volatile float sink;

/* best GFLOP/s of several runs of `iters` loop iterations (12 FMAs of `lanes` floats each; kind 0
 * AVX2, 1 AVX-512, 2 vdpbf16ps) */
static double peak(int kind) {
  const int64_t iters = 4000000; /* ~20 ms a round; the best of 25 rounds finds a quiet moment on a shared machine */
  double best = 0;
  for (int r = 0; r < 25; r++) {
    double t0 = now();
    sink = kind == 2 ? peak_bf16(iters) : kind ? peak512(iters) : peak256(iters);
    double t = now() - t0, gf = 2.0 * 12 * (kind == 2 ? 32 : kind ? 16 : 8) * (double)iters / t * 1e-9;
    if (gf > best) best = gf;
  }
  return best;
}

static uint64_t rng = 88172645463325252ull;
static float urand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 - 0.5);
}

typedef struct shape {
  int64_t M, N, K;
  const char *what;
} shape;

/* median-free best-of timing: run until `reps` runs and at least 0.3 s */
static double time_gemm(const shape *s, bool packed, const float *A, const float *B, const sn_sgemm_packed *pb,
                        float *C, void *ws, int reps) {
  double best = 1e30, start = now();
  for (int r = 0; r < reps || now() - start < 0.3; r++) {
    double t0 = now();
    if (packed)
      sn_sgemm_pb(false, s->M, 0, s->N, 1.0f, A, s->K, pb, 0.0f, C, s->N, ws);
    else
      sn_sgemm(false, false, s->M, s->N, s->K, 1.0f, A, s->K, B, s->N, 0.0f, C, s->N, ws);
    double t = now() - t0;
    if (t < best) best = t;
    if (r > 10000) break;
  }
  return best;
}

/* A (M x K) and B (K x N) of s filled with uniform values, C (M x N) for the result; false: out of
 * memory (whatever was allocated is freed) */
static bool operands(const shape *s, float **A, float **B, float **C) {
  *A = sn_aligned_alloc(sizeof(float) * (size_t)(s->M * s->K));
  *B = sn_aligned_alloc(sizeof(float) * (size_t)(s->K * s->N));
  *C = sn_aligned_alloc(sizeof(float) * (size_t)(s->M * s->N));
  if (!*A || !*B || !*C) {
    sn_aligned_free(*A), sn_aligned_free(*B), sn_aligned_free(*C);
    return false;
  }
  for (int64_t k = 0; k < s->M * s->K; k++) (*A)[k] = urand();
  for (int64_t k = 0; k < s->K * s->N; k++) (*B)[k] = urand();
  return true;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* copies of B to cycle through so that together they are twice the L3 (at least 16, at most 1024):
 * every call then streams its weights from memory, as a model's layers do when its weights do not
 * stay cached between runs (BERT-base: 440 MB) */
static int cold_copies(int64_t N, int64_t K) {
  double l3 = (double)sn_cpu_cache_sizes().l3, one = 4.0 * (double)N * (double)K;
  int nb = (int)(2 * l3 / one) + 1;
  return nb < 16 ? 16 : nb > 1024 ? 1024 : nb;
}

/* median time of `runs` calls cycling through nb packed copies of B */
static double time_cold(int64_t M, int64_t N, int64_t K, const float *A, sn_sgemm_packed **pbs, int nb, float *C,
                        void *ws) {
  enum { runs = 301 };
  double t[runs];
  for (int r = 0; r < runs; r++) {
    double t0 = now();
    sn_sgemm_pb(false, M, 0, N, 1.0f, A, K, pbs[r % nb], 0.0f, C, N, ws);
    t[r] = now() - t0;
  }
  qsort(t, runs, sizeof *t, cmp_double);
  return t[runs / 2];
}

static sn_sgemm_packed **pack_copies(int64_t N, int64_t K, const float *B, int nb) {
  sn_sgemm_packed **pbs = calloc((size_t)nb, sizeof *pbs);
  for (int i = 0; pbs && i < nb; i++)
    if (!(pbs[i] = sn_sgemm_pack(SN_GEMM_B, false, K, N, B, N))) {
      fprintf(stderr, "out of memory packing %d copies of a %lld x %lld B\n", nb, (long long)K, (long long)N);
      exit(1);
    }
  return pbs;
}

static void free_copies(sn_sgemm_packed **pbs, int nb) {
  for (int i = 0; pbs && i < nb; i++) sn_sgemm_packed_free(pbs[i]);
  free(pbs);
}

/* M = 1..16 rows x N = 1024 x K = 784 / 1024 / 256 with packed B (the MLP layers and LSTM gates at
 * batch 1..16): GFLOP/s and % of the FMA peak, best of `reps` runs (and 0.3 s) each, two rounds */
static int small_sweep(double pk, int reps, bool cold) {
  const int64_t Ks[] = {784, 1024, 256}, N = 1024;
  void *ws = sn_aligned_alloc(sn_sgemm_workspace());
  printf("\n%-4s %-6s %-6s %10s %8s\n", "M", "N", "K", "GF/s", "% peak");
  for (int k = 0; k < 3; k++) {
    int64_t K = Ks[k];
    const shape all = {16, N, K, ""}; /* operands for the largest M; each M reads its first rows */
    float *A, *B, *C;
    if (!operands(&all, &A, &B, &C) || !ws) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
    sn_sgemm_packed *pb = sn_sgemm_pack(SN_GEMM_B, false, K, N, B, N);
    if (!pb) return 1;
    int nb = cold ? cold_copies(N, K) : 0;
    sn_sgemm_packed **pbs = cold ? pack_copies(N, K, B, nb) : NULL;
    for (int64_t M = 1; M <= 16; M++) {
      shape s = {M, N, K, ""};
      double t = 1e30;
      for (int round = 0; round < 2; round++) {
        double u = cold ? time_cold(M, N, K, A, pbs, nb, C, ws) : time_gemm(&s, true, A, B, pb, C, ws, reps);
        t = u < t ? u : t;
      }
      double gf = 2.0 * (double)M * (double)N * (double)K / t * 1e-9;
      printf("%-4lld %-6lld %-6lld %10.1f %7.1f%%\n", (long long)M, (long long)N, (long long)K, gf,
             pk > 0 ? 100 * gf / pk : 0);
    }
    sn_sgemm_packed_free(pb);
    free_copies(pbs, nb);
    sn_aligned_free(A), sn_aligned_free(B), sn_aligned_free(C);
  }
  sn_aligned_free(ws);
  return 0;
}

/* --cold, after the small sweep: the BERT-base products with their weights from memory (BERT-base's
 * 440 MB do not stay cached between runs), median of calls, against the same calls on one cached B */
static int cold_encoder(double pk) {
  const shape shapes[] = {{128, 768, 768, "BERT-base QKV/out"},
                          {128, 3072, 768, "BERT-base FFN up"},
                          {128, 768, 3072, "BERT-base FFN down"}};
  void *ws = sn_aligned_alloc(sn_sgemm_workspace());
  printf("\n%-6s %-6s %-6s  %-24s %6s %14s %8s %14s %8s\n", "M", "N", "K", "shape", "copies", "cold GF/s",
         "% peak", "cached GF/s", "% peak");
  for (int i = 0; i < 3; i++) {
    const shape *s = &shapes[i];
    float *A, *B, *C;
    if (!operands(s, &A, &B, &C) || !ws) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
    int nb = cold_copies(s->N, s->K);
    sn_sgemm_packed **pbs = pack_copies(s->N, s->K, B, nb);
    double tc = 1e30, th = 1e30;
    for (int round = 0; round < 2; round++) { /* interleaved: cold, cached */
      double t = time_cold(s->M, s->N, s->K, A, pbs, nb, C, ws);
      tc = t < tc ? t : tc;
      t = time_cold(s->M, s->N, s->K, A, pbs, 1, C, ws);
      th = t < th ? t : th;
    }
    double f = 2.0 * (double)s->M * (double)s->N * (double)s->K * 1e-9;
    printf("%-6lld %-6lld %-6lld  %-24s %6d %14.1f %7.1f%% %14.1f %7.1f%%\n", (long long)s->M, (long long)s->N,
           (long long)s->K, s->what, nb, f / tc, pk > 0 ? 100 * f / tc / pk : 0, f / th, pk > 0 ? 100 * f / th / pk : 0);
    free_copies(pbs, nb);
    sn_aligned_free(A), sn_aligned_free(B), sn_aligned_free(C);
  }
  sn_aligned_free(ws);
  return 0;
}

int main(int argc, char **argv) {
  int reps = 5;
  bool peak_only = false, small_only = false, cold = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--peak"))
      peak_only = true;
    else if (!strcmp(argv[i], "--small"))
      small_only = true;
    else if (!strcmp(argv[i], "--cold"))
      small_only = cold = true;
    else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
      int cap = sn_isa_parse(argv[++i]);
      if (cap < 0) {
        fprintf(stderr, "unknown ISA '%s'\n", argv[i]);
        return 2;
      }
      sn_cpu_set_thread_cap(cap);
    } else {
      fprintf(stderr, "usage: gemm_bench [--reps N] [--isa scalar|avx2|avx512] [--peak] [--small] [--cold]\n");
      return 2;
    }
  }
  sn_isa isa = sn_cpu_isa();
  const sn_cpu *cpu = sn_cpu_info();
  sn_cache_sizes cs = sn_cpu_cache_sizes();
  printf("ISA %s, kernel %s; L1d %zu KiB, L2 %zu KiB, L3 %zu KiB\n", sn_isa_name(isa), sn_sgemm_kernel_name(),
         cs.l1d >> 10, cs.l2 >> 10, cs.l3 >> 10);
  double p512 = 0, p256 = 0;
  if (cpu->avx2 && cpu->fma) p256 = peak(0);
  if (cpu->avx512f && cpu->fma) p512 = peak(1);
  printf("FMA peak, one core: AVX-512 %.1f GFLOP/s, AVX2 %.1f GFLOP/s\n", p512, p256);
  if (peak_only) return 0; /* (bench/compare.py reads the peak from this line) */
  double pk = isa >= SN_ISA_AVX512 ? p512 : isa >= SN_ISA_AVX2 ? p256 : 0;
  if (small_only) {
    int rc = small_sweep(pk, reps, cold);
    return rc || !cold ? rc : cold_encoder(pk);
  }
  int cap = sn_cpu_thread_cap();
  bool bf = sn_cpu_has_bf16();
  double pbf = bf ? peak(2) : 0;
  if (bf) printf("BF16 peak, one core (vdpbf16ps): %.1f GFLOP/s = %.2fx the AVX-512 FMA peak\n", pbf, pbf / p512);
  const shape shapes[] = {{1024, 1024, 1024, "square"},         {128, 768, 768, "BERT-base QKV/out"},
                          {128, 3072, 768, "BERT-base FFN up"}, {128, 768, 3072, "BERT-base FFN down"},
                          {128, 256, 256, "BERT-small Q/K/V/out"}, {128, 1024, 256, "BERT-small FFN up"},
                          {128, 256, 1024, "BERT-small FFN down"},
                          {1, 1024, 784, "MLP layer 1, batch 1"}, {1, 1024, 1024, "MLP layer 2, batch 1"},
                          {1, 1024, 256, "LSTM-256 gates, 1 step"}, {8, 1024, 784, "MLP layer 1, batch 8"},
                          {8, 1024, 1024, "MLP layer 2, batch 8"}, {8, 10, 1024, "MLP layer 3, batch 8"},
                          {8, 1024, 256, "LSTM-256 gates, batch 8"}, {16, 1024, 784, "MLP layer 1, batch 16"}};
  const int n = (int)(sizeof shapes / sizeof *shapes);
  void *ws = sn_aligned_alloc(sn_sgemm_workspace());
  printf("\n%-6s %-6s %-6s  %-24s %12s %8s %14s %8s", "M", "N", "K", "shape", "packed-B GF/s", "% peak", "sn_sgemm GF/s",
         "% peak");
  if (bf) printf(" %11s %8s %11s %9s", "bf16 pk-B", "% bfpk", "bf16 sgemm", "bf16/fp32");
  printf("\n");
  for (int i = 0; i < n; i++) {
    const shape *s = &shapes[i];
    float *A, *B, *C;
    if (!operands(s, &A, &B, &C) || !ws) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
    sn_sgemm_packed *pb = sn_sgemm_pack(SN_GEMM_B, false, s->K, s->N, B, s->N), *pbb = NULL;
    if (!pb) return 1;
    if (bf) {
      sn_cpu_set_thread_cap(cap | SN_CAP_BF16);
      pbb = sn_sgemm_pack(SN_GEMM_B, false, s->K, s->N, B, s->N);
      sn_cpu_set_thread_cap(cap);
      if (!pbb) return 1;
    }
    double flops = 2.0 * (double)s->M * (double)s->N * (double)s->K;
    /* interleaved: packed, plain (then the same in bf16), twice; best of each */
    double tp = 1e30, tu = 1e30, tbp = 1e30, tbu = 1e30;
    for (int round = 0; round < 2; round++) {
      double t = time_gemm(s, true, A, B, pb, C, ws, reps);
      tp = t < tp ? t : tp;
      t = time_gemm(s, false, A, B, pb, C, ws, reps);
      tu = t < tu ? t : tu;
      if (!bf) continue;
      sn_cpu_set_thread_cap(cap | SN_CAP_BF16);
      t = time_gemm(s, true, A, B, pbb, C, ws, reps);
      tbp = t < tbp ? t : tbp;
      t = time_gemm(s, false, A, B, pbb, C, ws, reps);
      tbu = t < tbu ? t : tbu;
      sn_cpu_set_thread_cap(cap);
    }
    double gp = flops / tp * 1e-9, gu = flops / tu * 1e-9;
    printf("%-6lld %-6lld %-6lld  %-24s %12.1f %7.1f%% %14.1f %7.1f%%", (long long)s->M, (long long)s->N,
           (long long)s->K, s->what, gp, pk > 0 ? 100 * gp / pk : 0, gu, pk > 0 ? 100 * gu / pk : 0);
    if (bf) {
      double gbp = flops / tbp * 1e-9, gbu = flops / tbu * 1e-9;
      printf(" %11.1f %7.1f%% %11.1f %8.2fx", gbp, 100 * gbp / pbf, gbu, gbp / gp);
    }
    printf("\n");
    sn_sgemm_packed_free(pb);
    sn_sgemm_packed_free(pbb);
    sn_aligned_free(A), sn_aligned_free(B), sn_aligned_free(C);
  }
  sn_aligned_free(ws);
  return 0;
}
