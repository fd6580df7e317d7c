#!/usr/bin/env bash
# Installs everything slicetune needs on Debian 12, as root, with no questions:
# Debian build dependencies, then a Python virtual environment at build/venv with
# the pinned torch wheel (LibTorch for the build) and, with --test, the reference
# packages the tests compare against. Safe to rerun: finished steps are skipped.
#
#   scripts/setup.sh               # build + run dependencies (torch only in the venv)
#   scripts/setup.sh --test        # also the reference packages for the test suite
#   scripts/setup.sh --no-torch    # no torch: for a build with -DSLICETUNE_WITH_TORCH=OFF
#                                  # (data, export, tokenize, inspect; containers/cpu.Dockerfile)
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0 want_torch=1
for a in "$@"; do
  case $a in
    --test) want_test=1 ;;
    --no-torch) want_torch=0 ;;
    *) echo "setup.sh: unknown option '$a' (expected --test or --no-torch)" >&2; exit 2 ;;
  esac
done
((want_test && !want_torch)) && { echo "setup.sh: --test needs torch; drop --no-torch" >&2; exit 2; }

log() { echo "setup: $*" >&2; }

apt_pkgs=(build-essential cmake ninja-build ccache pkg-config git python3 python3-venv python3-dev
          libsentencepiece-dev libhdf5-dev libcli11-dev libyaml-cpp-dev nlohmann-json3-dev
          libgtest-dev libssl-dev libpcre2-dev libutf8proc-dev libopencc-dev libxxhash-dev libcsv-dev
          libsqlite3-dev  # text-to-SQL execution accuracy (data/eval/sql_exec.h)
          libgloo-dev   # gloo: headers of the Gloo backend inside LibTorch (multi-process training)
          libtcmalloc-minimal4)  # slicetune-train's allocator (peak RSS, bench/RESULTS.md)
# The test suite renders the HTML data report in a headless browser, rebuilds
# the augmentation confusion sets from Unihan to check the shipped table, and
# renders exported Ollama Modelfile templates with Go's text/template (Ollama's engine).
# clang brings libFuzzer for the fuzz targets (scripts/fuzz.sh).
((want_test)) && apt_pkgs+=(chromium-headless-shell unicode-data golang-go clang)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ((!want_torch)); then
  log "ready (no torch: configure with -DSLICETUNE_WITH_TORCH=OFF)"
  exit 0
fi
venv=build/venv
if [[ ! -x $venv/bin/python ]]; then
  log "creating $venv"
  mkdir -p build
  python3 -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
torch_pin=$(grep -E '^torch==' scripts/requirements-test.txt)
if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '${torch_pin#torch==}')" 2>/dev/null; then
  log "installing $torch_pin (LibTorch for the build)"
  "${pip[@]}" "$torch_pin"
fi
if ((want_test)); then
  # llama.cpp (the reference the GGUF tests load) is built for AVX2, not for this
  # machine's CPU: with -march=native on a CPU with AMX (Sapphire Rapids and later)
  # its AMX matmul segfaulted on our tiny models, so results must not depend on which
  # CPU CI lands on. Only the llama library is needed, not the multimodal one.
  llama_args="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  stamp=$venv/.test-requirements.sha256
  sum=$( (cat scripts/requirements-test.txt; echo "$llama_args") | sha256sum | cut -d' ' -f1)
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]]; then
    log "installing the reference packages (llama-cpp-python compiles llama.cpp: several minutes)"
    llama_pin=$(grep -E '^llama-cpp-python==' scripts/requirements-test.txt | cut -d' ' -f1)
    # Rebuilt whenever its flags change (pip would keep an installed one, or reuse a cached wheel).
    CMAKE_ARGS="$llama_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "${pip[@]}" --no-cache-dir --force-reinstall --no-deps "$llama_pin"
    CMAKE_ARGS="$llama_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "${pip[@]}" -r scripts/requirements-test.txt
    echo "$sum" > "$stamp"
  fi
fi
log "ready"
