"""The CLI surface: help, version, exit codes 0/1/2, clear errors, no partial outputs."""
import json
import os
import re
import shutil

import pytest
from conftest import SLICETUNE, SRC, run

SUBCOMMANDS = ["run", "init-model", "data", "train", "imatrix", "generate", "eval", "export", "tokenize", "inspect"]


def test_help_lists_exactly_the_working_subcommands():
    r = run([SLICETUNE, "--help"])
    assert r.returncode == 0
    listed = re.findall(r"^  ([a-z-]+)\s", r.stdout.split("Subcommands:")[1], re.M)
    assert sorted(listed) == sorted(SUBCOMMANDS)


@pytest.mark.parametrize("sub", SUBCOMMANDS + ["data build"])
def test_every_subcommand_has_help(sub):
    r = run([SLICETUNE] + sub.split() + ["--help"])
    assert r.returncode == 0 and "Usage" in r.stdout, r.stdout + r.stderr


def test_version_and_bad_usage_exit_codes():
    r = run([SLICETUNE, "--version"])
    assert r.returncode == 0 and r.stdout.startswith("slicetune ")
    assert run([SLICETUNE, "frobnicate"]).returncode == 2
    assert run([SLICETUNE]).returncode == 2
    assert run([SLICETUNE, "train"]).returncode == 2  # RECIPE is required


def test_missing_recipe_is_exit_2_with_the_path(tmp_path):
    r = run([SLICETUNE, "data", "build", str(tmp_path / "nope.yaml")])
    assert r.returncode == 2
    assert "nope.yaml: file not found" in r.stderr


def test_recipe_typo_names_key_and_line(tmp_path):
    text = open(os.path.join(SRC, "recipes", "smoke-tiny.yaml")).read().replace("train: {steps", "trian: {steps")
    bad = tmp_path / "typo.yaml"
    bad.write_text(text)
    r = run([SLICETUNE, "data", "build", str(bad)], cwd=SRC)
    assert r.returncode == 2
    line = next(i + 1 for i, l in enumerate(text.splitlines()) if l.startswith("trian"))
    assert f"typo.yaml:{line}: trian: unknown key" in r.stderr


def test_missing_source_file_is_named(tmp_path):
    r = run([SLICETUNE, "data", "build", os.path.join(SRC, "recipes", "smoke-tiny.yaml")], cwd=str(tmp_path))
    assert r.returncode == 2
    assert "data.sources[0].path: 'recipes/data/smoke/corpus.txt' not found" in r.stderr


def test_malformed_config_json_gives_exit_2_and_no_output(fixture_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(os.path.join(fixture_dir, "tiny-base"), model)
    (model / "config.json").write_text('{"model_type": "llama", "hidden_size": "wide"}')
    out = tmp_path / "out.gguf"
    r = run([SLICETUNE, "export", "--model", str(model), "--type", "f32", "-o", str(out)])
    assert r.returncode == 2
    assert "config.json" in r.stderr and "vocab_size" in r.stderr
    assert not out.exists() and os.listdir(tmp_path) == ["model"]


def test_truncated_safetensors_gives_exit_2_and_no_output(fixture_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(os.path.join(fixture_dir, "tiny-base"), model)
    st = model / "model.safetensors"
    st.write_bytes(st.read_bytes()[:-1000])
    out = tmp_path / "out.gguf"
    r = run([SLICETUNE, "export", "--model", str(model), "--type", "f16", "-o", str(out)])
    assert r.returncode == 2, r.stderr
    assert "model.safetensors" in r.stderr and "outside the data section" in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["model"]


def test_init_model_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    r = run([SLICETUNE, "init-model", "--preset", "tiny", str(tmp_path)])
    assert r.returncode == 2 and "not empty" in r.stderr
    r = run([SLICETUNE, "init-model", "--preset", "huge", str(tmp_path / "m")])
    assert r.returncode == 2 and "unknown preset 'huge'" in r.stderr
    assert not (tmp_path / "m").exists()


def test_run_skips_unchanged_stages(fixture_dir):
    # The fixture already ran this exact recipe; a second run must skip data and train.
    fx = fixture_dir
    r = run([SLICETUNE, "run", "recipes/smoke-tiny.yaml", "--set", f"base_model={fx}/tiny-base",
             "--set", f"output_dir={fx}/smoke", "--set", "train.steps=30"], cwd=SRC)
    assert r.returncode == 0, r.stderr
    assert "shards in" in r.stderr and "up to date, skipping" in r.stderr
    assert "adapter is up to date, skipping" in r.stderr
    log = json.load(open(os.path.join(fx, "smoke", "train_log.json")))
    assert log["steps"] == 30 and log["final_loss"] < log["first_loss"]


def test_tokenize_round_trips_text(fixture_dir):
    base = os.path.join(fixture_dir, "tiny-base")
    r = run([SLICETUNE, "tokenize", base], input="杭州分公司 hello\n")
    ids = r.stdout.strip()
    back = run([SLICETUNE, "tokenize", base, "--decode"], input=ids + "\n")
    assert back.stdout == "杭州分公司 hello\n"
    bad = run([SLICETUNE, "tokenize", base, "--decode"], input="99999\n")
    assert bad.returncode == 2 and "outside the vocabulary" in bad.stderr


def test_failed_data_build_keeps_the_previous_shards(fixture_dir, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("第一段文字。\n\nSecond document here.\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""name: r
base_model: {fixture_dir}/tiny-base
output_dir: {tmp_path}/out
data:
  sources: [{{path: {data}, format: text}}]
  seq_len: 16
""")
    r = run([SLICETUNE, "data", "build", str(recipe)])
    assert r.returncode == 0, r.stderr
    manifest = tmp_path / "out" / "shards" / "manifest.json"
    before = manifest.read_bytes()
    data.unlink()
    data.mkdir()  # now a directory without text files: a fatal input error
    r = run([SLICETUNE, "data", "build", str(recipe)])
    assert r.returncode == 2 and "data.txt: the directory holds no .txt" in r.stderr
    assert manifest.read_bytes() == before
    assert os.listdir(tmp_path / "out") == ["shards"]  # no temporary folder left behind


def test_inspect_describes_each_file_kind(fixture_dir, tmp_path):
    smoke = os.path.join(fixture_dir, "smoke")
    g = run([SLICETUNE, "inspect", "--json", os.path.join(smoke, "export", "smoke-tiny-f16.gguf")])
    assert g.returncode == 0, g.stderr
    j = json.loads(g.stdout)
    assert j["metadata"]["general.architecture"] == '"llama"'
    q = next(t for t in j["tensors"] if t["name"] == "blk.0.attn_q.weight")
    assert q["type"] == "F16" and q["shape"] == [128, 128] and q["bytes"] == 128 * 128 * 2
    s = run([SLICETUNE, "inspect", os.path.join(smoke, "adapter", "adapter_model.safetensors")])
    assert s.returncode == 0 and "lora_A.weight" in s.stdout and "F32" in s.stdout
    h = run([SLICETUNE, "inspect", "--json", os.path.join(smoke, "shards", "train-00000.h5")])
    assert h.returncode == 0 and json.loads(h.stdout)["metadata"]["split"] == "train"
    bad = tmp_path / "cut.gguf"
    data = open(os.path.join(smoke, "export", "smoke-tiny-f16.gguf"), "rb").read()
    bad.write_bytes(data[: len(data) // 2])
    r = run([SLICETUNE, "inspect", str(bad)])
    assert r.returncode == 2 and "cut.gguf" in r.stderr and "truncated" in r.stderr
    (tmp_path / "x.txt").write_text("hi")
    assert run([SLICETUNE, "inspect", str(tmp_path / "x.txt")]).returncode == 2


def test_data_inspect_shows_counts_and_marks_trained_tokens(fixture_dir):
    shards = os.path.join(fixture_dir, "smoke", "shards")
    r = run([SLICETUNE, "data", "inspect", shards, "--samples", "2"])
    assert r.returncode == 0, r.stderr
    assert "train-00000.h5  train" in r.stdout and "sample lengths" in r.stdout
    assert r.stdout.count("--- train-00000.h5 row") == 2
    assert "\u27e6" in r.stdout and "\u27e7" in r.stdout
    # Instruction pairs: the prompt stays outside the marks, the expansion inside.
    val = run([SLICETUNE, "data", "inspect", shards, "--split", "val", "--samples", "50"])
    assert val.returncode == 0
    untrained = [re.sub("\u27e6[^\u27e7]*\u27e7", "", line) for line in val.stdout.splitlines() if "\u27e6" in line]
    assert any("展开缩写" in u for u in untrained)
    bad = run([SLICETUNE, "data", "inspect", os.path.join(fixture_dir, "tiny-base")])
    assert bad.returncode == 2
