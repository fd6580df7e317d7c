"""Fault injection: `data build` and `train` killed (SIGKILL) at random points,
out of space, writing into a read-only folder, reading pathological inputs. After
any of these the output folder holds the previous good output or the new one,
whole (every shard matches its manifest checksum), never a mix; a rerun ends
byte-identical to a run never disturbed; errors name the path and the cause.
Export's faults are in test_export_faults.py, checkpoint damage and exact resume
in test_resume.py.

The kill times are drawn from a seed printed by each test (set ST_FAULT_SEED to
repeat a run)."""
import contextlib
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import SLICETUNE, SRC, run

WORDS = ["宽带", "套餐", "账单", "流量", "杭州分公司", "政企专线", "光纤", "话费", "网上营业厅", "合同",
         "broadband", "invoice", "branch", "upgrade", "contract", "fiber", "customer", "service"]


def seed_for(name):
    seed = int(os.environ.get("ST_FAULT_SEED", time.time_ns() % 1_000_000))
    print(f"{name}: ST_FAULT_SEED={seed}")
    return random.Random(seed)


def write_corpus(folder, files, docs_per_file, seed=0):
    """Generated business text: sentences of random words, some duplicated, with
    phone numbers for de-identification."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        docs = []
        for _ in range(docs_per_file):
            n = rng.randint(8, 60)
            text = "".join(rng.choice(WORDS) + ("，" if rng.random() < 0.2 else "") for _ in range(n)) + "。"
            if rng.random() < 0.05:
                text += f" 联系电话 139{rng.randint(10000000, 99999999)}"
            docs.append(text)
            if rng.random() < 0.05:
                docs.append(text)  # an exact duplicate
        (folder / f"part-{f:03d}.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")


def write_recipe(path, fixture_dir, src, out, seq_len=64):
    path.write_text(f"""name: faults
base_model: {fixture_dir}/tiny-base
output_dir: {out}
seed: 11
data:
  sources:
    - {{path: {src}, format: text}}
  clean: {{normalize: true, filters: {{min_chars: 3}}, deid: true, dedup: true}}
  seq_len: {seq_len}
  val_fraction: 0.05
""")
    return str(path)


def digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def whole(shards):
    """A shards folder is absent or complete: a manifest whose every shard is there
    with the checksum it lists, and no file the manifest does not account for."""
    if not shards.exists():
        return True
    manifest = json.loads((shards / "manifest.json").read_text())
    listed = {s["file"]: s["sha256"] for s in manifest["shards"]}
    for name, sha in listed.items():
        assert hashlib.sha256((shards / name).read_bytes()).hexdigest() == sha, name
    extra = {p.name for p in shards.iterdir()} - set(listed) - {"manifest.json", "data_report.md", "data_report.html",
                                                                 "data_report.json", "pii_documents.jsonl",
                                                                 "duplicate_clusters.jsonl"}
    assert not extra, extra
    return True


def leftovers(folder):
    return [str(p) for p in folder.rglob("*") if ".tmp-" in p.name]


@pytest.fixture(scope="module")
def corpus(fixture_dir, tmp_path_factory):
    """About 6 MB of text in 24 files and a reference build of it, timed."""
    d = tmp_path_factory.mktemp("faults")
    write_corpus(d / "in", files=24, docs_per_file=1500)
    recipe = write_recipe(d / "ref.yaml", fixture_dir, d / "in", d / "ref")
    t0 = time.monotonic()
    r = run([SLICETUNE, "data", "build", recipe])
    seconds = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    print(f"reference data build: {seconds:.1f} s")
    return d, digest(d / "ref" / "shards"), seconds


def start(args, **kw):
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kw)


def kill(p):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, signal.SIGKILL)
    p.wait()


def test_data_build_killed_at_random_points_reruns_to_the_same_shards(fixture_dir, corpus):
    d, ref, seconds = corpus
    rng = seed_for("data build kills")
    out = d / "killed"
    recipe = write_recipe(d / "killed.yaml", fixture_dir, d / "in", out)
    caught = 0
    for attempt in range(5):
        p = start([SLICETUNE, "data", "build", recipe])
        time.sleep(rng.uniform(0.05, seconds * 0.95))
        caught += p.poll() is None
        kill(p)
        assert whole(out / "shards")
        if (out / "shards").exists():  # a build that finished before the kill is the reference, exactly
            assert digest(out / "shards") == ref
    assert caught >= 3, "the builds finished before they could be killed"
    r = run([SLICETUNE, "data", "build", recipe])
    assert r.returncode == 0, r.stderr
    assert digest(out / "shards") == ref
    assert not leftovers(out), leftovers(out)
    assert sorted(os.listdir(out)) == ["shards"]  # no task folder left behind


def previous_build_and_new_input(fixture_dir, corpus, tmp_path, out):
    """A copy of the reference build at `out` and a recipe over a changed copy of
    its input: the next build must replace a good previous one."""
    d, ref, _ = corpus
    shutil.copytree(d / "ref", out)
    src = tmp_path / "in"
    shutil.copytree(d / "in", src)
    (src / "part-000.txt").write_text("新的一段文字，替换了第一个文件。\n", encoding="utf-8")
    return write_recipe(tmp_path / "r.yaml", fixture_dir, src, out), ref


def test_data_build_killed_over_a_previous_build_keeps_it_whole(fixture_dir, corpus, tmp_path):
    """The previous shards stay readable until the new ones replace them in one step."""
    seconds = corpus[2]
    rng = seed_for("rebuild kills")
    out = tmp_path / "out"
    recipe, ref = previous_build_and_new_input(fixture_dir, corpus, tmp_path, out)
    states = set()
    for attempt in range(4):
        p = start([SLICETUNE, "data", "build", recipe])
        time.sleep(rng.uniform(0.05, seconds))
        kill(p)
        assert whole(out / "shards") and (out / "shards" / "manifest.json").exists()
        states.add("old" if digest(out / "shards") == ref else "new")
    r = run([SLICETUNE, "data", "build", recipe])
    assert r.returncode == 0, r.stderr
    assert digest(out / "shards") != ref and not leftovers(out)
    print("states seen between kills:", states)


@contextlib.contextmanager
def small_filesystem(path, size):
    """A tmpfs of `size` at `path` (a real ENOSPC); skips when mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN): {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def read_only(path):
    """`path` bind-mounted read-only over itself: unwritable even for root."""
    r = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root and CAP_SYS_ADMIN): {r.stderr.strip()}")
    try:
        r = subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {r.stderr.strip()}")
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_data_build_on_a_full_disk_keeps_the_previous_shards(fixture_dir, corpus, tmp_path):
    d, ref, _ = corpus
    size = sum((d / "ref" / "shards" / f).stat().st_size for f in ref)
    with small_filesystem(tmp_path / "disk", int(size * 1.5)) as disk:
        out = disk / "out"  # the previous good build fills two thirds of the disk
        recipe, _ = previous_build_and_new_input(fixture_dir, corpus, tmp_path, out)
        r = run([SLICETUNE, "data", "build", recipe])
        assert r.returncode == 1, r.stderr
        assert "No space left on device" in r.stderr or "disk full" in r.stderr, r.stderr
        assert str(out) in r.stderr, r.stderr
        assert digest(out / "shards") == ref and not leftovers(out), leftovers(out)


def limit_file_size(nbytes):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return apply


def test_data_build_over_a_file_size_limit_keeps_the_previous_shards(fixture_dir, corpus, tmp_path):
    out = tmp_path / "out"
    recipe, ref = previous_build_and_new_input(fixture_dir, corpus, tmp_path, out)
    r = subprocess.run([SLICETUNE, "data", "build", recipe], capture_output=True, text=True,
                       preexec_fn=limit_file_size(64 << 10))
    assert r.returncode == 1, r.stderr
    assert "File too large" in r.stderr or "disk full" in r.stderr, r.stderr
    assert digest(out / "shards") == ref and not leftovers(out), leftovers(out)


def test_data_build_into_a_read_only_folder_is_a_clear_error(fixture_dir, corpus, tmp_path):
    out = tmp_path / "out"
    recipe, ref = previous_build_and_new_input(fixture_dir, corpus, tmp_path, out)
    with read_only(out):
        t0 = time.monotonic()
        r = run([SLICETUNE, "data", "build", recipe])
        took = time.monotonic() - t0
    assert r.returncode == 2, r.stderr
    assert f"{out}: cannot write here" in r.stderr and "Read-only file system" in r.stderr, r.stderr
    assert took < 5, f"the check should come before the work ({took:.1f} s)"
    assert digest(out / "shards") == ref


def test_a_one_gigabyte_line_is_skipped_with_bounded_memory(fixture_dir, tmp_path):
    """A corpus file holding one 1 GiB line (no newline): the line is skipped and
    named, the documents around it are kept, and the build never holds the line."""
    free = shutil.disk_usage(tmp_path).free
    if free < (3 << 30):
        pytest.skip(f"needs 3 GiB free in {tmp_path} for a 1 GiB input and room to spare; {free >> 20} MiB free")
    src = tmp_path / "in"
    src.mkdir()
    try:
        with open(src / "huge.txt", "wb") as f:
            f.write("第一段，正常的文字。\n\n".encode())
            block = ("宽带套餐账单" * 10000).encode()  # 180 KB
            for _ in range((1 << 30) // len(block)):
                f.write(block)
            f.write("\n\n最后一段，也正常。\n".encode())
        recipe = write_recipe(tmp_path / "r.yaml", fixture_dir, src, tmp_path / "out", seq_len=32)
        r = run(["/usr/bin/time", "-f", "maxrss_kb=%M", SLICETUNE, "data", "build", recipe])
    finally:
        (src / "huge.txt").unlink(missing_ok=True)  # kept even for a failed test, it would crowd the disk
    assert r.returncode == 0, r.stderr
    rss_mb = int(r.stderr.rsplit("maxrss_kb=", 1)[1].split()[0]) / 1024
    print(f"peak RSS {rss_mb:.0f} MB for a 1 GiB line")
    # Memory is asserted on the plain build only: under AddressSanitizer (scripts/asan.sh sets ST_SANITIZED)
    # its quarantine keeps freed blocks for a while and shadow memory adds more, so RSS says little there.
    if not os.environ.get("ST_SANITIZED"):
        assert rss_mb < 400, f"peak RSS {rss_mb:.0f} MB: the line was held in memory"
    report = json.loads((tmp_path / "out" / "shards" / "data_report.json").read_text())
    listed = report["issues"]["listed"]
    assert any("huge.txt:3" in i["where"] and "a line of 1024 MiB" in i["what"] for i in listed), listed
    manifest = json.loads((tmp_path / "out" / "shards" / "manifest.json").read_text())
    assert sum(s["sequences"] for s in manifest["shards"]) >= 2


TRAIN_SETS = ["--set", "train.steps=8", "--set", "train.save_every=4", "--set", "train.batch_size=4",
              "--set", "lora.rank=4", "--set", "train.eval_every=0"]


def train_args(fixture_dir, out):
    return [SLICETUNE, "train", "recipes/smoke-tiny.yaml", "--set", f"base_model={fixture_dir}/tiny-base",
            "--set", f"output_dir={out}", *TRAIN_SETS]


def test_training_on_a_full_disk_stops_clearly_and_resumes_elsewhere(fixture_dir, tmp_path):
    """The disk fills while the second checkpoint is written: the run stops naming
    the file and the cause, the first checkpoint stays whole (its SHA256SUMS holds),
    and the run copied to a roomier disk resumes to the adapter of an undisturbed run."""
    ref = tmp_path / "ref"
    shutil.copytree(os.path.join(fixture_dir, "smoke", "shards"), ref / "shards")
    r = run(train_args(fixture_dir, ref), cwd=SRC)
    assert r.returncode == 0, r.stderr
    ckpt = ref / "checkpoints" / "step-00000004"
    ckpt_size = sum(p.stat().st_size for p in ckpt.iterdir())
    shards_size = sum(p.stat().st_size for p in (ref / "shards").iterdir())
    with small_filesystem(tmp_path / "disk", shards_size + int(ckpt_size * 1.5) + (64 << 10)) as disk:
        out = disk / "out"
        shutil.copytree(ref / "shards", out / "shards")
        r = run(train_args(fixture_dir, out), cwd=SRC)
        assert r.returncode == 1, r.stderr
        assert "No space left on device" in r.stderr or "disk full" in r.stderr, r.stderr
        assert str(out / "checkpoints") in r.stderr, r.stderr
        assert not leftovers(out), leftovers(out)
        kept = sorted(p.name for p in (out / "checkpoints").iterdir())
        assert kept == ["step-00000004"], kept
        sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out / "checkpoints" / kept[0],
                              capture_output=True, text=True)
        assert sums.returncode == 0, sums.stdout + sums.stderr
        moved = tmp_path / "moved"
        shutil.copytree(out, moved)
    r = run(train_args(fixture_dir, moved) + ["--resume"], cwd=SRC)
    assert r.returncode == 0, r.stderr
    assert (moved / "adapter" / "adapter_model.safetensors").read_bytes() == \
        (ref / "adapter" / "adapter_model.safetensors").read_bytes()


def test_training_into_a_read_only_folder_fails_before_loading_anything(fixture_dir, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(os.path.join(fixture_dir, "smoke", "shards"), out / "shards")
    with read_only(out):
        r = run(train_args(fixture_dir, out), cwd=SRC)
    assert r.returncode == 2, r.stderr
    assert f"{out}: cannot write here (Read-only file system)" in r.stderr, r.stderr
    assert "loading the base model" not in r.stderr


def test_many_small_files_keep_the_report_and_memory_small(fixture_dir, tmp_path):
    """20,000 one-line files and an empty one: the report lists 1,000 files, the
    problem file first, and counts the rest; files.tsv carries each task's file list."""
    src = tmp_path / "in"
    for k in range(20):
        (src / f"d{k:02d}").mkdir(parents=True)
        for i in range(1000):
            (src / f"d{k:02d}" / f"f{i:04d}.txt").write_text(f"第{k * 1000 + i}号文件，内容很短。\n", encoding="utf-8")
    (src / "d19" / "zz-empty.txt").write_text("")
    recipe = write_recipe(tmp_path / "r.yaml", fixture_dir, src, tmp_path / "out", seq_len=32)
    r = run(["/usr/bin/time", "-f", "maxrss_kb=%M", SLICETUNE, "data", "build", recipe])
    assert r.returncode == 0, r.stderr
    rss_mb = int(r.stderr.rsplit("maxrss_kb=", 1)[1].split()[0]) / 1024
    print(f"peak RSS {rss_mb:.0f} MB for 20,001 files")
    shards = tmp_path / "out" / "shards"
    report = json.loads((shards / "data_report.json").read_text())
    assert report["files_total"] == {"count": 20001, "listed": 1000, "documents": 20000,
                                     "bytes": sum(p.stat().st_size for p in src.rglob("*.txt"))}
    assert len(report["files"]) == 1000 and report["files"][0]["path"].endswith("zz-empty.txt")
    assert "19,001 more files not listed" in (shards / "data_report.md").read_text(encoding="utf-8")
    if not os.environ.get("ST_SANITIZED"):  # see the 1 GiB line test
        assert rss_mb < 300, f"peak RSS {rss_mb:.0f} MB"


def test_no_shell_is_started_with_input_derived_strings(fixture_dir, tmp_path):
    """Nothing in the C++ sources starts a shell (system, popen, exec*, "sh -c"): the
    only child process is slicetune-train, started by posix_spawn with an argument
    vector. And names that a shell would act on pass through as plain names."""
    import re
    forbidden = re.compile(r"\b(system|popen|execl|execlp|execle|execv|execvp|execvpe|wordexp)\s*\(|\"/bin/sh\"|\"sh\", \"-c\"")
    found = []
    for folder in ("core", "data", "export", "cli", "train", "kernels"):
        for p in sorted((Path(SRC) / folder).rglob("*")):
            if p.suffix in (".cpp", ".h", ".cu", ".cuh"):
                for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                    if forbidden.search(line.split("//")[0]):
                        found.append(f"{p}:{n}: {line.strip()}")
    assert not found, found
    spawns = [p for p in (Path(SRC) / "cli").glob("*.cpp") if "posix_spawn(" in p.read_text(encoding="utf-8")]
    assert [p.name for p in spawns] == ["child.cpp"]

    src = tmp_path / "in $(touch PWNED1); touch PWNED2 `touch PWNED3`"
    src.mkdir()
    (src / "a;touch PWNED4.txt").write_text("一段文字。\n", encoding="utf-8")
    out = tmp_path / "out $(touch PWNED5)"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""name: "x; touch PWNED6"
base_model: {fixture_dir}/tiny-base
output_dir: '{out}'
data:
  sources:
    - {{path: '{src}', format: text}}
  seq_len: 32
""")
    r = run([SLICETUNE, "data", "build", str(recipe)], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (out / "shards" / "manifest.json").exists()
    assert not [p for p in tmp_path.rglob("PWNED*")], list(tmp_path.rglob("PWNED*"))
