"""Batch splitting (src/plan/batch_split.c, the split run in src/runtime/session.c): a batch whose
samples the graph provably keeps apart runs as samples side by side on the pool's threads.

For each model below, at batch sizes that divide over two threads and that leave one sample over
(run last with the pool), this checks
  - the decision, from `sinter run --threads 2` with SINTER_SPLIT_LOG=1: models built only of
    per-sample ops split (also where a reshape groups a sample's rows on axis 0, as attention's
    [batch * heads, ...] does); models where one op mixes samples (Softmax over axis 0, a Transpose that
    moves axis 0, Gather or a reversed Slice along the batch, a reduction over it, dynamic
    quantization whose scale spans the batch, a batched value used as a weight, a constant with one
    row per sample, a Reshape to a literal batch size, MaxPool's flat indices, a Pad of axis 0, CumSum or ArgMax along it, a Tile or a Resize along it
    regrouped by a Reshape, an Einsum over it) must not, and say which
    node stopped them;
  - the outputs, through the C API with batch_split on and off, two threads, against ONNX Runtime
    (within 1e-5 of the output's scale; float32 sums over at most a few hundred terms) whatever the
    decision, so that a wrong "split" shows up as wrong numbers too;
  - the auto mode's weight heuristic: an MLP whose weights dwarf a sample's activations is not split,
    and on one thread only a model whose activations outweigh its weights is.

    SINTER_BUILD=build .venv/bin/python tests/python/test_batch_split.py

Prints "N passed, M failed"; exits 1 on any failure.
"""
import os
import sys
import tempfile
import threading

import numpy as np
import onnx
from onnx import TensorProto as T, helper as h, numpy_helper as nh

from testlib import check, finish, set_verbose, make_model, ort_outputs, rel_err, require_sinter, run_cli, save, sinter_outputs

RNG = np.random.default_rng(7)


def rnd(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def vi(name, shape, dt=T.FLOAT):
    return h.make_tensor_value_info(name, dt, shape)


class M:
    """a model under construction: nodes, initializers"""

    def __init__(self):
        self.nodes, self.inits = [], []

    def c(self, name, arr):
        self.inits.append(nh.from_array(np.asarray(arr), name))
        return name

    def n(self, op, ins, outs, **attrs):
        ins = [ins] if isinstance(ins, str) else ins
        self.nodes.append(h.make_node(op, ins, outs if isinstance(outs, list) else [outs], **attrs))
        return outs

    def model(self, inputs, outputs, opset=18, domains=None):
        return make_model(self.nodes, inputs, outputs, self.inits, opset=opset, domains=domains)


# ---- models whose samples stay apart ------------------------------------------------------------

def cnn(hw=20):
    m = M()
    m.n("Conv", ["x", m.c("w1", rnd(16, 3, 3, 3, scale=0.3)), m.c("b1", rnd(16))], "c1", pads=[1, 1, 1, 1])
    m.n("BatchNormalization", ["c1", m.c("g", rnd(16) + 2), m.c("be", rnd(16)), m.c("mu", rnd(16)),
                               m.c("var", np.abs(rnd(16)) + 0.5)], "bn")
    m.n("Relu", "bn", "r1")
    # reflect padding of H and W, given by axes (opset 18), then a crop back (negative pads)
    m.n("Pad", ["r1", m.c("pads", np.array([1, 2, 1, 2], np.int64)), "", m.c("pax", np.array([2, 3], np.int64))],
        "pd", mode="reflect")
    m.n("Pad", ["pd", m.c("crop", np.array([0, 0, -1, -2, 0, 0, -1, -2], np.int64))], "r1c")
    m.n("MaxPool", "r1c", "p1", kernel_shape=[2, 2], strides=[2, 2])
    m.n("Conv", ["p1", m.c("wd", rnd(16, 1, 3, 3, scale=0.3))], "dw", group=16, pads=[1, 1, 1, 1])
    m.n("Conv", ["dw", m.c("w2", rnd(16, 16, 1, 1, scale=0.3))], "c2")
    m.n("Add", ["c2", "p1"], "res")
    m.n("GlobalAveragePool", "res", "gap")
    m.n("Flatten", "gap", "f", axis=1)
    m.n("Gemm", ["f", m.c("wf", rnd(10, 16, scale=0.3)), m.c("bf", rnd(10))], "y", transB=1)
    return m.model([vi("x", ["N", 3, hw, hw])], [vi("y", ["N", 10])]), {"x": (3, hw, hw)}


def encoder():
    """MatMul + bias, heads split by a Reshape whose shape comes from Shape (batch-size-dependent
    shape arithmetic), Softmax over the last axis, LayerNormalization, GELU by Erf"""
    S, H, heads = 12, 16, 2
    dh = H // heads
    m = M()
    for nm in "qkv":
        m.n("MatMul", ["x", m.c("w" + nm, rnd(H, H, scale=0.25))], nm + "m")
        m.n("Add", [nm + "m", m.c("b" + nm, rnd(H, scale=0.1))], nm)
    m.n("Shape", "x", "shp")
    m.n("Gather", ["shp", m.c("i0", np.array(0, np.int64))], "bsz", axis=0)
    m.n("Unsqueeze", ["bsz", m.c("ax0", np.array([0], np.int64))], "bsz1")
    m.n("Concat", ["bsz1", m.c("rest", np.array([S, heads, dh], np.int64))], "hshape", axis=0)
    m.n("Concat", ["bsz1", m.c("rest2", np.array([S, H], np.int64))], "mshape", axis=0)
    for nm, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
        m.n("Reshape", [nm, "hshape"], nm + "r")
        m.n("Transpose", nm + "r", nm + "t", perm=perm)
    m.n("MatMul", ["qt", "kt"], "sc")
    m.n("Mul", ["sc", m.c("scale", np.array(dh ** -0.5, np.float32))], "scs")
    m.n("Add", ["scs", "mask"], "scm")
    m.n("Softmax", "scm", "p", axis=-1)
    m.n("MatMul", ["p", "vt"], "o")
    m.n("Transpose", "o", "ot", perm=[0, 2, 1, 3])
    m.n("Reshape", ["ot", "mshape"], "om")
    m.n("Add", ["om", "x"], "res")
    m.n("LayerNormalization", ["res", m.c("lg", rnd(H) + 1), m.c("lb", rnd(H))], "ln", axis=-1, epsilon=1e-5)
    m.n("Div", ["ln", m.c("sq2", np.array(np.sqrt(2), np.float32))], "gd")
    m.n("Erf", "gd", "ge")
    m.n("Add", ["ge", m.c("one", np.array(1, np.float32))], "g1")
    m.n("Mul", ["ln", "g1"], "g2")
    m.n("Mul", ["g2", m.c("half", np.array(0.5, np.float32))], "y")
    m.n("ReduceMean", ["y", m.c("axes12", np.array([1, 2], np.int64))], "pooled", keepdims=0)
    return (m.model([vi("x", ["N", S, H]), vi("mask", ["N", 1, 1, S])], [vi("y", ["N", S, H]), vi("pooled", ["N"])]),
            {"x": (S, H), "mask": (1, 1, S)})


def grouped():
    """attention as Hugging Face exports it: a sample's heads grouped on axis 0 ([N * 2, S, H / 2]), the
    products batched over them, then the heads put back"""
    S, H = 5, 8
    m = M()
    m.n("MatMul", ["x", m.c("wq", rnd(H, H, scale=0.3))], "q")
    m.n("Reshape", ["q", m.c("sh4", np.array([0, S, 2, H // 2], np.int64))], "q4")
    m.n("Transpose", "q4", "qt", perm=[0, 2, 1, 3])
    m.n("Reshape", ["qt", m.c("sh3", np.array([-1, S, H // 2], np.int64))], "qg")
    m.n("Transpose", "qg", "kg", perm=[0, 2, 1])
    m.n("MatMul", ["qg", "kg"], "sc")
    m.n("Softmax", "sc", "p", axis=-1)
    m.n("MatMul", ["p", "qg"], "o")
    m.n("Reshape", ["o", m.c("sh4b", np.array([-1, 2, S, H // 2], np.int64))], "o4")
    m.n("Transpose", "o4", "ot", perm=[0, 2, 1, 3])
    m.n("Flatten", "ot", "of", axis=2)  # [N * S, H]: a sample's rows grouped again
    m.n("Reshape", ["of", m.c("sh3b", np.array([-1, S, H], np.int64))], "y")
    return m.model([vi("x", ["N", S, H])], [vi("y", ["N", S, H])]), {"x": (S, H)}


def shuffle():
    """Concat / Split / Slice / Gather / Tile / Expand along the other axes, Where with constants; CumSum,
    ArgMax, TopK and reductions along the others; Einsums whose subscripts keep the batch letter first"""
    m = M()
    m.n("Concat", ["x", "x2"], "cat", axis=1)
    m.n("Split", ["cat", m.c("sp", np.array([3, 5], np.int64))], ["s1", "s2"], axis=1)
    m.n("Slice", ["s2", m.c("st", np.array([1, 0], np.int64)), m.c("en", np.array([7, 100], np.int64)),
                  m.c("axs", np.array([2, 0], np.int64)), m.c("stp", np.array([2, 1], np.int64))], "sl")
    m.n("Gather", ["s1", m.c("gi", np.array([2, 0, 2], np.int64))], "ga", axis=1)
    m.n("ReduceMax", ["sl", m.c("ax2", np.array([2], np.int64))], "rm", keepdims=1)
    m.n("Tile", ["rm", m.c("rep", np.array([1, 1, 3], np.int64))], "ti")
    m.n("Less", ["ti", m.c("zero", np.array(0, np.float32))], "neg")
    m.n("Where", ["neg", m.c("wc", rnd(5, 3)), "ti"], "wh")
    m.n("Shape", "wh", "shp_wh")
    m.n("Expand", [m.c("row", rnd(1, 1, 3)), "shp_wh"], "ex")  # a constant row repeated over the batch
    m.n("Add", ["wh", "ex"], "y1")
    m.n("Softmax", "ga", "y2", axis=1)
    # running sums along a row, the index of each row's largest, the two largest of each row
    m.n("CumSum", ["x", m.c("cax", np.array(-1, np.int64))], "cs")
    m.n("ArgMax", "cs", "am", axis=2, keepdims=0)
    m.n("Cast", "am", "amf", to=T.FLOAT)
    m.n("TopK", ["x2", m.c("k2", np.array([2], np.int64))], ["tv", "ti2"], axis=-1)
    m.n("Cast", "ti2", "tif", to=T.FLOAT)
    m.n("ReduceLogSumExp", ["tv", m.c("ax2b", np.array([2], np.int64))], "lse", keepdims=0)
    m.n("Add", ["lse", "amf"], "y3a")
    m.n("ReduceSumSquare", ["tif", m.c("ax2c", np.array([2], np.int64))], "ssq", keepdims=0)
    m.n("Add", ["y3a", "ssq"], "y3b")
    # einsum: a per-sample product of two batched operands, then one with a constant
    m.n("Einsum", ["x", "x2"], "gram", equation="bij, bkj -> bik")
    m.n("Einsum", ["gram", m.c("we", rnd(4, 4))], "ge", equation="bik,kl->bil")
    m.n("ReduceMean", ["ge", m.c("ax2d", np.array([2], np.int64))], "gm", keepdims=0)
    m.n("Add", ["y3b", "gm"], "y3")
    return (m.model([vi("x", ["N", 4, 7]), vi("x2", ["N", 4, 7])],
                    [vi("y1", ["N", 5, 3]), vi("y2", ["N", 3, 7]), vi("y3", ["N", 4])]),
            {"x": (4, 7), "x2": (4, 7)})


def embed():
    """an embedding lookup (constant table, batched ids), positions from a constant"""
    m = M()
    m.n("Gather", [m.c("table", rnd(50, 8)), "ids"], "e", axis=0)
    m.n("Add", ["e", m.c("pos", rnd(6, 8))], "ep")
    m.n("Cast", "ids", "idf", to=T.FLOAT)
    m.n("Unsqueeze", ["idf", m.c("axm1", np.array([-1], np.int64))], "idu")
    m.n("Mul", ["ep", "idu"], "y")
    return m.model([vi("ids", ["N", 6], T.INT64)], [vi("y", ["N", 6, 8])]), {"ids": (6,)}


def mlp():
    m = M()
    m.n("Gemm", ["x", m.c("w1", rnd(256, 512, scale=0.05)), m.c("b1", rnd(512))], "h1")
    m.n("Relu", "h1", "r1")
    m.n("Gemm", ["r1", m.c("w2", rnd(512, 512, scale=0.05)), m.c("b2", rnd(512))], "h2")
    m.n("Relu", "h2", "r2")
    m.n("Gemm", ["r2", m.c("w3", rnd(512, 10, scale=0.05)), m.c("b3", rnd(10))], "y")
    return m.model([vi("x", ["N", 256])], [vi("y", ["N", 10])]), {"x": (256,)}


# ---- models where one op mixes samples ----------------------------------------------------------

def mixing(kind):
    m = M()
    x = vi("x", ["N", 6, 5])
    out = vi("y", None)
    if kind == "softmax_axis0":
        m.n("Softmax", "x", "y", axis=0)
    elif kind == "transpose_batch":
        m.n("Transpose", "x", "t", perm=[1, 0, 2])
        m.n("Relu", "t", "y")
    elif kind == "gather_batch":
        m.n("Gather", ["x", m.c("gi", np.array([0, 0], np.int64))], "g", axis=0)
        m.n("Concat", ["x", "g"], "y", axis=0)
    elif kind == "slice_reverse":
        m.n("Slice", ["x", m.c("st", np.array([-1], np.int64)), m.c("en", np.array([-(2 ** 62)], np.int64)),
                      m.c("ax", np.array([0], np.int64)), m.c("sp", np.array([-1], np.int64))], "y")
    elif kind == "reduce_batch":
        m.n("ReduceMean", ["x", m.c("ax", np.array([0], np.int64))], "mu", keepdims=1)
        m.n("Sub", ["x", "mu"], "y")
    elif kind == "batch_as_weight":
        m.n("Flatten", "x", "x2", axis=1)
        m.n("Gemm", ["x2", "x2"], "y", transB=1)  # the samples' Gram matrix: x2 is B, the weight
    elif kind == "per_sample_const":
        m.n("Add", ["x", m.c("bias", rnd(4, 1, 1))], "y")  # one row per sample of a batch of 4
    elif kind == "literal_batch":
        m.n("Reshape", ["x", m.c("sh", np.array([4, 30], np.int64))], "y")
    elif kind == "dynamic_quant":
        m.n("DynamicQuantizeLinear", "x", ["q", "qs", "qz"])
        m.n("MatMulInteger", ["q", m.c("wq", RNG.integers(-100, 100, (5, 4)).astype(np.int8)), "qz"], "acc")
        m.n("Cast", "acc", "accf", to=T.FLOAT)
        m.n("Mul", ["accf", "qs"], "y")
    elif kind == "pad_batch":
        m.n("Pad", ["x", m.c("pads", np.array([1, 0, 0, 0, 0, 0], np.int64)), m.c("pv", np.array(1.5, np.float32))],
            "y")
    elif kind == "cumsum_batch":
        m.n("CumSum", ["x", m.c("cax", np.array(0, np.int64))], "y")
    elif kind == "argmax_batch":  # (axis 0 by default)
        m.n("ArgMax", "x", "am", keepdims=1)
        m.n("Cast", "am", "amf", to=T.FLOAT)
        m.n("Add", ["x", "amf"], "y")
    elif kind == "tile_batch":  # [x; x] along axis 0, regrouped: not [x0; x0; x1; x1]
        m.n("Tile", ["x", m.c("rep", np.array([2, 1, 1], np.int64))], "t")
        m.n("Reshape", ["t", m.c("sh", np.array([-1, 2, 6, 5], np.int64))], "t4")
        m.n("ReduceSum", ["t4", m.c("ax1", np.array([1], np.int64))], "y", keepdims=0)
    elif kind == "resize_batch":  # interpolation along axis 0 (between samples)
        m.n("Resize", ["x", "", m.c("scales", np.array([2, 1, 1], np.float32))], "r", mode="linear")
        m.n("Reshape", ["r", m.c("sh", np.array([-1, 2, 6, 5], np.int64))], "r4")
        m.n("ReduceMax", ["r4", m.c("ax1", np.array([1], np.int64))], "y", keepdims=0)
    elif kind == "einsum_gram":  # the samples' Gram matrix
        m.n("Einsum", ["x", "x"], "y", equation="bij,cij->bc")
    elif kind == "maxpool_indices":
        m.n("Unsqueeze", ["x", m.c("ax1", np.array([1], np.int64))], "x4")
        m.n("MaxPool", "x4", ["p", "idx"], kernel_shape=[2, 2])
        m.n("Cast", "idx", "y", to=T.FLOAT)
    return m.model([x], [out]), {"x": (6, 5)}


CASES = [("cnn", cnn, True), ("encoder", encoder, True), ("grouped", grouped, True), ("shuffle", shuffle, True),
         ("embed", embed, True)] + [
    (k, (lambda k=k: mixing(k)), False) for k in
    ("softmax_axis0", "transpose_batch", "gather_batch", "slice_reverse", "reduce_batch", "batch_as_weight",
     "per_sample_const", "literal_batch", "dynamic_quant", "maxpool_indices", "pad_batch", "cumsum_batch",
     "argmax_batch", "tile_batch", "resize_batch", "einsum_gram")]


def feeds_for(shapes, n, model):
    types = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    f = {}
    for name, rest in shapes.items():
        if types[name] == T.INT64:
            f[name] = RNG.integers(0, 50, (n,) + rest).astype(np.int64)
        else:
            f[name] = rnd(n, *rest)
    return f


def decision(path, feeds, tmp, mode="on", threads=2):
    args = ["run", path, "--threads", str(threads), "-q"]
    for name, a in feeds.items():
        p = os.path.join(tmp, name + ".npy")
        np.save(p, a)
        args += ["--input", f"{name}={p}"]
    r = run_cli(*args, env={"SINTER_BATCH_SPLIT": mode, "SINTER_SPLIT_LOG": "1"})
    lines = [l for l in r.stderr.splitlines() if "split" in l]
    return r.returncode, (lines[0] if lines else "")


def compare(what, model_bytes, feeds):
    want = ort_outputs(model_bytes, feeds)
    for mode in ("on", "off"):
        try:
            got = sinter_outputs(model_bytes, feeds, threads=2, batch_split=mode)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            check(f"{what} split={mode} runs", False, str(e))
            continue
        for i, (g, w) in enumerate(zip(got, want)):
            ok = g.shape == w.shape and rel_err(g.astype(np.float64), w.astype(np.float64)) <= 1e-5
            check(f"{what} split={mode} output {i} vs ORT", ok,
                  f"shape {g.shape} vs {w.shape}" if g.shape != w.shape else f"rel err {rel_err(g, w):.2e}")


def main():
    set_verbose("-v" in sys.argv)
    if not require_sinter():
        return finish()
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, separable in CASES:
            model, shapes = make()
            if separable:
                onnx.checker.check_model(model)
            path = save(model, tmp, name)
            data = model.SerializeToString()
            for n in ((4, 5) if separable else (4,)):
                feeds = feeds_for(shapes, n, model)
                rc, line = decision(path, feeds, tmp)
                if separable:
                    check(f"{name} b{n}: split", rc == 0 and "split into samples" in line, f"rc {rc}: {line!r}")
                else:
                    check(f"{name} b{n}: not split, the node named", "not split" in line and
                          (" at node " in line or "batch 1" in line or "not per sample" in line), f"rc {rc}: {line!r}")
                compare(f"{name} b{n}", data, feeds)
        # auto: the MLP's weights (1.3 MB) against 5 KB of activations a sample: batched, not split
        model, shapes = mlp()
        path = save(model, tmp, "mlp")
        feeds = feeds_for(shapes, 8, model)
        _, line = decision(path, feeds, tmp, mode="auto")
        check("mlp b8 auto: not split (weights)", "not split" in line and "weights" in line, repr(line))
        _, line = decision(path, feeds, tmp, mode="on")
        check("mlp b8 on: split", "split into samples" in line, repr(line))
        compare("mlp b8", model.SerializeToString(), feeds)
        # one thread: split where a sample's activations outweigh the weights (the CNN), not the MLP
        _, line = decision(path, feeds, tmp, mode="auto", threads=1)
        check("mlp b8 t1 auto: not split", "not split" in line, repr(line))
        # (at 48x48, 0.8 MB a sample; at 20x20, 0.14 MB, too little to pay a run of the plan per sample)
        cnn_model, cnn_shapes = cnn(48)
        _, line = decision(save(cnn_model, tmp, "cnn_t1"), feeds_for(cnn_shapes, 3, cnn_model), tmp, mode="auto",
                           threads=1)
        check("cnn 48x48 b3 t1 auto: split", "split into samples" in line, repr(line))
        cnn_model, cnn_shapes = cnn()
        _, line = decision(save(cnn_model, tmp, "cnn_t1s"), feeds_for(cnn_shapes, 3, cnn_model), tmp, mode="auto")
        check("cnn 20x20 b3 auto: not split (small samples)", "not split" in line and "too little" in line, repr(line))
        # concurrent split runs on one session: the pool is busy with one, the other runs its samples
        # inline; each gets its own frames and its own results
        import sinter_ctypes
        model, shapes = cnn()
        batches = [feeds_for(shapes, 5, model) for _ in range(3)]
        wants = [ort_outputs(model.SerializeToString(), f)[0] for f in batches]
        ok = []
        with sinter_ctypes.Session(model.SerializeToString(), threads=2, batch_split="on") as sess:
            def worker(k):
                for r in range(6):
                    i = (k + r) % 3
                    got = list(sess.run(batches[i]).values())[0]
                    ok.append(rel_err(got, wants[i]) <= 1e-5)
            ts = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        check("three threads, split runs on one session", len(ok) == 18 and all(ok), f"{sum(ok)} of {len(ok)} right")
        # batch 1: no split considered (nothing logged)
        _, line = decision(save(cnn()[0], tmp, "cnn1"), {"x": rnd(1, 3, 20, 20)}, tmp)
        check("batch 1: nothing to split", line == "", repr(line))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
