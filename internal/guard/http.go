package guard

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/netip"
	"strings"
)

// The HTTP checks take the client's address from the connection
// (Request.RemoteAddr), or, when that is a trusted proxy, from the header
// it forwards (see forwarded.go); never from a header a client wrote to
// the node directly.

// Publish checks an HTTP publish of stream: a denied source gets 403; a
// stream with a key (its own or the global one) needs ?key=, 401 without
// and 403 with a wrong one; with no key set only sources in the publish
// allow-list (default loopback) may publish. A publisher that came through
// a trusted proxy also takes a place in ConnsPerIP by its own address;
// release gives it back when the publisher ends.
func (g *Guard) Publish(r *http.Request, stream string) (release func(), err error) {
	p := g.Policy()
	c := g.client(p, r)
	ip := c.Addr
	if p.Publish.Denies(ip) {
		g.logged.warn("publish-deny "+ip.String(), "publisher refused: source denied",
			"stream", stream, "remote", c, "setting", "auth.publish_deny")
		return nil, g.refuse(PublishSource, http.StatusForbidden, "publishing from %s is denied (auth.publish_deny)", ip)
	}
	own := p.stream(stream).Key
	if own != "" || p.PublishKey != "" {
		key := r.URL.Query().Get("key")
		switch {
		case key == "":
			return nil, g.refuse(PublishKeyMissing, http.StatusUnauthorized,
				"stream %q needs a publish key: add ?key=KEY to the publish URL", stream)
		case !keyEqual(key, own) && !keyEqual(key, p.PublishKey):
			g.logged.warn("publish-key "+ip.String(), "publisher refused: wrong key",
				"stream", stream, "remote", c)
			return nil, g.refuse(PublishKeyWrong, http.StatusForbidden, "wrong publish key for stream %q", stream)
		}
	} else if !p.Publish.Allows(ip) {
		g.logged.warn("publish-source "+ip.String(), "publisher refused: no key is set and the source is not allowed to publish without one",
			"stream", stream, "remote", c, "setting", "auth.publish_key")
		return nil, g.refuse(PublishSource, http.StatusForbidden,
			"publishing from %s needs a key: set auth.publish_key (or streams.%s.publish_key) in the config "+
				"and add ?key=KEY to the publish URL, or list the source in auth.publish_allow", ip, stream)
	}
	if err := g.admitStream(p, stream); err != nil {
		return nil, err
	}
	return g.admitProxied(p, c)
}

// admitProxied counts a request that came through a trusted proxy against
// ConnsPerIP by its client's address: the proxy's connections are not
// counted on accept.
func (g *Guard) admitProxied(p *Policy, c Client) (release func(), err error) {
	if !c.Proxied {
		return func() {}, nil
	}
	release, err = g.admitConn(p, c.Addr)
	if err != nil {
		g.logged.warn("conns "+c.Addr.String(), "request refused", "remote", c, "err", err)
	}
	return release, err
}

// keyEqual compares a given key with a configured one in constant time,
// their lengths included (it compares their SHA-256 digests); an empty
// configured key matches nothing.
func keyEqual(given, want string) bool {
	if want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// Play checks a viewer of stream (any HTTP play URL, WebSocket too): the
// play allow/deny lists, the token when the stream needs one (?token=;
// 401 without, 403 bad or expired), the stream and viewer limits, and, for
// a viewer that came through a trusted proxy, ConnsPerIP by its address.
// release must be called when the viewer ends.
func (g *Guard) Play(r *http.Request, stream string) (release func(), err error) {
	p := g.Policy()
	c := g.client(p, r)
	ip := c.Addr
	if err := g.checkPlaySource(p, c, stream); err != nil {
		return nil, err
	}
	if p.stream(stream).Token {
		switch err := VerifyToken(p.TokenSecret, r.URL.Query().Get("token"), stream, ip, g.now()); {
		case errors.Is(err, ErrTokenMissing):
			return nil, g.refuse(TokenMissing, http.StatusUnauthorized,
				"stream %q needs a play token: add ?token=TOKEN (see tsstream token -h)", stream)
		case errors.Is(err, ErrTokenExpired):
			return nil, g.refuse(TokenExpired, http.StatusForbidden, "play token for stream %q has expired", stream)
		case err != nil:
			return nil, g.refuse(TokenInvalid, http.StatusForbidden, "play token is not valid for stream %q from %s", stream, ip)
		}
	}
	if err := g.admitStream(p, stream); err != nil {
		return nil, err
	}
	releaseConn, err := g.admitProxied(p, c)
	if err != nil {
		return nil, err
	}
	releaseViewer, err := g.admitViewer(p, stream)
	if err != nil {
		releaseConn()
		return nil, err
	}
	return func() { releaseViewer(); releaseConn() }, nil
}

// StreamInfo checks a request for one stream's API entry, which the play
// page reads before it plays: without API credentials configured it is
// open; with them, either the credentials or what Play asks (the play
// lists, and the token when the stream needs one) let it through.
func (g *Guard) StreamInfo(r *http.Request, stream string) error {
	apiErr := g.API(r, false)
	if apiErr == nil {
		return nil
	}
	p := g.Policy()
	ip := g.client(p, r).Addr
	if !p.Play.Allows(ip) {
		return apiErr
	}
	if p.stream(stream).Token &&
		VerifyToken(p.TokenSecret, r.URL.Query().Get("token"), stream, ip, g.now()) != nil {
		return apiErr
	}
	return nil
}

func (g *Guard) checkPlaySource(p *Policy, c Client, stream string) error {
	ip := c.Addr
	if p.Play.Allows(ip) {
		return nil
	}
	g.logged.warn("play-source "+ip.String(), "viewer refused: source not allowed to play",
		"stream", stream, "remote", c, "setting", "auth.play_allow, auth.play_deny")
	return g.refuse(PlaySource, http.StatusForbidden, "playing from %s is not allowed (auth.play_allow, auth.play_deny)", ip)
}

// API checks a request to the API, metrics or dashboard. With credentials
// configured (auth.api_token as a bearer token, or auth.api_user and
// auth.api_password as basic auth) every request needs them. Without,
// reading is open and write (POST /api/v1/reload) is allowed from
// loopback only.
func (g *Guard) API(r *http.Request, write bool) error {
	p := g.Policy()
	if !p.hasAPICredentials() {
		if write && !g.client(p, r).Addr.IsLoopback() {
			return g.refuse(APIAuth, http.StatusForbidden,
				"changing the node from another host needs credentials: set auth.api_token or auth.api_user and auth.api_password")
		}
		return nil
	}
	if p.apiCredentials(r) {
		return nil
	}
	return g.refuse(APIAuth, http.StatusUnauthorized, "this node's API needs credentials (bearer token or basic auth)")
}

func (p *Policy) hasAPICredentials() bool { return p.APIToken != "" || p.APIUser != "" }

// apiCredentials reports whether r carries the API token or the API user
// and password.
func (p *Policy) apiCredentials(r *http.Request) bool {
	if tok, ok := bearer(r); ok && keyEqual(tok, p.APIToken) {
		return true
	}
	user, pass, ok := r.BasicAuth()
	return ok && p.APIUser != "" && keyEqual(user, p.APIUser) && keyEqual(pass, p.APIPassword)
}

func bearer(r *http.Request) (string, bool) {
	return strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// Report checks a report to this node's monitor (POST /api/v1/reports).
// With auth.report_token or API credentials configured, every report needs
// one of them (the report token or the API token as a bearer token, or the
// API user's basic auth), from loopback too; with neither, only sources in
// auth.report_allow (default loopback) may report. Either refusal is a
// 401 that says what to set, counted as ReportAuth.
func (g *Guard) Report(r *http.Request) error {
	p := g.Policy()
	if p.ReportToken == "" && !p.hasAPICredentials() {
		c := g.client(p, r)
		if inPrefixes(p.reportAllow(), c.Addr) {
			return nil
		}
		g.logged.warn("report-source "+c.Addr.String(),
			"monitor report refused: no report token is set and the source is not allowed to report without one",
			"remote", c, "setting", "auth.report_token")
		return g.refuse(ReportAuth, http.StatusUnauthorized,
			"reports from %s need a token: set auth.report_token on this monitor and the same value as "+
				"monitor.report_token on the reporting node, or list the source in auth.report_allow", c.Addr)
	}
	if tok, ok := bearer(r); ok && keyEqual(tok, p.ReportToken) || p.apiCredentials(r) {
		return nil
	}
	return g.refuse(ReportAuth, http.StatusUnauthorized,
		"this monitor needs its report token: set monitor.report_token on the reporting node to this node's auth.report_token")
}

var loopbackPrefixes = MustCIDRs(Loopback)

// reportAllow is ReportAllow, or loopback when it is empty.
func (p *Policy) reportAllow() []netip.Prefix {
	if len(p.ReportAllow) == 0 {
		return loopbackPrefixes
	}
	return p.ReportAllow
}

// ViewerMaxMessage is the largest WebSocket message a viewer may send; 0
// means the websocket package's default.
func (g *Guard) ViewerMaxMessage() int64 { return g.Policy().ViewerMaxMessage }
