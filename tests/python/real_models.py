"""Real trained models that PyPI packages ship inside their wheels, for tests that need more than
random weights: PaddleOCR's PP-OCRv4 text detector and recognizer and its direction classifier
(rapidocr_onnxruntime) and the Silero voice-activity detector (silero-vad). The wheels are pinned
and fetched once with `pip download` into build/real-models (override: SINTER_REAL_MODELS); only
their .onnx files are extracted.

models() returns [(name, path, feeds, kind)] where kind says how outputs compare: "prob" (outputs
are probabilities: absolute error) or "value" (relative to the output's scale)."""
import os
import subprocess
import sys
import zipfile

import numpy as np

WHEELS = {"rapidocr_onnxruntime": "1.4.4", "silero-vad": "6.2.3"}
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def cache_dir():
    return os.environ.get("SINTER_REAL_MODELS", os.path.join(ROOT, "build", "real-models"))


def fetch():
    """Download the pinned wheels (once) and extract their models; returns the folder."""
    d = cache_dir()
    os.makedirs(d, exist_ok=True)
    for pkg, ver in WHEELS.items():
        stem = pkg.replace("-", "_") + "-" + ver
        if not any(f.startswith(stem) and f.endswith(".whl") for f in os.listdir(d)):
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                            "--only-binary=:all:", "-d", d, f"{pkg}=={ver}"], check=True)
        whl = next(f for f in os.listdir(d) if f.startswith(stem) and f.endswith(".whl"))
        with zipfile.ZipFile(os.path.join(d, whl)) as z:
            for info in z.infolist():
                out = os.path.join(d, "x", info.filename)
                if info.filename.endswith(".onnx") and not os.path.exists(out):
                    z.extract(info, os.path.join(d, "x"))
    return os.path.join(d, "x")


def text_image(h, w, seed=0):
    """A synthetic page: light background, dark strokes in a few text-like lines, normalized as
    PaddleOCR feeds its models ((x/255 - 0.5) / 0.5)."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w), 235.0)
    for line in range(max(1, h // 48)):
        y0 = 8 + line * 48
        x = 10
        while x < w - 20:
            cw = int(rng.integers(8, 18))
            glyph = rng.random((min(24, h - y0), cw)) < 0.35
            img[y0:y0 + glyph.shape[0], x:x + cw][glyph] = 30
            x += cw + int(rng.integers(2, 6))
    img = img[None].repeat(3, 0) + rng.normal(0, 4, (3, h, w))
    return ((np.clip(img, 0, 255) / 255.0 - 0.5) / 0.5)[None].astype(np.float32)


def models():
    x = fetch()
    ocr = os.path.join(x, "rapidocr_onnxruntime", "models")
    vad = os.path.join(x, "silero_vad", "data")
    rng = np.random.default_rng(1)
    speech = (0.3 * np.sin(np.arange(512) * 0.07) * rng.random(512)).astype(np.float32)[None]
    st = np.zeros((2, 1, 128), np.float32)
    return [
        ("pp-ocrv4-det", os.path.join(ocr, "ch_PP-OCRv4_det_infer.onnx"), {"x": text_image(320, 448)}, "prob"),
        ("pp-ocrv4-rec", os.path.join(ocr, "ch_PP-OCRv4_rec_infer.onnx"), {"x": text_image(48, 320, 2)}, "prob"),
        ("ppocr-cls", os.path.join(ocr, "ch_ppocr_mobile_v2.0_cls_infer.onnx"),
         {"x": np.concatenate([text_image(48, 192, 3), text_image(48, 192, 4)])}, "prob"),
        ("silero-vad", os.path.join(vad, "silero_vad.onnx"),
         {"input": speech, "state": st, "sr": np.array(16000, np.int64)}, "value"),
        ("silero-vad-ifless", os.path.join(vad, "silero_vad_op18_ifless.onnx"),
         {"input": speech, "sr": np.array(16000, np.int64), "state": st}, "value"),
        ("silero-vad-16k-sequence", os.path.join(vad, "silero_vad_16k_sequence.onnx"),
         {"input": rng.standard_normal((4, 576)).astype(np.float32) * 0.1, "h": np.zeros((1, 1, 128), np.float32),
          "c": np.zeros((1, 1, 128), np.float32)}, "value"),
    ]
