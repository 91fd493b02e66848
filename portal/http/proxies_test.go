package http_test

import (
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/simcore/simcore/portal"
	phttp "github.com/simcore/simcore/portal/http"
)

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		list    string
		want    []string
		wantErr string // the entry the error names
	}{
		{name: "empty trusts none", list: ""},
		{name: "only separators", list: " , ,"},
		{name: "addresses and prefixes", list: "127.0.0.1, 10.0.8.0/24,2001:db8::/64 , ::1",
			want: []string{"127.0.0.1/32", "10.0.8.0/24", "2001:db8::/64", "::1/128"}},
		{name: "host bits are masked", list: "10.0.8.7/24", want: []string{"10.0.8.0/24"}},
		{name: "IPv4-mapped entries become IPv4", list: "::ffff:10.0.0.2, ::ffff:10.0.0.0/104", want: []string{"10.0.0.2/32", "10.0.0.0/8"}},
		{name: "zone dropped", list: "fe80::1%eth0", want: []string{"fe80::1/128"}},
		{name: "host name", list: "127.0.0.1, proxy.example", wantErr: "proxy.example"},
		{name: "address out of range", list: "10.0.0.256", wantErr: "10.0.0.256"},
		{name: "prefix too long", list: "10.0.0.0/33", wantErr: "10.0.0.0/33"},
		{name: "range", list: "10.0.0.1-10.0.0.9", wantErr: "10.0.0.1-10.0.0.9"},
		{name: "wildcard", list: "*", wantErr: "*"},
		{name: "address with port", list: "10.0.0.1:443", wantErr: "10.0.0.1:443"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := phttp.ParseTrustedProxies(tt.list)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), `"`+tt.wantErr+`"`) {
					t.Fatalf("ParseTrustedProxies(%q) = %v, %v; want an error naming %q", tt.list, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTrustedProxies(%q): %v", tt.list, err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if !slices.Equal(s, tt.want) {
				t.Fatalf("ParseTrustedProxies(%q) = %v, want %v", tt.list, s, tt.want)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		trusted string
		peer    string   // RemoteAddr
		xff     []string // X-Forwarded-For lines, in order
		want    string
	}{
		{name: "no proxies configured: X-Forwarded-For ignored",
			peer: "10.0.0.2:40000", xff: []string{"198.51.100.7"}, want: "10.0.0.2"},
		{name: "no proxies, no header", peer: "198.51.100.7:40000", want: "198.51.100.7"},
		{name: "trusted peer, one hop", trusted: "10.0.0.2",
			peer: "10.0.0.2:40000", xff: []string{"198.51.100.7"}, want: "198.51.100.7"},
		{name: "trusted peer, no header", trusted: "10.0.0.2",
			peer: "10.0.0.2:40000", want: "10.0.0.2"},
		{name: "chain of trusted proxies", trusted: "10.0.0.0/8, 192.0.2.10",
			peer: "10.0.0.2:40000", xff: []string{"198.51.100.7, 192.0.2.10, 10.1.1.1"}, want: "198.51.100.7"},
		{name: "chain over several header lines", trusted: "10.0.0.0/8, 192.0.2.10",
			peer: "10.0.0.2:40000", xff: []string{"198.51.100.7", "192.0.2.10", "10.1.1.1"}, want: "198.51.100.7"},
		{name: "spoofed leftmost entry", trusted: "10.0.0.2",
			peer: "10.0.0.2:40000", xff: []string{"203.0.113.66, 198.51.100.7"}, want: "198.51.100.7"},
		{name: "spoofed leftmost entries naming a trusted proxy", trusted: "10.0.0.0/8",
			peer: "10.0.0.2:40000", xff: []string{"203.0.113.66, 10.9.9.9, 198.51.100.7"}, want: "198.51.100.7"},
		{name: "spoofed header line of its own", trusted: "10.0.0.2",
			peer: "10.0.0.2:40000", xff: []string{"203.0.113.66", "198.51.100.7"}, want: "198.51.100.7"},
		{name: "garbage left of the client is never read", trusted: "10.0.0.2",
			peer: "10.0.0.2:40000", xff: []string{"<script>, unknown, 198.51.100.7"}, want: "198.51.100.7"},
		{name: "IPv6 peer in a trusted IPv6 prefix", trusted: "2001:db8:1::/48",
			peer: "[2001:db8:1::5]:40000", xff: []string{"2001:DB8:FFFF::9"}, want: "2001:db8:ffff::9"},
		{name: "IPv6 client behind an IPv4 proxy", trusted: "10.0.0.2",
			peer: "10.0.0.2:40000", xff: []string{"2001:db8:ffff::9"}, want: "2001:db8:ffff::9"},
		{name: "IPv4 client behind IPv6 proxies", trusted: "::1, 2001:db8:1::/48",
			peer: "[::1]:40000", xff: []string{"198.51.100.7, 2001:db8:1::5"}, want: "198.51.100.7"},
		{name: "IPv6 peer outside the trusted prefix", trusted: "2001:db8:1::/48",
			peer: "[2001:db8:2::5]:40000", xff: []string{"198.51.100.7"}, want: "2001:db8:2::5"},
		{name: "IPv4-mapped peer matches an IPv4 entry", trusted: "10.0.0.2",
			peer: "[::ffff:10.0.0.2]:40000", xff: []string{"198.51.100.7"}, want: "198.51.100.7"},
		{name: "entries with ports and brackets", trusted: "10.0.0.2, 2001:db8:1::5",
			peer: "10.0.0.2:40000", xff: []string{"[2001:db8:ffff::9]:4711, [2001:db8:1::5], 10.0.0.2:443"}, want: "2001:db8:ffff::9"},
		{name: "IPv4-mapped client is unmapped", trusted: "10.0.0.2",
			peer: "10.0.0.2:40000", xff: []string{"::ffff:198.51.100.7"}, want: "198.51.100.7"},
		{name: "malformed header", trusted: "10.0.0.2",
			peer: "10.0.0.2:40000", xff: []string{"not an address"}, want: "10.0.0.2"},
		{name: "malformed rightmost entry", trusted: "10.0.0.2",
			peer: "10.0.0.2:40000", xff: []string{"198.51.100.7, unknown"}, want: "10.0.0.2"},
		{name: "malformed entry between proxies", trusted: "10.0.0.0/8",
			peer: "10.0.0.2:40000", xff: []string{"198.51.100.7, 999.1.1.1, 10.1.1.1"}, want: "10.0.0.2"},
		{name: "empty header", trusted: "10.0.0.2",
			peer: "10.0.0.2:40000", xff: []string{""}, want: "10.0.0.2"},
		{name: "empty list elements are skipped", trusted: "10.0.0.2",
			peer: "10.0.0.2:40000", xff: []string{" , 198.51.100.7 ,, "}, want: "198.51.100.7"},
		{name: "only trusted addresses", trusted: "10.0.0.0/8, 192.0.2.10",
			peer: "10.0.0.2:40000", xff: []string{"10.0.0.5, 192.0.2.10"}, want: "10.0.0.2"},
		{name: "untrusted peer: X-Forwarded-For ignored", trusted: "10.0.0.0/8",
			peer: "203.0.113.5:40000", xff: []string{"198.51.100.7"}, want: "203.0.113.5"},
		{name: "untrusted peer claiming to be forwarded by a proxy", trusted: "10.0.0.0/8",
			peer: "203.0.113.5:40000", xff: []string{"198.51.100.7, 10.0.0.2"}, want: "203.0.113.5"},
		{name: "peer without a port", trusted: "10.0.0.2",
			peer: "10.0.0.2", xff: []string{"198.51.100.7"}, want: "10.0.0.2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			trusted, err := phttp.ParseTrustedProxies(tt.trusted)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/v1/auth/login", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := trusted.ClientAddr(r); got != tt.want {
				t.Fatalf("ClientAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestConfigRejectsInvalidTrustedProxy: a zero prefix (built in code, not
// parsed) would trust nobody silently; New refuses it.
func TestConfigRejectsInvalidTrustedProxy(t *testing.T) {
	t.Parallel()
	cfg := phttp.Config{
		Accounts: &portal.Accounts{}, Cards: struct{ portal.CardVerifier }{}, Lines: struct{ phttp.Lines }{},
		Submit: struct{ phttp.Submitter }{}, Usage: struct{ phttp.UsageReader }{}, Balances: struct{ phttp.Balances }{},
		Log:            slog.New(slog.DiscardHandler),
		TrustedProxies: phttp.TrustedProxies{netip.MustParsePrefix("10.0.0.0/8"), {}},
	}
	if _, err := phttp.New(cfg); err == nil || !strings.Contains(err.Error(), "trusted proxy") {
		t.Fatalf("New = %v, want an error about the trusted proxy", err)
	}
}
