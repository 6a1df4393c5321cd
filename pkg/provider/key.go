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
	// ServiceAccount and PullSecrets are the pod's serviceAccountName and
	// the names of its imagePullSecrets, when the prefix carries them
	// ("[namespace;serviceAccount=sa;pullSecrets=a,b]"); the registry
	// credentials in those Secrets (and in the ServiceAccount's
	// imagePullSecrets) are used for this key when Assay is allowed to
	// read them.
	ServiceAccount string
	PullSecrets    []string
	// Reference is the image reference, unparsed beyond trimming.
	Reference string
}

// MaxKeyPullSecrets bounds the pull Secrets one key may name.
const MaxKeyPullSecrets = 32

// String is the key in the form ParseKey reads.
func (k Key) String() string {
	if k.Namespace == "" {
		return k.Reference
	}
	var b strings.Builder
	b.WriteString("[" + k.Namespace)
	if k.ServiceAccount != "" {
		b.WriteString(";serviceAccount=" + k.ServiceAccount)
	}
	if len(k.PullSecrets) > 0 {
		b.WriteString(";pullSecrets=" + strings.Join(k.PullSecrets, ","))
	}
	b.WriteString("]" + k.Reference)
	return b.String()
}

// ErrInvalidKey is wrapped by every error ParseKey returns.
var ErrInvalidKey = errors.New("invalid key")

// ParseKey splits a key of the form "[namespace]reference",
// "[namespace;serviceAccount=name;pullSecrets=a,b]reference" (either
// attribute may be left out) or "reference". The namespace must be a
// Kubernetes namespace name (a DNS label), the ServiceAccount and Secret
// names Kubernetes object names (DNS subdomains), each attribute given
// once and at most MaxKeyPullSecrets Secrets; the reference must be
// non-empty, printable and without spaces, and the key at most
// MaxKeyBytes long. The reference itself is parsed later, by the
// executor.
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
		prefix := rest[1:end]
		rest = rest[end+1:]
		fields := strings.Split(prefix, ";")
		k.Namespace = fields[0]
		if err := checkNamespace(k.Namespace); err != nil {
			return Key{}, fmt.Errorf("%w %q: namespace %q: %v", ErrInvalidKey, key, k.Namespace, err)
		}
		if err := k.parseAttributes(fields[1:]); err != nil {
			return Key{}, fmt.Errorf("%w %q: %v", ErrInvalidKey, key, err)
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

// parseAttributes reads the "name=value" fields after the namespace.
func (k *Key) parseAttributes(fields []string) error {
	seen := map[string]bool{}
	for _, f := range fields {
		name, value, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("attribute %q is not name=value", f)
		}
		if seen[name] {
			return fmt.Errorf("attribute %s is given twice", name)
		}
		seen[name] = true
		switch name {
		case "serviceAccount":
			if err := checkObjectName(value); err != nil {
				return fmt.Errorf("serviceAccount %q: %v", value, err)
			}
			k.ServiceAccount = value
		case "pullSecrets":
			names := strings.Split(value, ",")
			if len(names) > MaxKeyPullSecrets {
				return fmt.Errorf("pullSecrets names %d Secrets, more than the limit of %d", len(names), MaxKeyPullSecrets)
			}
			for _, n := range names {
				if err := checkObjectName(n); err != nil {
					return fmt.Errorf("pullSecrets: Secret %q: %v", n, err)
				}
			}
			k.PullSecrets = names
		default:
			return fmt.Errorf("unknown attribute %q; want serviceAccount or pullSecrets", name)
		}
	}
	return nil
}

// checkObjectName accepts an RFC 1123 subdomain, as names of
// ServiceAccounts and Secrets are.
func checkObjectName(name string) error {
	if name == "" || len(name) > 253 {
		return errors.New("must be 1 to 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || checkNamespace(label) != nil {
			return errors.New("must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit")
		}
	}
	return nil
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
