package e2e_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	h100x8 = podSpec{product: "NVIDIA-H100-80GB-HBM3", gpus: 8}
	h20x8  = podSpec{product: "NVIDIA-H20", gpus: 8}
	cpu    = podSpec{}

	// TPP of 8 H100s: 8 x 15,832 = 126,656 (accept 126656, 126,656, 126 656).
	tpp8xH100 = regexp.MustCompile(`126[,. \x{202f}']?656`)
)

// expectDenied checks a kubectl failure is an exportgate denial carrying
// every wanted fragment, and returns stderr.
func expectDenied(t *testing.T, what string, stderr string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: admitted, want denied by exportgate", what)
		return
	}
	for _, w := range append([]string{"admission webhook", "denied the request"}, want...) {
		if !strings.Contains(stderr, w) {
			t.Errorf("%s: denial message lacks %q:\n%s", what, w, stderr)
		}
	}
}

func expectAdmitted(t *testing.T, what string, stderr string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: denied or failed, want admitted: %v", what, err)
	}
}

func notFound(t *testing.T, kind, ns, name string) {
	t.Helper()
	out, stderr, err := kubectl("get", kind, name, "-n", ns, "--ignore-not-found", "-o", "name")
	if err != nil {
		t.Errorf("get %s %s/%s: %v %s", kind, ns, name, err, stderr)
	} else if strings.TrimSpace(out) != "" {
		t.Errorf("%s %s/%s exists, want nothing created", kind, ns, name)
	}
}

// TestExportgatePodsPinnedToH100 is the core rule: 8 H100s (TPP 126,656)
// are fine for a Tier 1 tenant (DE) and denied for Tier 3 (CN) with a reason
// naming model, jurisdiction and TPP; pods without controlled accelerators
// are admitted everywhere.
func TestExportgatePodsPinnedToH100(t *testing.T) {
	setupExportgate(t, policyOpts{})
	cleanupWorkloads(t)

	t.Run("H100x8 admitted in t1 (DE, Tier 1)", func(t *testing.T) {
		_, stderr, err := applyYAMLAs("alice", podYAML("t1", "h100", h100x8))
		expectAdmitted(t, "H100x8 pod in t1", stderr, err)
	})

	t.Run("H100x8 denied in t3 (CN, Tier 3)", func(t *testing.T) {
		_, stderr, err := applyYAMLAs("alice", podYAML("t3", "h100", h100x8))
		expectDenied(t, "H100x8 pod in t3", stderr, err, "H100", "CN")
		if err != nil && !tpp8xH100.MatchString(stderr) {
			t.Errorf("denial does not state the TPP asked (126,656):\n%s", stderr)
		}
		notFound(t, "pod", "t3", "h100")
	})

	t.Run("CPU-only pod admitted everywhere", func(t *testing.T) {
		for _, ns := range []string{"t1", "t2", "t3", "nolabel"} {
			_, stderr, err := applyYAMLAs("alice", podYAML(ns, "cpu-only", cpu))
			expectAdmitted(t, "CPU-only pod in "+ns, stderr, err)
		}
	})

	t.Run("H20x8 (not controlled) admitted in t3", func(t *testing.T) {
		_, stderr, err := applyYAMLAs("alice", podYAML("t3", "h20", h20x8))
		expectAdmitted(t, "H20x8 pod in t3", stderr, err)
	})
}

// TestExportgateWorkloadEarlyCheck: a Job and a Deployment asking for H100s
// in t3 are denied as objects, so the user sees the reason on kubectl apply.
func TestExportgateWorkloadEarlyCheck(t *testing.T) {
	setupExportgate(t, policyOpts{})
	cleanupWorkloads(t)

	_, stderr, err := applyYAMLAs("alice", jobYAML("t3", "train", 2, h100x8))
	expectDenied(t, "Job (parallelism 2) of H100x8 in t3", stderr, err, "H100", "CN")
	notFound(t, "job", "t3", "train")

	_, stderr, err = applyYAMLAs("alice", deploymentYAML("t3", "serve", 2, h100x8))
	expectDenied(t, "Deployment (replicas 2) of H100x8 in t3", stderr, err, "H100", "CN")
	notFound(t, "deployment", "t3", "serve")
}

// TestExportgateWorkloadPodLevel: with the early check off the Job and the
// Deployment are created, but the controllers' pod creations are denied and
// show as FailedCreate events carrying exportgate's reason.
func TestExportgateWorkloadPodLevel(t *testing.T) {
	off := false
	setupExportgate(t, policyOpts{workloadEarlyCheck: &off})
	cleanupWorkloads(t)

	_, stderr, err := applyYAMLAs("alice", jobYAML("t3", "train", 2, h100x8))
	expectAdmitted(t, "Job object with early check off", stderr, err)
	_, stderr, err = applyYAMLAs("alice", deploymentYAML("t3", "serve", 2, h100x8))
	expectAdmitted(t, "Deployment object with early check off", stderr, err)
	if t.Failed() {
		return
	}

	// FailedCreate on the Job and on the Deployment's ReplicaSet.
	want := map[string]bool{"Job/train": false, "ReplicaSet/serve-": false}
	var events string
	err = waitFor(func() (bool, string) {
		out, _, err := kubectlAs("alice", "get", "events", "-n", "t3",
			"--field-selector", "reason=FailedCreate",
			"-o", `custom-columns=KIND:.involvedObject.kind,NAME:.involvedObject.name,MSG:.message`, "--no-headers")
		if err != nil {
			return false, err.Error()
		}
		events = out
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || !strings.Contains(line, "exportgate") || !strings.Contains(line, "denied the request") {
				continue
			}
			for k := range want {
				kind, name, _ := strings.Cut(k, "/")
				if f[0] == kind && strings.HasPrefix(f[1], name) {
					want[k] = true
				}
			}
		}
		return want["Job/train"] && want["ReplicaSet/serve-"], fmt.Sprintf("%v; events:\n%s", want, out)
	}, 60*time.Second)
	if err != nil {
		all, _, _ := kubectl("get", "events", "-n", "t3")
		t.Fatalf("no FailedCreate events naming exportgate's denial for both the Job and the ReplicaSet: %v\nall events:\n%s", err, all)
	}
	if !strings.Contains(events, "H100") {
		t.Errorf("FailedCreate events do not name the accelerator (H100):\n%s", events)
	}
	phases, err := podPhases("t3", "app in (train,serve)")
	if err != nil {
		t.Fatal(err)
	}
	if len(phases) != 0 {
		t.Errorf("pods of denied workloads exist in t3: %v", phases)
	}
}

// TestExportgateDryRun: server-side dry run gets the same answer and
// creates nothing.
func TestExportgateDryRun(t *testing.T) {
	setupExportgate(t, policyOpts{})
	cleanupWorkloads(t)

	_, stderr, err := applyYAMLAs("alice", podYAML("t3", "dry-h100", h100x8), "--dry-run=server")
	expectDenied(t, "dry-run H100x8 pod in t3", stderr, err, "H100", "CN")
	if err != nil && !tpp8xH100.MatchString(stderr) {
		t.Errorf("dry-run denial does not state the TPP asked (126,656):\n%s", stderr)
	}
	notFound(t, "pod", "t3", "dry-h100")

	_, stderr, err = applyYAMLAs("alice", podYAML("t1", "dry-h100", h100x8), "--dry-run=server")
	expectAdmitted(t, "dry-run H100x8 pod in t1", stderr, err)
	notFound(t, "pod", "t1", "dry-h100")
}

// TestExportgateNamespaceLabelGuard: only the policy's admins may change a
// namespace's exportgate.io/ labels.
func TestExportgateNamespaceLabelGuard(t *testing.T) {
	setupExportgate(t, policyOpts{})
	t.Cleanup(func() {
		kubectl("label", "ns", "t2", "exportgate.io/jurisdiction=IN", "--overwrite")
	})
	label := func() string {
		out, _, _ := kubectl("get", "ns", "t2", "-o", `jsonpath={.metadata.labels.exportgate\.io/jurisdiction}`)
		return out
	}

	_, stderr, err := kubectlAs("alice", "label", "ns", "t2", "exportgate.io/jurisdiction=US", "--overwrite")
	if err == nil {
		t.Errorf("alice (not a policy admin) relabelled t2 to US; want denied")
	} else if !strings.Contains(stderr, "exportgate") || !strings.Contains(stderr, "denied") {
		t.Errorf("alice's relabel failed, but not by exportgate's denial:\n%s", stderr)
	}
	if got := label(); got != "IN" {
		t.Errorf("t2 jurisdiction after alice's attempt = %q, want IN", got)
	}

	if _, stderr, err := kubectlAs("admin", "label", "ns", "t2", "exportgate.io/jurisdiction=US", "--overwrite"); err != nil {
		t.Fatalf("admin could not relabel t2: %v\n%s", err, stderr)
	}
	if got := label(); got != "US" {
		t.Errorf("t2 jurisdiction after admin's relabel = %q, want US", got)
	}
	if _, stderr, err := kubectlAs("admin", "label", "ns", "t2", "exportgate.io/jurisdiction=IN", "--overwrite"); err != nil {
		t.Fatalf("admin could not relabel t2 back: %v\n%s", err, stderr)
	}
	if got := label(); got != "IN" {
		t.Errorf("t2 jurisdiction after relabelling back = %q, want IN", got)
	}
}

// TestExportgateWarnMode: mode warn admits the denied pod and tells the
// user why, as a warning kubectl prints.
func TestExportgateWarnMode(t *testing.T) {
	setupExportgate(t, policyOpts{mode: "warn"})
	cleanupWorkloads(t)

	_, stderr, err := applyYAMLAs("alice", podYAML("t3", "h100-warn", h100x8))
	expectAdmitted(t, "H100x8 pod in t3 under mode warn", stderr, err)
	if !strings.Contains(stderr, "Warning:") {
		t.Fatalf("no warning shown by kubectl under mode warn; stderr:\n%s", stderr)
	}
	for _, w := range []string{"H100", "CN"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("warning lacks %q:\n%s", w, stderr)
		}
	}
}

// TestExportgateFailClosed: with the webhook down, pod creation in tenant
// namespaces fails (failurePolicy Fail) while kube-system, excluded by the
// namespaceSelector, keeps working; a restart on the same port restores
// admission.
func TestExportgateFailClosed(t *testing.T) {
	w := setupExportgate(t, policyOpts{})
	cleanupWorkloads(t)
	t.Cleanup(func() { deleteQuietly(t, "pod,configmap", "-n", "kube-system", "-l", "app=e2e-fail-closed") })

	w.Stop()
	_, stderr, err := applyYAMLAs("alice", podYAML("t1", "while-down", cpu))
	if err == nil {
		t.Errorf("pod in t1 created while exportgate is down; want failure (failurePolicy Fail)")
	} else if !strings.Contains(stderr, "failed calling webhook") {
		t.Errorf("pod in t1 failed, but not with 'failed calling webhook':\n%s", stderr)
	}

	if _, stderr, err := applyYAML(podYAML("kube-system", "e2e-fail-closed", cpu)); err != nil {
		t.Errorf("pod in kube-system failed while exportgate is down (must not depend on it): %v\n%s", err, stderr)
	}
	cm := strings.Replace(configMapYAML("kube-system", "e2e-fail-closed"), "  namespace: kube-system\n",
		"  namespace: kube-system\n  labels:\n    app: e2e-fail-closed\n", 1)
	if _, stderr, err := applyYAML(cm); err != nil {
		t.Errorf("configmap in kube-system failed while exportgate is down: %v\n%s", err, stderr)
	}

	w.Restart(policyYAML(policyOpts{}))
	err = waitFor(func() (bool, string) {
		_, stderr, err := applyYAMLAs("alice", podYAML("t1", "after-restart", cpu))
		return err == nil, stderr
	}, 30*time.Second)
	if err != nil {
		t.Errorf("pod in t1 still not admitted after restarting exportgate on port %d: %v", w.Port, err)
	}
}

// TestExportgateHugeGpuQuantity: "25T" GPUs is a whole number to the API server. Such a Pod used
// to crash exportgate (an overflow in the TPP arithmetic), so with failurePolicy Fail one tenant
// stopped Pod creation cluster-wide. It is denied as out of range in every tier, and the same
// process answers the next request.
func TestExportgateHugeGpuQuantity(t *testing.T) {
	w := setupExportgate(t, policyOpts{})
	cleanupWorkloads(t)
	starts := w.starts
	for _, ns := range []string{"t1", "t2", "t3"} {
		pod := strings.Replace(podYAML(ns, "huge", h100x8), "nvidia.com/gpu: 8", `nvidia.com/gpu: "25T"`, 1)
		if !strings.Contains(pod, `"25T"`) {
			t.Fatalf("pod manifest not rewritten:\n%s", pod)
		}
		_, stderr, err := applyYAMLAs("alice", pod)
		expectDenied(t, "25T GPU pod in "+ns, stderr, err, "beyond the range exportgate evaluates")
		notFound(t, "pod", ns, "huge")
	}
	select {
	case <-w.exited:
		t.Fatalf("exportgate exited after the huge quantity: %s", w.logTail(30))
	default:
	}
	_, stderr, err := applyYAMLAs("alice", podYAML("t1", "after-huge", h100x8))
	expectAdmitted(t, "H100x8 pod in t1 after the huge pod", stderr, err)
	if w.starts != starts {
		t.Errorf("exportgate was restarted (%d starts, want %d)", w.starts, starts)
	}
}

// TestExportgateMetrics: denials are counted in
// exportgate_admission_requests_total{decision="deny"}.
func TestExportgateMetrics(t *testing.T) {
	w := setupExportgate(t, policyOpts{})
	cleanupWorkloads(t)

	_, stderr, err := applyYAMLAs("alice", podYAML("t3", "h100-metrics", h100x8))
	expectDenied(t, "H100x8 pod in t3", stderr, err, "H100")

	text, err := w.Metrics()
	if err != nil {
		t.Fatalf("GET http://127.0.0.1:%d/metrics: %v", w.MetricsPort, err)
	}
	if !strings.Contains(text, "exportgate_admission_requests_total") {
		t.Fatalf("/metrics has no exportgate_admission_requests_total:\n%s", firstLines(text, 40))
	}
	v, ok := metricSum(text, "exportgate_admission_requests_total", `decision="deny"`)
	if !ok || v <= 0 {
		var lines []string
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "exportgate_admission_requests_total") {
				lines = append(lines, l)
			}
		}
		t.Errorf(`exportgate_admission_requests_total{decision="deny"} = %v (found %v), want > 0; samples:
%s`, v, ok, strings.Join(lines, "\n"))
	}
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
