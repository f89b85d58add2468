// Package config loads and validates tsstream's YAML configuration.
package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"
)

// Config is the whole configuration of a node.
//
// Default returns the configuration used when there is no file. Parse and
// Load decode a file over it: absent keys keep their defaults, present keys
// replace them, and a present list replaces the whole default list
// ("ingest: []" means no ingest listeners). A key with an empty (null) value
// is set to its zero value: "" for strings, an empty list or map; for a
// section such as "http:" it changes nothing.
type Config struct {
	// Name is the node name used in relay paths and the cluster view.
	// Default and Parse turn "" into the host name, or "tsstream" when the
	// host name is not a valid name (see ValidStreamName for the rule).
	Name string `yaml:"name"`
	// LogLevel is one of debug, info, warn, error (default info).
	LogLevel string `yaml:"log_level"`
	// DefaultStream is the stream of listeners that name none and of the
	// default listeners (default "live").
	DefaultStream string `yaml:"default_stream"`
	// ShutdownTimeout bounds how long shutdown waits for connections to
	// end (default 5s).
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// MaxHops is the longest relay path (the Tsstream-Path header of an
	// HTTP push) this node accepts a stream from (default 8, 1 to 64).
	MaxHops int `yaml:"max_hops"`
	// HTTP is the server for pages, play, publish, API and metrics.
	HTTP HTTP `yaml:"http"`
	// Monitor makes this node report its state to a monitor node.
	Monitor Monitor `yaml:"monitor"`
	// Ingest lists the TCP/UDP listeners that receive published bytes.
	// Default: one on :50001, TCP and UDP, into DefaultStream.
	Ingest []Ingest `yaml:"ingest"`
	// Play lists the listeners that send one stream to every connection.
	// Default: WebSocket on :50002 (any path) for DefaultStream.
	Play []Play `yaml:"play"`
	// StreamDefaults are the options of every stream; Streams overrides
	// them per stream.
	StreamDefaults StreamOptions `yaml:"stream_defaults"`
	// Streams holds per-stream overrides by stream name. A zero field
	// inherits StreamDefaults (use Config.Stream to read the result); Parse
	// also copies stream_defaults into every key a stream leaves out.
	Streams map[string]StreamOptions `yaml:"streams"`
	// TrustedProxies lists the reverse proxies (CIDRs or addresses) whose
	// ForwardedHeader names the client of an HTTP request: for a request
	// from one of them, allow-lists, token addresses, connections per
	// address and the log take the rightmost address in that header that
	// is not itself a trusted proxy. From any other source the header is
	// ignored. Default: none, every address is the connection's.
	TrustedProxies []string `yaml:"trusted_proxies,omitempty"`
	// ForwardedHeader is the header the trusted proxies write:
	// x-forwarded-for (the default) or forwarded (RFC 7239, its for=).
	// Only this one is read: a proxy passes the other on as the client
	// wrote it.
	ForwardedHeader string `yaml:"forwarded_header"`
	// Auth holds publish keys, play tokens, allow-lists and API
	// credentials; see "Securing a public node" in the README.
	Auth Auth `yaml:"auth"`
	// Limits bound streams, viewers and connections.
	Limits Limits `yaml:"limits"`
	// Pulls are rules that fetch streams from upstream nodes, on demand or
	// always, by name or pattern (see Pull).
	Pulls []Pull `yaml:"pulls,omitempty"`
}

// HTTP configures the HTTP server.
type HTTP struct {
	// Listen is the host:port of the server (default ":8088"); "" disables
	// the HTTP server.
	Listen string `yaml:"listen"`
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// MaxHeaderBytes bounds the size of a request's headers (default 16KiB,
	// 1KiB to 1MiB).
	MaxHeaderBytes Size `yaml:"max_header_bytes"`
	// ReusePort sets SO_REUSEPORT, so that several tsstream processes on
	// one host can share this port and the kernel spreads connections
	// among them (default false).
	ReusePort bool `yaml:"reuse_port"`
	// TLSCert and TLSKey are PEM files of a certificate (chain) and its
	// key; set both and the server speaks HTTPS and WSS only. The files
	// are read again when they change and on SIGHUP, without a restart.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// Monitor configures the reports to a monitor node (the cluster view).
// Every node is a monitor for the nodes that report to it.
type Monitor struct {
	// ReportTo is the monitor node's HTTP address, such as
	// "http://monitor:8088"; "" (the default) reports nowhere.
	ReportTo string `yaml:"report_to"`
	// ReportInterval is how often to report (default 2s, 1s to 1m). The
	// monitor marks a node stale after three intervals without a report.
	ReportInterval Duration `yaml:"report_interval"`
	// ReportToken is sent with every report as a bearer token: the
	// monitor's auth.report_token (default "": none; a user and password
	// in ReportTo are sent as basic auth, for a monitor that takes its API
	// credentials). A reload applies it.
	ReportToken string `yaml:"report_token"`
}

// Ingest is a listener that receives a published stream over TCP and/or UDP.
type Ingest struct {
	// Listen is the host:port to listen on; required.
	Listen string `yaml:"listen"`
	// Stream is the stream that receives the bytes; Parse fills "" with
	// DefaultStream.
	Stream string `yaml:"stream"`
	// Protocols is a non-empty subset of tcp, udp; Parse fills an absent
	// list with both.
	Protocols []string `yaml:"protocols"`
	// Allow lists the sources (CIDRs or addresses) this listener takes
	// bytes from; others are dropped on accept or arrival, and each is
	// logged once. Default (absent): loopback only, 127.0.0.0/8 and ::1,
	// whatever address the listener binds. ["0.0.0.0/0", "::/0"] takes
	// any source.
	Allow []string `yaml:"allow,omitempty"`
	// Deny lists sources refused even when Allow holds them.
	Deny []string `yaml:"deny,omitempty"`
}

// Play is a listener that sends one stream to every connection.
type Play struct {
	// Listen is the host:port to listen on; required.
	Listen string `yaml:"listen"`
	// Stream is the stream played; Parse fills "" with DefaultStream.
	Stream string `yaml:"stream"`
	// Protocol is ws (WebSocket on any path) or tcp (raw TS written to each
	// connection); required.
	Protocol string `yaml:"protocol"`
	// ReusePort sets SO_REUSEPORT, as for the HTTP server.
	ReusePort bool `yaml:"reuse_port"`
	// TLS serves a ws listener as WSS with http.tls_cert and http.tls_key
	// (default false).
	TLS bool `yaml:"tls"`
}

// StreamOptions are the settings of a stream.
type StreamOptions struct {
	// Format is what publishers send: auto (detect TS or raw bytes), ts or
	// raw (default auto).
	Format string `yaml:"format"`
	// Takeover lets a new publisher replace the live one instead of being
	// refused. Being a bool, a false in streams inherits like any zero
	// field, so Parse refuses "takeover: false" under a true
	// stream_defaults.takeover rather than ignore it.
	Takeover bool `yaml:"takeover"`
	// RingBytes is how many bytes are kept for readers (default 8MiB,
	// 64KiB to 1GiB).
	RingBytes Size `yaml:"ring_bytes"`
	// RingAge, when set, also bounds how old the bytes kept may be: with
	// ring_bytes it is the window in which a reliable link that pulls
	// from this node can resume after an outage (default none).
	RingAge Duration `yaml:"ring_age"`
	// WriteTimeout is how long a viewer's socket write may stall before the
	// viewer is disconnected (default 10s).
	WriteTimeout Duration `yaml:"write_timeout"`
	// MaxUnsent is how many bytes a viewer's TCP socket may hold not yet
	// sent (TCP_NOTSENT_LOWAT, Linux; default 128KiB, 4KiB to 1GiB). The
	// rest of a slow viewer's backlog stays in the ring, where it falls
	// out and skips ahead; without the bound the kernel queues megabytes
	// and the viewer drifts seconds behind unseen. What is in flight does
	// not count, so throughput over long round trips is not capped.
	// Reliable links are not bounded.
	MaxUnsent Size `yaml:"max_unsent"`
	// MaxSkips is how many times a viewer may fall out of the ring within
	// SkipWindow; one more and it is disconnected (default 3, at least 1).
	MaxSkips int `yaml:"max_skips"`
	// SkipWindow is the period over which skips are counted (default 30s).
	SkipWindow Duration `yaml:"skip_window"`
	// GOPCache is on (default) or off. On, a new viewer of TS video gets
	// the PAT/PMT and the stream from the newest keyframe, so it shows a
	// picture at once; off, it waits for the next keyframe.
	GOPCache string `yaml:"gop_cache"`
	// GOPMaxBytes and GOPMaxAge bound the cache: a newest keyframe further
	// back is not used and viewers wait for the next one (default 4MiB and
	// 10s).
	GOPMaxBytes Size     `yaml:"gop_max_bytes"`
	GOPMaxAge   Duration `yaml:"gop_max_age"`
	// Push lists targets the stream is forwarded to: tcp://host:port,
	// udp://host:port[?ttl=N&iface=NAME] (unicast or multicast) or
	// http://host:port/publish/NAME[?key=…] (another tsstream). Only under
	// streams.NAME: a list in stream_defaults would push every stream.
	Push []string `yaml:"push,omitempty"`
	// Pull lists upstream sources the stream is fetched from, tried in
	// turn: http://host:port/live/NAME.ts (another tsstream, any HTTP-TS),
	// tcp://host:port, udp://host:port or udp://@group:port (multicast).
	// Only under streams.NAME.
	Pull []string `yaml:"pull,omitempty"`
	// PullOrder is failover (default: the first source that works, from
	// the top after all failed) or round-robin.
	PullOrder string `yaml:"pull_order"`
	// PublishKey opens HTTP publishing of this stream (?key=), as
	// auth.publish_key does for all streams. Only under streams.NAME.
	PublishKey string `yaml:"publish_key"`
	// PlayToken is off (default) or on: on, every play URL of the stream
	// (HTTP-TS, WebSocket, the any-path WebSocket listener) needs ?token=,
	// signed with auth.token_secret (see `tsstream token`).
	PlayToken string `yaml:"play_token"`
	// MaxViewers bounds the stream's viewers (default: none of its own;
	// limits.max_viewers bounds all streams).
	MaxViewers int `yaml:"max_viewers"`
	// MaxPublishRate is the most bytes per second a publisher may send
	// ("2MB" is 16 Mbit/s), averaged with a two-second burst allowance: a
	// TCP or HTTP publisher above it is cut, UDP datagrams above it are
	// dropped (default: no ceiling).
	MaxPublishRate Size `yaml:"max_publish_rate"`
	// PublishIdleTimeout cuts a TCP or HTTP publisher that sends nothing
	// for this long, so that a silent connection cannot hold a stream
	// (default 30s; UDP sessions end after 5s without datagrams).
	PublishIdleTimeout Duration `yaml:"publish_idle_timeout"`
}

// Values of StreamOptions.Format, Ingest.Protocols and Play.Protocol.
const (
	FormatAuto = "auto"
	FormatTS   = "ts"
	FormatRaw  = "raw"

	On  = "on"
	Off = "off"

	ForwardedXFF     = "x-forwarded-for"
	ForwardedRFC7239 = "forwarded"

	ProtoTCP = "tcp"
	ProtoUDP = "udp"
	ProtoWS  = "ws"
)

// Default returns the configuration of a node started without a file.
func Default() *Config {
	const stream = "live"
	return &Config{
		Name:            hostname(),
		LogLevel:        "info",
		DefaultStream:   stream,
		ShutdownTimeout: Duration(5 * time.Second),
		MaxHops:         8,
		HTTP: HTTP{
			Listen:            ":8088",
			ReadHeaderTimeout: Duration(10 * time.Second),
			MaxHeaderBytes:    16 * KiB,
		},
		Monitor:         Monitor{ReportInterval: Duration(2 * time.Second)},
		ForwardedHeader: ForwardedXFF,
		Ingest:          defaultIngest(stream),
		Play:            defaultPlay(stream),
		StreamDefaults:  defaultStreamOptions(),
		Streams:         map[string]StreamOptions{},
		Limits:          defaultLimits(),
	}
}

func defaultIngest(stream string) []Ingest {
	return []Ingest{{Listen: ":50001", Stream: stream, Protocols: []string{ProtoTCP, ProtoUDP}}}
}

func defaultPlay(stream string) []Play {
	return []Play{{Listen: ":50002", Stream: stream, Protocol: ProtoWS}}
}

func defaultStreamOptions() StreamOptions {
	return StreamOptions{
		Format:       FormatAuto,
		RingBytes:    8 * MiB,
		WriteTimeout: Duration(10 * time.Second),
		MaxUnsent:    128 * KiB,
		MaxSkips:     3,
		SkipWindow:   Duration(30 * time.Second),
		GOPCache:     On,
		GOPMaxBytes:  4 * MiB,
		GOPMaxAge:    Duration(10 * time.Second),
		PullOrder:    "failover",
		PlayToken:    Off,

		PublishIdleTimeout: Duration(30 * time.Second),
	}
}

// hostname is the default node name.
func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "tsstream"
	}
	if validName(h) {
		return h
	}
	if short, _, _ := strings.Cut(h, "."); validName(short) {
		return short
	}
	return "tsstream"
}

// Load reads and parses the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes a YAML config over Default, fills what the file leaves to
// defaults (listener streams and protocols, stream options inherited from
// stream_defaults) and validates the result. filename only labels errors.
//
// On failure the error joins one *Error per problem, ordered by line, each
// naming the key path and, where known, the line: for example
//
//	tsstream.yaml:7: streams.cam1.format: "mp4" is not one of auto, ts, raw
func Parse(data []byte, filename string) (*Config, error) {
	doc, err := parseDocument(data, filename)
	if err != nil {
		return nil, err
	}
	c := Default()
	d := newDecoder(filename)
	d.document(doc, c)
	if d.budget <= 0 {
		return nil, join(d.errs) // the values are cut short: validating them tells nothing
	}
	d.fill(c)
	for _, e := range c.check() {
		if d.locate(e) {
			d.errs = append(d.errs, e)
		}
	}
	if len(d.errs) > 0 {
		sortByLine(d.errs)
		return nil, join(d.errs)
	}
	return c, nil
}

// fill sets what the file left to defaults: the node name, the default
// listeners' stream, each listener's stream and protocols, and every key a
// stream in streams leaves out, copied from stream_defaults.
func (d *decoder) fill(c *Config) {
	if c.Name == "" {
		c.Name = hostname()
	}
	if _, ok := d.lines["ingest"]; !ok {
		c.Ingest = defaultIngest(c.DefaultStream)
	}
	if _, ok := d.lines["play"]; !ok {
		c.Play = defaultPlay(c.DefaultStream)
	}
	for i := range c.Ingest {
		if c.Ingest[i].Stream == "" {
			c.Ingest[i].Stream = c.DefaultStream
		}
		if c.Ingest[i].Protocols == nil {
			c.Ingest[i].Protocols = []string{ProtoTCP, ProtoUDP}
		}
	}
	for i := range c.Play {
		if c.Play[i].Stream == "" {
			c.Play[i].Stream = c.DefaultStream
		}
	}
	for name, s := range c.Streams {
		c.Streams[name] = d.inherit(keyPath("streams", name), s, c.StreamDefaults)
	}
	// "push: []" and no push key mean the same: no targets (and for pull).
	if len(c.StreamDefaults.Push) == 0 {
		c.StreamDefaults.Push = nil
	}
	if len(c.StreamDefaults.Pull) == 0 {
		c.StreamDefaults.Pull = nil
	}
	c.Auth.PublishDeny = nilIfEmpty(c.Auth.PublishDeny)
	c.Auth.PlayAllow = nilIfEmpty(c.Auth.PlayAllow)
	c.Auth.PlayDeny = nilIfEmpty(c.Auth.PlayDeny)
	for i := range c.Ingest {
		c.Ingest[i].Deny = nilIfEmpty(c.Ingest[i].Deny)
	}
	for name, s := range c.Streams {
		if len(s.Push) == 0 {
			s.Push = nil
		}
		if len(s.Pull) == 0 {
			s.Pull = nil
		}
		c.Streams[name] = s
	}
}

func nilIfEmpty(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	return list
}

// inherit copies into s the fields of base whose keys are absent under path.
func (d *decoder) inherit(path string, s, base StreamOptions) StreamOptions {
	sv, bv := reflect.ValueOf(&s).Elem(), reflect.ValueOf(base)
	for i := range sv.NumField() {
		if _, ok := d.lines[keyPath(path, yamlName(sv.Type().Field(i)))]; !ok {
			sv.Field(i).Set(bv.Field(i))
		}
	}
	// A false takeover cannot be told from an unset one once decoded, so
	// Config.Stream would inherit true: refuse it instead of ignoring it.
	kp := keyPath(path, "takeover")
	if line, ok := d.lines[kp]; ok && !s.Takeover && base.Takeover {
		d.failf(line, kp, "false cannot override stream_defaults.takeover: true "+
			"(a false field inherits); set takeover per stream instead")
	}
	return s
}

// Validate checks a config, typically one changed after Parse (by
// command-line flags, say). It does no filling: every listener needs its
// stream and protocols set. Errors name the key path but no line.
func (c *Config) Validate() error {
	return join(c.check())
}

// Stream returns the options of the named stream: Streams[name] with its
// zero fields taken from StreamDefaults, and zero fields there taken from
// the built-in defaults. Takeover is true when either sets it.
func (c *Config) Stream(name string) StreamOptions {
	o := defaultStreamOptions().with(c.StreamDefaults)
	if s, ok := c.Streams[name]; ok {
		o = o.with(s)
	}
	return o
}

// with returns o with the non-zero fields of over replacing its own.
func (o StreamOptions) with(over StreamOptions) StreamOptions {
	if over.Format != "" {
		o.Format = over.Format
	}
	o.Takeover = o.Takeover || over.Takeover
	if over.RingBytes != 0 {
		o.RingBytes = over.RingBytes
	}
	if over.RingAge != 0 {
		o.RingAge = over.RingAge
	}
	if over.WriteTimeout != 0 {
		o.WriteTimeout = over.WriteTimeout
	}
	if over.MaxUnsent != 0 {
		o.MaxUnsent = over.MaxUnsent
	}
	if over.MaxSkips != 0 {
		o.MaxSkips = over.MaxSkips
	}
	if over.SkipWindow != 0 {
		o.SkipWindow = over.SkipWindow
	}
	if over.GOPCache != "" {
		o.GOPCache = over.GOPCache
	}
	if over.GOPMaxBytes != 0 {
		o.GOPMaxBytes = over.GOPMaxBytes
	}
	if over.GOPMaxAge != 0 {
		o.GOPMaxAge = over.GOPMaxAge
	}
	if over.Push != nil {
		o.Push = over.Push
	}
	if over.Pull != nil {
		o.Pull = over.Pull
	}
	if over.PullOrder != "" {
		o.PullOrder = over.PullOrder
	}
	return o.withAuth(over)
}

// withAuth is with for the security options.
func (o StreamOptions) withAuth(over StreamOptions) StreamOptions {
	if over.PublishKey != "" {
		o.PublishKey = over.PublishKey
	}
	if over.PlayToken != "" {
		o.PlayToken = over.PlayToken
	}
	if over.MaxViewers != 0 {
		o.MaxViewers = over.MaxViewers
	}
	if over.MaxPublishRate != 0 {
		o.MaxPublishRate = over.MaxPublishRate
	}
	if over.PublishIdleTimeout != 0 {
		o.PublishIdleTimeout = over.PublishIdleTimeout
	}
	return o
}
