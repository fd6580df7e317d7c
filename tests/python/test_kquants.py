"""K-quants, llama.cpp's per-tensor mixtures and importance matrices: every file
we write equals, tensor by tensor (type and bytes), what llama.cpp's own
llama_model_quantize writes from our F32 GGUF of the same model, with and
without an imatrix; llama.cpp runs each one."""
import ctypes
import os
import struct

import numpy as np
import pytest
from conftest import SLICETUNE, TEXTS, llama_weights, our_ids, run

gguf = pytest.importorskip("gguf")
llama_cpp = pytest.importorskip("llama_cpp")
from safetensors.numpy import save_file  # noqa: E402

# llama_ftype values (llama.h)
FTYPES = {"Q2_K": 10, "Q2_K_S": 21, "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15,
          "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "Q4_0": 2, "Q4_1": 3, "Q5_0": 8, "Q5_1": 9, "Q8_0": 7}
MIXTURES = [t for t in FTYPES if t != "Q2_K_S"]  # Q2_K_S needs an imatrix (as in llama.cpp)


def make_model(tiny_base, out, layers, kv_heads, tied, seed, stress=True):
    """A small llama with rows of 256 (so the k-quants apply), ffn_down rows of
    384 (so llama.cpp's fallbacks apply) and blocks that stress the searches."""
    t, rng = llama_weights(tiny_base, out, 256, 384, layers, 4, kv_heads, tied, seed, head_dim=64)
    if not stress:
        save_file(t, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
        return out
    w = t["model.layers.0.mlp.up_proj.weight"]
    w[0, :] = 0.0                                               # all-zero super-blocks
    w[1, :256] = -np.abs(rng.standard_normal(256))              # all negative
    w[2, :256] = 0.5                                            # constant
    w[3, :256] = np.tile([1.0, -1.0], 128)                      # ties for the largest magnitude
    w[4, :256] = rng.standard_normal(256) * 1e-7                # tiny
    w[5, :256] = rng.standard_normal(256) * 300                 # huge
    w[6, 7] = 50.0                                              # one outlier
    w[7, :256] = np.round(rng.standard_normal(256) * 4) / 2     # exact halves
    w[8, :256] = np.abs(rng.standard_normal(256))               # all positive
    w[9, :16] = 0.0                                             # one empty sub-block
    save_file(t, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    return out


@pytest.fixture(scope="module")
def models(fixture_dir, tmp_path_factory):
    """8 layers with one KV head (GQA 4: llama.cpp's attn_v rules fire), 4
    tied-embedding layers with GQA 2, and the first without its stress rows (whose
    huge activations would swamp a logit comparison); each with its F32 GGUF."""
    root = tmp_path_factory.mktemp("kq")
    base = os.path.join(fixture_dir, "tiny-base")
    out = {}
    for name, layers, kv, tied, seed, stress in (("gqa4", 8, 1, False, 3, True), ("tied", 4, 2, True, 4, True),
                                                 ("plain", 8, 1, False, 3, False)):
        d = make_model(base, str(root / name), layers, kv, tied, seed, stress)
        f32 = str(root / f"{name}-f32.gguf")
        r = run([SLICETUNE, "export", "--model", d, "--type", "f32", "-o", f32])
        assert r.returncode == 0, r.stderr
        out[name] = (d, f32)
    return out


def llama_quantize(src, dst, ftype, pure=False, imatrix=None):
    """llama.cpp's quantizer (llama-quantize's library call), imatrix as
    llama-quantize passes it: per tensor, sums / count."""
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = FTYPES[ftype]
    p.pure = pure
    p.nthread = 2
    keep = []
    if imatrix:
        arr = (llama_cpp.llama_model_imatrix_data * (len(imatrix) + 1))()
        for i, (name, vals) in enumerate(sorted(imatrix.items())):
            a = np.ascontiguousarray(vals, dtype=np.float32)
            keep.append((name.encode(), a))
            arr[i].name = keep[-1][0]
            arr[i].data = a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            arr[i].size = a.size
        arr[len(imatrix)].name = None
        p.imatrix = arr
    assert llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p)) == 0


def ours(model, dst, ftype, *extra):
    r = run([SLICETUNE, "export", "--model", model, "--type", ftype, "-o", dst, *extra])
    assert r.returncode == 0, r.stderr
    return dst


def tensors(path):
    return {t.name: (t.tensor_type, np.asarray(t.data).view(np.uint8).reshape(-1)) for t in gguf.GGUFReader(path).tensors}


def assert_same_file_contents(a, b):
    ta, tb = tensors(a), tensors(b)
    assert sorted(ta) == sorted(tb)
    for name in ta:
        assert ta[name][0] == tb[name][0], f"{name}: {ta[name][0].name} vs llama.cpp's {tb[name][0].name}"
        np.testing.assert_array_equal(ta[name][1], tb[name][1], err_msg=name)
    return ta


@pytest.mark.parametrize("ftype", ["Q2_K", "Q3_K_S", "Q4_K_S", "Q5_K_S", "Q6_K"])
def test_pure_k_types_equal_llama_cpp(models, tmp_path, ftype):
    model, f32 = models["gqa4"]
    llama_quantize(f32, str(tmp_path / "ref.gguf"), ftype, pure=True)
    got = assert_same_file_contents(ours(model, str(tmp_path / "ours.gguf"), ftype, "--pure"), str(tmp_path / "ref.gguf"))
    base = {"Q2_K": "Q2_K", "Q3_K_S": "Q3_K", "Q4_K_S": "Q4_K", "Q5_K_S": "Q5_K", "Q6_K": "Q6_K"}[ftype]
    assert got["blk.0.ffn_up.weight"][0].name == base  # the stress rows went through the k-quant searches


@pytest.mark.parametrize("model", ["gqa4", "tied"])
@pytest.mark.parametrize("ftype", MIXTURES)
def test_mixtures_equal_llama_cpp(models, tmp_path, model, ftype):
    d, f32 = models[model]
    llama_quantize(f32, str(tmp_path / "ref.gguf"), ftype)
    got = assert_same_file_contents(ours(d, str(tmp_path / "ours.gguf"), ftype), str(tmp_path / "ref.gguf"))
    kinds = {t.name for t, _ in got.values()}
    if ftype in ("Q4_K_M", "Q5_K_M", "Q3_K_M", "Q2_K"):
        assert len(kinds - {"F32"}) >= 3, kinds  # a real mixture, not one type


@pytest.mark.parametrize("ftype", ["Q2_K", "Q3_K_S", "Q4_K_S", "Q5_K_S", "Q6_K", "Q8_0", "F16"])
def test_scalar_path_equals_simd_path(models, tmp_path, ftype):
    """SLICETUNE_NO_SIMD=1: the scalar searches and conversions write the same
    bytes as the lane-parallel (AVX2 / F16C) ones, with and without importance."""
    d, f32 = models["gqa4"]
    write_imatrix_gguf(str(tmp_path / "im.gguf"), random_imatrix(f32, 13))
    for extra in ([], ["--imatrix", str(tmp_path / "im.gguf")]):
        simd = ours(d, str(tmp_path / "simd.gguf"), ftype, "--pure", *extra)
        env = dict(os.environ, SLICETUNE_NO_SIMD="1")
        r = run([SLICETUNE, "export", "--model", d, "--type", ftype, "--pure", "-o", str(tmp_path / "scalar.gguf"), *extra],
                env=env)
        assert r.returncode == 0, r.stderr
        assert open(simd, "rb").read() == open(tmp_path / "scalar.gguf", "rb").read()


def random_imatrix(f32, seed):
    """Entries for every block matrix, as llama-imatrix writes them: sums of
    squared activations and token counts."""
    rng = np.random.default_rng(seed)
    out = {}
    for t in gguf.GGUFReader(f32).tensors:
        if t.name.startswith("blk.") and len(t.shape) == 2:
            out[t.name] = ((rng.gamma(0.5, 2.0, int(t.shape[0])) * 100).astype(np.float32), 1536)
    return out


def write_imatrix_gguf(path, entries):
    """The GGUF imatrix format, written with the gguf package (not our writer)."""
    w = gguf.GGUFWriter(path, arch="")
    w.add_string("general.type", "imatrix")
    w.add_array("imatrix.datasets", ["calibration.txt"])
    w.add_uint32("imatrix.chunk_count", 3)
    w.add_uint32("imatrix.chunk_size", 512)
    for name, (sums, count) in entries.items():
        w.add_tensor(name + ".in_sum2", sums.reshape(1, -1))
        w.add_tensor(name + ".counts", np.array([[count]], np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.parametrize("ftype", ["Q2_K", "Q2_K_S", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q4_0", "Q4_1", "Q5_0", "Q5_1"])
def test_imatrix_quantization_equals_llama_cpp(models, tmp_path, ftype):
    d, f32 = models["gqa4"]
    entries = random_imatrix(f32, 9)
    write_imatrix_gguf(str(tmp_path / "im.gguf"), entries)
    llama_quantize(f32, str(tmp_path / "ref.gguf"), ftype,
                   imatrix={k: (s / np.float32(c)).astype(np.float32) for k, (s, c) in entries.items()})
    got = assert_same_file_contents(ours(d, str(tmp_path / "ours.gguf"), ftype, "--imatrix", str(tmp_path / "im.gguf")),
                                    str(tmp_path / "ref.gguf"))
    if ftype != "Q2_K_S":  # the importance really changed the bytes
        plain = tensors(ours(d, str(tmp_path / "plain.gguf"), ftype))
        changed = [n for n in got if n.startswith("blk.") and not np.array_equal(got[n][1], plain[n][1])]
        assert len(changed) >= 8, changed


def test_legacy_imatrix_file(models, tmp_path):
    """llama-imatrix's older .dat format: values stored as sums / tokens * ncall."""
    d, f32 = models["gqa4"]
    entries = random_imatrix(f32, 11)
    ncall = 3
    blob = struct.pack("<i", len(entries))
    loaded = {}
    for name, (sums, count) in entries.items():
        vals = (sums / np.float32(count) * np.float32(ncall)).astype(np.float32)
        blob += struct.pack("<i", len(name)) + name.encode() + struct.pack("<ii", ncall, vals.size) + vals.tobytes()
        loaded[name] = (vals / np.float32(ncall)).astype(np.float32)
    blob += struct.pack("<ii", 3, 9) + b"calib.txt"
    (tmp_path / "im.dat").write_bytes(blob)
    llama_quantize(f32, str(tmp_path / "ref.gguf"), "Q4_K_M", imatrix=loaded)
    assert_same_file_contents(ours(d, str(tmp_path / "ours.gguf"), "Q4_K_M", "--imatrix", str(tmp_path / "im.dat")),
                              str(tmp_path / "ref.gguf"))


def test_q2_k_s_without_imatrix_is_refused(models, tmp_path):
    d, _ = models["gqa4"]
    r = run([SLICETUNE, "export", "--model", d, "--type", "Q2_K_S", "-o", str(tmp_path / "x.gguf")])
    assert r.returncode == 2
    assert "needs importance data" in r.stderr and "--imatrix" in r.stderr
    assert not os.listdir(tmp_path)


def test_imatrix_of_another_model_is_refused(models, tmp_path):
    d, f32 = models["gqa4"]
    entries = random_imatrix(f32, 5)
    name = "blk.0.attn_q.weight"
    entries[name] = (entries[name][0][:128], 1536)
    write_imatrix_gguf(str(tmp_path / "im.gguf"), entries)
    r = run([SLICETUNE, "export", "--model", d, "--type", "Q4_K_M", "--imatrix", str(tmp_path / "im.gguf"),
             "-o", str(tmp_path / "x.gguf")])
    assert r.returncode == 2
    assert name in r.stderr and "128" in r.stderr and "256" in r.stderr
    assert not (tmp_path / "x.gguf").exists()


# Largest relative logit error of llama.cpp on each file against its own run of
# the F32 file ("plain" model, measured 2026-11-29: Q6_K 0.031, Q5_K_M 0.039,
# Q5_K_S 0.045, Q4_K_M 0.075, Q4_K_S 0.077, Q3_K_L 0.16, Q3_K_M 0.16, Q3_K_S 0.15,
# Q2_K 0.30), with about 1.5x margin. (Q2_K_S needs an imatrix; its blocks are Q2_K's.)
K_LOGIT_BOUND = {"Q6_K": 0.045, "Q5_K_M": 0.06, "Q5_K_S": 0.07, "Q4_K_M": 0.11, "Q4_K_S": 0.12, "Q3_K_L": 0.24,
                 "Q3_K_M": 0.24, "Q3_K_S": 0.24, "Q2_K": 0.45}


@pytest.mark.parametrize("ftype", list(K_LOGIT_BOUND))
def test_llama_cpp_runs_k_files(models, tmp_path, ftype):
    d, f32 = models["plain"]
    path = ours(d, str(tmp_path / "q.gguf"), ftype)
    ids = our_ids(d, TEXTS[0] + TEXTS[1])

    def logits(p):
        llm = llama_cpp.Llama(model_path=p, n_ctx=128, n_batch=128, logits_all=True, n_threads=2, verbose=False)
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float32)

    ref = logits(f32)
    err = float(np.max(np.abs(logits(path) - ref)) / np.max(np.abs(ref)))
    print(f"{ftype}: max relative logit error {err:.4f}")
    assert 0 < err < K_LOGIT_BOUND[ftype]
