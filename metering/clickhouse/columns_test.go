package clickhouse

import (
	"testing"
	"time"

	"github.com/simcore/simcore/metering"
)

// TestColumnsPoolReusesWithoutStrings: columns taken again are empty, keep
// the room of the previous batch, and no longer hold its strings (the
// pool would otherwise keep a whole batch's records alive between
// batches).
func TestColumnsPoolReusesWithoutStrings(t *testing.T) {
	c := takeColumns(8)
	r := metering.Record{ICCID: "8944100000000000017", RecordID: "r1", NodeID: "n", StartTime: time.Now()}
	c.add(&r, metering.Key{Hi: 1, Lo: 2}, "src", 7, time.Now())
	first := &c.iccid[:1][0]
	releaseColumns(c)
	if *first != "" {
		t.Errorf("released columns still hold ICCID %q", *first)
	}
	// The pool may hand back these columns or new ones; either way they
	// are empty with room for the batch.
	d := takeColumns(4)
	for name, n := range map[string]int{"iccid": len(d.iccid), "keyHi": len(d.keyHi), "start": len(d.start), "pgw": len(d.pgw)} {
		if n != 0 {
			t.Errorf("taken columns hold %d values in %s", n, name)
		}
	}
	if cap(d.recordID) < 4 || cap(d.cause) < 4 {
		t.Errorf("taken columns have room for %d record ids and %d causes, want 4", cap(d.recordID), cap(d.cause))
	}
	releaseColumns(d)
}
