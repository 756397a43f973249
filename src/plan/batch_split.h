/* Batch splitting: whether a run over a batch of n samples (axis 0 of every fed input) computes the
 * same as n runs of one sample each, side by side on axis 0 of every output, so that a session may
 * run the samples of a batch concurrently, one per pool thread, each with the batch-1 plan (every
 * thread then works on its own sample's activations, which stay in its core's caches, with no
 * barrier between steps; OpenVINO's "streams" and ONNX Runtime's inter-op parallelism do the same
 * over requests rather than over one request's samples).
 *
 * The proof is per node over the graph as optimized: every value is classed as
 *   CONST  the same in both runs (initializers, and what is computed from them alone or from shape
 *          arithmetic that folds to the same data at batch n and at batch 1),
 *   META   folded at both sizes to different data (Shape of a batched value and what is computed
 *          from it): allowed only where it sets an output shape (Reshape, Expand, ConstantOfShape,
 *          Tile), which the shape check below then vouches for,
 *   BATCH  axis 0 is the batch: sample i of the batch-n value is the batch-1 run's value for
 *          sample i. Its inferred shape must be [n * k, d...] at batch n and [k, d...] at batch 1:
 *          n slabs of k rows (k = 1 for the graph's inputs and outputs; k > 1 where a reshape
 *          groups a sample's rows, as attention's [batch * heads, ...] does). Ops other than the
 *          reshapes keep axis 0 as it is.
 * A node may produce BATCH values only when its op is known to compute each sample from that sample
 * alone, given where the batched inputs sit and its attributes (Softmax not over axis 0, Transpose
 * keeping axis 0 first, Gather not indexing axis 0 of batched data, Concat not along axis 0, ...).
 * Anything else (an unknown op, dynamic quantization, whose scale is computed over the whole
 * batch, MaxPool's flat indices, a batched value used where a weight goes, ...) refuses the split. */
#ifndef SN_BATCH_SPLIT_H
#define SN_BATCH_SPLIT_H

#include "ir/ir.h"

typedef struct sn_split_check {
  bool ok;
  const char *why;      /* when !ok: what stopped it (static string) */
  int node;             /* when !ok: the node at fault, or -1 */
  double act_bytes;     /* bytes of all intermediate values of one sample (batch-1 types) */
  double weight_bytes;  /* bytes of the constant tensors that nodes on batched values read (not
                         * counting the tables that Gather indexes by batched ids) */
} sn_split_check;

/* types_n/known_n: the graph's types and folded values with the fed inputs at batch n; types_1 /
 * known_1 the same at batch 1 (sn_infer_graph's outputs). fed[v] is true for the graph inputs the
 * run feeds (each must be BATCH, i.e. [n, ...] and [1, ...]). */
void sn_batch_split_check(const sn_graph *g, const bool *fed, int64_t n, const sn_type *types_n,
                          const sn_tensor *const *known_n, const sn_type *types_1, const sn_tensor *const *known_1,
                          sn_split_check *out);

#endif
