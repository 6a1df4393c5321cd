package servetest_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/servetest"
)

// TestPluginNamesAreTheRepositorysPlugins: the tests build the plugins
// `make plugins` builds, which are the folders of plugins/.
func TestPluginNamesAreTheRepositorysPlugins(t *testing.T) {
	root := filepath.Join("..", "..")
	entries, err := os.ReadDir(filepath.Join(root, "plugins"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PLUGIN_NAMES\s*:=\s*(.*)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("the Makefile sets no PLUGIN_NAMES")
	}
	fromMake := strings.Fields(string(m[1]))
	names := slices.Clone(servetest.PluginNames)
	for _, l := range [][]string{dirs, fromMake, names} {
		slices.Sort(l)
	}
	if !slices.Equal(names, dirs) || !slices.Equal(names, fromMake) {
		t.Fatalf("servetest.PluginNames %v, plugins/ %v, Makefile PLUGIN_NAMES %v: keep them the same", names, dirs, fromMake)
	}
	for name, pkg := range servetest.Plugins() {
		if pkg != servetest.Module+"/plugins/"+name {
			t.Errorf("plugin %s builds %s", name, pkg)
		}
	}
}
