package stream

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// PublisherInfo says who publishes: the protocol and the remote address.
type PublisherInfo struct {
	Protocol string // tcp, udp, http, …
	Remote   string
	// Path names the relay nodes the data went through before this one,
	// first the origin (from the Tsstream-Path header of an HTTP push or
	// of a pull's answer); SetPath corrects it.
	Path []string
}

// detectTimeout bounds how long data waits while an auto-format stream
// decides between TS and raw bytes (a slow raw stream may never fill the
// detection window).
const detectTimeout = time.Second

// readBufferSize is the read size of ReadFrom: large enough for a burst
// of a fast stream in one system call.
const readBufferSize = 64 << 10

// tsMaxChunk keeps TS chunks on packet boundaries.
const tsMaxChunk = MaxChunk / mpegts.PacketSize * mpegts.PacketSize

// Publisher is the one writer of a stream. Its methods are not safe for
// concurrent use, except Done and kick.
type Publisher struct {
	// Static after construction.
	s     *Stream
	info  PublisherInfo
	since time.Time

	// Owned by the publishing goroutine.
	format   mpegts.Format // written under s.mu
	align    mpegts.Aligner
	ts       tsSession
	detect   []byte // data held until the format is known
	scratch  []byte // aligned output of the last write
	firstAt  time.Time
	closed   bool
	dropBase int64 // aligner drops already added to the stream's counter

	bytes    atomic.Int64
	kickOnce sync.Once
	kicked   chan struct{}
	kickErr  error
}

// Publish makes p the stream's publisher. It fails with ErrPublisherActive
// while another publisher is live, unless the stream allows takeover.
func (s *Stream) Publish(info PublisherInfo) (*Publisher, error) {
	p := &Publisher{s: s, info: info, since: s.now(), format: s.opts.Format, kicked: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	old := s.pub
	if old != nil && !s.opts.Takeover {
		s.mu.Unlock()
		return nil, &PublisherActiveError{Stream: s.name, Current: old.info, Since: old.since}
	}
	s.setPublisherLocked(p)
	s.markPathLocked(info.Path)
	s.publishes++
	s.newTSSessionLocked(&p.ts)
	s.mu.Unlock()
	if old != nil {
		old.kick(ErrTakenOver)
		s.log.Info("publisher taken over", "protocol", old.info.Protocol, "remote", old.info.Remote,
			"by_protocol", info.Protocol, "by_remote", info.Remote)
	}
	s.log.Info("publisher connected", "protocol", info.Protocol, "remote", info.Remote, "format", p.formatName())
	return p, nil
}

// Done is closed when the publisher must stop: it was taken over or the
// stream closed. Err then says which.
func (p *Publisher) Done() <-chan struct{} { return p.kicked }

// Err returns why the publisher was stopped, or nil.
func (p *Publisher) Err() error {
	select {
	case <-p.kicked:
		return p.kickErr
	default:
		return nil
	}
}

func (p *Publisher) kick(err error) {
	p.kickOnce.Do(func() {
		p.kickErr = err
		close(p.kicked)
	})
}

// Write publishes b. TS is re-aligned to whole packets first; raw bytes go
// in as they are. It returns an error once the publisher has been stopped.
func (p *Publisher) Write(b []byte) (int, error) {
	if err := p.Err(); err != nil {
		return 0, err
	}
	p.bytes.Add(int64(len(b)))
	switch p.format {
	case mpegts.FormatTS:
		p.writeTS(b)
	case mpegts.FormatRaw:
		p.s.bytesIn.Add(int64(len(b)))
		p.s.append(p, b, MaxChunk, nil)
	default:
		p.detectFormat(b)
	}
	return len(b), nil
}

func (p *Publisher) writeTS(b []byte) {
	p.scratch = p.align.Align(p.scratch[:0], b)
	if d := p.align.Dropped(); d != p.dropBase {
		p.s.droppedIn.Add(d - p.dropBase)
		p.dropBase = d
	}
	p.s.bytesIn.Add(int64(len(p.scratch)))
	p.ts.keys = p.ts.index.Feed(p.scratch)
	p.s.append(p, p.scratch, tsMaxChunk, &p.ts)
}

// detectFormat holds data until mpegts.Detect decides, or until the window
// or detectTimeout runs out (then it is raw), and replays it.
func (p *Publisher) detectFormat(b []byte) {
	if p.firstAt.IsZero() {
		p.firstAt = p.s.now()
	}
	p.detect = append(p.detect, b...)
	f := mpegts.Detect(p.detect)
	if f == mpegts.FormatUnknown && p.s.now().Sub(p.firstAt) >= detectTimeout {
		f = mpegts.FormatRaw
	}
	if f == mpegts.FormatUnknown {
		return
	}
	p.setFormat(f)
	p.s.log.Debug("publisher format detected", "format", f.String(), "after_bytes", len(p.detect))
	held := p.detect
	p.detect = nil
	p.bytes.Add(-int64(len(held)))
	p.Write(held)
}

// ReadFrom publishes what r yields until it ends (then it returns nil) or
// the publisher is stopped (then it returns Err). A caller blocked in r.Read
// must unblock it when Done closes, for example with a read deadline.
func (p *Publisher) ReadFrom(r io.Reader) (n int64, err error) {
	buf := make([]byte, readBufferSize)
	for {
		m, rerr := r.Read(buf)
		if m > 0 {
			n += int64(m)
			if _, err := p.Write(buf[:m]); err != nil {
				return n, err
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			return n, nil
		case p.Err() != nil:
			return n, p.Err()
		default:
			return n, rerr
		}
	}
}

// EndReason describes for logs how a publishing session that returned err
// from ReadFrom ended.
func EndReason(err error) string {
	if err == nil {
		return "publisher closed"
	}
	return err.Error()
}

// Close ends this publisher's session; readers stay connected and wait for
// the next publisher. reason is logged.
func (p *Publisher) Close(reason string) {
	if p.closed {
		return
	}
	p.closed = true
	if len(p.detect) > 0 && p.Err() == nil {
		// Too little data to tell: deliver it as it came.
		p.setFormat(mpegts.FormatRaw)
		held := p.detect
		p.detect = nil
		p.bytes.Add(-int64(len(held)))
		p.Write(held)
	}
	if n := p.align.Flush(); n > 0 {
		p.s.droppedIn.Add(int64(n))
	}
	s := p.s
	s.mu.Lock()
	if s.pub == p {
		s.setPublisherLocked(nil)
	}
	s.mu.Unlock()
	p.kick(ErrClosed)
	s.log.Info("publisher disconnected", "protocol", p.info.Protocol, "remote", p.info.Remote,
		"reason", reason, "bytes", p.bytes.Load(), "dropped", p.align.Dropped(),
		"duration", s.now().Sub(p.since).Round(time.Millisecond))
	s.releaseIfIdle()
}

func (p *Publisher) setFormat(f mpegts.Format) {
	p.s.mu.Lock()
	p.format = f
	p.s.format = f
	p.s.mu.Unlock()
}

func (p *Publisher) formatName() string {
	if p.format == mpegts.FormatUnknown {
		return "auto"
	}
	return p.format.String()
}
