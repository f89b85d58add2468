package guard

import (
	"net"
	"time"
)

// ListenPacket wraps the packet connection of UDP ingest listener index
// for stream: datagrams from sources outside its allow-list, and those
// over the stream's rate ceiling, are dropped (and counted) before the
// ingest sees them.
func (g *Guard) ListenPacket(pc net.PacketConn, index int, stream string) net.PacketConn {
	return &packetConn{PacketConn: pc, g: g, index: index, stream: stream, last: g.now()}
}

type packetConn struct {
	net.PacketConn
	g      *Guard
	index  int
	stream string

	// Owned by ReadFrom.
	tokens float64
	last   time.Time
}

func (c *packetConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil {
			return n, addr, err
		}
		p := c.g.Policy()
		ip := AddrOf(addr)
		if acl := p.ingestACL(c.index); !acl.Allows(ip) {
			c.g.Count(IngestSource)
			c.g.logIngestRefusal(acl, ip, c.stream, "udp")
			continue
		}
		if rate := float64(p.stream(c.stream).MaxRate); rate > 0 {
			now := c.g.now()
			burst := max(2*rate, minBurst)
			c.tokens = min(burst, c.tokens+now.Sub(c.last).Seconds()*rate)
			c.last = now
			if c.tokens < float64(n) {
				c.g.Count(PublishRate)
				continue
			}
			c.tokens -= float64(n)
		}
		return n, addr, nil
	}
}
