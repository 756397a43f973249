/* Graph optimization passes, grouped by level (0: none; 1: basic clean-ups; 2: fusion; 3: layout).
 * Each pass is a small function over the IR; this file lists which run at which level. */
#ifndef SN_PIPELINE_H
#define SN_PIPELINE_H

#include "ir/ir.h"

sn_error *sn_optimize(sn_graph *g, int level);

/* Replace every read of value `from` with value `to` (node inputs, captures, subgraph captures). */
void sn_graph_replace_uses(sn_graph *g, int from, int to);
/* Drop nodes marked dead (op_type NULL after sn_node_clear) and compact the node array. */
void sn_graph_compact(sn_graph *g);

#endif
