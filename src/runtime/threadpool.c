/* A small pthread pool (see threadpool.h): a job is published by bumping `generation`; workers spin
 * on it for a bounded time, then sleep on `wake`. The caller spins on `remaining`, then sleeps on
 * `done`. Both counters are read atomically while spinning and changed with the mutex held (so a
 * sleeper cannot miss its wake-up). */
#include "runtime/threadpool.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "runtime/cpu.h"
#include "runtime/prof.h"

#define SPIN_NS 50000 /* how long an idle worker or a waiting caller spins before sleeping */

struct sn_threadpool {
  int n;
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  pthread_mutex_t busy; /* held by the caller of a parallel_for for its whole duration */
  uint64_t generation;
  int remaining;
  int caller_sleeps; /* the caller of the current job waits on `done` (set with the mutex held) */
  int stop;
  sn_range_fn fn;
  void *arg;
  int64_t total, grain; /* grain > 0: dynamic partitioning, next item in `next` */
  int64_t next;
  int isa_cap; /* the caller's ISA cap, applied on the workers for the job */
  const char **prof_slot; /* the caller's profiler slot (runtime/prof.h), likewise */
  int tracing;
  uint64_t *tr_first, *tr_last;
};

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void run_chunk(sn_threadpool *tp, int idx) {
  uint64_t t0 = tp->tracing ? now_ns() : 0;
  if (tp->grain > 0) {
    for (;;) {
      int64_t b = __atomic_fetch_add(&tp->next, tp->grain, __ATOMIC_RELAXED);
      if (b >= tp->total) break;
      tp->fn(tp->arg, b, b + tp->grain < tp->total ? b + tp->grain : tp->total);
    }
  } else {
    int64_t per = tp->total / tp->n, extra = tp->total % tp->n;
    int64_t b = idx * per + (idx < extra ? idx : extra);
    int64_t e = b + per + (idx < extra ? 1 : 0);
    if (b < e) tp->fn(tp->arg, b, e);
  }
  if (tp->tracing) {
    if (!tp->tr_first[idx]) tp->tr_first[idx] = t0;
    tp->tr_last[idx] = now_ns();
  }
}

typedef struct {
  sn_threadpool *tp;
  int idx;
} worker_arg;

static void *worker(void *p) {
  worker_arg *wa = p;
  sn_threadpool *tp = wa->tp;
  int idx = wa->idx;
  sn_free(wa);
  uint64_t seen = 0;
  for (;;) {
    /* bounded spin for the next job, then sleep */
    uint64_t t0 = now_ns();
    for (int k = 1; __atomic_load_n(&tp->generation, __ATOMIC_ACQUIRE) == seen && !__atomic_load_n(&tp->stop, __ATOMIC_RELAXED); k++) {
      sn_cpu_relax();
      if ((k & 63) == 0 && now_ns() - t0 > SPIN_NS) break;
    }
    /* A job seen while spinning is taken without the mutex: the caller wrote its fields before the
     * release store of `generation`, and cannot change them before this worker's chunk is done.
     * (Taking the mutex here contended with the caller, which holds it to publish the job: an empty
     * job on 2 threads took 0.80 us, now 0.72.) */
    uint64_t g = __atomic_load_n(&tp->generation, __ATOMIC_ACQUIRE);
    if (g == seen && !__atomic_load_n(&tp->stop, __ATOMIC_ACQUIRE)) {
      pthread_mutex_lock(&tp->mu);
      while (!tp->stop && tp->generation == seen) pthread_cond_wait(&tp->wake, &tp->mu);
      g = tp->generation;
      pthread_mutex_unlock(&tp->mu);
    }
    if (__atomic_load_n(&tp->stop, __ATOMIC_ACQUIRE)) break;
    seen = g;
    sn_cpu_set_thread_cap(tp->isa_cap);
    sn_prof_slot = tp->prof_slot;
    run_chunk(tp, idx);
    sn_prof_slot = NULL;
    /* the caller is signalled only when it went to sleep (see run_job): a worker taking the mutex
     * while the caller moves on to its next job would make that job's publication wait on it */
    if (__atomic_sub_fetch(&tp->remaining, 1, __ATOMIC_SEQ_CST) == 0 && __atomic_load_n(&tp->caller_sleeps, __ATOMIC_SEQ_CST)) {
      pthread_mutex_lock(&tp->mu);
      pthread_cond_signal(&tp->done);
      pthread_mutex_unlock(&tp->mu);
    }
  }
  return NULL;
}

sn_error *sn_threadpool_create(int n_threads, sn_threadpool **out) {
  *out = NULL;
  if (n_threads < 1) n_threads = 1;
  sn_threadpool *tp = sn_calloc(1, sizeof *tp);
  if (!tp) return SN_ERR_OOM();
  tp->n = n_threads;
  pthread_mutex_init(&tp->mu, NULL);
  pthread_mutex_init(&tp->busy, NULL);
  pthread_cond_init(&tp->wake, NULL);
  pthread_cond_init(&tp->done, NULL);
  tp->tr_first = sn_calloc((size_t)n_threads * 2, sizeof(uint64_t));
  if (!tp->tr_first) {
    tp->n = 1;
    sn_threadpool_free(tp);
    return SN_ERR_OOM();
  }
  tp->tr_last = tp->tr_first + n_threads;
  if (n_threads > 1) {
    tp->threads = sn_calloc((size_t)n_threads, sizeof(pthread_t));
    if (!tp->threads) {
      tp->n = 1;
      sn_threadpool_free(tp);
      return SN_ERR_OOM();
    }
    for (int i = 1; i < n_threads; i++) {
      worker_arg *wa = sn_malloc(sizeof *wa);
      if (!wa) {
        tp->n = i;
        sn_threadpool_free(tp);
        return SN_ERR_OOM();
      }
      wa->tp = tp;
      wa->idx = i;
      if (pthread_create(&tp->threads[i], NULL, worker, wa) != 0) {
        sn_free(wa);
        tp->n = i;
        sn_threadpool_free(tp);
        return sn_errorf(SINTER_ERR_RUNTIME, "could not start thread %d of %d", i, n_threads);
      }
    }
  }
  *out = tp;
  return NULL;
}

void sn_threadpool_free(sn_threadpool *tp) {
  if (!tp) return;
  pthread_mutex_lock(&tp->mu);
  __atomic_store_n(&tp->stop, 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&tp->wake);
  pthread_mutex_unlock(&tp->mu);
  for (int i = 1; i < tp->n && tp->threads; i++) pthread_join(tp->threads[i], NULL);
  sn_free(tp->threads);
  sn_free(tp->tr_first);
  pthread_mutex_destroy(&tp->mu);
  pthread_mutex_destroy(&tp->busy);
  pthread_cond_destroy(&tp->wake);
  pthread_cond_destroy(&tp->done);
  sn_free(tp);
}

int sn_threadpool_size(const sn_threadpool *tp) { return tp ? tp->n : 1; }

static void run_job(sn_threadpool *tp, int64_t n, int64_t grain, sn_range_fn fn, void *arg) {
  if (n <= 0) return;
  if (!tp || tp->n == 1 || n == 1 || pthread_mutex_trylock(&tp->busy) != 0) {
    uint64_t t0 = tp && tp->tracing ? now_ns() : 0;
    fn(arg, 0, n);
    if (t0) { /* (a busy pool's tracing belongs to the run that holds it; only the owner reads it) */
      if (!tp->tr_first[0]) tp->tr_first[0] = t0;
      tp->tr_last[0] = now_ns();
    }
    return;
  }
  pthread_mutex_lock(&tp->mu);
  tp->fn = fn;
  tp->arg = arg;
  tp->total = n;
  tp->grain = grain;
  tp->next = 0;
  tp->isa_cap = sn_cpu_thread_cap();
  tp->prof_slot = sn_prof_slot;
  __atomic_store_n(&tp->remaining, tp->n - 1, __ATOMIC_RELAXED);
  __atomic_store_n(&tp->generation, tp->generation + 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&tp->wake);
  pthread_mutex_unlock(&tp->mu);
  run_chunk(tp, 0);
  uint64_t t0 = now_ns();
  for (int k = 1; __atomic_load_n(&tp->remaining, __ATOMIC_ACQUIRE) > 0; k++) {
    sn_cpu_relax();
    if ((k & 63) == 0 && now_ns() - t0 > SPIN_NS) break;
  }
  if (__atomic_load_n(&tp->remaining, __ATOMIC_ACQUIRE) > 0) {
    /* caller_sleeps is set before remaining is read again (both sequentially consistent): either the
     * last worker's decrement is seen here, or that worker sees the flag and signals under the mutex */
    pthread_mutex_lock(&tp->mu);
    __atomic_store_n(&tp->caller_sleeps, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&tp->remaining, __ATOMIC_SEQ_CST) > 0) pthread_cond_wait(&tp->done, &tp->mu);
    __atomic_store_n(&tp->caller_sleeps, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&tp->mu);
  }
  pthread_mutex_unlock(&tp->busy);
}

void sn_parallel_for(sn_threadpool *tp, int64_t n, sn_range_fn fn, void *arg) { run_job(tp, n, 0, fn, arg); }

void sn_parallel_for_dynamic(sn_threadpool *tp, int64_t n, int64_t grain, sn_range_fn fn, void *arg) {
  run_job(tp, n, grain < 1 ? 1 : grain, fn, arg);
}

void sn_threadpool_trace_begin(sn_threadpool *tp) {
  if (!tp) return;
  memset(tp->tr_first, 0, sizeof(uint64_t) * 2 * (size_t)tp->n);
  tp->tracing = 1;
}

void sn_threadpool_trace_end(sn_threadpool *tp, uint64_t *first, uint64_t *last) {
  if (!tp) return;
  tp->tracing = 0;
  memcpy(first, tp->tr_first, sizeof(uint64_t) * (size_t)tp->n);
  memcpy(last, tp->tr_last, sizeof(uint64_t) * (size_t)tp->n);
}
