/* Unit test: the intra-op thread pool. Static and dynamic partitioning cover every index exactly
 * once for awkward sizes, every thread of the pool takes part, profiling records each thread's
 * work, and an idle pool uses no CPU: after a burst of jobs, the process's CPU time over a quiet
 * interval (IDLE_SECONDS, default 1) stays under 2% of it. */
#include <pthread.h>
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

static void *busy(void *p) { /* keeps a core busy until *p is set */
  while (!__atomic_load_n((int *)p, __ATOMIC_RELAXED)) {
  }
  return NULL;
}

/* Every thread takes part, and the profiling hooks see it. A thread whose core is taken when a job
 * starts may find its chunk done by the others: so over up to 20 jobs, each thread runs a chunk of
 * at least one of them, and the trace of every job agrees with its work. Beside a busy thread a
 * worker that waits for jobs by sched_yield() in a loop missed 20 jobs in a row (it got its core
 * back only at the scheduler's ticks, in step with these 4 ms jobs); one that spins then sleeps is
 * woken when its job comes. */
static void every_thread_takes_part(sn_threadpool *tp, int threads, const char *where) {
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
  char what[128];
  for (int t = 0; t < threads; t++) all &= took[t];
  snprintf(what, sizeof what, "each of %d threads ran a chunk and the trace records it%s", threads, where);
  check(all && traced, what);
}

int main(void) {
  static const int64_t sizes[] = {1, 2, 3, 7, 64, 1000, 100003};
  for (int threads = 1; threads <= 4; threads++) {
    sn_threadpool *tp;
    if (sn_threadpool_create(threads, -1, &tp)) {
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
    every_thread_takes_part(tp, threads, "");
    if (threads == 2) { /* beside a thread of another job that keeps one core busy */
      pthread_t hog;
      int stop = 0;
      if (pthread_create(&hog, NULL, busy, &stop) != 0) return 1;
      every_thread_takes_part(tp, threads, " beside a busy thread");
      __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
      pthread_join(hog, NULL);
    }
    sn_threadpool_free(tp);
  }

  /* many short jobs on more threads than cores, and on a pool that sleeps at once (spin 0): workers
   * come late to most of them (their jobs taken by the others, or gone when they look), and every
   * job still covers its indices exactly once, with nothing run twice or for the wrong job */
  static const int configs[][2] = {{4, -1}, {2, 0}}; /* threads, spin_us */
  for (int c = 0; c < 2; c++) {
    sn_threadpool *tp;
    if (sn_threadpool_create(configs[c][0], configs[c][1], &tp)) return 1;
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
    char what[128];
    snprintf(what, sizeof what, "20000 short static and dynamic jobs on %d threads (spin %d us) each cover their indices once",
             configs[c][0], configs[c][1]);
    check(!bad, what);
    sn_threadpool_free(tp);
  }

  /* idle: workers spin at most briefly, then sleep */
  sn_threadpool *tp;
  if (sn_threadpool_create(2, -1, &tp)) return 1;
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
