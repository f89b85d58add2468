// Package cli is tsstream's command line: flags over the configuration file,
// -check and -version, and running until a signal.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/node"
)

// Version is set at build time with -ldflags "-X …/cli.Version=…".
var Version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitInvalid = 2 // bad flags or configuration
)

// options are the command-line flags.
type options struct {
	config, name, http, ingest, ws, stream, logLevel, reportTo string
	push, pull                                                 []string
	check, version                                             bool
	set                                                        map[string]bool // flags given explicitly
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{set: map[string]bool{}}
	fs := flag.NewFlagSet("tsstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", "", "YAML configuration `file`")
	fs.BoolVar(&o.check, "check", false, "validate the configuration and exit (0 ok, 2 invalid)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.StringVar(&o.name, "name", "", "node `name`, used in relay paths and the cluster view (default: host name)")
	fs.StringVar(&o.http, "http", ":8088", "HTTP server `address`; empty disables")
	fs.StringVar(&o.ingest, "ingest", ":50001", "TCP and UDP ingest `address` of the default stream; empty disables")
	fs.StringVar(&o.ws, "ws", ":50002", "WebSocket play `address` of the default stream (any path); empty disables")
	fs.StringVar(&o.stream, "stream", "live", "the default stream's `name`")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.StringVar(&o.reportTo, "report-to", "", "report this node's state to the monitor node at this `URL` (http://monitor:8088)")
	fs.Func("push", "forward the default stream to this `URL` (tcp://, udp://, http://…/publish/NAME); repeatable",
		func(u string) error { o.push = append(o.push, u); return nil })
	fs.Func("pull", "edge mode: fetch any stream a viewer asks for from this upstream `URL` "+
		"(http://origin:8088/live/{stream}.ts, {stream} replaced), on demand; repeat for failover",
		func(u string) error { o.pull = append(o.pull, u); return nil })
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tsstream [flags]\n       tsstream token -stream NAME [-ttl 1h] (a play token; see tsstream token -h)\n\nWith no flags tsstream takes TCP and UDP ingest on :50001 into stream \"live\",\n"+
			"serves HTTP on :8088 and WebSocket play of \"live\" on :50002. Flags override the -config file.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: tsstream takes only flags (see -h)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	return o, nil
}

// Main runs tsstream with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "token" {
		return tokenMain(args[1:], stdout, stderr, time.Now())
	}
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "tsstream:", err)
		return exitInvalid
	}
	if o.version {
		fmt.Fprintln(stdout, "tsstream", Version)
		return exitOK
	}
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitInvalid
	}
	if o.check {
		fmt.Fprintf(stdout, "%s: ok\n", cmp(o.config, "default configuration"))
		return exitOK
	}
	log := newLogger(stderr, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reload := func() (*config.Config, error) { return loadConfig(o) }
	if err := run(ctx, cfg, log, reload); err != nil {
		log.Error("tsstream stopped", "err", err)
		return exitFailed
	}
	return exitOK
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// run serves until ctx is done, then shuts down within the configured time.
// SIGHUP applies the configuration reload returns; an invalid one is
// logged and the running one stays.
func run(ctx context.Context, cfg *config.Config, log *slog.Logger, reload func() (*config.Config, error)) error {
	n := node.New(cfg, log, Version)
	n.SetReloader(reload)
	if err := n.Start(); err != nil {
		return err
	}
	log.Info("tsstream started", "version", Version, "name", cfg.Name)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for ctx.Err() == nil {
		select {
		case <-hup:
			next, err := reload()
			if err == nil {
				_, err = n.Reload(next) // logs what it did
			}
			if err != nil {
				log.Error("SIGHUP: configuration not reloaded; the running one stays", "err", err)
			}
		case <-ctx.Done():
		}
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(n.Config().ShutdownTimeout))
	defer cancel()
	return n.Shutdown(sctx)
}

// loadConfig reads the file, if any, and lays the explicit flags over it.
func loadConfig(o *options) (*config.Config, error) {
	cfg := config.Default()
	if o.config != "" {
		var err error
		if cfg, err = config.Load(o.config); err != nil {
			return nil, err
		}
	}
	applyFlags(cfg, o)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid flags: %w", err)
	}
	return cfg, nil
}

// applyFlags overrides cfg with the flags given on the command line.
func applyFlags(cfg *config.Config, o *options) {
	if o.set["name"] {
		cfg.Name = o.name
	}
	if o.set["log-level"] {
		cfg.LogLevel = o.logLevel
	}
	if o.set["http"] {
		cfg.HTTP.Listen = o.http
	}
	if o.set["stream"] {
		old := cfg.DefaultStream
		cfg.DefaultStream = o.stream
		for i := range cfg.Ingest {
			if cfg.Ingest[i].Stream == old {
				cfg.Ingest[i].Stream = o.stream
			}
		}
		for i := range cfg.Play {
			if cfg.Play[i].Stream == old {
				cfg.Play[i].Stream = o.stream
			}
		}
	}
	def := cfg.DefaultStream
	if o.set["ingest"] {
		cfg.Ingest = slices.DeleteFunc(cfg.Ingest, func(in config.Ingest) bool { return in.Stream == def })
		if o.ingest != "" {
			cfg.Ingest = append(cfg.Ingest, config.Ingest{Listen: o.ingest, Stream: def, Protocols: []string{"tcp", "udp"}})
		}
	}
	if o.set["report-to"] {
		cfg.Monitor.ReportTo = o.reportTo
	}
	if o.set["push"] {
		so := cfg.Streams[def]
		so.Push = o.push
		if cfg.Streams == nil {
			cfg.Streams = map[string]config.StreamOptions{}
		}
		cfg.Streams[def] = so
	}
	if o.set["pull"] {
		// After the file's rules, which may be more specific.
		cfg.Pulls = append(cfg.Pulls, config.Pull{Stream: "*", From: o.pull})
	}
	if o.set["ws"] {
		cfg.Play = slices.DeleteFunc(cfg.Play, func(p config.Play) bool { return p.Stream == def && p.Protocol == "ws" })
		if o.ws != "" {
			cfg.Play = append(cfg.Play, config.Play{Listen: o.ws, Stream: def, Protocol: "ws"})
		}
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
