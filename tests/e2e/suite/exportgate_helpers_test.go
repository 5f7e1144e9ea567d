package e2e_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// exportgateBin is the webhook binary under test: $EXPORTGATE_BIN, else
// build/exportgate at the repository root (../../../build/exportgate from
// this package).
func exportgateBin() string {
	if b := os.Getenv("EXPORTGATE_BIN"); b != "" {
		if abs, err := filepath.Abs(b); err == nil {
			return abs
		}
		return b
	}
	return filepath.Join(cluster.RepoDir, "build", "exportgate")
}

// requireExportgate returns the binary path. Without a binary the test fails
// (a skipped e2e run would look like a passing one).
func requireExportgate(t *testing.T) string {
	t.Helper()
	bin := exportgateBin()
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("exportgate binary %s not found or not executable: build it (make build), or set EXPORTGATE_BIN", bin)
	}
	return bin
}

// ---------------------------------------------------------------- TLS

var webhookPKI struct {
	once     sync.Once
	err      error
	dir      string
	caPEM    []byte
	certFile string
	keyFile  string
}

// webhookCerts makes (once) a CA and a serving certificate for exportgate
// with openssl: the apiserver dials https://127.0.0.1:PORT, so the serving
// certificate carries the IP SAN 127.0.0.1.
func webhookCerts(t *testing.T) {
	t.Helper()
	p := &webhookPKI
	p.once.Do(func() {
		p.dir = filepath.Join(cluster.Dir, "webhook-pki")
		if p.err = os.MkdirAll(p.dir, 0o700); p.err != nil {
			return
		}
		steps := [][]string{
			{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
				"-keyout", "ca.key", "-out", "ca.crt", "-days", "7", "-subj", "/CN=exportgate-e2e-webhook-ca"},
			{"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
				"-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=exportgate.e2e"},
			{"x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
				"-out", "tls.crt", "-days", "7", "-extfile", "tls.ext"},
		}
		ext := "subjectAltName=IP:127.0.0.1,DNS:localhost\n" +
			"keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
		if p.err = os.WriteFile(filepath.Join(p.dir, "tls.ext"), []byte(ext), 0o600); p.err != nil {
			return
		}
		for _, args := range steps {
			cmd := exec.Command("openssl", args...)
			cmd.Dir = p.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				p.err = fmt.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
				return
			}
		}
		p.caPEM, p.err = os.ReadFile(filepath.Join(p.dir, "ca.crt"))
		p.certFile = filepath.Join(p.dir, "tls.crt")
		p.keyFile = filepath.Join(p.dir, "tls.key")
	})
	if p.err != nil {
		t.Fatalf("webhook certificates: %v", p.err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ---------------------------------------------------------------- process

// Webhook is one running `exportgate serve`.
type Webhook struct {
	t           *testing.T
	bin         string
	Port        int
	MetricsPort int
	PolicyPath  string
	LogPath     string
	cmd         *exec.Cmd
	exited      chan struct{}
	starts      int
	ExtraArgs   []string // appended to the serve flags (cluster mode)
	// How long start waits for /readyz (0: 30 s); a replica listing 100,000 Pods needs longer.
	ReadyTimeout time.Duration

	// The current run (one start), for checkRun (sanitizer_helpers_test.go).
	mu       sync.Mutex
	logStart int64                   // where this run's output begins in LogPath
	state    *os.ProcessState        // set before exited is closed
	sent     map[syscall.Signal]bool // signals the harness sent to this run
	checked  bool
}

var (
	running   = map[*Webhook]struct{}{}
	runningMu sync.Mutex
)

// stopAllExportgates kills every exportgate still running (signal teardown, possibly after
// the tests ended: no checks, nothing reported to a test).
func stopAllExportgates() {
	runningMu.Lock()
	ws := make([]*Webhook, 0, len(running))
	for w := range running {
		ws = append(ws, w)
	}
	runningMu.Unlock()
	for _, w := range ws {
		w.stop()
	}
}

// startExportgate starts `exportgate serve` with policyYAML on free loopback
// ports, waits for https://127.0.0.1:PORT/readyz = 200 and stops it when the
// test ends.
func startExportgate(t *testing.T, policyYAML string) *Webhook {
	t.Helper()
	return startExportgateWithArgs(t, policyYAML)
}

// startExportgateWithArgs is startExportgate with extra `serve` flags.
func startExportgateWithArgs(t *testing.T, policyYAML string, extra ...string) *Webhook {
	t.Helper()
	w := newWebhook(t, "", extra)
	w.start(policyYAML)
	return w
}

// newWebhook is an `exportgate serve` not started yet: free loopback ports, the policy file and
// log named after the test (logSuffix tells several of one test apart), `extra` flags; it is
// stopped when the test ends.
func newWebhook(t *testing.T, logSuffix string, extra []string) *Webhook {
	t.Helper()
	bin := requireExportgate(t)
	webhookCerts(t)
	w := &Webhook{
		t:           t,
		bin:         bin,
		Port:        freePort(t),
		MetricsPort: freePort(t),
		PolicyPath:  filepath.Join(cluster.Dir, fmt.Sprintf("policy-%s.yaml", safeName(t.Name()))),
		LogPath: filepath.Join(cluster.Dir, "logs",
			fmt.Sprintf("exportgate-%s%s.log", safeName(t.Name()), logSuffix)),
		ExtraArgs: extra,
	}
	t.Cleanup(w.Stop)
	return w
}

func safeName(s string) string {
	return regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(s, "_")
}

func (w *Webhook) start(policyYAML string) {
	t := w.t
	t.Helper()
	if err := os.WriteFile(w.PolicyPath, []byte(policyYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(w.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w.starts++
	fmt.Fprintf(logf, "==== start #%d: policy %s\n", w.starts, w.PolicyPath)
	var logStart int64
	if st, err := logf.Stat(); err == nil {
		logStart = st.Size()
	}
	args := []string{"serve",
		"--listen", fmt.Sprintf("127.0.0.1:%d", w.Port),
		"--metrics-listen", fmt.Sprintf("127.0.0.1:%d", w.MetricsPort),
		"--policy", w.PolicyPath,
		"--tls-cert", webhookPKI.certFile,
		"--tls-key", webhookPKI.keyFile,
	}
	args = append(args, w.ExtraArgs...)
	// A debugging aid: extra flags for every exportgate the suite starts (e.g. --log-level debug).
	args = append(args, strings.Fields(os.Getenv("E2E_EXPORTGATE_DEBUG_ARGS"))...)
	cmd := exec.Command(w.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = sanitizerEnv(os.Environ())
	// Dies with the test binary even if teardown never runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", w.bin, err)
	}
	w.mu.Lock()
	w.cmd = cmd
	w.exited = make(chan struct{})
	w.logStart, w.state, w.sent, w.checked = logStart, nil, map[syscall.Signal]bool{}, false
	w.mu.Unlock()
	go func(exited chan struct{}) {
		cmd.Wait()
		logf.Close()
		w.mu.Lock()
		w.state = cmd.ProcessState
		w.mu.Unlock()
		close(exited)
	}(w.exited)
	runningMu.Lock()
	running[w] = struct{}{}
	runningMu.Unlock()

	client := w.httpsClient()
	readyTimeout := w.ReadyTimeout
	if readyTimeout == 0 {
		readyTimeout = 30 * time.Second
	}
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-w.exited:
			w.checkRun()
			t.Fatalf("exportgate exited during start-up (%v); %s", cmd.ProcessState, w.logTail(30))
		default:
		}
		resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/readyz", w.Port))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("exportgate not ready on https://127.0.0.1:%d/readyz after %v (last: %v); %s",
				w.Port, readyTimeout, err, w.logTail(30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopGrace is how long a SIGTERMed exportgate may take to drain and exit (a sanitizer build
// is slower, and LeakSanitizer scans the heap at exit) before the harness sends SIGKILL.
const stopGrace = 30 * time.Second

// Stop terminates the process (SIGTERM, then SIGKILL after stopGrace) and checks the run it
// ends (checkRun): a sanitizer report, an exit status other than 0 or a death by a signal the
// harness did not send fails the test, and so does needing SIGKILL. Idempotent.
func (w *Webhook) Stop() {
	if w.stop() {
		w.t.Errorf("exportgate on port %d did not exit within %v of SIGTERM; %s", w.Port, stopGrace,
			w.logTail(20))
	}
	w.checkRun()
}

// Kill sends SIGKILL (a crash the test simulates) and checks the run like Stop.
func (w *Webhook) Kill() {
	w.signal(syscall.SIGKILL)
	<-w.exited
	w.checkRun()
}

// stop ends the process without checking it; true when SIGTERM was not enough.
func (w *Webhook) stop() (killed bool) {
	runningMu.Lock()
	delete(running, w)
	runningMu.Unlock()
	if w.cmd == nil || w.cmd.Process == nil {
		return false
	}
	select {
	case <-w.exited:
		return false
	default:
	}
	w.signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(stopGrace):
		w.signal(syscall.SIGKILL)
		<-w.exited
		killed = true
	}
	return killed
}

func (w *Webhook) signal(sig syscall.Signal) {
	w.mu.Lock()
	w.sent[sig] = true
	w.mu.Unlock()
	w.cmd.Process.Signal(sig)
}

// checkRun fails the test when the run that just ended printed a sanitizer report or ended
// abnormally (sanitizer_helpers_test.go). Once per run.
func (w *Webhook) checkRun() {
	w.mu.Lock()
	if w.checked || w.state == nil {
		w.mu.Unlock()
		return
	}
	w.checked = true
	state, logStart := w.state, w.logStart
	sent := make(map[syscall.Signal]bool, len(w.sent))
	for s := range w.sent {
		sent[s] = true
	}
	w.mu.Unlock()
	for _, p := range runProblems(w.LogPath, logStart, state, sent) {
		w.t.Errorf("exportgate (start #%d, log %s): %s", w.starts, w.LogPath, p)
	}
}

// Restart stops the process and starts it again on the same ports with
// policyYAML.
func (w *Webhook) Restart(policyYAML string) {
	w.t.Helper()
	w.Stop()
	w.start(policyYAML)
}

func (w *Webhook) httpsClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(webhookPKI.caPEM)
	return &http.Client{
		Timeout:   3 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
}

func (w *Webhook) logTail(n int) string {
	data, _ := os.ReadFile(w.LogPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("last lines of %s:\n%s", w.LogPath, strings.Join(lines, "\n"))
}

// Metrics fetches the Prometheus text exposition from the metrics port.
func (w *Webhook) Metrics() (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", w.MetricsPort))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(body), nil
}

// metricSum adds the samples of metric whose labels contain every given
// `name="value"` matcher.
func metricSum(text, metric string, matchers ...string) (float64, bool) {
	sum, found := 0.0, false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, metric) {
			continue
		}
		rest := line[len(metric):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue // a longer metric name
		}
		ok := true
		for _, m := range matchers {
			if !strings.Contains(rest, m) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// ---------------------------------------------------------------- registration

// Webhook configuration registered for the scenarios (all by URL with the
// test CA as caBundle; failurePolicy Fail; timeout 5s):
//   - workloads.exportgate.io (validating) and mutate.exportgate.io
//     (mutating): pods (CREATE), jobs, cronjobs, deployments, replicasets,
//     statefulsets, daemonsets, replicationcontrollers (CREATE, UPDATE),
//     DRA resourceclaims and resourceclaimtemplates (CREATE) and
//     the */scale subresources (UPDATE). namespaceSelector excludes
//     kube-system by its immutable kubernetes.io/metadata.name label, so the
//     control plane's own pods never depend on the webhook.
//   - namespaces.exportgate.io (validating): namespaces and their status and
//     finalize subresources (CREATE, UPDATE),
//     in its own entry WITHOUT a namespaceSelector or objectSelector: a
//     selector on labels could let a label change slip past, and the guard on
//     exportgate.io/* labels must see every change.
const webhookConfigName = "exportgate-e2e"

func webhookConfigYAML(w *Webhook) string {
	ca := base64.StdEncoding.EncodeToString(webhookPKI.caPEM)
	url := fmt.Sprintf("https://127.0.0.1:%d", w.Port)
	const nsSel = `  namespaceSelector:
    matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: [kube-system]
`
	const common = `  failurePolicy: Fail
  matchPolicy: Equivalent
  timeoutSeconds: 5
  sideEffects: NoneOnDryRun
  admissionReviewVersions: [v1]
`
	workloadRules := `  rules:
  - apiGroups: [""]
    apiVersions: [v1]
    operations: [CREATE]
    resources: [pods]
    scope: Namespaced
  - apiGroups: [""]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [replicationcontrollers]
    scope: Namespaced
  - apiGroups: [batch]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [jobs, cronjobs]
    scope: Namespaced
  - apiGroups: [apps]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [deployments, replicasets, statefulsets, daemonsets]
    scope: Namespaced
  - apiGroups: [resource.k8s.io]
    apiVersions: [v1]
    operations: [CREATE]
    resources: [resourceclaims, resourceclaimtemplates]
    scope: Namespaced
`
	scaleRules := `  - apiGroups: [apps]
    apiVersions: [v1]
    operations: [UPDATE]
    resources: [deployments/scale, replicasets/scale, statefulsets/scale]
    scope: Namespaced
  - apiGroups: [""]
    apiVersions: [v1]
    operations: [UPDATE]
    resources: [replicationcontrollers/scale]
    scope: Namespaced
`
	return fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: %[1]s
webhooks:
- name: workloads.exportgate.io
  clientConfig:
    url: %[2]s/validate
    caBundle: %[3]s
%[4]s%[5]s%[6]s%[7]s- name: namespaces.exportgate.io
  clientConfig:
    url: %[2]s/validate
    caBundle: %[3]s
  rules:
  - apiGroups: [""]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [namespaces, namespaces/status, namespaces/finalize]
    scope: Cluster
%[6]s---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: %[1]s
webhooks:
- name: mutate.exportgate.io
  clientConfig:
    url: %[2]s/mutate
    caBundle: %[3]s
  reinvocationPolicy: Never
%[4]s%[8]s%[6]s`, webhookConfigName, url, ca, workloadRules, scaleRules, common, nsSel,
		nsSel)
}

// registerWebhooks installs the validating and mutating configurations
// pointing at w, waits until the apiserver calls the webhook, and removes
// them when the test ends (before w stops: cleanups run in reverse).
func registerWebhooks(t *testing.T, w *Webhook) {
	t.Helper()
	registerWebhookConfig(t, w, webhookConfigYAML(w))
}

// registerValidatingWebhooks is registerWebhooks without the mutating
// configuration: what the chart registers in standalone mode by default
// (webhook.mutating.enabled=auto), one webhook call per Pod create.
func registerValidatingWebhooks(t *testing.T, w *Webhook) {
	t.Helper()
	validating, _, found := strings.Cut(webhookConfigYAML(w), "\n---\n")
	if !found || strings.Contains(validating, "MutatingWebhookConfiguration") {
		t.Fatalf("webhookConfigYAML: no validating configuration of its own:\n%s", validating)
	}
	registerWebhookConfig(t, w, validating)
}

func registerWebhookConfig(t *testing.T, w *Webhook, config string) {
	t.Helper()
	mustApply(t, config)
	t.Cleanup(func() {
		kubectl("delete", "--ignore-not-found", "validatingwebhookconfiguration,mutatingwebhookconfiguration", webhookConfigName)
		// Let the apiserver drop the configuration before the next test.
		waitFor(func() (bool, string) {
			out, _, _ := kubectl("get", "validatingwebhookconfiguration,mutatingwebhookconfiguration", "-o", "name")
			return !strings.Contains(out, webhookConfigName), out
		}, 10*time.Second)
		time.Sleep(time.Second)
	})
	// The apiserver picks configurations up through an informer: wait until
	// a (server-side dry-run) pod creation reaches exportgate, seen in its
	// request counter, with a fixed pause as the fallback.
	before := requestsSeen(w)
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		applyYAMLAs("admin", podYAML("t1", fmt.Sprintf("probe-%d", i), podSpec{}), "--dry-run=server")
		if before >= 0 && requestsSeen(w) > before {
			return
		}
		if before < 0 && i >= 6 {
			return // no metrics to watch; 6 probes = a few seconds
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Going on would test an API server that does not call exportgate (a denial test fails
	// confusingly, an allow test passes for nothing).
	t.Fatalf("registerWebhooks: no admission request reached exportgate within 15s of registering it; %s", w.logTail(20))
}

// requestsSeen is exportgate_admission_requests_total summed, or -1.
func requestsSeen(w *Webhook) float64 {
	text, err := w.Metrics()
	if err != nil {
		return -1
	}
	v, ok := metricSum(text, "exportgate_admission_requests_total")
	if !ok {
		return -1
	}
	return v
}

// ---------------------------------------------------------------- policy & namespaces

type policyOpts struct {
	mode               string // enforce (default), warn, audit
	workloadEarlyCheck *bool  // nil: the policy's default
}

// policyYAML is the scenarios' policy: the diffusion-2025 preset, the
// cluster admin as policy admin, and every test namespace in the tenant
// list with its jurisdiction (standalone mode resolves tenants from the
// policy). `nolabel` is in no tenant.
func policyYAML(o policyOpts) string {
	mode := o.mode
	if mode == "" {
		mode = "enforce"
	}
	early := ""
	if o.workloadEarlyCheck != nil {
		early = fmt.Sprintf("  workloadEarlyCheck: %t\n", *o.workloadEarlyCheck)
	}
	return fmt.Sprintf(`apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata:
  name: e2e
spec:
  preset: diffusion-2025
  mode: %s
%s  admins:
    users: [admin]
    groups: ["system:masters"]
  tenants:
  - {name: team-t1, jurisdiction: DE, namespaces: [t1]}
  - {name: team-t2, jurisdiction: IN, namespaces: [t2]}
  - {name: team-t3, jurisdiction: CN, namespaces: [t3]}
`, mode, early)
}

// testNamespaces: name -> exportgate.io/jurisdiction label ("" = none); each labelled one is
// also its own tenant (exportgate.io/tenant=<name>).
var testNamespaces = map[string]string{"t1": "DE", "t2": "IN", "t3": "CN", "nolabel": ""}

// ensureNamespaces creates (or resets) the scenario namespaces as admin,
// with their labels, and waits for their default service accounts.
func ensureNamespaces(t *testing.T) {
	t.Helper()
	var docs []string
	for ns, j := range testNamespaces {
		labels := map[string]string{}
		if j != "" {
			// Each labelled namespace is explicitly its own tenant: a namespace without a tenant
			// gets no controlled accelerators in a capped tier (issue 13).
			labels["exportgate.io/jurisdiction"] = j
			labels["exportgate.io/tenant"] = ns
		}
		docs = append(docs, namespaceYAML(ns, labels))
	}
	mustApply(t, strings.Join(docs, "---\n"))
	for ns := range testNamespaces {
		err := waitFor(func() (bool, string) {
			_, _, err := kubectl("get", "serviceaccount", "default", "-n", ns)
			return err == nil, fmt.Sprint(err)
		}, 60*time.Second)
		if err != nil {
			t.Fatalf("namespace %s: no default service account: %v", ns, err)
		}
	}
}

// setupExportgate: namespaces, exportgate with policy, webhooks registered.
func setupExportgate(t *testing.T, o policyOpts) *Webhook {
	t.Helper()
	requireExportgate(t)
	ensureNamespaces(t)
	w := startExportgate(t, policyYAML(o))
	registerWebhooks(t, w)
	return w
}

// cleanupWorkloads deletes everything a scenario may have created in the
// test namespaces (registered after setupExportgate, so it runs while the
// webhook is still up).
func cleanupWorkloads(t *testing.T) {
	t.Cleanup(func() {
		for ns := range testNamespaces {
			deleteQuietly(t, "deployments,replicasets,jobs,pods", "--all", "-n", ns)
		}
	})
}
