package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The -ttff mode: time to first decodable frame. For each codec, ffmpeg
// encodes a test pattern once (ttffmedia.go); then, per viewer count, two
// fresh relays in turn, GOP cache on (default configuration) and off (a
// configuration file with stream_defaults.gop_cache "off"), get the same
// file published in real time over TCP, and V WebSocket viewers join at the
// same random moments spread over -spread. Each viewer measures when it
// could show a picture (ttffviewer.go).

const ttffUsage = `Time-to-first-frame mode (-ttff): for each codec of -codecs, ffmpeg encodes testsrc 640x480 at
25 fps with a 2 s GOP once (h264: libx264 veryfast, no B-frames, 2 Mbit/s max; mpeg1: mpeg1video
2 Mbit/s, no B-frames). For each -viewers count (default 200 in this mode) the file is published in
real time (paced by its PCR, 7 packets per write) to a fresh relay, GOP cache on, then to another,
GOP cache off (-config with stream_defaults.gop_cache: "off"). After -warmup, the viewers join
/ws/live at uniformly random moments over -spread (the same moments in both runs). A viewer's TTFF
is from just before its TCP connect to the arrival of the first video PES start after its first
keyframe (the keyframe then is whole); no keyframe within 5 s counts as failed. Each viewer leaves
1 s after its TTFF. The first -decode viewers of each run stay 2 s after it and all the bytes they
got are decoded with 'ffmpeg -v error -i f.ts -frames:v 10 -f framecrc -': any stderr, or fewer
than 10 frames, is a decode error. Viewers that join while the publisher is still sending a
keyframe wait for its end even with the cache: they are counted (joined_mid_keyframe) and left
out of ttff_p99_whole_key_ms. One JSON line per run. Uses -bin, -viewers, -warmup; ignores -rate,
-duration, -tail, -parallel.
`

const (
	ttffViewers  = 200             // -viewers in -ttff mode unless given
	ttffTimeout  = 5 * time.Second // a viewer without a whole keyframe by then has failed
	ttffHold     = time.Second     // a viewer stays this long after its TTFF
	decodeHold   = 2 * time.Second // ... or this long if its bytes are decoded
	decodeFrames = 10
)

// ttffOptions are the flags of the -ttff mode.
type ttffOptions struct {
	on     bool
	codecs []string
	spread time.Duration
	decode int
	seed   uint64
	keep   bool

	codecList string
}

func (t *ttffOptions) flags(fs *flag.FlagSet) {
	fs.BoolVar(&t.on, "ttff", false, "measure time to first decodable frame, GOP cache on and off (see above)")
	fs.StringVar(&t.codecList, "codecs", "h264,mpeg1", "-ttff: comma-separated `codecs` of the input (h264, mpeg1), two runs each")
	fs.DurationVar(&t.spread, "spread", 15*time.Second, "-ttff: viewers join at random over this long")
	fs.IntVar(&t.decode, "decode", 5, "-ttff: viewers per run whose first bytes are decoded by ffmpeg")
	fs.Uint64Var(&t.seed, "seed", 1, "-ttff: seed of the viewers' join moments")
	fs.BoolVar(&t.keep, "keep", false, "-ttff: keep the temporary directory (input, configuration, decoded captures)")
}

func (t *ttffOptions) check() error {
	if !t.on {
		return nil
	}
	t.codecs = nil
	for c := range strings.SplitSeq(t.codecList, ",") {
		c = strings.TrimSpace(c)
		if _, ok := ttffEncoders[c]; !ok {
			return fmt.Errorf("-codecs %q: want h264, mpeg1 or both", t.codecList)
		}
		t.codecs = append(t.codecs, c)
	}
	if t.spread <= 0 || t.decode < 0 {
		return fmt.Errorf("-spread must be positive and -decode not negative")
	}
	return nil
}

func runTTFF(o options) int {
	dir, err := os.MkdirTemp("", "tsbench-ttff-")
	if err != nil {
		logf("%v", err)
		return 1
	}
	if o.ttff.keep {
		logf("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	offConfig := filepath.Join(dir, "gop-cache-off.yaml")
	if err := os.WriteFile(offConfig, []byte("stream_defaults:\n  gop_cache: \"off\"\n"), 0o644); err != nil {
		logf("%v", err)
		return 1
	}
	// The file covers a whole run, so that the relay never sees it loop.
	length := max(30*time.Second, o.sch.warmup+o.ttff.spread+ttffTimeout+decodeHold+2*time.Second)
	enc := json.NewEncoder(os.Stdout)
	for _, codec := range o.ttff.codecs {
		m, err := makeInput(dir, codec, length)
		if err != nil {
			logf("%v", err)
			return 1
		}
		logf("%s input: %d bytes, %v, %.0f kbit/s", codec, len(m.data), m.length.Round(time.Millisecond), m.kbps())
		for _, n := range o.viewers {
			joins := joinMoments(n, o.ttff.spread, o.ttff.seed)
			for _, cache := range []string{"on", "off"} {
				var extra []string
				if cache == "off" {
					extra = []string{"-config", offConfig}
				}
				res, err := ttffRun(o, m, joins, filepath.Join(dir, codec+"-"+cache), extra...)
				if err != nil {
					logf("%s, GOP cache %s, %d viewers: %v", codec, cache, n, err)
					return 1
				}
				res.Codec, res.GOPCache = codec, cache
				enc.Encode(res)
			}
		}
	}
	return 0
}

// joinMoments returns n moments uniformly at random in [0, spread).
func joinMoments(n int, spread time.Duration, seed uint64) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	js := make([]time.Duration, n)
	for i := range js {
		js[i] = time.Duration(rng.Int64N(int64(spread)))
	}
	return js
}

// ttffRun is one run on a fresh relay started with extra arguments. The
// captures of the decoded viewers are written under prefix.
func ttffRun(o options, m *media, joins []time.Duration, prefix string, extra ...string) (ttffResult, error) {
	r, err := startRelay(o.bin, extra...)
	if err != nil {
		return ttffResult{}, err
	}
	defer r.kill()
	logf("relay pid %d %v: publishing; %d viewers join over %v after %v",
		r.pid, extra, len(joins), o.ttff.spread, o.sch.warmup)
	stop := make(chan struct{})
	played := make(chan playResult, 1)
	cpu0, host0 := cpuTimes{}, readHostCPU()
	go func() { played <- play(r.ingestAddr, m, stop, func() { cpu0, _ = readCPU(r.pid) }) }()

	start := time.Now().Add(o.sch.warmup)
	vs := make([]*ttffViewer, len(joins))
	var wg sync.WaitGroup
	for i, at := range joins {
		vs[i] = newTTFFViewer(i < o.ttff.decode)
		wg.Go(func() {
			time.Sleep(time.Until(start.Add(at)))
			vs[i].run(r.httpAddr)
		})
	}
	wg.Wait()
	cpu1, _ := readCPU(r.pid)
	host1 := readHostCPU()
	st, stErr := streamTS(r.httpAddr)
	close(stop)
	pub := <-played
	if derr := r.died(); derr != nil {
		return ttffResult{}, derr
	}
	if pub.err != nil {
		return ttffResult{}, pub.err
	}
	if stErr != nil {
		return ttffResult{}, stErr
	}
	logs := r.logCounts()
	if err := r.stop(20 * time.Second); err != nil {
		return ttffResult{}, err
	}
	res := summarizeTTFF(vs, m, pub)
	res.GOPJoins, res.KeyWaits = st.GOPJoins, st.KeyWaits
	cpu := cpu1.sub(cpu0)
	res.CPUUserS, res.CPUSysS = round3(cpu.user.Seconds()), round3(cpu.sys.Seconds())
	res.DecodeChecked, res.DecodeErrors = decodeCaptures(vs, prefix)
	observeTTFF(vs, pub, st, logs, busyShare(host0, host1))
	return res, nil
}
