/* Small helpers shared by the sinter subcommands: option matching, numbers, timing, status reporting. */
#ifndef SN_CLI_UTIL_H
#define SN_CLI_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sinter.h"

/* Exit codes of every subcommand. */
enum { SN_EXIT_OK = 0, SN_EXIT_FAIL = 1, SN_EXIT_USAGE = 2 };

/* If argv[*i] is the option `name` ("--threads" or "-O"), set *val to its value, taken from
 * "--name=V", "-OV" (single-dash names) or the next argument (advancing *i), and return 1. Returns 0
 * when argv[*i] is another option, and -1 (after printing a usage error for `cmd`) when the value is
 * missing. */
int sn_cli_opt(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val);
/* true if argv[i] is -h or --help */
bool sn_cli_is_help(const char *arg);
/* Parse a whole decimal integer in [lo, hi]; prints a usage error naming `what` and returns false
 * otherwise. */
bool sn_cli_int(const char *cmd, const char *what, const char *s, long long lo, long long hi, long long *out);
/* Print "sinter CMD: usage error: ..." and a hint to use --help; returns SN_EXIT_USAGE. */
int sn_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Print "sinter CMD: error: <message>" for a failed call, free the status, return SN_EXIT_FAIL. */
int sn_cli_fail(const char *cmd, sinter_status *st);
/* Session options from --threads / -O values (threads < 0 or level < 0: leave the default). */
sinter_status *sn_cli_options(int threads, int opt_level, sinter_options **out);
/* Monotonic seconds. */
double sn_cli_now(void);
/* "3.2 ms" / "1.25 s" / "850 us" into buf. */
const char *sn_cli_fmt_time(double seconds, char *buf, size_t n);
/* "[1,3,224,224]" with dim names for symbolic dims ("[N,3,224,224]") into buf. */
const char *sn_cli_fmt_shape(int rank, const int64_t *dims, const char *const *dim_names, char *buf, size_t n);

#endif
