package plugin

import (
	"bytes"
	"io"
	"log"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/hashicorp/go-hclog"
)

// hclogAdapter routes go-plugin's hclog output, including each plugin's
// stderr, to a logr.Logger. Levels map as: Error → Error, Warn → V(0),
// Info → V(1), Debug → V(2), Trace → V(3).
type hclogAdapter struct {
	l       logr.Logger
	name    string
	implied []any
	exit    *exitState // nil but on the logger of one plugin's client
}

// exitMessage is what go-plugin logs, at Error level when the process
// ended with a failure status (a signal included), once the process of
// a client has exited.
const exitMessage = "plugin process exited"

// exitState decides the level of one plugin process's exitMessage.
type exitState struct {
	cmd      *exec.Cmd
	stopping atomic.Bool // the host is stopping the process
}

// level is the level to log the process's exit at, go-plugin's being
// given. An exit is an error unless it was asked for: by the host
// (Close, an idle or unused process stopped), or by SIGTERM or SIGINT,
// which the whole process group receives when it is stopped (Ctrl-C, a
// service manager, `kill -TERM -<pgid>`); those are logged at Debug. A
// crash, an exit status other than 0 or any other signal (SIGKILL from
// the OOM killer, SIGSEGV) stays an error.
//
// It runs on go-plugin's goroutine that waited for cmd, after Wait set
// cmd.ProcessState.
func (e *exitState) level(l hclog.Level) hclog.Level {
	if l < hclog.Error || e.stopping.Load() {
		return min(l, hclog.Debug)
	}
	if st := e.cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() && (ws.Signal() == syscall.SIGTERM || ws.Signal() == syscall.SIGINT) {
			return hclog.Debug
		}
	}
	return l
}

// withExit returns l, an adapter from newHCLogAdapter, deciding the
// level of the exit of the process e describes.
func withExit(l hclog.Logger, e *exitState) hclog.Logger {
	a, ok := l.(*hclogAdapter)
	if !ok {
		return l // discarding
	}
	c := *a
	c.exit = e
	return &c
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLogAdapter(l logr.Logger) hclog.Logger {
	if l.GetSink() == nil {
		return hclog.NewNullLogger()
	}
	return &hclogAdapter{l: l}
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if a.exit != nil && msg == exitMessage {
		level = a.exit.level(level)
	}
	kv := append(append([]any(nil), a.implied...), args...)
	if len(kv)%2 == 1 {
		kv = append(kv, "(missing)")
	}
	l := a.l
	if a.name != "" {
		l = l.WithName(a.name)
	}
	switch {
	case level >= hclog.Error:
		var err error
		for i := 0; i+1 < len(kv); i += 2 {
			if e, ok := kv[i+1].(error); ok {
				err = e
				break
			}
		}
		l.Error(err, msg, kv...)
	case level == hclog.Warn:
		l.Info(msg, kv...)
	case level == hclog.Info:
		l.V(1).Info(msg, kv...)
	case level == hclog.Debug:
		l.V(2).Info(msg, kv...)
	default:
		l.V(3).Info(msg, kv...)
	}
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) IsTrace() bool { return a.l.V(3).Enabled() }
func (a *hclogAdapter) IsDebug() bool { return a.l.V(2).Enabled() }
func (a *hclogAdapter) IsInfo() bool  { return a.l.V(1).Enabled() }
func (a *hclogAdapter) IsWarn() bool  { return a.l.Enabled() }
func (a *hclogAdapter) IsError() bool { return true }

func (a *hclogAdapter) ImpliedArgs() []any { return append([]any(nil), a.implied...) }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.implied = append(append([]any(nil), a.implied...), args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

// SetLevel is ignored: verbosity belongs to the logr sink.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

func (a *hclogAdapter) GetLevel() hclog.Level {
	switch {
	case a.IsTrace():
		return hclog.Trace
	case a.IsDebug():
		return hclog.Debug
	case a.IsInfo():
		return hclog.Info
	default:
		return hclog.Warn
	}
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &lineWriter{log: func(line string) { a.Info(line) }}
}

// lineWriter calls log once per complete line written to it.
type lineWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	log func(line string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadBytes('\n')
		if err != nil {
			// Incomplete line: keep it for the next write.
			w.buf.Reset()
			w.buf.Write(line)
			return len(p), nil
		}
		w.log(string(bytes.TrimRight(line, "\r\n")))
	}
}
