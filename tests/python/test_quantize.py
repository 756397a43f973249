"""`sinter quantize` on the digits classifier: dynamic and static (QDQ) INT8 models pass
onnx.checker, run in ONNX Runtime, agree between Sinter and ORT, and lose at most 0.5 points of
held-out accuracy against float32 (calibration: the first half of test_images.npy; held out: the
second half). Also: a model quantized by onnxruntime.quantization.quantize_dynamic runs in Sinter and
matches ORT; and on a small residual network (stem Conv, Relu, MaxPool, two blocks whose Conv output
is added to the block's input, then Relu), static quantization also puts QDQ around the Adds (the
Relu after them dropped: uint8 with zero point 0 clamps at 0 itself) and the MaxPool (one scale and
zero point on both sides), Sigmoid and Mul (SiLU, squeeze-excitation), so that Sinter's optimized
graph keeps no float Add, Relu, Clip (ReLU6), MaxPool, Sigmoid or Mul: the residual and the clamps run
in the QLinearConv epilogue, the SiLU as a lookup, as on ONNX Runtime's own QDQ models.

Plain python: prints "N passed, M failed", exits non-zero on failure. SINTER_BUILD names the build
folder (default <repo>/build)."""
import os
import sys
import tempfile

import numpy as np
import onnx

from digits import CAL, HELD, MODEL, accuracy, ort_logits, sinter_logits
from onnx import TensorProto, helper, numpy_helper
from testlib import (calibration_dir, calibration_reader, check, finish, ort_outputs, require_sinter, run_cli,
                     set_verbose, sinter_outputs)

set_verbose(True)


def quantize(args, out, tmp):
    report = os.path.join(tmp, os.path.basename(out) + ".report.txt")
    r = run_cli("quantize", MODEL, out, *args, "--report", report)
    ok = r.returncode == 0 and os.path.exists(out)
    check(f"quantize {' '.join(args)}", ok, r.stdout.strip() + r.stderr.strip())
    if ok:
        with open(report) as f:
            lines = [ln for ln in f.read().splitlines()[1:] if ln.strip() and not ln.startswith("#")]
        # one line per quantized tensor, each with a finite error below 5%
        errs = [float(ln.split()[-1]) for ln in lines]
        check(f"report {' '.join(args)}", len(lines) >= 4 and all(0 <= e < 0.05 for e in errs),
              f"{len(lines)} tensors, max rel err {max(errs) if errs else None}")
    return ok


def verify(label, path, fp32_acc, ops_expected):
    try:
        m = onnx.load(path)
        onnx.checker.check_model(m, full_check=True)
        check(f"{label} onnx.checker", True)
    except Exception as e:  # noqa: BLE001
        check(f"{label} onnx.checker", False, str(e))
        return None
    ops = {n.op_type for n in m.graph.node}
    check(f"{label} ops", ops_expected <= ops and all(n.domain in ("", "ai.onnx") for n in m.graph.node),
          f"{sorted(ops)}")
    try:
        o = ort_logits(path, HELD)
    except Exception as e:  # noqa: BLE001
        check(f"{label} runs in ORT", False, str(e))
        return None
    check(f"{label} runs in ORT", True)
    try:
        s = sinter_logits(path, HELD)
    except Exception as e:  # noqa: BLE001
        check(f"{label} runs in Sinter", False, str(e))
        return None
    scale = float(np.abs(o).max())
    diff = float(np.abs(o - s).max())
    check(f"{label} Sinter vs ORT", diff <= 2e-2 * scale, f"max diff {diff:.3g} (logit scale {scale:.3g})")
    acc_o, acc_s = accuracy(o), accuracy(s)
    check(f"{label} accuracy", acc_o >= fp32_acc - 0.5 and acc_s >= fp32_acc - 0.5,
          f"ORT {acc_o:.2f}%, Sinter {acc_s:.2f}% (fp32 {fp32_acc:.2f}%)")
    return acc_s


def residual_net(path):
    """stem Conv 3->16 s2 + Relu + MaxPool, two blocks y = Relu(x + Conv(act(Conv(x)))) (act: Relu, then
    ReLU6 as Clip(0, 6)), Conv + SiLU, squeeze-excitation, Conv, GlobalAveragePool, Flatten, Gemm to 10
    (seeded random weights, He-scaled)"""
    rng = np.random.default_rng(7)
    inits, nodes = [], []

    def w(name, *shape):
        fan = int(np.prod(shape[1:]))
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2.0 / fan)).astype(np.float32), name))
        return name

    inits += [numpy_helper.from_array(np.float32(0), "zero"), numpy_helper.from_array(np.float32(6), "six")]

    def conv(x, y, cin, cout, k, s=1, relu=True, relu6=False):
        b = y + "_b"
        inits.append(numpy_helper.from_array((rng.standard_normal(cout) * 0.1).astype(np.float32), b))
        out = y + "_pre" if relu or relu6 else y
        nodes.append(helper.make_node("Conv", [x, w(y + "_w", cout, cin, k, k), b], [out], name=y + "/Conv",
                                      kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4))
        if relu6:  # MobileNet's ReLU6
            nodes.append(helper.make_node("Clip", [out, "zero", "six"], [y], name=y + "/Clip"))
        elif relu:
            nodes.append(helper.make_node("Relu", [out], [y], name=y + "/Relu"))
        return y

    x = conv("x", "stem", 3, 16, 3, 2)
    nodes.append(helper.make_node("MaxPool", [x], ["pool"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
                                  pads=[1, 1, 1, 1]))
    x = "pool"
    for i in range(2):
        h = conv(x, f"b{i}a", 16, 16, 3, relu6=i == 1)
        h = conv(h, f"b{i}b", 16, 16, 3, relu=False)
        nodes.append(helper.make_node("Add", [h, x], [f"b{i}_sum"], name=f"b{i}/Add"))
        nodes.append(helper.make_node("Relu", [f"b{i}_sum"], [f"b{i}"], name=f"b{i}/Relu"))
        x = f"b{i}"
    def silu(x, y):
        nodes.append(helper.make_node("Sigmoid", [x], [y + "_sig"], name=y + "/Sigmoid"))
        nodes.append(helper.make_node("Mul", [x, y + "_sig"], [y], name=y + "/Mul"))
        return y

    # EfficientNet's tail: a SiLU conv, then squeeze-excitation (its first bias behind an Identity, as
    # torch exports shared initializers)
    x = silu(conv(x, "head", 16, 32, 1, relu=False), "head_silu")
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["se_gap"], name="se/gap"))
    h = conv("se_gap", "se1", 32, 8, 1, relu=False)
    nodes[-1].input[2] = "se1_b_id"
    nodes.append(helper.make_node("Identity", ["se1_b"], ["se1_b_id"], name="se1/bias"))
    h = conv(silu(h, "se1_silu"), "se2", 8, 32, 1, relu=False)
    nodes.append(helper.make_node("Sigmoid", [h], ["se_scale"], name="se/Sigmoid"))
    nodes.append(helper.make_node("Mul", [x, "se_scale"], ["se_out"], name="se/Mul"))
    x = conv("se_out", "proj", 32, 16, 1, relu=False)  # (the block's projection)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flat"))
    nodes.append(helper.make_node("Gemm", ["flat", w("fc_w", 10, 16), "fc_b"], ["logits"], name="fc", transB=1))
    inits.append(numpy_helper.from_array(np.zeros(10, np.float32), "fc_b"))
    g = helper.make_graph(nodes, "resnet_mini", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)


def residual_case(tmp):
    src, out, opt = (os.path.join(tmp, n) for n in ("res.onnx", "res_q.onnx", "res_q_opt.onnx"))
    residual_net(src)
    rng = np.random.default_rng(11)
    cal = calibration_dir(tmp, "res_cal", {"x": rng.uniform(-1, 1, (16, 3, 32, 32)).astype(np.float32)})
    held = rng.uniform(-1, 1, (16, 3, 32, 32)).astype(np.float32)
    r = run_cli("quantize", src, out, "--mode", "static", "--calibration", cal)
    if not check("residual net: static quantize", r.returncode == 0, r.stderr.strip()):
        return
    m = onnx.load(out)
    onnx.checker.check_model(m, full_check=True)
    prod = {o: n for n in m.graph.node for o in n.output}
    adds = [n for n in m.graph.node if n.op_type == "Add"]
    check("residual net: both inputs of each Add dequantized", len(adds) == 2 and all(
        prod[i].op_type == "DequantizeLinear" for n in adds for i in n.input), f"{len(adds)} Adds")
    relus = [n.name for n in m.graph.node if n.op_type == "Relu"]
    check("residual net: the Relus after the Adds dropped", "b0/Relu" not in relus and "b1/Relu" not in relus and
          len(relus) == 2, f"{relus}")
    pool = next(n for n in m.graph.node if n.op_type == "MaxPool")
    dq = prod[pool.input[0]]
    q = next(n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == pool.output[0])
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    check("residual net: MaxPool between DQ and Q of one scale and zero point", dq.op_type == "DequantizeLinear" and
          inits[dq.input[1]] == inits[q.input[1]] and inits[dq.input[2]] == inits[q.input[2]])
    o32 = ort_outputs(src, {"x": held})[0]
    oq = ort_outputs(out, {"x": held})[0]
    sq = sinter_outputs(out, {"x": held}, threads=1)[0]
    cos = float((oq * o32).sum() / np.linalg.norm(oq) / np.linalg.norm(o32))
    check("residual net: INT8 (ORT) near float32", cos >= 0.99, f"cosine {cos:.5f}")
    scale, diff = float(np.abs(oq).max()), float(np.abs(oq - sq).max())
    check("residual net: Sinter vs ORT on the INT8 model", diff <= 3e-2 * scale, f"max diff {diff:.3g} (scale {scale:.3g})")
    r = run_cli("optimize", out, opt)
    if check("residual net: sinter optimize", r.returncode == 0, r.stderr.strip()):
        ops = sorted({(n.domain or "") + ":" + n.op_type for n in onnx.load(opt).graph.node})
        # (the input's QuantizeLinear stays: the network's only float step before the head)
        check("residual net: the Adds and the Clip fused into QLinearConv, nothing float between the blocks",
              "sinter:QLinearConv" in ops and
              not {":Add", ":Relu", ":Clip", "com.microsoft:QLinearAdd"} & set(ops), f"{ops}")
        check("residual net: the SiLUs and the squeeze-excitation on 8-bit maps (lookup, QLinearMul)",
              "sinter:QLinearLookup" in ops and "com.microsoft:QLinearMul" in ops and
              not {":Sigmoid", ":Mul"} & set(ops), f"{ops}")


def main():
    if not require_sinter():
        return finish()
    fp32 = accuracy(ort_logits(MODEL, HELD))
    fp32_s = accuracy(sinter_logits(MODEL, HELD))
    print(f"fp32 held-out accuracy: ORT {fp32:.2f}%, Sinter {fp32_s:.2f}%")
    with tempfile.TemporaryDirectory() as tmp:
        cal = calibration_dir(tmp, "cal", {"image": CAL})
        dyn_ops = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "Cast"}
        qdq_ops = {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"}
        cases = [
            ("dynamic", ["--mode", "dynamic"], dyn_ops),
            ("dynamic per-tensor", ["--mode", "dynamic", "--per-tensor"], dyn_ops),
            ("static minmax", ["--mode", "static", "--calibration", cal], qdq_ops),
            ("static percentile int8", ["--mode", "static", "--calibration", cal, "--method", "percentile",
                                        "--activation-type", "int8"], qdq_ops),
        ]
        for i, (label, args, ops) in enumerate(cases):
            out = os.path.join(tmp, f"q{i}.onnx")
            if quantize(args, out, tmp):
                acc = verify(label, out, fp32, ops)
                if acc is not None:
                    print(f"  {label}: held-out accuracy {acc:.2f}% (fp32 {fp32:.2f}%)")
        # options: --keep-first-last and --exclude-nodes leave those nodes in float
        out = os.path.join(tmp, "keep.onnx")
        r = run_cli("quantize", MODEL, out, "--mode", "static", "--calibration", cal, "--keep-first-last",
                    "--exclude-nodes", "/conv2/Conv")
        if r.returncode == 0:
            m = onnx.load(out)
            wdq = [n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0].endswith("_quantized")]
            check("keep-first-last + exclude", len(wdq) == 1 and "fc1" in wdq[0].input[0], f"{len(wdq)} weight DQ")
        else:
            check("keep-first-last + exclude", False, r.stderr)
        # usage errors
        r = run_cli("quantize", MODEL, os.path.join(tmp, "x.onnx"), "--mode", "static")
        check("static without calibration is a usage error", r.returncode == 2, r.stderr.strip())
        r = run_cli("quantize", MODEL, os.path.join(tmp, "x.onnx"), "--mode", "static", "--calibration",
                    os.path.join(tmp, "nothing"))
        check("missing calibration data fails cleanly", r.returncode == 1 and "image" in r.stderr, r.stderr.strip())
        # ONNX Runtime's own quantize_dynamic output runs in Sinter
        try:
            from onnxruntime.quantization import QuantType, quantize_dynamic
            for per_channel in (False, True):
                out = os.path.join(tmp, f"ort_dyn_{int(per_channel)}.onnx")
                quantize_dynamic(MODEL, out, weight_type=QuantType.QInt8, per_channel=per_channel)
                o, s = ort_logits(out, HELD), sinter_logits(out, HELD)
                scale, diff = float(np.abs(o).max()), float(np.abs(o - s).max())
                ops = sorted({n.op_type for n in onnx.load(out).graph.node})
                check(f"ORT quantize_dynamic per_channel={per_channel} in Sinter", diff <= 2e-2 * scale,
                      f"max diff {diff:.3g} (scale {scale:.3g}), Sinter acc {accuracy(s):.2f}%, ops {ops}")
        except Exception as e:  # noqa: BLE001
            check("ORT quantize_dynamic in Sinter", False, f"{type(e).__name__}: {e}")
        # and its quantize_static QDQ output (ORT fuses QDQ into integer kernels that requantize
        # between layers, so the two differ by a few quantization steps: looser bound)
        try:
            from onnxruntime.quantization import QuantFormat, quantize_static
            out = os.path.join(tmp, "ort_qdq.onnx")
            quantize_static(MODEL, out, calibration_reader({"image": CAL[i:i + 1]} for i in range(len(CAL))),
                            quant_format=QuantFormat.QDQ, per_channel=True)
            o, s = ort_logits(out, HELD), sinter_logits(out, HELD)
            scale, diff = float(np.abs(o).max()), float(np.abs(o - s).max())
            agree = float((o.argmax(1) == s.argmax(1)).mean())
            check("ORT quantize_static QDQ in Sinter", diff <= 3e-2 * scale and agree >= 0.99,
                  f"max diff {diff:.3g} (scale {scale:.3g}), top-1 agreement {agree:.3f}")
        except Exception as e:  # noqa: BLE001
            check("ORT quantize_static QDQ in Sinter", False, f"{type(e).__name__}: {e}")
        residual_case(tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
