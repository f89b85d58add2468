package guard

import (
	"cmp"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// Role says what a listener is for, and so what Listen checks on accept.
type Role struct {
	// Kind is "http" (connections per IP only, trusted proxies not
	// counted; the handlers check the rest), "ingest" (the ingest
	// allow-list Policy.Ingest[Index], and the publisher's idle timeout
	// and rate ceiling for Stream) or "play" (a raw TCP play listener of
	// Stream: the play lists and viewer limits).
	Kind   string
	Index  int
	Stream string
}

// Roles of listeners.
const (
	RoleHTTP   = "http"
	RoleIngest = "ingest"
	RolePlay   = "play"
)

// Listen wraps l so that connections the policy refuses are closed on
// accept, before a byte is read from them.
func (g *Guard) Listen(l net.Listener, role Role) net.Listener {
	return &listener{Listener: l, g: g, role: role}
}

type listener struct {
	net.Listener
	g    *Guard
	role Role
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if gc := l.g.admit(c, l.role); gc != nil {
			return gc, nil
		}
		c.Close()
	}
}

// admit returns c wrapped, or nil when it is refused.
func (g *Guard) admit(c net.Conn, role Role) net.Conn {
	p := g.Policy()
	ip := AddrOf(c.RemoteAddr())
	switch role.Kind {
	case RoleIngest:
		if acl := p.ingestACL(role.Index); !acl.Allows(ip) {
			g.Count(IngestSource)
			g.logIngestRefusal(acl, ip, role.Stream, "tcp")
			return nil
		}
	case RolePlay:
		if g.checkPlaySource(p, Client{Addr: ip, Peer: ip}, role.Stream) != nil {
			return nil
		}
		if p.stream(role.Stream).Token {
			// A raw TCP connection has no URL to carry a token: such a
			// stream plays only over HTTP and WebSocket (the config refuses
			// this listener; a reload may still get here).
			g.Count(TokenMissing)
			return nil
		}
	}
	var release func()
	var err error
	if role.Kind == RoleHTTP && inPrefixes(p.TrustedProxies, ip) {
		// A proxy carries many clients on its connections: its requests
		// are counted by client (see Play and Publish).
		release = func() {}
	} else {
		release, err = g.admitConn(p, ip)
	}
	if err != nil {
		g.logged.warn("conns "+ip.String(), "connection refused", "remote", ip, "err", err)
		return nil
	}
	gc := &Conn{Conn: c, releases: []func(){release}}
	switch role.Kind {
	case RolePlay:
		rv, err := g.admitViewer(p, role.Stream)
		if err != nil {
			release()
			return nil
		}
		gc.releases = append(gc.releases, rv)
	case RoleIngest:
		gc.meter = g.Meter(role.Stream, c, c.SetReadDeadline)
	}
	return gc
}

func (p *Policy) ingestACL(i int) *ACL {
	if i >= 0 && i < len(p.Ingest) {
		return &p.Ingest[i]
	}
	return &ACL{Allow: MustCIDRs(Loopback), Setting: "ingest[].allow"}
}

// logIngestRefusal logs one line per refused source, listener and
// protocol, naming the setting that would accept it.
func (g *Guard) logIngestRefusal(acl *ACL, ip netip.Addr, stream, proto string) {
	allow := cmp.Or(acl.Setting, "ingest[].allow")
	why := "not in " + allow + " (default: loopback only)"
	if acl.Denies(ip) {
		why = "in " + strings.TrimSuffix(allow, "allow") + "deny"
	}
	g.logged.warn("ingest "+allow+" "+proto+" "+ip.String(),
		"ingest source refused: "+why+"; to accept it add its address or network to "+allow+
			` (for any source: ["0.0.0.0/0", "::/0"])`,
		"stream", stream, "protocol", proto, "remote", ip, "setting", allow)
}

// Conn is an accepted connection the guard admitted: closing it gives back
// its place in the limits. Reads of an ingest connection go through the
// publisher's Meter.
type Conn struct {
	net.Conn
	meter    *Meter
	once     sync.Once
	releases []func()
}

// Read reads from the connection, through the Meter on ingest.
func (c *Conn) Read(p []byte) (int, error) {
	if c.meter != nil {
		return c.meter.Read(p)
	}
	return c.Conn.Read(p)
}

// Close closes the connection and releases its limits.
func (c *Conn) Close() error {
	c.once.Do(func() {
		if c.meter != nil {
			c.meter.Stop()
		}
		for _, r := range c.releases {
			r()
		}
	})
	return c.Conn.Close()
}

// Inner returns the connection under the guard, for writes that want the
// kernel's writev (net.Buffers); close c, not Inner.
func (c *Conn) Inner() net.Conn { return c.Conn }
