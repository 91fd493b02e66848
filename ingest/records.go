package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/provisioning"
)

// ReasonUnknownIMSI is the reject reason of a record whose IMSI is not in
// the SIM inventory, so its card (ICCID) cannot be named.
const ReasonUnknownIMSI = "unknown_imsi"

// recordGroupSize is how many decoded records make one group.
const recordGroupSize = 4096

// IngestRecords stores already decoded records (RADIUS accounting, BER
// CDRs) like Ingest stores a stream's: each item with an empty Reason has
// its ICCID resolved from its IMSI when it has none (Config.Resolver; an
// unknown IMSI is rejected as unknown_imsi), is validated, and is stored
// once; items with a Reason are quarantined. A rejected item without Raw is
// quarantined with its record rendered as JSON so an operator can see what
// it was. It returns once every item is handled, like Ingest, with the
// resolver's error when the inventory could not be asked (nothing of that
// group is stored; the source must not be acknowledged). It resolves and
// validates items in place: when it returns nil, each item's Reason is
// empty if the record is stored (now or before) and otherwise says why it
// was quarantined.
func (p *Pipeline) IngestRecords(ctx context.Context, src Source, items []Item) (Summary, error) {
	return p.collect(ctx, src, func(ctx context.Context, submit func(*group) error) error {
		for len(items) > 0 {
			n := min(len(items), recordGroupSize)
			if err := p.submitItems(ctx, src, items[:n], submit); err != nil {
				return err
			}
			items = items[n:]
		}
		return nil
	})
}

// submitItems resolves and validates items in place and submits them as
// one group.
func (p *Pipeline) submitItems(ctx context.Context, src Source, items []Item, submit func(*group) error) error {
	if err := p.prepare(ctx, items); err != nil {
		return err
	}
	return submit(p.makeGroup(src, items))
}

// prepare resolves the ICCID of items that have only an IMSI, validates
// the records and renders rejected records without Raw as JSON.
func (p *Pipeline) prepare(ctx context.Context, items []Item) error {
	now := p.cfg.Now()
	for i := range items {
		it := &items[i]
		resolved := false
		if it.Reason == "" && it.Record.ICCID == "" && it.Record.IMSI != "" && p.cfg.Resolver != nil {
			iccid, err := p.cfg.Resolver.ICCIDByIMSI(ctx, it.Record.IMSI)
			switch {
			case err == nil:
				it.Record.ICCID, resolved = iccid, true
			case errors.Is(err, provisioning.ErrSIMNotFound):
				it.Reason = ReasonUnknownIMSI
				it.Detail = "imsi " + it.Record.IMSI + " is not in the sim inventory"
			default:
				return fmt.Errorf("resolve iccid: %w", err)
			}
		}
		if it.Reason == "" {
			validate(it, now, p.cfg.MaxAge)
		}
		if it.Reason != "" && len(it.Raw) == 0 {
			// The record as received, so the reject's identity (source,
			// line, raw) is the same whether or not its IMSI was known.
			r := it.Record
			if resolved {
				r.ICCID = ""
			}
			it.Raw, _ = json.Marshal(r)
		}
	}
	return nil
}

// RecordSink hands records pushed by a protocol receiver (the RADIUS
// accounting server's radius.Sink) to a Pipeline, one group per call.
type RecordSink struct {
	Pipeline *Pipeline
	Kind     string // metric label of the source, e.g. "radius"
	Name     string // stored with each record and reject, e.g. "radius"
	Format   string // metric label of the format, e.g. FormatRADIUS
}

// Accept resolves, validates and stores recs (not lingering for other
// sources) and returns nil only once every record is stored, known a
// duplicate or quarantined; otherwise the error of the resolver or of the
// pipeline (ErrStopped, ctx's error). While the store is down the pipeline
// retries the write, so Accept waits for it rather than failing: the
// receiver does not answer and the NAS retransmits meanwhile.
func (s *RecordSink) Accept(ctx context.Context, recs []metering.Record) error {
	items := make([]Item, len(recs))
	for i := range recs {
		items[i] = Item{Record: recs[i], Line: int64(i + 1)}
	}
	src := Source{Kind: s.Kind, Name: s.Name, Format: s.Format}
	sum, err := s.Pipeline.IngestRecords(ctx, src, items)
	if err != nil {
		return err
	}
	if sum.Read != int64(len(recs)) {
		return fmt.Errorf("ingest %s: %d of %d records handled", s.Name, sum.Read, len(recs))
	}
	return nil
}
