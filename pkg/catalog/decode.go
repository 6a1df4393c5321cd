package catalog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	strictjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// ErrInvalidObject is wrapped by every error about a malformed or
// contradictory verification object.
var ErrInvalidObject = errors.New("invalid verification object")

// Objects are the verification objects read from one source.
type Objects struct {
	Stores    []v1alpha1.Store
	Verifiers []v1alpha1.Verifier
	Policies  []v1alpha1.Policy

	// DockerConfigs are the ".dockerconfigjson" documents of the Stores'
	// pullSecrets, in order, as the controllers read them from the
	// cluster. A file never fills them.
	DockerConfigs [][]byte

	// PoliciesNotInEffect are the Policies the controllers left out of
	// this configuration because they are invalid, each as
	// `Policy "name": problem`; a report without a Policy names them. A
	// file never fills them: an invalid file is refused whole.
	PoliciesNotInEffect []string

	// docs records the document index of each object ("Kind/name" → index)
	// so that validation errors can point into the file.
	docs map[string]int
}

// ObjectError locates a problem in a configuration file: the file, the
// 1-based document index, the object and the field.
type ObjectError struct {
	File     string
	Document int
	Kind     string
	Name     string
	// Field is a JSON path such as "spec.rules[0].mode"; empty when the
	// problem concerns the whole object.
	Field string
	Err   error
}

func (e *ObjectError) Error() string {
	var b bytes.Buffer
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Document > 0 {
		fmt.Fprintf(&b, "document %d", e.Document)
	}
	if e.Kind != "" {
		if b.Len() > 0 && e.Document > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "(%s %q)", e.Kind, e.Name)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " field %s", e.Field)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Unwrap returns the cause; every ObjectError also matches ErrInvalidObject.
func (e *ObjectError) Unwrap() []error { return []error{ErrInvalidObject, e.Err} }

// LoadFile reads and validates a YAML file of Store, Verifier and Policy
// documents.
func LoadFile(path string) (*Objects, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	objs, err := Decode(path, data)
	if err != nil {
		return nil, err
	}
	if err := objs.Validate(path); err != nil {
		return nil, err
	}
	return objs, nil
}

// Decode parses a stream of YAML (or JSON) documents. Unknown kinds,
// apiVersions, unknown fields and duplicate fields are rejected; name is
// used in error messages. Every problem found is returned, joined.
func Decode(name string, data []byte) (*Objects, error) {
	objs := &Objects{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var errs []error
	for doc := 1; ; doc++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &ObjectError{File: name, Document: doc, Err: err}
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			doc--
			continue
		}
		if err := objs.decodeDocument(name, doc, raw); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return objs, nil
}

func (o *Objects) decodeDocument(file string, doc int, raw []byte) error {
	js, strictErr := yaml.YAMLToJSONStrict(raw) // rejects duplicate keys
	if strictErr != nil {
		var err error
		if js, err = yaml.YAMLToJSON(raw); err != nil {
			return &ObjectError{File: file, Document: doc, Err: fmt.Errorf("not valid YAML: %w", err)}
		}
	}
	var head struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if kind := jsonKind(js); kind != "an object" {
		return &ObjectError{File: file, Document: doc, Err: fmt.Errorf("not an object (got %s); each document must be a Store, Verifier or Policy object with apiVersion and kind", kind)}
	}
	if err := strictjson.UnmarshalCaseSensitivePreserveInts(js, &head); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			msg := fmt.Sprintf("got %s, want %s", article(te.Value), article(jsonKindOf(te.Type.Kind())))
			if te.Value == "bool" && te.Type.Kind() == reflect.String {
				msg += " (YAML reads y, n, yes, no, on and off as booleans: quote the value)"
			}
			return &ObjectError{File: file, Document: doc, Field: te.Field, Err: errors.New(msg)}
		}
		return &ObjectError{File: file, Document: doc, Err: fmt.Errorf("cannot read apiVersion, kind and metadata.name: %w", err)}
	}
	oe := func(field string, err error) error {
		return &ObjectError{File: file, Document: doc, Kind: head.Kind, Name: head.Metadata.Name, Field: field, Err: err}
	}
	if strictErr != nil {
		return oe("", strictErr)
	}
	if head.APIVersion != v1alpha1.APIVersion {
		return oe("apiVersion", fmt.Errorf("got %q, want %q", head.APIVersion, v1alpha1.APIVersion))
	}
	var target any
	switch head.Kind {
	case v1alpha1.KindStore:
		o.Stores = append(o.Stores, v1alpha1.Store{})
		target = &o.Stores[len(o.Stores)-1]
	case v1alpha1.KindVerifier:
		o.Verifiers = append(o.Verifiers, v1alpha1.Verifier{})
		target = &o.Verifiers[len(o.Verifiers)-1]
	case v1alpha1.KindPolicy:
		o.Policies = append(o.Policies, v1alpha1.Policy{})
		target = &o.Policies[len(o.Policies)-1]
	default:
		return oe("kind", fmt.Errorf("unknown kind %q; want Store, Verifier or Policy", head.Kind))
	}
	if o.docs == nil {
		o.docs = map[string]int{}
	}
	if _, dup := o.docs[head.Kind+"/"+head.Metadata.Name]; dup {
		return oe("metadata.name", fmt.Errorf("duplicate %s name %q", head.Kind, head.Metadata.Name))
	}
	o.docs[head.Kind+"/"+head.Metadata.Name] = doc
	strict, err := strictjson.UnmarshalStrict(js, target)
	if err != nil {
		return oe("", err)
	}
	if len(strict) > 0 {
		errs := make([]error, 0, len(strict))
		for _, s := range strict {
			field := ""
			if fe, ok := s.(strictjson.FieldError); ok {
				field = fe.FieldPath()
			}
			errs = append(errs, oe(field, s))
		}
		return errors.Join(errs...)
	}
	return nil
}

// jsonKind names the kind of the JSON value js ("an object", "a
// string", ...), for messages.
func jsonKind(js []byte) string {
	t := bytes.TrimSpace(js)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// jsonKindOf names the JSON kind that decodes into a Go kind.
func jsonKindOf(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "list"
	}
	return "number"
}

// article prefixes a JSON kind as encoding/json names it ("string",
// "object", "number", "bool", "array") with "a" or "an".
func article(kind string) string {
	switch kind {
	case "bool":
		kind = "boolean"
	case "array":
		kind = "list"
	}
	if strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

// stripComments drops YAML comment lines, and the document separator the
// YAML reader leaves at the start of a document that follows an empty
// one, so a document of only comments or nothing counts as empty.
func stripComments(raw []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '#' {
			continue
		}
		if rest, ok := bytes.CutPrefix(line, []byte("---")); ok {
			if r := bytes.TrimSpace(rest); len(r) == 0 || r[0] == '#' {
				continue
			}
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}
