package httpserver

import (
	"bufio"
	"errors"
	"net/http"
	"time"

	"github.com/tsstream/tsstream/internal/guard"
	"github.com/tsstream/tsstream/internal/playout"
	"github.com/tsstream/tsstream/internal/stream"
	"github.com/tsstream/tsstream/internal/websocket"
)

// wsFraming sends each batch as one binary message of whole TS packets (or
// raw bytes), what JSMpeg and mpegts.js read.
var wsFraming = playout.Framing{
	Header: func(dst []byte, n int) []byte {
		return websocket.AppendHeader(dst, websocket.OpBinary, true, n)
	},
	End: func(dst []byte, reason string) []byte {
		code := websocket.CloseGoingAway
		if reason == playout.ReasonTooSlow {
			code = websocket.ClosePolicy
		}
		return websocket.AppendClose(dst, code, reason)
	},
}

// closeTryAgainLater is the WebSocket close code for a stream that could
// not start (RFC 6455's registry: 1013 Try Again Later).
const closeTryAgainLater = 1013

// serveWebSocket plays stream name to a WebSocket viewer. The reader is
// made before the handshake, so that a bad name gets an HTTP error.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, name string) {
	if !websocket.IsUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "WebSocket play: connect with a WebSocket client (ws://…), or use /live/NAME.ts for HTTP-TS",
			http.StatusUpgradeRequired)
		return
	}
	release, err := s.admitViewer(r, name)
	if err != nil {
		httpError(w, err)
		return
	}
	defer func() { release() }() // until the viewer's goroutine takes it
	via := relayPath(r.Header.Get(pathHeader))
	wait := s.demand(name, via)
	remote := s.remote(r)
	rd, err := s.Hub.NewReader(name, stream.ReaderInfo{Protocol: "ws", Remote: remote})
	if err != nil {
		httpError(w, err)
		return
	}
	conn, br, err := websocket.Upgrade(w, r, nil)
	if err != nil {
		rd.Close("handshake failed")
		s.log().Debug("websocket handshake failed", "remote", remote, "err", err)
		return
	}
	// A stream pulled on demand may fail to start: the viewer learns why
	// from the close frame (1013 "try again later", with the reason).
	if err := s.await(r.Context(), wait, name, via, rd); err != nil {
		rd.Close("start failed")
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		conn.Write(websocket.AppendClose(nil, closeTryAgainLater, err.Error()))
		conn.Close()
		return
	}
	s.play(conn, br, rd, wsFraming, s.readWebSocket, handOff(&release, nil))
}

// readWebSocket answers the frames a viewer sends: pings get pongs, a close
// gets a close; data is read and dropped, and anything that breaks the
// protocol or the size limit closes the connection with the matching code.
func (s *Server) readWebSocket(br *bufio.Reader, v *playout.Viewer) error {
	wr := websocket.NewReader(br)
	if s.Guard != nil {
		wr.MaxMessage = s.Guard.ViewerMaxMessage()
	}
	for {
		f, err := wr.Next()
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce):
			if s.Guard != nil {
				s.Guard.Count(guard.ViewerMessage)
			}
			v.WriteControl(websocket.AppendClose(nil, ce.Code, ce.Reason))
			return playout.ErrProtocol
		case err != nil:
			return playout.ErrClientClosed
		}
		switch f.Op {
		case websocket.OpPing:
			v.WriteControl(websocket.AppendPong(nil, f.Payload))
		case websocket.OpClose:
			code, _ := websocket.ParseClose(f.Payload)
			if code == websocket.CloseNoStatus {
				code = websocket.CloseNormal
			}
			v.WriteControl(websocket.AppendClose(nil, code, ""))
			return playout.ErrClientClosed
		}
	}
}
