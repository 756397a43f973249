"""Ops that split their own work over the intra-op pool (beyond the GEMM/convolution kernels), run on 1
and 2 threads against numpy, bit for bit:
  * Transpose: copies of 256 KiB and more go in parts along the outermost output axis of size 2+;
    permutations of rank 2..5, leading axes of size 1 (the split moves inward), an outermost axis
    shorter than the number of parts, odd sizes, 1-, 4- and 8-byte elements, and one copy below the
    threshold (one thread).

    SINTER_BUILD=build .venv/bin/python tests/python/test_threaded_ops.py

Prints "N passed, M failed"; exits 1 on any failure.
"""
import sys

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

sys.exit(finish())
