/* The intra-op thread pool: exactly n_threads threads (the caller plus n_threads - 1 persistent
 * workers). Between jobs a worker spins briefly (1 ms by default, so the parallel loops of one run do
 * not pay a futex wake-up each) and then sleeps on a condition variable, so an idle session uses no
 * CPU (tests/unit/test_threadpool.c measures it). */
#ifndef SN_THREADPOOL_H
#define SN_THREADPOOL_H

#include <stdint.h>

#include "core/error.h"

typedef struct sn_threadpool sn_threadpool;
typedef void (*sn_range_fn)(void *arg, int64_t begin, int64_t end);

/* n_threads includes the caller; 1 means no workers. spin_us: how long an idle thread spins before it
 * sleeps, in microseconds; negative for the default (1 ms, or 50 us in a pool with more threads than
 * the CPUs the process may run on). */
sn_error *sn_threadpool_create(int n_threads, int spin_us, sn_threadpool **out);
void sn_threadpool_free(sn_threadpool *tp);
int sn_threadpool_size(const sn_threadpool *tp);

/* Static partitioning: fn over [0, n) in one contiguous chunk per thread (n/threads each, the first
 * n%threads one more), the calling thread taking the first. The other chunks go to the threads as
 * they come: a thread that is late (its core taken by another process) finds its chunk done by the
 * others, and the call never waits for a thread that took nothing. So a chunk may run on any thread,
 * and two chunks one after another on one thread. Runs inline when tp is NULL, single-threaded, n
 * is 1, or the pool is busy with another run (concurrent runs on one session). */
void sn_parallel_for(sn_threadpool *tp, int64_t n, sn_range_fn fn, void *arg);
/* Dynamic partitioning: fn over [0, n) in chunks of `grain` items handed out on demand, so threads
 * that finish early take more (for work of uneven cost). The same rules apply. */
void sn_parallel_for_dynamic(sn_threadpool *tp, int64_t n, int64_t grain, sn_range_fn fn, void *arg);

/* A spin-wait iteration's hint to the core (x86 PAUSE): for loops that wait on another thread. */
static inline void sn_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Profiling: between trace_begin and trace_end each thread records when it started its first chunk
 * and finished its last (CLOCK_MONOTONIC ns, sn_now_ns); trace_end copies sn_threadpool_size()
 * entries into first/last (0 for a thread that ran nothing) and stops recording. */
void sn_threadpool_trace_begin(sn_threadpool *tp);
void sn_threadpool_trace_end(sn_threadpool *tp, uint64_t *first, uint64_t *last);

#endif
