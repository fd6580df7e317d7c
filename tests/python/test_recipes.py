"""The shipped recipes end to end (`slicetune run`: data -> train -> eval -> export),
their sample data, the stage skipping of `run`, the run report, text-to-SQL
execution accuracy held against Python's own sqlite3, and the containers' lint.

The recipes run here on a tiny base given its language by recipes/tiny-lm.yaml
(full training) with fewer steps than they ship with; the numbers of the shipped
settings are in the README (scripts/slice_table.sh)."""
import glob
import json
import os
import shutil
import sqlite3
import subprocess

import pytest

from conftest import BIN, SLICETUNE, SRC, run

SLICES = os.path.join(SRC, "recipes", "data", "slices")
HADOLINT = os.path.join(BIN, "..", "venv", "bin", "hadolint")


def st(args, cwd=SRC, ok=True):
    r = run([SLICETUNE] + args, cwd=cwd)
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A 4-layer tiny Llama with the sample tokenizer, full-trained for a few steps."""
    d = tmp_path_factory.mktemp("recipes")
    st(["init-model", "--preset", "tiny", "--layers", "4", "--vocab-size", "600", "--corpus",
        os.path.join(SLICES, "lm.txt"), str(d / "tiny-random")])
    st(["run", "recipes/tiny-lm.yaml", "--set", f"base_model={d / 'tiny-random'}", "--set",
        f"output_dir={d / 'tiny-lm'}", "--set", "train.steps=60"])
    return d


def test_sample_data_is_what_the_generators_write():
    for script in ["recipes/data/slices/generate.py", "recipes/data/smoke/generate.py"]:
        r = subprocess.run(["python3", script, "--check"], cwd=SRC, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("recipe,kinds,heldout,source", [
    ("typo-general", "typo", "typo-heldout.jsonl", "proofread-heldout.txt"),
    ("typo-term", "term", "term-heldout.jsonl", "proofread-heldout.txt"),
    ("typo-reduplication", "duplicate", "reduplication-heldout.jsonl", "proofread-heldout.txt"),
    ("term-expansion", "abbreviation", "expansion-heldout.jsonl", "expansion-heldout.txt"),
])
def test_heldout_pairs_are_the_augmenters_output(recipe, kinds, heldout, source):
    """Each proofreading recipe's held-out pairs are what its header's command makes,
    and none of their sentences is in the training text."""
    header = open(os.path.join(SRC, "recipes", recipe + ".yaml"), encoding="utf-8").read()
    assert f"--kinds {kinds}" in header and heldout in header
    args = ["data", "augment", "--kinds", kinds, "--prompt", "--seed", "3"]
    if kinds in ("term", "abbreviation"):
        args += ["--glossary", os.path.join(SLICES, "glossary.tsv")]
    text = open(os.path.join(SLICES, source), encoding="utf-8").read()
    r = run([SLICETUNE] + args, input=text)
    assert r.returncode == 0, r.stderr
    assert r.stdout == open(os.path.join(SLICES, heldout), encoding="utf-8").read()
    train = set(open(os.path.join(SLICES, source.replace("heldout", "train")), encoding="utf-8").read().splitlines())
    for line in r.stdout.splitlines():
        assert json.loads(line)["output"] not in train


def test_full_training_writes_a_model_transformers_loads(tiny_lm):
    """train.mode full: every weight changed, a Hugging Face checkpoint that
    transformers loads and runs, and a GGUF of it."""
    import numpy as np
    import torch
    from safetensors.numpy import load_file
    from transformers import AutoModelForCausalLM

    model = tiny_lm / "tiny-lm" / "model"
    before = load_file(str(tiny_lm / "tiny-random" / "model.safetensors"))
    after = load_file(str(model / "model.safetensors"))
    assert sorted(before) == sorted(after)
    for name in before:
        assert not np.array_equal(before[name], after[name]), name
    m = AutoModelForCausalLM.from_pretrained(str(model))
    with torch.no_grad():
        logits = m(torch.tensor([[1, 50, 60, 70]])).logits
    assert torch.isfinite(logits).all()
    assert (tiny_lm / "tiny-lm" / "export" / "tiny-lm-f16.gguf").is_file()
    assert not (tiny_lm / "tiny-lm" / "adapter").exists()
    log = json.load(open(tiny_lm / "tiny-lm" / "train_log.json"))
    assert log["mode"] == "full" and log["final_loss"] < log["first_loss"]


def run_recipe(tiny_lm, name, *extra):
    out = tiny_lm / name
    r = st(["run", f"recipes/{name}.yaml", "--set", f"base_model={tiny_lm / 'tiny-lm' / 'model'}", "--set",
            f"output_dir={out}", *extra])
    return out, r


@pytest.mark.parametrize("name", ["typo-general", "typo-term", "typo-reduplication", "term-expansion"])
def test_proofreading_recipes_end_to_end(tiny_lm, name):
    out, _ = run_recipe(tiny_lm, name, "--set", "train.steps=20")
    ev = json.load(open(out / "eval" / "eval.json"))
    n = sum(1 for _ in open(os.path.join(SLICES, ev["data"].split("/")[-1]), encoding="utf-8"))
    assert ev["before"]["examples"] == ev["after"]["examples"] == n
    for when in ("before", "after"):
        preds = json.load(open(out / "eval" / f"predictions-{when}.json"))
        assert len(preds) == n
        assert ev[when]["exact_match"] == pytest.approx(sum(p["exact"] for p in preds) / n)
    table = open(out / "eval" / "eval.md", encoding="utf-8").read()
    assert "| base alone |" in table and "| with the slice |" in table
    assert (out / "export" / f"{name}-f16.gguf").is_file()
    assert (out / "export" / f"{name}-adapter-f32.gguf").is_file()
    assert (out / "export" / f"{name}-f16.Modelfile").is_file()
    report = open(out / "run_report.html", encoding="utf-8").read()
    for link in ["shards/data_report.html", "train_report.html", "eval/eval.md", f"export/{name}-f16.gguf"]:
        assert f'href="{link}"' in report, link
        assert (out / link).is_file(), link


def test_text2sql_execution_accuracy_matches_sqlite3(tiny_lm):
    out, _ = run_recipe(tiny_lm, "text2sql", "--set", "train.steps=20")
    ev = json.load(open(out / "eval" / "eval.json"))
    db = sqlite3.connect(":memory:")
    for f in ("schema.sql", "data.sql"):
        db.executescript(open(os.path.join(SLICES, "sql", f), encoding="utf-8").read())

    def rows(q):
        return [tuple("NULL" if v is None else str(v) for v in r) for r in db.execute(q).fetchall()]

    for when in ("before", "after"):
        preds = json.load(open(out / "eval" / f"predictions-{when}.json"))
        same = 0
        for p in preds:
            want = rows(p["reference"])
            try:
                got = rows(p["prediction"])
            except (sqlite3.Error, sqlite3.Warning, ValueError):
                got = None
            if got is not None and "ORDER BY" not in p["reference"].upper():
                want, got = sorted(want), sorted(got)
            ok = got == want
            assert p["same_result"] == ok, p
            same += ok
        assert ev[when]["execution_accuracy"] == pytest.approx(same / len(preds))


def test_faq_per_city_trains_three_slices_on_one_base_load(tiny_lm):
    out, r = run_recipe(tiny_lm, "faq-per-city", "--set", "train.steps=10")
    assert r.stderr.count("loading the base model") == 1, r.stderr
    for city in ("hangzhou", "ningbo", "wenzhou"):
        d = out / city
        assert (d / "adapter" / "adapter_model.safetensors").is_file()
        assert (d / "export" / f"{city}-adapter-f32.gguf").is_file()
        assert len(glob.glob(str(d / "export" / "*.Modelfile"))) == 1
        ev = json.load(open(d / "eval" / "eval.json"))
        assert ev["after"]["examples"] == 5
        assert (d / "run_report.md").is_file()


def test_run_skips_unchanged_stages_and_reruns_what_changed(tiny_lm):
    name = "typo-reduplication"
    out, _ = run_recipe(tiny_lm, name, "--set", "train.steps=20")
    _, again = run_recipe(tiny_lm, name, "--set", "train.steps=20")
    for stage in ("shards", "adapter", "eval/eval.json", "export"):
        assert any(f"{stage} is up to date" in l or f"{stage} are up to date" in l for l in again.stderr.splitlines()), \
            (stage, again.stderr)
    assert "step 20" not in again.stderr and "scoring" not in again.stderr and "export: wrote" not in again.stderr
    # --only names a stage and runs it even when current; nothing else runs.
    _, only = run_recipe(tiny_lm, name, "--set", "train.steps=20", "--only", "eval")
    assert "scoring the slice" in only.stderr and "export: wrote" not in only.stderr
    # A changed training field retrains, re-evaluates and re-exports, and keeps the shards.
    _, changed = run_recipe(tiny_lm, name, "--set", "train.steps=21")
    assert "shards in" in changed.stderr and "step 21" in changed.stderr
    assert "scoring the slice" in changed.stderr and "export: wrote" in changed.stderr
    # --from export: only export, forced.
    _, frm = run_recipe(tiny_lm, name, "--set", "train.steps=21", "--from", "export")
    assert "export: wrote" in frm.stderr and "scoring" not in frm.stderr and "step 21" not in frm.stderr
    bad = run([SLICETUNE, "run", f"recipes/{name}.yaml", "--only", "deploy"], cwd=SRC)
    assert bad.returncode == 2 and "deploy" in bad.stderr


def test_a_new_base_retrains_the_slice(tiny_lm, tmp_path):
    """The train stage depends on the base's files, not only the recipe: the same
    recipe over a base whose weights were rewritten trains again."""
    base = tmp_path / "base"
    shutil.copytree(tiny_lm / "tiny-lm" / "model", base)
    args = ["run", "recipes/term-expansion.yaml", "--set", f"base_model={base}", "--set",
            f"output_dir={tmp_path / 'out'}", "--set", "train.steps=5", "--set", "train.warmup=1"]
    assert "step 5 " in st(args).stderr
    again = st(args).stderr
    assert "step 5 " not in again and "adapter is up to date" in again
    os.utime(base / "model.safetensors", ns=(1, 1))  # the weights file rewritten
    assert "step 5 " in st(args).stderr


@pytest.mark.skipif(not os.path.exists(HADOLINT), reason="hadolint is not installed (scripts/setup.sh --test installs it)")
def test_containers_lint_and_use_the_setup_script():
    for f in ("cpu.Dockerfile", "cuda.Dockerfile"):
        path = os.path.join(SRC, "containers", f)
        r = subprocess.run([HADOLINT, path], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        text = open(path).read()
        assert "scripts/setup.sh" in text
    assert "--no-torch" in open(os.path.join(SRC, "containers", "cpu.Dockerfile")).read()


def test_launch_scripts_parse():
    for f in glob.glob(os.path.join(SRC, "scripts", "launch", "*")):
        r = subprocess.run(["bash", "-n", f], capture_output=True, text=True)
        assert r.returncode == 0, (f, r.stderr)
