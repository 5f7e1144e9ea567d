//go:build benche2e

package e2e_test

// The memory phase of TestBenchE2E: one cluster-mode replica whose Pod list and watch
// (GET /api/v1/pods) are answered by a fake with N Pods, while every other request goes to the
// real API server through the same TLS front. Creating 100,000 Pods through the API server would
// take longer than the whole benchmark may (several minutes at the create rates measured, and
// gigabytes in etcd); what the replica's cache holds does not depend on who served the list.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakePods struct {
	n     int
	tmpl  []byte // one Pod as JSON with __BENCHNAME__ and __BENCHUID__ to replace
	rv    string
	pages atomic.Int64
	proxy *httputil.ReverseProxy
}

func (f *fakePods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/api/v1/pods" {
		f.proxy.ServeHTTP(w, r)
		return
	}
	q := r.URL.Query()
	if q.Get("watch") == "1" || q.Get("watch") == "true" {
		// Nothing changes: hold the watch open until the client's timeout or disconnect.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		d := 5 * time.Minute
		if s, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil && s > 0 {
			d = time.Duration(s) * time.Second
		}
		select {
		case <-r.Context().Done():
		case <-time.After(d):
		}
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > f.n {
		limit = f.n
	}
	from, _ := strconv.Atoi(q.Get("continue"))
	to := min(from+limit, f.n)
	cont := ""
	if to < f.n {
		cont = strconv.Itoa(to)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":%q,"continue":%q},"items":[`,
		f.rv, cont)
	for i := from; i < to; i++ {
		if i > from {
			buf.WriteByte(',')
		}
		p := bytes.Replace(f.tmpl, []byte("__BENCHNAME__"), []byte(fmt.Sprintf("train-%07d", i)), 1)
		p = bytes.Replace(p, []byte("__BENCHUID__"), []byte(fmt.Sprintf("6f7d8c9b-0000-4000-8000-%012d", i)), 1)
		buf.Write(p)
	}
	buf.WriteString("]}")
	f.pages.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf.Bytes())
}

// fakePodTemplate: the pinned 8 x H100 Pod of the HTTPS bench (bench/reviews, shaped like what
// the API server stores: managedFields, owner references, probes, env), bound to a node and
// Running, in namespace ns.
func fakePodTemplate(t *testing.T, ns string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cluster.RepoDir, "bench", "reviews", "gpu-pod-h100-pinned.json"))
	if err != nil {
		t.Fatal(err)
	}
	var review struct {
		Request struct {
			Object map[string]any `json:"object"`
		} `json:"request"`
	}
	if err := json.Unmarshal(data, &review); err != nil {
		t.Fatal(err)
	}
	pod := review.Request.Object
	md := pod["metadata"].(map[string]any)
	md["name"], md["uid"], md["namespace"], md["resourceVersion"] = "__BENCHNAME__", "__BENCHUID__", ns, "1"
	spec := pod["spec"].(map[string]any)
	spec["nodeName"] = "gpu-h100-0"
	pod["status"] = map[string]any{"phase": "Running", "hostIP": "10.0.0.10", "podIP": "10.1.0.10"}
	b, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func startFakePods(t *testing.T, n int, ns string) (*fakePods, string) {
	t.Helper()
	webhookCerts(t)
	target, _ := url.Parse(cluster.APIServerURL)
	ca, err := os.ReadFile(cluster.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	rp.FlushInterval = -1 // watch streams
	f := &fakePods{n: n, tmpl: fakePodTemplate(t, ns), proxy: rp}
	// A resourceVersion the real server knows, so a watch that reached it would be valid.
	out := mustKubectl(t, "get", "--raw", "/api/v1/namespaces/"+ns+"/pods?limit=1")
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	json.Unmarshal([]byte(out), &list)
	f.rv = list.Metadata.ResourceVersion
	cert, err := tls.LoadX509KeyPair(webhookPKI.certFile, webhookPKI.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })
	return f, fmt.Sprintf("https://%s", l.Addr())
}

// rssKiB reads VmRSS or VmHWM of pid.
func procStatusKiB(pid int, field string) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		return 0
	}
	v, _ := strconv.Atoi(string(m[1]))
	return v
}

// burstReviews: the HTTPS bench's request mix (bench/reviews/mix.txt), namespaces moved to ns.
func burstReviews(t *testing.T, ns string) [][]byte {
	t.Helper()
	dir := filepath.Join(cluster.RepoDir, "bench", "reviews")
	mix, err := os.ReadFile(filepath.Join(dir, "mix.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, line := range strings.Split(string(mix), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || strings.HasPrefix(line, "#") {
			continue
		}
		weight, _ := strconv.Atoi(f[0])
		body, err := os.ReadFile(filepath.Join(dir, f[1]))
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.ReplaceAll(body, []byte(`"team-us"`), []byte(strconv.Quote(ns)))
		body = bytes.ReplaceAll(body, []byte(`"team-sg"`), []byte(strconv.Quote(ns)))
		for i := 0; i < weight; i++ {
			out = append(out, body)
		}
	}
	return out
}

// burst opens conns TLS connections to w at once and sends perConn reviews on each (keep-alive).
func burst(w *Webhook, bodies [][]byte, conns, perConn int) (requests, errs int) {
	var wg sync.WaitGroup
	var nReq, nErr atomic.Int64
	ready := make(chan struct{})
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			hc := w.httpsClient()
			hc.Timeout = 30 * time.Second
			hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 1
			<-ready
			for i := 0; i < perConn; i++ {
				resp, err := hc.Post(fmt.Sprintf("https://127.0.0.1:%d/validate", w.Port), "application/json",
					bytes.NewReader(bodies[(c*perConn+i)%len(bodies)]))
				nReq.Add(1)
				if err != nil {
					nErr.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					nErr.Add(1)
				}
			}
		}(c)
	}
	close(ready)
	wg.Wait()
	return int(nReq.Load()), int(nErr.Load())
}

func benchMemory(t *testing.T, policy string) *memoryResult {
	t.Helper()
	const ns = "bench-mem"
	r := &memoryResult{Source: "fake list/watch of /api/v1/pods (bench_fakepods_test.go); the rest from the real API server",
		Pods: benchMemPods, BurstConns: 256, BudgetMiB: 64}
	env := setupLedgerEnv(t, "eg-bench-mem")
	fake, frontURL := startFakePods(t, benchMemPods, ns)
	// The replica's kubeconfig: the fake front (webhook CA), the same service-account token.
	data, err := os.ReadFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kc := regexp.MustCompile(`server: "[^"]*", certificate-authority: "[^"]*"`).ReplaceAllString(string(data),
		fmt.Sprintf("server: %q, certificate-authority: %q", frontURL, filepath.Join(webhookPKI.dir, "ca.crt")))
	if kc == string(data) {
		t.Fatalf("could not point %s at the fake front", env.Kubeconfig)
	}
	env.Kubeconfig = filepath.Join(cluster.Dir, "kubeconfig-exportgate-bench-mem-front")
	if err := os.WriteFile(env.Kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w := startReplicasWithin(t, env, policy, 1, 300*time.Second)[0]
	err = waitFor(func() (bool, string) {
		text, err := w.Metrics()
		v, _ := metricSum(text, "exportgate_cache_synced", `resource="/api/v1/pods"`)
		return err == nil && v == 1, fmt.Sprintf("pages served %d", fake.pages.Load())
	}, 240*time.Second)
	if err != nil {
		t.Fatalf("the Pod cache never synced: %v", err)
	}
	r.SyncSeconds = time.Since(start).Seconds()
	r.ListedPages = fake.pages.Load()
	time.Sleep(3 * time.Second) // a reconcile pass over the cache
	if text, err := w.Metrics(); err == nil {
		r.InUseTPP, _ = metricSum(text, "exportgate_tpp_in_use", `tenant="bench-mem"`)
	}
	pid := w.cmd.Process.Pid
	r.RSSSyncedKiB = procStatusKiB(pid, "VmRSS")

	bodies := burstReviews(t, ns)
	b0 := time.Now()
	r.BurstRequests, r.BurstErrors = burst(w, bodies, r.BurstConns, 20)
	r.BurstSeconds = time.Since(b0).Seconds()
	r.RSSAfterKiB = procStatusKiB(pid, "VmRSS")
	time.Sleep(5 * time.Second)
	r.RSSSettledKiB = procStatusKiB(pid, "VmRSS")
	r.HWMKiB = procStatusKiB(pid, "VmHWM")
	t.Logf("memory: %d Pods from the fake list (%d pages) synced in %.1f s; RSS %.1f MiB synced, %.1f MiB "+
		"after %d requests on %d connections (%d errors), %.1f MiB 5 s later, peak %.1f MiB; in-use TPP "+
		"reported for bench-mem %.0f", r.Pods, r.ListedPages, r.SyncSeconds, float64(r.RSSSyncedKiB)/1024,
		float64(r.RSSAfterKiB)/1024, r.BurstRequests, r.BurstConns, r.BurstErrors,
		float64(r.RSSSettledKiB)/1024, float64(r.HWMKiB)/1024, r.InUseTPP)
	return r
}
