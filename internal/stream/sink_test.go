package stream

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// testSink stands for a viewer's socket: it takes what TryWrite gives
// unless refuse says no to that call, in which case it takes the first
// buffer only and keeps the rest for its goroutine (a short write).
type testSink struct {
	refuse func(call int) bool
	hold   chan struct{} // when set, TryWrite waits for it to close

	mu      sync.Mutex
	calls   int
	got     []byte
	pending [][]byte
}

func (k *testSink) TryWrite(b Batch) bool {
	if k.hold != nil {
		<-k.hold
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	bufs := b.Bufs
	if k.refuse != nil && k.refuse(k.calls) {
		k.got = append(k.got, bufs[0]...)
		k.pending = append(k.pending, bufs[1:]...)
		return false
	}
	for _, p := range bufs {
		k.got = append(k.got, p...)
	}
	return true
}

func (k *testSink) Calls() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls
}

// play is the sink's goroutine: it writes what TryWrite left, then each
// batch, until Next fails.
func (k *testSink) play(ctx context.Context, r *Reader) error {
	for {
		b, err := r.Next(ctx)
		if err != nil {
			return err
		}
		k.mu.Lock()
		for _, p := range k.pending {
			k.got = append(k.got, p...)
		}
		k.pending = k.pending[:0]
		for _, p := range b.Bufs {
			k.got = append(k.got, p...)
		}
		k.mu.Unlock()
	}
}

// waitParked waits until n readers of s are parked.
func waitParked(t *testing.T, s *Stream, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.nparked.Load() != int32(n); {
		if time.Now().After(deadline) {
			t.Fatalf("%d readers parked, want %d", s.nparked.Load(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// sinkFixture is one raw stream with a publisher and one reader whose sink
// k is played by its goroutine until ctx ends; done gets Next's error.
type sinkFixture struct {
	h      *Hub
	p      *Publisher
	s      *Stream
	k      *testSink
	cancel context.CancelFunc
	done   chan error
}

func newSinkFixture(t *testing.T, format mpegts.Format, k *testSink) *sinkFixture {
	t.Helper()
	h := newTestHub(t, Options{Format: format})
	p, err := h.Publish("live", PublisherInfo{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.NewReader("live", ReaderInfo{})
	if err != nil {
		t.Fatal(err)
	}
	r.SetSink(k)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := &sinkFixture{h: h, p: p, s: p.s, k: k, cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- k.play(ctx, r) }()
	return f
}

// TestSinkDeliversEveryByteInOrder: every reader's sink gets every byte
// once and in order, through short writes and hand-backs, with one
// deliverer and with the walk split over the Ps (GOMAXPROCS at least 2).
func TestSinkDeliversEveryByteInOrder(t *testing.T) {
	for _, tc := range []struct {
		name             string
		readers, appends int
	}{
		{"one walk", 20, 300},
		{"split walk", 2*parallelMin + 1, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.readers >= parallelMin && runtime.GOMAXPROCS(0) < 2 {
				t.Skip("one P: the walk is never split")
			}
			deliverEveryByte(t, tc.readers, tc.appends)
		})
	}
}

func deliverEveryByte(t *testing.T, readers, appends int) {
	h := newTestHub(t, Options{Format: mpegts.FormatRaw})
	p, err := h.Publish("live", PublisherInfo{Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sinks := make([]*testSink, readers)
	done := make(chan error, readers)
	for i := range sinks {
		r, err := h.NewReader("live", ReaderInfo{Protocol: "test"})
		if err != nil {
			t.Fatal(err)
		}
		// Reader i's socket is short every (i%4+2)-th write; reader 0
		// never is.
		k := &testSink{refuse: func(call int) bool { return i > 0 && call%(i%4+2) == 0 }}
		r.SetSink(k)
		sinks[i] = k
		go func() { done <- k.play(ctx, r) }()
	}
	s := p.s
	var want []byte
	for i := range appends {
		// Three chunks per append, so that a short write leaves whole
		// buffers behind.
		data := bytes.Repeat([]byte{byte(i), byte(i >> 8), 0x5a}, 100)
		waitParked(t, s, readers) // so that each write goes the sink's way
		s.append(p, data, 100, nil)
		want = append(want, data...)
	}
	waitParked(t, s, readers)
	cancel()
	for range readers {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("reader ended with %v", err)
		}
	}
	for i, k := range sinks {
		if !bytes.Equal(k.got, want) {
			t.Fatalf("reader %d: %d bytes, differing from the %d published", i, len(k.got), len(want))
		}
		if k.calls < appends {
			t.Fatalf("reader %d: TryWrite called %d times for %d writes", i, k.calls, appends)
		}
	}
	if n := s.nparked.Load(); n != 0 {
		t.Fatalf("%d readers still parked after they left", n)
	}
	checkHelpers(t, s, readers)
}

// checkHelpers checks that a stream whose deliveries took n readers split
// its walk (it started helpers) exactly when n is parallelMin or more.
func checkHelpers(t *testing.T, s *Stream, n int) {
	t.Helper()
	s.deliverMu.Lock()
	helpers := s.helpers
	s.deliverMu.Unlock()
	if split := helpers > 0; split != (n >= parallelMin) {
		t.Errorf("%d helpers after deliveries to %d readers", helpers, n)
	}
}

func TestSinkParkedReaderSeesClose(t *testing.T) {
	f := newSinkFixture(t, mpegts.FormatRaw, &testSink{})
	waitParked(t, f.s, 1)
	f.s.Close()
	select {
	case err := <-f.done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Next: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a parked reader did not see the stream close")
	}
}

func TestSinkCancelWhileParked(t *testing.T) {
	f := newSinkFixture(t, mpegts.FormatRaw, &testSink{})
	waitParked(t, f.s, 1)
	f.cancel()
	if err := <-f.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next: %v", err)
	}
	if n := f.s.nparked.Load(); n != 0 {
		t.Fatalf("%d parked after the reader left", n)
	}
	f.p.Write([]byte("after"))
	if n := f.k.Calls(); n != 0 {
		t.Fatalf("TryWrite called %d times for a reader that left", n)
	}
}

// A reader whose context ends while the deliverer is writing to its sink
// gets its Next back only once that write is over: the two never hold the
// cursor at once.
func TestSinkCancelDuringDelivery(t *testing.T) {
	k := &testSink{hold: make(chan struct{})}
	f := newSinkFixture(t, mpegts.FormatRaw, k)
	s, p, cancel, done := f.s, f.p, f.cancel, f.done
	waitParked(t, s, 1)
	wrote := make(chan struct{})
	go func() {
		p.Write([]byte("held"))
		close(wrote)
	}()
	for s.nparked.Load() != 0 {
		time.Sleep(100 * time.Microsecond) // the deliverer took the reader
	}
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Next returned (%v) while its sink was being written", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(k.hold)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next: %v", err)
	}
	<-wrote
	if string(k.got) != "held" {
		t.Fatalf("sink got %q", k.got)
	}
}

// A parked reader whose publisher is replaced is handed back and placed at
// the new publisher's data.
func TestSinkReaderPlacedForNewPublisher(t *testing.T) {
	k := &testSink{}
	f := newSinkFixture(t, mpegts.FormatTS, k)
	h, p, s := f.h, f.p, f.s
	first := tsPackets(0, 7)
	p.Write(first)
	waitParked(t, s, 1)
	p.Close("done")
	p2, err := h.Publish("live", PublisherInfo{})
	if err != nil {
		t.Fatal(err)
	}
	second := tsPackets(100, 7)
	p2.Write(second)
	for deadline := time.Now().Add(5 * time.Second); ; {
		k.mu.Lock()
		got := bytes.Clone(k.got)
		k.mu.Unlock()
		if bytes.HasSuffix(got, second) && bytes.HasPrefix(got, first) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader got %d bytes, not the first publisher's then the second's", len(got))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDeliveryAllocatesNothing(t *testing.T) {
	for _, n := range []int{10, 2 * parallelMin} {
		t.Run(strconv.Itoa(n), func(t *testing.T) { deliveryAllocs(t, n) })
	}
}

// deliveryAllocs checks that delivering a chunk to n parked readers
// allocates nothing (the split walk's helpers are started by the warm-up).
func deliveryAllocs(t *testing.T, readers int) {
	h := newTestHub(t, Options{Format: mpegts.FormatTS})
	p, _ := h.Publish("a", PublisherInfo{})
	data := tsPackets(0, 7)
	p.Write(data) // warm up: detection, first block
	s := p.s
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sinks []*countSink
	for range readers {
		r, _ := h.NewReader("a", ReaderInfo{})
		k := &countSink{}
		r.SetSink(k)
		sinks = append(sinks, k)
		go func() {
			for {
				if _, err := r.Next(ctx); err != nil {
					return
				}
			}
		}()
	}
	p.Write(data)
	waitParked(t, s, len(sinks))
	p.Write(data)
	waitParked(t, s, len(sinks))
	allocs := testing.AllocsPerRun(1000, func() { p.Write(data) })
	if allocs != 0 {
		t.Fatalf("%.2f allocations per chunk delivered to %d sinks, want 0", allocs, readers)
	}
	checkHelpers(t, s, readers)
	if n := sinks[0].n.Load(); n < 1000 {
		t.Fatalf("sink got %d batches, want at least 1000", n)
	}
}

// countSink takes everything and counts the batches.
type countSink struct{ n atomic.Int64 }

func (k *countSink) TryWrite(Batch) bool { k.n.Add(1); return true }
