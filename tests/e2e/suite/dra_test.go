package e2e_test

// DRA on the real control plane: a DeviceClass and ResourceSlices published for the kwok H100
// node as NVIDIA's DRA driver would, claims created through the API server, allocated by the
// pinned kube-scheduler, and counted by exportgate's reconciler from its DRA caches.

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const draPolicyYAML = `apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata:
  name: e2e-dra
spec:
  preset: diffusion-2025
  admins:
    users: [admin]
    groups: ["system:masters"]
`

// draObjects: NVIDIA's GPU DeviceClass (as its Helm chart installs it) and one ResourceSlice with
// four H100s on the kwok node gpu-h100-0, attributes as the driver's kubelet plugin publishes them.
func draObjects() string {
	var devices []string
	for i := 0; i < 4; i++ {
		devices = append(devices, fmt.Sprintf(`  - name: gpu-%d
    attributes:
      type: {string: gpu}
      productName: {string: NVIDIA H100 80GB HBM3}
      architecture: {string: Hopper}`, i))
	}
	return `apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata:
  name: e2e-gpu.nvidia.com
spec:
  selectors:
  - cel:
      expression: "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'"
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata:
  name: e2e-gpu-h100-0-gpu.nvidia.com
spec:
  driver: gpu.nvidia.com
  nodeName: gpu-h100-0
  pool: {name: gpu-h100-0, generation: 1, resourceSliceCount: 1}
  devices:
` + strings.Join(devices, "\n") + "\n"
}

func draClaimYAML(ns, name string, count int) string {
	return fmt.Sprintf(`apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata:
  name: %s
  namespace: %s
spec:
  devices:
    requests:
    - name: gpus
      exactly:
        deviceClassName: e2e-gpu.nvidia.com
        count: %d
`, name, ns, count)
}

func draPodYAML(ns, name, claim string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
spec:
  resourceClaims:
  - name: gpus
    resourceClaimName: %s
  containers:
  - name: c
    image: registry.example/train:1
    resources:
      claims:
      - name: gpus
`, name, ns, claim)
}

func TestExportgateDRAClaims(t *testing.T) {
	requireExportgate(t)
	ensureNamespaces(t)
	env := setupLedgerEnv(t, "eg-dra")
	replicas := startFrontedReplicas(t, env, draPolicyYAML, 1)
	defer checkNoForbidden(t, replicas)
	mustApply(t, draObjects())
	t.Cleanup(func() {
		deleteQuietly(t, "pods,resourceclaims", "--all", "-n", "t2")
		deleteQuietly(t, "pods,resourceclaims", "--all", "-n", "t3")
		deleteQuietly(t, "resourceslice", "e2e-gpu-h100-0-gpu.nvidia.com")
		deleteQuietly(t, "deviceclass", "e2e-gpu.nvidia.com")
	})
	// The chart's RBAC lets the DRA informers list and watch; the class and slice are cached.
	waitCachesSynced(t, replicas, t.Fatalf, "/apis/resource.k8s.io/v1/deviceclasses",
		"/apis/resource.k8s.io/v1/resourceslices", "/apis/resource.k8s.io/v1/resourceclaims",
		"/apis/resource.k8s.io/v1/resourceclaimtemplates")
	waitLeader(t, replicas)

	t.Run("a Tier 3 tenant's claim for a controlled GPU is denied at creation", func(t *testing.T) {
		_, stderr, err := applyYAML(draClaimYAML("t3", "gpus", 2) + "---\n" + draPodYAML("t3", "trainer", "gpus"))
		if err == nil {
			t.Fatalf("claim admitted in CN")
		}
		for _, want := range []string{`ResourceClaim "gpus"`, `class "e2e-gpu.nvidia.com"`, "NVIDIA H100 SXM", "Tier 3"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("denial does not name %q: %s", want, stderr)
			}
		}
		if out, _, _ := kubectl("get", "resourceclaim", "gpus", "-n", "t3", "--ignore-not-found", "-o", "name"); strings.TrimSpace(out) != "" {
			t.Errorf("the denied claim exists: %s", out)
		}
		// The Pod itself carries no device request: it is stored, and never runs without its claim.
		time.Sleep(3 * time.Second)
		if phase, _, _ := kubectl("get", "pod", "trainer", "-n", "t3", "-o", "jsonpath={.status.phase}"); phase == "Running" {
			t.Errorf("the Pod of the denied claim runs")
		}
	})

	t.Run("a Tier 2 tenant's claim is allocated, charged exactly and released on delete", func(t *testing.T) {
		mustApply(t, draClaimYAML("t2", "gpus", 2)+"---\n"+draPodYAML("t2", "trainer", "gpus"))
		err := waitFor(func() (bool, string) {
			out, _, _ := kubectl("get", "resourceclaim", "gpus", "-n", "t2", "-o",
				"jsonpath={.status.allocation.devices.results[*].device}")
			return len(strings.Fields(out)) == 2, out
		}, 60*time.Second)
		if err != nil {
			out, _, _ := kubectl("describe", "pod", "trainer", "-n", "t2")
			t.Fatalf("the scheduler did not allocate the claim: %v\n%s", err, out)
		}
		// Two H100s (2 x 15,832), once: the claim holds them, the Pod adds nothing.
		waitLedger(t, env.Namespace, "IN", "t2", 2*15832, 40*time.Second)
		mustKubectl(t, "delete", "pod", "trainer", "-n", "t2", "--grace-period=0", "--force", "--wait=false")
		mustKubectl(t, "delete", "resourceclaim", "gpus", "-n", "t2", "--wait=true", "--timeout=60s")
		waitLedger(t, env.Namespace, "IN", "t2", 0, 40*time.Second)
	})
}

// Three replicas, 100 claims for 2 x H100 (31,664 TPP each) created at once under a tenant cap of
// five such claims: exactly five are admitted, as for Pods.
func TestExportgateDRAClaimsHoldTheCap(t *testing.T) {
	requireExportgate(t)
	ensureNamespaces(t)
	env := setupLedgerEnv(t, "eg-dra-cap")
	const claimTPP = 2 * 15832
	const fits = 5
	policy := draPolicyYAML + fmt.Sprintf("  tiers:\n    tier2:\n      tenantCapTPP: %d\n", fits*claimTPP)
	replicas := startFrontedReplicas(t, env, policy, 3)
	defer checkNoForbidden(t, replicas)
	mustApply(t, draObjects())
	t.Cleanup(func() {
		deleteQuietly(t, "resourceclaims", "--all", "-n", "t2")
		deleteQuietly(t, "resourceslice", "e2e-gpu-h100-0-gpu.nvidia.com")
		deleteQuietly(t, "deviceclass", "e2e-gpu.nvidia.com")
	})
	waitCachesSynced(t, replicas, t.Fatalf,
		"/apis/resource.k8s.io/v1/deviceclasses", "/apis/resource.k8s.io/v1/resourceslices")
	api := newAPIClient(t, cluster.KubeconfigAdmin)
	const n = 100
	res := createBurst(n, func(i int) (int, string, error) {
		claim := fmt.Sprintf(`{"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaim",`+
			`"metadata":{"name":"burst-%03d","namespace":"t2"},"spec":{"devices":{"requests":[`+
			`{"name":"gpus","exactly":{"deviceClassName":"e2e-gpu.nvidia.com","count":2}}]}}}`, i)
		return api.postObject("/apis/resource.k8s.io/v1/namespaces/t2/resourceclaims", claim)
	})
	admitted, denied, other := res.admitted, res.denied, res.other
	t.Logf("admitted %d, denied by the cap %d, other %v", admitted, denied, other)
	if admitted != fits || denied != n-fits {
		t.Errorf("want %d admitted and %d denied by the tenant cap, got %d and %d (other %v)",
			fits, n-fits, admitted, denied, other)
	}
}
