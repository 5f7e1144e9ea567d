#!/usr/bin/env bash
# Instructions per call of each Pod fast path candidate on each review (issue 18), counted by
# callgrind: unlike times they do not depend on the machine's load. Only the loop of N calls is
# counted (--toggle-collect), after one call outside it that sizes simdjson's parser.
# Usage: bench/skim_simdjson_callgrind.sh BUILD_DIR [CALLS]   (needs valgrind)
set -euo pipefail
BUILD=${1:?usage: bench/skim_simdjson_callgrind.sh BUILD_DIR [CALLS]}
CALLS=${2:-200}
cd "$(dirname "$0")/.."
BIN=$BUILD/skim_simdjson_bench
[ -x "$BIN" ] || { echo "$BIN missing (libsimdjson-dev, -DEXPORTGATE_BUILD_BENCH=ON)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

parsers=(skimmer simdjson simdjson_unvalidated nlohmann)
reviews=(cpu_pod cpu_pod_sidecar gpu_pod_pinned gpu_pod_unpinned gpu_pod_mig_tier2
  pod_50_containers large_review_1MiB)
echo "| review |$(printf ' %s |' "${parsers[@]}")"
for review in "${reviews[@]}"; do
  row="| $review |"
  calls=$CALLS
  [ "$review" = large_review_1MiB ] && calls=$((CALLS / 20 > 0 ? CALLS / 20 : 1))
  for parser in "${parsers[@]}"; do
    out=$TMP/$parser.$review
    valgrind --tool=callgrind --callgrind-out-file="$out" \
      --toggle-collect='*exportgate_bench_calls*' \
      "$BIN" --calls "$calls" "$parser" "$review" >"$out.log" 2>&1 || {
      echo "$parser $review failed:" >&2
      cat "$out.log" >&2
      exit 1
    }
    ir=$(grep -m1 '^summary:' "$out" | awk '{print $2}')
    row+=" $((ir / calls)) |"
  done
  echo "$row"
done
echo
echo "under valgrind: $(grep -m1 '^simdjson' "$TMP"/simdjson.cpu_pod.log)"
echo "natively:       $("$BIN" --calls 1 simdjson cpu_pod | head -1)"
