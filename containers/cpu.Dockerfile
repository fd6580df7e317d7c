# Small CPU image for data preparation and export: `slicetune` alone (data build,
# the stage filters, export to GGUF / PEFT, tokenize, inspect). No torch: training
# needs containers/cuda.Dockerfile (or a full build). Built with the same setup
# script CI uses, in its --no-torch mode.
#   docker build -f containers/cpu.Dockerfile -t slicetune:cpu .
#   docker run --rm -v "$PWD:/work" -w /work slicetune:cpu \
#     export --model runs/tiny-lm/model --adapter runs/term-expansion/adapter --type Q4_K_M -o slice.gguf
FROM debian:12 AS build
# hadolint ignore=DL3008
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY . /src
WORKDIR /src
RUN scripts/setup.sh --no-torch \
 && cmake -S . -B build/export -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLICETUNE_WITH_TORCH=OFF \
      -DSLICETUNE_WITH_CUDA=OFF -DSLICETUNE_BUILD_TESTS=OFF \
 && cmake --build build/export -j"$(nproc)" --target slicetune \
 && install -m 0755 build/export/bin/slicetune /usr/local/bin/

FROM debian:12
# The run-time libraries `slicetune` links (ldd of the build; apt brings their own dependencies).
# hadolint ignore=DL3008
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libsentencepiece0 libhdf5-103-1 libyaml-cpp0.7 libssl3 libpcre2-8-0 libutf8proc2 libopencc1.1 \
      libxxhash0 libcsv3 libsqlite3-0 libtcmalloc-minimal4 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/slicetune /usr/local/bin/slicetune
ENTRYPOINT ["slicetune"]
