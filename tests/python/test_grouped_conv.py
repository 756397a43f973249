"""Grouped convolutions and the piecewise-linear activations (kernels/vmath.h sn_vpwl) in models, against
ONNX Runtime:
  * Conv with group > 1 and 2..32 channels per group, on the blocked layout (kernels/nchwc.h; groups of
    whole blocks, of half a block, and across blocks: 8, 12, 16, 24, 32 channels) or, where most of
    what its blocks would compute is zeros, on NCHW (kernels/gconv.h: 2 to 4 channels), output channels per
    group apart from the input's, 1x1 / 3x3 / 5x5 kernels, strides 1 and 2, dilation 2, asymmetric
    pads, widths from 1 to 70, with and without bias, followed by Relu (fused) or HardSwish, batch 1
    and 3, on 1 and 2 threads, at every ISA level the CPU has (portable: the GEMM path);
  * HardSwish, HardSigmoid (alpha, beta), LeakyRelu and Clip on tensors of odd sizes with NaN and
    +-inf, bit-identical between the ISA levels and equal to ORT (NaN where ORT gives NaN).

    SINTER_BUILD=build .venv/bin/python tests/python/test_grouped_conv.py

Prints "N passed, M failed"; exits 1 on any failure.
"""
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import sinter_ctypes as sc
from testlib import check, finish, make_model, ort_outputs, sinter_outputs

rng = np.random.default_rng(21)


def isas():
    out = []
    for isa in ("scalar", "avx2", "avx512"):
        try:
            sc.Session(act_model("Relu", [4]).SerializeToString(), isa=isa).close()
            out.append(isa)
        except sc.SinterError:
            break
    return out


def gconv_model(N, Cg, Mg, G, H, W, k, s, d, pads, bias, act):
    C, M = Cg * G, Mg * G
    inits = [numpy_helper.from_array(rng.standard_normal((M, Cg, k, k)).astype(np.float32) * 0.3, "w")]
    ins = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(M).astype(np.float32), "b"))
        ins.append("b")
    nodes = [helper.make_node("Conv", ins, ["c"], group=G, kernel_shape=[k, k], strides=[s, s], dilations=[d, d],
                              pads=pads)]
    nodes.append(helper.make_node(act, ["c"], ["y"]))
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, C, H, W])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits, opset=17)


def act_model(op, shape, **attrs):
    nodes = [helper.make_node(op, ["x"], ["y"], **attrs)]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], opset=17)


def main():
    levels = isas()
    # N, Cg, Mg, G, H, W, k, s, d, pads (t, l, b, r)
    cases = [(1, 8, 8, 6, 14, 14, 3, 1, 1, [1, 1, 1, 1]), (3, 4, 4, 4, 9, 17, 3, 2, 1, [1, 1, 1, 1]),
             (1, 2, 3, 5, 5, 1, 1, 1, 1, [0, 0, 0, 0]), (1, 16, 16, 2, 7, 7, 3, 1, 1, [1, 1, 1, 1]),
             (1, 3, 5, 4, 11, 13, 5, 1, 2, [2, 1, 0, 3]), (1, 8, 16, 3, 10, 70, 3, 2, 1, [0, 1, 1, 0]),
             (1, 32, 32, 2, 6, 6, 3, 1, 1, [1, 1, 1, 1]), (2, 24, 24, 3, 9, 10, 3, 1, 1, [1, 1, 1, 1]),
             (1, 12, 16, 4, 8, 15, 3, 2, 1, [1, 0, 1, 1]), (1, 16, 16, 5, 14, 14, 3, 2, 1, [1, 1, 1, 1])]
    for i, (N, Cg, Mg, G, H, W, k, s, d, pads) in enumerate(cases):
        for bias, act in ((True, "Relu"), (False, "HardSwish")):
            model = gconv_model(N, Cg, Mg, G, H, W, k, s, d, pads, bias, act).SerializeToString()
            x = rng.standard_normal((N, Cg * G, H, W)).astype(np.float32)
            want = ort_outputs(model, {"x": x})[0]
            scale = float(np.max(np.abs(want))) or 1.0
            for isa in levels:
                for threads in (1, 2):
                    got = sinter_outputs(model, {"x": x}, isa=isa, threads=threads)[0]
                    err = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
                    check(f"grouped conv case {i} ({Cg}->{Mg} x {G}, k{k} s{s} d{d}, {act}) {isa} t{threads}",
                          err <= 1e-5 * scale, f"max |err| {err:.3g}, scale {scale:.3g}, shape {got.shape}")
    x = rng.standard_normal(1037).astype(np.float32) * 5
    x[[0, 17, 500]] = [np.nan, np.inf, -np.inf]
    for op, attrs in (("HardSwish", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("LeakyRelu", {"alpha": 0.07})):
        model = act_model(op, [1037], **attrs).SerializeToString()
        want = ort_outputs(model, {"x": x})[0]
        outs = [sinter_outputs(model, {"x": x}, isa=isa)[0] for isa in levels]
        same = all(np.array_equal(o, outs[0], equal_nan=True) for o in outs)
        ok = np.allclose(outs[0], want, rtol=1e-6, atol=1e-6, equal_nan=True)
        with np.errstate(invalid="ignore"):
            err = float(np.nanmax(np.abs(outs[0] - want)))
        check(f"{op}: equal at every ISA ({', '.join(levels)}) and to ORT (NaN and inf included)", same and ok,
              f"ISA levels agree {same}; max |err| {err:.3g}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
