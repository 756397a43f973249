"""The ctypes binding (tests/python/sinter_ctypes.py) that the tests and bench/compare.py run Sinter
through. Session.run keeps, per thread and set of names, the input arrays it last wrapped and output
buffers that Sinter writes into (sinter_run's caller tensors); this checks that the shortcut never
changes an answer:
  * outputs equal a fresh session's on every run, across batch sizes that change the output shapes
    (the bound buffers are dropped and made again), and the returned arrays are copies that later
    runs leave alone;
  * an input array changed in place, or replaced by another object, is read anew;
  * non-contiguous and non-float inputs, and requests for a subset of the outputs;
  * four Python threads on one session get their own results;
  * a wrong input name or dtype still raises SinterError with Sinter's message.

    SINTER_BUILD=build .venv/bin/python tests/python/test_binding.py
"""
import threading

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import sinter_ctypes
from testlib import check, finish, make_model, require_sinter

if not require_sinter():
    raise SystemExit(finish())
rng = np.random.default_rng(9)
W = numpy_helper.from_array(rng.standard_normal((6, 5)).astype(np.float32), "W")
nodes = [helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("Relu", ["y"], ["r"]),
         helper.make_node("ReduceSum", ["r", "axes"], ["s"], keepdims=0)]
m = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 6])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                helper.make_tensor_value_info("s", TensorProto.FLOAT, None)],
               [W, numpy_helper.from_array(np.array([1], np.int64), "axes")], opset=13)
model = m.SerializeToString()
w = numpy_helper.to_array(W)


def want(x):
    y = x.astype(np.float64) @ w.astype(np.float64)
    return y, np.maximum(y, 0).sum(axis=1)


def close(out, x):
    y, s = want(x)
    return np.allclose(out["y"], y, rtol=1e-5, atol=1e-5) and np.allclose(out["s"], s, rtol=1e-5, atol=1e-5)


with sinter_ctypes.Session(model, threads=2) as sess:
    xs = [rng.standard_normal((b, 6)).astype(np.float32) for b in (1, 4, 4, 1, 7)]
    ok = True
    for rep in range(3):
        for x in xs:
            out = sess.run({"x": x})
            ok = ok and close(out, x) and out["y"].shape == (len(x), 5)
    check("outputs right across runs and batch sizes", ok)
    first = sess.run({"x": xs[1]})
    keep = first["y"].copy()
    sess.run({"x": xs[1] * 3})
    check("returned arrays are copies", np.array_equal(first["y"], keep))
    x = xs[2].copy()
    a = sess.run({"x": x})["y"]
    x *= -2
    b = sess.run({"x": x})["y"]
    check("an input changed in place is read anew", close({"y": b, "s": want(x)[1]}, x) and not np.array_equal(a, b))
    x.dtype = np.int32  # the same object, its dtype changed in place: wrapped anew, so refused
    try:
        sess.run({"x": x})
        check("the same array, its dtype changed in place, is refused", False)
    except sinter_ctypes.SinterError as e:
        check("the same array, its dtype changed in place, is refused", "int32" in str(e), str(e)[:200])
    x.dtype = np.float32
    check("and runs right once it is float32 again", close(sess.run({"x": x}), x))
    x2 = xs[2][:2].copy()
    out = sess.run({"x": x2})
    check("another array object is wrapped", close(out, x2))
    xt = np.asfortranarray(rng.standard_normal((3, 6)).astype(np.float32))
    ok = True
    for _ in range(20):  # (the contiguous copy is kept alive through the run, and made anew each time)
        junk = [np.full((3, 6), 1e9, np.float32) for _ in range(4)]
        ok = ok and close(sess.run({"x": xt}), np.ascontiguousarray(xt))
        del junk
    xt[0, 0] += 5
    ok = ok and close(sess.run({"x": xt}), np.ascontiguousarray(xt))
    check("a non-contiguous input, changed between runs", ok)
    only = sess.run({"x": xs[0]}, output_names=["s"])
    check("a subset of the outputs", list(only) == ["s"] and np.allclose(only["s"], want(xs[0])[1], rtol=1e-5))
    res = [None] * 4

    def worker(i):
        xi = rng.standard_normal((i + 1, 6)).astype(np.float32)
        res[i] = all(close(sess.run({"x": xi}), xi) for _ in range(100))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check("four threads on one session", all(res))
    try:
        sess.run({"nope": xs[0]})
        check("a wrong input name raises", False)
    except sinter_ctypes.SinterError as e:
        check("a wrong input name raises", "nope" in str(e), str(e)[:200])
    try:
        sess.run({"x": xs[0].astype(np.float64)})
        check("a wrong dtype raises", False)
    except sinter_ctypes.SinterError as e:
        check("a wrong dtype raises", "'x'" in str(e) and "float64" in str(e), str(e)[:200])
    check("runs right after errors", close(sess.run({"x": xs[3]}), xs[3]))
raise SystemExit(finish())
