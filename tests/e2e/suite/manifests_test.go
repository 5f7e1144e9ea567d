package e2e_test

import (
	"fmt"
	"sort"
	"strings"
)

// podSpec is what a test pod asks for. product "" means no nodeSelector;
// gpus 0 means a CPU-only pod.
type podSpec struct {
	product string // nvidia.com/gpu.product to pin
	gpus    int    // nvidia.com/gpu limit
}

// render returns the pod spec indented by indent spaces (for templates).
func (s podSpec) render(indent int, restartPolicy string) string {
	var b strings.Builder
	if restartPolicy != "" {
		fmt.Fprintf(&b, "restartPolicy: %s\n", restartPolicy)
	}
	b.WriteString("terminationGracePeriodSeconds: 0\n")
	if s.product != "" {
		fmt.Fprintf(&b, "nodeSelector:\n  nvidia.com/gpu.product: %s\n", s.product)
	}
	b.WriteString("containers:\n- name: main\n  image: registry.example/e2e/worker:1\n")
	if s.gpus > 0 {
		fmt.Fprintf(&b, "  resources:\n    limits:\n      nvidia.com/gpu: %d\n", s.gpus)
	} else {
		b.WriteString("  resources:\n    requests:\n      cpu: 100m\n      memory: 64Mi\n")
	}
	pad := strings.Repeat(" ", indent)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	return pad + strings.Join(lines, "\n"+pad) + "\n"
}

func namespaceYAML(name string, labels map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", name)
	if len(labels) > 0 {
		b.WriteString("  labels:\n")
		keys := make([]string, 0, len(labels))
		for k := range labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "    %s: %q\n", k, labels[k])
		}
	}
	return b.String()
}

func podYAML(ns, name string, s podSpec) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels:
    app: %s
spec:
%s`, name, ns, name, s.render(2, ""))
}

func deploymentYAML(ns, name string, replicas int, s podSpec) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
  namespace: %s
spec:
  replicas: %d
  selector:
    matchLabels:
      app: %s
  template:
    metadata:
      labels:
        app: %s
    spec:
%s`, name, ns, replicas, name, name, s.render(6, ""))
}

func jobYAML(ns, name string, parallelism int, s podSpec) string {
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  name: %s
  namespace: %s
spec:
  parallelism: %d
  completions: %d
  backoffLimit: 0
  template:
    metadata:
      labels:
        app: %s
    spec:
%s`, name, ns, parallelism, parallelism, name, s.render(6, "Never"))
}

func configMapYAML(ns, name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
  namespace: %s
data:
  k: v
`, name, ns)
}
