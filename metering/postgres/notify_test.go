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

// TestBatchICCIDsCompressedWithLZ4: a batch's ICCID list (about 1 MB for
// 50,000 records) is compressed with lz4 where the server has it, not
// pglz, and reads back whole.
func TestBatchICCIDsCompressedWithLZ4(t *testing.T) {
	url := newDatabase(t)
	pool := newPool(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var lz4 bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_settings
		WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))`).Scan(&lz4)
	if err != nil {
		t.Fatal(err)
	}
	want := "pglz"
	if lz4 {
		want = "lz4"
	}
	lease, err := NewLedger(pool).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(context.Background())
	iccids := make([]string, 20000)
	for i := range iccids {
		iccids[i] = "894410000" + strconv.Itoa(10_000_000_000+i)
	}
	seq, err := lease.Begin(ctx, "w", []uint32{202611}, iccids, len(iccids))
	if err != nil {
		t.Fatal(err)
	}
	var (
		got    []string
		method string
	)
	err = pool.QueryRow(ctx, "SELECT iccids, pg_column_compression(iccids) FROM usage_batches WHERE seq = $1", int64(seq)).Scan(&got, &method)
	if err != nil {
		t.Fatal(err)
	}
	if method != want || !slices.Equal(got, iccids) {
		t.Errorf("iccids stored with %q (%d of %d read back equal: %v), want %s", method, len(got), len(iccids), slices.Equal(got, iccids), want)
	}
}
