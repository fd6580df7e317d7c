#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (as root): installs what it
# needs, builds the dev preset, runs every GoogleTest and reference test under ctest,
# then each fuzz target for a short fixed time, then the sanitizer run.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
# Free disk at each phase, so that a run that fills the disk says where.
disk() { echo "test.sh: $1: $(df -h --output=avail . | tail -1 | tr -d ' ') free here, $(df -h --output=avail /tmp | tail -1 | tr -d ' ') in /tmp" >&2; }
# A fresh CI machine has no compiler cache to hit: filling one (about 3 GB for the dev,
# fuzz and asan builds) would only take disk.
if [[ -n "${CI:-}" ]]; then export CCACHE_DISABLE=1; fi
disk start
trap 'disk end' EXIT
scripts/setup.sh --test
python3 recipes/data/smoke/generate.py --check
cmake --preset dev
cmake --build --preset dev -j"$(nproc)"
disk build
ctest --preset dev -j"$(nproc)"
disk tests
# Every outside-input parser under libFuzzer + ASan/UBSan, a short fixed budget each.
FUZZ_SECONDS=10 FUZZ_SEED=1 scripts/fuzz.sh
disk fuzz
# The LibTorch-free code again under AddressSanitizer + UBSan (GoogleTests, then the
# front end's reference tests with the sanitized binary).
scripts/asan.sh
echo "test.sh: finished in $(( $(date +%s) - start )) s" >&2
