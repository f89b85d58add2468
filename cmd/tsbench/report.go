package main

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

// histogram counts durations in log-spaced microsecond buckets: exact below
// 16 µs, then 16 buckets per power of two (at most 1/16 = 6% wide), up to
// about 9 hours. 2 KiB, so every viewer keeps its own and they are merged.
type histogram struct {
	counts [histBuckets]uint32
	n      int64
	max    time.Duration
}

const (
	histSub     = 16 // buckets per power of two; a power of two
	histSubBits = 4
	histBuckets = 512
)

func bucketOf(us int64) int {
	if us < histSub {
		return int(max(us, 0))
	}
	shift := bits.Len64(uint64(us)) - histSubBits - 1 // us>>shift is in [16, 32)
	return min(histSub*(shift+1)+int(us>>shift)-histSub, histBuckets-1)
}

// bucketMid returns the middle of bucket i.
func bucketMid(i int) time.Duration {
	if i < histSub {
		return time.Duration(i)*time.Microsecond + time.Microsecond/2
	}
	shift := (i - histSub) / histSub
	lo := int64((i-histSub)%histSub+histSub) << shift
	return time.Duration(lo)*time.Microsecond + time.Duration(int64(1)<<shift)*time.Microsecond/2
}

func (h *histogram) add(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(d.Microseconds())]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q <= 1), never above the maximum.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	if rank >= h.n {
		return h.max
	}
	var seen int64
	for i, c := range h.counts {
		seen += int64(c)
		if seen >= rank {
			return min(bucketMid(i), h.max)
		}
	}
	return h.max
}

// percentile returns the q-quantile of ds, which it sorts.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// result is one run, printed as one JSON line. Field names are what
// docs/benchmarks.md and scripts read: add, never rename.
type result struct {
	Viewers             int     `json:"viewers"`
	Connected           int     `json:"connected"`
	RateBPS             int64   `json:"rate_bps"`
	DurationS           float64 `json:"duration_s"`
	ConnectP50MS        float64 `json:"connect_p50_ms"`
	ConnectP99MS        float64 `json:"connect_p99_ms"`
	RSSIdlePerViewerKiB float64 `json:"rss_idle_per_viewer_kib"`
	RSSPeakMiB          float64 `json:"rss_peak_mib"`
	// TCPMemMiB is the kernel's memory for all TCP sockets at the end of
	// the tail (relay and viewers alike, on loopback): the backlog queued
	// in socket buffers, which RSS does not show.
	TCPMemMiB          float64 `json:"tcp_mem_mib"`
	CPUUserS           float64 `json:"cpu_user_s"`
	CPUSysS            float64 `json:"cpu_sys_s"`
	CPUSecondsPerGB    float64 `json:"cpu_seconds_per_gb"`
	DelayP50MS         float64 `json:"delay_p50_ms"`
	DelayP99MS         float64 `json:"delay_p99_ms"`
	DelayMaxMS         float64 `json:"delay_max_ms"`
	MarkersSent        int64   `json:"markers_sent"`
	MarkersLost        int64   `json:"markers_lost"`
	BytesOwedPerViewer int64   `json:"bytes_owed_per_viewer"`
	GoodputMin         float64 `json:"goodput_min"`
	GoodputMean        float64 `json:"goodput_mean"`
	BytesLost          int64   `json:"bytes_lost"`
	CCErrors           int64   `json:"cc_errors"`

	// Added with the side-by-side runs.
	System         string  `json:"system"`
	Protocol       string  `json:"protocol"`
	CPUCores       float64 `json:"cpu_cores"` // (user+sys) / window: cores busy on average
	GoodputKbpsMin float64 `json:"goodput_kbps_min"`

	// The measured viewers' delay apart for the markers sent in the first
	// and the second half of the window: the late joiners join and the
	// slow viewers slow down at the middle, so the first half is the
	// same run's control. Rise is second / first.
	DelayP50FirstMS  float64 `json:"delay_p50_first_ms"`
	DelayP99FirstMS  float64 `json:"delay_p99_first_ms"`
	DelayP50SecondMS float64 `json:"delay_p50_second_ms"`
	DelayP99SecondMS float64 `json:"delay_p99_second_ms"`
	DelayP99Rise     float64 `json:"delay_p99_rise"`

	// The relay's own counters for the stream at the end of the window
	// (tsstream only): viewers that fell out of the ring and skipped,
	// and disconnects by reason.
	RelaySkips int64            `json:"relay_skips,omitempty"`
	RelayCuts  map[string]int64 `json:"relay_disconnects,omitempty"`

	// Scenario "slow": viewers reading at a tenth of the rate from the
	// middle of the window.
	SlowViewers int     `json:"slow_viewers,omitempty"`
	SlowCut     int     `json:"slow_cut,omitempty"`   // ended before SIGTERM (skipped too often, write timeout)
	SlowShare   float64 `json:"slow_share,omitempty"` // bytes each got, on average, of what was published
	// The delay of the markers sent after the middle that the slow
	// viewers received: how far behind live they play. It grows through
	// the second half for a viewer whose backlog the relay keeps queueing;
	// a skip to the live edge brings it down.
	SlowDelayP50MS float64 `json:"slow_delay_p50_ms,omitempty"`
	SlowDelayMaxMS float64 `json:"slow_delay_max_ms,omitempty"`

	// Scenario "late": viewers joining in the middle of the window.
	LateJoined    int     `json:"late_joined,omitempty"`
	LateNoFrame   int     `json:"late_no_frame,omitempty"`
	LateTTFFP50MS float64 `json:"late_ttff_p50_ms,omitempty"`
	LateTTFFP99MS float64 `json:"late_ttff_p99_ms,omitempty"`
	LateTTFFMaxMS float64 `json:"late_ttff_max_ms,omitempty"`

	// With -timeline: the delay over the window (timeline.go); not in
	// the line.
	timeline *timeline
}

// measurements are the figures taken around a run, besides the viewers'.
type measurements struct {
	viewers  int
	rate     int64
	connects []time.Duration
	rssIdle  [2]int64 // relay VmRSS before and after the viewers connected
	peak     int64    // relay VmHWM at the end
	tcpMem   int64    // the kernel's TCP memory at the end (readTCPMem)
	cpu      cpuTimes // relay CPU over the measured window
	pub      pubResult
}

// summarize merges the viewers' stats into the run's result. Goodput is
// the fraction of the owed window bytes a viewer received (1 = nothing
// lost); viewers that never connected are counted in connected, not here.
func summarize(m measurements, vs []*viewer) result {
	ms := func(d time.Duration) float64 { return round3(d.Seconds() * 1e3) }
	r := result{
		Viewers:            m.viewers,
		Connected:          len(vs),
		RateBPS:            m.rate,
		DurationS:          round3(m.pub.window.Seconds()),
		ConnectP50MS:       ms(percentile(m.connects, 0.50)),
		ConnectP99MS:       ms(percentile(m.connects, 0.99)),
		RSSPeakMiB:         round3(float64(m.peak) / (1 << 20)),
		TCPMemMiB:          round3(float64(m.tcpMem) / (1 << 20)),
		CPUUserS:           round3(m.cpu.user.Seconds()),
		CPUSysS:            round3(m.cpu.sys.Seconds()),
		MarkersSent:        m.pub.markers,
		BytesOwedPerViewer: m.pub.owed,
	}
	if len(vs) > 0 {
		r.RSSIdlePerViewerKiB = round3(float64(m.rssIdle[1]-m.rssIdle[0]) / float64(len(vs)) / 1024)
	}
	var delay histogram
	var halves [2]histogram
	var delivered int64
	var sum float64
	r.GoodputMin = 1
	for _, v := range vs {
		delay.merge(&v.st.delay)
		halves[0].merge(&v.st.halves[0])
		halves[1].merge(&v.st.halves[1])
		delivered += v.st.window
		r.MarkersLost += max(m.pub.markers-v.st.markers, 0)
		r.BytesLost += max(m.pub.owed-v.st.window, 0)
		r.CCErrors += v.st.ccErrors
		g := 0.0
		if m.pub.owed > 0 {
			g = float64(v.st.window) / float64(m.pub.owed)
		}
		sum += g
		r.GoodputMin = min(r.GoodputMin, g)
	}
	if len(vs) > 0 {
		r.GoodputMean = round6(sum / float64(len(vs)))
		r.GoodputMin = round6(r.GoodputMin)
	} else {
		r.GoodputMin = 0
	}
	if delivered > 0 {
		r.CPUSecondsPerGB = round3((m.cpu.user + m.cpu.sys).Seconds() / (float64(delivered) / 1e9))
	}
	if w := m.pub.window.Seconds(); w > 0 {
		r.CPUCores = round3((m.cpu.user + m.cpu.sys).Seconds() / w)
		r.GoodputKbpsMin = round3(r.GoodputMin * float64(m.pub.owed) * 8 / w / 1e3)
	}
	r.DelayP50MS = ms(delay.quantile(0.50))
	r.DelayP99MS = ms(delay.quantile(0.99))
	r.DelayMaxMS = ms(delay.max)
	r.DelayP50FirstMS, r.DelayP99FirstMS = ms(halves[0].quantile(0.50)), ms(halves[0].quantile(0.99))
	r.DelayP50SecondMS, r.DelayP99SecondMS = ms(halves[1].quantile(0.50)), ms(halves[1].quantile(0.99))
	if r.DelayP99FirstMS > 0 {
		r.DelayP99Rise = round3(r.DelayP99SecondMS / r.DelayP99FirstMS)
	}
	return r
}

func round3(x float64) float64 { return math.Round(x*1e3) / 1e3 }
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
