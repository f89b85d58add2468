package pull

import (
	"strings"
	"testing"
)

var sourceCases = []struct {
	url      string
	err      string // a part of the error; "" for a good URL
	redacted string // Source.String, for good URLs
	group    bool
}{
	{"http://a:8080/live/x.ts", "", "http://a:8080/live/x.ts", false},
	{"http://u:pw@a/live/x.ts?key=k1", "", "http://u:xxxxx@a/live/x.ts?key=xxxxx", false},
	{"https://cdn.example.com/live/x.ts", "", "https://cdn.example.com/live/x.ts", false},
	{"tcp://127.0.0.1:9000", "", "tcp://127.0.0.1:9000", false},
	{"udp://127.0.0.1:1234", "", "udp://127.0.0.1:1234", false},
	{"udp://@239.1.1.1:1234", "", "udp://@239.1.1.1:1234", true},
	{"udp://@:1234", "", "udp://@:1234", false},
	{"udp://[ff02::1]:1234", "", "udp://[ff02::1]:1234", true},
	{"rtmp://a/live", "use http://", "", false},
	{"tcp://a", "needs a port", "", false},
	{"udp://:1234", "needs a host", "", false},
	{"tcp://a:0", "port \"0\"", "", false},
	{"tcp://a:99999", "use 1 to 65535", "", false},
	{"tcp://a:1/path", "a path has no meaning", "", false},
	{"udp://a:1?ttl=3", "takes no ?options", "", false},
	{"tcp://u@a:1", "user@ is only for http", "", false},
	{"udp://u@a:1", "udp://@host:port", "", false},
	{"http://a/x.ts#f", "#fragment", "", false},
	{"http://bad_host!/x.ts", "host \"bad_host!\"", "", false},
	{"http://a:/x.ts", "empty port", "", false},
	{"a:1", "use http://", "", false},
	{"http://%zz", "invalid URL escape", "", false},
}

func TestParseSource(t *testing.T) {
	for _, tc := range sourceCases {
		t.Run(tc.url, func(t *testing.T) {
			s, err := ParseSource(tc.url)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.url) {
					t.Fatalf("err = %v, want one naming %q and saying %q", err, tc.url, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(); got != tc.redacted {
				t.Errorf("String() = %q, want %q", got, tc.redacted)
			}
			if o, _ := parseSource(tc.url); o.group != tc.group {
				t.Errorf("group = %v, want %v", o.group, tc.group)
			}
		})
	}
}

// FuzzParseSource checks that ParseSource never panics, that its errors
// name the URL, and that a good source's redacted form parses again.
func FuzzParseSource(f *testing.F) {
	for _, tc := range sourceCases {
		f.Add(tc.url)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := ParseSource(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "pull source ") {
				t.Fatalf("error %q does not name the source", err)
			}
			return
		}
		if _, err := ParseSource(s.String()); err != nil {
			t.Fatalf("redacted %q of good %q does not parse: %v", s.String(), raw, err)
		}
	})
}
