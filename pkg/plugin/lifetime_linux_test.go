package plugin

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procState returns the state letter and parent pid of process pid from
// /proc/<pid>/stat, or ok false if there is no such process.
func procState(t *testing.T, pid int) (state string, ppid int, ok bool) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return "", 0, false
	}
	if err != nil {
		t.Fatalf("read /proc/%d/stat: %v", pid, err)
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		t.Fatalf("/proc/%d/stat: malformed %q", pid, s)
	}
	ppid, err = strconv.Atoi(fields[1])
	if err != nil {
		t.Fatalf("/proc/%d/stat: parent pid %q: %v", pid, fields[1], err)
	}
	return fields[0], ppid, true
}

// TestHostKilledLeavesNoPluginProcess: when a host process is killed with
// SIGKILL, its plugin process goes too. A host runs in a child process
// (this test binary, see runHostHelper); the test reads its plugin's pid,
// kills the host and watches /proc until the plugin is gone (or a zombie,
// which has exited and waits for its new parent to reap it).
func TestHostKilledLeavesNoPluginProcess(t *testing.T) {
	tests := map[string]struct {
		noDeathSignal bool
		// stop stops the plugin before the host is killed, so that only
		// the kernel's parent-death signal can end it.
		stop bool
	}{
		"the parent-death signal kills a plugin that cannot run":  {stop: true},
		"the plugin's parent watchdog ends it without the signal": {noDeathSignal: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			installPlugin(t, dir, testPluginName)
			writeSums(t, dir, map[string][]byte{testPluginName: testPluginBinary})
			host := exec.Command(os.Args[0], "-test.run=^$")
			host.Env = append(os.Environ(), hostHelperEnv+"="+dir)
			if tc.noDeathSignal {
				host.Env = append(host.Env, hostHelperNoSignalEnv+"=1")
			}
			host.Stderr = os.Stderr
			out, err := host.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := host.Start(); err != nil {
				t.Fatalf("start the host process: %v", err)
			}
			t.Cleanup(func() {
				_ = host.Process.Kill()
				_ = host.Wait()
			})
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				t.Fatalf("read the plugin pid from the host: %q, %v", line, err)
			}
			pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "pid "))
			if err != nil || pid <= 0 {
				t.Fatalf("host wrote %q, want \"pid <n>\"", line)
			}
			t.Cleanup(func() {
				if _, _, ok := procState(t, pid); ok {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			if _, ppid, ok := procState(t, pid); !ok || ppid != host.Process.Pid {
				t.Fatalf("plugin process %d: running %v, parent %d; want a child of the host %d", pid, ok, ppid, host.Process.Pid)
			}
			if tc.stop {
				if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
					t.Fatalf("stop plugin process %d: %v", pid, err)
				}
			}

			if err := host.Process.Kill(); err != nil {
				t.Fatalf("kill the host process: %v", err)
			}
			_ = host.Wait()
			deadline := time.Now().Add(time.Minute)
			for {
				state, ppid, ok := procState(t, pid)
				if !ok || state == "Z" {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("plugin process %d still runs (state %s, parent %d) a minute after its host was killed", pid, state, ppid)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
