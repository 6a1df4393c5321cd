package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestTheStandardLibraryLoggerWritesJSON: with --log-format json, a
// line net/http writes to the standard library logger (quoting kilobytes
// of a registry's bytes) comes out as one JSON record at warn, cut to
// maxStdlibLogBytes.
func TestTheStandardLibraryLoggerWritesJSON(t *testing.T) {
	t.Cleanup(func() { log.SetOutput(os.Stderr); log.SetFlags(log.LstdFlags) })
	var stdout, stderr bytes.Buffer
	root, _ := newRoot(&stdout, &stderr)
	for _, c := range root.Commands() {
		if c.Name() == "serve" {
			c.RunE = func(*cobra.Command, []string) error { return nil }
		}
	}
	root.SetArgs([]string{"serve", "--log-format", "json", "--tls-cert", "c.pem"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	registryBytes := strings.Repeat("HTTP/1.1 200 OK\r\n\x00\xff", 200)
	log.Printf("Unsolicited response received on idle HTTP channel starting with %q; err=<nil>", registryBytes)

	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines on stderr, want one JSON record:\n%s", len(lines), stderr.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("stderr is not JSON: %v\n%s", err, lines[0])
	}
	msg, _ := rec["msg"].(string)
	if rec["level"] != "WARN" || !strings.HasPrefix(msg, "Unsolicited response received on idle HTTP channel") || len(msg) > maxStdlibLogBytes+64 {
		t.Fatalf("record %v: want level WARN and the message cut to about %d bytes", rec, maxStdlibLogBytes)
	}
}
