package guard

import "sync/atomic"

// Reason is why the guard refused or cut something, the label of
// tsstream_refused_total.
type Reason int

// Refusal reasons.
const (
	PublishKeyMissing Reason = iota // HTTP publish without ?key= where one is set
	PublishKeyWrong                 // HTTP publish with a wrong key
	PublishSource                   // HTTP publish from a source that needs a key or is denied
	IngestSource                    // TCP/UDP ingest from a source not in the listener's allow-list
	PlaySource                      // play from a source not in auth.play_allow, or denied
	TokenMissing                    // play without ?token= where the stream needs one
	TokenInvalid                    // play with a bad or foreign token
	TokenExpired                    // play with an expired token
	APIAuth                         // API, metrics or dashboard without the credentials
	MaxStreams                      // a new stream past limits.max_streams
	MaxViewers                      // a viewer past limits.max_viewers
	MaxStreamViewers                // a viewer past the stream's max_viewers
	ConnsPerIP                      // a connection past limits.conns_per_ip
	ViewerMessage                   // a WebSocket viewer sent a frame that is too big or bad
	PublishRate                     // a publisher above max_publish_rate (UDP: per datagram)
	PublishIdle                     // a publisher silent for publish_idle_timeout
	ReportAuth                      // a monitor report without the report token or API credentials
	numReasons
)

var reasonNames = [numReasons]string{
	"publish_key_missing", "publish_key_wrong", "publish_source", "ingest_source", "play_source",
	"token_missing", "token_invalid", "token_expired", "api_auth", "max_streams", "max_viewers",
	"max_stream_viewers", "conns_per_ip", "viewer_message", "publish_rate", "publish_idle", "report_auth",
}

func (r Reason) String() string {
	if r < 0 || r >= numReasons {
		return "unknown"
	}
	return reasonNames[r]
}

// counters count refusals by reason; they are read at scrape time.
type counters [numReasons]atomic.Int64

// Count is one reason and how often it happened.
type Count struct {
	Reason string
	N      int64
}

// Count adds one refusal of reason r.
func (g *Guard) Count(r Reason) {
	if r >= 0 && r < numReasons {
		g.counts[r].Add(1)
	}
}

// Counts returns every reason with its count, zeros included, in a fixed
// order.
func (g *Guard) Counts() []Count {
	out := make([]Count, numReasons)
	for i := range out {
		out[i] = Count{Reason: Reason(i).String(), N: g.counts[i].Load()}
	}
	return out
}

// Refused returns the count of reason r.
func (g *Guard) Refused(r Reason) int64 { return g.counts[r].Load() }
