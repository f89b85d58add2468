// Package push forwards a stream to other nodes or services over TCP, UDP or HTTP, reconnecting with backoff.
package push

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tsstream/tsstream/internal/relay"
	"github.com/tsstream/tsstream/internal/stream"
)

// Config sets up a Pusher. A zero duration means its default.
type Config struct {
	Hub     *stream.Hub // required
	Stream  string      // the stream to forward; required
	Targets []Target    // where to; each is an independent reader of the stream
	// Node is this node's name, sent to HTTP targets in the relay path
	// header "Tsstream-Path" so that a loop of nodes can be refused.
	Node string
	// MinBackoff and MaxBackoff bound the wait before reconnecting (default
	// 500ms and 30s). The wait doubles with each failure in a row, with
	// jitter; after a link that stayed up for 10s, the next wait starts
	// again from the minimum.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds a connection attempt (default 5s); WriteTimeout one
	// write to a target (default 10s): a target that does not read for that
	// long is cut and reconnected.
	DialTimeout, WriteTimeout time.Duration
	Log                       *slog.Logger     // nil discards
	Rand                      func() float64   // in [0, 1), for jitter; nil is math/rand/v2
	Now                       func() time.Time // nil is time.Now
}

// States of a target.
const (
	StateConnecting = "connecting"
	StateUp         = "up"
	StateBackoff    = "backoff"
	StateStopped    = "stopped" // the pusher or the stream closed, or the URL is bad
	StateIdle       = "idle"    // waiting for the stream to have a publisher
)

// stableAfter is how long a link must stay up for the next failure to be
// counted as the first one again.
const stableAfter = 10 * time.Second

// TargetStats is a snapshot of one target.
type TargetStats struct {
	URL    string    `json:"url"` // password and key hidden
	Stream string    `json:"stream"`
	State  string    `json:"state"` // connecting, up, backoff, stopped
	Since  time.Time `json:"since"` // when State began
	// BytesSent counts stream bytes the target took (for UDP: datagrams
	// the kernel accepted).
	BytesSent int64 `json:"bytes_sent"`
	// Drops counts times the target lost stream data: it fell behind and
	// jumped ahead in the ring, or was cut for being too slow (write
	// timeout, too many jumps). DroppedBytes counts the stream bytes jumped
	// over, give or take a PAT/PMT. A new publisher's data before its first
	// keyframe counts too: the target starts it cleanly, as a viewer would.
	Drops        int64 `json:"drops"`
	DroppedBytes int64 `json:"dropped_bytes"`
	// Reconnects counts connections after the first.
	Reconnects int64 `json:"reconnects"`
	// Failures counts attempts that did not connect or were refused.
	Failures int64 `json:"failures"`
	// SendErrors counts UDP datagrams the kernel refused (a peer's ICMP
	// port unreachable, no route): UDP keeps sending regardless.
	SendErrors int64 `json:"send_errors"`
	// Reliable pushes (reliable.go): Resumes counts connections that went
	// on at the exact byte the target reached; Gaps those that could not
	// (this node's ring no longer held that byte, the stream restarted, or
	// the target kept nothing), and LostBytes the bytes known lost that
	// way (from the first case).
	Reliable  bool   `json:"reliable,omitempty"`
	Resumes   int64  `json:"resumes,omitempty"`
	Gaps      int64  `json:"gaps,omitempty"`
	LostBytes int64  `json:"lost_bytes,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// Pusher forwards one stream to its targets.
type Pusher struct {
	// Static after construction.
	cfg     Config
	log     *slog.Logger
	targets []*target
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc

	mu      sync.Mutex // guards the fields below and calls to cfg.Rand
	started bool
	closed  bool
	wg      sync.WaitGroup // target goroutines
}

// New returns a pusher for cfg; nothing connects until Start. A target
// whose URL does not parse is reported in Stats as stopped, with the error.
func New(cfg Config) *Pusher {
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
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
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
	p := &Pusher{cfg: cfg, log: log}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for _, t := range cfg.Targets {
		p.targets = append(p.targets, newTarget(p, t))
	}
	return p
}

// Start connects every target, each in its own goroutine. It does nothing
// after the first call or after Close.
func (p *Pusher) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	for _, t := range p.targets {
		if t.d == nil {
			t.log.Error("push target not started", "err", t.parseErr)
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			t.run(p.ctx)
		}()
	}
}

// Close disconnects every target (an HTTP push ends its body cleanly) and
// waits for their goroutines.
func (p *Pusher) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
}

// relayPath is the path an HTTP push announces: the nodes the stream's data
// came through, then this node.
func (p *Pusher) relayPath() []string {
	var path []string
	if s := p.cfg.Hub.Get(p.cfg.Stream); s != nil {
		path = append(path, s.PublisherPath()...)
	}
	if p.cfg.Node != "" {
		path = append(path, p.cfg.Node)
	}
	return path
}

// Stats returns a snapshot of every target, in the order of Config.Targets.
func (p *Pusher) Stats() []TargetStats {
	list := make([]TargetStats, len(p.targets))
	for i, t := range p.targets {
		list[i] = t.stats()
	}
	return list
}

func (p *Pusher) rand() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.Rand()
}

// backoff is relay.Backoff, but a refusal that will not clear soon (hold)
// waits at least hi/4.
func backoff(n int, lo, hi time.Duration, rnd float64, hold bool) time.Duration {
	d := relay.Backoff(n, lo, hi, rnd)
	if hold {
		d = min(max(d, hi/4), hi)
	}
	return d
}

// errStop ends a target for good: the pusher, the stream or the hub closed.
var errStop = errors.New("push stopped")
