package push

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tsstream/tsstream/internal/relay"
)

// An HTTP push is one POST whose chunked body is the stream, for as long as
// the link lasts:
//
//	POST /publish/NAME?key=KEY HTTP/1.1
//	Host: host:port
//	Transfer-Encoding: chunked
//	Expect: 100-continue
//	Tsstream-Path: NODE
//
// The request asks for "100 Continue" so that a refusal (409: the stream
// has a publisher; 401/403: the key; 508: a relay loop) comes back before
// any data is sent and before the push becomes a reader of the stream. A
// target that ignores Expect gets the body after expectContinueTimeout.
// Any response after that ends the session: the target stopped taking the
// stream. The request is written by hand, not with net/http's client, so
// that every batch goes out in one writev under a write deadline, as to a
// viewer, and a target that stops reading is cut instead of blocking.

// PathHeader carries the names of the nodes a pushed stream went through.
const PathHeader = relay.PathHeader

// expectContinueTimeout is how long an HTTP push waits for "100 Continue"
// or a refusal before it sends the body anyway.
const expectContinueTimeout = time.Second

// requestHead returns the request line and headers of an HTTP push to d;
// path is the relay path to announce, this node last.
func requestHead(d *dest, path []string) []byte {
	h := http.Header{}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Transfer-Encoding", "chunked")
	h.Set("Expect", "100-continue")
	return requestHeadWith(d, http.MethodPost, path, h)
}

// requestHeadWith returns a request of method to d with the headers h, the
// relay path and the credentials of d's URL.
func requestHeadWith(d *dest, method string, path []string, h http.Header) []byte {
	u := d.url
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, u.RequestURI(), u.Host)
	h.Set("User-Agent", "tsstream")
	if len(path) > 0 {
		h.Set(PathHeader, strings.Join(path, ","))
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw)))
	}
	h.Write(&b)
	b.WriteString("\r\n")
	return b.Bytes()
}

func (t *target) dialHTTP(ctx context.Context, cancel context.CancelCauseFunc) (link, error) {
	conn, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	return t.upload(ctx, cancel, conn, bufio.NewReader(conn), requestHead(t.d, t.p.relayPath()))
}

// upload sends the request head of a push on conn, whose answers br reads,
// and returns the link once the target said "100 Continue" (or did not
// answer within expectContinueTimeout).
func (t *target) upload(ctx context.Context, cancel context.CancelCauseFunc, conn net.Conn, br *bufio.Reader,
	head []byte) (link, error) {
	c := newStreamConn(ctx, conn, true, t.p.cfg.WriteTimeout)
	continued := make(chan struct{})
	go func() {
		defer close(c.watched)
		cancel(watchHTTP(conn, br, continued))
	}()
	if !c.cut.arm(t.p.cfg.WriteTimeout) {
		c.close()
		return nil, context.Cause(ctx)
	}
	if _, err := conn.Write(head); err != nil {
		c.close()
		return nil, fmt.Errorf("sending the request: %w", err)
	}
	timer := time.NewTimer(expectContinueTimeout)
	defer timer.Stop()
	select {
	case <-continued:
	case <-timer.C:
	case <-ctx.Done():
		c.close()
		return nil, context.Cause(ctx)
	}
	return c, nil
}

// watchHTTP reads the target's responses: "100 Continue" closes continued;
// a final response, or the connection ending, is returned as why the
// session ends.
func watchHTTP(conn net.Conn, br *bufio.Reader, continued chan struct{}) error {
	req := &http.Request{Method: http.MethodPost}
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return hangup(err)
		}
		if resp.StatusCode == http.StatusContinue && continued != nil {
			close(continued)
			continued = nil
		}
		if resp.StatusCode < 200 {
			continue
		}
		conn.SetReadDeadline(time.Now().Add(endTimeout))
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &statusError{code: resp.StatusCode, status: resp.Status, body: strings.Join(strings.Fields(string(body)), " ")}
	}
}

// statusError is a response from an HTTP target: a refusal, or the end of
// the upload.
type statusError struct {
	code   int
	status string // "409 Conflict"
	body   string // the start of the body, on one line
}

func (e *statusError) Error() string {
	if e.body == "" {
		return "the target answered " + e.status
	}
	return fmt.Sprintf("the target answered %s: %s", e.status, e.body)
}

// hold reports a refusal that will not clear soon: the stream has another
// publisher (409), or the target found itself in the relay path (508).
func (e *statusError) hold() bool {
	return e.code == http.StatusConflict || e.code == http.StatusLoopDetected
}
