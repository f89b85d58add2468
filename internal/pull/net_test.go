package pull

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"
)

func TestTCPSource(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	want := tstest.Packets(0, 300)
	served := make(chan struct{})
	go func() {
		defer close(served)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.Write(want)
		// Then the source ends: the puller sees EOF and, with one source,
		// backs off and reconnects (to nothing: the listener is closed).
	}()
	t.Cleanup(func() { <-served })
	local := newHub(t)
	c := collect(t, local)
	p := startPuller(t, Config{Hub: local, Sources: sources(t, "tcp://"+ln.Addr().String())})
	c.waitBytes(t, want)
	<-served
	ln.Close()
	waitState(t, p, 0, StateBackoff)
	if st := p.Stats()[0]; st.BytesIn != int64(len(want)) || st.LastError == "" {
		t.Errorf("stats %+v: want BytesIn %d and a LastError", st, len(want))
	}
}

// sendUDP sends numbered packets, 7 to a datagram, every 5 ms to addr until
// the test ends.
func sendUDP(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i += 7 {
			conn.Write(tstest.Packets(i, 7))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		conn.Close()
	})
}

// freeUDPPort returns a UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// checkRun fails unless got is whole packets numbered one after another.
func checkRun(t *testing.T, got []byte, atLeast int) {
	t.Helper()
	if len(got)%188 != 0 || len(got)/188 < atLeast {
		t.Fatalf("got %d bytes, want at least %d whole packets", len(got), atLeast)
	}
	first := tstest.Number(got)
	tstest.SameBytes(t, "udp run", got, tstest.Packets(int(first), len(got)/188))
}

func TestUDPSource(t *testing.T) {
	port := freeUDPPort(t)
	local := newHub(t)
	c := collect(t, local)
	p := startPuller(t, Config{Hub: local, Sources: sources(t, fmt.Sprintf("udp://127.0.0.1:%d", port))})
	sendUDP(t, fmt.Sprintf("127.0.0.1:%d", port))
	waitState(t, p, 0, StateUp)
	waitFor(t, ioTimeout, func() bool { got, _ := c.bytes(); return len(got) >= 70*188 },
		func() string { got, _ := c.bytes(); return fmt.Sprintf("viewer has %d bytes", len(got)) })
	got, _ := c.bytes()
	checkRun(t, got[:len(got)/188*188], 70)
	if info := local.Get("live").Stats().Publisher; info == nil || info.Protocol != "pull-udp" {
		t.Errorf("publisher %+v, want pull-udp", info)
	}
}

// TestUDPMulticastSource joins a group on the loopback route, if this
// machine has one.
func TestUDPMulticastSource(t *testing.T) {
	const group = "239.255.77.77"
	port := freeUDPPort(t)
	addr := net.JoinHostPort(group, fmt.Sprint(port))
	probe, err := net.ListenMulticastUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(group), Port: port})
	if err != nil {
		t.Skipf("cannot join multicast group %s here: %v", group, err)
	}
	sender, err := net.Dial("udp", addr)
	if err == nil {
		sender.Write([]byte("probe"))
		sender.Close()
	}
	probe.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, _, rerr := probe.ReadFrom(make([]byte, 64))
	probe.Close()
	if err != nil || rerr != nil {
		t.Skipf("no multicast route delivers %s back to this host (send: %v, receive: %v); add one with `ip route add 239.0.0.0/8 dev lo`", addr, err, rerr)
	}

	local := newHub(t)
	c := collect(t, local)
	p := startPuller(t, Config{Hub: local, Sources: sources(t, "udp://@"+addr)})
	sendUDP(t, addr)
	waitState(t, p, 0, StateUp)
	waitFor(t, ioTimeout, func() bool { got, _ := c.bytes(); return len(got) >= 70*188 },
		func() string { got, _ := c.bytes(); return fmt.Sprintf("viewer has %d bytes", len(got)) })
	got, _ := c.bytes()
	checkRun(t, got[:len(got)/188*188], 70)
}
