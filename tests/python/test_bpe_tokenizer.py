"""Byte-level BPE (tokenizer.json): our ids equal the tokenizers library's on a
mixed corpus, for vocabularies trained here with the real Llama 3 and Qwen2
pre-tokenizer patterns and DeepSeek-V3's sequence of three Splits; llama.cpp
tokenizes our exported GGUF the same way; and a recipe runs end to end on a BPE model."""
import json
import os
import random
import unicodedata

import pytest
from conftest import SLICETUNE, SRC, run

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
# DeepSeek-V3 / R1: three Splits applied in turn (tokenizer.json's pre_tokenizer Sequence).
DEEPSEEK3 = [r"\p{N}{1,3}", "[一-龥\u3040-ゟ゠-ヿ]+",
             r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""]
KINDS = {
    "llama3": dict(pattern=LLAMA3, specials=["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>",
                                                 "<|start_header_id|>", "<|end_header_id|>"], nfc=False,
                   ignore_merges=True, config={"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}),
    "deepseek3": dict(pattern=DEEPSEEK3, specials=["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"], nfc=False,
                      ignore_merges=False, config={"bos_token": "<｜begin▁of▁sentence｜>",
                                                   "eos_token": "<｜end▁of▁sentence｜>", "add_bos_token": True}),
    "qwen2": dict(pattern=QWEN2, specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], nfc=True, ignore_merges=False,
                  config={"bos_token": None, "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}),
}


def mixed_lines(n=2000):
    """Chinese, English, full-width punctuation, digits, code, emoji, runs of spaces,
    newlines and tabs, combining marks (NFC), contractions, specials, the empty string."""
    rng = random.Random(7)
    corpus = [l for l in open(os.path.join(SRC, "recipes", "data", "smoke", "corpus.txt"), encoding="utf-8").read().split("\n") if l]
    pieces = ["杭分", "宽带套餐", "（注意）", "，", "。", "！", "？", "：", "；", "「引号」", "２０２６年", "12345678", "3.14159",
              "def f(x):\n    return x ** 2  # 平方", "if (a && b) { c++; }", "😀", "🚀🚀", "👍🏽", "e\u0301", "\u00e9",
              "Ａｌｐｈａ", "  ", "\t", "\n", "\n\n", "   \n  ", "don't", "WE'LL", "I'm", "it's", "<|im_start|>", "<|endoftext|>",
              "<|eot_id|>", "こんにちは", "안녕하세요", "Ελληνικά", "naïve café", "x" * 40, "!!!", "...", "$100.00", "\u3000"]
    lines = ["", " ", "\n"]
    while len(lines) < n:
        k = rng.randrange(1, 6)
        parts = [rng.choice(pieces) if rng.random() < 0.6 else rng.choice(corpus)[: rng.randrange(1, 60)] for _ in range(k)]
        lines.append(rng.choice(["", " ", "  "]).join(parts))
    return lines


def make_tokenizer(kind, out_dir):
    k = KINDS[kind]
    tok = Tokenizer(models.BPE(ignore_merges=k["ignore_merges"]))
    if k["nfc"]:
        tok.normalizer = normalizers.NFC()
    patterns = k["pattern"] if isinstance(k["pattern"], list) else [k["pattern"]]
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(p), behavior="isolated", invert=False) for p in patterns] +
        [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=3000, special_tokens=k["specials"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    text = open(os.path.join(SRC, "recipes", "data", "smoke", "corpus.txt"), encoding="utf-8").read().split("\n")
    tok.train_from_iterator(text + mixed_lines(500), trainer)
    if kind in ("llama3", "deepseek3"):
        bos = k["specials"][0]
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))])
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(k["config"], f)
    return tok


def make_model(kind, out_dir, vocab):
    import torch
    import transformers
    cls = transformers.LlamaConfig if kind in ("llama3", "deepseek3") else transformers.Qwen2Config
    cfg = cls(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=1, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).save_pretrained(out_dir, safe_serialization=True)


@pytest.fixture(scope="module", params=list(KINDS))
def bpe_model(request, tmp_path_factory):
    d = str(tmp_path_factory.mktemp(request.param) / "model")
    tok = make_tokenizer(request.param, d)
    make_model(request.param, d, tok.get_vocab_size())
    return request.param, d, tok


def ours(model_dir, lines, *flags):
    r = run([SLICETUNE, "tokenize", model_dir, "--jsonl", *flags], input="".join(json.dumps(l) + "\n" for l in lines))
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")[: len(lines)]
    return [[int(t) for t in o.split()] for o in out]


def test_ids_equal_tokenizers_on_mixed_corpus(bpe_model):
    kind, d, tok = bpe_model
    lines = mixed_lines()
    assert len(lines) >= 2000
    got = ours(d, lines)
    mismatches = [(l, g, tok.encode(l).ids) for l, g in zip(lines, got) if g != tok.encode(l).ids]
    assert not mismatches, f"{len(mismatches)} lines differ, first: {mismatches[0]!r}"


def test_decode_inverts_encode(bpe_model):
    kind, d, tok = bpe_model
    lines = [l for l in mixed_lines(300)]
    ids = ours(d, lines, "--no-bos")
    r = run([SLICETUNE, "tokenize", d, "--decode", "--jsonl"], input="".join(" ".join(map(str, i)) + "\n" for i in ids))
    assert r.returncode == 0, r.stderr
    back = [json.loads(x) for x in r.stdout.split("\n")[: len(lines)]]
    assert back == [tok.decode(i, skip_special_tokens=False) for i in ids]


def test_llama_cpp_tokenizes_our_gguf_the_same(bpe_model, tmp_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    kind, d, tok = bpe_model
    out = str(tmp_path / "m.gguf")
    r = run([SLICETUNE, "export", "--model", d, "--type", "f32", "-o", out])
    assert r.returncode == 0, r.stderr
    llm = llama_cpp.Llama(model_path=out, vocab_only=True, verbose=False)
    lines = mixed_lines()
    if KINDS[kind]["nfc"]:
        # llama.cpp does not apply the tokenizer's NFC normalizer (it tokenizes the
        # bytes it gets), so both sides get text that is already NFC.
        lines = [unicodedata.normalize("NFC", l) for l in lines]
    got = ours(d, lines, "--no-bos")
    bad = [(l, g) for l, g in zip(lines, got) if llm.tokenize(l.encode("utf-8"), add_bos=False, special=True) != g]
    assert not bad, f"{len(bad)} lines differ in llama.cpp, first: {bad[0]!r}"


def test_recipe_runs_end_to_end_on_a_bpe_model(bpe_model, tmp_path):
    kind, d, tok = bpe_model
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""name: bpe-{kind}
base_model: {d}
output_dir: {tmp_path}/run
data:
  sources:
    - {{path: recipes/data/smoke/pairs.jsonl, format: instruction, fields: {{prompt: input, response: output}}}}
  seq_len: 64
lora: {{rank: 4, alpha: 8, targets: [q_proj, v_proj]}}
train: {{steps: 3, batch_size: 2}}
export: {{types: [f16], adapter_gguf: true}}
""")
    r = run([SLICETUNE, "run", str(recipe)], cwd=SRC)
    assert r.returncode == 0, r.stderr
    import h5py
    with h5py.File(tmp_path / "run" / "shards" / "train-00000.h5") as f:
        first = f["input_ids"][0]
    pair = json.loads(open(os.path.join(SRC, "recipes", "data", "smoke", "pairs.jsonl"), encoding="utf-8").readline())
    expect = tok.encode(pair["input"], add_special_tokens=True).ids + tok.encode(pair["output"], add_special_tokens=False).ids
    assert list(first[: len(expect)]) == expect
    assert (tmp_path / "run" / "export" / f"bpe-{kind}-f16.gguf").exists()
