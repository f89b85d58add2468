package pull

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/stream"
)

// TestSetRulesKeepsUnchangedPulls: two streams pulled on demand from one
// upstream; new rules send "cam" to a second upstream and leave "news" as
// it was. The pull of "cam" is replaced (its viewer goes on with the new
// upstream's bytes), the pull of "news" is the same one and its viewer
// gets every byte, as if nothing happened.
func TestSetRulesKeepsUnchangedPulls(t *testing.T) {
	up1, up2 := newUpstream(t), newUpstream(t)
	var d *OnDemand
	local := stream.NewHub(stream.Config{
		Options: func(string) stream.Options { return stream.Options{Format: mpegts.FormatRaw} },
		Demand:  func(name string) { d.Demand(name) },
	})
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	from := func(up *upstream) []string { return []string{up.srv.URL + "/live/{stream}.ts"} }
	d = NewOnDemand(OnDemandConfig{Hub: local, Rules: []Rule{{Pattern: "*", Sources: from(up1)}},
		Base: Config{Node: "edge", Log: log, MinBackoff: 50 * time.Millisecond, IdleTimeout: time.Second}})
	t.Cleanup(func() { d.Close(); local.Close() })

	pubs := map[string]*stream.Publisher{}
	for _, u := range []struct {
		up   *upstream
		name string
	}{{up1, "cam"}, {up1, "news"}, {up2, "cam"}} {
		p, err := u.up.hub.Publish(u.name, stream.PublisherInfo{Protocol: "test", Remote: "test"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close("test over") })
		pubs[fmt.Sprintf("%p/%s", u.up, u.name)] = p
	}
	pub := func(up *upstream, name string) *stream.Publisher { return pubs[fmt.Sprintf("%p/%s", up, name)] }

	cam, news := collectStream(t, local, "cam"), collectStream(t, local, "news")
	waitReaders := func(up *upstream, name string, n int) {
		t.Helper()
		waitFor(t, ioTimeout, func() bool { return up.hub.Readers(name) == n },
			func() string {
				return fmt.Sprintf("upstream has %d readers of %q, want %d", up.hub.Readers(name), name, n)
			})
	}
	waitReaders(up1, "cam", 1)
	waitReaders(up1, "news", 1)
	newsBefore := d.Links()["news"]

	part1 := bytes.Repeat([]byte("news, part one\n"), 2000)
	write(t, pub(up1, "news"), part1)
	news.waitBytes(t, part1)

	stopped := d.SetRules([]Rule{{Pattern: "cam", Sources: from(up2)}, {Pattern: "*", Sources: from(up1), Linger: time.Minute}}, nil)
	if !slices.Equal(stopped, []string{"cam"}) {
		t.Errorf("SetRules stopped %q, want [cam]", stopped)
	}
	if got := d.Links()["news"]; got != newsBefore {
		t.Error("the pull of news was replaced, though its rule fetches it the same way")
	}
	if r := d.Rule("news"); r.Linger != time.Minute {
		t.Errorf("news is under a rule with linger %v, want the new rule's 1m", r.Linger)
	}
	waitReaders(up1, "cam", 0)
	waitReaders(up2, "cam", 1)

	part2 := bytes.Repeat([]byte("news, part two\n"), 2000)
	write(t, pub(up1, "news"), part2)
	news.waitBytes(t, append(part1, part2...))
	camWant := bytes.Repeat([]byte("cam from the second upstream\n"), 1000)
	write(t, pub(up2, "cam"), camWant)
	waitFor(t, ioTimeout, func() bool { got, _ := cam.bytes(); return bytes.HasSuffix(got, camWant) },
		func() string {
			got, err := cam.bytes()
			return fmt.Sprintf("cam viewer has %d bytes (err %v)", len(got), err)
		})

	// Excluding a stream stops its pull, and nothing starts it again.
	if stopped := d.SetRules([]Rule{{Pattern: "*", Sources: from(up1)}}, []string{"news"}); !slices.Equal(stopped, []string{"cam", "news"}) {
		t.Errorf("SetRules stopped %q, want [cam news]", stopped)
	}
	waitReaders(up1, "news", 0)
	waitReaders(up1, "cam", 1)
	if _, ok := d.Links()["news"]; ok {
		t.Error("news is still pulled after its exclusion")
	}
}
