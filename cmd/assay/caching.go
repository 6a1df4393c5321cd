package main

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/assayproj/assay/pkg/cache"
	"github.com/assayproj/assay/pkg/config"
	"github.com/assayproj/assay/pkg/executor"
	"github.com/go-logr/logr"
)

// newVerdictCache returns the verdict cache the settings ask for: Redis
// when an address is given, else in memory (nil when its budget is 0).
// ready checks the cache for /readyz; closeFn releases it.
func newVerdictCache(c config.Cache) (v executor.VerdictCache, ready func(context.Context) error, closeFn func(), err error) {
	if c.Redis.Address != "" {
		r, err := cache.NewRedis(cache.RedisOptions{
			Address:   c.Redis.Address,
			Username:  c.Redis.Username,
			Password:  c.Redis.Password,
			DB:        c.Redis.DB,
			KeyPrefix: c.Redis.KeyPrefix,
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("cache.redis: %w", err)
		}
		return r, r.Ping, func() { r.Close() }, nil
	}
	if c.VerdictBytes == 0 {
		return nil, nil, func() {}, nil
	}
	return cache.NewMemory(c.VerdictBytes), nil, func() {}, nil
}

// newStdLog adapts l for net/http's ErrorLog (TLS handshake failures and
// the like), at info level.
func newStdLog(l logr.Logger) *log.Logger {
	return log.New(logWriter{l}, "", 0)
}

type logWriter struct{ l logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}
