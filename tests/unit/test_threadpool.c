/* Unit test: the intra-op thread pool. Static and dynamic partitioning cover every index exactly
 * once for awkward sizes, every thread of the pool takes part, profiling records each thread's
 * work, and an idle pool uses no CPU: after a burst of jobs, the process's CPU time over a quiet
 * interval (IDLE_SECONDS, default 1) stays under 2% of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/threadpool.h"
#include "check.h"

typedef struct {
  int *hits;
} job;

static void mark(void *p, int64_t b, int64_t e) {
  job *j = p;
  for (int64_t i = b; i < e; i++) __atomic_add_fetch(&j->hits[i], 1, __ATOMIC_RELAXED);
}

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void spin_ms(void *p, int64_t b, int64_t e) { /* ~1 ms of work per item, so every thread joins */
  (void)p;
  for (int64_t i = b; i < e; i++) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 1000000L);
  }
}

int main(void) {
  static const int64_t sizes[] = {1, 2, 3, 7, 64, 1000, 100003};
  for (int threads = 1; threads <= 4; threads++) {
    sn_threadpool *tp;
    if (sn_threadpool_create(threads, &tp)) {
      printf("FAIL cannot create a pool of %d\n", threads);
      return 1;
    }
    check(sn_threadpool_size(tp) == threads, "pool size is the requested thread count");
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
      for (int dyn = 0; dyn < 2; dyn++) {
        int64_t n = sizes[k];
        job j = {calloc((size_t)n, sizeof(int))};
        for (int rep = 0; rep < 3; rep++) {
          if (dyn)
            sn_parallel_for_dynamic(tp, n, 1 + n / 37, mark, &j);
          else
            sn_parallel_for(tp, n, mark, &j);
        }
        int ok = 1;
        for (int64_t i = 0; i < n; i++) ok &= j.hits[i] == 3;
        char what[96];
        snprintf(what, sizeof what, "%s partitioning covers [0,%lld) once per job on %d threads",
                 dyn ? "dynamic" : "static", (long long)n, threads);
        check(ok, what);
        free(j.hits);
      }
    }
    /* every thread takes part, and the profiling hooks see it. (A thread whose core is taken when
     * the job starts may find its chunk done by the others: so over up to 20 jobs, each thread
     * runs a chunk of at least one of them, and the trace of every job agrees with its work.) */
    int took[4] = {0}, traced = 1;
    for (int rep = 0; rep < 20; rep++) {
      uint64_t first[4] = {0}, last[4] = {0};
      sn_threadpool_trace_begin(tp);
      sn_parallel_for(tp, threads * 2, spin_ms, NULL);
      sn_threadpool_trace_end(tp, first, last);
      int64_t busy_ns = 0;
      for (int t = 0; t < threads; t++) {
        if (!first[t]) continue;
        took[t] = 1;
        traced &= last[t] >= first[t] + 1000000u; /* each chunk is 2 items of 1 ms */
        busy_ns += (int64_t)(last[t] - first[t]);
      }
      traced &= first[0] > 0 && busy_ns >= (int64_t)threads * 2 * 1000000; /* the caller, and all the work */
      int all = 1;
      for (int t = 0; t < threads; t++) all &= took[t];
      if (all) break;
    }
    int all = 1;
    for (int t = 0; t < threads; t++) all &= took[t];
    check(all && traced, "each thread ran a chunk and the trace records it");
    sn_threadpool_free(tp);
  }

  /* many short jobs on more threads than cores: workers come late to most of them (their jobs
   * taken by the others, or gone when they look), and every job still covers its indices exactly
   * once, with nothing run twice or for the wrong job */
  {
    sn_threadpool *tp;
    if (sn_threadpool_create(4, &tp)) return 1;
    int hits[64] = {0}, bad = 0;
    job j = {hits};
    for (int rep = 0; rep < 20000 && !bad; rep++) {
      int64_t n = 1 + rep % 61;
      memset(hits, 0, sizeof hits);
      if (rep & 1)
        sn_parallel_for_dynamic(tp, n, 1 + rep % 3, mark, &j);
      else
        sn_parallel_for(tp, n, mark, &j);
      for (int64_t i = 0; i < 64; i++) bad |= hits[i] != (i < n);
    }
    check(!bad, "20000 short static and dynamic jobs on 4 threads each cover their indices once");
    sn_threadpool_free(tp);
  }

  /* idle: workers spin at most briefly, then sleep */
  sn_threadpool *tp;
  if (sn_threadpool_create(2, &tp)) return 1;
  int64_t n = 4096;
  job j = {calloc((size_t)n, sizeof(int))};
  for (int rep = 0; rep < 200; rep++) sn_parallel_for(tp, n, mark, &j);
  free(j.hits);
  double secs = getenv("IDLE_SECONDS") ? atof(getenv("IDLE_SECONDS")) : 1.0;
  double c0 = cpu_seconds();
  usleep((useconds_t)(secs * 1e6));
  double used = cpu_seconds() - c0;
  printf("idle pool of 2 threads: %.2f ms of CPU time over %.1f s\n", used * 1e3, secs);
  check(used < 0.02 * secs, "an idle pool uses (almost) no CPU");
  sn_threadpool_free(tp);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
