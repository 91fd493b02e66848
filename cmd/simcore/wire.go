package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/metering"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	mpg "github.com/simcore/simcore/metering/postgres"
	"github.com/simcore/simcore/ops"
	portalpg "github.com/simcore/simcore/portal/postgres"
	ppg "github.com/simcore/simcore/provisioning/postgres"
	rpg "github.com/simcore/simcore/rating/postgres"
)

// ingestConfig is the ingest pipeline's tuning, from flags.
type ingestConfig struct {
	maxBatch int
	maxWait  time.Duration
	maxAge   time.Duration
	parsers  int
	streams  int
	memMiB   int
	ledger   time.Duration
	// spoolKeep is how long the spool's done/ keeps a stored file.
	spoolKeep time.Duration
}

func (c *cmdEnv) ingestFlags(ic *ingestConfig) {
	c.num(&ic.maxBatch, "batch-size", "SIMCORE_INGEST_BATCH_SIZE", 100_000, "records per ClickHouse insert")
	c.dur(&ic.maxWait, "batch-wait", "SIMCORE_INGEST_BATCH_WAIT", time.Second, "longest a record waits for its batch")
	c.dur(&ic.maxAge, "max-age", "SIMCORE_INGEST_MAX_AGE", 90*24*time.Hour, "oldest record start time accepted (the dedupe window)")
	c.num(&ic.parsers, "parsers", "SIMCORE_INGEST_PARSERS", 0, "parsing goroutines (0: one per CPU)")
	c.num(&ic.streams, "insert-streams", "SIMCORE_INGEST_INSERT_STREAMS", 2, "most inserts one batch is split into, sent at once (1 to 4): one per month the batch spans")
	c.dur(&ic.ledger, "ledger-retention", "SIMCORE_INGEST_LEDGER_RETENTION", 7*24*time.Hour, "how long the usage ledger keeps a batch (0: for ever; at least 1h)")
	c.dur(&ic.spoolKeep, "spool-retention", "SIMCORE_INGEST_SPOOL_RETENTION", 72*time.Hour, "how long the spool's done/ keeps a stored file (0: for ever; at least the RADIUS log's replay window)")
	c.num(&ic.memMiB, "memory-limit-mib", "SIMCORE_MEMORY_LIMIT_MIB", 448, "soft memory limit for the Go heap in MiB (0: none; GOMEMLIMIT wins)")
}

// maxInsertStreams bounds --insert-streams.
const maxInsertStreams = 4

// check refuses settings the writer cannot run with, as a usage error
// (exit 2) before anything is opened, rather than after the migrations as
// the writer's own error (exit 1, which systemd restarts in a loop).
func (ic *ingestConfig) check() error {
	switch {
	case ic.maxAge < time.Hour:
		return usagef("--max-age (SIMCORE_INGEST_MAX_AGE) %s is under an hour", ic.maxAge)
	case ic.ledger < 0 || ic.ledger != 0 && ic.ledger < time.Hour:
		return usagef("--ledger-retention (SIMCORE_INGEST_LEDGER_RETENTION) %s: 0 (for ever) or at least 1h", ic.ledger)
	case ic.streams < 1 || ic.streams > maxInsertStreams:
		// Each stream is a connection of the ClickHouse pool (8), which
		// the writer's other queries and the readers share.
		return usagef("--insert-streams (SIMCORE_INGEST_INSERT_STREAMS) %d: 1 to %d", ic.streams, maxInsertStreams)
	}
	return nil
}

// checkPostgresURL refuses a SIMCORE_POSTGRES_URL that does not parse: a
// setting's mistake, exit 2, which simcore-migrate does not retry.
func checkPostgresURL(url string) error {
	if _, err := pgx.ParseConfig(url); err != nil {
		return usagef("SIMCORE_POSTGRES_URL: %v", err)
	}
	return nil
}

// meteringStack is metering wired to its stores.
type meteringStack struct {
	ch       driver.Conn
	pg       *pgxpool.Pool
	reader   *chstore.Reader
	pipeline *ingest.Pipeline
}

func (m *meteringStack) close() {
	if m.ch != nil {
		m.ch.Close()
	}
	if m.pg != nil {
		m.pg.Close()
	}
}

func (c *cmdEnv) chConfig() (chstore.Config, error) {
	tc, err := c.common.clickhouseTLS.config(c.common.clickhouseAddr)
	if err != nil {
		return chstore.Config{}, err
	}
	return chstore.Config{Addr: c.common.clickhouseAddr, Database: c.common.clickhouseDB,
		Username: c.common.clickhouseUser, Password: c.common.clickhousePassword, TLS: tc}, nil
}

// migrateAll applies every store's migrations.
func (c *cmdEnv) migrateAll(ctx context.Context, log *slog.Logger) error {
	v, err := c.migrateClickHouse(ctx)
	if err != nil {
		return err
	}
	log.Info("clickhouse migrated", "database", c.common.clickhouseDB, "version", v)
	if err := mpg.Migrate(ctx, c.common.postgresURL); err != nil {
		return err
	}
	if err := ppg.Migrate(ctx, c.common.postgresURL); err != nil {
		return err
	}
	if err := rpg.Migrate(ctx, c.common.postgresURL); err != nil {
		return err
	}
	if err := portalpg.Migrate(ctx, c.common.postgresURL); err != nil {
		return err
	}
	log.Info("postgres migrated", "domains", "metering, provisioning, rating, portal")
	if v > chstore.LatestMigration() {
		warnSchemaAhead(log, "clickhouse", v, chstore.LatestMigration())
	}
	return c.checkPostgresSchemas(ctx, log)
}

// checkPostgresSchemas warns of each PostgreSQL domain whose schema a newer
// simcore has migrated past this binary's migrations.
func (c *cmdEnv) checkPostgresSchemas(ctx context.Context, log *slog.Logger) error {
	conn, err := pgx.Connect(ctx, c.common.postgresURL)
	if err != nil {
		return fmt.Errorf("postgres, for the schema versions: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, d := range []struct {
		name, table string
		latest      int64
	}{
		{"metering", mpg.VersionTable, mpg.LatestMigration()},
		{"provisioning", ppg.VersionTable, ppg.LatestMigration()},
		{"rating", rpg.VersionTable, rpg.LatestMigration()},
		{"portal", portalpg.VersionTable, portalpg.LatestMigration()},
	} {
		var v int64
		if err := conn.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM `+pgx.Identifier{d.table}.Sanitize()).Scan(&v); err != nil {
			return fmt.Errorf("%s schema version: %w", d.name, err)
		}
		if v > d.latest {
			warnSchemaAhead(log, d.name, v, d.latest)
		}
	}
	return nil
}

// warnSchemaAhead says that a newer simcore has migrated a schema: this
// binary runs on it (migrations so far only add), but an operator who
// rolled back should know, and restore the backup taken before the upgrade
// to go back for good (deploy/README.md).
func warnSchemaAhead(log *slog.Logger, domain string, db, binary int64) {
	log.Warn("database schema is newer than this simcore: a newer version migrated it; to go back for good, restore the backup taken before the upgrade",
		"domain", domain, "schema_version", db, "newest_known", binary)
}

// chMigrateLock is the PostgreSQL advisory lock key that serializes
// ClickHouse migrations ("simcore" and 1).
const chMigrateLock = 0x73696d636f726501

// migrateClickHouse applies the ClickHouse migrations under a PostgreSQL
// advisory lock. ClickHouse has neither transactions nor locks, so
// components started together (systemd starts ingest, portal and rater at
// once, and each migrates) applied the same migration side by side, and
// all but one failed with "table already exists"
// (TestConcurrentMigrations). Every process that migrates ClickHouse also
// reaches PostgreSQL; the lock is the session's and ends with it.
func (c *cmdEnv) migrateClickHouse(ctx context.Context) (int64, error) {
	if err := checkPostgresURL(c.common.postgresURL); err != nil {
		return 0, err
	}
	conn, err := pgx.Connect(ctx, c.common.postgresURL)
	if err != nil {
		return 0, fmt.Errorf("postgres, for the clickhouse migration lock: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(chMigrateLock)); err != nil {
		return 0, fmt.Errorf("clickhouse migration lock: %w", err)
	}
	cfg, err := c.chConfig()
	if err != nil {
		return 0, err
	}
	return chstore.Migrate(ctx, cfg)
}

// openMetering connects to ClickHouse and PostgreSQL. With a pipeline config
// it also builds the writer (loading the dedupe keys) and the pipeline.
func (c *cmdEnv) openMetering(ctx context.Context, log *slog.Logger, reg *prometheus.Registry, ic *ingestConfig) (*meteringStack, error) {
	m := &meteringStack{}
	cfg, err := c.chConfig()
	if err != nil {
		return nil, err
	}
	if m.ch, err = chstore.Open(ctx, cfg); err != nil {
		return nil, err
	}
	m.reader = chstore.NewReader(m.ch)
	if ic == nil {
		return m, nil
	}
	if ic.memMiB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		ml, err := newMemoryLimit(log, reg, ic.memMiB)
		if err != nil {
			m.close()
			return nil, err
		}
		go ml.run(ctx)
	}
	if m.pg, err = openPool(ctx, c.common.postgresURL, meteringConns); err != nil {
		m.close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	w, err := chstore.NewWriter(ctx, chstore.WriterConfig{
		Conn: m.ch, Ledger: mpg.NewLedger(m.pg), MaxAge: ic.maxAge, Log: log, Registry: reg, Streams: ic.streams,
		LedgerRetention: ic.ledger,
	})
	if err != nil {
		m.close()
		return nil, err
	}
	var bw ingest.BatchWriter = w
	if n, _ := strconv.Atoi(c.getenv("SIMCORE_FAULT_KILL_AFTER_BATCHES")); n > 0 {
		log.Warn("fault injection: this process kills itself after a batch is stored, before its source is acknowledged", "batches", n)
		bw = &killAfter{BatchWriter: w, n: n}
	}
	m.pipeline, err = ingest.New(ingest.Config{
		Writer: bw, Log: log, Registry: reg, MaxBatch: ic.maxBatch, MaxWait: ic.maxWait,
		MaxAge: ic.maxAge, Parsers: ic.parsers, DrainTimeout: c.common.shutdownTimeout,
		// BER CDRs and RADIUS accounting name the IMSI; the inventory names its card.
		Resolver: ingest.NewCachedResolver(ppg.New(m.pg), 0, 0, nil),
	})
	if err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

// readiness adds checks for the stores m uses.
func (m *meteringStack) readiness(s *ops.Server) {
	if m.ch != nil {
		s.AddCheck("clickhouse", func(ctx context.Context) error { return m.ch.Ping(ctx) })
	}
	if m.pg != nil {
		s.AddCheck("postgres", func(ctx context.Context) error { return m.pg.Ping(ctx) })
	}
}

// killAfter is fault injection for the crash tests: after its n-th stored
// batch it SIGKILLs its own process, so the batch is in ClickHouse but its
// source was never acknowledged. Enabled only by
// SIMCORE_FAULT_KILL_AFTER_BATCHES.
type killAfter struct {
	ingest.BatchWriter
	n int
}

func (k *killAfter) WriteBatch(ctx context.Context, b *metering.Batch) (metering.WriteResult, error) {
	res, err := k.BatchWriter.WriteBatch(ctx, b)
	if err == nil {
		if k.n--; k.n == 0 {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	return res, err
}

// openPool opens a PostgreSQL pool of at most conns connections, unless the
// URL sets pool_max_conns (pgx's own default, the CPU count, would tie it to
// this machine rather than to what the process does).
func openPool(ctx context.Context, url string, conns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, usagef("postgres url: %v", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = conns
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// meteringConns is the metering stack's pool size: a batch write holds a
// connection for its ledger lease while it runs, and writers queued behind
// the lease hold theirs while they wait.
const meteringConns = 20
