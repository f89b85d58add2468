package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Chain mode (-chain N): N tsstream processes, node 1 taking the
// publisher, each next one pulling any stream on demand from the one before
// (a pulls rule, as -pull makes). One HTTP-TS viewer at every node reads
// the marker packets, so the delay at depth k less the delay at the origin
// is what k-1 relay hops add. Then, with the chain idle (every pull
// lingered out), a viewer at node 2 and one at node N are timed from the
// GET to their first TS packet: the on-demand set-up time over 1 and N-1
// hops.

// chainLinger is how long each edge keeps its pull after its last viewer:
// short, so that the set-up runs find the chain cold quickly.
const chainLinger = 300 * time.Millisecond

type chainOptions struct {
	nodes  int
	setups int
}

func (c *chainOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.nodes, "chain", 0, "measure relay delay per hop over a chain of `N` nodes pulling on demand, and on-demand set-up time (see above)")
	fs.IntVar(&c.setups, "setups", 10, "-chain: cold on-demand starts timed at each end of the chain")
}

const chainUsage = "Chain mode (-chain N): N tsstream processes, each pulling on demand from the one before; one HTTP-TS\n" +
	"viewer per node gives the delay added per hop (p50, p99), then cold viewers time the on-demand set-up.\n"

// chainResult is the JSON line of a chain run.
type chainResult struct {
	Mode       string    `json:"mode"`
	Nodes      int       `json:"nodes"`
	RateBits   int64     `json:"rate"`
	WindowSec  float64   `json:"window_s"`
	DelayP50ms []float64 `json:"delay_p50_ms"` // by depth: node 1 (origin) first
	DelayP99ms []float64 `json:"delay_p99_ms"`
	Markers    []int64   `json:"markers"`
	CCErrors   []int64   `json:"cc_errors"`
	HopP50ms   float64   `json:"added_per_hop_p50_ms"`
	HopP99ms   float64   `json:"added_per_hop_p99_ms"`
	Setup1ms   []float64 `json:"setup_1hop_ms"` // p50, max
	SetupNms   []float64 `json:"setup_far_ms"`  // p50, max, over N-1 hops
}

func runChain(o options) int {
	res, err := chain(o)
	if err != nil {
		logf("chain: %v", err)
		return 1
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return 0
}

func chain(o options) (chainResult, error) {
	n := o.chain.nodes
	res := chainResult{Mode: "chain", Nodes: n, RateBits: o.rate}
	dir, err := os.MkdirTemp("", "tsbench-chain")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	nodes, err := startChain(o.bin, dir, n)
	defer func() {
		for _, r := range nodes {
			r.kill()
		}
	}()
	if err != nil {
		return res, err
	}

	// Delay: a publisher for warm-up + window + tail, a viewer per node
	// joining once the stream runs (an edge answers when data flows).
	start := time.Now()
	pubDone := make(chan error, 1)
	var window time.Duration
	go func() {
		r, err := publish(nodes[0].ingestAddr, start, o.rate, o.shape, o.sch, func(byte) {})
		window = r.window
		pubDone <- err
	}()
	time.Sleep(o.sch.warmup / 2)
	var wg sync.WaitGroup
	var views []*viewer
	for i, r := range nodes {
		v, err := dialViewer(target{proto: "http", addr: r.httpAddr}, start)
		if err != nil {
			return res, fmt.Errorf("viewer at node %d: %w", i+1, err)
		}
		wg.Add(1)
		go v.run(&wg)
		views = append(views, v)
	}
	if err := <-pubDone; err != nil {
		return res, err
	}
	time.Sleep(o.sch.tail)
	for _, v := range views {
		v.conn.Close()
	}
	wg.Wait()
	res.WindowSec = window.Seconds()
	for _, v := range views {
		res.DelayP50ms = append(res.DelayP50ms, ms(v.st.delay.quantile(0.5)))
		res.DelayP99ms = append(res.DelayP99ms, ms(v.st.delay.quantile(0.99)))
		res.Markers = append(res.Markers, v.st.markers)
		res.CCErrors = append(res.CCErrors, v.st.ccErrors)
	}
	if n > 1 {
		res.HopP50ms = (res.DelayP50ms[n-1] - res.DelayP50ms[0]) / float64(n-1)
		res.HopP99ms = (res.DelayP99ms[n-1] - res.DelayP99ms[0]) / float64(n-1)
	}
	logf("chain of %d: delay p50 by depth %v ms, p99 %v ms", n, res.DelayP50ms, res.DelayP99ms)

	// Set-up: a long publisher, and cold viewers at node 2 and node N.
	long := o.sch
	long.window = time.Hour
	stop := make(chan struct{})
	go publishUntil(nodes[0].ingestAddr, o, long, stop)
	defer close(stop)
	time.Sleep(o.sch.warmup / 2)
	if res.Setup1ms, err = setups(nodes, 1, o.chain.setups); err != nil {
		return res, err
	}
	if res.SetupNms, err = setups(nodes, n-1, o.chain.setups); err != nil {
		return res, err
	}
	logf("on-demand set-up: 1 hop %v ms, %d hops %v ms (p50, max)", res.Setup1ms, n-1, res.SetupNms)
	return res, nil
}

// startChain starts node 1 and nodes 2..n, each with a pulls rule on the
// one before.
func startChain(bin, dir string, n int) ([]*relay, error) {
	var nodes []*relay
	for i := 1; i <= n; i++ {
		args := []string{"-name", "n" + strconv.Itoa(i)}
		if i > 1 {
			cfg := filepath.Join(dir, fmt.Sprintf("n%d.yaml", i))
			yaml := fmt.Sprintf("pulls:\n  - stream: \"*\"\n    from:\n      - http://%s/live/{stream}.ts\n    linger: %s\n",
				nodes[i-2].httpAddr, chainLinger)
			if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
				return nodes, err
			}
			args = append(args, "-config", cfg)
		}
		r, err := startRelay(bin, args...)
		if err != nil {
			return nodes, fmt.Errorf("node %d: %w", i, err)
		}
		nodes = append(nodes, r)
	}
	return nodes, nil
}

// publishUntil publishes until stop closes (the connection ends with the
// relay or the harness).
func publishUntil(addr string, o options, sch schedule, stop chan struct{}) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		publish(addr, time.Now(), o.rate, o.shape, sch, func(byte) {})
	}()
	select {
	case <-stop:
	case <-done:
	}
}

// setups times k cold starts at node hops+1: GET to the first TS packet,
// waiting between starts until every edge has let its pull go. It returns
// the median and the maximum in milliseconds.
func setups(nodes []*relay, hops, k int) ([]float64, error) {
	at := nodes[hops]
	var times []float64
	buf := make([]byte, 32<<10)
	for i := range k {
		if err := waitIdle(nodes[1:hops+1], 10*time.Second); err != nil {
			return nil, err
		}
		t0 := time.Now()
		conn, rest, err := httpDial(at.httpAddr, "/live/live.ts", buf, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("set-up %d at node %d: %w", i, hops+1, err)
		}
		var c httpChunks
		got := 0
		count := func(p []byte) { got += len(p) }
		err = c.feed(rest, count)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for err == nil && got < packetSize {
			var m int
			m, err = conn.Read(buf)
			if m > 0 {
				err = c.feed(buf[:m], count)
			}
		}
		took := time.Since(t0)
		conn.Close()
		if err != nil {
			return nil, fmt.Errorf("set-up %d at node %d: %w", i, hops+1, err)
		}
		times = append(times, ms(took))
	}
	sort.Float64s(times)
	return []float64{times[len(times)/2], times[len(times)-1]}, nil
}

// waitIdle waits until none of the edges has a pull running.
func waitIdle(edges []*relay, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		busy := false
		for _, r := range edges {
			if running, err := pullsRunning(r.httpAddr); err != nil || running > 0 {
				busy = true
			}
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the chain's pulls still run %v after the last viewer left", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pullsRunning counts the pull links of a node that are not idle.
func pullsRunning(addr string) (int, error) {
	resp, err := http.Get("http://" + addr + "/api/v1/node")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var node struct {
		Links []struct {
			Kind, State string
		} `json:"links"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&node); err != nil {
		return 0, err
	}
	n := 0
	for _, l := range node.Links {
		if l.Kind == "pull" && l.State != "idle" {
			n++
		}
	}
	return n, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
