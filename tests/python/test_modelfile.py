"""Ollama Modelfiles: the TEMPLATE we generate, run by Go's text/template the way
Ollama's server runs it (tests/tools/ollama_render), renders every conversation
exactly as transformers' apply_chat_template(add_generation_prompt=True) does
with the model's real Jinja template (Qwen2.5, Llama 3, 3.2, Llama 2, Mistral
v0.1 / v3 / v3-tekken), the leading BOS aside (llama.cpp's tokenizer adds it);
every turn's end marker makes Ollama stop."""
import json
import os
import shutil
import subprocess

import pytest
from conftest import SLICETUNE, run
from test_chat_template import KIND, model_dirs  # noqa: F401  (the fixture: one model dir per template)

transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")

SRC = os.environ.get("ST_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

SYS = {"role": "system", "content": "你是杭州分公司的校对助手。Answer briefly."}
U1 = {"role": "user", "content": "把“杭分”展开成全称。"}
A1 = {"role": "assistant", "content": "杭州分公司。"}
U2 = {"role": "user", "content": "And the Hangzhou branch's code?"}
# Ollama renders a prompt for the next reply: conversations end with a user turn.
# Contents carry no surrounding whitespace (Go templates cannot trim; see ollama_template.h).
CONVERSATIONS = {"single": [U1], "single+system": [SYS, U1], "multi": [U1, A1, U2], "multi+system": [SYS, U1, A1, U2]}
END = {"qwen2.5": "<|im_end|>", "llama3": "<|eot_id|>", "llama3.2": "<|eot_id|>"}  # else the tokenizer's EOS


@pytest.fixture(scope="session")
def ollama_render(tmp_path_factory):
    if not shutil.which("go"):
        pytest.skip("Go is not installed (scripts/setup.sh --test installs golang-go): cannot run Ollama's template engine")
    out = str(tmp_path_factory.mktemp("go") / "ollama_render")
    env = dict(os.environ, GOCACHE=str(tmp_path_factory.mktemp("gocache")), GOFLAGS="-mod=mod", GO111MODULE="on")
    r = subprocess.run(["go", "build", "-o", out, "."], cwd=os.path.join(SRC, "tests", "tools", "ollama_render"),
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def modelfiles(model_dirs, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("mf")
    out = {}
    for name, d in model_dirs.items():
        g = str(root / f"{name}.gguf")
        r = run([SLICETUNE, "export", "--model", d, "--type", "f32", "-o", g, "--modelfile"])
        assert r.returncode == 0, r.stderr
        out[name] = (d, g, str(root / f"{name}.Modelfile"))
    return out


def render_go(tool, modelfile, conv):
    r = subprocess.run([tool, modelfile], input=json.dumps(conv, ensure_ascii=False), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("conv", list(CONVERSATIONS))
@pytest.mark.parametrize("template", list(KIND))
def test_template_renders_as_transformers(modelfiles, ollama_render, template, conv):
    d, _, mf = modelfiles[template]
    tok = transformers.AutoTokenizer.from_pretrained(d)
    messages = CONVERSATIONS[conv]
    try:
        want = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception as e:  # the template refuses (Mistral v0.1 and a system message)
        pytest.skip(f"{template} refuses this conversation in transformers too: {e}")
    if tok.bos_token and want.startswith(tok.bos_token):
        want = want[len(tok.bos_token):]
    assert render_go(ollama_render, mf, messages) == want


@pytest.mark.parametrize("template", list(KIND))
def test_every_turn_end_stops_generation(modelfiles, template):
    d, g, mf = modelfiles[template]
    text = open(mf, encoding="utf-8").read()
    stops = [line.split(" ", 2)[2].strip('"') for line in text.splitlines() if line.startswith("PARAMETER stop ")]
    reader = gguf.GGUFReader(g)
    tokens = reader.fields["tokenizer.ggml.tokens"]
    eos_id = int(reader.fields["tokenizer.ggml.eos_token_id"].contents())
    eos = tokens.contents()[eos_id]
    end = END.get(template, transformers.AutoTokenizer.from_pretrained(d).eos_token)
    # The end-of-turn marker is the GGUF's EOS (llama.cpp stops there) or a stop parameter.
    assert end == eos or end in stops, (end, eos, stops)
    assert text.startswith("# ") and f"FROM ./{os.path.basename(g)}\n" in text
    assert "TEMPLATE \"\"\"" in text


def test_model_without_chat_template_gets_plain_modelfile(fixture_dir, tmp_path):
    g = str(tmp_path / "base.gguf")
    r = run([SLICETUNE, "export", "--model", os.path.join(fixture_dir, "tiny-base"), "--type", "q8_0", "-o", g, "--modelfile"])
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "base.Modelfile").read_text()
    assert "FROM ./base.gguf" in text and "TEMPLATE" not in text and "no chat template" in text


def test_generation_config_sampling_becomes_parameters(model_dirs, tmp_path):  # noqa: F811
    d = str(tmp_path / "m")
    shutil.copytree(model_dirs["qwen2.5"], d)
    json.dump({"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05},
              open(os.path.join(d, "generation_config.json"), "w"))
    r = run([SLICETUNE, "export", "--model", d, "--type", "f16", "-o", str(tmp_path / "q.gguf"), "--modelfile"])
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "q.Modelfile").read_text()
    for line in ("PARAMETER temperature 0.7", "PARAMETER top_p 0.8", "PARAMETER top_k 20", "PARAMETER repeat_penalty 1.05"):
        assert line in text
