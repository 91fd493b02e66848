package metering

import "math/bits"

// Key is the 128-bit identity of a usage record: the FNV-1a hash of
// NodeID + "\x00" + RecordID. It is stable across releases and machines,
// so it may be stored and compared with keys computed later.
type Key struct{ Hi, Lo uint64 }

// FNV-1a 128-bit parameters (the prime is 2^88 + 0x13b).
const (
	fnvOffsetHi   = 0x6c62272e07bb0142
	fnvOffsetLo   = 0x62b821756295c58d
	fnvPrimeLo    = 0x13b
	fnvPrimeShift = 24 // 2^88 = 2^64 << 24
)

// RecordKey returns the identity of the record written by nodeID under
// recordID. It equals hash/fnv.New128a over nodeID, a zero byte and
// recordID, read as a big-endian 128-bit number, and does not allocate.
func RecordKey(nodeID, recordID string) Key {
	hi, lo := uint64(fnvOffsetHi), uint64(fnvOffsetLo)
	for i := 0; i < len(nodeID); i++ {
		hi, lo = fnvStep(hi, lo, nodeID[i])
	}
	hi, lo = fnvStep(hi, lo, 0)
	for i := 0; i < len(recordID); i++ {
		hi, lo = fnvStep(hi, lo, recordID[i])
	}
	return Key{Hi: hi, Lo: lo}
}

// fnvStep folds one byte into the hash: xor, then multiply by the prime mod 2^128.
func fnvStep(hi, lo uint64, b byte) (uint64, uint64) {
	lo ^= uint64(b)
	mulHi, mulLo := bits.Mul64(lo, fnvPrimeLo)
	mulHi += hi*fnvPrimeLo + lo<<fnvPrimeShift
	return mulHi, mulLo
}

// Key returns the record's identity, RecordKey(r.NodeID, r.RecordID).
func (r *Record) Key() Key { return RecordKey(r.NodeID, r.RecordID) }

// String returns the key as 32 lower-case hex digits, Hi first.
func (k Key) String() string {
	const hex = "0123456789abcdef"
	var b [32]byte
	for i := 0; i < 16; i++ {
		b[15-i] = hex[k.Hi>>(4*i)&0xf]
		b[31-i] = hex[k.Lo>>(4*i)&0xf]
	}
	return string(b[:])
}
