// Package websocket is the server side of RFC 6455 that tsstream needs: the opening handshake, server frame headers, and a strict reader of the frames viewers send.
//
// It is hand-written rather than taken from a general WebSocket library
// because of the relay's one hot path: the same MPEG-TS chunk goes to
// thousands of viewers. A server frame is never masked, so its bytes are the
// same for every viewer; the caller builds the header once per batch with
// [AppendHeader] and hands header and shared payload slices to the kernel with
// one writev ([net.Buffers]) per viewer, with no copy and no per-viewer
// framing. General libraries own the connection and copy each message into
// a per-connection writer, which is the cost this package exists to avoid.
//
// What a viewer sends back is small and mostly ignored: pings, a close, the
// odd text message. [Reader] checks every frame strictly, discards data
// payloads without buffering them, and reports violations as a [*CloseError]
// carrying the close code to answer with.
//
// Not supported, by design: extensions (permessage-deflate is never
// negotiated, so any reserved bit is an error), the client side, and
// checking that text payloads or close reasons are valid UTF-8 (they are
// discarded unread). Upgrade does not check Origin; the caller does that
// before calling it if it needs to.
package websocket
