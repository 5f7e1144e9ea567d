#!/usr/bin/env bash
# Runs the test suites under sanitizers; any report fails the run.
#
#   scripts/sanitize.sh            # asan + tsan + e2e
#   scripts/sanitize.sh asan       # unit + integration tests, clang ASan + UBSan (build-asan)
#   scripts/sanitize.sh tsan       # the concurrent tests (server, reload, limits, hostile
#                                  # clients, the ledger under racing requests), ThreadSanitizer
#   scripts/sanitize.sh build      # only build both trees (make test builds them in the
#                                  # background while earlier steps run)
#   scripts/sanitize.sh e2e        # the webhook's end-to-end tests against the ASan + UBSan
#                                  # binary; the harness fails a test on any sanitizer report in
#                                  # the webhook's log or an abnormal exit (leaks at exit too)
#
# build-asan is the same tree tests/fuzz/run.sh uses (ASan + UBSan + fuzzer coverage), so the
# fuzz targets and the suites share one build. JOBS=n limits parallelism (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
MODES=${*:-asan tsan e2e}

command -v clang++ >/dev/null || {
  SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang
}

# Every report is fatal: a sanitizer finding fails the test that triggered it.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$ROOT/scripts/tsan.supp"

configure() {  # dir sanitizers [extra cmake args]
  local dir=$1 san=$2
  shift 2
  [ -f "$dir/build.ninja" ] && return 0
  cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DEXPORTGATE_SANITIZE="$san" "$@"
}

run_asan() {
  build_asan
  echo "== unit + integration tests under ASan + UBSan"
  ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 300
}

# The tests that run threads against each other: the worker pool (growth and idle retirement),
# the TLS server and its connection handling, policy and certificate reload, limits, hostile
# clients, and admissions racing for a cap in the usage ledger.
TSAN_FILTER='ElasticThreadPool.*:ReloadTest.*:TlsTest.*:LimitsTest.*:Hostile*.*:AdmissionTest.*:AdmissionModes.*'

# Cluster mode's threads: the Lease elector, the ledger's group commit and the informers, each
# against the in-memory API server of tests/unit/fake_kube_api.hpp.
TSAN_UNIT_FILTER='PeriodicWorker.*:LeaseElector.*:ClusterLedger.*:LedgerLeases.*:LedgerFallback.*:PodRecharge.*:Reconciler.*:Informer.*:ExecPlugin*'

# The suite names of gtest filters as one regex: "A.*:Hostile*.*" -> "A|Hostile[A-Za-z0-9_]*".
suites_regex() {
  local f parts out=()
  IFS=: read -ra parts <<<"$1"
  for f in "${parts[@]}"; do
    f=${f%%.*}
    out+=("${f//\*/[A-Za-z0-9_]*}")
  done
  (IFS='|'; echo "${out[*]}")
}

# The tests a filter selects in a binary (gtest lists "Suite." lines, then "  Test" lines).
count_tests() {  # binary filter
  "$1" --gtest_list_tests --gtest_filter="$2" | grep -c '^  '
}

build_asan() {  # [--target T]: everything by default
  # Keep in step with tests/fuzz/run.sh (same tree, same flags).
  configure build-asan address,undefined -DEXPORTGATE_BUILD_FUZZ=ON
  cmake --build build-asan -j "$JOBS" "$@"
}

build_tsan() {
  configure build-tsan thread -DEXPORTGATE_BUILD_BENCH=OFF
  # Only the files that define the suites run below are compiled (and re-selected every run).
  cmake -S . -B build-tsan -DEXPORTGATE_TEST_SUITES="$(suites_regex "$TSAN_FILTER:$TSAN_UNIT_FILTER")" >/dev/null
  cmake --build build-tsan -j "$JOBS" --target integration_tests unit_tests
}

run_tsan() {
  build_tsan
  # A file the selection missed would drop its tests silently: the full build must list no more.
  if [ -x "$ROOT/build/unit_tests" ] && [ -x "$ROOT/build/integration_tests" ]; then
    for pair in "integration_tests:$TSAN_FILTER" "unit_tests:$TSAN_UNIT_FILTER"; do
      bin=${pair%%:*} filter=${pair#*:}
      full=$(count_tests "$ROOT/build/$bin" "$filter")
      here=$(count_tests "build-tsan/$bin" "$filter")
      if [ "$here" -ne "$full" ] || [ "$here" -eq 0 ]; then
        echo "FAIL: the ThreadSanitizer $bin lists $here tests for $filter, the full build $full" >&2
        exit 1
      fi
    done
  fi
  echo "== concurrent tests under ThreadSanitizer ($TSAN_FILTER)"
  build-tsan/integration_tests --gtest_filter="$TSAN_FILTER"
  echo "== cluster-mode unit tests under ThreadSanitizer ($TSAN_UNIT_FILTER)"
  build-tsan/unit_tests --gtest_filter="$TSAN_UNIT_FILTER"
}

# The tests that run exportgate serve (standalone and cluster mode, the decision log) and the
# harness's own sanitizer checks. Not the chart tests (TestChart*: Helm and Prometheus against
# the same binary, no code path the others miss) nor the control-plane smoke test.
# (make test's plain e2e step skips them: scripts/e2e-sanitized-tests is read by both.)
E2E_FILTER=$(cat "$ROOT/scripts/e2e-sanitized-tests")

run_e2e() {
  build_asan --target exportgate
  echo "== end-to-end tests against the ASan + UBSan binary ($E2E_FILTER)"
  EXPORTGATE_BIN=$ROOT/build-asan/exportgate tests/e2e/run.sh -run "$E2E_FILTER"
}

for mode in $MODES; do
  case $mode in
    build) build_asan; build_tsan ;;
    asan) run_asan ;;
    tsan) run_tsan ;;
    e2e) run_e2e ;;
    *) echo "usage: $0 [build] [asan] [tsan] [e2e]" >&2; exit 2 ;;
  esac
done
echo "sanitizers: no reports"
