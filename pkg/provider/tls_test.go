package provider_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/provider"
	"github.com/assayproj/assay/pkg/servetest"
	"github.com/prometheus/client_golang/prometheus"
)

// String returns what was written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tlsReloads returns assay_tls_reloads_total{file,result}.
func tlsReloads(t *testing.T, reg *prometheus.Registry, file, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "assay_tls_reloads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["file"] == file && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestAGarbageCertificateOrClientCAIsLoggedCountedAndTheOldOneServes
// overwrites the serving certificate, then the client CA, with garbage:
// each is logged at error level naming the file and counted as an
// error, and handshakes go on with the previous certificate and CA. A
// good rotation afterwards is put in use.
func TestAGarbageCertificateOrClientCAIsLoggedCountedAndTheOldOneServes(t *testing.T) {
	material, err := servetest.NewTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	metrics, err := provider.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, watch, err := provider.ServerTLS(provider.TLSOptions{
		CertFile: material.CertFile, KeyFile: material.KeyFile, ClientCA: material.ClientCAFile,
		Logger:       slog.New(slog.NewJSONHandler(&logs, nil)),
		Metrics:      metrics,
		PollInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = watch(ctx) }()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
	client, err := material.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	// served returns the serial of the certificate a handshake gets.
	served := func() string {
		t.Helper()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), client)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s; log:\n%s", what, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	first := served()

	if err := os.WriteFile(material.CertFile, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("no error counted for the garbage certificate", func() bool { return tlsReloads(t, reg, "cert", "error") == 1 })
	if line := logLine(logs.String(), "serving certificate not reloaded"); !strings.Contains(line, `"level":"ERROR"`) || !strings.Contains(line, `"cert":"`+material.CertFile+`"`) {
		t.Fatalf("log line %q: want level ERROR naming %s", line, material.CertFile)
	}
	if got := served(); got != first {
		t.Fatalf("after a garbage certificate, serial %s is served, want the previous %s", got, first)
	}

	if err := os.WriteFile(material.ClientCAFile, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	served() // the CA is checked at handshakes
	waitFor("no error counted for the garbage client CA", func() bool { return tlsReloads(t, reg, "client-ca", "error") == 1 })
	if line := logLine(logs.String(), "client CA not reloaded"); !strings.Contains(line, `"level":"ERROR"`) || !strings.Contains(line, material.ClientCAFile) {
		t.Fatalf("log line %q: want level ERROR naming %s", line, material.ClientCAFile)
	}
	served() // the previous CA still verifies the client
	if n := tlsReloads(t, reg, "client-ca", "error"); n != 1 {
		t.Fatalf("client CA errors %v, want 1: an unchanged bad file is counted once", n)
	}

	if err := material.RotateServing(); err != nil {
		t.Fatal(err)
	}
	waitFor("the rotated certificate is not served", func() bool { return served() != first })
	if n := tlsReloads(t, reg, "cert", "ok"); n < 1 {
		t.Fatalf("cert reloads ok %v after a rotation", n)
	}
}

// logLine returns the first line of logs holding msg.
func logLine(logs, msg string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, msg) {
			return l
		}
	}
	return ""
}
