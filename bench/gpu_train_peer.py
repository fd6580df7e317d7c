"""The transformers + peft side of the GPU LoRA training comparison (issue "Custom
CUDA kernels"): a random-initialized Llama model of a given shape in bf16 on one
GPU, LoRA on all linear layers, AdamW, fixed-length random token batches; prints
one JSON line with tokens/s over the timed steps, peak allocated / reserved GPU
memory, the model FLOP/s (6 * trainable-path FLOPs: 2 forward + 4 backward per
parameter and token, plus attention) and the bf16 matrix rate measured in the
same run. `--tiny --device cpu` runs the same code on a small shape (the CPU dry
run that checks the script before GPU time is spent on it).

  python3 bench/gpu_train_peer.py --steps 10 --warmup 3          # Llama-3-8B shape, seq 2048, r 16
  python3 bench/gpu_train_peer.py --tiny --device cpu --steps 2 --warmup 1
"""
import argparse
import json
import time

import torch


def matmul_rate(device, dtype, n):
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t = time.perf_counter()
    reps = 10
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t)


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--checkpointing", action="store_true")
    a = ap.parse_args()
    import peft
    import transformers
    torch.manual_seed(0)
    if a.tiny:
        shape = dict(hidden_size=256, intermediate_size=704, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, vocab_size=4096)
        a.seq = min(a.seq, 128)
    else:  # Llama-3-8B
        shape = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                     num_key_value_heads=8, vocab_size=128256)
    cfg = transformers.LlamaConfig(**shape, max_position_embeddings=131072, rope_theta=500000.0,
                                   rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
    dtype = torch.bfloat16
    with torch.device(a.device):
        model = transformers.LlamaForCausalLM(cfg).to(dtype)
    if a.checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = peft.get_peft_model(model, peft.LoraConfig(r=a.rank, lora_alpha=2 * a.rank, lora_dropout=0.0,
                                                       target_modules=targets))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, cfg.vocab_size, (a.batch, a.seq), device=a.device)
    if a.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = None
    for step in range(a.warmup + a.steps):
        if step == a.warmup:
            sync(a.device)
            t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    sync(a.device)
    secs = time.perf_counter() - t0
    tokens = a.batch * a.seq * a.steps
    base_params = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n and "embed_tokens" not in n)
    L, H, T = shape["num_hidden_layers"], shape["hidden_size"], a.seq
    # Model FLOPs per token, the customary 6 N (forward 2 N, backward 4 N; a frozen
    # base skips its weight gradients, so the work done is nearer 4 N: the same count
    # is used for both sides) plus causal attention, 6 L T H.
    flops_per_token = 6 * base_params + 6 * L * T * H
    out = {
        "peer": "transformers+peft", "transformers": transformers.__version__, "peft": peft.__version__,
        "torch": torch.__version__, "device": a.device, "shape": "tiny" if a.tiny else "llama3-8b", "seq": a.seq,
        "batch": a.batch, "rank": a.rank, "checkpointing": a.checkpointing, "steps": a.steps,
        "tokens_per_second": tokens / secs, "final_loss": loss.item(),
        "model_flops_per_second": flops_per_token * tokens / secs,
        "bf16_matmul_flops_per_second": matmul_rate(a.device, dtype, 1024 if a.tiny else 8192),
    }
    if a.device.startswith("cuda"):
        out["peak_allocated_bytes"] = torch.cuda.max_memory_allocated()
        out["peak_reserved_bytes"] = torch.cuda.max_memory_reserved()
        out["gpu"] = torch.cuda.get_device_name(0)
    out["mfu"] = out["model_flops_per_second"] / out["bf16_matmul_flops_per_second"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
