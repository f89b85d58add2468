package guard

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzVerifyToken checks any token string against any stream and address:
// no panic, only the three errors, and acceptance only of what SignToken
// made for that stream, address and time. Seeds beyond these are
// committed under testdata/fuzz/FuzzVerifyToken.
func FuzzVerifyToken(f *testing.F) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	good := SignToken(secret, "cam", now.Add(time.Hour), netip.Addr{})
	bound := SignToken(secret, "cam", now.Add(time.Hour), netip.MustParseAddr("192.0.2.1"))
	for _, s := range []string{good, bound, "", ".", "..", "1.2.3", "9999999999999999999999.x", good + ".", "." + good,
		strings.Replace(bound, "192.0.2.1", "::ffff:192.0.2.1", 1)} {
		f.Add(s, "cam", "192.0.2.1")
	}
	f.Fuzz(func(t *testing.T, token, stream, client string) {
		ip, _ := netip.ParseAddr(client)
		err := VerifyToken(secret, token, stream, ip, now)
		switch err {
		case nil:
			exp, rest, _ := strings.Cut(token, ".")
			var want string
			if i := strings.LastIndexByte(rest, '.'); i >= 0 {
				want = SignToken(secret, stream, unix(exp), netip.MustParseAddr(rest[:i]))
			} else {
				want = SignToken(secret, stream, unix(exp), netip.Addr{})
			}
			if want != token {
				t.Errorf("accepted %q for %q from %s; SignToken makes %q", token, stream, client, want)
			}
		case ErrTokenMissing, ErrTokenInvalid, ErrTokenExpired:
		default:
			t.Errorf("unexpected error %v", err)
		}
	})
}

func unix(s string) time.Time {
	var n int64
	for _, c := range s {
		n = n*10 + int64(c-'0')
	}
	return time.Unix(n, 0)
}

// FuzzParseCIDR: any string either fails or gives a masked, unmapped
// prefix that parses back to itself.
func FuzzParseCIDR(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1", "::ffff:10.0.0.0/104", "1.2.3.4/32", "", "/", "::ffff:1.2.3.4/8", "fe80::1%eth0", "1.2.3.4/-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseCIDR(s)
		if err != nil {
			return
		}
		if p != p.Masked() || p.Addr().Is4In6() {
			t.Errorf("ParseCIDR(%q) = %v: not masked and unmapped", s, p)
		}
		if again, err := ParseCIDR(p.String()); err != nil || again != p {
			t.Errorf("ParseCIDR(%q) = %v; again %v, %v", s, p, again, err)
		}
	})
}
