/* Protobuf wire-format reader: varints, fixed 32/64-bit, length-delimited fields, packed repeated
 * scalars; every read is checked against the end of the current message. */
#include "onnx/pb.h"

#include <string.h>

static const uint8_t pb_empty[1];

sn_pb sn_pb_init(const uint8_t *base, const uint8_t *data, size_t len) {
  sn_pb r;
  if (!data) {
    data = pb_empty;
    len = 0;
  }
  r.base = base ? base : data;
  r.p = data;
  r.end = data + len;
  r.err_at = 0;
  return r;
}

sn_pb sn_pb_sub(const sn_pb *parent, const sn_pb_field *f) {
  sn_pb r;
  r.base = parent->base;
  r.p = f->data ? f->data : pb_empty;
  r.end = f->data ? f->data + f->len : pb_empty;
  r.err_at = 0;
  return r;
}

int sn_pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
  const uint8_t *p = *pp;
  uint64_t v = 0;
  for (int i = 0; i < 10; i++) {
    if (p >= end) return SN_PB_ERR_TRUNCATED;
    uint8_t b = *p++;
    v |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *pp = p;
      *out = v;
      return SN_PB_OK;
    }
  }
  return SN_PB_ERR_VARINT;
}

static int fail(sn_pb *r, const uint8_t *at, int status) {
  r->err_at = (size_t)(at - r->base);
  return status;
}

int sn_pb_next(sn_pb *r, sn_pb_field *f) {
  if (r->p >= r->end) return 0;
  const uint8_t *start = r->p, *p = r->p;
  uint64_t tag;
  int st = sn_pb_varint(&p, r->end, &tag);
  if (st) return fail(r, start, st);
  if (tag > UINT32_MAX || (tag >> 3) == 0) return fail(r, start, SN_PB_ERR_FIELD);
  memset(f, 0, sizeof *f);
  f->num = (uint32_t)(tag >> 3);
  f->wire = (int)(tag & 7);
  f->at = (size_t)(start - r->base);
  switch (f->wire) {
    case SN_PB_VARINT:
      st = sn_pb_varint(&p, r->end, &f->u);
      if (st) return fail(r, p, st);
      break;
    case SN_PB_I64:
      if (r->end - p < 8) return fail(r, p, SN_PB_ERR_TRUNCATED);
      for (int i = 0; i < 8; i++) f->u |= (uint64_t)p[i] << (8 * i);
      p += 8;
      break;
    case SN_PB_I32:
      if (r->end - p < 4) return fail(r, p, SN_PB_ERR_TRUNCATED);
      for (int i = 0; i < 4; i++) f->u |= (uint64_t)p[i] << (8 * i);
      p += 4;
      break;
    case SN_PB_LEN: {
      uint64_t len;
      const uint8_t *lp = p;
      st = sn_pb_varint(&p, r->end, &len);
      if (st) return fail(r, lp, st);
      if (len > (uint64_t)(r->end - p)) return fail(r, lp, SN_PB_ERR_LENGTH);
      f->data = p;
      f->len = (size_t)len;
      p += len;
      break;
    }
    case 3:
    case 4:
      return fail(r, start, SN_PB_ERR_GROUP);
    default:
      return fail(r, start, SN_PB_ERR_WIRE);
  }
  r->p = p;
  return 1;
}

const char *sn_pb_strerror(int status) {
  switch (status) {
    case SN_PB_OK: return "ok";
    case SN_PB_ERR_TRUNCATED: return "truncated protobuf";
    case SN_PB_ERR_VARINT: return "malformed protobuf (varint longer than 10 bytes)";
    case SN_PB_ERR_LENGTH: return "malformed protobuf (field length runs past the end of its message)";
    case SN_PB_ERR_GROUP: return "malformed protobuf (group wire type is not supported)";
    case SN_PB_ERR_WIRE: return "malformed protobuf (invalid wire type)";
    case SN_PB_ERR_FIELD: return "malformed protobuf (invalid field number)";
    case SN_PB_ERR_PACKED: return "malformed protobuf (packed field length is not a multiple of the element size)";
    case SN_PB_ERR_TYPE: return "malformed protobuf (field has the wrong wire type)";
    default: return "malformed protobuf";
  }
}

int sn_pb_as_int64(const sn_pb_field *f, int64_t *out) {
  if (f->wire != SN_PB_VARINT) return SN_PB_ERR_TYPE;
  *out = (int64_t)f->u;
  return SN_PB_OK;
}

int sn_pb_as_float(const sn_pb_field *f, float *out) {
  if (f->wire != SN_PB_I32) return SN_PB_ERR_TYPE;
  uint32_t u = (uint32_t)f->u;
  memcpy(out, &u, 4);
  return SN_PB_OK;
}

int sn_pb_as_double(const sn_pb_field *f, double *out) {
  if (f->wire != SN_PB_I64) return SN_PB_ERR_TYPE;
  memcpy(out, &f->u, 8);
  return SN_PB_OK;
}

static int wire_of(sn_pb_elem kind) {
  return kind == SN_PB_E_VARINT ? SN_PB_VARINT : kind == SN_PB_E_I32 ? SN_PB_I32 : SN_PB_I64;
}

int sn_pb_count_elems(const sn_pb_field *f, sn_pb_elem kind, size_t *count) {
  if (f->wire == wire_of(kind)) {
    *count = 1;
    return SN_PB_OK;
  }
  if (f->wire != SN_PB_LEN) return SN_PB_ERR_TYPE;
  if (kind == SN_PB_E_I32 || kind == SN_PB_E_I64) {
    size_t w = kind == SN_PB_E_I32 ? 4 : 8;
    if (f->len % w) return SN_PB_ERR_PACKED;
    *count = f->len / w;
    return SN_PB_OK;
  }
  /* varints: one per byte without the continuation bit; the last byte must end one */
  size_t n = 0, run = 0;
  for (size_t i = 0; i < f->len; i++) {
    if (f->data[i] & 0x80) {
      if (++run >= 10) return SN_PB_ERR_VARINT;
    } else {
      n++;
      run = 0;
    }
  }
  if (run) return SN_PB_ERR_TRUNCATED;
  *count = n;
  return SN_PB_OK;
}

int sn_pb_iter_init(const sn_pb_field *f, sn_pb_elem kind, sn_pb_iter *it) {
  memset(it, 0, sizeof *it);
  it->kind = kind;
  if (f->wire == wire_of(kind)) {
    it->single = 1;
    it->v = f->u;
    return SN_PB_OK;
  }
  if (f->wire != SN_PB_LEN) return SN_PB_ERR_TYPE;
  if ((kind == SN_PB_E_I32 && f->len % 4) || (kind == SN_PB_E_I64 && f->len % 8)) return SN_PB_ERR_PACKED;
  it->p = f->data;
  it->end = f->data + f->len;
  return SN_PB_OK;
}

int sn_pb_iter_next(sn_pb_iter *it, uint64_t *v) {
  if (it->single) {
    if (it->single == 2) return 0;
    it->single = 2;
    *v = it->v;
    return 1;
  }
  if (it->p >= it->end) return 0;
  switch (it->kind) {
    case SN_PB_E_VARINT: {
      int st = sn_pb_varint(&it->p, it->end, v);
      return st ? st : 1;
    }
    case SN_PB_E_I32: {
      if (it->end - it->p < 4) return SN_PB_ERR_PACKED;
      uint32_t u = (uint32_t)it->p[0] | (uint32_t)it->p[1] << 8 | (uint32_t)it->p[2] << 16 | (uint32_t)it->p[3] << 24;
      it->p += 4;
      *v = u;
      return 1;
    }
    default: {
      if (it->end - it->p < 8) return SN_PB_ERR_PACKED;
      uint64_t u = 0;
      for (int i = 0; i < 8; i++) u |= (uint64_t)it->p[i] << (8 * i);
      it->p += 8;
      *v = u;
      return 1;
    }
  }
}
