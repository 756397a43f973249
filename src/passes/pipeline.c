/* The pass pipeline (see pipeline.h). */
#include "passes/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "passes/passes.h"

typedef struct {
  const char *name;
  int level;
  sn_error *(*run)(sn_pass_ctx *c);
} pass;

static const pass passes[] = {
    /* no-ops out of the QDQ patterns first (a bias exported as Identity(initializer) hides the
     * constant from the fusions) */
    {"eliminate-noops", 2, sn_pass_eliminate_noops},
    /* then the fusions: constant folding would turn DequantizeLinear(int8 weights) into float weights */
    {"fold-constant-nodes", 2, sn_pass_fold_constant_nodes},
    {"fuse-qdq", 2, sn_pass_fuse_qdq},
    {"fold-constants", 1, sn_pass_fold_constants},
    {"eliminate-noops", 1, sn_pass_eliminate_noops},
    {"cancel-transposes", 1, sn_pass_cancel_transposes},
    {"cancel-squeezes", 1, sn_pass_cancel_squeezes},
    {"cse", 1, sn_pass_cse},
    /* after the folding that makes a QDQ model's quantized constants scalars */
    {"compose-lookups", 2, sn_pass_compose_lookups},
    {"fold-batchnorm", 2, sn_pass_fold_batchnorm},
    {"fold-matmul-scale", 2, sn_pass_fold_matmul_scale},
    /* elementwise ops below Transposes (ConvNeXt's residual stream channels-last), then the pairs
     * that meet cancel */
    {"push-transposes", 2, sn_pass_push_transposes},
    {"sink-transposes", 2, sn_pass_sink_transposes},
    {"cancel-transposes", 2, sn_pass_cancel_transposes},
    /* (a sunk binary op's Transpose may move on down, to meet its pair) */
    {"push-transposes", 2, sn_pass_push_transposes},
    {"cancel-transposes", 2, sn_pass_cancel_transposes},
    {"cse", 2, sn_pass_cse}, /* (copies of a Transpose that went nowhere) */
    {"fuse-pad", 2, sn_pass_fuse_pad},
    {"trim-conv-taps", 2, sn_pass_trim_conv_taps},
    {"fuse-gelu", 2, sn_pass_fuse_gelu},
    {"fuse-layernorm", 2, sn_pass_fuse_layernorm},
    {"fuse-skip-layernorm", 2, sn_pass_fuse_skip_layernorm},
    {"fold-gemm-transposes", 2, sn_pass_fold_gemm_transposes},
    {"fuse-attention", 2, sn_pass_fuse_attention},
    /* the head-reshape shape arithmetic that fuse-attention orphaned still reads k and v: drop it
     * so that pack-qkv sees them read by the Attention alone */
    {"eliminate-dead", 2, sn_pass_eliminate_dead},
    {"pack-qkv", 2, sn_pass_pack_qkv},
    {"attention-batch-first", 2, sn_pass_attention_batch_first},
    {"transposes-as-reshapes", 2, sn_pass_transposes_as_reshapes},
    {"fuse-epilogues", 2, sn_pass_fuse_epilogues},
    {"layout-nchwc", 3, sn_pass_layout_nchwc},
    {"layout-nhwc8", 3, sn_pass_layout_nhwc8},
    {"eliminate-dead", 1, sn_pass_eliminate_dead},
};

sn_error *sn_optimize(sn_graph *g, int level, sn_fold_fn fold) {
  sn_pass_ctx c = {g, level, fold, 0};
  /* SINTER_PASS_LOG=1 prints what each pass did (for debugging fusions) */
  const char *log = getenv("SINTER_PASS_LOG");
  for (size_t i = 0; i < sizeof passes / sizeof *passes; i++) {
    if (passes[i].level > level) continue;
    c.changed = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sn_error *e = passes[i].run(&c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (e) return sn_error_wrap(e, "optimization pass %s", passes[i].name);
    if (log && *log == '1')
      fprintf(stderr, "sinter: pass %-20s %5d rewrites, %5d nodes, %8.2f ms\n", passes[i].name, c.changed, g->n_nodes,
              (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6);
  }
  return NULL;
}
