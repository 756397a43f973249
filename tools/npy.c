/* Reading and writing NumPy .npy files: a strict little parser for the header dict, checked sizes. */
#include "npy.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/dtype.h"

/* ---- dtypes ---------------------------------------------------------------------------------- */

static const struct {
  const char *code; /* descr without the byte-order character */
  sinter_dtype dt;
} npy_types[] = {
    {"f4", SINTER_FLOAT},  {"f8", SINTER_DOUBLE},  {"f2", SINTER_FLOAT16},     {"u1", SINTER_UINT8},
    {"i1", SINTER_INT8},   {"i2", SINTER_INT16},   {"u2", SINTER_UINT16},      {"i4", SINTER_INT32},
    {"u4", SINTER_UINT32}, {"i8", SINTER_INT64},   {"u8", SINTER_UINT64},      {"b1", SINTER_BOOL},
    {"?", SINTER_BOOL},    {"c8", SINTER_COMPLEX64}, {"c16", SINTER_COMPLEX128},
};

static int host_is_little_endian(void) {
  const uint16_t one = 1;
  uint8_t b;
  memcpy(&b, &one, 1);
  return b == 1;
}

sinter_dtype sn_npy_dtype_from_descr(const char *descr) {
  if (!descr || !descr[0]) return SINTER_UNDEFINED;
  char order = descr[0];
  const char *code = descr;
  if (order == '<' || order == '>' || order == '|' || order == '=') code++;
  else order = '=';
  for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++) {
    if (strcmp(code, npy_types[i].code) != 0) continue;
    sinter_dtype dt = npy_types[i].dt;
    if (sn_dtype_size(dt) == 1) return dt; /* byte order is irrelevant */
    if (order == '<' || (order == '=' && host_is_little_endian())) return dt;
    return SINTER_UNDEFINED; /* big-endian (or '|' on a multi-byte type) */
  }
  return SINTER_UNDEFINED;
}

const char *sn_npy_descr(sinter_dtype dt) {
  switch (dt) {
    case SINTER_FLOAT: return "<f4";
    case SINTER_DOUBLE: return "<f8";
    case SINTER_FLOAT16: return "<f2";
    case SINTER_UINT8: return "|u1";
    case SINTER_INT8: return "|i1";
    case SINTER_INT16: return "<i2";
    case SINTER_UINT16: return "<u2";
    case SINTER_INT32: return "<i4";
    case SINTER_UINT32: return "<u4";
    case SINTER_INT64: return "<i8";
    case SINTER_UINT64: return "<u8";
    case SINTER_BOOL: return "|b1";
    case SINTER_COMPLEX64: return "<c8";
    case SINTER_COMPLEX128: return "<c16";
    default: return NULL;
  }
}

/* ---- header parsing ---------------------------------------------------------------------------- */

typedef struct hparser {
  const char *p, *end;
  const char *what;
} hparser;

#define MAX_STR 64

static sn_error *herr(const hparser *h, const char *fmt, const char *arg) {
  char msg[256];
  snprintf(msg, sizeof msg, fmt, arg ? arg : "");
  return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: malformed .npy header: %s", h->what, msg);
}

static void skip_ws(hparser *h) {
  while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r')) h->p++;
}

static int accept(hparser *h, char c) {
  skip_ws(h);
  if (h->p < h->end && *h->p == c) {
    h->p++;
    return 1;
  }
  return 0;
}

/* A Python string literal in single or double quotes, without escapes. */
static sn_error *parse_str(hparser *h, char *buf, size_t cap) {
  skip_ws(h);
  if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return herr(h, "expected a quoted string", NULL);
  char q = *h->p++;
  size_t n = 0;
  while (h->p < h->end && *h->p != q) {
    if (*h->p == '\\') return herr(h, "escape sequences in strings are not supported", NULL);
    if (n + 1 >= cap) return herr(h, "string too long", NULL);
    buf[n++] = *h->p++;
  }
  if (h->p >= h->end) return herr(h, "unterminated string", NULL);
  h->p++;
  buf[n] = 0;
  return NULL;
}

static int match_word(hparser *h, const char *w) {
  skip_ws(h);
  size_t n = strlen(w);
  if ((size_t)(h->end - h->p) < n || memcmp(h->p, w, n) != 0) return 0;
  const char *after = h->p + n;
  if (after < h->end && ((*after >= 'a' && *after <= 'z') || (*after >= 'A' && *after <= 'Z') ||
                         (*after >= '0' && *after <= '9') || *after == '_'))
    return 0;
  h->p = after;
  return 1;
}

static sn_error *parse_shape(hparser *h, int *rank, int64_t *dims) {
  if (!accept(h, '(')) {
    skip_ws(h);
    if (h->p < h->end && *h->p == '[') return herr(h, "'shape' must be a tuple, not a list", NULL);
    return herr(h, "'shape' must be a tuple of non-negative integers", NULL);
  }
  int n = 0;
  for (;;) {
    if (accept(h, ')')) break;
    skip_ws(h);
    if (h->p < h->end && *h->p == '-') return herr(h, "negative dimension in 'shape'", NULL);
    if (h->p >= h->end || *h->p < '0' || *h->p > '9') return herr(h, "expected an integer in 'shape'", NULL);
    int64_t v = 0;
    while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
      int d = *h->p++ - '0';
      if (v > (INT64_MAX - d) / 10) return herr(h, "dimension in 'shape' is too large", NULL);
      v = v * 10 + d;
    }
    if (h->p < h->end && (*h->p == 'L' || *h->p == 'l')) h->p++; /* Python 2 long suffix */
    if (n >= SN_NPY_MAX_RANK) return herr(h, "'shape' has more than 16 dimensions", NULL);
    dims[n++] = v;
    if (accept(h, ',')) continue;
    if (accept(h, ')')) break;
    return herr(h, "expected ',' or ')' in 'shape'", NULL);
  }
  *rank = n;
  return NULL;
}

typedef struct npy_header {
  char descr[MAX_STR];
  int fortran;
  int rank;
  int64_t dims[SN_NPY_MAX_RANK];
} npy_header;

static sn_error *parse_header(hparser *h, npy_header *hd) {
  int have_descr = 0, have_fortran = 0, have_shape = 0;
  if (!accept(h, '{')) return herr(h, "the header is not a dictionary ('{' expected)", NULL);
  for (;;) {
    if (accept(h, '}')) break;
    char key[MAX_STR];
    SN_TRY(parse_str(h, key, sizeof key));
    if (!accept(h, ':')) return herr(h, "expected ':' after key '%s'", key);
    if (strcmp(key, "descr") == 0) {
      if (have_descr) return herr(h, "duplicate key '%s'", key);
      skip_ws(h);
      if (h->p < h->end && (*h->p == '[' || *h->p == '(' || *h->p == '{'))
        return sn_errorf(SINTER_ERR_INVALID_ARGUMENT,
                         "%s: structured .npy dtypes (record arrays) are not supported; save a plain "
                         "numeric array",
                         h->what);
      SN_TRY(parse_str(h, hd->descr, sizeof hd->descr));
      have_descr = 1;
    } else if (strcmp(key, "fortran_order") == 0) {
      if (have_fortran) return herr(h, "duplicate key '%s'", key);
      if (match_word(h, "True")) hd->fortran = 1;
      else if (match_word(h, "False")) hd->fortran = 0;
      else return herr(h, "'fortran_order' must be True or False", NULL);
      have_fortran = 1;
    } else if (strcmp(key, "shape") == 0) {
      if (have_shape) return herr(h, "duplicate key '%s'", key);
      SN_TRY(parse_shape(h, &hd->rank, hd->dims));
      have_shape = 1;
    } else {
      return herr(h, "unexpected key '%s' (expected 'descr', 'fortran_order', 'shape')", key);
    }
    if (accept(h, ',')) continue;
    if (accept(h, '}')) break;
    return herr(h, "expected ',' or '}' after the value of '%s'", key);
  }
  /* Only padding may follow: spaces, a newline, NULs (very old writers). */
  while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r' || *h->p == 0)) h->p++;
  if (h->p != h->end) return herr(h, "unexpected text after the dictionary", NULL);
  if (!have_descr) return herr(h, "missing key 'descr'", NULL);
  if (!have_fortran) return herr(h, "missing key 'fortran_order'", NULL);
  if (!have_shape) return herr(h, "missing key 'shape'", NULL);
  return NULL;
}

static uint32_t rd_le(const uint8_t *p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

sn_error *sn_npy_parse(const void *bytes, size_t len, const char *what, sn_npy *out) {
  memset(out, 0, sizeof *out);
  const uint8_t *b = bytes;
  if (!host_is_little_endian())
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: .npy files are only supported on little-endian hosts", what);
  if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: not a .npy file (missing the \\x93NUMPY magic)", what);
  int major = b[6], minor = b[7];
  size_t hstart, hlen;
  if (major == 1 && minor == 0) {
    hstart = 10;
    hlen = rd_le(b + 8, 2);
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (len < 12) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: truncated .npy header", what);
    hstart = 12;
    hlen = rd_le(b + 8, 4);
  } else {
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED,
                     "%s: unsupported .npy format version %d.%d (1.0, 2.0 and 3.0 are supported)", what, major,
                     minor);
  }
  if (hlen > len - hstart)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT,
                     "%s: truncated .npy file: the header claims %zu bytes but only %zu follow", what, hlen,
                     len - hstart);

  hparser h = {(const char *)b + hstart, (const char *)b + hstart + hlen, what};
  npy_header hd;
  memset(&hd, 0, sizeof hd);
  SN_TRY(parse_header(&h, &hd));

  if (hd.fortran)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED,
                     "%s: Fortran-order .npy arrays are not supported; save with "
                     "np.save(path, np.ascontiguousarray(a))",
                     what);
  sinter_dtype dt = sn_npy_dtype_from_descr(hd.descr);
  if (dt == SINTER_UNDEFINED) {
    if (hd.descr[0] == '>')
      return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED,
                       "%s: big-endian .npy data (descr '%s') is not supported; convert with a.astype('<%s')",
                       what, hd.descr, hd.descr + 1);
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED,
                     "%s: .npy dtype '%s' is not supported (supported: <f4 <f8 <f2 |u1 |i1 <i2 <u2 <i4 <u4 <i8 "
                     "<u8 |b1 <c8 <c16)",
                     what, hd.descr);
  }

  size_t esize = sn_dtype_size(dt);
  size_t data_len = len - hstart - hlen;
  int64_t count = 1;
  for (int i = 0; i < hd.rank; i++) {
    if (hd.dims[i] != 0 && count > INT64_MAX / hd.dims[i])
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: .npy shape is too large", what);
    count *= hd.dims[i];
  }
  if ((uint64_t)count > SIZE_MAX / esize)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "%s: .npy shape is too large", what);
  size_t nbytes = (size_t)count * esize;
  if (data_len != nbytes) {
    char shape[256];
    int k = snprintf(shape, sizeof shape, "(");
    for (int i = 0; i < hd.rank && k < (int)sizeof shape - 24; i++)
      k += snprintf(shape + k, sizeof shape - (size_t)k, "%s%lld", i ? ", " : "", (long long)hd.dims[i]);
    snprintf(shape + k, sizeof shape - (size_t)k, "%s)", hd.rank == 1 ? "," : "");
    if (data_len < nbytes)
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT,
                       "%s: truncated .npy file: shape %s of '%s' needs %zu data bytes but the file has %zu", what,
                       shape, hd.descr, nbytes, data_len);
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT,
                     "%s: .npy file has %zu unexpected bytes after the data of shape %s of '%s'", what,
                     data_len - nbytes, shape, hd.descr);
  }

  void *data = sn_aligned_alloc(nbytes ? nbytes : 1);
  if (!data) return SN_ERR_OOM();
  if (nbytes) memcpy(data, b + hstart + hlen, nbytes);
  if (dt == SINTER_BOOL) {
    uint8_t *u = data;
    for (size_t i = 0; i < nbytes; i++) u[i] = u[i] != 0;
  }
  out->dtype = dt;
  out->rank = hd.rank;
  memcpy(out->dims, hd.dims, sizeof(int64_t) * (size_t)hd.rank);
  out->count = count;
  out->nbytes = nbytes;
  out->data = data;
  return NULL;
}

sn_error *sn_npy_read(const char *path, sn_npy *out) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return sn_errorf(SINTER_ERR_NO_SUCH_FILE, "cannot open '%s': %s", path, strerror(errno));
  sn_error *err = NULL;
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : 1 << 16;
      uint8_t *nb = sn_realloc(buf, ncap);
      if (!nb) {
        err = SN_ERR_OOM();
        goto done;
      }
      buf = nb;
      cap = ncap;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) {
      if (ferror(f)) err = sn_errorf(SINTER_ERR_NO_SUCH_FILE, "error reading '%s': %s", path, strerror(errno));
      break;
    }
  }
  if (!err) err = sn_npy_parse(buf, len, path, out);
done:
  fclose(f);
  sn_free(buf);
  return err;
}

void sn_npy_free(sn_npy *a) {
  if (!a) return;
  if (a->data) sn_aligned_free(a->data);
  memset(a, 0, sizeof *a);
}

/* ---- writing ------------------------------------------------------------------------------------ */

sn_error *sn_npy_serialize(sinter_dtype dt, int rank, const int64_t *dims, const void *data, size_t nbytes,
                           void **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  const char *descr = sn_npy_descr(dt);
  if (!descr)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s tensors cannot be saved as .npy (no NumPy equivalent)",
                     sn_dtype_name(dt));
  if (rank < 0 || rank > SN_NPY_MAX_RANK)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "cannot save a tensor of rank %d as .npy", rank);
  int64_t count = 1;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0 || (dims[i] && count > INT64_MAX / dims[i]))
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "cannot save a tensor with invalid dims as .npy");
    count *= dims[i];
  }
  if ((uint64_t)count * sn_dtype_size(dt) != nbytes)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "npy write: %zu data bytes do not match the shape", nbytes);

  char hdr[64 + SN_NPY_MAX_RANK * 24];
  int k = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  for (int i = 0; i < rank; i++) k += snprintf(hdr + k, sizeof hdr - (size_t)k, "%s%lld", i ? ", " : "", (long long)dims[i]);
  k += snprintf(hdr + k, sizeof hdr - (size_t)k, "%s), }", rank == 1 ? "," : "");
  size_t hl = (size_t)k;
  /* v1.0: 10-byte preamble; pad (spaces, then '\n') so the data starts at a multiple of 64 */
  size_t pre = 10;
  size_t total_hdr = (pre + hl + 1 + 63) / 64 * 64;
  if (total_hdr - pre > 65535) {
    pre = 12;
    total_hdr = (pre + hl + 1 + 63) / 64 * 64;
  }
  size_t hlen = total_hdr - pre;
  uint8_t *buf = sn_malloc(total_hdr + nbytes);
  if (!buf) return SN_ERR_OOM();
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = pre == 10 ? 1 : 2;
  buf[7] = 0;
  if (pre == 10) {
    buf[8] = (uint8_t)(hlen & 0xff);
    buf[9] = (uint8_t)(hlen >> 8);
  } else {
    for (int i = 0; i < 4; i++) buf[8 + i] = (uint8_t)(hlen >> (8 * i));
  }
  memcpy(buf + pre, hdr, hl);
  memset(buf + pre + hl, ' ', hlen - hl - 1);
  buf[total_hdr - 1] = '\n';
  if (nbytes) memcpy(buf + total_hdr, data, nbytes);
  *out = buf;
  *out_len = total_hdr + nbytes;
  return NULL;
}

sn_error *sn_npy_write(const char *path, sinter_dtype dt, int rank, const int64_t *dims, const void *data,
                       size_t nbytes) {
  void *buf;
  size_t len;
  SN_TRY(sn_npy_serialize(dt, rank, dims, data, nbytes, &buf, &len));
  FILE *f = fopen(path, "wb");
  if (!f) {
    sn_free(buf);
    return sn_errorf(SINTER_ERR_NO_SUCH_FILE, "cannot create '%s': %s", path, strerror(errno));
  }
  size_t put = fwrite(buf, 1, len, f);
  int close_err = fclose(f);
  sn_free(buf);
  if (put != len || close_err != 0)
    return sn_errorf(SINTER_ERR_RUNTIME, "error writing '%s': %s", path, strerror(errno));
  return NULL;
}
