# exportgate — one-command entry points. `make run` and `make test` set up everything themselves.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DEB_PACKAGES := g++ cmake ninja-build pkg-config libcpp-httplib-dev libssl-dev libyaml-cpp-dev \
  libcli11-dev libboost-dev nlohmann-json3-dev prometheus-cpp-dev libgtest-dev libbenchmark-dev openssl curl \
  clang-format prometheus python3-yaml clang libclang-rt-14-dev

.PHONY: all deps build run test unit chart manifests image image-tested e2e e2e-kueue fuzz sanitize soak bench bench-e2e format format-check clean

all: build

# Installs the Debian packages the build needs, only when some are missing.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=$$( [ $$(id -u) -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# The webhook on its embedded default (diffusion-2025, self-signed TLS, 127.0.0.1:8443).
run: build
	@scripts/run-demo.sh $(BUILD)/exportgate

# Every test: unit and integration (ctest), chart checks, end to end against a real control plane,
# the container image (built with buildah and run), a bounded soak, fuzzing and sanitizers.
# scripts/test-all.sh times each step and runs the builds later steps need in the background
# while earlier steps wait on I/O (two cores).
test:
	@scripts/test-all.sh

unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

e2e: build
	tests/e2e/run.sh

# The Kueue AdmissionCheck e2e (issue 17; experimental, not part of `make test`): builds Kueue's
# manager (~35 min cold, cached) and runs the suite's `kueue`-tagged tests.
e2e-kueue: build
	E2E_KUEUE=1 tests/e2e/run.sh -run Kueue

# Chart tests: lint, template per option set, schema, install.yaml freshness, policy validate, promtool.
chart: build
	EXPORTGATE_BIN=$(BUILD)/exportgate tests/chart/run.sh

# libFuzzer targets, FUZZ_SECONDS (45) each, after replaying tests/fuzz/regressions/.
fuzz: deps
	tests/fuzz/run.sh

# Unit + integration under clang ASan+UBSan (build-asan); concurrent tests under TSan (build-tsan);
# the webhook's e2e tests against the ASan+UBSan binary (any report or crash fails them).
sanitize: deps
	scripts/sanitize.sh asan tsan e2e

# Soak of the binary (SOAK_SECONDS, default 90): reloads, rotations, RSS and fd bounds.
soak: build
	EXPORTGATE_BIN=$(BUILD)/exportgate tests/soak/run.sh

# Regenerates manifests/install.yaml from the chart (default values).
manifests:
	scripts/render-manifests.sh

# Container image via buildah (debootstrap base, no Docker engine, no registry), then tested.
image:
	scripts/build-image.sh

# The same image around the binary the other steps test (no second compile; bookworm hosts).
image-tested: build
	scripts/build-image.sh --binary $(BUILD)/exportgate

# Only `make bench` needs these: simdjson for the comparison with the skimmer (issue 18).
BENCH_DEB_PACKAGES := libsimdjson-dev
bench:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(DEB_PACKAGES) $(BENCH_DEB_PACKAGES)"
	cmake -S . -B $(BUILD)-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DEXPORTGATE_BUILD_BENCH=ON -DEXPORTGATE_BUILD_TESTS=OFF
	cmake --build $(BUILD)-bench -j $(JOBS)
	bench/run.sh $(BUILD)-bench

# exportgate on the real control plane of the e2e harness (not part of `make test`): Pod-create
# latency with and without it, cluster-ledger throughput, a replica's memory with 100,000 Pods;
# writes its section of docs/benchmarks.md.
bench-e2e: deps
	cmake -S . -B $(BUILD)-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DEXPORTGATE_BUILD_BENCH=ON -DEXPORTGATE_BUILD_TESTS=OFF
	cmake --build $(BUILD)-bench -j $(JOBS) --target exportgate
	bench/run-e2e.sh $(BUILD)-bench

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) $(BUILD)-bench build-asan build-tsan
