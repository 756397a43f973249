"""Winograd's accuracy on real models: Sinter at O3 with SINTER_WINOGRAD=0 (direct), 1 (per-layer
choice, the default) and 2 (every eligible 3x3 layer) against ONNX Runtime, batch 1 and 2, at each
ISA level named; prints max|Sinter - ORT| / max|ORT| of the first output (the model tests allow 1e-4).

    SINTER_BUILD=build .venv/bin/python bench/wino_check.py [MODELS] [ISAS] [MODELS_DIR]
      MODELS: comma-separated names in MODELS_DIR (default resnet50,squeezenet1_1)
      ISAS:   comma-separated (default avx512,avx2)
      MODELS_DIR: default build/bench-models of this project
"""
import os
import sys

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
import sinter_ctypes  # noqa: E402


def main():
    names = (sys.argv[1] if len(sys.argv) > 1 else "resnet50,squeezenet1_1").split(",")
    isas = (sys.argv[2] if len(sys.argv) > 2 else "avx512,avx2").split(",")
    mdir = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, "build", "bench-models")
    for name in names:
        path = os.path.join(mdir, name + ".onnx")
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        for batch in (1, 2):
            shape = [batch] + [d if isinstance(d, int) else 1 for d in inp.shape[1:]]
            x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
            ref = sess.run(None, {inp.name: x})[0]
            for isa in isas:
                for mode in ("0", "1", "2"):
                    os.environ["SINTER_WINOGRAD"] = mode
                    with sinter_ctypes.Session(path, threads=2, opt_level=3, isa=isa) as s:
                        got = list(s.run({inp.name: x}).values())[0]
                    err = float(np.abs(got - ref).max() / np.abs(ref).max())
                    print(f"{name} batch {batch} {isa} SINTER_WINOGRAD={mode}: max|d|/max|ORT| = {err:.3g}", flush=True)


if __name__ == "__main__":
    main()
