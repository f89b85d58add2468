package node

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/guard"
	"github.com/tsstream/tsstream/internal/tstest"
)

// lineLog collects a node's log lines for tests that count them.
type lineLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lineLog) count(word string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), word)
}

// startNodeLog is startNode with the log (warnings up) kept in lines.
func startNodeLog(t *testing.T, cfg *config.Config) (*Node, *lineLog) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	lines := &lineLog{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(lines, t.Output()), &slog.HandlerOptions{Level: slog.LevelWarn}))
	n := New(cfg, log, "test")
	if err := n.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { n.Shutdown(t.Context()) })
	return n, lines
}

// post publishes body to url in one request and returns the status and
// the response body.
func post(t *testing.T, c *http.Client, url string, body []byte) (int, string) {
	t.Helper()
	resp, err := c.Post(url, "video/mp2t", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPublishKeys: HTTP publishing with a missing or wrong key is refused
// with 401 or 403 and not one of its bytes reaches a viewer; the stream's
// own key and the global key both open it.
func TestPublishKeys(t *testing.T) {
	cfg := testConfig("live")
	cfg.Auth.PublishKey = "global-key"
	cfg.Streams["own"] = config.StreamOptions{PublishKey: "own-key"}
	n := startNode(t, cfg)
	base := addr(t, n, "http", "http", "")
	c := httpClient(t)
	view := dialWS(t, wsURL(base, "/ws/own"), true)
	waitViewers(t, n, "own", map[string]int{"ws": 1})

	bad := tstest.Packets(900000, 100)
	for _, tt := range []struct {
		query  string
		status int
		reason guard.Reason
	}{
		{"", http.StatusUnauthorized, guard.PublishKeyMissing},
		{"?key=", http.StatusUnauthorized, guard.PublishKeyMissing},
		{"?key=wrong", http.StatusForbidden, guard.PublishKeyWrong},
		{"?key=own-ke", http.StatusForbidden, guard.PublishKeyWrong},
		{"?key=own-key%00", http.StatusForbidden, guard.PublishKeyWrong},
	} {
		before := n.Guard().Refused(tt.reason)
		if status, body := post(t, c, httpURL(base, "/publish/own"+tt.query), bad); status != tt.status {
			t.Errorf("key %q: %d %q, want %d", tt.query, status, body, tt.status)
		}
		if got := n.Guard().Refused(tt.reason) - before; got != 1 {
			t.Errorf("key %q: %v counted %d times, want 1", tt.query, tt.reason, got)
		}
	}
	if st := stats(t, n, "own"); st.Publishes != 0 || st.BytesIn != 0 {
		t.Fatalf("after refused publishers: %d publishes, %d bytes in", st.Publishes, st.BytesIn)
	}
	want := tstest.Packets(0, 200)
	if status, body := post(t, c, httpURL(base, "/publish/own?key=own-key"), want[:100*188]); status != http.StatusOK {
		t.Fatalf("own key: %d %s", status, body)
	}
	if status, body := post(t, c, httpURL(base, "/publish/own?key=global-key"), want[100*188:]); status != http.StatusOK {
		t.Fatalf("global key: %d %s", status, body)
	}
	got, err := readN(view, len(want))
	if err != nil {
		t.Fatal(err)
	}
	tstest.SameBytes(t, "viewer of the keyed stream", got, want)
	_, body := httpGet(t, c, httpURL(base, "/metrics"))
	for _, line := range []string{`tsstream_refused_total{reason="publish_key_missing"} 2`, `tsstream_refused_total{reason="publish_key_wrong"} 3`} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

// TestPublishWithoutKeyFromAfar: with no key configured, only the publish
// allow-list may publish over HTTP; others learn how to set a key.
func TestPublishWithoutKeyFromAfar(t *testing.T) {
	cfg := testConfig("live")
	cfg.Auth.PublishAllow = []string{"127.0.0.2"} // the test publishes from 127.0.0.1: "afar"
	n := startNode(t, cfg)
	base := addr(t, n, "http", "http", "")
	status, body := post(t, httpClient(t), httpURL(base, "/publish/cam"), tstest.Packets(0, 10))
	if status != http.StatusForbidden || !strings.Contains(body, "auth.publish_key") || !strings.Contains(body, "?key=") {
		t.Errorf("publish from outside the allow-list: %d %q, want 403 saying how to set a key", status, body)
	}
	if s := n.Hub().Get("cam"); s != nil && s.Stats().BytesIn != 0 {
		t.Errorf("%d bytes entered", s.Stats().BytesIn)
	}
}

// TestIngestAllowList: TCP and UDP ingest take only sources in the
// listener's allow-list; each refused source is logged once however often
// it tries, and a reload that allows it lets it publish without a restart.
func TestIngestAllowList(t *testing.T) {
	cfg := testConfig("live")
	cfg.Ingest[0].Allow = []string{"127.0.0.2"}
	n, lines := startNodeLog(t, cfg)
	tcpAddr, udpAddr := addr(t, n, "ingest", "tcp", "live"), addr(t, n, "ingest", "udp", "live")
	for range 3 {
		c := dialTCP(t, tcpAddr)
		c.Write(tstest.Packets(0, 100))
		expectClosedByServer(t, "refused tcp publisher", c, ioTimeout)
	}
	u, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for i := range 500 {
		u.Write(tstest.Packets(i*7, 7))
	}
	// Wait until the ingest has drained its socket, or a datagram still
	// queued there would be taken after the reload below and hold the
	// stream as a UDP publisher.
	last, same := int64(-1), 0
	waitFor(t, ioTimeout, func() bool {
		got := n.Guard().Refused(guard.IngestSource)
		if got == last {
			same++
		} else {
			last, same = got, 0
		}
		return got >= 3+400 && same >= 20 // unchanged for 100 ms
	}, func() string { return fmt.Sprintf("%d refusals counted", n.Guard().Refused(guard.IngestSource)) })
	if st := stats(t, n, "live"); st.BytesIn != 0 || st.Publishes != 0 {
		t.Fatalf("refused sources published %d bytes (%d publishes)", st.BytesIn, st.Publishes)
	}
	if got := lines.count("ingest source refused"); got != 2 {
		t.Errorf("%d log lines about refused sources, want 2 (one for tcp, one for udp):\n%s", got, lines.buf.String())
	}
	if !strings.Contains(lines.buf.String(), "ingest[0].allow") {
		t.Errorf("the log does not name the setting that opens the listener:\n%s", lines.buf.String())
	}

	next := testConfig("live")
	next.Ingest = cfg.Ingest
	next.Ingest[0].Allow = []string{"127.0.0.0/8"}
	if _, err := n.Reload(next); err != nil {
		t.Fatal(err)
	}
	view := dialWS(t, wsURL(addr(t, n, "play", "ws", "live"), "/"), true)
	waitViewers(t, n, "live", map[string]int{"ws": 1})
	want := tstest.Packets(0, 500)
	c := dialTCP(t, tcpAddr)
	c.Write(want)
	got, err := readN(view, len(want))
	if err != nil {
		t.Fatal(err)
	}
	tstest.SameBytes(t, "viewer after the reload", got, want)
}

// TestPlayTokens: a stream with play_token on plays on every URL only with
// a valid token; the refusals come before the handshake, so no media byte
// is sent.
func TestPlayTokens(t *testing.T) {
	const secret = "0123456789abcdef0123"
	cfg := testConfig("paid")
	cfg.Play = cfg.Play[:1] // raw TCP play cannot carry a token
	cfg.Auth.TokenSecret = secret
	cfg.Streams["paid"] = config.StreamOptions{PlayToken: config.On}
	n := startNode(t, cfg)
	base, anyPath := addr(t, n, "http", "http", ""), addr(t, n, "play", "ws", "paid")
	now := time.Now()
	good := guard.SignToken([]byte(secret), "paid", now.Add(time.Hour), netip.Addr{})
	mine := guard.SignToken([]byte(secret), "paid", now.Add(time.Hour), netip.MustParseAddr("127.0.0.1"))
	tokens := map[string]struct {
		token  string
		status int
	}{
		"missing":     {"", http.StatusUnauthorized},
		"expired":     {guard.SignToken([]byte(secret), "paid", now.Add(-time.Second), netip.Addr{}), http.StatusForbidden},
		"for another": {guard.SignToken([]byte(secret), "free", now.Add(time.Hour), netip.Addr{}), http.StatusForbidden},
		"other ip":    {guard.SignToken([]byte(secret), "paid", now.Add(time.Hour), netip.MustParseAddr("127.0.0.9")), http.StatusForbidden},
		"forged":      {good[:len(good)-2] + "AA", http.StatusForbidden},
	}
	urls := []struct{ name, url string }{
		{"ws", wsURL(base, "/ws/paid")},
		{"ws on /live", wsURL(base, "/live/paid.ts")},
		{"any-path ws", wsURL(anyPath, "/some/path")},
		{"http-ts", httpURL(base, "/live/paid.ts")},
	}
	c := httpClient(t)
	for _, u := range urls {
		for name, tk := range tokens {
			url := u.url + "?token=" + tk.token
			var status int
			if strings.HasPrefix(url, "ws:") {
				conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
				if err == nil {
					conn.Close()
				}
				if resp != nil {
					status = resp.StatusCode
				}
			} else {
				status, _ = httpGet(t, c, url)
			}
			if status != tk.status {
				t.Errorf("%s, token %s: status %d, want %d", u.name, name, status, tk.status)
			}
		}
	}
	if st := stats(t, n, "paid"); len(st.Readers) != 0 {
		t.Fatalf("refused viewers became readers: %v", st.Readers)
	}
	views := []viewer{
		dialWS(t, wsURL(base, "/ws/paid?token="+good), true),
		dialWS(t, wsURL(anyPath, "/x?token="+mine), true),
		dialHTTPTS(t, c, httpURL(base, "/live/paid.ts?token="+good), "video/mp2t"),
	}
	waitViewers(t, n, "paid", map[string]int{"ws": 2, "http": 1})
	want := tstest.Packets(0, 300)
	pub := dialTCP(t, addr(t, n, "ingest", "tcp", "paid"))
	pub.Write(want)
	got, errs := readAll(views, len(want))
	for i := range views {
		if errs[i] != nil {
			t.Fatalf("viewer %d: %v", i, errs[i])
		}
		tstest.SameBytes(t, fmt.Sprintf("viewer %d", i), got[i], want)
	}
}

// TestPushWithKey: a relay link to a keyed node carries ?key= in its push
// URL; a push with a wrong key is refused and nothing of it enters.
func TestPushWithKey(t *testing.T) {
	raw := config.StreamOptions{Format: config.FormatRaw}
	cfgB := testConfig("relay")
	cfgB.Name, cfgB.Auth.PublishKey = "B", "relay-key"
	cfgB.Streams["relay"], cfgB.Streams["stolen"] = raw, raw
	b := startNode(t, cfgB)
	bHTTP := addr(t, b, "http", "http", "")

	cfgA := testConfig("relay")
	cfgA.Name = "A"
	cfgA.Ingest = append(cfgA.Ingest, config.Ingest{Listen: anyPort, Stream: "stolen", Protocols: []string{"tcp"}})
	good, bad := raw, raw
	good.Push = []string{"http://" + bHTTP + "/publish/relay?key=relay-key"}
	bad.Push = []string{"http://" + bHTTP + "/publish/stolen?key=guess"}
	cfgA.Streams["relay"], cfgA.Streams["stolen"] = good, bad
	a := startNode(t, cfgA)

	view := dialWS(t, wsURL(bHTTP, "/ws/relay"), false)
	waitViewers(t, b, "relay", map[string]int{"ws": 1})
	want := bytes.Repeat([]byte("keyed relay\n"), 20000)
	pub := dialTCP(t, addr(t, a, "ingest", "tcp", "relay"))
	waitFor(t, ioTimeout, func() bool {
		for _, l := range a.links() {
			if l.Stream == "relay" && l.State == "up" {
				return true
			}
		}
		return false
	},
		func() string { return fmt.Sprintf("links %+v", a.links()) })
	writeInPieces(t, pub, want)
	thief := dialTCP(t, addr(t, a, "ingest", "tcp", "stolen"))
	writeInPieces(t, thief, want)
	got, err := readN(view, len(want))
	if err != nil {
		t.Fatalf("%v: links %+v, stats B %+v", err, a.links(), stats(t, b, "relay"))
	}
	tstest.SameBytes(t, "viewer of the keyed push", got, want)
	waitFor(t, ioTimeout, func() bool { return b.Guard().Refused(guard.PublishKeyWrong) >= 1 },
		func() string { return "the wrong key was not refused" })
	if st := stats(t, b, "stolen"); st.BytesIn != 0 || st.Publishes != 0 {
		t.Errorf("a push with a wrong key put %d bytes in", st.BytesIn)
	}
}
