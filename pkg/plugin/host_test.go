package plugin

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const testPluginName = "testplugin"

// testPluginBinary holds the test plugin, built once by TestMain.
var testPluginBinary []byte

// hostHelperEnv, set to a plugin directory, makes the test binary a
// plugin host instead of running the tests (see runHostHelper);
// hostHelperNoSignalEnv, set too, makes it start plugins without the
// parent-death signal.
const (
	hostHelperEnv         = "ASSAY_TEST_PLUGIN_HOST_DIR"
	hostHelperNoSignalEnv = "ASSAY_TEST_PLUGIN_HOST_NO_DEATH_SIGNAL"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(hostHelperEnv); dir != "" {
		os.Exit(runHostHelper(dir, os.Getenv(hostHelperNoSignalEnv) != ""))
	}
	os.Exit(runTests(m))
}

// runHostHelper is a plugin host in a process of its own, for tests that
// kill a host: it starts the test plugin in dir, writes "pid <n>" (the
// plugin's pid) and a newline to stdout, and then waits to be killed.
func runHostHelper(dir string, noDeathSignal bool) int {
	h, err := NewHost(HostOptions{Dir: dir})
	if err != nil {
		fmt.Fprintf(os.Stderr, "NewHost: %v\n", err)
		return 1
	}
	h.noDeathSignal = noDeathSignal
	resp, err := h.Verify(context.Background(), testPluginName, &VerifyRequest{
		Config:           []byte(`{"mode":"echo"}`),
		Subject:          ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 10},
		Repository:       "localhost:5000/app",
		Artifact:         ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("artifact"), Size: 20, ArtifactType: "application/vnd.assay.test.v1"},
		ArtifactManifest: []byte(`{"schemaVersion":2}`),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "Verify: %v\n", err)
		return 1
	}
	fmt.Printf("pid %v\n", resp.Details["pid"])
	time.Sleep(time.Hour)
	return 1
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "assay-testplugin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "make temp dir: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gotool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintf(os.Stderr, "find the go tool: %v\n", err)
		return 1
	}
	out := filepath.Join(dir, testPluginName)
	cmd := exec.Command(gotool, "build", "-o", out, "./internal/testplugin")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the test plugin: %v\n%s", err, b)
		return 1
	}
	testPluginBinary, err = os.ReadFile(out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "read the test plugin: %v\n", err)
		return 1
	}
	return m.Run()
}

// installPlugin writes the test plugin into dir under name, executable.
func installPlugin(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), testPluginBinary, 0o755); err != nil {
		t.Fatalf("install plugin: %v", err)
	}
}

// writeSums writes dir/SHA256SUMS with the given name → file content lines.
func writeSums(t *testing.T, dir string, entries map[string][]byte) {
	t.Helper()
	var b strings.Builder
	for name, content := range entries {
		fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256(content), name)
	}
	if err := os.WriteFile(filepath.Join(dir, SumsFile), []byte(b.String()), 0o644); err != nil {
		t.Fatalf("write %s: %v", SumsFile, err)
	}
}

func newHostIn(t *testing.T, dir string) *Host {
	t.Helper()
	h, err := NewHost(HostOptions{Dir: dir})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// newTestHost installs the test plugin with a correct SHA256SUMS in a fresh
// directory and returns a Host for it.
func newTestHost(t *testing.T) *Host {
	t.Helper()
	dir := t.TempDir()
	installPlugin(t, dir, testPluginName)
	writeSums(t, dir, map[string][]byte{testPluginName: testPluginBinary})
	return newHostIn(t, dir)
}

func config(t *testing.T, mode, notify string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"mode": mode, "notify": notify})
	if err != nil {
		t.Fatalf("marshal config: %v", err)
	}
	return b
}

func request(t *testing.T, mode, notify string) *VerifyRequest {
	t.Helper()
	blob := []byte("signature envelope")
	return &VerifyRequest{
		Config:           config(t, mode, notify),
		Subject:          ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 10},
		Repository:       "localhost:5000/app",
		Artifact:         ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("artifact"), Size: 20, ArtifactType: "application/vnd.assay.test.v1"},
		ArtifactManifest: []byte(`{"schemaVersion":2}`),
		Blobs:            []Blob{{Descriptor: ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(blob), Size: int64(len(blob))}, Data: blob}},
	}
}

// echoPID runs an echo verification and returns the pid of the plugin
// process that answered.
func echoPID(t *testing.T, h *Host) int {
	t.Helper()
	resp, err := h.Verify(t.Context(), testPluginName, request(t, "echo", ""))
	if err != nil {
		t.Fatalf("Verify echo: %v", err)
	}
	return pidOf(t, resp)
}

func pidOf(t *testing.T, resp *VerifyResponse) int {
	t.Helper()
	pid, ok := resp.Details["pid"].(float64)
	if !ok || pid <= 0 {
		t.Fatalf("echo details have no pid: %v", resp.Details)
	}
	return int(pid)
}

// notifier accepts the test plugin's "call in flight" notification.
type notifier struct {
	ln   net.Listener
	pids chan int
}

func newNotifier(t *testing.T) *notifier {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	n := &notifier{ln: ln, pids: make(chan int, 1)}
	t.Cleanup(func() {
		if err := ln.Close(); err != nil {
			t.Logf("close notifier: %v", err)
		}
	})
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return
		}
		pid, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			return
		}
		n.pids <- pid
	}()
	return n
}

func (n *notifier) addr() string { return n.ln.Addr().String() }

type result struct {
	resp *VerifyResponse
	err  error
}

// verifyAsync starts a Verify call and returns where its result arrives.
func verifyAsync(ctx context.Context, h *Host, req *VerifyRequest) <-chan result {
	ch := make(chan result, 1)
	go func() {
		resp, err := h.Verify(ctx, testPluginName, req)
		ch <- result{resp, err}
	}()
	return ch
}

// waitInFlight returns the pid of the process holding the call, failing
// if the call returns first.
func waitInFlight(t *testing.T, n *notifier, results <-chan result) int {
	t.Helper()
	select {
	case pid := <-n.pids:
		return pid
	case r := <-results:
		t.Fatalf("Verify returned before the plugin got the call: %+v, %v", r.resp, r.err)
		return 0
	}
}

// currentPID is the pid of name's running process as go-plugin reports it,
// or 0.
func (h *Host) currentPID(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.slots[name]; s != nil && s.cur != nil {
		return s.cur.pid
	}
	return 0
}

func assertPluginError(t *testing.T, err error, op string, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want one wrapping %v", err, want)
	}
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("error %v is not a *plugin.Error", err)
	}
	if perr.Plugin != testPluginName || perr.Op != op {
		t.Errorf("error names plugin %q op %q, want %q %q", perr.Plugin, perr.Op, testPluginName, op)
	}
}

func TestHostMetadata(t *testing.T) {
	h := newTestHost(t)
	got, err := h.Metadata(t.Context(), testPluginName)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	want := Metadata{Name: testPluginName, Version: "0.0.1-test", ArtifactTypes: []string{"application/vnd.assay.test.v1"}, SignatureTypes: []string{"application/vnd.assay.test.v1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	// The cached metadata is the caller's copy.
	got.SignatureTypes[0] = "changed"
	if again, err := h.Metadata(t.Context(), testPluginName); err != nil || again.SignatureTypes[0] != "application/vnd.assay.test.v1" {
		t.Errorf("Metadata after the caller changed its copy: %+v, %v", again, err)
	}
}

func TestHostValidateConfig(t *testing.T) {
	tests := map[string]struct {
		config []byte
		want   []Diagnostic
	}{
		"a known mode is valid": {
			config: []byte(`{"mode":"verified"}`),
		},
		"an unknown mode is reported on its field": {
			config: []byte(`{"mode":"bogus"}`),
			want:   []Diagnostic{{Severity: SeverityError, Field: "mode", Summary: `unknown mode "bogus"`}},
		},
	}
	h := newTestHost(t)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := h.ValidateConfig(t.Context(), testPluginName, tc.config)
			if err != nil {
				t.Fatalf("ValidateConfig: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostVerify(t *testing.T) {
	tests := map[string]struct {
		mode string
		want *VerifyResponse
	}{
		"a verified artifact comes back verified": {
			mode: "verified",
			want: &VerifyResponse{Verdict: VerdictVerified, Reason: "VERIFIED", Message: "test artifact verified"},
		},
		"a failed artifact comes back failed with its explanation": {
			mode: "failed",
			want: &VerifyResponse{Verdict: VerdictFailed, Reason: "SIGNATURE_UNTRUSTED", Message: "test artifact failed", Remediation: "sign it with a trusted key"},
		},
		"an unspecified verdict is passed through for the caller to treat as inconclusive": {
			mode: "unspecified",
			want: &VerifyResponse{Verdict: VerdictUnspecified, Message: "said nothing"},
		},
	}
	h := newTestHost(t)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := h.Verify(t.Context(), testPluginName, request(t, tc.mode, ""))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostVerifyEchoesWhatItReceived(t *testing.T) {
	h := newTestHost(t)
	req := request(t, "echo", "")
	// Larger than gRPC's 4 MiB default, within MaxMessageSize.
	big := make([]byte, 5<<20)
	req.Blobs = append(req.Blobs, Blob{Descriptor: ocispec.Descriptor{Digest: digest.FromBytes(big), Size: int64(len(big))}, Data: big})

	resp, err := h.Verify(t.Context(), testPluginName, req)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	got := resp.Details
	delete(got, "pid")
	want := map[string]any{
		"subjectDigest":  req.Subject.Digest.String(),
		"artifactDigest": req.Artifact.Digest.String(),
		"artifactType":   "application/vnd.assay.test.v1",
		"repository":     "localhost:5000/app",
		"manifestBytes":  float64(len(req.ArtifactManifest)),
		"blobCount":      float64(2),
		"blobDigests":    []any{req.Blobs[0].Descriptor.Digest.String(), digest.FromBytes(big).String()},
		"blobBytes":      float64(len(req.Blobs[0].Data) + len(big)),
		"hasDeadline":    false,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what the plugin received (-want +got):\n%s", diff)
	}
}

func TestHostRefusesMessagesOverTheLimit(t *testing.T) {
	h := newTestHost(t)
	pid := echoPID(t, h)
	req := request(t, "echo", "")
	req.Blobs = append(req.Blobs, Blob{Data: make([]byte, MaxMessageSize+1)})
	_, err := h.Verify(t.Context(), testPluginName, req)
	assertPluginError(t, err, "verify", ErrMessageTooLarge)
	if got := echoPID(t, h); got != pid {
		t.Errorf("pid after an oversized request = %d, want the same process %d", got, pid)
	}
}

func TestHostDeadlineCrossesTheBoundary(t *testing.T) {
	h := newTestHost(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	hostDeadline, _ := ctx.Deadline()

	resp, err := h.Verify(ctx, testPluginName, request(t, "echo", ""))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if resp.Details["hasDeadline"] != true {
		t.Fatalf("the plugin saw no deadline: %v", resp.Details)
	}
	s, ok := resp.Details["deadline"].(string)
	if !ok {
		t.Fatalf("details have no deadline string: %v", resp.Details)
	}
	seen, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parse the plugin's deadline: %v", err)
	}
	if seen.After(hostDeadline) {
		t.Errorf("plugin deadline %v is later than the host's %v", seen, hostDeadline)
	}
}

func TestHostDeadlineExceededInsideThePlugin(t *testing.T) {
	h := newTestHost(t)
	pid := echoPID(t, h)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()

	_, err := h.Verify(ctx, testPluginName, request(t, "hang", ""))
	assertPluginError(t, err, "verify", context.DeadlineExceeded)
	if got := echoPID(t, h); got != pid {
		t.Errorf("pid after a deadline = %d, want the same process %d", got, pid)
	}
}

func TestHostCancellationCrossesTheBoundary(t *testing.T) {
	h := newTestHost(t)
	n := newNotifier(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	results := verifyAsync(ctx, h, request(t, "hang", n.addr()))
	waitInFlight(t, n, results)
	cancel()
	r := <-results
	assertPluginError(t, r.err, "verify", context.Canceled)
}

func TestHostRestartsAfterACrash(t *testing.T) {
	tests := map[string]struct {
		mode  string
		crash func(t *testing.T, pid int)
	}{
		"the process is killed while a verification is in flight": {
			mode: "hang",
			crash: func(t *testing.T, pid int) {
				t.Helper()
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatalf("kill plugin process %d: %v", pid, err)
				}
			},
		},
		"the plugin calls os.Exit in the middle of a verification": {
			mode:  "exit",
			crash: func(*testing.T, int) {},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newTestHost(t)
			n := newNotifier(t)
			// A deadline far away: the crash, not the deadline, must end the call.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
			defer cancel()

			results := verifyAsync(ctx, h, request(t, tc.mode, n.addr()))
			pid := waitInFlight(t, n, results)
			// A plugin that exits by itself may already be gone (and
			// retired by the host) here; one that hangs must be the
			// process the host runs.
			if got := h.currentPID(testPluginName); got != pid && tc.mode == "hang" {
				t.Fatalf("host knows pid %d, the plugin reports %d", got, pid)
			}
			tc.crash(t, pid)
			r := <-results
			assertPluginError(t, r.err, "verify", ErrCrashed)
			if r.resp != nil {
				t.Errorf("a crashed call returned a response: %+v", r.resp)
			}

			if got := echoPID(t, h); got == pid {
				t.Errorf("the next call was answered by the dead process %d", pid)
			}
			if got := h.starts.Load(); got != 2 {
				t.Errorf("process starts = %d, want 2", got)
			}
		})
	}
}

func TestHostRestartsAProcessThatDiedBetweenCalls(t *testing.T) {
	h := newTestHost(t)
	pid := echoPID(t, h)
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatalf("find process: %v", err)
	}
	if err := p.Kill(); err != nil {
		t.Fatalf("kill plugin process %d: %v", pid, err)
	}
	// The host may notice the exit before the call (Exited) or during it
	// (broken connection); either way the call after that is served by a
	// new process.
	resp, err := h.Verify(t.Context(), testPluginName, request(t, "echo", ""))
	if err != nil {
		assertPluginError(t, err, "verify", ErrCrashed)
		resp, err = h.Verify(t.Context(), testPluginName, request(t, "echo", ""))
		if err != nil {
			t.Fatalf("Verify after restart: %v", err)
		}
	}
	if got := pidOf(t, resp); got == pid {
		t.Errorf("answered by the dead process %d", pid)
	}
}

func TestHostSurvivesPluginFailures(t *testing.T) {
	tests := map[string]struct {
		mode string
		want error
	}{
		"a panic in Verify is returned as an error":                     {mode: "panic", want: ErrPanicked},
		"an error from Verify is returned as an error":                  {mode: "error", want: ErrRemote},
		"details that are not JSON-compatible are returned as an error": {mode: "bad-details", want: ErrRemote},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newTestHost(t)
			pid := echoPID(t, h)
			_, err := h.Verify(t.Context(), testPluginName, request(t, tc.mode, ""))
			assertPluginError(t, err, "verify", tc.want)
			if got := echoPID(t, h); got != pid {
				t.Errorf("pid after the failure = %d, want the same process %d", got, pid)
			}
		})
	}
}

func TestHostStartsOneProcessForConcurrentFirstCalls(t *testing.T) {
	h := newTestHost(t)
	const callers = 16
	pids := make([]int, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			resp, err := h.Verify(t.Context(), testPluginName, request(t, "echo", ""))
			if err != nil {
				errs[i] = err
				return
			}
			pid, _ := resp.Details["pid"].(float64)
			pids[i] = int(pid)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	for i, pid := range pids {
		if pid != pids[0] || pid <= 0 {
			t.Errorf("caller %d was answered by pid %d, caller 0 by %d", i, pid, pids[0])
		}
	}
	if got := h.starts.Load(); got != 1 {
		t.Errorf("process starts = %d, want 1", got)
	}
}

func TestHostRefusesPlugins(t *testing.T) {
	tests := map[string]struct {
		setup      func(t *testing.T, dir string)
		name       string
		want       error
		wantStarts int64
	}{
		"a binary whose checksum does not match SHA256SUMS is refused": {
			setup: func(t *testing.T, dir string) {
				installPlugin(t, dir, testPluginName)
				writeSums(t, dir, map[string][]byte{testPluginName: []byte("some other build")})
			},
			name: testPluginName,
			want: ErrChecksumMismatch,
		},
		"a binary not listed in SHA256SUMS is refused": {
			setup: func(t *testing.T, dir string) {
				installPlugin(t, dir, testPluginName)
				writeSums(t, dir, map[string][]byte{"notation": []byte("notation build")})
			},
			name: testPluginName,
			want: ErrNotListed,
		},
		"a listed plugin without a binary is not found": {
			setup: func(t *testing.T, dir string) {
				writeSums(t, dir, map[string][]byte{testPluginName: testPluginBinary})
			},
			name: testPluginName,
			want: ErrNotFound,
		},
		"a name that walks out of the plugin directory is rejected": {
			setup: func(t *testing.T, dir string) {
				writeSums(t, dir, map[string][]byte{testPluginName: testPluginBinary})
			},
			name: "../" + testPluginName,
			want: ErrInvalidName,
		},
		"a name with a path separator is rejected": {
			setup: func(t *testing.T, dir string) {
				writeSums(t, dir, map[string][]byte{testPluginName: testPluginBinary})
			},
			name: "sub/" + testPluginName,
			want: ErrInvalidName,
		},
		"a plugin whose metadata name differs from its binary name is refused": {
			setup: func(t *testing.T, dir string) {
				installPlugin(t, dir, "renamed")
				writeSums(t, dir, map[string][]byte{"renamed": testPluginBinary})
			},
			name:       "renamed",
			want:       ErrInvalidMetadata,
			wantStarts: 1,
		},
		"an executable that is not a plugin fails to start": {
			setup: func(t *testing.T, dir string) {
				script := []byte("#!/bin/sh\necho not a plugin\n")
				if err := os.WriteFile(filepath.Join(dir, "script"), script, 0o755); err != nil {
					t.Fatalf("write script: %v", err)
				}
				writeSums(t, dir, map[string][]byte{"script": script})
			},
			name:       "script",
			want:       ErrStart,
			wantStarts: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			h := newHostIn(t, dir)

			_, err := h.Verify(t.Context(), tc.name, request(t, "verified", ""))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want one wrapping %v", err, tc.want)
			}
			var perr *Error
			if !errors.As(err, &perr) || perr.Plugin != tc.name || perr.Op != "verify" {
				t.Errorf("error %#v does not name plugin %q and op verify", err, tc.name)
			}
			if got := h.starts.Load(); got != tc.wantStarts {
				t.Errorf("process starts = %d, want %d", got, tc.wantStarts)
			}
		})
	}
}

func TestNewHostRejectsBadOptions(t *testing.T) {
	tests := map[string]struct {
		setup func(t *testing.T) HostOptions
	}{
		"an empty directory option is rejected": {
			setup: func(*testing.T) HostOptions { return HostOptions{} },
		},
		"a directory without SHA256SUMS is rejected": {
			setup: func(t *testing.T) HostOptions { return HostOptions{Dir: t.TempDir()} },
		},
		"a SHA256SUMS line with a path instead of a name is rejected": {
			setup: func(t *testing.T) HostOptions {
				dir := t.TempDir()
				line := fmt.Sprintf("%x  ./bin/notation\n", sha256.Sum256(nil))
				if err := os.WriteFile(filepath.Join(dir, SumsFile), []byte(line), 0o644); err != nil {
					t.Fatalf("write sums: %v", err)
				}
				return HostOptions{Dir: dir}
			},
		},
		"a SHA256SUMS line with a short digest is rejected": {
			setup: func(t *testing.T) HostOptions {
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, SumsFile), []byte("abcd  notation\n"), 0o644); err != nil {
					t.Fatalf("write sums: %v", err)
				}
				return HostOptions{Dir: dir}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h, err := NewHost(tc.setup(t))
			if err == nil {
				h.Close()
				t.Fatal("NewHost succeeded, want an error")
			}
		})
	}
}

func TestHostRoutesPluginLogsToTheLogger(t *testing.T) {
	dir := t.TempDir()
	installPlugin(t, dir, testPluginName)
	writeSums(t, dir, map[string][]byte{testPluginName: testPluginBinary})
	var mu sync.Mutex
	var entries []map[string]any
	logger := funcr.NewJSON(func(obj string) {
		var e map[string]any
		if err := json.Unmarshal([]byte(obj), &e); err != nil {
			t.Errorf("log entry %q is not JSON: %v", obj, err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		entries = append(entries, e)
	}, funcr.Options{Verbosity: 3})
	h, err := NewHost(HostOptions{Dir: dir, Logger: logger})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(h.Close)

	_, err = h.Verify(t.Context(), testPluginName, request(t, "panic", ""))
	assertPluginError(t, err, "verify", ErrPanicked)
	h.Close() // waits for the plugin's stderr to be drained

	mu.Lock()
	defer mu.Unlock()
	for _, e := range entries {
		if e["msg"] == "verifier panicked" && e["logger"] == testPluginName && e["method"] == "Verify" {
			return
		}
	}
	t.Errorf("no \"verifier panicked\" entry from logger %q among %d entries: %v", testPluginName, len(entries), entries)
}

func TestHostCloseKillsProcesses(t *testing.T) {
	h := newTestHost(t)
	pid := echoPID(t, h)
	h.Close()

	_, err := h.Verify(t.Context(), testPluginName, request(t, "echo", ""))
	assertPluginError(t, err, "verify", ErrClosed)
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("signal 0 to plugin process %d after Close: %v, want ESRCH", pid, err)
	}
}

func TestHostStartOutlivesAnImpatientCaller(t *testing.T) {
	h := newTestHost(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := h.Metadata(ctx, testPluginName)
	var perr *Error
	if !errors.Is(err, context.Canceled) || !errors.As(err, &perr) || perr.Op != "metadata" {
		t.Fatalf("Metadata with a cancelled context = %v, want a *plugin.Error wrapping context.Canceled", err)
	}
	// The start it triggered carries on and serves the next caller.
	if _, err := h.Metadata(t.Context(), testPluginName); err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if got := h.starts.Load(); got != 1 {
		t.Errorf("process starts = %d, want 1", got)
	}
}

// TestHostStopsIdleProcesses: a process with no call for IdleTimeout is
// stopped; its metadata and the answer to a configuration it checked are
// given again without starting it, and the next Verify starts a new one.
func TestHostStopsIdleProcesses(t *testing.T) {
	dir := t.TempDir()
	installPlugin(t, dir, testPluginName)
	writeSums(t, dir, map[string][]byte{testPluginName: testPluginBinary})
	h, err := NewHost(HostOptions{Dir: dir, IdleTimeout: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	config := []byte(`{"mode":"bogus"}`)
	want, err := h.ValidateConfig(t.Context(), testPluginName, config)
	if err != nil || len(want) != 1 {
		t.Fatalf("ValidateConfig: %v %v", want, err)
	}
	md, err := h.Metadata(t.Context(), testPluginName)
	if err != nil {
		t.Fatal(err)
	}
	running := func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.slots[testPluginName] != nil && h.slots[testPluginName].cur != nil
	}
	for deadline := time.Now().Add(10 * time.Second); running(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the idle process was not stopped")
		}
	}
	got, err := h.ValidateConfig(t.Context(), testPluginName, config)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the kept answer differs (-first +again):\n%s", diff)
	}
	again, err := h.Metadata(t.Context(), testPluginName)
	if err != nil || again.Name != md.Name {
		t.Fatalf("kept metadata %+v, %v; want %+v", again, err, md)
	}
	if running() || h.starts.Load() != 1 {
		t.Fatalf("checking the same configuration again started the plugin (%d starts)", h.starts.Load())
	}
	if _, err := h.Verify(t.Context(), testPluginName, request(t, "echo", "")); err != nil {
		t.Fatal(err)
	}
	if got := h.starts.Load(); got != 2 {
		t.Fatalf("process starts = %d, want 2 (the first use after the stop starts one)", got)
	}
}

// TestHostKeepsBusyProcesses: a process with a call in flight is not
// stopped however long the call takes.
func TestHostKeepsBusyProcesses(t *testing.T) {
	dir := t.TempDir()
	installPlugin(t, dir, testPluginName)
	writeSums(t, dir, map[string][]byte{testPluginName: testPluginBinary})
	h, err := NewHost(HostOptions{Dir: dir, IdleTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	p, err := h.acquire(t.Context(), testPluginName)
	if err != nil {
		t.Fatal(err)
	}
	// Many reaper rounds pass while the call is in flight.
	time.Sleep(200 * time.Millisecond)
	h.mu.Lock()
	kept := h.slots[testPluginName].cur == p
	h.mu.Unlock()
	h.release(testPluginName, p)
	if !kept || p.client.Exited() {
		t.Fatal("a process with a call in flight was stopped")
	}
}

// TestHostStopUnusedStopsOnlyCheckedProcesses: a process started only
// to check a configuration is stopped by StopUnused; one that has
// verified is kept.
func TestHostStopUnusedStopsOnlyCheckedProcesses(t *testing.T) {
	h := newTestHost(t)
	running := func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		s := h.slots[testPluginName]
		return s != nil && s.cur != nil
	}
	if _, err := h.ValidateConfig(t.Context(), testPluginName, []byte(`{"mode":"verified"}`)); err != nil {
		t.Fatal(err)
	}
	h.StopUnused()
	if running() {
		t.Fatal("a process started only to check a configuration is still running")
	}
	if _, err := h.Verify(t.Context(), testPluginName, request(t, "echo", "")); err != nil {
		t.Fatal(err)
	}
	h.StopUnused()
	if !running() {
		t.Fatal("a process that verified was stopped")
	}
	if got := h.starts.Load(); got != 2 {
		t.Fatalf("process starts = %d, want 2", got)
	}
}

func TestNewHostNamesAMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plugins")
	h, err := NewHost(HostOptions{Dir: dir})
	if err == nil {
		h.Close()
		t.Fatal("NewHost succeeded on a missing directory")
	}
	if !errors.Is(err, ErrNoDir) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("NewHost: %v, want ErrNoDir naming %s", err, dir)
	}
}

// exitEntries returns, for each log entry of a plugin process's exit,
// whether it was logged as an error.
func exitEntries(entries []map[string]any) []bool {
	var out []bool
	for _, e := range entries {
		if e["msg"] == exitMessage {
			_, info := e["level"]
			out = append(out, !info)
		}
	}
	return out
}

func TestHostLogsOnlyUnexpectedExitsAsErrors(t *testing.T) {
	tests := map[string]struct {
		stop      func(t *testing.T, h *Host, pid int)
		wantError bool
	}{
		"the host closes": {
			stop: func(t *testing.T, h *Host, _ int) { h.Close() },
		},
		"the process group is stopped with SIGTERM": {
			stop: func(t *testing.T, _ *Host, pid int) {
				t.Helper()
				if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			},
		},
		"the process is stopped by the idle timeout": {
			stop: func(t *testing.T, h *Host, pid int) {
				t.Helper()
				h.mu.Lock()
				h.slots[testPluginName].idle = time.Now().Add(-time.Hour)
				h.mu.Unlock()
				// The reaper runs every quarter of the idle timeout.
				deadline := time.Now().Add(10 * time.Second)
				for syscall.Kill(pid, 0) == nil {
					if time.Now().After(deadline) {
						t.Fatal("the idle process was not stopped")
					}
					time.Sleep(20 * time.Millisecond)
				}
			},
		},
		"the process is killed by someone else": {
			stop: func(t *testing.T, _ *Host, pid int) {
				t.Helper()
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			},
			wantError: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			installPlugin(t, dir, testPluginName)
			writeSums(t, dir, map[string][]byte{testPluginName: testPluginBinary})
			var mu sync.Mutex
			var entries []map[string]any
			logger := funcr.NewJSON(func(obj string) {
				var e map[string]any
				if err := json.Unmarshal([]byte(obj), &e); err != nil {
					t.Errorf("log entry %q is not JSON: %v", obj, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				entries = append(entries, e)
			}, funcr.Options{Verbosity: 3})
			h, err := NewHost(HostOptions{Dir: dir, Logger: logger, IdleTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatalf("NewHost: %v", err)
			}
			t.Cleanup(h.Close)
			pid := echoPID(t, h)
			tc.stop(t, h, pid)
			// The host notices an exit on its next call; Close then waits
			// for go-plugin to have logged it.
			_, _ = h.Verify(t.Context(), testPluginName, request(t, "echo", ""))
			h.Close()

			mu.Lock()
			defer mu.Unlock()
			got := exitEntries(entries)
			if len(got) == 0 {
				t.Fatalf("no %q entry among %d entries", exitMessage, len(entries))
			}
			if got[0] != tc.wantError {
				t.Errorf("the first exit was logged as an error: %v, want %v; entries: %v", got[0], tc.wantError, entries)
			}
			for i, isErr := range got[1:] {
				if isErr {
					t.Errorf("exit %d (a process the host stopped) logged as an error: %v", i+2, entries)
				}
			}
		})
	}
}
