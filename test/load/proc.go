package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/assayproj/assay/pkg/servetest"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat;
// it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// usage is what Linux reports of one process.
type usage struct {
	rss int64         // resident set size, bytes (VmRSS)
	cpu time.Duration // user + system time
}

// procUsage reads /proc/<pid>/status (VmRSS) and /proc/<pid>/stat (utime,
// stime) for pid. See proc(5).
func procUsage(pid int) (usage, error) {
	var u usage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v) // "12345 kB"
			if len(f) != 2 || f[1] != "kB" {
				return u, fmt.Errorf("/proc/%d/status: unexpected VmRSS %q", pid, strings.TrimSpace(v))
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return u, fmt.Errorf("/proc/%d/status: VmRSS: %w", pid, err)
			}
			u.rss = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name in parentheses may hold spaces; the fields after
	// it start with the state (field 3), so utime (14) and stime (15) are
	// the 12th and 13th.
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	for _, s := range f[11:13] {
		t, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return u, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		u.cpu += time.Duration(t) * time.Second / clockTicks
	}
	return u, nil
}

// child is one child process of assay serve: a plugin.
type child struct {
	pid  int
	name string // from /proc/<pid>/comm
	usage
}

// children lists the child processes of pid (assay serve's plugins),
// from /proc/<pid>/task/*/children, with their usage, by pid.
func children(pid int) []child {
	var out []child
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, c := range strings.Fields(string(data)) {
			cpid, err := strconv.Atoi(c)
			if err != nil {
				continue
			}
			u, err := procUsage(cpid)
			if err != nil {
				continue
			}
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cpid))
			out = append(out, child{pid: cpid, name: strings.TrimSpace(string(comm)), usage: u})
		}
	}
	slices.SortFunc(out, func(a, b child) int { return a.pid - b.pid })
	return out
}

// heap is the Go heap of a process right after a garbage collection.
type heap struct {
	alloc, inuse float64 // HeapAlloc (live objects) and HeapInuse, bytes
}

// liveHeap forces garbage collections in srv (assay serve with
// --pprof) and returns its heap: /debug/pprof/heap?gc=1 runs the GC
// before it writes the profile, and debug=1 appends runtime.MemStats.
// It asks twice: what sync.Pools hold survives one collection (as their
// victim cache) and is freed by the second.
func liveHeap(ctx context.Context, srv *servetest.Server) (heap, error) {
	if _, err := heapProfile(ctx, srv); err != nil {
		return heap{}, err
	}
	return heapProfile(ctx, srv)
}

func heapProfile(ctx context.Context, srv *servetest.Server) (heap, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.HealthURL+"/debug/pprof/heap?gc=1&debug=1", nil)
	if err != nil {
		return heap{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return heap{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return heap{}, fmt.Errorf("heap profile: %s", resp.Status)
	}
	var h heap
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		for name, v := range map[string]*float64{"# HeapAlloc = ": &h.alloc, "# HeapInuse = ": &h.inuse} {
			if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
				if _, err := fmt.Sscan(rest, v); err != nil {
					return heap{}, fmt.Errorf("heap profile: %s: %w", strings.TrimSpace(name), err)
				}
				found++
			}
		}
	}
	if err := sc.Err(); err != nil {
		return heap{}, err
	}
	if found != 2 {
		return heap{}, errors.New("heap profile: no HeapAlloc and HeapInuse in runtime.MemStats")
	}
	return h, nil
}
