/* The executor: a frame holds the per-run state of one graph (value table, arena, scratch) and
 * replays the graph's steps in order, releasing values after their last use. A frame is reused
 * across runs of the same plan, so after the first run a run allocates nothing of its own. */
#ifndef SN_EXECUTOR_H
#define SN_EXECUTOR_H

#include "ops/op.h"
#include "plan/plan.h"
#include "runtime/threadpool.h"

#define SN_SCRATCH_BLOCKS 16

#define SN_RECYCLE_SLOTS 16

typedef struct sn_frame sn_frame;
struct sn_frame {
  const sn_graph *g;
  const sn_plan *plan; /* liveness always; arena offsets when plan->types was given */
  const sn_frame *parent;
  sn_threadpool *pool;
  uint8_t *arena;
  sn_tensor **vals;   /* current value of each value id (NULL: not computed / released) */
  sn_tensor *hdrs;    /* headers for values living in the arena or borrowed memory */
  uint8_t *owned;     /* vals[v] is a heap tensor owned by the frame */
  sn_tensor **bind_out; /* caller-provided output tensors, by value id (NULL entries: none) */
  void *scratch[SN_SCRATCH_BLOCKS];
  size_t scratch_cap[SN_SCRATCH_BLOCKS], scratch_used[SN_SCRATCH_BLOCKS];
  void *discard;
  size_t discard_cap;
  const sn_tensor **in; /* the step's inputs, as many as the widest node has (NULL past a node's) */
  /* buffers of released run-time-shaped values kept for the next ones (fresh pages fault in on every
   * run: a detection model's 15 MB Expand spent 7 ms there); capacities in bytes */
  void *recycled[SN_RECYCLE_SLOTS];
  size_t recycled_cap[SN_RECYCLE_SLOTS];
  uint64_t *step_start_ns; /* when non-NULL: each step's start time and duration (profiling) */
  uint64_t *step_ns;
  /* when non-NULL (with step_ns): per step and pool thread, its first chunk's start and last chunk's
   * end (step i, thread t at [i * threads + t]; 0 when the thread ran nothing) */
  uint64_t *thread_first_ns, *thread_last_ns;
  /* when non-NULL (profiling): per step i, at [2i] the first kernel it reported and at [2i + 1] the
   * first other one (runtime/prof.h; NULL when none) */
  const char **step_kernel;
};

/* Monotonic nanoseconds. */
uint64_t sn_now_ns(void);

sn_error *sn_frame_init(sn_frame *f, const sn_graph *g, const sn_plan *plan, const sn_frame *parent,
                        sn_threadpool *pool);
/* Bind a value (graph input) to a tensor the caller keeps alive for the run (no copy). */
void sn_frame_bind(sn_frame *f, int v, const sn_tensor *t);
/* Bind initializers, input defaults and captured outer values; then run every step. */
sn_error *sn_frame_run(sn_frame *f);
/* Take value v out of the frame: a tensor the caller owns (moved when the frame owns it, else a copy). */
sn_error *sn_frame_take(sn_frame *f, int v, sn_tensor **out);
/* Release every value (keeps the arena and scratch for the next run). */
void sn_frame_reset(sn_frame *f);
void sn_frame_destroy(sn_frame *f);

/* Evaluate one node on given inputs (constant folding); outputs receive new tensors. */
sn_error *sn_exec_fold(void *ctx, const sn_graph *g, const sn_node *n, const sn_tensor *const *inputs,
                       sn_tensor **outputs);

#endif
