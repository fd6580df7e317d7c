"""Our Llama forward against transformers' LlamaForCausalLM (and peft for the
adapter) on the same tiny checkpoint, fp32."""
import os

import pytest
import torch
import numpy as np
from conftest import ST_FORWARD, TEXTS, max_rel_err, our_ids, our_logits, run

transformers = pytest.importorskip("transformers")


def hf_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def load_hf(path):
    return transformers.LlamaForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager").eval()


@pytest.mark.parametrize("text", TEXTS)
def test_base_logits_match_transformers(fixture_dir, tmp_path, text):
    base = os.path.join(fixture_dir, "tiny-base")
    ids = our_ids(base, text)
    ours = our_logits(base, ids, tmp_path=tmp_path)
    ref = hf_logits(load_hf(base), ids)
    assert ours.shape == ref.shape
    assert max_rel_err(ours, ref) <= 1e-4


@pytest.mark.parametrize("variant", ["tiny-base-f16", "tiny-base-bf16"])
def test_half_precision_checkpoints_load_like_transformers(fixture_dir, tmp_path, variant):
    path = os.path.join(fixture_dir, variant)
    ids = our_ids(path, TEXTS[1])
    assert max_rel_err(our_logits(path, ids, tmp_path=tmp_path), hf_logits(load_hf(path), ids)) <= 1e-4


def test_trained_adapter_matches_peft(fixture_dir, tmp_path):
    peft = pytest.importorskip("peft")
    base = os.path.join(fixture_dir, "tiny-base")
    adapter = os.path.join(fixture_dir, "smoke", "adapter")
    ids = our_ids(base, TEXTS[0])
    ours = our_logits(base, ids, adapter=adapter, tmp_path=tmp_path)
    model = peft.PeftModel.from_pretrained(load_hf(base), adapter).eval()
    ref = hf_logits(model, ids)
    assert max_rel_err(ours, ref) <= 1e-4
    # The adapter is not a no-op: it moved the logits away from the base model's.
    assert max_rel_err(hf_logits(load_hf(base), ids), ref) > 1e-3


def test_merged_hf_export_matches_peft(fixture_dir):
    peft = pytest.importorskip("peft")
    base = os.path.join(fixture_dir, "tiny-base")
    ids = our_ids(base, TEXTS[2])
    ref = hf_logits(peft.PeftModel.from_pretrained(load_hf(base), os.path.join(fixture_dir, "smoke", "adapter")), ids)
    merged = hf_logits(load_hf(os.path.join(fixture_dir, "merged-hf")), ids)
    assert max_rel_err(merged, ref) <= 1e-4


def test_sharded_bf16_merge_loads_in_transformers(fixture_dir, tmp_path):
    peft = pytest.importorskip("peft")
    import json
    from conftest import SLICETUNE, run
    import shutil
    base = os.path.join(fixture_dir, "tiny-base-bf16")
    # The smoke adapter on another base, on purpose (only the bf16 sharding matters
    # here): without its base record, as an adapter trained elsewhere would come.
    adapter = str(tmp_path / "adapter")
    shutil.copytree(os.path.join(fixture_dir, "smoke", "adapter"), adapter)
    os.remove(os.path.join(adapter, "slicetune_base.json"))
    out = tmp_path / "merged"
    r = run([SLICETUNE, "export", "--model", base, "--adapter", adapter, "--type", "hf", "--max-shard-mb", "1", "-o", str(out)])
    assert r.returncode == 0, r.stderr
    index = json.load(open(out / "model.safetensors.index.json"))
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1 and all((out / s).exists() for s in shards)
    # The base's dtype is kept (the merge runs in f32, then rounds back).
    header = json.loads(open(out / shards[0], "rb").read()[8:8 + int.from_bytes(open(out / shards[0], "rb").read(8), "little")])
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"BF16"}
    ids = our_ids(base, TEXTS[0])
    merged = hf_logits(load_hf(str(out)), ids)
    ref = hf_logits(peft.PeftModel.from_pretrained(load_hf(base), adapter).eval(), ids)
    assert max_rel_err(merged, ref) <= 2e-2  # merged weights rounded back to bf16


def test_packed_documents_do_not_see_each_other(fixture_dir, tmp_path):
    """Two documents packed in one row with restarting positions give each the
    logits it gets alone (what transformers computes for each by itself)."""
    import torch
    import transformers
    model = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(fixture_dir, "tiny-base"), dtype=torch.float32)
    a = our_ids(os.path.join(fixture_dir, "tiny-base"), TEXTS[0])
    b = our_ids(os.path.join(fixture_dir, "tiny-base"), TEXTS[1])
    ids = a + b
    pos = list(range(len(a))) + list(range(len(b)))
    out = str(tmp_path / "logits.f32")
    r = run([ST_FORWARD, os.path.join(fixture_dir, "tiny-base"), "--ids", " ".join(map(str, ids)),
             "--positions", " ".join(map(str, pos)), "--out", out])
    assert r.returncode == 0, r.stderr
    ours = np.fromfile(out, dtype=np.float32).reshape(len(ids), -1)
    with torch.no_grad():
        ref_a = model(torch.tensor([a])).logits[0].numpy()
        ref_b = model(torch.tensor([b])).logits[0].numpy()
    assert max_rel_err(ours[: len(a)], ref_a) < 1e-4
    assert max_rel_err(ours[len(a):], ref_b) < 1e-4
