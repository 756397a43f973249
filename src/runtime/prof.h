/* Which kernels ran, per step, for the profiler (`sinter profile`). While a profiled run executes a
 * step, sn_prof_slot points at that step's two entries (on the caller and on the pool workers that
 * help with it); kernel dispatchers call SN_PROF_KERNEL(name) where they pick an implementation.
 * Entry 0 keeps the first name reported in the step (a Winograd layer reports itself before its
 * GEMMs), entry 1 the first name that differs from it (an LSTM's recurrent small-M GEMM after its
 * input projection). Outside profiling the slot is NULL and a hook costs one thread-local load and
 * a branch. */
#ifndef SN_PROF_H
#define SN_PROF_H

#include <stdbool.h>
#include <stdint.h>

extern _Thread_local const char **sn_prof_slot;

/* Record name in the current slot (any thread may call it). */
void sn_prof_note(const char *name);

#define SN_PROF_KERNEL(name)                                              \
  do {                                                                    \
    if (__builtin_expect(sn_prof_slot != NULL, 0)) sn_prof_note(name);    \
  } while (0)

/* The float32 GEMM's hook: name is the micro-kernel's (sn_sgemm_impl.name, the bf16 or reference
 * kernel's); when that implementation takes its small-M path for M rows (M <= its small_m, and
 * small_ok: the call allows it), the small-M kernel's name of that ISA is recorded instead. */
void sn_prof_note_sgemm(const char *name, int64_t M, bool small_ok);
#define SN_PROF_SGEMM(name, M, small_ok)                                                   \
  do {                                                                                     \
    if (__builtin_expect(sn_prof_slot != NULL, 0)) sn_prof_note_sgemm(name, M, small_ok);  \
  } while (0)

#endif
