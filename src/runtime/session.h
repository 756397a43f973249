/* Sessions: a loaded, optimized model plus a cache of plans (one per input-shape signature), each
 * with a pool of frames so concurrent runs never share per-run state. */
#ifndef SN_SESSION_H
#define SN_SESSION_H

#include <pthread.h>

#include "ir/ir.h"
#include "plan/plan.h"
#include "runtime/cpu.h"
#include "runtime/executor.h"
#include "runtime/threadpool.h"

/* batch splitting (plan/batch_split.h): where the heuristic expects a gain, never, or wherever the
 * graph allows it */
typedef enum sn_split_mode { SN_SPLIT_AUTO = 0, SN_SPLIT_OFF = 1, SN_SPLIT_ON = 2 } sn_split_mode;
/* "auto" / "off" / "on" -> the mode; -1 when unknown or NULL */
int sn_split_mode_parse(const char *s);

struct sinter_options {
  int threads;
  int opt_level;
  int isa; /* sn_isa, or 3 = auto */
  int precision; /* 0 fp32, 1 bf16 (float32 GEMMs in bfloat16), -1 auto: SINTER_PRECISION or fp32 */
  int spin_us;   /* how long an idle pool thread spins before sleeping; -1 auto: SINTER_SPIN_US or the pool's default */
  int batch_split; /* sn_split_mode; SN_SPLIT_AUTO (0) also reads SINTER_BATCH_SPLIT */
  /* internal (tools that write the optimized model back): every initializer keeps its data, so
   * packed weights do not take over their buffers */
  bool keep_weights;
};

typedef struct sn_plan_entry {
  struct sn_plan_entry *next;
  int64_t *sig;
  size_t sig_len;
  sn_plan *plan;
  sn_frame **free_frames;
  int n_free, cap_free;
} sn_plan_entry;

/* A batch-split decision per input signature (at the full batch). out_dims: per graph output, its
 * batch-1 shape (rank out_rank[k]) when split. */
typedef struct sn_split_entry {
  struct sn_split_entry *next;
  int64_t *sig;
  size_t sig_len;
  bool split;
  int *out_rank;
  int64_t (*out_dims)[SN_MAX_RANK];
} sn_split_entry;

typedef struct sn_io_info {
  sinter_value_info info;
  int value; /* value id in the main graph */
  int64_t *dims;
  const char **dim_names;
} sn_io_info;

struct sinter_session {
  sn_model *model;
  sn_graph *g;
  struct sinter_options opts;
  sn_isa isa;
  bool amx; /* AMX kernels allowed (no ISA cap at avx512 or below) */
  bool bf16; /* precision bf16 asked for and faster here than float32 (AMX-BF16, or AVX512-BF16 off Intel) */
  sn_threadpool *pool;
  int n_in, n_out;
  sn_io_info *in, *out;
  /* accept inputs whose shape differs from the declared one (the ONNX backend runner's behaviour;
   * set by `sinter test` only, since the suite has test data that contradicts its own models) */
  bool relaxed_input_shapes;
  pthread_mutex_t mu;
  sn_plan_entry *plans;
  int n_plans;
  sn_split_entry *splits;
  sn_split_mode split_mode; /* the option, SINTER_BATCH_SPLIT resolved */
};

typedef struct sinter_session sn_session;

/* The thread cap a run of s sets: its ISA (3, no cap, where AMX is allowed), plus SN_CAP_BF16 for precision bf16. */
static inline int sn_session_cap(const struct sinter_session *s) {
  return (s->amx ? 3 : (int)s->isa) | (s->bf16 ? SN_CAP_BF16 : 0);
}
/* "fp32" / "bf16" / "auto" -> 0 / 1 / -1; -2 when unknown */
int sn_precision_parse(const char *s);

/* Internal entry points used by the CLI and tests (the public API wraps these). */
sn_error *sn_session_create_model(sn_model *m, const struct sinter_options *opts, sn_session **out);
/* Run with values addressed by graph value id; outputs receive owned tensors (or fill bound ones). */
sn_error *sn_session_run(sn_session *s, int n_inputs, const int *input_values, const sn_tensor *const *inputs,
                         int n_outputs, const int *output_values, sn_tensor **outputs);
/* Per-step timing of one run (profiling): arrays of g->n_nodes entries the caller provides. */
typedef struct sn_run_timing {
  uint64_t *step_start_ns;
  uint64_t *step_ns;
  uint64_t run_start_ns, run_ns; /* the whole run, binding and output hand-off included */
  /* optional: per step and intra-op thread, first chunk start and last chunk end (g->n_nodes x
   * pool size entries each, see sn_frame) */
  uint64_t *thread_first_ns, *thread_last_ns;
  /* optional: per step i, the first kernel it ran at [2i] and the first other one at [2i + 1]
   * (2 x g->n_nodes entries; NULL where the op computed with its own code and reported no kernel;
   * see runtime/prof.h) */
  const char **step_kernel;
} sn_run_timing;

/* sn_session_run with optional per-step timing (timing may be NULL). */
sn_error *sn_session_run_timed(sn_session *s, int n_inputs, const int *input_values, const sn_tensor *const *inputs,
                               int n_outputs, const int *output_values, sn_tensor **outputs, sn_run_timing *timing);

/* The plan a run of these inputs executes: with may_split, the batch-1 plan, with *split set, when the
 * session runs the batch as separate samples (plan/batch_split.h); else the plan of the inputs as
 * they are (sn_session_plan). */
sn_error *sn_session_run_plan(sn_session *s, int n_inputs, const int *input_values, const sn_tensor *const *inputs,
                              const sn_plan **out, bool *split, bool may_split);
/* The plan used for these input shapes (building it if needed); for inspection tools. */
sn_error *sn_session_plan(sn_session *s, int n_inputs, const int *input_values, const sn_tensor *const *inputs,
                          const sn_plan **out);

#endif
