package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"
)

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// feedTCP publishes numbered TS packets to a TCP ingest, 7 every 2 ms
// (about 660 KB/s), until the test ends.
func feedTCP(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n += 7 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(tstest.Packets(n, 7)); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		c.Close()
	})
}

// TestDeployment2SharedPlayPort: deployment 2 with the real binary. An
// ingest process takes the stream; two serving processes share one HTTP
// port and one WebSocket port (reuse_port) and pull from the ingest
// process on demand, with the README's play.yaml. Twenty HTTP-TS viewers,
// each on a new connection to the shared port, all get the published
// bytes exactly (2000 packets in a row, equal to the packets published
// from where they joined), both processes serve some of them (the answer's
// Tsstream-Path names the one), and the ingest process sends the stream
// once per serving process.
func TestDeployment2SharedPlayPort(t *testing.T) {
	ingest := startServerArgs(t, []string{"-name", "ingest", "-http", "127.0.0.1:0", "-ingest", "127.0.0.1:0", "-ws", ""}, "http/http", "ingest/tcp")
	feedTCP(t, ingest.TCP)
	ingest.waitLog(t, 10*time.Second, `msg="publisher connected"`, "stream=live")

	httpAddr, wsAddr := freePort(t), freePort(t)
	conf := filepath.Join(t.TempDir(), "play.yaml")
	// The README's play.yaml of deployment 2, on loopback ports.
	yaml := fmt.Sprintf(`http: {listen: %q, reuse_port: true}
play: [{listen: %q, protocol: ws, reuse_port: true}]
ingest: []
pulls:
  - stream: "*"
    from: ["http://%s/live/{stream}.ts"]
`, httpAddr, wsAddr, ingest.HTTP)
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	edges := map[string]*server{}
	for _, name := range []string{"play1", "play2"} {
		s := startServerArgs(t, []string{"-config", conf, "-name", name}, "http/http")
		if s.HTTP != httpAddr {
			t.Fatalf("%s listens on %s, want the shared %s", name, s.HTTP, httpAddr)
		}
		s.waitLog(t, 5*time.Second, "msg=listening", "role=play", "protocol=ws", "address="+wsAddr)
		edges[name] = s
	}

	const viewers, packets = 20, 2000
	type result struct {
		node string
		err  error
	}
	results := make([]result, viewers)
	var wg sync.WaitGroup
	for i := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node, err := viewExact(httpAddr, packets)
			results[i] = result{node, err}
		}()
	}
	// The ingest process sends the stream once to each serving process.
	waitUntil(t, 10*time.Second, "the ingest process serving one pull per serving process", func() bool {
		return ingest.stats(t, "live").Viewers["http"] == 2
	})
	wg.Wait()

	served := map[string]int{}
	for i, r := range results {
		if r.err != nil {
			t.Errorf("viewer %d (served by %q): %v", i, r.node, r.err)
			continue
		}
		served[r.node]++
	}
	t.Logf("viewers served: %v", served)
	if served["play1"] == 0 || served["play2"] == 0 || served["play1"]+served["play2"] != viewers {
		t.Errorf("viewers served %v: want both serving processes, %d in all", served, viewers)
	}
	for name, s := range edges {
		if n := len(s.log.matching(`msg="viewer connected"`, "protocol=http")); n != served[name] {
			t.Errorf("%s logged %d HTTP viewers, the answers named it %d times", name, n, served[name])
		}
	}
	if st := ingest.stats(t, "live"); st.Viewers["http"] != 2 {
		t.Errorf("the ingest process has viewers %v, want 2 (one pull per serving process)", st.Viewers)
	}
}

// viewExact plays stream live over HTTP-TS from addr on a new connection,
// reads n packets and checks they are the published packets, in a row. It
// returns the node that served it (the last name of Tsstream-Path).
func viewExact(addr string, n int) (node string, err error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + addr + "/live/live.ts")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	path := strings.Split(resp.Header.Get("Tsstream-Path"), ",")
	node = path[len(path)-1]
	if resp.StatusCode != http.StatusOK || len(path) != 2 || path[0] != "ingest" {
		return node, fmt.Errorf("%s, Tsstream-Path %q: want 200 with the path ingest,NODE", resp.Status, resp.Header.Get("Tsstream-Path"))
	}
	got := make([]byte, n*188)
	if k, err := io.ReadFull(resp.Body, got); err != nil {
		return node, fmt.Errorf("after %d of %d bytes: %w", k, len(got), err)
	}
	first := tstest.Number(got)
	if want := tstest.Packets(int(first), n); string(got) != string(want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		return node, fmt.Errorf("bytes differ from the published packets %d to %d at byte %d (packet %d is number %d)",
			first, first+int64(n)-1, i, i/188, tstest.Number(got[i/188*188:]))
	}
	return node, nil
}
