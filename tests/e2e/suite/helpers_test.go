package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kubectlTimeout bounds every kubectl call; the webhook's own timeout is 5s.
const kubectlTimeout = 60 * time.Second

// kubectl runs kubectl as the cluster admin (group system:masters).
func kubectl(args ...string) (stdout, stderr string, err error) {
	return kubectlWith(cluster.KubeconfigAdmin, "", args...)
}

// kubectlAs runs kubectl as a named user: "admin" or "alice" (no special
// groups, RBAC rights on namespaces and workloads only).
func kubectlAs(user string, args ...string) (stdout, stderr string, err error) {
	switch user {
	case "admin":
		return kubectlWith(cluster.KubeconfigAdmin, "", args...)
	case "alice":
		return kubectlWith(cluster.KubeconfigAlice, "", args...)
	}
	return "", "", fmt.Errorf("kubectlAs: unknown user %q", user)
}

func kubectlWith(kubeconfig, stdin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(cluster.BinDir, "kubectl"),
		append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), errb.String(), err
}

// applyYAML runs `kubectl apply -f -` as admin.
func applyYAML(manifest string) (stdout, stderr string, err error) {
	return kubectlWith(cluster.KubeconfigAdmin, manifest, "apply", "-f", "-")
}

// applyYAMLAs runs `kubectl apply -f - [extra...]` as user.
func applyYAMLAs(user, manifest string, extra ...string) (stdout, stderr string, err error) {
	kc := cluster.KubeconfigAdmin
	if user == "alice" {
		kc = cluster.KubeconfigAlice
	}
	return kubectlWith(kc, manifest, append([]string{"apply", "-f", "-"}, extra...)...)
}

// mustKubectl runs kubectl as admin and fails the test on error.
func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, _, err := kubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mustApply applies manifest as admin and fails the test on error.
func mustApply(t *testing.T, manifest string) {
	t.Helper()
	if _, _, err := applyYAML(manifest); err != nil {
		t.Fatalf("apply failed: %v\n--- manifest ---\n%s", err, manifest)
	}
}

// waitFor polls cond every 250ms until it returns true or timeout passes.
// cond may return a description of the last state; it is reported on timeout.
func waitFor(cond func() (bool, string), timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return nil
		}
		last = state
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met after %v; last state: %s", timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// getJSON runs `kubectl get ... -o json` as admin and decodes the result.
func getJSON(args ...string) (map[string]any, error) {
	out, _, err := kubectl(append(append([]string{"get"}, args...), "-o", "json")...)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		return nil, fmt.Errorf("decoding kubectl output: %w", err)
	}
	return obj, nil
}

// field walks obj along keys (map keys, or ints for list indexes).
func field(obj any, path ...any) any {
	cur := obj
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

func items(list map[string]any) []map[string]any {
	raw, _ := list["items"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, it := range raw {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// podPhases returns name -> phase (and node) for pods matching selector in ns.
func podPhases(ns, selector string) (map[string]string, error) {
	list, err := getJSON("pods", "-n", ns, "-l", selector)
	if err != nil {
		return nil, err
	}
	res := map[string]string{}
	for _, p := range items(list) {
		name, _ := field(p, "metadata", "name").(string)
		phase, _ := field(p, "status", "phase").(string)
		node, _ := field(p, "spec", "nodeName").(string)
		res[name] = phase + "@" + node
	}
	return res, nil
}

// deleteQuietly removes objects as admin, ignoring "not found"; pods go at
// once (kwok pods have no kubelet to wait for).
func deleteQuietly(t *testing.T, args ...string) {
	t.Helper()
	all := append([]string{"delete", "--ignore-not-found", "--wait=false", "--grace-period=0", "--force"}, args...)
	if _, stderr, err := kubectl(all...); err != nil && !strings.Contains(stderr, "NotFound") {
		t.Logf("cleanup: %v", err)
	}
}

// startBackground starts cmd for the rest of the test, its stdout and stderr to the file logPath,
// killed if the test binary dies; when the test ends it gets SIGTERM and `grace` to exit before
// SIGKILL.
func startBackground(t *testing.T, cmd *exec.Cmd, logPath string, grace time.Duration) {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
}
