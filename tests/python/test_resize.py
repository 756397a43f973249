"""Float32 linear and cubic Resize of the last two axes (ops/resize.c, resize_last2_f32) against ONNX
Runtime: upsampling rows (each input row's horizontal pass made once and blended, LRASPP's
21 x 32 x 32 -> 256 x 256 head), downsampling, one axis up and the other down, several planes, the
coordinate transformations exporters use, on 1 and 2 threads.

    SINTER_BUILD=build .venv/bin/python tests/python/test_resize.py

Prints "N passed, M failed"; exits 1 on any failure.
"""
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from testlib import check, finish, make_model, ort_outputs, sinter_outputs

rng = np.random.default_rng(23)

# name, input shape, output sizes of the last two axes, mode, coordinate transformation
CASES = [
    ("lraspp_head", [1, 21, 32, 32], [256, 256], "linear", "half_pixel"),
    ("up_odd", [2, 5, 13, 17], [40, 51], "linear", "half_pixel"),
    ("up_align", [1, 3, 7, 9], [29, 20], "linear", "align_corners"),
    ("up_asym", [1, 4, 6, 6], [24, 18], "linear", "asymmetric"),
    ("up_pytorch", [1, 2, 5, 8], [17, 8], "linear", "pytorch_half_pixel"),
    ("up_cubic", [1, 3, 9, 11], [31, 25], "cubic", "half_pixel"),
    ("down", [1, 6, 40, 33], [13, 10], "linear", "half_pixel"),
    ("up_rows_down_cols", [2, 3, 8, 64], [32, 20], "linear", "half_pixel"),
    ("down_rows_up_cols", [1, 3, 48, 7], [12, 30], "cubic", "align_corners"),
]


def resize_model(shape, out_hw, mode, ctm):
    sizes = numpy_helper.from_array(np.array(shape[:2] + out_hw, np.int64), "sizes")
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode=mode, coordinate_transformation_mode=ctm)
    return make_model([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [sizes],
                      opset=13).SerializeToString()


def main():
    for name, shape, out_hw, mode, ctm in CASES:
        model = resize_model(shape, out_hw, mode, ctm)
        feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
        want = ort_outputs(model, feeds)[0]
        for threads in (1, 2):
            got = sinter_outputs(model, feeds, threads=threads)[0]
            err = float(np.max(np.abs(got - want))) / float(np.max(np.abs(want))) if got.shape == want.shape else 1e9
            check(f"{name} threads {threads}", err <= 1e-5, f"shape {got.shape} vs {want.shape}, relative error {err:.2e}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
