package arch

import (
	"reflect"
	"testing"

	"github.com/assayproj/assay/pkg/controller"
)

// TestTheControllerTakesNoClosures: the reconciler puts configuration in
// effect through the controller.Target interface (the serving runtime
// implements it), not through functions defined by the composition root.
func TestTheControllerTakesNoClosures(t *testing.T) {
	rt := reflect.TypeFor[controller.Reconciler]()
	for i := range rt.NumField() {
		if f := rt.Field(i); f.IsExported() && f.Type.Kind() == reflect.Func {
			t.Errorf("controller.Reconciler.%s is a %s: take an interface the runtime implements instead", f.Name, f.Type)
		}
	}
}
