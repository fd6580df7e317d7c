"""rsLoRA and DoRA: adapters we train load in peft (use_rslora / use_dora) and
peft's forward equals ours; our merged checkpoint and our merged GGUF (run by
llama.cpp) equal peft's adapted model; a DoRA adapter is refused as a GGUF LoRA
(llama.cpp applies plain LoRA only) with the way out named."""
import os
import shutil

import numpy as np
import pytest
from conftest import SLICETUNE, SRC, TEXTS, max_rel_err, our_ids, our_logits, run

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")


@pytest.fixture(scope="module", params=["rslora", "dora"])
def trained(request, fixture_dir, tmp_path_factory):
    variant = request.param
    out = tmp_path_factory.mktemp(variant) / "run"
    shutil.copytree(os.path.join(fixture_dir, "smoke", "shards"), out / "shards")  # same data, no rebuild
    r = run([SLICETUNE, "train", "recipes/smoke-tiny.yaml", "--set", f"base_model={fixture_dir}/tiny-base",
             "--set", f"output_dir={out}", "--set", f"lora.variant={variant}", "--set", "train.steps=25",
             "--set", "lora.rank=4"], cwd=SRC)
    assert r.returncode == 0, r.stderr
    return variant, os.path.join(fixture_dir, "tiny-base"), str(out / "adapter")


def peft_logits(base, adapter, ids, merge=False):
    m = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    m = peft.PeftModel.from_pretrained(m, adapter).eval()
    if merge:
        m = m.merge_and_unload()
    with torch.no_grad():
        return m(torch.tensor([ids])).logits[0].numpy()


def test_config_says_the_variant(trained):
    import json
    variant, _, adapter = trained
    cfg = json.load(open(os.path.join(adapter, "adapter_config.json")))
    assert cfg["use_rslora"] == (variant == "rslora") and cfg["use_dora"] == (variant == "dora")
    from safetensors.numpy import load_file
    t = load_file(os.path.join(adapter, "adapter_model.safetensors"))
    mags = [k for k in t if k.endswith("lora_magnitude_vector")]
    assert bool(mags) == (variant == "dora")
    if mags:  # initialised to W's row norms (peft's init), then trained away from them
        base = load_file(os.path.join(trained[1], "model.safetensors"))
        k = "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"
        norms = np.linalg.norm(base["model.layers.0.self_attn.q_proj.weight"], axis=1)
        assert t[k].shape == norms.shape and not np.allclose(t[k], norms, rtol=1e-6)
        assert np.allclose(t[k], norms, rtol=0.2)


def test_peft_forward_equals_ours(trained, tmp_path):
    _, base, adapter = trained
    ids = our_ids(base, TEXTS[0] + TEXTS[2])
    ref = peft_logits(base, adapter, ids)
    assert max_rel_err(our_logits(base, ids, adapter=adapter, tmp_path=tmp_path), ref) <= 1e-4
    assert max_rel_err(peft_logits(base, adapter, ids, merge=True), ref) <= 1e-4  # peft's own merge agrees


def test_merged_exports_equal_peft(trained, tmp_path):
    _, base, adapter = trained
    ids = our_ids(base, TEXTS[1])
    ref = peft_logits(base, adapter, ids)
    r = run([SLICETUNE, "export", "--model", base, "--adapter", adapter, "--type", "hf", "-o", str(tmp_path / "hf")])
    assert r.returncode == 0, r.stderr
    m = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "hf"), dtype=torch.float32)
    with torch.no_grad():
        merged = m(torch.tensor([ids])).logits[0].numpy()
    assert max_rel_err(merged, ref) <= 1e-4
    llama_cpp = pytest.importorskip("llama_cpp")
    g = str(tmp_path / "m.gguf")
    assert run([SLICETUNE, "export", "--model", base, "--adapter", adapter, "--type", "F32", "-o", g]).returncode == 0
    llm = llama_cpp.Llama(model_path=g, n_ctx=128, n_batch=128, logits_all=True, n_threads=2, verbose=False)
    llm.eval(ids)
    assert max_rel_err(np.array(llm.scores[: len(ids)], dtype=np.float32), ref) <= 1e-3


def test_dora_is_not_a_gguf_lora(trained, tmp_path):
    variant, base, adapter = trained
    r = run([SLICETUNE, "export", "--model", base, "--adapter", adapter, "--type", "adapter-f16", "-o", str(tmp_path / "a.gguf")])
    if variant == "rslora":  # plain LoRA arithmetic with another scale: llama.cpp serves it
        assert r.returncode == 0, r.stderr
        return
    assert r.returncode == 2 and "DoRA" in r.stderr and "merged model" in r.stderr
    assert not (tmp_path / "a.gguf").exists()
