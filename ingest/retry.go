package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/simcore/simcore/metering"
)

// ReasonRawNotRecord is the reject reason a retry gives a quarantined row
// whose raw text does not hold a decoded record.
const ReasonRawNotRecord = "raw_not_record"

// RetryFormats are the formats whose quarantined records can be
// re-processed: IngestRecords keeps their decoded record as JSON in Raw
// (BER CDRs and RADIUS accounting). Rejects of text formats (csv, ndjson,
// mapped) keep the malformed line itself; they are fixed at the source and
// delivered again.
var RetryFormats = []string{FormatBER, FormatRADIUS}

// DefaultRetryReasons are the reasons a retry takes by default: those that
// a change elsewhere (an inventory import) can cure.
var DefaultRetryReasons = []string{ReasonUnknownIMSI}

// ErrNotRetryable is returned by RetryQuarantined for a reason whose
// quarantined rows do not hold a record (ber_malformed).
var ErrNotRetryable = errors.New("reason not retryable")

// QuarantineStore lists quarantined records by their latest state and
// stores new states (metering/clickhouse.Quarantine).
type QuarantineStore interface {
	// Pending returns up to limit records matching f whose latest state
	// is quarantined, with keys after `after`, in key order.
	Pending(ctx context.Context, f metering.QuarantineFilter, after metering.Key, limit int) ([]metering.Quarantined, error)
	// SetStates stores a new version of each record.
	SetStates(ctx context.Context, rs []metering.Quarantined) error
}

// RetryOptions select what RetryQuarantined re-processes.
type RetryOptions struct {
	Reasons  []string // default DefaultRetryReasons
	Source   string   // only records from this source; "" any
	PageSize int      // records read from the quarantine at a time; default 10,000
}

// RetryQuarantined re-processes quarantined records, for example after an
// inventory import has made their IMSIs known, and returns what became of
// them: Read = Stored + Duplicates + Rejected.
//
// Each record goes through IngestRecords like a newly received one: its
// ICCID is resolved, it is validated with the pipeline's window, and the
// writer stores it once by identity. Only after the pipeline has stored a
// page does the retry mark its records resolved (a new version of the
// quarantine row), so a retry run twice, or one that dies midway, finds
// the records stored and counts them as duplicates. A record that still
// fails stays quarantined with its new reason and detail, and is taken by
// a later retry only if that reason is asked for.
//
// It returns an error wrapping ErrNotRetryable for a reason whose rows
// hold no record, or the error of the store or the pipeline; the summary
// then counts what was handled before it.
func (p *Pipeline) RetryQuarantined(ctx context.Context, store QuarantineStore, opt RetryOptions) (Summary, error) {
	var sum Summary
	reasons := opt.Reasons
	if len(reasons) == 0 {
		reasons = DefaultRetryReasons
	}
	if slices.Contains(reasons, ReasonBERMalformed) {
		return sum, fmt.Errorf("%w: %s rows keep the decoder's error, not the record's bytes", ErrNotRetryable, ReasonBERMalformed)
	}
	pageSize := opt.PageSize
	if pageSize <= 0 {
		pageSize = 10_000
	}
	f := metering.QuarantineFilter{Reasons: reasons, Formats: RetryFormats, Source: opt.Source}
	// One version for the run, above every version it replaces.
	version := uint64(max(p.cfg.Now().UnixNano(), 1))
	var after metering.Key
	for {
		rows, err := store.Pending(ctx, f, after, pageSize)
		if err != nil {
			return sum, err
		}
		if len(rows) == 0 {
			return sum, nil
		}
		after = rows[len(rows)-1].Key
		// Formats label the records' metrics and their rejects, so each
		// format of the page goes in a call of its own.
		for _, format := range RetryFormats {
			s, err := p.retryPage(ctx, store, format, rows, version)
			sum.Add(s)
			if err != nil {
				return sum, err
			}
		}
	}
}

// retryPage re-processes the rows of one format, then stores their states.
func (p *Pipeline) retryPage(ctx context.Context, store QuarantineStore, format string, rows []metering.Quarantined, version uint64) (Summary, error) {
	var (
		items []Item
		of    []*metering.Quarantined
	)
	for i := range rows {
		q := &rows[i]
		if q.Format != format {
			continue
		}
		it := Item{Line: q.Line, Offset: q.Offset, Raw: q.Raw, Source: q.Source}
		if err := json.Unmarshal(q.Raw, &it.Record); err != nil {
			it.Reason, it.Detail = ReasonRawNotRecord, "raw is not a record: "+err.Error()
		}
		items = append(items, it)
		of = append(of, q)
	}
	if len(items) == 0 {
		return Summary{}, nil
	}
	sum, err := p.IngestRecords(ctx, Source{Kind: "retry", Name: "retry", Format: format}, items)
	if err != nil {
		return sum, fmt.Errorf("retry %d quarantined %s records: %w", len(items), format, err)
	}
	states := make([]metering.Quarantined, len(items))
	for i, q := range of {
		s := *q
		s.Version = max(version, q.Version+1)
		if r := items[i]; r.Reason == "" {
			s.State = metering.StateResolved
		} else {
			s.State, s.Reason, s.Detail = metering.StateQuarantined, r.Reason, r.Detail
		}
		states[i] = s
	}
	if err := store.SetStates(ctx, states); err != nil {
		// The records are stored; a later retry finds them stored and
		// resolves them then.
		return sum, fmt.Errorf("mark %d retried records: %w", len(states), err)
	}
	return sum, nil
}
