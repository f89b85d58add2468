package httpserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/stream"
)

// TestAPIErrorsAreJSON checks that every error under /api/ is a JSON object
// with a message, whatever the route or method.
func TestAPIErrorsAreJSON(t *testing.T) {
	hub := stream.NewHub(stream.Config{Static: []string{"live"}})
	defer hub.Close()
	h := (&Server{Hub: hub}).Handler()
	cases := []struct {
		method, target string
		code           int
		message        string
	}{
		{"GET", "/api/v1/streams/nope", 404, `no stream "nope"`},
		{"GET", "/api/v1/nothing", 404, "no API route GET /api/v1/nothing"},
		{"POST", "/api/v1/streams", 404, "no API route POST /api/v1/streams"},
		{"GET", "/api/v2/streams", 404, "see docs/api.md"},
		{"GET", "/api/v1/cluster", 404, "no API route"}, // no monitor configured
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.target, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(c.method, c.target, nil))
			if rec.Code != c.code {
				t.Fatalf("status %d, want %d; body %s", rec.Code, c.code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var body struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || !strings.Contains(body.Error, c.message) {
				t.Errorf("body %s (%v): want an error containing %q", rec.Body, err, c.message)
			}
		})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/streams/live", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("GET /api/v1/streams/live: %d, want 200", rec.Code)
	}
}

// TestBitrateHistory: the API's bitrate_history averages the published
// bytes over 5 s steps, oldest first.
func TestBitrateHistory(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	hub := stream.NewHub(stream.Config{Now: clock, Options: func(string) stream.Options {
		return stream.Options{Format: mpegts.FormatRaw}
	}})
	defer hub.Close()
	p, err := hub.Publish("cam", stream.PublisherInfo{Protocol: "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	for sec := range 12 { // 1000 bytes a second, then 2000
		n := 1000
		if sec >= 5 {
			n = 2000
		}
		p.Write(make([]byte, n))
		mu.Lock()
		now = now.Add(time.Second)
		mu.Unlock()
	}
	rec := httptest.NewRecorder()
	(&Server{Hub: hub}).Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/streams/cam", nil))
	var got struct {
		BitrateHistory []int64 `json:"bitrate_history"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	// 12 complete seconds: steps of seconds 2-6 (3×1000 + 2×2000 bytes) and 7-11.
	if want := []int64{11200, 16000}; !slices.Equal(got.BitrateHistory, want) {
		t.Errorf("bitrate_history %v, want %v", got.BitrateHistory, want)
	}
}
