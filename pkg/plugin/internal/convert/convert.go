// Package convert translates between the OCI and JSON values used by package
// plugin and the assay.verifier.v1 protocol messages.
//
// It holds the converters that need care (descriptors, platforms, details
// as google.protobuf.Struct) and that do not depend on package plugin's own
// types: package plugin imports this package, so this package cannot import
// it. The message-level mapping (VerifyRequest, VerifyResponse, Metadata,
// Diagnostic, Verdict) lives in package plugin's wire.go and calls these.
//
// Empty slices and maps come back as nil: protobuf does not distinguish them.
package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/types/known/structpb"

	verifierv1 "github.com/assayproj/assay/pkg/plugin/internal/pb/verifier/v1"
)

// ErrNotJSON is returned when details hold a value that has no JSON
// representation (a channel, a function, NaN or ±Inf, a cycle ...).
var ErrNotJSON = errors.New("details are not JSON-compatible")

// DescriptorToProto converts an OCI descriptor. It never fails.
func DescriptorToProto(d ocispec.Descriptor) *verifierv1.Descriptor {
	return &verifierv1.Descriptor{
		MediaType:    d.MediaType,
		Digest:       d.Digest.String(),
		Size:         d.Size,
		Urls:         slices.Clone(d.URLs),
		Annotations:  maps.Clone(d.Annotations),
		Data:         bytes.Clone(d.Data),
		Platform:     PlatformToProto(d.Platform),
		ArtifactType: d.ArtifactType,
	}
}

// DescriptorFromProto converts a protocol descriptor. A nil descriptor
// gives the zero descriptor. The digest is not validated: that is the job of
// whoever uses it.
func DescriptorFromProto(d *verifierv1.Descriptor) ocispec.Descriptor {
	if d == nil {
		return ocispec.Descriptor{}
	}
	return ocispec.Descriptor{
		MediaType:    d.GetMediaType(),
		Digest:       digest.Digest(d.GetDigest()),
		Size:         d.GetSize(),
		URLs:         nilIfEmpty(slices.Clone(d.GetUrls())),
		Annotations:  nilIfEmptyMap(maps.Clone(d.GetAnnotations())),
		Data:         nilIfEmpty(bytes.Clone(d.GetData())),
		Platform:     PlatformFromProto(d.GetPlatform()),
		ArtifactType: d.GetArtifactType(),
	}
}

// PlatformToProto converts an OCI platform; nil stays nil.
func PlatformToProto(p *ocispec.Platform) *verifierv1.Platform {
	if p == nil {
		return nil
	}
	return &verifierv1.Platform{
		Architecture: p.Architecture,
		Os:           p.OS,
		OsVersion:    p.OSVersion,
		OsFeatures:   slices.Clone(p.OSFeatures),
		Variant:      p.Variant,
	}
}

// PlatformFromProto converts a protocol platform; nil stays nil.
func PlatformFromProto(p *verifierv1.Platform) *ocispec.Platform {
	if p == nil {
		return nil
	}
	return &ocispec.Platform{
		Architecture: p.GetArchitecture(),
		OS:           p.GetOs(),
		OSVersion:    p.GetOsVersion(),
		OSFeatures:   nilIfEmpty(slices.Clone(p.GetOsFeatures())),
		Variant:      p.GetVariant(),
	}
}

// DetailsToProto converts a verifier's details to a Struct. The map is
// normalised through encoding/json first, so any value encoding/json can
// marshal is accepted (structs, typed slices, time.Time, json.RawMessage),
// and the receiver sees exactly what a JSON reader would: numbers as
// float64, lists as []any, objects as map[string]any. A value encoding/json
// rejects gives an error wrapping ErrNotJSON; it never panics on such
// values. A nil or empty map gives nil.
func DetailsToProto(details map[string]any) (*structpb.Struct, error) {
	if len(details) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(details)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	var normalised map[string]any
	if err := json.Unmarshal(b, &normalised); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	s, err := structpb.NewStruct(normalised)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	return s, nil
}

// DetailsFromProto converts a Struct back to a map; nil or empty gives nil.
func DetailsFromProto(s *structpb.Struct) map[string]any {
	if len(s.GetFields()) == 0 {
		return nil
	}
	return s.AsMap()
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

func nilIfEmptyMap[M ~map[K]V, K comparable, V any](m M) M {
	if len(m) == 0 {
		return nil
	}
	return m
}
