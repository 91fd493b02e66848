package postgres

import (
	"errors"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
)

// TestLedgerPrune covers what pruning deletes and what it must keep: batches
// begun after the cutoff, and batches a reader has not read yet. Batches are
// aged by moving begun_at back, as if they had been begun days ago.
func TestLedgerPrune(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, time.Minute)
	pool := newPool(t, newDatabase(t))
	lease := acquire(t, ctx, NewLedger(pool))

	var seqs []uint64
	for i := range 10 {
		seq, err := lease.Begin(ctx, "w", []uint32{202611}, []string{"89440000000000000001"}, 1)
		if err != nil {
			t.Fatalf("Begin #%d: %v", i, err)
		}
		if err := lease.Commit(ctx, seq); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	// The first seven were begun ten days ago, the rest now.
	if _, err := pool.Exec(ctx, "UPDATE usage_batches SET begun_at = now() - interval '10 days' WHERE seq <= $1", int64(seqs[6])); err != nil {
		t.Fatal(err)
	}
	cutoff := time.Now().Add(-7 * 24 * time.Hour)
	remaining := func() []uint64 {
		t.Helper()
		var out []uint64
		rows, err := pool.Query(ctx, "SELECT seq FROM usage_batches ORDER BY seq")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s int64
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, uint64(s))
		}
		return out
	}

	// A reader that has read the first three holds back the rest.
	if _, err := pool.Exec(ctx, "INSERT INTO usage_ledger_readers (reader, seq) VALUES ('rating', $1), ('audit', $2)", int64(seqs[2]), int64(seqs[5])); err != nil {
		t.Fatal(err)
	}
	p, err := lease.Prune(ctx, cutoff, 1000)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if want := (metering.Pruned{Deleted: 3, Through: seqs[2], HeldBy: "rating", HeldAt: seqs[2]}); p != want {
		t.Fatalf("Prune held by a reader = %+v; want %+v", p, want)
	}
	if got := remaining(); len(got) != 7 || got[0] != seqs[3] {
		t.Fatalf("after the first prune the ledger holds %v; want seqs %d..%d", got, seqs[3], seqs[9])
	}

	// A writer that last saw a batch now pruned must be told; one that saw
	// the pruned mark or later is served as before.
	if _, err := lease.Since(ctx, seqs[1]); !errors.Is(err, metering.ErrLedgerPruned) {
		t.Fatalf("Since(%d) after pruning through %d: err = %v; want ErrLedgerPruned", seqs[1], seqs[2], err)
	}
	if got, err := lease.Since(ctx, seqs[2]); err != nil || len(got) != 7 {
		t.Fatalf("Since(%d) = %d batches, %v; want 7", seqs[2], len(got), err)
	}

	// The reader moves on; the chunk limit spreads the rest over calls.
	if _, err := pool.Exec(ctx, "UPDATE usage_ledger_readers SET seq = $1 WHERE reader = 'rating'", int64(seqs[9])); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "DELETE FROM usage_ledger_readers WHERE reader = 'audit'"); err != nil {
		t.Fatal(err)
	}
	limit := int(seqs[4] - seqs[2])
	p, err = lease.Prune(ctx, cutoff, limit)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if want := (metering.Pruned{Deleted: 2, Through: seqs[4], More: true}); p != want {
		t.Fatalf("Prune with limit %d = %+v; want %+v", limit, p, want)
	}
	p, err = lease.Prune(ctx, cutoff, limit)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	// Only the batches begun before the cutoff go, whatever the limit.
	if want := (metering.Pruned{Deleted: 2, Through: seqs[6]}); p != want {
		t.Fatalf("second Prune = %+v; want %+v", p, want)
	}
	if got := remaining(); len(got) != 3 || got[0] != seqs[7] {
		t.Fatalf("after pruning the old batches the ledger holds %v; want seqs %d..%d", got, seqs[7], seqs[9])
	}
	if p, err := lease.Prune(ctx, cutoff, limit); err != nil || p != (metering.Pruned{Through: seqs[6]}) {
		t.Fatalf("Prune with nothing old left = %+v, %v; want nothing deleted", p, err)
	}

	// Pruned to empty, the ledger still knows how far batches went: a new
	// writer starts from there, and the next batch follows it.
	if _, err := pool.Exec(ctx, "UPDATE usage_batches SET begun_at = now() - interval '10 days'"); err != nil {
		t.Fatal(err)
	}
	if p, err := lease.Prune(ctx, cutoff, 1000); err != nil || p.Deleted != 3 {
		t.Fatalf("Prune of everything = %+v, %v; want 3 deleted", p, err)
	}
	if seq, err := lease.MaxSeq(ctx); err != nil || seq != seqs[9] {
		t.Fatalf("MaxSeq of a pruned-empty ledger = %d, %v; want %d", seq, err, seqs[9])
	}
	if got, err := lease.Since(ctx, seqs[9]); err != nil || len(got) != 0 {
		t.Fatalf("Since(%d) on a pruned-empty ledger = %v, %v; want none", seqs[9], got, err)
	}
	if seq, err := lease.Begin(ctx, "w", nil, nil, 0); err != nil || seq <= seqs[9] {
		t.Fatalf("Begin after pruning = %d, %v; want a seq after %d", seq, err, seqs[9])
	}
}
