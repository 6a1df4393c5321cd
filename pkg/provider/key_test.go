package provider_test

import (
	"errors"
	"reflect"
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
		"the pod's service account and pull Secrets": {
			key:  "[team-a;serviceAccount=builder;pullSecrets=regcred,ghcr.io-token]ghcr.io/x/y:1",
			want: provider.Key{Namespace: "team-a", ServiceAccount: "builder", PullSecrets: []string{"regcred", "ghcr.io-token"}, Reference: "ghcr.io/x/y:1"},
		},
		"only the service account": {
			key:  "[team-a;serviceAccount=default]nginx",
			want: provider.Key{Namespace: "team-a", ServiceAccount: "default", Reference: "nginx"},
		},
		"an attribute without a value":  {key: "[team-a;serviceAccount]nginx", wantErr: "is not name=value"},
		"an unknown attribute":          {key: "[team-a;node=x]nginx", wantErr: `unknown attribute "node"`},
		"an attribute twice":            {key: "[team-a;serviceAccount=a;serviceAccount=b]nginx", wantErr: "given twice"},
		"an empty Secret name":          {key: "[team-a;pullSecrets=a,,b]nginx", wantErr: `Secret ""`},
		"a Secret name with a capital":  {key: "[team-a;pullSecrets=RegCred]nginx", wantErr: "lower-case letters"},
		"a service account name with /": {key: "[team-a;serviceAccount=a/b]nginx", wantErr: "lower-case letters"},
		"too many pull Secrets": {
			key: "[team-a;pullSecrets=" + strings.TrimSuffix(strings.Repeat("s,", provider.MaxKeyPullSecrets+1), ",") + "]nginx", wantErr: "more than the limit of 32"},
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
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseKey(%q) = %+v, %v; want %+v", tc.key, got, err, tc.want)
			}
		})
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"nginx", "[ns]nginx:1", "[", "[]", "[a]]b", "\x00", "[a-b]x@sha256:00",
		"[ns;serviceAccount=sa;pullSecrets=a,b.c]x", "[ns;pullSecrets=a]x", "[ns;=]x", "[ns;pullSecrets=]x"} {
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
		if rebuilt := k.String(); rebuilt != key && !reorderedAttributes(key, rebuilt) {
			t.Fatalf("%q parsed as %+v, which rebuilds as %q", key, k, rebuilt)
		}
	})
}

// reorderedAttributes holds when key and rebuilt differ only in the order
// of the prefix's attributes (String writes serviceAccount first).
func reorderedAttributes(key, rebuilt string) bool {
	kp, kr, ok1 := strings.Cut(key, "]")
	rp, rr, ok2 := strings.Cut(rebuilt, "]")
	if !ok1 || !ok2 || kr != rr {
		return false
	}
	a, b := strings.Split(kp, ";"), strings.Split(rp, ";")
	if len(a) != len(b) || a[0] != b[0] {
		return false
	}
	return len(a) == 3 && a[1] == b[2] && a[2] == b[1]
}
