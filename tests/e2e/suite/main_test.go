// Package e2e_test runs exportgate against a real control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok's fake GPU
// nodes), started on loopback by ../cluster.sh from binaries ../build.sh
// built. TestMain brings the cluster up once and always tears it down.
package e2e_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// cluster describes the running control plane; set by TestMain.
var cluster struct {
	Dir             string // state, kubeconfigs, logs (logs/)
	BinDir          string // kubectl and friends
	E2EDir          string // tests/e2e
	RepoDir         string // repository root
	APIServerURL    string
	CACert          string
	KubeconfigAdmin string
	KubeconfigAlice string
	Env             map[string]string
}

var (
	teardownOnce sync.Once
	teardownFn   func()
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) (code int) {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	cluster.E2EDir = filepath.Dir(wd)
	cluster.RepoDir = filepath.Dir(filepath.Dir(cluster.E2EDir))

	binDir := os.Getenv("E2E_BIN_DIR")
	if binDir == "" {
		fmt.Fprintln(os.Stderr, "e2e: E2E_BIN_DIR not set, running build.sh")
		out, err := runLogged(exec.Command(filepath.Join(cluster.E2EDir, "build.sh")))
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: build.sh failed: %v\n", err)
			return 2
		}
		binDir = lastLine(out)
	}
	cluster.BinDir = binDir

	dir, err := os.MkdirTemp("", "exportgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	cluster.Dir = dir

	keep := os.Getenv("E2E_KEEP") == "1"
	teardownFn = func() {
		down := exec.Command(filepath.Join(cluster.E2EDir, "cluster.sh"), "down", dir)
		down.Stdout, down.Stderr = os.Stderr, os.Stderr
		if err := down.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: cluster.sh down: %v\n", err)
		}
	}
	// Always tear down: on return (deferred), and on SIGINT/SIGTERM.
	defer func() {
		teardown()
		if keep || code != 0 {
			fmt.Fprintf(os.Stderr, "e2e: kept state and logs in %s (logs/)\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "e2e: %v: tearing down the cluster in %s\n", s, dir)
		teardown()
		os.Exit(130)
	}()

	up := exec.Command(filepath.Join(cluster.E2EDir, "cluster.sh"), "up", dir)
	// E2E_OWNER_PID: cluster.sh's watchdog brings the cluster down should
	// this process die without running teardown (e.g. a -timeout panic).
	up.Env = append(os.Environ(), "E2E_BIN_DIR="+binDir, fmt.Sprintf("E2E_OWNER_PID=%d", os.Getpid()))
	if _, err := runLogged(up); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: cluster.sh up failed: %v\n", err)
		return 2
	}
	env, err := readEnvFile(filepath.Join(dir, "env"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	cluster.Env = env
	cluster.APIServerURL = env["APISERVER_URL"]
	cluster.CACert = env["CA_CERT"]
	cluster.KubeconfigAdmin = env["KUBECONFIG_ADMIN"]
	cluster.KubeconfigAlice = env["KUBECONFIG_ALICE"]

	return m.Run()
}

func teardown() {
	teardownOnce.Do(func() {
		stopAllExportgates()
		teardownFn()
	})
}

// runLogged runs cmd with its stderr passed through and returns its stdout.
func runLogged(cmd *exec.Cmd) (string, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	return out.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}
