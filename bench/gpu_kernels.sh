#!/usr/bin/env bash
# GPU step one for issue "Custom CUDA kernels": on a CUDA machine with no package
# access, build the kernels and their parity tests against the machine's own
# LibTorch and run them. Prepare on the Debian machine first:
#   ../shared/gpu-build/pack-deps.sh .devdeps libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 \
#       libpcre2-posix3 libutf8proc-dev libutf8proc2 libopencc-dev libopencc1.1 libopencc-data libmarisa0 \
#       libxxhash-dev libxxhash0 libcsv-dev libcsv3 libssl-dev libgloo-dev libtcmalloc-minimal4
#   (38 MB, so the tree plus .devdeps stays under the 64 MiB a run carries)
#   cp ../shared/gpu-build/env.sh .devdeps/     # ../shared does not travel with the tree
# then run this script there with .devdeps carried; logs go to $OUT (or ./gpu-out).
# Then: each memory-bound kernel's bandwidth against the copy bandwidth
# (bench/kernel_bandwidth.cpp) and, unless NO_TRAIN=1, the training comparison
# with transformers + peft (bench/gpu_train.sh). Not yet run on a GPU: the first
# run checks the build as much as the kernels.
set -uo pipefail
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
exec > >(tee "$out/gpu_kernels.log") 2>&1
# shellcheck disable=SC1091
source .devdeps/env.sh .devdeps
# The packed .pc files say prefix=/usr: read only them, rooted at .devdeps (checked
# here: pkg_check_modules then resolves sentencepiece, pcre2, opencc ... inside .devdeps).
export PKG_CONFIG_SYSROOT_DIR=$PWD/.devdeps
export PKG_CONFIG_LIBDIR=$PWD/.devdeps/usr/lib/x86_64-linux-gnu/pkgconfig:$PWD/.devdeps/usr/share/pkgconfig
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLICETUNE_WITH_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90a -DTORCH_CUDA_ARCH_LIST=9.0 2>&1 | tail -40 || exit 1
time cmake --build build/gpu -j16 --target kernels_test train_test kernel_bandwidth slicetune slicetune-train || exit 1
build/gpu/tests/kernels_test --gtest_color=no
build/gpu/tests/train_test --gtest_color=no --gtest_filter='KernelRef*'
build/gpu/bin/kernel_bandwidth | tee "$out/kernel_bandwidth.md"
[[ ${NO_TRAIN:-0} == 1 ]] || OUT=$out bash bench/gpu_train.sh "${STEPS:-10}"
