package stream

import (
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// ErrHubClosed is returned once the hub is shutting down.
var ErrHubClosed = errors.New("server is shutting down")

// Config sets up a Hub. The zero value works.
type Config struct {
	// Options returns the settings of a stream by name; nil gives every
	// stream the defaults.
	Options func(name string) Options
	// Static names streams that exist from the start and are kept while
	// nobody uses them. Other streams come and go with their users.
	Static []string
	// ValidName checks a stream name; nil accepts any name.
	ValidName func(name string) error
	// Demand, when set, is called after a stream gains its first reader
	// or loses its last, outside the hub's locks; it reads the count with
	// Hub.Readers, which may have moved on since (calls can overtake each
	// other), and must not block. On-demand pulls start and stop on it.
	Demand func(name string)
	Log    *slog.Logger     // nil discards
	Now    func() time.Time // nil is time.Now
}

// Hub holds the named streams. Streams are created when a publisher or
// reader first asks for them.
type Hub struct {
	// Static after construction.
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex // guards the fields below; taken before any Stream.mu
	streams map[string]*Stream
	closed  bool
	rings   uint64 // streams created, for ring IDs
}

// NewHub returns a hub with cfg's static streams created.
func NewHub(cfg Config) *Hub {
	h := &Hub{cfg: cfg, log: cfg.Log, now: cfg.Now, streams: make(map[string]*Stream)}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	for _, name := range cfg.Static {
		h.streams[name] = newStream(h, name, h.options(name), true)
	}
	return h
}

func (h *Hub) options(name string) Options {
	if h.cfg.Options == nil {
		return Options{}
	}
	return h.cfg.Options(name)
}

// with runs f on the stream called name, creating it if needed, under the
// hub's lock so the stream cannot be removed meanwhile.
func (h *Hub) with(name string, f func(*Stream) error) error {
	if h.cfg.ValidName != nil {
		if err := h.cfg.ValidName(name); err != nil {
			return &NameError{Err: err}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrHubClosed
	}
	s := h.streams[name]
	if s == nil {
		s = newStream(h, name, h.options(name), false)
		h.streams[name] = s
	}
	return f(s)
}

// Publish makes a new publisher of the stream called name.
func (h *Hub) Publish(name string, info PublisherInfo) (*Publisher, error) {
	var p *Publisher
	err := h.with(name, func(s *Stream) (err error) {
		p, err = s.Publish(info)
		return err
	})
	return p, err
}

// NewReader adds a reader to the stream called name; the stream need not
// have a publisher yet.
func (h *Hub) NewReader(name string, info ReaderInfo) (*Reader, error) {
	var (
		r *Reader
		n int
	)
	err := h.with(name, func(s *Stream) (err error) {
		r, n, err = s.newReader(info)
		return err
	})
	if err == nil && n == 1 {
		h.demand(name)
	}
	return r, err
}

// NewReaderAt adds an exact reader (see Stream.NewReaderAt) to the stream
// called name and returns the offset it starts at.
func (h *Hub) NewReaderAt(name string, info ReaderInfo, ring string, off int64) (*Reader, int64, error) {
	var (
		r *Reader
		n int
	)
	err := h.with(name, func(s *Stream) (err error) {
		r, n, err = s.newReaderAt(info, ring, off)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if n == 1 {
		h.demand(name)
	}
	return r, r.offset(), nil
}

// Readers returns how many readers the stream called name has (0 when
// there is no such stream).
func (h *Hub) Readers(name string) int {
	s := h.Get(name)
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readers)
}

func (h *Hub) demand(name string) {
	if h.cfg.Demand != nil {
		h.cfg.Demand(name)
	}
}

// Get returns the stream called name, or nil.
func (h *Hub) Get(name string) *Stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams[name]
}

// Len returns how many streams the hub holds.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// Streams returns the streams sorted by name.
func (h *Hub) Streams() []*Stream {
	h.mu.Lock()
	list := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		list = append(list, s)
	}
	h.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	return list
}

// SetStatic makes names the static streams, as a reload of the
// configuration does: a name without a stream gets one, and a static stream
// no longer named becomes like any other, kept while in use and removed
// once idle. Streams already there keep their options.
func (h *Hub) SetStatic(names []string) {
	want := make(map[string]bool, len(names))
	for _, name := range names {
		want[name] = true
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	for name := range want {
		if h.streams[name] == nil {
			h.streams[name] = newStream(h, name, h.options(name), true)
		}
	}
	var released []*Stream
	for name, s := range h.streams {
		s.mu.Lock()
		if s.static && !want[name] {
			released = append(released, s)
		}
		s.static = want[name]
		s.mu.Unlock()
	}
	h.mu.Unlock()
	for _, s := range released {
		s.releaseIfIdle()
	}
}

// remove forgets s if it is still idle.
func (h *Hub) remove(s *Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.mu.Lock()
	idle := s.idle() && !s.gone
	if idle {
		s.gone = true
	}
	s.mu.Unlock()
	if idle && h.streams[s.name] == s {
		delete(h.streams, s.name)
	}
}

// Close closes every stream and refuses new publishers and readers.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	list := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		list = append(list, s)
	}
	h.mu.Unlock()
	for _, s := range list {
		s.Close()
	}
}
