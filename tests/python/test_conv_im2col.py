"""Convolutions on the im2col + GEMM path (1-D, 3-D, and 2-D below the blocked layout's level), against
ONNX Runtime. With packed weights the columns are written straight into the GEMM's B slivers
(sn_im2col_slivers_f32): position runs that cross rows of the last output dimension, partial last
slivers, strides, dilations, asymmetric pads, taps that read only padding, a last dimension so short
that a sliver holds more runs than the fast path keeps (the plain im2col then), a kernel with more taps
than its table (likewise), on 1 and 2 threads and at every ISA level.

    SINTER_BUILD=build .venv/bin/python tests/python/test_conv_im2col.py

Prints "N passed, M failed"; exits 1 on any failure.
"""
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from testlib import check, finish, isa_level, make_model, ort_outputs, rel_err, sinter_outputs

rng = np.random.default_rng(17)

# name, x shape [N, C, spatial...], M, kernel, strides, dilations, pads (begin..., end...), bias
CASES = [
    ("3d_k3", [1, 5, 4, 9, 11], 7, [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1, 1, 1, 1], True),
    ("3d_stride2", [2, 6, 5, 12, 13], 9, [3, 3, 3], [2, 2, 2], [1, 1, 1], [1, 1, 1, 1, 1, 1], True),
    ("3d_dil2_asym", [1, 4, 6, 10, 9], 5, [3, 3, 3], [1, 1, 1], [2, 1, 2], [2, 0, 1, 1, 2, 3], False),
    ("3d_k133", [1, 8, 3, 14, 15], 16, [1, 3, 3], [1, 1, 1], [1, 1, 1], [0, 1, 1, 0, 1, 1], True),
    ("3d_k311", [1, 8, 7, 6, 5], 12, [3, 1, 1], [1, 1, 1], [1, 1, 1], [1, 0, 0, 1, 0, 0], True),
    ("3d_stem", [1, 3, 4, 28, 28], 16, [3, 7, 7], [1, 2, 2], [1, 1, 1], [1, 3, 3, 1, 3, 3], False),
    # width 2: a 32-column sliver holds 16 runs (more than the fast path's table)
    ("3d_narrow", [1, 6, 5, 20, 2], 8, [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1, 1, 1, 1], True),
    # pads wider than the kernel: whole runs of taps read only padding
    ("3d_bigpad", [1, 3, 2, 5, 6], 4, [3, 3, 3], [1, 1, 1], [1, 1, 1], [3, 2, 4, 3, 1, 4], True),
    ("1d_k7s3", [2, 4, 100], 6, [7], [3], [1], [3, 2], True),
    # more taps than the per-sliver table: the plain im2col
    ("1d_k1100", [1, 2, 1200], 3, [1100], [1], [1], [0, 0], False),
]
# 2-D at level 2 (level 3 takes the blocked layout instead)
CASES_2D = [
    ("2d_k3", [2, 3, 17, 23], 10, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], True),
    ("2d_k5s2_dil", [1, 7, 31, 29], 13, [5, 5], [2, 2], [2, 1], [3, 0, 1, 4], True),
]


def conv_model(x_shape, M, k, strides, dil, pads, bias):
    C = x_shape[1]
    w = (rng.standard_normal([M, C] + k) / np.sqrt(C * np.prod(k))).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w")]
    ins = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(M).astype(np.float32), "b"))
        ins.append("b")
    node = helper.make_node("Conv", ins, ["y"], kernel_shape=k, strides=strides, dilations=dil, pads=pads)
    return make_model([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits).SerializeToString()


def main():
    isas = ["auto", "avx2", "scalar"] if isa_level() == "avx512" else ["auto", "scalar"]
    for cases, level in ((CASES, None), (CASES_2D, 2)):
        for name, x_shape, M, k, strides, dil, pads, bias in cases:
            model = conv_model(x_shape, M, k, strides, dil, pads, bias)
            feeds = {"x": rng.standard_normal(x_shape).astype(np.float32)}
            want = ort_outputs(model, feeds)[0]
            for isa in isas:
                for threads in (1, 2):
                    opts = {"threads": threads}
                    if isa != "auto":
                        opts["isa"] = isa
                    if level:
                        opts["opt_level"] = level
                    got = sinter_outputs(model, feeds, **opts)[0]
                    err = rel_err(got, want) if got.shape == want.shape else float("inf")
                    check(f"{name} isa {isa} threads {threads}", err <= 1e-5,
                          f"shape {got.shape} vs {want.shape}, relative error {err:.2e}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
