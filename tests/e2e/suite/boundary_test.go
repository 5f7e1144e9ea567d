package e2e_test

// The webhook's trust boundary on the real API server (issue 13):
//   - a Pod DELETE review forged and sent straight to the webhook port, without the pod the API
//     server would send (oldObject), releases nothing: the tenant stays at its cap;
//   - a tenant's relabel of its namespace through the namespaces/status and namespaces/finalize
//     subresources is refused like a relabel of the namespace itself.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// boundaryPolicyYAML: t2 (IN, Tier 2) may hold exactly one 8 x H100 pod.
func boundaryPolicyYAML() string {
	return `apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata:
  name: e2e-boundary
spec:
  preset: diffusion-2025
  admins:
    users: [admin]
    groups: ["system:masters"]
  tenants:
  - {name: team-t1, jurisdiction: DE, namespaces: [t1]}
  - {name: team-t2, jurisdiction: IN, namespaces: [t2], capTPP: 130000}
  - {name: team-t3, jurisdiction: CN, namespaces: [t3]}
`
}

// postReview sends an AdmissionReview straight to the webhook's /validate, as anything that can
// reach the port could, and returns response.allowed.
func postReview(t *testing.T, w *Webhook, review map[string]any) bool {
	t.Helper()
	body, _ := json.Marshal(review)
	resp, err := w.httpsClient().Post(fmt.Sprintf("https://127.0.0.1:%d/validate", w.Port),
		"application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /validate: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Response struct {
			Allowed bool `json:"allowed"`
		} `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /validate: HTTP %d, %v", resp.StatusCode, err)
	}
	return out.Response.Allowed
}

func TestExportgateForgedDeleteReleasesNothing(t *testing.T) {
	requireExportgate(t)
	ensureNamespaces(t)
	w := startExportgate(t, boundaryPolicyYAML())
	registerWebhooks(t, w)
	cleanupWorkloads(t)

	_, stderr, err := applyYAMLAs("alice", podYAML("t2", "holder", h100x8))
	expectAdmitted(t, "first 8 x H100 pod in t2", stderr, err)
	if err != nil {
		t.FailNow()
	}
	_, stderr, err = applyYAMLAs("alice", podYAML("t2", "over-cap", h100x8))
	expectDenied(t, "second 8 x H100 pod in t2", stderr, err, "tenant cap")

	// The forgery: a DELETE of the holder without its oldObject, straight to the port.
	forged := map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": map[string]any{
			"uid":       "forged-delete-1",
			"kind":      map[string]any{"group": "", "version": "v1", "kind": "Pod"},
			"resource":  map[string]any{"group": "", "version": "v1", "resource": "pods"},
			"name":      "holder",
			"namespace": "t2",
			"operation": "DELETE",
			"userInfo":  map[string]any{"username": "alice"},
		},
	}
	if !postReview(t, w, forged) {
		t.Errorf("the forged DELETE was denied; DELETE reviews are always allowed")
	}
	_, stderr, err = applyYAMLAs("alice", podYAML("t2", "after-forgery", h100x8))
	expectDenied(t, "8 x H100 pod in t2 after a forged DELETE", stderr, err, "tenant cap")
}

// grantNamespaceSubresources lets alice write namespaces/status and namespaces/finalize (RBAC
// is not what stops her: the guard is), until the test ends.
func grantNamespaceSubresources(t *testing.T) {
	t.Helper()
	mustApply(t, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: e2e-alice-ns-subresources
rules:
- apiGroups: [""]
  resources: [namespaces/status, namespaces/finalize]
  verbs: [get, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: e2e-alice-ns-subresources
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: e2e-alice-ns-subresources
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: alice
`)
	t.Cleanup(func() {
		kubectl("delete", "--ignore-not-found", "clusterrolebinding,clusterrole", "e2e-alice-ns-subresources")
	})
	if err := waitFor(func() (bool, string) {
		out, _, _ := kubectlAs("alice", "auth", "can-i", "update", "namespaces", "--subresource=finalize")
		return strings.TrimSpace(out) == "yes", out
	}, 15*time.Second); err != nil {
		t.Fatalf("RBAC for alice on namespaces/finalize not in effect: %v", err)
	}
}

func TestExportgateNamespaceSubresourceRelabelRefused(t *testing.T) {
	setupExportgate(t, policyOpts{})
	grantNamespaceSubresources(t)
	t.Cleanup(func() {
		kubectl("label", "ns", "t2", "exportgate.io/jurisdiction=IN", "--overwrite")
	})
	label := func() string {
		out, _, _ := kubectl("get", "ns", "t2", "-o", `jsonpath={.metadata.labels.exportgate\.io/jurisdiction}`)
		return out
	}
	const relabel = `{"metadata":{"labels":{"exportgate.io/jurisdiction":"US"}}}`

	// Through namespaces/status.
	_, stderr, err := kubectlAs("alice", "patch", "ns", "t2", "--subresource=status", "--type=merge", "-p", relabel)
	expectDenied(t, "alice's relabel of t2 through namespaces/status", stderr, err, "exportgate.io/jurisdiction")
	if got := label(); got != "IN" {
		t.Errorf("t2 jurisdiction after alice's status patch = %q, want IN", got)
	}
	// Through namespaces/finalize (a PUT of the whole namespace).
	ns, err := getJSON("ns", "t2")
	if err != nil {
		t.Fatalf("get ns t2: %v", err)
	}
	field(ns, "metadata").(map[string]any)["labels"].(map[string]any)["exportgate.io/jurisdiction"] = "US"
	data, _ := json.Marshal(ns)
	file := filepath.Join(t.TempDir(), "t2-finalize.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = kubectlAs("alice", "replace", "--raw", "/api/v1/namespaces/t2/finalize", "-f", file)
	if err == nil {
		t.Errorf("alice relabelled t2 through namespaces/finalize; want denied")
	} else if !strings.Contains(stderr, "exportgate") {
		t.Errorf("alice's finalize failed, but not by exportgate's denial:\n%s", stderr)
	}
	if got := label(); got != "IN" {
		t.Errorf("t2 jurisdiction after alice's finalize = %q, want IN", got)
	}
	// A status write that leaves the labels alone still works for her.
	if _, stderr, err := kubectlAs("alice", "patch", "ns", "t2", "--subresource=status", "--type=merge",
		"-p", `{"metadata":{"annotations":{"e2e.exportgate.io/touched":"1"}}}`); err != nil {
		t.Errorf("alice's status patch without a label change failed: %v\n%s", err, stderr)
	}
	// The admin may.
	if _, stderr, err := kubectlAs("admin", "patch", "ns", "t2", "--subresource=status", "--type=merge", "-p", relabel); err != nil {
		t.Errorf("admin's relabel through namespaces/status failed: %v\n%s", err, stderr)
	}
	if got := label(); got != "US" {
		t.Errorf("t2 jurisdiction after admin's status patch = %q, want US", got)
	}
}
