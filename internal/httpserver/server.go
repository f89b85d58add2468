// Package httpserver is tsstream's HTTP side: publishing with POST or PUT,
// playing as HTTP-TS or WebSocket, the JSON API and the health check.
package httpserver

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tsstream/tsstream/internal/stream"
)

// Node describes the running node for the API.
type Node struct {
	Name      string
	Version   string
	Started   time.Time
	Listeners func() []Listener // the listening sockets; nil: none
	Links     func() []Link     // the relay links now; nil: none
	ReportTo  string            // the monitor this node reports to; "" none
}

// Link is a relay link of the node (a push target), for the API.
type Link struct {
	Kind       string    `json:"kind"` // push or pull
	Stream     string    `json:"stream"`
	URL        string    `json:"url"` // secrets hidden
	State      string    `json:"state"`
	Since      time.Time `json:"since"`
	BytesSent  int64     `json:"bytes_sent,omitempty"` // push
	BytesIn    int64     `json:"bytes_in,omitempty"`   // pull
	Failovers  int64     `json:"failovers,omitempty"`  // pull
	Drops      int64     `json:"drops"`
	Reconnects int64     `json:"reconnects"`
	LastError  string    `json:"last_error,omitempty"`
}

// Listener is one of the node's listening sockets, for the API.
type Listener struct {
	Role     string `json:"role"`     // ingest, play, http
	Protocol string `json:"protocol"` // tcp, udp, ws, http
	Address  string `json:"address"`
	Stream   string `json:"stream,omitempty"`
}

// Server holds the HTTP handlers. Viewers hijack their connections, so
// http.Server.Shutdown does not wait for them: call Wait after closing the
// hub.
type Server struct {
	Hub     *stream.Hub
	Node    Node
	Metrics http.Handler // serves GET /metrics; nil: not served
	// Pages serves the browser pages: GET /, /play/{stream}, /cluster and
	// /assets/…; nil serves a plain list of the streams at / instead.
	Pages http.Handler
	// Cluster serves the monitor's routes, POST /api/v1/reports and GET
	// /api/v1/cluster; nil: not served.
	Cluster http.Handler
	// MaxHops is the longest relay path a pushed stream may come through
	// (the Tsstream-Path header); zero means 8.
	MaxHops int
	Log     *slog.Logger // nil discards

	viewers sync.WaitGroup // hijacked viewer connections
}

// Handler returns the routes of DESIGN.md's URL table.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.Pages != nil {
		for _, p := range []string{"GET /{$}", "GET /play/{stream}", "GET /cluster", "GET /assets/"} {
			mux.Handle(p, s.Pages)
		}
	} else {
		mux.HandleFunc("GET /{$}", s.index)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("POST /publish/{stream}", s.publish)
	mux.HandleFunc("PUT /publish/{stream}", s.publish)
	mux.HandleFunc("GET /live/{file}", s.live)
	mux.HandleFunc("GET /ws/{stream}", func(w http.ResponseWriter, r *http.Request) {
		s.serveWebSocket(w, r, r.PathValue("stream"))
	})
	mux.HandleFunc("GET /api/v1/streams", s.apiStreams)
	mux.HandleFunc("GET /api/v1/streams/{stream}", s.apiStream)
	mux.HandleFunc("GET /api/v1/node", s.apiNode)
	if s.Cluster != nil {
		mux.Handle("POST /api/v1/reports", s.Cluster)
		mux.Handle("GET /api/v1/cluster", s.Cluster)
	}
	mux.HandleFunc("/api/", apiNotFound)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	return mux
}

// WebSocketOnly returns a handler that plays stream name over WebSocket on
// every path, as the original server's client port did.
func (s *Server) WebSocketOnly(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serveWebSocket(w, r, name)
	})
}

// Wait blocks until every hijacked viewer connection has ended.
func (s *Server) Wait() { s.viewers.Wait() }

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// statusOf maps the hub's errors to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, stream.ErrBadName):
		return http.StatusBadRequest
	case errors.Is(err, stream.ErrPublisherActive):
		return http.StatusConflict
	case errors.Is(err, errLoop):
		return http.StatusLoopDetected
	case errors.Is(err, stream.ErrHubClosed), errors.Is(err, stream.ErrClosed):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// httpError writes err as a plain-text error response.
func httpError(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), statusOf(err))
}
