package params_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/plugin/params"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.pem")
	if err := os.WriteFile(small, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		path    string
		max     int64
		wantErr string
	}{
		"a small regular file is read":      {path: small, max: 5},
		"a relative path is refused":        {path: "small.pem", max: 5, wantErr: `path "small.pem" is not absolute`},
		"a missing file is an OS error":     {path: filepath.Join(dir, "missing"), max: 5, wantErr: "no such file"},
		"a directory is not a regular file": {path: dir, max: 5, wantErr: "is not a regular file"},
		"a FIFO is refused without opening": {path: fifo, max: 5, wantErr: "is not a regular file"},
		"a file over the limit is refused":  {path: small, max: 4, wantErr: "is larger than 4 bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data, stamp, err := params.ReadFile(tc.path, tc.max)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ReadFile = %q, %v; want an error with %q", data, err, tc.wantErr)
				}
				return
			}
			if err != nil || string(data) != "12345" || stamp.Path != tc.path || stamp.Size != 5 {
				t.Fatalf("ReadFile = %q, %+v, %v", data, stamp, err)
			}
		})
	}
}

func TestChangedSeesEditsAndRemovals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stamp, err := params.ReadFile(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	stamps := []params.FileStamp{stamp}
	if params.Changed(stamps) {
		t.Fatal("an untouched file counts as changed")
	}
	if err := os.WriteFile(path, []byte("two!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !params.Changed(stamps) {
		t.Fatal("a file of another size does not count as changed")
	}
	_, stamp, _ = params.ReadFile(path, 100)
	later := stamp.ModTime.Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if !params.Changed([]params.FileStamp{stamp}) {
		t.Fatal("a file with a new modification time does not count as changed")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if !params.Changed([]params.FileStamp{stamp}) {
		t.Fatal("a removed file does not count as changed")
	}
}

func TestFirstErrorAndInvalidMessage(t *testing.T) {
	diags := []plugin.Diagnostic{
		params.Warning("a", "only a warning", ""),
		params.Error("trustPolicies[0].keys", "no key", "Give a key."),
		params.Error("b", "second", ""),
	}
	d := params.FirstError(diags)
	if d == nil || d.Field != "trustPolicies[0].keys" {
		t.Fatalf("FirstError = %+v", d)
	}
	if got, want := params.InvalidMessage(d), "invalid parameters: trustPolicies[0].keys: no key (Give a key.)"; got != want {
		t.Errorf("InvalidMessage = %q, want %q", got, want)
	}
	if got := params.InvalidMessage(&plugin.Diagnostic{Summary: "parameters are required"}); got != "invalid parameters: parameters are required" {
		t.Errorf("InvalidMessage without field or detail = %q", got)
	}
	if params.FirstError(diags[:1]) != nil {
		t.Error("FirstError returned a warning")
	}
}
