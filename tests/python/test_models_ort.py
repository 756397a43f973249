"""Model tests: Sinter against ONNX Runtime on the model zoo (tests/python/model_zoo.py), no torch needed.

Run with the venv python that has onnx and onnxruntime; libsinter.so is found in $SINTER_BUILD
(default <repo>/build):

    SINTER_BUILD=build /tmp/venv/bin/python tests/python/test_models_ort.py [-v] [NAME ...]

Every float output must satisfy max|Sinter - ORT| <= 1e-4 * max|ORT|; integer and bool outputs must be
equal. Prints one line per model and
"N passed, M failed"; exits 1 when any model fails.
"""
import sys
import time
import traceback

import numpy as np
import onnxruntime as ort

import model_zoo
import sinter_ctypes
from testlib import finish, record

RTOL = 1e-4


def run_ort(model_bytes, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def compare(expected, got):
    """[(output, relative error, detail)] for every output; relative error is max|d| / max|ref|."""
    rows = []
    for name, ref in expected.items():
        if name not in got:
            rows.append((name, float("inf"), "missing from Sinter's outputs"))
            continue
        out = got[name]
        if out.shape != ref.shape:
            rows.append((name, float("inf"), f"shape {out.shape} != ORT {ref.shape}"))
            continue
        if out.dtype != ref.dtype:
            rows.append((name, float("inf"), f"dtype {out.dtype} != ORT {ref.dtype}"))
            continue
        if ref.size == 0:
            rows.append((name, 0.0, "empty"))
            continue
        if ref.dtype.kind in "iub":  # indices, counts, masks: exactly
            bad = int(np.count_nonzero(out != ref))
            rows.append((name, 0.0 if bad == 0 else float("inf"), f"{bad} of {ref.size} elements differ"))
            continue
        r = ref.astype(np.float64)
        o = out.astype(np.float64)
        # NaN where ORT has NaN, and the same infinities, are equal; any other non-finite value is not
        same = (np.isnan(o) & np.isnan(r)) | (np.isinf(o) & (o == r))
        if not np.isfinite(np.where(same, 0, o)).all() or not np.isfinite(np.where(same, 0, r)).all():
            rows.append((name, float("inf"), "non-finite values where ORT has other values"))
            continue
        o, r = np.where(same, 0, o), np.where(same, 0, r)
        scale = float(np.max(np.abs(r))) or 1.0
        diff = np.abs(o - r)
        err = float(np.max(diff)) / scale
        where = np.unravel_index(int(np.argmax(diff)), diff.shape)
        rows.append((name, err, f"max|d| {float(np.max(diff)):.3g} at {tuple(int(i) for i in where)}, "
                                f"max|ORT| {scale:.3g}"))
    return rows


def run_case(case, verbose=False, threads=None):
    data = case.model.SerializeToString()
    t0 = time.perf_counter()
    expected = run_ort(data, case.feeds)
    t_ort = time.perf_counter() - t0
    t0 = time.perf_counter()
    with sinter_ctypes.Session(data, threads=threads) as s:
        got = s.run(case.feeds)
    t_sinter = time.perf_counter() - t0
    rows = compare(expected, got)
    ok = all(err <= RTOL for _, err, _ in rows)
    worst = max(err for _, err, _ in rows) if rows else 0.0
    print(f"{'PASS' if ok else 'FAIL'} {case.name:22s} max rel err {worst:.2e}  "
          f"(ORT {t_ort * 1e3:.0f} ms, Sinter {t_sinter * 1e3:.0f} ms incl. load)")
    if verbose or not ok:
        for name, err, detail in rows:
            print(f"     {'ok ' if err <= RTOL else 'BAD'} {name}: rel {err:.2e}  {detail}")
    return ok


def main(argv):
    verbose = "-v" in argv
    names = [a for a in argv if not a.startswith("-")]
    try:
        sinter_ctypes.lib()
    except (FileNotFoundError, OSError) as e:
        print(f"cannot load Sinter: {e}")
        return 1
    cases = model_zoo.all_cases()
    if names:
        unknown = set(names) - {c.name for c in cases}
        if unknown:
            print("unknown models:", ", ".join(sorted(unknown)), "- known:", ", ".join(c.name for c in cases))
            return 2
        cases = [c for c in cases if c.name in names]
    for case in cases:
        try:
            ok = run_case(case, verbose)
        except sinter_ctypes.SinterError as e:
            print(f"FAIL {case.name:22s} Sinter error: {e}")
            ok = False
        except Exception:
            print(f"FAIL {case.name:22s} exception:")
            traceback.print_exc(limit=3)
            ok = False
        record(ok)
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
