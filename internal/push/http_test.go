package push

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"

	"github.com/tsstream/tsstream/internal/httpserver"
	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/stream"
)

// downstream is another tsstream's HTTP server with its own hub, recording
// the publish requests it gets.
type downstream struct {
	hub *stream.Hub
	srv *httptest.Server

	mu       sync.Mutex
	requests []*http.Request // publish requests, as they came
	statuses []int           // their answers, once given
}

// newDownstream starts a downstream node; it closes at cleanup, after the
// pushers of the test (registered later, so closed first).
func newDownstream(t *testing.T) *downstream {
	t.Helper()
	d := &downstream{hub: stream.NewHub(stream.Config{Options: func(string) stream.Options {
		return stream.Options{Format: mpegts.FormatTS}
	}})}
	t.Cleanup(d.hub.Close)
	web := &httpserver.Server{Hub: d.hub}
	h := web.Handler()
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.requests = append(d.requests, r)
		d.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		d.mu.Lock()
		d.statuses = append(d.statuses, rec.status)
		d.mu.Unlock()
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *downstream) seen() (reqs []*http.Request, statuses []int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*http.Request(nil), d.requests...), append([]int(nil), d.statuses...)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// TestHTTPPushToTsstream: the downstream stream receives exactly the bytes
// published upstream, the request carries the relay path and the key, the
// API hides the key, and Close ends the upload cleanly (the last chunk:
// the downstream answers 200).
func TestHTTPPushToTsstream(t *testing.T) {
	down := newDownstream(t)
	dr, err := down.hub.NewReader("relayed", stream.ReaderInfo{Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close("test over")

	hub := newHub(t, stream.Options{Format: mpegts.FormatTS})
	pub := publish(t, hub, "live")
	url := down.srv.URL + "/publish/relayed?key=s3cret"
	p := startPusher(t, Config{Hub: hub, Stream: "live", Node: "edge-1", Targets: targets(t, url)})
	waitState(t, p, 0, StateUp)
	if n := readers(hub, "live", "push-http"); n != 1 {
		t.Fatalf("%d push-http readers, want 1", n)
	}

	want := tstest.Packets(0, 2000)
	write(t, pub, want, 188*50)
	tstest.SameBytes(t, "downstream stream", readStream(t, dr, len(want)), want)

	reqs, _ := down.seen()
	if len(reqs) != 1 {
		t.Fatalf("%d requests downstream, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.URL.Path != "/publish/relayed" || r.URL.Query().Get("key") != "s3cret" ||
		r.Header.Get("Tsstream-Path") != "edge-1" || len(r.TransferEncoding) != 1 || r.TransferEncoding[0] != "chunked" {
		t.Errorf("request %s %s, path header %q, transfer encoding %v; want a chunked POST to /publish/relayed?key=s3cret with Tsstream-Path edge-1",
			r.Method, r.URL, r.Header.Get("Tsstream-Path"), r.TransferEncoding)
	}
	waitSent(t, p, 0, int64(len(want)))
	st := p.Stats()[0]
	if strings.Contains(st.URL, "s3cret") || !strings.Contains(st.URL, "key=xxxxx") || st.BytesSent != int64(len(want)) {
		t.Errorf("stats %+v: want the key hidden and %d bytes sent", st, len(want))
	}
	if pst := down.hub.Get("relayed").Stats().Publisher; pst == nil || pst.Protocol != "http" || pst.BytesIn != int64(len(want)) {
		t.Errorf("downstream publisher %+v, want http with %d bytes", pst, len(want))
	}

	p.Close()
	var statuses []int
	waitFor(t, ioTimeout, func() bool {
		_, statuses = down.seen()
		return len(statuses) == 1
	}, func() string { return "the downstream publish did not end" })
	if statuses[0] != http.StatusOK {
		t.Errorf("the upload ended with %d downstream, want 200 (a clean end of the body)", statuses[0])
	}
}

// TestHTTPConflictBacksOff: a downstream stream that has a publisher
// answers 409; the pusher backs off (at least MaxBackoff/4 for a 409)
// instead of hammering it, and never becomes a reader of the stream.
func TestHTTPConflictBacksOff(t *testing.T) {
	down := newDownstream(t)
	publish(t, down.hub, "relayed") // someone else publishes there

	hub := newHub(t, stream.Options{Format: mpegts.FormatTS})
	publish(t, hub, "live")
	p := startPusher(t, Config{Hub: hub, Stream: "live", Targets: targets(t, down.srv.URL+"/publish/relayed"),
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second})
	st := waitState(t, p, 0, StateBackoff)
	if !strings.Contains(st.LastError, "409") || !strings.Contains(st.LastError, "already has a publisher") {
		t.Errorf("LastError %q, want the 409 and its reason", st.LastError)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if n := readers(hub, "live", "push-http"); n != 0 {
			t.Fatalf("%d push-http readers while refused, want 0", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	reqs, statuses := down.seen()
	if len(reqs) < 1 || len(reqs) > 5 {
		t.Errorf("%d attempts in 2s, want 1 to 5", len(reqs))
	}
	for i, s := range statuses {
		if s != http.StatusConflict {
			t.Errorf("attempt %d answered %d, want 409", i, s)
		}
	}
	st = p.Stats()[0]
	if st.State != StateBackoff && st.State != StateConnecting || st.Reconnects != 0 || st.Failures != int64(len(reqs)) {
		t.Errorf("stats %+v: want backing off, no reconnects, %d failures", st, len(reqs))
	}
}

// TestHTTPDownstreamEnds: when the downstream ends the upload (here its
// stream closes and the publish handler answers), the pusher notices
// without writing, closes its reader and backs off.
func TestHTTPDownstreamEnds(t *testing.T) {
	down := newDownstream(t)
	hub := newHub(t, stream.Options{Format: mpegts.FormatTS})
	pub := publish(t, hub, "live")
	p := startPusher(t, Config{Hub: hub, Stream: "live", Targets: targets(t, down.srv.URL+"/publish/relayed")})
	waitState(t, p, 0, StateUp)
	write(t, pub, tstest.Packets(0, 100), 188*10)
	waitFor(t, ioTimeout, func() bool { return p.Stats()[0].BytesSent == 100*188 },
		func() string { return fmt.Sprintf("stats %+v", p.Stats()[0]) })

	// Shut the downstream's stream: its publish handler answers and the
	// pusher must notice without writing anything.
	down.hub.Get("relayed").Close()
	st := waitState(t, p, 0, StateBackoff)
	if !strings.Contains(st.LastError, "the target answered") {
		t.Errorf("LastError %q, want the downstream's answer", st.LastError)
	}
	if n := readers(hub, "live", "push-http"); n != 0 {
		t.Errorf("%d push-http readers after the downstream ended, want 0", n)
	}
}

// TestHTTPIngestWithoutContinue: an HTTP ingest that never answers "100
// Continue" (a plain server reading the body) gets the body after
// expectContinueTimeout, as well-formed chunks that carry exactly the
// stream.
func TestHTTPIngestWithoutContinue(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	hub := newHub(t, stream.Options{Format: mpegts.FormatTS})
	pub := publish(t, hub, "live")
	p := startPusher(t, Config{Hub: hub, Stream: "live", Targets: targets(t, "http://"+l.Addr().String()+"/ingest/cam1")})
	c := accept(t, l, ioTimeout)
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.URL.Path != "/ingest/cam1" || req.Header.Get("Expect") != "100-continue" {
		t.Errorf("request %s %s, Expect %q", req.Method, req.URL, req.Header.Get("Expect"))
	}
	asked := time.Now()
	st := waitState(t, p, 0, StateUp)
	if d := time.Since(asked); d < expectContinueTimeout-100*time.Millisecond {
		t.Errorf("up %v after the request, want about %v (the wait for 100 Continue)", d, expectContinueTimeout)
	}
	if st.Reconnects != 0 {
		t.Errorf("stats %+v", st)
	}
	want := tstest.Packets(0, 1000)
	write(t, pub, want, 188*30)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(req.Body, got); err != nil {
		t.Fatalf("body: %v", err)
	}
	tstest.SameBytes(t, "request body", got, want)

	// Close ends the body with the last chunk: the server reads EOF.
	p.Close()
	if n, err := req.Body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after Close: read %d bytes, %v; want the end of the body", n, err)
	}
}
