package main

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The reference fan-out: what tsstream is measured against in the same
// run. It is the minimal Go relay the speed issue describes, and nothing
// more: the TCP ingest reads into a buffer, each read (cut to whole TS
// packets) becomes one immutable chunk, framed once for every protocol,
// and is handed to each viewer's goroutine through a buffered channel; the
// goroutine writes each chunk with one writev. A viewer whose channel is
// full is dropped. No GOP cache, no PAT/PMT for joiners, no stats, no
// policies. tsbench runs it as a child process (tsbench -reference-serve),
// so that its CPU and memory are read from /proc like tsstream's, and it
// logs and answers the API in the few ways the harness reads.

// refQueue is how many chunks a viewer may be behind before it is dropped.
const refQueue = 512

// refChunk is one ingest read, framed once per protocol.
type refChunk struct {
	data    []byte
	wsHdr   []byte
	httpHdr []byte
}

type refViewer struct {
	conn  net.Conn
	proto string // ws, http, tcp
	ch    chan *refChunk
}

type refServer struct {
	mu      sync.Mutex
	viewers map[*refViewer]struct{}
	wg      sync.WaitGroup
	log     *slog.Logger
}

// serveReference runs the reference until SIGTERM; it returns the exit code.
func serveReference(httpAddr, ingestAddr, tcpAddr string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s := &refServer{viewers: map[*refViewer]struct{}{}, log: log}
	ls := map[string]string{"http/http": httpAddr, "ingest/tcp": ingestAddr, "play/tcp": tcpAddr}
	bound := map[string]net.Listener{}
	for key, addr := range ls {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			log.Error("listen", "address", addr, "err", err)
			return 1
		}
		bound[key] = l
		role, proto, _ := cutSlash(key)
		log.Info("listening", "role", role, "protocol", proto, "address", l.Addr().String())
	}
	go s.ingest(bound["ingest/tcp"])
	go s.acceptTCP(bound["play/tcp"])
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/streams/live", s.api)
	mux.HandleFunc("/ws/live", func(w http.ResponseWriter, r *http.Request) { s.play(w, r, "ws") })
	mux.HandleFunc("/live/live.ts", func(w http.ResponseWriter, r *http.Request) { s.play(w, r, "http") })
	go http.Serve(bound["http/http"], mux)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	s.mu.Lock()
	for v := range s.viewers {
		close(v.ch) // the viewer writes its close bytes and ends
		delete(s.viewers, v)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return 0
}

func cutSlash(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// ingest takes one publisher at a time and fans its reads out.
func (s *refServer) ingest(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		carry := 0
		for {
			n, err := c.Read(buf[carry:])
			n += carry
			whole := n / packetSize * packetSize
			if whole > 0 {
				s.fanOut(append([]byte(nil), buf[:whole]...))
			}
			carry = copy(buf, buf[whole:n])
			if err != nil {
				break
			}
		}
		c.Close()
	}
}

func (s *refServer) fanOut(data []byte) {
	c := &refChunk{data: data}
	c.wsHdr = wsBinaryHeader(nil, len(data))
	c.httpHdr = append(strconv.AppendInt(nil, int64(len(data)), 16), '\r', '\n')
	s.mu.Lock()
	for v := range s.viewers {
		select {
		case v.ch <- c:
		default: // too far behind: drop
			delete(s.viewers, v)
			close(v.ch)
		}
	}
	s.mu.Unlock()
}

// wsBinaryHeader appends the header of an unmasked binary frame of n bytes.
func wsBinaryHeader(dst []byte, n int) []byte {
	switch {
	case n < 126:
		return append(dst, 0x82, byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(dst, 0x82, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0x82, 127), uint64(n))
}

func (s *refServer) add(conn net.Conn, proto string) {
	v := &refViewer{conn: conn, proto: proto, ch: make(chan *refChunk, refQueue)}
	s.mu.Lock()
	s.viewers[v] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go s.write(v)
}

// write is the viewer's goroutine: one writev per chunk.
func (s *refServer) write(v *refViewer) {
	defer s.wg.Done()
	defer v.conn.Close()
	crlf := []byte("\r\n")
	var arr [3][]byte
	for c := range v.ch {
		bufs := net.Buffers(arr[:0])
		switch v.proto {
		case "ws":
			bufs = append(bufs, c.wsHdr, c.data)
		case "http":
			bufs = append(bufs, c.httpHdr, c.data, crlf)
		default:
			bufs = append(bufs, c.data)
		}
		v.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := bufs.WriteTo(v.conn); err != nil {
			s.remove(v)
			for range v.ch {
			}
			return
		}
	}
	v.conn.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	switch v.proto {
	case "ws":
		v.conn.Write([]byte{0x88, 2, 0x03, 0xE9}) // close 1001
	case "http":
		io.WriteString(v.conn, "0\r\n\r\n")
	}
}

func (s *refServer) remove(v *refViewer) {
	s.mu.Lock()
	if _, ok := s.viewers[v]; ok {
		delete(s.viewers, v)
		close(v.ch)
	}
	s.mu.Unlock()
}

func (s *refServer) acceptTCP(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s.add(c, "tcp")
	}
}

// play upgrades a WebSocket or starts a chunked HTTP-TS response by hand.
func (s *refServer) play(w http.ResponseWriter, r *http.Request, proto string) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nTransfer-Encoding: chunked\r\n\r\n"
	if proto == "ws" {
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
	}
	if _, err := io.WriteString(conn, head); err != nil {
		conn.Close()
		return
	}
	s.add(conn, proto)
}

// api answers the one question the harness asks: viewers by protocol.
func (s *refServer) api(w http.ResponseWriter, _ *http.Request) {
	counts := map[string]int{}
	s.mu.Lock()
	for v := range s.viewers {
		counts[v.proto]++
	}
	s.mu.Unlock()
	fmt.Fprintf(w, `{"viewers":{"ws":%d,"http":%d,"tcp":%d}}`, counts["ws"], counts["http"], counts["tcp"])
}
