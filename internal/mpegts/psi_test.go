package mpegts

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"slices"
	"testing"
)

// section builds a PSI section with the long syntax and a valid CRC.
func section(tableID byte, id uint16, version byte, body []byte) []byte {
	s := []byte{tableID, 0xb0, 0, byte(id >> 8), byte(id), 0xc1 | version<<1, 0, 0}
	s = append(s, body...)
	binary.BigEndian.PutUint16(s[1:], 0xb000|uint16(len(s)-3+4))
	return binary.BigEndian.AppendUint32(s, crc32MPEG(s))
}

// patSection builds a PAT of version v with programs as number, PMT PID pairs.
func patSection(v byte, programs ...int) []byte {
	var body []byte
	for i := 0; i+1 < len(programs); i += 2 {
		body = binary.BigEndian.AppendUint16(body, uint16(programs[i]))
		body = binary.BigEndian.AppendUint16(body, 0xe000|uint16(programs[i+1]))
	}
	return section(tablePAT, 1, v, body)
}

// esDef is a stream of a test PMT.
type esDef struct {
	pid, streamType int
	desc            []byte
}

// pmtSection builds a PMT of version v for program number.
func pmtSection(v byte, number, pcrPID int, streams ...esDef) []byte {
	body := []byte{0xe0 | byte(pcrPID>>8), byte(pcrPID), 0xf0, 0}
	for _, s := range streams {
		body = append(body, byte(s.streamType), 0xe0|byte(s.pid>>8), byte(s.pid), 0xf0|byte(len(s.desc)>>8), byte(len(s.desc)))
		body = append(body, s.desc...)
	}
	return section(tablePMT, uint16(number), v, body)
}

// psiPackets packs sections back to back into packets of pid, the first
// one starting with a pointer_field of 0, stuffing the last with 0xFF.
// cc is the continuity counter to use and advance.
func psiPackets(pid int, cc *byte, sections ...[]byte) []byte {
	data := append([]byte{0}, slices.Concat(sections...)...)
	var out []byte
	for first := true; len(data) > 0; first = false {
		p := bytes.Repeat([]byte{0xff}, PacketSize)
		p[0], p[1], p[2], p[3] = SyncByte, byte(pid>>8)&0x1f, byte(pid), 0x10|*cc&0x0f
		if first {
			p[1] |= 0x40
		}
		*cc++
		data = data[copy(p[4:], data):]
		out = append(out, p...)
	}
	return out
}

func TestCRC32MPEG(t *testing.T) {
	if got := crc32MPEG([]byte("123456789")); got != 0x0376e6e7 {
		t.Errorf("check value = %#x, want 0x0376e6e7 (CRC-32/MPEG-2)", got)
	}
	pat := readVector(t, "h264_aac.ts")[:PacketSize]
	n := 3 + int(binary.BigEndian.Uint16(pat[6:])&0x0fff)
	if got := crc32MPEG(pat[5 : 5+n]); got != 0 {
		t.Errorf("CRC over ffmpeg's PAT section = %#x, want 0", got)
	}
}

// packet builds one packet of pid with a payload, padded with 0xFF.
func packet(pid int, pusi bool, cc byte, payload []byte) []byte {
	p := bytes.Repeat([]byte{0xff}, PacketSize)
	p[0], p[1], p[2], p[3] = SyncByte, byte(pid>>8)&0x1f, byte(pid), 0x10|cc&0x0f
	if pusi {
		p[1] |= 0x40
	}
	copy(p[4:], payload)
	return p
}

// manyStreams returns n audio streams from PID 0x200 on.
func manyStreams(n int) []esDef {
	s := make([]esDef, n)
	for i := range s {
		s[i] = esDef{pid: 0x200 + i, streamType: 0x0f}
	}
	return s
}

// readSections feeds pkts to a sectionReader, marking packet lostAt as
// following a loss, and returns copies of the sections and how many packets
// carried each.
func readSections(pkts []byte, lostAt int) (secs [][]byte, npkts []int) {
	var r sectionReader
	for i := 0; i+PacketSize <= len(pkts); i += PacketSize {
		p := pkts[i : i+PacketSize]
		r.feed(p, p[4:], p[1]&0x40 != 0, i/PacketSize == lostAt)
		for {
			sec, carried, ok := r.next()
			if !ok {
				break
			}
			secs = append(secs, slices.Clone(sec))
			npkts = append(npkts, len(carried)/PacketSize)
		}
	}
	return secs, npkts
}

func TestSectionReader(t *testing.T) {
	big := pmtSection(0, 1, 256, manyStreams(120)...) // 616 bytes: 4 packets
	small := patSection(0, 1, 4096)                   // 16 bytes
	var cc byte
	bigPkts := psiPackets(4096, &cc, big)
	// big ends in a PUSI packet whose pointer_field skips its tail; small
	// follows it there.
	tail := len(big) - 183 - 2*184
	ended := slices.Concat(bigPkts[:3*PacketSize],
		packet(4096, true, 3, slices.Concat([]byte{byte(tail)}, big[len(big)-tail:], small)))
	tooLong := slices.Clone(small)
	tooLong[1] |= 0x0f // section_length 0xf0d
	tests := []struct {
		name   string
		pkts   []byte
		lostAt int
		want   [][]byte
		npkts  []int
	}{
		{"one packet", psiPackets(0, &cc, small), -1, [][]byte{small}, []int{1}},
		{"spans four packets", bigPkts, -1, [][]byte{big}, []int{4}},
		{"two sections share a packet", psiPackets(0, &cc, small, big), -1, [][]byte{small, big}, []int{1, 4}},
		{"three in one packet", psiPackets(0, &cc, small, small, small), -1, [][]byte{small, small, small}, []int{1, 1, 1}},
		{"pointer_field ends the previous section", ended, -1, [][]byte{big, small}, []int{4, 1}},
		{"packet lost in the middle", bigPkts, 2, nil, nil},
		{"loss before a section start does not matter", bigPkts, 0, [][]byte{big}, []int{4}},
		{"continuation without a start", bigPkts[PacketSize:], -1, nil, nil},
		{"section_length too long", psiPackets(0, &cc, tooLong, small), -1, nil, nil},
		{"pointer_field past the payload", packet(0, true, 0, []byte{200}), -1, nil, nil},
		{"section cut short by the next start", slices.Concat(bigPkts[:PacketSize], psiPackets(4096, &cc, small)), -1, [][]byte{small}, []int{1}},
		{"stuffing only", packet(0, true, 0, []byte{0}), -1, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, npkts := readSections(tc.pkts, tc.lostAt)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d sections, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Errorf("section %d = % x\nwant % x", i, got[i], tc.want[i])
				}
			}
			if !slices.Equal(npkts, tc.npkts) {
				t.Errorf("packets per section = %v, want %v", npkts, tc.npkts)
			}
		})
	}
}

// psiStream concatenates PAT and PMT packets, numbering each PID's packets.
type psiStream struct {
	cc  map[int]*byte
	out []byte
}

func (s *psiStream) add(pid int, sections ...[]byte) *psiStream {
	if s.cc == nil {
		s.cc = map[int]*byte{}
	}
	if s.cc[pid] == nil {
		s.cc[pid] = new(byte)
	}
	s.out = append(s.out, psiPackets(pid, s.cc[pid], sections...)...)
	return s
}

// psiCase is a PSI stream and what the Indexer should make of it.
type psiCase struct {
	name      string
	stream    *psiStream
	psi       []int // PIDs of the packets PSI() should return
	version   int
	needsKey  bool
	videoPID  int // 0: no video
	programs  []int
	nstreams0 int // streams of the first program
}

func psiCases() []psiCase {
	h264 := esDef{pid: 0x100, streamType: 0x1b}
	aac := esDef{pid: 0x101, streamType: 0x0f}
	mp2 := esDef{pid: 0x102, streamType: 0x03}
	badCRC := patSection(0, 1, 0x1000)
	badCRC[len(badCRC)-1] ^= 0x80
	pastEnd := pmtSection(0, 1, 0x100, esDef{pid: 0x100, streamType: 0x1b, desc: []byte{5, 4, 'O', 'p', 'u', 's'}})
	pastEnd[16] = 0xf3 // ES_info_length 243, but 6 bytes follow
	pastEnd = section(tablePMT, 1, 0, pastEnd[8:len(pastEnd)-4])
	return []psiCase{
		{"pat and pmt", new(psiStream).add(0, patSection(0, 1, 0x1000)).add(0x1000, pmtSection(0, 1, 0x100, h264, aac)),
			[]int{0, 0x1000}, 1, true, 0x100, []int{1}, 2},
		{"pmt before pat is not known", new(psiStream).add(0x1000, pmtSection(0, 1, 0x100, h264)).add(0, patSection(0, 1, 0x1000)),
			nil, 0, false, 0, []int{1}, 0},
		{"bad CRC", new(psiStream).add(0, badCRC).add(0x1000, pmtSection(0, 1, 0x100, h264)),
			nil, 0, false, 0, nil, 0},
		{"audio only", new(psiStream).add(0, patSection(0, 1, 0x1000)).add(0x1000, pmtSection(0, 1, 0x102, mp2)),
			[]int{0, 0x1000}, 1, false, 0, []int{1}, 1},
		{"first program with video wins", new(psiStream).add(0, patSection(0, 1, 0x1000, 2, 0x1001)).
			add(0x1000, pmtSection(0, 1, 0x102, mp2)).add(0x1001, pmtSection(0, 2, 0x100, h264, aac)),
			[]int{0, 0x1001}, 2, true, 0x100, []int{1, 2}, 1},
		{"two programs on one PMT PID", new(psiStream).add(0, patSection(0, 1, 0x1000, 2, 0x1000)).
			add(0x1000, pmtSection(0, 2, 0x100, h264), pmtSection(0, 1, 0x102, mp2)),
			[]int{0, 0x1000}, 1, true, 0x100, []int{1, 2}, 1},
		{"pmt of no listed program", new(psiStream).add(0, patSection(0, 1, 0x1000)).add(0x1000, pmtSection(0, 7, 0x100, h264)),
			nil, 0, false, 0, []int{1}, 0},
		{"ES_info_length past the section", new(psiStream).add(0, patSection(0, 1, 0x1000)).add(0x1000, pastEnd),
			nil, 0, false, 0, []int{1}, 0},
		{"201 streams, the most a PMT holds", new(psiStream).add(0, patSection(0, 1, 0x1000)).add(0x1000, pmtSection(0, 1, 0x200, manyStreams(201)...)),
			[]int{0, 0x1000, 0x1000, 0x1000, 0x1000, 0x1000, 0x1000}, 1, false, 0, []int{1}, 201},
		{"1000 streams claimed", new(psiStream).add(0, patSection(0, 1, 0x1000)).add(0x1000, pmtSection(0, 1, 0x200, manyStreams(1000)...)),
			nil, 0, false, 0, []int{1}, 0},
		{"new PMT version", new(psiStream).add(0, patSection(0, 1, 0x1000)).add(0x1000, pmtSection(0, 1, 0x100, h264)).
			add(0x1000, pmtSection(1, 1, 0x101, aac, esDef{pid: 0x103, streamType: 0x02})),
			[]int{0, 0x1000}, 2, true, 0x103, []int{1}, 2},
		{"repeats change nothing", new(psiStream).add(0, patSection(0, 1, 0x1000)).add(0x1000, pmtSection(0, 1, 0x100, h264)).
			add(0, patSection(0, 1, 0x1000)).add(0x1000, pmtSection(0, 1, 0x100, h264)),
			[]int{0, 0x1000}, 1, true, 0x100, []int{1}, 1},
	}
}

func TestIndexerPSI(t *testing.T) {
	for _, tc := range psiCases() {
		t.Run(tc.name, func(t *testing.T) {
			var x Indexer
			if keys := x.Feed(tc.stream.out); len(keys) != 0 {
				t.Errorf("keys %v from PSI alone", keys)
			}
			var pids []int
			for p := x.PSI(); len(p) >= PacketSize; p = p[PacketSize:] {
				pids = append(pids, int(binary.BigEndian.Uint16(p[1:])&0x1fff))
			}
			if !slices.Equal(pids, tc.psi) {
				t.Errorf("PSI() packets are on PIDs %v, want %v", pids, tc.psi)
			}
			if x.PSIVersion() != tc.version || x.NeedsKey() != tc.needsKey {
				t.Errorf("PSIVersion, NeedsKey = %d, %v; want %d, %v", x.PSIVersion(), x.NeedsKey(), tc.version, tc.needsKey)
			}
			in := x.Info()
			if vpid := 0; in.Video != nil && in.Video.PID != tc.videoPID || in.Video == nil && tc.videoPID != vpid {
				t.Errorf("Info().Video = %+v, want PID %#x", in.Video, tc.videoPID)
			}
			var numbers []int
			for _, p := range in.Programs {
				numbers = append(numbers, p.Number)
			}
			if !slices.Equal(numbers, tc.programs) {
				t.Errorf("programs %v, want %v", numbers, tc.programs)
			}
			if len(in.Programs) > 0 && len(in.Programs[0].Streams) != tc.nstreams0 {
				t.Errorf("first program has %d streams, want %d", len(in.Programs[0].Streams), tc.nstreams0)
			}
		})
	}
}

func TestPSIStaysPutWhileUnchanged(t *testing.T) {
	s := new(psiStream).add(0, patSection(0, 1, 0x1000)).add(0x1000, pmtSection(0, 1, 0x100, esDef{pid: 0x100, streamType: 0x1b}))
	var x Indexer
	x.Feed(s.out)
	first := x.PSI()
	want := slices.Clone(first)
	if !bytes.Equal(first, s.out) {
		t.Fatalf("PSI() is not the PAT and PMT packets as fed")
	}
	for range 3 {
		x.Feed(s.add(0, patSection(0, 1, 0x1000)).add(0x1000, pmtSection(0, 1, 0x100, esDef{pid: 0x100, streamType: 0x1b})).out[len(s.out)-2*PacketSize:])
	}
	if &x.PSI()[0] != &first[0] || !bytes.Equal(first, want) || x.PSIVersion() != 1 {
		t.Errorf("PSI changed on repeated identical tables (version %d)", x.PSIVersion())
	}
	// A new PAT version keeps the known PMT: PSI changes at once.
	x.Feed(new(psiStream).add(0, patSection(1, 1, 0x1000, 5, 0x1005)).out)
	if x.PSIVersion() != 2 || !bytes.Equal(x.PSI()[PacketSize:], want[PacketSize:]) || !bytes.Equal(first, want) {
		t.Errorf("after a new PAT: version %d, PMT kept %v, old slice untouched %v",
			x.PSIVersion(), bytes.Equal(x.PSI()[PacketSize:], want[PacketSize:]), bytes.Equal(first, want))
	}
}

func FuzzSection(f *testing.F) {
	h264 := esDef{pid: 0x100, streamType: 0x1b}
	f.Add(patSection(0, 1, 0x1000)[8:], uint8(0), uint16(0xffff))
	f.Add(pmtSection(0, 1, 0x100, h264, esDef{pid: 0x101, streamType: 6, desc: []byte{5, 4, 'O', 'p', 'u', 's'}})[8:], uint8(183), uint16(1))
	f.Add(pmtSection(0, 1, 0x200, manyStreams(120)...)[8:], uint8(100), uint16(0x5555))
	f.Add(slices.Concat([]byte{0}, patSection(0, 1, 0x1000), pmtSection(0, 1, 0x100, h264), []byte{0xff}), uint8(40), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, size uint8, pusi uint16) {
		// data as the payloads of consecutive packets of one PID.
		var pkts []byte
		n := 1 + int(size)%184
		for i := 0; i*n < len(data); i++ {
			pkts = append(pkts, packet(0x1000, pusi>>(i%16)&1 == 1, byte(i), data[i*n:min(len(data), (i+1)*n)])...)
		}
		secs, npkts := readSections(pkts, -1)
		for i, s := range secs {
			if len(s) < minSection || len(s) > maxSection || len(s) != 3+int(binary.BigEndian.Uint16(s[1:])&0x0fff) {
				t.Errorf("section of %d bytes, section_length %d", len(s), binary.BigEndian.Uint16(s[1:])&0x0fff)
			}
			if npkts[i] < 1 || npkts[i] > maxSectionPackets {
				t.Errorf("section carried by %d packets", npkts[i])
			}
		}
		// data as the body of a PAT and of a PMT with valid CRCs.
		if len(data) > maxSection-minSection {
			return
		}
		var x Indexer
		s := new(psiStream).add(0, section(tablePAT, 1, 0, data)).add(0, patSection(1, 1, 0x1000)).
			add(0x1000, section(tablePMT, 1, 0, data))
		x.Feed(s.out)
		in := x.Info()
		if p, ok := parsePMT(section(tablePMT, 1, 0, data)); ok != (x.PSI() != nil) ||
			ok && !reflect.DeepEqual(p.streams, in.Programs[0].Streams) {
			t.Errorf("parsePMT says %v, PSI() has %d bytes, Info has %+v", ok, len(x.PSI()), in.Programs)
		}
		if len(x.PSI())%PacketSize != 0 || x.NeedsKey() && in.Video == nil {
			t.Errorf("PSI of %d bytes, NeedsKey %v with video %v", len(x.PSI()), x.NeedsKey(), in.Video)
		}
	})
}
