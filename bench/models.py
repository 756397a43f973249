"""The benchmark models: built in PyTorch from a seed, exported to ONNX, their weights saved.

Run with a python that has torch and torchvision (Debian's /usr/bin/python3, or the bench venv
built on it; see bench/README.md):

    /usr/bin/python3 bench/models.py OUT_DIR [--only NAME,NAME] [--opset 17] [--force]

Writes, per model, OUT_DIR/<name>.onnx (symbolic batch dimension), OUT_DIR/<name>.pt (the module's
state_dict, so bench/compare.py and bench/make_reference.py run the very same weights in PyTorch
eager and TorchScript) and an entry of OUT_DIR/models.json: the inputs' concrete shapes, dtypes and
value ranges, and the output names. Existing files are kept unless --force.

Models (weights random but seeded; BatchNorm statistics calibrated on random batches so activations
stay in range): resnet50, mobilenet_v2, squeezenet1_1, efficientnet_b0, convnext_tiny
(torchvision), bert_base (12 layers, hidden 768, sequence 128) and bert_small (4 layers, hidden 256)
in plain torch.nn, lstm2 (two LSTM layers, hidden 256, 50 steps) and mlp (784-1024-1024-10).

Other scripts import this module: MODELS, build(name), load(name, out_dir), example_inputs(spec).
"""
import argparse
import json
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SEED = 0


def _torch():
    import torch  # noqa: F401  (imported lazily: the spec table is usable without torch)
    return torch


def image_spec(size=224):
    return {"image": {"shape": [1, 3, size, size], "dtype": "float32", "low": -1.0, "high": 1.0}}


def bert_spec(seq=128, vocab=30522):
    # the last 16 positions are padding (mask 0), as in a batch of uneven sentences
    return {"input_ids": {"shape": [1, seq], "dtype": "int64", "low": 0, "high": vocab},
            "attention_mask": {"shape": [1, seq], "dtype": "int64", "low": 1, "high": 2, "zero_tail": 16}}


def _tv(name):
    def make():
        import torchvision.models as tvm
        return getattr(tvm, name)(weights=None)
    return make


def _bert(**kw):
    def make():
        from export_models import BertBase
        return BertBase(**kw)
    return make


def _lstm():
    from export_models import LSTM2
    return LSTM2(inp=128, hidden=256)


def _mlp():
    import torch.nn as nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                         nn.Linear(1024, 10))


_IMG_AXES = {"image": {0: "batch"}, "logits": {0: "batch"}}
_BERT_AXES = {"input_ids": {0: "batch"}, "attention_mask": {0: "batch"},
              "last_hidden_state": {0: "batch"}, "pooler_output": {0: "batch"}}

# name -> (constructor, input spec, output names, dynamic axes, one-line description)
MODELS = {
    "resnet50": (_tv("resnet50"), image_spec(), ["logits"], _IMG_AXES, "ResNet-50 (torchvision), 224x224"),
    "mobilenet_v2": (_tv("mobilenet_v2"), image_spec(), ["logits"], _IMG_AXES, "MobileNetV2 (torchvision), 224x224"),
    "squeezenet1_1": (_tv("squeezenet1_1"), image_spec(), ["logits"], _IMG_AXES,
                      "SqueezeNet 1.1 (torchvision), 224x224"),
    "efficientnet_b0": (_tv("efficientnet_b0"), image_spec(), ["logits"], _IMG_AXES,
                        "EfficientNet-B0 (torchvision), 224x224"),
    "convnext_tiny": (_tv("convnext_tiny"), image_spec(), ["logits"], _IMG_AXES,
                      "ConvNeXt-Tiny (torchvision), 224x224"),
    "bert_base": (_bert(), bert_spec(), ["last_hidden_state", "pooler_output"], _BERT_AXES,
                  "BERT-base-like encoder (12 layers, hidden 768, 12 heads), sequence 128"),
    "bert_small": (_bert(hidden=256, layers=4, heads=4, ff=1024), bert_spec(),
                   ["last_hidden_state", "pooler_output"], _BERT_AXES,
                   "BERT-like encoder (4 layers, hidden 256, 4 heads), sequence 128"),
    "lstm2": (_lstm, {"x": {"shape": [50, 1, 128], "dtype": "float32", "low": -1.0, "high": 1.0}}, ["y", "h", "c"],
              {"x": {1: "batch"}, "y": {1: "batch"}, "h": {1: "batch"}, "c": {1: "batch"}},
              "two-layer LSTM (input 128, hidden 256), 50 steps"),
    "mlp": (_mlp, {"x": {"shape": [1, 1, 28, 28], "dtype": "float32", "low": 0.0, "high": 1.0}}, ["logits"],
            {"x": {0: "batch"}, "logits": {0: "batch"}}, "MLP 784-1024-1024-10 (ReLU)"),
}


def example_inputs(spec, seed=SEED):
    """Seeded torch tensors for an input spec, in spec order."""
    torch = _torch()
    g = torch.Generator().manual_seed(seed)
    out = []
    for s in spec.values():
        if s["dtype"] == "int64":
            t = torch.randint(s["low"], s["high"], s["shape"], generator=g, dtype=torch.int64)
            if s.get("zero_tail"):
                t[..., -s["zero_tail"]:] = 0
        else:
            t = torch.rand(s["shape"], generator=g) * (s["high"] - s["low"]) + s["low"]
        out.append(t)
    return tuple(out)


def numpy_inputs(spec, seed=SEED):
    """The same inputs as numpy arrays: {input name: array}."""
    return {name: t.numpy() for name, t in zip(spec, example_inputs(spec, seed))}


def _calibrate_batchnorm(model, spec):
    """BatchNorm running statistics from a few random batches, as training would set them."""
    torch = _torch()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
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


def build(name):
    """The model in eval mode, deterministically from SEED (same weights every call)."""
    torch = _torch()
    make, spec = MODELS[name][0], MODELS[name][1]
    torch.manual_seed(SEED)
    model = make()
    _calibrate_batchnorm(model, spec)
    return model.eval()


def load(name, out_dir):
    """The model with the weights saved by export (OUT_DIR/<name>.pt), in eval mode."""
    torch = _torch()
    torch.manual_seed(SEED)
    model = MODELS[name][0]()
    model.load_state_dict(torch.load(os.path.join(out_dir, name + ".pt")))
    return model.eval()


def export(name, out_dir, opset, force=False):
    torch = _torch()
    make, spec, out_names, axes, desc = MODELS[name]
    onnx_path = os.path.join(out_dir, name + ".onnx")
    pt_path = os.path.join(out_dir, name + ".pt")
    entry = {"file": name + ".onnx", "weights": name + ".pt", "opset": opset, "description": desc,
             "inputs": spec, "outputs": out_names}
    if not force and os.path.exists(onnx_path) and os.path.exists(pt_path):
        print(f"{name}: kept ({os.path.getsize(onnx_path) / 1e6:.1f} MB)", flush=True)
        return entry, True
    t0 = time.time()
    model = build(name)
    torch.save(model.state_dict(), pt_path)
    with torch.no_grad():
        torch.onnx.export(model, example_inputs(spec), onnx_path, opset_version=opset, input_names=list(spec),
                          output_names=out_names, dynamic_axes=axes, do_constant_folding=True)
    print(f"{name}: {os.path.getsize(onnx_path) / 1e6:.1f} MB, opset {opset}, {time.time() - t0:.1f} s", flush=True)
    return entry, False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--opset", type=int, default=17, choices=range(13, 18), metavar="{13..17}")
    ap.add_argument("--only", default="", help="comma-separated model names (default: all)")
    ap.add_argument("--force", action="store_true", help="re-export models whose files exist")
    args = ap.parse_args()
    only = [n for n in args.only.split(",") if n]
    for n in only:
        if n not in MODELS:
            ap.error(f"unknown model '{n}' (models: {', '.join(MODELS)})")
    os.makedirs(args.out_dir, exist_ok=True)
    manifest_path = os.path.join(args.out_dir, "models.json")
    manifest = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    warnings.filterwarnings("ignore")
    _torch().set_num_threads(max(1, os.cpu_count() or 1))
    for name in MODELS:
        if only and name not in only:
            continue
        entry, kept = export(name, args.out_dir, args.opset, args.force)
        if not (kept and name in manifest):
            manifest[name] = entry
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
