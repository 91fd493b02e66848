package clickhouse

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"regexp"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Config says where ClickHouse is.
type Config struct {
	Addr        string // host:port of the native protocol
	Database    string
	Username    string
	Password    string
	DialTimeout time.Duration
	// TLS, when not nil, is how the connection is secured (ClickHouse's
	// tcp_port_secure, 9440 by convention).
	TLS *tls.Config
}

var dbName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Addr == "" {
		return errors.New("clickhouse: address is empty")
	}
	if !dbName.MatchString(c.Database) {
		return fmt.Errorf("clickhouse: database name %q: want letters, digits and _", c.Database)
	}
	return nil
}

func (c Config) options(database string) *ch.Options {
	dt := c.DialTimeout
	if dt == 0 {
		dt = 5 * time.Second
	}
	user := c.Username
	if user == "" {
		user = "default"
	}
	return &ch.Options{
		Addr:             []string{c.Addr},
		Auth:             ch.Auth{Database: database, Username: user, Password: c.Password},
		DialTimeout:      dt,
		MaxOpenConns:     8,
		MaxIdleConns:     4,
		ConnMaxLifetime:  time.Hour,
		ReadTimeout:      5 * time.Minute,
		ConnOpenStrategy: ch.ConnOpenInOrder,
		TLS:              c.TLS,
	}
}

// Open connects to cfg.Database, creating it first if it does not exist, and
// checks that the server answers.
func Open(ctx context.Context, cfg Config) (driver.Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CreateDatabase(ctx, cfg); err != nil {
		return nil, err
	}
	conn, err := ch.Open(cfg.options(cfg.Database))
	if err != nil {
		return nil, fmt.Errorf("clickhouse open %s: %w", cfg.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse ping %s: %w", cfg.Addr, err)
	}
	return conn, nil
}

// CreateDatabase creates cfg.Database if it does not exist.
func CreateDatabase(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	conn, err := ch.Open(cfg.options("default"))
	if err != nil {
		return fmt.Errorf("clickhouse open %s: %w", cfg.Addr, err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database); err != nil {
		return fmt.Errorf("clickhouse create database %s at %s: %w", cfg.Database, cfg.Addr, err)
	}
	return nil
}

// DropDatabase drops cfg.Database (tests use it to clean up).
func DropDatabase(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	conn, err := ch.Open(cfg.options("default"))
	if err != nil {
		return fmt.Errorf("clickhouse open %s: %w", cfg.Addr, err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.Database); err != nil {
		return fmt.Errorf("clickhouse drop database %s: %w", cfg.Database, err)
	}
	return nil
}
