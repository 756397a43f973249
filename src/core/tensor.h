/* Runtime values: dense tensors (always contiguous, row-major), sequences of tensors and optionals.
 * The public sinter_tensor is this struct. */
#ifndef SN_TENSOR_H
#define SN_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/error.h"

#define SN_MAX_RANK 16

typedef enum sn_kind {
  SN_KIND_TENSOR = 0,
  SN_KIND_SEQUENCE = 1, /* items[0..n_items) are tensors of dtype `dtype` */
  SN_KIND_OPTIONAL = 2  /* n_items == 0: None; n_items == 1: items[0] is the value (tensor or sequence) */
} sn_kind;

typedef struct sinter_tensor sn_tensor;

struct sinter_tensor {
  uint8_t kind;      /* sn_kind */
  bool owns_data;    /* data is freed with the tensor (strings too, each one) */
  bool aligned_data; /* owned data came from sn_aligned_alloc (else sn_malloc) */
  /* data is a view into the reader's read-only private mapping of the model file: its pages may
   * be dropped from memory (sn_drop_pages) and fault back in unchanged */
  bool file_view;
  sn_dtype dtype;    /* element type; for sequences/optionals the element tensor type */
  int rank;
  int64_t dims[SN_MAX_RANK];
  int64_t count; /* product of dims (1 for rank 0) */
  size_t nbytes; /* count * element size */
  void *data;    /* for STRING: char *[count], each NUL-terminated */
  int n_items;
  sn_tensor **items; /* owned */
};

/* Element count of a shape; -1 on overflow or negative dims. */
int64_t sn_shape_count(int rank, const int64_t *dims);

/* Fill the header (kind TENSOR, dtype, dims, count, nbytes) without touching data/ownership. */
sn_error *sn_tensor_set_shape(sn_tensor *t, sn_dtype dt, int rank, const int64_t *dims);

/* New tensor with owned, zeroed, 64-byte aligned data. */
sn_error *sn_tensor_new(sn_dtype dt, int rank, const int64_t *dims, sn_tensor **out);
/* The same without zeroing the data, for a caller that writes every byte at once (not STRING). */
sn_error *sn_tensor_new_uninit(sn_dtype dt, int rank, const int64_t *dims, sn_tensor **out);
/* New tensor header over borrowed memory. */
sn_error *sn_tensor_new_view(sn_dtype dt, int rank, const int64_t *dims, void *data, sn_tensor **out);
/* Deep copy (strings, sequences and optionals included). */
sn_error *sn_tensor_clone(const sn_tensor *src, sn_tensor **out);
sn_error *sn_tensor_new_sequence(sn_dtype elem, sn_tensor **out);
/* Takes ownership of item. */
sn_error *sn_sequence_append(sn_tensor *seq, sn_tensor *item);
sn_error *sn_tensor_new_optional(sn_dtype elem, sn_tensor *value_or_null, sn_tensor **out);
/* Release owned data and items, leaving an empty header (for tensors embedded in other structs). */
void sn_tensor_clear(sn_tensor *t);
void sn_tensor_free(sn_tensor *t);

/* "float32[1,3,224,224]" into buf. Returns buf. */
const char *sn_tensor_describe(const sn_tensor *t, char *buf, size_t n);
/* "[1,3,224,224]" into buf. Returns buf. */
const char *sn_dims_str(int rank, const int64_t *dims, char *buf, size_t n);

#endif
