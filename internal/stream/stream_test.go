package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// tsPackets returns n TS packets whose payload bytes encode their index, so
// that any loss, duplicate or reordering shows in a byte compare.
func tsPackets(first, n int) []byte {
	b := make([]byte, 0, n*mpegts.PacketSize)
	for i := first; i < first+n; i++ {
		p := make([]byte, mpegts.PacketSize)
		p[0], p[1], p[2], p[3] = mpegts.SyncByte, 0x01, 0x00, 0x10|byte(i&0xf)
		for j := 4; j < len(p); j++ {
			p[j] = byte(i*7 + j)
		}
		b = append(b, p...)
	}
	return b
}

func newTestHub(t *testing.T, opts Options) *Hub {
	t.Helper()
	h := NewHub(Config{Options: func(string) Options { return opts }})
	t.Cleanup(h.Close)
	return h
}

// fakeClock returns a clock for Config.Now that stands still at a fixed
// time until advance moves it; both are safe for concurrent use.
func fakeClock() (clock func() time.Time, advance func(time.Duration)) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance = func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	return clock, advance
}

// readN reads from r until it has n bytes or the deadline passes.
func readN(t *testing.T, r *Reader, n int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []byte
	for len(got) < n {
		b, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", len(got), n, err)
		}
		for _, p := range b.Bufs {
			got = append(got, p...)
		}
	}
	return got
}

func TestReadersGetIdenticalBytes(t *testing.T) {
	h := newTestHub(t, Options{Format: mpegts.FormatTS})
	var readers []*Reader
	for i := 0; i < 20; i++ {
		r, err := h.NewReader("live", ReaderInfo{Protocol: "test"})
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, r)
	}
	p, err := h.Publish("live", PublisherInfo{Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	want := tsPackets(0, 500)
	// Odd write sizes: the aligner must put the packets back together.
	for rest := want; len(rest) > 0; {
		n := min(len(rest), 1000)
		p.Write(rest[:n])
		rest = rest[n:]
	}
	for i, r := range readers {
		if got := readN(t, r, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("reader %d: got %d bytes, differing from the %d published", i, len(got), len(want))
		}
	}
	st := h.Get("live").Stats()
	if st.BytesIn != int64(len(want)) || st.Readers["test"] != 20 || st.Format != "ts" {
		t.Errorf("stats: bytes in %d, readers %v, format %s", st.BytesIn, st.Readers, st.Format)
	}
}

func TestReaderBeforePublisherAndPublisherReconnect(t *testing.T) {
	h := newTestHub(t, Options{})
	r, _ := h.NewReader("cam", ReaderInfo{Protocol: "test"})
	got := make(chan []byte)
	go func() {
		got <- readN(t, r, 2*188*10)
	}()
	for i := 0; i < 2; i++ {
		p, err := h.Publish("cam", PublisherInfo{Protocol: "test"})
		if err != nil {
			t.Fatalf("publisher %d: %v", i, err)
		}
		p.Write(tsPackets(i*10, 10))
		p.Close("test done")
	}
	if b := <-got; !bytes.Equal(b, tsPackets(0, 20)) {
		t.Fatal("reader did not get both publishers' packets in order")
	}
	if n := h.Get("cam").Stats().Publishes; n != 2 {
		t.Fatalf("publishes = %d, want 2", n)
	}
}

func TestSecondPublisherRefusedUnlessTakeover(t *testing.T) {
	h := newTestHub(t, Options{})
	p1, _ := h.Publish("a", PublisherInfo{Protocol: "tcp", Remote: "1.2.3.4:5"})
	_, err := h.Publish("a", PublisherInfo{Protocol: "tcp"})
	if !errors.Is(err, ErrPublisherActive) {
		t.Fatalf("second publisher: err = %v, want ErrPublisherActive", err)
	}
	if msg := err.Error(); !bytes.Contains([]byte(msg), []byte("1.2.3.4:5")) || !bytes.Contains([]byte(msg), []byte("takeover")) {
		t.Errorf("refusal does not say who publishes and how to change it: %q", msg)
	}
	if _, err := p1.Write(tsPackets(0, 1)); err != nil {
		t.Fatalf("first publisher disturbed: %v", err)
	}

	ht := newTestHub(t, Options{Takeover: true})
	old, _ := ht.Publish("a", PublisherInfo{Protocol: "tcp"})
	if _, err := ht.Publish("a", PublisherInfo{Protocol: "http"}); err != nil {
		t.Fatalf("takeover refused: %v", err)
	}
	select {
	case <-old.Done():
	case <-time.After(time.Second):
		t.Fatal("old publisher not told to stop")
	}
	if _, err := old.Write([]byte{1}); !errors.Is(err, ErrTakenOver) {
		t.Fatalf("old publisher write: %v, want ErrTakenOver", err)
	}
}

func TestSlowReaderSkipsThenIsCut(t *testing.T) {
	h := newTestHub(t, Options{Format: mpegts.FormatRaw, RingBytes: 256 << 10, MaxSkips: 2})
	slow, _ := h.NewReader("s", ReaderInfo{Protocol: "test"})
	fast, _ := h.NewReader("s", ReaderInfo{Protocol: "test"})
	p, _ := h.Publish("s", PublisherInfo{Protocol: "test"})
	chunk := bytes.Repeat([]byte{7}, 32<<10)
	ctx := context.Background()
	for round := 1; round <= 3; round++ {
		for i := 0; i < 16; i++ { // 512 KiB: twice the ring
			p.Write(chunk)
			if _, err := fast.Next(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// Fallen out of the ring, the slow reader jumps to the live edge
		// (no key chunks in a raw stream) and waits there.
		wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		_, err := slow.Next(wctx)
		cancel()
		if round <= 2 && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("round %d: want a skip to the live edge, got %v", round, err)
		}
		if round == 3 && !errors.Is(err, ErrTooSlow) {
			t.Fatalf("round 3: err = %v, want ErrTooSlow", err)
		}
	}
	st := h.Get("s").Stats()
	if st.Skips != 3 || st.SkipBytes <= 0 || slow.Skips() != 3 || fast.Skips() != 0 {
		t.Fatalf("skips = %d (%d bytes), want 3", st.Skips, st.SkipBytes)
	}
	if st.RingBytes > 256<<10 {
		t.Fatalf("ring holds %d bytes, bound 256 KiB", st.RingBytes)
	}
}

func TestRawFormatDetectedAndPassedThrough(t *testing.T) {
	h := newTestHub(t, Options{})
	r, _ := h.NewReader("raw", ReaderInfo{Protocol: "test"})
	p, _ := h.Publish("raw", PublisherInfo{Protocol: "test"})
	msg := bytes.Repeat([]byte("telemetry line, not TS at all\n"), 1000) // > DetectWindow
	p.Write(msg)
	if got := readN(t, r, len(msg)); !bytes.Equal(got, msg) {
		t.Fatal("raw bytes changed on the way")
	}
	if f := h.Get("raw").Stats().Format; f != "raw" {
		t.Fatalf("format %q, want raw", f)
	}
}

func TestShortRawStreamDeliveredOnClose(t *testing.T) {
	h := newTestHub(t, Options{})
	r, _ := h.NewReader("x", ReaderInfo{Protocol: "test"})
	p, _ := h.Publish("x", PublisherInfo{Protocol: "test"})
	p.Write([]byte("hello"))
	p.Close("done")
	if got := readN(t, r, 5); string(got) != "hello" {
		t.Fatalf("got %q", got)
	}
}

func TestIdleDynamicStreamRemovedStaticKept(t *testing.T) {
	h := NewHub(Config{Static: []string{"keep"}})
	defer h.Close()
	r, _ := h.NewReader("tmp", ReaderInfo{})
	r2, _ := h.NewReader("keep", ReaderInfo{})
	if h.Get("tmp") == nil {
		t.Fatal("stream not created for its reader")
	}
	r.Close("done")
	r2.Close("done")
	if h.Get("tmp") != nil {
		t.Fatal("idle dynamic stream kept")
	}
	if h.Get("keep") == nil {
		t.Fatal("static stream removed")
	}
}

// TestSetStatic: a reload names a new static stream (created at once),
// drops an idle one (removed), drops one in use (kept until its reader
// leaves) and keeps one (the same stream, untouched).
func TestSetStatic(t *testing.T) {
	h := NewHub(Config{Static: []string{"kept", "idle", "used"}})
	defer h.Close()
	kept := h.Get("kept")
	r, _ := h.NewReader("used", ReaderInfo{})
	h.SetStatic([]string{"kept", "added"})
	if h.Get("kept") != kept || !kept.Static() {
		t.Error("a stream still named was replaced or made dynamic")
	}
	if s := h.Get("added"); s == nil || !s.Static() {
		t.Errorf("the new static stream is %v", s)
	}
	if h.Get("idle") != nil {
		t.Error("an idle stream no longer named is kept")
	}
	used := h.Get("used")
	if used == nil || used.Static() {
		t.Fatalf("the stream in use is %v, want it kept as a dynamic stream", used)
	}
	r.Close("done")
	if h.Get("used") != nil {
		t.Error("the stream no longer named is kept after its last reader left")
	}
	if h.Len() != 2 {
		t.Errorf("%d streams, want kept and added", h.Len())
	}
}

func TestCloseWakesReaders(t *testing.T) {
	h := NewHub(Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := 0; i < 10; i++ {
		r, _ := h.NewReader(fmt.Sprint("s", i%3), ReaderInfo{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.Next(context.Background())
			errs <- err
		}()
	}
	time.Sleep(10 * time.Millisecond)
	h.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("reader got %v, want ErrClosed", err)
		}
	}
	if _, err := h.NewReader("s0", ReaderInfo{}); !errors.Is(err, ErrHubClosed) {
		t.Fatalf("new reader after close: %v", err)
	}
}

func TestNameCheck(t *testing.T) {
	h := NewHub(Config{ValidName: func(n string) error {
		if n == "bad" {
			return errors.New("stream name \"bad\": rule")
		}
		return nil
	}})
	defer h.Close()
	if _, err := h.NewReader("bad", ReaderInfo{}); !errors.Is(err, ErrBadName) {
		t.Fatalf("err = %v, want ErrBadName", err)
	}
}

// TestPublishingSignalsChanges: Publishing's channel closes when a publisher
// arrives, is replaced, or leaves, and not otherwise.
func TestPublishingSignalsChanges(t *testing.T) {
	h := newTestHub(t, Options{Takeover: true})
	r, _ := h.NewReader("s", ReaderInfo{}) // creates the stream
	s := r.Stream()
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	live, ch := s.Publishing()
	if live || closed(ch) {
		t.Fatal("live before any publisher")
	}
	p1, _ := h.Publish("s", PublisherInfo{Path: []string{"origin"}})
	if !closed(ch) {
		t.Fatal("no signal when a publisher arrived")
	}
	live, ch = s.Publishing()
	p1.Write(tsPackets(0, 10))
	if !live || closed(ch) {
		t.Fatal("data, not a publisher change, signalled")
	}
	if got := s.PublisherPath(); len(got) != 1 || got[0] != "origin" {
		t.Fatalf("publisher path %v", got)
	}
	p2, _ := h.Publish("s", PublisherInfo{})
	if !closed(ch) {
		t.Fatal("no signal on takeover")
	}
	_, ch = s.Publishing()
	p1.Close("replaced") // the old one leaving changes nothing
	if closed(ch) {
		t.Fatal("the replaced publisher's close signalled")
	}
	p2.Close("done")
	if live, _ := s.Publishing(); live || !closed(ch) {
		t.Fatal("no signal when the publisher left")
	}
}

// TestTTFF: each reader's first bytes count once in the histogram, in the
// bucket of its wait, measured on the hub's clock.
func TestTTFF(t *testing.T) {
	clock, advance := fakeClock()
	hub := NewHub(Config{Now: clock})
	defer hub.Close()
	waits := []time.Duration{3 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond, 20 * time.Second}
	for _, w := range waits {
		r, err := hub.NewReader("s", ReaderInfo{Protocol: "ws"})
		if err != nil {
			t.Fatal(err)
		}
		advance(w)
		r.Sent(0) // nothing sent yet: not counted
		r.Sent(188)
		r.Sent(188) // only the first bytes count
		defer r.Close("test")
	}
	got := hub.Get("s").Stats().TTFF
	want := []int64{1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1} // ≤5ms, ≤500ms ×2, above 10s
	if !slices.Equal(got.Counts, want) || got.Count() != 4 || got.Sum != 20603*time.Millisecond {
		t.Errorf("TTFF %+v (count %d): want counts %v, sum 20.603s", got, got.Count(), want)
	}
	if b := TTFFBuckets(); len(b) != len(want)-1 || b[0] != 0.005 || b[len(b)-1] != 10 {
		t.Errorf("buckets %v", b)
	}
}
