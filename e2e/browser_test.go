package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The browser tests run headless Chromium (Debian's chromium, driven by
// playwright-core from web/node_modules: scripts/deps.sh installs both)
// through e2e/browser/run.js against the real binary fed by ffmpeg. Each
// saves a screenshot under e2e/artifacts/.

const chromium = "/usr/bin/chromium"

// requireBrowser skips the test when chromium, node or playwright-core is
// missing, except on CI, where they must be there.
func requireBrowser(t *testing.T) string {
	t.Helper()
	requireFFmpeg(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install chromium)")
	}
	if _, err := exec.LookPath(nodeBinary(root)); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(root, "web", "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "web/node_modules/playwright-core (npm ci in web/)")
	}
	if len(missing) > 0 {
		msg := "browser test needs " + strings.Join(missing, ", ") + ": run scripts/deps.sh"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "; CI is set, so browser tests must not be skipped")
		}
		t.Skip(msg)
	}
	return root
}

// nodeBinary is the Node that runs the browser driver: the Node 20 that
// scripts/deps.sh puts in web/.node where the system's is older, else the
// one on PATH.
func nodeBinary(root string) string {
	if own := filepath.Join(root, "web", ".node", "bin", "node"); exec.Command(own, "-v").Run() == nil {
		return own
	}
	return "node"
}

// browserRun is one run of e2e/browser/run.js.
type browserRun struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *logLines
	shot   string
}

// runBrowser starts a scenario of run.js on url; the screenshot goes to
// e2e/artifacts/NAME.png. t.Cleanup kills it if it is still running.
func runBrowser(t *testing.T, scenario, url, name string) *browserRun {
	t.Helper()
	root := requireBrowser(t)
	artifacts := filepath.Join(root, "e2e", "artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &browserRun{lines: make(chan string, 16), stderr: &logLines{}, shot: filepath.Join(artifacts, name+".png")}
	b.cmd = exec.Command(nodeBinary(root), filepath.Join(root, "e2e", "browser", "run.js"), scenario, url, b.shot)
	b.cmd.Stderr = b.stderr
	dieWithTest(b.cmd)
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("node run.js: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
		b.cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		b.stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			b.cmd.Process.Kill()
			<-exited
		}
		t.Logf("screenshot: %s", b.shot)
	})
	return b
}

// next decodes the script's next result line into v; a line with "error"
// fails the test.
func (b *browserRun) next(t *testing.T, timeout time.Duration, v any) {
	t.Helper()
	select {
	case line, ok := <-b.lines:
		if !ok {
			t.Fatalf("browser script ended without a result; stderr:\n%s", b.stderr)
		}
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("browser script printed %q: %v", line, err)
		}
		if e.Error != "" {
			t.Fatalf("browser: %s\nresult: %s", e.Error, line)
		}
		if err := json.Unmarshal([]byte(line), v); err != nil {
			t.Fatalf("browser result %s: %v", line, err)
		}
		t.Logf("browser: %.400s", line)
	case <-time.After(timeout):
		b.cmd.Process.Kill()
		t.Fatalf("no browser result within %v; stderr:\n%s", timeout, b.stderr)
	}
}

func (b *browserRun) say(t *testing.T, what string) {
	t.Helper()
	if _, err := io.WriteString(b.stdin, what+"\n"); err != nil {
		t.Fatalf("tell the browser script %q: %v", what, err)
	}
}

// playResult is what the play scenario reports.
type playResult struct {
	PictureMs     int        `json:"picture_ms"` // page load to the first non-blank picture
	NonBlank      bool       `json:"non_blank"`
	ChangedPixels int        `json:"changed_pixels"` // of 64×36, between two samples 1 s apart
	VideoTime     []*float64 `json:"video_time"`     // the video element's currentTime at both samples
	PageErrors    []string   `json:"page_errors"`
	Player        struct {
		State, Player, Codec string
		Restarts             int
	} `json:"player"`
}

// publisher is an ffmpeg test pattern published into a TCP ingest.
type publisher struct{ args []string }

var (
	mpeg1Publisher = publisher{[]string{"-f", "lavfi", "-i", "testsrc=size=480x270:rate=25", "-f", "lavfi", "-i", "sine",
		"-codec:v", "mpeg1video", "-b:v", "800k", "-bf", "0", "-g", "25", "-codec:a", "mp2", "-f", "mpegts"}}
	h264Publisher = publisher{[]string{"-f", "lavfi", "-i", "testsrc=size=480x270:rate=25", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-f", "mpegts"}}
)

func (p publisher) start(t *testing.T, addr string) *proc {
	t.Helper()
	args := append([]string{"-hide_banner", "-loglevel", "error", "-re"}, p.args...)
	return startProc(t, "ffmpeg", append(args, "tcp://"+addr)...)
}

// waitLive waits until the API shows the stream live with its video known.
func waitLive(t *testing.T, s *server, name string) {
	t.Helper()
	waitUntil(t, 15*time.Second, "stream "+name+" live with a keyframe", func() bool {
		var st struct {
			Live bool
			TS   *struct{ Video *struct{ Codec string } }
		}
		resp, err := httpGetJSON("http://"+s.HTTP+"/api/v1/streams/"+name, &st)
		return err == nil && resp && st.Live && st.TS != nil && st.TS.Video != nil
	})
}

func httpGetJSON(url string, v any) (bool, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return false, nil
	}
	return true, json.NewDecoder(resp.Body).Decode(v)
}

// TestBrowserPlay: /play/live in Chromium shows a picture that changes,
// with JSMpeg for MPEG-1 and mpegts.js for H.264 (over WebSocket, and over
// HTTP-TS); after the publisher is killed and started again, the page plays
// again by itself.
func TestBrowserPlay(t *testing.T) {
	cases := []struct {
		name   string
		pub    publisher
		query  string
		player string
		codec  string
	}{
		{"mpeg1", mpeg1Publisher, "", "jsmpeg", "mpeg1video"},
		{"h264", h264Publisher, "", "mpegts", "h264"},
		{"h264-http-ts", h264Publisher, "?transport=http", "mpegts", "h264"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireBrowser(t)
			s := startServer(t)
			ff := tc.pub.start(t, s.TCP)
			waitLive(t, s, "live")

			b := runBrowser(t, "recover", "http://"+s.HTTP+"/play/live"+tc.query, "play-"+tc.name)
			var p playResult
			b.next(t, 60*time.Second, &p)
			if p.Player.Player != tc.player || p.Player.Codec != tc.codec || p.Player.State != "playing" {
				t.Errorf("player %+v: want %s playing %s", p.Player, tc.player, tc.codec)
			}
			if !p.NonBlank || p.ChangedPixels == 0 {
				t.Errorf("picture blank (%v) or unchanged (%d pixels changed in 1 s)", !p.NonBlank, p.ChangedPixels)
			}
			if p.PictureMs > 2000 {
				t.Errorf("first picture %d ms after the page load, want within 2 s", p.PictureMs)
			}
			if tc.player == "mpegts" && (len(p.VideoTime) != 2 || p.VideoTime[0] == nil || p.VideoTime[1] == nil || *p.VideoTime[1] <= *p.VideoTime[0]) {
				t.Errorf("video currentTime %v: want it to advance", p.VideoTime)
			}
			if len(p.PageErrors) > 0 {
				t.Errorf("page errors: %q", p.PageErrors)
			}
			if want := map[string]string{"": "ws", "?transport=http": "http"}[tc.query]; s.stats(t, "live").Viewers[want] != 1 {
				t.Errorf("viewers %v: want the page as one %s viewer", s.stats(t, "live").Viewers, want)
			}

			// Kill the publisher, wait for the page to notice, start it again.
			ff.cmd.Process.Kill()
			<-ff.exited
			b.say(t, "stopped")
			var noticed struct {
				NoticedMs int `json:"noticed_ms"`
			}
			b.next(t, 30*time.Second, &noticed)
			tc.pub.start(t, s.TCP)
			b.say(t, "restarted")
			var r struct {
				RecoverMs int `json:"recover_ms"`
			}
			b.next(t, 40*time.Second, &r)
			if r.RecoverMs > 5000 {
				t.Errorf("playing again %d ms after the publisher restarted, want within 5 s", r.RecoverMs)
			}
			t.Logf("%s: first picture %d ms after load; stall noticed after %d ms; playing again %d ms after the publisher restarted",
				tc.name, p.PictureMs, noticed.NoticedMs, r.RecoverMs)
		})
	}
}

// TestBrowserDashboard: the dashboard lists the published stream with its
// codecs and a non-zero bitrate.
func TestBrowserDashboard(t *testing.T) {
	requireBrowser(t)
	s := startServer(t)
	mpeg1Publisher.start(t, s.TCP)
	waitLive(t, s, "live")
	b := runBrowser(t, "dashboard", "http://"+s.HTTP+"/", "dashboard")
	var d struct {
		Streams []struct{ Stream, State, Codecs, Bitrate string }
	}
	b.next(t, 60*time.Second, &d)
	if len(d.Streams) != 1 {
		t.Fatalf("dashboard streams %+v: want live only", d.Streams)
	}
	st := d.Streams[0]
	if st.Stream != "live" || st.State != "live" || st.Codecs != "mpeg1video, mp2" || st.Bitrate == "0 b/s" || !strings.HasSuffix(st.Bitrate, "b/s") {
		t.Errorf("dashboard shows %+v: want live, live, codecs \"mpeg1video, mp2\", a bitrate above 0", st)
	}
}

// TestBrowserCluster: node A pushes to node B and reports to it; B's
// cluster page draws both nodes and the link between them.
func TestBrowserCluster(t *testing.T) {
	requireBrowser(t)
	b := startServer(t, "-name", "monitor-b")
	a := startServer(t, "-name", "origin-a", "-report-to", "http://"+b.HTTP,
		"-push", "http://"+b.HTTP+"/publish/live")
	mpeg1Publisher.start(t, a.TCP)
	waitLive(t, b, "live")
	br := runBrowser(t, "cluster", "http://"+b.HTTP+"/cluster", "cluster")
	var c struct {
		Nodes []struct {
			Name  string
			Class string
		}
		Edges  int
		Labels []string
	}
	br.next(t, 60*time.Second, &c)
	got := fmt.Sprintf("%+v", c.Nodes)
	if len(c.Nodes) != 2 || c.Nodes[0].Name != "monitor-b" || c.Nodes[1].Name != "origin-a" || // by name
		c.Nodes[0].Class != "node up" || c.Nodes[1].Class != "node up" {
		t.Errorf("cluster nodes %s: want monitor-b and origin-a, both up", got)
	}
	if c.Edges != 1 || len(c.Labels) != 1 || !strings.HasPrefix(c.Labels[0], "live · push · ") || strings.HasSuffix(c.Labels[0], " 0 b/s") {
		t.Errorf("cluster links %d %q: want one, live pushed with a throughput", c.Edges, c.Labels)
	}
}
