package cache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assayproj/assay/pkg/cache"
)

// redisProcess is a redis-server run by one test.
type redisProcess struct {
	addr     string
	password string
	stopOnce sync.Once
	stop     func()
}

// Stop kills the server and waits for it to exit. It is safe to call
// more than once.
func (p *redisProcess) Stop() { p.stopOnce.Do(p.stop) }

// raw returns a plain go-redis client of the server's database db, to
// look behind the cache's back.
func (p *redisProcess) raw(t *testing.T, db int) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: p.addr, Password: p.password, DB: db})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startRedis runs Debian's redis-server on a free loopback port, without
// persistence, with its files in a temporary directory, and kills it when
// the test ends. A non-empty password is required of clients. The test
// fails, saying how to install it, when redis-server is not on PATH.
func startRedis(t *testing.T, password string) *redisProcess {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is required by the Redis tests and was not found (%v); "+
			"install it with hack/install-test-deps.sh (or `make tools`, or `sudo apt-get install -y redis-server`)", err)
	}
	// The port is picked by listening and closing; another process may
	// take it before redis-server binds it, so try a few times.
	var errs []error
	for attempt := range 3 {
		p, err := runRedis(t, bin, filepath.Join(t.TempDir(), strconv.Itoa(attempt)), password)
		if err == nil {
			t.Cleanup(p.Stop)
			return p
		}
		errs = append(errs, err)
	}
	t.Fatalf("start redis-server: %v", errors.Join(errs...))
	return nil
}

func runRedis(t *testing.T, bin, dir, password string) (*redisProcess, error) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr := freeAddress(t)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "redis.log")
	args := []string{
		"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", logPath,
	}
	if password != "" {
		args = append(args, "--requirepass", password)
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{}) // closed once waitErr is set
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	p := &redisProcess{addr: addr, password: password, stop: func() {
		_ = cmd.Process.Kill()
		<-exited
	}}

	client := redis.NewClient(&redis.Options{Addr: addr, Password: password, MaxRetries: -1})
	defer func() { _ = client.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := client.Ping(ctx).Err()
		if err == nil {
			return p, nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("redis-server at %s exited before answering PING: %v\n%s", addr, waitErr, log)
		case <-ctx.Done():
			p.Stop()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("redis-server at %s did not answer PING: %v\n%s", addr, err, log)
		case <-tick.C:
		}
	}
}

// freeAddress returns a loopback address nothing listens on, for now.
func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return addr
}

// newRedis returns a cache.Redis for opts, closed when the test ends.
// Unless opts says otherwise its timeouts are generous: these tests are
// about correctness on a busy machine, not about latency.
func newRedis(t *testing.T, opts cache.RedisOptions) *cache.Redis {
	t.Helper()
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 5 * time.Second
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 5 * time.Second
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	r, err := cache.NewRedis(opts)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func redisGet(t *testing.T, ctx context.Context, r *cache.Redis, key string) ([]byte, bool) {
	t.Helper()
	v, ok, err := r.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v, ok
}

func redisSet(t *testing.T, ctx context.Context, r *cache.Redis, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := r.Set(ctx, key, value, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func TestRedisRoundTrip(t *testing.T) {
	ctx := testContext(t)
	srv := startRedis(t, "")
	r := newRedis(t, cache.RedisOptions{Address: srv.addr})

	if err := r.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if v, ok := redisGet(t, ctx, r, "missing"); ok {
		t.Fatalf("Get of a key never set = %q, true; want a miss", v)
	}
	redisSet(t, ctx, r, "k", []byte("first"), time.Hour)
	if v, ok := redisGet(t, ctx, r, "k"); !ok || string(v) != "first" {
		t.Fatalf("Get = %q, %v; want %q", v, ok, "first")
	}
	redisSet(t, ctx, r, "k", []byte("second"), time.Hour)
	if v, ok := redisGet(t, ctx, r, "k"); !ok || string(v) != "second" {
		t.Fatalf("Get after a second Set = %q, %v; want %q", v, ok, "second")
	}

	// The entry is a plain string under the default prefix, with the
	// ttl in milliseconds.
	raw := srv.raw(t, 0)
	if got, err := raw.Get(ctx, cache.DefaultRedisKeyPrefix+"k").Result(); err != nil || got != "second" {
		t.Errorf("raw GET %sk = %q, %v; want %q", cache.DefaultRedisKeyPrefix, got, err, "second")
	}
	if ttl, err := raw.PTTL(ctx, cache.DefaultRedisKeyPrefix+"k").Result(); err != nil || ttl <= 0 || ttl > time.Hour {
		t.Errorf("raw PTTL = %s, %v; want within (0, 1h]", ttl, err)
	}
}

func TestRedisEntriesExpire(t *testing.T) {
	ctx := testContext(t)
	srv := startRedis(t, "")
	r := newRedis(t, cache.RedisOptions{Address: srv.addr})
	const ttl = 1500 * time.Millisecond

	redisSet(t, ctx, r, "k", []byte("v"), ttl)
	// PX keeps the milliseconds: EX would have rounded 1.5s.
	got, err := srv.raw(t, 0).PTTL(ctx, cache.DefaultRedisKeyPrefix+"k").Result()
	if err != nil {
		t.Fatalf("raw PTTL: %v", err)
	}
	if got <= 0 || got > ttl {
		t.Errorf("raw PTTL = %s, want within (0, %s]", got, ttl)
	}
	if _, ok := redisGet(t, ctx, r, "k"); !ok {
		t.Fatal("Get right after Set missed")
	}

	time.Sleep(ttl)
	// Redis expires a key when it is read after its time, so a miss is
	// expected now; poll a little in case this machine's clock and
	// Redis's disagree by a few milliseconds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, ok := redisGet(t, ctx, r, "k")
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get = %q, true long after the ttl of %s; want a miss", v, ttl)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedisKeyPrefixesIsolateClients(t *testing.T) {
	ctx := testContext(t)
	srv := startRedis(t, "")
	a := newRedis(t, cache.RedisOptions{Address: srv.addr, KeyPrefix: "tenant-a:"})
	b := newRedis(t, cache.RedisOptions{Address: srv.addr, KeyPrefix: "tenant-b:"})
	def := newRedis(t, cache.RedisOptions{Address: srv.addr})

	redisSet(t, ctx, a, "shared", []byte("from a"), time.Hour)
	redisSet(t, ctx, b, "shared", []byte("from b"), time.Hour)
	redisSet(t, ctx, a, "only-a", []byte("a"), time.Hour)

	for name, tc := range map[string]struct {
		client *cache.Redis
		key    string
		want   string // "" for a miss
	}{
		"a reads its own value of a key both set": {a, "shared", "from a"},
		"b reads its own value of a key both set": {b, "shared", "from b"},
		"b misses a key only a set":               {b, "only-a", ""},
		"the default prefix sees neither":         {def, "shared", ""},
	} {
		t.Run(name, func(t *testing.T) {
			v, ok := redisGet(t, ctx, tc.client, tc.key)
			switch {
			case tc.want == "" && ok:
				t.Errorf("Get(%q) = %q, want a miss", tc.key, v)
			case tc.want != "" && (!ok || string(v) != tc.want):
				t.Errorf("Get(%q) = %q, %v; want %q", tc.key, v, ok, tc.want)
			}
		})
	}
	keys, err := srv.raw(t, 0).Keys(ctx, "*").Result()
	if err != nil {
		t.Fatalf("raw KEYS: %v", err)
	}
	if len(keys) != 3 {
		t.Errorf("raw KEYS = %q, want tenant-a:shared, tenant-a:only-a and tenant-b:shared", keys)
	}
}

func TestRedisValuesAreBinarySafe(t *testing.T) {
	ctx := testContext(t)
	srv := startRedis(t, "")
	r := newRedis(t, cache.RedisOptions{Address: srv.addr})

	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	tests := map[string]struct {
		key   string
		value []byte
	}{
		"every byte value":                    {"every", every},
		"RESP framing inside a value":         {"resp", []byte("$-1\r\n*2\r\n+OK\r\n-ERR x\r\n")},
		"NUL bytes only":                      {"nul", []byte{0, 0, 0}},
		"an empty value":                      {"empty", []byte{}},
		"a large value":                       {"large", bytes.Repeat(every, 4096)}, // 1 MiB
		"a key with spaces, CRLF and NUL":     {"a key\r\nwith\x00bytes", []byte("v")},
		"a key that looks like a RESP header": {"*1\r\n$4\r\nPING\r\n", []byte("v")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			redisSet(t, ctx, r, tc.key, tc.value, time.Hour)
			got, ok := redisGet(t, ctx, r, tc.key)
			if !ok {
				t.Fatalf("Get(%q) missed", tc.key)
			}
			if !bytes.Equal(got, tc.value) {
				t.Errorf("Get(%q) = %d bytes %q, want %d bytes %q", tc.key, len(got), trim(got), len(tc.value), trim(tc.value))
			}
		})
	}
}

func trim(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func TestRedisAuthenticatesAndSelectsItsDatabase(t *testing.T) {
	ctx := testContext(t)
	srv := startRedis(t, "s3cret")

	r := newRedis(t, cache.RedisOptions{Address: srv.addr, Password: "s3cret", DB: 3})
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("Ping with the password: %v", err)
	}
	redisSet(t, ctx, r, "k", []byte("v"), time.Hour)
	if n, err := srv.raw(t, 3).Exists(ctx, cache.DefaultRedisKeyPrefix+"k").Result(); err != nil || n != 1 {
		t.Errorf("raw EXISTS in db 3 = %d, %v; want 1", n, err)
	}
	if n, err := srv.raw(t, 0).Exists(ctx, cache.DefaultRedisKeyPrefix+"k").Result(); err != nil || n != 0 {
		t.Errorf("raw EXISTS in db 0 = %d, %v; want 0", n, err)
	}

	named := newRedis(t, cache.RedisOptions{Address: srv.addr, Username: "default", Password: "s3cret", DB: 3})
	if v, ok := redisGet(t, ctx, named, "k"); !ok || string(v) != "v" {
		t.Errorf("Get as user default = %q, %v; want %q", v, ok, "v")
	}

	wrong := newRedis(t, cache.RedisOptions{Address: srv.addr, Password: "wrong"})
	err := wrong.Ping(ctx)
	var rerr *cache.RedisError
	if !errors.As(err, &rerr) || rerr.Addr != srv.addr || rerr.Op != "ping" {
		t.Fatalf("Ping with a wrong password: err = %v, want a *RedisError for %s ping", err, srv.addr)
	}
	var reply redis.Error
	if !errors.As(err, &reply) {
		t.Errorf("Ping with a wrong password: err = %v, want the server's error reply", err)
	}
}

func TestRedisUnavailable(t *testing.T) {
	tests := map[string]struct {
		// address returns the address to use.
		address func(t *testing.T) string
		// opts are the cache's timeouts; zero means the defaults.
		opts cache.RedisOptions
		// is, if not nil, is what the cause must be.
		is error
		// timeout means the cause must be a network timeout.
		timeout bool
	}{
		"nothing listens at the address": {
			address: freeAddress,
			is:      syscall.ECONNREFUSED,
		},
		"the server went away": {
			address: func(t *testing.T) string {
				srv := startRedis(t, "")
				srv.Stop()
				return srv.addr
			},
			is: syscall.ECONNREFUSED,
		},
		"the server accepts connections and never answers": {
			address: silentServer,
			// Negative: the package's short defaults, which newRedis
			// would otherwise replace with generous ones.
			opts:    cache.RedisOptions{ReadTimeout: -1, WriteTimeout: -1, DialTimeout: -1},
			timeout: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t) // far longer than any of the cache's timeouts
			addr := tc.address(t)
			tc.opts.Address = addr
			r := newRedis(t, tc.opts)

			_, ok, err := r.Get(ctx, "k")
			checkUnavailable(t, "Get", "get", addr, err, tc.is, tc.timeout)
			if ok {
				t.Error("Get reported a hit")
			}
			err = r.Set(ctx, "k", []byte("v"), time.Minute)
			checkUnavailable(t, "Set", "set", addr, err, tc.is, tc.timeout)
			err = r.Ping(ctx)
			checkUnavailable(t, "Ping", "ping", addr, err, tc.is, tc.timeout)
		})
	}
}

func checkUnavailable(t *testing.T, method, op, addr string, err error, is error, timeout bool) {
	t.Helper()
	var rerr *cache.RedisError
	if !errors.As(err, &rerr) {
		t.Errorf("%s: err = %v (%T), want a *cache.RedisError", method, err, err)
		return
	}
	if rerr.Addr != addr || rerr.Op != op {
		t.Errorf("%s: RedisError{Addr: %q, Op: %q}, want {%q, %q}", method, rerr.Addr, rerr.Op, addr, op)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("%s: err = %v, want it to wrap %v", method, err, is)
	}
	if timeout {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s: err = %v, want a network timeout", method, err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err = %v; the request's context ran out, the cache's own timeout should have come first", method, err)
		}
	}
}

// silentServer accepts connections on loopback and never answers, like a
// Redis that is stuck, until the test ends.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

func TestRedisAfterCloseFails(t *testing.T) {
	ctx := testContext(t)
	srv := startRedis(t, "")
	r, err := cache.NewRedis(cache.RedisOptions{Address: srv.addr})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, _, err := r.Get(ctx, "k"); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("Get after Close: err = %v, want redis.ErrClosed", err)
	}
	if err := r.Set(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("Set after Close: err = %v, want redis.ErrClosed", err)
	}
}

func TestRedisRejectsATTLThatIsNotPositive(t *testing.T) {
	ctx := testContext(t)
	srv := startRedis(t, "")
	r := newRedis(t, cache.RedisOptions{Address: srv.addr})
	redisSet(t, ctx, r, "k", []byte("old"), time.Hour)
	for name, ttl := range map[string]time.Duration{"a ttl of zero": 0, "a negative ttl": -time.Second} {
		t.Run(name, func(t *testing.T) {
			if err := r.Set(ctx, "k", []byte("new"), ttl); !errors.Is(err, cache.ErrInvalidTTL) {
				t.Fatalf("Set with ttl %s: err = %v, want ErrInvalidTTL", ttl, err)
			}
			if v, ok := redisGet(t, ctx, r, "k"); !ok || string(v) != "old" {
				t.Errorf("after a rejected Set, Get = %q, %v; want the old value", v, ok)
			}
		})
	}
	// Less than a millisecond is still a ttl: rounded up, never "forever".
	redisSet(t, ctx, r, "tiny", []byte("v"), time.Microsecond)
	time.Sleep(50 * time.Millisecond)
	if v, ok := redisGet(t, ctx, r, "tiny"); ok {
		t.Errorf("Get = %q, true 50ms after a ttl of 1µs; want a miss", v)
	}
}

func TestNewRedisRejectsBadOptions(t *testing.T) {
	tests := map[string]cache.RedisOptions{
		"no address":        {},
		"a negative db":     {Address: "127.0.0.1:6379", DB: -1},
		"only a key prefix": {KeyPrefix: "x:"},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := cache.NewRedis(opts)
			if !errors.Is(err, cache.ErrInvalidOptions) {
				t.Errorf("NewRedis(%+v) = %v, %v; want ErrInvalidOptions", opts, r, err)
			}
		})
	}
}
