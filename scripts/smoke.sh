#!/usr/bin/env bash
# The main job on the embedded default: build slicetune (release), make a tiny
# random Llama, run recipes/smoke-tiny.yaml end to end on the CPU (data -> train
# -> export), and check that llama.cpp-format files came out.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/setup.sh
cmake --preset release
cmake --build --preset release -j"$(nproc)"
st=build/release/bin/slicetune
[[ -f runs/tiny-base/model.safetensors ]] || "$st" init-model --preset tiny runs/tiny-base
"$st" run recipes/smoke-tiny.yaml "$@"
ls -l runs/smoke-tiny/export
echo "smoke.sh: finished in $(( $(date +%s) - start )) s" >&2
