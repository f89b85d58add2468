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
