#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (as root): installs what it
# needs, builds the dev preset, runs every GoogleTest and reference test under ctest,
# then each fuzz target for a short fixed time, then the sanitizer run.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/setup.sh --test
python3 recipes/data/smoke/generate.py --check
cmake --preset dev
cmake --build --preset dev -j"$(nproc)"
ctest --preset dev -j"$(nproc)"
# Every outside-input parser under libFuzzer + ASan/UBSan, a short fixed budget each.
FUZZ_SECONDS=10 scripts/fuzz.sh
# The LibTorch-free code again under AddressSanitizer + UBSan (GoogleTests, then the
# front end's reference tests with the sanitized binary).
scripts/asan.sh
echo "test.sh: finished in $(( $(date +%s) - start )) s" >&2
