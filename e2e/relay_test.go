package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPushChainDecodesAtTheLeaf: ffmpeg → A → (TCP push) → B → (HTTP push)
// → C, three separate processes chained with -push; an ffmpeg viewer of C
// decodes the whole stream with no error.
func TestPushChainDecodesAtTheLeaf(t *testing.T) {
	requireFFmpeg(t)
	c := startServer(t, "-name", "C")
	b := startServer(t, "-name", "B", "-push", "http://"+c.HTTP+"/publish/live")
	a := startServer(t, "-name", "A", "-push", "tcp://"+b.TCP)
	// The pushes connect hop by hop once A has a publisher; a leaf may miss
	// the stream's first GOP while they do.

	out := t.TempDir() + "/leaf.ts"
	viewer := startProc(t, "ffmpeg", "-nostdin", "-v", "error",
		"-i", "http://"+c.HTTP+"/live/live.ts", "-map", "0", "-f", "null", "-",
		"-map", "0", "-c", "copy", "-f", "mpegts", out)
	c.waitLog(t, 10*time.Second, `msg="viewer connected"`, "stream=live", "protocol=http")

	pub := startProc(t, "ffmpeg", publishArgs(h264aac, "tcp://"+a.TCP)...)
	if code, stderr := pub.wait(t, 30*time.Second); code != 0 || stderr != "" {
		t.Fatalf("publisher: exit %d\n%s", code, stderr)
	}
	c.waitDelivered(t, "live", 1)
	for _, s := range []*server{a, b} {
		s.waitLog(t, time.Second, `msg="push connected"`)
	}
	for _, s := range []*server{a, b, c} {
		if err := s.stop(5 * time.Second); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	if code, stderr := viewer.wait(t, 10*time.Second); code != 0 || stderr != "" {
		t.Fatalf("leaf viewer: exit %d, errors:\n%s", code, stderr)
	}
	v := probe(t, out)["video"]
	frames, _ := strconv.Atoi(strings.TrimSpace(v.NbReadFrames))
	if want := publishSeconds * publishRate; frames < want-2*publishRate || v.CodecName != "h264" {
		t.Fatalf("leaf decoded %d %s frames, want about %d h264", frames, v.CodecName, want)
	}
}

// TestPullTreeDecodesAtTheLeaves: ffmpeg → O; M pulls from O on demand,
// and two leaves pull from M on demand (-pull), five processes in all.
// ffmpeg viewers at both leaves start the chain and decode every frame
// they get with no error.
func TestPullTreeDecodesAtTheLeaves(t *testing.T) {
	requireFFmpeg(t)
	o := startServer(t, "-name", "O")
	m := startServer(t, "-name", "M", "-pull", "http://"+o.HTTP+"/live/{stream}.ts")
	var leaves []*server
	for _, name := range []string{"L1", "L2"} {
		leaves = append(leaves, startServer(t, "-name", name, "-pull", "http://"+m.HTTP+"/live/{stream}.ts"))
	}
	pub := startProc(t, "ffmpeg", publishArgs(h264aac, "tcp://"+o.TCP)...)
	o.waitLog(t, 10*time.Second, `msg="publisher connected"`)

	var viewers []*proc
	var outs []string
	for i, l := range leaves {
		out := t.TempDir() + "/leaf" + strconv.Itoa(i) + ".ts"
		outs = append(outs, out)
		viewers = append(viewers, startProc(t, "ffmpeg", "-nostdin", "-v", "error",
			"-i", "http://"+l.HTTP+"/live/live.ts", "-map", "0", "-c", "copy", "-f", "mpegts", out))
	}
	if code, stderr := pub.wait(t, 30*time.Second); code != 0 || stderr != "" {
		t.Fatalf("publisher: exit %d\n%s", code, stderr)
	}
	for _, l := range leaves {
		l.waitDelivered(t, "live", 1)
		if err := l.stop(5 * time.Second); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	for i, v := range viewers {
		if code, stderr := v.wait(t, 10*time.Second); code != 0 || stderr != "" {
			t.Fatalf("leaf %d viewer: exit %d, errors:\n%s", i, code, stderr)
		}
		s := probe(t, outs[i])
		frames, _ := strconv.Atoi(strings.TrimSpace(s["video"].NbReadFrames))
		if want := publishSeconds * publishRate; frames < want-2*publishRate || s["video"].CodecName != "h264" || s["audio"].CodecName != "aac" {
			t.Errorf("leaf %d decoded %d %s frames (audio %s), want about %d h264 with aac",
				i, frames, s["video"].CodecName, s["audio"].CodecName, want)
		}
		t.Logf("leaf %d decoded %d frames", i, frames)
	}
}
