package httpserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
