/* Small-M float32 GEMM kernel shared by the x86 kernel files (included once, before
 * sgemm_blocked.h, which calls sg_small_rows): C[0:m, 0:N] = alpha * A * B + beta * C for m <= SM_MAXR
 * rows, A read in place (row i, depth p at a[i * as + p * ak]: no packing), B read in place too, as
 * 16-or-8-float column groups of SG_NR-wide slivers: group g, row p at b + (g / SM_GPS) * ss +
 * (g % SM_GPS) * SM_W + p * rs (packed full-K slivers: ss = K * NR, rs = NR; raw rows: ss = NR,
 * rs = ldb).
 *
 * A register tile keeps every row's accumulators for SM_GROUPS[m] column groups (as many as the
 * register file holds next to the B vectors), so each B vector loaded feeds m FMAs and each
 * broadcast of A feeds G of them, over all of K; groups left at the end of N take a narrower tile,
 * and a partial last group a masked one (B and C touched only inside N).
 *
 * The ISA file defines: SM_V (vector type), SM_W (floats per vector), SM_GPS (vectors per B sliver
 * row), SM_MASK (a lane mask) and SM_MASKOF(valid), SM_ZERO(), SM_SET1(x), SM_LOAD(p),
 * SM_LOADM(p, m), SM_STORE(p, x), SM_STOREM(p, m, x), SM_FMA(a, b, c) (a * b + c), SM_MUL(a, b),
 * SM_ADD(a, b), SM_NREG (vector registers), SM_MAXR, SM_MAXG and SM_ROWS_TABLE (the groups per tile
 * of each row count 0..SM_MAXR). */
#ifndef SN_SGEMM_SMALL_H
#define SN_SGEMM_SMALL_H

#include <stdint.h>

/* software prefetch distance (rows of B ahead) for the B streams, 0: none. Measured with
 * bench/gemm_bench --small on Zen 4 (B of 1 to 4 MB, L3 resident): 16 rows ahead cost 15-30% at
 * M = 1..3 (a prefetch per B load where the loads are the bottleneck) and gained nothing at M >= 4,
 * where the hardware prefetchers keep up with the sequential sliver streams */
#define SM_PF 0

/* K-interleaved accumulator sets of an M x G tile: enough independent FMA chains (8) for the FMA
 * latency when the tile itself has few (a single row, a narrow tail, N = 10), as long as they and
 * the B vectors fit the register file; each set sums every U-th depth, added up at the end */
#define SM_SETS(M, G)                                                                                       \
  ((M) * (G) >= 8 ? 1                                                                                      \
   : (M) * (G) >= 4 ? ((M) * (G) * 2 + (G) + 1 <= SM_NREG ? 2 : 1)                                         \
   : (M) * (G) >= 2 ? ((M) * (G) * 4 + (G) + 1 <= SM_NREG ? 4 : 2)                                         \
                    : 8)

/* C tile = alpha * acc + beta * C tile */
#define SM_STORE_TILE(ACC)                                                   \
  do {                                                                       \
    SM_V va = SM_SET1(alpha), vb = SM_SET1(beta);                            \
    _Pragma("GCC unroll 16") for (int i = 0; i < M; i++)                     \
    _Pragma("GCC unroll 16") for (int g = 0; g < G; g++) {                   \
      float *cp = c + i * ldc + g * SM_W;                                    \
      SM_V x = SM_MUL(ACC, va);                                              \
      if (MASKED) {                                                          \
        if (beta != 0) x = SM_FMA(vb, SM_LOADM(cp, mk), x);                  \
        SM_STOREM(cp, mk, x);                                                \
      } else {                                                               \
        if (beta != 0) x = SM_FMA(vb, SM_LOAD(cp), x);                       \
        SM_STORE(cp, x);                                                     \
      }                                                                      \
    }                                                                        \
  } while (0)

static inline __attribute__((always_inline)) void sm_tile(const int M, const int G, const bool MASKED, int64_t K,
                                                          const float *a, int64_t as, int64_t ak, const float *b,
                                                          int64_t rs, int64_t ss, int64_t g0, SM_MASK mk, float *c,
                                                          int64_t ldc, float alpha, float beta) {
  const float *bg[SM_MAXG];
#pragma GCC unroll 16
  for (int g = 0; g < G; g++) bg[g] = b + ((g0 + g) / SM_GPS) * ss + ((g0 + g) % SM_GPS) * SM_W;
  const int U = SM_SETS(M, G);
  if (U == 1) { /* (a separate accumulator array: a larger one is not kept in registers) */
    SM_V acc[SM_MAXR][SM_MAXG];
#pragma GCC unroll 16
    for (int i = 0; i < M; i++)
#pragma GCC unroll 16
      for (int g = 0; g < G; g++) acc[i][g] = SM_ZERO();
    for (int64_t p = 0; p < K; p++) {
      SM_V bv[SM_MAXG];
#pragma GCC unroll 16
      for (int g = 0; g < G; g++) {
        const float *bp = bg[g] + p * rs;
        bv[g] = MASKED ? SM_LOADM(bp, mk) : SM_LOAD(bp);
        if (SM_PF) __builtin_prefetch(bp + SM_PF * rs, 0, 3);
      }
#pragma GCC unroll 16
      for (int i = 0; i < M; i++) {
        SM_V av = SM_SET1(a[i * as + p * ak]);
#pragma GCC unroll 16
        for (int g = 0; g < G; g++) acc[i][g] = SM_FMA(av, bv[g], acc[i][g]);
      }
    }
    SM_STORE_TILE(acc[i][g]);
    return;
  }
  /* M * G < 8: U sets of the tile's accumulators, [u][i * G + g] */
  SM_V acc[8][8];
#pragma GCC unroll 8
  for (int u = 0; u < U; u++)
#pragma GCC unroll 8
    for (int t = 0; t < M * G; t++) acc[u][t] = SM_ZERO();
  int64_t p = 0;
  for (; p + U <= K; p += U) {
#pragma GCC unroll 8
    for (int u = 0; u < U; u++) {
      SM_V bv[SM_MAXG];
#pragma GCC unroll 16
      for (int g = 0; g < G; g++) {
        const float *bp = bg[g] + (p + u) * rs;
        bv[g] = MASKED ? SM_LOADM(bp, mk) : SM_LOAD(bp);
      }
#pragma GCC unroll 16
      for (int i = 0; i < M; i++) {
        SM_V av = SM_SET1(a[i * as + (p + u) * ak]);
#pragma GCC unroll 16
        for (int g = 0; g < G; g++) acc[u][i * G + g] = SM_FMA(av, bv[g], acc[u][i * G + g]);
      }
    }
  }
  for (; p < K; p++) /* the last K % U depths */
#pragma GCC unroll 16
    for (int i = 0; i < M; i++) {
      SM_V av = SM_SET1(a[i * as + p * ak]);
#pragma GCC unroll 16
      for (int g = 0; g < G; g++) {
        const float *bp = bg[g] + p * rs;
        acc[0][i * G + g] = SM_FMA(av, MASKED ? SM_LOADM(bp, mk) : SM_LOAD(bp), acc[0][i * G + g]);
      }
    }
#pragma GCC unroll 8
  for (int u = 1; u < U; u++)
#pragma GCC unroll 8
    for (int t = 0; t < M * G; t++) acc[0][t] = SM_ADD(acc[0][t], acc[u][t]);
  SM_STORE_TILE(acc[0][i * G + g]);
}

typedef void (*sm_fn)(int64_t, const float *, int64_t, int64_t, const float *, int64_t, int64_t, int64_t, SM_MASK,
                      float *, int64_t, float, float);
#define SM_DEF(M, G, MASKED, NAME)                                                                                 \
  static void NAME(int64_t K, const float *a, int64_t as, int64_t ak, const float *b, int64_t rs, int64_t ss,       \
                   int64_t g0, SM_MASK mk, float *c, int64_t ldc, float alpha, float beta) {                       \
    sm_tile(M, G, MASKED, K, a, as, ak, b, rs, ss, g0, mk, c, ldc, alpha, beta);                                   \
  }

static const int sm_groups[SM_MAXR + 1] = SM_ROWS_TABLE;
/* [m][G]: m rows x G full groups; [m][0]: m rows x one masked group (the ISA file defines it) */
static const sm_fn sm_table[SM_MAXR + 1][SM_MAXG + 1];

/* m rows (1..SM_MAXR) x N columns, tiles of sm_groups[m] column groups, then one narrower tile for
 * the full groups left, then the partial group under a mask */
static void sg_small_rows(int m, int64_t N, int64_t K, float alpha, const float *a, int64_t as, int64_t ak,
                          const float *b, int64_t rs, int64_t ss, float beta, float *c, int64_t ldc) {
  int64_t full = N / SM_W, rem = N % SM_W, g = 0;
  int G = sm_groups[m];
  SM_MASK none = SM_MASKOF(SM_W);
  for (; g + G <= full; g += G) sm_table[m][G](K, a, as, ak, b, rs, ss, g, none, c + g * SM_W, ldc, alpha, beta);
  if (g < full) {
    sm_table[m][full - g](K, a, as, ak, b, rs, ss, g, none, c + g * SM_W, ldc, alpha, beta);
    g = full;
  }
  if (rem) sm_table[m][0](K, a, as, ak, b, rs, ss, g, SM_MASKOF(rem), c + g * SM_W, ldc, alpha, beta);
}

/* M rows (up to SG_SMALL_M) in passes of at most SM_MAXR rows, as even as they come (13 rows: 7 + 6,
 * not 12 + 1: each pass streams B once, and a thin pass gets little from it) */
static int sm_pass_rows(int64_t M, int64_t done) {
  int64_t left = M - done, passes = (left + SM_MAXR - 1) / SM_MAXR;
  return (int)((left + passes - 1) / passes);
}

#endif
