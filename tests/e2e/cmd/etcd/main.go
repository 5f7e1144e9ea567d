// Command etcd is etcd's server, at the version Kubernetes itself requires
// (Go's minimal version selection over tests/e2e/go.mod).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
