package metering_test

import (
	"encoding/binary"
	"hash/fnv"
	"strings"
	"testing"

	"github.com/simcore/simcore/metering"
)

func fnvKey(nodeID, recordID string) metering.Key {
	h := fnv.New128a()
	h.Write([]byte(nodeID))
	h.Write([]byte{0})
	h.Write([]byte(recordID))
	sum := h.Sum(nil)
	return metering.Key{Hi: binary.BigEndian.Uint64(sum[:8]), Lo: binary.BigEndian.Uint64(sum[8:])}
}

func TestRecordKeyMatchesFNV(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, nodeID, recordID string
	}{
		{name: "empty", nodeID: "", recordID: ""},
		{name: "typical", nodeID: "pgw-01", recordID: "000123456789"},
		{name: "no node", nodeID: "", recordID: "r1"},
		{name: "utf8", nodeID: "nœud", recordID: "été-42"},
		{name: "long", nodeID: strings.Repeat("n", 128), recordID: strings.Repeat("r", 128)},
		{name: "high bytes", nodeID: "\xff\xfe", recordID: "\x80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := metering.RecordKey(tt.nodeID, tt.recordID)
			if want := fnvKey(tt.nodeID, tt.recordID); got != want {
				t.Errorf("RecordKey = %v, want %v", got, want)
			}
			r := metering.Record{NodeID: tt.nodeID, RecordID: tt.recordID}
			if r.Key() != got {
				t.Errorf("Record.Key() = %v, want %v", r.Key(), got)
			}
		})
	}
}

func TestRecordKeyStable(t *testing.T) {
	t.Parallel()
	// Keys are stored; this value must never change.
	got := metering.RecordKey("pgw-01", "cdr-1").String()
	want := fnvKey("pgw-01", "cdr-1").String()
	if got != want {
		t.Fatalf("RecordKey(pgw-01, cdr-1) = %s, hash/fnv gives %s", got, want)
	}
	const pinned = "3e3b539a6796a1e5a1f7e5c385a9818e"
	if got != pinned {
		t.Fatalf("RecordKey(pgw-01, cdr-1) = %s, pinned %s", got, pinned)
	}
}

func TestRecordKeySeparatesFields(t *testing.T) {
	t.Parallel()
	// The zero byte keeps ("ab", "c") and ("a", "bc") apart.
	if metering.RecordKey("ab", "c") == metering.RecordKey("a", "bc") {
		t.Fatal("RecordKey(ab, c) == RecordKey(a, bc)")
	}
}

func TestRecordKeyNoAlloc(t *testing.T) {
	r := metering.Record{NodeID: "pgw-01", RecordID: "000123456789"}
	if n := testing.AllocsPerRun(100, func() { _ = r.Key() }); n != 0 {
		t.Fatalf("Key allocates %v times", n)
	}
}

func BenchmarkRecordKey(b *testing.B) {
	b.ReportAllocs()
	var sink metering.Key
	for b.Loop() {
		sink = metering.RecordKey("pgw-01.example.net", "20240305140709-000123456789")
	}
	_ = sink
}
