"""The committed digits classifier and its held-out images, as the quantization tests use them:
calibration is the first half of models/digits/test_images.npy, held out the second half; logits
from ONNX Runtime and from Sinter, and accuracy."""
import os
import sys

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sinter_ctypes  # noqa: E402

BUILD = os.environ.get("SINTER_BUILD", "build")
SINTER = os.path.join(BUILD, "sinter")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
MODEL = os.path.join(ROOT, "models", "digits", "digits.onnx")
IMAGES = np.load(os.path.join(ROOT, "models", "digits", "test_images.npy"))
LABELS = np.load(os.path.join(ROOT, "models", "digits", "test_labels.npy"))
HALF = len(IMAGES) // 2
CAL, HELD, HELD_Y = IMAGES[:HALF], IMAGES[HALF:], LABELS[HALF:]


def ort_logits(path, x):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def sinter_logits(path, x, **kw):
    s = sinter_ctypes.Session(path, threads=kw.pop("threads", 1), **kw)
    return list(s.run({"image": x}).values())[0]


def accuracy(logits, y=HELD_Y):
    return 100.0 * float((logits.argmax(1) == y).mean())
