package stream

import (
	"errors"
	"slices"
)

// Relay paths of a stream's bytes.
//
// Each publisher names the relay nodes its data came through
// (PublisherInfo.Path). A relay that reads this stream announces the path
// downstream once, when it connects (the Tsstream-Path header), and the
// nodes downstream check it for loops. So the stream marks the offset at
// which the path changes: a new publisher that came another way, or a
// publisher whose path was corrected (SetPath). A relay's reader
// (ReaderInfo.Relay) is placed under the stream's path of that moment
// (Reader.Path); it gets its bytes up to the first change marked after it
// was made, and then ErrPathChanged instead of the first byte that came
// the new way. Its relay reconnects, hears the new path, and refuses a
// loop then. Other readers do not care where the bytes came from.
//
// Marks are kept while the ring holds bytes they cover, at most
// maxPathMarks of them; consecutive marks name different paths. The first
// mark, at offset 0, names no path.

// ErrPathChanged ends a relay's reader at the first byte whose relay path
// is not the one the reader was placed under (see Reader.Path).
var ErrPathChanged = errors.New("the stream's relay path changed")

// maxPathMarks bounds the marks a stream keeps: a relay's reader that lags
// more changes behind than that ends at the oldest one kept.
const maxPathMarks = 16

// pathMark says that the stream's bytes from offset off on came through
// path; gen counts the marks of the stream.
type pathMark struct {
	off  int64
	gen  uint64
	path []string
}

// markPathLocked records that the bytes appended from now on came through
// path, and wakes the waiting readers so that a relay's reader at the live
// edge ends now rather than at the next byte.
func (s *Stream) markPathLocked(path []string) {
	last := s.marks[len(s.marks)-1]
	if slices.Equal(last.path, path) {
		return
	}
	// Forget the marks that only cover bytes gone from the ring.
	oldest := s.ring.off
	if s.ring.head > s.ring.tail {
		oldest = s.ring.at(s.ring.tail).off
	}
	drop := 0
	for drop+1 < len(s.marks) && (s.marks[drop+1].off <= oldest || len(s.marks)-drop >= maxPathMarks) {
		drop++
	}
	s.marks = append(slices.Delete(s.marks, 0, drop),
		pathMark{off: s.ring.off, gen: last.gen + 1, path: slices.Clone(path)})
	s.wakeLocked()
}

// Path returns the relay path of the stream's newest bytes (of its
// publisher, or of the last one while none is live).
func (s *Stream) Path() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.marks[len(s.marks)-1].path
}

// SetPath corrects the relay path of the publisher's data from the next
// byte on, as a relay does that reconnected to its source and found that
// the data now comes another way. Watchers of Publishing are told.
func (p *Publisher) SetPath(path []string) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Equal(p.info.Path, path) {
		return
	}
	p.info.Path = slices.Clone(path)
	if s.pub == p {
		s.markPathLocked(p.info.Path)
		close(s.pubChange)
		s.pubChange = make(chan struct{})
	}
}

// Path returns the relay path the reader was placed under: the stream's
// path when the reader was made. A relay announces it.
func (r *Reader) Path() []string {
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	return r.path
}

// Repath places the reader under the stream's relay path of now and
// returns it, as for a reader made now: for a relay that is told the path
// only once the stream is live (an on-demand pull), before any byte went
// out.
func (r *Reader) Repath() []string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.placePathLocked()
	return r.path
}

// placePathLocked places a new reader under the stream's path.
func (r *Reader) placePathLocked() {
	last := r.s.marks[len(r.s.marks)-1]
	r.gen, r.path = last.gen, last.path
}

// pathEndLocked checks a relay's reader against the marks made after it
// was placed: it returns ErrPathChanged once the reader's next byte came
// the way of one of them, else the chunk before which the reader must stop
// (the ring's head when no mark is ahead; at most a batch on). It only
// reads shared state: the shared lock suffices.
func (r *Reader) pathEndLocked() (uint64, error) {
	s := r.s
	marks := s.marks
	i := len(marks)
	for i > 0 && marks[i-1].gen > r.gen {
		i--
	}
	if i == len(marks) {
		return s.ring.head, nil
	}
	limit := marks[i].off
	if r.off >= limit {
		return 0, ErrPathChanged
	}
	end := r.seq
	for end < s.ring.head && end-r.seq < maxBatchChunks && s.ring.at(end).off < limit {
		end++
	}
	return end, nil
}
