package websocket

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// acceptGUID is the fixed string RFC 6455 section 1.3 appends to the key.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value answering the
// Sec-WebSocket-Key value key: base64(SHA-1(key + GUID)).
func AcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// IsUpgrade reports whether r asks for a WebSocket upgrade: its Connection
// header has the token "upgrade" and its Upgrade header the token
// "websocket", case-insensitively, in any of their comma-separated lists.
func IsUpgrade(r *http.Request) bool {
	return hasToken(r.Header, "Connection", "upgrade") &&
		hasToken(r.Header, "Upgrade", "websocket")
}

// hasToken reports whether any comma-separated element of any value of the
// header name equals token, ignoring case and surrounding blanks.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for elem := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(elem), token) {
				return true
			}
		}
	}
	return false
}

// Upgrade completes the opening handshake of r and takes over the
// connection. It checks that r is a GET over HTTP/1.1 or later asking for a
// WebSocket upgrade, with Sec-WebSocket-Version 13 and a Sec-WebSocket-Key
// that decodes to 16 bytes. If the client offers subprotocols, the first one
// it offers that is also in protocols is echoed; otherwise none is, and it
// is up to the client whether to go on.
//
// On success it has hijacked the connection, written the 101 response and
// cleared any deadlines net/http set on it; it returns the connection and
// the reader holding whatever the client sent after the request, from which
// frames must be read (see NewReader). The caller then owns the connection
// and must close it.
//
// On a bad request it answers with a plain-text error naming the problem:
// 405 for a method other than GET, 426 with "Sec-WebSocket-Version: 13" for
// another version, 400 otherwise; and returns an error with the same text.
func Upgrade(w http.ResponseWriter, r *http.Request, protocols []string) (net.Conn, *bufio.Reader, error) {
	if status, reason := checkRequest(r); status != 0 {
		switch status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", http.MethodGet)
		case http.StatusUpgradeRequired:
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		http.Error(w, reason, status)
		return nil, nil, errors.New("websocket: " + reason)
	}

	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		const reason = "cannot take over the connection for a WebSocket upgrade"
		http.Error(w, reason, http.StatusInternalServerError)
		return nil, nil, fmt.Errorf("websocket: %s: %w", reason, err)
	}

	resp := make([]byte, 0, 256)
	resp = append(resp, "HTTP/1.1 101 Switching Protocols\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	resp = append(resp, AcceptKey(r.Header.Get("Sec-WebSocket-Key"))...)
	if p := pickProtocol(r.Header, protocols); p != "" {
		resp = append(resp, "\r\nSec-WebSocket-Protocol: "...)
		resp = append(resp, p...)
	}
	resp = append(resp, "\r\n\r\n"...)

	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("websocket: clearing deadlines after upgrade: %w", err)
	}
	if _, err := conn.Write(resp); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("websocket: writing the 101 response: %w", err)
	}
	return conn, brw.Reader, nil
}

// checkRequest returns the HTTP status and reason rejecting r, or 0 and ""
// if r is a valid opening handshake.
func checkRequest(r *http.Request) (status int, reason string) {
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s: a WebSocket upgrade must be a GET", r.Method)
	}
	if !r.ProtoAtLeast(1, 1) {
		return http.StatusBadRequest,
			fmt.Sprintf("protocol %s: a WebSocket upgrade needs HTTP/1.1", r.Proto)
	}
	if !IsUpgrade(r) {
		return http.StatusBadRequest,
			`not a WebSocket upgrade: need "Connection: Upgrade" and "Upgrade: websocket"`
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" {
		return http.StatusUpgradeRequired,
			fmt.Sprintf("Sec-WebSocket-Version %q is not supported; only 13 is", v)
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if key == "" {
		return http.StatusBadRequest, "missing Sec-WebSocket-Key"
	}
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		return http.StatusBadRequest, "Sec-WebSocket-Key must be 16 bytes in base64"
	}
	return 0, ""
}

// pickProtocol returns the first subprotocol the client offers in its
// Sec-WebSocket-Protocol headers that is in allowed, or "".
func pickProtocol(h http.Header, allowed []string) string {
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for offered := range strings.SplitSeq(v, ",") {
			offered = strings.TrimSpace(offered)
			for _, a := range allowed {
				if offered == a {
					return a
				}
			}
		}
	}
	return ""
}
