/* The sinter command-line tool: dispatches to one function per subcommand (see tools/cli.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "sinter.h"

#include <stdbool.h>

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *summary;
} commands[] = {
    {"run", cmd_run, "run a model on given or random inputs; print or save the outputs"},
    {"inspect", cmd_inspect, "describe a model: opsets, inputs/outputs, op histogram, parameters"},
    {"classify", cmd_classify, "classify a batch of images (.npy) and report accuracy and timing"},
    {"test", cmd_test, "run ONNX backend conformance test folders"},
    {"bench", cmd_bench, "measure latency, throughput, memory and size (onnxruntime_perf_test's fields)"},
    {"compare", cmd_compare, "check a model's outputs against reference outputs (errors, cosine, top-k)"},
    {"optimize", cmd_optimize, "optimize a model's graph and save it as ONNX"},
    {"quantize", cmd_quantize, "quantize a float model to INT8 (dynamic or static QDQ) with an error report"},
    {"profile", cmd_profile, "time every step of a model: per node and per op type, Chrome trace"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f,
          "sinter %s: an inference runtime for ONNX models\n"
          "\n"
          "usage: sinter <command> [options]\n"
          "       sinter <command> --help\n"
          "       sinter --version | --help\n"
          "\n"
          "commands:\n",
          sinter_version());
  for (size_t i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f,
          "\n"
          "run, bench, profile, test, classify and compare also take --precision fp32|bf16: float32\n"
          "Conv/MatMul/Gemm in bfloat16 with float32 sums where the CPU has AVX512-BF16 (sets\n"
          "SINTER_PRECISION; fp32 elsewhere)\n"
          "\n"
          "exit status: 0 success, 1 failure (bad model, input or run), 2 usage error\n");
}

/* --precision P (or --precision=P) for the commands that run models: taken out of argv and passed
 * on as SINTER_PRECISION, which every session reads when its options leave precision on auto */
static int take_precision(const char *cmd, int *argc, char **argv) {
  static const char *const runs[] = {"run", "bench", "profile", "test", "classify", "compare"};
  bool any = false;
  for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) any |= strcmp(cmd, runs[i]) == 0;
  if (!any) return 0;
  for (int i = 1; i < *argc; i++) {
    const char *v = NULL;
    int n = 0;
    if (!strcmp(argv[i], "--precision")) {
      if (i + 1 >= *argc) return sn_cli_usage_error(cmd, "--precision needs a value (fp32 or bf16)");
      v = argv[i + 1], n = 2;
    } else if (!strncmp(argv[i], "--precision=", 12)) {
      v = argv[i] + 12, n = 1;
    } else {
      continue;
    }
    if (strcmp(v, "fp32") && strcmp(v, "bf16")) return sn_cli_usage_error(cmd, "--precision must be fp32 or bf16, not '%s'", v);
    setenv("SINTER_PRECISION", v, 1);
    for (int k = i; k + n < *argc; k++) argv[k] = argv[k + n];
    *argc -= n;
    i--;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return SN_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (sn_cli_is_help(cmd) || strcmp(cmd, "help") == 0) {
    if (strcmp(cmd, "help") == 0 && argc > 2) {
      for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[2], commands[i].name) == 0) {
          char help[] = "--help";
          char *sub_argv[] = {argv[2], help, NULL};
          return commands[i].fn(2, sub_argv);
        }
      return sn_cli_usage_error(NULL, "unknown command '%s'", argv[2]);
    }
    usage(stdout);
    return SN_EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
    printf("sinter %s\n", sinter_version());
    return SN_EXIT_OK;
  }
  int sub_argc = argc - 1;
  if (take_precision(cmd, &sub_argc, argv + 1)) return SN_EXIT_USAGE;
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(cmd, commands[i].name) == 0) return commands[i].fn(sub_argc, argv + 1);
  if (cmd[0] == '-') return sn_cli_usage_error(NULL, "unknown option '%s'", cmd);
  return sn_cli_usage_error(NULL, "unknown command '%s'", cmd);
}
