package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/servetest"
)

// startRedis runs Debian's redis-server on a free loopback port for the
// test and returns its address.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed: run hack/install-test-deps.sh (apt-get install redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func metricInt(t *testing.T, srv *servetest.Server, name string) int {
	t.Helper()
	v, err := srv.Metric(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatal(err)
	}
	return int(f)
}

func TestReplicasShareVerdictsThroughRedis(t *testing.T) {
	addr := startRedis(t)
	s := startServed(t, "--redis-address", addr)
	replica := startServe(t, s.config, s.tls, "--redis-address", addr)

	if rep := decodeReport(t, post(t, s.srv, "/v1/verify", s.signed).Response.Items[0]); !rep.IsSuccess {
		t.Fatalf("first replica: %s %s", rep.Reason, rep.Message)
	}
	if got := metricInt(t, s.srv, "assay_verdict_cache_stored_total"); got != 1 {
		t.Fatalf("first replica stored %d verdicts, want 1", got)
	}
	rep := decodeReport(t, post(t, replica, "/v1/verify", s.signed).Response.Items[0])
	if !rep.IsSuccess || rep.Subject != s.repository+"@"+s.signedDigest {
		t.Fatalf("second replica: %s %s", rep.Reason, rep.Message)
	}
	hits, stored := metricInt(t, replica, "assay_verdict_cache_hits_total"), metricInt(t, replica, "assay_verdict_cache_stored_total")
	if hits != 1 || stored != 0 {
		t.Fatalf("second replica: %d hits and %d verdicts stored, want the first replica's verdict (1 hit, 0 stored)", hits, stored)
	}
}

func TestRedisDownCostsVerificationsNotAdmissions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	s := startServedNotReady(t, "--redis-address", down)
	resp, err := http.Get(s.srv.HealthURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down: HTTP %d, want 503", resp.StatusCode)
	}
	for range 2 {
		if rep := decodeReport(t, post(t, s.srv, "/v1/verify", s.signed).Response.Items[0]); !rep.IsSuccess {
			t.Fatalf("with Redis down: %s %s", rep.Reason, rep.Message)
		}
	}
	if errs := metricInt(t, s.srv, "assay_verdict_cache_errors_total"); errs < 4 {
		t.Errorf("%d cache errors counted, want at least 4 (two reads, two writes)", errs)
	}
}
