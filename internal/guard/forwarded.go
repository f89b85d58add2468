package guard

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// Behind a reverse proxy every request comes from the proxy's address. A
// proxy listed in Policy.TrustedProxies names the client in a header, one
// hop per proxy on the way, each appending the address it took the request
// from:
//
//	X-Forwarded-For: CLIENT-WRITTEN, ..., CLIENT, PROXY1
//	Forwarded: for=CLIENT-WRITTEN, ..., for=CLIENT;proto=https, for=PROXY1
//
// The client may write the header itself, so only the hops on the right,
// appended by proxies the policy trusts, say something: the client is the
// rightmost hop that is not itself a trusted proxy. A hop that does not
// parse there (garbage, "unknown", an obfuscated name) leaves the client
// unknown, and the request counts as the proxy's own. Only one header is
// read (Policy.ForwardedHeader): a proxy passes the other on as the
// client wrote it.

// Header names for Policy.ForwardedHeader.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded" // RFC 7239
)

// Client is where an HTTP request came from.
type Client struct {
	// Addr is the client: the TCP peer's address, or, when the peer is a
	// trusted proxy, the address the proxies forwarded.
	Addr netip.Addr
	// Peer is the TCP peer's address.
	Peer netip.Addr
	// Proxied is set when the peer is a trusted proxy (whether or not its
	// header named someone else).
	Proxied bool
	// Unknown is set when a trusted proxy's header did not name a usable
	// address where the client should be: Addr is then the peer's.
	Unknown bool
}

// String is the client's address, with the proxy's when there is one:
// "203.0.113.7 (proxy 127.0.0.1)".
func (c Client) String() string {
	if !c.Proxied || c.Addr == c.Peer {
		return c.Addr.String()
	}
	return c.Addr.String() + " (proxy " + c.Peer.String() + ")"
}

// ClientOf returns where r came from under the policy in force.
func (g *Guard) ClientOf(r *http.Request) Client { return g.client(g.Policy(), r) }

// client resolves r's client under p; a peer that is a proxy sending no
// usable header is logged once an hour.
func (g *Guard) client(p *Policy, r *http.Request) Client {
	c := ResolveClient(AddrOfString(r.RemoteAddr), r.Header, p.forwardedHeader(), p.TrustedProxies)
	switch {
	case c.Unknown:
		g.logged.warn("forwarded-unknown "+c.Peer.String(),
			"trusted proxy sent no usable client address; the request counts as the proxy's own",
			"proxy", c.Peer, "header", p.forwardedHeader(), "value", clip(strings.Join(r.Header.Values(p.forwardedHeader()), ", ")))
	case !c.Proxied && c.Peer.IsLoopback() && r.Header.Get(p.forwardedHeader()) != "":
		// A proxy on this host that trusted_proxies does not list makes
		// every client look local, and local sources may do more.
		g.logged.warn("forwarded-ignored "+c.Peer.String(),
			"a request from loopback carries a forwarding header, ignored because the source is not in trusted_proxies: "+
				"behind a proxy on this host every client then counts as loopback; list the proxy in trusted_proxies",
			"remote", c.Peer, "header", p.forwardedHeader(), "setting", "trusted_proxies")
	}
	return c
}

func (p *Policy) forwardedHeader() string {
	if p.ForwardedHeader == "" {
		return HeaderXForwardedFor
	}
	return p.ForwardedHeader
}

// clip shortens a header value for a log line.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// ResolveClient returns the client of a request from peer with header h:
// when peer is in trusted, the rightmost hop of the named header (one of
// HeaderXForwardedFor, HeaderForwarded; several header lines read as one
// list, in order) that is not itself in trusted, or the leftmost hop when
// every hop is trusted. A peer outside trusted, a header absent or empty,
// or a hop that does not parse before the client is found, gives the peer.
func ResolveClient(peer netip.Addr, h http.Header, header string, trusted []netip.Prefix) Client {
	c := Client{Addr: peer, Peer: peer}
	if !peer.IsValid() || !inPrefixes(trusted, peer) {
		return c
	}
	c.Proxied = true
	hops := forwardedHops(h.Values(header), header == HeaderForwarded)
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			c.Unknown = true
			return c
		}
		if i == 0 || !inPrefixes(trusted, a) {
			c.Addr = a
			return c
		}
	}
	return c
}

// forwardedHops splits header lines into hops at every comma, skipping
// empty list elements. For Forwarded, each hop is its element's for= value
// (quotes removed); an element without one, or with two, is a hop that
// does not parse (""). Commas and semicolons split even inside quotes (no
// address holds one): a quote the client left open must not reach into
// the hops the proxies appended.
func forwardedHops(lines []string, rfc7239 bool) []string {
	var hops []string
	for _, line := range lines {
		for elem := range strings.SplitSeq(line, ",") {
			elem = strings.TrimSpace(elem)
			if elem == "" {
				continue
			}
			if rfc7239 {
				elem = forValue(elem)
			}
			hops = append(hops, elem)
		}
	}
	return hops
}

// forValue returns the for= parameter of a Forwarded element, unquoted;
// "" when it has none, several, or a broken quoted string.
func forValue(elem string) string {
	found, value := false, ""
	for pair := range strings.SplitSeq(elem, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "for") {
			continue
		}
		if found {
			return ""
		}
		found = true
		if value, ok = unquote(strings.TrimSpace(v)); !ok {
			return ""
		}
	}
	return value
}

// unquote removes RFC 7230 quoting from a token or quoted-string.
func unquote(v string) (string, bool) {
	if !strings.HasPrefix(v, `"`) {
		return v, !strings.Contains(v, `"`)
	}
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		if c == '\\' {
			if i++; i == len(v)-1 {
				return "", false
			}
			c = v[i]
		} else if c == '"' {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// parseHop parses one hop: an address, with or without a port, IPv6 with
// or without brackets ("192.0.2.1", "192.0.2.1:80", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:443"). The result is unmapped and
// without a zone.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		host, ok := s, false
		switch {
		case strings.HasPrefix(s, "["):
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return netip.Addr{}, false
			}
			host, ok = s[1:end], end == len(s)-1 || validPort(s[end+1:])
			ok = ok && strings.Contains(host, ":")
		case strings.Count(s, ":") == 1:
			i := strings.IndexByte(s, ':')
			host, ok = s[:i], validPort(s[i:])
		}
		if !ok {
			return netip.Addr{}, false
		}
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.Addr{}, false
		}
		if !strings.HasPrefix(s, "[") && !a.Is4() {
			return netip.Addr{}, false // an IPv6 address with a port needs brackets
		}
	}
	return a.Unmap().WithZone(""), true
}

// validPort reports whether s is ":" and a decimal port number (RFC 7239
// also allows an obfuscated "_name" port, which says nothing useful but is
// valid).
func validPort(s string) bool {
	p, ok := strings.CutPrefix(s, ":")
	if !ok || p == "" {
		return false
	}
	if strings.HasPrefix(p, "_") {
		return len(p) > 1 && !strings.ContainsAny(p, " \t[]:\"")
	}
	n, err := strconv.ParseUint(p, 10, 16)
	return err == nil && n <= 65535 && len(p) <= 5
}
