package httpserver

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/stream"
	"github.com/tsstream/tsstream/internal/tstest"
)

// TestViewerOutlivesItsRequest: once a viewer plays, net/http no longer
// holds its request (nor what comes with it: headers, buffers, the
// handler's stack), and the viewer keeps playing.
func TestViewerOutlivesItsRequest(t *testing.T) {
	for _, proto := range []string{"ws", "http"} {
		t.Run(proto, func(t *testing.T) {
			hub := stream.NewHub(stream.Config{Static: []string{"s"}})
			defer hub.Close()
			pub, err := hub.Publish("s", stream.PublisherInfo{Protocol: "test"})
			if err != nil {
				t.Fatal(err)
			}
			var freed atomic.Int32
			h := (&Server{Hub: hub}).Handler()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/live/") {
					runtime.AddCleanup(r, func(*atomic.Int32) { freed.Add(1) }, &freed)
				}
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()

			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			req := "GET /live/s.ts HTTP/1.1\r\nHost: x\r\n"
			if proto == "ws" {
				req += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
			}
			io.WriteString(conn, req+"\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]int{"ws": 101, "http": 200}[proto]; resp.StatusCode != want {
				t.Fatalf("status %d, want %d", resp.StatusCode, want)
			}

			deadline := time.Now().Add(10 * time.Second)
			for freed.Load() == 0 && time.Now().Before(deadline) {
				runtime.GC()
				time.Sleep(10 * time.Millisecond)
			}
			if freed.Load() == 0 {
				t.Fatal("the request is still held while the viewer plays")
			}
			// The viewer still plays: these bytes reach it.
			data := tstest.Packets(0, 20)
			pub.Write(data)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			var got []byte
			buf := make([]byte, 4096)
			for !bytes.Contains(got, data[len(data)-188:]) {
				n, err := br.Read(buf)
				if err != nil {
					t.Fatalf("after the request was freed: %v (got %d bytes)", err, len(got))
				}
				got = append(got, buf[:n]...)
			}
			if n := hub.Readers("s"); n != 1 {
				t.Fatalf("%d readers, want 1", n)
			}
		})
	}
}
