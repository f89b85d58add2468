package stream

import (
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// What a stream knows of the MPEG-TS it carries, and how readers use it.
//
// The publisher runs an mpegts.Indexer over its aligned packets. From it the
// stream keeps the current PAT and PMT packets (psi) and the newest key
// point in the ring (the first packet of a keyframe's PES). A reader that
// joins, or that fell out of the ring, is placed by placeLocked:
//
//   - no PSI known (raw bytes, or TS before its PAT/PMT): the live edge;
//   - TS without video: PAT/PMT, then the newest PES start or the live edge;
//   - TS video, GOP cache on and the newest key within the cache bounds:
//     PAT/PMT, then the stream from that key (the GOP cache);
//   - otherwise: nothing until the next key, then PAT/PMT and that key.
//
// When the PSI changes (a new publisher, or new PIDs or codecs) the stream
// starts a new epoch: its old key is forgotten and every reader is placed
// again, so that each one gets the new PAT/PMT and a keyframe before any
// new media, without reconnecting.

// tsSession is the TS state of one publisher session, owned by the
// publisher's goroutine and read by the stream under its lock.
type tsSession struct {
	index      mpegts.Indexer
	keys       []int64 // keys from the last Feed, in packets from base
	base       int64   // stream offset of the session's first packet; -1 before it
	psiVersion int     // of the index, when the stream last took its PSI
	infoAt     time.Time
}

// tsState is the stream's view, guarded by Stream.mu.
type tsState struct {
	psi      []byte // current PAT and PMT packets; nil when unknown
	needsKey bool   // viewers must start at a keyframe (the program has video)
	epoch    int    // incremented when psi changes
	epochOff int64  // stream offset where the current epoch's data starts
	info     mpegts.Info
	hasInfo  bool
	// Counters.
	gopJoins    int64 // readers placed at a cached keyframe
	keyWaits    int64 // readers that had to wait for the next keyframe
	gopTooLong  int64 // ... because the cached GOP exceeded the bounds
	keyTimeouts int64 // waits that found no key within GOPMaxAge
}

// infoEvery is how often the stream refreshes its copy of the index's
// Info (codecs, video size, continuity errors) besides PSI changes.
const infoEvery = time.Second

// newSession resets the TS state for a new publisher: until its PSI is
// known, readers are placed at the live edge.
func (s *Stream) newTSSessionLocked(ts *tsSession) {
	*ts = tsSession{base: -1, keys: ts.keys[:0]}
	if s.ts.psi != nil {
		s.ts.psi, s.ts.needsKey = nil, false
		s.newEpochLocked(s.ring.off)
	}
}

func (s *Stream) newEpochLocked(off int64) {
	s.ts.epoch++
	s.ts.epochOff = off
	s.ring.clearKeys()
}

// updateTSLocked takes what the publisher's index found in the data just
// appended at stream offset start.
func (s *Stream) updateTSLocked(ts *tsSession, start int64, now time.Time) {
	if ts.base < 0 {
		ts.base = start
	}
	x := &ts.index
	if v := x.PSIVersion(); v != ts.psiVersion {
		ts.psiVersion = v
		s.ts.psi, s.ts.needsKey = x.PSI(), x.NeedsKey()
		s.newEpochLocked(start)
		ts.infoAt = time.Time{}
	}
	for _, k := range ts.keys {
		if off := ts.base + k*mpegts.PacketSize; off >= s.ts.epochOff {
			s.ring.markKey(off)
		}
	}
	open := x.KeyOpen()
	if s.ring.hasKey && !open && s.ring.key.done == 0 {
		s.ring.key.done = now.UnixNano()
	}
	s.ring.keyOpen = open
	if now.Sub(ts.infoAt) >= infoEvery {
		ts.infoAt = now
		s.ts.info, s.ts.hasInfo = x.Info(), true
	}
}

// joinKey returns the key a reader can start from, if the GOP cache is on
// and the data since that key is within its bounds. That is the newest key,
// or, while the newest keyframe is still arriving, the one before it: the
// viewer then decodes at once instead of waiting for the rest of the
// keyframe, for one more GOP of delay.
func (s *Stream) joinKey() (keyPoint, bool) {
	r := s.ring
	if !r.hasKey || s.opts.NoGOPCache {
		return keyPoint{}, false
	}
	if r.keyOpen && r.hasPrev && s.withinBounds(r.prev) {
		return r.prev, true
	}
	return r.key, s.withinBounds(r.key)
}

func (s *Stream) withinBounds(k keyPoint) bool {
	return s.ring.off-k.off <= s.opts.GOPMaxBytes &&
		time.Duration(s.now().UnixNano()-k.at) <= s.opts.GOPMaxAge
}
