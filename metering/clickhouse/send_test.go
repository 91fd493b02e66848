package clickhouse

import (
	"context"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
)

// TestSendColumnsThenCancel ends each send's context as soon as the send
// returns, as insertRecords' errgroup does. The driver watches that context
// from a goroutine that may still close the connection after it went back to
// the pool; sendColumns must not let it, so the next query on the pool works.
func TestSendColumnsThenCancel(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, time.Minute)
	if err := conn.Exec(ctx, "CREATE TABLE send_cancel (x UInt64) ENGINE = Memory"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	const sends = 200
	for i := range sends {
		sctx, cancel := context.WithCancel(ctx)
		err := sendColumns(sctx, conn, "INSERT INTO send_cancel (x)", []any{[]uint64{uint64(i)}})
		cancel()
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM send_cancel").Scan(&n); err != nil {
			t.Fatalf("query after send %d: %v", i, err)
		}
		if n != uint64(i+1) {
			t.Fatalf("after send %d: %d rows, want %d", i, n, i+1)
		}
	}
}
