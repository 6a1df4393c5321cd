//go:build e2e

// Package admission drives real admissions through the whole chain, every
// piece a real process on loopback: a client-go client (what kubectl
// does) → kube-apiserver and etcd → Gatekeeper v3.23.1's mutating and
// validating webhooks → `assay serve` with the notation plugin → OCI
// registries holding images signed in the test.
//
// TestMain starts the control plane with controller-runtime's envtest
// (the kube-apiserver and etcd of `make cluster-tools`), installs
// Gatekeeper's CustomResourceDefinitions and its namespace from the
// gatekeeper module's deploy/gatekeeper.yaml, and runs the gatekeeper
// binary of `make e2e-tools` outside the cluster as its Deployment would
// run it inside, with the webhook, audit, status, generate,
// mutation-webhook and mutation-status operations in one process. There is
// no kubelet: Pods stay Pending, and what the tests observe is admission
// and Gatekeeper's audit.
//
// Gatekeeper caches provider answers for three minutes, so every test
// pushes images of its own and no test sees another's answers. The tests
// share one Gatekeeper and one constraint and do not run in parallel; the
// test that stops `assay serve` restarts it before it ends. The Assign
// (tag → digest) matches only namespace assay-mutate.
//
// The tests of chart_test.go share a release of charts/assay, installed
// with helm into the API server on first use: its Deployment's Assay runs
// as a local process with the Deployment's arguments, files and
// ServiceAccount token (runDeployment), takes its Store, Verifier and
// Policy from the cluster, and judges the chart-* namespaces through the
// release's Provider and a constraint of the namespaced template.
//
// The package has the build tag e2e, so `go test ./...` leaves it out;
// `make e2e` runs it.
package admission

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/assayproj/assay/pkg/servetest"
)

var (
	assayBin  string // built by TestMain
	pluginDir string // holds notation and SHA256SUMS
	env       *environment
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// envtest logs through controller-runtime's logger; its messages are
	// not needed here.
	ctrllog.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "assay-admission-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	assayBin, pluginDir, err = servetest.Build(filepath.Join(dir, "bin"), servetest.Plugins("notation"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	var cleanups []func()
	defer func() {
		cancel()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	start := time.Now()
	env, err = setup(ctx, dir, func(f func()) { cleanups = append(cleanups, f) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "set up:", err)
		if env != nil {
			env.dumpLogs()
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "admission e2e: cluster, Gatekeeper and assay serve ready in %s\n", time.Since(start).Round(100*time.Millisecond))
	code := m.Run()
	if code != 0 || strings.Contains(env.srv.Output(), "panic:") || strings.Contains(env.gatekeeper.output(), "panic:") {
		env.dumpLogs()
		if code == 0 {
			code = 1
		}
	}
	return code
}
