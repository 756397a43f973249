"""`sinter profile` tells the truth per node: the kernel that ran and the operations it did.

Small models whose operation counts follow from their shapes (a multiply-add counts 2, integer or
float): INT8 (QLinearConv, a depthwise QLinearConv, QLinearMatMul, MatMulInteger), float32
convolutions that run as Winograd and as direct blocked kernels (counted in their direct form), and
MatMuls under --precision bf16 (a thin one too reads its constant weight's bf16 copy). For each named node
the trace's "ops" must equal 2 * MACs computed here, the table's GFLOP/s must agree with ops / mean
time, and the kernel column must name what the dispatch rules say runs at the ISA level of the run
(SINTER_ISA caps it in CI: avx512 with VNNI / BF16 when the CPU has them, avx2, scalar).

    SINTER_BUILD=build python3 tests/python/test_profile_kernels.py

Prints "N passed, M failed"; exits 1 on any failure.
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from testlib import bf16_mode, check, cpu_flags, fail, finish, make_model, sinter_profile


def profile(model, name, extra=()):
    """Runs sinter profile; returns (header ISA, INT8 GEMM name or None, the report, {node: [ops, kernel,
    GFLOP/s, (mean s, its relative rounding), int8]})."""
    r, prof, events = sinter_profile(model, name, ["--runs", "3", "--warmup", "1", "--threads", "1", "--top", "1000",
                                                   *extra])
    check(f"{name}: sinter profile exits 0", r.returncode == 0, r.stderr.strip())
    if r.returncode != 0:
        return None
    if prof.isa is None:
        fail(f"{name}: the header names the ISA", r.stdout[:400])
        return None
    nodes = {}
    for e in events:
        if e.get("ph") == "X" and e.get("tid") == 1:
            nodes[e["name"]] = [e["args"]["ops"], e["args"]["kernel"], None, None, e["args"]["int8"]]
    for name_, row in prof.nodes.items():
        if name_ in nodes:
            nodes[name_][2] = row["gflops"]
            # the mean as printed, and the most its rounding may have moved it
            nodes[name_][3] = (row["mean_s"], row["mean_rounding"])
    return prof.isa, prof.int8_gemm, r.stdout, nodes


def expect_node(tag, nodes, node, macs, kernel_ok, kernel_what, integer):
    if node not in nodes:
        check(f"{tag}: node {node} in the trace", False, str(sorted(nodes)))
        return
    ops, kernel, gflops, mean, int8 = nodes[node]
    check(f"{tag}: {node} counts 2 x {macs} MACs", ops == 2 * macs, f"{ops} vs {2 * macs}")
    check(f"{tag}: {node} int8 flag", int8 == integer, str(int8))
    check(f"{tag}: {node} runs {kernel_what}", kernel_ok(kernel), kernel)
    if gflops is None or not mean:
        check(f"{tag}: {node} in the slowest-nodes table", False)
        return
    mean, rel = mean
    want = 2 * macs / mean * 1e-9
    # within the rounding of the printed mean (relative) and of the printed GFLOP/s (2 decimals)
    check(f"{tag}: {node} GFLOP/s = ops / mean time", abs(gflops - want) <= (rel * 1.01 + 1e-4) * want + 0.006,
          f"{gflops} vs {want:.3f}")


def init(name, arr):
    return numpy_helper.from_array(arr, name)


def scalar(name, v, dt):
    return numpy_helper.from_array(np.array(v, dtype=dt), name)


def int8_model():
    rng = np.random.default_rng(0)
    inits = [scalar("xs", 0.05, np.float32), scalar("xz", 128, np.uint8), scalar("ws", 0.02, np.float32),
             scalar("wz", 0, np.int8), scalar("ys", 0.1, np.float32), scalar("yz", 128, np.uint8),
             init("w1", rng.integers(-60, 60, (32, 16, 3, 3), dtype=np.int8)),
             init("w2", rng.integers(-60, 60, (32, 1, 3, 3), dtype=np.int8)),
             init("b", rng.integers(-60, 60, (96, 80), dtype=np.int8))]
    nodes = [
        helper.make_node("QLinearConv", ["x", "xs", "xz", "w1", "ws", "wz", "ys", "yz"], ["c1"], name="qconv3x3",
                         pads=[1, 1, 1, 1]),
        helper.make_node("QLinearConv", ["c1", "ys", "yz", "w2", "ws", "wz", "ys", "yz"], ["c2"], name="qdwconv",
                         pads=[1, 1, 1, 1], group=32),
        helper.make_node("QLinearMatMul", ["a", "xs", "xz", "b", "ws", "wz", "ys", "yz"], ["m1"], name="qmatmul"),
        helper.make_node("MatMulInteger", ["a", "b", "xz", "wz"], ["m2"], name="matmulinteger"),
    ]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 16, 20, 20]),
                              helper.make_tensor_value_info("a", TensorProto.UINT8, [64, 96])],
                      [helper.make_tensor_value_info("c2", TensorProto.UINT8, [1, 32, 20, 20]),
                       helper.make_tensor_value_info("m1", TensorProto.UINT8, [64, 80]),
                       helper.make_tensor_value_info("m2", TensorProto.INT32, [64, 80])], inits, ir=None, name="int8")


def float_model(matmuls=False):
    rng = np.random.default_rng(1)
    f = np.float32
    inits = [init("w3", (rng.standard_normal((32, 32, 3, 3)) * 0.1).astype(f)),
             init("w1", (rng.standard_normal((48, 32, 1, 1)) * 0.1).astype(f))]
    nodes = [helper.make_node("Conv", ["x", "w3"], ["c3"], name="conv3x3", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c3"], ["r3"], name="relu"),
             helper.make_node("Conv", ["r3", "w1"], ["y"], name="conv1x1")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 28, 28])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 48, 28, 28])]
    if matmuls:
        inits.append(init("wm", (rng.standard_normal((128, 96)) * 0.1).astype(f)))
        nodes += [helper.make_node("MatMul", ["a", "wm"], ["ma"], name="matmul_wide"),
                  helper.make_node("MatMul", ["t", "wm"], ["mt"], name="matmul_thin")]
        inputs += [helper.make_tensor_value_info("a", TensorProto.FLOAT, [64, 128]),
                   helper.make_tensor_value_info("t", TensorProto.FLOAT, [4, 128])]
        outputs += [helper.make_tensor_value_info("ma", TensorProto.FLOAT, [64, 96]),
                    helper.make_tensor_value_info("mt", TensorProto.FLOAT, [4, 96])]
    return make_model(nodes, inputs, outputs, inits, ir=None, name="float")


def main():
    flags = cpu_flags()

    res = profile(int8_model(), "int8")
    if res:
        isa, qgemm, out, nodes = res
        vnni = isa == "avx512" and "avx512_vnni" in flags
        cap = os.environ.get("SINTER_ISA", "auto") or "auto"
        amx = vnni and "amx_int8" in flags and "amx_tile" in flags and cap in ("auto", "amx")
        want_gemm = "i8_gemm_32x32_amx" if amx else "i8_gemm_6x64_avx512vnni" if vnni else "i8_gemm_1x16_ref"
        check("int8: header names the INT8 GEMM of this ISA", qgemm == want_gemm, f"{qgemm} at {isa}")
        check("int8: header counts INT8 operations", "of it INT8" in out)
        tag = f"int8 ({isa})"
        expect_node(tag, nodes, "qconv3x3", 32 * 20 * 20 * 16 * 9, lambda k: k == want_gemm, want_gemm, True)
        # s8 taps on 32 channels: the channel-minor quad kernel where the CPU has VBMI and VNNI
        dw_isa = ("avx512vbmi" if vnni and "avx512vbmi" in flags else "avx512vnni" if vnni
                  else "avx512" if isa == "avx512" else "ref")
        expect_node(tag, nodes, "qdwconv", 32 * 20 * 20 * 9, lambda k: k.startswith("i8_dwconv") and k.endswith(dw_isa),
                    f"the INT8 depthwise kernel ({dw_isa})", True)
        expect_node(tag, nodes, "qmatmul", 64 * 80 * 96, lambda k: k == want_gemm, want_gemm, True)
        expect_node(tag, nodes, "matmulinteger", 64 * 80 * 96, lambda k: k == want_gemm, want_gemm, True)
        check("int8: no float GEMM claimed for INT8 nodes",
              all(not nodes[n][1].startswith("f32") for n in ("qconv3x3", "qdwconv", "qmatmul") if n in nodes))

    res = profile(float_model(), "float")
    if res:
        isa, _, out, nodes = res
        tag = f"float ({isa})"
        conv3, conv1 = 32 * 28 * 28 * 32 * 9, 48 * 28 * 28 * 32
        if isa == "scalar":  # no blocked layout: im2col + the portable GEMM
            expect_node(tag, nodes, "conv3x3", conv3, lambda k: k.startswith("f32_gemm") and "_ref" in k,
                        "the portable GEMM", False)
        else:
            suffix = "avx512" if isa == "avx512" else "avx2"
            expect_node(tag, nodes, "conv3x3", conv3, lambda k: "_wino4x4_" in k and k.split("+")[0].endswith(suffix),
                        f"Winograd ({suffix}), counted as the direct convolution", False)
            expect_node(tag, nodes, "conv1x1", conv1, lambda k: k.endswith("_conv_" + suffix) and "nchwc" in k,
                        f"the direct blocked convolution ({suffix})", False)

    res = profile(float_model(matmuls=True), "bf16", ["--precision", "bf16"])
    if res:
        isa, _, out, nodes = res
        mode = bf16_mode(isa)
        bf16 = mode is not None
        tag = f"bf16 ({isa}, bf16 {mode or 'off'})"
        if mode == "amx":
            # GEMMs and NCHWc convolutions on AMX tiles; a product of fewer than 8 rows (SN_BF16_AMX_MIN_ROWS)
            # stays float32 on Intel's cores, where the vector bf16 kernel is no faster (runtime/cpu.h)
            wide, thin, conv = "bf16_gemm_32x32_amx", "f32_gemm_smallM_avx512", "nchwc_conv_bf16_amx"
        elif bf16:
            # (a thin product against a constant weight reads the weight's bf16 copy too)
            wide, thin, conv = "bf16_gemm_6x64_avx512bf16", "bf16_gemm_6x64_avx512bf16", "nchwc_conv_bf16_avx512bf16"
        elif isa == "avx512":
            wide, thin, conv = "f32_gemm_14x32_avx512", "f32_gemm_smallM_avx512", "f32_nchwc16_conv_avx512"
        elif isa == "avx2":
            wide, thin, conv = "f32_gemm_6x16_avx2", "f32_gemm_smallM_avx2", "f32_nchwc8_conv_avx2"
        else:
            wide = thin = conv = "f32_gemm_4x16_ref"
        expect_node(tag, nodes, "matmul_wide", 64 * 96 * 128, lambda k: k == wide, wide, False)
        expect_node(tag, nodes, "matmul_thin", 4 * 96 * 128, lambda k: k == thin,
                    thin + (" (the constant weight's bf16 copy)" if mode == "vector" else " (thin products stay float32)"),
                    False)
        expect_node(tag, nodes, "conv1x1", 48 * 28 * 28 * 32, lambda k: k == conv, conv, False)
        if mode == "vector":  # the 3x3 layer: bf16 direct, or Winograd with bf16 GEMMs on its transformed points
            expect_node(tag, nodes, "conv3x3", 32 * 28 * 28 * 32 * 9,
                        lambda k: k == conv or ("_wino4x4_" in k and k.endswith("+" + wide)), "in bf16", False)

    return finish()


if __name__ == "__main__":
    sys.exit(main())
