package mpegts

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// PSI sections (ISO/IEC 13818-1 2.4.4). A section starts in a packet with
// payload_unit_start_indicator set, at the offset given by the pointer_field
// (the payload's first byte; the bytes before that end the previous
// section), and may continue in the following packets of its PID. After a
// section, 0xFF stuffing fills the packet, or another section starts.
//
//	table_id                  8   0x00 PAT, 0x02 PMT
//	section_syntax_indicator  1   1
//	'0', reserved             3
//	section_length           12   bytes that follow, at most 1021
//	id                       16   transport_stream_id (PAT), program_number (PMT)
//	reserved, version_number  2+5
//	current_next_indicator    1
//	section_number, last_section_number 8+8
//	... table body ...
//	CRC_32                   32   MPEG-2 CRC: over the whole section it is 0
const (
	maxSection        = 3 + 1021
	maxSectionPackets = 7  // a maxSection section spans at most 7 packets
	minSection        = 12 // a PAT without programs
	minPMT            = 16 // a PMT without descriptors or streams
	tablePAT          = 0x00
	tablePMT          = 0x02
	pidPAT            = 0
	pidNull           = 0x1fff
)

// crcTable is the table of the MPEG-2 CRC-32: polynomial 0x04C11DB7,
// most significant bit first, initial value 0xFFFFFFFF, no final XOR.
var crcTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04c11db7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crc32MPEG returns the MPEG-2 CRC of b; it is 0 for a whole valid section.
func crc32MPEG(b []byte) uint32 {
	c := uint32(0xffffffff)
	for _, v := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^v]
	}
	return c
}

// sectionReader reassembles the sections of one PID and keeps the packets
// that carried the current one. Feed it one packet with feed, then call next
// until it says no more.
type sectionReader struct {
	sec  [maxSection]byte
	n    int  // bytes of sec filled
	want int  // 3+section_length once known, else 0
	open bool // a section is being assembled
	pkts [maxSectionPackets * PacketSize]byte
	np   int // packets in pkts

	// The packet being read.
	pkt  []byte
	tail []byte // payload bytes that end the open section (before the pointer)
	rest []byte // payload bytes that may start new sections
	pusi bool
}

// feed starts reading one packet: pkt is the whole packet, payload its
// payload. lost says packets of this PID went missing just before.
func (r *sectionReader) feed(pkt, payload []byte, pusi, lost bool) {
	r.pkt, r.tail, r.rest, r.pusi = pkt, nil, nil, pusi
	if lost {
		r.open = false
	}
	if !pusi {
		if r.open {
			r.addPacket()
			r.tail = payload
		}
		return
	}
	ptr := int(payload[0])
	payload = payload[1:]
	if ptr > len(payload) {
		r.open = false
		return
	}
	if r.open {
		r.addPacket()
		r.tail = payload[:ptr]
	}
	r.rest = payload[ptr:]
}

// next returns the next section that the packet completes and the packets
// that carried it. Both are valid until the next call of feed.
func (r *sectionReader) next() (sec, pkts []byte, ok bool) {
	if r.open && r.tail != nil {
		tail := r.tail
		r.tail = nil
		r.fill(tail)
		if r.open && r.want > 0 && r.n == r.want {
			r.open = false
			return r.sec[:r.n], r.pkts[:r.np*PacketSize], true
		}
		if r.pusi { // the pointer_field said the section ends here
			r.open = false
		}
	}
	for r.pusi && len(r.rest) > 0 && r.rest[0] != 0xff {
		r.open, r.n, r.want, r.np = true, 0, 0, 0
		r.addPacket()
		r.rest = r.rest[r.fill(r.rest):]
		if !r.open {
			return nil, nil, false // bad section_length: the rest is not trusted
		}
		if r.want > 0 && r.n == r.want {
			r.open = false
			return r.sec[:r.n], r.pkts[:r.np*PacketSize], true
		}
	}
	return nil, nil, false
}

// fill appends what the open section still needs from p and returns how
// many bytes it took. A section_length that is too long closes the section.
func (r *sectionReader) fill(p []byte) int {
	took := 0
	if r.n < 3 {
		k := copy(r.sec[r.n:3], p)
		r.n += k
		took = k
		if r.n < 3 {
			return took
		}
		r.want = 3 + int(binary.BigEndian.Uint16(r.sec[1:3])&0x0fff)
		if r.want > maxSection || r.want < minSection {
			r.open = false
			return took
		}
	}
	k := copy(r.sec[r.n:r.want], p[took:])
	r.n += k
	return took + k
}

// addPacket records the current packet as one that carries the open
// section; a section that would need more packets than fit is dropped.
func (r *sectionReader) addPacket() {
	if r.np == maxSectionPackets {
		r.open = false
		return
	}
	copy(r.pkts[r.np*PacketSize:], r.pkt)
	r.np++
}

// validSection checks what PAT and PMT sections share: table_id, the
// section syntax, current_next_indicator and the CRC.
func validSection(sec []byte, tableID byte) bool {
	return len(sec) >= minSection && sec[0] == tableID && sec[1]&0x80 != 0 &&
		sec[5]&1 == 1 && crc32MPEG(sec) == 0
}

// sectionCRC returns the CRC_32 field, which identifies a section's content.
func sectionCRC(sec []byte) uint32 { return binary.BigEndian.Uint32(sec[len(sec)-4:]) }

// patEntry is one program of a PAT.
type patEntry struct{ number, pmtPID int }

// parsePAT returns the programs of a valid PAT section, skipping the
// network PID (program 0) and entries with an impossible PMT PID.
func parsePAT(sec []byte) []patEntry {
	var progs []patEntry
	for b := sec[8 : len(sec)-4]; len(b) >= 4; b = b[4:] {
		number := int(binary.BigEndian.Uint16(b))
		pid := int(binary.BigEndian.Uint16(b[2:]) & 0x1fff)
		if number == 0 || pid == pidPAT || pid == pidNull {
			continue
		}
		progs = append(progs, patEntry{number, pid})
	}
	return progs
}

// pmt is a parsed PMT section and the packets that carried it.
type pmt struct {
	number  int
	pcrPID  int
	streams []ES
	crc     uint32
	pkts    []byte
}

// parsePMT parses a valid PMT section. It fails when a length field points
// past the section.
//
//	program_number 16, ..., reserved 3, PCR_PID 13, reserved 4,
//	program_info_length 12, descriptors, then per stream:
//	stream_type 8, reserved 3, elementary_PID 13, reserved 4,
//	ES_info_length 12, descriptors
func parsePMT(sec []byte) (*pmt, bool) {
	if len(sec) < minPMT {
		return nil, false
	}
	p := &pmt{
		number: int(binary.BigEndian.Uint16(sec[3:])),
		pcrPID: int(binary.BigEndian.Uint16(sec[8:]) & 0x1fff),
		crc:    sectionCRC(sec),
	}
	body := sec[12 : len(sec)-4]
	info := int(binary.BigEndian.Uint16(sec[10:]) & 0x0fff)
	if info > len(body) {
		return nil, false
	}
	for b := body[info:]; len(b) > 0; {
		if len(b) < 5 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(b[3:]) & 0x0fff)
		if 5+n > len(b) {
			return nil, false
		}
		es := ES{PID: int(binary.BigEndian.Uint16(b[1:]) & 0x1fff), StreamType: int(b[0])}
		es.Codec, es.Kind = codecOf(es.StreamType, b[5:5+n])
		p.streams = append(p.streams, es)
		b = b[5+n:]
	}
	return p, true
}

// indexed returns the stream to index: the first video stream, else the
// first audio stream, else the first stream; ok is false if there is none.
func (p *pmt) indexed() (ES, bool) {
	for _, kind := range []string{KindVideo, KindAudio} {
		if i := slices.IndexFunc(p.streams, func(e ES) bool { return e.Kind == kind }); i >= 0 {
			return p.streams[i], true
		}
	}
	if len(p.streams) > 0 {
		return p.streams[0], true
	}
	return ES{}, false
}

// hasVideo reports whether the program has a video stream.
func (p *pmt) hasVideo() bool {
	es, ok := p.indexed()
	return ok && es.Kind == KindVideo
}

// program is one program of the PAT and, once seen, its PMT.
type program struct {
	number, pmtPID int
	pmt            *pmt // nil until seen
}

// psiTable follows the PAT and the PMTs it points to, and picks the program
// to index: the first one (in PAT order) with video, else the first one
// whose PMT is known.
type psiTable struct {
	pat     sectionReader
	patCRC  uint32
	patPkts []byte // nil until a PAT was seen
	progs   []program
	readers []*sectionReader   // per distinct PMT PID; allocated on first use
	slot    [pidNull + 1]uint8 // PID -> 1 + index in readers, 0 if not a PMT PID
	cur     *pmt               // PMT of the indexed program, nil until known
	psi     []byte             // PAT packets, then the packets of cur
	version int
}

// isPSI reports whether packets of pid carry the PAT or a PMT.
func (t *psiTable) isPSI(pid int) bool { return pid == pidPAT || t.slot[pid] != 0 }

// feed reads a packet of a PSI PID and reports whether PSI() changed.
func (t *psiTable) feed(pid int, pkt, payload []byte, pusi, lost bool) bool {
	r := &t.pat
	if pid != pidPAT {
		i := int(t.slot[pid]) - 1
		if t.readers[i] == nil {
			t.readers[i] = new(sectionReader)
		}
		r = t.readers[i]
	}
	r.feed(pkt, payload, pusi, lost)
	changed := false
	for {
		sec, pkts, ok := r.next()
		if !ok {
			return changed
		}
		if pid == pidPAT {
			changed = t.onPAT(sec, pkts) || changed
		} else {
			changed = t.onPMT(pid, sec, pkts) || changed
		}
	}
}

// onPAT takes a complete section from PID 0. Only the first section
// (section_number 0) of a PAT is used: tables of more than one section,
// which need more than 253 programs, are not supported.
func (t *psiTable) onPAT(sec, pkts []byte) bool {
	if !validSection(sec, tablePAT) || sec[6] != 0 {
		return false
	}
	if t.patPkts != nil && sectionCRC(sec) == t.patCRC {
		return false
	}
	old := t.progs
	for _, p := range old {
		t.slot[p.pmtPID] = 0
	}
	t.progs, t.readers = t.progs[:0:0], nil
	for _, e := range parsePAT(sec) {
		p := program{number: e.number, pmtPID: e.pmtPID}
		if i := slices.IndexFunc(old, func(o program) bool { return o.number == e.number && o.pmtPID == e.pmtPID }); i >= 0 {
			p.pmt = old[i].pmt
		}
		if t.slot[p.pmtPID] == 0 {
			if len(t.readers) == 255 {
				continue
			}
			t.readers = append(t.readers, nil)
			t.slot[p.pmtPID] = uint8(len(t.readers))
		}
		t.progs = append(t.progs, p)
	}
	t.patCRC, t.patPkts = sectionCRC(sec), slices.Clone(pkts)
	return t.reselect()
}

// onPMT takes a complete section from a PMT PID.
func (t *psiTable) onPMT(pid int, sec, pkts []byte) bool {
	if !validSection(sec, tablePMT) {
		return false
	}
	number := int(binary.BigEndian.Uint16(sec[3:]))
	i := slices.IndexFunc(t.progs, func(p program) bool { return p.pmtPID == pid && p.number == number })
	if i < 0 || t.progs[i].pmt != nil && t.progs[i].pmt.crc == sectionCRC(sec) {
		return false
	}
	p, ok := parsePMT(sec)
	if !ok {
		return false
	}
	p.pkts = slices.Clone(pkts)
	t.progs[i].pmt = p
	return t.reselect()
}

// reselect picks the program to index and rebuilds the PSI bytes. It keeps
// the previous PSI while no PMT of the current PAT is known.
func (t *psiTable) reselect() bool {
	sel := slices.IndexFunc(t.progs, func(p program) bool { return p.pmt != nil && p.pmt.hasVideo() })
	if sel < 0 {
		sel = slices.IndexFunc(t.progs, func(p program) bool { return p.pmt != nil })
	}
	if sel < 0 {
		return false
	}
	t.cur = t.progs[sel].pmt
	b := slices.Concat(t.patPkts, t.cur.pkts)
	if bytes.Equal(b, t.psi) {
		return false
	}
	t.psi = b
	t.version++
	return true
}
