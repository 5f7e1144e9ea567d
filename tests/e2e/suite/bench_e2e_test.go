//go:build benche2e

package e2e_test

// TestBenchE2E is `make bench-e2e` (bench/run-e2e.sh): what exportgate adds to a Pod create on
// the real control plane, how many capped admissions per second the cluster ledger sustains,
// and the memory of a replica with 100,000 Pods in its cache. Not part of `make test` (build tag
// benche2e); it asserts no time, only that the cap holds exactly. Figures go to
// $BENCH_E2E_OUT/bench-e2e.json, which bench/report.py turns into docs/benchmarks.md.
//
//   - Pod-create latency and throughput, 1/16/64 concurrent creators (client-go, protobuf, as
//     a controller would), 80 % CPU-only and 20 % 8 x H100 Pods, in four configurations:
//     (a) no admission check; (b) a ValidatingAdmissionPolicy doing the Tier 3 check in CEL;
//     (c) exportgate standalone, validating webhook only (the chart's standalone default);
//     (d) exportgate cluster mode, 3 replicas, capped Tier 2 tenant, validating and mutating.
//     Pods name a scheduler that does not exist, so nothing schedules or runs them.
//   - Ledger: 64 creators of 8 x H100 Pods in one capped Tier 2 tenant until the cap; the cap
//     must hold exactly (the pods stored sum to the cap and the next one is denied); then the API
//     server's own rate for writes of one object of the same size with resourceVersion
//     preconditions (one chained writer; 64 read-modify-write writers).
//   - Memory: one replica whose Pod list and watch are served by a fake (bench_fakepods_test.go)
//     with 100,000 8 x H100 Pods, everything else by the real API server; RSS after a burst of
//     256 connections of AdmissionReviews.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// benchEnvInt reads a positive integer from the environment.
func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

var (
	benchPointSeconds = benchEnvInt("BENCH_E2E_SECONDS", 6)       // per latency point
	benchCapPods      = benchEnvInt("BENCH_E2E_CAP_PODS", 2000)   // ledger phase: tenant cap in 8 x H100 Pods
	benchMemPods      = benchEnvInt("BENCH_E2E_MEM_PODS", 100000) // memory phase
	benchCreators     = benchEnvInts("BENCH_E2E_CREATORS", []int{1, 16, 64})
)

// benchEnvInts reads a comma-separated list of positive integers from the environment, e.g.
// BENCH_E2E_CREATORS=1 to measure only the one-creator points (a shorter run when only the
// latency at one creator is compared).
func benchEnvInts(name string, def []int) []int {
	var out []int
	for _, f := range strings.Split(os.Getenv(name), ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && v > 0 {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return def
	}
	return out
}

// benchScheduler is a scheduler nobody runs: the Pods stay Pending and unbound, so neither the
// kube-scheduler nor kwok adds load to the API server during the measurement.
const benchScheduler = "exportgate-bench-none"

// ---------------------------------------------------------------- results

type latencyPoint struct {
	Creators int     `json:"creators"`
	Seconds  float64 `json:"seconds"`
	Created  int     `json:"created"`
	GPU      int     `json:"gpu_pods"`
	Denied   int     `json:"denied"`
	Errors   int     `json:"errors"`
	PerS     float64 `json:"creates_per_s"`
	MeanMs   float64 `json:"mean_ms"`
	P50Ms    float64 `json:"p50_ms"`
	P90Ms    float64 `json:"p90_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	// Time the API server's priority and fairness queues held these requests, per request
	// (apiserver_flowcontrol_request_wait_duration_seconds over the point).
	APFWaitMs float64 `json:"apf_wait_ms_per_request"`
	// CPU time (user + system, /proc/PID/stat) per created Pod of each process of the path, in
	// ms: robust to the machine's load where latencies are not (they include run-queue waits).
	CPUMsPerCreate map[string]float64 `json:"cpu_ms_per_create,omitempty"`
	FirstError     string             `json:"first_error,omitempty"`
	Extra          []string           `json:"notes,omitempty"`
}

type configResult struct {
	Key    string         `json:"key"`
	Label  string         `json:"label"`
	Points []latencyPoint `json:"points"`
	// Cluster mode: ledger conflicts and retries summed over replicas during the points.
	LedgerConflicts float64 `json:"ledger_conflicts,omitempty"`
	LedgerRetries   float64 `json:"ledger_retries,omitempty"`
}

type ledgerResult struct {
	Creators          int     `json:"creators"`
	CapPods           int     `json:"cap_pods"`
	CapTPP            float64 `json:"cap_tpp"`
	Admitted          int     `json:"admitted"`
	DeniedByCap       int     `json:"denied_by_cap"`
	Other             int     `json:"other"`
	FirstOther        string  `json:"first_other,omitempty"`
	Seconds           float64 `json:"seconds"` // first create to last admission
	AdmissionsPerS    float64 `json:"admissions_per_s"`
	P50Ms             float64 `json:"p50_ms"`
	P99Ms             float64 `json:"p99_ms"`
	MaxMs             float64 `json:"max_ms"`
	Conflicts         float64 `json:"conflicts"`
	Retries           float64 `json:"retries"`
	Unavailable       float64 `json:"unavailable"`
	LeaseAdmissions   float64 `json:"lease_admissions"` // admitted under a replica's leased headroom
	ConflictsPerAdmit float64 `json:"conflicts_per_admission"`
	RetriesPerAdmit   float64 `json:"retries_per_admission"`
	StoredPods        int     `json:"stored_pods"`
	StoredTPP         float64 `json:"stored_tpp"`
	NextDenied        bool    `json:"next_denied"`
	NextMessage       string  `json:"next_message"`
	LedgerInUse       float64 `json:"ledger_in_use_tpp"`
	CapExact          bool    `json:"cap_exact"`
	LedgerBytes       int     `json:"ledger_object_bytes"`
	// Pods admitted one at a time after the run, once the ledger counted only stored Pods,
	// until the cap denied one (the run's failures leave room under the cap).
	TopUp int `json:"top_up"`
	// Cap denials during the top-up that a settled ledger then reversed (reservations of other
	// requests still counted).
	UnsettledDenials int `json:"unsettled_denials"`
	// The jurisdiction's TPPLedger sampled during the run (every 250 ms).
	MaxLedgerBytes        int `json:"max_ledger_object_bytes"`
	MaxLedgerReservations int `json:"max_ledger_reservations"`
	// "reconcile failed" lines in the replicas' logs during the run.
	ReconcileFailures int `json:"reconcile_failures"`
}

type writeLimitResult struct {
	ObjectBytes   int     `json:"object_bytes"`
	ChainedPerS   float64 `json:"chained_writes_per_s"` // one writer, PUT with the last response's resourceVersion
	ChainedP50Ms  float64 `json:"chained_p50_ms"`
	RMWWriters    int     `json:"rmw_writers"`
	RMWPerS       float64 `json:"rmw_writes_per_s"` // 64 writers: GET, change, PUT with its resourceVersion
	RMWConflicts  int     `json:"rmw_conflicts"`
	RMWSeconds    float64 `json:"rmw_seconds"`
	ChainedSecs   float64 `json:"chained_seconds"`
	ChainedWrites int     `json:"chained_writes"`
	RMWWrites     int     `json:"rmw_writes"`
	// The same chained writes on a copy of the ledger as large as it was during the run.
	LargestBytes        int     `json:"largest_object_bytes"`
	LargestChainedPerS  float64 `json:"largest_chained_writes_per_s"`
	LargestChainedP50Ms float64 `json:"largest_chained_p50_ms"`
}

type memoryResult struct {
	Source        string  `json:"source"`
	Pods          int     `json:"pods"`
	ListedPages   int64   `json:"listed_pages"`
	SyncSeconds   float64 `json:"sync_seconds"`
	InUseTPP      float64 `json:"in_use_tpp_reported"`
	RSSSyncedKiB  int     `json:"rss_synced_kib"`
	BurstConns    int     `json:"burst_connections"`
	BurstRequests int     `json:"burst_requests"`
	BurstErrors   int     `json:"burst_errors"`
	BurstSeconds  float64 `json:"burst_seconds"`
	RSSAfterKiB   int     `json:"rss_after_burst_kib"`
	RSSSettledKiB int     `json:"rss_settled_kib"`
	HWMKiB        int     `json:"hwm_kib"`
	BudgetMiB     float64 `json:"budget_mib"`
}

type benchResults struct {
	Started    string            `json:"started"`
	Kubernetes string            `json:"kubernetes"`
	NProc      int               `json:"nproc"`
	LoadStart  string            `json:"loadavg_start"`
	LoadEnd    string            `json:"loadavg_end"`
	Seconds    float64           `json:"seconds"`
	PointSecs  int               `json:"seconds_per_point"`
	GPUShare   float64           `json:"gpu_share"`
	Configs    []configResult    `json:"configs"`
	Ledger     *ledgerResult     `json:"ledger,omitempty"`
	WriteLimit *writeLimitResult `json:"write_limit,omitempty"`
	Memory     *memoryResult     `json:"memory,omitempty"`
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// ---------------------------------------------------------------- clients

// restConfigFor builds a client-go config from one of the harness's token kubeconfigs, with no
// client-side rate limit (client-go's default of 5 requests/s would be the bottleneck) and
// protobuf, as controllers use.
func restConfigFor(t *testing.T, kubeconfig string) *rest.Config {
	t.Helper()
	data, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var token string
	if m := regexp.MustCompile(`token: "?([^"\s}]+)"?`).FindSubmatch(data); m != nil {
		token = string(m[1])
	}
	cfg := &rest.Config{
		Host:            cluster.APIServerURL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: cluster.CACert},
		QPS:             1e6,
		Burst:           1e6,
		Timeout:         60 * time.Second,
	}
	if token == "" {
		// admin's kubeconfig carries a token too (cluster.sh); keep the failure readable.
		t.Fatalf("no token in %s", kubeconfig)
	}
	return cfg
}

func podsClient(t *testing.T, kubeconfig string) corev1client.CoreV1Interface {
	t.Helper()
	cfg := restConfigFor(t, kubeconfig)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c, err := corev1client.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ---------------------------------------------------------------- pods

// benchPod: a CPU-only web Pod, or (gpu) a training Pod of 8 H100s pinned by nodeSelector.
func benchPod(name string, gpu bool) *corev1.Pod {
	zero := int64(0)
	c := corev1.Container{
		Name:  "web",
		Image: "registry.example/bench/web:1.4.2",
		Ports: []corev1.ContainerPort{{ContainerPort: 8080, Name: "http"}},
		Env: []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "PORT", Value: "8080"},
			{Name: "REGION", Value: "eu-central"}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"),
				corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
	}
	labels := map[string]string{"app": "web", "bench": "e2e"}
	var sel map[string]string
	if gpu {
		c.Name, c.Image = "train", "registry.example/bench/train:2.1"
		c.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"),
				corev1.ResourceMemory: resource.MustParse("64Gi")},
			Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")},
		}
		labels["app"] = "train"
		sel = map[string]string{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			SchedulerName:                 benchScheduler,
			TerminationGracePeriodSeconds: &zero,
			NodeSelector:                  sel,
			Containers:                    []corev1.Container{c},
		},
	}
}

// gpuEvery: one Pod in five asks for 8 H100s (the 80/20 mix of bench/reviews/mix.txt).
const gpuEvery = 5

type createOutcome int

const (
	created createOutcome = iota
	denied
	failed
)

func classify(err error) createOutcome {
	switch {
	case err == nil:
		return created
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
		return denied
	}
	return failed
}

// apfWaitSeconds is the API server's total priority-and-fairness queue wait so far (sum over
// priority levels), from its /metrics as admin.
func apfWaitSeconds(t *testing.T) float64 {
	c := podsClient(t, cluster.KubeconfigAdmin)
	raw, err := c.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		return math.NaN()
	}
	v, _ := metricSum(string(raw), "apiserver_flowcontrol_request_wait_duration_seconds_sum")
	return v
}

// benchProcs: the processes whose CPU time each point reports, by role (several pids of one
// role are summed: the replicas). Set per configuration.
var benchProcs = map[string][]int{}

// cpuSeconds is utime + stime of pid (/proc/PID/stat, clock ticks of 1/100 s).
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndex(s, ")")+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100
}

func cpuByRole() map[string]float64 {
	out := map[string]float64{}
	for role, pids := range benchProcs {
		for _, pid := range pids {
			out[role] += cpuSeconds(pid)
		}
	}
	return out
}

// clusterPid reads DIR/pids/<name>.pid of cluster.sh.
func clusterPid(name string) int {
	data, _ := os.ReadFile(filepath.Join(cluster.Dir, "pids", name+".pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

func setBenchProcs(webhooks ...*Webhook) {
	benchProcs = map[string][]int{"kube-apiserver": {clusterPid("kube-apiserver")}, "etcd": {clusterPid("etcd")}}
	for _, w := range webhooks {
		benchProcs["exportgate"] = append(benchProcs["exportgate"], w.cmd.Process.Pid)
	}
}

// runCreators runs `creators` closed-loop creators in ns for d and returns the point.
func runCreators(t *testing.T, pods corev1client.CoreV1Interface, ns, prefix string, creators int,
	d time.Duration, gpuShare int) latencyPoint {
	t.Helper()
	apf0 := apfWaitSeconds(t)
	cpu0 := cpuByRole()
	var (
		mu                            sync.Mutex
		lat                           []time.Duration
		nCreated, nDenied, nErr, nGPU int
		firstErr                      string
		seq                           atomic.Int64
	)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := 0; w < creators; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				i := seq.Add(1)
				gpu := gpuShare > 0 && i%int64(gpuShare) == 0
				pod := benchPod(fmt.Sprintf("%s-%06d", prefix, i), gpu)
				t0 := time.Now()
				_, err := pods.Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
				el := time.Since(t0)
				out := classify(err)
				mu.Lock()
				switch out {
				case created:
					nCreated++
					mine = append(mine, el)
					if gpu {
						nGPU++
					}
				case denied:
					nDenied++
					if firstErr == "" {
						firstErr = err.Error()
					}
				default:
					nErr++
					if firstErr == "" {
						firstErr = err.Error()
					}
				}
				mu.Unlock()
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	cpu1 := cpuByRole()
	apf1 := apfWaitSeconds(t)
	p := latencyPoint{Creators: creators, Seconds: elapsed, Created: nCreated, GPU: nGPU,
		Denied: nDenied, Errors: nErr, PerS: float64(nCreated) / elapsed, FirstError: firstErr}
	fillPercentiles(lat, &p.MeanMs, &p.P50Ms, &p.P90Ms, &p.P99Ms, &p.MaxMs)
	if nCreated > 0 {
		p.CPUMsPerCreate = map[string]float64{}
		for role, v := range cpu1 {
			p.CPUMsPerCreate[role] = (v - cpu0[role]) * 1000 / float64(nCreated)
		}
	}
	if total := nCreated + nDenied + nErr; total > 0 {
		p.APFWaitMs = (apf1 - apf0) * 1000 / float64(total)
	}
	return p
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fillPercentiles(lat []time.Duration, mean, p50, p90, p99, max *float64) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) float64 {
		i := int(math.Ceil(f*float64(len(lat)))) - 1
		if i < 0 {
			i = 0
		}
		return ms(lat[i])
	}
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	*mean = ms(sum) / float64(len(lat))
	*p50, *p90, *p99, *max = q(0.50), q(0.90), q(0.99), ms(lat[len(lat)-1])
}

// deleteAllPods empties ns (a collection delete, grace 0: the Pods are bound to no node, so they
// go at once) and waits until none is left.
func deleteAllPods(t *testing.T, ns string) {
	t.Helper()
	c := podsClient(t, cluster.KubeconfigAdmin)
	zero := int64(0)
	ctx := context.Background()
	err := waitFor(func() (bool, string) {
		if err := c.Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero},
			metav1.ListOptions{}); err != nil {
			return false, err.Error()
		}
		l, err := c.Pods(ns).List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			return false, err.Error()
		}
		return len(l.Items) == 0, fmt.Sprintf("%d+ pods left", len(l.Items))
	}, 120*time.Second)
	if err != nil {
		t.Fatalf("emptying %s: %v", ns, err)
	}
}

// benchNamespaces creates the namespaces (before any webhook is registered) and waits for
// their default ServiceAccounts (Pods are refused until then).
func benchNamespaces(t *testing.T, nss map[string]map[string]string) {
	t.Helper()
	var docs []string
	for ns, labels := range nss {
		docs = append(docs, namespaceYAML(ns, labels))
	}
	mustApply(t, strings.Join(docs, "---\n"))
	for ns := range nss {
		err := waitFor(func() (bool, string) {
			_, _, err := kubectl("get", "serviceaccount", "default", "-n", ns)
			return err == nil, fmt.Sprint(err)
		}, 60*time.Second)
		if err != nil {
			t.Fatalf("namespace %s: %v", ns, err)
		}
	}
}

// measureConfig: a warm-up, then one point per creator count, the namespace emptied between
// points (and `between` run, e.g. waiting for the ledger to release).
func measureConfig(t *testing.T, key, label, ns string, between func()) configResult {
	t.Helper()
	pods := podsClient(t, cluster.KubeconfigAlice)
	res := configResult{Key: key, Label: label}
	warm := runCreators(t, pods, ns, "warm-"+key, 16, 2*time.Second, gpuEvery)
	if warm.Created == 0 {
		t.Fatalf("%s: warm-up created nothing: %s", label, warm.FirstError)
	}
	deleteAllPods(t, ns)
	if between != nil {
		between()
	}
	for _, c := range benchCreators {
		p := runCreators(t, pods, ns, fmt.Sprintf("%s-c%d", key, c), c,
			time.Duration(benchPointSeconds)*time.Second, gpuEvery)
		t.Logf("%s, %d creators: %d created (%d GPU), %d denied, %d errors, %.0f/s, p50 %.2f ms, "+
			"p99 %.2f ms, APF wait %.2f ms/request, CPU ms per create %v %s", label, c, p.Created, p.GPU, p.Denied,
			p.Errors, p.PerS, p.P50Ms, p.P99Ms, p.APFWaitMs, p.CPUMsPerCreate, p.FirstError)
		// A capped request the ledger could not write in time is denied, fail closed: a figure of
		// the run (the failed column), not a fault of the harness.
		ledgerUnavailable := strings.Contains(p.FirstError, "usage ledger is unavailable")
		if (p.Denied > 0 || p.Errors > 0) && !ledgerUnavailable {
			t.Errorf("%s, %d creators: %d denied, %d failed (first: %s): every bench Pod should be "+
				"admitted", label, c, p.Denied, p.Errors, p.FirstError)
		}
		res.Points = append(res.Points, p)
		deleteAllPods(t, ns)
		if between != nil {
			between()
		}
	}
	return res
}

// ---------------------------------------------------------------- policies

// benchPolicy: capPolicyYAML named bench-e2e, the Tier 2 cap at capTPP, `extra` under spec.
func benchPolicy(capTPP float64, extra string) string {
	return capPolicyYAML("bench-e2e", int64(capTPP), extra)
}

// tier3Codes: the diffusion-2025 preset's Tier 3 jurisdictions (policy/presets/diffusion-2025.yaml).
var tier3Codes = []string{"CN", "HK", "MO", "RU", "BY", "IR", "KP", "AF", "MM", "KH", "CF", "CD", "CU",
	"ER", "HT", "IQ", "LB", "LY", "NI", "SO", "SS", "SD", "SY", "VE", "ZW"}

// vapYAML: configuration (b), the in-process lower bound: a Pod that asks for nvidia.com/gpu in
// a namespace labelled with a Tier 3 jurisdiction is denied, in CEL inside the API server.
func vapYAML() string {
	quoted := make([]string, len(tier3Codes))
	for i, c := range tier3Codes {
		quoted[i] = "'" + c + "'"
	}
	return fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: bench-tier3-gpu
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: [v1]
      operations: [CREATE]
      resources: [pods]
    namespaceSelector:
      matchExpressions:
      - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}
  variables:
  - name: tier3
    expression: "namespaceObject.metadata.?labels[?'exportgate.io/jurisdiction'].orValue('') in [%s]"
  - name: gpus
    expression: >-
      object.spec.containers.exists(c, 'nvidia.com/gpu' in c.?resources.?limits.orValue({}) ||
      'nvidia.com/gpu' in c.?resources.?requests.orValue({})) ||
      object.spec.?initContainers.orValue([]).exists(c, 'nvidia.com/gpu' in c.?resources.?limits.orValue({}) ||
      'nvidia.com/gpu' in c.?resources.?requests.orValue({}))
  validations:
  - expression: "!(variables.tier3 && variables.gpus)"
    messageExpression: "'nvidia.com/gpu in a Tier 3 jurisdiction (' + namespaceObject.metadata.labels['exportgate.io/jurisdiction'] + ')'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: bench-tier3-gpu
spec:
  policyName: bench-tier3-gpu
  validationActions: [Deny]
`, strings.Join(quoted, ", "))
}

// ---------------------------------------------------------------- the benchmark

func TestBenchE2E(t *testing.T) {
	requireExportgate(t)
	out := os.Getenv("BENCH_E2E_OUT")
	if out == "" {
		out = filepath.Join(cluster.Dir, "bench-e2e")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	res := &benchResults{Started: begin.UTC().Format("2006-01-02 15:04 UTC"), NProc: runtime.NumCPU(),
		LoadStart: loadavg(), PointSecs: benchPointSeconds, GPUShare: 1.0 / gpuEvery}
	if v, err := os.ReadFile(filepath.Join(cluster.BinDir, "versions")); err == nil {
		res.Kubernetes = strings.TrimSpace(string(v))
	}
	write := func() {
		res.Seconds = time.Since(begin).Seconds()
		res.LoadEnd = loadavg()
		b, _ := json.MarshalIndent(res, "", " ")
		if err := os.WriteFile(filepath.Join(out, "bench-e2e.json"), b, 0o644); err != nil {
			t.Error(err)
		}
	}
	defer write()

	ensureNamespaces(t) // t1..t3: registerWebhooks probes with a pod in t1
	de := func(tenant string) map[string]string {
		return map[string]string{"exportgate.io/jurisdiction": "DE", "exportgate.io/tenant": tenant}
	}
	in := func(tenant string) map[string]string {
		return map[string]string{"exportgate.io/jurisdiction": "IN", "exportgate.io/tenant": tenant}
	}
	benchNamespaces(t, map[string]map[string]string{
		"bench-a": de("bench-a"), "bench-b": de("bench-b"), "bench-c": de("bench-c"),
		"bench-d": in("bench-d"), "bench-cap": in("bench-cap"), "bench-mem": de("bench-mem"),
	})
	t.Cleanup(func() {
		kubectl("delete", "ns", "bench-a", "bench-b", "bench-c", "bench-d", "bench-cap", "bench-mem",
			"--ignore-not-found", "--wait=false")
	})
	capTPP := float64(benchCapPods) * tpp8
	// Standalone mode takes tenants from the policy; cluster mode from the namespace labels.
	standaloneTenants := "  - {name: bench-c, jurisdiction: DE, namespaces: [bench-c]}\n"
	policy := benchPolicy(capTPP, "")

	t.Run("a no admission check", func(t *testing.T) {
		setBenchProcs()
		res.Configs = append(res.Configs, measureConfig(t, "a", "no webhook", "bench-a", nil))
	})
	t.Run("b ValidatingAdmissionPolicy", func(t *testing.T) {
		mustApply(t, vapYAML())
		t.Cleanup(func() {
			kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", "bench-tier3-gpu",
				"--ignore-not-found")
			time.Sleep(2 * time.Second) // the API server drops it through an informer
		})
		// In force once a GPU Pod in the Tier 3 namespace t3 is refused by it (and proof that it
		// does the check).
		probe := benchPod("vap-probe", true)
		probe.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
		gpu, _ := json.Marshal(probe)
		err := waitFor(func() (bool, string) {
			_, stderr, err := kubectlWith(cluster.KubeconfigAlice, string(gpu), "create", "-n", "t3",
				"--dry-run=server", "-f", "-")
			return err != nil && strings.Contains(stderr, "bench-tier3-gpu"), stderr
		}, 30*time.Second)
		if err != nil {
			t.Fatalf("the ValidatingAdmissionPolicy never denied a GPU Pod in t3: %v", err)
		}
		setBenchProcs()
		res.Configs = append(res.Configs, measureConfig(t, "b", "ValidatingAdmissionPolicy (CEL)", "bench-b", nil))
	})
	t.Run("c exportgate standalone", func(t *testing.T) {
		w := startExportgate(t, benchPolicy(capTPP, standaloneTenants))
		// What the chart registers in standalone mode (webhook.mutating.enabled=auto): the
		// validating webhook only, one call per Pod. (d) keeps both: cluster mode needs /mutate.
		registerValidatingWebhooks(t, w)
		setBenchProcs(w)
		res.Configs = append(res.Configs, measureConfig(t, "c", "exportgate standalone", "bench-c", nil))
	})
	t.Run("d exportgate cluster mode and the ledger", func(t *testing.T) {
		env := setupLedgerEnv(t, "eg-bench")
		replicas := startFrontedReplicas(t, env, policy, 3)
		waitLeader(t, replicas)
		setBenchProcs(replicas...)
		released := func(tenant string) func() {
			return func() { waitLedger(t, env.Namespace, "IN", tenant, 0, 60*time.Second) }
		}
		c0 := metricTotal(replicas, "exportgate_ledger_conflicts_total")
		r0 := metricTotal(replicas, "exportgate_ledger_retries_total")
		cr := measureConfig(t, "d", "exportgate cluster mode (3 replicas, capped Tier 2 tenant)", "bench-d",
			released("bench-d"))
		cr.LedgerConflicts = metricTotal(replicas, "exportgate_ledger_conflicts_total") - c0
		cr.LedgerRetries = metricTotal(replicas, "exportgate_ledger_retries_total") - r0
		res.Configs = append(res.Configs, cr)

		var largest []byte
		res.Ledger, largest = benchLedger(t, env, replicas, capTPP)
		res.WriteLimit = benchWriteLimit(t, env, largest)
		deleteAllPods(t, "bench-cap")
	})
	t.Run("memory of a replica with 100,000 Pods", func(t *testing.T) {
		res.Memory = benchMemory(t, policy)
	})
}

// benchLedger: 64 creators of 8 x H100 Pods in bench-cap (Tier 2, capped at capTPP) until each
// has been denied by the cap. Admissions per second from the first create to the last
// admission; the cap must hold exactly.
func benchLedger(t *testing.T, env ledgerEnv, replicas []*Webhook, capTPP float64) (*ledgerResult, []byte) {
	t.Helper()
	const creators = 64
	pods := podsClient(t, cluster.KubeconfigAlice)
	r := &ledgerResult{Creators: creators, CapPods: benchCapPods, CapTPP: capTPP}
	c0 := metricTotal(replicas, "exportgate_ledger_conflicts_total")
	r0 := metricTotal(replicas, "exportgate_ledger_retries_total")
	u0 := metricTotal(replicas, "exportgate_ledger_unavailable_total")
	l0 := metricTotal(replicas, "exportgate_ledger_lease_admissions_total")
	var (
		mu        sync.Mutex
		lat       []time.Duration
		lastAdmit time.Time
		seq       atomic.Int64
	)
	reconcileFailures := func() (n int) {
		for _, w := range replicas {
			data, _ := os.ReadFile(w.LogPath)
			n += strings.Count(string(data), `"msg":"reconcile failed"`)
		}
		return n
	}
	rf0 := reconcileFailures()
	var largestLedger []byte
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		hc, err := rest.HTTPClientFor(restConfigFor(t, cluster.KubeconfigAdmin))
		if err != nil {
			return
		}
		url := fmt.Sprintf("%s/apis/exportgate.io/v1alpha1/namespaces/%s/tppledgers/jurisdiction-in",
			cluster.APIServerURL, env.Namespace)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(250 * time.Millisecond):
			}
			resp, err := hc.Get(url)
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var o struct {
				Spec struct {
					Reservations []json.RawMessage `json:"reservations"`
				} `json:"spec"`
			}
			if json.Unmarshal(body, &o) == nil {
				if len(body) > r.MaxLedgerBytes {
					largestLedger = body
				}
				r.MaxLedgerBytes = max(r.MaxLedgerBytes, len(body))
				r.MaxLedgerReservations = max(r.MaxLedgerReservations, len(o.Spec.Reservations))
			}
		}
	}()
	start := time.Now()
	giveUp := start.Add(180 * time.Second) // bounds the run should something never deny
	var wg sync.WaitGroup
	for w := 0; w < creators; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(giveUp) {
				i := seq.Add(1)
				t0 := time.Now()
				_, err := pods.Pods("bench-cap").Create(context.Background(),
					benchPod(fmt.Sprintf("cap-%06d", i), true), metav1.CreateOptions{})
				el := time.Since(t0)
				mu.Lock()
				switch {
				case err == nil:
					r.Admitted++
					lat = append(lat, el)
					lastAdmit = time.Now()
				case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "tenant cap"):
					r.DeniedByCap++
				default:
					r.Other++
					if r.FirstOther == "" {
						r.FirstOther = err.Error()
					}
				}
				mu.Unlock()
				if err != nil && strings.Contains(err.Error(), "tenant cap") {
					return // this creator has met the cap
				}
			}
		}()
	}
	wg.Wait()
	close(stopSampling)
	<-sampled
	r.ReconcileFailures = reconcileFailures() - rf0
	r.Seconds = lastAdmit.Sub(start).Seconds()
	if r.Seconds > 0 {
		r.AdmissionsPerS = float64(r.Admitted) / r.Seconds
	}
	var mean, p90 float64
	fillPercentiles(lat, &mean, &r.P50Ms, &p90, &r.P99Ms, &r.MaxMs)
	r.Conflicts = metricTotal(replicas, "exportgate_ledger_conflicts_total") - c0
	r.Retries = metricTotal(replicas, "exportgate_ledger_retries_total") - r0
	r.Unavailable = metricTotal(replicas, "exportgate_ledger_unavailable_total") - u0
	r.LeaseAdmissions = metricTotal(replicas, "exportgate_ledger_lease_admissions_total") - l0
	if r.Admitted > 0 {
		r.ConflictsPerAdmit = r.Conflicts / float64(r.Admitted)
		r.RetriesPerAdmit = r.Retries / float64(r.Admitted)
	}

	// The cap, exactly. Requests that failed for want of the ledger (or whose answer was lost)
	// may have left reservations: they count until claimed or expired (over-counting, never
	// under). Once the ledger shows only the stored Pods, Pods are created one at a time until
	// the cap denies one: then exactly benchCapPods 8 x H100 Pods are stored, no more, and the
	// ledger counts exactly them.
	countStored := func() (n int) {
		l, err := pods.Pods("bench-cap").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range l.Items {
			if q, ok := p.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"]; ok && q.Value() == 8 {
				n++
			}
		}
		return n
	}
	burstStored := countStored()
	waitLedger(t, env.Namespace, "IN", "bench-cap", float64(burstStored)*tpp8, 90*time.Second)
	// A denial is final only on a settled ledger (only stored Pods counted, nothing reserved):
	// one on a ledger that still carries another request's reservation is counted and retried.
	for i := 0; i <= 2*benchCapPods; i++ {
		_, err := pods.Pods("bench-cap").Create(context.Background(), benchPod(fmt.Sprintf("cap-next-%d", i), true),
			metav1.CreateOptions{})
		if err == nil {
			r.TopUp++
			continue
		}
		r.NextDenied = apierrors.IsForbidden(err) && strings.Contains(err.Error(), "tenant cap")
		r.NextMessage = err.Error()
		if !r.NextDenied {
			break
		}
		stored := countStored()
		waitLedger(t, env.Namespace, "IN", "bench-cap", float64(stored)*tpp8, 90*time.Second)
		_, err = pods.Pods("bench-cap").Create(context.Background(), benchPod(fmt.Sprintf("cap-retry-%d", i), true),
			metav1.CreateOptions{})
		if err != nil {
			r.NextDenied = apierrors.IsForbidden(err) && strings.Contains(err.Error(), "tenant cap")
			r.NextMessage = err.Error()
			break
		}
		r.TopUp++
		r.UnsettledDenials++
	}
	r.StoredPods = countStored()
	r.StoredTPP = float64(r.StoredPods) * tpp8
	waitLedger(t, env.Namespace, "IN", "bench-cap", r.StoredTPP, 90*time.Second)
	r.LedgerInUse = readLedger(t, env.Namespace, "IN", "bench-cap").InUse
	r.CapExact = r.StoredTPP <= capTPP && r.StoredPods == benchCapPods && r.NextDenied &&
		r.LedgerInUse == r.StoredTPP
	if raw, _, err := kubectl("get", "tppledger", "jurisdiction-in", "-n", env.Namespace, "-o", "json"); err == nil {
		r.LedgerBytes = len(raw)
	}
	t.Logf("ledger: %d admitted in %.1f s = %.0f/s by %d creators; %d denied by the cap, %d other (%s); "+
		"conflicts %.0f, retries %.0f, unavailable %.0f; stored %d pods = %.0f TPP (cap %.0f); next "+
		"denied %v after %d more (%d denials reversed once settled); ledger in use %.0f; ledger object up to %d bytes, %d "+
		"reservations; %d reconcile failures; %.0f admitted under a lease", r.Admitted, r.Seconds, r.AdmissionsPerS, creators, r.DeniedByCap,
		r.Other, r.FirstOther, r.Conflicts, r.Retries, r.Unavailable, r.StoredPods, r.StoredTPP, capTPP,
		r.NextDenied, r.TopUp, r.UnsettledDenials, r.LedgerInUse, r.MaxLedgerBytes, r.MaxLedgerReservations,
		r.ReconcileFailures, r.LeaseAdmissions)
	if !r.CapExact {
		t.Errorf("the cap did not hold exactly: %+v", *r)
	}
	return r, largestLedger
}

// benchWriteLimit: the API server's own rate for writes of one object like the jurisdiction's
// TPPLedger, measured on a copy of it in a namespace no replica watches. Each write changes an
// annotation (an unchanged object would not reach etcd).
func benchWriteLimit(t *testing.T, env ledgerEnv, largest []byte) *writeLimitResult {
	t.Helper()
	const ns = "bench-writes"
	raw := mustKubectl(t, "get", "tppledger", "jurisdiction-in", "-n", env.Namespace, "-o", "json")
	deleteLedgerNamespace(t, ns)
	mustApply(t, namespaceYAML(ns, nil))
	t.Cleanup(func() { kubectl("delete", "ns", ns, "--ignore-not-found", "--wait=false") })
	copyLedger := func(name string, from []byte) {
		var obj map[string]any
		if err := json.Unmarshal(from, &obj); err != nil {
			t.Fatal(err)
		}
		obj["metadata"] = map[string]any{"name": name, "namespace": ns}
		b, _ := json.Marshal(obj)
		mustKubectl(t, "create", "-f", writeTemp(t, "bench-ledger-"+name+".json", b))
	}
	copyLedger("jurisdiction-in", []byte(raw))
	r := &writeLimitResult{ObjectBytes: len(raw), RMWWriters: 64}
	d := time.Duration(benchPointSeconds) * time.Second
	r.ChainedPerS, r.ChainedP50Ms, r.ChainedWrites, r.ChainedSecs = chainedWrites(t, ns, "jurisdiction-in", d)
	if len(largest) > 0 {
		// The object as large as it was during the ledger run (reservations not yet claimed).
		copyLedger("jurisdiction-in-largest", largest)
		r.LargestBytes = len(largest)
		r.LargestChainedPerS, r.LargestChainedP50Ms, _, _ = chainedWrites(t, ns, "jurisdiction-in-largest", d)
	}
	hc, get, put, errConflict := ledgerWriter(t, ns, "jurisdiction-in")
	_ = hc
	var seq atomic.Int64
	seq.Store(1 << 30)

	// 64 writers, each GET then PUT with what it read, again on 409: what a contended
	// compare-and-swap gets from the API server.
	var writes, conflicts atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < r.RMWWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d {
				o, err := get()
				if err == nil {
					_, err = put(o, seq.Add(1))
				}
				switch {
				case err == nil:
					writes.Add(1)
				case errors.Is(err, errConflict):
					conflicts.Add(1)
				default:
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	r.RMWSeconds = time.Since(start).Seconds()
	r.RMWWrites = int(writes.Load())
	r.RMWConflicts = int(conflicts.Load())
	r.RMWPerS = float64(r.RMWWrites) / r.RMWSeconds
	if e := firstErr.Load(); e != nil {
		t.Errorf("read-modify-write writers: %v", e)
	}
	t.Logf("write limit, %d-byte object: chained %.0f writes/s (p50 %.2f ms); 64 read-modify-write "+
		"writers %.0f writes/s, %d conflicts; %d-byte object: chained %.0f writes/s (p50 %.2f ms)", r.ObjectBytes,
		r.ChainedPerS, r.ChainedP50Ms, r.RMWPerS, r.RMWConflicts, r.LargestBytes, r.LargestChainedPerS,
		r.LargestChainedP50Ms)
	return r
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(cluster.Dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ledgerWriter: GET and PUT (changing an annotation, with the resourceVersion of what is put) of
// one TPPLedger as admin.
func ledgerWriter(t *testing.T, ns, name string) (*http.Client, func() (map[string]any, error),
	func(map[string]any, int64) (map[string]any, error), error) {
	t.Helper()
	hc, err := rest.HTTPClientFor(restConfigFor(t, cluster.KubeconfigAdmin))
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("%s/apis/exportgate.io/v1alpha1/namespaces/%s/tppledgers/%s", cluster.APIServerURL, ns, name)
	get := func() (map[string]any, error) {
		resp, err := hc.Get(url)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var o map[string]any
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET: %s", resp.Status)
		}
		return o, json.NewDecoder(resp.Body).Decode(&o)
	}
	errConflict := errors.New("conflict")
	put := func(o map[string]any, n int64) (map[string]any, error) {
		md := o["metadata"].(map[string]any)
		ann, _ := md["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
		}
		ann["bench.exportgate.io/write"] = strconv.FormatInt(n, 10)
		md["annotations"] = ann
		body, _ := json.Marshal(o)
		req, _ := http.NewRequest("PUT", url, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode == 409 {
			return nil, errConflict
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("PUT: %s", resp.Status)
		}
		var out map[string]any
		return out, json.NewDecoder(resp.Body).Decode(&out)
	}
	return hc, get, put, errConflict
}

// chainedWrites: one writer for d, each PUT carrying the resourceVersion of the previous
// response: no conflicts, one write after the other, the serial rate of writes to the object.
func chainedWrites(t *testing.T, ns, name string, d time.Duration) (perS, p50Ms float64, writes int, secs float64) {
	t.Helper()
	_, get, put, _ := ledgerWriter(t, ns, name)
	cur, err := get()
	if err != nil {
		t.Fatal(err)
	}
	var lat []time.Duration
	start := time.Now()
	for n := int64(1); time.Since(start) < d; n++ {
		t0 := time.Now()
		next, err := put(cur, n)
		if err != nil {
			t.Fatalf("chained write of %s: %v", name, err)
		}
		lat = append(lat, time.Since(t0))
		cur = next
	}
	secs = time.Since(start).Seconds()
	var mean, p90, p99, mx float64
	fillPercentiles(lat, &mean, &p50Ms, &p90, &p99, &mx)
	return float64(len(lat)) / secs, p50Ms, len(lat), secs
}
