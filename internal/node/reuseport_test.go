package node

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
)

// TestReusePortSharesTheHTTPPort: two nodes with http.reuse_port listen on
// one port and the kernel spreads connections over both (deployment 2);
// without the option the second node cannot start.
func TestReusePortSharesTheHTTPPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	shared := l.Addr().String()
	l.Close()

	nodes := make([]*Node, 2)
	for i := range nodes {
		cfg := testConfig("live")
		cfg.Name = fmt.Sprintf("n%d", i)
		cfg.HTTP.Listen, cfg.HTTP.ReusePort = shared, true
		nodes[i] = startNode(t, cfg)
	}
	served := map[string]int{}
	for range 40 {
		// A new connection each time, so the kernel picks a listener.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + shared + "/api/v1/node")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, n := range []string{"n0", "n1"} {
			if containsJSONName(body, n) {
				served[n]++
			}
		}
	}
	if served["n0"] == 0 || served["n1"] == 0 || served["n0"]+served["n1"] != 40 {
		t.Fatalf("connections served: %v; want both nodes, 40 in all", served)
	}

	cfg := testConfig("live")
	cfg.HTTP.Listen = shared // no reuse_port
	if err := New(cfg, nil, "test").Start(); err == nil {
		t.Fatal("a third node without reuse_port started on the shared port")
	}
}

func containsJSONName(body []byte, name string) bool {
	return bytes.Contains(body, fmt.Appendf(nil, "%q: %q", "name", name))
}
