package metrics

import "github.com/prometheus/client_golang/prometheus"

// Link is a relay link of the node as the metrics show it. The node
// supplies them (metrics imports no relay package).
type Link struct {
	Kind       string // push or pull
	Stream     string
	URL        string // secrets already hidden
	State      string // up when carrying the stream
	Bytes      int64  // sent (push) or received (pull)
	Drops      int64
	Reconnects int64
}

var (
	linkUpDesc         = desc("relay_link_up", "1 while the relay link carries its stream (state up), else 0.", "stream", "kind", "url")
	linkBytesDesc      = desc("relay_link_bytes_total", "Bytes the relay link sent (push) or received (pull).", "stream", "kind", "url")
	linkDropsDesc      = desc("relay_link_drops_total", "Times the relay link fell behind and was cut.", "stream", "kind", "url")
	linkReconnectsDesc = desc("relay_link_reconnects_total", "Times the relay link connected again after losing its peer.", "stream", "kind", "url")
)

// Links returns a collector of the node's relay links, read at scrape time.
// Labels are the stream, kind and URL of each configured (or on-demand
// pulled) link: bounded by the configuration and the streams.
func Links(links func() []Link) prometheus.Collector { return linkCollector{links} }

type linkCollector struct{ links func() []Link }

// Describe implements prometheus.Collector.
func (c linkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{linkUpDesc, linkBytesDesc, linkDropsDesc, linkReconnectsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c linkCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[[3]string]bool{}
	for _, l := range c.links() {
		labels := []string{l.Stream, l.Kind, l.URL}
		if k := [3]string(labels); seen[k] {
			continue // two links with the same labels would fail the scrape
		} else {
			seen[k] = true
		}
		up := 0.0
		if l.State == "up" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(linkUpDesc, prometheus.GaugeValue, up, labels...)
		ch <- prometheus.MustNewConstMetric(linkBytesDesc, prometheus.CounterValue, float64(l.Bytes), labels...)
		ch <- prometheus.MustNewConstMetric(linkDropsDesc, prometheus.CounterValue, float64(l.Drops), labels...)
		ch <- prometheus.MustNewConstMetric(linkReconnectsDesc, prometheus.CounterValue, float64(l.Reconnects), labels...)
	}
}
