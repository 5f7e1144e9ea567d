package e2e_test

// TestChartCRDUpgrade: the chart's CRDs follow `helm upgrade` (issue 15), on the real control
// plane with the real helm. The TPPLedger CRD (and the PolicyReport CRD, which the chart owns when
// the cluster has none) are templates with helm.sh/resource-policy: keep:
//   - a fresh install, then an upgrade to a copy of the chart whose CRDs gained a printer column
//     and a schema field: the API server serves the new column and keeps the new field (it would
//     prune a field its schema does not know), and the TPPLedger written before is still there;
//   - an install made the 0.1.x way (CRD in crds/, not owned by the release): a plain upgrade is
//     refused by Helm's ownership check and changes nothing; `--take-ownership` adopts the CRD,
//     applies the change and keeps the objects;
//   - `helm uninstall` keeps the CRDs and the ledgers.
// ledgerCRDFor, used by the other tests that install the chart, lives here too.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	ledgerCRD       = "tppledgers.exportgate.io"
	policyReportCRD = "policyreports.wgpolicyk8s.io"
)

// crdOwner is the Helm release (name, namespace) that owns a CRD, "" when none or absent.
func crdOwner(t *testing.T, crd string) (exists bool, release, namespace string) {
	t.Helper()
	obj, err := getJSON("crd", crd)
	if err != nil {
		if strings.Contains(err.Error(), "NotFound") {
			return false, "", ""
		}
		t.Fatal(err)
	}
	r, _ := field(obj, "metadata", "annotations", "meta.helm.sh/release-name").(string)
	n, _ := field(obj, "metadata", "annotations", "meta.helm.sh/release-namespace").(string)
	return true, r, n
}

// ledgerCRDFor prepares the cluster for a `helm install` of the chart as release/namespace. The
// suite installs the chart several times under different names, and the CRDs are kept on
// uninstall (by design): Helm refuses to install over a CRD another release (or kubectl) made.
// A real cluster has one release; here the CRD is deleted unless this release owns it.
func ledgerCRDFor(t *testing.T, release, namespace string, crds ...string) {
	t.Helper()
	if len(crds) == 0 {
		crds = []string{ledgerCRD}
	}
	for _, crd := range crds {
		exists, r, n := crdOwner(t, crd)
		if !exists || (r == release && n == namespace) {
			continue
		}
		mustKubectl(t, "delete", "crd", crd, "--wait=true", "--timeout=60s")
	}
}

// applyLedgerCRD creates the TPPLedger CRD from the chart's template with kubectl, for tests that
// run exportgate without installing the chart.
func applyLedgerCRD(t *testing.T) {
	t.Helper()
	mustApply(t, mustHelm(t, "template", "exportgate", chartDir(), "--namespace", "exportgate-system",
		"--kube-version", serverVersion(t), "--show-only", "templates/crd-tppledgers.yaml"))
	mustKubectl(t, "wait", "--for=condition=Established", "crd/"+ledgerCRD, "--timeout=30s")
}

// copyChart copies the chart to a new directory and returns it.
func copyChart(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(chartDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chartDir(), path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// editFile replaces the one occurrence of old in dir/rel by new.
func editFile(t *testing.T, dir, rel, old, new string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want 1 (the chart changed: update this test)", rel, old, n)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// changedChart is the chart with a new TPPLedger printer column and schema field, and a new
// PolicyReport printer column: what a later chart version that changes its CRDs looks like.
func changedChart(t *testing.T) string {
	t.Helper()
	dir := copyChart(t, "exportgate-changed")
	editFile(t, dir, "templates/crd-tppledgers.yaml",
		"        - name: Age\n",
		"        - name: E2E-Note\n          type: string\n          jsonPath: .spec.e2eNote\n        - name: Age\n")
	editFile(t, dir, "templates/crd-tppledgers.yaml",
		"                lastReconcileTime:\n",
		"                e2eNote:\n                  type: string\n                lastReconcileTime:\n")
	editFile(t, dir, "templates/policyreports.yaml",
		"        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}\n",
		"        - {name: E2E-Scope, type: string, jsonPath: .scope.name, priority: 2}\n"+
			"        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}\n")
	return dir
}

// oldLayoutChart is the chart as 0.1.x shipped it: the TPPLedger CRD in crds/ (installed once by
// Helm, not owned by the release), not in templates/.
func oldLayoutChart(t *testing.T, kv string) string {
	t.Helper()
	rendered := mustHelm(t, "template", "old", chartDir(), "--namespace", "x", "--kube-version", kv,
		"--show-only", "templates/crd-tppledgers.yaml")
	out, stderr, err := kubectlWith(cluster.KubeconfigAdmin, rendered, "create", "--dry-run=client", "-o", "json", "-f", "-")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var crd map[string]any
	if err := json.Unmarshal([]byte(out), &crd); err != nil {
		t.Fatal(err)
	}
	crd["metadata"] = map[string]any{"name": ledgerCRD,
		"labels": map[string]any{"app.kubernetes.io/part-of": "exportgate"}}
	data, _ := json.MarshalIndent(crd, "", "  ")
	dir := copyChart(t, "exportgate-0.1")
	if err := os.Remove(filepath.Join(dir, "templates", "crd-tppledgers.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "crds"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "crds", "tppledgers.exportgate.io.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	chartYAML := filepath.Join(dir, "Chart.yaml")
	meta, _ := os.ReadFile(chartYAML)
	meta = regexp.MustCompile(`(?m)^version: .*$`).ReplaceAll(meta, []byte("version: 0.1.0"))
	if err := os.WriteFile(chartYAML, meta, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// crdColumns lists the printer column names the API server serves for a CRD's first version.
func crdColumns(t *testing.T, crd string) []string {
	t.Helper()
	obj, err := getJSON("crd", crd)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	cols, _ := field(obj, "spec", "versions", 0, "additionalPrinterColumns").([]any)
	for _, c := range cols {
		if n, ok := field(c, "name").(string); ok {
			names = append(names, n)
		}
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func ledgerYAML(ns, name, jurisdiction, extra string) string {
	return fmt.Sprintf(`apiVersion: exportgate.io/v1alpha1
kind: TPPLedger
metadata: {name: %s, namespace: %s}
spec:
  jurisdiction: %s
  inUseTPP: 126656
  reservedTPP: 0
  tenants: {team-a: {inUseTPP: 126656, reservedTPP: 0}}
%s`, name, ns, jurisdiction, extra)
}

// ledgerUID is the uid and spec.inUseTPP of a TPPLedger ("" when absent).
func ledgerUID(t *testing.T, ns, name string) (uid string, inUse float64) {
	t.Helper()
	obj, err := getJSON("tppledger", name, "-n", ns)
	if err != nil {
		return "", 0
	}
	uid, _ = field(obj, "metadata", "uid").(string)
	inUse, _ = field(obj, "spec", "inUseTPP").(float64)
	return uid, inUse
}

// waitColumns waits until the API server serves a CRD whose columns include (or lack) name.
func waitColumns(t *testing.T, crd, name string, want bool) {
	t.Helper()
	if err := waitFor(func() (bool, string) {
		cols := crdColumns(t, crd)
		return contains(cols, name) == want, strings.Join(cols, ",")
	}, 30*time.Second); err != nil {
		t.Fatalf("%s: column %s present=%v never seen: %v", crd, name, want, err)
	}
}

func TestChartCRDUpgrade(t *testing.T) {
	kv := serverVersion(t)
	valuesFile := filepath.Join(cluster.Dir, "crd-upgrade-values.yaml")
	// The webhook is nowhere (nothing here creates Pods), and must not block anything meanwhile.
	values := `deployment: {enabled: false}
webhook:
  url: https://127.0.0.1:9
  failurePolicy: Ignore
  namespaces: {enabled: false}
`
	if err := os.WriteFile(valuesFile, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	changed := changedChart(t)

	t.Run("install, then upgrade to changed CRDs", func(t *testing.T) {
		const release, ns = "eg-crd", "exportgate-crd"
		ledgerCRDFor(t, release, ns, ledgerCRD, policyReportCRD)
		t.Cleanup(func() {
			helm(t, "uninstall", release, "-n", ns, "--wait")
			kubectl("delete", "namespace", ns, "--wait=false")
		})
		mustHelm(t, "install", release, chartDir(), "-n", ns, "--create-namespace", "-f", valuesFile,
			"--wait", "--timeout", "2m")
		for _, crd := range []string{ledgerCRD, policyReportCRD} {
			if exists, r, n := crdOwner(t, crd); !exists || r != release || n != ns {
				t.Fatalf("%s after install: exists=%v, owned by %q/%q, want the release", crd, exists, r, n)
			}
		}
		mustKubectl(t, "wait", "--for=condition=Established", "crd/"+ledgerCRD, "--timeout=30s")
		mustApply(t, ledgerYAML(ns, "jurisdiction-sg", "SG", ""))
		uid, _ := ledgerUID(t, ns, "jurisdiction-sg")
		if uid == "" {
			t.Fatal("no TPPLedger after apply")
		}
		if contains(crdColumns(t, ledgerCRD), "E2E-Note") {
			t.Fatal("the installed CRD already has the changed chart's column")
		}
		// Before the upgrade the API server refuses a field the schema does not know (kubectl's
		// strict field validation) and prunes it without: that is how the new schema is seen.
		if _, stderr, err := applyYAML(ledgerYAML(ns, "jurisdiction-pruned", "DE", "  e2eNote: before\n")); err == nil ||
			!strings.Contains(stderr, "unknown field") {
			t.Fatalf("the installed schema accepted spec.e2eNote: %v %s", err, stderr)
		}
		if _, stderr, err := kubectlWith(cluster.KubeconfigAdmin, ledgerYAML(ns, "jurisdiction-pruned", "DE", "  e2eNote: before\n"),
			"apply", "--validate=false", "-f", "-"); err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		if obj, _ := getJSON("tppledger", "jurisdiction-pruned", "-n", ns); obj == nil || field(obj, "spec", "e2eNote") != nil {
			t.Fatalf("the API server kept an unknown field (or no object): this test cannot see a schema change: %v", obj)
		}

		mustHelm(t, "upgrade", release, changed, "-n", ns, "-f", valuesFile, "--wait", "--timeout", "2m")
		waitColumns(t, ledgerCRD, "E2E-Note", true)
		waitColumns(t, policyReportCRD, "E2E-Scope", true)
		mustApply(t, ledgerYAML(ns, "jurisdiction-de", "DE", "  e2eNote: after\n"))
		if err := waitFor(func() (bool, string) {
			obj, err := getJSON("tppledger", "jurisdiction-de", "-n", ns)
			if err != nil {
				return false, err.Error()
			}
			note := field(obj, "spec", "e2eNote")
			return note == "after", fmt.Sprint(note)
		}, 30*time.Second); err != nil {
			t.Errorf("the upgraded schema's field was not kept: %v", err)
		}
		// `kubectl get` prints the new column from the API server.
		out := mustKubectl(t, "get", "tppledgers", "-n", ns)
		if !strings.Contains(out, "E2E-NOTE") {
			t.Errorf("kubectl get tppledgers shows no E2E-NOTE column:\n%s", out)
		}
		if after, inUse := ledgerUID(t, ns, "jurisdiction-sg"); after != uid || inUse != 126656 {
			t.Errorf("the TPPLedger written before the upgrade: uid %q -> %q, inUseTPP %v", uid, after, inUse)
		}

		mustHelm(t, "uninstall", release, "-n", ns, "--wait")
		for _, crd := range []string{ledgerCRD, policyReportCRD} {
			if exists, _, _ := crdOwner(t, crd); !exists {
				t.Errorf("helm uninstall deleted %s (resource-policy keep)", crd)
			}
		}
		if after, _ := ledgerUID(t, ns, "jurisdiction-sg"); after != uid {
			t.Errorf("helm uninstall deleted the TPPLedger")
		}
	})

	t.Run("upgrade from an install whose CRD came from crds/", func(t *testing.T) {
		const release, ns = "eg-crd-old", "exportgate-crd-old"
		// The 0.1.x install creates the CRD itself: none may exist before.
		mustKubectl(t, "delete", "crd", ledgerCRD, "--ignore-not-found", "--wait=true", "--timeout=60s")
		if exists, _, _ := crdOwner(t, ledgerCRD); exists {
			t.Fatal("the TPPLedger CRD is still there")
		}
		t.Cleanup(func() {
			helm(t, "uninstall", release, "-n", ns, "--wait")
			kubectl("delete", "namespace", ns, "--wait=false")
		})
		old := oldLayoutChart(t, kv)
		mustHelm(t, "install", release, old, "-n", ns, "--create-namespace", "-f", valuesFile,
			"--wait", "--timeout", "2m")
		if exists, r, _ := crdOwner(t, ledgerCRD); !exists || r != "" {
			t.Fatalf("the 0.1.x layout: CRD exists=%v owned by %q, want created from crds/ and unowned", exists, r)
		}
		mustKubectl(t, "wait", "--for=condition=Established", "crd/"+ledgerCRD, "--timeout=30s")
		mustApply(t, ledgerYAML(ns, "jurisdiction-sg", "SG", ""))
		uid, _ := ledgerUID(t, ns, "jurisdiction-sg")

		// Helm will not take over an object it does not own: refused, nothing changed.
		_, err := helm(t, "upgrade", release, changed, "-n", ns, "-f", valuesFile, "--wait", "--timeout", "2m")
		if err == nil || !strings.Contains(err.Error(), "invalid ownership metadata") ||
			!strings.Contains(err.Error(), ledgerCRD) {
			t.Fatalf("plain upgrade over the crds/ CRD: want Helm's ownership refusal naming %s (docs/install.md quotes it), got %v",
				ledgerCRD, err)
		}
		if contains(crdColumns(t, ledgerCRD), "E2E-Note") {
			t.Error("the refused upgrade changed the CRD")
		}

		// As docs/install.md says: once with --take-ownership.
		mustHelm(t, "upgrade", release, changed, "-n", ns, "-f", valuesFile, "--take-ownership",
			"--wait", "--timeout", "2m")
		waitColumns(t, ledgerCRD, "E2E-Note", true)
		if exists, r, n := crdOwner(t, ledgerCRD); !exists || r != release || n != ns {
			t.Errorf("after --take-ownership the CRD is owned by %q/%q, want %s/%s", r, n, release, ns)
		}
		if after, inUse := ledgerUID(t, ns, "jurisdiction-sg"); after != uid || inUse != 126656 {
			t.Errorf("the TPPLedger written before the adoption: uid %q -> %q, inUseTPP %v", uid, after, inUse)
		}
		// And the next upgrade (back to this chart) needs no flag: the column goes again.
		mustHelm(t, "upgrade", release, chartDir(), "-n", ns, "-f", valuesFile, "--wait", "--timeout", "2m")
		waitColumns(t, ledgerCRD, "E2E-Note", false)
		if after, _ := ledgerUID(t, ns, "jurisdiction-sg"); after != uid {
			t.Errorf("the TPPLedger did not survive the second upgrade")
		}
	})
}
