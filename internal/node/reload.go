package node

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/httpserver"
	"github.com/tsstream/tsstream/internal/stream"
)

// Reload applies cfg without dropping anyone it does not concern: keys,
// tokens, allow-lists and limits at once; streams declared or no longer
// declared (a stream no longer declared stays while in use); relay links,
// a link still declared the same way going on untouched, a removed or
// changed one stopping and a new or changed one starting; the on-demand
// pull rules, likewise; the TLS certificate files, read again. Listeners,
// the node name and the settings a running stream was created with stay
// as they are: the answer lists them in NeedsRestart, and the log too.
// Nothing changes when cfg is invalid.
func (n *Node) Reload(cfg *config.Config) (httpserver.Reloaded, error) {
	res := httpserver.Reloaded{Started: []string{}, Stopped: []string{}, NeedsRestart: []string{}}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	n.reloading.Lock()
	defer n.reloading.Unlock()
	switch {
	case !n.started:
		return res, errors.New("the node is not started")
	case n.stopped:
		return res, errors.New("the node is shutting down")
	}
	old := n.live.Load()
	n.guard.SetPolicy(newPolicy(cfg))
	n.live.Store(cfg)
	n.hub.SetStatic(staticStreams(cfg))
	if n.certs != nil {
		if err := n.certs.Reload(); err != nil {
			n.log.Error("TLS certificate not reloaded; keeping the previous one", "err", err)
		}
	}
	var demandStopped []string
	stopped, started := n.setLinks(declaredLinks(cfg), func() {
		rules, exclude := demandRules(cfg)
		demandStopped = n.demand.SetRules(rules, exclude)
	})
	for _, s := range stopped {
		res.Stopped = append(res.Stopped, s.String())
	}
	for _, name := range demandStopped {
		res.Stopped = append(res.Stopped, "pull "+name+" (on demand)")
	}
	for _, s := range started {
		res.Started = append(res.Started, s.String())
	}
	res.NeedsRestart = append(res.NeedsRestart, needsRestart(old, cfg)...)
	for _, s := range n.hub.Streams() {
		res.NeedsRestart = append(res.NeedsRestart, n.streamChanges(s)...)
	}
	attrs := []any{"links_started", res.Started, "links_stopped", res.Stopped}
	if len(res.NeedsRestart) > 0 {
		n.log.Warn("configuration reloaded; these settings changed but need a restart",
			append(attrs, "needs_restart", res.NeedsRestart)...)
	} else {
		n.log.Info("configuration reloaded", attrs...)
	}
	return res, nil
}

// needsRestart returns the key paths of the settings that differ between
// old and cfg and that a reload does not apply: the node's name, log level
// and relay hop limit, the HTTP server, the monitor reports and the
// listeners. (Ingest allow and deny lists and monitor.report_token do
// apply.)
func needsRestart(old, cfg *config.Config) []string {
	var keys []string
	changed := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			keys = append(keys, key)
		}
	}
	changed("name", old.Name, cfg.Name)
	changed("log_level", old.LogLevel, cfg.LogLevel)
	changed("max_hops", old.MaxHops, cfg.MaxHops)
	keys = append(keys, fieldChanges("http", old.HTTP, cfg.HTTP)...)
	om, nm := old.Monitor, cfg.Monitor
	om.ReportToken, nm.ReportToken = "", "" // read for each report
	keys = append(keys, fieldChanges("monitor", om, nm)...)
	for i := range max(len(old.Ingest), len(cfg.Ingest)) {
		path := fmt.Sprintf("ingest[%d]", i)
		if i >= len(old.Ingest) || i >= len(cfg.Ingest) {
			keys = append(keys, path) // a listener added or removed
			continue
		}
		a, b := old.Ingest[i], cfg.Ingest[i]
		a.Allow, a.Deny, b.Allow, b.Deny = nil, nil, nil, nil // reloaded
		keys = append(keys, fieldChanges(path, a, b)...)
	}
	for i := range max(len(old.Play), len(cfg.Play)) {
		path := fmt.Sprintf("play[%d]", i)
		if i >= len(old.Play) || i >= len(cfg.Play) {
			keys = append(keys, path)
			continue
		}
		keys = append(keys, fieldChanges(path, old.Play[i], cfg.Play[i])...)
	}
	return keys
}

// fieldChanges returns path.KEY for every field of structs a and b (of one
// type) that differs, KEY being the field's YAML name.
func fieldChanges(path string, a, b any) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var keys []string
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			keys = append(keys, path+"."+yamlKey(va.Type().Field(i)))
		}
	}
	return keys
}

func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// streamChanges returns streams.NAME.KEY for every option that stream s
// was created with (its ring, its format, how it treats slow viewers) and
// that the configuration in force now sets otherwise: s keeps them until it
// is created again.
func (n *Node) streamChanges(s *stream.Stream) []string {
	have, want := s.Options(), n.streamOptions(s.Name())
	var keys []string
	for _, o := range []struct {
		key  string
		same bool
	}{
		{"format", have.Format == want.Format},
		{"takeover", have.Takeover == want.Takeover},
		{"ring_bytes", have.RingBytes == want.RingBytes},
		{"ring_age", have.RingAge == want.RingAge},
		{"write_timeout", have.WriteTimeout == want.WriteTimeout},
		{"max_unsent", have.MaxUnsent == want.MaxUnsent},
		{"max_skips", have.MaxSkips == want.MaxSkips},
		{"skip_window", have.SkipWindow == want.SkipWindow},
		{"gop_cache", have.NoGOPCache == want.NoGOPCache},
		{"gop_max_bytes", have.GOPMaxBytes == want.GOPMaxBytes},
		{"gop_max_age", have.GOPMaxAge == want.GOPMaxAge},
	} {
		if !o.same {
			keys = append(keys, "streams."+s.Name()+"."+o.key)
		}
	}
	return keys
}
