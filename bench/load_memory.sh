#!/usr/bin/env bash
# Loading a checkpoint: peak RSS and wall time, ours against transformers, side by
# side in one run on the same random-initialized ~1B-parameter bf16 checkpoint.
# Each side loads the model into float32 (the training dtype) and runs one forward
# pass over the same 8 token ids. Measured with /usr/bin/time -v.
#
#   bash bench/load_memory.sh [MODEL_DIR]    (default build/bench/random-1b, made if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ST_BINARY_DIR:-build/dev}
dir=${1:-build/bench/random-1b}
py=build/venv/bin/python
[[ -f $dir/model.safetensors ]] || "$bin/bin/slicetune" init-model --preset 1b --dtype bf16 "$dir"
ids="1 5 9 13 17 21 25 29"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

/usr/bin/time -v "$bin/bin/st_forward" "$dir" --ids "$ids" --out "$tmp/ours.f32" 2> "$tmp/ours.time"
/usr/bin/time -v "$py" - "$dir" "$ids" "$tmp/peer.f32" 2> "$tmp/peer.time" <<'PY'
import sys, torch, transformers
torch.set_num_threads(torch.get_num_threads())
m = transformers.AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32, attn_implementation="eager")
ids = torch.tensor([[int(t) for t in sys.argv[2].split()]])
with torch.no_grad():
    m(ids).logits[0].numpy().tofile(sys.argv[3])
PY

field() { grep -F "$1" "$2" | sed 's/.*: //'; }
secs() { echo "$1" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'; }
rss_o=$(field "Maximum resident set size" "$tmp/ours.time"); rss_p=$(field "Maximum resident set size" "$tmp/peer.time")
t_o=$(secs "$(field "Elapsed (wall clock)" "$tmp/ours.time")"); t_p=$(secs "$(field "Elapsed (wall clock)" "$tmp/peer.time")")
file_mb=$(du -m "$dir/model.safetensors" | cut -f1)
agree=$("$py" -c "import numpy as np,sys; a=np.fromfile('$tmp/ours.f32','f4'); b=np.fromfile('$tmp/peer.f32','f4'); print(f'{np.abs(a-b).max()/np.abs(b).max():.2e}')")
echo "checkpoint: $dir ($file_mb MB bf16 on disk, $(( file_mb * 2 )) MB as float32)"
echo "ours (st_forward):        peak RSS $(( rss_o / 1024 )) MB, wall ${t_o} s"
echo "transformers $("$py" -c 'import transformers; print(transformers.__version__)'):     peak RSS $(( rss_p / 1024 )) MB, wall ${t_p} s"
awk -v a="$rss_o" -v b="$rss_p" -v c="$t_o" -v d="$t_p" 'BEGIN { printf "ratio ours/peer: peak RSS %.2f, wall %.2f\n", a / b, c / d }'
echo "logits max relative difference: $agree"
