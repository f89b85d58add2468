package config

import (
	"slices"
	"time"

	"github.com/tsstream/tsstream/internal/guard"
)

// Auth says who may publish, play and use the API. The zero value is the
// safe default: publishing without a key only from loopback, play open,
// API readable by all and writable from loopback.
type Auth struct {
	// PublishKey is a key that opens HTTP publishing of every stream
	// (?key= on the publish URL); streams.NAME.publish_key opens one
	// stream. With either set, an HTTP publisher of that stream needs it
	// from every source, loopback too: 401 without, 403 with a wrong one.
	PublishKey string `yaml:"publish_key"`
	// PublishAllow lists the CIDRs (or addresses) that may publish over
	// HTTP to a stream without a key. Default (absent): loopback only,
	// 127.0.0.0/8 and ::1. ["0.0.0.0/0", "::/0"] opens it to all.
	PublishAllow []string `yaml:"publish_allow,omitempty"`
	// PublishDeny lists CIDRs that may never publish over HTTP, key or not.
	PublishDeny []string `yaml:"publish_deny,omitempty"`
	// TokenSecret signs the play tokens of streams with play_token "on"
	// (at least 16 characters; `tsstream token` prints tokens with it).
	TokenSecret string `yaml:"token_secret"`
	// PlayAllow and PlayDeny bound who may play any stream, over every
	// play protocol; an empty PlayAllow allows every source not denied.
	PlayAllow []string `yaml:"play_allow,omitempty"`
	PlayDeny  []string `yaml:"play_deny,omitempty"`
	// APIToken, when set, is the bearer token ("Authorization: Bearer …")
	// the API, /metrics and the dashboard require.
	APIToken string `yaml:"api_token"`
	// APIUser and APIPassword, when set, are basic-auth credentials the
	// API, /metrics and the dashboard accept (with or instead of APIToken).
	APIUser     string `yaml:"api_user"`
	APIPassword string `yaml:"api_password"`
	// ReportToken, when set, is the bearer token every node reporting to
	// this one (with monitor.report_token) must send, from every source;
	// the API credentials are accepted too. Without it and without API
	// credentials, only ReportAllow may report.
	ReportToken string `yaml:"report_token"`
	// ReportAllow lists the CIDRs that may report to this node without a
	// token while none is set. Default (absent): loopback only.
	ReportAllow []string `yaml:"report_allow,omitempty"`
}

// Limits bound what one node takes on. Every field has a default; zero
// means that default.
type Limits struct {
	// MaxStreams bounds the streams the node holds (default 1000).
	MaxStreams int `yaml:"max_streams"`
	// MaxViewers bounds the viewers of all streams (default 10000); a
	// stream's max_viewers bounds its own.
	MaxViewers int `yaml:"max_viewers"`
	// ConnsPerIP bounds the connections one source address holds open on
	// the HTTP and TCP listeners (default 100).
	ConnsPerIP int `yaml:"conns_per_ip"`
	// ConnsPerIPExempt lists CIDRs that conns_per_ip does not count.
	// Default: loopback, so that local relays and load tests are not
	// limited; [] counts every source.
	ConnsPerIPExempt []string `yaml:"conns_per_ip_exempt"`
	// ViewerMaxMessage is the largest WebSocket message a viewer may send;
	// viewers need only control frames, and a larger message closes the
	// connection (default 4KiB, 125B to 1MiB).
	ViewerMaxMessage Size `yaml:"viewer_max_message"`
}

// Limits of the values of Auth and Limits.
const (
	maxLimit        = 1_000_000
	minViewerMsg    = 125
	maxViewerMsg    = MiB
	maxIdleTimeout  = Duration(24 * time.Hour)
	defaultConnsIP  = 100
	defaultViewers  = 10000
	defaultStreams  = 1000
	defaultViewerMs = 4 * KiB
)

func defaultLimits() Limits {
	return Limits{MaxStreams: defaultStreams, MaxViewers: defaultViewers, ConnsPerIP: defaultConnsIP,
		ConnsPerIPExempt: slices.Clone(guard.Loopback), ViewerMaxMessage: defaultViewerMs}
}

func (v *validator) auth(a *Auth, tokensWanted bool) {
	v.cidrs("auth.publish_allow", a.PublishAllow, true)
	v.cidrs("auth.publish_deny", a.PublishDeny, false)
	v.cidrs("auth.play_allow", a.PlayAllow, false)
	v.cidrs("auth.play_deny", a.PlayDeny, false)
	if a.TokenSecret != "" && len(a.TokenSecret) < guard.MinSecretLen {
		v.failf("auth.token_secret", "is %d characters: use at least %d (openssl rand -hex 32 makes one)",
			len(a.TokenSecret), guard.MinSecretLen)
	}
	if tokensWanted && a.TokenSecret == "" {
		v.failf("auth.token_secret", "required: a stream has play_token: \"on\" (openssl rand -hex 32 makes a secret)")
	}
	v.cidrs("auth.report_allow", a.ReportAllow, true)
	v.headerToken("auth.report_token", a.ReportToken)
	if (a.APIUser == "") != (a.APIPassword == "") {
		v.failf("auth.api_password", "set auth.api_user and auth.api_password together").alt = "auth.api_user"
	}
}

func (v *validator) limits(l *Limits) {
	v.count("limits.max_streams", l.MaxStreams)
	v.count("limits.max_viewers", l.MaxViewers)
	v.count("limits.conns_per_ip", l.ConnsPerIP)
	v.cidrs("limits.conns_per_ip_exempt", l.ConnsPerIPExempt, false)
	v.size("limits.viewer_max_message", l.ViewerMaxMessage, minViewerMsg, maxViewerMsg)
}

func (v *validator) count(path string, n int) {
	if n < 1 || n > maxLimit {
		v.failf(path, "%d is out of range: 1 to %d", n, maxLimit)
	}
}

// cidrs checks a CIDR list. A present allow-list must not be empty: an
// empty list would read as "nobody" to some and "anybody" to others.
func (v *validator) cidrs(path string, list []string, allow bool) {
	if allow && list != nil && len(list) == 0 {
		v.failf(path, `an empty list: leave the key out for the default (loopback), or list sources; `+
			`["0.0.0.0/0", "::/0"] allows every source`)
	}
	for i, s := range list {
		if _, err := guard.ParseCIDR(s); err != nil {
			v.failf(indexPath(path, i), "%w", err)
		}
	}
}

// streamAuth checks the security options of a stream at path.
func (v *validator) streamAuth(path string, o StreamOptions, defaults bool) {
	if defaults && o.PublishKey != "" {
		v.failf(path+".publish_key", "a key for every stream is auth.publish_key; streams.NAME.publish_key is one stream's")
	}
	if o.PlayToken != "" {
		v.oneOf(path+".play_token", o.PlayToken, []string{On, Off})
	}
	if o.MaxViewers < 0 || o.MaxViewers > maxLimit {
		v.failf(path+".max_viewers", "%d is out of range: 1 to %d", o.MaxViewers, maxLimit)
	}
	if o.MaxPublishRate < 0 {
		v.failf(path+".max_publish_rate", "must be positive, got %s", o.MaxPublishRate)
	}
	if o.PublishIdleTimeout != 0 {
		v.duration(path+".publish_idle_timeout", o.PublishIdleTimeout, maxIdleTimeout)
	}
}

// tokenStreams names the streams whose play needs a token.
func (c *Config) tokenStreams() (any bool, names map[string]bool) {
	names = make(map[string]bool)
	for name := range c.Streams {
		if c.Stream(name).PlayToken == On {
			names[name] = true
		}
	}
	return len(names) > 0 || c.StreamDefaults.PlayToken == On, names
}

// playTokens refuses raw TCP play listeners of streams that need tokens:
// a raw TCP connection has no URL to carry one.
func (v *validator) playTokens(c *Config) {
	for i, p := range c.Play {
		if p.Protocol == ProtoTCP && c.Stream(p.Stream).PlayToken == On {
			v.failf(indexPath("play", i)+".protocol", "stream %q needs play tokens, which raw TCP cannot carry: "+
				"play it over HTTP-TS or WebSocket, or set play_token: \"off\" for it", p.Stream)
		}
	}
}

// headerToken checks a secret sent in an Authorization header: visible
// ASCII, no spaces.
func (v *validator) headerToken(path, tok string) {
	for _, c := range tok {
		if c <= ' ' || c > '~' {
			v.failf(path, "use visible ASCII characters only, no spaces (openssl rand -hex 32 makes one)")
			return
		}
	}
}

// trustedProxies checks the proxy list: CIDRs, none that holds every
// address (then any client could name its own).
func (v *validator) trustedProxies(c *Config) {
	for i, s := range c.TrustedProxies {
		switch p, err := guard.ParseCIDR(s); {
		case err != nil:
			v.failf(indexPath("trusted_proxies", i), "%w", err)
		case p.Bits() == 0:
			v.failf(indexPath("trusted_proxies", i), "%q trusts every source, so any client could say who it is: list the proxies' addresses", s)
		}
	}
	v.oneOf("forwarded_header", c.ForwardedHeader, []string{ForwardedXFF, ForwardedRFC7239})
}
