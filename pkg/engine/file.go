package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/assayproj/assay/pkg/catalog"
	"github.com/fsnotify/fsnotify"
)

// LoadFile reads a file of Store, Verifier and Policy documents and puts
// the Engine it configures in effect. On failure the configuration in
// effect stays. The file's bytes identify the configuration for the
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
		return errors.Join(err, r.Check(ctx, objs, path))
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

// WatchFile reloads path (LoadFile) whenever it changes, until ctx is
// done. It watches the file's directory, so editors that replace the
// file and Kubernetes ConfigMap volumes (which swap a symlink) are both
// seen; a burst of events within 100 ms is one reload. A file that does
// not load is logged and the configuration in effect stays.
func (r *Runtime) WatchFile(ctx context.Context, path string) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
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
