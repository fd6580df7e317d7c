"""Shared helpers for the reference-parity tests (run by ctest from the build's venv)."""
import os
import subprocess

import numpy as np
import pytest

SRC = os.environ.get("ST_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("ST_BINARY_DIR", os.path.join(SRC, "build", "dev"))
FIXTURE = os.path.join(BIN, "fixture")
# ST_SLICETUNE: another build of the front end under the same tests (scripts/asan.sh
# runs its AddressSanitizer + UBSan build with the dev build's fixture and trainer).
SLICETUNE = os.environ.get("ST_SLICETUNE") or os.path.join(BIN, "bin", "slicetune")
ST_FORWARD = os.path.join(BIN, "bin", "st_forward")

# Mixed Chinese / English business text, including characters the tiny tokenizer
# never saw (byte fallback), digits and repeated spaces.
TEXTS = [
    "杭分宽带套餐新增277户。",
    "The Hangzhou branch upgraded its cloud server in March.",
    "校对说明：原文“视频会议视频会议”存在叠词错误。",
    "Mixed 中英文 text with  two spaces, digits 2026 and 罕见字龘.",
]


@pytest.fixture(scope="session")
def fixture_dir():
    if not os.path.isdir(os.path.join(FIXTURE, "smoke", "export")):
        pytest.fail(f"{FIXTURE} is missing: run ctest, whose fixture_smoke_run test builds it")
    return FIXTURE


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def our_ids(model_dir, text, bos=True):
    r = run([SLICETUNE, "tokenize", model_dir] + ([] if bos else ["--no-bos"]), input=text + "\n")
    assert r.returncode == 0, r.stderr
    return [int(t) for t in r.stdout.split()]


def our_logits(model_dir, ids, adapter=None, tmp_path=None):
    out = os.path.join(str(tmp_path), "logits.f32")
    args = [ST_FORWARD, model_dir, "--ids", " ".join(map(str, ids)), "--out", out]
    if adapter:
        args += ["--adapter", adapter]
    r = run(args)
    assert r.returncode == 0, r.stderr
    return np.fromfile(out, dtype=np.float32).reshape(len(ids), -1)


def max_rel_err(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def llama_weights(tiny_base, out, hidden, inter, layers, heads, kv_heads, tied=False, seed=0, head_dim=None):
    """A random Llama checkpoint of the given shape in `out`, with tiny-base's
    tokenizer: config.json written, weights returned (name -> float32 array)
    with the generator that made them, for the caller to adjust and save.
    Embedding ~ N(0, 1), matrices ~ N(0, 0.02), norm gains ~ 1 + N(0, 0.1)."""
    import json
    import shutil
    hd = head_dim or hidden // heads
    os.makedirs(out)
    for f in ("tokenizer.model", "tokenizer_config.json"):
        shutil.copy(os.path.join(tiny_base, f), out)
    cfg = json.load(open(os.path.join(tiny_base, "config.json")))
    cfg.update(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers, num_attention_heads=heads,
               num_key_value_heads=kv_heads, head_dim=hd, tie_word_embeddings=tied)
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    rng = np.random.default_rng(seed)

    def mat(o, i, s=0.02):
        return (rng.standard_normal((o, i)) * s).astype(np.float32)

    t = {"model.embed_tokens.weight": mat(cfg["vocab_size"], hidden, 1.0), "model.norm.weight": np.ones(hidden, np.float32)}
    if not tied:
        t["lm_head.weight"] = mat(cfg["vocab_size"], hidden)
    for L in range(layers):
        p = f"model.layers.{L}."
        t[p + "input_layernorm.weight"] = (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32)
        t[p + "post_attention_layernorm.weight"] = (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32)
        t[p + "self_attn.q_proj.weight"] = mat(heads * hd, hidden)
        t[p + "self_attn.k_proj.weight"] = mat(kv_heads * hd, hidden)
        t[p + "self_attn.v_proj.weight"] = mat(kv_heads * hd, hidden)
        t[p + "self_attn.o_proj.weight"] = mat(hidden, heads * hd)
        t[p + "mlp.gate_proj.weight"] = mat(inter, hidden)
        t[p + "mlp.up_proj.weight"] = mat(inter, hidden)
        t[p + "mlp.down_proj.weight"] = mat(hidden, inter)
    return t, rng
