package push

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tsstream/tsstream/internal/relay"
	"github.com/tsstream/tsstream/internal/stream"
)

// Reliable pushes, on the wire (the receiving side is in
// internal/httpserver/resume.go). On each connection a reliable push first
// asks the target where to go on, then sends the stream from there, both
// requests on one connection:
//
//	HEAD /publish/NAME?key=K HTTP/1.1   Tsstream-Ring: R       this node's ring of the stream
//	200 OK                              Tsstream-Ring: H       the ring of the session the target keeps
//	                                    Tsstream-Offset: N     the next byte it wants; -1: it keeps none
//	POST /publish/NAME?key=K HTTP/1.1   Tsstream-Ring: R
//	                                    Tsstream-Offset: S     the offset of the body's first byte after the prefix
//	                                    Tsstream-Prefix: P     bytes of PAT/PMT before it
//
// When H is R the push places an exact reader (stream/exact.go) at N: it
// gets S = N, or, when the ring no longer holds byte N, its oldest byte
// S > N, and the S - N bytes are counted as lost (Gaps, LostBytes). When
// the target keeps nothing, or a session of another ring (this node's
// stream restarted), the push starts where a new viewer would, after P
// bytes of PAT/PMT. The target continues its kept session when S = N and
// P = 0, and starts a new one otherwise.
//
// The target keeps a session whose body breaks off (a cut: no last chunk)
// and ends one whose body ends cleanly, which the push sends only when it
// stops for good (the pusher or the stream closed). An exact reader never
// skips: a push that falls out of the ring ends and reconnects at the
// target's offset. The relay path of the bytes changing ends it too, cut
// without a last chunk, and it reconnects at once to announce the new
// path. Unlike a real-time push, a reliable one does not wait for a
// publisher: it holds the target's stream as long as it runs, so that the
// bytes of each new publisher go out from the first.

// errPathChanged ends a reliable push at the first byte that came another
// way; it reconnects at once with the new relay path.
var errPathChanged = errors.New("the relay path of the stream's data changed")

// dialReliable opens a reliable HTTP push: it asks the target where to
// resume, places the reader there and sends the request that carries the
// offset. It returns the link and the reader.
func (t *target) dialReliable(ctx context.Context, cancel context.CancelCauseFunc) (link, *stream.Reader, error) {
	conn, err := t.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Until the upload's own cutter takes over, the session ending (the
	// pusher closing) unblocks the exchange.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	fail := func(err error) (link, *stream.Reader, error) {
		stop()
		conn.Close()
		return nil, nil, err
	}
	name := t.p.cfg.Stream
	ring := ""
	if s := t.p.cfg.Hub.Get(name); s != nil {
		ring = s.RingID()
	}
	h := http.Header{}
	if ring != "" {
		h.Set(relay.RingHeader, ring)
	}
	conn.SetDeadline(time.Now().Add(t.p.cfg.DialTimeout))
	if _, err := conn.Write(requestHeadWith(t.d, http.MethodHead, t.p.relayPath(), h)); err != nil {
		return fail(fmt.Errorf("asking the target where to resume: %w", err))
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
	if err != nil {
		return fail(fmt.Errorf("asking the target where to resume: %w", hangup(err)))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(headRefusal(resp))
	}
	held, next := resp.Header.Get(relay.RingHeader), int64(-1)
	if n, err := strconv.ParseInt(resp.Header.Get(relay.OffsetHeader), 10, 64); err == nil && n >= 0 && held != "" {
		next = n
	}
	if !stop() {
		conn.Close()
		return nil, nil, context.Cause(ctx)
	}
	conn.SetDeadline(time.Time{})

	info := stream.ReaderInfo{Protocol: t.proto, Remote: t.name, Relay: true}
	var (
		rd    *stream.Reader
		start int64
	)
	if held == ring && next >= 0 {
		rd, start, err = t.p.cfg.Hub.NewReaderAt(name, info, ring, next)
	} else {
		rd, start, err = t.p.cfg.Hub.NewReaderAt(name, info, "", -1)
	}
	if err != nil {
		conn.Close()
		if errors.Is(err, stream.ErrHubClosed) || errors.Is(err, stream.ErrClosed) {
			return nil, nil, fmt.Errorf("%w: %w", errStop, err)
		}
		return nil, nil, err
	}
	t.noteResume(held, ring, next, rd.Stream().RingID(), start)

	h = http.Header{}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Transfer-Encoding", "chunked")
	h.Set("Expect", "100-continue")
	h.Set(relay.RingHeader, rd.Stream().RingID())
	h.Set(relay.OffsetHeader, strconv.FormatInt(start, 10))
	h.Set(relay.PrefixHeader, strconv.Itoa(rd.PrefixLen()))
	path := slices.Clone(rd.Path())
	if t.p.cfg.Node != "" {
		path = append(path, t.p.cfg.Node)
	}
	l, err := t.upload(ctx, cancel, conn, br, requestHeadWith(t.d, http.MethodPost, path, h))
	if err != nil {
		rd.Close("refused")
		return nil, nil, err
	}
	t.pushed = rd.Stream().RingID()
	return l, rd, nil
}

// noteResume counts and logs how a reliable push goes on: asked for offset
// next of ring held (the target's answer), it starts at offset start of
// ring now (ring: this node's ring when it asked).
func (t *target) noteResume(held, ring string, next int64, now string, start int64) {
	switch {
	case held != "" && held == ring && now == ring && start == next:
		t.count(func(st *TargetStats) { st.Resumes++ })
		t.log.Info("reliable push resuming at the exact byte", "offset", next)
	case held != "" && held == ring && now == ring && start > next:
		lost := start - next
		t.count(func(st *TargetStats) { st.Gaps++; st.LostBytes += lost })
		t.log.Warn("reliable push lost bytes: this node's ring no longer holds them",
			"lost_bytes", lost, "from_offset", next, "resumed_at", start)
	case held != "":
		t.count(func(st *TargetStats) { st.Gaps++ })
		t.log.Warn("reliable push cannot resume: the target's session came from another ring of the stream "+
			"(this node's stream restarted); the bytes in between are lost", "ring", now, "target_ring", held)
	case t.pushed != "":
		t.count(func(st *TargetStats) { st.Gaps++ })
		t.log.Warn("reliable push cannot resume: the target keeps no session (its resume window passed, " +
			"or it restarted or was taken over); starting clean")
	}
}

// headRefusal describes a target's refusal to say where to resume.
func headRefusal(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return &statusError{code: resp.StatusCode, status: resp.Status,
			body: "the target does not take reliable pushes (they need a tsstream that answers HEAD /publish/NAME); " +
				"drop reliable=1 for a real-time push"}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &statusError{code: resp.StatusCode, status: resp.Status, body: strings.Join(strings.Fields(string(body)), " ")}
}
