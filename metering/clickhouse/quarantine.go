package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/simcore/simcore/metering"
)

// Quarantine reads quarantined records (rejected_records) by their latest
// state and stores new states for them. Every version of a record shares
// its key; the one with the highest version is its state (migration
// 00002). Reads take argMax(..., version) per key instead of FINAL: the
// table's engine has no version column, and a replayed reject (version 0)
// may be inserted after a retry's row.
type Quarantine struct {
	conn driver.Conn
	now  func() time.Time
}

// NewQuarantine returns a Quarantine on conn; now nil is time.Now.
func NewQuarantine(conn driver.Conn, now func() time.Time) *Quarantine {
	if now == nil {
		now = time.Now
	}
	return &Quarantine{conn: conn, now: now}
}

// buildPendingSQL selects the latest version of each record matching f
// whose key is after `after`, in key order, keeping those still quarantined
// for one of f's reasons. Format and source never change between versions,
// so they filter rows before grouping.
func buildPendingSQL(f metering.QuarantineFilter, after metering.Key, limit int) (string, []any) {
	var b strings.Builder
	b.WriteString("SELECT reject_hi, reject_lo, argMax(source, version), argMax(format, version), argMax(line, version), argMax(offset, version)," +
		" argMax(reason, version) AS latest_reason, argMax(detail, version), argMax(raw, version), toString(argMax(state, version)) AS latest_state, max(version)" +
		" FROM rejected_records WHERE (reject_hi > ? OR (reject_hi = ? AND reject_lo > ?)) AND format IN (")
	args := []any{after.Hi, after.Hi, after.Lo}
	for i, v := range f.Formats {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("?")
		args = append(args, v)
	}
	b.WriteString(")")
	if f.Source != "" {
		b.WriteString(" AND source = ?")
		args = append(args, f.Source)
	}
	b.WriteString(" GROUP BY reject_hi, reject_lo HAVING latest_state = 'quarantined' AND latest_reason IN (")
	for i, v := range f.Reasons {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("?")
		args = append(args, v)
	}
	fmt.Fprintf(&b, ") ORDER BY reject_hi, reject_lo LIMIT %d", limit)
	return b.String(), args
}

// Pending returns up to limit records matching f whose latest state is
// quarantined, with keys after `after`, in key order: pass the last key of
// a page to get the next. Errors wrap metering.ErrInvalidFilter for a bad
// filter.
func (q *Quarantine) Pending(ctx context.Context, f metering.QuarantineFilter, after metering.Key, limit int) ([]metering.Quarantined, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, fmt.Errorf("%w: limit %d", metering.ErrInvalidFilter, limit)
	}
	sql, args := buildPendingSQL(f, after, limit)
	rows, err := q.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("quarantine query: %w", err)
	}
	defer rows.Close()
	var out []metering.Quarantined
	for rows.Next() {
		var (
			r   metering.Quarantined
			raw string
		)
		if err := rows.Scan(&r.Key.Hi, &r.Key.Lo, &r.Source, &r.Format, &r.Line, &r.Offset, &r.Reason, &r.Detail, &raw, &r.State, &r.Version); err != nil {
			return nil, fmt.Errorf("quarantine query: %w", err)
		}
		r.Raw = []byte(raw)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("quarantine query: %w", err)
	}
	return out, nil
}

const insertStatesSQL = `INSERT INTO rejected_records (reject_hi, reject_lo, source, format, line, offset, reason, detail, raw, rejected_at, state, version)`

// SetStates stores a new version of each record: its State, Version,
// Reason and Detail as given, the rest as read. A Version must be higher
// than the record's current one to take effect.
func (q *Quarantine) SetStates(ctx context.Context, rs []metering.Quarantined) error {
	if len(rs) == 0 {
		return nil
	}
	n := len(rs)
	var (
		hi, lo                         = make([]uint64, n), make([]uint64, n)
		source, format, reason, detail = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		raw, state                     = make([]string, n), make([]string, n)
		line, offset                   = make([]int64, n), make([]int64, n)
		at                             = make([]time.Time, n)
		version                        = make([]uint64, n)
		now                            = q.now().UTC().Truncate(time.Second)
	)
	for i := range rs {
		r := &rs[i]
		switch r.State {
		case metering.StateQuarantined, metering.StateResolved:
		default:
			return fmt.Errorf("quarantine state %q of %s: want quarantined or resolved", r.State, r.Key)
		}
		hi[i], lo[i] = r.Key.Hi, r.Key.Lo
		source[i], format[i], reason[i], detail[i], raw[i], state[i] = r.Source, r.Format, r.Reason, r.Detail, string(r.Raw), r.State
		line[i], offset[i], at[i], version[i] = r.Line, r.Offset, now, r.Version
	}
	if err := sendColumns(ctx, q.conn, insertStatesSQL, []any{hi, lo, source, format, line, offset, reason, detail, raw, at, state, version}); err != nil {
		return fmt.Errorf("store %d quarantine states: %w", n, err)
	}
	return nil
}
