package monitor

import (
	"cmp"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// View is the cluster as GET /api/v1/cluster returns it. Field names are
// part of the API: add, never rename.
type View struct {
	Monitor     string     `json:"monitor"` // the node serving the view
	GeneratedAt time.Time  `json:"generated_at"`
	Nodes       []NodeView `json:"nodes"`
	Edges       []Edge     `json:"edges"`
}

// NodeView is one node of the cluster.
type NodeView struct {
	Name          string     `json:"name"`
	Version       string     `json:"version"`
	Address       string     `json:"address"` // the IP its reports come from; "" for the monitor itself
	Self          bool       `json:"self"`    // the monitor itself
	State         string     `json:"state"`   // up, stale, down
	LastReport    time.Time  `json:"last_report"`
	AgeSeconds    float64    `json:"age_seconds"` // since the last report
	UptimeSeconds float64    `json:"uptime_seconds"`
	Viewers       int        `json:"viewers"`     // all streams, all protocols (relay links included)
	BitrateIn     int64      `json:"bitrate_in"`  // bits/s published into its live streams
	BitrateOut    int64      `json:"bitrate_out"` // bits/s written to viewers and links
	Listeners     []Listener `json:"listeners"`
	Streams       []Stream   `json:"streams"`
	Links         []LinkView `json:"links"`
}

// LinkView is a relay link with its throughput.
type LinkView struct {
	Link
	Bitrate int64 `json:"bitrate"` // bits/s over the last report interval
}

// Edge is a parent → child relation of the relay tree: From sends Stream to
// To. Kind says how it was found: "push" (a push link of From to a listener
// of To), "pull" (a pull link of To from From's HTTP server) or "path" (To's
// publisher came through From, by the relay path of an HTTP push).
type Edge struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Stream  string `json:"stream"`
	Kind    string `json:"kind"`
	URL     string `json:"url,omitempty"`
	State   string `json:"state"`   // the link's state, or "up" for a live path
	Bitrate int64  `json:"bitrate"` // bits/s
}

// edges derives the relay tree from the nodes' own links: each push or pull
// URL is matched to the node that listens there, and publishers' relay
// paths name the node before.
func edges(nodes []NodeView) []Edge {
	out := []Edge{}
	seen := map[[3]string]bool{}
	add := func(e Edge) {
		k := [3]string{e.From, e.To, e.Stream}
		if e.From == "" || e.To == "" || e.From == e.To || seen[k] {
			return
		}
		seen[k] = true
		out = append(out, e)
	}
	for _, n := range nodes {
		for _, l := range n.Links {
			proto, host, port, ok := endpoint(l.URL)
			if !ok {
				continue
			}
			e := Edge{Stream: l.Stream, Kind: l.Kind, URL: l.URL, State: l.State, Bitrate: l.Bitrate}
			switch l.Kind {
			case "push":
				e.From, e.To = n.Name, listening(nodes, proto, host, port, n.Name)
			case "pull":
				e.From, e.To = listening(nodes, proto, host, port, n.Name), n.Name
			default:
				continue
			}
			add(e)
		}
	}
	known := map[string]bool{}
	for _, n := range nodes {
		known[n.Name] = true
	}
	for _, n := range nodes {
		for _, s := range n.Streams {
			if len(s.Path) == 0 || !s.Live || !known[s.Path[len(s.Path)-1]] {
				continue
			}
			add(Edge{From: s.Path[len(s.Path)-1], To: n.Name, Stream: s.Name, Kind: "path", State: StateUp, Bitrate: s.Bitrate})
		}
	}
	slices.SortFunc(out, func(a, b Edge) int {
		return cmp.Or(strings.Compare(a.From, b.From), strings.Compare(a.To, b.To), strings.Compare(a.Stream, b.Stream))
	})
	return out
}

// endpoint splits a relay URL into the listener protocol that serves it
// (tcp, udp or http), host and port.
func endpoint(raw string) (proto, host, port string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", "", false
	}
	host, port = u.Hostname(), u.Port()
	switch u.Scheme {
	case "tcp", "udp":
		proto = u.Scheme
	case "http":
		proto = "http"
		if port == "" {
			port = "80"
		}
	case "https":
		proto = "http"
		if port == "" {
			port = "443"
		}
	default:
		return "", "", "", false
	}
	return proto, host, port, host != "" && port != ""
}

// listening returns the node (other than not) with a listener for proto on
// host:port, or "" when none or several fit equally well. A node listening
// on all addresses ("[::]:50001") fits a host that is its name, the address
// its reports come from, or loopback when its reports come from loopback.
func listening(nodes []NodeView, proto, host, port, not string) string {
	best, bestScore, tie := "", 0, false
	for _, n := range nodes {
		if n.Name == not {
			continue
		}
		for _, l := range n.Listeners {
			if l.Protocol != proto {
				continue
			}
			lhost, lport, err := net.SplitHostPort(l.Address)
			if err != nil || lport != port {
				continue
			}
			score := hostScore(n, lhost, host)
			switch {
			case score > bestScore:
				best, bestScore, tie = n.Name, score, false
			case score == bestScore && score > 0 && best != n.Name:
				tie = true
			}
		}
	}
	if tie {
		return ""
	}
	return best
}

func hostScore(n NodeView, lhost, host string) int {
	ip, lip := net.ParseIP(host), net.ParseIP(lhost)
	unspecified := lhost == "" || lip != nil && lip.IsUnspecified()
	self := n.Address == "" // the monitor's own listeners: reached on loopback
	from := net.ParseIP(n.Address)
	switch {
	case lhost == host || host == n.Name:
		return 3
	case !unspecified:
		return 0
	case ip != nil && from != nil && ip.Equal(from):
		return 2
	case ip != nil && ip.IsLoopback() && (self || from != nil && from.IsLoopback()):
		return 1
	case ip == nil: // a host name we cannot resolve here
		return 1
	}
	return 0
}
