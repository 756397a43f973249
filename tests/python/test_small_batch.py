"""Small batches through the small-M GEMM path, its fused epilogues and the threaded LSTM step.

    SINTER_BUILD=build .venv/bin/python tests/python/test_small_batch.py

Models built with onnx.helper, run by Sinter at every ISA level (scalar, avx2, avx512 as the CPU
allows) on 1 and 2 threads, against ONNX Runtime:
  * Gemm (transB=1, bias) + Relu and MatMul + Add + a residual Add: fused into FusedGemm /
    FusedMatMul whose epilogue runs per tile of the small-M kernel; batch M = 1..17, odd N and K
    (N past a register tile, N below one vector) so every tile shape and the masked tails run; and
    85 to 300 rows against a 3 MB weight, whose epilogue runs per column panel of all the rows;
  * LSTM with and without peepholes, 6 and 7 steps, hidden 256 (a multiple of the packed panel width: the steps
    run on two threads, each a slice of the hidden units below batch 8, each its own batch rows from
    8 on (where the recurrent weights fit in L2), batch 40 past the small-M path with a
    workspace) and hidden 40 (the serial step), batch 1..40, ragged sequence_lens, forward and
    bidirectional: Y, Y_h, Y_c;
  * the threaded LSTM steps under concurrent runs on one 2-thread session (4 Python threads): a run
    that finds the pool busy does every step alone, and the others still agree with ORT.
Prints "N passed, M failed"; exits 1 on any failure.
"""
import sys
import threading

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import sinter_ctypes as sc
from testlib import check, finish, make_model, ort_outputs

rng = np.random.default_rng(11)


def isas():
    """the ISA levels this CPU runs"""
    out = ["scalar"]
    for isa in ("avx2", "avx512"):
        try:
            sc.Session(gemm_model(3, 5, "relu"), isa=isa).close()
            out.append(isa)
        except sc.SinterError:
            break
    return out


def model_bytes(nodes, inputs, outputs, inits):
    return make_model(nodes, inputs, outputs, inits, opset=17).SerializeToString()


def gemm_model(K, N, kind):
    """x [batch, K] -> Gemm(transB) + bias + Relu, or MatMul + bias + residual x2 [batch, N]"""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", K])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", N])
    b = numpy_helper.from_array((rng.standard_normal(N) * 0.5).astype(np.float32), "b")
    if kind == "relu":
        w = numpy_helper.from_array((rng.standard_normal((N, K)) / np.sqrt(K)).astype(np.float32), "w")
        nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1), helper.make_node("Relu", ["g"], ["y"])]
        return model_bytes(nodes, [x], [y], [w, b])
    w = numpy_helper.from_array((rng.standard_normal((K, N)) / np.sqrt(K)).astype(np.float32), "w")
    r = helper.make_tensor_value_info("r", TensorProto.FLOAT, ["batch", N])
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
             helper.make_node("Add", ["a", "r"], ["y"])]
    return model_bytes(nodes, [x, r], [y], [w, b])


def lstm_model(I, H, direction, peepholes=True):
    nd = 2 if direction == "bidirectional" else 1
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["seq", "batch", I])
    lens = helper.make_tensor_value_info("lens", TensorProto.INT32, ["batch"])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("Y", "Yh", "Yc")]
    inits = [numpy_helper.from_array((rng.standard_normal((nd, 4 * H, I)) * 0.2).astype(np.float32), "W"),
             numpy_helper.from_array((rng.standard_normal((nd, 4 * H, H)) * 0.2).astype(np.float32), "R"),
             numpy_helper.from_array((rng.standard_normal((nd, 8 * H)) * 0.2).astype(np.float32), "B"),
             numpy_helper.from_array((rng.standard_normal((nd, 3 * H)) * 0.2).astype(np.float32), "P")]
    if not peepholes:
        inits.pop()
    node = helper.make_node("LSTM", ["x", "W", "R", "B", "lens", "", "", "P" if peepholes else ""], ["Y", "Yh", "Yc"],
                            hidden_size=H, direction=direction)
    return model_bytes([node], [x, lens], outs, inits)


def compare(what, model, feeds, isa_list, tol):
    ref = ort_outputs(model, feeds)
    for isa in isa_list:
        for threads in (1, 2):
            with sc.Session(model, isa=isa, threads=threads) as s:
                got = s.run(feeds)
            got = [got[k] for k in got] if isinstance(got, dict) else got
            for i, (a, b) in enumerate(zip(got, ref)):
                a = np.asarray(a)
                ok = a.shape == b.shape and np.allclose(a, b, rtol=tol, atol=tol)
                err = float(np.max(np.abs(a - b))) if a.shape == b.shape and a.size else -1
                check(f"{what} {isa} t{threads} out{i}", ok, f"shape {a.shape} vs {b.shape}, max err {err:.3g}")


def main():
    levels = isas()
    print("ISA levels:", ", ".join(levels))
    for K, N in ((37, 1000), (129, 47), (300, 7), (1024, 130)):
        for kind in ("relu", "residual"):
            model = gemm_model(K, N, kind)
            for M in list(range(1, 18)):
                feeds = {"x": rng.standard_normal((M, K)).astype(np.float32)}
                if kind == "residual":
                    feeds["r"] = rng.standard_normal((M, N)).astype(np.float32)
                compare(f"{kind} M={M} N={N} K={K}", model, feeds, levels, 2e-4 * np.sqrt(K))
    # past the small-M path with a weight larger than half of L2: the epilogue runs on column panels
    # of all the rows (sn_nn_sgemm_pb_with's pb_block), the last one partial
    for kind in ("relu", "residual"):
        K, N = 512, 1500
        model = gemm_model(K, N, kind)
        for M in (85, 128, 200, 300):
            feeds = {"x": rng.standard_normal((M, K)).astype(np.float32)}
            if kind == "residual":
                feeds["r"] = rng.standard_normal((M, N)).astype(np.float32)
            compare(f"{kind} M={M} N={N} K={K}", model, feeds, levels, 2e-4 * np.sqrt(K))
    # (peepholes, then without: the one-pass cell update; 6 and 7 steps: the threaded steps swap the
    # state buffers each step, so an odd count ends in the other one)
    for H, I, peep, seq in ((256, 19, True, 6), (40, 8, True, 6), (256, 19, False, 7)):
        for direction in ("forward", "bidirectional"):
            model = lstm_model(I, H, direction, peep)
            for batch in (1, 2, 5, 8, 9, 17, 40):
                lens = rng.integers(1, seq + 1, size=batch).astype(np.int32)
                lens[0] = seq
                feeds = {"x": rng.standard_normal((seq, batch, I)).astype(np.float32), "lens": lens}
                compare(f"LSTM H={H} {direction} peepholes={peep} seq={seq} batch={batch}", model, feeds, levels, 1e-4)
    concurrent_lstm()
    return finish()


def concurrent_lstm():
    """4 threads running one 2-thread session at once: each run's steps either share the pool or,
    when another run holds it, run inline; every answer matches ONNX Runtime"""
    model = lstm_model(19, 256, "forward", False)
    seq, batch = 9, 8
    feeds = [{"x": rng.standard_normal((seq, batch, 19)).astype(np.float32),
              "lens": np.full(batch, seq, dtype=np.int32)} for _ in range(4)]
    refs = [ort_outputs(model, f) for f in feeds]
    errs = []
    with sc.Session(model, threads=2) as s:
        def worker(k):
            for _ in range(10):
                got = s.run(feeds[k])
                got = [got[n] for n in got] if isinstance(got, dict) else got
                errs.append(max(float(np.max(np.abs(np.asarray(a) - b))) for a, b in zip(got, refs[k])))
        ths = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
    check("LSTM H=256 batch 8, 4 concurrent runs on one 2-thread session", len(errs) == 40 and max(errs) < 1e-4,
          f"{len(errs)} runs, max err {max(errs) if errs else -1:.3g}")


if __name__ == "__main__":
    sys.exit(main())
