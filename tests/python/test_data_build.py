"""`data build` with the cleaning stages on messy input: a GBK text file, a JSONL
file with broken lines, a CSV; duplicates, personal data, junk. The report counts
every removal by reason, lists the broken lines with file and line, the shards hold
de-identified text, and the HTML report renders in headless Chromium."""
import json
import os
import shutil
import subprocess

import pytest
from conftest import SLICETUNE, run

PARA = ("杭州分公司本月宽带新增用户三百二十户，流失用户四十户，净增二百八十户。其中光纤入户占九成以上，"
        "政企专线新签合同十二份，合同金额较上月增长百分之十五。")


@pytest.fixture(scope="module")
def built(fixture_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("build")
    txt = [PARA, PARA, PARA.replace("十二份", "十三份"), "短", "好" * 200,
           "客户张先生来电，手机 138-0013-8000，要求把宽带账单寄到 zhang.wei@example.com。",
           "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ　１２３ 与 全角标点，保留。"]
    (d / "notes.txt").write_bytes("\n\n".join(txt).encode("gb18030"))
    (d / "pairs.jsonl").write_text(
        json.dumps({"input": "展开缩写：杭分", "output": "杭州分公司"}, ensure_ascii=False) + "\n" +
        "{broken json\n" +
        json.dumps({"input": "展开缩写：宁分"}, ensure_ascii=False) + "\n" +
        json.dumps({"input": "展开缩写：嘉分", "output": "嘉兴分公司"}, ensure_ascii=False) + "\n", encoding="utf-8")
    (d / "faq.csv").write_text("question,answer\n怎么查话费？,拨打10086或登录网上营业厅。\n", encoding="utf-8")
    recipe = d / "r.yaml"
    recipe.write_text(f"""name: messy
base_model: {fixture_dir}/tiny-base
output_dir: {d}/run
data:
  sources:
    - {{path: {d}/notes.txt, format: text}}
    - {{path: {d}/pairs.jsonl, format: instruction, fields: {{prompt: input, response: output}}}}
    - {{path: {d}/faq.csv, format: instruction, fields: {{prompt: question, response: answer}}}}
  clean:
    normalize: true
    filters: {{min_chars: 2, max_dup_ngram_ratio: 0.5}}
    deid: {{policy: placeholder}}
    dedup: {{near_threshold: 0.8}}
  seq_len: 256
  pack: false
""")
    r = run([SLICETUNE, "data", "build", str(recipe)])
    assert r.returncode == 0, r.stderr
    return d, r


def test_report_counts_every_removal_and_problem(built):
    d, r = built
    rep = json.load(open(d / "run" / "shards" / "data_report.json", encoding="utf-8"))
    c = rep["clean"]
    assert c["documents_in"] == 7 + 2 + 1
    assert c["removed"] == {"exact_duplicate": 1, "near_duplicate": 1, "too_short": 1, "repeated_ngrams": 1}
    assert c["documents_out"] == 6 == rep["documents"]
    assert c["pii"]["found"]["PHONE"] == 1 and c["pii"]["found"]["EMAIL"] == 1
    # Per-document PII counts and the clusters stream to JSON Lines files beside the
    # report (not held in memory); the report names them and lists the first rows.
    shards = d / "run" / "shards"
    assert c["pii"]["documents_file"] == "pii_documents.jsonl" and c["pii"]["documents_listed"] == 1
    [doc] = [json.loads(line) for line in open(shards / "pii_documents.jsonl", encoding="utf-8")]
    assert doc["source"].endswith("notes.txt:11") and doc["counts"] == {"PHONE": 1, "EMAIL": 1}
    assert c["pii"]["top_documents"] == [doc] and c["pii"]["documents_with_pii"] == 1
    assert c["normalize"]["fullwidth"] >= 12
    [cluster] = [json.loads(line) for line in open(shards / "duplicate_clusters.jsonl", encoding="utf-8")]
    assert cluster["kept"].endswith("notes.txt:1") and len(cluster["removed"]) == 2
    assert c["duplicate_clusters"]["count"] == 1 and c["duplicate_clusters"]["by_size"] == {"3": 1}
    assert c["duplicate_clusters"]["largest"] == [dict(cluster, size=3)]
    assert rep["issues"]["count"] == 2
    wheres = [i["where"] for i in rep["issues"]["listed"]]
    assert wheres == [f"{d}/pairs.jsonl:2", f"{d}/pairs.jsonl:3"]
    files = {os.path.basename(f["path"]): f for f in rep["files"]}
    assert files["notes.txt"]["encoding"] == "gb18030" and files["faq.csv"]["documents"] == 1
    md = open(d / "run" / "shards" / "data_report.md", encoding="utf-8").read()
    assert "| exact_duplicate | 1 |" in md and "pairs.jsonl:2" in md and "PHONE" in md
    assert "| 3 documents | 1 |" in md and "notes.txt:11 | EMAIL 1, PHONE 1 |" in md
    assert "All 1 clusters: duplicate_clusters.jsonl" in md


def test_shards_hold_clean_text(built):
    h5py = pytest.importorskip("h5py")
    import sentencepiece as spm
    d, _ = built
    with h5py.File(d / "run" / "shards" / "train-00000.h5") as f:
        ids = f["input_ids"][:]
    manifest = json.load(open(d / "run" / "shards" / "manifest.json"))
    sp = spm.SentencePieceProcessor(model_file=manifest["tokenizer"])
    text = "\n".join(sp.decode([int(t) for t in row if t != sp.eos_id()]) for row in ids)
    assert "<PHONE>" in text and "<EMAIL>" in text
    assert "138" not in text and "example.com" not in text
    assert "Fullwidth\u3000text\u3000123 与 全角标点，保留。" in text  # U+3000 kept unless ideographic_space


def test_html_report_renders_in_headless_chromium(built, tmp_path):
    d, _ = built
    browser = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if not browser:
        pytest.skip("no headless Chromium (scripts/setup.sh --test installs chromium-headless-shell)")
    html = d / "run" / "shards" / "data_report.html"
    shot = tmp_path / "report.png"
    args = [browser, "--no-sandbox", "--disable-gpu", "--headless", "--window-size=1000,1400"]
    r = subprocess.run(args + [f"--screenshot={shot}", f"file://{html}"], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10000, r.stderr.decode(errors="replace")[-2000:]
    dom = subprocess.run(args + ["--dump-dom", f"file://{html}"], capture_output=True, timeout=120).stdout.decode()
    # The browser built the page: charts (SVG bars with their labels) and tables are in its DOM.
    assert dom.count("<svg") >= 3 and "exact_duplicate" in dom and "PHONE" in dom and "pairs.jsonl:2" in dom


def test_rebuild_is_byte_identical(built):
    import hashlib
    d, _ = built
    shards = d / "run" / "shards"

    def digest():
        return {p: hashlib.sha256((shards / p).read_bytes()).hexdigest() for p in sorted(os.listdir(shards))}

    before = digest()
    r = run([SLICETUNE, "data", "build", str(d / "r.yaml")])
    assert r.returncode == 0, r.stderr
    assert digest() == before and any(p.endswith(".h5") for p in before)


def test_three_tasks_give_exactly_the_output_of_one(fixture_dir, tmp_path):
    """Each task reads its share of the input files (and makes its augmentation
    pairs); the merge resolves duplicates across all of them. Shards, manifest and report equal a single-machine build."""
    import hashlib
    src = tmp_path / "in"
    src.mkdir()
    corpus = open(os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "data", "smoke", "corpus.txt"),
                  encoding="utf-8").read().split("\n")
    for k in range(7):  # duplicates land in different files, so in different tasks
        part = corpus[k * 60:(k + 1) * 60] + corpus[:5] + [PARA.replace("十二份", f"十{k}份"), "电话 13800138000"]
        (src / f"part-{k}.txt").write_text("\n\n".join(part), encoding="utf-8")
    (src / "bad.jsonl").write_text('{"text": "好的"}\n{oops\n', encoding="utf-8")
    (src / "tab\there back\\slash.txt").write_text("文件名里有制表符和反斜杠。\n", encoding="utf-8")  # files.tsv escapes

    def recipe(out):
        p = tmp_path / f"{out}.yaml"
        p.write_text(f"""name: tasks
base_model: {fixture_dir}/tiny-base
output_dir: {tmp_path}/{out}
seed: 5
data:
  sources:
    - {{path: {src}/*.txt, format: text}}
    - {{path: {src}/bad.jsonl, format: text}}
  clean: {{normalize: true, filters: {{min_chars: 3}}, deid: true, dedup: true}}
  augment: {{kinds: [typo, duplicate], ratio: 0.5}}
  seq_len: 64
  val_fraction: 0.1
""")
        return str(p)

    one, many = recipe("outA"), recipe("outB")
    r = run([SLICETUNE, "data", "build", one])
    assert r.returncode == 0, r.stderr
    r = run([SLICETUNE, "data", "build", many, "--merge"])
    assert r.returncode == 2 and "no task outputs" in r.stderr
    for i in (2, 0):
        r = run([SLICETUNE, "data", "build", many, "--task", f"{i}/3"])
        assert r.returncode == 0, r.stderr
    r = run([SLICETUNE, "data", "build", many, "--merge"])
    assert r.returncode == 2 and "tasks 1 of 3 have not finished" in r.stderr
    env = dict(os.environ, SLURM_ARRAY_TASK_ID="2", SLURM_ARRAY_TASK_MIN="1", SLURM_ARRAY_TASK_COUNT="3")
    r = run([SLICETUNE, "data", "build", many, "--task", "env"], env=env)  # Slurm array index 2 of 1..3 is task 1
    assert r.returncode == 0, r.stderr
    r = run([SLICETUNE, "data", "build", many, "--merge"])
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "outB" / "shards.tasks").exists()

    def digest(out):
        d = tmp_path / out / "shards"
        files = {}
        for p in sorted(os.listdir(d)):
            data = (d / p).read_bytes()  # recipe_sha256 leaves output_dir out, so the manifests match too
            files[p] = hashlib.sha256(data.replace(out.encode(), b"OUT")).hexdigest()
        return files

    assert digest("outA") == digest("outB")
    rep = json.load(open(tmp_path / "outB" / "shards" / "data_report.json"))
    removed = rep["clean"]["removed"]
    assert removed["exact_duplicate"] >= 6 and removed["near_duplicate"] >= 1  # across files, so across tasks
    assert rep["clean"]["augmented"]["typo"] > 50 and rep["clean"]["augmented"]["duplicate"] > 50
    assert rep["issues"]["count"] == 1
    # Each part's phone number, from every task, kept or removed as a duplicate, in corpus order.
    pii = [json.loads(line) for line in open(tmp_path / "outB" / "shards" / "pii_documents.jsonl", encoding="utf-8")]
    assert len(pii) == rep["clean"]["pii"]["documents_with_pii"] == rep["clean"]["pii"]["documents_listed"] >= 7
    parts = [p["source"].rsplit(":", 1)[0].rsplit("/", 1)[1] for p in pii]
    assert sorted(set(parts)) == [f"part-{k}.txt" for k in range(7)] and parts == sorted(parts)


def test_merge_refuses_inputs_that_changed_since_the_tasks(fixture_dir, tmp_path):
    """The merge takes each file's hash from the task that read it; a file added or
    removed since the tasks ran is named, before any work, and nothing is written."""
    src = tmp_path / "in"
    src.mkdir()
    for k in range(4):
        (src / f"part-{k}.txt").write_text(f"第{k}份文件，宽带套餐和账单的说明。\n\n" + PARA, encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""name: changed
base_model: {fixture_dir}/tiny-base
output_dir: {tmp_path}/out
data:
  sources:
    - {{path: {src}, format: text}}
  seq_len: 64
""")
    for i in range(2):
        r = run([SLICETUNE, "data", "build", str(recipe), "--task", f"{i}/2"])
        assert r.returncode == 0, r.stderr
    (src / "part-9.txt").write_text("后来加的文件。\n", encoding="utf-8")
    r = run([SLICETUNE, "data", "build", str(recipe), "--merge"])
    assert r.returncode == 2 and f"{src}/part-9.txt: no task read this file" in r.stderr, r.stderr
    (src / "part-9.txt").unlink()
    gone = (src / "part-3.txt").read_bytes()
    (src / "part-3.txt").unlink()
    r = run([SLICETUNE, "data", "build", str(recipe), "--merge"])
    assert r.returncode == 2 and f"{src}/part-3.txt: read by a task but not in the sources now" in r.stderr, r.stderr
    assert not (tmp_path / "out" / "shards").exists()
    (src / "part-3.txt").write_bytes(gone)
    r = run([SLICETUNE, "data", "build", str(recipe), "--merge"])
    assert r.returncode == 0, r.stderr
    rep = json.load(open(tmp_path / "out" / "shards" / "data_report.json"))
    assert rep["files_total"]["count"] == 4 and len(rep["files"]) == 4
