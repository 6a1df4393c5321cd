package provider

// The Gatekeeper external data wire format, as Gatekeeper v3.23 sends and
// reads it (frameworks/constraint pkg/externaldata). The types are
// declared here rather than imported so that the provider does not pull
// the Rego engine into the binary; the integration tests under
// test/gatekeeper run the real Gatekeeper client against this handler.

// API versions and kinds.
const (
	// APIVersion is the apiVersion of Gatekeeper's external data API.
	APIVersion = "externaldata.gatekeeper.sh/v1beta1"
	// RatifyAPIVersion is the apiVersion Ratify v1 answers with.
	RatifyAPIVersion = "externaldata.gatekeeper.sh/v1alpha1"
	// KindRequest and KindResponse are the request's and the answer's kinds.
	KindRequest  = "ProviderRequest"
	KindResponse = "ProviderResponse"
)

// ProviderRequest is what Gatekeeper POSTs to the provider.
type ProviderRequest struct {
	APIVersion string  `json:"apiVersion"`
	Kind       string  `json:"kind"`
	Request    Request `json:"request"`
}

// Request carries the keys to look up. Gatekeeper neither deduplicates
// nor limits them.
type Request struct {
	Keys []string `json:"keys"`
}

// ProviderResponse is the provider's answer.
type ProviderResponse struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Response   Response `json:"response"`
}

// Response holds one Item per requested key, or a SystemError when the
// request as a whole could not be served.
type Response struct {
	// Idempotent must be true for Gatekeeper to use the answer for
	// mutation. Assay's answers are always idempotent.
	Idempotent bool   `json:"idempotent"`
	Items      []Item `json:"items"`
	// SystemError fails the whole request; Gatekeeper does not cache it.
	SystemError string `json:"systemError,omitempty"`
}

// Item is the answer for one key: a Value, or an Error.
type Item struct {
	Key   string `json:"key"`
	Value any    `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
}
