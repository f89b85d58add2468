package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTimeline: each viewer keeps its worst delay per step of the window,
// by send time; the line gives the p99 and the maximum over the viewers.
func TestTimeline(t *testing.T) {
	from := 2 * time.Second
	steps := timelineSteps(1050 * time.Millisecond)
	if steps != 11 {
		t.Fatalf("steps of 1.05 s: %d, want 11", steps)
	}
	var vs []*viewer
	for i := range 200 {
		v := &viewer{from: from, worst: make([]uint32, steps)}
		// Step 0: delays 1..200 ms; the worse of two markers counts.
		v.noteWorst(from+10*time.Millisecond, time.Duration(i+1)*time.Millisecond)
		v.noteWorst(from+90*time.Millisecond, time.Millisecond/2)
		// Step 3: one viewer stalls.
		if i == 7 {
			v.noteWorst(from+350*time.Millisecond, 900*time.Millisecond)
		}
		// Before and after the window: not kept.
		v.noteWorst(from-time.Millisecond, time.Hour)
		v.noteWorst(from+time.Duration(steps)*timelineStep, time.Hour)
		vs = append(vs, v)
	}
	tl := timelineOf(vs)
	if len(tl.P99MS) != steps || tl.StepMS != 100 || tl.FromS != 2 {
		t.Fatalf("timeline %+v", tl)
	}
	if tl.P99MS[0] != 198 || tl.MaxMS[0] != 200 {
		t.Errorf("step 0: p99 %v max %v, want 198 and 200", tl.P99MS[0], tl.MaxMS[0])
	}
	if tl.P99MS[3] != 0 || tl.MaxMS[3] != 900 {
		t.Errorf("step 3: p99 %v max %v, want 0 and 900 (one viewer of 200)", tl.P99MS[3], tl.MaxMS[3])
	}
	if tl.MaxMS[steps-1] != 0 {
		t.Errorf("a marker after the window counted: %v", tl.MaxMS)
	}
	if timelineOf([]*viewer{{from: from}}) != nil {
		t.Error("viewers without -timeline gave a timeline")
	}
	name := filepath.Join(t.TempDir(), "tl.jsonl")
	for range 2 {
		if err := appendTimeline(name, tl); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(name)
	var back timeline
	if err := json.Unmarshal(data[:len(data)/2], &back); err != nil || back.MaxMS[3] != 900 {
		t.Fatalf("file: %v, %+v", err, back)
	}
}
