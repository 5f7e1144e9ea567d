package e2e_test

// Helpers for cluster mode (`exportgate serve --kubeconfig`): the TPPLedger CRD, a service
// account bound to the chart's RBAC (rendered by helm), N replicas behind a round-robin TCP proxy
// (the honest model of a Service: TLS passes through, every replica serves the same certificate), concurrent pod
// creation through the API server's REST API, ledger reads, and direct AdmissionReviews.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tpp8 is the TPP of one pod of 8 pinned H100s (8 x 15,832).
const tpp8 = 126656.0

// clusterRBAC renders the chart's own RBAC (charts/exportgate/templates/rbac.yaml and its
// ServiceAccount, cluster mode on) for the release namespace ns, so the replicas run with exactly
// the rights the chart grants: not as admin, and not with a copy that could drift from the
// chart. A verb the code needs but the chart lacks fails the cluster-mode tests. The ClusterRole
// and its binding are named exportgate-e2e-<ns>, the ServiceAccount exportgate.
// Each of `sets` is one more --set for the chart (e.g. "kueue.enabled=true").
func clusterRBAC(t *testing.T, ns string, sets ...string) string {
	t.Helper()
	args := []string{"template", "exportgate", chartDir(), "--namespace", ns,
		"--kube-version", serverVersion(t),
		"--set", "cluster.enabled=true",
		"--set", "fullnameOverride=exportgate-e2e-" + ns,
		"--set", "serviceAccount.name=exportgate",
		"--show-only", "templates/serviceaccount.yaml",
		"--show-only", "templates/rbac.yaml"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return mustHelm(t, args...)
}

// ledgerEnv is one test's cluster-mode setup: its own ledger namespace (so ledgers and the Lease
// of earlier tests do not leak in) and a kubeconfig for the exportgate service account there.
type ledgerEnv struct {
	Namespace  string
	Kubeconfig string
}

func setupLedgerEnv(t *testing.T, ns string, sets ...string) ledgerEnv {
	t.Helper()
	applyLedgerCRD(t)
	deleteLedgerNamespace(t, ns)
	mustApply(t, namespaceYAML(ns, nil)+"---\n"+clusterRBAC(t, ns, sets...))
	t.Cleanup(func() { deleteLedgerNamespace(t, ns) })
	kc := tokenKubeconfig(t, ns, "exportgate")
	return ledgerEnv{Namespace: ns, Kubeconfig: kc}
}

// tokenKubeconfig writes a kubeconfig for service account sa of namespace ns (a fresh token,
// valid 2 h) and returns its path.
func tokenKubeconfig(t *testing.T, ns, sa string) string {
	t.Helper()
	token := strings.TrimSpace(mustKubectl(t, "create", "token", sa, "-n", ns, "--duration", "2h"))
	kc := filepath.Join(cluster.Dir, "kubeconfig-"+ns+"-"+sa)
	writeKubeconfig(t, kc, cluster.APIServerURL, cluster.CACert, sa, token, ns)
	return kc
}

// writeKubeconfig writes a kubeconfig at path for `user` with a bearer token against the server
// whose certificate authority is the file caFile; ns ("": none) is the context's namespace.
func writeKubeconfig(t *testing.T, path, server, caFile, user, token, ns string) {
	t.Helper()
	context := "{cluster: e2e, user: " + user + "}"
	if ns != "" {
		context = fmt.Sprintf("{cluster: e2e, user: %s, namespace: %q}", user, ns)
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: %q, certificate-authority: %q}
users:
- name: %s
  user: {token: %q}
contexts:
- name: e2e
  context: %s
current-context: e2e
`, server, caFile, user, token, context)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func deleteLedgerNamespace(t *testing.T, ns string) {
	kubectl("delete", "ns", ns, "--ignore-not-found", "--wait=true", "--timeout=60s")
	kubectl("delete", "clusterrole,clusterrolebinding", "exportgate-e2e-"+ns, "--ignore-not-found")
}

// startReplicas starts n `exportgate serve --kubeconfig` processes sharing env's ledger.
func startReplicas(t *testing.T, env ledgerEnv, policy string, n int, extra ...string) []*Webhook {
	t.Helper()
	return startReplicasWithin(t, env, policy, n, 0, extra...)
}

// startReplicasWithin is startReplicas waiting up to readyTimeout (0: 30 s) for each /readyz.
func startReplicasWithin(t *testing.T, env ledgerEnv, policy string, n int, readyTimeout time.Duration,
	extra ...string) []*Webhook {
	t.Helper()
	var ws []*Webhook
	for i := 0; i < n; i++ {
		w := newWebhook(t, fmt.Sprintf("-r%d", i), append([]string{
			"--kubeconfig", env.Kubeconfig,
			"--ledger-namespace", env.Namespace,
			"--identity", fmt.Sprintf("replica-%d", i),
			"--lease-duration", "4",
			"--reconcile-interval", "1",
			"--reservation-ttl", "10",
		}, extra...))
		w.ReadyTimeout = readyTimeout
		w.start(policy)
		ws = append(ws, w)
	}
	return ws
}

// startFrontedReplicas starts n replicas (startReplicas) behind a round-robin proxy that the
// webhook configurations point at.
func startFrontedReplicas(t *testing.T, env ledgerEnv, policy string, n int, extra ...string) []*Webhook {
	t.Helper()
	replicas := startReplicas(t, env, policy, n, extra...)
	registerProxy(t, startProxy(t, replicas), replicas)
	return replicas
}

// waitCachesSynced waits up to 30 s per replica and cache (an API collection path) for
// exportgate_cache_synced = 1; `fail` (t.Errorf or t.Fatalf) reports each that is not.
func waitCachesSynced(t *testing.T, replicas []*Webhook, fail func(string, ...any), paths ...string) {
	t.Helper()
	for i, w := range replicas {
		for _, path := range paths {
			err := waitFor(func() (bool, string) {
				text, err := w.Metrics()
				v, _ := metricSum(text, "exportgate_cache_synced", fmt.Sprintf("resource=%q", path))
				return err == nil && v == 1, fmt.Sprint(v, err)
			}, 30*time.Second)
			if err != nil {
				fail("replica %d: cache %s not synced: %v", i, path, err)
			}
		}
	}
}

// rrProxy is a round-robin TCP proxy in front of the replicas: each accepted connection goes to
// the next backend that accepts a connection (like a Service that routes to live endpoints).
// Its backends can change while it runs (set), as a Service's endpoints do during a rollout.
type rrProxy struct {
	l        net.Listener
	mu       sync.Mutex
	backends []*Webhook
	next     atomic.Uint64
	wg       sync.WaitGroup
}

func startProxy(t *testing.T, backends []*Webhook) *rrProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rrProxy{l: l}
	p.set(backends)
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { l.Close(); p.wg.Wait() })
	return p
}

func (p *rrProxy) Port() int { return p.l.Addr().(*net.TCPAddr).Port }

func (p *rrProxy) set(ws []*Webhook) {
	p.mu.Lock()
	p.backends = append([]*Webhook(nil), ws...)
	p.mu.Unlock()
}

func (p *rrProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *rrProxy) forward(c net.Conn) {
	defer c.Close()
	p.mu.Lock()
	backends := p.backends
	p.mu.Unlock()
	var b net.Conn
	for i := 0; i < len(backends) && b == nil; i++ {
		w := backends[int(p.next.Add(1))%len(backends)]
		b, _ = net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", w.Port), time.Second)
	}
	if b == nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, b); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

// registerProxy registers the webhook configurations pointing at the proxy; the probe that
// waits for the apiserver to call exportgate watches the first replica's request counter.
func registerProxy(t *testing.T, p *rrProxy, replicas []*Webhook) {
	t.Helper()
	front := &Webhook{t: t, Port: p.Port(), MetricsPort: replicas[0].MetricsPort}
	registerWebhooks(t, front)
}

// apiClient talks to the API server's REST API as a kubeconfig user (for concurrency kubectl
// cannot give).
type apiClient struct {
	http  *http.Client
	token string
}

func newAPIClient(t *testing.T, kubeconfig string) *apiClient {
	t.Helper()
	data, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`token: "?([^"\s}]+)"?`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no token in %s", kubeconfig)
	}
	ca, err := os.ReadFile(cluster.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &apiClient{
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 256}},
		token: string(m[1]),
	}
}

// createPod POSTs a pod; returns the HTTP status and the Status message on failure.
func (c *apiClient) createPod(ns, manifestJSON string) (int, string, error) {
	return c.postObject(fmt.Sprintf("/api/v1/namespaces/%s/pods", ns), manifestJSON)
}

// postObject POSTs a JSON object to an API collection path as the client's user; returns the
// HTTP status and the Status message on failure.
func (c *apiClient) postObject(path, manifestJSON string) (int, string, error) {
	req, err := http.NewRequest("POST", cluster.APIServerURL+path, strings.NewReader(manifestJSON))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var st struct {
		Message string `json:"message"`
	}
	json.Unmarshal(body, &st)
	return resp.StatusCode, st.Message, nil
}

// burstResult counts the answers to a burst of creations: admitted (201), denied by the tenant
// cap (403 naming it), and anything else by its error or status and message.
type burstResult struct {
	admitted, denied int
	other            map[string]int
}

// createBurst runs create(0..n-1) all at once (released together) and counts the answers.
func createBurst(n int, create func(i int) (int, string, error)) burstResult {
	var mu sync.Mutex
	res := burstResult{other: map[string]int{}}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			code, msg, err := create(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				res.other[err.Error()]++
			case code == 201:
				res.admitted++
			case code == 403 && strings.Contains(msg, "tenant cap"):
				res.denied++
			default:
				res.other[fmt.Sprintf("%d %s", code, msg)]++
			}
		}(i)
	}
	close(start)
	wg.Wait()
	return res
}

// capPolicyYAML: the diffusion-2025 preset named `name` with the Tier 2 tenant cap at capTPP, the
// e2e admins, tenants t1 (DE) and t3 (CN), and `extra` appended under spec. t2 is not in the
// tenant list: its tenant and jurisdiction come from its labels.
func capPolicyYAML(name string, capTPP int64, extra string) string {
	return fmt.Sprintf(`apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata:
  name: %s
spec:
  preset: diffusion-2025
  admins:
    users: [admin]
    groups: ["system:masters"]
  tiers:
    tier2:
      tenantCapTPP: %d
  tenants:
  - {name: team-t1, jurisdiction: DE, namespaces: [t1]}
  - {name: team-t3, jurisdiction: CN, namespaces: [t3]}
%s`, name, capTPP, extra)
}

// podJSON is an 8 x H100 pod pinned by nodeSelector; extraSelector adds labels no node has (a pod
// that stays Pending, so the scheduler never needs room for it).
func podJSON(ns, name, app string, gpus int, extraSelector map[string]string) string {
	sel := map[string]string{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
	for k, v := range extraSelector {
		sel[k] = v
	}
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]string{"app": app}},
		"spec": map[string]any{
			"terminationGracePeriodSeconds": 0,
			"nodeSelector":                  sel,
			"containers": []any{map[string]any{
				"name": "main", "image": "registry.example/e2e/worker:1",
				"resources": map[string]any{"limits": map[string]any{"nvidia.com/gpu": gpus}},
			}},
		},
	}
	b, _ := json.Marshal(pod)
	return string(b)
}

// ledgerUsage reads TPPLedger jurisdiction-<cc>: tenant in-use and reserved TPP, and the
// number of outstanding reservations. Zeros when the object does not exist.
type ledgerView struct {
	InUse, Reserved float64
	Reservations    int
	Exists          bool
}

func readLedger(t *testing.T, ns, jurisdiction, tenant string) ledgerView {
	t.Helper()
	name := "jurisdiction-" + strings.ToLower(jurisdiction)
	out, _, err := kubectl("get", "tppledger", name, "-n", ns, "-o", "json", "--ignore-not-found")
	if err != nil {
		t.Fatalf("get tppledger %s: %v", name, err)
	}
	if strings.TrimSpace(out) == "" {
		return ledgerView{}
	}
	var obj struct {
		Spec struct {
			Tenants map[string]struct {
				InUse    float64 `json:"inUseTPP"`
				Reserved float64 `json:"reservedTPP"`
			} `json:"tenants"`
			Reservations []any `json:"reservations"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatal(err)
	}
	u := obj.Spec.Tenants[tenant]
	return ledgerView{InUse: u.InUse, Reserved: u.Reserved, Reservations: len(obj.Spec.Reservations), Exists: true}
}

// waitLedger waits until the tenant's ledger shows inUse TPP and no outstanding reservation.
func waitLedger(t *testing.T, ns, jurisdiction, tenant string, inUse float64, timeout time.Duration) {
	t.Helper()
	err := waitFor(func() (bool, string) {
		v := readLedger(t, ns, jurisdiction, tenant)
		return v.InUse == inUse && v.Reserved == 0, fmt.Sprintf("%+v", v)
	}, timeout)
	if err != nil {
		t.Fatalf("ledger %s tenant %s: want inUse %v and nothing reserved: %v", jurisdiction, tenant, inUse, err)
	}
}

// review sends an AdmissionReview straight to a replica's /validate and returns the response.
type reviewResponse struct {
	Allowed bool `json:"allowed"`
	Status  struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	AuditAnnotations map[string]string `json:"auditAnnotations"`
}

func sendReview(w *Webhook, uid, ns string, pod string, dryRun bool) (reviewResponse, error) {
	body := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
"uid":%q,"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},
"namespace":%q,"operation":"CREATE","userInfo":{"username":"alice"},"object":%s,"dryRun":%t}}`, uid, ns, pod, dryRun)
	c := w.httpsClient()
	c.Timeout = 15 * time.Second
	resp, err := c.Post(fmt.Sprintf("https://127.0.0.1:%d/validate", w.Port), "application/json",
		bytes.NewBufferString(body))
	if err != nil {
		return reviewResponse{}, err
	}
	defer resp.Body.Close()
	var out struct {
		Response reviewResponse `json:"response"`
	}
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return reviewResponse{}, fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	err = json.Unmarshal(data, &out)
	return out.Response, err
}

// metricTotal sums a metric over replicas.
func metricTotal(ws []*Webhook, metric string, matchers ...string) float64 {
	total := 0.0
	for _, w := range ws {
		if text, err := w.Metrics(); err == nil {
			v, _ := metricSum(text, metric, matchers...)
			total += v
		}
	}
	return total
}
