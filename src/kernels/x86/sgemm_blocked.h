/* Goto/BLIS-style blocked float32 GEMM driver shared by the x86 kernel files: each includes it once
 * after defining SG_MR, SG_NR, SG_KC, SG_MC, SG_NC (the largest blocks; the workspace holds the
 * largest A and B blocks unless SG_A_FLOATS / SG_B_FLOATS say less; the blocks used are derived from
 * the caches at run time, see sg_blocks), the micro-kernel sg_ukr(),
 * and the small-M kernel sg_small_rows() and sm_pass_rows() (kernels/x86/sgemm_small.h) with
 * SG_SMALL_M (the most rows it takes; see sg_small), and
 * optionally SG_PACK_A_FULL(src, lda, kc, dst), packing one full MR-row sliver of a non-transposed
 * A, and SG_PACK_BT_FULL(src, ldb, kc, dst), one full NR-column sliver of a transposed B. The ISA file then exports sg_gemm and the sg_pack_full_* / sg_gemm_p* entry points through
 * its sn_sgemm_impl table.
 *
 * Prepacked operands (kernels/gemm.h) use "full-K slivers": op(A) as ceil(M / MR) slivers of K x MR
 * floats (k-major, rows past M zero), op(B) as ceil(N / NR) slivers of K x NR floats (columns past N
 * zero). The kc x MR (or kc x NR) block the micro-kernel reads at depth p0 is then the contiguous
 * run at sliver + p0 * MR (NR), so a packed operand serves every K blocking. */
#ifndef SN_SGEMM_BLOCKED_H
#define SN_SGEMM_BLOCKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/ref/gemm_ref.h"
#include "runtime/cpu.h"

/* The workspace: a packed mc x kc block of A and a packed kc x nc block of B (where B is not
 * prepacked), at most SG_A_FLOATS and SG_B_FLOATS (the ISA file may set them; by default the largest
 * blocks). sg_blocks keeps mc and the packing nc within them. */
#ifndef SG_A_FLOATS
#define SG_A_FLOATS (SG_MC * SG_KC)
#endif
#ifndef SG_B_FLOATS
#define SG_B_FLOATS (SG_KC * SG_NC)
#endif
#define SG_ROUND64(x) (((x) + 63) & ~(size_t)63)
#define SG_A_BYTES SG_ROUND64(sizeof(float) * SG_A_FLOATS)
#define SG_WS_BYTES (SG_A_BYTES + SG_ROUND64(sizeof(float) * SG_B_FLOATS))

/* pack op(A)[i0:i0+mc, p0:p0+kc] into MR-tall slivers of `stride` floats each (k-major inside a
 * sliver), zero padded */
static void sg_pack_a(bool ta, const float *A, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc,
                      float *restrict dst, int64_t stride) {
  for (int64_t ir = 0; ir < mc; ir += SG_MR) {
    int64_t mr = mc - ir < SG_MR ? mc - ir : SG_MR;
    if (!ta) {
      const float *src = A + (i0 + ir) * lda + p0;
      if (mr == SG_MR) {
#ifdef SG_PACK_A_FULL
        SG_PACK_A_FULL(src, lda, kc, dst); /* the ISA file's vectorized transpose */
#else
        for (int64_t p = 0; p < kc; p++)
          for (int i = 0; i < SG_MR; i++) dst[p * SG_MR + i] = src[i * lda + p];
#endif
      } else {
        for (int64_t p = 0; p < kc; p++) {
          for (int64_t i = 0; i < mr; i++) dst[p * SG_MR + i] = src[i * lda + p];
          for (int64_t i = mr; i < SG_MR; i++) dst[p * SG_MR + i] = 0;
        }
      }
    } else {
      const float *src = A + p0 * lda + i0 + ir;
      if (mr == SG_MR) {
        for (int64_t p = 0; p < kc; p++)
          for (int i = 0; i < SG_MR; i++) dst[p * SG_MR + i] = src[p * lda + i];
      } else {
        for (int64_t p = 0; p < kc; p++) {
          for (int64_t i = 0; i < mr; i++) dst[p * SG_MR + i] = src[p * lda + i];
          for (int64_t i = mr; i < SG_MR; i++) dst[p * SG_MR + i] = 0;
        }
      }
    }
    dst += stride;
  }
}

/* pack op(B)[p0:p0+kc, j0:j0+nc] into NR-wide slivers of `stride` floats each, zero padded */
static void sg_pack_b(bool tb, const float *B, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc,
                      float *restrict dst, int64_t stride) {
  for (int64_t jr = 0; jr < nc; jr += SG_NR) {
    int64_t nr = nc - jr < SG_NR ? nc - jr : SG_NR;
    if (!tb) {
      const float *src = B + p0 * ldb + j0 + jr;
      if (nr == SG_NR) {
        for (int64_t p = 0; p < kc; p++) memcpy(dst + p * SG_NR, src + p * ldb, sizeof(float) * SG_NR);
      } else {
        for (int64_t p = 0; p < kc; p++) {
          for (int64_t j = 0; j < nr; j++) dst[p * SG_NR + j] = src[p * ldb + j];
          for (int64_t j = nr; j < SG_NR; j++) dst[p * SG_NR + j] = 0;
        }
      }
    } else {
      const float *src = B + (j0 + jr) * ldb + p0;
      if (nr == SG_NR) {
#ifdef SG_PACK_BT_FULL
        SG_PACK_BT_FULL(src, ldb, kc, dst); /* the ISA file's vectorized transpose */
#else
        for (int64_t p = 0; p < kc; p++)
          for (int j = 0; j < SG_NR; j++) dst[p * SG_NR + j] = src[j * ldb + p];
#endif
      } else {
        for (int64_t p = 0; p < kc; p++) {
          for (int64_t j = 0; j < nr; j++) dst[p * SG_NR + j] = src[j * ldb + p];
          for (int64_t j = nr; j < SG_NR; j++) dst[p * SG_NR + j] = 0;
        }
      }
    }
    dst += stride;
  }
}

/* Block sizes from the data caches (read once). kc: 3/4 of L1d in 64-byte units (384 for 32 KiB),
 * the best of a sweep on Zen 4 with bench/gemm_bench for both the 14x32 and 6x16 tiles (a smaller
 * kc, e.g. a B sliver in half of L1, was 5-8% slower: more C tile updates, while both panels stream
 * well from L2); all of L1d in 64-byte units where L1d is 48 KiB or more (768 on Sapphire Rapids:
 * 1024^3 p50 184-187 -> 194-196 GFLOP/s, BERT's K = 768 products in one pass 186-194 -> 196-221, its
 * B sliver then streams from L2 but C is updated half as often). mc: the packed mc x kc block of A
 * in a quarter of L2. Both rounded to the tile and capped by the compile-time maxima and the
 * workspace (SG_A_FLOATS); nc: SG_NC on a prepacked B, and as wide as the workspace holds (SG_B_FLOATS)
 * where B is packed per block. */
typedef struct sg_blocking {
  int64_t kc, mc, nc, ncp; /* ncp: nc where B is packed per block */
} sg_blocking;

static sg_blocking sg_blocks(void) {
  static sg_blocking b; /* written once; a race writes the same values */
  if (__atomic_load_n(&b.kc, __ATOMIC_ACQUIRE)) return b;
  sn_cache_sizes cs = sn_cpu_cache_sizes();
  int64_t kc = (int64_t)(cs.l1d >= 48 * 1024 ? cs.l1d : cs.l1d * 3 / 4) / 64;
  kc &= ~(int64_t)7;
  if (kc < 128) kc = 128;
  if (kc > SG_KC) kc = SG_KC;
  int64_t mc = (int64_t)(cs.l2 / 4) / (int64_t)(sizeof(float) * kc);
  if (mc > SG_A_FLOATS / kc) mc = SG_A_FLOATS / kc;
  mc = mc / SG_MR * SG_MR;
  if (mc < SG_MR) mc = SG_MR;
  if (mc > SG_MC) mc = SG_MC / SG_MR * SG_MR;
  int64_t ncp = SG_B_FLOATS / kc;
  if (ncp > SG_NC) ncp = SG_NC;
  ncp = ncp / SG_NR * SG_NR;
  sg_blocking r = {kc, mc, SG_NC / SG_NR * SG_NR, ncp};
  b.mc = r.mc;
  b.nc = r.nc;
  b.ncp = r.ncp;
  __atomic_store_n(&b.kc, r.kc, __ATOMIC_RELEASE);
  return r;
}

/* C = alpha * op(A) * op(B) + beta * C, where op(A) comes from pa (full-K slivers) when not NULL and
 * op(B) from pb likewise; the raw operand is packed per block otherwise. */
static void sg_drive(int64_t M, int64_t N, int64_t K, float alpha, bool ta, const float *A, int64_t lda,
                     const float *pa, bool tb, const float *B, int64_t ldb, const float *pb, float beta, float *C,
                     int64_t ldc, void *ws) {
  sg_blocking bl = sg_blocks();
  float *wa = (float *)ws;
  float *wb = (float *)((char *)ws + SG_A_BYTES);
  /* split K into equal blocks of at most kc (multiples of 4) so a K just above kc is not left with a
   * tiny tail block */
  int64_t nkb = (K + bl.kc - 1) / bl.kc;
  int64_t kcb = ((K + nkb - 1) / nkb + 3) & ~(int64_t)3;
  if (kcb > bl.kc) kcb = bl.kc;
  const int64_t ncb = pb ? bl.nc : bl.ncp;
  for (int64_t j0 = 0; j0 < N; j0 += ncb) {
    int64_t nc = N - j0 < ncb ? N - j0 : ncb;
    for (int64_t p0 = 0; p0 < K; p0 += kcb) {
      int64_t kc = K - p0 < kcb ? K - p0 : kcb;
      float bet = p0 == 0 ? beta : 1.0f;
      const float *bpan; /* sliver jr / NR of this block at bpan + (jr / NR) * bstr */
      int64_t bstr;
      if (pb) {
        bpan = pb + (j0 / SG_NR) * K * SG_NR + p0 * SG_NR;
        bstr = K * SG_NR;
      } else {
        sg_pack_b(tb, B, ldb, p0, j0, kc, nc, wb, SG_NR * kc);
        bpan = wb;
        bstr = SG_NR * kc;
      }
#ifdef SG_UKR_PREFETCH
      /* after this block's last column: a prepacked B's first column of the next K block (or of the
       * next column block) */
      const float *pnext = !pb ? NULL
                           : p0 + kc < K ? bpan + kc * SG_NR
                           : j0 + nc < N ? pb + ((j0 + nc) / SG_NR) * K * SG_NR
                                         : NULL;
#endif
      for (int64_t i0 = 0; i0 < M; i0 += bl.mc) {
        int64_t mc = M - i0 < bl.mc ? M - i0 : bl.mc;
        const float *apan;
        int64_t astr;
        if (pa) {
          apan = pa + (i0 / SG_MR) * K * SG_MR + p0 * SG_MR;
          astr = K * SG_MR;
        } else {
          sg_pack_a(ta, A, lda, i0, p0, mc, kc, wa, SG_MR * kc);
          apan = wa;
          astr = SG_MR * kc;
        }
#ifdef SG_UKR_PREFETCH
        /* the next B block is kc * NR / 16 = 2 kc lines: tile t < 2 << pfs of each column fetches
         * kc >> pfs of them, one per 1 << pfs steps of k, spread over as many of the column's tiles
         * as there are (a burst of misses from one or two tiles stalls their own loads) */
        int pfs = 0;
        const int64_t ntile = (mc + SG_MR - 1) / SG_MR;
        while (pfs < 4 && (4 << pfs) <= ntile && (kc >> (pfs + 1)) << (pfs + 1) == kc) pfs++;
#endif
        for (int64_t jr = 0; jr < nc; jr += SG_NR) {
          int64_t nr = nc - jr < SG_NR ? nc - jr : SG_NR;
          const float *bs = bpan + (jr / SG_NR) * bstr;
          for (int64_t ir = 0; ir < mc; ir += SG_MR) {
            int64_t mr = mc - ir < SG_MR ? mc - ir : SG_MR;
#ifdef SG_UKR_PREFETCH /* the first 2 << pfs tiles of a column fetch the next column's B block */
            int64_t t = ir / SG_MR;
            const float *pf = t >= (2 << pfs) ? NULL : jr + SG_NR < nc ? bs + bstr : pnext;
            if (pf) pf += t * (kc >> pfs) * 16;
            sg_ukr_pf(kc, apan + t * astr, bs, C + (i0 + ir) * ldc + j0 + jr, ldc, alpha, bet, mr, nr, pf, pfs);
#else
            sg_ukr(kc, apan + (ir / SG_MR) * astr, bs, C + (i0 + ir) * ldc + j0 + jr, ldc, alpha, bet, mr, nr);
#endif
          }
        }
      }
    }
  }
}

/* Few rows (M <= SG_SMALL_M, in passes of sg_small_rows; see kernels/x86/sgemm_small.h): no packing
 * of A; B read in place, from full-K slivers (pb) or row-major K x N (B, ldb). */
static void sg_small(int64_t M, int64_t N, int64_t K, float alpha, bool ta, const float *A, int64_t lda,
                     const float *B, int64_t ldb, const float *pb, float beta, float *C, int64_t ldc) {
  int64_t as = ta ? 1 : lda, ak = ta ? lda : 1;
  for (int64_t i0 = 0, m; i0 < M; i0 += m) {
    m = sm_pass_rows(M, i0);
    const float *a = A + i0 * as;
    float *c = C + i0 * ldc;
    if (pb)
      sg_small_rows(m, N, K, alpha, a, as, ak, pb, SG_NR, K * SG_NR, beta, c, ldc);
    else
      sg_small_rows(m, N, K, alpha, a, as, ak, B, ldb, SG_NR, beta, c, ldc);
  }
}

/* Rows past the last full MR tile that the small-M kernel takes instead of a mostly empty tile (a
 * 14-row tile computing 2 rows costs as much as 14; the small kernel streams B once more from cache
 * at a fraction of that): M % MR when it is at most SG_SMALL_M and M has a full tile. None where the
 * ISA file defines SG_PARTIAL_TILES (a micro-kernel per row count). */
static int64_t sg_row_rest(int64_t M) {
#ifdef SG_PARTIAL_TILES /* the ISA's micro-kernel computes only a partial tile's rows */
  (void)M;
  return 0;
#else
  int64_t r = M % SG_MR;
  return M > SG_MR && r <= SG_SMALL_M ? r : 0;
#endif
}

static bool sg_trivial(int64_t M, int64_t N, int64_t K, float alpha) { return M <= 0 || N <= 0 || K <= 0 || alpha == 0; }

/* the plain entry point: same contract as sn_sgemm_ref */
static void sg_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws) {
  if (M <= 0 || N <= 0) return;
  /* empty K, alpha == 0, or one column: the reference's scaling / GEMV paths (which touch no
   * workspace) */
  if (sg_trivial(M, N, K, alpha) || N == 1) {
    sn_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
    return;
  }
  if ((M <= SG_SMALL_M || N <= SG_NR / 2) && !tb) {
    sg_small(M, N, K, alpha, ta, A, lda, B, ldb, NULL, beta, C, ldc);
    return;
  }
  if (M < 4) {
    sn_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
    return;
  }
  void *own = NULL;
  if (!ws) {
    own = ws = sn_aligned_alloc(SG_WS_BYTES);
    if (!ws) {
      sn_sgemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
  }
  int64_t rest = tb ? 0 : sg_row_rest(M);
  sg_drive(M - rest, N, K, alpha, ta, A, lda, NULL, tb, B, ldb, NULL, beta, C, ldc, ws);
  if (rest) sg_small(rest, N, K, alpha, ta, A + (M - rest) * (ta ? 1 : lda), lda, B, ldb, NULL, beta, C + (M - rest) * ldc, ldc);
  if (own) sn_aligned_free(own);
}

static size_t sg_workspace(void) {
  size_t r = sn_gemm_ref_workspace(SINTER_FLOAT);
  return SG_WS_BYTES > r ? SG_WS_BYTES : r;
}

/* ---- prepacked operands (the sn_sgemm_impl entry points) ------------------------------------------- */

static void sg_pack_full_a(bool ta, int64_t M, int64_t K, const float *A, int64_t lda, float *dst) {
  /* in blocks of kc columns so the vectorized transpose sees whole 16-column groups */
  for (int64_t p0 = 0; p0 < K; p0 += SG_KC) {
    int64_t kc = K - p0 < SG_KC ? K - p0 : SG_KC;
    sg_pack_a(ta, A, lda, 0, p0, M, kc, dst + p0 * SG_MR, K * SG_MR);
  }
}

static void sg_pack_full_b(bool tb, int64_t K, int64_t N, const float *B, int64_t ldb, float *dst) {
  sg_pack_b(tb, B, ldb, 0, 0, K, N, dst, K * SG_NR);
}

/* C[:, n0:n1] = alpha * op(A) * PB[:, n0:n1] + beta * C[:, n0:n1] (n0 a multiple of NR; C, PB at
 * column 0) */
static void sg_gemm_pb(bool ta, int64_t M, int64_t N, int64_t K, int64_t n0, int64_t n1, float alpha, const float *A,
                       int64_t lda, const float *pb, float beta, float *C, int64_t ldc, void *ws) {
  if (n1 > N) n1 = N;
  if (M <= 0 || n1 <= n0) return;
  const float *p = pb + (n0 / SG_NR) * K * SG_NR;
  if (sg_trivial(M, n1 - n0, K, alpha)) {
    sn_sgemm_ref(ta, false, M, n1 - n0, K, alpha, A, lda, NULL, 1, beta, C + n0, ldc, NULL);
    return;
  }
  /* few rows, or a product at most half a panel wide (a classifier's 10 columns): the small-M
   * kernel, row passes of one column group each, computes no empty half of a 32-wide tile
   * ([400, 256] x [256, 10]: 72 -> 35 us at one thread) */
  if (M <= SG_SMALL_M || n1 - n0 <= SG_NR / 2) {
    sg_small(M, n1 - n0, K, alpha, ta, A, lda, NULL, 0, p, beta, C + n0, ldc);
    return;
  }
  void *own = NULL;
  if (!ws) {
    own = ws = sn_aligned_alloc(SG_WS_BYTES);
    if (!ws) { /* unpack nothing: walk the packed slivers with the small-M kernel */
      sg_small(M, n1 - n0, K, alpha, ta, A, lda, NULL, 0, p, beta, C + n0, ldc);
      return;
    }
  }
  int64_t rest = sg_row_rest(M);
  sg_drive(M - rest, n1 - n0, K, alpha, ta, A, lda, NULL, false, NULL, 0, p, beta, C + n0, ldc, ws);
  if (rest)
    sg_small(rest, n1 - n0, K, alpha, ta, A + (M - rest) * (ta ? 1 : lda), lda, NULL, 0, p, beta,
             C + (M - rest) * ldc + n0, ldc);
  if (own) sn_aligned_free(own);
}

/* C[:, n0:n1] = alpha * PA * PB[:, n0:n1] + beta * C[:, n0:n1] (C at column 0; nothing packed here) */
static void sg_gemm_papb(int64_t M, int64_t N, int64_t K, int64_t n0, int64_t n1, float alpha, const float *pa,
                         const float *pb, float beta, float *C, int64_t ldc, void *ws) {
  if (n1 > N) n1 = N;
  if (M <= 0 || n1 <= n0) return;
  const float *p = pb + (n0 / SG_NR) * K * SG_NR;
  int64_t rest = sg_row_rest(M);
  sg_drive(M - rest, n1 - n0, K, alpha, false, NULL, 0, pa, false, NULL, 0, p, beta, C + n0, ldc, ws);
  if (rest) /* the rows past the last full tile, read from their sliver as a transposed A */
    sg_small(rest, n1 - n0, K, alpha, true, pa + ((M - rest) / SG_MR) * K * SG_MR, SG_MR, NULL, 0, p, beta,
             C + (M - rest) * ldc + n0, ldc);
}

/* C = alpha * PA * op(B) + beta * C (PA is M x K) */
static void sg_gemm_pa(int64_t M, int64_t N, int64_t K, float alpha, const float *pa, bool tb, const float *B,
                       int64_t ldb, float beta, float *C, int64_t ldc, void *ws) {
  if (M <= 0 || N <= 0) return;
  if (sg_trivial(M, N, K, alpha)) {
    sn_sgemm_ref(false, tb, M, N, K, alpha, NULL, 1, B, ldb, beta, C, ldc, NULL);
    return;
  }
  void *own = NULL;
  if (!ws) {
    own = ws = sn_aligned_alloc(SG_WS_BYTES);
    if (!ws) {
      /* no memory for the B panel: dot products straight from the packed slivers */
      for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
          const float *as = pa + (i / SG_MR) * K * SG_MR + i % SG_MR;
          float s = 0;
          for (int64_t p = 0; p < K; p++) s += as[p * SG_MR] * (tb ? B[j * ldb + p] : B[p * ldb + j]);
          C[i * ldc + j] = alpha * s + (beta != 0 ? beta * C[i * ldc + j] : 0.f);
        }
      return;
    }
  }
  /* rows past the last full tile: the small-M kernel reads them from their packed sliver as a
   * transposed A (row i at sliver + i, step MR per k) when B is not transposed */
  int64_t rest = tb ? 0 : sg_row_rest(M);
  sg_drive(M - rest, N, K, alpha, false, NULL, 0, pa, tb, B, ldb, NULL, beta, C, ldc, ws);
  if (rest)
    sg_small(rest, N, K, alpha, true, pa + ((M - rest) / SG_MR) * K * SG_MR, SG_MR, B, ldb, NULL, beta,
             C + (M - rest) * ldc, ldc);
  if (own) sn_aligned_free(own);
}

#endif
