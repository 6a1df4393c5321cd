package params

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/assayproj/assay/pkg/plugin"
)

// FileStamp records a file named by the parameters as it was read, so a
// change is noticed without reading it again.
type FileStamp struct {
	Path    string
	Size    int64
	ModTime time.Time
}

// Changed reports whether any of the files changed size or modification
// time since it was read, or can no longer be stat'ed.
func Changed(stamps []FileStamp) bool {
	for _, f := range stamps {
		fi, err := os.Stat(f.Path)
		if err != nil || fi.Size() != f.Size || !fi.ModTime().Equal(f.ModTime) {
			return true
		}
	}
	return false
}

// ReadFile reads the regular file at the absolute path, at most max
// bytes. It checks the file before opening it (opening a FIFO or a
// device could block) and again once open. Errors name the path: not
// absolute, not a regular file, larger than max, or the OS error.
func ReadFile(path string, max int64) ([]byte, FileStamp, error) {
	if !filepath.IsAbs(path) {
		return nil, FileStamp{}, fmt.Errorf("path %q is not absolute", path)
	}
	if fi, err := os.Stat(path); err != nil {
		return nil, FileStamp{}, err
	} else if !fi.Mode().IsRegular() {
		return nil, FileStamp{}, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, FileStamp{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, FileStamp{}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, FileStamp{}, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, FileStamp{}, err
	}
	if int64(len(data)) > max {
		return nil, FileStamp{}, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, FileStamp{Path: path, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// FirstError returns the first diagnostic of severity error, or nil.
func FirstError(diags []plugin.Diagnostic) *plugin.Diagnostic {
	for i := range diags {
		if diags[i].Severity == plugin.SeverityError {
			return &diags[i]
		}
	}
	return nil
}

// InvalidMessage is the message of a verdict refused for invalid
// parameters: "invalid parameters: <field>: <summary> (<detail>)".
func InvalidMessage(d *plugin.Diagnostic) string {
	msg := "invalid parameters: "
	if d.Field != "" {
		msg += d.Field + ": "
	}
	msg += d.Summary
	if d.Detail != "" {
		msg += " (" + d.Detail + ")"
	}
	return msg
}
