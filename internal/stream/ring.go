package stream

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
// fixed array of slots, evicting from the tail when either the byte bound or
// the slot count would be exceeded. A reader whose next seq is below tail
// has fallen out of the ring.

const (
	blockSize = 64 << 10
	// MaxChunk is the largest chunk the ring stores; longer appends are split.
	MaxChunk = blockSize
)

// Chunk flags.
const (
	// FlagKey marks a chunk a new reader can start from: for video, the
	// start of a keyframe. Readers that join or skip go to the newest one.
	FlagKey uint8 = 1 << iota
)

type chunk struct {
	data  []byte
	off   int64 // stream byte offset of data[0]
	at    int64 // append time, Unix nanoseconds
	flags uint8
}

type ring struct {
	slots    []chunk
	head     uint64 // seq of the next chunk to append
	tail     uint64 // seq of the oldest chunk held
	bytes    int64  // payload bytes held
	maxBytes int64
	off      int64  // stream byte offset of the next byte appended
	block    []byte // free space of the current block
	lastKey  uint64 // seq+1 of the newest FlagKey chunk, 0 if none held
}

func newRing(maxBytes int64) *ring {
	n := maxBytes / 1024
	n = min(max(n, 1024), 65536)
	return &ring{slots: make([]chunk, n), maxBytes: maxBytes}
}

func (r *ring) at(seq uint64) *chunk { return &r.slots[seq%uint64(len(r.slots))] }

// push copies p (at most MaxChunk bytes) into the ring as one chunk.
func (r *ring) push(p []byte, at int64, flags uint8) {
	n := int64(len(p))
	for r.head > r.tail && (r.bytes+n > r.maxBytes || r.head-r.tail == uint64(len(r.slots))) {
		r.evict()
	}
	if len(p) > cap(r.block) {
		r.block = make([]byte, 0, blockSize)
	}
	data := append(r.block, p...)
	r.block = data[len(data):]
	data = data[:len(data):len(data)]
	*r.at(r.head) = chunk{data: data, off: r.off, at: at, flags: flags}
	if flags&FlagKey != 0 {
		r.lastKey = r.head + 1
	}
	r.head++
	r.off += n
	r.bytes += n
}

func (r *ring) evict() {
	c := r.at(r.tail)
	r.bytes -= int64(len(c.data))
	*c = chunk{}
	r.tail++
	if r.lastKey != 0 && r.lastKey-1 < r.tail {
		r.lastKey = 0
	}
}

// offsetOf returns the stream byte offset at which chunk seq starts; head
// gives the offset of the next byte to be appended.
func (r *ring) offsetOf(seq uint64) int64 {
	if seq >= r.head {
		return r.off
	}
	return r.at(seq).off
}

// startSeq is where a reader joins or resumes after falling out: the newest
// key chunk if the ring holds one, else the live edge.
func (r *ring) startSeq() uint64 {
	if r.lastKey != 0 {
		return r.lastKey - 1
	}
	return r.head
}
