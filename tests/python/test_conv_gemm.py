"""Blocked convolutions on small maps run as one GEMM (ops/nchwc.c, conv_gemm), against ONNX Runtime:
  * group-1 Conv with bias or not, a residual Add or not, and Relu / Clip / HardSigmoid / Sigmoid after
    it (fused into the blocked convolution: bias, residual and activation in the GEMM's epilogue), 1x1 /
    3x3 / 5x5 kernels, strides 1 and 2, dilation 2, asymmetric pads, channel counts off the block
    (24 -> 40), batch 1 to 3, on 1 and 2 threads, at the ISA levels with the blocked layout (AVX2 block 8,
    AVX-512 block 16), with the path forced on every such layer (SINTER_CONV_GEMM=2), by default, and off;
  * by default the path is taken where its heuristic says (a 512-channel 3x3 layer on a 7x7 map, 9.4 MB of
    weights: `sinter profile` names the GEMM kernel for it) and not on a small layer.

    SINTER_BUILD=build .venv/bin/python tests/python/test_conv_gemm.py

Prints "N passed, M failed"; exits 1 on any failure.
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import sinter_ctypes as sc
from testlib import check, finish, isa_level, make_model, ort_outputs, sinter_outputs, sinter_profile

rng = np.random.default_rng(5)


def conv_model(N, C, M, H, W, k, s, d, pads, bias, res, act):
    inits = [numpy_helper.from_array((rng.standard_normal((M, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32), "w")]
    ins = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(M).astype(np.float32), "b"))
        ins.append("b")
    nodes = [helper.make_node("Conv", ins, ["c"], kernel_shape=[k, k], strides=[s, s], dilations=[d, d], pads=pads,
                              name="conv")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, C, H, W])]
    cur = "c"
    if res:
        oh = (H + pads[0] + pads[2] - d * (k - 1) - 1) // s + 1
        ow = (W + pads[1] + pads[3] - d * (k - 1) - 1) // s + 1
        inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, [N, M, oh, ow]))
        nodes.append(helper.make_node("Add", ["c", "r"], ["a"]))
        cur = "a"
    if act == "Clip":
        inits += [numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
                  numpy_helper.from_array(np.array(6.0, np.float32), "hi")]
        nodes.append(helper.make_node("Clip", [cur, "lo", "hi"], ["y"]))
    elif act == "HardSigmoid":
        nodes.append(helper.make_node("HardSigmoid", [cur], ["y"], alpha=0.3, beta=0.4))
    else:
        nodes.append(helper.make_node(act, [cur], ["y"]))
    return make_model(nodes, inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits, opset=17)


def levels():
    top = isa_level()
    return [i for i in ("avx2", "avx512") if top == "avx512" or (top == "avx2" and i == "avx2")]


def run(model, feeds, mode, **session):
    if mode is None:
        os.environ.pop("SINTER_CONV_GEMM", None)
    else:
        os.environ["SINTER_CONV_GEMM"] = mode
    try:
        return sinter_outputs(model, feeds, **session)[0]
    finally:
        os.environ.pop("SINTER_CONV_GEMM", None)


def main():
    isas = levels()
    if not isas:
        check("the blocked layout needs AVX2: nothing to compare here", True)
        return finish()
    # N, C, M, H, W, k, s, d, pads (t, l, b, r), bias, residual, activation
    cases = [(1, 512, 512, 7, 7, 3, 1, 1, [1, 1, 1, 1], True, False, "Relu"),
             (1, 256, 512, 14, 14, 1, 2, 1, [0, 0, 0, 0], True, True, "Relu"),
             (2, 24, 40, 5, 6, 3, 2, 1, [1, 0, 1, 2], True, True, "Clip"),
             (1, 16, 48, 4, 4, 1, 1, 1, [0, 0, 0, 0], False, True, "HardSigmoid"),
             (3, 32, 20, 7, 7, 5, 1, 1, [2, 2, 2, 2], True, False, "Sigmoid"),
             (1, 64, 64, 8, 8, 3, 1, 2, [2, 2, 2, 2], True, True, "Relu")]
    for i, (N, C, M, H, W, k, s, d, pads, bias, res, act) in enumerate(cases):
        model = conv_model(N, C, M, H, W, k, s, d, pads, bias, res, act).SerializeToString()
        feeds = {"x": rng.standard_normal((N, C, H, W)).astype(np.float32)}
        if res:
            oh = (H + pads[0] + pads[2] - d * (k - 1) - 1) // s + 1
            ow = (W + pads[1] + pads[3] - d * (k - 1) - 1) // s + 1
            feeds["r"] = rng.standard_normal((N, M, oh, ow)).astype(np.float32)
        want = ort_outputs(model, feeds)[0]
        scale = float(np.max(np.abs(want))) or 1.0
        for isa in isas:
            for threads in (1, 2):
                for mode in ("2", None, "0"):
                    got = run(model, feeds, mode, isa=isa, threads=threads)
                    err = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
                    check(f"conv case {i} ({C}->{M} {H}x{W} k{k} s{s} d{d}, bias {bias}, residual {res}, {act}) "
                          f"{isa} t{threads} SINTER_CONV_GEMM={mode}", err <= 2e-5 * scale,
                          f"max |err| {err:.3g}, scale {scale:.3g}, shape {got.shape}")
    # which layers take it by default
    if "avx512" in isas:
        for i, want_gemm in ((0, True), (2, False)):
            N, C, M, H, W, k, s, d, pads, bias, res, act = cases[i]
            model = conv_model(N, C, M, H, W, k, s, d, pads, bias, res, act)
            r, prof, _ = sinter_profile(model, f"conv{i}", ("--runs", "2", "--warmup", "1"))
            kernel = prof.nodes.get("conv", {}).get("kernel", "") if prof else ""
            if not kernel and prof:  # the fused node keeps the Conv's name or takes the last one's
                kernel = next((v["kernel"] for v in prof.nodes.values() if v["op"] == "NchwcConv"), "")
            check(f"conv case {i} by default runs {'the GEMM' if want_gemm else 'the direct blocked kernel'}",
                  kernel.startswith("f32_gemm") == want_gemm, kernel or r.stdout[-400:])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
