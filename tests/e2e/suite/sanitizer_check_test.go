package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A clean run's log: exportgate's JSON lines, including messages that quote sanitizer words
// (a client can put anything in a body the error message echoes).
const cleanLog = `==== start #1: policy /tmp/exportgate-e2e/policy-TestX.yaml
{"ts":"2026-11-29T08:40:01.120Z","level":"info","msg":"listening","addr":"127.0.0.1:40123"}
{"ts":"2026-11-29T08:40:02.001Z","level":"warn","msg":"bad request","error":"request body is not valid JSON: x.cpp:1:2: runtime error: ERROR: AddressSanitizer"}
{"ts":"2026-11-29T08:40:09.500Z","level":"info","msg":"signal received","signal":"SIGTERM"}
{"ts":"2026-11-29T08:40:09.700Z","level":"info","msg":"stopped"}
`

// TestSanitizerChecks proves that the checks behind Webhook.Stop/Kill catch what they must: real
// ASan, LSan, UBSan and TSan reports (testdata/sanitizer/, produced by clang 14 from small C
// programs) inside an exportgate log, and abnormal exits of real processes; and that a clean
// run passes.
func TestSanitizerChecks(t *testing.T) {
	reports, err := filepath.Glob(filepath.Join("testdata", "sanitizer", "*.txt"))
	if err != nil || len(reports) != 4 {
		t.Fatalf("want the 4 sanitizer reports in testdata/sanitizer: %v %v", reports, err)
	}
	for _, path := range reports {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		first := ""
		for _, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "====") {
				first = line
				break
			}
		}
		// The report lands in the middle of the log, as when the process dies mid-test.
		lines := strings.SplitAfter(cleanLog, "\n")
		log := strings.Join(lines[:3], "") + string(data) + strings.Join(lines[3:], "")
		got := sanitizerReport(log)
		if got == "" || !strings.Contains(got, first) {
			t.Errorf("%s: not detected (got %q, want a report starting at %q)", path, got, first)
		}
	}
	if got := sanitizerReport(cleanLog); got != "" {
		t.Errorf("clean log flagged as a sanitizer report: %q", got)
	}

	// Exit statuses of real processes.
	run := func(script string, signal syscall.Signal) *os.ProcessState {
		cmd := exec.Command("/bin/sh", "-c", script)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if signal != 0 {
			time.Sleep(100 * time.Millisecond) // let sh reach its sleep (either way it dies by signal)
			cmd.Process.Signal(signal)
		}
		cmd.Wait()
		return cmd.ProcessState
	}
	sentTerm := map[syscall.Signal]bool{syscall.SIGTERM: true}
	cases := []struct {
		name     string
		state    *os.ProcessState
		sent     map[syscall.Signal]bool
		abnormal bool
	}{
		{"exit 0", run("exit 0", 0), sentTerm, false},
		{"exit 23 (LeakSanitizer's exit code)", run("exit 23", 0), sentTerm, true},
		{"SIGABRT (abort_on_error)", run("kill -ABRT $$", 0), sentTerm, true},
		{"SIGSEGV", run("kill -SEGV $$", 0), sentTerm, true},
		{"SIGTERM the harness sent", run("exec sleep 30", syscall.SIGTERM), sentTerm, false},
		{"SIGKILL the harness did not send", run("exec sleep 30", syscall.SIGKILL), sentTerm, true},
		{"no exit status", nil, sentTerm, true},
	}
	for _, c := range cases {
		if why := abnormalExit(c.state, c.sent); (why != "") != c.abnormal {
			t.Errorf("%s: abnormalExit = %q, want abnormal=%v", c.name, why, c.abnormal)
		}
	}

	// The child's options: ours come last, so an inherited detect_leaks=0 cannot win.
	env := sanitizerEnv([]string{"PATH=/bin", "ASAN_OPTIONS=detect_leaks=0"})
	var asan string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "ASAN_OPTIONS="); ok {
			asan = v
		}
	}
	if strings.LastIndex(asan, "detect_leaks=1") < strings.Index(asan, "detect_leaks=0") ||
		!strings.Contains(asan, "abort_on_error=1") {
		t.Errorf("ASAN_OPTIONS for the child = %q", asan)
	}
}

// TestSanitizerChecksLiveLeak runs a real AddressSanitizer program that leaks, with the options
// and the log handling the harness gives exportgate, and requires runProblems (what Stop and
// Kill report) to name both the LeakSanitizer report and the abnormal exit. Needs clang (a
// dependency of `make test` anyway); fails without it.
func TestSanitizerChecksLiveLeak(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Fatal("clang not found (Debian package clang; make deps installs it)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "leak")
	src, _ := filepath.Abs(filepath.Join("testdata", "sanitizer", "leak.c"))
	if out, err := exec.Command(clang, "-g", "-O0", "-fsanitize=address", src, "-o", bin).CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, out)
	}
	logPath := filepath.Join(dir, "leak.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	logf.WriteString("==== start #1\n")
	cmd := exec.Command(bin)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = sanitizerEnv(os.Environ())
	cmd.Run()
	logf.Close()
	problems := strings.Join(runProblems(logPath, 0, cmd.ProcessState, map[syscall.Signal]bool{syscall.SIGTERM: true}), "\n")
	for _, want := range []string{"ERROR: LeakSanitizer", "ended abnormally", "signal 6"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems lack %q:\n%s", want, problems)
		}
	}
}
