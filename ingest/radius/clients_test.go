package radius

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"layeh.com/radius"
)

var comparePrefix = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

func TestParseClients(t *testing.T) {
	t.Parallel()
	cl := func(prefix, secret string, line int) Client {
		return Client{Prefix: netip.MustParsePrefix(prefix), Secret: []byte(secret), Line: line}
	}
	tests := []struct {
		name string
		text string
		want []Client
	}{
		{"comments and blank lines", "# NASes of the north\n\n   # indented\n\t\n10.0.0.1 s1\n",
			[]Client{cl("10.0.0.1/32", "s1", 5)}},
		{"IPv4 prefix", "10.0.0.0/8 net-secret", []Client{cl("10.0.0.0/8", "net-secret", 1)}},
		{"IPv6 host and prefix", "2001:db8::1 host\n2001:db8::/32 net\n",
			[]Client{cl("2001:db8::1/128", "host", 1), cl("2001:db8::/32", "net", 2)}},
		{"IPv6 written long", "2001:0db8:0000::0001 s", []Client{cl("2001:db8::1/128", "s", 1)}},
		{"secret with spaces, '#' and quotes inside", `10.0.0.1   pass word#1 it's "ok"`,
			[]Client{cl("10.0.0.1/32", `pass word#1 it's "ok"`, 1)}},
		{"tabs between address and secret", "10.0.0.1\t \tsecret", []Client{cl("10.0.0.1/32", "secret", 1)}},
		{"indented entry", "  10.0.0.1 s", []Client{cl("10.0.0.1/32", "s", 1)}},
		{"CRLF line ends", "10.0.0.1 a\r\n10.0.0.2 b\r\n",
			[]Client{cl("10.0.0.1/32", "a", 1), cl("10.0.0.2/32", "b", 2)}},
		{"overlapping prefixes", "10.0.0.0/8 a\n10.1.0.0/16 b\n10.1.2.3 c",
			[]Client{cl("10.0.0.0/8", "a", 1), cl("10.1.0.0/16", "b", 2), cl("10.1.2.3/32", "c", 3)}},
		{"every address", "0.0.0.0/0 v4\n::/0 v6", []Client{cl("0.0.0.0/0", "v4", 1), cl("::/0", "v6", 2)}},
		{"non-ASCII secret", "10.0.0.1 sécret", []Client{cl("10.0.0.1/32", "sécret", 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseClients(strings.NewReader(tt.text))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.list, comparePrefix); diff != "" {
				t.Errorf("clients (-want +got):\n%s", diff)
			}
			if c.Len() != len(tt.want) {
				t.Errorf("Len = %d, want %d", c.Len(), len(tt.want))
			}
		})
	}
}

func TestParseClientsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		text     string
		wantLine int
		wantMsg  string
	}{
		{"empty file", "", 0, "no clients"},
		{"comments only", "# nothing yet\n\n", 0, "no clients"},
		{"no secret", "# c\n10.0.0.1\n", 2, "10.0.0.1/32 has no secret"},
		{"blanks but no secret", "10.0.0.1 \t \n", 1, "has no secret"},
		{"not an address", "\nnas-1 secret\n", 2, "not an IP address or prefix"},
		{"prefix too long", "10.0.0.0/33 s", 1, "not an IP address or prefix"},
		{"host bits set", "10.1.2.3/8 s", 1, "10.1.2.3/8 has host bits set (10.0.0.0/8?)"},
		{"IPv6 host bits set", "2001:db8::1/32 s", 1, "(2001:db8::/32?)"},
		{"IPv4-mapped IPv6", "::ffff:10.0.0.1 s", 1, "write IPv4 clients as IPv4"},
		{"IPv4-mapped IPv6 prefix", "::ffff:10.0.0.0/104 s", 1, "write IPv4 clients as IPv4"},
		{"IPv6 zone", "fe80::1%eth0 s", 1, "zones are not supported"},
		{"duplicate", "10.0.0.1 a\n# b\n10.0.0.1/32 b\n", 3, "10.0.0.1/32 is already on line 1"},
		{"duplicate IPv6 spelled differently", "2001:db8::1 a\n2001:0db8:0::1 b", 2, "already on line 1"},
		{"secret ends in a space", "10.0.0.1 secret \n", 1, "ends in a space or tab"},
		{"secret ends in a tab", "10.0.0.1 secret\t", 1, "ends in a space or tab"},
		{"tab inside the secret", "10.0.0.1 sec\tret", 1, "contains a tab"},
		{"control character", "10.0.0.1 sec\x00ret", 1, "control character"},
		{"carriage return inside", "10.0.0.1 sec\rret\n", 1, "control character"},
		{"double quotes", `10.0.0.1 "secret"`, 1, "starts with a quote"},
		{"single quotes", `10.0.0.1 'secret'`, 1, "starts with a quote"},
		{"trailing comment", "10.0.0.1 secret # pgw-1, Leeds", 1, "comments take a line of their own"},
		{"line too long", "10.0.0.1 s\n10.0.0.2 " + strings.Repeat("x", maxClientsLine), 2, "longer than"},
		// The fuzzer found a secret that fitted a line after "::fff:100:1"
		// but not after its canonical "::fff:100:1/128".
		{"secret too long", "::fff:100:1 " + strings.Repeat("x", maxSecret+1), 1, "longer than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseClients(strings.NewReader(tt.text))
			var ce *ClientsError
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v (%T), want a *ClientsError wrapping ErrInvalidConfig", err, err)
			}
			if ce.Line != tt.wantLine || !strings.Contains(ce.Msg, tt.wantMsg) {
				t.Errorf("error %q: want line %d and %q", err, tt.wantLine, tt.wantMsg)
			}
		})
	}
}

// TestParseClientsSecretNotInErrors: a line with its two fields swapped
// must not print the secret (errors go to the terminal and the journal).
func TestParseClientsSecretNotInErrors(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"Zq8-hidden 10.0.0.1", "Zq8-hidden", "10.0.0.1/8x Zq8-hidden", "10.0.0.1 \"Zq8-hidden\""} {
		_, err := ParseClients(strings.NewReader(text))
		if err == nil || strings.Contains(err.Error(), "Zq8") {
			t.Errorf("%q: err = %v, want an error without the secret", text, err)
		}
	}
}

const lookupClients = `
10.0.0.0/8      net8
10.1.0.0/16     net16
10.1.2.3        host
2001:db8::/32   v6net
2001:db8::1     v6host
`

func TestClientsLookup(t *testing.T) {
	t.Parallel()
	c, err := ParseClients(strings.NewReader(lookupClients))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		addr netip.Addr
		want string // secret; "" for no client
	}{
		{"host wins over its /16 and /8", netip.MustParseAddr("10.1.2.3"), "host"},
		{"/16 wins over /8", netip.MustParseAddr("10.1.2.4"), "net16"},
		{"/8", netip.MustParseAddr("10.2.0.1"), "net8"},
		{"network address", netip.MustParseAddr("10.0.0.0"), "net8"},
		{"IPv4 outside every prefix", netip.MustParseAddr("11.0.0.1"), ""},
		{"IPv4-mapped IPv6 matches IPv4", netip.MustParseAddr("::ffff:10.1.2.3"), "host"},
		{"IPv4-mapped IPv6 in hex", netip.MustParseAddr("::ffff:a02:1"), "net8"},
		{"IPv4-compatible IPv6 is IPv6", netip.MustParseAddr("::a01:203"), ""},
		{"IPv6 host wins", netip.MustParseAddr("2001:db8::1"), "v6host"},
		{"IPv6 prefix", netip.MustParseAddr("2001:db8:ffff::2"), "v6net"},
		{"IPv6 zone ignored", netip.MustParseAddr("2001:db8::1%eth0"), "v6host"},
		{"IPv6 outside", netip.MustParseAddr("2001:db9::1"), ""},
		{"IPv6 loopback", netip.IPv6Loopback(), ""},
		{"zero Addr", netip.Addr{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := c.Lookup(tt.addr)
			if ok != (tt.want != "") || string(got.Secret) != tt.want {
				t.Errorf("Lookup(%v) = %q, %v; want %q", tt.addr, got.Secret, ok, tt.want)
			}
			if ok && !got.Prefix.Contains(tt.addr.Unmap().WithZone("")) {
				t.Errorf("Lookup(%v) = %v, which does not contain it", tt.addr, got.Prefix)
			}
		})
	}
}

// TestClientsLookupAllocs: the lookup runs on every packet, in the read
// loop; it must not allocate, nor must taking the packet's source address.
// Not parallel: AllocsPerRun refuses to run beside other tests.
func TestClientsLookupAllocs(t *testing.T) {
	c, err := ParseClients(strings.NewReader(lookupClients))
	if err != nil {
		t.Fatal(err)
	}
	from := []net.Addr{
		&net.UDPAddr{IP: net.ParseIP("10.1.2.3"), Port: 1813}, // 16-byte form, as ReadBatch gives
		&net.UDPAddr{IP: net.IPv4(10, 9, 9, 9).To4(), Port: 1813},
		&net.UDPAddr{IP: net.ParseIP("2001:db8::7"), Port: 1813, Zone: "eth0"},
		&net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1813}, // no client
	}
	if n := testing.AllocsPerRun(1000, func() {
		for _, a := range from {
			c.Lookup(sourceIP(a))
		}
	}); n != 0 {
		t.Errorf("%v allocations per lookup round, want 0", n)
	}
}

// clientsTestFile is the clients file of the server tests: loopback
// addresses (Linux treats all of 127.0.0.0/8 as local) as NASes.
const clientsTestFile = `# NASes of the tests
127.0.0.0/29   secret-of-the-29
127.0.0.2      secret-of-nas-2
::1            secret-of-v6-loopback
`

func startClientsServer(t *testing.T, addr, text string) (testServer, *recordingSink) {
	t.Helper()
	clients, err := ParseClients(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{}
	return startServerConfig(t, Config{Addr: addr, Clients: clients}, sink), sink
}

// TestClientsServer sends from several loopback addresses to a server with
// a clients file: each NAS is answered with its own secret only, and a
// source that is no client's is dropped unread.
func TestClientsServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		listen    string // server address
		clients   string // clients file
		from      string // source IP
		secret    string // the packet is signed with
		answered  bool
		wantCount string // outcome counted for an unanswered packet (type unknown)
	}{
		{"host entry, its secret", "127.0.0.1:0", clientsTestFile, "127.0.0.2", "secret-of-nas-2", true, ""},
		{"host entry, its prefix's secret", "127.0.0.1:0", clientsTestFile, "127.0.0.2", "secret-of-the-29", false, outcomeBadAuthenticator},
		{"prefix entry", "127.0.0.1:0", clientsTestFile, "127.0.0.3", "secret-of-the-29", true, ""},
		{"prefix entry, another NAS's secret", "127.0.0.1:0", clientsTestFile, "127.0.0.3", "secret-of-nas-2", false, outcomeBadAuthenticator},
		{"unknown source, a valid secret", "127.0.0.1:0", clientsTestFile, "127.0.0.9", "secret-of-the-29", false, outcomeUnknownClient},
		{"IPv6, its secret", "[::1]:0", clientsTestFile, "::1", "secret-of-v6-loopback", true, ""},
		{"IPv6, an IPv4 NAS's secret", "[::1]:0", clientsTestFile, "::1", "secret-of-nas-2", false, outcomeBadAuthenticator},
		{"IPv6, unknown source", "[::1]:0", "127.0.0.1 v4-only\n2001:db8::/32 elsewhere\n", "::1", "v4-only", false, outcomeUnknownClient},
		// A wildcard IPv6 socket (":1813") receives IPv4 NASes as
		// ::ffff:a.b.c.d; they must match their IPv4 entries. Only
		// loopback is a client, so the moment on every interface is safe.
		{"dual-stack socket, IPv4 NAS", "[::]:0", "127.0.0.1 v4-nas\n::1 v6-nas\n", "127.0.0.1", "v4-nas", true, ""},
		{"dual-stack socket, IPv4 NAS, wrong secret", "[::]:0", "127.0.0.1 v4-nas\n::1 v6-nas\n", "127.0.0.1", "v6-nas", false, outcomeBadAuthenticator},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, sink := startClientsServer(t, tt.listen, tt.clients)
			_, port, err := net.SplitHostPort(s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			host := "127.0.0.1"
			if strings.Contains(tt.from, ":") {
				host = "::1"
			}
			wait := none
			if tt.answered {
				wait = ok
			}
			p := acctPacket(t, []byte(tt.secret), usage{status: interim, sessionS: 60, in: 1000, out: 2000})
			resp := exchangeFrom(t, tt.from, net.JoinHostPort(host, port), p, wait)
			if tt.answered {
				if resp == nil || resp.Code != radius.CodeAccountingResponse {
					t.Fatal("no Accounting-Response")
				}
				if got := len(sink.records()); got != 1 {
					t.Errorf("%d records, want 1", got)
				}
				return
			}
			if resp != nil {
				t.Fatalf("answered: %v", resp.Code)
			}
			for _, outcome := range []string{outcomeBadAuthenticator, outcomeUnknownClient, outcomeMalformed} {
				want := 0.0
				if outcome == tt.wantCount {
					want = 1
				}
				if got := s.settled(typeUnknown, outcome, want); got != want {
					t.Errorf("unknown/%s = %v, want %v", outcome, got, want)
				}
			}
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if sink.calls != 0 {
				t.Errorf("sink called %d times", sink.calls)
			}
		})
	}
}

// TestSetClients: a running server takes a new clients file at once: a
// NAS added is answered, one removed is dropped, a changed secret holds.
// A server with a shared secret, or an empty file, is refused.
func TestSetClients(t *testing.T) {
	t.Parallel()
	s, sink := startClientsServer(t, "127.0.0.1:0", "127.0.0.2 old-secret\n127.0.0.3 kept-secret\n")
	send := func(from, secret string, wait time.Duration) bool {
		t.Helper()
		p := acctPacket(t, []byte(secret), usage{status: interim, sessionS: 60, in: 1000, out: 2000})
		return exchangeFrom(t, from, s.Addr(), p, wait) != nil
	}
	if send("127.0.0.4", "new-secret", none) {
		t.Fatal("127.0.0.4 answered before it was a client")
	}
	// No answer is no sign that the server has read the request: wait until
	// it has been dropped, or the new clients could be in place when it is
	// read (and 127.0.0.4 would then be served).
	if got := s.settled(typeUnknown, outcomeUnknownClient, 1); got != 1 {
		t.Fatalf("unknown_client %v before SetClients, want 1 (127.0.0.4)", got)
	}
	next, err := ParseClients(strings.NewReader("127.0.0.2 changed-secret\n127.0.0.4 new-secret\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetClients(next); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		from, secret string
		answered     bool
	}{
		{"127.0.0.4", "new-secret", true},
		{"127.0.0.2", "changed-secret", true},
		{"127.0.0.2", "old-secret", false},
		{"127.0.0.3", "kept-secret", false},
	} {
		wait := none
		if tt.answered {
			wait = ok
		}
		if got := send(tt.from, tt.secret, wait); got != tt.answered {
			t.Errorf("from %s with %s: answered %v, want %v", tt.from, tt.secret, got, tt.answered)
		}
	}
	if len(sink.records()) == 0 {
		t.Error("nothing reached the sink")
	}
	if got := s.settled(typeUnknown, outcomeUnknownClient, 2); got != 2 {
		t.Errorf("unknown_client %v, want 2 (127.0.0.4 before, 127.0.0.3 after)", got)
	}
	for name, c := range map[string]*Clients{"nil": nil, "empty": {}} {
		if err := s.SetClients(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("SetClients(%s) = %v, want ErrInvalidConfig", name, err)
		}
	}
	shared := startServerConfig(t, Config{Addr: "127.0.0.1:0", Secret: testSecret}, &recordingSink{})
	if err := shared.SetClients(next); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("SetClients on a shared-secret server = %v, want ErrInvalidConfig", err)
	}
}

func TestConfigValidateClients(t *testing.T) {
	t.Parallel()
	clients, err := ParseClients(strings.NewReader("127.0.0.1 s"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"secret", Config{Secret: testSecret}, true},
		{"clients", Config{Clients: clients}, true},
		{"both", Config{Secret: testSecret, Clients: clients}, false},
		{"neither", Config{}, false},
		{"empty clients", Config{Clients: &Clients{}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Errorf("Validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
