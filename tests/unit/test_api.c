/* The public API end to end on the committed digits model: results against the model's own
 * held-out labels, clear errors for wrong names/dtypes/shapes, caller-provided output buffers,
 * concurrent runs on one session, and no heap allocation in a run after the first at a shape. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sinter.h"
#include "check.h"

#define MODEL SINTER_SOURCE_DIR "/models/digits/digits.onnx"
#define IMAGES SINTER_SOURCE_DIR "/models/digits/test_images.npy"
#define LABELS SINTER_SOURCE_DIR "/models/digits/test_labels.npy"

/* minimal .npy reader for the two committed files (float32 [N,1,8,8] and int64 [N]) */
static void *read_npy(const char *path, size_t elem, size_t *count) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char pre[10];
  if (fread(pre, 1, 10, f) != 10) {
    fclose(f);
    return NULL;
  }
  size_t hlen = pre[8] | (pre[9] << 8);
  fseek(f, 0, SEEK_END);
  long end = ftell(f);
  fseek(f, (long)(10 + hlen), SEEK_SET);
  size_t bytes = (size_t)end - 10 - hlen;
  void *d = malloc(bytes);
  if (!d || fread(d, 1, bytes, f) != bytes) {
    free(d);
    fclose(f);
    return NULL;
  }
  fclose(f);
  *count = bytes / elem;
  return d;
}

static int argmax10(const float *p) {
  int b = 0;
  for (int i = 1; i < 10; i++)
    if (p[i] > p[b]) b = i;
  return b;
}

static sinter_session *S;
static float *images;
static int64_t *labels;
static size_t n_images;

typedef struct {
  int start, correct;
  int errors;
} job;

static void *worker(void *p) {
  job *j = p;
  const char *in = "image", *out = "logits";
  for (int r = 0; r < 20; r++) {
    size_t i = (size_t)(j->start + r) % n_images;
    int64_t dims[4] = {1, 1, 8, 8};
    sinter_tensor *x = NULL, *y = NULL;
    sinter_status *st = sinter_tensor_wrap(SINTER_FLOAT, dims, 4, images + i * 64, 64 * sizeof(float), &x);
    if (!st) st = sinter_run(S, &in, (const sinter_tensor *const *)&x, 1, &out, &y, 1);
    if (st) {
      j->errors++;
      sinter_status_free(st);
    } else if (argmax10(sinter_tensor_data(y)) == labels[i]) {
      j->correct++;
    }
    sinter_tensor_free(x);
    sinter_tensor_free(y);
  }
  return NULL;
}

int main(void) {
  size_t nl = 0;
  images = read_npy(IMAGES, sizeof(float), &n_images);
  labels = read_npy(LABELS, sizeof(int64_t), &nl);
  n_images /= 64;
  CHECK(images && labels && n_images == nl && n_images > 100, "reading the committed digits data");
  if (!images || !labels) return 1;

  sinter_options *opts;
  CHECK(!sinter_options_create(&opts), "options");
  CHECK(!sinter_options_set_threads(opts, 2), "threads");
  sinter_status *st = sinter_options_set_opt_level(opts, 7);
  CHECK(sinter_status_code(st) == SINTER_ERR_INVALID_ARGUMENT, "bad opt level refused");
  sinter_status_free(st);
  st = sinter_options_set_isa(opts, "avx1024");
  CHECK(sinter_status_code(st) == SINTER_ERR_INVALID_ARGUMENT && strstr(sinter_status_message(st), "avx1024"),
        "unknown ISA refused by name");
  sinter_status_free(st);
  CHECK(!sinter_options_set_isa(opts, "amx") && !sinter_options_set_isa(opts, "auto"), "ISA amx and auto accepted");
  st = sinter_options_set_spin(opts, -2);
  CHECK(sinter_status_code(st) == SINTER_ERR_INVALID_ARGUMENT && strstr(sinter_status_message(st), "-2"),
        "negative spin time refused");
  sinter_status_free(st);
  CHECK(!sinter_options_set_spin(opts, 1000000) && !sinter_options_set_spin(opts, 0), "spin 0 and 1 s accepted");
  st = sinter_session_create(MODEL, opts, &S);
  CHECK(!st, "session: %s", sinter_status_message(st));
  sinter_options_free(opts);
  if (!S) return 1;

  CHECK(sinter_session_input_count(S) == 1 && sinter_session_output_count(S) == 1, "io counts");
  sinter_value_info info;
  CHECK(!sinter_session_input_info(S, 0, &info) && !strcmp(info.name, "image") && info.dtype == SINTER_FLOAT &&
            info.rank == 4 && info.dims[0] < 0 && info.dims[1] == 1,
        "input info");

  /* the whole held-out batch in one run */
  int64_t dims[4] = {(int64_t)n_images, 1, 8, 8};
  sinter_tensor *x = NULL, *y = NULL;
  const char *in = "image", *out = "logits";
  CHECK(!sinter_tensor_wrap(SINTER_FLOAT, dims, 4, images, n_images * 64 * sizeof(float), &x), "wrap");
  st = sinter_run(S, &in, (const sinter_tensor *const *)&x, 1, &out, &y, 1);
  CHECK(!st, "batch run: %s", sinter_status_message(st));
  int correct = 0;
  float row0[10] = {0};
  if (y) {
    memcpy(row0, sinter_tensor_data(y), sizeof row0);
    CHECK(sinter_tensor_rank(y) == 2 && sinter_tensor_dims(y)[0] == (int64_t)n_images &&
              sinter_tensor_dims(y)[1] == 10,
          "output shape");
    const float *l = sinter_tensor_data(y);
    for (size_t i = 0; i < n_images; i++) correct += argmax10(l + i * 10) == labels[i];
  }
  CHECK(correct >= (int)(n_images * 0.9), "held-out accuracy %d/%zu", correct, n_images);
  sinter_tensor_free(y);

  /* errors that name what is wrong */
  const char *bad = "imag";
  y = NULL;
  st = sinter_run(S, &bad, (const sinter_tensor *const *)&x, 1, &out, &y, 1);
  CHECK(sinter_status_code(st) == SINTER_ERR_INVALID_ARGUMENT && strstr(sinter_status_message(st), "'imag'") &&
            strstr(sinter_status_message(st), "'image'"),
        "wrong input name: %s", sinter_status_message(st));
  sinter_status_free(st);
  int64_t bad_dims[4] = {1, 1, 8, 9};
  sinter_tensor *xb = NULL;
  CHECK(!sinter_tensor_wrap(SINTER_FLOAT, bad_dims, 4, images, 72 * sizeof(float), &xb), "wrap");
  st = sinter_run(S, &in, (const sinter_tensor *const *)&xb, 1, &out, &y, 1);
  CHECK(sinter_status_code(st) == SINTER_ERR_INVALID_ARGUMENT && strstr(sinter_status_message(st), "shape"),
        "wrong shape: %s", sinter_status_message(st));
  sinter_status_free(st);
  sinter_tensor_free(xb);
  int64_t ok_dims[4] = {1, 1, 8, 8};
  CHECK(!sinter_tensor_wrap(SINTER_INT32, ok_dims, 4, images, 64 * 4, &xb), "wrap");
  st = sinter_run(S, &in, (const sinter_tensor *const *)&xb, 1, &out, &y, 1);
  CHECK(sinter_status_code(st) == SINTER_ERR_INVALID_ARGUMENT && strstr(sinter_status_message(st), "int32"),
        "wrong dtype: %s", sinter_status_message(st));
  sinter_status_free(st);
  sinter_tensor_free(xb);
  st = sinter_session_create(SINTER_SOURCE_DIR "/no/such/model.onnx", NULL, &(sinter_session *){NULL});
  CHECK(sinter_status_code(st) == SINTER_ERR_NO_SUCH_FILE, "missing file: %s", sinter_status_message(st));
  sinter_status_free(st);

  /* caller-provided output buffer, then steady-state runs allocate nothing */
  sinter_tensor *x1 = NULL, *y1 = NULL;
  int64_t d1[4] = {1, 1, 8, 8}, o1[2] = {1, 10};
  float logits[10];
  CHECK(!sinter_tensor_wrap(SINTER_FLOAT, d1, 4, images, 64 * sizeof(float), &x1), "wrap");
  CHECK(!sinter_tensor_wrap(SINTER_FLOAT, o1, 2, logits, sizeof logits, &y1), "wrap out");
  st = sinter_run(S, &in, (const sinter_tensor *const *)&x1, 1, &out, &y1, 1);
  CHECK(!st, "run into caller buffer: %s", sinter_status_message(st));
  float maxdiff = 0;
  for (int k = 0; k < 10; k++) {
    float d = logits[k] > row0[k] ? logits[k] - row0[k] : row0[k] - logits[k];
    if (d > maxdiff) maxdiff = d;
  }
  CHECK(maxdiff < 1e-4f, "caller buffer holds the batch run's first row (max diff %g)", maxdiff);
  uint64_t before = sn_alloc_count();
  for (int r = 0; r < 5; r++) {
    st = sinter_run(S, &in, (const sinter_tensor *const *)&x1, 1, &out, &y1, 1);
    CHECK(!st, "run: %s", sinter_status_message(st));
  }
  CHECK(sn_alloc_count() == before, "steady-state runs made %llu allocations",
        (unsigned long long)(sn_alloc_count() - before));
  sinter_tensor_free(x1);
  sinter_tensor_free(y1);

  /* concurrent runs on one session agree with the single-threaded answers */
  pthread_t th[4];
  job jobs[4] = {{0, 0, 0}, {20, 0, 0}, {40, 0, 0}, {60, 0, 0}};
  for (int t = 0; t < 4; t++) pthread_create(&th[t], NULL, worker, &jobs[t]);
  int cc = 0, ce = 0;
  for (int t = 0; t < 4; t++) {
    pthread_join(th[t], NULL);
    cc += jobs[t].correct;
    ce += jobs[t].errors;
  }
  int expect = 0;
  {
    /* the same 80 images, one at a time on this thread */
    job j = {0, 0, 0};
    for (int t = 0; t < 4; t++) {
      j.start = t * 20;
      worker(&j);
    }
    expect = j.correct;
  }
  CHECK(ce == 0 && cc == expect, "concurrent runs: %d correct (%d errors), sequential %d", cc, ce, expect);

  sinter_tensor_free(x);
  sinter_session_free(S);
  free(images);
  free(labels);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
