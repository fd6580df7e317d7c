"""Several slices on one base: a recipe with `slices:` trains N adapters in one
process on one load of the base model, each with its own shards, evaluation,
checkpoints and outputs; a slice trained in the list equals the same slice
trained alone (nothing leaks from one slice to the next), an interrupted list
resumes where it stopped, and export / run handle every slice."""
import json
import os
import signal
import subprocess
import time

import pytest
from conftest import SLICETUNE, SRC, run


def sliced_recipe(fixture_dir, tmp_path, out):
    text = f"""name: branches
base_model: {fixture_dir}/tiny-base
output_dir: {out}
seed: 17
data:
  sources: [{{path: {SRC}/recipes/data/smoke/corpus.txt, format: text}}]
  seq_len: 64
  val_fraction: 0.05
lora: {{rank: 4, alpha: 8, dropout: 0.1, targets: [q_proj, v_proj, down_proj]}}
train: {{steps: 8, batch_size: 4, lr: 2.0e-3, save_every: 4, log_every: 4}}
export: {{types: [f16], adapter_gguf: true}}
slices:
  - name: hz
  - name: pairs
    data:
      sources: [{{path: {SRC}/recipes/data/smoke/pairs.jsonl, format: instruction, fields: {{prompt: input, response: output}}}}]
    lora: {{rank: 2, variant: rslora}}
    train: {{steps: 10, grad_accum: 2}}
"""
    p = tmp_path / "branches.yaml"
    p.write_text(text)
    return str(p)


def adapter_bytes(out, name):
    return (out / name / "adapter" / "adapter_model.safetensors").read_bytes()


@pytest.fixture(scope="module")
def trained(fixture_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slices")
    out = tmp / "runs"
    recipe = sliced_recipe(fixture_dir, tmp, out)
    r = run([SLICETUNE, "train", recipe], cwd=SRC)
    assert r.returncode == 0, r.stderr
    return recipe, out, r.stderr


def test_each_slice_has_its_own_outputs_on_one_base_load(trained):
    recipe, out, err = trained
    assert err.count("loading the base model") == 1, err
    for name, steps, rank in (("hz", 8, 4), ("pairs", 10, 2)):
        d = out / name
        for f in ("shards/manifest.json", "adapter/adapter_model.safetensors", "train_log.json", "metrics.jsonl",
                  "train_report.html", "recipe.resolved.yaml"):
            assert (d / f).exists(), (name, f)
        log = json.load(open(d / "train_log.json"))
        assert log["recipe"] == name and log["steps"] == steps
        assert log["val_loss"] < [e for e in log["log"] if "val_loss" in e][0]["val_loss"]  # learned from the baseline
        cfg = json.load(open(d / "adapter" / "adapter_config.json"))
        assert cfg["r"] == rank
        assert sorted(os.listdir(d / "checkpoints"))[-1] == f"step-{steps:08d}"
    assert json.load(open(out / "pairs" / "adapter" / "adapter_config.json"))["use_rslora"] is True
    # Different data: different shards.
    hz = json.load(open(out / "hz" / "shards" / "manifest.json"))
    pairs = json.load(open(out / "pairs" / "shards" / "manifest.json"))
    assert hz["data_sha256"] != pairs["data_sha256"] and hz["inputs"] != pairs["inputs"]


def test_a_slice_in_the_list_equals_the_slice_trained_alone(trained, fixture_dir, tmp_path):
    recipe, out, _ = trained
    alone = tmp_path / "alone"
    r = run([SLICETUNE, "train", recipe, "--slice", "pairs", "--set", f"output_dir={alone}"], cwd=SRC)
    assert r.returncode == 0, r.stderr
    assert (alone / "pairs" / "adapter").exists() and not (alone / "hz").exists()
    assert adapter_bytes(alone, "pairs") == adapter_bytes(out, "pairs")


def test_interrupted_list_resumes_where_it_stopped(trained, fixture_dir, tmp_path):
    recipe, out, _ = trained
    work = tmp_path / "runs"
    args = [SLICETUNE, "train", recipe, "--set", f"output_dir={work}"]
    p = subprocess.Popen(args, cwd=SRC, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    want = work / "pairs" / "checkpoints" / "step-00000004" / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline and not want.exists() and p.poll() is None:
        time.sleep(0.005)
    assert want.exists(), "the second slice never checkpointed"
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    r = run(args + ["--resume"], cwd=SRC)
    assert r.returncode == 0, r.stderr
    assert "hz/adapter is current, skipping" in r.stderr  # hz was finished
    for name in ("hz", "pairs"):
        assert adapter_bytes(work, name) == adapter_bytes(out, name), name


def test_export_and_run_cover_every_slice(trained, tmp_path):
    recipe, out, _ = trained
    r = run([SLICETUNE, "export", recipe], cwd=SRC)
    assert r.returncode == 0, r.stderr
    for name in ("hz", "pairs"):
        exp = out / name / "export"
        assert (exp / f"{name}-f16.gguf").exists() and (exp / f"{name}-adapter-f32.gguf").exists()
        assert (exp / f"{name}-f16.Modelfile").exists()
    from gguf import GGUFReader
    meta = GGUFReader(str(out / "pairs" / "export" / "pairs-f16.gguf")).fields
    assert bytes(meta["general.name"].parts[-1]).decode() == "branches/pairs"
    # Everything current: run trains nothing.
    r = run([SLICETUNE, "run", recipe], cwd=SRC)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("up to date, skipping") == 4 and "loading the base model" not in r.stderr, r.stderr


def test_slice_errors(trained, tmp_path):
    recipe, _, _ = trained
    r = run([SLICETUNE, "train", recipe, "--slice", "beijing"], cwd=SRC)
    assert r.returncode == 2 and "no such slice (the recipe has hz, pairs)" in r.stderr, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(open(recipe).read() + "  - name: hz\n")
    r = run([SLICETUNE, "train", str(bad)], cwd=SRC)
    assert r.returncode == 2 and "slices[2].name" in r.stderr and "named twice" in r.stderr, r.stderr
