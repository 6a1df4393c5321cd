package doctest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFindsYAMLBlocksAndTheirMarkers(t *testing.T) {
	md := "# T\n\n" +
		"```yaml\na: 1\n```\n" +
		"text\n<!-- cluster-only -->\n\n" +
		"```yaml\nb: 2\n---\nc: 3\n```\n" +
		"```sh\n```yaml\n```\n" +
		"- item\n  <!-- fragment -->\n  ```yml\n    d: 4\n  ```\n" +
		"<!-- a comment that is not a marker -->\n```yaml\ne: 5\n```\n"
	got, err := Parse("x.md", []byte(md))
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{
		{File: "x.md", Line: 3, Text: "a: 1\n"},
		{File: "x.md", Line: 9, Marker: ClusterOnly, Text: "b: 2\n---\nc: 3\n"},
		{File: "x.md", Line: 19, Marker: Fragment, Text: "  d: 4\n"},
		{File: "x.md", Line: 23, Text: "e: 5\n"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("blocks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b: 2\n", "c: 3\n"}, got[1].Documents()); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}
}

func TestAnUnknownMarkerIsAnError(t *testing.T) {
	if _, err := Parse("x.md", []byte("<!-- clusteronly -->\n```yaml\na: 1\n```\n")); err == nil {
		t.Fatal("a misspelt marker was accepted")
	}
	if _, err := Parse("x.md", []byte("```yaml\na: 1\n")); err == nil {
		t.Fatal("an unclosed block was accepted")
	}
}

func TestVerifierParametersOfObjectsAndChartValues(t *testing.T) {
	blocks := []Block{
		{File: "a.md", Line: 1, Text: "apiVersion: config.assay.dev/v1alpha1\nkind: Verifier\nmetadata: {name: signed}\nspec:\n  plugin: notation\n  parameters: {x: 1}\n" +
			"---\napiVersion: config.assay.dev/v1alpha1\nkind: Verifier\nmetadata: {name: c}\nspec: {plugin: cosign}\n"},
		{File: "a.md", Line: 9, Marker: HelmValues, Text: "config:\n  verifiers:\n    - name: h\n      spec: {plugin: notation}\n"},
		{File: "a.md", Line: 20, Marker: Fragment, Text: "spec: {plugin: notation}\n"},
	}
	got, err := VerifierParameters(blocks, "notation")
	if err != nil {
		t.Fatal(err)
	}
	want := []Parameters{
		{Block: blocks[0], Verifier: "signed", JSON: []byte(`{"x":1}`)},
		{Block: blocks[1], Verifier: "h", JSON: []byte(`{}`)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("parameters (-want +got):\n%s", diff)
	}
	p := Parameters{JSON: []byte(`{"c":[{"valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}},"inline","..."],"d":"x..."}`)}
	resolved, used, err := p.Substitute(Substitutions{
		Strings:   map[string]string{"...": "real", "unused": "x"},
		ValueFrom: func(ref map[string]any) string { return ref["secretKeyRef"].(map[string]any)["key"].(string) + "!" },
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(resolved) != `{"c":["k!","inline","real"],"d":"x..."}` {
		t.Errorf("substituted %s", resolved)
	}
	if diff := cmp.Diff([]string{"..."}, used); diff != "" {
		t.Errorf("used (-want +got):\n%s", diff)
	}
}
