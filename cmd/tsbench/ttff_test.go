package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// pcrPacket returns a packet of pid with an adaptation field holding pcr
// (27 MHz ticks).
func pcrPacket(pid uint16, pcr int64) []byte {
	pk := make([]byte, packetSize)
	for i := range pk {
		pk[i] = 0xFF
	}
	base, ext := pcr/300, pcr%300
	pk[0], pk[1], pk[2], pk[3] = 0x47, byte(pid>>8), byte(pid), 0x30
	pk[4], pk[5] = 7, 0x10
	pk[6], pk[7], pk[8], pk[9] = byte(base>>25), byte(base>>17), byte(base>>9), byte(base>>1)
	pk[10] = byte(base&1)<<7 | 0x7E | byte(ext>>8)
	pk[11] = byte(ext)
	return pk
}

func plainPacket(pid uint16) []byte {
	pk := make([]byte, packetSize)
	pk[0], pk[1], pk[2], pk[3] = 0x47, byte(pid>>8), byte(pid), 0x10
	return pk
}

func TestPCROf(t *testing.T) {
	for _, pcr := range []int64{0, 1, 299, 300, 27_000_000, (1<<33-1)*300 + 299} {
		got, ok := pcrOf(pcrPacket(0x100, pcr))
		if !ok || got != pcr {
			t.Errorf("pcr %d: got %d, %v", pcr, got, ok)
		}
	}
	if _, ok := pcrOf(plainPacket(0x100)); ok {
		t.Error("PCR found in a packet without adaptation field")
	}
}

// TestMediaSchedule: 70 packets, a PCR every 14 packets 100 ms apart,
// starting at packet 7; a PCR of another PID in between must be ignored.
func TestMediaSchedule(t *testing.T) {
	var b []byte
	for i := range 70 {
		switch {
		case i%14 == 7:
			b = append(b, pcrPacket(0x100, 5*27_000_000+int64(i/14)*2_700_000)...)
		case i == 10:
			b = append(b, pcrPacket(0x101, 0)...)
		default:
			b = append(b, plainPacket(0x100)...)
		}
	}
	m, err := newMedia(b)
	if err != nil {
		t.Fatal(err)
	}
	// Groups start at packets 0, 7, 14, ...: 0 up to the first PCR (packet
	// 7), then 50 ms per group; the last PCR is at packet 63 (400 ms), and
	// the file ends 7 packets later, at 450 ms.
	want := []time.Duration{0, 0, 50, 100, 150, 200, 250, 300, 350, 400}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(m.due, want) || m.length != 450*time.Millisecond {
		t.Errorf("due %v, length %v; want %v, 450ms", m.due, m.length, want)
	}
	if _, err := newMedia(b[:100]); err == nil {
		t.Error("a partial packet accepted")
	}
	if _, err := newMedia(plainPacket(0x100)); err == nil {
		t.Error("a file without PCR accepted")
	}
}

func TestJoinMoments(t *testing.T) {
	a, b := joinMoments(200, 15*time.Second, 1), joinMoments(200, 15*time.Second, 1)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave other moments")
	}
	if slices.Equal(a, joinMoments(200, 15*time.Second, 2)) {
		t.Error("another seed gave the same moments")
	}
	if lo, hi := slices.Min(a), slices.Max(a); lo < 0 || lo > 1500*time.Millisecond || hi >= 15*time.Second || hi < 13500*time.Millisecond {
		t.Errorf("moments from %v to %v, want spread over [0, 15s)", lo, hi)
	}
}

func TestTTFFFlags(t *testing.T) {
	o, err := parseFlags([]string{"-ttff"})
	if err != nil || !slices.Equal(o.viewers, []int{ttffViewers}) || !slices.Equal(o.ttff.codecs, []string{"h264", "mpeg1"}) {
		t.Errorf("-ttff: viewers %v, codecs %v, err %v; want [200], [h264 mpeg1]", o.viewers, o.ttff.codecs, err)
	}
	if o, err := parseFlags([]string{"-ttff", "-viewers", "50", "-codecs", "mpeg1"}); err != nil || o.viewers[0] != 50 || o.ttff.codecs[0] != "mpeg1" {
		t.Errorf("-viewers 50 -codecs mpeg1: %v, %v, %v", o.viewers, o.ttff.codecs, err)
	}
	if _, err := parseFlags([]string{"-ttff", "-codecs", "h265"}); err == nil {
		t.Error("-codecs h265 accepted")
	}
}

// encoded makes a 5 s input with ffmpeg (keys at 0, 2 and 4 s).
func encoded(t *testing.T, codec string) *media {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("no ffmpeg")
	}
	m, err := makeInput(t.TempDir(), codec, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestKeyframeSpans(t *testing.T) {
	m := encoded(t, "h264")
	if len(m.keyframes) != 3 {
		t.Fatalf("%d keyframes in 5s with a 2s GOP, want 3: %v", len(m.keyframes), m.keyframes)
	}
	for i, s := range m.keyframes {
		at := time.Duration(i) * 2 * time.Second
		if s.from < at-100*time.Millisecond || s.from > at+100*time.Millisecond || s.to-s.from < 10*time.Millisecond || s.to-s.from > 500*time.Millisecond {
			t.Errorf("keyframe %d sent from %v to %v; want from about %v, for 10-500ms", i, s.from, s.to, at)
		}
		for d, want := range map[time.Duration]bool{s.from: true, s.to - 1: true, s.to: false, s.to + m.length - 1: true} {
			if got := m.inKeyframe(d); got != want {
				t.Errorf("inKeyframe(%v) = %v, want %v (keyframe %v-%v, pass %v)", d, got, want, s.from, s.to, m.length)
			}
		}
	}
	if d := m.keyframeSend(); d < 10*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("mean keyframe send time %v", d)
	}
}

// TestViewerTimesFirstFrame feeds a viewer the stream from points inside a
// GOP, in frames and reads that cut packets anywhere, each read arriving 1ms
// after the previous one. The first key must be a key of the whole file,
// and the times those of the reads that completed the key's first packet
// and the next PES start of the video.
func TestViewerTimesFirstFrame(t *testing.T) {
	for _, codec := range []string{"h264", "mpeg1"} {
		m := encoded(t, codec)
		var whole mpegts.Indexer
		allKeys := slices.Clone(whole.Feed(m.data))
		video := whole.Info().Video
		if len(allKeys) < 3 || video == nil {
			t.Fatalf("%s: keys %v, video %v; want 3 keys of a video", codec, allKeys, video)
		}
		n := int64(len(m.data) / packetSize)
		for _, from := range []int64{allKeys[0], allKeys[1] - 3, allKeys[1] + 1, n / 2} {
			t.Run(fmt.Sprintf("%s from %d", codec, from), func(t *testing.T) {
				ts := m.data[from*packetSize:]
				wire, frameAt := framed(ts, 1000+int(from%333))
				const read = 777
				readOf := func(pkt int64) time.Duration { // the read that completes packet pkt
					return time.Duration(frameAt((pkt+1)*packetSize-1)/read) * time.Millisecond
				}
				v := newTTFFViewer(true)
				for i := 0; i*read < len(wire); i++ {
					if err := v.received(wire[i*read:min((i+1)*read, len(wire))], time.Duration(i)*time.Millisecond); err != nil {
						t.Fatal(err)
					}
				}
				key := slices.IndexFunc(allKeys, func(k int64) bool { return k >= from })
				// The key after from, or the next one if the PAT and PMT
				// came only after the first.
				if !v.measured || key < 0 || !slices.Contains(allKeys[key:min(key+2, len(allKeys))], v.key+from) {
					t.Fatalf("from packet %d: measured %v, key %d; want a key of %v", from, v.measured, v.key+from, allKeys)
				}
				next := v.key + 1
				for ; next < int64(len(ts)/packetSize); next++ {
					pk := ts[next*packetSize:]
					if pk[1]&0x40 != 0 && int(pk[1]&0x1F)<<8|int(pk[2]) == video.PID {
						break
					}
				}
				if v.firstKey != readOf(v.key) || v.ttff != readOf(next) {
					t.Errorf("from packet %d: first key %v, TTFF %v; want %v (packet %d), %v (packet %d)",
						from, v.firstKey, v.ttff, readOf(v.key), v.key, readOf(next), next)
				}
				if !slices.Equal(v.capture, ts[:len(v.capture)]) || len(ts)-len(v.capture) >= packetSize {
					t.Errorf("captured %d bytes, not the %d sent", len(v.capture), len(ts))
				}
				if v.codec != video.Codec {
					t.Errorf("codec %q, want %q", v.codec, video.Codec)
				}
			})
		}
	}
}

// framed wraps ts in binary WebSocket frames of size bytes (the last one
// shorter), and returns the wire and a function giving the wire offset of
// a byte of ts.
func framed(ts []byte, size int) ([]byte, func(int64) int64) {
	var wire []byte
	var payloadAt []int64 // wire offset of each frame's payload
	for p := ts; len(p) > 0; {
		n := min(size, len(p))
		f := frame(opBinary, true, p[:n])
		payloadAt = append(payloadAt, int64(len(wire)+len(f)-n))
		wire = append(wire, f...)
		p = p[n:]
	}
	return wire, func(b int64) int64 { return payloadAt[b/int64(size)] + b%int64(size) }
}

func TestDecodeFile(t *testing.T) {
	m := encoded(t, "h264")
	dir := t.TempDir()
	var x mpegts.Indexer
	keys := x.Feed(m.data)
	cases := []struct {
		name     string
		from, to int64 // packets
		ok       bool
	}{
		{"from a key", keys[1], keys[2], true},
		{"mid-GOP", keys[1] + 100, keys[2] + 20, false},
		{"too short", keys[1], keys[1] + 100, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".ts")
			if err := os.WriteFile(path, m.data[c.from*packetSize:c.to*packetSize], 0o644); err != nil {
				t.Fatal(err)
			}
			if err := decodeFile(path, decodeFrames); (err == nil) != c.ok {
				t.Errorf("decode error %v, want ok %v", err, c.ok)
			}
		})
	}
}
