// Package guard holds tsstream's access policy: publish keys, signed play
// tokens, CIDR allow/deny lists, connection and viewer limits, and the
// counters of what it refused. Protocols ask it before any byte of media
// moves; the stream hub knows nothing of it.
package guard

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Loopback is the default allow-list of the ingest listeners and of HTTP
// publishing without a key.
var Loopback = []string{"127.0.0.0/8", "::1/128"}

// ACL is a pair of CIDR lists. An address is allowed when no Deny prefix
// holds it and Allow is empty or holds it.
type ACL struct {
	Allow, Deny []netip.Prefix
	// Setting names the config key that opens the list, for the messages
	// of refusals ("ingest[0].allow").
	Setting string
}

// ParseCIDRs parses CIDRs ("10.0.0.0/8", "::1/128") or bare addresses
// (one host). The error names the first bad entry.
func ParseCIDRs(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := ParseCIDR(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseCIDR parses one CIDR or bare address.
func ParseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (10.0.0.0/8, 2001:db8::/32) or an address", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32", s)
	}
	if p.Addr().Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped prefix needs at least /96", s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), bits)
	}
	return p.Masked(), nil
}

// MustCIDRs is ParseCIDRs for lists known to be good, such as Loopback.
func MustCIDRs(list []string) []netip.Prefix {
	p, err := ParseCIDRs(list)
	if err != nil {
		panic(err)
	}
	return p
}

// Allows reports whether a (unmapped first) passes the lists.
func (a *ACL) Allows(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range a.Deny {
		if p.Contains(addr) {
			return false
		}
	}
	if len(a.Allow) == 0 {
		return true
	}
	for _, p := range a.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Denies reports whether a Deny prefix holds addr.
func (a *ACL) Denies(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range a.Deny {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// AddrOf returns the IP of a net.Addr or of a "host:port" string, unmapped;
// the zero Addr when there is none.
func AddrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	return AddrOfString(a.String())
}

// AddrOfString returns the IP of "host:port", unmapped.
func AddrOfString(hostport string) netip.Addr {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
