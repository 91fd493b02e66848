package clickhouse

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
)

func TestBuildPendingSQL(t *testing.T) {
	t.Parallel()
	const head = "SELECT reject_hi, reject_lo, argMax(source, version), argMax(format, version), argMax(line, version), argMax(offset, version)," +
		" argMax(reason, version) AS latest_reason, argMax(detail, version), argMax(raw, version), toString(argMax(state, version)) AS latest_state, max(version)" +
		" FROM rejected_records WHERE (reject_hi > ? OR (reject_hi = ? AND reject_lo > ?)) AND format IN ("
	tests := []struct {
		name     string
		f        metering.QuarantineFilter
		after    metering.Key
		wantSQL  string
		wantArgs []any
	}{
		{
			name:     "one reason, two formats",
			f:        metering.QuarantineFilter{Reasons: []string{"unknown_imsi"}, Formats: []string{"ber", "radius"}},
			wantSQL:  head + "?, ?) GROUP BY reject_hi, reject_lo HAVING latest_state = 'quarantined' AND latest_reason IN (?) ORDER BY reject_hi, reject_lo LIMIT 10",
			wantArgs: []any{uint64(0), uint64(0), uint64(0), "ber", "radius", "unknown_imsi"},
		},
		{
			name:     "source and a key to start after",
			f:        metering.QuarantineFilter{Reasons: []string{"unknown_imsi", "start_time_too_old"}, Formats: []string{"ber"}, Source: "a.ber"},
			after:    metering.Key{Hi: 7, Lo: 9},
			wantSQL:  head + "?) AND source = ? GROUP BY reject_hi, reject_lo HAVING latest_state = 'quarantined' AND latest_reason IN (?, ?) ORDER BY reject_hi, reject_lo LIMIT 10",
			wantArgs: []any{uint64(7), uint64(7), uint64(9), "ber", "a.ber", "unknown_imsi", "start_time_too_old"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sql, args := buildPendingSQL(tc.f, tc.after, 10)
			if diff := cmp.Diff(tc.wantSQL, sql); diff != "" {
				t.Errorf("sql (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantArgs, args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
		})
	}
}

// TestQuarantineStates stores rejects through the writer, then moves them
// between states: the highest version wins, whatever order rows arrive in,
// and paging by key visits each pending record once.
func TestQuarantineStates(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, time.Minute)
	w, err := NewWriter(ctx, WriterConfig{Conn: conn, Ledger: newMemLedger(), MaxAge: 24 * time.Hour, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var rejects []metering.Reject
	for i := range 25 {
		reason := "unknown_imsi"
		if i%5 == 0 {
			reason = "iccid_luhn"
		}
		rejects = append(rejects, metering.Reject{
			Source: "q.ber", Format: "ber", Line: int64(i + 1), Offset: int64(100 * i),
			Reason: reason, Detail: "d", Raw: []byte(fmt.Sprintf(`{"IMSI":"%d"}`, i)),
		})
	}
	rejects = append(rejects, metering.Reject{Source: "x.csv", Format: "csv", Line: 1, Reason: "unknown_imsi", Detail: "d", Raw: []byte("x")})
	if _, err := w.WriteBatch(ctx, &metering.Batch{Rejects: rejects}); err != nil {
		t.Fatal(err)
	}
	q := NewQuarantine(conn, nil)
	f := metering.QuarantineFilter{Reasons: []string{"unknown_imsi"}, Formats: []string{"ber", "radius"}}
	pendingAll := func() []metering.Quarantined {
		t.Helper()
		var (
			all   []metering.Quarantined
			after metering.Key
		)
		for {
			page, err := q.Pending(ctx, f, after, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				return all
			}
			all = append(all, page...)
			after = page[len(page)-1].Key
		}
	}
	got := pendingAll()
	if len(got) != 20 {
		t.Fatalf("pending: %d records, want the 20 unknown_imsi BER rejects", len(got))
	}
	seen := map[metering.Key]bool{}
	for _, r := range got {
		if seen[r.Key] {
			t.Errorf("record %s listed twice", r.Key)
		}
		seen[r.Key] = true
		if r.Key != RejectKey(&r.Reject) || r.State != metering.StateQuarantined || r.Version != 0 || r.Detail != "d" {
			t.Errorf("pending %+v: want its reject key, quarantined, version 0", r)
		}
	}

	// Resolve 8, move 4 to another reason, with version 5.
	var states []metering.Quarantined
	for i, r := range got[:12] {
		r.Version = 5
		if i < 8 {
			r.State = metering.StateResolved
		} else {
			r.State, r.Reason = metering.StateQuarantined, "start_time_too_old"
		}
		states = append(states, r)
	}
	if err := q.SetStates(ctx, states); err != nil {
		t.Fatal(err)
	}
	// A replay of the original rejects (version 0) after the new states
	// changes nothing.
	if _, err := w.WriteBatch(ctx, &metering.Batch{Rejects: rejects}); err != nil {
		t.Fatal(err)
	}
	if n := len(pendingAll()); n != 8 {
		t.Errorf("after resolving 8 and moving 4: %d pending, want 8", n)
	}
	f.Reasons = []string{"start_time_too_old"}
	if n := len(pendingAll()); n != 4 {
		t.Errorf("pending start_time_too_old: %d, want 4", n)
	}
	f.Source = "other.ber"
	if n := len(pendingAll()); n != 0 {
		t.Errorf("pending of another source: %d, want 0", n)
	}
	if _, err := q.Pending(ctx, metering.QuarantineFilter{Formats: []string{"ber"}}, metering.Key{}, 1); !errors.Is(err, metering.ErrInvalidFilter) {
		t.Errorf("filter without reasons: %v, want ErrInvalidFilter", err)
	}
	bad := got[0]
	bad.State = "gone"
	if err := q.SetStates(ctx, []metering.Quarantined{bad}); err == nil {
		t.Error("SetStates accepted an unknown state")
	}
}
