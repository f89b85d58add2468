package pull

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tsstream/tsstream/internal/relay"
	"github.com/tsstream/tsstream/internal/stream"
)

// Reliable links, on the wire. A reliable HTTP pull asks another tsstream
// for the stream's bytes from an exact offset of its ring:
//
//	GET /live/NAME.ts?offset=N&ring=ID      resume at byte N of ring ID
//	GET /live/NAME.ts?offset=-1             start clean: PAT/PMT, then a keyframe
//
// and the answer says what it serves:
//
//	Tsstream-Ring: ID        the ring the offsets belong to
//	Tsstream-Offset: M       the stream offset of the first byte after the prefix
//	Tsstream-Prefix: P       bytes of PAT/PMT before it (offset=-1 only)
//	Tsstream-Path: A,B       the nodes the data came through, the upstream last
//	Trailer: Tsstream-Path   the answer may end with the path in a trailer
//
// M > N means the bytes from N to M were gone from the upstream's ring: the
// link counts them as lost and starts a new publisher session, so that the
// node's viewers restart cleanly. A ring other than ID means the upstream's
// stream restarted. Every answer of a tsstream carries Tsstream-Path, so an
// edge's relay path (and what it pushes on) names the whole chain.
//
// The path can change after the answer: the upstream's stream had no
// publisher yet, or a new one came another way. The upstream then ends the
// body before the first byte that came the new way, with the new path in
// a trailer (0-size chunk, "Tsstream-Path: C,A,B"), and the link asks
// again at once (a reliable one at its exact byte): the new answer names
// the new path, or refuses a loop (508). Any pull gets this, not only
// reliable ones.

// Headers of the exchange above.
const (
	RingHeader   = relay.RingHeader
	OffsetHeader = relay.OffsetHeader
	PrefixHeader = relay.PrefixHeader
)

// defaultResumeWindow is how long a reliable link keeps its publisher
// session open for a resume after its source dropped.
const defaultResumeWindow = time.Minute

// resume is what a reliable puller keeps between sessions; owned by the
// run goroutine.
type resume struct {
	pub     *stream.Publisher // the session to continue; nil: none
	src     *source           // whose ring pub's bytes came from
	ring    string
	next    int64 // stream offset of the next byte wanted in ring
	dropped time.Time
}

// query returns the offset and ring to ask src for.
func (r *resume) query(src *source, now time.Time, window time.Duration) (off int64, ring string) {
	if r.pub == nil || r.src != src || r.ring == "" || now.Sub(r.dropped) > window {
		return -1, ""
	}
	return r.next, r.ring
}

// release ends the kept session, if any.
func (r *resume) release(reason string) {
	if r.pub != nil {
		r.pub.Close(reason)
	}
	*r = resume{}
}

// served is what an HTTP source's answer said about its bytes.
type served struct {
	ring   string // "" when the source does not resume (not a tsstream)
	offset int64
	prefix int64
	path   []string
	// trailer returns the answer's trailer once the body has ended; nil
	// for sources other than HTTP.
	trailer func() http.Header
}

// pathChanged reports whether the source ended its answer because the
// stream's relay path changed, and returns the new path.
func (s served) pathChanged() ([]string, bool) {
	if s.trailer == nil {
		return nil, false
	}
	vs := s.trailer().Values(PathHeader)
	if len(vs) == 0 {
		return nil, false
	}
	return relay.SplitPath(vs[0]), true
}

func parseServed(h http.Header) served {
	s := served{ring: h.Get(RingHeader), path: relay.SplitPath(h.Get(PathHeader))}
	var err1, err2 error
	s.offset, err1 = strconv.ParseInt(h.Get(OffsetHeader), 10, 64)
	if p := h.Get(PrefixHeader); p != "" {
		s.prefix, err2 = strconv.ParseInt(p, 10, 64)
	}
	if err1 != nil || err2 != nil || s.offset < 0 || s.prefix < 0 {
		s.ring = ""
	}
	return s
}

// withOffset returns u asking for offset off of ring.
func withOffset(u *url.URL, off int64, ring string) string {
	c := *u
	q := c.Query()
	q.Set("offset", strconv.FormatInt(off, 10))
	if ring != "" {
		q.Set("ring", ring)
	} else {
		q.Del("ring")
	}
	c.RawQuery = q.Encode()
	return c.String()
}
