import sys, numpy as np, onnx, os
import os as _os
ZOO = _os.environ.get("ZOO_DIR", "/tmp/zoo")
SINTER = _os.environ.get("SINTER_CLI", "build/sinter")
from onnxruntime.quantization import quantize_static, quantize_dynamic, QuantFormat, QuantType, CalibrationDataReader
from onnxruntime.quantization.shape_inference import quant_pre_process
class R(CalibrationDataReader):
    def __init__(s, feeds): s.f = iter([feeds] + [{k: (v + np.random.RandomState(i).standard_normal(v.shape).astype(v.dtype) * 0.1) if v.dtype.kind == 'f' else v for k, v in feeds.items()} for i in range(3)])
    def get_next(s): return next(s.f, None)
mode = sys.argv[2] if len(sys.argv) > 2 else "qdq"
for n in sys.argv[1].split(","):
    src = f"{ZOO}/{n}.onnx"; feeds = dict(np.load(f"{ZOO}/{n}.inputs.npz"))
    pre = f"{ZOO}/{n}.pre.onnx"
    try:
        quant_pre_process(src, pre, skip_symbolic_shape=True)
    except Exception as e:
        pre = src
    out = f"{ZOO}/{n}_{mode}.onnx"
    try:
        if mode == "dyn":
            quantize_dynamic(pre, out, weight_type=QuantType.QInt8)
        else:
            quantize_static(pre, out, R(feeds), quant_format=QuantFormat.QDQ if mode == "qdq" else QuantFormat.QOperator, per_channel=True)
        np.savez(f"{ZOO}/{n}_{mode}.inputs.npz", **feeds)
        print("ok", n, mode, flush=True)
    except Exception as e:
        print("FAIL", n, mode, repr(e)[:200], flush=True)
