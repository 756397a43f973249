/* INT8 quantization of float models: dynamic (integer ops with run-time activation quantization,
 * like ONNX Runtime's quantize_dynamic) and static QDQ (calibrated QuantizeLinear/DequantizeLinear
 * pairs), writing standard ONNX ops only, plus a per-tensor report of the quantization error. */
#ifndef SN_QUANT_H
#define SN_QUANT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ir/ir.h"

typedef enum sn_quant_mode { SN_QUANT_DYNAMIC = 0, SN_QUANT_STATIC = 1 } sn_quant_mode;
typedef enum sn_quant_method { SN_CALIB_MINMAX = 0, SN_CALIB_PERCENTILE = 1, SN_CALIB_ENTROPY = 2 } sn_quant_method;

typedef struct sn_quant_opts {
  int mode;             /* sn_quant_mode */
  bool per_tensor;      /* weights per tensor (default: per output channel) */
  int method;           /* sn_quant_method (static) */
  double percentile;    /* for SN_CALIB_PERCENTILE, e.g. 99.99 */
  bool act_int8;        /* static: int8 symmetric activations (default uint8 asymmetric) */
  const char *exclude;  /* comma-separated node names kept in float, or NULL */
  const char *exclude_ops; /* comma-separated op types kept in float (e.g. "Conv,MatMul"), or NULL */
  bool keep_first_last; /* keep the first and last quantizable nodes in float */
  /* static: calibration data, one tensor per model input with the samples stacked along axis 0 */
  int n_calib;
  const char *const *calib_names;
  const sn_tensor *const *calib_data;
  const char *model_path; /* the float model's file (reloaded to run calibration) */
  int batch;              /* calibration samples per run (default 32) */
} sn_quant_opts;

/* Quantize model m in place. The report (one line per quantized tensor: scale, zero point, relative
 * RMS error) goes to `report` when non-NULL. *n_quantized receives the number of nodes rewritten. */
sn_error *sn_quantize(sn_model *m, const sn_quant_opts *o, FILE *report, int *n_quantized);

/* Upgrade a model importing default-domain opset 10..12 to opset 13 in place, rewriting the nodes
 * whose semantics changed (Squeeze/Unsqueeze/ReduceSum axes and Split split become inputs,
 * Softmax/LogSoftmax/Hardmax keep their 2-D coercion, Clip/Pad attributes become inputs, Resize-10
 * and Upsample become Resize-13, Dropout loses ratio, Scatter becomes ScatterElements), sub-graphs
 * included; a node it does not know is refused, naming it. typed_path (may be NULL) is the model's
 * file, loaded once more to infer ranks and element types. *n_changed: nodes rewritten. */
sn_error *sn_quant_upgrade_opset13(sn_model *m, const char *typed_path, int *n_changed);

/* Entropy (KL-divergence) calibration: given a histogram of |x| over n_bins equal bins of [0, amax],
 * the threshold T in (0, amax] minimizing KL(P || Q), P the histogram clipped at T (outliers summed
 * into its last bin), Q that histogram quantized into `levels` levels. */
double sn_quant_entropy_threshold(const uint64_t *hist, int n_bins, double amax, int levels);

#endif
