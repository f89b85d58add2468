package stream

import (
	"context"
	"testing"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// The hot path: a publisher appends a chunk and readers take it. Both must
// not allocate (the ring allocates one 64 KiB block per 64 KiB of data,
// which rounds to zero per chunk).

func TestAppendAndReadAllocateNothing(t *testing.T) {
	h := NewHub(Config{Options: func(string) Options { return Options{Format: mpegts.FormatTS} }})
	defer h.Close()
	r, _ := h.NewReader("a", ReaderInfo{})
	p, _ := h.Publish("a", PublisherInfo{})
	data := tsPackets(0, 7)
	ctx := context.Background()
	p.Write(data) // warm up: detection, first block
	r.Next(ctx)
	allocs := testing.AllocsPerRun(1000, func() {
		p.Write(data)
		if _, err := r.Next(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.2f allocations per chunk, want 0", allocs)
	}
}

func BenchmarkAppend(b *testing.B) {
	h := NewHub(Config{Options: func(string) Options { return Options{Format: mpegts.FormatTS} }})
	defer h.Close()
	p, _ := h.Publish("a", PublisherInfo{})
	data := tsPackets(0, 7)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		p.Write(data)
	}
}

// BenchmarkFanOut measures one chunk appended and read by 100 readers.
func BenchmarkFanOut(b *testing.B) {
	h := NewHub(Config{Options: func(string) Options { return Options{Format: mpegts.FormatTS} }})
	defer h.Close()
	p, _ := h.Publish("a", PublisherInfo{})
	readers := make([]*Reader, 100)
	for i := range readers {
		readers[i], _ = h.NewReader("a", ReaderInfo{})
	}
	data := tsPackets(0, 7)
	ctx := context.Background()
	b.SetBytes(int64(len(data) * len(readers)))
	b.ReportAllocs()
	for b.Loop() {
		p.Write(data)
		for _, r := range readers {
			r.Next(ctx)
		}
	}
}
