"""Real trained models from PyPI wheels (tests/python/real_models.py) in Sinter against ONNX Runtime,
at optimization levels 0 and 3 and at every ISA level this CPU has: probability outputs within
1e-4 absolute, other outputs within 1e-4 of their scale.

    SINTER_BUILD=build python3 tests/python/test_real_models.py

Prints "N passed, M failed"; exits 1 on any failure."""
import os
import sys

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_models  # noqa: E402
import sinter_ctypes  # noqa: E402


def main():
    passed = failed = 0
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    isas = ["scalar"] + (["avx2"] if " avx2" in flags else []) + (["avx512"] if " avx512f" in flags else [])
    for name, path, feeds, kind in real_models.models():
        ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [o.name for o in ref.get_outputs()]
        want = dict(zip(names, ref.run(None, feeds)))
        for level, isa in [(0, isas[-1]), (3, isas[-1])] + [(3, i) for i in isas[:-1]]:
            try:
                with sinter_ctypes.Session(path, opt_level=level, isa=isa) as s:
                    got = s.run(feeds)
                errs = []
                for n in names:
                    d = float(np.max(np.abs(got[n].astype(np.float64) - want[n]))) if want[n].size else 0.0
                    scale = 1.0 if kind == "prob" else (float(np.max(np.abs(want[n]))) or 1.0)
                    errs.append(d / scale)
                worst = max(errs)
                ok = worst <= 1e-4
                msg = f"{'max abs' if kind == 'prob' else 'max rel'} err {worst:.2e}"
            except sinter_ctypes.SinterError as e:
                ok, msg = False, str(e)[:300]
            tag = f"{name} -O{level} ISA {isa}"
            print(f"{'PASS' if ok else 'FAIL'} {tag:40s} {msg}")
            passed += ok
            failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
