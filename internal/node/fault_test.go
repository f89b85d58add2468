package node

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"
)

// packetWatch reads a viewer packet by packet, noting breaks in the
// packets' numbering (a relay that changed source restarts viewers at its
// live edge: one break, never a repeat).
type packetWatch struct {
	mu      sync.Mutex
	packets int
	breaks  int
	repeats int
	last    int64
	lastAt  time.Time
	err     error
}

func watchPackets(t *testing.T, v viewer) *packetWatch {
	t.Helper()
	w := &packetWatch{last: -1}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p := make([]byte, 188)
		for {
			_, err := io.ReadFull(v, p)
			w.mu.Lock()
			if err != nil {
				w.err = err
				w.mu.Unlock()
				return
			}
			n := tstest.Number(p)
			switch {
			case w.last >= 0 && n <= w.last:
				w.repeats++
			case w.last >= 0 && n != w.last+1:
				w.breaks++
			}
			w.last, w.lastAt = n, time.Now()
			w.packets++
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		v.Close()
		<-done
	})
	return w
}

func (w *packetWatch) snapshot() (packets, breaks, repeats int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.packets, w.breaks, w.repeats, w.err
}

// TestEdgeFailsOverFromStalledUpstream: the edge's first upstream accepts,
// streams, then hangs without closing. The edge notices (idle timeout),
// moves to the second upstream, and its viewer stays connected, seeing one
// skip and no repeated packet.
func TestEdgeFailsOverFromStalledUpstream(t *testing.T) {
	cfgA := testConfig("cam")
	cfgA.Name = "A"
	a := startNode(t, cfgA)
	feed(t, a.Hub(), "cam")
	aAddr := addr(t, a, "http", "http", "")
	hang := tstest.NewProxy(t, aAddr)
	b := startNode(t, edgeConfig("B", time.Second, hang.Addr(), aAddr))
	v := dialHTTPTS(t, httpClient(t), httpURL(addr(t, b, "http", "http", ""), "/live/cam.ts"), "video/mp2t")
	w := watchPackets(t, v)
	waitFor(t, ioTimeout, func() bool { n, _, _, _ := w.snapshot(); return n > 500 },
		func() string { return "the edge viewer gets nothing" })

	hang.Stall()
	stalled := time.Now()
	var before int
	waitFor(t, 15*time.Second, func() bool {
		l := b.links()
		return len(l) >= 2 && l[1].State == "up"
	}, func() string { return "edge links: " + linkStates(b) })
	took := time.Since(stalled)
	before, _, _, _ = w.snapshot()
	waitFor(t, ioTimeout, func() bool { n, _, _, _ := w.snapshot(); return n > before+500 },
		func() string { return "the edge viewer gets nothing after the failover" })
	t.Logf("failover %v after the upstream stalled (idle timeout 5s)", took.Round(time.Millisecond))
	if took > 8*time.Second {
		t.Errorf("failover took %v, want the idle timeout (5s) and a connect", took)
	}
	if _, breaks, repeats, err := w.snapshot(); breaks > 1 || repeats > 0 || err != nil {
		t.Errorf("edge viewer: %d breaks, %d repeats, err %v; want at most one skip, still connected", breaks, repeats, err)
	}
	if l := b.links(); l[0].Failovers < 1 {
		t.Errorf("first source %+v: no failover counted", l[0])
	}
	hang.Unstall()
}

// TestOnDemandViewersDuringTeardown: viewers arrive again and again just
// as the edge's pull stops after its linger; every one of them starts
// quickly and gets an unbroken stream, and the pull stops at the end.
func TestOnDemandViewersDuringTeardown(t *testing.T) {
	cfgA := testConfig("cam")
	cfgA.Name = "A"
	a := startNode(t, cfgA)
	feed(t, a.Hub(), "cam")
	b := startNode(t, edgeConfig("B", 30*time.Millisecond, addr(t, a, "http", "http", "")))
	url := httpURL(addr(t, b, "http", "http", ""), "/live/cam.ts")
	c := httpClient(t)
	var slowest time.Duration
	for i := range 15 {
		start := time.Now()
		v := dialHTTPTS(t, c, url, "video/mp2t")
		slowest = max(slowest, time.Since(start))
		consecutive(t, fmt.Sprintf("viewer %d", i), v, 50)
		v.Close()
		time.Sleep(time.Duration(i*7%60) * time.Millisecond) // before, at and after the linger
	}
	t.Logf("slowest start %v", slowest.Round(time.Millisecond))
	if slowest > 2*time.Second {
		t.Errorf("a viewer waited %v to start", slowest)
	}
	waitFor(t, ioTimeout, func() bool { return len(b.demand.Links()) == 0 && a.Hub().Readers("cam") == 0 },
		func() string { return "the pull still runs: " + linkStates(b) })
}
