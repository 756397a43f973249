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
#include "feeds.h"
#include "npy.h"
#include "sinter.h"

static const char *CMD = "run";

static void run_usage(FILE *f) {
  fprintf(f,
          "usage: sinter run MODEL [options]\n"
          "\n"
          "Runs MODEL once. Inputs named with --input are read from .npy files; every other input gets\n"
          "seeded random data of its dtype and shape (symbolic dimensions are 1 unless set with --dim).\n"
          "Prints each output's dtype, shape, first values and min/max/mean.\n"
          "\n"
          "options:\n"
          "%s"
          "  --output-dir DIR        write each output to DIR/<output name>.npy (created if missing)\n"
          "  --show K                print the first K values of each output (default 8)\n"
          "  --threads N             intra-op threads (default: one per physical core)\n"
          "  --precision P           fp32 (default) or bf16: float32 GEMMs in bfloat16 (AVX512-BF16)\n"
          "  -O LEVEL                graph optimization level 0..3 (default 3)\n"
          "  -q, --quiet             print nothing but errors\n"
          "  -h, --help              this help\n"
          "\n"
          "exit status: 0 ok, 1 the model or an input was rejected or the run failed, 2 usage error\n",
          sn_feed_usage);
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
  sn_feed_opts fo;
  sn_feed_opts_init(&fo);
  long long threads = -1, level = -1, show = 8;
  bool quiet = false;
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
    if ((r = sn_feed_parse(CMD, &fo, argc, argv, &i)) != 0) {
      if (r < 0) goto cleanup_args;
    } else if (TAKE("--output-dir")) {
      if (r < 0) goto cleanup_args;
      out_dir = v;
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
  size_t n_out = 0;
  sn_feeds feeds = {0};
  sinter_tensor **outs = NULL;
  char buf[512], tb[64];

  if ((st = sn_cli_options((int)threads, (int)level, &opts))) goto fail;
  double t0 = sn_cli_now();
  if ((st = sinter_session_create(model, opts, &sess))) goto fail;
  double t_create = sn_cli_now() - t0;
  n_out = sinter_session_output_count(sess);

  outs = sn_calloc(n_out + 1, sizeof *outs);
  if (!outs) {
    st = SN_ERR_OOM();
    goto fail;
  }
  if (!quiet) printf("model: %s (session created in %s)\n", model, sn_cli_fmt_time(t_create, tb, sizeof tb));
  if ((st = sn_feeds_make(CMD, sess, &fo, !quiet, &feeds))) goto fail;

  t0 = sn_cli_now();
  st = sinter_run(sess, feeds.names, (const sinter_tensor *const *)feeds.tensors, feeds.n, NULL, outs, n_out);
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
  sn_feeds_free(&feeds);
  sn_free(outs);
  sinter_session_free(sess);
  sinter_options_free(opts);
cleanup_args:
  sn_feed_opts_free(&fo);
  return rc;
}
