package node

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/config"
)

// logLines returns the lines of l that contain every one of words.
func logLines(l *lineLog, words ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.buf.String()) {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// TestTCPPlayStartsOnDemandPull: a viewer of a TCP play listener whose
// stream an edge pulls on demand starts the pull from a real upstream
// node, as an HTTP viewer does, and gets the stream. When the stream does
// not start (the upstream has it declared but silent: the start timeout;
// or the upstream has no such stream: its 404, at once), the viewer is
// closed with no byte sent, and the edge's log says why.
func TestTCPPlayStartsOnDemandPull(t *testing.T) {
	up := testConfig("local")
	up.Name = "U"
	up.Streams["quiet"] = config.StreamOptions{} // declared, never published
	u := startNode(t, up)
	feed(t, u.Hub(), "cam")

	const startTimeout = 1500 * time.Millisecond
	edge := edgeConfig("E", time.Second, addr(t, u, "http", "http", ""))
	edge.Pulls[0].StartTimeout = config.Duration(startTimeout)
	edge.Play = nil
	for _, name := range []string{"cam", "quiet", "nowhere"} {
		edge.Play = append(edge.Play, config.Play{Listen: anyPort, Stream: name, Protocol: "tcp"})
	}
	e, logs := startNodeLog(t, edge)

	t.Run("live", func(t *testing.T) {
		c := dialTCP(t, addr(t, e, "play", "tcp", "cam"))
		consecutive(t, "TCP viewer at the edge", c, 1000)
		if l := pullLink(e, "cam"); l.State != "up" || !l.OnDemand || l.Path != "U" {
			t.Errorf("edge's pull of cam %+v, want up, on demand, path U", l)
		}
		waitViewers(t, u, "cam", map[string]int{"http": 1})
	})

	for _, tc := range []struct {
		stream  string
		why     string // in the edge's log line
		timeout bool   // closed only after the start timeout
	}{
		{"quiet", `did not start within 1.5s`, true},
		{"nowhere", `stream \"nowhere\" has no publisher on node U`, false},
	} {
		t.Run(tc.stream, func(t *testing.T) {
			start := time.Now()
			c := dialTCP(t, addr(t, e, "play", "tcp", tc.stream))
			c.SetReadDeadline(time.Now().Add(ioTimeout))
			n, err := io.Copy(io.Discard, c)
			took := time.Since(start)
			if err != nil || n != 0 {
				t.Fatalf("viewer got %d bytes, then %v; want closed (EOF) with none", n, err)
			}
			t.Logf("closed after %v", took.Round(time.Millisecond))
			if tc.timeout && took < startTimeout {
				t.Errorf("closed after %v, before the start timeout %v", took, startTimeout)
			}
			if !tc.timeout && took >= startTimeout {
				t.Errorf("closed after %v: the upstream's refusal should close it at once, not the %v timeout",
					took, startTimeout)
			}
			waitFor(t, ioTimeout, func() bool {
				return len(logLines(logs, "viewer closed: the stream did not start", "stream="+tc.stream, tc.why)) == 1
			}, func() string {
				return "no single log line for stream " + tc.stream + " with " + tc.why + ":\n" +
					strings.Join(logLines(logs, "stream="+tc.stream), "")
			})
		})
	}
}
