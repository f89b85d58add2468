package stream

import (
	"context"
	"time"
)

// Pacing the GOP cache.
//
// A viewer that joins from the GOP cache starts up to a GOP behind the
// live edge: 2 s of a 1.74 Mbit/s stream is over 400 KB. A flash crowd of
// 500 viewers joining within 300 ms asks for about 125 MB in that time,
// and sent as fast as the sockets take it, that burst takes the CPU from
// the viewers already watching just when the joins' handshakes do too:
// in the benchmark their p99 delay was 1.15-1.74 times that with the same
// joins and the cache off (medians of two sets of five runs;
// docs/benchmarks.md, "Raw writev and a paced GOP cache").
//
// So a joiner gets its keyframe, and what arrived within paceLead after
// it, at once: its player shows a picture as soon as it can. The rest of
// the cached GOP follows at paceFactor times the speed it arrived, in
// steps of paceTick, until the joiner reaches the live edge: a 2 s GOP
// in at most 0.6 s. The player is never short of data, since it comes
// faster than it plays; JSMpeg decodes at most a frame per display
// refresh (2.4 times a 25 fps stream) and mpegts.js plays from the
// keyframe at normal speed, so neither shows a difference.
//
// Relays and exact readers keep their own pace (path.go, exact.go) and are
// not paced, nor is a reader placed again (a skip, a new publisher): its
// socket or the live edge paces it already.
const (
	paceLead   = 200 * time.Millisecond
	paceFactor = 4
	paceTick   = 100 * time.Millisecond
)

// startPaceLocked paces a reader that was just placed at the cached key k.
// A keyframe still arriving is at the live edge already.
func (r *Reader) startPaceLocked(k keyPoint) {
	if r.info.Relay || r.exact || k.done == 0 {
		return
	}
	r.paceFrom = r.s.now().UnixNano()
	r.paceBase = k.done + int64(paceLead)
}

// paceLocked returns the end of what a paced reader may take now (at most
// end), or, when it may take nothing yet, how long to wait: until
// paceTick's worth of chunks more may go, so that a joiner is woken about
// ten times a second, not once per chunk. It ends the pacing once the
// reader may take whatever arrives. The shared lock suffices: the fields
// belong to the goroutine calling Next.
func (r *Reader) paceLocked(end uint64) (uint64, time.Duration) {
	if r.paceFrom == 0 {
		return end, 0
	}
	now := r.s.now().UnixNano()
	limit := r.paceBase + paceFactor*(now-r.paceFrom)
	if limit >= now {
		r.paceFrom = 0 // caught up with the time data arrives
		return end, 0
	}
	for seq := r.seq; seq < end; seq++ {
		at := r.s.ring.at(seq).at
		if at <= limit {
			continue
		}
		if seq > r.seq {
			return seq, 0
		}
		return end, time.Duration((at-limit)/paceFactor) + paceTick
	}
	return end, 0
}

// paceWait waits d for a paced reader, or until ctx ends or the stream
// closes.
func (r *Reader) paceWait(ctx context.Context, d time.Duration) error {
	if r.paceTimer == nil {
		r.paceTimer = time.NewTimer(d)
	} else {
		r.paceTimer.Reset(d)
	}
	select {
	case <-r.paceTimer.C:
		return nil
	case <-r.s.ctx.Done():
		r.paceTimer.Stop()
		return nil // Next finds the stream closed
	case <-ctx.Done():
		r.paceTimer.Stop()
		return ctx.Err()
	}
}
