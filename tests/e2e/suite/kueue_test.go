//go:build kueue

// Not part of `make e2e`/`make test`: run with `make e2e-kueue` (E2E_KUEUE=1 tests/e2e/run.sh),
// which builds Kueue (~35 min cold) and passes -tags kueue.

package e2e_test

// Real Kueue (the manager built by `build.sh kueue` from the pinned module, run as a local
// process against the test API server, its webhooks unregistered) with exportgate's
// AdmissionCheck (issue 17): three Jobs whose sum exceeds the tenant cap are all created; two
// run, the third waits with the reason in its Workload until one finishes, then runs; the Pods
// of the running Jobs are admitted by the webhook against their workload's reservation (the
// tenant is exactly at its cap, so a double charge would deny them); a Tier 3 tenant's Job is
// rejected with the reason in the Workload's conditions.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kueueDir is the dir `build.sh kueue` printed (run.sh exports it).
func kueueDir(t *testing.T) string {
	t.Helper()
	d := os.Getenv("E2E_KUEUE_DIR")
	if d == "" {
		out, err := runLogged(exec.Command(filepath.Join(cluster.E2EDir, "build.sh"), "kueue"))
		if err != nil {
			t.Fatalf("build.sh kueue: %v\n%s", err, out)
		}
		d = lastLine(out)
	}
	if _, err := os.Stat(filepath.Join(d, "kueue")); err != nil {
		t.Fatalf("no Kueue manager in %q: %v", d, err)
	}
	return d
}

// writeSelfSigned writes tls.crt and tls.key for 127.0.0.1 into dir.
func writeSelfSigned(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kueue-e2e"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startKueue installs Kueue's CRDs and runs its manager against the test API server as admin:
// no leader election, batch/job integration only, webhooks served on a loopback port with a
// throw-away certificate but not registered (the tests create Jobs suspended themselves), no
// visibility server. Kueue 0.17 reads its metrics certificate from a fixed path when it does not
// manage certificates itself: one is written there if none is.
func startKueue(t *testing.T, dir string) {
	t.Helper()
	mustKubectl(t, "apply", "--server-side", "--force-conflicts", "-f", filepath.Join(dir, "crds"))
	for _, crd := range []string{"workloads", "clusterqueues", "localqueues", "admissionchecks", "resourceflavors"} {
		// Polled: `kubectl wait` fails while a just-created CRD has no conditions yet.
		if err := waitFor(func() (bool, string) {
			out, _, err := kubectl("get", "crd", crd+".kueue.x-k8s.io", "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}")
			return err == nil && out == "True", out
		}, 60*time.Second); err != nil {
			t.Fatalf("CRD %s not established: %v", crd, err)
		}
	}
	kubectl("create", "namespace", "kueue-system")
	state := filepath.Join(cluster.Dir, "kueue")
	writeSelfSigned(t, filepath.Join(state, "webhook-certs"))
	const metricsCerts = "/etc/kueue/metrics/certs"
	if _, err := os.Stat(filepath.Join(metricsCerts, "tls.crt")); err != nil {
		writeSelfSigned(t, metricsCerts)
	}
	cfg := fmt.Sprintf(`apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: kueue-system
manageJobsWithoutQueueName: false
leaderElection: {leaderElect: false}
internalCertManagement: {enable: false}
health: {healthProbeBindAddress: "127.0.0.1:%d"}
metrics: {bindAddress: "0"}
webhook: {host: 127.0.0.1, port: %d, certDir: %q}
integrations: {frameworks: ["batch/job"]}
`, freePort(t), freePort(t), filepath.Join(state, "webhook-certs"))
	cfgPath := filepath.Join(state, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(cluster.Dir, "logs", "kueue-"+safeName(t.Name())+".log")
	cmd := exec.Command(filepath.Join(dir, "kueue"), "--config", cfgPath,
		"--feature-gates", "VisibilityOnDemand=false", "--zap-log-level", "2")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.KubeconfigAdmin)
	startBackground(t, cmd, logPath, 15*time.Second)
	t.Logf("kueue manager pid %d, log %s", cmd.Process.Pid, logPath)
}

// kueueJobYAML: one Pod of 8 pinned H100s, created suspended in queue q. The Pod waits for a
// node labelled exportgate.e2e/hold=<name> (none at first), so it neither finishes nor takes
// the fake nodes' GPUs until the test lets it run.
func kueueJobYAML(ns, name string) string {
	spec := podSpec{product: "NVIDIA-H100-80GB-HBM3", gpus: 8}.render(6, "Never")
	spec = strings.Replace(spec, "nodeSelector:\n", "nodeSelector:\n        exportgate.e2e/hold: "+name+"\n", 1)
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  name: %s
  namespace: %s
  labels: {kueue.x-k8s.io/queue-name: q}
spec:
  suspend: true
  backoffLimit: 0
  template:
    metadata:
      labels: {app: %s}
    spec:
%s`, name, ns, name, spec)
}

type kueueCheck struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Message string `json:"message"`
}

type kueueWorkload struct {
	Metadata struct {
		Name            string `json:"name"`
		OwnerReferences []struct {
			Name string `json:"name"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Status struct {
		Conditions []struct {
			Type    string `json:"type"`
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"conditions"`
		AdmissionChecks []kueueCheck `json:"admissionChecks"`
	} `json:"status"`
}

// workloadOf returns the Workload Kueue made for Job job in ns (nil when none yet).
func workloadOf(t *testing.T, ns, job string) *kueueWorkload {
	t.Helper()
	out, _, err := kubectl("get", "workloads.v1beta2.kueue.x-k8s.io", "-n", ns, "-o", "json")
	if err != nil {
		return nil
	}
	var list struct {
		Items []kueueWorkload `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("workloads: %v", err)
	}
	for i := range list.Items {
		for _, o := range list.Items[i].Metadata.OwnerReferences {
			if o.Name == job {
				return &list.Items[i]
			}
		}
	}
	return nil
}

func (w *kueueWorkload) check(name string) kueueCheck {
	for _, c := range w.Status.AdmissionChecks {
		if c.Name == name {
			return c
		}
	}
	return kueueCheck{}
}

func jobSuspended(t *testing.T, ns, job string) bool {
	t.Helper()
	out, _, err := kubectl("get", "job", job, "-n", ns, "-o", "jsonpath={.spec.suspend}")
	return err != nil || out == "true"
}

func TestKueueAdmissionCheck(t *testing.T) {
	requireExportgate(t)
	dir := kueueDir(t)
	const a, cn, check = "kq-a", "kq-cn", "exportgate-tpp"
	for _, ns := range []string{a, cn} {
		kubectl("delete", "ns", ns, "--ignore-not-found", "--wait=true", "--timeout=60s")
	}
	mustApply(t, namespaceYAML(a, map[string]string{"exportgate.io/jurisdiction": "SG", "exportgate.io/tenant": a}))
	mustApply(t, namespaceYAML(cn, map[string]string{"exportgate.io/jurisdiction": "CN", "exportgate.io/tenant": cn}))
	t.Cleanup(func() {
		for _, ns := range []string{a, cn} {
			kubectl("delete", "ns", ns, "--ignore-not-found", "--wait=false")
		}
		kubectl("label", "node", "gpu-h100-0", "exportgate.e2e/hold-")
		kubectl("delete", "clusterqueue", "kq", "--ignore-not-found")
		kubectl("delete", "admissioncheck", check, "--ignore-not-found")
		kubectl("delete", "resourceflavor", "kq-h100", "--ignore-not-found")
	})
	startKueue(t, dir)

	// exportgate with the chart's RBAC for Kueue; Jobs are not checked at creation
	// (workloadEarlyCheck: false), so the Tier 3 Job reaches Kueue and the check.
	env := setupLedgerEnv(t, "kq-ledger", "kueue.enabled=true")
	policy := fmt.Sprintf(`apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: e2e-kueue}
spec:
  preset: diffusion-2025
  workloadEarlyCheck: false
  tiers:
    tier2:
      tenantCapTPP: %d
`, int(2*tpp8))
	// The chart's PolicyReport CRD, for the tenant's report of recent denials.
	mustApply(t, mustHelm(t, "template", "exportgate", chartDir(), "--namespace", "kq-ledger",
		"--kube-version", serverVersion(t), "--set", "fullnameOverride=exportgate-e2e-kq",
		"--show-only", "templates/policyreports.yaml"))
	mustKubectl(t, "wait", "--for=condition=Established", "crd/policyreports.wgpolicyk8s.io", "--timeout=30s")
	t.Cleanup(func() {
		kubectl("delete", "clusterrole", "exportgate-e2e-kq-policyreports-view", "--ignore-not-found")
	})
	ws := startFrontedReplicas(t, env, policy, 1, "--kueue-admission-check", "--kueue-interval", "1",
		"--audit-interval", "1s")

	mustApply(t, fmt.Sprintf(`apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: kq-h100}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: AdmissionCheck
metadata: {name: %s}
spec: {controllerName: exportgate.io/tpp}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: kq}
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: [nvidia.com/gpu]
    flavors:
    - name: kq-h100
      resources:
      - {name: nvidia.com/gpu, nominalQuota: "64"}
  admissionChecksStrategy:
    admissionChecks:
    - name: %s
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: q, namespace: %s}
spec: {clusterQueue: kq}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: q, namespace: %s}
spec: {clusterQueue: kq}
`, check, check, a, cn))
	if err := waitFor(func() (bool, string) {
		out, _, err := kubectl("get", "admissioncheck", check, "-o", "jsonpath={.status.conditions[?(@.type=='Active')].status}")
		return err == nil && out == "True", out
	}, 60*time.Second); err != nil {
		t.Fatalf("AdmissionCheck not Active: %v\n%s", err, ws[0].logTail(20))
	}

	// Three Jobs of 126,656 TPP each; the cap holds two.
	jobs := []string{"job-1", "job-2", "job-3"}
	for _, j := range jobs {
		mustApply(t, kueueJobYAML(a, j))
		// One at a time, so which two run first is known.
		if err := waitFor(func() (bool, string) {
			w := workloadOf(t, a, j)
			if w == nil {
				return false, "no workload"
			}
			c := w.check(check)
			return c.State == "Ready" || c.State == "Pending" && c.Message != "", fmt.Sprintf("%+v", c)
		}, 60*time.Second); err != nil {
			t.Fatalf("%s: check not decided: %v\n%s", j, err, ws[0].logTail(20))
		}
	}
	for _, j := range jobs[:2] {
		if c := workloadOf(t, a, j).check(check); c.State != "Ready" {
			t.Fatalf("%s: check %+v, want Ready", j, c)
		}
	}
	waiting := workloadOf(t, a, "job-3").check(check)
	if waiting.State != "Pending" || !strings.Contains(waiting.Message, "tenant cap") {
		t.Fatalf("job-3: check %+v, want Pending with the tenant cap", waiting)
	}

	// Kueue starts the two; their Pods are admitted by the webhook against the reservations
	// (the tenant is at its cap: charged twice they would be denied) and the ledger holds the
	// two workloads' TPP once.
	for _, j := range jobs[:2] {
		j := j
		if err := waitFor(func() (bool, string) {
			p, err := podPhases(a, "app="+j)
			return len(p) == 1 && !jobSuspended(t, a, j), fmt.Sprint(p, err)
		}, 60*time.Second); err != nil {
			out, _, _ := kubectl("get", "events", "-n", a, "--field-selector", "involvedObject.name="+j)
			t.Fatalf("%s: no Pod: %v\n%s", j, err, out)
		}
	}
	if err := waitFor(func() (bool, string) {
		l := readLedger(t, env.Namespace, "SG", a)
		return l.InUse+l.Reserved == 2*tpp8, fmt.Sprintf("%+v", l)
	}, 30*time.Second); err != nil {
		t.Fatalf("ledger: %v", err)
	}
	if !jobSuspended(t, a, "job-3") {
		t.Fatal("job-3 runs over the cap")
	}

	// job-1 finishes (its Pod gets a node, runs and completes under kwok): job-3 runs.
	mustKubectl(t, "label", "node", "gpu-h100-0", "exportgate.e2e/hold=job-1", "--overwrite")
	if err := waitFor(func() (bool, string) {
		c := workloadOf(t, a, "job-3").check(check)
		p, _ := podPhases(a, "app=job-3")
		return c.State == "Ready" && !jobSuspended(t, a, "job-3") && len(p) == 1, fmt.Sprintf("%+v %v", c, p)
	}, 90*time.Second); err != nil {
		p, _ := podPhases(a, "app=job-1")
		t.Fatalf("job-3 after job-1 finished: %v (job-1 pods %v)\n%s", err, p, ws[0].logTail(20))
	}

	// The tenant is at its cap (job-2 and job-3): a Pod of no workload is denied, and the
	// denial shows in the namespace's PolicyReport beside the usage.
	_, stderr, err := applyYAML(podYAML(a, "over-cap", h100x8))
	if err == nil || !strings.Contains(stderr, "tenant cap") {
		t.Fatalf("pod over the cap: %v %s, want denied for the tenant cap", err, stderr)
	}
	if err := waitFor(func() (bool, string) {
		r := getPolicyReport(t, a)
		if r == nil {
			return false, "no report"
		}
		for _, x := range r.Results {
			if x.Properties["source"] == "admission" && len(x.Resources) == 1 &&
				x.Resources[0].Name == "over-cap" && x.Result == "fail" && strings.Contains(x.Message, "tenant cap") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", r)
	}, 30*time.Second); err != nil {
		t.Fatalf("denial in %s's PolicyReport: %v", a, err)
	}

	// A Tier 3 tenant's Job: rejected, the reason in the Workload's conditions; it never runs.
	mustApply(t, kueueJobYAML(cn, "train"))
	var rejected *kueueWorkload
	if err := waitFor(func() (bool, string) {
		rejected = workloadOf(t, cn, "train")
		if rejected == nil {
			return false, "no workload"
		}
		if rejected.check(check).State == "Rejected" {
			return true, ""
		}
		// Kueue deactivates a workload whose check is Rejected, evicts it and resets the check
		// to Pending ("Reset to Pending after eviction. Previously: Rejected"), so the Rejected
		// state can be gone by the next poll; the deactivation names the check that rejected it.
		for _, c := range rejected.Status.Conditions {
			if c.Type == "Evicted" && c.Status == "True" &&
				strings.Contains(c.Message, "Admission check(s): "+check+", were rejected") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", rejected.Status)
	}, 60*time.Second); err != nil {
		t.Fatalf("Tier 3 job: %v", err)
	}
	found := false
	for _, c := range rejected.Status.Conditions {
		if c.Type == "ExportgateRejected" && c.Status == "True" && strings.Contains(c.Message, "CN") {
			found = true
		}
	}
	if !found {
		t.Errorf("no ExportgateRejected condition naming CN: %+v", rejected.Status.Conditions)
	}
	if !jobSuspended(t, cn, "train") {
		t.Error("the Tier 3 job runs")
	}
}
