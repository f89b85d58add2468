package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tsstream/tsstream/internal/monitor"
	"github.com/tsstream/tsstream/internal/pull"
	"github.com/tsstream/tsstream/internal/push"
)

// Limits of the values Validate accepts.
const (
	maxShutdownTimeout   = Duration(time.Hour)
	maxReadHeaderTimeout = Duration(10 * time.Minute)
	minHeaderBytes       = KiB
	maxHeaderBytes       = MiB
	minRingBytes         = 64 * KiB
	maxRingBytes         = GiB
	maxWriteTimeout      = Duration(10 * time.Minute)
	minMaxUnsent         = 4 * KiB
	maxSkipWindow        = Duration(24 * time.Hour)
)

var (
	logLevels = []string{"debug", "info", "warn", "error"}
	formats   = []string{FormatAuto, FormatTS, FormatRaw}
)

// validator collects the problems of a Config, each by key path.
type validator struct {
	errs []*Error
}

func (v *validator) failf(path, format string, args ...any) *Error {
	e := &Error{Path: path, Err: fmt.Errorf(format, args...)}
	v.errs = append(v.errs, e)
	return e
}

// check is Validate's work: one section after the other.
func (c *Config) check() []*Error {
	var v validator
	v.top(c)
	v.http(&c.HTTP)
	v.monitor(&c.Monitor)
	for i := range c.Ingest {
		v.ingest(indexPath("ingest", i), &c.Ingest[i], c.DefaultStream)
	}
	for i := range c.Play {
		v.play(indexPath("play", i), &c.Play[i], c.DefaultStream)
	}
	v.streamOptions("stream_defaults", c.StreamDefaults, nil)
	names := make([]string, 0, len(c.Streams))
	for name := range c.Streams {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := keyPath("streams", name)
		if err := ValidStreamName(name); err != nil {
			v.failf(p, "%w", err)
		}
		v.streamOptions(p, c.Streams[name], &c.StreamDefaults)
	}
	v.pulls(c.Pulls)
	v.listeners(c.listeners())
	tokens, _ := c.tokenStreams()
	v.auth(&c.Auth, tokens)
	v.trustedProxies(c)
	v.limits(&c.Limits)
	v.playTokens(c)
	v.tls(c)
	return v.errs
}

func (v *validator) top(c *Config) {
	if !validName(c.Name) {
		v.failf("name", "%w", nameError("node name", c.Name))
	}
	v.oneOf("log_level", c.LogLevel, logLevels)
	v.stream("default_stream", c.DefaultStream)
	v.duration("shutdown_timeout", c.ShutdownTimeout, maxShutdownTimeout)
	if c.MaxHops < 1 || c.MaxHops > 64 {
		v.failf("max_hops", "%d is out of range: 1 to 64", c.MaxHops)
	}
}

func (v *validator) http(h *HTTP) {
	if h.Listen != "" {
		v.addr("http.listen", h.Listen)
	}
	v.duration("http.read_header_timeout", h.ReadHeaderTimeout, maxReadHeaderTimeout)
	v.size("http.max_header_bytes", h.MaxHeaderBytes, minHeaderBytes, maxHeaderBytes)
}

func (v *validator) monitor(m *Monitor) {
	if m.ReportTo != "" {
		if _, err := monitor.ReportURL(m.ReportTo); err != nil {
			v.failf("monitor.report_to", "%w", err)
		}
	}
	if m.ReportInterval < Duration(time.Second) || m.ReportInterval > Duration(time.Minute) {
		v.failf("monitor.report_interval", "%s is out of range: 1s to 1m", m.ReportInterval)
	}
	v.headerToken("monitor.report_token", m.ReportToken)
}

// ingest checks an ingest listener; a stream equal to def is checked as
// default_stream.
func (v *validator) ingest(path string, in *Ingest, def string) {
	v.addr(path+".listen", in.Listen)
	if in.Stream != def {
		v.stream(path+".stream", in.Stream)
	}
	if len(in.Protocols) == 0 {
		v.failf(path+".protocols", "list at least one of tcp, udp")
	}
	seen := make(map[string]bool, 2)
	for i, p := range in.Protocols {
		ip := indexPath(path+".protocols", i)
		switch {
		case p != ProtoTCP && p != ProtoUDP:
			v.failf(ip, "%q is not one of tcp, udp", p)
		case seen[p]:
			v.failf(ip, "%q is listed twice", p)
		}
		seen[p] = true
	}
	v.cidrs(path+".allow", in.Allow, true)
	v.cidrs(path+".deny", in.Deny, false)
}

// play checks a play listener; a stream equal to def is checked as
// default_stream.
func (v *validator) play(path string, p *Play, def string) {
	v.addr(path+".listen", p.Listen)
	if p.Stream != def {
		v.stream(path+".stream", p.Stream)
	}
	switch p.Protocol {
	case ProtoWS, ProtoTCP:
	case "":
		v.failf(path+".protocol", "required: ws (WebSocket on any path) or tcp (raw TS to each connection)")
	default:
		v.failf(path+".protocol", "%q is not one of ws, tcp", p.Protocol)
	}
	if p.TLS && p.Protocol != ProtoWS {
		v.failf(path+".tls", "only a ws listener speaks TLS (WSS)")
	}
}

// streamOptions checks the options at path. With base, they override it:
// a zero field inherits base, and a field equal to base's is left to the
// check of base.
func (v *validator) streamOptions(path string, o StreamOptions, base *StreamOptions) {
	var b StreamOptions
	if base != nil {
		b = *base
	}
	check := func(zero, same bool) bool { return base == nil || !zero && !same }
	if check(o.Format == "", o.Format == b.Format) {
		v.oneOf(path+".format", o.Format, formats)
	}
	if check(o.RingBytes == 0, o.RingBytes == b.RingBytes) {
		v.size(path+".ring_bytes", o.RingBytes, minRingBytes, maxRingBytes)
	}
	if o.RingAge != 0 && check(false, o.RingAge == b.RingAge) {
		v.duration(path+".ring_age", o.RingAge, maxSkipWindow)
	}
	if check(o.WriteTimeout == 0, o.WriteTimeout == b.WriteTimeout) {
		v.duration(path+".write_timeout", o.WriteTimeout, maxWriteTimeout)
	}
	if check(o.MaxUnsent == 0, o.MaxUnsent == b.MaxUnsent) {
		v.size(path+".max_unsent", o.MaxUnsent, minMaxUnsent, maxRingBytes)
	}
	if check(o.MaxSkips == 0, o.MaxSkips == b.MaxSkips) && o.MaxSkips < 1 {
		v.failf(path+".max_skips", "must be at least 1, got %d", o.MaxSkips)
	}
	if check(o.SkipWindow == 0, o.SkipWindow == b.SkipWindow) {
		v.duration(path+".skip_window", o.SkipWindow, maxSkipWindow)
	}
	if check(o.GOPCache == "", o.GOPCache == b.GOPCache) {
		v.oneOf(path+".gop_cache", o.GOPCache, []string{On, Off})
	}
	if check(o.GOPMaxBytes == 0, o.GOPMaxBytes == b.GOPMaxBytes) {
		v.size(path+".gop_max_bytes", o.GOPMaxBytes, minRingBytes, maxRingBytes)
	}
	if check(o.GOPMaxAge == 0, o.GOPMaxAge == b.GOPMaxAge) {
		v.duration(path+".gop_max_age", o.GOPMaxAge, maxSkipWindow)
	}
	v.streamAuth(path, o, base == nil)
	v.push(path, o.Push, base == nil)
	v.pull(path, o.Pull, base == nil)
	if check(o.PullOrder == "", o.PullOrder == b.PullOrder) {
		v.oneOf(path+".pull_order", o.PullOrder, []string{"failover", "round-robin"})
	}
}

// push checks push targets with the push package's own parser.
func (v *validator) push(path string, targets []string, defaults bool) {
	if defaults && len(targets) > 0 {
		v.failf(path+".push", "push targets belong to one stream: list them under streams.NAME.push")
		return
	}
	for i, u := range targets {
		if _, err := push.ParseTarget(u); err != nil {
			v.failf(fmt.Sprintf("%s.push[%d]", path, i), "%w", err)
		}
	}
}

// pull checks pull sources with the pull package's own parser.
func (v *validator) pull(path string, sources []string, defaults bool) {
	if defaults && len(sources) > 0 {
		v.failf(path+".pull", "pull sources belong to one stream: list them under streams.NAME.pull")
		return
	}
	for i, u := range sources {
		if _, err := pull.ParseSource(u); err != nil {
			v.failf(fmt.Sprintf("%s.pull[%d]", path, i), "%w", err)
		}
	}
}

func (v *validator) oneOf(path, s string, allowed []string) {
	if !slices.Contains(allowed, s) {
		v.failf(path, "%q is not one of %s", s, strings.Join(allowed, ", "))
	}
}

func (v *validator) stream(path, name string) {
	if err := ValidStreamName(name); err != nil {
		v.failf(path, "%w", err)
	}
}

func (v *validator) duration(path string, d, most Duration) {
	switch {
	case d <= 0:
		v.failf(path, "must be positive, got %s", d)
	case d > most:
		v.failf(path, "%s is too long: at most %s", d, most)
	}
}

func (v *validator) size(path string, s, least, most Size) {
	switch {
	case s <= 0:
		v.failf(path, "must be positive, got %s", s)
	case s < least || s > most:
		v.failf(path, "%s is out of range: use %s to %s", s, least, most)
	}
}

// tls checks that the certificate and key come as a pair and that WSS
// listeners have them.
func (v *validator) tls(c *Config) {
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		v.failf("http.tls_key", "set http.tls_cert and http.tls_key together").alt = "http.tls_cert"
	}
	for i, p := range c.Play {
		if p.TLS && c.HTTP.TLSCert == "" {
			v.failf(indexPath("play", i)+".tls", "needs http.tls_cert and http.tls_key")
		}
	}
}
