package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/guard"
	"github.com/tsstream/tsstream/internal/monitor"
)

// clientFrom returns an HTTP client whose connections leave from local
// address ip (any of 127.0.0.0/8 on Linux), closed at cleanup.
func clientFrom(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: ioTimeout}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: ioTimeout}
}

// postReport posts a report of node name to the monitor at base and
// returns the status and body; header lines are "Key: value".
func postReport(t *testing.T, c *http.Client, base, name string, header ...string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(monitor.Report{Node: name, Version: "test"})
	req, err := http.NewRequest(http.MethodPost, httpURL(base, monitor.ReportPath), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST report of %s: %v", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// clusterNode returns the monitor's view of node name, nil when it is not
// in the view.
func clusterNode(t *testing.T, c *http.Client, base, name string) *monitor.NodeView {
	t.Helper()
	status, body := httpGet(t, c, httpURL(base, monitor.ClusterPath))
	var v monitor.View
	if status != http.StatusOK || json.Unmarshal([]byte(body), &v) != nil {
		t.Fatalf("GET %s: %d %s", monitor.ClusterPath, status, body)
	}
	for i := range v.Nodes {
		if v.Nodes[i].Name == name {
			return &v.Nodes[i]
		}
	}
	return nil
}

// TestMonitorReportAuth: a monitor takes reports without credentials only
// from loopback (auth.report_allow; here 127.0.0.2 only, so that the
// test's 127.0.0.1 is "another host"); once auth.report_token is set every
// report needs it, and a reporting node sends its monitor.report_token.
// Refusals are 401, name the settings, and are counted in
// tsstream_refused_total{reason="report_auth"}; the monitor's token and
// the reporter's are both applied by a reload.
func TestMonitorReportAuth(t *testing.T) {
	mcfg := testConfig("live")
	mcfg.Name = "monitor"
	m := startNode(t, mcfg)
	base := addr(t, m, "http", "http", "")
	local, other := clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.1")

	// Zero configuration: a node on this host reports, and so does the
	// raw post from loopback.
	rcfg := testConfig("live")
	rcfg.Name = "edge"
	rcfg.Monitor = config.Monitor{ReportTo: "http://" + base, ReportInterval: config.Duration(time.Second)}
	edge := startNode(t, rcfg)
	waitFor(t, ioTimeout, func() bool { return clusterNode(t, other, base, "edge") != nil },
		func() string { return "the edge node's reports did not reach the zero-config monitor" })
	if status, body := postReport(t, other, base, "raw"); status != http.StatusOK {
		t.Fatalf("report from loopback, nothing configured: %d %s", status, body)
	}

	// Reports from a source outside auth.report_allow need a token.
	mcfg.Auth.ReportAllow = []string{"127.0.0.2/32"}
	if _, err := m.Reload(mcfg); err != nil {
		t.Fatal(err)
	}
	before := m.Guard().Refused(guard.ReportAuth)
	status, body := postReport(t, other, base, "afar")
	if status != http.StatusUnauthorized || !strings.Contains(body, "auth.report_token") || !strings.Contains(body, "monitor.report_token") {
		t.Errorf("report from outside auth.report_allow: %d %s, want 401 naming the settings", status, body)
	}
	if status, body := postReport(t, local, base, "near"); status != http.StatusOK {
		t.Errorf("report from 127.0.0.2, in auth.report_allow: %d %s", status, body)
	}
	if clusterNode(t, other, base, "afar") != nil || clusterNode(t, other, base, "near") == nil {
		t.Errorf("the view holds the refused report or lacks the allowed one")
	}

	// With a token, every report needs it: the allowed source too, and
	// the reporting node once its own token is set (without a restart).
	mcfg.Auth.ReportToken = "report-secret"
	if _, err := m.Reload(mcfg); err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	for _, tt := range []struct {
		name   string
		c      *http.Client
		header []string
		want   int
	}{
		{"allowed source, no token", local, nil, http.StatusUnauthorized},
		{"wrong token", other, []string{"Authorization: Bearer report-secre"}, http.StatusUnauthorized},
		{"token as basic auth", other, []string{"Authorization: Basic eDpyZXBvcnQtc2VjcmV0"}, http.StatusUnauthorized},
		{"right token", other, []string{"Authorization: Bearer report-secret"}, http.StatusOK},
	} {
		if status, body := postReport(t, tt.c, base, "raw-token", tt.header...); status != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, status, body, tt.want)
		}
	}
	// afar, the three refused above, and then the edge's, which sends no
	// token yet.
	waitFor(t, ioTimeout, func() bool { return m.Guard().Refused(guard.ReportAuth)-before >= 5 },
		func() string { return "the edge's tokenless report was not refused" })
	if e := clusterNode(t, other, base, "edge"); e == nil || e.LastReport.After(since) {
		t.Errorf("the edge's tokenless report was recorded after the token was set: %+v", e)
	}
	rcfg.Monitor.ReportToken = "report-secret"
	if res, err := edge.Reload(rcfg); err != nil || len(res.NeedsRestart) != 0 {
		t.Fatalf("reload of the reporter's token: %+v, %v", res, err)
	}
	waitFor(t, ioTimeout, func() bool { e := clusterNode(t, other, base, "edge"); return e != nil && e.LastReport.After(since) },
		func() string { return "the edge's reports with its token were not recorded" })
	_, metrics := httpGet(t, other, httpURL(base, "/metrics"))
	if want := fmt.Sprintf(`tsstream_refused_total{reason="report_auth"} %d`, m.Guard().Refused(guard.ReportAuth)); !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}

	// Behind a trusted proxy the forwarded client is the source, and the
	// view shows its address.
	mcfg.Auth.ReportToken = ""
	mcfg.Auth.ReportAllow = nil
	mcfg.TrustedProxies = []string{"127.0.0.1/32"}
	if _, err := m.Reload(mcfg); err != nil {
		t.Fatal(err)
	}
	if status, body := postReport(t, other, base, "proxied", "X-Forwarded-For: 127.0.0.1, 203.0.113.5"); status != http.StatusUnauthorized {
		t.Errorf("report forwarded for 203.0.113.5, no token set: %d %s, want 401", status, body)
	}
	mcfg.Auth.ReportToken = "report-secret"
	if _, err := m.Reload(mcfg); err != nil {
		t.Fatal(err)
	}
	if status, body := postReport(t, other, base, "proxied", "X-Forwarded-For: 203.0.113.5",
		"Authorization: Bearer report-secret"); status != http.StatusOK {
		t.Fatalf("report forwarded for 203.0.113.5 with the token: %d %s", status, body)
	}
	if e := clusterNode(t, other, base, "proxied"); e == nil || e.Address != "203.0.113.5" {
		t.Errorf("the view's address of the proxied node: %+v, want 203.0.113.5", e)
	}
}
