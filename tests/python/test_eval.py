"""`slicetune eval`: replies generated for every held-out pair (one model load)
equal `slicetune generate`'s, and the scores follow from them: exact match,
character-edit precision / recall / F1 against the source, character overlap."""
import json
import os
from collections import Counter

from conftest import SLICETUNE, TEXTS, run


def generate(base, prompt):
    r = run([SLICETUNE, "generate", base, "--raw", "--prompt", prompt, "--max-new-tokens", "8"])
    assert r.returncode == 0, r.stderr
    return r.stdout[:-1]  # generate ends its output with a newline


def test_eval_scores_its_own_generations(fixture_dir, tmp_path):
    base = os.path.join(fixture_dir, "tiny-base")
    preds = [generate(base, t) for t in TEXTS]
    assert all(preds)
    refs = [preds[0], preds[1], "杭州分公司", preds[3] + "。"]
    data = tmp_path / "held_out.jsonl"
    data.write_text("".join(json.dumps({"input": t, "output": r}, ensure_ascii=False) + "\n" for t, r in zip(TEXTS, refs)),
                    encoding="utf-8")
    r = run([SLICETUNE, "eval", base, "--data", str(data), "--raw", "--max-new-tokens", "8", "-o", str(tmp_path / "r.json")])
    assert r.returncode == 0, r.stderr
    rep = json.load(open(tmp_path / "r.json"))
    assert [e["prediction"] for e in rep["predictions"]] == preds
    assert rep["examples"] == 4 and rep["exact_match"] == 0.5 and "exact match 50.0%" in r.stdout
    for e, ref in zip(rep["predictions"], refs):
        c = Counter(ref.strip())
        tp = sum(min(n, Counter(e["prediction"].strip())[ch]) for ch, n in c.items())
        assert e["chars"] == {"tp": tp, "fp": len(e["prediction"].strip()) - tp, "fn": len(ref.strip()) - tp}
        if e["exact"]:  # the same edits to the source as the reference: all right, none missed
            assert e["edits"]["fp"] == 0 and e["edits"]["fn"] == 0
    tot = rep["char_overlap"]
    assert tot["tp"] == sum(e["chars"]["tp"] for e in rep["predictions"])
    p, rc = tot["tp"] / (tot["tp"] + tot["fp"]), tot["tp"] / (tot["tp"] + tot["fn"])
    assert abs(tot["f1"] - 2 * p * rc / (p + rc)) < 1e-12


def test_missing_field_is_named(fixture_dir, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "x", "output": "y"}\n', encoding="utf-8")
    r = run([SLICETUNE, "eval", os.path.join(fixture_dir, "tiny-base"), "--data", str(data), "--raw"])
    assert r.returncode == 2 and "d.jsonl:1" in r.stderr and "'input'" in r.stderr


def test_training_reports_task_metrics_equal_to_eval(fixture_dir, tmp_path):
    """A recipe's eval section scores greedy replies at every evaluation of
    training; the last equals `slicetune eval` on the trained adapter (same
    predictions, same numbers), though the training process never loads the
    tokenizer (it decodes with the table the front wrote)."""
    import json
    from conftest import SRC
    out = tmp_path / "run"
    pairs = os.path.join(SRC, "recipes", "data", "smoke", "pairs.jsonl")
    base = os.path.join(fixture_dir, "tiny-base")
    r = run([SLICETUNE, "train", "recipes/smoke-tiny.yaml", "--set", f"base_model={base}", "--set", f"output_dir={out}",
             "--set", f"data.sources=[{{path: {pairs}, format: instruction, fields: {{prompt: input, response: output}}}}]",
             "--set", "train.steps=60", "--set", "train.eval_every=30", "--set", "lora.rank=4",
             "--set", f"eval={{data: {pairs}, limit: 6, max_new_tokens: 24}}"], cwd=SRC)
    assert r.returncode == 0, r.stderr
    assert "exact match" in r.stderr and "correction F1" in r.stderr
    evals = [e for e in json.load(open(out / "train_log.json"))["log"] if "val_loss" in e]
    assert [e["step"] for e in evals] == [0, 30, 60]
    assert all({"exact_match", "correction_f1", "char_f1"} <= e.keys() for e in evals)
    mid = json.load(open(out / "task_eval_predictions.json"))
    assert mid["step"] == 60 and mid["examples"] == 6
    r = run([SLICETUNE, "eval", base, "--adapter", str(out / "adapter"), "--data", pairs, "--raw", "--limit", "6",
             "--max-new-tokens", "24", "-o", str(tmp_path / "e.json")])
    assert r.returncode == 0, r.stderr
    ev = json.load(open(tmp_path / "e.json"))
    assert [p["prediction"] for p in ev["predictions"]] == [p["prediction"] for p in mid["predictions"]]
    assert any(p["prediction"] for p in ev["predictions"])
    assert evals[-1]["exact_match"] == ev["exact_match"]
    assert evals[-1]["correction_f1"] == ev["correction"]["f1"] and evals[-1]["char_f1"] == ev["char_overlap"]["f1"]
    html = (out / "train_report.html").read_text()
    assert "<th>exact match</th><th>correction F1</th>" in html and html.count("<tr>") == 1 + 3
