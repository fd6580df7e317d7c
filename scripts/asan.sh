#!/usr/bin/env bash
# Our code under AddressSanitizer + UndefinedBehaviorSanitizer (the asan preset: gcc
# -O1 -g, -fsanitize=address,undefined, no recovery), the trainer's included; LibTorch
# itself comes uninstrumented from the torch wheel (no sanitized build of it exists on
# Debian or the registry), so only our side of each call is checked:
#  1. every GoogleTest suite (core, data, export, kernels, gguf_cuda, train);
#  2. the reference tests that drive the `slicetune` front end (data build and its
#     filters, tokenizers, chat templates, export and quantization, faults) and the
#     training ones (LoRA variants, resume, precision, QLoRA, generate, eval, two
#     processes), with the sanitized `slicetune` and `slicetune-train` in place of the
#     dev build's (ST_SLICETUNE). They use the dev build's fixture and its reference
#     tools (st_forward, st_nf4), so run this after `ctest --preset dev`.
# Sanitizer reports go to build/asan/reports/ as well as failing the process: a test
# that expects a failure exit cannot hide one, since any report there fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
cmake --preset asan >/dev/null
cmake --build build/asan -j"$(nproc)" --target slicetune slicetune-train core_test data_test export_test kernels_test \
  gguf_cuda_test train_test
reports=$PWD/build/asan/reports
rm -rf "$reports" && mkdir -p "$reports"
# Debian's HDF5 errs inside its own buffers on corrupted files (fuzz/asan.supp says why).
export ASAN_OPTIONS="suppressions=$PWD/fuzz/asan.supp:detect_leaks=1:log_path=$reports/asan:log_exe_name=1"
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan:log_exe_name=1"
status=0
ctest --test-dir build/asan -j"$(nproc)" -L unit --output-on-failure || status=1
tests=(test_cli test_data_build test_deid test_data_filters test_augment test_bpe_tokenizer test_sp_tokenizer
       test_chat_template test_formats test_quantization test_kquants test_imatrix test_llama_cpp test_modelfile
       test_slice_bundle test_export_faults test_faults
       test_lora_variants test_resume test_train_precision test_qlora test_generate test_eval test_distributed)
files=()
for t in "${tests[@]}"; do files+=("tests/python/$t.py"); done
ST_SANITIZED=1 ST_SLICETUNE=$PWD/build/asan/bin/slicetune ST_SOURCE_DIR=$PWD ST_BINARY_DIR=$PWD/build/dev \
  build/venv/bin/python -m pytest -q -p no:cacheprovider -p no:logging "${files[@]}" || status=1
if compgen -G "$reports/*" > /dev/null; then
  echo "asan.sh: sanitizer reports:" >&2
  for f in "$reports"/*; do echo "== $f" >&2; head -60 "$f" >&2; done
  status=1
fi
echo "asan.sh: $( ((status)) && echo FAILED || echo clean ) in $(( $(date +%s) - start )) s" >&2
exit $status
