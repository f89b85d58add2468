//go:build !linux

package playout

import "net"

// limitUnsent: TCP_NOTSENT_LOWAT is set on Linux only; elsewhere the
// kernel's send buffer takes what it takes.
func limitUnsent(net.Conn, int64) error { return nil }
