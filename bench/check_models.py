"""Check Sinter against ONNX Runtime on the models bench/export_models.py wrote.

Run with the venv python (onnxruntime, no torch); libsinter.so is found in $SINTER_BUILD
(default ./build):

    SINTER_BUILD=build /tmp/venv/bin/python bench/check_models.py MODEL_DIR [--only a,b] [--threads N]

For every model in MODEL_DIR/models.json (or every *.onnx when there is no manifest), feeds the same
seeded inputs to ONNX Runtime (CPU, graph optimizations off) and to Sinter (through the C API with
ctypes) and reports max|Sinter - ORT| / max|ORT| per output. Exits 1 when any exceeds 1e-4 or a
model fails to run.
"""
import argparse
import json
import os
import sys
import time
import traceback

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import sinter_ctypes  # noqa: E402

RTOL = 1e-4
SEED = 0
_ONNX_NP = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
            10: np.float16, 11: np.float64}


def spec_from_model(path):
    """Input specs from the model's declared inputs: symbolic dims become 1."""
    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    spec = {}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else 1 for d in tt.shape.dim]
        dt = np.dtype(_ONNX_NP.get(tt.elem_type, np.float32)).name
        spec[vi.name] = {"shape": shape, "dtype": dt, "low": 0 if "int" in dt else -1.0, "high": 10 if "int" in dt else 1.0}
    return spec


def make_feeds(spec, seed=SEED):
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, s in spec.items():
        dt = np.dtype(s["dtype"])
        if dt.kind in "iu":
            a = rng.integers(s["low"], s["high"], size=s["shape"]).astype(dt)
            if s.get("zero_tail"):
                a[..., -s["zero_tail"]:] = 0
        elif dt.kind == "b":
            a = rng.integers(0, 2, size=s["shape"]).astype(dt)
        else:
            a = rng.uniform(s["low"], s["high"], size=s["shape"]).astype(dt)
        feeds[name] = a
    return feeds


def rel_errors(expected, got):
    rows = []
    for name, ref in expected.items():
        out = got.get(name)
        if out is None:
            rows.append((name, float("inf"), "missing"))
        elif out.shape != ref.shape:
            rows.append((name, float("inf"), f"shape {out.shape} != ORT {ref.shape}"))
        elif out.dtype != ref.dtype:
            rows.append((name, float("inf"), f"dtype {out.dtype} != ORT {ref.dtype}"))
        elif ref.size == 0:
            rows.append((name, 0.0, "empty"))
        else:
            r, o = ref.astype(np.float64), out.astype(np.float64)
            scale = float(np.max(np.abs(r))) or 1.0
            d = np.abs(o - r)
            err = float(np.nanmax(d)) / scale if not np.isnan(d).all() else float("inf")
            if np.isnan(o).sum() != np.isnan(r).sum():
                err = float("inf")
            rows.append((name, err, f"max|d| {float(np.nanmax(d)):.3g}, max|ORT| {scale:.3g}, shape {ref.shape}"))
    return rows


def check(name, path, spec, threads):
    feeds = make_feeds(spec)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    t0 = time.perf_counter()
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    expected = dict(zip(names, sess.run(names, feeds)))
    t_ort = time.perf_counter() - t0
    t0 = time.perf_counter()
    s = sinter_ctypes.Session(path, threads=threads)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = s.run(feeds)
    t_run = time.perf_counter() - t0
    s.close()
    rows = rel_errors(expected, got)
    ok = all(e <= RTOL for _, e, _ in rows)
    print(f"{'PASS' if ok else 'FAIL'} {name:16s} worst {max(e for _, e, _ in rows):.2e}   "
          f"ORT load+run {t_ort:.2f} s, Sinter load {t_load:.2f} s + run {t_run:.2f} s", flush=True)
    for out, e, detail in rows:
        print(f"     {'ok ' if e <= RTOL else 'BAD'} {out}: {e:.2e}  ({detail})")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads for both runtimes (0: default)")
    args = ap.parse_args()
    only = {n for n in args.only.split(",") if n}
    manifest_path = os.path.join(args.model_dir, "models.json")
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        items = [(n, os.path.join(args.model_dir, e["file"]), e["inputs"]) for n, e in manifest.items()]
    else:
        items = [(f[:-5], os.path.join(args.model_dir, f), None)
                 for f in sorted(os.listdir(args.model_dir)) if f.endswith(".onnx")]
    if only:
        items = [it for it in items if it[0] in only]
    if not items:
        print("no models found")
        return 1
    try:
        sinter_ctypes.lib()
    except (OSError, FileNotFoundError) as e:
        print(f"cannot load Sinter: {e}")
        return 1
    passed = failed = 0
    for name, path, spec in items:
        try:
            ok = check(name, path, spec or spec_from_model(path), args.threads or None)
        except sinter_ctypes.SinterError as e:
            print(f"FAIL {name:16s} Sinter error: {e}", flush=True)
            ok = False
        except Exception:
            print(f"FAIL {name:16s} exception:")
            traceback.print_exc(limit=3)
            ok = False
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
