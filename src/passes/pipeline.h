/* Graph optimization by level (0: none; 1: basic clean-ups; 2: fusions; 3: layout, which adds
 * nothing yet). Every pass is a small function over the IR (src/passes/passes.h); this is the list
 * of which run at which level, in order. */
#ifndef SN_PIPELINE_H
#define SN_PIPELINE_H

#include "ir/infer.h"

/* fold evaluates nodes on constant inputs (the executor's sn_exec_fold). */
sn_error *sn_optimize(sn_graph *g, int level, sn_fold_fn fold);

#endif
