package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// readBuffer is each viewer's read size: large, so that a viewer that fell
// behind catches up in few system calls.
const readBuffer = 32 << 10

// viewerStats is what one viewer saw. It is small and fixed-size, so that
// thousands of viewers cost little; histograms are merged at the end.
type viewerStats struct {
	window     int64 // TS bytes received in the measured window
	total      int64 // TS bytes received in all
	markers    int64 // markers of the measured window received
	ccErrors   int64 // continuity counter jumps, any PID, whole run
	syncErrors int64 // packets not starting with 0x47
	badMarkers int64 // packets on the marker PID without the magic
	delay      histogram
	halves     [2]histogram // delay of the markers sent before and after the window's middle
}

// viewer is one WebSocket client reading the stream and checking it.
type viewer struct {
	// Static after dialViewer.
	conn    net.Conn
	start   time.Time // the clock shared with the publisher
	connect time.Duration
	data    func([]byte)  // v.ts, bound once
	proto   string        // ws, http or tcp
	pace    int64         // bytes per second a slow viewer reads at; 0: as fast as it can
	slowAt  time.Duration // when a slow viewer starts reading at pace (before: as fast as it can)
	split   time.Duration // markers sent from here on go to the second half
	late    bool          // a late joiner: after its first frame, it discards what it reads
	dialAt  time.Duration

	// Owned by the viewer's goroutine; read by others after it ends.
	buf    []byte
	ws     wsFrames
	chunks httpChunks
	first  firstFrame
	carry  [packetSize]byte // a packet split across reads
	cn     int
	cc     [5]uint8 // last continuity counter by pidSlot
	seen   uint8    // pidSlots seen, as bits
	phase  byte     // of the last marker
	now    time.Duration
	st     viewerStats
	from   time.Duration // the window's start, for worst
	worst  []uint32      // -timeline: worst delay in µs per step of the window
	endErr error
	endAt  time.Duration
}

// target says where viewers connect and how: proto is ws, http or tcp;
// addr the relay's HTTP address (ws, http) or TCP play address.
type target struct {
	proto, addr string
	pace        int64
	slowAt      time.Duration // when pace starts
	split       time.Duration // the middle of the window
	late        bool
	video       bool          // the stream has keyframes (-gop)
	steps       int           // -timeline: steps of the window to keep the worst delay of
	from        time.Duration // the window's start
}

// connectViewers connects n viewers to t, parallel at a time, and starts
// each one's reading goroutine under wg. It returns the viewers that
// connected and how many failed.
func connectViewers(t target, n, parallel int, start time.Time, wg *sync.WaitGroup) ([]*viewer, int) {
	vs := make([]*viewer, n)
	idx := make(chan int)
	var mu sync.Mutex
	failed := 0
	var workers sync.WaitGroup
	for range min(parallel, n) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := range idx {
				v, err := dialViewer(t, start)
				if err != nil {
					mu.Lock()
					if failed == 0 {
						fmt.Fprintf(os.Stderr, "tsbench: viewer %d: %v\n", i, err)
					}
					failed++
					mu.Unlock()
					continue
				}
				vs[i] = v
				wg.Add(1)
				go v.run(wg)
			}
		}()
	}
	for i := range n {
		idx <- i
	}
	close(idx)
	workers.Wait()
	ok := vs[:0]
	for _, v := range vs {
		if v != nil {
			ok = append(ok, v)
		}
	}
	return ok, failed
}

func dialViewer(t target, start time.Time) (*viewer, error) {
	size := readBuffer
	if t.pace > 0 {
		size = slowReadBuffer
	}
	v := &viewer{start: start, buf: make([]byte, size), proto: t.proto, pace: t.pace, slowAt: t.slowAt,
		split: t.split, late: t.late, from: t.from}
	if t.steps > 0 {
		v.worst = make([]uint32, t.steps)
	}
	v.data = v.ts
	v.first.video = t.video
	t0 := time.Now()
	v.dialAt = t0.Sub(start)
	conn, rest, err := dialProto(t, v.buf, 10*time.Second)
	if err != nil {
		return nil, err
	}
	v.connect = time.Since(t0)
	v.conn = conn
	v.now = time.Since(start)
	if err := v.feed(rest); err != nil {
		conn.Close()
		return nil, err
	}
	return v, nil
}

// feed hands what was read to the protocol's parser.
func (v *viewer) feed(p []byte) error {
	switch v.proto {
	case "ws":
		return v.ws.feed(p, v.data)
	case "http":
		return v.chunks.feed(p, v.data)
	}
	v.data(p)
	return nil
}

// run reads until the connection ends: normally when the relay sends its
// close frame at shutdown. A slow viewer reads as fast as it can until
// slowAt, then sleeps after each read so as to read no more than pace
// bytes a second.
func (v *viewer) run(wg *sync.WaitGroup) {
	defer wg.Done()
	var got int64
	var t0 time.Time
	for {
		n, err := v.conn.Read(v.buf)
		if n > 0 {
			v.now = time.Since(v.start)
			if ferr := v.feed(v.buf[:n]); ferr != nil {
				v.endErr = ferr
				break
			}
		}
		if err != nil {
			v.endErr = err
			break
		}
		if v.late && v.first.done {
			v.endErr = discard(v.conn)
			break
		}
		if v.pace == 0 {
			continue
		}
		if t0.IsZero() {
			if v.now < v.slowAt {
				continue
			}
			t0 = time.Now()
		}
		got += int64(n)
		time.Sleep(time.Until(t0.Add(time.Duration(float64(got) / float64(v.pace) * 1e9))))
	}
	v.endAt = time.Since(v.start)
	v.conn.Close()
	v.buf = nil
}

// ts cuts WebSocket payload into 188-byte packets, keeping a packet split
// across reads in carry.
func (v *viewer) ts(p []byte) {
	if v.cn > 0 {
		k := copy(v.carry[v.cn:], p)
		v.cn += k
		p = p[k:]
		if v.cn < packetSize {
			return
		}
		v.packet(v.carry[:])
		v.cn = 0
	}
	for len(p) >= packetSize {
		v.packet(p[:packetSize])
		p = p[packetSize:]
	}
	v.cn = copy(v.carry[:], p)
}

// pidSlot maps the stream's PIDs to small indexes; 4 is any other PID.
func pidSlot(pid uint16) int {
	switch pid {
	case pidPAT:
		return 0
	case pidPMT:
		return 1
	case pidVideo:
		return 2
	case pidMarker:
		return 3
	}
	return 4
}

func (v *viewer) packet(pk []byte) {
	v.st.total += packetSize
	v.first.packet(pk, v.now)
	if pk[0] != 0x47 {
		v.st.syncErrors++
		if v.phase == phaseWindow {
			v.st.window += packetSize
		}
		return
	}
	pid := uint16(pk[1]&0x1F)<<8 | uint16(pk[2])
	if pk[3]&0x10 != 0 { // the counter steps only on packets with payload
		slot := pidSlot(pid)
		cc, bit := pk[3]&0x0F, uint8(1)<<slot
		if v.seen&bit != 0 && cc != (v.cc[slot]+1)&0x0F {
			v.st.ccErrors++
		}
		v.cc[slot], v.seen = cc, v.seen|bit
	}
	if pid == pidMarker {
		v.marker(pk)
	}
	// After the marker: the phase-1 marker belongs to the window, the
	// phase-2 marker does not, as on the publisher's side.
	if v.phase == phaseWindow {
		v.st.window += packetSize
	}
}

func (v *viewer) marker(pk []byte) {
	if !bytes.Equal(pk[4:8], markerMagic[:]) {
		v.st.badMarkers++
		return
	}
	v.phase = pk[24]
	if v.phase != phaseWindow {
		return
	}
	sent := time.Duration(binary.BigEndian.Uint64(pk[16:24]))
	v.st.markers++
	v.st.delay.add(v.now - sent)
	half := 0
	if sent >= v.split {
		half = 1
	}
	v.st.halves[half].add(v.now - sent)
	v.noteWorst(sent, v.now-sent)
}
