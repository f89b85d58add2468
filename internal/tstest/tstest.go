// Package tstest makes numbered MPEG-TS packets for tests and compares
// streams by packet, so that a lost, repeated or reordered packet is named.
package tstest

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// PID is the PID of the packets Packets makes.
const PID = 0x100

// Packets returns n TS packets numbered first, first+1, …: PID 0x100, the
// continuity counter running, and a payload of the packet's number as
// 4-byte big-endian words. There is no PAT/PMT, so readers start at the
// live edge.
func Packets(first, n int) []byte {
	b := make([]byte, 0, n*188)
	for i := first; i < first+n; i++ {
		b = append(b, 0x47, 0x40|PID>>8, PID&0xff, 0x10|byte(i&0x0f))
		for range 184 / 4 {
			b = binary.BigEndian.AppendUint32(b, uint32(i))
		}
	}
	return b
}

// Number returns the number Packets wrote into the packet at p, or -1.
func Number(p []byte) int64 {
	if len(p) < 8 {
		return -1
	}
	return int64(binary.BigEndian.Uint32(p[4:8]))
}

// SameBytes fails t unless got equals want, naming the first difference
// (for TS, by packet and packet number).
func SameBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	pkt := i / 188 * 188
	if len(want) > 0 && want[0] == 0x47 {
		t.Errorf("%s: got %d bytes, want %d; first difference at byte %d (packet %d: want number %d, got %d)",
			what, len(got), len(want), i, i/188, Number(want[min(pkt, len(want)):]), Number(got[min(pkt, len(got)):]))
		return
	}
	t.Errorf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
}
