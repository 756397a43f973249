/* Small helpers shared by the sinter subcommands: option matching, numbers, timing, status reporting. */
#include "cli_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int sn_cli_opt(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] == 0) {
    if (*i + 1 >= argc) {
      sn_cli_usage_error(cmd, "option %s needs a value", name);
      return -1;
    }
    *val = argv[++*i];
    return 1;
  }
  /* "-O2": attached values only for single-dash, single-letter options */
  if (name[0] == '-' && name[1] != '-' && n == 2) {
    *val = a + n;
    return 1;
  }
  return 0;
}

bool sn_cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

bool sn_cli_int(const char *cmd, const char *what, const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || errno == ERANGE || v < lo || v > hi) {
    sn_cli_usage_error(cmd, "%s must be an integer in [%lld, %lld], got '%s'", what, lo, hi, s);
    return false;
  }
  *out = v;
  return true;
}

int sn_cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "sinter%s%s: usage error: ", cmd ? " " : "", cmd ? cmd : "");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(see 'sinter%s%s --help')\n", cmd ? " " : "", cmd ? cmd : "");
  return SN_EXIT_USAGE;
}

int sn_cli_fail(const char *cmd, sinter_status *st) {
  fprintf(stderr, "sinter %s: error: %s\n", cmd, sinter_status_message(st));
  sinter_status_free(st);
  return SN_EXIT_FAIL;
}

sinter_status *sn_cli_options(int threads, int opt_level, sinter_options **out) {
  sinter_options *o = NULL;
  sinter_status *st = sinter_options_create(&o);
  if (!st && threads >= 0) st = sinter_options_set_threads(o, threads);
  if (!st && opt_level >= 0) st = sinter_options_set_opt_level(o, opt_level);
  if (st) {
    sinter_options_free(o);
    o = NULL;
  }
  *out = o;
  return st;
}

double sn_cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *sn_cli_fmt_time(double s, char *buf, size_t n) {
  if (s >= 1.0) snprintf(buf, n, "%.3f s", s);
  else if (s >= 1e-3) snprintf(buf, n, "%.3f ms", s * 1e3);
  else snprintf(buf, n, "%.1f us", s * 1e6);
  return buf;
}

const char *sn_cli_fmt_shape(int rank, const int64_t *dims, const char *const *dim_names, char *buf, size_t n) {
  if (n == 0) return buf;
  if (rank < 0) {
    snprintf(buf, n, "[unknown rank]");
    return buf;
  }
  size_t k = 0;
  buf[0] = 0;
#define PUT(...)                                                                                   \
  do {                                                                                             \
    if (k < n) {                                                                                   \
      int w_ = snprintf(buf + k, n - k, __VA_ARGS__);                                              \
      if (w_ > 0) k += (size_t)w_;                                                                 \
    }                                                                                              \
  } while (0)
  PUT("[");
  for (int i = 0; i < rank; i++) {
    if (i) PUT(",");
    if (dims[i] >= 0) PUT("%lld", (long long)dims[i]);
    else if (dim_names && dim_names[i] && dim_names[i][0]) PUT("%s", dim_names[i]);
    else PUT("?");
  }
  PUT("]");
#undef PUT
  return buf;
}
