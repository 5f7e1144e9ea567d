package e2e_test

// Tenants' PolicyReports (issue 17): the background audit of cluster mode writes one
// wgpolicyk8s.io/v1alpha2 PolicyReport per namespace with TPP in use against the tenant's cap and
// each violation; it follows the Pods; and the standard `view` role (through the chart's
// aggregated ClusterRole) reads it in its own namespace only.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

type policyReport struct {
	Summary map[string]int `json:"summary"`
	Results []struct {
		Rule       string            `json:"rule"`
		Result     string            `json:"result"`
		Message    string            `json:"message"`
		Properties map[string]string `json:"properties"`
		Resources  []struct {
			Name string `json:"name"`
		} `json:"resources"`
	} `json:"results"`
}

// getPolicyReport reads namespace ns's exportgate report as admin; nil when there is none.
func getPolicyReport(t *testing.T, ns string) *policyReport {
	t.Helper()
	out, stderr, err := kubectl("get", "policyreports.wgpolicyk8s.io", "exportgate", "-n", ns, "-o", "json")
	if err != nil {
		if strings.Contains(stderr, "NotFound") || strings.Contains(err.Error(), "NotFound") {
			return nil
		}
		t.Fatalf("get policyreport: %v", err)
	}
	var r policyReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("policyreport: %v\n%s", err, out)
	}
	return &r
}

func (r *policyReport) result(rule string) (string, map[string]string, int) {
	for _, x := range r.Results {
		if x.Rule == rule {
			return x.Result, x.Properties, len(x.Resources)
		}
	}
	return "", nil, 0
}

func TestExportgatePolicyReports(t *testing.T) {
	requireExportgate(t)
	const a, b = "polr-a", "polr-b"
	// The chart's PolicyReport CRD and the ClusterRole aggregated into `view`.
	mustApply(t, mustHelm(t, "template", "exportgate", chartDir(), "--namespace", "polr-ledger",
		"--kube-version", serverVersion(t), "--set", "fullnameOverride=exportgate-e2e-polr",
		"--show-only", "templates/policyreports.yaml"))
	mustKubectl(t, "wait", "--for=condition=Established", "crd/policyreports.wgpolicyk8s.io", "--timeout=30s")
	t.Cleanup(func() {
		kubectl("delete", "clusterrole", "exportgate-e2e-polr-policyreports-view", "--ignore-not-found")
	})
	for _, ns := range []string{a, b} {
		kubectl("delete", "ns", ns, "--ignore-not-found", "--wait=true", "--timeout=60s")
		mustApply(t, namespaceYAML(ns, map[string]string{
			"exportgate.io/jurisdiction": "SG", "exportgate.io/tenant": ns}))
	}
	t.Cleanup(func() {
		for _, ns := range []string{a, b} {
			kubectl("delete", "ns", ns, "--ignore-not-found", "--wait=false")
		}
	})
	env := setupLedgerEnv(t, "polr-ledger")
	policy := fmt.Sprintf(`apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: e2e-polr}
spec:
  preset: diffusion-2025
  tiers:
    tier2:
      tenantCapTPP: %d
`, int(2*tpp8))
	// No webhook registered: the Pods exist whatever exportgate would say, as after a policy
	// change, and the audit reports them.
	mustApply(t, gpuPodYAML(a, "train-1", 8))
	mustApply(t, gpuPodYAML(b, "other", 8))
	startReplicas(t, env, policy, 1, "--audit-interval", "1s")

	// 1. Appears: one 8 x H100 Pod, half the cap in use, half left.
	var r *policyReport
	if err := waitFor(func() (bool, string) {
		r = getPolicyReport(t, a)
		if r == nil {
			return false, "no report"
		}
		res, p, _ := r.result("tpp-usage")
		return res == "pass" && p["tppInUse"] == fmt.Sprint(int(tpp8)) && p["tppLeft"] == fmt.Sprint(int(tpp8)),
			fmt.Sprintf("%+v", r)
	}, 60*time.Second); err != nil {
		t.Fatalf("report in %s: %v", a, err)
	}

	// 2. Updates: two more Pods pass the cap; the tenant's report says so and names the Pods.
	mustApply(t, gpuPodYAML(a, "train-2", 8))
	mustApply(t, gpuPodYAML(a, "train-3", 8))
	if err := waitFor(func() (bool, string) {
		r = getPolicyReport(t, a)
		if r == nil {
			return false, "no report"
		}
		usage, _, _ := r.result("tpp-usage")
		capResult, _, pods := r.result("tenant-cap")
		return usage == "fail" && capResult == "fail" && pods == 3 && r.Summary["fail"] == 2,
			fmt.Sprintf("%+v", r)
	}, 60*time.Second); err != nil {
		t.Fatalf("report in %s after passing the cap: %v", a, err)
	}

	// 3. A tenant with only `view` in its namespace reads its report, and not another's.
	mustApply(t, fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: tenant, namespace: %s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: tenant-view, namespace: %s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: tenant, namespace: %s}]
`, a, a, a))
	kc := tokenKubeconfig(t, a, "tenant")
	if err := waitFor(func() (bool, string) {
		out, _, err := kubectlWith(kc, "", "get", "policyreport", "-n", a)
		return err == nil && strings.Contains(out, "exportgate"), fmt.Sprint(out, err)
	}, 30*time.Second); err != nil {
		t.Fatalf("view cannot read its own namespace's report: %v", err)
	}
	if out, _, err := kubectlWith(kc, "", "get", "policyreport", "exportgate", "-n", b); err == nil ||
		!strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("view of %s read %s's report: %v %s", a, b, err, out)
	}
	if getPolicyReport(t, b) == nil {
		t.Errorf("%s has a Pod in use but no report", b)
	}

	// 4. Disappears with the workloads.
	mustKubectl(t, "delete", "pods", "--all", "-n", a, "--wait=false", "--grace-period=0", "--force")
	if err := waitFor(func() (bool, string) {
		return getPolicyReport(t, a) == nil, "still there"
	}, 60*time.Second); err != nil {
		t.Fatalf("report in %s after its Pods are gone: %v", a, err)
	}
}
