"""One base GGUF plus N slice adapters (`export --adapter a=DIR --adapter b=DIR`):
llama.cpp running the base with each slice's GGUF LoRA equals our merged export
of that slice, each PEFT copy is the adapter itself and loads in peft, each
Modelfile points at files that exist, and bundle.json's hashes hold."""
import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from conftest import SLICETUNE, TEXTS, max_rel_err, our_ids, run

llama_cpp = pytest.importorskip("llama_cpp")
from safetensors.numpy import load_file, save_file  # noqa: E402


@pytest.fixture(scope="module")
def two_slices(fixture_dir, tmp_path_factory):
    """The smoke run's adapter and a second one with other factors (B negated and
    perturbed), as two city branches' slices would be."""
    root = tmp_path_factory.mktemp("slices")
    a = os.path.join(fixture_dir, "smoke", "adapter")
    b = str(root / "shanghai" / "adapter")
    shutil.copytree(a, b)
    t = load_file(os.path.join(b, "adapter_model.safetensors"))
    rng = np.random.default_rng(4)
    for k in t:
        if "lora_B" in k:
            t[k] = (-t[k] + rng.normal(0, 0.02, t[k].shape)).astype(np.float32)
    save_file(t, os.path.join(b, "adapter_model.safetensors"), metadata={"format": "pt"})
    return {"hangzhou": a, "shanghai": b}


def logits(model, ids, lora=None):
    llm = llama_cpp.Llama(model_path=model, lora_path=lora, n_ctx=256, n_batch=256, logits_all=True, n_threads=2,
                          verbose=False)
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def test_base_plus_slices_equal_merged_exports(fixture_dir, two_slices, tmp_path):
    base = os.path.join(fixture_dir, "tiny-base")
    out = tmp_path / "bundle"
    args = [SLICETUNE, "export", "--model", base, "--type", "F32", "--adapter-type", "f32", "-o", str(out)]
    for name, d in two_slices.items():
        args += ["--adapter", f"{name}={d}"]
    r = run(args)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "bundle.json").read_text())
    assert [s["name"] for s in manifest["slices"]] == ["hangzhou", "shanghai"]
    ids = our_ids(base, TEXTS[0] + TEXTS[2])
    base_gguf = str(out / manifest["base_gguf"]["file"])
    plain = logits(base_gguf, ids)
    for s in manifest["slices"]:
        name = s["name"]
        merged = str(tmp_path / f"{name}-merged.gguf")
        assert run([SLICETUNE, "export", "--model", base, "--adapter", two_slices[name], "--type", "F32", "-o", merged]).returncode == 0
        want = logits(merged, ids)
        got = logits(base_gguf, ids, lora=str(out / f"{name}.lora.gguf"))
        assert max_rel_err(got, want) <= 1e-3, name
        assert max_rel_err(plain, want) > 1e-2, name  # the slice really changes the model
        for rel, sha in s["files"].items():
            assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == sha, rel
        for f in ("adapter_model.safetensors", "adapter_config.json"):
            assert (out / f"{name}-peft" / f).read_bytes() == open(os.path.join(two_slices[name], f), "rb").read()
        mf = (out / f"{name}.Modelfile").read_text()
        assert f"FROM ./{manifest['base_gguf']['file']}\n" in mf and f"ADAPTER ./{name}.lora.gguf\n" in mf
    assert hashlib.sha256(open(base_gguf, "rb").read()).hexdigest() == manifest["base_gguf"]["sha256"]


def test_peft_loads_each_slice_copy(fixture_dir, two_slices, tmp_path):
    peft = pytest.importorskip("peft")
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    base = os.path.join(fixture_dir, "tiny-base")
    out = tmp_path / "bundle"
    r = run([SLICETUNE, "export", "--model", base, "--type", "Q8_0", "--separate", "--adapter", two_slices["shanghai"],
             "-o", str(out)])
    assert r.returncode == 0, r.stderr
    assert (out / "shanghai.lora.gguf").exists() and (out / "base-Q8_0.gguf").exists()  # named after the run folder
    m = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    m = peft.PeftModel.from_pretrained(m, str(out / "shanghai-peft"))
    ids = torch.tensor([our_ids(base, TEXTS[1])])
    with torch.no_grad():
        assert torch.isfinite(m(ids).logits).all()


@pytest.mark.parametrize("bad", ["dup", "name", "missing"])
def test_bad_adapters_leave_nothing(fixture_dir, two_slices, tmp_path, bad):
    base = os.path.join(fixture_dir, "tiny-base")
    a = two_slices["hangzhou"]
    adapters = {"dup": [f"x={a}", f"x={two_slices['shanghai']}"], "name": [f"bad/name={a}", a],
                "missing": [a, f"gone={tmp_path / 'nope'}"]}[bad]
    args = [SLICETUNE, "export", "--model", base, "--type", "F16", "-o", str(tmp_path / "out")]
    for x in adapters:
        args += ["--adapter", x]
    r = run(args)
    assert r.returncode == 2, r.stderr
    assert {"dup": "both named 'x'", "name": "may hold only", "missing": "nope"}[bad] in r.stderr
    assert not (tmp_path / "out").exists() and not any(p.name.startswith("out.tmp") for p in tmp_path.iterdir())
