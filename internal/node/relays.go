package node

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/pull"
	"github.com/tsstream/tsstream/internal/push"
)

// A linkSpec is one relay link the configuration declares: the static pull
// of a stream, or the push of a stream to one target. Equal specs make the
// same link, so a reload leaves alone a running link whose spec is still
// declared, and with it the stream's viewers.
type linkSpec struct {
	kind         string // "pull" or "push"
	stream       string
	urls         string        // pull: the sources in order, one per line; push: the target
	order        string        // pull
	reliable     bool          // pull
	writeTimeout time.Duration // push
}

// String names the link for logs and the reload answer, secrets hidden.
func (s linkSpec) String() string {
	var urls []string
	for _, u := range strings.Split(s.urls, "\n") {
		if s.kind == "push" {
			urls = append(urls, push.Target{URL: u}.String())
		} else {
			urls = append(urls, pull.Source{URL: u}.String())
		}
	}
	if s.kind == "push" {
		return "push " + s.stream + " to " + urls[0]
	}
	return "pull " + s.stream + " from " + strings.Join(urls, ", ")
}

// declaredLinks returns cfg's relay links: the static pulls of cfg.Pulls
// in their order, then, by stream name, each stream's pull and its push
// targets in their order.
func declaredLinks(cfg *config.Config) []linkSpec {
	var specs []linkSpec
	for _, r := range cfg.Pulls {
		if !r.Static {
			continue
		}
		var urls []string
		rule := pullRule(r)
		for _, s := range rule.ExpandSources(r.Stream) {
			urls = append(urls, s.URL)
		}
		specs = append(specs, linkSpec{kind: "pull", stream: r.Stream, urls: strings.Join(urls, "\n"),
			order: cmp.Or(r.Order, pull.OrderFailover), reliable: r.Reliable})
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Streams)) {
		o := cfg.Stream(name)
		if len(o.Pull) > 0 {
			specs = append(specs, linkSpec{kind: "pull", stream: name, urls: strings.Join(o.Pull, "\n"),
				order: cmp.Or(o.PullOrder, pull.OrderFailover)})
		}
		for _, u := range o.Push {
			specs = append(specs, linkSpec{kind: "push", stream: name, urls: u, writeTimeout: time.Duration(o.WriteTimeout)})
		}
	}
	return specs
}

// relayLink is a running link: a puller or a pusher of one target.
type relayLink struct {
	spec linkSpec
	pull *pull.Puller
	push *push.Pusher
}

// newLink makes the link of s; it connects once started.
func (n *Node) newLink(s linkSpec) *relayLink {
	l := &relayLink{spec: s}
	if s.kind == "push" {
		l.push = push.New(push.Config{Hub: n.hub, Stream: s.stream, Targets: []push.Target{{URL: s.urls}},
			Node: n.cfg.Name, WriteTimeout: s.writeTimeout, Log: n.log})
		return l
	}
	var sources []pull.Source
	for _, u := range strings.Split(s.urls, "\n") {
		sources = append(sources, pull.Source{URL: u})
	}
	l.pull = pull.New(pull.Config{Hub: n.hub, Stream: s.stream, Sources: sources, Order: s.order,
		Reliable: s.reliable, Node: n.cfg.Name, Log: n.log})
	return l
}

func (l *relayLink) start() {
	if l.push != nil {
		l.push.Start()
	} else {
		l.pull.Start()
	}
}

// close stops the link and waits for it: a pull's publisher session ends
// (the stream's viewers stay for its next publisher), a push disconnects.
func (l *relayLink) close() {
	if l.push != nil {
		l.push.Close()
	} else {
		l.pull.Close()
	}
}

// setLinks makes want the running relay links: a running link whose spec
// is in want goes on untouched, the others stop, then between runs, then
// the links not running start. Every stop has returned before anything
// starts, so that a new pull of a stream does not find the old one holding
// it. It returns the specs stopped and started.
func (n *Node) setLinks(want []linkSpec, between func()) (stopped, started []linkSpec) {
	n.mu.Lock()
	old := n.relays
	n.mu.Unlock()
	kept := make([]bool, len(old))
	next := make([]*relayLink, 0, len(want))
	var fresh []*relayLink
	for _, s := range want {
		i := -1 // the first running link of s not kept yet (a link may be declared twice)
		for j, l := range old {
			if !kept[j] && l.spec == s {
				i = j
				break
			}
		}
		if i >= 0 {
			kept[i] = true
			next = append(next, old[i])
			continue
		}
		l := n.newLink(s)
		next = append(next, l)
		fresh = append(fresh, l)
		started = append(started, s)
	}
	for i, l := range old {
		if !kept[i] {
			n.log.Info("relay link stopping", "link", l.spec.String())
			l.close()
			stopped = append(stopped, l.spec)
		}
	}
	n.mu.Lock()
	n.relays = next
	n.mu.Unlock()
	if between != nil {
		between()
	}
	for _, l := range fresh {
		n.log.Info("relay link starting", "link", l.spec.String())
		l.start()
	}
	return stopped, started
}
