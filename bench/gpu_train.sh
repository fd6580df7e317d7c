#!/usr/bin/env bash
# GPU LoRA training: ours (slicetune-train, train.device cuda, bf16, fused kernels on)
# against transformers + peft (bench/gpu_train_peer.py), side by side in one run on
# the same machine: a random-initialized Llama-3-8B-shaped model (hidden 4096, 32
# blocks, 32 heads / 8 KV heads, MLP 14336, vocab 128256, llama3 rope), bf16,
# sequence length 2048, batch 1, rank 16 on all linear layers, AdamW. Reports
# tokens/s (first steps excluded on both sides), peak GPU memory (nvidia-smi,
# sampled every 100 ms, the same way for both), and model FLOP utilization
# against the bf16 matrix rate measured in the same run (by the peer script).
#
#   bash bench/gpu_train.sh [STEPS]                  on the GPU machine (after bench/gpu_kernels.sh built build/gpu)
#   DRY=1 bash bench/gpu_train.sh 2                  CPU dry run: a tiny shape on the CPU, same plumbing
# Environment: ST_BINARY_DIR (default build/gpu, dry run build/dev), PY (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-10}
dry=${DRY:-0}
bin=${ST_BINARY_DIR:-$([[ $dry == 1 ]] && echo build/dev || echo build/gpu)}
py=${PY:-python3}
out=${OUT:-$PWD/gpu-out}
work=build/bench/gpu-train
rm -rf "$work" && mkdir -p "$work" "$out"
if [[ $dry == 1 ]]; then device=cpu; seq=128; shape=(--tiny); else device=cuda; seq=2048; shape=(); fi
"$bin/bin/slicetune" init-model --preset tiny "$work/tok" >/dev/null
# The model: the peer script's shape, written by torch (on the GPU for the 8B shape).
"$py" - "$work/model" "$work/tok" "$device" "$dry" <<'PY'
import json, os, shutil, sys, torch
from safetensors.torch import save_file
out, tok, device, dry = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
os.makedirs(out)
for f in ("tokenizer.model", "tokenizer_config.json"):
    shutil.copy(os.path.join(tok, f), out)
cfg = json.load(open(os.path.join(tok, "config.json")))
if dry:
    H, I, L, nh, nkv, V = 256, 704, 2, 4, 2, 4096
else:
    H, I, L, nh, nkv, V = 4096, 14336, 32, 32, 8, 128256
cfg.update(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=nh, num_key_value_heads=nkv,
           head_dim=H // nh, vocab_size=V, max_position_embeddings=131072, rope_theta=500000.0, torch_dtype="bfloat16",
           rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192}, tie_word_embeddings=False)
json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
g = torch.Generator(device=device).manual_seed(0)
m = lambda *s: (torch.randn(*s, generator=g, device=device) * 0.02).to(torch.bfloat16).cpu()
ones = lambda n: torch.ones(n, dtype=torch.bfloat16)
shard, index, n = {}, {}, 0
def flush():
    global shard, n
    if shard:
        name = f"model-{n:05d}.safetensors"
        save_file(shard, os.path.join(out, name), metadata={"format": "pt"})
        index.update({k: name for k in shard})
        shard, n = {}, n + 1
shard.update({"model.embed_tokens.weight": m(V, H), "lm_head.weight": m(V, H), "model.norm.weight": ones(H)})
flush()
for i in range(L):
    p = f"model.layers.{i}."
    shard[p + "input_layernorm.weight"] = ones(H)
    shard[p + "post_attention_layernorm.weight"] = ones(H)
    hd = H // nh
    for name, o in (("q_proj", H), ("k_proj", nkv * hd), ("v_proj", nkv * hd), ("o_proj", H)):
        shard[p + "self_attn." + name + ".weight"] = m(o, H)
    shard[p + "mlp.gate_proj.weight"], shard[p + "mlp.up_proj.weight"], shard[p + "mlp.down_proj.weight"] = m(I, H), m(I, H), m(H, I)
    flush()
json.dump({"metadata": {}, "weight_map": index}, open(os.path.join(out, "model.safetensors.index.json"), "w"))
PY
cat > "$work/recipe.yaml" <<YAML
name: bench-gpu-train
base_model: $work/model
output_dir: $work/ours
seed: 1
data:
  sources: [{path: recipes/data/smoke/corpus.txt, format: text}]
  template: none
  seq_len: $seq
  pack: true
  val_fraction: 0.0
lora: {variant: lora, rank: 16, alpha: 32, dropout: 0.0,
       targets: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]}
train: {steps: $steps, batch_size: 1, grad_accum: 1, lr: 1.0e-4, schedule: constant, warmup: 0,
        precision: bf16, device: $device, max_grad_norm: 1.0, log_every: 1000}
YAML
"$bin/bin/slicetune" data build "$work/recipe.yaml" 2>/dev/null
# Peak GPU memory of a command: nvidia-smi's used memory sampled every 100 ms, minus the idle reading.
peak_of() {
  local log=$1; shift
  if [[ $device != cuda ]]; then "$@"; echo 0 > "$log.peak"; return; fi
  local idle; idle=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$log.smi" &
  local smi=$!
  "$@"
  kill $smi; wait $smi 2>/dev/null || true
  sort -n "$log.smi" | tail -1 | awk -v i="$idle" '{ print ($1 - i) * 1048576 }' > "$log.peak"
}
peak_of "$work/ours" "$bin/bin/slicetune" train "$work/recipe.yaml" > "$work/ours.out" 2>&1 || { cat "$work/ours.out"; exit 1; }
peak_of "$work/peer" "$py" bench/gpu_train_peer.py "${shape[@]}" --device "$device" --seq "$seq" --steps "$steps" \
  --warmup 1 > "$work/peer.json"
"$py" - "$work" "$seq" "$steps" <<'PY' | tee "$out/gpu_train.txt"
import json, sys
work, seq, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
peer = json.loads(open(f"{work}/peer.json").read().strip().splitlines()[-1])
log = [e for e in json.load(open(f"{work}/ours/train_log.json"))["log"] if "loss" in e]
secs = sum(e["tokens"] / e["tokens_per_second"] for e in log[1:])  # first step excluded, as for the peer
ours = len(log[1:]) * seq / secs
mem = {k: float(open(f"{work}/{k}.peak").read()) for k in ("ours", "peer")}
per_token = peer["model_flops_per_second"] / peer["tokens_per_second"]
print(f"device {peer['device']} {peer.get('gpu', '')}; shape {peer['shape']}, seq {seq}, batch 1, rank 16, bf16; "
      f"{steps} steps, first excluded")
print(f"ours:              {ours:.0f} tokens/s, peak GPU memory {mem['ours'] / 2**30:.1f} GiB, "
      f"MFU {ours * per_token / peer['bf16_matmul_flops_per_second']:.3f}")
print(f"transformers+peft: {peer['tokens_per_second']:.0f} tokens/s, peak GPU memory {mem['peer'] / 2**30:.1f} GiB, "
      f"MFU {peer['mfu']:.3f} (bf16 matmul rate {peer['bf16_matmul_flops_per_second'] / 1e12:.0f} TFLOP/s)")
if mem["peer"]:
    print(f"ratio ours/peer: tokens/s {ours / peer['tokens_per_second']:.2f}x, peak memory {mem['ours'] / mem['peer']:.2f}")
else:
    print(f"ratio ours/peer: tokens/s {ours / peer['tokens_per_second']:.2f}x (no GPU memory on a dry run)")
PY
