/* The intra-op thread pool: persistent workers that sleep when idle; parallel_for splits a range
 * into contiguous chunks, one per thread, the calling thread taking the first. */
#ifndef SN_THREADPOOL_H
#define SN_THREADPOOL_H

#include <stdint.h>

#include "core/error.h"

typedef struct sn_threadpool sn_threadpool;
typedef void (*sn_range_fn)(void *arg, int64_t begin, int64_t end);

/* n_threads includes the caller; 1 means no workers. */
sn_error *sn_threadpool_create(int n_threads, sn_threadpool **out);
void sn_threadpool_free(sn_threadpool *tp);
int sn_threadpool_size(const sn_threadpool *tp);
/* Run fn over [0, n) in chunks; runs inline when tp is NULL, single-threaded, n is small, or the pool
 * is busy with another run. */
void sn_parallel_for(sn_threadpool *tp, int64_t n, sn_range_fn fn, void *arg);

#endif
