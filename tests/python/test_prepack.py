"""Weights packed at session creation, and the packed copy taking over the weight's buffer.

    SINTER_BUILD=build .venv/bin/python tests/python/test_prepack.py

A float32 GEMM weight that one node alone reads is packed when the session is created and the packed
form moves into the weight's own buffer (the weight is then held once). This test builds a model
whose weights cover each case, with float_data (so the reader copies every weight into a buffer of
its own, as it does for unaligned raw data):
  W1  read by two MatMuls              -> packed for each, never taken (two readers)
  W2  Gemm transB=1, one reader        -> taken
  W3  MatMul, also a graph output      -> packed, never taken (the caller gets it back)
  W4  FusedMatMul after fusion (+bias) -> taken
and checks: outputs against numpy at -O0 and -O3 and at every ISA level, including runs on two
threads of one session at once; `sinter bench --json` weight_bytes drops by exactly the taken
weights and prepacked_bytes covers them; SINTER_PREPACK=0 keeps every weight; `sinter optimize`
writes every initializer back unchanged (it must keep them); an LSTM's W and R packed at load give
the same results as without packing. Prints "N passed, M failed"; exits 1 on any failure.
"""
import json
import os
import sys
import tempfile
import threading

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import sinter_ctypes as sc
from testlib import bf16_mode, check, cpu_flags, finish, make_model, ort_outputs, run_cli, set_verbose

set_verbose(True)


def typed(name, a):
    """an initializer stored as float_data (not raw_data)"""
    return helper.make_tensor(name, TensorProto.FLOAT, a.shape, a.flatten().tolist(), raw=False)


rng = np.random.default_rng(7)
W1 = rng.standard_normal((64, 64)).astype(np.float32) * 0.1
W2 = rng.standard_normal((48, 64)).astype(np.float32) * 0.1  # Gemm transB: [N, K]
C2 = rng.standard_normal((48,)).astype(np.float32)
W3 = rng.standard_normal((48, 40)).astype(np.float32) * 0.1
W4 = rng.standard_normal((40, 72)).astype(np.float32) * 0.1
B4 = rng.standard_normal((72,)).astype(np.float32)


def gemm_model(rows=5):
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["y1"]),
        helper.make_node("MatMul", ["y1", "W1"], ["y2"]),
        helper.make_node("Gemm", ["y2", "W2", "C2"], ["y3"], transB=1),
        helper.make_node("MatMul", ["y3", "W3"], ["y4"]),
        helper.make_node("MatMul", ["y4", "W4"], ["y5"]),
        helper.make_node("Add", ["y5", "B4"], ["y"]),
    ]
    return make_model(
        nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, 72]),
         helper.make_tensor_value_info("W3", TensorProto.FLOAT, [48, 40])],
        [typed("W1", W1), typed("W2", W2), typed("C2", C2), typed("W3", W3), typed("W4", W4), typed("B4", B4)],
        opset=17, name="prepack")


def reference(x):
    y = ((x @ W1) @ W1) @ W2.T + C2
    return (y @ W3) @ W4 + B4


def bench_json(path, env=None):
    r = run_cli("bench", path, "--runs", "2", "--warmup", "0", "--threads", "1", "--json", "-", "-q", timeout=300,
                env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return json.loads(r.stdout)["results"][0]


def main():
    tmp = tempfile.mkdtemp(prefix="sinter-prepack-")
    path = os.path.join(tmp, "gemms.onnx")
    onnx.save(gemm_model(), path)
    x = rng.standard_normal((5, 64)).astype(np.float32)
    want = reference(x)
    for isa in ["scalar", "avx2", "avx512"]:
        for level in [0, 3]:
            with sc.Session(path, threads=2, opt_level=level, isa=isa) as s:
                got = s.run({"x": x})
                err = float(np.max(np.abs(got["y"] - want)))
                check(f"outputs -O{level} {isa}", err < 1e-4 * max(1.0, float(np.max(np.abs(want)))), f"max diff {err:.2e}")
                check(f"weight output W3 returned unchanged -O{level} {isa}", np.array_equal(got["W3"], W3))
                # again: the second run reads the same packed weights
                got2 = s.run({"x": x})
                check(f"second run identical -O{level} {isa}", np.array_equal(got2["y"], got["y"]))
    # concurrent runs on one session
    with sc.Session(path, threads=1) as s:
        res, errs = [None] * 4, []

        def worker(k):
            try:
                res[k] = s.run({"x": x})["y"]
            except Exception as e:  # noqa: BLE001
                errs.append(e)
        ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        check("concurrent runs", not errs and all(r is not None and np.array_equal(r, res[0]) for r in res),
              str(errs[:1]))

    # memory: the taken weights leave the initializers
    total = sum(a.nbytes for a in [W1, W2, C2, W3, W4, B4])
    on = bench_json(path)
    off = bench_json(path, {"SINTER_PREPACK": "0"})
    packs = on.get("isa") != "scalar"  # the portable GEMM reads weights as they are: nothing to pack
    check("SINTER_PREPACK=0 keeps every weight", off["weight_bytes"] == total and off["prepacked_bytes"] == 0,
          f"{off['weight_bytes']} of {total}, prepacked {off['prepacked_bytes']}")
    taken = W2.nbytes + W4.nbytes if packs else 0  # Gemm's B and the FusedMatMul's B (one reader each)
    check("taken weights leave the initializers", on["weight_bytes"] == total - taken,
          f"weight_bytes {on['weight_bytes']}, expected {total - taken} (total {total}, ISA {on.get('isa')})")
    check("prepacked bytes cover the taken and the shared weights",
          on["prepacked_bytes"] >= taken + 2 * W1.nbytes if packs else on["prepacked_bytes"] == 0,
          f"{on['prepacked_bytes']}")
    # bf16 sessions make each packed weight's bf16 copy first, then let the source go too; with 32
    # rows (>= 16) the GEMMs run in bf16 on those copies
    p32 = os.path.join(tmp, "gemms32.onnx")
    onnx.save(gemm_model(32), p32)
    bf = bench_json(p32, {"SINTER_PRECISION": "bf16"})
    # (bf16 runs only where the CPU has AVX512-BF16 and SINTER_ISA leaves AVX-512 on)
    if "avx512_bf16" in cpu_flags() and bf.get("isa") == "avx512":
        check("bf16: taken weights leave the initializers too", bf["weight_bytes"] == total - taken,
              f"weight_bytes {bf['weight_bytes']}, expected {total - taken}")
        x32 = rng.standard_normal((32, 64)).astype(np.float32)
        want32 = reference(x32)
        with sc.Session(p32, threads=2, precision="bf16") as s:
            got = s.run({"x": x32})["y"]
        err = float(np.max(np.abs(got - want32))) / float(np.max(np.abs(want32)))
        # bf16 operands (8 significant bits) through four chained GEMMs: about 1e-2 of the scale,
        # while a weight read wrongly (say, the packed panels as a plain matrix) is off by O(1)
        if bf16_mode(bf.get("isa")):
            check("bf16 outputs on the bf16 copies", 1e-5 < err < 3e-2, f"max rel diff {err:.2e}")
            # the taken weights (W2, W4: decoded from float_data into buffers of their own) keep no
            # float32 panels beside their bf16 copy; the shared W1 (two readers) and the output W3 keep
            # both. So the bf16 session packs at most the float32 session's panels plus every bf16 copy
            # (depth rounded to even, columns to 16, 2 bytes) less the taken weights' float32 bytes.
            f32 = bench_json(p32)

            def bf16_bytes(k, n):
                return (k + 1) // 2 * 2 * ((n + 15) // 16 * 16) * 2
            copies = 2 * bf16_bytes(64, 64) + bf16_bytes(48, 40) + bf16_bytes(64, 48) + bf16_bytes(40, 72)
            bound = f32["prepacked_bytes"] + copies - W2.nbytes - W4.nbytes
            check("bf16: taken weights packed in bf16 alone", 0 < bf["prepacked_bytes"] <= bound,
                  f"bf16 session {bf['prepacked_bytes']} bytes, at most {bound} (float32 panels "
                  f"{f32['prepacked_bytes']}, bf16 copies {copies})")
            # thin products (5 rows) and Gemm's 48 columns split over two threads (32 + 16) on the bf16
            # copies alone
            with sc.Session(path, threads=2, precision="bf16") as s:
                got5 = s.run({"x": x})["y"]
            err5 = float(np.max(np.abs(got5 - want))) / float(np.max(np.abs(want)))
            check("bf16 thin products on the bf16 copies", 1e-5 < err5 < 3e-2, f"max rel diff {err5:.2e}")
        else:  # (Intel's cores without AMX: bf16 is slower there, the session runs float32 and says so)
            r = run_cli("bench", p32, "--runs", "1", "--warmup", "0", "--json", "-", "-q", timeout=300,
                        env={"SINTER_PRECISION": "bf16"})
            said = json.loads(r.stdout).get("precision") if r.returncode == 0 else r.stderr
            check("bf16 asked where it does not pay: float32 outputs, reported fp32", err < 1e-5 and said == "fp32",
                  f"max rel diff {err:.2e}, precision {said}")

    # bf16 sessions: blocked convolutions that always run in bf16 (1x1, strided 3x3; not the 3x3
    # stride-1 one, which Winograd may take) keep their bf16 weight alone
    Wa = (rng.standard_normal((32, 16, 1, 1)) * 0.3).astype(np.float32)
    Wb = (rng.standard_normal((48, 32, 3, 3)) * 0.1).astype(np.float32)
    Wc = (rng.standard_normal((32, 48, 3, 3)) * 0.1).astype(np.float32)
    Bb = (rng.standard_normal((48,)) * 0.1).astype(np.float32)
    cm = make_model(
        [helper.make_node("Conv", ["xc", "Wa"], ["c1"]),
         helper.make_node("Relu", ["c1"], ["r1"]),
         helper.make_node("Conv", ["r1", "Wb", "Bb"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c2"], ["r2"]),
         helper.make_node("Conv", ["r2", "Wc"], ["yc"], pads=[1, 1, 1, 1])],
        [helper.make_tensor_value_info("xc", TensorProto.FLOAT, [1, 16, 20, 20])],
        [helper.make_tensor_value_info("yc", TensorProto.FLOAT, [1, 32, 10, 10])],
        [typed("Wa", Wa), typed("Wb", Wb), typed("Bb", Bb), typed("Wc", Wc)], opset=13, name="convs")
    cp = os.path.join(tmp, "convs.onnx")
    onnx.save(cm, cp)
    xc = rng.standard_normal((1, 16, 20, 20)).astype(np.float32)
    refc = ort_outputs(cp, {"xc": xc})[0]
    cf = bench_json(cp)
    cb = bench_json(cp, {"SINTER_PRECISION": "bf16"})
    if bf16_mode(cb.get("isa")):
        # the 1x1 and the strided weights leave the initializers (at least their float32 bytes: the
        # blocked copies are padded to 16 channels); the 3x3 stride-1 one stays
        check("bf16: 1x1 and strided conv weights kept in bf16 alone",
              cb["weight_bytes"] <= cf["weight_bytes"] - Wa.nbytes - Wb.nbytes,
              f"bf16 session {cb['weight_bytes']} bytes of weights, float32 session {cf['weight_bytes']}")
        # the 3x3 stride-1 layer runs as Winograd (10x10 map, 9 tiles): its 36 transformed weights
        # in bf16 alone, half the float32 session's panels (not the panels and a copy: 1.5x)
        check("bf16: Winograd weights in bf16 alone",
              0 < cb["prepacked_bytes"] <= 0.6 * cf["prepacked_bytes"],
              f"bf16 session {cb['prepacked_bytes']} bytes packed, float32 session {cf['prepacked_bytes']}")
        with sc.Session(cp, threads=2, precision="bf16") as s:
            c1 = s.run({"xc": xc})["yc"]
            c2 = s.run({"xc": xc})["yc"]
        errc = float(np.max(np.abs(c1 - refc))) / float(np.max(np.abs(refc)))
        cos = float(np.sum(c1 * refc) / np.linalg.norm(c1) / np.linalg.norm(refc))
        # three chained layers of bf16 operands: a few 1e-2 of the scale at worst, cosine about
        # 0.9999; a weight read wrongly decorrelates the output (cosine far below)
        check("bf16 convolutions on the bf16 weights", 1e-5 < errc < 8e-2 and cos > 0.9995 and np.array_equal(c1, c2),
              f"max rel diff {errc:.2e}, cosine {cos:.6f}, second run identical {np.array_equal(c1, c2)}")
    with sc.Session(cp, threads=2) as s:
        errf = float(np.max(np.abs(s.run({"xc": xc})["yc"] - refc))) / float(np.max(np.abs(refc)))
    check("float32 convolutions keep their weights", errf < 1e-5, f"max rel diff {errf:.2e}")

    # sinter optimize writes every weight back (its session keeps them)
    out = os.path.join(tmp, "opt.onnx")
    r = run_cli("optimize", path, out, "-O3", timeout=300)
    check("sinter optimize runs", r.returncode == 0, r.stderr[-300:])
    if r.returncode == 0:
        m = onnx.load(out)
        inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
        for name, a in [("W2", W2), ("W4", W4), ("W1", W1)]:
            found = [v for k, v in inits.items() if k == name or k.startswith(name)]
            check(f"optimized model keeps {name}", any(v.shape == a.shape and np.array_equal(v, a) for v in found),
                  str([(k, v.shape) for k, v in inits.items()]))
        with sc.Session(out, threads=1) as s:
            err = float(np.max(np.abs(s.run({"x": x})["y"] - want)))
            check("optimized model runs", err < 1e-4 * max(1.0, float(np.max(np.abs(want)))), f"max diff {err:.2e}")

    # LSTM: W and R packed per direction at load
    H, I, T, B = 24, 10, 7, 3
    Wl = (rng.standard_normal((2, 4 * H, I)) * 0.3).astype(np.float32)
    Rl = (rng.standard_normal((2, 4 * H, H)) * 0.3).astype(np.float32)
    Bl = (rng.standard_normal((2, 8 * H)) * 0.1).astype(np.float32)
    m = make_model(
        [helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Yh"], hidden_size=H, direction="bidirectional")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, B, I])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("Yh", TensorProto.FLOAT, None)],
        [typed("W", Wl), typed("R", Rl), typed("B", Bl)], opset=14, name="lstm")
    lp = os.path.join(tmp, "lstm.onnx")
    onnx.save(m, lp)
    xl = rng.standard_normal((T, B, I)).astype(np.float32)
    ref = ort_outputs(lp, {"x": xl})
    with sc.Session(lp, threads=2) as s:
        got = s.run({"x": xl})
        for name, r in zip(["Y", "Yh"], ref):
            err = float(np.max(np.abs(got[name] - r)))
            check(f"LSTM {name} with W, R packed at load vs ORT", err < 1e-5, f"max diff {err:.2e}")

    return finish()


if __name__ == "__main__":
    sys.exit(main())
