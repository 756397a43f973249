/* Session creation (load -> resolve ops -> infer -> optimize), the plan cache, and runs. */
#include "runtime/session.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "ir/infer.h"
#include "onnx/onnx.h"
#include "kernels/ref/nn_util.h"
#include "passes/pipeline.h"
#include "passes/passes.h"
#include "plan/batch_split.h"

#define SN_FOLD_LIMIT_LOAD 4096
#define SN_FOLD_LIMIT_PLAN 65536

/* The newest opset of the default domain Sinter implements (onnx 1.19). A model that needs a newer
 * one is refused at load, naming the version, rather than run with older semantics. */
#define SN_MAX_OPSET 24

static sn_error *check_opsets(const sn_model *m, const char *path) {
  int64_t v = sn_model_opset(m, "");
  if (v > SN_MAX_OPSET)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED,
                     "%s: the model imports opset %lld of the ai.onnx domain; Sinter implements opsets 1 to %d",
                     path, (long long)v, SN_MAX_OPSET);
  return NULL;
}

static sn_error *check_graph_outputs(sn_graph *g, const char *path) {
  for (int k = 0; k < g->n_outputs; k++) {
    const sn_value *v = &g->values[g->outputs[k]];
    if (v->role == SN_VAL_INTERMEDIATE && v->producer < 0)
      return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: graph output '%s' is not produced by any node", path, v->name);
  }
  return NULL;
}

static sn_error *build_io(sn_session *s, int n, const int *ids, sn_io_info **out) {
  sn_io_info *io = sn_calloc((size_t)(n ? n : 1), sizeof *io);
  if (!io) return SN_ERR_OOM();
  *out = io;
  for (int i = 0; i < n; i++) {
    const sn_value *v = &s->g->values[ids[i]];
    int r = v->type.rank;
    io[i].value = ids[i];
    io[i].info.name = v->name;
    io[i].info.dtype = v->type.dtype;
    io[i].info.rank = r;
    if (r > 0) {
      io[i].dims = sn_malloc(sizeof(int64_t) * (size_t)r);
      io[i].dim_names = sn_calloc((size_t)r, sizeof(char *));
      if (!io[i].dims || !io[i].dim_names) return SN_ERR_OOM();
      for (int d = 0; d < r; d++) {
        io[i].dims[d] = v->type.dims[d].v >= 0 ? v->type.dims[d].v : -1;
        io[i].dim_names[d] = v->type.dims[d].sym;
      }
    }
    io[i].info.dims = io[i].dims;
    io[i].info.dim_names = io[i].dim_names;
  }
  return NULL;
}

static void free_io(sn_io_info *io, int n) {
  if (!io) return;
  for (int i = 0; i < n; i++) {
    sn_free(io[i].dims);
    sn_free(io[i].dim_names);
  }
  sn_free(io);
}

void sinter_session_free(sinter_session *s) {
  if (!s) return;
  for (sn_plan_entry *e = s->plans, *next; e; e = next) {
    next = e->next;
    for (int i = 0; i < e->n_free; i++) {
      sn_frame_destroy(e->free_frames[i]);
      sn_free(e->free_frames[i]);
    }
    sn_free(e->free_frames);
    sn_plan_free(e->plan);
    sn_free(e->sig);
    sn_free(e);
  }
  for (sn_split_entry *e = s->splits, *next; e; e = next) {
    next = e->next;
    sn_free(e->sig);
    sn_free(e->out_rank);
    sn_free(e->out_dims);
    sn_free(e);
  }
  sn_threadpool_free(s->pool);
  free_io(s->in, s->n_in);
  free_io(s->out, s->n_out);
  sn_model_free(s->model);
  pthread_mutex_destroy(&s->mu);
  sn_free(s);
}

/* Ops' prepack hooks over the optimized graph. A packed weight may take over its initializer's
 * buffer (held once) unless the session must keep the graph writable (keep_weights); under bf16
 * the packed operand's bf16 copy is made first (sn_nn_prepack). */
static sn_error *prepack_weights(sn_session *s) {
  bool take = !s->opts.keep_weights;
  for (int i = 0; i < s->g->n_nodes; i++) {
    sn_node *n = &s->g->nodes[i];
    if (!n->op || !n->op->prepack) continue;
    sn_error *e = n->op->prepack(s->g, n, n->params, take);
    if (e) {
      sn_nn_prepack_release();
      char desc[512];
      return sn_error_wrap(e, "packing the weights of %s", sn_node_desc(n, desc, sizeof desc));
    }
  }
  sn_nn_prepack_release();
  return NULL;
}

sn_error *sn_session_create_model(sn_model *m, const struct sinter_options *opts, sn_session **out) {
  *out = NULL;
  sn_session *s = sn_calloc(1, sizeof *s);
  if (!s) {
    sn_model_free(m);
    return SN_ERR_OOM();
  }
  pthread_mutex_init(&s->mu, NULL);
  s->model = m;
  s->g = m->graph;
  s->opts = opts ? *opts : (struct sinter_options){0, 3, 3, -1};
  s->isa = sn_cpu_isa();
  if (s->opts.isa >= 0 && s->opts.isa < (int)s->isa) s->isa = (sn_isa)s->opts.isa;
  /* AMX where neither the options nor the creating thread's cap stop at avx512 or below */
  s->amx = s->opts.isa > SN_ISA_AVX512 && (sn_cpu_thread_cap() & 0xff) > SN_ISA_AVX512;
  int prec = s->opts.precision;
  if (prec < 0) prec = sn_precision_parse(getenv("SINTER_PRECISION")) == 1 ? 1 : 0;
  /* bf16 where it is faster than float32 (runtime/cpu.h, sn_cpu_use_bf16): AMX-BF16 tiles this
   * session may use, or AVX512-BF16 vector kernels on cores that issue vdpbf16ps as often as FMAs
   * (not Intel's); else the session is float32 and says so */
  s->bf16 = prec == 1 && sn_cpu_info()->avx512_bf16 && s->isa >= SN_ISA_AVX512 &&
            (sn_cpu_bf16_vector_fast() || (s->amx && sn_cpu_has_amx_bf16()));
  const char *path = m->path ? m->path : "<memory>";
  sn_error *e = NULL;
  if (!s->g) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: model has no graph", path);
    goto fail;
  }
  if (s->g->n_outputs == 0) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: graph has no outputs", path);
    goto fail;
  }
  sn_infer_opts io = {true, sn_exec_fold, NULL, SN_FOLD_LIMIT_LOAD};
  if ((e = check_opsets(m, path))) goto fail;
  /* IR < 4 lists every weight as a graph input with an initializer of the same name: treat those as
   * the initializers they are, so callers see (and must feed) only the real inputs and the passes
   * can fold them */
  {
    int w = 0;
    for (int k = 0; k < s->g->n_inputs; k++) {
      sn_value *v = &s->g->values[s->g->inputs[k]];
      if (v->data)
        v->role = SN_VAL_INITIALIZER;
      else
        s->g->inputs[w++] = s->g->inputs[k];
    }
    s->g->n_inputs = w;
  }
  if ((e = check_graph_outputs(s->g, path))) goto fail;
  if (s->opts.opt_level >= 1) { /* (before inference: the types it infers are then float32) */
    int changed = 0;
    if ((e = sn_pass_fp16_to_fp32(s->g, &changed))) goto fail;
    const char *log = getenv("SINTER_PASS_LOG");
    if (log && *log == '1') fprintf(stderr, "sinter: pass %-20s %5d rewrites\n", "fp16-to-fp32", changed);
  }
  if ((e = sn_graph_resolve_and_infer(s->g, &io))) goto fail;
  {
    /* passes that choose layouts or kernels (layout-nchwc) see the session's ISA and precision */
    int prev_cap = sn_cpu_set_thread_cap(sn_session_cap(s));
    e = sn_optimize(s->g, s->opts.opt_level, sn_exec_fold);
    /* weights into the form their kernels read, once, under the same ISA as every run */
    if (!e) e = prepack_weights(s);
    sn_cpu_set_thread_cap(prev_cap);
    if (e) goto fail;
  }
  s->n_in = s->g->n_inputs;
  s->n_out = s->g->n_outputs;
  if ((e = build_io(s, s->n_in, s->g->inputs, &s->in))) goto fail;
  if ((e = build_io(s, s->n_out, s->g->outputs, &s->out))) goto fail;
  int threads = s->opts.threads > 0 ? s->opts.threads : sn_cpu_info()->physical_cores;
  int spin_us = s->opts.spin_us;
  if (spin_us < 0) { /* SINTER_SPIN_US, if a whole number of microseconds up to 1 s; else the pool's default */
    const char *env = getenv("SINTER_SPIN_US");
    char *end = NULL;
    long v = env && *env ? strtol(env, &end, 10) : -1;
    spin_us = end && !*end && v >= 0 && v <= 1000000 ? (int)v : -1;
  }
  if ((e = sn_threadpool_create(threads, spin_us, &s->pool))) goto fail;
  s->split_mode = (sn_split_mode)s->opts.batch_split;
  if (s->split_mode == SN_SPLIT_AUTO) {
    int env = sn_split_mode_parse(getenv("SINTER_BATCH_SPLIT"));
    if (env >= 0) s->split_mode = (sn_split_mode)env;
  }
  *out = s;
  return NULL;
fail:
  if (e && m->path && !strstr(e->msg, m->path)) e = sn_error_wrap(e, "%s", m->path);
  sinter_session_free(s);
  return e;
}

/* ---- plans --------------------------------------------------------------------------------------- */

/* signature: for each graph input, (fed?, dtype, kind, rank, dims...) */
static size_t make_sig(const sn_session *s, const sn_tensor *const *bound, int64_t *sig) {
  size_t k = 0;
  for (int i = 0; i < s->n_in; i++) {
    const sn_tensor *t = bound[i];
    if (!t) {
      if (sig) sig[k] = -1;
      k++;
      continue;
    }
    if (sig) {
      sig[k] = t->dtype;
      sig[k + 1] = t->kind;
      sig[k + 2] = t->rank;
      for (int d = 0; d < t->rank; d++) sig[k + 3 + d] = t->dims[d];
    }
    k += 3 + (size_t)(t->kind == SN_KIND_TENSOR ? t->rank : 0);
  }
  return k;
}

/* The signature of these inputs in `small` (256 entries) or, when longer, in a new buffer (free it
 * when it is not `small`); NULL on OOM. */
static int64_t *sig_of(const sn_session *s, const sn_tensor *const *bound, int64_t *small, size_t *len) {
  *len = make_sig(s, bound, NULL);
  int64_t *sig = *len <= 256 ? small : sn_malloc(sizeof(int64_t) * *len);
  if (sig) make_sig(s, bound, sig);
  return sig;
}

/* A copy of a signature for a cache entry; NULL on OOM. */
static int64_t *sig_dup(const int64_t *sig, size_t len) {
  int64_t *d = sn_malloc(sizeof(int64_t) * (len ? len : 1));
  if (d) memcpy(d, sig, sizeof(int64_t) * len);
  return d;
}

/* The types (and folded values: *known_out, freed with free_known) of every value with the fed
 * inputs' shapes, axis 0 replaced by `batch` when batch > 0. */
static sn_error *infer_at(sn_session *s, const sn_tensor *const *bound, int64_t batch, sn_type **types_out,
                          sn_tensor ***known_out) {
  sn_graph *g = s->g;
  int nv = g->n_values;
  sn_type *types = sn_malloc(sizeof(sn_type) * (size_t)(nv ? nv : 1));
  sn_tensor **known = sn_calloc((size_t)(nv ? nv : 1), sizeof(sn_tensor *));
  *types_out = NULL;
  *known_out = NULL;
  if (!types || !known) {
    sn_free(types);
    sn_free(known);
    return SN_ERR_OOM();
  }
  for (int v = 0; v < nv; v++) {
    types[v] = g->values[v].type;
    if (g->values[v].role == SN_VAL_INITIALIZER) known[v] = g->values[v].data;
  }
  for (int i = 0; i < s->n_in; i++) {
    const sn_tensor *t = bound[i];
    int v = s->in[i].value;
    if (!t) t = g->values[v].data;
    if (t && t->kind == SN_KIND_TENSOR) {
      int64_t dims[SN_MAX_RANK];
      memcpy(dims, t->dims, sizeof(int64_t) * (size_t)t->rank);
      if (batch > 0 && bound[i] && t->rank > 0) dims[0] = batch;
      sn_type_set_static(&types[v], t->dtype, t->rank, dims);
    }
  }
  sn_infer_opts io = {false, sn_exec_fold, NULL, SN_FOLD_LIMIT_PLAN};
  sn_error *e = sn_infer_graph(g, types, known, &io);
  if (e) {
    for (int v = 0; v < nv; v++)
      if (known[v] && known[v] != g->values[v].data) sn_tensor_free(known[v]);
    sn_free(known);
    sn_free(types);
    return e;
  }
  *types_out = types;
  *known_out = known;
  return NULL;
}

static void free_known(const sn_graph *g, sn_tensor **known) {
  if (!known) return;
  for (int v = 0; v < g->n_values; v++)
    if (known[v] && known[v] != g->values[v].data) sn_tensor_free(known[v]);
  sn_free(known);
}

static sn_error *build_plan(sn_session *s, const sn_tensor *const *bound, sn_plan **out) {
  sn_type *types = NULL;
  sn_tensor **known = NULL;
  SN_TRY(infer_at(s, bound, 0, &types, &known));
  free_known(s->g, known);
  return sn_plan_build(s->g, types, out);
}

static sn_error *acquire(sn_session *s, const sn_tensor *const *bound, sn_plan_entry **entry_out, sn_frame **frame_out) {
  int64_t sig_small[256];
  size_t len;
  int64_t *sig = sig_of(s, bound, sig_small, &len);
  if (!sig) return SN_ERR_OOM();
  sn_error *e = NULL;
  sn_plan_entry *entry = NULL;
  sn_frame *frame = NULL;
  pthread_mutex_lock(&s->mu);
  for (sn_plan_entry *p = s->plans; p; p = p->next)
    if (p->sig_len == len && !memcmp(p->sig, sig, len * sizeof(int64_t))) {
      entry = p;
      break;
    }
  if (entry && entry->n_free > 0) frame = entry->free_frames[--entry->n_free];
  pthread_mutex_unlock(&s->mu);
  if (!entry) {
    sn_plan *plan = NULL;
    if ((e = build_plan(s, bound, &plan))) goto done;
    sn_plan_entry *ne = sn_calloc(1, sizeof *ne);
    int64_t *nsig = sig_dup(sig, len);
    if (!ne || !nsig) {
      sn_free(ne);
      sn_free(nsig);
      sn_plan_free(plan);
      e = SN_ERR_OOM();
      goto done;
    }
    ne->sig = nsig;
    ne->sig_len = len;
    ne->plan = plan;
    pthread_mutex_lock(&s->mu);
    ne->next = s->plans;
    s->plans = ne;
    s->n_plans++;
    pthread_mutex_unlock(&s->mu);
    entry = ne;
  }
  if (!frame) {
    frame = sn_malloc(sizeof *frame);
    if (!frame) {
      e = SN_ERR_OOM();
      goto done;
    }
    if ((e = sn_frame_init(frame, s->g, entry->plan, NULL, s->pool))) {
      sn_free(frame);
      frame = NULL;
      goto done;
    }
  }
done:
  if (sig != sig_small) sn_free(sig);
  *entry_out = entry;
  *frame_out = frame;
  return e;
}

static void release_frame(sn_session *s, sn_plan_entry *entry, sn_frame *frame) {
  sn_frame_reset(frame);
  pthread_mutex_lock(&s->mu);
  if (entry->n_free == entry->cap_free) {
    int cap = entry->cap_free ? entry->cap_free * 2 : 4;
    sn_frame **p = sn_realloc(entry->free_frames, sizeof(sn_frame *) * (size_t)cap);
    if (p) {
      entry->free_frames = p;
      entry->cap_free = cap;
    }
  }
  if (entry->n_free < entry->cap_free) {
    entry->free_frames[entry->n_free++] = frame;
    frame = NULL;
  }
  pthread_mutex_unlock(&s->mu);
  if (frame) {
    sn_frame_destroy(frame);
    sn_free(frame);
  }
}

/* ---- runs ----------------------------------------------------------------------------------------- */

static sn_error *check_input(const sn_session *s, int i, const sn_tensor *t) {
  const sn_value *v = &s->g->values[s->in[i].value];
  const sn_type *want = &v->type;
  char a[256], b[256];
  const char *path = s->model->path ? s->model->path : "<memory>";
  if (t->kind != want->kind)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: input '%s' expects %s, got %s", path, v->name,
                     sn_type_str(want, a, sizeof a), sn_tensor_describe(t, b, sizeof b));
  /* an empty sequence or a None optional carries no element type */
  bool untyped = t->kind != SN_KIND_TENSOR && t->dtype == SINTER_UNDEFINED && t->n_items == 0;
  if (want->dtype && t->dtype != want->dtype && !untyped)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: input '%s' expects element type %s, got %s", path, v->name,
                     sn_dtype_name(want->dtype), sn_dtype_name(t->dtype));
  if (t->kind != SN_KIND_TENSOR || want->rank < 0 || s->relaxed_input_shapes) return NULL;
  bool ok = t->rank == want->rank;
  for (int d = 0; ok && d < t->rank; d++)
    if (want->dims[d].v >= 0 && want->dims[d].v != t->dims[d]) ok = false;
  if (!ok)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: input '%s' expects shape %s, got %s", path, v->name,
                     sn_type_str(want, a, sizeof a), sn_tensor_describe(t, b, sizeof b));
  return NULL;
}

static sn_error *bind_inputs(sn_session *s, int n_inputs, const int *input_values, const sn_tensor *const *inputs,
                             const sn_tensor **bound) {
  for (int i = 0; i < s->n_in; i++) bound[i] = NULL;
  for (int k = 0; k < n_inputs; k++) {
    int i = 0;
    while (i < s->n_in && s->in[i].value != input_values[k]) i++;
    if (i == s->n_in)
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "value %d is not a graph input", input_values[k]);
    if (!inputs[k])
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "input '%s' is NULL", s->in[i].info.name);
    SN_TRY(check_input(s, i, inputs[k]));
    bound[i] = inputs[k];
  }
  for (int i = 0; i < s->n_in; i++)
    if (!bound[i] && !s->g->values[s->in[i].value].data)
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: input '%s' was not given",
                       s->model->path ? s->model->path : "<memory>", s->in[i].info.name);
  return NULL;
}

/* the plan of these bound inputs (built and cached if needed), its frame handed straight back */
static sn_error *plan_of(sn_session *s, const sn_tensor *const *bound, const sn_plan **out) {
  sn_plan_entry *entry = NULL;
  sn_frame *frame = NULL;
  sn_error *e = acquire(s, bound, &entry, &frame);
  if (frame) release_frame(s, entry, frame);
  *out = entry ? entry->plan : NULL;
  return e;
}

sn_error *sn_session_plan(sn_session *s, int n_inputs, const int *input_values, const sn_tensor *const *inputs,
                          const sn_plan **out) {
  bool split;
  return sn_session_run_plan(s, n_inputs, input_values, inputs, out, &split, false);
}

sn_error *sn_session_run(sn_session *s, int n_inputs, const int *input_values, const sn_tensor *const *inputs,
                         int n_outputs, const int *output_values, sn_tensor **outputs) {
  return sn_session_run_timed(s, n_inputs, input_values, inputs, n_outputs, output_values, outputs, NULL);
}

/* One run of the plan for these inputs (bound[i] per graph input, NULL for a default); serial: on
 * the calling thread alone, with no pool (a sample of a split batch, beside the pool's others). */
static sn_error *run_bound(sn_session *s, const sn_tensor *const *bound, int n_outputs, const int *output_values,
                           sn_tensor **outputs, sn_run_timing *timing, bool serial) {
  sn_tensor *bind_small[64];
  sn_plan_entry *entry = NULL;
  sn_frame *frame = NULL;
  sn_tensor **bind = NULL;
  sn_threadpool *pool = NULL;
  sn_error *e = acquire(s, bound, &entry, &frame);
  if (e) goto done;
  pool = frame->pool;
  if (serial) frame->pool = NULL;
  for (int i = 0; i < s->n_in; i++)
    if (bound[i]) sn_frame_bind(frame, s->in[i].value, bound[i]);
  /* caller-provided output buffers: kernels write straight into them when shapes match */
  bool any_bound = false;
  for (int k = 0; k < n_outputs; k++) any_bound |= outputs[k] != NULL;
  if (any_bound) {
    int nv = s->g->n_values;
    bind = nv <= 64 ? bind_small : sn_calloc((size_t)nv, sizeof(sn_tensor *));
    if (!bind) {
      e = SN_ERR_OOM();
      goto done;
    }
    if (bind == bind_small) memset(bind, 0, sizeof bind_small);
    for (int k = 0; k < n_outputs; k++)
      if (outputs[k]) bind[output_values[k]] = outputs[k];
    frame->bind_out = bind;
  }
  if (timing) {
    frame->step_start_ns = timing->step_start_ns;
    frame->step_ns = timing->step_ns;
    frame->step_kernel = timing->step_kernel;
    if (s->pool) {
      frame->thread_first_ns = timing->thread_first_ns;
      frame->thread_last_ns = timing->thread_last_ns;
    }
  }
  int old_cap = sn_cpu_set_thread_cap(sn_session_cap(s)); /* the session's ISA and precision options */
  e = sn_frame_run(frame);
  sn_cpu_set_thread_cap(old_cap);
  if (e) goto done;
  for (int k = 0; k < n_outputs && !e; k++) {
    int v = output_values[k];
    sn_tensor *got = frame->vals[v];
    if (!got) {
      e = sn_errorf(SINTER_ERR_RUNTIME, "output '%s' was not computed", s->g->values[v].name);
      break;
    }
    if (outputs[k]) {
      sn_tensor *dst = outputs[k];
      if (got->data == dst->data && got->kind == SN_KIND_TENSOR) continue; /* written in place */
      char a[256], b[256];
      if (got->kind != SN_KIND_TENSOR || dst->dtype != got->dtype || dst->rank != got->rank ||
          (got->rank && memcmp(dst->dims, got->dims, sizeof(int64_t) * (size_t)got->rank))) {
        e = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "output '%s' is %s but the caller's buffer is %s",
                      s->g->values[v].name, sn_tensor_describe(got, a, sizeof a), sn_tensor_describe(dst, b, sizeof b));
        break;
      }
      if (got->dtype == SINTER_STRING) {
        e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "string output '%s' into a caller buffer", s->g->values[v].name);
        break;
      }
      memcpy(dst->data, got->data, got->nbytes);
    } else {
      /* the same value requested twice gets a copy the second time */
      e = sn_frame_take(frame, v, &outputs[k]);
      if (!e && !frame->vals[v]) frame->vals[v] = outputs[k]; /* keep readable for repeats */
    }
  }
  if (e)
    for (int k = 0; k < n_outputs; k++)
      if (outputs[k] && !(bind && bind[output_values[k]] == outputs[k])) {
        sn_tensor_free(outputs[k]);
        outputs[k] = NULL;
      }
done:
  if (frame) {
    frame->pool = pool;
    frame->step_start_ns = frame->step_ns = NULL;
    frame->step_kernel = NULL;
    frame->thread_first_ns = frame->thread_last_ns = NULL;
    /* values handed to the caller are no longer the frame's */
    for (int k = 0; k < n_outputs; k++)
      if (outputs[k] && frame->vals[output_values[k]] == outputs[k]) frame->vals[output_values[k]] = NULL;
    release_frame(s, entry, frame);
  }
  if (bind && bind != bind_small) sn_free(bind);
  return e;
}

/* ---- batch splitting (plan/batch_split.h) ----------------------------------------------------------- */

/* The batch size when every fed input is a tensor batched along axis 0 (the same size), else 0. */
static int64_t fed_batch(const sn_session *s, const sn_tensor *const *bound) {
  int64_t n = 0;
  for (int i = 0; i < s->n_in; i++) {
    const sn_tensor *t = bound[i];
    if (!t) continue;
    if (t->kind != SN_KIND_TENSOR || t->rank < 1 || t->dtype == SINTER_STRING) return 0;
    if (n && t->dims[0] != n) return 0;
    n = t->dims[0];
  }
  return n;
}

/* Analyze the graph at this signature: may its batch be split, and is it worth it here? */
static sn_error *split_analyze(sn_session *s, const sn_tensor *const *bound, int64_t n, sn_split_entry *se) {
  sn_graph *g = s->g;
  sn_type *tn = NULL, *t1 = NULL;
  sn_tensor **kn = NULL, **k1 = NULL;
  bool *fed = sn_calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(bool));
  if (!fed) return SN_ERR_OOM();
  for (int i = 0; i < s->n_in; i++) fed[s->in[i].value] = bound[i] != NULL;
  /* a shape error at batch 1 (a model made for its batch size) only means no split */
  sn_error *e = infer_at(s, bound, 0, &tn, &kn);
  sn_error *e1 = e ? NULL : infer_at(s, bound, 1, &t1, &k1);
  sn_split_check chk = {0};
  if (!e && !e1) sn_batch_split_check(g, fed, n, tn, (const sn_tensor *const *)kn, t1, (const sn_tensor *const *)k1, &chk);
  if (e1) {
    chk.why = "the graph does not infer at batch 1";
    chk.node = -1;
  }
  sn_error_free(e1);
  /* a sample's activations against the weights every sample reads again: a model that streams
   * its weights for little work per sample (an MLP at batch 1) is faster batched. With threads the
   * split also saves the per-step barriers and splitting small steps, so it pays down to a
   * sixteenth; one thread only gains the cache locality of one sample's activations, which the
   * weights' reuse across the batch outweighs below about 1 (at batch 8: MobileNetV2, ratio 1.9,
   * 76 -> 67 ms; ResNet-50, 0.44, 3% slower split; BERT-small, 0.5, 6% faster; ConvNeXt-Tiny 0.75,
   * within 2%) */
  double need = sn_threadpool_size(s->pool) >= 2 ? 1.0 / 16 : 1.0;
  /* and a sample must be worth a run of the plan: a graph of a few small steps over many short rows
   * (a Softmax over [1536, 12], no weights, 96 bytes a sample) ran 5x slower as 1536 runs of its
   * batch-1 plan than whole; the models that gain have megabytes of activations a sample */
  const double min_sample_bytes = 256.0 * 1024;
  se->split = !e && chk.ok &&
              (s->split_mode == SN_SPLIT_ON ||
               (chk.act_bytes >= need * chk.weight_bytes && chk.act_bytes >= min_sample_bytes));
  if (se->split) {
    se->out_rank = sn_calloc((size_t)g->n_outputs, sizeof(int));
    se->out_dims = sn_calloc((size_t)g->n_outputs, sizeof *se->out_dims);
    if (!se->out_rank || !se->out_dims) e = SN_ERR_OOM();
    for (int k = 0; !e && k < g->n_outputs; k++) {
      const sn_type *t = &t1[g->outputs[k]];
      se->out_rank[k] = t->rank;
      for (int d = 0; d < t->rank; d++) se->out_dims[k][d] = t->dims[d].v;
    }
  }
  const char *log = getenv("SINTER_SPLIT_LOG");
  if (!e && log && *log == '1') {
    char desc[512] = "";
    if (chk.node >= 0) sn_node_desc(&g->nodes[chk.node], desc, sizeof desc);
    if (se->split)
      fprintf(stderr, "sinter: batch %lld split into samples (%.3g MB of activations a sample, %.3g MB of weights)\n",
              (long long)n, chk.act_bytes / 1e6, chk.weight_bytes / 1e6);
    else if (chk.ok && chk.act_bytes >= need * chk.weight_bytes)
      fprintf(stderr, "sinter: batch %lld not split: %.3g MB of activations a sample, too little for a run of its own\n",
              (long long)n, chk.act_bytes / 1e6);
    else if (chk.ok)
      fprintf(stderr, "sinter: batch %lld not split: %.3g MB of activations a sample against %.3g MB of weights\n",
              (long long)n, chk.act_bytes / 1e6, chk.weight_bytes / 1e6);
    else
      fprintf(stderr, "sinter: batch %lld not split: %s%s%s\n", (long long)n, chk.why ? chk.why : "?",
              *desc ? " at " : "", desc);
  }
  free_known(g, kn);
  free_known(g, k1);
  sn_free(tn);
  sn_free(t1);
  sn_free(fed);
  return e;
}

/* The split decision for these inputs (made once per signature); *out NULL when not splitting. */
static sn_error *split_decision(sn_session *s, const sn_tensor *const *bound, int n_outputs, const int *output_values,
                                sn_split_entry **out) {
  *out = NULL;
  if (s->split_mode == SN_SPLIT_OFF) return NULL;
  int64_t n = fed_batch(s, bound);
  if (n < 2 || n < sn_threadpool_size(s->pool)) return NULL;
  for (int k = 0; k < n_outputs; k++) /* (string tensors do not go into caller buffers) */
    if (!s->g->values[output_values[k]].is_output || s->g->values[output_values[k]].type.dtype == SINTER_STRING)
      return NULL;
  int64_t sig_small[256];
  size_t len;
  int64_t *sig = sig_of(s, bound, sig_small, &len);
  if (!sig) return SN_ERR_OOM();
  sn_split_entry *se = NULL;
  pthread_mutex_lock(&s->mu);
  for (sn_split_entry *p = s->splits; p; p = p->next)
    if (p->sig_len == len && !memcmp(p->sig, sig, len * sizeof(int64_t))) {
      se = p;
      break;
    }
  pthread_mutex_unlock(&s->mu);
  sn_error *e = NULL;
  if (!se) {
    se = sn_calloc(1, sizeof *se);
    int64_t *nsig = sig_dup(sig, len);
    if (!se || !nsig) {
      sn_free(se);
      sn_free(nsig);
      e = SN_ERR_OOM();
      goto done;
    }
    se->sig = nsig;
    se->sig_len = len;
    if ((e = split_analyze(s, bound, n, se))) {
      sn_free(se->sig);
      sn_free(se->out_rank);
      sn_free(se->out_dims);
      sn_free(se);
      goto done;
    }
    pthread_mutex_lock(&s->mu);
    se->next = s->splits;
    s->splits = se;
    pthread_mutex_unlock(&s->mu);
  }
  if (se->split) *out = se;
done:
  if (sig != sig_small) sn_free(sig);
  return e;
}

typedef struct split_job {
  sn_session *s;
  const sn_tensor *const *bound;
  int n_outputs;
  const int *output_values;
  sn_tensor **full; /* the whole batch's outputs */
  sn_error *err;    /* the first error (others are dropped) */
  int failed;
} split_job;

/* A view of samples [b0, b0 + cnt) of t (axis 0). */
static void batch_view(const sn_tensor *t, int64_t b0, int64_t cnt, sn_tensor *v) {
  size_t per = t->dims[0] ? t->nbytes / (size_t)t->dims[0] : 0;
  *v = *t;
  v->owns_data = false;
  v->aligned_data = false;
  v->file_view = false;
  v->dims[0] = cnt;
  v->count = t->dims[0] ? t->count / t->dims[0] * cnt : 0;
  v->nbytes = per * (size_t)cnt;
  v->data = (uint8_t *)t->data + per * (size_t)b0;
  v->n_items = 0;
  v->items = NULL;
}

static sn_error *run_samples(split_job *j, int64_t b0, int64_t cnt, bool serial) {
  sn_session *s = j->s;
  sn_tensor in_small[8], out_small[8];
  const sn_tensor *bnd_small[8];
  sn_tensor *outp_small[8];
  int ni = s->n_in, no = j->n_outputs;
  sn_tensor *in_v = ni <= 8 ? in_small : sn_malloc(sizeof(sn_tensor) * (size_t)ni);
  const sn_tensor **bnd = ni <= 8 ? bnd_small : sn_malloc(sizeof(sn_tensor *) * (size_t)ni);
  sn_tensor *out_v = no <= 8 ? out_small : sn_malloc(sizeof(sn_tensor) * (size_t)no);
  sn_tensor **outp = no <= 8 ? outp_small : sn_malloc(sizeof(sn_tensor *) * (size_t)no);
  sn_error *e = NULL;
  if (!in_v || !bnd || !out_v || !outp) {
    e = SN_ERR_OOM();
    goto done;
  }
  for (int i = 0; i < ni; i++) {
    bnd[i] = NULL;
    if (!j->bound[i]) continue;
    batch_view(j->bound[i], b0, cnt, &in_v[i]);
    bnd[i] = &in_v[i];
  }
  for (int k = 0; k < no; k++) {
    batch_view(j->full[k], b0, cnt, &out_v[k]);
    outp[k] = &out_v[k];
  }
  e = run_bound(s, bnd, no, j->output_values, outp, NULL, serial);
done:
  if (in_v != in_small) sn_free(in_v);
  if (bnd != bnd_small) sn_free(bnd);
  if (out_v != out_small) sn_free(out_v);
  if (outp != outp_small) sn_free(outp);
  return e;
}

static void split_task(void *arg, int64_t begin, int64_t end) {
  split_job *j = arg;
  for (int64_t i = begin; i < end; i++) {
    if (__atomic_load_n(&j->failed, __ATOMIC_ACQUIRE)) return;
    sn_error *e = run_samples(j, i, 1, true);
    if (e) {
      int expected = 0;
      if (__atomic_compare_exchange_n(&j->failed, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        j->err = e;
      else
        sn_error_free(e);
    }
  }
}

/* The batch as samples side by side: each pool thread runs whole samples with the batch-1 plan on
 * its own; what does not divide evenly over the threads runs last as one batch with the pool. */
static sn_error *run_split(sn_session *s, const sn_tensor *const *bound, const sn_split_entry *se, int n_outputs,
                           const int *output_values, sn_tensor **outputs) {
  int64_t n = fed_batch(s, bound);
  int threads = sn_threadpool_size(s->pool);
  sn_tensor *full_small[8];
  sn_tensor **full = n_outputs <= 8 ? full_small : sn_calloc((size_t)n_outputs, sizeof(sn_tensor *));
  if (!full) return SN_ERR_OOM();
  sn_error *e = NULL;
  for (int k = 0; k < n_outputs; k++) full[k] = NULL;
  for (int k = 0; k < n_outputs && !e; k++) {
    int v = output_values[k], o = 0;
    while (s->g->outputs[o] != v) o++;
    int64_t dims[SN_MAX_RANK];
    int rank = se->out_rank[o];
    memcpy(dims, se->out_dims[o], sizeof(int64_t) * (size_t)rank);
    dims[0] = n;
    sn_dtype dt = s->g->values[v].type.dtype;
    sn_tensor *dst = outputs[k];
    if (dst) {
      char a[256], b[256];
      sn_tensor want = {0};
      if ((e = sn_tensor_set_shape(&want, dt, rank, dims))) break;
      if (dst->kind != SN_KIND_TENSOR || dst->dtype != dt || dst->rank != rank ||
          memcmp(dst->dims, dims, sizeof(int64_t) * (size_t)rank))
        e = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "output '%s' is %s but the caller's buffer is %s",
                      s->g->values[v].name, sn_tensor_describe(&want, a, sizeof a), sn_tensor_describe(dst, b, sizeof b));
      full[k] = dst;
    } else {
      e = sn_tensor_new_uninit(dt, rank, dims, &full[k]);
    }
  }
  if (!e) {
    split_job j = {s, bound, n_outputs, output_values, full, NULL, 0};
    int64_t whole = n - n % threads;
    sn_parallel_for_dynamic(s->pool, whole, 1, split_task, &j);
    e = j.err;
    if (!e && whole < n) e = run_samples(&j, whole, n - whole, false);
  }
  for (int k = 0; k < n_outputs; k++) {
    if (!outputs[k] && !e) outputs[k] = full[k];
    else if (!outputs[k]) sn_tensor_free(full[k]);
  }
  if (full != full_small) sn_free(full);
  return e;
}

sn_error *sn_session_run_timed(sn_session *s, int n_inputs, const int *input_values, const sn_tensor *const *inputs,
                               int n_outputs, const int *output_values, sn_tensor **outputs, sn_run_timing *timing) {
  uint64_t t_start = timing ? sn_now_ns() : 0;
  const sn_tensor *bound_small[64];
  const sn_tensor **bound = s->n_in <= 64 ? bound_small : sn_malloc(sizeof(sn_tensor *) * (size_t)s->n_in);
  if (!bound) return SN_ERR_OOM();
  sn_error *e = bind_inputs(s, n_inputs, input_values, inputs, bound);
  sn_split_entry *se = NULL;
  /* (a profiled run times the steps of one plan: never split) */
  if (!e && !timing) e = split_decision(s, bound, n_outputs, output_values, &se);
  if (!e) e = se ? run_split(s, bound, se, n_outputs, output_values, outputs)
                 : run_bound(s, bound, n_outputs, output_values, outputs, timing, false);
  if (bound != bound_small) sn_free(bound);
  if (timing) {
    timing->run_start_ns = t_start;
    timing->run_ns = sn_now_ns() - t_start;
  }
  return e;
}

int sn_split_mode_parse(const char *s) {
  if (!s) return -1;
  return !strcmp(s, "auto") ? SN_SPLIT_AUTO : !strcmp(s, "off") ? SN_SPLIT_OFF : !strcmp(s, "on") ? SN_SPLIT_ON : -1;
}

int sn_precision_parse(const char *s) {
  if (!s || !*s || !strcmp(s, "auto")) return -1;
  if (!strcmp(s, "fp32") || !strcmp(s, "float32")) return 0;
  if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16")) return 1;
  return -2;
}

sn_error *sn_session_run_plan(sn_session *s, int n_inputs, const int *input_values, const sn_tensor *const *inputs,
                              const sn_plan **out, bool *split, bool may_split) {
  *out = NULL;
  *split = false;
  const sn_tensor *bound_small[64];
  sn_tensor view_small[64];
  const sn_tensor **bound = s->n_in <= 64 ? bound_small : sn_malloc(sizeof(sn_tensor *) * (size_t)s->n_in);
  sn_tensor *views = s->n_in <= 64 ? view_small : sn_malloc(sizeof(sn_tensor) * (size_t)s->n_in);
  sn_error *e = !bound || !views ? SN_ERR_OOM() : bind_inputs(s, n_inputs, input_values, inputs, bound);
  sn_split_entry *se = NULL;
  if (!e && may_split) e = split_decision(s, bound, s->n_out, s->g->outputs, &se);
  if (!e && se) { /* sample 0's plan: what every sample of the batch runs */
    *split = true;
    for (int i = 0; i < s->n_in; i++)
      if (bound[i]) {
        batch_view(bound[i], 0, 1, &views[i]);
        bound[i] = &views[i];
      }
  }
  if (!e) e = plan_of(s, bound, out);
  if (bound && bound != bound_small) sn_free((void *)bound);
  if (views && views != view_small) sn_free(views);
  return e;
}
