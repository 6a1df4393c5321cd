package provider

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// MaxKeyBytes bounds one key: a namespace prefix and an image reference
// (the distribution reference grammar allows names of 255 characters,
// plus a tag or digest).
const MaxKeyBytes = 1024

// Key is one parsed request key.
type Key struct {
	// Namespace is the pod's namespace when the key carries Ratify's
	// "[namespace]" prefix, else "".
	Namespace string
	// Reference is the image reference, unparsed beyond trimming.
	Reference string
}

// ErrInvalidKey is wrapped by every error ParseKey returns.
var ErrInvalidKey = errors.New("invalid key")

// ParseKey splits a key of the form "[namespace]reference" or
// "reference". The namespace must be a Kubernetes namespace name (a DNS
// label); the reference must be non-empty, printable and without spaces,
// and the key at most MaxKeyBytes long. The reference itself is parsed
// later, by the executor.
func ParseKey(key string) (Key, error) {
	if len(key) > MaxKeyBytes {
		return Key{}, fmt.Errorf("%w: %d bytes, more than the limit of %d", ErrInvalidKey, len(key), MaxKeyBytes)
	}
	var k Key
	rest := key
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return Key{}, fmt.Errorf("%w %q: the namespace prefix has no closing ']'", ErrInvalidKey, key)
		}
		k.Namespace, rest = rest[1:end], rest[end+1:]
		if err := checkNamespace(k.Namespace); err != nil {
			return Key{}, fmt.Errorf("%w %q: namespace %q: %v", ErrInvalidKey, key, k.Namespace, err)
		}
	}
	if rest == "" {
		return Key{}, fmt.Errorf("%w %q: no image reference", ErrInvalidKey, key)
	}
	for _, r := range rest {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return Key{}, fmt.Errorf("%w %q: the image reference contains %q", ErrInvalidKey, key, r)
		}
	}
	k.Reference = rest
	return k, nil
}

// checkNamespace accepts an RFC 1123 label, as Kubernetes namespaces are.
func checkNamespace(ns string) error {
	if ns == "" || len(ns) > 63 {
		return errors.New("must be 1 to 63 characters")
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(ns)-1) {
			return errors.New("must be lower-case letters, digits and '-', starting and ending with a letter or digit")
		}
	}
	return nil
}
