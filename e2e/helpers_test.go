// Package e2e runs the real tsstream binary against the real ffmpeg and
// ffprobe: publish over every ingest, play over HTTP-TS and WebSocket, shut
// down with viewers attached, and the command line's exit codes.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the tsstream built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tsstream-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	binary = filepath.Join(dir, "tsstream")
	build := exec.Command("go", "build", "-o", binary, "./cmd/tsstream")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/tsstream: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot is the directory of the go.mod this package belongs to.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// requireFFmpeg skips the test when ffmpeg or ffprobe is missing, except on
// CI (CI set), where a missing tool is a failure: CI must never skip.
func requireFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s not found in PATH (install ffmpeg, e.g. `make deps`): %v", tool, err)
			if os.Getenv("CI") != "" {
				t.Fatal(msg + "; CI is set, so end-to-end tests must not be skipped")
			}
			t.Skip(msg)
		}
	}
}

// logLines collects a process's stderr line by line.
type logLines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

// matching returns the lines that contain every one of parts.
func (l *logLines) matching(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
next:
	for _, line := range l.lines {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + string(l.partial)
}

// server is a running tsstream binary.
type server struct {
	HTTP, TCP, UDP, WS string // bound addresses from the "listening" lines

	cmd     *exec.Cmd
	log     *logLines
	exited  chan struct{}
	waitErr error // set before exited is closed

	stopOnce sync.Once
	stopped  time.Duration // SIGTERM to exit
	stopErr  error
}

var listeningRE = regexp.MustCompile(`msg=listening role=(\S+) protocol=(\S+) address=(\S+)`)

// startServer runs the binary on 127.0.0.1 port 0 listeners and waits until
// it has logged every bound address. t.Cleanup stops it with SIGTERM and
// asserts a clean exit within 5 s.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	args := append([]string{"-http", "127.0.0.1:0", "-ingest", "127.0.0.1:0", "-ws", "127.0.0.1:0", "-name", "e2e"}, extra...)
	return startServerArgs(t, args, "http/http", "ingest/tcp", "ingest/udp", "play/ws")
}

// startServerArgs runs the binary with args alone and waits until it has
// logged the listeners need names ("http/http", "ingest/tcp", "ingest/udp",
// "play/ws": role/protocol).
func startServerArgs(t *testing.T, args []string, need ...string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(binary, args...), log: &logLines{}, exited: make(chan struct{})}
	s.cmd.Stderr = s.log
	dieWithTest(s.cmd)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", binary, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		if err := s.stop(5 * time.Second); err != nil {
			t.Errorf("tsstream stop: %v\nstderr:\n%s", err, s.log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	bound := map[string]*string{"http/http": &s.HTTP, "ingest/tcp": &s.TCP, "ingest/udp": &s.UDP, "play/ws": &s.WS}
	missing := func() bool {
		for _, n := range need {
			if *bound[n] == "" {
				return true
			}
		}
		return false
	}
	for missing() {
		select {
		case <-s.exited:
			t.Fatalf("tsstream exited before listening: %v\nstderr:\n%s", s.waitErr, s.log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("tsstream did not log its listeners within 10s; stderr:\n%s", s.log)
		}
		for _, line := range s.log.matching("msg=listening") {
			m := listeningRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("listening line without role, protocol and address: %q", line)
			}
			switch m[1] + "/" + m[2] {
			case "http/http":
				s.HTTP = m[3]
			case "ingest/tcp":
				s.TCP = m[3]
			case "ingest/udp":
				s.UDP = m[3]
			case "play/ws":
				s.WS = m[3]
			}
		}
	}
	return s
}

// stop sends SIGTERM once and waits up to limit for the exit. It returns an
// error unless the process exited with code 0 in time; later calls return
// the first result.
func (s *server) stop(limit time.Duration) error {
	s.stopOnce.Do(func() {
		start := time.Now()
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			select {
			case <-s.exited: // already gone: report how it ended
			default:
				s.stopErr = fmt.Errorf("SIGTERM: %w", err)
				return
			}
		}
		select {
		case <-s.exited:
			s.stopped = time.Since(start)
			if s.waitErr != nil {
				s.stopErr = fmt.Errorf("exit after SIGTERM: %w", s.waitErr)
			}
		case <-time.After(limit):
			s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = fmt.Errorf("still running %v after SIGTERM; killed", limit)
		}
	})
	return s.stopErr
}

// waitLog waits until a log line contains every one of parts and returns
// the first such line.
func (s *server) waitLog(t *testing.T, timeout time.Duration, parts ...string) string {
	t.Helper()
	var line string
	waitUntil(t, timeout, fmt.Sprintf("log line with %q", parts), func() bool {
		m := s.log.matching(parts...)
		if len(m) > 0 {
			line = m[0]
		}
		return len(m) > 0
	})
	return line
}

// streamStats is the part of /api/v1/streams/NAME the tests look at.
type streamStats struct {
	Live     bool           `json:"live"`
	BytesIn  int64          `json:"bytes_in"`
	BytesOut int64          `json:"bytes_out"`
	Viewers  map[string]int `json:"viewers"`
}

func (s *server) stats(t *testing.T, name string) streamStats {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTP + "/api/v1/streams/" + name)
	if err != nil {
		t.Fatalf("stats of %q: %v", name, err)
	}
	defer resp.Body.Close()
	var st streamStats
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stats of %q: %s", name, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("stats of %q: %v", name, err)
	}
	return st
}

// joinLoss bounds what a viewer connected before the publisher may miss:
// with the GOP cache it starts at the first keyframe, after a cached
// PAT/PMT, so packets before that key (an SDT, say) are not sent.
const joinLoss = 4 << 10

// waitDelivered waits, once the publisher has stopped sending, until bytes_in
// and bytes_out have stopped growing, with every one of viewers sent all of
// bytes_in but at most joinLoss. It returns bytes_in.
func (s *server) waitDelivered(t *testing.T, name string, viewers int) int64 {
	t.Helper()
	var last streamStats
	stable := 0
	waitUntil(t, 10*time.Second, fmt.Sprintf("stream %q delivered to %d viewers", name, viewers), func() bool {
		st := s.stats(t, name)
		if st.BytesIn > 0 && st.BytesIn == last.BytesIn && st.BytesOut == last.BytesOut &&
			st.BytesOut >= int64(viewers)*(st.BytesIn-joinLoss) {
			stable++
		} else {
			stable = 0
		}
		last = st
		return stable >= 5 // unchanged for 250 ms
	})
	if missed := int64(viewers)*last.BytesIn - last.BytesOut; missed != 0 {
		t.Logf("stream %q: %d viewers were sent %d bytes of %d each (%d fewer in all)",
			name, viewers, last.BytesOut, last.BytesIn, missed)
	}
	return last.BytesIn
}

// waitUntil polls cond every 50 ms until it holds, failing the test after
// timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// proc is a running ffmpeg (or other tool) whose stderr is kept.
type proc struct {
	name    string
	cmd     *exec.Cmd
	stderr  bytes.Buffer // read only after exited
	exited  chan struct{}
	waitErr error
	took    time.Duration
}

// startProc starts a tool; t.Cleanup kills it if it is still running.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(name, args...), exited: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
	dieWithTest(p.cmd)
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.took = time.Since(start)
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait waits up to timeout for the exit and returns the exit code (-1 when
// killed by a signal) and stderr.
func (p *proc) wait(t *testing.T, timeout time.Duration) (int, string) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("%s still running after %v; killed. stderr:\n%s", p.name, timeout, p.stderr.String())
	}
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(p.waitErr, &ee):
		code = ee.ExitCode()
	case p.waitErr != nil:
		t.Fatalf("%s: %v", p.name, p.waitErr)
	}
	return code, p.stderr.String()
}

// runTool runs a tool to completion within timeout and returns stdout,
// stderr and the exit code.
func runTool(t *testing.T, timeout time.Duration, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	dieWithTest(cmd)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %q: %v", name, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %q: still running after %v; killed", name, args, timeout)
	}
	return out.String(), errb.String(), code
}

// probedStream is one stream of `ffprobe -show_entries stream=…`.
type probedStream struct {
	CodecType    string `json:"codec_type"`
	CodecName    string `json:"codec_name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	NbReadFrames string `json:"nb_read_frames"`
}

// probe decodes file with ffprobe -count_frames and returns its streams by
// codec type ("video", "audio").
func probe(t *testing.T, file string) map[string]probedStream {
	t.Helper()
	out, stderr, code := runTool(t, time.Minute, "ffprobe", "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_type,codec_name,width,height,nb_read_frames", "-of", "json", file)
	if code != 0 || stderr != "" {
		t.Fatalf("ffprobe %s: exit %d, stderr:\n%s", file, code, stderr)
	}
	var res struct{ Streams []probedStream }
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("ffprobe %s: %v in %s", file, err, out)
	}
	byType := map[string]probedStream{}
	for _, st := range res.Streams {
		if _, dup := byType[st.CodecType]; dup {
			t.Fatalf("ffprobe %s: two %s streams: %s", file, st.CodecType, out)
		}
		byType[st.CodecType] = st
	}
	return byType
}
