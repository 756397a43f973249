/* `sinter profile`: run a model several times with per-step timing and print where the time goes,
 * per node and per op type (calls, total and mean time, share of the run, GFLOP/s and bytes moved
 * where meaningful, the kernel that ran), and optionally write a Chrome trace (JSON) that Perfetto
 * and chrome://tracing open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "core/alloc.h"
#include "feeds.h"
#include "kernels/gemm.h"
#include "kernels/qgemm.h"
#include "runtime/cpu.h"
#include "runtime/session.h"
#include "runtime/threadpool.h"

static const char *CMD = "profile";

static void usage(FILE *f) {
  fprintf(f,
          "usage: sinter profile MODEL [options]\n"
          "\n"
          "Runs MODEL --warmup times untimed, then --runs times timing every step, and prints a table\n"
          "per op type and the slowest nodes: calls, total and mean time, share of the run, GFLOP/s and\n"
          "bytes moved where meaningful, and the kernel that ran.\n"
          "\n"
          "GFLOP/s counts a multiply-add as 2 operations, float or integer: for INT8 ops (QLinearConv,\n"
          "ConvInteger, QLinearMatMul, MatMulInteger, QGemm, DynamicQuantizeMatMul, MatMulIntegerToFloat,\n"
          "DynamicQuantizeLSTM; marked 'i' after the figure) it is integer GOP/s. Convolutions count\n"
          "their direct form (also when they run as Winograd), matrix products M*N*K multiply-adds,\n"
          "recurrent ops their input and recurrent products, elementwise ops one per output element,\n"
          "pooling one per element a window reads, data movement none. MB moved: the sizes of the\n"
          "step's inputs and outputs (weights as stored). kernel: the first named kernel the node ran\n"
          "(the GEMM, INT8 GEMM or depthwise, Winograd or direct blocked convolution, bf16 or float32,\n"
          "small-M path, or the portable reference '_ref'), '+' the first other one it ran (an LSTM's\n"
          "recurrent GEMM, a Winograd layer's GEMM); '-' when the op computes with its own code. Per op\n"
          "type: the first node's, and '+N more' when other nodes of the type ran other kernels.\n"
          "\n"
          "options:\n"
          "%s"
          "  --runs N                timed runs (default 10)\n"
          "  --warmup N              untimed runs first (default 2)\n"
          "  --top K                 slowest nodes to list (default 15)\n"
          "  --trace FILE            write a Chrome trace (JSON) of the timed runs: one slice per step (its\n"
          "                          args: op, kernel, ops counted as above, int8), and per step one slice\n"
          "                          for each intra-op thread that worked in it\n"
          "  --threads N             intra-op threads (default: one per physical core)\n"
          "  --precision P           fp32 (default) or bf16: float32 GEMMs in bfloat16 (AVX512-BF16)\n"
          "  -O LEVEL                graph optimization level 0..3 (default 3)\n"
          "  -h, --help              this help\n",
          sn_feed_usage);
}

enum { KLABEL = 96 };

typedef struct {
  const char *op;
  int64_t calls;
  double ns, flops, bytes;
  bool integer;       /* a node: its operations are INT8 multiply-adds; an op type: any node's are */
  const char *kernel; /* what ran: "-" (the op's own code), a kernel, or "first+other" */
  int more_kernels;   /* an op type: how many other such labels its nodes had */
} op_row;

static int64_t type_count(const sn_type *t) {
  if (!sn_type_is_static(t)) return -1;
  int64_t d[SN_MAX_RANK];
  sn_type_dims(t, d);
  return sn_shape_count(t->rank, d);
}

static bool is(const char *op, const char *name) { return !strcmp(op, name); }

static const sn_type *in_type(const sn_plan *p, const sn_node *n, int i) {
  return n->n_in > i && n->in[i] >= 0 ? &p->types[n->in[i]] : NULL;
}

/* product of dims [from, rank) of a static type (1 when empty; -1 when not static) */
static double dims_from(const sn_type *t, int from) {
  if (!t || !sn_type_is_static(t)) return -1;
  double k = 1;
  for (int i = from; i < t->rank; i++) k *= (double)t->dims[i].v;
  return k;
}

/* Operations of one step, from the plan's concrete shapes: a multiply-add counts 2, whether float
 * or integer (*integer set for INT8 ops); an elementwise op one per output element; pooling one
 * per input element read; data movement 0. Fused ops count as their base op. Winograd and bf16
 * layers count the direct convolution's operations (so the figures compare). 0 when unknown. */
static double step_flops(const sn_plan *p, const sn_node *n, bool *integer) {
  const char *op = n->op_type;
  *integer = false;
  bool sinter = n->domain && !strcmp(n->domain, "sinter");
  bool ms = n->domain && !strcmp(n->domain, "com.microsoft");
  if (n->domain && *n->domain && !sinter && !ms) return 0;
  if (sinter && !strncmp(op, "Fused", 5)) op += 5; /* its epilogue is a few operations per output */
  const sn_type *out = n->n_out > 0 && n->out[0] >= 0 ? &p->types[n->out[0]] : NULL;
  const sn_type *a = in_type(p, n, 0), *b = in_type(p, n, 1);
  if (!out || !a) return 0;
  int64_t nout = type_count(out);
  if (nout < 0) return 0;
  static const char *const moves[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose",
                                      "Concat", "Split", "Slice", "Gather", "Pad", "Expand", "Tile", "Shape",
                                      "Cast", "DepthToSpace", "SpaceToDepth", "Dropout", "ReorderInput",
                                      "ReorderOutput", "QLinearConcat", "Constant", "ConstantOfShape", NULL};
  for (int i = 0; moves[i]; i++)
    if (is(op, moves[i])) return 0;
  if (sinter && is(op, "Attention")) {
    /* QK^T and PV: 2 * 2 * B * Sq * Sk * H (qkv_packed: one input [B, S, 3H]; seq_first: [S, B, .]) */
    if (!sn_type_is_static(a) || a->rank != 3) return 0;
    const int sf = sn_attr_int(n, "seq_first", 0) != 0;
    const double B = (double)a->dims[sf].v, sq = (double)a->dims[!sf].v;
    if (sn_attr_int(n, "qkv_packed", 0)) return 4.0 * B * sq * sq * (double)(a->dims[2].v / 3);
    if (!b || !sn_type_is_static(b) || b->rank != 3) return 0;
    return 4.0 * B * sq * (double)b->dims[!sf].v * (double)a->dims[2].v;
  }
  if (is(op, "Attention")) { /* ai.onnx (opset 23): Q, K, V as [B, H, S, d] or [B, S, H * d] */
    const sn_type *v = in_type(p, n, 2);
    if (!b || !v || !sn_type_is_static(a) || !sn_type_is_static(b) || !sn_type_is_static(v) || a->rank != b->rank ||
        (a->rank != 3 && a->rank != 4))
      return 0;
    double B = (double)a->dims[0].v, dq, dv, sq, sk;
    if (a->rank == 4) {
      sq = (double)a->dims[2].v, sk = (double)b->dims[2].v;
      dq = (double)a->dims[1].v * (double)a->dims[3].v; /* every query head */
      dv = (double)a->dims[1].v * (double)v->dims[3].v;
    } else {
      double hq = (double)sn_attr_int(n, "q_num_heads", 1), hkv = (double)sn_attr_int(n, "kv_num_heads", 1);
      if (hq <= 0 || hkv <= 0) return 0;
      sq = (double)a->dims[1].v, sk = (double)b->dims[1].v;
      dq = (double)a->dims[2].v, dv = (double)v->dims[2].v / hkv * hq;
    }
    return 2.0 * B * sq * sk * (dq + dv);
  }
  if (sinter && is(op, "NchwcConv") && b && sn_type_is_static(b) && (b->rank == 6 || b->rank == 4)) {
    /* packed weights: [MB, CB, kh, kw, b, b] (per output: CB * kh * kw * b MACs) or depthwise [CB, kh, kw, b] */
    double k = b->rank == 6 ? (double)b->dims[1].v * (double)b->dims[2].v * (double)b->dims[3].v * (double)b->dims[4].v
                            : (double)b->dims[1].v * (double)b->dims[2].v;
    /* grouped: a group's input channels per output (the weight's span also holds other groups' zeros) */
    const int64_t groups = sn_attr_int(n, "group", 1), cin = sn_attr_int(n, "input_channels", 0);
    if (b->rank == 6 && groups > 1 && cin > 0) k = (double)(cin / groups) * (double)b->dims[2].v * (double)b->dims[3].v;
    return 2.0 * (double)nout * k;
  }
  /* convolutions: the weight's dims past the first (input channels per group x kernel) per output */
  int wi = is(op, "Conv") || is(op, "ConvInteger") ? 1 : is(op, "QLinearConv") ? 3 : -1;
  if (wi > 0) {
    double k = dims_from(in_type(p, n, wi), 1);
    const sn_type *w = in_type(p, n, wi);
    if (k < 0 || w->rank < 3) return 0;
    *integer = wi == 3 || is(op, "ConvInteger");
    return 2.0 * (double)nout * k;
  }
  if (is(op, "ConvTranspose") && b && sn_type_is_static(b) && sn_type_is_static(a) && b->rank >= 3)
    return 2.0 * (double)type_count(a) * dims_from(b, 1);
  /* matrix products: K (A's last dimension, its first under transA) per output */
  bool mm_int = is(op, "MatMulInteger") || is(op, "QLinearMatMul") || is(op, "QGemm") ||
                is(op, "DynamicQuantizeMatMul") || is(op, "MatMulIntegerToFloat");
  if ((is(op, "MatMul") || is(op, "Gemm") || mm_int) && sn_type_is_static(a) && a->rank >= 1) {
    int64_t kdim = a->dims[a->rank - 1].v;
    if ((is(op, "Gemm") || is(op, "QGemm")) && sn_attr_int(n, "transA", 0) && a->rank == 2) kdim = a->dims[0].v;
    *integer = mm_int;
    return 2.0 * (double)nout * (double)kdim;
  }
  if (is(op, "LSTM") || is(op, "GRU") || is(op, "RNN") || is(op, "DynamicQuantizeLSTM")) {
    /* input and recurrent products of every step, gate and direction (the gates' elementwise work
     * is not counted) */
    const sn_type *r = in_type(p, n, 2);
    if (!b || !r || !sn_type_is_static(a) || !sn_type_is_static(b) || !sn_type_is_static(r) || a->rank != 3) return 0;
    double steps_batch = (double)a->dims[0].v * (double)a->dims[1].v;
    double w = (double)type_count(b) + (double)type_count(r); /* all directions and gates */
    *integer = is(op, "DynamicQuantizeLSTM");
    return 2.0 * steps_batch * w;
  }
  /* pooling: every input element a window reads (global pooling: the whole input) */
  if (is(op, "GlobalAveragePool") || is(op, "GlobalMaxPool") || is(op, "NchwcGlobalAveragePool") ||
      is(op, "QLinearGlobalAveragePool")) {
    int64_t c = type_count(a);
    *integer = is(op, "QLinearGlobalAveragePool");
    return c > 0 ? (double)c : 0;
  }
  if (is(op, "MaxPool") || is(op, "AveragePool") || is(op, "NchwcMaxPool") || is(op, "NchwcAveragePool")) {
    const int64_t *ks;
    int nk = sn_attr_ints(n, "kernel_shape", &ks);
    double k = 1;
    for (int i = 0; i < nk; i++) k *= (double)ks[i];
    return (double)nout * k;
  }
  *integer = a->dtype == SINTER_INT8 || a->dtype == SINTER_UINT8;
  return (double)nout; /* elementwise-like: one operation per output element */
}

static double step_bytes(const sn_plan *p, const sn_node *n) {
  double b = 0;
  for (int k = 0; k < n->n_in + n->n_out; k++) {
    int v = k < n->n_in ? n->in[k] : n->out[k - n->n_in];
    if (v < 0) continue;
    int64_t c = type_count(&p->types[v]);
    if (c > 0) b += (double)c * (double)sn_dtype_size(p->types[v].dtype);
  }
  return b;
}

static void json_escape(FILE *f, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
}

static int cmp_rows(const void *x, const void *y) {
  const op_row *a = x, *b = y;
  return (a->ns < b->ns) - (a->ns > b->ns);
}

int cmd_profile(int argc, char **argv) {
  const char *model = NULL, *trace = NULL;
  long long threads = -1, level = -1, runs = 10, warmup = 2, top = 15;
  sn_feed_opts fo;
  sn_feed_opts_init(&fo);
  int rc = SN_EXIT_USAGE;
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (sn_cli_is_help(argv[i])) {
      usage(stdout);
      rc = SN_EXIT_OK;
      goto out_args;
    }
    if ((r = sn_feed_parse(CMD, &fo, argc, argv, &i)) != 0) {
      if (r < 0) goto out_args;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--runs", &v))) {
      if (r < 0 || !sn_cli_int(CMD, "--runs", v, 1, 1000000, &runs)) goto out_args;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--warmup", &v))) {
      if (r < 0 || !sn_cli_int(CMD, "--warmup", v, 0, 1000000, &warmup)) goto out_args;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--top", &v))) {
      if (r < 0 || !sn_cli_int(CMD, "--top", v, 0, 1000000, &top)) goto out_args;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--trace", &v))) {
      if (r < 0) goto out_args;
      trace = v;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--threads", &v))) {
      if (r < 0 || !sn_cli_int(CMD, "--threads", v, 0, 4096, &threads)) goto out_args;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "-O", &v))) {
      if (r < 0 || !sn_cli_int(CMD, "-O", v, 0, 3, &level)) goto out_args;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      sn_cli_usage_error(CMD, "unknown option '%s'", argv[i]);
      goto out_args;
    } else if (!model) {
      model = argv[i];
    } else {
      sn_cli_usage_error(CMD, "unexpected argument '%s' (one MODEL only)", argv[i]);
      goto out_args;
    }
  }
  if (!model) {
    sn_cli_usage_error(CMD, "missing MODEL");
    goto out_args;
  }

  rc = SN_EXIT_FAIL;
  sinter_options *opts = NULL;
  sinter_session *s = NULL;
  sn_feeds feeds = {0};
  int *in_ids = NULL, *out_ids = NULL;
  sn_tensor **outs = NULL;
  uint64_t *start = NULL, *dur = NULL, *run_ns = NULL, *tfirst = NULL, *tlast = NULL;
  double *node_ns = NULL;
  const char **kern = NULL;
  char *klabel = NULL; /* per node: "-", "kernel" or "kernel+other kernel" */
  op_row *rows = NULL, *nodes = NULL;
  FILE *tf = NULL;
  sinter_status *st = sn_cli_options((int)threads, (int)level, &opts);
  if (!st) st = sinter_session_create(model, opts, &s);
  if (!st) st = sn_feeds_make(CMD, s, &fo, false, &feeds);
  if (st) goto fail;
  const sn_graph *g = s->g;
  int nn = g->n_nodes;
  in_ids = sn_calloc(feeds.n + 1, sizeof(int));
  out_ids = sn_calloc((size_t)s->n_out + 1, sizeof(int));
  outs = sn_calloc((size_t)s->n_out + 1, sizeof(sn_tensor *));
  start = sn_calloc((size_t)nn * (size_t)runs + 1, sizeof(uint64_t));
  dur = sn_calloc((size_t)nn * (size_t)runs + 1, sizeof(uint64_t));
  run_ns = sn_calloc((size_t)runs * 2 + 1, sizeof(uint64_t));
  const int nthr = sn_threadpool_size(s->pool);
  const size_t per_run = (size_t)nn * (size_t)nthr;
  if (trace) {
    tfirst = sn_calloc(per_run * (size_t)runs + 1, sizeof(uint64_t));
    tlast = sn_calloc(per_run * (size_t)runs + 1, sizeof(uint64_t));
    if (!tfirst || !tlast) {
      st = SN_ERR_OOM();
      goto fail;
    }
  }
  node_ns = sn_calloc((size_t)nn + 1, sizeof(double));
  kern = sn_calloc(2 * (size_t)nn + 1, sizeof(const char *));
  klabel = sn_calloc((size_t)nn * KLABEL + 1, 1);
  rows = sn_calloc((size_t)nn + 1, sizeof(op_row));
  nodes = sn_calloc((size_t)nn + 1, sizeof(op_row));
  if (!in_ids || !out_ids || !outs || !start || !dur || !run_ns || !node_ns || !kern || !klabel || !rows || !nodes) {
    st = SN_ERR_OOM();
    goto fail;
  }
  if ((st = sn_feeds_value_ids(s, &feeds, in_ids))) goto fail;
  for (int k = 0; k < s->n_out; k++) out_ids[k] = s->out[k].value;
  const sn_plan *plan = NULL;
  if ((st = sn_session_plan(s, (int)feeds.n, in_ids, (const sn_tensor *const *)feeds.tensors, &plan))) goto fail;
  for (long long r = 0; r < warmup + runs; r++) {
    sn_run_timing tm = {0};
    long long t = r - warmup;
    if (t >= 0) {
      tm.step_start_ns = start + (size_t)t * (size_t)nn;
      tm.step_ns = dur + (size_t)t * (size_t)nn;
      tm.step_kernel = kern; /* each run rewrites it: the last one's names are kept */
      if (tfirst) {
        tm.thread_first_ns = tfirst + (size_t)t * per_run;
        tm.thread_last_ns = tlast + (size_t)t * per_run;
      }
    }
    st = sn_session_run_timed(s, (int)feeds.n, in_ids, (const sn_tensor *const *)feeds.tensors, s->n_out, out_ids, outs,
                              t >= 0 ? &tm : NULL);
    for (int k = 0; k < s->n_out; k++) {
      sn_tensor_free(outs[k]);
      outs[k] = NULL;
    }
    if (st) goto fail;
    if (t >= 0) {
      run_ns[2 * t] = tm.run_start_ns;
      run_ns[2 * t + 1] = tm.run_ns;
    }
  }
  /* aggregate */
  double total_run = 0, total_steps = 0, total_flops = 0, total_iops = 0;
  for (long long t = 0; t < runs; t++) total_run += (double)run_ns[2 * t + 1];
  int n_rows = 0;
  for (int i = 0; i < nn; i++) {
    const sn_node *n = &g->nodes[i];
    double ns = 0;
    for (long long t = 0; t < runs; t++) ns += (double)dur[(size_t)t * (size_t)nn + (size_t)i];
    node_ns[i] = ns;
    total_steps += ns;
    bool integer;
    double fl = step_flops(plan, n, &integer), by = step_bytes(plan, n);
    total_flops += fl;
    if (integer) total_iops += fl;
    char *kl = klabel + (size_t)i * KLABEL;
    snprintf(kl, KLABEL, "%s%s%s", kern[2 * i] ? kern[2 * i] : "-", kern[2 * i + 1] ? "+" : "",
             kern[2 * i + 1] ? kern[2 * i + 1] : "");
    nodes[i] = (op_row){n->op_type, runs, ns, fl, by, integer, kl, 0};
    int k = 0;
    while (k < n_rows && strcmp(rows[k].op, n->op_type)) k++;
    if (k == n_rows) rows[n_rows++] = (op_row){n->op_type, 0, 0, 0, 0, false, NULL, 0};
    rows[k].calls += runs;
    rows[k].ns += ns;
    rows[k].flops += fl * (double)runs;
    rows[k].bytes += by * (double)runs;
    rows[k].integer |= integer && fl > 0;
    if (!rows[k].kernel) {
      rows[k].kernel = kl;
    } else if (strcmp(kl, rows[k].kernel)) { /* kernels this op type's earlier nodes did not use */
      bool seen = false;
      for (int j = 0; j < i && !seen; j++)
        seen = !strcmp(g->nodes[j].op_type, n->op_type) && !strcmp(klabel + (size_t)j * KLABEL, kl);
      if (!seen) rows[k].more_kernels++;
    }
  }
  qsort(rows, (size_t)n_rows, sizeof *rows, cmp_rows);
  char tb[64];
  printf("model: %s\n", model);
  int old_cap = sn_cpu_set_thread_cap(sn_session_cap(s));
  const char *gemm = sn_sgemm_kernel_name();
  sn_cpu_set_thread_cap(old_cap);
  printf("runs: %lld timed (after %lld warm-up), %d steps per run, %d thread%s, ISA %s, float32 GEMM %s", runs,
         warmup, nn, sn_threadpool_size(s->pool), sn_threadpool_size(s->pool) == 1 ? "" : "s", sn_isa_name(s->isa), gemm);
  if (total_iops > 0) {
    old_cap = sn_cpu_set_thread_cap(sn_session_cap(s));
    printf(", INT8 GEMM %s", sn_qgemm_kernel_name());
    sn_cpu_set_thread_cap(old_cap);
  }
  printf("\nmean run: %s; steps add up to %.1f%% of it; %.3f GFLOP per run, %.2f GFLOP/s",
         sn_cli_fmt_time(total_run / (double)runs * 1e-9, tb, sizeof tb), 100.0 * total_steps / total_run,
         total_flops * 1e-9, total_flops * (double)runs / total_run);
  if (total_iops > 0) printf(" (%.3f GOP of it INT8: integer multiply-adds count 2 ops too)", total_iops * 1e-9);
  printf("\n");
  printf("arena: %zu bytes for %d planned tensors (naive sum %zu bytes)\n\n", plan->arena_size, plan->n_planned,
         plan->naive_size);
  printf("%-24s %8s %12s %12s %7s %10s %12s  %s\n", "op type", "calls", "total", "mean", "share", "GFLOP/s", "MB moved",
         "kernel");
  for (int k = 0; k < n_rows; k++) {
    char a[64], b[64], more[32] = "";
    double gf = rows[k].ns > 0 ? rows[k].flops / rows[k].ns : 0;
    if (rows[k].more_kernels) snprintf(more, sizeof more, " +%d more", rows[k].more_kernels);
    printf("%-24s %8lld %12s %12s %6.1f%% %9.2f%s %12.2f  %s%s\n", rows[k].op, (long long)rows[k].calls,
           sn_cli_fmt_time(rows[k].ns * 1e-9, a, sizeof a), sn_cli_fmt_time(rows[k].ns / (double)rows[k].calls * 1e-9, b, sizeof b),
           100.0 * rows[k].ns / total_run, gf, rows[k].integer ? "i" : " ", rows[k].bytes / (double)rows[k].calls * 1e-6,
           rows[k].kernel, more);
  }
  if (top > 0) {
    printf("\n%-40s %-20s %12s %7s %10s %s\n", "slowest nodes", "op", "mean", "share", "GFLOP/s", "kernel");
    int *order = sn_malloc(sizeof(int) * (size_t)(nn ? nn : 1));
    if (!order) {
      st = SN_ERR_OOM();
      goto fail;
    }
    for (int i = 0; i < nn; i++) order[i] = i;
    for (int i = 0; i < nn; i++) /* partial selection sort: only the top K are needed */
      for (int j = i + 1; j < nn && i < top; j++)
        if (node_ns[order[j]] > node_ns[order[i]]) {
          int tmp = order[i];
          order[i] = order[j];
          order[j] = tmp;
        }
    for (int i = 0; i < nn && i < top; i++) {
      const sn_node *n = &g->nodes[order[i]];
      char a[64], name[48];
      snprintf(name, sizeof name, "%s", n->name && *n->name ? n->name : "(unnamed)");
      double gf = node_ns[order[i]] > 0 ? nodes[order[i]].flops * (double)runs / node_ns[order[i]] : 0;
      printf("%-40s %-20s %12s %6.1f%% %9.2f%s %s\n", name, n->op_type,
             sn_cli_fmt_time(node_ns[order[i]] / (double)runs * 1e-9, a, sizeof a), 100.0 * node_ns[order[i]] / total_run,
             gf, nodes[order[i]].integer ? "i" : " ", nodes[order[i]].kernel);
    }
    sn_free(order);
  }
  if (trace) {
    tf = fopen(trace, "w");
    if (!tf) {
      st = sn_errorf(SINTER_ERR_NO_SUCH_FILE, "cannot write the trace file '%s'", trace);
      goto fail;
    }
    uint64_t t0 = run_ns[0];
    fprintf(tf, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    fprintf(tf, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"sinter\"}}");
    fprintf(tf, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,\"args\":{\"name\":\"runs\"}}");
    fprintf(tf, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"steps\"}}");
    for (int w = 0; w < nthr; w++)
      fprintf(tf, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":\"thread %d%s\"}}",
              2 + w, w, w ? "" : " (caller)");
    for (long long t = 0; t < runs; t++) {
      fprintf(tf, ",\n{\"name\":\"run %lld\",\"cat\":\"run\",\"ph\":\"X\",\"pid\":1,\"tid\":0,\"ts\":%.3f,\"dur\":%.3f}", t,
              (double)(run_ns[2 * t] - t0) / 1e3, (double)run_ns[2 * t + 1] / 1e3);
      for (int i = 0; i < nn; i++) {
        const sn_node *n = &g->nodes[i];
        size_t at = (size_t)t * (size_t)nn + (size_t)i;
        fprintf(tf, ",\n{\"name\":\"");
        json_escape(tf, n->name && *n->name ? n->name : n->op_type);
        fprintf(tf, "\",\"cat\":\"");
        json_escape(tf, n->op_type);
        fprintf(tf, "\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"op\":\"",
                (double)(start[at] - t0) / 1e3, (double)dur[at] / 1e3);
        json_escape(tf, n->op_type);
        fprintf(tf, "\",\"step\":%d", i);
        fprintf(tf, ",\"kernel\":\"%s\",\"ops\":%.0f,\"int8\":%s", klabel + (size_t)i * KLABEL, nodes[i].flops,
                nodes[i].integer ? "true" : "false"); /* (kernel names are identifiers) */
        fprintf(tf, "}}");
        /* what each intra-op thread did in this step: the caller runs the kernel, so the whole
         * step; a worker, from its first chunk's start to its last's end */
        for (int w = 0; w < nthr; w++) {
          size_t k = (size_t)t * per_run + (size_t)i * (size_t)nthr + (size_t)w;
          uint64_t b = w ? tfirst[k] : start[at], e = w ? tlast[k] : start[at] + dur[at];
          if (!b) continue;
          fprintf(tf, ",\n{\"name\":\"");
          json_escape(tf, n->name && *n->name ? n->name : n->op_type);
          fprintf(tf, "\",\"cat\":\"");
          json_escape(tf, n->op_type);
          fprintf(tf, "\",\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"step\":%d,\"thread\":%d}}",
                  2 + w, (double)(b - t0) / 1e3, (double)(e - b) / 1e3, i, w);
        }
      }
    }
    fprintf(tf, "\n]}\n");
    fclose(tf);
    tf = NULL;
    printf("\ntrace: %s (open in https://ui.perfetto.dev or chrome://tracing)\n", trace);
  }
  rc = SN_EXIT_OK;
  goto done;
fail:
  rc = sn_cli_fail(CMD, st);
done:
  if (tf) fclose(tf);
  sn_free(in_ids);
  sn_free(out_ids);
  sn_free(outs);
  sn_free(start);
  sn_free(dur);
  sn_free(run_ns);
  sn_free(tfirst);
  sn_free(tlast);
  sn_free(node_ns);
  sn_free(kern);
  sn_free(klabel);
  sn_free(rows);
  sn_free(nodes);
  sn_feeds_free(&feeds);
  sinter_session_free(s);
  sinter_options_free(opts);
out_args:
  sn_feed_opts_free(&fo);
  return rc;
}
