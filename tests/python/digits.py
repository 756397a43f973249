"""The committed digits classifier and its held-out images, as the quantization tests use them:
calibration is the first half of models/digits/test_images.npy, held out the second half; logits
from ONNX Runtime and from Sinter, and accuracy."""
import os

import numpy as np

from testlib import DIGITS as MODEL, ROOT, SINTER, ort_outputs, sinter_outputs  # noqa: F401 (SINTER: for the scripts)

IMAGES = np.load(os.path.join(ROOT, "models", "digits", "test_images.npy"))
LABELS = np.load(os.path.join(ROOT, "models", "digits", "test_labels.npy"))
HALF = len(IMAGES) // 2
CAL, HELD, HELD_Y = IMAGES[:HALF], IMAGES[HALF:], LABELS[HALF:]


def ort_logits(path, x):
    return ort_outputs(path, {"image": x})[0]


def sinter_logits(path, x, **kw):
    return sinter_outputs(path, {"image": x}, threads=kw.pop("threads", 1), **kw)[0]


def accuracy(logits, y=HELD_Y):
    return 100.0 * float((logits.argmax(1) == y).mean())
