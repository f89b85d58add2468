package pull

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tsstream/tsstream/internal/stream"
)

// Rule makes the streams whose names match Pattern pulled on demand: the
// pull starts when the first viewer arrives and stops Linger after the
// last one left.
type Rule struct {
	// Pattern is a stream name, or a pattern where * stands for any run of
	// characters ("*" is every stream, "cam-*" every stream starting so).
	Pattern string
	// Sources are the upstream URLs, tried in turn; "{stream}" in them is
	// replaced by the stream's name.
	Sources []string
	Order   string // as Config.Order
	// Reliable makes the links resume at the exact byte (Config.Reliable).
	Reliable bool
	// StartTimeout is how long a viewer waits for the stream to go live
	// before it gets an error (default 5s); Linger how long the pull goes
	// on after the last viewer left (default 10s).
	StartTimeout, Linger time.Duration
}

// Defaults of a Rule.
const (
	DefaultStartTimeout = 5 * time.Second
	DefaultLinger       = 10 * time.Second
)

// Match reports whether the rule covers stream name.
func (r *Rule) Match(name string) bool {
	ok, err := path.Match(r.Pattern, name)
	return err == nil && ok
}

// ExpandSources returns the rule's sources for stream name.
func (r *Rule) ExpandSources(name string) []Source {
	list := make([]Source, len(r.Sources))
	for i, u := range r.Sources {
		list[i] = Source{URL: strings.ReplaceAll(u, "{stream}", name)}
	}
	return list
}

// OnDemandConfig sets up an OnDemand.
type OnDemandConfig struct {
	Hub   *stream.Hub // required
	Rules []Rule      // the first rule that matches a stream wins
	// Exclude names streams that are never pulled on demand (they have
	// static pulls, say).
	Exclude []string
	// Base holds what every puller shares: Node, timings, Log, Now, Rand;
	// Hub, Stream, Sources, Order, Reliable and Via are set per stream.
	Base Config
}

// OnDemand runs the pulls of streams that are fetched only while someone
// watches them. Its Demand method is the hub's Demand hook.
type OnDemand struct {
	// Static after construction; Rules and Exclude of cfg are not used, they
	// are in rules.
	cfg OnDemandConfig
	log *slog.Logger

	rules atomic.Pointer[ruleSet] // replaced by SetRules

	mu       sync.Mutex // guards the fields below
	links    map[string]*demandLink
	stopping map[string]*demandLink // links whose puller is closing
	closed   bool
	wg       sync.WaitGroup // goroutines that stop pullers
}

// ruleSet is what SetRules replaces at once.
type ruleSet struct {
	rules   []Rule
	exclude []string
}

// demandLink is the pull of one stream; guarded by OnDemand.mu.
type demandLink struct {
	rule   *Rule
	p      *Puller
	linger *time.Timer // set while nobody watches
	done   chan struct{}
}

// NewOnDemand returns an OnDemand for cfg.
func NewOnDemand(cfg OnDemandConfig) *OnDemand {
	log := cfg.Base.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &OnDemand{cfg: cfg, log: log, links: make(map[string]*demandLink),
		stopping: make(map[string]*demandLink)}
	d.rules.Store(&ruleSet{rules: cfg.Rules, exclude: cfg.Exclude})
	return d
}

// Rule returns the rule that covers stream name, or nil.
func (d *OnDemand) Rule(name string) *Rule {
	rs := d.rules.Load()
	if slices.Contains(rs.exclude, name) {
		return nil
	}
	for i := range rs.rules {
		if rs.rules[i].Match(name) {
			return &rs.rules[i]
		}
	}
	return nil
}

// SetRules replaces the rules and the excluded streams, as a reload of the
// configuration does. A running pull that the new rules fetch the same way
// (the same sources for its stream, order and reliability) goes on
// untouched under its new rule; every other running pull stops, and
// SetRules returns once they have let go of their streams, with their
// names. Then the streams that have viewers and that a rule now covers
// start pulling, as if their first viewer had just come.
func (d *OnDemand) SetRules(rules []Rule, exclude []string) (stopped []string) {
	d.rules.Store(&ruleSet{rules: rules, exclude: exclude})
	d.mu.Lock()
	var stop []*demandLink
	for name, l := range d.links {
		if r := d.Rule(name); r != nil && sameFetch(name, l.rule, r) {
			l.rule = r
			continue
		}
		if l.linger != nil {
			l.linger.Stop()
			l.linger = nil
		}
		delete(d.links, name)
		d.stopping[name] = l
		stop = append(stop, l)
		stopped = append(stopped, name)
	}
	d.mu.Unlock()
	for i, l := range stop {
		d.log.Info("on-demand pull stopping: its rule changed", "stream", stopped[i])
		l.p.Close()
		d.mu.Lock()
		if d.stopping[stopped[i]] == l {
			delete(d.stopping, stopped[i])
		}
		close(l.done)
		d.mu.Unlock()
	}
	for _, s := range d.cfg.Hub.Streams() {
		d.Demand(s.Name())
	}
	slices.Sort(stopped)
	return stopped
}

// sameFetch reports whether rules a and b pull stream name the same way.
func sameFetch(name string, a, b *Rule) bool {
	order := func(r *Rule) string { return cmp.Or(r.Order, OrderFailover) }
	return slices.Equal(a.ExpandSources(name), b.ExpandSources(name)) && order(a) == order(b) && a.Reliable == b.Reliable
}

// Start starts the pull of stream name if a rule covers it and it is not
// running, for a viewer about to be added whose request came through via;
// it returns nil if no rule covers the stream, else the viewer's wait for
// the stream to go live (see httpserver.OnDemand).
func (d *OnDemand) Start(name string, via []string) func(ctx context.Context) error {
	rule := d.Rule(name)
	if rule == nil || d.publishedHere(name) {
		return nil
	}
	d.mu.Lock()
	l := d.ensureLocked(name, rule, via)
	d.mu.Unlock()
	if l == nil {
		return func(context.Context) error { return stream.ErrHubClosed }
	}
	// The viewer is added next; until then nobody watches, and a viewer
	// that never comes must not keep the pull.
	d.Demand(name)
	return func(ctx context.Context) error { return d.wait(ctx, name, l) }
}

// Demand is the hub's hook: it starts the pull of a stream that has
// viewers and stops, Linger later, one that has none.
func (d *OnDemand) Demand(name string) {
	rule := d.Rule(name)
	if rule == nil {
		return
	}
	n := d.cfg.Hub.Readers(name)
	d.mu.Lock()
	defer d.mu.Unlock()
	if n > 0 && (d.links[name] != nil || !d.publishedHere(name)) {
		if l := d.ensureLocked(name, rule, nil); l != nil && l.linger != nil {
			l.linger.Stop()
			l.linger = nil
		}
		return
	}
	l := d.links[name]
	if l == nil || l.linger != nil {
		return
	}
	linger := rule.Linger
	if linger <= 0 {
		linger = DefaultLinger
	}
	l.linger = time.AfterFunc(linger, func() { d.expire(name, l) })
}

// publishedHere reports whether stream name has a publisher of this node
// that is not a pull (ffmpeg pushing into an edge, say): then no pull is
// started for it.
func (d *OnDemand) publishedHere(name string) bool {
	s := d.cfg.Hub.Get(name)
	if s == nil {
		return false
	}
	st := s.Stats()
	return st.Publisher != nil && !strings.HasPrefix(st.Publisher.Protocol, "pull-")
}

// ensureLocked returns the running link of stream name, starting one if
// needed (after the one that is stopping, if any); nil once closed.
func (d *OnDemand) ensureLocked(name string, rule *Rule, via []string) *demandLink {
	if d.closed {
		return nil
	}
	if l := d.links[name]; l != nil {
		return l
	}
	cfg := d.cfg.Base
	cfg.Hub, cfg.Stream, cfg.Sources = d.cfg.Hub, name, rule.ExpandSources(name)
	cfg.Order, cfg.Reliable, cfg.Via = rule.Order, rule.Reliable, via
	l := &demandLink{rule: rule, p: New(cfg), done: make(chan struct{})}
	d.links[name] = l
	d.log.Info("on-demand pull starting", "stream", name, "via", strings.Join(via, ","))
	if old := d.stopping[name]; old != nil {
		// A viewer came while the last pull stops: start once it has let
		// go of the stream, or the new one would find it still held.
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			<-old.done
			l.p.Start()
		}()
		return l
	}
	l.p.Start()
	return l
}

// expire stops link l of stream name if still nobody watches it.
func (d *OnDemand) expire(name string, l *demandLink) {
	d.mu.Lock()
	if d.links[name] != l || l.linger == nil || d.cfg.Hub.Readers(name) > 0 {
		d.mu.Unlock()
		return
	}
	delete(d.links, name) // a viewer from now on starts a new pull
	d.stopping[name] = l
	d.wg.Add(1)
	d.mu.Unlock()
	d.log.Info("on-demand pull stopping: no viewers", "stream", name)
	go func() {
		defer d.wg.Done()
		l.p.Close()
		d.mu.Lock()
		if d.stopping[name] == l {
			delete(d.stopping, name)
		}
		close(l.done)
		d.mu.Unlock()
	}()
}

// wait returns once stream name is live, or with a StartError.
func (d *OnDemand) wait(ctx context.Context, name string, l *demandLink) error {
	d.mu.Lock()
	timeout := l.rule.StartTimeout // SetRules may change the rule
	d.mu.Unlock()
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s := d.cfg.Hub.Get(name)
		if s == nil {
			return &StartError{Stream: name, Code: http.StatusServiceUnavailable, Err: stream.ErrClosed}
		}
		// Live means data has come: an upstream that answers and sends
		// nothing has not started the stream.
		live, changed := s.Publishing()
		if pub := s.Stats().Publisher; live && pub != nil && pub.BytesIn > 0 {
			return nil
		}
		if se := l.p.Refused(); se != nil {
			return &StartError{Stream: name, Code: se.Code, Err: se}
		}
		select {
		case <-changed:
		case <-tick.C: // for the first bytes, and Refused
		case <-timer.C:
			return &StartError{Stream: name, Code: http.StatusGatewayTimeout, Timeout: timeout, Err: l.p.Err()}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Links returns the running pulls by stream name, for the API.
func (d *OnDemand) Links() map[string]*Puller {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := make(map[string]*Puller, len(d.links))
	for name, l := range d.links {
		m[name] = l.p
	}
	return m
}

// Close stops every pull and waits for them.
func (d *OnDemand) Close() {
	d.mu.Lock()
	d.closed = true
	links := d.links
	d.links = map[string]*demandLink{}
	d.mu.Unlock()
	for _, l := range links {
		if l.linger != nil {
			l.linger.Stop()
		}
		l.p.Close()
	}
	d.wg.Wait()
}

// StartError is why a viewer of a stream pulled on demand got no stream.
type StartError struct {
	Stream  string
	Code    int           // the HTTP status for the viewer
	Timeout time.Duration // set when the wait timed out
	Err     error         // the pull's last error, if any
}

func (e *StartError) Error() string {
	// An upstream tsstream's refusal passes down a chain of edges as it
	// was first said, not wrapped once per hop.
	if se, ok := e.Err.(*StatusError); ok && e.Timeout == 0 &&
		(strings.HasPrefix(se.Body, "stream \"") || strings.HasPrefix(se.Body, "relay loop")) {
		return se.Body
	}
	var msg string
	switch {
	case e.Timeout > 0:
		msg = fmt.Sprintf("stream %q did not start within %v", e.Stream, e.Timeout)
	case e.Code == http.StatusNotFound:
		msg = fmt.Sprintf("stream %q: no upstream has it", e.Stream)
	default:
		msg = fmt.Sprintf("stream %q could not be fetched", e.Stream)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *StartError) Unwrap() error { return e.Err }

// HTTPStatus is the status a viewer gets: 504 for a timeout, the
// upstreams' 404 or 508 when every one refused.
func (e *StartError) HTTPStatus() int { return e.Code }
