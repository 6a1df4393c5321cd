package cache

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults of RedisOptions. They are short because the cache sits on the
// admission path: a Redis that does not answer quickly costs a miss, not
// the request's budget.
const (
	DefaultRedisKeyPrefix    = "assay:verdict:"
	DefaultRedisDialTimeout  = 500 * time.Millisecond
	DefaultRedisReadTimeout  = 200 * time.Millisecond
	DefaultRedisWriteTimeout = 200 * time.Millisecond
)

// ErrInvalidOptions is wrapped by the error of NewRedis when its options
// are empty or contradictory.
var ErrInvalidOptions = errors.New("invalid redis options")

// RedisOptions configures a Redis.
type RedisOptions struct {
	// Address is the server's "host:port". Required.
	Address string
	// Username and Password authenticate with AUTH. If Username is
	// empty, Password is sent alone (the "default" user, or a
	// requirepass server). If both are empty, nothing is sent.
	Username string
	Password string
	// DB is the database number to SELECT. If 0, database 0. Must not be
	// negative.
	DB int
	// TLS, if not nil, is used to speak TLS to the server. If nil, the
	// connection is plain TCP.
	TLS *tls.Config
	// KeyPrefix is put in front of every key, so that several
	// deployments (or other users of the server) can share it. If
	// empty, DefaultRedisKeyPrefix ("assay:verdict:").
	KeyPrefix string
	// DialTimeout bounds opening a connection. If <= 0,
	// DefaultRedisDialTimeout (currently 500ms).
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for a reply. If <= 0,
	// DefaultRedisReadTimeout (currently 200ms).
	ReadTimeout time.Duration
	// WriteTimeout bounds sending a command. If <= 0,
	// DefaultRedisWriteTimeout (currently 200ms).
	WriteTimeout time.Duration
}

// Redis is a verdict cache in a Redis server, shared by every replica
// that points at it. Commands are not retried and a failed dial is not
// repeated: one attempt within the timeouts or the context's deadline,
// whichever ends first, then an error. It is safe for concurrent use.
type Redis struct {
	addr   string
	prefix string
	client *redis.Client
}

// NewRedis returns a Redis for opts. It does not connect; call Ping to
// find out whether the server answers. The caller must Close it.
func NewRedis(opts RedisOptions) (*Redis, error) {
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultRedisKeyPrefix
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultRedisDialTimeout
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultRedisReadTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultRedisWriteTimeout
	}
	if opts.Address == "" {
		return nil, fmt.Errorf("%w: an address is required", ErrInvalidOptions)
	}
	if opts.DB < 0 {
		return nil, fmt.Errorf("%w: db %d is negative", ErrInvalidOptions, opts.DB)
	}
	client := redis.NewClient(&redis.Options{
		Addr:         opts.Address,
		Username:     opts.Username,
		Password:     opts.Password,
		DB:           opts.DB,
		TLSConfig:    opts.TLS,
		DialTimeout:  opts.DialTimeout,
		ReadTimeout:  opts.ReadTimeout,
		WriteTimeout: opts.WriteTimeout,
		// Waiting for a free connection is bounded like a read.
		PoolTimeout: opts.ReadTimeout,
		// The request's deadline bounds every command too.
		ContextTimeoutEnabled: true,
		// One attempt: a retry would spend the admission budget on a
		// cache that is only an optimisation.
		MaxRetries:    -1,
		DialerRetries: 1,
		// Connect with as few round trips as possible: no CLIENT
		// SETINFO, no maintenance notifications handshake.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	return &Redis{addr: opts.Address, prefix: opts.KeyPrefix, client: client}, nil
}

// Get returns the value stored under key and true, or false and a nil
// error when there is none or it has expired. Any other failure is a
// *RedisError.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	value, err := r.client.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, r.error("get", err)
	}
	return value, true, nil
}

// Set stores value under key for ttl (SET key value PX ttl-in-ms, at
// least 1ms), replacing what was there. It returns ErrInvalidTTL when
// ttl <= 0; any other failure is a *RedisError.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("set: ttl %s: %w", ttl, ErrInvalidTTL)
	}
	ms := max(ttl.Milliseconds(), 1)
	cmd := redis.NewStatusCmd(ctx, "set", r.prefix+key, value, "px", ms)
	if err := r.client.Process(ctx, cmd); err != nil {
		return r.error("set", err)
	}
	return nil
}

// Ping reports whether the server answers, for readiness checks.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return r.error("ping", err)
	}
	return nil
}

// Close closes the connections. Calls after Close fail.
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil {
		return r.error("close", err)
	}
	return nil
}

func (r *Redis) error(op string, err error) error {
	return &RedisError{Addr: r.addr, Op: op, Err: err}
}

// RedisError is a failure of a Redis command: the server could not be
// reached, did not answer in time, or answered with an error.
type RedisError struct {
	// Addr is the server's address, as in RedisOptions.Address.
	Addr string
	// Op is "get", "set", "ping" or "close".
	Op string
	// Err is the cause: a network error, a context error, a server
	// error reply, or redis.ErrClosed.
	Err error
}

func (e *RedisError) Error() string { return fmt.Sprintf("redis %s: %s: %v", e.Addr, e.Op, e.Err) }

// Unwrap returns the cause.
func (e *RedisError) Unwrap() error { return e.Err }
