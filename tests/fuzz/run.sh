#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz/fuzz_*.cpp) for a bounded time each, after replaying
# every kept regression input. Any crash, hang (>10 s on one input), leak, out-of-memory or
# sanitizer report fails the run, and the input that caused it is written to
# tests/fuzz/regressions/<target>/ so it is replayed by every later run once committed.
#
#   tests/fuzz/run.sh                  # 45 s per target (FUZZ_SECONDS), build tree build-asan
#   FUZZ_SECONDS=600 tests/fuzz/run.sh # a longer local session
#   FUZZ_TARGETS=policy tests/fuzz/run.sh
#   FUZZ_PARALLEL=1 tests/fuzz/run.sh  # one target at a time (default: one per core)
# Each target starts from its seeds (tests/fuzz/corpus/<target>), truncated prefixes of them, and
# the work corpus of earlier runs.
#
# The build tree is clang + ASan + UBSan + fuzzer coverage; scripts/sanitize.sh reuses it for
# the test suites, so building it once serves both.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${FUZZ_BUILD:-build-asan}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-45}
TARGETS=${FUZZ_TARGETS:-admission_review admission_skim manifest policy dra ledger}
JOBS=${JOBS:-$(nproc)}
# libFuzzer runs one process per target on one core: run as many targets at once as there are
# cores, so a 2-core run takes half the wall time for the same executions per target.
PARALLEL=${FUZZ_PARALLEL:-$(nproc)}

# clang and its libFuzzer/sanitizer runtimes (Debian packages), only when missing.
need=()
command -v clang++ >/dev/null || need+=(clang)
[ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] ||
  need+=(libclang-rt-14-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# Keep in step with scripts/sanitize.sh (same tree, same flags).
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DEXPORTGATE_SANITIZE=address,undefined \
    -DEXPORTGATE_BUILD_FUZZ=ON
fi
cmake --build "$BUILD" -j "$JOBS" --target $(for t in $TARGETS; do echo "fuzz_$t"; done)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# One target: replay, then fuzz. Output goes to $BUILD/fuzz_$t.out, printed when it ends, so
# targets running side by side do not interleave their lines.
fuzz_one() {
  local t=$1 bin="$BUILD/fuzz_$1"
  local regressions="$ROOT/tests/fuzz/regressions/$t"
  mkdir -p "$regressions"
  # 1. Every kept input must now pass (libFuzzer runs each file given as an argument once).
  mapfile -t kept < <(find "$regressions" -type f ! -name '.gitkeep' ! -name '*.md' | sort)
  if [ ${#kept[@]} -gt 0 ]; then
    echo "== fuzz_$t: replaying ${#kept[@]} regression input(s)"
    if ! "$bin" -timeout=10 -rss_limit_mb=2048 "${kept[@]}" >"$BUILD/fuzz_$t.replay.log" 2>&1; then
      tail -40 "$BUILD/fuzz_$t.replay.log"
      echo "FAIL fuzz_$t: a regression input fails again (log: $BUILD/fuzz_$t.replay.log)"
      return 1
    fi
  fi
  # 2. Fuzz from the seed corpus; new coverage goes to a work corpus in the build tree, so the
  #    checked-in seeds stay small and a local re-run continues where the last one stopped.
  work="$BUILD/fuzz-corpus/$t"
  mkdir -p "$work"
  # 3. Truncated prefixes of every seed as a further corpus: bodies cut short are what the
  #    end-of-input checks see, and mutation alone rarely cuts a long seed at every point.
  prefixes="$BUILD/fuzz-prefixes/$t"
  rm -rf "$prefixes"
  mkdir -p "$prefixes"
  for seed in "$ROOT/tests/fuzz/corpus/$t"/*; do
    [ -f "$seed" ] || continue
    size=$(stat -c %s "$seed")
    base=$(basename "$seed")
    # 31 evenly spaced cuts, and each of the last 8 bytes.
    for cut in $(for k in $(seq 1 31); do echo $((size * k / 32)); done;
      for k in $(seq 1 8); do echo $((size - k)); done); do
      [ "$cut" -gt 0 ] && [ "$cut" -lt "$size" ] && head -c "$cut" "$seed" >"$prefixes/$base.$cut"
    done
  done
  echo "== fuzz_$t: ${SECONDS_PER_TARGET}s"
  if "$bin" "$work" "$ROOT/tests/fuzz/corpus/$t" "$prefixes" -dict="$ROOT/tests/fuzz/exportgate.dict" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$regressions/" -print_final_stats=1 >"$BUILD/fuzz_$t.log" 2>&1; then
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$BUILD/fuzz_$t.log" | tr '\n' ' '
    echo
  else
    tail -60 "$BUILD/fuzz_$t.log"
    echo "FAIL fuzz_$t: input kept in $regressions/ (commit it as a regression case after the fix)"
    return 1
  fi
}

# Each target's exit status goes to a file: `wait -n` below only frees a slot.
running=0
for t in $TARGETS; do
  if [ "$running" -ge "$PARALLEL" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  rm -f "$BUILD/fuzz_$t.rc"
  { rc=0; fuzz_one "$t" >"$BUILD/fuzz_$t.out" 2>&1 || rc=$?; echo "$rc" >"$BUILD/fuzz_$t.rc"; } &
  running=$((running + 1))
done
wait
status=0
for t in $TARGETS; do
  cat "$BUILD/fuzz_$t.out"
  [ "$(cat "$BUILD/fuzz_$t.rc" 2>/dev/null)" = 0 ] || { echo "FAIL fuzz_$t"; status=1; }
done
exit $status
