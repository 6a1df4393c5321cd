package plugin

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newCheckedHost is newTestHost with health checks after checkAfter, each
// bounded by timeout.
func newCheckedHost(t *testing.T, checkAfter, timeout time.Duration) *Host {
	t.Helper()
	dir := t.TempDir()
	installPlugin(t, dir, testPluginName)
	writeSums(t, dir, map[string][]byte{testPluginName: testPluginBinary})
	h, err := NewHost(HostOptions{Dir: dir, HealthCheckAfter: checkAfter, HealthCheckTimeout: timeout})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// awaitResult returns the call's result, failing after a generous limit.
func awaitResult(t *testing.T, results <-chan result) result {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(time.Minute):
		t.Fatal("the call did not return within a minute")
		return result{}
	}
}

// TestHostReplacesAStoppedPlugin: a plugin process stopped (SIGSTOP)
// while a call is in flight misses a health check; the call returns
// ErrUnresponsive saying so, long before its deadline, the process is
// killed, and the next call is served by a new one.
func TestHostReplacesAStoppedPlugin(t *testing.T) {
	h := newCheckedHost(t, 200*time.Millisecond, 200*time.Millisecond)
	n := newNotifier(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	results := verifyAsync(ctx, h, request(t, "hang", n.addr()))
	pid := waitInFlight(t, n, results)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("stop plugin process %d: %v", pid, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // if the host failed to
	r := awaitResult(t, results)
	assertPluginError(t, r.err, "verify", ErrUnresponsive)
	if msg := r.err.Error(); !strings.Contains(msg, "stopped answering") || !strings.Contains(msg, "replaced") {
		t.Errorf("error %q does not say the plugin stopped answering and was replaced", msg)
	}
	if r.resp != nil {
		t.Errorf("a call on a stopped process returned a response: %+v", r.resp)
	}

	if got := echoPID(t, h); got == pid {
		t.Errorf("the next call was answered by the stopped process %d", pid)
	}
	if got := h.starts.Load(); got != 2 {
		t.Errorf("process starts = %d, want 2", got)
	}
	for deadline := time.Now().Add(30 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the stopped process %d was not killed", pid)
		}
	}
}

// TestHostKeepsASlowHealthyPlugin: a call that takes longer than the
// health-check delay on a process that answers its checks is not cut
// short: it ends at its own deadline, and the process keeps serving.
func TestHostKeepsASlowHealthyPlugin(t *testing.T) {
	h := newCheckedHost(t, 50*time.Millisecond, time.Second)
	pid := echoPID(t, h)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()

	_, err := h.Verify(ctx, testPluginName, request(t, "hang", ""))
	assertPluginError(t, err, "verify", context.DeadlineExceeded)
	if errors.Is(err, ErrUnresponsive) {
		t.Errorf("a healthy slow plugin was taken for a hung one: %v", err)
	}
	if got := echoPID(t, h); got != pid {
		t.Errorf("pid after a slow call = %d, want the same process %d", got, pid)
	}
	if got := h.starts.Load(); got != 1 {
		t.Errorf("process starts = %d, want 1", got)
	}
}

// TestHostReplacesAStoppedPluginWhoseCallsTimeOut: calls that end at
// their own short deadlines on a stopped process are no answers from it,
// so a steady stream of them does not keep the process from being
// checked and replaced.
func TestHostReplacesAStoppedPluginWhoseCallsTimeOut(t *testing.T) {
	h := newCheckedHost(t, 300*time.Millisecond, 200*time.Millisecond)
	pid := echoPID(t, h)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("stop plugin process %d: %v", pid, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	for deadline := time.Now().Add(time.Minute); h.currentPID(testPluginName) == pid; {
		if time.Now().After(deadline) {
			t.Fatal("a stopped process under calls that time out was not replaced within a minute")
		}
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		_, _ = h.Verify(ctx, testPluginName, request(t, "echo", ""))
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
	if got := echoPID(t, h); got == pid {
		t.Errorf("the next call was answered by the stopped process %d", pid)
	}
}
