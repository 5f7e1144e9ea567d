#!/usr/bin/env bash
# `make test`: every test step, timed, failing on the first step that fails.
#
# The machine has two cores and several steps mostly wait (the e2e suite on the API server, the
# image's debootstrap, the soak, module downloads), so the builds the later steps need run in the
# background at a lower priority beside the earlier steps instead of after them:
#   - from the start: the Go control plane and Helm (tests/e2e/build.sh), needed from `chart` on;
#   - after `unit`: the clang ASan + UBSan tree (fuzz targets, suites, binary) and the TSan tree.
# A background build that fails fails the run (its log is printed). Each test step still runs
# alone in the foreground, so no step's own timing changes; what changes is the idle time.
#
# The e2e tests that `sanitize` runs against the ASan + UBSan binary (scripts/e2e-sanitized-tests)
# run only there, not a second time against the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
logs=$(mktemp -d /tmp/exportgate-test.XXXXXX)
t0=$SECONDS
declare -A bg_pid bg_start

step() {  # name command...
  local name=$1 t=$SECONDS
  shift
  echo "== $name"
  "$@" || {
    echo "== $name failed after $((SECONDS - t)) s"
    exit 1
  }
  echo "== $name: $((SECONDS - t)) s (total $((SECONDS - t0)) s)"
}

background() {  # name nice command...
  local name=$1 level=$2
  shift 2
  echo "== background: $name (log: $logs/$name.log)"
  # Its own process group (setsid), so a failed run can stop the whole build tree. setsid also
  # starts a scheduler autogroup where that is enabled (Debian's default), and a nice value only
  # counts inside its autogroup: the group itself gets the same level.
  setsid -w bash -c 'echo "$1" >/proc/self/autogroup 2>/dev/null; exec nice -n "$@"' _ "$level" \
    "$@" >"$logs/$name.log" 2>&1 &
  bg_pid[$name]=$!
  bg_start[$name]=$SECONDS
}

await() {  # name
  local name=$1 t=$SECONDS
  if ! wait "${bg_pid[$name]}"; then
    tail -n 80 "$logs/$name.log"
    echo "== background $name failed (log: $logs/$name.log)"
    exit 1
  fi
  echo "== background $name: done $((SECONDS - bg_start[$name])) s after it started," \
    "waited $((SECONDS - t)) s for it (total $((SECONDS - t0)) s)"
}

# Stop the background builds if a step fails, so a failed run ends.
stop_background() {
  local pid
  for pid in "${bg_pid[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
}
trap stop_background EXIT

step deps make --no-print-directory deps
background control-plane 10 tests/e2e/build.sh
step unit make --no-print-directory unit
# Below the control plane: the foreground steps wait for the control plane, the sanitizer trees
# are only needed by the fuzz step and fill the cores the later steps leave idle.
background sanitizer-builds 19 scripts/sanitize.sh build
await control-plane
step chart make --no-print-directory chart
sanitized=$(cat scripts/e2e-sanitized-tests)
step e2e tests/e2e/run.sh -skip "$sanitized"
step image-tested make --no-print-directory image-tested
step soak make --no-print-directory soak
await sanitizer-builds
step fuzz make --no-print-directory fuzz
step sanitize make --no-print-directory sanitize
trap - EXIT
echo "== make test passed in $((SECONDS - t0)) s"
