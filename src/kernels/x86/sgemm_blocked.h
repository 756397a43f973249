/* Goto/BLIS-style blocked float32 GEMM driver shared by the x86 kernel files: each includes it once
 * after defining SG_MR, SG_NR, SG_KC, SG_MC, SG_NC and the micro-kernel sg_ukr() (and optionally
 * SG_PACK_A_FULL(src, lda, kc, dst), packing one full MR-row sliver of a non-transposed A). */
#ifndef SN_SGEMM_BLOCKED_H
#define SN_SGEMM_BLOCKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/ref/gemm_ref.h"

#define SG_ROUND64(x) (((x) + 63) & ~(size_t)63)
#define SG_A_BYTES SG_ROUND64(sizeof(float) * SG_MC * SG_KC)
#define SG_WS_BYTES (SG_A_BYTES + SG_ROUND64(sizeof(float) * SG_KC * SG_NC))

/* pack op(A)[i0:i0+mc, p0:p0+kc] into MR-tall slivers, k-major inside a sliver, zero padded */
static void sg_pack_a(bool ta, const float *A, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc,
                      float *restrict dst) {
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
    dst += SG_MR * kc;
  }
}

/* pack op(B)[p0:p0+kc, j0:j0+nc] into NR-wide slivers, zero padded */
static void sg_pack_b(bool tb, const float *B, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc,
                      float *restrict dst) {
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
        for (int64_t p = 0; p < kc; p++)
          for (int j = 0; j < SG_NR; j++) dst[p * SG_NR + j] = src[j * ldb + p];
      } else {
        for (int64_t p = 0; p < kc; p++) {
          for (int64_t j = 0; j < nr; j++) dst[p * SG_NR + j] = src[j * ldb + p];
          for (int64_t j = nr; j < SG_NR; j++) dst[p * SG_NR + j] = 0;
        }
      }
    }
    dst += SG_NR * kc;
  }
}

static void sg_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws) {
  if (M <= 0 || N <= 0) return;
  /* empty K, alpha == 0, very few rows or one column: the reference's scaling / GEMV paths (which
   * touch no workspace) */
  if (K <= 0 || alpha == 0 || M < 4 || N == 1) {
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
  float *pa = (float *)ws;
  float *pb = (float *)((char *)ws + SG_A_BYTES);
  /* split K into equal blocks of at most KC (multiples of 4) so a K just above KC is not left with a
   * tiny tail block */
  int64_t nkb = (K + SG_KC - 1) / SG_KC;
  int64_t kcb = ((K + nkb - 1) / nkb + 3) & ~(int64_t)3;
  if (kcb > SG_KC) kcb = SG_KC;
  for (int64_t j0 = 0; j0 < N; j0 += SG_NC) {
    int64_t nc = N - j0 < SG_NC ? N - j0 : SG_NC;
    for (int64_t p0 = 0; p0 < K; p0 += kcb) {
      int64_t kc = K - p0 < kcb ? K - p0 : kcb;
      float bet = p0 == 0 ? beta : 1.0f;
      sg_pack_b(tb, B, ldb, p0, j0, kc, nc, pb);
      for (int64_t i0 = 0; i0 < M; i0 += SG_MC) {
        int64_t mc = M - i0 < SG_MC ? M - i0 : SG_MC;
        sg_pack_a(ta, A, lda, i0, p0, mc, kc, pa);
        for (int64_t jr = 0; jr < nc; jr += SG_NR) {
          int64_t nr = nc - jr < SG_NR ? nc - jr : SG_NR;
          const float *bs = pb + (jr / SG_NR) * SG_NR * kc;
          for (int64_t ir = 0; ir < mc; ir += SG_MR) {
            int64_t mr = mc - ir < SG_MR ? mc - ir : SG_MR;
            sg_ukr(kc, pa + (ir / SG_MR) * SG_MR * kc, bs, C + (i0 + ir) * ldc + j0 + jr, ldc, alpha, bet, mr, nr);
          }
        }
      }
    }
  }
  if (own) sn_aligned_free(own);
}

static size_t sg_workspace(void) {
  size_t r = sn_gemm_ref_workspace(SINTER_FLOAT);
  return SG_WS_BYTES > r ? SG_WS_BYTES : r;
}

#endif
