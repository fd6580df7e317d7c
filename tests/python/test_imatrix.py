"""`slicetune imatrix`: activation statistics from our forward pass over a slice's
shards equal transformers' (hooks on every linear layer, one document at a
time), the files are llama.cpp's formats, and quantizing with them lowers the KL
divergence to the F16 model on held-out slice text."""
import glob
import os
import shutil
import struct

import numpy as np
import pytest
from conftest import SLICETUNE, run

gguf = pytest.importorskip("gguf")
h5py = pytest.importorskip("h5py")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# The val split: 10 rows, the last one ending in 80 pad tokens (which must not count).
SPLIT, ROWS = "val", 10


def shard_rows(shards, split, n):
    (path,) = glob.glob(os.path.join(shards, f"{split}-*.h5"))
    with h5py.File(path) as f:
        return f["input_ids"][:n], f["position_ids"][:n], int(f.attrs["pad_id"])


def documents(ids, pos, pad):
    """A packed row split where positions restart (a row may begin inside a
    document), with each piece's positions; lone pad tokens dropped."""
    starts = [0] + [i for i in range(1, len(ids)) if pos[i] == 0] + [len(ids)]
    for a, b in zip(starts, starts[1:]):
        if b - a == 1 and ids[a] == pad and pos[a] == 0:
            continue
        yield [int(t) for t in ids[a:b]], [int(p) for p in pos[a:b]]


def reference_imatrix(model_dir, adapter, shards):
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter:
        peft = pytest.importorskip("peft")
        model = peft.PeftModel.from_pretrained(model, adapter).merge_and_unload()
    names = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
             "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
    sums, counts = {}, {}

    def hook(name):
        def f(_mod, args):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).double()
            sums[name] = sums.get(name, 0) + (x * x).sum(0)
            counts[name] = counts.get(name, 0) + x.shape[0]
        return f

    for i, layer in enumerate(model.model.layers):
        for mod_name, mod in list(layer.self_attn.named_children()) + list(layer.mlp.named_children()):
            if mod_name in names:
                mod.register_forward_pre_hook(hook(f"blk.{i}.{names[mod_name]}.weight"))
    ids, pos, pad = shard_rows(shards, SPLIT, ROWS)
    assert ((ids == pad) & (pos == 0)).sum() > 0  # the padding case is exercised
    with torch.no_grad():
        for r in range(len(ids)):
            for doc, p in documents(ids[r], pos[r], pad):
                model(torch.tensor([doc]), position_ids=torch.tensor([p]))
    return {k: v.float().numpy() for k, v in sums.items()}, counts


def read_imatrix(path):
    r = gguf.GGUFReader(path)
    out = {}
    for t in r.tensors:
        base, kind = t.name.rsplit(".", 1)
        out.setdefault(base, {})[kind] = np.asarray(t.data).reshape(-1).copy()
    return r, out


@pytest.mark.parametrize("with_adapter", [False, True])
def test_statistics_equal_transformers(fixture_dir, tmp_path, with_adapter):
    model = os.path.join(fixture_dir, "tiny-base")
    adapter = os.path.join(fixture_dir, "smoke", "adapter") if with_adapter else None
    shards = os.path.join(fixture_dir, "smoke", "shards")
    out = str(tmp_path / "im.gguf")
    args = [SLICETUNE, "imatrix", "--model", model, "--shards", shards, "--split", SPLIT, "-o", out]
    r = run(args + (["--adapter", adapter] if adapter else []))
    assert r.returncode == 0, r.stderr
    reader, got = read_imatrix(out)
    assert reader.fields["general.type"].contents() == "imatrix"
    assert reader.fields["imatrix.chunk_size"].contents() == 128
    assert reader.fields["imatrix.chunk_count"].contents() == ROWS
    ref_sums, ref_counts = reference_imatrix(model, adapter, shards)
    assert sorted(got) == sorted(ref_sums) and len(got) == 2 * 7
    for name, e in got.items():
        assert int(e["counts"][0]) == ref_counts[name], name
        np.testing.assert_allclose(e["in_sum2"], ref_sums[name], rtol=2e-4, err_msg=name)


def test_legacy_format(fixture_dir, tmp_path):
    """`-o x.dat`: llama-imatrix's legacy layout, values = sums / tokens * ncall."""
    model, shards = os.path.join(fixture_dir, "tiny-base"), os.path.join(fixture_dir, "smoke", "shards")
    for out in ("im.gguf", "im.dat"):
        r = run([SLICETUNE, "imatrix", "--model", model, "--shards", shards, "--max-rows", "3", "-o", str(tmp_path / out)])
        assert r.returncode == 0, r.stderr
    _, ref = read_imatrix(str(tmp_path / "im.gguf"))
    blob = (tmp_path / "im.dat").read_bytes()
    (n,), p = struct.unpack_from("<i", blob), 4
    assert n == len(ref)
    for _ in range(n):
        (ln,) = struct.unpack_from("<i", blob, p)
        name = blob[p + 4: p + 4 + ln].decode()
        ncall, nval = struct.unpack_from("<ii", blob, p + 4 + ln)
        vals = np.frombuffer(blob, np.float32, nval, p + 12 + ln)
        p += 12 + ln + 4 * nval
        tokens = ref[name]["counts"][0]
        assert ncall == int(np.ceil(tokens / 128))
        np.testing.assert_allclose(vals, ref[name]["in_sum2"] / tokens * ncall, rtol=1e-6, err_msg=name)
    chunks, dlen = struct.unpack_from("<ii", blob, p)
    assert chunks == 3 and blob[p + 8: p + 8 + dlen].decode().endswith("shards")


def test_recipe_form_uses_the_recipes_model_adapter_and_shards(fixture_dir, tmp_path):
    run_dir = tmp_path / "smoke"
    shutil.copytree(os.path.join(fixture_dir, "smoke"), run_dir)
    src = os.environ.get("ST_SOURCE_DIR", os.getcwd())
    r = run([SLICETUNE, "imatrix", "recipes/smoke-tiny.yaml", "--set", f"base_model={fixture_dir}/tiny-base",
             "--set", f"output_dir={run_dir}"], cwd=src)
    assert r.returncode == 0, r.stderr
    out = run_dir / "export" / "smoke-tiny-imatrix.gguf"
    reader, got = read_imatrix(str(out))
    assert len(got) == 14 and "smoke" in str(reader.fields["imatrix.datasets"].contents())


def test_wrong_tokenizer_is_refused(fixture_dir, tmp_path):
    model = tmp_path / "other"
    r = run([SLICETUNE, "init-model", "--preset", "tiny", "--vocab-size", "500", str(model)])
    assert r.returncode == 0, r.stderr
    r = run([SLICETUNE, "imatrix", "--model", str(model), "--shards", os.path.join(fixture_dir, "smoke", "shards"),
             "-o", str(tmp_path / "im.gguf")])
    assert r.returncode == 2 and "another tokenizer" in r.stderr
    assert not (tmp_path / "im.gguf").exists()


def heterogeneous_model(fixture_dir, out):
    """The k-quant test model (rows of 256) with the per-channel scale spread of
    real LLMs (log-normal RMSNorm gains): a few input channels carry most of the
    activation energy, which is what an importance matrix is for."""
    from safetensors.numpy import load_file, save_file
    from test_kquants import make_model
    make_model(os.path.join(fixture_dir, "tiny-base"), out, 4, 1, False, 7, stress=False)
    t = load_file(os.path.join(out, "model.safetensors"))
    rng = np.random.default_rng(2)
    for k in t:
        if k.endswith("layernorm.weight") or k == "model.norm.weight":
            t[k] = np.exp(rng.standard_normal(t[k].shape)).astype(np.float32)
    save_file(t, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    return out


def test_slice_imatrix_lowers_kl_on_held_out_text(fixture_dir, tmp_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    model = heterogeneous_model(fixture_dir, str(tmp_path / "model"))
    shards = os.path.join(fixture_dir, "smoke", "shards")
    im = str(tmp_path / "im.gguf")
    assert run([SLICETUNE, "imatrix", "--model", model, "--shards", shards, "-o", im]).returncode == 0
    ids, _, _ = shard_rows(shards, "val", 4)  # held out: the val split, never calibrated on

    def logits(path):
        llm = llama_cpp.Llama(model_path=path, n_ctx=256, n_batch=256, logits_all=True, n_threads=2, verbose=False)
        out = []
        for row in ids:
            llm.reset()
            llm.eval([int(t) for t in row])
            out.append(np.array(llm.scores[: len(row)], dtype=np.float64))
        return np.concatenate(out)

    def export(typ, *extra):
        path = str(tmp_path / f"{typ}{len(extra)}.gguf")
        r = run([SLICETUNE, "export", "--model", model, "--type", typ, "-o", path, *extra])
        assert r.returncode == 0, r.stderr
        return path

    def kl(p, q):
        lp = p - np.logaddexp.reduce(p, axis=1, keepdims=True)
        lq = q - np.logaddexp.reduce(q, axis=1, keepdims=True)
        return float(np.mean(np.sum(np.exp(lp) * (lp - lq), axis=1)))

    ref = logits(export("F16"))
    report = {}
    for typ in ("Q2_K", "Q3_K_S", "Q4_K_S", "Q4_0"):
        plain, calibrated = kl(ref, logits(export(typ))), kl(ref, logits(export(typ, "--imatrix", im)))
        report[typ] = (plain, calibrated)
        print(f"{typ}: KL to F16 without imatrix {plain:.5f}, with the slice's imatrix {calibrated:.5f} "
              f"({calibrated / plain:.3f}x)")
    # Measured 2026-11-29: 0.85x (Q2_K), 0.89x (Q3_K_S), 0.88x (Q4_K_S), 0.90x (Q4_0).
    for typ, (plain, calibrated) in report.items():
        assert calibrated < 0.95 * plain, (typ, report)
