/* The graph passes, one function each (basic.c: level 1; fuse.c: level 2). pipeline.c lists which
 * run at which optimization level. Each takes the pass context and counts its rewrites in
 * c->changed. */
#ifndef SN_PASSES_H
#define SN_PASSES_H

#include "passes/rewrite.h"

/* at load, before types are inferred (level 1 and above): float16 graphs computed in float32 (fp16.c) */
sn_error *sn_pass_fp16_to_fp32(sn_graph *g, int *changed);
/* level 1 */
/* Constant nodes only, as initializers (before the QDQ fusions, which read scalars of either kind) */
sn_error *sn_pass_fold_constant_nodes(sn_pass_ctx *c);
sn_error *sn_pass_fold_constants(sn_pass_ctx *c);
sn_error *sn_pass_eliminate_noops(sn_pass_ctx *c);
sn_error *sn_pass_cancel_transposes(sn_pass_ctx *c);
sn_error *sn_pass_transposes_as_reshapes(sn_pass_ctx *c);
sn_error *sn_pass_cancel_squeezes(sn_pass_ctx *c);
sn_error *sn_pass_cse(sn_pass_ctx *c);
sn_error *sn_pass_eliminate_dead(sn_pass_ctx *c);
/* level 2 */
sn_error *sn_pass_fold_batchnorm(sn_pass_ctx *c);
sn_error *sn_pass_fold_matmul_scale(sn_pass_ctx *c);
sn_error *sn_pass_sink_transposes(sn_pass_ctx *c); /* basic.c */
sn_error *sn_pass_push_transposes(sn_pass_ctx *c); /* basic.c */
sn_error *sn_pass_trim_conv_taps(sn_pass_ctx *c);
sn_error *sn_pass_fuse_pad(sn_pass_ctx *c);
sn_error *sn_pass_fuse_gelu(sn_pass_ctx *c);
sn_error *sn_pass_fuse_layernorm(sn_pass_ctx *c);
sn_error *sn_pass_fuse_skip_layernorm(sn_pass_ctx *c);
sn_error *sn_pass_fuse_epilogues(sn_pass_ctx *c);
sn_error *sn_pass_fold_gemm_transposes(sn_pass_ctx *c);
sn_error *sn_pass_fuse_attention(sn_pass_ctx *c); /* attention.c */
sn_error *sn_pass_pack_qkv(sn_pass_ctx *c);       /* attention.c */
sn_error *sn_pass_attention_batch_first(sn_pass_ctx *c); /* attention.c */
/* level 3 */
sn_error *sn_pass_layout_nchwc(sn_pass_ctx *c); /* layout.c */
sn_error *sn_pass_layout_nhwc8(sn_pass_ctx *c); /* layout_q8.c */
sn_error *sn_pass_fuse_qdq(sn_pass_ctx *c);       /* qdq.c */
sn_error *sn_pass_compose_lookups(sn_pass_ctx *c); /* lookup.c */

#endif
