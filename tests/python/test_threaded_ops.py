"""Ops that split their own work over the intra-op pool (beyond the GEMM/convolution kernels), run on 1
and 2 threads and checked against numpy:
  * Transpose: copies of 256 KiB and more go in parts along the outermost output axis of size 2+;
    permutations of rank 2..5, leading axes of size 1 (the split moves inward), an outermost axis
    shorter than the number of parts, odd sizes, 1-, 4- and 8-byte elements, and one copy below the
    threshold (one thread);
  * float32 Exp, Sigmoid, Tanh, Erf and Gelu (both forms) from 32768 elements: parts of whole 16-float
    lines over the pool; 2 threads must equal 1 thread bit for bit (the same vector kernel per
    element), and both must be within 1e-6 of numpy's double-precision result (relative for Exp;
    for Gelu 1e-6 or 4 ulp, the kernel's bound in test_vmath);
    sizes not a multiple of 16, just under and over the threshold;
  * Concat: outputs from 256 KiB in parts of the outer rows (or byte ranges with one outer row), with
    and without inputs the planner placed inside the output;
  * binary elementwise ops (Add, Sub, Mul, Div, Max, Pow, Greater; float32 and int64) from 32768
    output elements, with broadcasting whose rows the parts cut anywhere: 2 threads equal 1 bit for
    bit, and numpy.

    SINTER_BUILD=build .venv/bin/python tests/python/test_threaded_ops.py

Prints "N passed, M failed"; exits 1 on any failure.
"""
import math
import os
import sys

# outputs filled with 0x7f bytes before each run, so an element a part leaves unwritten shows
os.environ["SINTER_POISON_OUTPUTS"] = "1"

import numpy as np
from onnx import TensorProto, helper

from testlib import check, finish, make_model, sinter_outputs

rng = np.random.default_rng(5)
TYPES = {np.float32: TensorProto.FLOAT, np.uint8: TensorProto.UINT8, np.int64: TensorProto.INT64}

CASES = [((1, 56, 56, 96), (0, 3, 1, 2), np.float32),  # ConvNeXt's NHWC -> NCHW
         ((1, 96, 56, 56), (0, 2, 3, 1), np.float32),
         ((2, 3, 130, 257), (3, 1, 0, 2), np.float32),
         ((1, 1, 300, 301), (0, 1, 3, 2), np.float32),  # the split two axes in
         ((3, 1, 1, 90000), (3, 2, 1, 0), np.float32),
         ((5, 7, 64, 48), (1, 0, 3, 2), np.int64),
         ((700, 1001), (1, 0), np.uint8),
         ((1, 64, 56, 56), (0, 2, 3, 1), np.uint8),  # 8-bit activations into and out of NHWC
         ((2, 7, 7, 2051), (0, 3, 1, 2), np.uint8),
         ((3, 19, 13, 37), (0, 2, 3, 1), np.uint8),  # below 256 KiB, odd sizes
         ((3, 4, 5, 67, 71), (4, 2, 0, 3, 1), np.float32),
         ((2, 33, 35), (2, 0, 1), np.float32)]  # below 256 KiB: one thread

for shape, perm, dt in CASES:
    x = (rng.standard_normal(shape) * 100).astype(dt)
    m = make_model([helper.make_node("Transpose", ["x"], ["y"], perm=list(perm))], [
        helper.make_tensor_value_info("x", TYPES[dt], list(shape))], [helper.make_tensor_value_info("y", TYPES[dt], None)])
    want = np.transpose(x, perm)
    for threads in (1, 2):
        got = sinter_outputs(m.SerializeToString(), {"x": x}, threads=threads)[0]
        check(f"Transpose {shape} perm {perm} {np.dtype(dt).name} threads {threads}",
              got.shape == want.shape and np.array_equal(got, want))

UNARY = {"Exp": np.exp, "Sigmoid": lambda v: 1 / (1 + np.exp(-v)), "Tanh": np.tanh,
         "Erf": np.vectorize(math.erf), "Gelu": lambda v: 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2))),
         "GeluTanh": lambda v: 0.5 * v * (1 + np.tanh(0.7978845608028654 * (v + 0.044715 * v ** 3)))}
for op, ref in UNARY.items():
    for n in (32767, 32768, 100003, 128 * 3072 + 5):
        x = (rng.standard_normal(n) * 3).astype(np.float32)
        if op == "Exp":
            x = np.clip(x, -80, 80)
        attrs = {"approximate": "tanh"} if op == "GeluTanh" else {}
        node = helper.make_node("Gelu" if op.startswith("Gelu") else op, ["x"], ["y"], **attrs)
        m = make_model([node],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], opset=20)
        got = [sinter_outputs(m.SerializeToString(), {"x": x}, threads=t)[0] for t in (1, 2)]
        want = ref(x.astype(np.float64))
        err = np.abs(got[0] - want) / (np.abs(want) + 1) if op == "Exp" else np.abs(got[0] - want)
        if op == "Gelu":  # GELU's bound (test_vmath): 1e-6 absolute or 4 ulp, i.e. 4 ulp past |y| = 2
            err = err / np.maximum(1.0, 4 * np.spacing(np.abs(want).astype(np.float32)) / 1e-6)
        check(f"{op} n={n}: 2 threads == 1 thread", np.array_equal(got[0], got[1]))
        check(f"{op} n={n}: within 1e-6 of numpy" + (" (or 4 ulp)" if op == "Gelu" else ""), float(err.max()) <= 1e-6,
              f"max {float(err.max()):.3g}")

# Concat: outputs of 256 KiB and more go in parts of the outer rows, or with one outer row in byte
# ranges of every input; inputs Relu'd first at batch 1 are placed inside the output by the planner
# and skipped, at batch 3 they are copied
CONCATS = [([(8, 96, 56, 56), (8, 32, 56, 56)], 1, np.float32),
           ([(1, 64, 300, 301), (1, 3, 300, 301), (1, 5, 300, 301)], 1, np.float32),
           ([(3, 5, 70, 80), (3, 5, 31, 80)], 2, np.float32),
           ([(2, 300, 1000), (2, 301, 1000)], 1, np.uint8),
           ([(4, 3, 9000), (4, 5, 9000)], 1, np.int64),
           ([(5, 7, 9), (5, 2, 9)], 1, np.float32)]  # below 256 KiB: one thread
for shapes, axis, dt in CONCATS:
    xs = [(rng.standard_normal(sh) * 100).astype(dt) for sh in shapes]
    names = [f"x{i}" for i in range(len(xs))]
    m = make_model([helper.make_node("Concat", names, ["y"], axis=axis)],
                   [helper.make_tensor_value_info(n, TYPES[dt], list(x.shape)) for n, x in zip(names, xs)],
                   [helper.make_tensor_value_info("y", TYPES[dt], None)])
    want = np.concatenate(xs, axis=axis)
    for threads in (1, 2):
        got = sinter_outputs(m.SerializeToString(), dict(zip(names, xs)), threads=threads)[0]
        check(f"Concat {shapes} axis {axis} {np.dtype(dt).name} threads {threads}",
              got.shape == want.shape and np.array_equal(got, want))
for batch in (1, 3):
    xs = [rng.standard_normal((batch, c, 64, 64)).astype(np.float32) for c in (48, 80)]
    nodes = [helper.make_node("Relu", ["a"], ["ra"]), helper.make_node("Relu", ["b"], ["rb"]),
             helper.make_node("Concat", ["ra", "rb"], ["c"], axis=1), helper.make_node("Neg", ["c"], ["y"])]
    m = make_model(nodes, [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(x.shape)) for n, x in zip("ab", xs)],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    want = -np.concatenate([np.maximum(x, 0) for x in xs], axis=1)
    for threads in (1, 2):
        got = sinter_outputs(m.SerializeToString(), dict(zip("ab", xs)), threads=threads)[0]
        check(f"Relu, Relu, Concat at batch {batch} threads {threads}", got.shape == want.shape and np.array_equal(got, want))

# binary elementwise ops from 32768 output elements: parts of whole 64-element runs over the pool,
# cutting broadcast rows anywhere (numpy broadcasting; equal at 1 and 2 threads, bit for bit)
BINARY = [("Add", (3, 50001), (50001,), np.float32), ("Mul", (1000, 7), (1000, 1), np.float32),
          ("Div", (2, 3, 9000), (3, 1), np.float32), ("Sub", (40000,), (), np.float32),
          ("Max", (7, 5001), (7, 5001), np.float32), ("Pow", (5, 8000), (8000,), np.float32),
          ("Greater", (33, 1001), (1001,), np.float32), ("Add", (3, 40000), (3, 1), np.int64),
          ("Mul", (5, 7, 1000), (5, 7, 1000), np.int64), ("Add", (2, 100), (100,), np.float32)]  # (last: one thread)
NP = {"Add": np.add, "Mul": np.multiply, "Div": np.divide, "Sub": np.subtract, "Max": np.maximum,
      "Pow": np.power, "Greater": np.greater}
for op, sa, sb, dt in BINARY:
    a = (rng.standard_normal(sa) * 10).astype(dt)
    b = (rng.standard_normal(sb) * 10 + (20 if op == "Div" else 0)).astype(dt)
    if op == "Pow":
        a, b = np.abs(a).astype(dt) + 0.5, (b / 10).astype(dt)
    out_t = TensorProto.BOOL if op == "Greater" else TYPES[dt]
    m = make_model([helper.make_node(op, ["a", "b"], ["y"])],
                   [helper.make_tensor_value_info("a", TYPES[dt], list(a.shape)),
                    helper.make_tensor_value_info("b", TYPES[dt], list(b.shape))],
                   [helper.make_tensor_value_info("y", out_t, None)])
    want = NP[op](a, b)
    got = [sinter_outputs(m.SerializeToString(), {"a": a, "b": b}, threads=t)[0] for t in (1, 2)]
    close = (np.array_equal(got[0], want) if dt != np.float32 or op == "Greater"
             else np.allclose(got[0], want, rtol=1e-6, atol=0))
    check(f"{op} {sa} {sb} {np.dtype(dt).name}: threads 1 and 2 equal, and equal to numpy",
          got[0].shape == want.shape and np.array_equal(got[0], got[1]) and close)

# sinter:QLinearLookup (a QDQ Sigmoid made a 256-entry table) in parts of whole cache lines: every byte
# of the output is the table's entry of its input byte, at 1 and 2 threads, below and above the split
for n in (1000, 65537, 3 * 65536 + 77):
    x = rng.standard_normal(n).astype(np.float32) * 3
    m = make_model([helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
                    helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xf"]),
                    helper.make_node("Sigmoid", ["xf"], ["s"]),
                    helper.make_node("QuantizeLinear", ["s", "sy", "zy"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                   [helper.make_tensor_value_info("y", TensorProto.UINT8, None)],
                   [helper.make_tensor("sx", TensorProto.FLOAT, [], [0.03]),
                    helper.make_tensor("zx", TensorProto.UINT8, [], [128]),
                    helper.make_tensor("sy", TensorProto.FLOAT, [], [1 / 255]),
                    helper.make_tensor("zy", TensorProto.UINT8, [], [0])])
    xq = np.clip(np.rint(x / np.float32(0.03)) + 128, 0, 255).astype(np.uint8)
    table = np.clip(np.rint((1 / (1 + np.exp(-(np.arange(256) - 128) * np.float64(np.float32(0.03))))) * 255), 0, 255)
    got = [sinter_outputs(m.SerializeToString(), {"x": x}, threads=t)[0] for t in (1, 2)]
    want = table.astype(np.uint8)[xq]
    check(f"QLinearLookup of {n} bytes: threads 1 and 2 equal, each byte its table entry (within one step)",
          np.array_equal(got[0], got[1]) and int(np.max(np.abs(got[0].astype(int) - want))) <= 1)

# DynamicQuantizeLinear, its min/max and quantizing passes in parts over the pool: scale, zero point and
# every byte equal at 1 and 2 threads and to the formula in numpy, with the extremes in different
# parts (the last element the minimum, the first the maximum), an all-positive tensor (the range still
# takes 0), below and above the split
for n in (1000, 262147, 3 * 1048576 + 5):
    for shift in (0.0, 5.0):
        x = (rng.standard_normal(n) + shift).astype(np.float32)
        x[-1], x[0] = x.min() - 1, x.max() + 1
        m = make_model([helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "ys", "yz"])],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                       [helper.make_tensor_value_info(v, t, None) for v, t in
                        (("y", TensorProto.UINT8), ("ys", TensorProto.FLOAT), ("yz", TensorProto.UINT8))])
        got = [sinter_outputs(m.SerializeToString(), {"x": x}, threads=t) for t in (1, 2)]
        lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
        scale = np.float32((np.float32(hi) - np.float32(lo)) / np.float32(255))
        zp = np.clip(np.rint(np.float32(0) - np.float32(lo) / scale), 0, 255)
        want = np.clip(np.rint(x / scale) + zp, 0, 255).astype(np.uint8)
        same = all(np.array_equal(a, b) for a, b in zip(got[0], got[1]))
        close = float(got[0][1]) == float(scale) and int(got[0][2]) == int(zp) and \
            int(np.max(np.abs(got[0][0].astype(int) - want))) <= 1
        check(f"DynamicQuantizeLinear of {n} floats (shift {shift}): threads 1 and 2 equal, scale and zero point the "
              "formula's, each byte within one step of it", same and close)

# Softmax / LogSoftmax over an axis that is not the last (float32: vectors along the positions after
# it, parts of the outer slices, or of those positions where the slices are fewer than the threads):
# YOLOv8's softmax over 16 bins of [1, 16, 4, 8400], a few slices, one slice of 300; 2 threads equal 1
# bit for bit (each position's sums in the same order), both within 1e-6 of numpy in double (of the
# output's scale: LogSoftmax's reach -87 here)
for shape, axis in (((1, 16, 4, 2100), 1), ((3, 7, 5, 40), 1), ((5, 300), 0), ((2, 3, 9), 1)):
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    x.flat[7] = 80.0  # (a large value: the shift by the maximum keeps exp finite)
    for op in ("Softmax", "LogSoftmax"):
        m = make_model([helper.make_node(op, ["x"], ["y"], axis=axis)],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], opset=13)
        got = [sinter_outputs(m.SerializeToString(), {"x": x}, threads=t)[0] for t in (1, 2)]
        xd = x.astype(np.float64)
        lse = np.log(np.sum(np.exp(xd - xd.max(axis=axis, keepdims=True)), axis=axis, keepdims=True)) + \
            xd.max(axis=axis, keepdims=True)
        want = np.exp(xd - lse) if op == "Softmax" else xd - lse
        err = float(np.max(np.abs(got[0] - want))) if got[0].shape == want.shape else float("inf")
        check(f"{op} {shape} axis {axis}: threads 1 and 2 equal, within 1e-6 of numpy (of the output's scale)",
              np.array_equal(got[0], got[1]) and err <= 1e-6 * max(1.0, float(np.max(np.abs(want)))), f"error {err:.2e}")

sys.exit(finish())
