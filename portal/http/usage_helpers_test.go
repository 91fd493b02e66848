package http_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
	chstore "github.com/simcore/simcore/metering/clickhouse"
)

// The ClickHouse database is the test process's own, shared by its tests:
// every test uses ICCIDs of its own, and creating a database with its
// rollups per test would cost more than the tests.
var (
	chOnce sync.Once
	chCfg  chstore.Config
	chConn driver.Conn
	chErr  error
)

func usageReader(t testing.TB) *chstore.Reader {
	t.Helper()
	addr := testenv.ClickHouseAddr(t)
	chOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		chCfg = chstore.Config{Addr: addr, Database: testenv.UniqueName("t_portal_")}
		if _, chErr = chstore.Migrate(ctx, chCfg); chErr != nil {
			return
		}
		chConn, chErr = chstore.Open(ctx, chCfg)
	})
	if chErr != nil {
		t.Fatalf("clickhouse: %v", chErr)
	}
	return chstore.NewReader(chConn)
}

func dropClickHouse() {
	if chConn == nil {
		return
	}
	chConn.Close()
	_ = chstore.DropDatabase(context.Background(), chCfg)
}

// writeUsage inserts recs into usage_records; the materialized views
// fill the hourly and daily rollups the reader uses, as after ingest. (The
// ingest writer's exactly-once machinery is tested in metering/clickhouse;
// one shared database with a ledger per test would confuse it.)
func (e *env) writeUsage(recs []metering.Record) {
	e.t.Helper()
	b, err := chConn.PrepareBatch(e.ctx, `INSERT INTO usage_records
		(iccid, start_time, type, key_hi, key_lo, node_id, record_id, duration_s, bytes_up, bytes_down, apn, peer_number, sequence, source, ingested_at)`)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range recs {
		k := r.Key() // the record's identity, as the ingest writer stores it
		if err := b.Append(r.ICCID, r.StartTime, r.Type.String(), k.Hi, k.Lo, r.NodeID, r.RecordID, r.DurationS, r.BytesUp, r.BytesDown,
			r.APN, r.PeerNumber, r.Sequence, "test", time.Now().UTC()); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		e.t.Fatalf("insert usage: %v", err)
	}
}
