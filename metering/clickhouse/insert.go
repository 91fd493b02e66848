package clickhouse

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"golang.org/x/sync/errgroup"

	"github.com/simcore/simcore/metering"
)

const insertRecordsSQL = `INSERT INTO usage_records (iccid, start_time, type, key_hi, key_lo, node_id, record_id, imsi, msisdn, duration_s, bytes_up, bytes_down, mcc_mnc, rat, apn, peer_number, sequence, closing_cause, source, batch_seq, ingested_at, charging_id, pgw_address)`

// recordColumns holds one batch column by column: columnar appends were the
// fastest way measured to insert with clickhouse-go (docs/ingest.md).
type recordColumns struct {
	iccid, nodeID, recordID, imsi, msisdn, mccmnc, rat, apn, peer, source, pgw []string
	start, ingested                                                            []time.Time
	typ                                                                        []int8
	keyHi, keyLo, up, down, seq                                                []uint64
	dur, sequence, charging                                                    []uint32
	cause                                                                      []uint8
}

// columnsPool keeps recordColumns between batches: allocated afresh they
// were 15% of the ingest command's allocations (480 MB per 2M records).
var columnsPool sync.Pool

// takeColumns returns empty recordColumns with room for n records;
// releaseColumns gives them back.
func takeColumns(n int) *recordColumns {
	c, _ := columnsPool.Get().(*recordColumns)
	if c == nil {
		c = new(recordColumns)
	}
	c.iccid, c.nodeID, c.recordID = room(c.iccid, n), room(c.nodeID, n), room(c.recordID, n)
	c.imsi, c.msisdn, c.mccmnc = room(c.imsi, n), room(c.msisdn, n), room(c.mccmnc, n)
	c.rat, c.apn, c.peer, c.source, c.pgw = room(c.rat, n), room(c.apn, n), room(c.peer, n), room(c.source, n), room(c.pgw, n)
	c.start, c.ingested, c.typ = room(c.start, n), room(c.ingested, n), room(c.typ, n)
	c.keyHi, c.keyLo, c.up, c.down, c.seq = room(c.keyHi, n), room(c.keyLo, n), room(c.up, n), room(c.down, n), room(c.seq, n)
	c.dur, c.sequence, c.charging, c.cause = room(c.dur, n), room(c.sequence, n), room(c.charging, n), room(c.cause, n)
	return c
}

// releaseColumns returns c to the pool, without the strings it held.
func releaseColumns(c *recordColumns) {
	for _, s := range [][]string{c.iccid, c.nodeID, c.recordID, c.imsi, c.msisdn, c.mccmnc, c.rat, c.apn, c.peer, c.source, c.pgw} {
		clear(s)
	}
	columnsPool.Put(c)
}

// room returns s emptied, with room for n elements.
func room[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, 0, n)
	}
	return s[:0]
}

func (c *recordColumns) add(r *metering.Record, k metering.Key, source string, seq uint64, now time.Time) {
	c.iccid = append(c.iccid, r.ICCID)
	c.start = append(c.start, r.StartTime)
	c.typ = append(c.typ, int8(r.Type))
	c.keyHi = append(c.keyHi, k.Hi)
	c.keyLo = append(c.keyLo, k.Lo)
	c.nodeID = append(c.nodeID, r.NodeID)
	c.recordID = append(c.recordID, r.RecordID)
	c.imsi = append(c.imsi, r.IMSI)
	c.msisdn = append(c.msisdn, r.MSISDN)
	c.dur = append(c.dur, r.DurationS)
	c.up = append(c.up, r.BytesUp)
	c.down = append(c.down, r.BytesDown)
	c.mccmnc = append(c.mccmnc, r.MCCMNC)
	c.rat = append(c.rat, r.RAT)
	c.apn = append(c.apn, r.APN)
	c.peer = append(c.peer, r.PeerNumber)
	c.sequence = append(c.sequence, r.Sequence)
	c.cause = append(c.cause, r.ClosingCause)
	c.source = append(c.source, source)
	c.seq = append(c.seq, seq)
	c.ingested = append(c.ingested, now)
	c.charging = append(c.charging, r.ChargingID)
	c.pgw = append(c.pgw, r.PGWAddress)
}

func (c *recordColumns) ordered() []any {
	return []any{c.iccid, c.start, c.typ, c.keyHi, c.keyLo, c.nodeID, c.recordID, c.imsi, c.msisdn,
		c.dur, c.up, c.down, c.mccmnc, c.rat, c.apn, c.peer, c.sequence, c.cause, c.source, c.seq, c.ingested, c.charging, c.pgw}
}

// insertRecords inserts the records of b marked in stored, split into up
// to w.streams blocks (see assignStreams) sent at once on separate
// connections: ClickHouse handles one insert on one core (its views
// aside), so parallel blocks use the others. All carry batch_seq = seq; if
// any fails, the caller resolves what landed by seq, as for a single
// block.
//
// The blocks' INSERTs are begun first (from then on the server lists them
// among its running queries), then the lease is checked, then the data is
// sent. A writer whose lease was lost after its Begin (its PostgreSQL
// session ended) would otherwise insert after another writer had taken the
// lease, found no insert running and loaded no key of this batch: records
// stored twice. Once the INSERTs are running, a writer that takes the
// lease waits them out (waitForInserts).
func (w *Writer) insertRecords(ctx context.Context, lease metering.Lease, b *metering.Batch, keys []metering.Key, stored []bool, n int, seq uint64) error {
	start := time.Now()
	streams := max(1, min(w.streams, n/minStreamRows))
	of, streams := assignStreams(b, stored, streams)
	// Count first: n/streams plus a margin still let the fullest block's
	// 23 columns regrow (a fifth of the writer's CPU in a profile).
	sizes := make([]int, streams)
	for i := range b.Records {
		if stored[i] {
			sizes[of[i]]++
		}
	}
	cols := make([]*recordColumns, streams)
	for i := range cols {
		cols[i] = takeColumns(sizes[i])
	}
	// Released last (deferred first): the blocks' sends, which read them,
	// have all returned by then.
	defer func() {
		for _, c := range cols {
			releaseColumns(c)
		}
	}()
	now := w.now().UTC().Truncate(time.Second)
	for i := range b.Records {
		if stored[i] {
			src := ""
			if i < len(b.Sources) {
				src = b.Sources[i]
			}
			cols[of[i]].add(&b.Records[i], keys[i], src, seq, now)
		}
	}
	blocks := make([]*preparedBlock, len(cols))
	defer func() {
		for _, p := range blocks {
			p.close()
		}
	}()
	for i := range cols {
		qctx := ch.Context(ctx, ch.WithQueryID(fmt.Sprintf("%s%s-%d-%d", w.insertPrefix, w.id, seq, i)), insertSettings)
		p, err := prepareBlock(qctx, w.conn, insertRecordsSQL)
		if err != nil {
			return fmt.Errorf("insert usage batch %d (%d records): %w", seq, n, err)
		}
		blocks[i] = p
	}
	if err := lease.Held(ctx); err != nil {
		return fmt.Errorf("insert usage batch %d: %w", seq, err)
	}
	var g errgroup.Group
	for i := range cols {
		g.Go(func() error { return blocks[i].send(cols[i].ordered()) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("insert usage batch %d (%d records): %w", seq, n, err)
	}
	w.m.insert.WithLabelValues("usage_records").Observe(time.Since(start).Seconds())
	return nil
}

// insertSettings feed the hourly and daily views of a usage insert side by
// side rather than one after the other (ClickHouse writes the raw part
// first either way). On two cores this cut the end-to-end ingest of the
// benchmark's 2M records by 8% (BENCHMARKS.md, session 12). A view that
// fails leaves its cells short whichever order they ran in, and resolving
// the batch repairs them (repairRollups).
var insertSettings = ch.WithSettings(ch.Settings{"parallel_view_processing": 1})

// assignStreams says which of at most streams insert streams each stored
// record of b goes to, and how many streams it used. ClickHouse writes a
// part per partition (month) and table for every insert, and merges each
// again later. So a batch that spans several months gives each month
// wholly to one stream, the largest first to the stream with the fewest
// records, and each insert writes one part per table instead of one per
// month: the benchmark's 2M records, over two months, ingested in
// 9.1-9.4 s instead of 10.0-10.4 s (BENCHMARKS.md, session 12). A batch of one month is one insert: split by key, its two
// blocks cost ClickHouse a third more CPU, in two parts per table, for no
// less time on two cores (9.9-10.7 s against 10.2-10.4 s for one stream).
// The split by key this replaces used a key bit that FNV-1a leaves the
// same for every record of the benchmark: all went to one stream, and the
// other sent an empty insert.
func assignStreams(b *metering.Batch, stored []bool, streams int) ([]int, int) {
	of := make([]int, len(b.Records))
	if streams == 1 {
		return of, 1
	}
	month := make([]uint32, len(b.Records))
	count := map[uint32]int{}
	for i := range b.Records {
		if stored[i] {
			month[i] = yyyymm(b.Records[i].StartTime)
			count[month[i]]++
		}
	}
	if len(count) < 2 {
		return of, 1
	}
	streams = min(streams, len(count)) // no stream without a month
	months := slices.SortedFunc(maps.Keys(count), func(a, b uint32) int {
		return cmp.Or(cmp.Compare(count[b], count[a]), cmp.Compare(a, b))
	})
	load := make([]int, streams)
	to := make(map[uint32]int, len(months))
	for _, m := range months {
		s := 0
		for j := range load {
			if load[j] < load[s] {
				s = j
			}
		}
		to[m] = s
		load[s] += count[m]
	}
	for i := range b.Records {
		if stored[i] {
			of[i] = to[month[i]]
		}
	}
	return of, streams
}

// minStreamRows is the smallest block worth its own insert stream.
const minStreamRows = 5000

const insertRejectsSQL = `INSERT INTO rejected_records (reject_hi, reject_lo, source, format, line, offset, reason, detail, raw, rejected_at)`

func (w *Writer) insertRejects(ctx context.Context, rs []metering.Reject) error {
	start := time.Now()
	n := len(rs)
	var (
		hi, lo                         = make([]uint64, n), make([]uint64, n)
		source, format, reason, detail = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		raw                            = make([]string, n)
		line, offset                   = make([]int64, n), make([]int64, n)
		at                             = make([]time.Time, n)
		now                            = w.now().UTC().Truncate(time.Second)
	)
	for i := range rs {
		r := &rs[i]
		k := RejectKey(r)
		hi[i], lo[i] = k.Hi, k.Lo
		source[i], format[i], reason[i], detail[i], raw[i] = r.Source, r.Format, r.Reason, r.Detail, string(r.Raw)
		line[i], offset[i], at[i] = r.Line, r.Offset, now
	}
	if err := sendColumns(ctx, w.conn, insertRejectsSQL, []any{hi, lo, source, format, line, offset, reason, detail, raw, at}); err != nil {
		return fmt.Errorf("insert %d rejected records: %w", n, err)
	}
	w.m.insert.WithLabelValues("rejected_records").Observe(time.Since(start).Seconds())
	return nil
}

// RejectKey identifies a reject by where it was and what it said, so the same
// reject replayed collapses into one row.
func RejectKey(r *metering.Reject) metering.Key {
	return metering.RecordKey(r.Source+"\x00"+strconv.FormatInt(r.Line, 10), string(r.Raw))
}
