package guard

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestResolveClient: the client is the rightmost forwarded hop that is not
// a trusted proxy, only when the peer is one; spoofed entries on the left,
// garbage, ports, brackets, IPv6 and several header lines.
func TestResolveClient(t *testing.T) {
	trusted := MustCIDRs([]string{"127.0.0.1/32", "10.0.0.0/24", "2001:db8:1::/48"})
	xff, fwd := HeaderXForwardedFor, HeaderForwarded
	for _, tt := range []struct {
		name    string
		peer    string
		header  string
		values  []string // lines of the header; nil: absent
		want    string
		proxied bool
		unknown bool
	}{
		{"no header", "127.0.0.1", xff, nil, "127.0.0.1", true, false},
		{"one hop", "127.0.0.1", xff, []string{"203.0.113.7"}, "203.0.113.7", true, false},
		{"untrusted peer ignores the header", "198.51.100.1", xff, []string{"203.0.113.7"}, "198.51.100.1", false, false},
		{"untrusted loopback peer", "127.0.0.2", xff, []string{"203.0.113.7"}, "127.0.0.2", false, false},
		{"spoof prepended", "127.0.0.1", xff, []string{"127.0.0.1, 203.0.113.7"}, "203.0.113.7", true, false},
		{"spoof of a trusted proxy prepended", "127.0.0.1", xff, []string{"10.0.0.5, 203.0.113.7"}, "203.0.113.7", true, false},
		{"spoof garbage prepended", "127.0.0.1", xff, []string{`"evil, ;for=x, 203.0.113.7`}, "203.0.113.7", true, false},
		{"chain of trusted proxies", "127.0.0.1", xff, []string{"198.51.100.9, 203.0.113.7, 10.0.0.2, 10.0.0.3"}, "203.0.113.7", true, false},
		{"every hop trusted: the leftmost", "127.0.0.1", xff, []string{"10.0.0.2, 10.0.0.3"}, "10.0.0.2", true, false},
		{"ipv4 with port", "127.0.0.1", xff, []string{"203.0.113.7:5100"}, "203.0.113.7", true, false},
		{"ipv6", "127.0.0.1", xff, []string{"2001:db8::7"}, "2001:db8::7", true, false},
		{"ipv6 in brackets", "127.0.0.1", xff, []string{"[2001:db8::7]"}, "2001:db8::7", true, false},
		{"ipv6 in brackets with port", "127.0.0.1", xff, []string{"[2001:db8::7]:443"}, "2001:db8::7", true, false},
		{"ipv4-mapped ipv6", "127.0.0.1", xff, []string{"::ffff:203.0.113.7"}, "203.0.113.7", true, false},
		{"zone dropped", "127.0.0.1", xff, []string{"fe80::1%eth0"}, "fe80::1", true, false},
		{"ipv6 peer trusted", "2001:db8:1::2", xff, []string{"203.0.113.7"}, "203.0.113.7", true, false},
		{"ipv6 trusted hop skipped", "127.0.0.1", xff, []string{"203.0.113.7, [2001:db8:1::9]:80"}, "203.0.113.7", true, false},
		{"several lines read in order", "127.0.0.1", xff, []string{"198.51.100.1", "203.0.113.7"}, "203.0.113.7", true, false},
		{"several lines, the last trusted", "127.0.0.1", xff, []string{"203.0.113.7", "10.0.0.2"}, "203.0.113.7", true, false},
		{"empty value", "127.0.0.1", xff, []string{""}, "127.0.0.1", true, false},
		{"only commas and spaces", "127.0.0.1", xff, []string{" , ,\t"}, "127.0.0.1", true, false},
		{"empty elements skipped", "127.0.0.1", xff, []string{"203.0.113.7,,  ,"}, "203.0.113.7", true, false},
		{"garbage", "127.0.0.1", xff, []string{"not-an-address"}, "127.0.0.1", true, true},
		{"garbage after a trusted hop", "127.0.0.1", xff, []string{"203.0.113.7, junk, 10.0.0.2"}, "127.0.0.1", true, true},
		{"host name", "127.0.0.1", xff, []string{"example.com"}, "127.0.0.1", true, true},
		{"ipv6 with port, no brackets, reads as an address", "127.0.0.1", xff, []string{"2001:db8::7:443"}, "2001:db8::7:443", true, false},
		{"bad port", "127.0.0.1", xff, []string{"203.0.113.7:99999"}, "127.0.0.1", true, true},
		{"brackets around ipv4", "127.0.0.1", xff, []string{"[203.0.113.7]"}, "127.0.0.1", true, true},
		{"open bracket", "127.0.0.1", xff, []string{"[2001:db8::7"}, "127.0.0.1", true, true},
		{"cidr", "127.0.0.1", xff, []string{"203.0.113.0/24"}, "127.0.0.1", true, true},
		{"huge", "127.0.0.1", xff, []string{strings.Repeat("1.2.3.4, ", 2000) + "203.0.113.7"}, "203.0.113.7", true, false},

		{"forwarded", "127.0.0.1", fwd, []string{"for=203.0.113.7;proto=https;by=127.0.0.1"}, "203.0.113.7", true, false},
		{"forwarded, key case", "127.0.0.1", fwd, []string{"For=203.0.113.7"}, "203.0.113.7", true, false},
		{"forwarded, quoted ipv6 with port", "127.0.0.1", fwd, []string{`for="[2001:db8::7]:4711"`}, "2001:db8::7", true, false},
		{"forwarded, spoof prepended", "127.0.0.1", fwd, []string{"for=127.0.0.1, for=203.0.113.7"}, "203.0.113.7", true, false},
		{"forwarded, open quote prepended", "127.0.0.1", fwd, []string{`for="127.0.0.1, for=203.0.113.7`}, "203.0.113.7", true, false},
		{"forwarded, several lines", "127.0.0.1", fwd, []string{"for=198.51.100.1", "for=203.0.113.7;proto=http"}, "203.0.113.7", true, false},
		{"forwarded, unknown", "127.0.0.1", fwd, []string{"for=unknown"}, "127.0.0.1", true, true},
		{"forwarded, obfuscated", "127.0.0.1", fwd, []string{"for=_hidden"}, "127.0.0.1", true, true},
		{"forwarded, element without for", "127.0.0.1", fwd, []string{"proto=https"}, "127.0.0.1", true, true},
		{"forwarded, two for in one element", "127.0.0.1", fwd, []string{"for=198.51.100.1;for=203.0.113.7"}, "127.0.0.1", true, true},
		{"forwarded, obfuscated port", "127.0.0.1", fwd, []string{`for="203.0.113.7:_p1"`}, "203.0.113.7", true, false},
		{"forwarded, bad quoting", "127.0.0.1", fwd, []string{`for="203.0.113.7`}, "127.0.0.1", true, true},
		{"forwarded header ignored when x-forwarded-for is read", "127.0.0.1", xff, nil, "127.0.0.1", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.values {
				h.Add(tt.header, v)
			}
			if tt.name == "forwarded header ignored when x-forwarded-for is read" {
				h.Set(HeaderForwarded, "for=203.0.113.7")
			}
			peer := netip.MustParseAddr(tt.peer)
			c := ResolveClient(peer, h, tt.header, trusted)
			if c.Addr.String() != tt.want || c.Proxied != tt.proxied || c.Unknown != tt.unknown || c.Peer != peer {
				t.Errorf("ResolveClient(%s, %s: %q) = %+v, want %s proxied %v unknown %v",
					tt.peer, tt.header, tt.values, c, tt.want, tt.proxied, tt.unknown)
			}
		})
	}
}

// TestClientOfRequest: the guard resolves a request under its policy, and
// a new policy's proxies apply to the next request.
func TestClientOfRequest(t *testing.T) {
	g := New(Config{})
	r := request("GET", "/live/a.ts", "127.0.0.1:4000")
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	if c := g.ClientOf(r); c.Addr.String() != "127.0.0.1" || c.Proxied {
		t.Fatalf("without trusted proxies: %+v", c)
	}
	g.SetPolicy(&Policy{TrustedProxies: MustCIDRs([]string{"127.0.0.1"})})
	c := g.ClientOf(r)
	if c.Addr.String() != "203.0.113.7" || !c.Proxied {
		t.Fatalf("with 127.0.0.1 trusted: %+v", c)
	}
	if got := c.String(); got != "203.0.113.7 (proxy 127.0.0.1)" {
		t.Errorf("String() = %q", got)
	}
	g.SetPolicy(&Policy{TrustedProxies: MustCIDRs([]string{"127.0.0.1"}), ForwardedHeader: HeaderForwarded})
	if c := g.ClientOf(r); c.Addr.String() != "127.0.0.1" {
		t.Errorf("reading Forwarded, X-Forwarded-For counted: %+v", c)
	}
}

// FuzzResolveClient: for any header a client writes, the hop a trusted
// proxy appends after it names the client (so nothing written before it
// spoofs the address); no input panics; the result is the peer or a
// valid, unmapped, zoneless address. Seeds beyond these are committed
// under testdata/fuzz/FuzzResolveClient.
func FuzzResolveClient(f *testing.F) {
	for _, s := range []string{"", "203.0.113.7", "127.0.0.1, 10.0.0.1", `for="[::1]:80"`, `"`, "for=", ";;,,",
		"[2001:db8::1]:443", "::ffff:1.2.3.4", "fe80::1%eth0", "1.2.3.4:", "for=unknown;by=x", `for="\"`} {
		f.Add(s, false, "203.0.113.7")
		f.Add(s, true, "[2001:db8::9]:80")
	}
	trusted := MustCIDRs([]string{"127.0.0.1/32", "10.0.0.0/8"})
	peer := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, written string, rfc7239 bool, appended string) {
		header, hop := HeaderXForwardedFor, appended
		if rfc7239 {
			header, hop = HeaderForwarded, `for="`+appended+`"`
		}
		// Whatever the client wrote, alone.
		c := ResolveClient(peer, http.Header{header: {written}}, header, trusted)
		if !c.Addr.IsValid() || c.Addr.Is4In6() || c.Addr.Zone() != "" || !c.Proxied {
			t.Errorf("%s: %q: %+v", header, written, c)
		}
		if c.Unknown && c.Addr != peer {
			t.Errorf("%s: %q: unknown, yet %s", header, written, c.Addr)
		}
		// The proxy appends the address it took the request from, on the
		// same line or its own.
		want, ok := parseHop(appended)
		if !ok || inPrefixes(trusted, want) || strings.ContainsAny(appended, `,;"\`) {
			return
		}
		for _, h := range []http.Header{{header: {written + ", " + hop}}, {header: {written, hop}}} {
			if got := ResolveClient(peer, h, header, trusted); got.Addr != want || got.Unknown {
				t.Errorf("%s: %q then %q: client %+v, want %s", header, written, hop, got, want)
			}
		}
		// An untrusted peer is itself, whatever the header.
		other := netip.MustParseAddr("198.51.100.1")
		if got := ResolveClient(other, http.Header{header: {written + ", " + hop}}, header, trusted); got.Addr != other || got.Proxied {
			t.Errorf("%s: %q from an untrusted peer: %+v", header, written, got)
		}
	})
}

// TestProxiedRequests: behind a trusted proxy, the forwarded client is
// what the play lists, token addresses, loopback-only writes and
// conns_per_ip see; the same headers from an untrusted peer change
// nothing.
func TestProxiedRequests(t *testing.T) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	p := &Policy{TrustedProxies: MustCIDRs([]string{"127.0.0.1"}), ConnsPerIP: 2, TokenSecret: secret,
		Play:    ACL{Allow: MustCIDRs([]string{"203.0.113.0/24"})},
		Publish: ACL{Allow: MustCIDRs(Loopback)},
		Stream:  func(name string) StreamPolicy { return StreamPolicy{Token: name == "paid"} }}
	g := New(Config{Policy: p, Now: func() time.Time { return now }})
	via := func(method, url, peer, xff string) *http.Request {
		r := request(method, url, peer)
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		return r
	}
	play := func(url, peer, xff string) (func(), error) {
		name := strings.TrimPrefix(strings.Split(url, "?")[0], "/ws/")
		return g.Play(via("GET", url, peer, xff), name)
	}
	reason := func(err error) Reason {
		if r, ok := err.(*Refusal); ok {
			return r.Reason
		}
		return -1
	}

	if _, err := play("/ws/free", "127.0.0.1:1", ""); reason(err) != PlaySource {
		t.Errorf("the proxy's own request (127.0.0.1 is not in play_allow): %v", err)
	}
	if _, err := play("/ws/free", "127.0.0.1:1", "198.51.100.1"); reason(err) != PlaySource {
		t.Errorf("forwarded 198.51.100.1: %v", err)
	}
	if _, err := play("/ws/free", "198.51.100.1:1", "203.0.113.7"); reason(err) != PlaySource {
		t.Errorf("untrusted peer naming an allowed client: %v", err)
	}
	if _, err := play("/ws/free", "127.0.0.1:1", "203.0.113.7, 198.51.100.1"); reason(err) != PlaySource {
		t.Errorf("allowed address prepended by the client: %v", err)
	}

	// conns_per_ip counts proxied viewers by their client.
	r1, err := play("/ws/free", "127.0.0.1:1", "203.0.113.7")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := play("/ws/free", "127.0.0.1:2", "203.0.113.7")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := play("/ws/free", "127.0.0.1:3", "203.0.113.7"); reason(err) != ConnsPerIP || err.(*Refusal).Status != 429 {
		t.Errorf("third proxied viewer from one client: %v", err)
	}
	r3, err := play("/ws/free", "127.0.0.1:3", "203.0.113.8")
	if err != nil {
		t.Fatalf("another client through the same proxy: %v", err)
	}
	if _, err := g.Publish(via("POST", "/publish/cam", "127.0.0.1:4", "203.0.113.7"), "cam"); reason(err) != PublishSource {
		t.Errorf("proxied publish from afar without a key: %v", err)
	}
	r1()
	r4, err := play("/ws/free", "127.0.0.1:4", "203.0.113.7")
	if err != nil {
		t.Fatalf("after one viewer left: %v", err)
	}
	r2()
	r3()
	r4()
	if g.Viewers() != 0 {
		t.Errorf("%d viewers counted after all left", g.Viewers())
	}
	g.mu.Lock()
	if len(g.perIP) != 0 {
		t.Errorf("connections still counted: %v", g.perIP)
	}
	g.mu.Unlock()

	// A token bound to the client's address works only from it.
	bound := SignToken(secret, "paid", now.Add(time.Hour), netip.MustParseAddr("203.0.113.7"))
	rel, err := play("/ws/paid?token="+bound, "127.0.0.1:5", "203.0.113.7")
	if err != nil {
		t.Fatalf("bound token from its address: %v", err)
	}
	rel()
	for _, xff := range []string{"203.0.113.8", "203.0.113.7, 203.0.113.8"} {
		if _, err := play("/ws/paid?token="+bound, "127.0.0.1:5", xff); reason(err) != TokenInvalid {
			t.Errorf("bound token forwarded for %s: %v", xff, err)
		}
	}

	// Loopback-only writes: the proxy on loopback does not make its
	// clients local.
	if err := g.API(via("POST", "/api/v1/reload", "127.0.0.1:6", "127.0.0.1, 203.0.113.7"), true); reason(err) != APIAuth {
		t.Errorf("reload forwarded for a remote client: %v", err)
	}
	if err := g.API(via("POST", "/api/v1/reload", "127.0.0.1:6", ""), true); err != nil {
		t.Errorf("reload from the proxy's host itself: %v", err)
	}
	if _, err := g.Publish(via("POST", "/publish/cam", "127.0.0.1:6", "203.0.113.7"), "cam"); reason(err) != PublishSource {
		t.Errorf("publish without a key forwarded for a remote client: %v", err)
	}
}

// TestProxyConnsOnAccept: on an HTTP listener a trusted proxy's
// connections are not counted against conns_per_ip; another source's are.
func TestProxyConnsOnAccept(t *testing.T) {
	for _, tt := range []struct {
		name    string
		trusted []string
		want    int
	}{
		{"trusted proxy", []string{"127.0.0.1"}, 5},
		{"not trusted", nil, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := New(Config{Policy: &Policy{ConnsPerIP: 2, TrustedProxies: MustCIDRs(tt.trusted)}})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			l := g.Listen(ln, Role{Kind: RoleHTTP})
			accepted := make(chan net.Conn, 5)
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					accepted <- c
				}
			}()
			var conns []net.Conn
			for range 5 {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				conns = append(conns, c)
			}
			got := 0
			timeout := time.After(2 * time.Second)
		wait:
			for got < 5 {
				select {
				case c := <-accepted:
					defer c.Close()
					got++
				case <-timeout:
					break wait
				}
			}
			if got != tt.want {
				t.Errorf("%d of 5 connections accepted, want %d", got, tt.want)
			}
			if refused := g.Refused(ConnsPerIP); refused != int64(5-tt.want) {
				t.Errorf("%d refusals counted, want %d", refused, 5-tt.want)
			}
		})
	}
}
