package stream

import "time"

// rateMeter measures a byte rate over whole seconds: the rate is the bytes
// of the last complete second. Guarded by the stream's lock.
type rateMeter struct {
	sec  int64 // Unix second being counted
	cur  int64 // bytes in sec
	last int64 // bytes in the second before sec
}

func (m *rateMeter) add(now time.Time, n int) {
	m.roll(now)
	m.cur += int64(n)
}

func (m *rateMeter) roll(now time.Time) {
	sec := now.Unix()
	switch {
	case sec == m.sec:
	case sec == m.sec+1:
		m.last, m.cur, m.sec = m.cur, 0, sec
	default:
		m.last, m.cur, m.sec = 0, 0, sec
	}
}

// bitsPerSecond returns the rate of the last complete second.
func (m *rateMeter) bitsPerSecond(now time.Time) int64 {
	m.roll(now)
	return m.last * 8
}
