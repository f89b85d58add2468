package guard

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestACL(t *testing.T) {
	acl := ACL{Allow: MustCIDRs([]string{"10.0.0.0/8", "::1", "192.0.2.7"}), Deny: MustCIDRs([]string{"10.9.0.0/16"})}
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true}, {"10.9.1.1", false}, {"11.0.0.1", false}, {"::1", true},
		{"::ffff:10.1.2.3", true}, {"::ffff:10.9.0.1", false}, {"192.0.2.7", true}, {"192.0.2.8", false},
	} {
		if got := acl.Allows(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Allows(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	open := ACL{}
	if !open.Allows(netip.MustParseAddr("203.0.113.1")) {
		t.Error("an empty ACL refuses")
	}
}

func TestParseCIDR(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"10.0.0.0/8", "10.0.0.0/8", ""},
		{"10.1.2.3/8", "10.0.0.0/8", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"127.0.0.1", "127.0.0.1/32", ""},
		{"::1", "::1/128", ""},
		{"10.0.0.0/33", "", "not a CIDR"},
		{"localhost", "", "not a CIDR"},
		{"", "", "not a CIDR"},
	} {
		p, err := ParseCIDR(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseCIDR(%q) error = %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || p.String() != tt.want):
			t.Errorf("ParseCIDR(%q) = %v, %v, want %s", tt.in, p, err, tt.want)
		}
	}
}

func TestToken(t *testing.T) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	ip := netip.MustParseAddr("192.0.2.1")
	any := SignToken(secret, "cam", now.Add(time.Hour), netip.Addr{})
	bound := SignToken(secret, "cam", now.Add(time.Hour), ip)
	v6 := SignToken(secret, "cam", now.Add(time.Hour), netip.MustParseAddr("2001:db8::1"))
	for _, tt := range []struct {
		name, token, stream string
		client              netip.Addr
		at                  time.Time
		want                error
	}{
		{"good", any, "cam", ip, now, nil},
		{"bound, right address", bound, "cam", ip, now, nil},
		{"bound ipv6", v6, "cam", netip.MustParseAddr("2001:db8::1"), now, nil},
		{"bound, other address", bound, "cam", netip.MustParseAddr("192.0.2.2"), now, ErrTokenInvalid},
		{"other stream", any, "cam2", ip, now, ErrTokenInvalid},
		{"expired", any, "cam", ip, now.Add(time.Hour), ErrTokenExpired},
		{"missing", "", "cam", ip, now, ErrTokenMissing},
		{"other secret", SignToken([]byte("fedcba9876543210"), "cam", now.Add(time.Hour), netip.Addr{}), "cam", ip, now, ErrTokenInvalid},
		{"later expiry, same signature", "1900000000" + any[strings.IndexByte(any, '.'):], "cam", ip, now, ErrTokenInvalid},
		{"unbound from bound", bound[:strings.IndexByte(bound, '.')] + bound[strings.LastIndexByte(bound, '.'):], "cam", ip, now, ErrTokenInvalid},
		{"garbage", "abc", "cam", ip, now, ErrTokenInvalid},
		{"huge", strings.Repeat("9", 10000), "cam", ip, now, ErrTokenInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyToken(secret, tt.token, tt.stream, tt.client, tt.at); got != tt.want {
				t.Errorf("VerifyToken = %v, want %v", got, tt.want)
			}
		})
	}
}

func request(method, url, remote string) *http.Request {
	r := httptest.NewRequest(method, url, nil)
	r.RemoteAddr = remote
	return r
}

func TestPublish(t *testing.T) {
	keyed := &Policy{PublishKey: "global-key", Publish: ACL{Allow: MustCIDRs(Loopback), Deny: MustCIDRs([]string{"192.0.2.66"})},
		Stream: func(name string) StreamPolicy {
			if name == "own" {
				return StreamPolicy{Key: "own-key"}
			}
			return StreamPolicy{}
		}}
	open := &Policy{Publish: ACL{Allow: MustCIDRs(Loopback)}}
	for _, tt := range []struct {
		name   string
		p      *Policy
		url    string
		remote string
		status int // 0: allowed
		reason Reason
		msg    string
	}{
		{"no key set, loopback", open, "/publish/a", "127.0.0.1:5000", 0, 0, ""},
		{"no key set, ipv6 loopback", open, "/publish/a", "[::1]:5000", 0, 0, ""},
		{"no key set, remote", open, "/publish/a", "203.0.113.9:5000", 403, PublishSource, "set auth.publish_key"},
		{"key missing", keyed, "/publish/a", "127.0.0.1:5000", 401, PublishKeyMissing, "?key="},
		{"key wrong", keyed, "/publish/a?key=nope", "203.0.113.9:5000", 403, PublishKeyWrong, "wrong publish key"},
		{"global key", keyed, "/publish/a?key=global-key", "203.0.113.9:5000", 0, 0, ""},
		{"own key", keyed, "/publish/own?key=own-key", "203.0.113.9:5000", 0, 0, ""},
		{"global key opens own stream too", keyed, "/publish/own?key=global-key", "203.0.113.9:5000", 0, 0, ""},
		{"own key of another stream", keyed, "/publish/a?key=own-key", "203.0.113.9:5000", 403, PublishKeyWrong, ""},
		{"key prefix", keyed, "/publish/a?key=global-ke", "203.0.113.9:5000", 403, PublishKeyWrong, ""},
		{"denied with key", keyed, "/publish/a?key=global-key", "192.0.2.66:5000", 403, PublishSource, "publish_deny"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := New(Config{Policy: tt.p})
			release, err := g.Publish(request("POST", tt.url, tt.remote), strings.TrimPrefix(strings.Split(tt.url, "?")[0], "/publish/"))
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				release()
				return
			}
			r, ok := err.(*Refusal)
			if !ok || r.Status != tt.status || r.Reason != tt.reason || !strings.Contains(r.Msg, tt.msg) {
				t.Fatalf("got %#v, want status %d reason %v with %q", err, tt.status, tt.reason, tt.msg)
			}
			if g.Refused(tt.reason) != 1 {
				t.Errorf("%v counted %d times", tt.reason, g.Refused(tt.reason))
			}
		})
	}
}

func TestPlayLimits(t *testing.T) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	p := &Policy{TokenSecret: secret, MaxViewers: 3, Play: ACL{Deny: MustCIDRs([]string{"198.51.100.0/24"})},
		Stream: func(name string) StreamPolicy { return StreamPolicy{Token: name == "paid", MaxViewers: 2} }}
	g := New(Config{Policy: p, Now: func() time.Time { return now }})
	play := func(url, remote string) (func(), error) {
		name := strings.TrimPrefix(strings.Split(url, "?")[0], "/ws/")
		return g.Play(request("GET", url, remote), name)
	}
	tok := SignToken(secret, "paid", now.Add(time.Minute), netip.Addr{})
	r1, err := play("/ws/free", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := play("/ws/free", "127.0.0.1:2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := play("/ws/free", "127.0.0.1:3"); err == nil || err.(*Refusal).Reason != MaxStreamViewers {
		t.Fatalf("third viewer of a 2-viewer stream: %v", err)
	}
	if _, err := play("/ws/paid", "127.0.0.1:4"); err == nil || err.(*Refusal).Status != 401 {
		t.Fatalf("no token: %v", err)
	}
	if _, err := play("/ws/paid?token=x"+tok, "127.0.0.1:4"); err == nil || err.(*Refusal).Status != 403 {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := play("/ws/free", "198.51.100.3:4"); err == nil || err.(*Refusal).Reason != PlaySource {
		t.Fatalf("denied source: %v", err)
	}
	r3, err := play("/ws/paid?token="+tok, "127.0.0.1:5")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := play("/ws/paid?token="+tok, "127.0.0.1:6"); err == nil || err.(*Refusal).Reason != MaxViewers {
		t.Fatalf("fourth viewer of a 3-viewer node: %v", err)
	}
	r1()
	r1() // twice is once
	if g.Viewers() != 2 {
		t.Errorf("viewers after one left = %d, want 2", g.Viewers())
	}
	r2()
	r3()
	if g.Viewers() != 0 {
		t.Errorf("viewers at the end = %d", g.Viewers())
	}
}

func TestAPI(t *testing.T) {
	for _, tt := range []struct {
		name   string
		p      *Policy
		method string
		remote string
		auth   func(*http.Request)
		status int
	}{
		{"open read", &Policy{}, "GET", "203.0.113.1:1", nil, 0},
		{"open write from loopback", &Policy{}, "POST", "127.0.0.1:1", nil, 0},
		{"open write from afar", &Policy{}, "POST", "203.0.113.1:1", nil, 403},
		{"token missing", &Policy{APIToken: "t0k"}, "GET", "127.0.0.1:1", nil, 401},
		{"token right", &Policy{APIToken: "t0k"}, "POST", "203.0.113.1:1",
			func(r *http.Request) { r.Header.Set("Authorization", "Bearer t0k") }, 0},
		{"token wrong", &Policy{APIToken: "t0k"}, "GET", "127.0.0.1:1",
			func(r *http.Request) { r.Header.Set("Authorization", "Bearer t0") }, 401},
		{"basic right", &Policy{APIUser: "u", APIPassword: "p"}, "GET", "127.0.0.1:1",
			func(r *http.Request) { r.SetBasicAuth("u", "p") }, 0},
		{"basic wrong", &Policy{APIUser: "u", APIPassword: "p"}, "GET", "127.0.0.1:1",
			func(r *http.Request) { r.SetBasicAuth("u", "q") }, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := request(tt.method, "/api/v1/streams", tt.remote)
			if tt.auth != nil {
				tt.auth(r)
			}
			err := New(Config{Policy: tt.p}).API(r, tt.method != "GET")
			if got := 0; err != nil {
				got = err.(*Refusal).Status
				if got != tt.status {
					t.Fatalf("status %d, want %d (%v)", got, tt.status, err)
				}
			} else if tt.status != 0 {
				t.Fatalf("allowed, want %d", tt.status)
			}
		})
	}
}

// TestReport: monitor reports need the report token (or the API
// credentials) once one is set, from every source; with none set only
// auth.report_allow (default loopback, behind a trusted proxy the
// forwarded client) may report. The report token opens nothing else.
func TestReport(t *testing.T) {
	open := &Policy{}
	allowed := &Policy{ReportAllow: MustCIDRs([]string{"10.0.0.0/8"})}
	token := &Policy{ReportToken: "r3p"}
	api := &Policy{APIToken: "api-t", APIUser: "u", APIPassword: "p"}
	proxied := &Policy{TrustedProxies: MustCIDRs([]string{"127.0.0.1"})}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	for _, tt := range []struct {
		name   string
		p      *Policy
		remote string
		auth   func(*http.Request)
		ok     bool
		msg    string
	}{
		{"none set, loopback", open, "127.0.0.1:1", nil, true, ""},
		{"none set, ipv6 loopback", open, "[::1]:1", nil, true, ""},
		{"none set, from afar", open, "192.0.2.1:1", nil, false, "set auth.report_token"},
		{"report_allow", allowed, "10.1.2.3:1", nil, true, ""},
		{"report_allow replaces loopback", allowed, "127.0.0.1:1", nil, false, "auth.report_allow"},
		{"token set, none sent, loopback", token, "127.0.0.1:1", nil, false, "monitor.report_token"},
		{"token set, right", token, "192.0.2.1:1", bearer("r3p"), true, ""},
		{"token set, wrong", token, "192.0.2.1:1", bearer("r3"), false, ""},
		{"token set, as basic auth", token, "192.0.2.1:1", func(r *http.Request) { r.SetBasicAuth("x", "r3p") }, false, ""},
		{"api token", api, "192.0.2.1:1", bearer("api-t"), true, ""},
		{"api basic auth", api, "192.0.2.1:1", func(r *http.Request) { r.SetBasicAuth("u", "p") }, true, ""},
		{"api credentials set, none sent, loopback", api, "127.0.0.1:1", nil, false, ""},
		{"forwarded for a remote client", proxied, "127.0.0.1:1",
			func(r *http.Request) { r.Header.Set("X-Forwarded-For", "203.0.113.5") }, false, "203.0.113.5"},
		{"forwarded for loopback spoofed", proxied, "127.0.0.1:1",
			func(r *http.Request) { r.Header.Set("X-Forwarded-For", "127.0.0.1, 203.0.113.5") }, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := request("POST", "/api/v1/reports", tt.remote)
			if tt.auth != nil {
				tt.auth(r)
			}
			g := New(Config{Policy: tt.p})
			err := g.Report(r)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			ref, isRef := err.(*Refusal)
			if !isRef || ref.Status != http.StatusUnauthorized || ref.Reason != ReportAuth || !strings.Contains(ref.Msg, tt.msg) {
				t.Fatalf("got %v, want 401 report_auth with %q", err, tt.msg)
			}
			if g.Refused(ReportAuth) != 1 {
				t.Errorf("counted %d times", g.Refused(ReportAuth))
			}
		})
	}
	g := New(Config{Policy: &Policy{ReportToken: "r3p", APIToken: "api-t"}})
	r := request("GET", "/api/v1/streams", "192.0.2.1:1")
	r.Header.Set("Authorization", "Bearer r3p")
	if err := g.API(r, false); err == nil {
		t.Error("the report token opened the API")
	}
}
