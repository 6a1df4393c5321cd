// Package pullsecrets reads the registry credentials a Pod may use to
// pull its images, as the kubelet finds them: the Pod's own
// imagePullSecrets, then those of its ServiceAccount. Assay verifies a
// Pod's images with them, so that an image the Pod can pull can be
// verified too.
//
// Reads go to the API server (an uncached client: only the named
// objects, no cluster-wide watch of Secrets) and are remembered for a
// short TTL, so a burst of admissions in one namespace costs one read
// per object. Missing or unreadable objects are not errors: like the
// kubelet, Assay goes on without them, and says which it could not use.
package pullsecrets

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultTTL is how long an object read is reused.
const DefaultTTL = 30 * time.Second

// maxEntries bounds the objects remembered; beyond it the cache is
// emptied (and refilled by the next reads).
const maxEntries = 4096

// Reader reads pull Secrets. Create it with New; it is safe for
// concurrent use.
type Reader struct {
	client client.Reader
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]entry
}

type entry struct {
	obj     client.Object // nil: the object does not exist
	err     error         // a read that failed otherwise (Forbidden, ...)
	expires time.Time
}

// Options configure a Reader.
type Options struct {
	// TTL is how long an object read is reused; <= 0 means DefaultTTL.
	TTL time.Duration
	// Now returns the time; nil means time.Now.
	Now func() time.Time
}

// New returns a Reader that reads with c.
func New(c client.Reader, o Options) *Reader {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Reader{client: c, ttl: o.TTL, now: o.Now, entries: map[string]entry{}}
}

// Credentials are the docker configs found for one Pod, in the order
// the kubelet tries them, and what could not be used.
type Credentials struct {
	// DockerConfigs are .dockerconfigjson documents (a legacy .dockercfg
	// is converted).
	DockerConfigs [][]byte
	// Unused says, for each Secret or ServiceAccount that could not be
	// used, why: "Secret team-a/regcred does not exist".
	Unused []string
}

// ForPod returns the credentials of a Pod in namespace running as
// serviceAccount (may be empty: none is read) with imagePullSecrets
// secrets. Secrets named twice are read once. ctx bounds the reads.
func (r *Reader) ForPod(ctx context.Context, namespace, serviceAccount string, secrets []string) Credentials {
	var out Credentials
	names := append([]string(nil), secrets...)
	if serviceAccount != "" {
		sa := &corev1.ServiceAccount{}
		switch err := r.get(ctx, namespace, serviceAccount, sa); {
		case err == errMissing:
			out.Unused = append(out.Unused, fmt.Sprintf("ServiceAccount %s/%s does not exist", namespace, serviceAccount))
		case err != nil:
			out.Unused = append(out.Unused, fmt.Sprintf("ServiceAccount %s/%s: %v", namespace, serviceAccount, err))
		default:
			for _, ref := range sa.ImagePullSecrets {
				names = append(names, ref.Name)
			}
		}
	}
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] || name == "" {
			continue
		}
		seen[name] = true
		s := &corev1.Secret{}
		err := r.get(ctx, namespace, name, s)
		switch {
		case err == errMissing:
			out.Unused = append(out.Unused, fmt.Sprintf("Secret %s/%s does not exist", namespace, name))
			continue
		case err != nil:
			out.Unused = append(out.Unused, fmt.Sprintf("Secret %s/%s: %v", namespace, name, err))
			continue
		}
		config, err := DockerConfig(s)
		if err != nil {
			out.Unused = append(out.Unused, fmt.Sprintf("Secret %s/%s: %v", namespace, name, err))
			continue
		}
		out.DockerConfigs = append(out.DockerConfigs, config)
	}
	return out
}

// DockerConfig returns the .dockerconfigjson document of a pull Secret:
// a kubernetes.io/dockerconfigjson Secret's as it is, a legacy
// kubernetes.io/dockercfg Secret's wrapped in "auths". Other Secrets are
// an error.
func DockerConfig(s *corev1.Secret) ([]byte, error) {
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		data, ok := s.Data[corev1.DockerConfigJsonKey]
		if !ok {
			return nil, fmt.Errorf("has no %s", corev1.DockerConfigJsonKey)
		}
		var doc struct {
			Auths map[string]json.RawMessage `json:"auths"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s is not a docker config: %v", corev1.DockerConfigJsonKey, err)
		}
		return data, nil
	case corev1.SecretTypeDockercfg:
		data, ok := s.Data[corev1.DockerConfigKey]
		if !ok {
			return nil, fmt.Errorf("has no %s", corev1.DockerConfigKey)
		}
		var auths map[string]json.RawMessage
		if err := json.Unmarshal(data, &auths); err != nil {
			return nil, fmt.Errorf("%s is not a JSON object: %v", corev1.DockerConfigKey, err)
		}
		return json.Marshal(map[string]any{"auths": auths})
	}
	return nil, fmt.Errorf("is of type %q; want %s or %s", s.Type, corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg)
}

type missing struct{}

func (missing) Error() string { return "does not exist" }

var errMissing error = missing{}

// get reads namespace/name into obj, or from the cache; errMissing when
// it does not exist.
func (r *Reader) get(ctx context.Context, namespace, name string, obj client.Object) error {
	key := fmt.Sprintf("%T/%s/%s", obj, namespace, name)
	now := r.now()
	r.mu.Lock()
	e, ok := r.entries[key]
	r.mu.Unlock()
	if !ok || now.After(e.expires) {
		err := r.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)
		switch {
		case apierrors.IsNotFound(err):
			e = entry{}
		case err != nil:
			if ctx.Err() != nil { // the caller's deadline, not the object's state
				return err
			}
			e = entry{err: err}
		default:
			e = entry{obj: obj.DeepCopyObject().(client.Object)}
		}
		e.expires = now.Add(r.ttl)
		r.mu.Lock()
		if len(r.entries) >= maxEntries {
			r.entries = map[string]entry{}
		}
		r.entries[key] = e
		r.mu.Unlock()
	}
	switch {
	case e.err != nil:
		return e.err
	case e.obj == nil:
		return errMissing
	}
	switch dst := obj.(type) {
	case *corev1.Secret:
		e.obj.(*corev1.Secret).DeepCopyInto(dst)
	case *corev1.ServiceAccount:
		e.obj.(*corev1.ServiceAccount).DeepCopyInto(dst)
	default:
		return fmt.Errorf("pullsecrets: unexpected object %T", obj)
	}
	return nil
}
