/* Example: classify a small batch with the Sinter public API (include/sinter.h only).
 *
 *   classify_example MODEL INPUT
 *
 * INPUT is a float32 .npy file (C order) or a raw file of little-endian float32 values; for a raw
 * file the shape is the model input's, with its first unknown dimension (the batch) taken from the
 * file size. Prints the argmax of every row of the model's first output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinter.h"

/* ---- a deliberately small .npy reader: float32 ("<f4"), C order, format 1.0-3.0 ---------------- */

static int parse_npy_f32(const unsigned char *b, size_t len, int64_t *dims, int *rank, size_t *offset) {
  if (len < 12 || memcmp(b, "\x93NUMPY", 6) != 0) return -1;
  size_t hlen, start;
  if (b[6] == 1) {
    hlen = (size_t)b[8] | (size_t)b[9] << 8;
    start = 10;
  } else if (b[6] == 2 || b[6] == 3) {
    hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    start = 12;
  } else {
    return -1;
  }
  if (hlen > len - start || hlen > 4096) return -1;
  char hdr[4097];
  memcpy(hdr, b + start, hlen);
  hdr[hlen] = 0;
  if (!strstr(hdr, "'descr': '<f4'") || !strstr(hdr, "'fortran_order': False")) return -1;
  const char *p = strstr(hdr, "'shape': (");
  if (!p) return -1;
  p += strlen("'shape': (");
  *rank = 0;
  while (*p && *p != ')') {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || v < 0 || *rank == 8) return -1;
    dims[(*rank)++] = v;
    p = end;
    while (*p == ',' || *p == ' ') p++;
  }
  if (*p != ')') return -1;
  *offset = start + hlen;
  return 0;
}

static unsigned char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  unsigned char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    unsigned char *nb = realloc(buf, cap *= 2);
    if (!nb) free(buf);
    buf = nb;
  }
  fclose(f);
  *len = n;
  return buf;
}

/* Print a failed call's message and free it; returns 1. */
static int fail(const char *what, sinter_status *st) {
  fprintf(stderr, "%s: %s\n", what, sinter_status_message(st));
  sinter_status_free(st);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s MODEL INPUT.npy|INPUT.raw\n", argv[0]);
    return 2;
  }
  size_t len = 0;
  unsigned char *file = read_file(argv[2], &len);
  if (!file) {
    fprintf(stderr, "cannot read %s\n", argv[2]);
    return 1;
  }

  int rc = 1;
  sinter_status *st;
  sinter_session *session = NULL;
  sinter_tensor *x = NULL, *y = NULL;
  if ((st = sinter_session_create(argv[1], NULL, &session))) {
    rc = fail("loading the model", st);
    goto out;
  }
  sinter_value_info in, out;
  if ((st = sinter_session_input_info(session, 0, &in)) || (st = sinter_session_output_info(session, 0, &out))) {
    rc = fail("model info", st);
    goto out;
  }

  /* The input's shape and data: from the .npy header, or the model's shape for raw floats. */
  int64_t dims[8];
  int rank = 0;
  size_t offset = 0;
  if (len >= 6 && memcmp(file, "\x93NUMPY", 6) == 0) {
    if (parse_npy_f32(file, len, dims, &rank, &offset) != 0) {
      fprintf(stderr, "%s: not a C-order float32 .npy file\n", argv[2]);
      goto out;
    }
  } else {
    if (in.rank < 1 || in.rank > 8) {
      fprintf(stderr, "raw input needs a model input of known rank 1..8\n");
      goto out;
    }
    int64_t known = 1;
    int free_dim = -1;
    for (int i = 0; i < in.rank; i++) {
      dims[i] = in.dims[i] >= 0 ? in.dims[i] : 1;
      if (in.dims[i] < 0 && free_dim < 0) free_dim = i;
      else known *= dims[i];
    }
    if (free_dim >= 0 && known > 0) dims[free_dim] = (int64_t)(len / sizeof(float)) / known;
    rank = in.rank;
  }
  if ((st = sinter_tensor_wrap(SINTER_FLOAT, dims, rank, file + offset, len - offset, &x))) {
    rc = fail("input", st);
    goto out;
  }

  /* Run: one input, the first output, allocated by Sinter. */
  const sinter_tensor *inputs[1] = {x};
  if ((st = sinter_run(session, &in.name, inputs, 1, &out.name, &y, 1))) {
    rc = fail("run", st);
    goto out;
  }
  if (sinter_tensor_dtype(y) != SINTER_FLOAT || sinter_tensor_rank(y) < 1) {
    fprintf(stderr, "expected float32 scores of shape [rows, classes]\n");
    goto out;
  }
  const float *scores = sinter_tensor_data(y);
  int64_t rows = sinter_tensor_dims(y)[0];
  int64_t classes = rows > 0 ? sinter_tensor_count(y) / rows : 0;
  for (int64_t r = 0; r < rows; r++) {
    int64_t best = 0;
    for (int64_t c = 1; c < classes; c++)
      if (scores[r * classes + c] > scores[r * classes + best]) best = c;
    printf("%lld: class %lld (score %.4f)\n", (long long)r, (long long)best, classes ? scores[r * classes + best] : 0.0f);
  }
  rc = 0;

out:
  sinter_tensor_free(y);
  sinter_tensor_free(x);
  sinter_session_free(session);
  free(file);
  return rc;
}
