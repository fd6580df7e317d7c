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
