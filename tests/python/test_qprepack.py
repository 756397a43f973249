"""INT8 convolution weights prepared once at session creation (ops/conv.c qconv_prepack, ops/qlinear.c).

    SINTER_BUILD=build .venv/bin/python tests/python/test_qprepack.py

Depthwise (kernels/qdwconv.h): a constant W (and constant zero point) becomes the kernel's int32 taps
at load; a W fed as a graph input, or a constant W whose zero point is an input, is converted per
call. Both paths must give identical results, equal to ONNX Runtime, at ISA scalar, avx2 and avx512
on 1 and 2 threads: QLinearConv and ConvInteger, s8 and u8 weights, zero points absent, per tensor and
per channel, depth multiplier 2, 3x3 stride 1 and 5x5 stride 2 with padding.

Release: a packed INT8 conv weight that one node alone reads gives its initializer's buffer up. A model
with weights stored as int32_data (the reader copies each into a buffer of its own):
  Wa  3x3, 32 -> 32, one reader (NHWC form)         -> released
  Wb  1x1, read by two convs                         -> kept
  Wc  1x1, one reader, also a graph output           -> kept (the caller gets it back unchanged)
  Wd  depthwise 3x3 (int32 taps: cannot give W back) -> kept
  We  1x1, 32 -> 16, one reader (channels x positions)-> released
checks: `sinter bench --json` weight_bytes drops by exactly Wa + We (SINTER_PREPACK=0: by nothing);
outputs equal ORT at every ISA level and -O0 / -O3, twice per session. The same model with symbolic spatial dimensions packs in a
form chosen without the output's shape, so a run may need another form: W is then recovered from the
packed copy (sn_qconv_weight_bytes) and the results must still equal ORT. Prints "N passed, M
failed"; exits 1 on any failure.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T, helper as h, numpy_helper as nh

import sinter_ctypes as sc
from testlib import SINTER, check, finish, set_verbose

set_verbose()
ISAS = (("scalar", 1), ("avx2", 2), ("avx512", 1), ("avx512", 2))


def save(tmp, name, nodes, inputs, outputs, inits):
    g = h.make_graph(nodes, name, inputs, outputs, inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    path = os.path.join(tmp, name + ".onnx")
    onnx.save(m, path)
    return path


def ort_run(path, feeds):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)


def sinter_runs(path, feeds, level=3):
    outs = []
    for isa, t in ISAS:
        with sc.Session(path, threads=t, isa=isa, opt_level=level) as s:
            r = s.run(feeds)
            outs.append([r[k] for k in sorted(r)])
    return outs


def depthwise_cases(tmp):
    rng = np.random.default_rng(3)
    shapes = [(17, 1, 13, 11, 3, 1, 1), (32, 1, 14, 14, 5, 2, 2), (6, 2, 9, 40, 3, 1, 1), (24, 1, 5, 5, 3, 1, 2)]
    for op in ("QLinearConv", "ConvInteger"):
        for (C, mult, H, W, k, pad, stride) in shapes:
            M = C * mult
            for wdt, zkind in ((T.INT8, "none"), (T.INT8, "tensor"), (T.INT8, "channel"), (T.UINT8, "tensor")):
                if op == "QLinearConv" and zkind == "none":
                    continue  # QLinearConv's w_zero_point is required
                if op == "ConvInteger" and zkind == "channel":
                    continue  # ORT's ConvInteger takes a scalar w_zero_point
                npw = np.int8 if wdt == T.INT8 else np.uint8
                w = rng.integers(0, 256, (M, 1, k, k)).astype(np.uint8) if wdt == T.UINT8 else \
                    rng.integers(-127, 128, (M, 1, k, k)).astype(np.int8)
                wz = (None if zkind == "none" else
                      np.array(119 if wdt == T.UINT8 else 3, npw) if zkind == "tensor" else
                      rng.integers(-6, 7, M).astype(np.int8))
                x = rng.integers(0, 256, (2, C, H, W)).astype(np.uint8)
                xz = np.array(7, np.uint8)
                attrs = dict(pads=[pad] * 4, strides=[stride] * 2, group=C)
                for variant in ("const", "w_input", "wz_input"):
                    if variant == "wz_input" and wz is None:
                        continue
                    inits, feeds = [], {"x": x}
                    ins = [h.make_tensor_value_info("x", T.UINT8, list(x.shape))]

                    def add(name, arr, as_input=False):
                        if as_input:
                            feeds[name] = arr
                            ins.append(h.make_tensor_value_info(name, nh.from_array(arr).data_type, list(arr.shape)))
                        else:
                            inits.append(nh.from_array(arr, name))

                    if op == "QLinearConv":
                        add("xs", np.array(0.05, np.float32))
                        add("xz", xz)
                        add("w", w, variant == "w_input")
                        add("ws", rng.uniform(0.001, 0.01, M).astype(np.float32))
                        add("wz", wz, variant == "wz_input")
                        add("ys", np.array(2.0, np.float32))
                        add("yz", np.array(3, np.uint8))
                        add("b", rng.integers(-1000, 1000, M).astype(np.int32))
                        node = h.make_node(op, ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], **attrs)
                        ydt = T.UINT8
                    else:
                        add("xz", xz)
                        add("w", w, variant == "w_input")
                        names = ["x", "w", "xz"]
                        if wz is not None:
                            add("wz", wz, variant == "wz_input")
                            names.append("wz")
                        node = h.make_node(op, names, ["y"], **attrs)
                        ydt = T.INT32
                    path = save(tmp, "dw", [node], ins, [h.make_tensor_value_info("y", ydt, None)], inits)
                    ref = ort_run(path, feeds)[0]
                    outs = sinter_runs(path, feeds)
                    same = all(np.array_equal(o[0], ref) for o in outs)
                    check(f"{op} depthwise C{C}x{mult} {H}x{W} k{k} s{stride} w {'s8' if wdt == T.INT8 else 'u8'} "
                          f"zp {zkind} ({variant}): == ORT at every ISA / thread count", same,
                          "" if same else f"{max(int((o[0] != ref).sum()) for o in outs)} of {ref.size} differ")


def typed(name, arr):
    """an 8-bit initializer stored as int32_data (not raw_data): the reader gives it a buffer of its own"""
    dt = T.INT8 if arr.dtype == np.int8 else T.UINT8
    return h.make_tensor(name, dt, arr.shape, arr.flatten().astype(np.int32).tolist(), raw=False)


def release_model(tmp, name, spatial):
    rng = np.random.default_rng(9)
    C = 32
    ws = {"Wa": rng.integers(-127, 128, (C, C, 3, 3)), "Wb": rng.integers(-127, 128, (C, C, 1, 1)),
          "Wc": rng.integers(-127, 128, (C, C, 1, 1)), "Wd": rng.integers(-127, 128, (C, 1, 3, 3)),
          "We": rng.integers(-127, 128, (16, C, 1, 1))}
    ws = {k: v.astype(np.int8) for k, v in ws.items()}
    inits = [typed(k, v) for k, v in ws.items()]
    inits += [nh.from_array(np.array(0.02, np.float32), "s"), nh.from_array(np.array(128, np.uint8), "z"),
              nh.from_array(np.array(0.004, np.float32), "sw"), nh.from_array(np.array(0, np.int8), "zw")]

    def qc(x, w, y, **kw):
        return h.make_node("QLinearConv", [x, "s", "z", w, "sw", "zw", "s", "z"], [y], **kw)

    nodes = [qc("x", "Wa", "a", pads=[1, 1, 1, 1]), qc("a", "Wb", "b"), qc("b", "Wb", "c"), qc("c", "Wc", "d"),
             qc("d", "Wd", "e", pads=[1, 1, 1, 1], group=C), qc("e", "We", "y")]
    shape = [1, C, 9, 11] if not spatial else [1, C, "H", "W"]
    path = save(tmp, name, nodes, [h.make_tensor_value_info("x", T.UINT8, shape)],
                [h.make_tensor_value_info("y", T.UINT8, None), h.make_tensor_value_info("Wc", T.INT8, None)], inits)
    return path, ws


def bench_json(path, env=None):
    r = subprocess.run([SINTER, "bench", path, "--runs", "2", "--warmup", "0", "--threads", "1",
                        "--json", "-", "-q"], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, **(env or {})))
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return json.loads(r.stdout)["results"][0]


def release_cases(tmp):
    rng = np.random.default_rng(4)
    path, ws = release_model(tmp, "release", False)
    x = rng.integers(0, 256, (1, 32, 9, 11)).astype(np.uint8)
    ref = ort_run(path, {"x": x})[0]
    for level in (0, 3):
        for isa, t in ISAS:
            with sc.Session(path, threads=t, isa=isa, opt_level=level) as s:
                got = s.run({"x": x})
                again = s.run({"x": x})
            check(f"released weights: == ORT -O{level} {isa} t{t}", np.array_equal(got["y"], ref))
            check(f"released weights: second run identical -O{level} {isa} t{t}", np.array_equal(again["y"], got["y"]))
            check(f"weight output Wc returned unchanged -O{level} {isa} t{t}", np.array_equal(got["Wc"], ws["Wc"]))
    r = bench_json(path)
    total = sum(v.nbytes for v in ws.values()) + 4 + 1 + 4 + 1
    want = total - ws["Wa"].nbytes - ws["We"].nbytes
    check("weight_bytes drops by exactly the released weights (Wa, We)", r["weight_bytes"] == want,
          f"weight_bytes {r['weight_bytes']}, expected {want} (total {total})")
    off = bench_json(path, {"SINTER_PREPACK": "0"})
    check("SINTER_PREPACK=0 keeps every weight", off["weight_bytes"] == total, f"{off['weight_bytes']} of {total}")
    # symbolic spatial dimensions: the form packed at load need not be the run's; W is recovered
    spath, _ = release_model(tmp, "release_sym", True)
    for hw in ((9, 11), (7, 7), (1, 1), (20, 3)):
        xs = rng.integers(0, 256, (1, 32) + hw).astype(np.uint8)
        sref = ort_run(spath, {"x": xs})[0]
        for isa, t in ISAS:
            with sc.Session(spath, threads=t, isa=isa) as s:
                got = s.run({"x": xs})
            check(f"symbolic dims {hw}: W recovered from the packed copy == ORT {isa} t{t}", np.array_equal(got["y"], sref))


def main():
    tmp = tempfile.mkdtemp(prefix="sinter-qprepack-")
    depthwise_cases(tmp)
    release_cases(tmp)
    sys.exit(finish())


if __name__ == "__main__":
    main()
