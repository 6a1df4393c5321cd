package docs

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/frameworks/constraint/pkg/apis"
	"github.com/open-policy-agent/frameworks/constraint/pkg/apis/externaldata/unversioned"
	"github.com/open-policy-agent/frameworks/constraint/pkg/apis/externaldata/v1beta1"
	constraintclient "github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/drivers/rego"
	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/reader"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/target"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/util"
	"k8s.io/apimachinery/pkg/runtime"
	strictjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// caBundlePlaceholders are the documented stand-ins for a Provider's
// caBundle; the test gives Gatekeeper a real one in their place.
var caBundlePlaceholders = []string{
	"<base64 of the PEM CA that signed Assay's serving certificate>",
	"<base64 PEM>",
}

// libraryDir holds the ConstraintTemplates, relative to this package.
const libraryDir = root + "/library"

// constraintClient is Gatekeeper's constraint framework client with the
// Rego driver and every template of library/, as Gatekeeper's webhook
// holds them.
func constraintClient(t *testing.T) (*constraintclient.Client, *runtime.Scheme) {
	t.Helper()
	driver, err := rego.New(rego.AddExternalDataProviderCache(externaldata.NewCache()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := constraintclient.NewClient(
		constraintclient.Targets(&target.K8sValidationTarget{}),
		constraintclient.Driver(driver),
		constraintclient.EnforcementPoints(util.AuditEnforcementPoint, util.WebhookEnforcementPoint),
	)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := apis.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(libraryDir, "*", "template.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no template.yaml under %s: %v", libraryDir, err)
	}
	for _, p := range paths {
		rel, err := filepath.Rel(libraryDir, p)
		if err != nil {
			t.Fatal(err)
		}
		templ, err := reader.ReadTemplate(scheme, os.DirFS(libraryDir), filepath.ToSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AddTemplate(context.Background(), templ); err != nil {
			t.Fatalf("add template %s: %v", rel, err)
		}
	}
	return c, scheme
}

func TestGatekeeperObjectsAreWhatGatekeeperAccepts(t *testing.T) {
	client, scheme := constraintClient(t)
	providers := externaldata.NewCache()
	caBundle := base64.StdEncoding.EncodeToString([]byte(testCA(t)))
	checked := map[string]int{}
	for _, d := range documents(t, readBlocks(t)) {
		if d.block.Marker != "" || !d.gatekeeper() {
			continue
		}
		group, _, _ := strings.Cut(d.apiVersion, "/")
		checked[group]++
		switch group {
		case "externaldata.gatekeeper.sh":
			js, err := yaml.YAMLToJSONStrict([]byte(d.text))
			if err != nil {
				t.Errorf("%s: %v", d.block, err)
				continue
			}
			var p v1beta1.Provider
			strict, err := strictjson.UnmarshalStrict(js, &p)
			if err != nil || len(strict) > 0 {
				t.Errorf("%s: not a Gatekeeper Provider: %v %v", d.block, err, strict)
				continue
			}
			if d.apiVersion != v1beta1.SchemeGroupVersion.String() || d.kind != "Provider" {
				t.Errorf("%s: %s %s; want %s Provider", d.block, d.apiVersion, d.kind, v1beta1.SchemeGroupVersion)
				continue
			}
			for _, ph := range caBundlePlaceholders {
				if p.Spec.CABundle == ph {
					p.Spec.CABundle = caBundle
				}
			}
			err = providers.Upsert(&unversioned.Provider{
				TypeMeta:   p.TypeMeta,
				ObjectMeta: p.ObjectMeta,
				Spec:       unversioned.ProviderSpec{URL: p.Spec.URL, Timeout: p.Spec.Timeout, CABundle: p.Spec.CABundle},
			})
			if err != nil {
				t.Errorf("%s: Gatekeeper refuses the Provider: %v", d.block, err)
			}
			if !strings.HasSuffix(p.Spec.URL, "/v1/verify") {
				t.Errorf("%s: Provider url %q is not Assay's /v1/verify endpoint", d.block, p.Spec.URL)
			}
		case "constraints.gatekeeper.sh":
			u, err := reader.ReadUnstructured([]byte(d.text))
			if err != nil {
				t.Errorf("%s: %v", d.block, err)
				continue
			}
			if err := client.ValidateConstraint(u); err != nil {
				t.Errorf("%s: Gatekeeper refuses the constraint: %v", d.block, err)
			}
		case "templates.gatekeeper.sh":
			u, err := reader.ReadUnstructured([]byte(d.text))
			if err == nil {
				_, err = reader.ToTemplate(scheme, u)
			}
			if err != nil {
				t.Errorf("%s: not a ConstraintTemplate: %v", d.block, err)
			}
		default:
			t.Errorf("%s: %s objects are not checked; add them to %s", d.block, group, "test/docs/gatekeeper_test.go")
		}
	}
	if checked["externaldata.gatekeeper.sh"] == 0 || checked["constraints.gatekeeper.sh"] == 0 {
		t.Fatalf("Gatekeeper objects checked: %v; docs/policies.md shows a Provider and a constraint", checked)
	}
}
