/* TensorProto, SparseTensorProto, SequenceProto and OptionalProto -> sn_tensor: every typed data
 * field, raw data (zero-copy when aligned), 4-bit unpacking, external data, all sizes checked. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "onnx/onnx.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX reader assumes a little-endian host (raw_data is little-endian)"
#endif

enum {
  F_DIMS = 1, F_DTYPE = 2, F_SEGMENT = 3, F_FLOAT = 4, F_INT32 = 5, F_STRING = 6, F_INT64 = 7, F_NAME = 8,
  F_RAW = 9, F_DOUBLE = 10, F_UINT64 = 11, F_EXTERNAL = 13, F_LOCATION = 14
};

typedef struct tfields {
  int rank;
  int64_t dims[SN_MAX_RANK];
  int64_t dtype;
  bool segment, has_raw;
  size_t n[12]; /* element counts per typed field number (4..11) */
  const uint8_t *raw;
  size_t raw_len;
  char *name;
  int64_t location;
  int n_ext, cap_ext;
  char **ext_keys, **ext_vals;
} tfields;

static void tfields_free(tfields *t) {
  sn_free(t->name);
  for (int i = 0; i < t->n_ext; i++) {
    sn_free(t->ext_keys[i]);
    sn_free(t->ext_vals[i]);
  }
  sn_free(t->ext_keys);
  sn_free(t->ext_vals);
}

static bool is4bit(sn_dtype dt) { return dt == SINTER_INT4 || dt == SINTER_UINT4 || dt == SINTER_FLOAT4E2M1; }

static const char *field_name(int num) {
  switch (num) {
    case F_FLOAT: return "float_data";
    case F_INT32: return "int32_data";
    case F_STRING: return "string_data";
    case F_INT64: return "int64_data";
    case F_DOUBLE: return "double_data";
    case F_UINT64: return "uint64_data";
    default: return "raw_data";
  }
}

/* The typed field that carries elements of dt, and how many field elements one tensor element takes. */
static int typed_field(sn_dtype dt, int *per) {
  *per = 1;
  switch (dt) {
    case SINTER_FLOAT: return F_FLOAT;
    case SINTER_COMPLEX64: *per = 2; return F_FLOAT;
    case SINTER_DOUBLE: return F_DOUBLE;
    case SINTER_COMPLEX128: *per = 2; return F_DOUBLE;
    case SINTER_INT64: return F_INT64;
    case SINTER_UINT32:
    case SINTER_UINT64: return F_UINT64;
    case SINTER_STRING: return F_STRING;
    default: return F_INT32; /* int32, 16/8-bit ints, bool, float16, bfloat16, float8, 4-bit */
  }
}

/* "initializer 'w'" */
static void tdesc(char *buf, size_t n, const char *what, const char *name) {
  if (name && *name)
    snprintf(buf, n, "%s '%s'", what ? what : "tensor", name);
  else
    snprintf(buf, n, "%s", what ? what : "tensor");
}

static sn_error *scan_ext_entry(sn_onnx_ctx *c, sn_pb *parent, const sn_pb_field *f, tfields *t) {
  if (f->wire != SN_PB_LEN) return sn_onnx_field_error(c, f, "external_data is not a message");
  sn_pb r = sn_pb_sub(parent, f);
  sn_pb_field e;
  int st;
  char *k = NULL, *v = NULL;
  while ((st = sn_pb_next(&r, &e)) > 0) {
    if ((e.num == 1 || e.num == 2) && e.wire == SN_PB_LEN) {
      char *s = sn_onnx_str(&e);
      if (!s) {
        sn_free(k);
        sn_free(v);
        return SN_ERR_OOM();
      }
      if (e.num == 1) {
        sn_free(k);
        k = s;
      } else {
        sn_free(v);
        v = s;
      }
    }
  }
  if (st < 0) {
    sn_free(k);
    sn_free(v);
    return sn_onnx_pb_error(c, &r, st);
  }
  if (t->n_ext == t->cap_ext) {
    int cap = t->cap_ext ? t->cap_ext * 2 : 4;
    char **nk = sn_realloc(t->ext_keys, sizeof(char *) * (size_t)cap);
    if (nk) t->ext_keys = nk;
    char **nv = nk ? sn_realloc(t->ext_vals, sizeof(char *) * (size_t)cap) : NULL;
    if (nv) t->ext_vals = nv;
    if (!nk || !nv) {
      sn_free(k);
      sn_free(v);
      return SN_ERR_OOM();
    }
    t->cap_ext = cap;
  }
  t->ext_keys[t->n_ext] = k ? k : sn_strdup("");
  t->ext_vals[t->n_ext] = v ? v : sn_strdup("");
  t->n_ext++;
  if (!t->ext_keys[t->n_ext - 1] || !t->ext_vals[t->n_ext - 1]) return SN_ERR_OOM();
  return NULL;
}

static sn_error *scan_fields(sn_onnx_ctx *c, sn_pb r, tfields *t) {
  sn_pb_field f;
  int st;
  while ((st = sn_pb_next(&r, &f)) > 0) {
    switch (f.num) {
      case F_DIMS: {
        sn_pb_iter it;
        uint64_t v;
        if ((st = sn_pb_iter_init(&f, SN_PB_E_VARINT, &it))) return sn_onnx_field_error(c, &f, "bad dims");
        while ((st = sn_pb_iter_next(&it, &v)) > 0) {
          if (t->rank == SN_MAX_RANK)
            return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "tensor has more than %d dims", SN_MAX_RANK);
          t->dims[t->rank++] = (int64_t)v;
        }
        if (st < 0) return sn_onnx_field_error(c, &f, "bad dims");
        break;
      }
      case F_DTYPE:
        if (sn_pb_as_int64(&f, &t->dtype)) return sn_onnx_field_error(c, &f, "bad data_type");
        break;
      case F_SEGMENT: t->segment = true; break;
      case F_FLOAT:
      case F_INT32:
      case F_INT64:
      case F_DOUBLE:
      case F_UINT64: {
        size_t k;
        sn_pb_elem kind = f.num == F_FLOAT ? SN_PB_E_I32 : f.num == F_DOUBLE ? SN_PB_E_I64 : SN_PB_E_VARINT;
        if ((st = sn_pb_count_elems(&f, kind, &k))) return sn_onnx_field_error(c, &f, sn_pb_strerror(st));
        t->n[f.num] += k;
        break;
      }
      case F_STRING:
        if (f.wire != SN_PB_LEN) return sn_onnx_field_error(c, &f, "string_data is not a string");
        t->n[F_STRING]++;
        break;
      case F_NAME:
        if (f.wire != SN_PB_LEN) return sn_onnx_field_error(c, &f, "name is not a string");
        sn_free(t->name);
        if (!(t->name = sn_onnx_str(&f))) return SN_ERR_OOM();
        break;
      case F_RAW:
        if (f.wire != SN_PB_LEN) return sn_onnx_field_error(c, &f, "raw_data is not bytes");
        t->has_raw = true;
        t->raw = f.data;
        t->raw_len = f.len;
        break;
      case F_EXTERNAL: SN_TRY(scan_ext_entry(c, &r, &f, t)); break;
      case F_LOCATION:
        if (sn_pb_as_int64(&f, &t->location)) return sn_onnx_field_error(c, &f, "bad data_location");
        break;
      default: break;
    }
  }
  if (st < 0) return sn_onnx_pb_error(c, &r, st);
  return NULL;
}

/* Bytes of our own read-only private file mapping that were copied out are not needed again: the
 * kernel may drop the whole pages inside them from the resident set (sn_drop_pages; safe for bytes
 * still to be parsed). Without it, a model whose weights are mostly unaligned is resident twice:
 * mapped and copied. */
/* Raw little-endian bytes -> tensor (view when allowed, else a copy; 4-bit types unpacked).
 * mapped: p lies in a file mapping of the reader's own (see drop_copied_pages). */
static sn_error *from_raw(const tfields *t, const sn_tensor *hdr, const uint8_t *p, size_t len,
                          const uint8_t *readable_end, bool zero_copy, bool mapped, const char *desc, const char *src,
                          sn_tensor **out) {
  char sbuf[256];
  sn_dtype dt = hdr->dtype;
  size_t esz = sn_dtype_size(dt);
  size_t expect = is4bit(dt) ? (size_t)(hdr->count / 2 + (hdr->count & 1)) : hdr->nbytes;
  if (len != expect)
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: %s has %zu bytes, expected %zu for %s", desc, src, len, expect,
                     sn_tensor_describe(hdr, sbuf, sizeof sbuf));
  sn_tensor *o = NULL;
  if (is4bit(dt)) {
    SN_TRY(sn_tensor_new(dt, t->rank, t->dims, &o));
    uint8_t *d = o->data;
    for (int64_t i = 0; i < hdr->count; i++) {
      uint8_t nib = (uint8_t)((p[i >> 1] >> ((i & 1) * 4)) & 0xF);
      if (dt == SINTER_INT4 && (nib & 8)) nib |= 0xF0; /* sign-extend */
      d[i] = nib;
    }
    *out = o;
    return NULL;
  }
  bool bool_ok = true;
  if (dt == SINTER_BOOL)
    for (size_t i = 0; i < len && bool_ok; i++) bool_ok = p[i] <= 1;
  if (zero_copy && bool_ok && len && ((uintptr_t)p % esz) == 0 && readable_end &&
      (size_t)(readable_end - p) >= len + SN_PAD) {
    SN_TRY(sn_tensor_new_view(dt, t->rank, t->dims, (void *)p, &o));
    o->file_view = mapped;
    *out = o;
    return NULL;
  }
  SN_TRY(sn_tensor_new_uninit(dt, t->rank, t->dims, &o)); /* every byte copied next */
  if (len) memcpy(o->data, p, len);
  if (mapped) sn_drop_pages(p, len);
  if (dt == SINTER_BOOL && !bool_ok) {
    uint8_t *d = o->data;
    for (size_t i = 0; i < len; i++) d[i] = d[i] != 0;
  }
  *out = o;
  return NULL;
}

/* Typed field (float_data, int32_data, ...) -> tensor. */
static sn_error *from_typed(sn_onnx_ctx *c, sn_pb r, const tfields *t, const sn_tensor *hdr, int field, int per,
                            const char *desc, sn_tensor **out) {
  sn_dtype dt = hdr->dtype;
  size_t have = t->n[field];
  bool packed4 = false;
  if (is4bit(dt)) {
    size_t half = (size_t)(hdr->count / 2 + (hdr->count & 1));
    if (have == half)
      packed4 = true;
    else if (have != (size_t)hdr->count)
      return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: int32_data has %zu values, expected %zu (two %s per value)",
                       desc, have, half, sn_dtype_name(dt));
  } else if ((uint64_t)have != (uint64_t)hdr->count * (uint64_t)per) {
    char sbuf[256];
    return sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: %s has %zu values, expected %llu for %s", desc, field_name(field),
                     have, (unsigned long long)((uint64_t)hdr->count * (uint64_t)per),
                     sn_tensor_describe(hdr, sbuf, sizeof sbuf));
  }
  sn_tensor *o = NULL;
  SN_TRY(sn_tensor_new(dt, t->rank, t->dims, &o));
  sn_pb_field f;
  int st;
  size_t k = 0; /* field elements consumed */
  sn_error *e = NULL;
  while ((st = sn_pb_next(&r, &f)) > 0) {
    if ((int)f.num != field) continue;
    if (field == F_STRING) {
      char **s = o->data;
      if (k < (size_t)hdr->count) {
        s[k] = sn_strndup((const char *)f.data, f.len);
        if (!s[k]) {
          e = SN_ERR_OOM();
          break;
        }
      }
      k++;
      continue;
    }
    sn_pb_iter it;
    uint64_t v;
    sn_pb_elem kind = field == F_FLOAT ? SN_PB_E_I32 : field == F_DOUBLE ? SN_PB_E_I64 : SN_PB_E_VARINT;
    if ((st = sn_pb_iter_init(&f, kind, &it))) break;
    while ((st = sn_pb_iter_next(&it, &v)) > 0) {
      if (k >= have) break; /* cannot happen: counted */
      uint8_t *b = o->data;
      switch (dt) {
        case SINTER_FLOAT:
        case SINTER_COMPLEX64: ((uint32_t *)o->data)[k] = (uint32_t)v; break;
        case SINTER_DOUBLE:
        case SINTER_COMPLEX128:
        case SINTER_INT64:
        case SINTER_UINT64: ((uint64_t *)o->data)[k] = v; break;
        case SINTER_UINT32: ((uint32_t *)o->data)[k] = (uint32_t)v; break;
        case SINTER_INT32: ((uint32_t *)o->data)[k] = (uint32_t)v; break;
        case SINTER_INT16:
        case SINTER_UINT16:
        case SINTER_FLOAT16:
        case SINTER_BFLOAT16: ((uint16_t *)o->data)[k] = (uint16_t)v; break;
        case SINTER_BOOL: b[k] = v != 0; break;
        case SINTER_INT4:
        case SINTER_UINT4:
        case SINTER_FLOAT4E2M1:
          for (int h = 0; h < (packed4 ? 2 : 1); h++) {
            size_t idx = packed4 ? 2 * k + (size_t)h : k;
            if (idx >= (size_t)hdr->count) break;
            uint8_t nib = (uint8_t)((v >> (4 * h)) & 0xF);
            if (dt == SINTER_INT4 && (nib & 8)) nib |= 0xF0;
            b[idx] = nib;
          }
          break;
        default: b[k] = (uint8_t)v; break; /* int8, uint8, float8 */
      }
      k++;
    }
    if (st < 0) break;
  }
  if (!e && st < 0) e = sn_onnx_pb_error(c, &r, st);
  if (e) {
    sn_tensor_free(o);
    return e;
  }
  (void)desc;
  *out = o;
  return NULL;
}

sn_error *sn_onnx_parse_tensor(sn_onnx_ctx *c, sn_pb r, const char *what, bool zero_copy, sn_tensor **out,
                               char **name_out) {
  *out = NULL;
  if (name_out) *name_out = NULL;
  tfields t;
  memset(&t, 0, sizeof t);
  char desc[300], sbuf[256];
  sn_error *e = scan_fields(c, r, &t);
  tdesc(desc, sizeof desc, what, t.name);
  if (e) goto fail;
  if (t.segment) {
    e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: segmented tensors (TensorProto.segment) are not supported", desc);
    goto fail;
  }
  if (t.dtype == 0) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: data_type is missing (UNDEFINED)", desc);
    goto fail;
  }
  if (!sn_dtype_valid((int)t.dtype) || t.dtype != (int)t.dtype) {
    e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: unsupported data_type %lld", desc, (long long)t.dtype);
    goto fail;
  }
  sn_dtype dt = (sn_dtype)t.dtype;
  for (int i = 0; i < t.rank; i++)
    if (t.dims[i] < 0) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: negative dimension %lld in dims %s", desc, (long long)t.dims[i],
                    sn_dims_str(t.rank, t.dims, sbuf, sizeof sbuf));
      goto fail;
    }
  sn_tensor hdr;
  memset(&hdr, 0, sizeof hdr);
  if ((e = sn_tensor_set_shape(&hdr, dt, t.rank, t.dims))) {
    e = sn_error_wrap(e, "%s", desc);
    goto fail;
  }
  int per, field = typed_field(dt, &per);
  size_t typed_total = 0;
  for (int fnum = F_FLOAT; fnum <= F_UINT64; fnum++) {
    if (fnum == F_NAME || fnum == F_RAW || !t.n[fnum]) continue;
    typed_total += t.n[fnum];
    if (fnum != field) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: %s tensor has %s (expected %s or raw_data)", desc,
                    sn_dtype_name(dt), field_name(fnum), field_name(field));
      goto fail;
    }
  }
  if (t.location == 1) { /* EXTERNAL */
    if (!c || !c->m) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: external data is not allowed here", desc);
      goto fail;
    }
    if (dt == SINTER_STRING) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: string tensors cannot have external data", desc);
      goto fail;
    }
    size_t expect = is4bit(dt) ? (size_t)(hdr.count / 2 + (hdr.count & 1)) : hdr.nbytes;
    const uint8_t *p = NULL;
    size_t readable = 0;
    if ((e = sn_onnx_external(c, t.name ? t.name : "", t.n_ext, t.ext_keys, t.ext_vals, expect, &p, &readable))) {
      e = sn_error_wrap(e, "%s", desc);
      goto fail;
    }
    static const uint8_t empty[1];
    if (!p) p = empty;
    e = from_raw(&t, &hdr, p, expect, readable ? p + readable : NULL, zero_copy, false, desc, "external data", out);
  } else if (t.location != 0) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: invalid data_location %lld", desc, (long long)t.location);
  } else if (t.has_raw) {
    if (dt == SINTER_STRING) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: string tensors cannot use raw_data", desc);
      goto fail;
    }
    if (typed_total) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: has both raw_data and %s", desc, field_name(field));
      goto fail;
    }
    const uint8_t *lim = NULL;
    if (c && c->buf && t.raw >= c->buf && t.raw <= c->buf + c->buf_len) lim = c->buf + c->buf_readable;
    e = from_raw(&t, &hdr, t.raw, t.raw_len, lim, zero_copy, lim && c->m && c->m->bytes_mapped, desc, "raw_data", out);
  } else if (typed_total || hdr.count == 0) {
    e = from_typed(c, r, &t, &hdr, field, per, desc, out);
  } else {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: no data for %s (%lld elements expected)", desc,
                  sn_tensor_describe(&hdr, sbuf, sizeof sbuf), (long long)hdr.count);
  }
  if (e) goto fail;
  if (name_out) {
    *name_out = t.name ? t.name : sn_strdup("");
    t.name = NULL;
    if (!*name_out) {
      sn_tensor_free(*out);
      *out = NULL;
      e = SN_ERR_OOM();
      goto fail;
    }
  }
  tfields_free(&t);
  return NULL;
fail:
  tfields_free(&t);
  return e;
}

/* ---- sparse tensors -------------------------------------------------------------------------------- */

/* Densified sparse tensors must stay within max(64 MiB, 4096 x the sparse data) */
#define SPARSE_MIN_LIMIT ((size_t)64 << 20)
#define SPARSE_RATIO 4096

sn_error *sn_onnx_parse_sparse(sn_onnx_ctx *c, sn_pb r, const char *what, sn_tensor **out, char **name_out) {
  *out = NULL;
  if (name_out) *name_out = NULL;
  sn_tensor *vals = NULL, *idx = NULL, *o = NULL;
  char *vname = NULL, *iname = NULL;
  int rank = 0;
  int64_t dims[SN_MAX_RANK];
  char desc[300], sbuf[256];
  sn_error *e = NULL;
  bool has_vals = false, has_idx = false;
  sn_pb_field f;
  int st;
  sn_pb r0 = r;
  /* values first: their name is the sparse tensor's name */
  while ((st = sn_pb_next(&r, &f)) > 0) {
    if (f.num == 1 && f.wire == SN_PB_LEN) {
      sn_tensor_free(vals);
      sn_free(vname);
      vals = NULL;
      vname = NULL;
      size_t pl = sn_onnx_path_push(c, ".values");
      e = sn_onnx_parse_tensor(c, sn_pb_sub(&r, &f), what, true, &vals, &vname);
      sn_onnx_path_pop(c, pl);
      if (e) goto done;
      has_vals = true;
    } else if (f.num == 3) {
      sn_pb_iter it;
      uint64_t v;
      if (sn_pb_iter_init(&f, SN_PB_E_VARINT, &it)) {
        e = sn_onnx_field_error(c, &f, "bad dims");
        goto done;
      }
      while ((st = sn_pb_iter_next(&it, &v)) > 0) {
        if (rank == SN_MAX_RANK) {
          e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "sparse tensor has more than %d dims", SN_MAX_RANK);
          goto done;
        }
        dims[rank++] = (int64_t)v;
      }
      if (st < 0) {
        e = sn_onnx_field_error(c, &f, "bad dims");
        goto done;
      }
    }
  }
  if (st < 0) {
    e = sn_onnx_pb_error(c, &r, st);
    goto done;
  }
  tdesc(desc, sizeof desc, what, vname);
  r = r0;
  while ((st = sn_pb_next(&r, &f)) > 0) {
    if (f.num == 2 && f.wire == SN_PB_LEN) {
      sn_tensor_free(idx);
      sn_free(iname);
      idx = NULL;
      iname = NULL;
      size_t pl = sn_onnx_path_push(c, ".indices");
      e = sn_onnx_parse_tensor(c, sn_pb_sub(&r, &f), desc, true, &idx, &iname);
      sn_onnx_path_pop(c, pl);
      if (e) goto done;
      has_idx = true;
    }
  }
  if (st < 0) {
    e = sn_onnx_pb_error(c, &r, st);
    goto done;
  }
  if (!has_vals) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: sparse tensor has no values", desc);
    goto done;
  }
  for (int i = 0; i < rank; i++)
    if (dims[i] < 0) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: negative dimension in sparse dims %s", desc,
                    sn_dims_str(rank, dims, sbuf, sizeof sbuf));
      goto done;
    }
  sn_tensor hdr;
  memset(&hdr, 0, sizeof hdr);
  if ((e = sn_tensor_set_shape(&hdr, vals->dtype, rank, dims))) {
    e = sn_error_wrap(e, "%s", desc);
    goto done;
  }
  if (vals->rank != 1) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: sparse values must be 1-D, got %s", desc,
                  sn_tensor_describe(vals, sbuf, sizeof sbuf));
    goto done;
  }
  int64_t nnz = vals->dims[0];
  size_t esz = sn_dtype_size(vals->dtype);
  size_t limit = (size_t)nnz * esz * SPARSE_RATIO;
  if (limit < SPARSE_MIN_LIMIT) limit = SPARSE_MIN_LIMIT;
  if (hdr.nbytes > limit) {
    e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "%s: densifying this sparse tensor (%lld values) would take %zu bytes",
                  desc, (long long)nnz, hdr.nbytes);
    goto done;
  }
  if (nnz && !has_idx) {
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: sparse tensor has no indices", desc);
    goto done;
  }
  bool linear = true;
  if (nnz) {
    if (idx->dtype != SINTER_INT64 && idx->dtype != SINTER_INT32) {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: sparse indices must be int64, got %s", desc,
                    sn_dtype_name(idx->dtype));
      goto done;
    }
    if (idx->rank == 1 && idx->dims[0] == nnz)
      linear = true;
    else if (idx->rank == 2 && idx->dims[0] == nnz && idx->dims[1] == rank)
      linear = false;
    else {
      e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: sparse indices %s do not match %lld values of rank %d", desc,
                    sn_tensor_describe(idx, sbuf, sizeof sbuf), (long long)nnz, rank);
      goto done;
    }
  }
  if ((e = sn_tensor_new(vals->dtype, rank, dims, &o))) goto done;
  for (int64_t k = 0; k < nnz; k++) {
    int64_t pos = 0;
    if (linear) {
      pos = sn_load_i64(idx->dtype, idx->data, k);
      if (pos < 0 || pos >= hdr.count) {
        e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: sparse index %lld out of range for %s", desc, (long long)pos,
                      sn_tensor_describe(&hdr, sbuf, sizeof sbuf));
        goto done;
      }
    } else {
      for (int d = 0; d < rank; d++) {
        int64_t ix = sn_load_i64(idx->dtype, idx->data, k * rank + d);
        if (ix < 0 || ix >= dims[d]) {
          e = sn_errorf(SINTER_ERR_INVALID_MODEL, "%s: sparse index %lld out of range in dim %d of %s", desc,
                        (long long)ix, d, sn_tensor_describe(&hdr, sbuf, sizeof sbuf));
          goto done;
        }
        pos = pos * dims[d] + ix;
      }
    }
    if (vals->dtype == SINTER_STRING) {
      char **dst = o->data, *const *src = vals->data;
      sn_free(dst[pos]);
      if (!(dst[pos] = sn_strdup(src[k] ? src[k] : ""))) {
        e = SN_ERR_OOM();
        goto done;
      }
    } else {
      memcpy((uint8_t *)o->data + (size_t)pos * esz, (const uint8_t *)vals->data + (size_t)k * esz, esz);
    }
  }
  if (vals->dtype == SINTER_STRING) { /* unset positions are empty strings */
    char **dst = o->data;
    for (int64_t i = 0; i < o->count; i++)
      if (!dst[i] && !(dst[i] = sn_strdup(""))) {
        e = SN_ERR_OOM();
        goto done;
      }
  }
  if (name_out) {
    *name_out = vname;
    vname = NULL;
  }
  *out = o;
  o = NULL;
done:
  sn_tensor_free(o);
  sn_tensor_free(vals);
  sn_tensor_free(idx);
  sn_free(vname);
  sn_free(iname);
  return e;
}

/* ---- sequences and optionals ------------------------------------------------------------------------ */

enum { ELEM_UNDEFINED = 0, ELEM_TENSOR = 1, ELEM_SPARSE = 2, ELEM_SEQUENCE = 3, ELEM_MAP = 4, ELEM_OPTIONAL = 5 };

static sn_error *set_name(sn_onnx_ctx *c, const sn_pb_field *f, char **name) {
  if (f->wire != SN_PB_LEN) return sn_onnx_field_error(c, f, "name is not a string");
  sn_free(*name);
  if (!(*name = sn_onnx_str(f))) return SN_ERR_OOM();
  return NULL;
}

sn_error *sn_onnx_parse_sequence(sn_onnx_ctx *c, sn_pb r, sn_tensor **out, char **name_out) {
  *out = NULL;
  if (name_out) *name_out = NULL;
  char *name = NULL;
  int64_t elem = -1;
  sn_tensor *seq = NULL;
  sn_error *e = sn_tensor_new_sequence(SINTER_UNDEFINED, &seq);
  if (e) return e;
  sn_pb_field f;
  int st, idx = 0;
  while (!e && (st = sn_pb_next(&r, &f)) > 0) {
    switch (f.num) {
      case 1: e = set_name(c, &f, &name); break;
      case 2:
        if (sn_pb_as_int64(&f, &elem)) e = sn_onnx_field_error(c, &f, "bad elem_type");
        break;
      case 3: {
        if (f.wire != SN_PB_LEN) {
          e = sn_onnx_field_error(c, &f, "tensor_values is not a message");
          break;
        }
        sn_tensor *t = NULL;
        size_t pl = sn_onnx_path_push(c, ".tensor_values[%d]", idx++);
        e = sn_onnx_parse_tensor(c, sn_pb_sub(&r, &f), "sequence item", false, &t, NULL);
        sn_onnx_path_pop(c, pl);
        if (!e && seq->n_items && t->dtype != seq->dtype)
          e = sn_errorf(SINTER_ERR_INVALID_MODEL, "sequence mixes %s and %s items", sn_dtype_name(seq->dtype),
                        sn_dtype_name(t->dtype));
        if (!e) {
          seq->dtype = t->dtype;
          e = sn_sequence_append(seq, t);
        }
        if (e) sn_tensor_free(t);
        break;
      }
      case 4:
      case 5:
      case 6:
      case 7:
        e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "sequences of %s are not supported",
                      f.num == 4 ? "sparse tensors" : f.num == 5 ? "sequences" : f.num == 6 ? "maps" : "optionals");
        break;
      default: break;
    }
  }
  if (!e && st < 0) e = sn_onnx_pb_error(c, &r, st);
  if (!e && elem != -1 && elem != ELEM_TENSOR && elem != ELEM_UNDEFINED)
    e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "sequence elem_type %lld is not supported (only tensors)",
                  (long long)elem);
  if (!e && elem != ELEM_TENSOR && seq->n_items == 0)
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "SequenceProto has no tensor values and no tensor elem_type");
  if (e) {
    sn_free(name);
    sn_tensor_free(seq);
    return e;
  }
  if (name_out) {
    *name_out = name ? name : sn_strdup("");
    if (!*name_out) {
      sn_tensor_free(seq);
      return SN_ERR_OOM();
    }
  } else {
    sn_free(name);
  }
  *out = seq;
  return NULL;
}

sn_error *sn_onnx_parse_optional(sn_onnx_ctx *c, sn_pb r, sn_tensor **out, char **name_out) {
  *out = NULL;
  if (name_out) *name_out = NULL;
  char *name = NULL;
  int64_t elem = 0;
  sn_tensor *val = NULL;
  sn_error *e = NULL;
  sn_pb_field f;
  int st;
  while (!e && (st = sn_pb_next(&r, &f)) > 0) {
    switch (f.num) {
      case 1: e = set_name(c, &f, &name); break;
      case 2:
        if (sn_pb_as_int64(&f, &elem)) e = sn_onnx_field_error(c, &f, "bad elem_type");
        break;
      case 3:
      case 5: {
        if (f.wire != SN_PB_LEN) {
          e = sn_onnx_field_error(c, &f, "optional value is not a message");
          break;
        }
        sn_tensor_free(val);
        val = NULL;
        size_t pl = sn_onnx_path_push(c, f.num == 3 ? ".tensor_value" : ".sequence_value");
        if (f.num == 3)
          e = sn_onnx_parse_tensor(c, sn_pb_sub(&r, &f), "optional value", false, &val, NULL);
        else
          e = sn_onnx_parse_sequence(c, sn_pb_sub(&r, &f), &val, NULL);
        sn_onnx_path_pop(c, pl);
        break;
      }
      case 4:
      case 6:
      case 7:
        e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "optionals of %s are not supported",
                      f.num == 4 ? "sparse tensors" : f.num == 6 ? "maps" : "optionals");
        break;
      default: break;
    }
  }
  if (!e && st < 0) e = sn_onnx_pb_error(c, &r, st);
  if (!e && elem != ELEM_UNDEFINED && elem != ELEM_TENSOR && elem != ELEM_SEQUENCE)
    e = sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "optional elem_type %lld is not supported", (long long)elem);
  if (!e && val && ((elem == ELEM_TENSOR && val->kind != SN_KIND_TENSOR) ||
                    (elem == ELEM_SEQUENCE && val->kind != SN_KIND_SEQUENCE)))
    e = sn_errorf(SINTER_ERR_INVALID_MODEL, "optional elem_type %lld does not match its value", (long long)elem);
  sn_tensor *o = NULL;
  if (!e) e = sn_tensor_new_optional(val ? val->dtype : SINTER_UNDEFINED, val, &o);
  if (e) {
    sn_free(name);
    sn_tensor_free(val);
    return e;
  }
  if (name_out) {
    *name_out = name ? name : sn_strdup("");
    if (!*name_out) {
      sn_tensor_free(o);
      return SN_ERR_OOM();
    }
  } else {
    sn_free(name);
  }
  *out = o;
  return NULL;
}
