package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
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

// childUsage sums procUsage over the child processes of pid (assay
// serve's plugins), listed in /proc/<pid>/task/*/children. It returns the
// number of children found.
func childUsage(pid int) (usage, int) {
	var sum usage
	n := 0
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
			if u, err := procUsage(cpid); err == nil {
				sum.rss += u.rss
				sum.cpu += u.cpu
				n++
			}
		}
	}
	return sum, n
}
