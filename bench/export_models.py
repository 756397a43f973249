"""Export the benchmark models to ONNX with PyTorch (random weights, seeded).

Run with Debian's python (torch 1.13, torchvision):

    /usr/bin/python3 bench/export_models.py OUT_DIR [--opset 13] [--only NAME,NAME]

Writes OUT_DIR/<name>.onnx for resnet50, mobilenet_v2, squeezenet1_1, efficientnet_b0,
bert_base (12-layer encoder in plain torch.nn), lstm2 (2-layer LSTM) and unet (Resize, Pad,
ConvTranspose, Split), plus OUT_DIR/models.json describing each model's inputs (the concrete shapes,
dtypes and value ranges that bench/check_models.py feeds them).
"""
import argparse
import json
import math
import os
import sys
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 0


# ---- BERT-base-like encoder, plain torch.nn ---------------------------------------------------------------

class SelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads, self.dh = heads, hidden // heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.o = nn.Linear(hidden, hidden)

    def split(self, x):
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.dh).transpose(1, 2)

    def forward(self, x, mask_add):
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh) + mask_add
        ctx = torch.matmul(scores.softmax(-1), v).transpose(1, 2)
        b, s = ctx.shape[0], ctx.shape[1]
        return self.o(ctx.reshape(b, s, self.heads * self.dh))


class EncoderLayer(nn.Module):
    def __init__(self, hidden, heads, ff):
        super().__init__()
        self.attn = SelfAttention(hidden, heads)
        self.ln1 = nn.LayerNorm(hidden, eps=1e-12)
        self.ff1 = nn.Linear(hidden, ff)
        self.ff2 = nn.Linear(ff, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, mask_add):
        x = self.ln1(x + self.attn(x, mask_add))
        return self.ln2(x + self.ff2(F.gelu(self.ff1(x))))


class BertBase(nn.Module):
    def __init__(self, vocab=30522, hidden=768, layers=12, heads=12, ff=3072, max_pos=512):
        super().__init__()
        self.tok = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(max_pos, hidden)
        self.register_buffer("position_ids", torch.arange(max_pos).unsqueeze(0))
        self.ln = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList([EncoderLayer(hidden, heads, ff) for _ in range(layers)])
        self.pool = nn.Linear(hidden, hidden)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, input_ids, attention_mask):
        s = input_ids.shape[1]
        x = self.ln(self.tok(input_ids) + self.pos(self.position_ids[:, :s]))
        mask_add = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
        for layer in self.layers:
            x = layer(x, mask_add)
        return x, torch.tanh(self.pool(x[:, 0]))


# ---- two-layer LSTM ------------------------------------------------------------------------------------

class LSTM2(nn.Module):
    def __init__(self, inp=128, hidden=256):
        super().__init__()
        self.lstm = nn.LSTM(inp, hidden, num_layers=2)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x):
        y, (h, c) = self.lstm(x)
        return self.head(y), h, c


# ---- UNet-like segmentation model: Resize, Pad, ConvTranspose, Split ---------------------------------

def conv_block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, classes=4):
        super().__init__()
        self.classes = classes
        self.e1, self.e2, self.e3 = conv_block(3, 16), conv_block(16, 32), conv_block(32, 64)
        self.mid = conv_block(64, 128)
        self.up3 = nn.ConvTranspose2d(128, 64, 2, stride=2)
        self.d3 = conv_block(128, 64)
        self.up2 = nn.Upsample(scale_factor=2, mode="nearest")
        self.d2 = nn.Sequential(nn.Conv2d(64 + 32, 32, 3), nn.ReLU(inplace=True))  # valid conv after a Pad
        self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.d1 = conv_block(32 + 16, 16)
        self.head = nn.Conv2d(16, classes + 5, 1)  # YOLO-style: class scores + box (4) + objectness

    def forward(self, x):
        e1 = self.e1(x)
        e2 = self.e2(F.max_pool2d(e1, 2))
        e3 = self.e3(F.max_pool2d(e2, 2))
        m = self.mid(F.max_pool2d(e3, 2))
        d3 = self.d3(torch.cat([self.up3(m), e3], 1))
        u2 = F.pad(torch.cat([self.up2(d3), e2], 1), (1, 1, 1, 1), mode="reflect")
        d2 = self.d2(u2)
        d1 = self.d1(torch.cat([self.up1(d2), e1], 1))
        out = self.head(d1)
        seg, box, obj = torch.split(out, [self.classes, 4, 1], dim=1)
        seg = F.interpolate(seg, scale_factor=0.5, mode="bilinear", align_corners=False)
        return seg, box, torch.sigmoid(obj)


# ---- export --------------------------------------------------------------------------------------------

def image_spec(n, size=224):
    return {"image": {"shape": [n, 3, size, size], "dtype": "float32", "low": -1.0, "high": 1.0}}


def models(opset):
    import torchvision.models as tvm

    img_axes = {"image": {0: "batch"}}
    yield ("resnet50", lambda: tvm.resnet50(weights=None), image_spec(1), ["logits"], {**img_axes, "logits": {0: "batch"}},
           opset)
    yield ("mobilenet_v2", lambda: tvm.mobilenet_v2(weights=None), image_spec(1), ["logits"],
           {**img_axes, "logits": {0: "batch"}}, opset)
    yield ("squeezenet1_1", lambda: tvm.squeezenet1_1(weights=None), image_spec(1), ["logits"],
           {**img_axes, "logits": {0: "batch"}}, opset)
    yield ("efficientnet_b0", lambda: tvm.efficientnet_b0(weights=None), image_spec(1), ["logits"],
           {**img_axes, "logits": {0: "batch"}}, opset)
    bert_spec = {"input_ids": {"shape": [1, 128], "dtype": "int64", "low": 0, "high": 30522},
                 "attention_mask": {"shape": [1, 128], "dtype": "int64", "low": 1, "high": 2, "zero_tail": 16}}
    yield ("bert_base", BertBase, bert_spec, ["last_hidden_state", "pooler_output"],
           {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "last_hidden_state": {0: "batch", 1: "sequence"}, "pooler_output": {0: "batch"}}, opset)
    yield ("lstm2", LSTM2, {"x": {"shape": [50, 1, 128], "dtype": "float32", "low": -1.0, "high": 1.0}},
           ["y", "h", "c"], {"x": {1: "batch"}, "y": {1: "batch"}, "h": {1: "batch"}, "c": {1: "batch"}}, opset)
    yield ("unet", UNet, image_spec(1, 128), ["seg", "box", "objectness"],
           {**img_axes, "seg": {0: "batch"}, "box": {0: "batch"}, "objectness": {0: "batch"}}, opset)


def example_inputs(spec):
    g = torch.Generator().manual_seed(SEED)
    out = []
    for name, s in spec.items():
        if s["dtype"] == "int64":
            t = torch.randint(s["low"], s["high"], s["shape"], generator=g, dtype=torch.int64)
        else:
            t = torch.rand(s["shape"], generator=g) * (s["high"] - s["low"]) + s["low"]
        out.append(t)
    return tuple(out)


def calibrate_batchnorm(model, spec):
    """Set BatchNorm running statistics from a few random batches, as training would, so that
    activations neither vanish nor explode through the randomly initialized network."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for _ in range(4):
            batch = [torch.rand([4] + s["shape"][1:], generator=g) * (s["high"] - s["low"]) + s["low"]
                     for s in spec.values()]
            model(*batch)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--opset", type=int, default=13, choices=range(13, 18), metavar="{13..17}")
    ap.add_argument("--only", default="", help="comma-separated model names")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    only = {n for n in args.only.split(",") if n}
    manifest_path = os.path.join(args.out_dir, "models.json")
    manifest = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    warnings.filterwarnings("ignore")
    for name, make, spec, out_names, axes, opset in models(args.opset):
        if only and name not in only:
            continue
        torch.manual_seed(SEED)
        model = make()
        calibrate_batchnorm(model, spec)
        model.eval()
        path = os.path.join(args.out_dir, name + ".onnx")
        t0 = time.time()
        with torch.no_grad():
            torch.onnx.export(model, example_inputs(spec), path, opset_version=opset, input_names=list(spec),
                              output_names=out_names, dynamic_axes=axes, do_constant_folding=True)
        manifest[name] = {"file": name + ".onnx", "opset": opset, "inputs": spec, "outputs": out_names}
        print(f"{name}: {os.path.getsize(path) / 1e6:.1f} MB, opset {opset}, {time.time() - t0:.1f} s", flush=True)
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
