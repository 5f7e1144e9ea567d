#!/usr/bin/env bash
# Builds the e2e control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kwok, helm) from the versions pinned in
# tests/e2e/go.mod and tests/e2e/helm/go.mod into a cache dir OUTSIDE the
# clone:
#   ${EXPORTGATE_CACHE:-$HOME/.cache/exportgate}/e2e-bin/<k8s-version>-<hash>/
# <hash> covers go.mod/go.sum of both modules, the cmd/ sources and the
# build recipe (ldflags, stage list) below. A complete dir (marker file
# .complete) is reused as is, so reruns take seconds. GOMODCACHE/GOCACHE
# keep their defaults (outside the clone).
# The last line printed is the bin dir.
#
# `build.sh kueue` builds the Kueue manager instead (a separate entry with its own
# cache key, so the control-plane dir above is not rebuilt when Kueue moves):
#   <cache>/e2e-bin/kueue-<version>-<hash>/{kueue,crds/*.yaml,versions}
# <hash> covers kueue/go.mod, kueue/go.sum and the recipe string of that entry.
# The last line printed is that dir.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if [[ "${1:-}" == kueue ]]; then
	kueue_version="$(awk '$1=="sigs.k8s.io/kueue"{print $2; exit}' kueue/go.mod)"
	[[ -n "$kueue_version" ]] || {
		echo "build.sh: cannot read the pinned Kueue version from kueue/go.mod" >&2
		exit 1
	}
	kueue_recipe="k1 ldflags=-s,-w crds=config/components/crd/bases"
	kueue_hash="$({ cat kueue/go.mod kueue/go.sum; echo "$kueue_recipe"; } | sha256sum | cut -c1-12)"
	cache="${EXPORTGATE_CACHE:-$HOME/.cache/exportgate}"
	kdir="$cache/e2e-bin/kueue-${kueue_version}-${kueue_hash}"
	if [[ -f "$kdir/.complete" && -x "$kdir/kueue" ]]; then
		echo "build.sh: kueue up to date ($kueue_version)" >&2
		echo "$kdir"
		exit 0
	fi
	mkdir -p "$cache/e2e-bin"
	ktmp="$(mktemp -d "$cache/e2e-bin/.build-kueue-XXXXXX")"
	chmod 755 "$ktmp"
	trap 'rm -rf "$ktmp"' EXIT
	kstart=$SECONDS
	echo "build.sh: building kueue $kueue_version ..." >&2
	(cd kueue && CGO_ENABLED=0 go build -trimpath -buildvcs=false -p "${E2E_BUILD_PARALLEL:-2}" \
		-ldflags "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$kueue_version" \
		-o "$ktmp/kueue" sigs.k8s.io/kueue/cmd/kueue)
	# The manager needs its CRDs; take them from the pinned module, as kwok's stages above.
	kueue_dir="$(cd kueue && go list -m -f '{{.Dir}}' sigs.k8s.io/kueue)"
	mkdir -p "$ktmp/crds"
	cp "$kueue_dir"/config/components/crd/bases/*.yaml "$ktmp/crds/"
	chmod 644 "$ktmp"/crds/*.yaml
	echo "kueue $kueue_version" >"$ktmp/versions"
	touch "$ktmp/.complete"
	rm -rf "$kdir"
	mv "$ktmp" "$kdir"
	trap - EXIT
	echo "build.sh: kueue built in $((SECONDS - kstart))s" >&2
	echo "$kdir"
	exit 0
fi

k8s_version="$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' go.mod)"
helm_version="$(awk '$1=="helm.sh/helm/v3"{print $2; exit}' helm/go.mod)"
kwok_version="$(awk '$1=="sigs.k8s.io/kwok"{print $2; exit}' go.mod)"
[[ -n "$k8s_version" && -n "$helm_version" && -n "$kwok_version" ]] || {
	echo "build.sh: cannot read pinned versions from go.mod" >&2
	exit 1
}

# Bump when the recipe below changes in a way the hash inputs don't show.
recipe="r1 ldflags=version-vars stages=node-initialize,node-heartbeat-with-lease,pod-ready,pod-complete,pod-delete"
hash="$({ cat go.mod go.sum helm/go.mod helm/go.sum $(find cmd -name '*.go' | sort); echo "$recipe"; } |
	sha256sum | cut -c1-12)"
cache="${EXPORTGATE_CACHE:-$HOME/.cache/exportgate}"
bindir="$cache/e2e-bin/${k8s_version}-${hash}"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm)

complete() {
	[[ -f "$bindir/.complete" && -f "$bindir/kwok-stages.yaml" ]] || return 1
	local b
	for b in "${bins[@]}"; do [[ -x "$bindir/$b" ]] || return 1; done
}

if complete; then
	echo "build.sh: up to date ($k8s_version, helm $helm_version, kwok $kwok_version)" >&2
	echo "$bindir"
	exit 0
fi

mkdir -p "$cache/e2e-bin"
tmp="$(mktemp -d "$cache/e2e-bin/.build-XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

export CGO_ENABLED=0
# -p 2: two cores; more parallel links only add memory pressure
# (one kube-apiserver link needs 2-3 GiB).
par="${E2E_BUILD_PARALLEL:-2}"

minor="${k8s_version#v1.}"
minor="${minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
cb=k8s.io/component-base/version
k8s_ldflags="-s -w -X $cb.gitVersion=$k8s_version -X $cb.gitMajor=1 -X $cb.gitMinor=$minor"
k8s_ldflags+=" -X $cb.gitTreeState=clean -X $cb.buildDate=$build_date"
cv=k8s.io/client-go/pkg/version
k8s_ldflags+=" -X $cv.gitVersion=$k8s_version -X $cv.gitMajor=1 -X $cv.gitMinor=$minor"

start=$SECONDS
step() {
	local name="$1"
	shift
	echo "build.sh: building $name ..." >&2
	local t=$SECONDS
	"$@"
	echo "build.sh: $name done in $((SECONDS - t))s" >&2
}
gob() { go build -trimpath -buildvcs=false -p "$par" "$@"; }

step kube-apiserver gob -ldflags "$k8s_ldflags" -o "$tmp/kube-apiserver" ./cmd/kube-apiserver
step kube-controller-manager gob -ldflags "$k8s_ldflags" -o "$tmp/kube-controller-manager" ./cmd/kube-controller-manager
step kube-scheduler gob -ldflags "$k8s_ldflags" -o "$tmp/kube-scheduler" ./cmd/kube-scheduler
step kubectl gob -ldflags "$k8s_ldflags" -o "$tmp/kubectl" ./cmd/kubectl
step etcd gob -ldflags "-s -w" -o "$tmp/etcd" ./cmd/etcd
step kwok gob -ldflags "$k8s_ldflags -X sigs.k8s.io/kwok/pkg/consts.Version=${kwok_version#v}" -o "$tmp/kwok" ./cmd/kwok
(cd helm && step helm gob -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm)

# kwok itself ships no default lifecycle: kwokctl feeds it Stage objects from
# the kwok module's kustomize/stage/ tree. Do the same, from the pinned module:
# nodes become Ready and keep a lease; pods become Running; pods owned by a
# Job complete (Succeeded); deleted pods go away.
kwok_dir="$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
	pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
	echo "---"
	echo "# from sigs.k8s.io/kwok@$kwok_version kustomize/stage/$f"
	cat "$kwok_dir/kustomize/stage/$f"
done >"$tmp/kwok-stages.yaml"

cat >"$tmp/versions" <<VERS
kubernetes $k8s_version
etcd $(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
kwok $kwok_version
helm $helm_version
VERS
touch "$tmp/.complete"
rm -rf "$bindir"
mv "$tmp" "$bindir"
trap - EXIT
echo "build.sh: built in $((SECONDS - start))s" >&2
echo "$bindir"
