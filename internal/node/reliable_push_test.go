package node

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/httpserver"
	"github.com/tsstream/tsstream/internal/tstest"
)

// pushLink returns n's push link of stream name.
func pushLink(n *Node, name string) httpserver.Link {
	for _, l := range n.links() {
		if l.Kind == "push" && l.Stream == name {
			return l
		}
	}
	return httpserver.Link{}
}

// reliablePushPair starts node B with stream r, a proxy in front of its
// HTTP port, and node A that pushes its stream r reliably to B through
// the proxy; ringBytes sizes A's ring (0: the default).
func reliablePushPair(t *testing.T, ringBytes int64) (a, b *Node, link *tstest.Proxy) {
	t.Helper()
	cfgB := testConfig("local")
	cfgB.Name = "B"
	cfgB.Streams["r"] = config.StreamOptions{Format: config.FormatRaw}
	b = startNode(t, cfgB)
	link = tstest.NewProxy(t, addr(t, b, "http", "http", ""))
	cfgA := testConfig("local")
	cfgA.Name = "A"
	cfgA.Streams["r"] = config.StreamOptions{Format: config.FormatRaw, RingBytes: config.Size(ringBytes),
		Push: []string{"http://" + link.Addr() + "/publish/r?reliable=1"}}
	a = startNode(t, cfgA)
	// A reliable push holds B's stream from the start, publisher or not.
	waitFor(t, ioTimeout, func() bool { return pushLink(a, "r").State == "up" && stats(t, b, "r").Publisher != nil },
		func() string {
			return fmt.Sprintf("A's push %+v; B's publisher %+v", pushLink(a, "r"), stats(t, b, "r").Publisher)
		})
	if l := pushLink(a, "r"); !l.Reliable {
		t.Fatalf("A's push %+v: not reliable", l)
	}
	return a, b, link
}

// ratedPublish publishes random bytes into stream r of n over HTTP, size
// bytes every period, for d, cutting link (down) from cutAt for outage;
// it returns the bytes published and when the link came back.
func ratedPublish(t *testing.T, n *Node, d, period time.Duration, size int, link *tstest.Proxy,
	cutAt, outage time.Duration) ([]byte, time.Time) {
	t.Helper()
	pub := dialHTTPPublish(t, httpClient(t), "POST", httpURL(addr(t, n, "http", "http", ""), "/publish/r"), -1)
	var sent []byte
	start := time.Now()
	tick := time.NewTicker(period)
	defer tick.Stop()
	cut, restored := false, false
	var restoredAt time.Time
	for time.Since(start) < d {
		<-tick.C
		b := make([]byte, size)
		rand.Read(b)
		if _, err := pub.Write(b); err != nil {
			t.Fatalf("publish: %v", err)
		}
		sent = append(sent, b...)
		switch since := time.Since(start); {
		case !cut && since >= cutAt:
			link.Cut(true)
			cut = true
			t.Logf("link cut after %d bytes published", len(sent))
		case cut && !restored && since >= cutAt+outage:
			link.Restore()
			restored, restoredAt = true, time.Now()
			t.Logf("link restored after %d bytes published", len(sent))
		}
	}
	if !restored {
		link.Restore()
		restoredAt = time.Now()
	}
	if err := pub.Close(); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return sent, restoredAt
}

// rawViewer reads an HTTP-TS viewer of a raw stream into got.
type rawViewer struct {
	mu  sync.Mutex
	got []byte
	err error
}

func viewRaw(t *testing.T, n *Node, name string) *rawViewer {
	t.Helper()
	body := dialHTTPTS(t, httpClient(t), httpURL(addr(t, n, "http", "http", ""), "/live/"+name+".ts"),
		"application/octet-stream")
	v := &rawViewer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			k, err := body.Read(buf)
			v.mu.Lock()
			v.got = append(v.got, buf[:k]...)
			if err != nil {
				v.err = err
				v.mu.Unlock()
				return
			}
			v.mu.Unlock()
		}
	}()
	t.Cleanup(func() { body.Close(); <-done })
	return v
}

func (v *rawViewer) bytes() ([]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.got, v.err
}

// TestReliablePushLosesNothingAcrossOutage: A pushes stream r reliably
// over HTTP to B through a proxy; 3 s of random bytes are published into A
// at a fixed rate, and the proxy is cut for 2 s in the middle (both sides
// closed, new connections refused). A asks B where it stopped and resumes
// at that exact byte: the bytes a viewer of B read from the start hash the
// same as the bytes published, on one connection, in one publisher
// session of B, with nothing counted lost.
func TestReliablePushLosesNothingAcrossOutage(t *testing.T) {
	a, b, link := reliablePushPair(t, 0)
	view := viewRaw(t, b, "r")
	waitViewers(t, b, "r", map[string]int{"http": 1})

	// 4 KiB every 10 ms: 400 KB/s, for 3 s; cut from 0.5 s to 2.5 s.
	sent, restored := ratedPublish(t, a, 3*time.Second, 10*time.Millisecond, 4<<10, link, 500*time.Millisecond, 2*time.Second)
	waitFor(t, 15*time.Second, func() bool { got, _ := view.bytes(); return len(got) >= len(sent) },
		func() string {
			got, err := view.bytes()
			return fmt.Sprintf("B's viewer has %d of %d bytes (%v); A's push %+v", len(got), len(sent), err, pushLink(a, "r"))
		})
	got, err := view.bytes()
	if err != nil {
		t.Fatalf("B's viewer ended: %v", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(sent) {
		tstest.SameBytes(t, "bytes at B's viewer", got, sent)
	}
	l := pushLink(a, "r")
	t.Logf("A's push: %+v", l)
	t.Logf("A resumed %v after the link came back (the push's backoff), %d bytes in all",
		l.Since.Sub(restored).Round(time.Millisecond), len(sent))
	if l.Resumes < 1 || l.Gaps != 0 || l.LostBytes != 0 {
		t.Errorf("A's push %+v: want a resume, no gaps, no lost bytes", l)
	}
	if st := stats(t, b, "r"); st.Publishes != 1 {
		t.Errorf("B's stream had %d publisher sessions, want 1: the outage must not show downstream", st.Publishes)
	}
}

// TestReliablePushGapCounted: the same with A's ring too small to ride
// out the outage (128 KiB; the outage publishes some 800 KB). A resumes at
// its oldest byte, logs and counts the bytes lost, and B starts a new
// session there. What B got is the published bytes with exactly that many
// missing, in one run, at the point of the cut.
func TestReliablePushGapCounted(t *testing.T) {
	a, b, link := reliablePushPair(t, 128<<10)
	leaf := collectExact(t, b.Hub(), "r")

	sent, _ := ratedPublish(t, a, 3*time.Second, 10*time.Millisecond, 4<<10, link, 500*time.Millisecond, 2*time.Second)
	var l httpserver.Link
	waitFor(t, 15*time.Second, func() bool {
		l = pushLink(a, "r")
		return l.Gaps > 0 && int64(leaf.len())+l.LostBytes >= int64(len(sent))
	}, func() string {
		return fmt.Sprintf("B has %d of %d bytes; A's push %+v", leaf.len(), len(sent), pushLink(a, "r"))
	})
	t.Logf("A's push: %+v", l)
	leaf.mu.Lock()
	got := bytes.Clone(leaf.got)
	leaf.mu.Unlock()
	lost := int64(len(sent) - len(got))
	if l.Gaps < 1 || l.LostBytes <= 0 || l.LostBytes != lost {
		t.Fatalf("A's push counted %d gaps and %d bytes lost; want a gap and %d bytes (published %d, B got %d)",
			l.Gaps, l.LostBytes, lost, len(sent), len(got))
	}
	// got is sent with one run of lost bytes taken out per gap. Usually
	// one: under load the push, resumed at the oldest byte of A's small
	// ring, can fall out of it once more before it catches up, and that
	// gap is counted too. The published bytes are random, so a 64-byte
	// probe finds where each run after a gap starts.
	i, j, gaps, first := 0, 0, int64(0), 0
	for {
		for i < len(got) && j < len(sent) && got[i] == sent[j] {
			i, j = i+1, j+1
		}
		if gaps == 0 {
			first = i
		}
		if i == len(got) {
			break
		}
		k := bytes.Index(sent[j:], got[i:min(i+64, len(got))])
		if k <= 0 {
			t.Fatalf("B's bytes from %d on are not the published ones after %d", i, j)
		}
		j += k
		gaps++
	}
	if gaps != l.Gaps || j != len(sent) {
		t.Errorf("B's bytes are the published ones with %d runs taken out, ending at %d of %d; A counted %d gaps",
			gaps, j, len(sent), l.Gaps)
	}
	if st := stats(t, b, "r"); st.Publishes != l.Gaps+1 {
		t.Errorf("B's stream had %d publisher sessions, want %d: each gap starts a new one", st.Publishes, l.Gaps+1)
	}
	if first == 0 {
		t.Errorf("B got nothing before the cut")
	}
}
