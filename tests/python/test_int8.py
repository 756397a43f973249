"""INT8 and BF16 execution on the digits classifier (models/digits):
  - held-out accuracy of Sinter's static INT8 model and of --precision bf16 within 0.5 points of
    float32 (calibration: the first half of test_images.npy; held out: the second half);
  - ISA independence: INT8 outputs bit-identical at ISA scalar, avx2 and avx512 (Sinter's static and
    dynamic models, ONNX Runtime's QDQ and QOperator models);
  - QDQ fusion on (-O3) vs off (-O1): the fused graph holds the integer ops and no float Conv/Gemm,
    and gives the same classes with logits within a few quantization steps; the dynamic fusion is
    exact;
  - models made by onnxruntime.quantization.quantize_static (QDQ and QOperator, with com.microsoft
    QGemm; QDQ with its com.microsoft QuantizeLinear / DequantizeLinear, 8-bit and 16-bit
    activations) run in Sinter and match ONNX Runtime;
  - bf16 logits close to float32;
  - QLinearConv / QLinearMatMul through the INT8 GEMM equal to ONNX Runtime on awkward shapes (u8 and
    s8 activations, zero points, padding, strides, dilation, groups, depthwise, 1x1, odd sizes);
  - a MobileNetV2 / EfficientNet-style QDQ block (depthwise, SiLU, Relu6, squeeze-excitation) fused
    and matching ORT, the unfused graph and itself at every ISA level;
  - DQ -> MaxPool -> Q pooled on the 8-bit map, equal to ORT; DQ -> Reshape / Transpose / Slice /
    Gather / Concat / ... -> Q with equal parameters run on the 8-bit tensor (different ones kept);
  - DQ -> Add / Sub / Mul / Div of a float constant over the trailing axes -> Q as one QDQBinary, and
    8-bit elementwise ops of one value composed into one lookup table, the unfused bytes;
  - an encoder layer quantized by ORT's quantize_static: Softmax, LayerNormalization, bias Adds, the
    GELU and the head Reshape / Transpose with no float tensor between integer ops, the unfused bytes
    at every ISA level and within two steps of ORT;
  - DequantizeLinear per axis (every axis, int8 and uint8, with and without zero points) exact; an
    8-bit weight of a float Conv folded to float32 at load, a MatMul's kept 8-bit, both equal to ORT;
  - the QOperator format's QLinearSigmoid, QLinearLeakyRelu, QLinearAveragePool and QLinearWhere
    equal to ORT within one step;
  - quantize_dynamic's bias Adds (an Identity(initializer) bias too) folded into DynamicQuantizeMatMul;
  - residual QLinearAdds fused into the convolutions' epilogues, equal to ORT;
  - a ResNet-style chain of 8-bit convolutions run channels-last, equal to ORT and to the NCHW run.

Plain python: prints "N passed, M failed", exits non-zero on failure. SINTER_BUILD names the build
folder (default <repo>/build)."""
import math
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import sinter_ctypes
from digits import CAL, HELD, MODEL, accuracy, ort_logits, sinter_logits
from testlib import (bf16_mode, calibration_dir, calibration_reader, check, finish, make_model, ort_outputs,
                     rel_err, require_sinter, run_cli, save, set_verbose, sinter_outputs)

set_verbose(True)


def digits_reader():
    return calibration_reader({"image": CAL[i:i + 1]} for i in range(len(CAL)))


def one_node(tmp, name, node, inputs, out_type, inits=(), opset=13, domains=None):
    """a model of one node with output y (of out_type, shape unknown), saved as tmp/name.onnx: its path"""
    y = helper.make_tensor_value_info("y", out_type, None)
    return save(make_model([node], inputs, [y], inits, opset=opset, domains=domains), tmp, name)


def ort_and_sinter(path, feeds, runs):
    """ONNX Runtime's first output, and Sinter's at each (isa, threads) of runs"""
    return ort_outputs(path, feeds)[0], [sinter_outputs(path, feeds, threads=t, isa=isa)[0] for isa, t in runs]


def ops_after_optimize(path, tmp):
    out = os.path.join(tmp, "opt_" + os.path.basename(path))
    r = run_cli("optimize", path, out)
    if r.returncode:
        return None, r.stderr
    m = onnx.load(out)
    return [(n.domain, n.op_type) for n in m.graph.node], ""


def ort_qdq(tmp, name, m, xs):
    """Save the float model m, quantize it with ONNX Runtime's quantize_static (QDQ, per-channel, u8
    activations, s8 weights; calibration on xs[:-1]) and run it on xs[-1] in ONNX Runtime and in Sinter
    at every ISA level. Returns (path of the QDQ model, ORT's output, {isa: Sinter's output})."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    m.ir_version = 8
    fp = save(m, tmp, name)
    qp = os.path.join(tmp, name + "_qdq.onnx")
    quantize_static(fp, qp, calibration_reader({"x": x} for x in xs[:-1]), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    isas = ("scalar", "avx2", "avx512")
    ref, outs = ort_and_sinter(qp, {"x": xs[-1]}, [(isa, 2) for isa in isas])
    return qp, ref, dict(zip(isas, outs))


def check_same_and_ort(tag, ref, outs):
    """Sinter's outputs {isa: output} bit-identical at every ISA level and equal to ONNX Runtime's ref"""
    check(f"{tag}: bit-identical at scalar/avx2/avx512", all(np.array_equal(outs["scalar"], o) for o in outs.values()))
    d = float(np.abs(outs["avx512"] - ref).max())
    check(f"{tag}: Sinter == ORT", d == 0.0, f"max diff {d:.3g}")


def qlinear_cases(tmp):
    from onnx import TensorProto as T, helper, numpy_helper as nh
    rng = np.random.default_rng(7)
    convs = [  # C, M, H, W, k, pad, stride, dil, group
        (16, 32, 12, 12, 3, 1, 1, 1, 1), (3, 8, 9, 11, 3, 0, 2, 1, 1), (64, 64, 7, 7, 1, 0, 1, 1, 1),
        (5, 7, 11, 13, 3, 1, 2, 1, 1), (3, 16, 23, 23, 7, 3, 2, 1, 1), (8, 12, 10, 9, 3, 2, 1, 2, 1),
        (12, 12, 8, 8, 3, 1, 1, 1, 4), (1, 1, 1, 1, 1, 0, 1, 1, 1), (17, 5, 5, 6, 2, 0, 1, 1, 1),
        # depthwise (kernels/qdwconv.h): 3x3 / 5x5, stride 2, dilation, depth multiplier 2, wide rows
        (17, 17, 13, 11, 3, 1, 1, 1, 17), (32, 32, 14, 14, 3, 1, 2, 1, 32), (3, 6, 9, 9, 5, 2, 2, 1, 3),
        (100, 100, 7, 7, 3, 1, 1, 1, 100), (5, 5, 20, 19, 3, 2, 1, 2, 5), (16, 16, 9, 70, 5, 2, 1, 1, 16),
        # strided and dilated through the phase-split padded copy
        (6, 10, 17, 19, 3, 1, 3, 1, 1), (4, 8, 15, 30, 3, 2, 2, 2, 2), (7, 9, 12, 40, 1, 0, 2, 1, 1),
        # positions x channels (ops/qlinear.c, SN_QFORM_T: sums of 256 or more on small maps): 1x1 on
        # 7x7, 1x1 stride 2; with fewer than 16 channels per group, 5x5 from planes of at most 256 bytes
        # (per-tap VBMI tables, stride 1 and 2) and on 20x20 (padded phase planes)
        (300, 70, 7, 7, 1, 0, 1, 1, 1), (260, 16, 14, 14, 1, 0, 2, 1, 1), (12, 20, 9, 9, 5, 2, 1, 1, 1),
        (12, 20, 14, 14, 5, 2, 2, 1, 1), (12, 13, 20, 20, 5, 2, 3, 1, 1),
        # positions x channels from NHWC (SN_QFORM_NHWC: k x k, 16+ channels): rows read in place (C % 4
        # == 0), 3x3 stride 2 on 14x14, a single output position; rows copied (29 channels)
        (32, 64, 14, 14, 3, 1, 2, 1, 1), (40, 16, 3, 3, 3, 0, 1, 1, 1), (29, 20, 14, 14, 3, 1, 1, 1, 1)]
    for xdt in (T.UINT8, T.INT8):
        npx = np.int8 if xdt == T.INT8 else np.uint8
        lo, hi = (-128, 128) if xdt == T.INT8 else (0, 256)
        for (C, M, H, W, k, pad, stride, dil, group) in convs:
            wzs = [np.zeros(M, np.int8)]
            if group == C and C > 1:  # depthwise: per-channel and per-tensor weight zero points too
                wzs += [rng.integers(-6, 7, M).astype(np.int8), np.array(3, np.int8)]
            # u8 weights with a zero point (the rank-1 correction of the x sums): u8 activations only,
            # ORT has no s8 x u8 QLinearConv
            cases = [(xz, False, wzs[0]) for xz in ((0 if xdt == T.INT8 else 128), 5)]
            cases += [(5, True, None)] if xdt == T.UINT8 else []
            cases += [(7, False, z) for z in wzs[1:]]
            for xz, wu8, wzv in cases:
                x = rng.integers(lo, hi, (2, C, H, W)).astype(npx)
                w = (rng.integers(0, 256, (M, C // group, k, k)).astype(np.uint8) if wu8 else
                     rng.integers(-127, 128, (M, C // group, k, k)).astype(np.int8))
                wz = np.array(119, np.uint8) if wu8 else wzv
                inits = [nh.from_array(np.array(0.05, np.float32), "xs"), nh.from_array(np.array(xz, npx), "xz"),
                         nh.from_array(w, "w"), nh.from_array(rng.uniform(0.001, 0.01, M).astype(np.float32), "ws"),
                         nh.from_array(wz, "wz"), nh.from_array(np.array(2.0, np.float32), "ys"),
                         nh.from_array(np.array(3, npx), "yz"),
                         nh.from_array(rng.integers(-1000, 1000, M).astype(np.int32), "b")]
                node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"],
                                        pads=[pad] * 4, strides=[stride] * 2, dilations=[dil] * 2, group=group)
                path = one_node(tmp, "qlc", node, [helper.make_tensor_value_info("x", xdt, list(x.shape))], xdt, inits)
                ref, outs = ort_and_sinter(path, {"x": x}, (("scalar", 2), ("avx512", 2)))
                ok = all(np.array_equal(o, ref) for o in outs)
                check(f"QLinearConv {'s8' if xdt == T.INT8 else 'u8'} C{C} M{M} {H}x{W} k{k} p{pad} s{stride} d{dil} "
                      f"g{group} xz{xz} wz{np.asarray(wz).ravel()[:2]}{' (u8 w)' if wu8 else ''} == ORT", ok,
                      "" if ok else f"{int(max((o != ref).sum() for o in outs))} of {ref.size} differ")
        for (M, K, N) in ((1, 1, 1), (7, 33, 17), (128, 256, 65), (3, 1000, 129)):
            for bz in (0, 7):
                a = rng.integers(lo, hi, (2, M, K)).astype(npx)
                b = rng.integers(-128, 128, (K, N)).astype(np.int8)
                inits = [nh.from_array(np.array(0.02, np.float32), "as"), nh.from_array(np.array(9, npx), "az"),
                         nh.from_array(b, "b"), nh.from_array(rng.uniform(0.001, 0.01, N).astype(np.float32), "bs"),
                         nh.from_array(np.full(N, bz, np.int8), "bz"), nh.from_array(np.array(1.5, np.float32), "ys"),
                         nh.from_array(np.array(-2 if xdt == T.INT8 else 100, npx), "yz")]
                node = helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])
                path = one_node(tmp, "qlm", node, [helper.make_tensor_value_info("a", xdt, list(a.shape))], xdt, inits)
                ref, outs = ort_and_sinter(path, {"a": a}, (("scalar", 2), ("avx512", 2)))
                diff = max(int(np.abs(o.astype(int) - ref.astype(int)).max()) for o in outs)
                same = np.array_equal(outs[0], outs[1])
                # ORT rounds the requantization in its own order: at most one step apart, rarely
                check(f"QLinearMatMul {'s8' if xdt == T.INT8 else 'u8'} {M}x{K}x{N} bz{bz} vs ORT", same and diff <= 1,
                      f"max diff {diff}, scalar == avx512: {same}")


def dq_axis_cases(tmp):
    """DequantizeLinear per axis (an activation input, not folded): every axis of a [5, 7, 19] tensor
    (the last gives rows of one element per channel), int8 / uint8, with and without zero points, at
    one and two threads: exactly (x - zp) * scale in float32"""
    rng = np.random.default_rng(11)
    for dt, npt in ((TensorProto.INT8, np.int8), (TensorProto.UINT8, np.uint8)):
        info = np.iinfo(npt)
        x = rng.integers(info.min, info.max + 1, (5, 7, 19)).astype(npt)
        for axis in (0, 1, -1):
            n = x.shape[axis]
            scale = (rng.random(n).astype(np.float32) * 0.1 + 1e-3).astype(np.float32)
            for with_zp in (False, True):
                zp = rng.integers(info.min, info.max + 1, n).astype(npt)
                inits = [numpy_helper.from_array(scale, "s")] + ([numpy_helper.from_array(zp, "z")] if with_zp else [])
                node = helper.make_node("DequantizeLinear", ["x", "s"] + (["z"] if with_zp else []), ["y"], axis=axis)
                path = one_node(tmp, f"dq_axis_{dt}_{axis}_{with_zp}", node,
                                [helper.make_tensor_value_info("x", dt, list(x.shape))], TensorProto.FLOAT, inits)
                shape = [1, 1, 1]
                shape[axis] = n
                z = (zp.astype(np.int32) if with_zp else np.zeros(n, np.int32)).reshape(shape)
                want = (x.astype(np.int32) - z).astype(np.float32) * scale.reshape(shape)
                for t in (1, 2):
                    got = sinter_outputs(path, {"x": x}, threads=t)[0]
                    check(f"DequantizeLinear {npt.__name__} axis {axis} zp {with_zp} t{t}: exact",
                          got.dtype == np.float32 and np.array_equal(got, want),
                          f"max diff {float(np.max(np.abs(got - want))):.3g}")


def dq_gather_cases(tmp):
    """DequantizeLinear of a constant 8-bit table read by a Gather (an embedding quantized by ONNX
    Runtime's quantize_static) becomes Gather then DequantizeLinear: per tensor and per axis, the
    gathered axis first or not, indices of rank 0 to 2, negative ones too; exactly (q - zp) * scale of
    the rows read, as ONNX Runtime computes the graph as written; refused where the scale is per the
    gathered axis"""
    rng = np.random.default_rng(13)
    for dt, npt in ((TensorProto.INT8, np.int8), (TensorProto.UINT8, np.uint8)):
        info = np.iinfo(npt)
        w = rng.integers(info.min, info.max + 1, (300, 6, 40)).astype(npt)
        for axis, dq_axis, idx_shape in ((0, None, (2, 9)), (0, 1, (9,)), (0, -1, ()), (1, 2, (3, 4)),
                                         (2, 0, (5,)), (1, 1, (4,))):
            n = 1 if dq_axis is None else w.shape[dq_axis]
            scale = (rng.random(n).astype(np.float32) * 0.1 + 1e-3).astype(np.float32)
            zp = rng.integers(info.min, info.max + 1, n).astype(npt)
            if dq_axis is None:
                scale, zp = scale.reshape(()), zp.reshape(())
            inits = [numpy_helper.from_array(w, "w8"), numpy_helper.from_array(scale, "s"),
                     numpy_helper.from_array(zp, "z")]
            nodes = [helper.make_node("DequantizeLinear", ["w8", "s", "z"], ["wf"],
                                      **({} if dq_axis is None else {"axis": dq_axis})),
                     helper.make_node("Gather", ["wf", "idx"], ["g"], axis=axis),
                     helper.make_node("Relu", ["g"], ["y"])]
            idx = rng.integers(-w.shape[axis], w.shape[axis], idx_shape).astype(np.int64)
            model = make_model(nodes, [helper.make_tensor_value_info("idx", TensorProto.INT64, list(idx_shape))],
                               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits, opset=13)
            name = f"dq_gather_{npt.__name__}_{axis}_{dq_axis}_{len(idx_shape)}"
            path = save(model, tmp, name)
            ops, err = ops_after_optimize(path, tmp)
            order = [o[1] for o in (ops or []) if o[1] in ("Gather", "DequantizeLinear")]
            swapped = dq_axis is None or (dq_axis % 3) != axis
            # (kept: the table is small enough to be folded to float32 at load, or stays before the Gather)
            check(f"{name}: {'Gather before DequantizeLinear' if swapped else 'kept (scale per the gathered axis)'}",
                  order == ["Gather", "DequantizeLinear"] if swapped
                  else order in (["DequantizeLinear", "Gather"], ["Gather"]), f"{ops} {err}")
            import onnxruntime as ort
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            want = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"idx": idx})[0]
            for t in (1, 2):
                got = sinter_outputs(path, {"idx": idx}, threads=t)[0]
                check(f"{name} t{t}: equal to ONNX Runtime", got.shape == want.shape and np.array_equal(got, want),
                      f"shape {got.shape} vs {want.shape}")


def lookup_chain_cases(tmp):
    """QuantizeLinear of a chain of elementwise float ops on DQ(a) (ONNX Runtime's QDQ BERT quantizes
    x / sqrt(2) -> Erf as one such chain, its scalar a Constant node) becomes one 256-entry lookup:
    the same bytes as the unfused chain (Sinter -O1), within one quantization step of ONNX Runtime;
    chains that must stay: a per-channel (not scalar) operand, an intermediate read twice"""
    rng = np.random.default_rng(14)
    x = rng.standard_normal((3, 8, 32)).astype(np.float32) * 2   # (a multiple of 16 elements)
    sx, zx = np.float32(0.03), np.uint8(128)
    cases = {
        "gelu_erf": ([("Div", "sqrt2")], "Erf", []),
        "tanh_affine": ([("Mul", "c07")], "Tanh", [("Add", "c1")]),
        "exp_clip": ([("Sub", "c1")], "Exp", [("Min", "c3")]),
        "vector_operand": ([("Mul", "vec")], "Sigmoid", []),
        "read_twice": ([("Div", "sqrt2")], "Erf", []),
    }
    for name, (pre, fn, post) in cases.items():
        inits = [numpy_helper.from_array(np.array(sx), "sx"), numpy_helper.from_array(np.array(zx), "zx"),
                 numpy_helper.from_array(np.array(np.float32(0.01)), "sy"),
                 numpy_helper.from_array(np.array(np.uint8(100)), "zy"),
                 numpy_helper.from_array(np.array(np.float32(0.7)), "c07"),
                 numpy_helper.from_array(np.array(np.float32(1.0)), "c1"),
                 numpy_helper.from_array(np.array(np.float32(3.0)), "c3"),
                 numpy_helper.from_array(rng.random(32).astype(np.float32) + 0.5, "vec")]
        nodes = [helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
                 helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xf"]),
                 helper.make_node("Constant", [], ["sqrt2"], value=numpy_helper.from_array(np.array(np.float32(1.4142135)), "k"))]
        v = "xf"
        for k, (op, c) in enumerate(pre):
            nodes.append(helper.make_node(op, [v, c], [f"p{k}"]))
            v = f"p{k}"
        nodes.append(helper.make_node(fn, [v], ["f"]))
        v = "f"
        for k, (op, c) in enumerate(post):
            nodes.append(helper.make_node(op, [v, c], [f"q{k}"]))
            v = f"q{k}"
        nodes += [helper.make_node("QuantizeLinear", [v, "sy", "zy"], ["yq"]),
                  helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"])]
        outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
        if name == "read_twice":
            outs.append(helper.make_tensor_value_info("p0", TensorProto.FLOAT, None))
        model = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))], outs, inits,
                           opset=13)
        path = save(model, tmp, f"lut_{name}")
        ops, err = ops_after_optimize(path, tmp)
        fused = any(o[1] == "QLinearLookup" for o in (ops or []))
        want_fused = name not in ("vector_operand", "read_twice")
        check(f"lookup chain {name}: {'one table' if want_fused else 'left unfused'}", ops is not None and fused == want_fused,
              f"{ops} {err}")
        plain = sinter_outputs(path, {"x": x}, opt_level=1)[0]
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        want = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        for isa, t in (("auto", 1), ("auto", 2), ("scalar", 1)):
            got = sinter_outputs(path, {"x": x}, threads=t, isa=isa)[0]
            steps = float(np.max(np.abs(got - want))) / 0.01
            check(f"lookup chain {name} {isa} t{t}: the unfused bytes, within a step of ORT",
                  np.array_equal(got, plain) and steps <= 1.001, f"{steps:.3g} steps from ORT")


def act_matmul_cases(tmp):
    """DQ(a) x DQ(b) -> MatMul -> QuantizeLinear with both operands activations (attention's products in
    a QDQ encoder) runs as one QLinearMatMul, B packed per run: batched, broadcast, u8 and s8, equal to
    ONNX Runtime (which fuses it the same way), within one step of its unfused float graph"""
    rng = np.random.default_rng(15)
    for adt, an, bdt, bn in ((TensorProto.UINT8, np.uint8, TensorProto.UINT8, np.uint8),
                             (TensorProto.UINT8, np.uint8, TensorProto.INT8, np.int8),
                             (TensorProto.INT8, np.int8, TensorProto.INT8, np.int8)):
        for ashape, bshape in (((2, 3, 17, 24), (2, 3, 24, 19)), ((5, 33, 40), (40, 70)), ((1, 4, 128, 64), (1, 4, 64, 128))):
            a = rng.standard_normal(ashape).astype(np.float32)
            b = rng.standard_normal(bshape).astype(np.float32)
            za = np.array(an(3 if an is np.int8 else 120)); zb = np.array(bn(-2 if bn is np.int8 else 131))
            inits = [numpy_helper.from_array(np.array(np.float32(0.025)), "sa"), numpy_helper.from_array(za, "za"),
                     numpy_helper.from_array(np.array(np.float32(0.02)), "sb"), numpy_helper.from_array(zb, "zb"),
                     numpy_helper.from_array(np.array(np.float32(0.05)), "sy"),
                     numpy_helper.from_array(np.array(np.uint8(110)), "zy")]
            nodes = [helper.make_node("QuantizeLinear", ["a", "sa", "za"], ["aq"]),
                     helper.make_node("DequantizeLinear", ["aq", "sa", "za"], ["af"]),
                     helper.make_node("QuantizeLinear", ["b", "sb", "zb"], ["bq"]),
                     helper.make_node("DequantizeLinear", ["bq", "sb", "zb"], ["bf"]),
                     helper.make_node("MatMul", ["af", "bf"], ["m"]),
                     helper.make_node("QuantizeLinear", ["m", "sy", "zy"], ["yq"]),
                     helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"])]
            model = make_model(nodes, [helper.make_tensor_value_info("a", TensorProto.FLOAT, list(ashape)),
                                       helper.make_tensor_value_info("b", TensorProto.FLOAT, list(bshape))],
                               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits, opset=13)
            name = f"act_mm_{an.__name__}_{bn.__name__}_{len(ashape)}d_{ashape[-1]}"
            path = save(model, tmp, name)
            ops, err = ops_after_optimize(path, tmp)
            check(f"{name}: one QLinearMatMul", ops is not None and ("", "QLinearMatMul") in ops and
                  ("", "MatMul") not in ops, f"{ops} {err}")
            feeds = {"a": a, "b": b}
            import onnxruntime as ort
            want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            flt = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
            for isa, t in (("auto", 1), ("auto", 2), ("scalar", 1)):
                got = sinter_outputs(path, feeds, threads=t, isa=isa)[0]
                check(f"{name} {isa} t{t}: equal to ORT, within a step of the float graph",
                      np.array_equal(got, want) and float(np.max(np.abs(got - flt))) <= 0.05 * 1.001,
                      f"{float(np.max(np.abs(got - want))):.3g} from ORT, {float(np.max(np.abs(got - flt))):.3g} "
                      "from its float graph")


def float_out_epilogue_cases(tmp):
    """An integer product with a float output (DQ(x) x DQ(W) + bias, no QuantizeLinear after it) followed
    by an activation: the activation runs in the product's epilogue (sinter:FusedQLinearMatMul), and the
    result is the exact integer sum, scaled, biased and activated in float32 (numpy in float64 from the
    same int32 sums, within the activation kernels' 1e-6 bound); a product with its own Relu keeps it"""
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 37, 96)).astype(np.float32)
    w8 = rng.integers(-127, 128, (96, 80)).astype(np.int8)
    bias = rng.standard_normal(80).astype(np.float32)
    sx, zx, sw = np.float32(0.02), np.uint8(131), np.float32(0.004)
    for act in ("Gelu", "Tanh", "Relu"):
        inits = [numpy_helper.from_array(np.array(sx), "sx"), numpy_helper.from_array(np.array(zx), "zx"),
                 numpy_helper.from_array(w8, "w8"), numpy_helper.from_array(np.array(sw), "sw"),
                 numpy_helper.from_array(bias, "b")]
        nodes = [helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
                 helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xf"]),
                 helper.make_node("DequantizeLinear", ["w8", "sw"], ["wf"]),
                 helper.make_node("MatMul", ["xf", "wf"], ["m"]),
                 helper.make_node("Add", ["m", "b"], ["a"]),
                 helper.make_node(act, ["a"], ["y"])]
        model = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits, opset=20)
        path = save(model, tmp, f"float_out_{act}")
        ops, err = ops_after_optimize(path, tmp)
        names = [o[1] for o in (ops or [])]
        check(f"QDQ MatMul with a float output -> {act}: one integer product, {act} in an epilogue",
              ops is not None and act not in names and any(n in ("FusedQLinearMatMul", "QLinearMatMul") for n in names),
              f"{ops} {err}")
        xq = np.clip(np.rint(x / sx) + int(zx), 0, 255).astype(np.int64)
        acc = (xq - int(zx)) @ w8.astype(np.int64)
        t = acc.astype(np.float32) * np.float32(sx * sw) + bias
        t = t.astype(np.float64)
        want = {"Gelu": 0.5 * t * (1 + np.vectorize(math.erf)(t / math.sqrt(2))), "Tanh": np.tanh(t),
                "Relu": np.maximum(t, 0)}[act]
        for isa, th in (("auto", 1), ("auto", 2), ("scalar", 1)):
            got = sinter_outputs(path, {"x": x}, threads=th, isa=isa)[0]
            err_ = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
            check(f"float-output integer product -> {act} {isa} t{th}: the int32 sums' float result", err_ <= 2e-6,
                  f"{err_:.3g}")


def dq_weight_fold_cases(tmp):
    """an 8-bit weight dequantized for a float Conv (the conv's input stays float, as in ORT's QDQ
    ConvNeXt) is folded to float32 once, past the folding size limit; one for a MatMul stays 8-bit
    (dequantized per run); both equal to ONNX Runtime running the graph as written"""
    rng = np.random.default_rng(12)
    w = rng.integers(-127, 128, (192, 160, 3, 3)).astype(np.int8)   # 276 KB int8, 1.1 MB float32
    wm = rng.integers(-127, 128, (640, 512)).astype(np.int8)        # 328 KB int8, 1.3 MB float32
    sw = (rng.random(192).astype(np.float32) * 0.01 + 1e-3).astype(np.float32)
    sm = (rng.random(512).astype(np.float32) * 0.01 + 1e-3).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w8"), numpy_helper.from_array(sw, "sw"),
             numpy_helper.from_array(wm, "wm8"), numpy_helper.from_array(sm, "sm")]
    nodes = [helper.make_node("DequantizeLinear", ["w8", "sw"], ["wf"], axis=0),
             helper.make_node("Conv", ["x", "wf"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Reshape", ["c", "shp"], ["c2"]),
             helper.make_node("DequantizeLinear", ["wm8", "sm"], ["wmf"], axis=1),
             helper.make_node("MatMul", ["c2", "wmf"], ["y"])]
    inits.append(numpy_helper.from_array(np.array([-1, 640], np.int64), "shp"))
    x = rng.standard_normal((1, 160, 4, 5)).astype(np.float32)
    model = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits, opset=13)
    path = save(model, tmp, "dq_weight_fold")
    ops, err = ops_after_optimize(path, tmp)
    dqs = [o for o in (ops or []) if o[1] == "DequantizeLinear"]
    check("DQ weight of a float Conv folded, the MatMul's kept 8-bit", ops is not None and len(dqs) == 1,
          f"{ops} {err}")
    # (ONNX Runtime's optimizer turns DequantizeLinear -> MatMul with a float input into a dynamically
    # quantized MatMul: its graph as written is the float reference)
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    want = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    for t in (1, 2):
        got = sinter_outputs(path, {"x": x}, threads=t)[0]
        check(f"DQ weight fold t{t}: equal to ORT", rel_err(got, want) < 1e-5, f"rel err {rel_err(got, want):.2e}")


def pool8_cases(tmp):
    """MaxPool on u8 / s8 (ops/pool.c maxpool8: vertical max, stride-1 horizontal max, pick) == ORT"""
    from onnx import TensorProto as T, helper as h
    rng = np.random.default_rng(11)
    cases = [  # shape, kernel, strides, pads, dilations, ceil_mode
        ((1, 3, 13, 9), [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 0), ((2, 17, 7, 7), [3, 3], [2, 2], [1, 1, 1, 1], [1, 1], 0),
        ((1, 64, 112, 112), [3, 3], [2, 2], [1, 1, 1, 1], [1, 1], 0), ((1, 5, 1, 1), [1, 1], [1, 1], [0, 0, 0, 0], [1, 1], 0),
        ((1, 100, 13, 9), [5, 5], [2, 2], [2, 2, 2, 2], [1, 1], 1), ((1, 7, 11, 10), [2, 2], [2, 2], [0, 0, 0, 0], [1, 1], 1),
        ((1, 4, 15, 17), [3, 2], [3, 1], [1, 0, 1, 1], [2, 2], 0), ((1, 1, 1, 70), [1, 4], [1, 3], [0, 2, 0, 1], [1, 1], 0),
        ((3, 2, 20), [3], [2], [1, 1], [1], 0), ((1, 2, 5, 6, 7), [2, 2, 2], [1, 2, 2], [0, 0, 0, 1, 1, 1], [1, 1, 1], 0)]
    for xdt, npx, lo, hi in ((T.UINT8, np.uint8, 0, 256), (T.INT8, np.int8, -128, 128)):
        for shape, k, s, pads, dil, ceil in cases:
            x = rng.integers(lo, hi, shape).astype(npx)
            node = h.make_node("MaxPool", ["x"], ["y"], kernel_shape=k, strides=s, pads=pads, dilations=dil,
                               ceil_mode=ceil)
            path = one_node(tmp, "mp8", node, [h.make_tensor_value_info("x", xdt, list(shape))], xdt, opset=12)
            ref, outs = ort_and_sinter(path, {"x": x}, (("scalar", 1), ("avx512", 2)))
            ok = all(o.shape == ref.shape and np.array_equal(o, ref) for o in outs)
            check(f"MaxPool {'s8' if xdt == T.INT8 else 'u8'} {shape} k{k} s{s} p{pads} d{dil} ceil{ceil} == ORT", ok)


def qbin_cases(tmp):
    """QLinearAdd / QLinearMul (ops/qlinear_ms.c): broadcast runs, the 256-entry table path of QLinearMul
    with one operand broadcast per run, runs split over threads; identical at every ISA and thread
    count, and ORT's results (at most one step apart where ORT rounds in another order)"""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(5)
    shapes = [([1, 96, 112, 112], [1, 96, 1, 1]), ([1, 40, 1, 1], [1, 40, 28, 28]), ([2, 17, 13, 9], [2, 17, 1, 1]),
              ([1, 256, 56, 56], [1, 256, 56, 56]), ([1, 3, 300], [300]), ([1, 1, 7, 7], [1, 1, 1, 1]),
              ([5, 1000], []), ([1, 1, 1, 1], [1, 1, 1, 1])]
    for op in ("QLinearAdd", "QLinearMul"):
        for xdt, npx, lo, hi in ((T.UINT8, np.uint8, 0, 256), (T.INT8, np.int8, -128, 128)):
            for sa, sb in shapes:
                a = rng.integers(lo, hi, sa).astype(npx)
                b = rng.integers(lo, hi, sb).astype(npx)
                zs = rng.integers(lo, hi, 3).astype(npx)
                inits = [nh.from_array(np.array(0.031, np.float32), "as"), nh.from_array(np.array(zs[0], npx), "az"),
                         nh.from_array(np.array(0.027, np.float32), "bs"), nh.from_array(np.array(zs[1], npx), "bz"),
                         nh.from_array(np.array(0.05 if op == "QLinearAdd" else 1.7, np.float32), "cs"),
                         nh.from_array(np.array(zs[2], npx), "cz")]
                node = h.make_node(op, ["a", "as", "az", "b", "bs", "bz", "cs", "cz"], ["y"], domain="com.microsoft")
                inputs = [h.make_tensor_value_info("a", xdt, sa), h.make_tensor_value_info("b", xdt, sb)]
                path = one_node(tmp, "qbin", node, inputs, xdt, inits, domains={"com.microsoft": 1})
                ref, outs = ort_and_sinter(path, {"a": a, "b": b},
                                           (("scalar", 1), ("avx2", 2), ("avx512", 1), ("avx512", 2)))
                same = all(np.array_equal(outs[0], o) for o in outs)
                diff = int(np.abs(outs[0].astype(int) - ref.astype(int)).max())
                check(f"{op} {'s8' if xdt == T.INT8 else 'u8'} {sa} x {sb}: same at every ISA / thread count, ORT within 1",
                      same and diff <= 1 and outs[0].shape == ref.shape, f"same {same}, max diff vs ORT {diff}")


def qgap_cases(tmp):
    """QLinearGlobalAveragePool (ops/qlinear_ms.c: vectorized exact sums), NCHW and channels_last, == ORT within 1"""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(9)
    for xdt, npx, lo, hi in ((T.UINT8, np.uint8, 0, 256), (T.INT8, np.int8, -128, 128)):
        for shape, last in (([1, 96, 7, 7], 0), ([2, 17, 13, 9], 0), ([1, 3, 1, 1], 0), ([1, 1280, 7, 7], 0),
                            ([1, 7, 7, 96], 1), ([2, 5, 3, 33], 1), ([1, 4, 300], 0)):
            x = rng.integers(lo, hi, shape).astype(npx)
            zs = rng.integers(lo, hi, 2).astype(npx)
            inits = [nh.from_array(np.array(0.041, np.float32), "xs"), nh.from_array(np.array(zs[0], npx), "xz"),
                     nh.from_array(np.array(0.013, np.float32), "ys"), nh.from_array(np.array(zs[1], npx), "yz")]
            node = h.make_node("QLinearGlobalAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft",
                               channels_last=last)
            path = one_node(tmp, "qgap", node, [h.make_tensor_value_info("x", xdt, shape)], xdt, inits,
                            domains={"com.microsoft": 1})
            ref, outs = ort_and_sinter(path, {"x": x}, (("scalar", 1), ("avx512", 2)))
            same = np.array_equal(outs[0], outs[1])
            diff = int(np.abs(outs[0].astype(int) - ref.astype(int)).max()) if outs[0].shape == ref.shape else 999
            check(f"QLinearGlobalAveragePool {'s8' if xdt == T.INT8 else 'u8'} {shape} channels_last={last}: "
                  f"ISA-independent, ORT within 1", same and diff <= 1, f"same {same}, max diff vs ORT {diff}")


def qop_extra_cases(tmp):
    """The other com.microsoft ops of ONNX Runtime's QOperator format: QLinearSigmoid, QLinearLeakyRelu
    (every byte value through the table), QLinearAveragePool (pads, strides, count_include_pad,
    ceil_mode, 1-D to 3-D, channels_last), QLinearSoftmax (last and middle axes, long rows, opset 12's
    coerced form) and QLinearWhere (broadcast); u8 and s8, == ORT within 1 step,
    the same at every ISA"""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(17)
    for xdt, npx, lo, hi in ((T.UINT8, np.uint8, 0, 256), (T.INT8, np.int8, -128, 128)):
        tag = "s8" if xdt == T.INT8 else "u8"
        zs = rng.integers(lo, hi, 3).astype(npx)

        def params(xs, ys):
            return [nh.from_array(np.array(xs, np.float32), "xs"), nh.from_array(np.array(zs[0], npx), "xz"),
                    nh.from_array(np.array(ys, np.float32), "ys"), nh.from_array(np.array(zs[1], npx), "yz")]

        def compare(label, path, feeds):
            ref, outs = ort_and_sinter(path, feeds, (("scalar", 1), ("avx512", 2)))
            same = np.array_equal(outs[0], outs[1])
            diff = int(np.abs(outs[0].astype(int) - ref.astype(int)).max()) if outs[0].shape == ref.shape else 999
            check(f"{label} {tag}: ISA-independent, ORT within 1", same and diff <= 1,
                  f"same {same}, shape {outs[0].shape} vs {ref.shape}, max diff vs ORT {diff}")

        x = np.arange(lo, hi).astype(npx).reshape(1, 4, 8, 8)  # every byte value
        for op, attrs in (("QLinearSigmoid", {}), ("QLinearLeakyRelu", {"alpha": 0.1})):
            node = h.make_node(op, ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft", **attrs)
            path = one_node(tmp, "qact", node, [h.make_tensor_value_info("x", xdt, x.shape)], xdt,
                            params(0.05, 1 / 255 if op == "QLinearSigmoid" else 0.04), domains={"com.microsoft": 1})
            compare(op, path, {"x": x})
        pools = [([1, 5, 13, 11], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
                 ([2, 3, 9, 9], dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)),
                 ([1, 4, 10, 7], dict(kernel_shape=[2, 3], strides=[2, 2], ceil_mode=1)),
                 ([1, 6, 20], dict(kernel_shape=[4], strides=[3])),
                 ([1, 2, 6, 6, 6], dict(kernel_shape=[2, 2, 2], strides=[2, 2, 2])),
                 ([1, 9, 9, 5], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 0], channels_last=1))]
        for shape, attrs in pools:
            xv = rng.integers(lo, hi, shape).astype(npx)
            node = h.make_node("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft", **attrs)
            path = one_node(tmp, "qpool", node, [h.make_tensor_value_info("x", xdt, shape)], xdt, params(0.03, 0.02),
                            domains={"com.microsoft": 1})
            compare(f"QLinearAveragePool {shape} {attrs}", path, {"x": xv})
        # QLinearSoftmax: exponentials from a 256-entry table (ops/qlinear_ms.c); rows of 37 and of 600
        # (blocks of 512), a middle axis (opset 13), the coerced 2-D form (opset 12)
        for shape, axis, ver in (([2, 4, 37], -1, 13), ([3, 4, 600], -1, 13), ([2, 5, 7], 1, 13), ([2, 3, 4, 5], 1, 12)):
            xv = rng.integers(lo, hi, shape).astype(npx)
            inits = [nh.from_array(np.array(0.08, np.float32), "xs"), nh.from_array(np.array(zs[0], npx), "xz"),
                     nh.from_array(np.array(1 / 256, np.float32), "ys"),
                     nh.from_array(np.array(-128 if npx is np.int8 else 0, npx), "yz")]
            node = h.make_node("QLinearSoftmax", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft",
                               axis=axis, opset=ver)
            path = one_node(tmp, "qsoftmax", node, [h.make_tensor_value_info("x", xdt, shape)], xdt, inits,
                            domains={"com.microsoft": 1})
            compare(f"QLinearSoftmax {shape} axis {axis} opset {ver}", path, {"x": xv})
        for cs, xs_, ys_ in (([2, 1, 5], [2, 3, 5], [1, 3, 1]), ([4], [3, 4], [])):
            cond = rng.integers(0, 2, cs).astype(bool)
            xv, yv = rng.integers(lo, hi, xs_).astype(npx), rng.integers(lo, hi, ys_).astype(npx)
            inits = [nh.from_array(np.array(0.03, np.float32), "xs"), nh.from_array(np.array(zs[0], npx), "xz"),
                     nh.from_array(np.array(0.07, np.float32), "ys"), nh.from_array(np.array(zs[1], npx), "yz"),
                     nh.from_array(np.array(0.05, np.float32), "zs"), nh.from_array(np.array(zs[2], npx), "zz")]
            node = h.make_node("QLinearWhere", ["c", "x", "xs", "xz", "y", "ys", "yz", "zs", "zz"], ["out"],
                               domain="com.microsoft")
            m = make_model([node], [h.make_tensor_value_info("c", T.BOOL, cs), h.make_tensor_value_info("x", xdt, xs_),
                                    h.make_tensor_value_info("y", xdt, ys_)],
                           [h.make_tensor_value_info("out", xdt, None)], inits, opset=13, domains={"com.microsoft": 1})
            compare(f"QLinearWhere {cs} {xs_} {ys_}", save(m, tmp, "qwhere"), {"c": cond, "x": xv, "y": yv})


def mobile_qdq_cases(tmp):
    """A MobileNetV2 / EfficientNet-style block quantized by ORT (QDQ, per-channel): 1x1 conv, SiLU,
    depthwise 3x3 stride 2 with Relu6 (Clip), squeeze-excitation (GlobalAveragePool, conv, Sigmoid,
    Mul), depthwise 5x5, 1x1 projection. Sinter fuses it into QLinearConv (depthwise through
    kernels/qdwconv), QLinearLookup (SiLU, Sigmoid) and QLinearMul; the result must match ORT, the
    unfused graph (-O1), and be bit-identical at every ISA level."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(11)
    C = 32

    def w(*shape):
        return nh.from_array((rng.standard_normal(shape) * (1.0 / np.sqrt(np.prod(shape[1:])))).astype(np.float32))

    inits = []
    for name, arr in (("W1", w(C, 16, 1, 1)), ("Wd", w(C, 1, 3, 3)), ("Ws", w(C, C, 1, 1)), ("Wd2", w(C, 1, 5, 5)),
                      ("Wp", w(10, C, 1, 1))):
        arr.name = name
        inits.append(arr)
    for name, n in (("b1", C), ("bd", C), ("bs", C), ("bd2", C), ("bp", 10)):
        inits.append(nh.from_array((rng.standard_normal(n) * 0.1).astype(np.float32), name))
    inits += [nh.from_array(np.array(0, np.float32), "lo"), nh.from_array(np.array(6, np.float32), "hi")]
    nodes = [h.make_node("Conv", ["x", "W1", "b1"], ["c1"]), h.make_node("Sigmoid", ["c1"], ["s1"]),
             h.make_node("Mul", ["c1", "s1"], ["silu"]),
             h.make_node("Conv", ["silu", "Wd", "bd"], ["dw"], group=C, pads=[1, 1, 1, 1], strides=[2, 2]),
             h.make_node("Clip", ["dw", "lo", "hi"], ["r6"]), h.make_node("GlobalAveragePool", ["r6"], ["gap"]),
             h.make_node("Conv", ["gap", "Ws", "bs"], ["se"]), h.make_node("Sigmoid", ["se"], ["ses"]),
             h.make_node("Mul", ["r6", "ses"], ["m"]),
             h.make_node("Conv", ["m", "Wd2", "bd2"], ["dw2"], group=C, pads=[2, 2, 2, 2]),
             h.make_node("Conv", ["dw2", "Wp", "bp"], ["y"])]
    m = make_model(nodes, [h.make_tensor_value_info("x", T.FLOAT, [1, 16, 23, 21])],
                   [h.make_tensor_value_info("y", T.FLOAT, None)], inits, name="mobile")
    xs = [rng.uniform(-2, 2, (1, 16, 23, 21)).astype(np.float32) for _ in range(9)]
    qp, ref, outs = ort_qdq(tmp, "mobile", m, xs)
    x = xs[-1]
    same = all(np.array_equal(outs["scalar"], o) for o in outs.values())
    check("mobile QDQ block: bit-identical at scalar/avx2/avx512", same)
    got = outs["avx512"]
    scale = float(np.abs(ref).max())
    d = float(np.abs(got - ref).max())
    check("mobile QDQ block: Sinter vs ORT", d <= 0.05 * scale, f"max diff {d:.3g} (scale {scale:.3g})")
    plain = sinter_outputs(qp, {"x": x}, threads=1, opt_level=1)[0]
    d = float(np.abs(got - plain).max())
    check("mobile QDQ block: fused (-O3) vs unfused (-O1)", d <= 0.05 * scale, f"max diff {d:.3g} (scale {scale:.3g})")
    ops, err = ops_after_optimize(qp, tmp)
    ops = ops or []
    want = [("sinter", "QLinearConv"), ("sinter", "QLinearLookup"), ("com.microsoft", "QLinearMul")]
    left = [o for o in ops if o[0] == "" and o[1] in ("Conv", "Sigmoid", "Mul", "Clip")]
    check("mobile QDQ block: fused into QLinearConv, QLinearLookup, QLinearMul",
          all(o in ops for o in want) and ops.count(("sinter", "QLinearLookup")) == 2 and not left,
          err or f"ops {sorted(set(ops))}, float left {left}")


def bad_models(tmp):
    """malformed quantized models are refused with a message, never a crash"""
    from onnx import TensorProto as T, helper, numpy_helper as nh
    cases = []
    # com.microsoft ops with too few inputs
    for op, n_in in (("QGemm", 2), ("QLinearAdd", 3), ("QLinearGlobalAveragePool", 1), ("QLinearSoftmax", 1),
                     ("QLinearConcat", 3), ("DynamicQuantizeMatMul", 1), ("QLinearSigmoid", 3),
                     ("QLinearLeakyRelu", 2), ("QLinearAveragePool", 3), ("QLinearWhere", 5)):
        node = helper.make_node(op, ["x"] * n_in, ["y"], domain="com.microsoft")
        cases.append((f"{op} with {n_in} inputs", node, [], T.UINT8))
    # QLinearMatMul whose inner dimensions differ
    inits = [nh.from_array(np.array(0.1, np.float32), "s"), nh.from_array(np.array(0, np.uint8), "z"),
             nh.from_array(np.ones((5, 3), np.int8), "w"), nh.from_array(np.array(0, np.int8), "wz")]
    cases.append(("QLinearMatMul K mismatch", helper.make_node("QLinearMatMul", ["x", "s", "z", "w", "s", "wz", "s", "z"], ["y"]),
                  inits, T.UINT8))
    for label, node, inits, dt in cases:
        path = one_node(tmp, "bad", node, [helper.make_tensor_value_info("x", dt, [2, 4])], dt, inits,
                        domains={"com.microsoft": 1})
        r = run_cli("run", path, "-q")
        check(f"bad model refused: {label}", r.returncode == 1 and r.stderr.strip() != "", r.stderr.strip()[-160:])
    # zero and infinite scales: runs, output clamped, identical at every ISA
    for ys in (0.0, float("inf")):
        inits = [nh.from_array(np.array(0.1, np.float32), "s"), nh.from_array(np.array(3, np.uint8), "z"),
                 nh.from_array(np.ones((4, 3), np.int8), "w"), nh.from_array(np.array(0, np.int8), "wz"),
                 nh.from_array(np.array(ys, np.float32), "ys")]
        node = helper.make_node("QLinearMatMul", ["x", "s", "z", "w", "s", "wz", "ys", "z"], ["y"])
        path = one_node(tmp, "zs", node, [helper.make_tensor_value_info("x", T.UINT8, [2, 4])], T.UINT8, inits)
        x = np.arange(8, dtype=np.uint8).reshape(2, 4)
        outs = [sinter_outputs(path, {"x": x}, threads=1, isa=isa)[0] for isa in ("scalar", "avx512")]
        check(f"y_scale {ys}: runs, same at every ISA", np.array_equal(outs[0], outs[1]), str(outs[0].ravel()))


def dynamic_lstm_cases(tmp):
    """ONNX Runtime's quantize_dynamic turns an LSTM into com.microsoft DynamicQuantizeLSTM (int8
    weights stored transposed, per-direction scales): Sinter runs it and agrees with ONNX Runtime within
    float rounding (the same INT8 computation), for one and two directions, per-tensor and per-channel
    weights; and at hidden 128, batch 4 and 8, on 1 and 2 threads: the 2-thread runs take the
    threaded steps, at batch 4 each thread computing a slice of the hidden units (and quantizing the
    whole previous state itself), at batch 8 each thread its own 4 batch rows."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    from onnxruntime.quantization import QuantType, quantize_dynamic
    rng = np.random.default_rng(7)
    for (S, B, I, H), dirs, direction, per_channel in (
            [((7, 2, 16, 32), d, dn, pc) for d, dn in ((1, "forward"), (2, "bidirectional")) for pc in (False, True)] +
            [((5, 4, 16, 128), 2, "bidirectional", True), ((6, 8, 16, 128), 1, "forward", True)]):
        if True:
            inits = [nh.from_array((rng.standard_normal((dirs, 4 * H, I)) * 0.3).astype(np.float32), "W"),
                     nh.from_array((rng.standard_normal((dirs, 4 * H, H)) * 0.3).astype(np.float32), "R"),
                     nh.from_array((rng.standard_normal((dirs, 8 * H)) * 0.1).astype(np.float32), "B")]
            node = h.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["y", "yh", "yc"], hidden_size=H,
                               direction=direction)
            g = h.make_graph([node], "lstm", [h.make_tensor_value_info("x", T.FLOAT, [S, "batch", I]),
                                              h.make_tensor_value_info("h0", T.FLOAT, [dirs, "batch", H]),
                                              h.make_tensor_value_info("c0", T.FLOAT, [dirs, "batch", H])],
                             [h.make_tensor_value_info(n, T.FLOAT, None) for n in ("y", "yh", "yc")], inits)
            src = os.path.join(tmp, f"lstm{dirs}_{H}.onnx")
            dst = os.path.join(tmp, f"lstm{dirs}_{H}_{per_channel}.dq.onnx")
            onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 14)]), src)
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=per_channel)
            tag = f"DynamicQuantizeLSTM H={H} batch={B} {direction}{' per-channel' if per_channel else ''}"
            ops = {n.op_type for n in onnx.load(dst).graph.node}
            if "DynamicQuantizeLSTM" not in ops:
                check(f"{tag}: quantize_dynamic wrote it", False, f"ops {sorted(ops)}")
                continue
            feeds = {"x": rng.standard_normal((S, B, I)).astype(np.float32),
                     "h0": (rng.standard_normal((dirs, B, H)) * 0.1).astype(np.float32),
                     "c0": (rng.standard_normal((dirs, B, H)) * 0.1).astype(np.float32)}
            if B <= 2:
                want = ort_outputs(dst, feeds)
            else:
                # ORT splits the batch rows over its threads and quantizes the hidden state once per
                # thread's group of rows (so its INT8 LSTM's outputs change with its thread count);
                # with a thread per row it quantizes each row alone, as Sinter always does
                import onnxruntime as ort
                so = ort.SessionOptions()
                so.intra_op_num_threads = B
                want = ort.InferenceSession(dst, so, providers=["CPUExecutionProvider"]).run(None, feeds)
            fp32 = ort_outputs(src, feeds)
            for threads in ((1, 2) if H >= 128 else (None,)):
                try:
                    with sinter_ctypes.Session(dst, threads=threads) as sess:
                        got = sess.run(feeds)
                except sinter_ctypes.SinterError as e:
                    check(tag, False, str(e)[:300])
                    continue
                for name, w, f in zip(("y", "yh", "yc"), want, fp32):
                    d = float(np.max(np.abs(got[name] - w)))
                    q = float(np.max(np.abs(f - w)))  # what quantization itself changes in ORT
                    # the same computation as ORT's (int8 weights, activations quantized per projection
                    # and per batch row of the hidden state): float rounding apart, ORT's outputs
                    check(f"{tag}{f' t{threads}' if threads else ''} {name} vs ORT", d <= 1e-5,
                          f"max diff {d:.3g} (ORT int8 vs fp32: {q:.3g})")


def dynamic_bias_cases(tmp):
    """quantize_dynamic's MatMulInteger chains with a bias Add after them: the bias is folded into the
    DynamicQuantizeMatMul's epilogue (no Add left after optimization), also where the exporter wrote
    the bias as Identity(initializer), as torch does for a Linear's bias, and when it is the Add's
    first input; the Relu after the first becomes the epilogue of a sinter:FusedDynamicQuantizeMatMul
    (applied per tile of the INT8 GEMM); the outputs equal ONNX Runtime's within float rounding."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    from onnxruntime.quantization import QuantType, quantize_dynamic
    rng = np.random.default_rng(11)
    K, N = 48, 40
    inits = [nh.from_array((rng.standard_normal((K, N)) * 0.2).astype(np.float32), "W1"),
             nh.from_array((rng.standard_normal((N, N)) * 0.2).astype(np.float32), "W2"),
             nh.from_array((rng.standard_normal(N) * 0.5).astype(np.float32), "b1"),
             nh.from_array((rng.standard_normal(N) * 0.5).astype(np.float32), "b2")]
    nodes = [h.make_node("Identity", ["b1"], ["b1i"]),
             h.make_node("MatMul", ["x", "W1"], ["m1"]), h.make_node("Add", ["b1i", "m1"], ["a1"]),
             h.make_node("Relu", ["a1"], ["r1"]),
             h.make_node("MatMul", ["r1", "W2"], ["m2"]), h.make_node("Add", ["m2", "b2"], ["y"])]
    g = h.make_graph(nodes, "mlp", [h.make_tensor_value_info("x", T.FLOAT, [3, 5, K])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    src, dst = os.path.join(tmp, "dq_bias.onnx"), os.path.join(tmp, "dq_bias.dq.onnx")
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 14)]), src)
    quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
    ops, err = ops_after_optimize(dst, tmp)
    dq = [o for o in (ops or []) if o[1] in ("DynamicQuantizeMatMul", "FusedDynamicQuantizeMatMul")]
    check("DynamicQuantizeMatMul: bias Adds folded in (Identity bias too)",
          ops is not None and len(dq) == 2 and ("", "Add") not in ops, err or str(ops))
    check("DynamicQuantizeMatMul: the Relu after it runs in its epilogue (sinter:FusedDynamicQuantizeMatMul)",
          ops is not None and ("", "Relu") not in ops and ("sinter", "FusedDynamicQuantizeMatMul") in ops, err or str(ops))
    x = rng.standard_normal((3, 5, K)).astype(np.float32)
    ref, outs = ort_and_sinter(dst, {"x": x}, [("avx512", 1), ("avx512", 2), ("scalar", 1)])
    for (isa, t), o in zip((("avx512", 1), ("avx512", 2), ("scalar", 1)), outs):
        d = float(np.abs(o - ref).max())
        check(f"DynamicQuantizeMatMul with bias vs ORT ({isa}, {t} threads)", d <= 1e-5 * float(np.abs(ref).max()),
              f"max diff {d:.3g}")


def pool_qdq_cases(tmp):
    """DQ -> MaxPool -> Q (a ResNet stem quantized by ORT, QDQ): Sinter runs the MaxPool on the 8-bit
    map itself (passes/qdq.c); the result must match ORT (which does the same), be bit-identical at
    every ISA level, and the optimized graph must hold no float MaxPool."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(5)
    inits = [nh.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32), "W1"),
             nh.from_array((rng.standard_normal(8) * 0.1).astype(np.float32), "b1"),
             nh.from_array((rng.standard_normal((4, 8, 1, 1)) * 0.3).astype(np.float32), "W2")]
    nodes = [h.make_node("Conv", ["x", "W1", "b1"], ["c1"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c1"], ["r1"]),
             h.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             h.make_node("Conv", ["p1", "W2"], ["y"])]
    m = make_model(nodes, [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 19, 17])],
                   [h.make_tensor_value_info("y", T.FLOAT, None)], inits, name="stem")
    xs = [rng.uniform(-2, 2, (1, 3, 19, 17)).astype(np.float32) for _ in range(9)]
    qp, ref, outs = ort_qdq(tmp, "stem", m, xs)
    check_same_and_ort("QDQ MaxPool", ref, outs)
    out = os.path.join(tmp, "stem_opt.onnx")
    r = run_cli("optimize", qp, out)
    ok = r.returncode == 0
    if ok:
        om = onnx.load(out)
        prod = {o: n for n in om.graph.node for o in n.output}
        pools = [n for n in om.graph.node if n.op_type == "MaxPool"]
        ok = len(pools) == 1 and prod[pools[0].input[0]].op_type == "QLinearConv"
    check("QDQ MaxPool: pooled on the 8-bit map (no DequantizeLinear before it)", ok, r.stderr.strip())


def tiny_encoder(rng, hidden=32, heads=2, ffn=64):
    """A float encoder layer as Hugging Face exports one: dynamic batch and sequence, the heads split
    by Reshape(Concat(Shape ...)) and Transpose, scaled Q K^T plus a mask, Softmax, LayerNormalization,
    GELU written as x * 0.5 * (1 + erf(x / sqrt 2)); input x [batch, seq, hidden] and mask [batch, seq]"""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    dh = hidden // heads

    def w(name, *shape, s=0.2):
        return nh.from_array((rng.standard_normal(shape) * s).astype(np.float32), name)
    c = lambda name, v, dt=np.float32: nh.from_array(np.array(v, dtype=dt), name)  # noqa: E731
    inits = [w("Wq", hidden, hidden), w("bq", hidden, s=0.1), w("Wk", hidden, hidden), w("bk", hidden, s=0.1),
             w("Wv", hidden, hidden), w("bv", hidden, s=0.1), w("Wo", hidden, hidden), w("bo", hidden, s=0.1),
             w("W1", hidden, ffn), w("b1", ffn, s=0.1), w("W2", ffn, hidden), w("b2", hidden, s=0.1),
             nh.from_array((1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32), "g1"), w("be1", hidden, s=0.1),
             nh.from_array((1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32), "g2"), w("be2", hidden, s=0.1),
             c("i0", [0], np.int64), c("i1", [1], np.int64), c("nh", [heads], np.int64), c("dh", [dh], np.int64),
             c("hid", [hidden], np.int64), c("scale", np.sqrt(dh)), c("one", 1.0), c("half", 0.5),
             c("sqrt2", np.sqrt(2.0)), c("big", -10000.0)]
    n = [h.make_node("Shape", ["x"], ["sh"]), h.make_node("Gather", ["sh", "i0"], ["B"]),
         h.make_node("Gather", ["sh", "i1"], ["S"]), h.make_node("Concat", ["B", "S", "nh", "dh"], ["hs"], axis=0),
         h.make_node("Concat", ["B", "S", "hid"], ["os"], axis=0)]
    for p in "qkv":
        n += [h.make_node("MatMul", ["x", f"W{p}"], [f"{p}m"]), h.make_node("Add", [f"{p}m", f"b{p}"], [f"{p}b"]),
              h.make_node("Reshape", [f"{p}b", "hs"], [f"{p}r"]),
              h.make_node("Transpose", [f"{p}r"], [f"{p}t"], perm=[0, 2, 3, 1] if p == "k" else [0, 2, 1, 3])]
    n += [h.make_node("MatMul", ["qt", "kt"], ["sc"]), h.make_node("Div", ["sc", "scale"], ["scd"]),
          h.make_node("Cast", ["mask"], ["mf"], to=T.FLOAT), h.make_node("Sub", ["one", "mf"], ["mi"]),
          h.make_node("Mul", ["mi", "big"], ["mb"]), h.make_node("Unsqueeze", ["mb", "i1"], ["m1"]),
          h.make_node("Unsqueeze", ["m1", "i1"], ["m2"]), h.make_node("Add", ["scd", "m2"], ["sm"]),
          h.make_node("Softmax", ["sm"], ["pr"], axis=-1), h.make_node("MatMul", ["pr", "vt"], ["ctx"]),
          h.make_node("Transpose", ["ctx"], ["ctxt"], perm=[0, 2, 1, 3]), h.make_node("Reshape", ["ctxt", "os"], ["ctxr"]),
          h.make_node("MatMul", ["ctxr", "Wo"], ["om"]), h.make_node("Add", ["om", "bo"], ["ob"]),
          h.make_node("Add", ["ob", "x"], ["r1"]),
          h.make_node("LayerNormalization", ["r1", "g1", "be1"], ["l1"], axis=-1, epsilon=1e-5),
          h.make_node("MatMul", ["l1", "W1"], ["f1"]), h.make_node("Add", ["f1", "b1"], ["f1b"]),
          h.make_node("Div", ["f1b", "sqrt2"], ["gd"]), h.make_node("Erf", ["gd"], ["ge"]),
          h.make_node("Add", ["ge", "one"], ["ga"]), h.make_node("Mul", ["f1b", "ga"], ["gm"]),
          h.make_node("Mul", ["gm", "half"], ["gelu"]), h.make_node("MatMul", ["gelu", "W2"], ["f2"]),
          h.make_node("Add", ["f2", "b2"], ["f2b"]), h.make_node("Add", ["f2b", "l1"], ["r2"]),
          h.make_node("LayerNormalization", ["r2", "g2", "be2"], ["y"], axis=-1, epsilon=1e-5)]
    return make_model(n, [h.make_tensor_value_info("x", T.FLOAT, ["batch", "seq", hidden]),
                          h.make_tensor_value_info("mask", T.INT64, ["batch", "seq"])],
                      [h.make_tensor_value_info("y", T.FLOAT, ["batch", "seq", hidden])], inits, opset=17, name="enc")


def qdq_encoder_cases(tmp):
    """An encoder layer quantized by ONNX Runtime's quantize_static (QDQ) runs with no float tensor
    between its integer ops: the DQ -> Reshape / Transpose -> Q pairs dropped (the ops move the 8-bit
    values), Shape read from the 8-bit tensors, Softmax and LayerNormalization fused with their DQ / Q
    (sinter:QDQSoftmax, QDQLayerNormalization), and the GELU's lookup, Add, Mul, Mul one 256-entry
    table (passes/lookup.c). Every rewrite keeps the bytes: equal to the unfused graph (Sinter -O1) at
    1 and 2 threads and at every ISA level, and within two quantization steps of ONNX Runtime's own
    unfused run."""
    from onnxruntime.quantization import QuantFormat, QuantType, quant_pre_process, quantize_static
    import onnxruntime as ort
    rng = np.random.default_rng(21)
    m = tiny_encoder(rng)
    fp = os.path.join(tmp, "enc_pre.onnx")
    quant_pre_process(save(m, tmp, "enc"), fp, skip_symbolic_shape=True)  # (as bench/compare.py quantizes)

    def feeds(b, s, k):
        r = np.random.default_rng(k)
        mask = np.ones((b, s), np.int64)
        mask[:, s - 3:] = 0
        return {"x": r.standard_normal((b, s, 32)).astype(np.float32), "mask": mask}
    qp = os.path.join(tmp, "enc_qdq.onnx")
    quantize_static(fp, qp, calibration_reader(feeds(2, 24, k) for k in range(6)), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    ops, err = ops_after_optimize(qp, tmp)
    kinds = [o[1] for o in (ops or [])]
    check("QDQ encoder: no float Softmax / LayerNormalization / MatMul / bias Add, no QLinearMul left of the GELU",
          ops is not None and not {"Softmax", "LayerNormalization", "MatMul", "Erf", "Add", "QLinearMul"} & set(kinds),
          f"{kinds} {err}")
    check("QDQ encoder: the six bias Adds QDQBinary", kinds.count("QDQBinary") == 6, f"{kinds}")
    check("QDQ encoder: QDQSoftmax, two QDQLayerNormalizations, the GELU one lookup",
          kinds.count("QDQSoftmax") == 1 and kinds.count("QDQLayerNormalization") == 2 and
          kinds.count("QLinearLookup") >= 1, f"{kinds}")
    nq = kinds.count("QuantizeLinear") + kinds.count("DequantizeLinear")
    check("QDQ encoder: no DQ / Q pair around the head Reshapes and Transposes (only x's Q and y's DQ)",
          nq <= 3, f"{nq} QuantizeLinear / DequantizeLinear: {kinds}")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    osess = ort.InferenceSession(qp, so, providers=["CPUExecutionProvider"])
    for b, s in ((1, 24), (3, 17)):
        f = feeds(b, s, 100 + s)
        plain = sinter_outputs(qp, f, opt_level=1)[0]
        want = osess.run(None, f)[0]
        for isa, t in (("auto", 1), ("auto", 2), ("scalar", 1), ("avx2", 2)):
            got = sinter_outputs(qp, f, threads=t, isa=isa)[0]
            check(f"QDQ encoder b{b} s{s} {isa} t{t}: the unfused bytes", np.array_equal(got, plain),
                  f"max diff {float(np.max(np.abs(got - plain))):.3g}")
        # the output is the last LayerNormalization's, dequantized: its step is the largest gap between codes
        step = float(np.min(np.diff(np.unique(want)))) if np.unique(want).size > 1 else 1.0
        d = float(np.max(np.abs(plain - want)))
        check(f"QDQ encoder b{b} s{s}: within two steps of ORT's unfused run", d <= 2 * step * 1.001,
              f"max diff {d:.3g}, step {step:.3g}")


def qdq_move_cases(tmp):
    """DQ -> op -> Q with the same scale, zero point and type, the op moving or selecting values
    (Reshape, Transpose, Flatten, Squeeze, Unsqueeze, Slice, Gather, GatherElements, GatherND, Expand,
    Tile, DepthToSpace, SpaceToDepth, Concat of two such DQs): the op runs on the 8-bit tensor (no DQ / Q left), the same
    bytes as the unfused graph (Sinter -O1) and as ONNX Runtime; with a different output scale, or a
    Concat of differently quantized inputs, the DQ / Q stay."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(22)
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    i64 = lambda name, v: nh.from_array(np.array(v, np.int64), name)  # noqa: E731
    cases = {
        "Reshape": (h.make_node("Reshape", ["xf", "shp"], ["f"]), [i64("shp", [2, 24, 6])]),
        "Transpose": (h.make_node("Transpose", ["xf"], ["f"], perm=[0, 2, 3, 1]), []),
        "Flatten": (h.make_node("Flatten", ["xf"], ["f"], axis=2), []),
        "Squeeze": (h.make_node("Squeeze", ["xf1", "ax0"], ["f"]), [i64("ax0", [0])]),
        "Unsqueeze": (h.make_node("Unsqueeze", ["xf", "ax0"], ["f"]), [i64("ax0", [1])]),
        "Slice": (h.make_node("Slice", ["xf", "st", "en", "axs", "sp"], ["f"]),
                  [i64("st", [1, 5]), i64("en", [4, 0]), i64("axs", [1, 3]), i64("sp", [1, -2])]),
        "Gather": (h.make_node("Gather", ["xf", "idx"], ["f"], axis=2), [i64("idx", [[5, 0], [2, 2]])]),
        "GatherElements": (h.make_node("GatherElements", ["xf", "gidx"], ["f"], axis=3),
                           [i64("gidx", rng.integers(0, 6, (2, 4, 6, 3)))]),
        "GatherND": (h.make_node("GatherND", ["xf", "nidx"], ["f"]), [i64("nidx", [[0, 1], [1, 3]])]),
        "Expand": (h.make_node("Expand", ["xf1", "eshp"], ["f"]), [i64("eshp", [3, 4, 6, 6])]),
        "Tile": (h.make_node("Tile", ["xf", "reps"], ["f"]), [i64("reps", [1, 2, 1, 3])]),
        "DepthToSpace": (h.make_node("DepthToSpace", ["xf"], ["f"], blocksize=2, mode="CRD"), []),
        "SpaceToDepth": (h.make_node("SpaceToDepth", ["xf"], ["f"], blocksize=2), []),
        "Concat": (h.make_node("Concat", ["xf", "xf2"], ["f"], axis=1), []),
        "Reshape_rescaled": (h.make_node("Reshape", ["xf", "shp"], ["f"]), [i64("shp", [2, 24, 6])]),
        "Concat_mixed": (h.make_node("Concat", ["xf", "xf3"], ["f"], axis=1), []),
    }
    for name, (node, extra) in cases.items():
        sy = 0.05 if name == "Reshape_rescaled" else 0.03
        inits = [nh.from_array(np.array(np.float32(0.03)), "sx"), nh.from_array(np.array(np.uint8(120)), "zx"),
                 nh.from_array(np.array(np.float32(0.02)), "sx3"),
                 nh.from_array(np.array(np.float32(sy)), "sy"), nh.from_array(np.array(np.uint8(120)), "zy"),
                 i64("ax00", [0])] + extra
        nodes = [h.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
                 h.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xf"]),
                 h.make_node("Slice", ["xq", "ax00", "one1", "ax00"], ["xq1"]),
                 h.make_node("DequantizeLinear", ["xq1", "sx", "zx"], ["xf1"]),
                 h.make_node("Neg", ["x"], ["xn"]),
                 h.make_node("QuantizeLinear", ["xn", "sx", "zx"], ["xq2"]),
                 h.make_node("DequantizeLinear", ["xq2", "sx", "zx"], ["xf2"]),
                 h.make_node("QuantizeLinear", ["xn", "sx3", "zx"], ["xq3"]),
                 h.make_node("DequantizeLinear", ["xq3", "sx3", "zx"], ["xf3"]),
                 node,
                 h.make_node("QuantizeLinear", ["f", "sy", "zy"], ["yq"]),
                 h.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"])]
        inits.append(i64("one1", [1]))
        model = make_model(nodes, [h.make_tensor_value_info("x", T.FLOAT, list(x.shape))],
                           [h.make_tensor_value_info("y", T.FLOAT, None)], inits, opset=13)
        path = save(model, tmp, f"move_{name}")
        ops, err = ops_after_optimize(path, tmp)
        op = name.split("_")[0]
        stays = name in ("Reshape_rescaled", "Concat_mixed")
        if ops is not None:  # the op reads a QuantizeLinear (or an 8-bit Slice of one), not a DequantizeLinear
            m = onnx.load(os.path.join(tmp, f"opt_move_{name}.onnx"))
            prod = {o: n.op_type for n in m.graph.node for o in n.output}
            node_in = [n for n in m.graph.node if n.op_type == op]
            on8 = bool(node_in) and all(prod.get(i) != "DequantizeLinear" for i in node_in[0].input[:2] if i in prod)
        check(f"QDQ {name}: {'DQ / Q kept' if stays else 'run on the 8-bit tensor'}",
              ops is not None and on8 != stays, f"{ops} {err}")
        plain = sinter_outputs(path, {"x": x}, opt_level=1)[0]
        want = ort_outputs(path, {"x": x})[0]
        for isa, t in (("auto", 1), ("auto", 2), ("scalar", 1)):
            got = sinter_outputs(path, {"x": x}, threads=t, isa=isa)[0]
            check(f"QDQ {name} {isa} t{t}: the unfused bytes, equal to ORT",
                  got.shape == want.shape and np.array_equal(got, plain) and np.array_equal(got, want),
                  f"{got.shape} {want.shape} {float(np.max(np.abs(got - want))) if got.shape == want.shape else ''}")


def qdq_const_binary_cases(tmp):
    """DQ(a) <op> a float constant over a's trailing axes -> Q (a bias Add; the constant float or
    dequantized 8-bit), for Add, Sub, Mul, Div, the constant either side: one sinter:QDQBinary, the
    bytes of the unfused ops (Sinter -O1) and of ONNX Runtime's unfused run; a constant over a's leading
    axes (per channel of NCHW) stays float."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    import onnxruntime as ort
    rng = np.random.default_rng(24)
    x = rng.standard_normal((2, 3, 5, 24)).astype(np.float32)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    cases = [("Add", False, (24,), False), ("Sub", True, (24,), False), ("Sub", False, (1, 5, 24), False),
             ("Mul", False, (5, 24), True), ("Div", True, (24,), False), ("Div", False, (1, 1, 24), True),
             ("Add", False, (3, 1, 1), False)]
    for op, first, shape, dq in cases:
        kv = (rng.standard_normal(shape) * 0.5 + (1.5 if op == "Div" else 0)).astype(np.float32)
        inits = [nh.from_array(np.array(np.float32(0.03)), "sx"), nh.from_array(np.array(np.uint8(128)), "zx"),
                 nh.from_array(np.array(np.float32(0.04)), "sy"), nh.from_array(np.array(np.uint8(100)), "zy")]
        nodes = [h.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
                 h.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xf"])]
        if dq:
            inits += [nh.from_array(np.clip(np.round(kv / 0.02), -127, 127).astype(np.int8), "kq"),
                      nh.from_array(np.array(np.float32(0.02)), "ks")]
            nodes.append(h.make_node("DequantizeLinear", ["kq", "ks"], ["k"]))
        else:
            inits.append(nh.from_array(kv, "k"))
        nodes += [h.make_node(op, ["k", "xf"] if first else ["xf", "k"], ["f"]),
                  h.make_node("QuantizeLinear", ["f", "sy", "zy"], ["yq"]),
                  h.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"])]
        model = make_model(nodes, [h.make_tensor_value_info("x", T.FLOAT, list(x.shape))],
                           [h.make_tensor_value_info("y", T.FLOAT, None)], inits, opset=13)
        name = f"qdqbin_{op}_{'first' if first else 'second'}_{'x'.join(map(str, shape))}{'_dq' if dq else ''}"
        path = save(model, tmp, name)
        ops, err = ops_after_optimize(path, tmp)
        kinds = [o[1] for o in (ops or [])]
        stays = shape == (3, 1, 1)
        check(f"{name}: {'stays float' if stays else 'one QDQBinary'}",
              ops is not None and (op in kinds if stays else kinds.count("QDQBinary") == 1 and op not in kinds),
              f"{kinds} {err}")
        plain = sinter_outputs(path, {"x": x}, opt_level=1)[0]
        want = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        for isa, t in (("auto", 1), ("auto", 2), ("scalar", 1)):
            got = sinter_outputs(path, {"x": x}, threads=t, isa=isa)[0]
            check(f"{name} {isa} t{t}: the unfused bytes, equal to ORT's unfused run",
                  np.array_equal(got, plain) and np.array_equal(got, want),
                  f"{float(np.max(np.abs(got - plain))):.3g} from -O1, {float(np.max(np.abs(got - want))):.3g} from ORT")
    # Keras' input normalization in a quantize_static model: Sub of a [1, 1, 1, C] constant from an NHWC
    # image at batch 1, its batch declared symbolic or 1 (leading 1s broadcast against a 1 too: the
    # symbolic one was fused and then refused by the kernel at batch 1, the static one left float)
    x1 = rng.standard_normal((1, 5, 4, 24)).astype(np.float32)
    for batch in ("N", 1):
        inits = [nh.from_array(np.array(np.float32(0.03)), "sx"), nh.from_array(np.array(np.int8(-3)), "zx"),
                 nh.from_array(np.array(np.float32(0.04)), "sy"), nh.from_array(np.array(np.int8(5)), "zy"),
                 nh.from_array(rng.standard_normal((1, 1, 1, 24)).astype(np.float32), "k")]
        nodes = [h.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
                 h.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xf"]), h.make_node("Sub", ["xf", "k"], ["f"]),
                 h.make_node("QuantizeLinear", ["f", "sy", "zy"], ["yq"]),
                 h.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"])]
        model = make_model(nodes, [h.make_tensor_value_info("x", T.FLOAT, [batch, 5, 4, 24])],
                           [h.make_tensor_value_info("y", T.FLOAT, None)], inits, opset=13)
        path = save(model, tmp, f"qdqbin_lead_ones_{batch}")
        ops, err = ops_after_optimize(path, tmp)
        kinds = [o[1] for o in (ops or [])]
        want = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"x": x1})[0]
        try:
            got = sinter_outputs(path, {"x": x1})[0]
            same = np.array_equal(got, want)
        except Exception as e:  # noqa: BLE001
            same, err = False, f"{err} {e}"
        check(f"QDQBinary of a [1,1,1,24] constant, batch {batch}: fused, equal to ORT's unfused run",
              kinds.count("QDQBinary") == 1 and same, f"{kinds} {err}")


def qdq_layernorm_cases(tmp):
    """DQ -> LayerNormalization -> Q as one QDQLayerNormalization also without B, over two axes (axis 1
    of a rank-3 x) and from uint8 to int8: the unfused bytes (Sinter -O1), equal to ONNX Runtime"""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    x = np.random.default_rng(25).standard_normal((2, 4, 6)).astype(np.float32)
    for name, ln_in, axis in (("nobias", ["xf", "g"], -1), ("axis1", ["xf", "g2", "b2"], 1), ("bias", ["xf", "g", "b"], -1)):
        inits = [nh.from_array(np.array(np.float32(0.03)), "sx"), nh.from_array(np.array(np.uint8(120)), "zx"),
                 nh.from_array(np.array(np.float32(0.02)), "sy"), nh.from_array(np.array(np.int8(3)), "zy")]
        if "g" in ln_in:
            inits.append(nh.from_array(np.linspace(0.5, 1.5, 6).astype(np.float32), "g"))
        if "b" in ln_in:
            inits.append(nh.from_array(np.linspace(-0.2, 0.2, 6).astype(np.float32), "b"))
        if "g2" in ln_in:
            inits += [nh.from_array(np.linspace(0.5, 1.5, 24).astype(np.float32).reshape(4, 6), "g2"),
                      nh.from_array(np.linspace(-0.2, 0.2, 24).astype(np.float32).reshape(4, 6), "b2")]
        nodes = [h.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
                 h.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xf"]),
                 h.make_node("LayerNormalization", ln_in, ["f"], axis=axis),
                 h.make_node("QuantizeLinear", ["f", "sy", "zy"], ["yq"]),
                 h.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"])]
        m = make_model(nodes, [h.make_tensor_value_info("x", T.FLOAT, list(x.shape))],
                       [h.make_tensor_value_info("y", T.FLOAT, None)], inits, opset=17)
        path = save(m, tmp, f"qdq_ln_{name}")
        ops, err = ops_after_optimize(path, tmp)
        kinds = [o[1] for o in (ops or [])]
        check(f"QDQ LayerNormalization {name}: one QDQLayerNormalization", ops is not None and
              kinds.count("QDQLayerNormalization") == 1 and "LayerNormalization" not in kinds, f"{kinds} {err}")
        plain = sinter_outputs(path, {"x": x}, opt_level=1)[0]
        want = ort_outputs(path, {"x": x})[0]
        for isa, t in (("auto", 1), ("auto", 2), ("scalar", 1)):
            got = sinter_outputs(path, {"x": x}, threads=t, isa=isa)[0]
            check(f"QDQ LayerNormalization {name} {isa} t{t}: the unfused bytes, equal to ORT",
                  np.array_equal(got, plain) and np.array_equal(got, want), f"{float(np.abs(got - want).max()):.3g}")


def lookup_compose_cases(tmp):
    """8-bit elementwise ops of one value composed into one table (passes/lookup.c): a QLinearAdd /
    QLinearMul of a constant scalar, a QLinearMul of x by a lookup of x, a lookup of a lookup,
    QLinearSigmoid; kept: a per-channel constant operand, operands of two different values. The bytes
    of the unfused ops (Sinter -O1) and of ONNX Runtime."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(23)
    x = rng.standard_normal((2, 8, 16)).astype(np.float32) * 2
    x2 = rng.standard_normal((2, 8, 16)).astype(np.float32)
    u8 = lambda name, v: nh.from_array(np.array(v, np.uint8), name)  # noqa: E731
    f32 = lambda name, v: nh.from_array(np.array(v, np.float32), name)  # noqa: E731
    inits = [f32("sx", 0.03), u8("zx", 128), f32("s1", 0.02), u8("z1", 100), f32("s2", 0.05), u8("z2", 30),
             f32("s3", 0.04), u8("z3", 7), f32("sc", 0.01), u8("kc", 77), u8("kv", rng.integers(0, 255, 16))]
    cases = {
        # x + c, then x * (x + c), then that * c, then sigmoid: one table
        "chain": [h.make_node("QLinearAdd", ["xq", "sx", "zx", "kc", "sc", "zx", "s1", "z1"], ["a"], domain="com.microsoft"),
                  h.make_node("QLinearMul", ["xq", "sx", "zx", "a", "s1", "z1", "s2", "z2"], ["b"], domain="com.microsoft"),
                  h.make_node("QLinearMul", ["b", "s2", "z2", "kc", "sc", "zx", "s3", "z3"], ["c"], domain="com.microsoft"),
                  h.make_node("QLinearSigmoid", ["c", "s3", "z3", "s1", "z1"], ["yq"], domain="com.microsoft")],
        "per_channel": [h.make_node("QLinearAdd", ["xq", "sx", "zx", "kv", "sc", "zx", "s1", "z1"], ["yq"], domain="com.microsoft")],
        "two_values": [h.make_node("QLinearAdd", ["xq", "sx", "zx", "kc", "sc", "zx", "s1", "z1"], ["a"], domain="com.microsoft"),
                       h.make_node("QLinearMul", ["x2q", "sx", "zx", "a", "s1", "z1", "s2", "z2"], ["yq"], domain="com.microsoft")],
    }
    for name, body in cases.items():
        ysc, yz = ("s1", "z1") if name in ("chain", "per_channel") else ("s2", "z2")
        nodes = [h.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
                 h.make_node("QuantizeLinear", ["x2", "sx", "zx"], ["x2q"])] + body + [
                 h.make_node("DequantizeLinear", ["yq", ysc, yz], ["y"])]
        model = make_model(nodes, [h.make_tensor_value_info("x", T.FLOAT, list(x.shape)),
                                   h.make_tensor_value_info("x2", T.FLOAT, list(x2.shape))],
                           [h.make_tensor_value_info("y", T.FLOAT, None)], inits, opset=13, domains={"com.microsoft": 1})
        path = save(model, tmp, f"compose_{name}")
        ops, err = ops_after_optimize(path, tmp)
        kinds = [o[1] for o in (ops or [])]
        want_one = name == "chain"
        kept = "QLinearAdd" if name == "per_channel" else "QLinearMul"
        ok = ops is not None and (kinds.count("QLinearLookup") == 1 and not {"QLinearAdd", "QLinearMul", "QLinearSigmoid"} & set(kinds)
                                  if want_one else kept in kinds)
        check(f"compose lookups {name}: {'one table' if want_one else 'kept'}", ok, f"{kinds} {err}")
        feeds = {"x": x, "x2": x2}
        plain = sinter_outputs(path, feeds, opt_level=1)[0]
        want = ort_outputs(path, feeds)[0]
        for isa, t in (("auto", 1), ("auto", 2), ("scalar", 1)):
            got = sinter_outputs(path, feeds, threads=t, isa=isa)[0]
            steps = float(np.max(np.abs(got - want))) / float(numpy_helper.to_array([i for i in inits if i.name == ysc][0]))
            check(f"compose lookups {name} {isa} t{t}: the unfused bytes, within a step of ORT",
                  np.array_equal(got, plain) and steps <= 1.001, f"{steps:.3g} steps from ORT")


def residual_qdq_cases(tmp):
    """ResNet-style residual adds quantized by ORT (QDQ): Sinter moves each QLinearAdd into the conv
    that feeds it (passes/qdq.c): into the epilogue of the channels x positions GEMM (1x1,
    kernels/qgemm.h), and in place after the conv where its path does not take it (3x3 through the
    padded copy; 1x1 on 7x7 with 288 channels computed as positions x channels, the conv being the
    Add's second operand). Equal to ORT, bit-identical at every ISA level, no QLinearAdd left."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(3)

    def w(name, *shape):
        return nh.from_array((rng.standard_normal(shape) * (1.0 / np.sqrt(np.prod(shape[1:])))).astype(np.float32),
                             name)

    inits = [w("W1", 16, 16, 3, 3), w("W2", 16, 16, 3, 3), w("W3", 16, 16, 1, 1), w("W4", 288, 16, 3, 3),
             w("W5", 288, 288, 1, 1)]
    nodes = [h.make_node("Conv", ["x", "W1"], ["c1"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c1"], ["a1"]),
             h.make_node("Conv", ["a1", "W2"], ["c2"], pads=[1, 1, 1, 1]), h.make_node("Add", ["c2", "x"], ["s1"]),
             h.make_node("Relu", ["s1"], ["r1"]),
             h.make_node("Conv", ["r1", "W3"], ["c3"]), h.make_node("Add", ["c3", "r1"], ["s2"]),
             h.make_node("Relu", ["s2"], ["r2"]),
             h.make_node("Conv", ["r2", "W4"], ["c4"], pads=[1, 1, 1, 1], strides=[3, 3]),
             h.make_node("Relu", ["c4"], ["r3"]),
             h.make_node("Conv", ["r3", "W5"], ["c5"]), h.make_node("Add", ["r3", "c5"], ["s3"]),
             h.make_node("Relu", ["s3"], ["y"])]
    m = make_model(nodes, [h.make_tensor_value_info("x", T.FLOAT, [1, 16, 20, 20])],
                   [h.make_tensor_value_info("y", T.FLOAT, None)], inits, name="res")
    xs = [rng.uniform(-2, 2, (1, 16, 20, 20)).astype(np.float32) for _ in range(9)]
    qp, ref, outs = ort_qdq(tmp, "res", m, xs)
    check_same_and_ort("QDQ residual adds", ref, outs)
    ops, err = ops_after_optimize(qp, tmp)
    ops = ops or []
    check("QDQ residual adds: fused into the convolutions", ops and not any(o[1] == "QLinearAdd" for o in ops),
          err or f"ops {sorted(set(ops))}")


def branch_residual_cases(tmp):
    """A residual Add of two conv branches (RegNet's and ResNet's downsampling blocks: a 1x1 projection
    beside a conv chain) with the projection first, in the graph and as the Add's first operand. The Add
    goes into one of the convs, which then reads the other branch's output: a quantized RegNetY-400MF
    failed with "has no value" when the projection conv took it and still ran before the chain. Equal
    to ORT, bit-identical at every ISA."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(4)

    def w(name, *shape):
        return nh.from_array((rng.standard_normal(shape) * (1.0 / np.sqrt(np.prod(shape[1:])))).astype(np.float32),
                             name)

    inits = [w("Wp", 32, 16, 1, 1), w("W1", 32, 16, 3, 3), w("W2", 32, 32, 3, 3)]
    nodes = [h.make_node("Conv", ["x", "Wp"], ["proj"], strides=[2, 2]),
             h.make_node("Conv", ["x", "W1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
             h.make_node("Relu", ["c1"], ["a1"]),
             h.make_node("Conv", ["a1", "W2"], ["c2"], pads=[1, 1, 1, 1]),
             h.make_node("Add", ["proj", "c2"], ["s"]), h.make_node("Relu", ["s"], ["y"])]
    m = make_model(nodes, [h.make_tensor_value_info("x", T.FLOAT, [1, 16, 14, 14])],
                   [h.make_tensor_value_info("y", T.FLOAT, None)], inits, name="branches")
    xs = [rng.uniform(-2, 2, (1, 16, 14, 14)).astype(np.float32) for _ in range(9)]
    try:
        _, ref, outs = ort_qdq(tmp, "branches", m, xs)
    except Exception as e:  # (a Sinter error names the node and value)
        check("QDQ two-branch residual: runs", False, f"{type(e).__name__}: {e}")
        return
    check_same_and_ort("QDQ two-branch residual (projection first)", ref, outs)


def nhwc_region_cases(tmp):
    """A small ResNet quantized by ORT (QDQ, u8 and s8 activations): its chain of 8-bit convolutions
    runs channels-last (passes/layout_q8.c: sinter:QLinearConv channels_last = 1, one Transpose into
    the region after the max pool and one out of it before the average pool) - 1x1 and 3x3, strided,
    padded, 18 channels (rows copied, not read in place), residual adds in the epilogue, batch 2.
    Outputs equal ONNX Runtime's bit for bit at every ISA level and the NCHW run's (SINTER_NHWC8=0)."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    rng = np.random.default_rng(5)
    inits, nodes = [], []

    def conv(x, cin, cout, k, stride=1, relu=True):
        name = f"W{len(inits)}"
        shape = (cout, cin, k, k)
        inits.append(nh.from_array((rng.standard_normal(shape) / np.sqrt(cin * k * k)).astype(np.float32), name))
        inits.append(nh.from_array((rng.standard_normal(cout) * 0.1).astype(np.float32), name + "b"))
        y = f"c{len(nodes)}"
        nodes.append(h.make_node("Conv", [x, name, name + "b"], [y], pads=[k // 2] * 4, strides=[stride, stride]))
        if not relu:
            return y
        nodes.append(h.make_node("Relu", [y], [y + "r"]))
        return y + "r"

    def block(x, cin, mid, cout, stride):
        a = conv(conv(x, cin, mid, 1), mid, mid, 3, stride)
        b = conv(a, mid, cout, 1, relu=False)
        sc = conv(x, cin, cout, 1, stride, relu=False) if stride != 1 or cin != cout else x
        s = f"s{len(nodes)}"
        nodes.append(h.make_node("Add", [b, sc], [s]))
        nodes.append(h.make_node("Relu", [s], [s + "r"]))
        return s + "r"

    t = conv("x", 3, 24, 3, 2)
    nodes.append(h.make_node("MaxPool", [t], ["mp"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    t = block("mp", 24, 18, 48, 1)
    t = block(t, 48, 16, 48, 1)
    t = block(t, 48, 32, 96, 2)
    t = block(t, 96, 32, 96, 1)
    t = block(t, 96, 32, 96, 1)
    nodes.append(h.make_node("GlobalAveragePool", [t], ["y"]))
    m = make_model(nodes, [h.make_tensor_value_info("x", T.FLOAT, [2, 3, 33, 33])],
                   [h.make_tensor_value_info("y", T.FLOAT, None)], inits, name="mini_resnet")
    m.ir_version = 8
    xs = [rng.uniform(-2, 2, (2, 3, 33, 33)).astype(np.float32) for _ in range(6)]
    fp = save(m, tmp, "mini_resnet")
    for act, tag in ((QuantType.QUInt8, "u8"), (QuantType.QInt8, "s8")):
        qp = os.path.join(tmp, f"mini_resnet_{tag}.onnx")
        quantize_static(fp, qp, calibration_reader({"x": x} for x in xs[:-1]), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=act, weight_type=QuantType.QInt8)
        out = os.path.join(tmp, f"opt_mini_resnet_{tag}.onnx")
        r = run_cli("optimize", qp, out)
        if r.returncode:
            check(f"NHWC region ({tag}): sinter optimize", False, r.stderr.strip())
            continue
        g = onnx.load(out).graph
        cl = [n for n in g.node if n.op_type == "QLinearConv" and
              any(a.name == "channels_last" and a.i == 1 for a in n.attribute)]
        tr = [n for n in g.node if n.op_type == "Transpose"]
        check(f"NHWC region ({tag}): 17 convolutions channels-last, 2 Transposes", len(cl) == 17 and len(tr) == 2,
              f"{len(cl)} channels-last, {len(tr)} Transposes")
        isas = ("scalar", "avx2", "avx512")
        ref, outs = ort_and_sinter(qp, {"x": xs[-1]}, [(isa, 2) for isa in isas])
        check_same_and_ort(f"NHWC region ({tag})", ref, dict(zip(isas, outs)))
        one = sinter_outputs(qp, {"x": xs[-1]}, threads=1)[0]
        os.environ["SINTER_NHWC8"] = "0"
        try:
            nchw = sinter_outputs(qp, {"x": xs[-1]}, threads=2)[0]
        finally:
            del os.environ["SINTER_NHWC8"]
        check(f"NHWC region ({tag}): 1 thread and the NCHW run give the same bytes",
              np.array_equal(one, outs[-1]) and np.array_equal(nchw, outs[-1]))


def main():
    if not require_sinter():
        return finish()
    fp32 = sinter_logits(MODEL, HELD)
    acc32 = accuracy(fp32)
    print(f"fp32 held-out accuracy: {acc32:.2f}%")
    with tempfile.TemporaryDirectory() as tmp:
        cal = calibration_dir(tmp, "cal", {"image": CAL})
        models = {}
        for mode in ("static", "static-s8", "dynamic"):
            out = os.path.join(tmp, f"sn_{mode}.onnx")
            args = ["--mode", mode.split("-")[0]] + (["--calibration", cal] if mode != "dynamic" else [])
            if mode == "static-s8":  # symmetric int8 activations (the +128 path of the kernels)
                args += ["--activation-type", "int8"]
            r = run_cli("quantize", MODEL, out, *args, "--report", os.devnull)
            check(f"sinter quantize {mode}", r.returncode == 0, r.stderr.strip())
            if r.returncode == 0:
                models[f"sinter {mode}"] = out
        dq_axis_cases(tmp)
        dq_gather_cases(tmp)
        lookup_chain_cases(tmp)
        act_matmul_cases(tmp)
        float_out_epilogue_cases(tmp)
        dq_weight_fold_cases(tmp)
        dynamic_lstm_cases(tmp)
        dynamic_bias_cases(tmp)
        pool_qdq_cases(tmp)
        qdq_move_cases(tmp)
        qdq_const_binary_cases(tmp)
        qdq_layernorm_cases(tmp)
        lookup_compose_cases(tmp)
        qdq_encoder_cases(tmp)
        residual_qdq_cases(tmp)
        branch_residual_cases(tmp)
        nhwc_region_cases(tmp)
        qop_extra_cases(tmp)
        try:
            from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
            for fmt, tag in ((QuantFormat.QDQ, "QDQ"), (QuantFormat.QOperator, "QOperator")):
                out = os.path.join(tmp, f"ort_{tag}.onnx")
                quantize_static(MODEL, out, digits_reader(), quant_format=fmt, per_channel=True,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
                models[f"ORT {tag}"] = out
            # ONNX Runtime's com.microsoft QuantizeLinear / DequantizeLinear (UseQDQContribOps): fused
            # like the standard ones; and 16-bit activations (QDQ computed in float32, as ORT does)
            for tag, kw in (("QDQ contrib", dict(extra_options={"UseQDQContribOps": True})),
                            ("QDQ u16 contrib", dict(activation_type=QuantType.QUInt16,
                                                     extra_options={"UseQDQContribOps": True}))):
                out = os.path.join(tmp, f"ort_{tag.replace(' ', '_')}.onnx")
                kw.setdefault("activation_type", QuantType.QUInt8)
                quantize_static(MODEL, out, digits_reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                                weight_type=QuantType.QInt8, **kw)
                models[f"ORT {tag}"] = out
        except Exception as e:  # noqa: BLE001
            check("onnxruntime quantize_static", False, f"{type(e).__name__}: {e}")

        # accuracy: static INT8 and bf16 within 0.5 points of float32
        if "sinter static" in models:
            q = sinter_logits(models["sinter static"], HELD)
            check("static INT8 accuracy", accuracy(q) >= acc32 - 0.5, f"{accuracy(q):.2f}% (fp32 {acc32:.2f}%)")
        b = sinter_logits(MODEL, HELD, precision="bf16")
        check("bf16 accuracy", accuracy(b) >= acc32 - 0.5, f"{accuracy(b):.2f}% (fp32 {acc32:.2f}%)")
        scale = float(np.abs(fp32).max())
        d = float(np.abs(b - fp32).max())
        # bf16 keeps 8 significant bits: products err by ~2^-8 relative, sums of them by a few times that
        check("bf16 logits near float32", d <= 3e-2 * scale, f"max diff {d:.3g} (logit scale {scale:.3g})")
        # (SINTER_ISA below avx512 turns the bf16 kernels off, as the ISA cap does for every AVX-512 kernel;
        # on Intel's cores bf16 runs on AMX tiles only: testlib.bf16_mode)
        cap = os.environ.get("SINTER_ISA", "auto") or "auto"
        has_bf16 = bf16_mode("avx512" if cap in ("auto", "avx512", "amx") else cap) is not None
        check("bf16 path taken where the CPU has AVX512-BF16 and the ISA cap allows it", (d > 0) == has_bf16,
              f"bf16 usable {has_bf16}, diff {d:.3g}")
        check("fp32 precision option is float32", np.array_equal(sinter_logits(MODEL, HELD, precision="fp32"), fp32))

        for label, path in models.items():
            # ISA independence
            outs = {isa: sinter_logits(path, HELD, isa=isa) for isa in ("scalar", "avx2", "avx512")}
            same = all(np.array_equal(outs["scalar"], o) for o in outs.values())
            spread = max(float(np.abs(outs['scalar'] - o).max()) for o in outs.values())
            if "u16" in label:  # 16-bit activations: float32 convolutions between the QDQ pairs
                check(f"{label}: the same at scalar/avx2/avx512 within float32 rounding",
                      spread <= 1e-4 * float(np.abs(outs["scalar"]).max()), f"max diff {spread:.3g}")
            else:
                check(f"{label}: bit-identical at scalar/avx2/avx512", same, "" if same else f"max diff {spread:.3g}")
            fused = outs["avx512"]
            # fusion on vs off
            plain = sinter_logits(path, HELD, opt_level=1)
            scale = float(np.abs(plain).max())
            d = float(np.abs(fused - plain).max())
            agree = float((fused.argmax(1) == plain.argmax(1)).mean())
            tol = 1e-5 if "dynamic" in label else 5e-2
            check(f"{label}: fused (-O3) vs unfused (-O1)", d <= tol * scale and agree >= 0.99,
                  f"max diff {d:.3g} (scale {scale:.3g}), top-1 agreement {agree:.3f}")
            # against ONNX Runtime
            o = ort_logits(path, HELD)
            d = float(np.abs(fused - o).max())
            agree = float((fused.argmax(1) == o.argmax(1)).mean())
            tol = (1e-4 if "u16" in label else 1e-5) if label.startswith("ORT") else 5e-2
            check(f"{label}: Sinter vs ORT", d <= tol * max(scale, 1e-6) and agree >= 0.99,
                  f"max diff {d:.3g}, top-1 agreement {agree:.3f}, Sinter acc {accuracy(fused):.2f}%")

        qlinear_cases(tmp)
        pool8_cases(tmp)
        qbin_cases(tmp)
        qgap_cases(tmp)
        mobile_qdq_cases(tmp)
        bad_models(tmp)
        # the fused graphs: integer ops, no float Conv/Gemm/MatMul left
        for label in ("sinter static", "ORT QDQ", "ORT QDQ contrib"):
            if label not in models:
                continue
            ops, err = ops_after_optimize(models[label], tmp)
            if ops is None:
                check(f"{label}: sinter optimize", False, err)
                continue
            fused_ops = [o for o in ops if o[0] == "sinter" and o[1] in ("QLinearConv", "QLinearMatMul")]
            floats = [o for o in ops if o[0] == "" and o[1] in ("Conv", "Gemm", "MatMul")]
            check(f"{label}: QDQ fused into integer ops", len(fused_ops) >= 3 and not floats,
                  f"{len(fused_ops)} fused, float left: {floats}")
        if "sinter dynamic" in models:
            ops, err = ops_after_optimize(models["sinter dynamic"], tmp)
            ok = ops is not None and ("com.microsoft", "DynamicQuantizeMatMul") in ops
            check("sinter dynamic: MatMulInteger chain fused", ok, err or str(sorted(set(ops or []))))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
