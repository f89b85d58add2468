package push

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// parseCases are ParseTarget's table, also the fuzz test's seeds.
var parseCases = []struct {
	url     string
	addr    string // host:port to dial; "" when the URL is refused
	shown   string // as logs and the API show it
	wantErr string // part of the error
}{
	{url: "tcp://10.0.0.2:50001", addr: "10.0.0.2:50001", shown: "tcp://10.0.0.2:50001"},
	{url: "tcp://relay.example.com:9000/", addr: "relay.example.com:9000", shown: "tcp://relay.example.com:9000/"},
	{url: "tcp://[::1]:50001", addr: "[::1]:50001", shown: "tcp://[::1]:50001"},
	{url: "udp://127.0.0.1:1234", addr: "127.0.0.1:1234", shown: "udp://127.0.0.1:1234"},
	{url: "udp://239.0.0.1:1234?ttl=4&iface=eth0", addr: "239.0.0.1:1234", shown: "udp://239.0.0.1:1234?ttl=4&iface=eth0"},
	{url: "udp://[ff15::1]:1234?iface=eth0", addr: "[ff15::1]:1234", shown: "udp://[ff15::1]:1234?iface=eth0"},
	{url: "udp://10.0.0.9:1234?ttl=0", addr: "10.0.0.9:1234", shown: "udp://10.0.0.9:1234?ttl=0"},
	{url: "http://edge:8088/publish/live", addr: "edge:8088", shown: "http://edge:8088/publish/live"},
	{url: "http://edge/publish/live?key=abc", addr: "edge:80", shown: "http://edge/publish/live?key=xxxxx"},
	{url: "http://u:pw@edge:8088/ingest?token=t&x=1", addr: "edge:8088", shown: "http://u:xxxxx@edge:8088/ingest?token=xxxxx&x=1"},
	{url: "http://edge:8088", addr: "edge:8088", shown: "http://edge:8088"},
	{url: "HTTP://edge:8088/publish/a", addr: "edge:8088", shown: "http://edge:8088/publish/a"},
	{url: "http://edge:8088/publish/live?key=abc&reliable=1", addr: "edge:8088", shown: "http://edge:8088/publish/live?key=xxxxx&reliable=1"},
	{url: "http://edge:8088/publish/live?reliable=true", addr: "edge:8088", shown: "http://edge:8088/publish/live?reliable=true"},

	{url: "http://edge/publish/live?reliable=2", wantErr: `reliable="2": use reliable=1`},
	{url: "http://edge/publish/live?reliable", wantErr: `reliable="": use reliable=1`},
	{url: "http://edge/publish/live?reliable=1&reliable=1", wantErr: "option reliable given twice"},
	{url: "tcp://edge:1?reliable=1", wantErr: "reliable=1 is only for http:// targets"},
	{url: "udp://edge:1?reliable=1", wantErr: "reliable=1 is only for http:// targets"},
	{url: "ftp://x", wantErr: `push target "ftp://x": use tcp://, udp:// or http://`},
	{url: "https://edge/publish/live", wantErr: "https is not supported"},
	{url: "", wantErr: "use tcp://, udp:// or http://"},
	{url: "edge:8088", wantErr: "use tcp://, udp:// or http://"},
	{url: "tcp:edge:8088", wantErr: "needs a host"},
	{url: "tcp://edge", wantErr: "needs a port: tcp://edge:PORT"},
	{url: "tcp://edge:", wantErr: "empty port"},
	{url: "tcp://:8088", wantErr: "needs a host"},
	{url: "tcp://edge:0", wantErr: `port "0": use 1 to 65535`},
	{url: "tcp://edge:65536", wantErr: `port "65536"`},
	{url: "tcp://edge:http", wantErr: "invalid port"},
	{url: "tcp://edge:1/x", wantErr: "a path has no meaning for tcp://"},
	{url: "tcp://edge:1?ttl=2", wantErr: "tcp:// takes no ?options"},
	{url: "tcp://u@edge:1", wantErr: "user@ is only for http://"},
	{url: "tcp://edge:1#x", wantErr: "#fragment"},
	{url: "udp://edge:1?ttl=256", wantErr: `ttl="256": use 0 to 255`},
	{url: "udp://edge:1?ttl=-1", wantErr: `ttl="-1"`},
	{url: "udp://edge:1?ttl=1&ttl=2", wantErr: "option ttl given 2 times"},
	{url: "udp://10.0.0.1:1?iface=eth0", wantErr: "iface= is only for a multicast group"},
	{url: "udp://group.example:1?iface=eth0", wantErr: "iface= is only for a multicast group"},
	{url: "udp://239.0.0.1:1?iface=", wantErr: "iface= needs an interface name"},
	{url: "udp://239.0.0.1:1?loop=1", wantErr: `unknown option "loop": udp:// takes ttl= and iface=`},
	{url: "udp://239.0.0.1:1?ttl=1;x", wantErr: "options:"},
	{url: "http://edge:8088 /publish", wantErr: "invalid"},
	{url: "tCp://]:1", wantErr: `host "]": use a host name or an IP address`},
	{url: "tcp://a..b:1", wantErr: `host "a..b"`},
	{url: "tcp://[fe80::1%25eth0]:1", addr: "[fe80::1%eth0]:1", shown: "tcp://[fe80::1%25eth0]:1"},
	{url: "tcp://edge.:1", addr: "edge.:1", shown: "tcp://edge.:1"},
	{url: "http://[::1:8088/publish", wantErr: "missing ']'"},
}

func TestParseTarget(t *testing.T) {
	for _, c := range parseCases {
		t.Run(c.url, func(t *testing.T) {
			tg, err := ParseTarget(c.url)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("ParseTarget(%q) = %v, want an error containing %q", c.url, err, c.wantErr)
				}
				if prefix := "push target " + strconv.Quote(c.url) + ": "; !strings.HasPrefix(err.Error(), prefix) {
					t.Errorf("error %q does not start with %q", err, prefix)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTarget(%q): %v", c.url, err)
			}
			if tg.URL != c.url {
				t.Errorf("URL %q, want %q as given", tg.URL, c.url)
			}
			d, _ := parseTarget(c.url)
			if d.addr != c.addr || tg.String() != c.shown {
				t.Errorf("dials %q, shown as %q; want %q, %q", d.addr, tg.String(), c.addr, c.shown)
			}
		})
	}
}

// TestReliableOption: reliable=1 marks an HTTP target reliable and is not
// sent to it; the other query values go as written.
func TestReliableOption(t *testing.T) {
	for _, c := range []struct {
		url, uri string
		reliable bool
	}{
		{"http://edge/publish/live?key=a%2Fb&reliable=1&x=2", "/publish/live?key=a%2Fb&x=2", true},
		{"http://edge/publish/live?reliable=1", "/publish/live", true},
		{"http://edge/publish/live?key=k", "/publish/live?key=k", false},
		{"http://edge/publish/live?unreliable=1", "/publish/live?unreliable=1", false},
	} {
		d, err := parseTarget(c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if d.reliable != c.reliable || d.url.RequestURI() != c.uri {
			t.Errorf("%s: reliable %v, request URI %q; want %v, %q", c.url, d.reliable, d.url.RequestURI(), c.reliable, c.uri)
		}
	}
}

func TestRequestHead(t *testing.T) {
	d, err := parseTarget("http://u:pw@edge:8088/publish/live?key=k")
	if err != nil {
		t.Fatal(err)
	}
	got := string(requestHead(d, []string{"origin", "node-a"}))
	want := "POST /publish/live?key=k HTTP/1.1\r\nHost: edge:8088\r\n" +
		"Authorization: Basic dTpwdw==\r\nContent-Type: application/octet-stream\r\nExpect: 100-continue\r\n" +
		"Transfer-Encoding: chunked\r\nTsstream-Path: origin,node-a\r\nUser-Agent: tsstream\r\n\r\n"
	if got != want {
		t.Errorf("request head\n%q\nwant\n%q", got, want)
	}
}

// FuzzParseTarget: no input panics; an accepted URL dials a valid
// host:port and its shown form hides the secrets; a refused one is named
// in the error.
func FuzzParseTarget(f *testing.F) {
	for _, c := range parseCases {
		f.Add(c.url)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tg, err := ParseTarget(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "push target "+strconv.Quote(raw)+": ") {
				t.Fatalf("error %q does not name the URL", err)
			}
			return
		}
		d, err := parseTarget(tg.URL)
		if err != nil {
			t.Fatalf("accepted, then refused: %v", err)
		}
		host, port, err := net.SplitHostPort(d.addr)
		if err != nil || host == "" {
			t.Fatalf("dial address %q: %v", d.addr, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("dial address %q: bad port", d.addr)
		}
		switch d.scheme {
		case "tcp", "udp", "http":
		default:
			t.Fatalf("scheme %q accepted", d.scheme)
		}
		if d.url.User != nil {
			if pw, ok := d.url.User.Password(); ok && pw != "" && pw != "xxxxx" && strings.Contains(tg.String(), ":"+pw+"@") {
				t.Fatalf("shown form %q shows the password", tg.String())
			}
		}
		if d.reliable && hasParam(d.url.RawQuery, "reliable") {
			t.Fatalf("reliable=1 would be sent to the target: %q", d.url.RequestURI())
		}
		if d.scheme == "http" {
			head := string(requestHead(d, []string{"n"}))
			if !strings.HasSuffix(head, "\r\n\r\n") || strings.Count(head, "\r\n\r\n") != 1 {
				t.Fatalf("request head %q: headers do not end once", head)
			}
		}
	})
}
