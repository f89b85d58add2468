package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/tsstream/tsstream/internal/config"
)

// TestMain checks that no test leaves a goroutine behind: every node is
// shut down and every client connection closed at cleanup.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// output is one way to play a stream, opened against a node of testConfig.
type output struct {
	name  string
	proto string // the viewer's protocol in the stream's stats
	dial  func(t *testing.T, n *Node, c *http.Client, name string) viewer
}

var outputs = []output{
	{"ws", "ws", func(t *testing.T, n *Node, _ *http.Client, name string) viewer {
		return dialWS(t, wsURL(addr(t, n, "http", "http", ""), "/ws/"+name), true)
	}},
	{"live.ts-upgrade", "ws", func(t *testing.T, n *Node, _ *http.Client, name string) viewer {
		return dialWS(t, wsURL(addr(t, n, "http", "http", ""), "/live/"+name+".ts"), true)
	}},
	{"live.ts-chunked", "http", func(t *testing.T, n *Node, c *http.Client, name string) viewer {
		return dialHTTPTS(t, c, httpURL(addr(t, n, "http", "http", ""), "/live/"+name+".ts"), "video/mp2t")
	}},
	{"ws-play-listener", "ws", func(t *testing.T, n *Node, _ *http.Client, name string) viewer {
		return dialWS(t, wsURL(addr(t, n, "play", "ws", name), "/whatever"), true)
	}},
	{"tcp-play-listener", "tcp", func(t *testing.T, n *Node, _ *http.Client, name string) viewer {
		return dialTCP(t, addr(t, n, "play", "tcp", name))
	}},
}

// ingest is one way to publish into a node of testConfig; size is the
// number of bytes that will be written (HTTP PUT sends it as Content-Length).
type ingest struct {
	name string
	dial func(t *testing.T, n *Node, c *http.Client, name string, size int) publisher
}

var ingests = []ingest{
	{"tcp", func(t *testing.T, n *Node, _ *http.Client, name string, _ int) publisher {
		return dialTCP(t, addr(t, n, "ingest", "tcp", name))
	}},
	{"udp", func(t *testing.T, n *Node, _ *http.Client, name string, _ int) publisher {
		return dialUDP(t, addr(t, n, "ingest", "udp", name))
	}},
	{"http-post-chunked", func(t *testing.T, n *Node, c *http.Client, name string, _ int) publisher {
		return dialHTTPPublish(t, c, http.MethodPost, httpURL(addr(t, n, "http", "http", ""), "/publish/"+name), -1)
	}},
	{"http-put", func(t *testing.T, n *Node, c *http.Client, name string, size int) publisher {
		return dialHTTPPublish(t, c, http.MethodPut, httpURL(addr(t, n, "http", "http", ""), "/publish/"+name), int64(size))
	}},
}

// dialOutputs connects one viewer per output and waits until the stream
// counts them all.
func dialOutputs(t *testing.T, n *Node, c *http.Client, name string) []viewer {
	t.Helper()
	views := make([]viewer, len(outputs))
	want := map[string]int{}
	for i, o := range outputs {
		views[i] = o.dial(t, n, c, name)
		want[o.proto]++
	}
	waitViewers(t, n, name, want)
	return views
}

func TestEveryIngestToEveryOutput(t *testing.T) {
	want := tstest.Packets(0, 7*300) // 300 datagrams of 1316 bytes
	for _, in := range ingests {
		t.Run(in.name, func(t *testing.T) {
			n := startNode(t, testConfig("live"))
			c := httpClient(t)
			views := dialOutputs(t, n, c, "live")
			p := in.dial(t, n, c, "live", len(want))
			if in.name == "udp" {
				p.Write(want) // whole datagrams
			} else {
				writeInPieces(t, p, want)
			}
			got, errs := readAll(views, len(want))
			if err := p.Close(); err != nil {
				t.Errorf("publisher: %v", err)
			}
			for i, o := range outputs {
				t.Run(o.name, func(t *testing.T) {
					if errs[i] != nil {
						t.Errorf("read: %v", errs[i])
					}
					tstest.SameBytes(t, o.name, got[i], want)
				})
			}
			// Exactly: nothing more went in, nor out to any viewer.
			total := int64(len(outputs) * len(want))
			st := stats(t, n, "live")
			waitFor(t, ioTimeout, func() bool { st = stats(t, n, "live"); return st.BytesOut >= total },
				func() string { return fmt.Sprintf("bytes out %d, want %d", st.BytesOut, total) })
			if st.BytesIn != int64(len(want)) || st.BytesOut != total || st.DroppedIn != 0 {
				t.Errorf("stats: bytes in %d (want %d), out %d (want %d), dropped %d",
					st.BytesIn, len(want), st.BytesOut, total, st.DroppedIn)
			}
		})
	}
}

func TestManyViewersGetIdenticalBytes(t *testing.T) {
	const viewers = 500
	n := startNode(t, testConfig("live"))
	c := httpClient(t)
	want := tstest.Packets(0, 2<<20/188)
	wantSum := sha256.Sum256(want)

	views := make([]viewer, viewers)
	count := map[string]int{}
	for i := range views {
		o := outputs[[]int{0, 2, 4}[i%3]] // ws, http, tcp
		views[i] = o.dial(t, n, c, "live")
		count[o.proto]++
	}
	waitViewers(t, n, "live", count)

	sums := make([][sha256.Size]byte, viewers)
	errs := make([]error, viewers)
	var wg sync.WaitGroup
	for i, v := range views {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timer := time.AfterFunc(60*time.Second, func() { v.Close() })
			defer timer.Stop()
			h := sha256.New()
			if _, err := io.CopyN(h, v, int64(len(want))); err != nil {
				errs[i] = err
			}
			copy(sums[i][:], h.Sum(nil))
		}()
	}
	p := dialTCP(t, addr(t, n, "ingest", "tcp", "live"))
	start := time.Now()
	writeInPieces(t, p, want)
	wg.Wait()
	t.Logf("%d viewers got %d bytes each in %v", viewers, len(want), time.Since(start).Round(time.Millisecond))
	bad := 0
	for i := range views {
		if errs[i] != nil || sums[i] != wantSum {
			if bad++; bad <= 5 {
				t.Errorf("viewer %d (%s): hash differs, err %v", i, outputs[[]int{0, 2, 4}[i%3]].name, errs[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d viewers did not get the published bytes", bad, viewers)
	}
	if st := stats(t, n, "live"); len(st.Cuts) != 0 || st.Skips != 0 {
		t.Errorf("viewers cut %v, skips %d: want none", st.Cuts, st.Skips)
	}
}

// TestFrozenViewer proves, for every output, that one viewer that stops
// reading neither slows the others nor makes the server hold a copy of the
// stream for it.
func TestFrozenViewer(t *testing.T) {
	// The kernel buffers a few MB for a viewer that does not read (the
	// server's send buffer grows up to net.ipv4.tcp_wmem, 4 MB), so the
	// stream must be longer than that for the viewer to fall 3 rings behind.
	const (
		ringBytes = 1 << 20
		batches   = 128
		batchSize = 64 << 10 / 188 * 188
	)
	want := tstest.Packets(0, batches*batchSize/188)
	normal := map[string]int{"ws": 2, "http": 1, "tcp": 2} // outputs 0, 0, 2, 4, 4
	for _, frozen := range []struct {
		proto string
		dial  func(t *testing.T, n *Node) // connects a viewer that never reads
	}{
		{"ws", func(t *testing.T, n *Node) {
			dialWSWith(t, wsURL(addr(t, n, "http", "http", ""), "/ws/live"), true,
				&websocket.Dialer{HandshakeTimeout: ioTimeout, NetDialContext: (&net.Dialer{Control: smallReceiveBuffer}).DialContext})
		}},
		{"http", func(t *testing.T, n *Node) {
			dialFrozen(t, addr(t, n, "http", "http", ""), "GET /live/live.ts HTTP/1.1\r\nHost: test\r\n\r\n")
		}},
		{"tcp", func(t *testing.T, n *Node) { dialFrozen(t, addr(t, n, "play", "tcp", "live"), "") }},
	} {
		t.Run(frozen.proto, func(t *testing.T) {
			cfg := testConfig("live")
			cfg.Streams["live"] = config.StreamOptions{RingBytes: ringBytes, WriteTimeout: config.Duration(2 * time.Second)}
			n := startNode(t, cfg)
			c := httpClient(t)

			frozen.dial(t, n)
			var views []viewer
			for _, i := range []int{0, 0, 2, 4, 4} {
				views = append(views, outputs[i].dial(t, n, c, "live"))
			}
			all := maps.Clone(normal)
			all[frozen.proto]++
			waitViewers(t, n, "live", all)

			// Normal viewers keep no copy, so the heap measures the server.
			wait := readTimed(views, want, batchSize)
			base := heapInuse()
			p := dialTCP(t, addr(t, n, "ingest", "tcp", "live"))
			var published [batches]time.Time
			for i := range batches {
				if _, err := p.Write(want[i*batchSize : (i+1)*batchSize]); err != nil {
					t.Fatal(err)
				}
				published[i] = time.Now()
				time.Sleep(5 * time.Millisecond)
			}
			arrived, errs := wait()
			// The frozen viewer is still connected, its write stuck: a
			// server that queued a copy per viewer would hold most of the
			// stream for it.
			grown := int64(heapInuse()) - int64(base)
			runtime.KeepAlive(want) // in both measurements
			st := stats(t, n, "live")
			t.Logf("heap grew %d KiB while publishing %d KiB; frozen viewer got %d KiB",
				grown>>10, len(want)>>10, (st.BytesOut-int64(len(views)*len(want)))>>10)
			if st.Readers[frozen.proto] != all[frozen.proto] {
				t.Logf("the frozen viewer was cut before the heap was measured: %v", st.Cuts)
			}
			if limit := int64(2 * ringBytes); grown > limit {
				t.Errorf("heap grew by %d KiB, want under %d KiB (ring %d KiB)", grown>>10, limit>>10, ringBytes>>10)
			}

			for i := range views {
				if errs[i] != nil {
					t.Errorf("viewer %d: %v", i, errs[i])
					continue
				}
				for b := range batches {
					if late := arrived[i][b].Sub(published[b]); late > time.Second {
						t.Errorf("viewer %d: batch %d arrived %v after it was published", i, b, late)
						break
					}
				}
			}
			cut := func() int64 { s := stats(t, n, "live"); return s.Cuts["write timeout"] + s.Cuts["too slow"] }
			waitFor(t, 5*time.Second, func() bool { return cut() >= 1 },
				func() string { return fmt.Sprintf("frozen viewer not disconnected: %v", stats(t, n, "live").Cuts) })
			st = stats(t, n, "live")
			t.Logf("frozen %s viewer cut: %v", frozen.proto, st.Cuts)
			if cut() != 1 || len(st.Cuts) != 1 || !maps.Equal(st.Readers, normal) {
				t.Errorf("disconnects %v, viewers %v: want only the frozen %s viewer cut, %v left", st.Cuts, st.Readers, frozen.proto, normal)
			}
		})
	}
}

// heapInuse returns the heap in use after a full collection; two, so that
// what sync.Pools held from earlier tests is gone too.
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func TestViewerStaysAcrossPublisherReconnect(t *testing.T) {
	n := startNode(t, testConfig("live"))
	c := httpClient(t)
	views := []viewer{outputs[0].dial(t, n, c, "live"), outputs[2].dial(t, n, c, "live")}
	waitViewers(t, n, "live", map[string]int{"ws": 1, "http": 1})
	want := tstest.Packets(0, 2000)
	for i, half := range [][]byte{want[:len(want)/2], want[len(want)/2:]} {
		waitFor(t, ioTimeout, func() bool { return stats(t, n, "live").Publisher == nil },
			func() string { return "the first publisher's session did not end" })
		p := dialTCP(t, addr(t, n, "ingest", "tcp", "live"))
		writeInPieces(t, p, half)
		p.Close()
		waitFor(t, ioTimeout, func() bool { return stats(t, n, "live").Publishes == int64(i+1) },
			func() string { return fmt.Sprintf("publisher %d not seen", i+1) })
	}
	got, errs := readAll(views, len(want))
	for i := range views {
		if errs[i] != nil {
			t.Errorf("viewer %d: %v", i, errs[i])
		}
		tstest.SameBytes(t, fmt.Sprintf("viewer %d", i), got[i], want)
	}
}

func TestSecondPublisher(t *testing.T) {
	cfg := testConfig("live")
	cfg.Ingest = append(cfg.Ingest, config.Ingest{Listen: anyPort, Stream: "tk", Protocols: []string{"tcp"}})
	cfg.Streams["tk"] = config.StreamOptions{Takeover: true}
	n := startNode(t, cfg)
	c := httpClient(t)
	base := addr(t, n, "http", "http", "")
	want := tstest.Packets(0, 1000)

	t.Run("refused", func(t *testing.T) {
		v := outputs[0].dial(t, n, c, "live")
		waitViewers(t, n, "live", map[string]int{"ws": 1})
		first := dialTCP(t, addr(t, n, "ingest", "tcp", "live"))
		writeInPieces(t, first, want[:len(want)/2])
		waitFor(t, ioTimeout, func() bool { return stats(t, n, "live").Publisher != nil },
			func() string { return "first publisher not seen" })

		resp, err := c.Post(httpURL(base, "/publish/live"), "video/mp2t", bytes.NewReader(tstest.Packets(5000, 10)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), first.LocalAddr().String()) {
			t.Errorf("HTTP publish: %s %q, want 409 naming %s", resp.Status, body, first.LocalAddr())
		}

		second := dialTCP(t, addr(t, n, "ingest", "tcp", "live"))
		second.Write(tstest.Packets(6000, 10))
		expectClosedByServer(t, "second TCP publisher", second, 2*time.Second)

		writeInPieces(t, first, want[len(want)/2:])
		got, err := readN(v, len(want))
		if err != nil {
			t.Error(err)
		}
		tstest.SameBytes(t, "viewer", got, want)
		if st := stats(t, n, "live"); st.Publishes != 1 || st.BytesIn != int64(len(want)) {
			t.Errorf("publishes %d, bytes in %d: want 1 and %d", st.Publishes, st.BytesIn, len(want))
		}
	})

	t.Run("takeover", func(t *testing.T) {
		v := dialWS(t, wsURL(base, "/ws/tk"), true)
		waitViewers(t, n, "tk", map[string]int{"ws": 1})
		first := dialTCP(t, addr(t, n, "ingest", "tcp", "tk"))
		writeInPieces(t, first, want[:len(want)/2])
		waitFor(t, ioTimeout, func() bool { return stats(t, n, "tk").BytesIn == int64(len(want)/2) },
			func() string { return "first publisher's bytes not in" })
		second := dialTCP(t, addr(t, n, "ingest", "tcp", "tk"))
		writeInPieces(t, second, want[len(want)/2:])
		expectClosedByServer(t, "first TCP publisher after takeover", first, 2*time.Second)
		got, err := readN(v, len(want))
		if err != nil {
			t.Error(err)
		}
		tstest.SameBytes(t, "viewer", got, want)
		st := stats(t, n, "tk")
		if st.Publishes != 2 || st.Publisher == nil || st.Publisher.Remote != second.LocalAddr().String() {
			t.Errorf("publishes %d, publisher %+v: want 2, the second (%s)", st.Publishes, st.Publisher, second.LocalAddr())
		}
	})
}

func TestBadStreamNames(t *testing.T) {
	n := startNode(t, testConfig("live"))
	c := httpClient(t)
	base := addr(t, n, "http", "http", "")
	const rule = `use 1-64 of A-Z a-z 0-9 _ - . not starting with "."`
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	for _, tc := range []struct {
		method, path string
		header       http.Header
	}{
		{"GET", "/live/..%2F.ts", nil},
		{"GET", "/ws/a%20b", upgrade},
		{"GET", "/live/a%20b.ts", upgrade},
		{"POST", "/publish/.hidden", nil},
		{"PUT", "/publish/" + strings.Repeat("x", 65), nil},
		{"GET", "/live/a%2Fb.ts", nil},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, httpURL(base, tc.path), strings.NewReader("data"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tc.header
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), rule) {
				t.Errorf("%s %s: %s %q, want 400 stating the rule", tc.method, tc.path, resp.Status, body)
			}
		})
	}
	if got := len(n.Hub().Streams()); got != 1 {
		t.Errorf("%d streams after bad requests, want only the configured one", got)
	}
}

func TestRawStream(t *testing.T) {
	cfg := testConfig("live")
	for _, format := range []string{"raw", "auto"} {
		cfg.Ingest = append(cfg.Ingest, config.Ingest{Listen: anyPort, Stream: format + "text", Protocols: []string{"tcp"}})
		cfg.Streams[format+"text"] = config.StreamOptions{Format: format}
	}
	n := startNode(t, cfg)
	c := httpClient(t)
	base := addr(t, n, "http", "http", "")
	var text bytes.Buffer
	for i := 0; text.Len() < 100_000; i++ {
		fmt.Fprintf(&text, "sensor %06d temperature=%d.%d\n", i, 15+i%10, i%7)
	}
	want := text.Bytes()[:100_000]

	for _, format := range []string{"raw", "auto"} {
		t.Run(format, func(t *testing.T) {
			name := format + "text"
			views := []viewer{
				dialWS(t, wsURL(base, "/ws/"+name), false),
				dialHTTPTS(t, c, httpURL(base, "/live/"+name+".ts"), contentTypeOf(format)),
			}
			waitViewers(t, n, name, map[string]int{"ws": 1, "http": 1})
			p := dialTCP(t, addr(t, n, "ingest", "tcp", name))
			writeInPieces(t, p, want)
			got, errs := readAll(views, len(want))
			for i := range views {
				if errs[i] != nil {
					t.Errorf("viewer %d: %v", i, errs[i])
				}
				tstest.SameBytes(t, fmt.Sprintf("viewer %d", i), got[i], want)
			}
			var st struct {
				Format  string `json:"format"`
				BytesIn int64  `json:"bytes_in"`
			}
			status, body := httpGet(t, c, httpURL(base, "/api/v1/streams/"+name))
			if err := json.Unmarshal([]byte(body), &st); status != http.StatusOK || err != nil {
				t.Fatalf("API: %d %v %s", status, err, body)
			}
			if st.Format != "raw" || st.BytesIn != int64(len(want)) {
				t.Errorf("API: format %q, bytes_in %d: want raw and %d", st.Format, st.BytesIn, len(want))
			}
		})
	}
}

// contentTypeOf is the HTTP-TS Content-Type of a stream configured with
// format: a stream that may be TS is announced as TS.
func contentTypeOf(format string) string {
	if format == "raw" {
		return "application/octet-stream"
	}
	return "video/mp2t"
}

func TestGracefulShutdown(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	n := startNode(t, testConfig("live"))
	c := httpClient(t)
	views := dialOutputs(t, n, c, "live")

	p := dialTCP(t, addr(t, n, "ingest", "tcp", "live"))
	pubDone := make(chan error, 1)
	go func() {
		for i := 0; ; i += 70 {
			if _, err := p.Write(tstest.Packets(i, 70)); err != nil {
				pubDone <- err
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	if _, errs := readAll(views, 100*188); errors.Join(errs...) != nil {
		t.Fatalf("before shutdown: %v", errors.Join(errs...))
	}

	// Each viewer reads on until its session ends and reports how.
	ends := make([]error, len(views))
	var wg sync.WaitGroup
	for i, v := range views {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timer := time.AfterFunc(ioTimeout, func() { v.Close() })
			defer timer.Stop()
			_, ends[i] = io.Copy(io.Discard, v)
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := n.Shutdown(ctx)
	if took := time.Since(start); err != nil || took > 2*time.Second {
		t.Errorf("Shutdown took %v, returned %v: want nil within 2s", took, err)
	}
	wg.Wait()
	for i, o := range outputs {
		var ce *websocket.CloseError
		switch o.proto {
		case "ws":
			if !errors.As(ends[i], &ce) || ce.Code != websocket.CloseGoingAway {
				t.Errorf("%s: session ended with %v, want a close frame with code 1001", o.name, ends[i])
			}
		default: // the last HTTP chunk, or EOF on TCP
			if ends[i] != nil {
				t.Errorf("%s: session ended with %v, want a clean end", o.name, ends[i])
			}
		}
	}
	select {
	case <-pubDone:
	case <-time.After(ioTimeout):
		t.Error("publisher's connection not closed by the shutdown")
	}
	for _, v := range views {
		v.Close()
	}
	p.Close()
	c.CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}

func TestAPIAndHealth(t *testing.T) {
	n := startNode(t, testConfig("live"))
	c := httpClient(t)
	base := addr(t, n, "http", "http", "")
	views := []viewer{
		outputs[0].dial(t, n, c, "live"), outputs[3].dial(t, n, c, "live"),
		outputs[2].dial(t, n, c, "live"), outputs[4].dial(t, n, c, "live"),
	}
	wantViewers := map[string]int{"ws": 2, "http": 1, "tcp": 1}
	waitViewers(t, n, "live", wantViewers)
	p := dialTCP(t, addr(t, n, "ingest", "tcp", "live"))
	want := tstest.Packets(0, 1234)
	writeInPieces(t, p, want)
	if _, errs := readAll(views, len(want)); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}

	if status, body := httpGet(t, c, httpURL(base, "/healthz")); status != http.StatusOK {
		t.Errorf("/healthz: %d %q", status, body)
	}
	// The node serves the hub's metrics (internal/metrics tests them in full).
	wantLine := fmt.Sprintf("tsstream_stream_bytes_in_total{stream=\"live\"} %d\n", len(want))
	if status, body := httpGet(t, c, httpURL(base, "/metrics")); status != http.StatusOK || !strings.Contains(body, wantLine) {
		t.Errorf("/metrics: %d, want a line %q", status, wantLine)
	}
	type streamJSON struct {
		Name      string         `json:"name"`
		Format    string         `json:"format"`
		Live      bool           `json:"live"`
		BytesIn   int64          `json:"bytes_in"`
		Viewers   map[string]int `json:"viewers"`
		Publisher *struct {
			Protocol string `json:"protocol"`
			Remote   string `json:"remote"`
		} `json:"publisher"`
	}
	var list struct{ Streams []streamJSON }
	status, body := httpGet(t, c, httpURL(base, "/api/v1/streams"))
	if err := json.Unmarshal([]byte(body), &list); status != http.StatusOK || err != nil {
		t.Fatalf("/api/v1/streams: %d %v %s", status, err, body)
	}
	if len(list.Streams) != 1 || list.Streams[0].Name != "live" {
		t.Fatalf("/api/v1/streams lists %+v, want only live", list.Streams)
	}
	s := list.Streams[0]
	if s.BytesIn != int64(len(want)) || s.Format != "ts" || !s.Live || s.Publisher == nil ||
		s.Publisher.Protocol != "tcp" || s.Publisher.Remote != p.LocalAddr().String() {
		t.Errorf("stream: %+v, want bytes_in %d, format ts, live, tcp publisher %s", s, len(want), p.LocalAddr())
	}
	if fmt.Sprint(s.Viewers) != fmt.Sprint(wantViewers) {
		t.Errorf("viewers %v, want %v", s.Viewers, wantViewers)
	}

	for _, v := range views {
		v.Close()
	}
	var one streamJSON
	waitFor(t, ioTimeout, func() bool {
		_, body := httpGet(t, c, httpURL(base, "/api/v1/streams/live"))
		one = streamJSON{} // Unmarshal merges into a map it is given
		return json.Unmarshal([]byte(body), &one) == nil && len(one.Viewers) == 0
	}, func() string { return fmt.Sprintf("viewers %v after all hung up, want none", one.Viewers) })
}
