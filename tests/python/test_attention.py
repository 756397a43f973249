"""Fused multi-head attention (src/passes/attention.c, src/ops/attention.c) against numpy in double
precision, on awkward shapes: head sizes 5 to 64, query and key lengths that are not multiples of
the GEMM's tiles (1, 13, 77, 200), cross-attention (Sq != Sk), every mask form the op broadcasts
(per key, per query row, per head, causal with -inf, none), the Q/K/V projections packed into one
GEMM, and one and two threads; and torch's sequence-first nn.MultiheadAttention form (batch_first or
not, its packed in_proj sliced in three, masks of [T,S], dynamic axes), where batch_first modules
lose the Transposes around the attention (the Attention then runs batch-first). Each model must fuse into exactly one Attention node (counted in
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

FLOAT = T.FLOAT  # (seq_first_model's T is the query length)

from testlib import (check, finish, isa_level, make_model, ort_outputs, rel_err, require_sinter, run_cli, save,
                     sinter_outputs)


class Parts:
    """A test graph's pieces: initializers, nodes, declared inputs and their seeded values."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.inits, self.nodes, self.inputs, self.feeds = [], [], [], {}

    def const(self, name, arr):
        self.inits.append(nh.from_array(np.asarray(arr), name))
        return name

    def inp(self, name, shape, declared=None):
        """a float32 input of normal values, declared with `declared` dims (default: shape)"""
        a = self.rng.standard_normal(shape).astype(np.float32)
        self.inputs.append(h.make_tensor_value_info(name, T.FLOAT, list(declared or shape)))
        self.feeds[name] = a
        return a


def attention_model(B, Sq, Sk, H, heads, mask_shape=None, scale_op="Div", packed=False, k_two_transposes=False,
                    k_bias=True, seed=0):
    """The exporters' pattern: heads split by Reshape + Transpose, softmax(Q K^T * scale + mask) V,
    heads merged back. packed: q, k, v are projections x W + b of one input x (Sq == Sk), which the
    optimizer packs into one GEMM; packed "kv": cross-attention, q a projection of x, k and v of a
    memory m [B,Sk,H] (K and V pack into one GEMM); k_bias False: K's projection has no bias (Whisper);
    else q (and k, v when Sq == Sk) are inputs. Returns (model, feeds, the numpy double result)."""
    g = Parts(seed)
    rng, inits, nodes, inputs, feeds, const, inp = g.rng, g.inits, g.nodes, g.inputs, g.feeds, g.const, g.inp
    dh = H // heads

    if packed:
        src = {"q": inp("x", (B, Sq, H))}
        src["k"] = src["v"] = inp("m", (B, Sk, H)) if packed == "kv" else src["q"]
        ws = {n: (rng.standard_normal((H, H)) / np.sqrt(H)).astype(np.float32) for n in "qkv"}
        bs = {n: rng.standard_normal(H).astype(np.float32) * 0.1 for n in "qkv"}
        if not k_bias:
            bs["k"] = np.zeros(H, np.float32)
        vals = {}
        for n in "qkv":
            xin = "m" if packed == "kv" and n != "q" else "x"
            biased = n != "k" or k_bias
            nodes.append(h.make_node("MatMul", [xin, const("w" + n, ws[n])], [n + "m" if biased else n]))
            if biased:
                nodes.append(h.make_node("Add", [n + "m", const("b" + n, bs[n])], [n]))
            vals[n] = src[n].astype(np.float64) @ ws[n].astype(np.float64) + bs[n]
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
    c = float(np.sqrt(dh))
    if scale_op == "sdpa":  # torch 2's scaled_dot_product_attention: both sides times sqrt(1 / sqrt(dh))
        r = np.float32(np.sqrt(1.0 / c))
        nodes.append(h.make_node("Mul", ["qt", const("r", np.array(r, np.float32))], ["qts"]))
        nodes.append(h.make_node("Mul", ["kt", "r"], ["kts"]))
        nodes.append(h.make_node("MatMul", ["qts", "kts"], ["ss"]))
        scale = np.float64(r) * np.float64(r)
    else:
        nodes.append(h.make_node("MatMul", ["qt", "kt"], ["s"]))
    if scale_op == "Div":
        nodes.append(h.make_node("Div", ["s", const("c", np.array(c, np.float32))], ["ss"]))
        scale = 1.0 / np.float64(np.float32(c))
    elif scale_op == "Mul":
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
    ("packed Q/K/V, K's projection without a bias (Whisper)", 2, 24, 24, 64, 4, {"packed": True, "k_bias": False}),
    ("cross-attention 19 x 37, K/V of one memory packed", 2, 19, 37, 96, 3, {"packed": "kv", "mask_shape": (2, 1, 1, 37)}),
    ("cross-attention, K/V packed, K without a bias", 1, 8, 50, 64, 2, {"packed": "kv", "k_bias": False}),
    ("scaled_dot_product_attention export: Q and K^T both scaled, mask per key", 2, 45, 45, 96, 4,
     {"scale_op": "sdpa", "mask_shape": (2, 1, 1, 45)}),
]


def seq_first_model(B, T, S, E, heads, batch_first=False, packed=False, mask_shape=None, scale_on="q",
                    k_two_transposes=False, dynamic=False, kv_halves=False, seed=0):
    """torch's nn.MultiheadAttention as torch.onnx exports it (ViT, nn.TransformerEncoder): sequence-
    first [T,B,E] (batch_first: x [B,T,E] transposed before the projections and back at the end),
    heads folded into the batch, q3 = Transpose(Reshape(q, [T,B*h,dh]), 1,0,2) scaled (scale_on "q":
    Div of q3, "scores": Mul of the product), K^T by perm 1,2,0 (or 1,0,2 then 0,2,1), the context
    transposed back and reshaped to [T*B,E] for the output projection (Gemm). packed (T == S): q, k
    and v are Slices of one in_proj [T,B,3E]; else they are inputs. Returns (model, feeds, numpy
    double result, Transposes expected to remain). kv_halves (not packed): k and v the two halves of
    one [S,B,2E] input, by Slices (torch's cross-attention, kv projection chunked). dynamic (packed only): the length and batch symbolic,
    every shape computed from Shape nodes as the export with dynamic_axes writes it (the Slices' ends
    from the in_proj's last size, the head reshapes from the input's and the keys' sizes)."""
    g = Parts(seed)
    rng, inits, nodes, inputs, feeds, const = g.rng, g.inits, g.nodes, g.inputs, g.feeds, g.const
    dh = E // heads

    def inp(name, shape):
        return g.inp(name, shape, [{B: "b", T: "t"}.get(d, d) for d in shape] if dynamic else None).astype(np.float64)

    def size(v, i):  # Unsqueeze(Gather(Shape(v), i)): a one-entry shape part
        nodes.append(h.make_node("Shape", [v], [f"{v}_shape{i}"]))
        nodes.append(h.make_node("Gather", [f"{v}_shape{i}", const(f"{v}_i{i}", np.array(i, np.int64))], [f"{v}_d{i}"]))
        return f"{v}_d{i}"

    def part(scalar):
        nodes.append(h.make_node("Unsqueeze", [scalar, const(scalar + "_ax", np.array([0], np.int64))], [scalar + "_u"]))
        return scalar + "_u"

    def times(scalar, k):
        nodes.append(h.make_node("Mul", [scalar, const(f"{scalar}_x{k}", np.array(k, np.int64))], [f"{scalar}x{k}"]))
        return f"{scalar}x{k}"

    def shape_of(name, parts):  # a constant, or the Concat of one-entry parts (dynamic)
        if not dynamic:
            return const(name, np.array(parts, np.int64))
        ins = [p if isinstance(p, str) else const(f"{name}_{i}", np.array([p], np.int64)) for i, p in enumerate(parts)]
        nodes.append(h.make_node("Concat", ins, [name], axis=0))
        return name

    if packed:
        assert T == S
        x = inp("x", (B, T, E) if batch_first else (T, B, E))
        xs = "x"
        if batch_first:
            nodes.append(h.make_node("Transpose", ["x"], ["xs"], perm=[1, 0, 2]))
            xs, x = "xs", x.transpose(1, 0, 2)
        w = (rng.standard_normal((E, 3 * E)) / np.sqrt(E)).astype(np.float32)
        b = (rng.standard_normal(3 * E) * 0.1).astype(np.float32)
        nodes.append(h.make_node("MatMul", [xs, const("w_in", w)], ["qkv_m"]))
        nodes.append(h.make_node("Add", [const("b_in", b), "qkv_m"], ["qkv"]))
        full = x @ w.astype(np.float64) + b
        vals = {}
        third = None
        if dynamic:  # torch: E = qkv.size(-1) / 3, the cuts at E * 1, 2, 3
            nodes.append(h.make_node("Div", [size("qkv", -1), const("three", np.array(3, np.int64))], ["third"]))
            third = part("third")
        for t, n in enumerate("qkv"):
            cut = [const(f"st{n}", np.array([t * E], np.int64)), const(f"en{n}", np.array([(t + 1) * E], np.int64))]
            if dynamic:
                for i, m in enumerate((t, t + 1)):
                    nodes.append(h.make_node("Mul", [third, const(f"c{n}{i}", np.array([m], np.int64))], [f"cut{n}{i}"]))
                cut = [f"cut{n}0", f"cut{n}1"]
            nodes.append(h.make_node("Slice", ["qkv", *cut, const(f"ax{n}", np.array([-1], np.int64))], [n]))
            vals[n] = full[..., t * E:(t + 1) * E]
    else:
        assert not batch_first
        vals = {"q": inp("q", (T, B, E))}
        if kv_halves:
            kv = inp("kv", (S, B, 2 * E))
            for t, n in enumerate("kv"):
                nodes.append(h.make_node("Slice", ["kv", const(f"st{n}", np.array([t * E], np.int64)),
                                                   const(f"en{n}", np.array([(t + 1) * E], np.int64)),
                                                   const(f"ax{n}", np.array([2], np.int64))], [n]))
                vals[n] = kv[..., t * E:(t + 1) * E]
        else:
            vals["k"], vals["v"] = inp("k", (S, B, E)), inp("v", (S, B, E))
    for n, L in (("q", T), ("k", S), ("v", S)):
        parts = [L, B * heads, dh]
        if dynamic:  # torch: q from the input's sizes, k and v from their own length
            src = xs if n == "q" else n
            parts = [part(size(src, 0)), part(times(size(src, 1), heads)), dh]
        nodes.append(h.make_node("Reshape", [n, shape_of(f"sh{n}", parts)], [n + "r"]))
    nodes.append(h.make_node("Transpose", ["qr"], ["q3"], perm=[1, 0, 2]))
    nodes.append(h.make_node("Transpose", ["vr"], ["v3"], perm=[1, 0, 2]))
    if k_two_transposes:
        nodes.append(h.make_node("Transpose", ["kr"], ["k3"], perm=[1, 0, 2]))
        nodes.append(h.make_node("Transpose", ["k3"], ["kt"], perm=[0, 2, 1]))
    else:
        nodes.append(h.make_node("Transpose", ["kr"], ["kt"], perm=[1, 2, 0]))
    c = np.float32(np.sqrt(dh))
    if scale_on == "q":
        nodes.append(h.make_node("Div", ["q3", const("c", np.array(c, np.float32))], ["q3s"]))
        nodes.append(h.make_node("MatMul", ["q3s", "kt"], ["s"]))
        scale = 1.0 / np.float64(c)
    else:
        nodes.append(h.make_node("MatMul", ["q3", "kt"], ["s0"]))
        nodes.append(h.make_node("Mul", ["s0", const("c", np.array(1 / c, np.float32))], ["s"]))
        scale = np.float64(np.float32(1 / c))
    sm_in, mask = "s", None
    if mask_shape is not None:
        mask = np.where(rng.random(mask_shape) < 0.3, -10000.0, rng.standard_normal(mask_shape)).astype(np.float32)
        inputs.append(h.make_tensor_value_info("mask", FLOAT, list(mask.shape)))
        feeds["mask"] = mask
        nodes.append(h.make_node("Add", ["mask", "s"], ["sm"]))  # (torch's baddbmm: the mask first)
        sm_in = "sm"
    nodes.append(h.make_node("Softmax", [sm_in], ["p"], axis=-1))
    nodes.append(h.make_node("MatMul", ["p", "v3"], ["o"]))
    nodes.append(h.make_node("Transpose", ["o"], ["ot"], perm=[1, 0, 2]))
    tb = [T * B, E]
    if dynamic:  # T * B from the input's sizes (taken for q's reshape)
        nodes.append(h.make_node("Mul", [f"{xs}_d0", f"{xs}_d1"], ["tb"]))
        tb = [part("tb"), E]
    nodes.append(h.make_node("Reshape", ["ot", shape_of("shc", tb)], ["ctx"]))
    wo = (rng.standard_normal((E, E)) / np.sqrt(E)).astype(np.float32)
    bo = (rng.standard_normal(E) * 0.1).astype(np.float32)
    nodes.append(h.make_node("Gemm", ["ctx", const("w_out", wo), const("b_out", bo)], ["proj"], transB=1))
    tbe = [T, B, E] if not dynamic else [f"{xs}_d0_u", part(f"{xs}_d1"), E]
    nodes.append(h.make_node("Reshape", ["proj", shape_of("shp", tbe)], ["ys" if batch_first else "y"]))
    if batch_first:
        nodes.append(h.make_node("Transpose", ["ys"], ["y"], perm=[1, 0, 2]))
    out_shape = [B, T, E] if batch_first else [T, B, E]
    if dynamic:
        out_shape = ["b", "t", E] if batch_first else ["t", "b", E]
    m = make_model(nodes, inputs, [h.make_tensor_value_info("y", FLOAT, out_shape)], inits, opset=13)

    def split(a, L):  # [L,B,E] -> [B*h, L, dh]
        return a.reshape(L, B * heads, dh).transpose(1, 0, 2)

    sc = split(vals["q"], T) @ split(vals["k"], S).transpose(0, 2, 1) * scale
    if mask is not None:
        sc = sc + mask.astype(np.float64)
    sc = sc - sc.max(axis=-1, keepdims=True)
    pr = np.exp(sc)
    pr /= pr.sum(axis=-1, keepdims=True)
    ctx = (pr @ split(vals["v"], S)).transpose(1, 0, 2).reshape(T * B, E)
    want = (ctx @ wo.T.astype(np.float64) + bo).reshape(T, B, E)
    if batch_first:
        want = want.transpose(1, 0, 2)
    # batch_first: the Attention runs batch-first and both Transposes go, but where Shape nodes read
    # the transposed input (dynamic axes)
    return m, feeds, want, 2 if batch_first and dynamic else 0


SEQ_FIRST_CASES = [
    # name, B, T, S, E, heads, options
    ("ViT-style: batch 1, batch_first, packed in_proj, 50 tokens", 1, 50, 50, 64, 4,
     {"batch_first": True, "packed": True}),
    ("batch 3, batch_first, packed, [T,S] mask, K through two transposes, scaled scores", 3, 17, 17, 48, 3,
     {"batch_first": True, "packed": True, "mask_shape": (17, 17), "k_two_transposes": True, "scale_on": "scores"}),
    ("cross-attention 13 x 29, sequence-first inputs, [1,T,S] mask, head size 8", 2, 13, 29, 40, 5,
     {"mask_shape": (1, 13, 29)}),
    ("one query, 7 keys, batch 4, one head", 4, 1, 7, 24, 1, {}),
    ("cross-attention 9 x 33, K and V the halves of one input", 2, 9, 33, 48, 4, {"kv_halves": True}),
    ("dynamic_axes export: symbolic length and batch, shapes from Shape nodes", 2, 21, 21, 64, 4,
     {"batch_first": True, "packed": True, "dynamic": True}),
]


def optimized_ops(tmp, tag, path, name):
    """`sinter optimize -O2` of the model at path: (op counts, the Attention nodes' integer
    attributes), or None when the CLI failed (recorded as a failure)."""
    opt = os.path.join(tmp, f"{tag}.opt.onnx")
    r = run_cli("optimize", path, opt, "-O", "2")
    if not check(f"{name}: sinter optimize", r.returncode == 0, r.stderr.strip()[-300:]):
        return None
    nodes = onnx.load(opt).graph.node
    attrs = {a.name: a.i for n in nodes if n.op_type == "Attention" for a in n.attribute}
    return collections.Counter(n.op_type for n in nodes), attrs


def seq_first_cases(tmp):
    for i, (name, B, T, S, E, heads, opts) in enumerate(SEQ_FIRST_CASES):
        m, feeds, want, transposes = seq_first_model(B, T, S, E, heads, seed=100 + i, **opts)
        path = save(m, tmp, f"sf{i}")
        got = optimized_ops(tmp, f"sf{i}", path, name)
        if got is None:
            continue
        ops, attrs = got
        seq_first = 0 if opts.get("batch_first") and not opts.get("dynamic") else 1
        ok = (ops["Attention"] == 1 and attrs.get("seq_first", 0) == seq_first and ops["Softmax"] == 0 and
              ops["Slice"] == 0 and ops["Transpose"] == transposes and
              (attrs.get("qkv_packed", 0) == 1) == bool(opts.get("packed")) and
              (attrs.get("kv_packed", 0) == 1) == bool(opts.get("kv_halves")))
        check(f"{name}: one Attention (seq_first={seq_first}), {transposes} Transposes left", ok, f"{dict(ops)} {attrs}")
        for threads in (1, 2):
            got = sinter_outputs(path, feeds, threads=threads)[0]
            err = rel_err(got.astype(np.float64), want)
            check(f"{name}, {threads} thread(s): within 2e-5 of numpy in double", err < 2e-5, f"{err:.3g}")


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
        seq_first_cases(tmp)
        for i, (name, B, Sq, Sk, H, heads, opts) in enumerate(CASES):
            m, feeds, want = attention_model(B, Sq, Sk, H, heads, seed=i, **opts)
            path = save(m, tmp, f"attn{i}")
            got = optimized_ops(tmp, f"attn{i}", path, name)
            if got is None:
                continue
            ops, attrs = got
            want_ops = ops["Attention"] == 1 and ops["Softmax"] == 0 and ops["Transpose"] == 0
            if opts.get("packed"):  # one GEMM for Q, K and V, or one for Q and one for K and V
                kv = opts["packed"] == "kv"
                want_ops = (want_ops and ops["MatMul"] + ops["FusedMatMul"] == 1 + kv and
                            attrs.get("kv_packed" if kv else "qkv_packed") == 1)
            check(f"{name}: one Attention node, no Softmax or Transpose left", want_ops, f"{dict(ops)} {attrs}")
            for threads in (1, 2):
                got = sinter_outputs(path, feeds, threads=threads)[0]
                err = rel_err(got.astype(np.float64), want)
                check(f"{name}, {threads} thread(s): within 2e-5 of numpy in double", err < 2e-5, f"{err:.3g}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
