/* `sinter quantize IN OUT --mode dynamic|static`: INT8 quantization of a float model into standard
 * ONNX ops (integer ops for dynamic, QuantizeLinear/DequantizeLinear pairs for static), with a report
 * of every quantized tensor's scale, zero point and error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "core/alloc.h"
#include "npy.h"
#include "onnx/onnx.h"
#include "onnx/writer.h"
#include "quant/quant.h"

static const char *CMD = "quantize";

static void usage(FILE *f) {
  fprintf(f,
          "usage: sinter quantize IN.onnx OUT.onnx --mode dynamic|static [options]\n"
          "\n"
          "Quantizes the Conv, MatMul and Gemm nodes of IN that have constant weights to INT8 and writes\n"
          "OUT with standard ONNX ops only (it also runs in ONNX Runtime). Weights are symmetric int8,\n"
          "per output channel unless --per-tensor.\n"
          "  dynamic: DynamicQuantizeLinear -> MatMulInteger/ConvInteger -> Cast -> Mul (-> Add bias);\n"
          "           activations are quantized at run time (like onnxruntime's quantize_dynamic).\n"
          "  static:  QDQ model: QuantizeLinear/DequantizeLinear on the activations feeding those nodes,\n"
          "           with ranges calibrated by running IN on --calibration data, and DequantizeLinear on\n"
          "           the int8 weights. Per-axis QDQ needs opset 13: a model importing opset 10..12 is\n"
          "           upgraded to 13 on the way (Squeeze/Unsqueeze/ReduceSum axes and Split split become\n"
          "           inputs, Softmax/LogSoftmax/Hardmax keep their 2-D semantics via Flatten/Reshape\n"
          "           where needed, Clip/Pad attributes become inputs, Resize-10/Upsample become\n"
          "           Resize-13, sub-graphs too; an op it does not convert is refused, named). With\n"
          "           --per-tensor the model keeps its opset (10 or newer). Calibration runs the\n"
          "           upgraded float model (saved under $TMPDIR). Dynamic mode upgrades\n"
          "           opset 10 models the same way.\n"
          "\n"
          "options:\n"
          "  --mode M               dynamic or static (required)\n"
          "  --per-tensor           one weight scale per tensor instead of per output channel\n"
          "  --calibration DIR      static: DIR holds one <input name>.npy per model input, the samples\n"
          "                         stacked along axis 0 (e.g. image.npy of shape [S,1,8,8])\n"
          "  --method M             static: minmax, percentile or entropy (default minmax)\n"
          "                         entropy: KL-divergence calibration (TensorRT style): a 2048-bin\n"
          "                         histogram of |x| over all calibration data; the threshold T minimizing\n"
          "                         KL(P||Q), P the histogram clipped at T (outliers into the last bin), Q\n"
          "                         P quantized to 128 levels (256 for non-negative uint8 activations);\n"
          "                         the range is then [max(min,-T), min(max,T)]\n"
          "  --percentile P         percentile kept by --method percentile (default 99.99)\n"
          "  --activation-type T    static: uint8 (asymmetric, default) or int8 (symmetric)\n"
          "  --exclude-nodes A,B    node names to keep in float\n"
          "  --exclude-op-types A,B op types to keep in float, e.g. Conv,MatMul (the report lists\n"
          "                         every node kept in float as a '# kept in float' line)\n"
          "  --keep-first-last      keep the first and the last quantizable nodes in float\n"
          "  --calibration-batch N  samples per calibration run (default 32)\n"
          "  --report FILE          write the per-tensor report to FILE (default: print it)\n"
          "  -h, --help             this help\n"
          "\n"
          "The report lists, per quantized tensor, its scale(s), zero point and the relative RMS error\n"
          "||x - dequant(quant(x))|| / ||x|| (weights: over the weight; activations: over the calibration\n"
          "data).\n");
}

int cmd_quantize(int argc, char **argv) {
  const char *in = NULL, *out = NULL, *v, *mode = NULL, *calib = NULL, *report = NULL;
  sn_quant_opts o;
  memset(&o, 0, sizeof o);
  o.percentile = 99.99;
  for (int i = 1; i < argc; i++) {
    int r;
    if (sn_cli_is_help(argv[i])) {
      usage(stdout);
      return SN_EXIT_OK;
    }
    if (!strcmp(argv[i], "--per-tensor")) {
      o.per_tensor = true;
    } else if (!strcmp(argv[i], "--keep-first-last")) {
      o.keep_first_last = true;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--mode", &v))) {
      if (r < 0) return SN_EXIT_USAGE;
      if (strcmp(v, "dynamic") && strcmp(v, "static"))
        return sn_cli_usage_error(CMD, "--mode must be dynamic or static, not '%s'", v);
      mode = v;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--calibration", &v))) {
      if (r < 0) return SN_EXIT_USAGE;
      calib = v;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--method", &v))) {
      if (r < 0) return SN_EXIT_USAGE;
      if (!strcmp(v, "minmax"))
        o.method = SN_CALIB_MINMAX;
      else if (!strcmp(v, "percentile"))
        o.method = SN_CALIB_PERCENTILE;
      else if (!strcmp(v, "entropy"))
        o.method = SN_CALIB_ENTROPY;
      else
        return sn_cli_usage_error(CMD, "--method must be minmax, percentile or entropy, not '%s'", v);
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--percentile", &v))) {
      if (r < 0) return SN_EXIT_USAGE;
      char *end;
      o.percentile = strtod(v, &end);
      if (*end || end == v || !(o.percentile > 50.0 && o.percentile <= 100.0))
        return sn_cli_usage_error(CMD, "--percentile expects a number in (50, 100], not '%s'", v);
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--activation-type", &v))) {
      if (r < 0) return SN_EXIT_USAGE;
      if (!strcmp(v, "int8"))
        o.act_int8 = true;
      else if (strcmp(v, "uint8"))
        return sn_cli_usage_error(CMD, "--activation-type must be uint8 or int8, not '%s'", v);
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--exclude-nodes", &v))) {
      if (r < 0) return SN_EXIT_USAGE;
      o.exclude = v;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--exclude-op-types", &v))) {
      if (r < 0) return SN_EXIT_USAGE;
      o.exclude_ops = v;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--calibration-batch", &v))) {
      long long b;
      if (r < 0 || !sn_cli_int(CMD, "--calibration-batch", v, 1, 1 << 20, &b)) return SN_EXIT_USAGE;
      o.batch = (int)b;
    } else if ((r = sn_cli_opt(CMD, argc, argv, &i, "--report", &v))) {
      if (r < 0) return SN_EXIT_USAGE;
      report = v;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return sn_cli_usage_error(CMD, "unknown option '%s'", argv[i]);
    } else if (!in) {
      in = argv[i];
    } else if (!out) {
      out = argv[i];
    } else {
      return sn_cli_usage_error(CMD, "unexpected argument '%s'", argv[i]);
    }
  }
  if (!in || !out) return sn_cli_usage_error(CMD, "expects IN.onnx and OUT.onnx");
  if (!mode) return sn_cli_usage_error(CMD, "--mode dynamic or --mode static is required");
  o.mode = !strcmp(mode, "static") ? SN_QUANT_STATIC : SN_QUANT_DYNAMIC;
  if (o.mode == SN_QUANT_STATIC && !calib) return sn_cli_usage_error(CMD, "--mode static needs --calibration DIR");
  if (o.mode == SN_QUANT_DYNAMIC && calib) return sn_cli_usage_error(CMD, "--calibration is for --mode static");
  o.model_path = in;

  double t0 = sn_cli_now();
  sn_model *m = NULL;
  sn_error *e = sn_onnx_load_file(in, &m);
  int n_in = 0;
  sn_npy *arrays = NULL;
  sn_tensor **tensors = NULL;
  const char **names = NULL;
  FILE *rf = NULL;
  int nq = 0;
  if (!e && o.mode == SN_QUANT_STATIC) {
    sn_graph *g = m->graph;
    int n = g ? g->n_inputs : 0;
    arrays = sn_calloc((size_t)n + 1, sizeof *arrays);
    tensors = sn_calloc((size_t)n + 1, sizeof *tensors);
    names = sn_calloc((size_t)n + 1, sizeof *names);
    if (!arrays || !tensors || !names) e = SN_ERR_OOM();
    for (int k = 0; k < n && !e; k++) {
      const sn_value *val = &g->values[g->inputs[k]];
      if (val->data) continue; /* IR < 4 weight */
      char path[4096];
      snprintf(path, sizeof path, "%s/%s.npy", calib, val->name);
      if ((e = sn_npy_read(path, &arrays[n_in]))) break;
      sn_npy *a = &arrays[n_in];
      names[n_in] = val->name;
      n_in++;
      if ((e = sn_tensor_new_view(a->dtype, a->rank, a->dims, a->data, &tensors[n_in - 1]))) break;
    }
    o.n_calib = n_in;
    o.calib_names = names;
    o.calib_data = (const sn_tensor *const *)tensors;
  }
  if (!e) {
    if (report) {
      rf = fopen(report, "w");
      if (!rf) e = sn_errorf(SINTER_ERR_NO_SUCH_FILE, "cannot write the report to '%s'", report);
    } else {
      rf = stdout;
    }
  }
  if (!e) e = sn_quantize(m, &o, rf, &nq);
  if (!e) e = sn_onnx_write_file(m, out);
  if (rf && rf != stdout) fclose(rf);
  for (int k = 0; k < n_in; k++) {
    sn_tensor_free(tensors[k]);
    sn_npy_free(&arrays[k]);
  }
  sn_free(arrays);
  sn_free(tensors);
  sn_free(names);
  sn_model_free(m);
  if (e) return sn_cli_fail(CMD, e);
  char tb[64];
  printf("%s -> %s: %s INT8, %d nodes quantized (%s)\n", in, out, mode, nq,
         sn_cli_fmt_time(sn_cli_now() - t0, tb, sizeof tb));
  return SN_EXIT_OK;
}
