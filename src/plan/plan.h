/* A plan: for one graph at one input-shape signature, the concrete type of every value it could
 * infer, the liveness of every value over the step order, and an arena offset for every
 * intermediate tensor whose size is known ahead of time (greedy placement, largest first, into
 * gaps among values alive at the same time). Plans are immutable and shared by concurrent runs. */
#ifndef SN_PLAN_H
#define SN_PLAN_H

#include "ir/ir.h"

typedef struct sn_plan {
  const sn_graph *g;
  int n_values;
  sn_type *types;       /* concrete where inference could tell */
  int64_t *offset;      /* arena byte offset per value, -1 when not placed in the arena */
  size_t *bytes;        /* planned bytes per value (0 when not placed) */
  int *first_step;      /* step producing the value (-1 for inputs/initializers/captures) */
  int *last_step;       /* last step reading it; n_nodes for graph outputs (never released) */
  int *release_start;   /* CSR: values whose last use is step i: release_list[release_start[i]..[i+1]) */
  int *release_list;
  size_t arena_size;    /* bytes of the arena */
  size_t naive_size;    /* sum of planned intermediate sizes, for comparison */
  int n_planned;        /* values placed in the arena */
  int n_inplace;        /* of which written in place over an input that died at their step */
  int n_concat_inputs;  /* Concat inputs placed inside their output, where Concat copies nothing */
} sn_plan;

/* Build the liveness (always) and the arena placement (only when types is non-NULL: concrete types
 * per value; pass NULL for subgraphs whose shapes vary per iteration). Takes ownership of types. */
sn_error *sn_plan_build(const sn_graph *g, sn_type *types, sn_plan **out);
void sn_plan_free(sn_plan *p);

#endif
