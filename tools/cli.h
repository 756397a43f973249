/* The sinter command-line tool: one function per subcommand, dispatched by tools/sinter.c. */
#ifndef SINTER_CLI_H
#define SINTER_CLI_H

int cmd_run(int argc, char **argv);      /* tools/cmd_run.c */
int cmd_inspect(int argc, char **argv);  /* tools/cmd_inspect.c */
int cmd_classify(int argc, char **argv); /* tools/cmd_classify.c */
int cmd_test(int argc, char **argv);     /* tools/cmd_test.c: the ONNX conformance runner */
int cmd_bench(int argc, char **argv);    /* tools/cmd_bench.c: latency, throughput, memory */
int cmd_compare(int argc, char **argv);  /* tools/cmd_compare.c: accuracy against reference outputs */
int cmd_profile(int argc, char **argv);  /* tools/cmd_profile.c */
int cmd_optimize(int argc, char **argv); /* tools/cmd_optimize.c */
int cmd_quantize(int argc, char **argv); /* tools/cmd_quantize.c */

#endif
