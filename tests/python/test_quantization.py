"""GGUF quant types: our blocks are byte-identical to ggml's reference quantizers
(the gguf package's implementations), and llama.cpp loads and runs every file."""
import os
import shutil

import numpy as np
import pytest
from conftest import SLICETUNE, TEXTS, max_rel_err, our_ids, our_logits, run

gguf = pytest.importorskip("gguf")
from safetensors.numpy import load_file, save_file  # noqa: E402

TYPES = {"f16": gguf.GGMLQuantizationType.F16, "bf16": gguf.GGMLQuantizationType.BF16,
         "q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0,
         "q4_1": gguf.GGMLQuantizationType.Q4_1, "q5_0": gguf.GGMLQuantizationType.Q5_0,
         "q5_1": gguf.GGMLQuantizationType.Q5_1}
# Largest relative logit error llama.cpp may show against our f32 forward, per type.
# Measured on the tiny random fixture (2026-11-28): f16 0.0008, bf16 0.0064,
# q8_0 0.021, q5_1 0.11, q5_0 0.14, q4_1 0.22, q4_0 0.31 (llama.cpp also quantizes
# activations to 8 bits in quantized matmuls); the bounds leave about 1.5x margin.
LOGIT_BOUND = {"f16": 0.002, "bf16": 0.01, "q8_0": 0.035, "q5_1": 0.17, "q5_0": 0.21, "q4_1": 0.33, "q4_0": 0.47}


@pytest.fixture(scope="module")
def tricky_model(fixture_dir, tmp_path_factory):
    """The tiny base with blocks that stress the quantizers: all zeros, ties for the
    largest magnitude, exact halves, huge and tiny values, negative maxima."""
    d = tmp_path_factory.mktemp("tricky") / "model"
    shutil.copytree(os.path.join(fixture_dir, "tiny-base"), d)
    t = load_file(str(d / "model.safetensors"))
    w = t["model.layers.0.mlp.up_proj.weight"]  # (256, 128)
    rng = np.random.default_rng(1)
    w[0, :32] = 0.0
    w[1, :32] = np.tile([1.0, -1.0], 16)
    w[2, :32] = np.linspace(-8, 8, 32)
    w[3, :32] = rng.normal(0, 1e-6, 32)
    w[4, :32] = rng.normal(0, 300.0, 32)
    w[5, :32] = -np.abs(rng.normal(0, 1, 32))
    w[6, :32] = np.round(rng.normal(0, 4, 32)) / 2  # exact halves
    t["model.layers.0.mlp.up_proj.weight"] = w
    save_file(t, str(d / "model.safetensors"), metadata={"format": "pt"})
    return str(d)


def export(model, typ, out):
    # --pure: every matrix of the one type (llama.cpp's mixtures: test_kquants.py)
    r = run([SLICETUNE, "export", "--model", model, "--type", typ, "--pure", "-o", out])
    assert r.returncode == 0, r.stderr
    return gguf.GGUFReader(out)


@pytest.mark.parametrize("typ", list(TYPES))
def test_blocks_equal_ggml_reference(tricky_model, tmp_path, typ):
    ref = export(tricky_model, "f32", str(tmp_path / "f32.gguf"))
    ours = export(tricky_model, typ, str(tmp_path / f"{typ}.gguf"))
    f32 = {t.name: np.asarray(t.data) for t in ref.tensors}
    checked = 0
    for t in ours.tensors:
        src = f32[t.name]
        if src.ndim == 1:
            assert t.tensor_type == gguf.GGMLQuantizationType.F32, t.name
            continue
        assert t.tensor_type == TYPES[typ], t.name
        expect = gguf.quants.quantize(src, TYPES[typ])
        np.testing.assert_array_equal(np.asarray(t.data).view(np.uint8).reshape(-1),
                                      expect.view(np.uint8).reshape(-1), err_msg=t.name)
        checked += 1
    assert checked == 1 + 2 * 7 + 1  # embedding, 7 matrices per block, output


@pytest.mark.parametrize("typ", list(TYPES))
def test_llama_cpp_runs_every_type(fixture_dir, tmp_path, typ):
    llama_cpp = pytest.importorskip("llama_cpp")
    base = os.path.join(fixture_dir, "tiny-base")
    out = str(tmp_path / f"{typ}.gguf")
    assert run([SLICETUNE, "export", "--model", base, "--type", typ, "-o", out]).returncode == 0
    llm = llama_cpp.Llama(model_path=out, n_ctx=128, n_batch=128, logits_all=True, n_threads=2, verbose=False)
    ids = our_ids(base, TEXTS[0] + TEXTS[1])
    llm.eval(ids)
    got = np.array(llm.scores[: len(ids)], dtype=np.float32)
    err = max_rel_err(got, our_logits(base, ids, tmp_path=tmp_path))
    print(f"{typ}: max relative logit error {err:.4f}")
    assert err <= LOGIT_BOUND[typ]


def test_unknown_type_is_refused(fixture_dir, tmp_path):
    r = run([SLICETUNE, "export", "--model", os.path.join(fixture_dir, "tiny-base"), "--type", "q3_x", "-o",
             str(tmp_path / "x.gguf")])
    assert r.returncode == 2 and "supported: F32, F16, BF16, Q8_0" in r.stderr and "Q4_K_M" in r.stderr
    assert not (tmp_path / "x.gguf").exists()
