// Package pull fetches a stream from upstream sources (another tsstream's HTTP-TS, any HTTP-TS, TCP or UDP), failing over between them.
package pull

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/tsstream/tsstream/internal/relay"
	"github.com/tsstream/tsstream/internal/stream"
)

// Config sets up a Puller. A zero duration means its default.
type Config struct {
	Hub     *stream.Hub // required
	Stream  string      // the stream to publish; required
	Sources []Source    // where from, in order of preference
	// Order is how the next source is chosen: "failover" (the default)
	// tries the sources in order, moving to the next on failure, and
	// starts again from the first after a backoff; "round-robin" keeps
	// going around from where it left off.
	Order string
	// Node is this node's name, sent to HTTP sources in the relay path
	// header "Tsstream-Path", so that an upstream tsstream refuses a loop;
	// a source whose answer names this node on its path is refused too.
	Node string
	// Via names the nodes further downstream the stream is fetched for
	// (the relay path of the request that started an on-demand pull); it
	// is sent ahead of Node.
	Via []string
	// Reliable makes the link resume after a disconnect at the exact byte
	// it reached, while that byte is still in the upstream tsstream's ring
	// (see resume.go); the publisher session stays open meanwhile, up to
	// ResumeWindow (default 1m). Other sources restart at a keyframe.
	Reliable     bool
	ResumeWindow time.Duration
	// MinBackoff and MaxBackoff bound the wait once every source has
	// failed in a row (default 500ms and 30s); the wait doubles with each
	// such round, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds a connection attempt, up to an HTTP response's
	// headers (default 5s). IdleTimeout is how long a source may send
	// nothing before it is taken as dead and the next one is tried
	// (default 5s).
	DialTimeout, IdleTimeout time.Duration
	Log                      *slog.Logger     // nil discards
	Now                      func() time.Time // nil is time.Now
	Rand                     func() float64   // in [0, 1), for jitter; nil is math/rand/v2
}

// Orders of trying the sources.
const (
	OrderFailover   = "failover"
	OrderRoundRobin = "round-robin"
)

// States of a source.
const (
	StateConnecting = "connecting"
	StateUp         = "up"      // publishing the stream
	StateBackoff    = "backoff" // every source failed, or another publisher holds the stream
	StateWaiting    = "waiting" // not the source in use
	StateStopped    = "stopped" // the puller or the hub closed, or the URL is bad
)

// stableAfter is how long a source must deliver for its end to count as a
// failover rather than a failure: a source that answers and drops at once
// must not make the puller spin.
const stableAfter = time.Second

// maxAgain bounds the reconnects in a row, without a wait, to a source that
// ends its answers within stableAfter for a new relay path.
const maxAgain = 3

// SourceStats is a snapshot of one source.
type SourceStats struct {
	URL   string    `json:"url"` // password and query values hidden
	State string    `json:"state"`
	Since time.Time `json:"since"` // when State began
	// BytesIn counts the bytes read from the source.
	BytesIn int64 `json:"bytes_in"`
	// Reconnects counts the times the source came up after the first.
	Reconnects int64 `json:"reconnects"`
	// Failovers counts the times the puller left this source for another
	// one because it failed or ended.
	Failovers int64 `json:"failovers"`
	// Path is the relay path of the source's data, from its answer (the
	// origin first, the source's node last).
	Path []string `json:"path,omitempty"`
	// Reliable links: Resumes counts reconnects that went on at the exact
	// byte; Gaps the reconnects that found the byte gone from the
	// upstream's ring (or the ring restarted), and LostBytes the bytes
	// known lost that way.
	Resumes   int64  `json:"resumes,omitempty"`
	Gaps      int64  `json:"gaps,omitempty"`
	LostBytes int64  `json:"lost_bytes,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// Puller publishes one stream from the first of its sources that works.
type Puller struct {
	// Static after construction.
	cfg     Config
	log     *slog.Logger
	sources []*source
	client  *http.Client
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc

	mu      sync.Mutex // guards the fields below and calls to cfg.Rand
	started bool
	closed  bool
	lastErr error          // why the latest session failed; nil once one is up
	wg      sync.WaitGroup // the run goroutine
}

// New returns a puller for cfg; nothing connects until Start. A source
// whose URL does not parse is reported in Stats as stopped, with the error,
// and skipped.
func New(cfg Config) *Puller {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Second
	}
	if cfg.Order == "" {
		cfg.Order = OrderFailover
	}
	if cfg.ResumeWindow <= 0 {
		cfg.ResumeWindow = defaultResumeWindow
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Puller{cfg: cfg, log: log.With("stream", cfg.Stream), client: newClient(cfg.DialTimeout)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for _, s := range cfg.Sources {
		p.sources = append(p.sources, newSource(p, s))
	}
	return p
}

// Start begins pulling in a goroutine. It does nothing after the first call
// or after Close, or when no source parses.
func (p *Puller) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	var usable []*source
	for _, s := range p.sources {
		if s.o == nil {
			s.log.Error("pull source not used", "err", s.parseErr)
			continue
		}
		usable = append(usable, s)
	}
	if len(usable) == 0 {
		p.log.Error("pull not started: no usable source")
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.run(usable)
	}()
}

// Close disconnects the source in use (its publisher session ends; viewers
// stay for the stream's next publisher) and waits for the puller's
// goroutines.
func (p *Puller) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.client.CloseIdleConnections()
}

// Stream returns the name of the stream the puller fetches.
func (p *Puller) Stream() string { return p.cfg.Stream }

// Stats returns a snapshot of every source, in the order of Config.Sources.
func (p *Puller) Stats() []SourceStats {
	list := make([]SourceStats, len(p.sources))
	for i, s := range p.sources {
		list[i] = s.stats()
	}
	return list
}

// Reliable reports whether the link resumes at the exact byte.
func (p *Puller) Reliable() bool { return p.cfg.Reliable }

// Err returns why the latest attempt failed, or nil while a source is up
// (and before the first attempt ends).
func (p *Puller) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

func (p *Puller) setErr(err error) {
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
}

// Refused returns a source's 404 or 508 if every usable source answered
// so to its latest attempt (the stream is nowhere upstream, or taking it
// would close a loop), else nil.
func (p *Puller) Refused() *StatusError {
	var first *StatusError
	for _, s := range p.sources {
		if s.o == nil {
			continue
		}
		s.mu.Lock()
		r := s.refusal
		s.mu.Unlock()
		if r == nil {
			return nil
		}
		if first == nil {
			first = r
		}
	}
	return first
}

// requestPath is the relay path an HTTP pull sends: the nodes downstream,
// then this one.
func (p *Puller) requestPath() []string {
	path := append([]string(nil), p.cfg.Via...)
	if p.cfg.Node != "" {
		path = append(path, p.cfg.Node)
	}
	return path
}

func (p *Puller) rand() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.Rand()
}

// run tries the sources until the puller or the hub closes.
func (p *Puller) run(list []*source) {
	var (
		i        int // the source to try next
		failures int // sessions in a row that failed
		rounds   int // backoffs in a row
		held     int // backoffs in a row for another publisher
		again    int // quick reconnects in a row for a new relay path
		rs       resume
	)
	defer rs.release(reasonShutdown)
	for {
		s := list[i]
		for _, o := range list {
			if o != s {
				o.set(StateWaiting, nil)
			}
		}
		res := s.session(p.ctx, &rs)
		if !res.stop {
			p.setErr(res.err)
		}
		switch {
		case res.stop:
			for _, o := range list {
				o.set(StateStopped, nil)
			}
			if p.ctx.Err() == nil {
				p.log.Info("pull stopped", "reason", res.err)
			}
			return
		case res.held:
			// Another publisher has the stream: wait, then ask again.
			held++
			if held == 1 {
				p.log.Warn("pull waiting: the stream has another publisher", "source", s.name, "err", res.err)
			}
			s.set(StateBackoff, res.err)
			p.sleep(relay.Backoff(held, p.cfg.MinBackoff, p.cfg.MaxBackoff, p.rand()))
			continue
		case res.again && (again < maxAgain || res.up >= stableAfter):
			// The source's relay path changed: ask it again now, for the
			// new path (or its refusal). A source that keeps saying so
			// at once is a failing one.
			if res.up >= stableAfter {
				again = 0
			}
			again++
			continue
		}
		again = 0
		if held > 0 {
			held = 0
			if res.up > 0 {
				p.log.Info("pull resumed: the other publisher left", "source", s.name)
			}
		}
		if res.up >= stableAfter {
			failures, rounds = 0, 0
		}
		failures++
		next := (i + 1) % len(list)
		if failures < len(list) {
			if next != i {
				s.count(func(st *SourceStats) { st.Failovers++ })
				p.log.Warn("pull failing over", "from", s.name, "to", list[next].name, "err", res.err)
			}
			i = next
			continue
		}
		// Every source failed in a row.
		failures = 0
		rounds++
		wait := relay.Backoff(rounds, p.cfg.MinBackoff, p.cfg.MaxBackoff, p.rand())
		for _, o := range list {
			o.set(StateBackoff, nil)
		}
		p.log.Warn("pull backing off: every source failed", "err", res.err,
			"retry_in", wait.Round(time.Millisecond), "rounds", rounds)
		if p.cfg.Order == OrderRoundRobin {
			if next != i {
				s.count(func(st *SourceStats) { st.Failovers++ })
			}
			i = next
		} else {
			if i != 0 {
				s.count(func(st *SourceStats) { st.Failovers++ })
			}
			i = 0
		}
		p.sleep(wait)
	}
}

// sleep waits d, or until the puller closes (the next session then stops
// at once).
func (p *Puller) sleep(d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.ctx.Done():
	case <-timer.C:
	}
}

// errStop ends the puller: it or the hub closed.
var errStop = errors.New("pull stopped")
