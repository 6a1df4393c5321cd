package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Kinds of the namespaced objects.
const (
	KindNamespacedStore    = "NamespacedStore"
	KindNamespacedVerifier = "NamespacedVerifier"
	KindNamespacedPolicy   = "NamespacedPolicy"
)

// NamespacedStore is a Store for the Pods of its own namespace. When a
// namespace has NamespacedStores, they replace the cluster's Stores for
// that namespace; other namespaces are not affected.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
type NamespacedStore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StoreSpec    `json:"spec,omitempty"`
	Status ObjectStatus `json:"status,omitempty"`
}

// NamespacedVerifier is a Verifier for the Pods of its own namespace.
// When a namespace has NamespacedVerifiers, they replace the cluster's
// Verifiers for that namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
type NamespacedVerifier struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   VerifierSpec `json:"spec,omitempty"`
	Status ObjectStatus `json:"status,omitempty"`
}

// NamespacedPolicy is a Policy for the Pods of its own namespace. When a
// namespace has a NamespacedPolicy, it replaces the cluster's Policy for
// that namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
type NamespacedPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PolicySpec   `json:"spec,omitempty"`
	Status ObjectStatus `json:"status,omitempty"`
}

// NamespacedStoreList is a list of NamespacedStores.
// +kubebuilder:object:root=true
type NamespacedStoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespacedStore `json:"items"`
}

// NamespacedVerifierList is a list of NamespacedVerifiers.
// +kubebuilder:object:root=true
type NamespacedVerifierList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespacedVerifier `json:"items"`
}

// NamespacedPolicyList is a list of NamespacedPolicies.
// +kubebuilder:object:root=true
type NamespacedPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespacedPolicy `json:"items"`
}
