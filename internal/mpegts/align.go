// Package mpegts reads MPEG transport streams: 188-byte packet alignment,
// format detection, and an index of PSI, codecs and keyframes.
package mpegts

import "bytes"

// PacketSize is the length of a transport stream packet.
const PacketSize = 188

// SyncByte is the first byte of every transport stream packet.
const SyncByte = 0x47

// resyncRun is how many sync bytes, PacketSize apart, confirm a packet start
// while the aligner is out of sync.
const resyncRun = 3

// holdSize bounds the hold buffer. Between calls at most
// (resyncRun-1)*PacketSize bytes are held; the rest is room for topping the
// hold up from the next input while searching.
const holdSize = 4 * PacketSize

// How the aligner decides
//
// The aligner is either in sync or searching, and it decides only on bytes it
// has; whatever it cannot decide yet is held for the next call.
//
//   - In sync, the next PacketSize bytes are a packet if the first is
//     SyncByte: a whole one is copied out, a partial one is held. Any other
//     first byte loses sync at that byte.
//   - Searching, a byte is dropped unless it and the bytes PacketSize and
//     2*PacketSize after it are all SyncByte; sync starts there. A SyncByte
//     whose partners have not arrived yet is held together with what follows.
//
// Every decision depends on the stream's bytes alone, never on where a read
// ended, so any split of the input yields the same packets, Dropped and Held
// as one call; after every call input == output + Dropped + Held.

// Aligner re-aligns an arbitrary byte stream (TCP reads split anywhere,
// 1316-byte datagrams, a publisher that starts mid-packet, garbage between
// packets) to whole transport stream packets. The zero value is ready to use.
// An Aligner is not safe for concurrent use.
type Aligner struct {
	hold    [holdSize]byte // hold[:n] waits for more input
	n       int
	synced  bool
	dropped int64
}

// Align appends to dst the whole packets that p completes (with bytes held
// back from earlier calls) and returns the extended slice. Bytes that cannot
// belong to a packet are dropped and counted. Align allocates only when dst
// has to grow.
func (a *Aligner) Align(dst, p []byte) []byte {
	// Finish the held bytes first, topping them up from p only as far as the
	// next decision needs; once the hold is empty, work on p in place.
	for a.n > 0 && len(p) > 0 {
		want := len(a.hold)
		if a.synced {
			want = PacketSize
		}
		k := copy(a.hold[a.n:want], p)
		p = p[k:]
		var rest []byte
		dst, rest = a.scan(dst, a.hold[:a.n+k])
		a.n = copy(a.hold[:], rest)
	}
	if a.n > 0 {
		return dst
	}
	dst, rest := a.scan(dst, p)
	a.n = copy(a.hold[:], rest)
	return dst
}

// Dropped reports how many bytes were dropped so far: garbage, bytes skipped
// while resynchronizing and bytes discarded by Flush.
func (a *Aligner) Dropped() int64 { return a.dropped }

// Held reports how many bytes are held back waiting for more input.
func (a *Aligner) Held() int { return a.n }

// Reset returns a to its zero value, counters included, for a new publisher.
func (a *Aligner) Reset() { *a = Aligner{} }

// Flush marks the end of input: it drops the held bytes, counting them, and
// returns how many it dropped. The next input is searched for sync afresh.
func (a *Aligner) Flush() int {
	n := a.n
	a.dropped += int64(n)
	a.n = 0
	a.synced = false
	return n
}

// scan appends the packets of buf to dst, counts the bytes it drops, and
// returns the tail of buf that cannot be decided without more input.
func (a *Aligner) scan(dst, buf []byte) ([]byte, []byte) {
	for {
		if a.synced {
			// Check the whole run of packets, then copy it at once.
			n := 0
			for n+PacketSize <= len(buf) && buf[n] == SyncByte {
				n += PacketSize
			}
			dst = append(dst, buf[:n]...)
			buf = buf[n:]
			if len(buf) == 0 || buf[0] == SyncByte {
				return dst, buf
			}
			a.synced = false
		}
		j, ok := resync(buf)
		a.dropped += int64(j)
		buf = buf[j:]
		if !ok {
			return dst, buf
		}
		a.synced = true
	}
}

// resync finds the first offset in buf where resyncRun sync bytes start,
// reporting ok. Otherwise it returns the first offset that more input could
// still confirm, or len(buf).
func resync(buf []byte) (j int, ok bool) {
	for {
		k := bytes.IndexByte(buf[j:], SyncByte)
		if k < 0 {
			return len(buf), false
		}
		j += k
		if len(buf)-j <= (resyncRun-1)*PacketSize {
			return j, false
		}
		if syncRun(buf[j:], resyncRun) {
			return j, true
		}
		j++
	}
}

// syncRun reports whether b has SyncByte at n offsets PacketSize apart,
// starting at 0. b must be longer than (n-1)*PacketSize.
func syncRun(b []byte, n int) bool {
	for i := range n {
		if b[i*PacketSize] != SyncByte {
			return false
		}
	}
	return true
}
