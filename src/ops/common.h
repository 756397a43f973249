/* Helpers the op families share: the strided copy engine and element fill (implemented in
 * data.c), axis normalisation, and outputs that may be string tensors (kernels fill a heap string
 * tensor with borrowed pointers, and sn_op_out_finish duplicates them and hands the tensor over). */
#ifndef SN_OPS_COMMON_H
#define SN_OPS_COMMON_H

#include "ops/op.h"

/* Copy a strided view: dims of the region, element strides of destination and source. */
void sn_copy_strided(int rank, const int64_t *dims, void *dst, const int64_t *dst_strides, const void *src,
                     const int64_t *src_strides, size_t elem_size);
/* dst[0..n) = *elem (es bytes each). */
void sn_fill_elems(void *dst, int64_t n, const void *elem, size_t es);

/* Normalize an axis against rank; false when out of [-rank, rank). */
bool sn_norm_axis(int64_t a, int rank, int *out);

/* Output i of this dtype and shape: arena/heap memory as sn_kernel_output gives, except strings,
 * which are a heap tensor finished by sn_op_out_finish. */
sn_error *sn_op_out_alloc(sn_kernel_ctx *c, int i, sn_dtype dt, int rank, const int64_t *dims, sn_tensor **out);
/* For string tensors from sn_op_out_alloc: duplicate the borrowed strings and hand the tensor to the
 * runtime (or free it when e is an error). Returns e or a new error. */
sn_error *sn_op_out_finish(sn_kernel_ctx *c, int i, sn_tensor *t, sn_error *e);

/* A tensor's elements as doubles: its own memory when it is double, else a scratch copy (valid until
 * the kernel returns). */
sn_error *sn_op_f64_view(sn_kernel_ctx *c, const sn_tensor *t, const double **out);
/* Store element i of a float-typed tensor from a double (float/double fast, others converted). */
static inline void sn_op_store_f64(sn_tensor *t, int64_t i, double v) {
  if (t->dtype == SINTER_FLOAT)
    ((float *)t->data)[i] = (float)v;
  else if (t->dtype == SINTER_DOUBLE)
    ((double *)t->data)[i] = v;
  else
    sn_store_f64(t->dtype, t->data, i, v);
}

#endif
