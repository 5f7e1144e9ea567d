#!/usr/bin/env bash
# Starts `exportgate serve` on the embedded default (diffusion-2025 preset, self-signed TLS,
# HTTPS on 127.0.0.1:8443, metrics on 127.0.0.1:9090) after printing a command that sends a
# sample AdmissionReview (8 pinned H100 in a namespace with no known jurisdiction) and shows
# the denial. Usage: scripts/run-demo.sh BINARY [extra serve flags]
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 BINARY [serve flags...]" >&2
  exit 2
fi
binary=$1
shift
cd "$(dirname "$0")/.."
sample=manifests/examples/admissionreview-h100-cn.json
if [[ ! -x $binary ]]; then
  echo "$0: $binary is not an executable (run 'make build' first)" >&2
  exit 2
fi

# Pretty-print with jq when present, else python3's json.tool, else raw.
if command -v jq >/dev/null 2>&1; then
  pretty="jq"
elif command -v python3 >/dev/null 2>&1; then
  pretty="python3 -m json.tool"
else
  pretty="cat"
fi

{
  echo
  echo "exportgate webhook starting on https://127.0.0.1:8443 (metrics: http://127.0.0.1:9090/metrics)"
  echo "In another terminal, from $(pwd), send a sample AdmissionReview (8 x H100, no jurisdiction):"
  echo
  echo "  curl -sk https://127.0.0.1:8443/validate -H 'Content-Type: application/json' --data @$sample | $pretty"
  echo
  echo "Expect \"allowed\": false with status 403 and the reason. Stop with Ctrl-C."
  echo "To see the Tier 3 rule instead, restart with: $0 $binary --tenant-namespace ml-team-cn=CN"
  echo
} >&2

exec "$binary" serve "$@"
