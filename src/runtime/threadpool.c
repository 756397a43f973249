/* A small pthread pool (see threadpool.h). Workers block on a condition variable between jobs, so an
 * idle session uses no CPU. */
#include "runtime/threadpool.h"

#include <pthread.h>

#include "core/alloc.h"
#include "runtime/cpu.h"

struct sn_threadpool {
  int n;
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  pthread_mutex_t busy; /* held by the caller of a parallel_for for its whole duration */
  uint64_t generation;
  int remaining;
  int stop;
  sn_range_fn fn;
  void *arg;
  int64_t total;
  int isa_cap; /* the caller's ISA cap, applied on the workers for the job */
};

static void run_chunk(sn_threadpool *tp, int idx) {
  int64_t per = tp->total / tp->n, extra = tp->total % tp->n;
  int64_t b = idx * per + (idx < extra ? idx : extra);
  int64_t e = b + per + (idx < extra ? 1 : 0);
  if (b < e) tp->fn(tp->arg, b, e);
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
  pthread_mutex_lock(&tp->mu);
  for (;;) {
    while (!tp->stop && tp->generation == seen) pthread_cond_wait(&tp->wake, &tp->mu);
    if (tp->stop) break;
    seen = tp->generation;
    pthread_mutex_unlock(&tp->mu);
    sn_cpu_set_thread_cap(tp->isa_cap);
    run_chunk(tp, idx);
    pthread_mutex_lock(&tp->mu);
    if (--tp->remaining == 0) pthread_cond_signal(&tp->done);
  }
  pthread_mutex_unlock(&tp->mu);
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
  if (n_threads > 1) {
    tp->threads = sn_calloc((size_t)n_threads, sizeof(pthread_t));
    if (!tp->threads) {
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
  tp->stop = 1;
  pthread_cond_broadcast(&tp->wake);
  pthread_mutex_unlock(&tp->mu);
  for (int i = 1; i < tp->n && tp->threads; i++) pthread_join(tp->threads[i], NULL);
  sn_free(tp->threads);
  pthread_mutex_destroy(&tp->mu);
  pthread_mutex_destroy(&tp->busy);
  pthread_cond_destroy(&tp->wake);
  pthread_cond_destroy(&tp->done);
  sn_free(tp);
}

int sn_threadpool_size(const sn_threadpool *tp) { return tp ? tp->n : 1; }

void sn_parallel_for(sn_threadpool *tp, int64_t n, sn_range_fn fn, void *arg) {
  if (n <= 0) return;
  if (!tp || tp->n == 1 || n == 1 || pthread_mutex_trylock(&tp->busy) != 0) {
    fn(arg, 0, n);
    return;
  }
  pthread_mutex_lock(&tp->mu);
  tp->fn = fn;
  tp->arg = arg;
  tp->total = n;
  tp->isa_cap = sn_cpu_thread_cap();
  tp->remaining = tp->n - 1;
  tp->generation++;
  pthread_cond_broadcast(&tp->wake);
  pthread_mutex_unlock(&tp->mu);
  run_chunk(tp, 0);
  pthread_mutex_lock(&tp->mu);
  while (tp->remaining > 0) pthread_cond_wait(&tp->done, &tp->mu);
  pthread_mutex_unlock(&tp->mu);
  pthread_mutex_unlock(&tp->busy);
}
