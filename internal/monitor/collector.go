package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// ClusterPath serves the cluster view as JSON.
const ClusterPath = "/api/v1/cluster"

// Node states in the cluster view.
const (
	StateUp    = "up"    // reported within three intervals
	StateStale = "stale" // missed reports, for up to ten intervals (at least 30 s)
	StateDown  = "down"  // stopped reporting; forgotten after an hour
)

// maxReportBytes bounds a report's body; a node with hundreds of streams
// stays far below.
const maxReportBytes = 1 << 20

// forgetAfter is how long a node that stopped reporting stays in the view.
const forgetAfter = time.Hour

// Collector is the monitor side: it receives reports and serves the
// cluster view. Every tsstream has one, so any node can be the monitor.
type Collector struct {
	// Static after construction; zero values work.
	Self      func() Report      // this node's own state, shown with the others; nil: none
	ValidName func(string) error // checks reported node names; nil accepts any
	MaxNodes  int                // reporting nodes kept at once; zero means 256
	// Client returns the address a report came from, as the cluster view
	// shows it (behind a trusted proxy, the forwarded one); nil: the
	// connection's host.
	Client func(*http.Request) string
	Now    func() time.Time // nil is time.Now
	Log    *slog.Logger     // nil discards

	mu    sync.Mutex // guards nodes
	nodes map[string]*entry
}

// entry is the newest report of one node, with throughputs computed from
// the one before.
type entry struct {
	report  Report
	at      time.Time
	addr    string           // source IP of the newest report; "" for this node
	rates   map[string]int64 // link key -> bits/s over the last report interval
	outRate int64            // bits/s written to viewers and links, all streams
}

func (c *Collector) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// ServeHTTP serves POST ReportPath and GET ClusterPath.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == ReportPath:
		c.receive(w, r)
	case r.Method == http.MethodGet && r.URL.Path == ClusterPath:
		writeJSON(w, http.StatusOK, c.View())
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf(
			"the monitor serves POST %s and GET %s, not %s %s", ReportPath, ClusterPath, r.Method, r.URL.Path)})
	}
}

func (c *Collector) receive(w http.ResponseWriter, r *http.Request) {
	var rep Report
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxReportBytes))
	if err := dec.Decode(&rep); err != nil {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, map[string]string{"error": "report: " + err.Error() + ": send the JSON of a monitor.Report"})
		return
	}
	if err := c.checkName(rep.Node); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "report: node name: " + err.Error()})
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if c.Client != nil {
		host = c.Client(r)
	}
	if err := c.record(rep, host); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "recorded"})
}

func (c *Collector) checkName(name string) error {
	if name == "" {
		return errors.New("empty: every report names its node")
	}
	if c.ValidName != nil {
		return c.ValidName(name)
	}
	return nil
}

// record keeps rep as the newest report of its node.
func (c *Collector) record(rep Report, addr string) error {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes == nil {
		c.nodes = make(map[string]*entry)
	}
	c.forgetLocked(now)
	prev := c.nodes[rep.Node]
	limit := c.MaxNodes
	if limit <= 0 {
		limit = 256
	}
	if prev == nil && len(c.nodes) >= limit {
		return fmt.Errorf("the monitor keeps at most %d nodes: node %q is refused", limit, rep.Node)
	}
	e := &entry{report: rep, at: now, addr: addr, rates: map[string]int64{}}
	if prev != nil {
		e.rates, e.outRate = rates(prev, rep, now)
	}
	c.nodes[rep.Node] = e
	return nil
}

// rates computes each link's throughput and the node's output throughput
// since the previous report, in bits/s; a counter that went back (a
// restarted node or link) counts as no throughput.
func rates(prev *entry, rep Report, now time.Time) (map[string]int64, int64) {
	dt := now.Sub(prev.at).Seconds()
	out := map[string]int64{}
	if dt <= 0 {
		return prev.rates, prev.outRate
	}
	before := map[string]int64{}
	for _, l := range prev.report.Links {
		before[linkKey(l)] = l.Bytes
	}
	for _, l := range rep.Links {
		if b, ok := before[linkKey(l)]; ok && l.Bytes >= b {
			out[linkKey(l)] = int64(float64(l.Bytes-b) * 8 / dt)
		}
	}
	sent := func(r Report) (n int64) {
		for _, s := range r.Streams {
			n += s.BytesOut
		}
		return n
	}
	var outRate int64
	if a, b := sent(prev.report), sent(rep); b >= a {
		outRate = int64(float64(b-a) * 8 / dt)
	}
	return out, outRate
}

func linkKey(l Link) string { return l.Kind + " " + l.Stream + " " + l.URL }

// forgetLocked drops nodes that stopped reporting long ago.
func (c *Collector) forgetLocked(now time.Time) {
	for name, e := range c.nodes {
		if now.Sub(e.at) > forgetAfter {
			delete(c.nodes, name)
		}
	}
}

// View returns the cluster as every node reported it, this node included.
func (c *Collector) View() View {
	if c.Self != nil {
		self := c.Self()
		c.mu.Lock()
		prev := c.nodes[self.Node]
		c.mu.Unlock()
		// This node's throughputs come from successive views, at most one
		// sample a second so that quick refreshes do not make noise.
		if prev == nil || c.now().Sub(prev.at) >= time.Second {
			c.record(self, "")
		}
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetLocked(now)
	v := View{GeneratedAt: now.UTC(), Nodes: []NodeView{}, Edges: []Edge{}}
	if c.Self != nil {
		v.Monitor = c.Self().Node
	}
	for _, e := range c.nodes {
		v.Nodes = append(v.Nodes, e.view(now, e.report.Node == v.Monitor))
	}
	slices.SortFunc(v.Nodes, func(a, b NodeView) int { return strings.Compare(a.Name, b.Name) })
	v.Edges = edges(v.Nodes)
	return v
}

// state says whether a node reported recently enough.
func state(age time.Duration, interval float64) string {
	if interval <= 0 {
		interval = DefaultInterval.Seconds()
	}
	iv := time.Duration(interval * float64(time.Second))
	switch {
	case age <= 3*iv+time.Second:
		return StateUp
	case age <= max(10*iv, 30*time.Second):
		return StateStale
	}
	return StateDown
}

func (e *entry) view(now time.Time, self bool) NodeView {
	r := e.report
	age := now.Sub(e.at)
	n := NodeView{
		Name: r.Node, Version: r.Version, Address: e.addr, Self: self,
		State: state(age, r.IntervalSeconds), LastReport: e.at.UTC(), AgeSeconds: age.Seconds(),
		UptimeSeconds: r.UptimeSeconds + age.Seconds(), BitrateOut: e.outRate,
		Listeners: r.Listeners, Streams: r.Streams, Links: []LinkView{},
	}
	if self {
		n.State = StateUp
	}
	if n.Listeners == nil {
		n.Listeners = []Listener{}
	}
	if n.Streams == nil {
		n.Streams = []Stream{}
	}
	for _, s := range r.Streams {
		for _, k := range s.Viewers {
			n.Viewers += k
		}
		if s.Live {
			n.BitrateIn += s.Bitrate
		}
	}
	for _, l := range r.Links {
		n.Links = append(n.Links, LinkView{Link: l, Bitrate: e.rates[linkKey(l)]})
	}
	return n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
