package stream

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// readUntilErr reads what r has until Next fails or waits; it returns the
// bytes and the error (nil when it waited).
func readUntilErr(t *testing.T, r *Reader) ([]byte, error) {
	t.Helper()
	var got []byte
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		b, err := r.Next(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		for _, p := range b.Bufs {
			got = append(got, p...)
		}
	}
}

// TestRelayReaderEndsWhereThePathChanges: a relay's reader gets every byte
// that came the way it was told, then ErrPathChanged; a publisher that
// came the same way does not end it; other readers read on.
func TestRelayReaderEndsWhereThePathChanges(t *testing.T) {
	h := newTestHub(t, Options{Format: mpegts.FormatRaw})
	relay, err := h.NewReader("s", ReaderInfo{Protocol: "test", Relay: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := h.NewReader("s", ReaderInfo{Protocol: "test"})
	if relay.Path() != nil {
		t.Fatalf("path %q before any publisher, want none", relay.Path())
	}
	one := bytes.Repeat([]byte{1}, 1000)
	two := bytes.Repeat([]byte{2}, 2000)
	three := bytes.Repeat([]byte{3}, 3000)

	p1, _ := h.Publish("s", PublisherInfo{}) // a local publisher: no path
	p1.Write(one)
	p1.Close("gone")
	p2, _ := h.Publish("s", PublisherInfo{Path: []string{"A"}})
	p2.Write(two)
	if got, err := readUntilErr(t, relay); !errors.Is(err, ErrPathChanged) || !bytes.Equal(got, one) {
		t.Fatalf("relay reader: %d bytes, err %v; want the %d bytes that came with no path, then ErrPathChanged", len(got), err, len(one))
	}
	if got := h.Get("s").Path(); !slices.Equal(got, []string{"A"}) {
		t.Fatalf("stream path %q, want A", got)
	}

	// Placed under A, a new relay reader reads on across a publisher that
	// came through A too, and stops before the one that came through B.
	again, _, err := h.NewReaderAt("s", ReaderInfo{Protocol: "test", Relay: true}, "", int64(len(one)))
	if err != nil || !slices.Equal(again.Path(), []string{"A"}) {
		t.Fatalf("reader at %d: path %q, err %v; want A", len(one), again.Path(), err)
	}
	p2.Close("gone")
	p3, _ := h.Publish("s", PublisherInfo{Path: []string{"A"}})
	p3.Write(two)
	p3.Close("gone")
	p4, _ := h.Publish("s", PublisherInfo{Path: []string{"B"}})
	got, err := readUntilErr(t, again)
	if !errors.Is(err, ErrPathChanged) || !bytes.Equal(got, slices.Concat(two, two)) {
		t.Fatalf("%d bytes, err %v; want the %d bytes of both publishers that came through A, and ErrPathChanged before B has sent a byte",
			len(got), err, 2*len(two))
	}
	p4.Write(three)

	want := slices.Concat(one, two, two, three)
	if got := readAvailable(t, plain); !bytes.Equal(got, want) {
		t.Fatalf("plain reader got %d bytes, want all %d", len(got), len(want))
	}
}

// TestSetPathEndsExactRelayReaders: a publisher's corrected path ends a
// relay's exact reader at the exact byte; a reader made at that byte goes
// on under the new path.
func TestSetPathEndsExactRelayReaders(t *testing.T) {
	h := newTestHub(t, Options{Format: mpegts.FormatRaw})
	p, _ := h.Publish("s", PublisherInfo{Path: []string{"C"}})
	r, _, _ := h.NewReaderAt("s", ReaderInfo{Protocol: "test", Relay: true}, "", 0)
	before := bytes.Repeat([]byte{7}, 5000)
	after := bytes.Repeat([]byte{8}, 700)
	p.Write(before)
	p.SetPath([]string{"A", "C"})
	p.Write(after)
	got, err := readUntilErr(t, r)
	if !errors.Is(err, ErrPathChanged) || !bytes.Equal(got, before) {
		t.Fatalf("%d bytes, err %v; want the %d bytes before SetPath, then ErrPathChanged", len(got), err, len(before))
	}
	if pub := h.Get("s").Stats().Publisher; !slices.Equal(pub.Path, []string{"A", "C"}) {
		t.Fatalf("publisher path %q, want A,C", pub.Path)
	}
	next, served, _ := h.NewReaderAt("s", ReaderInfo{Protocol: "test", Relay: true}, "", int64(len(before)))
	if got, err := readUntilErr(t, next); served != int64(len(before)) || err != nil || !bytes.Equal(got, after) {
		t.Fatalf("resumed at %d: %d bytes, err %v; want the %d after", served, len(got), err, len(after))
	}
}

// TestPathMarksAreBounded: a publisher that keeps changing its path keeps
// at most maxPathMarks marks.
func TestPathMarksAreBounded(t *testing.T) {
	h := newTestHub(t, Options{Format: mpegts.FormatRaw})
	p, _ := h.Publish("s", PublisherInfo{})
	for i := range 100 {
		p.Write([]byte{byte(i)})
		p.SetPath([]string{string(rune('A' + i%2))})
	}
	s := h.Get("s")
	s.mu.Lock()
	n := len(s.marks)
	s.mu.Unlock()
	if n > maxPathMarks {
		t.Fatalf("%d marks, want at most %d", n, maxPathMarks)
	}
}
