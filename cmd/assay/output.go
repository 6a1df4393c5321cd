package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/assayproj/assay/pkg/report"
	"golang.org/x/term"
)

// reportWriter prints reports one at a time as they come: with -o json
// one JSON array of reports (whatever their number), with -o text each
// report through text, a blank line between two.
type reportWriter struct {
	w    io.Writer
	json bool
	text func(*textWriter, *report.Report)
	tw   *textWriter
	n    int
}

func newReportWriter(w io.Writer, output string, text func(*textWriter, *report.Report)) *reportWriter {
	return &reportWriter{w: w, json: output == "json", text: text, tw: &textWriter{w: w}}
}

func (o *reportWriter) write(r *report.Report) {
	defer func() { o.n++ }()
	if !o.json {
		if o.n > 0 {
			o.tw.line("")
		}
		o.text(o.tw, r)
		return
	}
	if o.tw.err != nil {
		return
	}
	b, err := json.MarshalIndent(r, "  ", "  ")
	if err != nil {
		o.tw.err = err
		return
	}
	sep := "[\n  "
	if o.n > 0 {
		sep = ",\n  "
	}
	_, o.tw.err = fmt.Fprintf(o.w, "%s%s", sep, b)
}

// close ends the output and returns the first write error.
func (o *reportWriter) close() error {
	if o.json && o.tw.err == nil {
		end := "\n]\n"
		if o.n == 0 {
			end = "[]\n"
		}
		_, o.tw.err = io.WriteString(o.w, end)
	}
	return o.tw.err
}

// progress shows "verified 3/10, 1 failed" on one line of a terminal,
// redrawn after each image; nil shows nothing.
type progress struct {
	w                   io.Writer
	total, done, failed int
}

// newProgress returns a progress for total images on w when w is a
// terminal and there is more than one image, else nil.
func newProgress(w io.Writer, total int, tty bool) *progress {
	if !tty || total < 2 {
		return nil
	}
	return &progress{w: w, total: total}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// clear erases the progress line, before a report is printed.
func (p *progress) clear() {
	if p != nil && p.done > 0 {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// finished counts one image and redraws the line.
func (p *progress) finished(ok bool) {
	if p == nil {
		return
	}
	p.done++
	if !ok {
		p.failed++
	}
	fmt.Fprintf(p.w, "\r\033[Kverified %d/%d, %d failed", p.done, p.total, p.failed)
}

// warn prints a warning on stderr, unless --log-level is error.
func (g *globals) warn(msg string) { g.say("warning", msg) }

// note prints a note on stderr, unless --log-level is error.
func (g *globals) note(msg string) { g.say("note", msg) }

func (g *globals) say(kind, msg string) {
	if g.cfg.Log.Level == "error" {
		return
	}
	fmt.Fprintf(g.stderr, "%s: %s\n", kind, msg)
}
