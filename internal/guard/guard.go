package guard

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Policy is one snapshot of the settings the guard enforces. A Guard holds
// it behind an atomic pointer, so that a reload swaps it whole: a check
// sees either the old policy or the new one, never a mix. A Policy is not
// changed once handed to a Guard.
type Policy struct {
	// PublishKey opens HTTP publishing of every stream (?key=); "" none.
	PublishKey string
	// Publish lists who may publish over HTTP without a key (Allow, the
	// default Loopback) and who may not publish at all (Deny).
	Publish ACL
	// TokenSecret signs play tokens; required when a stream wants them.
	TokenSecret []byte
	// Play lists who may play, over every protocol.
	Play ACL
	// Ingest are the allow-lists of the TCP/UDP ingest listeners, by the
	// index the node gives each listener.
	Ingest []ACL

	// API credentials: a bearer token, and/or basic-auth user and
	// password. None set: reading is open, writing only from loopback.
	APIToken, APIUser, APIPassword string
	// ReportToken is the bearer token monitor reports need (API
	// credentials do too). With neither set, only sources in ReportAllow
	// (empty: loopback) may report.
	ReportToken string
	ReportAllow []netip.Prefix

	// TrustedProxies are the reverse proxies whose ForwardedHeader
	// (HeaderXForwardedFor, the default, or HeaderForwarded) names the
	// client of an HTTP request (see forwarded.go). Their connections are
	// not counted against ConnsPerIP on accept; each play and publish
	// request they forward is, by its client's address.
	TrustedProxies  []netip.Prefix
	ForwardedHeader string

	// Limits; zero or negative means none.
	MaxStreams int
	MaxViewers int // viewers of all streams
	ConnsPerIP int
	// Exempt are the sources ConnsPerIP does not count.
	Exempt []netip.Prefix
	// ViewerMaxMessage is the largest WebSocket message a viewer may send
	// (zero: the websocket package's default).
	ViewerMaxMessage int64

	// Stream returns the settings of one stream; nil gives none.
	Stream func(name string) StreamPolicy
}

// StreamPolicy is the part of a stream's settings the guard enforces.
type StreamPolicy struct {
	Key         string        // opens HTTP publishing of this stream; "" none
	Token       bool          // play needs a signed token
	MaxViewers  int           // 0: no limit of its own
	MaxRate     int64         // bytes per second a publisher may send; 0: no ceiling
	IdleTimeout time.Duration // a publisher silent this long is cut; 0: never
}

func (p *Policy) stream(name string) StreamPolicy {
	if p.Stream == nil {
		return StreamPolicy{}
	}
	return p.Stream(name)
}

// Guard enforces a Policy and counts what it refuses. The zero value is
// not usable: call New.
type Guard struct {
	// Static after construction.
	log *slog.Logger
	now func() time.Time
	// Streams reports whether a stream exists and how many do, for
	// MaxStreams; nil disables that limit.
	streams func(name string) (exists bool, count int)

	policy atomic.Pointer[Policy]
	counts counters
	logged logLimiter

	mu      sync.Mutex // guards the fields below
	perIP   map[netip.Addr]int
	viewers map[string]int
	total   int
}

// Config sets up a Guard.
type Config struct {
	Policy *Policy
	// Streams reports whether a stream exists and how many there are; nil
	// disables Policy.MaxStreams.
	Streams func(name string) (exists bool, count int)
	Log     *slog.Logger     // nil discards
	Now     func() time.Time // nil is time.Now
}

// New returns a guard enforcing cfg.Policy (nil: no policy, all open).
func New(cfg Config) *Guard {
	g := &Guard{log: cfg.Log, now: cfg.Now, streams: cfg.Streams,
		perIP: make(map[netip.Addr]int), viewers: make(map[string]int)}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	p := cfg.Policy
	if p == nil {
		p = &Policy{}
	}
	g.policy.Store(p)
	g.logged.init(g.log, g.now)
	return g
}

// SetPolicy replaces the policy; connections already admitted keep going.
func (g *Guard) SetPolicy(p *Policy) { g.policy.Store(p) }

// Policy returns the policy in force.
func (g *Guard) Policy() *Policy { return g.policy.Load() }

// Refusal is an error of the guard: what was refused, why, and the HTTP
// status it maps to.
type Refusal struct {
	Reason Reason
	Status int
	Msg    string
}

func (e *Refusal) Error() string { return e.Msg }

// StatusCode is the HTTP status of the refusal.
func (e *Refusal) StatusCode() int { return e.Status }

// refuse counts r and returns it as a *Refusal.
func (g *Guard) refuse(r Reason, status int, format string, args ...any) *Refusal {
	g.Count(r)
	return &Refusal{Reason: r, Status: status, Msg: fmt.Sprintf(format, args...)}
}

// admitConn counts a connection from ip against ConnsPerIP; release gives
// it back.
func (g *Guard) admitConn(p *Policy, ip netip.Addr) (release func(), err error) {
	if p.ConnsPerIP <= 0 || inPrefixes(p.Exempt, ip) {
		return func() {}, nil
	}
	g.mu.Lock()
	if g.perIP[ip] >= p.ConnsPerIP {
		g.mu.Unlock()
		return nil, g.refuse(ConnsPerIP, http.StatusTooManyRequests,
			"%s has %d connections open, limits.conns_per_ip", ip, p.ConnsPerIP)
	}
	g.perIP[ip]++
	g.mu.Unlock()
	return sync.OnceFunc(func() {
		g.mu.Lock()
		if g.perIP[ip]--; g.perIP[ip] <= 0 {
			delete(g.perIP, ip)
		}
		g.mu.Unlock()
	}), nil
}

// admitViewer counts a viewer of stream against MaxViewers and the
// stream's own limit.
func (g *Guard) admitViewer(p *Policy, stream string) (release func(), err error) {
	limit := p.stream(stream).MaxViewers
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case p.MaxViewers > 0 && g.total >= p.MaxViewers:
		return nil, g.refuse(MaxViewers, http.StatusServiceUnavailable,
			"this node serves %d viewers, its limit (limits.max_viewers); try another node", p.MaxViewers)
	case limit > 0 && g.viewers[stream] >= limit:
		return nil, g.refuse(MaxStreamViewers, http.StatusServiceUnavailable,
			"stream %q has %d viewers, its limit (max_viewers)", stream, limit)
	}
	g.total++
	g.viewers[stream]++
	return sync.OnceFunc(func() {
		g.mu.Lock()
		g.total--
		if g.viewers[stream]--; g.viewers[stream] <= 0 {
			delete(g.viewers, stream)
		}
		g.mu.Unlock()
	}), nil
}

// admitStream refuses a stream that does not exist yet when there are
// MaxStreams already.
func (g *Guard) admitStream(p *Policy, name string) error {
	if p.MaxStreams <= 0 || g.streams == nil {
		return nil
	}
	if exists, n := g.streams(name); !exists && n >= p.MaxStreams {
		return g.refuse(MaxStreams, http.StatusServiceUnavailable,
			"this node holds %d streams, its limit (limits.max_streams)", p.MaxStreams)
	}
	return nil
}

// Viewers returns the viewers the guard counts now, in total.
func (g *Guard) Viewers() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

func inPrefixes(list []netip.Prefix, ip netip.Addr) bool {
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
