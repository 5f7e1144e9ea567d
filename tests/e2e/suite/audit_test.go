package e2e_test

// `exportgate audit` on the real control plane (issue #9): a tenant namespace in a Tier 1
// jurisdiction with GPU pods and workloads audits clean; after an admin moves it to CN (Tier 3)
// the audit lists exactly its GPU objects; a preview with another policy lists exactly what that
// policy would deny and changes nothing; the background audit of `serve` in cluster mode exports
// exportgate_audit_violations and records one Event per violating object; an unreachable API is
// exit 2, never "0 violations".

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// auditReport is the part of `exportgate audit -o json` the tests read.
type auditReport struct {
	Kind   string `json:"kind"`
	Policy struct {
		Name string `json:"name"`
		Hash string `json:"hash"`
	} `json:"policy"`
	Cluster struct {
		Server string `json:"server"`
	} `json:"cluster"`
	Counts struct {
		Pods       int `json:"pods"`
		Workloads  int `json:"workloads"`
		Violations int `json:"violations"`
	} `json:"counts"`
	Violations []struct {
		Kind         string  `json:"kind"`
		Namespace    string  `json:"namespace"`
		Name         string  `json:"name"`
		Tenant       string  `json:"tenant"`
		Jurisdiction string  `json:"jurisdiction"`
		Tier         string  `json:"tier"`
		TPP          float64 `json:"tpp"`
		Code         string  `json:"code"`
		Reason       string  `json:"reason"`
		Owner        *struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"owner"`
	} `json:"violations"`
	Caps         []any `json:"caps"`
	SkippedKinds []struct {
		Kind   string `json:"kind"`
		Reason string `json:"reason"`
	} `json:"skipped_kinds"`
}

// violationSet is "Kind/namespace/name" of every violation, sorted.
func (r auditReport) violationSet() []string {
	var out []string
	for _, v := range r.Violations {
		out = append(out, v.Kind+"/"+v.Namespace+"/"+v.Name)
	}
	sort.Strings(out)
	return out
}

// runAudit runs `exportgate audit -o json` with args and decodes the report.
func runAudit(t *testing.T, args ...string) (auditReport, int) {
	t.Helper()
	out, errOut, code := runExportgate(t, append([]string{"audit", "-o", "json"}, args...)...)
	var r auditReport
	if code == 2 {
		t.Fatalf("audit %v: exit 2: %s", args, errOut)
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("audit %v: not JSON (%v):\n%s\n%s", args, err, out, errOut)
	}
	return r, code
}

// auditGPUSpec: 8 pinned H100s, held Pending by a node label no node has, so the pods neither
// take the fake nodes' GPUs from other tests nor finish (kwok completes Job pods that run).
func auditGPUSpec(indent int, restartPolicy string) string {
	s := podSpec{product: "NVIDIA-H100-80GB-HBM3", gpus: 8}.render(indent, restartPolicy)
	pad := strings.Repeat(" ", indent)
	return strings.Replace(s, "nodeSelector:\n", "nodeSelector:\n"+pad+"  exportgate.e2e/hold: pending\n", 1)
}

const (
	auditTenantNS = "audit-tenant" // the tenant that moves from DE to CN
	auditOtherNS  = "audit-other"  // FR: GPU pod, compliant under the shipped preset
)

// auditObjects creates the scenario as admin: in auditTenantNS a GPU Pod, a GPU Deployment (one
// replica), a GPU Job, a CPU Pod and a CPU Deployment; a GPU Pod in auditOtherNS; a CPU Pod in
// nolabel. Returns when the controllers have made the Deployments' and the Job's pods.
func auditObjects(t *testing.T) {
	t.Helper()
	for _, ns := range []string{auditTenantNS, auditOtherNS} {
		kubectl("delete", "ns", ns, "--ignore-not-found", "--wait=true", "--timeout=60s")
	}
	mustApply(t, namespaceYAML(auditTenantNS, map[string]string{"exportgate.io/jurisdiction": "DE"})+
		"---\n"+namespaceYAML(auditOtherNS, map[string]string{"exportgate.io/jurisdiction": "FR"}))
	t.Cleanup(func() {
		for _, ns := range []string{auditTenantNS, auditOtherNS} {
			deleteQuietly(t, "deployments,replicasets,jobs,pods", "--all", "-n", ns)
			kubectl("delete", "ns", ns, "--ignore-not-found", "--wait=false")
		}
		deleteQuietly(t, "pod", "audit-cpu", "-n", "nolabel")
	})
	for _, ns := range []string{auditTenantNS, auditOtherNS, "nolabel"} {
		if err := waitFor(func() (bool, string) {
			_, _, err := kubectl("get", "serviceaccount", "default", "-n", ns)
			return err == nil, fmt.Sprint(err)
		}, 60*time.Second); err != nil {
			t.Fatalf("namespace %s: %v", ns, err)
		}
	}
	gpuPod := func(ns, name string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n%s",
			name, ns, auditGPUSpec(2, ""))
	}
	docs := []string{
		gpuPod(auditTenantNS, "gpu-pod"),
		fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: gpu-deploy, namespace: %s}
spec:
  replicas: 1
  selector: {matchLabels: {app: gpu-deploy}}
  template:
    metadata: {labels: {app: gpu-deploy}}
    spec:
%s`, auditTenantNS, auditGPUSpec(6, "")),
		fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {name: gpu-job, namespace: %s}
spec:
  parallelism: 1
  backoffLimit: 0
  template:
    spec:
%s`, auditTenantNS, auditGPUSpec(6, "Never")),
		podYAML(auditTenantNS, "cpu-pod", podSpec{}),
		deploymentYAML(auditTenantNS, "cpu-deploy", 1, podSpec{}),
		gpuPod(auditOtherNS, "gpu-pod"),
		podYAML("nolabel", "audit-cpu", podSpec{}),
	}
	mustApply(t, strings.Join(docs, "---\n"))
	// The controllers' objects: a ReplicaSet and a Pod per Deployment, a Pod for the Job, so
	// 5 Pods (gpu-pod, cpu-pod, gpu-deploy-*, cpu-deploy-*, gpu-job-*) and 2 ReplicaSets.
	if err := waitFor(func() (bool, string) {
		out, _, _ := kubectl("get", "pods,replicasets", "-n", auditTenantNS, "-o", "name")
		return strings.Count(out, "pod/") == 5 && strings.Count(out, "replicaset.apps/") == 2, out
	}, 60*time.Second); err != nil {
		t.Fatalf("controllers did not create the pods: %v", err)
	}
}

// namesOf lists "Kind/ns/name" of the objects of a resource type matching a selector.
func namesOf(t *testing.T, kind, resource, ns, selector string) []string {
	t.Helper()
	list, err := getJSON(resource, "-n", ns, "-l", selector)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items(list) {
		out = append(out, fmt.Sprintf("%s/%s/%v", kind, ns, field(it, "metadata", "name")))
	}
	return out
}

// apiRecorder is a TLS reverse proxy to the API server that records the method and path of every
// request through it: what a command asked of the cluster, seen as it asked it.
type apiRecorder struct {
	mu       sync.Mutex
	requests []string
}

func (r *apiRecorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

// startAPIRecorder starts the proxy (stopped when the test ends) and returns a kubeconfig that
// reaches the API server through it as admin.
func startAPIRecorder(t *testing.T) (string, *apiRecorder) {
	t.Helper()
	target, err := url.Parse(cluster.APIServerURL)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(cluster.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	admin, err := os.ReadFile(cluster.KubeconfigAdmin)
	if err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`(?m)^\s*token:\s*(\S+)`).FindSubmatch(admin)
	if token == nil {
		t.Fatalf("no token in %s", cluster.KubeconfigAdmin)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	rec := &apiRecorder{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec.mu.Lock()
		rec.requests = append(rec.requests, req.Method+" "+req.URL.Path)
		rec.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "recorder-ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(dir, "kubeconfig-recorder")
	writeKubeconfig(t, kc, srv.URL, ca, "admin", string(token[1]), "")
	return kc, rec
}

// auditEvents lists the involved objects ("Kind/ns/name") and counts of the audit's Events.
func auditEvents(t *testing.T, ns string) (map[string]int, int) {
	t.Helper()
	list, err := getJSON("events", "-n", ns, "--field-selector", "reason=ExportControlViolation")
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]int{}
	total := 0
	for _, e := range items(list) {
		key := fmt.Sprintf("%v/%v/%v", field(e, "involvedObject", "kind"), field(e, "involvedObject", "namespace"),
			field(e, "involvedObject", "name"))
		objs[key]++
		total++
	}
	return objs, total
}

func sortedKeys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestExportgateAudit(t *testing.T) {
	requireExportgate(t)
	ensureNamespaces(t)
	auditObjects(t)
	admin := []string{"--kubeconfig", cluster.KubeconfigAdmin}

	// 1. Tier 1 (DE) and FR: nothing violates, in any namespace.
	r, code := runAudit(t, admin...)
	if code != 0 || len(r.Violations) != 0 || len(r.Caps) != 0 {
		t.Fatalf("before the move: exit %d, violations %v, caps %v; want 0 and none", code, r.violationSet(), r.Caps)
	}
	if r.Kind != "AuditReport" || r.Policy.Name == "" || r.Policy.Hash == "" || r.Cluster.Server != cluster.APIServerURL ||
		r.Counts.Pods < 7 || r.Counts.Workloads < 5 {
		t.Errorf("report header/counts: %+v", r)
	}

	// The GPU objects of the tenant namespace, by name (the controllers chose the suffixes).
	gpuDeployRS := namesOf(t, "ReplicaSet", "replicasets", auditTenantNS, "app=gpu-deploy")
	gpuDeployPods := namesOf(t, "Pod", "pods", auditTenantNS, "app=gpu-deploy")
	gpuJobPods := namesOf(t, "Pod", "pods", auditTenantNS, "batch.kubernetes.io/job-name=gpu-job")
	if len(gpuDeployRS) != 1 || len(gpuDeployPods) != 1 || len(gpuJobPods) != 1 {
		t.Fatalf("controller objects: rs %v, pods %v, job pods %v", gpuDeployRS, gpuDeployPods, gpuJobPods)
	}
	wantTenant := append(append(append([]string{
		"Deployment/" + auditTenantNS + "/gpu-deploy",
		"Job/" + auditTenantNS + "/gpu-job",
		"Pod/" + auditTenantNS + "/gpu-pod",
	}, gpuDeployRS...), gpuDeployPods...), gpuJobPods...)
	sort.Strings(wantTenant)

	// 2. Preview: a proposed policy that puts FR in Tier 3 lists exactly FR's GPU pod, and changes
	// nothing in the cluster: every request it sends the API server (through a recording proxy)
	// is a read, and it records no Events.
	preview := filepath.Join(cluster.Dir, "policy-audit-preview.yaml")
	if err := os.WriteFile(preview, []byte(`apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: preview-fr-tier3}
spec:
  preset: diffusion-2025
  jurisdictions: {FR: tier3}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	recorded, rec := startAPIRecorder(t)
	r, code = runAudit(t, "--kubeconfig", recorded, "--policy", preview)
	if want := []string{"Pod/" + auditOtherNS + "/gpu-pod"}; code != 1 || fmt.Sprint(r.violationSet()) != fmt.Sprint(want) {
		t.Errorf("preview: exit %d, violations %v; want 1 and %v", code, r.violationSet(), want)
	}
	if r.Policy.Name != "preview-fr-tier3" || len(r.Violations) == 1 && (r.Violations[0].Tier != "tier3" || r.Violations[0].Code != "tier-prohibited") {
		t.Errorf("preview report: %+v", r)
	}
	requests := rec.list()
	if len(requests) == 0 {
		t.Errorf("the preview sent no request through the recording proxy")
	}
	for _, req := range requests {
		if !strings.HasPrefix(req, "GET ") {
			t.Errorf("the preview wrote to the cluster: %s (all requests: %v)", req, requests)
		}
	}
	for _, ns := range []string{auditTenantNS, auditOtherNS} {
		if _, n := auditEvents(t, ns); n != 0 {
			t.Errorf("the preview recorded %d Events in %s", n, ns)
		}
	}

	// 3. An admin moves the tenant's namespace to CN (Tier 3): exactly its GPU objects violate,
	// not its CPU ones, not FR's GPU pod, not the other namespaces.
	mustKubectl(t, "label", "namespace", auditTenantNS, "exportgate.io/jurisdiction=CN", "--overwrite")
	r, code = runAudit(t, admin...)
	if code != 1 || fmt.Sprint(r.violationSet()) != fmt.Sprint(wantTenant) {
		t.Fatalf("after the move: exit %d, violations\n  %v\nwant\n  %v", code, r.violationSet(), wantTenant)
	}
	for _, v := range r.Violations {
		if v.Jurisdiction != "CN" || v.Tier != "tier3" || v.Code != "tier-prohibited" || v.TPP <= 0 ||
			!strings.Contains(v.Reason, "H100") || !strings.Contains(v.Reason, "CN (Tier 3)") {
			t.Errorf("violation %s/%s: %+v", v.Kind, v.Name, v)
		}
		wantOwner := map[string]string{"ReplicaSet": "Deployment", "Job": "", "Deployment": ""}[v.Kind]
		if v.Kind == "Pod" && v.Name != "gpu-pod" {
			wantOwner = "ReplicaSet"
			if strings.HasPrefix(v.Name, "gpu-job") {
				wantOwner = "Job"
			}
		}
		gotOwner := ""
		if v.Owner != nil {
			gotOwner = v.Owner.Kind
		}
		if gotOwner != wantOwner {
			t.Errorf("%s/%s: owner %q, want %q", v.Kind, v.Name, gotOwner, wantOwner)
		}
	}
	// The table says the same for people; one namespace only gives the same set.
	out, _, code := runExportgate(t, append([]string{"audit"}, admin...)...)
	if code != 1 || !strings.Contains(out, "KIND") || !strings.Contains(out, "tier-prohibited") ||
		!strings.Contains(out, fmt.Sprintf("%d violations", len(wantTenant))) {
		t.Errorf("table: exit %d:\n%s", code, out)
	}
	t.Logf("exportgate audit (table):\n%s", out)
	r, code = runAudit(t, append(admin, "--namespace", auditTenantNS)...)
	if code != 1 || fmt.Sprint(r.violationSet()) != fmt.Sprint(wantTenant) {
		t.Errorf("--namespace %s: exit %d, %v", auditTenantNS, code, r.violationSet())
	}

	// 4. The background audit of serve in cluster mode (the chart's RBAC, the reconciler's
	// Lease): the gauge by tenant, jurisdiction and reason, and one Event per violating object
	// that later passes do not repeat.
	env := setupLedgerEnv(t, "audit-ledger")
	ws := startReplicas(t, env, `apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: e2e-audit}
spec:
  preset: diffusion-2025
`, 1, "--audit-interval", "1s")
	w := ws[0]
	if err := waitFor(func() (bool, string) {
		text, _ := w.Metrics()
		v, _ := metricSum(text, "exportgate_audit_violations",
			`tenant="`+auditTenantNS+`"`, `jurisdiction="CN"`, `reason="tier-prohibited"`)
		total, _ := metricSum(text, "exportgate_audit_violations")
		return v == float64(len(wantTenant)) && total == v, fmt.Sprintf("tenant %v, all %v", v, total)
	}, 60*time.Second); err != nil {
		t.Fatalf("exportgate_audit_violations: %v; %s", err, w.logTail(20))
	}
	var events map[string]int
	if err := waitFor(func() (bool, string) {
		events, _ = auditEvents(t, auditTenantNS)
		return fmt.Sprint(sortedKeys(events)) == fmt.Sprint(wantTenant), fmt.Sprint(sortedKeys(events))
	}, 30*time.Second); err != nil {
		t.Fatalf("Events on the violating objects: %v; want %v", err, wantTenant)
	}
	text, _ := w.Metrics()
	runs, _ := metricSum(text, "exportgate_audit_runs_total", `result="ok"`)
	if err := waitFor(func() (bool, string) {
		text, _ := w.Metrics()
		now, _ := metricSum(text, "exportgate_audit_runs_total", `result="ok"`)
		return now >= runs+3, fmt.Sprint(now)
	}, 30*time.Second); err != nil {
		t.Fatalf("audit passes: %v", err)
	}
	events, total := auditEvents(t, auditTenantNS)
	if total != len(wantTenant) {
		t.Errorf("after 3 more passes: %d Events for %d violating objects: %v", total, len(wantTenant), events)
	}
	if _, n := auditEvents(t, auditOtherNS); n != 0 {
		t.Errorf("%d Events in %s, which does not violate", n, auditOtherNS)
	}
	if ts, ok := metricSum(text, "exportgate_audit_last_run_timestamp_seconds"); !ok || ts <= 0 {
		t.Errorf("exportgate_audit_last_run_timestamp_seconds = %v (%v)", ts, ok)
	}

	// Back in Tier 1: the series disappear at the next pass.
	mustKubectl(t, "label", "namespace", auditTenantNS, "exportgate.io/jurisdiction=DE", "--overwrite")
	if err := waitFor(func() (bool, string) {
		text, _ := w.Metrics()
		_, found := metricSum(text, "exportgate_audit_violations")
		return !found, "series still exported"
	}, 30*time.Second); err != nil {
		t.Errorf("after moving back: %v", err)
	}
}

// TestExportgateAuditUnreachableAPI: no API server is exit 2 with a clear message, never a
// report of no violations.
func TestExportgateAuditUnreachableAPI(t *testing.T) {
	requireExportgate(t)
	kc := filepath.Join(cluster.Dir, "kubeconfig-unreachable")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "https://127.0.0.1:%d", certificate-authority: %q}
users:
- name: admin
  user: {token: "x"}
contexts:
- name: gone
  context: {cluster: gone, user: admin}
current-context: gone
`, freePort(t), cluster.CACert)
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"table", "json"} {
		out, errOut, code := runExportgate(t, "audit", "--kubeconfig", kc, "-o", format, "--request-timeout", "2")
		if code != 2 || !strings.Contains(errOut, "cannot read the cluster") || !strings.Contains(errOut, "unreachable") ||
			strings.Contains(out, "violations") {
			t.Errorf("-o %s: exit %d, want 2 with a clear message\nstdout: %s\nstderr: %s", format, code, out, errOut)
		}
	}
	// Credentials the API server refuses are exit 2 as well (an incomplete audit is no audit).
	bad := filepath.Join(cluster.Dir, "kubeconfig-bad-token")
	cfg = fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: %q, certificate-authority: %q}
users:
- name: nobody
  user: {token: "not-a-valid-token"}
contexts:
- name: e2e
  context: {cluster: e2e, user: nobody}
current-context: e2e
`, cluster.APIServerURL, cluster.CACert)
	if err := os.WriteFile(bad, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runExportgate(t, "audit", "--kubeconfig", bad)
	if code != 2 || !strings.Contains(errOut, "401") {
		t.Errorf("refused credentials: exit %d, want 2 naming the 401\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}
