"""Multi-process data parallel on CPU (Gloo): `slicetune train` started by torchrun
(the launcher from the torch package) with 2 processes and grad_accum 2 takes the
same steps as 1 process with grad_accum 4 — same losses, same adapter within float
tolerance — and so does a Slurm-style start (SLURM_PROCID / SLURM_NTASKS).
Only rank 0 writes. Dropout is off: each rank draws its own masks."""
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import SLICETUNE, SRC, run
from safetensors.numpy import load_file

SETS = ["--set", "train.steps=6", "--set", "train.batch_size=2", "--set", "lora.rank=4", "--set", "lora.dropout=0",
        "--set", "train.log_every=2", "--set", "train.save_every=3", "--set", "train.eval_every=3"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recipe_args(fixture_dir, out, accum):
    os.makedirs(out, exist_ok=True)
    if not os.path.exists(out / "shards"):
        shutil.copytree(os.path.join(fixture_dir, "smoke", "shards"), out / "shards")
    return ["recipes/smoke-tiny.yaml", "--set", f"base_model={fixture_dir}/tiny-base", "--set", f"output_dir={out}",
            "--set", f"train.grad_accum={accum}", *SETS]


def steps(out):
    return [(e["step"], e.get("loss"), e.get("val_loss"), e.get("grad_norm"), e.get("tokens"))
            for e in json.load(open(out / "train_log.json"))["log"]]


def same_training(a, b):
    la, lb = steps(a), steps(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        assert x[0] == y[0] and x[4] == y[4]  # same steps, same target tokens per step
        for u, v in zip(x[1:4], y[1:4]):
            assert (u is None) == (v is None) and (u is None or abs(u - v) <= 1e-5 * max(1.0, abs(u))), (x, y)
    wa = load_file(str(a / "adapter" / "adapter_model.safetensors"))
    wb = load_file(str(b / "adapter" / "adapter_model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_allclose(wa[k], wb[k], rtol=1e-4, atol=1e-6, err_msg=k)


@pytest.fixture(scope="module")
def single(fixture_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    r = run([SLICETUNE, "train", *recipe_args(fixture_dir, out, 4)], cwd=SRC)
    assert r.returncode == 0, r.stderr
    return out


def test_torchrun_two_processes_match_one_with_twice_the_accumulation(single, fixture_dir, tmp_path):
    out = tmp_path / "ddp"
    args = recipe_args(fixture_dir, out, 2)
    r = run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
             "--no-python", SLICETUNE, "train", *args], cwd=SRC, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "rank 0 of 2 (torchrun)" in r.stderr
    same_training(single, out)
    # Rank 0 alone wrote: one checkpoint per save, one metrics stream holding the log.
    assert sorted(os.listdir(out / "checkpoints")) == ["step-00000003", "step-00000006"]
    lines = [json.loads(x) for x in open(out / "metrics.jsonl")]
    assert lines == json.load(open(out / "train_log.json"))["log"]


def test_slurm_environment_two_tasks(single, fixture_dir, tmp_path):
    out = tmp_path / "slurm"
    args = recipe_args(fixture_dir, out, 2)
    port = str(free_port())
    procs = []
    for rank in range(2):
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR")}
        env.update(SLURM_PROCID=str(rank), SLURM_NTASKS="2", SLURM_LOCALID=str(rank), SLURM_TASKS_PER_NODE="2",
                   SLURM_JOB_NODELIST="localhost", MASTER_PORT=port)
        procs.append(subprocess.Popen([SLICETUNE, "train", *args], cwd=SRC, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert "rank 0 of 2 (slurm)" in errs[0]
    same_training(single, out)


def test_multi_process_start_does_not_build_shards(fixture_dir, tmp_path):
    out = tmp_path / "noshards"
    args = recipe_args(fixture_dir, out, 2)
    shutil.rmtree(out / "shards")
    env = dict(os.environ, RANK="0", WORLD_SIZE="2", MASTER_PORT=str(free_port()))
    r = run([SLICETUNE, "train", *args], cwd=SRC, env=env, timeout=120)
    assert r.returncode == 2 and "does not build them" in r.stderr and "slicetune data build" in r.stderr, r.stderr
    r = run([SLICETUNE, "run", *args], cwd=SRC, env=env, timeout=120)  # run checks the same way
    assert r.returncode == 2 and "does not build them" in r.stderr, r.stderr
    assert not (out / "shards").exists()
    env = dict(os.environ, RANK="2", WORLD_SIZE="2")
    r = run([SLICETUNE, "train", *recipe_args(fixture_dir, tmp_path / "x", 2)], cwd=SRC, env=env, timeout=120)
    assert r.returncode == 2 and "rank 2 is not below the world size 2" in r.stderr, r.stderr
