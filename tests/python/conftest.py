"""Shared helpers for the reference-parity tests (run by ctest from the build's venv)."""
import os
import subprocess

import numpy as np
import pytest

SRC = os.environ.get("ST_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("ST_BINARY_DIR", os.path.join(SRC, "build", "dev"))
FIXTURE = os.path.join(BIN, "fixture")
SLICETUNE = os.path.join(BIN, "bin", "slicetune")
ST_FORWARD = os.path.join(BIN, "bin", "st_forward")

# Mixed Chinese / English business text, including characters the tiny tokenizer
# never saw (byte fallback), digits and repeated spaces.
TEXTS = [
    "杭分宽带套餐新增277户。",
    "The Hangzhou branch upgraded its cloud server in March.",
    "校对说明：原文“视频会议视频会议”存在叠词错误。",
    "Mixed 中英文 text with  two spaces, digits 2026 and 罕见字龘.",
]


@pytest.fixture(scope="session")
def fixture_dir():
    if not os.path.isdir(os.path.join(FIXTURE, "smoke", "export")):
        pytest.fail(f"{FIXTURE} is missing: run ctest, whose fixture_smoke_run test builds it")
    return FIXTURE


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def our_ids(model_dir, text, bos=True):
    r = run([SLICETUNE, "tokenize", model_dir] + ([] if bos else ["--no-bos"]), input=text + "\n")
    assert r.returncode == 0, r.stderr
    return [int(t) for t in r.stdout.split()]


def our_logits(model_dir, ids, adapter=None, tmp_path=None):
    out = os.path.join(str(tmp_path), "logits.f32")
    args = [ST_FORWARD, model_dir, "--ids", " ".join(map(str, ids)), "--out", out]
    if adapter:
        args += ["--adapter", adapter]
    r = run(args)
    assert r.returncode == 0, r.stderr
    return np.fromfile(out, dtype=np.float32).reshape(len(ids), -1)


def max_rel_err(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
