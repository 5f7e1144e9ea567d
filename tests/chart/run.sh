#!/usr/bin/env bash
# Chart tests that need only helm (from tests/e2e/build.sh) and the Debian tools they install:
#   helm lint; helm template for the default values and every values file in values/, each
#   rendering checked by check_render.py; values the schema must refuse; manifests/install.yaml
#   not stale; the policy each rendering carries accepted by `exportgate policy validate` (the
#   binary $EXPORTGATE_BIN or build/exportgate, which must exist); the alert rules through
#   `promtool check rules` and `promtool test rules`; every dashboard query parsed by promtool.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
chart="$root/charts/exportgate"
# shellcheck source=lib.sh
source "$here/lib.sh"

need_pkgs=()
command -v promtool >/dev/null || need_pkgs+=(prometheus)
command -v openssl >/dev/null || need_pkgs+=(openssl)
python3 -c 'import yaml' 2>/dev/null || need_pkgs+=(python3-yaml)
if ((${#need_pkgs[@]})); then
	echo "chart: installing ${need_pkgs[*]}"
	sudo=""
	[[ $(id -u) -eq 0 ]] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

helm="$(find_helm)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
ns=exportgate-system
fails=0
pass() { echo "ok   $*"; }
fail() {
	echo "FAIL $*"
	fails=$((fails + 1))
}
tpl() { "$helm" template exportgate "$chart" --namespace "$ns" --kube-version "$KUBE_VERSION" "$@"; }

# Each rendered policy goes through `exportgate policy validate`: without a binary that runs, the
# tests fail (a check skipped in silence would look like one passed).
exportgate="${EXPORTGATE_BIN:-$root/build/exportgate}"
if ! [[ -x "$exportgate" ]] || ! "$exportgate" version >/dev/null 2>&1; then
	echo "chart: no exportgate binary that runs at $exportgate: build it (make build), or set EXPORTGATE_BIN" >&2
	exit 1
fi

# --- lint
if "$helm" lint "$chart" --kube-version "$KUBE_VERSION" >"$tmp/lint" 2>&1; then
	pass "helm lint"
else
	cat "$tmp/lint"
	fail "helm lint"
fi
for vf in "$here"/values/*.yaml; do
	if "$helm" lint "$chart" --kube-version "$KUBE_VERSION" -f "$vf" >"$tmp/lint" 2>&1; then
		pass "helm lint -f values/$(basename "$vf")"
	else
		cat "$tmp/lint"
		fail "helm lint -f values/$(basename "$vf")"
	fi
done

# --- template: default values and every option set
cases=(default "$here"/values/*.yaml)
for c in "${cases[@]}"; do
	name="$(basename "$c" .yaml)"
	args=()
	[[ "$c" == default ]] || args=(-f "$c")
	out="$tmp/$name.yaml"
	if ! tpl "${args[@]}" >"$out" 2>"$tmp/err"; then
		cat "$tmp/err"
		fail "helm template ($name)"
		continue
	fi
	if python3 "$here/check_render.py" "$out" "$ns" "${args[@]:1}" >"$tmp/check" 2>&1; then
		pass "helm template ($name): $(tail -n 1 "$tmp/check" | sed 's/.*: //')"
	else
		cat "$tmp/check"
		fail "helm template ($name)"
	fi
	python3 -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-policy"):
        open(sys.argv[2], "w").write(d["data"]["policy.yaml"])' "$out" "$tmp/$name.policy.yaml"
	if "$exportgate" policy validate "$tmp/$name.policy.yaml" >"$tmp/pv" 2>&1; then
		pass "exportgate policy validate ($name)"
	else
		cat "$tmp/pv"
		fail "exportgate policy validate ($name)"
	fi
done

# --- the schema refuses bad values, each for its own reason: "setting|what the refusal names".
# A refusal for another reason (a template error, a typo in the test's own --set) fails, so this
# cannot pass on any helm failure.
schema="values don't meet the specifications of the schema"
bad=(
	"policy.mode=block|$schema|at '/policy/mode': value must be one of"
	"policy.preset=diffusion-2099|$schema|at '/policy/preset': value must be one of"
	"webhook.failurePolicy=Maybe|$schema|at '/webhook/failurePolicy'"
	"webhook.timeoutSeconds=31|$schema|at '/webhook/timeoutSeconds': maximum"
	"webhook.url=http://insecure.example:80|$schema|at '/webhook/url'"
	"replicaCount=-1|$schema|at '/replicaCount': minimum"
	"policy.tenants[0].name=x,policy.tenants[0].jurisdiction=Singapore|$schema|at '/policy/tenants/0/jurisdiction'"
	"unknownTopLevel=1|$schema|additional properties 'unknownTopLevel' not allowed"
	"metrics.prometheusRule.errorRatio=1) or vector(1|$schema|at '/metrics/prometheusRule/errorRatio'"
	"webhook.namespaces.matchConditions[0].name=x|$schema|at '/webhook/namespaces/matchConditions/0': missing property 'expression'"
	"cluster.auditInterval=5 minutes|$schema|at '/cluster/auditInterval'"
	"cluster.auditInterval=-1|$schema|at '/cluster/auditInterval': minimum"
	"cluster.ledgerLeases=maybe|$schema|at '/cluster/ledgerLeases'"
	"networkPolicy.apiServerCIDRs[0]=|$schema|at '/networkPolicy/apiServerCIDRs/0'"
	"crds.install=maybe|$schema|at '/crds/install': got string, want boolean"
	"webhook.mutating.enabled=sometimes|$schema|at '/webhook/mutating/enabled': value must be one of"
	# Not expressible in the schema: the template refuses it with its own message.
	"networkPolicy.enabled=true|networkpolicy.yaml|networkPolicy.enabled needs networkPolicy.apiServerCIDRs"
)
for b in "${bad[@]}"; do
	IFS='|' read -r setting kind reason <<<"$b"
	if err="$(tpl --set "$setting" 2>&1 >/dev/null)"; then
		fail "accepted --set $setting"
	elif [[ "$err" == *"$kind"* && "$err" == *"$reason"* ]]; then
		pass "refuses --set $setting ($reason)"
	else
		fail "--set $setting refused for another reason than \"$reason\": $err"
	fi
done

# --- the default install is cluster mode: the shared ledger, namespace labels, informers, the
# Lease and the background audit, with the RBAC they need.
tpl >"$tmp/default-args.yaml"
if grep -q -- '- --in-cluster' "$tmp/default-args.yaml" && grep -q '^kind: ClusterRole$' "$tmp/default-args.yaml" &&
	grep -q 'automountServiceAccountToken: true' "$tmp/default-args.yaml"; then
	pass "default values install cluster mode (--in-cluster, RBAC, token)"
else
	fail "default values are not cluster mode"
fi

# --- The TPPLedger CRD is a template, so `helm upgrade` upgrades it and a GitOps tool rendering
# with `helm template` gets it whatever it passes for CRDs; nothing is left in crds/ (which Helm
# installs once, unowned, and never upgrades).
if "$helm" show crds "$chart" | grep -q 'tppledgers.exportgate.io'; then
	fail "tppledgers.exportgate.io is still in crds/ (Helm never upgrades it there)"
else
	pass "no TPPLedger CRD in crds/"
fi
for crd_flag in "" --skip-crds --include-crds; do
	n="$(tpl $crd_flag | grep -c '^  name: tppledgers.exportgate.io$' || true)"
	if [[ "$n" == 1 ]]; then
		pass "helm template ${crd_flag:-(no flag)} renders the TPPLedger CRD once"
	else
		fail "helm template ${crd_flag:-(no flag)} renders the TPPLedger CRD $n times"
	fi
done

# --- standalone refuses to render a policy with caps it cannot hold, and says why
refuse=(
	"cluster.enabled=false|policy.preset=diffusion-2025"
	"cluster.enabled=false,policy.mode=warn|policy.preset=diffusion-2025"
	"cluster.enabled=false,policy.preset=controls-2023,policy.tenants[0].name=x,policy.tenants[0].jurisdiction=SG,policy.tenants[0].capTPP=5000|tenant x capTPP"
	"cluster.enabled=false,policy.preset=none,policy.tiers.tier2.controlled=cap,policy.tiers.tier2.tenantCapTPP=5|tier tier2 caps"
	"cluster.enabled=false,policy.preset=controls-2023,policy.extraSpec.jurisdictionCaps.SG=100|jurisdictionCaps"
)
for r in "${refuse[@]}"; do
	set_args="${r%%|*}" why="${r#*|}"
	if tpl --set "$set_args" >/dev/null 2>"$tmp/err"; then
		fail "standalone rendered with caps: --set $set_args"
	elif grep -q "cluster.enabled=false (standalone) cannot hold the TPP caps" "$tmp/err" && grep -qF "$why" "$tmp/err" &&
		grep -q "Keep cluster.enabled=true" "$tmp/err"; then
		pass "standalone with caps refused, naming $why"
	else
		cat "$tmp/err"
		fail "standalone with caps refused without saying why: --set $set_args"
	fi
done
# A webhook outside the cluster keeps its own counts: not refused.
if tpl --set cluster.enabled=false -f "$here/values/url.yaml" >/dev/null 2>"$tmp/err"; then
	pass "standalone with deployment.enabled=false (webhook.url) renders"
else
	cat "$tmp/err"
	fail "standalone with deployment.enabled=false refused"
fi

# --- The mutating webhook by mode (webhook.mutating.enabled, default "auto"): cluster mode needs
# it (the admission uid ties a stored Pod to its reservation), standalone drops it (one webhook
# call per Pod instead of two); explicit values are honoured, except false in cluster mode.
mutating=(
	"default (cluster mode)||1"
	"auto, cluster mode|webhook.mutating.enabled=auto|1"
	"standalone|cluster.enabled=false,policy.preset=controls-2023|0"
	"auto, standalone|cluster.enabled=false,policy.preset=controls-2023,webhook.mutating.enabled=auto|0"
	"true, standalone|cluster.enabled=false,policy.preset=controls-2023,webhook.mutating.enabled=true|1"
	"false, standalone|cluster.enabled=false,policy.preset=controls-2023,webhook.mutating.enabled=false|0"
	"true, cluster mode|webhook.mutating.enabled=true|1"
)
for m in "${mutating[@]}"; do
	IFS='|' read -r what set_args want <<<"$m"
	args=()
	[[ -z "$set_args" ]] || args=(--set "$set_args")
	if ! tpl "${args[@]}" >"$tmp/mwc.yaml" 2>"$tmp/err"; then
		cat "$tmp/err"
		fail "mutating webhook ($what): helm template failed"
		continue
	fi
	n="$(grep -c '^kind: MutatingWebhookConfiguration$' "$tmp/mwc.yaml" || true)"
	v="$(grep -c '^kind: ValidatingWebhookConfiguration$' "$tmp/mwc.yaml" || true)"
	if [[ "$n" == "$want" && "$v" == 1 ]]; then
		pass "mutating webhook ($what): $n MutatingWebhookConfiguration"
	else
		fail "mutating webhook ($what): $n MutatingWebhookConfiguration, want $want ($v validating)"
	fi
done
# Cluster mode without /mutate: reservations would only expire, so the chart refuses it.
for set_args in "webhook.mutating.enabled=false" "webhook.mutating.enabled=false,kueue.enabled=true"; do
	if tpl --set "$set_args" >/dev/null 2>"$tmp/err"; then
		fail "cluster mode rendered without the mutating webhook: --set $set_args"
	elif grep -q "webhook.mutating.enabled=false cannot go with cluster.enabled=true" "$tmp/err" &&
		grep -q "exportgate.io/admission-uid" "$tmp/err"; then
		pass "cluster mode without the mutating webhook refused (--set $set_args)"
	else
		cat "$tmp/err"
		fail "cluster mode without the mutating webhook refused without saying why: --set $set_args"
	fi
done

# --- generated certificates: a fresh pair each render under `helm template` (lookup is empty),
# so two renders must differ (nothing fixed baked into the chart).
if [[ "$(tpl --show-only templates/certificates.yaml | grep ca.crt)" != "$(tpl --show-only templates/certificates.yaml | grep ca.crt)" ]]; then
	pass "certificates generated per install"
else
	fail "certificates identical across renders"
fi

# --- manifests/install.yaml
if HELM="$helm" "$root/scripts/render-manifests.sh" --check >"$tmp/stale" 2>&1; then
	pass "manifests/install.yaml up to date"
else
	cat "$tmp/stale"
	fail "manifests/install.yaml stale (run make manifests)"
fi
if HELM="$helm" "$root/scripts/render-manifests.sh" --fill >"$tmp/filled.yaml" 2>"$tmp/err" &&
	! grep -q PLACEHOLDER "$tmp/filled.yaml" &&
	python3 "$here/check_render.py" "$tmp/filled.yaml" "$ns" >"$tmp/check" 2>&1; then
	pass "install.yaml --fill: $(tail -n 1 "$tmp/check" | sed 's/.*: //')"
else
	cat "$tmp/err" "$tmp/check" 2>/dev/null
	fail "install.yaml --fill"
fi

# --- alert rules: promtool check + unit tests (fire and stay quiet)
tpl -f "$here/values/monitoring.yaml" --show-only templates/prometheusrule.yaml |
	python3 -c 'import sys, yaml; yaml.safe_dump(yaml.safe_load(sys.stdin)["spec"], sys.stdout, sort_keys=False)' \
		>"$tmp/exportgate-rules.yaml"
if promtool check rules "$tmp/exportgate-rules.yaml" >"$tmp/pc" 2>&1; then
	pass "promtool check rules ($(grep -o '[0-9]* rules found' "$tmp/pc"))"
else
	cat "$tmp/pc"
	fail "promtool check rules"
fi
cp "$here/prometheus-rules-test.yaml" "$tmp/"
if (cd "$tmp" && promtool test rules prometheus-rules-test.yaml) >"$tmp/pt" 2>&1; then
	pass "promtool test rules"
else
	cat "$tmp/pt"
	fail "promtool test rules"
fi

# --- dashboard: every query parses (as a recording rule) and names only exportgate metrics
python3 "$here/dashboard_queries.py" rules "$chart/files/grafana-dashboard.json" >"$tmp/dash-rules.yaml"
if promtool check rules "$tmp/dash-rules.yaml" >"$tmp/pd" 2>&1; then
	pass "dashboard queries parse ($(grep -o '[0-9]* rules found' "$tmp/pd"))"
else
	cat "$tmp/pd"
	fail "dashboard queries parse"
fi

if ((fails)); then
	echo "chart tests: $fails failure(s)"
	exit 1
fi
echo "chart tests: all passed"
