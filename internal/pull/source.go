package pull

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/tsstream/tsstream/internal/relay"
)

// Source is one upstream of a pulled stream, given as a URL:
//
//	http://host[:port]/live/NAME.ts   a GET whose body is the stream: another
//	                                  tsstream's HTTP-TS, or any HTTP-TS
//	                                  server (https:// too; user:password@
//	                                  sends Basic authentication)
//	tcp://host:port                   connect and read the bytes
//	udp://host:port                   bind host:port and read datagrams
//	udp://@host:port                  the same ("@" as in VLC); a multicast
//	                                  group address is joined
//	udp://@:port                      bind every address
type Source struct {
	URL string
}

// String returns the URL with its password and query values hidden, for
// logs and the API.
func (s Source) String() string {
	o, err := parseSource(s.URL)
	if err != nil {
		return s.URL
	}
	return o.redacted
}

// origin is a parsed source.
type origin struct {
	url      *url.URL
	scheme   string // http, https, tcp, udp
	addr     string // tcp: host:port to dial; udp: host:port to bind
	group    bool   // udp: addr is a multicast group to join
	redacted string
}

// ParseSource checks a pull URL; its errors name the URL and the rule.
func ParseSource(raw string) (Source, error) {
	if _, err := parseSource(raw); err != nil {
		return Source{}, err
	}
	return Source{URL: raw}, nil
}

func parseSource(raw string) (*origin, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("pull source %q: %s", raw, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(raw)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fail("%v", err)
	}
	o := &origin{url: u, scheme: u.Scheme}
	switch u.Scheme {
	case "http", "https", "tcp", "udp":
	default:
		return nil, fail("use http://host:port/live/NAME.ts, tcp://host:port or udp://host:port")
	}
	if u.Opaque != "" || (u.Host == "" && u.User == nil) {
		return nil, fail("needs a host: %s://host:port", u.Scheme)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fail("a #fragment has no meaning here")
	}
	host, port := u.Hostname(), u.Port()
	// udp://@host:port parses as an empty user name: it is VLC's "bind".
	bindAt := u.Scheme == "udp" && u.User != nil && u.User.String() == ""
	if u.Scheme == "udp" && u.User != nil && !bindAt {
		return nil, fail("user@ is only for http://; to bind an address write udp://@host:port")
	}
	if host == "" && !bindAt {
		return nil, fail("needs a host: %s://host:port", u.Scheme)
	}
	if host != "" && !relay.ValidHost(host) {
		return nil, fail("host %q: use a host name or an IP address", host)
	}
	if strings.HasSuffix(u.Host, ":") {
		return nil, fail("empty port after %q", u.Host)
	}
	if port == "" {
		switch u.Scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		default:
			return nil, fail("needs a port: %s://%s:PORT", u.Scheme, u.Host)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fail("port %q: use 1 to 65535", port)
	}
	o.addr = net.JoinHostPort(host, port)
	if u.Scheme == "tcp" || u.Scheme == "udp" {
		if u.Scheme == "tcp" && u.User != nil {
			return nil, fail("user@ is only for http://")
		}
		if u.Path != "" && u.Path != "/" {
			return nil, fail("a path has no meaning for %s:// (got %q)", u.Scheme, u.Path)
		}
		if u.RawQuery != "" || u.ForceQuery {
			return nil, fail("%s:// takes no ?options", u.Scheme)
		}
	}
	if ip, err := netip.ParseAddr(host); u.Scheme == "udp" && err == nil && ip.IsMulticast() {
		o.group = true
	}
	o.redacted = relay.Redact(u)
	return o, nil
}
