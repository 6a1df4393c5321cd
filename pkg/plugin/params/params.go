package params

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/assayproj/assay/pkg/plugin"
)

// Options tune the messages of Decode.
type Options struct {
	// Missing is the detail of the error Decode reports when the
	// parameters are absent (no bytes, only white space, or null), for
	// example "Set trustPolicies.". If empty, the error has no detail.
	// Absent parameters are always an error for Decode.
	Missing string
}

// Decode decodes raw strictly into a new T. Object keys that do not name a
// field of T exactly (also a mere case mismatch, which encoding/json would
// accept) are error diagnostics with their full path and a suggestion;
// values inside a json.RawMessage field are free-form and not checked.
//
// It returns nil when nothing usable could be decoded: absent parameters,
// invalid JSON, a value of the wrong type (the diagnostic names the field)
// or more than one JSON value. When the only problems are unknown fields,
// it returns the leniently decoded T along with their diagnostics, so the
// caller can validate the rest and report every problem at once. Decode
// reports only error diagnostics.
func Decode[T any](raw []byte, opts Options) (*T, []plugin.Diagnostic) {
	var diags []plugin.Diagnostic
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil, append(diags, Error("", "parameters are required", opts.Missing))
	}
	if !json.Valid(trimmed) {
		var p T
		err := json.Unmarshal(trimmed, &p)
		return nil, append(diags, Error("", "parameters are not valid JSON", DescribeJSONError(err)))
	}
	diags = UnknownFields(reflect.TypeFor[T](), trimmed)
	strict := len(diags) == 0

	var p T
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(&p); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			diags = append(diags, Error(typeErr.Field, fmt.Sprintf("must be a JSON %s, not %s", Kind(typeErr.Type), typeErr.Value), ""))
		} else {
			diags = append(diags, Error("", "parameters cannot be decoded", err.Error()))
		}
		return nil, diags
	}
	if dec.More() {
		return nil, append(diags, Error("", "parameters hold more than one JSON value", ""))
	}
	// With unknown fields already reported, the lenient decode lets the
	// rest be validated too, so every problem shows at once.
	return &p, diags
}

// UnknownFields walks the JSON value data against t and returns an error
// diagnostic for every object key, at any depth, that does not name a
// field of the struct it decodes into exactly. Keys are visited in sorted
// order. Values that do not have the shape t wants are skipped: decoding
// reports them. A json.RawMessage is free-form and not walked.
func UnknownFields(t reflect.Type, data []byte) []plugin.Diagnostic {
	var diags []plugin.Diagnostic
	unknownFields("", data, t, &diags)
	return diags
}

func unknownFields(path string, data json.RawMessage, t reflect.Type, diags *[]plugin.Diagnostic) {
	if t == reflect.TypeFor[json.RawMessage]() {
		return // free-form: its own parser checks it
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return // not an object: the decoder reports the type error
		}
		fields := Fields(t)
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			f, ok := fields[key]
			if !ok {
				detail := Suggest(key, slices.Collect(maps.Keys(fields)))
				if detail == "" {
					detail = "Remove it; see the plugin's README for the parameters."
				}
				*diags = append(*diags, Error(JoinPath(path, key), fmt.Sprintf("unknown field %q", key), detail))
				continue
			}
			unknownFields(JoinPath(path, key), obj[key], f.Type, diags)
		}
	case reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return
		}
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			unknownFields(JoinPath(path, key), obj[key], t.Elem(), diags)
		}
	case reflect.Slice, reflect.Array:
		var list []json.RawMessage
		if json.Unmarshal(data, &list) != nil {
			return
		}
		for i, item := range list {
			unknownFields(path+"["+strconv.Itoa(i)+"]", item, t.Elem(), diags)
		}
	}
}

// Fields maps the JSON names of the struct type t's exported fields (the
// json tag's name, else the Go name; "-" excluded) to the fields. Embedded
// structs are not flattened.
func Fields(t reflect.Type) map[string]reflect.StructField {
	fields := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f
	}
	return fields
}

// Suggest names the field an unknown key was probably meant to be, as a
// sentence for a diagnostic's detail: a name equal to key but for case
// first, else the first name (in sorted order) that is a prefix of key or
// has key as its prefix, ignoring case. It returns "" when no name is
// close.
func Suggest(key string, names []string) string {
	names = slices.Sorted(slices.Values(names))
	for _, name := range names {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf("Field names are case-sensitive: did you mean %q?", name)
		}
	}
	lower := strings.ToLower(key)
	for _, name := range names {
		n := strings.ToLower(name)
		if strings.HasPrefix(n, lower) || strings.HasPrefix(lower, n) {
			return fmt.Sprintf("Did you mean %q?", name)
		}
	}
	return ""
}

// JoinPath appends key to the dotted field path path ("" is the top
// level). A key that is not a plain identifier (letters, digits, '_' and
// '-'), the empty key included, is quoted in brackets: trustStores.ca["a b"].
func JoinPath(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	default:
		return path + "." + key
	}
}

// DescribeJSONError describes an encoding/json error for a diagnostic's
// detail, with the byte offset of a syntax error. It returns "" for nil.
func DescribeJSONError(err error) string {
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Sprintf("%v (at byte %d)", syntaxErr, syntaxErr.Offset)
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// Kind names the kind of JSON value that decodes into t: "string",
// "boolean", "array", "object" or "number", else t's Go name.
func Kind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	default:
		return t.String()
	}
}

// ValueKind names the kind of the JSON value v with its article, as in
// "must be a JSON string, not a number": "a string", "an array", "an
// object", "a boolean", "null", "a number", or "nothing" when v is empty.
// It looks at the first byte only and does not validate v.
func ValueKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '[':
		return "an array"
	case '{':
		return "an object"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// Error returns an error diagnostic about field (a path as JoinPath
// builds it; "" for the parameters as a whole).
func Error(field, summary, detail string) plugin.Diagnostic {
	return plugin.Diagnostic{Severity: plugin.SeverityError, Field: field, Summary: summary, Detail: detail}
}

// Warning returns a warning diagnostic about field (a path as JoinPath
// builds it; "" for the parameters as a whole).
func Warning(field, summary, detail string) plugin.Diagnostic {
	return plugin.Diagnostic{Severity: plugin.SeverityWarning, Field: field, Summary: summary, Detail: detail}
}
