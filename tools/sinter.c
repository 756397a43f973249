/* The sinter command-line tool: dispatches to one function per subcommand (see tools/cli.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "sinter.h"

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
          "exit status: 0 success, 1 failure (bad model, input or run), 2 usage error\n");
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
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(cmd, commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
  if (cmd[0] == '-') return sn_cli_usage_error(NULL, "unknown option '%s'", cmd);
  return sn_cli_usage_error(NULL, "unknown command '%s'", cmd);
}
