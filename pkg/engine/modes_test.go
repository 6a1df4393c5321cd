package engine

import (
	"testing"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/executor"
)

// TestEveryAPIModeHasAnExecutorMode: each mode the API accepts maps to
// the executor's constant of the same meaning.
func TestEveryAPIModeHasAnExecutorMode(t *testing.T) {
	for api, want := range map[v1alpha1.Mode]executor.Mode{
		v1alpha1.ModeAny: executor.ModeAny, v1alpha1.ModeAll: executor.ModeAll, v1alpha1.ModeNewest: executor.ModeNewest, "": "",
	} {
		if got := ruleMode(api); got != want {
			t.Errorf("rule mode %q maps to %q, want %q", api, got, want)
		}
	}
	for api, want := range map[v1alpha1.MultiArch]executor.MultiArch{
		v1alpha1.MultiArchIndex: executor.MultiArchIndex, v1alpha1.MultiArchPlatforms: executor.MultiArchPlatforms,
		v1alpha1.MultiArchEither: executor.MultiArchEither, "": "",
	} {
		if got := multiArchMode(api); got != want {
			t.Errorf("multiArch %q maps to %q, want %q", api, got, want)
		}
	}
}
