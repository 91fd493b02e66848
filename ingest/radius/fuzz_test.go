package radius

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
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
		s.handlePacket(t.Context(), raw, testSecret, now)
		if len(raw) < 20 || len(raw) > 4096 {
			return
		}
		signed := append([]byte(nil), raw...)
		signed[0] = 4 // Accounting-Request
		binary.BigEndian.PutUint16(signed[2:4], uint16(len(signed)))
		clear(signed[4:20])
		sum := md5.Sum(append(append([]byte(nil), signed...), testSecret...))
		copy(signed[4:20], sum[:])
		s.handlePacket(t.Context(), signed, testSecret, now)
	})
}

// FuzzParseClients feeds arbitrary text to the clients parser. Whatever it
// accepts must look up consistently (each client's own address finds that
// client or a longer prefix inside it) and read back the same from its
// canonical rendering; whatever it rejects must say so with a
// ClientsError.
func FuzzParseClients(f *testing.F) {
	f.Add(clientsTestFile)
	f.Add(lookupClients)
	f.Add("10.0.0.0/8 a b\r\n::/0 c\n# x\n")
	f.Add("10.1.2.3/8 s\n")
	f.Add("::ffff:10.0.0.1 s\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseClients(strings.NewReader(text))
		if err != nil {
			var ce *ClientsError
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v (%T) is not a ClientsError", err, err)
			}
			return
		}
		var canon strings.Builder
		for _, cl := range c.list {
			got, ok := c.Lookup(cl.Prefix.Addr())
			if !ok || got.Prefix.Bits() < cl.Prefix.Bits() || !cl.Prefix.Contains(got.Prefix.Addr()) {
				t.Fatalf("Lookup(%v) = %v, %v; want %v or a longer prefix inside it", cl.Prefix.Addr(), got.Prefix, ok, cl.Prefix)
			}
			if len(cl.Secret) == 0 {
				t.Fatalf("%v: empty secret", cl.Prefix)
			}
			fmt.Fprintf(&canon, "%s %s\n", cl.Prefix, cl.Secret)
		}
		again, err := ParseClients(strings.NewReader(canon.String()))
		if err != nil {
			t.Fatalf("canonical rendering rejected: %v\n%s", err, canon.String())
		}
		for i := range c.list {
			a, b := c.list[i], again.list[i]
			if a.Prefix != b.Prefix || !bytes.Equal(a.Secret, b.Secret) {
				t.Fatalf("client %d: %v %q, read back %v %q", i, a.Prefix, a.Secret, b.Prefix, b.Secret)
			}
		}
	})
}
