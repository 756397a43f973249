"""Write a reference folder for `sinter compare`: inputs and the outputs another runtime computes.

    python bench/make_reference.py MODEL.onnx OUT_DIR [--seed S] [--dim NAME=V ...] [--torch]
                                  [--input NAME=FILE.npy ...]

Layout (what `sinter compare MODEL --ref OUT_DIR` reads):

    OUT_DIR/inputs/<input name>.npy     one file per model input
    OUT_DIR/outputs/<output name>.npy   one file per model output
    OUT_DIR/reference.json              who computed the outputs: runtime, version, model, seed

Names keep [A-Za-z0-9._-] and turn every other character into '_' (as `sinter run --output-dir`).

Inputs come from --input files, else are seeded random data: when MODEL sits in a folder written by
bench/models.py, its models.json gives each input's shape, dtype and value range; otherwise the
declared shapes are used, symbolic dimensions 1 unless set with --dim, floats uniform in [-1, 1),
integers in [0, 10).

The outputs come from ONNX Runtime (CPU, graph optimizations off: the graph as written), or with
--torch from PyTorch eager on the weights bench/models.py saved beside the model. Needs onnxruntime
(and torch for --torch): the bench venv of bench/README.md has both.
"""
import argparse
import json
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

_ONNX_NP = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
            10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}


def safe_name(name):
    """The file-system-safe name `sinter run --output-dir` and `sinter compare` use."""
    s = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:200]
    if s.startswith("."):
        s = "_" + s[1:]
    return s or "output"


def manifest_entry(model_path):
    """(name, entry) from the models.json beside the model, or (None, None)."""
    d = os.path.dirname(os.path.abspath(model_path))
    mp = os.path.join(d, "models.json")
    if not os.path.exists(mp):
        return None, None
    with open(mp) as f:
        manifest = json.load(f)
    base = os.path.basename(model_path)
    for name, e in manifest.items():
        if e.get("file") == base:
            return name, e
    return None, None


def declared_inputs(model_path, dims):
    """[(name, shape, numpy dtype)] of the graph inputs that are not initializers."""
    import onnx
    m = onnx.load(model_path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    out = []
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = []
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                shape.append(d.dim_value)
            else:
                shape.append(int(dims.get(d.dim_param, 1)))
        out.append((vi.name, shape, np.dtype(_ONNX_NP.get(tt.elem_type, np.float32))))
    return out


def random_inputs(model_path, seed, dims):
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, shape, dt in declared_inputs(model_path, dims):
        if dt.kind in "iu":
            feeds[name] = rng.integers(0, 10, size=shape).astype(dt)
        elif dt.kind == "b":
            feeds[name] = rng.integers(0, 2, size=shape).astype(dt)
        else:
            feeds[name] = rng.uniform(-1.0, 1.0, size=shape).astype(dt)
    return feeds


def run_ort(model_path, feeds, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds))), {"runtime": "onnxruntime", "version": ort.__version__,
                                                      "graph_optimization_level": "ORT_DISABLE_ALL"}


def run_torch(name, entry, model_dir, feeds, threads):
    import torch
    import models
    if threads:
        torch.set_num_threads(threads)
    model = models.load(name, model_dir)
    with torch.no_grad():
        out = model(*[torch.from_numpy(feeds[n]) for n in entry["inputs"]])
    if not isinstance(out, (tuple, list)):
        out = (out,)
    return ({n: o.numpy() for n, o in zip(entry["outputs"], out)},
            {"runtime": "pytorch-eager", "version": torch.__version__})


def write_reference(out_dir, feeds, outputs, meta):
    for sub in ("inputs", "outputs"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    for name, a in feeds.items():
        np.save(os.path.join(out_dir, "inputs", safe_name(name) + ".npy"), np.ascontiguousarray(a))
    for name, a in outputs.items():
        np.save(os.path.join(out_dir, "outputs", safe_name(name) + ".npy"), np.ascontiguousarray(a))
    meta = dict(meta, inputs={n: {"shape": list(a.shape), "dtype": a.dtype.name} for n, a in feeds.items()},
                outputs={n: {"shape": list(a.shape), "dtype": a.dtype.name} for n, a in outputs.items()})
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(meta, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dim", action="append", default=[], metavar="NAME=V", help="size of a symbolic dimension")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy", help="an input from a file")
    ap.add_argument("--torch", action="store_true", help="outputs from PyTorch eager (models from bench/models.py)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    dims = dict(d.split("=", 1) for d in args.dim)
    name, entry = manifest_entry(args.model)
    if entry is not None:
        import models
        feeds = models.numpy_inputs(entry["inputs"], args.seed)
    else:
        feeds = random_inputs(args.model, args.seed, dims)
    for spec in args.input:
        n, path = spec.split("=", 1)
        feeds[n] = np.load(path)
    if args.torch:
        if entry is None:
            ap.error("--torch needs a model written by bench/models.py (a models.json beside it)")
        outputs, meta = run_torch(name, entry, os.path.dirname(os.path.abspath(args.model)), feeds, args.threads)
    else:
        outputs, meta = run_ort(args.model, feeds, args.threads)
    meta.update(model=os.path.abspath(args.model), seed=args.seed)
    write_reference(args.out_dir, feeds, outputs, meta)
    print(f"{args.out_dir}: {len(feeds)} inputs, {len(outputs)} outputs from {meta['runtime']} {meta['version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
