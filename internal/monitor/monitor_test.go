package monitor

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time for the collector.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func node(v View, name string) *NodeView {
	for i := range v.Nodes {
		if v.Nodes[i].Name == name {
			return &v.Nodes[i]
		}
	}
	return nil
}

func post(t *testing.T, h http.Handler, remote, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, ReportPath, strings.NewReader(body))
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStatesAndRates(t *testing.T) {
	clk := newClock()
	c := &Collector{Now: clk.Now}
	rep := Report{Node: "edge", IntervalSeconds: 2,
		Streams: []Stream{{Name: "live", Live: true, Bitrate: 1000, BytesOut: 0, Viewers: map[string]int{"ws": 2, "http": 1}}},
		Links:   []Link{{Kind: "push", Stream: "live", URL: "tcp://10.0.0.2:50001", State: "up", Bytes: 1000}}}
	if rec := post(t, c, "10.0.0.1:4000", mustJSON(t, rep)); rec.Code != 200 {
		t.Fatalf("report: %d %s", rec.Code, rec.Body)
	}
	clk.Add(2 * time.Second)
	rep.Links[0].Bytes += 250_000 // 1 Mb/s over 2 s
	rep.Streams[0].BytesOut += 500_000
	post(t, c, "10.0.0.1:4000", mustJSON(t, rep))

	cases := []struct {
		after time.Duration
		state string
	}{
		{0, StateUp}, {7 * time.Second, StateUp}, {8 * time.Second, StateStale},
		{30 * time.Second, StateStale}, {31 * time.Second, StateDown}, {2 * time.Hour, ""},
	}
	start := clk.Now()
	for _, tc := range cases {
		clk.t = start.Add(tc.after)
		n := node(c.View(), "edge")
		switch {
		case tc.state == "" && n != nil:
			t.Errorf("after %v: node still listed (%s), want it forgotten", tc.after, n.State)
		case tc.state == "":
		case n == nil:
			t.Fatalf("after %v: node missing", tc.after)
		case n.State != tc.state:
			t.Errorf("after %v: state %s, want %s", tc.after, n.State, tc.state)
		}
		if tc.after == 0 {
			if n.Address != "10.0.0.1" || n.Viewers != 3 || n.BitrateIn != 1000 || n.BitrateOut != 2_000_000 {
				t.Errorf("node %+v: want address 10.0.0.1, 3 viewers, 1000 b/s in, 2 Mb/s out", n)
			}
			if len(n.Links) != 1 || n.Links[0].Bitrate != 1_000_000 {
				t.Errorf("links %+v: want one at 1 Mb/s", n.Links)
			}
		}
	}
}

func TestBadReports(t *testing.T) {
	c := &Collector{MaxNodes: 1, ValidName: func(s string) error {
		if strings.Contains(s, "/") {
			return errors.New("only A-Z a-z 0-9 _ - . are allowed")
		}
		return nil
	}}
	cases := []struct {
		name, body string
		code       int
		msg        string
	}{
		{"not JSON", "{", 400, "send the JSON"},
		{"no name", `{"version":"1"}`, 400, "every report names its node"},
		{"bad name", `{"node":"a/b"}`, 400, "only A-Z"},
		{"too big", `{"node":"a","version":"` + strings.Repeat("x", maxReportBytes) + `"}`, 413, "too large"},
		{"first", `{"node":"a"}`, 200, "recorded"},
		{"again", `{"node":"a"}`, 200, "recorded"},
		{"one too many", `{"node":"b"}`, 503, "at most 1 nodes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := post(t, c, "127.0.0.1:1", tc.body)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.msg) {
				t.Errorf("%d %s; want %d with %q", rec.Code, rec.Body, tc.code, tc.msg)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	if v := c.View(); len(v.Nodes) != 1 || v.Nodes[0].Name != "a" {
		t.Errorf("nodes %+v: want only a", v.Nodes)
	}
}

func TestEdges(t *testing.T) {
	origin := NodeView{Name: "origin", Address: "",
		Listeners: []Listener{{Role: "http", Protocol: "http", Address: "[::]:8088"}, {Role: "ingest", Protocol: "tcp", Address: "[::]:50001"}},
		Links: []LinkView{
			{Link: Link{Kind: "push", Stream: "live", URL: "tcp://127.0.0.1:9001", State: "up"}, Bitrate: 5},
			{Link: Link{Kind: "push", Stream: "cam", URL: "http://edge-b:8088/publish/cam", State: "backoff"}},
			{Link: Link{Kind: "push", Stream: "lost", URL: "tcp://192.0.2.9:1", State: "backoff"}},
		}}
	edgeA := NodeView{Name: "edge-a", Address: "127.0.0.1",
		Listeners: []Listener{{Role: "http", Protocol: "http", Address: "127.0.0.1:8090"}, {Role: "ingest", Protocol: "tcp", Address: "127.0.0.1:9001"}}}
	edgeB := NodeView{Name: "edge-b", Address: "10.1.1.2",
		Listeners: []Listener{{Role: "http", Protocol: "http", Address: "0.0.0.0:8088"}},
		Streams:   []Stream{{Name: "cam", Live: true, Path: []string{"origin"}, Bitrate: 7}, {Name: "x", Live: true, Path: []string{"elsewhere"}}}}
	leaf := NodeView{Name: "leaf", Address: "10.1.1.3",
		Links: []LinkView{{Link: Link{Kind: "pull", Stream: "live", URL: "http://10.1.1.2:8088/live/live.ts", State: "up"}, Bitrate: 9}}}
	got := edges([]NodeView{edgeA, edgeB, leaf, origin})
	want := []Edge{
		{From: "edge-b", To: "leaf", Stream: "live", Kind: "pull", URL: "http://10.1.1.2:8088/live/live.ts", State: "up", Bitrate: 9},
		{From: "origin", To: "edge-a", Stream: "live", Kind: "push", URL: "tcp://127.0.0.1:9001", State: "up", Bitrate: 5},
		{From: "origin", To: "edge-b", Stream: "cam", Kind: "push", URL: "http://edge-b:8088/publish/cam", State: "backoff"},
	}
	if mustJSON(t, got) != mustJSON(t, want) {
		t.Errorf("edges\n got %s\nwant %s", mustJSON(t, got), mustJSON(t, want))
	}
	// Without the push link, the relay path of edge-b's publisher names the parent.
	origin.Links = nil
	got = edges([]NodeView{origin, edgeB})
	want = []Edge{{From: "origin", To: "edge-b", Stream: "cam", Kind: "path", State: "up", Bitrate: 7}}
	if mustJSON(t, got) != mustJSON(t, want) {
		t.Errorf("edges\n got %s\nwant %s", mustJSON(t, got), mustJSON(t, want))
	}
}

// TestReporter posts real reports over a socket to a collector.
func TestReporter(t *testing.T) {
	c := &Collector{Self: func() Report { return Report{Node: "monitor"} }}
	srv := httptest.NewServer(c)
	defer srv.Close()
	u, err := ReportURL(srv.URL + "/")
	if err != nil || u != srv.URL+ReportPath {
		t.Fatalf("ReportURL: %q, %v", u, err)
	}
	var n sync.Mutex
	reports := 0
	r := &Reporter{URL: u, Interval: 20 * time.Millisecond, Snapshot: func() Report {
		n.Lock()
		defer n.Unlock()
		reports++
		return Report{Node: "edge", Version: "v1", Streams: []Stream{{Name: "live", Live: true}}}
	}}
	r.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := c.View()
		e := node(v, "edge")
		n.Lock()
		done := e != nil && reports >= 3
		n.Unlock()
		if done {
			if e.Version != "v1" || e.State != StateUp || len(e.Streams) != 1 || v.Monitor != "monitor" || node(v, "monitor") == nil {
				t.Fatalf("view %+v", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 3 reports within 10 s; view %+v", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Close()
	for _, bad := range []string{"ftp://x", "monitor:8088", "http://"} {
		if _, err := ReportURL(bad); err == nil {
			t.Errorf("ReportURL(%q): no error", bad)
		}
	}
}

// TestReporterToken: each report carries the token Token returns then (a
// reload may change it), as a bearer token; without one, the URL's user
// and password go as basic auth. The collector records the address its
// Client func names.
func TestReporterToken(t *testing.T) {
	c := &Collector{Client: func(*http.Request) string { return "203.0.113.5" }}
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		c.ServeHTTP(w, r)
	}))
	defer srv.Close()
	seen := func(n int) []string {
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := slices.Clone(auths)
			mu.Unlock()
			if len(got) >= n || time.Now().After(deadline) {
				return got
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var tokMu sync.Mutex
	tok := "first"
	r := &Reporter{URL: srv.URL + ReportPath, Interval: 10 * time.Millisecond,
		Snapshot: func() Report { return Report{Node: "edge"} },
		Token:    func() string { tokMu.Lock(); defer tokMu.Unlock(); return tok }}
	r.Start()
	seen(2)
	tokMu.Lock()
	tok = "second"
	tokMu.Unlock()
	got := seen(len(seen(0)) + 2)
	r.Close()
	if got[0] != "Bearer first" || got[len(got)-1] != "Bearer second" {
		t.Errorf("Authorization of the reports: %q, want Bearer first … Bearer second", got)
	}
	if e := node(c.View(), "edge"); e == nil || e.Address != "203.0.113.5" {
		t.Errorf("recorded %+v, want the address Client names", e)
	}

	mu.Lock()
	auths = nil
	mu.Unlock()
	u := strings.Replace(srv.URL, "http://", "http://admin:pw@", 1) + ReportPath
	r = &Reporter{URL: u, Interval: 10 * time.Millisecond, Snapshot: func() Report { return Report{Node: "edge"} },
		Token: func() string { return "" }}
	r.Start()
	got = seen(1)
	r.Close()
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:pw")); len(got) == 0 || got[0] != want {
		t.Errorf("Authorization with no token and a user in the URL: %q, want %q", got, want)
	}
}
