#!/bin/bash
# Data-parallel LoRA training with torchrun's environment (RANK, WORLD_SIZE,
# LOCAL_RANK, MASTER_ADDR, MASTER_PORT); slicetune-train joins NCCL on GPUs (one
# per local rank), Gloo on CPUs. torchrun only starts the processes (--no-python).
#   single node, 8 GPUs:   scripts/launch/torchrun-train.sh recipes/term-expansion.yaml
#   node 0 of 2:           NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 scripts/launch/torchrun-train.sh RECIPE
#   node 1 of 2:           NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 scripts/launch/torchrun-train.sh RECIPE
#   CPU processes:         DEVICE=cpu NPROC=4 scripts/launch/torchrun-train.sh RECIPE
set -euo pipefail
recipe=${1:?usage: torchrun-train.sh RECIPE [--set key=value ...]}
shift
nproc=${NPROC:-$(nvidia-smi -L 2>/dev/null | wc -l)}
((nproc > 0)) || nproc=1
device=${DEVICE:-cuda}
[[ ${NODE_RANK:-0} == 0 ]] && slicetune data build "$recipe" "$@"
torchrun --nnodes "${NNODES:-1}" --node-rank "${NODE_RANK:-0}" --nproc-per-node "$nproc" \
  --master-addr "${MASTER_ADDR:-127.0.0.1}" --master-port "${MASTER_PORT:-29500}" \
  --no-python slicetune train "$recipe" --set train.device="$device" "$@"
