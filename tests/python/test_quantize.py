"""`sinter quantize` on the digits classifier: dynamic and static (QDQ) INT8 models pass
onnx.checker, run in ONNX Runtime, agree between Sinter and ORT, and lose at most 0.5 points of
held-out accuracy against float32 (calibration: the first half of test_images.npy; held out: the
second half). Also: a model quantized by onnxruntime.quantization.quantize_dynamic runs in Sinter and
matches ORT.

Plain python: prints "N passed, M failed", exits non-zero on failure. SINTER_BUILD names the build
folder (default <repo>/build)."""
import os
import sys
import tempfile

import numpy as np
import onnx

from digits import CAL, HELD, MODEL, accuracy, ort_logits, sinter_logits
from testlib import calibration_dir, calibration_reader, check, finish, require_sinter, run_cli, set_verbose

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
    return finish()


if __name__ == "__main__":
    sys.exit(main())
