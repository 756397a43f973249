/* Numpy-style broadcasting on concrete shapes, for kernels: output-shape computation and an N-ary
 * row iterator with stride setup.
 *
 * Shapes (for the IR-level, symbolic version see sn_infer_broadcast in ops/op.h):
 *   sn_broadcast_shape(n, ranks, dims, &rank, out)   numpy broadcast of n shapes (error on mismatch)
 *   sn_broadcast_shape2(ra, da, rb, db, &rank, out)  the same for two
 *   sn_broadcastable_to(rank, dims, out_rank, out)   unidirectional check (PRelu slope, Expand, ...)
 *
 * Iteration: sn_bcast_init(&b, out_rank, out_dims, n, ranks, dims) aligns every input to the output
 * shape (inputs are right-aligned, size-1 dims broadcast, stride 0), drops size-1 output dims and
 * merges adjacent dims that are contiguous (or broadcast) in every input. What remains is a
 * collapsed shape b.dims[0..b.rank) whose last dim is one contiguous output run of b.inner
 * elements, repeated b.rows times (b.rows * b.inner == b.count). Within a run input k advances by
 * b.inner_stride[k] elements: 1 (contiguous) or 0 (one broadcast value). Typical outcomes:
 *   same shapes            -> rows 1, inner = count, all inner strides 1   (b.same is true)
 *   tensor op scalar       -> rows 1, inner = count, scalar's inner stride 0
 *   [N,C,H,W] op [W]       -> rows N*C*H, inner W, both strides 1 ([W] restarts each row)
 *   [N,C,H,W] op [C,1,1]   -> rows N*C, inner H*W, the [C,1,1] input's stride 0
 * The output is dense row-major, so run r starts at output element r * b.inner; the iterator
 * tracks each input's element offset at the start of the current run:
 *
 *   sn_bcast b;  SN_TRY(sn_bcast_init(&b, rank, dims, 2, ranks, in_dims));
 *   sn_bcast_iter it;  sn_bcast_iter_start(&it, &b, 0);
 *   for (int64_t r = 0; r < b.rows; r++, sn_bcast_iter_next(&it)) {
 *     const float *x = A + it.off[0], *y = B + it.off[1];  float *z = O + r * b.inner;
 *     if (b.inner_stride[0] && b.inner_stride[1]) for (i < b.inner) z[i] = x[i] + y[i];
 *     else if (!b.inner_stride[1])                 for (i < b.inner) z[i] = x[i] + y[0];
 *     else ...
 *   }
 *
 * sn_bcast_iter_start(&it, &b, row) seeks to any run, so the rows can be split across threads.
 * A rank-0 output (or one of all-ones) gives rank 1, dims {1}; an empty output gives rows 0. */
#ifndef SN_BROADCAST_H
#define SN_BROADCAST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

#define SN_BCAST_MAX_IN 8 /* inputs per iterator; fold wider variadic ops pairwise */

/* Numpy broadcast of n shapes into out_dims (SN_MAX_RANK entries). Rank 0 shapes are scalars.
 * Returns an INVALID_ARGUMENT error naming the dims that disagree. */
sn_error *sn_broadcast_shape(int n, const int *ranks, const int64_t *const *dims, int *out_rank, int64_t *out_dims);
sn_error *sn_broadcast_shape2(int ra, const int64_t *da, int rb, const int64_t *db, int *out_rank, int64_t *out_dims);
/* true when a tensor of shape (rank, dims) broadcasts to exactly (out_rank, out_dims). */
bool sn_broadcastable_to(int rank, const int64_t *dims, int out_rank, const int64_t *out_dims);

typedef struct sn_bcast {
  int n_in;
  int rank;                                      /* collapsed rank, >= 1 */
  int64_t dims[SN_MAX_RANK];                     /* collapsed output dims */
  int64_t strides[SN_BCAST_MAX_IN][SN_MAX_RANK]; /* per input, elements per step of each collapsed dim */
  int64_t count;                                 /* output elements */
  int64_t inner;                                 /* dims[rank-1]: elements in one contiguous output run */
  int64_t rows;                                  /* number of runs: count / inner (0 if empty) */
  int64_t inner_stride[SN_BCAST_MAX_IN];         /* 1: input contiguous within a run; 0: one value per run */
  bool same;                                     /* every input has exactly the output's element count */
} sn_bcast;

/* Set up iteration of n_in inputs (each broadcastable to the given output shape, which is usually
 * the result of sn_broadcast_shape). Error if an input does not broadcast to the output. */
sn_error *sn_bcast_init(sn_bcast *b, int out_rank, const int64_t *out_dims, int n_in, const int *ranks,
                        const int64_t *const *dims);
/* Convenience: the output shape of the inputs' broadcast and the iterator setup at once. */
sn_error *sn_bcast_init_auto(sn_bcast *b, int n_in, const int *ranks, const int64_t *const *dims, int *out_rank,
                             int64_t *out_dims);
/* The same taking tensors (only rank/dims are read). */
sn_error *sn_bcast_init_tensors(sn_bcast *b, int n_in, const sn_tensor *const *in, int *out_rank, int64_t *out_dims);

typedef struct sn_bcast_iter {
  const sn_bcast *b;
  int64_t row;
  int64_t idx[SN_MAX_RANK];
  int64_t off[SN_BCAST_MAX_IN]; /* element offset of each input at the start of run `row` */
} sn_bcast_iter;

/* Position the iterator at the start of run `row` (0 <= row <= rows). */
void sn_bcast_iter_start(sn_bcast_iter *it, const sn_bcast *b, int64_t row);

/* Advance to the next run. */
static inline void sn_bcast_iter_next(sn_bcast_iter *it) {
  const sn_bcast *b = it->b;
  it->row++;
  for (int d = b->rank - 2; d >= 0; d--) {
    it->idx[d]++;
    if (it->idx[d] < b->dims[d]) {
      for (int k = 0; k < b->n_in; k++) it->off[k] += b->strides[k][d];
      return;
    }
    it->idx[d] = 0;
    for (int k = 0; k < b->n_in; k++) it->off[k] -= b->strides[k][d] * (b->dims[d] - 1);
  }
}

#endif
