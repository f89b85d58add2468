package stream

import "time"

// The ring holds the most recent chunks of a stream for its readers.
//
// A chunk is an immutable run of bytes as the publisher appended it (for TS,
// whole 188-byte packets). Chunk payloads are carved one after another out of
// 64 KiB blocks; a block is never written again once a chunk in it has been
// published, and is not reused: the garbage collector frees it once the ring
// and every reader that was writing from it have let go. So a reader may keep
// writing a chunk to its socket while the publisher moves on, without a copy
// and without a lock, and the publisher allocates one block per 64 KiB of
// data, never per chunk or per reader.
//
// Chunks are numbered by seq. The ring keeps chunks [tail, head) in a
// fixed array of slots, evicting from the tail when the byte bound or the
// slot count would be exceeded, or (with a maximum age) when the oldest
// chunk is older than that at the next push. A reader whose next seq is below tail
// has fallen out of the ring.

const (
	blockSize = 64 << 10
	// MaxChunk is the largest chunk the ring stores; longer appends are split.
	MaxChunk = blockSize
)

type chunk struct {
	data []byte
	off  int64 // stream byte offset of data[0]
	at   int64 // append time, Unix nanoseconds
}

// keyPoint is where a reader can start decoding: for TS video, the first
// packet of a keyframe's PES. It may lie inside a chunk.
type keyPoint struct {
	seq uint64 // chunk holding the key
	off int64  // stream byte offset of the key
	at  int64  // append time of that chunk
	// done is the append time of the data that completed the keyframe's
	// PES; 0 while it is still arriving.
	done int64
}

type ring struct {
	slots    []chunk
	head     uint64 // seq of the next chunk to append
	tail     uint64 // seq of the oldest chunk held
	bytes    int64  // payload bytes held
	maxBytes int64
	maxAge   int64  // nanoseconds; 0: none
	off      int64  // stream byte offset of the next byte appended
	block    []byte // free space of the current block
	key      keyPoint
	hasKey   bool // key is the newest key point, still in the ring
	keyOpen  bool // the keyframe at key is still arriving
	prev     keyPoint
	hasPrev  bool // prev is the key point before key, still in the ring
}

func newRing(maxBytes int64, maxAge time.Duration) *ring {
	n := maxBytes / 1024
	n = min(max(n, 1024), 65536)
	return &ring{slots: make([]chunk, n), maxBytes: maxBytes, maxAge: int64(maxAge)}
}

func (r *ring) at(seq uint64) *chunk { return &r.slots[seq%uint64(len(r.slots))] }

// push copies p (at most MaxChunk bytes) into the ring as one chunk.
func (r *ring) push(p []byte, at int64) {
	n := int64(len(p))
	for r.head > r.tail && (r.bytes+n > r.maxBytes || r.head-r.tail == uint64(len(r.slots)) ||
		r.maxAge > 0 && at-r.at(r.tail).at > r.maxAge) {
		r.evict()
	}
	if len(p) > cap(r.block) {
		r.block = make([]byte, 0, blockSize)
	}
	data := append(r.block, p...)
	r.block = data[len(data):]
	data = data[:len(data):len(data)]
	*r.at(r.head) = chunk{data: data, off: r.off, at: at}
	r.head++
	r.off += n
	r.bytes += n
}

func (r *ring) evict() {
	c := r.at(r.tail)
	r.bytes -= int64(len(c.data))
	*c = chunk{}
	r.tail++
	if r.hasKey && r.key.seq < r.tail {
		r.hasKey = false
	}
	if r.hasPrev && r.prev.seq < r.tail {
		r.hasPrev = false
	}
}

// clearKeys forgets the key points (the stream's PSI changed).
func (r *ring) clearKeys() { r.hasKey, r.hasPrev, r.keyOpen = false, false, false }

// markKey records a key point at stream offset off, which must be in the
// ring (keys are found a few packets late, so it may be in an older chunk).
func (r *ring) markKey(off int64) {
	if off >= r.off || r.head == r.tail || off < r.at(r.tail).off {
		return
	}
	seq := r.head - 1
	for r.at(seq).off > off {
		seq--
	}
	r.prev, r.hasPrev = r.key, r.hasKey
	r.key = keyPoint{seq: seq, off: off, at: r.at(seq).at}
	r.hasKey = true
}
