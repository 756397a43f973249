/* Portable cache-blocked GEMM (float32, float64), integer and generic GEMMs, and a naive triple loop. */
#include "kernels/ref/gemm_ref.h"

#include <string.h>

#include "core/alloc.h"

/* Blocking (Goto/BLIS style): a KC x NC panel of op(B) is packed into NR-wide slivers, an MC x KC
 * block of op(A) into MR-tall slivers; the micro-kernel keeps an MR x NR tile of C in registers. */
#define F32_MR 4
#define F32_NR 16
#define F32_KC 256
#define F32_MC 96
#define F32_NC 512

#define F64_MR 4
#define F64_NR 8
#define F64_KC 256
#define F64_MC 96
#define F64_NC 256

/* Full unrolling of the register tile lets GCC keep it in vector registers instead of vectorizing
 * along k with shuffles (a 4x difference). */
#if defined(__GNUC__)
#define SN_UNROLL _Pragma("GCC unroll 16")
#else
#define SN_UNROLL
#endif

#define ROUND64(x) (((x) + 63) & ~(size_t)63)

size_t sn_gemm_ref_workspace(sn_dtype dt) {
  if (dt == SINTER_DOUBLE)
    return ROUND64(sizeof(double) * F64_MC * F64_KC) + ROUND64(sizeof(double) * F64_KC * F64_NC);
  return ROUND64(sizeof(float) * F32_MC * F32_KC) + ROUND64(sizeof(float) * F32_KC * F32_NC);
}

/* One instantiation per floating type: pack routines, micro-kernel, driver. */
#define DEFINE_GEMM(SFX, T, MR, NR, KC, MC, NC)                                                                \
  /* pack op(A)[i0:i0+mc, p0:p0+kc] into MR-tall slivers, k-major inside a sliver, zero padded */         \
  static void pack_a_##SFX(bool ta, const T *A, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc, \
                           T *restrict dst) {                                                              \
    for (int64_t ir = 0; ir < mc; ir += MR) {                                                              \
      int64_t mr = mc - ir < MR ? mc - ir : MR;                                                            \
      if (!ta) {                                                                                           \
        for (int64_t i = 0; i < mr; i++) {                                                                 \
          const T *src = A + (i0 + ir + i) * lda + p0;                                                     \
          for (int64_t p = 0; p < kc; p++) dst[p * MR + i] = src[p];                                       \
        }                                                                                                  \
      } else {                                                                                             \
        for (int64_t p = 0; p < kc; p++) {                                                                 \
          const T *src = A + (p0 + p) * lda + i0 + ir;                                                     \
          for (int64_t i = 0; i < mr; i++) dst[p * MR + i] = src[i];                                       \
        }                                                                                                  \
      }                                                                                                    \
      for (int64_t i = mr; i < MR; i++)                                                                    \
        for (int64_t p = 0; p < kc; p++) dst[p * MR + i] = 0;                                              \
      dst += MR * kc;                                                                                      \
    }                                                                                                      \
  }                                                                                                        \
  /* pack op(B)[p0:p0+kc, j0:j0+nc] into NR-wide slivers, zero padded */                                  \
  static void pack_b_##SFX(bool tb, const T *B, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc, \
                           T *restrict dst) {                                                              \
    for (int64_t jr = 0; jr < nc; jr += NR) {                                                              \
      int64_t nr = nc - jr < NR ? nc - jr : NR;                                                            \
      if (!tb) {                                                                                           \
        for (int64_t p = 0; p < kc; p++) {                                                                 \
          const T *src = B + (p0 + p) * ldb + j0 + jr;                                                     \
          T *d = dst + p * NR;                                                                             \
          if (nr == NR) {                                                                                  \
            for (int j = 0; j < NR; j++) d[j] = src[j];                                                    \
          } else {                                                                                         \
            for (int64_t j = 0; j < nr; j++) d[j] = src[j];                                                \
            for (int64_t j = nr; j < NR; j++) d[j] = 0;                                                    \
          }                                                                                                \
        }                                                                                                  \
      } else {                                                                                             \
        for (int64_t j = 0; j < nr; j++) {                                                                 \
          const T *src = B + (j0 + jr + j) * ldb + p0;                                                     \
          for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = src[p];                                       \
        }                                                                                                  \
        for (int64_t j = nr; j < NR; j++)                                                                  \
          for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = 0;                                            \
      }                                                                                                    \
      dst += NR * kc;                                                                                      \
    }                                                                                                      \
  }                                                                                                        \
  /* C[0:mr, 0:nr] = alpha * (a-sliver x b-sliver) + beta * C (C not read when beta == 0) */               \
  static void micro_##SFX(int64_t kc, const T *restrict a, const T *restrict b, T *restrict C, int64_t ldc,  \
                          T alpha, T beta, int64_t mr, int64_t nr) {                                       \
    T acc[MR][NR];                                                                                         \
    for (int i = 0; i < MR; i++)                                                                           \
      for (int j = 0; j < NR; j++) acc[i][j] = 0;                                                          \
    for (int64_t p = 0; p < kc; p++) {                                                                     \
      const T *ap = a + p * MR, *bp = b + p * NR;                                                          \
      T bv[NR];                                                                                            \
      for (int j = 0; j < NR; j++) bv[j] = bp[j];                                                          \
      SN_UNROLL for (int i = 0; i < MR; i++) {                                                             \
        T av = ap[i];                                                                                      \
        SN_UNROLL for (int j = 0; j < NR; j++) acc[i][j] += av * bv[j];                                    \
      }                                                                                                    \
    }                                                                                                      \
    if (mr == MR && nr == NR) {                                                                            \
      if (beta == 0) {                                                                                     \
        for (int i = 0; i < MR; i++)                                                                       \
          for (int j = 0; j < NR; j++) C[i * ldc + j] = alpha * acc[i][j];                                 \
      } else if (beta == 1) {                                                                              \
        for (int i = 0; i < MR; i++)                                                                       \
          for (int j = 0; j < NR; j++) C[i * ldc + j] += alpha * acc[i][j];                                \
      } else {                                                                                             \
        for (int i = 0; i < MR; i++)                                                                       \
          for (int j = 0; j < NR; j++) C[i * ldc + j] = alpha * acc[i][j] + beta * C[i * ldc + j];         \
      }                                                                                                    \
    } else {                                                                                               \
      for (int64_t i = 0; i < mr; i++)                                                                     \
        for (int64_t j = 0; j < nr; j++) {                                                                 \
          T v = alpha * acc[i][j];                                                                         \
          C[i * ldc + j] = beta == 0 ? v : v + beta * C[i * ldc + j];                                      \
        }                                                                                                  \
    }                                                                                                      \
  }                                                                                                        \
  static void scale_c_##SFX(int64_t M, int64_t N, T beta, T *C, int64_t ldc) {                             \
    for (int64_t i = 0; i < M; i++) {                                                                      \
      T *c = C + i * ldc;                                                                                  \
      if (beta == 0)                                                                                       \
        for (int64_t j = 0; j < N; j++) c[j] = 0;                                                          \
      else if (beta != 1)                                                                                  \
        for (int64_t j = 0; j < N; j++) c[j] *= beta;                                                      \
    }                                                                                                      \
  }                                                                                                        \
  static void naive_##SFX(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda, \
                          const T *B, int64_t ldb, T beta, T *C, int64_t ldc) {                            \
    for (int64_t i = 0; i < M; i++)                                                                        \
      for (int64_t j = 0; j < N; j++) {                                                                    \
        T s = 0;                                                                                           \
        for (int64_t p = 0; p < K; p++) s += (ta ? A[p * lda + i] : A[i * lda + p]) * (tb ? B[j * ldb + p] : B[p * ldb + j]); \
        C[i * ldc + j] = beta == 0 ? alpha * s : alpha * s + beta * C[i * ldc + j];                        \
      }                                                                                                    \
  }                                                                                                        \
  /* dot product with 8 independent partial sums (vectorizes without reassociation) */                  \
  static T dot_##SFX(const T *restrict a, int64_t sa, const T *restrict b, int64_t sb, int64_t K) {       \
    T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                                   \
    int64_t k = 0;                                                                                         \
    if (sa == 1 && sb == 1) {                                                                              \
      for (; k + 8 <= K; k += 8)                                                                           \
        SN_UNROLL for (int u = 0; u < 8; u++) acc[u] += a[k + u] * b[k + u];                               \
    }                                                                                                      \
    T s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));               \
    for (; k < K; k++) s += a[k * sa] * b[k * sb];                                                         \
    return s;                                                                                              \
  }                                                                                                        \
  /* few rows (or one column): no packing; dot products or row updates along contiguous data */          \
  static void gemv_##SFX(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda, \
                         const T *B, int64_t ldb, T beta, T *C, int64_t ldc) {                             \
    int64_t sa = ta ? lda : 1; /* stride along k of a row of op(A) */                                     \
    for (int64_t i = 0; i < M; i++) {                                                                      \
      const T *a = ta ? A + i : A + i * lda;                                                               \
      T *c = C + i * ldc;                                                                                  \
      if (tb || N == 1) { /* op(B) columns are contiguous rows of B (or a single column) */               \
        int64_t sb = tb ? 1 : ldb;                                                                         \
        for (int64_t j = 0; j < N; j++) {                                                                  \
          T v = alpha * dot_##SFX(a, sa, tb ? B + j * ldb : B + j, sa == 1 ? sb : sb, K);                  \
          c[j] = beta == 0 ? v : v + beta * c[j];                                                          \
        }                                                                                                  \
      } else { /* c += a[k] * B[k, :] row by row */                                                        \
        if (beta == 0)                                                                                     \
          for (int64_t j = 0; j < N; j++) c[j] = 0;                                                        \
        else if (beta != 1)                                                                                \
          for (int64_t j = 0; j < N; j++) c[j] *= beta;                                                    \
        for (int64_t k = 0; k < K; k++) {                                                                  \
          T av = alpha * a[k * sa];                                                                        \
          const T *restrict b = B + k * ldb;                                                               \
          T *restrict cc = c;                                                                              \
          for (int64_t j = 0; j < N; j++) cc[j] += av * b[j];                                              \
        }                                                                                                  \
      }                                                                                                    \
    }                                                                                                      \
  }                                                                                                        \
  static void gemm_##SFX(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda, \
                         const T *B, int64_t ldb, T beta, T *C, int64_t ldc, void *ws) {                   \
    if (M <= 0 || N <= 0) return;                                                                          \
    if (K <= 0 || alpha == 0) {                                                                            \
      scale_c_##SFX(M, N, beta, C, ldc);                                                                   \
      return;                                                                                              \
    }                                                                                                      \
    if (M < MR || N == 1) {                                                                                \
      gemv_##SFX(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);                                    \
      return;                                                                                              \
    }                                                                                                      \
    void *own = NULL;                                                                                      \
    if (!ws) {                                                                                             \
      own = ws = sn_aligned_alloc(ROUND64(sizeof(T) * MC * KC) + ROUND64(sizeof(T) * KC * NC));            \
      if (!ws) {                                                                                           \
        naive_##SFX(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);                                 \
        return;                                                                                            \
      }                                                                                                    \
    }                                                                                                      \
    T *pa = (T *)ws;                                                                                       \
    T *pb = (T *)((char *)ws + ROUND64(sizeof(T) * MC * KC));                                              \
    for (int64_t j0 = 0; j0 < N; j0 += NC) {                                                               \
      int64_t nc = N - j0 < NC ? N - j0 : NC;                                                              \
      for (int64_t p0 = 0; p0 < K; p0 += KC) {                                                             \
        int64_t kc = K - p0 < KC ? K - p0 : KC;                                                            \
        T bet = p0 == 0 ? beta : (T)1;                                                                     \
        pack_b_##SFX(tb, B, ldb, p0, j0, kc, nc, pb);                                                      \
        for (int64_t i0 = 0; i0 < M; i0 += MC) {                                                           \
          int64_t mc = M - i0 < MC ? M - i0 : MC;                                                          \
          pack_a_##SFX(ta, A, lda, i0, p0, mc, kc, pa);                                                    \
          for (int64_t jr = 0; jr < nc; jr += NR) {                                                        \
            int64_t nr = nc - jr < NR ? nc - jr : NR;                                                      \
            const T *bs = pb + (jr / NR) * NR * kc;                                                        \
            for (int64_t ir = 0; ir < mc; ir += MR) {                                                      \
              int64_t mr = mc - ir < MR ? mc - ir : MR;                                                    \
              micro_##SFX(kc, pa + (ir / MR) * MR * kc, bs, C + (i0 + ir) * ldc + j0 + jr, ldc, alpha, bet, mr, \
                          nr);                                                                             \
            }                                                                                              \
          }                                                                                                \
        }                                                                                                  \
      }                                                                                                    \
    }                                                                                                      \
    if (own) sn_aligned_free(own);                                                                         \
  }

DEFINE_GEMM(f32, float, F32_MR, F32_NR, F32_KC, F32_MC, F32_NC)
DEFINE_GEMM(f64, double, F64_MR, F64_NR, F64_KC, F64_MC, F64_NC)

void sn_sgemm_ref(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws) {
  gemm_f32(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

void sn_dgemm_ref(bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha, const double *A,
                  int64_t lda, const double *B, int64_t ldb, double beta, double *C, int64_t ldc, void *ws) {
  gemm_f64(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

void sn_sgemm_naive(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  naive_f32(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Integer GEMM: i-p-j order so the inner loop runs along contiguous rows of B and C; products in
 * unsigned 64-bit (wrap-around, no undefined overflow). */
#define DEFINE_IGEMM(SFX, T)                                                                               \
  static void igemm_##SFX(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const T *A,     \
                          int64_t lda, const T *B, int64_t ldb, double beta, T *C, int64_t ldc) {          \
    bool plain = alpha == 1 && beta == 0;                                                                  \
    for (int64_t i = 0; i < M; i++) {                                                                      \
      T *c = C + i * ldc;                                                                                  \
      uint64_t accs[256];                                                                                  \
      for (int64_t j0 = 0; j0 < N; j0 += 256) {                                                            \
        int64_t nb = N - j0 < 256 ? N - j0 : 256;                                                          \
        for (int64_t j = 0; j < nb; j++) accs[j] = 0;                                                      \
        for (int64_t p = 0; p < K; p++) {                                                                  \
          uint64_t a = (uint64_t)(ta ? A[p * lda + i] : A[i * lda + p]);                                   \
          if (!tb) {                                                                                       \
            const T *b = B + p * ldb + j0;                                                                 \
            for (int64_t j = 0; j < nb; j++) accs[j] += a * (uint64_t)b[j];                                \
          } else {                                                                                         \
            for (int64_t j = 0; j < nb; j++) accs[j] += a * (uint64_t)B[(j0 + j) * ldb + p];               \
          }                                                                                                \
        }                                                                                                  \
        for (int64_t j = 0; j < nb; j++) {                                                                 \
          if (plain) {                                                                                     \
            c[j0 + j] = (T)accs[j];                                                                        \
          } else {                                                                                         \
            double v = alpha * (double)(T)accs[j];                                                         \
            if (beta != 0) v += beta * (double)c[j0 + j];                                                  \
            c[j0 + j] = (T)v;                                                                              \
          }                                                                                                \
        }                                                                                                  \
      }                                                                                                    \
    }                                                                                                      \
  }

DEFINE_IGEMM(i32, int32_t)
DEFINE_IGEMM(i64, int64_t)
DEFINE_IGEMM(u32, uint32_t)
DEFINE_IGEMM(u64, uint64_t)

void sn_igemm_ref(sn_dtype dt, bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha,
                  const void *A, int64_t lda, const void *B, int64_t ldb, double beta, void *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  switch (dt) {
    case SINTER_INT32: igemm_i32(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return;
    case SINTER_INT64: igemm_i64(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return;
    case SINTER_UINT32: igemm_u32(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return;
    case SINTER_UINT64: igemm_u64(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return;
    default: sn_gemm_ref_generic(dt, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return;
  }
}

void sn_gemm_ref_generic(sn_dtype dt, bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha,
                         const void *A, int64_t lda, const void *B, int64_t ldb, double beta, void *C,
                         int64_t ldc) {
  bool isf = sn_dt(dt)->is_float;
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      int64_t ia0 = transA ? i : i * lda, sa = transA ? lda : 1;
      int64_t ib0 = transB ? j * ldb : j, sb = transB ? 1 : ldb;
      if (isf) {
        double s = 0;
        for (int64_t p = 0; p < K; p++) s += sn_load_f64(dt, A, ia0 + p * sa) * sn_load_f64(dt, B, ib0 + p * sb);
        double v = alpha * s;
        if (beta != 0) v += beta * sn_load_f64(dt, C, i * ldc + j);
        sn_store_f64(dt, C, i * ldc + j, v);
      } else {
        uint64_t s = 0;
        for (int64_t p = 0; p < K; p++)
          s += (uint64_t)sn_load_i64(dt, A, ia0 + p * sa) * (uint64_t)sn_load_i64(dt, B, ib0 + p * sb);
        if (alpha == 1 && beta == 0) {
          sn_store_i64(dt, C, i * ldc + j, (int64_t)s);
        } else {
          double v = alpha * (double)(int64_t)s;
          if (beta != 0) v += beta * (double)sn_load_i64(dt, C, i * ldc + j);
          sn_store_f64(dt, C, i * ldc + j, v);
        }
      }
    }
}
