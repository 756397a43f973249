/* Numpy-style broadcasting on concrete shapes: output shapes and the collapsed N-ary run iterator. */
#include "kernels/ref/broadcast.h"

#include <string.h>

sn_error *sn_broadcast_shape(int n, const int *ranks, const int64_t *const *dims, int *out_rank, int64_t *out_dims) {
  int r = 0;
  for (int k = 0; k < n; k++) {
    if (ranks[k] < 0 || ranks[k] > SN_MAX_RANK)
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "broadcast: input %d has invalid rank %d", k, ranks[k]);
    if (ranks[k] > r) r = ranks[k];
  }
  for (int d = 0; d < r; d++) {
    int64_t v = 1;
    int who = -1;
    for (int k = 0; k < n; k++) {
      int j = d - (r - ranks[k]);
      if (j < 0) continue;
      int64_t x = dims[k][j];
      if (x < 0) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "broadcast: input %d has negative dim %lld", k, (long long)x);
      if (x == 1) continue;
      if (v == 1) {
        v = x;
        who = k;
      } else if (x != v) {
        char a[256], b[256];
        return sn_errorf(SINTER_ERR_INVALID_ARGUMENT,
                         "shapes %s (input %d) and %s (input %d) cannot be broadcast: dim %lld vs %lld",
                         sn_dims_str(ranks[who], dims[who], a, sizeof a), who, sn_dims_str(ranks[k], dims[k], b, sizeof b),
                         k, (long long)v, (long long)x);
      }
    }
    out_dims[d] = v;
  }
  *out_rank = r;
  return NULL;
}

sn_error *sn_broadcast_shape2(int ra, const int64_t *da, int rb, const int64_t *db, int *out_rank, int64_t *out_dims) {
  const int ranks[2] = {ra, rb};
  const int64_t *const dims[2] = {da, db};
  return sn_broadcast_shape(2, ranks, dims, out_rank, out_dims);
}

bool sn_broadcastable_to(int rank, const int64_t *dims, int out_rank, const int64_t *out_dims) {
  if (rank < 0 || rank > out_rank) return false;
  for (int j = 0; j < rank; j++) {
    int64_t x = dims[j], o = out_dims[out_rank - rank + j];
    if (x != 1 && x != o) return false;
  }
  return true;
}

sn_error *sn_bcast_init(sn_bcast *b, int out_rank, const int64_t *out_dims, int n_in, const int *ranks,
                        const int64_t *const *dims) {
  memset(b, 0, sizeof *b);
  if (n_in < 1 || n_in > SN_BCAST_MAX_IN)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "broadcast: %d inputs (at most %d per iterator)", n_in, SN_BCAST_MAX_IN);
  if (out_rank < 0 || out_rank > SN_MAX_RANK)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "broadcast: invalid output rank %d", out_rank);
  b->n_in = n_in;
  int64_t count = sn_shape_count(out_rank, out_dims);
  if (count < 0) return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "broadcast: invalid output shape");
  b->count = count;
  /* full-rank strides per input (0 where broadcast) */
  int64_t st[SN_BCAST_MAX_IN][SN_MAX_RANK];
  for (int k = 0; k < n_in; k++) {
    if (!sn_broadcastable_to(ranks[k], dims[k], out_rank, out_dims)) {
      char a[256], o[256];
      return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "shape %s (input %d) does not broadcast to %s",
                       sn_dims_str(ranks[k] < 0 ? 0 : ranks[k], dims[k], a, sizeof a), k,
                       sn_dims_str(out_rank, out_dims, o, sizeof o));
    }
    if (count == 0) continue; /* (no strides: other dims' products may not fit in int64) */
    int64_t s = 1;
    for (int d = out_rank - 1; d >= 0; d--) {
      int j = d - (out_rank - ranks[k]);
      int64_t x = j >= 0 ? dims[k][j] : 1;
      st[k][d] = (x == 1) ? 0 : s;
      s *= x;
    }
  }
  b->same = true;
  for (int k = 0; k < n_in; k++)
    if (sn_shape_count(ranks[k], dims[k]) != count) b->same = false;
  if (count == 0) { /* nothing to visit: one empty run */
    b->rank = 1;
    for (int k = 0; k < n_in; k++) b->inner_stride[k] = 1;
    return NULL;
  }
  /* drop size-1 output dims, merge runs that are contiguous in every input */
  int r = 0;
  for (int d = 0; d < out_rank; d++) {
    if (out_dims[d] == 1) continue;
    if (r > 0) {
      bool merge = true;
      for (int k = 0; k < n_in && merge; k++)
        if (b->strides[k][r - 1] != st[k][d] * out_dims[d]) merge = false;
      if (merge) {
        b->dims[r - 1] *= out_dims[d];
        for (int k = 0; k < n_in; k++) b->strides[k][r - 1] = st[k][d];
        continue;
      }
    }
    b->dims[r] = out_dims[d];
    for (int k = 0; k < n_in; k++) b->strides[k][r] = st[k][d];
    r++;
  }
  if (r == 0) {
    b->dims[0] = 1;
    for (int k = 0; k < n_in; k++) b->strides[k][0] = 0;
    r = 1;
  }
  b->rank = r;
  b->inner = b->dims[r - 1];
  b->rows = b->inner ? count / b->inner : 0;
  if (count == 0) b->rows = 0;
  for (int k = 0; k < n_in; k++) b->inner_stride[k] = b->strides[k][r - 1] ? 1 : 0;
  if (b->inner == 1)
    for (int k = 0; k < n_in; k++) b->inner_stride[k] = 1; /* one element per run: any stride reads it */
  return NULL;
}

sn_error *sn_bcast_init_auto(sn_bcast *b, int n_in, const int *ranks, const int64_t *const *dims, int *out_rank,
                             int64_t *out_dims) {
  SN_TRY(sn_broadcast_shape(n_in, ranks, dims, out_rank, out_dims));
  return sn_bcast_init(b, *out_rank, out_dims, n_in, ranks, dims);
}

sn_error *sn_bcast_init_tensors(sn_bcast *b, int n_in, const sn_tensor *const *in, int *out_rank, int64_t *out_dims) {
  if (n_in < 1 || n_in > SN_BCAST_MAX_IN)
    return sn_errorf(SINTER_ERR_INVALID_ARGUMENT, "broadcast: %d inputs (at most %d per iterator)", n_in, SN_BCAST_MAX_IN);
  int ranks[SN_BCAST_MAX_IN];
  const int64_t *dims[SN_BCAST_MAX_IN];
  for (int k = 0; k < n_in; k++) {
    ranks[k] = in[k]->rank;
    dims[k] = in[k]->dims;
  }
  return sn_bcast_init_auto(b, n_in, ranks, dims, out_rank, out_dims);
}

void sn_bcast_iter_start(sn_bcast_iter *it, const sn_bcast *b, int64_t row) {
  it->b = b;
  it->row = row;
  for (int k = 0; k < b->n_in; k++) it->off[k] = 0;
  int64_t rem = row;
  for (int d = b->rank - 2; d >= 0; d--) {
    int64_t n = b->dims[d];
    int64_t i = n ? rem % n : 0;
    rem = n ? rem / n : 0;
    it->idx[d] = i;
    for (int k = 0; k < b->n_in; k++) it->off[k] += i * b->strides[k][d];
  }
  it->idx[b->rank - 1] = 0;
}
