package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// A -ttff viewer joins /ws/live once and measures, from t0 just before its
// TCP connect:
//
//   - firstKey: the arrival of the packet that starts its first keyframe's
//     PES, as an mpegts.Indexer fed with what it received finds it (so the
//     PAT and PMT must have come first, as a player needs them);
//   - ttff: the arrival of the next packet of that PID with
//     payload_unit_start_indicator, which ends the keyframe's PES: from then
//     on a player has the whole frame and can decode it.
//
// Arrival is the time of the read that brought the packet. The viewer
// leaves ttffHold after its TTFF (decodeHold if it keeps its bytes for the
// decode check) and fails without a TTFF within ttffTimeout.

// errNoKeyframe is a viewer's error when the timeout passed without a TTFF.
var errNoKeyframe = fmt.Errorf("no whole keyframe within %v", ttffTimeout)

// pesStart is a packet with payload_unit_start_indicator and when it came.
type pesStart struct {
	n   int64 // packet number, from 0 at the first one received
	pid uint16
	at  time.Duration
}

type ttffViewer struct {
	buf     []byte
	ws      wsFrames
	data    func([]byte) // v.collect, bound once
	pending []byte       // TS bytes received but not yet a whole packet
	x       mpegts.Indexer
	n       int64      // whole packets fed to x
	starts  []pesStart // until measured
	key     int64      // packet number of the first key; -1 before
	keyPID  uint16

	// Results.
	joined   time.Time // t0
	connect  time.Duration
	firstKey time.Duration
	ttff     time.Duration
	measured bool
	codec    string // of the indexed video, at the first key
	capture  []byte // every TS byte received, if this viewer is decoded; else nil
	err      error  // why it failed, or how the connection ended badly
}

func newTTFFViewer(decode bool) *ttffViewer {
	v := &ttffViewer{buf: make([]byte, readBuffer), key: -1}
	v.data = v.collect
	if decode {
		v.capture = make([]byte, 0, 1<<20)
	}
	return v
}

func (v *ttffViewer) collect(p []byte) { v.pending = append(v.pending, p...) }

// run joins the stream at addr and reads until the viewer is done.
func (v *ttffViewer) run(addr string) {
	t0 := time.Now()
	v.joined = t0
	conn, rest, err := wsDial(addr, "/ws/live", v.buf, ttffTimeout)
	if err != nil {
		v.err = err
		return
	}
	defer conn.Close()
	v.connect = time.Since(t0)
	conn.SetReadDeadline(t0.Add(ttffTimeout))
	p, held := rest, false
	for {
		if err := v.received(p, time.Since(t0)); err != nil {
			v.err = err
			return
		}
		if v.measured && !held {
			held = true
			hold := ttffHold
			if v.capture != nil {
				hold = decodeHold
			}
			conn.SetReadDeadline(t0.Add(v.ttff + hold))
		}
		n, err := conn.Read(v.buf)
		if err != nil {
			switch {
			case !v.measured:
				v.err = errNoKeyframe
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					v.err = fmt.Errorf("%w: %w", errNoKeyframe, err)
				}
			case !errors.Is(err, os.ErrDeadlineExceeded):
				v.err = err
			}
			return
		}
		p = v.buf[:n]
	}
}

// received takes the bytes of one read that arrived at now (from t0).
func (v *ttffViewer) received(p []byte, now time.Duration) error {
	if err := v.ws.feed(p, v.data); err != nil {
		return err
	}
	whole := len(v.pending) / packetSize * packetSize
	if whole == 0 {
		return nil
	}
	pkts := v.pending[:whole]
	if !v.measured {
		for i := 0; i < whole; i += packetSize {
			if pk := pkts[i:]; pk[0] == 0x47 && pk[1]&0x40 != 0 {
				pid := uint16(pk[1]&0x1F)<<8 | uint16(pk[2])
				v.starts = append(v.starts, pesStart{v.n + int64(i/packetSize), pid, now})
			}
		}
	}
	keys := v.x.Feed(pkts)
	v.n += int64(whole / packetSize)
	if v.capture != nil {
		v.capture = append(v.capture, pkts...)
	}
	v.pending = v.pending[:copy(v.pending, v.pending[whole:])]
	if v.key < 0 && len(keys) > 0 {
		v.firstKeyAt(keys[0], now)
	}
	if v.key >= 0 && !v.measured {
		for _, s := range v.starts {
			if s.n > v.key && s.pid == v.keyPID {
				v.ttff, v.measured, v.starts = s.at, true, nil
				break
			}
		}
	}
	return nil
}

// firstKeyAt records the first key, packet k, found in a read at now.
func (v *ttffViewer) firstKeyAt(k int64, now time.Duration) {
	v.key, v.firstKey = k, now
	for _, s := range v.starts {
		if s.n == k {
			v.keyPID, v.firstKey = s.pid, s.at
		}
	}
	if in := v.x.Info(); in.Video != nil {
		v.codec = in.Video.Codec
		v.keyPID = uint16(in.Video.PID)
	}
}
