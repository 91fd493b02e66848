package postgres

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestBatchICCIDsAndNotification: a batch keeps the ICCIDs it stores, and
// finishing it notifies BatchChannel with its seq when, and only when, the
// mark is written.
func TestBatchICCIDsAndNotification(t *testing.T) {
	url := newDatabase(t)
	pool := newPool(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	listener, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN "+BatchChannel); err != nil {
		t.Fatal(err)
	}

	lease, err := NewLedger(pool).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(context.Background())
	want := []string{"89441000000000000018", "89441000000000000026"}
	seq, err := lease.Begin(ctx, "w", []uint32{202611}, want, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is announced while the batch is being written.
	quiet, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	if n, err := listener.WaitForNotification(quiet); err == nil {
		t.Fatalf("notified %q before the batch finished", n.Payload)
	}
	stop()
	if err := lease.Commit(ctx, seq); err != nil {
		t.Fatal(err)
	}
	n, err := listener.WaitForNotification(ctx)
	if err != nil {
		t.Fatalf("no notification after commit: %v", err)
	}
	if n.Channel != BatchChannel || n.Payload != strconv.FormatUint(seq, 10) {
		t.Errorf("notification %s %q, want %s %d", n.Channel, n.Payload, BatchChannel, seq)
	}
	var got []string
	if err := pool.QueryRow(ctx, "SELECT iccids FROM usage_batches WHERE seq = $1", int64(seq)).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("iccids = %v, want %v", got, want)
	}
}
