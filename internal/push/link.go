package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/tsstream/tsstream/internal/stream"
)

// Reasons a push session ended, as counted among the stream's disconnects
// and logged.
const (
	reasonDownstream       = "downstream closed"
	reasonError            = "downstream error"
	reasonWriteTimeout     = "write timeout"
	reasonTooSlow          = "too slow"
	reasonShutdown         = "shutdown"
	reasonPublisherChanged = "publisher changed"
	reasonPathChanged      = "relay path changed"
	reasonFellBehind       = "fell behind"
)

// A link is one connection to a target, made by target.connect.
type link interface {
	// write sends one batch and returns how many of its bytes went out;
	// an error ends the session.
	write(b stream.Batch) (int, error)
	// finish ends the output cleanly (the last HTTP chunk) when the pusher
	// or the stream closes between batches.
	finish()
	// close closes the connection and waits for its helper goroutine.
	close()
}

// target runs the sessions of one destination, one after another.
type target struct {
	// Static after construction.
	p        *Pusher
	d        *dest // nil when the URL is bad
	parseErr error
	proto    string // reader protocol: push-tcp, push-udp, push-http
	name     string // the URL with its secrets hidden
	log      *slog.Logger

	// Owned by the run goroutine.
	failures int    // in a row
	sessions int64  // connections made
	next     int64  // stream offset the next batch should start at; -1 unknown
	pushed   string // reliable: the ring of the last session sent; "" none yet

	mu sync.Mutex // guards st
	st TargetStats
}

func newTarget(p *Pusher, t Target) *target {
	d, err := parseTarget(t.URL)
	tg := &target{p: p, d: d, parseErr: err}
	// Until its goroutine first looks, a target is idle: a real-time push
	// waits for the stream's publisher (waitLive) before it connects, and
	// the API must not say "connecting" meanwhile.
	tg.st = TargetStats{URL: t.URL, Stream: p.cfg.Stream, State: StateIdle, Since: p.cfg.Now()}
	if err != nil {
		tg.st.State, tg.st.LastError = StateStopped, err.Error()
	} else {
		tg.st.URL = d.redacted
		tg.proto = "push-" + d.scheme
		tg.st.Reliable = d.reliable
		if d.reliable {
			tg.st.State = StateConnecting // it does not wait (reliable.go)
		}
	}
	tg.name = tg.st.URL
	tg.log = p.log.With("stream", p.cfg.Stream, "target", tg.name)
	return tg
}

func (t *target) stats() TargetStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st
}

// set changes the state; the caller logs.
func (t *target) set(state string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st.State != state {
		t.st.State, t.st.Since = state, t.p.cfg.Now()
	}
	if err != nil {
		t.st.LastError = err.Error()
	}
}

func (t *target) count(f func(st *TargetStats)) {
	t.mu.Lock()
	f(&t.st)
	t.mu.Unlock()
}

// errPublisherChanged ends a session when the stream's publisher leaves or
// is replaced: a push forwards one publisher's session, and connects only
// while there is one, so that an idle relay never holds a downstream
// stream's publisher slot, and the relay path it announces is current.
var errPublisherChanged = errors.New("the stream's publisher changed")

// waitLive blocks until the stream has a publisher; false when ctx ends.
func (t *target) waitLive(ctx context.Context) bool {
	s := t.p.cfg.Hub.Get(t.p.cfg.Stream)
	if s == nil {
		return ctx.Err() == nil // not a configured stream: push as it comes
	}
	for {
		live, changed := s.Publishing()
		if live {
			return true
		}
		t.set(StateIdle, nil)
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		case <-s.Context().Done():
			return false
		}
	}
}

// run connects, pushes and backs off until ctx ends or the stream closes.
func (t *target) run(ctx context.Context) {
	for {
		// A reliable push does not wait for a publisher (reliable.go).
		if !t.d.reliable && !t.waitLive(ctx) {
			t.set(StateStopped, nil)
			return
		}
		t.set(StateConnecting, nil)
		up, err := t.session(ctx)
		if errors.Is(err, errPublisherChanged) || errors.Is(err, errPathChanged) && ctx.Err() == nil {
			continue
		}
		if ctx.Err() != nil || errors.Is(err, errStop) {
			t.set(StateStopped, nil)
			if ctx.Err() == nil {
				t.log.Info("push stopped", "reason", "stream closed")
			}
			return
		}
		if up >= stableAfter {
			t.failures = 0
		}
		t.failures++
		var se *statusError
		hold := errors.As(err, &se) && se.hold()
		wait := backoff(t.failures, t.p.cfg.MinBackoff, t.p.cfg.MaxBackoff, t.p.rand(), hold)
		t.set(StateBackoff, err)
		t.log.Warn("push backing off", "err", err, "retry_in", wait.Round(time.Millisecond), "failures", t.failures)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			t.set(StateStopped, nil)
			return
		case <-timer.C:
		}
	}
}

// session makes one connection and pushes the stream to it until either
// ends. It returns how long the link was up and why it ended.
func (t *target) session(ctx context.Context) (time.Duration, error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	l, r, err := t.open(sctx, cancel)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, errStop) {
			t.count(func(st *TargetStats) { st.Failures++ })
		}
		return 0, err
	}
	defer l.close()
	// A write stuck on a target that does not read ends with the stream.
	stop := context.AfterFunc(r.Stream().Context(), func() { cancel(stream.ErrClosed) })
	defer stop()
	if t.d.reliable {
		// Goes on across publishers (reliable.go).
	} else if live, changed := r.Stream().Publishing(); !live {
		cancel(errPublisherChanged)
	} else {
		go func() {
			select {
			case <-changed:
				cancel(errPublisherChanged)
			case <-sctx.Done():
			}
		}()
	}

	start := t.p.cfg.Now()
	t.next = -1
	t.sessions++
	t.count(func(st *TargetStats) { st.Reconnects = t.sessions - 1 })
	t.set(StateUp, nil)
	t.log.Info("push connected", "protocol", t.proto, "reconnects", t.sessions-1)

	var sent int64
	reason, err := t.pump(ctx, sctx, r, l, &sent)
	r.Close(reason)
	up := t.p.cfg.Now().Sub(start)
	level := slog.LevelInfo
	if err != nil && !errors.Is(err, errStop) && !errors.Is(err, errPathChanged) {
		level = slog.LevelWarn
	}
	t.log.Log(context.Background(), level, "push disconnected", "reason", reason, "err", err,
		"bytes", sent, "duration", up.Round(time.Millisecond))
	return up, err
}

// open connects to the target and returns the link with the reader of the
// stream to send: a real-time push connects and then reads from where a
// new viewer would; a reliable one places its reader where the target
// says (reliable.go).
func (t *target) open(ctx context.Context, cancel context.CancelCauseFunc) (link, *stream.Reader, error) {
	if t.d.reliable {
		return t.dialReliable(ctx, cancel)
	}
	l, err := t.connect(ctx, cancel)
	if err != nil {
		return nil, nil, err
	}
	r, err := t.p.cfg.Hub.NewReader(t.p.cfg.Stream, stream.ReaderInfo{Protocol: t.proto, Remote: t.name})
	if err != nil {
		l.close()
		if errors.Is(err, stream.ErrHubClosed) || errors.Is(err, stream.ErrClosed) {
			return nil, nil, fmt.Errorf("%w: %w", errStop, err)
		}
		return nil, nil, err
	}
	return l, r, nil
}

// connect opens a link of the target's kind. cancel ends the session with
// a cause, for the link's helper goroutine to report the target hanging up.
func (t *target) connect(ctx context.Context, cancel context.CancelCauseFunc) (link, error) {
	switch t.d.scheme {
	case "tcp":
		return t.dialTCP(ctx, cancel)
	case "udp":
		return t.dialUDP(ctx)
	default:
		return t.dialHTTP(ctx, cancel)
	}
}

// pump writes the stream to l until the session ends. ctx is the
// pusher's; sctx the session's, cancelled with a cause when the target
// hangs up or the stream closes.
func (t *target) pump(ctx, sctx context.Context, r *stream.Reader, l link, sent *int64) (string, error) {
	for {
		b, err := r.Next(sctx)
		switch {
		case errors.Is(err, stream.ErrClosed):
			l.finish()
			return reasonShutdown, fmt.Errorf("%w: %w", errStop, err)
		case errors.Is(err, stream.ErrTooSlow):
			t.count(func(st *TargetStats) { st.Drops++ })
			return reasonTooSlow, fmt.Errorf("the target keeps falling behind the stream: %w", err)
		case errors.Is(err, stream.ErrPathChanged):
			// Cut, not ended: the target keeps the session for the
			// resume that announces the new path.
			return reasonPathChanged, errPathChanged
		case errors.Is(err, stream.ErrFellBehind):
			return reasonFellBehind, fmt.Errorf("the push fell out of this node's ring (the target reads too slowly); "+
				"it resumes at the target's offset: %w", err)
		case err != nil:
			return t.ended(ctx, sctx, l)
		}
		t.account(b)
		n, err := l.write(b)
		if n > 0 {
			r.Sent(n)
			*sent += int64(n)
			t.count(func(st *TargetStats) { st.BytesSent += int64(n) })
		}
		switch {
		case err == nil:
		case sctx.Err() != nil:
			return t.ended(ctx, sctx, nil) // cut mid-write: no clean end
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.count(func(st *TargetStats) { st.Drops++ })
			return reasonWriteTimeout, fmt.Errorf("write timed out after %v: the target does not keep up", t.p.cfg.WriteTimeout)
		default:
			return reasonError, err
		}
	}
}

// ended says why the session's context was cancelled. When the pusher or
// the stream closes, l (if not nil) ends the output cleanly.
func (t *target) ended(ctx, sctx context.Context, l link) (string, error) {
	cause := context.Cause(sctx)
	switch {
	case ctx.Err() != nil:
		if l != nil {
			l.finish()
		}
		return reasonShutdown, errStop
	case errors.Is(cause, stream.ErrClosed):
		if l != nil {
			l.finish()
		}
		return reasonShutdown, fmt.Errorf("%w: %w", errStop, cause)
	case errors.Is(cause, errPublisherChanged):
		if l != nil {
			l.finish()
		}
		return reasonPublisherChanged, cause
	}
	return reasonDownstream, cause
}

// account counts a jump ahead in the stream: the batch starts past where
// the last one ended. A batch that starts with the PAT/PMT (after a jump)
// makes the next expected offset too high by their size, so a jump right
// after one is undercounted by as much.
func (t *target) account(b stream.Batch) {
	if t.next >= 0 && b.Offset > t.next {
		gap := b.Offset - t.next
		t.count(func(st *TargetStats) {
			st.Drops++
			st.DroppedBytes += gap
		})
	}
	t.next = b.Offset + int64(b.Len)
}
