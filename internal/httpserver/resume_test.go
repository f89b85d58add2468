package httpserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/stream"
)

// reliableTarget is a node taking reliable pushes of raw streams.
type reliableTarget struct {
	hub  *stream.Hub
	addr string
}

func newReliableTarget(t *testing.T) *reliableTarget {
	t.Helper()
	hub := stream.NewHub(stream.Config{Static: []string{"r"}, Options: func(string) stream.Options {
		return stream.Options{Format: mpegts.FormatRaw}
	}})
	s := &Server{Hub: hub}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
		s.Wait()
	})
	return &reliableTarget{hub: hub, addr: srv.Listener.Addr().String()}
}

// head asks where a reliable push of ring goes on.
func (rt *reliableTarget) head(t *testing.T, ring string) (string, int64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+rt.addr+"/publish/r", nil)
	req.Header.Set("Tsstream-Ring", ring)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("HEAD: %v", err)
	}
	resp.Body.Close()
	c.CloseIdleConnections()
	if resp.StatusCode != 200 {
		t.Fatalf("HEAD: %s", resp.Status)
	}
	off, err := strconv.ParseInt(resp.Header.Get("Tsstream-Offset"), 10, 64)
	if err != nil {
		t.Fatalf("HEAD: Tsstream-Offset %q", resp.Header.Get("Tsstream-Offset"))
	}
	return resp.Header.Get("Tsstream-Ring"), off
}

// pushConn is the connection of one POST, its body chunked by hand.
type pushConn struct {
	net.Conn
	br *bufio.Reader
}

// post starts a publish request; ring "" makes it a plain one.
func (rt *reliableTarget) post(t *testing.T, ring string, off, prefix int64) *pushConn {
	t.Helper()
	c, err := net.Dial("tcp", rt.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	head := "POST /publish/r HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
	if ring != "" {
		head += fmt.Sprintf("Tsstream-Ring: %s\r\nTsstream-Offset: %d\r\nTsstream-Prefix: %d\r\n", ring, off, prefix)
	}
	if _, err := c.Write([]byte(head + "\r\n")); err != nil {
		t.Fatal(err)
	}
	return &pushConn{Conn: c, br: bufio.NewReader(c)}
}

func (c *pushConn) send(t *testing.T, b []byte) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(b), b); err != nil {
		t.Fatal(err)
	}
}

// end sends the last chunk and returns the answer's status.
func (c *pushConn) end(t *testing.T) int {
	t.Helper()
	c.Write([]byte("0\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// status reads the answer to a request that ended without a body end.
func (c *pushConn) status(t *testing.T) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (rt *reliableTarget) waitBytes(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for rt.hub.Get("r").Stats().BytesIn != n {
		if time.Now().After(deadline) {
			t.Fatalf("stream has %d bytes, want %d", rt.hub.Get("r").Stats().BytesIn, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// all returns every byte the stream holds, from offset 0.
func (rt *reliableTarget) all(t *testing.T) []byte {
	t.Helper()
	n := rt.hub.Get("r").Stats().BytesIn
	rd, _, err := rt.hub.NewReaderAt("r", stream.ReaderInfo{Protocol: "test"}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close("test")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []byte
	for int64(len(got)) < n {
		b, err := rd.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", len(got), n, err)
		}
		for _, p := range b.Bufs {
			got = append(got, p...)
		}
	}
	return got
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestReliablePublishProtocol: the receiving side of a reliable push, on
// the wire. A cut keeps the session and HEAD says its next byte; a POST at
// that byte continues it (one publisher session, the bytes in order); a
// clean end ends it; a POST of another ring, at another offset, or a plain
// publisher ends a kept session; a HEAD while the old connection still
// reads (it has not noticed a cut) stops that read and answers the exact
// byte.
func TestReliablePublishProtocol(t *testing.T) {
	t.Run("cut, resume, end", func(t *testing.T) {
		rt := newReliableTarget(t)
		if ring, off := rt.head(t, "R"); ring != "" || off != -1 {
			t.Fatalf("HEAD before any push: ring %q offset %d, want none and -1", ring, off)
		}
		one, two := random(5000), random(3000)
		c := rt.post(t, "R", 1000, 0)
		c.send(t, one)
		rt.waitBytes(t, 5000)
		c.Close() // the cut: no last chunk
		deadline := time.Now().Add(5 * time.Second)
		for {
			ring, off := rt.head(t, "R")
			if ring == "R" && off == 6000 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("HEAD after the cut: ring %q offset %d, want R and 6000", ring, off)
			}
		}
		c = rt.post(t, "R", 6000, 0)
		c.send(t, two)
		rt.waitBytes(t, 8000)
		if code := c.end(t); code != 200 {
			t.Fatalf("the resumed POST answered %d", code)
		}
		if got, want := rt.all(t), append(bytes.Clone(one), two...); !bytes.Equal(got, want) {
			t.Errorf("the stream's bytes are not the two parts in order (%d bytes)", len(got))
		}
		st := rt.hub.Get("r").Stats()
		if st.Publishes != 1 || st.Publisher != nil {
			t.Errorf("%d publisher sessions, publisher %+v; want 1, ended", st.Publishes, st.Publisher)
		}
		if ring, off := rt.head(t, "R"); ring != "" || off != -1 {
			t.Errorf("HEAD after a clean end: ring %q offset %d, want none", ring, off)
		}
	})

	// A kept session at ring R offset 100, then what the next POST is.
	for _, tc := range []struct {
		name        string
		ring        string // "" a plain publisher
		off, prefix int64
		publishes   int64
	}{
		{"same ring, same byte", "R", 100, 0, 1},
		{"same ring, later byte (the pusher lost bytes)", "R", 150, 0, 2},
		{"same ring, a prefix", "R", 100, 188, 2},
		{"another ring", "R2", 100, 0, 2},
		{"a plain publisher", "", 0, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newReliableTarget(t)
			c := rt.post(t, "R", 0, 0)
			c.send(t, random(100))
			rt.waitBytes(t, 100)
			c.Close()
			deadline := time.Now().Add(5 * time.Second)
			for ring, off := rt.head(t, "R"); ring != "R" || off != 100; ring, off = rt.head(t, "R") {
				if time.Now().After(deadline) {
					t.Fatalf("HEAD: ring %q offset %d, want R and 100", ring, off)
				}
			}
			c = rt.post(t, tc.ring, tc.off, tc.prefix)
			c.send(t, random(50))
			rt.waitBytes(t, 150)
			if code := c.end(t); code != 200 {
				t.Fatalf("POST answered %d, want 200", code)
			}
			if st := rt.hub.Get("r").Stats(); st.Publishes != tc.publishes {
				t.Errorf("%d publisher sessions, want %d", st.Publishes, tc.publishes)
			}
		})
	}

	t.Run("HEAD stops a read that has not noticed the cut", func(t *testing.T) {
		rt := newReliableTarget(t)
		c := rt.post(t, "R", 0, 0)
		c.send(t, random(700))
		rt.waitBytes(t, 700)
		start := time.Now()
		ring, off := rt.head(t, "R") // c is still open
		if ring != "R" || off != 700 {
			t.Fatalf("HEAD: ring %q offset %d, want R and 700", ring, off)
		}
		if took := time.Since(start); took >= stopReadWait {
			t.Errorf("HEAD took %v: it waited out the old read instead of stopping it", took)
		}
		if code := c.status(t); code == 200 {
			t.Errorf("the stopped request answered %d, want an error", code)
		}
		// Another ring's HEAD does not stop a live session.
		c = rt.post(t, "R", 700, 0)
		c.send(t, random(10))
		rt.waitBytes(t, 710)
		if ring, off := rt.head(t, "Other"); ring != "" || off != -1 {
			t.Errorf("HEAD of another ring: ring %q offset %d, want none", ring, off)
		}
		c.send(t, random(10))
		rt.waitBytes(t, 720)
		if code := c.end(t); code != 200 {
			t.Errorf("the live session answered %d after another ring's HEAD, want 200", code)
		}
	})
}

// TestReliablePublishBadHeaders: a reliable POST must give its offset and
// prefix.
func TestReliablePublishBadHeaders(t *testing.T) {
	rt := newReliableTarget(t)
	for _, h := range []string{"Tsstream-Offset: x\r\nTsstream-Prefix: 0", "Tsstream-Offset: -5\r\nTsstream-Prefix: 0",
		"Tsstream-Offset: 0"} {
		c, err := net.Dial("tcp", rt.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /publish/r HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTsstream-Ring: R\r\n%s\r\n\r\n", h)
		pc := &pushConn{Conn: c, br: bufio.NewReader(c)}
		if code := pc.status(t); code != 400 {
			t.Errorf("%q: status %d, want 400", strings.ReplaceAll(h, "\r\n", "; "), code)
		}
		c.Close()
	}
}
