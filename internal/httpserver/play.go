package httpserver

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/playout"
	"github.com/tsstream/tsstream/internal/stream"
	"github.com/tsstream/tsstream/internal/websocket"
)

// live serves /live/NAME.ts: HTTP-TS, or WebSocket play when the request
// asks for an upgrade. ?offset=N[&ring=ID] asks for the stream's bytes from
// an exact offset, as a reliable relay link does (internal/pull's
// resume.go describes the exchange).
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".ts")
	if !ok {
		http.Error(w, "play URLs end in .ts: /live/NAME.ts", http.StatusNotFound)
		return
	}
	// A pulling relay names the nodes it serves (Tsstream-Path): if this
	// node is among them, serving would close a loop.
	via := relayPath(r.Header.Get(pathHeader))
	if err := s.checkPath(via); err != nil {
		s.log().Warn("viewer refused", "stream", name, "remote", s.remote(r), "err", err)
		httpError(w, err)
		return
	}
	if websocket.IsUpgrade(r) {
		s.serveWebSocket(w, r, name)
		return
	}
	release, err := s.admitViewer(r, name)
	if err != nil {
		httpError(w, err)
		return
	}
	defer func() { release() }() // until the viewer's goroutine takes it
	wait := s.demand(name, via)
	if err := s.relayable(name, via, wait != nil); err != nil {
		httpError(w, err)
		return
	}
	// A relay's reader ends where the stream's relay path changes, so that
	// the relay asks again and hears the new path (see stream/path.go).
	info := stream.ReaderInfo{Protocol: "http", Remote: s.remote(r), Relay: len(via) > 0}
	var (
		rd    *stream.Reader
		start int64
	)
	q := r.URL.Query()
	exact := q.Has("offset")
	if exact {
		off, perr := strconv.ParseInt(q.Get("offset"), 10, 64)
		if perr != nil {
			http.Error(w, "offset: give a byte offset of the stream (from a Tsstream-Offset header), or -1 to start clean",
				http.StatusBadRequest)
			return
		}
		rd, start, err = s.Hub.NewReaderAt(name, info, q.Get("ring"), off)
	} else {
		rd, err = s.Hub.NewReader(name, info)
	}
	if err != nil {
		httpError(w, err)
		return
	}
	if err := s.await(r.Context(), wait, name, via, rd); err != nil {
		rd.Close("start failed")
		httpError(w, err)
		return
	}
	contentType := "video/mp2t"
	if rd.Stream().Options().Format == mpegts.FormatRaw {
		contentType = "application/octet-stream"
	}
	chunked := r.ProtoAtLeast(1, 1)
	if r.Method == http.MethodHead {
		rd.Close("head request")
		w.Header().Set("Content-Type", contentType)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		rd.Close("hijack failed")
		http.Error(w, "cannot stream on this connection: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The response is written by hand so that each batch goes out in one
	// writev: chunk-size line, the ring's chunks, CRLF.
	head := "HTTP/1.1 200 OK\r\nContent-Type: " + contentType +
		"\r\nCache-Control: no-cache, no-store\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n"
	path := s.dataPath(rd.Path())
	if len(path) > 0 {
		head += pathHeader + ": " + strings.Join(path, ",") + "\r\n"
	}
	if info.Relay {
		head += "Trailer: " + pathHeader + "\r\n"
	}
	if exact {
		head += "Tsstream-Ring: " + rd.Stream().RingID() + "\r\nTsstream-Offset: " + strconv.FormatInt(start, 10) +
			"\r\nTsstream-Prefix: " + strconv.Itoa(rd.PrefixLen()) + "\r\n"
	}
	var f playout.Framing
	if chunked {
		head += "Transfer-Encoding: chunked\r\n"
		f = playout.Framing{
			Header: func(dst []byte, n int) []byte {
				return append(strconv.AppendInt(dst, int64(n), 16), '\r', '\n')
			},
			Trailer: []byte("\r\n"),
			End: func(dst []byte, reason string) []byte {
				dst = append(dst, "0\r\n"...)
				if reason == playout.ReasonPathChanged {
					dst = append(dst, pathHeader+": "+strings.Join(s.dataPath(rd.Stream().Path()), ",")+"\r\n"...)
				}
				return append(dst, "\r\n"...)
			},
		}
	} else {
		head = strings.Replace(head, "HTTP/1.1", "HTTP/1.0", 1)
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		rd.Close(playout.ReasonClientGone)
		conn.Close()
		return
	}
	s.play(conn, brw.Reader, rd, f, discardUntilClosed, handOff(&release, func(reason string) {
		if reason == playout.ReasonPathChanged {
			s.log().Info("relay told to ask again: the stream's relay path changed", "stream", name,
				"remote", info.Remote, "via", strings.Join(via, ","), "path", strings.Join(path, ","),
				"new_path", strings.Join(s.dataPath(rd.Stream().Path()), ","))
		}
	}))
}

// discardUntilClosed reads what an HTTP-TS viewer sends (nothing, usually)
// until it hangs up.
func discardUntilClosed(br *bufio.Reader, _ *playout.Viewer) error {
	io.Copy(io.Discard, br)
	return playout.ErrClientClosed
}

// play runs viewer rd on a hijacked connection, on a goroutine of its own,
// and returns at once; done is called with the reason the viewer ended.
// readLoop reads what the client sends until it ends and returns the cause
// for the viewer's end.
//
// The handler returns meanwhile, so that net/http lets go of what it held
// for the request while the viewer plays: the request and its headers, the
// response's and the connection's write buffers and the handler's stack.
// The relay's RSS per idle WebSocket viewer went from 30 to 25 KiB
// (docs/benchmarks.md, "Memory per viewer").
func (s *Server) play(conn net.Conn, br *bufio.Reader, rd *stream.Reader, f playout.Framing,
	readLoop func(*bufio.Reader, *playout.Viewer) error, done func(reason string)) {
	s.viewers.Add(1)
	go func() {
		defer s.viewers.Done()
		defer conn.Close()
		v := playout.New(innerConn(conn), rd, f, s.log())
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			cancel(readLoop(br, v))
		}()
		reason := v.Run(ctx)
		conn.Close()
		<-readDone
		done(reason)
	}()
}

// handOff returns play's done for a handler that deferred *release: the
// handler's deferred call then does nothing, and done gives the viewer's
// place back after then(reason).
func handOff(release *func(), then func(reason string)) func(reason string) {
	rel := *release
	*release = func() {}
	return func(reason string) {
		if then != nil {
			then(reason)
		}
		rel()
	}
}

// admitViewer asks the guard, if any, to let a viewer of name in; release
// gives its place back.
func (s *Server) admitViewer(r *http.Request, name string) (release func(), err error) {
	if s.Guard == nil {
		return func() {}, nil
	}
	return s.Guard.Play(r, name)
}
