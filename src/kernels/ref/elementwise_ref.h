/* Shared plumbing of the elementwise op families (ops/elementwise.c, ops/unary.c, ops/cast.c): one
 * compute function per op serves both the kernel (output memory from the runtime) and constant
 * folding inside shape inference (output on the heap), plus safe numeric conversions.
 *
 * A compute function reads concrete input tensors, computes the output shape, asks for the output
 * with sn_ew_output and fills it. sn_ew_run wraps it as a kernel; sn_ew_fold runs it from a shape
 * function when every input's value is known and small, setting c->out_data[0]. */
#ifndef SN_ELEMENTWISE_REF_H
#define SN_ELEMENTWISE_REF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/op.h"

typedef struct sn_ew_out {
  sn_kernel_ctx *kc; /* kernel mode when non-NULL, else folding */
  sn_tensor *t;      /* heap output (folding, or a string output in kernel mode); owned here until handed over */
  int n_tmp;
  void *tmp[4]; /* heap scratch blocks in fold mode */
} sn_ew_out;

/* The output tensor (single output). Strings always go to the heap (handed over at the end). */
sn_error *sn_ew_output(sn_ew_out *o, sn_dtype dt, int rank, const int64_t *dims, sn_tensor **t);
/* Temporary memory until the compute function returns; NULL on OOM. */
void *sn_ew_scratch(sn_ew_out *o, size_t bytes);

typedef sn_error *(*sn_ew_fn)(const sn_node *n, const void *params, int n_in, const sn_tensor *const *in,
                              sn_ew_out *o);
/* Run f as the node's kernel. */
sn_error *sn_ew_run(sn_kernel_ctx *c, const void *params, sn_ew_fn f);
/* From a shape function: when every present input's value is known and small, compute the output
 * value into c->out_data[0] (no-op otherwise). */
sn_error *sn_ew_fold(sn_infer_ctx *c, const void *params, sn_ew_fn f);

/* An error prefixed with the node's description. */
sn_error *sn_ew_errorf(const sn_node *n, sinter_code code, const char *fmt, ...) SN_PRINTF(3, 4);

/* Inferred output type for a same-shape op: out = in's shape with dtype dt. */
void sn_ew_type_like(sn_type *out, const sn_type *in, sn_dtype dt);

/* float -> integer conversions with x86 semantics instead of UB: truncate toward zero; NaN and
 * out-of-range values give INT64_MIN (what cvttsd2si returns, and what numpy shows). */
static inline int64_t sn_d2i64(double v) {
  if (!(v > -9223372036854775808.0 && v < 9223372036854775808.0)) return INT64_MIN;
  return (int64_t)v;
}
static inline uint64_t sn_d2u64(double v) {
  if (v >= 9223372036854775808.0 && v < 18446744073709551616.0) return (uint64_t)v;
  return (uint64_t)sn_d2i64(v);
}
/* double -> float rounding to odd: narrowing the result again (to half, bfloat16, float8) then
 * rounds exactly as a direct conversion from double would. */
static inline float sn_d2f_odd(double v) {
  float f = (float)v;
  if (isfinite(f) && (double)f != v) {
    if (fabs((double)f) > fabs(v)) f = nextafterf(f, 0.0f);
    uint32_t u;
    memcpy(&u, &f, 4);
    u |= 1u;
    memcpy(&f, &u, 4);
  }
  return f;
}

#endif
