#!/usr/bin/env bash
# GGUF quantization: ours against llama.cpp's (llama_model_quantize through
# llama-cpp-python, what llama-quantize runs), side by side in one run on the same
# random-initialized F16 checkpoint of 1.04B parameters (the 1b preset with 17
# blocks). Ours reads the Hugging Face safetensors directly; llama.cpp reads our
# F16 GGUF of the same weights (its usual input after convert_hf_to_gguf.py).
# Both use every core. Each pair of outputs is compared tensor by tensor (type
# and bytes) before any time is reported. Measured with /usr/bin/time -v.
#
#   bash bench/quantize.sh [MODEL_DIR] [TYPES...]   (default build/bench/random-1b-f16, Q8_0 Q4_K_M)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ST_BINARY_DIR:-build/release}
dir=${1:-build/bench/random-1b-f16}
shift || true
[[ $# -gt 0 ]] && types=("$@") || types=(Q8_0 Q4_K_M)
py=build/venv/bin/python
[[ -f $dir/model.safetensors ]] || "$bin/bin/slicetune" init-model --preset 1b --layers 17 --dtype f16 "$dir"
tmp=$(mktemp -d -p "$(dirname "$dir")")
trap 'rm -rf "$tmp"' EXIT
"$bin/bin/slicetune" export --model "$dir" --type F16 -o "$tmp/f16.gguf" 2>/dev/null
threads=$(nproc)
field() { grep -F "$1" "$2" | sed 's/.*: //'; }
secs() { echo "$1" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'; }
params=$("$py" -c "import gguf,sys; r=gguf.GGUFReader('$tmp/f16.gguf'); print(sum(int(t.n_elements) for t in r.tensors))")
largest=$("$py" -c "import gguf; r=gguf.GGUFReader('$tmp/f16.gguf'); print(max(int(t.n_elements) for t in r.tensors) * 4 // 2**20)")
echo "checkpoint: $dir ($params parameters, F16; largest tensor $largest MB as float32), $threads threads each"
for t in "${types[@]}"; do
  /usr/bin/time -v "$bin/bin/slicetune" export --model "$dir" --type "$t" -o "$tmp/ours.gguf" 2> "$tmp/ours.time" > /dev/null
  /usr/bin/time -v "$py" - "$tmp/f16.gguf" "$tmp/peer.gguf" "$t" "$threads" 2> "$tmp/peer.time" <<'PY'
import ctypes, sys, llama_cpp
ftype = {"Q8_0": 7, "Q4_0": 2, "Q5_K_M": 17, "Q4_K_M": 15, "Q3_K_M": 12, "Q6_K": 18, "Q2_K": 10}[sys.argv[3]]
p = llama_cpp.llama_model_quantize_default_params()
p.ftype, p.nthread = ftype, int(sys.argv[4])
assert llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(p)) == 0
PY
  same=$("$py" - "$tmp/ours.gguf" "$tmp/peer.gguf" <<'PY'
import sys, numpy as np, gguf
a = {t.name: t for t in gguf.GGUFReader(sys.argv[1]).tensors}
b = {t.name: t for t in gguf.GGUFReader(sys.argv[2]).tensors}
bad = [n for n in a if a[n].tensor_type != b[n].tensor_type or
       not np.array_equal(np.asarray(a[n].data).view(np.uint8).ravel(), np.asarray(b[n].data).view(np.uint8).ravel())]
print("identical tensors" if sorted(a) == sorted(b) and not bad else f"DIFFERENT: {bad[:5]}")
PY
)
  rss_o=$(field "Maximum resident set size" "$tmp/ours.time"); rss_p=$(field "Maximum resident set size" "$tmp/peer.time")
  t_o=$(secs "$(field "Elapsed (wall clock)" "$tmp/ours.time")"); t_p=$(secs "$(field "Elapsed (wall clock)" "$tmp/peer.time")")
  echo "$t: ours ${t_o} s, peak RSS $(( rss_o / 1024 )) MB | llama.cpp ${t_p} s, peak RSS $(( rss_p / 1024 )) MB | $same"
  awk -v a="$t_o" -v b="$t_p" -v p="$params" 'BEGIN { printf "    throughput: ours %.1f M params/s, llama.cpp %.1f M params/s, ours/llama.cpp %.2fx\n", p / a / 1e6, p / b / 1e6, b / a }'
done
