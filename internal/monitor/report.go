// Package monitor is the cluster view: nodes report their state to a
// monitor node every few seconds, and the monitor keeps the reports, marks
// nodes that stopped reporting, and derives the relay tree from the nodes'
// own relay links.
package monitor

// Report is what a node sends to its monitor (POST /api/v1/reports), as
// JSON. Field names are part of the API: add, never rename.
type Report struct {
	Node            string     `json:"node"`
	Version         string     `json:"version"`
	UptimeSeconds   float64    `json:"uptime_seconds"`
	IntervalSeconds float64    `json:"interval_seconds"` // how often the node reports
	Listeners       []Listener `json:"listeners"`
	Streams         []Stream   `json:"streams"`
	Links           []Link     `json:"links"`
}

// Listener is a listening socket of a reporting node.
type Listener struct {
	Role     string `json:"role"`     // ingest, play, http
	Protocol string `json:"protocol"` // tcp, udp, ws, http
	Address  string `json:"address"`  // as bound: "[::]:50001", "127.0.0.1:8088"
	Stream   string `json:"stream,omitempty"`
}

// Stream is one stream of a reporting node.
type Stream struct {
	Name      string         `json:"name"`
	Live      bool           `json:"live"`
	Bitrate   int64          `json:"bitrate"` // bits/s published
	BytesIn   int64          `json:"bytes_in"`
	BytesOut  int64          `json:"bytes_out"`
	Viewers   map[string]int `json:"viewers"`             // by protocol
	Publisher string         `json:"publisher,omitempty"` // protocol of the live publisher
	Remote    string         `json:"remote,omitempty"`    // its address
	Path      []string       `json:"path,omitempty"`      // relay nodes it came through, origin first
}

// Link is a relay link of a reporting node.
type Link struct {
	Kind       string `json:"kind"` // push or pull
	Stream     string `json:"stream"`
	URL        string `json:"url"` // secrets hidden
	State      string `json:"state"`
	Bytes      int64  `json:"bytes"` // sent (push) or received (pull)
	Reconnects int64  `json:"reconnects"`
}
