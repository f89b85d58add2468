package guard

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Errors a Meter ends a publisher with.
var (
	ErrIdle     = errors.New("publisher sent nothing for publish_idle_timeout")
	ErrOverRate = errors.New("publisher over the stream's max_publish_rate")
)

// minBurst is the least a rate bucket holds, so that a low ceiling still
// lets whole reads through.
const minBurst = 256 << 10

// Meter reads a publisher's source and ends it when it falls silent for
// the stream's idle timeout or sends faster than its rate ceiling (a
// token bucket holding two seconds at that rate). The idle timer forces
// the source's read deadline to now; it never pushes a deadline later, so
// it does not undo one set by others (a takeover, a shutdown).
type Meter struct {
	// Static after construction.
	g           *Guard
	src         io.Reader
	setDeadline func(time.Time) error
	rate        float64 // bytes per second; 0: no ceiling
	burst       float64
	idle        time.Duration
	timer       *time.Timer // nil without an idle timeout

	idled atomic.Bool

	// Owned by Read.
	tokens float64
	last   time.Time
}

// Meter returns a Meter of src, published to stream; setDeadline sets the
// read deadline of src's connection (nil: no idle timeout).
func (g *Guard) Meter(stream string, src io.Reader, setDeadline func(time.Time) error) *Meter {
	sp := g.Policy().stream(stream)
	m := &Meter{g: g, src: src, setDeadline: setDeadline, idle: sp.IdleTimeout, last: g.now()}
	if sp.MaxRate > 0 {
		m.rate = float64(sp.MaxRate)
		m.burst = max(2*m.rate, minBurst)
		m.tokens = m.burst
	}
	if m.idle > 0 && setDeadline != nil {
		m.timer = time.AfterFunc(m.idle, func() {
			m.idled.Store(true)
			setDeadline(time.Now())
		})
	}
	return m
}

// Read reads from the source; after a cut it returns ErrIdle or
// ErrOverRate.
func (m *Meter) Read(p []byte) (int, error) {
	n, err := m.src.Read(p)
	if err != nil && m.idled.Load() {
		m.g.Count(PublishIdle)
		return n, fmt.Errorf("%w (%s)", ErrIdle, m.idle)
	}
	if n > 0 && m.timer != nil {
		m.timer.Reset(m.idle)
	}
	if n > 0 && m.rate > 0 {
		now := m.g.now()
		m.tokens = min(m.burst, m.tokens+now.Sub(m.last).Seconds()*m.rate)
		m.last = now
		if m.tokens -= float64(n); m.tokens < 0 {
			m.g.Count(PublishRate)
			return n, fmt.Errorf("%w (%d bytes/s)", ErrOverRate, int64(m.rate))
		}
	}
	return n, err
}

// Stop ends the idle timer.
func (m *Meter) Stop() {
	if m.timer != nil {
		m.timer.Stop()
	}
}
