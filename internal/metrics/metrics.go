// Package metrics exposes the hub's counters in the Prometheus text format.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tsstream/tsstream/internal/stream"
)

// Every value comes from stream.Stats snapshots taken when Prometheus
// scrapes: nothing is counted on the data path. Labels are bounded: the
// stream name, the output protocol and the disconnect reason, never a
// viewer's or publisher's address.
//
// The TS counters (continuity errors, keyframes) come from the indexer of
// the current publisher: they start again from 0 with each publisher, which
// Prometheus' rate and increase treat as a counter reset, and the stream
// refreshes them once a second.

// Handler serves the metrics of hub, and of the Go runtime and the process,
// from a registry of its own. node and version label tsstream_build_info.
// extra collectors (Refusals, say) join the registry.
func Handler(hub *stream.Hub, node, version string, extra ...prometheus.Collector) http.Handler {
	return promhttp.HandlerFor(newRegistry(hub, node, version, extra...), promhttp.HandlerOpts{})
}

func newRegistry(hub *stream.Hub, node, version string, extra ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newHubCollector(hub, node, version),
	)
	reg.MustRegister(extra...)
	return reg
}

// desc builds the description of a tsstream_ metric.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("tsstream_"+name, help, labels, nil)
}

var (
	buildInfoDesc = desc("build_info", "Always 1; the labels say which build runs on which node.", "version", "node")
	streamsDesc   = desc("streams", "Streams the hub holds now.")

	publisherUpDesc  = desc("stream_publisher_up", "1 while the stream has a publisher, else 0.", "stream")
	publishesDesc    = desc("stream_publishes_total", "Publishers accepted.", "stream")
	bytesInDesc      = desc("stream_bytes_in_total", "Bytes published into the ring (TS after alignment).", "stream")
	droppedInDesc    = desc("stream_dropped_in_bytes_total", "Bytes dropped while aligning TS packets (garbage, resynchronisation).", "stream")
	bitrateDesc      = desc("stream_bitrate_bits", "Bits per second published, over the last complete second.", "stream")
	ringBytesDesc    = desc("stream_ring_bytes", "Bytes held in the stream's ring now.", "stream")
	bytesOutDesc     = desc("stream_bytes_out_total", "Payload bytes written to viewers.", "stream")
	viewersDesc      = desc("stream_viewers", "Viewers now, by output protocol.", "stream", "protocol")
	disconnectsDesc  = desc("stream_disconnects_total", "Viewers gone, by reason.", "stream", "reason")
	skipsDesc        = desc("stream_skips_total", "Times a viewer fell out of the ring and was moved forward.", "stream")
	skippedBytesDesc = desc("stream_skipped_bytes_total", "Bytes viewers missed by falling out of the ring.", "stream")

	continuityDesc  = desc("stream_continuity_errors_total", "TS continuity counter errors seen from the current publisher.", "stream")
	keyframesDesc   = desc("stream_keyframes_total", "TS keyframes (random access points) seen from the current publisher.", "stream")
	gopJoinsDesc    = desc("stream_gop_joins_total", "Viewers started at the cached keyframe.", "stream")
	keyWaitsDesc    = desc("stream_key_waits_total", "Viewers that waited for the next keyframe.", "stream")
	gopTooLongDesc  = desc("stream_gop_too_long_total", "Key waits because the cached GOP exceeded the cache bounds.", "stream")
	keyTimeoutsDesc = desc("stream_key_timeouts_total", "Key waits that found no keyframe in time and started at the live edge.", "stream")

	ttffDesc = desc("stream_time_to_first_frame_seconds",
		"From a viewer's connect to the first media bytes written to it (with the GOP cache: a keyframe).", "stream")
)

var allDescs = []*prometheus.Desc{
	buildInfoDesc, streamsDesc,
	publisherUpDesc, publishesDesc, bytesInDesc, droppedInDesc, bitrateDesc, ringBytesDesc,
	bytesOutDesc, viewersDesc, disconnectsDesc, skipsDesc, skippedBytesDesc,
	continuityDesc, keyframesDesc, gopJoinsDesc, keyWaitsDesc, gopTooLongDesc, keyTimeoutsDesc, ttffDesc,
}

// hubCollector reads the hub on each scrape.
type hubCollector struct {
	// Static after construction.
	hub       *stream.Hub
	buildInfo prometheus.Metric
}

func newHubCollector(hub *stream.Hub, node, version string) *hubCollector {
	return &hubCollector{
		hub:       hub,
		buildInfo: prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, version, node),
	}
}

// Describe implements prometheus.Collector.
func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- c.buildInfo
	list := c.hub.Streams()
	ch <- prometheus.MustNewConstMetric(streamsDesc, prometheus.GaugeValue, float64(len(list)))
	for _, s := range list {
		collectStream(ch, s.Stats())
	}
}

func collectStream(ch chan<- prometheus.Metric, st stream.Stats) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{st.Name}, labels...)...)
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), append([]string{st.Name}, labels...)...)
	}

	up := int64(0)
	if st.Publisher != nil {
		up = 1
	}
	gauge(publisherUpDesc, up)
	counter(publishesDesc, st.Publishes)
	counter(bytesInDesc, st.BytesIn)
	counter(droppedInDesc, st.DroppedIn)
	gauge(bitrateDesc, st.Bitrate)
	gauge(ringBytesDesc, st.RingBytes)

	counter(bytesOutDesc, st.BytesOut)
	for protocol, n := range st.Readers {
		gauge(viewersDesc, int64(n), protocol)
	}
	for reason, n := range st.Cuts {
		counter(disconnectsDesc, n, reason)
	}
	counter(skipsDesc, st.Skips)
	counter(skippedBytesDesc, st.SkipBytes)

	var continuity, keys int64
	if st.TS != nil {
		continuity, keys = st.TS.ContinuityErrors, st.TS.Keys
	}
	counter(continuityDesc, continuity)
	counter(keyframesDesc, keys)
	counter(gopJoinsDesc, st.GOPJoins)
	counter(keyWaitsDesc, st.KeyWaits)
	counter(gopTooLongDesc, st.GOPTooLong)
	counter(keyTimeoutsDesc, st.KeyTimeouts)

	buckets := make(map[float64]uint64, len(st.TTFF.Counts))
	var cum uint64
	for i, le := range stream.TTFFBuckets() {
		cum += uint64(st.TTFF.Counts[i])
		buckets[le] = cum
	}
	ch <- prometheus.MustNewConstHistogram(ttffDesc, uint64(st.TTFF.Count()), st.TTFF.Sum.Seconds(), buckets, st.Name)
}
