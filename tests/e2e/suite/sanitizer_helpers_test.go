package e2e_test

// Sanitizer reports and abnormal exits of the exportgate processes the suite starts. Under an
// AddressSanitizer + UndefinedBehaviorSanitizer build (scripts/sanitize.sh e2e) a report only
// reaches the webhook's stderr, which goes to its per-test log, and the process aborts or goes
// on (UBSan recovers by default): without these checks a memory error would at most show up as
// a denial or a refused connection. Every run of a Webhook is checked when it ends under the
// harness's control (Stop, Kill, Restart): the log of that run must hold no report, and the
// process must have exited with status 0 or by a signal the harness sent itself.

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
)

// sanitizerOptions are set for every exportgate child (they do nothing to a normal build). A
// report goes to stderr (the per-test log) and stops the process with SIGABRT, so it also
// shows as an abnormal exit; detect_leaks makes LeakSanitizer report a leak at the graceful
// exit after SIGTERM.
var sanitizerOptions = map[string]string{
	"ASAN_OPTIONS":  "detect_leaks=1:halt_on_error=1:abort_on_error=1:log_path=stderr",
	"UBSAN_OPTIONS": "halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=stderr",
	"TSAN_OPTIONS":  "halt_on_error=1:abort_on_error=1:log_path=stderr",
}

// sanitizerEnv is environ with sanitizerOptions appended to any inherited value of the same
// variable (the last setting of a flag wins, so these cannot be switched off by accident).
func sanitizerEnv(environ []string) []string {
	out := make([]string, 0, len(environ)+len(sanitizerOptions))
	inherited := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if _, ours := sanitizerOptions[k]; ours {
			inherited[k] = v
			continue
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(sanitizerOptions))
	for k := range sanitizerOptions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := sanitizerOptions[k]
		if prev := inherited[k]; prev != "" {
			v = prev + ":" + v
		}
		out = append(out, k+"="+v)
	}
	return out
}

// sanitizerMarkers start a report of ASan, LSan, TSan or UBSan.
var sanitizerMarkers = []string{
	"ERROR: AddressSanitizer",
	"ERROR: LeakSanitizer",
	"WARNING: ThreadSanitizer",
	"ERROR: ThreadSanitizer",
	"ERROR: UndefinedBehaviorSanitizer",
	"SUMMARY: UndefinedBehaviorSanitizer",
}

// isReportLine: a line that starts a report: a marker, or UBSan's "file:line:col: runtime
// error: ..." (or "<unknown>: runtime error: ..."). exportgate's own log lines are JSON objects,
// so a message quoting these words (a client controls much of what is logged) cannot match.
func isReportLine(line string) bool {
	if strings.HasPrefix(strings.TrimSpace(line), "{") {
		return false
	}
	if strings.Contains(line, ": runtime error: ") {
		return true
	}
	for _, m := range sanitizerMarkers {
		if strings.Contains(line, m) {
			return true
		}
	}
	return false
}

// sanitizerReport returns the first sanitizer report in log (its first 40 lines), or "".
func sanitizerReport(log string) string {
	lines := strings.Split(log, "\n")
	for i, line := range lines {
		if !isReportLine(line) {
			continue
		}
		end := i + 40
		if end > len(lines) {
			end = len(lines)
		}
		return strings.Join(lines[i:end], "\n")
	}
	return ""
}

// abnormalExit describes how a process ended when that is not a clean end: any exit status
// but 0, or death by a signal the harness did not send (SIGABRT from a sanitizer or an
// assertion, SIGSEGV...). "" for a clean end. sent holds the signals the harness sent.
func abnormalExit(state *os.ProcessState, sent map[syscall.Signal]bool) string {
	if state == nil {
		return "no exit status (the process was not waited for)"
	}
	ws, ok := state.Sys().(syscall.WaitStatus)
	if !ok {
		return fmt.Sprintf("unknown exit status %v", state)
	}
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return ""
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled() && sent[ws.Signal()]:
		return ""
	case ws.Signaled():
		return fmt.Sprintf("killed by signal %d (%v), which the harness did not send", int(ws.Signal()),
			ws.Signal())
	}
	return fmt.Sprintf("ended as %v", state)
}

// readFrom returns the contents of path from byte offset on ("" when unreadable).
func readFrom(path string, offset int64) string {
	data, err := os.ReadFile(path)
	if err != nil || offset > int64(len(data)) {
		return ""
	}
	return string(data[offset:])
}

// runProblems is what checkRun reports for one run: its log (LogPath from logStart on) holds a
// sanitizer report, or it ended abnormally.
func runProblems(logPath string, logStart int64, state *os.ProcessState,
	sent map[syscall.Signal]bool) []string {
	var problems []string
	if report := sanitizerReport(readFrom(logPath, logStart)); report != "" {
		problems = append(problems, "sanitizer report:\n"+report)
	}
	if why := abnormalExit(state, sent); why != "" {
		problems = append(problems, "ended abnormally: "+why+"\n"+tail(readFrom(logPath, logStart), 30))
	}
	return problems
}

func tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
