package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func sec(n float64) Duration { return Duration(n * float64(time.Second)) }

func TestDefault(t *testing.T) {
	c := Default()
	tests := []struct {
		name      string
		got, want any
	}{
		{"log_level", c.LogLevel, "info"},
		{"default_stream", c.DefaultStream, "live"},
		{"shutdown_timeout", c.ShutdownTimeout, sec(5)},
		{"max_hops", c.MaxHops, 8},
		{"http", c.HTTP, HTTP{Listen: ":8088", ReadHeaderTimeout: sec(10), MaxHeaderBytes: 16384}},
		{"ingest", c.Ingest, []Ingest{{Listen: ":50001", Stream: "live", Protocols: []string{"tcp", "udp"}}}},
		{"play", c.Play, []Play{{Listen: ":50002", Stream: "live", Protocol: "ws"}}},
		{"stream_defaults", c.StreamDefaults, StreamOptions{Format: "auto", RingBytes: 8 << 20,
			WriteTimeout: sec(10), MaxUnsent: 128 << 10, MaxSkips: 3, SkipWindow: sec(30),
			GOPCache: "on", GOPMaxBytes: 4 << 20, GOPMaxAge: sec(10), PullOrder: "failover",
			PlayToken: "off", PublishIdleTimeout: sec(30)}},
		{"streams", c.Streams, map[string]StreamOptions{}},
		{"auth", c.Auth, Auth{}},
		{"limits", c.Limits, Limits{MaxStreams: 1000, MaxViewers: 10000, ConnsPerIP: 100,
			ConnsPerIPExempt: []string{"127.0.0.0/8", "::1/128"}, ViewerMaxMessage: 4096}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
	if err := ValidStreamName(c.Name); err != nil {
		t.Errorf("Name: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	// Default must hand out fresh lists each time.
	c.Ingest[0].Protocols[0] = "changed"
	if Default().Ingest[0].Protocols[0] != "tcp" {
		t.Error("Default shares its lists between calls")
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	for _, in := range []string{"", "\n", "# only a comment\n", "---\n", "~\n", "{}\n", "http:\n", "http: {}\n"} {
		t.Run(strings.TrimSpace(in), func(t *testing.T) {
			got, err := Parse([]byte(in), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if want := Default(); !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

// fullConfig is what testdata/example.yaml decode to.
func fullConfig() *Config {
	return &Config{
		Name:            "edge-1",
		LogLevel:        "debug",
		DefaultStream:   "main",
		ShutdownTimeout: sec(15),
		MaxHops:         4,
		HTTP: HTTP{Listen: "127.0.0.1:8080", ReadHeaderTimeout: sec(5), MaxHeaderBytes: 32 * 1024, ReusePort: true,
			TLSCert: "/etc/tsstream/cert.pem", TLSKey: "/etc/tsstream/key.pem"},
		Monitor: Monitor{ReportTo: "http://monitor:8088", ReportInterval: sec(5), ReportToken: "cluster-report-key"},
		Ingest: []Ingest{
			{Listen: ":9001", Stream: "main", Protocols: []string{"tcp", "udp"}},
			{Listen: "0.0.0.0:9002", Stream: "cam1", Protocols: []string{"udp"},
				Allow: []string{"192.0.2.0/24", "2001:db8::/32"}, Deny: []string{"192.0.2.66"}},
		},
		Play: []Play{
			{Listen: ":9003", Stream: "main", Protocol: "ws", ReusePort: true, TLS: true},
			{Listen: "[::1]:9004", Stream: "cam1", Protocol: "tcp"},
		},
		StreamDefaults: StreamOptions{Format: "ts", Takeover: true, RingBytes: 16 << 20, RingAge: sec(60),
			WriteTimeout: sec(5), MaxUnsent: 256 << 10, MaxSkips: 5, SkipWindow: sec(60),
			GOPCache: "on", GOPMaxBytes: 8 << 20, GOPMaxAge: sec(5), PullOrder: "failover",
			PlayToken: "off", MaxViewers: 500, MaxPublishRate: 4_000_000, PublishIdleTimeout: sec(60)},
		Streams: map[string]StreamOptions{
			"cam1": {Format: "auto", Takeover: true, RingBytes: 64 << 20, RingAge: sec(120),
				WriteTimeout: sec(20), MaxUnsent: 64 << 10, MaxSkips: 10, SkipWindow: sec(150),
				GOPCache: "off", GOPMaxBytes: 2 << 20, GOPMaxAge: sec(20), PullOrder: "failover",
				Push:       []string{"tcp://127.0.0.1:9100", "udp://239.1.1.1:1234?ttl=4", "http://edge-2:8088/publish/cam1?key=secret"},
				PublishKey: "cam1-key", PlayToken: "off", MaxViewers: 2000, MaxPublishRate: 10_000_000, PublishIdleTimeout: sec(10)},
			"telemetry": {Format: "raw", Takeover: true, RingBytes: 1_000_000, RingAge: sec(60),
				WriteTimeout: sec(5), MaxUnsent: 256 << 10, MaxSkips: 5, SkipWindow: sec(60),
				GOPCache: "on", GOPMaxBytes: 8 << 20, GOPMaxAge: sec(5), PullOrder: "failover",
				PlayToken: "off", MaxViewers: 500, MaxPublishRate: 4_000_000, PublishIdleTimeout: sec(60)},
			"relayed": {Format: "ts", Takeover: true, RingBytes: 16 << 20, RingAge: sec(60),
				WriteTimeout: sec(5), MaxUnsent: 256 << 10, MaxSkips: 5, SkipWindow: sec(60),
				GOPCache: "on", GOPMaxBytes: 8 << 20, GOPMaxAge: sec(5), PullOrder: "round-robin",
				Pull:      []string{"http://origin-1:8088/live/relayed.ts", "http://origin-2:8088/live/relayed.ts", "udp://@239.1.1.1:1234"},
				PlayToken: "on", MaxViewers: 500, MaxPublishRate: 4_000_000, PublishIdleTimeout: sec(60)},
		},
		TrustedProxies: []string{"127.0.0.1", "::1"}, ForwardedHeader: "x-forwarded-for",
		Auth: Auth{PublishKey: "all-streams-key", PublishAllow: []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8"},
			PublishDeny: []string{"10.9.0.0/16"}, TokenSecret: "0123456789abcdef0123456789abcdef",
			PlayDeny: []string{"198.51.100.0/24"},
			APIToken: "api-secret", APIUser: "admin", APIPassword: "admin-secret",
			ReportToken: "cluster-report-key", ReportAllow: []string{"127.0.0.0/8", "10.0.0.0/8"}},
		Limits: Limits{MaxStreams: 100, MaxViewers: 5000, ConnsPerIP: 50,
			ConnsPerIPExempt: []string{"127.0.0.0/8"}, ViewerMaxMessage: 1024},
		Pulls: []Pull{
			{Stream: "*", From: []string{"http://origin-1:8088/live/{stream}.ts", "http://origin-2:8088/live/{stream}.ts"},
				Order: "failover", StartTimeout: sec(3), Linger: sec(30)},
			{Stream: "archive", From: []string{"http://origin-1:8088/live/archive.ts"}, Static: true, Reliable: true},
		},
	}
}

func TestParseFull(t *testing.T) {
	for _, file := range []string{"testdata/example.yaml"} {
		t.Run(file, func(t *testing.T) {
			got, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if want := fullConfig(); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestFullHasEveryKey keeps testdata/example.yaml complete: every key of
// every section must appear in it.
func TestFullHasEveryKey(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseDocument(data, "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := newDecoder("example.yaml")
	d.document(doc, Default())
	index, streamKey := regexp.MustCompile(`\[\d+\]`), regexp.MustCompile(`^streams\.[A-Za-z0-9_-]+`)
	present := make(map[string]bool)
	for p := range d.lines {
		present[streamKey.ReplaceAllString(index.ReplaceAllString(p, "[]"), "streams.*")] = true
	}
	for _, p := range schemaPaths(reflect.TypeFor[Config](), "") {
		if !present[p] && p != "stream_defaults.push" && p != "stream_defaults.pull" &&
			p != "stream_defaults.publish_key" { // refused there
			t.Errorf("testdata/example.yaml lacks %s", p)
		}
	}
}

// schemaPaths lists the key paths of type t, with [] for list items and *
// for map keys.
func schemaPaths(t reflect.Type, prefix string) []string {
	var out []string
	if prefix != "" {
		out = append(out, prefix)
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			out = append(out, schemaPaths(t.Field(i).Type, keyPath(prefix, yamlName(t.Field(i))))...)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			out = append(out, schemaPaths(t.Elem(), prefix+"[]")...)
		}
	case reflect.Map:
		out = append(out, schemaPaths(t.Elem(), prefix+".*")...)
	}
	return out
}

func TestParseLists(t *testing.T) {
	defIngest := []Ingest{{Listen: ":50001", Stream: "live", Protocols: []string{"tcp", "udp"}}}
	tests := []struct {
		name   string
		in     string
		ingest []Ingest
		play   []Play
	}{
		{"omitted", "log_level: info\n", defIngest, []Play{{Listen: ":50002", Stream: "live", Protocol: "ws"}}},
		{"empty list", "ingest: []\nplay: []\n", []Ingest{}, []Play{}},
		{"null", "ingest:\nplay: ~\n", []Ingest{}, []Play{}},
		{"replaced", "ingest: [{listen: ':9000'}]\n",
			[]Ingest{{Listen: ":9000", Stream: "live", Protocols: []string{"tcp", "udp"}}}, []Play{{Listen: ":50002", Stream: "live", Protocol: "ws"}}},
		{"default stream followed", "default_stream: cam\n",
			[]Ingest{{Listen: ":50001", Stream: "cam", Protocols: []string{"tcp", "udp"}}}, []Play{{Listen: ":50002", Stream: "cam", Protocol: "ws"}}},
		{"udp and tcp share a port", "ingest: [{listen: ':7000', protocols: [udp]}]\nplay: [{listen: ':7000', protocol: tcp}]\n",
			[]Ingest{{Listen: ":7000", Stream: "live", Protocols: []string{"udp"}}}, []Play{{Listen: ":7000", Stream: "live", Protocol: "tcp"}}},
		{"port 0 never collides", "http: {listen: '127.0.0.1:0'}\nplay: [{listen: '127.0.0.1:0', protocol: ws}, {listen: ':0', protocol: tcp}]\n",
			defIngest, []Play{{Listen: "127.0.0.1:0", Stream: "live", Protocol: "ws"}, {Listen: ":0", Stream: "live", Protocol: "tcp"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if c.Ingest == nil || c.Play == nil {
				t.Fatalf("nil list: ingest %#v, play %#v", c.Ingest, c.Play)
			}
			if !reflect.DeepEqual(c.Ingest, tt.ingest) || !reflect.DeepEqual(c.Play, tt.play) {
				t.Errorf("ingest %#v, play %#v\nwant %#v, %#v", c.Ingest, c.Play, tt.ingest, tt.play)
			}
		})
	}
}

func TestStreamInheritance(t *testing.T) {
	const in = `
stream_defaults:
  ring_bytes: 16MiB
  write_timeout: 3s
streams:
  cam1:
    format: raw
  cam2:
    ring_bytes: 0      # zero inherits
    max_skips: 7
  cam3:                # listed with the defaults
`
	c, err := Parse([]byte(in), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defaults := StreamOptions{Format: "auto", RingBytes: 16 << 20, WriteTimeout: sec(3), MaxUnsent: 128 << 10, MaxSkips: 3, SkipWindow: sec(30),
		GOPCache: "on", GOPMaxBytes: 4 << 20, GOPMaxAge: sec(10), PullOrder: "failover",
		PlayToken: "off", PublishIdleTimeout: sec(30)}
	with := func(f func(*StreamOptions)) StreamOptions { o := defaults; f(&o); return o }
	tests := []struct {
		stream string
		want   StreamOptions
	}{
		{"cam1", with(func(o *StreamOptions) { o.Format = "raw" })},
		{"cam2", with(func(o *StreamOptions) { o.MaxSkips = 7 })},
		{"cam3", defaults},
		{"unlisted", defaults},
	}
	for _, tt := range tests {
		t.Run(tt.stream, func(t *testing.T) {
			if got := c.Stream(tt.stream); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Stream = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, ok := c.Streams["cam3"]; !ok {
		t.Error("cam3 (no options) missing from Streams")
	}
	if got := c.Streams["cam1"]; !reflect.DeepEqual(got, tests[0].want) {
		t.Errorf("Parse did not fill cam1 from stream_defaults: %+v", got)
	}
}

func TestStreamHandBuilt(t *testing.T) {
	c := &Config{Streams: map[string]StreamOptions{"x": {Format: "ts", Takeover: true}}}
	want := defaultStreamOptions()
	if got := c.Stream("y"); !reflect.DeepEqual(got, want) {
		t.Errorf("zero StreamDefaults: Stream = %+v, want built-in %+v", got, want)
	}
	want.Format, want.Takeover = "ts", true
	if got := c.Stream("x"); !reflect.DeepEqual(got, want) {
		t.Errorf("Stream(x) = %+v, want %+v", got, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tsstream.yaml")
	if err := os.WriteFile(path, []byte("log_level: warn\nhttp:\n  listen: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + `:3: http.listen: "nope" is not host:port: missing port in address`
	if err == nil || err.Error() != want {
		t.Errorf("Load = %v, want %s", err, want)
	}
	missing := filepath.Join(dir, "missing.yaml")
	if _, err := Load(missing); err == nil || !os.IsNotExist(unwrapAll(err)) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) = %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func TestValidate(t *testing.T) {
	rule := `use 1-64 of A-Z a-z 0-9 _ - . not starting with "."`
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"default", func(c *Config) {}, nil},
		{"all on port 0", func(c *Config) {
			c.HTTP.Listen, c.Ingest[0].Listen, c.Play[0].Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		}, nil},
		{"http disabled", func(c *Config) { c.HTTP.Listen = "" }, nil},
		{"http on the play port", func(c *Config) { c.HTTP.Listen = "127.0.0.1:50002" },
			[]string{`play[0].listen: ":50002" (tcp) is already used by http.listen ("127.0.0.1:50002")`}},
		{"two ingests on one port", func(c *Config) {
			c.Ingest = append(c.Ingest, Ingest{Listen: "[::]:50001", Stream: "b", Protocols: []string{"udp", "tcp"}})
		}, []string{`ingest[1].listen: "[::]:50001" (tcp) is already used by ingest[0].listen (":50001")`}},
		{"ingest without protocols", func(c *Config) { c.Ingest[0].Protocols = nil },
			[]string{"ingest[0].protocols: list at least one of tcp, udp"}},
		{"unfilled stream", func(c *Config) { c.Play[0].Stream = "" },
			[]string{`play[0].stream: stream name "": ` + rule}},
		{"zero stream_defaults", func(c *Config) { c.StreamDefaults = StreamOptions{} }, []string{
			`stream_defaults.format: "" is not one of auto, ts, raw`,
			"stream_defaults.ring_bytes: must be positive, got 0B",
			"stream_defaults.write_timeout: must be positive, got 0s",
			"stream_defaults.max_unsent: must be positive, got 0B",
			"stream_defaults.max_skips: must be at least 1, got 0",
			"stream_defaults.skip_window: must be positive, got 0s",
			"stream_defaults.gop_cache: \"\" is not one of on, off",
			"stream_defaults.gop_max_bytes: must be positive, got 0B",
			"stream_defaults.gop_max_age: must be positive, got 0s",
			`stream_defaults.pull_order: "" is not one of failover, round-robin`,
		}},
		{"zero override inherits", func(c *Config) { c.Streams["x"] = StreamOptions{} }, nil},
		{"bad override", func(c *Config) {
			c.Streams["x"] = StreamOptions{RingBytes: 10, MaxUnsent: 2 * GiB, MaxSkips: -1, SkipWindow: Duration(-time.Second)}
			c.Streams["a b"] = StreamOptions{Format: "mp4"}
		}, []string{
			`streams["a b"]: stream name "a b": ` + rule,
			`streams["a b"].format: "mp4" is not one of auto, ts, raw`,
			"streams.x.ring_bytes: 10B is out of range: use 64KiB to 1GiB",
			"streams.x.max_unsent: 2GiB is out of range: use 4KiB to 1GiB",
			"streams.x.max_skips: must be at least 1, got -1",
			"streams.x.skip_window: must be positive, got -1s",
		}},
		{"top", func(c *Config) {
			c.Name, c.LogLevel, c.DefaultStream, c.ShutdownTimeout = "", "loud", "a/b", Duration(2*time.Hour)
		}, []string{
			`name: node name "": ` + rule,
			`log_level: "loud" is not one of debug, info, warn, error`,
			`default_stream: stream name "a/b": ` + rule,
			"shutdown_timeout: 2h0m0s is too long: at most 1h0m0s",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(c)
			if got := errorStrings(c.Validate()); !slices.Equal(got, tt.want) {
				t.Errorf("Validate:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// errorStrings lists the errors joined in err, one string each.
func errorStrings(err error) []string {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range j.Unwrap() {
		out = append(out, e.Error())
	}
	return out
}

// TestReadmeQuotesExample keeps the README's configuration reference equal
// to testdata/example.yaml, which the tests above hold complete and valid.
func TestReadmeQuotesExample(t *testing.T) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, append([]byte("```yaml\n"), example...)) {
		t.Fatal("README.md does not quote internal/config/testdata/example.yaml verbatim in a ```yaml block; copy it over")
	}
}
