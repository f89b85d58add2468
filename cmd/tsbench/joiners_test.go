package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"testing"
	"time"
)

// tsPacket returns a packet of pid that starts a payload unit.
func tsPacket(pid uint16) []byte {
	pk := make([]byte, packetSize)
	pk[0], pk[1], pk[2], pk[3] = 0x47, 0x40|byte(pid>>8), byte(pid), 0x10
	return pk
}

// TestJoinersReport runs the joiner process's code against a TCP source
// that sends each connection a PAT, a PMT and a data packet: every joiner
// dials at the given moment and reports a first frame after its dial. The
// source then writes 1 MiB through a 64 KiB send buffer, which only a
// joiner that has read its first frame and drains the rest lets finish.
func TestJoinersReport(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 5
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetWriteBuffer(64 << 10)
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write(bytes.Join([][]byte{tsPacket(pidPAT), tsPacket(pidPMT), tsPacket(pidVideo)}, nil))
			if _, err := c.Write(make([]byte, 1<<20)); err != nil {
				t.Errorf("source: %v (the joiner did not drain)", err)
			}
			accepted <- c
		}
	}()
	start := time.Now()
	const at = 50 * time.Millisecond
	spec, _ := json.Marshal(joinSpec{Proto: "tcp", Addr: l.Addr().String(), N: n, Parallel: 2, Start: start.UnixNano(), At: at})
	stopR, stopW := io.Pipe()
	var out bytes.Buffer
	code := make(chan int)
	go func() { code <- serveJoiners(string(spec), stopR, &out) }()
	for range n {
		c := <-accepted
		defer c.Close()
	}
	stopW.Close()
	if c := <-code; c != 0 {
		t.Fatalf("serveJoiners returned %d", c)
	}
	var res joinResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("report %q: %v", out.String(), err)
	}
	if res.Failed != 0 || len(res.DialAt) != n || len(res.FirstAt) != n {
		t.Fatalf("report %+v, want %d joiners, none failed", res, n)
	}
	for i, d := range res.DialAt {
		if d < at || res.FirstAt[i] < d {
			t.Errorf("joiner %d dialled at %v (want from %v) and had its first frame at %v", i, d, at, res.FirstAt[i])
		}
	}
	var r result
	r.addLate(res, n)
	if r.LateJoined != n || r.LateNoFrame != 0 || r.LateTTFFP50MS <= 0 {
		t.Errorf("addLate: joined %d, no frame %d, TTFF p50 %v ms", r.LateJoined, r.LateNoFrame, r.LateTTFFP50MS)
	}
}

// TestDiscardDrains: discard consumes what arrives (the writer of 8 MiB,
// far more than the socket buffers hold, finishes) and ends at EOF.
func TestDiscardDrains(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wrote := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			wrote <- err
			return
		}
		defer c.Close()
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write(make([]byte, 8<<20))
		wrote <- err
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := discard(c); err != io.EOF {
		t.Errorf("discard returned %v, want io.EOF", err)
	}
	if err := <-wrote; err != nil {
		t.Errorf("writer: %v", err)
	}
}
