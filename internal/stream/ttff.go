package stream

import (
	"sync/atomic"
	"time"
)

// TTFFBuckets are the upper bounds, in seconds, of the time-to-first-frame
// histogram: from a reader's creation (a viewer connected) to the first
// payload bytes written to it. Bounded on purpose: 11 buckets and +Inf.
func TTFFBuckets() []float64 {
	b := make([]float64, len(ttffBounds))
	for i, d := range ttffBounds {
		b[i] = d.Seconds()
	}
	return b
}

const ttffBuckets = 11

// ttffHistogram counts readers' times to first bytes, without locks or
// allocations: one observation per reader.
type ttffHistogram struct {
	counts [ttffBuckets + 1]atomic.Int64 // per bucket; the last is above 10 s
	sum    atomic.Int64                  // nanoseconds
}

// ttffBounds are the bucket bounds (a table, never written).
var ttffBounds = [ttffBuckets]time.Duration{
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

func (h *ttffHistogram) observe(d time.Duration) {
	i := 0
	for i < ttffBuckets && d > ttffBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// TTFF is a snapshot of the time-to-first-frame histogram.
type TTFF struct {
	Counts []int64 // per bucket of TTFFBuckets (not cumulative), then above the last
	Sum    time.Duration
}

// Count is the number of observations.
func (t TTFF) Count() int64 {
	var n int64
	for _, c := range t.Counts {
		n += c
	}
	return n
}

func (h *ttffHistogram) snapshot() TTFF {
	t := TTFF{Counts: make([]int64, ttffBuckets+1), Sum: time.Duration(h.sum.Load())}
	for i := range h.counts {
		t.Counts[i] = h.counts[i].Load()
	}
	return t
}
