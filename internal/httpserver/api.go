package httpserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tsstream/tsstream/internal/stream"
)

// streamJSON is a stream in the API. Field names are part of the API:
// add, never rename.
type streamJSON struct {
	Name       string           `json:"name"`
	Format     string           `json:"format"`
	Live       bool             `json:"live"`
	Publisher  *publisherJSON   `json:"publisher"`
	Publishes  int64            `json:"publishes"`
	BytesIn    int64            `json:"bytes_in"`
	DroppedIn  int64            `json:"dropped_in"`
	BytesOut   int64            `json:"bytes_out"`
	Viewers    map[string]int   `json:"viewers"`
	Skips      int64            `json:"skips"`
	SkipBytes  int64            `json:"skip_bytes"`
	Cuts       map[string]int64 `json:"disconnects"`
	RingBytes  int64            `json:"ring_bytes"`
	RingLimit  int64            `json:"ring_limit"`
	AgeSeconds float64          `json:"age_seconds"`
	Bitrate    int64            `json:"bitrate"` // bits/s over the last second
	// BitrateHistory is bits/s averaged over 5 s steps, oldest first, for
	// the last five minutes (less while the stream is younger).
	BitrateHistory []int64 `json:"bitrate_history"`
	TS             *tsJSON `json:"ts,omitempty"`
}

// tsJSON is what the stream knows of its MPEG-TS.
type tsJSON struct {
	Programs         []programJSON `json:"programs"`
	PCRPID           int           `json:"pcr_pid"`
	Video            *videoJSON    `json:"video"`
	ContinuityErrors int64         `json:"continuity_errors"`
	Keyframes        int64         `json:"keyframes"`
	GOPPackets       int64         `json:"gop_packets"`
	GOPBytes         int64         `json:"gop_bytes"` // newest keyframe to live edge; -1 if none
	GOPCache         string        `json:"gop_cache"` // on, off, exceeded
	GOPJoins         int64         `json:"gop_joins"`
	KeyWaits         int64         `json:"key_waits"`
	GOPTooLong       int64         `json:"gop_too_long"`
	KeyTimeouts      int64         `json:"key_timeouts"`
}

type programJSON struct {
	Number  int      `json:"number"`
	PMTPID  int      `json:"pmt_pid"`
	PCRPID  int      `json:"pcr_pid"`
	Streams []esJSON `json:"streams"`
}

type esJSON struct {
	PID        int    `json:"pid"`
	StreamType int    `json:"stream_type"`
	Codec      string `json:"codec"`
	Kind       string `json:"kind"`
}

type videoJSON struct {
	PID       int     `json:"pid"`
	Codec     string  `json:"codec"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	FrameRate float64 `json:"frame_rate"`
}

func tsToJSON(st stream.Stats) *tsJSON {
	info := st.TS
	if info == nil {
		return nil
	}
	j := &tsJSON{PCRPID: info.PCRPID, ContinuityErrors: info.ContinuityErrors, Keyframes: info.Keys,
		GOPPackets: info.LastGOPPackets, GOPBytes: st.GOPBytes, GOPCache: st.GOPCache,
		GOPJoins: st.GOPJoins, KeyWaits: st.KeyWaits, GOPTooLong: st.GOPTooLong, KeyTimeouts: st.KeyTimeouts,
		Programs: []programJSON{}}
	for _, p := range info.Programs {
		pj := programJSON{Number: p.Number, PMTPID: p.PMTPID, PCRPID: p.PCRPID, Streams: []esJSON{}}
		for _, es := range p.Streams {
			pj.Streams = append(pj.Streams, esJSON{PID: es.PID, StreamType: es.StreamType, Codec: es.Codec, Kind: es.Kind})
		}
		j.Programs = append(j.Programs, pj)
	}
	if v := info.Video; v != nil {
		j.Video = &videoJSON{PID: v.PID, Codec: v.Codec, Width: v.Width, Height: v.Height, FrameRate: v.FrameRate}
	}
	return j
}

type publisherJSON struct {
	Protocol      string   `json:"protocol"`
	Remote        string   `json:"remote"`
	Path          []string `json:"path,omitempty"` // relay nodes before this one, origin first
	UptimeSeconds float64  `json:"uptime_seconds"`
	BytesIn       int64    `json:"bytes_in"`
}

func toJSON(st stream.Stats, now time.Time) streamJSON {
	j := streamJSON{
		Name: st.Name, Format: st.Format, Live: st.Publisher != nil, Publishes: st.Publishes,
		BytesIn: st.BytesIn, DroppedIn: st.DroppedIn, BytesOut: st.BytesOut, Viewers: st.Readers,
		Skips: st.Skips, SkipBytes: st.SkipBytes, Cuts: st.Cuts, RingBytes: st.RingBytes,
		RingLimit: st.RingLimit, AgeSeconds: now.Sub(st.Created).Seconds(),
		Bitrate: st.Bitrate, TS: tsToJSON(st),
	}
	if p := st.Publisher; p != nil {
		j.Publisher = &publisherJSON{Protocol: p.Protocol, Remote: p.Remote, Path: p.Path,
			UptimeSeconds: now.Sub(p.Since).Seconds(), BytesIn: p.BytesIn}
	}
	return j
}

// historyStep is the step of the API's bitrate history.
const historyStep = 5 * time.Second

func streamToJSON(st *stream.Stream, now time.Time) streamJSON {
	j := toJSON(st.Stats(), now)
	j.BitrateHistory = st.BitrateHistory(historyStep)
	return j
}

func (s *Server) apiStreams(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	list := []streamJSON{}
	for _, st := range s.Hub.Streams() {
		list = append(list, streamToJSON(st, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"streams": list})
}

func (s *Server) apiStream(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	st := s.Hub.Get(name)
	if st == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no stream %q: nobody publishes or plays it", name)})
		return
	}
	writeJSON(w, http.StatusOK, streamToJSON(st, time.Now()))
}

func (s *Server) apiNode(w http.ResponseWriter, r *http.Request) {
	n := s.Node
	links, listeners := []Link{}, []Listener{}
	if n.Links != nil {
		links = n.Links()
	}
	if n.Listeners != nil {
		listeners = n.Listeners()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"links":          links,
		"name":           n.Name,
		"version":        n.Version,
		"uptime_seconds": time.Since(n.Started).Seconds(),
		"listeners":      listeners,
		"streams":        len(s.Hub.Streams()),
		"report_to":      n.ReportTo,
	})
}

// apiNotFound answers every /api/ request no route takes, in JSON as the
// other API errors.
func apiNotFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{
		"error": fmt.Sprintf("no API route %s %s: see docs/api.md for the routes", r.Method, r.URL.Path)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
