"""Every supported architecture, as transformers builds it: a tiny random config
saved by transformers, loaded by us (logits against transformers, fp32), exported
to GGUF and loaded by llama.cpp (logits against ours)."""
import os
import shutil

import numpy as np
import pytest
import torch
from conftest import SLICETUNE, TEXTS, max_rel_err, our_ids, our_logits, run

transformers = pytest.importorskip("transformers")


def common(vocab):
    return dict(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5,
                bos_token_id=1, eos_token_id=2)


def configs(vocab):
    c = common(vocab)
    return {
        "llama2": transformers.LlamaConfig(**c),
        "llama3.1-rope-scaling": transformers.LlamaConfig(**c, rope_scaling={
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 32}, rope_theta=500000.0),
        "llama3.2-tied": transformers.LlamaConfig(**c, tie_word_embeddings=True),
        "llama-linear-rope": transformers.LlamaConfig(**c, rope_scaling={"rope_type": "linear", "factor": 2.0}),
        "mistral": transformers.MistralConfig(**c, sliding_window=8),
        "qwen2": transformers.Qwen2Config(**c, tie_word_embeddings=False),
        "qwen3": transformers.Qwen3Config(**c, head_dim=24, tie_word_embeddings=False),
    }


def build(tmp_path, name, fixture_dir):
    tok_dir = os.path.join(fixture_dir, "tiny-base")
    import sentencepiece as spm
    vocab = spm.SentencePieceProcessor(model_file=os.path.join(tok_dir, "tokenizer.model")).vocab_size()
    cfg = configs(vocab)[name]
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():  # make norms and biases non-trivial so a missing one shows
        for n, p in model.named_parameters():
            if n.endswith("norm.weight") or n.endswith(".bias"):
                p.add_(torch.randn_like(p) * 0.2)
            else:
                p.normal_(0, 0.08)
    out = tmp_path / name
    model.save_pretrained(out, safe_serialization=True)
    for f in ("tokenizer.model", "tokenizer_config.json"):
        shutil.copy(os.path.join(tok_dir, f), out / f)
    return model, str(out)


NAMES = ["llama2", "llama3.1-rope-scaling", "llama3.2-tied", "llama-linear-rope", "mistral", "qwen2", "qwen3"]


@pytest.mark.parametrize("name", NAMES)
def test_architecture_matches_transformers_and_llama_cpp(fixture_dir, tmp_path, name):
    model, path = build(tmp_path, name, fixture_dir)
    # Long enough to pass Mistral's window of 8 and the llama3 original context of 32.
    ids = our_ids(path, " ".join(TEXTS) * 2)[:48]
    assert len(ids) == 48
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0].numpy()
    ours = our_logits(path, ids, tmp_path=tmp_path)
    assert max_rel_err(ours, ref) <= 1e-4

    if name == "mistral":
        # llama.cpp runs Mistral as plain llama (no window): compare within the window.
        ids = ids[:8]
        ours = ours[:8]
    gguf_path = str(tmp_path / "m.gguf")
    r = run([SLICETUNE, "export", "--model", path, "--type", "f32", "-o", gguf_path])
    assert r.returncode == 0, r.stderr
    llama_cpp = pytest.importorskip("llama_cpp")
    llm = llama_cpp.Llama(model_path=gguf_path, n_ctx=128, n_batch=128, logits_all=True, n_threads=2, verbose=False)
    llm.eval(ids)
    got = np.array(llm.scores[: len(ids)], dtype=np.float32)
    assert max_rel_err(got, ours) <= 1e-3


def test_unsupported_architecture_lists_the_supported_ones(fixture_dir, tmp_path):
    _, path = build(tmp_path, "llama2", fixture_dir)
    cfg = open(os.path.join(path, "config.json")).read().replace("LlamaForCausalLM", "LlamaForSequenceClassification")
    open(os.path.join(path, "config.json"), "w").write(cfg)
    r = run([SLICETUNE, "export", "--model", path, "--type", "f32", "-o", str(tmp_path / "x.gguf")])
    assert r.returncode == 2
    assert "LlamaForSequenceClassification" in r.stderr and "Qwen3ForCausalLM" in r.stderr
    assert not (tmp_path / "x.gguf").exists()
