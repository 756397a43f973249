#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char oom_msg[] = "out of memory while reporting an error";
static sn_error oom_error = {SINTER_ERR_OUT_OF_MEMORY, oom_msg};

static char *vformat(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return NULL;
  char *s = malloc((size_t)n + 1);
  if (!s) return NULL;
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

sn_error *sn_errorf(sinter_code code, const char *fmt, ...) {
  sn_error *e = malloc(sizeof *e);
  if (!e) return &oom_error;
  va_list ap;
  va_start(ap, fmt);
  e->msg = vformat(fmt, ap);
  va_end(ap);
  if (!e->msg) {
    free(e);
    return &oom_error;
  }
  e->code = code;
  return e;
}

sn_error *sn_error_wrap(sn_error *e, const char *fmt, ...) {
  if (!e || e == &oom_error) return e;
  va_list ap;
  va_start(ap, fmt);
  char *prefix = vformat(fmt, ap);
  va_end(ap);
  if (!prefix) return e;
  size_t a = strlen(prefix), b = strlen(e->msg);
  char *s = malloc(a + 2 + b + 1);
  if (s) {
    memcpy(s, prefix, a);
    memcpy(s + a, ": ", 2);
    memcpy(s + a + 2, e->msg, b + 1);
    free(e->msg);
    e->msg = s;
  }
  free(prefix);
  return e;
}

void sn_error_free(sn_error *e) {
  if (!e || e == &oom_error) return;
  free(e->msg);
  free(e);
}

sinter_code sinter_status_code(const sinter_status *st) { return st ? st->code : SINTER_OK; }
const char *sinter_status_message(const sinter_status *st) { return st ? st->msg : "ok"; }
void sinter_status_free(sinter_status *st) { sn_error_free(st); }
const char *sinter_version(void) { return SINTER_VERSION; }
