package push

import (
	"context"
	"errors"
	"net"
	"os"

	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/stream"
)

// maxDatagram is the largest UDP payload a push sends: 7 TS packets, the
// size that fits an Ethernet MTU and that players and UDP ingests expect.
// Raw streams go out in pieces of the same size.
const maxDatagram = 7 * mpegts.PacketSize

// udpLink sends batches as datagrams of whole TS packets, coalescing small
// chunks. UDP has no connection to lose: a send the kernel refuses (a
// peer's ICMP port unreachable, no route) is counted and the next one is
// tried.
type udpLink struct {
	// Static after construction.
	t    *target
	conn *net.UDPConn
	cut  *cutter

	// Owned by the pump.
	buf     [maxDatagram]byte
	n       int  // bytes held in buf
	failing bool // the last send failed
}

func (t *target) dialUDP(ctx context.Context) (link, error) {
	d := net.Dialer{Timeout: t.p.cfg.DialTimeout}
	if t.d.ttl >= 0 || t.d.iface != "" {
		d.Control = socketOptions(t.d.ttl, t.d.iface)
	}
	conn, err := d.DialContext(ctx, "udp", t.d.addr)
	if err != nil {
		return nil, err
	}
	uc := conn.(*net.UDPConn)
	uc.SetWriteBuffer(1 << 20) // a joining reader's first batch is a whole GOP
	return &udpLink{t: t, conn: uc, cut: newCutter(ctx, uc)}, nil
}

func (u *udpLink) write(b stream.Batch) (int, error) {
	if !u.cut.arm(u.t.p.cfg.WriteTimeout) {
		return 0, errCut
	}
	sent := 0
	for _, p := range b.Bufs {
		for len(p) > 0 {
			if u.n == 0 && len(p) >= maxDatagram {
				n, err := u.send(p[:maxDatagram])
				sent += n
				if err != nil {
					return sent, err
				}
				p = p[maxDatagram:]
				continue
			}
			k := copy(u.buf[u.n:], p)
			u.n += k
			p = p[k:]
			if u.n == maxDatagram {
				n, err := u.send(u.buf[:])
				sent += n
				if err != nil {
					return sent, err
				}
			}
		}
	}
	if u.n > 0 {
		n, err := u.send(u.buf[:u.n])
		sent += n
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// send writes one datagram and empties buf. Only a timeout (the socket
// stays full) or the session's end is an error.
func (u *udpLink) send(p []byte) (int, error) {
	u.n = 0
	_, err := u.conn.Write(p)
	switch {
	case err == nil:
		if u.failing {
			u.failing = false
			u.t.log.Info("push sends resumed")
		}
		return len(p), nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, err
	}
	u.t.count(func(st *TargetStats) {
		st.SendErrors++
		st.LastError = err.Error()
	})
	if !u.failing {
		u.failing = true
		u.t.log.Warn("push sends failing; still sending", "err", err)
	}
	return 0, nil
}

func (u *udpLink) finish() {}

func (u *udpLink) close() {
	u.cut.stop()
	u.conn.Close()
}
