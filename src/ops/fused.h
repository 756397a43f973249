/* The fused epilogue's activations (src/ops/fused.c), shared with the blocked-layout ops
 * (src/ops/nchwc.c) so that both apply exactly the same functions. */
#ifndef SN_OPS_FUSED_H
#define SN_OPS_FUSED_H

#include <stdint.h>

typedef enum { SN_ACT_NONE, SN_ACT_RELU, SN_ACT_LEAKY, SN_ACT_SIGMOID, SN_ACT_TANH, SN_ACT_HSIGMOID, SN_ACT_HSWISH,
               SN_ACT_CLIP, SN_ACT_GELU, SN_ACT_GELU_TANH, SN_ACT_SILU } sn_act_kind;

/* The kind named by an `activation` attribute ("" is none), or -1 when unknown; *alpha / *beta get
 * the defaults of that activation's attributes. */
int sn_act_lookup(const char *name, float *alpha, float *beta);
/* d[0..n) = act(d[0..n)) in place. */
void sn_act_apply(sn_act_kind k, float alpha, float beta, float *d, int64_t n);

#endif
