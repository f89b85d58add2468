package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// publishSeconds and publishRate make every publish 125 frames long.
const (
	publishSeconds = 5
	publishRate    = 25
)

// codec is what ffmpeg encodes and what the viewer must find.
type codec struct {
	name          string
	input         []string // ffmpeg input options
	encode        []string // ffmpeg output options before -f mpegts
	video         string   // ffprobe codec_name of the video
	width, height int
	audio         string // ffprobe codec_name of the audio, "" for none
}

var (
	mpeg1 = codec{
		name: "mpeg1",
		input: []string{"-f", "lavfi", "-i",
			fmt.Sprintf("testsrc=size=640x480:rate=%d:duration=%d", publishRate, publishSeconds)},
		encode: []string{"-codec:v", "mpeg1video", "-b:v", "1000k", "-bf", "0"},
		video:  "mpeg1video", width: 640, height: 480,
	}
	h264aac = codec{
		name: "h264-aac",
		input: []string{
			"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=320x240:rate=%d:duration=%d", publishRate, publishSeconds),
			"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%d", publishSeconds),
		},
		encode: []string{"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-c:a", "aac"},
		video:  "h264", width: 320, height: 240,
		audio: "aac",
	}
)

// publishArgs is the ffmpeg command line that publishes c, in real time, to
// target; extra goes just before the target (protocol options).
func publishArgs(c codec, target string, extra ...string) []string {
	args := []string{"-nostdin", "-loglevel", "error", "-xerror", "-re"}
	args = append(args, c.input...)
	args = append(args, c.encode...)
	args = append(args, "-f", "mpegts")
	args = append(args, extra...)
	return append(args, target)
}

// TestPublishAndPlay publishes each codec over every ingest while an ffmpeg
// viewer, connected before the publisher, decodes the HTTP-TS play URL and
// keeps a copy that ffprobe then counts.
func TestPublishAndPlay(t *testing.T) {
	requireFFmpeg(t)
	type ingest struct {
		name   string
		stream string                 // the stream the ingest feeds
		target func(s *server) string // ffmpeg output URL
		extra  []string               // ffmpeg protocol options
	}
	ingests := []ingest{
		{name: "tcp", stream: "live", target: func(s *server) string { return "tcp://" + s.TCP }},
		{name: "udp", stream: "live", target: func(s *server) string { return "udp://" + s.UDP + "?pkt_size=1316" }},
		{name: "http-post", stream: "cam-post", target: func(s *server) string { return "http://" + s.HTTP + "/publish/cam-post" }},
	}
	type tcase struct {
		codec  codec
		ingest ingest
	}
	var cases []tcase
	for _, c := range []codec{mpeg1, h264aac} {
		for _, in := range ingests {
			cases = append(cases, tcase{c, in})
		}
	}
	cases = append(cases, tcase{mpeg1, ingest{name: "http-put", stream: "cam-put",
		target: func(s *server) string { return "http://" + s.HTTP + "/publish/cam-put" },
		extra:  []string{"-method", "PUT"}}})

	for _, tc := range cases {
		t.Run(tc.codec.name+"/"+tc.ingest.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t)
			out := filepath.Join(t.TempDir(), "viewer.ts")
			// The viewer decodes what it receives (decode errors are logged at
			// level error) and keeps the stream as received for ffprobe.
			viewer := startProc(t, "ffmpeg", "-nostdin", "-v", "error",
				"-i", "http://"+s.HTTP+"/live/"+tc.ingest.stream+".ts",
				"-map", "0", "-f", "null", "-",
				"-map", "0", "-c", "copy", "-f", "mpegts", out)
			s.waitLog(t, 10*time.Second, `msg="viewer connected"`, "stream="+tc.ingest.stream, "protocol=http")

			pub := startProc(t, "ffmpeg", publishArgs(tc.codec, tc.ingest.target(s), tc.ingest.extra...)...)
			if code, stderr := pub.wait(t, 30*time.Second); code != 0 || stderr != "" {
				t.Fatalf("publisher: exit %d, stderr:\n%s\nserver:\n%s", code, stderr, s.log)
			}
			s.waitDelivered(t, tc.ingest.stream, 1)
			if err := s.stop(5 * time.Second); err != nil {
				t.Fatalf("tsstream: %v\n%s", err, s.log)
			}
			// The end of the HTTP-TS response is the viewer's end of input.
			code, stderr := viewer.wait(t, 10*time.Second)
			if code != 0 || stderr != "" {
				t.Fatalf("viewer: exit %d, want 0 and no errors; stderr:\n%s", code, stderr)
			}

			streams := probe(t, out)
			checkVideo(t, streams["video"], tc.codec)
			audio, ok := streams["audio"]
			switch {
			case tc.codec.audio == "" && ok:
				t.Errorf("audio stream %q in the played copy; none was published", audio.CodecName)
			case tc.codec.audio != "" && (!ok || audio.CodecName != tc.codec.audio):
				t.Errorf("audio codec %q, want %q", audio.CodecName, tc.codec.audio)
			}
			if got := s.log.matching(`msg="publisher disconnected"`, "stream="+tc.ingest.stream); tc.ingest.name != "udp" && len(got) != 1 {
				t.Errorf("want one publisher disconnected line for %q, got %q", tc.ingest.stream, got)
			}
		})
	}
}

// checkVideo compares the played video with what c published: codec, size
// and a frame count within 10 %.
func checkVideo(t *testing.T, v probedStream, c codec) {
	t.Helper()
	if v.CodecName != c.video || v.Width != c.width || v.Height != c.height {
		t.Errorf("video %s %dx%d, want %s %dx%d", v.CodecName, v.Width, v.Height, c.video, c.width, c.height)
	}
	frames, err := strconv.Atoi(strings.TrimSpace(v.NbReadFrames))
	if err != nil {
		t.Fatalf("video frame count %q: %v", v.NbReadFrames, err)
	}
	want := publishSeconds * publishRate
	if d := frames - want; d*10 > want || -d*10 > want {
		t.Errorf("decoded %d video frames, want %d ± 10%%", frames, want)
	}
	t.Logf("%s: %d of %d frames, %s %dx%d", c.name, frames, want, v.CodecName, v.Width, v.Height)
}

// TestHTTPPublishConflict publishes twice to one HTTP stream: while the
// first ffmpeg is live, a second publisher is refused with 409 and the
// first goes on undisturbed.
func TestHTTPPublishConflict(t *testing.T) {
	requireFFmpeg(t)
	s := startServer(t)
	target := "http://" + s.HTTP + "/publish/dup"
	long := mpeg1
	long.input = []string{"-f", "lavfi", "-i", "testsrc=size=640x480:rate=25:duration=8"}
	first := startProc(t, "ffmpeg", publishArgs(long, target)...)
	s.waitLog(t, 10*time.Second, `msg="publisher connected"`, "stream=dup", "protocol=http")

	t.Run("status 409", func(t *testing.T) {
		// Like ffmpeg: a chunked POST without "Expect: 100-continue", one
		// packet sent and more to come. The refusal must not wait for more
		// of the body.
		conn, err := net.Dial("tcp", s.HTTP)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		packet := append([]byte{0x47, 0x1f, 0xff, 0x10}, bytes.Repeat([]byte{0xff}, 184)...)
		req := "POST /publish/dup HTTP/1.1\r\nHost: " + s.HTTP + "\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n", len(packet), packet)
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("second publisher got no answer within 3s: %v (the refusal waits for more of the request body)", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "already has a publisher") {
			t.Errorf("second publisher got %s %q, want 409 naming the live publisher", resp.Status, body)
		}
	})
	t.Run("second ffmpeg", func(t *testing.T) {
		second := startProc(t, "ffmpeg", publishArgs(mpeg1, target)...)
		code, stderr := second.wait(t, 15*time.Second)
		if code == 0 {
			t.Errorf("second ffmpeg exited 0 after %v; want a failure. stderr:\n%s", second.took, stderr)
		}
		select {
		case <-first.exited:
			t.Errorf("second ffmpeg ended after the first (%v): it was not refused while the first was live", second.took)
		default:
		}
		// Refused at once, it must not stream on into the void for seconds.
		if second.took > 2*time.Second {
			t.Errorf("second ffmpeg failed only after %v, want within 2s of its start", second.took)
		}
		refused := s.log.matching(`msg="publisher refused"`, "stream=dup", "protocol=http")
		if len(refused) != 2 {
			t.Errorf("want 2 publisher refused lines for dup (raw POST, second ffmpeg), got %d:\n%s", len(refused), s.log)
		}
		t.Logf("second ffmpeg: exit %d after %v: %s", code, second.took, strings.TrimSpace(stderr))
	})

	if code, stderr := first.wait(t, 20*time.Second); code != 0 || stderr != "" {
		t.Errorf("first publisher: exit %d, stderr:\n%s", code, stderr)
	}
	ended := s.waitLog(t, 5*time.Second, `msg="publisher disconnected"`, "stream=dup")
	if !strings.Contains(ended, `reason="publisher closed"`) {
		t.Errorf("first publisher ended with %q, want reason=\"publisher closed\"", ended)
	}
	if n := len(s.log.matching(`msg="publisher connected"`, "stream=dup")); n != 1 {
		t.Errorf("%d publishers accepted on dup, want 1", n)
	}
}
