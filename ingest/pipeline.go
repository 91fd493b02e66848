package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/simcore/simcore/metering"
)

// BatchWriter stores batches of usage records exactly once
// (metering/clickhouse.Writer). It is called from one goroutine.
type BatchWriter interface {
	WriteBatch(ctx context.Context, b *metering.Batch) (metering.WriteResult, error)
}

var errUnknownFormat = errors.New("unknown format")

// ErrStopped is returned by Ingest once the pipeline has stopped.
var ErrStopped = errors.New("ingest pipeline stopped")

// Summary counts what became of a source's records.
// Read = Stored + Duplicates + Rejected, always.
type Summary struct {
	Read       int64 `json:"read"`
	Stored     int64 `json:"stored"`
	Duplicates int64 `json:"duplicates"`
	Rejected   int64 `json:"rejected"`
}

// Add adds o to s.
func (s *Summary) Add(o Summary) {
	s.Read += o.Read
	s.Stored += o.Stored
	s.Duplicates += o.Duplicates
	s.Rejected += o.Rejected
}

// Formats a Source may name.
const (
	FormatCSV    = "csv"
	FormatNDJSON = "ndjson"
	FormatMapped = "mapped"
	// FormatBER is 3GPP TS 32.298 CDRs in ASN.1 BER (package ber).
	FormatBER = "ber"
	// FormatRADIUS labels records from RADIUS accounting (IngestRecords).
	FormatRADIUS = "radius"
)

// Source is one stream of usage records.
type Source struct {
	Kind    string   // file, spool or http: a metric label, from this fixed set
	Name    string   // stored with each record and reject (a file name, "http")
	Format  string   // csv, ndjson, mapped or ber; for IngestRecords any label (radius)
	Mapping *Mapping // for mapped
	R       io.Reader
	// Progress, if set, is called with the bytes read so far.
	Progress func(bytes int64)
	// Linger lets the source's last records wait up to MaxWait for other
	// sources to share their insert (many small HTTP pushes); otherwise the
	// end of the source flushes at once.
	Linger bool
}

// Config configures a Pipeline.
type Config struct {
	Writer    BatchWriter
	Log       *slog.Logger
	Registry  prometheus.Registerer
	MaxBatch  int           // records per insert; default 50,000 (the commands set 100,000)
	MaxWait   time.Duration // longest a record waits for its batch; default 1 s
	Parsers   int           // parsing goroutines per source; default GOMAXPROCS
	ChunkSize int           // bytes per parsing chunk; default 512 KiB
	MaxAge    time.Duration // oldest start time accepted; default 90 days
	RetryMin  time.Duration // first retry delay of a failed write; default 100 ms
	RetryMax  time.Duration // longest retry delay; default 10 s
	// DrainTimeout bounds the final flush after Run's context ends; default 15 s.
	DrainTimeout time.Duration
	Now          func() time.Time
	// Resolver, if set, fills in the ICCID of BER records and of records
	// given to IngestRecords that carry only an IMSI. Without it such
	// records are rejected as missing_iccid.
	Resolver ICCIDResolver
}

func (c *Config) setDefaults() error {
	if c.Writer == nil {
		return errors.New("ingest: no writer")
	}
	if c.Log == nil {
		return errors.New("ingest: no logger")
	}
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defd := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.MaxBatch, 50_000)
	def(&c.Parsers, runtime.GOMAXPROCS(0))
	def(&c.ChunkSize, 512<<10)
	defd(&c.MaxWait, time.Second)
	defd(&c.MaxAge, 90*24*time.Hour)
	defd(&c.RetryMin, 100*time.Millisecond)
	defd(&c.RetryMax, 10*time.Second)
	defd(&c.DrainTimeout, 15*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// group is the parsed content of one chunk, on its way to storage.
type group struct {
	kind, format string
	records      []metering.Record
	sources      []string
	rejects      []metering.Reject
	// stored is how many records the group had when they were copied into
	// a batch, which then drops the group's own copy.
	stored int
	flush  bool               // the source ended: write without waiting for more
	res    chan<- groupResult // receives the group's outcome
}

// Pipeline parses sources in parallel and stores their records in batches
// through one BatchWriter: parse → validate → batch → (dedupe, insert) in
// the writer. Memory is bounded: parsers block while the writer is busy.
type Pipeline struct {
	cfg     Config
	in      chan *group
	stopped chan struct{}
	m       pipelineMetrics
	// gathering and writing are the unix nanos at which the batch being
	// gathered and the batch being written began waiting; 0 if none.
	gathering, writing atomic.Int64
	pending            atomic.Int64
	// drainBy (unix nanos; 0: none) ends the final flush sooner than
	// DrainTimeout would; see DrainBy.
	drainBy atomic.Int64
}

// DrainBy ends the flush that follows Run's context at deadline, if that
// comes before DrainTimeout does: a process whose sources used part of its
// shutdown time gives the pipeline only the rest. Groups not written by
// then get an error, so their sources are not acknowledged. Call it before
// Run's context ends.
func (p *Pipeline) DrainBy(deadline time.Time) { p.drainBy.Store(deadline.UnixNano()) }

type pipelineMetrics struct {
	records *prometheus.CounterVec
	retries prometheus.Counter
	files   *prometheus.CounterVec
}

// CountFile counts a whole file of source kind (the spool) by outcome:
// ingested, or rejected whole (unknown format, bad header, unreadable),
// which stores no record and so shows in no record counter, or
// move_failed (handled, but it could not be moved out of the spool).
func (p *Pipeline) CountFile(source, outcome string) {
	p.m.files.WithLabelValues(source, outcome).Inc()
}

// New returns a pipeline; call Run to start its writer loop.
func New(cfg Config) (*Pipeline, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	p := &Pipeline{
		cfg:     cfg,
		in:      make(chan *group, 2*cfg.Parsers),
		stopped: make(chan struct{}),
		m: pipelineMetrics{
			records: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "simcore_ingest_records_total",
				Help: "Usage records read, by source kind, format and outcome (stored, duplicate, rejected).",
			}, []string{"source", "format", "outcome"}),
			retries: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "simcore_ingest_write_retries_total",
				Help: "Batch writes retried after an error.",
			}),
			files: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "simcore_ingest_files_total",
				Help: "Spool files handled, by outcome: ingested (moved to done/), rejected (moved whole to rejected/ with a reason), move_failed (handled, but the move to done/ or rejected/ failed; retried alone at each scan).",
			}, []string{"source", "outcome"}),
		},
	}
	// Both series exist from the start, so that the first rejected file
	// is an increase an alert sees, not a new series at 1.
	for _, outcome := range []string{"ingested", "rejected", "move_failed"} {
		p.m.files.WithLabelValues("spool", outcome)
	}
	if cfg.Registry != nil {
		cs := []prometheus.Collector{
			p.m.records, p.m.retries, p.m.files,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "simcore_ingest_pending_records",
				Help: "Records parsed and waiting to be written.",
			}, func() float64 { return float64(p.pending.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "simcore_ingest_oldest_pending_age_seconds",
				Help: "Age of the oldest record not yet written; 0 when none waits.",
			}, func() float64 {
				o := p.writing.Load()
				if g := p.gathering.Load(); o == 0 || (g != 0 && g < o) {
					o = g
				}
				if o == 0 {
					return 0
				}
				return time.Since(time.Unix(0, o)).Seconds()
			}),
		}
		for _, c := range cs {
			if err := cfg.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("register ingest metrics: %w", err)
			}
		}
	}
	return p, nil
}

// job is a batch handed to the writer goroutine, with the groups it holds.
type job struct {
	batch  *metering.Batch
	groups []*group
	since  int64 // unix nanos when its first record arrived
}

// Run writes batches until ctx ends, then flushes what it holds within
// DrainTimeout and returns. Groups that could not be written get an error.
//
// Batches are double-buffered: one goroutine writes batch N while this loop
// gathers batch N+1, so parsing overlaps the ClickHouse insert; when both
// are full, parsers wait (backpressure).
//
// A batch goes to the writer when it is full, when its oldest record has
// waited MaxWait, or when a source ends (a flush) — but only once the
// writer is free: until then the loop keeps gathering (group commit). Many
// small sources that each flush (RADIUS requests, HTTP pushes) so share an
// insert instead of queueing one insert each.
func (p *Pipeline) Run(ctx context.Context) error {
	defer close(p.stopped)
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWriter()
	jobs := make(chan job)
	writerDone := make(chan struct{})
	// Written batches come back for reuse: allocating room for a full
	// batch per flush cost megabytes per small source.
	free := make(chan *metering.Batch, 2)
	go func() {
		defer close(writerDone)
		for j := range jobs {
			p.writing.Store(j.since)
			p.write(wctx, j.batch, j.groups)
			p.writing.Store(0)
			p.pending.Add(-int64(j.batch.Len()))
			j.batch.Reset()
			select {
			case free <- j.batch:
			default:
			}
		}
	}()

	newBatch := func() *metering.Batch {
		select {
		case b := <-free:
			return b
		default:
		}
		// Room for a full batch and the group that tips it over.
		n := p.cfg.MaxBatch + p.cfg.MaxBatch/4
		return &metering.Batch{Records: make([]metering.Record, 0, n), Sources: make([]string, 0, n)}
	}
	cur := job{batch: newBatch()}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	add := func(g *group) {
		if cur.since == 0 && len(g.records)+len(g.rejects) > 0 {
			cur.since = p.cfg.Now().UnixNano()
			p.gathering.Store(cur.since)
			timer.Reset(p.cfg.MaxWait)
		}
		cur.groups = append(cur.groups, g)
		cur.batch.Records = append(cur.batch.Records, g.records...)
		cur.batch.Sources = append(cur.batch.Sources, g.sources...)
		cur.batch.Rejects = append(cur.batch.Rejects, g.rejects...)
		p.pending.Add(int64(len(g.records) + len(g.rejects)))
		// The batch holds them now: a second copy of every record until
		// the batch is written was a third of the ingest's live heap.
		g.stored, g.records, g.sources = len(g.records), nil, nil
	}
	// ready: the current batch goes to the writer as soon as it is free.
	ready := false
	for ctx.Err() == nil {
		in := p.in
		if cur.batch.Len() >= p.cfg.MaxBatch {
			in, ready = nil, true // full: parsers wait for the writer
		}
		var out chan<- job
		if ready && len(cur.groups) > 0 {
			out = jobs
		}
		select {
		case g := <-in:
			add(g)
			ready = ready || g.flush
		case out <- cur:
			timer.Stop()
			p.gathering.Store(0)
			cur, ready = job{batch: newBatch()}, false
		case <-timer.C:
			ready = true
		case <-ctx.Done():
		}
	}
	// Drain: take what parsers already handed over, write it, and give the
	// writer DrainTimeout (or until DrainBy's deadline) before its retries
	// are cut off.
	wait := p.cfg.DrainTimeout
	if by := p.drainBy.Load(); by != 0 {
		wait = min(wait, time.Until(time.Unix(0, by)))
	}
	drain := time.AfterFunc(wait, stopWriter)
	defer drain.Stop()
	for {
		select {
		case g := <-p.in:
			add(g)
			continue
		default:
		}
		break
	}
	if len(cur.groups) > 0 {
		jobs <- cur
	}
	close(jobs)
	<-writerDone
	p.gathering.Store(0)
	return nil
}

// write stores the batch, retrying with backoff until it succeeds or ctx
// ends, and tells each group its outcome.
func (p *Pipeline) write(ctx context.Context, b *metering.Batch, groups []*group) {
	delay := p.cfg.RetryMin
	var (
		res metering.WriteResult
		err error
	)
	for {
		start := time.Now()
		res, err = p.cfg.Writer.WriteBatch(ctx, b)
		if err == nil {
			p.cfg.Log.Debug("batch written", "records", len(b.Records), "rejects", len(b.Rejects), "took", time.Since(start))
			break
		}
		if ctx.Err() != nil {
			p.cfg.Log.Error("batch not written; its sources are not acknowledged", "records", len(b.Records), "err", err)
			for _, g := range groups {
				g.res <- groupResult{err: fmt.Errorf("%w: %w", ErrStopped, err)}
			}
			return
		}
		p.m.retries.Inc()
		p.cfg.Log.Warn("batch write failed, retrying", "records", len(b.Records), "rejects", len(b.Rejects), "retry_in", delay, "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay = min(2*delay, p.cfg.RetryMax)
	}
	i := 0
	for _, g := range groups {
		s := Summary{Read: int64(g.stored + len(g.rejects)), Rejected: int64(len(g.rejects))}
		for range g.stored {
			if res.Stored[i] {
				s.Stored++
			} else {
				s.Duplicates++
			}
			i++
		}
		p.m.records.WithLabelValues(g.kind, g.format, "stored").Add(float64(s.Stored))
		p.m.records.WithLabelValues(g.kind, g.format, "duplicate").Add(float64(s.Duplicates))
		p.m.records.WithLabelValues(g.kind, g.format, "rejected").Add(float64(s.Rejected))
		g.res <- groupResult{sum: s}
	}
}

// Ingest reads src to its end and returns once every record in it is stored
// (or rejected, or known a duplicate). On error the summary counts only what
// was durably handled; the source must not be acknowledged.
func (p *Pipeline) Ingest(ctx context.Context, src Source) (Summary, error) {
	if src.Format == FormatBER {
		return p.collect(ctx, src, func(ctx context.Context, submit func(*group) error) error {
			return p.decodeBER(ctx, src, submit)
		})
	}
	parser, sp, err := p.open(src)
	if err != nil {
		return Summary{}, &FileError{err}
	}
	return p.collect(ctx, src, func(ctx context.Context, submit func(*group) error) error {
		chunks := make(chan Chunk, p.cfg.Parsers)
		g, gctx := errgroup.WithContext(ctx)
		// Read and cut the stream.
		g.Go(func() error {
			defer close(chunks)
			for {
				c, err := sp.Next()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if errors.Is(err, ErrRecordTooLong) {
					// Usually a stray quote that joins the rest of the
					// source into one "record": nothing after it can be
					// cut into records. The source is refused (the spool's
					// rejected/, a 400 to a push) with the line, whatever
					// came before it stored; reading it again would fail
					// the same way.
					return &FileError{fmt.Errorf("read %s: %w", src.Name, err)}
				}
				if err != nil {
					return fmt.Errorf("read %s: %w", src.Name, err)
				}
				if src.Progress != nil {
					src.Progress(c.Offset + int64(len(c.Data)))
				}
				select {
				case chunks <- c:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		})
		// Parse chunks and hand groups to the writer loop.
		for range p.cfg.Parsers {
			g.Go(func() error {
				var items []Item
				for c := range chunks {
					items = parser.Parse(c, items[:0])
					if err := submit(p.makeGroup(src, items)); err != nil {
						return err
					}
				}
				return nil
			})
		}
		return g.Wait()
	})
}

// collect runs produce, which hands src's groups to submit (from any
// number of goroutines, until it returns), and collects their outcomes.
// It returns once every submitted group is answered: the summary counts
// what was durably handled, the error says why not all of src was.
func (p *Pipeline) collect(ctx context.Context, src Source, produce func(ctx context.Context, submit func(*group) error) error) (Summary, error) {
	var sum Summary
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)

	// Every group handed to the writer loop is answered on results: by the
	// loop once its batch is written (or given up), or here if the loop
	// never took it. The number in flight is bounded by the loop's double
	// buffer and its input channel, not here.
	results := make(chan groupResult, 64)
	var sent atomic.Int64
	submit := func(gr *group) error {
		gr.res = results
		sent.Add(1)
		select {
		case p.in <- gr:
			return nil
		case <-p.stopped:
			results <- groupResult{err: ErrStopped}
			return ErrStopped
		case <-gctx.Done():
			results <- groupResult{err: gctx.Err()}
			return gctx.Err()
		}
	}
	parsersDone := make(chan struct{})
	g.Go(func() error {
		defer close(parsersDone)
		err := produce(gctx, submit)
		if err == nil && !src.Linger && gctx.Err() == nil {
			// Flush at the end of the source: an empty group marks it.
			_ = submit(&group{kind: src.Kind, format: src.Format, flush: true})
		}
		return err
	})
	// Collect outcomes, in any order.
	var (
		firstErr  error
		received  int64
		done      = parsersDone
		stopped   = p.stopped
		sawStop   bool
		allParsed bool
	)
	for !allParsed || received != sent.Load() {
		if allParsed && sawStop {
			// The loop has answered all it took (it closes stopped after
			// its last answer); collect those, and any group that slipped
			// into its input after its final drain has no answer.
			for more := true; more; {
				select {
				case r := <-results:
					received++
					firstErr = p.account(&sum, r, firstErr)
				default:
					more = false
				}
			}
			if received != sent.Load() {
				firstErr = cmpErr(firstErr, ErrStopped)
			}
			break
		}
		select {
		case r := <-results:
			received++
			if r.err != nil && firstErr == nil {
				cancel()
			}
			firstErr = p.account(&sum, r, firstErr)
		case <-done:
			allParsed, done = true, nil
		case <-stopped:
			sawStop, stopped = true, nil
			if firstErr == nil || errors.Is(firstErr, context.Canceled) {
				firstErr = ErrStopped // the reason the parsers are cut short
			}
			cancel()
		}
	}
	// A group cut short answers with gctx's error, which says only that
	// something ended the source; the errgroup returns what did (a read
	// error such as http.MaxBytesError, ErrStopped, the caller's context).
	if err := g.Wait(); err != nil && (firstErr == nil || firstErr == gctx.Err()) {
		firstErr = err
	}
	return sum, firstErr
}

// groupResult is what became of one group: counted, or why not.
type groupResult struct {
	sum Summary
	err error
}

// account adds r to sum and returns the first error seen.
func (p *Pipeline) account(sum *Summary, r groupResult, firstErr error) error {
	if r.err != nil {
		return cmpErr(firstErr, r.err)
	}
	sum.Add(r.sum)
	return firstErr
}

func cmpErr(have, next error) error {
	if have != nil {
		return have
	}
	return next
}

func (p *Pipeline) open(src Source) (Parser, *Splitter, error) {
	pc := ParserConfig{MaxAge: p.cfg.MaxAge}
	switch src.Format {
	case FormatCSV, "":
		sp := NewSplitter(src.R, p.cfg.ChunkSize, true)
		h, err := sp.ReadHeaderLine()
		if err != nil {
			return nil, nil, fmt.Errorf("read header of %s: %w", src.Name, err)
		}
		parser, err := NewCSVParser(h, pc)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", src.Name, err)
		}
		return parser, sp, nil
	case FormatNDJSON:
		parser, err := NewNDJSONParser(pc)
		return parser, NewSplitter(src.R, p.cfg.ChunkSize, false), err
	case FormatMapped:
		if src.Mapping == nil {
			return nil, nil, errors.New("mapped format needs a mapping file")
		}
		sp := NewSplitter(src.R, p.cfg.ChunkSize, src.Mapping.QuoteAware())
		sp.SkipComments(src.Mapping.CommentPrefix())
		var h []byte
		if src.Mapping.HasHeader() {
			var err error
			if h, err = sp.ReadHeaderLine(); err != nil {
				return nil, nil, fmt.Errorf("read header of %s: %w", src.Name, err)
			}
		}
		parser, err := NewMappedParser(src.Mapping, h, pc)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", src.Name, err)
		}
		return parser, sp, nil
	}
	return nil, nil, fmt.Errorf("%w %q: want csv, ndjson, mapped or ber", errUnknownFormat, src.Format)
}

func (p *Pipeline) makeGroup(src Source, items []Item) *group {
	gr := &group{kind: src.Kind, format: src.Format}
	if gr.format == "" {
		gr.format = FormatCSV
	}
	n := 0
	for i := range items {
		if items[i].Reason == "" {
			n++
		}
	}
	gr.records = make([]metering.Record, 0, n)
	gr.sources = make([]string, 0, n)
	for i := range items {
		it := &items[i]
		name := src.Name
		if it.Source != "" {
			name = it.Source
		}
		if it.Reason == "" {
			gr.records = append(gr.records, it.Record)
			gr.sources = append(gr.sources, name)
			continue
		}
		gr.rejects = append(gr.rejects, metering.Reject{
			Source: name, Format: gr.format, Line: it.Line, Offset: it.Offset,
			Reason: it.Reason, Detail: it.Detail, Raw: append([]byte(nil), it.Raw...),
		})
	}
	return gr
}
