// Package arch enforces the dependency rules between Assay's packages:
// data flows one way (provider → executor → store → plugins → report) and
// the plugin contract never pulls in the host.
package arch

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/assayproj/assay"

// allowed lists, per package (relative to the module), the packages of
// ours it may import directly. A package not listed may import nothing of
// ours, except cmd/ (the composition root) and test code.
var allowed = map[string][]string{
	"pkg/reason":        {},
	"pkg/report":        {"pkg/reason"},
	"pkg/plugin":        {"pkg/reason"},
	"pkg/plugin/params": {"pkg/plugin"},
	"pkg/config":        {},
	"pkg/apis/v1alpha1": {},
	"pkg/store":         {"pkg/internal/flight", "pkg/internal/lru"},
	"pkg/cache":         {"pkg/internal/lru"},
	"pkg/pullsecrets":   {},
	"pkg/ociimage":      {},
	"pkg/executor":      {"pkg/internal/flight", "pkg/reason", "pkg/report"},
	"pkg/provider":      {"pkg/report"},
	"pkg/servetest":     {},
	"pkg/verifier":      {"pkg/executor", "pkg/plugin", "pkg/reason", "pkg/report"},
	"pkg/catalog":       {"pkg/apis/v1alpha1", "pkg/executor", "pkg/store"},
	"pkg/controller":    {"pkg/apis/v1alpha1", "pkg/catalog"},
	// The serving runtime: provider → engine → executor → store → plugins.
	"pkg/engine": {"pkg/apis/v1alpha1", "pkg/catalog", "pkg/controller", "pkg/executor", "pkg/plugin",
		"pkg/provider", "pkg/pullsecrets", "pkg/report", "pkg/store", "pkg/verifier"},
	"plugins/notation":   {"pkg/plugin", "pkg/plugin/params", "pkg/reason"},
	"plugins/cosign":     {"pkg/plugin", "pkg/plugin/params", "pkg/reason"},
	"plugins/vulnreport": {"pkg/plugin", "pkg/plugin/params", "pkg/reason"},

	// Building blocks shared by the packages above: they import nothing
	// of ours.
	"pkg/internal/flight": {},
	"pkg/internal/lru":    {},
}

// forbiddenEverywhereBelowCmd may only be imported by cmd/.
var forbiddenBelowCmd = []string{"github.com/spf13/viper", "github.com/spf13/cobra"}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list returned no packages")
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

// owner maps a package to the rule that governs it: the longest listed
// prefix (pkg/plugin/internal/convert is governed by pkg/plugin's rule
// for what it may import from outside pkg/plugin).
func owner(r string) (string, bool) {
	best := ""
	for k := range allowed {
		if (r == k || strings.HasPrefix(r, k+"/")) && len(k) > len(best) {
			best = k
		}
	}
	return best, best != ""
}

func TestPackageImportsFollowTheDataFlow(t *testing.T) {
	checked := 0
	for _, p := range listPackages(t) {
		r := rel(p.ImportPath)
		if strings.HasPrefix(r, "cmd/") || strings.HasPrefix(r, "test/") {
			continue
		}
		rule, ok := owner(r)
		if !ok {
			if strings.HasPrefix(r, "pkg/") && !strings.HasSuffix(r, "test") {
				t.Errorf("package %s has no import rule; add it to allowed in %s", r, "test/arch/imports_test.go")
			}
			continue
		}
		checked++
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			ir := rel(imp)
			if ir == rule || strings.HasPrefix(ir, rule+"/") {
				continue // inside its own tree
			}
			ok := false
			for _, a := range allowed[rule] {
				if ir == a {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s, which the dependency rules forbid (allowed: %v)", r, ir, allowed[rule])
			}
		}
		for _, d := range p.Deps {
			for _, f := range forbiddenBelowCmd {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s depends on %s; only cmd/ may", r, f)
				}
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d packages; the package list looks wrong", checked)
	}
}

func TestPluginContractPullsInNoHostPackage(t *testing.T) {
	for _, p := range listPackages(t) {
		r := rel(p.ImportPath)
		if r != "pkg/plugin" && !strings.HasPrefix(r, "plugins/") {
			continue
		}
		for _, d := range p.Deps {
			if !strings.HasPrefix(d, module+"/") {
				continue
			}
			dr := rel(d)
			if dr != "pkg/plugin" && !strings.HasPrefix(dr, "pkg/plugin/") && dr != "pkg/reason" {
				t.Errorf("%s depends on host package %s; plugins may use pkg/plugin and the leaf pkg/reason only", r, dr)
			}
		}
	}
}

// TestReasonIsALeaf keeps package reason importable by plugins and by
// tools outside Assay: it depends on the standard library only.
func TestReasonIsALeaf(t *testing.T) {
	for _, p := range listPackages(t) {
		if rel(p.ImportPath) != "pkg/reason" {
			continue
		}
		for _, d := range p.Deps {
			if first, _, _ := strings.Cut(d, "/"); strings.Contains(first, ".") {
				t.Errorf("pkg/reason depends on %s; it may use the standard library only", d)
			}
		}
		return
	}
	t.Fatal("pkg/reason not found")
}
