// Package node wires tsstream together: it builds the hub and every listener
// a configuration declares, and shuts them down in order.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/guard"
	"github.com/tsstream/tsstream/internal/httpserver"
	"github.com/tsstream/tsstream/internal/metrics"
	"github.com/tsstream/tsstream/internal/monitor"
	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/pull"
	"github.com/tsstream/tsstream/internal/stream"
	"github.com/tsstream/tsstream/internal/tcp"
	"github.com/tsstream/tsstream/internal/udp"
	"github.com/tsstream/tsstream/internal/web"
)

// Node is one running tsstream.
type Node struct {
	// Static after construction.
	cfg     *config.Config
	log     *slog.Logger
	version string
	hub     *stream.Hub
	web     *httpserver.Server
	demand  *pull.OnDemand // the pulls of cfg.Pulls that run on demand
	guard   *guard.Guard
	certs   *guard.Certs // nil without TLS

	// live is the configuration in force: cfg until a Reload.
	live atomic.Pointer[config.Config]

	// reloading serializes Reload, and Shutdown with it.
	reloading sync.Mutex
	started   bool // guarded by reloading
	stopped   bool // guarded by reloading

	// Set by Start; listeners and relays are read by the API meanwhile.
	mu        sync.Mutex // guards listeners and relays
	listeners []httpserver.Listener
	relays    []*relayLink      // the declared links, replaced by a reload
	reporter  *monitor.Reporter // nil unless monitor.report_to is set
	https     []*http.Server
	closers   []func() error // tcp and udp servers
	wg        sync.WaitGroup // Serve goroutines
}

// New returns a node for cfg; nothing listens until Start. A nil log
// discards.
func New(cfg *config.Config, log *slog.Logger, version string) *Node {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, log: log, version: version}
	n.live.Store(cfg)
	n.hub = stream.NewHub(stream.Config{
		Options:   n.streamOptions,
		Static:    staticStreams(cfg),
		ValidName: config.ValidStreamName,
		Demand:    func(name string) { n.demand.Demand(name) },
		Log:       log,
	})
	n.demand = newOnDemand(cfg, n.hub, log)
	n.guard = guard.New(guard.Config{Policy: newPolicy(cfg), Log: log,
		Streams: func(name string) (bool, int) { return n.hub.Get(name) != nil, n.hub.Len() }})
	n.web = &httpserver.Server{Hub: n.hub, Log: log, MaxHops: cfg.MaxHops, Guard: n.guard, Pulls: n.demand.Start,
		Metrics: metrics.Handler(n.hub, cfg.Name, version, metrics.Refusals(n.guard), metrics.Links(n.metricLinks)),
		Pages:   (&web.Pages{ValidName: config.ValidStreamName}).Handler()}
	n.web.Cluster = n.newCollector()
	return n
}

// Guard returns the node's access policy and its refusal counters.
func (n *Node) Guard() *guard.Guard { return n.guard }

// SetReloader serves POST /api/v1/reload: load returns the configuration
// to apply (the file read again, with the command line's flags). Call it
// before Start.
func (n *Node) SetReloader(load func() (*config.Config, error)) {
	n.web.Reload = func() (httpserver.Reloaded, error) {
		cfg, err := load()
		if err != nil {
			return httpserver.Reloaded{}, err
		}
		return n.Reload(cfg)
	}
}

// Config returns the configuration in force: the one given to New, or
// the latest that Reload applied.
func (n *Node) Config() *config.Config { return n.live.Load() }

// Hub returns the node's streams.
func (n *Node) Hub() *stream.Hub { return n.hub }

// streamOptions turns a stream's configuration into stream options.
func (n *Node) streamOptions(name string) stream.Options {
	o := n.live.Load().Stream(name)
	format, _ := mpegts.ParseFormat(o.Format) // validated with the config
	return stream.Options{
		Format:       format,
		Takeover:     o.Takeover,
		RingBytes:    int64(o.RingBytes),
		RingAge:      time.Duration(o.RingAge),
		MaxSkips:     o.MaxSkips,
		SkipWindow:   time.Duration(o.SkipWindow),
		WriteTimeout: time.Duration(o.WriteTimeout),
		MaxUnsent:    int64(o.MaxUnsent),
		NoGOPCache:   o.GOPCache == config.Off,
		GOPMaxBytes:  int64(o.GOPMaxBytes),
		GOPMaxAge:    time.Duration(o.GOPMaxAge),
	}
}

// staticStreams are the streams the configuration names: they exist from
// the start, so that the API lists them while they wait for a publisher.
func staticStreams(cfg *config.Config) []string {
	names := []string{cfg.DefaultStream}
	for _, in := range cfg.Ingest {
		names = append(names, in.Stream)
	}
	for _, p := range cfg.Play {
		names = append(names, p.Stream)
	}
	for name := range cfg.Streams {
		names = append(names, name)
	}
	for _, r := range cfg.Pulls {
		if r.Static {
			names = append(names, r.Stream)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Start opens every listener and serves them in the background. On error
// it closes what it had opened.
func (n *Node) Start() error {
	n.web.Node = httpserver.Node{Name: n.cfg.Name, Version: n.version, Started: time.Now(),
		Listeners: n.Listeners, Links: n.links, ReportTo: n.cfg.Monitor.ReportTo}
	err := n.loadCerts()
	if err == nil {
		err = n.listen()
	}
	if err != nil {
		n.Shutdown(context.Background())
		return err
	}
	n.reloading.Lock()
	n.started = true
	n.setLinks(declaredLinks(n.cfg), nil)
	n.reloading.Unlock()
	n.startReporter()
	for _, l := range n.Listeners() {
		n.log.Info("listening", "role", l.Role, "protocol", l.Protocol, "address", l.Address, "stream", l.Stream)
	}
	return nil
}

func (n *Node) listen() error {
	cfg := n.cfg
	if cfg.HTTP.Listen != "" {
		srv := n.newHTTPServer(n.web.Handler())
		info := httpserver.Listener{Role: "http", Protocol: "http"}
		if n.certs != nil {
			info.Protocol = "https"
		}
		if err := n.serveHTTP(srv, cfg.HTTP.Listen, cfg.HTTP.ReusePort, n.certs != nil, info); err != nil {
			return err
		}
	}
	for i, in := range cfg.Ingest {
		for _, proto := range in.Protocols {
			if err := n.serveIngest(i, proto, in.Listen, in.Stream); err != nil {
				return err
			}
		}
	}
	for _, p := range cfg.Play {
		if err := n.servePlay(p); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: time.Duration(n.cfg.HTTP.ReadHeaderTimeout),
		MaxHeaderBytes:    int(n.cfg.HTTP.MaxHeaderBytes),
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
}

func (n *Node) serveHTTP(srv *http.Server, addr string, reusePort, useTLS bool, info httpserver.Listener) error {
	l, err := listenTCP(addr, reusePort)
	if err != nil {
		return fmt.Errorf("%s listener: %w", info.Role, err)
	}
	info.Address = l.Addr().String()
	l = n.guard.Listen(l, guard.Role{Kind: guard.RoleHTTP})
	if useTLS {
		if l, err = n.tlsListener(l); err != nil {
			return fmt.Errorf("%s listener %s: %w", info.Role, info.Address, err)
		}
	}
	n.addListener(info)
	n.https = append(n.https, srv)
	n.goServe(info, func() error { return srv.Serve(l) }, http.ErrServerClosed)
	return nil
}

func (n *Node) serveIngest(index int, proto, addr, name string) error {
	info := httpserver.Listener{Role: "ingest", Protocol: proto, Stream: name}
	switch proto {
	case "tcp":
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("tcp ingest of stream %q: %w", name, err)
		}
		in := &tcp.Ingest{Hub: n.hub, Stream: name, Log: n.log}
		info.Address = l.Addr().String()
		l = n.guard.Listen(l, guard.Role{Kind: guard.RoleIngest, Index: index, Stream: name})
		n.closers = append(n.closers, in.Close)
		n.goServe(info, func() error { return in.Serve(l) }, tcp.ErrServerClosed)
	case "udp":
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("udp ingest of stream %q: %w", name, err)
		}
		if uc, ok := pc.(*net.UDPConn); ok {
			uc.SetReadBuffer(4 << 20) // ride out scheduling hiccups at high bitrates
		}
		in := &udp.Ingest{Hub: n.hub, Stream: name, Log: n.log}
		info.Address = pc.LocalAddr().String()
		pc = n.guard.ListenPacket(pc, index, name)
		n.closers = append(n.closers, in.Close)
		n.goServe(info, func() error { return in.Serve(pc) }, udp.ErrServerClosed)
	default:
		return fmt.Errorf("ingest protocol %q: use tcp or udp", proto)
	}
	n.addListener(info)
	return nil
}

func (n *Node) servePlay(p config.Play) error {
	info := httpserver.Listener{Role: "play", Protocol: p.Protocol, Stream: p.Stream}
	switch p.Protocol {
	case "ws":
		if p.TLS {
			info.Protocol = "wss"
		}
		return n.serveHTTP(n.newHTTPServer(n.web.WebSocketOnly(p.Stream)), p.Listen, p.ReusePort, p.TLS, info)
	case "tcp":
		l, err := listenTCP(p.Listen, p.ReusePort)
		if err != nil {
			return fmt.Errorf("tcp play of stream %q: %w", p.Stream, err)
		}
		pl := &tcp.Play{Hub: n.hub, Stream: p.Stream, OnDemand: n.demand.Start, Log: n.log}
		info.Address = l.Addr().String()
		l = n.guard.Listen(l, guard.Role{Kind: guard.RolePlay, Stream: p.Stream})
		n.closers = append(n.closers, pl.Close)
		n.goServe(info, func() error { return pl.Serve(l) }, tcp.ErrServerClosed)
	default:
		return fmt.Errorf("play protocol %q: use ws or tcp", p.Protocol)
	}
	n.addListener(info)
	return nil
}

// goServe runs serve until it returns; an error other than closed is logged.
func (n *Node) goServe(info httpserver.Listener, serve func() error, closed error) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := serve(); err != nil && !errors.Is(err, closed) {
			n.log.Error("listener failed", "role", info.Role, "protocol", info.Protocol, "address", info.Address, "err", err)
		}
	}()
}

// Listeners returns the listening sockets with their bound addresses.
func (n *Node) Listeners() []httpserver.Listener {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.listeners)
}

func (n *Node) addListener(l httpserver.Listener) {
	n.mu.Lock()
	n.listeners = append(n.listeners, l)
	n.mu.Unlock()
}

// Addr returns the bound address of the first listener with role and
// protocol, or "".
func (n *Node) Addr(role, protocol string) string {
	for _, l := range n.Listeners() {
		if l.Role == role && l.Protocol == protocol {
			return l.Address
		}
	}
	return ""
}

// Shutdown stops accepting, closes every stream (publishers are dropped,
// viewers get a clean end), and waits for all of it, or for ctx.
func (n *Node) Shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	httpErrs := make([]error, len(n.https))
	for i, srv := range n.https {
		wg.Add(1)
		go func() {
			defer wg.Done()
			httpErrs[i] = srv.Shutdown(ctx)
		}()
	}
	if n.reporter != nil {
		n.reporter.Close()
	}
	n.reloading.Lock()
	n.stopped = true // a Reload from now on changes nothing
	n.reloading.Unlock()
	n.mu.Lock()
	relays := n.relays
	n.mu.Unlock()
	n.demand.Close() // before the hub, as the static pulls
	for _, l := range relays {
		if l.pull != nil {
			l.close() // before the hub, so that their publishers end as "shutdown"
		}
	}
	n.hub.Close()
	for _, l := range relays {
		if l.push != nil {
			l.close()
		}
	}
	var errs []error
	for _, c := range n.closers {
		errs = append(errs, c())
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		n.web.Wait()
		n.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, srv := range n.https {
			srv.Close()
		}
		<-done
		errs = append(errs, fmt.Errorf("shutdown: %w", ctx.Err()))
	}
	return errors.Join(append(errs, httpErrs...)...)
}
