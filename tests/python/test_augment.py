"""Augmentation for the correction slices: every pair is the kind of error it says
it is (checked against the Unihan-derived confusion sets and the glossary), pairs
are deterministic per seed, the ratio controls how many, and a recipe adds them to
the shards."""
import collections
import json
import os
import re
import unicodedata

from conftest import SLICETUNE, SRC, run

TABLE = os.path.join(SRC, "data", "clean", "tables", "confusion_sets.tsv")
GLOSSARY = "杭州分公司\t杭分\n宁波分公司\t宁分\n宽带\n视频会议\n物联网卡\n"


def sets():
    pinyin, shape = {}, {}
    for line in open(TABLE, encoding="utf-8"):
        if line.startswith("#"):
            continue
        kind, key, chars = line.rstrip("\n").split("\t")
        for c in chars:
            (pinyin if kind == "pinyin" else shape)[c] = key
    return pinyin, shape


def sentences():
    corpus = open(os.path.join(SRC, "recipes", "data", "smoke", "corpus.txt"), encoding="utf-8").read()
    return [l for l in corpus.split("\n") if any("\u4e00" <= c <= "\u9fff" for c in l)][:300]


def augment(lines, tmp_path, *flags):
    g = tmp_path / "glossary.tsv"
    g.write_text(GLOSSARY, encoding="utf-8")
    r = run([SLICETUNE, "data", "augment", "--glossary", str(g), *flags], input="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    return [json.loads(l) for l in r.stdout.splitlines()], r.stderr


def test_each_pair_is_the_error_it_names(tmp_path):
    pinyin, shape = sets()
    terms = [l.split("\t")[0] for l in GLOSSARY.splitlines()]
    pairs, _ = augment(sentences(), tmp_path, "--seed", "7")
    kinds = collections.Counter(p["kind"] for p in pairs)
    assert all(kinds[k] > 20 for k in ("typo", "duplicate")) and kinds["term"] > 5 and kinds["abbreviation"] > 5, kinds
    for p in pairs:
        wrong, right = p["input"], p["output"]
        assert wrong != right
        if p["kind"] in ("typo", "term"):
            assert len(wrong) == len(right)
            diff = [i for i, (a, b) in enumerate(zip(wrong, right)) if a != b]
            assert len(diff) == 1, p
            a, b = wrong[diff[0]], right[diff[0]]
            if p["kind"] == "typo":
                assert pinyin.get(a) == pinyin.get(b) != None or shape.get(a) == shape.get(b) != None, p  # noqa: E711
            else:
                assert pinyin.get(a) == pinyin.get(b) != None, p  # noqa: E711
                spans = [(m.start(), m.end()) for t in terms for m in re.finditer(re.escape(t), right)]
                assert any(b0 <= diff[0] < e0 for b0, e0 in spans), p
        elif p["kind"] == "duplicate":
            longer, shorter = (wrong, right) if len(wrong) > len(right) else (right, wrong)
            # Removing one repeated run from the longer one gives the shorter.
            ok = False
            for i in range(len(longer)):
                for n in range(1, 5):
                    if longer[i:i + n] == longer[i + n:i + 2 * n] and longer[:i + n] + longer[i + 2 * n:] == shorter:
                        ok = True
            assert ok, p
        elif p["kind"] == "abbreviation":
            assert wrong == right.replace("杭州分公司", "杭分").replace("宁波分公司", "宁分"), p


def test_pairs_are_deterministic_and_ratio_controlled(tmp_path):
    lines = sentences()
    a, _ = augment(lines, tmp_path, "--seed", "1", "--kinds", "typo,duplicate")
    b, _ = augment(lines, tmp_path, "--seed", "1", "--kinds", "typo,duplicate")
    c, _ = augment(lines, tmp_path, "--seed", "2", "--kinds", "typo,duplicate")
    assert a == b and a != c
    half, err = augment(lines, tmp_path, "--seed", "1", "--kinds", "typo", "--ratio", "0.5")
    double, _ = augment(lines, tmp_path, "--seed", "1", "--kinds", "typo", "--ratio", "2")
    n = int(err.split("augment: ")[1].split(" sentences")[0])
    assert 0.35 * n < len(half) < 0.65 * n
    assert 1.8 * n < len(double) <= 2 * n
    clean, _ = augment(lines, tmp_path, "--kinds", "typo", "--ratio", "0", "--clean-ratio", "1")
    assert len(clean) == n and all(p["kind"] == "clean" and p["input"] == p["output"] for p in clean)
    r = run([SLICETUNE, "data", "augment", "--kinds", "grammar"], input="x\n")
    assert r.returncode == 2 and "grammar" in r.stderr


def test_confusion_sets_come_from_unihan():
    # The table is derived from Unihan; when Debian's unicode-data is here, rebuild and compare.
    if not os.path.exists("/usr/share/unicode/Unihan_Readings.txt.bz2"):
        import pytest
        pytest.skip("Debian's unicode-data is not installed (scripts/setup.sh --test installs it)")
    import subprocess
    import sys
    r = subprocess.run([sys.executable, os.path.join(SRC, "data", "clean", "tables", "make_confusion.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    pinyin, _ = sets()
    assert pinyin["杭"] == pinyin["航"] == "hang" and unicodedata.name("杭")
