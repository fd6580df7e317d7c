"""Precision and memory options of training: activation checkpointing recomputes
each block in the backward pass and changes nothing in the result (same adapter
bytes, dropout and accumulation on); bf16 keeps the frozen base in bfloat16 and
the LoRA factors and optimizer state in float32, and learns as float32 does."""
import json
import shutil

import pytest
from conftest import SLICETUNE, SRC, run
from safetensors import safe_open

SETS = ["--set", "train.steps=6", "--set", "train.batch_size=4", "--set", "lora.rank=4", "--set", "train.grad_accum=2",
        "--set", "lora.dropout=0.1", "--set", "train.log_every=3", "--set", "train.eval_every=3"]


def train(fixture_dir, out, *extra):
    shutil.copytree(f"{fixture_dir}/smoke/shards", out / "shards")
    r = run([SLICETUNE, "train", "recipes/smoke-tiny.yaml", "--set", f"base_model={fixture_dir}/tiny-base",
             "--set", f"output_dir={out}", *SETS, *extra], cwd=SRC)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def fp32(fixture_dir, tmp_path_factory):
    return train(fixture_dir, tmp_path_factory.mktemp("fp32") / "run")


def log_of(out):
    return json.load(open(out / "train_log.json"))


def test_activation_checkpointing_gives_the_same_adapter(fp32, fixture_dir, tmp_path):
    ckpt = train(fixture_dir, tmp_path / "ckpt", "--set", "train.activation_checkpointing=true")
    assert (ckpt / "adapter" / "adapter_model.safetensors").read_bytes() == \
        (fp32 / "adapter" / "adapter_model.safetensors").read_bytes()
    strip = lambda log: [{k: v for k, v in e.items() if k != "tokens_per_second"} for e in log["log"]]
    assert strip(log_of(ckpt)) == strip(log_of(fp32))


def test_bf16_base_learns_like_fp32_with_fp32_adapter(fp32, fixture_dir, tmp_path):
    bf = train(fixture_dir, tmp_path / "bf16", "--set", "train.precision=bf16")
    a, b = log_of(fp32), log_of(bf)
    evals = lambda log: [e["val_loss"] for e in log["log"] if "val_loss" in e]
    assert len(evals(a)) == len(evals(b)) == 3
    for x, y in zip(evals(a), evals(b)):  # baseline, step 3, end
        assert abs(x - y) < 0.01 * x, (evals(a), evals(b))
    assert evals(b)[-1] < evals(b)[0]
    with safe_open(str(bf / "adapter" / "adapter_model.safetensors"), "np") as f:
        for k in f.keys():
            assert f.get_slice(k).get_dtype() == "F32", k
    with safe_open(str(next((bf / "checkpoints").iterdir()) / "state.safetensors"), "np") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys() if k != "torch_rng"} == {"F32"}  # moments in float32


def test_precision_is_validated(fixture_dir, tmp_path):
    r = run([SLICETUNE, "train", "recipes/smoke-tiny.yaml", "--set", f"base_model={fixture_dir}/tiny-base",
             "--set", f"output_dir={tmp_path}", "--set", "train.precision=fp8"], cwd=SRC)
    assert r.returncode == 2 and "train.precision" in r.stderr and "bf16" in r.stderr, r.stderr
