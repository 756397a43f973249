# Trains the small digits CNN (sklearn's bundled 8x8 handwritten digits) and exports it to ONNX.
#
# Run with Debian's python (torch 1.13, sklearn, numpy):  /usr/bin/python3 models/digits/train.py
# Writes, next to this file: digits.onnx, test_images.npy, test_labels.npy, README.md.
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 1234
HELD_OUT = 0.2
EPOCHS = 40


class DigitsNet(nn.Module):
    """Conv-BN-ReLU -> Conv-ReLU -> MaxPool -> Flatten -> Gemm-ReLU -> Gemm."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        x = self.pool(x)
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


def main():
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]  # [N,1,8,8] in [0,1]
    labels = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(images, labels, test_size=HELD_OUT, random_state=SEED,
                                              stratify=labels)

    model = DigitsNet()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1}: train loss {total / len(xt):.4f}")

    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x_te)).argmax(1).numpy()
    correct = int((pred == y_te).sum())
    acc = correct / len(y_te)
    print(f"PyTorch held-out accuracy: {correct}/{len(y_te)} = {100 * acc:.2f}%")
    if acc < 0.95:
        print("accuracy below 95%: not exporting", file=sys.stderr)
        return 1

    onnx_path = os.path.join(HERE, "digits.onnx")
    # The model is in eval mode, so constant folding cannot touch BatchNormalization's statistics.
    warnings.filterwarnings("ignore", message="It is recommended that constant folding be turned off")
    torch.onnx.export(model, torch.from_numpy(x_te[:1]), onnx_path, opset_version=13,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=True,
                      # PRESERVE with the model in eval mode keeps BatchNormalization as its own
                      # (inference-mode) node instead of folding it into the Conv.
                      training=torch.onnx.TrainingMode.PRESERVE)
    np.save(os.path.join(HERE, "test_images.npy"), np.ascontiguousarray(x_te, dtype=np.float32))
    np.save(os.path.join(HERE, "test_labels.npy"), y_te.astype(np.int64))

    with open(os.path.join(HERE, "README.md"), "w") as f:
        f.write(f"""# digits: a small CNN for 8x8 handwritten digits

Trained on scikit-learn's bundled `load_digits` data set (1797 images of 8x8 pixels, no download),
with {int(100 * HELD_OUT)}% of the images held out (stratified split, seed {SEED}).

- `digits.onnx` — opset 13; input `image` float32 `[N,1,8,8]` (pixels scaled to [0,1]),
  output `logits` float32 `[N,10]`. Ops: Conv, BatchNormalization (eval), Relu, MaxPool,
  Flatten, Gemm.
- `test_images.npy` — the {len(y_te)} held-out images, float32 `[{len(y_te)},1,8,8]`.
- `test_labels.npy` — their labels, int64 `[{len(y_te)}]`.

PyTorch held-out accuracy: **{correct}/{len(y_te)} = {100 * acc:.2f}%**.

Classify the held-out set with Sinter:

    build/sinter classify models/digits/digits.onnx \\
        --images models/digits/test_images.npy --labels models/digits/test_labels.npy

Retrain (Debian's python with torch 1.13, scikit-learn and numpy; deterministic, CPU, a few seconds):

    /usr/bin/python3 models/digits/train.py

This rewrites `digits.onnx`, the two `.npy` files and this README.
""")
    print("wrote", onnx_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
