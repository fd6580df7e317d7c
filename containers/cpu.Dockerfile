# CPU image for export and CI-style smoke training, built with the same setup
# script CI uses:  docker build -f containers/cpu.Dockerfile -t slicetune:cpu .
FROM debian:12
COPY . /src
WORKDIR /src
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 ca-certificates \
 && scripts/setup.sh \
 && cmake --preset release && cmake --build --preset release -j"$(nproc)" \
 && install -m 0755 build/release/bin/slicetune build/release/bin/slicetune-train /usr/local/bin/
ENTRYPOINT ["slicetune"]
