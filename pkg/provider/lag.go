package provider

import (
	"sync"
	"time"
)

// Constants of the lag monitor.
const (
	// lagTick is how often the monitor's ticker is due.
	lagTick = 20 * time.Millisecond
	// lagWindow is how long a measured lag counts.
	lagWindow = 5 * time.Second
	// lagFactor multiplies the measured lag into a margin: a request
	// waits about one lag to be read, one for its answer to be written
	// once the budget ends, and one for the answer's way out.
	lagFactor = 3
)

// lagMonitor measures scheduling delay: how late a ticker fires, as a
// moving maximum over the last lagWindow. It runs from the first
// request after a quiet lagWindow until the next quiet lagWindow, so
// an idle Handler runs no goroutine.
type lagMonitor struct {
	mu      sync.Mutex
	running bool
	used    time.Time
	// max[i] is the largest lag seen in the second whose Unix time
	// modulo len(max) is i, at[i] that second.
	max [lagSeconds]time.Duration
	at  [lagSeconds]int64
}

const lagSeconds = int(lagWindow / time.Second)

// lag records a request and returns the largest lag of the window.
func (m *lagMonitor) lag(now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.used = now
	if !m.running {
		m.running = true
		go m.run()
	}
	var out time.Duration
	for i := range m.max {
		if now.Unix()-m.at[i] < int64(lagSeconds) {
			out = max(out, m.max[i])
		}
	}
	return out
}

func (m *lagMonitor) run() {
	t := time.NewTicker(lagTick)
	defer t.Stop()
	prev := time.Now()
	for range t.C {
		now := time.Now()
		late := max(now.Sub(prev)-lagTick, 0)
		prev = now
		if !m.record(now, late) {
			return
		}
	}
}

// record stores one measurement; it returns false, and marks the
// monitor stopped, once no request came for lagWindow.
func (m *lagMonitor) record(now time.Time, late time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.used) > lagWindow {
		m.running = false
		return false
	}
	sec := now.Unix()
	i := int(sec % int64(lagSeconds))
	if m.at[i] != sec {
		m.at[i], m.max[i] = sec, 0
	}
	m.max[i] = max(m.max[i], late)
	return true
}
