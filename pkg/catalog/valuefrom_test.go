package catalog_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/assayproj/assay/pkg/catalog"
)

func TestResolveValueFrom(t *testing.T) {
	data := map[string]string{
		"ConfigMap assay-system/ca key \"root.pem\"":  "-----BEGIN CERTIFICATE-----\nROOT\n",
		"Secret team-a/keys key \"cosign.pub\"":       "-----BEGIN PUBLIC KEY-----\nK\n",
		"ConfigMap assay-system/ca key \"other.pem\"": "OTHER",
	}
	lookup := func(r catalog.ValueRef) (string, error) {
		if s, ok := data[r.String()]; ok {
			return s, nil
		}
		return "", errors.New(r.Kind + " " + r.Namespace + "/" + r.Name + " does not exist")
	}
	tests := map[string]struct {
		raw, namespace string
		want           string
		wantRefs       []string
		wantErr        string
	}{
		"no reference": {raw: `{"a":1}`, want: `{"a":1}`},
		"a ConfigMap key in a list, numbers kept": {
			raw:      `{"trustStores":{"ca":{"corp":{"certificates":[{"valueFrom":{"configMapKeyRef":{"namespace":"assay-system","name":"ca","key":"root.pem"}}},"INLINE"]}}},"n":12345678901234567890}`,
			want:     `{"n":12345678901234567890,"trustStores":{"ca":{"corp":{"certificates":["-----BEGIN CERTIFICATE-----\nROOT\n","INLINE"]}}}}`,
			wantRefs: []string{"spec.parameters.trustStores.ca.corp.certificates[0]"},
		},
		"a namespaced object's Secret, namespace implied": {
			raw: `{"key":{"valueFrom":{"secretKeyRef":{"name":"keys","key":"cosign.pub"}}}}`, namespace: "team-a",
			want: `{"key":"-----BEGIN PUBLIC KEY-----\nK\n"}`, wantRefs: []string{"spec.parameters.key"},
		},
		"a namespaced object naming another namespace": {
			raw: `{"key":{"valueFrom":{"configMapKeyRef":{"namespace":"assay-system","name":"ca","key":"root.pem"}}}}`, namespace: "team-a",
			wantErr: `field spec.parameters.key.valueFrom: names namespace "assay-system"; an object of namespace "team-a" may only use its own namespace's ConfigMaps`,
		},
		"a cluster-wide object without a namespace": {
			raw:     `{"key":{"valueFrom":{"configMapKeyRef":{"name":"ca","key":"root.pem"}}}}`,
			wantErr: "field spec.parameters.key.valueFrom: needs a namespace (the object is cluster-wide)",
		},
		"a missing object": {
			raw:     `{"key":{"valueFrom":{"secretKeyRef":{"namespace":"assay-system","name":"gone","key":"k"}}}}`,
			wantErr: "field spec.parameters.key: Secret assay-system/gone does not exist",
		},
		"both kinds at once": {
			raw:     `{"key":{"valueFrom":{"secretKeyRef":{"namespace":"a","name":"b","key":"c"},"configMapKeyRef":{"namespace":"a","name":"b","key":"c"}}}}`,
			wantErr: "want exactly one of configMapKeyRef or secretKeyRef",
		},
		"valueFrom beside another key": {
			raw:     `{"key":{"valueFrom":{"secretKeyRef":{"namespace":"a","name":"b","key":"c"}},"extra":1}}`,
			wantErr: "must be the object's only key",
		},
		"an unknown field": {
			raw:     `{"key":{"valueFrom":{"secretKeyRef":{"namespace":"a","name":"b","key":"c","optional":"true"}}}}`,
			wantErr: `unknown field "optional"`,
		},
		"no key": {
			raw:     `{"key":{"valueFrom":{"secretKeyRef":{"namespace":"a","name":"b"}}}}`,
			wantErr: "needs a name and a key",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, refs, err := catalog.ResolveValueFrom([]byte(tc.raw), tc.namespace, lookup)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("resolved\n%s\nwant\n%s", got, tc.want)
			}
			var fields []string
			for _, r := range refs {
				fields = append(fields, r.Field)
			}
			if diff := cmp.Diff(tc.wantRefs, fields); diff != "" {
				t.Errorf("refs (-want +got):\n%s", diff)
			}
			if _, has := catalog.HasValueFrom(got); has {
				t.Errorf("the resolved parameters still hold a reference: %s", got)
			}
		})
	}
	if f, ok := catalog.HasValueFrom([]byte(`{"b":[{"valueFrom":{}}],"a":{"valueFrom":{}}}`)); !ok || f != "spec.parameters.a" {
		t.Errorf("HasValueFrom = %q, %v; want the first field in key order, spec.parameters.a", f, ok)
	}
}
