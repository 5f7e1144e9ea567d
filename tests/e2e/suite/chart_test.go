package e2e_test

// The Helm chart (charts/exportgate) against the real control plane:
//   - TestChartServerDryRun: the chart rendered with the default values and with each option set
//     in tests/chart/values/ is accepted by kube-apiserver (`kubectl apply --dry-run=server`),
//     which also compiles the webhooks' CEL matchConditions.
//   - TestChartHelmInstall: `helm install` with webhook.url pointing at an exportgate running on
//     loopback makes the webhook enforce (denial, namespace label guard); a real Prometheus
//     (Debian's package) scrapes it, loads the chart's alert rules, and every query of the
//     chart's Grafana dashboard runs without error and shows the decisions made; `helm upgrade`
//     keeps the generated certificates; `helm uninstall` leaves no webhook configuration behind.
// Self-contained apart from the package's helpers (kubectl, startExportgate, webhookCerts,
// ensureNamespaces, podYAML, expectDenied, waitFor ...).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	chartRelease   = "eg-chart"
	chartNamespace = "exportgate-chart"
)

func chartDir() string { return filepath.Join(cluster.RepoDir, "charts", "exportgate") }

// helm runs the e2e-built helm against the cluster as admin, with its own cache/config dirs.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := filepath.Join(cluster.Dir, "helm-home")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(cluster.BinDir, "helm"), args...)
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+cluster.KubeconfigAdmin,
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func mustHelm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// serverVersion is the apiserver's gitVersion, for `helm template --kube-version`.
func serverVersion(t *testing.T) string {
	t.Helper()
	out := mustKubectl(t, "version", "-o", "json")
	var v struct {
		ServerVersion struct {
			GitVersion string `json:"gitVersion"`
		} `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.ServerVersion.GitVersion == "" {
		t.Fatalf("kubectl version: %v\n%s", err, out)
	}
	return v.ServerVersion.GitVersion
}

func TestChartServerDryRun(t *testing.T) {
	kv := serverVersion(t)
	ns := "exportgate-dryrun"
	mustApply(t, namespaceYAML(ns, nil))
	t.Cleanup(func() { kubectl("delete", "namespace", ns, "--wait=false") })

	values := filepath.Join(cluster.RepoDir, "tests", "chart", "values")
	cases := map[string][]string{
		"default": nil,
		// PrometheusRule and ServiceMonitor need the Prometheus operator's CRDs, cert-manager
		// objects cert-manager's: not installed here; the dashboard is a ConfigMap.
		"cluster+dashboard": {"--set", "cluster.enabled=true", "--set", "metrics.grafanaDashboard.enabled=true"},
		"url":               {"-f", filepath.Join(values, "url.yaml")},
		"relaxed":           {"-f", filepath.Join(values, "relaxed.yaml")},
		"tenants":           {"-f", filepath.Join(values, "tenants.yaml")},
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"template", "dryrun-" + strings.ReplaceAll(name, "+", "-"), chartDir(),
				"--namespace", ns, "--kube-version", kv, "--include-crds"}, extra...)
			rendered := mustHelm(t, args...)
			out, stderr, err := kubectlWith(cluster.KubeconfigAdmin, rendered, "apply", "--dry-run=server", "-f", "-")
			if err != nil {
				t.Fatalf("server dry-run refused the chart (%s): %v\n%s", name, err, stderr)
			}
			for _, kind := range []string{"deployment.apps", "validatingwebhookconfiguration", "service/", "configmap/"} {
				if !strings.Contains(out, kind) && !(kind == "deployment.apps" && name == "url") {
					t.Errorf("%s: no %s in the dry run:\n%s", name, kind, out)
				}
			}
		})
	}
}

// The example namespaces (manifests/namespaces/) are valid objects with both exportgate labels.
func TestChartExampleNamespaces(t *testing.T) {
	dir := filepath.Join(cluster.RepoDir, "manifests", "namespaces")
	out, stderr, err := kubectl("apply", "--dry-run=server", "-f", dir, "-o", "json")
	if err != nil {
		t.Fatalf("server dry-run of %s: %v\n%s", dir, err, stderr)
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) == 0 {
		t.Fatalf("no namespaces in %s: %v", dir, err)
	}
	for _, ns := range list.Items {
		j, tenant := ns.Metadata.Labels["exportgate.io/jurisdiction"], ns.Metadata.Labels["exportgate.io/tenant"]
		if len(j) != 2 || strings.ToUpper(j) != j || tenant == "" {
			t.Errorf("namespace %s: labels %v", ns.Metadata.Name, ns.Metadata.Labels)
		}
	}
}

func TestChartHelmInstall(t *testing.T) {
	requireExportgate(t)
	ensureNamespaces(t)
	webhookCerts(t)
	cleanupWorkloads(t)
	kv := serverVersion(t)

	// Values: the webhook runs outside the cluster (on loopback); tenants as in policyYAML.
	valuesFile := filepath.Join(cluster.Dir, "chart-values.yaml")
	values := fmt.Sprintf(`deployment:
  enabled: false
webhook:
  caBundle: %q
policy:
  admins:
    users: [admin]
    groups: ["system:masters"]
  tenants:
    - {name: team-t1, jurisdiction: DE, namespaces: [t1]}
    - {name: team-t2, jurisdiction: IN, namespaces: [t2]}
    - {name: team-t3, jurisdiction: CN, namespaces: [t3]}
metrics:
  grafanaDashboard:
    enabled: true
`, string(webhookPKI.caPEM))
	if err := os.WriteFile(valuesFile, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}

	// The webhook runs the policy the chart renders (same values), so the chart's policy is
	// what is enforced.
	cm := mustHelm(t, "template", chartRelease, chartDir(), "--namespace", chartNamespace,
		"--kube-version", kv, "-f", valuesFile, "--show-only", "templates/configmap-policy.yaml")
	policy := policyFromConfigMap(t, cm)
	w := startExportgate(t, policy)

	ledgerCRDFor(t, chartRelease, chartNamespace)
	notes := mustHelm(t, "install", chartRelease, chartDir(), "--namespace", chartNamespace, "--create-namespace",
		"-f", valuesFile, "--set", fmt.Sprintf("webhook.url=https://127.0.0.1:%d", w.Port), "--wait", "--timeout", "2m")
	for _, want := range []string{"kubectl label namespace", "exportgate check -f", "kube-system, " + chartNamespace} {
		if !strings.Contains(notes, want) {
			t.Errorf("helm install NOTES lack %q:\n%s", want, notes)
		}
	}
	uninstalled := false
	t.Cleanup(func() {
		if !uninstalled {
			helm(t, "uninstall", chartRelease, "--namespace", chartNamespace, "--wait")
		}
		kubectl("delete", "namespace", chartNamespace, "--wait=false")
	})

	installed := mustKubectl(t, "get", "configmap", chartRelease+"-exportgate-policy", "-n", chartNamespace,
		"-o", `jsonpath={.data.policy\.yaml}`)
	if strings.TrimSpace(installed) != strings.TrimSpace(policy) {
		t.Errorf("installed policy differs from the rendered one:\n%s\n---\n%s", installed, policy)
	}

	// The apiserver picks the configurations up through an informer.
	var stderr string
	var err error
	if werr := waitFor(func() (bool, string) {
		_, stderr, err = applyYAMLAs("alice", podYAML("t3", "chart-probe", h100x8), "--dry-run=server")
		return err != nil && strings.Contains(stderr, "denied"), stderr
	}, 30*time.Second); werr != nil {
		t.Fatalf("the chart's webhook configuration never enforced: %v", werr)
	}

	t.Run("enforces", func(t *testing.T) {
		_, stderr, err := applyYAMLAs("alice", podYAML("t3", "chart-h100", h100x8))
		expectDenied(t, "H100x8 pod in t3 (CN)", stderr, err, "H100")
		notFound(t, "pod", "t3", "chart-h100")
		_, stderr, err = applyYAMLAs("alice", podYAML("t3", "chart-cpu", cpu))
		expectAdmitted(t, "CPU pod in t3", stderr, err)
		_, stderr, err = applyYAMLAs("alice", podYAML("t1", "chart-h100", h100x8))
		expectAdmitted(t, "H100x8 pod in t1 (DE)", stderr, err)
		_, stderr, err = applyYAMLAs("alice", deploymentYAML("t3", "chart-deploy", 2, h100x8))
		expectDenied(t, "H100x8 Deployment in t3", stderr, err, "H100")
	})

	t.Run("namespace label guard", func(t *testing.T) {
		t.Cleanup(func() {
			kubectl("label", "ns", "t2", "exportgate.io/jurisdiction=IN", "--overwrite")
			kubectl("label", "ns", "t2", "chart-test-")
		})
		_, stderr, err := kubectlAs("alice", "label", "ns", "t2", "exportgate.io/jurisdiction=US", "--overwrite")
		if err == nil || !strings.Contains(stderr, "denied") {
			t.Errorf("alice relabelled t2's jurisdiction through the chart's guard: %v\n%s", err, stderr)
		}
		// Other labels are not the guard's business (its matchConditions do not send them).
		if _, stderr, err := kubectlAs("alice", "label", "ns", "t2", "chart-test=1", "--overwrite"); err != nil {
			t.Errorf("alice could not set an unrelated label on t2: %v\n%s", err, stderr)
		}
	})

	t.Run("prometheus scrapes and the dashboard queries answer", func(t *testing.T) {
		prometheusDashboard(t, w, kv, valuesFile)
	})

	t.Run("upgrade keeps the certificates", func(t *testing.T) {
		secret := chartRelease + "-exportgate-tls"
		before := mustKubectl(t, "get", "secret", secret, "-n", chartNamespace, "-o", `jsonpath={.data.ca\.crt}`)
		mustHelm(t, "upgrade", chartRelease, chartDir(), "--namespace", chartNamespace, "--reuse-values",
			"--set", "policy.mode=enforce", "--wait", "--timeout", "2m")
		after := mustKubectl(t, "get", "secret", secret, "-n", chartNamespace, "-o", `jsonpath={.data.ca\.crt}`)
		if before == "" || before != after {
			t.Errorf("helm upgrade replaced the generated CA (lookup not honoured)")
		}
		mustHelm(t, "upgrade", chartRelease, chartDir(), "--namespace", chartNamespace, "--reuse-values",
			"--set", "certificates.regenerate=true", "--wait", "--timeout", "2m")
		regen := mustKubectl(t, "get", "secret", secret, "-n", chartNamespace, "-o", `jsonpath={.data.ca\.crt}`)
		if regen == after {
			t.Errorf("certificates.regenerate=true kept the old CA")
		}
		_, stderr, err := applyYAMLAs("alice", podYAML("t3", "chart-h100-after-upgrade", h100x8), "--dry-run=server")
		expectDenied(t, "H100x8 pod in t3 after upgrades", stderr, err, "H100")
	})

	t.Run("uninstall leaves no webhooks behind", func(t *testing.T) {
		mustHelm(t, "uninstall", chartRelease, "--namespace", chartNamespace, "--wait")
		uninstalled = true
		sel := "app.kubernetes.io/instance=" + chartRelease
		out := mustKubectl(t, "get", "validatingwebhookconfigurations,mutatingwebhookconfigurations", "-l", sel, "-o", "name")
		if strings.TrimSpace(out) != "" {
			t.Errorf("webhook configurations left after helm uninstall:\n%s", out)
		}
		// With the webhook gone, the pod the chart denied is admitted (dry run).
		if err := waitFor(func() (bool, string) {
			_, stderr, err := applyYAMLAs("alice", podYAML("t3", "chart-h100-uninstalled", h100x8), "--dry-run=server")
			return err == nil, stderr
		}, 30*time.Second); err != nil {
			t.Errorf("still denied after uninstall: %v", err)
		}
	})
}

// policyFromConfigMap extracts data.policy.yaml (a literal block) from a rendered ConfigMap.
func policyFromConfigMap(t *testing.T, rendered string) string {
	t.Helper()
	const key = "  policy.yaml: |\n"
	i := strings.Index(rendered, key)
	if i < 0 {
		t.Fatalf("no policy.yaml in:\n%s", rendered)
	}
	var b strings.Builder
	for _, line := range strings.Split(rendered[i+len(key):], "\n") {
		if !strings.HasPrefix(line, "    ") && strings.TrimSpace(line) != "" {
			break
		}
		b.WriteString(strings.TrimPrefix(line, "    ") + "\n")
	}
	return strings.TrimSpace(b.String()) + "\n"
}

// prometheusRuleGroups turns a rendered PrometheusRule into a Prometheus rule file: the `spec:`
// block (which the chart renders last, as `groups:`), dedented.
func prometheusRuleGroups(t *testing.T, rendered string) string {
	t.Helper()
	i := strings.Index(rendered, "\nspec:\n")
	if i < 0 {
		t.Fatalf("no spec in the rendered PrometheusRule:\n%s", rendered)
	}
	var b strings.Builder
	for _, line := range strings.Split(rendered[i+len("\nspec:\n"):], "\n") {
		b.WriteString(strings.TrimPrefix(line, "  ") + "\n")
	}
	return b.String()
}

type promResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

type promVector struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
	} `json:"result"`
}

func promGet(base, path string, q url.Values) (promResponse, error) {
	var r promResponse
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(base + path + "?" + q.Encode())
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("%s: %s: %v", path, resp.Status, err)
	}
	if r.Status != "success" {
		return r, fmt.Errorf("%s: %s %s", path, r.ErrorType, r.Error)
	}
	return r, nil
}

// dashboardVars: what Grafana would put in for the dashboard's variables (as in
// tests/chart/dashboard_queries.py).
var dashboardVars = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "30s", "$__range", "1h",
	"${datasource}", "", "$jurisdiction", ".*")

func prometheusDashboard(t *testing.T, w *Webhook, kv, valuesFile string) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not installed (Debian package prometheus; tests/chart/run.sh installs it)")
	}
	dir := filepath.Join(cluster.Dir, "prometheus")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	rules := mustHelm(t, "template", chartRelease, chartDir(), "--namespace", chartNamespace, "--kube-version", kv,
		"-f", valuesFile, "--set", "metrics.prometheusRule.enabled=true", "--show-only", "templates/prometheusrule.yaml")
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(prometheusRuleGroups(t, rules)), 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yaml]
scrape_configs:
  - job_name: exportgate
    static_configs:
      - targets: ["127.0.0.1:%d"]
        labels: {namespace: %s, pod: loopback}
`, w.MetricsPort, chartNamespace)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:"+fmt.Sprint(port),
		"--log.level=warn")
	cmd.Dir = dir
	startBackground(t, cmd, filepath.Join(cluster.Dir, "logs", "prometheus.log"), 10*time.Second)

	// Scraped: the denial made above is in Prometheus.
	// A query that has a result: what Prometheus holds.
	hasResult := func(query string) func() (bool, string) {
		return func() (bool, string) {
			r, err := promGet(base, "/api/v1/query", url.Values{"query": {query}})
			if err != nil {
				return false, err.Error()
			}
			var v promVector
			json.Unmarshal(r.Data, &v)
			return len(v.Result) > 0, string(r.Data)
		}
	}
	if err := waitFor(hasResult(`exportgate_admission_requests_total{decision="deny"}`), 60*time.Second); err != nil {
		t.Fatalf("prometheus never scraped a denial from exportgate: %v", err)
	}
	// Two samples of the denial, so rate() over the dashboard's windows has something to show.
	if err := waitFor(hasResult(`count_over_time(exportgate_admission_requests_total{decision="deny"}[1m]) >= 2`),
		60*time.Second); err != nil {
		t.Fatalf("prometheus has not two samples of the denial: %v", err)
	}

	// The chart's alert rules load and evaluate without error: once every rule has been evaluated
	// (health "unknown" until then), none is in error.
	type ruleState struct{ Name, Health, LastError string }
	var loaded []ruleState
	if err := waitFor(func() (bool, string) {
		r, err := promGet(base, "/api/v1/rules", url.Values{})
		if err != nil {
			return false, err.Error()
		}
		var rulesData struct {
			Groups []struct {
				Rules []ruleState `json:"rules"`
			} `json:"groups"`
		}
		json.Unmarshal(r.Data, &rulesData)
		loaded = nil
		for _, g := range rulesData.Groups {
			loaded = append(loaded, g.Rules...)
		}
		for _, rule := range loaded {
			if rule.Health == "unknown" || rule.Health == "" {
				return false, "not evaluated yet: " + rule.Name
			}
		}
		return len(loaded) > 0, fmt.Sprintf("%d rules", len(loaded))
	}, 60*time.Second); err != nil {
		t.Fatalf("prometheus did not evaluate the chart's alert rules: %v", err)
	}
	for _, rule := range loaded {
		if rule.Health != "ok" {
			t.Errorf("alert rule %s: %s %s", rule.Name, rule.Health, rule.LastError)
		}
	}

	// Every dashboard query runs; the decision panels show what the scenarios did.
	raw, err := os.ReadFile(filepath.Join(chartDir(), "files", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	queries := 0
	results := map[string][]map[string]string{} // panel title -> label sets returned
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			q := dashboardVars.Replace(tg.Expr)
			r, err := promGet(base, "/api/v1/query", url.Values{"query": {q}})
			if err != nil {
				t.Errorf("panel %q %s: %v\n%s", p.Title, tg.RefID, err, q)
				continue
			}
			var v promVector
			json.Unmarshal(r.Data, &v)
			for _, s := range v.Result {
				results[p.Title] = append(results[p.Title], s.Metric)
			}
		}
	}
	if queries == 0 {
		t.Fatal("the dashboard has no queries")
	}
	has := func(panel string, want map[string]string) bool {
		for _, m := range results[panel] {
			ok := true
			for k, v := range want {
				ok = ok && m[k] == v
			}
			if ok {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		panel string
		want  map[string]string
	}{
		{"Admission decisions", map[string]string{"decision": "allow"}},
		{"Admission decisions", map[string]string{"decision": "deny"}},
		{"Denials by jurisdiction and tier", map[string]string{"jurisdiction": "CN"}},
		{"Decisions in range by kind", map[string]string{"kind": "Pod", "decision": "deny", "jurisdiction": "CN"}},
		{"Decisions in range by kind", map[string]string{"kind": "Pod", "decision": "allow"}},
		{"Decisions in range by kind", map[string]string{"kind": "Deployment", "decision": "deny"}},
	} {
		if !has(c.panel, c.want) {
			t.Errorf("dashboard panel %q: no series with %v; got %v", c.panel, c.want, results[c.panel])
		}
	}
	t.Logf("prometheus: %d alert rules loaded, %d dashboard queries answered", len(loaded), queries)
}
