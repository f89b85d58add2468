package mpegts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The vectors in testdata were made with ffmpeg 6 (libx264, libx265):
//
//	ffmpeg -f lavfi -i testsrc=size=320x240:rate=25 -t 2 -c:v mpeg1video -bf 0 -g 12 -f mpegts mpeg1.ts
//	ffmpeg -f lavfi -i testsrc=size=352x288:rate=30000/1001 -t 1 -c:v mpeg2video -g 15 -bf 2 -f mpegts mpeg2.ts
//	ffmpeg -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 2 \
//	    -c:v libx264 -g 25 -bf 0 -pix_fmt yuv420p -c:a aac -b:a 64k -f mpegts h264_aac.ts
//	ffmpeg -f lavfi -i testsrc=size=320x240:rate=25 -t 2 -c:v libx265 -x265-params keyint=25 -pix_fmt yuv420p -f mpegts h265.ts
//	ffmpeg -f lavfi -i sine=frequency=440:sample_rate=44100 -t 2 -c:a mp2 -b:a 128k -f mpegts mp2.ts
//
// The keys are the packet numbers (pos/188) of the packets that ffprobe
// flags K (`ffprobe -show_entries packet=pos,flags`), for mp2 of every
// audio packet; TestKeysMatchFFprobe checks them again where ffprobe is.
var vectors = []struct {
	file    string
	keys    []int64
	video   *Video
	streams []ES
}{
	{"mpeg1.ts", []int64{3, 128, 250, 374, 495}, &Video{PID: 256, Codec: "mpeg1video", Width: 320, Height: 240, FrameRate: 25},
		[]ES{{256, 0x02, "mpeg2video", KindVideo}}}, // sic: ffmpeg's stream_type for MPEG-1 video
	{"mpeg2.ts", []int64{3, 164, 334}, &Video{PID: 256, Codec: "mpeg2video", Width: 352, Height: 288, FrameRate: 30000.0 / 1001},
		[]ES{{256, 0x02, "mpeg2video", KindVideo}}},
	{"h264_aac.ts", []int64{3, 139}, &Video{PID: 256, Codec: "h264", Width: 320, Height: 240, FrameRate: 25},
		[]ES{{256, 0x1b, "h264", KindVideo}, {257, 0x0f, "aac", KindAudio}}},
	{"h265.ts", []int64{3, 74}, &Video{PID: 256, Codec: "h265", Width: 320, Height: 240, FrameRate: 25},
		[]ES{{256, 0x24, "h265", KindVideo}}},
	{"mp2.ts", []int64{3, 22, 41, 61, 80, 99, 119, 138, 157, 177, 196}, nil,
		[]ES{{256, 0x03, "mp2", KindAudio}}},
}

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// feedChunks feeds b to x in chunks of n packets and returns all keys.
func feedChunks(x *Indexer, b []byte, n int) []int64 {
	var keys []int64
	for len(b) > 0 {
		k := min(n*PacketSize, len(b))
		keys = append(keys, x.Feed(b[:k])...)
		b = b[k:]
	}
	return keys
}

func TestIndexerVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.file, func(t *testing.T) {
			b := readVector(t, v.file)
			for _, chunk := range []int{len(b) / PacketSize, 1, 7, 100} {
				var x Indexer
				if keys := feedChunks(&x, b, chunk); !slices.Equal(keys, v.keys) {
					t.Errorf("%d packets a call: keys %v, want %v", chunk, keys, v.keys)
				}
				want := Info{
					Programs:       []Program{{Number: 1, PMTPID: 0x1000, PCRPID: 256, Streams: v.streams}},
					PCRPID:         256,
					Video:          v.video,
					Keys:           int64(len(v.keys)),
					LastGOPPackets: v.keys[len(v.keys)-1] - v.keys[len(v.keys)-2],
				}
				if got := x.Info(); !reflect.DeepEqual(got, want) {
					t.Errorf("%d packets a call: Info() = %+v, video %+v\nwant %+v, video %+v", chunk, got, got.Video, want, want.Video)
				}
				// ffmpeg writes an SDT, the PAT and the PMT as the first packets.
				if !bytes.Equal(x.PSI(), b[PacketSize:3*PacketSize]) || x.PSIVersion() != 1 {
					t.Errorf("PSI() is not packets 1 and 2, or version %d != 1", x.PSIVersion())
				}
				if x.NeedsKey() != (v.video != nil) {
					t.Errorf("NeedsKey() = %v", x.NeedsKey())
				}
			}
		})
	}
}

// TestKeysMatchFFprobe checks the vectors' keys against what ffprobe says
// on this machine.
func TestKeysMatchFFprobe(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("no ffprobe")
	}
	for _, v := range vectors {
		t.Run(v.file, func(t *testing.T) {
			streams := "v"
			if v.video == nil {
				streams = "a"
			}
			out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", streams,
				"-show_entries", "packet=pos,flags", "-of", "csv=p=0", filepath.Join("testdata", v.file)).Output()
			if err != nil {
				t.Fatal(err)
			}
			var keys []int64
			for _, line := range strings.Fields(string(out)) {
				pos, flags, _ := strings.Cut(line, ",")
				if pos == "N/A" { // a packet of the same PES as the last
					continue
				}
				n, err := strconv.ParseInt(pos, 10, 64)
				if err != nil || n%PacketSize != 0 {
					t.Fatalf("ffprobe line %q", line)
				}
				if strings.Contains(flags, "K") {
					keys = append(keys, n/PacketSize)
				}
			}
			if !slices.Equal(keys, v.keys) {
				t.Errorf("ffprobe keys %v, vector says %v", keys, v.keys)
			}
		})
	}
}

// isVideoStart reports whether packet k of b starts a PES on PID 256.
func isVideoStart(b []byte, k int64) bool {
	p := b[k*PacketSize:]
	return p[1]&0x40 != 0 && int(p[1]&0x1f)<<8|int(p[2]) == 256
}

// TestDecodeAtEveryKey is the property the relay's GOP cache rests on: a
// viewer that gets PSI() and then the stream from a key decodes its first
// frame without a single error.
func TestDecodeAtEveryKey(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("no ffmpeg")
	}
	for _, v := range vectors {
		if v.video == nil {
			continue
		}
		t.Run(v.file, func(t *testing.T) {
			t.Parallel()
			b := readVector(t, v.file)
			var x Indexer
			for n := int64(0); n < int64(len(b)/PacketSize); n++ {
				for _, k := range x.Feed(b[n*PacketSize : (n+1)*PacketSize]) {
					cut := slices.Concat(x.PSI(), b[k*PacketSize:])
					if msg := decodeFirstFrame(t, cut, v.video.Width*v.video.Height); msg != "" {
						t.Errorf("cut at key %d: %s", k, msg)
					}
				}
			}
			// The check can fail: a cut at the first video PES that is not
			// a key does not decode cleanly.
			k := v.keys[0] + 1
			for !isVideoStart(b, k) {
				k++
			}
			if msg := decodeFirstFrame(t, slices.Concat(x.PSI(), b[k*PacketSize:]), v.video.Width*v.video.Height); msg == "" {
				t.Errorf("cut at packet %d, not a key, decodes cleanly: the check proves nothing", k)
			}
		})
	}
}

// decodeFirstFrame has ffmpeg decode the first video frame of ts and
// returns what went wrong, or "".
func decodeFirstFrame(t *testing.T, ts []byte, lumaSize int) string {
	t.Helper()
	run := func(args ...string) (stdout []byte, stderr string) {
		cmd := exec.Command("ffmpeg", append([]string{"-nostdin", "-v", "error", "-f", "mpegts", "-i", "pipe:0"}, args...)...)
		cmd.Stdin = bytes.NewReader(ts)
		var errBuf bytes.Buffer
		cmd.Stderr = &errBuf
		out, err := cmd.Output()
		if err != nil && errBuf.Len() == 0 {
			errBuf.WriteString(err.Error())
		}
		return out, errBuf.String()
	}
	if _, stderr := run("-frames:v", "1", "-f", "null", "-"); stderr != "" {
		return "ffmpeg says: " + stderr
	}
	frame, stderr := run("-map", "0:v:0", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1")
	if stderr != "" || len(frame) != lumaSize {
		return "raw frame of " + strconv.Itoa(len(frame)) + " bytes, want " + strconv.Itoa(lumaSize) + "; " + stderr
	}
	return ""
}

// TestNewSessionInStream feeds one vector after another, as when a publisher
// restarts ffmpeg with another codec: the PMT changes, and so do PSI, the
// video and the keys.
func TestNewSessionInStream(t *testing.T) {
	h264, mpeg1 := readVector(t, "h264_aac.ts"), readVector(t, "mpeg1.ts")
	var x Indexer
	x.Feed(h264)
	keys := x.Feed(mpeg1)
	off := int64(len(h264) / PacketSize)
	want := []int64{off + 3, off + 128, off + 250, off + 374, off + 495}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	in := x.Info()
	if x.PSIVersion() != 2 || !bytes.Equal(x.PSI()[PacketSize:], mpeg1[2*PacketSize:3*PacketSize]) {
		t.Errorf("PSIVersion() = %d, want 2 with the new PMT", x.PSIVersion())
	}
	if in.Video == nil || in.Video.Codec != "mpeg1video" || in.Keys != 7 {
		t.Errorf("Info() = %+v, video %+v", in, in.Video)
	}
	// SDT, PAT, PMT and video counters all jump where the files meet;
	// audio PID 257 is gone.
	if in.ContinuityErrors != 4 {
		t.Errorf("ContinuityErrors = %d, want 4", in.ContinuityErrors)
	}
}

func TestContinuity(t *testing.T) {
	type pkt struct {
		cc      byte
		payload bool
		disc    bool
	}
	tests := []struct {
		name string
		pkts []pkt
		want int64
	}{
		{"in order, wrapping", []pkt{{14, true, false}, {15, true, false}, {0, true, false}}, 0},
		{"one lost", []pkt{{1, true, false}, {3, true, false}}, 1},
		{"duplicate allowed once", []pkt{{1, true, false}, {1, true, false}, {2, true, false}}, 0},
		{"second duplicate", []pkt{{1, true, false}, {1, true, false}, {1, true, false}}, 1},
		{"adaptation only keeps the counter", []pkt{{1, true, false}, {1, false, false}, {2, true, false}}, 0},
		{"adaptation only with a new counter", []pkt{{1, true, false}, {2, false, false}}, 1},
		{"discontinuity_indicator", []pkt{{1, true, false}, {9, true, true}, {10, true, false}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var x Indexer
			for _, p := range tc.pkts {
				for _, pid := range []int{0x123, pidNull} {
					b := packet(pid, false, p.cc, nil)
					b[3] = 0x20 | p.cc // adaptation field only
					if p.payload {
						b[3] = 0x30 | p.cc
					}
					b[4], b[5] = 1, 0
					if p.disc {
						b[5] = 0x80
					}
					x.Feed(b)
				}
			}
			if got := x.Info().ContinuityErrors; got != tc.want {
				t.Errorf("ContinuityErrors = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestFeedAllocs(t *testing.T) {
	for _, v := range vectors {
		b := readVector(t, v.file)
		var x Indexer
		x.Feed(b) // PSI known, keys slice grown
		off := 0
		allocs := testing.AllocsPerRun(500, func() {
			if off+7*PacketSize > len(b) {
				off = 0
			}
			x.Feed(b[off : off+7*PacketSize])
			off += 7 * PacketSize
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Feed of 7 packets", v.file, allocs)
		}
	}
}

func BenchmarkIndexer(b *testing.B) {
	for _, v := range vectors {
		b.Run(v.file, func(b *testing.B) {
			ts := readVector(b, v.file)
			var x Indexer
			b.SetBytes(int64(len(ts)))
			b.ReportAllocs()
			for b.Loop() {
				for p := ts; len(p) > 0; {
					n := min(7*PacketSize, len(p))
					x.Feed(p[:n])
					p = p[n:]
				}
			}
		})
	}
}

func FuzzIndexer(f *testing.F) {
	for _, v := range vectors {
		b := readVector(f, v.file)
		// Small seeds: the fuzzer minimizes each new input, which is slow
		// for big ones. The first packets hold the PSI and a key's start.
		f.Add(b[:8*PacketSize], uint8(7))
		f.Add(b[v.keys[1]*PacketSize-2*PacketSize:][:6*PacketSize], uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		b := make([]byte, (len(data)+PacketSize-1)/PacketSize*PacketSize)
		copy(b, data)
		for i := 0; i < len(b); i += PacketSize {
			b[i] = SyncByte
		}
		var whole, split Indexer
		keys := slices.Clone(whole.Feed(b))
		if got := feedChunks(&split, b, 1+int(chunk)%16); !slices.Equal(got, keys) {
			t.Errorf("fed in chunks of %d packets: keys %v, at once %v", 1+int(chunk)%16, got, keys)
		}
		n := int64(len(b) / PacketSize)
		for i, k := range keys {
			if k < 0 || k >= n || i > 0 && k <= keys[i-1] {
				t.Fatalf("keys %v: not increasing within [0, %d)", keys, n)
			}
		}
		if !bytes.Equal(whole.PSI(), split.PSI()) || !reflect.DeepEqual(whole.Info(), split.Info()) {
			t.Errorf("PSI or Info depend on the split")
		}
		if len(whole.PSI())%PacketSize != 0 {
			t.Errorf("PSI() of %d bytes", len(whole.PSI()))
		}
	})
}

// TestKeyOpen: after a key, KeyOpen holds until the next PES of that PID
// starts, when the keyframe is whole.
func TestKeyOpen(t *testing.T) {
	data := readVector(t, "h264_aac.ts")
	var x Indexer
	var key int64 = -1
	checked := 0
	for n := int64(0); n*PacketSize < int64(len(data)); n++ {
		p := data[n*PacketSize : (n+1)*PacketSize]
		if keys := x.Feed(p); len(keys) > 0 {
			key = keys[len(keys)-1]
		}
		if key < 0 {
			continue
		}
		kp := data[key*PacketSize:]
		samePID := p[1]&0x1f == kp[1]&0x1f && p[2] == kp[2]
		if samePID && p[1]&0x40 != 0 && n > key {
			if x.KeyOpen() {
				t.Fatalf("packet %d starts the PES after the key at %d, KeyOpen still true", n, key)
			}
			checked++
			key = -1
		} else if !x.KeyOpen() {
			t.Fatalf("packet %d: KeyOpen false before the keyframe at %d ended", n, key)
		}
	}
	if checked < 2 {
		t.Fatalf("checked %d keyframe ends, want at least 2", checked)
	}
}
