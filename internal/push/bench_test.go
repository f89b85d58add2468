package push

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/tsstream/tsstream/internal/tstest"

	"github.com/tsstream/tsstream/internal/stream"
)

// drained returns the client end of a loopback TCP connection whose server
// end is read and discarded until cleanup.
func drained(tb testing.TB) net.Conn {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(io.Discard, s)
	}()
	tb.Cleanup(func() {
		c.Close()
		s.Close()
		<-done
	})
	return c
}

// testBatch is a batch of n chunks of 7 TS packets.
func testBatch(n int) stream.Batch {
	var b stream.Batch
	for i := range n {
		p := tstest.Packets(i*7, 7)
		b.Bufs = append(b.Bufs, p)
		b.Len += len(p)
	}
	return b
}

// TestWriteAllocs: the per-batch write to a TCP or HTTP target allocates
// nothing once warmed up.
func TestWriteAllocs(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		c := newStreamConn(context.Background(), drained(t), chunked, ioTimeout)
		defer c.cut.stop()
		b := testBatch(16)
		c.write(b)
		if n := testing.AllocsPerRun(100, func() {
			if _, err := c.write(b); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("chunked %v: %v allocations per batch, want 0", chunked, n)
		}
	}
}

func BenchmarkStreamConnWrite(b *testing.B) {
	for _, chunked := range []bool{false, true} {
		name := "tcp"
		if chunked {
			name = "http"
		}
		b.Run(name, func(b *testing.B) {
			c := newStreamConn(context.Background(), drained(b), chunked, ioTimeout)
			defer c.cut.stop()
			batch := testBatch(16)
			b.SetBytes(int64(batch.Len))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.write(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
