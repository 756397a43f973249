"""Float32 linear and cubic Resize of the last two axes (ops/resize.c, resize_last2_f32) against ONNX
Runtime: upsampling rows (each input row's horizontal pass made once and blended, LRASPP's
21 x 32 x 32 -> 256 x 256 head), downsampling, one axis up and the other down, several planes, the
coordinate transformations exporters use, on 1 and 2 threads. And nearest (resize_nearest_gather, any
element type: rows in parts over the pool, a repeated source row copied, rows without extrapolation
gathered unchecked): whole and fractional factors, every nearest_mode, tf_half_pixel_for_nn (Keras'
UpSampling2D through tf2onnx), tf_crop_and_resize with extrapolated rows and columns, 1-byte and 4-byte integer
elements; equal bit for bit.

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


# name, input shape, output sizes (all axes), coordinate transformation, nearest_mode, element type, roi
NEAREST = [
    ("x2_tf", [1, 64, 32, 32], [1, 64, 64, 64], "tf_half_pixel_for_nn", "floor", np.float32, None),
    ("x2_asym", [2, 3, 5, 7], [2, 3, 10, 14], "asymmetric", "floor", np.float32, None),
    ("x3_half", [1, 5, 4, 6], [1, 5, 12, 18], "half_pixel", "round_prefer_floor", np.float32, None),
    ("frac_ceil", [1, 2, 7, 9], [1, 2, 11, 20], "half_pixel", "ceil", np.float32, None),
    ("down_prefer_ceil", [1, 3, 17, 13], [1, 3, 6, 5], "align_corners", "round_prefer_ceil", np.float32, None),
    ("planes_and_rows", [3, 4, 6, 5], [2, 7, 9, 10], "asymmetric", "floor", np.float32, None),
    ("u8", [1, 3, 10, 10], [1, 3, 25, 15], "pytorch_half_pixel", "round_prefer_floor", np.uint8, None),
    ("i32", [2, 9, 7], [2, 18, 20], "half_pixel", "floor", np.int32, None),
    ("i8_3d", [2, 9, 7], [2, 5, 20], "asymmetric", "ceil", np.int8, None),
    ("crop_extrapolate", [1, 2, 8, 8], [1, 2, 12, 9], "tf_crop_and_resize", "round_prefer_floor", np.float32,
     [0, 0, -0.2, 0.1, 1, 1, 1.3, 0.9]),
    ("crop_extrapolate_u8", [1, 1, 6, 6], [1, 1, 9, 9], "tf_crop_and_resize", "floor", np.uint8,
     [0, 0, 0.5, -0.5, 1, 1, 1.5, 0.75]),
]


def nearest_model(shape, out, ctm, nm, dtype, roi):
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    inits = [numpy_helper.from_array(np.array(out, np.int64), "sizes")]
    ins = ["x", "", "", "sizes"]
    if roi is not None:
        inits.append(numpy_helper.from_array(np.array(roi, np.float32), "roi"))
        ins[1] = "roi"
    node = helper.make_node("Resize", ins, ["y"], mode="nearest", coordinate_transformation_mode=ctm, nearest_mode=nm,
                            extrapolation_value=7.0)
    return make_model([node], [helper.make_tensor_value_info("x", elem, shape)],
                      [helper.make_tensor_value_info("y", elem, None)], inits, opset=13).SerializeToString()


def main():
    for name, shape, out, ctm, nm, dtype, roi in NEAREST:
        model = nearest_model(shape, out, ctm, nm, dtype, roi)
        if np.dtype(dtype).kind == "f":
            x = rng.standard_normal(shape).astype(dtype)
        else:
            x = rng.integers(0, 100, shape).astype(dtype)
        want = ort_outputs(model, {"x": x})[0]
        for threads in (1, 2):
            got = sinter_outputs(model, {"x": x}, threads=threads)[0]
            same = got.shape == want.shape and got.dtype == want.dtype and np.array_equal(got, want)
            check(f"nearest {name} threads {threads}", same, f"shape {got.shape} vs {want.shape}, "
                  f"{int(np.count_nonzero(got != want)) if got.shape == want.shape else '-'} elements differ")
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
