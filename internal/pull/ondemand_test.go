package pull

import (
	"net/http"
	"net/url"
	"testing"
)

func TestRuleMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "cam1", true},
		{"*", "a.b-c_d", true},
		{"cam-*", "cam-1", true},
		{"cam-*", "cam", false},
		{"cam-*", "xcam-1", false},
		{"*-hd", "news-hd", true},
		{"live", "live", true},
		{"live", "live2", false},
	} {
		r := Rule{Pattern: tc.pattern}
		if got := r.Match(tc.name); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestExpandSources(t *testing.T) {
	r := Rule{Sources: []string{"http://a:8088/live/{stream}.ts", "http://b/x/{stream}/{stream}.ts?key=k", "udp://@239.1.1.1:1234"}}
	got := r.ExpandSources("cam")
	want := []string{"http://a:8088/live/cam.ts", "http://b/x/cam/cam.ts?key=k", "udp://@239.1.1.1:1234"}
	for i := range want {
		if got[i].URL != want[i] {
			t.Errorf("source %d = %q, want %q", i, got[i].URL, want[i])
		}
	}
}

func TestParseServed(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
		want served
	}{
		{"tsstream resume", http.Header{"Tsstream-Ring": {"r1"}, "Tsstream-Offset": {"1000"}, "Tsstream-Path": {"A, B"}},
			served{ring: "r1", offset: 1000, path: []string{"A", "B"}}},
		{"clean start", http.Header{"Tsstream-Ring": {"r1"}, "Tsstream-Offset": {"0"}, "Tsstream-Prefix": {"376"}},
			served{ring: "r1", offset: 0, prefix: 376}},
		{"not a tsstream", http.Header{}, served{}},
		{"bad offset: not resumable", http.Header{"Tsstream-Ring": {"r1"}, "Tsstream-Offset": {"-5"}}, served{offset: -5}},
		{"bad prefix: not resumable", http.Header{"Tsstream-Ring": {"r1"}, "Tsstream-Offset": {"5"}, "Tsstream-Prefix": {"x"}},
			served{offset: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseServed(tc.h)
			if got.ring != tc.want.ring || got.offset != tc.want.offset || got.prefix != tc.want.prefix ||
				len(got.path) != len(tc.want.path) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got.path {
				if got.path[i] != tc.want.path[i] {
					t.Fatalf("path %v, want %v", got.path, tc.want.path)
				}
			}
		})
	}
}

func TestWithOffsetKeepsTheQuery(t *testing.T) {
	u, _ := url.Parse("http://o:8088/live/cam.ts?key=secret&ring=stale")
	if got, want := withOffset(u, 42, "r7"), "http://o:8088/live/cam.ts?key=secret&offset=42&ring=r7"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := withOffset(u, -1, ""), "http://o:8088/live/cam.ts?key=secret&offset=-1"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestStartErrorSays(t *testing.T) {
	for _, tc := range []struct {
		err  *StartError
		code int
		want string
	}{
		{&StartError{Stream: "cam", Code: 504, Timeout: 5e9}, 504, `stream "cam" did not start within 5s`},
		{&StartError{Stream: "cam", Code: 404, Err: &StatusError{Code: 404, Status: "404 Not Found", Body: "no such stream: x"}},
			404, `stream "cam": no upstream has it: the source answered 404 Not Found: no such stream: x`},
		{&StartError{Stream: "cam", Code: 508, Err: &StatusError{Code: 508, Status: "508 Loop Detected", Body: "relay loop: A -> B"}},
			508, "relay loop: A -> B"},
		{&StartError{Stream: "cam", Code: 404, Err: &StatusError{Code: 404, Body: `stream "cam": no upstream has it: …`}},
			404, `stream "cam": no upstream has it: …`},
	} {
		if got := tc.err.Error(); got != tc.want || tc.err.HTTPStatus() != tc.code {
			t.Errorf("got %d %q, want %d %q", tc.err.HTTPStatus(), got, tc.code, tc.want)
		}
	}
}
