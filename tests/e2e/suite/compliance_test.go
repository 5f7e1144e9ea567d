package e2e_test

// Compliance evidence on the real control plane: exportgate started with
// --decision-log records the denials of the scenarios, `exportgate log
// verify` passes on that real log, and fails on a tampered copy. The audit of
// existing objects is in audit_test.go.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runExportgate runs the binary with args and returns stdout, stderr and the
// exit code.
func runExportgate(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(requireExportgate(t), args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = sanitizerEnv(os.Environ())
	err := cmd.Run()
	if report := sanitizerReport(errOut.String()); report != "" {
		t.Errorf("exportgate %v printed a sanitizer report:\n%s", args, report)
	}
	if why := abnormalExit(cmd.ProcessState, nil); why != "" && !strings.HasPrefix(why, "exited with status") {
		t.Errorf("exportgate %v ended abnormally: %s", args, why)
	}
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("running exportgate %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// TestExportgateComplianceDecisionLog: the denials of a scenario end up in a
// hash-chained decision log with tenant, jurisdiction, tier, accelerators,
// TPP and policy hash; `log verify` passes on it and names an edited record.
func TestExportgateComplianceDecisionLog(t *testing.T) {
	requireExportgate(t)
	ensureNamespaces(t)
	logFile := filepath.Join(cluster.Dir, fmt.Sprintf("decisions-%s.jsonl", safeName(t.Name())))
	os.Remove(logFile)
	w := startExportgateWithArgs(t, policyYAML(policyOpts{}), "--decision-log", logFile)
	registerWebhooks(t, w)
	cleanupWorkloads(t)

	_, stderr, err := applyYAMLAs("alice", podYAML("t3", "h100", h100x8))
	expectDenied(t, "H100x8 pod in t3", stderr, err, "H100", "CN")
	_, stderr, err = applyYAMLAs("alice", jobYAML("t3", "train", 2, h100x8))
	expectDenied(t, "Job of H100x8 in t3", stderr, err, "H100", "CN")
	_, stderr, err = applyYAMLAs("alice", podYAML("t3", "dry", h100x8), "--dry-run=server")
	expectDenied(t, "dry-run H100x8 pod in t3", stderr, err, "H100", "CN")
	_, stderr, err = applyYAMLAs("alice", podYAML("t1", "h100", h100x8))
	expectAdmitted(t, "H100x8 pod in t1", stderr, err)

	// Stopped cleanly, the log ends with a close record; verify reads it as
	// a compliance officer would.
	w.Stop()
	out, errOut, code := runExportgate(t, "log", "verify", "-o", "json", logFile)
	if code != 0 {
		t.Fatalf("log verify on the real log: exit %d\n%s%s", code, out, errOut)
	}
	var summary struct {
		Records       int      `json:"records"`
		Decisions     int      `json:"decisions"`
		EndsWithClose bool     `json:"ends_with_close"`
		PolicyHashes  []string `json:"policy_hashes"`
	}
	if err := json.Unmarshal([]byte(out), &summary); err != nil {
		t.Fatalf("log verify -o json: %v\n%s", err, out)
	}
	if !summary.EndsWithClose || len(summary.PolicyHashes) != 1 {
		t.Errorf("summary: %+v", summary)
	}

	// The records: one per denial (the probes of registerWebhooks are CPU-only
	// pods, which are neither evaluated nor recorded), each with the evidence.
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	denied := map[string]map[string]any{}
	for _, line := range lines {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, line)
		}
		if r["type"] != "decision" {
			continue
		}
		if r["decision"] != "deny" {
			t.Errorf("unexpected %v record (allows are recorded only with --decision-log-all): %s", r["decision"], line)
			continue
		}
		denied[fmt.Sprintf("%v/%v", r["kind"], r["name"])] = r
	}
	for _, want := range []string{"Pod/h100", "Job/train", "Pod/dry"} {
		r, ok := denied[want]
		if !ok {
			t.Errorf("no deny record for %s; records: %v", want, keys(denied))
			continue
		}
		for field, value := range map[string]any{"namespace": "t3", "tenant": "team-t3",
			"jurisdiction": "CN", "tier": "tier3", "user": "alice", "policy": "e2e"} {
			if r[field] != value {
				t.Errorf("%s: %s = %v, want %v", want, field, r[field], value)
			}
		}
		if !strings.Contains(fmt.Sprint(r["accelerators"]), "H100") || r["uid"] == "" ||
			r["policy_hash"] != summary.PolicyHashes[0] || r["prev"] == "" {
			t.Errorf("%s: incomplete record %v", want, r)
		}
	}
	if r := denied["Pod/dry"]; r != nil && r["dry_run"] != true {
		t.Errorf("the dry-run denial is not marked dry_run: %v", r)
	}
	if summary.Decisions != len(denied) {
		t.Errorf("verify counted %d decisions, the file has %d", summary.Decisions, len(denied))
	}

	// A tampered copy (the first denial turned into an allow) fails, naming
	// the record's line.
	for i, line := range lines {
		if strings.Contains(line, `"decision":"deny"`) {
			lines[i] = strings.Replace(line, `"decision":"deny"`, `"decision":"allow"`, 1)
			tampered := filepath.Join(cluster.Dir, "decisions-tampered.jsonl")
			if err := os.WriteFile(tampered, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out, _, code := runExportgate(t, "log", "verify", tampered)
			if code != 1 || !strings.Contains(out, fmt.Sprintf("%s:%d:", tampered, i+1)) ||
				!strings.Contains(out, "(edited)") {
				t.Errorf("verify on a tampered copy: exit %d, want 1 naming line %d:\n%s", code, i+1, out)
			}
			break
		}
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
