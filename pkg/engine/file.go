package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/report"
	"github.com/fsnotify/fsnotify"
)

// LoadFile reads a file of Store, Verifier and Policy documents and puts
// the Engine it configures in effect. On failure the configuration in
// effect stays. A file that holds too little to verify anything is
// refused like garbage (ErrIncomplete): an editor's save or a ConfigMap
// update can leave an empty or half-written file for a moment. The file's bytes identify the configuration for the
// verdict cache.
func (r *Runtime) LoadFile(ctx context.Context, path string) error {
	err := r.loadFile(ctx, path)
	r.reloads.count(err)
	return err
}

func (r *Runtime) loadFile(ctx context.Context, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	objs, err := catalog.Decode(path, data)
	if err != nil {
		return err
	}
	if err := objs.Validate(path); err != nil {
		// report every error of the file at once, not one phase a run
		return errors.Join(err, r.Check(ctx, objs, path), r.incomplete(objs, path))
	}
	if err := r.incomplete(objs, path); err != nil {
		return err
	}
	e, err := r.Load(ctx, objs, path, data)
	if err != nil {
		return err
	}
	r.opts.Logger.Info("configuration loaded", "file", path, "stores", len(objs.Stores), "verifiers", len(objs.Verifiers), "policies", len(objs.Policies))
	for _, w := range e.Warnings() {
		r.opts.Logger.Info("configuration warning", "file", path, "warning", w)
	}
	return nil
}

// ErrIncomplete marks a --config file that decodes but holds too little
// for a configuration: no document at all, or (unless the Runtime only
// discovers) no Policy, under which every image would fail NO_POLICY.
// A Policy whose rules no Verifier handles is refused by
// catalog.Validate.
var ErrIncomplete = errors.New("incomplete configuration")

// incomplete returns an ErrIncomplete error naming path and what it
// lacks, or nil.
func (r *Runtime) incomplete(objs *catalog.Objects, path string) error {
	n := len(objs.Stores) + len(objs.Verifiers) + len(objs.Policies)
	switch {
	case n == 0:
		return fmt.Errorf("%s: %w: the file holds no Store, Verifier or Policy document (empty, or cut short while being written); add them, or fix the file", path, ErrIncomplete)
	case len(objs.Policies) == 0 && !r.opts.DiscoverOnly:
		return fmt.Errorf("%s: %w: the file holds no Policy document (%s, %s), so every image would fail %s (a file cut short while being written looks like this); add a Policy",
			path, ErrIncomplete, count(len(objs.Stores), "Store"), count(len(objs.Verifiers), "Verifier"), report.ReasonNoPolicy)
	}
	return nil
}

// count is "1 Store" or "2 Stores".
func count(n int, kind string) string { return report.Count(n, kind, kind+"s") }

// WatchFile reloads path (LoadFile) whenever it changes, until ctx is
// done; a burst of events within 100 ms is one reload. It watches the
// directory of path, so that editors that replace the file are seen,
// and reacts only to events for path itself or to a change of the file
// path resolves to through symbolic links: a Kubernetes ConfigMap
// volume holds config.yaml -> ..data/config.yaml and updates it by
// swapping the ..data link, and a link may point into another directory
// (watched too). Writes to other files in the directory (a log file
// beside the configuration) cause no reload. A file that does not load
// is logged and the configuration in effect stays.
func (r *Runtime) WatchFile(ctx context.Context, path string) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	defer w.Close()
	path = filepath.Clean(path)
	if err := w.Add(filepath.Dir(path)); err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	target := r.followTarget(w, path, "")
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Chmod) {
				continue
			}
			name := filepath.Clean(ev.Name)
			moved := r.followTarget(w, path, target)
			if name != path && name != target && moved == target {
				continue // another file
			}
			target = moved
			// Debounce: editors write in several steps.
			if timer != nil {
				timer.Stop()
			}
			timer = time.AfterFunc(100*time.Millisecond, func() {
				select {
				case fire <- struct{}{}:
				default:
				}
			})
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.opts.Logger.Error(err, "watching the config file")
		case <-fire:
			if err := r.LoadFile(ctx, path); err != nil {
				r.opts.Logger.Error(err, "configuration not reloaded; the previous one stays active", "file", path)
			}
		}
	}
}

// followTarget returns the file path resolves to through symbolic links
// ("" when it does not resolve, as while an editor replaces it), and
// adds its directory to w when it is not path's; old is the target
// known so far, whose directory is no longer watched once it moved.
func (r *Runtime) followTarget(w *fsnotify.Watcher, path, old string) string {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return old // gone for now: keep what was known
	}
	target = filepath.Clean(target)
	if target == old {
		return target
	}
	dir := filepath.Dir(path)
	if old != "" && filepath.Dir(old) != dir {
		_ = w.Remove(filepath.Dir(old)) // may be gone already
	}
	if filepath.Dir(target) != dir {
		if err := w.Add(filepath.Dir(target)); err != nil {
			r.opts.Logger.Error(err, "watching the config file's target", "file", path, "target", target)
		}
	}
	return target
}
