#!/usr/bin/env bash
# `make bench-e2e`, after the build: exportgate on the real control plane of the e2e harness
# (tests/e2e: etcd, kube-apiserver, controller-manager, scheduler, kwok on loopback), measured by
# TestBenchE2E (tests/e2e/suite/bench_*_test.go, build tag benche2e), then the section
# "On the real control plane" of docs/benchmarks.md (bench/report.py --e2e).
# Usage: bench/run-e2e.sh BUILD_DIR   (a Release build; BUILD_DIR/exportgate is measured)
# Environment: BENCH_E2E_SECONDS (per latency point, default 6), BENCH_E2E_CREATORS (creator
# counts, default 1,16,64), BENCH_E2E_CAP_PODS (tenant cap of the ledger phase in 8 x H100 Pods,
# default 2000), BENCH_E2E_MEM_PODS (default 100000), BENCH_OUT (results dir).
set -euo pipefail

BUILD=${1:?usage: bench/run-e2e.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=$(cd "$BUILD" && pwd)
[ -x "$BUILD/exportgate" ] || { echo "bench/run-e2e.sh: $BUILD/exportgate missing" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench/run-e2e.sh: python3 is needed for the report" >&2; exit 2; }
OUT=${BENCH_OUT:-$BUILD/bench-e2e-results}
rm -rf "$OUT" && mkdir -p "$OUT"
START=$(date +%s)

# The control-plane binaries (cached; a cold build takes 10-60 min and is not counted).
BIN_DIR=$(tests/e2e/build.sh | tail -n 1)
export E2E_BIN_DIR="$BIN_DIR" EXPORTGATE_BIN="$BUILD/exportgate" BENCH_E2E_OUT="$OUT"
# The test binary is compiled before the clock starts (client-go takes a while cold).
(cd tests/e2e && go test -tags benche2e -c -o "$OUT/bench-e2e.test" ./suite/)
T0=$(date +%s)
set +e
(cd tests/e2e/suite && "$OUT/bench-e2e.test" -test.run '^TestBenchE2E$' -test.v -test.count=1 \
  -test.timeout 25m) 2>&1 | tee "$OUT/go-test.log"
rc=${PIPESTATUS[0]}
set -e
END=$(date +%s)
echo "{\"run_seconds\": $((END - T0)), \"total_seconds\": $((END - START)), \"exit\": $rc}" >"$OUT/run.json"
if [ -f "$OUT/bench-e2e.json" ]; then
  python3 bench/report.py --e2e "$OUT" docs/benchmarks.md
  echo "bench/run-e2e.sh: docs/benchmarks.md updated (run $((END - T0)) s)" >&2
fi
exit "$rc"
