package plugin

import (
	"bytes"
	"io"
	"log"
	"sync"

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
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLogAdapter(l logr.Logger) hclog.Logger {
	if l.GetSink() == nil {
		return hclog.NewNullLogger()
	}
	return &hclogAdapter{l: l}
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
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
