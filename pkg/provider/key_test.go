package provider_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/provider"
)

func TestParseKey(t *testing.T) {
	tests := map[string]struct {
		key     string
		want    provider.Key
		wantErr string
	}{
		"a plain reference":               {key: "nginx:1.25", want: provider.Key{Reference: "nginx:1.25"}},
		"Ratify's namespace prefix":       {key: "[team-a]ghcr.io/x/y@sha256:ab", want: provider.Key{Namespace: "team-a", Reference: "ghcr.io/x/y@sha256:ab"}},
		"an unclosed prefix":              {key: "[team-a ghcr.io/x", wantErr: "no closing ']'"},
		"an empty namespace":              {key: "[]nginx", wantErr: "must be 1 to 63"},
		"a namespace that is not a label": {key: "[Team_A]nginx", wantErr: "lower-case letters"},
		"a namespace ending in a dash":    {key: "[team-]nginx", wantErr: "lower-case letters"},
		"a prefix without a reference":    {key: "[team-a]", wantErr: "no image reference"},
		"the empty key":                   {key: "", wantErr: "no image reference"},
		"a space in the reference":        {key: "nginx :1", wantErr: "contains ' '"},
		"a control character":             {key: "nginx\x00", wantErr: "contains"},
		"a key longer than the limit":     {key: strings.Repeat("a", provider.MaxKeyBytes+1), wantErr: "more than the limit"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := provider.ParseKey(tc.key)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, provider.ErrInvalidKey) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseKey(%q) = %+v, %v; want an ErrInvalidKey with %q", tc.key, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseKey(%q) = %+v, %v; want %+v", tc.key, got, err, tc.want)
			}
		})
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"nginx", "[ns]nginx:1", "[", "[]", "[a]]b", "\x00", "[a-b]x@sha256:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		k, err := provider.ParseKey(key)
		if err != nil {
			if !errors.Is(err, provider.ErrInvalidKey) {
				t.Fatalf("error %v does not wrap ErrInvalidKey", err)
			}
			return
		}
		if k.Reference == "" || len(key) > provider.MaxKeyBytes {
			t.Fatalf("accepted %q as %+v", key, k)
		}
		rebuilt := k.Reference
		if k.Namespace != "" {
			rebuilt = "[" + k.Namespace + "]" + rebuilt
		}
		if rebuilt != key {
			t.Fatalf("%q parsed as %+v, which rebuilds as %q", key, k, rebuilt)
		}
	})
}
