package metrics

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable time source for the hub, so that the bitrate and the
// once-a-second TS info refresh are exact.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// scrape is one parsed /metrics response.
type scrape map[string]*dto.MetricFamily

func get(t *testing.T, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	return families
}

// find returns the series of family name whose labels are exactly
// labels (name, value pairs), or nil.
func (s scrape) find(name string, labels ...string) *dto.Metric {
	mf := s[name]
	if mf == nil {
		return nil
	}
	want := make(map[string]string)
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range mf.GetMetric() {
		got := make(map[string]string)
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return m
		}
	}
	return nil
}

// value returns the value of a counter or gauge series, failing the test if
// it is missing or of another type than typ.
func (s scrape) value(t *testing.T, typ dto.MetricType, name string, labels ...string) float64 {
	t.Helper()
	m := s.find(name, labels...)
	if m == nil {
		t.Fatalf("no series %s%v", name, labels)
	}
	if got := s[name].GetType(); got != typ {
		t.Fatalf("%s is a %v, want %v", name, got, typ)
	}
	if typ == dto.MetricType_COUNTER {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// series counts the series of the families whose name starts with prefix.
func (s scrape) series(prefix string) int {
	n := 0
	for name, mf := range s {
		if strings.HasPrefix(name, prefix) {
			n += len(mf.GetMetric())
		}
	}
	return n
}

const (
	counter = dto.MetricType_COUNTER
	gauge   = dto.MetricType_GAUGE
)

// check is one expected series value.
type check struct {
	typ    dto.MetricType
	name   string
	labels []string
	want   float64
}

func (s scrape) check(t *testing.T, checks []check) {
	t.Helper()
	for _, c := range checks {
		if got := s.value(t, c.typ, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// readAvailable reads what r has until it waits for more, and records it
// as sent, the way an output does.
func readAvailable(t *testing.T, r *stream.Reader) int {
	t.Helper()
	n := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		b, err := r.Next(ctx)
		cancel()
		if err != nil {
			return n
		}
		r.Sent(b.Len)
		n += b.Len
	}
}

// indexed returns what a fresh indexer finds in data.
func indexed(data []byte) mpegts.Info {
	var x mpegts.Indexer
	x.Feed(data)
	return x.Info()
}

func newHub(t *testing.T, clk *clock) *stream.Hub {
	t.Helper()
	hub := stream.NewHub(stream.Config{
		Now:    clk.Now,
		Static: []string{"idle", "raw"},
		Options: func(name string) stream.Options {
			switch name {
			case "cam":
				return stream.Options{Format: mpegts.FormatTS}
			case "raw":
				return stream.Options{Format: mpegts.FormatRaw, RingBytes: stream.MaxChunk}
			}
			return stream.Options{}
		},
	})
	t.Cleanup(hub.Close)
	return hub
}

func serve(t *testing.T, hub *stream.Hub) string {
	t.Helper()
	srv := httptest.NewServer(Handler(hub, "node-a", "v1.2.3"))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

func mustReader(t *testing.T, hub *stream.Hub, name, protocol, remote string) *stream.Reader {
	t.Helper()
	r, err := hub.NewReader(name, stream.ReaderInfo{Protocol: protocol, Remote: remote})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustPublish(t *testing.T, hub *stream.Hub, name string) *stream.Publisher {
	t.Helper()
	p, err := hub.Publish(name, stream.PublisherInfo{Protocol: "tcp", Remote: "127.0.0.1:5000"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScrapeReportsStreamCounters(t *testing.T) {
	// Real ffmpeg output: H.264 and AAC, several keyframes.
	data, err := os.ReadFile("../mpegts/testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	once, twice := indexed(data), indexed(append(bytes.Clone(data), data...))
	if once.Keys < 2 || twice.Keys != 2*once.Keys {
		t.Fatalf("test file: %d keys once, %d twice", once.Keys, twice.Keys)
	}
	if twice.ContinuityErrors <= once.ContinuityErrors {
		t.Fatalf("test file: the loop should break continuity (%d, %d errors)", once.ContinuityErrors, twice.ContinuityErrors)
	}

	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	hub := newHub(t, clk)
	url := serve(t, hub)

	// "cam": 7 bytes of garbage, then the file; three viewers join at its
	// cached keyframe, two read, one leaves.
	const garbage = 7
	cam := mustPublish(t, hub, "cam")
	cam.Write(append(make([]byte, garbage), data...))
	ws1 := mustReader(t, hub, "cam", "ws", "10.0.0.1:1")
	mustReader(t, hub, "cam", "ws", "10.0.0.2:1")
	http1 := mustReader(t, hub, "cam", "http", "10.0.0.3:1")
	sent := readAvailable(t, ws1) + readAvailable(t, http1)
	if sent <= 2*len(data)/10 {
		t.Fatalf("viewers read %d bytes in all", sent)
	}
	ws1.Close("client closed")

	// "raw": 200 writes of 1000 bytes into a 64 KiB ring past a viewer that
	// does not read, then the publisher leaves. The viewer then skips to
	// the live edge: everything was published after it joined at 0.
	rawViewer := mustReader(t, hub, "raw", "tcp", "10.0.0.4:1")
	raw := mustPublish(t, hub, "raw")
	chunk := bytes.Repeat([]byte("r"), 1000)
	for range 200 {
		raw.Write(chunk)
	}
	raw.Close("publisher closed")
	if n := readAvailable(t, rawViewer); n != 0 {
		t.Fatalf("raw viewer read %d bytes at the live edge of a stream with no publisher", n)
	}

	clk.Add(time.Second) // the bitrate is that of the last complete second
	s := get(t, url)
	s.check(t, []check{
		{gauge, "tsstream_build_info", []string{"version", "v1.2.3", "node", "node-a"}, 1},
		{gauge, "tsstream_streams", nil, 3},

		{gauge, "tsstream_stream_publisher_up", []string{"stream", "cam"}, 1},
		{gauge, "tsstream_stream_publisher_up", []string{"stream", "raw"}, 0},
		{gauge, "tsstream_stream_publisher_up", []string{"stream", "idle"}, 0},
		{counter, "tsstream_stream_publishes_total", []string{"stream", "cam"}, 1},
		{counter, "tsstream_stream_publishes_total", []string{"stream", "raw"}, 1},
		{counter, "tsstream_stream_publishes_total", []string{"stream", "idle"}, 0},
		{counter, "tsstream_stream_bytes_in_total", []string{"stream", "cam"}, float64(len(data))},
		{counter, "tsstream_stream_bytes_in_total", []string{"stream", "raw"}, 200_000},
		{counter, "tsstream_stream_bytes_in_total", []string{"stream", "idle"}, 0},
		{counter, "tsstream_stream_dropped_in_bytes_total", []string{"stream", "cam"}, garbage},
		{counter, "tsstream_stream_dropped_in_bytes_total", []string{"stream", "raw"}, 0},
		{gauge, "tsstream_stream_bitrate_bits", []string{"stream", "cam"}, float64(8 * len(data))},
		{gauge, "tsstream_stream_bitrate_bits", []string{"stream", "raw"}, 8 * 200_000},
		{gauge, "tsstream_stream_ring_bytes", []string{"stream", "cam"}, float64(len(data))},
		{gauge, "tsstream_stream_ring_bytes", []string{"stream", "raw"}, 65 * 1000}, // 66 chunks exceed 64 KiB

		{gauge, "tsstream_stream_viewers", []string{"stream", "cam", "protocol", "ws"}, 1},
		{gauge, "tsstream_stream_viewers", []string{"stream", "cam", "protocol", "http"}, 1},
		{gauge, "tsstream_stream_viewers", []string{"stream", "raw", "protocol", "tcp"}, 1},
		{counter, "tsstream_stream_bytes_out_total", []string{"stream", "cam"}, float64(sent)},
		{counter, "tsstream_stream_bytes_out_total", []string{"stream", "raw"}, 0},
		{counter, "tsstream_stream_disconnects_total", []string{"stream", "cam", "reason", "client closed"}, 1},
		{counter, "tsstream_stream_skips_total", []string{"stream", "raw"}, 1},
		{counter, "tsstream_stream_skipped_bytes_total", []string{"stream", "raw"}, 200_000},
		{counter, "tsstream_stream_skips_total", []string{"stream", "cam"}, 0},

		{counter, "tsstream_stream_keyframes_total", []string{"stream", "cam"}, float64(once.Keys)},
		{counter, "tsstream_stream_continuity_errors_total", []string{"stream", "cam"}, float64(once.ContinuityErrors)},
		{counter, "tsstream_stream_keyframes_total", []string{"stream", "raw"}, 0},
		{counter, "tsstream_stream_gop_joins_total", []string{"stream", "cam"}, 3},
		{counter, "tsstream_stream_key_waits_total", []string{"stream", "cam"}, 0},
		{counter, "tsstream_stream_gop_too_long_total", []string{"stream", "cam"}, 0},
		{counter, "tsstream_stream_key_timeouts_total", []string{"stream", "cam"}, 0},
	})
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total"} {
		if s[name] == nil {
			t.Errorf("no %s: the Go and process collectors are missing", name)
		}
	}
	if n := len(s["tsstream_stream_viewers"].GetMetric()); n != 3 {
		t.Errorf("%d viewer series, want 3 (cam ws and http, raw tcp)", n)
	}
	if n := len(s["tsstream_stream_disconnects_total"].GetMetric()); n != 1 {
		t.Errorf("%d disconnect series, want 1", n)
	}

	// More of everything: counters grow by exactly what happened since.
	cam.Write(data) // the loop breaks continuity
	raw = mustPublish(t, hub, "raw")
	for range 5 {
		raw.Write(chunk)
	}
	sent2 := readAvailable(t, http1)
	if sent2 < len(data)/2 {
		t.Fatalf("viewer read %d bytes of the second %d", sent2, len(data))
	}
	clk.Add(time.Second)
	s2 := get(t, url)
	s2.check(t, []check{
		{counter, "tsstream_stream_bytes_in_total", []string{"stream", "cam"}, float64(2 * len(data))},
		{counter, "tsstream_stream_bytes_in_total", []string{"stream", "raw"}, 205_000},
		{gauge, "tsstream_stream_bitrate_bits", []string{"stream", "cam"}, float64(8 * len(data))},
		{gauge, "tsstream_stream_bitrate_bits", []string{"stream", "raw"}, 8 * 5000},
		{gauge, "tsstream_stream_publisher_up", []string{"stream", "raw"}, 1},
		{counter, "tsstream_stream_publishes_total", []string{"stream", "raw"}, 2},
		{counter, "tsstream_stream_publishes_total", []string{"stream", "cam"}, 1},
		{counter, "tsstream_stream_bytes_out_total", []string{"stream", "cam"}, float64(sent + sent2)},
		{counter, "tsstream_stream_disconnects_total", []string{"stream", "cam", "reason", "client closed"}, 1},
		{counter, "tsstream_stream_keyframes_total", []string{"stream", "cam"}, float64(twice.Keys)},
		{counter, "tsstream_stream_continuity_errors_total", []string{"stream", "cam"}, float64(twice.ContinuityErrors)},
		{counter, "tsstream_stream_dropped_in_bytes_total", []string{"stream", "cam"}, garbage},
	})
}

// viewerSeries returns a scrape, and its number of tsstream_ series, while
// n viewers from distinct addresses watch one stream, half over WebSocket,
// half over HTTP, after n/10 more (at least one) have left.
func viewerSeries(t *testing.T, n int) (scrape, int) {
	t.Helper()
	hub := newHub(t, &clock{t: time.Unix(1_700_000_000, 0)})
	p := mustPublish(t, hub, "cam")
	p.Write(bytes.Repeat([]byte{0x47, 0x1f, 0xff, 0x10}, 47*10)) // null packets
	remote := 0
	viewer := func(protocol string) *stream.Reader {
		remote++
		return mustReader(t, hub, "cam", protocol, fmt.Sprintf("10.1.%d.%d:%d", remote/250, remote%250, 40000+remote))
	}
	for i := range n {
		viewer([]string{"ws", "http"}[i%2])
	}
	for range max(n/10, 1) {
		viewer("ws").Close("client gone")
	}
	s := get(t, serve(t, hub))
	return s, s.series("tsstream_")
}

func TestViewersDoNotAddSeries(t *testing.T) {
	few, nFew := viewerSeries(t, 2)
	many, nMany := viewerSeries(t, 200)
	if nFew != nMany {
		var names []string
		for name, mf := range many {
			if strings.HasPrefix(name, "tsstream_") && len(mf.GetMetric()) != len(few[name].GetMetric()) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		t.Fatalf("%d tsstream_ series with 2 viewers, %d with 200; grown: %v", nFew, nMany, names)
	}
	many.check(t, []check{
		{gauge, "tsstream_stream_viewers", []string{"stream", "cam", "protocol", "ws"}, 100},
		{gauge, "tsstream_stream_viewers", []string{"stream", "cam", "protocol", "http"}, 100},
		{counter, "tsstream_stream_disconnects_total", []string{"stream", "cam", "reason", "client gone"}, 20},
	})
	few.check(t, []check{
		{gauge, "tsstream_stream_viewers", []string{"stream", "cam", "protocol", "http"}, 1},
		{counter, "tsstream_stream_disconnects_total", []string{"stream", "cam", "reason", "client gone"}, 1},
	})
}
