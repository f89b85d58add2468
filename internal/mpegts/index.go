package mpegts

import "slices"

// Indexer follows one TS publisher session: PAT/PMT, elementary streams,
// random access points. It reads whole packets, in order, and is meant for
// the ingest path: Feed does not allocate once the PSI is known and the
// first keys were returned, and no input makes it panic. The zero value is
// ready to use. An Indexer is not safe for concurrent use.
//
// What it indexes: the first program in the PAT with a video stream, else
// the first program whose PMT is known; in that program, the first video
// stream, else the first audio stream, else the first stream. Keys of
// MPEG-1/2 video are PES that start with a sequence header; of H.264, PES
// whose SPS and PPS precede an IDR slice as the first slice; of H.265, PES
// whose VPS, SPS and PPS precede an IRAP picture. Only the start of a PES,
// up to its first picture, is read: a picture must start its PES, as
// ffmpeg and hardware encoders write them. Every other stream (audio, data,
// video of other codecs) has a key at every PES start.
type Indexer struct {
	n    int64   // packets fed so far
	keys []int64 // returned by Feed

	psi      psiTable
	es       esReader
	needsKey bool

	cc       [pidNull]uint8 // continuity state per PID: ccSeen|ccDup|counter
	ccErrors int64

	haveKey bool
	keyOpen bool // the PES of the newest key has not ended yet
	lastKey int64
	nkeys   int64
	gop     int64
}

// Continuity state flags.
const (
	ccSeen = 0x80 // a packet of the PID was seen
	ccDup  = 0x40 // the last packet was a duplicate (one is allowed)
)

// Info describes what an Indexer has seen.
type Info struct {
	Programs         []Program // from the PAT, in its order
	PCRPID           int       // of the indexed program; 0 if unknown
	Video            *Video    // the indexed program's video, nil if none
	ContinuityErrors int64     // CC discontinuities on non-null PIDs, not counting discontinuity_indicator or a single duplicate
	Keys             int64     // random access points seen
	LastGOPPackets   int64     // packets between the two most recent keys
}

// Program is a program of the PAT. PCRPID and Streams are zero until its
// PMT was seen.
type Program struct {
	Number  int
	PMTPID  int
	PCRPID  int
	Streams []ES
}

// ES is an elementary stream of a program.
type ES struct {
	PID        int
	StreamType int
	Codec      string // see codecOf: "h264", "aac", "mp2", ...
	Kind       string // KindVideo, KindAudio or KindData
}

// Video is the video stream of the indexed program.
type Video struct {
	PID   int
	Codec string // as ES.Codec, but "mpeg1video" once a key shows MPEG-1 syntax

	Width, Height int     // 0 until a parameter set or sequence header was parsed
	FrameRate     float64 // 0 if unknown
}

// Feed processes whole packets: len(pkts) is a multiple of PacketSize and
// each starts with SyncByte (anything else in a packet's place is counted
// and skipped). It returns the random access points found during this call,
// as packet numbers counted from the first packet ever fed, from 0. A key is
// the packet that starts the PES holding the keyframe, which may have been
// fed by an earlier call; keys never go backwards. The slice is reused by
// the next call.
func (x *Indexer) Feed(pkts []byte) []int64 {
	x.keys = x.keys[:0]
	for len(pkts) >= PacketSize {
		x.packet(pkts[:PacketSize:PacketSize])
		pkts = pkts[PacketSize:]
		x.n++
	}
	return x.keys
}

// PSI returns the packet(s) of the latest PAT followed by those of the
// indexed program's PMT, or nil before both were seen. It changes only when
// the content of the PAT or that PMT changes (a new version), or another
// program becomes the indexed one; then PSIVersion increases. The packets
// are kept as first received for that content, so their continuity
// counters are those of the first copy: a viewer who gets PSI() and then
// the stream sees the counters of PIDs 0 and the PMT PID jump once, which
// decoders ignore for sections. The returned slice is never modified.
func (x *Indexer) PSI() []byte { return x.psi.psi }

// PSIVersion increments whenever the PSI bytes change; 0 means none yet.
func (x *Indexer) PSIVersion() int { return x.psi.version }

// KeyOpen reports whether the PES of the newest key is still arriving: a
// viewer started there would wait for the rest of the keyframe.
func (x *Indexer) KeyOpen() bool { return x.keyOpen }

// NeedsKey reports whether viewers must start at a keyframe: true once a
// PMT with MPEG-1/2, H.264 or H.265 video is known. It is false before, and
// for programs without such video, whose keys are every PES start.
func (x *Indexer) NeedsKey() bool { return x.needsKey }

// packet reads one packet (ISO/IEC 13818-1 2.4.3.2):
//
//	sync_byte 8, transport_error_indicator 1, payload_unit_start_indicator 1,
//	transport_priority 1, PID 13, transport_scrambling_control 2,
//	adaptation_field_control 2, continuity_counter 4,
//	[adaptation_field_length 8, discontinuity_indicator 1, ...], payload
func (x *Indexer) packet(p []byte) {
	if p[0] != SyncByte || p[1]&0x80 != 0 {
		return
	}
	pusi := p[1]&0x40 != 0
	pid := int(p[1]&0x1f)<<8 | int(p[2])
	afc := p[3] >> 4 & 3
	if pid == pidNull || afc == 0 {
		return
	}
	start, disc := 4, false
	if afc&2 != 0 {
		start += 1 + int(p[4])
		disc = p[4] > 0 && p[5]&0x80 != 0
		if start > PacketSize {
			return
		}
	}
	dup, lost := x.continuity(pid, p[3]&0x0f, afc&1 != 0, disc)
	if dup || afc&1 == 0 || start == PacketSize {
		return
	}
	scrambled := p[3]&0xc0 != 0
	switch {
	case x.psi.isPSI(pid):
		if !scrambled && x.psi.feed(pid, p, p[start:], pusi, lost) {
			x.psiChanged()
		}
	case pid == x.es.pid && x.es.rule != ruleNone:
		if scrambled {
			x.es.lost()
			return
		}
		if lost {
			x.es.lost() // a PES that starts here is fine
		}
		if pusi && x.keyOpen && x.n > x.lastKey {
			x.keyOpen = false // the next PES starts: the keyframe is whole
		}
		if key, ok := x.es.packet(p[start:], pusi, x.n); ok {
			x.addKey(key)
		}
	}
}

// continuity checks a packet's continuity_counter against the PID's last
// one. dup reports the one allowed duplicate, lost a discontinuity.
func (x *Indexer) continuity(pid int, cc byte, payload, disc bool) (dup, lost bool) {
	s := x.cc[pid]
	x.cc[pid] = ccSeen | cc
	last := s & 0x0f
	switch {
	case s&ccSeen == 0 || disc:
		return false, false
	case !payload && cc == last: // the counter counts payloads only
		x.cc[pid] = s
		return false, false
	case payload && cc == (last+1)&0x0f:
		return false, false
	case payload && cc == last && s&ccDup == 0:
		x.cc[pid] = ccSeen | ccDup | cc
		return true, false
	}
	x.ccErrors++
	return false, true
}

// psiChanged points the ES reader at the indexed stream of the new PSI.
func (x *Indexer) psiChanged() {
	es, ok := x.psi.cur.indexed()
	if !ok {
		x.es.reset(-1, ruleNone)
		x.needsKey = false
		return
	}
	rule := ruleFor(es.Codec)
	x.es.reset(es.PID, rule)
	x.needsKey = es.Kind == KindVideo && rule != ruleEveryPES
}

// addKey records a key unless it is not after the previous one.
func (x *Indexer) addKey(k int64) {
	if x.haveKey && k <= x.lastKey {
		return
	}
	if x.haveKey {
		x.gop = k - x.lastKey
	}
	x.haveKey, x.lastKey, x.keyOpen = true, k, true
	x.nkeys++
	x.keys = append(x.keys, k)
}

// Info returns a snapshot of what the Indexer has seen. It allocates.
func (x *Indexer) Info() Info {
	in := Info{ContinuityErrors: x.ccErrors, Keys: x.nkeys, LastGOPPackets: x.gop}
	for _, p := range x.psi.progs {
		prog := Program{Number: p.number, PMTPID: p.pmtPID}
		if p.pmt != nil {
			prog.PCRPID, prog.Streams = p.pmt.pcrPID, slices.Clone(p.pmt.streams)
		}
		in.Programs = append(in.Programs, prog)
	}
	if cur := x.psi.cur; cur != nil {
		in.PCRPID = cur.pcrPID
		if es, ok := cur.indexed(); ok && es.Kind == KindVideo {
			s := x.es.size
			in.Video = &Video{PID: es.PID, Codec: es.Codec, Width: s.width, Height: s.height, FrameRate: s.fps}
			if x.es.rule == ruleMPEG && x.es.mpeg1 {
				in.Video.Codec = "mpeg1video" // ffmpeg labels MPEG-1 video as stream_type 0x02
			}
		}
	}
	return in
}
