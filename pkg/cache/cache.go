package cache

import "errors"

// ErrInvalidTTL is returned by Set when ttl <= 0. Nothing is stored.
var ErrInvalidTTL = errors.New("ttl must be positive")
