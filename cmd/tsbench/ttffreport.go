package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"
)

// ttffResult is one run, printed as one JSON line. Field names are what
// docs/benchmarks.md reads: add, never rename.
type ttffResult struct {
	Mode       string  `json:"mode"` // "ttff"
	Codec      string  `json:"codec"`
	GOPCache   string  `json:"gop_cache"`
	Viewers    int     `json:"viewers"`
	Failed     int     `json:"failed"`
	TTFFP50MS  float64 `json:"ttff_p50_ms"`
	TTFFP99MS  float64 `json:"ttff_p99_ms"`
	TTFFMeanMS float64 `json:"ttff_mean_ms"`
	TTFFMaxMS  float64 `json:"ttff_max_ms"`
	// Viewers that joined while the publisher was still sending a
	// keyframe wait for its end even with the GOP cache: how long that
	// takes, how many did, and the TTFF of the others.
	KeyframeSendMS    float64 `json:"keyframe_send_ms"`
	JoinedMidKeyframe int     `json:"joined_mid_keyframe"`
	TTFFP99WholeKeyMS float64 `json:"ttff_p99_whole_key_ms"`
	TTFFMaxWholeKeyMS float64 `json:"ttff_max_whole_key_ms"`
	FirstKeyP50MS     float64 `json:"first_key_p50_ms"`
	FirstKeyP99MS     float64 `json:"first_key_p99_ms"`
	ConnectP50MS      float64 `json:"connect_p50_ms"`
	GOPJoins          int64   `json:"gop_joins"` // the relay's count of viewers started at a cached keyframe
	KeyWaits          int64   `json:"key_waits"` // ... and of viewers that waited for the next one
	DecodeChecked     int     `json:"decode_checked"`
	DecodeErrors      int     `json:"decode_errors"`
	CPUUserS          float64 `json:"cpu_user_s"` // the relay's, from the publisher's connect to the last viewer's end
	CPUSysS           float64 `json:"cpu_sys_s"`
	InputKbps         float64 `json:"input_kbps"`
}

// tsStats is what the harness reads of the relay's TS bookkeeping.
type tsStats struct {
	GOPJoins         int64 `json:"gop_joins"`
	KeyWaits         int64 `json:"key_waits"`
	GOPTooLong       int64 `json:"gop_too_long"`
	ContinuityErrors int64 `json:"continuity_errors"`
	Keyframes        int64 `json:"keyframes"`
}

func streamTS(httpAddr string) (tsStats, error) {
	url := "http://" + httpAddr + "/api/v1/streams/live"
	resp, err := http.Get(url)
	if err != nil {
		return tsStats{}, err
	}
	defer resp.Body.Close()
	var st struct {
		TS *tsStats `json:"ts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return tsStats{}, fmt.Errorf("%s: %w", url, err)
	}
	if st.TS == nil {
		return tsStats{}, fmt.Errorf("%s: no \"ts\" object: the relay did not see TS", url)
	}
	return *st.TS, nil
}

// summarizeTTFF turns the viewers' measurements into the run's result.
// Failed viewers are counted, not measured.
func summarizeTTFF(vs []*ttffViewer, m *media, pub playResult) ttffResult {
	ms := func(d time.Duration) float64 { return round3(d.Seconds() * 1e3) }
	res := ttffResult{Mode: "ttff", Viewers: len(vs), InputKbps: math.Round(m.kbps()),
		KeyframeSendMS: ms(m.keyframeSend())}
	var ttff, whole, key, conn []time.Duration
	var sum time.Duration
	for _, v := range vs {
		if v.connect > 0 {
			conn = append(conn, v.connect)
		}
		if !v.measured {
			res.Failed++
			continue
		}
		ttff, key = append(ttff, v.ttff), append(key, v.firstKey)
		sum += v.ttff
		if m.inKeyframe(v.joined.Sub(pub.start)) {
			res.JoinedMidKeyframe++
		} else {
			whole = append(whole, v.ttff)
		}
	}
	res.TTFFP99WholeKeyMS, res.TTFFMaxWholeKeyMS = ms(percentile(whole, 0.99)), ms(percentile(whole, 1))
	if len(ttff) > 0 {
		res.TTFFMeanMS = ms(sum / time.Duration(len(ttff)))
	}
	res.TTFFP50MS, res.TTFFP99MS = ms(percentile(ttff, 0.50)), ms(percentile(ttff, 0.99))
	res.TTFFMaxMS = ms(percentile(ttff, 1))
	res.FirstKeyP50MS, res.FirstKeyP99MS = ms(percentile(key, 0.50)), ms(percentile(key, 0.99))
	res.ConnectP50MS = ms(percentile(conn, 0.50))
	return res
}

// observeTTFF logs what the JSON line does not hold.
func observeTTFF(vs []*ttffViewer, pub playResult, st tsStats, logs map[string]int, busy float64) {
	errs, codecs := map[string]int{}, map[string]int{}
	for _, v := range vs {
		if v.err != nil {
			errs[v.err.Error()]++
		}
		if v.measured {
			codecs[v.codec]++
		}
	}
	logf("viewers: codecs seen %v; failures %v", codecs, errs)
	logf("publisher: %d bytes, %d passes over the file, longest write %v; relay: %d keyframes, %d continuity errors, %d GOPs too long; machine %.0f%% busy",
		pub.bytes, pub.loops+1, pub.maxWrite.Round(time.Microsecond), st.Keyframes, st.ContinuityErrors, st.GOPTooLong, 100*busy)
	logRelayLines(logs)
}
