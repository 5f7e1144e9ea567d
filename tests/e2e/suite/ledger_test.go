package e2e_test

// TestExportgateClusterLedger: caps hold for the whole cluster with three exportgate replicas
// (cluster mode, `--kubeconfig` with the chart's RBAC) behind one webhook configuration and a
// round-robin proxy. The steps build on each other's state:
//   - 200 concurrent pod creations for a Tier 2 tenant whose cap fits exactly 10 of them: the
//     admitted TPP reaches the cap and never passes it;
//   - deleted and finished (kwok completes Job pods) pods free their TPP, new pods are admitted;
//   - killing and restarting all replicas loses no count;
//   - a namespace relabelled by an admin to another jurisdiction is charged to the new one;
//   - with the API server stopped (SIGSTOP), AdmissionReviews sent straight to a replica are
//     denied for capped requests and decided as usual for the rest.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const ledgerCapUnits = 10

// clusterPolicyYAML: the diffusion-2025 preset with the Tier 2 tenant cap set to exactly ten
// 8 x H100 pods. t2 is not in the tenant list: its tenant and jurisdiction come from its labels.
func clusterPolicyYAML() string {
	return capPolicyYAML("e2e-cluster", int64(ledgerCapUnits*tpp8), "")
}

// never is a node selector no node matches: such pods stay Pending and hold their TPP without
// needing room on the two fake H100 nodes.
var never = map[string]string{"e2e.exportgate.io/never": "true"}

func TestExportgateClusterLedger(t *testing.T) {
	requireExportgate(t)
	ensureNamespaces(t)
	env := setupLedgerEnv(t, "eg-ledger")
	policy := clusterPolicyYAML()
	replicas := startFrontedReplicas(t, env, policy, 3)
	t.Cleanup(func() {
		kubectl("label", "ns", "t2", "exportgate.io/jurisdiction=IN", "--overwrite")
		deleteQuietly(t, "jobs,pods", "--all", "-n", "t2")
	})
	api := newAPIClient(t, cluster.KubeconfigAlice)
	capTPP := ledgerCapUnits * tpp8

	// The replicas run as the chart's ServiceAccount with only the chart's RBAC (clusterRBAC):
	// every informer syncs and the reconciler Lease is created and held by one replica. Lease
	// refusals are not logged above debug, so the leader metric is what proves get + create.
	t.Run("the chart's RBAC is enough to sync every cache and elect a leader", func(t *testing.T) {
		waitCachesSynced(t, replicas, t.Errorf, "/api/v1/namespaces", "/api/v1/nodes", "/api/v1/pods",
			"/apis/exportgate.io/v1alpha1/namespaces/"+env.Namespace+"/tppledgers")
		waitLeader(t, replicas)
	})
	// Whatever the steps below do, no API request of a replica may be refused for lack of rights.
	defer checkNoForbidden(t, replicas)

	t.Run("200 concurrent creations fill the cap exactly", func(t *testing.T) {
		const n = 200
		res := createBurst(n, func(i int) (int, string, error) {
			return api.createPod("t2", podJSON("t2", fmt.Sprintf("burst-%03d", i), "burst", 8, never))
		})
		admitted, denied, other := res.admitted, res.denied, res.other
		t.Logf("admitted %d, denied by the cap %d, other %v", admitted, denied, other)
		t.Logf("ledger conflicts (409) %v, CAS retries %v, unavailable %v (summed over replicas)",
			metricTotal(replicas, "exportgate_ledger_conflicts_total"),
			metricTotal(replicas, "exportgate_ledger_retries_total"),
			metricTotal(replicas, "exportgate_ledger_unavailable_total"))
		if admitted != ledgerCapUnits {
			t.Errorf("admitted %d pods (%v TPP), want exactly %d (%v TPP = the cap)",
				admitted, float64(admitted)*tpp8, ledgerCapUnits, capTPP)
		}
		if len(other) > 0 {
			t.Errorf("requests neither admitted nor denied by the cap: %v", other)
		}
		phases, err := podPhases("t2", "app=burst")
		if err != nil {
			t.Fatal(err)
		}
		if float64(len(phases))*tpp8 > capTPP || len(phases) != ledgerCapUnits {
			t.Errorf("%d burst pods stored (%v TPP); cap %v fits exactly %d", len(phases),
				float64(len(phases))*tpp8, capTPP, ledgerCapUnits)
		}
		// Every reservation is claimed by its stored pod: all of it is in use, nothing reserved.
		waitLedger(t, env.Namespace, "IN", "t2", capTPP, 30*time.Second)
	})
	if t.Failed() {
		return
	}

	t.Run("deleted pods free their TPP", func(t *testing.T) {
		phases, _ := podPhases("t2", "app=burst")
		var victims []string
		for name := range phases {
			if len(victims) < 3 {
				victims = append(victims, name)
			}
		}
		deleteQuietly(t, append([]string{"pod", "-n", "t2"}, victims...)...)
		waitLedger(t, env.Namespace, "IN", "t2", capTPP-3*tpp8, 30*time.Second)
		for i := 0; i < 3; i++ {
			code, msg, err := api.createPod("t2", podJSON("t2", fmt.Sprintf("again-%d", i), "burst", 8, never))
			if err != nil || code != 201 {
				t.Errorf("pod again-%d after deletions: %d %s %v, want admitted", i, code, msg, err)
			}
		}
		code, msg, _ := api.createPod("t2", podJSON("t2", "over", "burst", 8, never))
		if code != 403 || !strings.Contains(msg, "tenant cap") {
			t.Errorf("pod over the cap: %d %s, want 403 tenant cap", code, msg)
		}
	})

	t.Run("finished pods free their TPP", func(t *testing.T) {
		// Room for one: a Job pod takes it, runs on a fake H100 node and completes (kwok).
		phases, _ := podPhases("t2", "app=burst")
		for name := range phases {
			deleteQuietly(t, "pod", "-n", "t2", name)
			break
		}
		waitLedger(t, env.Namespace, "IN", "t2", capTPP-tpp8, 30*time.Second)
		if _, stderr, err := applyYAMLAs("alice", jobYAML("t2", "finisher", 1, h100x8)); err != nil {
			t.Fatalf("job in t2: %v %s", err, stderr)
		}
		err := waitFor(func() (bool, string) {
			p, err := podPhases("t2", "app=finisher")
			for _, ph := range p {
				if strings.HasPrefix(ph, "Succeeded") {
					return true, fmt.Sprint(p)
				}
			}
			return false, fmt.Sprint(p, err)
		}, 60*time.Second)
		if err != nil {
			t.Fatalf("job pod did not complete: %v", err)
		}
		// Finished: its TPP is back, so one more pending pod fits, and then the cap is full.
		waitLedger(t, env.Namespace, "IN", "t2", capTPP-tpp8, 30*time.Second)
		code, msg, _ := api.createPod("t2", podJSON("t2", "after-finish", "burst", 8, never))
		if code != 201 {
			t.Errorf("pod after the job finished: %d %s, want admitted", code, msg)
		}
		code, msg, _ = api.createPod("t2", podJSON("t2", "over-2", "burst", 8, never))
		if code != 403 || !strings.Contains(msg, "tenant cap") {
			t.Errorf("pod over the cap: %d %s, want 403 tenant cap", code, msg)
		}
	})

	t.Run("killing and restarting all replicas loses no count", func(t *testing.T) {
		waitLedger(t, env.Namespace, "IN", "t2", capTPP, 30*time.Second)
		for _, w := range replicas {
			w.Kill()
		}
		for _, w := range replicas {
			w.start(policy)
		}
		code, msg, _ := api.createPod("t2", podJSON("t2", "over-3", "burst", 8, never))
		if code != 403 || !strings.Contains(msg, "tenant cap") {
			t.Errorf("pod over the cap after restarting every replica: %d %s, want 403 tenant cap", code, msg)
		}
		// The new leader's reconciler agrees with the pods.
		waitLedger(t, env.Namespace, "IN", "t2", capTPP, 30*time.Second)
		// Taking over (or renewing) the Lease the killed replicas left behind: get + update.
		waitLeader(t, replicas)
	})

	t.Run("relabelled namespace is charged to its new jurisdiction", func(t *testing.T) {
		deleteQuietly(t, "jobs,pods", "--all", "-n", "t2")
		waitLedger(t, env.Namespace, "IN", "t2", 0, 60*time.Second)
		if _, stderr, err := kubectlAs("admin", "label", "ns", "t2", "exportgate.io/jurisdiction=SG", "--overwrite"); err != nil {
			t.Fatalf("admin relabel t2 to SG: %v %s", err, stderr)
		}
		// Every replica's namespace cache has seen the new label (dry run: nothing reserved).
		probe := podJSON("t2", "probe", "probe", 8, never)
		for i, w := range replicas {
			err := waitFor(func() (bool, string) {
				r, err := sendReview(w, fmt.Sprintf("probe-%d", i), "t2", probe, true)
				return err == nil && r.AuditAnnotations["jurisdiction"] == "SG", fmt.Sprint(r, err)
			}, 20*time.Second)
			if err != nil {
				t.Fatalf("replica %d still resolves t2 to another jurisdiction: %v", i, err)
			}
		}
		code, msg, _ := api.createPod("t2", podJSON("t2", "in-sg", "burst", 8, never))
		if code != 201 {
			t.Fatalf("pod in relabelled t2: %d %s, want admitted", code, msg)
		}
		waitLedger(t, env.Namespace, "SG", "t2", tpp8, 30*time.Second)
		if v := readLedger(t, env.Namespace, "IN", "t2"); v.InUse != 0 || v.Reserved != 0 {
			t.Errorf("IN ledger still charges t2 after the relabel: %+v", v)
		}
	})

	t.Run("API server unreachable: capped requests denied, the rest decided as usual", func(t *testing.T) {
		pidData, err := os.ReadFile(filepath.Join(cluster.Dir, "pids", "kube-apiserver.pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(pidData)))
		if err != nil {
			t.Fatal(err)
		}
		// SIGSTOP: the API server accepts TCP connections but never answers, the harder case
		// for a client (timeouts, not refusals).
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		resumed := false
		resume := func() {
			if !resumed {
				syscall.Kill(pid, syscall.SIGCONT)
				resumed = true
			}
		}
		t.Cleanup(resume)

		w := replicas[0]
		check := func(name, ns, pod string, wantAllowed bool, want ...string) {
			r, err := sendReview(w, "down-"+name, ns, pod, false)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			if r.Allowed != wantAllowed {
				t.Errorf("%s: allowed=%v, want %v (%s)", name, r.Allowed, wantAllowed, r.Status.Message)
			}
			for _, s := range want {
				if !strings.Contains(r.Status.Message, s) {
					t.Errorf("%s: message lacks %q: %s", name, s, r.Status.Message)
				}
			}
		}
		check("capped Tier 2 pod", "t2", podJSON("t2", "down-capped", "x", 8, nil), false,
			"usage ledger", "unavailable", "SG")
		check("Tier 1 pod", "t1", podJSON("t1", "down-t1", "x", 8, nil), true)
		check("Tier 3 pod", "t3", podJSON("t3", "down-t3", "x", 8, nil), false, "CN", "prohibited")
		check("CPU-only pod", "t2", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"cpu","namespace":"t2"},"spec":{"containers":[{"name":"c","image":"x"}]}}`, true)
		resume()
		err = waitFor(func() (bool, string) {
			_, _, err := kubectl("get", "--raw", "/readyz")
			return err == nil, fmt.Sprint(err)
		}, 60*time.Second)
		if err != nil {
			t.Fatalf("API server not ready after SIGCONT: %v", err)
		}
		if v := metricTotal(replicas, "exportgate_ledger_unavailable_total"); v < 1 {
			t.Errorf("exportgate_ledger_unavailable_total = %v, want >= 1", v)
		}
	})
}

// waitLeader waits until exactly one replica leads the reconciler (holds the Lease).
func waitLeader(t *testing.T, replicas []*Webhook) {
	t.Helper()
	err := waitFor(func() (bool, string) {
		v := metricTotal(replicas, "exportgate_reconciler_leader")
		return v == 1, fmt.Sprintf("%v replicas lead", v)
	}, 30*time.Second)
	if err != nil {
		t.Errorf("no single reconciler leader: %v", err)
	}
}

// checkNoForbidden fails the test when a replica's log shows an API request refused with 403 (a
// verb the chart's RBAC lacks): exportgate logs the API server's Status as "403 Forbidden: ...
// is forbidden: User ...".
func checkNoForbidden(t *testing.T, replicas []*Webhook) {
	t.Helper()
	for i, w := range replicas {
		data, err := os.ReadFile(w.LogPath)
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "403 Forbidden") || strings.Contains(line, " is forbidden: ") {
				t.Errorf("replica %d: an API request was refused (missing RBAC verb?): %s", i, line)
				break
			}
		}
	}
}
