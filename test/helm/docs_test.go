package helm

import (
	"context"
	"slices"
	"testing"

	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/doctest"
	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/store"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestDocumentedValuesRender renders the chart with every values file
// the documentation shows (YAML blocks marked <!-- helm-values -->, read
// with pkg/doctest; values.schema.json checks them), and reads the
// verification objects the chart makes of config.* as `assay serve
// --config` reads its file: catalog.Decode, Validate and the runtime's
// Build, which refuses in a file what only a cluster reads.
func TestDocumentedValuesRender(t *testing.T) {
	blocks, err := doctest.Read(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, b := range blocks {
		if b.Marker != doctest.HelmValues {
			continue
		}
		checked++
		t.Run(b.String(), func(t *testing.T) {
			var values map[string]any
			if err := yaml.Unmarshal([]byte(b.Text), &values); err != nil {
				t.Fatal(err)
			}
			m := render(t, values)

			var cm corev1.ConfigMap
			m.get(t, "ConfigMap", release+"-config").into(t, &cm)
			data := []byte(cm.Data["assay.yaml"])
			objs, err := catalog.Decode("assay.yaml", data)
			if err == nil {
				err = objs.Validate("assay.yaml")
			}
			if err != nil {
				t.Fatalf("the objects the chart makes of config.*: %v\n%s", err, data)
			}
			stack, err := store.NewStack(store.StackOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rt, err := engine.New(engine.Options{Stack: stack, DiscoverOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(rt.Close)
			if _, err := rt.Build(context.Background(), objs, "assay.yaml", data); err != nil {
				t.Fatalf("refused by assay serve --config: %v\n%s", err, data)
			}

			// The files the parameters name are mounted where shown.
			var shown struct {
				ExtraVolumeMounts []corev1.VolumeMount `json:"extraVolumeMounts"`
			}
			if err := yaml.Unmarshal([]byte(b.Text), &shown); err != nil {
				t.Fatal(err)
			}
			_, c := deployment(t, m)
			for _, vm := range shown.ExtraVolumeMounts {
				if !slices.Contains(c.VolumeMounts, vm) {
					t.Errorf("extraVolumeMounts %+v not in the container's mounts %+v", vm, c.VolumeMounts)
				}
			}
		})
	}
	if checked == 0 {
		t.Fatal("no chart values in the documentation; docs/deployment.md shows some")
	}
}
