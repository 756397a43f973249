/* The executor (see executor.h) and the kernel context that ops see (ops/op.h). */
#include "runtime/executor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "runtime/prof.h"

uint64_t sn_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct step_impl {
  sn_frame *f;
  const sn_node *node;
  sn_tensor discard_hdr[4];
} step_impl;

bool sn_kernel_input_const(const sn_kernel_ctx *c, int i) {
  const step_impl *st = c->impl;
  if (!st || !st->f || !st->f->plan || i < 0 || i >= c->n_in || i >= c->node->n_in) return false;
  int v = c->node->in[i];
  const sn_graph *g = st->f->g;
  return v >= 0 && v < g->n_values && g->values[v].role == SN_VAL_INITIALIZER && g->values[v].data &&
         c->in[i] && c->in[i]->data == g->values[v].data->data;
}

sn_error *sn_frame_init(sn_frame *f, const sn_graph *g, const sn_plan *plan, const sn_frame *parent,
                        sn_threadpool *pool) {
  memset(f, 0, sizeof *f);
  f->g = g;
  f->plan = plan;
  f->parent = parent;
  f->pool = pool;
  size_t nv = (size_t)(g->n_values ? g->n_values : 1);
  f->vals = sn_calloc(nv, sizeof(sn_tensor *));
  f->hdrs = sn_calloc(nv, sizeof(sn_tensor));
  f->owned = sn_calloc(nv, 1);
  int widest = 64; /* (kernels may look at a few inputs past their node's, which read as absent) */
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].n_in > widest) widest = g->nodes[i].n_in;
  f->in = sn_calloc((size_t)widest, sizeof(sn_tensor *));
  if (!f->vals || !f->hdrs || !f->owned || !f->in) goto oom;
  if (plan && plan->arena_size) {
    f->arena = sn_huge_alloc(plan->arena_size);
    if (!f->arena) goto oom;
  }
  return NULL;
oom:
  sn_frame_destroy(f);
  return SN_ERR_OOM();
}

static bool poison_outputs(void) {
  static int on = -1; /* (read once; concurrent first readers store the same value) */
  int v = __atomic_load_n(&on, __ATOMIC_RELAXED);
  if (v < 0) {
    const char *e = getenv("SINTER_POISON_OUTPUTS");
    v = e && e[0] == '1';
    __atomic_store_n(&on, v, __ATOMIC_RELAXED);
  }
  return v;
}

/* Buffers from 64 KiB up are recycled (smaller ones come from malloc's free lists anyway). */
#define RECYCLE_MIN ((size_t)64 << 10)

/* keep buffer p of cap bytes for a later value; false when it is not kept (the caller frees it). A
 * full set keeps its largest buffers. */
static bool recycle_put(sn_frame *f, void *p, size_t cap) {
  int slot = -1;
  for (int i = 0; i < SN_RECYCLE_SLOTS; i++) {
    if (!f->recycled[i]) {
      slot = i;
      break;
    }
    if (f->recycled_cap[i] < cap && (slot < 0 || f->recycled_cap[i] < f->recycled_cap[slot])) slot = i;
  }
  if (slot < 0) return false;
  sn_aligned_free(f->recycled[slot]);
  f->recycled[slot] = p;
  f->recycled_cap[slot] = cap;
  return true;
}

/* a kept buffer for nbytes (the smallest of at least nbytes, and at most twice as large), or NULL */
static void *recycle_take(sn_frame *f, size_t nbytes) {
  int best = -1;
  for (int i = 0; i < SN_RECYCLE_SLOTS; i++)
    if (f->recycled[i] && f->recycled_cap[i] >= nbytes && f->recycled_cap[i] / 2 <= nbytes &&
        (best < 0 || f->recycled_cap[i] < f->recycled_cap[best]))
      best = i;
  if (best < 0) return NULL;
  void *p = f->recycled[best];
  f->recycled[best] = NULL;
  return p;
}

static void release(sn_frame *f, int v) {
  sn_tensor *t = f->vals[v];
  if (f->owned[v] && t && t->kind == SN_KIND_TENSOR && t->dtype != SINTER_STRING && t->owns_data &&
      t->aligned_data && t->data && t->nbytes >= RECYCLE_MIN && recycle_put(f, t->data, t->nbytes)) {
    t->data = NULL;
    t->owns_data = false;
  }
  if (f->owned[v]) sn_tensor_free(t);
  f->owned[v] = 0;
  f->vals[v] = NULL;
}

void sn_frame_reset(sn_frame *f) {
  if (!f->vals) return;
  for (int v = 0; v < f->g->n_values; v++) release(f, v);
  f->bind_out = NULL;
}

void sn_frame_destroy(sn_frame *f) {
  if (f->vals) sn_frame_reset(f);
  sn_free(f->vals);
  sn_free(f->hdrs);
  sn_free(f->owned);
  sn_free(f->in);
  for (int i = 0; i < SN_RECYCLE_SLOTS; i++) sn_aligned_free(f->recycled[i]);
  sn_aligned_free(f->arena);
  for (int i = 0; i < SN_SCRATCH_BLOCKS; i++) sn_aligned_free(f->scratch[i]);
  sn_aligned_free(f->discard);
  memset(f, 0, sizeof *f);
}

void sn_frame_bind(sn_frame *f, int v, const sn_tensor *t) {
  release(f, v);
  f->hdrs[v] = *t;
  f->hdrs[v].owns_data = false;
  f->vals[v] = &f->hdrs[v];
}

static sn_error *run_steps(sn_frame *f) {
  const sn_graph *g = f->g;
  char desc[512];
  const sn_tensor **in = f->in; /* entries past a node's inputs stay NULL, as absent inputs */
  for (int i = 0; i < g->n_nodes; i++) {
    const sn_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k];
      in[k] = v >= 0 ? f->vals[v] : NULL;
      if (v >= 0 && !in[k]) {
        for (int j = 0; j <= k; j++) in[j] = NULL;
        return sn_errorf(SINTER_ERR_RUNTIME, "%s: input '%s' has no value (not computed)",
                         sn_node_desc(n, desc, sizeof desc), g->values[v].name);
      }
    }
    step_impl st = {.f = f, .node = n};
    sn_kernel_ctx c = {n, n->params, n->n_in, in, n->n_out, &st};
    uint64_t t0 = f->step_ns ? sn_now_ns() : 0;
    if (f->thread_first_ns) sn_threadpool_trace_begin(f->pool);
    const char **prof_saved = sn_prof_slot;
    if (f->step_kernel) {
      f->step_kernel[2 * i] = f->step_kernel[2 * i + 1] = NULL;
      sn_prof_slot = &f->step_kernel[2 * i];
    }
    sn_error *e = n->op->run(&c);
    if (f->step_kernel) sn_prof_slot = prof_saved;
    if (f->step_ns) {
      f->step_start_ns[i] = t0;
      f->step_ns[i] = sn_now_ns() - t0;
    }
    if (f->thread_first_ns) {
      size_t at = (size_t)i * (size_t)sn_threadpool_size(f->pool);
      sn_threadpool_trace_end(f->pool, f->thread_first_ns + at, f->thread_last_ns + at);
    }
    for (int s = 0; s < SN_SCRATCH_BLOCKS; s++) f->scratch_used[s] = 0;
    for (int k = 0; k < n->n_in; k++) in[k] = NULL;
    if (e) {
      if (!strstr(e->msg, "node '")) e = sn_error_wrap(e, "%s", sn_node_desc(n, desc, sizeof desc));
      return e;
    }
    for (int o = 0; o < n->n_out; o++) {
      int v = n->out[o];
      if (v >= 0 && !f->vals[v])
        return sn_errorf(SINTER_ERR_RUNTIME, "%s: kernel produced no value for output '%s'",
                         sn_node_desc(n, desc, sizeof desc), g->values[v].name);
    }
    const sn_plan *p = f->plan;
    for (int r = p->release_start[i]; r < p->release_start[i + 1]; r++) release(f, p->release_list[r]);
  }
  return NULL;
}

sn_error *sn_frame_run(sn_frame *f) {
  const sn_graph *g = f->g;
  for (int v = 0; v < g->n_values; v++) {
    const sn_value *val = &g->values[v];
    if (val->role == SN_VAL_INITIALIZER && val->data) {
      f->vals[v] = val->data; /* kernels only read inputs */
    } else if (val->role == SN_VAL_INPUT && !f->vals[v] && val->data) {
      f->vals[v] = val->data;
    } else if (val->role == SN_VAL_CAPTURE) {
      sn_tensor *t = f->parent && val->outer >= 0 ? f->parent->vals[val->outer] : NULL;
      if (!t)
        return sn_errorf(SINTER_ERR_RUNTIME, "graph '%s': outer-scope value '%s' has no value", g->name, val->name);
      f->vals[v] = t;
    }
  }
  for (int k = 0; k < g->n_inputs; k++) {
    int v = g->inputs[k];
    if (!f->vals[v])
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "graph '%s': input '%s' was not given", g->name,
                       g->values[v].name);
  }
  return run_steps(f);
}

sn_error *sn_frame_take(sn_frame *f, int v, sn_tensor **out) {
  *out = NULL;
  if (!f->vals[v])
    return sn_errorf(SINTER_ERR_RUNTIME, "graph '%s': output '%s' has no value", f->g->name, f->g->values[v].name);
  if (f->owned[v]) {
    *out = f->vals[v];
    f->owned[v] = 0;
    f->vals[v] = NULL;
    return NULL;
  }
  return sn_tensor_clone(f->vals[v], out);
}

/* ---- the kernel context ---------------------------------------------------------------------- */

sn_error *sn_kernel_output(sn_kernel_ctx *c, int i, sn_dtype dt, int rank, const int64_t *dims, sn_tensor **out) {
  step_impl *st = c->impl;
  sn_frame *f = st->f;
  const sn_node *n = st->node;
  *out = NULL;
  if (i < 0 || i >= n->n_out) {
    /* an op may have fewer outputs in the model than the spec allows: treat as absent */
    if (i < 0 || i >= 64) return sn_kernel_error(c, SINTER_ERR_RUNTIME, "output index %d out of range", i);
  }
  int v = i < n->n_out ? n->out[i] : -1;
  if (v < 0) {
    /* absent output: scratch memory the kernel may write and we drop */
    sn_tensor *h = &st->discard_hdr[i < 4 ? i : 3];
    memset(h, 0, sizeof *h);
    SN_TRY(sn_tensor_set_shape(h, dt, rank, dims));
    if (dt == SINTER_STRING) return sn_kernel_error(c, SINTER_ERR_NOT_IMPLEMENTED, "unused string outputs");
    if (h->nbytes > f->discard_cap) {
      sn_aligned_free(f->discard);
      f->discard = sn_aligned_alloc(h->nbytes);
      f->discard_cap = f->discard ? h->nbytes : 0;
      if (!f->discard) return SN_ERR_OOM();
    }
    h->data = f->discard;
    *out = h;
    return NULL;
  }
  release(f, v);
  sn_tensor *h = &f->hdrs[v];
  memset(h, 0, sizeof *h);
  SN_TRY(sn_tensor_set_shape(h, dt, rank, dims));
  if (dt != SINTER_STRING) {
    sn_tensor *b = f->bind_out ? f->bind_out[v] : NULL;
    if (b && b->kind == SN_KIND_TENSOR && b->dtype == dt && b->rank == rank &&
        (rank == 0 || !memcmp(b->dims, dims, sizeof(int64_t) * (size_t)rank))) {
      h->data = b->data;
      f->vals[v] = h;
      *out = h;
      return NULL;
    }
    const sn_plan *p = f->plan;
    if (p && f->arena && p->offset[v] >= 0 && h->nbytes <= p->bytes[v]) {
      h->data = f->arena + p->offset[v];
      f->vals[v] = h;
      *out = h;
      return NULL;
    }
  }
  /* outside the arena (graph outputs, values of run-time shapes): not zero-filled, as arena memory is
   * not (every kernel writes all of its outputs; a 14 MB output spent 10% of its run in the memset and
   * its page faults). SINTER_POISON_OUTPUTS=1 fills them with 0x7f bytes (3.4e38 as float) instead,
   * so a test run finds a kernel that leaves elements unwritten. */
  sn_tensor *t;
  void *kept = dt != SINTER_STRING && h->nbytes >= RECYCLE_MIN ? recycle_take(f, h->nbytes) : NULL;
  if (kept) {
    sn_error *e = sn_tensor_new_view(dt, rank, dims, kept, &t);
    if (e) {
      sn_aligned_free(kept);
      return e;
    }
    t->owns_data = true;
    t->aligned_data = true;
  } else {
    SN_TRY(dt == SINTER_STRING ? sn_tensor_new(dt, rank, dims, &t) : sn_tensor_new_uninit(dt, rank, dims, &t));
  }
  if (dt != SINTER_STRING && poison_outputs()) memset(t->data, 0x7F, t->nbytes);
  f->vals[v] = t;
  f->owned[v] = 1;
  *out = t;
  return NULL;
}

sn_error *sn_kernel_set_output(sn_kernel_ctx *c, int i, sn_tensor *value) {
  step_impl *st = c->impl;
  int v = i < st->node->n_out ? st->node->out[i] : -1;
  if (v < 0) {
    sn_tensor_free(value);
    return NULL;
  }
  release(st->f, v);
  st->f->vals[v] = value;
  st->f->owned[v] = 1;
  return NULL;
}

sn_tensor *sn_kernel_get_output(sn_kernel_ctx *c, int i) {
  step_impl *st = c->impl;
  int v = i < st->node->n_out ? st->node->out[i] : -1;
  return v >= 0 ? st->f->vals[v] : NULL;
}

bool sn_kernel_output_used(const sn_kernel_ctx *c, int i) {
  const step_impl *st = c->impl;
  return i < st->node->n_out && st->node->out[i] >= 0;
}

void *sn_kernel_scratch(sn_kernel_ctx *c, size_t bytes) {
  step_impl *st = c->impl;
  sn_frame *f = st->f;
  size_t need = (bytes + SN_ALIGN - 1) / SN_ALIGN * SN_ALIGN;
  for (int s = 0; s < SN_SCRATCH_BLOCKS; s++) {
    if (!f->scratch[s]) {
      size_t cap = need > ((size_t)1 << 20) ? need : ((size_t)1 << 20);
      f->scratch[s] = sn_aligned_alloc(cap);
      if (!f->scratch[s]) return NULL;
      f->scratch_cap[s] = cap;
      f->scratch_used[s] = 0;
    }
    if (f->scratch_cap[s] - f->scratch_used[s] >= need) {
      void *p = (uint8_t *)f->scratch[s] + f->scratch_used[s];
      f->scratch_used[s] += need;
      return p;
    }
    if (f->scratch_used[s] == 0) {
      /* an empty block too small for this request: grow it */
      sn_aligned_free(f->scratch[s]);
      f->scratch[s] = sn_aligned_alloc(need);
      if (!f->scratch[s]) {
        f->scratch_cap[s] = 0;
        return NULL;
      }
      f->scratch_cap[s] = need;
      f->scratch_used[s] = need;
      return f->scratch[s];
    }
  }
  return NULL;
}

sn_threadpool *sn_kernel_pool(sn_kernel_ctx *c) { return ((step_impl *)c->impl)->f->pool; }

sn_error *sn_kernel_error(const sn_kernel_ctx *c, sinter_code code, const char *fmt, ...) {
  char msg[1024], desc[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return sn_errorf(code, "%s: %s", sn_node_desc(c->node, desc, sizeof desc), msg);
}

sn_error *sn_kernel_run_subgraph(sn_kernel_ctx *c, const sn_graph *g, int n_inputs, const sn_tensor *const *inputs,
                                 sn_tensor **outputs) {
  step_impl *st = c->impl;
  if (n_inputs != g->n_inputs)
    return sn_kernel_error(c, SINTER_ERR_INVALID_GRAPH, "subgraph '%s' takes %d inputs, given %d", g->name,
                           g->n_inputs, n_inputs);
  /* the body's liveness is built once and shared (shapes may vary per iteration, so no arena) */
  sn_plan *p = __atomic_load_n(&((sn_graph *)g)->exec_plan, __ATOMIC_ACQUIRE);
  if (!p) {
    SN_TRY(sn_plan_build(g, NULL, &p));
    sn_plan *expected = NULL;
    if (!__atomic_compare_exchange_n(&((sn_graph *)g)->exec_plan, &expected, p, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
      sn_plan_free(p);
      p = expected;
    }
  }
  sn_frame f;
  SN_TRY(sn_frame_init(&f, g, p, st->f, st->f->pool));
  for (int k = 0; k < n_inputs; k++)
    if (inputs[k]) sn_frame_bind(&f, g->inputs[k], inputs[k]);
  sn_error *e = sn_frame_run(&f);
  int k = 0;
  for (; !e && k < g->n_outputs; k++) e = sn_frame_take(&f, g->outputs[k], &outputs[k]);
  if (e)
    for (int j = 0; j < k; j++) {
      sn_tensor_free(outputs[j]);
      outputs[j] = NULL;
    }
  sn_frame_destroy(&f);
  return e;
}

sn_error *sn_exec_fold(void *ctx, const sn_graph *g, const sn_node *n, const sn_tensor *const *inputs,
                       sn_tensor **outputs) {
  (void)ctx;
  sn_frame f;
  SN_TRY(sn_frame_init(&f, g, NULL, NULL, NULL));
  step_impl st = {.f = &f, .node = n};
  sn_kernel_ctx c = {n, n->params, n->n_in, inputs, n->n_out, &st};
  sn_error *e = n->op->run(&c);
  for (int o = 0; o < n->n_out; o++) {
    outputs[o] = NULL;
    int v = n->out[o];
    if (e || v < 0) continue;
    if (!f.vals[v]) {
      e = sn_errorf(SINTER_ERR_RUNTIME, "kernel produced no value for output %d", o);
      continue;
    }
    e = sn_frame_take(&f, v, &outputs[o]);
  }
  if (e)
    for (int o = 0; o < n->n_out; o++) {
      sn_tensor_free(outputs[o]);
      outputs[o] = NULL;
    }
  sn_frame_destroy(&f);
  return e;
}
