"""`slicetune data decode | normalize | deid | dedup` as stdin -> stdout filters,
checked against Python's own codecs and unicodedata, and chained."""
import json
import subprocess
import unicodedata

from conftest import SLICETUNE, run

TEXT = "杭分宽带套餐，联系人：张三 13800138000。\n寬頻業務 Ｈｅｌｌｏ！\n"


def run_bytes(args, data):
    return subprocess.run(args, input=data, capture_output=True)


def test_decode_matches_python_codecs():
    for enc, py in [("auto", "gb18030"), ("gbk", "gbk"), ("auto", "utf-16"), ("utf-16le", "utf-16-le"), ("auto", "utf-8-sig")]:
        r = run_bytes([SLICETUNE, "data", "decode", "--encoding", enc], TEXT.encode(py))
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode("utf-8") == TEXT, (enc, py)


def test_decode_counts_invalid_bytes_and_strict_fails():
    bad = "好".encode("gb18030") + b"\xff" + "的".encode("gb18030")
    r = run_bytes([SLICETUNE, "data", "decode", "--encoding", "gb18030"], bad)
    assert r.returncode == 0
    assert r.stdout.decode() == "好\ufffd的"
    assert b"1 invalid bytes" in r.stderr and b"first at byte 2" in r.stderr
    r = run_bytes([SLICETUNE, "data", "decode", "--encoding", "gb18030", "--strict"], bad)
    assert r.returncode == 2


def test_normalize_equals_nfc_and_width_rules():
    lines = ["e\u0301te\u0301", "Ｈｅｌｌｏ１２３，你好。", "a  b\t\tc  ", "tab\u200bhidden"]
    r = run([SLICETUNE, "data", "normalize"], input="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")[:4]
    assert out[0] == unicodedata.normalize("NFC", lines[0])
    assert out[1] == "Hello123，你好。"  # full-width Chinese punctuation kept
    assert out[2] == "a b c"
    assert out[3] == "tabhidden"
    r = run([SLICETUNE, "data", "normalize", "--t2s"], input="寬頻業務\n")
    assert r.stdout == "宽频业务\n"


def test_bad_utf8_on_stdin_is_named():
    r = run_bytes([SLICETUNE, "data", "normalize"], "好\n".encode("gbk") + b"\n")
    assert r.returncode == 2 and b"stdin:1" in r.stderr and b"data decode" in r.stderr


def test_dedup_keeps_first_and_writes_clusters(tmp_path):
    para = "杭州分公司本月宽带新增用户三百二十户，流失用户四十户，净增二百八十户。其中光纤入户占九成以上，政企专线新签合同十二份。"
    lines = [para, "另一段无关的文字，讲宁波分公司的话费账单和催缴流程。", para, para.replace("十二份", "十三份")]
    clusters = tmp_path / "c.json"
    r = run([SLICETUNE, "data", "dedup", "--clusters", str(clusters)], input="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == lines[:2] and r.stdout.count("\n") == 2
    assert json.loads(clusters.read_text()) == [{"kept": 1, "removed": [3, 4], "exact": False}]
    r = run([SLICETUNE, "data", "dedup", "--bands", "7"], input="x\n")
    assert r.returncode == 2 and "bands" in r.stderr


def test_stages_chain(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_bytes(TEXT.encode("gb18030"))
    out = subprocess.run(f"{SLICETUNE} data decode < {raw} | {SLICETUNE} data normalize --t2s | {SLICETUNE} data deid",
                         shell=True, capture_output=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode() == "杭分宽带套餐，联系人：张三 <PHONE>。\n宽频业务 Hello！\n"
