package e2e

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"
)

// TestSIGHUPReload runs the binary with a config file, changes the file's
// publish key and sends SIGHUP: the new key opens HTTP publishing and the
// old one is refused, while a viewer of another stream, fed over TCP
// ingest all along, reads on byte for byte on the same connection. A
// broken file on the next SIGHUP is refused and the new key stays.
func TestSIGHUPReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tsstream.yaml")
	writeConfig := func(body string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("auth:\n  publish_key: old-key\n")
	s := startServer(t, "-config", file)

	view := playHTTP(t, "viewer of live", "http://"+s.HTTP+"/live/live.ts")
	waitViewers(t, s, "live", map[string]int{"http": 1})
	pub, err := net.Dial("tcp", s.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sent := 0
	feed := func(n int) { // n more TS packets to live
		t.Helper()
		if _, err := pub.Write(tstest.Packets(sent, n)); err != nil {
			t.Fatalf("publish to live: %v", err)
		}
		sent += n
		waitUntil(t, 10*time.Second, "the viewer of live to get every packet", func() bool {
			return view.size() >= sent*188
		})
	}
	feed(2000)

	publish := func(key string) int {
		t.Helper()
		resp, err := http.Post("http://"+s.HTTP+"/publish/keyed?key="+key, "video/mp2t", bytes.NewReader(tstest.Packets(0, 10)))
		if err != nil {
			t.Fatalf("publish with key %q: %v", key, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	expect := func(when string, want map[string]int) {
		t.Helper()
		for key, status := range want {
			if got := publish(key); got != status {
				t.Errorf("%s: publish with key %q got %d, want %d", when, key, got, status)
			}
		}
	}
	expect("before the reload", map[string]int{"old-key": 200, "new-key": 403})

	writeConfig("auth:\n  publish_key: new-key\n")
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, 10*time.Second, "msg=\"configuration reloaded\"")
	expect("after the reload", map[string]int{"old-key": 403, "new-key": 200})
	feed(2000)

	writeConfig("auth:\n  publish_key: new-key\n  bogus: 1\n")
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, 10*time.Second, "configuration not reloaded", "auth.bogus")
	expect("after a refused reload", map[string]int{"old-key": 403, "new-key": 200})
	feed(2000)

	view.mu.Lock()
	got, ended := bytes.Clone(view.data.Bytes()), view.err
	view.mu.Unlock()
	select {
	case <-view.done:
		t.Fatalf("the viewer of live was disconnected: %v", ended)
	default:
	}
	tstest.SameBytes(t, "viewer of live across two SIGHUPs", got, tstest.Packets(0, sent))
}
