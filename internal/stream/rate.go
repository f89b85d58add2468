package stream

import "time"

// rateHistory is how many seconds of per-second byte counts a stream keeps
// for its bitrate history (the dashboard's sparkline).
const rateHistory = 300

// rateMeter measures a byte rate over whole seconds: the rate is the bytes
// of the last complete second. It keeps the counts of the last rateHistory
// complete seconds too, in a fixed array, so that adding never allocates.
// Guarded by the stream's lock.
type rateMeter struct {
	sec   int64 // Unix second being counted
	cur   int64 // bytes in sec
	last  int64 // bytes in the second before sec
	first int64 // the first second counted; 0 before any
	hist  [rateHistory]int64
}

func (m *rateMeter) add(now time.Time, n int) {
	m.roll(now)
	m.cur += int64(n)
}

func (m *rateMeter) roll(now time.Time) {
	sec := now.Unix()
	switch {
	case sec == m.sec:
		return
	case m.first == 0 || sec < m.sec: // the first second, or the clock went back
		m.hist = [rateHistory]int64{}
		m.first, m.last = sec, 0
	case sec == m.sec+1:
		m.hist[m.sec%rateHistory] = m.cur
		m.last = m.cur
	default: // seconds without data in between
		m.hist[m.sec%rateHistory] = m.cur
		for s := m.sec + 1; s < sec && s <= m.sec+rateHistory; s++ {
			m.hist[s%rateHistory] = 0
		}
		m.last = 0
	}
	m.cur, m.sec = 0, sec
}

// bitsPerSecond returns the rate of the last complete second.
func (m *rateMeter) bitsPerSecond(now time.Time) int64 {
	m.roll(now)
	return m.last * 8
}

// history returns the rate in bits/s averaged over steps of step seconds,
// oldest first, over the last rateHistory complete seconds or since the
// first, whichever is shorter; the newest step ends at the last complete
// second.
func (m *rateMeter) history(now time.Time, step int) []int64 {
	m.roll(now)
	if m.first == 0 || step <= 0 {
		return []int64{}
	}
	from := max(m.sec-rateHistory, m.first)
	n := int(m.sec-from) / step
	out := make([]int64, n)
	for i := range n {
		var sum int64
		end := m.sec - int64((n-1-i)*step) // exclusive
		for s := end - int64(step); s < end; s++ {
			sum += m.hist[s%rateHistory]
		}
		out[i] = sum * 8 / int64(step)
	}
	return out
}
