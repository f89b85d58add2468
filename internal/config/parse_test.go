package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const nameRule = `use 1-64 of A-Z a-z 0-9 _ - . not starting with "."`

// parseErrorTests are files Parse must refuse, with every error it must
// report. FuzzParse starts from them too.
var parseErrorTests = []struct {
	name string
	in   string
	want []string
}{
	{"unknown top key", "log_level: info\nlisen: ':1'\n", []string{
		"tsstream.yaml:2: lisen: unknown key (known: name, log_level, default_stream, shutdown_timeout, max_hops, http, monitor, ingest, play, stream_defaults, streams, trusted_proxies, forwarded_header, auth, limits, pulls)",
	}},
	{"unknown nested key", "name: n\nlog_level: info\n\nhttp:\n  lisen: ':8080'\n", []string{
		"tsstream.yaml:5: http.lisen: unknown key (known: listen, read_header_timeout, max_header_bytes, reuse_port, tls_cert, tls_key)",
	}},
	{"unknown stream option", "streams:\n  cam1:\n    ringbytes: 1MiB\n", []string{
		"tsstream.yaml:3: streams.cam1.ringbytes: unknown key (known: format, takeover, ring_bytes, ring_age, write_timeout, max_unsent, max_skips, skip_window, gop_cache, gop_max_bytes, gop_max_age, push, pull, pull_order, publish_key, play_token, max_viewers, max_publish_rate, publish_idle_timeout)",
	}},
	{"bad push target", "streams:\n  cam1:\n    push:\n      - tcp://127.0.0.1:9000\n      - ftp://x\n", []string{
		`tsstream.yaml:5: streams.cam1.push[1]: push target "ftp://x": use tcp://, udp:// or http://`,
	}},
	{"bad pull rules", "pulls:\n  - stream: 'a/*'\n    from: [ftp://x]\n  - stream: 'cam-*'\n    static: true\n" +
		"    from:\n      - http://o:8088/live/{stream}.ts\n    order: random\n    linger: 0s\n  - from: []\n", []string{
		`tsstream.yaml:2: pulls[0].stream: "a/*": use a stream name (1-64 of A-Z a-z 0-9 _ - ., not starting with ".") in which * stands for any run of those characters`,
		`tsstream.yaml:3: pulls[0].from[0]: pull source "ftp://x": use http://host:port/live/NAME.ts, tcp://host:port or udp://host:port`,
		`tsstream.yaml:4: pulls[1].stream: "cam-*": a static pull names one stream; patterns are for on-demand pulls`,
		`tsstream.yaml:8: pulls[1].order: "random" is not one of failover, round-robin`,
		`tsstream.yaml:10: pulls[2].stream: required: a stream name, or a pattern such as "*" or "cam-*"`,
		`tsstream.yaml:10: pulls[2].from: required: upstream URLs such as http://origin:8088/live/{stream}.ts`,
	}},
	{"empty ingest allow-list", "ingest:\n  - listen: ':1'\n    allow: []\n", []string{
		`tsstream.yaml:3: ingest[0].allow: an empty list: leave the key out for the default (loopback), or list sources; ["0.0.0.0/0", "::/0"] allows every source`,
	}},
	{"bad cidrs", "auth:\n  publish_allow: [10.0.0.0/33]\n  play_deny: [localhost]\nlimits:\n  conns_per_ip_exempt: ['::ffff:1.2.3.4/8']\n", []string{
		`tsstream.yaml:2: auth.publish_allow[0]: "10.0.0.0/33" is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32`,
		`tsstream.yaml:3: auth.play_deny[0]: "localhost" is not a CIDR (10.0.0.0/8, 2001:db8::/32) or an address`,
		`tsstream.yaml:5: limits.conns_per_ip_exempt[0]: "::ffff:1.2.3.4/8": an IPv4-mapped prefix needs at least /96`,
	}},
	{"bad trusted proxies", "trusted_proxies: [127.0.0.1, 10.0.0.0/40, 0.0.0.0/0, '::/0', example.com]\nforwarded_header: X-Real-IP\n", []string{
		`tsstream.yaml:1: trusted_proxies[1]: "10.0.0.0/40" is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32`,
		`tsstream.yaml:1: trusted_proxies[2]: "0.0.0.0/0" trusts every source, so any client could say who it is: list the proxies' addresses`,
		`tsstream.yaml:1: trusted_proxies[3]: "::/0" trusts every source, so any client could say who it is: list the proxies' addresses`,
		`tsstream.yaml:1: trusted_proxies[4]: "example.com" is not a CIDR (10.0.0.0/8, 2001:db8::/32) or an address`,
		`tsstream.yaml:2: forwarded_header: "X-Real-IP" is not one of x-forwarded-for, forwarded`,
	}},
	{"bad report settings", "monitor:\n  report_token: \"two words\"\nauth:\n  report_token: \"tab\\there\"\n  report_allow: []\n", []string{
		`tsstream.yaml:2: monitor.report_token: use visible ASCII characters only, no spaces (openssl rand -hex 32 makes one)`,
		`tsstream.yaml:4: auth.report_token: use visible ASCII characters only, no spaces (openssl rand -hex 32 makes one)`,
		`tsstream.yaml:5: auth.report_allow: an empty list: leave the key out for the default (loopback), or list sources; ["0.0.0.0/0", "::/0"] allows every source`,
	}},
	{"tokens without a secret", "streams:\n  cam1:\n    play_token: \"on\"\n", []string{
		`tsstream.yaml: auth.token_secret: required: a stream has play_token: "on" (openssl rand -hex 32 makes a secret)`,
	}},
	{"short secret and half credentials", "auth:\n  token_secret: short\n  api_user: admin\n", []string{
		`tsstream.yaml:2: auth.token_secret: is 5 characters: use at least 16 (openssl rand -hex 32 makes one)`,
		`tsstream.yaml:3: auth.api_password: set auth.api_user and auth.api_password together`,
	}},
	{"token stream on raw tcp play", "auth: {token_secret: 0123456789abcdef}\nplay:\n  - listen: ':1'\n    protocol: tcp\nstream_defaults: {play_token: \"on\"}\n", []string{
		`tsstream.yaml:4: play[0].protocol: stream "live" needs play tokens, which raw TCP cannot carry: play it over HTTP-TS or WebSocket, or set play_token: "off" for it`,
	}},
	{"bad limits", "limits:\n  max_streams: 0\n  conns_per_ip: -5\n  viewer_max_message: 10B\nstream_defaults:\n  publish_key: k\n  play_token: maybe\n", []string{
		`tsstream.yaml:2: limits.max_streams: 0 is out of range: 1 to 1000000`,
		`tsstream.yaml:3: limits.conns_per_ip: -5 is out of range: 1 to 1000000`,
		`tsstream.yaml:4: limits.viewer_max_message: 10B is out of range: use 125B to 1MiB`,
		`tsstream.yaml:6: stream_defaults.publish_key: a key for every stream is auth.publish_key; streams.NAME.publish_key is one stream's`,
		`tsstream.yaml:7: stream_defaults.play_token: "maybe" is not one of on, off`,
	}},
	{"tls half set", "http:\n  tls_cert: c.pem\nplay:\n  - listen: ':1'\n    protocol: tcp\n    tls: true\n", []string{
		`tsstream.yaml:2: http.tls_key: set http.tls_cert and http.tls_key together`,
		`tsstream.yaml:6: play[0].tls: only a ws listener speaks TLS (WSS)`,
	}},
	{"push in stream_defaults", "stream_defaults:\n  push: [tcp://127.0.0.1:9000]\n", []string{
		"tsstream.yaml:2: stream_defaults.push: push targets belong to one stream: list them under streams.NAME.push",
	}},
	{"bad format", "name: n\nlog_level: info\ndefault_stream: live\nshutdown_timeout: 5s\nstreams:\n  cam1:\n    format: mp4\n", []string{
		`tsstream.yaml:7: streams.cam1.format: "mp4" is not one of auto, ts, raw`,
	}},
	{"bad size unit", "stream_defaults:\n  ring_bytes: 12XB\n", []string{
		`tsstream.yaml:2: stream_defaults.ring_bytes: "12XB" is not a size: use a number of bytes, or one with a unit: KB, MB, GB (1000-based), KiB, MiB, GiB (1024-based)`,
	}},
	{"negative size", "http:\n  max_header_bytes: -1\nstream_defaults:\n  ring_bytes: -2MiB\n", []string{
		"tsstream.yaml:2: http.max_header_bytes: must be positive, got -1B",
		"tsstream.yaml:4: stream_defaults.ring_bytes: must be positive, got -2MiB",
	}},
	{"size out of range", "streams:\n  x: {ring_bytes: 2GiB}\n", []string{
		"tsstream.yaml:2: streams.x.ring_bytes: 2GiB is out of range: use 64KiB to 1GiB",
	}},
	{"duration as bare int", "shutdown_timeout: 5\nstream_defaults:\n  skip_window: 1.5\n", []string{
		`tsstream.yaml:1: shutdown_timeout: 5 has no unit: write it as "5s" (or use ms, m, h)`,
		`tsstream.yaml:3: stream_defaults.skip_window: 1.5 has no unit: write it as "1.5s" (or use ms, m, h)`,
	}},
	{"bad duration", "http: {read_header_timeout: soon}\n", []string{
		`tsstream.yaml:1: http.read_header_timeout: "soon" is not a duration: use a number with a unit, such as 500ms, 10s, 1m30s`,
	}},
	{"bad listen", "ingest:\n  - listen: nope\n  - listen: 8088\n  - listen: ':99999'\n  - listen: 'a b:1'\n", []string{
		`tsstream.yaml:2: ingest[0].listen: "nope" is not host:port: missing port in address`,
		`tsstream.yaml:3: ingest[1].listen: "8088" is not host:port; for all interfaces write ":8088"`,
		`tsstream.yaml:4: ingest[2].listen: ":99999": port "99999" is not a number from 0 to 65535`,
		`tsstream.yaml:5: ingest[3].listen: "a b:1": "a b" is not an IP address or host name`,
	}},
	{"duplicate listen in file", "play:\n  - listen: ':7000'\n    protocol: ws\n  - listen: 0.0.0.0:7000\n    protocol: tcp\n", []string{
		`tsstream.yaml:4: play[1].listen: "0.0.0.0:7000" (tcp) is already used by play[0].listen (":7000")`,
	}},
	{"duplicate of a default listener", "log_level: info\nhttp: {listen: ':50001'}\n", []string{
		`tsstream.yaml:2: ingest[0].listen: ":50001" (tcp) is already used by http.listen (":50001")`,
	}},
	{"bad stream name as key", "streams:\n  ok: {}\n  a/b:\n    format: ts\n", []string{
		`tsstream.yaml:3: streams["a/b"]: stream name "a/b": ` + nameRule,
	}},
	{"bad stream name in ingest", "ingest:\n  - listen: ':1'\n    stream: .hidden\n", []string{
		`tsstream.yaml:3: ingest[0].stream: stream name ".hidden": ` + nameRule,
	}},
	{"several at once, by line", "log_level: loud\nhttp:\n  listen: x\nstreams:\n  cam1: {format: mp4, takeover: maybe}\nplay: [{listen: ':1'}]\nbogus: 1\n", []string{
		`tsstream.yaml:1: log_level: "loud" is not one of debug, info, warn, error`,
		`tsstream.yaml:3: http.listen: "x" is not host:port: missing port in address`,
		`tsstream.yaml:5: streams.cam1.takeover: expected true or false, got "maybe"`,
		`tsstream.yaml:5: streams.cam1.format: "mp4" is not one of auto, ts, raw`,
		"tsstream.yaml:6: play[0].protocol: required: ws (WebSocket on any path) or tcp (raw TS to each connection)",
		"tsstream.yaml:7: bogus: unknown key (known: name, log_level, default_stream, shutdown_timeout, max_hops, http, monitor, ingest, play, stream_defaults, streams, trusted_proxies, forwarded_header, auth, limits, pulls)",
	}},
	{"syntax error", "log_level: info\nhttp: {listen: ':1'\nname: x\n", []string{
		"tsstream.yaml:2: invalid YAML: did not find expected ',' or '}'",
	}},
	{"syntax error on line 1", "http: listen: ':1'\n", []string{
		"tsstream.yaml:1: invalid YAML: mapping values are not allowed in this context",
	}},
	{"syntax error, missing colon", "a: 1\nb: 2\nc 2\nd: 3\n", []string{
		"tsstream.yaml:3: invalid YAML: could not find expected ':'",
	}},
	{"tab indent", "http:\n\tlisten: ':1'\n", []string{
		"tsstream.yaml:2: invalid YAML: found character that cannot start any token",
	}},
	{"list where a mapping belongs", "http:\n  - listen: ':1'\n", []string{
		"tsstream.yaml:1: http: expected a mapping of keys, got a list",
	}},
	{"wrong types", "streams: [cam1]\ningest: {listen: ':1'}\nplay: [':1']\nname: [a]\nstream_defaults: {max_skips: many, ring_bytes: [1]}\n", []string{
		"tsstream.yaml:1: streams: expected a mapping of names, got a list",
		"tsstream.yaml:2: ingest: expected a list, got a mapping",
		`tsstream.yaml:3: play[0]: expected a mapping of keys, got ":1"`,
		"tsstream.yaml:4: name: expected a string, got a list",
		`tsstream.yaml:5: stream_defaults.max_skips: expected a whole number, got "many"`,
		"tsstream.yaml:5: stream_defaults.ring_bytes: expected a size such as 8MiB, got a list",
	}},
	{"top level list", "- a\n- b\n", []string{
		"tsstream.yaml:1: expected a mapping of keys, got a list",
	}},
	{"key set twice", "log_level: info\nhttp: {}\nlog_level: debug\n", []string{
		"tsstream.yaml:3: log_level: set twice (first at line 1); remove one",
	}},
	{"two documents", "log_level: info\n---\nlog_level: debug\n", []string{
		`tsstream.yaml:2: a second YAML document; a config file holds one (remove the "---")`,
	}},
	{"takeover false under true default", "stream_defaults: {takeover: true}\nstreams:\n  x:\n    takeover: false\n", []string{
		"tsstream.yaml:4: streams.x.takeover: false cannot override stream_defaults.takeover: true (a false field inherits); set takeover per stream instead",
	}},
	{"protocols", "ingest:\n  - listen: ':1'\n    protocols: [tcp, sctp, tcp]\n  - listen: ':2'\n    protocols: []\n", []string{
		`tsstream.yaml:3: ingest[0].protocols[1]: "sctp" is not one of tcp, udp`,
		`tsstream.yaml:3: ingest[0].protocols[2]: "tcp" is listed twice`,
		"tsstream.yaml:5: ingest[1].protocols: list at least one of tcp, udp",
	}},
	{"bad default stream, reported once", "default_stream: a b\n", []string{
		`tsstream.yaml:1: default_stream: stream name "a b": ` + nameRule,
	}},
	{"monitor", "monitor:\n  report_to: ftp://m:1\n  report_interval: 500ms\n", []string{
		`tsstream.yaml:2: monitor.report_to: monitor URL "ftp://m:1": use http://HOST:PORT of the monitor node`,
		"tsstream.yaml:3: monitor.report_interval: 500ms is out of range: 1s to 1m",
	}},
	{"node name", "name: my node\n", []string{
		`tsstream.yaml:1: name: node name "my node": ` + nameRule,
	}},
	{"empty value of a string", "log_level:\n", []string{
		`tsstream.yaml:1: log_level: "" is not one of debug, info, warn, error`,
	}},
	{"merge of itself", "stream_defaults: &d\n  <<: *d\n", []string{
		"tsstream.yaml:2: stream_defaults: merge keys (<<) nested more than 16 deep",
	}},
	{"utf-16", "\xff\xfel\x00o\x00", []string{
		"tsstream.yaml: the file is UTF-16: save it as UTF-8",
	}},
	{"unknown anchor", "http: *nope\n", []string{
		"tsstream.yaml:1: invalid YAML: unknown anchor 'nope' referenced",
	}},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range parseErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in), "tsstream.yaml")
			if c != nil {
				t.Errorf("got a config with the error")
			}
			got := errorStrings(err)
			if !slices.Equal(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "tsstream.yaml" {
				t.Errorf("errors.As(*Error) = %v, %+v", err, e)
			}
		})
	}
}

func TestParseAliases(t *testing.T) {
	const in = `
stream_defaults: &base
  ring_bytes: 1MiB
  max_skips: 9
ingest:
  - &cam {listen: ':1', stream: cam, protocols: [tcp]}
  - {<<: *cam, listen: ':2'}
streams:
  a: *base
  b:
    <<: [*base, {ring_bytes: 2MiB, format: raw}]
    max_skips: 4
`
	c, err := Parse([]byte(in), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Ingest, []Ingest{{Listen: ":1", Stream: "cam", Protocols: []string{"tcp"}}, {Listen: ":2", Stream: "cam", Protocols: []string{"tcp"}}}; !slices.EqualFunc(got, want, func(a, b Ingest) bool {
		return a.Listen == b.Listen && a.Stream == b.Stream && slices.Equal(a.Protocols, b.Protocols)
	}) {
		t.Errorf("ingest = %+v", got)
	}
	if got := c.Streams["a"]; got.RingBytes != MiB || got.MaxSkips != 9 {
		t.Errorf("a = %+v", got)
	}
	if got := c.Streams["b"]; got.RingBytes != MiB || got.MaxSkips != 4 || got.Format != "raw" {
		t.Errorf("b = %+v (the first merged mapping wins, own keys win over merged)", got)
	}
}

func TestParseAliasBomb(t *testing.T) {
	// A 17 KB file that names a list of 1000 protocols 1000 times.
	var b strings.Builder
	b.WriteString("ingest:\n  - {listen: ':1', protocols: &p [" + strings.Repeat("tcp, ", 999) + "tcp]}\n")
	for range 999 {
		b.WriteString("  - {listen: ':1', protocols: *p}\n")
	}
	_, err := Parse([]byte(b.String()), "t.yaml")
	got := errorStrings(err)
	want := "t.yaml:"
	if len(got) != 1 || !strings.HasPrefix(got[0], want) || !strings.HasSuffix(got[0], "more than 100000 values, counting every use of an alias: simplify the file") {
		t.Errorf("%d errors, first: %.300v", len(got), got)
	}
}

// TestSyntaxErrorLines checks the repairs of yaml.v3's line numbers.
func TestSyntaxErrorLines(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a: b: c\n", "1: invalid YAML: mapping values are not allowed in this context"},
		{"a: 1\nb: c: d\n", "2: invalid YAML: mapping values are not allowed in this context"},
		{"a: 1\nb: {x: 1\nc: 2\n", "2: invalid YAML: did not find expected ',' or '}'"},
		{"a: 1\n- b\n", "2: invalid YAML: did not find expected key"},
		{"a: 1\nb: 2\n- c\n", "3: invalid YAML: did not find expected key"},
		{"a:\n  b: 1\n c: 2\n", "3: invalid YAML: did not find expected key"},
		{"a: 1\nb:\n  - x\n - y\n", "4: invalid YAML: did not find expected key"},
		{"a: 1\nb: !x!y z\n", "2: invalid YAML: found undefined tag handle"},
		{"v:\n- [A,\n", "2: invalid YAML: did not find expected node content"},
		{"a: 1\nb: 2\nc: 'x\n", "3: invalid YAML: found unexpected end of stream"},
		{"a: 1\nb: 2\nc: \x01\n", "3: invalid YAML: control characters are not allowed"},
		{"a: 1\nb: \xff\n", "2: invalid YAML: invalid leading UTF-8 octet"},
		{"a: 1\nb:\n  c: *x\n", "3: invalid YAML: unknown anchor 'x' referenced"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), "f")
			if want := "f:" + tt.want; err == nil || err.Error() != want {
				t.Errorf("got %v, want %s", err, want)
			}
		})
	}
}
