/* `sinter optimize IN OUT [-O LEVEL]`: load a model, run the graph passes of a level, and save the
 * optimized graph as ONNX (fused nodes in the "sinter" domain), which Sinter loads and runs again. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "onnx/writer.h"
#include "runtime/session.h"

static const char *CMD = "optimize";

static void usage(FILE *f) {
  fprintf(f,
          "usage: sinter optimize IN.onnx OUT.onnx [-O LEVEL]\n"
          "\n"
          "Loads IN, infers every shape, applies the graph optimizations of LEVEL (default 3: all) and\n"
          "writes the result to OUT as ONNX. Nodes Sinter fused live in the \"sinter\" domain; OUT loads\n"
          "and runs in Sinter with the same results.\n"
          "\n"
          "options:\n"
          "  -O LEVEL      0 none, 1 basic clean-ups, 2 fusions, 3 layout (default 3)\n"
          "  -h, --help    this help\n");
}

int cmd_optimize(int argc, char **argv) {
  const char *in = NULL, *out = NULL, *v;
  long long level = 3;
  for (int i = 1; i < argc; i++) {
    int r;
    if (sn_cli_is_help(argv[i])) {
      usage(stdout);
      return SN_EXIT_OK;
    }
    if ((r = sn_cli_opt(CMD, argc, argv, &i, "-O", &v))) {
      if (r < 0 || !sn_cli_int(CMD, "-O", v, 0, 3, &level)) return SN_EXIT_USAGE;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return sn_cli_usage_error(CMD, "unknown option '%s'", argv[i]);
    } else if (!in) {
      in = argv[i];
    } else if (!out) {
      out = argv[i];
    } else {
      return sn_cli_usage_error(CMD, "unexpected argument '%s'", argv[i]);
    }
  }
  if (!in || !out) return sn_cli_usage_error(CMD, "expects IN.onnx and OUT.onnx");
  sinter_options *opts = NULL;
  sinter_session *s = NULL;
  double t0 = sn_cli_now();
  sinter_status *st = sn_cli_options(1, (int)level, &opts);
  if (!st) opts->keep_weights = true; /* written out below: no weight may move into a packed copy */
  if (!st) st = sinter_session_create(in, opts, &s);
  int before = 0;
  if (!st) {
    /* count the original nodes by loading once more without optimization */
    sinter_session *s0 = NULL;
    sinter_options *o0 = NULL;
    sinter_status *st0 = sn_cli_options(1, 0, &o0);
    if (!st0) st0 = sinter_session_create(in, o0, &s0);
    if (!st0) before = s0->g->n_nodes;
    sinter_status_free(st0);
    sinter_session_free(s0);
    sinter_options_free(o0);
  }
  if (!st) st = sn_onnx_write_file(s->model, out);
  if (st) {
    sinter_session_free(s);
    sinter_options_free(opts);
    return sn_cli_fail(CMD, st);
  }
  char tb[64];
  printf("%s -> %s at -O%lld: %d nodes -> %d nodes (%s)\n", in, out, level, before, s->g->n_nodes,
         sn_cli_fmt_time(sn_cli_now() - t0, tb, sizeof tb));
  sinter_session_free(s);
  sinter_options_free(opts);
  return SN_EXIT_OK;
}
