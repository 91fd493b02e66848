package clickhouse

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"

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

// TestReserveStrings: reserving leaves a String column empty, makes room
// for the strings so that appending them allocates only the driver's
// nulls slice, and changes nothing of what is encoded. Without the
// reserve the same append allocates at every doubling.
func TestReserveStrings(t *testing.T) {
	strs := make([]string, 10_000)
	for i := range strs {
		strs[i] = strings.Repeat("x", i%40) + strconv.Itoa(i)
	}
	newCol := func() column.Interface {
		t.Helper()
		c, err := column.Type("String").Column("s", nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	encoded := func(reserve bool) (allocs uint64, wire []byte) {
		c := newCol()
		if reserve {
			reserveStrings(c, strs)
			if n := c.Rows(); n != 0 {
				t.Fatalf("column holds %d rows after the reserve", n)
			}
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := c.Append(strs); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		var buf proto.Buffer
		c.Encode(&buf)
		return after.Mallocs - before.Mallocs, buf.Buf
	}
	reservedAllocs, reservedWire := encoded(true)
	plainAllocs, plainWire := encoded(false)
	if !bytes.Equal(reservedWire, plainWire) {
		t.Fatal("the reserved column encodes differently")
	}
	t.Logf("allocations: %d reserved, %d plain", reservedAllocs, plainAllocs)
	if reservedAllocs > 4 {
		t.Errorf("append after the reserve allocated %d times, want the nulls slice and hardly more (a stray one from the runtime)", reservedAllocs)
	}
	if plainAllocs <= 20 {
		t.Errorf("append without the reserve allocated %d times: the test no longer shows regrowth", plainAllocs)
	}
}
