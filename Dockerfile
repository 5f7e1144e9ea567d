# exportgate image: built from source on Debian bookworm, run on a minimal bookworm as a non-root
# user. No registry is needed: scripts/build-image.sh (`make image`) makes the base image locally
# with debootstrap and passes it as BASE. With a registry: --build-arg BASE=debian:bookworm-slim.
ARG BASE=localhost/exportgate-base:bookworm
# Where the binary comes from: `build` compiles it here (the default); `prebuilt` packages the one
# `scripts/build-image.sh --binary PATH` placed in .image/ (how `make test` packages the binary its
# other steps have just tested, without compiling it a second time). buildah 1.28 needs it passed
# explicitly (`--build-arg BINARY_STAGE=build`): it does not resolve a stage from the default.
ARG BINARY_STAGE=build

FROM ${BASE} AS build
ARG JOBS=2
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      g++ cmake ninja-build pkg-config ca-certificates \
      libcpp-httplib-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev prometheus-cpp-dev \
      libcli11-dev libboost-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the binary is built from, so changes elsewhere keep this layer's cache.
COPY CMakeLists.txt ./
COPY cmake cmake
COPY policy policy
COPY webhook webhook
# RelWithDebInfo (-O2, the project's default and what the tests run) and then stripped: GCC 12 at
# -O3 (Release) reports a false -Werror=restrict in std::string operator+ (GCC bug 105329).
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEXPORTGATE_BUILD_TESTS=OFF \
      -DEXPORTGATE_BUILD_BENCH=OFF \
 && cmake --build /build -j "${JOBS}" --target exportgate \
 && strip /build/exportgate \
 && /build/exportgate version
# The Debian packages of the shared libraries the binary links (the runtime stage installs exactly
# these; libc and libstdc++ are in the base already).
RUN ldd /build/exportgate | awk '$3 ~ /^\// {print $3}' | xargs -r realpath \
      | xargs -r dpkg -S 2>/dev/null | cut -d: -f1 | sort -u \
      | grep -vx -e libc6 -e libgcc-s1 -e libstdc++6 > /build/runtime-packages \
 && echo "runtime packages:" $(cat /build/runtime-packages)

# The binary and its package list, made by scripts/build-image.sh on a bookworm host (same
# ldd | dpkg -S recipe as above).
FROM ${BASE} AS prebuilt
COPY .image/exportgate /build/exportgate
COPY .image/runtime-packages /build/runtime-packages

FROM ${BINARY_STAGE} AS binary

FROM ${BASE}
COPY --from=binary /build/runtime-packages /usr/share/exportgate/runtime-packages
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      $(cat /usr/share/exportgate/runtime-packages) \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* /usr/share/doc/* /usr/share/man/*
COPY --from=binary /build/exportgate /usr/bin/exportgate
# The presets are compiled into the binary; the files are kept beside it for reference and for
# `--policy` files that start from them.
COPY policy/presets /usr/share/exportgate/presets
COPY tests/chart/image/example-job.yaml /usr/share/exportgate/examples/gpu-job.yaml
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/usr/bin/exportgate"]
CMD ["serve", "--listen=0.0.0.0:8443", "--metrics-listen=0.0.0.0:9090"]
