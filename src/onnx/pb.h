/* A bounds-checked protobuf wire-format reader over a byte range: fields one at a time, packed
 * repeated scalars, nothing read outside the range. No schema: callers switch on field numbers. */
#ifndef SN_PB_H
#define SN_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wire types. Groups (3, 4) are rejected. */
enum { SN_PB_VARINT = 0, SN_PB_I64 = 1, SN_PB_LEN = 2, SN_PB_I32 = 5 };

/* Result codes of the reader (negative = error). */
typedef enum sn_pb_status {
  SN_PB_OK = 0,
  SN_PB_ERR_TRUNCATED = -1,     /* data ends inside a field */
  SN_PB_ERR_VARINT = -2,        /* varint longer than 10 bytes */
  SN_PB_ERR_LENGTH = -3,        /* length-delimited field runs past the end */
  SN_PB_ERR_GROUP = -4,         /* wire type 3/4 (groups) */
  SN_PB_ERR_WIRE = -5,          /* wire type 6/7 */
  SN_PB_ERR_FIELD = -6,         /* field number 0 or too large */
  SN_PB_ERR_PACKED = -7,        /* packed fixed-size data not a multiple of the element size */
  SN_PB_ERR_TYPE = -8           /* field has a wire type its schema does not allow */
} sn_pb_status;

typedef struct sn_pb {
  const uint8_t *base; /* start of the whole buffer (for byte offsets in messages) */
  const uint8_t *p;    /* next byte */
  const uint8_t *end;  /* one past the last byte of this message */
  size_t err_at;       /* byte offset (from base) of the failure, set on error */
} sn_pb;

typedef struct sn_pb_field {
  uint32_t num;
  int wire;
  uint64_t u;          /* VARINT, I64 and I32 values */
  const uint8_t *data; /* LEN payload */
  size_t len;
  size_t at;           /* byte offset of the field's tag from base */
} sn_pb_field;

/* A reader over [data, data+len); base is the start of the enclosing buffer (may equal data). */
sn_pb sn_pb_init(const uint8_t *base, const uint8_t *data, size_t len);
/* A reader over a LEN field's payload, sharing the parent's base. */
sn_pb sn_pb_sub(const sn_pb *parent, const sn_pb_field *f);

/* Read the next field. Returns 1 with *f filled, 0 at the end of the message, or a negative
 * sn_pb_status (r->err_at says where). Unknown fields are simply returned; skip them by ignoring. */
int sn_pb_next(sn_pb *r, sn_pb_field *f);

const char *sn_pb_strerror(int status);

/* Decode one varint from [*p, end); advances *p. Returns SN_PB_OK or an error. */
int sn_pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* Scalar interpretations of a field. They check the wire type and return SN_PB_ERR_TYPE if wrong. */
int sn_pb_as_int64(const sn_pb_field *f, int64_t *out);   /* VARINT (int64/int32/enum/uint64) */
int sn_pb_as_float(const sn_pb_field *f, float *out);     /* I32 */
int sn_pb_as_double(const sn_pb_field *f, double *out);   /* I64 */

/* Repeated scalar fields may come packed (one LEN field) or unpacked (one field per element), and
 * both forms may be mixed. Element kinds: */
typedef enum sn_pb_elem { SN_PB_E_VARINT, SN_PB_E_I32, SN_PB_E_I64 } sn_pb_elem;
/* Number of elements one occurrence of a repeated field carries; negative status on error. */
int sn_pb_count_elems(const sn_pb_field *f, sn_pb_elem kind, size_t *count);

/* Iterate over the elements of one occurrence: values as raw 64-bit patterns (varints as uint64,
 * I32 as the 32-bit pattern, I64 as the 64-bit pattern). */
typedef struct sn_pb_iter {
  const uint8_t *p, *end;
  sn_pb_elem kind;
  int single; /* 1: one unpacked value pending in v; 2: consumed */
  uint64_t v;
} sn_pb_iter;
int sn_pb_iter_init(const sn_pb_field *f, sn_pb_elem kind, sn_pb_iter *it);
/* 1 with *v set, 0 at the end, negative on error. */
int sn_pb_iter_next(sn_pb_iter *it, uint64_t *v);

#endif
