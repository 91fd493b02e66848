// Package testenv gives integration tests their real services: it reads the
// connection settings that `make services` (deploy/local/services.sh) writes
// to .run/env, checks that each service answers, and hands every test its own
// database or key prefix. A missing service fails the test with a message
// naming `make services`; it never skips.
//
// It is imported by tests only and imports no simcore package, so adapters
// can use it from their own tests.
package testenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	loadOnce sync.Once
	fileEnv  map[string]string
	rootDir  string
)

// Root is the checkout's top directory (where go.mod is).
func Root(t testing.TB) string {
	t.Helper()
	load()
	if rootDir == "" {
		t.Fatal("testenv: cannot find the repository root (go.mod) above the working directory")
	}
	return rootDir
}

func load() {
	loadOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
		fileEnv = map[string]string{}
		f, err := os.Open(filepath.Join(rootDir, ".run", "env"))
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "))
			k, v, ok := strings.Cut(line, "=")
			if !ok || strings.HasPrefix(line, "#") {
				continue
			}
			fileEnv[k] = strings.Trim(v, `"'`)
		}
	})
}

// Getenv returns the variable from the process environment, else from
// .run/env.
func Getenv(name string) string {
	load()
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fileEnv[name]
}

// Lookup is Getenv as a function value, for code that takes a lookup.
func Lookup(name string) string { return Getenv(name) }

// Require returns the variable or fails the test naming `make services`.
func Require(t testing.TB, name string) string {
	t.Helper()
	v := Getenv(name)
	if v == "" {
		t.Fatalf("testenv: %s is not set and .run/env does not have it: run `make services` (deploy/local/services.sh up) first", name)
	}
	return v
}

// Dial checks that a TCP service answers at addr, or fails the test.
func Dial(t testing.TB, what, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("testenv: %s is not reachable at %s (%v): run `make services` (deploy/local/services.sh up) first", what, addr, err)
	}
	c.Close()
}

// UniqueName returns a fresh identifier safe as a database name or key
// prefix: prefix, then 12 random hex digits.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Context returns a context that ends with the test (or after d).
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// ClickHouseAddr returns the ClickHouse native address, checked reachable.
func ClickHouseAddr(t testing.TB) string {
	t.Helper()
	addr := Require(t, "SIMCORE_CLICKHOUSE_ADDR")
	Dial(t, "ClickHouse", addr)
	return addr
}

// RedisAddr returns the Redis address, checked reachable.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := Require(t, "SIMCORE_REDIS_ADDR")
	Dial(t, "Redis", addr)
	return addr
}

// RedisPrefix returns a key prefix of the test's own.
func RedisPrefix(t testing.TB) string { return UniqueName("test:") + ":" }

func hostPort(t testing.TB, url string) string {
	t.Helper()
	rest := url[strings.Index(url, "://")+3:]
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// Fatalf formats a service failure with the standard hint.
func Fatalf(t testing.TB, format string, a ...any) {
	t.Helper()
	t.Fatalf("%s (is `make services` up?)", fmt.Sprintf(format, a...))
}
