/* Run-time dispatch of the float32 GEMM to the best implementation the CPU (and SINTER_ISA) allow. */
#include "kernels/gemm.h"

#include "kernels/ref/gemm_ref.h"
#include "runtime/cpu.h"

typedef void (*sn_sgemm_fn)(bool, bool, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,
                            int64_t, float, float *, int64_t, void *);

/* Chosen per call from sn_cpu_isa(), which is read once from the CPU but honours the cap of the
 * calling thread (a session's ISA option) and SINTER_ISA; the check is a thread-local load. */
static sn_sgemm_fn pick(const char **name, bool bf16_ok) {
  if (bf16_ok && sn_cpu_use_bf16()) { /* the session's precision option (bf16) on a CPU with AVX512-BF16 */
    *name = sn_sgemm_avx512bf16_name;
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
  pick(&name, M >= 16 && N >= 16)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

const char *sn_sgemm_kernel_name(void) {
  const char *name;
  pick(&name, true);
  return name;
}
