package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLateJoinDecodesAtOnce joins viewers at random moments of live MPEG-1
// and H.264 streams with 2-second GOPs. Thanks to the GOP cache each one must
// receive a stream that ffmpeg decodes from its very first frame, a
// keyframe, with no errors ("non-existing PPS", "Invalid frame dimensions").
func TestLateJoinDecodesAtOnce(t *testing.T) {
	requireFFmpeg(t)
	const (
		seconds = 16
		joins   = 20 // per stream
		capture = 5 * time.Second
	)
	streams := []struct {
		name   string
		encode []string
	}{
		{"mpeg1", []string{"-codec:v", "mpeg1video", "-b:v", "1000k", "-bf", "0", "-g", "50"}},
		{"h264", []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0"}},
	}
	s := startServer(t)
	for _, st := range streams {
		args := []string{"-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
			fmt.Sprintf("testsrc=size=320x240:rate=25:duration=%d", seconds)}
		args = append(args, st.encode...)
		args = append(args, "-f", "mpegts", "http://"+s.HTTP+"/publish/"+st.name)
		startProc(t, "ffmpeg", args...)
	}
	for _, st := range streams { // the GOP cache needs a first keyframe
		waitUntil(t, 10*time.Second, st.name+" has a keyframe", func() bool { return s.keyframes(t, st.name) > 0 })
	}

	dir := t.TempDir()
	var wg sync.WaitGroup
	firstByte := make(chan time.Duration, 2*joins)
	for _, st := range streams {
		for i := range joins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(rand.N(time.Duration(seconds-8) * time.Second))
				file := filepath.Join(dir, fmt.Sprintf("%s-%02d.ts", st.name, i))
				d, err := captureHTTP("http://"+s.HTTP+"/live/"+st.name+".ts", file, capture)
				if err != nil {
					t.Errorf("%s join %d: %v", st.name, i, err)
					return
				}
				firstByte <- d
			}()
		}
	}
	wg.Wait()
	close(firstByte)
	var waits []time.Duration
	for d := range firstByte {
		waits = append(waits, d)
	}
	slices.Sort(waits)
	t.Logf("%d joins; time to first byte: %v", len(waits), waits)

	files, _ := filepath.Glob(filepath.Join(dir, "*.ts"))
	for _, f := range files {
		name := filepath.Base(f)
		cutLastPES(t, f)
		_, stderr, code := runTool(t, 30*time.Second, "ffmpeg", "-nostdin", "-v", "error", "-i", f, "-f", "null", "-")
		if code != 0 || stderr != "" {
			t.Errorf("%s: decoding the joined stream: exit %d, errors:\n%s", name, code, stderr)
		}
		out, _, _ := runTool(t, 30*time.Second, "ffprobe", "-v", "error", "-select_streams", "v:0",
			"-show_entries", "frame=key_frame", "-read_intervals", "%+#1", "-of", "csv=p=0", f)
		if strings.Trim(out, " \n,") != "1" {
			t.Errorf("%s: first decoded frame key_frame=%q, want 1", name, out)
		}
	}
}

// captureHTTP saves what an HTTP-TS viewer receives in the first d and
// returns how long the first byte took.
func captureHTTP(url, file string, d time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	n, err := resp.Body.Read(buf)
	first := time.Since(start)
	f.Write(buf[:n])
	if err == nil {
		_, err = io.Copy(f, resp.Body)
	}
	if ctx.Err() == nil && err != nil {
		return first, err
	}
	return first, nil
}

// cutLastPES truncates a capture before the start of the last PES of its
// busiest PID (the video): the capture ended inside that PES, and a cut
// frame would show as a decode error that the relay did not cause.
func cutLastPES(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	count := map[int]int{}
	last := map[int]int{}
	for off := 0; off+188 <= len(b); off += 188 {
		pid := int(b[off+1]&0x1f)<<8 | int(b[off+2])
		count[pid]++
		if b[off+1]&0x40 != 0 {
			last[pid] = off
		}
	}
	busiest := -1
	for pid, n := range count {
		if busiest < 0 || n > count[busiest] {
			busiest = pid
		}
	}
	if off, ok := last[busiest]; ok && off > 0 {
		if err := os.Truncate(file, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPublisherChangeKeepsViewersPlaying: an ffmpeg viewer stays connected
// while the publisher goes away and a new one comes, first with the same
// PIDs, then with other PIDs (-mpegts_start_pid). The viewer decodes both
// sessions with no errors; a viewer joining the last session gets its own
// PAT/PMT with the new PIDs.
func TestPublisherChangeKeepsViewersPlaying(t *testing.T) {
	requireFFmpeg(t)
	s := startServer(t)
	out := filepath.Join(t.TempDir(), "viewer.ts")
	viewer := startProc(t, "ffmpeg", "-nostdin", "-v", "error",
		"-i", "http://"+s.HTTP+"/live/cam.ts", "-map", "0", "-f", "null", "-",
		"-map", "0", "-c", "copy", "-f", "mpegts", out)
	s.waitLog(t, 10*time.Second, `msg="viewer connected"`, "stream=cam")
	publish := func(extra ...string) {
		args := []string{"-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
			"testsrc=size=320x240:rate=25:duration=3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25"}
		args = append(append(args, extra...), "-f", "mpegts", "http://"+s.HTTP+"/publish/cam")
		if code, stderr := startProc(t, "ffmpeg", args...).wait(t, 20*time.Second); code != 0 || stderr != "" {
			t.Fatalf("publisher: exit %d\n%s", code, stderr)
		}
	}
	publish()
	publish()
	late := filepath.Join(t.TempDir(), "late.ts")
	done := make(chan error, 1)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		_, err := captureHTTP("http://"+s.HTTP+"/live/cam.ts", late, time.Second)
		done <- err
	}()
	publish("-mpegts_start_pid", "0x150", "-mpegts_pmt_start_pid", "0x1200")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if code, stderr := viewer.wait(t, 10*time.Second); code != 0 || stderr != "" {
		t.Fatalf("viewer across three publishers: exit %d, errors:\n%s", code, stderr)
	}
	if n := len(s.log.matching(`msg="viewer disconnected"`, "stream=cam", "reason=shutdown")); n != 1 {
		t.Errorf("the first viewer should have stayed until shutdown; %d such lines\n%s", n, s.log)
	}
	streams := probe(t, out)
	frames, _ := strconv.Atoi(strings.TrimSpace(streams["video"].NbReadFrames))
	if frames < 2*75*9/10 {
		t.Errorf("viewer decoded %d frames of the first two sessions, want about 150", frames)
	}
	cutLastPES(t, late)
	pids, _, _ := runTool(t, 30*time.Second, "ffprobe", "-v", "error", "-show_entries", "stream=id", "-of", "csv=p=0", late)
	ids := slices.Compact(slices.Sorted(slices.Values(strings.Fields(pids))))
	if !slices.Equal(ids, []string{"0x150"}) {
		t.Errorf("late viewer sees streams %q, want the new PID 0x150 only", ids)
	}
}

// keyframes returns the keyframes the server has seen in stream name.
func (s *server) keyframes(t *testing.T, name string) int64 {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTP + "/api/v1/streams/" + name)
	if err != nil {
		t.Fatalf("stats of %q: %v", name, err)
	}
	defer resp.Body.Close()
	var st struct {
		TS *struct {
			Keyframes int64 `json:"keyframes"`
		} `json:"ts"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil || st.TS == nil {
		return 0
	}
	return st.TS.Keyframes
}
