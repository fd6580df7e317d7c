#!/usr/bin/env bash
# ctest fixture: one tiny model and one smoke run that the reference tests share.
# Writes $ST_BINARY_DIR/fixture/{tiny-base, tiny-base-f16, smoke/...}.
set -euo pipefail
: "${ST_SOURCE_DIR:?}" "${ST_BINARY_DIR:?}"
st="$ST_BINARY_DIR/bin/slicetune"
fx="$ST_BINARY_DIR/fixture"
rm -rf "$fx"
mkdir -p "$fx"
cd "$ST_SOURCE_DIR"   # recipe source paths are relative to the repository root
"$st" init-model --preset tiny "$fx/tiny-base"
"$st" init-model --preset tiny --dtype f16 --seed 5 "$fx/tiny-base-f16"
"$st" init-model --preset tiny --dtype bf16 --seed 6 "$fx/tiny-base-bf16"
"$st" run recipes/smoke-tiny.yaml --set "base_model=$fx/tiny-base" --set "output_dir=$fx/smoke" --set train.steps=30
"$st" export --model "$fx/tiny-base" --type f32 -o "$fx/base-f32.gguf"
"$st" export --model "$fx/tiny-base" --adapter "$fx/smoke/adapter" --type hf -o "$fx/merged-hf"
echo "fixture ready in $fx"
