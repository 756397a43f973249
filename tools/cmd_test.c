/* `sinter test`: the ONNX backend conformance runner. Each test folder holds model.onnx and
 * test_data_set_N/input_K.pb + output_K.pb; every test runs in its own child process (a crash or a
 * hang fails that test only), compares with the ONNX suite's tolerances, and prints PASS / FAIL /
 * UNSUPPORTED with a one-line reason, then a summary. With --expect FILE, any listed test that does
 * not pass is named and the command fails: CI guards the passing list this way. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cli_util.h"
#include "core/alloc.h"
#include "onnx/onnx.h"
#include "onnx/writer.h"
#include "runtime/session.h"

#define RTOL 1e-3
#define ATOL 1e-7

typedef struct {
  char **v;
  int n, cap;
} strlist;

static void sl_push(strlist *l, const char *s) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->v = realloc(l->v, sizeof(char *) * (size_t)l->cap);
    if (!l->v) exit(3);
  }
  l->v[l->n++] = strdup(s);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void sl_free(strlist *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
}

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* Collect test folders: a folder with model.onnx, or the folders below one that has none. */
static void collect(const char *dir, strlist *out, int depth) {
  char p[4096];
  snprintf(p, sizeof p, "%s/model.onnx", dir);
  if (exists(p)) {
    sl_push(out, dir);
    return;
  }
  if (depth > 3) return;
  DIR *d = opendir(dir);
  if (!d) return;
  strlist kids = {0};
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (is_dir(p)) sl_push(&kids, p);
  }
  closedir(d);
  qsort(kids.v, (size_t)kids.n, sizeof(char *), cmp_str);
  for (int i = 0; i < kids.n; i++) collect(kids.v[i], out, depth + 1);
  sl_free(&kids);
}

/* "node/test_abs" from ".../data/node/test_abs" */
static const char *test_name(const char *dir, char *buf, size_t n) {
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/') len--;
  size_t b = len;
  while (b > 0 && dir[b - 1] != '/') b--;
  size_t a = b > 1 ? b - 1 : 0;
  while (a > 0 && dir[a - 1] != '/') a--;
  snprintf(buf, n, "%.*s", (int)(len - a), dir + a);
  return buf;
}

/* ---- comparison ---------------------------------------------------------------------------------- */

static bool compare(const sn_tensor *got, const sn_tensor *exp, const char *what, char *why, size_t n) {
  char a[256], b[256];
  if (got->kind != exp->kind) {
    snprintf(why, n, "%s: got %s, expected %s", what, sn_tensor_describe(got, a, sizeof a),
             sn_tensor_describe(exp, b, sizeof b));
    return false;
  }
  if (got->kind != SN_KIND_TENSOR) {
    if (got->n_items != exp->n_items) {
      snprintf(why, n, "%s: got %s, expected %s", what, sn_tensor_describe(got, a, sizeof a),
               sn_tensor_describe(exp, b, sizeof b));
      return false;
    }
    for (int i = 0; i < got->n_items; i++) {
      char w[256];
      snprintf(w, sizeof w, "%s[%d]", what, i);
      if (!compare(got->items[i], exp->items[i], w, why, n)) return false;
    }
    return true;
  }
  if (got->dtype != exp->dtype || got->rank != exp->rank ||
      (got->rank && memcmp(got->dims, exp->dims, sizeof(int64_t) * (size_t)got->rank))) {
    snprintf(why, n, "%s: got %s, expected %s", what, sn_tensor_describe(got, a, sizeof a),
             sn_tensor_describe(exp, b, sizeof b));
    return false;
  }
  sn_dtype dt = got->dtype;
  for (int64_t i = 0; i < got->count; i++) {
    if (dt == SINTER_STRING) {
      const char *x = ((char *const *)got->data)[i], *y = ((char *const *)exp->data)[i];
      if (strcmp(x ? x : "", y ? y : "")) {
        snprintf(why, n, "%s element %lld: got \"%.40s\", expected \"%.40s\"", what, (long long)i, x ? x : "",
                 y ? y : "");
        return false;
      }
    } else if (sn_dt(dt)->is_float) {
      double x = sn_load_f64(dt, got->data, i), y = sn_load_f64(dt, exp->data, i);
      if (isnan(x) && isnan(y)) continue;
      if (isinf(x) || isinf(y)) {
        if (x == y) continue;
      } else if (fabs(x - y) <= ATOL + RTOL * fabs(y)) {
        continue;
      }
      snprintf(why, n, "%s element %lld: got %.9g, expected %.9g", what, (long long)i, x, y);
      return false;
    } else if (dt == SINTER_COMPLEX64 || dt == SINTER_COMPLEX128) {
      int64_t m = 2;
      for (int64_t k = 0; k < m; k++) {
        double x = dt == SINTER_COMPLEX64 ? ((const float *)got->data)[2 * i + k] : ((const double *)got->data)[2 * i + k];
        double y = dt == SINTER_COMPLEX64 ? ((const float *)exp->data)[2 * i + k] : ((const double *)exp->data)[2 * i + k];
        if (!(fabs(x - y) <= ATOL + RTOL * fabs(y)) && !(isnan(x) && isnan(y))) {
          snprintf(why, n, "%s element %lld: got %.9g, expected %.9g", what, (long long)i, x, y);
          return false;
        }
      }
    } else {
      int64_t x = sn_load_i64(dt, got->data, i), y = sn_load_i64(dt, exp->data, i);
      if (x != y) {
        snprintf(why, n, "%s element %lld: got %lld, expected %lld", what, (long long)i, (long long)x, (long long)y);
        return false;
      }
    }
  }
  return true;
}

/* ---- one test (in the child) --------------------------------------------------------------------- */

typedef enum { R_PASS = 0, R_FAIL = 1, R_UNSUPPORTED = 2, R_RANDOM = 3 } result;

static result status_result(sinter_status *st) {
  return sinter_status_code(st) == SINTER_ERR_NOT_IMPLEMENTED ? R_UNSUPPORTED : R_FAIL;
}

static int find_value(const sn_session *s, const sn_io_info *io, int n, const char *name) {
  if (!name || !*name) return -1;
  for (int i = 0; i < n; i++)
    if (!strcmp(io[i].info.name, name)) return i;
  (void)s;
  return -1;
}

/* numpy has no bfloat16, so the suite stores bfloat16 test data as uint16 bit patterns: read them as
 * the bfloat16 the model declares */
static void retag_bfloat16(sn_tensor *t, sn_dtype declared) {
  if (t && t->kind == SN_KIND_TENSOR && t->dtype == SINTER_UINT16 && declared == SINTER_BFLOAT16)
    t->dtype = SINTER_BFLOAT16;
}

static result run_dataset(sn_session *s, const char *ds, char *why, size_t wn) {
  char p[4096];
  sn_tensor *in[256] = {0}, *exp[256] = {0}, *got[256] = {0};
  int in_ids[256], out_ids[256];
  int n_in = 0, n_out = 0;
  result r = R_PASS;
  sn_error *e = NULL;
  for (; n_in < 256; n_in++) {
    snprintf(p, sizeof p, "%s/input_%d.pb", ds, n_in);
    if (!exists(p)) break;
    char *name = NULL;
    int idx = -1;
    /* position first (for the kind hint), name when the file has one */
    int pos = n_in < s->n_in ? n_in : -1;
    int hint = pos >= 0 ? s->g->values[s->in[pos].value].type.kind : -1;
    e = sn_onnx_read_value_file(p, hint, &in[n_in], &name);
    if (!e) {
      idx = find_value(s, s->in, s->n_in, name);
      if (idx < 0) idx = pos;
    }
    sn_free(name);
    if (e) break;
    if (idx < 0) {
      snprintf(why, wn, "input_%d.pb does not match any graph input", n_in);
      r = R_FAIL;
      n_in++;
      goto done;
    }
    in_ids[n_in] = s->in[idx].value;
    retag_bfloat16(in[n_in], s->g->values[in_ids[n_in]].type.dtype);
  }
  for (; !e && n_out < 256; n_out++) {
    snprintf(p, sizeof p, "%s/output_%d.pb", ds, n_out);
    if (!exists(p)) break;
    char *name = NULL;
    int pos = n_out < s->n_out ? n_out : -1;
    int hint = pos >= 0 ? s->g->values[s->out[pos].value].type.kind : -1;
    e = sn_onnx_read_value_file(p, hint, &exp[n_out], &name);
    if (!e) {
      int idx = find_value(s, s->out, s->n_out, name);
      if (idx < 0) idx = pos;
      if (idx < 0) {
        snprintf(why, wn, "output_%d.pb does not match any graph output", n_out);
        r = R_FAIL;
        sn_free(name);
        n_out++;
        goto done;
      }
      out_ids[n_out] = s->out[idx].value;
      retag_bfloat16(exp[n_out], s->g->values[out_ids[n_out]].type.dtype);
    }
    sn_free(name);
  }
  if (e) {
    snprintf(why, wn, "reading test data: %s", e->msg);
    r = R_FAIL;
    goto done;
  }
  e = sn_session_run(s, n_in, in_ids, (const sn_tensor *const *)in, n_out, out_ids, got);
  if (e) {
    snprintf(why, wn, "%s", e->msg);
    r = status_result(e);
    goto done;
  }
  for (int k = 0; k < n_out; k++) {
    char what[300];
    snprintf(what, sizeof what, "output '%s'", s->g->values[out_ids[k]].name);
    if (!compare(got[k], exp[k], what, why, wn)) {
      r = R_FAIL;
      break;
    }
  }
done:
  sn_error_free(e);
  for (int k = 0; k < n_in; k++) sn_tensor_free(in[k]);
  for (int k = 0; k < n_out; k++) {
    sn_tensor_free(exp[k]);
    sn_tensor_free(got[k]);
  }
  return r;
}

/* Save the session's optimized model as ONNX and load it back (the writer's round trip). */
static sinter_status *reload(sinter_session **s, const sinter_options *opts) {
  uint8_t *bytes = NULL;
  size_t len = 0;
  sinter_status *st = sn_onnx_write_bytes((*s)->model, &bytes, &len);
  if (st) return sn_error_wrap(st, "writing the optimized model");
  sinter_session *s2 = NULL;
  st = sinter_session_create_from_bytes(bytes, len, opts, &s2);
  sn_free(bytes);
  if (st) return sn_error_wrap(st, "loading the written model back");
  s2->relaxed_input_shapes = (*s)->relaxed_input_shapes;
  sinter_session_free(*s);
  *s = s2;
  return NULL;
}

static bool roundtrip;

static result run_test(const char *dir, int threads, int opt_level, char *why, size_t wn) {
  char p[4096];
  snprintf(p, sizeof p, "%s/model.onnx", dir);
  sinter_options *opts = NULL;
  sinter_status *st = sn_cli_options(threads, opt_level, &opts);
  sinter_session *s = NULL;
  if (!st && roundtrip) opts->keep_weights = true; /* the optimized model is written back whole */
  if (!st) st = sinter_session_create(p, opts, &s);
  if (!st && roundtrip) opts->keep_weights = false; /* the reloaded session runs as any other */
  if (s) s->relaxed_input_shapes = true; /* as ONNX's own backend runner: data shapes win */
  if (!st && roundtrip) st = reload(&s, opts);
  sinter_options_free(opts);
  if (st) {
    snprintf(why, wn, "%s", sinter_status_message(st));
    result r = status_result(st);
    sinter_status_free(st);
    return r;
  }
  /* The expected outputs of random ops come from numpy's generator, which no runtime reproduces:
   * such tests run (so they must not crash) but are reported apart, neither passed nor failed. */
  const char *random_op = NULL;
  for (int i = 0; i < s->g->n_nodes && !random_op; i++)
    if (s->g->nodes[i].op && (s->g->nodes[i].op->flags & SN_OP_NO_FOLD)) random_op = s->g->nodes[i].op_type;
  strlist sets = {0};
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (!strncmp(e->d_name, "test_data_set_", 14)) {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      sl_push(&sets, p);
    }
  if (d) closedir(d);
  qsort(sets.v, (size_t)sets.n, sizeof(char *), cmp_str);
  result r = R_PASS;
  if (sets.n == 0) {
    snprintf(why, wn, "no test_data_set_* folder");
    r = R_FAIL;
  }
  for (int i = 0; i < sets.n && r == R_PASS; i++) {
    char sub[2048];
    r = run_dataset(s, sets.v[i], sub, sizeof sub);
    if (r != R_PASS) {
      const char *base = strrchr(sets.v[i], '/');
      snprintf(why, wn, "%s: %s", base ? base + 1 : sets.v[i], sub);
    }
  }
  sl_free(&sets);
  sinter_session_free(s);
  if (random_op && (r == R_PASS || r == R_FAIL)) {
    snprintf(why, wn, "%s is random: the expected values come from numpy's generator", random_op);
    r = R_RANDOM;
  }
  return r;
}

/* ---- the driver ------------------------------------------------------------------------------------ */

typedef struct {
  pid_t pid;
  int fd;
  int idx;
} child;

static const char *rname[] = {"PASS", "FAIL", "UNSUPPORTED", "RANDOM"};

static void usage(void) {
  printf("usage: sinter test [options] DIR...\n\n"
         "Run ONNX backend test folders (model.onnx + test_data_set_*/{input,output}_*.pb). A DIR that has\n"
         "no model.onnx is searched for test folders below it. Each test runs in its own process; results\n"
         "compare with |got - expected| <= 1e-7 + 1e-3*|expected| (NaN equals NaN; integers, bools and\n"
         "strings exact; shapes exact).\n\n"
         "options:\n"
         "  -j N              run N tests at once (default: number of CPUs)\n"
         "  --timeout S       seconds before a test counts as hung and fails (default 60)\n"
         "  --threads N       intra-op threads per session (default 1)\n"
         "  --precision P     fp32 (default) or bf16: float32 GEMMs in bfloat16 (AVX512-BF16)\n"
         "  -O LEVEL          optimization level 0..3 (default 3)\n"
         "  --expect FILE     names of tests that must pass (one per line, '#' comments); fail naming any\n"
         "                    that does not\n"
         "  --write-passing FILE  write the names of the passing tests, sorted\n"
         "  --roundtrip       write each optimized model as ONNX, load that back and test it instead\n"
         "  -q, --quiet       print only failures and the summary\n"
         "  -h, --help        this help\n");
}

int cmd_test(int argc, char **argv) {
  strlist dirs = {0}, tests = {0}, expect = {0};
  const char *expect_file = NULL, *write_file = NULL, *v;
  long long jobs = sysconf(_SC_NPROCESSORS_ONLN), timeout = 60, threads = 1, level = 3;
  bool quiet = false;
  for (int i = 1; i < argc; i++) {
    int r;
    if (sn_cli_is_help(argv[i])) {
      usage();
      return SN_EXIT_OK;
    }
    if ((r = sn_cli_opt("test", argc, argv, &i, "-j", &v))) {
      if (r < 0 || !sn_cli_int("test", "-j", v, 1, 256, &jobs)) return SN_EXIT_USAGE;
    } else if ((r = sn_cli_opt("test", argc, argv, &i, "--timeout", &v))) {
      if (r < 0 || !sn_cli_int("test", "--timeout", v, 1, 86400, &timeout)) return SN_EXIT_USAGE;
    } else if ((r = sn_cli_opt("test", argc, argv, &i, "--threads", &v))) {
      if (r < 0 || !sn_cli_int("test", "--threads", v, 0, 1024, &threads)) return SN_EXIT_USAGE;
    } else if ((r = sn_cli_opt("test", argc, argv, &i, "-O", &v))) {
      if (r < 0 || !sn_cli_int("test", "-O", v, 0, 3, &level)) return SN_EXIT_USAGE;
    } else if ((r = sn_cli_opt("test", argc, argv, &i, "--expect", &v))) {
      if (r < 0) return SN_EXIT_USAGE;
      expect_file = v;
    } else if ((r = sn_cli_opt("test", argc, argv, &i, "--write-passing", &v))) {
      if (r < 0) return SN_EXIT_USAGE;
      write_file = v;
    } else if (!strcmp(argv[i], "--roundtrip")) {
      roundtrip = true;
    } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
      quiet = true;
    } else if (argv[i][0] == '-') {
      return sn_cli_usage_error("test", "unknown option '%s'", argv[i]);
    } else {
      sl_push(&dirs, argv[i]);
    }
  }
  if (dirs.n == 0) return sn_cli_usage_error("test", "no test folder given");
  for (int i = 0; i < dirs.n; i++) {
    if (!is_dir(dirs.v[i])) {
      fprintf(stderr, "sinter test: error: '%s' is not a folder\n", dirs.v[i]);
      sl_free(&dirs);
      sl_free(&tests);
      return SN_EXIT_FAIL;
    }
    collect(dirs.v[i], &tests, 0);
  }
  if (expect_file) {
    FILE *f = fopen(expect_file, "r");
    if (!f) {
      fprintf(stderr, "sinter test: error: cannot open %s: %s\n", expect_file, strerror(errno));
      sl_free(&dirs);
      sl_free(&tests);
      return SN_EXIT_FAIL;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\r\n#")] = 0;
      size_t l = strlen(line);
      while (l && (line[l - 1] == ' ' || line[l - 1] == '\t')) line[--l] = 0;
      if (l) sl_push(&expect, line);
    }
    fclose(f);
  }
  int n = tests.n;
  result *res = calloc((size_t)(n ? n : 1), sizeof(result));
  char **why = calloc((size_t)(n ? n : 1), sizeof(char *));
  child *kids = calloc((size_t)jobs, sizeof(child));
  if (!res || !why || !kids) return SN_EXIT_FAIL;
  fflush(stdout);
  int next = 0, running = 0, counts[4] = {0, 0, 0, 0};
  while (next < n || running > 0) {
    while (running < jobs && next < n) {
      int fds[2];
      if (pipe(fds) != 0) return SN_EXIT_FAIL;
      pid_t pid = fork();
      if (pid == 0) {
        close(fds[0]);
        alarm((unsigned)timeout);
        char msg[4096] = "";
        result r = run_test(tests.v[next], (int)threads, (int)level, msg, sizeof msg);
        for (char *c = msg; *c; c++)
          if (*c == '\n') *c = ' ';
        char out[4200];
        int len = snprintf(out, sizeof out, "%d %s", (int)r, msg);
        if (write(fds[1], out, (size_t)(len < (int)sizeof out ? len : (int)sizeof out - 1)) < 0) _exit(4);
        for (int w = 0; w < n; w++) free(why[w]);
        free(res);
        free(why);
        free(kids);
        sl_free(&dirs);
        sl_free(&tests);
        sl_free(&expect);
        exit(0); /* a normal exit, so LeakSanitizer checks the test */
      }
      close(fds[1]);
      int slot = 0;
      while (kids[slot].pid) slot++;
      kids[slot] = (child){pid, fds[0], next};
      next++;
      running++;
    }
    int status;
    pid_t pid = wait(&status);
    if (pid < 0) break;
    int slot = 0;
    while (slot < jobs && kids[slot].pid != pid) slot++;
    if (slot == jobs) continue;
    child k = kids[slot];
    kids[slot].pid = 0;
    running--;
    char buf[4200];
    ssize_t got = 0, r;
    while ((r = read(k.fd, buf + got, sizeof buf - 1 - (size_t)got)) > 0) got += r;
    buf[got > 0 ? got : 0] = 0;
    close(k.fd);
    result rr = R_FAIL;
    char msg[4200];
    if (WIFSIGNALED(status)) {
      int sig = WTERMSIG(status);
      if (sig == SIGALRM)
        snprintf(msg, sizeof msg, "timed out after %lld s", timeout);
      else
        snprintf(msg, sizeof msg, "crashed with signal %d (%s)", sig, strsignal(sig));
    } else if (got < 2 || WEXITSTATUS(status) != 0) {
      snprintf(msg, sizeof msg, "test process exited with status %d", WEXITSTATUS(status));
    } else {
      rr = (result)(buf[0] - '0');
      if (rr > R_RANDOM) rr = R_FAIL;
      snprintf(msg, sizeof msg, "%s", buf + 2);
    }
    res[k.idx] = rr;
    why[k.idx] = strdup(msg);
    counts[rr]++;
    char name[1024];
    test_name(tests.v[k.idx], name, sizeof name);
    if (!quiet || rr != R_PASS) {
      if (rr == R_PASS)
        printf("PASS %s\n", name);
      else
        printf("%s %s: %s\n", rname[rr], name, msg);
      fflush(stdout);
    }
  }
  int rc = SN_EXIT_OK;
  if (write_file) {
    strlist pass = {0};
    char name[1024];
    for (int i = 0; i < n; i++)
      if (res[i] == R_PASS) sl_push(&pass, test_name(tests.v[i], name, sizeof name));
    qsort(pass.v, (size_t)pass.n, sizeof(char *), cmp_str);
    FILE *f = fopen(write_file, "w");
    if (!f) {
      fprintf(stderr, "sinter test: error: cannot write %s\n", write_file);
      rc = SN_EXIT_FAIL;
    } else {
      for (int i = 0; i < pass.n; i++) fprintf(f, "%s\n", pass.v[i]);
      fclose(f);
    }
    sl_free(&pass);
  }
  int regressions = 0;
  for (int e = 0; e < expect.n; e++) {
    int found = -1;
    char name[1024];
    for (int i = 0; i < n && found < 0; i++)
      if (!strcmp(test_name(tests.v[i], name, sizeof name), expect.v[e])) found = i;
    if (found < 0) {
      printf("REGRESSION %s: listed as passing but not found in the given folders\n", expect.v[e]);
      regressions++;
    } else if (res[found] != R_PASS) {
      printf("REGRESSION %s: listed as passing but %s: %s\n", expect.v[e], rname[res[found]], why[found]);
      regressions++;
    }
  }
  printf("summary: %d passed, %d failed, %d unsupported, %d random, %d tests", counts[0], counts[1], counts[2], counts[3],
         n);
  if (expect_file) printf("; %d of %d expected passes regressed", regressions, expect.n);
  printf("\n");
  if (regressions) rc = SN_EXIT_FAIL;
  if (!expect_file && counts[1] + counts[2] > 0) rc = SN_EXIT_FAIL;
  for (int i = 0; i < n; i++) free(why[i]);
  free(why);
  free(res);
  free(kids);
  sl_free(&dirs);
  sl_free(&tests);
  sl_free(&expect);
  return rc;
}
