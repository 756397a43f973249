"""The graph optimizer on the benchmark-shaped models: after `sinter optimize -O2` the fusions the
architecture allows are there (counted op by op), the written file is valid ONNX, and Sinter's
outputs on it still match ONNX Runtime on the original model within 1e-4 of the output scale.
After -O3 the CNNs run on the blocked layout with reorders only at the edges (exact counts, for the
zoo models and the exported ResNet-50 when bench/ has made it), and the saved -O3 model loads and
matches ORT, at the machine's ISA and at SINTER_ISA scalar.

Plain python: prints "N passed, M failed", exits non-zero on failure. SINTER_BUILD names the build
folder (default <repo>/build)."""
import collections
import math
import os
import sys
import tempfile

import numpy as np
import onnx

import model_zoo
import sinter_ctypes
from testlib import ROOT, check, finish, isa_level, ort_outputs, rel_err, run_cli, set_verbose

# what must be gone (count 0) or present (at least n) after -O2, per model
EXPECT = {
    "resnet": {"BatchNormalization": 0, "Relu": 0, "FusedConv": 1},
    "mobilenetv2": {"BatchNormalization": 0, "Clip": 0, "FusedConv": 1},
    "efficientnet": {"BatchNormalization": 0, "FusedConv": 1},
    "squeezenet": {"Relu": 0, "FusedConv": 1},
    # GELU is recognised and then fused into its MatMul's epilogue, so no Erf (nor Gelu) is left
    # each layer: one Attention and two SkipLayerNormalization (the residual Add folded in); the
    # embedding sum + LayerNorm is a fifth
    "bert": {"Erf": 0, "ReduceMean": 0, "Sqrt": 0, "Add": 0, "LayerNormalization": 0, "SkipLayerNormalization": 5,
             "Attention": 2, "FusedMatMul": 6},
    "digits": {"BatchNormalization": 0, "Relu": 0},
    # ConvNeXt: the layer scale Mul folds into the second Linear, the residual stream runs channels-last
    # (its Adds sunk below the Transposes, then fused into that Linear's epilogue or a
    # SkipLayerNormalization), and the Transposes to NCHW and back at the stage boundary cancel
    "convnext": {"Erf": 0, "Add": 0, "Mul": 0, "FusedMatMul": 8},
    # the BatchNormalization after each 1x1 convolution folds into it; the Pad of zeros is a no-op
    "densenet": {"Pad": 0, "FusedConv": 1},
}


def extra_cases():
    """Small graphs for passes the zoo models do not exercise."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(11)
    cases = []
    # Transpose of a 2-D operand folds into Gemm's transA; Identity/Dropout/no-op Cast vanish;
    # a Transpose pair cancels; two identical Relu nodes become one (CSE).
    w = nh.from_array(rng.standard_normal((4, 5)).astype(np.float32), "w")
    nodes = [
        h.make_node("Identity", ["x"], ["xi"]),
        h.make_node("Cast", ["xi"], ["xc"], to=T.FLOAT),
        h.make_node("Transpose", ["xc"], ["xt"], perm=[1, 0]),
        h.make_node("Gemm", ["xt", "w"], ["g"]),
        h.make_node("Transpose", ["g"], ["gt"], perm=[1, 0]),
        h.make_node("Transpose", ["gt"], ["gtt"], perm=[1, 0]),
        h.make_node("Relu", ["gtt"], ["r1"]),
        h.make_node("Relu", ["gtt"], ["r2"]),
        h.make_node("Dropout", ["r1"], ["d"]),
        h.make_node("Add", ["d", "r2"], ["y"]),
    ]
    g = h.make_graph(nodes, "extra", [h.make_tensor_value_info("x", T.FLOAT, [4, 3])],
                     [h.make_tensor_value_info("y", T.FLOAT, [3, 5])], [w])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    feeds = {"x": rng.standard_normal((4, 3)).astype(np.float32)}
    cases.append(model_zoo.Case("cleanups", m, feeds))
    # the two Relu become one (CSE), which then fuses into the Gemm with the folded transpose
    EXPECT["cleanups"] = {"Transpose": 0, "Identity": 0, "Cast": 0, "Dropout": 0, "Relu": 0, "FusedGemm": 1}
    # pre-norm residual: the sum feeds the LayerNormalization and is read again (input_skip_bias_sum);
    # and a skip that broadcasts ([8] onto [2,3,8]) through the op's general path
    g1 = nh.from_array(rng.standard_normal(8).astype(np.float32), "g1")
    b1 = nh.from_array(rng.standard_normal(8).astype(np.float32), "b1")
    bb = nh.from_array(rng.standard_normal(8).astype(np.float32), "bb")
    nodes = [
        h.make_node("Add", ["a", "b"], ["s"]),
        h.make_node("LayerNormalization", ["s", "g1", "b1"], ["n"], axis=-1, epsilon=1e-6),
        h.make_node("Mul", ["s", "n"], ["y"]),
        h.make_node("Add", ["y", "bb"], ["t"]),
        h.make_node("LayerNormalization", ["t", "g1"], ["z"], axis=2),
    ]
    vi = [h.make_tensor_value_info(n, T.FLOAT, [2, 3, 8]) for n in ("a", "b")]
    g = h.make_graph(nodes, "skipln", vi, [h.make_tensor_value_info("z", T.FLOAT, [2, 3, 8])], [g1, b1, bb])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    feeds = {k: rng.standard_normal((2, 3, 8)).astype(np.float32) for k in ("a", "b")}
    cases.append(model_zoo.Case("skip_layernorm", m, feeds))
    EXPECT["skip_layernorm"] = {"Add": 0, "LayerNormalization": 0, "SkipLayerNormalization": 2}
    # a per-channel scale after a MatMul folds into its weights and bias: ConvNeXt's layer scale,
    # gamma [C, 1, 1] after the Linear (+ bias) and the Transpose back to NCHW; and a plain [N]
    # scale right after a MatMul; and after a Transpose with no perm (reversed). One that varies
    # along another axis (H) must stay.
    x4 = h.make_tensor_value_info("x", T.FLOAT, [2, 5, 6, 8])
    inits = [nh.from_array(rng.standard_normal((8, 12)).astype(np.float32), w) for w in ("w", "w2", "w3", "w4")]
    inits += [nh.from_array(rng.standard_normal(12).astype(np.float32), "b"),
             nh.from_array(rng.uniform(0.5, 2, (12, 1, 1)).astype(np.float32), "gamma"),
             nh.from_array(rng.uniform(0.5, 2, 12).astype(np.float32), "s"),
             nh.from_array(rng.uniform(0.5, 2, (5, 1)).astype(np.float32), "sh"),
             nh.from_array(rng.uniform(0.5, 2, (12, 1, 1, 1)).astype(np.float32), "s4")]
    nodes = [
        h.make_node("MatMul", ["x", "w"], ["m"]),
        h.make_node("Add", ["b", "m"], ["a"]),
        h.make_node("Transpose", ["a"], ["t"], perm=[0, 3, 1, 2]),
        h.make_node("Mul", ["gamma", "t"], ["g"]),
        h.make_node("Add", ["g", "r"], ["y"]),
        h.make_node("MatMul", ["x", "w2"], ["m2"]),
        h.make_node("Mul", ["m2", "s"], ["y2"]),
        h.make_node("MatMul", ["x", "w3"], ["m3"]),
        h.make_node("Transpose", ["m3"], ["t3"], perm=[0, 3, 1, 2]),
        h.make_node("Mul", ["t3", "sh"], ["y3"]),
        # a Transpose without perm reverses the dimensions: the channels land first
        h.make_node("MatMul", ["x", "w4"], ["m4"]),
        h.make_node("Transpose", ["m4"], ["t4"]),
        h.make_node("Mul", ["t4", "s4"], ["y4"]),
    ]
    outs = [h.make_tensor_value_info("y", T.FLOAT, [2, 12, 5, 6]), h.make_tensor_value_info("y2", T.FLOAT, [2, 5, 6, 12]),
            h.make_tensor_value_info("y3", T.FLOAT, [2, 12, 5, 6]), h.make_tensor_value_info("y4", T.FLOAT, [12, 6, 5, 2])]
    g = h.make_graph(nodes, "layer_scale", [x4, h.make_tensor_value_info("r", T.FLOAT, [2, 12, 5, 6])], outs, inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    feeds = {"x": rng.standard_normal((2, 5, 6, 8)).astype(np.float32),
             "r": rng.standard_normal((2, 12, 5, 6)).astype(np.float32)}
    cases.append(model_zoo.Case("layer_scale", m, feeds))
    EXPECT["layer_scale"] = {"Mul": 1}
    # activations with parameters fused after Gemms that have their own alpha and beta: the fused op
    # must keep both pairs apart (they once shared the attribute names, and the activation's
    # overwrote the Gemm's: LeakyRelu after Gemm(alpha 2) was 17 off)
    inits = [nh.from_array(rng.standard_normal((6, 7)).astype(np.float32), "wg"),
             nh.from_array(rng.standard_normal(7).astype(np.float32), "cg"),
             nh.from_array(np.array(0.0, np.float32), "lo"), nh.from_array(np.array(6.0, np.float32), "hi")]
    nodes = [
        h.make_node("Gemm", ["x", "wg", "cg"], ["g1"], alpha=2.0, beta=0.5),
        h.make_node("LeakyRelu", ["g1"], ["y1"], alpha=0.3),
        h.make_node("Gemm", ["x", "wg", "cg"], ["g2"], alpha=1.5),
        h.make_node("Clip", ["g2", "lo", "hi"], ["y2"]),
        h.make_node("Gemm", ["x", "wg"], ["g3"], beta=3.0),
        h.make_node("HardSigmoid", ["g3"], ["y3"], alpha=0.3, beta=0.4),
    ]
    outs = [h.make_tensor_value_info(f"y{k}", T.FLOAT, [5, 7]) for k in (1, 2, 3)]
    g = h.make_graph(nodes, "gemm_act", [h.make_tensor_value_info("x", T.FLOAT, [5, 6])], outs, inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    cases.append(model_zoo.Case("gemm_act_params", m, {"x": (rng.standard_normal((5, 6)) * 3).astype(np.float32)}))
    EXPECT["gemm_act_params"] = {"LeakyRelu": 0, "Clip": 0, "HardSigmoid": 0, "FusedGemm": 3}
    # GELU as exporters write it: HF's tanh form (0.5 * x first, Pow(x, 3)), the FastGELU form
    # (x * c * (1 + 0.044715 * x * x), then (x * a) * 0.5), the erf form with 0.5 * (1 + erf) before x,
    # and the tanh form after a MatMul + bias (one FusedMatMul with the GELU in its epilogue) become
    # Gelu; a near miss (0.05 for 0.044715) stays as it is
    def gelu_tanh(x, k3=0.044715, tag=""):
        p = h.make_node("Pow", [x, "three"], [f"{x}p{tag}"])
        return [p, h.make_node("Mul", [f"{x}p{tag}", "k3" if k3 == 0.044715 else "k3bad"], [f"{x}c{tag}"]),
                h.make_node("Add", [x, f"{x}c{tag}"], [f"{x}s{tag}"]),
                h.make_node("Mul", [f"{x}s{tag}", "k1"], [f"{x}u{tag}"]),
                h.make_node("Tanh", [f"{x}u{tag}"], [f"{x}t{tag}"]),
                h.make_node("Add", [f"{x}t{tag}", "one"], [f"{x}a{tag}"]),
                h.make_node("Mul", ["half", x], [f"{x}h{tag}"]),
                h.make_node("Mul", [f"{x}h{tag}", f"{x}a{tag}"], [f"y_{x}{tag}"])]
    consts = [nh.from_array(np.array(v, np.float32), k) for k, v in
              (("three", 3.0), ("k3", 0.044715), ("k3bad", 0.05), ("k1", 0.7978846), ("one", 1.0), ("half", 0.5),
               ("rs2", 0.70710678), ("k1b", 0.7978845608))]
    consts += [nh.from_array(rng.standard_normal((16, 16)).astype(np.float32) * 0.3, "wg"),
               nh.from_array(rng.standard_normal(16).astype(np.float32), "bg")]
    nodes = gelu_tanh("a") + gelu_tanh("d", k3=0.05) + [
        # FastGELU: tanh(b * 0.7978845608 * (1 + 0.044715 * b * b)), then (b * (1 + t)) * 0.5
        h.make_node("Mul", ["b", "b"], ["bb"]), h.make_node("Mul", ["k3", "bb"], ["bc"]),
        h.make_node("Add", ["one", "bc"], ["bs"]), h.make_node("Mul", ["b", "k1b"], ["bk"]),
        h.make_node("Mul", ["bk", "bs"], ["bu"]), h.make_node("Tanh", ["bu"], ["bt"]),
        h.make_node("Add", ["one", "bt"], ["ba"]), h.make_node("Mul", ["b", "ba"], ["bm"]),
        h.make_node("Mul", ["bm", "half"], ["y_b"]),
        # erf: (0.5 * (1 + erf(c * 0.70710678))) * c
        h.make_node("Mul", ["c", "rs2"], ["cs"]), h.make_node("Erf", ["cs"], ["ce"]),
        h.make_node("Add", ["ce", "one"], ["ca"]), h.make_node("Mul", ["half", "ca"], ["cm"]),
        h.make_node("Mul", ["cm", "c"], ["y_c"]),
        # after a MatMul + bias
        h.make_node("MatMul", ["e", "wg"], ["em"]), h.make_node("Add", ["em", "bg"], ["eb"])]
    nodes += gelu_tanh("eb")
    names = ["a", "b", "c", "d", "e"]
    outs = ["y_a", "y_b", "y_c", "y_d", "y_eb"]
    g = h.make_graph(nodes, "gelu_forms", [h.make_tensor_value_info(n, T.FLOAT, [2, 5, 16]) for n in names],
                     [h.make_tensor_value_info(n, T.FLOAT, [2, 5, 16]) for n in outs], consts)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    feeds = {n: (rng.standard_normal((2, 5, 16)) * 3).astype(np.float32) for n in names}
    cases.append(model_zoo.Case("gelu_forms", m, feeds))
    EXPECT["gelu_forms"] = {"Erf": 0}
    EXACT["gelu_forms"] = {"Gelu": 3, "Tanh": 1, "Pow": 1, "FusedMatMul": 1}
    TOL["gelu_forms"] = 1e-5
    # attention whose context is flattened by torch's flatten(2): the final Reshape's shape is
    # Concat(Slice(Shape(context), 0, 2), [-1]) (ALBERT), with no mask and the scale as a Mul
    H, heads, dh = 16, 2, 8
    ws = [nh.from_array(rng.standard_normal((H, H)).astype(np.float32) * 0.3, f"w{t}") for t in "qkv"]
    i64 = lambda v, n: nh.from_array(np.array(v, np.int64), n)  # noqa: E731
    ws += [i64([0, 0, heads, dh], "hshape"), i64([0], "s0"), i64([2], "s2"), i64([-1], "m1"),
           nh.from_array(np.array(1 / math.sqrt(dh), np.float32), "scale")]
    nodes = [h.make_node("MatMul", ["x", f"w{t}"], [t]) for t in "qkv"]
    nodes += [h.make_node("Reshape", [t, "hshape"], [t + "r"]) for t in "qkv"]
    nodes += [h.make_node("Transpose", ["qr"], ["qh"], perm=[0, 2, 1, 3]),
              h.make_node("Transpose", ["kr"], ["kh"], perm=[0, 2, 3, 1]),
              h.make_node("Transpose", ["vr"], ["vh"], perm=[0, 2, 1, 3]),
              h.make_node("MatMul", ["qh", "kh"], ["sc"]), h.make_node("Mul", ["sc", "scale"], ["ss"]),
              h.make_node("Softmax", ["ss"], ["p"], axis=-1), h.make_node("MatMul", ["p", "vh"], ["ctx"]),
              h.make_node("Transpose", ["ctx"], ["ct"], perm=[0, 2, 1, 3]), h.make_node("Shape", ["ct"], ["csh"]),
              h.make_node("Slice", ["csh", "s0", "s2"], ["bs"]),
              h.make_node("Concat", ["bs", "m1"], ["oshape"], axis=0),
              h.make_node("Reshape", ["ct", "oshape"], ["y"])]
    g = h.make_graph(nodes, "attention_flatten", [h.make_tensor_value_info("x", T.FLOAT, ["b", "s", H])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["b", "s", H])], ws)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    cases.append(model_zoo.Case("attention_flatten", m, {"x": rng.standard_normal((2, 7, H)).astype(np.float32)}))
    EXPECT["attention_flatten"] = {"Softmax": 0, "Transpose": 0, "Slice": 0}
    EXACT["attention_flatten"] = {"Attention": 1}
    # attention with the heads folded into the batch (BART, Whisper, wav2vec2, CLIP: torch.bmm on
    # [B*h, T, dh]): self-attention with q scaled before the head split and a mask added to the
    # scores viewed as [B,h,T,S] (S read off the folded keys' Shape), cross-attention whose keys
    # come from another input of another length (the batch size taken from the decoder's side), and
    # one that folds the heads into the sequence instead ([B, h*T, dh]: softmax over every head's
    # keys), which must stay as it is
    H, heads, dh = 16, 4, 4
    nodes, inits = [], [i64([0], "ax0"), i64([heads], "c_h"), i64([dh], "c_dh"), i64([-1], "c_m1"),
                        i64([H], "c_H"), i64(0, "i0"), i64(1, "i1"), i64(heads, "h_s"),
                        nh.from_array(np.array(dh ** -0.5, np.float32), "scaling")]
    for w in ("wq", "wk", "wv"):
        inits.append(nh.from_array(rng.standard_normal((H, H)).astype(np.float32) * 0.4, w))
        inits.append(nh.from_array(rng.standard_normal(H).astype(np.float32) * 0.1, "b" + w[1]))

    def op(kind, ins, out, **kw):
        nodes.append(h.make_node(kind, ins, [out], **kw))
        return out

    def u(x, p):
        return op("Unsqueeze", [x, "ax0"], f"{p}_u{len(nodes)}")

    def bmm_attention(p, xq, xkv, mask=None, fold_heads=True, floor=False):
        sh = op("Shape", [xq], p + "sh")
        bsz, tgt = op("Gather", [sh, "i0"], p + "bsz", axis=0), op("Gather", [sh, "i1"], p + "tgt", axis=0)
        bh = op("Mul", [bsz, "h_s"], p + "bh")
        proj = op("Concat", [u(bh if fold_heads else bsz, p), "c_m1", "c_dh"], p + "proj", axis=0)
        q = op("Mul", [op("Add", [op("MatMul", [xq, "wq"], p + "qm"), "bq"], p + "qa"), "scaling"], p + "q")
        q4 = op("Reshape", [q, op("Concat", [u(bsz, p), u(tgt, p), "c_h", "c_dh"], p + "qs", axis=0)], p + "q4")
        q3 = op("Reshape", [op("Transpose", [q4], p + "qt", perm=[0, 2, 1, 3]), proj], p + "q3")
        kv = []
        for t in "kv":
            x = op("Add", [op("MatMul", [xkv, "w" + t], p + t + "m"), "b" + t], p + t)
            x4 = op("Reshape", [x, op("Concat", [u(bsz, p), "c_m1", "c_h", "c_dh"], p + t + "s", axis=0)], p + t + "4")
            kv.append(op("Reshape", [op("Transpose", [x4], p + t + "t", perm=[0, 2, 1, 3]), proj], p + t + "3"))
        sc = op("MatMul", [q3, op("Transpose", [kv[0]], p + "kT", perm=[0, 2, 1])], p + "sc")
        if mask:
            src = op("Gather", [op("Shape", [kv[0]], p + "ksh"), "i1"], p + "src", axis=0)
            s4 = op("Reshape", [sc, op("Concat", [u(bsz, p), "c_h", u(tgt, p), u(src, p)], p + "s4s", axis=0)], p + "s4")
            sm = op("Add", [s4, mask], p + "s4m")
            if floor:  # OPT: Max(scores + mask, float min) before folding back
                sm = op("Max", [sm, "fmin_bmm"], p + "s4f")
            sc = op("Reshape", [sm, op("Concat", [u(bh, p), u(tgt, p), u(src, p)], p + "s3s", axis=0)], p + "s3")
        o3 = op("MatMul", [op("Softmax", [sc], p + "p", axis=-1), kv[1]], p + "o3")
        o4 = op("Reshape", [o3, op("Concat", [u(bsz, p), "c_h", u(tgt, p), "c_dh"], p + "o4s", axis=0)], p + "o4")
        ot = op("Transpose", [o4], p + "ot", perm=[0, 2, 1, 3])
        return op("Reshape", [ot, op("Concat", [u(bsz, p), u(tgt, p), "c_H"], p + "ys", axis=0)], "y_" + p)

    # OPT clamps the masked scores at the float minimum (its two masks add to -inf): a row whose every
    # key is masked stays a uniform average there, not NaN
    inits.append(nh.from_array(np.array(np.finfo(np.float32).min, np.float32), "fmin_bmm"))
    outs = [bmm_attention("self", "x", "x", mask="mask"), bmm_attention("cross", "x", "e"),
            bmm_attention("seqfold", "x", "x", fold_heads=False), bmm_attention("opt", "x", "x", mask="mask_inf", floor=True)]
    vi = [h.make_tensor_value_info("x", T.FLOAT, ["b", "t", H]), h.make_tensor_value_info("e", T.FLOAT, ["b", "s", H]),
          h.make_tensor_value_info("mask", T.FLOAT, ["b", 1, "t", "t"]),
          h.make_tensor_value_info("mask_inf", T.FLOAT, ["b", 1, "t", "t"])]
    g = h.make_graph(nodes, "bmm_attention", vi, [h.make_tensor_value_info(o, T.FLOAT, None) for o in outs], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    feeds = {"x": rng.standard_normal((2, 5, H)).astype(np.float32), "e": rng.standard_normal((2, 7, H)).astype(np.float32),
             "mask": np.where(np.tril(np.ones((5, 5))) > 0, 0, -1e4).astype(np.float32)[None, None].repeat(2, 0)}
    mask_inf = np.where(np.tril(np.ones((5, 5))) > 0, 0, -np.inf).astype(np.float32)[None, None].repeat(2, 0)
    mask_inf[1, 0, 2, :] = -np.inf  # a query row with no key left
    feeds["mask_inf"] = mask_inf
    cases.append(model_zoo.Case("bmm_attention", m, feeds))
    EXPECT["bmm_attention"] = {}
    EXACT["bmm_attention"] = {"Attention": 3, "Softmax": 1}
    TOL["bmm_attention"] = 1e-5
    # GPT-2 as torch exports it: q, k, v split from one projection; the causal mask a Where over a
    # slice of a constant lower-triangular buffer, from the lengths read off the head views' shapes
    # (and the keys' 0,2,1,3 view kept only for that); the scale the square root of the value head
    # view's last size (a Shape of symbolic batch and length whose picked size is known, folded).
    # A second attention whose Where fills with -1e4 (not exactly an additive mask) must stay.
    nodes, inits = [], [i64([0], "ax0"), i64([heads], "c_h"), i64([dh], "c_dh"), i64([H], "c_H"),
                        i64(0, "i0"), i64(1, "i1"), i64([-2], "m2"), i64([-1], "m1"), i64([0], "z"),
                        i64([2], "a2"), i64([3], "a3"), i64([2 ** 62], "big"),
                        nh.from_array(np.tril(np.ones((64, 64), bool))[None, None], "bias"),
                        nh.from_array(np.array(0.5, np.float32), "half_f"), nh.from_array(np.array(0.0, np.float32), "zero_f"),
                        nh.from_array(np.array(np.finfo(np.float32).min, np.float32), "fmin"),
                        nh.from_array(np.array(-1e4, np.float32), "fill4"),
                        nh.from_array(rng.standard_normal((H, 3 * H)).astype(np.float32) * 0.4, "wqkv"),
                        nh.from_array(rng.standard_normal(3 * H).astype(np.float32) * 0.1, "bqkv"),
                        i64([H, H, H], "splits")]

    def gpt2_attention(p, fill):
        qkv = op("Add", [op("MatMul", ["x", "wqkv"], p + "m"), "bqkv"], p + "qkv")
        nodes.append(h.make_node("Split", [qkv, "splits"], [p + "q", p + "k", p + "v"], axis=2))
        views = []
        for t in "qkv":
            sh = op("Shape", [p + t], p + t + "sh")
            b0, t0 = op("Gather", [sh, "i0"], p + t + "b", axis=0), op("Gather", [sh, "i1"], p + t + "t", axis=0)
            shp = op("Concat", [u(b0, p), u(t0, p), "c_h", "c_dh"], p + t + "shp", axis=0)
            views.append(op("Transpose", [op("Reshape", [p + t, shp], p + t + "4")], p + t + "h", perm=[0, 2, 1, 3]))
        qh, kh, vh = views
        kT = op("Transpose", [kh], p + "kT", perm=[0, 1, 3, 2])
        dim = op("Cast", [op("Squeeze", [op("Slice", [op("Shape", [vh], p + "vdsh"), "m1", "big"], p + "vd"), "z"],
                                   p + "vds")], p + "vdf", to=T.FLOAT)
        scale = op("Add", ["zero_f", op("Pow", [dim, "half_f"], p + "pw")], p + "sc")
        sc = op("Div", [op("MatMul", [qh, kT], p + "qk"), scale], p + "s")
        ql = op("Squeeze", [op("Slice", [op("Shape", [qh], p + "qhsh"), "m2", "m1"], p + "ql1"), "z"], p + "ql")
        kl = op("Squeeze", [op("Slice", [op("Shape", [kh], p + "khsh"), "m2", "m1"], p + "kl1"), "z"], p + "kl")
        start = op("Sub", [kl, ql], p + "st")
        cm = op("Slice", ["bias", u(start, p), u(kl, p), "a2"], p + "cm1")
        cm = op("Slice", [cm, "z", u(kl, p), "a3"], p + "cm")
        pr = op("Softmax", [op("Where", [cm, sc, fill], p + "w")], p + "p", axis=-1)
        ct = op("Transpose", [op("MatMul", [pr, vh], p + "o")], p + "ot", perm=[0, 2, 1, 3])
        bt = op("Slice", [op("Shape", [ct], p + "csh"), "z", "m2"], p + "bt")
        return op("Reshape", [ct, op("Concat", [bt, "c_H"], p + "ys", axis=0)], "y_" + p)

    outs = [gpt2_attention("g", "fmin"), gpt2_attention("g4", "fill4")]
    g = h.make_graph(nodes, "gpt2_attention", [h.make_tensor_value_info("x", T.FLOAT, ["b", "t", H])],
                     [h.make_tensor_value_info(o, T.FLOAT, None) for o in outs], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    cases.append(model_zoo.Case("gpt2_attention", m, {"x": rng.standard_normal((2, 6, H)).astype(np.float32)}))
    EXPECT["gpt2_attention"] = {"Pow": 0}
    EXACT["gpt2_attention"] = {"Attention": 1, "Softmax": 1, "Where": 2}
    TOL["gpt2_attention"] = 1e-5
    # two masks added one after the other (MPNet: a relative position bias [1,h,S,S], then the padding
    # mask [B,1,1,S]): one Attention reading their sum
    nodes, inits = [], [i64([0, 0, heads, dh], "hs4"), i64([0, 0, H], "hs3"),
                        nh.from_array(np.array(math.sqrt(dh), np.float32), "sqrt_dh")]
    for w in ("wq", "wk", "wv"):
        inits.append(nh.from_array(rng.standard_normal((H, H)).astype(np.float32) * 0.4, w))
    qh, kh, vh = [op("Transpose", [op("Reshape", [op("MatMul", ["x", "w" + t], t + "p"), "hs4"], t + "4")], t + "h",
                     perm=[0, 2, 3, 1] if t == "k" else [0, 2, 1, 3]) for t in "qkv"]
    sc = op("Add", [op("Add", [op("Div", [op("MatMul", [qh, kh], "qk"), "sqrt_dh"], "s"), "pos_bias"], "sb"), "pad_mask"],
            "sm")
    ct = op("Transpose", [op("MatMul", [op("Softmax", [sc], "p", axis=-1), vh], "o")], "ot", perm=[0, 2, 1, 3])
    op("Reshape", [ct, "hs3"], "y")
    vi = [h.make_tensor_value_info("x", T.FLOAT, ["b", "s", H]),
          h.make_tensor_value_info("pos_bias", T.FLOAT, [1, heads, "s", "s"]),
          h.make_tensor_value_info("pad_mask", T.FLOAT, ["b", 1, 1, "s"])]
    g = h.make_graph(nodes, "two_masks", vi, [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    pad = np.zeros((2, 1, 1, 7), np.float32)
    pad[1, ..., 5:] = np.finfo(np.float32).min
    feeds = {"x": rng.standard_normal((2, 7, H)).astype(np.float32),
             "pos_bias": rng.standard_normal((1, heads, 7, 7)).astype(np.float32), "pad_mask": pad}
    cases.append(model_zoo.Case("two_mask_attention", m, feeds))
    EXPECT["two_mask_attention"] = {"Softmax": 0}
    EXACT["two_mask_attention"] = {"Attention": 1, "Add": 1}
    TOL["two_mask_attention"] = 1e-5
    # DistilBERT: the query heads scaled before the product, and masked_fill: Where(masked, float min,
    # scores) with the mask expanded to the scores' shape first (a padded key in one batch row)
    nodes, inits = [], [i64([0, 0, heads, dh], "hs4"), i64([0, 0, H], "hs3"), i64([-1, 1, 1, 7], "mshape"),
                        i64(0, "zero_i"), nh.from_array(np.array(math.sqrt(dh), np.float32), "sqrt_dh"),
                        nh.from_array(np.array(np.finfo(np.float32).min, np.float32), "fmin")]
    for w in ("wq", "wk", "wv"):
        inits.append(nh.from_array(rng.standard_normal((H, H)).astype(np.float32) * 0.4, w))
    qh, kh, vh = [op("Transpose", [op("Reshape", [op("MatMul", ["x", "w" + t], t + "p"), "hs4"], t + "4")], t + "h",
                     perm=[0, 2, 3, 1] if t == "k" else [0, 2, 1, 3]) for t in "qkv"]
    sc = op("MatMul", [op("Div", [qh, "sqrt_dh"], "qs"), kh], "qk")
    masked = op("Expand", [op("Reshape", [op("Equal", ["attention_mask", "zero_i"], "eq"), "mshape"], "m4"),
                           op("Shape", [sc], "scsh")], "mx")
    ct = op("Transpose", [op("MatMul", [op("Softmax", [op("Where", [masked, "fmin", sc], "w")], "p", axis=-1), vh],
                             "o")], "ot", perm=[0, 2, 1, 3])
    op("Reshape", [ct, "hs3"], "y")
    vi = [h.make_tensor_value_info("x", T.FLOAT, [2, 7, H]), h.make_tensor_value_info("attention_mask", T.INT64, [2, 7])]
    g = h.make_graph(nodes, "distilbert", vi, [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    am = np.ones((2, 7), np.int64)
    am[1, 4:] = 0
    cases.append(model_zoo.Case("distilbert_attention", m, {"x": rng.standard_normal((2, 7, H)).astype(np.float32),
                                                            "attention_mask": am}))
    EXPECT["distilbert_attention"] = {"Softmax": 0, "Expand": 0, "Div": 0}
    EXACT["distilbert_attention"] = {"Attention": 1}
    TOL["distilbert_attention"] = 1e-5
    # tf2onnx's layout: activations NHWC between NCHW convolutions. A hard-swish (Add 3, Clip, Mul 1/6,
    # Mul), a Pad of zeros in NHWC before a strided depthwise convolution, squeeze-excitation by
    # ReduceMean over H, W (axes 1, 2) and a [N,1,1,C] scale, a Softmax over the NHWC channels, a
    # Cast: every Transpose moves down to its pair and both go, the Pad into the convolution. A
    # Transpose of attention's heads (0, 2, 1, 3) before a Div by a scalar stays where it is.
    C = 16
    nodes, inits = [], [nh.from_array(np.array(v, np.float32), n) for n, v in
                        (("three", 3.0), ("zero", 0.0), ("six", 6.0), ("sixth", 1 / 6), ("eight", 8.0))]
    inits.append(i64([0, 0, 0, 0, 0, 1, 1, 0], "nhwc_pads"))
    for name, shape in (("w1", (C, 8, 3, 3)), ("wd", (C, 1, 3, 3)), ("ws1", (4, C, 1, 1)), ("ws2", (C, 4, 1, 1)),
                        ("w2", (8, C, 1, 1))):
        inits.append(nh.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name))
    to_nhwc, to_nchw = dict(perm=[0, 2, 3, 1]), dict(perm=[0, 3, 1, 2])
    c1 = op("Transpose", [op("Conv", ["x", "w1"], "c1", pads=[1, 1, 1, 1])], "c1t", **to_nhwc)
    hs = op("Mul", [c1, op("Mul", [op("Clip", [op("Add", [c1, "three"], "a3"), "zero", "six"], "r6"), "sixth"], "hsig")],
            "hs")
    pd = op("Transpose", [op("Pad", [hs, "nhwc_pads"], "pd")], "pdt", **to_nchw)
    dw = op("Transpose", [op("Conv", [pd, "wd"], "dw", group=C, strides=[2, 2])], "dwt", **to_nhwc)
    r = op("Relu", [dw], "r")
    se = op("Transpose", [op("ReduceMean", [r], "se", axes=[1, 2], keepdims=1)], "set", **to_nchw)
    se = op("HardSigmoid", [op("Conv", [op("Relu", [op("Conv", [se, "ws1"], "s1")], "s1r"), "ws2"], "s2")], "s2h")
    sc = op("Mul", [r, op("Transpose", [se], "s2t", **to_nhwc)], "sc")
    op("Conv", [op("Transpose", [sc], "sct", **to_nchw), "w2"], "y")
    op("Transpose", [op("Softmax", [op("Cast", [sc], "scc", to=T.FLOAT)], "sm", axis=-1)], "y2", **to_nchw)
    op("Div", [op("Transpose", ["q"], "qt", perm=[0, 2, 1, 3]), "eight"], "y3")
    vi = [h.make_tensor_value_info("x", T.FLOAT, [2, 8, 13, 13]), h.make_tensor_value_info("q", T.FLOAT, [2, 5, 3, 4])]
    outs = [h.make_tensor_value_info(n, T.FLOAT, None) for n in ("y", "y2", "y3")]
    m = h.make_model(h.make_graph(nodes, "nhwc_between", vi, outs, inits), opset_imports=[h.make_opsetid("", 17)])
    cases.append(model_zoo.Case("nhwc_between_convs", m, {"x": rng.standard_normal((2, 8, 13, 13)).astype(np.float32),
                                                          "q": rng.standard_normal((2, 5, 3, 4)).astype(np.float32)}))
    # YOLOv8's C2f: a convolution's channels split in two (whole blocks), convolutions on one half,
    # everything concatenated: the Split runs on the blocked layout (opset 13's split input, and equal
    # parts without one); one into parts of 8 and 24 channels stays NCHW at AVX-512
    nodes, inits = [], []
    for name, shape in (("w0", (32, 8, 3, 3)), ("wa", (16, 16, 3, 3)), ("wb", (16, 16, 3, 3)), ("wc", (32, 64, 1, 1)),
                        ("wd", (8, 8, 1, 1)), ("we", (48, 32, 1, 1)), ("wf", (16, 16, 1, 1))):
        inits.append(nh.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name))
    inits.append(i64([16, 16], "halves"))
    inits.append(i64([8, 24], "uneven"))
    c0 = op("Relu", [op("Conv", ["x", "w0"], "c0", pads=[1, 1, 1, 1])], "c0r")
    nodes.append(h.make_node("Split", [c0, "halves"], ["p0", "p1"], axis=1))
    b1 = op("Conv", [op("Conv", ["p1", "wa"], "b0", pads=[1, 1, 1, 1]), "wb"], "b1", pads=[1, 1, 1, 1])
    c1 = op("Conv", [op("Concat", ["p0", "p1", b1, "p1"], "cat", axis=1), "wc"], "c1")
    nodes.append(h.make_node("Split", [c1, "uneven"], ["u0", "u1"], axis=1))
    ud = op("Conv", ["u0", "wd"], "ud")
    e3 = op("Conv", [op("Relu", [op("Concat", [ud, "u1"], "cat2", axis=1)], "cr"), "we"], "e3")
    nodes.append(h.make_node("Split", [e3], ["s0", "s1", "s2"], axis=1))
    op("Add", [op("Conv", ["s1", "wf"], "sf"), "s2"], "y")
    op("Relu", ["s0"], "y2")
    m = h.make_model(h.make_graph(nodes, "csp", [h.make_tensor_value_info("x", T.FLOAT, [1, 8, 12, 12])],
                                  [h.make_tensor_value_info(n, T.FLOAT, None) for n in ("y", "y2")], inits),
                     opset_imports=[h.make_opsetid("", 13)])
    cases.append(model_zoo.Case("channel_split", m, {"x": rng.standard_normal((1, 8, 12, 12)).astype(np.float32)}))
    EXPECT["channel_split"] = {"Split": 3}
    # tf2onnx's squeeze-excitation with a symbolic batch: GlobalAveragePool, Squeeze to [N, C], Reshape to
    # [-1, C, 1, 1] (with the Squeeze, the identity), a Reshape of [N, 8, 1, 1] to [-1, 8, 1, 1] (the
    # identity: the same symbol), all gone; kept: a Reshape whose shape has a 0 (it copies a size of
    # what it reads), and a Squeeze that something else reads too
    nodes, inits = [], [i64([2, 3], "hw"), i64([-1, 16, 1, 1], "c11"), i64([-1, 8, 1, 1], "e11"), i64([0, 16, 1, 1], "z11")]
    for name, shape in (("wx", (16, 16, 3, 3)), ("w1", (8, 16, 1, 1)), ("w2", (16, 8, 1, 1))):
        inits.append(nh.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name))
    cx = op("Conv", ["x", "wx"], "cx", pads=[1, 1, 1, 1])
    sq = op("Squeeze", [op("GlobalAveragePool", [cx], "gap"), "hw"], "sq")
    s1 = op("Conv", [op("Reshape", [sq, "c11"], "r1"), "w1"], "s1")
    s2 = op("Sigmoid", [op("Conv", [op("Reshape", [s1, "e11"], "r2"), "w2"], "s2")], "s2s")
    op("Mul", [cx, s2], "y")
    sq2 = op("Squeeze", [op("GlobalAveragePool", [op("Relu", [cx], "cxr")], "gap2"), "hw"], "sq2")
    op("Relu", [sq2], "y2")
    op("Reshape", [sq2, "z11"], "y3")
    m = h.make_model(h.make_graph(nodes, "se", [h.make_tensor_value_info("x", T.FLOAT, ["N", 16, 6, 6])],
                                  [h.make_tensor_value_info(n, T.FLOAT, None) for n in ("y", "y2", "y3")], inits),
                     opset_imports=[h.make_opsetid("", 13)])
    cases.append(model_zoo.Case("se_reshapes", m, {"x": rng.standard_normal((2, 16, 6, 6)).astype(np.float32)}))
    EXPECT["se_reshapes"] = {"Sigmoid": 0}
    EXACT["se_reshapes"] = {"Reshape": 1, "Squeeze": 1}
    EXPECT["nhwc_between_convs"] = {"Pad": 0}
    EXACT["nhwc_between_convs"] = {"Transpose": 1}
    TOL["nhwc_between_convs"] = 1e-5
    # timm's and MNASNet's head: the spatial mean without keepdims ([N, C]) at opset 13 (axes attribute)
    # and 18 (axes input), then a Linear
    for opset in (13, 18):
        cw = nh.from_array(rng.standard_normal((40, 24, 3, 3)).astype(np.float32) * 0.2, "cw")
        fw = nh.from_array(rng.standard_normal((40, 10)).astype(np.float32), "fw")
        inits = [cw, fw]
        if opset >= 18:
            inits.append(nh.from_array(np.array([-1, 2], np.int64), "hw"))
            mean = h.make_node("ReduceMean", ["r", "hw"], ["m"], keepdims=0)
        else:
            mean = h.make_node("ReduceMean", ["r"], ["m"], axes=[2, 3], keepdims=0)
        nodes = [h.make_node("Conv", ["x", "cw"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                 h.make_node("Relu", ["c"], ["r"]), mean, h.make_node("MatMul", ["m", "fw"], ["y"])]
        m = h.make_model(h.make_graph(nodes, "mean_head", [h.make_tensor_value_info("x", T.FLOAT, ["N", 24, 7, 9])],
                                      [h.make_tensor_value_info("y", T.FLOAT, ["N", 10])], inits),
                         opset_imports=[h.make_opsetid("", opset)])
        cases.append(model_zoo.Case(f"mean_head{opset}", m, {"x": rng.standard_normal((2, 24, 7, 9)).astype(np.float32)}))
    return cases


# exact counts after -O2 where "at least" is not enough
EXACT = {"layer_scale": {"Mul": 1, "Transpose": 3}}
# tighter output tolerances (of the output's scale) than 1e-4: the erf and tanh GELUs differ by
# up to 5e-4 absolute, so a fusion into the wrong one must fail
TOL = {}


def counts(model):
    return collections.Counter(n.op_type for n in model.graph.node)


# after -O3 on a CPU with AVX-512 (layout-nchwc, block 16; AVX2: block 8, the convolutions are checked):
# every convolution runs on the blocked
# layout, the RGB stem reading its NCHW input directly (input_block 1), so a chain needs no reorder
# in and one reorder out (before Flatten), and the pools in between are blocked too
EXPECT_O3 = {
    "resnet": {"Conv": 0, "FusedConv": 0, "NchwcConv": 10, "ReorderInput": 0, "ReorderOutput": 1,
               "NchwcMaxPool": 1, "MaxPool": 0, "NchwcGlobalAveragePool": 1},
    "mobilenetv2": {"Conv": 0, "FusedConv": 0, "ReorderInput": 0, "ReorderOutput": 1, "NchwcGlobalAveragePool": 1},
    # the last fire module concatenates 24 + 24 channels, not block-aligned: that Concat runs in NCHW,
    # with its two parts reordered out and its result back in
    "squeezenet": {"Conv": 0, "FusedConv": 0, "NchwcConv": 11, "ReorderInput": 1, "ReorderOutput": 3,
                   "NchwcMaxPool": 2, "NchwcAveragePool": 1, "NchwcGlobalAveragePool": 1},
    # the BatchNormalization + Relu before each convolution and the Concats stay blocked (NchwcChannelAffine:
    # the 7 BNs that follow no convolution; fold-batchnorm takes the other 5),
    # the Pad of zeros before the average pool goes: one reorder, before Flatten
    # and the Relu after each NchwcChannelAffine goes into it
    "densenet": {"Conv": 0, "FusedConv": 0, "BatchNormalization": 0, "NchwcChannelAffine": 7, "Relu": 0, "Pad": 0,
                 "ReorderInput": 0, "ReorderOutput": 1, "NchwcAveragePool": 1, "Concat": 5},
    # every Transpose left at -O2 but the one before the pooling folds into a channels-last reorder:
    # the four depthwise and the downsampling convolutions' inputs come from channels-last values
    # (ReorderInput nhwc=1) but the one after the downsampling, which reads its blocked output
    "convnext": {"Transpose": 1, "ReorderInput": 4, "NchwcConv": 6, "Mul": 0},
    # squeeze-excitation: its channel Mul folds into the projection convolution (has_scale)
    "efficientnet": {"Conv": 0, "FusedConv": 0, "Mul": 0, "NchwcChannelMul": 0, "ReorderInput": 0, "ReorderOutput": 1},
    # the hard-swish's Add/Mul by scalars run blocked too: one region, out only for the two outputs
    "nhwc_between_convs": {"NchwcConv": 5, "NchwcChannelMul": 1, "ReorderInput": 0, "ReorderOutput": 2, "Transpose": 1},
    # grouped convolutions join the region where their blocks compute few zeros (8, 12, 16, 24, 48 channels a
    # group at block 16); the 4-channel one (waste 4) runs on NCHW between a reorder out and one in; the
    # squeeze-excitation's Mul folds into the projection after it (has_scale)
    "resnext": {"Conv": 0, "FusedConv": 1, "NchwcConv": 18, "ReorderInput": 1, "ReorderOutput": 2, "Mul": 0,
                "NchwcGlobalAveragePool": 2},
    # the spatial mean without keepdims is the blocked global average pool, its reorder out squeezing the
    # 1 x 1 map into [N, C]
    "mean_head13": {"ReduceMean": 0, "NchwcGlobalAveragePool": 1, "ReorderOutput": 1, "ReorderInput": 1, "NchwcConv": 1},
    "mean_head18": {"ReduceMean": 0, "NchwcGlobalAveragePool": 1, "ReorderOutput": 1, "ReorderInput": 1, "NchwcConv": 1},
    # two Splits blocked (the halves, the three equal parts); the uneven one outside: its input reordered
    # out, its 8-channel part read directly by the convolution after it (input_block 1), whose output is
    # reordered out again for the NCHW Concat with the other part; out also the two outputs
    "channel_split": {"NchwcConv": 7, "Split": 3, "ReorderOutput": 4, "ReorderInput": 1, "Concat": 2},
}
# at AVX2 (block 8) where the convolutions counted differ: ResNeXt's 4-channel groups fill half a block
# (waste 2), so that convolution is blocked too
EXPECT_O3_AVX2 = {"resnext": {"NchwcConv": 19}}
# the exported torchvision ResNet-50 (bench/): all 53 convolutions and the max pool blocked, one
# reorder (before Flatten)
RESNET50 = os.path.join(os.environ.get("SINTER_BENCH_MODELS", os.path.join(ROOT, "build", "bench-models")), "resnet50.onnx")
EXPECT_RESNET50 = {"NchwcConv": 53, "FusedConv": 0, "Conv": 0, "ReorderInput": 0, "ReorderOutput": 1,
                   "NchwcGlobalAveragePool": 1, "NchwcMaxPool": 1, "MaxPool": 0}


def output_errors(model, feeds, names, ref, label, tol=1e-4, **session):
    """problems: the outputs of Sinter on model (session options) off ONNX Runtime's ref by more than
    tol (default 1e-4) of their scale"""
    problems = []
    try:
        with sinter_ctypes.Session(model, **session) as s:
            out = s.run(feeds)
    except sinter_ctypes.SinterError as e:
        return [f"{label.format('(all)')}: {e}"]
    for name, want in zip(names, ref):
        err = rel_err(out[name], want)
        if not err <= tol:
            problems.append(f"{label.format(name)}: relative error {err:.2e}")
    return problems


def check_o3(tmp, name, src, feeds, expect):
    """-O3: the written model is valid ONNX, loads back, matches ONNX Runtime on the original, and
    (with AVX-512) has the expected op counts (exact)."""
    dst = os.path.join(tmp, name + ".O3.onnx")
    r = run_cli("optimize", src, dst, "-O3")
    if r.returncode != 0:
        return ["sinter optimize -O3 failed: " + r.stderr.strip()], ""
    problems = []
    opt = onnx.load(dst)
    got = counts(opt)
    isa = isa_level()
    if isa == "avx512":
        for op, n in expect.items():
            if got[op] != n:
                problems.append(f"O3 {op}: {got[op]} (want {n})")
    elif isa == "avx2":  # block 8: other Concats align, so only the convolutions are counted
        expect = dict(expect, **EXPECT_O3_AVX2.get(name, {}))
        if got["NchwcConv"] != expect.get("NchwcConv", got["NchwcConv"]) or got["Conv"] or got["FusedConv"]:
            problems.append(f"O3 at AVX2: NchwcConv {got['NchwcConv']}, Conv {got['Conv']}, FusedConv {got['FusedConv']}")
    elif got["NchwcConv"] or got["ReorderInput"]:
        problems.append("O3 rewrote to the blocked layout at ISA scalar")
    ref = ort_outputs(src, feeds)
    names = [o.name for o in onnx.load(src).graph.output]
    for lvl_src in (dst, src):  # the saved -O3 model, and the original optimized at load (default O3)
        problems += output_errors(lvl_src, feeds, names, ref, "O3 output {} (" + os.path.basename(lvl_src) + ")")
    # the saved blocked model must also load and run where there is no AVX-512
    problems += output_errors(dst, feeds, names, ref, "O3 output {} at ISA scalar", isa="scalar")
    return problems, ", ".join(f"{k} {v}" for k, v in sorted(got.items()) if k in expect or k.startswith("Nchwc"))


def optimize_o2(tmp, tag, m):
    """m saved as tmp/tag.onnx (IR 8) and optimized by the CLI at -O2 into tmp/tag.opt.onnx: the two
    paths and the problems (the CLI's error, if it failed)"""
    m.ir_version = 8
    src, dst = os.path.join(tmp, f"{tag}.onnx"), os.path.join(tmp, f"{tag}.opt.onnx")
    onnx.save(m, src)
    r = run_cli("optimize", src, dst, "-O2")
    return src, dst, [] if r.returncode == 0 else ["sinter optimize failed: " + r.stderr.strip()]


def trim_taps_cases(tmp):
    """trim-conv-taps: DeepLabV3's ASPP convolutions (3x3 at dilation 12, 24, 36, pads as dilation) on a
    16x16 map; at 24 and 36 only the centre tap reads the input, so -O2 writes them as 1x1 convolutions
    without pads, and keeps the others whole: dilation 12 (every tap reads somewhere), a stride-2 one,
    one whose cut would need negative pads, and a 1-D one at dilation 16 over 10 steps. Outputs match
    ONNX Runtime on the original model, also with the input size left symbolic (nothing cut)."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(21)
    specs = [  # name, input shape, kernel, dilation, pads, strides, expected kernel after -O2
        ("d12", [1, 8, 16, 16], [3, 3], [12, 12], [12, 12, 12, 12], [1, 1], [3, 3]),
        ("d24", [1, 8, 16, 16], [3, 3], [24, 24], [24, 24, 24, 24], [1, 1], [1, 1]),
        ("d36", [1, 8, 16, 16], [3, 3], [36, 36], [36, 36, 36, 36], [1, 1], [1, 1]),
        ("d20x2", [1, 8, 16, 16], [3, 3], [20, 2], [20, 2, 20, 2], [1, 1], [1, 3]),
        ("s2d16", [1, 8, 16, 16], [3, 3], [16, 16], [16, 16, 16, 16], [2, 2], [1, 1]),
        ("neg", [1, 8, 4, 4], [3, 3], [4, 4], [6, 6, 0, 0], [1, 1], [3, 3]),
        ("1d", [1, 8, 10], [3], [16], [16, 16], [1], [1]),
    ]
    for name, shape, k, dil, pads, strides, want in specs:
        for symbolic in (False, True):
            w = nh.from_array(rng.standard_normal([6, shape[1]] + k).astype(np.float32) * 0.2, "w")
            b = nh.from_array(rng.standard_normal(6).astype(np.float32), "b")
            node = h.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=k, dilations=dil, pads=pads, strides=strides)
            xshape = shape[:2] + (["s"] * (len(shape) - 2) if symbolic else shape[2:])
            m = h.make_model(h.make_graph([node], "trim", [h.make_tensor_value_info("x", T.FLOAT, xshape)],
                                          [h.make_tensor_value_info("y", T.FLOAT, None)], [w, b]),
                             opset_imports=[h.make_opsetid("", 13)])
            src, dst, problems = optimize_o2(tmp, f"trim_{name}", m)
            if not problems:
                conv = [n for n in onnx.load(dst).graph.node if n.op_type in ("Conv", "FusedConv")][0]
                ks = [list(a.ints) for a in conv.attribute if a.name == "kernel_shape"][0]
                expect = k if symbolic else want
                if ks != expect:
                    problems.append(f"kernel {ks}, want {expect}")
                feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
                problems += output_errors(dst, feeds, ["y"], ort_outputs(src, feeds), "output {}")
            check(f"trim-conv-taps {name}{' (symbolic size)' if symbolic else ''}", not problems, "; ".join(problems))


def transpose_reshape_cases(tmp):
    """transposes-as-reshapes: a Transpose that moves only axes of size 1 becomes a Reshape (the
    elements stay where they are); one that reorders two axes of size > 1 stays, and so does one on a
    symbolic shape. Outputs match ONNX Runtime. Each Transpose is followed by an Add so it is not the
    graph's last node."""
    from onnx import TensorProto as T, helper as h
    rng = np.random.default_rng(22)
    specs = [  # name, input shape, perm, becomes a Reshape
        ("batch1_seq_first", [1, 7, 12], [1, 0, 2], True),
        ("ones_around", [1, 3, 1, 5], [2, 0, 1, 3], True),
        ("move_one_to_end", [4, 1, 6], [0, 2, 1], True),
        ("swap_two", [1, 3, 5], [0, 2, 1], False),
        ("batch2", [2, 7, 12], [1, 0, 2], False),
        ("symbolic", ["n", 7, 12], [1, 0, 2], False),
    ]
    for name, shape, perm, reshaped in specs:
        nodes = [h.make_node("Transpose", ["x"], ["t"], perm=perm), h.make_node("Add", ["t", "t"], ["y"])]
        m = h.make_model(h.make_graph(nodes, "tr", [h.make_tensor_value_info("x", T.FLOAT, shape)],
                                      [h.make_tensor_value_info("y", T.FLOAT, None)]),
                         opset_imports=[h.make_opsetid("", 13)])
        src, dst, problems = optimize_o2(tmp, f"tr_{name}", m)
        if not problems:
            ops = collections.Counter(n.op_type for n in onnx.load(dst).graph.node)
            if (ops["Transpose"], ops["Reshape"]) != ((0, 1) if reshaped else (1, 0)):
                problems.append(f"{dict(ops)}, want {'a Reshape' if reshaped else 'the Transpose'}")
            feeds = {"x": rng.standard_normal([d if isinstance(d, int) else 2 for d in shape]).astype(np.float32)}
            problems += output_errors(dst, feeds, ["y"], ort_outputs(src, feeds), "output {}")
        check(f"transposes-as-reshapes {name}", not problems, "; ".join(problems))


def pad_fusion_cases(tmp):
    """fuse-pad: a Pad of zeros over the spatial dims goes into the Conv (or the AveragePool counting
    padding) that alone reads it, in its three forms (pads attribute before opset 11, an input after,
    with axes at 18), added to the op's own pads; everything that would change a sum stays: another
    value, another mode, channels padded, a crop, a second reader, SAME padding, a MaxPool of what may be
    negative or whose window may then hold padding only, an average not counting its own pads, ceil_mode. Outputs against ONNX Runtime on the original, from the saved
    -O2 model and from the model optimized at load (-O3: blocked layout)."""
    import onnxruntime as ort
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(31)
    C = 16

    def i64(v, name):
        return nh.from_array(np.array(v, np.int64), name)

    specs = [  # name, opset, x shape, pad node maker, consumer maker, fused?
        ("conv_tf", 13, [1, C, 15, 15], dict(pads=[0, 0, 0, 0, 0, 0, 1, 1]),
         dict(op="Conv", group=C, kernel_shape=[3, 3], strides=[2, 2]), True),
        ("conv_own_pads", 13, [2, C, 9, 11], dict(pads=[0, 0, 1, 2, 0, 0, 3, 0]),
         dict(op="Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]), True),
        ("conv_axes", 18, [1, C, 9, 9], dict(pads=[1, 1, 2, 0], axes=[2, -1]),
         dict(op="Conv", kernel_shape=[3, 3], strides=[2, 1]), True),
        ("conv_attr", 10, [1, C, 9, 9], dict(attr=[0, 0, 2, 1, 0, 0, 0, 1]),
         dict(op="Conv", kernel_shape=[3, 3]), True),
        ("conv_1d", 13, [1, C, 20], dict(pads=[0, 0, 2, 0, 0, 1]), dict(op="Conv", kernel_shape=[5], strides=[2]), True),
        ("conv_valid", 13, [1, C, 9, 9], dict(pads=[0, 0, 1, 1, 0, 0, 1, 1]),
         dict(op="Conv", kernel_shape=[3, 3], auto_pad="VALID"), True),
        ("avg_exclude", 13, [1, C, 10, 10], dict(pads=[0, 0, 1, 1, 0, 0, 1, 1]),
         dict(op="AveragePool", kernel_shape=[3, 3], strides=[2, 2]), True),
        ("avg_include", 13, [1, C, 10, 10], dict(pads=[0, 0, 0, 1, 0, 0, 1, 1]),
         dict(op="AveragePool", kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1), True),
        ("avg_own_pads", 13, [1, C, 10, 10], dict(pads=[0, 0, 1, 1, 0, 0, 1, 1]),
         dict(op="AveragePool", kernel_shape=[3, 3], pads=[1, 0, 1, 0]), False),
        ("avg_ceil", 13, [1, C, 10, 10], dict(pads=[0, 0, 1, 1, 0, 0, 0, 0]),
         dict(op="AveragePool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, count_include_pad=1), False),
        ("maxpool", 13, [1, C, 10, 10], dict(pads=[0, 0, 1, 1, 0, 0, 1, 1]), dict(op="MaxPool", kernel_shape=[3, 3]), False),
        # after a Relu (Keras' stems): zeros and -inf padding give the same maxima
        ("maxpool_relu", 13, [1, C, 11, 11], dict(pads=[0, 0, 1, 1, 0, 0, 1, 1], relu=True),
         dict(op="MaxPool", kernel_shape=[3, 3], strides=[2, 2]), True),
        ("maxpool_relu_own_pads", 13, [1, C, 10, 10], dict(pads=[0, 0, 1, 0, 0, 0, 0, 1], relu=True),
         dict(op="MaxPool", kernel_shape=[3, 3], pads=[1, 1, 1, 1]), True),
        ("maxpool_relu_window_in_pad", 13, [1, C, 10, 10], dict(pads=[0, 0, 2, 0, 0, 0, 0, 0], relu=True),
         dict(op="MaxPool", kernel_shape=[2, 2], pads=[1, 0, 0, 0]), False),
        ("maxpool_relu_ceil", 13, [1, C, 10, 10], dict(pads=[0, 0, 1, 1, 0, 0, 1, 1], relu=True),
         dict(op="MaxPool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1), False),
        ("value_1", 13, [1, C, 9, 9], dict(pads=[0, 0, 1, 1, 0, 0, 1, 1], value=1.0), dict(op="Conv", kernel_shape=[3, 3]), False),
        ("reflect", 13, [1, C, 9, 9], dict(pads=[0, 0, 1, 1, 0, 0, 1, 1], mode="reflect"), dict(op="Conv", kernel_shape=[3, 3]), False),
        ("channels", 13, [1, C, 9, 9], dict(pads=[0, 1, 1, 1, 0, 0, 1, 1]), dict(op="Conv", kernel_shape=[3, 3], cin=C + 1), False),
        ("crop", 13, [1, C, 9, 9], dict(pads=[0, 0, 1, -1, 0, 0, 1, 1]), dict(op="Conv", kernel_shape=[3, 3]), False),
        ("two_readers", 13, [1, C, 9, 9], dict(pads=[0, 0, 1, 1, 0, 0, 1, 1]), dict(op="Conv", kernel_shape=[3, 3], also="Relu"), False),
        ("same_upper", 13, [1, C, 9, 9], dict(pads=[0, 0, 0, 0, 0, 0, 1, 1]),
         dict(op="Conv", kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"), False),
    ]
    for name, opset, shape, pspec, cspec, fused in specs:
        inits, nodes = [], []
        src_x = "x"
        if pspec.get("relu"):
            nodes.append(h.make_node("Relu", ["x"], ["xr"]))
            src_x = "xr"
        if "attr" in pspec:
            nodes.append(h.make_node("Pad", [src_x], ["p"], pads=pspec["attr"]))
        else:
            ins = [src_x, "pads"]
            inits.append(i64(pspec["pads"], "pads"))
            if "value" in pspec or "axes" in pspec:
                ins.append("cval" if "value" in pspec else "")
                if "value" in pspec:
                    inits.append(nh.from_array(np.array(pspec["value"], np.float32), "cval"))
            if "axes" in pspec:
                ins.append("axes")
                inits.append(i64(pspec["axes"], "axes"))
            nodes.append(h.make_node("Pad", ins, ["p"], **({"mode": pspec["mode"]} if "mode" in pspec else {})))
        cs = dict(cspec)
        op, also, cin = cs.pop("op"), cs.pop("also", None), cs.pop("cin", shape[1])
        if op == "Conv":
            group = cs.get("group", 1)
            inits.append(nh.from_array(rng.standard_normal([8 if group == 1 else C, cin // group] + cs["kernel_shape"])
                                       .astype(np.float32) * 0.3, "w"))
            nodes.append(h.make_node("Conv", ["p", "w"], ["y"], **cs))
        else:
            nodes.append(h.make_node(op, ["p"], ["y"], **cs))
        outs = [h.make_tensor_value_info("y", T.FLOAT, None)]
        if also:
            nodes.append(h.make_node(also, ["p"], ["z"]))
            outs.append(h.make_tensor_value_info("z", T.FLOAT, None))
        m = h.make_model(h.make_graph(nodes, "pad", [h.make_tensor_value_info("x", T.FLOAT, shape)], outs, inits),
                         opset_imports=[h.make_opsetid("", opset)])
        src, dst, problems = optimize_o2(tmp, f"pad_{name}", m)
        if not problems:
            got = counts(onnx.load(dst))
            if (got["Pad"] == 0) != fused:
                problems.append(f"Pad {got['Pad']} after -O2 (want {'none' if fused else 'kept'})")
            feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
            # (ONNX Runtime's own optimizer moves a Pad of zeros into a MaxPool, whose padding is -inf:
            # a window of negative values then reads 0; its unoptimized graph is the reference)
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            ref = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"]).run(None, feeds)
            names = [o.name for o in outs]
            problems += output_errors(dst, feeds, names, ref, "output {} (-O2)", tol=1e-5)
            problems += output_errors(src, feeds, names, ref, "output {} (at load)", tol=1e-5)
        check(f"fuse-pad {name}", not problems, "; ".join(problems))


def qdq_pad_case(tmp):
    """A QDQ model (ONNX Runtime's quantize_static, per channel) of TensorFlow's explicit padding: a
    Pad of zeros left float between DequantizeLinear and QuantizeLinear before a strided depthwise
    convolution, and a reflect Pad. At -O2 fuse-qdq pads the 8-bit values (with the zero point) and
    fuse-pad puts the zero Pad into the QLinearConv; the reflect one stays, on 8 bits. Outputs
    against ONNX Runtime on the same file within 3% of the output scale (its integer kernels
    requantize as ours do, a step apart at most here and there)."""
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    from onnxruntime.quantization import QuantFormat, quantize_static
    from testlib import calibration_reader
    rng = np.random.default_rng(41)
    inits = [nh.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name) for name, shape in
             (("w1", (16, 8, 3, 3)), ("w2", (16, 1, 3, 3)), ("w3", (16, 16, 3, 3)))]
    inits += [nh.from_array(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), "tf_pads"),
              nh.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "ring")]
    nodes = [h.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c1"], ["r1"]),
             h.make_node("Pad", ["r1", "tf_pads"], ["p1"]),
             h.make_node("Conv", ["p1", "w2"], ["c2"], group=16, strides=[2, 2]), h.make_node("Relu", ["c2"], ["r2"]),
             h.make_node("Pad", ["r2", "ring"], ["p2"], mode="reflect"), h.make_node("Conv", ["p2", "w3"], ["y"])]
    m = h.make_model(h.make_graph(nodes, "tfpad", [h.make_tensor_value_info("x", T.FLOAT, [1, 8, 17, 17])],
                                  [h.make_tensor_value_info("y", T.FLOAT, None)], inits),
                     opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    src, qdq = os.path.join(tmp, "tfpad.onnx"), os.path.join(tmp, "tfpad_qdq.onnx")
    onnx.save(m, src)
    cal = [{"x": rng.uniform(-1, 1, (1, 8, 17, 17)).astype(np.float32)} for _ in range(4)]
    quantize_static(src, qdq, calibration_reader(cal), quant_format=QuantFormat.QDQ, per_channel=True)
    _, dst, problems = optimize_o2(tmp, "tfpad_qdq_opt", onnx.load(qdq))
    if not problems:
        got = counts(onnx.load(dst))
        if got["Pad"] != 1 or got["DequantizeLinear"] > 1:
            problems.append(f"Pad {got['Pad']} (want 1: the reflect one), DequantizeLinear {got['DequantizeLinear']}")
        feeds = {"x": rng.uniform(-1, 1, (1, 8, 17, 17)).astype(np.float32)}
        want = ort_outputs(qdq, feeds)[0]
        for label, model in (("-O2", dst), ("at load", qdq)):
            try:
                out = sinter_ctypes.Session(model).run(feeds)["y"]
                err = rel_err(out, want)
                if not err <= 3e-2:
                    problems.append(f"output ({label}): relative error {err:.2e}")
            except sinter_ctypes.SinterError as e:
                problems.append(f"output ({label}): {e}")
    check("fuse-qdq + fuse-pad: TensorFlow's float Pad in a QDQ model", not problems, "; ".join(problems))


def main():
    set_verbose(True)
    with tempfile.TemporaryDirectory() as tmp:
        for case in model_zoo.all_cases() + extra_cases():
            if case.name not in EXPECT:
                continue
            src = os.path.join(tmp, case.name + ".onnx")
            dst = os.path.join(tmp, case.name + ".opt.onnx")
            onnx.save(case.model, src)
            problems = []
            r = run_cli("optimize", src, dst, "-O2")
            if r.returncode != 0:
                problems.append("sinter optimize failed: " + r.stderr.strip())
            else:
                opt = onnx.load(dst)
                try:
                    onnx.checker.check_model(opt)
                except Exception as e:  # noqa: BLE001
                    problems.append(f"checker: {e}")
                got = counts(opt)
                for op, n in EXPECT[case.name].items():
                    if (n == 0 and got[op] != 0) or (n > 0 and got[op] < n):
                        problems.append(f"{op}: {got[op]} (want {'none' if n == 0 else f'at least {n}'})")
                for op, n in EXACT.get(case.name, {}).items():
                    if got[op] != n:
                        problems.append(f"{op}: {got[op]} (want exactly {n})")
                problems += output_errors(dst, case.feeds, [o.name for o in case.model.graph.output],
                                          ort_outputs(src, case.feeds), "output {}", tol=TOL.get(case.name, 1e-4))
                summary = ", ".join(f"{k} {v}" for k, v in sorted(got.items()))
            check(case.name, not problems, "; ".join(problems) or summary)
        # level 3: the blocked layout
        o3 = [(c.name, c) for c in model_zoo.all_cases() + extra_cases() if c.name in EXPECT_O3]
        for name, case in o3:
            src = os.path.join(tmp, name + ".onnx")
            onnx.save(case.model, src)
            problems, summary = check_o3(tmp, name, src, case.feeds, EXPECT_O3[name])
            check(f"{name} -O3", not problems, "; ".join(problems) or summary)
        trim_taps_cases(tmp)
        pad_fusion_cases(tmp)
        transpose_reshape_cases(tmp)
        qdq_pad_case(tmp)
        if os.path.exists(RESNET50):
            rng = np.random.default_rng(0)
            feeds = {"image": rng.uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)}
            problems, summary = check_o3(tmp, "resnet50", RESNET50, feeds, EXPECT_RESNET50)
            check("resnet50 -O3", not problems, "; ".join(problems) or summary)
        else:
            print(f"skip resnet50 -O3: {RESNET50} not found")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
