package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ReportPath is where a monitor receives reports.
const ReportPath = "/api/v1/reports"

// DefaultInterval is how often a node reports when the configuration says
// nothing.
const DefaultInterval = 2 * time.Second

// ReportURL turns a monitor's address ("http://monitor:8088") into the URL
// reports are posted to. A URL that already ends in ReportPath is kept.
func ReportURL(monitor string) (string, error) {
	u, err := url.Parse(monitor)
	if err != nil {
		return "", fmt.Errorf("monitor URL %q: %w", monitor, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("monitor URL %q: use http://HOST:PORT of the monitor node", monitor)
	}
	if !strings.HasSuffix(u.Path, ReportPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + ReportPath
	}
	return u.String(), nil
}

// Reporter posts the node's report to a monitor every Interval. A failed
// post is logged (once per run of failures) and retried at the next tick.
// A monitor that requires a report token gets it from Token, as a bearer
// token; one that takes its API credentials instead can get them from the
// URL's user and password (http://user:password@monitor:8088), as HTTP
// basic auth.
type Reporter struct {
	URL      string        // from ReportURL
	Interval time.Duration // zero means DefaultInterval
	Snapshot func() Report // the node's state now
	// Token returns the bearer token to send with a report, read for each
	// one (a reload may change it); nil or "" sends none.
	Token  func() string
	Client *http.Client // nil: one with a timeout of Interval
	Log    *slog.Logger // nil discards

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Start reports at once and then every Interval until Close.
func (r *Reporter) Start() {
	if r.Interval <= 0 {
		r.Interval = DefaultInterval
	}
	if r.Client == nil {
		r.Client = &http.Client{Timeout: r.Interval}
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done.Add(1)
	go r.run(ctx)
}

// Close stops reporting and waits for a post in flight.
func (r *Reporter) Close() {
	if r.cancel != nil {
		r.cancel()
		r.done.Wait()
	}
}

func (r *Reporter) run(ctx context.Context) {
	defer r.done.Done()
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	failing := false
	shown := r.URL // for the log, without a password
	if u, err := url.Parse(r.URL); err == nil {
		shown = u.Redacted()
	}
	for {
		err := r.post(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			r.Log.Warn("cannot report to the monitor; retrying", "url", shown, "err", err)
		case err == nil && failing:
			r.Log.Info("reporting to the monitor again", "url", shown)
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Reporter) post(ctx context.Context) error {
	rep := r.Snapshot()
	rep.IntervalSeconds = r.Interval.Seconds()
	body, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if r.Token != nil {
		if tok := r.Token(); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("monitor answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
