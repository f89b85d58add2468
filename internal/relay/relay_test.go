package relay

import (
	"net/url"
	"testing"
	"time"
)

func TestValidHost(t *testing.T) {
	for h, want := range map[string]bool{
		"edge": true, "edge-1.example.org": true, "edge.": true, "10.0.0.1": true, "::1": true, "a_b": true,
		"": false, "a..b": false, "-a": false, "a-": false, "a b": false, "ä": false, "]:1": false,
	} {
		if got := ValidHost(h); got != want {
			t.Errorf("ValidHost(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	for raw, want := range map[string]string{
		"http://u:pw@edge/publish/x?key=k&x=1": "http://u:xxxxx@edge/publish/x?key=xxxxx&x=1",
		"udp://239.1.1.1:1234?ttl=4":           "udp://239.1.1.1:1234?ttl=4",
		"http://edge/x?Token=t":                "http://edge/x?Token=xxxxx",
		"http://edge/x?%zz":                    "http://edge/x?REDACTED",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := Redact(u); got != want {
			t.Errorf("Redact(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestBackoffStaysInBounds(t *testing.T) {
	lo, hi := 500*time.Millisecond, 30*time.Second
	for n := 1; n < 80; n++ {
		for _, rnd := range []float64{0, 0.5, 0.999} {
			got := Backoff(n, lo, hi, rnd)
			if got < lo || got > min(hi, lo<<min(n, 20)) {
				t.Fatalf("Backoff(%d, %v) = %v, outside [%v, %v]", n, rnd, got, lo, min(hi, lo<<min(n, 20)))
			}
		}
	}
	if Backoff(1, lo, hi, 0.999) >= Backoff(3, lo, hi, 0.999) {
		t.Fatal("the wait does not grow with failures")
	}
}
