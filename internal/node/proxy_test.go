package node

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/guard"
	"github.com/tsstream/tsstream/internal/tstest"
)

// getVia sends GET url with X-Forwarded-For set to xff ("" sends none),
// as a proxy on 127.0.0.1 would, and returns the response; its body is
// closed at cleanup.
func getVia(t *testing.T, c *http.Client, url, xff string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (X-Forwarded-For %q): %v", url, xff, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// refusedBeforeMedia checks that resp is a refusal with status want whose
// body is the guard's message, not media.
func refusedBeforeMedia(t *testing.T, what string, resp *http.Response, want int, msg string) {
	t.Helper()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != want || !strings.Contains(string(body), msg) ||
		resp.Header.Get("Content-Type") == "video/mp2t" || len(body) > 0 && body[0] == 0x47 {
		t.Errorf("%s: %s %q (Content-Type %q), want %d with %q and no media",
			what, resp.Status, body, resp.Header.Get("Content-Type"), want, msg)
	}
}

// wsVia dials a WebSocket viewer with X-Forwarded-For xff and returns the
// handshake's status (101 when it plays; the viewer is then returned).
func wsVia(t *testing.T, url, xff string) (int, *wsViewer) {
	t.Helper()
	h := http.Header{}
	if xff != "" {
		h.Set("X-Forwarded-For", xff)
	}
	conn, resp, err := (&websocket.Dialer{HandshakeTimeout: ioTimeout}).Dial(url, h)
	if err != nil {
		if resp == nil {
			t.Fatalf("%s: %v", url, err)
		}
		return resp.StatusCode, nil
	}
	t.Cleanup(func() { conn.Close() })
	return resp.StatusCode, &wsViewer{conn: conn, ts: true}
}

// proxiedConfig is a node behind a proxy on 127.0.0.1 whose viewers must
// come from 203.0.113.0/24, whose HTTP publishers from 203.0.113.0/24
// without a key, and whose stream "paid" needs a token; a client holds at
// most 2 connections, loopback counted too. Untrusted, the proxy is only
// 127.0.0.1 and keeps the default limits (loopback exempt): the test's
// earlier viewers still hold connections, and what it checks then is that
// the header is ignored.
func proxiedConfig(secret string, trusted bool) *config.Config {
	cfg := testConfig("live")
	cfg.Play = cfg.Play[:1]
	if trusted {
		cfg.TrustedProxies = []string{"127.0.0.1/32"}
		cfg.Limits.ConnsPerIP = 2
		cfg.Limits.ConnsPerIPExempt = []string{}
	}
	cfg.Auth.PlayAllow = []string{"203.0.113.0/24"}
	cfg.Auth.PublishAllow = []string{"203.0.113.0/24"}
	cfg.Auth.TokenSecret = secret
	cfg.Streams["paid"] = config.StreamOptions{PlayToken: config.On}
	return cfg
}

// TestTrustedProxies: with trusted_proxies 127.0.0.1/32, the client an
// HTTP request from 127.0.0.1 forwards in X-Forwarded-For is what the play
// allow-list, the token's address, the HTTP publish allow-list,
// conns_per_ip, the log and the API see; a client's own entries on the
// left spoof nothing; without trusted_proxies (after a reload) the header
// counts for nothing, and trusting again needs no restart either.
func TestTrustedProxies(t *testing.T) {
	const secret = "0123456789abcdef0123"
	n, lines := startNodeLog(t, proxiedConfig(secret, true))
	base := addr(t, n, "http", "http", "")
	c := httpClient(t)
	g := n.Guard()

	// The play allow-list sees the forwarded client.
	before := g.Refused(guard.PlaySource)
	for _, xff := range []string{"198.51.100.1", "", "203.0.113.7, 198.51.100.1"} {
		refusedBeforeMedia(t, "HTTP-TS forwarded for "+xff, getVia(t, c, httpURL(base, "/live/live.ts"), xff),
			http.StatusForbidden, "is not allowed")
		if status, _ := wsVia(t, wsURL(base, "/ws/live"), xff); status != http.StatusForbidden {
			t.Errorf("WebSocket forwarded for %q: %d, want 403", xff, status)
		}
	}
	if got := g.Refused(guard.PlaySource) - before; got != 6 {
		t.Errorf("%d play_source refusals counted, want 6", got)
	}
	if st := stats(t, n, "live"); len(st.Readers) != 0 {
		t.Fatalf("refused viewers became readers: %v", st.Readers)
	}
	if lines.count("remote=\"198.51.100.1 (proxy 127.0.0.1)\"") != 1 {
		t.Errorf("the refusal's log line does not name the forwarded client and its proxy once:\n%s", lines.buf.String())
	}

	// A viewer forwarded for 203.0.113.7 plays, on HTTP-TS and WebSocket,
	// even with a forbidden address prepended.
	resp := getVia(t, c, httpURL(base, "/live/live.ts"), "198.51.100.1, 203.0.113.7")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP-TS forwarded for 203.0.113.7: %s", resp.Status)
	}
	status, ws := wsVia(t, wsURL(base, "/ws/live"), "203.0.113.8")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket forwarded for 203.0.113.8: %d", status)
	}
	waitViewers(t, n, "live", map[string]int{"http": 1, "ws": 1})
	want := tstest.Packets(0, 300)
	dialTCP(t, addr(t, n, "ingest", "tcp", "live")).Write(want)
	got, errs := readAll([]viewer{resp.Body, ws}, len(want))
	for i, err := range errs {
		if err != nil {
			t.Fatalf("viewer %d: %v", i, err)
		}
		tstest.SameBytes(t, fmt.Sprintf("proxied viewer %d", i), got[i], want)
	}

	// conns_per_ip counts forwarded viewers by client (203.0.113.7 has one
	// now), not the proxy's connections (four already).
	second := getVia(t, c, httpURL(base, "/live/live.ts"), "203.0.113.7")
	if second.StatusCode != http.StatusOK {
		t.Fatalf("second viewer of 203.0.113.7: %s", second.Status)
	}
	refusedBeforeMedia(t, "third viewer of 203.0.113.7", getVia(t, c, httpURL(base, "/live/live.ts"), "203.0.113.7"),
		http.StatusTooManyRequests, "conns_per_ip")
	if st := getVia(t, c, httpURL(base, "/live/live.ts"), "203.0.113.9"); st.StatusCode != http.StatusOK {
		t.Errorf("another client through the same proxy: %s", st.Status)
	}
	if g.Refused(guard.ConnsPerIP) != 1 {
		t.Errorf("%d conns_per_ip refusals, want 1", g.Refused(guard.ConnsPerIP))
	}
	second.Body.Close()

	// A token bound to 203.0.113.7 plays only forwarded for 203.0.113.7.
	bound := guard.SignToken([]byte(secret), "paid", time.Now().Add(time.Hour), netip.MustParseAddr("203.0.113.20"))
	before = g.Refused(guard.TokenInvalid)
	for _, xff := range []string{"203.0.113.21", "203.0.113.20, 203.0.113.21"} {
		refusedBeforeMedia(t, "bound token forwarded for "+xff, getVia(t, c, httpURL(base, "/live/paid.ts?token="+bound), xff),
			http.StatusForbidden, "not valid")
		if status, _ := wsVia(t, wsURL(base, "/ws/paid?token="+bound), xff); status != http.StatusForbidden {
			t.Errorf("WebSocket, bound token forwarded for %q: %d, want 403", xff, status)
		}
	}
	if got := g.Refused(guard.TokenInvalid) - before; got != 4 {
		t.Errorf("%d token_invalid refusals, want 4", got)
	}
	if r := getVia(t, c, httpURL(base, "/live/paid.ts?token="+bound), "203.0.113.20"); r.StatusCode != http.StatusOK {
		t.Errorf("bound token forwarded for its address: %s", r.Status)
	}
	if status, _ := wsVia(t, wsURL(base, "/ws/paid?token="+bound), "198.51.100.3, 203.0.113.20"); status != http.StatusSwitchingProtocols {
		t.Errorf("WebSocket, bound token forwarded for its address: %d", status)
	}

	// HTTP publish: the allow-list sees the forwarded client, and the API
	// names it with its proxy.
	publish := func(xff string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, httpURL(base, "/publish/cam"), strings.NewReader(string(tstest.Packets(0, 50))))
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, xff := range []string{"", "198.51.100.1", "203.0.113.5, 198.51.100.1"} {
		if status, body := publish(xff); status != http.StatusForbidden || !strings.Contains(body, "auth.publish_key") {
			t.Errorf("publish forwarded for %q: %d %q, want 403", xff, status, body)
		}
	}
	if s := n.Hub().Get("cam"); s != nil && s.Stats().BytesIn != 0 {
		t.Fatalf("refused publishers put %d bytes in", s.Stats().BytesIn)
	}
	pr, pw := io.Pipe()
	preq, _ := http.NewRequest(http.MethodPost, httpURL(base, "/publish/cam"), pr)
	preq.Header.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.5")
	done := make(chan int, 1)
	go func() {
		resp, err := c.Do(preq)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write(tstest.Packets(0, 50))
	waitFor(t, ioTimeout, func() bool { s := n.Hub().Get("cam"); return s != nil && s.Stats().BytesIn > 0 },
		func() string { return "the publisher forwarded for 203.0.113.5 put nothing in" })
	var entry struct {
		Publisher struct{ Remote string } `json:"publisher"`
	}
	if status, body := httpGet(t, c, httpURL(base, "/api/v1/streams/cam")); status != http.StatusOK ||
		json.Unmarshal([]byte(body), &entry) != nil || !strings.HasPrefix(entry.Publisher.Remote, "203.0.113.5 (proxy 127.0.0.1:") {
		t.Errorf("the API names the forwarded publisher %q, want 203.0.113.5 with its proxy (%d %s)", entry.Publisher.Remote, status, body)
	}
	pw.Close()
	if status := <-done; status != http.StatusOK {
		t.Errorf("publish forwarded for 203.0.113.5 ended with %d, want 200", status)
	}

	// Without trusted_proxies the header is ignored: every request is
	// 127.0.0.1's, outside the allow-lists.
	if _, err := n.Reload(proxiedConfig(secret, false)); err != nil {
		t.Fatal(err)
	}
	refusedBeforeMedia(t, "forwarded for 203.0.113.7, proxy not trusted", getVia(t, c, httpURL(base, "/live/live.ts"), "203.0.113.7"),
		http.StatusForbidden, "playing from 127.0.0.1")
	if status, _ := wsVia(t, wsURL(base, "/ws/live"), "203.0.113.7"); status != http.StatusForbidden {
		t.Errorf("WebSocket forwarded for 203.0.113.7, proxy not trusted: %d, want 403", status)
	}
	if r := getVia(t, c, httpURL(base, "/live/paid.ts?token="+bound), "203.0.113.20"); r.StatusCode != http.StatusForbidden {
		t.Errorf("bound token, proxy not trusted: %s", r.Status)
	}
	if status, body := publish("203.0.113.5"); status != http.StatusForbidden || !strings.Contains(body, "from 127.0.0.1") {
		t.Errorf("publish forwarded for 203.0.113.5, proxy not trusted: %d %q", status, body)
	}
	if lines.count("not in trusted_proxies") != 1 {
		t.Errorf("want one log line about a forwarding header from loopback being ignored:\n%s", lines.buf.String())
	}
	if _, err := n.Reload(proxiedConfig(secret, true)); err != nil {
		t.Fatal(err)
	}
	if r := getVia(t, c, httpURL(base, "/live/live.ts"), "203.0.113.30"); r.StatusCode != http.StatusOK {
		t.Errorf("trusted again after a reload: %s", r.Status)
	}
}
