/* The one table of ops: every family's entries, looked up by (domain, op_type, opset). */
#include <stdio.h>
#include <string.h>

#include "ops/op.h"

#define FAMILIES(X)                                                                                \
  X(elementwise) X(unary) X(cast) X(shape) X(data) X(indexing) X(conv) X(pool) X(norm) X(matmul)  \
  X(softmax) X(reduce) X(rnn) X(resize) X(control) X(sequence) X(quantize) X(loss) X(signal) X(image)      \
  X(strings) X(random) X(misc) X(fused) X(attention) X(transformer) X(ml) X(nchwc) X(qlinear_ms)

#define DECLARE(f) extern const sn_op sn_ops_##f[];
FAMILIES(DECLARE)
#undef DECLARE

#define LIST(f) sn_ops_##f,
static const sn_op *const families[] = {FAMILIES(LIST)};
#undef LIST

static bool domain_eq(const char *a, const char *b) {
  if (!a || !strcmp(a, "ai.onnx")) a = "";
  if (!b || !strcmp(b, "ai.onnx")) b = "";
  return strcmp(a, b) == 0;
}

const sn_op *sn_op_at(int i) {
  for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
    for (const sn_op *op = families[f]; op->op_type; op++)
      if (i-- == 0) return op;
  }
  return NULL;
}

sn_error *sn_op_lookup(const char *domain, const char *op_type, int version, const sn_op **out) {
  const sn_op *best = NULL;
  char versions[256];
  size_t k = 0;
  versions[0] = 0;
  /* one pass over the families' rows (sn_op_at(i) walks from the start on every call) */
  for (size_t f = 0; f < sizeof families / sizeof *families; f++)
    for (const sn_op *op = families[f]; op->op_type; op++) {
      if (strcmp(op->op_type, op_type) || !domain_eq(op->domain, domain)) continue;
      if (k < sizeof versions - 32) {
        if (op->until)
          k += (size_t)snprintf(versions + k, sizeof versions - k, "%s%d-%d", k ? ", " : "", op->since, op->until);
        else
          k += (size_t)snprintf(versions + k, sizeof versions - k, "%s%d+", k ? ", " : "", op->since);
      }
      if (op->since <= version && (op->until == 0 || version <= op->until)) {
        if (!best || op->since > best->since) best = op;
      }
    }
  *out = best;
  if (best) return NULL;
  const char *d = (domain && *domain) ? domain : "ai.onnx";
  if (k)
    return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "op %s (domain %s) is not supported at opset %d (Sinter implements opsets %s)",
                     op_type, d, version, versions);
  return sn_errorf(SINTER_ERR_NOT_IMPLEMENTED, "unsupported op %s (domain %s, opset %d)", op_type, d, version);
}
