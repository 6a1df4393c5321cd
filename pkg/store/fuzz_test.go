package store_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fuzzLimit is the manifest and blob limit of FuzzRegistryResponses.
const fuzzLimit = 4 << 10

// FuzzRegistryResponses serves one fuzzed answer (status,
// Content-Type, Docker-Content-Digest, Content-Length and body) to
// every request of a Resolve, a Referrers listing, a manifest or blob
// Fetch and a referrers tag index read, and checks that the store does
// not panic, returns nothing above its limits, and that whatever it
// returns matches what was asked for: fetched bytes match the
// descriptor's digest and size, a resolved descriptor is within the
// manifest limit, and a listing has at most MaxReferrers entries.
func FuzzRegistryResponses(f *testing.F) {
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	listing := index([]ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/example", Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}})
	for op := range uint8(5) {
		f.Add(op, uint16(200), ocispec.MediaTypeImageManifest, digest.FromBytes(manifest).String(), "", manifest, true)
		f.Add(op, uint16(200), ocispec.MediaTypeImageIndex, "", "", listing, false)
		f.Add(op, uint16(200), "text/html", "", "", []byte("<html>login</html>"), false)
		f.Add(op, uint16(200), ocispec.MediaTypeImageManifest, "sha256:"+strings.Repeat("0", 64), "99999999999", manifest, true)
		f.Add(op, uint16(200), ocispec.MediaTypeImageIndex, "", "", []byte(`{"manifests":[{"digest":"sha256:x","size":-1}]}`), false)
		f.Add(op, uint16(307), "", "", "", []byte{}, false)
		f.Add(op, uint16(404), "application/json", "", "", []byte(`{"errors":[{"code":"NAME_UNKNOWN"}]}`), false)
		f.Add(op, uint16(500), "", "", "", []byte(huge), false)
	}
	f.Fuzz(func(t *testing.T, op uint8, status uint16, contentType, dcd, length string, body []byte, matching bool) {
		if status < 200 || status > 599 {
			status = 200
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for k, v := range map[string]string{"Content-Type": contentType, "Docker-Content-Digest": dcd, "Content-Length": length} {
				if v != "" && !strings.ContainsAny(v, "\r\n") {
					h.Set(k, v)
				}
			}
			if status >= 300 && status < 400 {
				h.Set("Location", "/v2/loop"+strconv.Itoa(int(status)))
			}
			w.WriteHeader(int(status))
			_, _ = w.Write(body)
		}))
		defer srv.Close()
		host := strings.TrimPrefix(srv.URL, "http://")
		s, err := store.New(store.Options{
			Registries:       plain(host),
			MaxManifestBytes: fuzzLimit,
			MaxBlobBytes:     fuzzLimit,
			MaxReferrers:     8,
			CacheBytes:       -1,
			DockerConfigs:    [][]byte{[]byte(`{}`)},
		})
		if err != nil {
			t.Fatal(err)
		}
		// The deadline is shorter than the first backoff, so that a
		// retryable answer fails at once instead of sleeping.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		repo := host + "/app"
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("other"), Size: int64(len(body))}
		if matching {
			desc.Digest = digest.FromBytes(body)
		}
		switch op % 5 {
		case 0:
			got, err := s.Resolve(ctx, repo, "v1")
			if err == nil && (got.Size > fuzzLimit || got.Digest.Validate() != nil) {
				t.Fatalf("Resolve returned %+v, outside the limit of %d or with an invalid digest", got, fuzzLimit)
			}
		case 1:
			n := 0
			err := s.Referrers(ctx, repo, subject, func(page []ocispec.Descriptor) error {
				n += len(page)
				return nil
			})
			if err == nil && n > 8 {
				t.Fatalf("Referrers listed %d referrers, more than the limit of 8", n)
			}
		case 2, 3:
			if op%5 == 3 {
				desc.MediaType = "application/octet-stream"
			}
			got, err := s.Fetch(ctx, repo, desc)
			if err == nil && (digest.FromBytes(got) != desc.Digest || int64(len(got)) != desc.Size) {
				t.Fatalf("Fetch returned %d bytes with digest %s for %s of %d bytes", len(got), digest.FromBytes(got), desc.Digest, desc.Size)
			}
			if err == nil && len(got) > fuzzLimit {
				t.Fatalf("Fetch returned %d bytes, more than the limit of %d", len(got), fuzzLimit)
			}
		case 4:
			idx, _, err := s.ReferrersTagIndex(ctx, repo, subject.Digest)
			if err == nil && (idx.Size > fuzzLimit || idx.MediaType != ocispec.MediaTypeImageIndex) {
				t.Fatalf("ReferrersTagIndex returned %+v: over the limit of %d or not an index", idx, fuzzLimit)
			}
		}
	})
}
