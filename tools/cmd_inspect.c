/* `sinter inspect`: describe a model file (versions, opsets, inputs/outputs, op histogram, parameters). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_util.h"
#include "plan_view.h"
#include "core/alloc.h"
#include "core/dtype.h"
#include "ir/ir.h"
#include "onnx/onnx.h"

static const char *CMD = "inspect";

static void inspect_usage(FILE *f) {
  fprintf(f,
          "usage: sinter inspect MODEL [--json] [--plan [--svg FILE] [-O LEVEL] [input options]]\n"
          "\n"
          "Describes MODEL without running it: IR version, opset per domain, producer, graph name,\n"
          "inputs and outputs (dtype and shape, symbolic dimensions by name), a histogram of op types\n"
          "(subgraphs included), node count, parameters (initializers: element count and bytes) and\n"
          "the file size.\n"
          "\n"
          "options:\n"
          "  --json        machine-readable output (one JSON object)\n"
          "  --plan        also load the model, optimize it and plan its memory at the input shapes given\n"
          "                by the options below (random inputs: symbolic dims 1 unless set); print the\n"
          "                arena size next to the naive sum of all intermediates and the weight bytes\n"
          "  --svg FILE    with --plan: draw which tensor occupies which bytes at which step (SVG; a PNG\n"
          "                beside it when rsvg-convert or ImageMagick is installed)\n"
          "  -O LEVEL      with --plan: optimization level 0..3 (default 3)\n"
          "%s"
          "  -h, --help    this help\n", sn_feed_usage);
}

/* ---- gathering ---------------------------------------------------------------------------------- */

typedef struct op_count {
  char *key; /* "Conv" or "com.microsoft:FusedConv" */
  long long n;
} op_count;

typedef struct stats {
  op_count *ops;
  int n_ops, cap_ops;
  long long nodes, subgraph_nodes, subgraphs;
  long long params, param_bytes, initializers;
  long long const_params, const_bytes, const_nodes;
} stats;

static sn_error *count_op(stats *s, const sn_node *n) {
  char key[256];
  if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
    snprintf(key, sizeof key, "%s:%s", n->domain, n->op_type ? n->op_type : "?");
  else
    snprintf(key, sizeof key, "%s", n->op_type ? n->op_type : "?");
  for (int i = 0; i < s->n_ops; i++)
    if (strcmp(s->ops[i].key, key) == 0) {
      s->ops[i].n++;
      return NULL;
    }
  if (s->n_ops == s->cap_ops) {
    int cap = s->cap_ops ? s->cap_ops * 2 : 32;
    op_count *o = sn_realloc(s->ops, sizeof *o * (size_t)cap);
    if (!o) return SN_ERR_OOM();
    s->ops = o;
    s->cap_ops = cap;
  }
  s->ops[s->n_ops].key = sn_strdup(key);
  if (!s->ops[s->n_ops].key) return SN_ERR_OOM();
  s->ops[s->n_ops++].n = 1;
  return NULL;
}

static sn_error *walk(stats *s, const sn_graph *g, int depth) {
  if (!g || depth > 64) return NULL;
  for (int v = 0; v < g->n_values; v++) {
    const sn_value *val = &g->values[v];
    if (val->role == SN_VAL_INITIALIZER && val->data) {
      s->initializers++;
      s->params += val->data->count;
      s->param_bytes += (long long)val->data->nbytes;
    }
  }
  for (int i = 0; i < g->n_nodes; i++) {
    const sn_node *n = &g->nodes[i];
    if (depth == 0) s->nodes++;
    else s->subgraph_nodes++;
    SN_TRY(count_op(s, n));
    if (n->op_type && strcmp(n->op_type, "Constant") == 0 && (!n->domain || !n->domain[0])) {
      s->const_nodes++;
      const sn_attr *a = sn_node_attr(n, "value");
      if (a && a->t) {
        s->const_params += a->t->count;
        s->const_bytes += (long long)a->t->nbytes;
      }
    }
    for (int k = 0; k < n->n_attrs; k++) {
      const sn_attr *a = &n->attrs[k];
      if (a->g) {
        s->subgraphs++;
        SN_TRY(walk(s, a->g, depth + 1));
      }
      for (int j = 0; a->graphs && j < a->n; j++) {
        s->subgraphs++;
        SN_TRY(walk(s, a->graphs[j], depth + 1));
      }
    }
  }
  return NULL;
}

static int cmp_ops(const void *a, const void *b) {
  const op_count *x = a, *y = b;
  if (x->n != y->n) return x->n > y->n ? -1 : 1;
  return strcmp(x->key, y->key);
}

/* ---- printing ------------------------------------------------------------------------------------- */

static const char *human_bytes(long long b, char *buf, size_t n) {
  if (b >= 1024LL * 1024 * 1024) snprintf(buf, n, "%.2f GiB", (double)b / (1024.0 * 1024 * 1024));
  else if (b >= 1024LL * 1024) snprintf(buf, n, "%.2f MiB", (double)b / (1024.0 * 1024));
  else if (b >= 1024) snprintf(buf, n, "%.1f KiB", (double)b / 1024.0);
  else snprintf(buf, n, "%lld B", b);
  return buf;
}

static const char *grouped(long long v, char *buf, size_t n) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%lld", v < 0 ? -v : v);
  size_t len = strlen(tmp), k = 0;
  if (v < 0 && k + 1 < n) buf[k++] = '-';
  for (size_t i = 0; i < len && k + 2 < n; i++) {
    if (i && (len - i) % 3 == 0) buf[k++] = ',';
    buf[k++] = tmp[i];
  }
  buf[k] = 0;
  return buf;
}

static void json_str(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    switch (*p) {
      case '"': fputs("\\\"", stdout); break;
      case '\\': fputs("\\\\", stdout); break;
      case '\n': fputs("\\n", stdout); break;
      case '\r': fputs("\\r", stdout); break;
      case '\t': fputs("\\t", stdout); break;
      default:
        if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
  }
  putchar('"');
}

static void json_type(const sn_type *t) {
  printf("\"kind\": \"%s\", \"dtype\": ",
         t->kind == SN_KIND_SEQUENCE ? "sequence" : t->kind == SN_KIND_OPTIONAL ? "optional" : "tensor");
  if (t->dtype) json_str(sn_dtype_name(t->dtype));
  else printf("null");
  printf(", \"shape\": ");
  if (t->rank < 0) {
    printf("null");
    return;
  }
  printf("[");
  for (int i = 0; i < t->rank; i++) {
    if (i) printf(", ");
    if (t->dims[i].v >= 0) printf("%lld", (long long)t->dims[i].v);
    else if (t->dims[i].sym) json_str(t->dims[i].sym);
    else printf("null");
  }
  printf("]");
}

static void json_values(const sn_graph *g, const int *ids, int n) {
  printf("[");
  for (int i = 0; i < n; i++) {
    const sn_value *v = &g->values[ids[i]];
    printf("%s{\"name\": ", i ? ", " : "");
    json_str(v->name);
    printf(", ");
    json_type(&v->type);
    printf("}");
  }
  printf("]");
}

static void print_json(const char *path, long long fsize, const sn_model *m, const stats *s) {
  const sn_graph *g = m->graph;
  printf("{\"path\": ");
  json_str(path);
  printf(", \"file_size\": %lld, \"ir_version\": %lld, \"producer_name\": ", fsize, (long long)m->ir_version);
  json_str(m->producer_name);
  printf(", \"producer_version\": ");
  json_str(m->producer_version);
  printf(", \"domain\": ");
  json_str(m->domain);
  printf(", \"model_version\": %lld, \"graph_name\": ", (long long)m->model_version);
  json_str(g && g->name ? g->name : "");
  printf(", \"opsets\": {");
  for (int i = 0; i < m->n_opsets; i++) {
    printf("%s", i ? ", " : "");
    json_str(m->opsets[i].domain && m->opsets[i].domain[0] ? m->opsets[i].domain : "ai.onnx");
    printf(": %lld", (long long)m->opsets[i].version);
  }
  printf("}, \"metadata\": {");
  for (int i = 0; i < m->n_meta; i++) {
    printf("%s", i ? ", " : "");
    json_str(m->meta_keys[i]);
    printf(": ");
    json_str(m->meta_values[i]);
  }
  printf("}, \"inputs\": ");
  if (g) json_values(g, g->inputs, g->n_inputs);
  else printf("[]");
  printf(", \"outputs\": ");
  if (g) json_values(g, g->outputs, g->n_outputs);
  else printf("[]");
  printf(", \"nodes\": %lld, \"subgraph_nodes\": %lld, \"ops\": {", s->nodes, s->subgraph_nodes);
  for (int i = 0; i < s->n_ops; i++) {
    printf("%s", i ? ", " : "");
    json_str(s->ops[i].key);
    printf(": %lld", s->ops[i].n);
  }
  printf("}, \"initializers\": %lld, \"parameters\": %lld, \"parameter_bytes\": %lld, \"constant_nodes\": %lld, "
         "\"constant_elements\": %lld, \"constant_bytes\": %lld}\n",
         s->initializers, s->params, s->param_bytes, s->const_nodes, s->const_params, s->const_bytes);
}

static void print_values(const char *title, const sn_graph *g, const int *ids, int n) {
  printf("%s (%d):\n", title, n);
  int w = 4;
  for (int i = 0; i < n; i++) {
    int l = (int)strlen(g->values[ids[i]].name);
    if (l > w) w = l;
  }
  if (w > 48) w = 48;
  for (int i = 0; i < n; i++) {
    char tb[512];
    const sn_value *v = &g->values[ids[i]];
    printf("  %-*s  %s\n", w, v->name, sn_type_str(&v->type, tb, sizeof tb));
  }
}

static void print_text(const char *path, long long fsize, const sn_model *m, const stats *s) {
  const sn_graph *g = m->graph;
  char b1[64], b2[64];
  printf("model:      %s (%s)\n", path, human_bytes(fsize, b1, sizeof b1));
  printf("ir version: %lld\n", (long long)m->ir_version);
  printf("producer:   %s%s%s\n", m->producer_name && m->producer_name[0] ? m->producer_name : "(none)",
         m->producer_version && m->producer_version[0] ? " " : "", m->producer_version ? m->producer_version : "");
  if (m->domain && m->domain[0]) printf("domain:     %s\n", m->domain);
  if (m->model_version) printf("version:    %lld\n", (long long)m->model_version);
  printf("opsets:     ");
  for (int i = 0; i < m->n_opsets; i++)
    printf("%s%s %lld", i ? ", " : "", m->opsets[i].domain && m->opsets[i].domain[0] ? m->opsets[i].domain : "ai.onnx",
           (long long)m->opsets[i].version);
  printf("%s\n", m->n_opsets ? "" : "(none)");
  printf("graph:      %s\n", g && g->name && g->name[0] ? g->name : "(unnamed)");
  if (m->doc && m->doc[0]) printf("doc:        %.200s%s\n", m->doc, strlen(m->doc) > 200 ? "..." : "");
  for (int i = 0; i < m->n_meta; i++) printf("metadata:   %s = %.200s\n", m->meta_keys[i], m->meta_values[i]);
  if (m->n_functions) printf("functions:  %d (inlined at load)\n", m->n_functions);
  printf("\n");
  if (g) {
    print_values("inputs", g, g->inputs, g->n_inputs);
    print_values("outputs", g, g->outputs, g->n_outputs);
  }
  printf("\nnodes: %lld", s->nodes);
  if (s->subgraph_nodes) printf(" (+%lld in %lld subgraphs)", s->subgraph_nodes, s->subgraphs);
  printf(", %d op types\n", s->n_ops);
  int w = 8;
  for (int i = 0; i < s->n_ops; i++) {
    int l = (int)strlen(s->ops[i].key);
    if (l > w) w = l;
  }
  if (w > 48) w = 48;
  for (int i = 0; i < s->n_ops; i++) printf("  %-*s %6lld\n", w, s->ops[i].key, s->ops[i].n);
  printf("\nparameters: %s in %lld initializers (%s)\n", grouped(s->params, b1, sizeof b1), s->initializers,
         human_bytes(s->param_bytes, b2, sizeof b2));
  if (s->const_nodes)
    printf("constants:  %s elements in %lld Constant nodes (%s)\n", grouped(s->const_params, b1, sizeof b1),
           s->const_nodes, human_bytes(s->const_bytes, b2, sizeof b2));
}

int cmd_inspect(int argc, char **argv) {
  const char *path = NULL, *svg = NULL, *v;
  bool json = false, plan = false;
  long long level = -1;
  sn_feed_opts fo;
  sn_feed_opts_init(&fo);
  int r;
  for (int i = 1; i < argc; i++) {
    if (sn_cli_is_help(argv[i])) {
      inspect_usage(stdout);
      sn_feed_opts_free(&fo);
      return SN_EXIT_OK;
    } else if ((r = sn_feed_parse(CMD, &fo, argc, argv, &i)) != 0) {
      if (r < 0) {
        sn_feed_opts_free(&fo);
        return SN_EXIT_USAGE;
      }
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--svg", &v)) != 0) {
      if (r < 0) return SN_EXIT_USAGE;
      svg = v;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "-O", &v)) != 0) {
      if (r < 0 || !sn_cli_int(CMD, "-O", v, 0, 3, &level)) return SN_EXIT_USAGE;
    } else if (strcmp(argv[i], "--plan") == 0) {
      plan = true;
    } else if (strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (argv[i][0] == '-' && argv[i][1] != 0) {
      return sn_cli_usage_error(CMD, "unknown option '%s'", argv[i]);
    } else if (!path) {
      path = argv[i];
    } else {
      return sn_cli_usage_error(CMD, "unexpected argument '%s' (one MODEL only)", argv[i]);
    }
  }
  if (!path) return sn_cli_usage_error(CMD, "missing MODEL");

  struct stat sb;
  long long fsize = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
  sn_model *m = NULL;
  sn_error *e = sn_onnx_load_file(path, &m);
  if (e) return sn_cli_fail(CMD, e);
  stats s;
  memset(&s, 0, sizeof s);
  e = walk(&s, m->graph, 0);
  if (e) {
    for (int i = 0; i < s.n_ops; i++) sn_free(s.ops[i].key);
    sn_free(s.ops);
    sn_model_free(m);
    return sn_cli_fail(CMD, e);
  }
  if (s.n_ops) qsort(s.ops, (size_t)s.n_ops, sizeof *s.ops, cmp_ops);
  if (json) print_json(path, fsize, m, &s);
  else print_text(path, fsize, m, &s);
  for (int i = 0; i < s.n_ops; i++) sn_free(s.ops[i].key);
  sn_free(s.ops);
  sn_model_free(m);
  int rc = SN_EXIT_OK;
  if (plan) rc = sn_plan_view(CMD, path, (int)level, &fo, svg);
  sn_feed_opts_free(&fo);
  return rc;
}
