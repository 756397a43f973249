"""Fused multi-head attention (src/passes/attention.c, src/ops/attention.c) against numpy in double
precision, on awkward shapes: head sizes 5 to 64, query and key lengths that are not multiples of
the GEMM's tiles (1, 13, 77, 200), cross-attention (Sq != Sk), every mask form the op broadcasts
(per key, per query row, per head, causal with -inf, none), the Q/K/V projections packed into one
GEMM, and one and two threads. Each model must fuse into exactly one Attention node (counted in
`sinter optimize -O2`'s output), and its outputs must be within 2e-5 of the output scale of the
double-precision result (float32 products of depth dh and Sk: errors of a few 1e-7 are expected).
CI runs this at every ISA level (SINTER_ISA), so the vector path (K^T packed per head, blocks of
query rows through the small-M GEMM) and the reference path are both checked.

    SINTER_BUILD=build .venv/bin/python tests/python/test_attention.py

Prints "N passed, M failed"; exits 1 on any failure.
"""
import collections
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto as T, helper as h, numpy_helper as nh

from testlib import (check, finish, isa_level, make_model, ort_outputs, rel_err, require_sinter, run_cli, save,
                     sinter_outputs)


def attention_model(B, Sq, Sk, H, heads, mask_shape=None, scale_op="Div", packed=False, k_two_transposes=False,
                    seed=0):
    """The exporters' pattern: heads split by Reshape + Transpose, softmax(Q K^T * scale + mask) V,
    heads merged back. packed: q, k, v are projections x W + b of one input x (Sq == Sk), which the
    optimizer packs into one GEMM; else q (and k, v when Sq == Sk) are inputs. Returns (model, feeds,
    the numpy double result)."""
    rng = np.random.default_rng(seed)
    dh = H // heads
    inits, nodes, inputs, feeds = [], [], [], {}

    def const(name, arr):
        inits.append(nh.from_array(np.asarray(arr), name))
        return name

    def inp(name, shape):
        a = rng.standard_normal(shape).astype(np.float32)
        inputs.append(h.make_tensor_value_info(name, T.FLOAT, list(shape)))
        feeds[name] = a
        return a

    if packed:
        x = inp("x", (B, Sq, H))
        ws = {n: (rng.standard_normal((H, H)) / np.sqrt(H)).astype(np.float32) for n in "qkv"}
        bs = {n: rng.standard_normal(H).astype(np.float32) * 0.1 for n in "qkv"}
        vals = {}
        for n in "qkv":
            nodes.append(h.make_node("MatMul", ["x", const("w" + n, ws[n])], [n + "m"]))
            nodes.append(h.make_node("Add", [n + "m", const("b" + n, bs[n])], [n]))
            vals[n] = x.astype(np.float64) @ ws[n].astype(np.float64) + bs[n]
    else:
        vals = {"q": inp("q", (B, Sq, H)).astype(np.float64), "k": inp("k", (B, Sk, H)).astype(np.float64),
                "v": inp("v", (B, Sk, H)).astype(np.float64)}
    shq = const("shq", np.array([B, Sq, heads, dh], np.int64))
    shk = const("shk", np.array([B, Sk, heads, dh], np.int64))
    nodes.append(h.make_node("Reshape", ["q", shq], ["qr"]))
    nodes.append(h.make_node("Reshape", ["k", shk], ["kr"]))
    nodes.append(h.make_node("Reshape", ["v", shk], ["vr"]))
    nodes.append(h.make_node("Transpose", ["qr"], ["qt"], perm=[0, 2, 1, 3]))
    if k_two_transposes:
        nodes.append(h.make_node("Transpose", ["kr"], ["kh"], perm=[0, 2, 1, 3]))
        nodes.append(h.make_node("Transpose", ["kh"], ["kt"], perm=[0, 1, 3, 2]))
    else:
        nodes.append(h.make_node("Transpose", ["kr"], ["kt"], perm=[0, 2, 3, 1]))
    nodes.append(h.make_node("Transpose", ["vr"], ["vt"], perm=[0, 2, 1, 3]))
    nodes.append(h.make_node("MatMul", ["qt", "kt"], ["s"]))
    c = float(np.sqrt(dh))
    if scale_op == "Div":
        nodes.append(h.make_node("Div", ["s", const("c", np.array(c, np.float32))], ["ss"]))
        scale = 1.0 / np.float64(np.float32(c))
    else:
        nodes.append(h.make_node("Mul", ["s", const("c", np.array(1.0 / c, np.float32))], ["ss"]))
        scale = np.float64(np.float32(1.0 / c))
    sm_in = "ss"
    mask = None
    if mask_shape is not None:
        if mask_shape == "causal":
            mask = np.triu(np.full((Sq, Sk), -np.inf, np.float32), 1)[None, None]
        elif mask_shape[-1] == 1:  # one value per row only shifts it: -10000 there would measure float32's
            mask = rng.standard_normal(mask_shape).astype(np.float32)  # rounding of the shifted scores
        else:
            mask = np.where(rng.random(mask_shape) < 0.3, -10000.0, rng.standard_normal(mask_shape)).astype(np.float32)
        inputs.append(h.make_tensor_value_info("mask", T.FLOAT, list(mask.shape)))
        feeds["mask"] = mask
        nodes.append(h.make_node("Add", ["ss", "mask"], ["sm"]))
        sm_in = "sm"
    nodes.append(h.make_node("Softmax", [sm_in], ["p"], axis=-1))
    nodes.append(h.make_node("MatMul", ["p", "vt"], ["o"]))
    nodes.append(h.make_node("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]))
    nodes.append(h.make_node("Reshape", ["ot", const("shy", np.array([B, Sq, H], np.int64))], ["y"]))
    m = make_model(nodes, inputs, [h.make_tensor_value_info("y", T.FLOAT, [B, Sq, H])], inits, opset=13)

    def split(a, S):
        return a.reshape(B, S, heads, dh).transpose(0, 2, 1, 3)

    s = split(vals["q"], Sq) @ split(vals["k"], Sk).transpose(0, 1, 3, 2) * scale
    if mask is not None:
        s = s + mask.astype(np.float64)
    s = s - s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    want = (p @ split(vals["v"], Sk)).transpose(0, 2, 1, 3).reshape(B, Sq, H)
    return m, feeds, want


CASES = [
    # name, B, Sq, Sk, H, heads, options
    ("head size 5, 13 tokens, no mask", 2, 13, 13, 15, 3, {}),
    ("BERT-small heads, 128 tokens, mask per key", 1, 128, 128, 256, 4, {"mask_shape": (1, 1, 1, 128)}),
    ("cross-attention 128 x 77, mask per key", 2, 128, 77, 256, 4, {"mask_shape": (2, 1, 1, 77)}),
    ("one query row, 50 keys, mask per head and row", 3, 1, 50, 64, 2, {"mask_shape": (3, 2, 1, 50)}),
    ("causal -inf mask, head size 48, Mul scale", 1, 40, 40, 96, 2, {"mask_shape": "causal", "scale_op": "Mul"}),
    ("mask per query row (broadcast over keys)", 2, 29, 29, 64, 4, {"mask_shape": (2, 1, 29, 1)}),
    ("BERT-base heads, 200 tokens, K through two transposes", 1, 200, 200, 768, 12, {"k_two_transposes": True}),
    ("packed Q/K/V projections, 33 tokens, head size 16", 2, 33, 33, 64, 4, {"packed": True, "mask_shape": (2, 1, 1, 33)}),
    ("packed Q/K/V projections, 128 tokens, head size 64", 2, 128, 128, 128, 2, {"packed": True}),
]


def quantized_projections(tmp):
    """The packed-projection model quantized by ONNX Runtime's quantize_dynamic (per tensor, and per
    channel): Sinter turns each projection into a DynamicQuantizeMatMul and packs the three into one
    with per-column scales, whose products are the same integers: its outputs must match ORT's on the
    quantized model within 1e-5 of their scale (the only differences are float rounding in the two
    runtimes' epilogues and attention)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    for per_channel in (False, True):
        m, feeds, _ = attention_model(2, 64, 64, 128, 2, mask_shape=(2, 1, 1, 64), packed=True, seed=50)
        src = save(m, tmp, f"qproj{int(per_channel)}")
        q = os.path.join(tmp, f"qproj{int(per_channel)}.int8.onnx")
        quantize_dynamic(src, q, weight_type=QuantType.QInt8, per_channel=per_channel)
        opt = os.path.join(tmp, f"qproj{int(per_channel)}.opt.onnx")
        what = f"quantize_dynamic projections (per_channel={per_channel})"
        r = run_cli("optimize", q, opt, "-O", "2")
        if not check(f"{what}: sinter optimize", r.returncode == 0, r.stderr.strip()[-300:]):
            continue
        nodes = onnx.load(opt).graph.node
        ops = collections.Counter(n.op_type for n in nodes)
        packed = [n for n in nodes if n.op_type == "Attention" and
                  any(a.name == "qkv_packed" and a.i == 1 for a in n.attribute)]
        check(f"{what}: one DynamicQuantizeMatMul feeding a packed Attention", ops["DynamicQuantizeMatMul"] == 1 and
              len(packed) == 1, dict(ops))
        want = ort_outputs(q, feeds)[0]
        for threads in (1, 2):
            got = sinter_outputs(q, feeds, threads=threads)[0]
            err = rel_err(got, want)
            check(f"{what}, {threads} thread(s): within 1e-5 of ORT on the quantized model", err < 1e-5, f"{err:.3g}")


def main():
    require_sinter()
    print(f"ISA: {isa_level()}")
    with tempfile.TemporaryDirectory() as tmp:
        quantized_projections(tmp)
        for i, (name, B, Sq, Sk, H, heads, opts) in enumerate(CASES):
            m, feeds, want = attention_model(B, Sq, Sk, H, heads, seed=i, **opts)
            path = save(m, tmp, f"attn{i}")
            opt = os.path.join(tmp, f"attn{i}.opt.onnx")
            r = run_cli("optimize", path, opt, "-O", "2")
            if not check(f"{name}: sinter optimize", r.returncode == 0, r.stderr.strip()[-300:]):
                continue
            ops = collections.Counter(n.op_type for n in onnx.load(opt).graph.node)
            want_ops = ops["Attention"] == 1 and ops["Softmax"] == 0 and ops["Transpose"] == 0
            if opts.get("packed"):
                want_ops = want_ops and ops["MatMul"] + ops["FusedMatMul"] == 1
            check(f"{name}: one Attention node, no Softmax or Transpose left", want_ops, dict(ops))
            for threads in (1, 2):
                got = sinter_outputs(path, feeds, threads=threads)[0]
                err = rel_err(got.astype(np.float64), want)
                check(f"{name}, {threads} thread(s): within 2e-5 of numpy in double", err < 2e-5, f"{err:.3g}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
