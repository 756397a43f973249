/* Per-step kernel names for the profiler (see prof.h). */
#include "runtime/prof.h"

#include <string.h>

#include "kernels/gemm.h"

_Thread_local const char **sn_prof_slot;

void sn_prof_note(const char *name) {
  const char **slot = sn_prof_slot;
  if (!slot || !name) return;
  const char *seen = NULL;
  if (__atomic_compare_exchange_n(&slot[0], &seen, name, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED) || seen == name)
    return;
  const char *other = __atomic_load_n(&slot[1], __ATOMIC_RELAXED);
  if (other || strcmp(seen, name) == 0) return;
  __atomic_compare_exchange_n(&slot[1], &other, name, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

void sn_prof_note_sgemm(const char *name, int64_t M, bool small_ok) {
  if (small_ok && name == sn_sgemm_avx512_name && M <= sn_sgemm_avx512_impl.small_m)
    name = "f32_gemm_smallM_avx512";
  else if (small_ok && name == sn_sgemm_avx2_name && M <= sn_sgemm_avx2_impl.small_m)
    name = "f32_gemm_smallM_avx2";
  sn_prof_note(name);
}
