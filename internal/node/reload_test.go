package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/httpserver"
	"github.com/tsstream/tsstream/internal/tstest"
)

// TestReloadRelayLinks: node A pushes stream "out" to B and pulls stream
// "in" from C. A reload that moves the push to another target of B stops
// the old one (it gets no byte more) and starts the new one, while A's
// viewer of "in" reads on byte for byte on the same connection, over the
// same pull. A reload with an invalid push URL is refused whole.
func TestReloadRelayLinks(t *testing.T) {
	raw := config.StreamOptions{Format: config.FormatRaw}
	cfgB := testConfig("first")
	cfgB.Name, cfgB.Play = "B", nil
	cfgB.Ingest = []config.Ingest{{Listen: anyPort, Stream: "first", Protocols: []string{"tcp"}},
		{Listen: anyPort, Stream: "second", Protocols: []string{"tcp"}}}
	cfgB.Streams["first"], cfgB.Streams["second"] = raw, raw
	b := startNode(t, cfgB)
	cfgC := testConfig("in")
	cfgC.Name, cfgC.Streams["in"] = "C", raw
	c := startNode(t, cfgC)

	configA := func(pushTo string) *config.Config {
		cfg := testConfig("out")
		cfg.Name = "A"
		out, in := raw, raw
		out.Push = []string{pushTo}
		in.Pull = []string{"http://" + addr(t, c, "http", "http", "") + "/live/in.ts"}
		cfg.Streams["out"], cfg.Streams["in"] = out, in
		return cfg
	}
	first := "tcp://" + addr(t, b, "ingest", "tcp", "first")
	second := "tcp://" + addr(t, b, "ingest", "tcp", "second")
	a := startNode(t, configA(first))

	linkUp := func(kind, url string) func() bool {
		return func() bool {
			for _, l := range a.links() {
				if l.Kind == kind && l.State == "up" && (url == "" || l.URL == url) {
					return true
				}
			}
			return false
		}
	}
	describe := func() string { return fmt.Sprintf("A's links %+v", a.links()) }
	waitFor(t, ioTimeout, linkUp("pull", ""), describe)
	waitViewers(t, c, "in", map[string]int{"http": 1}) // A's pull
	viewIn := dialWS(t, wsURL(addr(t, a, "http", "http", ""), "/ws/in"), false)
	waitViewers(t, a, "in", map[string]int{"ws": 1})
	viewFirst := dialWS(t, wsURL(addr(t, b, "http", "http", ""), "/ws/first"), false)
	viewSecond := dialWS(t, wsURL(addr(t, b, "http", "http", ""), "/ws/second"), false)
	waitViewers(t, b, "second", map[string]int{"ws": 1})
	pubOut := dialTCP(t, addr(t, a, "ingest", "tcp", "out"))
	pubIn := dialTCP(t, addr(t, c, "ingest", "tcp", "in"))
	waitFor(t, ioTimeout, linkUp("push", first), describe)

	out1 := bytes.Repeat([]byte("out, before the reload\n"), 20000)
	in1 := bytes.Repeat([]byte("in, before the reload\n"), 20000)
	writeInPieces(t, pubOut, out1)
	writeInPieces(t, pubIn, in1)
	for what, v := range map[string]struct {
		view viewer
		want []byte
	}{"B's first": {viewFirst, out1}, "A's in": {viewIn, in1}} {
		got, err := readN(v.view, len(v.want))
		if err != nil {
			t.Fatalf("viewer of %s: %v", what, err)
		}
		tstest.SameBytes(t, "viewer of "+what, got, v.want)
	}
	a.mu.Lock()
	pullBefore := a.relays[0].pull
	a.mu.Unlock()

	res, err := a.Reload(configA(second))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"push out to " + second}; !slices.Equal(res.Started, want) {
		t.Errorf("started %q, want %q", res.Started, want)
	}
	if want := []string{"push out to " + first}; !slices.Equal(res.Stopped, want) {
		t.Errorf("stopped %q, want %q", res.Stopped, want)
	}
	if len(res.NeedsRestart) != 0 {
		t.Errorf("needs restart %q, want nothing", res.NeedsRestart)
	}
	waitFor(t, ioTimeout, linkUp("push", second), describe)
	waitFor(t, ioTimeout, func() bool { return stats(t, b, "first").Publisher == nil },
		func() string { return fmt.Sprintf("B's first still has publisher %+v", stats(t, b, "first").Publisher) })

	out2 := bytes.Repeat([]byte("out, after the reload\n"), 20000)
	in2 := bytes.Repeat([]byte("in, after the reload\n"), 20000)
	writeInPieces(t, pubOut, out2)
	writeInPieces(t, pubIn, in2)
	got, err := readN(viewSecond, len(out2))
	if err != nil {
		t.Fatalf("viewer of B's second: %v", err)
	}
	tstest.SameBytes(t, "viewer of B's second", got, out2)
	if got, err = readN(viewIn, len(in2)); err != nil {
		t.Fatalf("viewer of A's in, after the reload: %v", err)
	}
	tstest.SameBytes(t, "viewer of A's in, after the reload", got, in2)
	if st := stats(t, b, "first"); st.BytesIn != int64(len(out1)) {
		t.Errorf("B's first took in %d bytes, want %d: the old target kept receiving", st.BytesIn, len(out1))
	}
	a.mu.Lock()
	pullAfter := a.relays[0].pull
	a.mu.Unlock()
	if pullAfter != pullBefore {
		t.Error("the pull of in was replaced, though the reload did not change it")
	}
	if st := stats(t, a, "in"); st.Publishes != 1 {
		t.Errorf("A's in had %d publishers, want 1: the pull reconnected", st.Publishes)
	}

	bad := configA("ftp://" + addr(t, b, "ingest", "tcp", "first"))
	bad.Auth.PublishKey = "never-applied"
	if _, err := a.Reload(bad); err == nil || !strings.Contains(err.Error(), "streams.out.push[0]") {
		t.Fatalf("reload of an invalid config: %v, want an error naming streams.out.push[0]", err)
	}
	if a.Config().Auth.PublishKey != "" || a.Guard().Policy().PublishKey != "" {
		t.Error("a refused reload changed the configuration in force")
	}
	if links := a.links(); len(links) != 2 || !linkUp("push", second)() {
		t.Errorf("after a refused reload A's links are %+v, want the pull and the push to second", links)
	}
}

// TestReloadStreamsAndRestarts: a reload declares a new stream (it exists
// at once), drops an idle one (gone), starts the pull of a new stream,
// takes new pulls rules and says, in POST /api/v1/reload's answer, exactly which changed settings
// need a restart.
func TestReloadStreamsAndRestarts(t *testing.T) {
	raw := config.StreamOptions{Format: config.FormatRaw}
	cfgUp := testConfig("cam")
	cfgUp.Name = "up"
	up := startNode(t, cfgUp)
	cfg := testConfig("live")
	cfg.Streams["dropped"] = raw
	n := New(cfg, nil, "test")
	var next *config.Config
	n.SetReloader(func() (*config.Config, error) { return next, nil })
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	next = testConfig("live")
	next.HTTP.ReadHeaderTimeout = config.Duration(3e9)
	next.Ingest[0].Listen = "127.0.0.1:1"
	next.Ingest[0].Allow = []string{"10.0.0.0/8"} // applies
	next.Play = next.Play[:1]
	pulled := raw
	pulled.Pull = []string{"http://" + addr(t, up, "http", "http", "") + "/live/cam.ts"}
	next.Streams["added"] = pulled
	next.Streams["live"] = config.StreamOptions{RingBytes: 16 * config.MiB}
	next.Pulls = []config.Pull{{Stream: "edge-*", From: []string{"http://127.0.0.1:1/live/{stream}.ts"}}}

	resp, err := httpClient(t).Post(httpURL(addr(t, n, "http", "http", ""), "/api/v1/reload"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res httpserver.Reloaded
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
		t.Fatalf("reload: %s, %v", resp.Status, err)
	}
	wantRestart := []string{"http.read_header_timeout", "ingest[0].listen", "play[1]", "streams.live.ring_bytes"}
	if !slices.Equal(res.NeedsRestart, wantRestart) {
		t.Errorf("needs restart %q, want %q", res.NeedsRestart, wantRestart)
	}
	if want := []string{"pull added from " + pulled.Pull[0]}; !slices.Equal(res.Started, want) || len(res.Stopped) != 0 {
		t.Errorf("started %q, stopped %q; want %q and nothing", res.Started, res.Stopped, want)
	}
	if n.Hub().Get("dropped") != nil {
		t.Error("the idle stream no longer declared is still there")
	}
	if s := n.Hub().Get("added"); s == nil || !s.Static() {
		t.Errorf("the new stream is %v, want it declared", s)
	}
	waitViewers(t, up, "cam", map[string]int{"http": 1}) // the new pull
	if n.demand.Rule("edge-1") == nil || n.demand.Rule("added") != nil {
		t.Error("the on-demand pulls do not follow the new pulls rules")
	}
}
