# CUDA training image: the CUDA 13 toolkit from NVIDIA's Debian 12 repository,
# LibTorch 2.11 from the pinned torch wheel (its CUDA 13 build, with NCCL), and
# slicetune built with its CUDA kernels (kernels/*.cu for sm_80 and sm_90), by the
# same setup script CI uses.
#   docker build -f containers/cuda.Dockerfile -t slicetune:cuda .
#   docker run --rm --gpus all -v "$PWD:/work" -w /work slicetune:cuda \
#     run recipes/term-expansion.yaml --set train.device=cuda
# Multi-GPU data parallel inside the image (NCCL):
#   docker run --rm --gpus all --ipc=host -v "$PWD:/work" -w /work --entrypoint torchrun slicetune:cuda \
#     --nproc-per-node 8 --no-python slicetune train recipe.yaml --set train.device=cuda
FROM debian:12
ARG CUDA_PKG_VERSION=13-0
# hadolint ignore=DL3008
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 ca-certificates wget \
 && wget -q https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb \
 && dpkg -i cuda-keyring_1.1-1_all.deb && rm cuda-keyring_1.1-1_all.deb \
 && apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      cuda-nvcc-${CUDA_PKG_VERSION} cuda-cudart-dev-${CUDA_PKG_VERSION} libcublas-dev-${CUDA_PKG_VERSION} \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/local/cuda/bin:/src/build/venv/bin:$PATH
COPY . /src
WORKDIR /src
RUN scripts/setup.sh \
 && cmake --preset release -DCMAKE_CUDA_ARCHITECTURES="80;90" \
 && cmake --build --preset release -j"$(nproc)" \
 && install -m 0755 build/release/bin/slicetune build/release/bin/slicetune-train /usr/local/bin/
ENTRYPOINT ["slicetune"]
