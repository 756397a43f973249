"""Bad models and bad inputs get clear errors naming what is wrong and where, never a crash: each
case runs `sinter run` and checks the exit status (1), that no signal killed it, and that the
message names the node / value / op at fault.

Plain python: prints "N passed, M failed", exits non-zero on failure. SINTER_BUILD names the build
folder (default <repo>/build)."""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto as T, helper as h

from testlib import SINTER, check, finish, make_model, set_verbose


def model(nodes, inputs, outputs, inits=(), opset=17):
    return make_model(nodes, inputs, outputs, inits, opset=opset, name="bad").SerializeToString()


def sinter_model(nodes, inputs, outputs, inits=()):
    """A model using the sinter domain's blocked-layout ops (as a saved -O3 model does)."""
    return make_model(nodes, inputs, outputs, inits, opset=17, domains={"sinter": 1}, name="bad").SerializeToString()


def blocked_cases():
    """Hand-made (hostile) blocked-layout nodes: wrong packed weights, ranks, blocks, scales."""
    xb = h.make_tensor_value_info("xb", T.FLOAT, [1, 2, 8, 8, 16])
    out = h.make_tensor_value_info("out", T.FLOAT, None)
    w = h.make_tensor("w", T.FLOAT, [1, 1, 3, 3, 16, 16], np.zeros(2304, np.float32))
    yield "blocked conv weights do not fit", sinter_model(
        [h.make_node("NchwcConv", ["xb", "w"], ["out"], name="nconv", domain="sinter", kernel_shape=[3, 3],
                     pads=[1, 1, 1, 1], channels=32, block=16)], [xb], [out], [w]), ["nconv", "packed weight"]
    yield "blocked conv without channels", sinter_model(
        [h.make_node("NchwcConv", ["xb", "w"], ["out"], name="nconv", domain="sinter", kernel_shape=[3, 3],
                     block=16)], [xb], [out], [w]), ["nconv", "channels"]
    yield "blocked conv input not blocked", sinter_model(
        [h.make_node("NchwcConv", ["x4", "w"], ["out"], name="nconv", domain="sinter", kernel_shape=[3, 3],
                     channels=16, block=16)], [h.make_tensor_value_info("x4", T.FLOAT, [1, 16, 8, 8])], [out], [w]), \
        ["nconv", "blocked"]
    # grouped: 2 groups of 16 channels read one input block each, so the weight holds 1 block a row, not 2
    yield "grouped blocked conv weight of the dense span", sinter_model(
        [h.make_node("NchwcConv", ["xb", "w2"], ["out"], name="gconv", domain="sinter", kernel_shape=[3, 3],
                     pads=[1, 1, 1, 1], channels=32, block=16, group=2, input_channels=32)], [xb], [out],
        [h.make_tensor("w2", T.FLOAT, [2, 2, 3, 3, 16, 16], np.zeros(9216, np.float32))]), ["gconv", "packed weight"]
    yield "grouped blocked conv without input_channels", sinter_model(
        [h.make_node("NchwcConv", ["xb", "w"], ["out"], name="gconv", domain="sinter", kernel_shape=[3, 3],
                     channels=32, block=16, group=2)], [xb], [out], [w]), ["gconv", "group = 2"]
    yield "grouped blocked conv input_channels past the input", sinter_model(
        [h.make_node("NchwcConv", ["xb", "w2"], ["out"], name="gconv", domain="sinter", kernel_shape=[3, 3],
                     pads=[1, 1, 1, 1], channels=32, block=16, group=2, input_channels=64)], [xb], [out],
        [h.make_tensor("w2", T.FLOAT, [2, 1, 3, 3, 16, 16], np.zeros(4608, np.float32))]), ["gconv", "packed weight"]
    yield "reorder block out of range", sinter_model(
        [h.make_node("ReorderInput", ["x4"], ["out"], name="rin", domain="sinter", block=0)],
        [h.make_tensor_value_info("x4", T.FLOAT, [1, 16, 8, 8])], [out]), ["rin", "block"]
    yield "reorder out of too few blocks", sinter_model(
        [h.make_node("ReorderOutput", ["xb"], ["out"], name="rout", domain="sinter", channels=64, block=16)],
        [xb], [out]), ["rout", "channels"]
    yield "reorder out squeezing a map larger than 1 x 1", sinter_model(
        [h.make_node("ReorderOutput", ["xb"], ["out"], name="rout", domain="sinter", channels=32, block=16,
                     squeeze=1)], [xb], [out]), ["rout", "1 x 1"]
    q = h.make_tensor_value_info("q", T.FLOAT, [5, 2, 8])
    k = h.make_tensor_value_info("k", T.FLOAT, [6, 3, 8])
    yield "sequence-first attention, K of another batch", sinter_model(
        [h.make_node("Attention", ["q", "k", "k"], ["out"], name="attn", domain="sinter", num_heads=2, seq_first=1)],
        [q, k], [out]), ["attn", "K [6,3,8]", "sequence first"]
    yield "sequence-first packed attention, 3H not whole", sinter_model(
        [h.make_node("Attention", ["q", "", ""], ["out"], name="attn", domain="sinter", num_heads=2, seq_first=1,
                     qkv_packed=1)], [q], [out]), ["attn", "multiple of 3"]
    yield "packed K/V not twice Q's width", sinter_model(
        [h.make_node("Attention", ["q", "k", ""], ["out"], name="attn", domain="sinter", num_heads=2, kv_packed=1)],
        [q, k], [out]), ["attn", "packed KV"]
    yield "packed K/V without Q", sinter_model(
        [h.make_node("Attention", ["", "k", ""], ["out"], name="attn", domain="sinter", num_heads=2, kv_packed=1)],
        [k], [out]), ["attn"]
    yield "channel scale of the wrong shape", sinter_model(
        [h.make_node("NchwcChannelMul", ["xb", "s"], ["out"], name="cmul", domain="sinter", block=16)],
        [xb, h.make_tensor_value_info("s", T.FLOAT, [1, 2, 2, 2, 16])], [out]), ["cmul", "scale"]


X = h.make_tensor_value_info("x", T.FLOAT, [2, 3])
Y = h.make_tensor_value_info("y", T.FLOAT, [2, 3])


def cases():
    ok_relu = model([h.make_node("Relu", ["x"], ["y"], name="act")], [X], [Y])
    yield "unknown op", model([h.make_node("Frobnicate", ["x"], ["y"], name="frob")], [X], [Y]), \
        ["Frobnicate", "frob"]
    yield "unsupported opset", model([h.make_node("Relu", ["x"], ["y"], name="act")], [X], [Y], opset=99), \
        ["opset 99"]
    yield "unknown domain", model([h.make_node("Relu", ["x"], ["y"], name="act", domain="com.example")], [X], [Y]), \
        ["com.example"]
    yield "cycle", model([h.make_node("Relu", ["z"], ["w"], name="a"), h.make_node("Relu", ["w"], ["z"], name="b"),
                          h.make_node("Add", ["x", "z"], ["y"], name="c")], [X], [Y]), ["cycle"]
    yield "missing value", model([h.make_node("Add", ["x", "nowhere"], ["y"], name="adder")], [X], [Y]), \
        ["nowhere", "adder"]
    yield "shapes that do not broadcast", model(
        [h.make_node("Add", ["x", "b"], ["y"], name="adder")], [X], [Y],
        [h.make_tensor("b", T.FLOAT, [4, 5], np.zeros(20, np.float32))]), ["adder", "[2,3]", "[4,5]"]
    yield "conv channel mismatch", model(
        [h.make_node("Conv", ["img", "w"], ["out"], name="conv1")],
        [h.make_tensor_value_info("img", T.FLOAT, [1, 3, 8, 8])], [h.make_tensor_value_info("out", T.FLOAT, None)],
        [h.make_tensor("w", T.FLOAT, [4, 2, 3, 3], np.zeros(72, np.float32))]), ["conv1", "Conv"]
    yield "truncated file", ok_relu[: len(ok_relu) // 2], ["malformed protobuf"]
    yield "random bytes", bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)), []
    yield "empty file", b"", []
    short = h.make_tensor("b", T.FLOAT, [2, 3], np.zeros(6, np.float32).tobytes(), raw=True)
    short.raw_data = short.raw_data[:12]
    yield "initializer too short", model(
        [h.make_node("Add", ["x", "b"], ["y"], name="adder")], [X], [Y], [short]), ["'b'"]
    newer = onnx.load_from_string(ok_relu)
    newer.ir_version = 14
    yield "IR version past the reader's", newer.SerializeToString(), ["IR version 14", "3 to 13"]
    int2 = h.make_tensor("b", T.FLOAT, [2, 3], np.zeros(6, np.float32).tobytes(), raw=True)
    int2.data_type = 26  # INT2 (IR 13), packed four to a byte
    int2.raw_data = bytes(2)
    ir13 = onnx.load_from_string(model([h.make_node("Add", ["x", "b"], ["y"], name="adder")], [X], [Y], [int2]))
    ir13.ir_version = 13
    yield "IR 13 INT2 initializer", ir13.SerializeToString(), ["'b'"]
    yield "external data outside the folder", model(
        [h.make_node("Add", ["x", "b"], ["y"], name="adder")], [X], [Y],
        [external("b", "../../etc/passwd")]), ["b", ".."]
    yield "external data absolute path", model(
        [h.make_node("Add", ["x", "b"], ["y"], name="adder")], [X], [Y],
        [external("b", "/etc/passwd")]), ["b"]


def external(name, location):
    t = h.make_tensor(name, T.FLOAT, [2, 3], np.zeros(6, np.float32).tobytes(), raw=True)
    t.ClearField("raw_data")
    t.data_location = T.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", location
    return t


def input_cases(tmp):
    """Wrong input names, dtypes and shapes on a good model."""
    path = os.path.join(tmp, "good.onnx")
    with open(path, "wb") as f:
        f.write(model([h.make_node("Relu", ["x"], ["y"], name="act")], [X], [Y]))
    bad = {
        "wrong input name": ("z", np.zeros((2, 3), np.float32), ["'z'", "'x'"]),
        "wrong input dtype": ("x", np.zeros((2, 3), np.int32), ["int32", "float32"]),
        "wrong input shape": ("x", np.zeros((2, 4), np.float32), ["[2,4]", "[2,3]"]),
    }
    for label, (name, arr, want) in bad.items():
        npy = os.path.join(tmp, label.replace(" ", "_") + ".npy")
        np.save(npy, arr)
        yield label, [SINTER, "run", path, "--input", f"{name}={npy}"], want


def expect_error(label, argv, want):
    """one check: argv exits 1 (no signal) with a message holding every string of want"""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    msg = (r.stdout + r.stderr).strip().replace("\n", " ")
    problems = []
    if r.returncode < 0:
        problems.append(f"killed by signal {-r.returncode}")
    elif r.returncode != 1:
        problems.append(f"exit status {r.returncode}, expected 1")
    for w in want:
        if w not in msg:
            problems.append(f"message lacks {w!r}")
    check(label, not problems, f"{'; '.join(problems)}: {msg[:300]}" if problems else msg[:160])


def main():
    set_verbose(True)
    with tempfile.TemporaryDirectory() as tmp:
        sub = os.path.join(tmp, "models")
        os.makedirs(sub)
        for i, (label, data, want) in enumerate(list(cases()) + list(blocked_cases())):
            path = os.path.join(sub, f"case{i}.onnx")
            with open(path, "wb") as f:
                f.write(data)
            expect_error(label, [SINTER, "run", path], want)
        for label, argv, want in input_cases(tmp):
            expect_error(label, argv, want)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
