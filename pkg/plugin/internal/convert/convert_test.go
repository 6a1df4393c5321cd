package convert

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/proto"
)

func TestDescriptorRoundTrip(t *testing.T) {
	tests := map[string]ocispec.Descriptor{
		"a descriptor with every field set survives the round trip": {
			MediaType:    ocispec.MediaTypeImageManifest,
			Digest:       digest.FromString("x"),
			Size:         42,
			URLs:         []string{"https://example.com/blob"},
			Annotations:  map[string]string{"a": "b", "c": ""},
			Data:         []byte{0, 1, 2},
			Platform:     &ocispec.Platform{Architecture: "amd64", OS: "linux", OSVersion: "1", OSFeatures: []string{"f"}, Variant: "v2"},
			ArtifactType: "application/vnd.example",
		},
		"the zero descriptor survives the round trip": {},
		"a descriptor with an empty platform keeps it": {
			Digest:   digest.FromString("y"),
			Platform: &ocispec.Platform{},
		},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			// Through the wire format, not just the Go structs.
			b, err := proto.Marshal(DescriptorToProto(want))
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			msg := DescriptorToProto(ocispec.Descriptor{})
			if err := proto.Unmarshal(b, msg); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if diff := cmp.Diff(want, DescriptorFromProto(msg)); diff != "" {
				t.Errorf("descriptor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDescriptorFromNilIsZero(t *testing.T) {
	if diff := cmp.Diff(ocispec.Descriptor{}, DescriptorFromProto(nil)); diff != "" {
		t.Errorf("descriptor from nil (-want +got):\n%s", diff)
	}
}

type signer struct {
	Subject string `json:"subject"`
	Serial  int    `json:"serial"`
}

func TestDetailsRoundTrip(t *testing.T) {
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := map[string]struct {
		in   map[string]any
		want map[string]any
	}{
		"JSON values come back unchanged": {
			in: map[string]any{
				"s": "x", "f": 1.5, "b": true, "n": nil,
				"l": []any{"a", 1.0}, "m": map[string]any{"k": []any{}},
			},
			want: map[string]any{
				"s": "x", "f": 1.5, "b": true, "n": nil,
				"l": []any{"a", 1.0}, "m": map[string]any{"k": []any{}},
			},
		},
		"Go values are normalised the way encoding/json sees them": {
			in: map[string]any{
				"int":     7,
				"strings": []string{"CVE-1", "CVE-2"},
				"time":    when,
				"struct":  signer{Subject: "CN=x", Serial: 9},
				"raw":     json.RawMessage(`{"a":[1]}`),
				"bytes":   []byte("hi"),
				"labels":  map[string]string{"k": "v"},
			},
			want: map[string]any{
				"int":     7.0,
				"strings": []any{"CVE-1", "CVE-2"},
				"time":    "2026-01-02T03:04:05Z",
				"struct":  map[string]any{"subject": "CN=x", "serial": 9.0},
				"raw":     map[string]any{"a": []any{1.0}},
				"bytes":   "aGk=",
				"labels":  map[string]any{"k": "v"},
			},
		},
		"empty details are nil": {in: map[string]any{}, want: nil},
		"nil details are nil":   {in: nil, want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := DetailsToProto(tc.in)
			if err != nil {
				t.Fatalf("DetailsToProto: %v", err)
			}
			if diff := cmp.Diff(tc.want, DetailsFromProto(s)); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDetailsRejectsNonJSONValues(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	tests := map[string]map[string]any{
		"a channel is rejected":          {"ch": make(chan int)},
		"a function is rejected":         {"fn": func() {}},
		"NaN is rejected":                {"nan": math.NaN()},
		"infinity is rejected":           {"inf": math.Inf(1)},
		"a complex number is rejected":   {"c": complex(1, 2)},
		"a cyclic map is rejected":       {"cycle": cyclic},
		"a nested bad value is rejected": {"outer": map[string]any{"inner": []any{make(chan int)}}},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := DetailsToProto(in)
			if !errors.Is(err, ErrNotJSON) {
				t.Fatalf("DetailsToProto = %v, %v; want an error wrapping ErrNotJSON", s, err)
			}
		})
	}
}
