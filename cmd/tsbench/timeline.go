package main

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"time"
)

// The delay over time (-timeline FILE). A window's p99 says how bad the
// worst percent of the delays was, not when it came: whether 500 joiners
// cost the others a 300 ms spike or a slow rise over seconds. With
// -timeline every measured viewer also keeps its worst delay in each
// 100 ms of the window, by the markers' send time (4 bytes a step), and
// each run of each system appends one JSON line to FILE: per step, the p99
// and the maximum over the viewers of their worst delay in that step.

const timelineStep = 100 * time.Millisecond

// timeline is one line of the -timeline file.
type timeline struct {
	System   string    `json:"system"`
	Scenario string    `json:"scenario"`
	Protocol string    `json:"protocol"`
	Viewers  int       `json:"viewers"`
	Run      int       `json:"run"`
	StepMS   int64     `json:"step_ms"`
	FromS    float64   `json:"from_s"` // send time of the first step's start, from the run's start
	P99MS    []float64 `json:"p99_ms"`
	MaxMS    []float64 `json:"max_ms"`
}

// timelineSteps is how many steps cover a window.
func timelineSteps(window time.Duration) int {
	return int((window + timelineStep - 1) / timelineStep)
}

// noteWorst records a window marker's delay in its step; without
// -timeline (worst nil) it does nothing.
func (v *viewer) noteWorst(sent, delay time.Duration) {
	if i := int((sent - v.from) / timelineStep); sent >= v.from && i < len(v.worst) {
		us := uint32(min(max(delay.Microseconds(), 0), math.MaxUint32))
		v.worst[i] = max(v.worst[i], us)
	}
}

// timelineOf merges the viewers' worst delays step by step; nil when they
// kept none.
func timelineOf(vs []*viewer) *timeline {
	if len(vs) == 0 || vs[0].worst == nil {
		return nil
	}
	steps := len(vs[0].worst)
	tl := &timeline{StepMS: timelineStep.Milliseconds(), FromS: round3(vs[0].from.Seconds()),
		P99MS: make([]float64, steps), MaxMS: make([]float64, steps)}
	col := make([]uint32, len(vs))
	for i := range steps {
		for j, v := range vs {
			col[j] = v.worst[i]
		}
		slices.Sort(col)
		tl.P99MS[i] = round3(float64(col[(len(col)-1)*99/100]) / 1e3)
		tl.MaxMS[i] = round3(float64(col[len(col)-1]) / 1e3)
	}
	return tl
}

// appendTimeline adds tl as a JSON line to the file called name.
func appendTimeline(name string, tl *timeline) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(f).Encode(tl); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
