package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/store"
)

// newStack builds the process's one registry stack from the settings.
func (g *globals) newStack() (*store.Stack, error) {
	st, err := store.NewStack(store.StackOptions{
		CacheBytes:            g.cfg.CacheBytes,
		MemoryBudget:          g.cfg.MemoryBudget,
		TagTTL:                g.cfg.Cache.TagTTL,
		ReferrersTTL:          g.cfg.Cache.ReferrersTTL,
		MaxConcurrentRequests: g.cfg.RegistryConcurrency,
		UserAgent:             "assay/" + version,
	})
	if err != nil {
		return nil, usageError(err)
	}
	return st, nil
}

// readObjects decodes the --config file; without one the objects are
// empty (every report then says NO_POLICY). They are not validated yet.
func (g *globals) readObjects() (*catalog.Objects, error) {
	if g.objects == "" {
		return &catalog.Objects{}, nil
	}
	data, err := os.ReadFile(g.objects)
	if err != nil {
		return nil, usageError(fmt.Errorf("read config: %w", err))
	}
	objs, err := catalog.Decode(g.objects, data)
	if err != nil {
		return nil, usageError(err)
	}
	return objs, nil
}

// newCLIEngine wires the runtime of one CLI invocation and returns the
// Engine of the --config file, and the function that stops its plugins;
// discoverOnly starts no plugin.
func (g *globals) newCLIEngine(ctx context.Context, discoverOnly bool) (*engine.Engine, func(), error) {
	objs, err := g.readObjects()
	if err != nil {
		return nil, nil, err
	}
	st, err := g.newStack()
	if err != nil {
		return nil, nil, err
	}
	rt, err := engine.New(engine.Options{
		Stack:                    st,
		PluginDir:                g.cfg.PluginDir,
		PluginIdleTimeout:        g.cfg.PluginIdleTimeout,
		PluginHealthCheckAfter:   g.cfg.PluginHealthCheckAfter,
		PluginHealthCheckTimeout: g.cfg.PluginHealthCheckTimeout,
		DiscoverOnly:             discoverOnly,
		Concurrency:              g.cfg.Concurrency,
		Logger:                   g.log,
	})
	if err != nil {
		return nil, nil, usageError(err)
	}
	where := g.objects
	if where == "" {
		where = "no --config"
	}
	if invalid := objs.Validate(where); invalid != nil {
		// every error of the file at once: also the plugins' checks
		err := errors.Join(invalid, rt.Check(ctx, objs, where))
		rt.Close()
		return nil, nil, usageError(err)
	}
	e, err := rt.Load(ctx, objs, where, nil)
	if err != nil {
		rt.Close()
		return nil, nil, usageError(pluginDirError(err, g.cfg.PluginDir))
	}
	return e, rt.Close, nil
}
