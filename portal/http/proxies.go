package http

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the reverse proxies (addresses and CIDR prefixes)
// whose X-Forwarded-For the portal believes when one of them is the TCP
// peer. The zero value trusts none: the client is always the peer.
//
// List only the proxies themselves: a client inside a trusted prefix is
// skipped like a proxy, and then the entry to its left, which it wrote
// itself, is taken as its address.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies parses a comma-separated list of IP addresses and
// CIDR prefixes, such as "127.0.0.1, 10.0.8.0/24, 2001:db8::/64". Names
// are not resolved. Empty entries are skipped, so "" trusts none. The error
// names the first entry that is neither an address nor a prefix.
func ParseTrustedProxies(list string) (TrustedProxies, error) {
	var t TrustedProxies
	for e := range strings.SplitSeq(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		p, ok := parseProxy(e)
		if !ok {
			return nil, fmt.Errorf("trusted proxy %q: want an IP address or CIDR prefix", e)
		}
		t = append(t, p)
	}
	return t, nil
}

// parseProxy reads one entry. An IPv4-mapped IPv6 entry (::ffff:10.0.0.1)
// becomes the IPv4 one: addresses are unmapped before they are matched.
func parseProxy(e string) (netip.Prefix, bool) {
	if !strings.Contains(e, "/") {
		a, err := netip.ParseAddr(e)
		if err != nil {
			return netip.Prefix{}, false
		}
		a = a.Unmap().WithZone("")
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(e)
	if err != nil {
		return netip.Prefix{}, false
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

// valid reports whether every prefix is a valid one (a zero Prefix is not).
func (t TrustedProxies) valid() bool {
	for _, p := range t {
		if !p.IsValid() {
			return false
		}
	}
	return true
}

// trusts reports whether a is one of the proxies.
func (t TrustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr is the address of the client that made r, which rate limits
// count against. It is the TCP peer's, unless the peer is a trusted proxy:
// then it is the rightmost address in X-Forwarded-For that is not a trusted
// proxy. Entries left of it were written by the client and are never
// read. It falls back to the peer when the header is missing, when an
// entry it has to read is not an address, or when every entry is a trusted
// proxy.
func (t TrustedProxies) ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !t.trusts(peer) {
		return peer.String()
	}
	if a, ok := t.forwardedFor(r.Header.Values("X-Forwarded-For")); ok {
		return a.String()
	}
	return peer.String()
}

// forwardedFor walks X-Forwarded-For from the right (the last header line
// first, as each proxy appends) to the first address that is not a
// trusted proxy. Empty list elements are skipped, as RFC 9110 asks.
func (t TrustedProxies) forwardedFor(lines []string) (netip.Addr, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			k := strings.LastIndexByte(rest, ',')
			if e := strings.TrimSpace(rest[k+1:]); e != "" {
				a, ok := parseForwarded(e)
				if !ok {
					return netip.Addr{}, false
				}
				if !t.trusts(a) {
					return a.Unmap().WithZone(""), true
				}
			}
			if k < 0 {
				break
			}
			rest = rest[:k]
		}
	}
	return netip.Addr{}, false
}

// parseForwarded reads one X-Forwarded-For entry: an address, or one with
// a port ("192.0.2.1:4711", "[2001:db8::1]:4711") or in brackets, as some
// proxies write them.
func parseForwarded(e string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(e); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(e); err == nil {
		return ap.Addr(), true
	}
	if len(e) > 2 && e[0] == '[' && e[len(e)-1] == ']' {
		if a, err := netip.ParseAddr(e[1 : len(e)-1]); err == nil && a.Is6() {
			return a, true
		}
	}
	return netip.Addr{}, false
}
