/* `sinter compare`: run a model on reference inputs and measure its outputs against reference outputs. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "core/alloc.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "npy.h"
#include "sinter.h"

static const char *CMD = "compare";

static void compare_usage(FILE *f) {
  fprintf(f,
          "usage: sinter compare MODEL --ref DIR [options]\n"
          "\n"
          "Runs MODEL on the inputs in DIR/inputs/<input name>.npy and compares every output that has a\n"
          "reference in DIR/outputs/<output name>.npy (names with characters outside [A-Za-z0-9._-] use '_'\n"
          "for them, as `sinter run --output-dir` does). bench/make_reference.py writes such folders with\n"
          "ONNX Runtime or PyTorch.\n"
          "\n"
          "Per output it reports the max absolute error, the max relative error (|got - ref| / |ref| over\n"
          "elements with |ref| > atol), the mean absolute error, the cosine similarity, the count of elements\n"
          "beyond |got - ref| <= atol + rtol * |ref| (numpy.allclose's test), and for class scores (2-D\n"
          "[N, C] floats, C >= 2) the top-1 agreement (same argmax per row) and the top-5 agreement (same set\n"
          "of five highest classes per row, when C >= 5).\n"
          "\n"
          "options:\n"
          "  --ref DIR           the reference folder (required)\n"
          "  --rtol R            relative tolerance (default 1e-3)\n"
          "  --atol A            absolute tolerance (default 1e-4)\n"
          "  --min-cosine C      least cosine similarity of float outputs (default 0.999)\n"
          "  --threads N         intra-op threads (default: one per physical core)\n"
          "  -O LEVEL            graph optimization level 0..3 (default 3)\n"
          "  -q, --quiet         print only the verdict line\n"
          "  -h, --help          this help\n"
          "\n"
          "exit status: 0 every compared output within the tolerances, 1 an output beyond them (or a shape,\n"
          "dtype or NaN mismatch, a missing reference input, no output compared, a failed run), 2 usage error\n");
}

/* File-system-safe name: [A-Za-z0-9._-], no leading dot, not empty, at most 200 bytes. */
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

static bool parse_double(const char *opt, const char *v, double lo, double *out) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (end == v || *end || errno || !isfinite(d) || d < lo) {
    sn_cli_usage_error(CMD, "%s expects a number >= %g, got '%s'", opt, lo, v);
    return false;
  }
  *out = d;
  return true;
}

typedef struct cmp_result {
  bool ok;
  const char *problem; /* set when the output cannot be compared element by element */
  int64_t count, beyond, nan_mismatch;
  double max_abs, max_rel, mean_abs, cosine;
  bool classes;
  int64_t rows, top1, top5;
  bool has_top5;
} cmp_result;

static double load(sinter_dtype dt, const void *d, int64_t i) {
  if (dt == SINTER_BOOL) return ((const uint8_t *)d)[i] ? 1.0 : 0.0;
  if (dt == SINTER_UINT64) return (double)((const uint64_t *)d)[i];
  if (sn_dt(dt)->is_float) return sn_load_f64(dt, d, i);
  return (double)sn_load_i64(dt, d, i);
}

/* Indices of the k largest of row[0..c) (NaN ranks lowest), descending, into idx. */
static void top_k(sinter_dtype dt, const void *d, int64_t off, int64_t c, int k, int64_t *idx) {
  double best[5];
  for (int j = 0; j < k; j++) {
    best[j] = -INFINITY;
    idx[j] = -1;
  }
  for (int64_t i = 0; i < c; i++) {
    double v = load(dt, d, off + i);
    if (v != v) v = -INFINITY;
    int pos = k;
    while (pos > 0 && (v > best[pos - 1] || idx[pos - 1] < 0)) pos--;
    if (pos >= k) continue;
    for (int j = k - 1; j > pos; j--) {
      best[j] = best[j - 1];
      idx[j] = idx[j - 1];
    }
    best[pos] = v;
    idx[pos] = i;
  }
}

static bool same_set(const int64_t *a, const int64_t *b, int k) {
  for (int i = 0; i < k; i++) {
    bool found = false;
    for (int j = 0; j < k && !found; j++) found = a[i] == b[j];
    if (!found) return false;
  }
  return true;
}

static void compare_tensor(sinter_tensor *got, const sn_npy *ref, double rtol, double atol, double min_cos,
                           cmp_result *r) {
  memset(r, 0, sizeof *r);
  sinter_dtype dt = sinter_tensor_dtype(got);
  int rank = sinter_tensor_rank(got);
  const int64_t *dims = sinter_tensor_dims(got);
  bool shape_ok = rank == ref->rank;
  for (int i = 0; shape_ok && i < rank; i++) shape_ok = dims[i] == ref->dims[i];
  if (!shape_ok) {
    r->problem = "shape differs from the reference";
    return;
  }
  if (dt != ref->dtype) {
    r->problem = "element type differs from the reference";
    return;
  }
  int64_t n = sinter_tensor_count(got);
  r->count = n;
  const void *g = sinter_tensor_data(got);
  const void *e = ref->data;
  if (dt == SINTER_STRING) {
    for (int64_t i = 0; i < n; i++) {
      const char *a = ((char *const *)g)[i], *b = ((char *const *)e)[i];
      if (strcmp(a ? a : "", b ? b : "") != 0) r->beyond++;
    }
    r->cosine = NAN;
    r->ok = r->beyond == 0;
    return;
  }
  const sn_dtype_info *ti = sn_dt(dt);
  if (!ti->is_float && !ti->is_int && dt != SINTER_BOOL) {
    r->problem = "element type cannot be compared";
    return;
  }
  if (dt == SINTER_COMPLEX64 || dt == SINTER_COMPLEX128) {
    r->problem = "complex outputs are not compared";
    return;
  }
  double sum_abs = 0, dot = 0, na = 0, nb = 0;
  int64_t n_finite = 0;
  double rel_floor = atol > 0 ? atol : 0;
  for (int64_t i = 0; i < n; i++) {
    double a = load(dt, g, i), b = load(dt, e, i);
    bool an = a != a, bn = b != b;
    if (an || bn) {
      if (an != bn) {
        r->nan_mismatch++;
        r->beyond++;
      }
      continue;
    }
    if (isinf(a) || isinf(b)) {
      if (a != b) r->beyond++;
      continue;
    }
    double d = fabs(a - b);
    n_finite++;
    sum_abs += d;
    if (d > r->max_abs) r->max_abs = d;
    if (fabs(b) > rel_floor && d / fabs(b) > r->max_rel) r->max_rel = d / fabs(b);
    if (d > atol + rtol * fabs(b)) r->beyond++;
    dot += a * b;
    na += a * a;
    nb += b * b;
  }
  r->mean_abs = n_finite ? sum_abs / (double)n_finite : 0;
  if (na == 0 && nb == 0)
    r->cosine = 1.0;
  else if (na == 0 || nb == 0)
    r->cosine = 0.0;
  else
    r->cosine = dot / (sqrt(na) * sqrt(nb));
  if (ti->is_float && rank == 2 && dims[1] >= 2) {
    r->classes = true;
    r->rows = dims[0];
    int64_t c = dims[1];
    r->has_top5 = c >= 5;
    for (int64_t row = 0; row < dims[0]; row++) {
      int64_t ia[5], ib[5];
      int k = r->has_top5 ? 5 : 1;
      top_k(dt, g, row * c, c, k, ia);
      top_k(dt, e, row * c, c, k, ib);
      r->top1 += ia[0] == ib[0];
      if (r->has_top5) r->top5 += same_set(ia, ib, 5);
    }
  }
  r->ok = r->beyond == 0 && (!ti->is_float || n == 0 || r->cosine >= min_cos);
}

int cmd_compare(int argc, char **argv) {
  const char *model = NULL, *ref = NULL;
  double rtol = 1e-3, atol = 1e-4, min_cos = 0.999;
  long long threads = -1, level = -1;
  bool quiet = false;

  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (sn_cli_is_help(argv[i])) {
      compare_usage(stdout);
      return SN_EXIT_OK;
    }
#define TAKE(name) ((r = sn_cli_opt(CMD, argc, argv, &i, name, &v)) != 0)
    if (TAKE("--ref")) {
      if (r < 0) return SN_EXIT_USAGE;
      ref = v;
    } else if (TAKE("--rtol")) {
      if (r < 0 || !parse_double("--rtol", v, 0, &rtol)) return SN_EXIT_USAGE;
    } else if (TAKE("--atol")) {
      if (r < 0 || !parse_double("--atol", v, 0, &atol)) return SN_EXIT_USAGE;
    } else if (TAKE("--min-cosine")) {
      if (r < 0 || !parse_double("--min-cosine", v, -1, &min_cos)) return SN_EXIT_USAGE;
    } else if (TAKE("--threads")) {
      if (r < 0 || !sn_cli_int(CMD, "--threads", v, 0, 1024, &threads)) return SN_EXIT_USAGE;
    } else if (TAKE("-O")) {
      if (r < 0 || !sn_cli_int(CMD, "-O", v, 0, 3, &level)) return SN_EXIT_USAGE;
    } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
      quiet = true;
    } else if (argv[i][0] == '-' && argv[i][1] != 0) {
      return sn_cli_usage_error(CMD, "unknown option '%s'", argv[i]);
    } else if (!model) {
      model = argv[i];
    } else {
      return sn_cli_usage_error(CMD, "unexpected argument '%s' (one MODEL only)", argv[i]);
    }
#undef TAKE
  }
  if (!model) return sn_cli_usage_error(CMD, "missing MODEL");
  if (!ref) return sn_cli_usage_error(CMD, "missing --ref DIR");

  int rc = SN_EXIT_FAIL;
  sinter_status *st = NULL;
  sinter_options *opts = NULL;
  sinter_session *sess = NULL;
  size_t n_in = 0, n_out = 0;
  const char **names = NULL;
  sinter_tensor **feeds = NULL, **outs = NULL;
  sn_npy *arrays = NULL;
  char path[4096], san[208], sb[256], tb[64];

  if ((st = sn_cli_options((int)threads, (int)level, &opts))) goto fail;
  double t0 = sn_cli_now();
  if ((st = sinter_session_create(model, opts, &sess))) goto fail;
  double t_create = sn_cli_now() - t0;
  n_in = sinter_session_input_count(sess);
  n_out = sinter_session_output_count(sess);
  names = sn_calloc(n_in + 1, sizeof *names);
  feeds = sn_calloc(n_in + 1, sizeof *feeds);
  arrays = sn_calloc(n_in + 1, sizeof *arrays);
  outs = sn_calloc(n_out + 1, sizeof *outs);
  if (!names || !feeds || !arrays || !outs) {
    st = SN_ERR_OOM();
    goto fail;
  }
  if (!quiet)
    printf("model: %s (session created in %s)\nreference: %s\n", model, sn_cli_fmt_time(t_create, tb, sizeof tb), ref);
  for (size_t i = 0; i < n_in; i++) {
    sinter_value_info info;
    if ((st = sinter_session_input_info(sess, i, &info))) goto fail;
    sanitize(info.name, san, sizeof san);
    snprintf(path, sizeof path, "%s/inputs/%s.npy", ref, san);
    if ((st = sn_npy_read(path, &arrays[i]))) {
      st = sn_error_wrap(st, "reference input '%s'", info.name);
      goto fail;
    }
    sn_npy *a = &arrays[i];
    if ((st = sinter_tensor_wrap(a->dtype, a->dims, a->rank, a->data, a->nbytes, &feeds[i]))) goto fail;
    names[i] = info.name;
    if (!quiet)
      printf("input  %s: %s%s from %s\n", info.name, sn_dtype_name(a->dtype),
             sn_cli_fmt_shape(a->rank, a->dims, NULL, sb, sizeof sb), path);
  }
  t0 = sn_cli_now();
  st = sinter_run(sess, names, (const sinter_tensor *const *)feeds, n_in, NULL, outs, n_out);
  double t_run = sn_cli_now() - t0;
  if (st) goto fail;
  if (!quiet) printf("run: %s\n", sn_cli_fmt_time(t_run, tb, sizeof tb));

  int compared = 0, failed = 0, missing = 0;
  for (size_t i = 0; i < n_out; i++) {
    sinter_value_info info;
    if ((st = sinter_session_output_info(sess, i, &info))) goto fail;
    sinter_tensor *y = outs[i];
    sanitize(info.name, san, sizeof san);
    snprintf(path, sizeof path, "%s/outputs/%s.npy", ref, san);
    FILE *probe = fopen(path, "rb");
    if (!probe) {
      missing++;
      if (!quiet) printf("output %s: no reference (%s), not compared\n", info.name, path);
      continue;
    }
    fclose(probe);
    sn_npy expect;
    if ((st = sn_npy_read(path, &expect))) {
      st = sn_error_wrap(st, "reference output '%s'", info.name);
      goto fail;
    }
    cmp_result r;
    compare_tensor(y, &expect, rtol, atol, min_cos, &r);
    compared++;
    failed += !r.ok;
    if (!quiet) {
      printf("output %s: %s%s", info.name, sn_dtype_name(sinter_tensor_dtype(y)),
             sn_cli_fmt_shape(sinter_tensor_rank(y), sinter_tensor_dims(y), NULL, sb, sizeof sb));
      if (r.problem) {
        printf("  %s %s%s: %s\n    FAIL\n", "reference", sn_dtype_name(expect.dtype),
               sn_cli_fmt_shape(expect.rank, expect.dims, NULL, sb, sizeof sb), r.problem);
      } else {
        printf("\n    max abs error %.3g  max rel error %.3g  mean abs error %.3g  cosine %.8f\n", r.max_abs, r.max_rel,
               r.mean_abs, r.cosine);
        printf("    beyond tolerance: %lld of %lld elements", (long long)r.beyond, (long long)r.count);
        if (r.nan_mismatch) printf(" (%lld NaN where the other is not)", (long long)r.nan_mismatch);
        if (r.classes) {
          printf("  top-1 agreement %lld/%lld (%.1f%%)", (long long)r.top1, (long long)r.rows,
                 r.rows ? 100.0 * (double)r.top1 / (double)r.rows : 100.0);
          if (r.has_top5)
            printf("  top-5 agreement %lld/%lld (%.1f%%)", (long long)r.top5, (long long)r.rows,
                   r.rows ? 100.0 * (double)r.top5 / (double)r.rows : 100.0);
        }
        printf("\n    %s\n", r.ok ? "PASS" : "FAIL");
      }
    }
    sn_npy_free(&expect);
  }
  if (compared == 0) {
    printf("result: FAIL: no output of %s has a reference in %s/outputs\n", model, ref);
    rc = SN_EXIT_FAIL;
  } else if (failed) {
    printf("result: FAIL: %d of %d outputs beyond rtol %g, atol %g, min cosine %g\n", failed, compared, rtol, atol,
           min_cos);
    rc = SN_EXIT_FAIL;
  } else {
    printf("result: PASS: %d output%s within rtol %g, atol %g, min cosine %g%s\n", compared, compared == 1 ? "" : "s",
           rtol, atol, min_cos, missing ? " (some outputs had no reference)" : "");
    rc = SN_EXIT_OK;
  }
  goto done;

fail:
  rc = sn_cli_fail(CMD, st);
done:
  for (size_t i = 0; outs && i < n_out; i++) sinter_tensor_free(outs[i]);
  for (size_t i = 0; feeds && i < n_in; i++) sinter_tensor_free(feeds[i]);
  for (size_t i = 0; arrays && i < n_in; i++) sn_npy_free(&arrays[i]);
  sn_free(outs);
  sn_free(feeds);
  sn_free(names);
  sn_free(arrays);
  sinter_session_free(sess);
  sinter_options_free(opts);
  return rc;
}
