package push

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/tsstream/tsstream/internal/relay"
)

// Target is one push destination, given as a URL:
//
//	tcp://host:port                   the stream's bytes, as they are
//	udp://host:port[?ttl=N&iface=IF]  datagrams of whole TS packets (at most
//	                                  7, 1316 bytes); host may be a multicast
//	                                  group, ttl sets the TTL (hops), iface
//	                                  the outgoing interface of a group
//	http://host[:port]/path[?query]   a chunked POST that lasts as long as the
//	                                  link: another tsstream's
//	                                  /publish/NAME[?key=KEY], or any ingest
//	                                  that takes one (user:password@ sends
//	                                  Basic authentication)
//
// An http:// target with the option reliable=1 (another tsstream's
// /publish/NAME?reliable=1) is a reliable push: after a disconnect it
// resumes at the exact byte the target reached (reliable.go). The option is
// the pusher's, not sent to the target.
type Target struct {
	URL string
}

// String returns the URL with its password and secret query values hidden,
// for logs and the API.
func (t Target) String() string {
	d, err := parseTarget(t.URL)
	if err != nil {
		return t.URL
	}
	return d.redacted
}

// dest is a parsed target.
type dest struct {
	url      *url.URL
	scheme   string // tcp, udp, http
	addr     string // host:port to dial
	ttl      int    // udp: -1 when not set
	iface    string // udp: outgoing interface of a multicast group
	reliable bool   // http: resume at the exact byte (reliable=1)
	redacted string
}

// ParseTarget checks a push URL; its errors name the URL and the rule.
func ParseTarget(raw string) (Target, error) {
	if _, err := parseTarget(raw); err != nil {
		return Target{}, err
	}
	return Target{URL: raw}, nil
}

func parseTarget(raw string) (*dest, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("push target %q: %s", raw, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(raw)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fail("%v", err)
	}
	d := &dest{url: u, scheme: u.Scheme, ttl: -1}
	switch u.Scheme {
	case "tcp", "udp", "http":
	case "https":
		return nil, fail("https is not supported; use http:// (or tcp://, udp://)")
	default:
		return nil, fail("use tcp://, udp:// or http://")
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, fail("needs a host: %s://host:port", u.Scheme)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fail("a #fragment has no meaning here")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, fail("needs a host: %s://host:port", u.Scheme)
	}
	if !relay.ValidHost(host) {
		return nil, fail("host %q: use a host name or an IP address", host)
	}
	if strings.HasSuffix(u.Host, ":") {
		return nil, fail("empty port after %q", u.Host)
	}
	if port == "" {
		if u.Scheme != "http" {
			return nil, fail("needs a port: %s://%s:PORT", u.Scheme, u.Host)
		}
		port = "80"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fail("port %q: use 1 to 65535", port)
	}
	d.addr = net.JoinHostPort(host, port)
	if u.Scheme != "http" {
		if u.User != nil {
			return nil, fail("user@ is only for http://")
		}
		if u.Path != "" && u.Path != "/" {
			return nil, fail("a path has no meaning for %s:// (got %q)", u.Scheme, u.Path)
		}
	}
	if u.Scheme != "http" && hasParam(u.RawQuery, "reliable") {
		return nil, fail("reliable=1 is only for http:// targets (another tsstream's /publish/NAME)")
	}
	switch u.Scheme {
	case "tcp":
		if u.RawQuery != "" || u.ForceQuery {
			return nil, fail("tcp:// takes no ?options")
		}
	case "udp":
		if err := d.parseUDPOptions(u, host); err != nil {
			return nil, fail("%v", err)
		}
	case "http":
		if err := d.parseReliable(u); err != nil {
			return nil, fail("%v", err)
		}
	}
	d.redacted = relay.Redact(u)
	return d, nil
}

// parseReliable reads the option reliable=1 of an http:// target and takes
// it out of the URL sent to the target; the other query values go as they
// were written.
func (d *dest) parseReliable(u *url.URL) error {
	if !hasParam(u.RawQuery, "reliable") {
		return nil
	}
	var kept []string
	for _, kv := range strings.Split(u.RawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k != "reliable" {
			kept = append(kept, kv)
			continue
		}
		if d.reliable {
			return errors.New("option reliable given twice")
		}
		if v != "1" && v != "true" {
			return fmt.Errorf("reliable=%q: use reliable=1", v)
		}
		d.reliable = true
	}
	c := *u
	c.RawQuery = strings.Join(kept, "&")
	d.url = &c // u itself, shown redacted, keeps the option
	return nil
}

// hasParam reports whether the raw query names key.
func hasParam(rawQuery, key string) bool {
	for _, kv := range strings.Split(rawQuery, "&") {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// parseUDPOptions reads ttl= and iface=.
func (d *dest) parseUDPOptions(u *url.URL, host string) error {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("options: %v", err)
	}
	for k, v := range q {
		if len(v) > 1 {
			return fmt.Errorf("option %s given %d times", k, len(v))
		}
		switch k {
		case "ttl":
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 0 || n > 255 {
				return fmt.Errorf("ttl=%q: use 0 to 255", v[0])
			}
			d.ttl = n
		case "iface":
			if v[0] == "" {
				return fmt.Errorf("iface= needs an interface name (such as eth0)")
			}
			ip := net.ParseIP(host)
			if ip == nil || !ip.IsMulticast() {
				return fmt.Errorf("iface= is only for a multicast group given as an address (224.0.0.0/4 or ff00::/8), not %q", host)
			}
			d.iface = v[0]
		default:
			return fmt.Errorf("unknown option %q: udp:// takes ttl= and iface=", k)
		}
	}
	return nil
}
