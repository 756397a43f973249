"""INT8 and BF16 against float32, in Sinter and ONNX Runtime, interleaved in rounds.

    .venv/bin/python bench/int8.py [--models resnet50,bert_small,bert_base] [--threads 2]
        [--rounds 3] [--seconds 3] [--models-dir build/bench-models] [--build build] [--work /tmp/sinter-int8]

For each model (inputs from models-dir/models.json) it first makes, once, in --work:
  sn_<model>_static.onnx   `sinter quantize --mode static` calibrated on 4 seeded random inputs
  ort_<model>_qdq.onnx     onnxruntime.quantization.quantize_static (QDQ, per-channel s8 weights,
                           u8 activations) on the same 4 inputs
then in every round runs, one after the other: Sinter fp32, Sinter --precision bf16, Sinter on its own
INT8 model, Sinter on ONNX Runtime's QDQ model, ONNX Runtime fp32, ONNX Runtime on its QDQ model
(`sinter bench --time S` P50 for Sinter; the P50 of a --seconds loop for ONNX Runtime, same thread
count, 5 warm-up runs). Prints every measurement and, per model, the median over the rounds and its
ratio to Sinter fp32. The machine's other load hits every configuration of a round alike; compare
ratios, not absolute numbers."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort


def feeds(spec, rng, batch=1):
    out = {}
    for name, d in spec["inputs"].items():
        shape = list(d["shape"])
        if d["dtype"].startswith("float"):
            a = rng.uniform(d.get("low", -1), d.get("high", 1), shape).astype(np.float32)
        else:
            a = rng.integers(d.get("low", 0), d.get("high", 10), shape).astype(np.int64)
            if d.get("zero_tail"):
                a[..., -d["zero_tail"]:] = 0
        out[name] = a
    return out


def make_models(name, spec, args):
    src = os.path.join(args.models_dir, spec["file"])
    sn = os.path.join(args.work, f"sn_{name}_static.onnx")
    oq = os.path.join(args.work, f"ort_{name}_qdq.onnx")
    rng = np.random.default_rng(0)
    samples = [feeds(spec, rng) for _ in range(4)]
    if not os.path.exists(sn):
        cal = os.path.join(args.work, f"cal_{name}")
        os.makedirs(cal, exist_ok=True)
        for k in samples[0]:
            np.save(os.path.join(cal, k + ".npy"), np.concatenate([s[k] for s in samples]))
        subprocess.run([os.path.join(args.build, "sinter"), "quantize", src, sn, "--mode", "static", "--calibration",
                        cal, "--report", os.devnull], check=True)
    if not os.path.exists(oq):
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.it = iter(samples)

            def get_next(self):
                return next(self.it, None)

        quantize_static(src, oq, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return src, sn, oq


def sinter_p50(args, path, extra=()):
    r = subprocess.run([os.path.join(args.build, "sinter"), "bench", path, "--time", str(args.seconds), "--threads",
                        str(args.threads), "--json", "-", "-q", *extra], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["results"][0]["latency_s"]["p50"]


def ort_p50(args, path, f):
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    for _ in range(5):
        s.run(None, f)
    ts, end = [], time.perf_counter() + args.seconds
    while time.perf_counter() < end or len(ts) < 10:
        t0 = time.perf_counter()
        s.run(None, f)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="resnet50,bert_small,bert_base")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--models-dir", default="build/bench-models")
    ap.add_argument("--build", default=os.environ.get("SINTER_BUILD", "build"))
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "sinter-int8"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    specs = json.load(open(os.path.join(args.models_dir, "models.json")))
    names = args.models.split(",")
    files = {n: make_models(n, specs[n], args) for n in names}
    res = {}
    for rnd in range(args.rounds):
        for n in names:
            src, sn, oq = files[n]
            f = feeds(specs[n], np.random.default_rng(1))
            runs = [("sinter fp32", lambda: sinter_p50(args, src)),
                    ("sinter bf16", lambda: sinter_p50(args, src, ["--precision", "bf16"])),
                    ("sinter int8 (sinter quantize)", lambda: sinter_p50(args, sn)),
                    ("sinter int8 (ORT QDQ model)", lambda: sinter_p50(args, oq)),
                    ("onnxruntime fp32", lambda: ort_p50(args, src, f)),
                    ("onnxruntime int8 (its QDQ model)", lambda: ort_p50(args, oq, f))]
            for label, fn in runs:
                v = fn() * 1e3
                res.setdefault((n, label), []).append(v)
                print(f"round {rnd} {n:11s} {label:34s} {v:9.2f} ms", flush=True)
    print(f"\nmedian P50 of {args.rounds} rounds, {args.threads} threads (ratio: Sinter fp32 time / this time)")
    for n in names:
        base = statistics.median(res[(n, "sinter fp32")])
        for (m, label), v in res.items():
            if m == n:
                med = statistics.median(v)
                print(f"{n:11s} {label:34s} {med:9.2f} ms  x{base / med:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
