#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan + UBSan; the fuzz preset) and
# runs each from its committed seed corpus for a fixed time. A crash, a leak or
# undefined behaviour fails the run and leaves the input in build/fuzz/crashes/
# (make it a regression test). Seeds are copied first: the repository's corpus
# only changes by hand.
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS (default 20) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh recipe gguf
# FUZZ_SEED=N fixes libFuzzer's random seed (the test suite uses 1, so a commit's
# run explores the same inputs every time: CI fails for a bug, not for a dice roll;
# a longer run with the same seed covers everything the short one does, and more).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
seed=${FUZZ_SEED:-0}  # 0: libFuzzer draws one
targets=("$@")
((${#targets[@]})) || targets=(safetensors gguf config_json recipe chat decode readers tokenizer_json tokenizer_model shard manifest)
cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}"
mkdir -p build/fuzz/crashes build/fuzz/work
export TMPDIR=$PWD/build/fuzz/work
# A parser asking for an absurd allocation gets NULL, as from the real malloc
# (HDF5 then reports an error); what Debian's HDF5 does wrong inside itself on a corrupted
# file is listed in asan.supp and lsan.supp (not ours to fix; see there).
export ASAN_OPTIONS=allocator_may_return_null=1:suppressions=$PWD/fuzz/asan.supp LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp
status=0
for t in "${targets[@]}"; do
  work=build/fuzz/work/$t
  rm -rf "$work" && mkdir -p "$work" && cp -r "fuzz/corpus/$t/." "$work/"
  log=build/fuzz/$t.log
  if build/fuzz/fuzz/fuzz_$t -max_total_time="$seconds" -seed="$seed" -rss_limit_mb=2048 -max_len=262144 -timeout=20 \
       -artifact_prefix="build/fuzz/crashes/$t-" "$work" > "$log" 2>&1; then
    echo "fuzz: $t: $(grep -o 'Done [0-9]* runs' "$log" | tail -1 | cut -d' ' -f2) runs in ${seconds} s, no crash" >&2
  else
    echo "fuzz: $t: FAILED (log: $log; input: build/fuzz/crashes/$t-*)" >&2
    tail -30 "$log" >&2
    status=1
  fi
done
exit $status
