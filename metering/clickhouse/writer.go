package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/metering"
)

// WriterConfig configures a Writer.
type WriterConfig struct {
	Conn   driver.Conn
	Ledger metering.Ledger
	// MaxAge is the dedupe window: how old a record may be and still be
	// accepted. Validation rejects older records, so every record that can
	// reach the writer has its key in memory.
	MaxAge   time.Duration
	Log      *slog.Logger
	Registry prometheus.Registerer
	Now      func() time.Time
	// Streams is how many inserts one batch may be split into, sent at
	// once: one per month the batch spans (see assignStreams); default 2.
	Streams int
	// LedgerRetention is how long the ledger keeps a batch (see
	// metering.Lease.Prune); at least an hour, or 0 to keep every batch.
	LedgerRetention time.Duration
}

// Validate reports a configuration that cannot work.
func (c *WriterConfig) Validate() error {
	switch {
	case c.Conn == nil:
		return errors.New("clickhouse writer: no connection")
	case c.Ledger == nil:
		return errors.New("clickhouse writer: no ledger")
	case c.MaxAge < time.Hour:
		return fmt.Errorf("clickhouse writer: max age %s is under an hour", c.MaxAge)
	case c.Log == nil:
		return errors.New("clickhouse writer: no logger")
	case c.LedgerRetention != 0 && c.LedgerRetention < time.Hour:
		return fmt.Errorf("clickhouse writer: ledger retention %s is under an hour", c.LedgerRetention)
	}
	return nil
}

// Writer stores batches of usage records exactly once. See docs/ingest.md for
// the argument; in short: the writer holds the ledger's lease while it checks
// and inserts, its in-memory key set always equals the keys stored in
// usage_records (loaded from ClickHouse at start, caught up from other
// writers' batches through the ledger, and extended only after an insert
// landed), and an insert whose outcome is unknown is resolved by reading
// back what landed before anything else is written.
//
// A Writer is not safe for concurrent use: the ingest pipeline calls it from
// one goroutine.
type Writer struct {
	conn    driver.Conn
	ledger  metering.Ledger
	log     *slog.Logger
	maxAge  time.Duration
	now     func() time.Time
	id      string
	keys    *keySet
	fresh   *keySet // the current batch's keys, reused
	lastSeq uint64
	// unresolved batches were begun but their insert's outcome is unknown.
	unresolved []metering.LedgerBatch
	lastEvict  time.Time
	retention  time.Duration
	lastPrune  time.Time
	pruneMore  bool // the last prune stopped at its limit
	streams    int
	repairs    int // rollup repairs run, for their query ids
	// insertPrefix starts the query id of every usage insert into this
	// database, so a writer can wait out the inserts of a dead one.
	insertPrefix string
	m            writerMetrics
}

type writerMetrics struct {
	insert   *prometheus.HistogramVec
	rows     prometheus.Histogram
	keys     prometheus.Gauge
	catchups prometheus.Counter
	pruned   prometheus.Counter
	reloads  prometheus.Counter
}

// NewWriter loads the keys of the records stored within the dedupe window and
// returns a writer ready to write.
func NewWriter(ctx context.Context, cfg WriterConfig) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Streams == 0 {
		cfg.Streams = 2
	}
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	w := &Writer{
		conn:    cfg.Conn,
		ledger:  cfg.Ledger,
		log:     cfg.Log,
		maxAge:  cfg.MaxAge,
		now:     cfg.Now,
		id:      hex.EncodeToString(idb[:]),
		streams: max(cfg.Streams, 1),
		// retention: the first prune runs with the first batch.
		retention: cfg.LedgerRetention,
		m: writerMetrics{
			insert: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "simcore_ingest_insert_duration_seconds",
				Help:    "Time to insert one batch into ClickHouse, by table.",
				Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
			}, []string{"table"}),
			rows: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name:    "simcore_ingest_batch_records",
				Help:    "Records (new and duplicate) per written batch.",
				Buckets: prometheus.ExponentialBuckets(1, 4, 10),
			}),
			keys: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "simcore_ingest_dedupe_keys",
				Help: "Record identities held in memory for deduplication.",
			}),
			catchups: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "simcore_ingest_ledger_catchups_total",
				Help: "Batches written by other writers whose keys this writer loaded.",
			}),
			pruned: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "simcore_ingest_ledger_pruned_total",
				Help: "Batches this writer deleted from the usage ledger (older than the retention).",
			}),
			reloads: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "simcore_ingest_dedupe_reloads_total",
				Help: "Times this writer reloaded every key from ClickHouse because the ledger was pruned past what it had seen.",
			}),
		},
	}
	if cfg.Registry != nil {
		for _, c := range []prometheus.Collector{w.m.insert, w.m.rows, w.m.keys, w.m.catchups, w.m.pruned, w.m.reloads} {
			if err := cfg.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("register writer metrics: %w", err)
			}
		}
	}
	var db string
	if err := w.conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&db); err != nil {
		return nil, fmt.Errorf("clickhouse writer: current database: %w", err)
	}
	w.insertPrefix = "simcore-usage-insert-" + db + "-"
	if err := w.loadAll(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// deadInsertWait bounds how long a writer waits for a dead writer's inserts.
const deadInsertWait = 2 * time.Minute

// waitForInserts waits until ClickHouse runs no usage insert into this
// database. A writer that died (or lost its lease, or had its own insert
// fail on the client side) mid-insert leaves the INSERT running on the
// server, which may still commit rows; reading stored keys before it
// finishes would miss them and store those records again. Called with the
// lease held and no insert of this writer in flight, so whatever is still
// running is such a leftover.
func (w *Writer) waitForInserts(ctx context.Context) error {
	deadline := time.Now().Add(deadInsertWait)
	for {
		var n uint64
		err := w.conn.QueryRow(ctx, "SELECT count() FROM system.processes WHERE startsWith(query_id, ?)", w.insertPrefix).Scan(&n)
		if err != nil {
			return fmt.Errorf("look for running inserts: %w", err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d earlier usage inserts still running after %s", n, deadInsertWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Keys is the number of record identities held for deduplication.
func (w *Writer) Keys() int { return w.keys.len() }

// windowStart is the earliest start time whose key is kept: the validation
// window plus a day, so a record validated just before its key would be
// evicted is still recognised.
func (w *Writer) windowStart() time.Time {
	return w.now().Add(-w.maxAge - 24*time.Hour).UTC()
}

// loadAll reads every key within the window from usage_records, under the
// lease so that no batch lands in between.
func (w *Writer) loadAll(ctx context.Context) error {
	lease, err := w.ledger.Acquire(ctx)
	if err != nil {
		return err
	}
	defer lease.Release(context.WithoutCancel(ctx))
	return w.loadAllUnder(ctx, lease)
}

// loadAllUnder is loadAll with the lease already held. Batches this writer
// could not resolve are covered too: whatever of them landed is read.
func (w *Writer) loadAllUnder(ctx context.Context, lease metering.Lease) error {
	start := time.Now()
	if err := w.waitForInserts(ctx); err != nil {
		return err
	}
	seq, err := lease.MaxSeq(ctx)
	if err != nil {
		return err
	}
	var n uint64
	if err := w.conn.QueryRow(ctx, "SELECT count() FROM usage_records WHERE start_time >= ?", w.windowStart()).Scan(&n); err != nil {
		return fmt.Errorf("count stored keys: %w", err)
	}
	keys := newKeySet(int(n) + int(n)/4 + 1024)
	if err := w.loadKeys(ctx, keys, "start_time >= ?", w.windowStart()); err != nil {
		return err
	}
	// Batches left writing were never resolved: their writers (this
	// process's last run, say, gone with the server that failed their
	// insert between its raw part and its views) cannot repair their
	// rollups now, and no later catch-up lists them.
	writing, err := lease.Writing(ctx)
	if err != nil {
		return err
	}
	if err := w.repairRollups(ctx, writing); err != nil {
		return err
	}
	for _, b := range writing {
		if err := lease.Abort(ctx, b.Seq); err != nil {
			w.log.Warn("mark unresolved batch aborted", "seq", b.Seq, "err", err)
		}
	}
	w.keys, w.lastSeq, w.lastEvict = keys, seq, w.now()
	w.m.keys.Set(float64(keys.len()))
	w.log.Info("dedupe keys loaded", "keys", keys.len(), "ledger_seq", seq, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (w *Writer) loadKeys(ctx context.Context, into *keySet, where string, args ...any) error {
	rows, err := w.conn.Query(ctx, "SELECT key_hi, key_lo, toUInt32(start_time) FROM usage_records WHERE "+where, args...)
	if err != nil {
		return fmt.Errorf("load stored keys: %w", err)
	}
	defer rows.Close()
	var (
		k  metering.Key
		ts uint32
	)
	for rows.Next() {
		if err := rows.Scan(&k.Hi, &k.Lo, &ts); err != nil {
			return fmt.Errorf("load stored keys: %w", err)
		}
		into.add(k, unixDay(int64(ts)))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load stored keys: %w", err)
	}
	return nil
}

// catchUpChunk bounds the batch numbers one catch-up query names: 5,000
// of up to 20 digits keep it near 100 KiB.
const catchUpChunk = 5000

// batchRows yields, chunk by chunk, conditions on usage_records: the rows
// of the batches' months, and the rows of batches bs (within those). In
// chunks: a writer that idled while another wrote for hours has tens of
// thousands of batches to read, and ClickHouse refuses a query over
// max_query_size (256 KiB).
func batchRows(bs []metering.LedgerBatch) iter.Seq2[string, string] {
	var months []uint32
	seqs := make([]string, 0, len(bs))
	for _, b := range bs {
		seqs = append(seqs, strconv.FormatUint(b.Seq, 10))
		for _, m := range b.Months {
			if !slices.Contains(months, m) {
				months = append(months, m)
			}
		}
	}
	ms := make([]string, len(months))
	for i, m := range months {
		ms[i] = strconv.FormatUint(uint64(m), 10)
	}
	inMonths := "toYYYYMM(start_time) IN (" + strings.Join(ms, ",") + ")"
	return func(yield func(string, string) bool) {
		if len(bs) == 0 || len(months) == 0 {
			return
		}
		for chunk := range slices.Chunk(seqs, catchUpChunk) {
			if !yield(inMonths, inMonths+" AND batch_seq IN ("+strings.Join(chunk, ",")+")") {
				return
			}
		}
	}
}

// loadBatches adds the keys of the given batches, as far as they landed.
func (w *Writer) loadBatches(ctx context.Context, bs []metering.LedgerBatch) error {
	for _, where := range batchRows(bs) {
		if err := w.loadKeys(ctx, w.keys, where); err != nil {
			return err
		}
	}
	return nil
}

// catchUp brings the key set up to date with every batch begun since the
// last one this writer saw: other writers' batches, and its own whose
// outcome it could not learn.
func (w *Writer) catchUp(ctx context.Context, lease metering.Lease) error {
	bs, err := lease.Since(ctx, w.lastSeq)
	if errors.Is(err, metering.ErrLedgerPruned) {
		// Idle for longer than the retention while another writer
		// pruned: what landed meanwhile is only in ClickHouse.
		w.log.Info("the usage ledger was pruned past this writer's last batch; reloading keys", "ledger_seq", w.lastSeq, "err", err)
		w.m.reloads.Inc()
		if err := w.loadAllUnder(ctx, lease); err != nil {
			return err
		}
		for _, b := range w.unresolved {
			if err := lease.Abort(ctx, b.Seq); err != nil {
				w.log.Warn("mark unresolved batch aborted", "seq", b.Seq, "err", err)
			}
		}
		w.unresolved = w.unresolved[:0]
		return nil
	}
	if err != nil {
		return err
	}
	var others []metering.LedgerBatch
	for _, b := range bs {
		if b.Writer != w.id {
			others = append(others, b)
		}
	}
	unfinished := len(w.unresolved) > 0
	for _, b := range others {
		unfinished = unfinished || b.State != "committed"
	}
	if unfinished {
		// A batch begun and never committed: its writer died or lost
		// the lease, and its insert may still be running on the server.
		if err := w.waitForInserts(ctx); err != nil {
			return err
		}
	}
	var partial []metering.LedgerBatch // may have landed in part
	for _, b := range others {
		if b.State == "writing" {
			partial = append(partial, b)
		}
	}
	partial = append(partial, w.unresolved...)
	others = append(others, w.unresolved...)
	if err := w.loadBatches(ctx, others); err != nil {
		return err
	}
	if err := w.repairRollups(ctx, partial); err != nil {
		return err
	}
	for _, b := range w.unresolved {
		// We hold the lease, so nothing of that batch is still in flight.
		if err := lease.Abort(ctx, b.Seq); err != nil {
			w.log.Warn("mark unresolved batch aborted", "seq", b.Seq, "err", err)
		}
	}
	w.m.catchups.Add(float64(len(others)))
	w.unresolved = w.unresolved[:0]
	if len(bs) > 0 {
		w.lastSeq = max(w.lastSeq, bs[len(bs)-1].Seq)
	}
	w.m.keys.Set(float64(w.keys.len()))
	return nil
}

// WriteBatch stores b's records that are not stored yet and b's rejects.
// Records whose identity is already stored, or repeats within b, are
// duplicates. On error nothing is known to be stored that the next call
// would store again: the caller retries the same batch.
func (w *Writer) WriteBatch(ctx context.Context, b *metering.Batch) (metering.WriteResult, error) {
	res := metering.WriteResult{Stored: make([]bool, len(b.Records))}
	lease, err := w.ledger.Acquire(ctx)
	if err != nil {
		return res, err
	}
	defer lease.Release(context.WithoutCancel(ctx))
	if err := w.catchUp(ctx, lease); err != nil {
		return res, err
	}
	w.maybeEvict()
	w.maybePrune(ctx, lease)

	// Dedupe: against the store, and within the batch. Keys are computed
	// once per record, and looked up in the store's set in a loop of
	// their own, where the lookups' cache misses overlap: the dedupe of
	// the benchmark's 2M records took 0.87-0.94 s instead of 1.16-1.37 s.
	keys := make([]metering.Key, len(b.Records))
	for i := range b.Records {
		keys[i] = b.Records[i].Key()
	}
	known := make([]bool, len(keys))
	w.keys.hasAll(keys, known)
	if w.fresh == nil {
		w.fresh = newKeySet(2 * len(b.Records))
	}
	w.fresh.reset()
	var months []uint32
	// The batch's ICCIDs for the ledger, in order of first appearance:
	// sorting them (rating sorts what it reads anyway) cost 14 ms of the
	// serial path per 50,000-record batch.
	seen := make(map[string]struct{}, len(b.Records)/2)
	var iccids []string
	n := 0
	for i := range b.Records {
		r := &b.Records[i]
		if known[i] || !w.fresh.add(keys[i], 0) {
			continue
		}
		res.Stored[i] = true
		n++
		if _, ok := seen[r.ICCID]; !ok {
			seen[r.ICCID] = struct{}{}
			iccids = append(iccids, r.ICCID)
		}
		if m := yyyymm(r.StartTime); !slices.Contains(months, m) {
			months = append(months, m)
		}
	}
	w.m.rows.Observe(float64(len(b.Records)))

	if n > 0 {
		seq, err := lease.Begin(ctx, w.id, months, iccids, n)
		if err != nil {
			return res, err
		}
		if err := w.insertRecords(ctx, lease, b, keys, res.Stored, n, seq); err != nil {
			// The insert may or may not have landed, wholly or in part (one
			// part per month). Learn what landed before writing anything
			// else; until then the batch stays unresolved.
			w.unresolved = append(w.unresolved, metering.LedgerBatch{Seq: seq, Writer: w.id, Months: months})
			if rerr := w.catchUp(ctx, lease); rerr != nil {
				w.log.Warn("resolve failed insert", "seq", seq, "err", rerr)
			}
			return res, err
		}
		if err := lease.Commit(ctx, seq); err != nil {
			// The rows are stored; only the ledger mark failed. Other
			// writers read the rows of any batch they see, whatever its mark.
			w.log.Warn("commit batch in ledger", "seq", seq, "err", err)
		}
		for i := range b.Records {
			if res.Stored[i] {
				w.keys.add(keys[i], unixDay(b.Records[i].StartTime.Unix()))
			}
		}
		w.lastSeq = max(w.lastSeq, seq)
		w.m.keys.Set(float64(w.keys.len()))
	}
	if len(b.Rejects) > 0 {
		if err := w.insertRejects(ctx, b.Rejects); err != nil {
			// Records are stored and remembered; a retry dedupes them and
			// writes the rejects again (they collapse by key).
			return res, err
		}
	}
	return res, nil
}

func (w *Writer) maybeEvict() {
	if w.now().Sub(w.lastEvict) < time.Hour {
		return
	}
	w.lastEvict = w.now()
	if n := w.keys.evictBefore(unixDay(w.windowStart().Unix())); n > 0 {
		w.log.Info("evicted dedupe keys older than the window", "keys", n)
	}
}

// pruneChunk bounds the batches one prune deletes, so that a backlog (the
// first prune of a ledger kept for months) is spread over many batches
// instead of holding the lease for long.
const pruneChunk = 5000

// maybePrune deletes ledger batches older than the retention, hourly, or at
// every batch while a backlog remains. It runs under the lease. Pruning is
// housekeeping: a failure is logged and the batch goes on.
func (w *Writer) maybePrune(ctx context.Context, lease metering.Lease) {
	if w.retention == 0 || (!w.pruneMore && w.now().Sub(w.lastPrune) < time.Hour) {
		return
	}
	w.lastPrune, w.pruneMore = w.now(), false
	p, err := lease.Prune(ctx, w.now().Add(-w.retention), pruneChunk)
	if err != nil {
		w.log.Warn("prune the usage ledger", "err", err)
		return
	}
	w.pruneMore = p.More
	w.m.pruned.Add(float64(p.Deleted))
	if p.Deleted > 0 {
		w.log.Info("pruned the usage ledger", "batches", p.Deleted, "through_seq", p.Through, "retention", w.retention)
	}
	if p.HeldBy != "" {
		w.log.Warn("a ledger reader holds back pruning; delete it from usage_ledger_readers if it is retired",
			"reader", p.HeldBy, "reader_seq", p.HeldAt, "retention", w.retention)
	}
}

func yyyymm(t time.Time) uint32 {
	t = t.UTC()
	return uint32(t.Year()*100 + int(t.Month()))
}

// rollups are the materialized views' tables, their bucket column, and
// how each buckets a record's start time.
var rollups = []struct{ table, column, bucket string }{
	{"usage_hourly", "hour", "toStartOfHour(start_time)"},
	{"usage_daily", "day", "toDate(start_time)"},
}

// repairRollups makes the rollup cells that batches touched add up to the
// raw rows again. ClickHouse commits an insert's raw part before it feeds
// the materialized views, and one month's part before the next: an insert
// that failed in between (the server crashed, its disk filled) leaves raw
// rows the rollups lack, and those rows are read back as stored. For each
// (iccid, bucket, type) cell the batches' landed rows are in, it inserts
// the raw totals minus the rollup's, where the rollup is short. Run under
// the lease, with no insert running, so nothing changes meanwhile; a cell
// already whole gets nothing, so running it again changes nothing.
func (w *Writer) repairRollups(ctx context.Context, bs []metering.LedgerBatch) error {
	if len(bs) == 0 {
		return nil
	}
	for inMonths, where := range batchRows(bs) {
		for _, r := range rollups {
			// The cells the batches' rows are in; the raw rows of those
			// cells (any batch) are in the same months.
			cells := "SELECT iccid, " + r.bucket + ", type FROM usage_records WHERE " + where
			q := "INSERT INTO " + r.table + " (iccid, " + r.column + ", type, records, sessions, bytes_up, bytes_down, duration_s)" +
				" SELECT iccid, b, type, rr - hr, rs - hs, ru - hu, rd - hd, rt - ht FROM (" +
				" SELECT iccid, " + r.bucket + " AS b, type, count() AS rr, countIf(sequence <= 1) AS rs, sum(bytes_up) AS ru," +
				" sum(bytes_down) AS rd, sum(toUInt64(duration_s)) AS rt FROM usage_records" +
				" WHERE " + inMonths + " AND (iccid, " + r.bucket + ", type) IN (" + cells + ") GROUP BY iccid, b, type" +
				") ANY LEFT JOIN (" +
				" SELECT iccid, " + r.column + " AS b, type, sum(records) AS hr, sum(sessions) AS hs, sum(bytes_up) AS hu," +
				" sum(bytes_down) AS hd, sum(duration_s) AS ht FROM " + r.table +
				" WHERE (iccid, " + r.column + ", type) IN (" + cells + ") GROUP BY iccid, b, type" +
				") USING (iccid, b, type) WHERE rr > hr"
			// The usage inserts' query id prefix: a writer that takes the
			// lease waits out a repair its dead predecessor left running
			// (waitForInserts), which would otherwise add a shortfall the
			// next repair adds again.
			w.repairs++
			qctx := ch.Context(ctx, ch.WithQueryID(fmt.Sprintf("%s%s-repair-%d", w.insertPrefix, w.id, w.repairs)))
			if err := w.conn.Exec(qctx, q); err != nil {
				return fmt.Errorf("repair %s: %w", r.table, err)
			}
		}
	}
	w.log.Info("rollups checked against the raw rows of batches that may have landed in part", "batches", len(bs))
	return nil
}
