// Package doctest reads the YAML examples of Assay's Markdown
// documentation, so that the tests of the code that reads each kind of
// configuration can decode the examples with that code. It is a public
// package because Go's internal rule would hide it from test/, cmd/ and
// plugins/.
//
// # Markers
//
// A YAML block is a configuration a reader may copy: Store, Verifier and
// Policy objects that work in a --config file, or Gatekeeper objects. A
// block that is something else says so with an HTML comment on the line
// just before its fence (blank lines between are allowed), one of
//
//	<!-- cluster-only -->  Assay objects read only with --config-source cluster
//	                       (pullSecrets, valueFrom, the Namespaced kinds)
//	<!-- helm-values -->   values of the chart charts/assay
//	<!-- settings -->      a process settings file (--settings)
//	<!-- fragment -->      part of an object, shown to explain it; not decoded
//
// A comment of a single lower-case word that is not one of these is an
// error, so a misspelt marker cannot hide a block.
package doctest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Marker says what a YAML block is; the zero value is a configuration
// that works in a file.
type Marker string

// The markers.
const (
	Unmarked    Marker = ""
	ClusterOnly Marker = "cluster-only"
	HelmValues  Marker = "helm-values"
	Settings    Marker = "settings"
	Fragment    Marker = "fragment"
)

var markers = []Marker{ClusterOnly, HelmValues, Settings, Fragment}

// Block is one fenced YAML block of a Markdown file.
type Block struct {
	// File is the Markdown file's path relative to the repository root,
	// with forward slashes, e.g. "docs/configuration.md".
	File string
	// Line is the 1-based line of the opening fence.
	Line   int
	Marker Marker
	// Text is the block's content, with the fence's indentation removed.
	Text string
}

// String returns "file:line", where a reader finds the block.
func (b Block) String() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

// Patterns are the Markdown files, relative to the repository root,
// whose YAML blocks are tested.
var Patterns = []string{"docs/*.md", "README.md", "charts/README.md", "library/README.md", "plugins/*/README.md", "examples/README.md"}

// Read returns the YAML blocks of every file of Patterns below root (the
// repository root), in file order. It fails if no file matches, so a
// wrong root cannot pass for "no examples".
func Read(root string) ([]Block, error) {
	var files []string
	for _, p := range Patterns {
		m, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("doctest: no Markdown file matches %v below %s", Patterns, root)
	}
	slices.Sort(files)
	var out []Block
	var errs []error
	for _, f := range files {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		bs, err := Parse(filepath.ToSlash(rel), data)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, bs...)
	}
	return out, errors.Join(errs...)
}

var (
	fence   = regexp.MustCompile("^(\\s*)```+\\s*(\\S*)")
	comment = regexp.MustCompile(`^\s*<!--\s*([a-z][a-z-]*)\s*-->\s*$`)
)

// Parse returns the YAML blocks (```yaml or ```yml) of the Markdown
// text data; file names it in the blocks and in errors.
func Parse(file string, data []byte) ([]Block, error) {
	var (
		out      []Block
		errs     []error
		inFence  bool   // inside any fenced block
		open     *Block // the YAML block being read, if inFence
		indent   string // the fence's indentation
		body     strings.Builder
		lastText string // the last non-blank line outside a block
		n        int
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		if !inFence {
			m := fence.FindStringSubmatch(line)
			if m == nil {
				if strings.TrimSpace(line) != "" {
					lastText = line
				}
				continue
			}
			inFence, indent = true, m[1]
			if lang := strings.ToLower(m[2]); lang != "yaml" && lang != "yml" {
				continue // other blocks are skipped whole
			}
			b := Block{File: file, Line: n}
			if c := comment.FindStringSubmatch(lastText); c != nil {
				b.Marker = Marker(c[1])
				if !slices.Contains(markers, b.Marker) {
					errs = append(errs, fmt.Errorf("%s: unknown marker <!-- %s -->; want one of %v", b, c[1], markers))
				}
			}
			open = &b
			body.Reset()
			continue
		}
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "```") && strings.Trim(t, "`") == "" {
			if open != nil {
				open.Text = body.String()
				out = append(out, *open)
			}
			inFence, open, lastText = false, nil, ""
			continue
		}
		if open != nil {
			body.WriteString(strings.TrimPrefix(line, indent))
			body.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if open != nil {
		errs = append(errs, fmt.Errorf("%s: the YAML block is never closed", open))
	}
	return out, errors.Join(errs...)
}
