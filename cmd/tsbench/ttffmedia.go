package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// The -ttff input is a real encoded stream, made once per codec by ffmpeg
// and published in real time: each 7-packet group is written when the
// file's PCR says its first packet is due. The PCR is read from the first
// PID that carries one; packets between two PCRs are due at times
// interpolated by packet count, packets before the first PCR at once, and
// packets after the last one at the file's mean rate.

// ttffEncoders are ffmpeg's video options per -codecs name.
var ttffEncoders = map[string][]string{
	"h264": {"-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
		"-bf", "0", "-b:v", "2M", "-maxrate", "2M", "-bufsize", "1M"},
	"mpeg1": {"-c:v", "mpeg1video", "-b:v", "2M", "-g", "50", "-bf", "0"},
}

// media is a TS file and when each of its groups is due.
type media struct {
	data      []byte
	due       []time.Duration // of each group, from the first PCR
	length    time.Duration   // one pass over the file
	keyframes []span          // while each keyframe is being sent
}

// span is a stretch of a pass over the file, from due time to due time.
type span struct{ from, to time.Duration }

func (m *media) kbps() float64 { return float64(len(m.data)) * 8 / m.length.Seconds() / 1e3 }

// group returns the bytes of group i (the last one may be short).
func (m *media) group(i int) []byte {
	return m.data[i*groupBytes : min((i+1)*groupBytes, len(m.data))]
}

// makeInput encodes length of testsrc with codec into dir and reads it.
func makeInput(dir, codec string, length time.Duration) (*media, error) {
	path := filepath.Join(dir, codec+".ts")
	args := []string{"-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=640x480:rate=25",
		"-t", strconv.FormatFloat(length.Seconds(), 'f', -1, 64)}
	args = append(append(args, ttffEncoders[codec]...), "-f", "mpegts", path)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := newMedia(b)
	if err != nil {
		return nil, err
	}
	return m, m.findKeyframes()
}

// findKeyframes sets m.keyframes: each one is sent from the group of its
// first packet up to the group of the next PES start of the video.
func (m *media) findKeyframes() error {
	var x mpegts.Indexer
	keys := slices.Clone(x.Feed(m.data))
	video := x.Info().Video
	if video == nil || len(keys) == 0 {
		return errors.New("the input has no video keyframes that mpegts.Indexer finds")
	}
	n := int64(len(m.data) / packetSize)
	for _, k := range keys {
		next := k + 1
		for ; next < n; next++ {
			pk := m.data[next*packetSize:]
			if pk[1]&0x40 != 0 && int(pk[1]&0x1F)<<8|int(pk[2]) == video.PID {
				break
			}
		}
		m.keyframes = append(m.keyframes, span{m.dueOf(k), m.dueOf(next)})
	}
	return nil
}

func (m *media) dueOf(pkt int64) time.Duration {
	if g := int(pkt / groupPackets); g < len(m.due) {
		return m.due[g]
	}
	return m.length
}

// inKeyframe reports whether d after the start of play falls while a
// keyframe is being sent.
func (m *media) inKeyframe(d time.Duration) bool {
	d %= m.length
	for _, s := range m.keyframes {
		if d >= s.from && d < s.to {
			return true
		}
	}
	return false
}

// keyframeSend is the mean time a keyframe takes to send.
func (m *media) keyframeSend() time.Duration {
	var sum time.Duration
	for _, s := range m.keyframes {
		sum += s.to - s.from
	}
	return sum / time.Duration(max(len(m.keyframes), 1))
}

// newMedia works out when each group of b is due from its PCRs.
func newMedia(b []byte) (*media, error) {
	n := len(b) / packetSize
	if n == 0 || len(b)%packetSize != 0 {
		return nil, fmt.Errorf("input of %d bytes is not whole TS packets", len(b))
	}
	type point struct {
		pkt int
		pcr int64 // 27 MHz ticks
	}
	var pts []point
	pcrPID := -1
	for i := range n {
		p := b[i*packetSize : (i+1)*packetSize]
		if p[0] != 0x47 {
			return nil, fmt.Errorf("input packet %d has no sync byte", i)
		}
		pid := int(p[1]&0x1F)<<8 | int(p[2])
		pcr, ok := pcrOf(p)
		if !ok || pcrPID >= 0 && pid != pcrPID {
			continue
		}
		pcrPID = pid
		if len(pts) > 0 && pcr <= pts[len(pts)-1].pcr {
			continue // not after the last one: a wrap or a glitch
		}
		pts = append(pts, point{i, pcr})
	}
	if len(pts) < 2 {
		return nil, fmt.Errorf("input has %d usable PCRs; want at least 2", len(pts))
	}
	first, last := pts[0], pts[len(pts)-1]
	ticks := func(pcr int64) time.Duration { return time.Duration((pcr - first.pcr) * 1000 / 27) }
	perPacket := float64(ticks(last.pcr)) / float64(last.pkt-first.pkt)
	at := func(pkt int) time.Duration {
		switch {
		case pkt <= first.pkt:
			return 0
		case pkt >= last.pkt:
			return ticks(last.pcr) + time.Duration(float64(pkt-last.pkt)*perPacket)
		}
		j := 1
		for pts[j].pkt < pkt {
			j++
		}
		a, z := pts[j-1], pts[j]
		return ticks(a.pcr) + time.Duration(float64(ticks(z.pcr)-ticks(a.pcr))*float64(pkt-a.pkt)/float64(z.pkt-a.pkt))
	}
	m := &media{data: b, length: at(n)}
	for i := 0; i < n; i += groupPackets {
		m.due = append(m.due, at(i))
	}
	return m, nil
}

// pcrOf returns the PCR of packet p in 27 MHz ticks, if it has one:
// adaptation field with PCR_flag, then base (33 bits), 6 reserved bits and
// extension (9 bits).
func pcrOf(p []byte) (int64, bool) {
	if p[3]&0x20 == 0 || p[4] < 7 || p[5]&0x10 == 0 {
		return 0, false
	}
	f := p[6:12]
	base := int64(f[0])<<25 | int64(f[1])<<17 | int64(f[2])<<9 | int64(f[3])<<1 | int64(f[4])>>7
	ext := int64(f[4]&1)<<8 | int64(f[5])
	return base*300 + ext, true
}

// playResult is what play sent.
type playResult struct {
	start    time.Time // of the first pass: the due times are from here
	bytes    int64
	loops    int           // times the file started again (the relay sees a discontinuity)
	maxWrite time.Duration // longest single write
	err      error
}

// play publishes m to the TCP ingest at addr in real time until stop is
// closed, starting over at the end of the file. connected is called once
// the connection is up.
func play(addr string, m *media, stop <-chan struct{}, connected func()) playResult {
	var res playResult
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		res.err = fmt.Errorf("publisher: %w", err)
		return res
	}
	defer conn.Close()
	connected()
	t0 := time.Now()
	res.start = t0
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	g := 0
	for {
		el := time.Since(t0)
		for time.Duration(res.loops)*m.length+m.due[g] <= el {
			b := m.group(g)
			w0 := time.Now()
			conn.SetWriteDeadline(w0.Add(5 * time.Second))
			if _, err := conn.Write(b); err != nil {
				res.err = fmt.Errorf("publisher: write after %d bytes: %w", res.bytes, err)
				return res
			}
			res.maxWrite = max(res.maxWrite, time.Since(w0))
			res.bytes += int64(len(b))
			if g++; g == len(m.due) {
				g, res.loops = 0, res.loops+1
			}
		}
		select {
		case <-stop:
			return res
		case <-ticker.C:
		}
	}
}

// decodeCaptures writes the bytes of each viewer that kept them to
// prefix-N.ts and decodes them. It returns how many it checked and how
// many failed; the first failures are logged.
func decodeCaptures(vs []*ttffViewer, prefix string) (checked, failed int) {
	for i, v := range vs {
		if v.capture == nil || !v.measured {
			continue
		}
		path := fmt.Sprintf("%s-%d.ts", prefix, i)
		err := os.WriteFile(path, v.capture, 0o644)
		if err == nil {
			err = decodeFile(path, decodeFrames)
		}
		checked++
		if err != nil {
			failed++
			if failed <= 3 {
				logf("decode check of viewer %d (%d bytes, TTFF %v): %v", i, len(v.capture), v.ttff.Round(time.Millisecond), err)
			}
		}
	}
	return checked, failed
}

// decodeFile decodes the first frames video frames of a TS file with
// ffmpeg. It fails if ffmpeg fails, writes anything to stderr (it logs
// errors only), or yields fewer frames.
func decodeFile(path string, frames int) error {
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path,
		"-frames:v", strconv.Itoa(frames), "-f", "framecrc", "-")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if msg := bytes.TrimSpace(stderr.Bytes()); err != nil || len(msg) > 0 {
		return fmt.Errorf("ffmpeg: %v: %q", err, firstLines(msg, 3))
	}
	got := 0
	for line := range strings.SplitSeq(stdout.String(), "\n") {
		if strings.HasPrefix(line, "0,") { // stream 0: the video
			got++
		}
	}
	if got < frames {
		return fmt.Errorf("ffmpeg decoded %d video frames, want %d", got, frames)
	}
	return nil
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], " | ")
}
