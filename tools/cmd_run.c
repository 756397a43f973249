/* `sinter run`: run a model once on inputs from .npy files or seeded random data; print/save the outputs. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cli.h"
#include "cli_util.h"
#include "core/alloc.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "npy.h"
#include "sinter.h"

static const char *CMD = "run";

#define MAX_ARGS 256

static void run_usage(FILE *f) {
  fprintf(f,
          "usage: sinter run MODEL [options]\n"
          "\n"
          "Runs MODEL once. Inputs named with --input are read from .npy files; every other input gets\n"
          "seeded random data of its dtype and shape (symbolic dimensions are 1 unless set with --dim).\n"
          "Prints each output's dtype, shape, first values and min/max/mean.\n"
          "\n"
          "options:\n"
          "  --input NAME=FILE.npy   feed input NAME from a .npy file (repeatable)\n"
          "  --dim NAME=VALUE        size of symbolic dimension NAME for random inputs (repeatable)\n"
          "  --seed S                seed of the random inputs (default 0)\n"
          "  --range LO:HI           range of random values (default: floats in [-1,1), integers in\n"
          "                          [0,10), bools 0/1)\n"
          "  --output-dir DIR        write each output to DIR/<output name>.npy (created if missing)\n"
          "  --show K                print the first K values of each output (default 8)\n"
          "  --threads N             intra-op threads (default: one per physical core)\n"
          "  -O LEVEL                graph optimization level 0..3 (default 3)\n"
          "  -q, --quiet             print nothing but errors\n"
          "  -h, --help              this help\n"
          "\n"
          "exit status: 0 ok, 1 the model or an input was rejected or the run failed, 2 usage error\n");
}

/* splitmix64: small, seedable, good enough for test inputs */
static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

typedef struct kv {
  const char *name;
  const char *value;
  int used;
} kv;

/* NAME=VALUE; the first '=' splits (file paths may contain '='), or the last when last_eq. */
static bool split_kv(const char *arg, const char *opt, bool last_eq, kv *out) {
  const char *eq = last_eq ? strrchr(arg, '=') : strchr(arg, '=');
  if (!eq || eq == arg || !eq[1]) {
    sn_cli_usage_error(CMD, "%s expects %s, got '%s'", opt, last_eq ? "NAME=VALUE" : "NAME=FILE.npy", arg);
    return false;
  }
  char *name = sn_strndup(arg, (size_t)(eq - arg));
  if (!name) return false;
  out->name = name;
  out->value = eq + 1;
  out->used = 0;
  return true;
}

/* A random tensor for a model input, or an error naming what is missing. */
static sinter_status *random_input(const sinter_value_info *info, kv *dims, int n_dims, uint64_t seed, bool have_range,
                                   double lo, double hi, sinter_tensor **out) {
  *out = NULL;
  if (info->rank < 0)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "input '%s' has an unknown rank; give it with --input %s=FILE.npy",
                     info->name, info->name);
  if (info->dtype == SINTER_UNDEFINED)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "input '%s' has an unknown element type; give it with --input",
                     info->name);
  int64_t shape[SN_MAX_RANK];
  if (info->rank > SN_MAX_RANK) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "input '%s': rank too large", info->name);
  for (int d = 0; d < info->rank; d++) {
    shape[d] = info->dims[d];
    if (shape[d] >= 0) continue;
    shape[d] = 1;
    const char *sym = info->dim_names ? info->dim_names[d] : NULL;
    for (int k = 0; sym && k < n_dims; k++)
      if (strcmp(dims[k].name, sym) == 0) {
        shape[d] = strtoll(dims[k].value, NULL, 10);
        dims[k].used = 1;
      }
  }
  sinter_tensor *t = NULL;
  SN_TRY(sinter_tensor_create(info->dtype, shape, info->rank, &t));
  int64_t n = sinter_tensor_count(t);
  void *data = sinter_tensor_data(t);
  uint64_t s = seed * 0x2545f4914f6cdd1dull ^ hash_name(info->name);
  const sn_dtype_info *ti = sn_dt(info->dtype);
  if (info->dtype == SINTER_STRING) {
    /* an owned string tensor frees each string with sn_free */
    char **strs = data;
    for (int64_t i = 0; i < n; i++) {
      char tmp[32];
      snprintf(tmp, sizeof tmp, "s%u", (unsigned)(rng_next(&s) % 1000));
      if (!(strs[i] = sn_strdup(tmp))) {
        sinter_tensor_free(t);
        return SN_ERR_OOM();
      }
    }
  } else if (info->dtype == SINTER_COMPLEX64 || info->dtype == SINTER_COMPLEX128) {
    int64_t m = n * 2;
    for (int64_t i = 0; i < m; i++) {
      double v = have_range ? lo + (hi - lo) * rng_unit(&s) : 2.0 * rng_unit(&s) - 1.0;
      if (info->dtype == SINTER_COMPLEX64) ((float *)data)[i] = (float)v;
      else ((double *)data)[i] = v;
    }
  } else if (info->dtype == SINTER_BOOL) {
    for (int64_t i = 0; i < n; i++) ((uint8_t *)data)[i] = (uint8_t)(rng_next(&s) & 1);
  } else if (ti->is_float) {
    for (int64_t i = 0; i < n; i++) {
      double v = have_range ? lo + (hi - lo) * rng_unit(&s) : 2.0 * rng_unit(&s) - 1.0;
      sn_store_f64(info->dtype, data, i, v);
    }
  } else if (ti->is_int) {
    int64_t ilo = have_range ? (int64_t)ceil(lo) : 0, ihi = have_range ? (int64_t)floor(hi) : 9;
    if (!have_range && ti->size == 1 && !ti->is_signed) ihi = 9;
    uint64_t span = ihi >= ilo ? (uint64_t)(ihi - ilo) + 1 : 1;
    for (int64_t i = 0; i < n; i++) sn_store_i64(info->dtype, data, i, ilo + (int64_t)(rng_next(&s) % span));
  } else {
    sinter_tensor_free(t);
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "input '%s': cannot make random %s data; give it with --input",
                     info->name, sn_dtype_name(info->dtype));
  }
  *out = t;
  return NULL;
}

/* File-system-safe name for an output: [A-Za-z0-9._-], no leading dot, not empty, at most 200 bytes. */
static void sanitize(const char *name, char *buf, size_t n) {
  size_t k = 0;
  for (const char *p = name; *p && k + 1 < n && k < 200; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              (c == '.' && k > 0);
    buf[k++] = ok ? c : '_';
  }
  buf[k] = 0;
  if (k == 0) snprintf(buf, n, "output");
}

static void print_values(const sinter_tensor *tc, int show) {
  sinter_tensor *t = (sinter_tensor *)tc;
  sinter_dtype dt = sinter_tensor_dtype(t);
  int64_t n = sinter_tensor_count(t);
  const void *d = sinter_tensor_data(t);
  const sn_dtype_info *ti = sn_dt(dt);
  int64_t k = n < show ? n : show;
  if (show > 0 && n > 0) {
    printf("    values: ");
    for (int64_t i = 0; i < k; i++) {
      if (i) printf(", ");
      if (dt == SINTER_STRING) {
        const char *s = ((char *const *)d)[i];
        printf("\"%.40s%s\"", s ? s : "", s && strlen(s) > 40 ? "..." : "");
      } else if (dt == SINTER_COMPLEX64) {
        printf("%.6g%+.6gj", ((const float *)d)[2 * i], ((const float *)d)[2 * i + 1]);
      } else if (dt == SINTER_COMPLEX128) {
        printf("%.6g%+.6gj", ((const double *)d)[2 * i], ((const double *)d)[2 * i + 1]);
      } else if (dt == SINTER_BOOL) {
        printf("%s", ((const uint8_t *)d)[i] ? "true" : "false");
      } else if (dt == SINTER_UINT64) {
        printf("%llu", (unsigned long long)((const uint64_t *)d)[i]);
      } else if (ti->is_int) {
        printf("%lld", (long long)sn_load_i64(dt, d, i));
      } else if (ti->is_float) {
        printf("%.6g", sn_load_f64(dt, d, i));
      } else {
        printf("?");
      }
    }
    printf("%s\n", n > k ? ", ..." : "");
  }
  if (n == 0) {
    printf("    (empty)\n");
    return;
  }
  if (dt == SINTER_BOOL) {
    int64_t ones = 0;
    for (int64_t i = 0; i < n; i++) ones += ((const uint8_t *)d)[i] != 0;
    printf("    true: %lld of %lld\n", (long long)ones, (long long)n);
  } else if (ti->is_float || ti->is_int) {
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    int64_t nan = 0, inf = 0;
    for (int64_t i = 0; i < n; i++) {
      double v = ti->is_float ? sn_load_f64(dt, d, i)
                              : (dt == SINTER_UINT64 ? (double)((const uint64_t *)d)[i] : (double)sn_load_i64(dt, d, i));
      if (v != v) {
        nan++;
        continue;
      }
      if (isinf(v)) inf++;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
      sum += v;
    }
    if (nan == n) {
      printf("    all %lld values are NaN\n", (long long)n);
    } else {
      printf("    min %.6g  max %.6g  mean %.6g", mn, mx, sum / (double)(n - nan));
      if (nan) printf("  NaN: %lld", (long long)nan);
      if (inf) printf("  inf: %lld", (long long)inf);
      printf("\n");
    }
  }
}

int cmd_run(int argc, char **argv) {
  const char *model = NULL, *out_dir = NULL;
  kv inputs[MAX_ARGS], dims[MAX_ARGS];
  int n_inputs = 0, n_dims = 0;
  long long threads = -1, level = -1, seed = 0, show = 8;
  bool have_range = false, quiet = false;
  double lo = 0, hi = 0;
  int rc = SN_EXIT_USAGE;

  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (sn_cli_is_help(argv[i])) {
      run_usage(stdout);
      rc = SN_EXIT_OK;
      goto cleanup_args;
    }
#define TAKE(name) ((r = sn_cli_opt(CMD, argc, argv, &i, name, &v)) != 0)
    if (TAKE("--input")) {
      if (r < 0) goto cleanup_args;
      if (n_inputs == MAX_ARGS) {
        sn_cli_usage_error(CMD, "too many --input options");
        goto cleanup_args;
      }
      if (!split_kv(v, "--input", false, &inputs[n_inputs])) goto cleanup_args;
      n_inputs++;
      for (int k = 0; k + 1 < n_inputs; k++)
        if (strcmp(inputs[k].name, inputs[n_inputs - 1].name) == 0) {
          sn_cli_usage_error(CMD, "input '%s' is given twice", inputs[k].name);
          goto cleanup_args;
        }
    } else if (TAKE("--dim")) {
      if (r < 0) goto cleanup_args;
      if (n_dims == MAX_ARGS) {
        sn_cli_usage_error(CMD, "too many --dim options");
        goto cleanup_args;
      }
      if (!split_kv(v, "--dim", true, &dims[n_dims])) goto cleanup_args;
      n_dims++;
      long long dv;
      if (!sn_cli_int(CMD, "--dim value", dims[n_dims - 1].value, 0, INT32_MAX, &dv)) goto cleanup_args;
    } else if (TAKE("--output-dir")) {
      if (r < 0) goto cleanup_args;
      out_dir = v;
    } else if (TAKE("--seed")) {
      if (r < 0 || !sn_cli_int(CMD, "--seed", v, 0, INT64_MAX, &seed)) goto cleanup_args;
    } else if (TAKE("--range")) {
      if (r < 0) goto cleanup_args;
      char *end;
      lo = strtod(v, &end);
      if (end == v || *end != ':' || (hi = strtod(end + 1, &end), *end) || !(lo <= hi) || !isfinite(lo) ||
          !isfinite(hi)) {
        sn_cli_usage_error(CMD, "--range expects LO:HI with LO <= HI, got '%s'", v);
        goto cleanup_args;
      }
      have_range = true;
    } else if (TAKE("--show")) {
      if (r < 0 || !sn_cli_int(CMD, "--show", v, 0, INT32_MAX, &show)) goto cleanup_args;
    } else if (TAKE("--threads")) {
      if (r < 0 || !sn_cli_int(CMD, "--threads", v, 0, 4096, &threads)) goto cleanup_args;
    } else if (TAKE("-O")) {
      if (r < 0 || !sn_cli_int(CMD, "-O", v, 0, 3, &level)) goto cleanup_args;
    } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
      quiet = true;
    } else if (argv[i][0] == '-' && argv[i][1] != 0) {
      sn_cli_usage_error(CMD, "unknown option '%s'", argv[i]);
      goto cleanup_args;
    } else if (!model) {
      model = argv[i];
    } else {
      sn_cli_usage_error(CMD, "unexpected argument '%s' (one MODEL only)", argv[i]);
      goto cleanup_args;
    }
#undef TAKE
  }
  if (!model) {
    sn_cli_usage_error(CMD, "missing MODEL");
    goto cleanup_args;
  }

  rc = SN_EXIT_FAIL;
  sinter_status *st = NULL;
  sinter_options *opts = NULL;
  sinter_session *sess = NULL;
  size_t n_in = 0, n_out = 0, n_feed = 0, cap = 0;
  const char **feed_names = NULL;
  sinter_tensor **feeds = NULL, **outs = NULL;
  sn_npy *arrays = NULL;
  char buf[512], tb[64];

  if ((st = sn_cli_options((int)threads, (int)level, &opts))) goto fail;
  double t0 = sn_cli_now();
  if ((st = sinter_session_create(model, opts, &sess))) goto fail;
  double t_create = sn_cli_now() - t0;
  n_in = sinter_session_input_count(sess);
  n_out = sinter_session_output_count(sess);

  /* Feeds: every --input (even names the model lacks: the runtime reports those), then random data
   * for the model inputs not given. */
  cap = n_in + (size_t)n_inputs + 1;
  feed_names = sn_calloc(cap, sizeof *feed_names);
  feeds = sn_calloc(cap, sizeof *feeds);
  arrays = sn_calloc(cap, sizeof *arrays);
  outs = sn_calloc(n_out + 1, sizeof *outs);
  if (!feed_names || !feeds || !arrays || !outs) {
    st = SN_ERR_OOM();
    goto fail;
  }
  if (!quiet) printf("model: %s (session created in %s)\n", model, sn_cli_fmt_time(t_create, tb, sizeof tb));
  for (int k = 0; k < n_inputs; k++) {
    sn_npy *a = &arrays[n_feed];
    if ((st = sn_npy_read(inputs[k].value, a))) goto fail;
    if ((st = sinter_tensor_wrap(a->dtype, a->dims, a->rank, a->data, a->nbytes, &feeds[n_feed]))) goto fail;
    feed_names[n_feed++] = inputs[k].name;
    if (!quiet)
      printf("input  %s: %s%s from %s\n", inputs[k].name, sn_dtype_name(a->dtype),
             sn_cli_fmt_shape(a->rank, a->dims, NULL, buf, sizeof buf), inputs[k].value);
  }
  for (size_t i = 0; i < n_in; i++) {
    sinter_value_info info;
    if ((st = sinter_session_input_info(sess, i, &info))) goto fail;
    bool given = false;
    for (int k = 0; k < n_inputs; k++)
      if (strcmp(inputs[k].name, info.name) == 0) {
        given = true;
        inputs[k].used = 1;
      }
    if (given) continue;
    if ((st = random_input(&info, dims, n_dims, (uint64_t)seed, have_range, lo, hi, &feeds[n_feed])))
      goto fail;
    feed_names[n_feed] = info.name;
    if (!quiet) {
      sinter_tensor *t = feeds[n_feed];
      printf("input  %s: %s%s random (seed %lld; declared %s)\n", info.name, sn_dtype_name(info.dtype),
             sn_cli_fmt_shape(sinter_tensor_rank(t), sinter_tensor_dims(t), NULL, buf, sizeof buf), seed,
             sn_cli_fmt_shape(info.rank, info.dims, info.dim_names, buf + 256, 256));
    }
    n_feed++;
  }
  for (int k = 0; k < n_dims; k++)
    if (!dims[k].used && !quiet)
      fprintf(stderr, "sinter run: warning: --dim %s matches no symbolic dimension of a random input\n", dims[k].name);

  t0 = sn_cli_now();
  st = sinter_run(sess, feed_names, (const sinter_tensor *const *)feeds, n_feed, NULL, outs, n_out);
  double t_run = sn_cli_now() - t0;
  if (st) goto fail;
  if (!quiet) printf("run: %s\n", sn_cli_fmt_time(t_run, tb, sizeof tb));

  if (out_dir && mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
    st = sn_errorf(SINTER_ERR_NO_SUCH_FILE, "cannot create the output folder '%s': %s", out_dir, strerror(errno));
    goto fail;
  }
  char (*used)[208] = out_dir ? sn_calloc(n_out + 1, sizeof *used) : NULL;
  if (out_dir && !used) {
    st = SN_ERR_OOM();
    goto fail;
  }
  for (size_t i = 0; i < n_out; i++) {
    sinter_value_info info;
    if ((st = sinter_session_output_info(sess, i, &info))) {
      sn_free(used);
      goto fail;
    }
    sinter_tensor *y = outs[i];
    if (!quiet) {
      printf("output %s: %s%s\n", info.name, sn_dtype_name(sinter_tensor_dtype(y)),
             sn_cli_fmt_shape(sinter_tensor_rank(y), sinter_tensor_dims(y), NULL, buf, sizeof buf));
      print_values(y, (int)show);
    }
    if (out_dir) {
      char name[208];
      sanitize(info.name, name, sizeof name);
      /* two outputs may sanitize to one name: add _<output index> (then _2, _3 ...) until unique */
      size_t base = strlen(name);
      for (unsigned attempt = 0;; attempt++) {
        bool clash = false;
        for (size_t j = 0; j < i && !clash; j++) clash = strcmp(used[j], name) == 0;
        if (!clash) break;
        if (attempt == 0) snprintf(name + base, sizeof name - base, "_%zu", i);
        else snprintf(name + base, sizeof name - base, "_%zu_%u", i, attempt + 1);
      }
      memcpy(used[i], name, sizeof name);
      snprintf(buf, sizeof buf, "%s/%s.npy", out_dir, name);
      st = sn_npy_write(buf, sinter_tensor_dtype(y), sinter_tensor_rank(y), sinter_tensor_dims(y),
                        sinter_tensor_data(y), sinter_tensor_nbytes(y));
      if (st) {
        sn_free(used);
        st = sn_error_wrap(st, "output '%s'", info.name);
        goto fail;
      }
      if (!quiet) printf("    saved to %s\n", buf);
    }
  }
  sn_free(used);
  rc = SN_EXIT_OK;
  goto done;

fail:
  rc = sn_cli_fail(CMD, st);
done:
  for (size_t i = 0; outs && i < n_out; i++) sinter_tensor_free(outs[i]);
  for (size_t i = 0; feeds && i < cap; i++) sinter_tensor_free(feeds[i]);
  for (size_t i = 0; arrays && i < cap; i++) sn_npy_free(&arrays[i]);
  sn_free(outs);
  sn_free(feeds);
  sn_free(feed_names);
  sn_free(arrays);
  sinter_session_free(sess);
  sinter_options_free(opts);
cleanup_args:
  for (int k = 0; k < n_inputs; k++) sn_free((void *)inputs[k].name);
  for (int k = 0; k < n_dims; k++) sn_free((void *)dims[k].name);
  return rc;
}
