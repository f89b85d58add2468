package httpserver

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/guard"
	"github.com/tsstream/tsstream/internal/stream"
)

// FuzzRoutes sends arbitrary requests (method, target, headers, body) from
// a remote and a loopback address to the routes of a guarded server, and
// checks what must hold for any input: no panic; a 2xx on a path that is
// not open to all (viewers may read their stream's API entry) only with the
// API token; a publish accepted only with
// the key; a stream played that needs a token only with one; and the hub
// holding only valid names, no more streams than its limit. Seeds beyond
// these are committed under testdata/fuzz/FuzzRoutes.
func FuzzRoutes(f *testing.F) {
	for _, s := range [][3]string{
		{"GET", "/api/v1/streams", "Authorization: Bearer api-t\r\n"},
		{"GET", "/api/v1/streams/live", ""},
		{"POST", "/publish/cam?key=k3y", "Content-Length: 4\r\n"},
		{"PUT", "/publish/..%2Fetc?key=k3y", ""},
		{"POST", "/publish/cam?key=k3y&key=x", ""},
		{"GET", "/live/paid.ts?token=1.2.3", ""},
		{"GET", "/ws/paid?token=", "Upgrade: websocket\r\nConnection: upgrade\r\n"},
		{"POST", "/api/v1/reload", "Authorization: Basic YTpi\r\n"},
		{"GET", "/metrics", "Authorization: Bearer api-t \r\n"},
		{"GET", "/%2e%2e/api/v1/node", ""},
		{"GET", "/healthz/../api/v1/node", ""},
		{"GET", "/play/%E2%80%AE", ""},
		{"GET", "/assets/../metrics", ""},
	} {
		f.Add(s[0], s[1], s[2], []byte("\x47abc"), false)
		f.Add(s[0], s[1], s[2], []byte{}, true)
	}
	hub := stream.NewHub(stream.Config{Static: []string{"live", "paid"}, ValidName: config.ValidStreamName})
	f.Cleanup(hub.Close)
	const maxStreams = 20
	g := guard.New(guard.Config{Policy: &guard.Policy{
		PublishKey: "k3y", TokenSecret: []byte("0123456789abcdef"), APIToken: "api-t", MaxStreams: maxStreams,
		Publish: guard.ACL{Allow: guard.MustCIDRs(guard.Loopback)},
		Stream:  func(name string) guard.StreamPolicy { return guard.StreamPolicy{Token: name == "paid"} },
	}, Streams: func(name string) (bool, int) { return hub.Get(name) != nil, hub.Len() }})
	h := (&Server{Hub: hub, Guard: g, Reload: func() (Reloaded, error) { return Reloaded{}, nil }}).Handler()
	f.Fuzz(func(t *testing.T, method, target, header string, body []byte, loopback bool) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: tsstream.test\r\n" + header + "\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		req.Body = http.NoBody
		if len(body) > 0 {
			req.Body, req.ContentLength = readCloser{bytes.NewReader(body)}, int64(len(body))
		}
		req.RemoteAddr = "192.0.2.1:4000"
		if loopback {
			req.RemoteAddr = "127.0.0.1:4000"
		}
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(w, req)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%q did not finish", raw)
		}
		ok := w.Code >= 200 && w.Code < 300
		path := req.URL.Path
		switch {
		case ok && !hasOpenPrefix(path) && req.Header.Get("Authorization") != "Bearer api-t" &&
			!strings.HasPrefix(path, "/api/v1/streams/"): // a stream's entry is open to its viewers
			t.Errorf("%q: %d without the API token", raw, w.Code)
		case ok && strings.HasPrefix(path, "/publish/") && req.URL.Query().Get("key") != "k3y":
			t.Errorf("%q: publish accepted without the key", raw)
		}
		if strings.Contains(path, "paid") && ok && req.URL.Query().Get("token") == "" {
			t.Errorf("%q: %d for a token stream without a token", raw, w.Code)
		}
		streams := hub.Streams()
		if len(streams) > maxStreams+1 {
			t.Errorf("%d streams, limit %d", len(streams), maxStreams)
		}
		for _, s := range streams {
			if err := config.ValidStreamName(s.Name()); err != nil {
				t.Errorf("stream %q in the hub: %v", s.Name(), err)
			}
		}
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
