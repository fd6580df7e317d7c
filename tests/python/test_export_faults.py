"""Exports never leave a partial file: killed mid-write (SIGKILL), out of space
(a file-size limit) or refused, the output path holds the previous good file or
nothing, and the next run cleans up a killed run's temporary. Every GGUF says
where it came from (general.*)."""
import hashlib
import os
import random
import resource
import signal
import subprocess
import time

import pytest
from conftest import SLICETUNE, llama_weights, run

gguf = pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def big_model(fixture_dir, tmp_path_factory):
    """Large enough that a scalar Q4_K_M export takes a while (about 27M parameters)."""
    from safetensors.numpy import save_file
    d = tmp_path_factory.mktemp("big") / "m"
    t, _ = llama_weights(os.path.join(fixture_dir, "tiny-base"), str(d), 512, 1536, 8, 8, 8)
    save_file(t, str(d / "model.safetensors"), metadata={"format": "pt"})
    return str(d)


def test_sigkill_mid_export_leaves_no_partial_file(big_model, tmp_path):
    out = tmp_path / "m.gguf"
    env = dict(os.environ, SLICETUNE_NO_SIMD="1")  # slow enough to be caught mid-write
    p = subprocess.Popen([SLICETUNE, "export", "--model", big_model, "--type", "Q4_K_M", "-o", str(out)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seed = int(os.environ.get("ST_FAULT_SEED", time.time_ns() % 1_000_000))
    at = random.Random(seed).randint(1, 1 << 20)  # kill once this many bytes are in the temporary
    print(f"ST_FAULT_SEED={seed}: kill after {at} bytes")
    tmp = tmp_path / f"m.gguf.tmp-{p.pid}"
    deadline = time.time() + 30
    while time.time() < deadline and not (tmp.exists() and tmp.stat().st_size >= at):
        time.sleep(0.01)
    assert p.poll() is None, "export finished before it could be killed"
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not out.exists() and tmp.exists()  # the final name never holds a partial file
    r = run([SLICETUNE, "export", "--model", big_model, "--type", "Q8_0", "-o", str(out)])
    assert r.returncode == 0, r.stderr
    assert out.exists() and not tmp.exists()  # the dead run's temporary is gone
    gguf.GGUFReader(str(out))


def limit_file_size(nbytes):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return apply


@pytest.mark.parametrize("typ", ["Q4_K_M", "hf", "bundle"])
def test_full_disk_keeps_the_previous_output(fixture_dir, tmp_path, typ):
    base = os.path.join(fixture_dir, "tiny-base")
    adapter = os.path.join(fixture_dir, "smoke", "adapter")
    out = tmp_path / ("out" if typ != "Q4_K_M" else "out.gguf")
    args = {"Q4_K_M": ["--type", "Q4_K_M", "--adapter", adapter],
            "hf": ["--type", "hf", "--adapter", adapter],
            "bundle": ["--type", "Q8_0", "--adapter", f"a={adapter}", "--adapter", f"b={adapter}"]}[typ]
    cmd = [SLICETUNE, "export", "--model", base, *args, "-o", str(out)]
    assert run(cmd).returncode == 0
    before = {p: p.read_bytes() for p in ([out] if out.is_file() else sorted(out.rglob("*"))) if p.is_file()}
    if typ == "hf":  # a merged folder is never written over an existing one: fill a new one
        cmd[-1] = str(tmp_path / "new")
    r = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limit_file_size(64 << 10))
    assert r.returncode == 1, r.stderr
    assert "write failed" in r.stderr and "disk full" in r.stderr, r.stderr
    after = {p: p.read_bytes() for p in ([out] if out.is_file() else sorted(out.rglob("*"))) if p.is_file()}
    assert after == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name] and not (tmp_path / "new").exists()


def test_unwritable_output_folder(fixture_dir, tmp_path):
    """A read-only folder (permissions for a normal user; a read-only bind mount for
    root, whom permissions do not stop): a clear error naming it, nothing written."""
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "previous.gguf").write_bytes(b"previous good output")
    cmd = [SLICETUNE, "export", "--model", os.path.join(fixture_dir, "tiny-base"), "--type", "Q8_0",
           "-o", str(ro / "x.gguf")]
    if os.geteuid() == 0:
        from test_faults import read_only
        with read_only(ro):
            r = run(cmd)
    else:
        ro.chmod(0o555)
        r = run(cmd)
        ro.chmod(0o755)
    assert r.returncode != 0 and str(ro) in r.stderr, r.stderr
    assert "Read-only file system" in r.stderr or "Permission denied" in r.stderr, r.stderr
    assert sorted(p.name for p in ro.iterdir()) == ["previous.gguf"]


def test_provenance_of_a_recipe_export(fixture_dir):
    exp = os.path.join(fixture_dir, "smoke", "export")
    r = gguf.GGUFReader(os.path.join(exp, "smoke-tiny-f16.gguf"))
    f = lambda k: r.fields[k].contents()
    sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
    assert f("general.name") == "smoke-tiny" and f("general.slicetune.slice") == "smoke-tiny"
    assert f("general.base_model.count") == 1 and f("general.base_model.0.name") == "tiny-base"
    # The recipe's hash covers what is trained, not where it is written: the resolved recipe less output_dir.
    resolved = open(os.path.join(exp, "recipe.resolved.yaml"), encoding="utf-8").read().splitlines(keepends=True)
    assert sum(line.startswith("output_dir:") for line in resolved) == 1
    what = "".join(line for line in resolved if not line.startswith("output_dir:"))
    assert f("general.slicetune.recipe_sha256") == hashlib.sha256(what.encode()).hexdigest()
    assert f("general.slicetune.data_manifest_sha256") == sha(os.path.join(fixture_dir, "smoke", "shards", "manifest.json"))
    assert f("general.file_type") == 1  # LLAMA_FTYPE_MOSTLY_F16
    text = open(os.path.join(exp, "smoke-tiny-f16.Modelfile")).read()
    assert "FROM ./smoke-tiny-f16.gguf" in text


def test_gpu_export_without_a_gpu_is_a_clear_error(fixture_dir, tmp_path):
    """`export --device cuda` quantizes Q8_0 / Q4_K / Q6_K blocks on the GPU (the same
    bytes: tests/kernels/gguf_cuda_test.cpp); where there is none it says so up front
    and writes nothing. (On a GPU machine this test checks the bytes instead.)"""
    out = tmp_path / "m.gguf"
    r = run([SLICETUNE, "export", "--model", f"{fixture_dir}/tiny-base", "--type", "q4_k_m", "--device", "cuda",
             "-o", str(out)])
    have_gpu = os.path.exists("/dev/nvidia0")
    if not have_gpu:
        assert r.returncode == 2 and "--device cuda" in r.stderr and "GPU" in r.stderr, r.stderr
        assert not out.exists() and not list(tmp_path.iterdir())
    else:
        assert r.returncode == 0, r.stderr
        cpu = tmp_path / "cpu.gguf"
        r = run([SLICETUNE, "export", "--model", f"{fixture_dir}/tiny-base", "--type", "q4_k_m", "-o", str(cpu)])
        assert r.returncode == 0 and out.read_bytes() == cpu.read_bytes()
    r = run([SLICETUNE, "export", "--model", f"{fixture_dir}/tiny-base", "--type", "q8_0", "--device", "tpu",
             "-o", str(out)])
    assert r.returncode == 2 and "--device" in r.stderr, r.stderr
