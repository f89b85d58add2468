package pull

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tsstream/tsstream/internal/httpserver"
	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/stream"
	"github.com/tsstream/tsstream/internal/tstest"
)

// TestMain checks that Close leaves no goroutine behind: the run loop, the
// session watchers, the idle timers, HTTP transports, test servers.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ioTimeout bounds every wait, so that a broken puller fails the test
// instead of hanging it.
const ioTimeout = 3 * time.Second

// newHub returns a hub whose streams take raw bytes, so that what comes out
// is byte for byte what went in; it is closed at cleanup.
func newHub(t *testing.T) *stream.Hub {
	t.Helper()
	h := stream.NewHub(stream.Config{Options: func(string) stream.Options {
		return stream.Options{Format: mpegts.FormatRaw}
	}})
	t.Cleanup(h.Close)
	return h
}

// upstream is another tsstream serving HTTP-TS from its own hub.
type upstream struct {
	hub *stream.Hub
	srv *httptest.Server
	url string // of stream "live"
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	hub := stream.NewHub(stream.Config{Options: func(string) stream.Options {
		return stream.Options{Format: mpegts.FormatRaw}
	}})
	hs := &httpserver.Server{Hub: hub, Node: httpserver.Node{Name: "up"}}
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(func() {
		hub.Close() // ends the hijacked HTTP-TS viewers
		srv.Close()
		hs.Wait()
	})
	return &upstream{hub: hub, srv: srv, url: srv.URL + "/live/live.ts"}
}

// publish makes the publisher of stream "live" on h, closed at cleanup.
func publish(t *testing.T, h *stream.Hub) *stream.Publisher {
	t.Helper()
	p, err := h.Publish("live", stream.PublisherInfo{Protocol: "test", Remote: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close("test over") })
	return p
}

func write(t *testing.T, p *stream.Publisher, b []byte) {
	t.Helper()
	if _, err := p.Write(b); err != nil {
		t.Fatal(err)
	}
}

// sources parses urls.
func sources(t *testing.T, urls ...string) []Source {
	t.Helper()
	var list []Source
	for _, u := range urls {
		s, err := ParseSource(u)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, s)
	}
	return list
}

// startPuller starts a puller of stream "live" with quick test timings
// where cfg leaves them zero, logging to the test, closed at cleanup.
func startPuller(t *testing.T, cfg Config) *Puller {
	t.Helper()
	cfg.Stream = "live"
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 400 * time.Millisecond
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 300 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	p := New(cfg)
	p.Start()
	t.Cleanup(p.Close)
	return p
}

// collector is a local viewer of stream "live" that keeps what it gets.
type collector struct {
	mu  sync.Mutex
	got []byte
	err error // why Next failed, other than the test ending
}

func collect(t *testing.T, h *stream.Hub) *collector {
	t.Helper()
	return collectStream(t, h, "live")
}

// collectStream is collect for the stream called name.
func collectStream(t *testing.T, h *stream.Hub, name string) *collector {
	t.Helper()
	rd, err := h.NewReader(name, stream.ReaderInfo{Protocol: "test", Remote: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b, err := rd.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					c.mu.Lock()
					c.err = err
					c.mu.Unlock()
				}
				return
			}
			c.mu.Lock()
			for _, buf := range b.Bufs {
				c.got = append(c.got, buf...)
			}
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		rd.Close("test over")
	})
	return c
}

func (c *collector) bytes() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.got...), c.err
}

// waitBytes waits until c has at least len(want) bytes, then compares.
func (c *collector) waitBytes(t *testing.T, want []byte) {
	t.Helper()
	waitFor(t, ioTimeout, func() bool {
		got, err := c.bytes()
		return len(got) >= len(want) || err != nil
	}, func() string {
		got, err := c.bytes()
		return fmt.Sprintf("viewer has %d bytes of %d (err %v)", len(got), len(want), err)
	})
	got, err := c.bytes()
	if err != nil {
		t.Fatalf("viewer disconnected: %v", err)
	}
	tstest.SameBytes(t, "viewer", got, want)
}

// waitFor polls cond every 5 ms until it holds or timeout passes; then it
// fails with what describes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits until source i of p is in state.
func waitState(t *testing.T, p *Puller, i int, state string) {
	t.Helper()
	waitFor(t, ioTimeout, func() bool { return p.Stats()[i].State == state },
		func() string { return fmt.Sprintf("source %d: %+v, want state %s", i, p.Stats()[i], state) })
}

func TestHTTPSourceRelaysExactBytes(t *testing.T) {
	up := newUpstream(t)
	upPub := publish(t, up.hub)
	var gotPath atomic.Value
	// A proxy in front of the upstream notes the relay path header.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath.Store(r.Header.Get(PathHeader))
		http.Redirect(w, r, up.url, http.StatusFound)
	}))
	t.Cleanup(front.Close)

	local := newHub(t)
	c := collect(t, local)
	p := startPuller(t, Config{Hub: local, Sources: sources(t, front.URL+"/live/live.ts?key=secret"), Node: "edge1"})
	waitState(t, p, 0, StateUp)

	want := tstest.Packets(0, 500)
	for i := 0; i < len(want); i += 1000 {
		write(t, upPub, want[i:min(i+1000, len(want))])
	}
	c.waitBytes(t, want)

	if got, _ := gotPath.Load().(string); got != "edge1" {
		t.Errorf("%s header = %q, want %q", PathHeader, got, "edge1")
	}
	st := p.Stats()[0]
	if st.BytesIn != int64(len(want)) {
		t.Errorf("BytesIn = %d, want %d", st.BytesIn, len(want))
	}
	if strings.Contains(st.URL, "secret") {
		t.Errorf("Stats URL %q shows the key", st.URL)
	}
	info := local.Get("live").Stats().Publisher
	if info == nil || info.Protocol != "pull-http" {
		t.Errorf("local publisher = %+v, want protocol pull-http", info)
	}
}

func TestFailover(t *testing.T) {
	for _, tc := range []struct {
		name string
		kill func(up *upstream, pub *stream.Publisher)
	}{
		// The upstream shuts down: the HTTP-TS body ends.
		{"upstream closes", func(up *upstream, _ *stream.Publisher) { up.hub.Close() }},
		// The upstream keeps the connection but sends nothing: IdleTimeout.
		{"upstream stalls", func(*upstream, *stream.Publisher) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newUpstream(t), newUpstream(t)
			aPub, bPub := publish(t, a.hub), publish(t, b.hub)
			local := newHub(t)
			c := collect(t, local)
			p := startPuller(t, Config{Hub: local, Sources: sources(t, a.url, b.url)})
			waitState(t, p, 0, StateUp)
			if st := p.Stats()[1]; st.State != StateWaiting {
				t.Errorf("second source: %+v, want waiting", st)
			}
			first := tstest.Packets(0, 100)
			write(t, aPub, first)
			c.waitBytes(t, first)

			killed := time.Now()
			tc.kill(a, aPub)
			waitState(t, p, 1, StateUp)
			if d := time.Since(killed); d > time.Second {
				t.Errorf("failover took %v, want under 1s", d)
			}
			second := tstest.Packets(100, 100)
			write(t, bPub, second)
			c.waitBytes(t, append(first, second...))

			st := p.Stats()
			if st[0].Failovers != 1 || st[1].Failovers != 0 {
				t.Errorf("Failovers = %d, %d; want 1, 0", st[0].Failovers, st[1].Failovers)
			}
			if st[0].LastError == "" {
				t.Errorf("first source has no LastError: %+v", st[0])
			}
		})
	}
}

func TestNon200BacksOff(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no stream here", http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	local := newHub(t)
	p := startPuller(t, Config{Hub: local, Sources: sources(t, srv.URL+"/live/x.ts"),
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Rand: func() float64 { return 0 }})
	waitState(t, p, 0, StateBackoff)
	start := requests.Load()
	time.Sleep(time.Second)
	n := requests.Load() - start
	// 100ms, then 200ms waits: about 6 requests a second; a busy loop
	// makes hundreds.
	if n < 3 || n > 12 {
		t.Errorf("%d requests in 1s with backoff 100-200ms; want 3 to 12", n)
	}
	st := p.Stats()[0]
	if !strings.Contains(st.LastError, "404") || !strings.Contains(st.LastError, "no stream here") {
		t.Errorf("LastError = %q, want the 404 and its body", st.LastError)
	}
	if st.Reconnects != 0 || st.BytesIn != 0 {
		t.Errorf("stats %+v: a refusal is not a connection", st)
	}
}

func TestWaitsForOtherPublisher(t *testing.T) {
	up := newUpstream(t)
	upPub := publish(t, up.hub)
	local := newHub(t)
	other, err := local.Publish("live", stream.PublisherInfo{Protocol: "tcp", Remote: "someone"})
	if err != nil {
		t.Fatal(err)
	}
	p := startPuller(t, Config{Hub: local, Sources: sources(t, up.url)})
	waitState(t, p, 0, StateBackoff)
	if st := p.Stats()[0]; !strings.Contains(st.LastError, "publisher") {
		t.Errorf("LastError = %q, want the other publisher named", st.LastError)
	}
	other.Close("done")
	waitState(t, p, 0, StateUp)
	c := collect(t, local)
	want := tstest.Packets(0, 50)
	write(t, upPub, want)
	c.waitBytes(t, want)
}

func TestCloseStopsEverything(t *testing.T) {
	up := newUpstream(t)
	publish(t, up.hub)
	local := newHub(t)
	p := startPuller(t, Config{Hub: local, Sources: sources(t, up.url, "tcp://127.0.0.1:1")})
	waitState(t, p, 0, StateUp)
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(ioTimeout):
		t.Fatal("Close did not return")
	}
	for i, st := range p.Stats() {
		if st.State != StateStopped {
			t.Errorf("source %d: %+v, want stopped", i, st)
		}
	}
	if s := local.Get("live"); s != nil { // released once unused
		if live, _ := s.Publishing(); live {
			t.Error("the stream still has a publisher after Close")
		}
	}
}
