/* INT8 quantization of float models: dynamic (integer ops with run-time activation quantization,
 * like ONNX Runtime's quantize_dynamic) and static QDQ (calibrated QuantizeLinear/DequantizeLinear
 * pairs), writing standard ONNX ops only, plus a per-tensor report of the quantization error. */
#ifndef SN_QUANT_H
#define SN_QUANT_H

#include <stdbool.h>
#include <stdio.h>

#include "ir/ir.h"

typedef enum sn_quant_mode { SN_QUANT_DYNAMIC = 0, SN_QUANT_STATIC = 1 } sn_quant_mode;
typedef enum sn_quant_method { SN_CALIB_MINMAX = 0, SN_CALIB_PERCENTILE = 1 } sn_quant_method;

typedef struct sn_quant_opts {
  int mode;             /* sn_quant_mode */
  bool per_tensor;      /* weights per tensor (default: per output channel) */
  int method;           /* sn_quant_method (static) */
  double percentile;    /* for SN_CALIB_PERCENTILE, e.g. 99.99 */
  bool act_int8;        /* static: int8 symmetric activations (default uint8 asymmetric) */
  const char *exclude;  /* comma-separated node names kept in float, or NULL */
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

#endif
