package node

import (
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/httpserver"
	"github.com/tsstream/tsstream/internal/pull"
	"github.com/tsstream/tsstream/internal/stream"
)

// newOnDemand makes the on-demand pulls of cfg.Pulls.
func newOnDemand(cfg *config.Config, hub *stream.Hub, log *slog.Logger) *pull.OnDemand {
	rules, exclude := demandRules(cfg)
	return pull.NewOnDemand(pull.OnDemandConfig{Hub: hub, Rules: rules, Exclude: exclude,
		Base: pull.Config{Node: cfg.Name, Log: log}})
}

// demandRules returns the on-demand rules of cfg.Pulls, and the streams
// they leave out: those pulled statically.
func demandRules(cfg *config.Config) (rules []pull.Rule, exclude []string) {
	for _, r := range cfg.Pulls {
		if r.Static {
			exclude = append(exclude, r.Stream)
			continue
		}
		rules = append(rules, pullRule(r))
	}
	for name, o := range cfg.Streams {
		if len(o.Pull) > 0 {
			exclude = append(exclude, name)
		}
	}
	return rules, exclude
}

func pullRule(r config.Pull) pull.Rule {
	return pull.Rule{Pattern: r.Stream, Sources: r.From, Order: r.Order, Reliable: r.Reliable,
		StartTimeout: time.Duration(r.StartTimeout), Linger: time.Duration(r.Linger)}
}

// links returns the node's relay links for the API: static pulls, the
// rules of on-demand pulls (state "idle" while no stream of theirs runs)
// with their running pulls, and push targets.
func (n *Node) links() []httpserver.Link {
	links := []httpserver.Link{}
	n.mu.Lock()
	relays := n.relays
	n.mu.Unlock()
	for _, l := range relays {
		if l.pull != nil {
			links = append(links, pullLinks(l.pull, false)...)
		}
	}
	running := n.demand.Links()
	names := make([]string, 0, len(running))
	for name := range running {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, r := range n.live.Load().Pulls {
		if r.Static {
			continue
		}
		rule := pullRule(r)
		active := false
		for _, name := range names {
			if cur := n.demand.Rule(name); cur != nil && cur.Pattern == rule.Pattern {
				links = append(links, pullLinks(running[name], true)...)
				active = true
			}
		}
		if !active {
			links = append(links, httpserver.Link{Kind: "pull", Stream: r.Stream, URL: strings.Join(r.From, " "),
				State: "idle", OnDemand: true, Reliable: r.Reliable})
		}
	}
	for _, l := range relays {
		if l.push == nil {
			continue
		}
		for _, st := range l.push.Stats() {
			links = append(links, httpserver.Link{Kind: "push", Stream: st.Stream, URL: st.URL, State: st.State,
				Since: st.Since, BytesSent: st.BytesSent, Drops: st.Drops, Reconnects: st.Reconnects, Reliable: st.Reliable,
				Resumes: st.Resumes, Gaps: st.Gaps, LostBytes: st.LostBytes, LastError: st.LastError})
		}
	}
	return links
}

func pullLinks(p *pull.Puller, onDemand bool) []httpserver.Link {
	var links []httpserver.Link
	for _, st := range p.Stats() {
		links = append(links, httpserver.Link{Kind: "pull", Stream: p.Stream(), URL: st.URL, State: st.State,
			Since: st.Since, BytesIn: st.BytesIn, Reconnects: st.Reconnects, Failovers: st.Failovers,
			OnDemand: onDemand, Reliable: p.Reliable(), Path: strings.Join(st.Path, ","),
			Resumes: st.Resumes, Gaps: st.Gaps, LostBytes: st.LostBytes, LastError: st.LastError})
	}
	return links
}
