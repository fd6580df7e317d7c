"""llama.cpp (through llama-cpp-python) loads our GGUF files: its logits and its
tokenization agree with ours, and our GGUF LoRA adapter applied to the base GGUF
equals the merged GGUF."""
import os

import numpy as np
import pytest
from conftest import TEXTS, max_rel_err, our_ids, our_logits

llama_cpp = pytest.importorskip("llama_cpp")


def load(path, lora=None):
    return llama_cpp.Llama(model_path=path, lora_path=lora, n_ctx=256, n_batch=256, logits_all=True,
                           n_threads=2, verbose=False, seed=0)


def cpp_logits(llm, ids):
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def export(fixture_dir, name):
    return os.path.join(fixture_dir, "smoke", "export", name)


@pytest.mark.parametrize("text", TEXTS)
def test_tokenization_matches_ours_and_sentencepiece(fixture_dir, text):
    import sentencepiece as spm
    base = os.path.join(fixture_dir, "tiny-base")
    ours = our_ids(base, text, bos=False)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(base, "tokenizer.model"))
    assert ours == sp.encode(text)
    llm = load(export(fixture_dir, "smoke-tiny-f32.gguf"))
    assert llm.tokenize(text.encode("utf-8"), add_bos=False) == ours
    assert llm.tokenize(text.encode("utf-8"), add_bos=True)[0] == sp.bos_id()


def test_f32_gguf_logits_match_ours(fixture_dir, tmp_path):
    base = os.path.join(fixture_dir, "tiny-base")
    adapter = os.path.join(fixture_dir, "smoke", "adapter")
    llm = load(export(fixture_dir, "smoke-tiny-f32.gguf"))
    for text in TEXTS:
        ids = our_ids(base, text)
        ours = our_logits(base, ids, adapter=adapter, tmp_path=tmp_path)
        assert max_rel_err(cpp_logits(llm, ids), ours) <= 1e-3, text


def test_f16_gguf_loads_and_stays_close(fixture_dir, tmp_path):
    base = os.path.join(fixture_dir, "tiny-base")
    ids = our_ids(base, TEXTS[1])
    ours = our_logits(base, ids, adapter=os.path.join(fixture_dir, "smoke", "adapter"), tmp_path=tmp_path)
    got = cpp_logits(load(export(fixture_dir, "smoke-tiny-f16.gguf")), ids)
    assert max_rel_err(got, ours) <= 2e-2


def test_adapter_gguf_on_base_equals_merged_gguf(fixture_dir):
    base = os.path.join(fixture_dir, "tiny-base")
    ids = our_ids(base, TEXTS[0])
    merged = cpp_logits(load(export(fixture_dir, "smoke-tiny-f32.gguf")), ids)
    base_only = cpp_logits(load(os.path.join(fixture_dir, "base-f32.gguf")), ids)
    with_lora = cpp_logits(load(os.path.join(fixture_dir, "base-f32.gguf"),
                                lora=export(fixture_dir, "smoke-tiny-adapter-f32.gguf")), ids)
    assert max_rel_err(with_lora, merged) <= 1e-3
    assert max_rel_err(base_only, merged) > 1e-3  # the adapter was applied, not ignored
