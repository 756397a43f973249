/* Tests the CLI's .npy reader/writer (tools/npy.c): round trips, header versions, malformed headers. */
#include "../../tools/npy.c"

#include <stdio.h>

static int failures = 0;
#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                     \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

/* Build a .npy file in buf from a version and a raw header string (padded as given), then data. */
static size_t make_npy(uint8_t *buf, int major, const char *header, const void *data, size_t nbytes) {
  size_t hl = strlen(header);
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (uint8_t)major;
  buf[7] = 0;
  size_t pre;
  if (major == 1) {
    buf[8] = (uint8_t)(hl & 0xff);
    buf[9] = (uint8_t)(hl >> 8);
    pre = 10;
  } else {
    for (int i = 0; i < 4; i++) buf[8 + i] = (uint8_t)(hl >> (8 * i));
    pre = 12;
  }
  memcpy(buf + pre, header, hl);
  if (nbytes) memcpy(buf + pre + hl, data, nbytes);
  return pre + hl + nbytes;
}

/* Parse and expect an error whose message contains `needle` (NULL: expect success). */
static void expect(const uint8_t *buf, size_t len, const char *needle, int line) {
  sn_npy a;
  sn_error *e = sn_npy_parse(buf, len, "t.npy", &a);
  if (needle == NULL) {
    if (e) {
      fprintf(stderr, "line %d: unexpected error: %s\n", line, e->msg);
      failures++;
    }
  } else if (!e) {
    fprintf(stderr, "line %d: expected an error containing '%s'\n", line, needle);
    failures++;
  } else if (!strstr(e->msg, needle)) {
    fprintf(stderr, "line %d: error '%s' lacks '%s'\n", line, e->msg, needle);
    failures++;
  }
  sn_error_free(e);
  sn_npy_free(&a);
}

static void test_roundtrip(void) {
  static const sinter_dtype dts[] = {SINTER_FLOAT,  SINTER_DOUBLE, SINTER_FLOAT16, SINTER_UINT8, SINTER_INT8,
                                     SINTER_INT16,  SINTER_UINT16, SINTER_INT32,   SINTER_UINT32, SINTER_INT64,
                                     SINTER_UINT64, SINTER_BOOL,   SINTER_COMPLEX64, SINTER_COMPLEX128};
  const int64_t shapes[][3] = {{2, 3, 4}, {5, 0, 0}, {0, 0, 0}, {1, 7, 0}};
  const int ranks[] = {3, 1, 0, 2};
  uint8_t src[2 * 3 * 4 * 16];
  for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 7 + 1);
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
    for (int s = 0; s < 4; s++) {
      sinter_dtype dt = dts[d];
      int64_t count = 1;
      for (int i = 0; i < ranks[s]; i++) count *= shapes[s][i];
      size_t nbytes = (size_t)count * sn_dtype_size(dt);
      if (dt == SINTER_BOOL)
        for (size_t i = 0; i < nbytes; i++) src[i] = (uint8_t)(i & 1);
      void *buf;
      size_t len;
      sn_error *e = sn_npy_serialize(dt, ranks[s], shapes[s], src, nbytes, &buf, &len);
      CHECK(e == NULL);
      if (e) {
        sn_error_free(e);
        continue;
      }
      CHECK((len - nbytes) % 64 == 0);
      CHECK(((uint8_t *)buf)[len - nbytes - 1] == '\n');
      sn_npy a;
      e = sn_npy_parse(buf, len, "rt", &a);
      CHECK(e == NULL);
      if (!e) {
        CHECK(a.dtype == dt);
        CHECK(a.rank == ranks[s]);
        for (int i = 0; i < a.rank; i++) CHECK(a.dims[i] == shapes[s][i]);
        CHECK(a.count == count);
        CHECK(a.nbytes == nbytes);
        CHECK(memcmp(a.data, src, nbytes) == 0);
      }
      sn_error_free(e);
      sn_npy_free(&a);
      sn_free(buf);
    }
  }
  /* no NumPy equivalent */
  void *buf;
  size_t len;
  int64_t one = 1;
  sn_error *e = sn_npy_serialize(SINTER_BFLOAT16, 1, &one, src, 2, &buf, &len);
  CHECK(e && strstr(e->msg, "bfloat16"));
  sn_error_free(e);
}

static void test_headers(void) {
  uint8_t buf[1024];
  float f[6] = {1, 2, 3, 4, 5, 6};
  size_t n;
#define OK(major, hdr, nb) n = make_npy(buf, major, hdr, f, nb), expect(buf, n, NULL, __LINE__)
#define BAD(major, hdr, nb, needle) n = make_npy(buf, major, hdr, f, nb), expect(buf, n, needle, __LINE__)
  OK(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }          \n", 24);
  OK(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n", 24);
  OK(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n", 24);
  OK(1, "{\"shape\": (1,2,3), \"descr\": \"<f4\", \"fortran_order\": False}", 24);
  OK(1, "{'descr':'<f4','fortran_order':False,'shape':()}", 4);
  OK(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6L,), }\n", 24);
  OK(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (24,), }\n", 24);
  OK(1, "{'descr': '<u1', 'fortran_order': False, 'shape': (24,), }\n", 24);
  BAD(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", 24, "Fortran");
  BAD(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24, "big-endian");
  BAD(1, "{'descr': '<U4', 'fortran_order': False, 'shape': (1,), }\n", 16, "not supported");
  BAD(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", 4, "structured");
  BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 20, "truncated");
  BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }\n", 24, "unexpected bytes");
  BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n", 24, "negative");
  BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [6], }\n", 24, "tuple");
  BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}\n", 24, "unexpected key");
  BAD(1, "{'descr': '<f4', 'fortran_order': False}\n", 24, "missing key 'shape'");
  BAD(1, "{'descr': '<f4', 'shape': (6,)}\n", 24, "missing key 'fortran_order'");
  BAD(1, "{'fortran_order': False, 'shape': (6,)}\n", 24, "missing key 'descr'");
  BAD(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}\n", 24, "duplicate");
  BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)", 24, "expected");
  BAD(1, "{'descr': '<f4, 'fortran_order': False, 'shape': (6,)}", 24, "expected");
  BAD(1, "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (6,)}", 24, "True or False");
  BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} junk", 24, "after the dictionary");
  BAD(1, "['descr', '<f4']", 24, "not a dictionary");
  BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 24, "too large");
  BAD(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4)}", 24, "too large");
  BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1)}", 4,
      "more than 16");
  BAD(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6 7,)}", 24, "expected ','");
  BAD(1, "", 0, "not a dictionary");
  BAD(4, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", 24, "version 4.0");
#undef OK
#undef BAD
  /* header length larger than the file */
  n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", f, 0);
  buf[8] = 0xff;
  buf[9] = 0x7f;
  expect(buf, n, "truncated", __LINE__);
  expect(buf, 5, "magic", __LINE__);
  expect((const uint8_t *)"NUMPY\x01\x00\x00\x00\x00\x00", 10, "magic", __LINE__);
  expect((const uint8_t *)"\x93NUMPY\x02\x00\x00", 9, "magic", __LINE__);
  expect((const uint8_t *)"\x93NUMPY\x02\x00\x00\x00", 10, "truncated", __LINE__);

  /* bools are normalized to 0/1 */
  uint8_t bools[4] = {0, 2, 255, 1};
  n = make_npy(buf, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (4,)}", bools, 4);
  sn_npy a;
  sn_error *e = sn_npy_parse(buf, n, "b", &a);
  CHECK(!e);
  if (!e) {
    const uint8_t *d = a.data;
    CHECK(a.dtype == SINTER_BOOL && d[0] == 0 && d[1] == 1 && d[2] == 1 && d[3] == 1);
  }
  sn_error_free(e);
  sn_npy_free(&a);
}

/* Every prefix and every single-byte corruption of a valid file must parse or fail cleanly. */
static void test_corruption(void) {
  int64_t dims[2] = {3, 5};
  float data[15] = {0};
  void *buf;
  size_t len;
  sn_error *e = sn_npy_serialize(SINTER_FLOAT, 2, dims, data, sizeof data, &buf, &len);
  CHECK(!e);
  if (e) return;
  uint8_t *copy = sn_malloc(len);
  for (size_t cut = 0; cut < len; cut++) {
    sn_npy a;
    sn_error *err = sn_npy_parse(buf, cut, "cut", &a);
    CHECK(err != NULL);
    sn_error_free(err);
    sn_npy_free(&a);
  }
  for (size_t i = 0; i < 128 && i < len; i++) {
    for (int v = 0; v < 256; v += 7) {
      memcpy(copy, buf, len);
      copy[i] = (uint8_t)v;
      sn_npy a;
      sn_error *err = sn_npy_parse(copy, len, "fuzz", &a);
      if (!err) CHECK(a.nbytes + 0 <= len);
      sn_error_free(err);
      sn_npy_free(&a);
    }
  }
  sn_free(copy);
  sn_free(buf);
}

static void test_file(void) {
  const char *path = "test_npy_tmp.npy";
  int64_t dims[2] = {2, 2};
  int64_t v[4] = {1, -2, 3, INT64_MIN};
  sn_error *e = sn_npy_write(path, SINTER_INT64, 2, dims, v, sizeof v);
  CHECK(!e);
  sn_error_free(e);
  sn_npy a;
  e = sn_npy_read(path, &a);
  CHECK(!e);
  if (!e) CHECK(a.dtype == SINTER_INT64 && a.rank == 2 && memcmp(a.data, v, sizeof v) == 0);
  sn_error_free(e);
  sn_npy_free(&a);
  remove(path);
  e = sn_npy_read("/nonexistent/dir/x.npy", &a);
  CHECK(e && e->code == SINTER_ERR_NO_SUCH_FILE);
  sn_error_free(e);
}

int main(void) {
  test_roundtrip();
  test_headers();
  test_corruption();
  test_file();
  if (failures) {
    fprintf(stderr, "test_npy: %d failures\n", failures);
    return 1;
  }
  printf("test_npy: ok\n");
  return 0;
}
