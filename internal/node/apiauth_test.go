package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/guard"
	"github.com/tsstream/tsstream/internal/tstest"
)

// TestAPICredentials: with auth.api_token set, the API, /metrics and the
// dashboard need it; publishing, play and /healthz do not. POST
// /api/v1/reload applies a new configuration, and an invalid one is
// refused whole while the old one stays in force.
func TestAPICredentials(t *testing.T) {
	cfg := testConfig("live")
	cfg.Auth.APIToken = "api-t0ken"
	cfg.Auth.PublishKey = "old-key"
	cfg.Auth.TokenSecret = "0123456789abcdef"
	cfg.Streams["paid"] = config.StreamOptions{PlayToken: config.On}
	paidToken := guard.SignToken([]byte(cfg.Auth.TokenSecret), "paid", time.Now().Add(time.Hour), netip.Addr{})
	n := New(cfg, nil, "test")
	next := cfg
	n.SetReloader(func() (*config.Config, error) { return next, nil })
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(t.Context()) })
	base := addr(t, n, "http", "http", "")
	c := httpClient(t)
	do := func(method, path, token string) int {
		req, _ := http.NewRequest(method, httpURL(base, path), nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/v1/streams", "", 401},
		{"GET", "/api/v1/streams", "wrong", 401},
		{"GET", "/api/v1/streams", "api-t0ken", 200},
		{"GET", "/api/v1/node", "", 401},
		{"GET", "/api/v1/streams/live", "", 200}, // the play page reads it; live needs no token
		{"GET", "/api/v1/streams/paid", "", 401},
		{"GET", "/api/v1/streams/paid?token=" + paidToken, "", 200},
		{"GET", "/metrics", "", 401},
		{"GET", "/metrics", "api-t0ken", 200},
		{"GET", "/", "", 401},
		{"GET", "/cluster", "", 401},
		{"POST", "/api/v1/reload", "", 401},
		{"GET", "/healthz", "", 200},
		{"GET", "/play/live", "", 200},
	} {
		if got := do(tt.method, tt.path, tt.token); got != tt.want {
			t.Errorf("%s %s with %q: %d, want %d", tt.method, tt.path, tt.token, got, tt.want)
		}
	}

	bad := testConfig("live")
	bad.Limits.MaxStreams = -1
	next = bad
	if got := do("POST", "/api/v1/reload", "api-t0ken"); got != 400 {
		t.Errorf("reload of an invalid config: %d, want 400", got)
	}
	if status, _ := post(t, c, httpURL(base, "/publish/a?key=old-key"), tstest.Packets(0, 1)); status != 200 {
		t.Errorf("after a refused reload the old key gets %d", status)
	}
	good := testConfig("live")
	good.Auth.APIToken = "api-t0ken"
	good.Auth.TokenSecret = cfg.Auth.TokenSecret
	good.Auth.PublishKey = "new-key"
	next = good
	if got := do("POST", "/api/v1/reload", "api-t0ken"); got != 200 {
		t.Fatalf("reload: %d", got)
	}
	if status, _ := post(t, c, httpURL(base, "/publish/a?key=old-key"), tstest.Packets(0, 1)); status != 403 {
		t.Errorf("after the reload the old key gets %d, want 403", status)
	}
	if status, _ := post(t, c, httpURL(base, "/publish/a?key=new-key"), tstest.Packets(0, 1)); status != 200 {
		t.Errorf("after the reload the new key gets %d, want 200", status)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial to cert.pem and key.pem in dir.
func writeCert(t *testing.T, dir string, serial int64) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "tsstream test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestTLS: with a certificate the HTTP server speaks HTTPS and WSS (and a
// ws play listener with tls: true WSS), and a reload serves a renewed
// certificate to new connections without a restart.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, 1)
	cfg := testConfig("live")
	cfg.HTTP.TLSCert, cfg.HTTP.TLSKey = certFile, keyFile
	cfg.Play = []config.Play{{Listen: anyPort, Stream: "live", Protocol: "ws", TLS: true}}
	n := startNode(t, cfg)
	base, wss := addr(t, n, "http", "https", ""), addr(t, n, "play", "wss", "live")
	insecure := &tls.Config{InsecureSkipVerify: true}
	serial := func() int64 {
		c, err := tls.Dial("tcp", base, insecure)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure}}
	t.Cleanup(c.CloseIdleConnections)
	resp, err := c.Get("https://" + base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("https: %v %v", resp, err)
	}
	resp.Body.Close()
	if status, err := httpGetNoFail(base + "/healthz"); err == nil && status == 200 {
		t.Error("plain HTTP is served on the TLS port")
	}
	d := &websocket.Dialer{TLSClientConfig: insecure, HandshakeTimeout: ioTimeout}
	var views []viewer
	for _, url := range []string{"wss://" + base + "/ws/live", "wss://" + wss + "/any"} {
		conn, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		t.Cleanup(func() { conn.Close() })
		views = append(views, &wsViewer{conn: conn, ts: true})
	}
	waitViewers(t, n, "live", map[string]int{"ws": 2})
	want := tstest.Packets(0, 400)
	dialTCP(t, addr(t, n, "ingest", "tcp", "live")).Write(want)
	got, errs := readAll(views, len(want))
	for i := range views {
		if errs[i] != nil {
			t.Fatalf("wss viewer %d: %v", i, errs[i])
		}
		tstest.SameBytes(t, "wss viewer", got[i], want)
	}

	if s := serial(); s != 1 {
		t.Fatalf("serial %d, want 1", s)
	}
	writeCert(t, dir, 2)
	if _, err := n.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if s := serial(); s != 2 {
		t.Errorf("after the reload the serial is %d, want 2", s)
	}
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	n.Reload(cfg) // logged; the old certificate stays
	if s := serial(); s != 2 {
		t.Errorf("after a broken file the serial is %d, want 2 still", s)
	}
	if !strings.HasPrefix(base, "127.0.0.1:") {
		t.Errorf("listener address %s", base)
	}
}
