"""Small models with the op patterns of real networks, built with onnx.helper and numpy (no torch).

Each builder returns a Case: the ONNX model, seeded feeds, and a name. The op mix follows what
torch.onnx.export produces for ResNet, MobileNetV2, SqueezeNet, EfficientNet, BERT, LSTM/GRU and a
UNet-style segmentation network. Weights are random (seeded) and scaled so activations stay O(1).
"""
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F32 = TensorProto.FLOAT
I64 = TensorProto.INT64


class Case:
    def __init__(self, name, model, feeds, note=""):
        self.name = name
        self.model = model
        self.feeds = feeds
        self.note = note


class Builder:
    """Accumulates nodes and initializers; names are generated and unique."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.count = 0

    def fresh(self, prefix):
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, arr, prefix="c"):
        name = self.fresh(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def i64(self, values, prefix="shape"):
        return self.const(np.asarray(values, dtype=np.int64), prefix)

    def f32(self, value, prefix="k"):
        return self.const(np.asarray(value, dtype=np.float32), prefix)

    def op(self, op_type, inputs, n_out=1, name=None, **attrs):
        outs = [self.fresh(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=name or self.fresh(op_type), **attrs))
        return outs[0] if n_out == 1 else outs

    def randn(self, *shape, scale=1.0):
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    # ---- layers ----
    def conv(self, x, cin, cout, k, stride=1, pad=None, group=1, bias=True, dilation=1):
        pad = (k // 2) * dilation if pad is None else pad
        w = self.const(self.randn(cout, cin // group, k, k, scale=math.sqrt(2.0 / (cin // group * k * k))), "conv_w")
        ins = [x, w]
        if bias:
            ins.append(self.const(self.randn(cout, scale=0.1), "conv_b"))
        return self.op("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=group,
                       dilations=[dilation, dilation])

    def bn(self, x, c):
        scale = self.const((1.0 + 0.1 * self.rng.standard_normal(c)).astype(np.float32), "bn_scale")
        bias = self.const(self.randn(c, scale=0.1), "bn_bias")
        mean = self.const(self.randn(c, scale=0.1), "bn_mean")
        var = self.const((0.5 + self.rng.random(c)).astype(np.float32), "bn_var")
        return self.op("BatchNormalization", [x, scale, bias, mean, var], epsilon=1e-5)

    def relu6(self, x):
        return self.op("Clip", [x, self.f32(0.0, "min"), self.f32(6.0, "max")])

    def silu(self, x):
        return self.op("Mul", [x, self.op("Sigmoid", [x])])

    def gemm(self, x, cin, cout):
        w = self.const(self.randn(cout, cin, scale=math.sqrt(1.0 / cin)), "fc_w")
        b = self.const(self.randn(cout, scale=0.1), "fc_b")
        return self.op("Gemm", [x, w, b], alpha=1.0, beta=1.0, transB=1)

    def linear(self, x, cin, cout, scale=None):
        """MatMul + Add, as torch exports nn.Linear on 3-D inputs."""
        w = self.const(self.randn(cin, cout, scale=scale or math.sqrt(1.0 / cin)), "lin_w")
        b = self.const(self.randn(cout, scale=0.02), "lin_b")
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def model(self, name, inputs, outputs, opset=13):
        graph = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="sinter-model-zoo")
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def tensor_in(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def _image_feeds(seed, shape):
    return {"image": np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}


# ---- CNNs ---------------------------------------------------------------------------------------------

def resnet(seed=1, batch=2):
    b = Builder(seed)
    x = b.op("Relu", [b.bn(b.conv("image", 3, 16, 7, stride=2, pad=3, bias=False), 16)])
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])

    def block(x, cin, cout, stride):
        y = b.op("Relu", [b.bn(b.conv(x, cin, cout, 3, stride=stride, bias=False), cout)])
        y = b.bn(b.conv(y, cout, cout, 3, bias=False), cout)
        if stride != 1 or cin != cout:
            x = b.bn(b.conv(x, cin, cout, 1, stride=stride, pad=0, bias=False), cout)
        return b.op("Relu", [b.op("Add", [y, x])])

    x = block(x, 16, 16, 1)
    x = block(x, 16, 16, 1)
    x = block(x, 16, 32, 2)
    x = block(x, 32, 32, 1)
    x = b.op("GlobalAveragePool", [x])
    x = b.op("Flatten", [x], axis=1)
    b.nodes[-1].output[0] = "flat"
    logits = b.gemm("flat", 32, 10)
    b.nodes[-1].output[0] = "logits"
    m = b.model("resnet_like", [tensor_in("image", F32, ["N", 3, 64, 64])], [tensor_in("logits", F32, ["N", 10])])
    return Case("resnet", m, _image_feeds(seed, (batch, 3, 64, 64)))


def resnext(seed=22, batch=2):
    """ResNeXt / RegNet-style bottlenecks: grouped 3x3 convolutions of 8 (ResNeXt), 16 (RegNetY), 24 (RegNetX:
    groups straddling 16-channel blocks) and 4 channels a group (the last on NCHW between reorders, the others
    on the blocked layout), a strided one, a grouped 1x1 (ShuffleNet), output channels a group other than its
    input's, squeeze-excitation after one (RegNetY), residual adds."""
    b = Builder(seed)
    x = b.op("Relu", [b.bn(b.conv("image", 3, 32, 3, stride=2, bias=False), 32)])

    def block(x, cin, width, cout, group, stride, se=False):
        y = b.op("Relu", [b.bn(b.conv(x, cin, width, 1, pad=0, bias=False), width)])
        y = b.op("Relu", [b.bn(b.conv(y, width, width, 3, stride=stride, group=group, bias=False), width)])
        if se:
            s = b.op("GlobalAveragePool", [y])
            s = b.op("Relu", [b.conv(s, width, width // 4, 1, pad=0)])
            y = b.op("Mul", [y, b.op("Sigmoid", [b.conv(s, width // 4, width, 1, pad=0)])])
        y = b.bn(b.conv(y, width, cout, 1, pad=0, bias=False), cout)
        if stride != 1 or cin != cout:
            x = b.bn(b.conv(x, cin, cout, 1, stride=stride, pad=0, bias=False), cout)
        return b.op("Relu", [b.op("Add", [y, x])])

    x = block(x, 32, 64, 64, 8, 1)             # 8 channels a group: two groups a block
    x = block(x, 64, 64, 96, 4, 2, se=True)    # 16 a group, strided, squeeze-excitation
    x = block(x, 96, 96, 96, 4, 1)             # 24 a group: groups across blocks
    x = block(x, 96, 128, 96, 32, 1)           # 4 a group: NCHW kernel
    x = b.op("Relu", [b.conv(x, 96, 48, 1, pad=0, group=2)])  # grouped 1x1, 48 -> 24 a group
    x = b.conv(x, 48, 64, 3, group=4)          # 12 -> 16 a group
    x = b.op("GlobalAveragePool", [x])
    x = b.op("Flatten", [x], axis=1)
    b.nodes[-1].output[0] = "flat"
    logits = b.gemm("flat", 64, 10)
    b.nodes[-1].output[0] = "logits"
    m = b.model("resnext_like", [tensor_in("image", F32, ["N", 3, 40, 40])], [tensor_in("logits", F32, ["N", 10])])
    return Case("resnext", m, _image_feeds(seed, (batch, 3, 40, 40)))


def mobilenetv2(seed=2, batch=2):
    b = Builder(seed)
    x = b.relu6(b.bn(b.conv("image", 3, 16, 3, stride=2, bias=False), 16))

    def inverted(x, cin, cout, stride, t):
        hid = cin * t
        y = b.relu6(b.bn(b.conv(x, cin, hid, 1, pad=0, bias=False), hid))
        y = b.relu6(b.bn(b.conv(y, hid, hid, 3, stride=stride, group=hid, bias=False), hid))  # depthwise
        y = b.bn(b.conv(y, hid, cout, 1, pad=0, bias=False), cout)
        return b.op("Add", [x, y]) if stride == 1 and cin == cout else y

    x = inverted(x, 16, 16, 1, 1)
    x = inverted(x, 16, 24, 2, 6)
    x = inverted(x, 24, 24, 1, 6)
    x = inverted(x, 24, 32, 2, 6)
    x = b.relu6(b.bn(b.conv(x, 32, 64, 1, pad=0, bias=False), 64))
    x = b.op("GlobalAveragePool", [x])
    x = b.op("Flatten", [x])
    x = b.op("Dropout", [x])  # inference: identity
    out = b.gemm(x, 64, 10)
    b.nodes[-1].output[0] = "logits"
    m = b.model("mobilenetv2_like", [tensor_in("image", F32, ["N", 3, 64, 64])], [tensor_in("logits", F32, ["N", 10])])
    return Case("mobilenetv2", m, _image_feeds(seed, (batch, 3, 64, 64)))


def squeezenet(seed=3, batch=2):
    b = Builder(seed)
    x = b.op("Relu", [b.conv("image", 3, 32, 3, stride=2, pad=0)])
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)

    def fire(x, cin, squeeze, expand):
        s = b.op("Relu", [b.conv(x, cin, squeeze, 1, pad=0)])
        e1 = b.op("Relu", [b.conv(s, squeeze, expand, 1, pad=0)])
        e3 = b.op("Relu", [b.conv(s, squeeze, expand, 3, pad=1)])
        return b.op("Concat", [e1, e3], axis=1)

    x = fire(x, 32, 8, 16)
    x = fire(x, 32, 8, 16)
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    x = fire(x, 32, 12, 24)
    x = b.op("Dropout", [x])
    x = b.op("Relu", [b.conv(x, 48, 10, 1, pad=0)])
    x = b.op("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)
    x = b.op("GlobalAveragePool", [x])
    b.op("Flatten", [x])
    b.nodes[-1].output[0] = "logits"
    m = b.model("squeezenet_like", [tensor_in("image", F32, ["N", 3, 65, 65])], [tensor_in("logits", F32, ["N", 10])])
    return Case("squeezenet", m, _image_feeds(seed, (batch, 3, 65, 65)))


def efficientnet(seed=4, batch=2):
    b = Builder(seed)
    x = b.silu(b.bn(b.conv("image", 3, 16, 3, stride=2, bias=False), 16))

    def se(x, c, r, gate, pool):
        if pool == "gap":
            s = b.op("GlobalAveragePool", [x])
        else:
            s = b.op("ReduceMean", [x], axes=[2, 3], keepdims=1)
        s = b.silu(b.conv(s, c, r, 1, pad=0))
        s = b.conv(s, r, c, 1, pad=0)
        s = b.op("Sigmoid", [s]) if gate == "sigmoid" else b.op("HardSigmoid", [s], alpha=1.0 / 6, beta=0.5)
        return b.op("Mul", [x, s])

    def mbconv(x, cin, cout, stride, t, act, gate, pool):
        hid = cin * t
        y = x
        if t != 1:
            y = act(b.bn(b.conv(y, cin, hid, 1, pad=0, bias=False), hid))
        y = act(b.bn(b.conv(y, hid, hid, 3, stride=stride, group=hid, bias=False), hid))
        y = se(y, hid, max(1, cin // 4), gate, pool)
        y = b.bn(b.conv(y, hid, cout, 1, pad=0, bias=False), cout)
        return b.op("Add", [x, y]) if stride == 1 and cin == cout else y

    def hardswish(v):
        return b.op("HardSwish", [v])

    x = mbconv(x, 16, 16, 1, 1, b.silu, "sigmoid", "gap")
    x = mbconv(x, 16, 24, 2, 6, b.silu, "sigmoid", "reducemean")
    x = mbconv(x, 24, 24, 1, 6, hardswish, "hardsigmoid", "gap")
    x = mbconv(x, 24, 40, 2, 4, hardswish, "hardsigmoid", "reducemean")
    x = b.silu(b.bn(b.conv(x, 40, 64, 1, pad=0, bias=False), 64))
    x = b.op("GlobalAveragePool", [x])
    x = b.op("Flatten", [x])
    b.gemm(x, 64, 10)
    b.nodes[-1].output[0] = "logits"
    m = b.model("efficientnet_like", [tensor_in("image", F32, ["N", 3, 64, 64])], [tensor_in("logits", F32, ["N", 10])],
                opset=14)
    return Case("efficientnet", m, _image_feeds(seed, (batch, 3, 64, 64)))


def convnext(seed=20, batch=2):
    """ConvNeXt as torchvision exports it: channels-last LayerNorms between Transposes, each block a
    depthwise 7x7, a Transpose to NHWC, LayerNorm, Linear + GELU (Erf form) + Linear, Transpose back,
    a layer scale gamma [C, 1, 1] and the residual Add; a downsampling stage between."""
    b = Builder(seed)

    def ln_nhwc(x, c):
        g = b.const((1.0 + 0.1 * b.rng.standard_normal(c)).astype(np.float32), "ln_g")
        return b.op("LayerNormalization", [x, g, b.const(b.randn(c, scale=0.1), "ln_b")], axis=-1, epsilon=1e-6)

    def ln2d(x, c):  # LayerNorm over channels of an NCHW map
        return b.op("Transpose", [ln_nhwc(b.op("Transpose", [x], perm=[0, 2, 3, 1]), c)], perm=[0, 3, 1, 2])

    def gelu(x):
        e = b.op("Erf", [b.op("Div", [x, b.f32(1.4142135)])])
        return b.op("Mul", [b.op("Mul", [x, b.op("Add", [e, b.f32(1.0)])]), b.f32(0.5)])

    def block(x, c):
        y = b.op("Transpose", [b.conv(x, c, c, 7, group=c)], perm=[0, 2, 3, 1])
        y = b.linear(gelu(b.linear(ln_nhwc(y, c), c, 4 * c)), 4 * c, c)
        y = b.op("Transpose", [y], perm=[0, 3, 1, 2])
        gamma = b.const(b.rng.uniform(0.5, 1.5, (c, 1, 1)).astype(np.float32), "gamma")
        return b.op("Add", [b.op("Mul", [gamma, y]), x])

    x = ln2d(b.conv("image", 3, 16, 4, stride=4, pad=0), 16)
    x = block(block(x, 16), 16)
    x = b.conv(ln2d(x, 16), 16, 32, 2, stride=2, pad=0)
    x = block(block(x, 32), 32)
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])])
    b.gemm(x, 32, 10)
    b.nodes[-1].output[0] = "logits"
    m = b.model("convnext_like", [tensor_in("image", F32, ["N", 3, 32, 32])], [tensor_in("logits", F32, ["N", 10])],
                opset=17)
    return Case("convnext", m, _image_feeds(seed, (batch, 3, 32, 32)))


# ---- BERT-like encoder ----------------------------------------------------------------------------------

def bert(seed=5, batch=2, seq=16, layers=2, hidden=64, heads=4, vocab=100, max_pos=64):
    b = Builder(seed)
    dh = hidden // heads
    ff = hidden * 4

    # embeddings: Gather(token table) + Gather(position table, sliced position ids)
    tok = b.op("Gather", [b.const(b.randn(vocab, hidden, scale=0.5), "tok_emb"), "input_ids"], axis=0)
    ids_shape = b.op("Shape", ["input_ids"])
    seq_len = b.op("Unsqueeze", [b.op("Gather", [ids_shape, b.i64(1, "idx")], axis=0), b.i64([0], "axes")])
    pos_ids = b.op("Slice", [b.const(np.arange(max_pos, dtype=np.int64)[None, :], "pos_ids"), b.i64([0]), seq_len,
                             b.i64([1])])
    pos = b.op("Gather", [b.const(b.randn(max_pos, hidden, scale=0.5), "pos_emb"), pos_ids], axis=0)
    x = b.op("Add", [tok, pos])

    def layernorm_fused(x):
        g = b.const((1 + 0.1 * b.rng.standard_normal(hidden)).astype(np.float32), "ln_g")
        beta = b.const(b.randn(hidden, scale=0.1), "ln_b")
        return b.op("LayerNormalization", [x, g, beta], axis=-1, epsilon=1e-12)

    def layernorm_decomposed(x):
        # what torch exports for LayerNorm before opset 17
        g = b.const((1 + 0.1 * b.rng.standard_normal(hidden)).astype(np.float32), "ln_g")
        beta = b.const(b.randn(hidden, scale=0.1), "ln_b")
        mean = b.op("ReduceMean", [x], axes=[-1], keepdims=1)
        d = b.op("Sub", [x, mean])
        var = b.op("ReduceMean", [b.op("Pow", [d, b.f32(2.0)])], axes=[-1], keepdims=1)
        den = b.op("Sqrt", [b.op("Add", [var, b.f32(1e-12)])])
        return b.op("Add", [b.op("Mul", [b.op("Div", [d, den]), g]), beta])

    x = layernorm_fused(x)

    # extended attention mask: (1 - mask[:, None, None, :].float()) * -10000
    m4 = b.op("Unsqueeze", ["attention_mask", b.i64([1, 2], "axes")])
    mf = b.op("Cast", [m4], to=F32)
    mask_add = b.op("Mul", [b.op("Sub", [b.f32(1.0), mf]), b.f32(-10000.0)])

    def dims_bs(t):
        sh = b.op("Shape", [t])
        bsz = b.op("Unsqueeze", [b.op("Gather", [sh, b.i64(0, "idx")], axis=0), b.i64([0], "axes")])
        sq = b.op("Unsqueeze", [b.op("Gather", [sh, b.i64(1, "idx")], axis=0), b.i64([0], "axes")])
        return bsz, sq

    def heads_view(t, bsz, sq, perm):
        shape = b.op("Concat", [bsz, sq, b.i64([heads]), b.i64([dh])], axis=0)
        return b.op("Transpose", [b.op("Reshape", [t, shape])], perm=perm)

    for layer in range(layers):
        ln = layernorm_fused if layer % 2 else layernorm_decomposed
        bsz, sq = dims_bs(x)
        q = heads_view(b.linear(x, hidden, hidden), bsz, sq, [0, 2, 1, 3])
        k = heads_view(b.linear(x, hidden, hidden), bsz, sq, [0, 2, 3, 1])
        v = heads_view(b.linear(x, hidden, hidden), bsz, sq, [0, 2, 1, 3])
        scores = b.op("Div", [b.op("MatMul", [q, k]), b.f32(math.sqrt(dh))])
        probs = b.op("Softmax", [b.op("Add", [scores, mask_add])], axis=-1)
        ctx = b.op("Transpose", [b.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        ctx = b.op("Reshape", [ctx, b.op("Concat", [bsz, sq, b.i64([hidden])], axis=0)])
        x = ln(b.op("Add", [b.linear(ctx, hidden, hidden), x]))
        h = b.linear(x, hidden, ff)
        gelu = b.op("Mul", [b.op("Mul", [h, b.op("Add", [b.op("Erf", [b.op("Div", [h, b.f32(math.sqrt(2.0))])]),
                                                         b.f32(1.0)])]), b.f32(0.5)])
        x = ln(b.op("Add", [b.linear(gelu, ff, hidden), x]))

    b.op("Identity", [x])
    b.nodes[-1].output[0] = "last_hidden_state"
    first = b.op("Gather", ["last_hidden_state", b.i64(0, "idx")], axis=1)
    b.op("Tanh", [b.gemm(first, hidden, hidden)])
    b.nodes[-1].output[0] = "pooler_output"
    m = b.model("bert_like",
                [tensor_in("input_ids", I64, ["batch", "sequence"]), tensor_in("attention_mask", I64, ["batch", "sequence"])],
                [tensor_in("last_hidden_state", F32, ["batch", "sequence", hidden]),
                 tensor_in("pooler_output", F32, ["batch", hidden])], opset=17)
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=(batch, seq), dtype=np.int64)
    mask = np.ones((batch, seq), dtype=np.int64)
    for i in range(batch):
        mask[i, seq - 3 * i:] = 0  # padded tails of different lengths
    return Case("bert", m, {"input_ids": ids, "attention_mask": mask})


# ---- recurrent ------------------------------------------------------------------------------------------

def _rnn_weights(b, gates, dirs, inp, hid, scale=None):
    s = scale or 1.0 / math.sqrt(hid)
    w = b.const((b.rng.uniform(-s, s, (dirs, gates * hid, inp))).astype(np.float32), "W")
    r = b.const((b.rng.uniform(-s, s, (dirs, gates * hid, hid))).astype(np.float32), "R")
    bias = b.const((b.rng.uniform(-s, s, (dirs, 2 * gates * hid))).astype(np.float32), "B")
    return w, r, bias


def lstm2(seed=6, seq=20, batch=3, inp=32, hid=64):
    """Two stacked LSTM layers, as torch exports nn.LSTM(num_layers=2)."""
    b = Builder(seed)
    w, r, bias = _rnn_weights(b, 4, 1, inp, hid)
    y1, _, _ = b.op("LSTM", ["x", w, r, bias], n_out=3, hidden_size=hid)
    x2 = b.op("Squeeze", [y1, b.i64([1], "axes")])
    w, r, bias = _rnn_weights(b, 4, 1, hid, hid)
    b.nodes.append(helper.make_node("LSTM", [x2, w, r, bias], ["y", "y_h", "y_c"], name="lstm2", hidden_size=hid))
    m = b.model("lstm2", [tensor_in("x", F32, ["seq", "batch", inp])],
                [tensor_in("y", F32, ["seq", 1, "batch", hid]), tensor_in("y_h", F32, [1, "batch", hid]),
                 tensor_in("y_c", F32, [1, "batch", hid])])
    feeds = {"x": np.random.default_rng(seed).standard_normal((seq, batch, inp)).astype(np.float32)}
    return Case("lstm2", m, feeds)


def lstm_bidir(seed=7, seq=12, batch=3, inp=16, hid=24, with_lens=False):
    b = Builder(seed)
    w, r, bias = _rnn_weights(b, 4, 2, inp, hid)
    ins = ["x", w, r, bias, "seq_lens" if with_lens else "", "h0", "c0"]
    b.nodes.append(helper.make_node("LSTM", ins, ["y", "y_h", "y_c"], name="bilstm", hidden_size=hid,
                                    direction="bidirectional"))
    inputs = [tensor_in("x", F32, [seq, "batch", inp])]
    if with_lens:
        inputs.append(tensor_in("seq_lens", TensorProto.INT32, ["batch"]))
    inputs += [tensor_in("h0", F32, [2, "batch", hid]), tensor_in("c0", F32, [2, "batch", hid])]
    m = b.model("lstm_bidir", inputs,
                [tensor_in("y", F32, [seq, 2, "batch", hid]), tensor_in("y_h", F32, [2, "batch", hid]),
                 tensor_in("y_c", F32, [2, "batch", hid])])
    rng = np.random.default_rng(seed)
    feeds = {"x": rng.standard_normal((seq, batch, inp)).astype(np.float32)}
    if with_lens:
        feeds["seq_lens"] = np.array([seq, seq - 4, 5][:batch], dtype=np.int32)
    feeds["h0"] = (0.5 * rng.standard_normal((2, batch, hid))).astype(np.float32)
    feeds["c0"] = (0.5 * rng.standard_normal((2, batch, hid))).astype(np.float32)
    return Case("lstm_bidir_seqlens" if with_lens else "lstm_bidir", m, feeds)


def gru(seed=8, seq=15, batch=2, inp=16, hid=32, linear_before_reset=1, direction="forward"):
    b = Builder(seed)
    dirs = 2 if direction == "bidirectional" else 1
    w, r, bias = _rnn_weights(b, 3, dirs, inp, hid)
    b.nodes.append(helper.make_node("GRU", ["x", w, r, bias], ["y", "y_h"], name="gru", hidden_size=hid,
                                    linear_before_reset=linear_before_reset, direction=direction))
    m = b.model("gru", [tensor_in("x", F32, ["seq", "batch", inp])],
                [tensor_in("y", F32, ["seq", dirs, "batch", hid]), tensor_in("y_h", F32, [dirs, "batch", hid])])
    feeds = {"x": np.random.default_rng(seed).standard_normal((seq, batch, inp)).astype(np.float32)}
    name = "gru" if (linear_before_reset, direction) == (1, "forward") else f"gru_{direction}_lbr{linear_before_reset}"
    return Case(name, m, feeds)


# ---- segmentation (UNet-like) ---------------------------------------------------------------------------

def segmentation(seed=9, batch=2):
    b = Builder(seed)
    e1 = b.op("Relu", [b.conv("image", 3, 8, 3)])                           # 32x32
    p1 = b.op("MaxPool", [e1], kernel_shape=[2, 2], strides=[2, 2])         # 16x16
    e2 = b.op("Relu", [b.conv(p1, 8, 16, 3)])
    p2 = b.op("MaxPool", [e2], kernel_shape=[2, 2], strides=[2, 2])         # 8x8
    mid = b.op("Relu", [b.conv(p2, 16, 32, 3)])

    # up 1: ConvTranspose (k2 s2) back to 16x16, concat the skip
    wt = b.const(b.randn(32, 16, 2, 2, scale=math.sqrt(1.0 / 32)), "convT_w")
    u1 = b.op("ConvTranspose", [mid, wt, b.const(b.randn(16, scale=0.1), "convT_b")], kernel_shape=[2, 2],
              strides=[2, 2])
    d1 = b.op("Relu", [b.conv(b.op("Concat", [u1, e2], axis=1), 32, 16, 3)])
    # a second ConvTranspose with padding and output_padding (odd sizes)
    wt2 = b.const(b.randn(16, 4, 3, 3, scale=math.sqrt(1.0 / 16 / 9)), "convT2_w")
    side = b.op("ConvTranspose", [d1, wt2], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                output_padding=[1, 1])                                        # 32x32

    # up 2: nearest Resize (torch nn.Upsample(scale_factor=2)), reflect + constant Pad, valid conv
    u2 = b.op("Resize", [d1, "", b.f32([1, 1, 2, 2], "scales")], mode="nearest",
              coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    padded = b.op("Pad", [u2, b.i64([0, 0, 1, 1, 0, 0, 1, 1], "pads")], mode="reflect")
    d2 = b.op("Relu", [b.conv(padded, 16, 8, 3, pad=0)])                      # 32x32
    padded2 = b.op("Pad", [d2, b.i64([0, 0, 0, 0, 0, 0, 2, 2], "pads"), b.f32(0.5, "pad_value")], mode="constant")
    d2 = b.op("Slice", [padded2, b.i64([0, 0]), b.i64([32, 32]), b.i64([2, 3])])
    cat = b.op("Concat", [d2, e1, side], axis=1)                               # 8+8+4 = 20 channels
    head = b.conv(cat, 20, 6, 1, pad=0)

    # Split into heads (split sizes as an input, opset 13)
    seg, box = b.op("Split", [head, b.i64([4, 2], "split")], n_out=2, axis=1)
    b.op("Identity", [seg])
    b.nodes[-1].output[0] = "seg_logits"
    b.op("Sigmoid", [box])
    b.nodes[-1].output[0] = "box"
    # bilinear upsample of the segmentation logits to 64x64 (torch: align_corners=False)
    b.op("Resize", ["seg_logits", "", b.f32([1, 1, 2, 2], "scales")], mode="linear",
         coordinate_transformation_mode="pytorch_half_pixel")
    b.nodes[-1].output[0] = "seg_up"
    # and a Resize by sizes with align_corners, plus an equal 3-way split of the input
    sizes = b.op("Concat", [b.op("Slice", [b.op("Shape", ["box"]), b.i64([0]), b.i64([2])]), b.i64([48, 40])], axis=0)
    b.op("Resize", ["box", "", "", sizes], mode="linear", coordinate_transformation_mode="align_corners")
    b.nodes[-1].output[0] = "box_up"
    parts = b.op("Split", ["image"], n_out=3, axis=1)
    b.op("Sub", [parts[0], parts[2]])
    b.nodes[-1].output[0] = "r_minus_b"
    m = b.model("unet_like", [tensor_in("image", F32, ["N", 3, 32, 32])],
                [tensor_in("seg_logits", F32, ["N", 4, 32, 32]), tensor_in("box", F32, ["N", 2, 32, 32]),
                 tensor_in("seg_up", F32, ["N", 4, 64, 64]), tensor_in("box_up", F32, ["N", 2, 48, 40]),
                 tensor_in("r_minus_b", F32, ["N", 1, 32, 32])])
    return Case("segmentation", m, _image_feeds(seed, (batch, 3, 32, 32)))


# ---- the trained digits CNN shipped in models/digits ---------------------------------------------------

def digits():
    import os
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "digits")
    m = onnx.load(os.path.join(root, "digits.onnx"))
    images = np.load(os.path.join(root, "test_images.npy"))
    return Case("digits", m, {"image": images}, note="trained model, held-out images")


def batch1(case):
    """The case at batch 1: there the planner places channel-concatenated values inside the Concat's
    output (each input one contiguous slice), which batch 2 does not exercise."""
    return Case(case.name + "_b1", case.model, {k: v[:1] for k, v in case.feeds.items()},
                note="batch 1: Concat inputs planned inside the output")


def densenet(seed=12, batch=2, concat_all=False):
    """DenseNet-style: BatchNormalization + Relu before each convolution (not foldable into one), dense
    blocks of Concats that grow by 16 channels, a transition whose average pool PyTorch exports after a
    Pad of zeros. concat_all: each layer concatenates the block's input and every map so far (one Concat
    of many inputs, as torchvision exports it) rather than the previous Concat and its new map."""
    b = Builder(seed)
    x = b.op("Relu", [b.conv("image", 3, 32, 3, stride=2)])

    def layer(x, c):
        y = b.conv(b.op("Relu", [b.bn(x, c)]), c, 32, 1, bias=False)
        return b.conv(b.op("Relu", [b.bn(y, 32)]), 32, 16, 3, bias=False)

    def block(x, c, n):
        maps = [x]
        for _ in range(n):
            maps.append(layer(x, c))
            x = b.op("Concat", list(maps) if concat_all else [x, maps[-1]], axis=1)
            c += 16
        return x, c

    x, c = block(x, 32, 3)
    x = b.conv(b.op("Relu", [b.bn(x, c)]), c, 48, 1, bias=False)
    x = b.op("AveragePool", [b.op("Pad", [x, b.i64([0] * 8, "pads")], mode="constant")], kernel_shape=[2, 2],
             strides=[2, 2])
    x, c = block(x, 48, 2)
    x = b.op("Flatten", [b.op("GlobalAveragePool", [b.op("Relu", [b.bn(x, c)])])])
    y = b.gemm(x, c, 10)
    m = b.model("densenet", [tensor_in("image", TensorProto.FLOAT, [batch, 3, 32, 32])],
                [tensor_in(y, TensorProto.FLOAT, [batch, 10])])
    name = ("densenet_all" if concat_all else "densenet") + ("_b1" if batch == 1 else "")
    # (at batch 1 the planner writes each block's maps where its last Concat holds them)
    return Case(name, m, _image_feeds(seed, (batch, 3, 32, 32)))


def wide_nodes(seed=13, batch=2, parts=80):
    """Nodes with more than 64 inputs or outputs, as detection heads have (torchvision's SSDlite
    concatenates over 64 tensors of anchors): a Split into `parts` outputs, each scaled on its own,
    concatenated back in reverse order, and a Sum of 70 of them"""
    b = Builder(seed)
    x = b.conv("image", 3, parts, 3)
    pieces = b.op("Split", [x, b.i64([1] * parts, "split")], n_out=parts, axis=1)
    scaled = [b.op("Mul", [p, b.f32(0.5 + 0.01 * i)]) for i, p in enumerate(pieces)]
    y = b.op("Concat", scaled[::-1], axis=1)
    z = b.op("Sum", scaled[:70])
    m = b.model("wide_nodes", [tensor_in("image", TensorProto.FLOAT, [batch, 3, 16, 16])],
                [tensor_in(y, TensorProto.FLOAT, [batch, parts, 16, 16]),
                 tensor_in(z, TensorProto.FLOAT, [batch, 1, 16, 16])])
    return Case("wide_nodes", m, _image_feeds(seed, (batch, 3, 16, 16)))


def seg_head(seed=14, batch=2):
    """A segmentation head's resizes (LRASPP, DeepLabV3, FCN): bilinear half_pixel from 1/8 to full
    size by sizes, cubic by scales, align_corners, and a 1-D linear resize of a rank-3 tensor"""
    b = Builder(seed)
    x = b.conv("image", 3, 21, 3, stride=8)  # 64x64 -> 8x8
    sizes = b.i64([batch, 21, 64, 64], "sizes")
    up = b.op("Resize", [x, "", "", sizes], mode="linear", coordinate_transformation_mode="half_pixel")
    cub = b.op("Resize", [x, "", b.f32([1, 1, 3.0, 2.5], "scales")], mode="cubic",
               coordinate_transformation_mode="pytorch_half_pixel")
    ac = b.op("Resize", [x, "", "", b.i64([batch, 21, 13, 17], "sizes")], mode="linear",
              coordinate_transformation_mode="align_corners")
    seq = b.op("Reshape", [x, b.i64([batch, 21, 64], "shape")])
    one = b.op("Resize", [seq, "", b.f32([1, 1, 2.5], "scales")], mode="linear")
    outs = [tensor_in(up, TensorProto.FLOAT, [batch, 21, 64, 64]), tensor_in(cub, TensorProto.FLOAT, [batch, 21, 24, 20]),
            tensor_in(ac, TensorProto.FLOAT, [batch, 21, 13, 17]), tensor_in(one, TensorProto.FLOAT, [batch, 21, 160])]
    m = b.model("seg_head", [tensor_in("image", TensorProto.FLOAT, [batch, 3, 64, 64])], outs)
    return Case("seg_head", m, _image_feeds(seed, (batch, 3, 64, 64)))


def batched_nms(seed=15, n_classes=40, per_class=300):
    """torchvision's batched NMS as SSDlite exports it: the boxes of each class offset apart by the
    class index times the image extent, then one NonMaxSuppression over all of them (12000 candidates
    here); the selected indices, gathered boxes and scores must equal ORT's"""
    rng = np.random.default_rng(seed)
    n = n_classes * per_class
    xy = rng.uniform(0, 300, (n, 2)).astype(np.float32)
    wh = rng.uniform(4, 80, (n, 2)).astype(np.float32)
    cls = np.repeat(np.arange(n_classes), per_class).astype(np.float32)
    b = Builder(seed)
    off = b.const((cls * 321.0)[:, None].astype(np.float32), "offsets")
    shifted = b.op("Add", ["boxes", off])
    sel = b.op("NonMaxSuppression", [b.op("Unsqueeze", [shifted, b.i64([0], "axes")]),
                                      b.op("Unsqueeze", ["scores", b.i64([0, 1], "axes")]),
                                      b.i64([1 << 40], "max_out"), b.f32([0.55], "iou"), b.f32([0.01], "thr")])
    idx = b.op("Squeeze", [b.op("Slice", [sel, b.i64([2], "s"), b.i64([3], "e"), b.i64([1], "a")]), b.i64([1], "sq")])
    kept = b.op("Gather", ["boxes", idx], axis=0)
    score = b.op("Gather", ["scores", idx], axis=0)
    m = b.model("batched_nms", [tensor_in("boxes", TensorProto.FLOAT, [n, 4]), tensor_in("scores", TensorProto.FLOAT, [n])],
                [tensor_in(sel, TensorProto.INT64, [None, 3]), tensor_in(kept, TensorProto.FLOAT, [None, 4]),
                 tensor_in(score, TensorProto.FLOAT, [None])])
    boxes = np.concatenate([xy, xy + wh], axis=1)
    boxes[5] = np.nan  # boxes that overlap nothing: NaN and infinite corners
    boxes[17, 2], boxes[33, 0], boxes[40, 1] = np.inf, -np.inf, np.nan
    scores = rng.uniform(0, 1, n).astype(np.float32)
    return Case("batched_nms", m, {"boxes": boxes, "scores": scores})


def norms(seed=16, batch=2):
    """InstanceNormalization as wav2vec2's feature extractor and style-transfer nets use it (long
    planes; an input offset far from zero, so the variance must not cancel) and LayerNormalization
    over the trailing dims from axis 1 (the general path, not the fused last-axis one)"""
    b = Builder(seed)
    x = b.op("Add", ["x", b.f32(100.0, "offset")])
    c = 8
    inorm = b.op("InstanceNormalization", [x, b.const(b.randn(c, scale=0.5) + 1, "in_scale"),
                                           b.const(b.randn(c, scale=0.1), "in_bias")], epsilon=1e-5)
    lnorm = b.op("LayerNormalization", [x, b.const(b.randn(c, 799, scale=0.5) + 1, "ln_scale"),
                                        b.const(b.randn(c, 799, scale=0.1), "ln_bias")], axis=1, epsilon=1e-5)
    m = b.model("norms", [tensor_in("x", TensorProto.FLOAT, [batch, c, 799])],
                [tensor_in(inorm, TensorProto.FLOAT, [batch, c, 799]), tensor_in(lnorm, TensorProto.FLOAT, [batch, c, 799])],
                opset=17)
    return Case("norms", m, {"x": np.random.default_rng(seed).standard_normal((batch, c, 799)).astype(np.float32)})


def roi_heads(seed=17, n_rois=300):
    """Mask R-CNN's box and mask pooling: RoiAlign over a feature map of 2 images, 7x7 bins with 2x2
    samples (average) and 14x14 adaptive (sampling_ratio 0, half_pixel), and max mode; random boxes
    from tiny to larger than the map"""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-10, 220, (n_rois, 2))
    wh = rng.uniform(0.5, 150, (n_rois, 2))
    rois = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    bidx = rng.integers(0, 2, n_rois).astype(np.int64)
    b = Builder(seed)
    fmap = b.conv("image", 3, 32, 3, stride=8)
    avg = b.op("RoiAlign", [fmap, "rois", "batch"], output_height=7, output_width=7, sampling_ratio=2,
               spatial_scale=0.125, coordinate_transformation_mode="output_half_pixel")
    ada = b.op("RoiAlign", [fmap, "rois", "batch"], output_height=14, output_width=14, sampling_ratio=0,
               spatial_scale=0.125, coordinate_transformation_mode="half_pixel")
    mx = b.op("RoiAlign", [fmap, "rois", "batch"], mode="max", output_height=5, output_width=5, sampling_ratio=2,
              spatial_scale=0.125)
    m = b.model("roi_heads", [tensor_in("image", TensorProto.FLOAT, [2, 3, 200, 248]),
                              tensor_in("rois", TensorProto.FLOAT, [n_rois, 4]), tensor_in("batch", TensorProto.INT64, [n_rois])],
                [tensor_in(avg, TensorProto.FLOAT, [n_rois, 32, 7, 7]), tensor_in(ada, TensorProto.FLOAT, [n_rois, 32, 14, 14]),
                 tensor_in(mx, TensorProto.FLOAT, [n_rois, 32, 5, 5])], opset=16)
    feeds = _image_feeds(seed, (2, 3, 200, 248))
    feeds.update({"rois": rois, "batch": bidx})
    return Case("roi_heads", m, feeds)


def scatter_merge(seed=18):
    """ScatterElements as torchvision's RoI level merge uses it (axis 0, indices spanning the trailing
    dims whole, which run as one merged dim) and along other axes and partial spans (the general walk);
    indices unique per position (some negative), so the result does not depend on write order"""
    rng = np.random.default_rng(seed)
    b = Builder(seed)
    feeds, outs = {}, []
    specs = (((6, 5, 4, 3), (4, 5, 4, 3), 0), ((6, 5, 4, 3), (6, 2, 4, 3), 1), ((6, 5, 4, 3), (3, 5, 2, 3), 0),
             ((7, 9), (7, 9), 1))
    for k, (shape, ishape, axis) in enumerate(specs):
        D = shape[axis]
        ind = np.zeros(ishape, np.int64)
        for mi in np.ndindex(*[1 if d == axis else n for d, n in enumerate(ishape)]):
            perm = rng.permutation(D)[:ishape[axis]]
            for j in range(ishape[axis]):
                at = list(mi)
                at[axis] = j
                ind[tuple(at)] = perm[j] - (D if rng.random() < 0.3 else 0)
        feeds[f"x{k}"] = rng.standard_normal(shape).astype(np.float32)
        feeds[f"u{k}"] = rng.standard_normal(ishape).astype(np.float32)
        y = b.op("ScatterElements", [f"x{k}", b.const(ind, "idx"), f"u{k}"], axis=axis)
        outs.append(tensor_in(y, TensorProto.FLOAT, list(shape)))
    ins = [tensor_in(n, TensorProto.FLOAT, list(v.shape)) for n, v in feeds.items()]
    return Case("scatter_merge", b.model("scatter_merge", ins, outs), feeds)


def reductions(seed=19):
    """Reduce ops over long contiguous runs (the 8-accumulator loops, with tails of 1 to 7), over all
    axes, over kept leading axes, and on int32 (NaN in a run: tests/python/test_reduce.py against numpy,
    since ONNX Runtime's max and min skip NaN)"""
    rng = np.random.default_rng(seed)
    b = Builder(seed)
    x = (rng.standard_normal((3, 5, 203)) * 3 + 1).astype(np.float32)
    xi = rng.integers(-1000, 1000, (4, 1003)).astype(np.int32)
    outs = []
    for op in ("ReduceSum", "ReduceMean", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceMax", "ReduceMin",
               "ReduceLogSumExp"):
        for axes, keep in (([2], 1), ([1, 2], 0), (None, 0), ([0, 1], 1)):
            ins = ["x"] if axes is None else ["x", b.const(np.array(axes, np.int64), "axes")]
            y = b.op(op, ins, keepdims=keep)
            shp = [1 if (axes is None or d in axes) else n for d, n in enumerate(x.shape)]
            if not keep:
                shp = [n for d, n in enumerate(x.shape) if not (axes is None or d in axes)]
            outs.append(tensor_in(y, TensorProto.FLOAT, shp))
    for op in ("ReduceSum", "ReduceMax", "ReduceMin"):
        y = b.op(op, ["xi", b.const(np.array([1], np.int64), "axes")], keepdims=0)
        outs.append(tensor_in(y, TensorProto.INT32, [4]))
    m = b.model("reductions", [tensor_in("x", TensorProto.FLOAT, list(x.shape)), tensor_in("xi", TensorProto.INT32, list(xi.shape))],
                outs, opset=18)
    return Case("reductions", m, {"x": x, "xi": xi})


def loop_sequence_capture(seed=21):
    """A Loop body reading sequences of the outer graph by SequenceAt, as torch exports GPT-J's
    repeat_interleave of the rotary tables: SplitToSequence outside, no type declared for it, so the
    body is first inferred with the capture's type unknown; the items scaled and gathered in a loop-
    carried sequence, then concatenated"""
    rng = np.random.default_rng(seed)
    b = Builder(seed)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    seq = b.op("SplitToSequence", ["x", b.const(np.ones(5, np.int64), "split")], axis=0)
    idx = b.op("SplitToSequence", ["k", b.const(np.ones(5, np.int64), "split")], axis=0)
    empty = b.op("SequenceEmpty", [], dtype=TensorProto.FLOAT)
    body = helper.make_graph(
        [helper.make_node("SequenceAt", [seq, "i"], ["item"]),
         helper.make_node("SequenceAt", [idx, "i"], ["ki"]),
         helper.make_node("Cast", ["ki"], ["kf"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["item", "kf"], ["scaled"]),
         helper.make_node("SequenceInsert", ["acc", "scaled"], ["acc_out"]),
         helper.make_node("Identity", ["cond"], ["cond_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_sequence_value_info("acc", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_sequence_value_info("acc_out", TensorProto.FLOAT, None)])
    loop = b.op("Loop", [b.const(np.array(5, np.int64), "trip"), b.const(np.array(True), "cond"), empty], body=body)
    y = b.op("ConcatFromSequence", [loop], axis=0)
    m = b.model("loop_sequence_capture", [tensor_in("x", TensorProto.FLOAT, [5, 4]), tensor_in("k", TensorProto.INT64, [5])],
                [tensor_in(y, TensorProto.FLOAT, [5, 4])], opset=17)
    return Case("loop_sequence_capture", m, {"x": x, "k": rng.integers(-3, 4, 5).astype(np.int64)})


def all_cases():
    return [
        digits(),
        resnet(),
        resnext(),
        mobilenetv2(),
        squeezenet(),
        densenet(),
        densenet(batch=1),
        densenet(batch=1, concat_all=True),
        batch1(squeezenet()),
        efficientnet(),
        convnext(),
        bert(),
        lstm2(),
        lstm_bidir(),
        lstm_bidir(with_lens=True),
        gru(),
        gru(linear_before_reset=0, direction="bidirectional"),
        segmentation(),
        batch1(segmentation()),
        wide_nodes(),
        seg_head(),
        batched_nms(),
        norms(),
        roi_heads(),
        scatter_merge(),
        reductions(),
        loop_sequence_capture(),
    ]


if __name__ == "__main__":
    import os
    import sys
    out = sys.argv[1] if len(sys.argv) > 1 else "model_zoo_out"
    os.makedirs(out, exist_ok=True)
    for c in all_cases():
        onnx.save(c.model, os.path.join(out, c.name + ".onnx"))
        np.savez(os.path.join(out, c.name + ".inputs.npz"), **c.feeds)
        print("wrote", c.name)
