#!/usr/bin/env bash
# The test suite's LibTorch-free code under AddressSanitizer + UndefinedBehaviorSanitizer
# (the asan preset: gcc -O1 -g, -fsanitize=address,undefined, no recovery):
#  1. every GoogleTest suite that builds without LibTorch (core, data, export, kernels);
#  2. the reference tests that drive the `slicetune` front end (data build and its
#     filters, tokenizers, chat templates, export and quantization, inspect, faults),
#     with the sanitized front end in place of the dev build's (ST_SLICETUNE). They use
#     the dev build's fixture and its slicetune-train (LibTorch, not sanitized), so run
#     this after `ctest --preset dev`.
# Sanitizer reports go to build/asan/reports/ as well as failing the process: a test
# that expects a failure exit cannot hide one, since any report there fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
cmake --preset asan >/dev/null
cmake --build build/asan -j"$(nproc)"
reports=$PWD/build/asan/reports
rm -rf "$reports" && mkdir -p "$reports"
# Debian's HDF5 errs inside its own buffers on corrupted files (fuzz/asan.supp says why).
export ASAN_OPTIONS="suppressions=$PWD/fuzz/asan.supp:detect_leaks=1:log_path=$reports/asan:log_exe_name=1"
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan:log_exe_name=1"
status=0
ctest --test-dir build/asan -j"$(nproc)" --output-on-failure || status=1
tests=(test_cli test_data_build test_deid test_data_filters test_augment test_bpe_tokenizer test_sp_tokenizer
       test_chat_template test_formats test_quantization test_kquants test_imatrix test_llama_cpp test_modelfile
       test_slice_bundle test_export_faults test_faults)
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
