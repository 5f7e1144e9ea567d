package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSmokeControlPlane needs nothing from exportgate: it proves that the
// apiserver, controller-manager, scheduler and kwok work together, so the
// exportgate scenarios can rely on them.
func TestSmokeControlPlane(t *testing.T) {
	t.Run("version", func(t *testing.T) {
		out := mustKubectl(t, "version", "-o", "json")
		if !strings.Contains(out, `"gitVersion": "v1.`) || strings.Contains(out, "v0.0.0") {
			t.Fatalf("/version does not report the pinned Kubernetes version:\n%s", out)
		}
	})

	t.Run("fake nodes", func(t *testing.T) {
		want := map[string]string{
			"gpu-h100-0": "NVIDIA-H100-80GB-HBM3",
			"gpu-h100-1": "NVIDIA-H100-80GB-HBM3",
			"gpu-h20-0":  "NVIDIA-H20",
			"cpu-0":      "",
		}
		list, err := getJSON("nodes")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, n := range items(list) {
			name, _ := field(n, "metadata", "name").(string)
			product, _ := field(n, "metadata", "labels", "nvidia.com/gpu.product").(string)
			got[name] = product
			gpus, _ := field(n, "status", "allocatable", "nvidia.com/gpu").(string)
			if product != "" && gpus != "8" {
				t.Errorf("node %s: allocatable nvidia.com/gpu = %q, want 8", name, gpus)
			}
		}
		for name, product := range want {
			p, ok := got[name]
			if !ok {
				t.Errorf("node %s missing (have %v)", name, got)
			} else if p != product {
				t.Errorf("node %s: gpu.product %q, want %q", name, p, product)
			}
		}
	})

	t.Run("non-admin user alice", func(t *testing.T) {
		out, _, err := kubectlAs("alice", "auth", "can-i", "create", "pods", "-n", "default")
		if err != nil || strings.TrimSpace(out) != "yes" {
			t.Errorf("alice should be able to create pods: %q %v", out, err)
		}
		out, _, _ = kubectlAs("alice", "auth", "can-i", "delete", "validatingwebhookconfigurations")
		if strings.TrimSpace(out) != "no" {
			t.Errorf("alice must not manage webhook configurations, can-i says %q", out)
		}
		out, _, _ = kubectlAs("alice", "auth", "can-i", "create", "clusterrolebindings")
		if strings.TrimSpace(out) != "no" {
			t.Errorf("alice must not be able to grant herself rights, can-i says %q", out)
		}
	})

	ns := "smoke"
	mustApply(t, namespaceYAML(ns, nil))
	t.Cleanup(func() { deleteQuietly(t, "namespace", ns) })

	t.Run("deployment runs on kwok GPU nodes", func(t *testing.T) {
		mustApply(t, deploymentYAML(ns, "smoke-gpu", 2, podSpec{product: "NVIDIA-H100-80GB-HBM3", gpus: 4}))
		var last map[string]string
		err := waitFor(func() (bool, string) {
			phases, err := podPhases(ns, "app=smoke-gpu")
			if err != nil {
				return false, err.Error()
			}
			last = phases
			running := 0
			for _, ph := range phases {
				if strings.HasPrefix(ph, "Running@gpu-h100-") {
					running++
				}
			}
			return running == 2, fmt.Sprint(phases)
		}, 90*time.Second)
		if err != nil {
			t.Fatalf("deployment of 2 replicas did not get 2 Running pods on H100 nodes: %v", err)
		}
		t.Logf("pods: %v", last)
		err = waitFor(func() (bool, string) {
			d, err := getJSON("deployment", "-n", ns, "smoke-gpu")
			if err != nil {
				return false, err.Error()
			}
			avail := fmt.Sprint(field(d, "status", "availableReplicas"))
			return avail == "2", "availableReplicas=" + avail
		}, 60*time.Second)
		if err != nil {
			t.Errorf("deployment status: %v", err)
		}
	})

	t.Run("job pod completes", func(t *testing.T) {
		mustApply(t, jobYAML(ns, "smoke-job", 1, podSpec{}))
		err := waitFor(func() (bool, string) {
			j, err := getJSON("job", "-n", ns, "smoke-job")
			if err != nil {
				return false, err.Error()
			}
			succeeded := fmt.Sprint(field(j, "status", "succeeded"))
			complete := false
			conds, _ := field(j, "status", "conditions").([]any)
			for _, c := range conds {
				if field(c, "type") == "Complete" && field(c, "status") == "True" {
					complete = true
				}
			}
			return complete && succeeded == "1", fmt.Sprintf("succeeded=%s conditions=%v", succeeded, conds)
		}, 90*time.Second)
		if err != nil {
			phases, _ := podPhases(ns, "job-name=smoke-job")
			t.Fatalf("job did not complete: %v (pods: %v)", err, phases)
		}
		phases, err := podPhases(ns, "job-name=smoke-job")
		if err != nil {
			t.Fatal(err)
		}
		for name, ph := range phases {
			if !strings.HasPrefix(ph, "Succeeded@") {
				t.Errorf("job pod %s: %s, want Succeeded", name, ph)
			}
		}
	})
}
