#!/usr/bin/env bash
# Bounded soak of the exportgate binary (tests/soak/soak.py): 90 s by default, longer with
# SOAK_SECONDS=3600. Uses the release build (resident memory is meaningful there), built first
# when missing; EXPORTGATE_BIN points at another binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${EXPORTGATE_BIN:-build/exportgate}
if [ ! -x "$BIN" ]; then
  cmake -S . -B build -G Ninja && cmake --build build -j "$(nproc)" --target exportgate
fi
command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 2; }
exec python3 tests/soak/soak.py "$BIN" "${SOAK_SECONDS:-90}"
