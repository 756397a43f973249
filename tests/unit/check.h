/* The preamble the unit tests share (include it once, after the system headers):
 *   passed / failed and check(ok, what): count a check, print "FAIL: what" on stderr when it fails;
 *   CHECK(cond) or CHECK(cond, "fmt", ...): the same, printing file, line, the condition and the
 *     optional printf message;
 *   check_report(name): print "name: N passed, M failed", return the exit status (1 on a failure);
 *   next() / urand(): xorshift64* from the seed CHECK_SEED (define it before the include to start
 *     elsewhere; each test keeps its own stream), urand / drand uniform in [-1, 1) as float / double;
 *   xmalloc(bytes): malloc that never returns NULL (prints "out of memory" and exits);
 *   now(): CLOCK_MONOTONIC seconds, for the tests that print timings.
 * Everything is static and marked unused, so a test pays only for what it calls. */
#ifndef SINTER_TESTS_CHECK_H
#define SINTER_TESTS_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK_UNUSED __attribute__((unused))

static int passed CHECK_UNUSED, failed CHECK_UNUSED;

static CHECK_UNUSED void check_note_(const char *fmt, ...) {
  if (*fmt) {
    va_list ap;
    va_start(ap, fmt);
    fputs(": ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
  }
  fputc('\n', stderr);
}

static CHECK_UNUSED void check(bool ok, const char *what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "FAIL: %s\n", what);
  }
}

/* (the message, if any, must start with a string literal) */
#define CHECK(cond, ...)                                                             \
  do {                                                                               \
    if (cond) {                                                                      \
      passed++;                                                                      \
    } else {                                                                         \
      failed++;                                                                      \
      fprintf(stderr, "%s:%d: check failed: %s", __FILE__, __LINE__, #cond);         \
      check_note_("" __VA_ARGS__);                                                   \
    }                                                                                \
  } while (0)

static CHECK_UNUSED int check_report(const char *name) {
  printf("%s: %d passed, %d failed\n", name, passed, failed);
  return failed ? 1 : 0;
}

#ifndef CHECK_SEED
#define CHECK_SEED 0x9E3779B97F4A7C15ull
#endif
static uint64_t rng CHECK_UNUSED = CHECK_SEED;
static CHECK_UNUSED uint64_t next(void) { /* xorshift64* */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ull;
}
static CHECK_UNUSED double drand(void) { return (double)(next() >> 11) / 4503599627370496.0 - 1.0; }
static CHECK_UNUSED float urand(void) { return (float)drand(); }

static CHECK_UNUSED void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    printf("out of memory\n");
    exit(1);
  }
  return p;
}

static CHECK_UNUSED double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
