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
	// MaxSkips is how many times a reader may fall out of the ring within
	// SkipWindow before it is disconnected (default 3 in 30 s).
	MaxSkips   int
	SkipWindow time.Duration
	// WriteTimeout is how long an output may wait on one socket write
	// before it drops the viewer (default 10 s). The stream only carries it
	// for the outputs.
	WriteTimeout time.Duration
}

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
	return o
}

// Stream is one named live stream: at most one publisher appends chunks to
// the ring, and every reader reads them at its own pace.
type Stream struct {
	// Static after construction.
	name    string
	opts    Options
	static  bool // declared in the configuration: kept while idle
	log     *slog.Logger
	now     func() time.Time
	created time.Time
	hub     *Hub
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc

	// Updated atomically, read by stats.
	bytesIn     atomic.Int64
	droppedIn   atomic.Int64
	bytesOutOld atomic.Int64 // bytes sent to readers that have left

	mu        sync.Mutex // guards the fields below
	ring      *ring
	pub       *Publisher
	readers   map[*Reader]struct{}
	waiters   []*Reader // readers waiting for the next chunk
	closed    bool
	gone      bool // removed from the hub
	publishes int64
	format    mpegts.Format // of the newest publisher whose format is known
	skips     int64
	skipBytes int64
	cuts      map[string]int64 // readers disconnected, by reason
}

func newStream(h *Hub, name string, opts Options, static bool) *Stream {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Stream{
		name:    name,
		opts:    opts,
		static:  static,
		log:     h.log.With("stream", name),
		now:     h.now,
		created: h.now(),
		hub:     h,
		ctx:     ctx,
		cancel:  cancel,
		ring:    newRing(opts.RingBytes),
		format:  opts.Format,
		readers: make(map[*Reader]struct{}),
		cuts:    make(map[string]int64),
	}
}

// Name returns the stream's name.
func (s *Stream) Name() string { return s.name }

// Options returns the stream's settings with defaults filled in.
func (s *Stream) Options() Options { return s.opts }

// Context is cancelled when the stream is closed: outputs use it to cut a
// write that is stuck on a viewer who no longer reads.
func (s *Stream) Context() context.Context { return s.ctx }

// append adds p to the ring as chunks of at most maxChunk bytes and wakes
// waiting readers.
func (s *Stream) append(p []byte, flags uint8, maxChunk int) {
	if len(p) == 0 {
		return
	}
	at := s.now().UnixNano()
	s.mu.Lock()
	for len(p) > 0 {
		n := min(len(p), maxChunk)
		s.ring.push(p[:n], at, flags)
		p, flags = p[n:], 0
	}
	for i, r := range s.waiters {
		select {
		case r.wake <- struct{}{}:
		default:
		}
		s.waiters[i] = nil
	}
	s.waiters = s.waiters[:0]
	s.mu.Unlock()
}

// Close ends the stream: the publisher and every reader get ErrClosed.
func (s *Stream) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	pub := s.pub
	s.mu.Unlock()
	s.cancel()
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
	if p := s.pub; p != nil {
		st.Publisher = &PublisherStats{PublisherInfo: p.info, Since: p.since, BytesIn: p.bytes.Load()}
	}
	return st
}

func (s *Stream) String() string { return fmt.Sprintf("stream %q", s.name) }
