package params_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/plugin/params"
)

type testParams struct {
	Name     string                  `json:"name"`
	Scopes   []string                `json:"scopes,omitempty"`
	Count    int                     `json:"count,omitempty"`
	Inner    *testInner              `json:"inner,omitempty"`
	Stores   map[string]testInner    `json:"stores,omitempty"`
	List     []testInner             `json:"list,omitempty"`
	Free     json.RawMessage         `json:"free,omitempty"`
	Skipped  string                  `json:"-"`
	Untagged bool                    // its JSON name is its Go name
	Nested   map[string][]*testInner `json:"nested,omitempty"`
}

type testInner struct {
	Subject       string `json:"subject,omitempty"`
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
	Issuer        string `json:"issuer,omitempty"`
}

var missing = params.Options{Missing: "Set name."}

func TestDecode(t *testing.T) {
	tests := map[string]struct {
		raw       string
		want      *testParams
		wantDiags []plugin.Diagnostic
	}{
		"valid parameters decode without diagnostics": {
			raw:  `{"name": "a", "scopes": ["x"], "count": 2, "inner": {"subject": "s"}}`,
			want: &testParams{Name: "a", Scopes: []string{"x"}, Count: 2, Inner: &testInner{Subject: "s"}},
		},
		"no bytes are missing parameters": {
			raw:       "",
			wantDiags: []plugin.Diagnostic{params.Error("", "parameters are required", "Set name.")},
		},
		"null surrounded by white space is missing parameters": {
			raw:       " \n null \t",
			wantDiags: []plugin.Diagnostic{params.Error("", "parameters are required", "Set name.")},
		},
		"invalid JSON names the byte offset": {
			raw:       `{"name": }`,
			wantDiags: []plugin.Diagnostic{params.Error("", "parameters are not valid JSON", "invalid character '}' looking for beginning of value (at byte 10)")},
		},
		"a value of the wrong type names its field": {
			raw:       `{"name": 5}`,
			wantDiags: []plugin.Diagnostic{params.Error("name", "must be a JSON string, not number", "")},
		},
		"an array where an object belongs names the kind": {
			raw:       `[]`,
			wantDiags: []plugin.Diagnostic{params.Error("", "must be a JSON object, not array", "")},
		},
		"two JSON values are rejected": {
			raw:       `{"name": "a"} {}`,
			wantDiags: []plugin.Diagnostic{params.Error("", "parameters are not valid JSON", "invalid character '{' after top-level value (at byte 15)")},
		},
		"a case mismatch is an unknown field and the rest still decodes": {
			raw:       `{"Name": "a", "count": 1}`,
			want:      &testParams{Name: "a", Count: 1},
			wantDiags: []plugin.Diagnostic{params.Error("Name", `unknown field "Name"`, `Field names are case-sensitive: did you mean "name"?`)},
		},
		"unknown fields at every depth are reported with their paths in sorted order": {
			raw: `{"zzz": 1, "inner": {"subj": "s"}, "list": [{}, {"issuerX": "i"}], "stores": {"a b": {"x": 1}}, "nested": {"k": [null, {"Subject": "s"}]}}`,
			want: &testParams{
				Inner:  &testInner{},
				List:   []testInner{{}, {}},
				Stores: map[string]testInner{"a b": {}},
				Nested: map[string][]*testInner{"k": {nil, {Subject: "s"}}},
			},
			wantDiags: []plugin.Diagnostic{
				params.Error("inner.subj", `unknown field "subj"`, `Did you mean "subject"?`),
				params.Error("list[1].issuerX", `unknown field "issuerX"`, `Did you mean "issuer"?`),
				params.Error(`nested.k[1].Subject`, `unknown field "Subject"`, `Field names are case-sensitive: did you mean "subject"?`),
				params.Error(`stores["a b"].x`, `unknown field "x"`, "Remove it; see the plugin's README for the parameters."),
				params.Error("zzz", `unknown field "zzz"`, "Remove it; see the plugin's README for the parameters."),
			},
		},
		"a json.RawMessage field is free-form": {
			raw:  `{"free": {"anything": [1, {"goes": true}]}}`,
			want: &testParams{Free: json.RawMessage(`{"anything": [1, {"goes": true}]}`)},
		},
		"a field tagged with a dash is unknown": {
			raw:       `{"Skipped": "x"}`,
			want:      &testParams{},
			wantDiags: []plugin.Diagnostic{params.Error("Skipped", `unknown field "Skipped"`, "Remove it; see the plugin's README for the parameters.")},
		},
		"an untagged field is known by its Go name": {
			raw:  `{"Untagged": true}`,
			want: &testParams{Untagged: true},
		},
		"a type error after unknown fields reports both and decodes nothing": {
			raw: `{"nam": "a", "count": "2"}`,
			wantDiags: []plugin.Diagnostic{
				params.Error("nam", `unknown field "nam"`, `Did you mean "name"?`),
				params.Error("count", "must be a JSON number, not string", ""),
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, diags := params.Decode[testParams]([]byte(tc.raw), missing)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decode(%q) parameters (-want +got):\n%s", tc.raw, diff)
			}
			if diff := cmp.Diff(tc.wantDiags, diags); diff != "" {
				t.Errorf("Decode(%q) diagnostics (-want +got):\n%s", tc.raw, diff)
			}
		})
	}
}

func TestDecodeWithoutMissingDetail(t *testing.T) {
	_, diags := params.Decode[testParams](nil, params.Options{})
	want := []plugin.Diagnostic{params.Error("", "parameters are required", "")}
	if diff := cmp.Diff(want, diags); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"subjectRegExp", "subject", "issuer"}
	tests := map[string]struct {
		key  string
		want string
	}{
		"a case mismatch wins over a prefix":        {key: "SUBJECT", want: `Field names are case-sensitive: did you mean "subject"?`},
		"a prefix of a name suggests that name":     {key: "iss", want: `Did you mean "issuer"?`},
		"a name that is a prefix of the key counts": {key: "issuers", want: `Did you mean "issuer"?`},
		"of several prefixes the first sorted wins": {key: "subj", want: `Did you mean "subject"?`},
		"nothing close suggests nothing":            {key: "timeout", want: ""},
		"the empty key is a prefix of every name":   {key: "", want: `Did you mean "issuer"?`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := params.Suggest(tc.key, names); got != tc.want {
				t.Errorf("Suggest(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestJoinPath(t *testing.T) {
	tests := map[string]struct {
		path, key string
		want      string
	}{
		"a plain key at the top level is itself":   {path: "", key: "name", want: "name"},
		"a plain key below a path is dotted":       {path: "a.b", key: "c_d-1", want: "a.b.c_d-1"},
		"a key with a dot is quoted in brackets":   {path: "trustStores.ca", key: "a.b", want: `trustStores.ca["a.b"]`},
		"the empty key is quoted in brackets":      {path: "", key: "", want: `[""]`},
		"a non-ASCII letter is quoted in brackets": {path: "x", key: "é", want: `x["é"]`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := params.JoinPath(tc.path, tc.key); got != tc.want {
				t.Errorf("JoinPath(%q, %q) = %q, want %q", tc.path, tc.key, got, tc.want)
			}
		})
	}
}

func TestKind(t *testing.T) {
	tests := map[string]struct {
		t    reflect.Type
		want string
	}{
		"a string is a string":            {t: reflect.TypeFor[string](), want: "string"},
		"a bool is a boolean":             {t: reflect.TypeFor[bool](), want: "boolean"},
		"a slice of strings is an array":  {t: reflect.TypeFor[[]string](), want: "array"},
		"a map is an object":              {t: reflect.TypeFor[map[string]int](), want: "object"},
		"a pointer to a struct is object": {t: reflect.TypeFor[*testInner](), want: "object"},
		"an unsigned integer is a number": {t: reflect.TypeFor[uint16](), want: "number"},
		"anything else is its Go name":    {t: reflect.TypeFor[complex64](), want: "complex64"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := params.Kind(tc.t); got != tc.want {
				t.Errorf("Kind(%v) = %q, want %q", tc.t, got, tc.want)
			}
		})
	}
}

func TestValueKind(t *testing.T) {
	tests := map[string]struct {
		v    string
		want string
	}{
		"white space only is nothing": {v: " \n", want: "nothing"},
		"a quoted value is a string":  {v: ` "x"`, want: "a string"},
		"brackets are an array":       {v: `[1]`, want: "an array"},
		"braces are an object":        {v: `{}`, want: "an object"},
		"false is a boolean":          {v: `false`, want: "a boolean"},
		"null is null":                {v: `null`, want: "null"},
		"a digit is a number":         {v: `-1.5e3`, want: "a number"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := params.ValueKind(json.RawMessage(tc.v)); got != tc.want {
				t.Errorf("ValueKind(%q) = %q, want %q", tc.v, got, tc.want)
			}
		})
	}
}

func TestDescribeJSONError(t *testing.T) {
	err := json.Unmarshal([]byte(`{"a" 1}`), new(any))
	var syntaxErr *json.SyntaxError
	if !errors.As(err, &syntaxErr) {
		t.Fatalf("want a syntax error, got %v", err)
	}
	tests := map[string]struct {
		err  error
		want string
	}{
		"no error describes as nothing":          {err: nil, want: ""},
		"a syntax error carries its byte offset": {err: err, want: "invalid character '1' after object key (at byte 6)"},
		"any other error is its message":         {err: errors.New("boom"), want: "boom"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := params.DescribeJSONError(tc.err); got != tc.want {
				t.Errorf("DescribeJSONError(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestDiagnosticBuilders(t *testing.T) {
	tests := map[string]struct {
		got  plugin.Diagnostic
		want plugin.Diagnostic
	}{
		"Error builds an error diagnostic": {
			got:  params.Error("a.b", "summary", "detail"),
			want: plugin.Diagnostic{Severity: plugin.SeverityError, Field: "a.b", Summary: "summary", Detail: "detail"},
		},
		"Warning builds a warning diagnostic": {
			got:  params.Warning("", "summary", ""),
			want: plugin.Diagnostic{Severity: plugin.SeverityWarning, Summary: "summary"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzDecode feeds arbitrary bytes to Decode. It must never panic and
// reports only error diagnostics with a summary. Parameters returned
// without a diagnostic must also pass encoding/json's strict decoding to
// the same value; parameters returned with diagnostics come with unknown
// fields only.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		``, `null`, `[]`, `{}`, `"x"`, `{"name": "a"} {}`,
		`{"name": "a", "scopes": ["x"], "count": 2, "inner": {"subject": "s"}}`,
		`{"Name": "a", "inner": {"Subject": 1}, "stores": {"": {"x": null}}}`,
		`{"list": [{"issuerX": "i"}], "nested": {"k": [null, {"Subject": "s"}]}, "free": {"x": 1}}`,
		`{"count": 1e400, "Untagged": "yes"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, diags := params.Decode[testParams](raw, missing)
		for _, d := range diags {
			if d.Severity != plugin.SeverityError || d.Summary == "" {
				t.Fatalf("bad diagnostic %+v", d)
			}
		}
		if got == nil {
			if len(diags) == 0 {
				t.Fatalf("Decode(%q) returned nothing and said nothing", raw)
			}
			return
		}
		if len(diags) > 0 {
			for _, d := range diags {
				if len(d.Summary) < len("unknown field") || d.Summary[:len("unknown field")] != "unknown field" {
					t.Fatalf("Decode(%q) returned parameters with diagnostic %+v", raw, d)
				}
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var want testParams
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("Decode(%q) accepted what strict decoding rejects: %v", raw, err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Fatalf("Decode(%q) differs from strict decoding (-want +got):\n%s", raw, diff)
		}
	})
}
