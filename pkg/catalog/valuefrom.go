package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// A Verifier's parameters may take trust material (PEM certificates,
// public keys, trusted roots) from Secrets and ConfigMaps instead of
// inline: anywhere in the parameters, an object of exactly the form
//
//	{"valueFrom": {"configMapKeyRef": {"namespace": "assay-system", "name": "ca", "key": "root.pem"}}}
//	{"valueFrom": {"secretKeyRef":    {"namespace": "assay-system", "name": "keys", "key": "cosign.pub"}}}
//
// stands for the string held under that key. The controllers replace
// each one before the plugin sees the parameters, so no plugin knows
// about Kubernetes. A namespaced object's references may only name its
// own namespace (namespace may be left out); a cluster-wide object's
// must give the namespace.

// ValueRef is one valueFrom reference.
type ValueRef struct {
	// Kind is "ConfigMap" or "Secret".
	Kind                 string
	Namespace, Name, Key string
	// Field is where it is in the Verifier, e.g.
	// "spec.parameters.trustStores.ca.corp.certificates[0]".
	Field string
}

func (r ValueRef) String() string {
	return fmt.Sprintf("%s %s/%s key %q", r.Kind, r.Namespace, r.Name, r.Key)
}

// ResolveValueFrom replaces every valueFrom reference in raw (a
// Verifier's parameters) by what lookup returns for it, and returns the
// new parameters with the references found. namespace is the
// object's namespace ("" for cluster-wide objects). raw is returned as
// it is when it holds no reference. Errors name the field.
func ResolveValueFrom(raw []byte, namespace string, lookup func(ValueRef) (string, error)) ([]byte, []ValueRef, error) {
	if len(raw) == 0 || !bytes.Contains(raw, []byte(`"valueFrom"`)) {
		return raw, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, nil, fmt.Errorf("spec.parameters: %w", err)
	}
	var refs []ValueRef
	var errs []error
	out := walk(v, "spec.parameters", func(m map[string]any, field string) (any, bool) {
		ref, ok, err := valueRef(m, field, namespace)
		if !ok {
			return nil, false
		}
		if err != nil {
			errs = append(errs, err)
			return m, true
		}
		refs = append(refs, ref)
		s, err := lookup(ref)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %s: %w", field, err))
			return m, true
		}
		return s, true
	})
	if err := errors.Join(errs...); err != nil {
		return nil, refs, err
	}
	b, err := json.Marshal(out)
	return b, refs, err
}

// HasValueFrom reports whether raw holds a valueFrom reference, and
// the field of the first (in key order).
func HasValueFrom(raw []byte) (field string, ok bool) {
	if !bytes.Contains(raw, []byte(`"valueFrom"`)) {
		return "", false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	walk(v, "spec.parameters", func(m map[string]any, f string) (any, bool) {
		if _, has := m["valueFrom"]; has && !ok {
			field, ok = f, true
			return m, true
		}
		return nil, false
	})
	return field, ok
}

// walk rebuilds v, replacing each object that replace accepts.
func walk(v any, field string, replace func(map[string]any, string) (any, bool)) any {
	switch x := v.(type) {
	case map[string]any:
		if r, ok := replace(x, field); ok {
			return r
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make(map[string]any, len(x))
		for _, k := range keys {
			out[k] = walk(x[k], field+"."+k, replace)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = walk(e, field+"["+strconv.Itoa(i)+"]", replace)
		}
		return out
	}
	return v
}

// valueRef reads m as a reference: ok is false when m is not one (it
// has no "valueFrom" key); err says what is wrong with one that is.
func valueRef(m map[string]any, field, namespace string) (ValueRef, bool, error) {
	from, ok := m["valueFrom"]
	if !ok {
		return ValueRef{}, false, nil
	}
	bad := func(format string, args ...any) (ValueRef, bool, error) {
		return ValueRef{}, true, fmt.Errorf("field %s.valueFrom: %s", field, fmt.Sprintf(format, args...))
	}
	if len(m) != 1 {
		return bad("must be the object's only key")
	}
	fm, ok := from.(map[string]any)
	if !ok || len(fm) != 1 {
		return bad("want exactly one of configMapKeyRef or secretKeyRef")
	}
	var ref ValueRef
	var sel any
	switch {
	case fm["configMapKeyRef"] != nil:
		ref.Kind, sel = "ConfigMap", fm["configMapKeyRef"]
	case fm["secretKeyRef"] != nil:
		ref.Kind, sel = "Secret", fm["secretKeyRef"]
	default:
		return bad("want exactly one of configMapKeyRef or secretKeyRef")
	}
	sm, ok := sel.(map[string]any)
	if !ok {
		return bad("the reference must be an object with name, key and namespace")
	}
	for k, v := range sm {
		s, ok := v.(string)
		if !ok {
			return bad("%s must be a string", k)
		}
		switch k {
		case "name":
			ref.Name = s
		case "key":
			ref.Key = s
		case "namespace":
			ref.Namespace = s
		default:
			return bad("unknown field %q; want name, key and namespace", k)
		}
	}
	if ref.Name == "" || ref.Key == "" {
		return bad("needs a name and a key")
	}
	switch {
	case namespace != "" && ref.Namespace == "":
		ref.Namespace = namespace
	case namespace != "" && ref.Namespace != namespace:
		return bad("names namespace %q; an object of namespace %q may only use its own namespace's %ss", ref.Namespace, namespace, ref.Kind)
	case ref.Namespace == "":
		return bad("needs a namespace (the object is cluster-wide)")
	}
	ref.Field = field
	return ref, true, nil
}
