"""Reduce ops against numpy in double precision where ONNX Runtime cannot be the reference: a NaN in a
reduced run. ReduceMax and ReduceMin return NaN for such a run (as numpy's max and min, and the ONNX
reference implementation, do; ONNX Runtime skips the NaN), whatever its position in the run (each of
the 8 partial accumulators, and the tail past the last 8), and the other runs are exact. The sums over
the same long runs are within 1e-6 of numpy's double result. (tests/python/model_zoo.py's
`reductions` compares every reduce op with ONNX Runtime on NaN-free data.)

    SINTER_BUILD=build .venv/bin/python tests/python/test_reduce.py

Prints "N passed, M failed"; exits 1 on any failure.
"""
import sys

import numpy as np
from onnx import TensorProto, helper

from testlib import check, finish, make_model, rel_err, require_sinter, sinter_outputs


def main():
    require_sinter()
    rng = np.random.default_rng(3)
    n = 203  # 25 groups of 8, a tail of 3
    x = (rng.standard_normal((n + 2, n)) * 4).astype(np.float32)
    for r in range(n):  # row r has its NaN at position r: every partial, every tail slot
        x[r, r] = np.nan
    # the last two rows: none, and -inf / +inf only
    x[n + 1, 5], x[n + 1, 100] = -np.inf, np.inf
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    ops = ["ReduceMax", "ReduceMin", "ReduceSum", "ReduceSumSquare", "ReduceL1"]
    nodes = [helper.make_node(op, ["x", "axes"], [op.lower()], keepdims=0) for op in ops]
    outs = [helper.make_tensor_value_info(op.lower(), TensorProto.FLOAT, [n + 2]) for op in ops]
    m = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))], outs, [axes],
                   opset=18)
    got = dict(zip(ops, sinter_outputs(m.SerializeToString(), {"x": x}, threads=1)))
    xd = x.astype(np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf in the inf row's sums: NaN, as expected
        want = {"ReduceMax": xd.max(axis=1), "ReduceMin": xd.min(axis=1), "ReduceSum": xd.sum(axis=1),
                "ReduceSumSquare": (xd * xd).sum(axis=1), "ReduceL1": np.abs(xd).sum(axis=1)}
    for op in ("ReduceMax", "ReduceMin"):
        g, w = got[op].astype(np.float64), want[op]
        same = np.array_equal(np.isnan(g), np.isnan(w)) and np.array_equal(g[~np.isnan(w)], w[~np.isnan(w)])
        check(f"{op}: NaN at every position of a 203-long run gives NaN; other rows exact (inf too)", same,
              f"{np.flatnonzero(np.isnan(g) != np.isnan(w))[:8]}")
    for op in ("ReduceSum", "ReduceSumSquare", "ReduceL1"):
        g, w = got[op].astype(np.float64), want[op]
        fin = n  # rows without NaN: n (none) and n + 1 (inf: inf or NaN, as numpy)
        ok = np.array_equal(np.isnan(g[:fin]), np.isnan(w[:fin])) and rel_err(g[fin:fin + 1], w[fin:fin + 1]) < 1e-6
        ok = ok and ((np.isnan(g[fin + 1]) and np.isnan(w[fin + 1])) or g[fin + 1] == w[fin + 1])
        check(f"{op}: NaN rows NaN, the clean row within 1e-6 of numpy in double", ok,
              f"got {g[fin:]} want {w[fin:]}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
