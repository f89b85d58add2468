// Command tsbench is tsstream's load harness: real-time TS to N WebSocket viewers, one JSON line of figures per N.
// With -ttff it measures instead how soon new viewers of an encoded stream can show a picture, GOP cache on and off.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// options are the command-line flags.
type options struct {
	bin         string
	viewers     []int
	rate        int64 // bits per second
	shape       shape
	sch         schedule
	parallel    int
	runs        int
	protos      []string
	scenarios   []scenario
	noReference bool
	candidate   string // a second tsstream binary, to measure a change
	// streamDefaults is YAML for tsstream's stream_defaults, inside {}.
	streamDefaults string
	plot           string
	fromFile       string
	timeline       string // file to append the delay over time to
	ttff           ttffOptions
	chain          chainOptions
}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tsbench:", err)
		return 2
	}
	if lim, err := raiseNofile(); err != nil {
		logf("cannot raise RLIMIT_NOFILE (now %d): %v", lim, err)
	}
	switch {
	case o.ttff.on:
		return runTTFF(o)
	case o.chain.nodes > 0:
		return runChain(o)
	case o.plot != "" && o.fromFile != "":
		return replot(o.fromFile, o.plot)
	}
	return runCompare(o)
}

func parseFlags(args []string) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("tsbench", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "bin/tsstream", "the tsstream `binary` to run")
	viewers := fs.String("viewers", "100,1000", "comma-separated viewer `counts`, one run each")
	rate := fs.String("rate", "1.74M", "publish `rate` in bits/s (k, M, G suffixes)")
	fs.DurationVar(&o.sch.window, "duration", 20*time.Second, "measured window")
	fs.DurationVar(&o.sch.warmup, "warmup", 2*time.Second, "publishing before the window (-ttff: before viewers join)")
	fs.DurationVar(&o.sch.tail, "tail", time.Second, "publishing after the window, so its last bytes arrive")
	fs.IntVar(&o.parallel, "parallel", 32, "viewers connecting at a time")
	fs.IntVar(&o.runs, "runs", 3, "runs of each system per viewer count (medians are printed)")
	protos := fs.String("protocol", "ws", "comma-separated viewer `protocols`: ws, http, tcp")
	scens := fs.String("scenario", "base", "comma-separated `scenarios`: base, slow (-slow viewers read at a tenth of the rate from mid-window), "+
		"late (-late viewers join mid-window; tsstream with its GOP cache off runs too, as the control)")
	slow := fs.Int("slow", 50, "slow viewers in the slow scenario")
	late := fs.Int("late", 500, "late joiners in the late scenario")
	fs.IntVar(&o.shape.fps, "fps", 25, "publisher writes per second, one PES each; 0: 1316-byte writes")
	fs.DurationVar(&o.shape.gop, "gop", 0, "declare the data PID MPEG-2 video with a keyframe every `interval` (0: private data)")
	fs.BoolVar(&o.noReference, "no-reference", false, "run tsstream only, not the reference fan-out")
	fs.StringVar(&o.streamDefaults, "stream-defaults", "", "tsstream's stream_defaults as YAML `pairs`, such as 'ring_age: 3s, max_skips: 1'")
	fs.StringVar(&o.candidate, "candidate", "", "also run this tsstream `binary` (a change under test) in every run")
	fs.StringVar(&o.timeline, "timeline", "", "append each run's delay over the window, p99 and max per 100 ms, to `file` as JSON lines")
	fs.StringVar(&o.plot, "plot", "", "write an SVG plot of the summaries to `file`")
	fs.StringVar(&o.fromFile, "from", "", "with -plot: plot the summary lines of this JSON `file` instead of running")
	serveRef := fs.Bool("reference-serve", false, "be the reference fan-out (tsbench runs itself so)")
	serveJoin := fs.String("join-serve", "", "be the late joiners of this JSON `spec` (tsbench runs itself so)")
	o.ttff.flags(fs)
	o.chain.flags(fs)
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *serveRef {
		os.Exit(serveReference("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"))
	}
	if *serveJoin != "" {
		os.Exit(serveJoiners(*serveJoin, os.Stdin, os.Stdout))
	}
	for p := range strings.SplitSeq(*protos, ",") {
		if p = strings.TrimSpace(p); p != "ws" && p != "http" && p != "tcp" {
			return o, fmt.Errorf("-protocol %q: want ws, http or tcp", p)
		}
		o.protos = append(o.protos, strings.TrimSpace(p))
	}
	known := scenarios(*slow, *late)
	for name := range strings.SplitSeq(*scens, ",") {
		sc, ok := known[strings.TrimSpace(name)]
		if !ok {
			return o, fmt.Errorf("-scenario %q: want base, slow or late", name)
		}
		o.scenarios = append(o.scenarios, sc)
	}
	if o.runs <= 0 {
		return o, fmt.Errorf("-runs %d: want at least 1", o.runs)
	}
	if o.ttff.on && !isSet(fs, "viewers") {
		*viewers = strconv.Itoa(ttffViewers)
	}
	for s := range strings.SplitSeq(*viewers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("-viewers %q: want positive counts such as 100,1000", *viewers)
		}
		o.viewers = append(o.viewers, n)
	}
	var err error
	if o.rate, err = parseRate(*rate); err != nil {
		return o, err
	}
	if o.sch.window <= 0 || o.sch.warmup < 0 || o.sch.tail < 0 || o.parallel <= 0 {
		return o, fmt.Errorf("-duration and -parallel must be positive, -warmup and -tail not negative")
	}
	return o, o.ttff.check()
}

func usage(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), "Usage: tsbench [flags]\n\n"+
		"Load mode (default): for each -viewers count, a fresh relay, N WebSocket viewers, synthetic TS at\n"+
		"-rate for -warmup + -duration + -tail; one JSON line per count.\n\n%s\n%s\nFlags:\n", ttffUsage, chainUsage)
	fs.PrintDefaults()
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parseRate parses "2M", "500k", "2000000" as bits per second.
func parseRate(s string) (int64, error) {
	mult := 1.0
	num := s
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, num = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, num = 1e6, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, num = 1e9, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f*mult < 8*groupBytes {
		return 0, fmt.Errorf("-rate %q: want bits per second such as 2M or 500k, at least %d", s, 8*groupBytes)
	}
	return int64(f * mult), nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tsbench: "+format+"\n", args...)
}

// bench does one run of scenario sc with n viewers over proto on a fresh
// relay of sys.
func bench(o options, sys system, sc scenario, proto string, n int) (result, error) {
	r, err := sys.start()
	if err != nil {
		return result{}, err
	}
	defer r.kill()
	logf("%s %s %s, %d viewers: pid %d, http %s, ingest %s, max open files %s",
		sys.name, sc.name, proto, n, r.pid, r.httpAddr, r.ingestAddr, nofileOf(r.pid))
	start := time.Now()
	m := measurements{viewers: n, rate: o.rate}
	mid := o.sch.warmup + o.sch.window/2
	t := target{proto: proto, addr: r.httpAddr, video: o.shape.gop > 0, split: mid, from: o.sch.warmup}
	if o.timeline != "" {
		t.steps = timelineSteps(o.sch.window)
	}
	if proto == "tcp" {
		t.addr = r.tcpAddr
	}

	time.Sleep(300 * time.Millisecond) // let the relay settle before the baseline
	mem0, err := readMemory(r.pid)
	if err != nil {
		return result{}, err
	}
	var wg sync.WaitGroup
	vs, failed := connectViewers(t, n, o.parallel, start, &wg)
	for _, v := range vs {
		m.connects = append(m.connects, v.connect)
	}
	all := vs
	defer func() { r.kill(); closeAll(all, &wg) }()
	slowT := t
	slowT.pace, slowT.slowAt = o.rate/8/10, mid
	slow, _ := connectViewers(slowT, sc.slow, o.parallel, start, &wg)
	all = append(all[:len(all):len(all)], slow...)
	logf("%d connected, %d failed, %d slow; waiting for the relay to count them", len(vs), failed, len(slow))
	if err := waitViewers(r, proto, len(all), 30*time.Second); err != nil {
		return result{}, err
	}
	time.Sleep(500 * time.Millisecond)
	mem1, err := readMemory(r.pid)
	if err != nil {
		return result{}, err
	}
	m.rssIdle = [2]int64{mem0.rss, mem1.rss}
	logf("idle RSS %.1f MiB -> %.1f MiB; publishing %d bit/s for %v + %v + %v",
		mib(mem0.rss), mib(mem1.rss), o.rate, o.sch.warmup, o.sch.window, o.sch.tail)

	var w window
	var late *joiners
	if sc.late > 0 {
		if late, err = startJoiners(t, sc.late, o.parallel, mid, start); err != nil {
			return result{}, err
		}
		defer late.kill()
	}
	m.pub, err = publish(r.ingestAddr, start, o.rate, o.shape, o.sch, func(ph byte) { w.mark(ph, r.pid) })
	if derr := r.died(); derr != nil {
		return result{}, derr
	}
	if err != nil {
		return result{}, err
	}
	m.cpu = w.relay
	if mem, err := readMemory(r.pid); err == nil {
		m.peak = mem.hwm
	}
	m.tcpMem = readTCPMem()
	logs := r.logCounts()
	skips, cuts := streamCounters(r)
	stopAt := time.Since(start)
	stopErr := r.stop(20 * time.Second)
	closeAll(all, &wg)
	var joined joinResult
	if late != nil {
		if joined, err = late.finish(); err != nil {
			return result{}, err
		}
	}
	res := summarize(m, vs)
	res.timeline = timelineOf(vs)
	res.Protocol, res.System = proto, sys.name
	res.RelaySkips, res.RelayCuts = skips, cuts
	res.addSlow(slow, m.pub, stopAt)
	res.addLate(joined, sc.late)
	observe(all, stopAt, logs, w, m.pub)
	return res, stopErr
}

// window samples CPU use at the edges of the measured window.
type window struct {
	relay0, self0 cpuTimes
	host0         hostCPU
	relay, self   cpuTimes // used within the window
	hostBusy      float64  // share of the machine's CPU that was busy
}

func (w *window) mark(phase byte, pid int) {
	switch phase {
	case phaseWindow:
		w.relay0, _ = readCPU(pid)
		w.self0, w.host0 = selfCPU(), readHostCPU()
	case phaseTail:
		c, _ := readCPU(pid)
		w.relay, w.self = c.sub(w.relay0), selfCPU().sub(w.self0)
		w.hostBusy = busyShare(w.host0, readHostCPU())
	}
}

// waitViewers polls the stream's API until it counts want viewers of proto.
func waitViewers(r *relay, proto string, want int, limit time.Duration) error {
	url := "http://" + r.httpAddr + "/api/v1/streams/live"
	deadline := time.Now().Add(limit)
	got := -1
	for time.Now().Before(deadline) {
		if err := r.died(); err != nil {
			return err
		}
		var st struct {
			Viewers map[string]int `json:"viewers"`
		}
		if resp, err := http.Get(url); err == nil {
			if json.NewDecoder(resp.Body).Decode(&st) == nil {
				got = st.Viewers[proto]
			}
			resp.Body.Close()
		}
		if got == want {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s counts %d %s viewers after %v, want %d", url, got, proto, limit, want)
}

// streamCounters returns the stream's skips and disconnects by reason as
// the relay's API counts them; zero for a relay without them (the
// reference).
func streamCounters(r *relay) (int64, map[string]int64) {
	var st struct {
		Skips int64            `json:"skips"`
		Cuts  map[string]int64 `json:"disconnects"`
	}
	resp, err := http.Get("http://" + r.httpAddr + "/api/v1/streams/live")
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&st)
	return st.Skips, st.Cuts
}

// closeAll waits a while for the viewers' goroutines to end on their own
// (the relay's close frame), then closes what is left and waits for them.
func closeAll(vs []*viewer, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(5 * time.Second):
	}
	for _, v := range vs {
		v.conn.Close()
	}
	<-done
}

// observe logs what the JSON line does not hold: how viewers ended, the
// harness's own CPU, and the relay's log lines by message.
func observe(vs []*viewer, stopAt time.Duration, logs map[string]int, w window, pub pubResult) {
	early, codes := 0, map[int]int{}
	var syncErr, badMark int64
	for _, v := range vs {
		codes[v.ws.code]++
		if v.endAt < stopAt {
			early++
		}
		syncErr += v.st.syncErrors
		badMark += v.st.badMarkers
	}
	logf("viewers: %d ended before SIGTERM; close codes %v; sync errors %d; bad markers %d",
		early, codes, syncErr, badMark)
	logf("window %v: relay cpu user %v sys %v; harness cpu user %v sys %v; machine %.0f%% busy; longest publisher write %v",
		pub.window.Round(time.Millisecond), w.relay.user, w.relay.sys,
		w.self.user.Round(10*time.Millisecond), w.self.sys.Round(10*time.Millisecond),
		100*w.hostBusy, pub.maxWrite.Round(time.Microsecond))
	logRelayLines(logs)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// logRelayLines reports the relay's log lines by message, but for the
// expected ones.
func logRelayLines(logs map[string]int) {
	keys := make([]string, 0, len(logs))
	for k := range logs {
		if k != "listening" && k != "viewer connected" && k != "tsstream started" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		logf("relay log before SIGTERM: %q x%d", k, logs[k])
	}
}
