"""An adapter remembers its base (slicetune_base.json, written by training):
merging, GGUF export, GGUF LoRA export and imatrix collection refuse another
base of the same shapes, name both and leave no output; the same weights
re-saved in another dtype still match; adapters without the record (trained
elsewhere) are taken as they are."""
import json
import os
import shutil

import pytest
from conftest import SLICETUNE, run

from safetensors.numpy import load_file, save_file  # noqa: E402


@pytest.fixture(scope="module")
def bases(fixture_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("bases")
    same = str(root / "same-as-f16")  # tiny-base's own weights, stored as float16
    shutil.copytree(os.path.join(fixture_dir, "tiny-base"), same)
    t = load_file(os.path.join(same, "model.safetensors"))
    save_file({k: v.astype("float16") for k, v in t.items()}, os.path.join(same, "model.safetensors"), metadata={"format": "pt"})
    cfg = json.load(open(os.path.join(same, "config.json")))
    cfg["torch_dtype"] = "float16"
    json.dump(cfg, open(os.path.join(same, "config.json"), "w"))
    other = str(root / "other")  # tiny-base's tokenizer and config, another seed's weights of the same shapes
    shutil.copytree(os.path.join(fixture_dir, "tiny-base"), other)
    shutil.copy(os.path.join(fixture_dir, "tiny-base-f16", "model.safetensors"), other)
    return {"own": os.path.join(fixture_dir, "tiny-base"), "same": same, "other": other}


COMMANDS = {
    "gguf": lambda base, ad, out: [SLICETUNE, "export", "--model", base, "--adapter", ad, "--type", "Q8_0", "-o", out],
    "lora": lambda base, ad, out: [SLICETUNE, "export", "--model", base, "--adapter", ad, "--type", "adapter-f16", "-o", out],
    "hf": lambda base, ad, out: [SLICETUNE, "export", "--model", base, "--adapter", ad, "--type", "hf", "-o", out],
}


@pytest.mark.parametrize("kind", list(COMMANDS))
def test_wrong_base_is_refused(fixture_dir, bases, tmp_path, kind):
    ad = os.path.join(fixture_dir, "smoke", "adapter")
    assert os.path.exists(os.path.join(ad, "slicetune_base.json"))
    out = str(tmp_path / "out")
    r = run(COMMANDS[kind](bases["other"], ad, out))
    assert r.returncode == 2, r.stderr
    assert "was trained on" in r.stderr and "tiny-base" in r.stderr and "other weights" in r.stderr
    assert not os.path.exists(out)
    for ok in ("own", "same"):
        r = run(COMMANDS[kind](bases[ok], ad, str(tmp_path / f"ok-{ok}")))
        assert r.returncode == 0, (ok, r.stderr)


def test_imatrix_checks_the_base_too(fixture_dir, bases, tmp_path):
    r = run([SLICETUNE, "imatrix", "--model", bases["other"], "--adapter", os.path.join(fixture_dir, "smoke", "adapter"),
             "--shards", os.path.join(fixture_dir, "smoke", "shards"), "-o", str(tmp_path / "im.gguf")])
    assert r.returncode == 2 and "was trained on" in r.stderr and "other weights" in r.stderr, r.stderr
    assert not (tmp_path / "im.gguf").exists()


def test_adapter_without_record_is_taken(fixture_dir, bases, tmp_path):
    ad = str(tmp_path / "adapter")
    shutil.copytree(os.path.join(fixture_dir, "smoke", "adapter"), ad)
    os.remove(os.path.join(ad, "slicetune_base.json"))
    r = run(COMMANDS["gguf"](bases["other"], ad, str(tmp_path / "x.gguf")))
    assert r.returncode == 0, r.stderr


def test_other_architecture_is_named(fixture_dir, tmp_path):
    ad = os.path.join(fixture_dir, "smoke", "adapter")
    d = str(tmp_path / "wider")
    shutil.copytree(os.path.join(fixture_dir, "tiny-base"), d)
    cfg = json.load(open(os.path.join(d, "config.json")))
    cfg["num_hidden_layers"] = 1
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    t = load_file(os.path.join(d, "model.safetensors"))
    save_file({k: v for k, v in t.items() if ".layers.1." not in k}, os.path.join(d, "model.safetensors"))
    r = run(COMMANDS["gguf"](d, ad, str(tmp_path / "x.gguf")))
    assert r.returncode == 2 and "architecture, tensor names or shapes" in r.stderr, r.stderr
