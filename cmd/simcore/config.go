package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// commonConfig is what most commands share: logging, the three stores and
// the ops listener.
type commonConfig struct {
	logFormat      string
	logLevel       string
	clickhouseAddr string
	clickhouseDB   string
	clickhouseUser string
	// clickhousePassword is read when the flags are registered, so that
	// an unreadable SIMCORE_CLICKHOUSE_PASSWORD_FILE stops the command.
	clickhousePassword string
	postgresURL        string
	redisAddr          string
	// redisUser and redisPassword authenticate to Redis (AUTH, or an ACL
	// user); empty for a Redis without them.
	redisUser, redisPassword string
	// redisTLS and clickhouseTLS say whether and how to reach those
	// stores over TLS (off by default: loopback and private networks).
	redisTLS, clickhouseTLS tlsClient
	opsAddr                 string
	shutdownTimeout         time.Duration
}

// str registers a string flag whose default comes from the environment.
func (c *cmdEnv) str(p *string, name, envName, def, usage string) {
	if v := c.getenv(envName); v != "" {
		def = v
	}
	c.fs.StringVar(p, name, def, usage)
	c.envs = append(c.envs, envVar{name: envName, flag: name, def: def})
}

// secretStr is str for passwords and tokens: help never shows the value,
// and the value may come from a file named by envName_FILE (see secret).
func (c *cmdEnv) secretStr(p *string, name, envName, def, usage string) {
	if v := c.secret(envName); v != "" {
		def = v
	}
	c.fs.StringVar(p, name, def, usage)
	c.envs = append(c.envs, envVar{name: envName, flag: name, def: def, secret: true})
}

// secret returns the environment variable name or, when it is empty, the
// contents of the file named by name_FILE without a trailing newline, as
// systemd credentials, Docker and Kubernetes secrets provide them: a
// secret then never sits in the process environment. A file that cannot
// be read, or is empty, is recorded in c.errs and the command does not
// run.
func (c *cmdEnv) secret(name string) string {
	if v := c.getenv(name); v != "" {
		return v
	}
	file := c.getenv(name + "_FILE")
	if file == "" {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		c.errs = append(c.errs, fmt.Errorf("%s_FILE: %w", name, err))
		return ""
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		c.errs = append(c.errs, fmt.Errorf("%s_FILE: %s is empty", name, file))
	}
	return v
}

// fromEnv parses the environment variable envName, when set, with parse.
// A value that does not parse is recorded in c.errs, so the command does
// not run: ignoring it would run with the default instead of what the
// operator wrote (SIMCORE_INGEST_STORE=no would store), as a bad flag
// value does not either.
func (c *cmdEnv) fromEnv(envName string, parse func(string) error) {
	if v := c.getenv(envName); v != "" {
		if err := parse(v); err != nil {
			c.errs = append(c.errs, fmt.Errorf("%s=%q: %w", envName, v, err))
		}
	}
}

func (c *cmdEnv) dur(p *time.Duration, name, envName string, def time.Duration, usage string) {
	c.fromEnv(envName, func(v string) error {
		d, err := time.ParseDuration(v)
		if err == nil {
			def = d
		}
		return err
	})
	c.fs.DurationVar(p, name, def, usage)
	c.envs = append(c.envs, envVar{name: envName, flag: name})
}

// boolean registers a bool flag whose default comes from the environment
// ("true", "1", ...).
func (c *cmdEnv) boolean(p *bool, name, envName string, def bool, usage string) {
	c.fromEnv(envName, func(v string) error {
		b, err := strconv.ParseBool(v)
		if err == nil {
			def = b
		}
		return err
	})
	c.fs.BoolVar(p, name, def, usage)
	c.envs = append(c.envs, envVar{name: envName, flag: name})
}

func (c *cmdEnv) float(p *float64, name, envName string, def float64, usage string) {
	c.fromEnv(envName, func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err == nil {
			def = f
		}
		return err
	})
	c.fs.Float64Var(p, name, def, usage)
	c.envs = append(c.envs, envVar{name: envName, flag: name})
}

func (c *cmdEnv) num(p *int, name, envName string, def int, usage string) {
	c.fromEnv(envName, func(v string) error {
		n, err := strconv.Atoi(v)
		if err == nil {
			def = n
		}
		return err
	})
	c.fs.IntVar(p, name, def, usage)
	c.envs = append(c.envs, envVar{name: envName, flag: name})
}

func (c *cmdEnv) logFlags() {
	c.str(&c.common.logFormat, "log-format", "SIMCORE_LOG_FORMAT", "text", "log format: text or json")
	c.str(&c.common.logLevel, "log-level", "SIMCORE_LOG_LEVEL", "info", "log level: debug, info, warn or error")
}

func (c *cmdEnv) clickhouseFlags() {
	c.str(&c.common.clickhouseAddr, "clickhouse-addr", "SIMCORE_CLICKHOUSE_ADDR", "127.0.0.1:19000", "ClickHouse native protocol address")
	c.str(&c.common.clickhouseDB, "clickhouse-database", "SIMCORE_CLICKHOUSE_DATABASE", "simcore", "ClickHouse database")
	// Credentials have no flags (a flag's value shows in ps).
	c.common.clickhouseUser = c.getenv("SIMCORE_CLICKHOUSE_USER")
	c.common.clickhousePassword = c.secret("SIMCORE_CLICKHOUSE_PASSWORD")
	c.tlsFlags(&c.common.clickhouseTLS, "clickhouse", "SIMCORE_CLICKHOUSE", "ClickHouse")
}

func (c *cmdEnv) postgresFlags() {
	c.secretStr(&c.common.postgresURL, "postgres-url", "SIMCORE_POSTGRES_URL", "postgres://postgres@127.0.0.1:15432/simcore?sslmode=disable", "PostgreSQL connection URL")
}

func (c *cmdEnv) redisFlags() {
	c.str(&c.common.redisAddr, "redis-addr", "SIMCORE_REDIS_ADDR", "127.0.0.1:16379", "Redis address")
	// Credentials have no flags (a flag's value shows in ps).
	c.common.redisUser = c.getenv("SIMCORE_REDIS_USERNAME")
	c.common.redisPassword = c.secret("SIMCORE_REDIS_PASSWORD")
	c.tlsFlags(&c.common.redisTLS, "redis", "SIMCORE_REDIS", "Redis")
}

func (c *cmdEnv) serviceFlags(defaultOps string) {
	c.str(&c.common.opsAddr, "ops-addr", "SIMCORE_OPS_ADDR", defaultOps, "listen address for /metrics, /healthz and /readyz")
	c.dur(&c.common.shutdownTimeout, "shutdown-timeout", "SIMCORE_SHUTDOWN_TIMEOUT", 15*time.Second, "how long to drain in-flight work on SIGINT/SIGTERM")
}

// logger builds the slog logger the flags ask for.
func (c *cmdEnv) logger() (*slog.Logger, error) {
	return newLogger(c.io.err, c.common.logFormat, c.common.logLevel)
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		// slog's JSON writes a duration as integer nanoseconds
		// ("window":1800000000000); log pipelines and people read "30m0s".
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usagef("log format %q: want text or json", format)
	}
}
