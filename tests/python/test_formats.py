"""Our files open in the field's own readers: h5py reads the shards, the
safetensors package reads the adapter, gguf-py reads the GGUF files."""
import hashlib
import json
import os

import numpy as np
import pytest


def test_h5py_reads_shards_and_manifest_checksums_hold(fixture_dir):
    h5py = pytest.importorskip("h5py")
    shards = os.path.join(fixture_dir, "smoke", "shards")
    manifest = json.load(open(os.path.join(shards, "manifest.json")))
    assert manifest["format"] == "slicetune-manifest" and manifest["format_version"] == 1
    tok_sha = hashlib.sha256(open(os.path.join(fixture_dir, "tiny-base", "tokenizer.model"), "rb").read()).hexdigest()
    assert manifest["tokenizer_sha256"] == tok_sha
    assert {s["split"] for s in manifest["shards"]} == {"train", "val"}
    for s in manifest["shards"]:
        path = os.path.join(shards, s["file"])
        assert hashlib.sha256(open(path, "rb").read()).hexdigest() == s["sha256"]
        with h5py.File(path, "r") as f:
            ids, mask, pos = f["input_ids"][...], f["loss_mask"][...], f["position_ids"][...]
            assert f.attrs["format"] in (b"slicetune-shard", "slicetune-shard")
            assert int(f.attrs["format_version"]) == 3
            assert ids.dtype == np.int32 and mask.dtype == np.uint8
            assert ids.shape == (s["sequences"], manifest["seq_len"]) == mask.shape
            assert int(mask.sum()) == s["target_tokens"] == int(f.attrs["num_target_tokens"])
            assert f["input_ids"].compression == "gzip" and f["input_ids"].shuffle
            assert ids.min() >= 0
            # Packed documents: positions restart at each document, whose first token is no target.
            assert pos.shape == ids.shape and pos.dtype == np.int32
            starts = (pos == 0) & (ids != int(f.attrs["pad_id"]))  # padding is position 0 too
            assert starts.sum() > ids.shape[0] and not mask[pos == 0].any()
            assert (ids[starts] == 1).all()  # every packed document begins with the tiny model's BOS


def test_safetensors_reads_adapter_with_peft_names(fixture_dir):
    from safetensors.numpy import load_file
    adapter = os.path.join(fixture_dir, "smoke", "adapter")
    cfg = json.load(open(os.path.join(adapter, "adapter_config.json")))
    t = load_file(os.path.join(adapter, "adapter_model.safetensors"))
    r = cfg["r"]
    a = t["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]
    b = t["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"]
    assert a.shape == (r, 128) and b.shape == (128, r)
    assert len(t) == 2 * 2 * len(cfg["target_modules"])
    assert np.abs(b).max() > 0  # trained: B moved away from its zero init


def test_gguf_py_reads_model_and_adapter(fixture_dir):
    gguf = pytest.importorskip("gguf")
    from safetensors.numpy import load_file
    exp = os.path.join(fixture_dir, "smoke", "export")
    r = gguf.GGUFReader(os.path.join(exp, "smoke-tiny-f32.gguf"))
    field = lambda rd, k: rd.fields[k].contents()
    assert field(r, "general.architecture") == "llama"
    assert field(r, "llama.block_count") == 2
    assert field(r, "tokenizer.ggml.model") == "llama"
    assert field(r, "general.slicetune.slice") == "smoke-tiny"
    assert field(r, "general.slicetune.version").count(".") == 2
    names = [t.name for t in r.tensors]
    assert names[0] == "token_embd.weight" and "blk.1.ffn_down.weight" in names
    base = load_file(os.path.join(fixture_dir, "tiny-base", "model.safetensors"))
    emb = next(t for t in r.tensors if t.name == "token_embd.weight")
    assert list(emb.shape) == [128, base["model.embed_tokens.weight"].shape[0]]  # ne[0] innermost
    np.testing.assert_array_equal(np.asarray(emb.data).reshape(-1), base["model.embed_tokens.weight"].reshape(-1))
    f16 = gguf.GGUFReader(os.path.join(exp, "smoke-tiny-f16.gguf"))
    norm = next(t for t in f16.tensors if t.name == "blk.0.attn_norm.weight")
    assert norm.tensor_type == gguf.GGMLQuantizationType.F32  # 1-D norms stay F32
    q = next(t for t in f16.tensors if t.name == "blk.0.attn_q.weight")
    assert q.tensor_type == gguf.GGMLQuantizationType.F16
    ad = gguf.GGUFReader(os.path.join(exp, "smoke-tiny-adapter-f32.gguf"))
    assert field(ad, "general.type") == "adapter" and field(ad, "adapter.type") == "lora"
    assert field(ad, "adapter.lora.alpha") == pytest.approx(16.0)
    la = next(t for t in ad.tensors if t.name == "blk.0.attn_v.weight.lora_a")
    assert list(la.shape) == [128, 8]  # ne = [in, r]
