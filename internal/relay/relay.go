// Package relay holds what push targets, pull sources and the HTTP server
// share: the relay path header, checking a URL's host, hiding its secrets
// for logs and the API, and the backoff between attempts.
package relay

import (
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// PathHeader carries the names of the relay nodes a stream goes through,
// comma-separated: on a push, the nodes the data came through, the origin
// first; on a pull request, the nodes that asked for it; on a /live
// answer, the nodes the data came through, the answering node last.
const PathHeader = "Tsstream-Path"

// Headers of reliable links, which resume at an exact byte of the
// sending node's ring (internal/pull/resume.go for pulls,
// internal/push/reliable.go for pushes).
const (
	RingHeader   = "Tsstream-Ring"   // the ring the offsets belong to
	OffsetHeader = "Tsstream-Offset" // a byte offset of that ring
	PrefixHeader = "Tsstream-Prefix" // bytes of PAT/PMT sent before that byte
)

// SplitPath parses a PathHeader value.
func SplitPath(h string) []string {
	var path []string
	for n := range strings.SplitSeq(h, ",") {
		if n = strings.TrimSpace(n); n != "" {
			path = append(path, n)
		}
	}
	return path
}

// ValidHost reports whether h is an IP address (v6 without brackets, as
// url.Hostname gives it) or a DNS name: dot-separated labels of letters,
// digits, '-' and '_', not starting or ending with '-', and an optional
// final dot.
func ValidHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// secretParams are query parameters whose values Redact hides.
var secretParams = []string{"key", "token", "secret", "password", "pass", "auth"}

// Redact returns u with its password and secret query values (key=,
// token=, secret=, password=, pass=, auth=) replaced by "xxxxx"; a query
// that does not parse is hidden whole.
func Redact(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		q, err := url.ParseQuery(c.RawQuery)
		if err != nil {
			c.RawQuery = "REDACTED"
		} else {
			hidden := false
			for k, vs := range q {
				if slices.ContainsFunc(secretParams, func(s string) bool { return strings.EqualFold(k, s) }) {
					for i := range vs {
						vs[i] = "xxxxx"
					}
					hidden = true
				}
			}
			if hidden {
				c.RawQuery = q.Encode()
			}
		}
	}
	return c.Redacted()
}

// Backoff returns the wait after n failures in a row (n ≥ 1): uniform, by
// rnd in [0, 1), between lo and lo·2ⁿ, capped at hi ("full jitter", but
// never below lo, so that a refusing peer is not hammered).
func Backoff(n int, lo, hi time.Duration, rnd float64) time.Duration {
	ceil := hi
	if n < 62 && lo <= hi>>n {
		ceil = lo << n
	}
	return min(lo+time.Duration(rnd*float64(ceil-lo)), hi)
}
