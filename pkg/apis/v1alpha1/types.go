package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and version of the verification objects.
const (
	Group   = "config.assay.dev"
	Version = "v1alpha1"
)

// GroupVersion is the API group and version of these objects.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// APIVersion is "config.assay.dev/v1alpha1".
var APIVersion = GroupVersion.String()

// Kinds.
const (
	KindStore    = "Store"
	KindVerifier = "Verifier"
	KindPolicy   = "Policy"
)

// Store configures registry access: credentials, plain-HTTP registries and
// the limits applied to everything fetched.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
type Store struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StoreSpec    `json:"spec,omitempty"`
	Status ObjectStatus `json:"status,omitempty"`
}

// StoreSpec is the desired registry access.
type StoreSpec struct {
	// Registries lists per-registry settings, keyed by host[:port]
	// ("docker.io", "localhost:5000").
	// +optional
	Registries []RegistrySpec `json:"registries,omitempty"`
	// DockerConfigPaths are docker config.json files whose auths and
	// credential helpers supply credentials. Empty means the default
	// docker config of the user running Assay.
	// +optional
	DockerConfigPaths []string `json:"dockerConfigPaths,omitempty"`
	// PullSecrets are Kubernetes Secrets of type
	// kubernetes.io/dockerconfigjson whose credentials the Store uses,
	// searched in order before DockerConfigPaths. Only with the
	// cluster as the configuration source; a file that names them is
	// refused.
	// +optional
	PullSecrets []SecretReference `json:"pullSecrets,omitempty"`
	// Limits bound what is fetched and walked for one subject.
	// +optional
	Limits StoreLimits `json:"limits,omitempty"`
}

// SecretReference names a Secret.
type SecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Namespace of the Secret.
	// +kubebuilder:validation:MinLength=1
	Namespace string `json:"namespace"`
}

// RegistrySpec configures one registry host.
type RegistrySpec struct {
	// Host is the registry host[:port], e.g. "ghcr.io" or "localhost:5000".
	Host string `json:"host"`
	// PlainHTTP allows plain HTTP for this registry only. Use it only for
	// registries on loopback or a trusted network.
	// +optional
	PlainHTTP bool `json:"plainHTTP,omitempty"`
	// TokenRealms lists the hosts (host or host:port) of Bearer token
	// realms on loopback, link-local, private or carrier-grade NAT
	// addresses that this registry may send Assay to for tokens, with
	// the registry's credentials. A realm on the registry's own host, or
	// on a public host over HTTPS, needs no entry; any other private
	// realm is refused with REGISTRY_ERROR, so that a registry cannot
	// have Assay send credentials to an internal service.
	// +optional
	TokenRealms []string `json:"tokenRealms,omitempty"`
	// Username and Password are static basic credentials. They take
	// precedence over the docker config.
	// +optional
	Username string `json:"username,omitempty"`
	// +optional
	Password string `json:"password,omitempty"`
	// IdentityToken is an OAuth2 refresh token.
	// +optional
	IdentityToken string `json:"identityToken,omitempty"`
}

// StoreLimits bound the work done for one subject. Zero values mean the
// documented defaults.
type StoreLimits struct {
	// MaxManifestBytes caps a manifest or index. Default 4 MiB.
	// +optional
	MaxManifestBytes int64 `json:"maxManifestBytes,omitempty"`
	// MaxBlobBytes caps a blob handed to a verifier. Default 32 MiB.
	// +optional
	MaxBlobBytes int64 `json:"maxBlobBytes,omitempty"`
	// MaxBytesPerArtifactType caps each layer of an artifact of the
	// given artifact type, by its descriptor, before any byte is read
	// ({"application/vnd.cncf.notary.signature": 65536}). A type its
	// plugin declares a signature defaults to 256 KiB; any other type to
	// maxBlobBytes, which caps every blob whatever this says.
	// +optional
	MaxBytesPerArtifactType map[string]int64 `json:"maxBytesPerArtifactType,omitempty"`
	// MaxReferrers caps the referrers considered per subject. Default 1024.
	// +optional
	MaxReferrers int `json:"maxReferrers,omitempty"`
	// MaxDepth caps nesting of referrers of referrers: 1 lists the
	// image's referrers only; 2 also theirs (a signature on a
	// vulnerability report), but only for artifacts whose Verifier has
	// requireSignature, since nothing else reads them. Default 2.
	// +optional
	MaxDepth int `json:"maxDepth,omitempty"`
	// MaxNodes caps the artifacts walked per subject. Default 256.
	// +optional
	MaxNodes int `json:"maxNodes,omitempty"`
}

// Verifier names a plugin, the artifact types it verifies and its
// parameters.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
type Verifier struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   VerifierSpec `json:"spec,omitempty"`
	Status ObjectStatus `json:"status,omitempty"`
}

// VerifierSpec is the desired verifier.
type VerifierSpec struct {
	// Plugin is the name of a plugin binary in the plugin directory, e.g.
	// "notation". It is a name, never a path or URL.
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9-]*$`
	Plugin string `json:"plugin"`
	// ArtifactTypes are the OCI artifact types this verifier handles, e.g.
	// "application/vnd.cncf.notary.signature". At least one; each must be a
	// type the plugin declares.
	// +kubebuilder:validation:MinItems=1
	ArtifactTypes []string `json:"artifactTypes"`
	// Parameters are passed to the plugin as JSON; the plugin validates them.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
	// RequireSignature makes every artifact this Verifier verifies carry
	// a verified signature of its own: a referrer of the artifact (for
	// example a Notary Project or cosign signature on a vulnerability
	// report) whose every result is verified. Without one, the
	// Verifier's verified result becomes failed with NO_SIGNATURE. The
	// signature that counted is shown in the result's details.
	// +optional
	RequireSignature bool `json:"requireSignature,omitempty"`
}

// Policy says which artifact types a subject must carry and how their
// verdicts combine into the report's isSuccess.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
type Policy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PolicySpec   `json:"spec,omitempty"`
	Status ObjectStatus `json:"status,omitempty"`
}

// PolicySpec is the desired policy.
type PolicySpec struct {
	// Rules, one per artifact type or group of alternative types
	// (artifactTypes). An artifact type appears in one rule only. At
	// least one rule must be required, so that an image with nothing
	// attached fails, unless allowUnsigned is set.
	// +kubebuilder:validation:MinItems=1
	Rules []PolicyRule `json:"rules"`
	// AllowUnsigned lets a Policy whose rules are all optional (none
	// required) stand: an image with nothing attached then satisfies it
	// and is admitted with nothing verified, and its report says so
	// ("admitted with nothing verified: Policy allows unsigned images
	// (spec.allowUnsigned)"). It is for Policies that only restrict what
	// is attached ("a vulnerability report, if there is one, must
	// verify"). Without it such a Policy is refused; with a required
	// rule it is refused too, as it would have no effect.
	// +optional
	AllowUnsigned bool `json:"allowUnsigned,omitempty"`
	// MultiArch says what must pass when the image is an image index
	// (a multi-platform image): "index" (the default) applies the rules
	// to the artifacts attached to the index itself; "platforms" applies
	// them to every platform manifest of the index, each of which must
	// pass; "either" passes when the index or every platform does. The
	// report lists the platforms checked and the coverage ("3 of 4
	// platforms pass").
	// +optional
	MultiArch MultiArch `json:"multiArch,omitempty"`
}

// MultiArch chooses what an image index must satisfy.
// +kubebuilder:validation:Enum=index;platforms;either
type MultiArch string

const (
	// MultiArchIndex: the artifacts attached to the index itself.
	MultiArchIndex MultiArch = "index"
	// MultiArchPlatforms: every platform manifest of the index.
	MultiArchPlatforms MultiArch = "platforms"
	// MultiArchEither: the index, or else every platform manifest.
	MultiArchEither MultiArch = "either"
)

// Mode combines the verdicts of several artifacts of a rule's types.
// Under a rule with artifactTypes, the artifacts of all the listed types
// present count together.
// +kubebuilder:validation:Enum=any;all;newest
type Mode string

const (
	// ModeAny: the rule holds when at least one artifact is verified.
	ModeAny Mode = "any"
	// ModeAll: the rule holds when every artifact of the rule's types
	// found is verified; a listed type of which nothing is attached
	// does not count against it.
	ModeAll Mode = "all"
	// ModeNewest: the newest artifact of the rule's types (by its
	// org.opencontainers.image.created annotation) decides; older ones
	// are reported but do not count. For vulnerability reports: the
	// latest scan wins.
	ModeNewest Mode = "newest"
)

// PolicyRule is the rule for one artifact type, or for one of several
// alternative types: exactly one of ArtifactType and ArtifactTypes.
type PolicyRule struct {
	// ArtifactType, e.g. "application/vnd.cncf.notary.signature".
	// +optional
	ArtifactType string `json:"artifactType,omitempty"`
	// ArtifactTypes are alternatives: the rule is satisfied when an
	// artifact of any of them is present and the artifacts of all of
	// them found pass under Mode, e.g. a cosign v2 signature
	// ("application/vnd.dev.cosign.artifact.sig.v1+json") or a cosign
	// v3 Sigstore bundle ("application/vnd.dev.sigstore.bundle.v0.3+json").
	// +optional
	// +kubebuilder:validation:MinItems=1
	ArtifactTypes []string `json:"artifactTypes,omitempty"`
	// Mode defaults to "any".
	// +optional
	Mode Mode `json:"mode,omitempty"`
	// Required makes a subject without any artifact of the rule's
	// types fail.
	// +optional
	Required bool `json:"required,omitempty"`
}

// ObjectStatus is the observed state of a verification object.
type ObjectStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// StoreList is a list of Stores.
// +kubebuilder:object:root=true
type StoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Store `json:"items"`
}

// VerifierList is a list of Verifiers.
// +kubebuilder:object:root=true
type VerifierList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Verifier `json:"items"`
}

// PolicyList is a list of Policies.
// +kubebuilder:object:root=true
type PolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Policy `json:"items"`
}

// AddToScheme registers the types with a runtime.Scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Store{}, &StoreList{}, &Verifier{}, &VerifierList{}, &Policy{}, &PolicyList{},
		&NamespacedStore{}, &NamespacedStoreList{}, &NamespacedVerifier{}, &NamespacedVerifierList{},
		&NamespacedPolicy{}, &NamespacedPolicyList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
