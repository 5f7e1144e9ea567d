#!/usr/bin/env bash
# End-to-end tests: build the control-plane binaries (cached outside the
# clone), then run the Go suite against a real etcd + kube-apiserver +
# kube-controller-manager + kube-scheduler + kwok on loopback, with the
# exportgate binary from $EXPORTGATE_BIN (default: <repo>/build/exportgate).
# Exit code = test result. Extra arguments go to `go test` (e.g. -run Smoke).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

bindir="$("$here/build.sh" | tail -n 1)"
export E2E_BIN_DIR="$bindir"
# Kueue's tests (kueue_test.go, build tag `kueue`) only with E2E_KUEUE=1 (`make e2e-kueue`):
# Kueue's manager is a build entry of its own (tests/e2e/kueue/go.mod), cached beside the above,
# that takes ~35 min cold.
tags=()
if [[ "${E2E_KUEUE:-0}" == 1 ]]; then
	E2E_KUEUE_DIR="$("$here/build.sh" kueue | tail -n 1)"
	export E2E_KUEUE_DIR
	tags=(-tags kueue)
fi
export EXPORTGATE_BIN="${EXPORTGATE_BIN:-$repo/build/exportgate}"

cd "$here"
exec go test ${tags[@]+"${tags[@]}"} ./suite/... -v -count=1 -timeout 30m "$@"
