package websocket

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAcceptKey(t *testing.T) {
	// The example of RFC 6455 section 1.3.
	if got, want := AcceptKey(rfcKey), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("AcceptKey(%q) = %q, want %q", rfcKey, got, want)
	}
}

func TestIsUpgrade(t *testing.T) {
	tests := []struct {
		name       string
		connection []string
		upgrade    []string
		want       bool
	}{
		{"plain", []string{"Upgrade"}, []string{"websocket"}, true},
		{"case", []string{"UPGRADE"}, []string{"WebSocket"}, true},
		{"list", []string{"keep-alive, Upgrade"}, []string{"websocket"}, true},
		{"second header line", []string{"keep-alive", " upgrade "}, []string{"h2c", "websocket"}, true},
		{"keep-alive only", []string{"keep-alive"}, []string{"websocket"}, false},
		{"substring is not a token", []string{"upgraded"}, []string{"websocket"}, false},
		{"other protocol", []string{"Upgrade"}, []string{"h2c"}, false},
		{"no upgrade header", []string{"Upgrade"}, nil, false},
		{"no headers", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, v := range tt.connection {
				r.Header.Add("Connection", v)
			}
			for _, v := range tt.upgrade {
				r.Header.Add("Upgrade", v)
			}
			if got := IsUpgrade(r); got != tt.want {
				t.Errorf("IsUpgrade = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUpgradeRejects(t *testing.T) {
	srv := serve(t, nil, func(net.Conn, *bufio.Reader) { t.Error("bad handshake was upgraded") })
	tests := []struct {
		name       string
		method     string
		edit       func(h http.Header)
		wantStatus int
		wantBody   string
		wantHeader [2]string
	}{
		{"missing key", "GET", func(h http.Header) { h.Del("Sec-WebSocket-Key") },
			400, "missing Sec-WebSocket-Key", [2]string{}},
		{"key of 15 bytes", "GET", func(h http.Header) { h.Set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA") },
			400, "Sec-WebSocket-Key must be 16 bytes", [2]string{}},
		{"key not base64", "GET", func(h http.Header) { h.Set("Sec-WebSocket-Key", "not base64 at all!!!!!==") },
			400, "Sec-WebSocket-Key must be 16 bytes", [2]string{}},
		{"version 8", "GET", func(h http.Header) { h.Set("Sec-WebSocket-Version", "8") },
			426, `Sec-WebSocket-Version "8" is not supported`, [2]string{"Sec-WebSocket-Version", "13"}},
		{"POST", "POST", func(http.Header) {},
			405, "method POST", [2]string{"Allow", "GET"}},
		{"not an upgrade", "GET", func(h http.Header) { h.Del("Upgrade"); h.Set("Connection", "keep-alive") },
			400, "not a WebSocket upgrade", [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", rfcKey)
			tt.edit(req.Header)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body %q does not contain %q", body, tt.wantBody)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
			if k, v := tt.wantHeader[0], tt.wantHeader[1]; k != "" && resp.Header.Get(k) != v {
				t.Errorf("header %s = %q, want %q", k, resp.Header.Get(k), v)
			}
		})
	}
}

// TestUpgradeErrors covers what a real client cannot send through
// http.Client: HTTP/1.0, and a ResponseWriter that cannot be hijacked.
func TestUpgradeErrors(t *testing.T) {
	valid := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", rfcKey)
		return r
	}
	old := valid()
	old.Proto, old.ProtoMajor, old.ProtoMinor = "HTTP/1.0", 1, 0
	tests := []struct {
		name       string
		r          *http.Request
		wantStatus int
		wantText   string
	}{
		{"HTTP/1.0", old, 400, "HTTP/1.0"},
		{"not hijackable", valid(), 500, "cannot take over the connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			conn, br, err := Upgrade(w, tt.r, nil)
			if err == nil || conn != nil || br != nil {
				t.Fatalf("Upgrade = %v, %v, %v; want an error", conn, br, err)
			}
			if w.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", w.Code, tt.wantStatus)
			}
			if !strings.Contains(w.Body.String(), tt.wantText) || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("body %q / error %q do not name %q", w.Body.String(), err, tt.wantText)
			}
		})
	}
}

func TestUpgradeSubprotocol(t *testing.T) {
	tests := []struct {
		name    string
		offered []string
		allowed []string
		want    string
	}{
		{"client order wins", []string{"a, b", "c"}, []string{"c", "b", "a"}, "a"},
		{"second header line", []string{"x", "jsmpeg"}, []string{"jsmpeg"}, "jsmpeg"},
		{"none allowed", []string{"x, y"}, []string{"jsmpeg"}, ""},
		{"none offered", nil, []string{"jsmpeg"}, ""},
		{"case-sensitive", []string{"JSMpeg"}, []string{"jsmpeg"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, tt.allowed, func(net.Conn, *bufio.Reader) {})
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", rfcKey)
			for _, p := range tt.offered {
				req.Header.Add("Sec-WebSocket-Protocol", p)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d, want 101", resp.StatusCode)
			}
			got := resp.Header.Values("Sec-WebSocket-Protocol")
			if (tt.want == "" && len(got) != 0) || (tt.want != "" && (len(got) != 1 || got[0] != tt.want)) {
				t.Errorf("Sec-WebSocket-Protocol %q, want %q", got, tt.want)
			}
		})
	}
}
