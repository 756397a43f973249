import sys, torch, numpy as np, warnings
import os as _os
ZOO = _os.environ.get("ZOO_DIR", "/tmp/zoo")
SINTER = _os.environ.get("SINTER_CLI", "build/sinter")
warnings.filterwarnings("ignore"); torch.manual_seed(0)
import transformers as T
def ids(b, t, v=500): return torch.randint(0, v, (b, t))
def build(n):
    if n == "gpt2":
        m = T.GPT2LMHeadModel(T.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=500, use_cache=False)); return m, {"input_ids": ids(2, 12), "attention_mask": torch.ones(2, 12, dtype=torch.long)}
    if n == "distilbert":
        m = T.DistilBertModel(T.DistilBertConfig(n_layers=2, dim=64, n_heads=4, hidden_dim=128, vocab_size=500)); am = torch.ones(2, 12, dtype=torch.long); am[1, 8:] = 0; return m, {"input_ids": ids(2, 12), "attention_mask": am}
    if n == "roberta":
        m = T.RobertaModel(T.RobertaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128, vocab_size=500)); am = torch.ones(2, 12, dtype=torch.long); am[0, 9:] = 0; return m, {"input_ids": ids(2, 12), "attention_mask": am}
    if n == "deberta":
        m = T.DebertaV2Model(T.DebertaV2Config(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128, vocab_size=500)); return m, {"input_ids": ids(2, 12), "attention_mask": torch.ones(2, 12, dtype=torch.long)}
    if n == "t5":
        m = T.T5Model(T.T5Config(num_layers=2, num_decoder_layers=2, d_model=64, d_kv=16, num_heads=4, d_ff=128, vocab_size=500)); return m, {"input_ids": ids(2, 10), "decoder_input_ids": ids(2, 6)}
    if n == "vit":
        m = T.ViTModel(T.ViTConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128, image_size=64, patch_size=16)); return m, {"pixel_values": torch.randn(1, 3, 64, 64)}
    if n == "whisper_enc":
        m = T.WhisperModel(T.WhisperConfig(encoder_layers=2, decoder_layers=2, d_model=64, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, num_mel_bins=80, max_source_positions=50, vocab_size=500)).get_encoder(); return m, {"input_features": torch.randn(1, 80, 100)}
    if n == "wav2vec2":
        m = T.Wav2Vec2Model(T.Wav2Vec2Config(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128, conv_dim=(32, 32, 32), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)); return m, {"input_values": torch.randn(1, 4000)}
    if n == "bart":
        m = T.BartModel(T.BartConfig(encoder_layers=2, decoder_layers=2, d_model=64, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, vocab_size=500)); return m, {"input_ids": ids(2, 10), "decoder_input_ids": ids(2, 7)}
    if n == "clip_text":
        m = T.CLIPTextModel(T.CLIPTextConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128, vocab_size=500)); return m, {"input_ids": ids(2, 12)}
    if n == "swin":
        m = T.SwinModel(T.SwinConfig(image_size=64, patch_size=4, embed_dim=32, depths=[1, 1], num_heads=[2, 4], window_size=4)); return m, {"pixel_values": torch.randn(1, 3, 64, 64)}
    if n == "convnext_hf":
        m = T.ConvNextModel(T.ConvNextConfig(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2, image_size=64)); return m, {"pixel_values": torch.randn(1, 3, 64, 64)}
    if n == "mobilevit":
        m = T.MobileViTModel(T.MobileViTConfig(image_size=64, hidden_sizes=[32, 48, 64], neck_hidden_sizes=[8, 16, 24, 32, 40, 48, 160])); return m, {"pixel_values": torch.randn(1, 3, 64, 64)}
    if n == "albert":
        m = T.AlbertModel(T.AlbertConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128, embedding_size=32, vocab_size=500)); return m, {"input_ids": ids(2, 12)}
    if n == "electra":
        m = T.ElectraModel(T.ElectraConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128, embedding_size=32, vocab_size=500)); return m, {"input_ids": ids(2, 12), "token_type_ids": torch.zeros(2, 12, dtype=torch.long)}
    if n in ("t5w", "bartw", "whisperw"):
        class W(torch.nn.Module):
            def __init__(s, m): super().__init__(); s.m = m
            def forward(s, a, b):
                kw = {"input_features": a} if n == "whisperw" else {"input_ids": a}
                return s.m(**kw, decoder_input_ids=b, use_cache=False, return_dict=False)[0]
        if n == "t5w": m = T.T5Model(T.T5Config(num_layers=2, num_decoder_layers=2, d_model=64, d_kv=16, num_heads=4, d_ff=128, vocab_size=500)); a = ids(2, 10)
        if n == "bartw": m = T.BartModel(T.BartConfig(encoder_layers=2, decoder_layers=2, d_model=64, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, vocab_size=500)); a = ids(2, 10)
        if n == "whisperw": m = T.WhisperModel(T.WhisperConfig(encoder_layers=2, decoder_layers=2, d_model=64, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, num_mel_bins=80, max_source_positions=50, vocab_size=500, pad_token_id=1, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)); a = torch.randn(1, 80, 100)
        return W(m), {"a": a, "b": ids(a.shape[0], 7)}
    raise SystemExit(n)
for n in sys.argv[1].split(","):
    try:
        m, feeds = build(n); m.eval()
        if hasattr(m, "config"): m.config.return_dict = False
        names = list(feeds)
        with torch.no_grad():
            torch.onnx.export(m, tuple(feeds.values()), f"{ZOO}/{n}.onnx", opset_version=17, input_names=names,
                              dynamic_axes={k: {0: "b", 1: "t" + k} if v.dim() == 2 else {0: "b"} for k, v in feeds.items()})
        np.savez(f"{ZOO}/{n}.inputs.npz", **{k: v.numpy() for k, v in feeds.items()}); print("ok", n, flush=True)
    except Exception as e:
        print("FAIL", n, repr(e)[:250], flush=True)
