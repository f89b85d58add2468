package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tsstream/tsstream/internal/guard"
)

var refusedDesc = desc("refused_total",
	"Connections, requests, datagrams and publishers the guard refused or cut, by reason.", "reason")

// Refusals returns a collector of the guard's refusal counters, read at
// scrape time like the hub's.
func Refusals(g *guard.Guard) prometheus.Collector { return refusalCollector{g} }

type refusalCollector struct{ g *guard.Guard }

// Describe implements prometheus.Collector.
func (c refusalCollector) Describe(ch chan<- *prometheus.Desc) { ch <- refusedDesc }

// Collect implements prometheus.Collector.
func (c refusalCollector) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.g.Counts() {
		ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.CounterValue, float64(n.N), n.Reason)
	}
}
