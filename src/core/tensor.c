#include "core/tensor.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

int64_t sn_shape_count(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0) return -1;
    if (dims[i] && n > INT64_MAX / dims[i]) return -1;
    n *= dims[i];
  }
  return n;
}

sn_error *sn_tensor_set_shape(sn_tensor *t, sn_dtype dt, int rank, const int64_t *dims) {
  char buf[256];
  if (!sn_dtype_valid(dt)) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "invalid element type %d", (int)dt);
  if (rank < 0 || rank > SN_MAX_RANK)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "tensor rank %d is beyond the supported %d", rank, SN_MAX_RANK);
  int64_t n = sn_shape_count(rank, dims);
  if (n < 0 || (uint64_t)n > (UINT64_MAX >> 8))
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "invalid or overflowing tensor shape %s",
                     sn_dims_str(rank, dims, buf, sizeof buf));
  t->kind = SN_KIND_TENSOR;
  t->dtype = dt;
  t->rank = rank;
  if (rank) memcpy(t->dims, dims, sizeof(int64_t) * (size_t)rank);
  t->count = n;
  t->nbytes = (size_t)n * sn_dtype_size(dt);
  return NULL;
}

static sn_error *tensor_new(sn_dtype dt, int rank, const int64_t *dims, bool zero, sn_tensor **out) {
  *out = NULL;
  sn_tensor *t = sn_calloc(1, sizeof *t);
  if (!t) return SN_ERR_OOM();
  sn_error *e = sn_tensor_set_shape(t, dt, rank, dims);
  if (e) {
    sn_free(t);
    return e;
  }
  /* (from 2 MiB in transparent huge pages: a model's decoded weights are hundreds of MB, whose 4 KiB
   * page faults took a third of BERT-base's session creation) */
  t->data = sn_weight_alloc(t->nbytes);
  if (!t->data) {
    sn_free(t);
    return SN_ERR_OOM();
  }
  if (zero || dt == SINTER_STRING) memset(t->data, 0, t->nbytes);
  t->owns_data = true;
  t->aligned_data = true;
  *out = t;
  return NULL;
}

sn_error *sn_tensor_new(sn_dtype dt, int rank, const int64_t *dims, sn_tensor **out) {
  return tensor_new(dt, rank, dims, true, out);
}

sn_error *sn_tensor_new_uninit(sn_dtype dt, int rank, const int64_t *dims, sn_tensor **out) {
  return tensor_new(dt, rank, dims, false, out);
}

sn_error *sn_tensor_new_view(sn_dtype dt, int rank, const int64_t *dims, void *data, sn_tensor **out) {
  *out = NULL;
  sn_tensor *t = sn_calloc(1, sizeof *t);
  if (!t) return SN_ERR_OOM();
  sn_error *e = sn_tensor_set_shape(t, dt, rank, dims);
  if (e) {
    sn_free(t);
    return e;
  }
  t->data = data;
  *out = t;
  return NULL;
}

sn_error *sn_tensor_new_sequence(sn_dtype elem, sn_tensor **out) {
  sn_tensor *t = sn_calloc(1, sizeof *t);
  if (!t) return SN_ERR_OOM();
  t->kind = SN_KIND_SEQUENCE;
  t->dtype = elem;
  *out = t;
  return NULL;
}

sn_error *sn_sequence_append(sn_tensor *seq, sn_tensor *item) {
  sn_tensor **items = sn_realloc(seq->items, sizeof(*items) * (size_t)(seq->n_items + 1));
  if (!items) return SN_ERR_OOM();
  seq->items = items;
  items[seq->n_items++] = item;
  return NULL;
}

sn_error *sn_tensor_new_optional(sn_dtype elem, sn_tensor *value, sn_tensor **out) {
  sn_tensor *t = sn_calloc(1, sizeof *t);
  if (!t) return SN_ERR_OOM();
  t->kind = SN_KIND_OPTIONAL;
  t->dtype = elem;
  if (value) {
    t->items = sn_malloc(sizeof(sn_tensor *));
    if (!t->items) {
      sn_free(t);
      return SN_ERR_OOM();
    }
    t->items[0] = value;
    t->n_items = 1;
  }
  *out = t;
  return NULL;
}

sn_error *sn_tensor_clone(const sn_tensor *src, sn_tensor **out) {
  *out = NULL;
  sn_tensor *t = NULL;
  if (src->kind == SN_KIND_TENSOR) {
    SN_TRY(sn_tensor_new(src->dtype, src->rank, src->dims, &t));
    if (src->dtype == SINTER_STRING) {
      char **d = t->data;
      char *const *s = src->data;
      for (int64_t i = 0; i < src->count; i++) {
        d[i] = sn_strdup(s[i] ? s[i] : "");
        if (!d[i]) {
          sn_tensor_free(t);
          return SN_ERR_OOM();
        }
      }
    } else if (src->nbytes) {
      memcpy(t->data, src->data, src->nbytes);
    }
    *out = t;
    return NULL;
  }
  t = sn_calloc(1, sizeof *t);
  if (!t) return SN_ERR_OOM();
  t->kind = src->kind;
  t->dtype = src->dtype;
  for (int i = 0; i < src->n_items; i++) {
    sn_tensor *c;
    sn_error *e = sn_tensor_clone(src->items[i], &c);
    if (!e) e = sn_sequence_append(t, c);
    if (e) {
      sn_tensor_free(t);
      return e;
    }
  }
  *out = t;
  return NULL;
}

void sn_tensor_clear(sn_tensor *t) {
  if (!t) return;
  if (t->owns_data && t->data) {
    if (t->dtype == SINTER_STRING && t->kind == SN_KIND_TENSOR) {
      char **s = t->data;
      for (int64_t i = 0; i < t->count; i++) sn_free(s[i]);
    }
    if (t->aligned_data)
      sn_aligned_free(t->data);
    else
      sn_free(t->data);
  }
  for (int i = 0; i < t->n_items; i++) sn_tensor_free(t->items[i]);
  sn_free(t->items);
  t->items = NULL;
  t->n_items = 0;
  t->data = NULL;
  t->owns_data = false;
}

void sn_tensor_free(sn_tensor *t) {
  if (!t) return;
  /* a weight viewed in the mapped model file that is no longer needed (a pass replaced it): its
   * pages leave the resident set (reads would fault them back unchanged) */
  if (t->file_view && !t->owns_data && t->data) sn_drop_pages(t->data, t->nbytes);
  sn_tensor_clear(t);
  sn_free(t);
}

const char *sn_dims_str(int rank, const int64_t *dims, char *buf, size_t n) {
  size_t k = 0;
  if (n == 0) return buf;
  buf[0] = 0;
  k += (size_t)snprintf(buf + k, n - k, "[");
  for (int i = 0; i < rank && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)dims[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
  return buf;
}

const char *sn_tensor_describe(const sn_tensor *t, char *buf, size_t n) {
  char d[200];
  if (t->kind == SN_KIND_SEQUENCE)
    snprintf(buf, n, "sequence<%s>(%d items)", sn_dtype_name(t->dtype), t->n_items);
  else if (t->kind == SN_KIND_OPTIONAL)
    snprintf(buf, n, "optional<%s>(%s)", sn_dtype_name(t->dtype), t->n_items ? "value" : "none");
  else
    snprintf(buf, n, "%s%s", sn_dtype_name(t->dtype), sn_dims_str(t->rank, t->dims, d, sizeof d));
  return buf;
}
