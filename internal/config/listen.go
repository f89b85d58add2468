package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// listener is one socket the config asks for.
type listener struct {
	path      string // key path of its address
	addr      string
	transport string // tcp or udp
}

// listeners lists the sockets of the HTTP server, ingest and play
// listeners, in that order. HTTP and both play protocols are TCP.
func (c *Config) listeners() []listener {
	var ls []listener
	if c.HTTP.Listen != "" {
		ls = append(ls, listener{"http.listen", c.HTTP.Listen, ProtoTCP})
	}
	for i, in := range c.Ingest {
		for _, t := range []string{ProtoTCP, ProtoUDP} {
			if slices.Contains(in.Protocols, t) {
				ls = append(ls, listener{indexPath("ingest", i) + ".listen", in.Listen, t})
			}
		}
	}
	for i, p := range c.Play {
		ls = append(ls, listener{indexPath("play", i) + ".listen", p.Listen, ProtoTCP})
	}
	return ls
}

// addr checks a required listen address.
func (v *validator) addr(path, addr string) {
	if addr == "" {
		v.failf(path, `required: host:port, such as ":50001" for all interfaces`)
		return
	}
	if _, _, err := splitAddr(addr); err != nil {
		v.failf(path, "%w", err)
	}
}

// listeners reports sockets that two listeners would both bind: the same
// transport and port, on the same host or where one of the hosts is "" or
// unspecified (0.0.0.0, ::), which takes the port on every address.
// Port 0 asks for any free port and never collides.
func (v *validator) listeners(ls []listener) {
	type slot struct {
		transport string
		port      int
		host      string // "" is every address
	}
	exact := make(map[slot]listener)     // the first listener on each slot
	anyHost := make(map[slot]listener)   // the first on each transport and port, host ""
	reported := make(map[[2]string]bool) // a TCP and a UDP clash of two ingests is one error
	for _, l := range ls {
		host, port, err := splitAddr(l.addr)
		if err != nil || port == 0 {
			continue // a bad address is reported by addr
		}
		s := slot{l.transport, port, normalHost(host)}
		all := slot{l.transport, port, ""}
		o, clash := exact[all] // a listener on every address
		if !clash && s.host == "" {
			o, clash = anyHost[all]
		}
		if !clash {
			o, clash = exact[s]
		}
		if clash && !reported[[2]string{l.path, o.path}] {
			reported[[2]string{l.path, o.path}] = true
			e := v.failf(l.path, "%q (%s) is already used by %s (%q)", l.addr, l.transport, o.path, o.addr)
			e.alt = o.path
		}
		if _, ok := exact[s]; !ok {
			exact[s] = l
		}
		if _, ok := anyHost[all]; !ok {
			anyHost[all] = l
		}
	}
}

// normalHost returns "" for a host that means every address, and the
// canonical form of an IP address.
func normalHost(host string) string {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return strings.ToLower(host)
	}
	if a.IsUnspecified() {
		return ""
	}
	return a.Unmap().String()
}

// splitAddr parses host:port with a numeric port from 0 to 65535.
func splitAddr(addr string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		if digits(addr) {
			return "", 0, fmt.Errorf("%q is not host:port; for all interfaces write \":%s\"", addr, addr)
		}
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", 0, fmt.Errorf("%q is not host:port: %s", addr, ae.Err)
		}
		return "", 0, fmt.Errorf("%q is not host:port", addr)
	}
	port, err = strconv.Atoi(p)
	if !digits(p) || err != nil || port > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, p)
	}
	if host != "" && !validHost(host) {
		return "", 0, fmt.Errorf("%q: %q is not an IP address or host name", addr, host)
	}
	return host, port, nil
}

// validHost accepts IP addresses (with a zone) and names of letters,
// digits, "-" and ".".
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 || h[0] == '-' || h[0] == '.' {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
