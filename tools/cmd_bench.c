/* `sinter bench`: latency, throughput, memory and size of a model, named as onnxruntime_perf_test names them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_util.h"
#include "core/alloc.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "feeds.h"
#include "npy.h"
#include "kernels/gemm.h"
#include "runtime/cpu.h"
#include "runtime/session.h"
#include "sinter.h"
#include "stats.h"

static const char *CMD = "bench";

#define MAX_SWEEP 32
#define BENCH_SCHEMA "sinter-bench/1"

static void bench_usage(FILE *f) {
  fprintf(f,
          "usage: sinter bench MODEL [options]\n"
          "\n"
          "Measures MODEL: session creation time, first-run time, then (after warm-up runs) the latency of\n"
          "repeated runs on the same inputs: mean, standard deviation, min, P50, P90, P95, P99, P999, max;\n"
          "throughput in runs/s and samples/s; CPU use; peak resident memory of the process; the arena and\n"
          "weight bytes; the ISA path and precision. Field names follow onnxruntime_perf_test's.\n"
          "\n"
          "options:\n"
          "  --warmup N              untimed runs after the first one (default 5)\n"
          "  --runs N                timed runs: exactly N (with --time: at most N)\n"
          "  --time SECONDS          timed runs for this long (with --runs: at most this long); default\n"
          "                          without either: at least 10 runs and at least 2 s\n"
          "%s"
          "                          (--batch N: also the samples per run for samples/s)\n"
          "  --threads N             intra-op threads (default: one per physical core)\n"
          "  --precision P           fp32 (default) or bf16: float32 GEMMs in bfloat16 (AVX512-BF16)\n"
          "  -O LEVEL                graph optimization level 0..3 (default 3)\n"
          "  --sweep KEY=V,V,...     measure every point of a grid and print one table; KEY is batch or\n"
          "                          threads; further KEY=LIST words may follow (--sweep batch=1,2,4,8\n"
          "                          threads=1,2)\n"
          "  --json FILE             also write the figures as JSON (docs/bench-json-schema.md); '-' for stdout\n"
          "  -q, --quiet             no report on stdout (with --json FILE)\n"
          "  -h, --help              this help\n"
          "\n"
          "A progress line goes to stderr only when stderr is a terminal. Latencies are wall-clock times of\n"
          "sinter_run, output allocation included. Peak working set size is the process's peak resident\n"
          "memory (VmHWM), reset before each sweep point.\n"
          "\n"
          "exit status: 0 ok, 1 the model or an input was rejected or a run failed, 2 usage error\n",
          sn_feed_usage);
}

/* ---- inputs -------------------------------------------------------------------------------------- */

typedef struct bench_cfg {
  const char *model;
  sn_feed_opts *fo;
  long long warmup, runs;   /* runs: -1 = not given */
  double time_s;            /* -1 = not given */
  long long threads, level; /* -1 = default */
  bool progress;
} bench_cfg;

typedef struct feed_set {
  sn_feeds f;
  char **describe; /* "image float32[1,3,224,224] random (seed 0)" */
  int64_t batch;   /* samples per run */
} feed_set;

static void feeds_free(feed_set *f) {
  for (size_t i = 0; f->describe && i < f->f.n; i++) sn_free(f->describe[i]);
  sn_free(f->describe);
  sn_feeds_free(&f->f);
  memset(f, 0, sizeof *f);
}

/* The feeds for one grid point (sn_feeds_make with the point's batch): --input files and seeded
 * random data for the rest. Samples per run = the first dimension of the first input whose declared
 * first dimension is symbolic (1 when none is). */
static sinter_status *make_feeds(sinter_session *sess, const bench_cfg *c, long long batch, feed_set *f) {
  memset(f, 0, sizeof *f);
  char sb[512], db[256];
  size_t n_in = sinter_session_input_count(sess);
  const char *batch_input = NULL;
  for (size_t i = 0; i < n_in && !batch_input; i++) {
    sinter_value_info info;
    SN_TRY(sinter_session_input_info(sess, i, &info));
    if (info.rank >= 1 && info.dims[0] < 0) batch_input = info.name;
  }
  if (batch >= 0 && !batch_input)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT,
                     "--batch: no input of %s has a symbolic first dimension (set other symbolic dimensions with "
                     "--dim NAME=VALUE)",
                     c->model);
  c->fo->batch = batch;
  SN_TRY(sn_feeds_make(CMD, sess, c->fo, false, &f->f));
  if (!(f->describe = sn_calloc(f->f.n + 1, sizeof *f->describe))) return SN_ERR_OOM();
  f->batch = 1;
  for (size_t i = 0; i < f->f.n; i++) {
    sinter_tensor *t = f->f.tensors[i];
    const char *name = f->f.names[i];
    bool from_file = i < (size_t)c->fo->n_inputs;
    int64_t first = sinter_tensor_rank(t) >= 1 ? sinter_tensor_dims(t)[0] : 1;
    if (batch_input && strcmp(name, batch_input) == 0) f->batch = first;
    if (from_file && batch >= 0 && batch_input && strcmp(name, batch_input) == 0 && first != batch)
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "--batch %lld: input '%s' from %s has first dimension %lld", batch,
                       name, c->fo->inputs[i].value, (long long)first);
    int k = snprintf(sb, sizeof sb, "%s %s%s ", name, sn_dtype_name(sinter_tensor_dtype(t)),
                     sn_cli_fmt_shape(sinter_tensor_rank(t), sinter_tensor_dims(t), NULL, db, sizeof db));
    if (k < 0) k = 0;
    if ((size_t)k >= sizeof sb) k = (int)sizeof sb - 1;
    if (from_file)
      snprintf(sb + k, sizeof sb - (size_t)k, "from %s", c->fo->inputs[i].value);
    else
      snprintf(sb + k, sizeof sb - (size_t)k, "random (seed %lld)", c->fo->seed);
    if (!(f->describe[i] = sn_strdup(sb))) return SN_ERR_OOM();
  }
  return NULL;
}

/* ---- process figures ----------------------------------------------------------------------------- */

/* Peak resident set of the process in bytes: VmHWM (resettable), else ru_maxrss. */
static uint64_t peak_rss_bytes(void) {
  FILE *fp = fopen("/proc/self/status", "r");
  if (fp) {
    char line[256];
    unsigned long long kb = 0;
    bool found = false;
    while (fgets(line, sizeof line, fp))
      if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) {
        found = true;
        break;
      }
    fclose(fp);
    if (found) return (uint64_t)kb * 1024u;
  }
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) return (uint64_t)ru.ru_maxrss * 1024u;
  return 0;
}

/* Start a new peak (Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current RSS). */
static void reset_peak_rss(void) {
  FILE *fp = fopen("/proc/self/clear_refs", "w");
  if (fp) {
    fputs("5", fp);
    fclose(fp);
  }
}

static double cpu_seconds(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
         (double)ru.ru_stime.tv_usec * 1e-6;
}

static int online_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* Bytes of constant weights (initializers) in a graph and its subgraphs. */
static uint64_t graph_weight_bytes(const sn_graph *g) {
  uint64_t total = 0;
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].role == SN_VAL_INITIALIZER && g->values[v].data && g->values[v].data->data) total += g->values[v].data->nbytes;
  for (int i = 0; i < g->n_nodes; i++) {
    const sn_node *n = &g->nodes[i];
    for (int a = 0; a < n->n_attrs; a++) {
      const sn_attr *at = &n->attrs[a];
      if (at->type == SN_ATTR_GRAPH && at->g) total += graph_weight_bytes(at->g);
      if (at->type == SN_ATTR_GRAPHS)
        for (int k = 0; k < at->n; k++)
          if (at->graphs[k]) total += graph_weight_bytes(at->graphs[k]);
    }
  }
  return total;
}

/* ---- one measurement ----------------------------------------------------------------------------- */

typedef struct bench_result {
  long long batch_req, threads_req; /* as asked (-1: default) */
  int threads;                      /* the pool's size */
  int64_t batch;                    /* samples per run */
  sn_isa isa;
  bool bf16; /* the session computes float32 GEMMs in bf16 */
  double create_s, first_s;
  size_t warmup;
  size_t runs;
  double *lat; /* seconds, in run order */
  sn_stats st;
  double wall_s, cpu_pct;
  uint64_t peak_rss, arena, weights, packed;
  bool split; /* the batch ran as separate samples (arena: the batch-1 plan's, one per thread) */
  size_t n_inputs;
  char **inputs; /* descriptions, owned */
} bench_result;

static void result_free(bench_result *r) {
  sn_free(r->lat);
  for (size_t i = 0; i < r->n_inputs; i++) sn_free(r->inputs[i]);
  sn_free(r->inputs);
  memset(r, 0, sizeof *r);
}

static void progress(const bench_cfg *c, const char *phase, size_t done, long long total, double elapsed,
                     double budget) {
  if (!c->progress) return;
  char buf[160];
  int k = snprintf(buf, sizeof buf, "\rsinter bench: %s %zu", phase, done);
  if (total > 0) k += snprintf(buf + k, sizeof buf - (size_t)k, "/%lld", total);
  k += snprintf(buf + k, sizeof buf - (size_t)k, " runs, %.1f s", elapsed);
  if (budget > 0) snprintf(buf + k, sizeof buf - (size_t)k, " of %.1f s", budget);
  fprintf(stderr, "%-70s", buf);
  fflush(stderr);
}

static void progress_clear(const bench_cfg *c) {
  if (c->progress) fprintf(stderr, "\r%-70s\r", "");
}

static sinter_status *run_once(sinter_session *sess, const feed_set *f, size_t n_out, sinter_tensor **outs) {
  for (size_t i = 0; i < n_out; i++) outs[i] = NULL;
  sinter_status *st =
      sinter_run(sess, f->f.names, (const sinter_tensor *const *)f->f.tensors, f->f.n, NULL, outs, n_out);
  for (size_t i = 0; i < n_out; i++) {
    sinter_tensor_free(outs[i]);
    outs[i] = NULL;
  }
  return st;
}

static sinter_status *measure(const bench_cfg *c, long long batch, long long threads, bench_result *r) {
  memset(r, 0, sizeof *r);
  r->batch_req = batch;
  r->threads_req = threads;
  sinter_status *st = NULL;
  sinter_options *opts = NULL;
  sinter_session *sess = NULL;
  feed_set f = {0};
  sinter_tensor **outs = NULL;
  size_t cap = 0;

  reset_peak_rss();
  uint64_t packed0 = sn_sgemm_packed_live_bytes();
  if ((st = sn_cli_options((int)threads, (int)c->level, &opts))) goto done;
  double t0 = sn_cli_now();
  st = sinter_session_create(c->model, opts, &sess);
  r->create_s = sn_cli_now() - t0;
  if (st) goto done;
  r->threads = sess->pool ? sn_threadpool_size(sess->pool) : 1;
  r->isa = sess->isa;
  r->bf16 = sess->bf16;
  r->weights = graph_weight_bytes(sess->g);
  if ((st = make_feeds(sess, c, batch, &f))) goto done;
  r->batch = f.batch;
  r->n_inputs = f.f.n;
  if (!(r->inputs = sn_calloc(f.f.n + 1, sizeof *r->inputs))) {
    st = SN_ERR_OOM();
    goto done;
  }
  for (size_t i = 0; i < f.f.n; i++) {
    r->inputs[i] = f.describe[i];
    f.describe[i] = NULL;
  }
  size_t n_out = sinter_session_output_count(sess);
  if (!(outs = sn_calloc(n_out + 1, sizeof *outs))) {
    st = SN_ERR_OOM();
    goto done;
  }

  /* first run: builds the plan and the frame */
  t0 = sn_cli_now();
  st = run_once(sess, &f, n_out, outs);
  r->first_s = sn_cli_now() - t0;
  if (st) goto done;
  /* GEMM weights packed at session creation (and any the first run packed) */
  r->packed = sn_sgemm_packed_live_bytes() - packed0;
  {
    int vals_small[64];
    int *vals = f.f.n <= 64 ? vals_small : sn_malloc(f.f.n * sizeof *vals);
    if (!vals) {
      st = SN_ERR_OOM();
      goto done;
    }
    for (size_t i = 0; i < f.f.n; i++) {
      vals[i] = -1;
      for (int k = 0; k < sess->n_in; k++)
        if (strcmp(sess->in[k].info.name, f.f.names[i]) == 0) vals[i] = sess->in[k].value;
    }
    const sn_plan *plan = NULL;
    st = sn_session_run_plan(sess, (int)f.f.n, vals, (const sn_tensor *const *)f.f.tensors, &plan, &r->split, true);
    if (vals != vals_small) sn_free(vals);
    if (st) goto done;
    r->arena = plan ? plan->arena_size : 0;
  }

  double w0 = sn_cli_now(), last_progress = 0;
  for (long long i = 0; i < c->warmup; i++) {
    double t = sn_cli_now();
    if (c->progress && t - last_progress > 0.25) {
      progress(c, "warm-up", (size_t)i, c->warmup, t - w0, 0);
      last_progress = t;
    }
    if ((st = run_once(sess, &f, n_out, outs))) goto done;
  }
  r->warmup = (size_t)c->warmup;

  /* timed runs */
  bool by_count = c->runs >= 0, by_time = c->time_s >= 0;
  size_t min_runs = by_count || by_time ? 1 : 10;
  double min_time = by_count || by_time ? 0.0 : 2.0;
  double progress_budget = by_time ? c->time_s : (by_count ? 0 : min_time);
  last_progress = 0;
  double cpu0 = cpu_seconds();
  double start = sn_cli_now(), now = start;
  for (;;) {
    size_t done = r->runs;
    double elapsed = now - start;
    if (by_count && done >= (size_t)c->runs) break;
    if (by_time && done >= 1 && elapsed >= c->time_s) break;
    if (!by_count && !by_time && done >= min_runs && elapsed >= min_time) break;
    if (done == cap) {
      size_t ncap = cap ? cap * 2 : 256;
      double *nl = sn_realloc(r->lat, ncap * sizeof *nl);
      if (!nl) {
        st = SN_ERR_OOM();
        goto done;
      }
      r->lat = nl;
      cap = ncap;
    }
    double a = sn_cli_now();
    if ((st = run_once(sess, &f, n_out, outs))) goto done;
    now = sn_cli_now();
    r->lat[r->runs++] = now - a;
    if (c->progress && now - last_progress > 0.25) {
      progress(c, "timed", r->runs, by_count ? c->runs : -1, now - start, progress_budget);
      last_progress = now;
    }
  }
  r->wall_s = now - start;
  r->cpu_pct = sn_stats_cpu_percent(cpu_seconds() - cpu0, r->wall_s, online_cores());
  progress_clear(c);
  {
    double *scratch = sn_malloc((r->runs + 1) * sizeof *scratch);
    if (!scratch) {
      st = SN_ERR_OOM();
      goto done;
    }
    sn_stats_summarize(r->lat, r->runs, scratch, &r->st);
    sn_free(scratch);
  }
  r->peak_rss = peak_rss_bytes();

done:
  progress_clear(c);
  sn_free(outs);
  feeds_free(&f);
  sinter_session_free(sess);
  sinter_options_free(opts);
  return st;
}

/* ---- reporting ----------------------------------------------------------------------------------- */

typedef struct model_facts {
  const char *path;
  uint64_t file_bytes;
} model_facts;

static double runs_per_s(const bench_result *r) { return sn_stats_throughput(r->runs, r->wall_s); }
static double samples_per_s(const bench_result *r) { return sn_stats_samples_per_second(r->runs, r->batch, r->wall_s); }

static void print_report(const model_facts *m, const bench_cfg *c, const bench_result *r) {
  printf("Model: %s\n", m->path);
  printf("Model file size: %llu bytes (%.2f MB)\n", (unsigned long long)m->file_bytes, (double)m->file_bytes / 1e6);
  printf("Weight size: %llu bytes (%.2f MB)\n", (unsigned long long)r->weights, (double)r->weights / 1e6);
  printf("Prepacked weight size: %llu bytes (%.2f MB)\n", (unsigned long long)r->packed, (double)r->packed / 1e6);
  printf("Arena size: %llu bytes (%.2f MB)%s\n", (unsigned long long)r->arena, (double)r->arena / 1e6,
         r->split ? ", one sample's (per thread)" : "");
  printf("Batch split: %s\n", r->split ? "yes, samples side by side through the batch-1 plan" : "no");
  printf("ISA: %s  Precision: %s  Threads: %d  Optimization level: %lld\n", sn_isa_name(r->isa), r->bf16 ? "bf16" : "fp32", r->threads,
         c->level >= 0 ? c->level : 3);
  for (size_t i = 0; i < r->n_inputs; i++) printf("Input: %s\n", r->inputs[i]);
  printf("Batch size: %lld\n", (long long)r->batch);
  printf("Session creation time cost: %.6g s\n", r->create_s);
  printf("First inference time cost: %.6g ms\n", r->first_s * 1e3);
  printf("Warm-up runs: %zu\n", r->warmup);
  printf("Total inference requests: %zu\n", r->runs);
  printf("Total inference time cost: %.6g s\n", r->st.sum);
  printf("Total inference run time: %.6g s\n", r->wall_s);
  printf("Average inference time cost: %.6g ms\n", r->st.mean * 1e3);
  printf("Standard deviation: %.6g ms\n", r->st.std * 1e3);
  printf("Number of inferences per second: %.6g\n", runs_per_s(r));
  printf("Number of samples per second: %.6g\n", samples_per_s(r));
  printf("Avg CPU usage: %.0f %%\n", r->cpu_pct);
  printf("Peak working set size: %llu bytes (%.1f MB)\n", (unsigned long long)r->peak_rss, (double)r->peak_rss / 1e6);
  printf("Min Latency: %.6g s\n", r->st.min);
  printf("Max Latency: %.6g s\n", r->st.max);
  printf("P50 Latency: %.6g s\n", r->st.p50);
  printf("P90 Latency: %.6g s\n", r->st.p90);
  printf("P95 Latency: %.6g s\n", r->st.p95);
  printf("P99 Latency: %.6g s\n", r->st.p99);
  printf("P999 Latency: %.6g s\n", r->st.p999);
}

static void print_table(const model_facts *m, const bench_cfg *c, const bench_result *rs, size_t n) {
  printf("Model: %s\n", m->path);
  printf("Model file size: %llu bytes (%.2f MB)\n", (unsigned long long)m->file_bytes, (double)m->file_bytes / 1e6);
  if (n) {
    printf("Weight size: %llu bytes (%.2f MB)\n", (unsigned long long)rs[0].weights, (double)rs[0].weights / 1e6);
    printf("ISA: %s  Precision: %s  Optimization level: %lld  Warm-up runs: %zu\n", sn_isa_name(rs[0].isa), rs[0].bf16 ? "bf16" : "fp32",
           c->level >= 0 ? c->level : 3, rs[0].warmup);
  }
  printf("\n%5s %7s %6s %10s %10s %10s %10s %10s %10s %11s %11s %10s %10s %10s\n", "batch", "threads", "runs",
         "mean ms", "std ms", "min ms", "p50 ms", "p90 ms", "p99 ms", "runs/s", "samples/s", "first ms", "peak MB",
         "arena MB");
  for (size_t i = 0; i < n; i++) {
    const bench_result *r = &rs[i];
    printf("%5lld %7d %6zu %10.4g %10.4g %10.4g %10.4g %10.4g %10.4g %11.5g %11.5g %10.4g %10.1f %10.2f\n",
           (long long)r->batch, r->threads, r->runs, r->st.mean * 1e3, r->st.std * 1e3, r->st.min * 1e3,
           r->st.p50 * 1e3, r->st.p90 * 1e3, r->st.p99 * 1e3, runs_per_s(r), samples_per_s(r), r->first_s * 1e3,
           (double)r->peak_rss / 1e6, (double)r->arena / 1e6);
  }
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", f);
    else if (*p == '\t')
      fputs("\\t", f);
    else if (*p < 0x20)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

/* JSON numbers: finite doubles with 17 significant digits would be noisy; 9 keep nanoseconds. */
static void json_num(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.9g", v);
  else
    fputs("null", f);
}

static void cpu_model(char *buf, size_t n) {
  snprintf(buf, n, "unknown");
  FILE *fp = fopen("/proc/cpuinfo", "r");
  if (!fp) return;
  char line[512];
  while (fgets(line, sizeof line, fp)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *colon = strchr(line, ':');
      if (colon) {
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        size_t len = strcspn(colon, "\n");
        snprintf(buf, n, "%.*s", (int)len, colon);
      }
      break;
    }
  }
  fclose(fp);
}

static void write_json(FILE *f, const model_facts *m, const bench_cfg *c, const bench_result *rs, size_t n,
                       bool sweep) {
  char cpu[256];
  cpu_model(cpu, sizeof cpu);
  fprintf(f, "{\n  \"schema\": \"%s\",\n  \"sinter_version\": ", BENCH_SCHEMA);
  json_str(f, sinter_version());
  fprintf(f, ",\n  \"model\": ");
  json_str(f, m->path);
  fprintf(f, ",\n  \"model_file_size_bytes\": %llu,\n", (unsigned long long)m->file_bytes);
  fprintf(f, "  \"host\": {\"cpu\": ");
  json_str(f, cpu);
  fprintf(f, ", \"logical_cores\": %d, \"physical_cores\": %d},\n", online_cores(), sn_cpu_info()->physical_cores);
  fprintf(f, "  \"precision\": \"%s\",\n  \"optimization_level\": %lld,\n  \"warmup_runs\": %lld,\n",
          n && rs[0].bf16 ? "bf16" : "fp32", c->level >= 0 ? c->level : 3, c->warmup);
  fprintf(f, "  \"run_limit\": {\"runs\": ");
  if (c->runs >= 0)
    fprintf(f, "%lld", c->runs);
  else
    fputs("null", f);
  fprintf(f, ", \"seconds\": ");
  if (c->time_s >= 0)
    json_num(f, c->time_s);
  else
    fputs("null", f);
  fprintf(f, ", \"min_runs\": %d, \"min_seconds\": %d},\n", c->runs < 0 && c->time_s < 0 ? 10 : 0,
          c->runs < 0 && c->time_s < 0 ? 2 : 0);
  fprintf(f, "  \"sweep\": %s,\n  \"results\": [", sweep ? "true" : "false");
  for (size_t i = 0; i < n; i++) {
    const bench_result *r = &rs[i];
    fprintf(f, "%s\n    {\n", i ? "," : "");
    fprintf(f, "      \"batch\": %lld,\n      \"threads\": %d,\n      \"isa\": \"%s\",\n", (long long)r->batch,
            r->threads, sn_isa_name(r->isa));
    fprintf(f, "      \"inputs\": [");
    for (size_t k = 0; k < r->n_inputs; k++) {
      if (k) fputs(", ", f);
      json_str(f, r->inputs[k]);
    }
    fprintf(f, "],\n      \"session_creation_time_s\": ");
    json_num(f, r->create_s);
    fprintf(f, ",\n      \"first_inference_time_s\": ");
    json_num(f, r->first_s);
    fprintf(f, ",\n      \"total_inference_requests\": %zu,\n      \"total_inference_time_s\": ", r->runs);
    json_num(f, r->st.sum);
    fprintf(f, ",\n      \"total_inference_run_time_s\": ");
    json_num(f, r->wall_s);
    fprintf(f, ",\n      \"latency_s\": {");
    const char *names[] = {"mean", "std", "min", "p50", "p90", "p95", "p99", "p999", "max"};
    double vals[] = {r->st.mean, r->st.std, r->st.min,  r->st.p50, r->st.p90,
                     r->st.p95,  r->st.p99, r->st.p999, r->st.max};
    for (int k = 0; k < 9; k++) {
      fprintf(f, "%s\"%s\": ", k ? ", " : "", names[k]);
      json_num(f, vals[k]);
    }
    fprintf(f, "},\n      \"inferences_per_second\": ");
    json_num(f, runs_per_s(r));
    fprintf(f, ",\n      \"samples_per_second\": ");
    json_num(f, samples_per_s(r));
    fprintf(f, ",\n      \"avg_cpu_usage_percent\": ");
    json_num(f, r->cpu_pct);
    fprintf(f,
            ",\n      \"peak_working_set_bytes\": %llu,\n      \"arena_bytes\": %llu,\n      \"weight_bytes\": %llu,\n"
            "      \"prepacked_bytes\": %llu,\n      \"batch_split\": %s,\n",
            (unsigned long long)r->peak_rss, (unsigned long long)r->arena, (unsigned long long)r->weights,
            (unsigned long long)r->packed, r->split ? "true" : "false");
    fprintf(f, "      \"latencies_s\": [");
    for (size_t k = 0; k < r->runs; k++) {
      if (k) fputs(k % 8 ? ", " : ",\n        ", f);
      json_num(f, r->lat[k]);
    }
    fprintf(f, "]\n    }");
  }
  fprintf(f, "\n  ]\n}\n");
}

/* ---- options ------------------------------------------------------------------------------------- */

typedef struct sweep_axis {
  long long v[MAX_SWEEP];
  int n;
} sweep_axis;

/* "batch=1,2,4" or "threads=1,2" into the axis; false (after a usage error) otherwise. */
static bool parse_sweep(const char *arg, sweep_axis *batch, sweep_axis *threads) {
  sweep_axis *ax;
  const char *p;
  if (strncmp(arg, "batch=", 6) == 0) {
    ax = batch;
    p = arg + 6;
  } else if (strncmp(arg, "threads=", 8) == 0) {
    ax = threads;
    p = arg + 8;
  } else {
    sn_cli_usage_error(CMD, "--sweep expects batch=LIST or threads=LIST (e.g. batch=1,2,4,8), got '%s'", arg);
    return false;
  }
  ax->n = 0;
  while (*p) {
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    bool is_batch = ax == batch;
    if (end == p || errno || v < (is_batch ? 1 : 0) || v > (is_batch ? INT32_MAX : 1024) || (*end && *end != ',')) {
      sn_cli_usage_error(CMD, "--sweep %s: expected a comma-separated list of integers (%s), got '%s'",
                         is_batch ? "batch" : "threads", is_batch ? ">= 1" : "0..1024", arg);
      return false;
    }
    if (ax->n == MAX_SWEEP) {
      sn_cli_usage_error(CMD, "--sweep: at most %d values per axis", MAX_SWEEP);
      return false;
    }
    ax->v[ax->n++] = v;
    p = *end ? end + 1 : end;
  }
  if (ax->n == 0) {
    sn_cli_usage_error(CMD, "--sweep '%s': empty list", arg);
    return false;
  }
  return true;
}

int cmd_bench(int argc, char **argv) {
  static sn_feed_opts fo; /* large: off the stack */
  sn_feed_opts_init(&fo);
  bench_cfg c = {0};
  c.warmup = 5;
  c.runs = -1;
  c.time_s = -1;
  c.threads = -1;
  c.level = -1;
  const char *json_path = NULL;
  bool quiet = false, sweep = false;
  sweep_axis sb = {{0}, 0}, stt = {{0}, 0};
  int rc = SN_EXIT_USAGE;
  bench_result *results = NULL;
  size_t n_results = 0;

  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (sn_cli_is_help(argv[i])) {
      bench_usage(stdout);
      rc = SN_EXIT_OK;
      goto cleanup;
    }
#define TAKE(name) ((r = sn_cli_opt(CMD, argc, argv, &i, name, &v)) != 0)
    if ((r = sn_feed_parse(CMD, &fo, argc, argv, &i)) != 0) {
      if (r < 0) goto cleanup;
    } else if (TAKE("--warmup")) {
      if (r < 0 || !sn_cli_int(CMD, "--warmup", v, 0, INT32_MAX, &c.warmup)) goto cleanup;
    } else if (TAKE("--runs")) {
      if (r < 0 || !sn_cli_int(CMD, "--runs", v, 1, INT32_MAX, &c.runs)) goto cleanup;
    } else if (TAKE("--time")) {
      if (r < 0) goto cleanup;
      char *end;
      double t = strtod(v, &end);
      if (end == v || *end || !(t > 0) || !isfinite(t)) {
        sn_cli_usage_error(CMD, "--time expects a positive number of seconds, got '%s'", v);
        goto cleanup;
      }
      c.time_s = t;
    } else if (TAKE("--threads")) {
      if (r < 0 || !sn_cli_int(CMD, "--threads", v, 0, 1024, &c.threads)) goto cleanup;
    } else if (TAKE("-O")) {
      if (r < 0 || !sn_cli_int(CMD, "-O", v, 0, 3, &c.level)) goto cleanup;
    } else if (TAKE("--json")) {
      if (r < 0) goto cleanup;
      json_path = v;
    } else if (TAKE("--sweep")) {
      if (r < 0 || !parse_sweep(v, &sb, &stt)) goto cleanup;
      sweep = true;
      while (i + 1 < argc && (strncmp(argv[i + 1], "batch=", 6) == 0 || strncmp(argv[i + 1], "threads=", 8) == 0)) {
        if (!parse_sweep(argv[++i], &sb, &stt)) goto cleanup;
      }
    } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
      quiet = true;
    } else if (argv[i][0] == '-' && argv[i][1] != 0) {
      sn_cli_usage_error(CMD, "unknown option '%s'", argv[i]);
      goto cleanup;
    } else if (!c.model) {
      c.model = argv[i];
    } else {
      sn_cli_usage_error(CMD, "unexpected argument '%s' (one MODEL only)", argv[i]);
      goto cleanup;
    }
#undef TAKE
  }
  if (!c.model) {
    sn_cli_usage_error(CMD, "missing MODEL");
    goto cleanup;
  }
  if (sweep && fo.batch >= 0 && sb.n) {
    sn_cli_usage_error(CMD, "--batch and --sweep batch=... exclude each other");
    goto cleanup;
  }
  if (sweep && c.threads >= 0 && stt.n) {
    sn_cli_usage_error(CMD, "--threads and --sweep threads=... exclude each other");
    goto cleanup;
  }
  c.fo = &fo;
  c.progress = isatty(STDERR_FILENO) != 0;

  rc = SN_EXIT_FAIL;
  model_facts mf = {c.model, 0};
  struct stat sbuf;
  if (stat(c.model, &sbuf) == 0) mf.file_bytes = (uint64_t)sbuf.st_size;
  /* (a missing file is reported by session creation, with the library's message) */

  if (!sb.n) {
    sb.v[0] = fo.batch;
    sb.n = 1;
  }
  if (!stt.n) {
    stt.v[0] = c.threads;
    stt.n = 1;
  }
  size_t n_points = (size_t)sb.n * (size_t)stt.n;
  if (!(results = sn_calloc(n_points, sizeof *results))) {
    fprintf(stderr, "sinter bench: error: out of memory\n");
    goto cleanup;
  }
  for (int ti = 0; ti < stt.n; ti++)
    for (int bi = 0; bi < sb.n; bi++) {
      if (c.progress && n_points > 1)
        fprintf(stderr, "\rsinter bench: point %zu of %zu (batch %lld, threads %lld)%-20s", n_results + 1, n_points,
                sb.v[bi], stt.v[ti], "");
      sinter_status *st = measure(&c, sb.v[bi], stt.v[ti], &results[n_results]);
      n_results++;
      if (st) {
        if (n_points > 1) st = sn_error_wrap(st, "sweep point batch %lld, threads %lld", sb.v[bi], stt.v[ti]);
        sn_cli_fail(CMD, st);
        goto cleanup;
      }
    }
  for (int k = 0; k < fo.n_dims; k++)
    if (!fo.dims[k].used)
      fprintf(stderr, "sinter bench: warning: --dim %s matches no symbolic dimension of a random input\n",
              fo.dims[k].name);

  if (!quiet) {
    if (sweep)
      print_table(&mf, &c, results, n_results);
    else
      print_report(&mf, &c, &results[0]);
  }
  if (json_path) {
    bool to_stdout = strcmp(json_path, "-") == 0;
    FILE *jf = to_stdout ? stdout : fopen(json_path, "w");
    if (!jf) {
      fprintf(stderr, "sinter bench: error: cannot write '%s': %s\n", json_path, strerror(errno));
      goto cleanup;
    }
    write_json(jf, &mf, &c, results, n_results, sweep);
    if (!to_stdout && fclose(jf) != 0) {
      fprintf(stderr, "sinter bench: error: cannot write '%s': %s\n", json_path, strerror(errno));
      goto cleanup;
    }
  }
  fflush(stdout);
  rc = SN_EXIT_OK;

cleanup:
  for (size_t i = 0; results && i < n_results; i++) result_free(&results[i]);
  sn_free(results);
  sn_feed_opts_free(&fo);
  return rc;
}
