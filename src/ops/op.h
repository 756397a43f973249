/* The op interface. Each op family file (src/ops/<family>.c) defines a table
 *   const sn_op sn_ops_<family>[] = { {...}, ..., {0} };
 * listed once in src/ops/registry.c. An entry covers one (domain, op_type, opset range) and gives
 * the op's type/shape function, its reference kernel, and optionally a prepare step that validates
 * and parses attributes once at load.
 *
 * Shape functions run on IR types (static or symbolic dims) at load, and again with concrete input
 * shapes when a plan is built; they may also produce constant output data (Shape does, so shape
 * arithmetic folds). Kernels run on concrete tensors and compute their own output shapes, asking
 * the runtime for output memory with sn_kernel_output (which hands back planned arena memory when
 * the shape matches the plan, or allocates). */
#ifndef SN_OP_H
#define SN_OP_H

#include "ir/ir.h"

/* ---- shape inference ------------------------------------------------------------------------- */

typedef struct sn_infer_ctx {
  sn_graph *graph;
  const sn_node *node;
  int opset;
  int n_in;
  const sn_type *const *in;         /* NULL for an absent optional input */
  const sn_tensor *const *in_data;  /* the input's value when known at this point (constant), else NULL */
  int n_out;
  sn_type *const *out;              /* NULL for an absent optional output; fill these */
  sn_tensor **out_data;             /* optionally set known output values (ownership passes to the driver) */
} sn_infer_ctx;

/* Errors from shape functions: name the node, its op and opset, and the shapes involved. */
sn_error *sn_infer_error(const sn_infer_ctx *c, const char *fmt, ...) SN_PRINTF(2, 3);

/* Broadcast two IR shapes (numpy rules, symbolic-aware). */
sn_error *sn_infer_broadcast(const sn_infer_ctx *c, const sn_type *a, const sn_type *b, sn_type *out);

/* ---- kernels --------------------------------------------------------------------------------- */

typedef struct sn_kernel_ctx sn_kernel_ctx;
typedef struct sn_threadpool sn_threadpool;

/* An elementwise epilogue that a fused op (sinter:FusedMatMul / FusedGemm) offers its base
 * kernel, to apply to output 0 as the kernel writes it, while those rows are still in cache:
 * fn(arg, r0, r1, c0, c1) covers rows [r0, r1) and columns [c0, c1) of the output seen as a matrix
 * of its last dimension's columns (row stride = that dimension). Calls for disjoint tiles may run
 * at the same time. A kernel that applied it to every element sets done; otherwise the fused op
 * makes its own pass afterwards. */
typedef struct sn_epilogue {
  void (*fn)(void *arg, int64_t r0, int64_t r1, int64_t c0, int64_t c1);
  void *arg;
  bool done;
} sn_epilogue;

struct sn_kernel_ctx {
  const sn_node *node;
  const void *params; /* node->params */
  int n_in;
  const sn_tensor *const *in; /* NULL for an absent optional input */
  int n_out;
  void *impl;       /* runtime-private */
  sn_epilogue *epi; /* NULL, or the epilogue a fused op offers (see above) */
};

/* Output i as a dense tensor of this dtype and shape; *out stays owned by the runtime. The memory is
 * NOT zeroed. Absent outputs (node->out[i] < 0) still get scratch memory, so kernels need not check. */
sn_error *sn_kernel_output(sn_kernel_ctx *c, int i, sn_dtype dt, int rank, const int64_t *dims, sn_tensor **out);
/* The tensor output i currently holds (after sn_kernel_output), or NULL. Fused ops use it to apply
 * their epilogue to what the base kernel wrote. */
sn_tensor *sn_kernel_get_output(sn_kernel_ctx *c, int i);
/* Output i as a value the kernel built on the heap (sequence, optional, string tensor, or anything
 * whose memory it allocated itself); ownership passes to the runtime. */
sn_error *sn_kernel_set_output(sn_kernel_ctx *c, int i, sn_tensor *value);
/* true when output i is consumed or is a graph output */
bool sn_kernel_output_used(const sn_kernel_ctx *c, int i);
/* true when input i is a constant initializer of the graph being run (its data stays the same for the
 * session's lifetime, so a kernel may cache a transformed copy, e.g. prepacked weights); false in
 * constant folding and for anything computed or fed. */
bool sn_kernel_input_const(const sn_kernel_ctx *c, int i);
/* Temporary memory valid until the kernel returns (64-byte aligned); NULL on OOM. */
void *sn_kernel_scratch(sn_kernel_ctx *c, size_t bytes);
/* The intra-op thread pool of this run. */
sn_threadpool *sn_kernel_pool(sn_kernel_ctx *c);
/* Run a subgraph of this node (If/Loop/Scan body). inputs bind g->inputs in order; captured outer
 * values are bound automatically. outputs receives g->n_outputs new tensors that the caller owns. */
sn_error *sn_kernel_run_subgraph(sn_kernel_ctx *c, const sn_graph *g, int n_inputs, const sn_tensor *const *inputs,
                                 sn_tensor **outputs);
/* Errors from kernels: name the node and op. */
sn_error *sn_kernel_error(const sn_kernel_ctx *c, sinter_code code, const char *fmt, ...) SN_PRINTF(3, 4);

/* ---- the op table ----------------------------------------------------------------------------- */

enum {
  SN_OP_NO_FOLD = 1u << 0, /* never constant-fold (random ops) */
  /* output 0 may take the memory of input 0 when both have the same size and input 0 dies at this
   * node: the kernel reads each element of input 0 before it writes the same element of output 0 */
  SN_OP_INPLACE = 1u << 1,
};

typedef struct sn_op {
  const char *domain;  /* "" for ai.onnx */
  const char *op_type;
  int since;           /* first opset version this entry implements */
  int until;           /* last version (inclusive); 0 means open-ended */
  sn_error *(*infer)(sn_infer_ctx *c);
  sn_error *(*run)(sn_kernel_ctx *c);
  /* optional: check attributes / input counts at load and build node->params */
  sn_error *(*prepare)(sn_graph *g, sn_node *n, void **params);
  void (*free_params)(void *params);
  unsigned flags;
  /* optional: at session creation, after the passes, transform constant inputs (weights) into the
   * form the kernel reads (prepacked GEMM operands) once, under the session's ISA, so that no run
   * does it. take: the hook may move a weight's buffer into its packed copy when the node is the
   * weight's only reader (sn_nn_prepack checks), leaving the initializer without data. */
  sn_error *(*prepack)(sn_graph *g, sn_node *n, void *params, bool take);
} sn_op;

/* Find the entry for (domain, op_type) at opset `version`. On failure returns an error naming the
 * op and what versions exist. */
sn_error *sn_op_lookup(const char *domain, const char *op_type, int version, const sn_op **out);
/* Iterate all registered ops (for listing); returns NULL past the end. */
const sn_op *sn_op_at(int i);

#endif
