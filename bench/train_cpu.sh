#!/usr/bin/env bash
# CPU LoRA training: ours against transformers + peft, side by side in one run on
# the same random-initialized Llama-shaped model (~60M parameters: 8 blocks of
# hidden 768, 12 heads, MLP 2048), the same shards (sequence length 512, the
# sample corpus packed), the same batch, rank, targets (all linear layers), fp32,
# AdamW, both using every core. Reports tokens/s over the training loop (first
# step excluded on both sides) and peak RSS (/usr/bin/time -v), plain and with
# activation checkpointing on both sides (ours: train.activation_checkpointing;
# theirs: gradient_checkpointing_enable), and the achieved model FLOP/s against
# this machine's fp32 matrix-multiply rate, measured right before and right after
# each side's fp32 run (the higher of the two counts). Then our bf16
# mode (frozen base in bf16, LoRA and optimizer float32) against their fp32 run,
# with the validation loss after the same steps (ours fp32 and bf16, theirs fp32,
# each on the same held-out rows: 10% of the packed rows).
#
#   bash bench/train_cpu.sh [STEPS]        (default 12)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ST_BINARY_DIR:-build/release}
steps=${1:-12}
py=build/venv/bin/python
work=build/bench/train-cpu
rm -rf "$work" && mkdir -p "$work"
[[ -d build/bench/tiny-tok ]] || "$bin/bin/slicetune" init-model --preset tiny build/bench/tiny-tok >/dev/null
"$py" - "$work/model" build/bench/tiny-tok <<'PY'
import json, os, shutil, sys
import numpy as np
from safetensors.numpy import save_file
out, tok = sys.argv[1], sys.argv[2]
os.makedirs(out)
for f in ("tokenizer.model", "tokenizer_config.json"):
    shutil.copy(os.path.join(tok, f), out)
cfg = json.load(open(os.path.join(tok, "config.json")))
H, I, L, nh = 768, 2048, 8, 12
cfg.update(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=nh, num_key_value_heads=nh,
           head_dim=H // nh, max_position_embeddings=1024)
json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
rng = np.random.default_rng(0)
m = lambda o, i: (rng.standard_normal((o, i), dtype=np.float32) * 0.02)
t = {"model.embed_tokens.weight": m(cfg["vocab_size"], H), "lm_head.weight": m(cfg["vocab_size"], H),
     "model.norm.weight": np.ones(H, np.float32)}
for i in range(L):
    p = f"model.layers.{i}."
    t[p + "input_layernorm.weight"] = np.ones(H, np.float32)
    t[p + "post_attention_layernorm.weight"] = np.ones(H, np.float32)
    for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
        t[p + "self_attn." + n + ".weight"] = m(H, H)
    t[p + "mlp.gate_proj.weight"], t[p + "mlp.up_proj.weight"], t[p + "mlp.down_proj.weight"] = m(I, H), m(I, H), m(H, I)
save_file(t, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
print(f"model: {sum(v.size for v in t.values()) / 1e6:.1f}M parameters", file=sys.stderr)
PY
cat > "$work/recipe.yaml" <<YAML
name: bench-train
base_model: $work/model
output_dir: $work/ours
seed: 1
data:
  sources: [{path: recipes/data/smoke/corpus.txt, format: text}]
  template: none
  seq_len: 512
  pack: true
  val_fraction: 0.1
lora: {variant: lora, rank: 16, alpha: 32, dropout: 0.0,
       targets: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]}
train: {steps: $steps, batch_size: 4, grad_accum: 1, lr: 1.0e-4, schedule: constant, warmup: 0,
        precision: fp32, max_grad_norm: 1.0, log_every: 1000}
YAML
sed -e 's#output_dir: .*#output_dir: '"$work"'/ours-ckpt#' -e 's#precision: fp32,#precision: fp32, activation_checkpointing: true,#' \
  "$work/recipe.yaml" > "$work/recipe-ckpt.yaml"
sed -e 's#output_dir: .*#output_dir: '"$work"'/ours-bf16#' -e 's#precision: fp32,#precision: bf16,#' \
  "$work/recipe.yaml" > "$work/recipe-bf16.yaml"
for v in "" -ckpt -bf16; do "$bin/bin/slicetune" data build "$work/recipe$v.yaml" 2>/dev/null; done
cat > "$work/peer.py" <<'PY'
import glob, json, sys, time
import h5py, numpy as np, torch, transformers, peft
work, steps, ckpt = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
torch.manual_seed(1)
m = transformers.AutoModelForCausalLM.from_pretrained(work + "/model", dtype=torch.float32, attn_implementation="sdpa")
if ckpt:
    m.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    m.enable_input_require_grads()
m = peft.get_peft_model(m, peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=[
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
m.train()
opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
with h5py.File(glob.glob(work + "/ours/shards/train-*.h5")[0]) as f:
    ids = torch.tensor(f["input_ids"][:].astype(np.int64))
    mask = torch.tensor(f["loss_mask"][:].astype(np.int64))
n, t0, tokens = ids.shape[0], None, 0
for step in range(steps):
    if step == 1:
        t0 = time.perf_counter()
    rows = torch.arange(step * 4, step * 4 + 4) % n
    x, y = ids[rows], ids[rows].clone()
    y[mask[rows] == 0] = -100
    loss = m(input_ids=x, labels=y).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in m.parameters() if p.requires_grad], 1.0)
    opt.step()
    opt.zero_grad()
    if step >= 1:
        tokens += x.numel()
rate = tokens / (time.perf_counter() - t0)
# Validation loss as ours reports it: summed over the held-out rows' target tokens, over their count.
m.eval()
nll, count = 0.0, 0
with torch.no_grad(), h5py.File(glob.glob(work + "/ours/shards/val-*.h5")[0]) as f:
    vids = torch.tensor(f["input_ids"][:].astype(np.int64))
    vmask = torch.tensor(f["loss_mask"][:].astype(np.int64))
    for i in range(0, vids.shape[0], 4):
        x, mk = vids[i:i + 4], vmask[i:i + 4]
        logits = m(input_ids=x).logits[:, :-1].float()
        tgt = x[:, 1:].clone()
        tgt[mk[:, 1:] == 0] = -100
        nll += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                                 ignore_index=-100, reduction="sum").item()
        count += int((tgt != -100).sum())
print(json.dumps({"tokens_per_second": rate, "val_loss": nll / max(count, 1)}))
PY
# This machine's fp32 matrix-multiply rate: torch.mm at the model's three shapes (2048 rows), the best of
# 5 timings of 10 products each, in GFLOP/s. Taken right before and right after each fp32 run the FLOP
# ratio uses (the machines here drift by 10-20% within minutes; a rate taken minutes away measures the
# drift as much as the run), and the higher of the two is the one a run is held to.
cat > "$work/mm_rate.py" <<'PY'
import json, sys, time, torch
def rate(m, k, n, it=10, reps=5):  # the best of `reps` timings: the machine's rate, not its noise
    a, b = torch.randn(m, k), torch.randn(k, n)
    torch.mm(a, b)
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(it):
            torch.mm(a, b)
        best = max(best, 2 * m * k * n * it / (time.perf_counter() - t))
    return best
def mm_rate(H, I):
    return max(rate(2048, H, I), rate(2048, I, H), rate(2048, H, H))
if __name__ == "__main__":
    c = json.load(open(sys.argv[1]))
    print(mm_rate(c["hidden_size"], c["intermediate_size"]) / 1e9)
PY
mm_rate() { "$py" "$work/mm_rate.py" "$work/model/config.json"; }
ours_rate() {
  "$py" - "$1" <<'PY'
import json, sys
log = [e for e in json.load(open(sys.argv[1]))["log"] if "loss" in e]
# all tokens of a step (batch 4 x 512) over the step's time (target tokens / their rate), first step excluded
secs = sum(e["tokens"] / e["tokens_per_second"] for e in log[1:])
print(len(log[1:]) * 4 * 512 / secs)
PY
}
ours_val() {
  "$py" -c "import json,sys; print([e for e in json.load(open(sys.argv[1]))['log'] if 'val_loss' in e][-1]['val_loss'])" "$1"
}
field() { grep -F "$1" "$2" | sed 's/.*: //'; }
echo "threads: $(nproc); steps: $steps (first excluded from the rate); batch 4 x 512 tokens, rank 16, all linear layers, fp32"
for variant in plain ckpt; do
  suffix=$([[ $variant == ckpt ]] && echo "-ckpt" || true)
  [[ $variant == plain ]] && mm0=$(mm_rate)
  /usr/bin/time -v "$bin/bin/slicetune" train "$work/recipe$suffix.yaml" 2> "$work/ours$suffix.time" >/dev/null
  [[ $variant == plain ]] && mm1=$(mm_rate)
  /usr/bin/time -v "$py" "$work/peer.py" "$work" "$steps" "$([[ $variant == ckpt ]] && echo 1 || echo 0)" \
    2> "$work/peer$suffix.time" > "$work/peer$suffix.json"
  [[ $variant == plain ]] && mm2=$(mm_rate)
  peer_tps=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['tokens_per_second'])" "$work/peer$suffix.json")
  ours_tps=$(ours_rate "$work/ours$suffix/train_log.json")
  rss_o=$(field "Maximum resident set size" "$work/ours$suffix.time"); rss_p=$(field "Maximum resident set size" "$work/peer$suffix.time")
  label=$([[ $variant == ckpt ]] && echo "activation checkpointing on both sides" || echo "no activation checkpointing")
  echo "-- $label"
  echo "ours:               $(printf '%.0f' "$ours_tps") tokens/s, peak RSS $(( rss_o / 1024 )) MB"
  echo "transformers+peft:  $(printf '%.0f' "$peer_tps") tokens/s, peak RSS $(( rss_p / 1024 )) MB"
  awk -v a="$ours_tps" -v b="$peer_tps" -v c="$rss_o" -v d="$rss_p" 'BEGIN { printf "ratio ours/peer: tokens/s %.2fx, peak RSS %.2f\n", a / b, c / d }'
  [[ $variant == plain ]] && { plain_ours=$ours_tps; plain_peer=$peer_tps; plain_rss_p=$rss_p
    val_o=$(ours_val "$work/ours/train_log.json")
    val_p=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['val_loss'])" "$work/peer.json"); }
done
/usr/bin/time -v "$bin/bin/slicetune" train "$work/recipe-bf16.yaml" 2> "$work/ours-bf16.time" >/dev/null
bf16_tps=$(ours_rate "$work/ours-bf16/train_log.json")
rss_b=$(field "Maximum resident set size" "$work/ours-bf16.time")
val_b=$(ours_val "$work/ours-bf16/train_log.json")
echo "-- our bf16 mode against their fp32 (no activation checkpointing)"
echo "ours bf16:          $(printf '%.0f' "$bf16_tps") tokens/s, peak RSS $(( rss_b / 1024 )) MB"
awk -v a="$bf16_tps" -v b="$plain_peer" -v c="$rss_b" -v d="$plain_rss_p" \
  'BEGIN { printf "ratio ours bf16 / their fp32: tokens/s %.2fx, peak RSS %.2f\n", a / b, c / d }'
echo "validation loss after $steps steps: ours fp32 $val_o, ours bf16 $val_b, transformers+peft fp32 $val_p"
# Model FLOPs of one training token, frozen base (forward + input gradient, 4 per weight),
# LoRA factors (6 per parameter), row-causal attention over the 512-token rows as the
# peer computes it (fwd 2*2*T*hd*nh/2 per token and layer, backward twice that), LM head.
"$py" - "$work/model/config.json" "$plain_ours" "$plain_peer" "$mm0" "$mm1" "$mm2" "$work" <<'PY'
import json, sys, time, torch
c = json.load(open(sys.argv[1])); ours, peer = float(sys.argv[2]), float(sys.argv[3])
mm0, mm1, mm2 = (float(a) * 1e9 for a in sys.argv[4:7])
H, I, L, V, nh, T, r = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"], c["num_attention_heads"], 512, 16
lin = L * (4 * H * H + 3 * H * I)
lora = L * r * (4 * (H + H) + 2 * (H + I) + (I + H))
attn = L * 3 * (2 * T * (H // nh) * nh)
per_token = 4 * lin + 6 * lora + attn + 4 * H * V
mm_ours, mm_peer = max(mm0, mm1), max(mm1, mm2)  # the higher rate around each run
# Context for that rate: the frozen base's products of one training step in the order a step runs them
# (forward x W^T per module and layer, each with its own weight; backward dy W in reverse), alone,
# against the mm rate taken again just before them. Every weight is used once per pass, so it comes
# from memory rather than cache, as in training.
sys.path.insert(0, sys.argv[7])
from mm_rate import mm_rate
mm_now = mm_rate(H, I)
shapes = [(H, H)] * 4 + [(I, H)] * 2 + [(H, I)]
weights = [torch.randn(o, i) for _ in range(L) for (o, i) in shapes]
xs = {d: [torch.randn(2048, d) for _ in range(3)] for d in (H, I)}
def step_products():
    for k, w in enumerate(weights):
        torch.mm(xs[w.shape[1]][k % 3], w.t())
    for k, w in enumerate(reversed(weights)):
        torch.mm(xs[w.shape[0]][k % 3], w)
step_products()
best = float("inf")
for _ in range(3):
    t = time.perf_counter()
    step_products()
    best = min(best, time.perf_counter() - t)
mix = sum(2 * 2 * 2048 * w.numel() for w in weights) / best / mm_now  # as a fraction of the mm rate
print(f"fp32 matmul rate (torch.mm, {torch.get_num_threads()} threads, the model's shapes, best of 5): "
      f"{mm0 / 1e9:.1f} before our fp32 run, {mm1 / 1e9:.1f} after it, {mm2 / 1e9:.1f} after theirs GFLOP/s")
print(f"  (the base's products of one step alone, in a step's order, best of 3: {100 * mix:.0f}% of the mm rate "
      f"taken just before them, {mm_now / 1e9:.1f} GFLOP/s)")
o, p = ours * per_token / mm_ours, peer * per_token / mm_peer
print(f"model FLOPs per token {per_token / 1e6:.0f} M: ours {ours * per_token / 1e9:.1f} GFLOP/s = {100 * o:.1f}% "
      f"of the higher mm rate around our run ({100 * o / mix:.0f}% of the step-products share); transformers+peft "
      f"{peer * per_token / 1e9:.1f} GFLOP/s = {100 * p:.1f}% of the higher rate around theirs ({100 * p / mix:.0f}%)")
PY
