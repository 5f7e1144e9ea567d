// Command kube-scheduler is the upstream scheduler, built from the version
// pinned in tests/e2e/go.mod (mirrors cmd/kube-scheduler/scheduler.go). It
// binds pods to the kwok fake nodes (nodeSelector, extended resources).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	os.Exit(cli.Run(app.NewSchedulerCommand()))
}
