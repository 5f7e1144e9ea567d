# Shared by the chart scripts: finds helm (built by tests/e2e/build.sh unless $HELM is set).
# shellcheck shell=bash
find_helm() {
	if [[ -n "${HELM:-}" ]]; then
		echo "$HELM"
		return
	fi
	local root bindir
	root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
	bindir="$("$root/tests/e2e/build.sh" | tail -n 1)"
	[[ -x "$bindir/helm" ]] || {
		echo "no helm in $bindir" >&2
		return 1
	}
	echo "$bindir/helm"
}
# The Kubernetes version templates render for (the chart needs >= 1.30; helm template's default
# is 1.20). Matches the e2e control plane.
KUBE_VERSION="${KUBE_VERSION:-1.36.0}"
