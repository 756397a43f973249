/* A small pthread pool (see threadpool.h).
 *
 * A job is a number of items: static partitioning makes one contiguous chunk per thread, dynamic
 * one per `grain` indices. Items are handed out from one 64-bit ticket, the job's generation in the
 * high half and the next item in the low half, claimed by compare-and-swap. Whoever comes takes the
 * next item, the caller included (for static jobs the caller's chunk, item 0, is reserved for it),
 * and the caller waits for the job's items to be finished, not for its workers to turn up: a worker
 * whose core was taken (another process, the host of a virtual machine) while the others did its
 * share finds the job gone when it returns and holds up nobody.
 *
 * The job's fields are written only while the ticket's item half reads TICKET_LOCKED (a seqlock):
 * a worker reads them after loading the ticket and before its compare-and-swap, which fails if the
 * ticket moved meanwhile, so a worker only ever runs an item with the fields of that item's job.
 *
 * Between jobs a worker spins on the ticket for a bounded time (the pool's spin_ns), then sleeps on
 * `wake`. The caller spins on `finished` as long, then sleeps on `done`. Spinning, not
 * sched_yield(): a thread that yields in a loop while another process wants its core gets the core
 * back only at the scheduler's ticks, out of step with the jobs (test_threadpool caught its worker
 * missing 20 jobs in a row beside one busy process), while a sleeper is woken when its job comes. */
#include "runtime/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "runtime/cpu.h"
#include "runtime/prof.h"

/* How long an idle worker or a waiting caller spins before sleeping, unless the session says:
 * SPIN_NS in a pool with no more threads than the CPUs the process may run on, SPIN_CROWDED_NS in
 * one with more (there a spinning thread holds a core that a thread with work is waiting for). A
 * run's serial stretches (EfficientNet's squeeze-excitation blocks, a few small ops in a row) often
 * outlast 50 us, and a sleeping worker costs the next parallel step a wake-up through the kernel,
 * tens of microseconds in a virtual machine; 1 ms covers most of them. An idle pool still sleeps
 * after it (test_threadpool measures its CPU time). */
#define SPIN_NS 1000000
#define SPIN_CROWDED_NS 50000
#define TICKET_LOCKED 0xFFFFFFFFu /* item half while a job's fields are being written */
#define TICKET_MAX_ITEMS 0x7FFFFFFF /* items a job may have (dynamic grains grow to stay below) */

struct sn_threadpool {
  int n;
  uint64_t spin_ns; /* how long an idle thread spins before it sleeps */
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  pthread_mutex_t busy; /* held by the caller of a parallel_for for its whole duration */
  uint64_t ticket;      /* generation << 32 | next item to hand out */
  int64_t finished;     /* items of the current job finished */
  int caller_sleeps;    /* the caller of the current job waits on `done` (set with the mutex held) */
  int stop;
  /* the current job (read and written with relaxed atomics; see the seqlock above) */
  sn_range_fn fn;
  void *arg;
  int64_t total, grain, items; /* grain 0: static partitioning, one item per thread */
  int isa_cap;             /* the caller's ISA cap, applied on the workers for the job */
  const char **prof_slot;  /* the caller's profiler slot (runtime/prof.h), likewise */
  int tracing;
  uint64_t *tr_first, *tr_last;
};

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint32_t ticket_gen(uint64_t t) { return (uint32_t)(t >> 32); }

typedef struct job_view {
  sn_range_fn fn;
  void *arg;
  int64_t total, grain, items;
  int isa_cap;
  const char **prof_slot;
} job_view;

#define LD(f) __atomic_load_n(&tp->f, __ATOMIC_RELAXED)
static job_view read_job(const sn_threadpool *tp) {
  job_view v = {LD(fn), LD(arg), LD(total), LD(grain), LD(items), LD(isa_cap), LD(prof_slot)};
  return v;
}
#undef LD

/* indices [b, e) of item i */
static void item_range(const job_view *v, int64_t i, int n, int64_t *b, int64_t *e) {
  if (v->grain > 0) {
    *b = i * v->grain;
    *e = *b + v->grain < v->total ? *b + v->grain : v->total;
  } else {
    int64_t per = v->total / n, extra = v->total % n;
    *b = i * per + (i < extra ? i : extra);
    *e = *b + per + (i < extra ? 1 : 0);
  }
}

/* one item finished: the last wakes the caller if it went to sleep */
static void item_done(sn_threadpool *tp, int64_t items) {
  if (__atomic_add_fetch(&tp->finished, 1, __ATOMIC_SEQ_CST) == items &&
      __atomic_load_n(&tp->caller_sleeps, __ATOMIC_SEQ_CST)) {
    pthread_mutex_lock(&tp->mu);
    pthread_cond_signal(&tp->done);
    pthread_mutex_unlock(&tp->mu);
  }
}

static void run_item(sn_threadpool *tp, int idx, const job_view *v, int64_t i, bool worker) {
  int64_t b, e;
  item_range(v, i, tp->n, &b, &e);
  if (b < e) {
    uint64_t t0 = tp->tracing ? now_ns() : 0;
    if (worker) {
      sn_cpu_set_thread_cap(v->isa_cap);
      sn_prof_slot = v->prof_slot;
    }
    v->fn(v->arg, b, e);
    if (worker) sn_prof_slot = NULL;
    if (t0) {
      if (!tp->tr_first[idx]) tp->tr_first[idx] = t0;
      tp->tr_last[idx] = now_ns();
    }
  }
  item_done(tp, v->items);
}

/* take and run items of job `gen` until none is left (or the job is gone) */
static void take_items(sn_threadpool *tp, int idx, uint32_t gen, bool worker) {
  for (;;) {
    uint64_t t = __atomic_load_n(&tp->ticket, __ATOMIC_ACQUIRE);
    if (ticket_gen(t) != gen) return;
    if ((uint32_t)t == TICKET_LOCKED) { /* (its fields are being written: a moment) */
      sn_cpu_relax();
      continue;
    }
    job_view v = read_job(tp);
    if ((int64_t)(uint32_t)t >= v.items) return;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (!__atomic_compare_exchange_n(&tp->ticket, &t, t + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) continue;
    run_item(tp, idx, &v, (int64_t)(uint32_t)t, worker);
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
  uint32_t seen = 0;
  for (;;) {
    /* bounded spin for the next job, then sleep */
    uint64_t t0 = now_ns();
    for (int k = 1; ticket_gen(__atomic_load_n(&tp->ticket, __ATOMIC_ACQUIRE)) == seen &&
                    !__atomic_load_n(&tp->stop, __ATOMIC_RELAXED);
         k++) {
      sn_cpu_relax();
      if ((k & 63) == 0 && now_ns() - t0 > tp->spin_ns) break;
    }
    uint32_t g = ticket_gen(__atomic_load_n(&tp->ticket, __ATOMIC_ACQUIRE));
    if (g == seen && !__atomic_load_n(&tp->stop, __ATOMIC_ACQUIRE)) {
      pthread_mutex_lock(&tp->mu);
      while (!tp->stop && ticket_gen(__atomic_load_n(&tp->ticket, __ATOMIC_RELAXED)) == seen)
        pthread_cond_wait(&tp->wake, &tp->mu);
      g = ticket_gen(__atomic_load_n(&tp->ticket, __ATOMIC_RELAXED));
      pthread_mutex_unlock(&tp->mu);
    }
    if (__atomic_load_n(&tp->stop, __ATOMIC_ACQUIRE)) break;
    seen = g;
    take_items(tp, idx, g, true);
  }
  return NULL;
}

sn_error *sn_threadpool_create(int n_threads, int spin_us, sn_threadpool **out) {
  *out = NULL;
  if (n_threads < 1) n_threads = 1;
  sn_threadpool *tp = sn_calloc(1, sizeof *tp);
  if (!tp) return SN_ERR_OOM();
  tp->n = n_threads;
  if (spin_us >= 0) {
    tp->spin_ns = (uint64_t)spin_us * 1000u;
  } else {
    cpu_set_t cpus;
    const int ncpu = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    tp->spin_ns = n_threads <= ncpu ? SPIN_NS : SPIN_CROWDED_NS;
  }
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
  int64_t items = tp->n;
  if (grain > 0) {
    if ((n + grain - 1) / grain > TICKET_MAX_ITEMS) grain = (n + TICKET_MAX_ITEMS - 1) / TICKET_MAX_ITEMS;
    items = (n + grain - 1) / grain;
  }
  /* publish: lock the ticket under the new generation, write the fields, then open it (static: at
   * item 1, the caller's chunk being item 0) */
  pthread_mutex_lock(&tp->mu);
  uint32_t gen = ticket_gen(__atomic_load_n(&tp->ticket, __ATOMIC_RELAXED)) + 1;
  if (gen == 0) gen = 1; /* (0 is what a new worker has seen) */
  __atomic_store_n(&tp->ticket, (uint64_t)gen << 32 | TICKET_LOCKED, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  __atomic_store_n(&tp->fn, fn, __ATOMIC_RELAXED);
  __atomic_store_n(&tp->arg, arg, __ATOMIC_RELAXED);
  __atomic_store_n(&tp->total, n, __ATOMIC_RELAXED);
  __atomic_store_n(&tp->grain, grain, __ATOMIC_RELAXED);
  __atomic_store_n(&tp->items, items, __ATOMIC_RELAXED);
  __atomic_store_n(&tp->isa_cap, sn_cpu_thread_cap(), __ATOMIC_RELAXED);
  __atomic_store_n(&tp->prof_slot, sn_prof_slot, __ATOMIC_RELAXED);
  __atomic_store_n(&tp->finished, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&tp->ticket, (uint64_t)gen << 32 | (grain > 0 ? 0u : 1u), __ATOMIC_RELEASE);
  pthread_cond_broadcast(&tp->wake);
  pthread_mutex_unlock(&tp->mu);
  if (grain == 0) {
    job_view v = read_job(tp);
    run_item(tp, 0, &v, 0, false);
  }
  take_items(tp, 0, gen, false);
  /* every item is taken; wait for those still running on workers */
  uint64_t t0 = now_ns();
  for (int k = 1; __atomic_load_n(&tp->finished, __ATOMIC_ACQUIRE) < items; k++) {
    sn_cpu_relax();
    if ((k & 63) == 0 && now_ns() - t0 > tp->spin_ns) break;
  }
  if (__atomic_load_n(&tp->finished, __ATOMIC_ACQUIRE) < items) {
    /* caller_sleeps is set before finished is read again (both sequentially consistent): either the
     * last item's count is seen here, or its worker sees the flag and signals under the mutex */
    pthread_mutex_lock(&tp->mu);
    __atomic_store_n(&tp->caller_sleeps, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&tp->finished, __ATOMIC_SEQ_CST) < items) pthread_cond_wait(&tp->done, &tp->mu);
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
