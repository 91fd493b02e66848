package radius

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
)

// Clients are the NASes a Server talks to, each an address or prefix with
// its own shared secret, as in FreeRADIUS's clients.conf. A packet's
// source address picks its client by longest-prefix match; a packet from
// no client is dropped. A Clients is immutable and safe for concurrent
// use.
//
// The text form, read by ParseClients, has one client a line:
//
//	# comment
//	ADDRESS[/BITS] SECRET
//
// ADDRESS is IPv4 or IPv6; without /BITS it is the host alone (/32 or
// /128). The address and the secret are separated by spaces or tabs, and
// the secret is the rest of the line: it may contain spaces and '#', and
// quotes are part of it. Blank lines, lines whose first non-blank
// character is '#', and CRLF line ends are allowed. Rejected as
// ambiguous: a secret that ends in a space or tab, contains a tab or
// another control character, starts with a quote (write it bare), or
// holds a blank followed by '#' (comments take a line of their own); a
// prefix with host bits set (10.1.2.3/8); an IPv4-mapped IPv6 entry
// (write IPv4 clients as IPv4: an IPv4-mapped source matches them); the
// same prefix twice; a file without clients.
type Clients struct {
	list []Client
	// v4 and v6 are the prefix lengths in use, longest first, each with
	// the clients of that length by masked address: a lookup costs one
	// map probe per length in use and allocates nothing.
	v4, v6 []prefixTable
}

// Client is one entry of Clients.
type Client struct {
	Prefix netip.Prefix // masked; IPv4 entries are IPv4
	Secret []byte
	Line   int // line in the text it was parsed from
}

type prefixTable struct {
	bits   int
	byAddr map[netip.Addr]int // index into Clients.list
}

// ClientsError is a mistake in the text of Clients. It wraps
// ErrInvalidConfig. Its message never quotes a secret.
type ClientsError struct {
	Line int // 1-based; 0 for the text as a whole
	Msg  string
}

// Error returns "line N: message", or the message alone for line 0.
func (e *ClientsError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// Unwrap returns ErrInvalidConfig.
func (e *ClientsError) Unwrap() error { return ErrInvalidConfig }

// maxClientsLine bounds a line of the clients text.
const maxClientsLine = 4096

// maxSecret bounds a secret, well inside a line with the longest address
// (so a secret is accepted or refused whichever way its address is
// written) and far beyond what a NAS takes (commonly 64 or 128 bytes).
const maxSecret = 1024

// ParseClients reads clients in the text form described at Clients. It
// returns a *ClientsError (wrapping ErrInvalidConfig) naming the first bad
// line, or the error of reading r.
func ParseClients(r io.Reader) (*Clients, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxClientsLine)
	var list []Client
	seen := map[netip.Prefix]int{} // prefix → line
	n := 0
	for sc.Scan() {
		n++
		c, ok, err := parseClientLine(sc.Bytes(), n)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if first, dup := seen[c.Prefix]; dup {
			return nil, &ClientsError{n, fmt.Sprintf("%s is already on line %d", c.Prefix, first)}
		}
		seen[c.Prefix] = n
		list = append(list, c)
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, &ClientsError{n + 1, fmt.Sprintf("longer than %d bytes", maxClientsLine)}
		}
		return nil, fmt.Errorf("read radius clients: %w", err)
	}
	if len(list) == 0 {
		return nil, &ClientsError{0, "no clients"}
	}
	return newClients(list), nil
}

// parseClientLine parses line n; ok is false for a blank or comment line.
func parseClientLine(line []byte, n int) (c Client, ok bool, err error) {
	bad := func(format string, a ...any) (Client, bool, error) {
		return Client{}, false, &ClientsError{n, fmt.Sprintf(format, a...)}
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	line = bytes.TrimLeft(line, " \t")
	if len(line) == 0 || line[0] == '#' {
		return Client{}, false, nil
	}
	addr, secret := line, []byte(nil)
	if i := bytes.IndexAny(line, " \t"); i >= 0 {
		addr, secret = line[:i], bytes.TrimLeft(line[i:], " \t")
	}
	// Messages quote the address only once it parsed: a line with the two
	// fields swapped must not print its secret.
	p, err := parseClientPrefix(string(addr))
	if err != nil {
		return bad("%v", err)
	}
	switch {
	case len(secret) == 0:
		return bad("%s has no secret", p)
	case secret[len(secret)-1] == ' ' || secret[len(secret)-1] == '\t':
		return bad("the secret of %s ends in a space or tab: remove it (a secret cannot end in one)", p)
	case bytes.IndexByte(secret, '\t') >= 0:
		return bad("the secret of %s contains a tab", p)
	case bytes.ContainsFunc(secret, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return bad("the secret of %s contains a control character", p)
	case len(secret) > maxSecret:
		return bad("the secret of %s is longer than %d bytes", p, maxSecret)
	case secret[0] == '"' || secret[0] == '\'':
		return bad("the secret of %s starts with a quote: quotes would be part of it, write it bare", p)
	case bytes.Contains(secret, []byte(" #")):
		return bad("the secret of %s contains \" #\": comments take a line of their own", p)
	}
	return Client{Prefix: p, Secret: bytes.Clone(secret), Line: n}, true, nil
}

// parseClientPrefix parses ADDRESS or ADDRESS/BITS. Its errors do not
// quote s.
func parseClientPrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return p, fmt.Errorf("%s: IPv6 zones are not supported", a.WithZone(""))
		}
		p = netip.PrefixFrom(a, a.BitLen())
	} else if p, err = netip.ParsePrefix(s); err != nil {
		return p, fmt.Errorf("not an IP address or prefix (want ADDRESS[/BITS] SECRET)")
	}
	if p.Addr().Is4In6() {
		return p, fmt.Errorf("%s is IPv4-mapped IPv6: write IPv4 clients as IPv4", p)
	}
	if m := p.Masked(); m != p {
		return p, fmt.Errorf("%s has host bits set (%s?)", p, m)
	}
	return p, nil
}

// newClients indexes list, whose prefixes are masked and distinct.
func newClients(list []Client) *Clients {
	c := &Clients{list: list}
	for i, cl := range list {
		tabs := &c.v6
		if cl.Prefix.Addr().Is4() {
			tabs = &c.v4
		}
		j := slices.IndexFunc(*tabs, func(t prefixTable) bool { return t.bits == cl.Prefix.Bits() })
		if j < 0 {
			*tabs = append(*tabs, prefixTable{bits: cl.Prefix.Bits(), byAddr: map[netip.Addr]int{}})
			j = len(*tabs) - 1
		}
		(*tabs)[j].byAddr[cl.Prefix.Addr()] = i
	}
	for _, tabs := range [][]prefixTable{c.v4, c.v6} {
		slices.SortFunc(tabs, func(a, b prefixTable) int { return cmp.Compare(b.bits, a.bits) })
	}
	return c
}

// Len returns the number of clients.
func (c *Clients) Len() int { return len(c.list) }

// Lookup returns the client whose prefix is the longest that contains
// addr, and false when none does. An IPv4-mapped IPv6 address is looked
// up as IPv4, and an IPv6 zone is ignored. It does not allocate: the
// Client shares its Secret with c, so the caller must not modify it.
func (c *Clients) Lookup(addr netip.Addr) (Client, bool) {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return Client{}, false
	}
	tabs := c.v6
	if addr.Is4() {
		tabs = c.v4
	}
	for _, t := range tabs {
		p, err := addr.Prefix(t.bits) // masks, drops the zone
		if err != nil {
			return Client{}, false
		}
		if i, ok := t.byAddr[p.Addr()]; ok {
			return c.list[i], true
		}
	}
	return Client{}, false
}
