/* `sinter classify`: run a classifier over a batch of images from .npy, print predictions, accuracy, timing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "core/alloc.h"
#include "core/dtype.h"
#include "npy.h"
#include "sinter.h"

static const char *CMD = "classify";

static void classify_usage(FILE *f) {
  fprintf(f,
          "usage: sinter classify MODEL --images X.npy [--labels Y.npy] [options]\n"
          "\n"
          "Runs MODEL on the whole batch X (first dimension = images) in one call and prints the\n"
          "predicted class (argmax over each row of the first output), the accuracy when labels are\n"
          "given, and how long session creation and inference took.\n"
          "\n"
          "options:\n"
          "  --images FILE    input batch (.npy; float64 is converted when the model wants float32)\n"
          "  --labels FILE    true classes (.npy of any integer type, one per image)\n"
          "  --input NAME     the model input to feed (default: the first)\n"
          "  --output NAME    the model output holding the scores (default: the first)\n"
          "  --threads N      intra-op threads (default: one per physical core)\n"
          "  -O LEVEL         graph optimization level 0..3 (default 3)\n"
          "  --show K         print the first K predictions (default 10; 0 for none, -1 for all)\n"
          "  --repeat R       run the batch R times and report the mean of the runs after the first\n"
          "  --ascii          mark predictions with ok/X instead of the check/cross characters\n"
          "  -h, --help       this help\n");
}

static bool utf8_terminal(void) {
  const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
  for (int i = 0; i < 3; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) return strstr(v, "UTF-8") || strstr(v, "utf8") || strstr(v, "UTF8") || strstr(v, "utf-8");
  }
  return false;
}

/* The element type the model wants for `images`: convert float64 -> float32 (and back) if needed. */
static sinter_status *convert_images(sn_npy *img, const char *path, sinter_dtype want) {
  if (img->dtype == want) return NULL;
  bool ok = (want == SINTER_FLOAT || want == SINTER_DOUBLE || want == SINTER_FLOAT16) &&
            (img->dtype == SINTER_FLOAT || img->dtype == SINTER_DOUBLE || img->dtype == SINTER_FLOAT16 ||
             img->dtype == SINTER_UINT8);
  if (!ok)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: the images are %s but the model input wants %s", path,
                     sn_dtype_name(img->dtype), sn_dtype_name(want));
  size_t nbytes = (size_t)img->count * sn_dtype_size(want);
  void *d = sn_aligned_alloc(nbytes ? nbytes : 1);
  if (!d) return SN_ERR_OOM();
  for (int64_t i = 0; i < img->count; i++) sn_store_f64(want, d, i, sn_load_f64(img->dtype, img->data, i));
  sn_aligned_free(img->data);
  img->data = d;
  img->dtype = want;
  img->nbytes = nbytes;
  return NULL;
}

int cmd_classify(int argc, char **argv) {
  const char *model = NULL, *images = NULL, *labels = NULL, *in_name = NULL, *out_name = NULL;
  long long threads = -1, level = -1, show = 10, repeat = 1;
  bool ascii = !utf8_terminal();
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (sn_cli_is_help(argv[i])) {
      classify_usage(stdout);
      return SN_EXIT_OK;
    }
#define TAKE(name) ((r = sn_cli_opt(CMD, argc, argv, &i, name, &v)) != 0)
    if (TAKE("--images")) {
      if (r < 0) return SN_EXIT_USAGE;
      images = v;
    } else if (TAKE("--labels")) {
      if (r < 0) return SN_EXIT_USAGE;
      labels = v;
    } else if (TAKE("--input")) {
      if (r < 0) return SN_EXIT_USAGE;
      in_name = v;
    } else if (TAKE("--output")) {
      if (r < 0) return SN_EXIT_USAGE;
      out_name = v;
    } else if (TAKE("--threads")) {
      if (r < 0 || !sn_cli_int(CMD, "--threads", v, 0, 4096, &threads)) return SN_EXIT_USAGE;
    } else if (TAKE("-O")) {
      if (r < 0 || !sn_cli_int(CMD, "-O", v, 0, 3, &level)) return SN_EXIT_USAGE;
    } else if (TAKE("--show")) {
      if (r < 0 || !sn_cli_int(CMD, "--show", v, -1, INT32_MAX, &show)) return SN_EXIT_USAGE;
    } else if (TAKE("--repeat")) {
      if (r < 0 || !sn_cli_int(CMD, "--repeat", v, 1, 1000000, &repeat)) return SN_EXIT_USAGE;
    } else if (strcmp(argv[i], "--ascii") == 0) {
      ascii = true;
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
  if (!images) return sn_cli_usage_error(CMD, "missing --images FILE.npy");

  int rc = SN_EXIT_FAIL;
  sinter_status *st = NULL;
  sn_npy img = {0}, lab = {0};
  sinter_options *opts = NULL;
  sinter_session *sess = NULL;
  sinter_tensor *x = NULL, *y = NULL;
  int64_t *pred = NULL;
  char buf[256], tb[64], tb2[64];

  if ((st = sn_npy_read(images, &img))) goto fail;
  if (img.rank < 1 || img.dims[0] < 1) {
    st = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: expected a batch of at least one image, got shape %s", images,
                   sn_cli_fmt_shape(img.rank, img.dims, NULL, buf, sizeof buf));
    goto fail;
  }
  const int64_t n = img.dims[0];
  if (labels) {
    if ((st = sn_npy_read(labels, &lab))) goto fail;
    if (!sn_dt(lab.dtype)->is_int) {
      st = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: labels must be integers, got %s", labels,
                     sn_dtype_name(lab.dtype));
      goto fail;
    }
    if (lab.count != n) {
      st = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: %lld labels for %lld images", labels, (long long)lab.count,
                     (long long)n);
      goto fail;
    }
  }

  if ((st = sn_cli_options((int)threads, (int)level, &opts))) goto fail;
  double t0 = sn_cli_now();
  if ((st = sinter_session_create(model, opts, &sess))) goto fail;
  double t_create = sn_cli_now() - t0;

  size_t n_in = sinter_session_input_count(sess), n_out = sinter_session_output_count(sess);
  sinter_value_info ii = {0}, oi = {0};
  size_t in_idx = 0;
  if (in_name) {
    for (in_idx = 0; in_idx < n_in; in_idx++) {
      if ((st = sinter_session_input_info(sess, in_idx, &ii))) goto fail;
      if (strcmp(ii.name, in_name) == 0) break;
    }
    if (in_idx == n_in) {
      st = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "the model has no input named '%s'", in_name);
      goto fail;
    }
  } else {
    if (n_in == 0) {
      st = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "the model has no inputs to feed the images to");
      goto fail;
    }
    if (n_in > 1) {
      st = sn_errorf(SINTER_ERR_INVALID_ARGUMENT,
                     "the model has %zu inputs; classify feeds one (choose it with --input NAME)", n_in);
      goto fail;
    }
    if ((st = sinter_session_input_info(sess, 0, &ii))) goto fail;
  }
  if (n_out == 0) {
    st = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "the model has no outputs");
    goto fail;
  }
  if (!out_name) {
    if ((st = sinter_session_output_info(sess, 0, &oi))) goto fail;
    out_name = oi.name;
  }
  if (ii.dtype != SINTER_UNDEFINED && (st = convert_images(&img, images, ii.dtype))) goto fail;

  if ((st = sinter_tensor_wrap(img.dtype, img.dims, img.rank, img.data, img.nbytes, &x))) goto fail;
  const char *in_names[1] = {ii.name};
  const sinter_tensor *ins[1] = {x};
  const char *out_names[1] = {out_name};
  double t_first = 0, t_rest = 0;
  for (long long r = 0; r < repeat; r++) {
    sinter_tensor_free(y);
    y = NULL;
    t0 = sn_cli_now();
    if ((st = sinter_run(sess, in_names, ins, 1, out_names, &y, 1))) goto fail;
    double dt = sn_cli_now() - t0;
    if (r == 0) t_first = dt;
    else t_rest += dt;
  }

  sinter_dtype ydt = sinter_tensor_dtype(y);
  int yrank = sinter_tensor_rank(y);
  const int64_t *ydims = sinter_tensor_dims(y);
  int64_t ycount = sinter_tensor_count(y);
  if (!sn_dt(ydt)->is_float && !sn_dt(ydt)->is_int) {
    st = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "output '%s' is %s, not scores", out_name, sn_dtype_name(ydt));
    goto fail;
  }
  if (yrank < 1 || ydims[0] != n || ycount < n || ycount % n != 0) {
    st = sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "output '%s' has shape %s; expected [%lld, classes]", out_name,
                   sn_cli_fmt_shape(yrank, ydims, NULL, buf, sizeof buf), (long long)n);
    goto fail;
  }
  const int64_t classes = ycount / n;
  const void *ydata = sinter_tensor_data(y);
  pred = sn_malloc(sizeof(int64_t) * (size_t)n);
  if (!pred) {
    st = SN_ERR_OOM();
    goto fail;
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t best = 0;
    double bv = sn_load_f64(ydt, ydata, i * classes);
    for (int64_t c = 1; c < classes; c++) {
      double v = sn_load_f64(ydt, ydata, i * classes + c);
      if (v > bv || (bv != bv && v == v)) { /* first maximum; NaN loses */
        bv = v;
        best = c;
      }
    }
    pred[i] = best;
  }

  printf("model:      %s\n", model);
  printf("images:     %s %s%s\n", images, sn_dtype_name(img.dtype),
         sn_cli_fmt_shape(img.rank, img.dims, NULL, buf, sizeof buf));
  printf("input:      %s, output: %s %s%s (%lld classes)\n", ii.name, out_name, sn_dtype_name(ydt),
         sn_cli_fmt_shape(yrank, ydims, NULL, buf, sizeof buf), (long long)classes);

  int64_t shown = show < 0 ? n : (show < n ? show : n);
  if (shown > 0) {
    printf("\n  %6s  %9s  %5s\n", "index", "predicted", labels ? "label" : "");
    for (int64_t i = 0; i < shown; i++) {
      if (labels) {
        int64_t t = sn_load_i64(lab.dtype, lab.data, i);
        const char *mark = t == pred[i] ? (ascii ? "ok" : "\xe2\x9c\x93") : (ascii ? "X" : "\xe2\x9c\x97");
        printf("  %6lld  %9lld  %5lld  %s\n", (long long)i, (long long)pred[i], (long long)t, mark);
      } else {
        printf("  %6lld  %9lld\n", (long long)i, (long long)pred[i]);
      }
    }
    if (shown < n) printf("  ... (%lld more; --show -1 prints all)\n", (long long)(n - shown));
    printf("\n");
  }
  if (labels) {
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) correct += sn_load_i64(lab.dtype, lab.data, i) == pred[i];
    printf("accuracy:   %lld/%lld = %.2f%%\n", (long long)correct, (long long)n, 100.0 * (double)correct / (double)n);
  }
  printf("session:    created in %s\n", sn_cli_fmt_time(t_create, tb, sizeof tb));
  printf("inference:  %lld images in %s (%s per image)%s\n", (long long)n, sn_cli_fmt_time(t_first, tb, sizeof tb),
         sn_cli_fmt_time(t_first / (double)n, tb2, sizeof tb2), repeat > 1 ? ", first run" : "");
  if (repeat > 1) {
    double mean = t_rest / (double)(repeat - 1);
    printf("            %lld images in %s (%s per image), mean of %lld more runs\n", (long long)n,
           sn_cli_fmt_time(mean, tb, sizeof tb), sn_cli_fmt_time(mean / (double)n, tb2, sizeof tb2),
           repeat - 1);
  }
  rc = SN_EXIT_OK;
  goto done;

fail:
  rc = sn_cli_fail(CMD, st);
done:
  sn_free(pred);
  sinter_tensor_free(y);
  sinter_tensor_free(x);
  sinter_session_free(sess);
  sinter_options_free(opts);
  sn_npy_free(&img);
  sn_npy_free(&lab);
  return rc;
}
