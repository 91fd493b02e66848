package radius

import (
	"crypto/md5"
	"encoding/binary"
	"testing"
	"time"

	"layeh.com/radius/rfc2866"
)

// FuzzPacket feeds arbitrary datagrams to the packet handling path, both as
// received and re-signed with the right secret so that they get past the
// authenticator check into attribute decoding and session accounting.
func FuzzPacket(f *testing.F) {
	for _, u := range []usage{
		{status: rfc2866.AcctStatusType_Value_Start},
		{status: rfc2866.AcctStatusType_Value_InterimUpdate, sessionS: 60, in: 10, inGiga: 1},
		{status: rfc2866.AcctStatusType_Value_Stop, sessionS: 61, out: 5, omitVendorExtras: true},
	} {
		b, err := acctPacket(f, testSecret, u).Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{4, 1, 0, 20})
	sink := &recordingSink{}
	s, err := New(Config{Secret: testSecret, MaxSessions: 64}, sink)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, raw []byte) {
		s.handlePacket(t.Context(), raw, now)
		if len(raw) < 20 || len(raw) > 4096 {
			return
		}
		signed := append([]byte(nil), raw...)
		signed[0] = 4 // Accounting-Request
		binary.BigEndian.PutUint16(signed[2:4], uint16(len(signed)))
		clear(signed[4:20])
		sum := md5.Sum(append(append([]byte(nil), signed...), testSecret...))
		copy(signed[4:20], sum[:])
		s.handlePacket(t.Context(), signed, now)
	})
}
