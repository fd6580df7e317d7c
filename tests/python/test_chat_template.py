"""Chat templates: our rendering of a conversation equals transformers'
apply_chat_template with the real template strings of Qwen2.5, Llama 3, Llama 2 and
Mistral (v0.1, v3, v3-tekken), single and multi-turn, with and without a system
message and a generation prompt; a template's refusals are ours too. Token ids of
the rendered chat equal transformers' (byte-level BPE) and llama.cpp's on our GGUF,
the loss mask covers exactly the assistant replies and their end token, and the
template string travels unchanged into GGUF."""
import json
import os
import shutil

import pytest
from chat_templates import TEMPLATES
from conftest import SLICETUNE, run

transformers = pytest.importorskip("transformers")

# Which tokenizer each template is exercised with: the family's own kind of vocabulary.
KIND = {"qwen2.5": "qwen2", "llama3": "llama3", "llama3.2": "llama3", "llama2": "sp", "mistral-v0.1": "sp", "mistral-v3": "sp",
        "mistral-v3-tekken": "sp"}
END = {"qwen2.5": "<|im_end|>", "llama3": "<|eot_id|>", "llama3.2": "<|eot_id|>"}  # else the tokenizer's EOS

SYS = {"role": "system", "content": "你是杭州分公司的校对助手。Answer briefly."}
U1 = {"role": "user", "content": "把“杭分”展开成全称。"}
A1 = {"role": "assistant", "content": "杭州分公司。"}
U2 = {"role": "user", "content": "  And the Hangzhou branch's code?\n"}
A2 = {"role": "assistant", "content": "\n  HZ-0571 ✓  \n"}
CONVERSATIONS = {
    "single": [U1],
    "single+system": [SYS, U1],
    "multi": [U1, A1, U2, A2],
    "multi+system": [SYS, U1, A1, U2, A2],
    "multi+system,ends-user": [SYS, U1, A1, U2],
}


def sp_model_dir(fixture_dir, out):
    shutil.copytree(os.path.join(fixture_dir, "tiny-base"), out)
    return out


def bpe_model_dir(kind, out):
    from test_bpe_tokenizer import make_model, make_tokenizer
    tok = make_tokenizer(kind, out)
    make_model(kind, out, tok.get_vocab_size())
    return out


@pytest.fixture(scope="module")
def model_dirs(fixture_dir, tmp_path_factory):
    """One model directory per template: the template set in tokenizer_config.json."""
    base = tmp_path_factory.mktemp("chat")
    kinds = {}
    for kind in sorted(set(KIND.values())):
        d = str(base / f"base-{kind}")
        kinds[kind] = sp_model_dir(fixture_dir, d) if kind == "sp" else bpe_model_dir(kind, d)
    dirs = {}
    for name, tmpl in TEMPLATES.items():
        d = str(base / name)
        shutil.copytree(kinds[KIND[name]], d)
        cfg_path = os.path.join(d, "tokenizer_config.json")
        cfg = json.load(open(cfg_path))
        cfg["chat_template"] = tmpl
        if name == "qwen2.5":
            cfg["eos_token"] = "<|im_end|>"  # as Qwen2.5-Instruct's config says
        json.dump(cfg, open(cfg_path, "w"), ensure_ascii=False)
        dirs[name] = d
    return dirs


def hf_tokenizer(d):
    return transformers.AutoTokenizer.from_pretrained(d)


def ours(d, conv, tmp_path, *flags):
    f = tmp_path / "conv.json"
    f.write_text(json.dumps({"messages": conv}, ensure_ascii=False), encoding="utf-8")
    return run([SLICETUNE, "tokenize", d, "--chat", str(f), *flags])


def reference(tok, conv, gen):
    try:
        return tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen)
    except Exception as e:  # the template's raise_exception
        if "TemplateError" in type(e).__name__ or "jinja" in type(e).__module__:
            return None
        raise


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_rendering_equals_transformers(name, model_dirs, tmp_path):
    d = model_dirs[name]
    tok = hf_tokenizer(d)
    checked = 0
    for conv_name, conv in CONVERSATIONS.items():
        for gen in (False, True):
            want = reference(tok, conv, gen)
            r = ours(d, conv, tmp_path, *(["--add-generation-prompt"] if gen else []))
            if want is None:
                assert r.returncode == 2, f"{conv_name}: the template refuses this conversation, we rendered {r.stdout!r}"
                assert "role" in r.stderr
                continue
            assert r.returncode == 0, f"{conv_name}: {r.stderr}"
            assert r.stdout == want, f"{conv_name}, generation prompt {gen}"
            checked += 1
    assert checked >= 4  # Mistral v0.1 refuses the system message: 2 conversations x 2


def runs_of(ids, mask):
    out, cur = [], []
    for i, m in zip(ids, mask):
        if m:
            cur.append(i)
        elif cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_ids_and_assistant_mask(name, model_dirs, tmp_path):
    d = model_dirs[name]
    tok = hf_tokenizer(d)
    conv = CONVERSATIONS["multi+system"] if name != "mistral-v0.1" else CONVERSATIONS["multi"]
    r = ours(d, conv, tmp_path, "--ids")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    ids, mask = [int(x) for x in lines[0].split()], [int(x) for x in lines[1].split()]
    assert len(ids) == len(mask)
    if KIND[name] != "sp":
        # Byte-level BPE: exactly transformers' ids for the rendered text.
        want = tok.apply_chat_template(conv, tokenize=True, add_generation_prompt=False)
        want = want["input_ids"] if isinstance(want, dict) or hasattr(want, "keys") else want
        assert ids == list(want)
    else:
        # sentencepiece: each stretch between special tokens encoded with its dummy
        # prefix, as llama.cpp and Meta's / Mistral's own code do.
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "tokenizer.model"))
        text = ours(d, conv, tmp_path).stdout
        want, rest = [], text
        specials = {"<s>": sp.bos_id(), "</s>": sp.eos_id()}
        while rest:
            cut = min([(rest.find(s), s) for s in specials if rest.find(s) >= 0], default=(-1, None))
            if cut[0] < 0:
                want += sp.encode(rest)
                break
            if cut[0] > 0:
                want += sp.encode(rest[: cut[0]])
            want.append(specials[cut[1]])
            rest = rest[cut[0] + len(cut[1]):]
        assert ids == want
    # The mask: one run per assistant reply, each its text and the end-of-turn token.
    replies = [m["content"] for m in conv if m["role"] == "assistant"]
    runs = runs_of(ids, mask)
    end_id = tok.convert_tokens_to_ids(END.get(name, tok.eos_token))
    assert len(runs) == len(replies)
    for run_ids, reply in zip(runs, replies):
        assert run_ids[-1] == end_id
        assert tok.decode(run_ids[:-1]).strip() == reply.strip()


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_gguf_carries_template_and_llama_cpp_tokenizes_chat_alike(name, model_dirs, tmp_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    gguf = pytest.importorskip("gguf")
    d = model_dirs[name]
    out = str(tmp_path / "m.gguf")
    r = run([SLICETUNE, "export", "--model", d, "--type", "f32", "-o", out])
    assert r.returncode == 0, r.stderr
    field = gguf.GGUFReader(out).fields["tokenizer.chat_template"]
    assert bytes(field.parts[field.data[0]]).decode("utf-8") == TEMPLATES[name]
    conv = CONVERSATIONS["multi+system"] if name != "mistral-v0.1" else CONVERSATIONS["multi"]
    text = ours(d, conv, tmp_path).stdout
    r = ours(d, conv, tmp_path, "--ids")
    ids = [int(x) for x in r.stdout.split("\n")[0].split()]
    llm = llama_cpp.Llama(model_path=out, vocab_only=True, verbose=False)
    assert llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) == ids
    # llama-cpp-python renders chats with the GGUF's own template and the BOS / EOS
    # text of the GGUF's vocabulary: the same prompt as ours.
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    fmt = Jinja2ChatFormatter(template=llm.metadata["tokenizer.chat_template"],
                              bos_token=llm._model.token_get_text(llm.token_bos()),
                              eos_token=llm._model.token_get_text(llm.token_eos()))
    gen_conv = conv[:-1]  # ends with a user turn: the prompt a server would send
    assert fmt(messages=gen_conv).prompt == ours(d, gen_conv, tmp_path, "--add-generation-prompt").stdout


def test_unrecognised_template_is_an_error_unless_named(model_dirs, tmp_path):
    d = str(tmp_path / "odd")
    shutil.copytree(model_dirs["qwen2.5"], d)
    cfg_path = os.path.join(d, "tokenizer_config.json")
    cfg = json.load(open(cfg_path))
    cfg["chat_template"] = "{% for m in messages %}### {{ m.role }}: {{ m.content }}\n{% endfor %}"
    json.dump(cfg, open(cfg_path, "w"))
    r = ours(d, [U1, A1], tmp_path)
    assert r.returncode == 2
    assert "not recognised" in r.stderr and "chatml" in r.stderr and d in r.stderr
    r = ours(d, [U1, A1], tmp_path, "--format", "chatml")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "<|im_start|>user\n" + U1["content"] + "<|im_end|>\n<|im_start|>assistant\n" + A1["content"] + "<|im_end|>\n"


def test_sharegpt_and_bad_messages(model_dirs, tmp_path):
    d = model_dirs["llama3"]
    f = tmp_path / "share.json"
    f.write_text(json.dumps({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}))
    r = run([SLICETUNE, "tokenize", d, "--chat", str(f)])
    assert r.returncode == 0, r.stderr
    assert r.stdout == hf_tokenizer(d).apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], tokenize=False)
    f.write_text(json.dumps([{"role": "robot", "content": "x"}]))
    r = run([SLICETUNE, "tokenize", d, "--chat", str(f)])
    assert r.returncode == 2 and "robot" in r.stderr and str(f) in r.stderr


@pytest.mark.parametrize("name", ["qwen2.5", "llama2"])
def test_data_build_trains_on_replies_only(name, model_dirs, tmp_path):
    """A chat source and an instruction source rendered with the model's template:
    each shard row is the rendered conversation's ids, the mask its assistant tokens."""
    h5py = pytest.importorskip("h5py")
    d = model_dirs[name]
    convs = [CONVERSATIONS["multi+system"], [U1, A1]]
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"messages": convs[0]}, ensure_ascii=False) + "\n" +
                    json.dumps({"conversations": [{"from": "human", "value": U1["content"]},
                                                  {"from": "gpt", "value": A1["content"]}]}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    inst = tmp_path / "inst.jsonl"
    inst.write_text(json.dumps({"q": U1["content"], "a": A1["content"]}, ensure_ascii=False) + "\n", encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""name: chat-{name}
base_model: {d}
output_dir: {tmp_path}/run
data:
  sources:
    - {{path: {chat}, format: chat}}
    - {{path: {inst}, format: instruction, fields: {{prompt: q, response: a}}}}
  template: auto
  seq_len: 128
  pack: false
""")
    r = run([SLICETUNE, "data", "build", str(recipe)])
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "run" / "shards" / "train-00000.h5") as f:
        ids, mask = f["input_ids"][:], f["loss_mask"][:]
    assert ids.shape[0] == 3
    for row, conv in zip(range(3), convs + [[U1, A1]]):
        o = ours(d, conv, tmp_path, "--ids").stdout.split("\n")
        want_ids, want_mask = [int(x) for x in o[0].split()], [int(x) for x in o[1].split()]
        assert list(ids[row][: len(want_ids)]) == want_ids
        assert list(mask[row][: len(want_mask)]) == want_mask
        assert not mask[row][len(want_mask):].any()


def test_chat_source_needs_a_template(model_dirs, tmp_path):
    recipe = tmp_path / "r.yaml"
    chat = tmp_path / "c.jsonl"
    chat.write_text(json.dumps({"messages": [U1, A1]}) + "\n")
    recipe.write_text(f"""name: x
base_model: {model_dirs['llama3']}
output_dir: {tmp_path}/run
data:
  sources: [{{path: {chat}, format: chat}}]
  seq_len: 64
""")
    r = run([SLICETUNE, "data", "build", str(recipe)])
    assert r.returncode == 2
    assert "data.template" in r.stderr and "auto" in r.stderr


def test_dated_llama3_template_takes_a_fixed_date(model_dirs, tmp_path):
    """Llama 3.1+ writes today's date into the system header; --date (data.chat_date)
    pins it, as transformers' date_string does."""
    d = model_dirs["llama3.2"]
    conv = CONVERSATIONS["multi+system"]
    r = ours(d, conv, tmp_path, "--date", "01 Jan 2025")
    assert r.returncode == 0, r.stderr
    want = hf_tokenizer(d).apply_chat_template(conv, tokenize=False, date_string="01 Jan 2025")
    assert r.stdout == want and "Today Date: 01 Jan 2025" in want
