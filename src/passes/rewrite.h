/* Helpers the graph passes share: use counts, rewiring, node removal, new initializers. */
#ifndef SN_REWRITE_H
#define SN_REWRITE_H

#include "ir/infer.h"

typedef struct sn_pass_ctx {
  sn_graph *g;
  int level;
  sn_fold_fn fold; /* evaluates a node on constant inputs */
  int changed;     /* rewrites made by the pass that ran last */
} sn_pass_ctx;

/* Replace every read of value `from` with value `to` (node inputs, captures, subgraph captures). */
void sn_graph_replace_uses(sn_graph *g, int from, int to);
/* Drop nodes cleared with sn_node_clear (op_type NULL) and compact the node array. */
void sn_graph_compact(sn_graph *g);
/* uses[v]: how many node inputs/captures read v, plus one if it is a graph output. Caller frees. */
int *sn_graph_use_counts(const sn_graph *g);
/* The single node reading value v (via inputs), or -1 when v has another number of readers or is a
 * graph output or is captured by a subgraph. */
int sn_graph_sole_consumer(const sn_graph *g, const int *uses, int v);
/* Is n the default-domain op `op` (and not cleared)? */
bool sn_node_is(const sn_node *n, const char *op);
/* The single element of a constant value as a double (any numeric dtype), or NAN. */
double sn_graph_const_scalar(const sn_graph *g, int v);
/* A constant (initializer) value's data, or NULL. */
const sn_tensor *sn_graph_const(const sn_graph *g, int v);
/* An inference BatchNormalization (no training_mode, no outputs past Y) whose scale, bias, mean and
 * variance are float32 constants of C entries: those and epsilon, or false. */
typedef struct sn_bn_consts {
  const float *scale, *bias, *mean, *var;
  double eps;
} sn_bn_consts;
bool sn_graph_bn_consts(const sn_graph *g, const sn_node *bn, int64_t C, sn_bn_consts *out);
/* Pad n's amounts for a rank-`rank` input as 2 * rank begin/end entries, from its constants (the
 * attribute before opset 11, then input 1, with opset 18's axes input): true, or false when they are
 * not constants of that form. */
bool sn_graph_pad_amounts(const sn_graph *g, const sn_node *n, int rank, int64_t *pads);
/* Add an initializer value owning `data`, named after `base` with a suffix; returns its id. */
sn_error *sn_graph_add_initializer(sn_graph *g, const char *base, const char *suffix, sn_tensor *data, int *id);
/* Set a node attribute (replacing one of the same name). */
sn_error *sn_node_set_int(sn_node *n, const char *name, int64_t v);
sn_error *sn_node_set_float(sn_node *n, const char *name, float v);
sn_error *sn_node_set_str(sn_node *n, const char *name, const char *v);
sn_error *sn_node_set_ints(sn_node *n, const char *name, const int64_t *v, int count);
sn_error *sn_node_set_floats(sn_node *n, const char *name, const float *v, int count);
/* Append an input to a node. */
sn_error *sn_node_add_input(sn_node *n, int v);
/* Turn node n into (domain, op_type) at opset, in place: its resolved op and params are dropped (and
 * with clear_attrs its attributes); sn_node_resolve then looks the new op up. */
sn_error *sn_node_retype(sn_node *n, const char *domain, const char *op_type, int opset, bool clear_attrs);
/* A new value named after value `like` plus a suffix (then _1, _2, ... until unused); its type is
 * left for the caller to set. */
sn_error *sn_graph_add_value_like(sn_graph *g, int like, const char *suffix, int *id);
/* A new node (domain, op) at opset reading `in` and writing `out`, named "<op>_<out's name>"; the
 * caller sets its attributes, then calls sn_node_resolve. *index: its place in g->nodes. */
sn_error *sn_graph_add_node1(sn_graph *g, const char *domain, const char *op, int opset, int in, int out,
                             int *index);
/* A new value like `like` (its dtype, suffix as sn_graph_add_value_like) whose dimension i is like's
 * dimension perm[i]: the type of Transpose(like, perm); rank entries of perm, like's rank. */
sn_error *sn_graph_add_value_permuted(sn_graph *g, int like, const char *suffix, const int64_t *perm, int rank,
                                      int *id);
/* A new Transpose(in, perm) writing out, resolved. */
sn_error *sn_graph_add_transpose(sn_graph *g, int in, int out, const int64_t *perm, int rank);
/* Grow a node's outputs to count (new ones absent, -1). */
sn_error *sn_node_set_outputs(sn_node *n, int count);

#endif
