package node

import (
	"net/http"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/metrics"
	"github.com/tsstream/tsstream/internal/monitor"
)

// newCollector is the node's monitor side: every node shows the nodes that
// report to it, itself included.
func (n *Node) newCollector() *monitor.Collector {
	return &monitor.Collector{Self: n.report, ValidName: config.ValidStreamName, Log: n.log,
		Client: func(r *http.Request) string { return n.guard.ClientOf(r).Addr.String() }}
}

// startReporter reports to the configured monitor, if any.
func (n *Node) startReporter() {
	m := n.cfg.Monitor
	if m.ReportTo == "" {
		return
	}
	u, _ := monitor.ReportURL(m.ReportTo) // validated with the config
	n.reporter = &monitor.Reporter{URL: u, Interval: time.Duration(m.ReportInterval), Snapshot: n.report, Log: n.log,
		Token: func() string { return n.live.Load().Monitor.ReportToken }}
	n.reporter.Start()
}

// report is this node's state for a monitor.
func (n *Node) report() monitor.Report {
	started := n.web.Node.Started
	r := monitor.Report{Node: n.cfg.Name, Version: n.version, UptimeSeconds: time.Since(started).Seconds(),
		IntervalSeconds: time.Duration(n.cfg.Monitor.ReportInterval).Seconds(),
		Listeners:       []monitor.Listener{}, Streams: []monitor.Stream{}, Links: []monitor.Link{}}
	if started.IsZero() {
		r.UptimeSeconds = 0
	}
	for _, l := range n.Listeners() {
		r.Listeners = append(r.Listeners, monitor.Listener{Role: l.Role, Protocol: l.Protocol, Address: l.Address, Stream: l.Stream})
	}
	for _, s := range n.hub.Streams() {
		st := s.Stats()
		ms := monitor.Stream{Name: st.Name, Live: st.Publisher != nil, Bitrate: st.Bitrate,
			BytesIn: st.BytesIn, BytesOut: st.BytesOut, Viewers: st.Readers}
		if p := st.Publisher; p != nil {
			ms.Publisher, ms.Remote, ms.Path = p.Protocol, p.Remote, p.Path
		}
		r.Streams = append(r.Streams, ms)
	}
	for _, l := range n.links() {
		r.Links = append(r.Links, monitor.Link{Kind: l.Kind, Stream: l.Stream, URL: l.URL, State: l.State,
			Bytes: l.BytesSent + l.BytesIn, Reconnects: l.Reconnects})
	}
	return r
}

// metricLinks are the relay links for /metrics.
func (n *Node) metricLinks() []metrics.Link {
	var out []metrics.Link
	for _, l := range n.links() {
		out = append(out, metrics.Link{Kind: l.Kind, Stream: l.Stream, URL: l.URL, State: l.State,
			Bytes: l.BytesSent + l.BytesIn, Drops: l.Drops, Reconnects: l.Reconnects})
	}
	return out
}
