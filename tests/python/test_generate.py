"""`slicetune generate`: greedy generation with our KV cache equals transformers'
(with peft for a slice) token for token, as plain text or through the model's
chat template; it stops at EOS or the family's end-of-turn token; sampling is
reproducible from its seed."""
import os
import subprocess

import pytest
from conftest import BIN, SLICETUNE, TEXTS, run
from test_chat_template import KIND, model_dirs  # noqa: F401

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
TRAIN = os.path.join(BIN, "bin", "slicetune-train")


def hf_model(base, adapter=None):
    m = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if adapter:
        peft = pytest.importorskip("peft")
        m = peft.PeftModel.from_pretrained(m, adapter)
    return m.eval()


def hf_greedy(m, ids, n):
    """Greedy continuation recomputing the whole sequence each step (no cache)."""
    ids = list(ids)
    out = []
    with torch.no_grad():
        for _ in range(n):
            nxt = int(m(torch.tensor([ids])).logits[0, -1].argmax())
            out.append(nxt)
            ids.append(nxt)
    return out


def ours(*args):
    r = run([SLICETUNE, "generate", *args, "--ids"])
    assert r.returncode == 0, r.stderr
    return [int(t) for t in r.stdout.split()]


def test_kv_cache_generation_equals_full_recompute(fixture_dir, tmp_path):
    base = os.path.join(fixture_dir, "tiny-base")
    adapter = os.path.join(fixture_dir, "smoke", "adapter")
    tok = transformers.AutoTokenizer.from_pretrained(base)
    prompt = tok(TEXTS[1])["input_ids"]
    out = tmp_path / "ids.txt"
    r = subprocess.run([TRAIN, "generate", "--model", base, "--adapter", adapter, "--ids", " ".join(map(str, prompt)),
                        "--max-new-tokens", "24", "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = [int(t) for t in out.read_text().split()]
    assert got == hf_greedy(hf_model(base, adapter), prompt, 24)


def test_raw_prompt_equals_transformers_generate(fixture_dir):
    base = os.path.join(fixture_dir, "tiny-base")
    adapter = os.path.join(fixture_dir, "smoke", "adapter")
    tok = transformers.AutoTokenizer.from_pretrained(base)
    m = hf_model(base, adapter)
    for text in (TEXTS[1], TEXTS[3]):
        ids = tok(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            ref = m.generate(ids, max_new_tokens=20, do_sample=False, eos_token_id=tok.eos_token_id,
                             pad_token_id=tok.eos_token_id)[0, ids.shape[1]:].tolist()
        if tok.eos_token_id in ref:
            ref = ref[: ref.index(tok.eos_token_id)]  # we stop before EOS and do not print it
        assert ours(base, "--adapter", adapter, "--raw", "--prompt", text, "--max-new-tokens", "20") == ref


@pytest.mark.parametrize("template", ["qwen2.5", "llama3", "mistral-v3"])
def test_chat_prompt_equals_transformers(model_dirs, template, tmp_path):  # noqa: F811
    import json
    d = model_dirs[template]
    tok = transformers.AutoTokenizer.from_pretrained(d)
    msgs = [{"role": "user", "content": "把“杭分”展开成全称。"}]
    # The prompt as we tokenize the rendered chat (equal to transformers' ids for
    # BPE vocabularies and to llama.cpp's for sentencepiece: test_chat_template.py).
    (tmp_path / "c.json").write_text(json.dumps(msgs, ensure_ascii=False), encoding="utf-8")
    r = run([SLICETUNE, "tokenize", d, "--chat", str(tmp_path / "c.json"), "--add-generation-prompt", "--ids"])
    assert r.returncode == 0, r.stderr
    ids = torch.tensor([[int(t) for t in r.stdout.splitlines()[0].split()]])
    end = {"qwen2.5": "<|im_end|>", "llama3": "<|eot_id|>"}.get(template, tok.eos_token)
    stops = sorted({tok.convert_tokens_to_ids(end), tok.eos_token_id} - {None})
    m = hf_model(d)
    got = ours(d, "--prompt", msgs[0]["content"], "--max-new-tokens", "12")
    # Random weights give near-ties between the top logits, where float noise may
    # pick either: every token we chose is transformers' argmax to within 1e-4,
    # on the prompt transformers' template rendered; and a stop ended the reply early.
    seq = ids[0].tolist()
    with torch.no_grad():
        for i, t in enumerate(got + [None]):
            if t is None and len(got) == 12:
                break
            logits = m(torch.tensor([seq])).logits[0, -1]
            best = float(logits.max())
            if t is None:
                assert max(float(logits[s]) for s in stops) >= best - 1e-4, "stopped without a stop token"
                break
            assert float(logits[t]) >= best - 1e-4, (i, t, int(logits.argmax()))
            seq.append(t)


def test_sampling_is_seeded(fixture_dir):
    base = os.path.join(fixture_dir, "tiny-base")
    args = [base, "--raw", "--prompt", TEXTS[0], "--max-new-tokens", "16", "--temperature", "1.5", "--top-k", "50",
            "--top-p", "0.95"]
    a, b = ours(*args, "--seed", "7"), ours(*args, "--seed", "7")
    c = ours(*args, "--seed", "8")
    assert a == b and a != c


def test_model_without_chat_template_says_raw(fixture_dir):
    r = run([SLICETUNE, "generate", os.path.join(fixture_dir, "tiny-base"), "--prompt", "杭分"])
    assert r.returncode == 2 and "--raw" in r.stderr
