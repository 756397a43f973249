"""float16 models (passes/fp16.c): computed in float32 from optimization level 1, float16 at the edges.

    SINTER_BUILD=build .venv/bin/python tests/python/test_fp16.py

Models built with onnx.helper in float16, against ONNX Runtime (whose CPU provider also computes most
float16 ops in float32 between casts):
  * a small CNN: Conv + Relu, MaxPool, Conv + residual Add, GlobalAveragePool, Flatten, Gemm, with a
    float16 ConstantOfShape and Cast(to=FLOAT16) inside, a second output Cast to float32 and a
    float16 initializer returned as an output: outputs within float16 rounding of ORT's (2^-9 of the
    output scale; 2^-7 at -O 0, which rounds every op's result to float16 as written), the outputs'
    dtypes as declared, at -O 0 and -O 3;
  * at -O 3 the convolutions run as the float32 blocked convolution (NchwcConv in `sinter profile`;
    FusedConv at the portable level, which has no blocked layout),
    which is what the float32 computation is for (the per-element float16 path was 7x slower);
  * a float16 MatMul + Softmax (the transformer pieces) likewise.
Prints "N passed, M failed"; exits 1 on any failure.
"""
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from testlib import check, finish, make_model, ort_outputs, save, sinter_outputs, sinter_profile

rng = np.random.default_rng(16)
F16 = TensorProto.FLOAT16


def h(shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float16)


def cnn():
    inits = [numpy_helper.from_array(h((16, 3, 3, 3)), "w1"), numpy_helper.from_array(h((16,)), "b1"),
             numpy_helper.from_array(h((16, 16, 3, 3), 0.1), "w2"), numpy_helper.from_array(h((16,)), "b2"),
             numpy_helper.from_array(h((10, 16)), "wf"), numpy_helper.from_array(h((10,)), "bf"),
             numpy_helper.from_array(np.array([1, 16, 1, 1], np.int64), "shp"),
             numpy_helper.from_array(h((3,)), "konst")]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("ConstantOfShape", ["shp"], ["half"],
                         value=numpy_helper.from_array(np.array([0.5], np.float16))),
        helper.make_node("Mul", ["p1", "half"], ["ph"]),
        helper.make_node("Add", ["c2", "ph"], ["s2"]),
        helper.make_node("Relu", ["s2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["logits"], transB=1),
        helper.make_node("Cast", ["logits"], ["logits32"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["logits32"], ["again16"], to=F16),
        helper.make_node("Sigmoid", ["again16"], ["prob"]),
    ]
    inputs = [helper.make_tensor_value_info("x", F16, [2, 3, 20, 20])]
    outputs = [helper.make_tensor_value_info("prob", F16, [2, 10]),
               helper.make_tensor_value_info("logits32", TensorProto.FLOAT, [2, 10]),
               helper.make_tensor_value_info("konst", F16, [3])]
    return make_model(nodes, inputs, outputs, inits, opset=17), {"x": h((2, 3, 20, 20), 1.0)}


def attention():
    inits = [numpy_helper.from_array(h((32, 32), 0.2), "wq")]
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"]),
             helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "xt"], ["s"]),
             helper.make_node("Softmax", ["s"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "x"], ["y"])]
    inputs = [helper.make_tensor_value_info("x", F16, [2, 24, 32])]
    outputs = [helper.make_tensor_value_info("y", F16, [2, 24, 32])]
    return make_model(nodes, inputs, outputs, inits, opset=17), {"x": h((2, 24, 32), 1.0)}


def compare(name, model, feeds):
    data = model.SerializeToString()
    want = ort_outputs(data, feeds)
    decl = [o.type.tensor_type.elem_type for o in model.graph.output]
    for level in (0, 3):
        got = sinter_outputs(data, feeds, opt_level=level)
        for i, (g, w) in enumerate(zip(got, want)):
            dt_ok = g.dtype == (np.float16 if decl[i] == F16 else np.float32)
            scale = float(np.max(np.abs(w.astype(np.float32)))) or 1.0
            err = float(np.max(np.abs(g.astype(np.float32) - w.astype(np.float32))))
            # (-O 0 rounds every op's result to float16, as the graph says: a few roundings more)
            bound = scale / (512 if level else 128)
            check(f"{name} -O {level} output {i}: dtype {g.dtype}, |err| within float16 rounding", dt_ok and err <= bound,
                  f"max |err| {err:.3g}, output scale {scale:.3g}")


def main():
    model, feeds = cnn()
    compare("cnn", model, feeds)
    with tempfile.TemporaryDirectory():
        r, prof, _ = sinter_profile(model, "cnn16")
        ops = {row["op"] for row in prof.op_types} if prof else set()
        # (the blocked layout needs AVX2 or AVX-512; the portable level runs the fused float32 Conv)
        want = "NchwcConv" if prof and prof.isa in ("avx2", "avx512") else "FusedConv"
        check(f"cnn -O 3: the float16 convolutions run as float32 {want}", want in ops and "Conv" not in ops,
              f"op types {sorted(ops)}; {r.stderr.strip()[:200]}")
    model, feeds = attention()
    compare("attention", model, feeds)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
