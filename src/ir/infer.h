/* The shape-inference driver: walks a graph in order, calls each op's shape function, folds nodes
 * whose inputs are all known (so shape arithmetic resolves), and records a type per value. Used at
 * load (symbolic shapes, merged with the model's declared types) and when a plan is built for
 * concrete input shapes. */
#ifndef SN_INFER_H
#define SN_INFER_H

#include "ops/op.h"

/* Evaluate one node on known inputs (the executor provides this). outputs[i] receive new tensors. */
typedef sn_error *(*sn_fold_fn)(void *ctx, const sn_graph *g, const sn_node *n, const sn_tensor *const *inputs,
                                 sn_tensor **outputs);

typedef struct sn_infer_opts {
  bool merge_declared; /* fill unknown dims from the model's declared value types (load time) */
  sn_fold_fn fold;     /* NULL: no folding */
  void *fold_ctx;
  int64_t fold_limit;  /* fold only when the inputs hold at most this many elements in all */
} sn_infer_opts;

/* types[v] must hold the types of graph inputs and initializers on entry (other entries are
 * overwritten); known[v] (may be NULL) holds known values on entry (initializers) and receives
 * folded values, owned by the caller (free those not pointing at initializer data). For CAPTURE
 * values, types[v] (and known[v]) must be filled by the caller from the enclosing graph. */
sn_error *sn_infer_graph(sn_graph *g, sn_type *types, sn_tensor **known, const sn_infer_opts *opts);

/* Resolve one node's op for its opset and run its prepare (after a pass created or changed it). */
sn_error *sn_node_resolve(sn_graph *g, sn_node *n);

/* Load-time inference: resolve every node's op for its opset (recursively into subgraphs), run each
 * op's prepare, infer every value's type in place (g->values[v].type), recursing into subgraphs. */
sn_error *sn_graph_resolve_and_infer(sn_graph *g, const sn_infer_opts *opts);

#endif
