package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestAnswersOfTheWrongContentTypeNameIt: a referrers API answer that
// is not an image index, and a manifest HEAD answered by an HTML page,
// fail with ErrInvalidContent naming the registry and the Content-Type
// received, instead of passing for a registry without the referrers API
// (no referrers) or for a manifest; an index with media type parameters
// is read.
func TestAnswersOfTheWrongContentTypeNameIt(t *testing.T) {
	listing := index([]ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/example", Digest: subject.Digest, Size: 2}})
	tests := map[string]struct {
		referrersType, manifestType string
		call                        func(context.Context, *store.Registry, string) error
		wantType                    string // "" for success
	}{
		"a referrers answer in HTML": {
			referrersType: "text/html", manifestType: "text/html",
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				_, err := listAll(t, s, repo, subject)
				return err
			},
			wantType: "text/html",
		},
		"a tag HEAD answered by an HTML page": {
			manifestType: "text/html; charset=utf-8",
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				_, err := s.Resolve(ctx, repo, "v1")
				return err
			},
			wantType: "text/html; charset=utf-8",
		},
		"a cosign signature tag HEAD answered by an HTML page": {
			referrersType: ocispec.MediaTypeImageIndex, manifestType: "text/html",
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				_, err := listAll(t, s, repo, subject)
				return err
			},
			wantType: "text/html",
		},
		"a referrers index with a charset parameter": {
			referrersType: ocispec.MediaTypeImageIndex + "; charset=utf-8",
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				_, err := listAll(t, s, repo, subject)
				return err
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			host := hostile(t, func(w http.ResponseWriter, r *http.Request) {
				switch {
				case isReferrersAPI(r):
					w.Header().Set("Content-Type", tc.referrersType)
					_, _ = w.Write(listing)
				case strings.Contains(r.URL.Path, "/manifests/") && tc.manifestType != "":
					w.Header().Set("Content-Type", tc.manifestType)
					_, _ = fmt.Fprint(w, "<html>sign in</html>")
				default:
					http.NotFound(w, r)
				}
			})
			s, _ := newStore(t, store.Options{Registries: plain(host)})
			err := tc.call(context.Background(), s, host+"/app")
			if tc.wantType == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			want := fmt.Sprintf("registry %s answered", host)
			if !errors.Is(err, store.ErrInvalidContent) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("Content-Type %q", tc.wantType)) {
				t.Fatalf("error %v, want ErrInvalidContent saying %q and Content-Type %q", err, want, tc.wantType)
			}
		})
	}
}
