package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"
)

// The synthetic stream is MPEG-TS with four PIDs: the PAT (0), a PMT
// (0x1000) declaring two private data PIDs, 0x100 and 0x1FF0, "video"
// packets on 0x100 whose payload is filler, and marker packets on 0x1FF0.
// The filler PID is not declared as video: it has no keyframes, and the
// relay starts viewers of TS video only at a keyframe, so they would get
// nothing. Every packet carries a payload, so the continuity counter of each
// PID steps by one per packet. It is written in groups of 7 packets (1316
// bytes, what ffmpeg writes over UDP and TCP), paced to the rate.
//
// A marker's payload, after the 4-byte TS header:
//
//	[0:4]   "TSBM"
//	[4:12]  sequence number, big endian
//	[12:20] send time: nanoseconds since the harness's start, big endian
//	[20]    phase: 0 warm-up, 1 measured window, 2 tail
//
// A marker always opens its group, and one goes out at every phase change,
// so "the bytes of the measured window" is the same run for the publisher
// and every viewer: from the phase-1 marker up to the phase-2 marker.
const (
	packetSize   = 188
	groupPackets = 7
	groupBytes   = groupPackets * packetSize

	pidPAT    = 0x0000
	pidPMT    = 0x1000
	pidVideo  = 0x0100
	pidMarker = 0x1FF0

	markerEvery = 20 * time.Millisecond
	psiEvery    = 100 * time.Millisecond
	tick        = 2 * time.Millisecond
)

var markerMagic = [4]byte{'T', 'S', 'B', 'M'}

// Phases of a run.
const (
	phaseWarmup byte = iota
	phaseWindow
	phaseTail
	phaseDone
)

// shape is how the publisher cuts the stream into writes.
type shape struct {
	fps int           // writes per second (one PES each); 0: groups of 7 packets
	gop time.Duration // keyframe interval of the video PID; 0: private data, no PES
}

// packets returns how many packets each write carries at rate bits/s.
func (sh shape) packets(rate int64) int {
	if sh.fps <= 0 {
		return groupPackets
	}
	return max(int((float64(rate)/8/float64(sh.fps)+packetSize/2)/packetSize), 4)
}

// schedule says how long each phase lasts.
type schedule struct {
	warmup, window, tail time.Duration
}

func (s schedule) phaseAt(t time.Duration) byte {
	switch {
	case t < s.warmup:
		return phaseWarmup
	case t < s.warmup+s.window:
		return phaseWindow
	case t < s.warmup+s.window+s.tail:
		return phaseTail
	}
	return phaseDone
}

// pubResult is what the publisher sent.
type pubResult struct {
	owed     int64         // bytes sent in the measured window
	markers  int64         // markers sent in the measured window
	total    int64         // bytes sent in all
	window   time.Duration // measured window, from its first to its last group
	maxWrite time.Duration // longest single write (back-pressure from the relay)
}

// publisher makes the synthetic stream, one group at a time.
type publisher struct {
	start     time.Time // the clock shared with the viewers
	cc        [4]uint8  // next continuity counter by pidSlot
	seq       uint64
	nextMark  time.Duration // markers are due every markerEvery on average
	lastPSI   time.Duration
	forceMark bool
	phase     byte
	res       pubResult
	group     []byte // one write: a whole number of packets
	gop       time.Duration
	nextKey   time.Duration
	pat, pmt  [packetSize]byte
}

// newPublisher writes groups of 7 packets of private data.
func newPublisher(start time.Time) *publisher { return newShapedPublisher(start, groupPackets, 0) }

// newShapedPublisher writes packets packets at a time; with gop > 0 the
// data PID is declared MPEG-2 video, each write is one PES and every gop
// one of them starts with a sequence header (a keyframe for the relay's GOP
// cache).
func newShapedPublisher(start time.Time, packets int, gop time.Duration) *publisher {
	p := &publisher{start: start, lastPSI: -psiEvery, gop: gop}
	p.pat = psiPacket(pidPAT, patSection())
	p.pmt = psiPacket(pidPMT, pmtSection(gop > 0))
	p.group = make([]byte, max(packets, 4)*packetSize)
	for i := range p.group {
		p.group[i] = 0xFF
	}
	return p
}

// setPhase starts phase: the next group opens with a marker carrying it.
func (p *publisher) setPhase(phase byte) {
	p.phase, p.forceMark = phase, true
}

// next returns the next group (valid until the following call) and counts
// it as sent.
func (p *publisher) next() []byte {
	p.fill()
	n := int64(len(p.group))
	p.res.total += n
	if p.phase == phaseWindow {
		p.res.owed += n
	}
	return p.group
}

// publish sends the stream at rate bits/s to addr over TCP, through the
// phases of sch, and calls onPhase as each phase begins.
func publish(addr string, start time.Time, rate int64, sh shape, sch schedule, onPhase func(byte)) (pubResult, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return pubResult{}, fmt.Errorf("publisher: %w", err)
	}
	defer conn.Close()
	p := newShapedPublisher(start, sh.packets(rate), sh.gop)
	size := int64(len(p.group))
	var windowStart time.Duration
	bytesPerSec := float64(rate) / 8
	t0 := time.Since(start)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	onPhase(phaseWarmup)
	for {
		el := time.Since(start) - t0
		if phase := sch.phaseAt(el); phase != p.phase {
			p.setPhase(phase)
			onPhase(phase)
			switch phase {
			case phaseWindow:
				windowStart = el
			case phaseTail:
				p.res.window = el - windowStart
			case phaseDone:
				return p.res, nil
			}
		}
		for p.res.total+size <= int64(el.Seconds()*bytesPerSec) {
			b := p.next()
			w0 := time.Now()
			conn.SetWriteDeadline(w0.Add(5 * time.Second))
			if _, err := conn.Write(b); err != nil {
				return p.res, fmt.Errorf("publisher: write after %d bytes: %w", p.res.total-size, err)
			}
			p.res.maxWrite = max(p.res.maxWrite, time.Since(w0))
		}
		<-ticker.C
	}
}

// fill lays out the next group: a marker when one is due (first, so that
// phase boundaries fall on group boundaries), PAT and PMT when due, then
// video.
func (p *publisher) fill() {
	i := 0
	now := time.Since(p.start)
	if p.forceMark || now >= p.nextMark {
		p.marker(p.packet(0), now)
		p.nextMark += markerEvery
		if p.forceMark || p.nextMark <= now {
			p.nextMark = now + markerEvery
		}
		p.forceMark = false
		i++
	}
	if now-p.lastPSI >= psiEvery {
		copy(p.packet(i), p.pat[:])
		p.stamp(p.packet(i), 0)
		copy(p.packet(i+1), p.pmt[:])
		p.stamp(p.packet(i+1), 1)
		p.lastPSI = now
		i += 2
	}
	for first := true; i < len(p.group)/packetSize; i++ {
		pk := p.packet(i)
		pk[0], pk[1], pk[2] = 0x47, pidVideo>>8, pidVideo&0xFF
		p.stamp(pk, 2)
		if p.gop > 0 && first {
			p.pesStart(pk, now)
		} else if p.gop > 0 {
			clear(pk[4:pesClear]) // what a PES start left in this packet
		}
		first = false
	}
}

// pesClear bounds the bytes a PES start writes into its packet.
const pesClear = 48

// pesStart makes pk the first packet of a video PES: a picture, preceded
// by a sequence header when a keyframe is due.
func (p *publisher) pesStart(pk []byte, now time.Duration) {
	pk[1] |= 0x40 // payload unit start
	clear(pk[4:pesClear])
	b := append(pk[4:4], 0, 0, 1, 0xE0, 0, 0, 0x80, 0, 0)
	if now >= p.nextKey {
		p.nextKey = now + p.gop
		// 640x480, aspect 1, 25 fps, then filler bit rate and flags.
		b = append(b, 0, 0, 1, 0xB3, 0x28, 0x01, 0xE0, 0x13, 0xFF, 0xFF, 0xE0, 0x18)
	}
	_ = append(b, 0, 0, 1, 0x00, 0, 0x0F, 0xFF, 0xF8) // a picture start
}

func (p *publisher) packet(i int) []byte { return p.group[i*packetSize : (i+1)*packetSize] }

// stamp sets "payload only" and the next continuity counter of slot.
func (p *publisher) stamp(pk []byte, slot int) {
	pk[3] = 0x10 | p.cc[slot]
	p.cc[slot] = (p.cc[slot] + 1) & 0x0F
}

func (p *publisher) marker(pk []byte, now time.Duration) {
	pk[0], pk[1], pk[2] = 0x47, pidMarker>>8, pidMarker&0xFF
	p.stamp(pk, 3)
	copy(pk[4:8], markerMagic[:])
	binary.BigEndian.PutUint64(pk[8:16], p.seq)
	binary.BigEndian.PutUint64(pk[16:24], uint64(now))
	pk[24] = p.phase
	p.seq++
	if p.phase == phaseWindow {
		p.res.markers++
	}
}

// psiPacket puts one PSI section in a packet that starts it (PUSI set,
// pointer field 0), padded with 0xFF. The continuity counter is stamped
// per use.
func psiPacket(pid uint16, section []byte) [packetSize]byte {
	var pk [packetSize]byte
	for i := range pk {
		pk[i] = 0xFF
	}
	pk[0], pk[1], pk[2], pk[3] = 0x47, 0x40|byte(pid>>8), byte(pid), 0x10
	pk[4] = 0 // pointer field
	copy(pk[5:], section)
	return pk
}

// patSection lists program 1 with its PMT.
func patSection() []byte {
	s := []byte{0x00, 0xB0, 13, 0x00, 0x01, 0xC1, 0x00, 0x00,
		0x00, 0x01, 0xE0 | pidPMT>>8, pidPMT & 0xFF}
	return binary.BigEndian.AppendUint32(s, crc32MPEG(s))
}

// pmtSection declares the filler PID (also the PCR PID) and the marker PID,
// both private data (stream_type 0x06).
// With video, the filler PID is MPEG-2 video (stream_type 0x02) instead.
func pmtSection(video bool) []byte {
	st := byte(0x06)
	if video {
		st = 0x02
	}
	s := []byte{0x02, 0xB0, 23, 0x00, 0x01, 0xC1, 0x00, 0x00,
		0xE0 | pidVideo>>8, pidVideo & 0xFF, 0xF0, 0x00,
		st, 0xE0 | pidVideo>>8, pidVideo & 0xFF, 0xF0, 0x00,
		0x06, 0xE0 | pidMarker>>8, pidMarker & 0xFF, 0xF0, 0x00}
	return binary.BigEndian.AppendUint32(s, crc32MPEG(s))
}

// crc32MPEG is the CRC of PSI sections (polynomial 0x04C11DB7, not
// reflected), which hash/crc32 does not offer.
func crc32MPEG(b []byte) uint32 {
	crc := uint32(0xFFFFFFFF)
	for _, x := range b {
		crc ^= uint32(x) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04C11DB7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
