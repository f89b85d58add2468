// Package stream is the hub every protocol talks to: named streams, each with
// one publisher and any number of readers sharing a bounded ring of chunks.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// Errors returned to publishers and readers.
var (
	ErrPublisherActive = errors.New("stream already has a publisher")
	ErrTakenOver       = errors.New("publisher replaced by a newer one (takeover)")
	ErrClosed          = errors.New("stream closed")
	ErrTooSlow         = errors.New("viewer keeps falling behind the stream")
)

// Options are the per-stream settings. The zero value of a field means its
// default.
type Options struct {
	// Format is what the publisher sends: FormatUnknown detects TS or raw
	// bytes from the first data of each publisher.
	Format mpegts.Format
	// Takeover lets a new publisher replace the live one instead of being
	// refused.
	Takeover bool
	// RingBytes bounds the bytes kept for readers (default 8 MiB).
	RingBytes int64
	// RingAge, when positive, also bounds how old the bytes kept may be:
	// the window in which a reliable link can resume (zero: no bound).
	RingAge time.Duration
	// MaxSkips is how many times a reader may fall out of the ring within
	// SkipWindow before it is disconnected (default 3 in 30 s).
	MaxSkips   int
	SkipWindow time.Duration
	// WriteTimeout is how long an output may wait on one socket write
	// before it drops the viewer (default 10 s). The stream only carries it
	// for the outputs.
	WriteTimeout time.Duration
	// MaxUnsent bounds the bytes a real-time viewer's TCP socket may hold
	// not yet sent (TCP_NOTSENT_LOWAT; default 128 KiB). The kernel would
	// otherwise queue megabytes for a viewer that reads slowly, out of the
	// ring's sight, so that the viewer never fell out of the ring and the
	// skip policy never saw it. The stream only carries it for the
	// outputs.
	MaxUnsent int64
	// NoGOPCache turns the GOP cache off: readers of TS video wait for the
	// next keyframe instead of starting at the newest one in the ring.
	NoGOPCache bool
	// GOPMaxBytes and GOPMaxAge bound the GOP cache: a newest keyframe
	// further back than this is not used, and readers wait for the next
	// one (default 4 MiB and 10 s; the ring bounds the bytes too).
	GOPMaxBytes int64
	GOPMaxAge   time.Duration
}

// DefaultMaxUnsent is Options.MaxUnsent's default: 0.6 s of a 1.74 Mbit/s
// stream. It bounds only what waits to be sent, not what is in flight, so
// it does not cap a viewer's throughput over a long round trip.
const DefaultMaxUnsent = 128 << 10

func (o Options) withDefaults() Options {
	if o.RingBytes <= 0 {
		o.RingBytes = 8 << 20
	}
	o.RingBytes = max(o.RingBytes, MaxChunk)
	if o.MaxSkips <= 0 {
		o.MaxSkips = 3
	}
	if o.SkipWindow <= 0 {
		o.SkipWindow = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxUnsent <= 0 {
		o.MaxUnsent = DefaultMaxUnsent
	}
	if o.GOPMaxBytes <= 0 {
		o.GOPMaxBytes = 4 << 20
	}
	if o.GOPMaxAge <= 0 {
		o.GOPMaxAge = 10 * time.Second
	}
	return o
}

// Stream is one named live stream: at most one publisher appends chunks to
// the ring, and every reader reads them at its own pace.
type Stream struct {
	// Static after construction.
	name    string
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	created time.Time
	ringID  string
	hub     *Hub
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc

	// Updated atomically, read by stats.
	bytesIn     atomic.Int64
	droppedIn   atomic.Int64
	bytesOutOld atomic.Int64 // bytes sent to readers that have left
	ttff        ttffHistogram

	// mu guards the fields below. Readers take their batches under the
	// shared lock (reader.go); everything that changes the stream takes
	// the exclusive one.
	mu        sync.RWMutex
	static    bool // declared in the configuration: kept while idle
	ring      *ring
	pub       *Publisher
	pubChange chan struct{} // closed and replaced whenever pub changes
	readers   map[*Reader]struct{}
	wake      chan struct{} // closed by the next append (or Close) if waited is set
	waited    atomic.Bool   // a reader took wake under the shared lock
	closed    bool
	gone      bool // removed from the hub
	publishes int64
	format    mpegts.Format // of the newest publisher whose format is known
	rate      rateMeter
	ts        tsState
	skips     int64
	skipBytes int64
	cuts      map[string]int64 // readers disconnected, by reason
	marks     []pathMark       // where the relay path of the bytes changes (path.go); never empty

	// Direct delivery (sink.go).
	appends    atomic.Uint64  // appends so far
	nparked    atomic.Int32   // len(parked), read without parkMu
	deliverMu  sync.Mutex     // one delivery at a time; guards delivering
	parkMu     sync.Mutex     // guards parked and the readers' park state
	parked     []*Reader      // readers with a sink waiting for data
	delivering []*Reader      // the readers the delivery under way took
	helperWork chan []*Reader // parts of a delivery for the helpers; made with the first
	helperDone chan struct{}  // a helper finished its part
	helpers    int            // helpers started; guarded by deliverMu
}

func newStream(h *Hub, name string, opts Options, static bool) *Stream {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	created := h.now()
	return &Stream{
		name:      name,
		opts:      opts,
		static:    static,
		log:       h.log.With("stream", name),
		now:       h.now,
		created:   created,
		ringID:    h.ringID(created.UnixNano()),
		hub:       h,
		ctx:       ctx,
		cancel:    cancel,
		ring:      newRing(opts.RingBytes, opts.RingAge),
		pubChange: make(chan struct{}),
		wake:      make(chan struct{}),
		format:    opts.Format,
		readers:   make(map[*Reader]struct{}),
		cuts:      make(map[string]int64),
		marks:     []pathMark{{}},
	}
}

// Name returns the stream's name.
func (s *Stream) Name() string { return s.name }

// Static reports whether the stream is declared in the configuration (it
// stays while nobody uses it) rather than made by its first user.
func (s *Stream) Static() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.static
}

// Options returns the stream's settings with defaults filled in.
func (s *Stream) Options() Options { return s.opts }

// Context is cancelled when the stream is closed: outputs use it to cut a
// write that is stuck on a viewer who no longer reads.
func (s *Stream) Context() context.Context { return s.ctx }

// append adds p from publisher pub to the ring as chunks of at most
// maxChunk bytes; ts, when not nil, updates what the stream knows of its TS
// (see ts.go) in the same critical section. Then it wakes the waiting
// readers. Data from a publisher that was just replaced is dropped.
func (s *Stream) append(pub *Publisher, p []byte, maxChunk int, ts *tsSession) {
	if len(p) == 0 {
		return
	}
	now := s.now()
	at := now.UnixNano()
	s.mu.Lock()
	if s.pub != pub {
		s.mu.Unlock()
		return
	}
	start := s.ring.off
	for rest := p; len(rest) > 0; {
		n := min(len(rest), maxChunk)
		s.ring.push(rest[:n], at)
		rest = rest[n:]
	}
	s.rate.add(now, len(p))
	if ts != nil {
		s.updateTSLocked(ts, start, now)
	}
	s.appends.Add(1)
	s.wakeLocked()
	s.mu.Unlock()
	s.deliver()
}

// waitLocked returns the channel that the next append closes. The shared
// lock suffices: append, which holds the exclusive one, cannot run between
// the reader finding nothing new and its marking that it waits.
func (s *Stream) waitLocked() <-chan struct{} {
	s.waited.Store(true)
	return s.wake
}

// wakeLocked wakes every reader that waits, with one channel close instead
// of a send per reader; with nobody waiting it costs nothing. The
// exclusive lock must be held.
func (s *Stream) wakeLocked() {
	if s.waited.Swap(false) {
		close(s.wake)
		s.wake = make(chan struct{})
	}
}

// Close ends the stream: the publisher and every reader get ErrClosed.
func (s *Stream) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.wakeLocked() // readers waiting for data find the stream closed
	pub := s.pub
	s.mu.Unlock()
	s.cancel()
	s.handBackAll() // parked readers find the stream closed
	if pub != nil {
		pub.kick(ErrClosed)
	}
}

// idle reports whether nobody uses the stream; s.mu must be held.
func (s *Stream) idle() bool {
	return s.pub == nil && len(s.readers) == 0
}

// releaseIfIdle asks the hub to forget the stream once nobody uses it.
func (s *Stream) releaseIfIdle() {
	s.mu.Lock()
	idle := s.idle() && !s.static
	s.mu.Unlock()
	if idle {
		s.hub.remove(s)
	}
}

// Publishing reports whether a publisher is live, and returns a channel
// that is closed when that changes (a publisher arrives, leaves or is
// replaced). Relays use it to forward a stream only while it has a source.
func (s *Stream) Publishing() (live bool, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pub != nil, s.pubChange
}

// setPublisherLocked makes p (nil: none) the publisher and tells the
// watchers of Publishing.
func (s *Stream) setPublisherLocked(p *Publisher) {
	s.pub = p
	close(s.pubChange)
	s.pubChange = make(chan struct{})
}

// PublisherPath returns the relay path of the live publisher's data (see
// PublisherInfo.Path), or nil.
func (s *Stream) PublisherPath() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub == nil {
		return nil
	}
	return s.pub.info.Path
}

// Stats is a snapshot of a stream's state and counters.
type Stats struct {
	Name      string
	Created   time.Time
	Format    string          // ts, raw, or unknown before the first data
	Publisher *PublisherStats // nil when nobody publishes
	Publishes int64           // publishers accepted so far
	BytesIn   int64           // bytes published into the ring
	DroppedIn int64           // bytes dropped while aligning TS (garbage, resync)
	BytesOut  int64           // payload bytes written to readers
	Readers   map[string]int  // readers now, by protocol
	Skips     int64           // times a reader fell out of the ring
	SkipBytes int64           // bytes readers skipped that way
	Cuts      map[string]int64
	RingBytes int64 // bytes held now
	RingLimit int64
	Bitrate   int64 // bits per second published, over the last second

	// MPEG-TS only.
	TS          *mpegts.Info // programs, codecs, video, continuity errors; nil until known
	GOPBytes    int64        // bytes from the newest keyframe to the live edge; -1 if none
	GOPCache    string       // "on", "off", or "exceeded" when the newest GOP is past the bounds
	GOPJoins    int64        // readers started at a cached keyframe
	KeyWaits    int64        // readers that waited for the next keyframe
	GOPTooLong  int64        // ... because the cached GOP exceeded the bounds
	KeyTimeouts int64        // waits that found no keyframe within GOPMaxAge

	// TTFF is how long readers waited for their first bytes.
	TTFF TTFF
}

// PublisherStats describes the live publisher.
type PublisherStats struct {
	PublisherInfo
	Since   time.Time
	BytesIn int64
}

// Stats returns a snapshot of the stream's counters.
func (s *Stream) Stats() Stats {
	st := Stats{
		Name:      s.name,
		Created:   s.created,
		BytesIn:   s.bytesIn.Load(),
		DroppedIn: s.droppedIn.Load(),
		BytesOut:  s.bytesOutOld.Load(),
		Readers:   make(map[string]int),
		Cuts:      make(map[string]int64),
		RingLimit: s.opts.RingBytes,
		TTFF:      s.ttff.snapshot(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for r := range s.readers {
		st.Readers[r.info.Protocol]++
		st.BytesOut += r.sent.Load()
	}
	for k, v := range s.cuts {
		st.Cuts[k] = v
	}
	st.Publishes, st.Skips, st.SkipBytes = s.publishes, s.skips, s.skipBytes
	st.RingBytes = s.ring.bytes
	st.Format = s.format.String()
	st.Bitrate = s.rate.bitsPerSecond(s.now())
	if s.ts.hasInfo {
		info := s.ts.info
		st.TS = &info
	}
	st.GOPBytes = -1
	if s.ring.hasKey {
		st.GOPBytes = s.ring.off - s.ring.key.off
	}
	switch {
	case s.opts.NoGOPCache:
		st.GOPCache = "off"
	case s.ring.hasKey && !s.withinBounds(s.ring.key):
		st.GOPCache = "exceeded"
	default:
		st.GOPCache = "on"
	}
	st.GOPJoins, st.KeyWaits, st.GOPTooLong = s.ts.gopJoins, s.ts.keyWaits, s.ts.gopTooLong
	st.KeyTimeouts = s.ts.keyTimeouts
	if p := s.pub; p != nil {
		st.Publisher = &PublisherStats{PublisherInfo: p.info, Since: p.since, BytesIn: p.bytes.Load()}
	}
	return st
}

func (s *Stream) String() string { return fmt.Sprintf("stream %q", s.name) }

// BitrateHistory returns the published bitrate in bits/s averaged over
// steps of step (whole seconds, at least one), oldest first, for the last
// five minutes or since the stream appeared.
func (s *Stream) BitrateHistory(step time.Duration) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate.history(s.now(), max(int(step/time.Second), 1))
}
