// Package httpserver is tsstream's HTTP side: publishing with POST or PUT,
// playing as HTTP-TS or WebSocket, the JSON API and the health check.
package httpserver

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tsstream/tsstream/internal/guard"
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

// Link is a relay link of the node (a push target or pull source), for
// the API.
type Link struct {
	Kind       string    `json:"kind"` // push or pull
	Stream     string    `json:"stream"`
	URL        string    `json:"url"` // secrets hidden
	State      string    `json:"state"`
	Since      time.Time `json:"since"`
	BytesSent  int64     `json:"bytes_sent,omitempty"` // push
	BytesIn    int64     `json:"bytes_in,omitempty"`   // pull
	Failovers  int64     `json:"failovers,omitempty"`  // pull
	OnDemand   bool      `json:"on_demand,omitempty"`  // pull: runs while the stream has viewers
	Reliable   bool      `json:"reliable,omitempty"`   // resumes at the exact byte (pull or push)
	Path       string    `json:"path,omitempty"`       // pull: relay path of the upstream's data
	Resumes    int64     `json:"resumes,omitempty"`    // reliable link: reconnects at the exact byte
	Gaps       int64     `json:"gaps,omitempty"`       // reliable link: reconnects that lost bytes
	LostBytes  int64     `json:"lost_bytes,omitempty"` // reliable link: bytes known lost
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
	// /assets/…; nil: not served.
	Pages http.Handler
	// Cluster serves the monitor's routes, POST /api/v1/reports and GET
	// /api/v1/cluster; nil: not served.
	Cluster http.Handler
	// MaxHops is the longest relay path a pushed stream may come through
	// (the Tsstream-Path header); zero means 8.
	MaxHops int
	// Guard checks publishers, viewers and API requests before any byte
	// moves; nil lets everything through.
	Guard *guard.Guard
	// Reload re-reads and applies the configuration for POST
	// /api/v1/reload; nil: not served.
	Reload func() (Reloaded, error)
	// Pulls, when set, starts the streams pulled on demand (see OnDemand).
	Pulls OnDemand
	// ResumeWindow is how long the session of a reliable push that broke
	// off is kept for its resume (resume.go); zero means a minute.
	ResumeWindow time.Duration
	Log          *slog.Logger // nil discards

	viewers sync.WaitGroup // hijacked viewer connections
	resumes pushResumes    // the sessions of reliable pushes
}

// Handler returns the routes of DESIGN.md's URL table.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.Pages != nil {
		for _, p := range []string{"GET /{$}", "GET /play/{stream}", "GET /cluster", "GET /assets/"} {
			mux.Handle(p, s.Pages)
		}
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("POST /publish/{stream}", s.publish)
	mux.HandleFunc("PUT /publish/{stream}", s.publish)
	mux.HandleFunc("HEAD /publish/{stream}", s.publishOffset)
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
	if s.Reload != nil {
		mux.HandleFunc("POST /api/v1/reload", s.reload)
	}
	return s.guardAPI(mux)
}

// openPrefixes are the paths anyone may reach: publishing and play check
// keys and tokens themselves. Everything else (the dashboard, the API,
// /metrics, and pages added later) needs the API credentials when some are
// configured.
var openPrefixes = []string{"/publish/", "/live/", "/ws/", "/play/", "/healthz", "/assets/", "/favicon.ico"}

// reportsPath is where nodes report to a monitor: a POST checked by the
// guard's Report (the report token or API credentials; with neither set,
// loopback sources only).
const reportsPath = "/api/v1/reports"

// guardAPI checks API credentials on every path that is not open.
func (s *Server) guardAPI(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Guard != nil && !hasOpenPrefix(r.URL.Path) {
			write := r.Method != http.MethodGet && r.Method != http.MethodHead
			check := func() error { return s.Guard.API(r, write) }
			if name, ok := strings.CutPrefix(r.URL.Path, "/api/v1/streams/"); ok && !write {
				// The play page reads its stream's entry: viewers may.
				check = func() error { return s.Guard.StreamInfo(r, name) }
			}
			if r.URL.Path == reportsPath && r.Method == http.MethodPost {
				check = func() error { return s.Guard.Report(r) }
			}
			if err := check(); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tsstream", Basic realm="tsstream"`)
				if strings.HasPrefix(r.URL.Path, "/api/") {
					writeJSON(w, statusOf(err), map[string]string{"error": err.Error()})
				} else {
					httpError(w, err)
				}
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

func hasOpenPrefix(path string) bool {
	for _, p := range openPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// Reloaded is the answer to POST /api/v1/reload: what the new
// configuration changed at once, and what waits for a restart.
type Reloaded struct {
	// Started and Stopped list the relay links started and stopped, as
	// "push cam to tcp://host:port" or "pull cam from URL, URL" (secrets
	// hidden); a link whose settings changed is in both.
	Started []string `json:"started"`
	Stopped []string `json:"stopped"`
	// NeedsRestart lists the settings that changed but apply only at the
	// next start, by key path: "http.listen", "ingest[0].listen",
	// "streams.cam.ring_bytes" (a stream that exists keeps its ring).
	NeedsRestart []string `json:"needs_restart"`
}

// reload applies the configuration file again.
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	res, err := s.Reload()
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "configuration not reloaded; the old one stays in force: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// innerConn returns the connection under a guarded one, so that viewers'
// writes keep writev (net.Buffers only uses it on the kernel's socket).
func innerConn(c net.Conn) net.Conn {
	if gc, ok := c.(interface{ Inner() net.Conn }); ok {
		return gc.Inner()
	}
	return c
}

// WebSocketOnly returns a handler that plays stream name over WebSocket on
// every path, as the original server's client port did.
func (s *Server) WebSocketOnly(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serveWebSocket(w, r, name)
	})
}

// Wait blocks until every hijacked viewer connection has ended, and ends
// the kept sessions of reliable pushes; call it after closing the hub.
func (s *Server) Wait() {
	s.resumes.close()
	s.viewers.Wait()
}

// remote names where r came from, for logs and the API: its peer
// ("host:port"), or the client a trusted proxy forwarded with the proxy
// ("203.0.113.7 (proxy 127.0.0.1:41000)").
func (s *Server) remote(r *http.Request) string {
	if s.Guard == nil {
		return r.RemoteAddr
	}
	c := s.Guard.ClientOf(r)
	if !c.Proxied || c.Addr == c.Peer {
		return r.RemoteAddr
	}
	return c.Addr.String() + " (proxy " + r.RemoteAddr + ")"
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// statusOf maps the hub's and the guard's errors to HTTP statuses.
func statusOf(err error) int {
	if code, ok := statusOfError(err); ok {
		return code
	}
	var refused *guard.Refusal
	switch {
	case errors.As(err, &refused):
		return refused.StatusCode()
	case errors.Is(err, guard.ErrOverRate):
		return http.StatusTooManyRequests
	case errors.Is(err, guard.ErrIdle):
		return http.StatusRequestTimeout
	case errors.Is(err, stream.ErrBadName):
		return http.StatusBadRequest
	case errors.Is(err, stream.ErrPublisherActive):
		return http.StatusConflict
	case errors.Is(err, errLoop):
		return http.StatusLoopDetected
	case errors.Is(err, errNoStream):
		return http.StatusNotFound
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
