/* Fast float32 GEMM: picks the best micro-kernel (AVX-512, AVX2+FMA, portable reference) once per
 * process from sn_cpu_isa(); same contract as sn_sgemm_ref (see kernels/ref/gemm_ref.h). */
#ifndef SN_GEMM_H
#define SN_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of workspace sn_sgemm needs (a constant covering every implementation; 64-byte aligned
 * memory expected). */
size_t sn_sgemm_workspace(void);

/* C = alpha * op(A) * op(B) + beta * C, row-major; when beta == 0, C is not read. ws: workspace of
 * sn_sgemm_workspace() bytes, or NULL to allocate one per call. */
void sn_sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *ws);

/* Name of the micro-kernel sn_sgemm uses, e.g. "f32_gemm_14x32_avx512" (for the profiler). */
const char *sn_sgemm_kernel_name(void);

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
size_t sn_sgemm_avx512bf16_workspace(void);

#endif
