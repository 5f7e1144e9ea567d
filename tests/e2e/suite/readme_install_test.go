package e2e_test

// TestChartReadmeInstall: the README's "Install in a cluster" section, run as a new user would,
// against the real control plane, with the chart's default values. The commands are read from
// README.md and run verbatim through bash, except that the helm install line gets the image
// reference and the address where the API server reaches the webhook (kwok runs no containers:
// the chart's Deployment gets fake pods, and its webhook pods are played by loopback
// `exportgate serve` processes started with the rendered Deployment's own arguments, as the
// chart's ServiceAccount with the chart's RBAC; `--in-cluster` becomes a kubeconfig holding that
// account's token). Then: GPU Pods in Tier 1, Tier 2 (under and over the default tenant cap) and
// Tier 3 namespaces, a Deployment whose generateName Pods are scaled up and down, a rollout of
// exportgate itself in the middle (one replica replaced at a time, as maxSurge 1 /
// maxUnavailable 0 does), and at the end the TPPLedger equals the Pods that exist.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	readmeNamespace = "exportgate-system" // as in the README
	readmeRelease   = "exportgate"
)

// readmeInstallCommands returns the shell lines of the first ```sh block of README.md's
// "## Install in a cluster" section.
func readmeInstallCommands(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cluster.RepoDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "## Install in a cluster")
	if i < 0 {
		t.Fatal("README.md has no \"## Install in a cluster\" section")
	}
	text = text[i:]
	start := strings.Index(text, "```sh\n")
	if start < 0 {
		t.Fatal("README install section has no ```sh block")
	}
	text = text[start+len("```sh\n"):]
	text = text[:strings.Index(text, "```")]
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// runShell runs one README line with bash, helm and kubectl from the e2e build first in PATH,
// as the cluster admin, in the repository root.
func runShell(t *testing.T, line string) (string, error) {
	t.Helper()
	home := filepath.Join(cluster.Dir, "helm-home")
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", line)
	cmd.Dir = cluster.RepoDir
	cmd.Env = append(os.Environ(),
		"PATH="+cluster.BinDir+":"+os.Getenv("PATH"),
		"KUBECONFIG="+cluster.KubeconfigAdmin,
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(4 * time.Minute):
		cmd.Process.Kill()
		<-done
		err = fmt.Errorf("timed out")
	}
	return string(out), err
}

// chartPods plays the chart's webhook pods: the rendered Deployment's container args with the
// harness's ports, certificate and policy file, and the service account's token.
type chartPods struct {
	t          *testing.T
	args       []string // the Deployment's args without the ones the harness sets
	policy     string   // the chart's ConfigMap policy.yaml
	kubeconfig string
	generation int
}

func newChartPods(t *testing.T) *chartPods {
	t.Helper()
	manifest := mustHelm(t, "get", "manifest", readmeRelease, "-n", readmeNamespace)
	// Args of the Deployment's container: the "- --flag" lines after "args:" up to "env:".
	i := strings.Index(manifest, "kind: Deployment")
	if i < 0 {
		t.Fatalf("no Deployment in the release:\n%s", manifest)
	}
	dep := manifest[i:]
	a := strings.Index(dep, "args:\n")
	e := strings.Index(dep, "env:\n")
	if a < 0 || e < a {
		t.Fatalf("no container args in the Deployment:\n%s", dep)
	}
	var args []string
	inCluster := false
	for _, l := range strings.Split(dep[a+len("args:\n"):e], "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
		l = strings.Trim(l, `"`)
		switch {
		case l == "" || l == "serve":
		case l == "--in-cluster":
			inCluster = true
		case strings.HasPrefix(l, "--listen="), strings.HasPrefix(l, "--metrics-listen="),
			strings.HasPrefix(l, "--policy="), strings.HasPrefix(l, "--tls-cert="), strings.HasPrefix(l, "--tls-key="):
			// the harness's own (Webhook.start)
		default:
			args = append(args, l)
		}
	}
	if !inCluster {
		t.Fatalf("the default install is not cluster mode (no --in-cluster in %v)", args)
	}
	cm := mustKubectl(t, "get", "configmap", readmeRelease+"-policy", "-n", readmeNamespace,
		"-o", `jsonpath={.data.policy\.yaml}`)
	sa := strings.TrimSpace(mustKubectl(t, "get", "deployment", readmeRelease, "-n", readmeNamespace,
		"-o", "jsonpath={.spec.template.spec.serviceAccountName}"))
	kc := tokenKubeconfig(t, readmeNamespace, sa)
	// --in-cluster reads the namespace from the token's directory; the kubeconfig's stands in.
	args = append(args, "--kubeconfig", kc, "--ledger-namespace", readmeNamespace)
	return &chartPods{t: t, args: args, policy: cm, kubeconfig: kc}
}

// start runs one webhook pod of the current generation.
func (c *chartPods) start(i int) *Webhook {
	t := c.t
	t.Helper()
	w := newWebhook(t, fmt.Sprintf("-g%d-r%d", c.generation, i), append(append([]string(nil), c.args...),
		"--identity", fmt.Sprintf("exportgate-g%d-r%d", c.generation, i)))
	w.start(c.policy)
	return w
}

// podTPP is the TPP the cluster's Pods in ns hold (not finished, not being deleted), counted
// from the API with the same rule as ResourceQuota: pinned H100s at 15,832 each.
func podTPP(t *testing.T, ns string) (float64, int) {
	t.Helper()
	list, err := getJSON("pods", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	total, n := 0.0, 0
	for _, p := range items(list) {
		if field(p, "metadata", "deletionTimestamp") != nil {
			continue
		}
		if ph, _ := field(p, "status", "phase").(string); ph == "Succeeded" || ph == "Failed" {
			continue
		}
		for _, c := range field(p, "spec", "containers").([]any) {
			if g, ok := field(c, "resources", "limits", "nvidia.com/gpu").(string); ok {
				var gpus float64
				fmt.Sscan(g, &gpus)
				total += gpus * tpp8 / 8
			}
		}
		n++
	}
	return total, n
}

// gpuPodYAML: a Pod of `gpus` H100s pinned by nodeSelector.
func gpuPodYAML(ns, name string, gpus int) string {
	return podYAML(ns, name, podSpec{product: "NVIDIA-H100-80GB-HBM3", gpus: gpus})
}

func TestChartReadmeInstall(t *testing.T) {
	requireExportgate(t)
	webhookCerts(t)
	lines := readmeInstallCommands(t)
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "helm install ") {
		t.Fatalf("README install block: want `helm install ...` first, got %q", lines)
	}

	// The namespaces a new user already has: team-a (the README's example, Tier 2 SG) and one
	// each for Tier 1 and Tier 3, labeled the documented way.
	tenants := map[string]string{"team-a": "SG", "readme-de": "DE", "readme-cn": "CN"}
	for ns := range tenants {
		mustApply(t, namespaceYAML(ns, nil))
	}
	proxy := startProxy(t, nil)
	caFile := filepath.Join(webhookPKI.dir, "ca.crt")
	t.Cleanup(func() {
		for ns := range tenants {
			deleteQuietly(t, "deployments,replicasets,pods", "--all", "-n", ns)
		}
		helm(t, "uninstall", readmeRelease, "-n", readmeNamespace, "--wait")
		for ns := range tenants {
			kubectl("delete", "namespace", ns, "--wait=false")
		}
		kubectl("delete", "namespace", readmeNamespace, "--wait=false")
	})

	// 1. helm install, verbatim plus the image and where the webhook answers. (Earlier tests
	// left a TPPLedger CRD this release does not own: a new cluster has none.)
	ledgerCRDFor(t, readmeRelease, readmeNamespace)
	install := lines[0] + fmt.Sprintf(
		" --set image.repository=localhost/exportgate --set image.tag=e2e"+
			" --set webhook.url=https://127.0.0.1:%d --set-file webhook.caBundle=%s", proxy.Port(), caFile)
	out, err := runShell(t, install)
	if err != nil {
		t.Fatalf("%s: %v\n%s", install, err, out)
	}
	for _, want := range []string{"kubectl label namespace team-a", "get tppledgers"} {
		if !strings.Contains(out, want) {
			t.Errorf("helm install NOTES lack %q:\n%s", want, out)
		}
	}
	values := mustHelm(t, "get", "values", readmeRelease, "-n", readmeNamespace, "--all", "-o", "json")
	var defaults struct {
		Cluster struct {
			Enabled      bool `json:"enabled"`
			LedgerLeases bool `json:"ledgerLeases"`
		} `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(values), &defaults); err != nil || !defaults.Cluster.Enabled ||
		!defaults.Cluster.LedgerLeases {
		t.Errorf("the default values are not cluster mode with leased headroom (%v): %s", err, values)
	}

	// The chart's webhook pods, three as replicaCount says.
	pods := newChartPods(t)
	var replicas []*Webhook
	for i := 0; i < 3; i++ {
		replicas = append(replicas, pods.start(i))
	}
	proxy.set(replicas)
	waitLeader(t, replicas)
	defer func() { checkNoForbidden(t, replicas) }()

	// 2. The rest of the README block, verbatim: the label command and the ledger listing.
	for _, line := range lines[1:] {
		var out string
		err := waitFor(func() (bool, string) {
			// The API server learns the webhook configuration through an informer.
			out, err = runShell(t, line)
			return err == nil, fmt.Sprint(err, out)
		}, 30*time.Second)
		if err != nil {
			t.Fatalf("README line %q: %v", line, err)
		}
	}
	// The Tier 1 and Tier 3 namespaces, labeled the same documented way.
	mustKubectl(t, "label", "namespace", "readme-de", "exportgate.io/jurisdiction=DE", "exportgate.io/tenant=readme-de")
	mustKubectl(t, "label", "namespace", "readme-cn", "exportgate.io/jurisdiction=CN", "exportgate.io/tenant=readme-cn")
	// A label change by a user who is no policy admin is refused by the chart's guard.
	if _, stderr, err := kubectlAs("alice", "label", "namespace", "team-a", "exportgate.io/jurisdiction=DE", "--overwrite"); err == nil {
		t.Errorf("alice relabelled team-a: %s", stderr)
	}

	// Wait until the webhook answers for namespaces (configuration picked up, labels cached).
	if err := waitFor(func() (bool, string) {
		_, stderr, err := applyYAMLAs("alice", gpuPodYAML("readme-cn", "probe", 8), "--dry-run=server")
		return err != nil && strings.Contains(stderr, "Tier 3"), stderr
	}, 60*time.Second); err != nil {
		t.Fatalf("the webhook never denied a Tier 3 dry run: %v", err)
	}

	const capGPUs = 1696 // 1696 x 15,832 = 26,851,072 TPP: just under the 26,900,000 tenant cap
	t.Run("Tier 1: admitted", func(t *testing.T) {
		_, stderr, err := applyYAMLAs("alice", gpuPodYAML("readme-de", "t1-h100", 8))
		expectAdmitted(t, "8 x H100 in readme-de (DE, Tier 1)", stderr, err)
	})
	t.Run("Tier 3: accelerators denied, CPU admitted", func(t *testing.T) {
		_, stderr, err := applyYAMLAs("alice", gpuPodYAML("readme-cn", "t3-h100", 8))
		expectDenied(t, "8 x H100 in readme-cn (CN, Tier 3)", stderr, err, "CN", "Tier 3")
		notFound(t, "pod", "readme-cn", "t3-h100")
		_, stderr, err = applyYAMLAs("alice", podYAML("readme-cn", "t3-cpu", podSpec{}))
		expectAdmitted(t, "CPU pod in readme-cn", stderr, err)
	})
	t.Run("Tier 2: under the tenant cap admitted, over it denied, freed by a delete", func(t *testing.T) {
		_, stderr, err := applyYAMLAs("alice", gpuPodYAML("team-a", "t2-big", capGPUs))
		expectAdmitted(t, "1696 x H100 in team-a (SG, Tier 2, under the cap)", stderr, err)
		_, stderr, err = applyYAMLAs("alice", gpuPodYAML("team-a", "t2-over", 8))
		expectDenied(t, "8 more H100 in team-a (over the cap)", stderr, err, "tenant cap")
		notFound(t, "pod", "team-a", "t2-over")
		mustKubectl(t, "delete", "pod", "t2-big", "-n", "team-a", "--grace-period=0", "--force", "--wait=true")
		// The Pod's deletion reaches the ledger through the reconciler's Pod watch.
		if err := waitFor(func() (bool, string) {
			_, stderr, err := applyYAMLAs("alice", gpuPodYAML("team-a", "t2-over", 8))
			return err == nil, stderr
		}, 60*time.Second); err != nil {
			t.Errorf("8 x H100 in team-a still denied after the big Pod was deleted: %v", err)
		}
	})

	t.Run("Deployment with generateName Pods scaled, exportgate rolled out in the middle", func(t *testing.T) {
		mustApply(t, deploymentYAML("team-a", "train", 3, podSpec{product: "NVIDIA-H100-80GB-HBM3", gpus: 8}))
		waitPods := func(n int) {
			t.Helper()
			if err := waitFor(func() (bool, string) {
				_, count := podTPP(t, "team-a")
				return count == n+1, fmt.Sprintf("%d pods (want %d + t2-over)", count, n)
			}, 90*time.Second); err != nil {
				t.Fatalf("Deployment train: %v", err)
			}
		}
		waitPods(3)
		mustKubectl(t, "scale", "deployment/train", "-n", "team-a", "--replicas=6")

		// Rollout: the chart's Deployment gets a new ReplicaSet (kwok's fake pods) and each
		// webhook pod is replaced by one of the new generation, one at a time.
		mustKubectl(t, "rollout", "restart", "deployment/"+readmeRelease, "-n", readmeNamespace)
		pods.generation++
		for i := range replicas {
			next := pods.start(i)
			live := append(append([]*Webhook(nil), replicas...), next)
			proxy.set(live)
			old := replicas[i]
			live = append(append([]*Webhook(nil), replicas[:i]...), replicas[i+1:]...)
			live = append(live, next)
			proxy.set(live)
			checkNoForbidden(t, []*Webhook{old})
			old.Stop() // SIGTERM: drains, hands the Lease back
			replicas[i] = next
			if i == 1 {
				// Scaling while the webhook is half old, half new.
				mustKubectl(t, "scale", "deployment/train", "-n", "team-a", "--replicas=2")
			}
		}
		out, err := runShell(t, "kubectl -n "+readmeNamespace+" rollout status deployment/"+readmeRelease+" --timeout=120s")
		if err != nil {
			t.Errorf("rollout of exportgate: %v\n%s", err, out)
		}
		waitLeader(t, replicas)
		waitPods(2)
		mustKubectl(t, "scale", "deployment/train", "-n", "team-a", "--replicas=4")
		waitPods(4)
		mustKubectl(t, "scale", "deployment/train", "-n", "team-a", "--replicas=1")
		waitPods(1)
	})

	t.Run("the ledger equals the Pods that exist", func(t *testing.T) {
		for ns, j := range map[string]string{"team-a": "SG", "readme-de": "DE"} {
			want, n := podTPP(t, ns)
			if want == 0 {
				t.Errorf("%s: no GPU pods left to count (%d pods)", ns, n)
			}
			var last ledgerView
			err := waitFor(func() (bool, string) {
				last = readLedger(t, readmeNamespace, j, ns)
				w, _ := podTPP(t, ns)
				want = w
				return last.InUse == want && last.Reserved == 0 && last.Reservations == 0,
					fmt.Sprintf("ledger %+v, pods %v", last, want)
			}, 60*time.Second)
			if err != nil {
				t.Errorf("TPPLedger jurisdiction-%s tenant %s differs from the Pods in %s: %v",
					strings.ToLower(j), ns, ns, err)
			}
		}
		if v := readLedger(t, readmeNamespace, "CN", "readme-cn"); v.InUse != 0 || v.Reserved != 0 {
			t.Errorf("Tier 3 tenant holds TPP: %+v", v)
		}
	})
}
