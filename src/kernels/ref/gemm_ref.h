/* Portable reference GEMM: C = alpha * op(A) * op(B) + beta * C, cache-blocked with packed panels and
 * a register-tile micro-kernel written so compilers auto-vectorize it. The truth SIMD GEMMs are
 * tested against.
 *
 * Row-major throughout: op(A) is M x K (A is M x K with row stride lda, or K x M when transA),
 * op(B) is K x N (B is K x N with row stride ldb, or N x K when transB), C is M x N with row stride
 * ldc. When beta == 0, C is not read (so it may hold garbage or NaN). */
#ifndef SN_GEMM_REF_H
#define SN_GEMM_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"

/* Bytes of workspace the blocked GEMMs need (a constant; 64-byte aligned memory expected). */
size_t sn_gemm_ref_workspace(sn_dtype dt);

/* ws: workspace of sn_gemm_ref_workspace(SINTER_FLOAT) bytes, or NULL to allocate one per call
 * (falling back to an unblocked loop if that fails). */
void sn_sgemm_ref(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws);
void sn_dgemm_ref(bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha, const double *A,
                  int64_t lda, const double *B, int64_t ldb, double beta, double *C, int64_t ldc, void *ws);

/* Integer GEMM for int32/int64/uint32/uint64 with wrap-around arithmetic (no workspace). alpha and
 * beta are applied in double only when they are not 1 and 0 (Gemm on integers); the plain product
 * stays exact. */
void sn_igemm_ref(sn_dtype dt, bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha,
                  const void *A, int64_t lda, const void *B, int64_t ldb, double beta, void *C, int64_t ldc);

/* Generic slow path for any numeric dtype (via double / int64 loads): used for odd types only. */
void sn_gemm_ref_generic(sn_dtype dt, bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha,
                         const void *A, int64_t lda, const void *B, int64_t ldb, double beta, void *C,
                         int64_t ldc);

/* Unblocked textbook triple loop in float32 (for tests and tiny problems). */
void sn_sgemm_naive(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#endif
